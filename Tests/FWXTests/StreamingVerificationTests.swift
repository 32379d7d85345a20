// The streaming verifier (issue 15) against the tree verifier: the same findings (rule, message, line, xpath), the
// same verdict and the same document digest on every tampered, wrapped, misshapen and certificate case the
// signing tests know, plus xmlsec1's signatures, the InclusiveNamespaces fallback and a file on disk.
import FWXConvert
import FWXModel
import FWXSigning
import FWXXML
import Foundation
import Testing

/// Verifies `text` with the tree verifier and the streaming one; the two reports.
private func bothWays(_ text: String, with verifier: SignatureVerifier, name: String = "signed.xml") throws
    -> (tree: SignatureReport, stream: SignatureReport)
{
    let bytes = Array(text.utf8)
    return (try verifier.verify(bytes, name: name), try verifier.verifyStreaming(bytes, name: name))
}

/// What a finding says, without its severity: rule, message, file, line and xpath.
private func described(_ report: SignatureReport) -> [String] {
    report.findings.map { "\($0.rule) \($0.location.file):\($0.location.line) \($0.xpath) \($0.message)" }
}

/// Expects the streaming report to say exactly what the tree report says.
private func expectSame(_ tree: SignatureReport, _ stream: SignatureReport, _ name: String,
                        sourceLocation: Testing.SourceLocation = #_sourceLocation) {
    #expect(described(stream) == described(tree), "\(name)", sourceLocation: sourceLocation)
    #expect(stream.isValid == tree.isValid, "\(name)", sourceLocation: sourceLocation)
    #expect(stream.signer?.fingerprint == tree.signer?.fingerprint, "\(name)", sourceLocation: sourceLocation)
    #expect(stream.documentDigest == tree.documentDigest, "\(name)", sourceLocation: sourceLocation)
}

@Suite("XML signatures: the streaming verifier says what the tree verifier says")
struct StreamingVerificationTests {
    @Test("every tampered and wrapped document: the same findings, lines and verdict (EC and RSA)", arguments: ["ec", "rsa"])
    func tamperedAndWrapped(keyType: String) throws {
        let pki = try SigningPKI.of(keyType)
        let signed = try pki.sign(Sample.text)
        var cases = try signingTamperedAndWrapped(signed, pki: pki)
        let signature = try signingSignatureRange(signed)
        var moved = signed
        moved.removeSubrange(signature)
        cases.append(("signature first", try signingReplacingOnce(moved, "<Header>", String(signed[signature]) + "<Header>")))
        cases.append(("element after the signature", try signingReplacingOnce(signed, "</Signature>", "</Signature><Extra/>")))
        // A relative namespace name (found by the signature fuzz target): no canonical form, so after the form and
        // signer checks the digest cannot be computed (G001), in both; not a parse failure in the stream.
        cases.append(("relative namespace", try signingReplacingOnce(signed, #"<Batch xmlns="urn:fwx:schema:v1""#,
                                                                      #"<Batch xmlns="fwx/schema/v1""#)))
        // Under a prefixed root, the paths name it by prefix (/fwx:Batch/*[3]) rather than as "*".
        let prefixed = try pki.sign(try SignatureComputationDocument.prefixedWithUnusedNamespaces.text())
        cases.append(("prefixed root, changed", try SigningTamper.quantity.apply(to: prefixed, pki: pki)))
        cases.append(("prefixed root, two signatures", try SigningWrapping.secondSignature.apply(to: prefixed)))
        let verifier = try pki.verifier()
        for (name, text) in cases {
            let (tree, stream) = try bothWays(text, with: verifier)
            expectSame(tree, stream, name)
            #expect(stream.isValid == (name == "untouched"), "\(name): \(signingDescribe(stream))")
            if name == "relative namespace" { #expect(signingRules(stream) == [RuleID.signatureInvalid], "\(signingDescribe(stream))") }
            if name.hasPrefix("prefixed") { #expect(stream.findings.first?.xpath.hasPrefix("/fwx:Batch/") == true, "\(name)") }
        }
    }

    @Test("verified from the validating parse's own events (the node's one pass): the same report as the separate stream",
          arguments: ["ec", "rsa"])
    func fromTheValidatingParse(keyType: String) throws {
        let pki = try SigningPKI.of(keyType)
        var cases = try signingTamperedAndWrapped(try pki.sign(Sample.text), pki: pki)
        cases.append(("generated", try pki.sign(try Generated.batch(records: 600, seed: 5).xml)))
        cases.append(("expired signer", try pki.sign(Sample.text, as: pki.keyType == "ec" ? "expired" : "node-signing")))
        var verifier = try pki.verifier()
        verifier.computesDigest = true
        var compared = 0
        for (name, text) in cases {
            let bytes = Array(text.utf8)
            let pass = verifier.signaturePass()
            let tap = pass.tap()
            var records = 0
            let content = try ValidatingBatchReader().read(ByteSource(bytes: bytes, name: "signed.xml"), canonicalTap: tap,
                                                           header: { _ in }, record: { _ in records += 1 })
            // As the node does: a document the parser refused has no signature report worth comparing.
            guard !content.findings.contains(where: { $0.rule.hasPrefix("FWX-P") }) else { continue }
            compared += 1
            let tapped = try verifier.verify(tapped: tap, pass: pass, name: "signed.xml") { bytes }
            let separate = try verifier.verifyStreaming(bytes, name: "signed.xml")
            expectSame(separate, tapped, name)
            #expect(records > 0, "\(name)")
        }
        #expect(compared >= cases.count - 2, "only \(compared) of \(cases.count) cases parsed")
    }

    @Test("both digests of every shape (prefixed root, trailing comment, instructions and text after the signature)",
          arguments: ["ec", "rsa"])
    func documentDigests(keyType: String) throws {
        let pki = try SigningPKI.of(keyType)
        let sample = try pki.sign(Sample.text)
        var documents: [(String, String)] = []
        for shape in SignatureComputationDocument.allCases { documents.append((shape.rawValue, try pki.sign(try shape.text()))) }
        documents.append(("instruction after the signature", try signingReplacingOnce(sample, "</Signature>", "</Signature><?fwx-note late?>")))
        documents.append(("instruction after the root", sample + "<?fwx-note after?>\n"))
        documents.append(("text after the signature", try signingReplacingOnce(sample, "</Signature>", "</Signature> a &gt; b &amp; c ")))
        documents.append(("a generated batch", try pki.sign(try Generated.batch(records: 40, seed: 15).xml)))
        for tamper in SigningTamper.allCases { documents.append((tamper.rawValue, try tamper.apply(to: sample, pki: pki))) }
        var verifier = try pki.verifier()
        verifier.computesDigest = true
        for (name, text) in documents {
            let (tree, stream) = try bothWays(text, with: verifier)
            #expect(stream.documentDigest != nil, "\(name)")
            expectSame(tree, stream, name)
        }
    }

    @Test("the signer's certificate: expired, not yet valid, revoked, wrong usage, the CA's key, a rogue CA, another country")
    func certificates() throws {
        let pki = try SigningPKI.ec()
        let batch = try Generated.batch(records: 5, seed: 7).xml
        var cases: [(String, String)] = []
        for name in ["expired", "not-yet-valid", "revoked", "wrong-usage", "ca"] {
            cases.append((name, try pki.sign(batch, as: name)))
        }
        cases.append(("DE signs an NL batch", try pki.sign(batch, country: "DE")))
        let rogue = try SigningIdentity(keyFile: pki.rogueKey, certificateFile: pki.rogueCert)
        cases.append(("rogue CA", String(decoding: try DocumentSigner(identity: rogue).sign(Array(batch.utf8), name: "b"),
                                         as: UTF8.self)))
        let verifier = try pki.verifier()
        for (name, text) in cases {
            let (tree, stream) = try bothWays(text, with: verifier)
            #expect(!tree.isValid, "\(name): \(signingDescribe(tree))")
            expectSame(tree, stream, name)
        }
        // Checked four years from now, a good certificate has expired (G004) in both.
        let later = try pki.verifier(now: Date().timeIntervalSince1970 + 4 * 365 * 86_400)
        let (tree, stream) = try bothWays(try pki.sign(batch), with: later)
        #expect(signingRules(stream) == [RuleID.certificateValidity], "\(signingDescribe(stream))")
        expectSame(tree, stream, "checked later")
    }

    @Test("xmlsec1's signatures (ECDSA and RSA) verify streaming, and a changed record fails", arguments: ["ec", "rsa"])
    func xmlsec1Signatures(keyType: String) throws {
        let pki = try SigningPKI.of(keyType)
        let method = keyType == "rsa" ? "rsa-sha256" : "ecdsa-sha256"
        let signed = try signingXmlsec1Sign(Sample.text, template: signingTemplate(method: method),
                                            key: pki.key("NL", "node-signing"), cert: pki.cert("NL", "node-signing"))
        let verifier = try pki.verifier()
        let report = try verifier.verifyStreaming(Array(signed.utf8), name: "xmlsec1.xml")
        #expect(report.findings.isEmpty, "\(signingDescribe(report))")
        let changed = try SigningTamper.quantity.apply(to: signed, pki: pki)
        let (tree, stream) = try bothWays(changed, with: verifier)
        #expect(signingRules(stream) == [RuleID.signatureInvalid], "\(signingDescribe(stream))")
        expectSame(tree, stream, "changed quantity")
    }

    @Test("an InclusiveNamespaces prefix list is verified through the tree, with the same verdicts")
    func prefixListFallsBack() throws {
        let pki = try SigningPKI.ec()
        let signed = try signingWithPrefixList(pki)
        let verifier = try pki.verifier()
        #expect(try verifier.verifyStreaming(Array(signed.utf8), name: "kept.xml").findings.isEmpty)
        // The kept declaration is signed: without the fallback the streamed digest (which drops it) would differ
        // from the signed one for the untouched document, and agree for none of the changed ones.
        let changed = try signingReplacingOnce(signed, "urn:example:kept", "urn:example:changed")
        let (tree, stream) = try bothWays(changed, with: verifier)
        #expect(signingRules(stream) == [RuleID.signatureInvalid])
        expectSame(tree, stream, "changed kept namespace")
    }

    @Test("a document that is not well-formed, or carries a DOCTYPE, is refused with the parser's rule and place")
    func notWellFormed() throws {
        let pki = try SigningPKI.ec()
        let signed = try pki.sign(Sample.text)
        let verifier = try pki.verifier()
        let truncated = String(signed.prefix(signed.count - 40))
        let doctype = try signingReplacingOnce(signed, "<Batch ", "<!DOCTYPE Batch [<!ENTITY e \"x\">]>\n<Batch ")
        for (name, text) in [("truncated", truncated), ("doctype", doctype)] {
            let (tree, stream) = try bothWays(text, with: verifier)
            #expect(!stream.isValid, "\(name)")
            #expect(stream.findings.count == 1, "\(name): \(signingDescribe(stream))")
            #expect(signingRules(stream) == signingRules(tree), "\(name): \(signingDescribe(stream)) / \(signingDescribe(tree))")
            #expect((stream.findings.first?.location.line ?? 0) > 0, "\(name)")
        }
    }

    @Test("verify(file:) reads a signed batch from disk in one pass: valid, and a changed copy fails with the same line")
    func fromFile() throws {
        let pki = try SigningPKI.ec()
        let signed = try pki.sign(try Generated.batch(records: 300, seed: 21).xml)
        let verifier = try pki.verifier()
        try withTemporaryDirectory { folder in
            let good = try writeFile(folder, "good.xml", signed)
            #expect(try verifier.verify(file: good).findings.isEmpty)
            let changed = signed.replacingOccurrences(of: "<Revision>1</Revision>", with: "<Revision>2</Revision>")
            try #require(changed != signed)
            let bad = try writeFile(folder, "bad.xml", changed)
            let stream = try verifier.verify(file: bad)
            let tree = try verifier.verify(Array(changed.utf8), name: bad)
            #expect(signingRules(stream) == [RuleID.signatureInvalid], "\(signingDescribe(stream))")
            expectSame(tree, stream, "changed revision")
            #expect(throws: FWXError.self) { try verifier.verify(file: folder.appendingPathComponent("missing.xml").path) }
        }
    }
}
