import Foundation

/// A PostgreSQL database address in libpq's URL form, without a password:
///
///     postgresql://USER@HOST[:PORT]/DBNAME[?sslmode=MODE&sslrootcert=FILE&connect_timeout=SECONDS&application_name=NAME]
///
/// `postgres://` is accepted as well. USER and DBNAME may be percent-encoded; HOST is a name, an IPv4 address or an
/// IPv6 address in brackets; PORT defaults to 5432. The password is never part of the URL (nor of the configuration
/// file): it is read from a separate password file (``PostgresPassword``). A URL with a password is refused.
///
/// `sslmode` is one of `disable`, `prefer` (libpq's default: TLS if the server offers it, else plain), `require`
/// (TLS, the server's certificate not checked), `verify-ca` (TLS, certificate checked against `sslrootcert` or the
/// system roots) and `verify-full` (as verify-ca, and the certificate must name HOST). Use verify-full across a
/// network.
public struct PostgresURL: Sendable, Hashable, CustomStringConvertible {
    /// How the connection uses TLS (libpq's `sslmode`).
    public enum SSLMode: String, Sendable, Hashable, CaseIterable {
        case disable, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var user: String
    public var host: String
    public var port: Int
    public var database: String
    public var sslMode: SSLMode
    /// A PEM file of the certificate authorities that may sign the server's certificate (`sslrootcert`).
    public var sslRootCertificate: String?
    /// How long to wait for a TCP connection and its start-up (`connect_timeout`, seconds; default 10).
    public var connectTimeoutSeconds: Int
    /// The name shown in `pg_stat_activity` (`application_name`).
    public var applicationName: String?

    public init(user: String, host: String, port: Int = 5432, database: String, sslMode: SSLMode = .prefer,
                sslRootCertificate: String? = nil, connectTimeoutSeconds: Int = 10, applicationName: String? = nil) {
        self.user = user
        self.host = host
        self.port = port
        self.database = database
        self.sslMode = sslMode
        self.sslRootCertificate = sslRootCertificate
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.applicationName = applicationName
    }

    /// Parses a URL of the form above. Errors have the code ``PostgresStoreError/Code/invalidURL`` and say what to
    /// change; they never repeat a password.
    public init(parsing text: String) throws {
        func refuse(_ message: String) -> PostgresStoreError {
            PostgresStoreError(.invalidURL, "the database URL " + message + "; expected "
                + "postgresql://USER@HOST:PORT/DBNAME?sslmode=disable|prefer|require|verify-ca|verify-full")
        }
        let rest: Substring
        if text.hasPrefix("postgresql://") {
            rest = text.dropFirst("postgresql://".count)
        } else if text.hasPrefix("postgres://") {
            rest = text.dropFirst("postgres://".count)
        } else {
            throw refuse("does not start with postgresql:// or postgres://")
        }
        let query: Substring?
        let beforeQuery: Substring
        if let mark = rest.firstIndex(of: "?") {
            beforeQuery = rest[..<mark]
            query = rest[rest.index(after: mark)...]
        } else {
            beforeQuery = rest
            query = nil
        }
        guard let slash = beforeQuery.firstIndex(of: "/") else {
            throw refuse("names no database (add /DBNAME after the host and port)")
        }
        let authority = beforeQuery[..<slash]
        let path = beforeQuery[beforeQuery.index(after: slash)...]
        guard let at = authority.lastIndex(of: "@") else {
            throw refuse("names no user (write USER@ before the host)")
        }
        let userInfo = authority[..<at]
        if userInfo.contains(":") {
            throw PostgresStoreError(.invalidURL, "the database URL carries a password: remove it from the URL "
                + "(postgresql://USER@HOST:PORT/DBNAME) and put it in the file that passwordFile names")
        }
        guard let user = userInfo.removingPercentEncoding, !user.isEmpty else {
            throw refuse("has an empty or badly percent-encoded user")
        }
        let hostPort = authority[authority.index(after: at)...]
        var host: Substring
        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw refuse("has an IPv6 host without its ]") }
            host = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw refuse("has something other than :PORT after the IPv6 host") }
                portText = after.dropFirst()
            }
        } else if let colon = hostPort.firstIndex(of: ":") {
            host = hostPort[..<colon]
            portText = hostPort[hostPort.index(after: colon)...]
        } else {
            host = hostPort
        }
        guard !host.isEmpty else { throw refuse("names no host (a Unix socket is not supported: use 127.0.0.1)") }
        if host.contains(",") { throw refuse("names several hosts; name one (put a TCP load balancer or a virtual address in front of replicas)") }
        var port = 5432
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else {
                throw refuse("has a port that is not a number from 1 to 65535")
            }
            port = value
        }
        guard let database = path.removingPercentEncoding, !database.isEmpty, !database.contains("/") else {
            throw refuse("names no database, or a badly encoded one (add /DBNAME after the host and port)")
        }
        var result = PostgresURL(user: user, host: String(host), port: port, database: database)
        for pair in (query ?? "").split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0])
            guard parts.count == 2, let value = parts[1].removingPercentEncoding, !value.isEmpty else {
                throw refuse("has parameter \(key.prefix(40)) without a value")
            }
            switch key {
            case "sslmode":
                guard let mode = SSLMode(rawValue: value) else {
                    throw refuse("has sslmode \(value.prefix(20)), which FWX does not support")
                }
                result.sslMode = mode
            case "sslrootcert":
                result.sslRootCertificate = value
            case "connect_timeout":
                guard let seconds = Int(value), (1...3600).contains(seconds) else {
                    throw refuse("has a connect_timeout that is not a number of seconds from 1 to 3600")
                }
                result.connectTimeoutSeconds = seconds
            case "application_name":
                result.applicationName = value
            case "password":
                throw PostgresStoreError(.invalidURL, "the database URL carries a password: remove the password "
                    + "parameter and put the password in the file that passwordFile names")
            default:
                throw refuse("has parameter \(key.prefix(40)), which FWX does not read (it reads sslmode, "
                    + "sslrootcert, connect_timeout, application_name)")
            }
        }
        if result.sslRootCertificate != nil, result.sslMode == .disable || result.sslMode == .prefer {
            throw refuse("names an sslrootcert with sslmode \(result.sslMode.rawValue); use verify-full (or "
                + "verify-ca) so the certificate is checked")
        }
        self = result
    }

    /// The URL in its normal form (it never carries a password).
    public var description: String {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        var text = "postgresql://\(Self.encode(user))@\(hostPart):\(port)/\(Self.encode(database))"
        var parameters = ["sslmode=\(sslMode.rawValue)"]
        if let sslRootCertificate { parameters.append("sslrootcert=\(Self.encode(sslRootCertificate))") }
        if connectTimeoutSeconds != 10 { parameters.append("connect_timeout=\(connectTimeoutSeconds)") }
        if let applicationName { parameters.append("application_name=\(Self.encode(applicationName))") }
        text += "?" + parameters.joined(separator: "&")
        return text
    }

    /// This URL with another database name (the same server, user and TLS settings).
    public func with(database: String) -> PostgresURL {
        var copy = self
        copy.database = database
        return copy
    }

    private static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~/")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

/// The password of the database user, read from the file that `passwordFile` names (one line; a final newline is
/// not part of it). Its description never shows it.
public struct PostgresPassword: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    let value: String

    /// A password given directly (tests, or a caller that read it from a secret store).
    public init(_ value: String) { self.value = value }

    /// Reads the password from `path`. Errors have the code ``PostgresStoreError/Code/passwordFile``.
    public init(file path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PostgresStoreError(.passwordFile, "cannot read the password file \(path): check passwordFile "
                + "and that the node's user may read the file")
        }
        guard var text = String(data: data, encoding: .utf8) else {
            throw PostgresStoreError(.passwordFile, "the password file \(path) is not UTF-8 text")
        }
        if text.hasSuffix("\r\n") { text.removeLast(2) } else if text.hasSuffix("\n") { text.removeLast() }
        guard !text.isEmpty else {
            throw PostgresStoreError(.passwordFile, "the password file \(path) is empty: write the database "
                + "user's password in it")
        }
        guard !text.contains("\n") else {
            throw PostgresStoreError(.passwordFile, "the password file \(path) has more than one line: keep only "
                + "the password")
        }
        self.value = text
    }

    public var description: String { "(password)" }
    public var debugDescription: String { "(password)" }
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}
