import FWXModel
import FWXNode
import FWXStore
import Foundation
import Testing

/// What an operator does to a running node from the command line, through the built `fwx` binary.
@Suite("Node operator commands", .serialized)
struct NodeOperatorTests {
    /// `configuration` as the YAML file `fwx serve --config` reads (the keys the test network uses).
    static func yaml(_ configuration: NodeConfiguration) -> String {
        var text = """
            node: {country: \(configuration.identity.country), agency: \(configuration.identity.agencyId), \
            baseURL: "\(configuration.baseURL)"}
            listen: {host: \(configuration.listen.host), port: \(configuration.listen.port)}
            tls: {certificate: "\(configuration.tls.certificate)", key: "\(configuration.tls.key)"}
            signing: {certificate: "\(configuration.signing.certificate)", key: "\(configuration.signing.key)"}
            trust: {directory: "\(configuration.trust.directory ?? "")"}
            store: {sqlite: "\(configuration.store.sqlitePath)"}
            peers:

            """
        for peer in configuration.peers {
            text += "  - {country: \(peer.country), baseURL: \"\(peer.baseURL)\", ca: \"\(peer.caFile)\", push: \(peer.push), "
                + "handlingCodes: [\(peer.handlingCodes.map(\.rawValue).sorted().joined(separator: ", "))]}\n"
        }
        return text
    }

    @Test("A push that became a dead letter is delivered after `fwx requeue`, and the requeue is audited")
    func requeueDeadLetters() async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            let pki = network.pki
            var configuration = network.configuration("NL", peers: [NodeTestPeer(country: "DE", push: true)])
            configuration.outbox = OutboxSettings(maxAttempts: 2, initialBackoffSeconds: 0.05, maxBackoffSeconds: 0.1)
            let nl = try await network.start(configuration, outbox: true)
            // DE is not running yet: both attempts fail and the push becomes a dead letter.
            var source = try NodeTestRecords(sender: "NL", seed: 23)
            let batch = source.batch(source.next(4), sequence: 1)
            _ = try await network.deliver(try pki.sign(batch), as: pki.liaison("NL"), to: "NL")
            let dead = try await nodeTestEventually(seconds: 30) { try await nl.sync("DE")?.deadLetters == 1 }
            #expect(dead, "the push to an unreachable DE did not become a dead letter")

            let de = try await network.start(network.configuration("DE", peers: [NodeTestPeer(country: "NL")]))
            let file = network.folder + "/nl.yaml"
            try Self.yaml(configuration).write(toFile: file, atomically: true, encoding: .utf8)
            let wrongPeer = try runFWX(["requeue", "--config", file, "--peer", "BE"])
            #expect(wrongPeer.status == 2 && wrongPeer.stderr.contains("BE is not a peer"), "\(wrongPeer)")
            #expect(try await nl.sync("DE")?.deadLetters == 1, "a refused requeue changed the queue")

            let requeue = try runFWX(["requeue", "--config", file, "--peer", "de"])
            #expect(requeue.status == 0, "\(requeue)")
            #expect(requeue.stdout.contains("requeued 1 dead letter(s) to DE"), "\(requeue.stdout)")
            let delivered = try await nodeTestEventually(seconds: 30) {
                let status = try await nl.sync("DE")
                return status?.delivered == 1 && status?.deadLetters == 0
            }
            #expect(delivered, "the requeued push was not delivered")
            #expect(try await de.store.recordIds(origin: "NL") == batch.records.map(\.recordId).sorted())
            let audit = try await nl.audit("requeue")
            #expect(audit.count == 1 && audit.first?.target == "DE" && audit.first?.callerFingerprint == "operator"
                        && audit.first?.detail == "1 dead letters requeued", "\(audit)")
        }
    }

    @Test("Operator commands never create a store: a mistyped store path fails with exit 2 and leaves no file")
    func missingStore() async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            var configuration = network.configuration("NL", peers: [NodeTestPeer(country: "DE")])
            configuration.store = StoreSettings(sqlitePath: network.folder + "/typo/nl.sqlite")
            let file = network.folder + "/nl-typo.yaml"
            try Self.yaml(configuration).write(toFile: file, atomically: true, encoding: .utf8)
            for arguments in [["status", "--config", file], ["audit", "--config", file],
                              ["trace", "--config", file], ["requeue", "--config", file]] {
                let result = try runFWX(arguments)
                #expect(result.status == 2, "\(arguments[0]): \(result)")
                #expect(result.stderr.contains("there is no store at the path store.sqlite names") && result.stderr.contains("typo/nl.sqlite"),
                        "\(arguments[0]): \(result.stderr)")
            }
            #expect(!FileManager.default.fileExists(atPath: network.folder + "/typo"),
                    "an operator command created the store's folder or file")
        }
    }

    @Test("`fwx audit --since` honours the time of day, and status and audit read a store without changing it")
    func auditSinceTimeOfDay() async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            let configuration = network.configuration("NL", peers: [NodeTestPeer(country: "DE")])
            let file = network.folder + "/nl.yaml"
            try Self.yaml(configuration).write(toFile: file, atomically: true, encoding: .utf8)
            let path = configuration.store.sqlitePath
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            do {
                let store = try SQLiteNodeStore(path: path)
                // 2026-12-01 at 09:59:59, 10:00:00 and 15:30:00 UTC, and 2026-12-02 at 00:00:00.
                for (index, seconds) in [1_796_119_199.0, 1_796_119_200, 1_796_139_000, 1_796_169_600].enumerated() {
                    try await store.appendAudit(AuditEntry(at: Date(timeIntervalSince1970: seconds), callerCountry: "DE",
                                                           callerFingerprint: "test", action: "search",
                                                           target: "entry-\(index)", result: "no-hit"))
                }
            }
            func targets(_ since: String) throws -> [String] {
                let result = try runFWX(["audit", "--config", file, "--since", since, "--format", "json"])
                #expect(result.status == 0, "\(since): \(result)")
                let entries = try JSONDecoder.iso8601.decode([AuditEntry].self, from: Data(result.stdout.utf8))
                return entries.map(\.target).sorted()
            }
            #expect(try targets("2026-12-01") == ["entry-0", "entry-1", "entry-2", "entry-3"])
            #expect(try targets("2026-12-01T10:00:00Z") == ["entry-1", "entry-2", "entry-3"])
            #expect(try targets("2026-12-01T11:00:00+01:00") == ["entry-1", "entry-2", "entry-3"])
            #expect(try targets("2026-12-01T10:00:01Z") == ["entry-2", "entry-3"])
            #expect(try targets("2026-12-02") == ["entry-3"])
            let noZone = try runFWX(["audit", "--config", file, "--since", "2026-12-01T10:00:00"])
            #expect(noZone.status == 2 && noZone.stderr.contains("needs its zone"), "\(noZone)")

            let before = try Data(contentsOf: URL(fileURLWithPath: path))
            let status = try runFWX(["status", "--config", file])
            #expect(status.status == 0 && status.stdout.contains("node NL"), "\(status)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before, "fwx status changed the store file")
        }
    }
}

private extension JSONDecoder {
    static var iso8601: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
