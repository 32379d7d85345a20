public import FWXModel
public import FWXSigning
public import FWXStore
public import Logging
import FWXClient
import Foundation
import Synchronization

/// One member state's FWX node, assembled from its configuration: the store, the trust store, the signing
/// identity, the intake for submitted batches, the feed publisher, metrics, and the peers it talks to.
/// ``NodeServer`` serves it over mutual TLS; ``OutboxService`` and ``PullService`` do its background work.
public final class ExchangeNode: Sendable {
    public let configuration: NodeConfiguration
    public let store: any NodeStore
    public let trustStore: TrustStore
    public let intake: BatchIntake
    public let publisher: FeedPublisher
    public let metrics: NodeMetrics
    public let logger: Logger
    /// Per configured peer: the peer's CA (from its `ca` file) with every CRL of the trust store.
    let peerTrust: [String: TrustStore]
    /// The trust store's CAs of the node's own country (for its liaisons).
    let ownTrust: TrustStore
    let rateLimiter: RateLimiter
    /// Batches in flight and the memory they may take (`limits.maxConcurrentBatches`, `limits.memoryBudgetBytes`).
    let admission: AdmissionControl
    /// The audit table's writer: durable entries, and refusals counted per window.
    public let auditTrail: AuditTrail
    /// Wakes the outbox when a batch to push was stored.
    let outboxWakeup = Wakeup()

    public var identity: NodeIdentity { configuration.identity }

    /// Opens the store and loads every credential; throws before anything listens when one is unusable.
    public init(configuration: NodeConfiguration, store: (any NodeStore)? = nil, logger: Logger? = nil) throws {
        self.configuration = configuration
        var logger = logger ?? Logger(label: "fwx.node")
        logger[metadataKey: "node"] = "\(configuration.identity.country)"
        if let level = Logger.Level(rawValue: configuration.logLevel) { logger.logLevel = level }
        self.logger = logger
        trustStore = try TrustStore(directory: configuration.trust.directory,
                                    files: configuration.trust.certificates + configuration.trust.crls)
        var peerTrust: [String: TrustStore] = [:]
        for peer in configuration.peers {
            peerTrust[peer.country] = TrustStore(certificates: try Certificate.load(pemFile: peer.caFile),
                                                 sharingRevocationListsOf: trustStore)
        }
        self.peerTrust = peerTrust
        ownTrust = trustStore.restricted(toCountry: configuration.identity.country)
        let identity = try SigningIdentity(keyFile: configuration.signing.key,
                                           certificateFile: configuration.signing.certificate)
        guard identity.certificate.country == configuration.identity.country else {
            throw FWXError(.usage, "the signing certificate \(configuration.signing.certificate) is for "
                + "\(identity.certificate.country ?? "no country"), not \(configuration.identity.country)",
                location: configuration.configurationFile)
        }
        let signer = DocumentSigner(identity: identity)
        self.store = try store ?? SQLiteNodeStore(path: configuration.store.sqlitePath)
        intake = BatchIntake(node: configuration.identity, store: self.store, trustStore: trustStore, signer: signer,
                             maxRecordsPerBatch: configuration.limits.maxRecordsPerBatch)
        publisher = FeedPublisher(node: configuration.identity, signer: signer)
        metrics = NodeMetrics()
        rateLimiter = RateLimiter(perMinute: configuration.limits.requestsPerMinutePerPeer)
        admission = AdmissionControl(budgetBytes: configuration.limits.memoryBudgetBytes,
                                     maxBatches: configuration.limits.maxConcurrentBatches)
        auditTrail = AuditTrail(store: self.store, metrics: metrics, logger: logger,
                                windowSeconds: configuration.audit.refusalWindowSeconds)
    }

    /// Reads the CRLs of the trust folder and files again (``RevocationReloadService`` does every
    /// `trust.reloadCRLsEverySeconds`); true when they changed. On a read error the lists in force stay.
    @discardableResult
    public func reloadRevocationLists() -> Bool {
        let trust = configuration.trust
        do {
            let changed = try trustStore.reloadRevocationLists(directory: trust.directory,
                                                               files: trust.certificates + trust.crls)
            if changed {
                logger.notice("CRLs reloaded", metadata: ["crls": "\(trustStore.revocationLists.count)"])
            }
            return changed
        } catch {
            logger.error("CRLs could not be read again; the lists in force stay", metadata: ["reason": "\(error)"])
            return false
        }
    }

    /// The trust anchors a caller of `country` must chain to: a peer's configured CA, or for the node's own
    /// country its own CAs in the trust store. Nil for a country that is neither.
    func anchors(forCountry country: String) -> TrustStore? {
        if country == configuration.identity.country { return ownTrust.certificates.isEmpty ? nil : ownTrust }
        return peerTrust[country]
    }

    /// The peers an accepted batch from our own liaisons goes to at once: pushing peers among its recipients whose
    /// handling codes cover every record (a peer that may not receive all of them pulls what it may see instead).
    func pushTargets(header: BatchHeader, records: [IncomingRecord], caller: CallerIdentity) -> [String] {
        guard caller.country == configuration.identity.country,
              header.sender.country == configuration.identity.country else { return [] }
        return configuration.peers.filter { peer in
            peer.push && header.recipients.includes(peer.country)
                && records.allSatisfy { peer.handlingCodes.contains($0.handlingCode) }
        }.map(\.country)
    }

    /// An HTTPS client to `peer`, with the node's TLS credentials and the peer's CA (and pin).
    func client(for peer: PeerConfiguration) -> HTTPSClient {
        HTTPSClient(credentials: TLSClientCredentials(certificateFile: configuration.tls.certificate,
                                                      keyFile: configuration.tls.key, caFile: peer.caFile,
                                                      pinnedPublicKey: peer.pinnedPublicKey))
    }
}

/// Requests per minute per caller country: a token bucket refilled continuously.
final class RateLimiter: Sendable {
    private struct Bucket { var tokens: Double; var updated: Double }
    private let perMinute: Double
    private let buckets = Mutex<[String: Bucket]>([:])

    init(perMinute: Int) { self.perMinute = Double(max(1, perMinute)) }

    /// Takes one token for `country`; false when its bucket is empty.
    func allow(_ country: String, now: Double = Date().timeIntervalSince1970) -> Bool {
        buckets.withLock { buckets in
            var bucket = buckets[country] ?? Bucket(tokens: perMinute, updated: now)
            bucket.tokens = min(perMinute, bucket.tokens + (now - bucket.updated) * perMinute / 60)
            bucket.updated = now
            let allowed = bucket.tokens >= 1
            if allowed { bucket.tokens -= 1 }
            buckets[country] = bucket
            return allowed
        }
    }
}

/// A wake-up call between tasks: `signal()` never blocks and is never lost; `wait(timeout:)` returns early when
/// signalled since the last wait.
final class Wakeup: Sendable {
    private let state = Mutex<(pending: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Waits until signalled or `seconds` passed (or the task is cancelled).
    func wait(seconds: Double) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                await withTaskCancellationHandler {
                    await withCheckedContinuation { continuation in
                        let resumeNow = state.withLock { state -> Bool in
                            if state.pending {
                                state.pending = false
                                return true
                            }
                            state.waiter = continuation
                            return false
                        }
                        if resumeNow { continuation.resume() }
                    }
                } onCancel: { [self] in
                    signal()
                }
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(seconds))
            }
            await group.next()
            group.cancelAll()
        }
    }
}
