// `fwx demo` through the built binary: the three-country demo on SQLite files and on PostgreSQL databases.
import Foundation
import Testing

@Suite("Demo")
struct DemoTests {
    @Test("fwx demo passes every check on each store backend and removes its folder and cluster",
          arguments: ["sqlite", "postgres"])
    func demo(store: String) async throws {
        try await withTemporaryDirectoryAsync { folder in
            let report = folder + "/report.html"
            let result = try await runBlocking {
                try runFWX(["demo", "--records", "40", "--store", store, "--report", report], timeout: 240)
            }
            #expect(result.status == 0, "\(result)")
            #expect(result.stdout.contains("== all checks passed"), "\(result)")
            #expect(!result.stdout.contains("FAILED"), "\(result)")
            #expect(result.stdout.contains(store == "postgres" ? "stores: PostgreSQL databases" : "stores: SQLite files"),
                    "\(result)")
            #expect(FileManager.default.fileExists(atPath: report))
            // The demo's temporary folder (with the cluster's data) is gone: the demo stopped what it started.
            let line = result.stdout.split(separator: "\n").first { $0.contains("temporary folder") } ?? ""
            let demoFolder = line.components(separatedBy: "temporary folder ").last?.dropLast() ?? ""
            #expect(!demoFolder.isEmpty && !FileManager.default.fileExists(atPath: String(demoFolder)), "\(line)")
        }
    }

    @Test("fwx demo --store with an unknown backend is a usage error naming the choices")
    func unknownStore() throws {
        let result = try runFWX(["demo", "--store", "oracle"])
        #expect(result.status == 2, "\(result)")
        #expect(result.stderr.contains("sqlite") && result.stderr.contains("postgres"), "\(result)")
    }
}
