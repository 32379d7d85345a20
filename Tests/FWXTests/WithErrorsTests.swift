// `fwx generate --with-errors --manifest`: the generator plants known violations and says where; validation must
// find each one, on the record the manifest names, and nothing else.
import FWXConvert
import FWXModel
import FWXXML
import Foundation
import Testing

/// Where each record of a batch in FWX's canonical layout starts and ends, with its id, so that a finding's line
/// can be traced back to the record it belongs to.
struct RecordSpans {
    struct Span {
        var first: Int
        var last: Int
        var recordId: String
    }

    private(set) var spans: [Span] = []

    init(xml: String) {
        var start: Int?
        var id = ""
        for (index, rawLine) in xml.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            let number = index + 1
            if line == "<Seizure>" || line == "<Shipment>" {
                start = number
                id = ""
            } else if start != nil, id.isEmpty, line.hasPrefix("<RecordId>"), line.hasSuffix("</RecordId>") {
                id = String(line.dropFirst("<RecordId>".count).dropLast("</RecordId>".count))
            } else if line == "</Seizure>" || line == "</Shipment>", let first = start {
                spans.append(Span(first: first, last: number, recordId: id))
                start = nil
            }
        }
    }

    /// The id of the record that contains `line`, or nil when the line is outside every record.
    func recordId(atLine line: Int) -> String? {
        spans.first { $0.first <= line && line <= $0.last }?.recordId
    }
}

@Suite("Generated batches with planted errors")
struct WithErrorsTests {
    @Test("every planted violation is found on its record, and nothing else",
          arguments: [(UInt64(11), "NL"), (UInt64(12), "DE"), (UInt64(13), "BE")])
    func plantedViolationsFound(seed: UInt64, sender: String) throws {
        try withTemporaryDirectory { folder in
            let output = folder.appendingPathComponent("with-errors.xml").path
            let manifestPath = folder.appendingPathComponent("manifest.json").path
            let result = try runFWX(["generate", "--records", "500", "--seed", String(seed), "--sender", sender,
                                     "--with-errors", "--manifest", manifestPath, "-o", output])
            try #require(result.status == 0, "\(result)")

            let planted = try JSONDecoder().decode([PlantedError].self,
                                                   from: Data(contentsOf: URL(fileURLWithPath: manifestPath)))
            // One violation in every 10 records, a few moved to the next record of the right kind.
            #expect((40...50).contains(planted.count), "\(planted.count) planted")
            #expect(Set(planted.map(\.rule)) == Set(SyntheticBatchGenerator.plantedRules),
                    "every rule of the rotation is planted at least once in 500 records")

            let xml = try String(contentsOfFile: output, encoding: .utf8)
            let spans = RecordSpans(xml: xml)
            #expect(spans.spans.count == 500)
            let report = try Validation.validate(path: output)
            #expect(report.records == 500)

            var found: [String: Int] = [:]
            for finding in report.findings {
                let id = spans.recordId(atLine: finding.location.line) ?? "(outside records: line \(finding.location.line))"
                found["\(finding.rule) \(id)", default: 0] += 1
            }
            var expected: [String: Int] = [:]
            for error in planted { expected["\(error.rule) \(error.recordId)", default: 0] += 1 }

            for error in planted {
                #expect(found["\(error.rule) \(error.recordId)"] != nil,
                        "planted \(error.rule) on \(error.recordId) was not reported")
            }
            let collateral = found.filter { expected[$0.key] == nil }.keys.sorted()
            #expect(collateral.isEmpty, "findings nobody planted: \(collateral)")
            #expect(report.errorCount == planted.count, "\(Validation.describe(report))")
            #expect(report.warningCount == 0, "\(Validation.describe(report))")
            #expect(report.findings.count == planted.count)
            #expect(found == expected)

            // The library's generator plants the same violations in the same bytes.
            let library = try Generated.batch(records: 500, seed: seed, sender: sender, withErrors: true)
            #expect(library.planted == planted)
            #expect(library.xml == xml)
        }
    }

    @Test("without --with-errors the manifest is empty and the batch valid")
    func noErrorsNoManifestEntries() throws {
        try withTemporaryDirectory { folder in
            let output = folder.appendingPathComponent("clean.xml").path
            let manifestPath = folder.appendingPathComponent("manifest.json").path
            let result = try runFWX(["generate", "--records", "100", "--seed", "4", "--manifest", manifestPath,
                                     "-o", output])
            try #require(result.status == 0, "\(result)")
            let planted = try JSONDecoder().decode([PlantedError].self,
                                                   from: Data(contentsOf: URL(fileURLWithPath: manifestPath)))
            #expect(planted.isEmpty)
            let report = try Validation.validate(path: output)
            #expect(report.findings.isEmpty, "\(Validation.describe(report))")
        }
    }

    @Test("in-process: planted violations are found for several seeds and error densities")
    func inProcessSeeds() throws {
        for seed: UInt64 in [100, 101] {
            var generator = try SyntheticBatchGenerator(SyntheticBatchConfiguration(
                records: 300, seed: seed, sender: "BE", withErrors: true, errorEvery: 4))
            var xml = ""
            var writer = BatchXMLWriter { xml += $0 }
            try generator.write(to: &writer)
            let planted = generator.planted
            #expect(planted.count >= 60)
            let spans = RecordSpans(xml: xml)
            let report = try Validation.validate(xml: xml, name: "dense-\(seed).xml")
            let found = Set(report.findings.map { "\($0.rule) \(spans.recordId(atLine: $0.location.line) ?? "?")" })
            let expected = Set(planted.map { "\($0.rule) \($0.recordId)" })
            #expect(found == expected, "missing: \(expected.subtracting(found).sorted()) extra: \(found.subtracting(expected).sorted())")
            #expect(report.errorCount == planted.count)
        }
    }
}
