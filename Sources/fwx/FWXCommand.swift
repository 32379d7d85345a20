import ArgumentParser
import FWXClient
import FWXModel
import FWXNode
import FWXStore
import FWXXML
import Foundation

/// The `fwx` command: validate, convert and generate FWX batches.
///
/// Exit status: 0 success (documents valid, warnings allowed); 1 a document is invalid or a conversion refused
/// rows in --strict mode; 2 usage, configuration or I/O error.
@main
struct FWXCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fwx",
        abstract: "Exchange records on illegal fireworks between European police nodes.",
        discussion: """
            Exit status: 0 valid / done (warnings allowed), 1 invalid document or refused conversion, \
            2 usage or I/O error.
            """,
        subcommands: [ValidateCommand.self, SignCommand.self, VerifyCommand.self, ReceiptCommand.self, ConvertCommand.self, UpgradeCommand.self, ProfileCommand.self, GenerateCommand.self,
                      RulesCommand.self, ServeCommand.self, SendCommand.self, PullCommand.self, StatusCommand.self,
                      RequeueCommand.self, AuditCommand.self, StoreCommand.self, DemoCommand.self, TraceCommand.self,
                      SearchCommand.self])

    static func main() async {
        LargeDocuments.growHeapsInLargeSteps()
        if let problem = UsageSpelling.problem(in: Array(CommandLine.arguments.dropFirst())) {
            FileHandle.standardError.write(Data("Error: \(problem)\n  See 'fwx --help' for more information.\n".utf8))
            Foundation.exit(ExitStatus.usageOrIO)
        }
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("fwx: configuration refused:\n\(error)\n".utf8))
            Foundation.exit(ExitStatus.usageOrIO)
        } catch let error where error is FWXError || error is HTTPSClientError || error is PeerExchangeError
                    || error is StoreError || error is FeedPageError {
            // FWX's own errors say what went wrong and where; usage, I/O, TLS or store trouble all exit 2.
            FileHandle.standardError.write(Data("fwx: error: \(error)\n".utf8))
            Foundation.exit(ExitStatus.usageOrIO)
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { print(message) }
                Foundation.exit(0)
            }
            if !message.isEmpty { FileHandle.standardError.write(Data("\(message)\n".utf8)) }
            // Usage errors exit 2, like other Unix tools, not ArgumentParser's 64.
            Foundation.exit(code == .validationFailure ? ExitStatus.usageOrIO : code.rawValue)
        }
    }
}

/// The documented exit statuses.
enum ExitStatus {
    static let success: Int32 = 0
    static let invalid: Int32 = 1
    static let usageOrIO: Int32 = 2
}

/// Checks on output paths shared by the commands that write files through a `.partial-PID` file.
enum OutputFiles {
    /// Refuses, before any work, an output path that names a folder.
    /// Whether `path` names an existing folder.
    static func isFolder(_ path: String) -> Bool {
        var isFolder: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) && isFolder.boolValue
    }

    static func checkNotFolder(_ path: String, option: String = "-o") throws {
        if isFolder(path) {
            throw FWXError(.usage, "\(option) \(path) is a folder; give a file name, for example \(path)/batch.xml",
                           location: path)
        }
    }

    /// Removes `PATH.partial-PID` files that runs no longer alive left behind (killed or crashed before they could
    /// clean up), so none outlives the next run that writes the same output.
    static func removeStalePartials(of path: String) {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        let prefix = url.lastPathComponent + ".partial-"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.isEmpty ? "." : folder) else {
            return
        }
        for name in names where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count)), pid > 0, pid != getpid() else { continue }
            // No such process: nobody writes this file any more.
            if kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(atPath: (folder.isEmpty ? "." : folder) + "/" + name)
            }
        }
    }
}

/// Writes a file through a temporary file that is renamed into place only on success, so a failed run never
/// leaves a half-written output behind, nor destroys an earlier good one.
final class AtomicOutput {
    let path: String?
    private let temporaryPath: String?
    private let handle: FileHandle
    private var buffer = Data()

    /// - Parameter path: the output file, or nil / "-" for standard output.
    init(path: String?) throws {
        if let path, path != "-" {
            try OutputFiles.checkNotFolder(path)
            OutputFiles.removeStalePartials(of: path)
            self.path = path
            let temporary = path + ".partial-\(getpid())"
            guard FileManager.default.createFile(atPath: temporary, contents: nil) else {
                throw FWXError(.io, "cannot create \(temporary): check that the folder exists and is writable",
                               location: path)
            }
            self.temporaryPath = temporary
            self.handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
        } else {
            self.path = nil
            self.temporaryPath = nil
            self.handle = FileHandle.standardOutput
        }
        buffer.reserveCapacity(1 << 20)
    }

    func write(_ text: String) throws {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= 1 << 20 { try flush() }
    }

    func write(bytes: [UInt8]) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 20 { try flush() }
    }

    private func flush() throws {
        do {
            try handle.write(contentsOf: buffer)
        } catch {
            throw FWXError(.io, "cannot write \(path ?? "standard output"): \(error.localizedDescription)",
                           location: path)
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes and moves the file into place.
    func commit() throws {
        try flush()
        guard let path, let temporaryPath else { return }
        try handle.close()
        if rename(temporaryPath, path) != 0 {
            throw FWXError(.io, "cannot move output into place at \(path): \(String(cString: strerror(errno)))",
                           location: path)
        }
    }

    /// The descriptor to write to directly, after what was buffered so far has been written.
    func descriptorForDirectWrites() throws -> Int32 {
        try flush()
        return handle.fileDescriptor
    }

    /// Writes `bytes` to `path` (standard output for nil or "-") all at once, or leaves nothing behind.
    static func write(_ bytes: [UInt8], to path: String?) throws {
        try write(to: path) { try $0.write(bytes: bytes) }
    }

    /// Writes to `path` (standard output for nil or "-") what `body` gives, in pieces, then commits; when `body`
    /// or the writing fails, a file output is left as it was (what went to standard output cannot be taken back).
    static func write(to path: String?, _ body: (AtomicOutput) throws -> Void) throws {
        let out = try AtomicOutput(path: path)
        do {
            try body(out)
            try out.commit()
        } catch {
            out.discard()
            throw error
        }
    }

    /// Removes the temporary file.
    func discard() {
        guard let temporaryPath else { return }
        try? handle.close()
        unlink(temporaryPath)
    }
}

/// Prints progress on standard error, at most a few times a second.
final class ProgressLine {
    private let enabled: Bool
    private let label: String
    private var last = Date.distantPast

    init(label: String, enabled: Bool) {
        self.label = label
        self.enabled = enabled
    }

    static var stderrIsTerminal: Bool { isatty(2) != 0 }

    func update(bytes: Int, total: Int?, records: Int? = nil) {
        guard enabled, Date().timeIntervalSince(last) > 0.25 else { return }
        last = Date()
        var line = "\r\(label): \(bytes >> 20) MiB"
        if let total, total > 0 { line += " of \(total >> 20) MiB (\(bytes * 100 / total)%)" }
        if let records { line += ", \(records) records" }
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        guard enabled, last != .distantPast else { return }
        FileHandle.standardError.write(Data("\n".utf8))
    }
}
