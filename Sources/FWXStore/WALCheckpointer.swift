import Foundation
import GRDB
import GRDBSQLite

/// When the SQLite store copies its write-ahead log into the database file (see ``SQLiteNodeStore``).
public struct WALCheckpointPolicy: Sendable, Hashable {
    /// Pages in the log after which a commit asks for a checkpoint, which runs beside the writer.
    /// The default, 8,192 pages (32 MiB), is about six 1,000-record batches: a page changed by several of them
    /// (indexes, the records table) is copied once, not once per batch.
    public var pagesBeforeCheckpoint: Int
    /// Pages in the log after which the writer itself copies what is left, right after its commit, as SQLite does
    /// by default. The log can start again from its beginning only when a transaction begins after everything in it
    /// was copied; when commits follow each other without a pause the checkpoints beside the writer never catch up,
    /// and this keeps the log bounded. The default, 16,384 pages, is 64 MiB.
    public var pagesBeforeWriterCheckpoint: Int

    public init(pagesBeforeCheckpoint: Int = 8192, pagesBeforeWriterCheckpoint: Int = 16384) {
        self.pagesBeforeCheckpoint = pagesBeforeCheckpoint
        self.pagesBeforeWriterCheckpoint = max(pagesBeforeWriterCheckpoint, pagesBeforeCheckpoint)
    }
}

/// Copies committed pages from the write-ahead log into the database file on a thread and connection of its own,
/// so that the store's one writer never does it inside a commit.
///
/// SQLite's default (`wal_autocheckpoint`) makes the connection that commits run the checkpoint: with 1,000-record
/// batches (~1,250 pages each) nearly every commit of the node's writer also copied pages into the database file
/// and synced it. Writes are serialised, so pushes queued behind that copy and the node left part of its two cores
/// idle. Measured with two pushing clients: 1.65 of 2 cores busy with the checkpoint in the writer, about 1.8 with
/// this checkpointer. (With three clients: 1.71-1.73 with the checkpoint in the writer, 1.93 with none at all,
/// which is not an option: the log would grow forever.)
///
/// The writer connection gets a WAL hook instead of SQLite's (`sqlite3_wal_hook` replaces the autocheckpoint):
/// after a commit that leaves at least ``WALCheckpointPolicy/pagesBeforeCheckpoint`` pages in the log, this thread
/// runs a PASSIVE checkpoint, which neither waits for nor blocks readers and the writer. Durability does not
/// depend on it: with `synchronous = FULL` a commit is synced to the log before the writer returns, and a
/// checkpoint only copies pages that are already safe (and syncs the database file before the log can be reused).
/// Past ``WALCheckpointPolicy/pagesBeforeWriterCheckpoint`` pages the writer checkpoints itself after its commit,
/// so the log stays bounded as with SQLite's default (it grows further only while a reader keeps an old snapshot).
final class WALCheckpointer: @unchecked Sendable {
    // @unchecked Sendable: `requested`, `stopping` and `finished` are read and written only while holding
    // `condition`; the checkpoint connection is made, used and closed by the checkpointing thread alone.

    let path: String
    let policy: WALCheckpointPolicy
    private let condition = NSCondition()
    private var requested = false
    private var stopping = false
    private var finished = false

    /// Starts the checkpointing thread for the store at `path`; it opens its connection on the first request.
    init(path: String, policy: WALCheckpointPolicy) {
        self.path = path
        self.policy = policy
        let thread = Thread { [self] in run() }
        thread.name = "fwx-store-checkpoint"
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Installs the WAL hook on the writer connection `db` (reader connections never commit and are left alone).
    ///
    /// The hook's context is a retained reference: SQLite keeps it for the lifetime of the connection, and has no
    /// call to release it when the connection closes, so the checkpointer (a few hundred bytes) outlives its store.
    /// Its thread and connection end with ``stop()``.
    func install(on db: Database) {
        guard !db.configuration.readonly, let connection = db.sqliteConnection else { return }
        let context = Unmanaged.passRetained(self).toOpaque()
        sqlite3_wal_hook(connection, { context, connection, name, pages in
            guard let context else { return SQLITE_OK }
            let checkpointer = Unmanaged<WALCheckpointer>.fromOpaque(context).takeUnretainedValue()
            if Int(pages) >= checkpointer.policy.pagesBeforeWriterCheckpoint {
                // What SQLite's autocheckpoint does after every commit, here only past the bound. A checkpoint
                // already running beside the writer makes this one return SQLITE_BUSY at once; the next commit
                // tries again. Nothing is lost either way: the pages stay in the log.
                _ = sqlite3_wal_checkpoint_v2(connection, name, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            } else if Int(pages) >= checkpointer.policy.pagesBeforeCheckpoint {
                checkpointer.request()
            }
            return SQLITE_OK
        }, context)
    }

    /// Asks the thread for a checkpoint (called by SQLite on the writer, after a commit).
    private func request() {
        condition.lock()
        requested = true
        condition.signal()
        condition.unlock()
    }

    /// Runs a last checkpoint and ends the thread; returns when it has closed its connection.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
    }

    private func run() {
        var connection: DatabaseQueue?
        while true {
            condition.lock()
            while !requested && !stopping { condition.wait() }
            let last = stopping
            let checkpoint = requested || (last && connection != nil)
            requested = false
            condition.unlock()
            if checkpoint {
                do {
                    if connection == nil { connection = try Self.open(path) }
                    try connection?.writeWithoutTransaction { db in _ = try db.checkpoint(.passive) }
                } catch {
                    // Another checkpoint running (SQLITE_BUSY) or a store that is gone: nothing is lost, the pages
                    // stay in the log and the next commit asks again.
                }
            }
            if last { break }
        }
        connection = nil
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    private static func open(_ path: String) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.label = "fwx-store-checkpoint"
        configuration.prepareDatabase { db in
            // The checkpoint syncs the database file after copying into it, as the writer's own would.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        return try DatabaseQueue(path: path, configuration: configuration)
    }
}
