// Helpers of the node tests (NodeTests.swift): a test PKI for NL, DE and BE made once per test process, networks of
// in-process nodes on free ports of 127.0.0.1 with real SQLite stores in a temporary folder, HTTPS callers with the
// PKI's certificates, and generated, signed batches. Every wait is bounded.
import FWXClient
import FWXConvert
import FWXModel
@testable import FWXNode
import FWXSigning
import FWXStore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing

// MARK: PKI

/// Scratch folder of the node tests in this process (PKI and one folder per network); removed when the process exits.
private let nodeTestScratchRoot: String = {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("fwx-node-tests-\(getpid())-\(UUID().uuidString)", isDirectory: true).path
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    atexit { nodeTestRemoveScratchRoot() }
    return path
}()

private func nodeTestRemoveScratchRoot() {
    try? FileManager.default.removeItem(atPath: nodeTestScratchRoot)
}

/// The test PKI of docs/test-pki.md for NL, DE and BE (EC keys), made once per test process.
struct NodeTestPKI: Sendable {
    static let countries = ["NL", "DE", "BE"]
    let root: String

    static func shared() async throws -> NodeTestPKI { try await generation.value }

    // A `static let` is initialised once, thread-safely: every test awaits the one generation, run off the pool.
    private static let generation = Task {
        try await offPool {
            let root = nodeTestScratchRoot + "/pki"
            let result = try runProcess(Paths.repo("scripts/test-pki"),
                                        [root, "--countries", countries.joined(separator: ",")], timeout: 180)
            guard result.status == 0, !result.timedOut else {
                throw TestSupportError("scripts/test-pki \(root) failed: \(result)")
            }
            return NodeTestPKI(root: root)
        }
    }

    func certificate(_ country: String, _ name: String) -> String { "\(root)/\(country)/\(name).pem" }
    func key(_ country: String, _ name: String) -> String { "\(root)/\(country)/\(name).key.pem" }
    func ca(_ country: String) -> String { "\(root)/\(country)/ca.pem" }
    var trustDirectory: String { root + "/trust" }

    /// Someone calling a node with `DIR/CC/name.pem` as TLS client certificate.
    func caller(_ country: String, _ name: String) -> NodeTestCaller {
        NodeTestCaller(label: "\(country)/\(name)", certificate: certificate(country, name), key: key(country, name))
    }
    func liaison(_ country: String) -> NodeTestCaller { caller(country, "liaison") }
    func node(_ country: String) -> NodeTestCaller { caller(country, "node-tls") }
    /// The rogue CA's certificate, with the subject of the genuine Dutch signing certificate.
    var rogue: NodeTestCaller {
        NodeTestCaller(label: "untrusted/node-signing", certificate: root + "/untrusted/node-signing.pem",
                       key: root + "/untrusted/node-signing.key.pem")
    }

    /// The CA certificate of `country`, as a trust store for checking what that country's node signed.
    func trust(_ country: String) throws -> TrustStore {
        TrustStore(certificates: try Certificate.load(pemFile: ca(country)))
    }

    /// Signs a batch with the liaison key of `liaison` (by default the batch's sender).
    func sign(_ batch: Batch, as liaison: String? = nil) throws -> [UInt8] {
        let country = liaison ?? batch.header.sender.country
        let identity = try SigningIdentity(keyFile: key(country, "liaison"),
                                           certificateFile: certificate(country, "liaison"))
        return try DocumentSigner(identity: identity).sign(Array(BatchXMLWriter.string(for: batch).utf8),
                                                           name: "test batch \(batch.header.batchId)")
    }

    /// The SHA-256 fingerprint of a certificate file as openssl computes it (lower-case hex, no colons): an
    /// independent check of what the audit trail records.
    func fingerprint(_ certificateFile: String) async throws -> String {
        let result = try await offPool {
            try runProcess("/usr/bin/openssl", ["x509", "-in", certificateFile, "-noout", "-fingerprint", "-sha256"],
                           timeout: 30)
        }
        guard result.status == 0, let value = result.stdout.split(separator: "=").last else {
            throw TestSupportError("openssl could not fingerprint \(certificateFile): \(result)")
        }
        return value.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: ":", with: "")
            .lowercased()
    }
}

/// A TLS client identity: certificate and key files.
struct NodeTestCaller: Sendable, CustomTestStringConvertible {
    var label: String
    var certificate: String
    var key: String
    var testDescription: String { label }
}

// MARK: Networks of nodes

/// What one node lets one peer do, in the node's configuration.
struct NodeTestPeer: Sendable {
    var country: String
    var push = false
    var pullEverySeconds: Double? = nil
    var handlingCodes: Set<HandlingCode> = Set(HandlingCode.allCases)
}

/// Nodes of some countries on 127.0.0.1 (ports chosen up front, so configurations can name each other), each with
/// its SQLite store in the network's own temporary folder. Use ``withNodeTestNetwork(_:_:)``.
final class NodeTestNetwork: Sendable {
    let pki: NodeTestPKI
    let folder: String
    let ports: [String: Int]
    private let running = Mutex<[NodeTestNode]>([])

    init(pki: NodeTestPKI, countries: [String]) throws {
        self.pki = pki
        folder = nodeTestScratchRoot + "/network-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var ports: [String: Int] = [:]
        for country in countries {
            var port = try unusedLocalPort()
            while ports.values.contains(port) { port = try unusedLocalPort() }
            ports[country] = port
        }
        self.ports = ports
    }

    func url(_ country: String) -> String { "https://127.0.0.1:\(ports[country]!)" }
    func storePath(_ country: String) -> String { "\(folder)/\(country.lowercased()).sqlite" }

    /// A node configuration as `fwx serve` would load it: the PKI's node credentials, the PKI's trust folder,
    /// logging at error level, quick outbox retries.
    func configuration(_ country: String, peers: [NodeTestPeer], limits: NodeLimits = NodeLimits())
        -> NodeConfiguration
    {
        NodeConfiguration(
            identity: NodeIdentity(country: country, agencyId: "\(country)-FWX-NODE"), baseURL: url(country),
            listen: ListenAddress(host: "127.0.0.1", port: ports[country]!),
            tls: CredentialFiles(certificate: pki.certificate(country, "node-tls"), key: pki.key(country, "node-tls")),
            signing: CredentialFiles(certificate: pki.certificate(country, "node-signing"),
                                     key: pki.key(country, "node-signing")),
            trust: TrustSettings(directory: pki.trustDirectory),
            store: StoreSettings(sqlitePath: storePath(country)),
            limits: limits,
            outbox: OutboxSettings(maxAttempts: 10, initialBackoffSeconds: 0.2, maxBackoffSeconds: 2),
            logLevel: "error",
            peers: peers.map { peer in
                PeerConfiguration(country: peer.country, baseURL: url(peer.country), caFile: pki.ca(peer.country),
                                  push: peer.push, pullEverySeconds: peer.pullEverySeconds,
                                  handlingCodes: peer.handlingCodes)
            })
    }

    /// Opens the node (store, credentials) and runs the chosen services; with `serve` it returns once the HTTPS
    /// server listens (at most 30 s).
    func start(_ configuration: NodeConfiguration, serve: Bool = true, outbox: Bool = false, pull: Bool = false)
        async throws -> NodeTestNode
    {
        let node = try await NodeTestNode.start(configuration, serve: serve, outbox: outbox, pull: pull)
        // A node without services is not kept here: it closes its store when the test lets go of it.
        if serve || outbox || pull { running.withLock { $0.append(node) } }
        if serve {
            do {
                try await node.waitUntilServing(seconds: 30)
            } catch {
                await node.stop()
                throw error
            }
        }
        return node
    }

    /// Stops every node with services, then removes the folder.
    func tearDown() async {
        let nodes = running.withLock { nodes in
            defer { nodes.removeAll() }
            return nodes
        }
        for node in nodes { await node.stop() }
        try? FileManager.default.removeItem(atPath: folder)
    }

    // MARK: Calling a node

    /// An HTTPS client presenting `caller`'s certificate and trusting only the CA of the node of `country`.
    func client(_ caller: NodeTestCaller, to country: String) -> HTTPSClient {
        HTTPSClient(credentials: TLSClientCredentials(certificateFile: caller.certificate, keyFile: caller.key,
                                                      caFile: pki.ca(country)),
                    configuration: HTTPSClientConfiguration(connectTimeout: .seconds(10), requestTimeout: .seconds(30)))
    }

    /// The client side of the node API of `country`, as `caller`.
    func exchange(_ caller: NodeTestCaller, to country: String) throws -> PeerExchange {
        PeerExchange(client: client(caller, to: country), baseURL: url(country), trust: try pki.trust(country),
                     expectedCountry: country)
    }

    /// Pushes a signed batch to the node of `country` as `caller`; the result of the push, receipt checked.
    func push(_ signed: [UInt8], as caller: NodeTestCaller, to country: String) async throws
        -> PeerExchange.PushResult
    {
        let identity = try ReceiptReader.batchIdentity(of: signed, name: "test batch")
        return try await exchange(caller, to: country).push(signed, batchId: identity.batchId, digest: identity.digest)
    }

    /// Pushes and requires a delivery: the verified receipt and its bytes.
    func deliver(_ signed: [UInt8], as caller: NodeTestCaller, to country: String) async throws
        -> (receipt: Receipt, xml: [UInt8])
    {
        switch try await push(signed, as: caller, to: country) {
        case .delivered(let receipt, let xml): return (receipt, xml)
        case .refused(let status, let message):
            throw TestSupportError("push to \(country) refused: HTTP \(status): \(message)")
        case .retry(let message):
            throw TestSupportError("push to \(country) not delivered: \(message)")
        }
    }

    /// The sender's liaison signs `batch` and submits it to its own node; requires a delivery.
    @discardableResult
    func submit(_ batch: Batch) async throws -> (receipt: Receipt, xml: [UInt8]) {
        let sender = batch.header.sender.country
        return try await deliver(try pki.sign(batch), as: pki.liaison(sender), to: sender)
    }

    /// POSTs raw bytes to /v1/batches of `country` as `caller`.
    func post(_ body: [UInt8], as caller: NodeTestCaller, to country: String) async throws -> HTTPSResponse {
        try await client(caller, to: country).post(url(country) + "/v1/batches", body: body,
                                                   contentType: "application/xml")
    }

    /// GETs `path` of the node of `country` as `caller`.
    func get(_ path: String, as caller: NodeTestCaller, to country: String) async throws -> HTTPSResponse {
        try await client(caller, to: country).get(url(country) + path)
    }
}

/// Runs `body` with a fresh network for `countries`; stops its nodes and removes its folder afterwards, also when
/// `body` throws.
func withNodeTestNetwork<T>(_ countries: [String], _ body: (NodeTestNetwork) async throws -> T) async throws -> T {
    let network = try NodeTestNetwork(pki: try await NodeTestPKI.shared(), countries: countries)
    do {
        let result = try await body(network)
        await network.tearDown()
        return result
    } catch {
        await network.tearDown()
        throw error
    }
}

/// One in-process node and the services it runs (HTTPS server, outbox, puller) in a ServiceGroup.
final class NodeTestNode: Sendable {
    let node: ExchangeNode
    private let group: ServiceGroup?
    private let task: Task<Void, Never>?
    private let events: AsyncStream<Event>
    /// Set when the group has returned.
    private let ended: NodeTestFlag

    private enum Event: Sendable { case serving, ended(String) }

    var country: String { node.identity.country }
    var store: any NodeStore { node.store }

    /// The node's audit entries of `action`, optionally of one caller country, oldest first.
    func audit(_ action: String, caller: String? = nil) async throws -> [AuditEntry] {
        try await store.audit(since: nil, peer: caller, limit: nil).filter { $0.action == action }
    }

    /// How synchronisation with `peer` stands at this node.
    func sync(_ peer: String) async throws -> PeerSyncStatus? {
        try await store.syncStatus(peers: [peer]).first { $0.peer == peer }
    }

    private init(node: ExchangeNode, group: ServiceGroup?, task: Task<Void, Never>?, events: AsyncStream<Event>,
                 ended: NodeTestFlag) {
        self.node = node
        self.group = group
        self.task = task
        self.events = events
        self.ended = ended
    }

    fileprivate static func start(_ configuration: NodeConfiguration, serve: Bool, outbox: Bool, pull: Bool)
        async throws -> NodeTestNode
    {
        var logger = Logger(label: "fwx.test.\(configuration.identity.country)")
        logger.logLevel = .error
        // The store the configuration names (SQLite file or PostgreSQL database), as `fwx serve` opens it.
        let node = try await ExchangeNode.open(configuration: configuration, logger: logger)
        let (events, continuation) = AsyncStream<Event>.makeStream()
        let ended = NodeTestFlag()
        var services: [any Service] = []
        if serve {
            services.append(try NodeServer(node: node).application { _ in continuation.yield(.serving) })
            services.append(RevocationReloadService(node: node))
        }
        if outbox { services.append(OutboxService(node: node)) }
        if pull { services.append(PullService(node: node)) }
        guard !services.isEmpty else {
            continuation.finish()
            ended.set()
            return NodeTestNode(node: node, group: nil, task: nil, events: events, ended: ended)
        }
        var groupLogger = logger
        groupLogger.logLevel = .critical
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [], cancellationSignals: [],
                                 logger: groupLogger)
        let task = Task {
            let how: String
            do {
                try await group.run()
                how = "stopped"
            } catch {
                how = "failed: \(error)"
            }
            ended.set()
            continuation.yield(.ended(how))
            continuation.finish()
        }
        return NodeTestNode(node: node, group: group, task: task, events: events, ended: ended)
    }

    /// Returns when the server listens; throws when the services end first or after `seconds`.
    fileprivate func waitUntilServing(seconds: Double) async throws {
        let country = self.country
        let failure = await withTaskGroup(of: String?.self) { group in
            group.addTask { [events] in
                for await event in events {
                    switch event {
                    case .serving: return nil
                    case .ended(let how): return "the node \(country) ended before serving: \(how)"
                    }
                }
                return "the node \(country) ended before serving"
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(seconds))
                return "the node \(country) did not listen within \(seconds) s"
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        if let failure { throw TestSupportError(failure) }
    }

    /// Shuts the services down gracefully; cancels them when that takes more than 15 s.
    func stop() async {
        guard let group, let task else { return }
        await group.triggerGracefulShutdown()
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline, !ended.isSet {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if !ended.isSet { task.cancel() }
        // Bounded too: a service that ignores cancellation would otherwise hang the whole test run (a stuck
        // outbox loop after a PostgreSQL outage did, once in CI). It is a failure of the test, with the node named.
        let cancelled = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < cancelled, !ended.isSet {
            try? await Task.sleep(for: .milliseconds(20))
        }
        guard ended.isSet else {
            Issue.record("the node \(node.configuration.identity.country)'s services did not end within 35 s of a graceful shutdown and a cancellation; left behind")
            return
        }
        await task.value
    }

    // MARK: Pulling with the node's own code

    /// Pulls one page of `peer`'s feed exactly as ``PullService`` does (cursor from the store, page checked, records
    /// and cursor kept in one transaction); true when the page was full.
    func pullPage(from peer: String) async throws -> Bool {
        guard let configuration = node.configuration.peer(country: peer) else {
            throw TestSupportError("\(peer) is not a peer of \(country)")
        }
        let exchange = PeerExchange(client: node.client(for: configuration), baseURL: configuration.baseURL,
                                    trust: node.peerTrust[configuration.country] ?? node.trustStore,
                                    expectedCountry: configuration.country)
        let store = node.store
        guard let lease = try await store.claimPull(peer: peer, token: UUID(), now: Date(), seconds: 60) else {
            throw TestSupportError("another puller holds the lease on \(peer)")
        }
        do {
            let (more, held) = try await PullService(node: node).pullOnce(configuration, exchange, lease: lease)
            try await store.releasePull(held, error: nil, at: Date())
            return more
        } catch {
            try await store.releasePull(lease, error: "\(error)", at: Date())
            throw error
        }
    }

    /// Pulls pages of `peer`'s feed until one is not full (at most `maxPages`); the number of pages.
    @discardableResult
    func pullAll(from peer: String, maxPages: Int = 200) async throws -> Int {
        for page in 1...maxPages where !(try await pullPage(from: peer)) {
            return page
        }
        throw TestSupportError("\(country) pulled \(maxPages) full pages from \(peer) without reaching the end")
    }
}

// MARK: Waiting

/// A flag set once by one task and read by others.
final class NodeTestFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .sequentiallyConsistent) }
    var isSet: Bool { value.load(ordering: .sequentiallyConsistent) }
}

/// Evaluates `condition` every 100 ms until it holds or `seconds` passed; whether it held.
func nodeTestEventually(seconds: Double = 30, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(100))
    }
    return try await condition()
}

// MARK: Batches

/// Generated records of one sender, continuing one generator so that record ids never repeat within a test.
struct NodeTestRecords {
    let sender: String
    private var generator: SyntheticBatchGenerator

    init(sender: String, seed: UInt64) throws {
        self.sender = sender
        generator = try SyntheticBatchGenerator(SyntheticBatchConfiguration(records: 1_000_000, seed: seed,
                                                                            sender: sender))
    }

    /// The next `count` records (whole cases: a shipment is always with its seizure).
    mutating func next(_ count: Int) -> [Record] {
        var records: [Record] = []
        while records.count < count { records += generator.nextCase(limit: count - records.count) }
        return records
    }

    /// A batch of `records` from this sender's liaisons.
    func batch(_ records: [Record], sequence: UInt64, recipients: Recipients = .allPartners,
               batchId: String = UUID().uuidString.lowercased()) -> Batch {
        let identity = NodeIdentity(country: sender, agencyId: "\(sender)-POLICE-FWX")
        let header = BatchHeader(batchId: batchId, sender: identity,
                                 recipients: recipients, createdAt: "2026-11-01T06:00:00Z", sequenceNumber: sequence,
                                 defaultHandlingCode: .h2)
        return Batch(header: header, records: records)
    }
}

extension Record {
    /// The record with handling code `code`.
    func nodeTestHandlingCode(_ code: HandlingCode) -> Record {
        switch self {
        case .seizure(var record):
            record.handlingCode = code
            return .seizure(record)
        case .shipment(var record):
            record.handlingCode = code
            return .shipment(record)
        }
    }

    /// The record with every link marked external, so that it is valid in a batch without the records it links to.
    func nodeTestStandalone() -> Record {
        switch self {
        case .seizure(var record):
            record.shipmentLinks = record.shipmentLinks.map { RecordLink($0.recordId, external: true) }
            return .seizure(record)
        case .shipment(var record):
            record.seizureLinks = record.seizureLinks.map { RecordLink($0.recordId, external: true) }
            return .shipment(record)
        }
    }

    /// The next revision of the record, withdrawn as erroneous (links external).
    func nodeTestWithdrawn() -> Record {
        switch nodeTestStandalone() {
        case .seizure(var record):
            record.revision += 1
            record.status = .withdrawn
            record.withdrawalReason = .erroneous
            return .seizure(record)
        case .shipment(var record):
            record.revision += 1
            record.status = .withdrawn
            record.withdrawalReason = .erroneous
            return .shipment(record)
        }
    }
}

// MARK: Answers

extension HTTPSResponse {
    /// The `error` of an FWX JSON error body, or nil.
    var nodeTestError: ErrorBody.Detail? { try? JSONDecoder().decode(ErrorBody.self, from: Data(body)).error }
    var nodeTestText: String { String(decoding: body, as: UTF8.self) }
}

/// The value of a Prometheus sample `name` (with `label`, e.g. `peer="DE"`, among its labels) in exposition text.
func nodeTestMetric(_ text: String, _ name: String, label: String? = nil) -> Double? {
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        let parts = line.split(separator: " ")
        guard parts.count == 2 else { continue }
        let series = parts[0]
        let sampleName = series.prefix { $0 != "{" }
        guard sampleName == name else { continue }
        if let label, !series.contains(label) { continue }
        return Double(parts[1])
    }
    return nil
}
