import FWXModel
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A document's bytes kept in a file instead of memory while they are checked: a node spools a large request body
/// here, so a batch it refuses never sits in its memory whole.
///
/// The file is created with mode 0600 in the given folder and unlinked at once: it has no name from the first
/// moment, is gone when this object is (or when the process dies, even by SIGKILL), and no other process can open
/// it. One object owns one descriptor, closed in `deinit`.
///
/// Use: one task appends the bytes, then hands the spool on; from then on it is only read, by ``source(name:)``
/// (one reader at a time, from the start) and ``readAll()`` (positioned reads, which touch no shared offset).
public final class SpoolFile: @unchecked Sendable {
    // @unchecked Sendable: `count` changes only while the writing task appends, before the spool is handed to any
    // other task (the hand-over is the synchronisation); the descriptor itself is immutable.
    private let descriptor: Int32
    /// Bytes written so far.
    public private(set) var count = 0

    /// Creates an empty, nameless spool file in `directory`.
    public init(directory: String) throws {
        var template = Array((directory.hasSuffix("/") ? directory : directory + "/").utf8CString.dropLast())
            + Array("fwx-spool-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw FWXError(.io, "cannot create a spool file in \(directory): \(reason); check limits.spoolDirectory",
                           location: directory)
        }
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        unlink(path)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// Appends `bytes` at the end.
    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = pwrite(descriptor, bytes.baseAddress! + offset, bytes.count - offset, off_t(count + offset))
            if n < 0 {
                if errno == EINTR { continue }
                throw FWXError(.io, "cannot write the spool file: \(String(cString: strerror(errno)))", location: "spool")
            }
            offset += n
        }
        count += bytes.count
    }

    /// Reads the bytes from the start, in chunks, for a parse.
    public func source(name: String) -> ByteSource {
        lseek(descriptor, 0, SEEK_SET)
        return ByteSource(spool: self, descriptor: descriptor, count: count, name: name)
    }

    /// All the bytes, in one array.
    public func readAll() throws -> [UInt8] {
        let total = count
        return try [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
            var offset = 0
            while offset < total {
                let n = pread(descriptor, buffer.baseAddress! + offset, total - offset, off_t(offset))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    initialized = offset
                    throw FWXError(.io, "cannot read the spool file back: "
                                   + (n < 0 ? String(cString: strerror(errno)) : "it is shorter than written"),
                                   location: "spool")
                }
                offset += n
            }
            initialized = total
        }
    }
}
