@testable import FWXClient
import FWXModel
@testable import FWXNode
import FWXSigning
import Foundation
import Testing

/// Revocation that fails closed, partner CAs that come and go without a restart, CRLs fetched from distribution
/// points, callers rechecked per request, and certificate roles: all through live mutual TLS on 127.0.0.1.
@Suite("Node trust", .serialized)
struct NodeTrustTests {
    typealias TrustCopy = NodeRevocationTests.TrustCopy

    /// Whether a fresh connection as `caller` is refused at the TLS level.
    static func refusedAtHandshake(_ network: NodeTestNetwork, _ caller: NodeTestCaller, to country: String) async throws
        -> Bool
    {
        do {
            _ = try await network.get("/healthz", as: caller, to: country)
            return false
        } catch let error as HTTPSClientError {
            return [.clientCertificateRefused, .tlsHandshakeFailed].contains(error.code)
        }
    }

    static func openssl(_ arguments: [String]) throws {
        let result = try runProcess("/usr/bin/env", ["openssl"] + arguments, timeout: 60)
        try #require(result.status == 0, "openssl \(arguments.joined(separator: " ")): \(result)")
    }

    @Test("A CA without a CRL stops the node at start-up, naming the CA and the key; allow-missing starts it")
    func missingCRLFailsClosed() async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            let copy = try TrustCopy(pki: network.pki, country: "DE", in: network.folder)
            try FileManager.default.removeItem(atPath: copy.trustDirectory + "/DE-crl.pem")
            var configuration = network.configuration("NL", peers: [NodeTestPeer(country: "DE")])
            configuration.trust = TrustSettings(directory: copy.trustDirectory)
            let fingerprint = try await network.pki.fingerprint(network.pki.ca("DE"))
            do {
                _ = try await network.start(configuration)
                Issue.record("the node started with a CA that has no CRL")
            } catch let error as ConfigurationError {
                #expect(error.key == "trust.revocation")
                #expect(error.problems.count == 1)
                #expect(error.message.contains("FWX Test CA DE") && error.message.contains(fingerprint), "\(error)")
            }
            configuration.trust.revocation = .allowMissing
            _ = try await network.start(configuration)
            #expect(try await network.get("/healthz", as: network.pki.node("DE"), to: "NL").status == 200)
        }
    }

    /// Replaces `crlFile` in the trust copy by a CRL of `copy`'s CA that was due for renewal in 2020.
    static func writeStaleCRL(_ copy: TrustCopy, over crlFile: String) throws {
        let path = copy.trustDirectory + "/" + crlFile
        try openssl(["ca", "-batch", "-config", copy.caConfig, "-gencrl", "-crl_lastupdate", "20200101000000Z",
                     "-crl_nextupdate", "20200201000000Z", "-out", path])
    }

    @Test("A CRL past its nextUpdate refuses its CA's certificates, or with staleCRL: warn is kept with a metric and an audit entry")
    func staleCRL() async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            let copy = try TrustCopy(pki: network.pki, country: "DE", in: network.folder)
            // DE's liaison is revoked on the stale list: its revocations must hold even when the list is kept.
            try Self.openssl(["ca", "-batch", "-config", copy.caConfig, "-revoke", network.pki.certificate("DE", "liaison")])
            try Self.writeStaleCRL(copy, over: "DE-crl.pem")
            var configuration = network.configuration("NL", peers: [NodeTestPeer(country: "DE")])
            configuration.trust = TrustSettings(directory: copy.trustDirectory, reloadCRLsEverySeconds: 0.2)
            let pki = network.pki

            let refusing = try await network.start(configuration)
            #expect(try await Self.refusedAtHandshake(network, pki.node("DE"), to: "NL"))
            let refusal = try await nodeTestEventually(seconds: 10) {
                try await refusing.audit("refusal", caller: "DE").contains {
                    $0.result == RuleID.callerCertificate && $0.detail?.contains("past its nextUpdate") == true
                }
            }
            #expect(refusal, "no audited refusal naming the stale CRL")
            #expect(try await nodeTestEventually(seconds: 10) {
                try await refusing.audit("crl-stale").contains { $0.result == "refusing" }
            })
            // NL's own liaison (its CA's CRL is current) is still served.
            #expect(try await network.get("/healthz", as: pki.liaison("NL"), to: "NL").status == 200)
            await refusing.stop()

            configuration.trust.staleCRL = .warn
            configuration.store = StoreSettings(sqlitePath: network.folder + "/nl-warn.sqlite")
            let warning = try await network.start(configuration)
            #expect(try await network.get("/healthz", as: pki.node("DE"), to: "NL").status == 200)
            let audited = try await nodeTestEventually(seconds: 10) {
                try await warning.audit("crl-stale").contains {
                    $0.result == "kept" && $0.target.contains("FWX Test CA DE") && $0.detail?.contains("2020-02-01") == true
                }
            }
            #expect(audited, "no audit entry for the stale CRL kept in force")
            let metrics = try await network.get("/metrics", as: pki.liaison("NL"), to: "NL").nodeTestText
            #expect(nodeTestMetric(metrics, "fwx_crls_stale") == 1, "\(metrics)")
            // A list kept in force still revokes.
            #expect(try await Self.refusedAtHandshake(network, pki.liaison("DE"), to: "NL"))
            #expect(try await nodeTestEventually(seconds: 10) {
                try await warning.audit("refusal", caller: "DE").contains { $0.detail?.contains("is revoked") == true }
            })
        }
    }

    @Test("A connection opened before a revocation is refused at its next request (403 FWX-N005, audited)")
    func revokedOnOpenConnection() async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            let copy = try TrustCopy(pki: network.pki, country: "DE", in: network.folder)
            var configuration = network.configuration("NL", peers: [NodeTestPeer(country: "DE")])
            configuration.trust = TrustSettings(directory: copy.trustDirectory, reloadCRLsEverySeconds: 0.2)
            let nl = try await network.start(configuration)
            let client = network.client(network.pki.node("DE"), to: "NL")
            let url = network.url("NL") + "/v1/feed?after=0&limit=1"
            let first = try await client.get(url)
            #expect(first.status == 200 && first.connectionsOpened == 1)

            try copy.revoke(network.pki.certificate("DE", "node-tls"), crlFile: "DE-crl.pem")
            #expect(try await nodeTestEventually(seconds: 10) {
                try await Self.refusedAtHandshake(network, network.pki.node("DE"), to: "NL")
            })
            let second = try await client.get(url)
            #expect(second.connectionsOpened == 0, "the request did not reuse the connection opened before the revocation")
            #expect(second.status == 403 && second.nodeTestError?.rule == RuleID.callerCertificate, "\(second.nodeTestText)")
            #expect(second.nodeTestText.contains("revoked"))
            #expect(try await nl.audit("refusal", caller: "DE").contains { $0.target == "request" && $0.result == "403 \(RuleID.callerCertificate)" })
        }
    }

    @Test("A partner CA added to the trust folder is trusted, and once removed refused, without a restart (both at the handshake and on an open connection)")
    func authoritiesFollowTheFolder() async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            let copy = try TrustCopy(pki: network.pki, country: "DE", in: network.folder)
            let deCA = copy.trustDirectory + "/DE-ca.pem"
            let saved = try Data(contentsOf: URL(fileURLWithPath: deCA))
            try FileManager.default.removeItem(atPath: deCA)
            var configuration = network.configuration("NL", peers: [NodeTestPeer(country: "DE")])
            configuration.trust = TrustSettings(directory: copy.trustDirectory, reloadCRLsEverySeconds: 0.2)
            let nl = try await network.start(configuration)
            let de = network.pki.node("DE")
            #expect(try await Self.refusedAtHandshake(network, de, to: "NL"), "DE was accepted before its CA was added")
            // Handshake refusals are audited in aggregates, written when their window (audit.refusalWindowSeconds) ends.
            #expect(try await nodeTestEventually(seconds: 10) {
                try await nl.audit("refusal", caller: "DE").contains {
                    $0.detail?.contains("no CA of the trust store") == true || $0.detail?.contains("not accepted") == true
                }
            })

            try saved.write(to: URL(fileURLWithPath: copy.trustDirectory + "/.new"))
            #expect(rename(copy.trustDirectory + "/.new", deCA) == 0)
            let accepted = try await nodeTestEventually(seconds: 10) {
                (try? await network.get("/healthz", as: de, to: "NL").status) == 200
            }
            #expect(accepted, "DE's CA added to the trust folder was not trusted without a restart")
            let client = network.client(de, to: "NL")
            #expect(try await client.get(network.url("NL") + "/healthz").status == 200)

            try FileManager.default.removeItem(atPath: deCA)
            #expect(try await nodeTestEventually(seconds: 10) { try await Self.refusedAtHandshake(network, de, to: "NL") },
                    "DE's CA removed from the trust folder was still trusted")
            let open = try await client.get(network.url("NL") + "/healthz")
            #expect(open.connectionsOpened == 0 && open.status == 403, "\(open.status) \(open.nodeTestText)")
            // Signatures follow too: a batch signed by DE's liaison no longer verifies at NL.
            #expect(nl.node.trustStore.certificates.allSatisfy { $0.country != "DE" })
        }
    }

    @Test("Certificate roles: liaisons may not pull or search, the node's own node certificate may not submit; roles settings allow it")
    func roles() async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            let pki = network.pki
            var configuration = network.configuration("NL", peers: [NodeTestPeer(country: "DE")])
            let nl = try await network.start(configuration)
            var source = try NodeTestRecords(sender: "NL", seed: 515)
            let signed = try pki.sign(source.batch(source.next(2), sequence: 1))

            for path in ["/v1/feed?after=0", "/v1/records/NL-SZ-2026-0000001", "/v1/search?plate=AB12CD"] {
                let response = try await network.get(path, as: pki.liaison("DE"), to: "NL")
                #expect(response.status == 403 && response.nodeTestError?.rule == RuleID.callerRole,
                        "\(path): \(response.status) \(response.nodeTestText)")
                #expect(try await network.get(path, as: pki.node("DE"), to: "NL").status != 403, "\(path) as DE's node")
            }
            let asNode = try await network.post(signed, as: pki.node("NL"), to: "NL")
            #expect(asNode.status == 403 && asNode.nodeTestError?.rule == RuleID.callerRole, "\(asNode.nodeTestText)")
            #expect(try await nl.store.counts(origin: nil).batches == 0)
            let refusals = try await nl.audit("refusal").filter { $0.result == "403 \(RuleID.callerRole)" }
            #expect(refusals.count == 4, "\(refusals)")
            #expect(try await network.post(signed, as: pki.liaison("NL"), to: "NL").status == 200)
            await nl.stop()

            configuration.roles = RoleSettings(liaisonsMayPull: true, nodesMaySubmit: true)
            configuration.store = StoreSettings(sqlitePath: network.folder + "/nl-roles.sqlite")
            _ = try await network.start(configuration)
            #expect(try await network.get("/v1/feed?after=0", as: pki.liaison("DE"), to: "NL").status == 200)
            #expect(try await network.post(signed, as: pki.node("NL"), to: "NL").status == 200)
        }
    }

    @Test("Roles come from the test PKI's certificate policies; without them, from the extended key usage")
    func rolesOfCertificates() async throws {
        let pki = try await NodeTestPKI.shared()
        #expect(try Certificate.load(pemFile: pki.certificate("NL", "node-tls"))[0].role == .node)
        #expect(try Certificate.load(pemFile: pki.certificate("NL", "liaison"))[0].role == .liaison)
        #expect(try Certificate.load(pemFile: pki.certificate("DE", "cross-country"))[0].role == .liaison)
        // No FWX policy: server-only has serverAuth (a node), node-signing has no extended key usage.
        #expect(try Certificate.load(pemFile: pki.certificate("NL", "server-only"))[0].role == .node)
        #expect(try Certificate.load(pemFile: pki.certificate("NL", "node-signing"))[0].role == .liaison)
    }

    @Test("The roles and trust keys are read from YAML and checked")
    func configurationKeys() async throws {
        let pki = try await NodeTestPKI.shared()
        try withTemporaryDirectory { folder in
            let yaml = """
                node: { country: NL, agency: NL-POLITIE, baseURL: https://127.0.0.1:8443 }
                listen: { host: 127.0.0.1, port: 8443 }
                tls: { certificate: \(pki.certificate("NL", "node-tls")), key: \(pki.key("NL", "node-tls")) }
                signing: { certificate: \(pki.certificate("NL", "node-signing")), key: \(pki.key("NL", "node-signing")) }
                trust: { directory: \(pki.trustDirectory), revocation: allow-missing, staleCRL: warn, fetchCRLsEverySeconds: 60 }
                store: { sqlite: \(folder.path)/nl.sqlite }
                roles: { liaisonsMayPull: true, nodesMaySubmit: false }
                """
            let configuration = try NodeConfiguration.parse(yaml: yaml, path: "nl.yaml", baseDirectory: folder.path)
            #expect(configuration.trust.revocation == .allowMissing && configuration.trust.staleCRL == .warn)
            #expect(configuration.trust.fetchCRLsEverySeconds == 60)
            #expect(configuration.roles == RoleSettings(liaisonsMayPull: true, nodesMaySubmit: false))
            let bad = yaml.replacingOccurrences(of: "allow-missing", with: "sometimes")
                .replacingOccurrences(of: "staleCRL: warn", with: "staleCRL: ignore")
            #expect {
                try NodeConfiguration.parse(yaml: bad, path: "nl.yaml", baseDirectory: folder.path)
            } throws: { error in
                let problems = (error as? ConfigurationError)?.problems ?? []
                return problems.map(\.key) == ["trust.revocation", "trust.staleCRL"]
                    && problems.allSatisfy { $0.code == .invalidValue }
            }
        }
    }
}


/// A child `python3 -m http.server` on 127.0.0.1 serving a folder (a CRL distribution point), or a server that
/// accepts connections and never answers.
final class LocalHTTPServer: @unchecked Sendable {
    // @unchecked Sendable: `process` is only started in init and terminated in stop(), from the test's task.
    let port: Int
    private let process: Process

    init(serving directory: String? = nil, silent: Bool = false) throws {
        port = try unusedLocalPort()
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        if silent {
            process.arguments = ["python3", "-c", """
                import socket, time
                s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", \(port))); s.listen(8)
                held = []
                while True:
                    c, _ = s.accept(); held.append(c)
                """]
        } else {
            process.arguments = ["python3", "-m", "http.server", String(port), "--bind", "127.0.0.1",
                                 "--directory", directory ?? "."]
        }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    var url: String { "http://127.0.0.1:\(port)" }

    /// Waits until the port accepts connections (at most 10 s).
    func waitUntilListening() async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            do {
                _ = try await CRLFetcher.fetch(url + "/", configuration: CRLFetchConfiguration(connectTimeout: 1, timeout: 0.5))
                return
            } catch let error as CRLFetchError where error.code != .transfer {
                return
            } catch {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        throw TestSupportError("the local HTTP server on \(port) did not start")
    }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
    deinit { stop() }
}

@Suite("CRL distribution points", .serialized)
struct CRLFetchTests {
    @Test("CRLFetcher: plain http allowed, other schemes refused, 404, size limit and timeout are errors")
    func fetcher() async throws {
        let pki = try await NodeTestPKI.shared()
        try await withTemporaryDirectoryAsync { folder in
            try FileManager.default.copyItem(atPath: pki.root + "/DE/crl.pem", toPath: folder + "/de.crl")
            try Data(repeating: 0x41, count: 300_000).write(to: URL(fileURLWithPath: folder + "/big.crl"))
            let server = try LocalHTTPServer(serving: folder)
            defer { server.stop() }
            try await server.waitUntilListening()
            let bytes = try await CRLFetcher.fetch(server.url + "/de.crl")
            #expect(RevocationList(bytes: bytes)?.issuerName.contains("FWX Test CA DE") == true)
            await #expect(throws: CRLFetchError(code: .httpStatus, message: "", url: "")) {
                try await CRLFetcher.fetch(server.url + "/none.crl")
            }
            await #expect(throws: CRLFetchError(code: .tooLarge, message: "", url: "")) {
                try await CRLFetcher.fetch(server.url + "/big.crl", configuration: CRLFetchConfiguration(maxBytes: 100_000))
            }
            await #expect(throws: CRLFetchError(code: .invalidURL, message: "", url: "")) {
                try await CRLFetcher.fetch("ftp://127.0.0.1/de.crl")
            }
            let silent = try LocalHTTPServer(silent: true)
            defer { silent.stop() }
            // Python may take longer than a fixed pause to listen on a busy machine.
            try await silent.waitUntilListening()
            let started = ContinuousClock.now
            await #expect(throws: CRLFetchError(code: .timedOut, message: "", url: "")) {
                try await CRLFetcher.fetch(silent.url + "/de.crl", configuration: CRLFetchConfiguration(timeout: 1))
            }
            #expect(ContinuousClock.now - started < .seconds(10))
        }
    }

    @Test("A node fetches CRLs from its callers' distribution points: bad, foreign or failed downloads change nothing, a newer CRL of the CA revokes on the open connection, and the last good list stays when the server goes away")
    func nodeFetchesFromDistributionPoints() async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            let served = network.folder + "/served"
            try FileManager.default.createDirectory(atPath: served + "/crl", withIntermediateDirectories: true)
            let server = try LocalHTTPServer(serving: served)
            defer { server.stop() }
            let root = network.folder + "/pki-crldp"
            let made = try runProcess(Paths.repo("scripts/test-pki"), [root, "--countries", "NL,DE",
                                                                       "--crl-url", server.url + "/crl"], timeout: 180)
            try #require(made.status == 0, "\(made)")
            try await server.waitUntilListening()
            let pki = NodeTestPKI(root: root)
            let copy = try NodeRevocationTests.TrustCopy(pki: pki, country: "DE", in: network.folder + "/copy")

            var configuration = network.configuration("NL", peers: [NodeTestPeer(country: "DE")])
            configuration.tls = CredentialFiles(certificate: pki.certificate("NL", "node-tls"), key: pki.key("NL", "node-tls"))
            configuration.signing = CredentialFiles(certificate: pki.certificate("NL", "node-signing"),
                                                    key: pki.key("NL", "node-signing"))
            configuration.trust = TrustSettings(directory: copy.trustDirectory, reloadCRLsEverySeconds: 3600,
                                                fetchCRLsEverySeconds: 0.2)
            configuration.peers[0].caFile = pki.ca("DE")
            let nl = try await network.start(configuration)
            let client = HTTPSClient(credentials: TLSClientCredentials(
                certificateFile: pki.certificate("DE", "node-tls"), keyFile: pki.key("DE", "node-tls"),
                caFile: pki.ca("NL")))
            let health = network.url("NL") + "/healthz"
            #expect(try await client.get(health).status == 200)
            #expect(try await nodeTestEventually(seconds: 10) {
                nl.node.trust.distributionPoints.contains(server.url + "/crl/DE-crl.pem")
            }, "the DE caller's distribution point was not learnt")
            let operatorClient = HTTPSClient(credentials: TLSClientCredentials(
                certificateFile: pki.certificate("NL", "liaison"), keyFile: pki.key("NL", "liaison"), caFile: pki.ca("NL")))
            func fetches(_ result: String) async throws -> Double {
                let text = try await operatorClient.get(network.url("NL") + "/metrics").nodeTestText
                return nodeTestMetric(text, "fwx_crl_fetches_total", label: "result=\"\(result)\"") ?? 0
            }
            let distributed = served + "/crl/DE-crl.pem"
            // 404, then not a CRL, then a CRL the rogue CA signed: nothing changes.
            #expect(try await nodeTestEventually(seconds: 10) { try await fetches("failed") >= 1 })
            try Data("not a CRL".utf8).write(to: URL(fileURLWithPath: distributed))
            #expect(try await nodeTestEventually(seconds: 10) { try await fetches("unreadable") >= 1 })
            try NodeTrustTests.openssl(["ca", "-batch", "-config", root + "/untrusted/ca-db/openssl.cnf", "-gencrl",
                                        "-crldays", "30", "-out", distributed])
            #expect(try await nodeTestEventually(seconds: 10) { try await fetches("untrusted") >= 1 })
            #expect(try await client.get(health).status == 200)

            // DE's CA revokes DE's node certificate and publishes the CRL at its distribution point only.
            try copy.revoke(pki.certificate("DE", "node-tls"), crlFile: "DE-crl.pem")
            try FileManager.default.moveItem(atPath: copy.trustDirectory + "/DE-crl.pem", toPath: distributed + ".new")
            try FileManager.default.copyItem(atPath: pki.root + "/DE/crl.pem", toPath: copy.trustDirectory + "/DE-crl.pem")
            #expect(rename(distributed + ".new", distributed) == 0)
            #expect(try await nodeTestEventually(seconds: 10) { try await fetches("accepted") >= 1 })
            let open = try await client.get(health)
            #expect(open.connectionsOpened == 0 && open.status == 403 && open.nodeTestText.contains("revoked"),
                    "\(open.status) \(open.nodeTestText)")

            // The server goes away: downloads fail, the fetched list stays in force.
            server.stop()
            let failedBefore = try await fetches("failed")
            #expect(try await nodeTestEventually(seconds: 10) { try await fetches("failed") > failedBefore })
            #expect(try await client.get(health).status == 403)
            // A reload of the folder (whose DE CRL is older) does not drop it either.
            nl.node.trust.reload()
            #expect(try await client.get(health).status == 403)
        }
    }
}

/// Creates a fresh temporary folder for an async body and removes it afterwards.
func withTemporaryDirectoryAsync<T>(_ body: (String) async throws -> T) async throws -> T {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fwx-tests-\(getpid())-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    return try await body(folder)
}
