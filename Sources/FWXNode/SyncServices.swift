public import FWXModel
public import FWXSigning
import FWXClient
public import FWXStore
public import Foundation
import Logging
public import ServiceLifecycle
import Synchronization

/// A flag one task sets and others read, to stop loops between items.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func stop() { value.store(true, ordering: .relaxed) }
    var isSet: Bool { value.load(ordering: .relaxed) }
}

/// Pushes the batches of the node's own liaisons to the peers configured with `push: true`, as soon as they are
/// stored. A delivery counts only with a receipt whose signature and digest check out; failures are retried with
/// exponential backoff and jitter, and after `outbox.maxAttempts` the push becomes a dead letter. The queue is in
/// the store, so it survives restarts. On graceful shutdown the push in flight finishes first.
public struct OutboxService: Service {
    let node: ExchangeNode
    /// Longest sleep between looks at the queue when nothing wakes the service.
    var idleSeconds: Double = 5
    /// Pushes in flight to one peer at a time.
    var concurrentPushesPerPeer = 4
    /// How long a claim on a queued push holds (`outbox.leaseSeconds`).
    var leaseSeconds: Double { node.configuration.outbox.leaseSeconds }

    public init(node: ExchangeNode) { self.node = node }

    public func run() async throws {
        let stopping = StopFlag()
        let exchanges = Dictionary(uniqueKeysWithValues: node.configuration.peers.map { peer in
            (peer.country, PeerExchange(client: node.client(for: peer), baseURL: peer.baseURL,
                                        trust: node.peerTrust[peer.country] ?? node.trustStore,
                                        expectedCountry: peer.country))
        })
        // Another process on the same database accepted a batch: wake up and claim it (a hint; the loop polls too).
        let store = node.store
        let wakeup = node.outboxWakeup
        let listening = Task {
            for await _ in store.outboxWakeups() { wakeup.signal() }
        }
        defer { listening.cancel() }
        var storeFailures = 0
        try await withGracefulShutdownHandler {
            while !stopping.isSet {
                let due: [OutboxClaim]
                do {
                    // Claimed for as long as a delivery may take (every attempt is bounded by the client's
                    // timeouts): another process on the same database leaves these alone until the lease runs out.
                    due = try await node.store.claimPushes(now: Date(), limit: 32, seconds: leaseSeconds)
                    if due.isEmpty {
                        let next = try await node.store.nextPushDue()
                        storeFailures = 0
                        let wait = min(idleSeconds, max(0.01, next.map { $0.timeIntervalSinceNow } ?? idleSeconds))
                        await node.outboxWakeup.wait(seconds: wait)
                        continue
                    }
                    storeFailures = 0
                } catch let error as StoreError where error.isTransient {
                    // The database is down or busy (a restart, a failover): the queue is safe in it; wait and
                    // look again, without ending the service.
                    storeFailures += 1
                    node.logger.warning("cannot read the outbox; will retry",
                                        metadata: ["code": "\(error.code.rawValue)", "attempt": "\(storeFailures)"])
                    await node.outboxWakeup.wait(seconds: min(idleSeconds, 0.25 * pow(2, Double(min(storeFailures, 5)))))
                    continue
                }
                // Deliveries run side by side: up to `concurrentPushesPerPeer` per peer, each peer independently,
                // so one slow or unreachable peer does not hold up the others and a burst drains quickly.
                // Order between batches does not matter to the receiver (revisions decide).
                await withTaskGroup(of: Void.self) { group in
                    for (peer, entries) in Dictionary(grouping: due, by: \.entry.peer) {
                        let lanes = min(concurrentPushesPerPeer, entries.count)
                        for lane in 0..<lanes {
                            group.addTask {
                                for entry in entries.enumerated().filter({ $0.offset % lanes == lane }).map(\.element)
                                where !stopping.isSet {
                                    await deliver(entry, via: exchanges[peer])
                                }
                            }
                        }
                    }
                }
            }
        } onGracefulShutdown: {
            stopping.stop()
            node.outboxWakeup.signal()
        }
    }

    /// One attempt at one push; every outcome is written to the store.
    func deliver(_ claim: OutboxClaim, via exchange: PeerExchange?) async {
        let entry = claim.entry
        let settings = node.configuration.outbox
        var logger = node.logger
        logger[metadataKey: "peer"] = "\(entry.peer)"
        logger[metadataKey: "batch"] = "\(entry.batchId)"
        func fail(_ message: String, permanent: Bool) async {
            let attempts = entry.attempts + 1
            let dead = permanent || attempts >= settings.maxAttempts
            let backoff = min(settings.maxBackoffSeconds,
                              settings.initialBackoffSeconds * pow(2, Double(min(attempts - 1, 30))))
            let retryAt = dead ? nil : Date().addingTimeInterval(backoff * Double.random(in: 0.5...1.0))
            node.metrics.syncFailure(peer: entry.peer, direction: "push")
            logger.warning(dead ? "push is a dead letter" : "push failed; will retry",
                           metadata: ["attempt": "\(attempts)", "reason": "\(message)"])
            do {
                if try await !node.store.recordPushFailure(claim, error: message, retryAt: retryAt, at: Date()) {
                    logger.notice("the claim on this push ran out meanwhile; its new holder decides")
                }
            } catch {
                logger.error("cannot record the failed push", metadata: ["error": "\(error)"])
            }
        }
        guard let exchange else { return await fail("\(entry.peer) is no longer a configured peer", permanent: true) }
        do {
            guard let stored = try await node.store.signedBatch(id: entry.batchId) else {
                return await fail("batch \(entry.batchId) is not in the store", permanent: true)
            }
            switch try await exchange.push(stored.bytes, batchId: entry.batchId, digest: stored.digest) {
            case .delivered(_, let xml):
                let recorded = try await node.store.recordPushDelivered(
                    claim, receipt: xml, at: Date(),
                    audit: AuditEntry(callerCountry: entry.peer, callerFingerprint: "-", action: "batch-out",
                                      target: entry.batchId, result: "ok", detail: "receipt verified"))
                if !recorded {
                    // Another process holds the entry now and re-sends it; the peer answers with the same receipt.
                    logger.notice("delivered, but the claim had run out; its new holder records the delivery")
                    return
                }
                node.metrics.batchOut(peer: entry.peer)
                logger.info("batch pushed; receipt verified")
            case .refused(let status, let message):
                await fail("HTTP \(status): \(message)", permanent: true)
            case .retry(let message):
                await fail(message, permanent: false)
            }
        } catch {
            await fail("\(error)", permanent: false)
        }
    }
}

/// Pulls each peer configured with `pullEverySeconds`: asks for the records after the saved cursor, checks the
/// page's signature (the peer's node, chaining to the peer's CA) and content, and keeps the records and the new
/// cursor in one transaction, so a restart resumes exactly where the last kept page ended.
public struct PullService: Service {
    let node: ExchangeNode

    public init(node: ExchangeNode) { self.node = node }

    public func run() async throws {
        let stopping = StopFlag()
        let peers = node.configuration.peers.filter { $0.pullEverySeconds != nil }
        guard !peers.isEmpty else {
            try? await gracefulShutdown()
            return
        }
        let wakeups = peers.map { _ in Wakeup() }
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                for (peer, wakeup) in zip(peers, wakeups) {
                    group.addTask { await pullLoop(peer, stopping: stopping, wakeup: wakeup) }
                }
            }
        } onGracefulShutdown: {
            stopping.stop()
            for wakeup in wakeups { wakeup.signal() }
        }
    }

    /// How long one process holds the right to pull a peer without renewing it (`outbox.pullLeaseSeconds`).
    var leaseSeconds: Double { node.configuration.outbox.pullLeaseSeconds }

    func pullLoop(_ peer: PeerConfiguration, stopping: StopFlag, wakeup: Wakeup) async {
        let token = UUID()
        let exchange = PeerExchange(client: node.client(for: peer), baseURL: peer.baseURL,
                                    trust: node.peerTrust[peer.country] ?? node.trustStore,
                                    expectedCountry: peer.country)
        let interval = peer.pullEverySeconds ?? 60
        var failures = 0
        while !stopping.isSet && !Task.isCancelled {
            var lease: PullLease?
            do {
                // One process at a time pulls a peer; the others wait for the next interval.
                lease = try await node.store.claimPull(peer: peer.country, token: token, now: Date(),
                                                       seconds: leaseSeconds)
                var more = lease != nil
                while more, !stopping.isSet, let held = lease {
                    (more, lease) = try await pullOnce(peer, exchange, lease: held)
                    // Renewed before each further page, so a long catch-up keeps its lease.
                    if more { lease = try await node.store.claimPull(peer: peer.country, token: token, now: Date(),
                                                                     seconds: leaseSeconds) }
                }
                if let lease { try await node.store.releasePull(lease, error: nil, at: Date()) }
                failures = 0
            } catch {
                failures += 1
                node.metrics.syncFailure(peer: peer.country, direction: "pull")
                node.logger.warning("pull failed", metadata: ["peer": "\(peer.country)", "reason": "\(error)"])
                if let lease {
                    try? await node.store.releasePull(lease, error: "\(error)", at: Date())
                } else {
                    try? await node.store.recordPullFailure(peer: peer.country, error: "\(error)", at: Date())
                }
            }
            let backoff = failures == 0 ? interval : min(interval, pow(2, Double(min(failures, 8))) * 0.25)
            await wakeup.wait(seconds: backoff)
        }
    }

    /// Pulls one page under `lease`; true when more may follow at once, with the lease renewed at the new cursor.
    func pullOnce(_ peer: PeerConfiguration, _ exchange: PeerExchange, lease: PullLease) async throws
        -> (more: Bool, lease: PullLease)
    {
        let cursor = lease.cursor ?? "0"
        let page = try await exchange.fetchFeed(after: cursor, limit: node.configuration.limits.maxFeedPage)
        let records = try await FeedPageCheck(trust: exchange.trust,
                                              maxRecords: node.configuration.limits.maxRecordsPerBatch)
            .records(in: page.signedBatch, from: peer.country, name: "feed of \(peer.country) after \(cursor)")
        let (outcomes, renewed) = try await node.store.applyPulled(
            records, lease: lease, cursor: page.nextCursor, at: Date(),
            audit: AuditEntry(callerCountry: peer.country, callerFingerprint: "-", action: "feed-in",
                              target: "after=\(cursor)", result: "ok",
                              detail: "\(records.count) records, next=\(page.nextCursor)"))
        for result in RecordOutcome.Result.allCases {
            node.metrics.recordsIn(result.rawValue, via: "pull", count: outcomes.filter { $0.result == result }.count)
        }
        if !records.isEmpty {
            node.logger.info("pulled", metadata: ["peer": "\(peer.country)", "records": "\(records.count)"])
        }
        return (page.more, renewed)
    }
}

/// Checks a feed page from a peer: signature by that peer's node (chaining to the peer's CA), sender = peer,
/// content valid. Links to records outside the page (FWX-R010) are expected in a cut of a record stream.
public struct FeedPageCheck: Sendable {
    let checker: SignedBatchChecker

    /// - Parameter trust: the peer's CA (with CRLs); `maxRecords`: the most records a page may hold.
    public init(trust: TrustStore, maxRecords: Int) {
        checker = SignedBatchChecker(trustStore: trust, maxRecordsPerBatch: maxRecords)
    }

    /// The page's records, or a ``FeedPageError`` with the findings.
    public func records(in bytes: [UInt8], from country: String, name: String) async throws -> [IncomingRecord] {
        switch try await checker.check(bytes, name: name, ignoring: [RuleID.unresolvedLink]) {
        case .checked(let header, let records, _):
            guard header.sender.country == country else {
                throw FeedPageError(message: "the page says it comes from \(header.sender.country), not \(country)",
                                    findings: [])
            }
            return records
        case .refused(let outcome, _):
            if case .invalid(let report) = outcome {
                let errors = report.findings.filter { $0.severity == .error }
                throw FeedPageError(message: "the page is not valid: \(report.errorCount) error(s): "
                    + FeedPageError.summary(of: errors), findings: errors)
            }
            throw FeedPageError(message: "the page was refused: \(outcome.auditResult)", findings: [])
        }
    }
}

/// A feed page that cannot be used.
///
/// ``message`` (and so ``description``, which the pull service logs and keeps in the store's `pulls.last_error`,
/// shown by `fwx status`) names rule ids, counts and positions only, never a value from the page: many findings
/// quote the value they are about (a plate, a company name). ``findings`` keeps them whole, for the operator who
/// asks (`fwx pull` prints them).
public struct FeedPageError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var findings: [Finding]
    public var description: String { message }

    /// Rule ids and lines of the first findings, e.g. `FWX-R001 at line 143, FWX-S001 at line 12 (and 3 more)`.
    static func summary(of findings: [Finding], shown: Int = 5) -> String {
        var parts = findings.prefix(shown).map { finding in
            finding.location.line > 0 ? "\(finding.rule) at line \(finding.location.line)" : finding.rule
        }
        if findings.count > shown { parts.append("and \(findings.count - shown) more") }
        return parts.isEmpty ? "no findings" : parts.joined(separator: ", ")
    }
}

/// What an operator does to a node's queue from the command line (`fwx requeue`), audited like every access.
public enum OutboxOperations {
    /// Puts the dead letters of `peer` (every peer when nil) back in the outbox, due now, and audits it as the
    /// node's own operator (`country`), in one transaction. A running node's outbox sends them within its idle
    /// interval (5 s). Returns how many were requeued.
    public static func requeueDeadLetters(store: any NodeStore, country: String, peer: String?,
                                          at time: Date = Date()) async throws -> Int {
        try await store.requeueDeadLetters(peer: peer, at: time) { count in
            AuditEntry(at: time, callerCountry: country, callerFingerprint: "operator", action: "requeue",
                       target: peer ?? "*", result: "ok", detail: "\(count) dead letters requeued")
        }
    }
}
