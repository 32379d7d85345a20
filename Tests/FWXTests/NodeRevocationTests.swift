import FWXClient
import FWXModel
import FWXNode
import FWXSigning
import Foundation
import Testing

/// CRLs published while a node runs: the node reads them again (trust.reloadCRLsEverySeconds) and refuses a
/// certificate revoked since it started, without a restart.
@Suite("Node revocation reload", .serialized)
struct NodeRevocationTests {
    /// A copy of the PKI's trust folder, and the `openssl ca` database of `country`'s CA copied beside it (so the
    /// shared test PKI is never changed), in `folder`.
    struct TrustCopy {
        let trustDirectory: String
        let caConfig: String

        init(pki: NodeTestPKI, country: String, in folder: String) throws {
            let manager = FileManager.default
            trustDirectory = folder + "/trust"
            try manager.copyItem(atPath: pki.trustDirectory, toPath: trustDirectory)
            let database = folder + "/ca-db-\(country)"
            let original = "\(pki.root)/\(country)/ca-db"
            try manager.copyItem(atPath: original, toPath: database)
            let config = try String(contentsOfFile: database + "/openssl.cnf", encoding: .utf8)
            caConfig = database + "/openssl.cnf"
            try config.replacingOccurrences(of: original + "/", with: database + "/")
                .write(toFile: caConfig, atomically: true, encoding: .utf8)
        }

        /// Revokes `certificate` in the copied database and writes the CA's new CRL over `crlFile` in the trust copy.
        func revoke(_ certificate: String, crlFile: String) throws {
            let revoke = try runProcess("/usr/bin/env", ["openssl", "ca", "-batch", "-config", caConfig, "-revoke",
                                                         certificate, "-crl_reason", "keyCompromise"])
            try #require(revoke.status == 0, "openssl ca -revoke: \(revoke)")
            let temporary = trustDirectory + "/.new-crl"
            let crl = try runProcess("/usr/bin/env", ["openssl", "ca", "-batch", "-config", caConfig, "-gencrl",
                                                      "-crldays", "30", "-out", temporary])
            try #require(crl.status == 0, "openssl ca -gencrl: \(crl)")
            // Renamed into place, as an operator's deployment should, so the node never reads half a file.
            try #require(rename(temporary, trustDirectory + "/" + crlFile) == 0)
        }
    }

    @Test("A peer certificate revoked while the node runs is refused at the next handshake, without a restart")
    func revokedWhileRunning() async throws {
        try await withNodeTestNetwork(["NL", "DE"]) { network in
            let copy = try TrustCopy(pki: network.pki, country: "DE", in: network.folder)
            var configuration = network.configuration("NL", peers: [NodeTestPeer(country: "DE")])
            configuration.trust = TrustSettings(directory: copy.trustDirectory, reloadCRLsEverySeconds: 0.2)
            let nl = try await network.start(configuration)
            let de = network.pki.node("DE")
            #expect(try await network.get("/healthz", as: de, to: "NL").status == 200)

            try copy.revoke(network.pki.certificate("DE", "node-tls"), crlFile: "DE-crl.pem")
            // Each call is a new connection, so a new handshake with the lists then in force.
            let refused = try await nodeTestEventually(seconds: 15) {
                do {
                    _ = try await network.get("/healthz", as: de, to: "NL")
                    return false
                } catch let error as HTTPSClientError {
                    return [.clientCertificateRefused, .tlsHandshakeFailed].contains(error.code)
                }
            }
            #expect(refused, "DE's revoked TLS certificate was still accepted")
            let audited = try await nodeTestEventually(seconds: 10) {
                try await nl.audit("refusal").contains { $0.callerCountry == "DE" && $0.detail?.contains("revoked") == true }
            }
            #expect(audited, "no audited refusal naming the revocation")
            // Others are still served.
            #expect(try await network.get("/healthz", as: network.pki.liaison("NL"), to: "NL").status == 200)
        }
    }

    @Test("Reloading CRLs: unchanged files change nothing; an unreadable, emptied or removed CRL keeps the lists in force")
    func reloadKeepsListsOnError() async throws {
        let pki = try await NodeTestPKI.shared()
        try withTemporaryDirectory { folder in
            let trust = folder.path + "/trust"
            try FileManager.default.copyItem(atPath: pki.trustDirectory, toPath: trust)
            let store = try TrustStore(directory: trust, files: [])
            let before = store.revocationLists.count
            #expect(before > 0)
            let copy = TrustStore(certificates: store.certificates, sharingRevocationListsOf: store)
            #expect(try store.reloadRevocationLists(directory: trust, files: []) == false)
            try Data("-----BEGIN X509 CRL-----\nnot base64 at all\n".utf8).write(to: URL(fileURLWithPath: trust + "/broken.crl"))
            #expect(throws: FWXError.self) { try store.reloadRevocationLists(directory: trust, files: []) }
            #expect(store.revocationLists.count == before && copy.revocationLists.count == before)
            try FileManager.default.removeItem(atPath: trust + "/broken.crl")
            // A CRL file emptied (or caught half-written between PEM blocks) or removed must not drop revocations.
            let crlFiles = try FileManager.default.contentsOfDirectory(atPath: trust).filter { $0.hasSuffix("-crl.pem") }
            let first = try #require(crlFiles.sorted().first)
            let saved = try Data(contentsOf: URL(fileURLWithPath: trust + "/" + first))
            try Data().write(to: URL(fileURLWithPath: trust + "/" + first))
            #expect(throws: FWXError.self) { try store.reloadRevocationLists(directory: trust, files: []) }
            try FileManager.default.removeItem(atPath: trust + "/" + first)
            #expect(throws: FWXError.self) { try store.reloadRevocationLists(directory: trust, files: []) }
            #expect(store.revocationLists.count == before && copy.revocationLists.count == before)
            // Put back, nothing changed; a copy sees what the original sees.
            try saved.write(to: URL(fileURLWithPath: trust + "/" + first))
            #expect(try store.reloadRevocationLists(directory: trust, files: []) == false)
            #expect(copy.revocationLists.map(ObjectIdentifier.init) == store.revocationLists.map(ObjectIdentifier.init))
        }
    }
}
