import FWXModel
import FWXSigning
import FWXStore
import Foundation
import Hummingbird
import Logging
import NIOSSL
import Synchronization

/// Whether the request being handled has its audit entry already; handlers that audit set it (through
/// ``Routes/audit(_:_:_:_:_:)``), ``RequestAuditMiddleware`` writes one for those that do not.
final class AuditMark: Sendable {
    private let value = Mutex<Bool>(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }

    @TaskLocal static var current: AuditMark?
}

/// Gives every request an audit entry and every error a JSON body. Wraps the whole router, unknown routes included:
/// a request whose handler wrote no audit entry (health, metrics, 400 answers, unknown routes, errors) gets one
/// (`action` `request`, the path as target, the status as result, the method as detail). Errors thrown by handlers
/// or the router become the ``ErrorBody`` answer of their status (404 for an unknown route); anything that is not an
/// HTTP error is a 500 that is logged, not shown to the caller.
struct RequestAuditMiddleware: RouterMiddleware {
    typealias Context = NodeRequestContext
    let node: ExchangeNode

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let mark = AuditMark()
        var response: Response
        do {
            response = try await AuditMark.$current.withValue(mark) { try await next(request, context) }
        } catch {
            response = errorResponse(error, request, context)
        }
        // Every answer says which schema versions this node takes, so partners can choose what to deliver.
        response.headers[NodeHeaders.schemaVersions] = NodeHeaders.acceptedSchemaVersions
        if !mark.isSet {
            let caller = await Self.caller(context)
            let path = String(request.uri.path.prefix(200))
            try? await node.auditTrail.write(AuditEntry(
                callerCountry: caller.country, callerFingerprint: caller.fingerprint, action: "request", target: path,
                result: String(response.status.code), detail: request.method.rawValue))
        }
        return response
    }

    /// The caller as the TLS layer verified it, or `??` when the certificate cannot be read.
    static func caller(_ context: Context) async -> CallerIdentity {
        guard let certificate = try? await context.channel.nioSSL_peerCertificate().get(),
              let der = try? certificate.toDERBytes(), let parsed = Certificate(der: der) else {
            return CallerIdentity(country: "??", fingerprint: "")
        }
        return CallerIdentity(country: parsed.country ?? "??", fingerprint: parsed.fingerprint)
    }

    private func errorResponse(_ error: any Error, _ request: Request, _ context: Context) -> Response {
        // An error that writes its own answer (a refusal with its rule id) keeps it.
        if let refusal = error as? CallerRefusal, let response = try? refusal.response(from: request, context: context) {
            return response
        }
        let status: HTTPResponse.Status
        let message: String
        let rule: String
        if let store = error as? StoreError, store.isTransient {
            // The database is away (restarting, failing over) or busy: the caller tries again; nothing it sent was
            // acknowledged, because receipts exist only for committed data.
            node.metrics.refusal(RuleID.storeUnavailable)
            node.logger.warning("store unavailable", metadata: ["path": "\(request.uri.path.prefix(200))",
                                                               "error": "\(store)"])
            var response = Routes.jsonResponse(.serviceUnavailable, ErrorBody(error: .init(
                status: 503, rule: RuleID.storeUnavailable,
                message: "the node's store is unavailable for now; try again after the Retry-After delay")))
            response.headers[.retryAfter] = String(Routes.storeRetryAfterSeconds)
            return response
        }
        switch error {
        case let error as HTTPError where error.status == .notFound:
            status = .notFound
            rule = RuleID.badRequest
            message = error.body ?? "no route \(request.method.rawValue) \(request.uri.path.prefix(200)); "
                + "see docs/openapi.yaml for the node's API"
        case let error as HTTPError:
            status = error.status
            rule = status == .unauthorized ? RuleID.callerCertificate : RuleID.badRequest
            message = error.body ?? status.reasonPhrase
        case let error as any HTTPResponseError:
            status = error.status
            rule = status == .contentTooLarge ? RuleID.requestTooLarge : RuleID.badRequest
            message = status.reasonPhrase
        default:
            status = .internalServerError
            rule = "internal"
            message = "the node could not answer this request; its log says why"
            node.logger.error("request failed", metadata: ["path": "\(request.uri.path.prefix(200))",
                                                          "error": "\(error)"])
        }
        return Routes.jsonResponse(status, ErrorBody(error: .init(status: status.code, rule: rule, message: message)))
    }
}
