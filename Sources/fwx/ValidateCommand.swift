import ArgumentParser
import FWXModel
import FWXXML
import Foundation

/// `fwx validate`: layered validation of batch files.
struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Validate batch files: well-formedness (hardened), the bundled XSD, then FWX's business rules.",
        discussion: """
            Human output, one line per finding: FILE:LINE:COL: error[FWX-R012]: message
            A summary per file goes to standard error. Rules are listed by `fwx rules` and in docs/rules.md.
            Exit status: 0 all valid (warnings allowed), 1 a file is invalid, 2 usage or I/O error.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case human, json }

    @Argument(help: "Batch files to validate ('-' reads standard input).")
    var files: [String]

    @Option(help: "Output format: human or json.")
    var format: Format = .human

    @Option(help: "Most findings reported per file; further ones are counted.")
    var maxFindings: Int = 1000

    @Flag(help: "Show progress on standard error (default when it is a terminal and the file is large).")
    var progress = false

    @Flag(help: "Print nothing on standard error for valid files.")
    var quiet = false

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("name at least one batch file") }
        guard maxFindings > 0 else { throw ValidationError("--max-findings must be at least 1") }
    }

    func run() async throws {
        var validator = BatchValidator(maxFindings: maxFindings)
        validator.acceptedKinds = SchemaRegistry.validatingKinds
        var status = ExitStatus.success
        var reports: [ValidationReport] = []
        var ioErrors: [(String, String)] = []
        for file in files {
            do {
                let source = file == "-" ? ByteSource(standardInputNamed: "-") : try ByteSource(path: file)
                let showProgress = progress || (ProgressLine.stderrIsTerminal && (source.totalSize ?? 0) > 64 << 20)
                let line = ProgressLine(label: file, enabled: showProgress)
                let report = try validator.validate(source) { bytes, total in line.update(bytes: bytes, total: total) }
                line.finish()
                reports.append(report)
                if !report.isValid && status == ExitStatus.success { status = ExitStatus.invalid }
                if format == .human {
                    for finding in report.findings { print(finding.humanDescription) }
                    summarise(report)
                }
            } catch let error as FWXError {
                status = ExitStatus.usageOrIO
                ioErrors.append((file, error.message))
                FileHandle.standardError.write(Data("fwx: error: \(error.message)\n".utf8))
            }
        }
        if format == .json {
            let document = JSONReport(files: reports.map(JSONReport.File.init),
                                      errors: ioErrors.map { JSONReport.IOError(file: $0.0, message: $0.1) })
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(document), as: UTF8.self))
        }
        if status != ExitStatus.success { throw ExitCode(status) }
    }

    private func summarise(_ report: ValidationReport) {
        let counts = "\(report.records) records, \(report.errorCount) errors, \(report.warningCount) warnings"
        var text = report.isValid ? "\(report.file): valid (\(counts))" : "\(report.file): INVALID (\(counts))"
        if report.findingsNotShown > 0 { text += "; \(report.findingsNotShown) findings not shown (--max-findings)" }
        if report.isValid && quiet && report.warningCount == 0 { return }
        FileHandle.standardError.write(Data("\(text)\n".utf8))
    }
}

/// The JSON form of `fwx validate --format json`.
struct JSONReport: Encodable {
    struct File: Encodable {
        var file: String
        var valid: Bool
        var records: Int
        var bytes: Int
        var errors: Int
        var warnings: Int
        var findingsNotShown: Int
        var findings: [JSONFinding]

        init(_ report: ValidationReport) {
            file = report.file
            valid = report.isValid
            records = report.records
            bytes = report.bytes
            errors = report.errorCount
            warnings = report.warningCount
            findingsNotShown = report.findingsNotShown
            findings = report.findings.map(JSONFinding.init)
        }
    }

    struct JSONFinding: Encodable {
        var severity: String
        var rule: String
        var message: String
        var file: String
        var line: Int
        var column: Int
        var xpath: String

        init(_ finding: Finding) {
            severity = finding.severity.rawValue
            rule = finding.rule
            message = finding.message
            file = finding.location.file
            line = finding.location.line
            column = finding.location.column
            xpath = finding.xpath
        }
    }

    struct IOError: Encodable {
        var file: String
        var message: String
    }

    var files: [File]
    var errors: [IOError]
}
