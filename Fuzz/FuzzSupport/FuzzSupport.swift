// What the fuzz targets share (docs/fuzzing.md): the fuzzer's bytes as Swift values, the repository's fixtures, the
// environment scripts/fuzz sets, and a way to report a broken property as a crash libFuzzer keeps.
import CLibFuzzer
public import FWXModel
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The run-time settings and helpers of a fuzz target.
public enum Fuzz {
    /// The repository root: `FWX_FUZZ_ROOT`, else the source tree this target was built from.
    public static let root: String = {
        if let root = ProcessInfo.processInfo.environment["FWX_FUZZ_ROOT"], !root.isEmpty { return root }
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }  // Fuzz/FuzzSupport/FuzzSupport.swift
        return url.path
    }()

    /// A path inside the repository (`fixtures/profiles/nl-politie.yaml`).
    public static func fixture(_ relative: String) -> String { root + "/" + relative }

    /// An environment variable scripts/fuzz sets; stops the target with a clear message when it is missing.
    public static func required(_ name: String, _ purpose: String) -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            fail("\(name) is not set: \(purpose); run this target through scripts/fuzz")
        }
        return value
    }

    /// The contents of a file, or a stop with a clear message.
    public static func contents(_ path: String) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { fail("cannot read \(path)") }
        return [UInt8](data)
    }

    /// Hands the process to libFuzzer's driver with `callback` as the target (`LLVMFuzzerTestOneInput`) and exits
    /// with the driver's status. The command line is libFuzzer's (`-help=1` lists its options).
    public static func run(_ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Never {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        let status = LLVMFuzzerRunDriver(&argc, &argv, callback)
        exit(status)
    }

    /// The fuzzer's input as bytes.
    public static func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
        [UInt8](UnsafeBufferPointer(start: data, count: size))
    }

    /// The fuzzer's input as text when it is UTF-8 (the readers of YAML take a String), else nil.
    public static func text(_ data: UnsafePointer<UInt8>?, _ size: Int) -> String? {
        String(validating: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    }

    /// Stops the target: libFuzzer keeps the input as a crash artifact. For set-up failures and broken properties.
    public static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("fwx fuzz: \(message)\n".utf8))
        abort()
    }

    /// Stops the target when `findings` hold a not-well-formed finding: for XML that FWX wrote itself.
    public static func requireWellFormed(_ findings: [Finding], _ what: String) {
        if let finding = findings.first(where: { $0.rule == RuleID.notWellFormed }) {
            fail("\(what) is not well-formed XML: \(finding.location.line):\(finding.location.column) \(finding.message)")
        }
    }
}
