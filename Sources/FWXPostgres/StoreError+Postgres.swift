public import FWXStore
import PostgresNIO

/// Asks the store's transaction loop to roll back and run the whole transaction again: a concurrent writer created
/// a record this transaction took for new, or a batch row it waited for vanished. Never leaves the store.
struct TransactionRetry: Error, Sendable {}

extension StoreError {
    /// Every error of the PostgreSQL layer as the store contract's ``StoreError``, in one place: the layer's codes
    /// (``PostgresStoreError/Code``) map to the contract's, the message is FWX's own (no SQL, no bound value, no
    /// password, no URL), with the server's SQLSTATE when it reported one. A `StoreError` thrown on purpose and a
    /// cancellation pass through.
    ///
    /// | PostgresStoreError | StoreError |
    /// | --- | --- |
    /// | `invalid-url`, `password-file` | `configuration` |
    /// | `unavailable` (server down, unreachable, refusing logins, read-only standby) | `unavailable` |
    /// | `busy` (serialization failure, deadlock, lock or statement timeout) | `busy` |
    /// | `conflict` (a unique key) | `conflict` |
    /// | `corrupt` (integrity, missing tables, unexpected column types) | `corrupt` |
    /// | `schema-too-new` | `schema-too-new` |
    /// | `migration-failed`, `internal` | `internal` |
    public static func postgres(_ error: any Error) -> any Error {
        if error is StoreError || error is CancellationError { return error }
        if error is TransactionRetry {
            return StoreError(.busy, "concurrent writers kept changing the same records; try again")
        }
        let cause = PostgresStoreError.from(error)
        let code: Code
        switch cause.code {
        case .invalidURL, .passwordFile: code = .configuration
        case .unavailable: code = .unavailable
        case .busy: code = .busy
        case .conflict: code = .conflict
        case .corrupt: code = .corrupt
        case .schemaTooNew: code = .schemaTooNew
        default: code = .internal
        }
        return StoreError(code, cause.message + (cause.sqlState.map { " (SQLSTATE \($0))" } ?? ""))
    }
}
