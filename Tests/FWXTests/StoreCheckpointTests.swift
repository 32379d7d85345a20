import FWXModel
import FWXStore
import Foundation
import Testing

/// The SQLite store copies its write-ahead log into the database file on a thread of its own
/// (`WALCheckpointPolicy`): pages reach the database file, the log stays bounded, and nothing committed is lost.
@Suite("SQLite store checkpoints")
struct StoreCheckpointTests {
    /// Bytes of the main database file and of its log.
    static func sizes(_ path: String) -> (database: Int, log: Int) {
        func size(_ file: String) -> Int {
            ((try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? NSNumber)?.intValue ?? 0
        }
        return (size(path), size(path + "-wal"))
    }

    /// `count` batches of 200 records of ~2 KB of XML each (~1.4 MB of pages per batch with the
    /// signed batch and the indexes).
    static func ingest(_ store: SQLiteNodeStore, batches count: Int, from first: Int = 0) async throws {
        let filler = String(repeating: "x", count: 2000)
        for batch in first..<(first + count) {
            let records = (0..<200).map { index in
                IncomingRecord(recordId: "NL-CKPT-\(batch)-\(index)", revision: 1, kind: "seizure", status: .active,
                               handlingCode: .h1, xml: "<Seizure><RecordId>NL-CKPT-\(batch)-\(index)</RecordId>"
                                   + "<Note>\(filler)</Note></Seizure>",
                               searchKeys: ["container:CKPT\(batch)U\(index)"])
            }
            let submission = BatchSubmission(
                batchId: "ckpt-\(batch)", sender: NodeIdentity(country: "NL", agencyId: "NL-CKPT"),
                sequenceNumber: UInt64(batch + 1), recipients: .countries(["DE"]), digest: "digest-\(batch)",
                signedBatch: Array(repeating: UInt8(ascii: "s"), count: 400_000), records: records,
                caller: CallerIdentity(country: "NL", fingerprint: "00"), receivedAt: Date(), pushTo: [])
            let result = try await store.ingest(
                submission,
                audit: AuditEntry(callerCountry: "NL", callerFingerprint: "00", action: "batch-in",
                                  target: submission.batchId, result: "ok"))
            guard case .accepted = result else {
                Issue.record("batch \(batch) was not accepted: \(result)")
                return
            }
        }
    }

    /// Waits (at most 10 s) until `condition` holds.
    static func eventually(_ condition: () -> Bool) async throws -> Bool {
        for _ in 0..<200 {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }

    static func temporaryStorePath() throws -> (folder: URL, path: String) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fwx-ckpt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return (folder, folder.appendingPathComponent("node.sqlite").path)
    }

    @Test("committed pages reach the database file, and the log stays bounded while commits follow without a pause")
    func pagesReachTheDatabaseFile() async throws {
        let (folder, path) = try Self.temporaryStorePath()
        defer { try? FileManager.default.removeItem(at: folder) }
        do {
            let store = try SQLiteNodeStore(
                path: path, checkpoints: WALCheckpointPolicy(pagesBeforeCheckpoint: 300, pagesBeforeWriterCheckpoint: 1500))
            // ~28 MB committed back to back in 20 transactions of ~350 pages each.
            try await Self.ingest(store, batches: 20)
            let copied = try await Self.eventually { Self.sizes(path).database > 20_000_000 }
            let sizes = Self.sizes(path)
            #expect(copied, "the database file holds \(sizes.database) bytes after ~16 MB were committed")
            // Commits back to back leave the checkpoints beside the writer behind (the log can start again only
            // when a transaction begins after everything in it was copied); past 1,500 pages (6 MB) the writer
            // copies what is left itself, so the log file stays far smaller than the ~28 MB written through it.
            #expect(sizes.log < 10_000_000, "the log file grew to \(sizes.log) bytes")
            let counts = try await store.counts(origin: "NL")
            #expect(counts.batches == 20 && counts.records == 4000 && counts.revisions == 4000, "\(counts)")
        }
        // Reopened (the checkpointer of the first store has stopped): everything committed is there.
        let reopened = try SQLiteNodeStore(path: path)
        let counts = try await reopened.counts(origin: "NL")
        #expect(counts.batches == 20 && counts.records == 4000 && counts.revisions == 4000, "\(counts)")
        #expect(try await reopened.record(id: "NL-CKPT-19-199")?.entry.revision == 1)
    }

    @Test("below the policy's threshold no checkpoint runs: the pages stay in the log until it is passed")
    func thresholdIsHonoured() async throws {
        let (folder, path) = try Self.temporaryStorePath()
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try SQLiteNodeStore(
            path: path, checkpoints: WALCheckpointPolicy(pagesBeforeCheckpoint: 4000, pagesBeforeWriterCheckpoint: 40_000))
        try await Self.ingest(store, batches: 8)
        try await Task.sleep(for: .milliseconds(500))
        let before = Self.sizes(path)
        // The ~11 MB are in the log (~2,800 pages of 4 KiB, under the threshold), not in the database file, which
        // holds only what the schema migration wrote.
        #expect(before.log > 6_000_000 && before.database < 1_000_000, "database \(before.database), log \(before.log)")
        // 10 more batches take the log past 4,000 pages: the checkpoint runs.
        try await Self.ingest(store, batches: 10, from: 8)
        let copied = try await Self.eventually { Self.sizes(path).database > 12_000_000 }
        #expect(copied, "the database file holds \(Self.sizes(path).database) bytes after the threshold was passed")
    }
}
