public import Hummingbird
import HummingbirdTLS
public import NIOCore
import NIOSSL
import FWXModel
import FWXXML
import FWXSigning
import FWXStore
import Foundation
import Logging
public import HTTPTypes

/// The request context of the node's server: the channel, so that handlers can ask TLS who is calling.
public struct NodeRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// Bodies are collected by the handlers themselves, up to the node's configured limit.
    public var maxUploadSize: Int { Int.max }
}

/// The node's HTTPS API (docs/openapi.yaml) on Hummingbird 2 over NIOSSL: TLS 1.3 preferred, TLS 1.2 only with
/// ECDHE and AEAD suites (``tls12CipherSuites``), a client certificate required and checked by FWX itself (chain to
/// the caller's country's CA, validity, CRLs); the caller's country comes from that certificate, never from the
/// request. Connections are guarded (``GuardedTLSChannel``: deadlines, connections per address, refused handshakes
/// audited), every request is audited (``RequestAuditMiddleware``) and batch intake is admitted within the node's
/// memory budget (``AdmissionControl``).
public struct NodeServer: Sendable {
    public let node: ExchangeNode

    public init(node: ExchangeNode) { self.node = node }

    /// The TLS 1.2 suites the node accepts: Mozilla's "intermediate" server profile, ECDHE key exchange with AEAD
    /// ciphers only (no RSA key exchange, no CBC, no SHA-1). TLS 1.3 suites are all AEAD and not configurable.
    static let tls12CipherSuites: [NIOTLSCipher] = [
        .TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, .TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        .TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, .TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        .TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, .TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ]

    /// The Hummingbird application, ready to run as a service. `onRunning` gets the bound port (useful with port 0).
    public func application(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws
        -> some ApplicationProtocol
    {
        let configuration = node.configuration
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(configuration.tls.certificate).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: configuration.tls.key, format: .pem)))
        tls.minimumTLSVersion = .tlsv12
        tls.maximumTLSVersion = .tlsv13
        tls.cipherSuiteValues = Self.tls12CipherSuites
        tls.certificateVerification = .noHostnameVerification
        tls.trustRoots = .certificates(try node.trustStore.certificates.map {
            try NIOSSLCertificate(bytes: $0.der, format: .der)
        })
        tls.sendCANameList = true
        let node = self.node
        BlockingWork.configure(threads: configuration.limits.blockingThreads)
        MemoryTrim.limitArenas(max(2, ProcessInfo.processInfo.activeProcessorCount))
        let router = Router(context: NodeRequestContext.self)
        router.add(middleware: RequestAuditMiddleware(node: node))
        Routes(node: node).register(on: router)
        return Application(
            router: router,
            server: .guardedTLS(sslContext: try NIOSSLContext(configuration: tls),
                                verify: { certificates in await Self.verifyCaller(certificates, node: node) },
                                settings: configuration.connections, node: node),
            configuration: .init(address: .hostname(configuration.listen.host, port: configuration.listen.port),
                                 serverName: "fwx/\(configuration.identity.country)"),
            services: [PeriodicService.auditFlush(node.auditTrail), PeriodicService.memoryTrim()],
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: node.logger)
    }

    /// The TLS-level check of a client certificate chain; refusals are audited with what the certificate says.
    static func verifyCaller(_ certificates: [NIOSSLCertificate], node: ExchangeNode) async -> NIOSSLVerificationResult {
        let chain = certificates.compactMap { try? $0.toDERBytes() }.compactMap { Certificate(der: $0) }
        guard let leaf = chain.first else { return .failed }
        let country = leaf.country ?? "??"
        guard let problem = node.trust.checkCaller(chain) else { return .certificateVerified }
        node.metrics.refusal(RuleID.callerCertificate)
        node.logger.warning("TLS client refused", metadata: ["caller": "\(country)", "reason": "\(problem.message)"])
        node.auditTrail.refusal(AuditEntry(callerCountry: country, callerFingerprint: leaf.fingerprint,
                                           action: "refusal", target: "tls-handshake",
                                           result: problem.rule, detail: problem.message),
                                subject: leaf.fingerprint)
        return .failed
    }
}

/// The node's routes under /v1, plus /healthz and /metrics.
struct Routes: Sendable {
    let node: ExchangeNode

    func register(on router: Router<NodeRequestContext>) {
        router.post("/v1/batches") { request, context in try await submitBatch(request, context) }
        router.get("/v1/feed") { request, context in try await feed(request, context) }
        router.get("/v1/records/:id") { request, context in try await record(request, context) }
        router.get("/v1/search") { request, context in try await search(request, context) }
        router.get("/healthz") { _, context in try await health(context) }
        router.get("/metrics") { _, context in try await metrics(context) }
    }

    // MARK: Identity and limits

    /// The caller as the TLS layer verified it.
    func caller(_ context: NodeRequestContext) async throws -> CallerIdentity {
        guard let certificate = try await context.channel.nioSSL_peerCertificate().get(),
              let parsed = Certificate(der: try certificate.toDERBytes()), let country = parsed.country else {
            throw HTTPError(.unauthorized, message: "a client certificate naming a country is required")
        }
        let caller = CallerIdentity(country: country, fingerprint: parsed.fingerprint)
        try await recheck(parsed, as: caller)
        return caller
    }

    /// Refuses a caller over its request budget (429), audited.
    func checkRate(_ caller: CallerIdentity, target: String) async throws -> Response? {
        guard !node.rateLimiter.allow(caller.country) else { return nil }
        node.metrics.refusal(RuleID.rateLimited)
        try await audit(caller, "refusal", target, "429 \(RuleID.rateLimited)", "rate limit")
        var response = errorResponse(.tooManyRequests, RuleID.rateLimited,
                                     "more than \(node.configuration.limits.requestsPerMinutePerPeer) requests per minute")
        response.headers[.retryAfter] = "5"
        return response
    }

    func audit(_ caller: CallerIdentity, _ action: String, _ target: String, _ result: String,
               _ detail: String? = nil) async throws {
        try await node.auditTrail.write(AuditEntry(callerCountry: caller.country, callerFingerprint: caller.fingerprint,
                                                   action: action, target: target, result: result, detail: detail))
        AuditMark.current?.set()
    }

    // MARK: POST /v1/batches

    func submitBatch(_ request: Request, _ context: NodeRequestContext) async throws -> Response {
        let caller = try await caller(context)
        if let refused = try await checkRate(caller, target: "/v1/batches") { return refused }
        if let refused = try await refuseRole(caller, context, for: .submit, target: "/v1/batches") { return refused }
        if let refused = try await checkIntake(request, caller) { return refused }
        let declaredLength = request.headers[.contentLength].flatMap { Int($0) }
        let ticket: AdmissionControl.Ticket
        switch node.admission.admit(bodyBytes: declaredLength ?? node.configuration.limits.maxBodyBytes) {
        case .success(let admitted): ticket = admitted
        case .failure(let refusal): return busy(refusal, caller)
        }
        let outcome: IntakeOutcome
        do {
            // The body and the documents made from it are gone when `readAndSubmit` returns.
            outcome = try await readAndSubmit(request, caller)
            await node.admission.release(ticket)
        } catch {
            await node.admission.release(ticket)
            throw error
        }
        if case .tooLarge(let rule, let message) = outcome, rule == Self.bodyTooLarge {
            node.metrics.batchIn("too-large")
            node.metrics.refusal(RuleID.requestTooLarge)
            try await audit(caller, "refusal", "/v1/batches", "413 \(RuleID.requestTooLarge)", message)
            return errorResponse(.contentTooLarge, RuleID.requestTooLarge,
                                 "the body is larger than \(node.configuration.limits.maxBodyBytes) bytes, this node's "
                                     + "limit; split the batch")
        }
        var logger = node.logger
        logger[metadataKey: "caller"] = "\(caller.country)"
        switch outcome {
        case .accepted(let batchId, let receipt, let outcomes):
            // Audited in the transaction that kept the batch.
            AuditMark.current?.set()
            node.metrics.batchIn("accepted")
            for result in RecordOutcome.Result.allCases {
                node.metrics.recordsIn(result.rawValue, via: "push",
                                       count: outcomes.filter { $0.result == result }.count)
            }
            logger.info("batch accepted", metadata: ["batch": "\(batchId)", "records": "\(outcomes.count)"])
            node.outboxWakeup.signal()
            return xmlResponse(receipt)
        case .duplicate(let batchId, let receipt):
            AuditMark.current?.set()
            node.metrics.batchIn("duplicate")
            logger.info("batch received again; same receipt", metadata: ["batch": "\(batchId)"])
            return xmlResponse(receipt)
        case .invalid(let report):
            node.metrics.batchIn("invalid")
            node.metrics.refusal(report.findings.first(where: { $0.severity == .error })?.rule ?? "invalid")
            let rules = Set(report.findings.filter { $0.severity == .error }.map(\.rule)).sorted()
            try await audit(caller, "refusal", "/v1/batches", "422 invalid", rules.joined(separator: " "))
            logger.notice("batch refused as invalid", metadata: ["rules": "\(rules.joined(separator: ","))"])
            return jsonResponse(.unprocessableContent, InvalidBatchBody(
                error: .init(status: 422, rule: rules.first ?? RuleID.schema,
                             message: "the batch is not valid: \(report.errorCount) error(s); see findings"),
                findings: report))
        case .forbidden(let rule, let message), .conflict(let rule, let message), .tooLarge(let rule, let message):
            let status: HTTPResponse.Status
            switch outcome {
            case .forbidden: status = .forbidden
            case .conflict: status = .conflict
            default: status = .contentTooLarge
            }
            node.metrics.batchIn(status == .forbidden ? "forbidden" : status == .conflict ? "conflict" : "too-large")
            node.metrics.refusal(rule)
            try await audit(caller, "refusal", "/v1/batches", "\(status.code) \(rule)", message)
            logger.notice("batch refused", metadata: ["status": "\(status.code)", "rule": "\(rule)"])
            return errorResponse(status, rule, message)
        }
    }

    /// Marks a body refused by ``readAndSubmit(_:_:)`` for being over `maxBodyBytes` (413).
    static let bodyTooLarge = "body-over-limit"

    /// Reads the body (at most `maxBodyBytes`: a chunked body is cut there) and hands it to the intake. A body over
    /// `spoolBodiesOverBytes` (declared, or once it grows past that) goes to a nameless spool file instead of
    /// memory: a large batch that is refused never sits in memory whole.
    private func readAndSubmit(_ request: Request, _ caller: CallerIdentity) async throws -> IntakeOutcome {
        let limits = node.configuration.limits
        let limit = limits.maxBodyBytes
        let spoolOver = limits.spoolBodiesOverBytes
        let declared = request.headers[.contentLength].flatMap { Int($0) }
        // Straight into one array of the declared size: collecting into a ByteBuffer first would hold the body
        // twice (and the buffer's doubling growth up to twice more) at the moment of the copy.
        var bytes: [UInt8] = []
        var spool: SpoolFile?
        var received = 0
        if let declared, declared <= limit {
            if declared > spoolOver {
                spool = try SpoolFile(directory: node.configuration.spoolDirectory)
                bytes.reserveCapacity(min(declared, Self.spoolWriteBytes))
            } else {
                bytes.reserveCapacity(declared)
            }
        }
        for try await chunk in request.body {
            guard received + chunk.readableBytes <= limit else {
                return .tooLarge(rule: Self.bodyTooLarge, message: "body over \(limit) bytes")
            }
            received += chunk.readableBytes
            bytes.append(contentsOf: chunk.readableBytesView)
            if spool == nil, received > spoolOver {
                spool = try SpoolFile(directory: node.configuration.spoolDirectory)
            }
            // Written a megabyte at a time: page-cache writes, short enough for the request's task.
            if let spool, bytes.count >= Self.spoolWriteBytes {
                try bytes.withUnsafeBytes { try spool.append($0) }
                bytes.removeAll(keepingCapacity: true)
            }
        }
        let body: BatchBody
        if let spool {
            node.metrics.spooledBody()
            try bytes.withUnsafeBytes { try spool.append($0) }
            bytes = []
            body = .spooled(spool)
        } else {
            body = .memory(bytes)
            bytes = []
        }
        let node = self.node
        return try await node.intake.submit(body, caller: caller, pushTo: { header, records in
            node.pushTargets(header: header, records: records, caller: caller)
        })
    }

    /// How much of a spooled body is collected in memory before it is written out.
    static let spoolWriteBytes = 1 << 20

    /// Refuses, before the body is read, a batch POST that is not XML (415) or declares a body over the limit (413).
    func checkIntake(_ request: Request, _ caller: CallerIdentity) async throws -> Response? {
        let contentType = request.headers[.contentType] ?? ""
        let mediaType = contentType.split(separator: ";").first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        } ?? ""
        guard mediaType == "application/xml" || mediaType == "text/xml" || mediaType.hasSuffix("+xml") else {
            node.metrics.refusal(RuleID.badRequest)
            try await audit(caller, "refusal", "/v1/batches", "415 \(RuleID.badRequest)",
                            "content type \(mediaType.isEmpty ? "missing" : String(mediaType.prefix(100)))")
            return errorResponse(.unsupportedMediaType, RuleID.badRequest,
                                 "a batch is XML: send it with Content-Type: application/xml (or text/xml, or a "
                                     + "+xml type), not \(mediaType.isEmpty ? "without one" : String(mediaType.prefix(100)))")
        }
        let limit = node.configuration.limits.maxBodyBytes
        if let declared = request.headers[.contentLength].flatMap({ Int64($0) }), declared > Int64(limit) {
            node.metrics.batchIn("too-large")
            node.metrics.refusal(RuleID.requestTooLarge)
            try await audit(caller, "refusal", "/v1/batches", "413 \(RuleID.requestTooLarge)",
                            "declared body of \(declared) bytes, over \(limit)")
            return errorResponse(.contentTooLarge, RuleID.requestTooLarge,
                                 "the body is larger than \(limit) bytes, this node's limit; split the batch")
        }
        return nil
    }

    /// The 503 of a batch the intake cannot take now; counted in the audit trail (one entry per window).
    func busy(_ refusal: AdmissionControl.Refusal, _ caller: CallerIdentity) -> Response {
        let reason = refusal == .tooManyBatches ? "too-many-batches" : "memory-budget"
        node.metrics.admissionRefusal(reason)
        node.metrics.refusal(RuleID.nodeBusy)
        node.auditTrail.refusal(AuditEntry(callerCountry: caller.country, callerFingerprint: caller.fingerprint,
                                           action: "refusal", target: "/v1/batches",
                                           result: "503 \(RuleID.nodeBusy)", detail: reason),
                                subject: caller.fingerprint)
        AuditMark.current?.set()
        var response = errorResponse(.serviceUnavailable, RuleID.nodeBusy,
                                     "the node is taking in as many batches as it has memory for (\(reason)); "
                                         + "send this one again in a few seconds")
        response.headers[.retryAfter] = String(Self.retryAfterSeconds)
        return response
    }

    /// Seconds a client is asked to wait after a 503.
    static let retryAfterSeconds = 2
    /// Retry-After of a 503 while the store is unavailable (a PostgreSQL restart or failover takes seconds).
    static let storeRetryAfterSeconds = 5

    // MARK: GET /v1/feed

    func feed(_ request: Request, _ context: NodeRequestContext) async throws -> Response {
        let caller = try await caller(context)
        if let refused = try await checkRate(caller, target: "/v1/feed") { return refused }
        if let refused = try await refuseRole(caller, context, for: .pull, target: "/v1/feed") { return refused }
        guard let peer = node.configuration.peer(country: caller.country) else {
            try await audit(caller, "refusal", "/v1/feed", "403 \(RuleID.notEntitled)", "not a configured peer")
            node.metrics.refusal(RuleID.notEntitled)
            return errorResponse(.forbidden, RuleID.notEntitled,
                                 "\(caller.country) is not a peer of this node; only configured peers may pull")
        }
        let maxPage = node.configuration.limits.maxFeedPage
        let afterText = request.uri.queryParameters["after"].map(String.init) ?? "0"
        let limitText = request.uri.queryParameters["limit"].map(String.init) ?? String(maxPage)
        guard let after = Int64(afterText), after >= 0 else {
            return errorResponse(.badRequest, RuleID.badRequest, "after must be a cursor this node returned (a non-negative integer)")
        }
        // A larger limit than this node's maxFeedPage is reduced to it (peers may be configured differently), also
        // one too large for any integer type.
        guard !limitText.isEmpty, limitText.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              limitText.contains(where: { $0 != "0" }) else {
            return errorResponse(.badRequest, RuleID.badRequest, "limit must be a positive integer")
        }
        let limit = min(Int(limitText) ?? maxPage, maxPage)
        let page = try await node.reads.feed(Entitlement(caller: caller.country, handlingCodes: peer.handlingCodes),
                                             after: after, limit: limit)
        let signed = try await Self.offload { [publisher = node.publisher] in
            try publisher.signedBatch(of: page.entries, for: caller.country, sequence: page.nextCursor)
        }
        try await audit(caller, "feed-out", "after=\(after)", "ok",
                        "\(page.entries.count) records, next=\(page.nextCursor)")
        node.metrics.recordsOut(peer: caller.country, count: page.entries.count)
        var response = xmlResponse(signed)
        response.headers[FeedHeaders.nextCursor] = String(page.nextCursor)
        response.headers[FeedHeaders.recordCount] = String(page.entries.count)
        response.headers[FeedHeaders.more] = page.more ? "true" : "false"
        return response
    }

    // MARK: GET /v1/records/{id}

    func record(_ request: Request, _ context: NodeRequestContext) async throws -> Response {
        let caller = try await caller(context)
        if let refused = try await checkRate(caller, target: "/v1/records") { return refused }
        if let refused = try await refuseRole(caller, context, for: .pull, target: "/v1/records") { return refused }
        let id = context.parameters.get("id") ?? ""
        let peer = node.configuration.peer(country: caller.country)
        var entry: FeedEntry?
        if let peer {
            entry = try await node.reads.record(id: id, Entitlement(caller: caller.country,
                                                                    handlingCodes: peer.handlingCodes))
        }
        guard let entry else {
            // The same answer whether the record is missing or not for this caller: existence is not disclosed to
            // the caller, but the audit trail tells the two apart.
            let exists = try await node.store.record(id: id) != nil
            try await audit(caller, "record-read", id, exists ? "404 \(RuleID.notEntitled)" : "404")
            return errorResponse(.notFound, RuleID.notEntitled, "no record \(id) that this caller may see")
        }
        let signed = try await Self.offload { [publisher = node.publisher] in
            try publisher.signedBatch(of: [entry], for: caller.country, sequence: entry.sequence)
        }
        try await audit(caller, "record-read", id, "ok", "revision \(entry.revision)")
        node.metrics.recordsOut(peer: caller.country, count: 1)
        return xmlResponse(signed)
    }

    // MARK: GET /v1/search

    /// Hit or no hit, with the ids of the matching records the caller may see; the caller then fetches them with
    /// GET /v1/records/{id}. Every search is audited with what was asked.
    func search(_ request: Request, _ context: NodeRequestContext) async throws -> Response {
        let caller = try await caller(context)
        if let refused = try await checkRate(caller, target: "/v1/search") { return refused }
        if let refused = try await refuseRole(caller, context, for: .pull, target: "/v1/search") { return refused }
        let parameters = request.uri.queryParameters
        let asked = ["container", "plate", "registration", "vat"].compactMap { name in
            parameters[Substring(name)].map { (name, String($0)) }
        }
        let known = Set(["container", "plate", "registration", "vat"])
        if let unknown = parameters.map({ String($0.key) }).first(where: { !known.contains($0) }) {
            return errorResponse(.badRequest, RuleID.badRequest,
                                 "unknown search parameter \(unknown); use container, plate, registration or vat")
        }
        let values = Dictionary(asked, uniquingKeysWith: { first, _ in first })
        let keys = SearchKeys.query(container: values["container"], plate: values["plate"],
                                    registration: values["registration"], vat: values["vat"])
        guard !keys.isEmpty else {
            return errorResponse(.badRequest, RuleID.badRequest,
                                 "give at least one of container, plate, registration or vat")
        }
        let target = asked.map { "\($0)=\($1)" }.joined(separator: "&")
        guard let peer = node.configuration.peer(country: caller.country) else {
            try await audit(caller, "refusal", "/v1/search", "403 \(RuleID.notEntitled)", target)
            return errorResponse(.forbidden, RuleID.notEntitled,
                                 "\(caller.country) is not a peer of this node; only configured peers may search")
        }
        let ids = try await node.reads.search(keys: keys, Entitlement(caller: caller.country,
                                                                      handlingCodes: peer.handlingCodes))
        try await audit(caller, "search", target, ids.isEmpty ? "no-hit" : "hit", "\(ids.count) records")
        return jsonResponse(.ok, SearchAnswer(hit: !ids.isEmpty, records: ids))
    }

    // MARK: /healthz, /metrics

    func health(_ context: NodeRequestContext) async throws -> Response {
        _ = try await caller(context)
        let counts = try await node.store.counts(origin: nil)
        return jsonResponse(.ok, Health(status: "ok", country: node.identity.country, records: counts.records))
    }

    func metrics(_ context: NodeRequestContext) async throws -> Response {
        _ = try await caller(context)
        let status = try await node.store.syncStatus(peers: node.configuration.peers.map(\.country))
        let counts = try await node.store.counts(origin: nil)
        let load = node.admission.inFlight
        node.metrics.setLoad(intakeBytes: load.bytes, intakeBatches: load.batches,
                             blockingQueued: BlockingWork.shared.queued)
        let text = node.metrics.exposition(status: status, counts: counts)
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(bytes: text)))
    }

    // MARK: Responses

    /// Runs CPU-heavy work (signing) off the event loops and the cooperative pool.
    static func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await BlockingWork.run("fwx-sign", work)
    }

    func xmlResponse(_ bytes: [UInt8]) -> Response {
        Response(status: .ok, headers: [.contentType: "application/xml; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    func errorResponse(_ status: HTTPResponse.Status, _ rule: String, _ message: String) -> Response {
        jsonResponse(status, ErrorBody(error: .init(status: status.code, rule: rule, message: message)))
    }

    func jsonResponse<T: Encodable>(_ status: HTTPResponse.Status, _ value: T) -> Response {
        Self.jsonResponse(status, value)
    }

    static func jsonResponse<T: Encodable>(_ status: HTTPResponse.Status, _ value: T) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Response headers of every answer.
public enum NodeHeaders {
    /// The major versions of the batch schema the node accepts and delivers, newest first (docs/openapi.yaml).
    public static let schemaVersions = HTTPField.Name("FWX-Schema-Versions")!
    /// This node's: schema v1 only, until FWX reads v2 (docs/schema-v2.md).
    public static let acceptedSchemaVersions = "1"
}

/// Response headers of GET /v1/feed.
public enum FeedHeaders {
    /// The cursor to pass as `after` next.
    public static let nextCursor = HTTPField.Name("FWX-Next-Cursor")!
    /// Records in this page.
    public static let recordCount = HTTPField.Name("FWX-Record-Count")!
    /// `true` when the page is full, so more may follow at once.
    public static let more = HTTPField.Name("FWX-More")!
}

/// The JSON body of every error answer.
public struct ErrorBody: Codable, Sendable {
    public struct Detail: Codable, Sendable {
        public var status: Int
        public var rule: String
        public var message: String
    }
    public var error: Detail
}

/// The JSON body of a 422: the error and the findings, as `fwx validate --format json` prints them.
struct InvalidBatchBody: Encodable {
    var error: ErrorBody.Detail
    var findings: ValidationReport
}

/// The answer to GET /v1/search.
public struct SearchAnswer: Codable, Sendable {
    public var hit: Bool
    /// Ids of the matching records the caller may see; fetch each with GET /v1/records/{id}.
    public var records: [String]
}

struct Health: Codable {
    var status: String
    var country: String
    var records: Int
}
