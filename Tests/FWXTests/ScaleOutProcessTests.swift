// Issue 14 item 5: two `fwx serve` processes of node NL on one PostgreSQL database, each on its own port, and a
// partner node DE (`fwx serve` on SQLite). Four NL liaison lanes push to both processes at once (each retry goes to
// the other process, as behind a load balancer); NL pushes every batch to DE and pulls DE's feed every second
// (the two processes compete for the pull lease); a reader with DE's node certificate pages NL's feed from either
// process. Meanwhile one of the two NL processes at a time is killed with SIGKILL and restarted. Afterwards: every
// batch with a receipt is stored exactly once with that receipt, every queued push reached DE once, no outbox entry
// is dead, the pull cursor never moved backwards, and the incremental feed reader missed no record.
// Helpers: NodeCrashSupport.swift (the child processes, the planned batches, the lanes).
import FWXClient
import FWXConvert
import FWXModel
import FWXNode
import FWXPostgres
import FWXSigning
import FWXStore
import Foundation
import PostgresNIO
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("Scale-out: two fwx serve processes on one PostgreSQL database")
struct ScaleOutProcessTests {
    static let kills = 6
    static let lanes = 4

    @Test("""
        two fwx serve processes on one database, killed in turn during pushes and pulls: every acknowledged batch \
        stored once, every push delivered once, cursors never backwards, no record skipped by a feed reader
        """, .timeLimit(.minutes(4)))
    func twoProcessesKilledInTurn() async throws {
        guard let fwx = Paths.fwx else {
            throw TestSupportError("the fwx binary was not found in \(Paths.binaryFolders.map(\.path)); "
                + "run `swift build --build-tests` first")
        }
        let testStarted = Date()
        let database = try await PostgresTestServer.freshDatabase("twoserve")
        let base = try await CrashNodeSetup.make()
        let nlA = CrashNodeSetup(folder: base.folder, port: try unusedLocalPort(), name: "nl-a")
        let nlB = CrashNodeSetup(folder: base.folder, port: try unusedLocalPort(), name: "nl-b")
        let de = CrashNodeSetup(folder: base.folder, port: try unusedLocalPort(), name: "de", country: "DE")
        for process in [nlA, nlB] {
            try Self.writeNL(process, listenPort: process.port, address: nlA, database: database, de: de)
        }
        try Self.writeDE(de, nl: nlA)
        let nodes = [CrashNodeProcess(executable: fwx, setup: nlA), CrashNodeProcess(executable: fwx, setup: nlB)]
        let partner = CrashNodeProcess(executable: fwx, setup: de)
        defer {
            for node in nodes + [partner] { node.stop(signal: SIGKILL, timeout: 5) }
            if ProcessInfo.processInfo.environment["FWX_KEEP_CRASH_FOLDER"] == nil { base.remove() }
        }
        let seed = ProcessInfo.processInfo.environment["FWX_CRASH_SEED"].flatMap { UInt64($0) }
            ?? UInt64(Date().timeIntervalSince1970 * 1000)
        var random = SeededRandom(seed: seed)
        // Both NL processes start together on the empty database: the migration runs once.
        try partner.start()
        for node in nodes { try node.start() }
        try await partner.waitUntilHealthy(timeout: 30)
        for node in nodes { try await node.waitUntilHealthy(timeout: 30) }
        let store = try await PostgresNodeStore.open(configuration: try database.configuration(poolSize: 2),
                                                     migrate: false)

        // 1. Load: NL lanes to both processes, a DE liaison feeding DE (which NL pulls), a feed reader on NL, and a
        // sampler of NL's pull cursor for DE.
        let pushStarted = Date()
        let control = CrashControl(planner: try CrashPlanner(seed: seed), maxBatches: 3000,
                                   takeDeadline: pushStarted.addingTimeInterval(30),
                                   retryDeadline: pushStarted.addingTimeInterval(40))
        let deControl = CrashControl(planner: try CrashPlanner(seed: seed &+ 99, sender: "DE"), maxBatches: 40,
                                     takeDeadline: pushStarted.addingTimeInterval(30),
                                     retryDeadline: pushStarted.addingTimeInterval(40))
        let laneTasks = (0..<Self.lanes).map { lane in
            Task { try await crashRunLane(lane, control: control, setup: nlA, seed: seed, targets: [nlA, nlB]) }
        }
        let deLane = Task {
            try await crashRunLane(0, control: deControl, setup: de, seed: seed &+ 5, pause: .milliseconds(700))
        }
        let readerDone = ScaleOutFlag()
        let reader = Task { try await Self.readFeedIncrementally(from: [nlA, nlB], until: readerDone) }
        let sampler = Task { await Self.sampleCursor(store, peer: "DE") }

        var killed: [String] = []
        var killProblem: (any Error)?
        do {
            for _ in 0..<Self.kills {
                try await Task.sleep(for: .milliseconds(1000 + Int(random.next() % 2500)))
                let victim = Int((random.next() >> 33) % 2)
                let node = nodes[victim]
                killed.append(node.setup.name)
                let exit = try await offPool { [node] in node.stop(signal: SIGKILL, timeout: 10) }
                #expect(exit?.reason == .uncaughtSignal && exit?.status == SIGKILL,
                        "\(node.setup.name) ran until it was killed (\(String(describing: exit))); log:\n\(node.setup.logTail())")
                try node.start()
                await control.noteRestart()
                try await node.waitUntilHealthy(timeout: 30)
            }
            let waitStarted = Date()
            while await control.deliveredSinceRestart < 8, Date().timeIntervalSince(waitStarted) < 15 {
                try await Task.sleep(for: .milliseconds(50))
            }
        } catch {
            killProblem = error
        }
        await control.stop()
        await deControl.stop()
        var laneResults: [Result<[CrashSentBatch], any Error>] = []
        for task in laneTasks { laneResults.append(await task.result) }
        let deResult = await deLane.result
        if let killProblem {
            readerDone.set()
            sampler.cancel()
            await store.close()
            throw killProblem
        }
        var sent = try laneResults.flatMap { try $0.get() }.sorted { $0.index < $1.index }
        var deSent = try deResult.get()
        let expectedLatest = await control.expectedLatest
        let deExpected = await deControl.expectedLatest
        let acknowledgedUnderLoad = sent.filter(\.acknowledged).count
        #expect(sent.map(\.index) == Array(0..<sent.count), "every planned batch was sent exactly once")
        #expect(acknowledgedUnderLoad >= 20, "the lanes got receipts under the kills (\(acknowledgedUnderLoad))")
        let problems = (sent + deSent).compactMap { batch in
            batch.refusal.map { "batch \(batch.index): \($0)" } ?? batch.retryAnswers.first.map {
                "batch \(batch.index): \($0)"
            }
        }
        #expect(problems.isEmpty, "every HTTP answer was a verified receipt, never a refusal: \(problems.prefix(5))")

        // 2. Batches never acknowledged are sent again (to either process) until they are; then every batch is
        // sent again to each process and must get back its receipt byte for byte.
        let exchanges = try [nlA, nlB].map { try $0.liaisonExchange() }
        let resendDeadline = Date().addingTimeInterval(30)
        for position in sent.indices where !sent[position].acknowledged {
            sent[position].retryAnswers = []
            await crashDeliver(&sent[position], via: exchanges, until: resendDeadline, random: &random)
            #expect(sent[position].acknowledged, "batch \(sent[position].index) is accepted when sent again")
        }
        let deExchange = try de.liaisonExchange()
        for position in deSent.indices where !deSent[position].acknowledged {
            await crashDeliver(&deSent[position], via: deExchange, until: resendDeadline, random: &random)
        }
        let crashTests = NodeCrashTests()
        for exchange in exchanges {
            let same = try await crashTests.resendAll(sent, via: exchange)
            #expect(same == sent.count, "each process returns every batch's receipt (\(same) of \(sent.count))")
        }
        for batch in sent { crashTests.checkReceipt(batch) }

        // 3. Every push reaches DE, and NL holds all of DE's records (pulled by whichever process held the lease).
        let sentIds = Set(sent.map(\.header.batchId))
        var outbox: [OutboxEntry] = []
        let delivered = try await nodeTestEventually(seconds: 60) {
            outbox = try await store.outbox(peer: "DE")
            return outbox.count == sent.count && outbox.allSatisfy { $0.state == .delivered }
        }
        #expect(delivered, """
            every queued push was delivered (\(outbox.count) entries for \(sent.count) batches; \
            \(outbox.filter { $0.state == .dead }.count) dead, \(outbox.filter { $0.state == .queued }.count) queued)
            """)
        #expect(Set(outbox.map(\.batchId)) == sentIds, "one outbox entry per batch, for DE")
        let pulled = try await nodeTestEventually(seconds: 30) {
            try await store.counts(origin: "DE").records == deExpected.count
        }
        #expect(pulled, "NL pulled every DE record (\(deExpected.count))")
        readerDone.set()
        let feed = try await reader.value
        sampler.cancel()
        let cursors = await sampler.value

        // 4. NL's database: each batch once, with the receipt its liaison got; the latest revisions as planned.
        let snapshot = sent
        try await PostgresStoreDatabase.withDatabase(try database.configuration(poolSize: 1)) { raw in
            let rows = try await raw.query(PostgresQuery(unsafeSQL: """
                SELECT batch_id, coalesce(encode(receipt, 'hex'), '') FROM batches WHERE sender_country = 'NL'
                """)) { try $0.decode((String, String).self) }
            #expect(rows.count == snapshot.count && Set(rows.map(\.0)) == sentIds,
                    "NL stores each sent batch once (\(rows.count) rows for \(snapshot.count) batches)")
            let receipts = Dictionary(rows, uniquingKeysWith: { first, _ in first })
            let differing = snapshot.filter { receipts[$0.header.batchId] != $0.receiptXML?.crashHex.lowercased() }
            #expect(differing.isEmpty, "the stored receipt is the one the liaison got (\(differing.count) differ)")
            let revisionsPerRecord = try await raw.query(PostgresQuery(unsafeSQL: """
                SELECT count(*) FROM records r WHERE r.revision <> (SELECT max(revision) FROM revisions v
                                                                    WHERE v.record_id = r.record_id)
                """)) { try $0.decode(Int.self) }
            #expect(revisionsPerRecord == [0], "every record's latest revision is its highest")
        }
        try await crashTests.checkThroughStore(store, sent: sent, expected: expectedLatest)
        await store.close()

        // 5. The feed reader that paged either process during the kills saw every record at its latest revision.
        #expect(feed.problems.isEmpty, "feed paging problems: \(feed.problems.prefix(5))")
        let missed = expectedLatest.filter { feed.latestRevision[$0.key] != $0.value.revision }
        #expect(missed.isEmpty, """
            the incremental reader saw every record at its latest revision (\(missed.count) of \(expectedLatest.count) \
            missed or stale)
            """)

        // 6. The pull cursor for DE only ever moved forward.
        #expect(cursors.backwards.isEmpty, "NL's pull cursor for DE moved backwards: \(cursors.backwards.prefix(5))")
        #expect(cursors.samples > 10 && cursors.distinct > 1, "the cursor was sampled as it moved (\(cursors))")

        // 7. All three stop cleanly on SIGTERM; DE holds every NL batch once and NL's latest revisions.
        for node in nodes + [partner] {
            let exit = try await offPool { [node] in node.stop(signal: SIGTERM, timeout: 15) }
            #expect(exit?.reason == .exit && exit?.status == 0,
                    "SIGTERM stops \(node.setup.name) cleanly (\(String(describing: exit)))")
        }
        if CrashSQLite.executable != nil {
            let atDE = try CrashSQLite.batches(de.storePath).filter { $0.agency.hasPrefix("NL-") }
            #expect(atDE.count == sent.count && Set(atDE.map(\.batchId)) == sentIds,
                    "DE stores every NL batch once (\(atDE.count) of \(sent.count))")
            let latestAtDE = Dictionary(try CrashSQLite.latest(de.storePath, origin: "NL").map { ($0.recordId, $0.revision) },
                                        uniquingKeysWith: max)
            #expect(latestAtDE == expectedLatest.mapValues(\.revision), "DE holds NL's latest revisions")
        }
        print("""
            two-process test (seed \(seed)): killed \(killed); \(sent.count) NL batches \
            (\(acknowledgedUnderLoad) acknowledged under load, \(sent.map(\.transportFailures).reduce(0, +)) requests \
            without an answer), \(expectedLatest.count) records; \(deSent.count) DE batches pulled; feed read in \
            \(feed.pages) pages; cursor sampled \(cursors.samples) times (\(cursors.distinct) values); \
            \(String(format: "%.1f", Date().timeIntervalSince(testStarted))) s
            """)
    }

    // MARK: Configuration

    /// One process of node NL: the shared database, its own listen port, the node address `address` (the same for
    /// both: one identity), pushing to DE and pulling DE every second, with short leases so that a killed process's
    /// claims are taken over within the test.
    static func writeNL(_ setup: CrashNodeSetup, listenPort: Int, address: CrashNodeSetup,
                        database: PostgresTestDatabase, de: CrashNodeSetup) throws {
        let yaml = """
            # FWX two-process test, node NL (test-only credentials, generated by scripts/test-pki)
            node: {country: NL, agency: NL-FWX-NODE, baseURL: "\(address.baseURL)"}
            listen: {host: 127.0.0.1, port: \(listenPort)}
            tls: {certificate: pki/NL/node-tls.pem, key: pki/NL/node-tls.key.pem}
            signing: {certificate: pki/NL/node-signing.pem, key: pki/NL/node-signing.key.pem}
            trust: {directory: pki/trust}
            store:
              postgres: {url: "\(database.url)", passwordFile: "\(database.cluster.passwordFile)", poolSize: 4, connectTimeoutSeconds: 2}
            limits: {requestsPerMinutePerPeer: 1000000, maxConcurrentBatches: 8}
            outbox: {initialBackoffSeconds: 0.2, maxBackoffSeconds: 1, maxAttempts: 1000, leaseSeconds: 4, pullLeaseSeconds: 3}
            log: {level: error}
            peers:
              - country: DE
                baseURL: "\(de.baseURL)"
                ca: pki/DE/ca.pem
                push: true
                pullEverySeconds: 1
                handlingCodes: [H0, H1, H2, H3]

            """
        try yaml.write(toFile: setup.configPath, atomically: true, encoding: .utf8)
    }

    /// Node DE on SQLite: takes NL's pushes, serves its own liaison's batches to NL's pulls.
    static func writeDE(_ setup: CrashNodeSetup, nl: CrashNodeSetup) throws {
        let yaml = """
            # FWX two-process test, node DE (test-only credentials, generated by scripts/test-pki)
            node: {country: DE, agency: DE-FWX-NODE, baseURL: "\(setup.baseURL)"}
            listen: {host: 127.0.0.1, port: \(setup.port)}
            tls: {certificate: pki/DE/node-tls.pem, key: pki/DE/node-tls.key.pem}
            signing: {certificate: pki/DE/node-signing.pem, key: pki/DE/node-signing.key.pem}
            trust: {directory: pki/trust}
            store: {sqlite: data/de.sqlite}
            # Room for the pushes of both NL processes and its own liaison at once: admission (503) is not tested here.
            limits: {requestsPerMinutePerPeer: 1000000, maxConcurrentBatches: 16}
            log: {level: error}
            peers:
              - country: NL
                baseURL: "\(nl.baseURL)"
                ca: pki/NL/ca.pem
                push: false
                handlingCodes: [H0, H1, H2, H3]

            """
        try yaml.write(toFile: setup.configPath, atomically: true, encoding: .utf8)
    }

    // MARK: Readers

    struct IncrementalFeed: Sendable {
        var latestRevision: [String: Int] = [:]
        var pages = 0
        var problems: [String] = []
    }

    /// Pages NL's feed as node DE, from cursor 0, alternating between the processes (the other one after a failed
    /// request); once `done` is set it reads on to the end and returns the highest revision seen of each record.
    static func readFeedIncrementally(from processes: [CrashNodeSetup], until done: ScaleOutFlag) async throws
        -> IncrementalFeed
    {
        let exchanges = try processes.map { try $0.peerExchangeAsDE() }
        let pageSize = 25
        let check = FeedPageCheck(trust: exchanges[0].trust, maxRecords: pageSize)
        var feed = IncrementalFeed()
        var cursor: Int64 = 0
        var turn = 0
        var failures = 0
        let deadline = Date().addingTimeInterval(180)
        while Date() < deadline {
            let finishing = done.isSet
            turn += 1
            let page: PeerExchange.FeedResponse
            do {
                page = try await exchanges[turn % exchanges.count].fetchFeed(after: String(cursor), limit: pageSize)
            } catch {
                failures += 1
                try await Task.sleep(for: .milliseconds(50))
                continue
            }
            let records = try await check.records(in: page.signedBatch, from: "NL", name: "NL feed after \(cursor)")
            feed.pages += 1
            guard let next = Int64(page.nextCursor), records.isEmpty ? next == cursor : next > cursor else {
                feed.problems.append("page after \(cursor) moves the cursor to \(page.nextCursor)")
                break
            }
            for record in records {
                feed.latestRevision[record.recordId] = max(feed.latestRevision[record.recordId] ?? 0, record.revision)
            }
            cursor = next
            if !page.more {
                if finishing { return feed }
                try await Task.sleep(for: .milliseconds(150))
            }
        }
        feed.problems.append("the reader did not reach the end within 180 s (\(failures) failed requests)")
        return feed
    }

    struct CursorSamples: Sendable, CustomStringConvertible {
        var samples = 0
        var distinct = 0
        var backwards: [String] = []
        var description: String { "\(samples) samples, \(distinct) values, \(backwards.count) backwards" }
    }

    /// Reads NL's pull cursor for `peer` every 50 ms until cancelled; notes every step backwards.
    static func sampleCursor(_ store: PostgresNodeStore, peer: String) async -> CursorSamples {
        var result = CursorSamples()
        var last: Int64 = -1
        var seen = Set<Int64>()
        while !Task.isCancelled {
            if let text = try? await store.pullCursor(peer: peer), let value = Int64(text) {
                result.samples += 1
                if value < last { result.backwards.append("\(last) -> \(value)") }
                last = max(last, value)
                seen.insert(value)
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        result.distinct = seen.count
        return result
    }
}

/// A flag set once, read from any task.
final class ScaleOutFlag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
