// What the backend-neutral store suite (StoreContractTests) runs on: a fresh store per test on each backend, more
// instances on the same data where the backend has several processes, batches built from the model types, and a
// reference of the entitlement rule computed from what a test wrote (never from what the store returns).
import FWXModel
import FWXNode
import FWXPostgres
import FWXStore
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

/// A store backend the contract suite runs against, each test unchanged on every case.
enum StoreBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// A fresh SQLite file in a temporary folder.
    case sqlite
    /// A fresh database in the shared PostgreSQL test cluster (PostgresTestServer).
    case postgres

    var testDescription: String { rawValue }

    /// Opens a fresh, empty store for one test, runs `body`, then closes every instance and removes the data.
    func withStore<T: Sendable>(_ name: String, _ body: (ContractStore) async throws -> T) async throws -> T {
        let store = try await open(name)
        do {
            let result = try await body(store)
            await store.close()
            return result
        } catch {
            await store.close()
            throw error
        }
    }

    private func open(_ name: String) async throws -> ContractStore {
        switch self {
        case .sqlite:
            let folder = FileManager.default.temporaryDirectory
                .appendingPathComponent("fwx-contract-\(name)-\(UUID().uuidString.prefix(8))", isDirectory: true)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let path = folder.appendingPathComponent("node.sqlite").path
            let store = try SQLiteNodeStore(path: path)
            // One process per SQLite file by design: "another process" is the same store.
            return ContractStore(backend: self, store: store, location: .sqlite(path: path), another: { store },
                                 removeData: { try? FileManager.default.removeItem(at: folder) })
        case .postgres:
            let database = try await PostgresTestServer.freshDatabase("contract\(name)")
            let settings = PostgresSettings(url: database.url, passwordFile: database.cluster.passwordFile,
                                            poolSize: 4)
            let store = try await makePostgresStore(settings, migrate: true)
            var more = settings
            more.poolSize = 2
            let another = more
            // Each further instance has its own pool, as another `fwx serve` process on the database would.
            return ContractStore(backend: self, store: store, location: .postgres(database),
                                 another: { try await makePostgresStore(another, migrate: false) },
                                 removeData: {})
        }
    }
}

/// Opens a PostgreSQL node store for the contract suite.
func makePostgresStore(_ settings: PostgresSettings, migrate: Bool) async throws -> any NodeStore {
    try await PostgresNodeStore.open(settings, migrate: migrate, logger: Logger(label: "fwx.contract-tests"))
}

/// Where a test's data lives, for the few checks that go round the store (the append-only audit trail).
enum StoreLocation: Sendable {
    case sqlite(path: String)
    case postgres(PostgresTestDatabase)
}

/// One test's store, and as many more instances on the same data as it asks for (closed with it).
final class ContractStore: Sendable {
    let backend: StoreBackend
    /// The first instance.
    let store: any NodeStore
    let location: StoreLocation
    private let makeAnother: @Sendable () async throws -> any NodeStore
    private let removeData: @Sendable () -> Void
    private let opened = Mutex<[any NodeStore]>([])

    init(backend: StoreBackend, store: any NodeStore, location: StoreLocation,
         another: @escaping @Sendable () async throws -> any NodeStore, removeData: @escaping @Sendable () -> Void) {
        self.backend = backend
        self.store = store
        self.location = location
        self.makeAnother = another
        self.removeData = removeData
    }

    /// `count` instances on this test's data: the first store and `count - 1` more. On PostgreSQL each is its own
    /// store with its own connection pool (as several node processes have); on SQLite, one process per file, the
    /// same store.
    func instances(_ count: Int) async throws -> [any NodeStore] {
        var stores: [any NodeStore] = [store]
        for _ in 1..<max(count, 1) {
            let another = try await makeAnother()
            if another as AnyObject !== store as AnyObject { opened.withLock { $0.append(another) } }
            stores.append(another)
        }
        return stores
    }

    func close() async {
        for other in opened.withLock({ $0 }) { await other.close() }
        await store.close()
        removeData()
    }

    /// What an error must not show of where the data lives: the SQLite path, the PostgreSQL database name.
    var locationText: String {
        switch location {
        case .sqlite(let path): return path
        case .postgres(let database): return database.name
        }
    }

    /// Tries to change and to delete audit rows round the store, with the backend's own client; returns what the
    /// backend answered to each (nil when it refused, as it must).
    func tamperWithAudit() async throws -> (updated: String?, deleted: String?) {
        switch location {
        case .sqlite(let path):
            func attempt(_ sql: String) throws -> String? {
                let result = try runProcess("/usr/bin/sqlite3", [path, sql], timeout: 30)
                return result.status == 0 ? "sqlite3 accepted `\(sql)`" : nil
            }
            return (try attempt("UPDATE audit SET result = 'rewritten'"), try attempt("DELETE FROM audit"))
        case .postgres(let database):
            return try await PostgresStoreDatabase.withDatabase(try database.configuration(poolSize: 1)) { db in
                func attempt(_ sql: String) async -> String? {
                    do {
                        try await db.execute(PostgresQuery(unsafeSQL: sql))
                        return "PostgreSQL accepted `\(sql)`"
                    } catch {
                        return nil
                    }
                }
                return (await attempt("UPDATE audit SET result = 'rewritten'"), await attempt("DELETE FROM audit"))
            }
        }
    }
}

// MARK: Batches

/// The times the tests pass as `now`: whole seconds from a start shortly before the test (so a store that compared
/// with its own clock would still find pushes queued by the test due), never a sleep.
struct Clock: Sendable {
    let start = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 5).rounded(.down))
    func at(_ seconds: Double) -> Date { start.addingTimeInterval(seconds) }
}

/// Two dates the store kept are the same instant (backends keep microseconds or a double of seconds).
func sameInstant(_ a: Date?, _ b: Date?) -> Bool {
    guard let a, let b else { return a == nil && b == nil }
    return abs(a.timeIntervalSince(b)) < 0.001
}

enum Contract {
    /// A record revision as the node hands it over: XML naming id and revision, facts naming them too, so what
    /// comes back shows which revision it is.
    static func record(_ id: String, revision: Int = 1, status: RecordStatus = .active, code: HandlingCode = .h1,
                       keys: [String] = [], facts: Bool = true) -> IncomingRecord {
        IncomingRecord(recordId: id, revision: revision, kind: "seizure", status: status, handlingCode: code,
                       xml: xml(id, revision, status), facts: facts ? self.facts(id, revision) : nil,
                       searchKeys: keys)
    }

    static func xml(_ id: String, _ revision: Int, _ status: RecordStatus = .active) -> String {
        "<Seizure><RecordId>\(id)</RecordId><Revision>\(revision)</Revision><Status>\(status.rawValue)</Status>"
            + "</Seizure>"
    }

    static func facts(_ id: String, _ revision: Int) -> [UInt8] { Array("facts \(id)#\(revision)".utf8) }

    static func audit(_ target: String, caller: String = "NL", action: String = "batch-in", result: String = "ok",
                      at: Date = Date()) -> AuditEntry {
        AuditEntry(at: at, callerCountry: caller, callerFingerprint: "fp-" + caller.lowercased(), action: action,
                   target: target, result: result)
    }

    static func batch(_ id: String, sender: String = "NL", agency: String? = nil, sequence: UInt64,
                      recipients: Recipients = .countries(["DE"]), records: [IncomingRecord], pushTo: [String] = [],
                      receivedAt: Date = Date(), digest: String? = nil) -> BatchSubmission {
        BatchSubmission(batchId: id, sender: NodeIdentity(country: sender, agencyId: agency ?? "\(sender)-FWX"),
                        sequenceNumber: sequence, recipients: recipients, digest: digest ?? "digest-of-\(id)",
                        signedBatch: Array("<Batch id=\"\(id)\"/>".utf8), records: records,
                        caller: CallerIdentity(country: sender, fingerprint: "fp-" + sender.lowercased()),
                        receivedAt: receivedAt, pushTo: pushTo)
    }

    /// Ingests a batch that must be stored now, keeps a receipt for it as the node would, and returns the outcomes.
    @discardableResult
    static func keep(_ submission: BatchSubmission, in store: any NodeStore) async throws -> [RecordOutcome] {
        let result = try await store.ingest(submission, audit: audit(submission.batchId, caller: submission.caller.country))
        guard case .accepted(let outcomes) = result else {
            throw TestSupportError("batch \(submission.batchId) was not accepted: \(result)")
        }
        _ = try await store.keepReceipt(batchId: submission.batchId, receipt: receipt(submission.batchId))
        return outcomes
    }

    static func receipt(_ batchId: String, _ variant: String = "") -> [UInt8] {
        Array("<Receipt batch=\"\(batchId)\"\(variant)/>".utf8)
    }

    /// Every candidate of `origin` that passes `prefilter` after `after`, paging with the position the store said,
    /// `limit` at a time, and the last position; checks the paging rules on the way.
    static func allCandidates(_ store: any NodeStore, origin: String, prefilter: VisibilityPrefilter,
                              after: Int64 = 0, limit: Int = 7, sourceLocation: Testing.SourceLocation = #_sourceLocation)
        async throws -> (candidates: [FeedCandidate], lastPosition: Int64)
    {
        var cursor = after
        var all: [FeedCandidate] = []
        for _ in 0..<10_000 {
            let page = try await store.feedCandidates(origin: origin, prefilter: prefilter, after: cursor, limit: limit)
            #expect(page.candidates.count <= limit, sourceLocation: sourceLocation)
            #expect(page.lastPosition >= cursor, "the position went back", sourceLocation: sourceLocation)
            if let first = page.candidates.first?.entry.sequence {
                #expect(first > cursor, "a page started at or before the position asked after",
                        sourceLocation: sourceLocation)
            }
            if let last = page.candidates.last?.entry.sequence {
                #expect(page.lastPosition >= last, sourceLocation: sourceLocation)
            }
            if page.candidates.count < limit {
                #expect(!page.more, "a short page says more follow", sourceLocation: sourceLocation)
            }
            all += page.candidates
            cursor = page.lastPosition
            if !page.more { return (all, cursor) }
        }
        throw TestSupportError("feedCandidates did not end after 10,000 pages")
    }

    static func conflictRule(_ result: IngestResult) -> String? {
        if case .conflict(let conflict) = result { return conflict.rule }
        return nil
    }

    /// A duplicate with this receipt and these outcomes (and, when given, received at `receivedAt`).
    static func isDuplicate(_ result: IngestResult, receipt: [UInt8]?, outcomes: [RecordOutcome],
                            receivedAt: Date? = nil) -> Bool {
        if case .duplicate(let kept, let duplicateOutcomes, let keptReceivedAt) = result {
            return kept == receipt && duplicateOutcomes == outcomes
                && (receivedAt.map { sameInstant($0, keptReceivedAt) } ?? true)
        }
        return false
    }

    /// The StoreError code a call threw, or nil when it threw none (or another error). What the error says shows
    /// no SQL, no file path and no record content (`hidden`: the store's location, XML written).
    static func storeErrorCode(hiding hidden: [String] = [], _ body: () async throws -> Void,
                               sourceLocation: Testing.SourceLocation = #_sourceLocation) async -> StoreError.Code? {
        do {
            try await body()
            return nil
        } catch let error as StoreError {
            let text = error.description + " " + error.message
            let shown = (hidden + ["SELECT ", "INSERT ", "UPDATE ", "DELETE ", " WHERE ", "/tmp/", "<Seizure"])
                .filter { !$0.isEmpty && text.contains($0) }
            #expect(shown.isEmpty, "the error shows \(shown): \(text)", sourceLocation: sourceLocation)
            return error.code
        } catch {
            Issue.record("expected a StoreError, got \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }
}

// MARK: The entitlement rule, as a reference

/// What a test wrote for one record: every kept revision's disclosure and the latest revision. The reference for
/// what the store must return, decided from the writes, never from the store's answer.
struct WrittenRecord: Sendable {
    var id: String
    var origin: String
    var revisions: [(revision: Int, status: RecordStatus, disclosure: Disclosure, keys: [String], facts: Bool)]

    var latest: (revision: Int, status: RecordStatus, disclosure: Disclosure, keys: [String], facts: Bool) {
        revisions.last!
    }

    /// The entitlement rule (as FWXNode's `Entitlement` states it): an active record when its latest revision is
    /// addressed to `caller` with a handling code the caller may receive; a withdrawn record also when any revision
    /// was, since the caller may hold that one.
    func allowed(caller: String, codes: Set<HandlingCode>) -> Bool {
        func lets(_ disclosure: Disclosure) -> Bool {
            disclosure.addresses(caller) && codes.contains(disclosure.handlingCode)
        }
        if lets(latest.disclosure) { return true }
        return latest.status == .withdrawn && revisions.contains { lets($0.disclosure) }
    }

    /// The union of every kept revision's recipients; nil when one went to every partner.
    var audience: Set<String>? {
        var countries = Set<String>()
        for revision in revisions {
            switch revision.disclosure.recipients {
            case .allPartners: return nil
            case .countries(let list): countries.formUnion(list)
            }
        }
        return countries
    }
}

/// A small deterministic generator (SplitMix64), so a failing case names a seed that reproduces it.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Recipients in one spelling (countries sorted), so disclosures compare whatever order a store keeps them in.
func normalised(_ disclosure: Disclosure) -> Disclosure {
    switch disclosure.recipients {
    case .allPartners: return disclosure
    case .countries(let countries):
        return Disclosure(recipients: .countries(Array(Set(countries)).sorted()), handlingCode: disclosure.handlingCode)
    }
}

/// Writes batches of one origin to a store, one per call with the next sequence number, keeping a receipt for each
/// as the node does, and remembers every revision the store accepted.
struct ContractWriter {
    let origin: String
    let agency: String
    private(set) var sequence: UInt64 = 0
    private(set) var written: [String: WrittenRecord] = [:]

    init(origin: String, agency: String? = nil) {
        self.origin = origin
        self.agency = agency ?? "\(origin)-FWX"
    }

    @discardableResult
    mutating func write(_ records: [IncomingRecord], to recipients: Recipients, in store: any NodeStore,
                        pushTo: [String] = [], receivedAt: Date = Date()) async throws -> [RecordOutcome] {
        sequence += 1
        let batch = Contract.batch("\(agency.lowercased())-\(sequence)", sender: origin, agency: agency,
                                   sequence: sequence, recipients: recipients, records: records, pushTo: pushTo,
                                   receivedAt: receivedAt)
        let outcomes = try await Contract.keep(batch, in: store)
        for record in records {
            guard outcomes.contains(where: {
                $0.recordId == record.recordId && $0.revision == record.revision && $0.result == .accepted
            }) else { continue }
            written[record.recordId, default: WrittenRecord(id: record.recordId, origin: origin, revisions: [])]
                .revisions.append((record.revision, record.status,
                                   normalised(Disclosure(recipients: recipients, handlingCode: record.handlingCode)),
                                   record.searchKeys, record.facts != nil))
        }
        return outcomes
    }
}

enum ContractChecks {
    /// Checks candidates against what was written: each once, in strictly increasing positions, of `origin`, at its
    /// latest revision with the right disclosures; and none the entitlement rule lets `caller` see left out.
    static func feed(_ candidates: [FeedCandidate], written: [String: WrittenRecord], origin: String,
                     caller: String, codes: Set<HandlingCode>, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        let positions = candidates.map(\.entry.sequence)
        #expect(zip(positions, positions.dropFirst()).allSatisfy { $0 < $1 },
                "feed positions are not strictly increasing: \(positions)", sourceLocation: sourceLocation)
        var seen = Set<String>()
        for candidate in candidates {
            let id = candidate.entry.recordId
            #expect(seen.insert(id).inserted, "\(id) came twice", sourceLocation: sourceLocation)
            guard let record = written[id] else {
                Issue.record("\(id) was never written", sourceLocation: sourceLocation)
                continue
            }
            #expect(record.origin == origin, "\(id) of \(record.origin) is in \(origin)'s feed",
                    sourceLocation: sourceLocation)
            self.candidate(candidate, matches: record, sourceLocation: sourceLocation)
            // The reference rule here and FWXNode's Entitlement agree on what the store handed over.
            #expect(Entitlement(caller: caller, handlingCodes: codes).allows(candidate)
                        == record.allowed(caller: caller, codes: codes),
                    "Entitlement and the reference disagree on \(id) for \(caller)", sourceLocation: sourceLocation)
        }
        let entitled = written.values.filter { $0.origin == origin && $0.allowed(caller: caller, codes: codes) }
        let dropped = Set(entitled.map(\.id)).subtracting(seen)
        #expect(dropped.isEmpty, Comment(rawValue: "the pre-filter left out \(dropped.sorted()), which the "
                    + "entitlement rule lets \(caller) with \(codes.map(\.rawValue).sorted()) see"),
                sourceLocation: sourceLocation)
    }

    /// A candidate holds the record at its latest revision, the latest disclosure, and (withdrawn) every revision's.
    static func candidate(_ candidate: FeedCandidate, matches record: WrittenRecord,
                          sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        let latest = record.latest
        let entry = candidate.entry
        #expect(entry.revision == latest.revision && entry.status == latest.status
                    && entry.handlingCode == latest.disclosure.handlingCode
                    && entry.xml == Contract.xml(record.id, latest.revision, latest.status),
                Comment(rawValue: "\(record.id): \(entry.revision) \(entry.status) \(entry.handlingCode), written "
                    + "\(latest.revision) \(latest.status) \(latest.disclosure.handlingCode)"),
                sourceLocation: sourceLocation)
        #expect(normalised(candidate.latest) == latest.disclosure, "\(record.id): latest \(candidate.latest)",
                sourceLocation: sourceLocation)
        if latest.status == .withdrawn {
            #expect(Set(candidate.history.map(normalised)) == Set(record.revisions.map(\.disclosure)),
                    "\(record.id): history \(candidate.history)", sourceLocation: sourceLocation)
        } else {
            #expect(candidate.history.isEmpty, "\(record.id) is active but has a history",
                    sourceLocation: sourceLocation)
        }
    }
}

/// A flag one task sets and others read.
final class DoneFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
