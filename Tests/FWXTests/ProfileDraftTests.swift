// Issue 17, item 2: `fwx profile draft` on the two shipped exports, through the built binary. The draft must find
// what the hand-written profiles say about the file (dialect, title lines, formats) and map every column they map
// to the same field; it must not load until the liaison has decided what only they can decide, and it must not
// copy personal values. (The header words were written with these two exports in view, so this is a check that
// the drafting works end to end, not a measure of how it does on an export never seen.)
import FWXConvert
import FWXModel
import FWXSigning
import FWXXML
import Foundation
import Testing
import Yams

@Suite("fwx profile draft")
struct ProfileDraftTests {
    struct Export: Sendable, CustomTestStringConvertible {
        var name: String
        var country: String
        var testDescription: String { name }
    }

    static let exports = [Export(name: "nl-politie", country: "NL"), Export(name: "de-zoll", country: "DE")]

    /// The first field a profile column maps to.
    static func field(_ value: Any) -> String? {
        if let text = value as? String { return text }
        if let map = value as? [String: Any] { return map["field"] as? String }
        if let list = value as? [Any], let first = list.first { return field(first) }
        return nil
    }

    @Test("the draft finds the shipped profile's dialect and formats and maps every column it maps to the same field", arguments: exports)
    func draftMatchesShippedProfile(_ export: Export) throws {
        try withTemporaryDirectory { folder in
            let output = folder.appendingPathComponent("draft.yaml").path
            let result = try runFWX(["profile", "draft", Paths.repo("fixtures/exports/\(export.name).csv"),
                                     "--country", export.country, "--agency", "\(export.country)-TEST", "-o", output])
            #expect(result.status == 0, "\(result)")
            #expect(result.stderr.contains("columns recognised"), "\(result)")
            let draftText = try String(contentsOfFile: output, encoding: .utf8)
            let draft = try #require(try Yams.load(yaml: draftText) as? [String: Any])
            let shipped = try #require(try Yams.load(yaml: String(contentsOfFile: Paths.repo("fixtures/profiles/\(export.name).yaml"),
                                                                  encoding: .utf8)) as? [String: Any])
            let draftCSV = try #require(draft["csv"] as? [String: Any])
            let shippedCSV = try #require(shipped["csv"] as? [String: Any])
            #expect("\(draftCSV["delimiter"]!)" == "\(shippedCSV["delimiter"]!)")
            #expect((draftCSV["skipLines"] as? Int ?? 0) == (shippedCSV["skipLines"] as? Int ?? 0))
            if "\(shippedCSV["encoding"]!)" == "utf-8" {
                #expect("\(draftCSV["encoding"]!)" == "utf-8")
            } else {
                // ISO-8859-1 and Windows-1252 read these bytes alike; the draft names the one Excel writes.
                #expect(["iso-8859-1", "windows-1252"].contains("\(draftCSV["encoding"]!)"))
            }
            let draftNumbers = try #require(draft["numbers"] as? [String: Any])
            let shippedNumbers = try #require(shipped["numbers"] as? [String: Any])
            #expect("\(draftNumbers["decimalSeparator"]!)" == "\(shippedNumbers["decimalSeparator"]!)")
            let draftDates = try #require(draft["dates"] as? [String: Any])
            let shippedDates = try #require(shipped["dates"] as? [String: Any])
            #expect("\(draftDates["dateFormat"]!)" == "\(shippedDates["dateFormat"]!)")
            #expect("\(draftDates["timeFormat"]!)" == "\(shippedDates["timeFormat"]!)")

            let draftColumns = try #require(draft["columns"] as? [String: Any])
            let shippedColumns = try #require(shipped["columns"] as? [String: Any])
            #expect(shippedColumns.count >= 25)
            for (header, value) in shippedColumns {
                let drafted = draftColumns[header].flatMap(Self.field)
                #expect(drafted == Self.field(value), "column '\(header)'")
            }
            // Every code the draft proposes for an export's word is the one the shipped profile gives it.
            let draftMaps = draft["maps"] as? [String: [String: Any]] ?? [:]
            let shippedMaps = shipped["maps"] as? [String: [String: Any]] ?? [:]
            var proposals = 0
            for (header, value) in shippedColumns {
                guard let shippedMap = (value as? [String: Any])?["map"] as? String,
                      let draftMap = (draftColumns[header] as? [String: Any])?["map"] as? String else { continue }
                for (word, code) in draftMaps[draftMap] ?? [:] {
                    guard let code = code as? String, let expected = shippedMaps[shippedMap]?[word] else { continue }
                    proposals += 1
                    #expect(code == "\(expected)", "column '\(header)', word '\(word)'")
                }
            }
            #expect(proposals >= 5, "\(proposals) proposals checked")
        }
    }

    @Test("the draft does not load until the liaison decides the handling code, the retention and the codes; filled in, it converts the export", arguments: exports)
    func draftNeedsDecisions(_ export: Export) throws {
        let path = Paths.repo("fixtures/exports/\(export.name).csv")
        let draft = try ProfileDraft.draft(path: path)
        let text = draft.yaml(exportName: "\(export.name).csv", country: export.country, agency: "\(export.country)-TEST")
        #expect(text.contains("defaultHandlingCode:   # REQUIRED"))
        #expect(throws: (any Error).self) { try CSVMappingProfile.parse(yaml: text, name: "draft.yaml") }

        // The shipped profile's decisions, written into the draft where it left them open, make a working profile.
        let shipped = try CSVMappingProfile.load(path: Paths.repo("fixtures/profiles/\(export.name).yaml"))
        let shippedText = try String(contentsOfFile: Paths.repo("fixtures/profiles/\(export.name).yaml"), encoding: .utf8)
        var filled = text.replacingOccurrences(of: "defaultHandlingCode:   # REQUIRED: H1, H2 or H3 (docs/node.md, handling codes), your decision",
                                               with: "defaultHandlingCode: \(shipped.batch.defaultHandlingCode!.rawValue)")
        filled = filled.replacingOccurrences(of: "years:   # REQUIRED: how long your law lets partners keep these records",
                                             with: "years: 5")
        // Constants and maps: the draft's sections give way to the shipped profile's.
        let draftHead = filled.components(separatedBy: "\nconstants:")[0]
        let shippedTail = "\nconstants:" + shippedText.components(separatedBy: "\nconstants:")[1]
        var draftColumns = draftHead.components(separatedBy: "\ncolumns:")
        let shippedColumns = shippedText.components(separatedBy: "\ncolumns:")[1].components(separatedBy: "\nconstants:")[0]
        draftColumns[1] = shippedColumns
        let profile = try CSVMappingProfile.parse(yaml: draftColumns.joined(separator: "\ncolumns:") + shippedTail,
                                                  name: "filled.yaml")
        #expect(profile.csv.delimiter == shipped.csv.delimiter)
        #expect(profile.csv.skipLines == shipped.csv.skipLines)
        #expect(profile.dates.dateFormat == shipped.dates.dateFormat)
        func converted(_ profile: CSVMappingProfile) throws -> Int {
            var options = CSVConversionOptions()
            options.fallbackPseudonymKey = PseudonymKey.ephemeral()
            options.now = Validation.now
            var writer = BatchXMLWriter { _ in }
            return try CSVToBatchConverter(profile: profile, options: options)
                .convert(try ByteSource(path: path), to: &writer, rejected: { _ in }).recordsWritten
        }
        let records = try converted(profile)
        #expect(records > 0)
        #expect(records == (try converted(shipped)))
    }

    @Test("personal values of the export never reach the draft; bad usage is refused")
    func noPersonalValuesAndUsage() throws {
        let path = Paths.repo("fixtures/exports/nl-politie.csv")
        let draft = try ProfileDraft.draft(path: path)
        let text = draft.yaml(exportName: "nl-politie.csv", country: "NL", agency: "NL-TEST")
        for personal in ["p1:3f9a0c22b71e5d40", "VL-482-K", "1998", "sporttas", "buren meldden"] {
            #expect(!text.contains(personal), "\(personal)")
        }
        let badCountry = try runFWX(["profile", "draft", path, "--country", "Netherlands", "--agency", "X"])
        #expect(badCountry.status == 64 || badCountry.status == 2, "\(badCountry)")
        #expect(badCountry.stderr.contains("ISO 3166-1"), "\(badCountry)")
        try withTemporaryDirectory { folder in
            let existing = try writeFile(folder, "p.yaml", "keep me\n")
            let refused = try runFWX(["profile", "draft", path, "--country", "NL", "--agency", "X", "-o", existing])
            #expect(refused.status != 0)
            #expect(refused.stderr.contains("--force"), "\(refused)")
            #expect(try String(contentsOfFile: existing, encoding: .utf8) == "keep me\n")
        }
    }
}
