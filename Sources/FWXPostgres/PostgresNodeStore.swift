import FWXModel
public import FWXStore
public import Foundation
public import Logging
import NIOCore
import PostgresNIO

/// The ``NodeStore`` for several `fwx serve` processes on one PostgreSQL database (issue 14): the contract's
/// guarantees hold however many processes write at once.
///
/// - **Feed positions** are assigned as the last step of each writing transaction, under the row lock of the
///   one-row `fwx_feed_clock`, held until COMMIT (``PostgresNodeStore`` ingest and pull; docs/scale-out.md says why
///   this scheme and what it costs).
/// - **Ingest** claims the batch id and the sender's sequence number first (`INSERT ... ON CONFLICT DO NOTHING`: a
///   concurrent same-id insert waits on the unique index, then sees the winner), locks the records it changes in
///   record id order (`SELECT ... FOR UPDATE`), and retries the whole transaction, a bounded number of times, when a
///   concurrent writer created one of its records first (a unique violation on revisions, a serialization failure or
///   a deadlock), so a race ends as `superseded` or `duplicate`, never as an error.
/// - **Outbox** entries are claimed with `FOR UPDATE SKIP LOCKED` and a lease token; results are recorded only
///   `WHERE lease_token = $token AND state = 'queued'`.
/// - **Pull cursors** move only by compare-and-set under the per-peer lease, in the transaction that keeps the pulled
///   records.
/// - **Wake-ups**: an ingest that queues pushes sends `NOTIFY fwx_outbox` inside its transaction (delivered at
///   commit); ``outboxWakeups()`` hands them to whichever process's outbox loop waits. A hint only.
///
/// The pool runs in a task the store owns; ``close()`` ends it. Every error is a ``StoreError``
/// (``StoreError/postgres(_:)``).
public final class PostgresNodeStore: NodeStore {
    let database: PostgresStoreDatabase
    let logger: Logger
    /// Who holds a lease, as `outbox.holder` / `pulls.holder` show it (host and process id; for operators only).
    let holder: String
    private let running: Task<Void, Never>
    private let wakeups = OutboxWakeupHub()

    /// The LISTEN/NOTIFY channel of the outbox (a constant name of lower-case letters, valid by construction).
    static let outboxChannel = try! PostgresChannel("fwx_outbox")
    /// How many times a transaction that lost a race (``TransactionRetry``, 40001, 40P01, a revision's unique key)
    /// is run in all before the call fails as `busy`.
    static let maxAttempts = 8

    private init(database: PostgresStoreDatabase, running: Task<Void, Never>, logger: Logger) {
        self.database = database
        self.running = running
        self.logger = logger
        self.holder = String("\(ProcessInfo.processInfo.hostName)/\(getpid())".prefix(120))
    }

    /// Opens the store described by `settings` (a node configuration's `store.postgres`): reads the password file,
    /// starts the connection pool and, when `migrate` is true (`fwx serve`), brings the schema to this binary's
    /// version (once per database, under an advisory lock, however many processes start together).
    ///
    /// Refuses a database migrated by a newer fwx (`schema-too-new`), also when not migrating; and, when `migrate` is
    /// false (operator commands), a database fwx never migrated (`missing`) or one at an older version
    /// (`corrupt`: start this version's `fwx serve` once). Bad settings are `configuration`; an unreachable server is
    /// `unavailable`.
    public static func open(_ settings: PostgresSettings, migrate: Bool, logger: Logger) async throws
        -> PostgresNodeStore
    {
        var configuration: PostgresDatabaseConfiguration
        do {
            configuration = try PostgresDatabaseConfiguration(url: settings.url, passwordFile: settings.passwordFile,
                                                              poolSize: settings.poolSize, logger: logger)
        } catch {
            throw StoreError.postgres(error)
        }
        if settings.connectTimeoutSeconds != PostgresSettings.defaultConnectTimeoutSeconds {
            configuration.url.connectTimeoutSeconds = max(1, Int(settings.connectTimeoutSeconds.rounded(.up)))
        }
        return try await open(configuration: configuration, migrate: migrate)
    }

    /// As ``open(_:migrate:logger:)``, from a connection configuration already made (tests, tools that set the
    /// acquire timeout or statement timeouts themselves).
    public static func open(configuration: PostgresDatabaseConfiguration, migrate: Bool) async throws
        -> PostgresNodeStore
    {
        let database: PostgresStoreDatabase
        do {
            database = try PostgresStoreDatabase(configuration: configuration)
        } catch {
            throw StoreError.postgres(error)
        }
        let running = Task { await database.run() }
        do {
            let migrations = PostgresNodeSchema.migrations
            if migrate {
                let report = try await database.migrate(migrations)
                if !report.applied.isEmpty {
                    configuration.logger.info("postgres store migrated",
                                              metadata: ["applied": "\(report.applied)", "version": "\(report.version)"])
                }
            } else {
                let version = try await database.schemaVersion(knowing: migrations)
                if version == 0 {
                    throw StoreError(.missing, "the PostgreSQL database holds no fwx store (it was never migrated): "
                        + "check store.postgres.url, or start `fwx serve` once, which creates the schema")
                }
                if version < migrations.count {
                    throw StoreError(.corrupt, "the PostgreSQL store is at schema version \(version), older than "
                        + "this fwx's \(migrations.count): start this version's `fwx serve` once (it migrates), then "
                        + "run the command again")
                }
            }
        } catch {
            running.cancel()
            await running.value
            throw StoreError.postgres(error)
        }
        return PostgresNodeStore(database: database, running: running, logger: configuration.logger)
    }

    /// Stops the wake-up listener and the pool. Operations afterwards fail as `unavailable`. Safe to call twice.
    public func close() async {
        await wakeups.close()
        running.cancel()
        await running.value
    }

    /// Wake-ups for an outbox loop: an element each time some process (this one included) committed a batch that
    /// queued pushes or put dead letters back, and once after the listener (re)connects, since notifications sent
    /// meanwhile are lost. Several may arrive as one. **A hint only**: the loop still polls ``nextPushDue()`` on a
    /// timer of its own. The first call starts one LISTEN connection for the store (not one of the pool's); the
    /// stream ends when the store closes or the consumer stops iterating.
    public func outboxWakeups() -> AsyncStream<Void> {
        let database = self.database
        return wakeups.subscribe { hub in
            Task {
                _ = try? await database.withWakeUps(on: Self.outboxChannel) { wakeUps in
                    for await _ in wakeUps { hub.broadcast() }
                }
            }
        }
    }

    // MARK: - Plumbing

    /// Runs `body` as one read-committed transaction, again (after a short random pause) when it lost a race to a
    /// concurrent writer, at most ``maxAttempts`` times; errors as ``StoreError``.
    func write<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await database.withTransaction(body)
            } catch {
                guard attempt < Self.maxAttempts, Self.lostRace(error) else { throw StoreError.postgres(error) }
                logger.debug("postgres store transaction lost a race; running it again",
                             metadata: ["attempt": "\(attempt)",
                                        "sqlstate": "\((error as? PostgresStoreError)?.sqlState ?? "-")"])
                attempt += 1
                try await Task.sleep(for: .milliseconds(Int.random(in: 1...10) * attempt))
            }
        }
    }

    /// Runs `body` on a pooled connection outside a transaction (each statement its own snapshot).
    func read<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await database.withConnection(body)
        } catch {
            throw StoreError.postgres(error)
        }
    }

    /// Runs `body` in one repeatable-read transaction: several statements that must agree (status, counts).
    func snapshot<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await database.withTransaction(isolation: .repeatableRead, body)
        } catch {
            throw StoreError.postgres(error)
        }
    }

    /// Whether the transaction only lost a race and may be run again as a whole.
    static func lostRace(_ error: any Error) -> Bool {
        if error is TransactionRetry { return true }
        guard let error = error as? PostgresStoreError, let state = error.sqlState else { return false }
        switch state {
        case "40001", "40P01": return true
        case "23505": return ["revisions_record_revision", "revisions_pkey", "records_pkey"].contains(error.constraint)
        default: return false
        }
    }
}

// MARK: - Reading records

extension PostgresNodeStore {
    /// The columns of a candidate: `records r` joined with its latest revision `v`, and for a withdrawn record every
    /// revision's recipients and handling code (in revision order, in the same statement, so the same snapshot).
    static let candidateColumns = """
        r.seq, r.record_id, r.revision, r.status, r.handling_code, v.recipients, v.xml,
        CASE WHEN r.status = 'withdrawn' THEN ARRAY(SELECT p.recipients FROM revisions p
                                                   WHERE p.record_id = r.record_id ORDER BY p.revision)
             ELSE '{}'::text[] END,
        CASE WHEN r.status = 'withdrawn' THEN ARRAY(SELECT p.handling_code FROM revisions p
                                                   WHERE p.record_id = r.record_id ORDER BY p.revision)
             ELSE '{}'::text[] END
        """

    static func candidate(_ row: PostgresRow) throws -> FeedCandidate {
        let (seq, id, revision, status, code, recipients, xml, historyRecipients, historyCodes) = try row.decode(
            (Int64, String, Int64, String, String, String, String, [String], [String]).self)
        let entry = FeedEntry(sequence: seq, recordId: id, revision: Int(revision),
                              status: RecordStatus(rawValue: status) ?? .active,
                              handlingCode: HandlingCode(rawValue: code) ?? .h3, xml: xml)
        let history = zip(historyRecipients, historyCodes).map { recipients, code in
            Disclosure(recipients: PostgresAudience.recipients(recipients),
                       handlingCode: HandlingCode(rawValue: code) ?? .h3)
        }
        return FeedCandidate(entry: entry,
                             latest: Disclosure(recipients: PostgresAudience.recipients(recipients),
                                                handlingCode: entry.handlingCode),
                             history: history)
    }

    /// Feed order is `records.seq`: positions are handed out in commit order (see `assignPositions`), so a page
    /// `WHERE seq > after ORDER BY seq` read at any moment holds every record committed at or below its last
    /// position, and a reader continuing from that position never skips one.
    public func feedCandidates(origin: String, prefilter: VisibilityPrefilter, after: Int64, limit: Int)
        async throws -> CandidatePage
    {
        guard limit > 0 else { return CandidatePage(candidates: [], lastPosition: after, more: true) }
        let filter = PostgresPrefilter(prefilter)
        let query: PostgresQuery = """
            SELECT \(unescaped: Self.candidateColumns)
            FROM records r JOIN revisions v ON v.seq = r.seq
            WHERE r.origin_country = \(origin) AND r.seq > \(after)
              AND (r.audience = '*' OR strpos(r.audience, \(filter.audienceKey)) > 0)
              AND (r.status = 'withdrawn' OR r.handling_code = ANY(\(filter.codes)))
            ORDER BY r.seq LIMIT \(limit)
            """
        let logger = self.logger
        let candidates = try await read { connection in
            try await connection.rows(query, logger, Self.candidate)
        }
        return CandidatePage(candidates: candidates, lastPosition: candidates.last?.entry.sequence ?? after,
                             more: candidates.count == limit)
    }

    public func record(id: String) async throws -> StoredRecord? {
        let query: PostgresQuery = """
            SELECT \(unescaped: Self.candidateColumns), r.origin_country, r.audience
            FROM records r JOIN revisions v ON v.seq = r.seq WHERE r.record_id = \(id)
            """
        let logger = self.logger
        return try await read { connection in
            try await connection.rows(query, logger) { row -> StoredRecord in
                let candidate = try Self.candidate(row)
                let columns = row.makeRandomAccess()
                let origin = try columns[9].decode(String.self)
                let audience = try columns[10].decode(String.self)
                return StoredRecord(entry: candidate.entry, origin: origin, audience: PostgresAudience.set(audience),
                                    latest: candidate.latest, history: candidate.history)
            }.first
        }
    }

    public func searchCandidates(keys: [String], origin: String, prefilter: VisibilityPrefilter) async throws
        -> [FeedCandidate]
    {
        guard !keys.isEmpty else { return [] }
        let filter = PostgresPrefilter(prefilter)
        let query: PostgresQuery = """
            SELECT \(unescaped: Self.candidateColumns)
            FROM records r JOIN revisions v ON v.seq = r.seq
            WHERE r.record_id IN (SELECT record_id FROM record_keys WHERE key = ANY(\(keys)))
              AND r.origin_country = \(origin) AND r.status = 'active'
              AND (r.audience = '*' OR strpos(r.audience, \(filter.audienceKey)) > 0)
              AND (r.status = 'withdrawn' OR r.handling_code = ANY(\(filter.codes)))
            ORDER BY r.record_id
            """
        let logger = self.logger
        return try await read { connection in try await connection.rows(query, logger, Self.candidate) }
    }

    public func signedBatch(id: String) async throws -> (bytes: [UInt8], digest: String)? {
        let logger = self.logger
        let found = try await read { connection in
            try await connection.rows("SELECT signed_batch, digest FROM batches WHERE batch_id = \(id)", logger) {
                try $0.decode((ByteBuffer, String).self)
            }.first
        }
        return found.map { (Array($0.0.readableBytesView), $0.1) }
    }

    public func latestFacts(origin: String?, after: String?, limit: Int) async throws -> FactsPage {
        let query: PostgresQuery = """
            SELECT f.record_id, f.facts FROM latest_facts f JOIN records r ON r.record_id = f.record_id
            WHERE (\(origin)::text IS NULL OR r.origin_country = \(origin)::text)
              AND (\(after)::text IS NULL OR f.record_id > \(after)::text)
            ORDER BY f.record_id LIMIT \(max(limit, 0))
            """
        let logger = self.logger
        return try await read { connection in
            var bytes: [UInt8] = []
            var ends: [Int] = []
            var last: String?
            for try await row in try await connection.query(query, logger: logger) {
                let (id, facts) = try row.decode((String, ByteBuffer).self)
                bytes.append(contentsOf: facts.readableBytesView)
                ends.append(bytes.count)
                last = id
            }
            return FactsPage(bytes: bytes, ends: ends, continueAfter: ends.count == limit ? last : nil)
        }
    }

    public func counts(origin: String?) async throws -> StoreCounts {
        let query: PostgresQuery = """
            SELECT (SELECT count(*) FROM batches),
                   (SELECT count(*) FROM records WHERE \(origin)::text IS NULL OR origin_country = \(origin)::text),
                   (SELECT count(*) FROM revisions WHERE \(origin)::text IS NULL OR origin_country = \(origin)::text),
                   (SELECT count(*) FROM records WHERE status = 'withdrawn'
                        AND (\(origin)::text IS NULL OR origin_country = \(origin)::text))
            """
        let logger = self.logger
        return try await read { connection in
            let counts = try await connection.rows(query, logger) { try $0.decode((Int, Int, Int, Int).self) }
            guard let (batches, records, revisions, withdrawn) = counts.first else {
                throw StoreError(.internal, "the store's counts came back empty")
            }
            return StoreCounts(batches: batches, records: records, revisions: revisions, withdrawn: withdrawn)
        }
    }

    public func recordIds(origin: String?) async throws -> [String] {
        let query: PostgresQuery = """
            SELECT record_id FROM records WHERE \(origin)::text IS NULL OR origin_country = \(origin)::text
            ORDER BY record_id
            """
        let logger = self.logger
        return try await read { connection in try await connection.rows(query, logger) { try $0.decode(String.self) } }
    }
}

// MARK: - Audit and status

extension PostgresNodeStore {
    public func appendAudit(_ entry: AuditEntry) async throws {
        let logger = self.logger
        try await write { connection in try await Self.insertAudit(entry, result: nil, on: connection, logger) }
    }

    static func insertAudit(_ entry: AuditEntry, result: String?, on connection: PostgresConnection,
                            _ logger: Logger) async throws {
        try await connection.run("""
            INSERT INTO audit (at, caller_country, caller_fingerprint, action, target, result, detail)
            VALUES (\(entry.at.timeIntervalSince1970), \(entry.callerCountry), \(entry.callerFingerprint),
                    \(entry.action), \(entry.target), \(result ?? entry.result), \(entry.detail)::text)
            """, logger)
    }

    public func audit(since: Date?, peer: String?, limit: Int?) async throws -> [AuditEntry] {
        let since = since?.timeIntervalSince1970
        let query: PostgresQuery = """
            SELECT id, at, caller_country, caller_fingerprint, action, target, result, detail FROM audit
            WHERE (\(since)::float8 IS NULL OR at >= \(since)::float8)
              AND (\(peer)::text IS NULL OR caller_country = \(peer)::text)
            ORDER BY id LIMIT \(limit.map { max($0, 0) })::bigint
            """
        let logger = self.logger
        return try await read { connection in
            try await connection.rows(query, logger) { row in
                let (id, at, country, fingerprint, action, target, result, detail) = try row.decode(
                    (Int64, Double, String, String, String, String, String, String?).self)
                return AuditEntry(id: id, at: Date(timeIntervalSince1970: at), callerCountry: country,
                                  callerFingerprint: fingerprint, action: action, target: target, result: result,
                                  detail: detail)
            }
        }
    }

    public func syncStatus(peers: [String]) async throws -> [PeerSyncStatus] {
        let logger = self.logger
        return try await snapshot { connection in
            struct Push { var queued = 0, dead = 0, delivered = 0; var oldest: Double?, last: Double?, error: String? }
            struct Pull { var cursor: String?, lastSuccess: Double?, error: String?; var pulled = 0 }
            var pushes: [String: Push] = [:]
            var pulls: [String: Pull] = [:]
            for (peer, queued, dead, delivered, oldest, last) in try await connection.rows("""
                SELECT peer, count(*) FILTER (WHERE state = 'queued'), count(*) FILTER (WHERE state = 'dead'),
                       count(*) FILTER (WHERE state = 'delivered'), min(created_at) FILTER (WHERE state = 'queued'),
                       max(delivered_at)
                FROM outbox GROUP BY peer
                """, logger, { try $0.decode((String, Int, Int, Int, Double?, Double?).self) }) {
                pushes[peer] = Push(queued: queued, dead: dead, delivered: delivered, oldest: oldest, last: last)
            }
            for (peer, error) in try await connection.rows("""
                SELECT DISTINCT ON (peer) peer, last_error FROM outbox
                WHERE last_error IS NOT NULL AND state <> 'delivered' ORDER BY peer, id DESC
                """, logger, { try $0.decode((String, String).self) }) {
                pushes[peer, default: Push()].error = error
            }
            for (peer, cursor, lastSuccess, error, pulled) in try await connection.rows("""
                SELECT peer, cursor, last_success_at, last_error, records_pulled FROM pulls
                """, logger, { try $0.decode((String, String?, Double?, String?, Int).self) }) {
                pulls[peer] = Pull(cursor: cursor, lastSuccess: lastSuccess, error: error, pulled: pulled)
            }
            let known = Set(peers).union(pushes.keys).union(pulls.keys)
            return known.sorted().map { peer in
                let push = pushes[peer] ?? Push()
                let pull = pulls[peer] ?? Pull()
                return PeerSyncStatus(
                    peer: peer, queued: push.queued, deadLetters: push.dead, delivered: push.delivered,
                    oldestQueuedAt: push.oldest.map { Date(timeIntervalSince1970: $0) },
                    lastPushAt: push.last.map { Date(timeIntervalSince1970: $0) },
                    lastPullAt: pull.lastSuccess.map { Date(timeIntervalSince1970: $0) },
                    pullCursor: pull.cursor, recordsPulled: pull.pulled, lastError: push.error ?? pull.error)
            }
        }
    }
}

// MARK: - Helpers

/// ``VisibilityPrefilter`` as bind values for the store's SQL: the caller as it appears in a stored audience
/// (`,DE,`) and the handling codes it may receive. The rule itself is decided above the store.
struct PostgresPrefilter {
    let audienceKey: String
    let codes: [String]
    init(_ prefilter: VisibilityPrefilter) {
        audienceKey = ",\(prefilter.caller),"
        codes = prefilter.handlingCodes.map(\.rawValue).sorted()
    }
}

/// Recipients as stored, the same text as the SQLite store's: `*` for every partner, otherwise `,BE,DE,` (sorted,
/// so `strpos` finds `,DE,`); a record's audience is the union of all its revisions' recipients.
enum PostgresAudience {
    static func text(_ recipients: Recipients) -> String {
        switch recipients {
        case .allPartners: return "*"
        case .countries(let countries): return "," + Set(countries).sorted().joined(separator: ",") + ","
        }
    }

    static func set(_ text: String) -> Set<String>? {
        text == "*" ? nil : Set(text.split(separator: ",").map(String.init))
    }

    static func recipients(_ text: String) -> Recipients {
        set(text).map { .countries($0.sorted()) } ?? .allPartners
    }

    static func union(_ a: String, _ b: String) -> String {
        guard let left = set(a), let right = set(b) else { return "*" }
        return text(.countries(Array(left.union(right))))
    }
}

/// Record outcomes as kept with a batch (JSON, as the SQLite store keeps them), so a replay can be answered before
/// its receipt is kept.
enum PostgresOutcomes {
    static func encode(_ outcomes: [RecordOutcome]) throws -> ByteBuffer {
        ByteBuffer(bytes: try JSONEncoder().encode(outcomes))
    }

    static func decode(_ buffer: ByteBuffer) throws -> [RecordOutcome] {
        do {
            return try JSONDecoder().decode([RecordOutcome].self, from: Data(buffer.readableBytesView))
        } catch {
            throw StoreError(.corrupt, "a stored batch's record outcomes cannot be read")
        }
    }
}

extension PostgresConnection {
    /// Runs `query` and decodes every row with `decode` (rows never escape).
    func rows<Row>(_ query: PostgresQuery, _ logger: Logger, _ decode: (PostgresRow) throws -> Row) async throws
        -> [Row]
    {
        var rows: [Row] = []
        for try await row in try await self.query(query, logger: logger) { rows.append(try decode(row)) }
        return rows
    }

    /// Runs `query`, discarding its rows.
    func run(_ query: PostgresQuery, _ logger: Logger) async throws {
        for try await _ in try await self.query(query, logger: logger) {}
    }
}
