import FWXModel
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the bytes of a document come from: a file, standard input, or memory. Read in chunks, so a file of any
/// size is never held in memory whole.
public final class ByteSource {
    private enum Backing {
        case file(fd: Int32, ownsDescriptor: Bool)
        case memory([UInt8])
    }

    private var backing: Backing
    /// What owns a borrowed descriptor, kept alive as long as this source reads from it.
    private var owner: AnyObject?
    private var memoryOffset = 0
    /// Bytes handed back by ``unread(_:)``, served before the backing source.
    private var pushedBack: [UInt8] = []
    private var pushedBackOffset = 0
    /// Name used in finding locations (the path, or `-` for standard input).
    public let name: String
    /// Bytes delivered so far.
    public private(set) var bytesRead = 0
    /// Total size when known (files and memory), for progress reporting.
    public let totalSize: Int?

    /// Opens a file for reading. Throws an I/O error naming the file when it cannot be opened.
    public init(path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw FWXError(.io, "cannot open \(path): \(reason)", location: path)
        }
        var info = stat()
        if fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            close(fd)
            throw FWXError(.io, "\(path) is a directory, not a batch file", location: path)
        }
        self.backing = .file(fd: fd, ownsDescriptor: true)
        self.name = path
        self.totalSize = (info.st_mode & S_IFMT) == S_IFREG ? Int(info.st_size) : nil
    }

    /// Reads a spool file from its start (see ``SpoolFile``); the descriptor stays the spool's.
    init(spool: SpoolFile, descriptor: Int32, count: Int, name: String) {
        self.owner = spool
        self.backing = .file(fd: descriptor, ownsDescriptor: false)
        self.name = name
        self.totalSize = count
    }

    /// Reads standard input.
    public init(standardInputNamed name: String = "-") {
        self.backing = .file(fd: 0, ownsDescriptor: false)
        self.name = name
        self.totalSize = nil
    }

    /// Reads bytes already in memory (for example an HTTP request body).
    public init(bytes: [UInt8], name: String) {
        self.backing = .memory(bytes)
        self.name = name
        self.totalSize = bytes.count
    }

    deinit {
        if case .file(let fd, true) = backing { close(fd) }
    }

    /// Fills `buffer` with up to `count` bytes; returns 0 at the end, -1 on a read error.
    public func read(into buffer: UnsafeMutableRawPointer, count: Int) -> Int {
        if pushedBackOffset < pushedBack.count {
            let n = min(count, pushedBack.count - pushedBackOffset)
            pushedBack.withUnsafeBytes { raw in
                buffer.copyMemory(from: raw.baseAddress! + pushedBackOffset, byteCount: n)
            }
            pushedBackOffset += n
            if pushedBackOffset == pushedBack.count {
                pushedBack = []
                pushedBackOffset = 0
            }
            return n
        }
        switch backing {
        case .file(let fd, _):
            while true {
                let n = Glibc.read(fd, buffer, count)
                if n < 0 && errno == EINTR { continue }
                if n > 0 { bytesRead += n }
                return n
            }
        case .memory(let bytes):
            let n = min(count, bytes.count - memoryOffset)
            guard n > 0 else { return 0 }
            bytes.withUnsafeBytes { raw in
                buffer.copyMemory(from: raw.baseAddress! + memoryOffset, byteCount: n)
            }
            memoryOffset += n
            bytesRead += n
            return n
        }
    }

    /// Reads up to `count` bytes from the start, to be served again by the next reads.
    func peek(_ count: Int) -> [UInt8] {
        var prefix = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = prefix.withUnsafeMutableBytes { read(into: $0.baseAddress! + filled, count: count - filled) }
            if n <= 0 { break }
            filled += n
        }
        prefix.removeSubrange(filled...)
        pushedBack = prefix + pushedBack[pushedBackOffset...]
        pushedBackOffset = 0
        return prefix
    }
}
