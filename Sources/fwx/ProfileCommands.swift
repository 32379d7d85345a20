import ArgumentParser
import FWXConvert
import FWXModel
import FWXSigning
import FWXXML
import Foundation

/// `fwx profile`: work on CSV mapping profiles.
struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Draft a CSV mapping profile from a national export, or check one against it before converting.",
        subcommands: [ProfileDraftCommand.self, ProfileCheckCommand.self])
}

/// `fwx profile check PROFILE EXPORT.csv`: which columns map to what, and which rows a conversion would reject and
/// why, without writing anything.
struct ProfileCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Say which columns of an export a profile maps, and which rows a conversion would reject, writing nothing.",
        discussion: """
            Reads the export once, as fwx convert --from csv would, and writes no batch, no reject file and no \
            sequence number. Persons are made into pseudonyms with the profile's key, or a random one for this \
            check (nothing of them is printed). Report on standard output.

            Exit status: 0 every row would convert; 1 some rows would be rejected, or no record would be written; \
            2 the profile, the export's header or the usage is wrong.
            """)

    @Argument(help: "The mapping profile (YAML).")
    var profile: String

    @Argument(help: "The national export (CSV).")
    var export: String

    @Option(help: "Most rejected rows listed (default 50); the count is always given.")
    var maxRows: Int = 50

    func validate() throws {
        guard maxRows >= 0 else { throw ValidationError("--max-rows must be 0 or more") }
    }

    func run() throws {
        let mappingProfile = try CSVMappingProfile.load(path: profile)
        var options = CSVConversionOptions()
        options.fallbackPseudonymKey = PseudonymKey.ephemeral()
        let converter = try CSVToBatchConverter(profile: mappingProfile, options: options)

        let report = try converter.columnReport(try ByteSource(path: export))
        print("profile \(profile) on \(export):")
        for column in report.mapped {
            print("  column '\(column.header)' -> \(column.fields.joined(separator: ", "))")
        }
        for column in report.missing {
            print("  column '\(column.header)' is not in the export\(column.optional ? " (optional: its fields stay empty)" : "")")
        }
        if !report.unmapped.isEmpty {
            print("  not mapped (ignored): \(report.unmapped.map { "'\($0)'" }.joined(separator: ", "))")
        }

        var shown = 0
        var writer = BatchXMLWriter { _ in }
        let summary = try converter.convert(try ByteSource(path: export), to: &writer, rejected: { rejection in
            shown += 1
            if shown <= maxRows { print(rejection.description) }
        })
        if shown > maxRows { print("… \(shown - maxRows) more reasons not shown") }
        print("\(summary.rowsRead) rows read: \(summary.recordsWritten) records would be written (\(summary.seizures) "
              + "seizures, \(summary.shipments) shipments), \(summary.rowsRejected) rows would be rejected")
        if summary.rowsRejected > 0 || summary.recordsWritten == 0 { throw ExitCode(ExitStatus.invalid) }
    }
}

/// `fwx profile draft EXPORT.csv --country CC --agency ID -o PROFILE`: a first profile from the export's header and
/// sample rows, with what only the liaison can decide left empty and marked.
struct ProfileDraftCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "draft",
        abstract: "Draft a mapping profile from an export: encoding, delimiter, title lines, the field each header names, date and number formats, code maps to fill in.",
        discussion: """
            Reads the header and up to --sample-rows rows. Headers are recognised by the words police and customs \
            exports use in Dutch, German, French and English. Nothing is invented: the default handling code, the \
            retention, constants for fields no column gives, and codes for the export's own words are left empty \
            and marked REQUIRED, so the profile does not load until they are decided; guesses are marked CHECK. \
            Values of personal columns are never copied into the draft. Then run fwx profile check.

            Exit status: 0 drafted; 2 usage or I/O error (an existing output is not overwritten without --force).
            """)

    @Argument(help: "The national export (CSV).")
    var export: String

    @Option(help: "The sending country (ISO 3166-1 alpha-2).")
    var country: String

    @Option(help: "The sending agency's id, e.g. NL-POLITIE-LE.")
    var agency: String

    @Option(name: .shortAndLong, help: "Where to write the profile (standard output when absent).")
    var output: String?

    @Option(help: "Rows read for formats and code values.")
    var sampleRows: Int = 500

    @Flag(help: "Overwrite an existing output file.")
    var force = false

    func validate() throws {
        guard CountryCode.isValid(country) else {
            throw ValidationError("--country \(country.quotedForMessage) is not an ISO 3166-1 alpha-2 code (NL, DE, BE …)")
        }
        guard !agency.isEmpty else { throw ValidationError("--agency needs a value") }
        guard sampleRows > 0 else { throw ValidationError("--sample-rows must be at least 1") }
        if let output, !force, FileManager.default.fileExists(atPath: output) {
            throw ValidationError("\(output) exists; give --force to overwrite it")
        }
    }

    func run() throws {
        let draft = try ProfileDraft.draft(path: export, sampleRows: sampleRows)
        let text = draft.yaml(exportName: (export as NSString).lastPathComponent, country: country, agency: agency)
        if let output {
            try Data(text.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
        } else {
            print(text, terminator: "")
        }
        let recognised = draft.columns.filter { $0.field != nil }.count
        var summary = "fwx profile draft: \(recognised) of \(draft.columns.count) columns recognised, "
            + "\(draft.columns.count - recognised) left out; \(draft.missingRequired.count) required fields without a column"
        if let output { summary += "; written to \(output). Next: fwx profile check \(output) \(export)" }
        FileHandle.standardError.write(Data((summary + "\n").utf8))
    }
}
