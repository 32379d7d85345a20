import FWXModel
import FWXPostgres
import FWXStore
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

/// The PostgreSQL store's own guarantees, against a real server (PostgresTestServer), with two store instances on
/// one database standing for two `fwx serve` processes (each has its own pool, as a process would). The
/// backend-neutral contract is proven by StoreContract*; these are the parts only several writers can break.
@Suite("PostgreSQL node store")
struct PostgresNodeStoreTests {
    // MARK: - Fixtures

    static func settings(_ test: PostgresTestDatabase, poolSize: Int = 4) -> PostgresSettings {
        PostgresSettings(url: test.url, passwordFile: test.cluster.passwordFile, poolSize: poolSize)
    }

    /// A fresh database with `count` store instances on it (the first migrates); closed when `body` ends.
    static func withStores<T>(_ prefix: String, count: Int = 2, poolSize: Int = 4,
                              _ body: ([PostgresNodeStore], PostgresTestDatabase) async throws -> T) async throws -> T {
        let test = try await PostgresTestServer.freshDatabase(prefix)
        var stores: [PostgresNodeStore] = []
        for _ in 0..<count {
            stores.append(try await PostgresNodeStore.open(settings(test, poolSize: poolSize), migrate: true,
                                                           logger: Logger(label: "test")))
        }
        do {
            let result = try await body(stores, test)
            for store in stores { await store.close() }
            return result
        } catch {
            for store in stores { await store.close() }
            throw error
        }
    }

    static let sender = NodeIdentity(country: "NL", agencyId: "NL-POLITIE")

    static func record(_ id: String, revision: Int = 1, status: RecordStatus = .active,
                       code: HandlingCode = .h1) -> IncomingRecord {
        IncomingRecord(recordId: id, revision: revision, kind: "seizure", status: status, handlingCode: code,
                       xml: "<Seizure><RecordId>\(id)</RecordId><Revision>\(revision)</Revision></Seizure>",
                       facts: status == .active ? Array("facts \(id)".utf8) : nil,
                       searchKeys: ["container:\(id)"])
    }

    static func submission(_ batchId: String, sequence: UInt64, records: [IncomingRecord],
                           recipients: Recipients = .allPartners, pushTo: [String] = [],
                           digest: String? = nil) -> BatchSubmission {
        BatchSubmission(batchId: batchId, sender: sender, sequenceNumber: sequence, recipients: recipients,
                        digest: digest ?? "digest-\(batchId)", signedBatch: Array("signed \(batchId)".utf8),
                        records: records, caller: CallerIdentity(country: "NL", fingerprint: "ab"),
                        receivedAt: Date(), pushTo: pushTo)
    }

    static func audit(_ target: String) -> AuditEntry {
        AuditEntry(callerCountry: "NL", callerFingerprint: "ab", action: "batch-in", target: target, result: "ok")
    }

    static func ingest(_ store: PostgresNodeStore, _ submission: BatchSubmission) async throws -> IngestResult {
        try await store.ingest(submission, audit: audit(submission.batchId))
    }

    /// What an IngestResult was, for comparisons.
    enum Kind: Equatable { case accepted, duplicate, conflict(String) }
    static func kind(_ result: IngestResult) -> Kind {
        switch result {
        case .accepted: return .accepted
        case .duplicate: return .duplicate
        case .conflict(let conflict): return .conflict(conflict.rule)
        }
    }

    /// Counts rows with SQL of the test's own, on a connection of its own (a third "process").
    static func count(_ test: PostgresTestDatabase, _ sql: String) async throws -> Int {
        try await PostgresStoreDatabase.withDatabase(try test.configuration(poolSize: 1)) { database in
            try await database.query(PostgresQuery(unsafeSQL: sql)) { try $0.decode(Int.self) }.first ?? -1
        }
    }

    static let everyone = VisibilityPrefilter(caller: "DE", handlingCodes: Set(HandlingCode.allCases))

    // MARK: - Opening

    @Test("four stores opening a fresh database together migrate it once; an operator open needs a migrated one")
    func concurrentOpensMigrateOnce() async throws {
        let test = try await PostgresTestServer.freshDatabase("opens")
        let settings = Self.settings(test, poolSize: 2)
        let refused = await #expect(throws: StoreError.self) {
            _ = try await PostgresNodeStore.open(settings, migrate: false, logger: Logger(label: "test"))
        }
        #expect(refused?.code == .missing, "\(String(describing: refused))")

        let stores = try await withThrowingTaskGroup(of: PostgresNodeStore.self) { group in
            for _ in 0..<4 {
                group.addTask { try await PostgresNodeStore.open(settings, migrate: true, logger: Logger(label: "t")) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(stores.count == 4)
        #expect(try await Self.count(test, "SELECT count(*) FROM fwx_schema_migrations")
            == PostgresNodeSchema.migrations.count)
        // All four work on the one schema.
        for (index, store) in stores.enumerated() {
            let result = try await Self.ingest(store, Self.submission("open-\(index)", sequence: UInt64(index + 1),
                                                                      records: [Self.record("NL-OPEN-\(index)")]))
            #expect(Self.kind(result) == .accepted)
        }
        for store in stores { await store.close() }

        let operatorStore = try await PostgresNodeStore.open(settings, migrate: false, logger: Logger(label: "t"))
        #expect(try await operatorStore.counts(origin: nil).records == 4)
        await operatorStore.close()
    }

    @Test("a database migrated by a newer fwx is refused, when migrating and when not")
    func newerSchemaRefused() async throws {
        let test = try await PostgresTestServer.freshDatabase("newer")
        let store = try await PostgresNodeStore.open(Self.settings(test), migrate: true, logger: Logger(label: "t"))
        await store.close()
        try await PostgresStoreDatabase.withDatabase(try test.configuration(poolSize: 1)) { database in
            try await database.execute("INSERT INTO fwx_schema_migrations (version, name) VALUES (99, 'future')")
        }
        for migrate in [true, false] {
            let error = await #expect(throws: StoreError.self) {
                _ = try await PostgresNodeStore.open(Self.settings(test), migrate: migrate, logger: Logger(label: "t"))
            }
            #expect(error?.code == .schemaTooNew, "migrate \(migrate): \(String(describing: error))")
            #expect(error?.message.contains("99") == true)
        }
        let bad = await #expect(throws: StoreError.self) {
            _ = try await PostgresNodeStore.open(PostgresSettings(url: "postgresql://fwx:secret@127.0.0.1/x"),
                                                 migrate: true, logger: Logger(label: "t"))
        }
        #expect(bad?.code == .configuration)
        #expect(bad.map { "\($0)".contains("secret") } == false)
    }

    // MARK: - Ingest under concurrency

    @Test("two processes keeping the same batch at once: one stores it, the other gets the duplicate; one receipt")
    func concurrentSameBatch() async throws {
        try await Self.withStores("samebatch") { stores, test in
            for round in 0..<12 {
                let records = (0..<20).map { Self.record("NL-SAME-\(round)-\($0)") }
                let submission = Self.submission("same-\(round)", sequence: UInt64(round + 1), records: records,
                                                 pushTo: ["DE"])
                let results = try await withThrowingTaskGroup(of: IngestResult.self) { group in
                    for store in stores { group.addTask { try await Self.ingest(store, submission) } }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                let kinds = results.map(Self.kind)
                #expect(kinds.filter { $0 == .accepted }.count == 1, "round \(round): \(kinds)")
                #expect(kinds.filter { $0 == .duplicate }.count == 1, "round \(round): \(kinds)")
                var accepted: [RecordOutcome] = [], replayed: [RecordOutcome] = []
                for result in results {
                    switch result {
                    case .accepted(let outcomes): accepted = outcomes
                    case .duplicate(let receipt, let outcomes, _):
                        replayed = outcomes
                        #expect(receipt == nil, "no receipt is kept yet")
                    case .conflict: break
                    }
                }
                #expect(accepted.count == 20 && accepted.allSatisfy { $0.result == .accepted })
                #expect(replayed == accepted, "the duplicate is answered with the stored outcomes")

                // Both sign and keep a receipt at once: the first kept is the one both get, and later replays.
                let kept = try await withThrowingTaskGroup(of: [UInt8].self) { group in
                    for (index, store) in stores.enumerated() {
                        group.addTask {
                            try await store.keepReceipt(batchId: submission.batchId,
                                                        receipt: Array("receipt-\(index)".utf8))
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(Set(kept).count == 1, "round \(round)")
                if case .duplicate(let receipt, _, _) = try await Self.ingest(stores[1], submission) {
                    #expect(receipt == kept[0])
                } else {
                    Issue.record("a replay after the receipt was kept is not a duplicate")
                }
            }
            #expect(try await Self.count(test, "SELECT count(*) FROM batches") == 12)
            #expect(try await Self.count(test, "SELECT count(*) FROM revisions") == 12 * 20)
            #expect(try await Self.count(test, "SELECT count(*) FROM outbox") == 12)
            #expect(try await Self.count(test, "SELECT count(*) FROM audit WHERE result = 'duplicate'") == 24)
            let missing = await #expect(throws: StoreError.self) {
                _ = try await stores[0].keepReceipt(batchId: "no-such-batch", receipt: [1])
            }
            #expect(missing?.code == .missing)
        }
    }

    @Test("a used sequence number or batch id by two processes at once: one stored, the other a conflict")
    func concurrentConflicts() async throws {
        try await Self.withStores("conflicts") { stores, test in
            for round in 0..<8 {
                // Same sender sequence number, different batch ids.
                let sequence = UInt64(100 + round)
                let pair = [Self.submission("seq-a-\(round)", sequence: sequence, records: [Self.record("NL-SA-\(round)")]),
                            Self.submission("seq-b-\(round)", sequence: sequence, records: [Self.record("NL-SB-\(round)")])]
                let kinds = try await withThrowingTaskGroup(of: Kind.self) { group in
                    for (store, submission) in zip(stores, pair) {
                        group.addTask { Self.kind(try await Self.ingest(store, submission)) }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(kinds.sorted { "\($0)" < "\($1)" } == [.accepted, .conflict(RuleID.sequenceReused)],
                         "round \(round): \(kinds)")

                // Same batch id, different content.
                let twins = [Self.submission("id-\(round)", sequence: UInt64(200 + 2 * round),
                                             records: [Self.record("NL-IA-\(round)")], digest: "one-\(round)"),
                             Self.submission("id-\(round)", sequence: UInt64(201 + 2 * round),
                                             records: [Self.record("NL-IB-\(round)")], digest: "two-\(round)")]
                let idKinds = try await withThrowingTaskGroup(of: Kind.self) { group in
                    for (store, submission) in zip(stores, twins) {
                        group.addTask { Self.kind(try await Self.ingest(store, submission)) }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(idKinds.sorted { "\($0)" < "\($1)" } == [.accepted, .conflict(RuleID.batchIdReused)],
                         "round \(round): \(idKinds)")
            }
            // A refused batch kept nothing.
            #expect(try await Self.count(test, "SELECT count(*) FROM batches") == 16)
            #expect(try await Self.count(test, "SELECT count(*) FROM records") == 16)
        }
    }

    @Test("writers racing on the same new and held records: the latest revision is always the highest")
    func concurrentRevisions() async throws {
        try await Self.withStores("revisions") { stores, test in
            let ids = (0..<10).map { "NL-RACE-\($0)" }
            // Four writers on two instances; writer w sends revisions w+1, w+5, ... of every record, in batches
            // whose records are in a different order per writer (lock order must not matter).
            let writers = 4, rounds = 5
            let results = try await withThrowingTaskGroup(of: [RecordOutcome].self) { group in
                for writer in 0..<writers {
                    let store = stores[writer % stores.count]
                    group.addTask {
                        var all: [RecordOutcome] = []
                        for round in 0..<rounds {
                            let revision = round * writers + writer + 1
                            let order = writer % 2 == 0 ? ids : ids.reversed()
                            let submission = Self.submission(
                                "race-\(writer)-\(round)", sequence: UInt64(1000 + revision),
                                records: order.map { Self.record($0, revision: revision) },
                                recipients: .countries(["C\(writer)"]))
                            guard case .accepted(let outcomes) = try await Self.ingest(store, submission) else {
                                Issue.record("batch race-\(writer)-\(round) was not accepted")
                                continue
                            }
                            all += outcomes
                        }
                        return all
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(results.count == writers * rounds * ids.count)
            #expect(results.allSatisfy { $0.result == .accepted || $0.result == .superseded })
            let top = writers * rounds
            for id in ids {
                let stored = try #require(try await stores[0].record(id: id))
                #expect(stored.entry.revision == top, "\(id) is at revision \(stored.entry.revision)")
                // Every accepted revision of the record is kept once, and the audience is their recipients' union.
                let acceptedRevisions = results.filter { $0.recordId == id && $0.result == .accepted }.map(\.revision)
                #expect(Set(acceptedRevisions).count == acceptedRevisions.count)
                let writersKept = Set(acceptedRevisions.map { "C\(($0 - 1) % writers)" })
                #expect(stored.audience == writersKept, "\(id): \(String(describing: stored.audience))")
            }
            #expect(try await Self.count(test, "SELECT count(*) FROM revisions")
                == results.filter { $0.result == .accepted }.count)
            #expect(try await Self.count(test, "SELECT count(*) FROM record_keys") == ids.count)
            #expect(try await Self.count(test, "SELECT count(*) FROM latest_facts") == ids.count)
        }
    }

    // MARK: - Feed positions

    @Test("a feed reader paging while four writers ingest never skips a record and never sees one twice")
    func feedNeverSkips() async throws {
        try await Self.withStores("feed", poolSize: 6) { stores, _ in
            let writers = 4, batches = 30, perBatch = 15
            let reader = stores[1]
            let done = ManagedFlag()
            async let written = Self.writeFeed(stores, writers: writers, batches: batches, perBatch: perBatch,
                                               done: done)
            // Page from 0 with small pages, without pause, while the writers run; then read to the end.
            var cursor: Int64 = 0
            var seen: [String] = []
            var pages = 0
            var finalPass = false
            while pages < 100_000 {
                let finished = done.isSet
                let page = try await reader.feedCandidates(origin: "NL", prefilter: Self.everyone, after: cursor,
                                                           limit: 7)
                pages += 1
                for candidate in page.candidates {
                    #expect(candidate.entry.sequence > cursor)
                    seen.append(candidate.entry.recordId)
                }
                cursor = page.lastPosition
                if !page.more {
                    if finalPass { break }
                    if finished { finalPass = true }
                }
            }
            let total = try await written
            #expect(total == writers * batches * perBatch)
            #expect(seen.count == total, "seen \(seen.count) of \(total) in \(pages) pages")
            #expect(Set(seen).count == seen.count, "a record was seen twice")
            #expect(pages > 20, "the reader paged while the writers ran (\(pages) pages)")
        }
    }

    /// `writers` tasks over the stores, each ingesting `batches` batches of `perBatch` new records; sets `done`.
    static func writeFeed(_ stores: [PostgresNodeStore], writers: Int, batches: Int, perBatch: Int,
                          done: ManagedFlag) async throws -> Int {
        defer { done.set() }
        return try await withThrowingTaskGroup(of: Int.self) { group in
            for writer in 0..<writers {
                let store = stores[writer % stores.count]
                group.addTask {
                    for batch in 0..<batches {
                        let records = (0..<perBatch).map { Self.record("NL-FEED-\(writer)-\(batch)-\($0)") }
                        let submission = Self.submission("feed-\(writer)-\(batch)",
                                                         sequence: UInt64(writer * 10_000 + batch + 1),
                                                         records: records)
                        guard case .accepted = try await Self.ingest(store, submission) else {
                            Issue.record("feed-\(writer)-\(batch) was not accepted")
                            return 0
                        }
                    }
                    return batches * perBatch
                }
            }
            return try await group.reduce(0, +)
        }
    }

    // MARK: - Outbox

    @Test("two processes claiming pushes at once never get the same entry; a lost lease's result is refused")
    func outboxClaims() async throws {
        try await Self.withStores("outbox") { stores, _ in
            let peers = ["BE", "DE", "FR", "LU"]
            for batch in 0..<15 {
                _ = try await Self.ingest(stores[batch % 2], Self.submission(
                    "push-\(batch)", sequence: UInt64(batch + 1), records: [Self.record("NL-PUSH-\(batch)")],
                    pushTo: peers))
            }
            let total = 15 * peers.count
            let now = Date().addingTimeInterval(1)
            let claimed = try await withThrowingTaskGroup(of: [OutboxClaim].self) { group in
                for store in stores {
                    for _ in 0..<2 {
                        group.addTask {
                            var mine: [OutboxClaim] = []
                            for _ in 0..<40 {
                                let claims = try await store.claimPushes(now: now, limit: 3, seconds: 60)
                                if claims.isEmpty { break }
                                mine += claims
                            }
                            return mine
                        }
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            let ids = claimed.map(\.entry.id)
            #expect(ids.count == total, "every entry claimed once: \(ids.count) of \(total)")
            #expect(Set(ids).count == ids.count, "an entry was handed to two claimers")
            #expect(try await stores[0].claimPushes(now: now, limit: 100, seconds: 60).isEmpty, "all leased")
            let due = try #require(try await stores[1].nextPushDue())
            #expect(abs(due.timeIntervalSince(now.addingTimeInterval(60))) < 1, "due when the leases run out")

            // A lease that ran out: another process claims the entry again; the first holder's late result is
            // refused, the new holder's is kept; the entry is delivered, not dead.
            let first = claimed[0]
            let later = now.addingTimeInterval(61)
            let retaken = try await stores[1].claimPushes(now: later, limit: 100, seconds: 60)
            let again = try #require(retaken.first { $0.entry.id == first.entry.id })
            #expect(again.token != first.token)
            let audit = AuditEntry(callerCountry: "NL", callerFingerprint: "ab", action: "batch-out",
                                   target: first.entry.batchId, result: "ok")
            #expect(try await stores[0].recordPushDelivered(first, receipt: [1], at: later, audit: audit) == false)
            #expect(try await stores[0].recordPushFailure(first, error: "late", retryAt: nil, at: later) == false)
            #expect(try await stores[1].recordPushDelivered(again, receipt: [2], at: later, audit: audit))
            #expect(try await stores[1].recordPushFailure(again, error: "after", retryAt: nil, at: later) == false)
            let entry = try #require(try await stores[0].outbox(peer: first.entry.peer)
                .first { $0.id == first.entry.id })
            #expect(entry.state == .delivered)

            // A failure with a retry clears the lease: the entry is claimable again at the retry time.
            let other = try #require(retaken.first { $0.entry.id != first.entry.id })
            #expect(try await stores[0].recordPushFailure(other, error: "503", retryAt: later, at: later))
            let reclaimed = try await stores[0].claimPushes(now: later, limit: 100, seconds: 60)
            #expect(reclaimed.map(\.entry.id) == [other.entry.id])
        }
    }

    @Test("a wake-up sent by one process's ingest reaches the other's outbox loop")
    func wakeUpReachesOtherProcess() async throws {
        try await Self.withStores("wake") { stores, _ in
            let wakeups = stores[0].outboxWakeups()
            let counter = WakeCounter()
            let consumer = Task { for await _ in wakeups { counter.add() } }
            defer { consumer.cancel() }
            #expect(await counter.reaches(1, within: .seconds(10)), "the wake-up after the listener connected")
            // A batch that queues no push sends none.
            _ = try await Self.ingest(stores[1], Self.submission("quiet", sequence: 1,
                                                                 records: [Self.record("NL-QUIET")]))
            try await Task.sleep(for: .milliseconds(700))
            #expect(counter.value == 1, "no push queued: no wake-up")
            _ = try await Self.ingest(stores[1], Self.submission("loud", sequence: 2,
                                                                 records: [Self.record("NL-LOUD")], pushTo: ["DE"]))
            #expect(await counter.reaches(2, within: .seconds(10)), "the other process's NOTIFY")
        }
    }

    // MARK: - Pulls

    @Test("pull leases: one holder at a time, and a stale lease or cursor keeps nothing")
    func pullCompareAndSet() async throws {
        try await Self.withStores("pulls") { stores, test in
            let now = Date()
            let tokenA = UUID(), tokenB = UUID()
            // Both processes claim the same peer at once: one gets it.
            let leases = try await withThrowingTaskGroup(of: PullLease?.self) { group in
                for (store, token) in zip(stores, [tokenA, tokenB]) {
                    group.addTask { try await store.claimPull(peer: "BE", token: token, now: now, seconds: 30) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(leases.compactMap { $0 }.count == 1, "\(leases)")
            let holderIndex = leases[0] != nil ? 0 : 1
            let lease = try #require(leases[holderIndex])
            let holder = stores[holderIndex], other = stores[1 - holderIndex]
            let audit = AuditEntry(callerCountry: "BE", callerFingerprint: "cd", action: "feed-in", target: "BE",
                                   result: "ok")
            let records = [IncomingRecord(recordId: "BE-PULL-1", revision: 1, kind: "seizure", status: .active,
                                          handlingCode: .h1, xml: "<Seizure/>")]
            let (outcomes, renewed) = try await holder.applyPulled(records, lease: lease, cursor: "10",
                                                                   at: now.addingTimeInterval(1), audit: audit)
            #expect(outcomes.map(\.result) == [.accepted])
            #expect(renewed.cursor == "10")

            // The old lease value (cursor nil) no longer matches: compare-and-set refuses, nothing is kept.
            let stale = await #expect(throws: StoreError.self) {
                _ = try await holder.applyPulled([IncomingRecord(recordId: "BE-PULL-2", revision: 1, kind: "seizure",
                                                                 status: .active, handlingCode: .h1, xml: "<S/>")],
                                                 lease: lease, cursor: "5", at: now.addingTimeInterval(2), audit: audit)
            }
            #expect(stale?.code == .conflict)

            // The lease runs out; the other process takes it over; the first one's page is refused.
            let later = now.addingTimeInterval(31)
            let taken = try #require(try await other.claimPull(peer: "BE", token: UUID(), now: later, seconds: 30))
            #expect(taken.cursor == "10")
            let lost = await #expect(throws: StoreError.self) {
                _ = try await holder.applyPulled([IncomingRecord(recordId: "BE-PULL-3", revision: 1, kind: "seizure",
                                                                 status: .active, handlingCode: .h1, xml: "<S/>")],
                                                 lease: renewed, cursor: "20", at: later, audit: audit)
            }
            #expect(lost?.code == .conflict)
            #expect(try await holder.claimPull(peer: "BE", token: renewed.token, now: later, seconds: 30) == nil)
            #expect(try await other.pullCursor(peer: "BE") == "10", "the cursor never moved backwards or sideways")
            #expect(try await Self.count(test, "SELECT count(*) FROM revisions") == 1, "nothing of a refused page")

            _ = try await other.applyPulled([], lease: taken, cursor: "11", at: later, audit: audit)
            try await other.releasePull(taken, error: nil, at: later)
            #expect(try await holder.claimPull(peer: "BE", token: tokenA, now: later, seconds: 30) != nil,
                    "released: free to claim")
            #expect(try await holder.pullCursor(peer: "BE") == "11")
        }
    }

    // MARK: - Availability

    @Test("the server stopped in immediate mode: unavailable while down, and the same store works once it is back")
    func survivesServerRestart() async throws {
        try await PostgresTestServer.withPrivateCluster { cluster in
            let test = try await PostgresTestServer.freshDatabase("down", on: cluster)
            let store = try await PostgresNodeStore.open(configuration: try test.configuration(
                poolSize: 2, acquireTimeout: .seconds(2)), migrate: true)
            do {
                _ = try await Self.ingest(store, Self.submission("before", sequence: 1,
                                                                 records: [Self.record("NL-BEFORE")]))

                try await PostgresTestServer.run(["stop", cluster.directory, "--immediate"])
                for attempt in 0..<2 {
                    let error = await #expect(throws: StoreError.self) {
                        _ = try await Self.ingest(store, Self.submission("during-\(attempt)", sequence: 2,
                                                                         records: [Self.record("NL-DURING")]))
                    }
                    #expect(error?.code == .unavailable, "\(String(describing: error))")
                    #expect(error?.isTransient == true)
                    let read = await #expect(throws: StoreError.self) { _ = try await store.counts(origin: nil) }
                    #expect(read?.code == .unavailable)
                }

                try await PostgresTestServer.run(["start", cluster.directory])
                let deadline = ContinuousClock.now + .seconds(30)
                var result: IngestResult?
                while result == nil {
                    do {
                        result = try await Self.ingest(store, Self.submission("after", sequence: 3,
                                                                              records: [Self.record("NL-AFTER")]))
                    } catch let error as StoreError where error.code == .unavailable && ContinuousClock.now < deadline {
                        try await Task.sleep(for: .milliseconds(200))
                    }
                }
                #expect(result.map(Self.kind) == .accepted)
                // Nothing of the refused batches was kept; what was committed before the crash is there.
                #expect(try await store.recordIds(origin: "NL") == ["NL-AFTER", "NL-BEFORE"])
            } catch {
                await store.close()
                throw error
            }
            await store.close()
        }
    }
}

/// A flag one task sets and another reads.
final class ManagedFlag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

/// Counts wake-ups a consumer task received.
final class WakeCounter: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
    /// Whether the count reaches `target` within `duration`.
    func reaches(_ target: Int, within duration: Duration) async -> Bool {
        let deadline = ContinuousClock.now + duration
        while value < target, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        return value >= target
    }
}
