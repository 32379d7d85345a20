import NIOCore
import PostgresNIO
import _ConnectionPoolModule
import FWXStore

extension PostgresStoreError {
    /// Turns any error from postgres-nio, NIO or the pool into a ``PostgresStoreError`` (one place, as GRDB's
    /// `DatabaseError`). A `PostgresStoreError` or a `CancellationError` passes through unchanged.
    ///
    /// - `unavailable`: cannot connect, connection lost, TLS or authentication refused, server shutting down or
    ///   starting up (SQLSTATE class 08, 57P01-57P03), too many connections (53300), a read-only standby (25006).
    /// - `busy`: serialization failure (40001), deadlock (40P01), lock not available (55P03), a statement or lock
    ///   timeout (57014).
    /// - `conflict`: unique violation (23505), with the constraint's name.
    /// - `corrupt`: another integrity violation (class 23), a missing table or column (42P01, 42703), data corrupted
    ///   (XX001, XX002), a column of an unexpected type.
    /// - `internal`: anything else.
    ///
    /// The message is FWX's own; the server's message, detail and the query are left out, because they can carry
    /// values (a duplicate key's value, a literal).
    /// A `StoreError` (thrown on purpose by a store's transaction body) and the store's internal request to run a
    /// transaction again pass through too.
    public static func mapping(_ error: any Error) -> any Error {
        if error is PostgresStoreError || error is CancellationError || error is StoreError
            || error is TransactionRetry { return error }
        return from(error)
    }

    /// As ``mapping(_:)``, always a ``PostgresStoreError`` (a cancellation becomes `unavailable`).
    public static func from(_ error: any Error) -> PostgresStoreError {
        switch error {
        case let error as PostgresStoreError:
            return error
        case let error as PostgresTransactionError:
            if let inner = error.closureError ?? error.beginError ?? error.commitError ?? error.rollbackError {
                return from(inner)
            }
            return PostgresStoreError(.internal, "a transaction failed without a reported cause")
        case let error as PSQLError:
            return fromPSQL(error)
        case let error as ConnectionPoolError:
            if error == .connectionCreationCircuitBreakerTripped {
                return PostgresStoreError(.unavailable, "the database has refused connections for a while (the pool "
                    + "stopped queueing); it keeps retrying: try again later")
            }
            if error == .poolShutdown {
                return PostgresStoreError(.unavailable, "the connection pool is shut down (the node is stopping)")
            }
            return PostgresStoreError(.unavailable, "the connection request was cancelled")
        case is PostgresDecodingError:
            return PostgresStoreError(.corrupt, "a column did not have the type the store expects (the schema or "
                + "the data is not what this fwx knows)")
        case is CancellationError:
            return PostgresStoreError(.unavailable, "the database operation was cancelled")
        case is IOError, is ChannelError, is NIOConnectionError:
            return PostgresStoreError(.unavailable, "cannot reach the database server (\(shortKind(error))): check "
                + "that it runs and that the URL's host and port are right")
        default:
            return PostgresStoreError(.internal, "unexpected database error (\(shortKind(error)))")
        }
    }

    private static func fromPSQL(_ error: PSQLError) -> PostgresStoreError {
        switch error.code {
        case .server:
            let state = error.serverInfo?[.sqlState] ?? "?????"
            return fromServer(sqlState: state, constraint: error.serverInfo?[.constraintName])
        case .connectionError, .serverClosedConnection, .uncleanShutdown:
            return PostgresStoreError(.unavailable, "the connection to the database server failed or was closed "
                + "(\(error.code)); the pool reconnects: try again later")
        case .clientClosedConnection, .poolClosed:
            return PostgresStoreError(.unavailable, "the connection pool is closing (the node is stopping)")
        case .queryCancelled:
            return PostgresStoreError(.unavailable, "the database operation was cancelled")
        case .sslUnsupported:
            return PostgresStoreError(.unavailable, "the database server does not offer TLS but the URL's sslmode "
                + "requires it: enable ssl on the server, or change sslmode")
        case .failedToAddSSLHandler:
            return PostgresStoreError(.unavailable, "TLS to the database server could not be set up (check "
                + "sslrootcert and the server's certificate)")
        case .authMechanismRequiresPassword:
            return PostgresStoreError(.unavailable, "the database server asks for a password and none was "
                + "given: set passwordFile")
        case .saslError, .unsupportedAuthMechanism:
            return PostgresStoreError(.unavailable, "authentication with the database server failed (\(error.code)): "
                + "check the user in the URL and the password in passwordFile")
        default:
            if let underlying = error.underlying, !(underlying is PSQLError) {
                let mapped = from(underlying)
                if mapped.code != .internal { return mapped }
            }
            return PostgresStoreError(.internal, "database client error (\(error.code))")
        }
    }

    /// The mapping of a server-reported SQLSTATE (with the constraint's name, if any).
    static func fromServer(sqlState state: String, constraint: String?) -> PostgresStoreError {
        func make(_ code: Code, _ message: String) -> PostgresStoreError {
            PostgresStoreError(code, message, sqlState: state, constraint: constraint)
        }
        switch state {
        case "23505":
            return make(.conflict, "a row with the same unique key is already stored")
        case "40001":
            return make(.busy, "the transaction conflicted with a concurrent one (serialization failure): run it again")
        case "40P01":
            return make(.busy, "the transaction was chosen as a deadlock victim: run it again")
        case "55P03":
            return make(.busy, "a lock was not available in time: run the transaction again")
        case "57014":
            return make(.busy, "the statement was cancelled (statement or lock timeout): run it again later")
        case "57P01", "57P02":
            return make(.unavailable, "the database server is shutting down or restarting: try again later")
        case "57P03":
            return make(.unavailable, "the database server is starting up or not accepting connections yet: "
                + "try again later")
        case "53300":
            return make(.unavailable, "the database server has too many connections: lower poolSize, or raise "
                + "max_connections")
        case "25006":
            return make(.unavailable, "the database is read-only (a standby, or a failover in progress): try again "
                + "once the primary is reachable")
        case "28P01", "28000":
            return make(.unavailable, "the database server refused the login: check the user in the URL and the "
                + "password in passwordFile, and pg_hba.conf")
        case "3D000":
            return make(.unavailable, "the database named in the URL does not exist: create it (owned by the URL's "
                + "user), or fix the URL")
        case "FX001":
            return make(.internal, "the audit trail is append-only: the database refused to change or delete "
                + "an entry")
        case "42P01", "42703", "XX001", "XX002":
            return make(.corrupt, "the database does not have the tables or data this fwx expects")
        default:
            if state.hasPrefix("08") {
                return make(.unavailable, "the connection to the database server failed: try again later")
            }
            if state.hasPrefix("23") {
                return make(.corrupt, "a database constraint refused the write (integrity violation)")
            }
            if state.hasPrefix("53") {
                return make(.unavailable, "the database server is out of resources (disk, memory or connections)")
            }
            return make(.internal, "the database server reported an error")
        }
    }

    /// The error's type and, for a system error, its errno: never its text, which for some errors names an address.
    private static func shortKind(_ error: any Error) -> String {
        if let error = error as? IOError { return "errno \(error.errnoCode)" }
        if error is NIOConnectionError { return "connection failed" }
        return String(describing: type(of: error))
    }
}
