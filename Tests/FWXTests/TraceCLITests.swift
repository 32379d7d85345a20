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

        // Each output lists what it should: every map point in GeoJSON and the points table, every cluster in
        // GraphML and the clusters table (the summary and the other tables build neither).
        let pointCount = object?["pointCount"] as? Int ?? -1
        let clusterCount = object?["clusterCount"] as? Int ?? -1
        #expect(clusterCount > 2)
        let geojson = folder + "/trace.geojson", graphml = folder + "/trace.graphml"
        let points = folder + "/points.csv", clusters = folder + "/clusters.csv", flows = folder + "/flows.csv"
        for (format, table, path) in [("geojson", "flows", geojson), ("graphml", "flows", graphml),
                                      ("csv", "points", points), ("csv", "clusters", clusters), ("csv", "flows", flows)] {
            let run = try ProjectTests.runProject([fwx, "trace", nl, de, "--format", format, "--table", table,
                                                   "--max-records-per-key", "20", "-o", path])
            #expect(run.status == 0, "\(format) \(table): \(run.output)")
        }
        let collection = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: geojson)))
            as? [String: Any]
        let features = collection?["features"] as? [[String: Any]] ?? []
        let seizures = features.filter { ($0["properties"] as? [String: Any])?["feature"] as? String == "seizure" }
        let omitted = (collection?["omitted"] as? [String: Any])?["points"] as? Int ?? -1
        #expect(seizures.count + omitted == pointCount && seizures.count > 0)
        let graph = try String(contentsOfFile: graphml, encoding: .utf8)
        #expect(graph.contains("(\(clusterCount) of \(clusterCount) clusters)"))
        #expect(graph.contains("<node ") && graph.contains("<edge "))
        func rows(_ path: String) throws -> Int {
            try String(contentsOfFile: path, encoding: .utf8).components(separatedBy: "\r\n").filter { !$0.isEmpty }.count - 1
        }
        #expect(try rows(points) == pointCount)
        #expect(try rows(clusters) == clusterCount)
        #expect(try rows(flows) > 0)
        // Flows by NUTS region (level 2: four characters) where the records give one.
        let regions = folder + "/regions.csv"
        let byRegion = try ProjectTests.runProject([fwx, "trace", nl, de, "--format", "csv", "--table", "flows",
                                                    "--region-level", "2", "-o", regions])
        #expect(byRegion.status == 0, "\(byRegion.output)")
        let regionRows = try String(contentsOfFile: regions, encoding: .utf8).components(separatedBy: "\r\n")
            .dropFirst().filter { !$0.isEmpty }.map { $0.components(separatedBy: ",") }
        #expect(regionRows.contains { $0.count > 5 && $0[5].count == 4 }, "\(regionRows.prefix(3))")
        #expect(regionRows.allSatisfy { $0.count > 5 && $0[2].count <= 4 && $0[5].count <= 4 })
        #expect(try ProjectTests.runProject([fwx, "trace", nl, "--region-level", "4"]).status == 2)

        #expect(try ProjectTests.runProject([fwx, "trace"]).status == 2)
        #expect(try ProjectTests.runProject([fwx, "trace", nl, "--config", folder + "/x.yaml"]).status == 2)
        #expect(try ProjectTests.runProject([fwx, "trace", nl, "--period", "week"]).status == 2)
        #expect(try ProjectTests.runProject([fwx, "trace", folder + "/missing.xml"]).status == 2)
    }
}
