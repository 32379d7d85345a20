public import FWXModel
public import FWXSigning
public import FWXClient
import FWXStore
import Foundation

/// The client side of the node API for one remote node: push a signed batch and check the signed receipt,
/// pull a feed page and check its signature. Used by the node's services and by `fwx send` / `fwx pull`.
public struct PeerExchange: Sendable {
    public let client: HTTPSClient
    public let baseURL: String
    /// CAs (and CRLs) the remote node's signing certificate must chain to.
    public let trust: TrustStore
    /// The country the remote node must be; nil accepts the country its receipt or feed names (then checked
    /// against its signing certificate).
    public let expectedCountry: String?

    public init(client: HTTPSClient, baseURL: String, trust: TrustStore, expectedCountry: String?) {
        self.client = client
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.trust = trust
        self.expectedCountry = expectedCountry
    }

    /// What became of a push.
    public enum PushResult: Sendable {
        /// The node kept the batch (now or before) and answered with a receipt whose signature checked out.
        case delivered(receipt: Receipt, xml: [UInt8])
        /// The node refused the batch for good (403, 409, 413, 422): retrying the same bytes cannot help.
        case refused(status: Int, message: String)
        /// Worth trying again later (429, 5xx, an unusable answer).
        case retry(message: String)
    }

    /// Submits a signed batch. `digest` is the SHA-256 of its exclusive canonical form, which the receipt must
    /// name. Transport failures throw ``HTTPSClientError``.
    public func push(_ signedBatch: [UInt8], batchId: String, digest: String) async throws -> PushResult {
        let response = try await client.send(method: "POST", url: baseURL + "/v1/batches",
                                             headers: [("Content-Type", "application/xml")], body: signedBatch)
        switch response.status {
        case 200:
            let receiptXML = response.body
            let checked = try await BlockingWork.run("fwx-receipt") { [trust, expectedCountry] () throws -> Result<Receipt, PushProblem> in
                let report = try SignatureVerifier(trustStore: trust).verify(receiptXML, name: "receipt for \(batchId)")
                guard report.isValid else {
                    let reasons = report.findings.filter { $0.severity == .error }.map { "\($0.rule): \($0.message)" }
                    return .failure(PushProblem(message: "the receipt's signature does not verify: "
                        + reasons.joined(separator: "; ")))
                }
                let receipt = try ReceiptReader.read(receiptXML, name: "receipt for \(batchId)")
                if let expectedCountry, receipt.receivingNode.country != expectedCountry {
                    return .failure(PushProblem(message: "the receipt comes from \(receipt.receivingNode.country), "
                        + "not from \(expectedCountry)"))
                }
                if let mismatch = ReceiptReader.mismatch(receipt, batchId: batchId, digest: digest) {
                    return .failure(PushProblem(message: mismatch))
                }
                return .success(receipt)
            }
            switch checked {
            case .success(let receipt): return .delivered(receipt: receipt, xml: receiptXML)
            case .failure(let problem): return .retry(message: problem.message)
            }
        case 403, 409, 413, 422:
            return .refused(status: response.status, message: Self.message(response))
        default:
            return .retry(message: "HTTP \(response.status): \(Self.message(response))")
        }
    }

    /// A feed page as received, signature not yet checked.
    public struct FeedResponse: Sendable {
        public var signedBatch: [UInt8]
        public var nextCursor: String
        public var recordCount: Int
        public var more: Bool
    }

    /// Fetches the records after `cursor`. Throws ``PeerExchangeError`` for an HTTP refusal.
    public func fetchFeed(after cursor: String, limit: Int) async throws -> FeedResponse {
        let escaped = cursor.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? cursor
        let response = try await client.send(method: "GET", url: baseURL + "/v1/feed?after=\(escaped)&limit=\(limit)")
        guard response.status == 200, let next = response.header("fwx-next-cursor") else {
            throw PeerExchangeError(status: response.status, message: Self.message(response))
        }
        return FeedResponse(signedBatch: response.body, nextCursor: next,
                            recordCount: Int(response.header("fwx-record-count") ?? "") ?? 0,
                            more: response.header("fwx-more") == "true")
    }

    /// One record at its latest revision, as a signed one-record batch.
    public func fetchRecord(id: String) async throws -> [UInt8] {
        let escaped = id.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(["-", "_", "."])) ?? id
        let response = try await client.send(method: "GET", url: baseURL + "/v1/records/\(escaped)")
        guard response.status == 200 else { throw PeerExchangeError(status: response.status, message: Self.message(response)) }
        return response.body
    }

    /// Asks the node whether it holds records with these keys that the caller may see (hit/no-hit).
    public func search(container: String? = nil, plate: String? = nil, registration: String? = nil,
                       vat: String? = nil) async throws -> SearchAnswer {
        let pairs = [("container", container), ("plate", plate), ("registration", registration), ("vat", vat)]
            .compactMap { name, value in value.map { (name, $0) } }
        let query = pairs.map { "\($0)=\($1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $1)" }
            .joined(separator: "&")
        let response = try await client.send(method: "GET", url: baseURL + "/v1/search?" + query)
        guard response.status == 200,
              let answer = try? JSONDecoder().decode(SearchAnswer.self, from: Data(response.body)) else {
            throw PeerExchangeError(status: response.status, message: Self.message(response))
        }
        return answer
    }

    /// The `message` of an FWX JSON error body, or the start of the body.
    static func message(_ response: HTTPSResponse) -> String {
        if let body = try? JSONDecoder().decode(ErrorBody.self, from: Data(response.body)) {
            return "\(body.error.rule): \(body.error.message)"
        }
        return String(decoding: response.body.prefix(300), as: UTF8.self)
    }
}

struct PushProblem: Error { var message: String }

/// A remote node refused a request: the HTTP status and the node's own explanation.
public struct PeerExchangeError: Error, Sendable, CustomStringConvertible {
    public var status: Int
    public var message: String
    public var description: String { "HTTP \(status): \(message)" }
}
