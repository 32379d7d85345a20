import Foundation
import Testing

/// `fwx trace` through the built binary: exit statuses and output over batch files.
@Suite("fwx trace command")
struct TraceCLITests {
    @Test("Over generated batch files: a summary, JSON with capped points and clusters, usage errors exit 2")
    func traceOverFiles() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fwx-trace-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let fwx = ProjectTests.fwxBinary
        let nl = folder + "/nl.xml", de = folder + "/de.xml"
        // 600 records are ~1.4 MB: over 1 MiB the parser runs its two-thread pipeline (and trace adds on a third).
        #expect(try ProjectTests.runProject([fwx, "generate", "--records", "600", "--seed", "9", "-o", nl]).status == 0)
        #expect(try ProjectTests.runProject([fwx, "generate", "--records", "200", "--seed", "10", "--sender", "DE",
                                             "-o", de]).status == 0)

        let summary = try ProjectTests.runProject([fwx, "trace", nl, de])
        #expect(summary.status == 0)
        #expect(summary.output.contains("800 of 800 records"), "\(summary.output)")
        #expect(summary.output.contains("Top routes"))

        let json = folder + "/trace.json"
        let capped = try ProjectTests.runProject([fwx, "trace", nl, de, "--format", "json", "--max-points", "3",
                                                  "--max-clusters", "2", "--max-records-per-key", "20", "-o", json])
        #expect(capped.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any]
        #expect((object?["points"] as? [Any])?.count == 3)
        #expect(((object?["clusters"] as? [Any])?.count ?? 99) <= 2)
        #expect((object?["pointCount"] as? Int ?? 0) > 3)

        #expect(try ProjectTests.runProject([fwx, "trace"]).status == 2)
        #expect(try ProjectTests.runProject([fwx, "trace", nl, "--config", folder + "/x.yaml"]).status == 2)
        #expect(try ProjectTests.runProject([fwx, "trace", nl, "--period", "week"]).status == 2)
        #expect(try ProjectTests.runProject([fwx, "trace", folder + "/missing.xml"]).status == 2)
    }
}
