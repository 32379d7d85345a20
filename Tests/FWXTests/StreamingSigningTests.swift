// The streaming signer (issue 15) against the tree signer: RSA signatures (deterministic) are byte for byte the
// tree signer's document, ECDSA ones verify in the tree verifier, the streaming verifier and xmlsec1; what it
// cannot place a signature in falls back to the tree; refusals are the tree signer's.
import FWXModel
import FWXSigning
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Signs `text` as NL's node through `DocumentSigner.sign(file:writingTo:)`, file to file; the signed text.
private func signedThroughFiles(_ text: String, pki: SigningPKI, country: String = "NL") throws -> String {
    let signer = DocumentSigner(identity: try pki.identity(country))
    return try withTemporaryDirectory { folder in
        let input = try writeFile(folder, "batch.xml", text)
        let output = folder.appendingPathComponent("signed.xml").path
        let descriptor = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        try signer.sign(file: input, writingTo: descriptor)
        return try String(contentsOfFile: output, encoding: .utf8)
    }
}

@Suite("XML signatures: the streaming signer makes the tree signer's document")
struct StreamingSigningTests {
    @Test("RSA: the streamed document is byte for byte the tree signer's (sample, prefixed root, generated batches)")
    func rsaSameBytes() throws {
        let pki = try SigningPKI.rsa()
        var documents = [("sample", Sample.text),
                         ("prefixed root", try SignatureComputationDocument.prefixedWithUnusedNamespaces.text())]
        for seed in [1, 2, 3] { documents.append(("seed \(seed)", try Generated.batch(records: 25, seed: UInt64(seed)).xml)) }
        let signer = DocumentSigner(identity: try pki.identity())
        for (name, text) in documents {
            let tree = String(decoding: try signer.sign(Array(text.utf8), name: "batch.xml"), as: UTF8.self)
            let streamed = try #require(try signer.streamedSignature(Array(text.utf8), name: "batch.xml"), "\(name)")
            #expect(streamed.senderCountry == "NL", "\(name)")
            let viaFiles = try signedThroughFiles(text, pki: pki)
            #expect(viaFiles == tree, "\(name): \(viaFiles.suffix(300)) / \(tree.suffix(300))")
        }
    }

    @Test("ECDSA: the streamed document verifies in the tree verifier, the streaming verifier and xmlsec1; a change fails")
    func ecdsaVerifiesEverywhere() throws {
        let pki = try SigningPKI.ec()
        let signed = try signedThroughFiles(try Generated.batch(records: 200, seed: 9).xml, pki: pki)
        let verifier = try pki.verifier()
        #expect(try signingVerify(signed, with: verifier).findings.isEmpty)
        #expect(try verifier.verifyStreaming(Array(signed.utf8), name: "signed.xml").findings.isEmpty)
        let xmlsec1 = try signingXmlsec1Verify(signed, trustedCA: pki.ca("NL"))
        #expect(xmlsec1.status == 0, "\(xmlsec1)")
        let changed = signed.replacingOccurrences(of: "<Revision>1</Revision>", with: "<Revision>3</Revision>")
        try #require(changed != signed)
        #expect(signingRules(try signingVerify(changed, with: verifier)) == [RuleID.signatureInvalid])
    }

    @Test("a comment after the root: no streamed placement (nil), and sign(file:) signs it through the tree")
    func trailingCommentFallsBack() throws {
        let pki = try SigningPKI.ec()
        let text = try SignatureComputationDocument.trailingCommentAndInstruction.text()
        let signer = DocumentSigner(identity: try pki.identity())
        #expect(try signer.streamedSignature(Array(text.utf8), name: "batch.xml") == nil)
        let signed = try signedThroughFiles(text, pki: pki)
        #expect(signed.contains("<!-- after the root -->"))
        #expect(try signingVerify(signed, with: try pki.verifier()).findings.isEmpty)
    }

    @Test("refusals are the tree signer's: already signed (usage), not well-formed and DOCTYPE (with the rule id)")
    func refusals() throws {
        let pki = try SigningPKI.ec()
        let signer = DocumentSigner(identity: try pki.identity())
        let signed = try pki.sign(Sample.text)
        let truncated = String(Sample.text.prefix(Sample.text.count - 30))
        let doctype = try signingReplacingOnce(Sample.text, "<Batch ", "<!DOCTYPE Batch [<!ENTITY e \"x\">]>\n<Batch ")
        for (name, text) in [("already signed", signed), ("truncated", truncated), ("doctype", doctype)] {
            let bytes = Array(text.utf8)
            let tree = #expect(throws: FWXError.self, "\(name)") { try signer.sign(bytes, name: "b.xml") }
            let streamed = #expect(throws: FWXError.self, "\(name)") { try signer.streamedSignature(bytes, name: "b.xml") }
            #expect(streamed?.code == tree?.code, "\(name)")
            #expect(streamed?.message == tree?.message, "\(name): \(String(describing: streamed)) / \(String(describing: tree))")
        }
    }

    @Test("a DE certificate on an NL batch: the streamed sender country gives the same refusal as the tree")
    func senderCountry() throws {
        let pki = try SigningPKI.ec()
        let batch = try Generated.batch(records: 5, seed: 7).xml
        let identity = try pki.identity("DE")
        let streamed = try #require(try DocumentSigner(identity: identity).streamedSignature(Array(batch.utf8), name: "b.xml"))
        let problem = identity.senderCountryProblem(sender: streamed.senderCountry, name: "b.xml")
        #expect(problem != nil)
        #expect(problem == (try identity.senderCountryProblem(in: Array(batch.utf8), name: "b.xml")))
    }

    @Test("fwx sign streams: its output verifies with xmlsec1 and fwx verify (an invalid batch: SigningTests signInvalidBatch)")
    func command() throws {
        let pki = try SigningPKI.ec()
        try withTemporaryDirectory { folder in
            let input = try writeFile(folder, "batch.xml", try Generated.batch(records: 500, seed: 4).xml)
            let output = folder.appendingPathComponent("signed.xml").path
            let signed = try runFWX(["sign", "--key", pki.key("NL", "node-signing"), "--cert", pki.cert("NL", "node-signing"),
                                     input, "-o", output])
            #expect(signed.status == 0, "\(signed)")
            let text = try String(contentsOfFile: output, encoding: .utf8)
            #expect(try signingXmlsec1Verify(text, trustedCA: pki.ca("NL")).status == 0)
            let verified = try runFWX(["verify", "--trust", pki.trust, output])
            #expect(verified.status == 0, "\(verified)")
        }
    }
}
