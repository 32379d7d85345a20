public import Logging
public import PostgresNIO
public import ServiceLifecycle
import NIOSSL
import Synchronization

/// How FWX connects to its PostgreSQL database: the URL (without password), the password, the pool and the timeouts.
public struct PostgresDatabaseConfiguration: Sendable {
    public var url: PostgresURL
    /// The password of ``PostgresURL/user``; `nil` when the server needs none (trust authentication).
    public var password: PostgresPassword?
    /// At most this many connections to the server from this process (default 10). The server's
    /// `max_connections` must cover every process's pool plus the LISTEN connections (one per wake-up channel).
    public var poolSize: Int
    /// How long an operation waits for a pooled connection before it fails as ``PostgresStoreError/Code/unavailable``
    /// (default 5 s). While the server is down, operations fail after this long instead of queueing; the pool keeps
    /// trying to reconnect in the background and operations succeed again once the server is back.
    public var acquireTimeout: Duration
    /// Applied to every pooled connection (`statement_timeout`, `lock_timeout`, as PostgreSQL durations such as `30s`);
    /// `nil` leaves the server's default.
    public var statementTimeout: String?
    public var lockTimeout: String?
    /// `idle_in_transaction_session_timeout` for every pooled connection (default 60 s): a process that stalls
    /// inside a transaction (while it holds the feed clock's lock, for example) loses it after this long instead of
    /// stalling the other writers indefinitely. `nil` leaves the server's default.
    public var idleInTransactionTimeout: String? = "60s"
    /// Where the pool logs its background events (connection failures, reconnects). No SQL, no values.
    public var logger: Logger

    public init(url: PostgresURL, password: PostgresPassword?, poolSize: Int = 10, acquireTimeout: Duration = .seconds(5),
                statementTimeout: String? = "60s", lockTimeout: String? = "30s",
                logger: Logger = Logger(label: "fwx.postgres")) {
        self.url = url
        self.password = password
        self.poolSize = poolSize
        self.acquireTimeout = acquireTimeout
        self.statementTimeout = statementTimeout
        self.lockTimeout = lockTimeout
        self.logger = logger
    }

    /// The configuration read from a node configuration's `store.postgres`: `url` in libpq's form, `passwordFile`
    /// (read now; `nil` for none) and `poolSize`. Errors say which of them is wrong.
    public init(url: String, passwordFile: String?, poolSize: Int = 10, logger: Logger = Logger(label: "fwx.postgres"))
        throws
    {
        guard (1...1000).contains(poolSize) else {
            throw PostgresStoreError(.invalidURL, "poolSize must be from 1 to 1000 (it is \(poolSize))")
        }
        self.init(url: try PostgresURL(parsing: url), password: try passwordFile.map { try PostgresPassword(file: $0) },
                  poolSize: poolSize, logger: logger)
    }
}

/// Where a request for a pooled connection stands, for the acquire timeout.
final class LeaseState: Sendable {
    enum Value { case waiting, leased, timedOut }
    private let value = Mutex(Value.waiting)

    /// Moves from waiting to `next`; false when the request is no longer waiting.
    func leave(to next: Value) -> Bool {
        value.withLock { value in
            guard value == .waiting else { return false }
            value = next
            return true
        }
    }
}

/// The one outcome of a connection request, handed to its caller by whichever comes first: the request's end, the
/// acquire timeout or the caller's cancellation; later ones are dropped.
final class LeaseOutcome<Value: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<Value, any Error>?
        var result: Result<Value, any Error>?
        var delivered = false
    }
    private let state = Mutex(State())

    func wait(_ continuation: CheckedContinuation<Value, any Error>) {
        let ready = state.withLock { state -> Result<Value, any Error>? in
            if let result = state.result, !state.delivered {
                state.delivered = true
                return result
            }
            state.continuation = continuation
            return nil
        }
        if let ready { continuation.resume(with: ready) }
    }

    /// Hands `result` over, unless an earlier one was; true when this one is the outcome.
    @discardableResult
    func finish(_ result: Result<Value, any Error>) -> Bool {
        let (taken, waiter) = state.withLock { state -> (Bool, CheckedContinuation<Value, any Error>?) in
            guard state.result == nil else { return (false, nil) }
            state.result = result
            guard let continuation = state.continuation else { return (true, nil) }
            state.continuation = nil
            state.delivered = true
            return (true, continuation)
        }
        waiter?.resume(with: result)
        return taken
    }
}

/// The isolation level of a transaction (PostgreSQL's default is read committed).
public enum PostgresIsolation: String, Sendable {
    case readCommitted = "READ COMMITTED"
    case repeatableRead = "REPEATABLE READ"
    case serializable = "SERIALIZABLE"
}

/// One PostgreSQL database used by FWX: a pool of connections (postgres-nio's `PostgresClient`), transactions,
/// migrations, NOTIFY and LISTEN wake-ups. Every error it throws is a ``PostgresStoreError`` (or a
/// `CancellationError` when the calling task was cancelled).
///
/// The pool works only while ``run()`` runs, in a task of its own or as a service of a `ServiceGroup`; or use
/// ``withDatabase(_:_:)``, which runs it around a closure. A connection never escapes the closure it is lent to.
public final class PostgresStoreDatabase: Sendable, Service {
    public let configuration: PostgresDatabaseConfiguration
    let client: PostgresClient
    let listenConfiguration: PostgresConnection.Configuration
    let logger: Logger

    /// Creates the pool (it connects lazily, once ``run()`` runs). Fails when the TLS settings cannot be used (for
    /// example an unreadable `sslrootcert`).
    public init(configuration: PostgresDatabaseConfiguration) throws {
        self.configuration = configuration
        self.logger = configuration.logger
        let url = configuration.url
        let tls = try Self.tlsConfiguration(url)
        var clientConfiguration = PostgresClient.Configuration(
            host: url.host, port: url.port, username: url.user, password: configuration.password?.value,
            database: url.database,
            tls: tls.map { url.sslMode == .prefer ? .prefer($0) : .require($0) } ?? .disable)
        clientConfiguration.options.maximumConnections = configuration.poolSize
        clientConfiguration.options.minimumConnections = 0
        clientConfiguration.options.connectTimeout = .seconds(url.connectTimeoutSeconds)
        clientConfiguration.options.keepAliveBehavior = .init(frequency: .seconds(30))
        if url.sslMode == .verifyFull { clientConfiguration.options.tlsServerName = url.host }
        var startup: [(String, String)] = [("application_name", url.applicationName ?? "fwx")]
        if let value = configuration.statementTimeout { startup.append(("statement_timeout", value)) }
        if let value = configuration.lockTimeout { startup.append(("lock_timeout", value)) }
        if let value = configuration.idleInTransactionTimeout {
            startup.append(("idle_in_transaction_session_timeout", value))
        }
        clientConfiguration.options.additionalStartupParameters = startup
        self.client = PostgresClient(configuration: clientConfiguration, backgroundLogger: configuration.logger)

        let context = try tls.map { try NIOSSLContext(configuration: $0) }
        var listen = PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.user, password: configuration.password?.value,
            database: url.database,
            tls: context.map { url.sslMode == .prefer ? .prefer($0) : .require($0) } ?? .disable)
        listen.options.connectTimeout = .seconds(Int64(url.connectTimeoutSeconds))
        if url.sslMode == .verifyFull { listen.options.tlsServerName = url.host }
        listen.options.additionalStartupParameters = [("application_name", (url.applicationName ?? "fwx") + "-listen")]
        self.listenConfiguration = listen
    }

    /// NIOSSL's client configuration for the URL's sslmode; `nil` for `disable`.
    static func tlsConfiguration(_ url: PostgresURL) throws -> TLSConfiguration? {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        switch url.sslMode {
        case .disable: return nil
        case .prefer, .require: tls.certificateVerification = .none
        case .verifyCA: tls.certificateVerification = .noHostnameVerification
        case .verifyFull: tls.certificateVerification = .fullVerification
        }
        if let file = url.sslRootCertificate {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(file))
            } catch {
                throw PostgresStoreError(.invalidURL, "cannot read the sslrootcert file \(file) as PEM certificates: "
                    + "check the path in the database URL")
            }
        }
        return tls
    }

    /// Runs the pool until the task is cancelled or the service group shuts down gracefully.
    public func run() async {
        await client.run()
    }

    /// Runs a database for the duration of `body`: starts the pool, runs `migrations` (if any), calls `body`, then
    /// shuts the pool down.
    public static func withDatabase<Result: Sendable>(
        _ configuration: PostgresDatabaseConfiguration, migrations: [PostgresMigration] = [],
        _ body: @Sendable (PostgresStoreDatabase) async throws -> Result
    ) async throws -> Result {
        let database = try PostgresStoreDatabase(configuration: configuration)
        return try await withThrowingTaskGroup(of: Void.self, returning: Result.self) { group in
            group.addTask { await database.run() }
            defer { group.cancelAll() }
            if !migrations.isEmpty { _ = try await database.migrate(migrations) }
            return try await body(database)
        }
    }

    // MARK: - Connections and transactions

    /// Lends a pooled connection to `body`. Waits at most ``PostgresDatabaseConfiguration/acquireTimeout`` for one;
    /// errors are mapped to ``PostgresStoreError``.
    public func withConnection<Result: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        do {
            return try await leased(body)
        } catch {
            throw PostgresStoreError.mapping(error)
        }
    }

    /// Runs `body` in a transaction at `isolation` (default read committed): commits when it returns, rolls back
    /// when it throws. A ``PostgresStoreError/Code/busy`` error means the transaction lost a race and may be run
    /// again as a whole.
    public func withTransaction<Result: Sendable>(
        isolation: PostgresIsolation = .readCommitted,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let logger = self.logger
        return try await withConnection { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "BEGIN ISOLATION LEVEL \(isolation.rawValue)"),
                                       logger: logger)
            let result: Result
            do {
                result = try await body(connection)
            } catch {
                // A failed rollback leaves the connection broken; the pool then drops it.
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
            try await connection.query("COMMIT", logger: logger)
            return result
        }
    }

    /// Runs one statement on a pooled connection and returns its rows, decoded by `decode` (a row never escapes).
    public func query<Row: Sendable>(
        _ query: PostgresQuery, decode: @escaping @Sendable (PostgresRow) throws -> Row
    ) async throws -> [Row] {
        let logger = self.logger
        return try await withConnection { connection in
            var rows: [Row] = []
            for try await row in try await connection.query(query, logger: logger) { rows.append(try decode(row)) }
            return rows
        }
    }

    /// Runs one statement on a pooled connection, discarding its rows.
    public func execute(_ query: PostgresQuery) async throws {
        let logger = self.logger
        try await withConnection { connection in
            for try await _ in try await connection.query(query, logger: logger) {}
        }
    }

    /// Waits for a connection at most `acquireTimeout`; the timer stops once the connection is lent, so a long
    /// transaction is never cut short by it.
    ///
    /// The wait is bounded even when the pool does not give a request up promptly on cancellation: the request
    /// runs in a task of its own, and a timed-out or cancelled caller returns at once without awaiting it. That is
    /// safe because `body` never starts once the request stopped waiting (the lease closure checks); a connection
    /// lent later goes straight back to the pool. (Seen once in CI: after an immediate-mode restart an outbox loop
    /// stayed in a connection request that neither timed out nor ended on cancellation.)
    private func leased<Result: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let state = LeaseState()
        let timeout = configuration.acquireTimeout
        let poolSize = configuration.poolSize
        let client = self.client
        let logger = self.logger
        let outcome = LeaseOutcome<Result>()
        let request = Task {
            try await client.withConnection { connection in
                guard state.leave(to: .leased) else { throw CancellationError() }
                return try await Self.untilClosed(connection, logger: logger) { try await body(connection) }
            }
        }
        let timer = Task {
            try await Task.sleep(for: timeout)
            if state.leave(to: .timedOut) {
                request.cancel()
                outcome.finish(.failure(PostgresStoreError(.unavailable, "no connection to the database within "
                    + "\(timeout) (the server is down, unreachable or refusing connections, or the pool of "
                    + "\(poolSize) is busy); try again later")))
            }
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                outcome.wait(continuation)
                Task {
                    let result = await request.result
                    timer.cancel()
                    outcome.finish(result)
                }
            }
        } onCancel: {
            request.cancel()
            // Still waiting for a connection: give up now. Once lent, the body runs to its end (it sees the
            // cancellation itself), so that the caller never returns while its transaction may still commit.
            if state.leave(to: .timedOut) {
                timer.cancel()
                outcome.finish(.failure(CancellationError()))
            }
        }
    }

    /// How long an operation may go on after its connection closed under it before it is given up as unavailable.
    static let closedGrace: Duration = .seconds(1)

    /// Runs `body` on `connection`, but gives it up as unavailable once the connection has closed under it (the
    /// server stopped or crashed) and `body` has not ended within ``closedGrace`` after that.
    ///
    /// A query whose connection closes normally fails at once with its own error; this is for the one that does
    /// not. Seen under load after an immediate-mode stop of the server: a statement on a pooled connection closed
    /// under it never ended, with no socket left open, so the caller (an outbox loop, a request) waited forever
    /// and its task did not end on cancellation. Its outcome is unknown to the caller, as for any commit whose
    /// answer is lost: FWX's writes are idempotent (a batch again is a duplicate with the first receipt) or leased
    /// (an outbox claim runs out), so trying again is safe. The abandoned `body` keeps its task until it ends.
    static func untilClosed<Result: Sendable>(
        _ connection: PostgresConnection, logger: Logger, _ body: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        let outcome = LeaseOutcome<Result>()
        let work = Task { try await body() }
        connection.closeFuture.whenComplete { _ in
            Task {
                try? await Task.sleep(for: closedGrace)
                if outcome.finish(.failure(PostgresStoreError(.unavailable,
                    "the connection to the database closed during the operation and it did not end (the server "
                        + "stopped or went away); its outcome is unknown; try again"))) {
                    logger.warning("an operation was given up: its connection closed under it and it did not end")
                }
            }
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                outcome.wait(continuation)
                Task { outcome.finish(await work.result) }
            }
        } onCancel: {
            work.cancel()
        }
    }

    // MARK: - NOTIFY

    /// Sends a wake-up on `channel` to every process listening (``withWakeUps(on:_:)``), once the current
    /// transaction commits (right away outside a transaction). A wake-up is only a hint: it is lost when no one
    /// listens or a listener is reconnecting, so nothing may depend on it for correctness.
    public func notify(_ channel: PostgresChannel) async throws {
        try await execute(PostgresQuery(unsafeSQL: "NOTIFY \(channel.name)"))
    }

    /// `NOTIFY` on a connection already lent (inside a transaction: delivered at commit, dropped at rollback).
    public static func notify(_ channel: PostgresChannel, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(PostgresQuery(unsafeSQL: "NOTIFY \(channel.name)"), logger: logger)
    }
}
