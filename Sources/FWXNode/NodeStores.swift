public import FWXStore
public import Logging

/// How a store is opened: by the node (created and migrated when needed) or by an operator command (never created,
/// never migrated, so a mistyped configuration fails instead of reporting an empty store).
public enum StoreAccess: Sendable, Hashable {
    /// `fwx serve`: creates the store when missing and runs its migrations.
    case node
    /// An operator command on an existing store; `readOnly` for those that only read (`status`, `audit`, `trace`).
    case existing(readOnly: Bool)
}

/// The one place a node store is made from the configuration: `fwx serve` (``ExchangeNode``) and every operator
/// command open their store here, so each backend is chosen in one switch.
public enum NodeStores {
    /// Opens the store `configuration` names: SQLite, or PostgreSQL (connecting, and for `.node` running the
    /// migrations, which run once per database even when several processes start together).
    ///
    /// - Throws: ``StoreError`` when the store cannot be opened.
    public static func open(_ configuration: StoreConfiguration, access: StoreAccess,
                            logger: Logger = Logger(label: "fwx.store")) async throws -> any NodeStore {
        switch configuration {
        case .sqlite:
            return try openSQLite(configuration, access: access)
        case .postgres(let settings):
            return try await PostgresStores.open(settings, access: access, logger: logger)
        }
    }

    /// Opens a SQLite store without suspending (for callers that cannot await); refuses a PostgreSQL one.
    public static func openSQLite(_ configuration: StoreConfiguration, access: StoreAccess) throws -> any NodeStore {
        switch configuration {
        case .sqlite(let path):
            switch access {
            case .node:
                return try SQLiteNodeStore(path: path)
            case .existing(let readOnly):
                let existing = try SQLiteNodeStore.openExisting(path: path)
                return readOnly ? existing : try SQLiteNodeStore(path: path)
            }
        case .postgres:
            throw StoreError(.configuration, "a PostgreSQL store is opened with NodeStores.open (asynchronously)")
        }
    }
}
