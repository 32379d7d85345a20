import PostgresNIO

/// One step of a database schema: run once per database, in version order, recorded in `fwx_schema_migrations`.
/// Versions start at 1 and follow each other without gaps; a released migration is never edited (add a new one).
public struct PostgresMigration: Sendable {
    public let version: Int
    public let name: String
    /// The statements, run one after the other in the migration's transaction (the extended protocol takes one
    /// statement per query, so a function body's semicolons need no care).
    public let statements: [String]

    public init(version: Int, name: String, statements: [String]) {
        self.version = version
        self.name = name
        self.statements = statements
    }
}

/// What ``PostgresStoreDatabase/migrate(_:)`` did.
public struct PostgresMigrationReport: Sendable, Equatable {
    /// The versions this call applied (empty when another process had already applied them).
    public var applied: [Int]
    /// The database's schema version afterwards.
    public var version: Int
}

extension PostgresStoreDatabase {
    /// The key of the transaction-level advisory lock that serialises migrations between processes. Every FWX
    /// process uses the same constant ("FWX_MIGR"); nothing else in FWX takes it.
    public static let migrationLockKey: Int64 = 0x4657_585F_4D49_4752

    /// Brings the database to the newest of `migrations`, safely when several processes start at once: in one
    /// transaction it takes `pg_advisory_xact_lock(migrationLockKey)` (waiting at most 60 s for another process's
    /// migration), creates `fwx_schema_migrations` if needed, reads the versions applied (after the lock, so it
    /// sees what a process that held it committed) and runs the missing ones in order. Either all missing
    /// migrations commit or none does.
    ///
    /// A database whose recorded version is newer than the newest of `migrations` is refused with
    /// ``PostgresStoreError/Code/schemaTooNew``: during a rolling upgrade, an old binary must not write to a schema
    /// it does not know.
    public func migrate(_ migrations: [PostgresMigration]) async throws -> PostgresMigrationReport {
        try Self.check(migrations)
        let logger = self.logger
        return try await withTransaction { connection in
            try await connection.query("SET LOCAL lock_timeout = '60s'", logger: logger)
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.migrationLockKey))", logger: logger)
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS fwx_schema_migrations (
                    version INTEGER PRIMARY KEY,
                    name TEXT NOT NULL,
                    applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
                """, logger: logger)
            let recorded = try await Self.recordedVersions(connection, logger: logger)
            let newest = migrations.last?.version ?? 0
            if let top = recorded.max(), top > newest {
                throw Self.tooNew(top, newest)
            }
            var applied: [Int] = []
            for migration in migrations where !recorded.contains(migration.version) {
                for (index, statement) in migration.statements.enumerated() {
                    do {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    } catch {
                        let cause = PostgresStoreError.from(error)
                        throw PostgresStoreError(.migrationFailed, "migration \(migration.version) (\(migration.name)) "
                            + "failed at statement \(index + 1): \(cause.message); nothing of it was kept",
                            sqlState: cause.sqlState)
                    }
                }
                try await connection.query("""
                    INSERT INTO fwx_schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))
                    """, logger: logger)
                applied.append(migration.version)
            }
            return PostgresMigrationReport(applied: applied, version: max(recorded.max() ?? 0, newest))
        }
    }

    /// The database's schema version without changing anything (operator commands that must not migrate):
    /// 0 for a database FWX never migrated. Refuses a version newer than `migrations` know, like ``migrate(_:)``.
    public func schemaVersion(knowing migrations: [PostgresMigration]) async throws -> Int {
        let logger = self.logger
        let recorded: [Int] = try await withConnection { connection in
            let exists = try await connection.query(
                "SELECT to_regclass('fwx_schema_migrations') IS NOT NULL", logger: logger)
            var found = false
            for try await row in exists { found = try row.decode(Bool.self) }
            return found ? try await Self.recordedVersions(connection, logger: logger) : []
        }
        let newest = migrations.last?.version ?? 0
        if let top = recorded.max(), top > newest { throw Self.tooNew(top, newest) }
        return recorded.max() ?? 0
    }

    private static func recordedVersions(_ connection: PostgresConnection, logger: Logger) async throws -> [Int] {
        var versions: [Int] = []
        let rows = try await connection.query("SELECT version FROM fwx_schema_migrations ORDER BY version",
                                              logger: logger)
        for try await row in rows { versions.append(Int(try row.decode(Int32.self))) }
        return versions
    }

    private static func tooNew(_ recorded: Int, _ known: Int) -> PostgresStoreError {
        PostgresStoreError(.schemaTooNew, "the database is at schema version \(recorded), newer than this fwx knows "
            + "(\(known)): a newer fwx migrated it. Run that version (finish the rolling upgrade on every process); "
            + "this one will not write to a schema it does not know")
    }

    private static func check(_ migrations: [PostgresMigration]) throws {
        for (index, migration) in migrations.enumerated() where migration.version != index + 1 {
            throw PostgresStoreError(.internal, "the migrations are not numbered 1, 2, 3, ... (a bug in fwx)")
        }
    }
}
