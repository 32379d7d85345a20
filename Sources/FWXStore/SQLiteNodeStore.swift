public import FWXModel
public import Foundation
import GRDB

/// The default ``NodeStore``: one SQLite file through GRDB, in WAL mode with `synchronous = FULL`, so that a
/// commit is on disk before the call returns and readers (feeds, status, audit) never wait for the writer.
///
/// Writes are serialised by SQLite; the feed's commit order is the order of `revisions.seq`, an AUTOINCREMENT
/// key assigned inside the writing transaction, so a reader's snapshot never holds a later sequence without
/// every earlier one. The audit table refuses UPDATE and DELETE (triggers). Committed pages are copied from the
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
            throw StoreError.wrap(error, path: path)
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
            throw StoreError(code: "missing", message: "there is no store here; the node creates it when it first "
                + "starts: check store.sqlite in the configuration, or start the node once", path: path)
        }
        guard !isFolder.boolValue else {
            throw StoreError(code: "missing", message: "this is a folder, not a store; store.sqlite names the "
                + "database file", path: path)
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
        return migrator
    }

    // MARK: - Batches and records

    public func ingest(_ submission: BatchSubmission, audit: AuditEntry,
                       makeReceipt: @escaping @Sendable ([RecordOutcome]) throws -> [UInt8]) async throws
        -> IngestResult
    {
        try await write { db in
            if let row = try Row.fetchOne(db, sql: "SELECT digest, receipt FROM batches WHERE batch_id = ?",
                                          arguments: [submission.batchId]) {
                let digest: String = row["digest"]
                if digest == submission.digest {
                    try Self.insertAudit(db, audit, result: "duplicate")
                    let receipt: Data = row["receipt"]
                    return .duplicate(receipt: [UInt8](receipt))
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
                return .conflict(StoreConflict(
                    rule: RuleID.sequenceReused,
                    message: "sequence number \(submission.sequenceNumber) of \(submission.sender.country)/"
                        + "\(submission.sender.agencyId) is already used by batch \(other); "
                        + "number each new batch with the next sequence number"))
            }
            let outcomes = try Self.keep(db, submission.records, origin: submission.sender.country,
                                         recipients: submission.recipients, batchId: submission.batchId,
                                         source: "batch", at: submission.receivedAt)
            let receipt = try makeReceipt(outcomes)
            try db.execute(sql: """
                INSERT INTO batches (batch_id, sender_country, sender_agency, sequence_number, digest, received_at,
                                     caller_country, caller_fingerprint, record_count, signed_batch, receipt)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [submission.batchId, submission.sender.country, submission.sender.agencyId,
                                 Int64(bitPattern: submission.sequenceNumber), submission.digest,
                                 submission.receivedAt.timeIntervalSince1970, submission.caller.country,
                                 submission.caller.fingerprint, submission.records.count,
                                 Data(submission.signedBatch), Data(receipt)])
            for peer in submission.pushTo {
                try db.execute(sql: """
                    INSERT INTO outbox (peer, batch_id, state, next_attempt_at, created_at)
                    VALUES (?, ?, 'queued', ?, ?)
                    """, arguments: [peer, submission.batchId, submission.receivedAt.timeIntervalSince1970,
                                     submission.receivedAt.timeIntervalSince1970])
            }
            try Self.insertAudit(db, audit, result: nil)
            return .accepted(receipt: receipt, outcomes: outcomes)
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

    public func feed(origin: String, caller: String, handlingCodes: Set<HandlingCode>, after cursor: Int64,
                     limit: Int) async throws -> FeedPage {
        let entitled = Entitlement(caller: caller, handlingCodes: handlingCodes)
        let sql = """
            SELECT r.seq, r.record_id, r.revision, r.status, r.handling_code, v.xml
            FROM records r JOIN revisions v ON v.seq = r.seq
            WHERE r.origin_country = ? AND r.seq > ? AND \(entitled.condition)
            ORDER BY r.seq LIMIT ?
            """
        return try await read { db in
            let values: [(any DatabaseValueConvertible)?] = [origin, cursor] + entitled.arguments + [limit]
            let entries = try Row.fetchAll(db, sql: sql, arguments: StatementArguments(values)).map(Self.entry)
            return FeedPage(entries: entries, nextCursor: entries.last?.sequence ?? cursor)
        }
    }

    public func record(id: String, origin: String, caller: String, handlingCodes: Set<HandlingCode>) async throws
        -> FeedEntry?
    {
        let entitled = Entitlement(caller: caller, handlingCodes: handlingCodes)
        let sql = """
            SELECT r.seq, r.record_id, r.revision, r.status, r.handling_code, v.xml
            FROM records r JOIN revisions v ON v.seq = r.seq
            WHERE r.record_id = ? AND r.origin_country = ? AND \(entitled.condition)
            """
        return try await read { db in
            let values: [(any DatabaseValueConvertible)?] = [id, origin] + entitled.arguments
            return try Row.fetchOne(db, sql: sql, arguments: StatementArguments(values)).map(Self.entry)
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
                SELECT r.seq, r.record_id, r.revision, r.status, r.handling_code, r.origin_country, r.audience, v.xml
                FROM records r JOIN revisions v ON v.seq = r.seq WHERE r.record_id = ?
                """, arguments: [id]) else { return nil }
            return StoredRecord(entry: Self.entry(row), origin: row["origin_country"],
                                audience: Audience.set(row["audience"]))
        }
    }

    // MARK: - Pulls

    public func applyPulled(_ records: [IncomingRecord], from peer: String, cursor: String, at: Date,
                            audit: AuditEntry) async throws -> [RecordOutcome] {
        try await write { db in
            let outcomes = try Self.keep(db, records, origin: peer, recipients: .countries([]), batchId: nil,
                                         source: "feed", at: at)
            let kept = outcomes.filter { $0.result == .accepted }.count
            try db.execute(sql: """
                INSERT INTO pulls (peer, cursor, last_success_at, last_attempt_at, last_error, records_pulled)
                VALUES (?, ?, ?, ?, NULL, ?)
                ON CONFLICT (peer) DO UPDATE SET cursor = excluded.cursor, last_success_at = excluded.last_success_at,
                    last_attempt_at = excluded.last_attempt_at, last_error = NULL,
                    records_pulled = pulls.records_pulled + excluded.records_pulled
                """, arguments: [peer, cursor, at.timeIntervalSince1970, at.timeIntervalSince1970, kept])
            try Self.insertAudit(db, audit, result: nil)
            return outcomes
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

    public func duePushes(now: Date, limit: Int) async throws -> [OutboxEntry] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM outbox WHERE state = 'queued' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?
                """, arguments: [now.timeIntervalSince1970, limit]).map(Self.outboxEntry)
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
            try Double.fetchOne(db, sql: "SELECT min(next_attempt_at) FROM outbox WHERE state = 'queued'")
                .map { Date(timeIntervalSince1970: $0) }
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

    public func recordPushDelivered(id: Int64, receipt: [UInt8], at: Date, audit: AuditEntry) async throws {
        try await write { db in
            try db.execute(sql: """
                UPDATE outbox SET state = 'delivered', attempts = attempts + 1, delivered_at = ?, receipt = ?,
                    last_error = NULL WHERE id = ?
                """, arguments: [at.timeIntervalSince1970, Data(receipt), id])
            try Self.insertAudit(db, audit, result: nil)
        }
    }

    public func recordPushFailure(id: Int64, error: String, retryAt: Date?, at: Date) async throws {
        try await write { db in
            if let retryAt {
                try db.execute(sql: """
                    UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?
                    """, arguments: [retryAt.timeIntervalSince1970, error, id])
            } else {
                try db.execute(sql: """
                    UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ? WHERE id = ?
                    """, arguments: [error, id])
            }
        }
    }

    public func requeueDeadLetters(peer: String?, at: Date, audit: @escaping @Sendable (Int) -> AuditEntry)
        async throws -> Int
    {
        try await write { db in
            try db.execute(sql: """
                UPDATE outbox SET state = 'queued', attempts = 0, next_attempt_at = ?
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

    public func search(keys: [String], origin: String, caller: String, handlingCodes: Set<HandlingCode>) async throws
        -> [String]
    {
        guard !keys.isEmpty else { return [] }
        let entitled = Entitlement(caller: caller, handlingCodes: handlingCodes)
        let sql = """
            SELECT DISTINCT r.record_id
            FROM record_keys k JOIN records r ON r.record_id = k.record_id JOIN revisions v ON v.seq = r.seq
            WHERE k.key IN (\(Array(repeating: "?", count: keys.count).joined(separator: ", ")))
              AND r.origin_country = ? AND r.status = 'active' AND \(entitled.condition)
            ORDER BY r.record_id
            """
        return try await read { db in
            let values: [(any DatabaseValueConvertible)?] = keys.map { $0 } + [origin] + entitled.arguments
            return try String.fetchAll(db, sql: sql, arguments: StatementArguments(values))
        }
    }

    public func forEachLatestFacts(origin: String?, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        do {
            try pool.read { db in
                let rows = try Row.fetchCursor(db, sql: origin == nil ? "SELECT facts FROM latest_facts" : """
                    SELECT f.facts FROM latest_facts f JOIN records r ON r.record_id = f.record_id
                    WHERE r.origin_country = ?
                    """, arguments: origin == nil ? [] : [origin])
                while let row = try rows.next() {
                    // Without copying the blob out of SQLite (a million rows: a Data and an Array each before).
                    try row.withUnsafeData(atIndex: 0) { data in
                        guard let data else { return }
                        try data.withUnsafeBytes { try body($0) }
                    }
                }
            }
        } catch {
            throw StoreError.wrap(error, path: path)
        }
    }

    // MARK: - Plumbing

    private func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do { return try await pool.write(body) } catch { throw StoreError.wrap(error, path: path) }
    }

    private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do { return try await pool.read(body) } catch { throw StoreError.wrap(error, path: path) }
    }
}

/// Who may see a record (`r`, latest revision `v`), as one SQL condition and its arguments: an active record when
/// its latest revision is addressed to the caller with a handling code the caller may receive; a withdrawn one
/// (a tombstone) also when any earlier revision was, because the caller may hold that revision. The record's
/// audience (the union of all its revisions' recipients) is checked first, on the indexed row, to skip fast.
struct Entitlement: Sendable {
    let condition: String
    private let key: String
    private let codes: [String]

    init(caller: String, handlingCodes: Set<HandlingCode>) {
        codes = handlingCodes.map(\.rawValue).sorted()
        let list = codes.isEmpty ? "NULL" : Array(repeating: "?", count: codes.count).joined(separator: ", ")
        key = ",\(caller),"
        condition = """
            (r.audience = '*' OR instr(r.audience, ?) > 0)
            AND (((v.recipients = '*' OR instr(v.recipients, ?) > 0) AND v.handling_code IN (\(list)))
                 OR (r.status = 'withdrawn' AND EXISTS (
                     SELECT 1 FROM revisions p WHERE p.record_id = r.record_id AND p.handling_code IN (\(list))
                     AND (p.recipients = '*' OR instr(p.recipients, ?) > 0))))
            """
    }

    /// The arguments of ``condition``, in order.
    var arguments: [(any DatabaseValueConvertible)?] {
        let codeArguments = codes.map { $0 as (any DatabaseValueConvertible)? }
        return [key, key] + codeArguments + codeArguments + [key]
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

    static func union(_ a: String, _ b: String) -> String {
        guard let left = set(a), let right = set(b) else { return "*" }
        return text(.countries(Array(left.union(right))))
    }
}

/// A storage failure, with the SQLite result code where there is one. Never carries record content: GRDB's
/// errors leave statement arguments out of their descriptions unless asked.
public struct StoreError: Error, Sendable, CustomStringConvertible, Equatable {
    public var code: String
    public var message: String
    public var path: String

    static func wrap(_ error: any Error, path: String) -> any Error {
        if error is StoreError || error is CancellationError { return error }
        if let database = error as? DatabaseError {
            return StoreError(code: "sqlite-\(database.resultCode.rawValue)",
                              message: database.message ?? "\(database.resultCode)", path: path)
        }
        return StoreError(code: "store", message: "\(error)", path: path)
    }

    public var description: String { "\(path): store error \(code): \(message)" }
    public static func == (lhs: StoreError, rhs: StoreError) -> Bool { lhs.code == rhs.code }
}
