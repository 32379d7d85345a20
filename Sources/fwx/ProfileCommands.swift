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
        abstract: "Check a CSV mapping profile against a national export before converting it.",
        subcommands: [ProfileCheckCommand.self])
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
