/// An error of the PostgreSQL connection layer: a refused URL or password file, a server that cannot be reached, a
/// transaction to retry, a uniqueness conflict, a schema this binary does not know.
///
/// Errors are compared by ``code`` only. The description carries the code, a message and, for server errors, the
/// SQLSTATE; it never carries SQL text, bound values, a password or a URL with a password in it, so it can be logged
/// and shown to an operator as it is.
public struct PostgresStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A stable error code.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Value: String, Sendable, Hashable {
            case invalidURL = "invalid-url"
            case passwordFile = "password-file"
            case unavailable, busy, conflict, corrupt, `internal`
            case schemaTooNew = "schema-too-new"
            case migrationFailed = "migration-failed"
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The database URL is not of the documented form (or carries a password).
        public static let invalidURL = Code(.invalidURL)
        /// The password file is missing, unreadable or empty.
        public static let passwordFile = Code(.passwordFile)
        /// The server cannot be reached or is shutting down or starting up: try again later (HTTP 503).
        public static let unavailable = Code(.unavailable)
        /// The transaction lost a race (serialization failure, deadlock, lock timeout): run it again.
        public static let busy = Code(.busy)
        /// A unique constraint refused the write (SQLSTATE 23505).
        public static let conflict = Code(.conflict)
        /// The data or the schema is not what the store expects (a check, a foreign key, a missing table).
        public static let corrupt = Code(.corrupt)
        /// Anything else: a bug or a server fault, logged and shown as a 500.
        public static let `internal` = Code(.internal)
        /// The database was migrated by a newer FWX than this one: this binary must not write to it.
        public static let schemaTooNew = Code(.schemaTooNew)
        /// A migration's SQL failed; the database is left at the last migration that committed.
        public static let migrationFailed = Code(.migrationFailed)

        public var description: String { value.rawValue }
    }

    public var code: Code
    /// What happened and what to do, without SQL, values or secrets.
    public var message: String
    /// The server's SQLSTATE (for example `23505`), when the server reported the error.
    public var sqlState: String?
    /// The server's constraint name for a conflict or a check, when it reported one (a schema name, not a value).
    public var constraint: String?

    public init(_ code: Code, _ message: String, sqlState: String? = nil, constraint: String? = nil) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.constraint = constraint
    }

    public var description: String {
        var text = "postgres \(code): \(message)"
        if let sqlState { text += " (SQLSTATE \(sqlState)" + (constraint.map { ", constraint \($0)" } ?? "") + ")" }
        return text
    }

    public static func == (lhs: PostgresStoreError, rhs: PostgresStoreError) -> Bool { lhs.code == rhs.code }
}
