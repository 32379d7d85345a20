// Shared helpers of the FWX test suite: paths (repository, fixtures, the built `fwx` binary), running processes with
// a timeout, temporary folders, validation of XML text with a fixed "now", and editing the sample batch.
import FWXConvert
import FWXModel
import FWXXML
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum Paths {
    /// The repository root: this file is `<root>/Tests/FWXTests/Support.swift`.
    static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func repo(_ relative: String) -> String { repoRoot.appendingPathComponent(relative).path }

    static let sample = repo("fixtures/batches/nl-sample.xml")
    static let emptyAllPartners = repo("fixtures/batches/empty-allpartners.xml")
    static let invalidXSD = repo("fixtures/batches/invalid-xsd")
    static let hostile = repo("fixtures/hostile")
    static let rules = repo("fixtures/rules")
    static let batchSchema = repo("schemas/v1/batch.xsd")

    /// Folders where the test runner's executable may live (on Linux `.build/debug/`, where `fwx` is built too).
    static var binaryFolders: [URL] {
        var folders: [URL] = []
        if let first = CommandLine.arguments.first, !first.isEmpty {
            folders.append(URL(fileURLWithPath: first).resolvingSymlinksInPath().deletingLastPathComponent())
        }
        let bundle = Bundle.main.bundleURL
        folders.append(bundle)
        folders.append(bundle.deletingLastPathComponent())
        folders.append(repoRoot.appendingPathComponent(".build/debug"))
        return folders
    }

    /// The `fwx` executable built next to the test bundle, or nil when there is none.
    static let fwx: String? = binaryFolders.lazy
        .map { $0.appendingPathComponent("fwx").path }
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Every file with the given extension in a folder, sorted, as full paths.
    static func files(in folder: String, withExtension ext: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter { $0.hasSuffix("." + ext) }.sorted().map { folder + "/" + $0 }
    }
}

// MARK: Processes

struct ProcessResult: Sendable, CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String
    var timedOut: Bool
    var stdoutData: Data

    var description: String {
        "exit \(status)\(timedOut ? " (timed out)" : "")\n--- stdout:\n\(stdout.prefix(2000))\n--- stderr:\n\(stderr.prefix(2000))"
    }
}

struct TestSupportError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs `executable` with `arguments`, feeding `stdin`, and waits at most `timeout` seconds before killing it.
/// Output goes through files, so a chatty process can never block on a full pipe.
func runProcess(_ executable: String, _ arguments: [String], stdin: Data? = nil, timeout: Double = 60,
                environment: [String: String]? = nil) throws -> ProcessResult {
    try withTemporaryDirectory { folder in
        let outURL = folder.appendingPathComponent("stdout")
        let errURL = folder.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let outHandle = try FileHandle(forWritingTo: outURL)
        let errHandle = try FileHandle(forWritingTo: errURL)
        defer {
            try? outHandle.close()
            try? errHandle.close()
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = outHandle
        process.standardError = errHandle
        if let environment {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        var inHandle: FileHandle?
        if let stdin {
            let inURL = folder.appendingPathComponent("stdin")
            try stdin.write(to: inURL)
            inHandle = try FileHandle(forReadingFrom: inURL)
            process.standardInput = inHandle
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        defer { try? inHandle?.close() }
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        try process.run()
        var timedOut = false
        if done.wait(timeout: .now() + timeout) == .timedOut {
            timedOut = true
            process.terminate()
            if done.wait(timeout: .now() + 5) == .timedOut {
                kill(process.processIdentifier, SIGKILL)
                done.wait()
            }
        }
        process.waitUntilExit()
        let outData = (try? Data(contentsOf: outURL)) ?? Data()
        let errData = (try? Data(contentsOf: errURL)) ?? Data()
        return ProcessResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                             stderr: String(decoding: errData, as: UTF8.self), timedOut: timedOut,
                             stdoutData: outData)
    }
}

/// Runs the built `fwx` binary. Fails the calling test (by throwing) when the binary was not built.
func runFWX(_ arguments: [String], stdin: Data? = nil, timeout: Double = 60) throws -> ProcessResult {
    guard let fwx = Paths.fwx else {
        throw TestSupportError(
            "the fwx binary was not found in \(Paths.binaryFolders.map(\.path)); run `swift build --build-tests` first")
    }
    return try runProcess(fwx, arguments, stdin: stdin, timeout: timeout)
}

// MARK: Temporary files

/// Creates a fresh temporary folder, passes it to `body`, and removes it afterwards.
func withTemporaryDirectory<T>(_ body: (URL) throws -> T) throws -> T {
    let folder = FileManager.default.temporaryDirectory
        .appendingPathComponent("fwx-tests-\(getpid())-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    return try body(folder)
}

/// Writes `bytes` to `name` in `folder` and returns the path.
@discardableResult
func writeFile(_ folder: URL, _ name: String, _ bytes: [UInt8]) throws -> String {
    let url = folder.appendingPathComponent(name)
    try Data(bytes).write(to: url)
    return url.path
}

@discardableResult
func writeFile(_ folder: URL, _ name: String, _ text: String) throws -> String {
    try writeFile(folder, name, Array(text.utf8))
}

// MARK: Validation

enum Validation {
    /// "Now" for every validation in the tests: 2026-11-29T00:00:00Z, after every date of the fixtures.
    static let now: Double = 1_795_910_400

    /// Every schema version FWX validates (as `fwx validate` does).
    static var validator: BatchValidator {
        var validator = BatchValidator(now: now)
        validator.acceptedKinds = SchemaRegistry.validatingKinds
        return validator
    }

    /// Validates XML text through the real libxml2 parser, schema and rules.
    static func validate(xml: String, name: String = "test.xml") throws -> ValidationReport {
        try validate(bytes: Array(xml.utf8), name: name)
    }

    static func validate(bytes: [UInt8], name: String = "test.xml") throws -> ValidationReport {
        try validator.validate(ByteSource(bytes: bytes, name: name))
    }

    /// Validates a file on disk (the finding locations name `path`).
    static func validate(path: String) throws -> ValidationReport {
        try validator.validate(path: path)
    }

    /// The findings of a document, as text for test failure messages.
    static func describe(_ report: ValidationReport) -> String {
        report.findings.isEmpty ? "(no findings)" : report.findings.map(\.humanDescription).joined(separator: "\n")
    }
}

// MARK: Editing the sample batch

enum Sample {
    /// The text of fixtures/batches/nl-sample.xml.
    static let text: String = {
        // The fixture is part of the repository; a missing file is a broken checkout.
        (try? String(contentsOfFile: Paths.sample, encoding: .utf8)) ?? ""
    }()

    /// The sample with each `old` replaced by `new`. `old` must occur exactly once (an edit that silently misses
    /// would make a failing case pass), unless `occurrence` picks one of several (1-based).
    static func edited(_ edits: [(old: String, new: String, occurrence: Int?)]) throws -> String {
        var text = Sample.text
        for edit in edits {
            let ranges = text.occurrenceRanges(of: edit.old)
            if let occurrence = edit.occurrence {
                guard occurrence >= 1, occurrence <= ranges.count else {
                    throw TestSupportError("\(edit.old.debugDescription) occurs \(ranges.count) times, not \(occurrence)")
                }
                text.replaceSubrange(ranges[occurrence - 1], with: edit.new)
            } else {
                guard ranges.count == 1 else {
                    throw TestSupportError("\(edit.old.debugDescription) occurs \(ranges.count) times in the sample, expected once")
                }
                text.replaceSubrange(ranges[0], with: edit.new)
            }
        }
        return text
    }

    static func edited(_ old: String, _ new: String, occurrence: Int? = nil) throws -> String {
        try edited([(old, new, occurrence)])
    }
}

extension String {
    /// Every non-overlapping range of `needle`, in order.
    func occurrenceRanges(of needle: String) -> [Range<String.Index>] {
        var result: [Range<String.Index>] = []
        var start = startIndex
        while start < endIndex, let range = self.range(of: needle, range: start..<endIndex) {
            result.append(range)
            start = range.upperBound
        }
        return result
    }

    /// The 1-based line of the `occurrence`-th occurrence of `needle`, or nil.
    func line(of needle: String, occurrence: Int = 1) -> Int? {
        let found = occurrenceRanges(of: needle)
        guard occurrence >= 1, occurrence <= found.count else { return nil }
        return self[..<found[occurrence - 1].lowerBound].reduce(1) { $1 == "\n" ? $0 + 1 : $0 }
    }

    /// The 1-based column (in characters) of the `occurrence`-th occurrence of `needle`, or nil.
    func column(of needle: String, occurrence: Int = 1) -> Int? {
        let found = occurrenceRanges(of: needle)
        guard occurrence >= 1, occurrence <= found.count else { return nil }
        let before = self[..<found[occurrence - 1].lowerBound]
        let lineStart = before.lastIndex(of: "\n").map { before.index(after: $0) } ?? startIndex
        return before.distance(from: lineStart, to: before.endIndex) + 1
    }
}

/// The secret-looking content the hostile inputs try to pull in; it must never appear in a finding.
let passwdMarker = "root:"

// MARK: Synthetic batches

enum Generated {
    /// A synthetic batch made in-process, with the violations it planted (empty unless `withErrors`).
    static func batch(records: Int, seed: UInt64, sender: String = "NL", withErrors: Bool = false) throws
        -> (xml: String, planted: [PlantedError])
    {
        var generator = try SyntheticBatchGenerator(SyntheticBatchConfiguration(
            records: records, seed: seed, sender: sender, withErrors: withErrors))
        var text = ""
        var writer = BatchXMLWriter { text += $0 }
        try generator.write(to: &writer)
        return (text, generator.planted)
    }
}
