// XML signatures: signing and verifying batches with FWX, interoperability with xmlsec1 in both directions,
// tampering, signature wrapping, the signer's certificate (validity, revocation, trust, usage, country), and the
// `fwx sign` / `fwx verify` commands. The test PKI (scripts/test-pki) is made once per test run; see `SigningPKI`.
import FWXModel
import FWXSigning
import FWXXML
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Shared helpers for the signing and receipt tests (used by ReceiptTests.swift too)

/// Scratch folder of this test process for the test PKIs; removed when the process exits.
private let signingScratchRoot: String = {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("fwx-signing-tests-\(getpid())-\(UUID().uuidString)", isDirectory: true).path
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    atexit { signingRemoveScratchRoot() }
    return path
}()

private func signingRemoveScratchRoot() {
    try? FileManager.default.removeItem(atPath: signingScratchRoot)
}

/// A test PKI made by scripts/test-pki (docs/test-pki.md), once per test run and key type.
struct SigningPKI: Sendable {
    let root: String
    let keyType: String
    let countries: [String]

    /// EC P-256, countries NL, DE, BE. Also has `trust-intermediate-revoked/`: the trust folder with an NL root CRL
    /// that revokes NL's intermediate CA, and `trust-short-lived-crl/` (see `trustWithShortLivedCRL`).
    static func ec() throws -> SigningPKI { try ecResult.get() }
    /// RSA 2048, country NL only (RSA key generation is slow).
    static func rsa() throws -> SigningPKI { try rsaResult.get() }
    static func of(_ keyType: String) throws -> SigningPKI { keyType == "rsa" ? try rsa() : try ec() }

    // `static let` is initialised once, thread-safely, on first use; parallel tests wait for the one generation.
    private static let ecResult: Result<SigningPKI, any Error> = Result {
        let pki = try generate(keyType: "ec", countries: ["NL", "DE", "BE"])
        try pki.makeTrustWithRevokedIntermediate()
        return pki
    }
    private static let rsaResult: Result<SigningPKI, any Error> = Result {
        try generate(keyType: "rsa", countries: ["NL"])
    }

    private static func generate(keyType: String, countries: [String]) throws -> SigningPKI {
        let root = signingScratchRoot + "/pki-" + keyType
        let result = try runProcess(Paths.repo("scripts/test-pki"),
                                    [root, "--countries", countries.joined(separator: ","), "--key-type", keyType],
                                    timeout: 180)
        guard result.status == 0, !result.timedOut else {
            throw TestSupportError("scripts/test-pki \(root) --key-type \(keyType) failed: \(result)")
        }
        return SigningPKI(root: root, keyType: keyType, countries: countries)
    }

    /// Revokes NL's intermediate CA in the NL root CA's database and writes a copy of trust/ whose NL root CRL
    /// lists it (trust/ itself is left as it was).
    private func makeTrustWithRevokedIntermediate() throws {
        let folder = root + "/trust-intermediate-revoked"
        let config = root + "/NL/ca-db/openssl.cnf"
        let script = """
            set -e
            mkdir -p "$1" "$5"
            cp "$2"/*.pem "$1"/
            cp "$2"/*.pem "$5"/
            openssl ca -batch -config "$3" -gencrl -crlhours 1 -out "$5/NL-crl.pem"
            openssl ca -batch -config "$3" -revoke "$4" -crl_reason cACompromise
            openssl ca -batch -config "$3" -gencrl -crldays 3650 -out "$1/NL-crl.pem"
            """
        let result = try runProcess("/bin/sh", ["-c", script, "sh", folder, trust, config, cert("NL", "intermediate"),
                                                trustWithShortLivedCRL])
        guard result.status == 0 else { throw TestSupportError("could not revoke NL's intermediate CA: \(result)") }
    }

    func cert(_ country: String, _ name: String) -> String { "\(root)/\(country)/\(name).pem" }
    func key(_ country: String, _ name: String) -> String { "\(root)/\(country)/\(name).key.pem" }
    func ca(_ country: String) -> String { cert(country, "ca") }
    var trust: String { root + "/trust" }
    var trustWithRevokedIntermediate: String { root + "/trust-intermediate-revoked" }
    /// trust/ with an NL root CRL (revoking nothing) whose nextUpdate is one hour after the PKI was made.
    var trustWithShortLivedCRL: String { root + "/trust-short-lived-crl" }
    var rogueCert: String { root + "/untrusted/node-signing.pem" }
    var rogueKey: String { root + "/untrusted/node-signing.key.pem" }
    var rogueCA: String { root + "/untrusted/ca.pem" }

    /// The identity of `name` (node-signing, expired, …) of a country; `certificateFile` replaces its certificate
    /// file (e.g. the chain file).
    func identity(_ country: String = "NL", _ name: String = "node-signing", certificateFile: String? = nil) throws
        -> SigningIdentity
    {
        try SigningIdentity(keyFile: key(country, name), certificateFile: certificateFile ?? cert(country, name))
    }

    func trustStore() throws -> TrustStore { try TrustStore(directory: trust) }

    func verifier(now: Double? = nil, countryByFingerprint: [String: String] = [:]) throws -> SignatureVerifier {
        SignatureVerifier(trustStore: try trustStore(), countryByFingerprint: countryByFingerprint, now: now)
    }

    /// Signs XML text with FWX's DocumentSigner.
    func sign(_ text: String, country: String = "NL", as name: String = "node-signing",
              certificateFile: String? = nil) throws -> String {
        let identity = try identity(country, name, certificateFile: certificateFile)
        return String(decoding: try DocumentSigner(identity: identity).sign(Array(text.utf8), name: "batch.xml"),
                      as: UTF8.self)
    }
}

/// Debian's xmlsec1, the independent implementation FWX is checked against; a clear failure when it is missing.
func signingXmlsec1() throws -> String {
    let path = "/usr/bin/xmlsec1"
    guard FileManager.default.isExecutableFile(atPath: path) else {
        throw TestSupportError("xmlsec1 is not installed at \(path): run scripts/setup (it installs Debian's xmlsec1)")
    }
    return path
}

/// `xmlsec1 --verify --trusted-pem CA FILE` (plus extra options); the result of the process.
func signingXmlsec1Verify(_ text: String, trustedCA: String, extra: [String] = []) throws -> ProcessResult {
    let xmlsec1 = try signingXmlsec1()
    return try withTemporaryDirectory { folder in
        let file = try writeFile(folder, "signed.xml", text)
        return try runProcess(xmlsec1, ["--verify", "--trusted-pem", trustedCA] + extra + [file])
    }
}

/// The empty signature skeleton of the accepted form (as in scripts/bench_sign.py), for `xmlsec1 --sign`.
func signingTemplate(method: String, canonicalization: String = "http://www.w3.org/2001/10/xml-exc-c14n#",
                     referenceURI: String = "", transforms: String? = nil) -> String {
    let defaultTransforms = #"<Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>"#
        + #"<Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"#
    return #"<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo>"#
        + #"<CanonicalizationMethod Algorithm="\#(canonicalization)"/>"#
        + #"<SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#\#(method)"/>"#
        + #"<Reference URI="\#(referenceURI)"><Transforms>\#(transforms ?? defaultTransforms)</Transforms>"#
        + #"<DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><DigestValue/></Reference></SignedInfo>"#
        + #"<SignatureValue/><KeyInfo><X509Data><X509Certificate/></X509Data></KeyInfo></Signature>"#
}

/// Signs `text` with `xmlsec1 --sign`: the template is inserted right before `</Batch>`.
func signingXmlsec1Sign(_ text: String, template: String, key: String, cert: String, extra: [String] = [])
    throws -> String
{
    let xmlsec1 = try signingXmlsec1()
    guard text.occurrenceRanges(of: "</Batch>").count == 1 else { throw TestSupportError("not one </Batch> in the batch") }
    return try withTemporaryDirectory { folder in
        let input = try writeFile(folder, "template.xml", text.replacingOccurrences(of: "</Batch>", with: template + "</Batch>"))
        let output = folder.appendingPathComponent("out.xml").path
        let result = try runProcess(xmlsec1, ["--sign", "--privkey-pem", "\(key),\(cert)"] + extra
                                        + ["--output", output, input])
        guard result.status == 0 else { throw TestSupportError("xmlsec1 --sign failed: \(result)") }
        return try String(contentsOfFile: output, encoding: .utf8)
    }
}

/// Verifies text with the library; the report.
func signingVerify(_ text: String, with verifier: SignatureVerifier, name: String = "signed.xml") throws -> SignatureReport {
    try verifier.verify(Array(text.utf8), name: name)
}

/// The rule ids of a report's findings, in order.
func signingRules(_ report: SignatureReport) -> [String] { report.findings.map(\.rule) }

func signingDescribe(_ report: SignatureReport) -> String {
    report.findings.isEmpty ? "(no findings)" : report.findings.map(\.humanDescription).joined(separator: "\n")
}

/// `text` with the one occurrence of `old` replaced; throws unless `old` occurs exactly once.
func signingReplacingOnce(_ text: String, _ old: String, _ new: String) throws -> String {
    let ranges = text.occurrenceRanges(of: old)
    guard ranges.count == 1 else { throw TestSupportError("\(old.debugDescription) occurs \(ranges.count) times, expected once") }
    var result = text
    result.replaceSubrange(ranges[0], with: new)
    return result
}

/// The range of the one `<Signature …>…</Signature>` element of a signed document.
func signingSignatureRange(_ text: String) throws -> Range<String.Index> {
    guard let start = text.range(of: "<Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\""),
          let end = text.range(of: "</Signature>", range: start.upperBound..<text.endIndex) else {
        throw TestSupportError("no ds:Signature in the document")
    }
    return start.lowerBound..<end.upperBound
}

/// The base64 body of a PEM certificate file (the text of ds:X509Certificate).
func signingPEMBody(_ path: String) throws -> String {
    try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        .filter { !$0.hasPrefix("-----") }.joined()
}

/// The record ids and revisions of a batch's text, in order, read with a regular expression (independently of FWX).
func signingRecordIds(_ text: String) throws -> [(id: String, revision: Int)] {
    let regex = try Regex(#"<RecordId>([^<]+)</RecordId>\s*<Revision>(\d+)</Revision>"#)
    return text.matches(of: regex).map { match in
        (String(match.output[1].substring ?? ""), Int(match.output[2].substring ?? "") ?? -1)
    }
}

/// The lines of a batch (as written by BatchXMLWriter or the sample) grouped into its record elements:
/// line index ranges, each from `    <Seizure>`/`    <Shipment>` to its closing line.
func signingRecordLineRanges(_ lines: [String]) -> [ClosedRange<Int>] {
    var ranges: [ClosedRange<Int>] = []
    var start: Int?
    for (index, line) in lines.enumerated() {
        if line == "    <Seizure>" || line == "    <Shipment>" { start = index }
        if (line == "    </Seizure>" || line == "    </Shipment>"), let first = start {
            ranges.append(first...index)
            start = nil
        }
    }
    return ranges
}

/// The regular expression every signature finding line of `fwx verify` matches.
let signingFindingLine = #"^[^:]+:\d+:\d+: error\[FWX-G\d{3}\]: "#

// MARK: - Sign and verify; xmlsec1 in both directions

@Suite("XML signatures: FWX and xmlsec1")
struct SigningInteropTests {
    @Test("FWX signs a batch (EC and RSA); FWX verifies it with no findings and xmlsec1 --verify accepts it",
          arguments: ["ec", "rsa"])
    func signVerifyAndXmlsec1(keyType: String) throws {
        let pki = try SigningPKI.of(keyType)
        let batch = try Generated.batch(records: 30, seed: 41).xml
        let signed = try pki.sign(batch)
        #expect(signed.contains(keyType == "rsa" ? "xmldsig-more#rsa-sha256" : "xmldsig-more#ecdsa-sha256"))
        #expect(signed.occurrenceRanges(of: "<Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\"").count == 1)
        // The signature is the last child of the root; nothing of the batch itself was changed (never re-indented).
        #expect(signed.hasSuffix("</Signature></Batch>\n"))
        let withoutSignature = signed.replacingCharacters(in: try signingSignatureRange(signed), with: "")
        #expect(withoutSignature == batch)

        let report = try signingVerify(signed, with: try pki.verifier())
        #expect(report.findings.isEmpty, "\(signingDescribe(report))")
        #expect(report.isValid)
        #expect(report.signer?.country == "NL")
        #expect(report.signer?.commonName == "FWX Node NL signing")
        #expect(report.signer == (try pki.identity().certificate))

        let xmlsec = try signingXmlsec1Verify(signed, trustedCA: pki.ca("NL"))
        #expect(xmlsec.status == 0, "xmlsec1 rejects FWX's signature: \(xmlsec)")
        #expect(xmlsec.stdout.contains("OK") || xmlsec.stderr.contains("OK"), "\(xmlsec)")
        // and xmlsec1 is a real check: it rejects the same document signed by a CA it was not given.
        let otherCA = try signingXmlsec1Verify(signed, trustedCA: pki.rogueCA)
        #expect(otherCA.status != 0, "\(otherCA)")
    }

    @Test("FWX verifies a batch signed by xmlsec1 --sign with the accepted template (EC and RSA)",
          arguments: ["ec", "rsa"])
    func verifyXmlsec1Signature(keyType: String) throws {
        let pki = try SigningPKI.of(keyType)
        let batch = try Generated.batch(records: 30, seed: 42).xml
        let method = keyType == "rsa" ? "rsa-sha256" : "ecdsa-sha256"
        let signed = try signingXmlsec1Sign(batch, template: signingTemplate(method: method),
                                            key: pki.key("NL", "node-signing"), cert: pki.cert("NL", "node-signing"))
        #expect(!signed.contains("<SignatureValue/>"), "xmlsec1 left the template empty")
        let report = try signingVerify(signed, with: try pki.verifier())
        #expect(report.findings.isEmpty, "\(signingDescribe(report))")
        #expect(report.signer?.commonName == "FWX Node NL signing")
        // The content is still valid after xmlsec1 put the signature in (the schema allows the ds:Signature at the end).
        let content = try Validation.validate(xml: signed)
        #expect(content.isValid, "\(Validation.describe(content))")
    }

    @Test("the sample batch signed by FWX verifies, also through a fresh TrustStore built from certificates")
    func sampleWithExplicitTrustStore() throws {
        let pki = try SigningPKI.ec()
        let signed = try pki.sign(Sample.text)
        let store = TrustStore(certificates: try Certificate.load(pemFile: pki.ca("NL")))
        let report = try signingVerify(signed, with: SignatureVerifier(trustStore: store))
        #expect(report.findings.isEmpty, "\(signingDescribe(report))")
        // Without the signer's CA in the store, the signer is not trusted.
        let deOnly = TrustStore(certificates: try Certificate.load(pemFile: pki.ca("DE")))
        #expect(signingRules(try signingVerify(signed, with: SignatureVerifier(trustStore: deOnly))) == [RuleID.certificateUntrusted])
    }

    @Test("an already signed batch is not signed again")
    func refusesToSignTwice() throws {
        let pki = try SigningPKI.ec()
        let signed = try pki.sign(Sample.text)
        let error = #expect(throws: FWXError.self) { try pki.sign(signed) }
        #expect(error?.message.contains("already signed") == true, "\(String(describing: error))")
    }
}

// MARK: - Tampering

enum SigningTamper: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case recordId, quantity, senderCountry, unitAttribute, reorderRecords, removeRecord, addedWhitespace,
         signatureValue, digestValue, keyInfoSwappedForAnotherTrustedCertificate

    var testDescription: String { rawValue }

    /// Exactly the rules the library reports.
    var expected: [String] {
        switch self {
        case .senderCountry: [RuleID.signerCountry, RuleID.signatureInvalid]
        default: [RuleID.signatureInvalid]
        }
    }

    func apply(to signed: String, pki: SigningPKI) throws -> String {
        switch self {
        case .recordId:
            return try signingReplacingOnce(signed, "<RecordId>NL-SH-2026-000001</RecordId>", "<RecordId>NL-SH-2026-000002</RecordId>")
        case .quantity:
            return try signingReplacingOnce(signed, #"<Quantity unit="boxes">12</Quantity>"#, #"<Quantity unit="boxes">13</Quantity>"#)
        case .senderCountry:
            return try signingReplacingOnce(signed, "<Sender>\n      <Country>NL</Country>", "<Sender>\n      <Country>DE</Country>")
        case .unitAttribute:
            return try signingReplacingOnce(signed, #"unit="pieces""#, #"unit="kg""#)
        case .reorderRecords, .removeRecord:
            var lines = signed.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let records = signingRecordLineRanges(lines)
            guard records.count == 3 else { throw TestSupportError("expected 3 records in the sample, found \(records.count)") }
            if self == .removeRecord {
                lines.removeSubrange(records[2])
            } else {
                let first = Array(lines[records[0]]), second = Array(lines[records[1]])
                lines.replaceSubrange(records[0].lowerBound...records[1].upperBound, with: second + first)
            }
            return lines.joined(separator: "\n")
        case .addedWhitespace:
            return try signingReplacingOnce(signed, "  </Records>", "\n  </Records>")
        case .signatureValue, .digestValue:
            let tag = self == .signatureValue ? "<SignatureValue>" : "<DigestValue>"
            guard let range = signed.range(of: tag) else { throw TestSupportError("no \(tag)") }
            var result = signed
            let first = result[range.upperBound]
            result.replaceSubrange(range.upperBound...range.upperBound, with: first == "A" ? "B" : "A")
            return result
        case .keyInfoSwappedForAnotherTrustedCertificate:
            guard let start = signed.range(of: "<X509Certificate>"),
                  let end = signed.range(of: "</X509Certificate>", range: start.upperBound..<signed.endIndex) else {
                throw TestSupportError("no X509Certificate")
            }
            var result = signed
            result.replaceSubrange(start.upperBound..<end.lowerBound, with: try signingPEMBody(pki.cert("NL", "liaison")))
            return result
        }
    }
}

@Suite("XML signatures: tampering")
struct SigningTamperTests {
    @Test("the unmodified signed sample verifies; the tamper edits each find their target", arguments: ["ec", "rsa"])
    func control(keyType: String) throws {
        let pki = try SigningPKI.of(keyType)
        let signed = try pki.sign(Sample.text)
        #expect(try signingVerify(signed, with: try pki.verifier()).findings.isEmpty)
        for tamper in SigningTamper.allCases {
            #expect(try tamper.apply(to: signed, pki: pki) != signed, "\(tamper) changed nothing")
        }
    }

    @Test("a change to the signed batch fails the signature (FWX-G001)", arguments: SigningTamper.allCases)
    func tampered(tamper: SigningTamper) throws {
        let pki = try SigningPKI.ec()
        let signed = try pki.sign(Sample.text)
        let tampered = try tamper.apply(to: signed, pki: pki)
        let report = try signingVerify(tampered, with: try pki.verifier())
        #expect(!report.isValid)
        #expect(signingRules(report).contains(RuleID.signatureInvalid), "\(signingDescribe(report))")
        #expect(Set(signingRules(report)) == Set(tamper.expected), "\(signingDescribe(report))")
        // The G001 finding points at the signature, with a line number in the document.
        let g001 = report.findings.first { $0.rule == RuleID.signatureInvalid }
        #expect((g001?.location.line ?? 0) > 1)
        #expect(g001?.location.file == "signed.xml")
    }

    @Test("a changed record fails with RSA too (FWX-G001)")
    func tamperedRSA() throws {
        let pki = try SigningPKI.rsa()
        let signed = try pki.sign(Sample.text)
        let report = try signingVerify(try SigningTamper.quantity.apply(to: signed, pki: pki), with: try pki.verifier())
        #expect(signingRules(report) == [RuleID.signatureInvalid], "\(signingDescribe(report))")
    }

    @Test("what exclusive C14N ignores does not count as tampering: the comment and XML declaration before the root")
    func outsideTheSignedContent() throws {
        let pki = try SigningPKI.ec()
        let signed = try pki.sign(Sample.text)
        let edited = try signingReplacingOnce(signed, "<!-- FWX batch, schema v1.", "<!-- FWX batch (edited), schema v1.")
        #expect(try signingVerify(edited, with: try pki.verifier()).findings.isEmpty)
    }
}

// MARK: - Signature wrapping and the accepted form

enum SigningWrapping: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case wrappedUnderNewRoot, secondSignature, decoyReference, referenceWithoutURI, twoReferences,
         extraC14NTransform, extraXPathTransform, inclusiveCanonicalization, signatureInsideRecords,
         sha1SignatureMethod, sha1Digest, unsigned

    var testDescription: String { rawValue }

    /// Acceptable rule ids (the first is what the library reports today) and a fragment of the message.
    var expected: (rules: [String], message: String) {
        switch self {
        case .wrappedUnderNewRoot, .signatureInsideRecords:
            ([RuleID.signatureForm], "child of the root")
        case .secondSignature: ([RuleID.signatureForm], "2 ds:Signature elements")
        case .decoyReference: ([RuleID.signatureForm], ##"URI="#decoy""##)
        case .referenceWithoutURI: ([RuleID.signatureForm], "omitted URI")
        case .twoReferences: ([RuleID.signatureForm], "exactly one Reference")
        case .extraC14NTransform, .extraXPathTransform: ([RuleID.signatureForm], "transforms")
        case .inclusiveCanonicalization: ([RuleID.signatureAlgorithm, RuleID.signatureForm], "exclusive C14N")
        case .sha1SignatureMethod: ([RuleID.signatureAlgorithm], "RSA-SHA256 or ECDSA-SHA256")
        case .sha1Digest: ([RuleID.signatureAlgorithm], "SHA-256")
        case .unsigned: ([RuleID.signatureForm], "not signed")
        }
    }

    func apply(to signed: String) throws -> String {
        let signature = try signingSignatureRange(signed)
        let signatureText = String(signed[signature])
        var withoutSignature = signed
        withoutSignature.removeSubrange(signature)
        switch self {
        case .wrappedUnderNewRoot:
            // The whole signed batch, unchanged, as the child of a new root element.
            guard let start = signed.range(of: "<Batch "), let end = signed.range(of: "</Batch>") else {
                throw TestSupportError("no Batch element")
            }
            return String(signed[..<start.lowerBound]) + "<Wrapper>" + signed[start.lowerBound..<end.upperBound]
                + "</Wrapper>" + signed[end.upperBound...]
        case .secondSignature:
            var result = signed
            result.insert(contentsOf: signatureText, at: signature.upperBound)
            return result
        case .decoyReference:
            let decoy = try signingReplacingOnce(signed, #"<Reference URI="">"#, ##"<Reference URI="#decoy">"##)
            return try signingReplacingOnce(decoy, "<Header>", #"<Header Id="decoy">"#)
        case .referenceWithoutURI:
            return try signingReplacingOnce(signed, #"<Reference URI="">"#, "<Reference>")
        case .twoReferences:
            guard let start = signed.range(of: "<Reference URI=\"\">"), let end = signed.range(of: "</Reference>") else {
                throw TestSupportError("no Reference")
            }
            var result = signed
            result.insert(contentsOf: signed[start.lowerBound..<end.upperBound], at: end.upperBound)
            return result
        case .extraC14NTransform:
            return try signingReplacingOnce(signed, "</Transforms>",
                #"<Transform Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/></Transforms>"#)
        case .extraXPathTransform:
            return try signingReplacingOnce(signed, "</Transforms>",
                #"<Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"><XPath xmlns:fwx="urn:fwx:schema:v1">ancestor-or-self::fwx:Header</XPath></Transform></Transforms>"#)
        case .inclusiveCanonicalization:
            return try signingReplacingOnce(signed,
                #"<CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"#,
                #"<CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>"#)
        case .signatureInsideRecords:
            return try signingReplacingOnce(withoutSignature, "</Records>", signatureText + "</Records>")
        case .sha1SignatureMethod:
            return try signingReplacingOnce(signed, "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
                                            "http://www.w3.org/2000/09/xmldsig#rsa-sha1")
        case .sha1Digest:
            return try signingReplacingOnce(signed, "http://www.w3.org/2001/04/xmlenc#sha256",
                                            "http://www.w3.org/2000/09/xmldsig#sha1")
        case .unsigned:
            return withoutSignature
        }
    }
}

@Suite("XML signatures: signature wrapping and the one accepted form")
struct SigningWrappingTests {
    @Test("a signature not in the one accepted form is refused before any cryptography (G002/G008)",
          arguments: SigningWrapping.allCases)
    func refused(wrapping: SigningWrapping) throws {
        let pki = try SigningPKI.ec()
        let signed = try pki.sign(Sample.text)
        let attacked = try wrapping.apply(to: signed)
        #expect(attacked != signed)
        let report = try signingVerify(attacked, with: try pki.verifier())
        let (rules, message) = wrapping.expected
        #expect(!report.isValid, "\(wrapping) was accepted")
        #expect(report.findings.count == 1, "\(signingDescribe(report))")
        #expect(rules.contains(report.findings.first?.rule ?? "none"), "\(signingDescribe(report))")
        #expect(report.findings.first?.message.contains(message) == true, "\(signingDescribe(report))")
        // Refused on form alone: no signature check (G001) was run or reported.
        #expect(!signingRules(report).contains(RuleID.signatureInvalid))
    }

    @Test("a signature that is the first, not the last, child of the root is refused (docs/signing.md: the last child)")
    func signatureNotLastChild() throws {
        let pki = try SigningPKI.ec()
        let signed = try pki.sign(Sample.text)
        let signature = try signingSignatureRange(signed)
        let signatureText = String(signed[signature])
        var moved = signed
        moved.removeSubrange(signature)
        moved = try signingReplacingOnce(moved, "<Header>", signatureText + "<Header>")
        // fwx verify refuses it through the schema (the ds:Signature is only allowed at the end) …
        try withTemporaryDirectory { folder in
            let result = try runFWX(["verify", "--trust", pki.trust, try writeFile(folder, "moved.xml", moved)])
            #expect(result.status == 1, "\(result)")
        }
        // … and SignatureVerifier on its own must refuse it too: docs/signing.md says the one accepted form has the
        // signature as the last child of the root, and anything else is refused with FWX-G002.
        let report = try signingVerify(moved, with: try pki.verifier())
        #expect(signingRules(report) == [RuleID.signatureForm],
                "SignatureVerifier accepts a ds:Signature that is not the last child of the root: \(signingDescribe(report))")
    }

    @Test("the wrapped batch is also refused by fwx verify (exit 1)")
    func wrappedCLI() throws {
        let pki = try SigningPKI.ec()
        let attacked = try SigningWrapping.wrappedUnderNewRoot.apply(to: try pki.sign(Sample.text))
        try withTemporaryDirectory { folder in
            let file = try writeFile(folder, "wrapped.xml", attacked)
            let result = try runFWX(["verify", "--trust", pki.trust, file])
            #expect(result.status == 1, "\(result)")
            #expect(result.stdout.contains("error[FWX-P003]") || result.stdout.contains("error[FWX-G002]"), "\(result)")
            #expect(result.stderr.contains("INVALID"), "\(result)")
        }
    }

    @Test("a real xmlsec1 signature over a decoy element (Reference URI=#decoy) verifies in xmlsec1 but FWX refuses it (G002)")
    func realDecoySignature() throws {
        let pki = try SigningPKI.ec()
        let template = signingTemplate(method: "ecdsa-sha256", referenceURI: "#decoy",
                                       transforms: #"<Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"#)
        let withDecoy = try signingReplacingOnce(Sample.text, "<Header>", #"<Header Id="decoy">"#)
        let signed = try signingXmlsec1Sign(withDecoy, template: template, key: pki.key("NL", "node-signing"),
                                            cert: pki.cert("NL", "node-signing"), extra: ["--id-attr:Id", "Header"])
        // The records are outside what is signed: change one, and xmlsec1 still accepts the signature.
        let attacked = try signingReplacingOnce(signed, #"<Quantity unit="boxes">12</Quantity>"#, #"<Quantity unit="boxes">1200</Quantity>"#)
        let xmlsec = try signingXmlsec1Verify(attacked, trustedCA: pki.ca("NL"), extra: ["--id-attr:Id", "Header"])
        #expect(xmlsec.status == 0, "the decoy signature should be cryptographically valid: \(xmlsec)")
        let report = try signingVerify(attacked, with: try pki.verifier())
        #expect(signingRules(report) == [RuleID.signatureForm], "\(signingDescribe(report))")
    }

    @Test("a real xmlsec1 signature whose XPath transform signs only the Header verifies in xmlsec1 but FWX refuses it (G002)")
    func realXPathFilteredSignature() throws {
        let pki = try SigningPKI.ec()
        let transforms = #"<Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>"#
            + #"<Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"><XPath xmlns:fwx="urn:fwx:schema:v1">ancestor-or-self::fwx:Header</XPath></Transform>"#
            + #"<Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"#
        let signed = try signingXmlsec1Sign(Sample.text, template: signingTemplate(method: "ecdsa-sha256", transforms: transforms),
                                            key: pki.key("NL", "node-signing"), cert: pki.cert("NL", "node-signing"))
        let attacked = try signingReplacingOnce(signed, "<RecordId>NL-SH-2026-000001</RecordId>", "<RecordId>NL-SH-2026-000666</RecordId>")
        let xmlsec = try signingXmlsec1Verify(attacked, trustedCA: pki.ca("NL"))
        #expect(xmlsec.status == 0, "the filtered signature should be cryptographically valid: \(xmlsec)")
        let report = try signingVerify(attacked, with: try pki.verifier())
        #expect(signingRules(report) == [RuleID.signatureForm], "\(signingDescribe(report))")
        #expect(report.findings.first?.message.contains("transforms") == true)
    }

    @Test("a real xmlsec1 signature with inclusive C14N for SignedInfo: xmlsec1 accepts it, FWX refuses it (G008 or G002)")
    func realInclusiveC14N() throws {
        let pki = try SigningPKI.ec()
        let template = signingTemplate(method: "ecdsa-sha256", canonicalization: "http://www.w3.org/TR/2001/REC-xml-c14n-20010315")
        let signed = try signingXmlsec1Sign(Sample.text, template: template, key: pki.key("NL", "node-signing"),
                                            cert: pki.cert("NL", "node-signing"))
        #expect(try signingXmlsec1Verify(signed, trustedCA: pki.ca("NL")).status == 0)
        let report = try signingVerify(signed, with: try pki.verifier())
        #expect(report.findings.count == 1, "\(signingDescribe(report))")
        #expect([RuleID.signatureAlgorithm, RuleID.signatureForm].contains(report.findings.first?.rule ?? ""), "\(signingDescribe(report))")
    }

    @Test("an RSA key under 2048 bits: FWX will not sign with it, and refuses a signature made with it (G008)")
    func weakRSAKey() throws {
        let openssl = "/usr/bin/openssl"
        try withTemporaryDirectory { folder in
            let key = folder.appendingPathComponent("weak.key.pem").path
            let cert = folder.appendingPathComponent("weak.pem").path
            let made = try runProcess(openssl, ["req", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout", key, "-out", cert,
                                                "-subj", "/C=NL/O=FWX Test Police NL/CN=weak", "-days", "30",
                                                "-addext", "keyUsage=critical,digitalSignature"])
            try #require(made.status == 0, "\(made)")
            #expect(chmod(key, 0o600) == 0)
            let error = #expect(throws: FWXError.self) { try SigningIdentity(keyFile: key, certificateFile: cert) }
            #expect(error?.message.contains("2048") == true, "\(String(describing: error))")

            let signed = try signingXmlsec1Sign(Sample.text, template: signingTemplate(method: "rsa-sha256"), key: key, cert: cert)
            let verifier = SignatureVerifier(trustStore: TrustStore(certificates: try Certificate.load(pemFile: cert)))
            let report = try signingVerify(signed, with: verifier)
            #expect(signingRules(report).contains(RuleID.signatureAlgorithm), "\(signingDescribe(report))")
            #expect(!report.isValid)
        }
    }
}

// MARK: - The signer's certificate

@Suite("XML signatures: the signer's certificate")
struct SigningCertificateTests {
    /// Signs a generated NL batch as `name` of `country` and returns the rule ids of verifying it against trust/.
    private func verified(signedBy name: String, country: String = "NL", sender: String = "NL",
                       certificateFile: String? = nil, trust: String? = nil, now: Double? = nil) throws
        -> (rules: [String], report: SignatureReport)
    {
        let pki = try SigningPKI.ec()
        let batch = try Generated.batch(records: 5, seed: 7, sender: sender).xml
        let signed = try pki.sign(batch, country: country, as: name, certificateFile: certificateFile)
        let store = try trust.map { try TrustStore(directory: $0) } ?? pki.trustStore()
        let report = try signingVerify(signed, with: SignatureVerifier(trustStore: store, now: now))
        return (signingRules(report), report)
    }

    @Test("expired signer certificate → FWX-G004")
    func expired() throws {
        let (rules, report) = try verified(signedBy: "expired")
        #expect(rules == [RuleID.certificateValidity], "\(signingDescribe(report))")
        #expect(report.findings.first?.message.contains("expired") == true, "\(signingDescribe(report))")
    }

    @Test("not-yet-valid signer certificate → FWX-G004")
    func notYetValid() throws {
        let (rules, report) = try verified(signedBy: "not-yet-valid")
        #expect(rules == [RuleID.certificateValidity], "\(signingDescribe(report))")
        #expect(report.findings.first?.message.contains("not yet valid") == true, "\(signingDescribe(report))")
    }

    @Test("a good certificate checked at a time after it expires (SignatureVerifier.now) → FWX-G004")
    func verifiedInTheFuture() throws {
        // The leaf is valid for 730 days, the CA and its CRLs for 10 years: check 4 years from now.
        let (rules, report) = try verified(signedBy: "node-signing", now: Date().timeIntervalSince1970 + 4 * 365 * 86_400)
        #expect(rules == [RuleID.certificateValidity], "\(signingDescribe(report))")
    }

    @Test("revoked signer certificate (in its CA's CRL) → FWX-G006")
    func revoked() throws {
        let (rules, report) = try verified(signedBy: "revoked")
        #expect(rules == [RuleID.certificateRevoked], "\(signingDescribe(report))")
    }

    @Test("signer certificate from a rogue CA with the Dutch node's subject → FWX-G003, also with the rogue CA in KeyInfo")
    func untrusted() throws {
        let pki = try SigningPKI.ec()
        let batch = try Generated.batch(records: 5, seed: 7).xml
        let rogue = try SigningIdentity(keyFile: pki.rogueKey, certificateFile: pki.rogueCert)
        #expect(rogue.certificate.country == "NL")
        let signed = String(decoding: try DocumentSigner(identity: rogue).sign(Array(batch.utf8), name: "b"), as: UTF8.self)
        let report = try signingVerify(signed, with: try pki.verifier())
        #expect(signingRules(report) == [RuleID.certificateUntrusted], "\(signingDescribe(report))")
        #expect(report.signer?.commonName == "FWX Node NL signing")

        try withTemporaryDirectory { folder in
            let chain = try writeFile(folder, "rogue-chain.pem",
                try String(contentsOfFile: pki.rogueCert, encoding: .utf8) + String(contentsOfFile: pki.rogueCA, encoding: .utf8))
            let withCA = try SigningIdentity(keyFile: pki.rogueKey, certificateFile: chain)
            #expect(withCA.certificates.count == 2)
            let signedWithCA = String(decoding: try DocumentSigner(identity: withCA).sign(Array(batch.utf8), name: "b"), as: UTF8.self)
            let report = try signingVerify(signedWithCA, with: try pki.verifier())
            #expect(signingRules(report) == [RuleID.certificateUntrusted], "\(signingDescribe(report))")
        }
    }

    @Test("signer certificate without digitalSignature/nonRepudiation key usage → FWX-G005")
    func wrongUsage() throws {
        let (rules, report) = try verified(signedBy: "wrong-usage")
        #expect(rules == [RuleID.certificateUsage], "\(signingDescribe(report))")
        #expect(report.signer?.allowsSigning == false)
    }

    @Test("signed with the CA's own key (keyCertSign, cRLSign only) → FWX-G005")
    func caKey() throws {
        let (rules, report) = try verified(signedBy: "ca")
        #expect(rules == [RuleID.certificateUsage], "\(signingDescribe(report))")
    }

    @Test("a DE-signed batch whose Sender Country is NL → FWX-G007; the right sender or a fingerprint mapping verifies")
    func signerCountry() throws {
        let (rules, report) = try verified(signedBy: "node-signing", country: "DE", sender: "NL")
        #expect(rules == [RuleID.signerCountry], "\(signingDescribe(report))")
        #expect(report.findings.first?.message.contains("DE") == true)
        #expect(report.findings.first?.message.contains("NL") == true)

        let (fromDE, deReport) = try verified(signedBy: "node-signing", country: "DE", sender: "DE")
        #expect(fromDE.isEmpty, "\(signingDescribe(deReport))")

        let pki = try SigningPKI.ec()
        let signed = try pki.sign(try Generated.batch(records: 5, seed: 7).xml, country: "DE")
        let fingerprint = try pki.identity("DE").certificate.fingerprint
        let mapped = try signingVerify(signed, with: try pki.verifier(countryByFingerprint: [fingerprint: "NL"]))
        #expect(mapped.findings.isEmpty, "\(signingDescribe(mapped))")
    }

    @Test("signed via NL's intermediate CA with the chain file (leaf + intermediate) → verifies against trust/ (roots and CRLs only)")
    func intermediateChain() throws {
        let pki = try SigningPKI.ec()
        let chain = pki.cert("NL", "node-signing-via-intermediate-chain")
        let identity = try SigningIdentity(keyFile: pki.key("NL", "node-signing-via-intermediate"), certificateFile: chain)
        #expect(identity.certificates.count == 2)
        let signed = String(decoding: try DocumentSigner(identity: identity).sign(Array(Sample.text.utf8), name: "b"), as: UTF8.self)
        #expect(signed.occurrenceRanges(of: "<X509Certificate>").count == 2)
        let report = try signingVerify(signed, with: try pki.verifier())
        #expect(report.findings.isEmpty, "\(signingDescribe(report))")
        #expect(report.signer?.commonName == "FWX Node NL signing via intermediate")
        // trust/ really holds no intermediate: xmlsec1, given only the root, needs the chain from KeyInfo too.
        let names = try FileManager.default.contentsOfDirectory(atPath: pki.trust)
        #expect(!names.contains { $0.contains("intermediate") && !$0.contains("crl") })
        #expect(try signingXmlsec1Verify(signed, trustedCA: pki.ca("NL")).status == 0)
    }

    @Test("signed via the intermediate without the chain in KeyInfo → FWX-G003")
    func intermediateWithoutChain() throws {
        let (rules, report) = try verified(signedBy: "node-signing-via-intermediate")
        #expect(rules == [RuleID.certificateUntrusted], "\(signingDescribe(report))")
    }

    @Test("signed via an intermediate CA that the root CA has revoked → FWX-G006")
    func revokedIntermediate() throws {
        let pki = try SigningPKI.ec()
        // Control: with the original trust/ the chain verifies.
        let (before, _) = try verified(signedBy: "node-signing-via-intermediate",
                                    certificateFile: pki.cert("NL", "node-signing-via-intermediate-chain"))
        #expect(before.isEmpty)
        // The independent check: openssl itself says the chain is revoked with the new CRLs (crl_check_all).
        let crls = Paths.files(in: pki.trustWithRevokedIntermediate, withExtension: "pem").filter { $0.hasSuffix("crl.pem") }
        let openssl = try runProcess("/usr/bin/openssl", ["verify", "-no-CApath", "-no-CAstore", "-CAfile", pki.ca("NL"),
                                                          "-untrusted", pki.cert("NL", "intermediate"), "-crl_check_all"]
                                                          + crls.flatMap { ["-CRLfile", $0] }
                                                          + [pki.cert("NL", "node-signing-via-intermediate")])
        #expect(openssl.status != 0 && (openssl.stdout + openssl.stderr).contains("revoked"), "\(openssl)")
        let (rules, report) = try verified(signedBy: "node-signing-via-intermediate",
                                        certificateFile: pki.cert("NL", "node-signing-via-intermediate-chain"),
                                        trust: pki.trustWithRevokedIntermediate)
        #expect(rules == [RuleID.certificateRevoked],
                "a leaf issued by a revoked intermediate CA must not verify: \(signingDescribe(report))")
    }

    @Test("the CA's CRL is out of date at verification time (the signer's certificate is valid): fails closed, not as G004")
    func staleCRL() throws {
        let pki = try SigningPKI.ec()
        let twoHoursLater = Date().timeIntervalSince1970 + 2 * 3600
        let (now, _) = try verified(signedBy: "node-signing", trust: pki.trustWithShortLivedCRL)
        #expect(now.isEmpty)
        let (rules, report) = try verified(signedBy: "node-signing", trust: pki.trustWithShortLivedCRL, now: twoHoursLater)
        #expect(!report.isValid, "a stale CRL must not let the signature pass: \(signingDescribe(report))")
        #expect(rules.count == 1 && [RuleID.certificateRevoked, RuleID.certificateUntrusted].contains(rules[0]),
                "\(signingDescribe(report))")
        #expect(report.findings.first?.message.contains("CRL") == true, "\(signingDescribe(report))")
    }

    @Test("a key that does not belong to the certificate: SigningIdentity refuses it")
    func keyDoesNotMatchCertificate() throws {
        let pki = try SigningPKI.ec()
        let error = #expect(throws: FWXError.self) {
            try SigningIdentity(keyFile: pki.key("NL", "node-signing"), certificateFile: pki.cert("DE", "node-signing"))
        }
        #expect(error?.message.contains("does not belong") == true, "\(String(describing: error))")
        // The same key with its own certificate loads.
        #expect(try pki.identity("NL").certificate.commonName == "FWX Node NL signing")
    }

    @Test("a key file readable by others (0644): SigningIdentity refuses it and says chmod 600")
    func keyFileMode() throws {
        let pki = try SigningPKI.ec()
        try withTemporaryDirectory { folder in
            let key = folder.appendingPathComponent("signing.key.pem").path
            try FileManager.default.copyItem(atPath: pki.key("NL", "node-signing"), toPath: key)
            #expect(chmod(key, 0o644) == 0)
            let error = #expect(throws: FWXError.self) {
                try SigningIdentity(keyFile: key, certificateFile: pki.cert("NL", "node-signing"))
            }
            #expect(error?.message.contains("chmod 600") == true, "\(String(describing: error))")
            #expect(error?.message.contains(key) == true, "\(String(describing: error))")
            // and with mode 0600 the same file is accepted.
            #expect(chmod(key, 0o600) == 0)
            #expect(try SigningIdentity(keyFile: key, certificateFile: pki.cert("NL", "node-signing")).certificate.country == "NL")
        }
    }
}

// MARK: - fwx sign / fwx verify

@Suite("XML signatures: fwx sign and fwx verify")
struct SigningCLITests {
    @Test("fwx sign then fwx verify: exit 0; tampered: exit 1 with G001 in compiler-style lines; xmlsec1 agrees",
          arguments: ["ec", "rsa"])
    func signAndVerify(keyType: String) throws {
        let pki = try SigningPKI.of(keyType)
        let regex = try Regex(signingFindingLine)
        try withTemporaryDirectory { folder in
            let generated = folder.appendingPathComponent("batch.xml").path
            let generate = try runFWX(["generate", "--records", "30", "--seed", "43", "-o", generated])
            try #require(generate.status == 0, "\(generate)")
            let signedPath = folder.appendingPathComponent("signed.xml").path
            let sign = try runFWX(["sign", "--key", pki.key("NL", "node-signing"), "--cert", pki.cert("NL", "node-signing"),
                                   generated, "-o", signedPath])
            #expect(sign.status == 0, "\(sign)")
            #expect(sign.stdout.isEmpty, "\(sign)")

            let verify = try runFWX(["verify", "--trust", pki.trust, signedPath])
            #expect(verify.status == 0, "\(verify)")
            #expect(verify.stdout.isEmpty, "\(verify)")
            #expect(verify.stderr.contains("\(signedPath): valid signature and content"), "\(verify)")
            #expect(verify.stderr.contains("C=NL"), "\(verify)")
            #expect(try signingXmlsec1Verify(try String(contentsOfFile: signedPath, encoding: .utf8),
                                             trustedCA: pki.ca("NL")).status == 0)

            let signed = try String(contentsOfFile: signedPath, encoding: .utf8)
            // A change that keeps the content valid (a parcel tracking number), so only the signature fails.
            let tampered = try writeFile(folder, "tampered.xml", try signingReplacingOnce(signed,
                ">PAR-CZ-270653</Document>", ">PAR-CZ-270654</Document>"))
            let tamperedContent = try Validation.validate(path: tampered)
            #expect(tamperedContent.isValid, "\(Validation.describe(tamperedContent))")
            let bad = try runFWX(["verify", "--trust", pki.trust, tampered])
            #expect(bad.status == 1, "\(bad)")
            let lines = bad.stdout.split(separator: "\n").map(String.init)
            #expect(!lines.isEmpty, "\(bad)")
            for line in lines {
                #expect(line.firstMatch(of: regex) != nil, "not FILE:LINE:COL: error[FWX-Gnnn]: …: \(line)")
                #expect(line.hasPrefix(tampered + ":"))
            }
            #expect(lines.count == 1 && lines.first?.contains("error[FWX-G001]") == true, "\(bad)")
            #expect(bad.stderr.contains("\(tampered): INVALID"), "\(bad)")
            #expect(try signingXmlsec1Verify(try String(contentsOfFile: tampered, encoding: .utf8),
                                             trustedCA: pki.ca("NL")).status != 0)
        }
    }

    @Test("fwx verify: several files, one invalid → exit 1; trust folder missing → exit 2; --format json parses")
    func exitStatusesAndJSON() throws {
        let pki = try SigningPKI.ec()
        try withTemporaryDirectory { folder in
            let signed = try pki.sign(Sample.text)
            let good = try writeFile(folder, "good.xml", signed)
            let bad = try writeFile(folder, "bad.xml", try SigningTamper.unitAttribute.apply(to: signed, pki: pki))

            let both = try runFWX(["verify", "--trust", pki.trust, good, bad])
            #expect(both.status == 1, "\(both)")
            #expect(both.stderr.contains("\(good): valid signature and content"), "\(both)")
            #expect(both.stderr.contains("\(bad): INVALID"), "\(both)")
            #expect(!both.stdout.contains(good + ":"), "\(both)")

            let missing = folder.appendingPathComponent("no-such-trust").path
            let noTrust = try runFWX(["verify", "--trust", missing, good])
            #expect(noTrust.status == 2, "\(noTrust)")
            #expect(noTrust.stderr.contains(missing), "\(noTrust)")

            let noFile = try runFWX(["verify", "--trust", pki.trust, folder.appendingPathComponent("absent.xml").path])
            #expect(noFile.status == 2, "\(noFile)")

            let json = try runFWX(["verify", "--trust", pki.trust, "--format", "json", good, bad])
            #expect(json.status == 1, "\(json)")
            let object = try #require(try JSONSerialization.jsonObject(with: json.stdoutData) as? [String: Any], "\(json)")
            let files = try #require(object["files"] as? [[String: Any]], "\(json)")
            #expect(files.count == 2)
            #expect(files.first?["file"] as? String == good)
            #expect(files.first?["valid"] as? Bool == true)
            #expect((files.first?["findings"] as? [Any])?.isEmpty == true)
            #expect(files.last?["file"] as? String == bad)
            #expect(files.last?["valid"] as? Bool == false)
            let findings = try #require(files.last?["findings"] as? [[String: Any]])
            #expect(findings.contains { $0["rule"] as? String == "FWX-G001" && $0["severity"] as? String == "error" }, "\(json)")
            #expect(findings.allSatisfy { ($0["file"] as? String) == bad && ($0["line"] as? Int ?? 0) > 0 })
        }
    }

    @Test("fwx verify on a certificate problem: exit 1 with the rule of the problem", arguments: [
        ("expired", RuleID.certificateValidity), ("revoked", RuleID.certificateRevoked), ("wrong-usage", RuleID.certificateUsage),
    ])
    func certificateProblems(name: String, rule: String) throws {
        let pki = try SigningPKI.ec()
        try withTemporaryDirectory { folder in
            let file = try writeFile(folder, "\(name).xml", try pki.sign(Sample.text, as: name))
            let result = try runFWX(["verify", "--trust", pki.trust, file])
            #expect(result.status == 1, "\(result)")
            #expect(result.stdout.contains("error[\(rule)]"), "\(result)")
        }
    }

    @Test("fwx verify --country FINGERPRINT=CC (openssl's colon form) lets a DE certificate sign for NL")
    func countryMapping() throws {
        let pki = try SigningPKI.ec()
        try withTemporaryDirectory { folder in
            let file = try writeFile(folder, "de-signed.xml", try pki.sign(Sample.text, country: "DE"))
            let plain = try runFWX(["verify", "--trust", pki.trust, file])
            #expect(plain.status == 1, "\(plain)")
            #expect(plain.stdout.contains("error[FWX-G007]"), "\(plain)")

            let openssl = try runProcess("/usr/bin/openssl", ["x509", "-in", pki.cert("DE", "node-signing"), "-noout",
                                                              "-fingerprint", "-sha256"])
            let fingerprint = try #require(openssl.stdout.split(separator: "=").last.map {
                $0.trimmingCharacters(in: .whitespacesAndNewlines) }, "\(openssl)")
            #expect(fingerprint.lowercased().replacingOccurrences(of: ":", with: "")
                    == (try pki.identity("DE").certificate.fingerprint))
            let mapped = try runFWX(["verify", "--trust", pki.trust, "--country", "\(fingerprint)=NL", file])
            #expect(mapped.status == 0, "\(mapped)")
        }
    }

    @Test("fwx sign on an invalid batch: exit 1, findings printed, no output file")
    func signInvalidBatch() throws {
        let pki = try SigningPKI.ec()
        try withTemporaryDirectory { folder in
            let input = folder.appendingPathComponent("bad.xml").path
            let generate = try runFWX(["generate", "--records", "30", "--seed", "44", "--with-errors", "-o", input])
            try #require(generate.status == 0, "\(generate)")
            let output = folder.appendingPathComponent("signed.xml").path
            let result = try runFWX(["sign", "--key", pki.key("NL", "node-signing"), "--cert", pki.cert("NL", "node-signing"),
                                     input, "-o", output])
            #expect(result.status == 1, "\(result)")
            #expect(result.stdout.contains("error[FWX-"), "\(result)")
            #expect(result.stderr.contains("not signed"), "\(result)")
            #expect(!FileManager.default.fileExists(atPath: output))
            // Nothing else (no temporary file) was left next to the output either.
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["bad.xml"])
        }
    }

    @Test("fwx sign with a key file of mode 0644 or a key that does not match: exit 2, no output file")
    func signWithBadKey() throws {
        let pki = try SigningPKI.ec()
        try withTemporaryDirectory { folder in
            let key = folder.appendingPathComponent("open.key.pem").path
            try FileManager.default.copyItem(atPath: pki.key("NL", "node-signing"), toPath: key)
            #expect(chmod(key, 0o644) == 0)
            let output = folder.appendingPathComponent("signed.xml").path
            let open = try runFWX(["sign", "--key", key, "--cert", pki.cert("NL", "node-signing"), Paths.sample, "-o", output])
            #expect(open.status == 2, "\(open)")
            #expect(open.stderr.contains("chmod 600"), "\(open)")
            #expect(!FileManager.default.fileExists(atPath: output))

            let mismatch = try runFWX(["sign", "--key", pki.key("NL", "node-signing"), "--cert", pki.cert("DE", "node-signing"),
                                       Paths.sample, "-o", output])
            #expect(mismatch.status == 2, "\(mismatch)")
            #expect(mismatch.stderr.contains("does not belong"), "\(mismatch)")
            #expect(!FileManager.default.fileExists(atPath: output))
        }
    }
}
