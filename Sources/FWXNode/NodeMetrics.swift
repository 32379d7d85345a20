import Prometheus
import FWXStore
import Foundation

/// The node's metrics in Prometheus text format (GET /metrics). Each node has its own registry, so several nodes
/// in one process (tests, `fwx demo`) keep separate figures.
public final class NodeMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()

    public init() {}

    /// A batch submitted to this node, by result (`accepted`, `duplicate`, `invalid`, `forbidden`, `conflict`,
    /// `too-large`).
    func batchIn(_ result: String) {
        registry.makeCounter(name: "fwx_batches_in_total", labels: [("result", result)]).increment()
    }

    /// Records taken in, by outcome (`accepted`, `superseded`, `rejected`) and path (`push`, `pull`).
    func recordsIn(_ outcome: String, via path: String, count: Int) {
        guard count > 0 else { return }
        registry.makeCounter(name: "fwx_records_in_total", labels: [("outcome", outcome), ("via", path)])
            .increment(by: Int64(count))
    }

    /// Batches pushed to a peer and acknowledged with a receipt.
    func batchOut(peer: String) {
        registry.makeCounter(name: "fwx_batches_out_total", labels: [("peer", peer)]).increment()
    }

    /// Records handed to a peer (feed pages and single-record reads).
    func recordsOut(peer: String, count: Int) {
        registry.makeCounter(name: "fwx_records_out_total", labels: [("peer", peer)]).increment(by: Int64(count))
    }

    /// A refused request or delivery, by rule id or reason.
    func refusal(_ reason: String) {
        registry.makeCounter(name: "fwx_refusals_total", labels: [("reason", reason)]).increment()
    }

    /// A CRL download from a distribution point, by result (`accepted`, `not-newer`, `untrusted`, `unreadable`,
    /// `failed`, `timed-out`).
    func crlFetch(_ result: String) {
        registry.makeCounter(name: "fwx_crl_fetches_total", labels: [("result", result)]).increment()
    }

    /// How many CRLs in force are past their nextUpdate.
    func staleCRLs(_ count: Int) {
        registry.makeGauge(name: "fwx_crls_stale", labels: []).set(Double(count))
    }

    /// A failed push or pull attempt towards a peer.
    func syncFailure(peer: String, direction: String) {
        registry.makeCounter(name: "fwx_sync_failures_total", labels: [("peer", peer), ("direction", direction)])
            .increment()
    }

    /// An audit entry that could not be written (the store refused it); logged without personal data as well.
    func auditWriteFailure() {
        registry.makeCounter(name: "fwx_audit_write_failures_total", labels: []).increment()
    }

    /// A batch not admitted to the intake (503), by reason (`too-many-batches`, `memory-budget`).
    func admissionRefusal(_ reason: String) {
        registry.makeCounter(name: "fwx_admission_refusals_total", labels: [("reason", reason)]).increment()
    }

    /// A request body written to a spool file while it was checked, not held in memory.
    func spooledBody() {
        registry.makeCounter(name: "fwx_spooled_bodies_total", labels: []).increment()
    }

    /// A TLS handshake the node refused or that failed, by reason (`no-certificate`, `certificate-refused`,
    /// `protocol-version`, `no-shared-cipher`, `not-tls`, `handshake-timeout`, `handshake-failed`).
    func tlsRefusal(_ reason: String) {
        registry.makeCounter(name: "fwx_tls_refusals_total", labels: [("reason", reason)]).increment()
    }

    /// A connection the node closed because of a limit, by reason (`too-many-connections`, `header-timeout`,
    /// `body-timeout`, `idle-timeout`).
    func connectionClosed(_ reason: String) {
        registry.makeCounter(name: "fwx_connections_closed_total", labels: [("reason", reason)]).increment()
    }

    /// Intake and blocking work in flight, read at scrape time.
    func setLoad(intakeBytes: Int, intakeBatches: Int, blockingQueued: Int) {
        registry.makeGauge(name: "fwx_intake_bytes_in_flight", labels: []).set(Double(intakeBytes))
        registry.makeGauge(name: "fwx_intake_batches_in_flight", labels: []).set(Double(intakeBatches))
        registry.makeGauge(name: "fwx_blocking_work_queued", labels: []).set(Double(blockingQueued))
    }

    /// The text for a scrape, with per-peer queue lengths and lag read from the store now.
    func exposition(status: [PeerSyncStatus], counts: StoreCounts, now: Date = Date()) -> [UInt8] {
        for peer in status {
            registry.makeGauge(name: "fwx_outbox_queue_length", labels: [("peer", peer.peer)]).set(Double(peer.queued))
            registry.makeGauge(name: "fwx_outbox_dead_letters", labels: [("peer", peer.peer)])
                .set(Double(peer.deadLetters))
            let pushLag = peer.oldestQueuedAt.map { now.timeIntervalSince($0) } ?? 0
            registry.makeGauge(name: "fwx_push_lag_seconds", labels: [("peer", peer.peer)]).set(max(0, pushLag))
            if let lastPull = peer.lastPullAt {
                registry.makeGauge(name: "fwx_pull_age_seconds", labels: [("peer", peer.peer)])
                    .set(max(0, now.timeIntervalSince(lastPull)))
            }
        }
        registry.makeGauge(name: "fwx_store_records", labels: []).set(Double(counts.records))
        registry.makeGauge(name: "fwx_store_batches", labels: []).set(Double(counts.batches))
        return registry.emitToBuffer()
    }
}
