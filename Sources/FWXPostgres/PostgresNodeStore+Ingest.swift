public import FWXModel
public import FWXStore
public import Foundation
import Logging
import NIOCore
import PostgresNIO

// Keeping batches and pulled records: idempotent under concurrency, with feed positions in commit order.
//
// One transaction (read committed) does, in this order:
// 1. claims the batch: `INSERT INTO batches ... ON CONFLICT DO NOTHING` on the batch id and the (sender, agency,
//    sequence number) key. A concurrent insert of the same key waits on the unique index until the first
//    transaction ends, then either inserts (the first rolled back) or does nothing; the next statement's snapshot
//    sees the committed winner, so a replay is answered `.duplicate` with the stored outcomes (and the receipt once
//    kept), a reused id or sequence number `.conflict`.
// 2. locks the records it may change, `SELECT ... FOR UPDATE` in record id order (so two batches touching the
//    same records never deadlock), decides each record's outcome against the locked rows, keeps the outcomes,
//    queues the pushes, appends the audit entry and sends NOTIFY (delivered at commit).
// 3. last, takes the feed clock: `UPDATE fwx_feed_clock SET position = position + n RETURNING position` locks its
//    one row until COMMIT, then inserts the revisions at those positions and moves `records` to them.
//
// Why a reader never skips a record: positions are handed out only under the clock row's lock, and the lock is
// released after the transaction's commit is visible (PostgreSQL marks a transaction committed, then releases its
// locks). So if transaction B took positions after transaction A, B could take them only once A had committed, and
// B commits after that: positions are committed in increasing order. A reader's snapshot that contains B's
// position therefore contains A's, and every lower one that will ever exist: once a page has shown position p, no
// transaction can commit a position at or below p, and `WHERE seq > p ORDER BY seq` misses nothing. A transaction
// that rolls back after taking positions frees the lock having committed nothing; its positions are never used
// (gaps are harmless: they are never filled later). The cost is that the tail of each writing transaction (its
// revision and record rows, its COMMIT) is serialised; everything before the lock runs in parallel
// (docs/scale-out.md has the measurements).
//
// Records that do not exist yet have no row to lock: two transactions may both take one for new. The second to
// reach the clock then fails on the revision's unique key, or finds the record row already there when it inserts;
// it rolls back and runs again (``PostgresNodeStore/write(_:)``), and then sees the record as held: the lower or
// equal revision ends `superseded`, a higher one is kept with the union of both audiences. The latest revision of a
// record is therefore always its highest.

extension PostgresNodeStore {
    public func ingest(_ submission: BatchSubmission, audit: AuditEntry) async throws -> IngestResult {
        let logger = self.logger
        return try await write { connection in
            try await Self.ingest(submission, audit: audit, on: connection, logger)
        }
    }

    private static func ingest(_ submission: BatchSubmission, audit: AuditEntry, on connection: PostgresConnection,
                               _ logger: Logger) async throws -> IngestResult {
        let at = submission.receivedAt.timeIntervalSince1970
        let sequence = Int64(bitPattern: submission.sequenceNumber)
        let claimed = try await connection.rows("""
            INSERT INTO batches (batch_id, sender_country, sender_agency, sequence_number, digest, received_at,
                                 caller_country, caller_fingerprint, record_count, signed_batch)
            VALUES (\(submission.batchId), \(submission.sender.country), \(submission.sender.agencyId), \(sequence),
                    \(submission.digest), \(at), \(submission.caller.country), \(submission.caller.fingerprint),
                    \(submission.records.count), \(ByteBuffer(bytes: submission.signedBatch)))
            ON CONFLICT DO NOTHING RETURNING batch_id
            """, logger) { _ in true }
        if claimed.isEmpty {
            return try await replay(submission, audit: audit, on: connection, logger)
        }

        let recipients = PostgresAudience.text(submission.recipients)
        let (outcomes, plan) = try await decide(submission.records, origin: submission.sender.country,
                                                recipients: recipients, on: connection, logger)
        try await connection.run("""
            UPDATE batches SET outcomes = \(try PostgresOutcomes.encode(outcomes))
            WHERE batch_id = \(submission.batchId)
            """, logger)
        var peers: [String] = []
        for peer in submission.pushTo where !peers.contains(peer) { peers.append(peer) }
        if !peers.isEmpty {
            try await connection.run("""
                INSERT INTO outbox (peer, batch_id, state, next_attempt_at, created_at)
                SELECT peer, \(submission.batchId), 'queued', \(at), \(at) FROM unnest(\(peers)::text[]) AS peer
                ON CONFLICT (peer, batch_id) DO NOTHING
                """, logger)
            try await PostgresStoreDatabase.notify(outboxChannel, on: connection, logger: logger)
        }
        try await insertAudit(audit, result: nil, on: connection, logger)
        try await keep(plan, origin: submission.sender.country, recipients: recipients,
                       batchId: submission.batchId, source: "batch", at: at, on: connection, logger)
        return .accepted(outcomes: outcomes)
    }

    /// The batch id or the sender's sequence number is taken (by a committed transaction: the claim waited for it).
    private static func replay(_ submission: BatchSubmission, audit: AuditEntry, on connection: PostgresConnection,
                               _ logger: Logger) async throws -> IngestResult {
        let stored = try await connection.rows("""
            SELECT digest, receipt, outcomes, received_at FROM batches WHERE batch_id = \(submission.batchId)
            """, logger) { try $0.decode((String, ByteBuffer?, ByteBuffer?, Double).self) }
        if let (digest, receipt, outcomes, receivedAt) = stored.first {
            guard digest == submission.digest else {
                return .conflict(StoreConflict(
                    rule: RuleID.batchIdReused,
                    message: "batch id \(submission.batchId) is already used by a different batch (other content); "
                        + "give a corrected batch a new batch id"))
            }
            try await insertAudit(audit, result: "duplicate", on: connection, logger)
            return .duplicate(receipt: receipt.map { Array($0.readableBytesView) },
                              outcomes: try outcomes.map(PostgresOutcomes.decode) ?? [],
                              receivedAt: Date(timeIntervalSince1970: receivedAt))
        }
        let other = try await connection.rows("""
            SELECT batch_id FROM batches WHERE sender_country = \(submission.sender.country)
                AND sender_agency = \(submission.sender.agencyId)
                AND sequence_number = \(Int64(bitPattern: submission.sequenceNumber))
            """, logger) { try $0.decode(String.self) }
        guard let other = other.first else {
            // The row that refused the claim is gone (never happens: batches are not deleted); claim again.
            throw TransactionRetry()
        }
        return .conflict(.sequenceReused(submission.sequenceNumber, sender: submission.sender, usedBy: other))
    }

    public func keepReceipt(batchId: String, receipt: [UInt8]) async throws -> [UInt8] {
        let logger = self.logger
        return try await write { connection in
            // The first receipt kept wins: a concurrent UPDATE waits on the row, then finds the receipt set.
            try await connection.run("""
                UPDATE batches SET receipt = \(ByteBuffer(bytes: receipt))
                WHERE batch_id = \(batchId) AND receipt IS NULL
                """, logger)
            let kept = try await connection.rows("SELECT receipt FROM batches WHERE batch_id = \(batchId)", logger) {
                try $0.decode(ByteBuffer?.self)
            }
            guard let row = kept.first else {
                throw StoreError(.missing, "there is no batch \(batchId) to keep a receipt for")
            }
            guard let row else { throw StoreError(.internal, "the receipt of batch \(batchId) was not kept") }
            return Array(row.readableBytesView)
        }
    }

    // MARK: - Pulls

    public func claimPull(peer: String, token: UUID, now: Date, seconds: TimeInterval) async throws -> PullLease? {
        let until = now.addingTimeInterval(seconds)
        let holder = self.holder
        let logger = self.logger
        let cursors = try await write { connection in
            // One statement: a concurrent claim of a new peer waits on the key, then finds the other's lease.
            try await connection.rows("""
                INSERT INTO pulls (peer, holder, lease_token, lease_until)
                VALUES (\(peer), \(holder), \(token), \(until.timeIntervalSince1970))
                ON CONFLICT (peer) DO UPDATE SET holder = excluded.holder, lease_token = excluded.lease_token,
                    lease_until = excluded.lease_until
                WHERE pulls.lease_token IS NULL OR pulls.lease_token = excluded.lease_token
                    OR pulls.lease_until <= \(now.timeIntervalSince1970)
                RETURNING cursor
                """, logger) { try $0.decode(String?.self) }
        }
        guard let cursor = cursors.first else { return nil }
        return PullLease(peer: peer, token: token, cursor: cursor, leaseUntil: until)
    }

    public func applyPulled(_ records: [IncomingRecord], lease: PullLease, cursor: String, at: Date,
                            audit: AuditEntry) async throws -> (outcomes: [RecordOutcome], lease: PullLease) {
        let logger = self.logger
        let time = at.timeIntervalSince1970
        let outcomes = try await write { connection in
            // Compare-and-set first, holding the peer's row until commit: under a lost or expired lease, or a cursor
            // that moved meanwhile, nothing is kept.
            let held = try await connection.rows("""
                SELECT 1 FROM pulls WHERE peer = \(lease.peer) AND lease_token = \(lease.token)
                    AND lease_until > \(time) AND cursor IS NOT DISTINCT FROM \(lease.cursor)::text
                FOR UPDATE
                """, logger) { _ in true }
            guard !held.isEmpty else {
                throw StoreError(.conflict, "the pull lease on \(lease.peer) was lost or its cursor moved; "
                    + "nothing from this page was kept, and the next pull starts from the stored cursor")
            }
            let recipients = PostgresAudience.text(.countries([]))
            let (outcomes, plan) = try await Self.decide(records, origin: lease.peer, recipients: recipients,
                                                         on: connection, logger)
            let kept = outcomes.filter { $0.result == .accepted }.count
            try await connection.run("""
                UPDATE pulls SET cursor = \(cursor), cursor_version = cursor_version + 1,
                    last_success_at = \(time), last_attempt_at = \(time), last_error = NULL,
                    records_pulled = records_pulled + \(kept)
                WHERE peer = \(lease.peer)
                """, logger)
            try await Self.insertAudit(audit, result: nil, on: connection, logger)
            try await Self.keep(plan, origin: lease.peer, recipients: recipients, batchId: nil, source: "feed",
                                at: time, on: connection, logger)
            return outcomes
        }
        var renewed = lease
        renewed.cursor = cursor
        return (outcomes, renewed)
    }

    public func releasePull(_ lease: PullLease, error: String?, at: Date) async throws {
        let logger = self.logger
        try await write { connection in
            try await connection.run("""
                UPDATE pulls SET lease_token = NULL, lease_until = NULL, holder = NULL,
                    last_attempt_at = CASE WHEN \(error)::text IS NULL THEN last_attempt_at
                                           ELSE \(at.timeIntervalSince1970) END,
                    last_error = coalesce(\(error)::text, last_error)
                WHERE peer = \(lease.peer) AND lease_token = \(lease.token)
                """, logger)
        }
    }

    public func recordPullFailure(peer: String, error: String, at: Date) async throws {
        let logger = self.logger
        try await write { connection in
            try await connection.run("""
                INSERT INTO pulls (peer, last_attempt_at, last_error) VALUES (\(peer), \(at.timeIntervalSince1970),
                                                                             \(error))
                ON CONFLICT (peer) DO UPDATE SET last_attempt_at = excluded.last_attempt_at,
                    last_error = excluded.last_error
                """, logger)
        }
    }

    public func pullCursor(peer: String) async throws -> String? {
        let logger = self.logger
        return try await read { connection in
            try await connection.rows("SELECT cursor FROM pulls WHERE peer = \(peer)", logger) {
                try $0.decode(String?.self)
            }.first ?? nil
        }
    }

    // MARK: - Deciding and keeping records

    /// A record as held while a batch is decided: the locked row, or a revision kept earlier in the same batch.
    private struct Held {
        var origin: String
        var revision: Int
        var audience: String
        /// Whether the record had a row before this transaction (locked by it), or is new.
        var existed: Bool
    }

    /// What ``keep(_:origin:recipients:batchId:source:at:on:_:)`` writes: the revisions to keep, in batch order, and
    /// each record's latest state.
    struct KeepPlan: Sendable {
        var revisions: [IncomingRecord] = []
        /// Per record kept: the index in ``revisions`` of its latest revision, its audience, and whether it existed.
        var latest: [String: (index: Int, audience: String, existed: Bool)] = [:]
    }

    /// Decides each record against the rows held (locked `FOR UPDATE` in record id order until commit): a revision
    /// newer than the one held is kept, an older or equal one is `superseded`, a record owned by another country
    /// `rejected`.
    private static func decide(_ records: [IncomingRecord], origin: String, recipients: String,
                               on connection: PostgresConnection, _ logger: Logger) async throws
        -> ([RecordOutcome], KeepPlan)
    {
        guard !records.isEmpty else { return ([], KeepPlan()) }
        let ids = Set(records.map(\.recordId)).sorted()
        var held: [String: Held] = [:]
        for (id, heldOrigin, revision, audience) in try await connection.rows("""
            SELECT record_id, origin_country, revision, audience FROM records
            WHERE record_id = ANY(\(ids)::text[]) ORDER BY record_id FOR UPDATE
            """, logger, { try $0.decode((String, String, Int64, String).self) }) {
            held[id] = Held(origin: heldOrigin, revision: Int(revision), audience: audience, existed: true)
        }
        var outcomes: [RecordOutcome] = []
        outcomes.reserveCapacity(records.count)
        var plan = KeepPlan()
        plan.revisions.reserveCapacity(records.count)
        for record in records {
            var audience = recipients
            let before = held[record.recordId]
            if let before {
                if before.origin != origin {
                    outcomes.append(RecordOutcome(recordId: record.recordId, revision: record.revision,
                                                  result: .rejected, rule: RuleID.recordIdCountry))
                    continue
                }
                if before.revision >= record.revision {
                    outcomes.append(RecordOutcome(recordId: record.recordId, revision: record.revision,
                                                  result: .superseded))
                    continue
                }
                audience = PostgresAudience.union(before.audience, recipients)
            }
            let existed = before?.existed ?? false
            held[record.recordId] = Held(origin: origin, revision: record.revision, audience: audience,
                                         existed: existed)
            plan.revisions.append(record)
            plan.latest[record.recordId] = (plan.revisions.count - 1, audience, existed)
            outcomes.append(RecordOutcome(recordId: record.recordId, revision: record.revision, result: .accepted))
        }
        return (outcomes, plan)
    }

    /// Writes a plan: search keys and facts of records that existed (their rows are locked) first; then, as the
    /// transaction's last step, the feed positions, the revisions at them, the records moved to them, and the keys
    /// and facts of new records (which need the record row).
    private static func keep(_ plan: KeepPlan, origin: String, recipients: String, batchId: String?, source: String,
                             at: Double, on connection: PostgresConnection, _ logger: Logger) async throws {
        guard !plan.revisions.isEmpty else { return }
        let latest = plan.latest.sorted { $0.key < $1.key }
        let existing = latest.filter { $0.value.existed }.map { plan.revisions[$0.value.index] }
        if !existing.isEmpty {
            let ids = existing.map(\.recordId)
            try await connection.run("DELETE FROM record_keys WHERE record_id = ANY(\(ids)::text[])", logger)
            try await connection.run("DELETE FROM latest_facts WHERE record_id = ANY(\(ids)::text[])", logger)
            try await keepKeysAndFacts(existing, on: connection, logger)
        }

        // The feed clock: from here to COMMIT, other writers wait (see the top of this file).
        let count = plan.revisions.count
        let top = try await connection.rows("""
            UPDATE fwx_feed_clock SET position = position + \(Int64(count)) WHERE id = 1 RETURNING position
            """, logger) { try $0.decode(Int64.self) }
        guard let top = top.first else {
            throw StoreError(.corrupt, "the store's feed clock is missing (the schema is damaged)")
        }
        let positions = (0..<count).map { top - Int64(count) + 1 + Int64($0) }
        let revisions = plan.revisions
        try await connection.run("""
            INSERT INTO revisions (seq, record_id, revision, origin_country, batch_id, source, kind, status,
                                   handling_code, recipients, xml, received_at)
            SELECT u.seq, u.record_id, u.revision, \(origin), \(batchId)::text, \(source), u.kind, u.status,
                   u.handling_code, \(recipients), u.xml, \(at)
            FROM unnest(\(positions)::int8[], \(revisions.map(\.recordId))::text[], \(revisions.map(\.revision))::int8[],
                        \(revisions.map(\.kind))::text[], \(revisions.map(\.status.rawValue))::text[],
                        \(revisions.map(\.handlingCode.rawValue))::text[], \(revisions.map(\.xml))::text[])
                AS u(seq, record_id, revision, kind, status, handling_code, xml)
            """, logger)

        // Records held were locked by this transaction: they move to their new latest revision. New ones are
        // inserted, never waiting for a row another transaction holds (DO NOTHING takes no row lock; only writers
        // under the clock insert record rows, and none is in flight now): a record created meanwhile by another
        // transaction is left alone and this transaction runs again, deciding against it (its audience and the
        // outcome of this revision were decided without it). Waiting here instead would deadlock: that
        // transaction may hold the row and wait for the clock this one holds.
        let held = latest.filter { $0.value.existed }
        if !held.isEmpty {
            let records = held.map { plan.revisions[$0.value.index] }
            let moved = try await connection.rows("""
                UPDATE records SET revision = u.revision, seq = u.seq, status = u.status,
                    handling_code = u.handling_code, audience = u.audience, updated_at = \(at)
                FROM unnest(\(records.map(\.recordId))::text[], \(records.map(\.revision))::int8[],
                            \(held.map { positions[$0.value.index] })::int8[],
                            \(records.map(\.status.rawValue))::text[], \(records.map(\.handlingCode.rawValue))::text[],
                            \(held.map(\.value.audience))::text[])
                    AS u(record_id, revision, seq, status, handling_code, audience)
                WHERE records.record_id = u.record_id AND records.revision < u.revision
                RETURNING records.record_id
                """, logger) { _ in true }
            guard moved.count == held.count else {
                throw StoreError(.internal, "a record locked for update changed under its lock")
            }
        }
        let created = latest.filter { !$0.value.existed }.map { plan.revisions[$0.value.index] }
        if !created.isEmpty {
            let inserted = try await connection.rows("""
                INSERT INTO records (record_id, origin_country, revision, seq, status, handling_code, audience,
                                     updated_at)
                SELECT u.record_id, \(origin), u.revision, u.seq, u.status, u.handling_code, u.audience, \(at)
                FROM unnest(\(created.map(\.recordId))::text[], \(created.map(\.revision))::int8[],
                            \(latest.filter { !$0.value.existed }.map { positions[$0.value.index] })::int8[],
                            \(created.map(\.status.rawValue))::text[], \(created.map(\.handlingCode.rawValue))::text[],
                            \(latest.filter { !$0.value.existed }.map(\.value.audience))::text[])
                    AS u(record_id, revision, seq, status, handling_code, audience)
                ON CONFLICT (record_id) DO NOTHING
                RETURNING record_id
                """, logger) { _ in true }
            guard inserted.count == created.count else { throw TransactionRetry() }
        }
        try await keepKeysAndFacts(created, on: connection, logger)
    }

    /// Search keys and analysis facts exist for the latest revision of active records only.
    private static func keepKeysAndFacts(_ records: [IncomingRecord], on connection: PostgresConnection,
                                         _ logger: Logger) async throws {
        var keyIds: [String] = [], keys: [String] = []
        var factIds: [String] = [], facts: [ByteBuffer] = []
        for record in records where record.status == .active {
            for key in Set(record.searchKeys).sorted() {
                keyIds.append(record.recordId)
                keys.append(key)
            }
            if let bytes = record.facts {
                factIds.append(record.recordId)
                facts.append(ByteBuffer(bytes: bytes))
            }
        }
        if !keys.isEmpty {
            try await connection.run("""
                INSERT INTO record_keys (key, record_id) SELECT * FROM unnest(\(keys)::text[], \(keyIds)::text[])
                ON CONFLICT DO NOTHING
                """, logger)
        }
        if !facts.isEmpty {
            try await connection.run("""
                INSERT INTO latest_facts (record_id, facts) SELECT * FROM unnest(\(factIds)::text[], \(facts)::bytea[])
                ON CONFLICT (record_id) DO UPDATE SET facts = excluded.facts
                """, logger)
        }
    }
}
