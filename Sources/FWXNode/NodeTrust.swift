public import FWXModel
public import FWXSigning
import FWXClient
import FWXStore
public import Foundation
public import Hummingbird
import Logging
import NIOCore
import NIOSSL
public import ServiceLifecycle
import Synchronization

/// What the node trusts while it runs: the trust store (CA certificates and CRLs, re-read every
/// `trust.reloadCRLsEverySeconds`, CRLs also fetched from distribution points), which CAs speak for which country,
/// and the callers' certificates as last checked.
///
/// - A CA speaks for the node's own country when the trust store says so (subject C, or the trust folder's
///   ``TrustStore/countryMappingFile``); for a peer when it is in the trust store *and* in the peer's `ca` file
///   (read at start-up). A CA removed from the trust folder is refused from the next check on, one added is trusted.
/// - Revocation fails closed (`trust.revocation: require`): the node does not start while a CA has no CRL, and a
///   certificate whose CA has no CRL is refused. A CRL past its nextUpdate refuses its CA's certificates
///   (`trust.staleCRL: refuse`) or stays in force with a warning, the `fwx_crls_stale` gauge and an audit entry
///   (`warn`).
/// - Fetched CRLs (from the CRL distribution points of the trust store's CAs and of callers' certificates that
///   chained to them) are accepted only when the CA signed them and they are newer than the list in force; they
///   are kept in memory (the trust folder's copies are the base again after a restart). A failed or timed-out
///   download changes nothing.
/// - Callers are checked at the TLS handshake and again at every request when the CAs or CRLs changed since
///   (or a minute passed), so a connection opened before a revocation is refused at its next request.
public final class NodeTrust: Sendable {
    /// The trust store; its CAs and CRLs are replaced by ``reload()`` and ``fetchRevocationLists()``.
    public let store: TrustStore
    let settings: TrustSettings
    let ownCountry: String
    let configurationFile: String
    /// Per peer country: SHA-256 fingerprints of the CA certificates of its `ca` file.
    let peerAuthorities: [String: Set<String>]
    let logger: Logger
    let metrics: NodeMetrics
    let fetchConfiguration = CRLFetchConfiguration()

    /// A caller's certificate as last checked.
    struct CallerRecord {
        var intermediates: [Certificate]
        var generation: UInt64
        var checkedAt: Double
        var problem: PeerCertificateProblem?
    }
    private let callers = Mutex<[String: CallerRecord]>([:])
    static let maxRemembered = 10_000
    /// Re-check a caller at a request at least this often even when nothing changed (validity periods end).
    static let recheckSeconds = 60.0
    /// CRL distribution points of callers' certificates that chained to a trusted CA.
    private let learnedPoints = Mutex<[String]>([])
    static let maxLearnedPoints = 64
    /// Issuers of CRLs already reported as stale (reported again once they were current in between).
    private let reportedStale = Mutex<Set<String>>([])

    /// Loads the trust store and the peers' CA files; throws a ``ConfigurationError`` (key `trust.revocation`) when
    /// `trust.revocation` is `require` and a CA has no CRL.
    init(configuration: NodeConfiguration, logger: Logger, metrics: NodeMetrics) throws {
        settings = configuration.trust
        ownCountry = configuration.identity.country
        configurationFile = configuration.configurationFile
        self.logger = logger
        self.metrics = metrics
        var store = try TrustStore(directory: settings.directory, files: settings.certificates + settings.crls)
        store.policy = RevocationPolicy(requireCRL: settings.revocation == .require,
                                        acceptStaleCRLs: settings.staleCRL == .warn)
        self.store = store
        var peers: [String: Set<String>] = [:]
        for peer in configuration.peers {
            peers[peer.country] = Set(try Certificate.load(pemFile: peer.caFile).map(\.fingerprint))
        }
        peerAuthorities = peers
        if settings.revocation == .require {
            let missing = store.authoritiesWithoutRevocationList()
            if !missing.isEmpty {
                throw ConfigurationError(problems: missing.map { authority in
                    ConfigurationError.Problem(.fileProblem, key: "trust.revocation", message:
                        "the CA \(authority.subjectName) (sha256 \(authority.fingerprint)) has no CRL in the trust "
                        + "store; put its current CRL (PEM) in the trust folder or in trust.crls, or set "
                        + "trust.revocation: allow-missing to accept certificates of CAs without a CRL",
                        file: configuration.configurationFile)
                })
            }
        }
        let trusted = Set(store.authorities.certificates.map(\.fingerprint))
        for (country, fingerprints) in peers.sorted(by: { $0.key < $1.key }) where fingerprints.isDisjoint(with: trusted) {
            logger.warning("a peer's CA is not in the trust store; the peer is refused until it is added",
                           metadata: ["peer": "\(country)"])
        }
    }

    // MARK: Which CAs speak for a country

    /// The CAs a TLS caller of `country` must chain to: a peer's CA (in the trust store and its `ca` file), or for the
    /// node's own country its CAs in the trust store. Nil for a country that is neither a peer nor the node's own.
    func callerAnchors(forCountry country: String) -> TrustStore? {
        if country == ownCountry { return store.restricted(toCountry: country) }
        return peerAuthorities[country].map { store.restricted(toFingerprints: $0) }
    }

    /// The CAs the signer of a document from `country` must chain to: as for callers, and for any other country
    /// the trust store's CAs for it.
    func signerAnchors(forCountry country: String) -> TrustStore {
        callerAnchors(forCountry: country) ?? store.restricted(toCountry: country)
    }

    // MARK: Callers

    /// Checks a TLS client's chain as presented (leaf first), and remembers the result for the per-request checks.
    public func checkCaller(_ chain: [Certificate], at time: Double = Date().timeIntervalSince1970)
        -> PeerCertificateProblem?
    {
        guard let leaf = chain.first else {
            return PeerCertificateProblem(rule: RuleID.callerCertificate, message: "no client certificate was presented")
        }
        let generation = store.generation
        let problem = check(chain, at: time)
        remember(leaf, CallerRecord(intermediates: Array(chain.dropFirst()), generation: generation, checkedAt: time,
                                    problem: problem))
        if problem == nil { learn(leaf.crlDistributionPoints) }
        return problem
    }

    /// Checks the caller of a request on a connection whose handshake passed: again against the CAs and CRLs in
    /// force when they changed since the last check or a minute passed. Nil when the caller is still acceptable.
    public func recheckCaller(_ leaf: Certificate, at time: Double = Date().timeIntervalSince1970)
        -> PeerCertificateProblem?
    {
        let fingerprint = leaf.fingerprint
        let generation = store.generation
        let record = callers.withLock { $0[fingerprint] }
        if let record, record.generation == generation, time - record.checkedAt < Self.recheckSeconds {
            return record.problem
        }
        let intermediates = record?.intermediates ?? []
        let problem = check([leaf] + intermediates, at: time)
        remember(leaf, CallerRecord(intermediates: intermediates, generation: generation, checkedAt: time,
                                    problem: problem))
        return problem
    }

    private func check(_ chain: [Certificate], at time: Double) -> PeerCertificateProblem? {
        guard let leaf = chain.first else { return nil }
        let country = leaf.country ?? "??"
        guard let anchors = callerAnchors(forCountry: country) else {
            return PeerCertificateProblem(rule: RuleID.callerCertificate,
                message: "client certificate \(leaf.commonName ?? "?") is for \(country), which is not a configured peer")
        }
        guard !anchors.certificates.isEmpty else {
            return PeerCertificateProblem(rule: RuleID.callerCertificate,
                message: "client certificate \(leaf.commonName ?? "?") is for \(country), but no CA of the trust store "
                    + "speaks for \(country) now")
        }
        return anchors.checkPeer(chain, country: country, at: time)
    }

    private func remember(_ leaf: Certificate, _ record: CallerRecord) {
        let fingerprint = leaf.fingerprint
        callers.withLock { callers in
            if callers.count >= Self.maxRemembered && callers[fingerprint] == nil {
                // Forget the oldest half; a forgotten caller is checked again from its leaf at its next request.
                let oldest = callers.sorted { $0.value.checkedAt < $1.value.checkedAt }.prefix(callers.count / 2)
                for (key, _) in oldest { callers[key] = nil }
            }
            callers[fingerprint] = record
        }
    }

    private func learn(_ points: [String]) {
        guard !points.isEmpty else { return }
        learnedPoints.withLock { learned in
            for point in points where !learned.contains(point) && learned.count < Self.maxLearnedPoints {
                learned.append(point)
            }
        }
    }

    // MARK: Reloading and fetching

    /// Reads the CA certificates and CRLs of the trust folder and files again (``RevocationReloadService`` does
    /// every `trust.reloadCRLsEverySeconds`); true when anything changed. On a read error everything in force stays.
    @discardableResult
    public func reload() -> Bool {
        defer { reportStaleLists() }
        do {
            let changes = try store.reload(directory: settings.directory, files: settings.certificates + settings.crls)
            guard changes.changedAnything else { return false }
            for authority in changes.added {
                logger.notice("CA added to the trust store", metadata: [
                    "ca": "\(authority.subjectName)", "sha256": "\(authority.fingerprint)",
                    "countries": "\(store.countries(ofAuthority: authority).joined(separator: ","))"])
            }
            for authority in changes.removed {
                logger.notice("CA removed from the trust store; its certificates are refused",
                              metadata: ["ca": "\(authority.subjectName)", "sha256": "\(authority.fingerprint)"])
            }
            if changes.revocationListsChanged {
                logger.notice("CRLs reloaded", metadata: ["crls": "\(store.revocationLists.count)"])
            }
            if settings.revocation == .require {
                for authority in store.authoritiesWithoutRevocationList() {
                    logger.error("a CA of the trust store has no CRL; its certificates are refused (trust.revocation: require)",
                                 metadata: ["ca": "\(authority.subjectName)", "sha256": "\(authority.fingerprint)"])
                }
            }
            return true
        } catch {
            logger.error("the trust store could not be read again; the CAs and CRLs in force stay",
                         metadata: ["reason": "\(error)"])
            return false
        }
    }

    /// The distribution points to fetch from: the trust store's CAs' and those learnt from callers.
    public var distributionPoints: [String] {
        let learned = learnedPoints.withLock { $0 }
        return store.distributionPoints + learned.filter { !store.distributionPoints.contains($0) }
    }

    /// Fetches a CRL from every distribution point and puts in force those a trusted CA signed that are newer than
    /// the lists in force. Returns how many were put in force. Failures are logged and counted
    /// (`fwx_crl_fetches_total`) and change nothing.
    @discardableResult
    public func fetchRevocationLists() async -> Int {
        var accepted = 0
        for point in distributionPoints {
            let result: String
            do {
                let bytes = try await CRLFetcher.fetch(point, configuration: fetchConfiguration)
                guard let list = RevocationList(bytes: bytes) else {
                    logger.warning("a fetched CRL is not a CRL (DER or PEM); the lists in force stay",
                                   metadata: ["url": "\(point)"])
                    metrics.crlFetch("unreadable")
                    continue
                }
                switch store.accept(fetched: list) {
                case .accepted:
                    accepted += 1
                    result = "accepted"
                    logger.notice("fetched CRL in force", metadata: ["url": "\(point)", "issuer": "\(list.issuerName)"])
                case .notNewer:
                    result = "not-newer"
                case .notIssuedByTrustedCA:
                    result = "untrusted"
                    logger.warning("a fetched CRL is not signed by a CA of the trust store; ignored",
                                   metadata: ["url": "\(point)", "issuer": "\(list.issuerName)"])
                }
            } catch let error as CRLFetchError {
                result = error.code == .timedOut ? "timed-out" : "failed"
                logger.warning("CRL download failed; the lists in force stay",
                               metadata: ["url": "\(point)", "reason": "\(error.code): \(error.message)"])
            } catch {
                result = "failed"
                logger.warning("CRL download failed; the lists in force stay",
                               metadata: ["url": "\(point)", "reason": "\(error)"])
            }
            metrics.crlFetch(result)
        }
        reportStaleLists()
        return accepted
    }

    /// Sets the `fwx_crls_stale` gauge and logs each CRL that became stale since the last report; returns those
    /// newly stale (``auditStaleLists(store:)`` audits them).
    @discardableResult
    func reportStaleLists(at time: Double = Date().timeIntervalSince1970) -> [RevocationList] {
        let stale = store.staleRevocationLists(at: time)
        metrics.staleCRLs(stale.count)
        let names = Set(stale.map(\.issuerName))
        let fresh = reportedStale.withLock { reported -> [RevocationList] in
            let fresh = stale.filter { !reported.contains($0.issuerName) }
            reported = names
            return fresh
        }
        for list in fresh {
            let next = list.nextUpdate.map { ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: $0)) } ?? "?"
            if settings.staleCRL == .warn {
                logger.warning("a CRL is past its nextUpdate and stays in force (trust.staleCRL: warn); publish a current one",
                               metadata: ["issuer": "\(list.issuerName)", "nextUpdate": "\(next)"])
            } else {
                logger.error("a CRL is past its nextUpdate; its CA's certificates are refused (trust.staleCRL: refuse)",
                             metadata: ["issuer": "\(list.issuerName)", "nextUpdate": "\(next)"])
            }
        }
        pendingStaleAudit.withLock { $0 += fresh }
        return fresh
    }
    private let pendingStaleAudit = Mutex<[RevocationList]>([])

    /// Writes an audit entry for each CRL reported stale and not audited yet.
    func auditStaleLists(store nodeStore: any NodeStore) async {
        let lists = pendingStaleAudit.withLock { lists -> [RevocationList] in
            defer { lists = [] }
            return lists
        }
        for list in lists {
            let next = list.nextUpdate.map { ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: $0)) } ?? "?"
            do {
                try await nodeStore.appendAudit(AuditEntry(
                    callerCountry: ownCountry, callerFingerprint: "-", action: "crl-stale", target: list.issuerName,
                    result: settings.staleCRL == .warn ? "kept" : "refusing",
                    detail: "nextUpdate \(next); trust.staleCRL: \(settings.staleCRL.rawValue)"))
            } catch {
                logger.error("cannot audit a stale CRL", metadata: ["error": "\(error)"])
            }
        }
    }
}

/// Reads the trust store's CA certificates and CRLs again every `trust.reloadCRLsEverySeconds`, and fetches CRLs
/// from distribution points every `trust.fetchCRLsEverySeconds` (once at start), so that a revocation published
/// while the node runs, a partner CA added or one removed takes effect from the next TLS handshake, request and
/// signature check on. A file that cannot be read, or a download that fails, leaves everything in force as it was.
public struct RevocationReloadService: Service {
    let node: ExchangeNode

    public init(node: ExchangeNode) { self.node = node }

    public func run() async throws {
        let stopping = StopFlag()
        let reloadWakeup = Wakeup()
        let fetchWakeup = Wakeup()
        let trust = node.trust
        let settings = node.configuration.trust
        trust.reportStaleLists()
        await trust.auditStaleLists(store: node.store)
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    // Also ends on cancellation (a service group whose server could not start cancels the others).
                    while !stopping.isSet && !Task.isCancelled {
                        await reloadWakeup.wait(seconds: settings.reloadCRLsEverySeconds)
                        if stopping.isSet || Task.isCancelled { break }
                        trust.reload()
                        await trust.auditStaleLists(store: node.store)
                    }
                }
                if let interval = settings.fetchCRLsEverySeconds {
                    group.addTask {
                        while !stopping.isSet && !Task.isCancelled {
                            await trust.fetchRevocationLists()
                            await trust.auditStaleLists(store: node.store)
                            await fetchWakeup.wait(seconds: interval)
                        }
                    }
                }
            }
        } onGracefulShutdown: {
            stopping.stop()
            reloadWakeup.signal()
            fetchWakeup.signal()
        }
    }
}

// MARK: Per-request checks (called from NodeServer's routes)

/// A caller refused at a request: a JSON error body with its rule, as every error answer of the node.
struct CallerRefusal: HTTPResponseError {
    var status: HTTPResponse.Status
    var rule: String
    var message: String

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(ErrorBody(error: .init(status: status.code, rule: rule, message: message)))
        return Response(status: status, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// What a request asks to do, for the role check.
enum CallerAction {
    /// POST /v1/batches.
    case submit
    /// GET /v1/feed, /v1/records/{id}, /v1/search.
    case pull
}

extension Routes {
    /// Refuses (403, FWX-N005, audited) a caller whose certificate is no longer acceptable: revoked, its CA
    /// removed, or its CA's CRL refused since the connection's handshake.
    func recheck(_ certificate: Certificate, as caller: CallerIdentity) async throws {
        guard let problem = node.trust.recheckCaller(certificate) else { return }
        node.metrics.refusal(problem.rule)
        node.logger.warning("caller refused at a request", metadata: ["caller": "\(caller.country)",
                                                                      "reason": "\(problem.message)"])
        try await audit(caller, "refusal", "request", "403 \(problem.rule)", problem.message)
        throw CallerRefusal(status: .forbidden, rule: problem.rule, message: problem.message)
    }

    /// A 403 (FWX-N015, audited) when the caller's certificate role may not do `action`: liaison certificates
    /// may not pull (unless `roles.liaisonsMayPull`), node certificates of the node's own country may not submit
    /// batches (unless `roles.nodesMaySubmit`; peers' nodes push with theirs). Nil when allowed.
    func refuseRole(_ caller: CallerIdentity, _ context: NodeRequestContext, for action: CallerAction,
                    target: String) async throws -> Response? {
        guard let peer = try await context.channel.nioSSL_peerCertificate().get(),
              let certificate = Certificate(der: try peer.toDERBytes()) else { return nil }
        let roles = node.configuration.roles
        let role = certificate.role
        let message: String
        switch action {
        case .pull where role != .node && !roles.liaisonsMayPull:
            message = "the feed, records and search are for node certificates; this is a "
                + "\(role?.rawValue ?? "role-less") certificate (roles.liaisonsMayPull is false)"
        case .submit where role != .liaison && caller.country == node.identity.country && !roles.nodesMaySubmit:
            message = "batches of \(caller.country) are submitted with a liaison certificate; this is a "
                + "\(role?.rawValue ?? "role-less") certificate (roles.nodesMaySubmit is false)"
        default:
            return nil
        }
        node.metrics.refusal(RuleID.callerRole)
        try await audit(caller, "refusal", target, "403 \(RuleID.callerRole)", message)
        return errorResponse(.forbidden, RuleID.callerRole, message)
    }
}
