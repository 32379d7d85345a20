import CCurl

/// Why an HTTPS request produced no response: which side refused what, or what broke.
///
/// Errors are compared by ``code`` only. ``message`` says in plain words which side refused what and why, and
/// quotes libcurl's own explanation; it never contains request or response bodies.
public struct HTTPSClientError: Error, Sendable, CustomStringConvertible, Equatable {
    /// A stable error code.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Value: String, Sendable, Hashable {
            case serverCertificateRejected, pinnedKeyMismatch, clientCertificateRefused, localCredentials
            case tlsHandshakeFailed, connectionFailed, timeout, responseTooLarge, cancelled, invalidRequest, other
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// We refused the server's certificate: not issued by our partner CA, expired, or not for this host name.
        public static let serverCertificateRejected = Code(.serverCertificateRejected)
        /// The server's public key is not the one pinned in the credentials.
        public static let pinnedKeyMismatch = Code(.pinnedKeyMismatch)
        /// The server refused our client certificate (it does not trust our CA, or the certificate is expired,
        /// revoked or not for client use).
        public static let clientCertificateRefused = Code(.clientCertificateRefused)
        /// Our own certificate, key or CA file cannot be read or used (for example a key that does not match the
        /// certificate).
        public static let localCredentials = Code(.localCredentials)
        /// The TLS handshake failed for a reason other than a certificate (protocol version, no common cipher, a
        /// server that does not speak TLS).
        public static let tlsHandshakeFailed = Code(.tlsHandshakeFailed)
        /// The server could not be reached: unknown host name, connection refused, no route.
        public static let connectionFailed = Code(.connectionFailed)
        /// The connection or the whole request took longer than configured.
        public static let timeout = Code(.timeout)
        /// The response is larger than the configured limit; the transfer was aborted.
        public static let responseTooLarge = Code(.responseTooLarge)
        /// The calling task was cancelled; the transfer was aborted.
        public static let cancelled = Code(.cancelled)
        /// The request cannot be sent as given: not an `https://` URL, or a malformed method or header.
        public static let invalidRequest = Code(.invalidRequest)
        /// Anything else (the connection broke mid-transfer, a protocol error, ...); see the message.
        public static let other = Code(.other)

        public var description: String { value.rawValue }
    }

    /// What went wrong, for programs.
    public var code: Code
    /// What went wrong, for people: which side refused what and why, with libcurl's explanation.
    public var message: String
    /// The URL of the request.
    public var url: String
    /// The libcurl result code (`CURLcode`), or nil when the request never reached libcurl.
    public var curlCode: Int?

    /// An error; `curlCode` is the libcurl result when there was one.
    public init(_ code: Code, _ message: String, url: String, curlCode: Int? = nil) {
        self.code = code
        self.message = message
        self.url = url
        self.curlCode = curlCode
    }

    public var description: String {
        "\(url): \(message)" + (curlCode.map { " (curl error \($0))" } ?? "")
    }

    public static func == (lhs: HTTPSClientError, rhs: HTTPSClientError) -> Bool { lhs.code == rhs.code }
}

extension HTTPSClientError {
    /// The one place where a failed libcurl transfer becomes an error.
    ///
    /// - Parameters:
    ///   - result: what `curl_easy_perform` returned.
    ///   - detail: the text of the handle's error buffer (CURLOPT_ERRORBUFFER), possibly empty.
    ///   - exceededLimit: whether our write or header callback stopped the transfer because of the size limit.
    ///   - cancelled: whether our progress callback stopped it because the task was cancelled.
    ///   - brokeAfterHandshake: whether the transfer opened a new connection and received no byte of a response.
    static func fromCurl(_ result: CURLcode, detail: String, url: String, exceededLimit: Bool, cancelled: Bool,
                         brokeAfterHandshake: Bool, credentials: TLSClientCredentials,
                         configuration: HTTPSClientConfiguration) -> HTTPSClientError
    {
        let number = Int(result.rawValue)
        // libcurl's error buffer keeps the first message of the transfer, which is not always about the failure
        // itself (e.g. "getpeername() failed" before a send error): the code's own text goes first.
        let summary = String(cString: curl_easy_strerror(result))
        let explanation = detail.isEmpty || detail == summary ? summary : "\(summary): \(detail)"
        func error(_ code: Code, _ message: String) -> HTTPSClientError {
            HTTPSClientError(code, message, url: url, curlCode: number)
        }
        let server = serverName(of: url)
        let lowered = explanation.lowercased()
        // An alert the server sent about a certificate (OpenSSL prints received alerts as "... alert <name>").
        let certificateAlert = lowered.contains("alert")
            && ["certificate", "unknown ca", "access denied"].contains { lowered.contains($0) }

        switch result {
        case CURLE_ABORTED_BY_CALLBACK where cancelled:
            return error(.cancelled, "the request to \(server) was cancelled; the transfer was aborted")
        case CURLE_WRITE_ERROR where exceededLimit, CURLE_FILESIZE_EXCEEDED:
            return error(.responseTooLarge,
                         "the response from \(server) is larger than the limit of \(configuration.maxResponseBytes) "
                             + "bytes; the transfer was aborted")
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_INVALIDCERTSTATUS:
            return error(.serverCertificateRejected,
                         "we refused the server's certificate: \(server) presented a TLS certificate that is not "
                             + "valid for it under the partner CA in \(credentials.caFile) (\(explanation))")
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
            return error(.pinnedKeyMismatch,
                         "we refused the server: the public key of the certificate \(server) presented is not the "
                             + "pinned key \(credentials.pinnedPublicKey ?? "?") (\(explanation))")
        case CURLE_SSL_CERTPROBLEM, CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ENGINE_SETFAILED,
             CURLE_SSL_ENGINE_INITFAILED:
            return error(.localCredentials,
                         "our own TLS client credentials cannot be used: certificate \(credentials.certificateFile) "
                             + "with key \(credentials.keyFile) could not be loaded, or the key does not belong to "
                             + "the certificate (\(explanation))")
        case CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CRL_BADFILE:
            return error(.localCredentials,
                         "our own CA file \(credentials.caFile) cannot be read or holds no PEM certificate "
                             + "(\(explanation))")
        case CURLE_SSL_CLIENTCERT:
            return error(.clientCertificateRefused,
                         "the server \(server) refused our client certificate \(credentials.certificateFile) "
                             + "(\(explanation))")
        case CURLE_SSL_CONNECT_ERROR where certificateAlert, CURLE_RECV_ERROR where certificateAlert,
             CURLE_SEND_ERROR where certificateAlert:
            // TLS 1.2: the server's alert ends the handshake (35). TLS 1.3: the client finishes its side of the
            // handshake before the server checks our certificate, so the alert arrives with the first read (56).
            return error(.clientCertificateRefused,
                         "the server \(server) refused our client certificate \(credentials.certificateFile): it "
                             + "does not trust our CA, or the certificate is expired, revoked or not for client use "
                             + "(TLS alert from the server: \(explanation))")
        case CURLE_RECV_ERROR where brokeAfterHandshake, CURLE_SEND_ERROR where brokeAfterHandshake:
            // TLS 1.3 without the alert text: the server closed the new connection right after the handshake,
            // before any response, and the alert was lost (curl failed to send before it read it).
            return error(.clientCertificateRefused,
                         "the server \(server) closed the new connection right after the TLS handshake, without "
                             + "answering: under TLS 1.3 this is how a server refuses our client certificate "
                             + "\(credentials.certificateFile) (it does not trust our CA, or the certificate is "
                             + "expired, revoked or not for client use); if the certificate is fine, the server stopped "
                             + "right after the handshake (\(explanation))")
        case CURLE_SSL_CONNECT_ERROR, CURLE_SSL_CIPHER:
            return error(.tlsHandshakeFailed, "the TLS handshake with \(server) failed (\(explanation))")
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return error(.connectionFailed, "could not connect to \(server) (\(explanation))")
        case CURLE_OPERATION_TIMEDOUT:
            return error(.timeout,
                         "no complete response from \(server) in time: the limits are "
                             + "\(configuration.connectTimeout) to connect and \(configuration.requestTimeout) for "
                             + "the whole request (\(explanation))")
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT:
            return error(.invalidRequest, "the URL cannot be used; only https:// URLs are allowed (\(explanation))")
        case CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING:
            return error(.other, "the connection to \(server) broke during the request (\(explanation))")
        default:
            return error(.other, "the request to \(server) failed: \(explanation)")
        }
    }

    /// `host:port` of a URL (or the URL itself when it has no recognisable authority), for messages.
    static func serverName(of url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let rest = url[schemeEnd.upperBound...]
        var authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        return String(authority)
    }
}
