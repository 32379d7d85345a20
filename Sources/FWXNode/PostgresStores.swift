import FWXPostgres
import FWXStore
import Logging

/// Opening a PostgreSQL node store (FWXPostgres). Only the node migrates: an operator command that reads
/// must not change the schema of a database a running node owns.
enum PostgresStores {
    static func open(_ settings: PostgresSettings, access: StoreAccess, logger: Logger) async throws -> any NodeStore {
        try await PostgresNodeStore.open(settings, migrate: access == .node, logger: logger)
    }
}
