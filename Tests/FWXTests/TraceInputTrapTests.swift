// Input that once could stop the process (issue 13, item 11): `fwx trace` over files that were never validated
// could sum masses to infinity and hit a precondition in the JSON writer, and TraceEngine.add trapped on facts its
// binary reader refuses. Now such records are refused with an error (or counted as unreadable) and never trap.
import FWXModel
import FWXTrace
import Foundation
import Testing

private func facts(_ id: String, neq: Double, gross: Double, latitude: Double? = nil) -> RecordFacts {
    RecordFacts(recordId: id, kind: .seizure, date: "2026-10-01", location: latitude.map {
        RecordFacts.Point(country: "NL", latitude: $0, longitude: 4.1)
    } ?? RecordFacts.Point(country: "NL"),
                categories: [RecordFacts.CategoryAmounts(category: .f4,
                                                         amounts: RecordFacts.Amounts(items: 1, neqKg: neq, grossKg: gross))])
}

@Suite("Trace input traps")
struct TraceInputTrapTests {
    @Test("TraceEngine.add refuses infinite, NaN and oversized amounts and NaN coordinates with TraceError, changing nothing")
    func engineRefuses() throws {
        var engine = TraceEngine()
        try engine.add(facts("NL-SZ-1", neq: 9e8, gross: 9e8))
        let refused = [
            facts("NL-SZ-2", neq: .infinity, gross: 1),
            facts("NL-SZ-3", neq: 1, gross: .nan),
            facts("NL-SZ-4", neq: 1e308, gross: 1e308),
            facts("NL-SZ-5", neq: -2e9, gross: 1),
            facts("NL-SZ-6", neq: 1, gross: 1, latitude: .nan),
        ]
        for item in refused {
            #expect(throws: TraceError(.unsummable, "")) { try engine.add(item) }
        }
        // Two records just under the bound each still sum.
        try engine.add(facts("NL-SZ-7", neq: 9e8, gross: 9e8))
        let result = engine.result()
        #expect(result.totals.recordsConsidered == 2 && result.totals.recordsMatched == 2)
        #expect(result.totals.neqKg == 1.8e9 && result.totals.grossKg.isFinite)
        // The JSON writer has a form for everything the engine returns.
        let json = String(decoding: TraceJSON.render(result), as: UTF8.self)
        #expect(!json.contains("inf") && !json.contains("nan"))
        #expect((try? JSONSerialization.jsonObject(with: Data(json.utf8))) != nil)
    }

    @Test("100,000 records of the largest amount sum to a finite, exact total")
    func largestSums() throws {
        var engine = TraceEngine()
        let biggest = facts("NL-SZ-9", neq: TraceEngine.maxKilograms, gross: -TraceEngine.maxKilograms)
        let binary = biggest.binary()
        var added = 0
        for _ in 0..<100_000 where binary.withUnsafeBytes({ engine.add(binary: $0) }) { added += 1 }
        #expect(added == 100_000)
        let result = engine.result()
        #expect(result.totals.neqKg == 1e14 && result.totals.grossKg == -1e14)
    }

    @Test("fwx trace over a file with masses too large for a number: the records are left out, counted, exit 0")
    func traceCLIOverHugeMasses() throws {
        let huge = "1" + String(repeating: "0", count: 400)
        let xml = try Sample.edited([
            (old: "<GrossMassKg>96.0</GrossMassKg>", new: "<GrossMassKg>\(huge)</GrossMassKg>", occurrence: nil),
            (old: "<GrossMassKg>40.5</GrossMassKg>", new: "<GrossMassKg>\(huge)</GrossMassKg>", occurrence: nil),
        ])
        try withTemporaryDirectory { folder in
            let path = try writeFile(folder, "huge.xml", xml)
            for format in ["json", "text", "csv", "geojson", "graphml"] {
                let result = try runFWX(["trace", path, "--format", format, "-o", folder.path + "/out.\(format)"],
                                        timeout: 60)
                #expect(result.status == 0, "\(format): \(result)")
                #expect(result.stderr.contains("1 record(s) could not be read"), "\(format): \(result)")
            }
            let json = try Data(contentsOf: folder.appendingPathComponent("out.json"))
            #expect((try? JSONSerialization.jsonObject(with: json)) != nil)
        }
    }
}
