public import Foundation

/// Which store a node keeps its records in, as the configuration's `store` section says: one SQLite file (the
/// embedded default, `store: { sqlite: PATH }`) or a PostgreSQL database shared by several node processes
/// (`store: { postgres: { url: …, passwordFile: …, poolSize: N } }`). ``NodeStores`` (FWXNode) opens either.
public enum StoreConfiguration: Sendable, Hashable {
    /// A SQLite database file (absolute path).
    case sqlite(path: String)
    /// A PostgreSQL database.
    case postgres(PostgresSettings)

    /// The SQLite file, when this is a SQLite store.
    public var sqlitePath: String? {
        if case .sqlite(let path) = self { return path }
        return nil
    }

    /// What operators see in status output and logs: the SQLite path, or the PostgreSQL URL (which never holds a
    /// password).
    public var displayName: String {
        switch self {
        case .sqlite(let path): return path
        case .postgres(let settings): return settings.url
        }
    }
}

/// How to reach a PostgreSQL database: a libpq-style URL without a password, the file the password is read from,
/// and the connection pool. Plain values; connecting is the PostgreSQL store's business.
public struct PostgresSettings: Sendable, Hashable {
    /// `postgresql://USER@HOST:PORT/DATABASE` (or `postgres://…`), optionally with `?sslmode=…`. Never a password:
    /// the configuration reader refuses one.
    public var url: String
    /// Absolute path of a file holding the database password (its first line); nil when the server needs none
    /// (for example `trust` or certificate authentication on 127.0.0.1).
    public var passwordFile: String?
    /// Connections each node process keeps open at most.
    public var poolSize: Int
    /// How long to wait for a connection to the server, in seconds.
    public var connectTimeoutSeconds: Double

    /// The default pool size: enough for the intake, feed and background services of one process.
    public static let defaultPoolSize = 10
    /// The default connect timeout, in seconds.
    public static let defaultConnectTimeoutSeconds = 10.0

    /// Settings for the database at `url`.
    public init(url: String, passwordFile: String? = nil, poolSize: Int = PostgresSettings.defaultPoolSize,
                connectTimeoutSeconds: Double = PostgresSettings.defaultConnectTimeoutSeconds) {
        self.url = url
        self.passwordFile = passwordFile
        self.poolSize = poolSize
        self.connectTimeoutSeconds = connectTimeoutSeconds
    }

    /// The URL's parts, or nil when it is not a `postgresql://` / `postgres://` URL with a host and a database.
    public var components: URLComponents? {
        guard let parts = URLComponents(string: url), let scheme = parts.scheme?.lowercased(),
              scheme == "postgresql" || scheme == "postgres", let host = parts.host, !host.isEmpty,
              parts.path.count > 1 else { return nil }
        return parts
    }
}
