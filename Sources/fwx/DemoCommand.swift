import ArgumentParser
import FWXClient
import FWXConvert
import FWXModel
import FWXNode
import FWXSigning
import FWXStore
import FWXTrace
import Foundation
import Logging
import ServiceLifecycle

/// `fwx demo`: three national nodes on 127.0.0.1 exchanging signed batches, end to end, in a temporary folder.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run three nodes (NL, DE, BE) on 127.0.0.1 and show batches, pushes, pulls, a withdrawal and a refusal.",
        discussion: """
            Builds a throwaway test PKI (scripts/test-pki) and three node configurations in a temporary folder, \
            starts the nodes, has a liaison in each country submit a generated signed batch, lets the nodes push \
            and pull, then checks that every record reached exactly the nodes entitled to it (recipients and \
            handling codes), that a withdrawal propagated as a tombstone, and that a batch with a forged sender \
            was refused. Exit status: 0 when every check held, 1 when one failed, 2 on a set-up error. \
            The folder is removed at the end unless --keep is given.
            """)

    @Option(name: .long, help: "Records per liaison batch.")
    var records: Int = 120
    @Flag(name: .long, help: "Keep the temporary folder (PKI, configurations, stores) and print its path.")
    var keep = false
    @Option(name: .long, help: "Seconds to wait for the nodes to converge.")
    var timeout: Double = 60
    @Option(name: .long, help: "Where to write the analyst's HTML report traced from the NL node's store.")
    var report: String = "fwx-demo-report.html"
    @Option(name: .long, help: "The nodes' store: sqlite (a file per node, the default) or postgres (a database per node on a throw-away PostgreSQL cluster started with scripts/pg-cluster; needs Debian's postgresql package, which scripts/setup installs).")
    var store: DemoStore = .sqlite

    func validate() throws {
        guard (2...10_000).contains(records) else { throw ValidationError("--records must be between 2 and 10000") }
    }

    func run() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fwx-demo-\(getpid())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer {
            if keep { print("kept \(folder)") } else { try? FileManager.default.removeItem(atPath: folder) }
        }
        LoggingBootstrap.once()
        var demo = try DemoNetwork(folder: folder)
        demo.reportPath = URL(fileURLWithPath: report).standardizedFileURL.path
        var cluster: DemoPostgres?
        if store == .postgres {
            let started = try DemoPostgres.start(in: folder + "/pg")
            cluster = started
            demo.postgres = started
        }
        defer { cluster?.stop() }
        let failures = try await demo.run(records: records, timeout: timeout)
        if failures > 0 { throw ExitCode(ExitStatus.invalid) }
    }
}

/// The demo's three nodes and what it checks.
struct DemoNetwork {
    static let countries = ["NL", "DE", "BE"]
    /// What each node lets each peer receive: handling codes.
    static let handling: [String: [String: [String]]] = [
        "NL": ["DE": ["H0", "H1", "H2", "H3"], "BE": ["H0", "H1", "H2"]],
        "DE": ["NL": ["H0", "H1", "H2", "H3"], "BE": ["H0", "H1", "H2", "H3"]],
        "BE": ["NL": ["H0", "H1", "H2", "H3"], "DE": ["H0", "H1", "H2"]],
    ]
    /// Who each liaison's batch is for.
    static let recipients: [String: Recipients] = [
        "NL": .allPartners, "DE": .countries(["NL"]), "BE": .allPartners,
    ]

    let folder: String
    let pki: String
    var ports: [String: Int] = [:]
    var reportPath = "fwx-demo-report.html"
    /// The PostgreSQL cluster the nodes keep their stores in (a database each), or nil for SQLite files.
    var postgres: DemoPostgres?

    init(folder: String) throws {
        self.folder = folder
        pki = folder + "/pki"
        for country in Self.countries { ports[country] = try FreePort.find() }
    }

    func say(_ text: String) { print(text) }

    func run(records: Int, timeout: Double) async throws -> Int {
        say("== FWX demo: three national nodes on 127.0.0.1 (temporary folder \(folder))")
        try makePKI()
        say("1. test PKI: a CA per country with node TLS, node signing and liaison certificates, a revoked one, CRLs")
        var configurations: [String: NodeConfiguration] = [:]
        for country in Self.countries {
            let path = try writeConfiguration(country)
            configurations[country] = try NodeConfiguration.load(path: path)
        }
        say("2. configurations: \(Self.countries.map { "\($0) on port \(ports[$0]!)" }.joined(separator: ", ")); "
            + "NL and BE push at once, every node pulls every second; stores: "
            + (postgres.map { "PostgreSQL databases fwx_nl, fwx_de, fwx_be on \($0.baseURL)" } ?? "SQLite files"))

        var nodes: [String: ExchangeNode] = [:]
        var groups: [ServiceGroup] = []
        var tasks: [Task<Void, any Error>] = []
        for country in Self.countries {
            var logger = Logger(label: "fwx.demo.\(country)")
            logger.logLevel = .error
            let node = try await ExchangeNode.open(configuration: configurations[country]!, logger: logger)
            let ready = AsyncStream<Void>.makeStream()
            let application = try NodeServer(node: node).application { _ in ready.continuation.yield() }
            let group = ServiceGroup(services: [application, OutboxService(node: node), PullService(node: node),
                                           RevocationReloadService(node: node)],
                                     gracefulShutdownSignals: [], cancellationSignals: [], logger: logger)
            tasks.append(Task { try await group.run() })
            var iterator = ready.stream.makeAsyncIterator()
            _ = await iterator.next()
            nodes[country] = node
            groups.append(group)
        }
        say("3. nodes started (mutual TLS, TLS 1.2+, client certificates checked against each peer's CA and CRLs)")
        var failures = 0
        do {
            failures = try await exchange(records: records, nodes: nodes, timeout: timeout)
        } catch {
            say("demo error: \(error)")
            failures += 1
        }
        for group in groups { await group.triggerGracefulShutdown() }
        for task in tasks { _ = await task.result }
        say(failures == 0 ? "== all checks passed" : "== \(failures) check(s) FAILED")
        return failures
    }

    /// The liaisons' submissions and the checks.
    func exchange(records: Int, nodes: [String: ExchangeNode], timeout: Double) async throws -> Int {
        var failures = 0
        func check(_ ok: Bool, _ text: String) {
            say("   [\(ok ? "ok" : "FAILED")] \(text)")
            if !ok { failures += 1 }
        }
        // Each liaison submits one generated batch to its own node.
        var batches: [String: [Record]] = [:]
        var headers: [String: BatchHeader] = [:]
        var signedBatches: [String: [UInt8]] = [:]
        say("4. each liaison submits a signed batch to its own node (fwx send does the same)")
        for (index, country) in Self.countries.enumerated() {
            var generator = try SyntheticBatchGenerator(SyntheticBatchConfiguration(
                records: records, seed: UInt64(100 + index), sender: country, sequenceNumber: 1,
                recipients: Self.recipients[country]!))
            let header = generator.header()
            var all: [Record] = []
            while all.count < records { all += generator.nextCase(limit: records - all.count) }
            batches[country] = all
            headers[country] = header
            let signed = try sign(Batch(header: header, records: all), as: country)
            signedBatches[country] = signed
            let receipt = try await submit(signed: signed, as: country, to: country)
            check(receipt.outcomes.count == records && receipt.outcomes.allSatisfy { $0.result == .accepted },
                  "\(country) liaison: \(records) records for \(Self.describe(Self.recipients[country]!)) accepted, signed receipt verified")
        }
        // Sending the same signed batch again gives the same receipt and stores nothing twice; a re-signed copy
        // (ECDSA signatures differ each time) is a different batch under a used id.
        let again = try await submit(signed: signedBatches["NL"]!, as: "NL", to: "NL")
        let nlCount = try await nodes["NL"]!.store.counts(origin: "NL")
        check(again.batchId == headers["NL"]!.batchId && nlCount.revisions == records,
              "NL liaison sends the same batch again: same receipt, nothing stored twice (\(nlCount.revisions) revisions)")

        // Expected holdings: a node holds another country's record when it is among the recipients and the
        // owner lets it receive the record's handling code.
        func expected(at node: String) -> Set<String> {
            var ids = Set(batches[node]!.map(\.recordId))
            for origin in Self.countries where origin != node {
                guard Self.recipients[origin]!.includes(node) else { continue }
                let codes = Set(Self.handling[origin]![node]!)
                for record in batches[origin]! {
                    let code = record.handlingCode ?? headers[origin]!.defaultHandlingCode
                    if codes.contains(code.rawValue) { ids.insert(record.recordId) }
                }
            }
            return ids
        }
        say("5. the nodes push and pull; waiting until every node holds what it is entitled to")
        let converged = try await waitUntil(timeout: timeout) {
            for country in Self.countries {
                let held = Set(try await nodes[country]!.store.recordIds(origin: nil))
                if held != expected(at: country) { return false }
            }
            return true
        }
        for country in Self.countries {
            let held = Set(try await nodes[country]!.store.recordIds(origin: nil))
            let want = expected(at: country)
            let byOrigin = Dictionary(grouping: held, by: { String($0.prefix(2)) }).mapValues(\.count)
            let others = Self.countries.filter { $0 != country }.map { "\(byOrigin[$0] ?? 0) from \($0)" }
            check(held == want, "\(country) holds \(byOrigin[country] ?? 0) own records, \(others.joined(separator: ", "))"
                + (held == want ? " — exactly its entitlement" : " — expected \(want.count), missing \(want.subtracting(held).count), extra \(held.subtracting(want).count)"))
        }
        let deAtBE = try await nodes["BE"]!.store.recordIds(origin: "DE").count
        check(deAtBE == 0, "DE's batch was for NL only: BE holds none of its records")
        let withheld = batches["NL"]!.filter { ($0.handlingCode ?? headers["NL"]!.defaultHandlingCode) == .h3 }
        let withheldAtBE = Set(try await nodes["BE"]!.store.recordIds(origin: "NL")).intersection(withheld.map(\.recordId))
        check(withheld.isEmpty || withheldAtBE.isEmpty,
              "\(withheld.count) NL records with handling code H3 did not reach BE (not in BE's handling codes)")
        _ = converged

        // A withdrawal at the source reaches every node that holds the record.
        say("6. NL withdraws one record (revision 2, erroneous); the tombstone must reach DE and BE")
        let target = batches["NL"]!.first { ($0.handlingCode ?? .h2) != .h3 }!
        var withdrawn = target
        withdrawn.withdraw()
        let header2 = BatchHeader(batchId: UUID().uuidString.lowercased(), sender: headers["NL"]!.sender,
                                  recipients: .allPartners, createdAt: headers["NL"]!.createdAt, sequenceNumber: 2,
                                  defaultHandlingCode: headers["NL"]!.defaultHandlingCode)
        _ = try await submit(Batch(header: header2, records: [withdrawn]), as: "NL", to: "NL")
        let propagated = try await waitUntil(timeout: timeout) {
            for country in ["DE", "BE"] {
                guard let stored = try await nodes[country]!.store.record(id: target.recordId),
                      stored.entry.status == .withdrawn, stored.entry.revision == 2 else { return false }
            }
            return true
        }
        check(propagated, "record \(target.recordId) is withdrawn (revision 2) at NL, DE and BE")

        // A batch claiming another sender is refused.
        say("7. the NL liaison signs a batch that claims to come from DE")
        var forgedHeader = headers["DE"]!
        forgedHeader.batchId = UUID().uuidString.lowercased()
        forgedHeader.sequenceNumber = 99
        let forged = Batch(header: forgedHeader, records: Array(batches["DE"]!.prefix(1)))
        for node in ["NL", "DE"] {
            do {
                _ = try await submit(forged, as: "NL", to: node)
                check(false, "forged batch sent to \(node) was accepted")
            } catch let refusal as DemoRefusal {
                check(refusal.status == 403, "forged batch sent to \(node): refused with HTTP \(refusal.status) (\(refusal.message.prefix(90))…)")
            }
        }

        // Summary from each node's own store and audit trail.
        say("8. summary")
        for country in Self.countries {
            let store = nodes[country]!.store
            let counts = try await store.counts(origin: nil)
            let audit = try await store.audit(since: nil, peer: nil, limit: nil)
            let refusals = audit.filter { $0.action == "refusal" }.count
            let status = try await store.syncStatus(peers: Self.countries.filter { $0 != country })
            let pushes = status.map(\.delivered).reduce(0, +)
            let pulled = status.map(\.recordsPulled).reduce(0, +)
            say("   \(country): \(counts.records) records (\(counts.withdrawn) withdrawn), \(counts.batches) batches received, "
                + "\(pushes) pushes delivered, \(pulled) records pulled, \(audit.count) audit entries (\(refusals) refusals)")
        }

        // The analyst's view: trace over what the NL node holds, written as a self-contained report.
        say("9. an analyst traces flows and networks over the NL node's store (fwx trace --config nl.yaml --html …)")
        var engine = TraceEngine()
        _ = try await engine.add(from: nodes["NL"]!.store)
        // Few records: a key shared by more than 20 of them (a common company or product name) links nothing.
        let result = engine.result(maxRecordsPerKey: 20)
        let page = TraceHTML.render(result, title: "FWX demo: what the NL node holds",
                                    generatedAt: ISOTime.timestamp(epochSeconds: Int(Date().timeIntervalSince1970)))
        try AtomicOutput.write(Array(page.utf8), to: reportPath)
        let top = result.routes.prefix(3).map { "\($0.label) (\($0.records))" }.joined(separator: ", ")
        check(result.totals.recordsMatched > 0 && !result.routes.isEmpty,
              "\(result.totals.recordsMatched) records traced: top routes \(top); \(result.clusterCount) clusters")
        say("   report: \(reportPath)")
        return failures
    }

    struct DemoRefusal: Error {
        var status: Int
        var message: String
    }

    /// Signs `batch` with the liaison key of `liaison` and submits it with the liaison's TLS certificate.
    func submit(_ batch: Batch, as liaison: String, to node: String) async throws -> Receipt {
        try await submit(signed: sign(batch, as: liaison), as: liaison, to: node)
    }

    func sign(_ batch: Batch, as liaison: String) throws -> [UInt8] {
        let identity = try SigningIdentity(keyFile: "\(pki)/\(liaison)/liaison.key.pem",
                                           certificateFile: "\(pki)/\(liaison)/liaison.pem")
        return try DocumentSigner(identity: identity).sign(Array(BatchXMLWriter.string(for: batch).utf8), name: "demo batch")
    }

    /// Submits a signed batch with the TLS certificate of `liaison`.
    func submit(signed: [UInt8], as liaison: String, to node: String) async throws -> Receipt {
        let batchIdentity = try ReceiptReader.batchIdentity(of: signed, name: "demo batch")
        let client = HTTPSClient(credentials: TLSClientCredentials(
            certificateFile: "\(pki)/\(liaison)/liaison.pem", keyFile: "\(pki)/\(liaison)/liaison.key.pem",
            caFile: "\(pki)/\(node)/ca.pem", pinnedPublicKey: nil))
        let exchange = PeerExchange(client: client, baseURL: "https://127.0.0.1:\(ports[node]!)",
                                    trust: TrustStore(certificates: try Certificate.load(pemFile: "\(pki)/\(node)/ca.pem")),
                                    expectedCountry: node)
        switch try await exchange.push(signed, batchId: batchIdentity.batchId, digest: batchIdentity.digest) {
        case .delivered(let receipt, _): return receipt
        case .refused(let status, let message): throw DemoRefusal(status: status, message: message)
        case .retry(let message): throw DemoRefusal(status: 0, message: message)
        }
    }

    func waitUntil(timeout: Double, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return try await condition()
    }

    static func describe(_ recipients: Recipients) -> String {
        switch recipients {
        case .allPartners: return "all partners"
        case .countries(let countries): return countries.joined(separator: ", ") + " only"
        }
    }

    // MARK: Set-up

    func makePKI() throws {
        guard let script = TestPKIScript.locate() else {
            throw FWXError(.io, "scripts/test-pki not found; set FWX_TEST_PKI to its path")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script, pki, "--countries", Self.countries.joined(separator: ",")]
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw FWXError(.io, "test-pki failed: \(String(decoding: message, as: UTF8.self))")
        }
    }

    /// The `store:` section of a node's configuration (indented for it).
    func storeSection(_ country: String) throws -> String {
        guard let postgres else { return "  sqlite: data/\(country.lowercased()).sqlite" }
        let database = "fwx_\(country.lowercased())"
        try postgres.createDatabase(database)
        return """
              postgres:
                url: "\(postgres.baseURL)\(database)?sslmode=disable"
                passwordFile: \(postgres.passwordFile)
                poolSize: 4
            """
    }

    func writeConfiguration(_ country: String) throws -> String {
        let peers = Self.countries.filter { $0 != country }.map { peer in
            """
              - country: \(peer)
                baseURL: https://127.0.0.1:\(ports[peer]!)
                ca: pki/\(peer)/ca.pem
                push: \(country != "DE")
                pullEverySeconds: 1
                handlingCodes: [\(Self.handling[country]![peer]!.joined(separator: ", "))]
            """
        }.joined(separator: "\n")
        let yaml = """
            # FWX demo node \(country) (generated by fwx demo; test-only credentials)
            node:
              country: \(country)
              agency: \(country)-FWX-NODE
              baseURL: https://127.0.0.1:\(ports[country]!)
            listen:
              host: 127.0.0.1
              port: \(ports[country]!)
            tls:
              certificate: pki/\(country)/node-tls.pem
              key: pki/\(country)/node-tls.key.pem
            signing:
              certificate: pki/\(country)/node-signing.pem
              key: pki/\(country)/node-signing.key.pem
            trust:
              directory: pki/trust
            store:
            \(try storeSection(country))
            outbox:
              maxAttempts: 10
              initialBackoffSeconds: 0.2
              maxBackoffSeconds: 5
            log:
              level: error
            peers:
            \(peers)

            """
        let path = "\(folder)/\(country.lowercased()).yaml"
        try FileManager.default.createDirectory(atPath: "\(folder)/data", withIntermediateDirectories: true)
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

/// Finds scripts/test-pki: $FWX_TEST_PKI, beside the installed binary, or in the source tree.
enum TestPKIScript {
    static func locate() -> String? { ProjectScript.locate("test-pki", environment: "FWX_TEST_PKI") }
}

/// A script of the project's scripts/ folder: from the environment variable, next to an installed binary
/// (../share/fwx/NAME) or in the source tree the binary was built from.
enum ProjectScript {
    static func locate(_ name: String, environment: String) -> String? {
        var candidates: [String] = []
        if let path = ProcessInfo.processInfo.environment[environment] { candidates.append(path) }
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        candidates.append(executable.appendingPathComponent("../share/fwx/\(name)").standardized.path)
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        candidates.append(source.appendingPathComponent("scripts/\(name)").path)
        return candidates.first { FileManager.default.isReadableFile(atPath: $0) }
    }
}

/// Where `fwx demo` keeps the nodes' stores.
enum DemoStore: String, ExpressibleByArgument, CaseIterable {
    case sqlite, postgres
}

/// The demo's throw-away PostgreSQL cluster (scripts/pg-cluster): started in the demo's folder on 127.0.0.1 and a
/// free port, a database per node, stopped when the demo ends.
struct DemoPostgres {
    let script: String
    let directory: String
    let baseURL: String
    var passwordFile: String { directory + "/password" }

    static func start(in directory: String) throws -> DemoPostgres {
        guard let script = ProjectScript.locate("pg-cluster", environment: "FWX_PG_CLUSTER") else {
            throw FWXError(.io, "scripts/pg-cluster not found; set FWX_PG_CLUSTER to its path")
        }
        let output = try run(script, ["start", directory], in: directory + ".log")
        let url = output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard url.hasPrefix("postgresql://") else {
            throw FWXError(.io, "scripts/pg-cluster start printed no URL")
        }
        return DemoPostgres(script: script, directory: directory, baseURL: url)
    }

    func createDatabase(_ name: String) throws {
        _ = try Self.run(script, ["createdb", directory, name], in: directory + ".log")
    }

    func stop() {
        _ = try? Self.run(script, ["stop", directory], in: directory + ".log")
    }

    /// Runs the script with its output in a file (the server it starts must not hold a pipe of ours open), and
    /// returns what it printed; a failure carries what it said on stderr (it names what is missing).
    private static func run(_ script: String, _ arguments: [String], in log: String) throws -> String {
        let outPath = log + ".out", errPath = log + ".err"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script] + arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        try process.run()
        process.waitUntilExit()
        let output = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else {
            let message = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
            throw FWXError(.io, "scripts/pg-cluster \(arguments[0]) failed: "
                + message.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return output
    }
}

/// A free TCP port on 127.0.0.1, found by binding port 0 and closing again.
enum FreePort {
    static func find() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw FWXError(.io, "cannot open a socket") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw FWXError(.io, "cannot bind a socket on 127.0.0.1") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

extension Record {
    /// The next revision of this record, withdrawn as erroneous.
    mutating func withdraw() {
        switch self {
        case .seizure(var record):
            record.revision += 1
            record.status = .withdrawn
            record.withdrawalReason = .erroneous
            record.shipmentLinks = record.shipmentLinks.map { RecordLink($0.recordId, external: true) }
            self = .seizure(record)
        case .shipment(var record):
            record.revision += 1
            record.status = .withdrawn
            record.withdrawalReason = .erroneous
            record.seizureLinks = record.seizureLinks.map { RecordLink($0.recordId, external: true) }
            self = .shipment(record)
        }
    }
}
