// The exchange node end to end: in-process nodes (Hummingbird over NIOSSL, mutual TLS) on 127.0.0.1 with real SQLite
// stores, called with the libcurl client and the certificates of scripts/test-pki (NL, DE, BE). Pushes and their
// forwarding, pulls, re-sends and conflicts, withdrawals, handling-code filtering, refused TLS callers, hostile
// bodies, a pull resumed after a restart, health and metrics, and the audit trail of all of it.
import FWXClient
import FWXConvert
import FWXModel
@testable import FWXNode
import FWXSigning
import FWXStore
import Foundation
import Testing

@Suite("Exchange node", .serialized)
struct NodeTests {
    let pki: NodeTestPKI

    init() async throws {
        pki = try await NodeTestPKI.shared()
    }

    // MARK: 1. Push

    @Test("A liaison's batch is stored with a verified receipt and forwarded to a pushing peer")
    func pushAndForward() async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            let nl = try await network.start(
                network.configuration("NL", peers: [NodeTestPeer(country: "DE", push: true)]), outbox: true)
            let de = try await network.start(network.configuration("DE", peers: [NodeTestPeer(country: "NL")]))
            var source = try NodeTestRecords(sender: "NL", seed: 11)
            let batch = source.batch(source.next(15), sequence: 1)
            let signed = try pki.sign(batch)

            let (receipt, _) = try await network.deliver(signed, as: pki.liaison("NL"), to: "NL")
            #expect(receipt.batchId == batch.header.batchId)
            #expect(receipt.receivingNode.country == "NL")
            #expect(receipt.outcomes.count == 15)
            #expect(receipt.outcomes.allSatisfy { $0.result == .accepted })
            let ids = batch.records.map(\.recordId).sorted()
            #expect(try await nl.store.recordIds(origin: "NL") == ids)

            // The outbox forwards the batch to DE and counts it delivered only with DE's verified receipt.
            let delivered = try await nodeTestEventually {
                try await nl.sync("DE")?.delivered == 1
            }
            #expect(delivered, "the push to DE was not delivered within 30 s")
            let status = try #require(try await nl.sync("DE"))
            #expect(status.queued == 0 && status.deadLetters == 0)
            #expect(try await de.store.recordIds(origin: "NL") == ids)
            let deCounts = try await de.store.counts(origin: "NL")
            #expect(deCounts.records == 15 && deCounts.revisions == 15 && deCounts.batches == 1)
            #expect(try await de.store.signedBatch(id: batch.header.batchId)?.bytes == signed,
                    "DE keeps the liaison's signed bytes as evidence")
            let nlMetrics = try await network.get("/metrics", as: pki.liaison("NL"), to: "NL").nodeTestText
            #expect(nodeTestMetric(nlMetrics, "fwx_batches_out_total", label: "peer=\"DE\"") == 1, "\(nlMetrics)")
            #expect(nodeTestMetric(nlMetrics, "fwx_outbox_queue_length", label: "peer=\"DE\"") == 0, "\(nlMetrics)")

            // Audit: NL took the batch from its liaison and pushed it; DE took it from the NL node.
            let liaisonFingerprint = try await pki.fingerprint(pki.liaison("NL").certificate)
            let nodeFingerprint = try await pki.fingerprint(pki.node("NL").certificate)
            let nlAudit = try await nl.store.audit(since: nil, peer: nil, limit: nil)
            #expect(nlAudit.contains {
                $0.action == "batch-in" && $0.target == batch.header.batchId && $0.result == "ok"
                    && $0.callerCountry == "NL" && $0.callerFingerprint == liaisonFingerprint
            }, "NL's audit: \(nlAudit)")
            #expect(nlAudit.contains {
                $0.action == "batch-out" && $0.target == batch.header.batchId && $0.callerCountry == "DE"
            }, "NL's audit: \(nlAudit)")
            let deAudit = try await de.store.audit(since: nil, peer: "NL", limit: nil)
            #expect(deAudit.contains {
                $0.action == "batch-in" && $0.target == batch.header.batchId && $0.result == "ok"
                    && $0.callerFingerprint == nodeFingerprint
            }, "DE's audit: \(deAudit)")
        }
    }

    // MARK: 2. Pull

    @Test("Peers pull exactly the records they may see: recipients and handling codes")
    func pullEntitlement() async throws {
        try await withNodeTestNetwork(["NL", "DE", "BE"]) { network in
            let nl = try await network.start(network.configuration("NL", peers: [
                NodeTestPeer(country: "DE"), NodeTestPeer(country: "BE", handlingCodes: [.h0, .h1, .h2]),
            ]))
            let de = try await network.start(network.configuration("DE", peers: [NodeTestPeer(country: "NL")]),
                                             serve: false)
            let be = try await network.start(network.configuration("BE", peers: [NodeTestPeer(country: "NL")]),
                                             serve: false)
            var source = try NodeTestRecords(sender: "NL", seed: 22)
            let codes = HandlingCode.allCases
            let forDE = source.batch(source.next(8), sequence: 1, recipients: .countries(["DE"]))
            let forAll = source.batch(source.next(16).enumerated().map { $1.nodeTestHandlingCode(codes[$0 % 4]) },
                                      sequence: 2)
            for batch in [forDE, forAll] {
                try await network.submit(batch)
            }

            // BE pulls with the public client API, five records a page.
            let exchange = try network.exchange(pki.node("BE"), to: "NL")
            let check = FeedPageCheck(trust: try pki.trust("NL"), maxRecords: 1000)
            var cursor = "0"
            var pages = 0
            while pages < 20 {
                let page = try await exchange.fetchFeed(after: cursor, limit: 5)
                let records = try await check.records(in: page.signedBatch, from: "NL", name: "NL feed after \(cursor)")
                #expect(records.count == page.recordCount)
                let audit = AuditEntry(callerCountry: "NL", callerFingerprint: "-", action: "feed-in",
                                       target: "after=\(cursor)", result: "ok")
                let lease = try #require(try await be.store.claimPull(peer: "NL", token: UUID(), now: Date(),
                                                                      seconds: 60))
                let (_, moved) = try await be.store.applyPulled(records, lease: lease, cursor: page.nextCursor,
                                                                at: Date(), audit: audit)
                try await be.store.releasePull(moved, error: nil, at: Date())
                cursor = page.nextCursor
                pages += 1
                if !page.more { break }
            }
            let beExpected = forAll.records.filter { $0.handlingCode != .h3 }.map(\.recordId).sorted()
            #expect(try await be.store.recordIds(origin: "NL") == beExpected)
            #expect(pages == beExpected.count / 5 + 1)

            // DE pulls with the node's own puller: the batch addressed to it, and every handling code.
            try await de.pullAll(from: "NL")
            let deExpected = (forDE.records + forAll.records).map(\.recordId).sorted()
            #expect(try await de.store.recordIds(origin: "NL") == deExpected)
            let deStatus = try #require(try await de.sync("NL"))
            #expect(deStatus.recordsPulled == deExpected.count)
            #expect(deStatus.pullCursor == String(try await cursorOfLast(nl, for: "DE")))

            // NL's audit shows each feed page served, with the caller's certificate.
            let beFingerprint = try await pki.fingerprint(pki.node("BE").certificate)
            let feedOut = try await nl.audit("feed-out", caller: "BE")
            #expect(feedOut.count == pages)
            #expect(feedOut.allSatisfy { $0.callerFingerprint == beFingerprint && $0.result == "ok" })
            #expect(feedOut.first?.target == "after=0")

            // Only configured peers' nodes may pull: NL's own liaison is refused (a liaison certificate, FWX-N015).
            let refused = try await network.get("/v1/feed?after=0&limit=5", as: pki.liaison("NL"), to: "NL")
            #expect(refused.status == 403)
            #expect(refused.nodeTestError?.rule == RuleID.callerRole)
        }
    }

    /// The sequence of the last record of `node`'s own that `caller` may see (all handling codes).
    func cursorOfLast(_ node: NodeTestNode, for caller: String) async throws -> Int64 {
        try await EntitledReads(store: node.store, origin: node.country)
            .feed(Entitlement(caller: caller, handlingCodes: Set(HandlingCode.allCases)), after: 0, limit: 1_000_000)
            .entries.last?.sequence ?? 0
    }

    // MARK: 3. Re-send

    @Test("Sending the same signed bytes again returns the same receipt and stores nothing twice")
    func resend() async throws {
        try await withNodeTestNetwork(["NL"]) { network in
            let nl = try await network.start(network.configuration("NL", peers: []))
            var source = try NodeTestRecords(sender: "NL", seed: 33)
            let signed = try pki.sign(source.batch(source.next(10), sequence: 1))

            let first = try await network.post(signed, as: pki.liaison("NL"), to: "NL")
            #expect(first.status == 200)
            let countsAfterFirst = try await nl.store.counts(origin: nil)
            let second = try await network.post(signed, as: pki.liaison("NL"), to: "NL")
            #expect(second.status == 200)
            #expect(second.body == first.body, "the receipt of a re-send must be byte for byte the first one")
            #expect(try await nl.store.counts(origin: nil) == countsAfterFirst)
            #expect(countsAfterFirst.batches == 1 && countsAfterFirst.revisions == 10)

            // The client API sees a delivery with the same (verified) receipt.
            let (receipt, xml) = try await network.deliver(signed, as: pki.liaison("NL"), to: "NL")
            #expect(xml == first.body)
            #expect(receipt.outcomes.count == 10)
            let results = try await nl.audit("batch-in").map(\.result)
            #expect(results == ["ok", "duplicate", "duplicate"])
        }
    }

    // MARK: 4. Conflicts

    @Test("A used batch id with other content (FWX-N001) and a reused sequence number (FWX-N002) are refused with 409")
    func conflicts() async throws {
        try await withNodeTestNetwork(["NL"]) { network in
            let nl = try await network.start(network.configuration("NL", peers: []))
            var source = try NodeTestRecords(sender: "NL", seed: 44)
            let original = source.batch(source.next(6), sequence: 1)
            let originalSigned = try pki.sign(original)
            _ = try await network.deliver(originalSigned, as: pki.liaison("NL"), to: "NL")
            let before = try await nl.store.counts(origin: nil)
            let heldIds = try await nl.store.recordIds(origin: nil)

            let sameId = source.batch(source.next(4), sequence: 1, batchId: original.header.batchId)
            let sameSequence = source.batch(source.next(4), sequence: 1)
            for (batch, rule) in [(sameId, RuleID.batchIdReused), (sameSequence, RuleID.sequenceReused)] {
                let response = try await network.post(try pki.sign(batch), as: pki.liaison("NL"), to: "NL")
                #expect(response.status == 409)
                let error = try #require(response.nodeTestError, "not an FWX error body: \(response.nodeTestText)")
                #expect(error.status == 409 && error.rule == rule)
                if rule == RuleID.sequenceReused {
                    // The refusal says what to do, naming the counter fwx convert keeps.
                    #expect(error.message.contains("give this batch the next number"), "\(error.message)")
                    #expect(error.message.contains(".fwx-sequence-NL-"), "\(error.message)")
                }
                #expect(try await nl.store.counts(origin: nil) == before)
                #expect(try await nl.store.recordIds(origin: nil) == heldIds)
            }
            #expect(try await nl.store.signedBatch(id: original.header.batchId)?.bytes == originalSigned)
            #expect(try await nl.store.signedBatch(id: sameSequence.header.batchId) == nil)
            // The client API reports them as refusals for good (no retry).
            if case .refused(let status, _) = try await network.push(try pki.sign(sameSequence), as: pki.liaison("NL"),
                                                                     to: "NL") {
                #expect(status == 409)
            } else {
                Issue.record("a conflicting batch was not refused")
            }
            let refusals = try await nl.audit("refusal")
            #expect(refusals.map(\.result).prefix(2) == ["409 \(RuleID.batchIdReused)", "409 \(RuleID.sequenceReused)"])
        }
    }

    // MARK: 5. Withdrawal

    @Test("A withdrawal reaches peers by push and by pull; an older revision sent later is superseded")
    func withdrawal() async throws {
        try await withNodeTestNetwork(["NL", "DE", "BE"]) { network in
            let nl = try await network.start(network.configuration("NL", peers: [
                NodeTestPeer(country: "DE", push: true), NodeTestPeer(country: "BE"),
            ]), outbox: true)
            let de = try await network.start(network.configuration("DE", peers: [NodeTestPeer(country: "NL")]))
            let be = try await network.start(network.configuration("BE", peers: [NodeTestPeer(country: "NL")]),
                                             serve: false)
            var source = try NodeTestRecords(sender: "NL", seed: 55)
            let records = source.next(12)
            func delivered(_ count: Int) async throws -> Bool {
                try await nodeTestEventually {
                    try await nl.sync("DE")?.delivered == count
                }
            }
            try await network.submit(source.batch(records, sequence: 1))
            #expect(try await delivered(1))
            try await be.pullAll(from: "NL")
            #expect(try await be.store.counts(origin: "NL").records == 12)

            // Revision 2 withdraws the record.
            let target = records[0]
            let withdrawn = target.nodeTestWithdrawn()
            let (receipt, _) = try await network.submit(source.batch([withdrawn], sequence: 2))
            #expect(receipt.outcomes == [RecordOutcome(recordId: target.recordId, revision: 2, result: .accepted)])
            #expect(try await delivered(2), "the withdrawal was not pushed to DE within 30 s")
            try await be.pullAll(from: "NL")
            for (name, store) in [("NL", nl.store), ("DE", de.store), ("BE", be.store)] {
                let held = try #require(try await store.record(id: target.recordId), "\(name) lost the record")
                #expect(held.entry.status == .withdrawn && held.entry.revision == 2, "at \(name)")
                let counts = try await store.counts(origin: "NL")
                #expect(counts.records == 12 && counts.revisions == 13 && counts.withdrawn == 1,
                        "at \(name): \(counts)")
            }

            // Revision 1 sent after revision 2: superseded, nothing changes anywhere.
            let cursorBefore = try await be.store.pullCursor(peer: "NL")
            let (late, _) = try await network.submit(source.batch([target.nodeTestStandalone()], sequence: 3))
            #expect(late.outcomes == [RecordOutcome(recordId: target.recordId, revision: 1, result: .superseded)])
            #expect(try await delivered(3))
            try await be.pullAll(from: "NL")
            #expect(try await be.store.pullCursor(peer: "NL") == cursorBefore, "the feed offered something new")
            for (name, store) in [("NL", nl.store), ("DE", de.store), ("BE", be.store)] {
                let held = try #require(try await store.record(id: target.recordId))
                #expect(held.entry.status == .withdrawn && held.entry.revision == 2, "at \(name)")
                #expect(try await store.counts(origin: "NL").revisions == 13, "at \(name)")
            }
        }
    }

    // MARK: 6. Handling codes

    @Test("A peer allowed H0 and H1 never gets H2 or H3 records, by push, feed or record read")
    func handlingCodes() async throws {
        try await withNodeTestNetwork(["NL", "DE", "BE"]) { network in
            let nl = try await network.start(network.configuration("NL", peers: [
                NodeTestPeer(country: "DE", push: true),
                NodeTestPeer(country: "BE", push: true, handlingCodes: [.h0, .h1]),
            ]), outbox: true)
            let de = try await network.start(network.configuration("DE", peers: [NodeTestPeer(country: "NL")]))
            let be = try await network.start(network.configuration("BE", peers: [NodeTestPeer(country: "NL")]))
            var source = try NodeTestRecords(sender: "NL", seed: 66)
            let codes = HandlingCode.allCases
            let records = source.next(20).enumerated().map { $1.nodeTestHandlingCode(codes[$0 % 4]) }
            try await network.submit(source.batch(records, sequence: 1))

            // Pushed to DE only: BE may not receive every record of the batch.
            #expect(try await nodeTestEventually {
                try await nl.sync("DE")?.delivered == 1
            })
            let beStatus = try #require(try await nl.sync("BE"))
            #expect(beStatus.queued == 0 && beStatus.delivered == 0 && beStatus.deadLetters == 0)
            #expect(try await be.store.counts(origin: nil).records == 0)

            // The feed: BE gets H0 and H1 only; DE gets everything.
            try await be.pullAll(from: "NL")
            try await de.pullAll(from: "NL")
            let allowed = records.filter { [.h0, .h1].contains($0.handlingCode) }.map(\.recordId).sorted()
            #expect(allowed.count == 10)
            #expect(try await be.store.recordIds(origin: "NL") == allowed)
            #expect(try await de.store.recordIds(origin: "NL") == records.map(\.recordId).sorted())

            // Record reads: 404 for what BE may not see, exactly as for a record that does not exist.
            let byCode = Dictionary(grouping: records, by: { $0.handlingCode! })
            let check = FeedPageCheck(trust: try pki.trust("NL"), maxRecords: 1)
            for code in codes {
                let id = byCode[code]![0].recordId
                let asBE = try await network.get("/v1/records/\(id)", as: pki.node("BE"), to: "NL")
                if code == .h0 || code == .h1 {
                    #expect(asBE.status == 200, "BE reading its \(code) record \(id)")
                    let page = try await check.records(in: asBE.body, from: "NL", name: id)
                    #expect(page.map(\.recordId) == [id])
                } else {
                    #expect(asBE.status == 404, "BE reading an \(code) record")
                    #expect(asBE.nodeTestError?.rule == RuleID.notEntitled)
                }
                let asDE = try await network.get("/v1/records/\(id)", as: pki.node("DE"), to: "NL")
                #expect(asDE.status == 200, "DE reading an \(code) record")
                #expect(try await check.records(in: asDE.body, from: "NL", name: id).first?.handlingCode == code)
            }
            let missing = try await network.get("/v1/records/NL-SZ-2026-9999999", as: pki.node("BE"), to: "NL")
            #expect(missing.status == 404 && missing.nodeTestError?.rule == RuleID.notEntitled)

            // Every read is audited with the caller's certificate.
            let beFingerprint = try await pki.fingerprint(pki.node("BE").certificate)
            let reads = try await nl.audit("record-read", caller: "BE")
            let notEntitled = "404 \(RuleID.notEntitled)"
            #expect(reads.map(\.result) == ["ok", "ok", notEntitled, notEntitled, "404"])
            #expect(reads.allSatisfy { $0.callerFingerprint == beFingerprint })
        }
    }

    @Test("A withdrawn H3 record is not disclosed to a peer allowed H0 and H1 only")
    func withdrawnRecordOutsideHandlingCodes() async throws {
        try await withNodeTestNetwork(["NL", "BE"]) { network in
            _ = try await network.start(network.configuration("NL", peers: [
                NodeTestPeer(country: "BE", handlingCodes: [.h0, .h1]),
            ]))
            let be = try await network.start(network.configuration("BE", peers: [NodeTestPeer(country: "NL")]),
                                             serve: false)
            var source = try NodeTestRecords(sender: "NL", seed: 77)
            let secret = source.next(1)[0].nodeTestHandlingCode(.h3)
            let open = source.next(1)[0].nodeTestHandlingCode(.h0)
            let records = [secret.nodeTestStandalone(), open.nodeTestStandalone()]
            try await network.submit(source.batch(records, sequence: 1))
            try await be.pullAll(from: "NL")
            #expect(try await be.store.recordIds(origin: "NL") == [open.recordId])

            try await network.submit(source.batch([secret.nodeTestWithdrawn()], sequence: 2))
            // docs/openapi.yaml: tombstones go "to every caller that was entitled to an earlier revision"; BE never
            // was, so it gets neither the tombstone nor the record.
            try await be.pullAll(from: "NL")
            #expect(try await be.store.recordIds(origin: "NL") == [open.recordId])
            let read = try await network.get("/v1/records/\(secret.recordId)", as: pki.node("BE"), to: "NL")
            #expect(read.status == 404)
        }
    }

    // MARK: 7. Refused callers

    @Test("A caller without a client certificate gets no answer")
    func noClientCertificate() async throws {
        try await withNodeTestNetwork(["NL"]) { network in
            _ = try await network.start(network.configuration("NL", peers: []))
            let url = network.url("NL") + "/healthz"
            func curl(_ extra: [String]) async throws -> ProcessResult {
                try await offPool {
                    try runProcess("/usr/bin/curl", ["-sS", "--max-time", "15", "--cacert", pki.ca("NL"), "-o",
                                                     "/dev/null", "-w", "%{http_code}"] + extra + [url], timeout: 30)
                }
            }
            let without = try await curl([])
            #expect(without.status != 0, "curl without a client certificate: \(without)")
            #expect(without.stdout != "200")
            // The same command with the liaison's certificate is answered, so the refusal is about the certificate.
            let with = try await curl(["--cert", pki.liaison("NL").certificate, "--key", pki.liaison("NL").key])
            #expect(with.status == 0 && with.stdout == "200", "curl with the liaison certificate: \(with)")
        }
    }

    /// A client certificate the NL node must refuse in the TLS handshake, and what the audit entry says.
    struct RefusedCertificate: Sendable, CustomTestStringConvertible {
        var caller: @Sendable (NodeTestPKI) -> NodeTestCaller
        var country: String
        var reason: String
        var testDescription: String
    }

    static let refusedCertificates: [RefusedCertificate] = [
        RefusedCertificate(caller: { $0.rogue }, country: "NL", reason: "not accepted",
                           testDescription: "issued by an unknown CA"),
        RefusedCertificate(caller: { $0.caller("NL", "expired") }, country: "NL", reason: "has expired",
                           testDescription: "expired"),
        RefusedCertificate(caller: { $0.caller("NL", "revoked") }, country: "NL", reason: "revoked",
                           testDescription: "revoked"),
        RefusedCertificate(caller: { $0.node("BE") }, country: "BE", reason: "not a configured peer",
                           testDescription: "of a country that is not a peer"),
        RefusedCertificate(caller: { $0.caller("NL", "server-only") }, country: "NL",
                           reason: "not for TLS client authentication",
                           testDescription: "whose extended key usage is serverAuth only"),
    ]

    @Test("A client certificate is refused in the handshake and the refusal audited", arguments: refusedCertificates)
    func refusedCertificate(_ refused: RefusedCertificate) async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            let nl = try await network.start(network.configuration("NL", peers: [NodeTestPeer(country: "DE")]))
            let caller = refused.caller(pki)
            do {
                let response = try await network.get("/healthz", as: caller, to: "NL")
                Issue.record("the node answered HTTP \(response.status) to \(caller.label)")
            } catch let error as HTTPSClientError {
                #expect([.clientCertificateRefused, .tlsHandshakeFailed].contains(error.code), "\(error)")
            }
            let fingerprint = try await pki.fingerprint(caller.certificate)
            let audited = try await nodeTestEventually(seconds: 10) {
                try await nl.audit("refusal").contains { $0.target == "tls-handshake" }
            }
            #expect(audited, "no refusal in the audit trail")
            let entries = try await nl.audit("refusal")
            #expect(entries.count == 1, "\(entries)")
            let entry = try #require(entries.first)
            #expect(entry.target == "tls-handshake" && entry.result == RuleID.callerCertificate)
            #expect(entry.callerCountry == refused.country && entry.callerFingerprint == fingerprint)
            #expect(entry.detail?.contains(refused.reason) == true, "detail: \(entry.detail ?? "none")")
            // The node keeps serving good callers.
            #expect(try await network.get("/healthz", as: pki.liaison("NL"), to: "NL").status == 200)
            #expect(try await network.get("/healthz", as: pki.node("DE"), to: "NL").status == 200)
        }
    }

    @Test("A partner's valid certificate cannot submit a batch of another country (403 FWX-N003)")
    func senderMustBeCaller() async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            let nl = try await network.start(network.configuration("NL", peers: [NodeTestPeer(country: "DE")]))
            var source = try NodeTestRecords(sender: "BE", seed: 88)
            // Properly signed by the Belgian liaison, sent with the German node's certificate.
            let batch = source.batch(source.next(3), sequence: 1)
            let response = try await network.post(try pki.sign(batch), as: pki.node("DE"), to: "NL")
            #expect(response.status == 403)
            #expect(response.nodeTestError?.rule == RuleID.senderNotCaller)
            #expect(try await nl.store.counts(origin: nil).batches == 0)
            #expect(try await nl.store.recordIds(origin: nil).isEmpty)
            let fingerprint = try await pki.fingerprint(pki.node("DE").certificate)
            let refusals = try await nl.audit("refusal", caller: "DE")
            #expect(refusals.map(\.result) == ["403 \(RuleID.senderNotCaller)"])
            #expect(refusals.first?.callerFingerprint == fingerprint)
        }
    }

    @Test("A caller over its request budget gets 429 with Retry-After; other callers are served")
    func rateLimit() async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            let nl = try await network.start(network.configuration("NL", peers: [NodeTestPeer(country: "DE")],
                                                                   limits: NodeLimits(requestsPerMinutePerPeer: 3)))
            for _ in 1...3 {
                #expect(try await network.get("/v1/feed?after=0&limit=5", as: pki.node("DE"), to: "NL").status == 200)
            }
            let over = try await network.get("/v1/feed?after=0&limit=5", as: pki.node("DE"), to: "NL")
            #expect(over.status == 429)
            #expect(over.nodeTestError?.rule == RuleID.rateLimited)
            #expect(over.header("retry-after") != nil)
            // The budget is per caller country: the Dutch liaison is still served.
            let ownLiaison = try await network.get("/healthz", as: pki.liaison("NL"), to: "NL")
            #expect(ownLiaison.status == 200)
            let refusals = try await nl.audit("refusal", caller: "DE")
            #expect(refusals.map(\.result) == ["429 \(RuleID.rateLimited)"])
        }
    }

    // MARK: 8. Hostile bodies

    @Test("Oversized and malformed bodies are refused (413, 422) and the node keeps serving")
    func hostileBodies() async throws {
        try await withNodeTestNetwork(["NL"]) { network in
            let nl = try await network.start(network.configuration("NL", peers: [], limits: NodeLimits(
                maxBodyBytes: 200_000, maxRecordsPerBatch: 40)))
            var source = try NodeTestRecords(sender: "NL", seed: 99)
            var sequence: UInt64 = 0
            func stillServing(after what: String) async throws {
                sequence += 1
                let (receipt, _) = try await network.submit(source.batch(source.next(2), sequence: sequence))
                #expect(receipt.outcomes.count == 2, "after \(what)")
                let health = try await network.get("/healthz", as: pki.liaison("NL"), to: "NL")
                #expect(health.status == 200, "after \(what)")
            }

            // More records than maxRecordsPerBatch: 413 FWX-N004, audited.
            let tooManyRecords = try pki.sign(source.batch(source.next(41), sequence: 1001))
            try #require(tooManyRecords.count < 200_000)
            let tooMany = try await network.post(tooManyRecords, as: pki.liaison("NL"), to: "NL")
            #expect(tooMany.status == 413)
            #expect(tooMany.nodeTestError?.rule == RuleID.requestTooLarge, "\(tooMany.nodeTestText)")
            #expect(tooMany.nodeTestError?.message.contains("records") == true, "\(tooMany.nodeTestText)")
            try await stillServing(after: "more records than maxRecordsPerBatch")

            // A body over maxBodyBytes: 413 without reading it all.
            let big = try pki.sign(source.batch(source.next(300), sequence: 1000))
            try #require(big.count > 200_000)
            let oversized = try await network.post(big, as: pki.liaison("NL"), to: "NL")
            #expect(oversized.status == 413)
            // FWX answers it itself: an FWX-N004 body and an audit entry.
            #expect(oversized.nodeTestError?.rule == RuleID.requestTooLarge, "\(oversized.nodeTestText)")
            let audited = try await nl.store.audit(since: nil, peer: nil, limit: nil)
                .filter { $0.result == "413 \(RuleID.requestTooLarge)" }
            #expect(audited.count == 2)
            try await stillServing(after: "a body over maxBodyBytes")

            let valid = try pki.sign(source.batch(source.next(4), sequence: 2000))
            func hostile(_ name: String) throws -> [UInt8] {
                Array(try Data(contentsOf: URL(fileURLWithPath: Paths.hostile + "/" + name)))
            }
            var garbage = SeededRandom(seed: 7)
            let malformed: [(String, [UInt8], String?)] = [
                ("not XML", Array("this is not XML at all".utf8), RuleID.notWellFormed),
                ("truncated XML", Array(valid.prefix(valid.count / 2)), RuleID.notWellFormed),
                ("a DOCTYPE with an external entity", try hostile("xxe-local-file.xml"), RuleID.doctypeRefused),
                ("billion laughs", try hostile("billion-laughs.xml"), RuleID.doctypeRefused),
                ("binary garbage", (0..<4096).map { _ in UInt8.random(in: 0...255, using: &garbage) }, nil),
                ("an empty body", [], nil),
            ]
            for (name, body, rule) in malformed {
                let response = try await network.post(body, as: pki.liaison("NL"), to: "NL")
                #expect(response.status == 422, "\(name): HTTP \(response.status) \(response.nodeTestText.prefix(300))")
                let json = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
                #expect(json?["findings"] != nil, "\(name): no findings in \(response.nodeTestText.prefix(300))")
                if let rule {
                    #expect(response.nodeTestText.contains(rule), "\(name): \(response.nodeTestText.prefix(500))")
                }
                #expect(!response.nodeTestText.contains(passwdMarker), "\(name): a local file leaked")
                try await stillServing(after: name)
            }
            let refusals = try await nl.audit("refusal")
            #expect(refusals.contains {
                $0.result == "413 \(RuleID.requestTooLarge)" && $0.detail?.contains("records") == true
            })
            #expect(refusals.filter { $0.result == "422 invalid" }.count == malformed.count)
            let counts = try await nl.store.counts(origin: nil)
            #expect(counts.batches == Int(sequence) && counts.records == 2 * Int(sequence))
        }
    }

    // MARK: 9. Restart during a pull

    @Test("A pull interrupted by a restart resumes at the stored cursor: every record exactly once")
    func pullResumesAfterRestart() async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            let limits = NodeLimits(maxFeedPage: 10)
            let nl = try await network.start(network.configuration("NL", peers: [NodeTestPeer(country: "DE")],
                                                                   limits: limits))
            var source = try NodeTestRecords(sender: "NL", seed: 101)
            let batch = source.batch(source.next(50), sequence: 1)
            try await network.submit(batch)
            let last = try await cursorOfLast(nl, for: "DE")

            let deConfiguration = network.configuration(
                "DE", peers: [NodeTestPeer(country: "NL", pullEverySeconds: 0.2)], limits: limits)
            // First run: two pages, then the node goes away.
            var savedCursor: String?
            weak var firstRun: ExchangeNode?
            do {
                let de = try await network.start(deConfiguration, serve: false)
                firstRun = de.node
                #expect(try await de.pullPage(from: "NL"))
                #expect(try await de.pullPage(from: "NL"))
                #expect(try await de.store.counts(origin: "NL").records == 20)
                savedCursor = try await de.store.pullCursor(peer: "NL")
            }
            let resumeFrom = try #require(savedCursor)
            #expect(firstRun == nil, "the first DE node (and its SQLite connections) is still alive")

            // Second run: a new node on the same SQLite file, with its puller running.
            let de = try await network.start(deConfiguration, serve: false, pull: true)
            let caughtUp = try await nodeTestEventually {
                try await de.store.pullCursor(peer: "NL") == String(last)
            }
            #expect(caughtUp, "DE did not reach NL's cursor \(last) within 30 s")
            await de.stop()

            let counts = try await de.store.counts(origin: "NL")
            #expect(counts.records == 50 && counts.revisions == 50, "\(counts)")
            #expect(try await de.store.recordIds(origin: "NL") == batch.records.map(\.recordId).sorted())
            let status = try #require(try await de.sync("NL"))
            #expect(status.recordsPulled == 50)
            // The second run asked from the saved cursor, never from the start again.
            let pulls = try await de.audit("feed-in", caller: "NL")
            let withRecords = pulls.filter { $0.detail?.hasPrefix("0 records") == false }
            #expect(withRecords.count == 5)
            #expect(Set(withRecords.map(\.target)).count == 5, "a page was pulled twice: \(withRecords.map(\.target))")
            #expect(pulls.count >= 3 && pulls[2].target == "after=\(resumeFrom)")
            let served = try await nl.audit("feed-out", caller: "DE")
            #expect(served.filter { $0.target == "after=0" }.count == 1)
        }
    }

    @Test("A node pulls from a peer whose maxFeedPage is smaller than its own")
    func pullFromPeerWithSmallerPages() async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            _ = try await network.start(network.configuration("NL", peers: [NodeTestPeer(country: "DE")],
                                                              limits: NodeLimits(maxFeedPage: 10)))
            var source = try NodeTestRecords(sender: "NL", seed: 111)
            try await network.submit(source.batch(source.next(15), sequence: 1))
            // DE keeps the default maxFeedPage (1000) and asks NL for pages of that size; NL reduces the limit to
            // its own 10 and says more follow.
            let de = try await network.start(network.configuration("DE", peers: [NodeTestPeer(country: "NL")]),
                                             serve: false)
            try await de.pullAll(from: "NL")
            #expect(try await de.store.counts(origin: "NL").records == 15)
        }
    }

    // MARK: 10. Health and metrics

    @Test("/healthz answers 200 with the node's country; /metrics has the batch and outbox figures")
    func healthAndMetrics() async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            _ = try await network.start(network.configuration("NL", peers: [NodeTestPeer(country: "DE", push: true)]))
            var source = try NodeTestRecords(sender: "NL", seed: 121)
            try await network.submit(source.batch(source.next(5), sequence: 1))

            let health = try await network.get("/healthz", as: pki.node("DE"), to: "NL")
            #expect(health.status == 200)
            let body = try JSONSerialization.jsonObject(with: Data(health.body)) as? [String: Any]
            #expect(body?["status"] as? String == "ok")
            #expect(body?["country"] as? String == "NL")
            #expect(body?["records"] as? Int == 5)

            // No outbox runs here, so the push to DE stays queued.
            let metrics = try await network.get("/metrics", as: pki.liaison("NL"), to: "NL")
            #expect(metrics.status == 200)
            #expect(metrics.header("content-type")?.hasPrefix("text/plain") == true)
            let text = metrics.nodeTestText
            #expect(nodeTestMetric(text, "fwx_batches_in_total", label: "result=\"accepted\"") == 1, "\(text)")
            #expect(nodeTestMetric(text, "fwx_outbox_queue_length", label: "peer=\"DE\"") == 1, "\(text)")
            #expect(nodeTestMetric(text, "fwx_store_records") == 5, "\(text)")
        }
    }
}
