import FWXStore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The node's way into its audit table. Entries of authenticated requests are written at once and durably (a write
/// that fails is logged and counted in /metrics, and fails the request that needed it). Refusals anyone who can
/// reach the port can cause (refused handshakes, connections over a limit, 503 answers) are counted instead, per
/// (certificate fingerprint or client address, target, result), and written as one entry per window saying how
/// many, so that no anonymous client can force one durable write per attempt. ``PeriodicService/auditFlush(_:)`` writes the
/// counts every `audit.refusalWindowSeconds` and once more on graceful shutdown.
public final class AuditTrail: Sendable {
    let store: any NodeStore
    let metrics: NodeMetrics
    let logger: Logger
    /// Seconds refusals are counted before they are written.
    public let windowSeconds: Double
    /// Distinct (subject, target, result) counted at once; beyond it, refusals are counted under one subject.
    static let maxPendingKeys = 10_000

    private struct Key: Hashable {
        var subject: String
        var target: String
        var result: String
    }
    private struct Count {
        var entry: AuditEntry
        var count: Int
    }
    private let pending = Mutex<[Key: Count]>([:])

    init(store: any NodeStore, metrics: NodeMetrics, logger: Logger, windowSeconds: Double) {
        self.store = store
        self.metrics = metrics
        self.logger = logger
        self.windowSeconds = windowSeconds
    }

    /// Writes `entry` now; a failure is logged (without the entry's content) and counted, then thrown.
    func write(_ entry: AuditEntry) async throws {
        do {
            try await store.appendAudit(entry)
        } catch {
            failed(action: entry.action, error)
            throw error
        }
    }

    /// Counts a store failure to write an audit entry (also for entries written in another transaction).
    func failed(action: String, _ error: any Error) {
        metrics.auditWriteFailure()
        logger.error("audit entry not written", metadata: ["action": "\(action)", "error": "\(type(of: error))"])
    }

    /// Counts a refusal by `subject` (the certificate's fingerprint, or the client's address when there is none);
    /// the first refusal of a window gives the entry's time, caller and detail.
    func refusal(_ entry: AuditEntry, subject: String) {
        let key = Key(subject: subject, target: entry.target, result: entry.result)
        pending.withLock { pending in
            if pending[key] != nil {
                pending[key]!.count += 1
            } else if pending.count < Self.maxPendingKeys {
                pending[key] = Count(entry: entry, count: 1)
            } else {
                let overflow = Key(subject: "(others)", target: entry.target, result: entry.result)
                var first = entry
                first.detail = "from more sources than the audit counts apart in one window"
                pending[overflow, default: Count(entry: first, count: 0)].count += 1
            }
        }
    }

    /// Refusals counted and not written yet.
    var pendingRefusals: Int { pending.withLock { $0.values.reduce(0) { $0 + $1.count } } }

    /// Writes every count as one entry (detail `N refusals: ...`); failures are logged and counted.
    public func flush() async {
        let counts = pending.withLock { pending in
            defer { pending.removeAll() }
            return Array(pending.values)
        }
        for count in counts.sorted(by: { $0.entry.at < $1.entry.at }) {
            var entry = count.entry
            let what = count.count == 1 ? "1 refusal" : "\(count.count) refusals"
            entry.detail = entry.detail.map { "\(what): \($0)" } ?? what
            try? await write(entry)
        }
    }
}

/// Runs `turn` every `seconds` until the node shuts down gracefully, then `last` once.
struct PeriodicService: Service {
    let seconds: Double
    let turn: @Sendable () async -> Void
    var last: @Sendable () async -> Void = {}

    func run() async throws {
        let stopping = StopFlag()
        let wakeup = Wakeup()
        await withGracefulShutdownHandler {
            while !stopping.isSet && !Task.isCancelled {
                await wakeup.wait(seconds: seconds)
                await turn()
            }
        } onGracefulShutdown: {
            stopping.stop()
            wakeup.signal()
        }
        await last()
    }
}

extension PeriodicService {
    /// Writes the audit trail's refusal counts every window, and once more when the node shuts down gracefully
    /// (after the HTTPS server has stopped: it runs among the application's services, which stop after the server).
    static func auditFlush(_ trail: AuditTrail) -> PeriodicService {
        PeriodicService(seconds: trail.windowSeconds, turn: { await trail.flush() }, last: { await trail.flush() })
    }
}
