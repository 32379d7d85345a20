/// The TLS identity and trust of an HTTPS client: our certificate and key, and the partner CA we accept.
///
/// Only the CA certificates in ``caFile`` are trusted to identify a server; the system's CA store is never used.
/// With ``pinnedPublicKey`` the server must also present exactly that public key.
public struct TLSClientCredentials: Sendable, Hashable {
    /// Our client certificate (PEM), optionally followed by its chain.
    public var certificateFile: String
    /// The private key of ``certificateFile`` (unencrypted PEM).
    public var keyFile: String
    /// The CA certificates (PEM) that may issue the certificates of the servers we talk to.
    public var caFile: String
    /// The SHA-256 of the server's public key (DER SubjectPublicKeyInfo), as curl takes it: `sha256//BASE64`,
    /// several separated by `;`. Nil when the key is not pinned.
    public var pinnedPublicKey: String?

    /// Credentials from PEM files; see the properties.
    public init(certificateFile: String, keyFile: String, caFile: String, pinnedPublicKey: String? = nil) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.caFile = caFile
        self.pinnedPublicKey = pinnedPublicKey
    }
}

/// Limits and network settings of an ``HTTPSClient``.
public struct HTTPSClientConfiguration: Sendable, Hashable {
    /// The longest time to establish the TCP connection and the TLS handshake.
    public var connectTimeout: Duration
    /// The longest time a whole request may take, connection, upload and download included.
    public var requestTimeout: Duration
    /// The largest response (headers and body) accepted; a larger one is aborted with `responseTooLarge`.
    public var maxResponseBytes: Int
    /// A proxy URL (`http://host:port`); HTTPS requests go through it in a CONNECT tunnel. Nil means no proxy,
    /// whatever the environment says: `https_proxy`, `all_proxy` and `no_proxy` are never read.
    public var proxy: String?
    /// The User-Agent header sent with every request.
    public var userAgent: String
    /// How many idle libcurl handles (each with its kept-alive connections) the client keeps for reuse.
    public var maxIdleConnections: Int

    /// A configuration; every parameter has a default suitable for exchanges between nodes.
    public init(connectTimeout: Duration = .seconds(10), requestTimeout: Duration = .seconds(120),
                maxResponseBytes: Int = 64 * 1024 * 1024, proxy: String? = nil, userAgent: String = "fwx/1",
                maxIdleConnections: Int = 8) {
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
        self.maxResponseBytes = maxResponseBytes
        self.proxy = proxy
        self.userAgent = userAgent
        self.maxIdleConnections = maxIdleConnections
    }
}

extension Duration {
    /// Whole milliseconds, at least 1 (curl reads 0 as "no timeout").
    var curlMilliseconds: Int {
        let (seconds, attoseconds) = components
        let milliseconds = seconds.multipliedReportingOverflow(by: 1000)
        guard !milliseconds.overflow else { return Int.max }
        return Swift.max(1, Int(clamping: milliseconds.partialValue + attoseconds / 1_000_000_000_000_000))
    }
}
