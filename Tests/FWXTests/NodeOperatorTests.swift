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
}
