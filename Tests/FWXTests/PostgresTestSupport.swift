import Foundation
import FWXPostgres
import Logging
import Synchronization

/// The PostgreSQL server the tests use: the one scripts/test started for the whole run (FWX_TEST_POSTGRES_DIR and
/// FWX_TEST_POSTGRES_URL), or else one this test process starts with scripts/pg-cluster on first use and stops when
/// it exits, so `swift test --filter Postgres` works alone. Missing server binaries fail the test that needs the
/// server, with the message of scripts/pg-cluster (what is missing and what to run); no test is skipped.
enum PostgresTestServer {
    struct Cluster: Sendable {
        let directory: String
        let baseURL: String
        let ownedByThisProcess: Bool
        var port: Int { Int(baseURL.split(separator: ":").last!.dropLast()) ?? 0 }
        var passwordFile: String { directory + "/password" }
    }

    static let script = Paths.repo("scripts/pg-cluster")

    /// Started once per process, in a task: a blocking start inside a lazy static would hold one of the two
    /// cooperative threads in swift_once while another waits in the child process's reaping (a deadlock seen here).
    private static let started = Task<Cluster, any Error> {
        let environment = ProcessInfo.processInfo.environment
        if let directory = environment["FWX_TEST_POSTGRES_DIR"], let url = environment["FWX_TEST_POSTGRES_URL"] {
            return Cluster(directory: directory, baseURL: url, ownedByThisProcess: false)
        }
        let directory = "/tmp/fwx-pg-\(getpid())"
        let result = try await runBlocking { try runProcess(script, ["start", directory], timeout: 90) }
        guard result.status == 0, !result.timedOut else {
            throw TestSupportError("could not start a PostgreSQL test cluster with scripts/pg-cluster "
                + "(tests need a real server; run scripts/setup to install Debian's postgresql package):\n"
                + result.description)
        }
        ownedDirectory.withLock { $0 = directory }
        atexit {
            if let directory = PostgresTestServer.ownedDirectory.withLock({ $0 }) {
                _ = try? runProcess(PostgresTestServer.script, ["stop", directory, "--immediate"], timeout: 40)
                try? FileManager.default.removeItem(atPath: directory)
            }
        }
        return Cluster(directory: directory, baseURL: result.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                       ownedByThisProcess: true)
    }

    private static let ownedDirectory = Mutex<String?>(nil)

    /// The running cluster, or the error that says why there is none (thrown, so the test fails).
    static func cluster() async throws -> Cluster { try await started.value }

    /// A new, empty database owned by the role fwx, with a unique name, so tests run in parallel on one server.
    static func freshDatabase(_ prefix: String) async throws -> PostgresTestDatabase {
        try await freshDatabase(prefix, on: try await cluster())
    }

    /// A cluster of the calling test's own, for tests that stop or restart the server (the shared one serves the
    /// other tests meanwhile). Stopped and removed when `body` ends.
    static func withPrivateCluster<T>(_ body: (Cluster) async throws -> T) async throws -> T {
        let directory = "/tmp/fwx-pgp-" + UUID().uuidString.prefix(8).lowercased()
        let result = try await runBlocking { try runProcess(script, ["start", directory], timeout: 90) }
        guard result.status == 0, !result.timedOut else {
            throw TestSupportError("could not start a private PostgreSQL cluster:\n\(result.description)")
        }
        let cluster = Cluster(directory: directory, baseURL: result.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                              ownedByThisProcess: true)
        defer {
            _ = try? runProcess(script, ["stop", directory, "--immediate"], timeout: 40)
            try? FileManager.default.removeItem(atPath: directory)
        }
        return try await body(cluster)
    }

    /// A new database on `cluster` (see ``freshDatabase(_:)``).
    static func freshDatabase(_ prefix: String, on cluster: Cluster) async throws -> PostgresTestDatabase {
        let name = "t_\(prefix.lowercased().filter { $0.isLetter || $0.isNumber })_"
            + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        try await run(["createdb", cluster.directory, name])
        return PostgresTestDatabase(cluster: cluster, name: name)
    }

    /// `scripts/pg-cluster restart DIR --immediate`, as a crash of the server would be followed by its restart.
    static func run(_ arguments: [String]) async throws {
        let result = try await runBlocking { try runProcess(script, arguments, timeout: 60) }
        guard result.status == 0, !result.timedOut else {
            throw TestSupportError("scripts/pg-cluster \(arguments.joined(separator: " ")) failed:\n\(result.description)")
        }
    }
}

/// One test's database on the shared test server.
struct PostgresTestDatabase: Sendable {
    let cluster: PostgresTestServer.Cluster
    let name: String

    var url: String { cluster.baseURL + name + "?sslmode=disable" }

    func configuration(poolSize: Int = 4, acquireTimeout: Duration = .seconds(5)) throws
        -> PostgresDatabaseConfiguration
    {
        var configuration = try PostgresDatabaseConfiguration(url: url, passwordFile: cluster.passwordFile,
                                                              poolSize: poolSize)
        configuration.acquireTimeout = acquireTimeout
        return configuration
    }
}

/// Runs blocking work (a child process) on a thread of its own, never on one of the few cooperative threads: the
/// child's reaping needs a dispatch worker, and blocking them all deadlocks.
func runBlocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try work() }) }
        thread.start()
    }
}
