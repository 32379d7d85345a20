import FWXClient
import FWXModel
import FWXNode
import FWXStore
import FWXTrace
import Foundation
import Testing

/// The node's analyst features over real mutual TLS: hit/no-hit search (the Prüm two-step) and the analysis
/// facts kept at intake, which `fwx trace --config` reads.
@Suite("Node search and analysis facts", .serialized)
struct NodeSearchTests {
    /// A record with one container and one vehicle, everything else as generated.
    static func marked(_ record: Record, container: String, plate: String, code: HandlingCode) -> Record {
        switch record.nodeTestHandlingCode(code).nodeTestStandalone() {
        case .shipment(var shipment):
            shipment.containers = [container]
            shipment.vehicles = [Vehicle(plate: plate, registrationCountry: "PL")]
            return .shipment(shipment)
        case .seizure(var seizure):
            seizure.vehicles = [Vehicle(plate: plate, registrationCountry: "PL")]
            return .seizure(seizure)
        }
    }

    @Test("GET /v1/search answers hit with the ids the caller may see, no-hit otherwise; audited")
    func searchHitAndNoHit() async throws {
        let pki = try await NodeTestPKI.shared()
        try await withNodeTestNetwork(["NL", "DE", "BE"]) { network in
            let nl = try await network.start(network.configuration("NL", peers: [
                NodeTestPeer(country: "DE"), NodeTestPeer(country: "BE", handlingCodes: [.h0, .h1]),
            ]))
            var source = try NodeTestRecords(sender: "NL", seed: 501)
            // Shipments carry the container (seizures have none): take the first shipment of each case.
            var shipments: [Record] = []
            while shipments.count < 3 {
                shipments += source.next(2).filter { if case .shipment = $0 { return true } else { return false } }
            }
            let container = try #require(CheckCharacters.completeContainerNumber("MSCU123456"))
            let otherContainer = try #require(CheckCharacters.completeContainerNumber("TGHU765432"))
            let open = Self.marked(shipments[0], container: container, plate: "WA12345", code: .h1)
            let secret = Self.marked(shipments[1], container: container, plate: "WA99999", code: .h3)
            let other = Self.marked(shipments[2], container: otherContainer, plate: "KR11111", code: .h0)
            // How an officer might type it: lower case, a space and a dash.
            let typed = "mscu 123456-" + String(container.last!)
            try await network.submit(source.batch([open, secret, other], sequence: 1))

            // DE may see every handling code: both records with the container, written differently, are hits.
            let de = try network.exchange(pki.node("DE"), to: "NL")
            let both = try await de.search(container: typed)
            #expect(both.hit && both.records == [open.recordId, secret.recordId].sorted())
            // BE may not receive H3: only the H1 record.
            let be = try network.exchange(pki.node("BE"), to: "NL")
            let forBE = try await be.search(container: container)
            #expect(forBE.hit && forBE.records == [open.recordId])
            // A plate matches whatever its registration country; no hit is an answer too.
            #expect(try await de.search(plate: "wa 12345").records == [open.recordId])
            let none = try await de.search(container: "ABCU0000000")
            #expect(!none.hit && none.records.isEmpty)
            // The two-step: the hit is fetched and comes signed by NL.
            let fetched = try await be.fetchRecord(id: open.recordId)
            let records = try await FeedPageCheck(trust: try pki.trust("NL"), maxRecords: 10)
                .records(in: fetched, from: "NL", name: "record")
            #expect(records.map(\.recordId) == [open.recordId])

            // A withdrawn record is no hit any more.
            try await network.submit(source.batch([open.nodeTestWithdrawn()], sequence: 2))
            #expect(try await be.search(container: container).hit == false)
            #expect(try await de.search(container: container).records == [secret.recordId])

            // Bad requests and non-peers.
            let empty = try await network.get("/v1/search", as: pki.node("DE"), to: "NL")
            #expect(empty.status == 400 && empty.nodeTestError?.rule == RuleID.badRequest)
            let unknown = try await network.get("/v1/search?name=x", as: pki.node("DE"), to: "NL")
            #expect(unknown.status == 400)
            let liaison = try await network.get("/v1/search?container=\(container)", as: pki.liaison("NL"), to: "NL")
            #expect(liaison.status == 403)

            let searches = try await nl.audit("search")
            #expect(searches.contains { $0.callerCountry == "BE" && $0.result == "hit" && $0.target.contains(container) })
            #expect(searches.contains { $0.callerCountry == "DE" && $0.result == "no-hit" })
        }
    }

    @Test("Intake keeps each record's analysis facts; trace over the store sees the latest active revisions")
    func factsForTrace() async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            let nl = try await network.start(network.configuration("NL", peers: [NodeTestPeer(country: "DE")]))
            var source = try NodeTestRecords(sender: "NL", seed: 502)
            let records = source.next(30)
            try await network.submit(source.batch(records, sequence: 1))
            let withdrawn = records[0].nodeTestWithdrawn()
            try await network.submit(source.batch([withdrawn.nodeTestStandalone()], sequence: 2))

            var facts: [RecordFacts] = []
            try await nl.store.forEachLatestFacts(origin: nil) { facts.append(try RecordFacts(binary: Array($0))) }
            #expect(facts.count == 29)
            #expect(!facts.contains { $0.recordId == records[0].recordId })
            let expected = Dictionary(uniqueKeysWithValues: records.dropFirst().map { ($0.recordId, RecordFacts.of($0)) })
            for fact in facts { #expect(fact.recordId.hasPrefix("NL-") && expected[fact.recordId]?.totals == fact.totals) }

            var engine = TraceEngine()
            try engine.add(contentsOf: facts)
            var direct = TraceEngine()
            try direct.add(contentsOf: expected.values)
            #expect(engine.result().totals == direct.result().totals)
            #expect(engine.result().routes == direct.result().routes)
        }
    }
}
