// The node is killed with SIGKILL repeatedly during continuous pushes and restarted; afterwards every batch that
// received a receipt is stored exactly once and the feed is consistent. Runs the built `fwx serve` as a child
// process on 127.0.0.1 with a test PKI; four liaison lanes push signed batches (fresh records, new revisions,
// withdrawals) over mutual TLS the whole time, each under its own agency id and sequence numbers. Helpers:
// NodeCrashSupport.swift.
import FWXClient
import FWXConvert
import FWXModel
import FWXNode
import FWXSigning
import FWXStore
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("Node crash: SIGKILL during continuous pushes")
struct NodeCrashTests {
    /// Kills during the pushes. FWX_CRASH_SEED repeats a run (the seed is printed).
    static let kills = 7
    static let lanes = 4

    @Test("""
        a node killed with SIGKILL during pushes keeps every acknowledged batch exactly once, and its feed is \
        consistent
        """, .timeLimit(.minutes(3)))
    func killedDuringPushes() async throws {
        guard let fwx = Paths.fwx else {
            throw TestSupportError("the fwx binary was not found in \(Paths.binaryFolders.map(\.path)); "
                + "run `swift build --build-tests` first")
        }
        let testStarted = Date()
        let setup = try await CrashNodeSetup.make()
        let node = CrashNodeProcess(executable: fwx, setup: setup)
        defer {
            node.stop(signal: SIGKILL, timeout: 5)
            if ProcessInfo.processInfo.environment["FWX_KEEP_CRASH_FOLDER"] == nil { setup.remove() }
        }
        let seed = ProcessInfo.processInfo.environment["FWX_CRASH_SEED"].flatMap { UInt64($0) }
            ?? UInt64(Date().timeIntervalSince1970 * 1000)
        var random = SeededRandom(seed: seed)
        try node.start()
        try await node.waitUntilHealthy(timeout: 30)

        // 1. The lanes push continuously; meanwhile the node is killed at random moments and restarted.
        let pushStarted = Date()
        let control = CrashControl(planner: try CrashPlanner(seed: seed), maxBatches: 3000,
                                   takeDeadline: pushStarted.addingTimeInterval(40),
                                   retryDeadline: pushStarted.addingTimeInterval(50))
        let laneTasks = (0..<Self.lanes).map { lane in
            Task { try await crashRunLane(lane, control: control, setup: setup, seed: seed) }
        }
        var restartSeconds: [Double] = []
        var killProblem: (any Error)?
        var deliveredAtKill: [Int] = []
        do {
            for _ in 0..<Self.kills {
                try await Task.sleep(for: .milliseconds(200 + Int(random.next() % 1300)))
                deliveredAtKill.append(await control.delivered)
                let exit = try await offPool { [node] in node.stop(signal: SIGKILL, timeout: 10) }
                #expect(exit?.reason == .uncaughtSignal && exit?.status == SIGKILL,
                        "node NL ran until it was killed (exit \(String(describing: exit))); log:\n\(setup.logTail())")
                try node.start()
                await control.noteRestart()
                restartSeconds.append(try await node.waitUntilHealthy(timeout: 30))
            }
            // The node must take batches again after its last crash.
            let waitStarted = Date()
            while await control.deliveredSinceRestart < 8, Date().timeIntervalSince(waitStarted) < 15 {
                try await Task.sleep(for: .milliseconds(50))
            }
        } catch {
            killProblem = error
        }
        await control.stop()
        // Every lane ends (each is bounded by the control's deadlines) before any error is thrown.
        var laneResults: [Result<[CrashSentBatch], any Error>] = []
        for task in laneTasks { laneResults.append(await task.result) }
        if let killProblem { throw killProblem }
        var sent = try laneResults.flatMap { try $0.get() }
        let deliveredAfterLastRestart = await control.deliveredSinceRestart
        // The store is inspected as the last crash leaves it: killed, not stopped.
        try await offPool { [node] in _ = node.stop(signal: SIGKILL, timeout: 10) }
        sent.sort { $0.index < $1.index }
        let expectedLatest = await control.expectedLatest

        #expect(sent.map(\.index) == Array(0..<sent.count), "every planned batch was sent exactly once, in one lane")
        #expect(sent.count >= 20, "the lanes pushed continuously (\(sent.count) batches)")
        #expect(deliveredAfterLastRestart >= 8,
                "the node took batches again after its last restart (\(deliveredAfterLastRestart))")
        let refusals = sent.compactMap { batch in batch.refusal.map { "batch \(batch.index): \($0)" } }
        #expect(refusals.isEmpty,
                "no batch was refused (a re-send of the same bytes is never a 409): \(refusals.prefix(5))")
        let retryAnswers = sent.flatMap { batch in batch.retryAnswers.map { "batch \(batch.index): \($0)" } }
        #expect(retryAnswers.isEmpty, "every HTTP answer was a verified receipt: \(retryAnswers.prefix(5))")
        let acknowledgedInCrashPhase = sent.filter(\.acknowledged)
        #expect(acknowledgedInCrashPhase.count >= 20, "the lanes got receipts (\(acknowledgedInCrashPhase.count))")
        for batch in acknowledgedInCrashPhase { checkReceipt(batch) }

        // 2. Killed: SQLite is sound and holds each acknowledged batch once, with the receipt the liaison got.
        // These checks read the raw tables with the sqlite3 shell; without it they are skipped (with a note), and
        // the checks through the node and FWXStore's API below still run.
        let sqlite = CrashSQLite.executable != nil
        var storedAtCrashById: [String: CrashSQLite.BatchRow] = [:]
        var lostAnswers: Int?
        if sqlite {
            let integrity = try CrashSQLite.integrity(setup.storePath)
            #expect(integrity.integrity == "ok", "PRAGMA integrity_check after SIGKILL: \(integrity.integrity)")
            #expect(integrity.foreignKeys.isEmpty, "PRAGMA foreign_key_check after SIGKILL: \(integrity.foreignKeys)")
            let stored = try CrashSQLite.batches(setup.storePath)
            storedAtCrashById = Dictionary(stored.map { ($0.batchId, $0) }, uniquingKeysWith: { first, _ in first })
            checkStoredBatches(stored, against: sent, requireAll: false)
            checkRevisions(try CrashSQLite.revisions(setup.storePath),
                           latest: try CrashSQLite.latest(setup.storePath, origin: "NL"),
                           storedBatchIds: Set(storedAtCrashById.keys), acknowledged: acknowledgedInCrashPhase)
            lostAnswers = try CrashSQLite.rows(setup.storePath, """
                SELECT count(*) FROM audit WHERE action = 'batch-in' AND result = 'duplicate'
                """).first?.first.flatMap { Int($0) }
        } else {
            print("note: sqlite3 is not installed; the checks on the raw SQLite tables (integrity_check) are skipped")
        }
        let unacknowledged = sent.filter { !$0.acknowledged }
        let unacknowledgedButStored = unacknowledged.filter { storedAtCrashById[$0.header.batchId] != nil }
        let givenUp = sent.filter(\.abandoned).count

        // 3. Restarted: each batch never acknowledged gets a receipt now (the stored one when it was kept before the
        // crash, a new one kept now when the crash came between the commit and keeping the receipt), and sending any
        // batch again gives back exactly its receipt.
        try node.start()
        try await node.waitUntilHealthy(timeout: 30)
        let exchange = try setup.liaisonExchange()
        let resendDeadline = Date().addingTimeInterval(30)
        for position in sent.indices where !sent[position].acknowledged {
            sent[position].retryAnswers = []
            await crashDeliver(&sent[position], via: exchange, until: resendDeadline, random: &random)
            let batch = sent[position]
            #expect(batch.acknowledged && batch.refusal == nil && batch.retryAnswers.isEmpty,
                    """
                    batch \(batch.index) never acknowledged during the crashes is accepted when sent again: \
                    \(batch.refusal ?? batch.retryAnswers.first ?? "no answer")
                    """)
            // A receipt is signed after the commit and kept next: a crash in between leaves the batch stored
            // without one (an empty receipt), and the re-send signs and keeps it.
            if let stored = storedAtCrashById[batch.header.batchId], !stored.receiptHex.isEmpty,
               let xml = batch.receiptXML {
                #expect(xml.crashHex == stored.receiptHex,
                        "batch \(batch.index) was stored before the crash: sending it again returns the stored receipt")
            }
            checkReceipt(batch)
        }
        let resentSame = try await resendAll(sent, via: exchange)
        #expect(resentSame == sent.count,
                "sending every batch again returned its receipt byte for byte (\(resentSame) of \(sent.count))")

        // 4. Node DE reads NL's feed, page by page, from the start.
        let feed = try await readFeed(setup)

        // 5. Stopped gracefully; the final store is compared with what the liaisons were told and planned.
        let exit = try await offPool { [node] in node.stop(signal: SIGTERM, timeout: 15) }
        #expect(exit?.reason == .exit && exit?.status == 0,
                "SIGTERM stops the node cleanly (\(String(describing: exit)))")
        var latestAtEnd: [CrashSQLite.LatestRow]?
        if sqlite {
            let integrity = try CrashSQLite.integrity(setup.storePath)
            #expect(integrity.integrity == "ok", "PRAGMA integrity_check at the end: \(integrity.integrity)")
            #expect(integrity.foreignKeys.isEmpty, "PRAGMA foreign_key_check at the end: \(integrity.foreignKeys)")
            let stored = try CrashSQLite.batches(setup.storePath)
            checkStoredBatches(stored, against: sent, requireAll: true)
            let latest = try CrashSQLite.latest(setup.storePath, origin: "NL")
            let revisions = try CrashSQLite.revisions(setup.storePath)
            checkRevisions(revisions, latest: latest, storedBatchIds: Set(stored.map(\.batchId)), acknowledged: sent)
            checkFinalState(sent: sent, revisions: revisions, latest: latest, expected: expectedLatest)
            latestAtEnd = latest
        }
        checkFeed(feed, latest: latestAtEnd, expected: expectedLatest)
        let counts = try await checkThroughStore(setup.storePath, sent: sent, expected: expectedLatest)

        let outcomes = sent.flatMap { $0.receipt?.outcomes ?? [] }
        let failureCodes = sent.map(\.failureCodes).reduce(into: [String: Int]()) { $0.merge($1, uniquingKeysWith: +) }
            .sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        print("""
            node crash test (seed \(seed)): \(Self.kills) SIGKILLs (after \(deliveredAtKill) acknowledged batches), \
            restarts healthy after \(restartSeconds.map { String(format: "%.2f", $0) }) s; \
            \(sent.count) batches sent by \(Self.lanes) lanes, \(acknowledgedInCrashPhase.count) acknowledged during \
            the crashes, \(sent.map(\.transportFailures).reduce(0, +)) requests without an answer \
            (\(sent.map(\.cutOff).reduce(0, +)) cut off after connecting; \(failureCodes)), \
            \(unacknowledged.count) unacknowledged (\(givenUp) given up), of which \(unacknowledgedButStored.count) \
            were stored anyway; \(lostAnswers.map(String.init) ?? "?") receipts lost to a kill and returned again by \
            a re-send during the crashes; at the end \(counts.batches) batches, \(counts.revisions) revisions \
            (\(outcomes.filter { $0.result == .accepted }.count) accepted, \
            \(outcomes.filter { $0.result == .superseded }.count) superseded), \(counts.records) records \
            (\(counts.withdrawn) withdrawn), feed \(feed.records.count) records in \(feed.pages) pages; \
            \(String(format: "%.1f", Date().timeIntervalSince(testStarted))) s
            """)
    }

    // MARK: Checks

    /// A receipt names the batch, its digest and sender, and has one outcome per record, in order, none rejected.
    func checkReceipt(_ batch: CrashSentBatch) {
        guard let receipt = batch.receipt else { return }
        #expect(receipt.batchId == batch.header.batchId && receipt.batchDigest == batch.digest
                    && receipt.batchSender == batch.header.sender && receipt.receivingNode.country == "NL",
                "the receipt of batch \(batch.index) names the batch, its digest and its sender")
        #expect(receipt.outcomes.map(\.recordId) == batch.records.map(\.recordId)
                    && receipt.outcomes.map(\.revision) == batch.records.map(\.revision),
                "the receipt of batch \(batch.index) has one outcome per record, in batch order")
        let rejected = receipt.outcomes.filter { $0.result == .rejected }
        #expect(rejected.isEmpty, "batch \(batch.index): no record is rejected: \(rejected.prefix(3))")
    }

    /// Every acknowledged batch is stored once, with its digest, its record count and the very receipt the liaison
    /// got; a batch never acknowledged is stored at most once; nothing else is stored.
    func checkStoredBatches(_ rows: [CrashSQLite.BatchRow], against sent: [CrashSentBatch], requireAll: Bool) {
        var problems: [String] = []
        let rowsById = Dictionary(grouping: rows, by: \.batchId)
        for (id, copies) in rowsById where copies.count != 1 {
            problems.append("batch \(id) stored \(copies.count) times")
        }
        let sentIds = Set(sent.map(\.header.batchId))
        for row in rows where !sentIds.contains(row.batchId) { problems.append("unknown batch \(row.batchId) stored") }
        for batch in sent {
            guard let row = rowsById[batch.header.batchId]?.first else {
                if batch.acknowledged || requireAll {
                    problems.append("batch \(batch.index) (\(batch.header.batchId)) got a receipt but is not stored")
                }
                continue
            }
            if row.digest != batch.digest { problems.append("batch \(batch.index): stored digest differs") }
            if row.recordCount != batch.records.count { problems.append("batch \(batch.index): stored record count") }
            if row.agency != batch.header.sender.agencyId || row.sequence != batch.header.sequenceNumber {
                problems.append("batch \(batch.index): stored sender or sequence number differs")
            }
            if let xml = batch.receiptXML, xml.crashHex != row.receiptHex {
                problems.append("batch \(batch.index): the stored receipt is not the one the liaison got")
            }
        }
        #expect(problems.isEmpty, "\(problems.count) problem(s) with the stored batches: \(problems.prefix(10))")
    }

    /// Each accepted outcome of an acknowledged batch is stored once, from that batch; every stored revision comes
    /// from a stored batch; each record's latest row is its highest stored revision.
    func checkRevisions(_ revisions: [CrashSQLite.RevisionRow], latest: [CrashSQLite.LatestRow],
                        storedBatchIds: Set<String>, acknowledged: [CrashSentBatch]) {
        var problems: [String] = []
        struct Key: Hashable { var id: String; var revision: Int }
        let rowsByKey = Dictionary(grouping: revisions) { Key(id: $0.recordId, revision: $0.revision) }
        for (key, copies) in rowsByKey where copies.count != 1 {
            problems.append("\(key.id) revision \(key.revision) stored \(copies.count) times")
        }
        for row in revisions where row.batchId.map({ !storedBatchIds.contains($0) }) ?? true {
            problems.append("\(row.recordId) revision \(row.revision) comes from no stored batch")
        }
        for batch in acknowledged {
            for outcome in batch.receipt?.outcomes ?? [] {
                let rows = rowsByKey[Key(id: outcome.recordId, revision: outcome.revision)] ?? []
                switch outcome.result {
                case .accepted:
                    if rows.count != 1 || rows.first?.batchId != batch.header.batchId {
                        problems.append("\(outcome.recordId) revision \(outcome.revision), accepted in batch "
                            + "\(batch.index), is stored \(rows.count) times (batch \(rows.first?.batchId ?? "-"))")
                    }
                case .superseded:
                    if rows.contains(where: { $0.batchId == batch.header.batchId }) {
                        problems.append("\(outcome.recordId) revision \(outcome.revision) is superseded in batch "
                            + "\(batch.index) but stored from it")
                    }
                case .rejected:
                    break
                }
            }
        }
        let highest = Dictionary(revisions.map { ($0.recordId, $0) }) { $0.revision >= $1.revision ? $0 : $1 }
        for row in latest {
            guard let top = highest[row.recordId] else {
                problems.append("\(row.recordId): latest row without a stored revision")
                continue
            }
            if top.revision != row.revision || top.seq != row.seq || top.status != row.status {
                problems.append("\(row.recordId): latest is revision \(row.revision) (seq \(row.seq)), "
                    + "the highest stored is \(top.revision) (seq \(top.seq))")
            }
        }
        if Set(latest.map(\.recordId)) != Set(highest.keys) {
            problems.append("the latest-revision table and the stored revisions name different records")
        }
        #expect(problems.isEmpty, "\(problems.count) problem(s) with the stored revisions: \(problems.prefix(10))")
    }

    /// With every batch acknowledged: the stored revisions are exactly the accepted outcomes, each (record, revision)
    /// is accepted at most once, a superseded one lost to a higher revision, and each record is at the latest
    /// revision planned for it, which is also the highest accepted one.
    func checkFinalState(sent: [CrashSentBatch], revisions: [CrashSQLite.RevisionRow], latest: [CrashSQLite.LatestRow],
                         expected: [String: Record]) {
        var problems: [String] = []
        struct Key: Hashable { var id: String; var revision: Int }
        var acceptedBy: [Key: [String]] = [:]
        var highestAccepted: [String: Int] = [:]
        for batch in sent {
            for outcome in batch.receipt?.outcomes ?? [] where outcome.result == .accepted {
                let key = Key(id: outcome.recordId, revision: outcome.revision)
                acceptedBy[key, default: []].append(batch.header.batchId)
                highestAccepted[outcome.recordId] = max(highestAccepted[outcome.recordId] ?? 0, outcome.revision)
            }
        }
        for (key, batches) in acceptedBy where batches.count != 1 {
            problems.append("\(key.id) revision \(key.revision) accepted by \(batches.count) batches")
        }
        let stored = Dictionary(revisions.map { (Key(id: $0.recordId, revision: $0.revision), $0.batchId ?? "") },
                                uniquingKeysWith: { first, _ in first })
        if stored.count != revisions.count || Set(stored.keys) != Set(acceptedBy.keys) {
            problems.append("stored revisions (\(revisions.count)) are not the accepted outcomes (\(acceptedBy.count))")
        }
        let latestById = Dictionary(latest.map { ($0.recordId, $0) }, uniquingKeysWith: { first, _ in first })
        for batch in sent {
            for outcome in batch.receipt?.outcomes ?? [] where outcome.result == .superseded {
                if (latestById[outcome.recordId]?.revision ?? 0) <= outcome.revision {
                    problems.append("\(outcome.recordId) revision \(outcome.revision) superseded without a higher one")
                }
            }
        }
        if Set(latestById.keys) != Set(expected.keys) {
            problems.append("the store holds \(latestById.count) records, \(expected.count) were sent")
        }
        for (id, record) in expected {
            guard let row = latestById[id] else { continue }
            if row.revision != record.revision || row.status != record.status.rawValue {
                problems.append("\(id) is at revision \(row.revision) \(row.status), expected \(record.revision) "
                    + "\(record.status.rawValue)")
            }
            if highestAccepted[id] != row.revision {
                problems.append("\(id): latest \(row.revision) is not the highest accepted \(highestAccepted[id] ?? 0)")
            }
        }
        #expect(problems.isEmpty, "\(problems.count) problem(s) in the final store: \(problems.prefix(10))")
    }

    /// The feed lists every record once, at its latest revision (withdrawn ones as withdrawn), in commit order.
    /// `latest` is the store's latest-revision table in commit order (nil without the sqlite3 shell).
    func checkFeed(_ feed: CrashFeed, latest: [CrashSQLite.LatestRow]?, expected: [String: Record]) {
        var problems = feed.problems
        let ids = feed.records.map(\.recordId)
        if Set(ids).count != ids.count {
            problems.append("\(ids.count - Set(ids).count) records listed more than once")
        }
        if let latest, ids != latest.map(\.recordId) {
            problems.append("the feed's order is not the store's commit order")
        }
        for record in feed.records {
            guard let planned = expected[record.recordId] else {
                problems.append("the feed lists unknown record \(record.recordId)")
                continue
            }
            if record.revision != planned.revision || record.status != planned.status {
                problems.append("\(record.recordId) in the feed at revision \(record.revision) \(record.status), "
                    + "expected \(planned.revision) \(planned.status)")
            }
        }
        let withdrawn = expected.values.filter { $0.status == .withdrawn }.count
        if feed.records.filter({ $0.status == .withdrawn }).count != withdrawn {
            problems.append("the feed does not list the \(withdrawn) withdrawn records as withdrawn")
        }
        if feed.records.count != expected.count {
            problems.append("the feed lists \(feed.records.count) records, \(expected.count) were sent")
        }
        #expect(withdrawn > 0, "the run withdrew records")
        #expect(problems.isEmpty, "\(problems.count) problem(s) in the feed: \(problems.prefix(10))")
    }

    /// The same facts through FWXStore's own API, as `fwx status` and the node read them.
    @discardableResult
    func checkThroughStore(_ path: String, sent: [CrashSentBatch], expected: [String: Record]) async throws
        -> StoreCounts
    {
        try await checkThroughStore(try SQLiteNodeStore(path: path), sent: sent, expected: expected)
    }

    /// The same checks on any store (the two-process test reads PostgreSQL through it).
    @discardableResult
    func checkThroughStore(_ store: any NodeStore, sent: [CrashSentBatch], expected: [String: Record]) async throws
        -> StoreCounts
    {
        let counts = try await store.counts(origin: "NL")
        let accepted = sent.flatMap { $0.receipt?.outcomes ?? [] }.filter { $0.result == .accepted }.count
        let withdrawn = expected.values.filter { $0.status == .withdrawn }.count
        #expect(counts.batches == sent.count && counts.records == expected.count && counts.revisions == accepted
                    && counts.withdrawn == withdrawn,
                """
                counts(origin: NL) \(counts): expected \(sent.count) batches, \(expected.count) records, \
                \(accepted) revisions, \(withdrawn) withdrawn
                """)
        #expect(try await store.recordIds(origin: "NL") == expected.keys.sorted(), "recordIds(origin: NL)")
        var problems: [String] = []
        for (id, record) in expected {
            let stored = try await store.record(id: id)
            if stored?.entry.revision != record.revision || stored?.entry.status != record.status
                || stored?.origin != "NL"
            {
                problems.append("record(id: \(id)) is \(String(describing: stored?.entry.revision)), "
                    + "expected revision \(record.revision) \(record.status)")
            }
        }
        #expect(problems.isEmpty, "\(problems.count) problem(s) reading records: \(problems.prefix(10))")
        // Each batch was kept by exactly one transaction: one `batch-in ok` audit entry per batch.
        let intake = try await store.audit(since: nil, peer: "NL", limit: nil).filter { $0.action == "batch-in" }
        let kept = Dictionary(grouping: intake.filter { $0.result == "ok" }, by: \.target).mapValues(\.count)
        #expect(kept.count == sent.count && kept.values.allSatisfy { $0 == 1 },
                """
                one `batch-in ok` audit entry per batch (\(kept.count) batches, \
                \(kept.values.filter { $0 != 1 }.count) with more than one)
                """)
        return counts
    }

    // MARK: Steps

    /// Sends every batch once more, four at a time; counts those whose answer is their receipt, byte for byte.
    func resendAll(_ sent: [CrashSentBatch], via exchange: PeerExchange) async throws -> Int {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            var pending = sent[...]
            var same = 0
            func addNext() {
                guard let batch = pending.popFirst() else { return }
                group.addTask {
                    guard let receipt = batch.receiptXML else { return false }
                    let result = try await exchange.push(batch.signed, batchId: batch.header.batchId,
                                                         digest: batch.digest)
                    guard case .delivered(_, let xml) = result else {
                        Issue.record("batch \(batch.index) sent again: \(result), expected its receipt")
                        return false
                    }
                    return xml == receipt
                }
            }
            for _ in 0..<4 { addNext() }
            while let isSame = try await group.next() {
                if isSame { same += 1 }
                addNext()
            }
            return same
        }
    }

    /// NL's feed as node DE reads it: every page from cursor 0, signature and content checked.
    func readFeed(_ setup: CrashNodeSetup) async throws -> CrashFeed {
        let exchange = try setup.peerExchangeAsDE()
        let pageSize = 37
        let check = FeedPageCheck(trust: exchange.trust, maxRecords: pageSize)
        var feed = CrashFeed()
        var cursor = "0"
        while feed.pages < 10_000 {
            let page = try await exchange.fetchFeed(after: cursor, limit: pageSize)
            let records = try await check.records(in: page.signedBatch, from: "NL", name: "NL feed after \(cursor)")
            feed.pages += 1
            if records.count != page.recordCount {
                feed.problems.append("page after \(cursor): FWX-Record-Count differs")
            }
            guard let before = Int64(cursor), let next = Int64(page.nextCursor) else {
                feed.problems.append("cursor \(page.nextCursor) is not a number")
                break
            }
            if records.isEmpty ? next != before : next <= before {
                feed.problems.append("page after \(cursor) moves the cursor to \(next)")
            }
            if page.more != (records.count == pageSize) { feed.problems.append("page after \(cursor): FWX-More") }
            feed.records += records
            cursor = page.nextCursor
            if !page.more { break }
        }
        return feed
    }
}

/// NL's feed as read by DE.
struct CrashFeed {
    var records: [IncomingRecord] = []
    var pages = 0
    var problems: [String] = []
}
