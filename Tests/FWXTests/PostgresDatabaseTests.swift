import Foundation
import FWXPostgres
import PostgresNIO
import Testing

/// The connection layer against a real PostgreSQL server (PostgresTestServer): migrations, error mapping, NOTIFY.
@Suite("PostgreSQL database layer")
struct PostgresDatabaseTests {
    static func count(_ database: PostgresStoreDatabase, _ sql: String) async throws -> Int {
        try await database.query(PostgresQuery(unsafeSQL: sql)) { try $0.decode(Int.self) }.first ?? -1
    }

    @Test("migrations run once when four processes start together on a fresh database")
    func migrationsRunOnceUnderConcurrency() async throws {
        let test = try await PostgresTestServer.freshDatabase("migrate")
        let configuration = try test.configuration(poolSize: 2)
        let migrations = PostgresNodeSchema.migrations
        // Four clients (as four `fwx serve` processes would have), released at the same moment.
        let reports = try await withThrowingTaskGroup(of: PostgresMigrationReport.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    try await PostgresStoreDatabase.withDatabase(configuration) { database in
                        try await database.migrate(migrations)
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(reports.count == 4)
        #expect(reports.filter { $0.applied == [1] }.count == 1, "\(reports)")
        #expect(reports.filter { $0.applied.isEmpty }.count == 3, "\(reports)")
        #expect(reports.allSatisfy { $0.version == migrations.count })

        try await PostgresStoreDatabase.withDatabase(configuration) { database in
            #expect(try await Self.count(database, "SELECT count(*) FROM fwx_schema_migrations") == 1)
            for table in ["batches", "revisions", "records", "outbox", "pulls", "audit", "latest_facts",
                          "record_keys", "fwx_feed_clock"] {
                #expect(try await Self.count(database, "SELECT count(*) FROM \(table)") >= 0)
            }
            #expect(try await Self.count(database, "SELECT position FROM fwx_feed_clock") == 0)
            let again = try await database.migrate(migrations)
            #expect(again.applied.isEmpty)
            #expect(try await database.schemaVersion(knowing: migrations) == migrations.count)
        }
    }

    @Test("a database migrated by a newer fwx is refused, by migrate and by the read-only check")
    func newerSchemaRefused() async throws {
        let test = try await PostgresTestServer.freshDatabase("newer")
        try await PostgresStoreDatabase.withDatabase(try test.configuration(),
                                                     migrations: PostgresNodeSchema.migrations) { database in
            try await database.execute("INSERT INTO fwx_schema_migrations (version, name) VALUES (99, 'from the future')")
            let migrate = await #expect(throws: PostgresStoreError.self) {
                try await database.migrate(PostgresNodeSchema.migrations)
            }
            #expect(migrate?.code == .schemaTooNew)
            #expect(migrate?.message.contains("99") == true)
            let check = await #expect(throws: PostgresStoreError.self) {
                try await database.schemaVersion(knowing: PostgresNodeSchema.migrations)
            }
            #expect(check?.code == .schemaTooNew)
            // Nothing was written: still one row from migration 1 plus the one inserted above.
            #expect(try await Self.count(database, "SELECT count(*) FROM fwx_schema_migrations") == 2)
        }
        let fresh = try await PostgresTestServer.freshDatabase("never")
        try await PostgresStoreDatabase.withDatabase(try fresh.configuration()) { database async throws in
            #expect(try await database.schemaVersion(knowing: PostgresNodeSchema.migrations) == 0)
        }
    }

    @Test("a failing migration keeps nothing and says which statement failed")
    func failingMigrationRollsBack() async throws {
        let test = try await PostgresTestServer.freshDatabase("failing")
        let broken = PostgresNodeSchema.migrations + [
            PostgresMigration(version: 2, name: "broken", statements: ["CREATE TABLE extra (x INTEGER)",
                                                                      "ALTER TABLE no_such_table ADD y INTEGER"]),
        ]
        try await PostgresStoreDatabase.withDatabase(try test.configuration()) { database async throws in
            let error = await #expect(throws: PostgresStoreError.self) { try await database.migrate(broken) }
            #expect(error?.code == .migrationFailed)
            #expect(error?.sqlState == "42P01")
            #expect(error?.message.contains("statement 2") == true)
            #expect(try await database.schemaVersion(knowing: broken) == 0, "migration 1 rolled back with 2")
            #expect(try await Self.count(database, "SELECT count(*) FROM pg_tables WHERE tablename = 'extra'") == 0)
        }
    }

    @Test("unique violations map to conflict, the audit trail refuses changes, and no value leaks into errors")
    func errorMapping() async throws {
        let test = try await PostgresTestServer.freshDatabase("errors")
        try await PostgresStoreDatabase.withDatabase(try test.configuration(),
                                                     migrations: PostgresNodeSchema.migrations) { database in
            let secret = "NL-SECRET-BATCH-0001"
            let insert: PostgresQuery = """
                INSERT INTO batches (batch_id, sender_country, sender_agency, sequence_number, digest, received_at,
                                     caller_country, caller_fingerprint, record_count, signed_batch, receipt)
                VALUES (\(secret), 'NL', 'politie', 1, 'd', 0, 'NL', 'f', 0, '\\x00'::bytea, '\\x00'::bytea)
                """
            try await database.execute(insert)
            let duplicate = await #expect(throws: PostgresStoreError.self) { try await database.execute(insert) }
            #expect(duplicate?.code == .conflict)
            #expect(duplicate?.sqlState == "23505")
            #expect(duplicate?.constraint == "batches_pkey")
            #expect(duplicate.map { "\($0)".contains(secret) } == false)

            // Inside a transaction too: the transaction's error is unwrapped, the transaction rolled back.
            let inTransaction = await #expect(throws: PostgresStoreError.self) {
                try await database.withTransaction { connection in
                    try await connection.query("INSERT INTO audit (at, caller_country, caller_fingerprint, action, target, result) VALUES (1, 'NL', 'f', 'a', 't', 'ok')", logger: database.configuration.logger)
                    try await connection.query(insert, logger: database.configuration.logger)
                }
            }
            #expect(inTransaction?.code == .conflict)
            #expect(try await Self.count(database, "SELECT count(*) FROM audit") == 0, "rolled back")

            try await database.execute("INSERT INTO audit (at, caller_country, caller_fingerprint, action, target, result) VALUES (1, 'NL', 'f', 'a', 't', 'ok')")
            for statement in ["UPDATE audit SET result = 'changed'", "DELETE FROM audit", "TRUNCATE audit"] {
                let refused = await #expect(throws: PostgresStoreError.self) {
                    try await database.execute(PostgresQuery(unsafeSQL: statement))
                }
                #expect(refused?.sqlState == "FX001", "\(statement)")
                #expect(refused?.message.contains("append-only") == true)
            }
            #expect(try await Self.count(database, "SELECT count(*) FROM audit WHERE result = 'ok'") == 1)

            // Two transactions updating the same rows in opposite order: one is the deadlock victim (busy).
            // Each takes its first row and waits until the other holds its own before reaching for the second, so
            // the two always overlap, however slowly a loaded machine opens the second connection.
            try await database.execute("INSERT INTO pulls (peer) VALUES ('BE'), ('DE')")
            let bothHoldARow = Rendezvous(parties: 2)
            let outcomes = await withTaskGroup(of: PostgresStoreError?.self) { group in
                for order in [["BE", "DE"], ["DE", "BE"]] {
                    group.addTask {
                        do {
                            try await database.withTransaction { connection in
                                let logger = database.configuration.logger
                                try await connection.query("UPDATE pulls SET records_pulled = records_pulled + 1 WHERE peer = \(order[0])", logger: logger)
                                try await bothHoldARow.arriveAndWait(atMost: .seconds(30))
                                try await connection.query("UPDATE pulls SET records_pulled = records_pulled + 1 WHERE peer = \(order[1])", logger: logger)
                            }
                            return nil
                        } catch {
                            return PostgresStoreError.from(error)
                        }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            let failures = outcomes.compactMap { $0 }
            #expect(await bothHoldARow.arrived == 2, "both transactions held their first row together")
            #expect(failures.count == 1, "\(outcomes)")
            #expect(failures.first?.code == .busy)
            #expect(failures.first?.sqlState == "40P01")
        }
    }

    @Test("no server at the address: unavailable within the acquire timeout, without the password")
    func connectionRefusedIsUnavailable() async throws {
        let cluster = try await PostgresTestServer.cluster()
        // A port nobody listens on: bind one, note it, close it.
        let port = try await freePort()
        let url = "postgresql://fwx@127.0.0.1:\(port)/nothing?sslmode=disable"
        var configuration = try PostgresDatabaseConfiguration(url: url, passwordFile: cluster.passwordFile)
        configuration.acquireTimeout = .seconds(1)
        let password = try String(contentsOfFile: cluster.passwordFile, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        try await PostgresStoreDatabase.withDatabase(configuration) { database in
            let started = ContinuousClock.now
            let error = await #expect(throws: PostgresStoreError.self) { try await database.execute("SELECT 1") }
            #expect(error?.code == .unavailable)
            #expect(error.map { "\($0)".contains(password) } == false)
            #expect(ContinuousClock.now - started < .seconds(20), "bounded by the acquire timeout")
        }
    }

    @Test("NOTIFY from one client wakes a LISTEN on another; a rolled-back NOTIFY does not")
    func listenNotify() async throws {
        let test = try await PostgresTestServer.freshDatabase("notify")
        let channel = try PostgresChannel("fwx_outbox")
        let configuration = try test.configuration()
        try await PostgresStoreDatabase.withDatabase(configuration) { listener in
            try await PostgresStoreDatabase.withDatabase(configuration) { sender in
                try await listener.withWakeUps(on: channel) { wakeUps in
                    #expect(await wakeUps.wait(atMost: .seconds(10)), "the wake-up after connecting")
                    #expect(wakeUps.connections == 1)
                    try await sender.notify(channel)
                    #expect(await wakeUps.wait(atMost: .seconds(10)), "the NOTIFY")

                    let logger = sender.configuration.logger
                    _ = try? await sender.withTransaction { connection in
                        try await PostgresStoreDatabase.notify(channel, on: connection, logger: logger)
                        throw CancellationError()
                    }
                    #expect(await wakeUps.wait(atMost: .milliseconds(500)) == false, "rolled back: no wake-up")

                    try await sender.withTransaction { connection in
                        try await PostgresStoreDatabase.notify(channel, on: connection, logger: logger)
                    }
                    #expect(await wakeUps.wait(atMost: .seconds(10)), "committed: a wake-up")
                }
            }
        }
    }

    @Test("a server restarted in immediate mode: unavailable while down, then the same client and listener carry on")
    func survivesImmediateRestart() async throws {
        try await PostgresTestServer.withPrivateCluster { cluster in
            let test = try await PostgresTestServer.freshDatabase("restart", on: cluster)
            let configuration = try test.configuration(poolSize: 2, acquireTimeout: .seconds(2))
            let channel = try PostgresChannel("fwx_wake")
            try await PostgresStoreDatabase.withDatabase(configuration,
                                                         migrations: PostgresNodeSchema.migrations) { database in
                try await database.withWakeUps(on: channel) { wakeUps in
                    #expect(await wakeUps.wait(atMost: .seconds(10)))
                    try await database.execute("INSERT INTO pulls (peer) VALUES ('BE')")

                    // Down: every operation fails as unavailable (not internal, not a hang).
                    try await PostgresTestServer.run(["stop", cluster.directory, "--immediate"])
                    for _ in 0..<3 {
                        let error = await #expect(throws: PostgresStoreError.self) {
                            try await database.execute("SELECT 1")
                        }
                        #expect(error?.code == .unavailable, "\(String(describing: error))")
                    }

                    // Back: the same client works again within a bounded time, and the data is there.
                    try await PostgresTestServer.run(["start", cluster.directory])
                    let back = try await Self.eventually(seconds: 30) {
                        try await Self.count(database, "SELECT count(*) FROM pulls")
                    }
                    #expect(back == 1)

                    // The listener reconnected by itself (a second connection) and receives again.
                    var reconnected = false
                    for _ in 0..<60 where !reconnected {
                        _ = await wakeUps.wait(atMost: .milliseconds(500))
                        reconnected = wakeUps.connections >= 2
                    }
                    #expect(reconnected, "the LISTEN connection came back")
                    try await database.notify(channel)
                    #expect(await wakeUps.wait(atMost: .seconds(10)))

                    // A restart while the client holds idle connections: errors at most briefly, then working.
                    try await PostgresTestServer.run(["restart", cluster.directory, "--immediate"])
                    let after = try await Self.eventually(seconds: 30) {
                        try await Self.count(database, "SELECT count(*) FROM pulls")
                    }
                    #expect(after == 1)
                }
            }
        }
    }

    /// Retries `body` while it throws `unavailable`, for at most `seconds`.
    static func eventually<T: Sendable>(seconds: Int, _ body: () async throws -> T) async throws -> T {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while true {
            do {
                return try await body()
            } catch let error as PostgresStoreError where error.code == .unavailable && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
func freePort() async throws -> Int {
    let result = try await runBlocking {
        try runProcess("/usr/bin/env", ["python3", "-c",
            "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1]); s.close()"])
    }
    guard let port = Int(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
        throw TestSupportError("could not find a free port: \(result)")
    }
    return port
}

/// Lets a fixed number of tasks wait until all of them have reached the same point, within a bound: a party that
/// never arrives makes the others throw instead of hanging the test.
actor Rendezvous {
    struct Timeout: Error {}
    let parties: Int
    private(set) var arrived = 0

    init(parties: Int) { self.parties = parties }

    private func arrive() { arrived += 1 }

    nonisolated func arriveAndWait(atMost bound: Duration) async throws {
        await arrive()
        let deadline = ContinuousClock.now + bound
        while await arrived < parties {
            guard ContinuousClock.now < deadline else { throw Timeout() }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}
