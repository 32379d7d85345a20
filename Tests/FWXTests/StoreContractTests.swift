import FWXModel
import FWXNode
import FWXStore
import Foundation
import Testing

/// The NodeStore contract (its doc comments in FWXStore/NodeStore.swift), proven by one suite that runs unchanged
/// on every backend (StoreBackend: a SQLite file, a PostgreSQL database): idempotent ingest, revisions, feed order
/// and the entitlement pre-filter, tombstones, leased outbox claims, pull leases with a compare-and-set cursor, the
/// append-only audit trail, search, facts, counts, and several writers at once. Times are passed as `now`, never
/// slept for.
@Suite("Store contract")
struct StoreContractTests {
    static let everyone = Set(HandlingCode.allCases)

    // MARK: - Idempotent ingest

    @Test("a replay is a duplicate: without a receipt before one is kept, with the first kept after; same outcomes",
          arguments: StoreBackend.allCases)
    func replayIsDuplicate(_ backend: StoreBackend) async throws {
        try await backend.withStore("replay") { test in
            let store = test.store
            let batch = Contract.batch("nl-1", sequence: 1, records: [Contract.record("NL-SZ-1"),
                                                                      Contract.record("NL-SZ-2", revision: 2)],
                                       pushTo: ["DE"])
            let first = try await store.ingest(batch, audit: Contract.audit("nl-1"))
            guard case .accepted(let outcomes) = first else {
                Issue.record("the first ingest was not accepted: \(first)")
                return
            }
            #expect(outcomes == [RecordOutcome(recordId: "NL-SZ-1", revision: 1, result: .accepted),
                                 RecordOutcome(recordId: "NL-SZ-2", revision: 2, result: .accepted)])
            // The first process is still signing: a duplicate gets no receipt, and the outcomes to sign one for.
            let early = try await store.ingest(batch, audit: Contract.audit("nl-1"))
            #expect(Contract.isDuplicate(early, receipt: nil, outcomes: outcomes), "\(early)")

            let kept = try await store.keepReceipt(batchId: "nl-1", receipt: Contract.receipt("nl-1", " first"))
            #expect(kept == Contract.receipt("nl-1", " first"))
            let again = try await store.keepReceipt(batchId: "nl-1", receipt: Contract.receipt("nl-1", " second"))
            #expect(again == kept, "a second receipt replaced the first kept")

            let replay = try await store.ingest(batch, audit: Contract.audit("nl-1"))
            #expect(Contract.isDuplicate(replay, receipt: kept, outcomes: outcomes, receivedAt: batch.receivedAt),
                    "\(replay)")
            // The same batch received again later still names the time it was first received.
            var later = batch
            later.receivedAt = batch.receivedAt.addingTimeInterval(3600)
            let laterReplay = try await store.ingest(later, audit: Contract.audit("nl-1"))
            #expect(Contract.isDuplicate(laterReplay, receipt: kept, outcomes: outcomes, receivedAt: batch.receivedAt),
                    "\(laterReplay)")

            let counts = try await store.counts(origin: nil)
            #expect(counts.batches == 1 && counts.records == 2 && counts.revisions == 2, "\(counts)")
            #expect(try await store.outbox(peer: nil).map(\.batchId) == ["nl-1"], "a replay queued another push")
            let trail = try await store.audit(since: nil, peer: "NL", limit: nil).filter { $0.target == "nl-1" }
            #expect(trail.map(\.result) == ["ok", "duplicate", "duplicate", "duplicate"], "\(trail)")
            let signed = try await store.signedBatch(id: "nl-1")
            #expect(signed?.bytes == batch.signedBatch && signed?.digest == batch.digest)
        }
    }

    @Test("a receipt for a batch the store does not hold is refused with code missing",
          arguments: StoreBackend.allCases)
    func receiptForUnknownBatch(_ backend: StoreBackend) async throws {
        try await backend.withStore("unknownreceipt") { test in
            let code = await Contract.storeErrorCode(hiding: [test.locationText]) {
                _ = try await test.store.keepReceipt(batchId: "nl-404", receipt: Contract.receipt("nl-404"))
            }
            #expect(code == .missing)
            let signed = try await test.store.signedBatch(id: "nl-404")
            let record = try await test.store.record(id: "NL-SZ-404")
            #expect(signed == nil && record == nil)
        }
    }

    @Test("a used batch id with other content, or a used sequence number, is a conflict with its rule; nothing is kept",
          arguments: StoreBackend.allCases)
    func conflictsKeepNothing(_ backend: StoreBackend) async throws {
        try await backend.withStore("conflict") { test in
            let store = test.store
            let first = Contract.batch("nl-1", sequence: 1, records: [Contract.record("NL-SZ-1")], pushTo: ["DE"])
            let outcomes = try await Contract.keep(first, in: store)
            let before = try await store.counts(origin: nil)

            let reusedId = Contract.batch("nl-1", sequence: 2, records: [Contract.record("NL-SZ-2")], pushTo: ["DE"],
                                          digest: "another digest")
            let idResult = try await store.ingest(reusedId, audit: Contract.audit("nl-1"))
            #expect(Contract.conflictRule(idResult) == RuleID.batchIdReused, "\(idResult)")

            let reusedSequence = Contract.batch("nl-2", sequence: 1, records: [Contract.record("NL-SZ-3")],
                                                pushTo: ["DE"])
            let sequenceResult = try await store.ingest(reusedSequence, audit: Contract.audit("nl-2"))
            #expect(Contract.conflictRule(sequenceResult) == RuleID.sequenceReused, "\(sequenceResult)")

            #expect(try await store.record(id: "NL-SZ-2") == nil)
            #expect(try await store.record(id: "NL-SZ-3") == nil)
            #expect(try await store.counts(origin: nil) == before)
            #expect(try await store.outbox(peer: nil).map(\.batchId) == ["nl-1"])
            #expect(try await store.signedBatch(id: "nl-1")?.digest == first.digest)
            #expect(try await store.signedBatch(id: "nl-2") == nil)
            #expect(await Contract.storeErrorCode {
                _ = try await store.keepReceipt(batchId: "nl-2", receipt: Contract.receipt("nl-2"))
            } == .missing)

            // A sequence number is one agency's: another agency of the same country may use it.
            let otherAgency = Contract.batch("nl-kmar-1", agency: "NL-KMAR", sequence: 1,
                                             records: [Contract.record("NL-SZ-4")])
            try await Contract.keep(otherAgency, in: store)
            // The first batch still answers its replay with its receipt.
            let replay = try await store.ingest(first, audit: Contract.audit("nl-1"))
            #expect(Contract.isDuplicate(replay, receipt: Contract.receipt("nl-1"), outcomes: outcomes), "\(replay)")
        }
    }

    // MARK: - Revisions

    @Test("a higher revision replaces, lower or equal ones are superseded, foreign ones rejected; audiences add up",
          arguments: StoreBackend.allCases)
    func revisions(_ backend: StoreBackend) async throws {
        try await backend.withStore("revisions") { test in
            let store = test.store
            let id = "NL-SZ-REV"
            let first = try await Contract.keep(
                Contract.batch("nl-1", sequence: 1, recipients: .countries(["DE"]),
                               records: [Contract.record(id, revision: 1, code: .h1)]), in: store)
            #expect(first == [RecordOutcome(recordId: id, revision: 1, result: .accepted)])
            let firstPosition = try #require(try await store.record(id: id)).entry.sequence

            let third = try await Contract.keep(
                Contract.batch("nl-2", sequence: 2, recipients: .countries(["BE"]),
                               records: [Contract.record(id, revision: 3, code: .h2)]), in: store)
            #expect(third == [RecordOutcome(recordId: id, revision: 3, result: .accepted)])
            let held = try #require(try await store.record(id: id))
            #expect(held.entry.revision == 3 && held.entry.status == .active && held.entry.handlingCode == .h2
                        && held.entry.xml == Contract.xml(id, 3), "\(held.entry)")
            #expect(held.origin == "NL")
            #expect(held.audience == ["DE", "BE"], "\(String(describing: held.audience))")
            #expect(normalised(held.latest) == Disclosure(recipients: .countries(["BE"]), handlingCode: .h2))
            #expect(held.entry.sequence > firstPosition, "a new revision did not move the record on in the feed")

            let lower = try await Contract.keep(
                Contract.batch("nl-3", sequence: 3, recipients: .countries(["FR"]),
                               records: [Contract.record(id, revision: 2)]), in: store)
            #expect(lower == [RecordOutcome(recordId: id, revision: 2, result: .superseded)])
            let equal = try await Contract.keep(
                Contract.batch("nl-4", sequence: 4, recipients: .countries(["FR"]),
                               records: [Contract.record(id, revision: 3, code: .h0)]), in: store)
            #expect(equal == [RecordOutcome(recordId: id, revision: 3, result: .superseded)])
            #expect(try await store.record(id: id) == held, "a superseded revision changed the record")

            let foreign = try await Contract.keep(
                Contract.batch("be-1", sender: "BE", sequence: 1, records: [Contract.record(id, revision: 9)]),
                in: store)
            #expect(foreign == [RecordOutcome(recordId: id, revision: 9, result: .rejected,
                                              rule: RuleID.recordIdCountry)])
            #expect(try await store.record(id: id) == held, "another country's batch changed the record")

            try await Contract.keep(
                Contract.batch("nl-5", sequence: 5, recipients: .allPartners,
                               records: [Contract.record(id, revision: 4, code: .h0)]), in: store)
            let open = try #require(try await store.record(id: id))
            #expect(open.entry.revision == 4 && open.audience == nil && open.isVisible(to: "PL"))
            #expect(open.entry.sequence > held.entry.sequence)

            let counts = try await store.counts(origin: "NL")
            #expect(counts.records == 1 && counts.revisions == 3 && counts.withdrawn == 0, "\(counts)")
            #expect(try await store.counts(origin: nil).batches == 6)
            #expect(try await store.recordIds(origin: nil) == [id])
            #expect(try await store.recordIds(origin: "BE") == [])
        }
    }

    // MARK: - Feed order and the entitlement pre-filter

    @Test("feed positions increase in commit order; after, limit, more and lastPosition page through each record once",
          arguments: StoreBackend.allCases)
    func feedOrder(_ backend: StoreBackend) async throws {
        try await backend.withStore("feedorder") { test in
            let store = test.store
            let prefilter = VisibilityPrefilter(caller: "DE", handlingCodes: Self.everyone)
            var batches: [[String]] = []
            for number in 0..<3 {
                let ids = (0..<4).map { "NL-SZ-F\(number)\($0)" }
                batches.append(ids)
                try await Contract.keep(Contract.batch("nl-\(number)", sequence: UInt64(number + 1),
                                                       records: ids.map { Contract.record($0) }), in: store)
                // Another owner's records between them never show in NL's feed.
                try await Contract.keep(Contract.batch("be-\(number)", sender: "BE", sequence: UInt64(number + 1),
                                                       records: [Contract.record("BE-SZ-F\(number)")]), in: store)
            }
            let (all, end) = try await Contract.allCandidates(store, origin: "NL", prefilter: prefilter, limit: 5)
            let ids = all.map(\.entry.recordId)
            #expect(ids.count == 12 && Set(ids) == Set(batches.joined()), "\(ids)")
            // Commit order: every record of one batch before any of the next.
            let batchOfEach = ids.map { id in batches.firstIndex { $0.contains(id) } ?? -1 }
            #expect(batchOfEach == batchOfEach.sorted(), "\(ids)")
            #expect(all.allSatisfy {
                $0.entry.revision == 1 && $0.entry.status == .active && $0.entry.handlingCode == .h1
                    && $0.entry.xml == Contract.xml($0.entry.recordId, 1)
            })

            // A page cut at its limit says so; the next starts after the position it gave.
            let first = try await store.feedCandidates(origin: "NL", prefilter: prefilter, after: 0, limit: 5)
            #expect(first.candidates.count == 5 && first.more)
            let second = try await store.feedCandidates(origin: "NL", prefilter: prefilter,
                                                        after: first.lastPosition, limit: 5)
            #expect((first.candidates + second.candidates).map(\.entry.recordId) == Array(ids.prefix(10)))

            // Past the end: nothing, no more, and the position stays; far past it, the position asked with.
            let after = try await store.feedCandidates(origin: "NL", prefilter: prefilter, after: end, limit: 5)
            #expect(after.candidates.isEmpty && !after.more && after.lastPosition == end)
            let far: Int64 = 1 << 40
            let beyond = try await store.feedCandidates(origin: "NL", prefilter: prefilter, after: far, limit: 5)
            #expect(beyond.candidates.isEmpty && !beyond.more && beyond.lastPosition == far)

            // A new revision comes after the last position seen, and the record is in the feed once, at its end.
            try await Contract.keep(Contract.batch("nl-9", sequence: 9, records: [Contract.record("NL-SZ-F00",
                                                                                                  revision: 2)]),
                                    in: store)
            let tail = try await Contract.allCandidates(store, origin: "NL", prefilter: prefilter, after: end)
            #expect(tail.candidates.map(\.entry.recordId) == ["NL-SZ-F00"])
            #expect(tail.candidates.first?.entry.revision == 2 && tail.candidates.first!.entry.sequence > end)
            let whole = try await Contract.allCandidates(store, origin: "NL", prefilter: prefilter, limit: 4)
            #expect(whole.candidates.map(\.entry.recordId) == ids.filter { $0 != "NL-SZ-F00" } + ["NL-SZ-F00"])

            let belgian = try await Contract.allCandidates(store, origin: "BE", prefilter: prefilter)
            #expect(belgian.candidates.map(\.entry.recordId) == ["BE-SZ-F0", "BE-SZ-F1", "BE-SZ-F2"])
        }
    }

    @Test("the pre-filter keeps every record the rule lets through, and tombstones an earlier revision was addressed by",
          arguments: StoreBackend.allCases)
    func prefilterKeepsEntitledRecords(_ backend: StoreBackend) async throws {
        try await backend.withStore("prefilter") { test in
            let store = test.store
            var nl = ContractWriter(origin: "NL")
            var be = ContractWriter(origin: "BE")
            try await nl.write([Contract.record("NL-A", code: .h1), Contract.record("NL-D", code: .h3),
                                Contract.record("NL-E", code: .h1), Contract.record("NL-F", code: .h3),
                                Contract.record("NL-G", code: .h1)], to: .countries(["DE"]), in: store)
            try await nl.write([Contract.record("NL-C", code: .h0)], to: .allPartners, in: store)
            try await nl.write([Contract.record("NL-B", code: .h1),
                                Contract.record("NL-E", revision: 2, status: .withdrawn, code: .h1),
                                Contract.record("NL-F", revision: 2, status: .withdrawn, code: .h1),
                                Contract.record("NL-G", revision: 2, code: .h1)],
                               to: .countries(["BE"]), in: store)
            try await be.write([Contract.record("BE-X", code: .h1)], to: .countries(["DE"]), in: store)
            let written = nl.written.merging(be.written) { a, _ in a }

            let codes: Set<HandlingCode> = [.h0, .h1]
            let page = try await Contract.allCandidates(
                store, origin: "NL", prefilter: VisibilityPrefilter(caller: "DE", handlingCodes: codes), limit: 3)
            // The rule lets DE see A (to DE, H1), C (every partner, H0) and the tombstone E (revision 1 was DE's).
            #expect(Set(["NL-A", "NL-C", "NL-E"]).isSubset(of: page.candidates.map(\.entry.recordId)),
                    "\(page.candidates.map(\.entry.recordId))")
            ContractChecks.feed(page.candidates, written: written, origin: "NL", caller: "DE", codes: codes)
            let tombstone = try #require(page.candidates.first { $0.entry.recordId == "NL-E" })
            #expect(tombstone.entry.status == .withdrawn && tombstone.history.count >= 2)

            for (caller, codes) in [("BE", Self.everyone), ("FR", Self.everyone), ("PL", [HandlingCode.h0])] {
                let all = try await Contract.allCandidates(
                    store, origin: "NL", prefilter: VisibilityPrefilter(caller: caller, handlingCodes: codes))
                ContractChecks.feed(all.candidates, written: written, origin: "NL", caller: caller, codes: codes)
            }
        }
    }

    @Test("random records and tombstones: feed, search and record(id:) hold what the rule lets each caller see",
          arguments: StoreBackend.allCases)
    func prefilterOnRandomRecords(_ backend: StoreBackend) async throws {
        try await backend.withStore("random") { test in
            let store = test.store
            var random = SeededGenerator(seed: 20_261_203)
            let audiences: [Recipients] = [.countries(["DE"]), .countries(["BE"]), .countries(["DE", "FR"]),
                                           .countries(["FR"]), .allPartners]
            var writers = ["NL": ContractWriter(origin: "NL"), "BE": ContractWriter(origin: "BE")]
            // Per record: how many revisions, and whether the last is a withdrawal.
            let plan = (0..<36).map { index in
                (id: "\(index < 30 ? "NL" : "BE")-R\(String(index + 100))", origin: index < 30 ? "NL" : "BE",
                 revisions: Int.random(in: 1...3, using: &random), withdrawn: Int.random(in: 0..<10, using: &random) < 3)
            }
            for round in 1...3 {
                for (origin, _) in writers.sorted(by: { $0.key < $1.key }) {
                    var byAudience: [Int: [IncomingRecord]] = [:]
                    for record in plan where record.origin == origin && record.revisions >= round {
                        let status: RecordStatus = record.withdrawn && round == record.revisions ? .withdrawn : .active
                        let code = HandlingCode.allCases.randomElement(using: &random)!
                        byAudience[Int.random(in: 0..<audiences.count, using: &random), default: []].append(
                            Contract.record(record.id, revision: round, status: status, code: code,
                                            keys: ["container:ALL", "plate:\(record.id)-\(round)"]))
                    }
                    for (audience, records) in byAudience.sorted(by: { $0.key < $1.key }) {
                        try await writers[origin]!.write(records, to: audiences[audience], in: store)
                    }
                }
            }
            let written = writers["NL"]!.written.merging(writers["BE"]!.written) { a, _ in a }
            #expect(written.count == 36)

            let callers: [(String, Set<HandlingCode>)] = [("DE", [.h0, .h1]), ("FR", [.h2]), ("BE", Self.everyone),
                                                          ("PL", Self.everyone), ("DE", Self.everyone)]
            for (caller, codes) in callers {
                let prefilter = VisibilityPrefilter(caller: caller, handlingCodes: codes)
                for origin in ["NL", "BE"] {
                    let feed = try await Contract.allCandidates(store, origin: origin, prefilter: prefilter, limit: 5)
                    ContractChecks.feed(feed.candidates, written: written, origin: origin, caller: caller,
                                        codes: codes)

                    let hits = try await store.searchCandidates(keys: ["container:ALL"], origin: origin,
                                                                prefilter: prefilter)
                    let hitIds = hits.map(\.entry.recordId)
                    #expect(hitIds == Array(Set(hitIds)).sorted(), "search hits not once each in id order: \(hitIds)")
                    for hit in hits {
                        guard let record = written[hit.entry.recordId] else {
                            Issue.record("search found \(hit.entry.recordId), never written")
                            continue
                        }
                        #expect(record.origin == origin && record.latest.status == .active,
                                "search found \(record.id) of \(record.origin), \(record.latest.status)")
                        ContractChecks.candidate(hit, matches: record)
                    }
                    let entitled = written.values.filter {
                        $0.origin == origin && $0.latest.status == .active && $0.allowed(caller: caller, codes: codes)
                    }.map(\.id)
                    #expect(Set(entitled).isSubset(of: hitIds),
                            "search left out \(Set(entitled).subtracting(hitIds).sorted()) for \(caller)")
                }
            }
            // Through FWXNode's reads (the store's candidates and the rule): exactly what the rule lets through.
            for (caller, codes) in callers {
                let entitlement = Entitlement(caller: caller, handlingCodes: codes)
                let reads = EntitledReads(store: store, origin: "NL")
                var seen: [String] = []
                var cursor: Int64 = 0
                for _ in 0..<1000 {
                    let page = try await reads.feed(entitlement, after: cursor, limit: 4)
                    seen += page.entries.map(\.recordId)
                    cursor = page.nextCursor
                    if !page.more { break }
                }
                let allowed = written.values.filter { $0.origin == "NL" && $0.allowed(caller: caller, codes: codes) }
                #expect(seen.sorted() == allowed.map(\.id).sorted(), "\(caller): served \(seen)")
                let found = try await reads.search(keys: ["container:ALL"], entitlement)
                #expect(found == allowed.filter { $0.latest.status == .active }.map(\.id).sorted(), "\(caller): found \(found)")
                for record in written.values where record.origin == "NL" {
                    let read = try await reads.record(id: record.id, entitlement)
                    #expect((read != nil) == record.allowed(caller: caller, codes: codes), "\(caller) reading \(record.id)")
                }
            }
            // Only the latest revision's keys find a record.
            for record in written.values where record.latest.revision > 1 && record.latest.status == .active {
                let old = try await store.searchCandidates(
                    keys: ["plate:\(record.id)-1"], origin: record.origin,
                    prefilter: VisibilityPrefilter(caller: "DE", handlingCodes: Self.everyone))
                #expect(old.isEmpty, "\(record.id) was found by the key of revision 1")
            }

            for record in written.values {
                let held = try #require(try await store.record(id: record.id))
                #expect(held.origin == record.origin)
                #expect(held.audience == record.audience, "\(record.id): audience \(String(describing: held.audience))")
                ContractChecks.candidate(
                    FeedCandidate(entry: held.entry, latest: held.latest,
                                  history: record.latest.status == .withdrawn ? held.history : []),
                    matches: record)
            }
            let counts = try await store.counts(origin: "NL")
            let nlRecords = written.values.filter { $0.origin == "NL" }
            #expect(counts.records == nlRecords.count
                        && counts.revisions == nlRecords.map(\.revisions.count).reduce(0, +)
                        && counts.withdrawn == nlRecords.filter { $0.latest.status == .withdrawn }.count, "\(counts)")
            #expect(try await store.recordIds(origin: "BE") == written.values.filter { $0.origin == "BE" }
                        .map(\.id).sorted())
        }
    }

    @Test("a withdrawn record stays as a tombstone: in the feed with its history, never a search hit, without facts",
          arguments: StoreBackend.allCases)
    func tombstones(_ backend: StoreBackend) async throws {
        try await backend.withStore("tombstone") { test in
            let store = test.store
            var nl = ContractWriter(origin: "NL")
            try await nl.write([Contract.record("NL-T1", code: .h1, keys: ["plate:T1"]),
                                Contract.record("NL-T2", code: .h1, keys: ["plate:T2"])],
                               to: .countries(["DE"]), in: store)
            let active = try await store.searchCandidates(
                keys: ["plate:T1"], origin: "NL", prefilter: VisibilityPrefilter(caller: "DE", handlingCodes: [.h1]))
            #expect(active.map(\.entry.recordId) == ["NL-T1"])

            try await nl.write([Contract.record("NL-T1", revision: 2, status: .withdrawn, code: .h1,
                                                keys: ["plate:T1"])], to: .countries(["BE"]), in: store)
            let held = try #require(try await store.record(id: "NL-T1"))
            #expect(held.entry.status == .withdrawn && held.entry.revision == 2
                        && held.entry.xml == Contract.xml("NL-T1", 2, .withdrawn))
            #expect(Set(held.history.map(normalised)) == [Disclosure(recipients: .countries(["DE"]), handlingCode: .h1),
                                                          Disclosure(recipients: .countries(["BE"]), handlingCode: .h1)],
                    "\(held.history)")
            #expect(held.audience == ["DE", "BE"])

            // DE may hold revision 1: the tombstone reaches it.
            let feed = try await Contract.allCandidates(
                store, origin: "NL", prefilter: VisibilityPrefilter(caller: "DE", handlingCodes: [.h1]))
            ContractChecks.feed(feed.candidates, written: nl.written, origin: "NL", caller: "DE", codes: [.h1])
            #expect(feed.candidates.last?.entry.recordId == "NL-T1" && feed.candidates.last?.entry.status == .withdrawn)

            for caller in ["DE", "BE"] {
                let hits = try await store.searchCandidates(
                    keys: ["plate:T1", "plate:T2"], origin: "NL",
                    prefilter: VisibilityPrefilter(caller: caller, handlingCodes: Self.everyone))
                #expect(!hits.contains { $0.entry.recordId == "NL-T1" }, "a withdrawn record was a search hit")
            }
            var facts: [[UInt8]] = []
            try await store.forEachLatestFacts(origin: "NL") { facts.append(Array($0)) }
            #expect(facts == [Contract.facts("NL-T2", 1)])
            let counts = try await store.counts(origin: "NL")
            #expect(counts.records == 2 && counts.withdrawn == 1 && counts.revisions == 3, "\(counts)")
            #expect(try await store.recordIds(origin: "NL") == ["NL-T1", "NL-T2"])
        }
    }

    // MARK: - Outbox

    @Test("outbox: a claim is exclusive until its lease runs out, old holders are refused, failures retry or die",
          arguments: StoreBackend.allCases)
    func outboxClaims(_ backend: StoreBackend) async throws {
        try await backend.withStore("outbox") { test in
            let store = test.store
            let clock = Clock()
            try await Contract.keep(Contract.batch("nl-1", sequence: 1, records: [Contract.record("NL-SZ-1")],
                                                   pushTo: ["DE", "BE"], receivedAt: clock.at(0)), in: store)
            try await Contract.keep(Contract.batch("nl-2", sequence: 2, records: [Contract.record("NL-SZ-2")],
                                                   pushTo: ["DE"], receivedAt: clock.at(10)), in: store)
            let queued = try await store.outbox(peer: nil)
            #expect(queued.map(\.batchId) == ["nl-1", "nl-1", "nl-2"] && Set(queued.map(\.peer)) == ["DE", "BE"])
            #expect(zip(queued, queued.dropFirst()).allSatisfy { $0.id < $1.id })
            #expect(queued.allSatisfy { $0.state == .queued && $0.attempts == 0 })
            let now = clock.at(60)
            #expect(try await store.nextPushDue().map { $0 <= now } == true)

            // Oldest first, at most `limit`; then the rest; then nothing while the leases run.
            let first = try await store.claimPushes(now: now, limit: 2, seconds: 30)
            #expect(first.map(\.entry.batchId) == ["nl-1", "nl-1"])
            #expect(first.allSatisfy { sameInstant($0.leaseUntil, clock.at(90)) })
            let rest = try await store.claimPushes(now: now, limit: 10, seconds: 30)
            #expect(rest.map(\.entry.batchId) == ["nl-2"])
            #expect(try await store.claimPushes(now: clock.at(70), limit: 10, seconds: 30).isEmpty)
            #expect(sameInstant(try await store.nextPushDue(), clock.at(90)))
            let toGermany = try #require(first.first { $0.entry.peer == "DE" })
            let toBelgium = try #require(first.first { $0.entry.peer == "BE" })
            let second = try #require(rest.first)

            // A failure with a retry time queues it for then; without one it is a dead letter, never delivered.
            #expect(try await store.recordPushFailure(second, error: "HTTP 503 from DE", retryAt: clock.at(200),
                                                      at: clock.at(71)))
            let retried = try #require(try await store.outbox(peer: "DE").first { $0.batchId == "nl-2" })
            #expect(retried.state == .queued && sameInstant(retried.nextAttemptAt, clock.at(200))
                        && retried.lastError == "HTTP 503 from DE" && retried.attempts == 1, "\(retried)")
            #expect(try await store.recordPushFailure(toBelgium, error: "HTTP 400 from BE", retryAt: nil,
                                                      at: clock.at(72)))
            #expect(!(try await store.recordPushDelivered(toBelgium, receipt: Contract.receipt("nl-1"),
                                                          at: clock.at(73),
                                                          audit: Contract.audit("nl-1", caller: "BE",
                                                                                action: "batch-out"))),
                    "a dead letter was also marked delivered")
            #expect(try await store.outbox(peer: "BE").map(\.state) == [.dead])

            // The lease on nl-1 to DE runs out: another process claims it, and the first one's result is refused.
            let reclaimed = try await store.claimPushes(now: clock.at(91), limit: 10, seconds: 30)
            #expect(reclaimed.map(\.entry.id) == [toGermany.entry.id])
            let holder = try #require(reclaimed.first)
            #expect(holder.token != toGermany.token)
            #expect(!(try await store.recordPushDelivered(toGermany, receipt: Contract.receipt("nl-1"),
                                                          at: clock.at(92),
                                                          audit: Contract.audit("nl-1", caller: "DE",
                                                                                action: "batch-out"))))
            #expect(!(try await store.recordPushFailure(toGermany, error: "timeout", retryAt: nil, at: clock.at(92))))
            #expect(try await store.outbox(peer: "DE").first { $0.batchId == "nl-1" }?.state == .queued)
            #expect(try await store.recordPushDelivered(holder, receipt: Contract.receipt("nl-1", " from DE"),
                                                        at: clock.at(93),
                                                        audit: Contract.audit("nl-1", caller: "DE",
                                                                              action: "batch-out")))
            #expect(!(try await store.recordPushFailure(holder, error: "late", retryAt: nil, at: clock.at(94))),
                    "a delivered push was also made a dead letter")
            let germany = try await store.outbox(peer: "DE")
            #expect(germany.map(\.state) == [.delivered, .queued], "\(germany)")
            let deliveries = try await store.audit(since: nil, peer: "DE", limit: nil).filter {
                $0.action == "batch-out"
            }
            #expect(deliveries.count == 1, "a refused delivery was audited: \(deliveries)")

            #expect(sameInstant(try await store.nextPushDue(), clock.at(200)))
            #expect(try await store.claimPushes(now: clock.at(199), limit: 10, seconds: 30).isEmpty)
            #expect(try await store.claimPushes(now: clock.at(200), limit: 10, seconds: 30).map(\.entry.id)
                        == [second.entry.id])

            let status = Dictionary(uniqueKeysWithValues: try await store.syncStatus(peers: ["DE", "BE", "FR"])
                .map { ($0.peer, $0) })
            #expect(status["DE"]?.queued == 1 && status["DE"]?.delivered == 1 && status["DE"]?.deadLetters == 0)
            #expect(sameInstant(status["DE"]?.lastPushAt, clock.at(93)))
            #expect(status["BE"]?.queued == 0 && status["BE"]?.deadLetters == 1 && status["BE"]?.delivered == 0)
            #expect(status["BE"]?.lastError == "HTTP 400 from BE")
            #expect(status["FR"].map { $0.queued == 0 && $0.deadLetters == 0 && $0.delivered == 0 } == true)

            let requeueAudit: @Sendable (Int) -> AuditEntry = { count in
                AuditEntry(callerCountry: "NL", callerFingerprint: "operator", action: "requeue",
                           target: "dead-letters", result: "ok", detail: "\(count) requeued")
            }
            #expect(try await store.requeueDeadLetters(peer: "DE", at: clock.at(300), audit: requeueAudit) == 0)
            #expect(try await store.requeueDeadLetters(peer: nil, at: clock.at(300), audit: requeueAudit) == 1)
            let belgium = try #require(try await store.outbox(peer: "BE").first)
            #expect(belgium.state == .queued && sameInstant(belgium.nextAttemptAt, clock.at(300)))
            let requeues = try await store.audit(since: nil, peer: "NL", limit: nil).filter { $0.action == "requeue" }
            #expect(requeues.map(\.detail) == ["0 requeued", "1 requeued"])
            #expect(try await store.claimPushes(now: clock.at(300), limit: 10, seconds: 30).map(\.entry.id)
                        .contains(belgium.id))
            #expect(try await store.outbox(peer: nil).count == 3)
        }
    }

    @Test("four processes claiming at once get each queued push exactly once", arguments: StoreBackend.allCases)
    func concurrentClaims(_ backend: StoreBackend) async throws {
        try await backend.withStore("claims") { test in
            let clock = Clock()
            let peers = (0..<24).map { "P\($0)" }
            try await Contract.keep(Contract.batch("nl-1", sequence: 1, records: [Contract.record("NL-SZ-1")],
                                                   pushTo: peers, receivedAt: clock.at(0)), in: test.store)
            let stores = try await test.instances(4)
            let now = clock.at(60)
            let claimed = try await withThrowingTaskGroup(of: [OutboxClaim].self) { group in
                for store in stores {
                    group.addTask {
                        var mine: [OutboxClaim] = []
                        for _ in 0..<30 {
                            let got = try await store.claimPushes(now: now, limit: 3, seconds: 60)
                            if got.isEmpty { break }
                            mine += got
                        }
                        // Each holder records its own deliveries.
                        for claim in mine {
                            let delivered = try await store.recordPushDelivered(
                                claim, receipt: Contract.receipt("nl-1", " from \(claim.entry.peer)"), at: now,
                                audit: Contract.audit("nl-1", caller: claim.entry.peer, action: "batch-out"))
                            if !delivered { throw TestSupportError("the holder of \(claim.entry.id) was refused") }
                        }
                        return mine
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            let ids = claimed.map(\.entry.id)
            #expect(ids.count == 24 && Set(ids).count == 24, "\(ids.sorted())")
            #expect(try await test.store.outbox(peer: nil).allSatisfy { $0.state == .delivered })
            #expect(try await test.store.nextPushDue() == nil)
        }
    }

    @Test("a late delivery racing a new claim: the push ends delivered or claimed again, never both, never dead and delivered",
          arguments: StoreBackend.allCases)
    func lateDeliveryRacesReclaim(_ backend: StoreBackend) async throws {
        try await backend.withStore("race") { test in
            let clock = Clock()
            let stores = try await test.instances(2)
            let (first, second) = (stores[0], stores[1])
            for round in 0..<8 {
                let start = Double(round * 100)
                try await Contract.keep(Contract.batch("nl-\(round)", sequence: UInt64(round + 1),
                                                       records: [Contract.record("NL-SZ-\(round)")], pushTo: ["DE"],
                                                       receivedAt: clock.at(start)), in: first)
                let claim = try #require(try await first.claimPushes(now: clock.at(start + 1), limit: 1, seconds: 10)
                    .first)
                // The first holder's result arrives as its lease runs out, while another process claims the push.
                async let delivered = first.recordPushDelivered(
                    claim, receipt: Contract.receipt("nl-\(round)"), at: clock.at(start + 12),
                    audit: Contract.audit("nl-\(round)", caller: "DE", action: "batch-out"))
                let reclaimed = try await second.claimPushes(now: clock.at(start + 12), limit: 1, seconds: 10)
                var failed = false
                if let again = reclaimed.first {
                    #expect(again.entry.id == claim.entry.id && again.token != claim.token)
                    failed = try await second.recordPushFailure(again, error: "HTTP 400 from DE", retryAt: nil,
                                                                at: clock.at(start + 13))
                }
                let firstDelivered = try await delivered
                let entry = try #require(try await first.outbox(peer: "DE").first { $0.batchId == "nl-\(round)" })
                #expect(firstDelivered != !reclaimed.isEmpty,
                        "round \(round): delivered \(firstDelivered), claimed again \(!reclaimed.isEmpty)")
                #expect(entry.state == (firstDelivered ? .delivered : .dead), "round \(round): \(entry.state)")
                #expect(reclaimed.isEmpty || failed, "round \(round): the new holder was refused")
            }
        }
    }

    // MARK: - Pull leases and cursors

    @Test("pull leases: one holder per peer, renewable, reclaimable; the cursor moves by compare-and-set only",
          arguments: StoreBackend.allCases)
    func pullLeases(_ backend: StoreBackend) async throws {
        try await backend.withStore("pull") { test in
            let store = test.store
            let clock = Clock()
            let (a, b, c) = (UUID(), UUID(), UUID())
            let pulled = { (id: String) in Contract.audit(id, caller: "DE", action: "feed-in") }

            let lease = try #require(try await store.claimPull(peer: "DE", token: a, now: clock.at(0), seconds: 30))
            #expect(lease.peer == "DE" && lease.token == a && lease.cursor == nil
                        && sameInstant(lease.leaseUntil, clock.at(30)))
            #expect(try await store.claimPull(peer: "DE", token: b, now: clock.at(1), seconds: 30) == nil)
            #expect(try await store.claimPull(peer: "BE", token: b, now: clock.at(1), seconds: 30) != nil,
                    "a lease on DE held BE too")
            let renewed = try #require(try await store.claimPull(peer: "DE", token: a, now: clock.at(10), seconds: 30))
            #expect(renewed.token == a && sameInstant(renewed.leaseUntil, clock.at(40)))
            #expect(try await store.claimPull(peer: "DE", token: b, now: clock.at(35), seconds: 30) == nil)

            let (outcomes, moved) = try await store.applyPulled(
                [Contract.record("DE-SZ-1"), Contract.record("DE-SZ-2")], lease: renewed, cursor: "2",
                at: clock.at(11), audit: pulled("2"))
            #expect(outcomes.map(\.result) == [.accepted, .accepted])
            #expect(moved.peer == "DE" && moved.token == a && moved.cursor == "2")
            #expect(try await store.pullCursor(peer: "DE") == "2")
            #expect(try await store.record(id: "DE-SZ-1")?.origin == "DE")

            // The lease as granted before the cursor moved: conflict, nothing kept.
            let stale = await Contract.storeErrorCode(hiding: [test.locationText]) {
                _ = try await store.applyPulled([Contract.record("DE-SZ-3")], lease: renewed, cursor: "3",
                                                at: clock.at(12), audit: pulled("3"))
            }
            #expect(stale == .conflict)
            #expect(try await store.record(id: "DE-SZ-3") == nil)
            #expect(try await store.pullCursor(peer: "DE") == "2")

            let (_, next) = try await store.applyPulled([Contract.record("DE-SZ-3")], lease: moved, cursor: "3",
                                                        at: clock.at(13), audit: pulled("3"))
            #expect(next.cursor == "3" && next.token == a)

            // A's lease runs out and B takes over at the cursor A left; A's late pull keeps nothing.
            let taken = try #require(try await store.claimPull(peer: "DE", token: b, now: clock.at(1000),
                                                               seconds: 30))
            #expect(taken.token == b && taken.cursor == "3")
            let lost = await Contract.storeErrorCode(hiding: [test.locationText]) {
                _ = try await store.applyPulled([Contract.record("DE-SZ-4")], lease: next, cursor: "4",
                                                at: clock.at(1001), audit: pulled("4"))
            }
            #expect(lost == .conflict)
            #expect(try await store.record(id: "DE-SZ-4") == nil)
            #expect(try await store.pullCursor(peer: "DE") == "3")

            // Released with an error: it shows in the status, and the next process need not wait for the lease.
            try await store.releasePull(taken, error: "HTTP 500 from DE", at: clock.at(1002))
            try await store.recordPullFailure(peer: "FR", error: "connection refused", at: clock.at(1004))
            let status = Dictionary(uniqueKeysWithValues: try await store.syncStatus(peers: ["DE"])
                .map { ($0.peer, $0) })
            #expect(status["DE"]?.lastError == "HTTP 500 from DE", "\(String(describing: status["DE"]))")
            #expect(status["DE"]?.pullCursor == "3" && status["DE"]?.recordsPulled == 3)
            #expect(sameInstant(status["DE"]?.lastPullAt, clock.at(13)))
            #expect(status["FR"]?.lastError == "connection refused", "a peer the store knows is in the status")
            let third = try await store.claimPull(peer: "DE", token: c, now: clock.at(1005), seconds: 30)
            #expect(third?.token == c && third?.cursor == "3")
        }
    }

    @Test("four pullers at once: one gets the lease; of four pulls on one lease only one moves the cursor",
          arguments: StoreBackend.allCases)
    func concurrentPulls(_ backend: StoreBackend) async throws {
        try await backend.withStore("pulls") { test in
            let clock = Clock()
            let stores = try await test.instances(4)
            for round in 0..<3 {
                let peer = "P\(round)"
                let leases = try await withThrowingTaskGroup(of: PullLease?.self) { group in
                    for store in stores {
                        group.addTask { try await store.claimPull(peer: peer, token: UUID(), now: clock.at(0),
                                                                  seconds: 60) }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                let granted = leases.compactMap { $0 }
                #expect(granted.count == 1, "\(granted.count) processes hold the lease on \(peer)")
                guard let lease = granted.first else { continue }

                let results = try await withThrowingTaskGroup(of: (Int, StoreError.Code?).self) { group in
                    for (index, store) in stores.enumerated() {
                        group.addTask {
                            do {
                                _ = try await store.applyPulled(
                                    [Contract.record("\(peer)-SZ-\(index)")], lease: lease, cursor: "c\(index)",
                                    at: clock.at(1), audit: Contract.audit("c\(index)", caller: peer,
                                                                           action: "feed-in"))
                                return (index, nil)
                            } catch let error as StoreError {
                                return (index, error.code)
                            }
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                let winners = results.filter { $0.1 == nil }.map(\.0)
                #expect(winners.count == 1 && results.filter { $0.1 == .conflict }.count == 3, "\(results)")
                guard let winner = winners.first else { continue }
                #expect(try await test.store.pullCursor(peer: peer) == "c\(winner)")
                #expect(try await test.store.recordIds(origin: peer) == ["\(peer)-SZ-\(winner)"])
            }
        }
    }

    // MARK: - Audit

    @Test("the audit trail is append-only, oldest first, filtered by time, caller and limit",
          arguments: StoreBackend.allCases)
    func auditTrail(_ backend: StoreBackend) async throws {
        try await backend.withStore("audit") { test in
            let store = test.store
            let clock = Clock()
            let entries: [AuditEntry] = (0..<8).map { (index: Int) -> AuditEntry in
                let caller = index % 2 == 0 ? "DE" : "BE"
                let action = index % 3 == 0 ? "feed-out" : "record-read"
                let result = index == 5 ? "403" : "ok"
                let detail: String? = index == 2 ? "page of 10" : nil
                return AuditEntry(at: clock.at(Double(index)), callerCountry: caller, callerFingerprint: "fp-\(index)",
                                  action: action, target: "target-\(index)", result: result, detail: detail)
            }
            for entry in entries { try await store.appendAudit(entry) }
            let all = try await store.audit(since: nil, peer: nil, limit: nil)
            #expect(all.map(\.target) == entries.map(\.target))
            let ids = all.compactMap(\.id)
            #expect(ids.count == 8 && zip(ids, ids.dropFirst()).allSatisfy { $0 < $1 }, "\(ids)")
            for (kept, entry) in zip(all, entries) {
                #expect(kept.callerCountry == entry.callerCountry && kept.callerFingerprint == entry.callerFingerprint
                            && kept.action == entry.action && kept.result == entry.result
                            && kept.detail == entry.detail && sameInstant(kept.at, entry.at), "\(kept)")
            }
            #expect(try await store.audit(since: clock.at(5), peer: nil, limit: nil).map(\.target)
                        == ["target-5", "target-6", "target-7"])
            #expect(try await store.audit(since: nil, peer: "BE", limit: nil).map(\.target)
                        == ["target-1", "target-3", "target-5", "target-7"])
            #expect(try await store.audit(since: clock.at(2), peer: "DE", limit: 2).map(\.target)
                        == ["target-2", "target-4"])
            #expect(try await store.audit(since: nil, peer: nil, limit: 3).map(\.target)
                        == ["target-0", "target-1", "target-2"])

            let tampered = try await test.tamperWithAudit()
            #expect(tampered.updated == nil, "\(tampered.updated ?? "")")
            #expect(tampered.deleted == nil, "\(tampered.deleted ?? "")")
            #expect(try await store.audit(since: nil, peer: nil, limit: nil) == all)
        }
    }

    // MARK: - Search

    @Test("search: exact keys of latest active revisions of the origin, in record id order, never a withdrawn record",
          arguments: StoreBackend.allCases)
    func search(_ backend: StoreBackend) async throws {
        try await backend.withStore("search") { test in
            let store = test.store
            var nl = ContractWriter(origin: "NL")
            var be = ContractWriter(origin: "BE")
            try await nl.write([Contract.record("NL-S2", keys: ["container:A"]),
                                Contract.record("NL-S1", keys: ["container:A", "plate:P1"]),
                                Contract.record("NL-S3", status: .withdrawn, keys: ["container:A"]),
                                Contract.record("NL-S4", keys: ["plate:OLD"])], to: .countries(["DE"]), in: store)
            try await nl.write([Contract.record("NL-S4", revision: 2, keys: ["plate:NEW"])], to: .countries(["DE"]),
                               in: store)
            try await be.write([Contract.record("BE-S5", keys: ["container:A"])], to: .countries(["DE"]), in: store)
            let prefilter = VisibilityPrefilter(caller: "DE", handlingCodes: [.h1])
            func hits(_ keys: [String], origin: String = "NL") async throws -> [String] {
                try await store.searchCandidates(keys: keys, origin: origin, prefilter: prefilter).map(\.entry.recordId)
            }
            #expect(try await hits(["container:A"]) == ["NL-S1", "NL-S2"])
            #expect(try await hits(["plate:P1", "container:A"]) == ["NL-S1", "NL-S2"])
            #expect(try await hits(["plate:OLD"]) == [])
            let revised = try await store.searchCandidates(keys: ["plate:NEW"], origin: "NL", prefilter: prefilter)
            #expect(revised.map(\.entry.recordId) == ["NL-S4"] && revised.first?.entry.revision == 2)
            #expect(try await hits([]) == [])
            #expect(try await hits(["container:none"]) == [])
            #expect(try await hits(["container:A"], origin: "BE") == ["BE-S5"])
            for hit in try await store.searchCandidates(keys: ["container:A"], origin: "NL", prefilter: prefilter) {
                ContractChecks.candidate(hit, matches: nl.written[hit.entry.recordId]!)
            }
            // A hit withdrawn later is one no more.
            try await nl.write([Contract.record("NL-S2", revision: 2, status: .withdrawn, keys: ["container:A"])],
                               to: .countries(["DE"]), in: store)
            #expect(try await hits(["container:A"]) == ["NL-S1"])
        }
    }

    // MARK: - Facts, counts and record ids

    @Test("facts of latest active revisions, paged in record id order, by origin; counts and record ids",
          arguments: StoreBackend.allCases)
    func factsCountsAndIds(_ backend: StoreBackend) async throws {
        try await backend.withStore("facts") { test in
            let store = test.store
            var nl = ContractWriter(origin: "NL")
            var be = ContractWriter(origin: "BE")
            try await nl.write((1...6).reversed().map { Contract.record("NL-F\($0)") }, to: .countries(["DE"]),
                               in: store)
            try await be.write([Contract.record("BE-F2"), Contract.record("BE-F1")], to: .countries(["DE"]), in: store)
            try await nl.write([Contract.record("NL-F3", revision: 2),
                                Contract.record("NL-F4", revision: 2, status: .withdrawn),
                                Contract.record("NL-F5", revision: 2, facts: false)], to: .countries(["DE"]), in: store)
            let expectedNL = [Contract.facts("NL-F1", 1), Contract.facts("NL-F2", 1), Contract.facts("NL-F3", 2),
                              Contract.facts("NL-F6", 1)]
            let expectedAll = [Contract.facts("BE-F1", 1), Contract.facts("BE-F2", 1)] + expectedNL

            func paged(_ origin: String?, after start: String? = nil, limit: Int) async throws -> [[UInt8]] {
                var all: [[UInt8]] = []
                var after = start
                for _ in 0..<20 {
                    let page = try await store.latestFacts(origin: origin, after: after, limit: limit)
                    #expect(page.ends.count <= limit && page.ends == page.ends.sorted()
                                && (page.ends.last ?? 0) == page.bytes.count)
                    if page.ends.count < limit { #expect(page.continueAfter == nil, "a short page continues") }
                    page.forEach { all.append(Array($0)) }
                    guard let next = page.continueAfter else { return all }
                    after = next
                }
                throw TestSupportError("latestFacts did not end after 20 pages")
            }
            #expect(try await paged("NL", limit: 2) == expectedNL)
            #expect(try await paged("NL", limit: 100) == expectedNL)
            #expect(try await paged(nil, limit: 3) == expectedAll)
            #expect(try await paged("NL", after: "NL-F2", limit: 10) == Array(expectedNL.dropFirst(2)))
            #expect(try await paged("BE", limit: 1) == Array(expectedAll.prefix(2)))
            var streamed: [[UInt8]] = []
            try await store.forEachLatestFacts(origin: nil, pageSize: 3) { streamed.append(Array($0)) }
            #expect(streamed == expectedAll)

            let all = try await store.counts(origin: nil)
            #expect(all.batches == 3 && all.records == 8 && all.revisions == 11 && all.withdrawn == 1, "\(all)")
            let netherlands = try await store.counts(origin: "NL")
            #expect(netherlands.records == 6 && netherlands.revisions == 9 && netherlands.withdrawn == 1,
                    "\(netherlands)")
            let belgium = try await store.counts(origin: "BE")
            #expect(belgium.records == 2 && belgium.revisions == 2 && belgium.withdrawn == 0, "\(belgium)")
            #expect(try await store.recordIds(origin: "NL") == (1...6).map { "NL-F\($0)" })
            #expect(try await store.recordIds(origin: nil) == ["BE-F1", "BE-F2"] + (1...6).map { "NL-F\($0)" })
            #expect(try await store.recordIds(origin: "FR") == [])
        }
    }

    // MARK: - Several writers at once

    @Test("four writers ingest while a reader pages the feed from its last position: each record once, none skipped",
          arguments: StoreBackend.allCases)
    func concurrentWritersAndReader(_ backend: StoreBackend) async throws {
        try await backend.withStore("gap") { test in
            let writers = try await test.instances(4)
            let reader = test.store
            let prefilter = VisibilityPrefilter(caller: "DE", handlingCodes: Self.everyone)
            let (batchesPerWriter, recordsPerBatch) = (4, 5)
            let started = ContinuousClock.now
            var position: Int64 = 0
            var iterations = 0
            // At least 8 iterations, then as many as fit in 4 seconds, at most 40.
            while iterations < 40 && (iterations < 8 || ContinuousClock.now - started < .seconds(4)) {
                let iteration = iterations
                iterations += 1
                let done = DoneFlag()
                let after = position
                async let read = Self.readFeed(reader, prefilter: prefilter, after: after, until: done)
                do {
                    try await Self.write(iteration: iteration, with: writers, batches: batchesPerWriter,
                                         records: recordsPerBatch)
                } catch {
                    done.set()
                    _ = try? await read
                    throw error
                }
                done.set()
                let seen = try await read
                let expected = Set((0..<writers.count).flatMap { writer in
                    (0..<batchesPerWriter).flatMap { number in
                        (0..<recordsPerBatch).map { "NL-G\(iteration)-\(writer)-\(number)-\($0)" }
                    }
                })
                let counted = Dictionary(seen.ids.map { ($0, 1) }, uniquingKeysWith: +)
                let skipped = expected.subtracting(counted.keys)
                let twice = counted.filter { $0.value > 1 }.keys
                let strange = Set(counted.keys).subtracting(expected)
                let increasing = zip(seen.positions, seen.positions.dropFirst()).allSatisfy { $0 < $1 }
                    && (seen.positions.first.map { $0 > after } ?? true)
                #expect(skipped.isEmpty && twice.isEmpty && strange.isEmpty && increasing, Comment(rawValue:
                    "iteration \(iteration) (\(seen.pages) pages): skipped \(skipped.sorted()), twice "
                        + "\(twice.sorted()), unexpected \(strange.sorted()), increasing \(increasing)"))
                position = seen.last
                if !(skipped.isEmpty && twice.isEmpty && strange.isEmpty && increasing) { return }
            }
            #expect(try await reader.counts(origin: "NL").records == iterations * 4 * batchesPerWriter * recordsPerBatch)
        }
    }

    /// Each writer ingests `batches` batches of `records` new records, one after the other, all writers at once.
    static func write(iteration: Int, with writers: [any NodeStore], batches: Int, records: Int) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (writer, store) in writers.enumerated() {
                group.addTask {
                    for number in 0..<batches {
                        let sequence = UInt64(iteration * batches + number + 1)
                        let batch = Contract.batch(
                            "nl-w\(writer)-\(sequence)", agency: "NL-W\(writer)", sequence: sequence,
                            records: (0..<records).map { Contract.record("NL-G\(iteration)-\(writer)-\(number)-\($0)") })
                        try await Contract.keep(batch, in: store)
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Pages NL's feed from `after` until `done` was set before a page that said no more followed.
    static func readFeed(_ store: any NodeStore, prefilter: VisibilityPrefilter, after: Int64, until done: DoneFlag)
        async throws -> (ids: [String], positions: [Int64], last: Int64, pages: Int)
    {
        var cursor = after
        var ids: [String] = []
        var positions: [Int64] = []
        for pages in 1...200_000 {
            try Task.checkCancellation()
            let finished = done.isSet
            let page = try await store.feedCandidates(origin: "NL", prefilter: prefilter, after: cursor, limit: 8)
            ids += page.candidates.map(\.entry.recordId)
            positions += page.candidates.map(\.entry.sequence)
            cursor = max(cursor, page.lastPosition)
            if finished && !page.more { return (ids, positions, cursor, pages) }
            if !page.more { await Task.yield() }
        }
        throw TestSupportError("the reader did not catch up after 200,000 pages")
    }

    @Test("one batch from four processes at once: one accepted, three duplicates, never an error; one receipt for all",
          arguments: StoreBackend.allCases)
    func concurrentDuplicates(_ backend: StoreBackend) async throws {
        try await backend.withStore("dupes") { test in
            let stores = try await test.instances(4)
            for round in 0..<6 {
                let batch = Contract.batch("nl-c\(round)", sequence: UInt64(round + 1),
                                           records: (0..<5).map { Contract.record("NL-SZ-C\(round)-\($0)") },
                                           pushTo: ["DE"])
                let results = await Self.concurrently(stores) { store, _ in
                    try await store.ingest(batch, audit: Contract.audit(batch.batchId))
                }
                let accepted = results.compactMap { result -> [RecordOutcome]? in
                    if case .success(.accepted(let outcomes)) = result { return outcomes }
                    return nil
                }
                #expect(accepted.count == 1, "round \(round): \(results)")
                guard let outcomes = accepted.first else { continue }
                let duplicates = results.filter {
                    if case .success(let result) = $0 { return Contract.isDuplicate(result, receipt: nil,
                                                                                      outcomes: outcomes) }
                    return false
                }
                #expect(duplicates.count == 3, "round \(round): \(results)")

                let receipts = await Self.concurrently(stores) { store, index in
                    try await store.keepReceipt(batchId: batch.batchId,
                                                receipt: Contract.receipt(batch.batchId, " by \(index)"))
                }
                let kept = receipts.compactMap { try? $0.get() }
                #expect(kept.count == 4 && Set(kept).count == 1, "round \(round): \(receipts)")
                #expect(kept.first.map { receipt in (0..<4).contains { Contract.receipt(batch.batchId, " by \($0)") == receipt } }
                            == true)
                let replay = try await test.store.ingest(batch, audit: Contract.audit(batch.batchId))
                #expect(Contract.isDuplicate(replay, receipt: kept.first, outcomes: outcomes), "\(replay)")
                #expect(try await test.store.outbox(peer: "DE").filter { $0.batchId == batch.batchId }.count == 1)
            }
            let counts = try await test.store.counts(origin: nil)
            #expect(counts.batches == 6 && counts.records == 30 && counts.revisions == 30, "\(counts)")
        }
    }

    @Test("at once: a batch id or sequence number taken four times gives one accepted; the highest revision wins",
          arguments: StoreBackend.allCases)
    func concurrentConflictsAndRevisions(_ backend: StoreBackend) async throws {
        try await backend.withStore("races") { test in
            let stores = try await test.instances(4)
            for round in 0..<4 {
                // One batch id, four contents.
                let byId = await Self.concurrently(stores) { store, index in
                    try await store.ingest(
                        Contract.batch("nl-id\(round)", sequence: UInt64(100 + round * 10 + index),
                                       records: [Contract.record("NL-SZ-I\(round)-\(index)")],
                                       digest: "digest \(round)-\(index)"),
                        audit: Contract.audit("nl-id\(round)"))
                }
                Self.expectOneAccepted(byId, rest: RuleID.batchIdReused, "round \(round), one batch id")
                // One sequence number, four batches.
                let bySequence = await Self.concurrently(stores) { store, index in
                    try await store.ingest(
                        Contract.batch("nl-seq\(round)-\(index)", sequence: UInt64(500 + round),
                                       records: [Contract.record("NL-SZ-Q\(round)-\(index)")]),
                        audit: Contract.audit("nl-seq\(round)-\(index)"))
                }
                Self.expectOneAccepted(bySequence, rest: RuleID.sequenceReused, "round \(round), one sequence")
                // Revisions 2 to 5 of one record, each in its own batch, at once.
                let id = "NL-SZ-R\(round)"
                try await Contract.keep(Contract.batch("nl-r\(round)-1", sequence: UInt64(900 + round * 10),
                                                       records: [Contract.record(id)]), in: test.store)
                let revisions = await Self.concurrently(stores) { store, index in
                    try await store.ingest(
                        Contract.batch("nl-r\(round)-\(index + 2)", sequence: UInt64(900 + round * 10 + index + 1),
                                       records: [Contract.record(id, revision: index + 2)]),
                        audit: Contract.audit("nl-r\(round)"))
                }
                #expect(revisions.allSatisfy { if case .success(.accepted) = $0 { true } else { false } },
                        "\(revisions)")
                let held = try #require(try await test.store.record(id: id))
                #expect(held.entry.revision == 5 && held.entry.xml == Contract.xml(id, 5),
                        "round \(round): the latest is revision \(held.entry.revision)")
                let facts = try await test.store.latestFacts(origin: "NL", after: nil, limit: 1000)
                var all: [[UInt8]] = []
                facts.forEach { all.append(Array($0)) }
                #expect(all.contains(Contract.facts(id, 5)) && !(2...4).contains { all.contains(Contract.facts(id, $0)) })
            }
        }
    }

    static func expectOneAccepted(_ results: [Result<IngestResult, any Error>], rest rule: String, _ what: String,
                                  sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        let accepted = results.filter { if case .success(.accepted) = $0 { true } else { false } }
        let conflicts = results.filter {
            if case .success(let result) = $0 { Contract.conflictRule(result) == rule } else { false }
        }
        #expect(accepted.count == 1 && conflicts.count == results.count - 1, "\(what): \(results)",
                sourceLocation: sourceLocation)
    }

    /// Runs `body` on every store at once (index i on store i) and returns each result, errors included.
    static func concurrently<T: Sendable>(
        _ stores: [any NodeStore], _ body: @escaping @Sendable (any NodeStore, Int) async throws -> T
    ) async -> [Result<T, any Error>] {
        await withTaskGroup(of: (Int, Result<T, any Error>).self) { group in
            for (index, store) in stores.enumerated() {
                group.addTask {
                    do { return (index, .success(try await body(store, index))) } catch { return (index, .failure(error)) }
                }
            }
            var results: [(Int, Result<T, any Error>)] = []
            for await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }
}
