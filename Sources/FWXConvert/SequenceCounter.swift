public import FWXModel
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The per-sender batch sequence number a liaison's conversions take when none is given: the last number used is
/// kept in `.fwx-sequence-CC-AGENCY` in the output's folder, so each batch gets the next one and a node never
/// refuses a reused number because the liaison forgot to count.
///
/// The output's folder is locked (`flock` on the folder) from ``init(folder:sender:)`` until this object goes
/// away, so two conversions into the same folder at once get different numbers. The file is written only by
/// ``record(_:)``, after the batch was, and replaced atomically: a failed conversion uses no number and leaves
/// nothing behind. One object owns one descriptor (the folder's), closed in `deinit`.
public final class SequenceCounter {
    private let folderDescriptor: Int32
    /// The counter file.
    public let path: String
    /// The number the next batch gets: one more than the last one kept (1 for the first).
    public let next: UInt64

    /// The counter file's name for `sender`.
    public static func fileName(for sender: NodeIdentity) -> String {
        ".fwx-sequence-\(sender.country)-\(sender.agencyId)"
    }

    /// Locks `folder` and reads the counter of `sender` in it.
    public init(folder: String, sender: NodeIdentity) throws {
        let folder = folder.isEmpty ? "." : folder
        path = folder + "/" + Self.fileName(for: sender)
        let fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            throw FWXError(.io, "cannot open the output folder \(folder) for the sequence counter: "
                           + "\(String(cString: strerror(errno))); give --sequence N", location: folder)
        }
        guard flock(fd, LOCK_EX) == 0 else {
            close(fd)
            throw FWXError(.io, "cannot lock \(folder) for the sequence counter", location: folder)
        }
        folderDescriptor = fd
        guard let data = FileManager.default.contents(atPath: path) else {
            next = 1
            return
        }
        let text = String(decoding: data.prefix(32), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let last = UInt64(text), last < UInt64.max else {
            throw FWXError(.io, "the sequence counter \(path) does not hold a number; put the last sequence number "
                           + "sent in it, or give --sequence N", location: path)
        }
        next = last + 1
    }

    deinit { close(folderDescriptor) }

    /// Keeps `number` as the last one used (call it once the batch is written).
    public func record(_ number: UInt64) throws {
        let temporary = path + ".tmp-\(getpid())"
        do {
            try Data("\(number)\n".utf8).write(to: URL(fileURLWithPath: temporary))
            guard rename(temporary, path) == 0 else { throw FWXError(.io, String(cString: strerror(errno))) }
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw FWXError(.io, "cannot update the sequence counter \(path): \(error); the batch was written with "
                           + "sequence number \(number): put \(number) in that file", location: path)
        }
    }
}
