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
    /// The feed, single records and search as callers may see them (``Entitlement``).
    public let reads: EntitledReads
    public let trustStore: TrustStore
    public let intake: BatchIntake
    public let publisher: FeedPublisher
    public let metrics: NodeMetrics
    public let logger: Logger
    /// The trust store at run time: which CAs speak for which country, reloads, fetched CRLs, callers' checks.
    public let trust: NodeTrust
    /// Per configured peer: the peer's CA (in the trust store and its `ca` file) with every CRL of the trust store.
    let peerTrust: [String: TrustStore]
    let rateLimiter: RateLimiter
    /// Batches in flight and the memory they may take (`limits.maxConcurrentBatches`, `limits.memoryBudgetBytes`).
    let admission: AdmissionControl
    /// The audit table's writer: durable entries, and refusals counted per window.
    public let auditTrail: AuditTrail
    /// Wakes the outbox when a batch to push was stored.
    let outboxWakeup = Wakeup()

    public var identity: NodeIdentity { configuration.identity }

    /// Opens the store the configuration names (``NodeStores``), then loads every credential; throws before anything
    /// listens when one is unusable. The store is closed again when a credential is.
    public static func open(configuration: NodeConfiguration, logger: Logger? = nil) async throws -> ExchangeNode {
        let store = try await NodeStores.open(configuration.store.configuration, access: .node,
                                              logger: logger ?? Logger(label: "fwx.store"))
        do {
            return try ExchangeNode(configuration: configuration, store: store, logger: logger)
        } catch {
            await store.close()
            throw error
        }
    }

    /// Loads every credential, with `store`, or the configuration's SQLite store when nil (a PostgreSQL store is
    /// opened with ``open(configuration:logger:)``); throws before anything listens when one is unusable.
    public init(configuration: NodeConfiguration, store: (any NodeStore)? = nil, logger: Logger? = nil) throws {
        self.configuration = configuration
        var logger = logger ?? Logger(label: "fwx.node")
        logger[metadataKey: "node"] = "\(configuration.identity.country)"
        if let level = Logger.Level(rawValue: configuration.logLevel) { logger.logLevel = level }
        self.logger = logger
        let metrics = NodeMetrics()
        let trust = try NodeTrust(configuration: configuration, logger: logger, metrics: metrics)
        self.trust = trust
        self.metrics = metrics
        trustStore = trust.store
        peerTrust = Dictionary(uniqueKeysWithValues: configuration.peers.compactMap { peer in
            trust.callerAnchors(forCountry: peer.country).map { (peer.country, $0) }
        })
        let identity = try SigningIdentity(keyFile: configuration.signing.key,
                                           certificateFile: configuration.signing.certificate)
        guard identity.certificate.country == configuration.identity.country else {
            throw FWXError(.usage, "the signing certificate \(configuration.signing.certificate) is for "
                + "\(identity.certificate.country ?? "no country"), not \(configuration.identity.country)",
                location: configuration.configurationFile)
        }
        let signer = DocumentSigner(identity: identity)
        self.store = try store ?? NodeStores.openSQLite(configuration.store.configuration, access: .node)
        reads = EntitledReads(store: self.store, origin: configuration.identity.country)
        var intake = BatchIntake(node: configuration.identity, store: self.store, trustStore: trustStore, signer: signer,
                                 maxRecordsPerBatch: configuration.limits.maxRecordsPerBatch)
        // A batch's signer must chain to a CA of its sender country, the binding TLS uses for callers.
        intake.checker.verifier.anchorsForCountry = { trust.signerAnchors(forCountry: $0) }
        self.intake = intake
        publisher = FeedPublisher(node: configuration.identity, signer: signer)
        rateLimiter = RateLimiter(perMinute: configuration.limits.requestsPerMinutePerPeer)
        admission = AdmissionControl(budgetBytes: configuration.limits.memoryBudgetBytes,
                                     maxBatches: configuration.limits.maxConcurrentBatches)
        auditTrail = AuditTrail(store: self.store, metrics: metrics, logger: logger,
                                windowSeconds: configuration.audit.refusalWindowSeconds)
    }

    /// Reads the CA certificates and CRLs of the trust folder and files again (``RevocationReloadService`` does every
    /// `trust.reloadCRLsEverySeconds`); true when they changed. On a read error everything in force stays.
    @discardableResult
    public func reloadRevocationLists() -> Bool { trust.reload() }

    /// The trust anchors a caller of `country` must chain to: a peer's configured CA, or for the node's own
    /// country its own CAs in the trust store. Nil for a country that is neither.
    func anchors(forCountry country: String) -> TrustStore? { trust.callerAnchors(forCountry: country) }

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
