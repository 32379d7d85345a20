import FWXClient
import FWXModel
@testable import FWXNode
import FWXSigning
import Foundation
import Testing

/// Signers bound to their country (FWX-G007): a document's signer must chain to a CA that speaks for its sender
/// country, as TLS binds callers. DE's CA issuing a certificate that names BE (`DE/cross-country.pem`) is the case
/// tried through `fwx sign`, `fwx verify`, `fwx receipt` and a live node.
@Suite("Signer country binding")
struct SignerCountryTests {
    /// An unsigned generated batch of `sender`, written to `folder`.
    static func unsignedBatch(sender: String, in folder: URL, seed: UInt64 = 31) throws -> String {
        var source = try NodeTestRecords(sender: sender, seed: seed)
        let batch = source.batch(source.next(3), sequence: 1)
        return try writeFile(folder, "\(sender.lowercased())-batch.xml", BatchXMLWriter.string(for: batch))
    }

    @Test("fwx sign refuses a batch of another country than its certificate's (exit 2), and writes nothing")
    func signRefusesOtherCountry() async throws {
        let pki = try await NodeTestPKI.shared()
        try withTemporaryDirectory { folder in
            let batch = try Self.unsignedBatch(sender: "BE", in: folder)
            let output = folder.path + "/signed.xml"
            let result = try runFWX(["sign", "--key", pki.key("NL", "liaison"), "--cert", pki.certificate("NL", "liaison"),
                                     batch, "-o", output])
            #expect(result.status == 2, "\(result)")
            #expect(result.stderr.contains("comes from BE") && result.stderr.contains("is for NL"), "\(result)")
            #expect(!FileManager.default.fileExists(atPath: output))
            let own = try runFWX(["sign", "--key", pki.key("BE", "liaison"), "--cert", pki.certificate("BE", "liaison"),
                                  batch, "-o", output])
            #expect(own.status == 0, "\(own)")
        }
    }

    @Test("fwx verify and fwx receipt: a signer from DE's CA naming BE is refused for a BE batch (FWX-G007), unless the trust folder maps DE's CA to BE")
    func verifyBindsSignerToCountryCA() async throws {
        let pki = try await NodeTestPKI.shared()
        let deCAFingerprint = try await pki.fingerprint(pki.ca("DE"))
        try withTemporaryDirectory { folder in
            let batch = try Self.unsignedBatch(sender: "BE", in: folder)
            let signed = folder.path + "/cross-signed.xml"
            // fwx sign only compares the certificate's subject C (BE) with the sender (BE): it signs.
            let sign = try runFWX(["sign", "--key", pki.key("DE", "cross-country"),
                                   "--cert", pki.certificate("DE", "cross-country"), batch, "-o", signed])
            try #require(sign.status == 0, "\(sign)")

            let verify = try runFWX(["verify", "--trust", pki.trustDirectory, signed])
            #expect(verify.status == 1, "\(verify)")
            #expect(verify.stdout.contains("error[\(RuleID.signerCountry)]"), "\(verify)")
            #expect(verify.stdout.contains("FWX Test CA DE") && verify.stdout.contains("speaks for DE, not for the sender country BE"),
                    "\(verify)")
            // The same batch signed by BE's own liaison verifies.
            let good = folder.path + "/good.xml"
            try #require(try runFWX(["sign", "--key", pki.key("BE", "liaison"), "--cert", pki.certificate("BE", "liaison"),
                                     batch, "-o", good]).status == 0)
            #expect(try runFWX(["verify", "--trust", pki.trustDirectory, good]).status == 0)

            // A receipt signed with the cross-country certificate names BE as receiving node: refused the same way.
            let receipt = folder.path + "/receipt.xml"
            let issued = try runFWX(["receipt", "--key", pki.key("DE", "cross-country"),
                                     "--cert", pki.certificate("DE", "cross-country"), "--trust", pki.trustDirectory,
                                     "--agency", "BE-FWX-TEST", good, "-o", receipt])
            try #require(issued.status == 0, "\(issued)")
            let receiptCheck = try runFWX(["verify", "--trust", pki.trustDirectory, receipt])
            #expect(receiptCheck.status == 1 && receiptCheck.stdout.contains("error[\(RuleID.signerCountry)]"), "\(receiptCheck)")

            // The trust folder's country mapping makes DE's CA speak for BE too (docs/signing.md).
            let trust = folder.path + "/trust"
            try FileManager.default.copyItem(atPath: pki.trustDirectory, toPath: trust)
            try "# DE's CA also issues for BE\n\(deCAFingerprint)  DE BE\n"
                .write(toFile: trust + "/" + TrustStore.countryMappingFile, atomically: true, encoding: .utf8)
            let mapped = try runFWX(["verify", "--trust", trust, signed])
            #expect(mapped.status == 0, "\(mapped)")

            // A mapping line for a CA the folder does not hold is an error naming the line.
            try "\(String(repeating: "ab", count: 32)) BE\n"
                .write(toFile: trust + "/" + TrustStore.countryMappingFile, atomically: true, encoding: .utf8)
            let typo = try runFWX(["verify", "--trust", trust, signed])
            #expect(typo.status == 2 && typo.stderr.contains("\(TrustStore.countryMappingFile):1"), "\(typo)")
        }
    }

    @Test("A live node refuses a BE batch whose signer chains to DE's CA (422 FWX-G007), the way its TLS refuses that certificate")
    func nodeBindsSignerToCountryCA() async throws {
        try await withNodeTestNetwork(["NL", "DE", "BE"]) { network in
            let pki = network.pki
            let nl = try await network.start(network.configuration("NL", peers: [NodeTestPeer(country: "DE"),
                                                                                 NodeTestPeer(country: "BE")]))
            var source = try NodeTestRecords(sender: "BE", seed: 77)
            let batch = source.batch(source.next(2), sequence: 1)
            let identity = try SigningIdentity(keyFile: pki.key("DE", "cross-country"),
                                               certificateFile: pki.certificate("DE", "cross-country"))
            let crossSigned = try DocumentSigner(identity: identity).sign(Array(BatchXMLWriter.string(for: batch).utf8),
                                                                          name: "cross")
            let refused = try await network.post(crossSigned, as: pki.node("BE"), to: "NL")
            #expect(refused.status == 422, "\(refused.nodeTestText)")
            #expect(refused.nodeTestText.contains(RuleID.signerCountry), "\(refused.nodeTestText)")
            #expect(try await nl.store.counts(origin: nil).batches == 0)
            // TLS refuses the same certificate as a caller for BE.
            let cross = NodeTestCaller(label: "DE/cross-country", certificate: pki.certificate("DE", "cross-country"),
                                       key: pki.key("DE", "cross-country"))
            #expect(try await NodeTrustTests.refusedAtHandshake(network, cross, to: "NL"))
            // BE's own liaison's signature is accepted from BE's node.
            #expect(try await network.post(try pki.sign(batch), as: pki.node("BE"), to: "NL").status == 200)
        }
    }
}
