import Foundation

/// A mutual-TLS HTTPS client over libcurl, for talking to partner nodes: it presents our client certificate,
/// trusts only the partner CA of its credentials, speaks only HTTPS (TLS 1.2 or later) and follows no redirects.
///
/// Requests may be sent from many tasks at once. Each runs libcurl's blocking `curl_easy_perform` on a thread of its
/// own, never on Swift's cooperative pool, and is aborted when its task is cancelled. Idle libcurl handles are kept
/// (up to ``HTTPSClientConfiguration/maxIdleConnections``) with their kept-alive TLS connections, so repeated
/// requests to the same node reuse the connection instead of doing a new handshake.
///
/// HTTP error statuses (4xx, 5xx) are returned as responses; only a request that produced no response throws, and
/// then always an ``HTTPSClientError``.
public final class HTTPSClient: Sendable {
    /// Our certificate and key, and the CA that servers must be issued by.
    public let credentials: TLSClientCredentials
    /// Timeouts, size limit, proxy.
    public let configuration: HTTPSClientConfiguration
    private let pool: EasyHandlePool

    /// A client with the given TLS identity and trust. Files are read when a connection is made, so a missing or
    /// bad file shows up as a `localCredentials` error of the first request.
    public init(credentials: TLSClientCredentials, configuration: HTTPSClientConfiguration = .init()) {
        self.credentials = credentials
        self.configuration = configuration
        pool = EasyHandlePool(capacity: configuration.maxIdleConnections)
    }

    /// Sends a request and returns the server's response, whatever its status.
    ///
    /// - Parameters:
    ///   - method: the HTTP method (`GET`, `POST`, `PUT`, ...).
    ///   - url: an `https://` URL.
    ///   - headers: extra request headers (name, value); a `Content-Type` for a body belongs here.
    ///   - body: the request body, sent as is (with a Content-Length), or nil for none.
    /// - Throws: ``HTTPSClientError`` when there is no response; see its ``HTTPSClientError/Code``.
    public func send(method: String, url: String, headers: [(String, String)] = [], body: [UInt8]? = nil)
        async throws -> HTTPSResponse
    {
        let request = try prepare(method: method, url: url, headers: headers, body: body)
        let transfer = Transfer(request: request, credentials: credentials, configuration: configuration)
        let pool = self.pool
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<TransferResult, Never>) in
                let thread = Thread {
                    guard let handle = pool.take(for: request.origin) else {
                        continuation.resume(returning: .failure(HTTPSClientError(
                            .other, "libcurl could not create a handle (out of memory?)", url: request.url)))
                        return
                    }
                    let result = transfer.run(on: handle)
                    pool.giveBack(handle, origin: request.origin)
                    continuation.resume(returning: result)
                }
                thread.name = "fwx-https"
                thread.start()
            }
        } onCancel: {
            transfer.cancel()
        }
        return try result.get()
    }

    /// Sends a GET request.
    public func get(_ url: String, headers: [(String, String)] = []) async throws -> HTTPSResponse {
        try await send(method: "GET", url: url, headers: headers)
    }

    /// Sends a POST request with a body of the given content type.
    public func post(_ url: String, body: [UInt8], contentType: String, headers: [(String, String)] = [])
        async throws -> HTTPSResponse
    {
        try await send(method: "POST", url: url, headers: [("Content-Type", contentType)] + headers, body: body)
    }

    /// Checks a request before it reaches libcurl: header injection and non-HTTPS URLs are refused here.
    private func prepare(method: String, url: String, headers: [(String, String)], body: [UInt8]?) throws
        -> PreparedRequest
    {
        func invalid(_ message: String) -> HTTPSClientError { HTTPSClientError(.invalidRequest, message, url: url) }
        if let unusable = Curl.unusable { throw HTTPSClientError(.other, unusable, url: url) }
        guard url.lowercased().hasPrefix("https://") else {
            throw invalid("only https:// URLs are allowed")
        }
        guard !url.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw invalid("the URL contains spaces or control characters")
        }
        guard !method.isEmpty, method.utf8.allSatisfy(isTokenCharacter) else {
            throw invalid("the method \(method.debugDescription) is not an HTTP token")
        }
        for (name, value) in headers {
            guard !name.isEmpty, name.utf8.allSatisfy(isTokenCharacter) else {
                throw invalid("the header name \(name.debugDescription) is not an HTTP token")
            }
            guard !value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) else {
                throw invalid("the value of header \(name) contains a line break or NUL")
            }
        }
        let origin = HTTPSClientError.serverName(of: url).lowercased()
        // POST, PUT and PATCH always carry a Content-Length, 0 without a body (some servers answer 411 otherwise).
        let body = body ?? (["POST", "PUT", "PATCH"].contains(method) ? [] : nil)
        return PreparedRequest(method: method, url: url, origin: origin, headers: headers, body: body)
    }
}

private typealias TransferResult = Result<HTTPSResponse, HTTPSClientError>

/// RFC 9110 `tchar`: the characters allowed in methods and header names.
private func isTokenCharacter(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
         UInt8(ascii: "A")...UInt8(ascii: "Z"):
        return true
    default:
        return "!#$%&'*+-.^_`|~".utf8.contains(byte)
    }
}
