import ArgumentParser
import FWXConvert
import FWXModel
import FWXXML
import Foundation

/// `fwx convert`: transforms between CSV exports, FWX XML, FWX JSON and flat CSV.
struct ConvertCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert between national CSV exports, FWX XML, FWX JSON and flat CSV.",
        discussion: """
            Conversions: csv to xml through a mapping profile (--profile, docs/csv-profiles.md); xml to json and \
            json to xml (docs/json.md); xml to csv, a flat table for spreadsheets with one row per item.

            XML output is validated (XSD and business rules) before it is moved into place; XML input is \
            validated while it is read. Findings are printed as `fwx validate` prints them, on standard error.

            CSV rows that cannot be mapped are reported as FILE:LINE: column 'NAME': reason, and written with \
            their reason to the reject file (default OUTPUT.rejects.csv); --strict refuses the whole conversion \
            instead. A summary goes to standard error.

            Exit status: 0 done (rows may have been rejected: see the summary); 1 rows rejected with --strict, \
            no record written (every row rejected, or none: no batch is written, the reject file is), an \
            invalid input document, or an invalid result (not written unless --keep-invalid); 2 usage, \
            profile or I/O error (including an export that does not fit the profile, and -o naming a folder).
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case csv, xml, json }

    @Option(help: "Input format: csv, xml or json.")
    var from: Format

    @Option(help: "Output format: xml, json or csv.")
    var to: Format

    @Option(help: "Mapping profile (YAML) of the CSV export; needed with --from csv.")
    var profile: String?

    @Option(help: "Sender country instead of the profile's batch.sender (--from csv).")
    var sender: String?

    @Option(name: .customLong("pseudonym-key"),
            help: ArgumentHelp("Key file of keyed pseudonyms, instead of the profile's pseudonymisation.keyFile (--from csv).",
                               valueName: "file"))
    var pseudonymKey: String?

    @Option(help: "Sender agency id instead of the profile's batch.agencyId (--from csv).")
    var agency: String?

    @Option(help: ArgumentHelp("Per-sender sequence number of the batch (--from csv).",
                               discussion: "Without it the next number is taken from the sender's counter file "
                                   + ".fwx-sequence-CC-AGENCY in the output's folder (1 for the first batch); a "
                                   + "node refuses a number used before (FWX-N002)."))
    var sequence: UInt64?

    @Flag(help: "Refuse the whole conversion when any row is rejected (exit 1, nothing written).")
    var strict = false

    @Option(help: "Reject file for rows that cannot be converted (default OUTPUT.rejects.csv; --from csv).")
    var rejects: String?

    @Flag(help: "Write the output even when it is invalid (the exit status is still 1).")
    var keepInvalid = false

    @Flag(help: "Show progress on standard error (default when it is a terminal and the input is large).")
    var progress = false

    @Argument(help: "Input file ('-' reads standard input).")
    var input: String

    @Option(name: .shortAndLong, help: "Output file ('-' writes standard output).")
    var output: String

    static let supported: [(Format, Format)] = [(.csv, .xml), (.xml, .json), (.json, .xml), (.xml, .csv)]

    func validate() throws {
        guard Self.supported.contains(where: { $0 == (from, to) }) else {
            let list = Self.supported.map { "--from \($0.0.rawValue) --to \($0.1.rawValue)" }.joined(separator: ", ")
            throw ValidationError("--from \(from.rawValue) --to \(to.rawValue) is not a conversion fwx makes; it makes \(list)")
        }
        if from == .csv {
            guard profile != nil else { throw ValidationError("--from csv needs --profile FILE, the mapping profile of the export") }
            if output == "-" && sequence == nil {
                throw ValidationError("with -o - give --sequence N: the sender's sequence counter is kept in the output's folder")
            }
            if output == "-" && rejects == nil && !strict {
                throw ValidationError("with -o - name the reject file with --rejects FILE (or use --strict)")
            }
        } else {
            for (given, name) in [(profile != nil, "--profile"), (sender != nil, "--sender"), (agency != nil, "--agency"),
                                  (sequence != nil, "--sequence"), (strict, "--strict"), (rejects != nil, "--rejects"),
                                  (pseudonymKey != nil, "--pseudonym-key")] where given {
                throw ValidationError("\(name) applies to --from csv only")
            }
        }
        if let sender, CountryCode.normalize(sender) == nil {
            throw ValidationError("--sender \(sender) is not an ISO 3166-1 alpha-2 country code")
        }
        for (path, option) in [(output, "-o"), (rejects ?? "-", "--rejects")] where path != "-" {
            if OutputFiles.isFolder(path) {
                throw ValidationError("\(option) \(path) is a folder; give a file name, for example \(path)/batch.xml")
            }
        }
        if output != "-" && (output == input || output == rejects) {
            throw ValidationError("-o \(output) would overwrite the input or the reject file; choose another output")
        }
    }

    func run() async throws {
        switch (from, to) {
        case (.csv, .xml): try convertCSV()
        case (.json, .xml): try convertJSON()
        case (.xml, .json), (.xml, .csv): try convertXML()
        default: throw ValidationError("unsupported conversion")
        }
    }

    private func openInput() throws -> ByteSource {
        input == "-" ? ByteSource(standardInputNamed: "-") : try ByteSource(path: input)
    }

    private func progressLine(_ source: ByteSource) -> ProgressLine {
        ProgressLine(label: input, enabled: progress || (ProgressLine.stderrIsTerminal && (source.totalSize ?? 0) > 64 << 20))
    }

    // MARK: CSV → XML

    private func convertCSV() throws {
        let mappingProfile = try CSVMappingProfile.load(path: profile!)
        var options = CSVConversionOptions(senderCountry: sender.flatMap(CountryCode.normalize), agencyId: agency,
                                           sequenceNumber: sequence ?? 1)
        options.pseudonymKeyFile = pseudonymKey
        var converter = try CSVToBatchConverter(profile: mappingProfile, options: options)
        // No --sequence: the next number of the sender's counter, kept (and locked) in the output's folder.
        var counter: SequenceCounter?
        if sequence == nil {
            let folder = URL(fileURLWithPath: output).deletingLastPathComponent().path
            let opened = try SequenceCounter(folder: folder, sender: converter.header.sender)
            options.sequenceNumber = opened.next
            converter = try CSVToBatchConverter(profile: mappingProfile, options: options)
            counter = opened
        }
        let source = try openInput()
        let out = try StagedOutput(path: output)
        let rejectPath = rejects ?? output + ".rejects.csv"
        var rejectOut: StagedOutput?
        do {
            if !strict { rejectOut = try StagedOutput(path: rejectPath) }
        } catch {
            out.discard()
            throw error
        }
        let rejectWriter = rejectOut.map { file in RejectFileWriter { try file.write($0) } }
        let line = progressLine(source)
        var printed = 0
        let summary: CSVConversionSummary
        do {
            var writer = BatchXMLWriter { try out.write($0) }
            summary = try converter.convert(source, to: &writer, rejects: rejectWriter, rejected: { rejection in
                printed += 1
                if printed <= Self.maxRejectionsShown { Self.say(rejection.description) }
            }, progress: { summary, bytes in
                line.update(bytes: bytes, total: source.totalSize, records: summary.recordsWritten)
            })
            line.finish()
            try out.finishWriting()
            try rejectOut?.finishWriting()
        } catch {
            line.finish()
            out.discard()
            rejectOut?.discard()
            throw error
        }
        if printed > Self.maxRejectionsShown {
            Self.say("… \(printed - Self.maxRejectionsShown) more reasons not shown; the reject file has every rejected row")
        }
        if strict && summary.rowsRejected > 0 {
            out.discard()
            Self.say("fwx convert: --strict: \(summary.rowsRejected) of \(summary.rowsRead) rows rejected; nothing written")
            throw ExitCode(ExitStatus.invalid)
        }
        if summary.recordsWritten == 0 {
            // An empty batch would look like a good conversion to a script that goes on to sign and send it.
            out.discard()
            try rejectOut?.commit()
            var text = "fwx convert: no record written: \(summary.rowsRead) rows read, \(summary.rowsRejected) rejected"
            if let rejectOut, summary.rowsRejected > 0 { text += " (see \(rejectOut.path))" }
            Self.say(text + "; no batch was written. If every row was refused the same way, check that this is "
                + "the right profile for this export")
            throw ExitCode(ExitStatus.invalid)
        }
        let valid = try validateStaged(out)
        guard valid || keepInvalid else {
            out.discard()
            rejectOut?.discard()
            Self.say("fwx convert: the result is invalid and was not written (--keep-invalid writes it anyway)")
            throw ExitCode(ExitStatus.invalid)
        }
        try out.commit()
        try rejectOut?.commit()
        try counter?.record(options.sequenceNumber)
        var text = "fwx convert: \(summary.rowsRead) rows read, \(summary.recordsWritten) records written "
            + "(\(summary.seizures) seizures, \(summary.shipments) shipments), \(summary.rowsRejected) rows rejected"
        if let rejectOut { text += summary.rowsRejected > 0 ? " (see \(rejectOut.path))" : " (\(rejectOut.path) lists none)" }
        text += "; sequence number \(options.sequenceNumber)"
        if let counter { text += " (from \(counter.path); the next batch gets \(options.sequenceNumber + 1))" }
        Self.say(text)
        if !valid { throw ExitCode(ExitStatus.invalid) }
    }

    // MARK: JSON → XML

    private func convertJSON() throws {
        let source = try openInput()
        let out = try StagedOutput(path: output)
        let line = progressLine(source)
        let count: Int
        do {
            var writer = BatchXMLWriter { try out.write($0) }
            count = try BatchJSONConverter.jsonToXML(source, writer: &writer) { bytes in
                line.update(bytes: bytes, total: source.totalSize)
            }
            line.finish()
            try out.finishWriting()
        } catch let error as FWXError where error.code == .json {
            line.finish()
            out.discard()
            Self.say("fwx: error: \(error)")
            throw ExitCode(ExitStatus.invalid)
        } catch {
            line.finish()
            out.discard()
            throw error
        }
        let valid = try validateStaged(out)
        guard valid || keepInvalid else {
            out.discard()
            Self.say("fwx convert: the result is invalid and was not written (--keep-invalid writes it anyway)")
            throw ExitCode(ExitStatus.invalid)
        }
        try out.commit()
        Self.say("fwx convert: \(count) records written to \(output == "-" ? "standard output" : output)")
        if !valid { throw ExitCode(ExitStatus.invalid) }
    }

    // MARK: XML → JSON, XML → flat CSV

    private func convertXML() throws {
        let source = try openInput()
        let out = try StagedOutput(path: output)
        let line = progressLine(source)
        let report: BatchReadReport
        var rows: Int?
        do {
            let progress: (Int) -> Void = { line.update(bytes: $0, total: source.totalSize) }
            if to == .json {
                report = try BatchJSONConverter.xmlToJSON(source, output: { try out.write($0) }, progress: progress)
            } else {
                let result = try FlatCSVExporter.export(source, output: { try out.write($0) }, progress: progress)
                report = result.report
                rows = result.rows
            }
            line.finish()
            try out.finishWriting()
        } catch {
            line.finish()
            out.discard()
            throw error
        }
        for finding in report.findings { Self.say(finding.humanDescription) }
        Self.sayValidity(file: report.file, valid: report.isValid, records: report.records, errors: report.errorCount,
                         warnings: report.warningCount, notShown: report.findingsNotShown)
        guard report.isValid || keepInvalid else {
            out.discard()
            Self.say("fwx convert: \(input) is invalid; nothing written (--keep-invalid writes the records that passed the schema)")
            throw ExitCode(ExitStatus.invalid)
        }
        try out.commit()
        let destination = output == "-" ? "standard output" : output
        if let rows {
            Self.say("fwx convert: \(report.recordsDelivered) records written to \(destination) as \(rows) rows")
        } else {
            Self.say("fwx convert: \(report.recordsDelivered) records written to \(destination)")
        }
        if !report.isValid { throw ExitCode(ExitStatus.invalid) }
    }

    // MARK: Helpers

    static let maxRejectionsShown = 200

    /// Validates the staged XML output; prints its findings with the output's name. Returns whether it is valid.
    private func validateStaged(_ out: StagedOutput) throws -> Bool {
        let report = try BatchValidator().validate(path: out.temporaryPath)
        let name = output == "-" ? "(standard output)" : output
        for var finding in report.findings {
            finding.location.file = name
            Self.say(finding.humanDescription)
        }
        Self.sayValidity(file: name, valid: report.isValid, records: report.records, errors: report.errorCount,
                         warnings: report.warningCount, notShown: report.findingsNotShown)
        return report.isValid
    }

    private static func sayValidity(file: String, valid: Bool, records: Int, errors: Int, warnings: Int, notShown: Int) {
        let counts = "\(records) records, \(errors) errors, \(warnings) warnings"
        var text = valid ? "\(file): valid (\(counts))" : "\(file): INVALID (\(counts))"
        if notShown > 0 { text += "; \(notShown) findings not shown" }
        say(text)
    }

    static func say(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}

/// An output file written to a temporary file first, so it can be checked before it is moved into place (or
/// copied to standard output); a failed or refused conversion leaves no output behind and keeps an earlier one.
final class StagedOutput {
    /// The final path, or "-" for standard output.
    let path: String
    /// Where the bytes are until ``commit()``.
    let temporaryPath: String
    private var handle: FileHandle?
    private var buffer: [UInt8] = []

    init(path: String) throws {
        self.path = path
        if path == "-" {
            temporaryPath = NSTemporaryDirectory() + "/fwx-convert-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).tmp"
        } else {
            try OutputFiles.checkNotFolder(path)
            OutputFiles.removeStalePartials(of: path)
            temporaryPath = path + ".partial-\(getpid())"
        }
        guard FileManager.default.createFile(atPath: temporaryPath, contents: nil) else {
            throw FWXError(.io, "cannot create \(temporaryPath): check that the folder exists and is writable", location: path)
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporaryPath))
        buffer.reserveCapacity(1 << 20)
    }

    func write(_ text: String) throws {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= 1 << 20 { try flush() }
    }

    func write(_ bytes: [UInt8]) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 20 { try flush() }
    }

    private func flush() throws {
        guard let handle, !buffer.isEmpty else { return }
        do {
            try handle.write(contentsOf: buffer)
        } catch {
            throw FWXError(.io, "cannot write \(path == "-" ? temporaryPath : path): \(error.localizedDescription)", location: path)
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes and closes the temporary file, so that it can be read back.
    func finishWriting() throws {
        try flush()
        try handle?.close()
        handle = nil
    }

    /// Moves the file into place, or copies it to standard output.
    func commit() throws {
        try finishWriting()
        if path == "-" {
            defer { unlink(temporaryPath) }
            let source = try ByteSource(path: temporaryPath)
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = chunk.withUnsafeMutableBytes { source.read(into: $0.baseAddress!, count: $0.count) }
                if n <= 0 { break }
                FileHandle.standardOutput.write(Data(chunk[0..<n]))
            }
            return
        }
        if rename(temporaryPath, path) != 0 {
            throw FWXError(.io, "cannot move output into place at \(path): \(String(cString: strerror(errno)))", location: path)
        }
    }

    /// Removes the temporary file.
    func discard() {
        try? handle?.close()
        handle = nil
        unlink(temporaryPath)
    }
}
