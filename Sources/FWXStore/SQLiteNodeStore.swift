public import FWXModel
public import Foundation
import GRDB

/// The default ``NodeStore``: one SQLite file through GRDB, in WAL mode with `synchronous = FULL`, so that a
/// commit is on disk before the call returns and readers (feeds, status, audit) never wait for the writer.
///
/// One process writes (SQLite serialises writers, and the WAL lets readers go on); the feed's commit order is the
/// order of `revisions.seq`, an AUTOINCREMENT key assigned inside the one writing transaction, so a reader's
/// snapshot never holds a later position without every earlier one. Leases (outbox, pulls) are kept as in the
/// PostgreSQL store, so the node's services behave the same on both. The audit table refuses UPDATE and DELETE (triggers). Committed pages are copied from the
/// log into the database file beside the writer, not inside its commits (``WALCheckpointPolicy``).
public final class SQLiteNodeStore: NodeStore {
    private let pool: DatabasePool
    /// Moves committed pages from the log into the database file off the writer (nil when read-only).
    private let checkpointer: WALCheckpointer?
    public let path: String

    /// Opens (creating if needed) and migrates the store at `path`. `readOnly` opens an existing store for
    /// operator commands without migrating it. `checkpoints` says when committed pages are copied from the
    /// write-ahead log into the database file, which happens on a thread of its own (``WALCheckpointPolicy``).
    public init(path: String, readOnly: Bool = false, checkpoints: WALCheckpointPolicy = WALCheckpointPolicy()) throws {
        self.path = path
        var configuration = Configuration()
        configuration.readonly = readOnly
        configuration.busyMode = .timeout(30)
        configuration.label = "fwx-store"
        let checkpointer = readOnly ? nil : WALCheckpointer(path: path, policy: checkpoints)
        self.checkpointer = checkpointer
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA foreign_keys = ON")
            checkpointer?.install(on: db)
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            if !readOnly {
                try Self.migrator.migrate(pool)
                // The writer takes in 1,000-record batches of ~5 MB of pages (the signed batch, each record's XML,
                // indexes) per transaction; with SQLite's default 2 MB cache it spilled dirty pages to the WAL in
                // the middle of every transaction (perf: ~3% of a node's CPU under pushes in sqlite3PcacheFetchStress).
                try pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA cache_size = -32768") }
            }
        } catch {
            checkpointer?.stop()
            throw StoreError.wrap(error)
        }
    }

    deinit {
        checkpointer?.stop()
    }

    /// Opens an existing store for an operator command (`fwx status`, `fwx audit`, `fwx trace --config`): read-only,
    /// never created, never migrated, so a mistyped path fails instead of reporting an empty store. The node may be
    /// running; its committed writes are visible.
    public static func openExisting(path: String) throws -> SQLiteNodeStore {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw StoreError(.missing, "there is no store at the path store.sqlite names; the node creates it "
                + "when it first starts: check store.sqlite in the configuration, or start the node once")
        }
        guard !isFolder.boolValue else {
            throw StoreError(.missing, "store.sqlite names a folder, not a store; it names the database file")
        }
        return try SQLiteNodeStore(path: path, readOnly: true)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: batches, revisions, records, outbox, pulls, audit") { db in
            try db.execute(sql: """
                CREATE TABLE batches (
                    batch_id TEXT PRIMARY KEY NOT NULL,
                    sender_country TEXT NOT NULL,
                    sender_agency TEXT NOT NULL,
                    sequence_number INTEGER NOT NULL,
                    digest TEXT NOT NULL,
                    received_at REAL NOT NULL,
                    caller_country TEXT NOT NULL,
                    caller_fingerprint TEXT NOT NULL,
                    record_count INTEGER NOT NULL,
                    signed_batch BLOB NOT NULL,
                    receipt BLOB NOT NULL,
                    UNIQUE (sender_country, sender_agency, sequence_number)
                );
                CREATE TABLE revisions (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    record_id TEXT NOT NULL,
                    revision INTEGER NOT NULL,
                    origin_country TEXT NOT NULL,
                    batch_id TEXT,
                    source TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    status TEXT NOT NULL,
                    handling_code TEXT NOT NULL,
                    recipients TEXT NOT NULL,
                    xml TEXT NOT NULL,
                    received_at REAL NOT NULL,
                    UNIQUE (record_id, revision)
                );
                CREATE TABLE records (
                    record_id TEXT PRIMARY KEY NOT NULL,
                    origin_country TEXT NOT NULL,
                    revision INTEGER NOT NULL,
                    seq INTEGER NOT NULL UNIQUE REFERENCES revisions(seq),
                    status TEXT NOT NULL,
                    handling_code TEXT NOT NULL,
                    audience TEXT NOT NULL,
                    updated_at REAL NOT NULL
                );
                CREATE INDEX records_feed ON records (origin_country, seq);
                CREATE TABLE outbox (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    peer TEXT NOT NULL,
                    batch_id TEXT NOT NULL REFERENCES batches(batch_id),
                    state TEXT NOT NULL CHECK (state IN ('queued', 'delivered', 'dead')),
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at REAL NOT NULL,
                    last_error TEXT,
                    created_at REAL NOT NULL,
                    delivered_at REAL,
                    receipt BLOB,
                    UNIQUE (peer, batch_id)
                );
                CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
                CREATE TABLE pulls (
                    peer TEXT PRIMARY KEY NOT NULL,
                    cursor TEXT,
                    last_success_at REAL,
                    last_attempt_at REAL,
                    last_error TEXT,
                    records_pulled INTEGER NOT NULL DEFAULT 0
                );
                CREATE TABLE audit (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    at REAL NOT NULL,
                    caller_country TEXT NOT NULL,
                    caller_fingerprint TEXT NOT NULL,
                    action TEXT NOT NULL,
                    target TEXT NOT NULL,
                    result TEXT NOT NULL,
                    detail TEXT
                );
                CREATE INDEX audit_at ON audit (at);
                CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
                    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
                CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
                    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
                """)
        }
        migrator.registerMigration("v2: analysis facts and search keys") { db in
            try db.execute(sql: """
                CREATE TABLE latest_facts (
                    record_id TEXT PRIMARY KEY NOT NULL REFERENCES records(record_id),
                    facts BLOB NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE record_keys (
                    key TEXT NOT NULL,
                    record_id TEXT NOT NULL REFERENCES records(record_id),
                    PRIMARY KEY (key, record_id)
                ) WITHOUT ROWID;
                CREATE INDEX record_keys_record ON record_keys (record_id);
                """)
        }
        migrator.registerMigration("v3: receipts kept after the commit, leases on outbox entries and pulls") { db in
            // A zero-length receipt means none is kept yet (the column was NOT NULL from v1).
            try db.execute(sql: """
                ALTER TABLE batches ADD COLUMN outcomes BLOB;
                ALTER TABLE outbox ADD COLUMN lease_token TEXT;
                ALTER TABLE outbox ADD COLUMN lease_until REAL;
                ALTER TABLE pulls ADD COLUMN lease_token TEXT;
                ALTER TABLE pulls ADD COLUMN lease_until REAL;
                """)
        }
        return migrator
    }

    // MARK: - Batches and records

    public func ingest(_ submission: BatchSubmission, audit: AuditEntry) async throws -> IngestResult {
        try await write { db in
            if let row = try Row.fetchOne(db, sql: """
                SELECT digest, receipt, outcomes, received_at FROM batches WHERE batch_id = ?
                """, arguments: [submission.batchId]) {
                let digest: String = row["digest"]
                if digest == submission.digest {
                    try Self.insertAudit(db, audit, result: "duplicate")
                    let receipt: Data = row["receipt"]
                    let outcomes: Data? = row["outcomes"]
                    return .duplicate(receipt: receipt.isEmpty ? nil : [UInt8](receipt),
                                      outcomes: try outcomes.map(OutcomeCoding.decode) ?? [],
                                      receivedAt: Date(timeIntervalSince1970: row["received_at"]))
                }
                return .conflict(StoreConflict(
                    rule: RuleID.batchIdReused,
                    message: "batch id \(submission.batchId) is already used by a different batch (other content); "
                        + "give a corrected batch a new batch id"))
            }
            if let other = try String.fetchOne(db, sql: """
                SELECT batch_id FROM batches WHERE sender_country = ? AND sender_agency = ? AND sequence_number = ?
                """, arguments: [submission.sender.country, submission.sender.agencyId,
                                 Int64(bitPattern: submission.sequenceNumber)]) {
                return .conflict(.sequenceReused(submission.sequenceNumber, sender: submission.sender, usedBy: other))
            }
            let outcomes = try Self.keep(db, submission.records, origin: submission.sender.country,
                                         recipients: submission.recipients, batchId: submission.batchId,
                                         source: "batch", at: submission.receivedAt)
            try db.execute(sql: """
                INSERT INTO batches (batch_id, sender_country, sender_agency, sequence_number, digest, received_at,
                                     caller_country, caller_fingerprint, record_count, signed_batch, receipt,
                                     outcomes)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, x'', ?)
                """, arguments: [submission.batchId, submission.sender.country, submission.sender.agencyId,
                                 Int64(bitPattern: submission.sequenceNumber), submission.digest,
                                 submission.receivedAt.timeIntervalSince1970, submission.caller.country,
                                 submission.caller.fingerprint, submission.records.count,
                                 Data(submission.signedBatch), try OutcomeCoding.encode(outcomes)])
            for peer in submission.pushTo {
                try db.execute(sql: """
                    INSERT INTO outbox (peer, batch_id, state, next_attempt_at, created_at)
                    VALUES (?, ?, 'queued', ?, ?)
                    """, arguments: [peer, submission.batchId, submission.receivedAt.timeIntervalSince1970,
                                     submission.receivedAt.timeIntervalSince1970])
            }
            try Self.insertAudit(db, audit, result: nil)
            return .accepted(outcomes: outcomes)
        }
    }

    public func keepReceipt(batchId: String, receipt: [UInt8]) async throws -> [UInt8] {
        try await write { db in
            try db.execute(sql: "UPDATE batches SET receipt = ? WHERE batch_id = ? AND length(receipt) = 0",
                           arguments: [Data(receipt), batchId])
            guard let kept = try Data.fetchOne(db, sql: "SELECT receipt FROM batches WHERE batch_id = ?",
                                               arguments: [batchId]) else {
                throw StoreError(.missing, "there is no batch \(batchId) to keep a receipt for")
            }
            return [UInt8](kept)
        }
    }

    /// Keeps each revision newer than the one held; the rest are superseded (or rejected when owned elsewhere).
    private static func keep(_ db: Database, _ records: [IncomingRecord], origin: String, recipients: Recipients,
                             batchId: String?, source: String, at: Date) throws -> [RecordOutcome] {
        let recipientText = Audience.text(recipients)
        var outcomes: [RecordOutcome] = []
        outcomes.reserveCapacity(records.count)
        let lookup = try db.cachedStatement(sql: "SELECT origin_country, revision, audience FROM records WHERE record_id = ?")
        let insertRevision = try db.cachedStatement(sql: """
            INSERT INTO revisions (record_id, revision, origin_country, batch_id, source, kind, status, handling_code,
                                   recipients, xml, received_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let keepFacts = try db.cachedStatement(sql: "INSERT OR REPLACE INTO latest_facts (record_id, facts) VALUES (?, ?)")
        let dropFacts = try db.cachedStatement(sql: "DELETE FROM latest_facts WHERE record_id = ?")
        let dropKeys = try db.cachedStatement(sql: "DELETE FROM record_keys WHERE record_id = ?")
        let insertKey = try db.cachedStatement(sql: "INSERT OR IGNORE INTO record_keys (key, record_id) VALUES (?, ?)")
        let upsertLatest = try db.cachedStatement(sql: """
            INSERT INTO records (record_id, origin_country, revision, seq, status, handling_code, audience, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (record_id) DO UPDATE SET revision = excluded.revision, seq = excluded.seq,
                status = excluded.status, handling_code = excluded.handling_code, audience = excluded.audience,
                updated_at = excluded.updated_at
            """)
        for record in records {
            var audience = recipientText
            let held = try Row.fetchOne(lookup, arguments: [record.recordId])
            if let held {
                let heldOrigin: String = held["origin_country"]
                let heldRevision: Int = held["revision"]
                if heldOrigin != origin {
                    outcomes.append(RecordOutcome(recordId: record.recordId, revision: record.revision,
                                                  result: .rejected, rule: RuleID.recordIdCountry))
                    continue
                }
                if heldRevision >= record.revision {
                    outcomes.append(RecordOutcome(recordId: record.recordId, revision: record.revision,
                                                  result: .superseded))
                    continue
                }
                audience = Audience.union(held["audience"], recipientText)
            }
            try insertRevision.execute(arguments: [
                record.recordId, record.revision, origin, batchId, source, record.kind, record.status.rawValue,
                record.handlingCode.rawValue, recipientText, record.xml, at.timeIntervalSince1970,
            ])
            let seq = db.lastInsertedRowID
            try upsertLatest.execute(arguments: [
                record.recordId, origin, record.revision, seq, record.status.rawValue, record.handlingCode.rawValue,
                audience, at.timeIntervalSince1970,
            ])
            // Search keys and facts exist only for records held before: a new record has none to drop.
            if held != nil { try dropKeys.execute(arguments: [record.recordId]) }
            if record.status == .active {
                for key in record.searchKeys { try insertKey.execute(arguments: [key, record.recordId]) }
            }
            // Analysis reads only this small table: the facts of the latest revision of active records.
            if record.status == .active, let facts = record.facts {
                try keepFacts.execute(arguments: [record.recordId, Data(facts)])
            } else if held != nil {
                try dropFacts.execute(arguments: [record.recordId])
            }
            outcomes.append(RecordOutcome(recordId: record.recordId, revision: record.revision, result: .accepted))
        }
        return outcomes
    }

    public func feedCandidates(origin: String, prefilter: VisibilityPrefilter, after: Int64, limit: Int)
        async throws -> CandidatePage
    {
        let narrowed = Prefilter(prefilter)
        let sql = """
            SELECT r.seq, r.record_id, r.revision, r.status, r.handling_code, v.recipients, v.xml
            FROM records r JOIN revisions v ON v.seq = r.seq
            WHERE r.origin_country = ? AND r.seq > ? AND \(narrowed.condition)
            ORDER BY r.seq LIMIT ?
            """
        return try await read { db in
            let values: [(any DatabaseValueConvertible)?] = [origin, after] + narrowed.arguments + [limit]
            let candidates = try Row.fetchAll(db, sql: sql, arguments: StatementArguments(values)).map { row in
                try Self.candidate(db, row)
            }
            return CandidatePage(candidates: candidates, lastPosition: candidates.last?.entry.sequence ?? after,
                                 more: candidates.count == limit)
        }
    }

    public func searchCandidates(keys: [String], origin: String, prefilter: VisibilityPrefilter) async throws
        -> [FeedCandidate]
    {
        guard !keys.isEmpty else { return [] }
        let narrowed = Prefilter(prefilter)
        let sql = """
            SELECT r.seq, r.record_id, r.revision, r.status, r.handling_code, v.recipients, v.xml
            FROM records r JOIN revisions v ON v.seq = r.seq
            WHERE r.record_id IN (SELECT record_id FROM record_keys
                                  WHERE key IN (\(Array(repeating: "?", count: keys.count).joined(separator: ", "))))
              AND r.origin_country = ? AND r.status = 'active' AND \(narrowed.condition)
            ORDER BY r.record_id
            """
        return try await read { db in
            let values: [(any DatabaseValueConvertible)?] = keys.map { $0 } + [origin] + narrowed.arguments
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(values)).map { row in
                try Self.candidate(db, row)
            }
        }
    }

    /// A candidate from a row of `records` joined with its latest revision, with every revision's disclosure
    /// when the record is withdrawn.
    private static func candidate(_ db: Database, _ row: Row) throws -> FeedCandidate {
        let entry = Self.entry(row)
        return FeedCandidate(entry: entry,
                             latest: Disclosure(recipients: Audience.recipients(row["recipients"]),
                                                handlingCode: entry.handlingCode),
                             history: entry.status == .withdrawn ? try history(db, entry.recordId) : [])
    }

    private static func history(_ db: Database, _ recordId: String) throws -> [Disclosure] {
        try Row.fetchAll(db.cachedStatement(sql: """
            SELECT recipients, handling_code FROM revisions WHERE record_id = ? ORDER BY revision
            """), arguments: [recordId]).map { row in
            Disclosure(recipients: Audience.recipients(row["recipients"]),
                       handlingCode: HandlingCode(rawValue: row["handling_code"]) ?? .h3)
        }
    }

    private static func entry(_ row: Row) -> FeedEntry {
        FeedEntry(sequence: row["seq"], recordId: row["record_id"], revision: row["revision"],
                  status: RecordStatus(rawValue: row["status"]) ?? .active,
                  handlingCode: HandlingCode(rawValue: row["handling_code"]) ?? .h3, xml: row["xml"])
    }

    public func record(id: String) async throws -> StoredRecord? {
        try await read { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT r.seq, r.record_id, r.revision, r.status, r.handling_code, r.origin_country, r.audience,
                       v.recipients, v.xml
                FROM records r JOIN revisions v ON v.seq = r.seq WHERE r.record_id = ?
                """, arguments: [id]) else { return nil }
            let candidate = try Self.candidate(db, row)
            return StoredRecord(entry: candidate.entry, origin: row["origin_country"],
                                audience: Audience.set(row["audience"]), latest: candidate.latest,
                                history: candidate.history)
        }
    }

    // MARK: - Pulls

    public func claimPull(peer: String, token: UUID, now: Date, seconds: TimeInterval) async throws -> PullLease? {
        try await write { db in
            try db.execute(sql: "INSERT INTO pulls (peer) VALUES (?) ON CONFLICT (peer) DO NOTHING", arguments: [peer])
            let until = now.addingTimeInterval(seconds)
            try db.execute(sql: """
                UPDATE pulls SET lease_token = ?, lease_until = ?
                WHERE peer = ? AND (lease_token IS NULL OR lease_token = ? OR lease_until <= ?)
                """, arguments: [token.uuidString, until.timeIntervalSince1970, peer, token.uuidString,
                                 now.timeIntervalSince1970])
            guard db.changesCount == 1 else { return nil }
            let cursor = try String.fetchOne(db, sql: "SELECT cursor FROM pulls WHERE peer = ?", arguments: [peer])
            return PullLease(peer: peer, token: token, cursor: cursor, leaseUntil: until)
        }
    }

    public func applyPulled(_ records: [IncomingRecord], lease: PullLease, cursor: String, at: Date,
                            audit: AuditEntry) async throws -> (outcomes: [RecordOutcome], lease: PullLease) {
        try await write { db in
            // Compare-and-set first: under a lost lease or a moved cursor nothing is kept.
            try db.execute(sql: """
                UPDATE pulls SET cursor = ?, last_success_at = ?, last_attempt_at = ?, last_error = NULL
                WHERE peer = ? AND lease_token = ? AND lease_until > ? AND cursor IS ?
                """, arguments: [cursor, at.timeIntervalSince1970, at.timeIntervalSince1970, lease.peer,
                                 lease.token.uuidString, at.timeIntervalSince1970, lease.cursor])
            guard db.changesCount == 1 else {
                throw StoreError(.conflict, "the pull lease on \(lease.peer) was lost or its cursor moved; "
                    + "nothing from this page was kept, and the next pull starts from the stored cursor")
            }
            let outcomes = try Self.keep(db, records, origin: lease.peer, recipients: .countries([]), batchId: nil,
                                         source: "feed", at: at)
            let kept = outcomes.filter { $0.result == .accepted }.count
            try db.execute(sql: "UPDATE pulls SET records_pulled = records_pulled + ? WHERE peer = ?",
                           arguments: [kept, lease.peer])
            try Self.insertAudit(db, audit, result: nil)
            var moved = lease
            moved.cursor = cursor
            return (outcomes, moved)
        }
    }

    public func releasePull(_ lease: PullLease, error: String?, at: Date) async throws {
        try await write { db in
            try db.execute(sql: """
                UPDATE pulls SET lease_token = NULL, lease_until = NULL,
                    last_attempt_at = CASE WHEN ? IS NULL THEN last_attempt_at ELSE ? END,
                    last_error = coalesce(?, last_error)
                WHERE peer = ? AND lease_token = ?
                """, arguments: [error, at.timeIntervalSince1970, error, lease.peer, lease.token.uuidString])
        }
    }

    public func pullCursor(peer: String) async throws -> String? {
        try await read { db in try String.fetchOne(db, sql: "SELECT cursor FROM pulls WHERE peer = ?", arguments: [peer]) }
    }

    public func recordPullFailure(peer: String, error: String, at: Date) async throws {
        try await write { db in
            try db.execute(sql: """
                INSERT INTO pulls (peer, last_attempt_at, last_error) VALUES (?, ?, ?)
                ON CONFLICT (peer) DO UPDATE SET last_attempt_at = excluded.last_attempt_at,
                    last_error = excluded.last_error
                """, arguments: [peer, at.timeIntervalSince1970, error])
        }
    }

    // MARK: - Outbox

    public func claimPushes(now: Date, limit: Int, seconds: TimeInterval) async throws -> [OutboxClaim] {
        try await write { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT * FROM outbox
                WHERE state = 'queued' AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
                ORDER BY next_attempt_at, id LIMIT ?
                """, arguments: [now.timeIntervalSince1970, now.timeIntervalSince1970, limit])
            let until = now.addingTimeInterval(seconds)
            let claim = try db.cachedStatement(sql: "UPDATE outbox SET lease_token = ?, lease_until = ? WHERE id = ?")
            return try rows.map { row in
                let entry = Self.outboxEntry(row)
                let token = UUID()
                try claim.execute(arguments: [token.uuidString, until.timeIntervalSince1970, entry.id])
                return OutboxClaim(entry: entry, token: token, leaseUntil: until)
            }
        }
    }

    public func outbox(peer: String?) async throws -> [OutboxEntry] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM outbox WHERE ? IS NULL OR peer = ? ORDER BY id",
                             arguments: [peer, peer]).map(Self.outboxEntry)
        }
    }

    private static func outboxEntry(_ row: Row) -> OutboxEntry {
        OutboxEntry(id: row["id"], peer: row["peer"], batchId: row["batch_id"],
                    state: OutboxEntry.State(rawValue: row["state"]) ?? .queued, attempts: row["attempts"],
                    nextAttemptAt: Date(timeIntervalSince1970: row["next_attempt_at"]), lastError: row["last_error"],
                    createdAt: Date(timeIntervalSince1970: row["created_at"]))
    }

    public func nextPushDue() async throws -> Date? {
        try await read { db in
            try Double.fetchOne(db, sql: """
                SELECT min(CASE WHEN lease_until IS NULL THEN next_attempt_at
                                ELSE max(next_attempt_at, lease_until) END)
                FROM outbox WHERE state = 'queued'
                """).map { Date(timeIntervalSince1970: $0) }
        }
    }

    public func signedBatch(id: String) async throws -> (bytes: [UInt8], digest: String)? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT signed_batch, digest FROM batches WHERE batch_id = ?", arguments: [id])
                .map { row in
                    let bytes: Data = row["signed_batch"]
                    return ([UInt8](bytes), row["digest"])
                }
        }
    }

    public func recordPushDelivered(_ claim: OutboxClaim, receipt: [UInt8], at: Date, audit: AuditEntry)
        async throws -> Bool
    {
        try await write { db in
            try db.execute(sql: """
                UPDATE outbox SET state = 'delivered', attempts = attempts + 1, delivered_at = ?, receipt = ?,
                    last_error = NULL, lease_token = NULL, lease_until = NULL
                WHERE id = ? AND lease_token = ? AND state = 'queued'
                """, arguments: [at.timeIntervalSince1970, Data(receipt), claim.entry.id, claim.token.uuidString])
            guard db.changesCount == 1 else { return false }
            try Self.insertAudit(db, audit, result: nil)
            return true
        }
    }

    public func recordPushFailure(_ claim: OutboxClaim, error: String, retryAt: Date?, at: Date) async throws
        -> Bool
    {
        try await write { db in
            if let retryAt {
                try db.execute(sql: """
                    UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?,
                        lease_token = NULL, lease_until = NULL
                    WHERE id = ? AND lease_token = ? AND state = 'queued'
                    """, arguments: [retryAt.timeIntervalSince1970, error, claim.entry.id, claim.token.uuidString])
            } else {
                try db.execute(sql: """
                    UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ?,
                        lease_token = NULL, lease_until = NULL
                    WHERE id = ? AND lease_token = ? AND state = 'queued'
                    """, arguments: [error, claim.entry.id, claim.token.uuidString])
            }
            return db.changesCount == 1
        }
    }

    public func requeueDeadLetters(peer: String?, at: Date, audit: @escaping @Sendable (Int) -> AuditEntry)
        async throws -> Int
    {
        try await write { db in
            try db.execute(sql: """
                UPDATE outbox SET state = 'queued', attempts = 0, next_attempt_at = ?, lease_token = NULL,
                    lease_until = NULL
                WHERE state = 'dead' AND (? IS NULL OR peer = ?)
                """, arguments: [at.timeIntervalSince1970, peer, peer])
            let count = db.changesCount
            try Self.insertAudit(db, audit(count), result: nil)
            return count
        }
    }

    // MARK: - Audit

    public func appendAudit(_ entry: AuditEntry) async throws {
        try await write { db in try Self.insertAudit(db, entry, result: nil) }
    }

    private static func insertAudit(_ db: Database, _ entry: AuditEntry, result: String?) throws {
        try db.execute(sql: """
            INSERT INTO audit (at, caller_country, caller_fingerprint, action, target, result, detail)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """, arguments: [entry.at.timeIntervalSince1970, entry.callerCountry, entry.callerFingerprint,
                             entry.action, entry.target, result ?? entry.result, entry.detail])
    }

    public func audit(since: Date?, peer: String?, limit: Int?) async throws -> [AuditEntry] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM audit WHERE (? IS NULL OR at >= ?) AND (? IS NULL OR caller_country = ?)
                ORDER BY id LIMIT ?
                """, arguments: [since?.timeIntervalSince1970, since?.timeIntervalSince1970, peer, peer,
                                 limit ?? -1]).map { row in
                AuditEntry(id: row["id"], at: Date(timeIntervalSince1970: row["at"]),
                           callerCountry: row["caller_country"], callerFingerprint: row["caller_fingerprint"],
                           action: row["action"], target: row["target"], result: row["result"], detail: row["detail"])
            }
        }
    }

    // MARK: - Status

    public func syncStatus(peers: [String]) async throws -> [PeerSyncStatus] {
        try await read { db in
            var known = Set(peers)
            known.formUnion(try String.fetchAll(db, sql: "SELECT DISTINCT peer FROM outbox"))
            known.formUnion(try String.fetchAll(db, sql: "SELECT peer FROM pulls"))
            return try known.sorted().map { peer in
                let outbox = try Row.fetchOne(db, sql: """
                    SELECT sum(state = 'queued') AS queued, sum(state = 'dead') AS dead,
                           sum(state = 'delivered') AS delivered,
                           min(CASE WHEN state = 'queued' THEN created_at END) AS oldest,
                           max(delivered_at) AS last_push,
                           (SELECT last_error FROM outbox o2 WHERE o2.peer = ? AND o2.last_error IS NOT NULL
                            AND o2.state != 'delivered' ORDER BY id DESC LIMIT 1) AS push_error
                    FROM outbox WHERE peer = ?
                    """, arguments: [peer, peer])
                let pull = try Row.fetchOne(db, sql: "SELECT * FROM pulls WHERE peer = ?", arguments: [peer])
                let pullError: String? = pull?["last_error"]
                let pushError: String? = outbox?["push_error"]
                return PeerSyncStatus(
                    peer: peer, queued: outbox?["queued"] ?? 0, deadLetters: outbox?["dead"] ?? 0,
                    delivered: outbox?["delivered"] ?? 0,
                    oldestQueuedAt: (outbox?["oldest"] as Double?).map { Date(timeIntervalSince1970: $0) },
                    lastPushAt: (outbox?["last_push"] as Double?).map { Date(timeIntervalSince1970: $0) },
                    lastPullAt: (pull?["last_success_at"] as Double?).map { Date(timeIntervalSince1970: $0) },
                    pullCursor: pull?["cursor"], recordsPulled: pull?["records_pulled"] ?? 0,
                    lastError: pushError ?? pullError)
            }
        }
    }

    public func counts(origin: String?) async throws -> StoreCounts {
        try await read { db in
            StoreCounts(
                batches: try Int.fetchOne(db, sql: "SELECT count(*) FROM batches") ?? 0,
                records: try Int.fetchOne(db, sql: "SELECT count(*) FROM records WHERE ? IS NULL OR origin_country = ?",
                                          arguments: [origin, origin]) ?? 0,
                revisions: try Int.fetchOne(db, sql: "SELECT count(*) FROM revisions WHERE ? IS NULL OR origin_country = ?",
                                            arguments: [origin, origin]) ?? 0,
                withdrawn: try Int.fetchOne(db, sql: """
                    SELECT count(*) FROM records WHERE status = 'withdrawn' AND (? IS NULL OR origin_country = ?)
                    """, arguments: [origin, origin]) ?? 0)
        }
    }

    public func recordIds(origin: String?) async throws -> [String] {
        try await read { db in
            try String.fetchAll(db, sql: """
                SELECT record_id FROM records WHERE ? IS NULL OR origin_country = ? ORDER BY record_id
                """, arguments: [origin, origin])
        }
    }

    // MARK: - Analysis

    public func latestFacts(origin: String?, after: String?, limit: Int) async throws -> FactsPage {
        try await read { db in
            let rows = try Row.fetchCursor(db, sql: """
                SELECT f.record_id, f.facts FROM latest_facts f JOIN records r ON r.record_id = f.record_id
                WHERE (? IS NULL OR r.origin_country = ?) AND (? IS NULL OR f.record_id > ?)
                ORDER BY f.record_id LIMIT ?
                """, arguments: [origin, origin, after, after, limit])
            var bytes: [UInt8] = []
            var ends: [Int] = []
            var last: String?
            while let row = try rows.next() {
                // Copied once, into the page's one buffer.
                try row.withUnsafeData(atIndex: 1) { data in
                    if let data { bytes.append(contentsOf: data) }
                }
                ends.append(bytes.count)
                last = row["record_id"]
            }
            return FactsPage(bytes: bytes, ends: ends, continueAfter: ends.count == limit ? last : nil)
        }
    }

    public func close() async {
        checkpointer?.stop()
    }

    // MARK: - Plumbing

    private func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do { return try await pool.write(body) } catch { throw StoreError.wrap(error) }
    }

    private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do { return try await pool.read(body) } catch { throw StoreError.wrap(error) }
    }
}

/// ``VisibilityPrefilter`` as one SQL condition on `records r` (indexed row) and its arguments: the record's
/// audience (every revision's recipients together) includes the caller, and it is withdrawn or its latest handling
/// code is one the caller may receive. The entitlement rule itself is decided above the store (FWXNode).
struct Prefilter: Sendable {
    let condition: String
    let strings: [String]
    /// The arguments of ``condition``, in order.
    var arguments: [(any DatabaseValueConvertible)?] { strings.map { $0 } }

    init(_ prefilter: VisibilityPrefilter) {
        let codes = prefilter.handlingCodes.map(\.rawValue).sorted()
        let list = codes.isEmpty ? "NULL" : Array(repeating: "?", count: codes.count).joined(separator: ", ")
        condition = """
            (r.audience = '*' OR instr(r.audience, ?) > 0)
            AND (r.status = 'withdrawn' OR r.handling_code IN (\(list)))
            """
        strings = [",\(prefilter.caller),"] + codes
    }
}

/// Outcomes as kept with a batch (JSON), so a replay can be answered before its receipt is kept.
enum OutcomeCoding {
    static func encode(_ outcomes: [RecordOutcome]) throws -> Data { try JSONEncoder().encode(outcomes) }
    static func decode(_ data: Data) throws -> [RecordOutcome] {
        do { return try JSONDecoder().decode([RecordOutcome].self, from: data) } catch {
            throw StoreError(.corrupt, "a stored batch's record outcomes cannot be read")
        }
    }
}

/// Recipients as stored: `*` for every partner, otherwise `,DE,BE,` (so `instr` finds `,DE,`).
enum Audience {
    static func text(_ recipients: Recipients) -> String {
        switch recipients {
        case .allPartners: return "*"
        case .countries(let countries): return "," + countries.sorted().joined(separator: ",") + ","
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

extension StoreError {
    /// SQLite's and GRDB's errors as ``StoreError``s: a stable code by result code, SQLite's own message (which
    /// names tables and constraints, never values: GRDB leaves statement arguments out) and no path.
    static func wrap(_ error: any Error) -> any Error {
        if error is StoreError || error is CancellationError { return error }
        guard let database = error as? DatabaseError else {
            return StoreError(.internal, "\(type(of: error))")
        }
        let message = database.message ?? "\(database.resultCode)"
        switch database.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED: return StoreError(.busy, "the store is locked by another writer: \(message)")
        case .SQLITE_CORRUPT, .SQLITE_NOTADB, .SQLITE_FORMAT:
            return StoreError(.corrupt, "the store file is damaged or not a store: \(message)")
        case .SQLITE_READONLY: return StoreError(.readOnly, "the store is read-only here: \(message)")
        case .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_AUTH:
            return StoreError(.unavailable, "the store file cannot be opened: \(message)")
        case .SQLITE_FULL, .SQLITE_IOERR, .SQLITE_NOLFS:
            return StoreError(.unavailable, "the store cannot write to disk: \(message)")
        case .SQLITE_CONSTRAINT:
            // One writer: the contract's conflicts are answers (IngestResult.conflict), so a constraint or trigger
            // refusing a write (the append-only audit trail) is a fault, not a race to retry.
            return StoreError(.internal, "a constraint refused the write: \(message)")
        default: return StoreError(.internal, "sqlite \(database.resultCode.rawValue): \(message)")
        }
    }
}

// MARK: - Transfer (fwx store copy)

extension SQLiteNodeStore: StoreTransfer {
    public func exportRows(_ table: PortableTable, after: [StoreValue]?, limit: Int) async throws -> [[StoreValue]] {
        let columns = table.columns.joined(separator: ", ")
        let key = table.key.joined(separator: ", ")
        let placeholders = Array(repeating: "?", count: table.key.count).joined(separator: ", ")
        // Row values compare column by column; text compares bytewise (BINARY), as PostgreSQL's COLLATE "C".
        let sql = "SELECT \(columns) FROM \(table.name)"
            + (after == nil ? "" : " WHERE (\(key)) > (\(placeholders))") + " ORDER BY \(key) LIMIT ?"
        let arguments = (after ?? []).map(Self.databaseValue) + [limit.databaseValue]
        let receipt = table == .batches ? table.index(of: "receipt") : nil
        return try await read { db in
            try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map { row in
                var values: [StoreValue] = Array(row.databaseValues).map(Self.storeValue)
                // A receipt not kept yet is a zero-length blob here (the column was NOT NULL from v1).
                if let receipt, values[receipt] == .blob([]) { values[receipt] = .null }
                return values
            }
        }
    }

    public func isEmpty() async throws -> Bool {
        try await read { db in
            for table in PortableTable.all where try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM \(table.name))")
                ?? false {
                return false
            }
            return true
        }
    }

    public func importRows(_ table: PortableTable, _ rows: [[StoreValue]]) async throws {
        guard !rows.isEmpty else { return }
        let sql = "INSERT INTO \(table.name) (\(table.columns.joined(separator: ", "))) VALUES ("
            + Array(repeating: "?", count: table.columns.count).joined(separator: ", ") + ")"
        let receipt = table == .batches ? table.index(of: "receipt") : nil
        try await write { db in
            let statement = try db.cachedStatement(sql: sql)
            for var row in rows {
                guard row.count == table.columns.count else {
                    throw StoreError(.corrupt, "a \(table.name) row has \(row.count) values, not \(table.columns.count)")
                }
                if let receipt, row[receipt] == .null { row[receipt] = .blob([]) }
                try statement.execute(arguments: StatementArguments(row.map(Self.databaseValue)))
            }
        }
    }

    public func finishImport() async throws {
        // AUTOINCREMENT keys (revisions.seq, outbox.id, audit.id) already continue after the largest imported.
    }

    private static func storeValue(_ value: DatabaseValue) -> StoreValue {
        switch value.storage {
        case .null: return .null
        case .int64(let integer): return .integer(integer)
        case .double(let real): return .real(real)
        case .string(let text): return .text(text)
        case .blob(let data): return .blob([UInt8](data))
        }
    }

    private static func databaseValue(_ value: StoreValue) -> DatabaseValue {
        switch value {
        case .null: return .null
        case .integer(let integer): return integer.databaseValue
        case .real(let real): return real.databaseValue
        case .text(let text): return text.databaseValue
        case .blob(let bytes): return Data(bytes).databaseValue
        }
    }
}
