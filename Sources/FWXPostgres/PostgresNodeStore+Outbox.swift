public import FWXStore
public import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization

// The outbox for several processes: an entry is claimed with a lease (`FOR UPDATE SKIP LOCKED`, a fresh token per
// entry), and its result is recorded only while the claim's token is still the entry's and the entry still queued.
// A holder that stops or hangs loses the entry when its lease runs out; another process claims it again, and the
// late holder's result is refused (false), so an entry is never both delivered and dead.

extension PostgresNodeStore {
    static let outboxColumns = """
        id, peer, batch_id, state, attempts, next_attempt_at, last_error, created_at
        """

    static func outboxEntry(_ row: PostgresRow) throws -> OutboxEntry {
        let (id, peer, batchId, state, attempts, next, error, created) = try row.decode(
            (Int64, String, String, String, Int, Double, String?, Double).self)
        return OutboxEntry(id: id, peer: peer, batchId: batchId, state: OutboxEntry.State(rawValue: state) ?? .queued,
                           attempts: attempts, nextAttemptAt: Date(timeIntervalSince1970: next), lastError: error,
                           createdAt: Date(timeIntervalSince1970: created))
    }

    public func claimPushes(now: Date, limit: Int, seconds: TimeInterval) async throws -> [OutboxClaim] {
        guard limit > 0 else { return [] }
        let until = now.addingTimeInterval(seconds)
        let holder = self.holder
        let logger = self.logger
        // Rows another claimer has locked are skipped, not waited for; a row it has already committed a lease on
        // is re-checked against the lease condition (read committed re-evaluates a locked row's newest version).
        let query: PostgresQuery = """
            WITH due AS (
                SELECT id FROM outbox
                WHERE state = 'queued' AND next_attempt_at <= \(now.timeIntervalSince1970)
                  AND (lease_until IS NULL OR lease_until <= \(now.timeIntervalSince1970))
                ORDER BY next_attempt_at, id LIMIT \(limit)
                FOR UPDATE SKIP LOCKED)
            UPDATE outbox o SET lease_token = gen_random_uuid(), lease_until = \(until.timeIntervalSince1970),
                holder = \(holder)
            FROM due WHERE o.id = due.id
            RETURNING o.id, o.peer, o.batch_id, o.state, o.attempts, o.next_attempt_at, o.last_error, o.created_at,
                o.lease_token
            """
        let claims = try await write { connection in
            try await connection.rows(query, logger) { row -> OutboxClaim in
                let token = try row.makeRandomAccess()[8].decode(UUID.self)
                return OutboxClaim(entry: try Self.outboxEntry(row), token: token, leaseUntil: until)
            }
        }
        return claims.sorted { ($0.entry.nextAttemptAt, $0.entry.id) < ($1.entry.nextAttemptAt, $1.entry.id) }
    }

    public func nextPushDue() async throws -> Date? {
        let logger = self.logger
        let due: Double? = try await read { connection in
            let rows = try await connection.rows("""
                SELECT min(CASE WHEN lease_until IS NULL THEN next_attempt_at
                                ELSE greatest(next_attempt_at, lease_until) END)
                FROM outbox WHERE state = 'queued'
                """, logger) { try $0.decode(Double?.self) }
            return rows.first ?? nil
        }
        return due.map { Date(timeIntervalSince1970: $0) }
    }

    public func recordPushDelivered(_ claim: OutboxClaim, receipt: [UInt8], at: Date, audit: AuditEntry)
        async throws -> Bool
    {
        let logger = self.logger
        return try await write { connection in
            let changed = try await connection.rows("""
                UPDATE outbox SET state = 'delivered', attempts = attempts + 1,
                    delivered_at = \(at.timeIntervalSince1970), receipt = \(ByteBuffer(bytes: receipt)),
                    last_error = NULL, lease_token = NULL, lease_until = NULL, holder = NULL
                WHERE id = \(claim.entry.id) AND lease_token = \(claim.token) AND state = 'queued'
                RETURNING id
                """, logger) { _ in true }
            guard !changed.isEmpty else { return false }
            try await Self.insertAudit(audit, result: nil, on: connection, logger)
            return true
        }
    }

    public func recordPushFailure(_ claim: OutboxClaim, error: String, retryAt: Date?, at: Date) async throws
        -> Bool
    {
        let logger = self.logger
        return try await write { connection in
            let changed: [Bool]
            if let retryAt {
                changed = try await connection.rows("""
                    UPDATE outbox SET attempts = attempts + 1, next_attempt_at = \(retryAt.timeIntervalSince1970),
                        last_error = \(error), lease_token = NULL, lease_until = NULL, holder = NULL
                    WHERE id = \(claim.entry.id) AND lease_token = \(claim.token) AND state = 'queued'
                    RETURNING id
                    """, logger) { _ in true }
            } else {
                changed = try await connection.rows("""
                    UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = \(error),
                        lease_token = NULL, lease_until = NULL, holder = NULL
                    WHERE id = \(claim.entry.id) AND lease_token = \(claim.token) AND state = 'queued'
                    RETURNING id
                    """, logger) { _ in true }
            }
            return !changed.isEmpty
        }
    }

    public func requeueDeadLetters(peer: String?, at: Date, audit: @escaping @Sendable (Int) -> AuditEntry)
        async throws -> Int
    {
        let logger = self.logger
        return try await write { connection in
            let requeued = try await connection.rows("""
                UPDATE outbox SET state = 'queued', attempts = 0, next_attempt_at = \(at.timeIntervalSince1970),
                    lease_token = NULL, lease_until = NULL, holder = NULL
                WHERE state = 'dead' AND (\(peer)::text IS NULL OR peer = \(peer)::text)
                RETURNING id
                """, logger) { _ in true }
            try await Self.insertAudit(audit(requeued.count), result: nil, on: connection, logger)
            if !requeued.isEmpty {
                try await PostgresStoreDatabase.notify(Self.outboxChannel, on: connection, logger: logger)
            }
            return requeued.count
        }
    }

    public func outbox(peer: String?) async throws -> [OutboxEntry] {
        let logger = self.logger
        let query: PostgresQuery = """
            SELECT \(unescaped: Self.outboxColumns) FROM outbox
            WHERE \(peer)::text IS NULL OR peer = \(peer)::text ORDER BY id
            """
        return try await read { connection in try await connection.rows(query, logger, Self.outboxEntry) }
    }
}

/// The store's outbox wake-ups: one LISTEN connection (started on the first subscription) fanned out to every
/// subscriber's stream, each buffering at most one wake-up (several coalesce into one).
final class OutboxWakeupHub: Sendable {
    private struct State {
        var subscribers: [Int: AsyncStream<Void>.Continuation] = [:]
        var nextId = 0
        var listener: Task<Void, Never>?
        var closed = false
    }
    private let state = Mutex(State())

    /// A new stream of wake-ups; `start` makes the listener task when there is none yet.
    func subscribe(start: (OutboxWakeupHub) -> Task<Void, Never>) -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id = state.withLock { state -> Int? in
            guard !state.closed else { return nil }
            let id = state.nextId
            state.nextId += 1
            state.subscribers[id] = continuation
            if state.listener == nil { state.listener = start(self) }
            return id
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    func broadcast() {
        for subscriber in state.withLock({ Array($0.subscribers.values) }) { subscriber.yield() }
    }

    /// Finishes every stream and stops the listener.
    func close() async {
        let (listener, subscribers) = state.withLock { state in
            state.closed = true
            defer {
                state.subscribers = [:]
                state.listener = nil
            }
            return (state.listener, Array(state.subscribers.values))
        }
        for subscriber in subscribers { subscriber.finish() }
        listener?.cancel()
        await listener?.value
    }
}
