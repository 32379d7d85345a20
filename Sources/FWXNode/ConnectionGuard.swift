import FWXStore
import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import NIOSSL
import NIOTLS
import Synchronization

// The node's connections: TLS with FWX's own certificate check, deadlines for every phase of a connection, a limit
// of connections per client address, and every refused handshake audited (counted, see ``AuditTrail``).
//
// Pipeline of an accepted connection: NIOSSLServerHandler, ConnectionGuard (decrypted bytes; handshake outcome and
// errors; the deadlines), then Hummingbird's HTTP/1 handlers with RequestWatcher among them (request and response
// parts: tells the guard where a request is).

/// Connections open per client address.
final class ConnectionCounter: Sendable {
    let limit: Int
    private let counts = Mutex<[String: Int]>([:])

    init(limit: Int) { self.limit = max(1, limit) }

    /// Counts a new connection from `address`; false (and not counted) when the address has `limit` open.
    func open(_ address: String) -> Bool {
        counts.withLock { counts in
            let open = counts[address, default: 0]
            guard open < limit else { return false }
            counts[address] = open + 1
            return true
        }
    }

    func close(_ address: String) {
        counts.withLock { counts in
            let open = counts[address, default: 1] - 1
            counts[address] = open > 0 ? open : nil
        }
    }
}

/// Set when FWX's certificate check refused the caller (and audited it), so that the handshake error which follows
/// is not audited twice.
final class VerificationRefused: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .sequentiallyConsistent) }
    var isSet: Bool { value.load(ordering: .sequentiallyConsistent) }
}

/// A server child channel: TLS (with the node's certificate check), the guard, then `Base` (Hummingbird's HTTP/1
/// channel, whose handlers include a ``RequestWatcher``).
struct GuardedTLSChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value
    typealias Verify = @Sendable ([NIOSSLCertificate]) async -> NIOSSLVerificationResult

    let base: Base
    let sslContext: NIOSSLContext
    let verify: Verify
    let settings: ConnectionSettings
    let counter: ConnectionCounter
    let node: ExchangeNode

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let address = channel.remoteAddress?.ipAddress ?? "unknown"
        let admitted = counter.open(address)
        if admitted {
            channel.closeFuture.whenComplete { [counter] _ in counter.close(address) }
        }
        let refused = VerificationRefused()
        let guardHandler = ConnectionGuard(settings: settings, node: node, address: address, verification: refused)
        return channel.eventLoop.makeCompletedFuture { [sslContext, verify] in
            let tls = NIOSSLServerHandler(context: sslContext, customVerificationCallback: { certificates, promise in
                promise.completeWithTask {
                    let result = await verify(certificates)
                    if case .failed = result { refused.set() }
                    return result
                }
            }, configuration: .init())
            try channel.pipeline.syncOperations.addHandler(tls)
            try channel.pipeline.syncOperations.addHandler(guardHandler)
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }.map { [node, settings] value in
            // Closed at once, but only after the setup succeeded: a failed setup would end the server's accept loop.
            if !admitted {
                node.metrics.connectionClosed("too-many-connections")
                node.auditTrail.refusal(AuditEntry(callerCountry: "??", callerFingerprint: "", action: "refusal",
                                                   target: "connection from \(address)", result: "too-many-connections",
                                                   detail: "more than \(settings.maxPerClientAddress) connections open"),
                                        subject: address)
                channel.close(promise: nil)
            }
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// Hummingbird's HTTP/1 over TLS, guarded: the node's connections (``GuardedTLSChannel``).
    static func guardedTLS(sslContext: NIOSSLContext, verify: @escaping GuardedTLSChannel<HTTP1Channel>.Verify,
                           settings: ConnectionSettings, node: ExchangeNode) -> HTTPServerBuilder {
        let counter = ConnectionCounter(limit: settings.maxPerClientAddress)
        return HTTPServerBuilder { responder in
            GuardedTLSChannel(base: HTTP1Channel(responder: responder,
                                                 configuration: .init(additionalChannelHandlers: [RequestWatcher()])),
                              sslContext: sslContext, verify: verify, settings: settings, counter: counter, node: node)
        }
    }
}

/// Watches one connection from the TLS layer: closes it when a phase takes too long (handshake, a request's header,
/// its body, the wait for the next request), audits handshakes that fail, and closes a connection shortly after an
/// answer given before the request's body was read (413, 415, 503), so that the rest of the body is not read.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Phase { case handshaking, idle, readingHead, readingBody, processing, closing }

    /// How long a connection answered before its body was read stays open, so that the answer reaches the client
    /// before the connection closes (closing with unread data makes TCP reset the connection).
    static let lingerSeconds = 1.0

    private(set) var phase = Phase.handshaking
    private var deadline: Scheduled<Void>?
    private var context: ChannelHandlerContext?
    private let settings: ConnectionSettings
    private let node: ExchangeNode
    private let address: String
    private let verification: VerificationRefused

    init(settings: ConnectionSettings, node: ExchangeNode, address: String, verification: VerificationRefused) {
        self.settings = settings
        self.node = node
        self.address = address
        self.verification = verification
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        arm(settings.handshakeTimeoutSeconds, reason: "handshake-timeout")
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        // The connection's buffers are freed now; large ones (a body cut short, say) stay in malloc's arenas.
        MemoryTrim.requestSoon()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Answered before its body was read (or timed out): what still arrives is never read by anyone, so it is
        // dropped here, at once, instead of being buffered for a request that has its answer.
        if phase == .closing {
            return
        }
        if phase == .idle {
            phase = .readingHead
            arm(settings.headerTimeoutSeconds, reason: "header-timeout")
        }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event, phase == .handshaking {
            phase = .idle
            arm(settings.idleTimeoutSeconds, reason: "idle-timeout")
        }
        // The client closed its side: the request it is in the middle of (or the next one) can never arrive, so
        // nothing is gained by waiting for a deadline; an answer being prepared is still written.
        if let event = event as? ChannelEvent, event == .inputClosed, phase != .processing {
            phase = .closing
            deadline?.cancel()
            deadline = nil
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if phase == .handshaking, let reason = Self.handshakeRefusal(error) {
            deadline?.cancel()
            deadline = nil
            phase = .closing
            node.metrics.tlsRefusal(reason.word)
            // A certificate FWX's check refused was audited there, with what the certificate says.
            if !verification.isSet { auditHandshakeRefusal(reason.word, cause: reason.cause) }
        }
        context.fireErrorCaught(error)
    }

    // MARK: Requests (from RequestWatcher)

    func requestHead() {
        phase = .readingBody
        arm(settings.bodyTimeoutSeconds, reason: "body-timeout")
    }

    func requestEnd() {
        phase = .processing
        deadline?.cancel()
        deadline = nil
    }

    /// An answer was written; `early` when it was given before the request's body was read.
    func responseEnd(early: Bool) {
        if early || phase == .readingBody {
            phase = .closing
            arm(Self.lingerSeconds, reason: nil)
        } else if phase == .processing {
            phase = .idle
            arm(settings.idleTimeoutSeconds, reason: "idle-timeout")
        }
    }

    /// Whether the request's body is still being read.
    var readingBody: Bool { phase == .readingBody }

    // MARK: Deadlines

    private func arm(_ seconds: Double, reason: String?) {
        deadline?.cancel()
        guard let context else { return }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: .nanoseconds(Int64(seconds * 1e9))) {
            loopBound.value.expired(reason: reason)
        }
    }

    private func expired(reason: String?) {
        deadline = nil
        guard let context else { return }
        if let reason {
            if reason == "handshake-timeout" {
                node.metrics.tlsRefusal(reason)
                auditHandshakeRefusal(reason, cause: nil)
            } else {
                node.metrics.connectionClosed(reason)
            }
        }
        phase = .closing
        context.close(promise: nil)
    }

    private func auditHandshakeRefusal(_ reason: String, cause: String?) {
        node.auditTrail.refusal(AuditEntry(callerCountry: "??", callerFingerprint: "", action: "refusal",
                                           target: "tls-handshake", result: "tls \(reason)",
                                           detail: "from \(address)" + (cause.map { " (\($0))" } ?? "")),
                                subject: address)
    }

    /// The reason word of a failed handshake, and for a failure FWX does not name, BoringSSL's reason code (such as
    /// `BAD_ECC_CERT`); nil when `error` is not a failed handshake (a client that went away, say).
    static func handshakeRefusal(_ error: any Error) -> (word: String, cause: String?)? {
        guard let error = error as? NIOSSLError, case .handshakeFailed(let cause) = error else { return nil }
        let text = "\(cause)"
        // A client that went away during the handshake was not refused (a port check, say).
        if text.contains("EOF during") { return nil }
        let reasons: [(String, String)] = [
            ("PEER_DID_NOT_RETURN_A_CERTIFICATE", "no-certificate"),
            ("CERTIFICATE_VERIFY_FAILED", "certificate-refused"),
            ("UNSUPPORTED_PROTOCOL", "protocol-version"),
            ("NO_SHARED_CIPHER", "no-shared-cipher"),
            ("NO_SHARED_GROUP", "no-shared-cipher"),
            // What BoringSSL says to a client that offers only suites without ECDHE+AEAD to an EC key.
            ("WRONG_CURVE", "no-shared-cipher"),
            ("NO_CIPHERS_AVAILABLE", "no-shared-cipher"),
            ("HTTP_REQUEST", "not-tls"),
            ("WRONG_VERSION_NUMBER", "not-tls"),
        ]
        if let word = reasons.first(where: { text.contains($0.0) })?.1 { return (word, nil) }
        // BoringSSL's reason codes are upper-case words with underscores, the last part of each error line.
        let code = text.split(whereSeparator: { !($0.isUppercase || $0.isNumber || $0 == "_") })
            .last { $0.count > 3 && $0.contains("_") }
        return ("handshake-failed", code.map { String($0.prefix(64)) })
    }
}

/// Tells the connection's ``ConnectionGuard`` where a request is (header read, body read, answer written), and
/// marks an answer given before the request's body was read with `Connection: close`.
final class RequestWatcher: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var connection: ConnectionGuard?
    private var early = false

    func handlerAdded(context: ChannelHandlerContext) {
        connection = try? context.pipeline.syncOperations.handler(type: ConnectionGuard.self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        connection = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: connection?.requestHead()
        case .end: connection?.requestEnd()
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where connection?.readingBody == true && head.status.code >= 400:
            early = true
            head.headerFields[.connection] = "close"
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end:
            context.write(data, promise: promise)
            connection?.responseEnd(early: early)
            early = false
        default:
            context.write(data, promise: promise)
        }
    }
}
