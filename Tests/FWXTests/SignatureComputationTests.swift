import FWXModel
import FWXSigning
import Foundation
import Testing

/// Documents that exercise what exclusive C14N of "the whole document minus the signature" must get right: the
/// sample, the sample with a prefixed root and namespace declarations nobody uses, and one with a comment, a
/// processing instruction and whitespace after the root element.
enum SignatureComputationDocument: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sample, prefixedWithUnusedNamespaces, trailingCommentAndInstruction

    var testDescription: String { rawValue }

    func text() throws -> String {
        switch self {
        case .sample:
            return Sample.text
        case .prefixedWithUnusedNamespaces:
            var text = Sample.text.replacingOccurrences(of: "<Batch xmlns=\"urn:fwx:schema:v1\"",
                with: "<fwx:Batch xmlns:fwx=\"urn:fwx:schema:v1\" xmlns:unused=\"urn:example:unused\" xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"")
            text = text.replacingOccurrences(of: "</Batch>", with: "</fwx:Batch>")
            // Every other element keeps the default namespace, which is now undeclared: declare it on Header and
            // Records so that they stay FWX elements under a prefixed root.
            text = try signingReplacingOnce(text, "<Header>", "<Header xmlns=\"urn:fwx:schema:v1\">")
            return try signingReplacingOnce(text, "<Records>", "<Records xmlns=\"urn:fwx:schema:v1\">")
        case .trailingCommentAndInstruction:
            return Sample.text.trimmingCharacters(in: .whitespacesAndNewlines)
                + "\n<!-- after the root -->\n<?fwx-note checked?>\n"
        }
    }
}

@Suite("XML signatures: the direct computation against xmlsec's generic processing")
struct SignatureComputationTests {
    private func signer(_ pki: SigningPKI, _ computation: SignatureComputation) throws -> DocumentSigner {
        var signer = DocumentSigner(identity: try pki.identity())
        signer.computation = computation
        return signer
    }

    private func verifier(_ pki: SigningPKI, _ computation: SignatureComputation) throws -> SignatureVerifier {
        var verifier = try pki.verifier()
        verifier.computation = computation
        return verifier
    }

    @Test("RSA signatures (deterministic) made directly are byte for byte those of xmlSecDSigCtxSign",
          arguments: SignatureComputationDocument.allCases)
    func rsaSameBytes(document: SignatureComputationDocument) throws {
        let pki = try SigningPKI.rsa()
        let input = Array(try document.text().utf8)
        let direct = try signer(pki, .direct).sign(input, name: "batch.xml")
        let generic = try signer(pki, .xmlsecDSig).sign(input, name: "batch.xml")
        #expect(direct == generic, "\(String(decoding: direct.suffix(1500), as: UTF8.self))")
        #expect(String(decoding: direct, as: UTF8.self).contains("<X509Certificate>"))
    }

    @Test("ECDSA signatures made either way verify either way, and with xmlsec1",
          arguments: SignatureComputationDocument.allCases)
    func ecdsaCrossVerified(document: SignatureComputationDocument) throws {
        let pki = try SigningPKI.ec()
        let input = Array(try document.text().utf8)
        for made in [SignatureComputation.direct, .xmlsecDSig] {
            let signed = try signer(pki, made).sign(input, name: "batch.xml")
            for checked in [SignatureComputation.direct, .xmlsecDSig] {
                let report = try verifier(pki, checked).verify(signed, name: "signed.xml")
                #expect(report.findings.isEmpty, "made \(made), checked \(checked): \(signingDescribe(report))")
            }
            let xmlsec1 = try signingXmlsec1Verify(String(decoding: signed, as: UTF8.self), trustedCA: pki.ca("NL"))
            #expect(xmlsec1.status == 0, "made \(made): \(xmlsec1)")
        }
    }

    @Test("every tampered document gets the same rules from both computations (EC and RSA)", arguments: ["ec", "rsa"])
    func tamperedSameVerdict(keyType: String) throws {
        let pki = try SigningPKI.of(keyType)
        let signed = try pki.sign(Sample.text)
        for (name, text) in try signingTamperedAndWrapped(signed, pki: pki) {
            let direct = try signingVerify(text, with: try verifier(pki, .direct))
            let generic = try signingVerify(text, with: try verifier(pki, .xmlsecDSig))
            #expect(signingRules(direct) == signingRules(generic),
                    "\(name): direct \(signingDescribe(direct)) / xmlsec \(signingDescribe(generic))")
            #expect(direct.isValid == (name == "untouched"), "\(name): \(signingDescribe(direct))")
        }
    }

    @Test("a signature whose transform carries an InclusiveNamespaces prefix list goes through xmlsec's processing")
    func prefixListUsesGenericProcessing() throws {
        let pki = try SigningPKI.ec()
        let signed = try signingWithPrefixList(pki)
        let report = try signingVerify(signed, with: try verifier(pki, .direct))
        #expect(report.findings.isEmpty, "\(signingDescribe(report))")
        // The kept declaration is signed: changing it breaks the signature, in both computations.
        let changed = try signingReplacingOnce(signed, "urn:example:kept", "urn:example:changed")
        for computation in [SignatureComputation.direct, .xmlsecDSig] {
            #expect(signingRules(try signingVerify(changed, with: try verifier(pki, computation))) == [RuleID.signatureInvalid])
        }
    }

    @Test("the ds:Signature holds SignedInfo, SignatureValue and KeyInfo in that order and nothing else (G002)")
    func signatureChildrenInOrder() throws {
        let pki = try SigningPKI.ec()
        let signed = try pki.sign(Sample.text)
        guard let valueStart = signed.range(of: "<SignatureValue>"),
              let valueEnd = signed.range(of: "</SignatureValue>") else { throw TestSupportError("no SignatureValue") }
        let value = String(signed[valueStart.lowerBound..<valueEnd.upperBound])
        var swapped = signed
        swapped.removeSubrange(valueStart.lowerBound..<valueEnd.upperBound)
        swapped = try signingReplacingOnce(swapped, "<SignedInfo>", value + "<SignedInfo>")
        let withObject = try signingReplacingOnce(signed, "</KeyInfo>", "</KeyInfo><Object>unsigned</Object>")
        let doubledDigest = try signingReplacingOnce(signed, "</Reference>", "<DigestValue>AAAA</DigestValue></Reference>")
        for (name, text) in [("SignatureValue first", swapped), ("Object", withObject), ("two DigestValues", doubledDigest)] {
            let report = try signingVerify(text, with: try pki.verifier())
            #expect(signingRules(report) == [RuleID.signatureForm], "\(name): \(signingDescribe(report))")
        }
    }
}

@Suite("XML signatures: both digests of a received batch from one canonicalisation")
struct SignatureDigestTests {
    @Test("the direct verifier's document digest and verdict equal xmlsec's way (two separate passes), on every shape",
          arguments: ["ec", "rsa"])
    func sameDigests(keyType: String) throws {
        let pki = try SigningPKI.of(keyType)
        var documents: [(String, String)] = []
        for shape in SignatureComputationDocument.allCases {
            documents.append((shape.rawValue, try pki.sign(try shape.text())))
        }
        let sample = try pki.sign(Sample.text)
        documents.append(("processing instruction inside the root after the signature",
                          try signingReplacingOnce(sample, "</Signature>", "</Signature><?fwx-note late?>")))
        documents.append(("processing instruction after the root", sample + "<?fwx-note after?>\n"))
        documents.append(("text with > and & after the signature", try signingReplacingOnce(sample, "</Signature>", "</Signature> a &gt; b &amp; c ")))
        for tamper in SigningTamper.allCases { documents.append((tamper.rawValue, try tamper.apply(to: sample, pki: pki))) }
        for (name, text) in documents {
            var direct = try pki.verifier()
            direct.computesDigest = true
            var generic = direct
            generic.computation = .xmlsecDSig
            let fast = try signingVerify(text, with: direct), reference = try signingVerify(text, with: generic)
            #expect(fast.documentDigest != nil, "\(name)")
            #expect(fast.documentDigest == reference.documentDigest, "\(name)")
            #expect(signingRules(fast) == signingRules(reference), "\(name): \(signingDescribe(fast)) / \(signingDescribe(reference))")
        }
    }
}

/// The sample signed by xmlsec1 with an InclusiveNamespaces prefix list: the root declares a prefix that nothing
/// uses; the list makes exclusive C14N keep it, so the digest covers that declaration, which plain exclusive C14N
/// would drop. (Its URI is urn:example:kept.)
func signingWithPrefixList(_ pki: SigningPKI) throws -> String {
    let batch = try signingReplacingOnce(Sample.text, #"<Batch xmlns="urn:fwx:schema:v1""#,
                                         #"<Batch xmlns="urn:fwx:schema:v1" xmlns:kept="urn:example:kept""#)
    let transforms = #"<Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>"#
        + #"<Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#">"#
        + #"<InclusiveNamespaces xmlns="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="kept"/></Transform>"#
    return try signingXmlsec1Sign(batch, template: signingTemplate(method: "ecdsa-sha256", transforms: transforms),
                                  key: pki.key("NL", "node-signing"), cert: pki.cert("NL", "node-signing"))
}

/// The signed document untouched ("untouched"), with every tamper and with every wrapping that applies to its key
/// type: (name, text) pairs.
func signingTamperedAndWrapped(_ signed: String, pki: SigningPKI) throws -> [(String, String)] {
    var cases: [(String, String)] = [("untouched", signed)]
    for tamper in SigningTamper.allCases { cases.append((tamper.rawValue, try tamper.apply(to: signed, pki: pki))) }
    // The SHA-1 signature-method edit names the ECDSA algorithm, so it applies to EC signatures only.
    for wrapping in SigningWrapping.allCases where pki.keyType == "ec" || wrapping != .sha1SignatureMethod {
        cases.append((wrapping.rawValue, try wrapping.apply(to: signed)))
    }
    return cases
}
