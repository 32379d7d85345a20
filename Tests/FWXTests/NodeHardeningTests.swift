// Issue 13, through live nodes on 127.0.0.1: admission control (413 before the body, 503 over the memory budget, a
// bounded pool for blocking work), connection limits (raw TCP and TLS clients that send nothing or a byte a
// second), the TLS profile (openssl s_client, suite by suite, RSA and EC node keys), a complete audit trail whose
// refusals are counted rather than written one by one, and the server's small defects (JSON 404, 415, feed limit).
import FWXClient
import FWXModel
@testable import FWXNode
import FWXStore
import FWXXML
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Node hardening", .serialized)
struct NodeHardeningTests {
    let pki: NodeTestPKI

    init() async throws {
        pki = try await NodeTestPKI.shared()
    }

    /// Short deadlines, so that every connection test is over in seconds.
    static let quick = ConnectionSettings(handshakeTimeoutSeconds: 1.5, headerTimeoutSeconds: 2, bodyTimeoutSeconds: 2,
                                          idleTimeoutSeconds: 1.5, maxPerClientAddress: 64)

    func start(_ network: NodeTestNetwork, limits: NodeLimits = NodeLimits(),
               connections: ConnectionSettings = ConnectionSettings(), window: Double = 0.2) async throws
        -> NodeTestNode
    {
        var configuration = network.configuration("NL", peers: [NodeTestPeer(country: "DE")], limits: limits)
        configuration.connections = connections
        configuration.audit = AuditSettings(refusalWindowSeconds: window)
        return try await network.start(configuration)
    }

    static func idle(_ node: NodeTestNode) -> Bool {
        let load = node.node.admission.inFlight
        return load.bytes == 0 && load.batches == 0
    }

    /// The refusals the entries count (their details start with `N refusal`).
    static func counted(_ entries: [AuditEntry]) -> Int {
        entries.compactMap { $0.detail?.split(separator: " ").first.flatMap { Int($0) } }.reduce(0, +)
    }

    func metrics(_ network: NodeTestNetwork) async throws -> String {
        try await network.get("/metrics", as: pki.liaison("NL"), to: "NL").nodeTestText
    }

    // MARK: 1. Admission control

    @Test("A declared Content-Length over maxBodyBytes is answered 413 before the body is read, and the connection closes")
    func declaredTooLarge() async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            let nl = try await start(network, limits: NodeLimits(maxBodyBytes: 200_000))
            let session = try TLSSession(port: network.ports["NL"]!, caller: pki.liaison("NL"), ca: pki.ca("NL"))
            defer { session.terminate() }
            session.send("POST /v1/batches HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/xml\r\n"
                + "Content-Length: 5000000000\r\n\r\n")
            #expect(await session.waitForOutput(containing: "FWX-N004", seconds: 10), "output: \(session.output)")
            #expect(session.output.hasPrefix("HTTP/1.1 413"), "output: \(session.output)")
            #expect(session.output.lowercased().contains("connection: close"))
            #expect(await session.waitForExit(seconds: 10), "the node kept the connection open")
            let refusals = try await nl.audit("refusal", caller: "NL")
            #expect(refusals.map(\.result) == ["413 \(RuleID.requestTooLarge)"])
            #expect(Self.idle(nl))
        }
    }

    @Test("A chunked body is cut at maxBodyBytes: 413 while the client is still sending")
    func chunkedTooLarge() async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            _ = try await start(network, limits: NodeLimits(maxBodyBytes: 100_000))
            let session = try TLSSession(port: network.ports["NL"]!, caller: pki.liaison("NL"), ca: pki.ca("NL"))
            defer { session.terminate() }
            session.send("POST /v1/batches HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/xml\r\n"
                + "Transfer-Encoding: chunked\r\n\r\n")
            let chunk = String(repeating: "x", count: 60_000)
            for _ in 0..<2 { session.send(String(chunk.utf8.count, radix: 16) + "\r\n" + chunk + "\r\n") }
            // No last chunk: the node must answer without waiting for the end of the body.
            #expect(await session.waitForOutput(containing: "FWX-N004", seconds: 10), "output: \(session.output)")
            #expect(session.output.hasPrefix("HTTP/1.1 413"))
            #expect(await session.waitForExit(seconds: 10), "the node kept the connection open")
        }
    }

    @Test("Over the memory budget a batch is answered 503 with Retry-After before its body is read; it is taken once there is room")
    func overMemoryBudget() async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            let nl = try await start(network, limits: NodeLimits(maxBodyBytes: 200_000, maxConcurrentBatches: 4,
                                                                 memoryBudgetBytes: 1 << 18))
            // A client that declares a body it does not send holds the whole budget (100 kB x 3, more than all of
            // it: taken alone, counted as the whole budget).
            let holder = try TLSSession(port: network.ports["NL"]!, caller: pki.liaison("NL"), ca: pki.ca("NL"))
            holder.send("POST /v1/batches HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/xml\r\n"
                + "Content-Length: 100000\r\n\r\n")
            #expect(try await nodeTestEventually(seconds: 10) { nl.node.admission.inFlight.batches == 1 })
            var source = try NodeTestRecords(sender: "NL", seed: 1301)
            let signed = try pki.sign(source.batch(source.next(2), sequence: 1))
            let busy = try await network.post(signed, as: pki.liaison("NL"), to: "NL")
            #expect(busy.status == 503)
            #expect(busy.nodeTestError?.rule == RuleID.nodeBusy)
            #expect(busy.header("retry-after") == "2")
            #expect(try await nl.store.counts(origin: nil).batches == 0)
            // The holder goes away: its place is given back and the batch is taken.
            holder.terminate()
            #expect(try await nodeTestEventually(seconds: 10) { Self.idle(nl) })
            let accepted = try await network.post(signed, as: pki.liaison("NL"), to: "NL")
            #expect(accepted.status == 200, "\(accepted.nodeTestText)")
            // The 503 is in the audit trail, counted.
            #expect(try await nodeTestEventually(seconds: 10) {
                try await nl.audit("refusal").contains {
                    $0.result == "503 \(RuleID.nodeBusy)" && $0.detail == "1 refusal: memory-budget"
                }
            })
            let text = try await metrics(network)
            #expect(nodeTestMetric(text, "fwx_admission_refusals_total", label: "reason=\"memory-budget\"") == 1)
        }
    }

    @Test("A body over spoolBodiesOverBytes is checked from a nameless spool file: stored byte for byte when accepted, refused with its findings, and the folder stays empty")
    func spooledBodies() async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            let spool = network.folder + "/spool"
            try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
            let nl = try await start(network, limits: NodeLimits(maxRecordsPerBatch: 20, spoolBodiesOverBytes: 4096,
                                                                 spoolDirectory: spool))
            var source = try NodeTestRecords(sender: "NL", seed: 1302)
            // Declared length over the threshold: spooled from the first byte.
            let batch = source.batch(source.next(5), sequence: 1)
            let signed = try pki.sign(batch)
            #expect(signed.count > 4096)
            let accepted = try await network.post(signed, as: pki.liaison("NL"), to: "NL")
            #expect(accepted.status == 200, "\(accepted.nodeTestText)")
            #expect(try await nl.store.signedBatch(id: batch.header.batchId)?.bytes == signed)
            // A spooled batch whose content was changed after signing: refused with the signature's finding.
            let changed = try pki.sign(source.batch(source.next(3), sequence: 2))
            var forged = changed
            if let digit = forged.indices.first(where: { $0 > forged.count / 3 && forged[$0] == UInt8(ascii: "7") }) {
                forged[digit] = UInt8(ascii: "8")
            }
            let refused = try await network.post(forged, as: pki.liaison("NL"), to: "NL")
            #expect(refused.status == 422, "\(refused.nodeTestText)")
            #expect(refused.nodeTestText.contains("FWX-G"), "\(refused.nodeTestText)")
            // More records than the node takes: 413, nothing kept.
            let tooMany = try pki.sign(source.batch(source.next(21), sequence: 3))
            let tooLarge = try await network.post(tooMany, as: pki.liaison("NL"), to: "NL")
            #expect(tooLarge.status == 413, "\(tooLarge.nodeTestText)")
            // Chunked, no declared length: spooled once it grows past the threshold, then accepted.
            let chunkedBatch = source.batch(source.next(4), sequence: 4)
            let chunkedBody = try pki.sign(chunkedBatch)
            let session = try TLSSession(port: network.ports["NL"]!, caller: pki.liaison("NL"), ca: pki.ca("NL"))
            defer { session.terminate() }
            session.send("POST /v1/batches HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/xml\r\n"
                + "Transfer-Encoding: chunked\r\n\r\n")
            let text = String(decoding: chunkedBody, as: UTF8.self)
            var rest = Substring(text)
            while !rest.isEmpty {
                let piece = rest.prefix(3000)
                rest = rest.dropFirst(piece.count)
                session.send(String(piece.utf8.count, radix: 16) + "\r\n" + piece + "\r\n")
            }
            session.send("0\r\n\r\n")
            #expect(await session.waitForOutput(containing: "</Receipt>", seconds: 20), "output: \(session.output)")
            #expect(session.output.hasPrefix("HTTP/1.1 200"), "output: \(session.output.prefix(300))")
            #expect(try await nl.store.signedBatch(id: chunkedBatch.header.batchId)?.bytes == chunkedBody)
            #expect(try await nl.store.counts(origin: "NL").batches == 2)
            // Every one of the four bodies went through the spool; none is left in the folder, since spool files
            // have no name from their first moment.
            #expect(nodeTestMetric(try await metrics(network), "fwx_spooled_bodies_total") == 4)
            #expect(try FileManager.default.contentsOfDirectory(atPath: spool).isEmpty)
            #expect(Self.idle(nl))
        }
    }

    @Test("A spool file has no name, reads back what was written, from the start, as often as asked")
    func spoolFile() throws {
        try withTemporaryDirectory { folder in
            let spool = try SpoolFile(directory: folder.path)
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
            let bytes = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            try bytes[..<1000].withUnsafeBytes { try spool.append($0) }
            try bytes[1000...].withUnsafeBytes { try spool.append($0) }
            #expect(spool.count == bytes.count)
            #expect(try spool.readAll() == bytes)
            for _ in 0..<2 {
                let source = spool.source(name: "spool")
                var read: [UInt8] = []
                var buffer = [UInt8](repeating: 0, count: 65_536)
                while true {
                    let n = buffer.withUnsafeMutableBytes { source.read(into: $0.baseAddress!, count: $0.count) }
                    if n <= 0 { break }
                    read += buffer[..<n]
                }
                #expect(read == bytes)
            }
            #expect(throws: FWXError.self) { try SpoolFile(directory: folder.path + "/missing") }
        }
    }

    @Test("Admission: no more batches at once than maxConcurrentBatches, estimates within the budget")
    func admissionCounts() async {
        let admission = AdmissionControl(budgetBytes: 1000, maxBatches: 2)
        let first = admission.admit(bodyBytes: 10)
        let second = admission.admit(bodyBytes: 10)
        #expect(admission.admit(bodyBytes: 10) == .failure(.tooManyBatches))
        guard case .success(let a) = first, case .success(let b) = second else {
            Issue.record("the first two batches were not admitted")
            return
        }
        await admission.release(a)
        // 10 body bytes' estimate in flight; a body whose estimate is just over what is left does not fit.
        let cost = AdmissionControl.costPerBodyByte
        #expect(admission.admit(bodyBytes: (1000 - 10 * cost) / cost + 1) == .failure(.overMemoryBudget))
        await admission.release(b)
        // Larger than the whole budget: admitted alone, counted as the whole budget.
        guard case .success(let alone) = admission.admit(bodyBytes: 1_000_000) else {
            Issue.record("a batch larger than the budget was not admitted with nothing in flight")
            return
        }
        #expect(alone.bytes == 1000)
        #expect(admission.admit(bodyBytes: 1) == .failure(.overMemoryBudget))
        await admission.release(alone)
        #expect(admission.inFlight.bytes == 0 && admission.inFlight.batches == 0)
    }

    @Test("Blocking work runs on a bounded pool: queued work waits, it does not start threads")
    func boundedPool() async throws {
        let pool = BlockingPool(threads: 2, name: "fwx-test-pool")
        final class Watch: Sendable {
            let state = Mutex<(running: Int, most: Int, threads: Set<UInt>)>((0, 0, []))
        }
        let watch = Watch()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await pool.run {
                        watch.state.withLock { state in
                            state.running += 1
                            state.most = max(state.most, state.running)
                            state.threads.insert(UInt(pthread_self()))
                        }
                        usleep(100_000)
                        watch.state.withLock { $0.running -= 1 }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(watch.state.withLock { $0.most } == 2)
        #expect(watch.state.withLock { $0.threads.count } == 2)
        #expect(pool.queued == 0)
    }

    @Test("A job's captures are freed when it ends, not kept in the pool's queue (a batch's body once stayed there)")
    func poolReleasesFinishedJobs() async throws {
        let pool = BlockingPool(threads: 2, name: "fwx-test-pool")
        final class Payload: Sendable {
            let bytes = [UInt8](repeating: 7, count: 1 << 16)
        }
        final class Watcher: Sendable {
            let payloads = Mutex<[Weak]>([])
            struct Weak: @unchecked Sendable { // Read and written only under the mutex.
                weak var payload: Payload?
            }
            func watch(_ payload: Payload) { payloads.withLock { $0.append(Weak(payload: payload)) } }
            var alive: Int { payloads.withLock { $0.filter { $0.payload != nil }.count } }
        }
        let watcher = Watcher()
        for round in 0..<5 {
            let payload = Payload()
            watcher.watch(payload)
            let sum = try await pool.run { payload.bytes.reduce(0) { $0 + Int($1) } }
            #expect(sum == 7 << 16, "round \(round)")
        }
        // The last job's continuation may resume before its thread lets go of the closure.
        #expect(try await nodeTestEventually(seconds: 5) { watcher.alive == 0 }, "\(watcher.alive) payloads still held")
        #expect(pool.queued == 0)
    }

    // MARK: 2. Connection limits

    @Test("A connection that never starts TLS, or sends its hello a byte a second, is closed at the handshake timeout and audited")
    func handshakeTimeout() async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            let nl = try await start(network, connections: Self.quick)
            let port = network.ports["NL"]!
            let silent = try RawTCPConnection(port: port)
            let trickle = try RawTCPConnection(port: port)
            let bytes: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc]
            let closed = await withTaskGroup(of: Bool.self) { group in
                group.addTask { await silent.waitClosed(seconds: 10) }
                group.addTask {
                    for byte in bytes {
                        guard trickle.send([byte]) else { return true }
                        try? await Task.sleep(for: .seconds(1))
                    }
                    return await trickle.waitClosed(seconds: 10)
                }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(closed == [true, true], "a connection stayed open")
            // Counted, not written one by one (the two may fall into one window or two).
            #expect(try await nodeTestEventually(seconds: 10) {
                Self.counted(try await nl.audit("refusal").filter {
                    $0.target == "tls-handshake" && $0.result == "tls handshake-timeout"
                        && $0.detail?.hasSuffix("from 127.0.0.1") == true
                }) == 2
            })
        }
    }

    @Test("After the handshake: silence is closed at the idle timeout, a header or a body sent a byte a second at theirs")
    func slowClients() async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            var connections = Self.quick
            connections.handshakeTimeoutSeconds = 30
            let nl = try await start(network, connections: connections)
            let port = network.ports["NL"]!
            let idle = try TLSSession(port: port, caller: pki.liaison("NL"), ca: pki.ca("NL"))
            let slowHeader = try TLSSession(port: port, caller: pki.liaison("NL"), ca: pki.ca("NL"))
            let slowBody = try TLSSession(port: port, caller: pki.liaison("NL"), ca: pki.ca("NL"))
            defer { [idle, slowHeader, slowBody].forEach { $0.terminate() } }
            slowBody.send("POST /v1/batches HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/xml\r\n"
                + "Content-Length: 100\r\n\r\n")
            let closed = await withTaskGroup(of: Bool.self) { group in
                group.addTask { await idle.waitForExit(seconds: 10) }
                for session in [slowHeader, slowBody] {
                    group.addTask {
                        for byte in "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" {
                            if session.exited { return true }
                            session.send(String(byte))
                            try? await Task.sleep(for: .seconds(1))
                        }
                        return await session.waitForExit(seconds: 10)
                    }
                }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(closed == [true, true, true], "a connection stayed open")
            #expect(slowHeader.output.isEmpty, "the slow header was answered: \(slowHeader.output)")
            #expect(try await nodeTestEventually(seconds: 10) { Self.idle(nl) })
            let text = try await metrics(network)
            for reason in ["idle-timeout", "header-timeout", "body-timeout"] {
                #expect((nodeTestMetric(text, "fwx_connections_closed_total", label: "reason=\"\(reason)\"") ?? 0) >= 1,
                        "no \(reason) counted")
            }
            // A kept-alive connection is closed after its answer, once idle.
            let kept = try TLSSession(port: port, caller: pki.liaison("NL"), ca: pki.ca("NL"))
            defer { kept.terminate() }
            kept.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            #expect(await kept.waitForOutput(containing: "\"status\":\"ok\"", seconds: 10))
            #expect(await kept.waitForExit(seconds: 10), "the kept-alive connection stayed open")
        }
    }

    @Test("Connections over maxPerClientAddress are closed at once and counted in the audit trail")
    func connectionsPerAddress() async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            let nl = try await start(network, connections: ConnectionSettings(handshakeTimeoutSeconds: 20,
                                                                               maxPerClientAddress: 2))
            let port = network.ports["NL"]!
            let held = try [RawTCPConnection(port: port), RawTCPConnection(port: port)]
            // Let the node accept both before the third arrives.
            try await Task.sleep(for: .milliseconds(300))
            let third = try RawTCPConnection(port: port)
            #expect(await third.waitClosed(seconds: 5), "the third connection stayed open")
            #expect(!(await held[0].waitClosed(seconds: 0.2)), "a connection within the limit was closed")
            #expect(try await nodeTestEventually(seconds: 10) {
                try await nl.audit("refusal").contains {
                    $0.result == "too-many-connections" && $0.target == "connection from 127.0.0.1"
                }
            })
            withExtendedLifetime(held) {}
        }
    }

    // MARK: 3. TLS

    /// (cipher offered with -tls1_2, accepted) for EC and RSA node keys.
    static let suites: [String: [(String, Bool)]] = [
        "ec": [("ECDHE-ECDSA-AES128-GCM-SHA256", true), ("ECDHE-ECDSA-AES256-GCM-SHA384", true),
               ("ECDHE-ECDSA-CHACHA20-POLY1305", true), ("ECDHE-ECDSA-AES128-SHA", false),
               ("ECDHE-ECDSA-AES256-SHA", false), ("ECDHE-ECDSA-AES128-SHA256", false), ("AES128-SHA", false),
               ("AES256-SHA", false), ("ECDHE-RSA-AES128-SHA", false), ("AES128-GCM-SHA256", false)],
        "rsa": [("ECDHE-RSA-AES128-GCM-SHA256", true), ("ECDHE-RSA-AES256-GCM-SHA384", true),
                ("ECDHE-RSA-CHACHA20-POLY1305", true), ("AES128-SHA", false), ("AES256-SHA", false),
                ("ECDHE-RSA-AES128-SHA", false), ("ECDHE-RSA-AES256-SHA", false), ("ECDHE-RSA-AES128-SHA256", false),
                ("AES128-GCM-SHA256", false), ("AES256-GCM-SHA384", false), ("DHE-RSA-AES128-GCM-SHA256", false)],
    ]

    @Test("TLS 1.3 by default; TLS 1.2 only with ECDHE and AEAD suites; TLS 1.1 refused", arguments: ["ec", "rsa"])
    func tlsProfile(_ keyType: String) async throws {
        let keys = keyType == "ec" ? pki : try await Self.rsaPKI.value
        let network = try NodeTestNetwork(pki: keys, countries: ["NL", "DE"])
        do {
            _ = try await start(network)
            let port = network.ports["NL"]!
            let caller = keys.liaison("NL")
            let defaultRun = try await Self.sClient(port: port, caller: caller, ca: keys.ca("NL"), options: [])
            #expect(defaultRun.stdout.contains("New, TLSv1.3"), "\(defaultRun)")
            for (cipher, accepted) in Self.suites[keyType]! {
                let run = try await Self.sClient(port: port, caller: caller, ca: keys.ca("NL"),
                                                 options: ["-tls1_2", "-cipher", "\(cipher):@SECLEVEL=0"])
                let negotiated = run.stdout.contains("New, TLSv1.2, Cipher is \(cipher)")
                #expect(negotiated == accepted, "\(keyType) \(cipher): \(accepted ? "refused" : "accepted"): \(run)")
            }
            let old = try await Self.sClient(port: port, caller: caller, ca: keys.ca("NL"),
                                             options: ["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"])
            #expect(!old.stdout.contains("New, TLSv1.1"), "TLS 1.1 accepted: \(old)")
            await network.tearDown()
        } catch {
            await network.tearDown()
            throw error
        }
    }

    /// A test PKI with RSA 2048 keys, made once per test process (removed when the process exits).
    static let rsaPKI = Task {
        try await offPool { () throws -> NodeTestPKI in
            let root = rsaPKIRoot
            atexit { try? FileManager.default.removeItem(atPath: rsaPKIRoot) }
            let result = try runProcess(Paths.repo("scripts/test-pki"),
                                        [root, "--countries", "NL,DE", "--key-type", "rsa"], timeout: 300)
            guard result.status == 0, !result.timedOut else {
                throw TestSupportError("scripts/test-pki --key-type rsa failed: \(result)")
            }
            return NodeTestPKI(root: root)
        }
    }

    /// `openssl s_client` to the node, with `caller`'s certificate (or none), stdin empty.
    static func sClient(port: Int, caller: NodeTestCaller?, ca: String, options: [String]) async throws
        -> ProcessResult
    {
        var arguments = ["s_client", "-connect", "127.0.0.1:\(port)", "-CAfile", ca]
        if let caller { arguments += ["-cert", caller.certificate, "-key", caller.key] }
        let all = arguments + options
        return try await offPool { try runProcess("/usr/bin/openssl", all, stdin: Data(), timeout: 30) }
    }

    // MARK: 7. Audit

    @Test("Every request is audited: health, metrics, 400, 404 and 415 answers; every answer announces the schema versions")
    func everyRequestAudited() async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            let nl = try await start(network)
            let de = pki.node("DE")
            let answers = [try await network.get("/healthz", as: de, to: "NL"),
                           try await network.get("/metrics", as: de, to: "NL"),
                           try await network.get("/v1/feed?after=x", as: de, to: "NL"),
                           try await network.get("/v1/nothing/here", as: de, to: "NL")]
            #expect(answers.map(\.status) == [200, 200, 400, 404])
            #expect(answers.allSatisfy { $0.header("fwx-schema-versions") == "1" }, "\(answers.map { $0.header("fwx-schema-versions") })")
            let unknown = answers[3]
            #expect(unknown.status == 404)
            #expect(unknown.nodeTestError?.rule == RuleID.badRequest, "\(unknown.nodeTestText)")
            #expect(unknown.nodeTestError?.message.contains("docs/openapi.yaml") == true)
            let requests = try await nl.audit("request", caller: "DE")
            #expect(requests.map { "\($0.target) \($0.result)" }
                        == ["/healthz 200", "/metrics 200", "/v1/feed 400", "/v1/nothing/here 404"])
            let fingerprint = try await pki.fingerprint(de.certificate)
            #expect(requests.allSatisfy { $0.callerFingerprint == fingerprint })
        }
    }

    @Test("Refused handshakes are audited, counted per client and reason, and the count is written on shutdown")
    func handshakeRefusalsCounted() async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            // A window longer than the test: only the graceful shutdown writes the counts.
            let nl = try await start(network, window: 3600)
            let port = network.ports["NL"]!
            for _ in 0..<5 {
                let run = try await Self.sClient(port: port, caller: nil, ca: pki.ca("NL"), options: ["-tls1_2"])
                #expect(run.status != 0, "a handshake without a certificate succeeded: \(run)")
            }
            _ = try await Self.sClient(port: port, caller: pki.liaison("NL"), ca: pki.ca("NL"),
                                       options: ["-tls1_2", "-cipher", "AES128-SHA:@SECLEVEL=0"])
            _ = try await Self.sClient(port: port, caller: pki.liaison("NL"), ca: pki.ca("NL"),
                                       options: ["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"])
            let plain = try RawTCPConnection(port: port)
            _ = plain.send(Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
            #expect(await plain.waitClosed(seconds: 10))
            #expect(try await nodeTestEventually(seconds: 10) { nl.node.auditTrail.pendingRefusals >= 8 })
            #expect(try await nl.audit("refusal").isEmpty, "written before the window ended")
            await nl.stop()
            let entries = try await nl.audit("refusal").filter { $0.target == "tls-handshake" }
            let byResult = Dictionary(grouping: entries, by: \.result)
            #expect(byResult["tls no-certificate"]?.map(\.detail) == ["5 refusals: from 127.0.0.1"], "\(entries)")
            #expect(byResult["tls no-shared-cipher"]?.count == 1, "\(entries)")
            #expect(byResult["tls protocol-version"]?.count == 1, "\(entries)")
            #expect(byResult["tls not-tls"]?.count == 1, "\(entries)")
        }
    }

    @Test("A failed audit write is counted in /metrics; a batch is never accepted without its audit entry")
    func auditFailures() async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            let nl = try await start(network)
            let database = network.storePath("NL")
            try Self.sqlite(database, "CREATE TRIGGER test_refuse_requests BEFORE INSERT ON audit WHEN NEW.action = "
                + "'request' BEGIN SELECT RAISE(ABORT, 'test: audit refused'); END;")
            #expect(try await network.get("/healthz", as: pki.node("DE"), to: "NL").status == 200)
            let text = try await metrics(network)
            #expect((nodeTestMetric(text, "fwx_audit_write_failures_total") ?? 0) >= 1, "\(text)")

            try Self.sqlite(database, "CREATE TRIGGER test_refuse_batches BEFORE INSERT ON audit WHEN NEW.action = "
                + "'batch-in' BEGIN SELECT RAISE(ABORT, 'test: audit refused'); END;")
            var source = try NodeTestRecords(sender: "NL", seed: 1307)
            let signed = try pki.sign(source.batch(source.next(3), sequence: 1))
            let refused = try await network.post(signed, as: pki.liaison("NL"), to: "NL")
            #expect(refused.status == 500, "\(refused.nodeTestText)")
            #expect(refused.nodeTestError != nil)
            #expect(try await nl.store.counts(origin: nil).batches == 0)
            #expect(try await nl.store.recordIds(origin: nil).isEmpty)

            try Self.sqlite(database, "DROP TRIGGER test_refuse_batches;")
            let accepted = try await network.post(signed, as: pki.liaison("NL"), to: "NL")
            #expect(accepted.status == 200)
            #expect(try await nl.store.counts(origin: nil).batches == 1)
            #expect(try await nl.audit("batch-in", caller: "NL").count == 1)
        }
    }

    static func sqlite(_ database: String, _ sql: String) throws {
        let result = try runProcess("/usr/bin/sqlite3", ["-cmd", ".timeout 10000", database, sql], timeout: 30)
        guard result.status == 0 else { throw TestSupportError("sqlite3 failed: \(result)") }
    }

    // MARK: 11. Small defects

    @Test("A batch POST that is not XML is answered 415 and says what to send")
    func notXML() async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            let nl = try await start(network)
            var source = try NodeTestRecords(sender: "NL", seed: 1311)
            let signed = try pki.sign(source.batch(source.next(2), sequence: 1))
            let client = network.client(pki.liaison("NL"), to: "NL")
            for contentType in ["text/plain", "application/json", ""] {
                let response = try await client.post(network.url("NL") + "/v1/batches", body: signed,
                                                     contentType: contentType)
                #expect(response.status == 415, "\(contentType): \(response.status)")
                #expect(response.nodeTestError?.message.contains("application/xml") == true)
            }
            for contentType in ["text/xml; charset=utf-8", "application/fwx+xml"] {
                let response = try await client.post(network.url("NL") + "/v1/batches", body: signed,
                                                     contentType: contentType)
                #expect(response.status == 200, "\(contentType): \(response.status) \(response.nodeTestText)")
            }
            #expect(try await nl.audit("refusal", caller: "NL").map(\.result)
                        == Array(repeating: "415 \(RuleID.badRequest)", count: 3))
        }
    }

    @Test("A feed limit over maxFeedPage, even too large for any integer, is reduced to it")
    func feedLimitReduced() async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            _ = try await start(network, limits: NodeLimits(maxFeedPage: 3))
            var source = try NodeTestRecords(sender: "NL", seed: 1313)
            try await network.submit(source.batch(source.next(5), sequence: 1))
            for limit in ["4", "9223372036854775808", "99999999999999999999999999999"] {
                let page = try await network.get("/v1/feed?after=0&limit=\(limit)", as: pki.node("DE"), to: "NL")
                #expect(page.status == 200, "limit \(limit): \(page.nodeTestText)")
                #expect(page.header("fwx-record-count") == "3", "limit \(limit)")
                #expect(page.header("fwx-more") == "true")
            }
            for limit in ["0", "-1", "1e3", ""] {
                let page = try await network.get("/v1/feed?after=0&limit=\(limit)", as: pki.node("DE"), to: "NL")
                #expect(page.status == 400, "limit \(limit)")
            }
        }
    }
}

private let rsaPKIRoot = FileManager.default.temporaryDirectory
    .appendingPathComponent("fwx-rsa-pki-\(getpid())-\(UUID().uuidString)").path

// MARK: Raw clients

/// A TCP connection to 127.0.0.1 that sends exactly what it is told (or nothing).
final class RawTCPConnection: Sendable {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestSupportError("socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(fd)
            throw TestSupportError("connect to 127.0.0.1:\(port) failed")
        }
    }

    deinit { close(fd) }

    /// False when the connection is gone.
    func send(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// Reads (and drops) what arrives until the peer closes; whether it closed within `seconds`.
    func waitClosed(seconds: Double) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        var buffer = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now < deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&poller, 1, 0) > 0 {
                let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count <= 0 { return true }
                continue
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }
}

/// A TLS connection through `openssl s_client -quiet`: what is sent goes to the node as is, what the node answers
/// is collected; the process ends when the node closes the connection.
/// `@unchecked Sendable`: `process` and `input` are set in init and only read after; the output is under a Mutex.
final class TLSSession: @unchecked Sendable {
    private let process: Process
    private let input: FileHandle
    private final class Output: Sendable {
        let data = Mutex<Data>(Data())
    }
    private let collected = Output()

    init(port: Int, caller: NodeTestCaller?, ca: String) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        var arguments = ["s_client", "-quiet", "-connect", "127.0.0.1:\(port)", "-CAfile", ca]
        if let caller { arguments += ["-cert", caller.certificate, "-key", caller.key] }
        process.arguments = arguments
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        input = stdin.fileHandleForWriting
        let collected = self.collected
        stdout.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
            } else {
                collected.data.withLock { $0.append(data) }
            }
        }
        try process.run()
    }

    var output: String { collected.data.withLock { String(decoding: $0, as: UTF8.self) } }
    var exited: Bool { !process.isRunning }

    func send(_ text: String) {
        try? input.write(contentsOf: Data(text.utf8))
    }

    func waitForOutput(containing text: String, seconds: Double) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if output.contains(text) { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return output.contains(text)
    }

    /// Whether the node closed the connection (s_client ended) within `seconds`.
    func waitForExit(seconds: Double) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if !process.isRunning { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return !process.isRunning
    }

    /// Ends s_client (SIGKILL: it closes the connection without a TLS close_notify, as a client that goes away).
    func terminate() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? input.close()
        process.waitUntilExit()
    }
}
