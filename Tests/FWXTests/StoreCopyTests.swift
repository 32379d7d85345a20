// `fwx store copy`: a node's whole store moved SQLite -> PostgreSQL -> SQLite with nothing lost, on a real server.
import FWXModel
import FWXNode
import FWXPostgres
import FWXStore
import Foundation
import Logging
import Testing

@Suite("Store copy")
struct StoreCopyTests {
    /// A SQLite store holding one of everything a node keeps: batches with and without a kept receipt, revisions
    /// and a tombstone, search keys and facts, delivered, dead and queued pushes, a partner's pull cursor, audit.
    static func populate(_ store: any NodeStore) async throws {
        let clock = Clock()
        try await Contract.keep(Contract.batch("copy-1", sequence: 1, recipients: .countries(["DE", "BE"]),
                                               records: [Contract.record("NL-C-1", keys: ["plate:AB12"]),
                                                         Contract.record("NL-C-2", code: .h2)],
                                               pushTo: ["DE", "BE"], receivedAt: clock.at(1)), in: store)
        try await Contract.keep(Contract.batch("copy-2", sequence: 2, recipients: .allPartners,
                                               records: [Contract.record("NL-C-1", revision: 2, status: .withdrawn),
                                                         Contract.record("NL-C-3", keys: ["container:MSKU1"])],
                                               pushTo: ["DE"], receivedAt: clock.at(2)), in: store)
        // Accepted, receipt not kept yet (the process died between the commit and the signature).
        let pending = Contract.batch("copy-3", sequence: 3, records: [Contract.record("NL-C-4")],
                                     receivedAt: clock.at(3))
        _ = try await store.ingest(pending, audit: Contract.audit("copy-3"))
        let claims = try await store.claimPushes(now: clock.at(10), limit: 10, seconds: 60)
        #expect(claims.count == 3)
        if let delivered = claims.first(where: { $0.entry.peer == "DE" }) {
            _ = try await store.recordPushDelivered(delivered, receipt: Contract.receipt(delivered.entry.batchId),
                                                    at: clock.at(11),
                                                    audit: Contract.audit(delivered.entry.batchId, caller: "DE",
                                                                          action: "batch-out"))
        }
        if let dead = claims.first(where: { $0.entry.peer == "BE" }) {
            _ = try await store.recordPushFailure(dead, error: "HTTP 403: refused", retryAt: nil, at: clock.at(12))
        }
        let lease = try #require(try await store.claimPull(peer: "DE", token: UUID(), now: clock.at(20), seconds: 60))
        let pulled = try await store.applyPulled([Contract.record("DE-C-1", keys: ["plate:AB12"])], lease: lease,
                                                 cursor: "41", at: clock.at(21),
                                                 audit: Contract.audit("DE feed", caller: "DE", action: "pull"))
        try await store.releasePull(pulled.lease, error: nil, at: clock.at(22))
        try await store.appendAudit(Contract.audit("feed", caller: "BE", action: "feed", at: clock.at(30)))
    }

    static func sqliteStore(_ folder: String, _ name: String) throws -> SQLiteNodeStore {
        try SQLiteNodeStore(path: folder + "/" + name)
    }

    static func postgresStore(_ database: PostgresTestDatabase) async throws -> PostgresNodeStore {
        try await PostgresNodeStore.open(
            PostgresSettings(url: database.url, passwordFile: database.cluster.passwordFile, poolSize: 2),
            migrate: true, logger: Logger(label: "fwx.store-copy-tests"))
    }

    @Test("SQLite -> PostgreSQL -> SQLite keeps every row and the digest; positions, ids and cursors carry on")
    func roundTrip() async throws {
        try await withTemporaryDirectoryAsync { folder in
            let source = try Self.sqliteStore(folder, "source.sqlite")
            try await Self.populate(source)
            let before = try await StoreCopy.summary(of: source)
            #expect(before.rows["batches"] == 3 && before.rows["revisions"] == 6 && before.rows["outbox"] == 3)
            #expect(before.rows["pulls"] == 1 && (before.rows["audit"] ?? 0) >= 5 && before.rows["record_keys"] == 2)

            let database = try await PostgresTestServer.freshDatabase("storecopy")
            let postgres = try await Self.postgresStore(database)
            // Small pages, so keys are continued from across pages (text keys compared bytewise on both).
            let copied = try await StoreCopy.copy(from: source, to: postgres, pageSize: 2)
            #expect(copied == before)
            #expect(try await StoreCopy.summary(of: postgres, pageSize: 3) == before)

            // A second copy into a store that holds data is refused, and writes nothing.
            await #expect(throws: StoreError(.conflict, "")) {
                _ = try await StoreCopy.copy(from: source, to: postgres)
            }
            #expect(try await StoreCopy.summary(of: postgres) == before)

            // The copy works as a node's store: the same feed, the same receipt, the same cursor, and new
            // positions and ids after the copied ones.
            let everyone = VisibilityPrefilter(caller: "DE", handlingCodes: Set(HandlingCode.allCases))
            let sourceFeed = try await Contract.allCandidates(source, origin: "NL", prefilter: everyone)
            let copyFeed = try await Contract.allCandidates(postgres, origin: "NL", prefilter: everyone)
            #expect(copyFeed.candidates == sourceFeed.candidates && copyFeed.lastPosition == sourceFeed.lastPosition)
            #expect(try await postgres.pullCursor(peer: "DE") == "41")
            let replay = try await postgres.ingest(
                Contract.batch("copy-1", sequence: 1, recipients: .countries(["DE", "BE"]),
                               records: [Contract.record("NL-C-1", keys: ["plate:AB12"]),
                                         Contract.record("NL-C-2", code: .h2)], pushTo: ["DE", "BE"]),
                audit: Contract.audit("copy-1"))
            guard case .duplicate(let receipt, _, _) = replay else {
                Issue.record("a replay of a copied batch was not a duplicate: \(replay)")
                return
            }
            #expect(receipt == Contract.receipt("copy-1"))
            try await Contract.keep(Contract.batch("copy-4", sequence: 4, records: [Contract.record("NL-C-5")],
                                                   pushTo: ["DE"]), in: postgres)
            let after = try await postgres.feedCandidates(origin: "NL", prefilter: everyone,
                                                          after: copyFeed.lastPosition, limit: 10)
            #expect(after.candidates.map(\.entry.recordId) == ["NL-C-5"])
            let outbox = try await postgres.outbox(peer: "DE")
            let sourceOutbox = try await source.outbox(peer: nil)
            #expect(outbox.count == 3)
            #expect(outbox.map(\.id).max()! > sourceOutbox.map(\.id).max()!)

            // And back into a new SQLite file: the same summary as the first store plus what was added since.
            let back = try Self.sqliteStore(folder, "back.sqlite")
            let returned = try await StoreCopy.copy(from: postgres, to: back, pageSize: 4)
            #expect(returned.rows["batches"] == 4 && returned.rows["revisions"] == 7)
            #expect(try await StoreCopy.summary(of: postgres) == returned)
            #expect(try await back.pullCursor(peer: "DE") == "41")
            let backFeed = try await Contract.allCandidates(back, origin: "NL", prefilter: everyone)
            #expect(Array(backFeed.candidates.prefix(sourceFeed.candidates.count)) == sourceFeed.candidates)
            await postgres.close()
            await back.close()
            await source.close()
        }
    }

    @Test("fwx store copy and fwx store summary through the binary: verified copy, equal digests, exit 2 when not empty")
    func command() async throws {
        try await withTemporaryDirectoryAsync { folder in
            let source = try Self.sqliteStore(folder, "nl.sqlite")
            try await Self.populate(source)
            await source.close()
            let database = try await PostgresTestServer.freshDatabase("storecopycli")
            for file in ["tls.pem", "tls.key.pem", "signing.pem", "signing.key.pem", "trust/ca.pem", "de-ca.pem"] {
                let url = URL(fileURLWithPath: folder + "/pki/" + file)
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(),
                                                        withIntermediateDirectories: true)
                try Data("-----BEGIN PLACEHOLDER-----\n-----END PLACEHOLDER-----\n".utf8).write(to: url)
                if file.hasSuffix(".key.pem") { chmod(url.path, 0o600) }
            }
            func configuration(_ name: String, store: String) throws -> String {
                let path = folder + "/" + name
                try Data("""
                    node: { country: NL, agency: NL-POLITIE, baseURL: "https://127.0.0.1:8443" }
                    listen: { host: 127.0.0.1, port: 8443 }
                    tls: { certificate: pki/tls.pem, key: pki/tls.key.pem }
                    signing: { certificate: pki/signing.pem, key: pki/signing.key.pem }
                    trust: { directory: pki/trust }
                    store: \(store)
                    peers:
                      - { country: DE, baseURL: "https://127.0.0.1:8444", ca: pki/de-ca.pem, handlingCodes: [H0, H1] }

                    """.utf8).write(to: URL(fileURLWithPath: path))
                return path
            }
            let sqlite = try configuration("sqlite.yaml", store: "{ sqlite: nl.sqlite }")
            let postgres = try configuration(
                "postgres.yaml",
                store: "{ postgres: { url: \"\(database.url)\", passwordFile: \(database.cluster.passwordFile), poolSize: 2 } }")
            let back = try configuration("back.yaml", store: "{ sqlite: back/nl.sqlite }")

            let copy = try await runBlocking { try runFWX(["store", "copy", "--from", sqlite, "--to", postgres]) }
            #expect(copy.status == 0, "\(copy)")
            #expect(copy.stdout.contains("verified: batches 3, revisions 6"), "\(copy)")
            #expect(!copy.stdout.contains(database.cluster.passwordFile) && !copy.stderr.contains("password:"))

            let summaries = try await runBlocking {
                try [sqlite, postgres].map { try runFWX(["store", "summary", "--config", $0]) }
            }
            #expect(summaries.allSatisfy { $0.status == 0 }, "\(summaries)")
            let digests = summaries.map { $0.stdout.components(separatedBy: "sha256 ").last ?? "" }
            #expect(digests[0].count >= 64 && digests[0] == digests[1], "\(summaries)")

            let again = try await runBlocking { try runFWX(["store", "copy", "--from", sqlite, "--to", postgres]) }
            #expect(again.status == 2 && again.stderr.contains("not empty"), "\(again)")
            let same = try await runBlocking { try runFWX(["store", "copy", "--from", sqlite, "--to", sqlite]) }
            #expect(same.status != 0 && same.stderr.contains("same store"), "\(same)")

            let home = try await runBlocking { try runFWX(["store", "copy", "--from", postgres, "--to", back]) }
            #expect(home.status == 0, "\(home)")
            let backSummary = try await runBlocking { try runFWX(["store", "summary", "--config", back]) }
            #expect(backSummary.stdout.components(separatedBy: "sha256 ").last == digests[0], "\(backSummary)")
        }
    }
}
