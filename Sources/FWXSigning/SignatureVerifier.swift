import CXMLSec
public import FWXModel
import Foundation

/// What verifying a signed document found: findings in the same form as validation, and who signed it.
public struct SignatureReport: Sendable {
    public var findings: [Finding]
    /// The signer's certificate, when one was found in KeyInfo.
    public var signer: Certificate?
    /// SHA-256 (hex) of the document's exclusive canonical form, what receipts name; set when the verifier's
    /// ``SignatureVerifier/computesDigest`` is on and the signature's form was acceptable.
    public var documentDigest: String?
    public var isValid: Bool { !findings.contains { $0.severity == .error } }
}

/// How a signature's digest and value are computed, once its form has been accepted.
public enum SignatureComputation: Sendable {
    /// ``EnvelopedSignature``: libxml2's exclusive C14N of the document without its signature, SHA-256, and xmlsec's
    /// signature transform over SignedInfo. A signature whose algorithms carry parameters (an InclusiveNamespaces
    /// prefix list) is handed to xmlsec's generic processing instead.
    case direct
    /// xmlsec's generic `xmlSecDSigCtxSign` / `xmlSecDSigCtxVerify` over the whole document: the same bytes,
    /// slower on large batches; the reference that the direct way is tested against.
    case xmlsecDSig
}

/// Verifies the one enveloped XML signature of a batch or receipt against a trust store of partner CAs.
///
/// Accepted form, anything else is refused (defeats signature wrapping): exactly one `ds:Signature`, a child of
/// the root element; exclusive C14N; RSA-SHA256 (2048 bits or more) or ECDSA-SHA256; exactly one Reference with
/// `URI=""`, whose transforms are exactly enveloped-signature then exclusive C14N, digest SHA-256. The signer is the
/// certificate in KeyInfo that issued none of the others; it must chain to the trust store, be valid now, allow
/// signing, not be revoked (where the store has its CA's CRL), and name the document's sender country.
public struct SignatureVerifier: Sendable {
    public let trustStore: TrustStore
    /// Countries for certificates whose subject has no C, or whose C must be overridden, by SHA-256 fingerprint. A
    /// signer named here is vouched for by whoever set the mapping: its CA need not speak for that country.
    public var countryByFingerprint: [String: String]
    /// "Now" for validity checks (seconds since 1970); the clock when nil.
    public var now: Double?
    /// Also computes ``SignatureReport/documentDigest`` from the same parse (a node receiving a batch needs it for
    /// the receipt; computing it here saves parsing the document twice).
    public var computesDigest = false
    /// How the digest and signature value are checked once the form is accepted (see ``SignatureComputation``).
    public var computation = SignatureComputation.direct
    /// The CAs that speak for a country: the signer of a document must chain to one of those of its sender
    /// country (FWX-G007), the binding TLS uses for callers. Nil: the trust store's CAs for that country
    /// (``TrustStore/restricted(toCountry:)``: subject C, or the trust folder's country mapping). A node sets
    /// its own (a peer's configured CA, its own country's CAs).
    public var anchorsForCountry: (@Sendable (String) -> TrustStore?)?

    public init(trustStore: TrustStore, countryByFingerprint: [String: String] = [:], now: Double? = nil) {
        self.trustStore = trustStore
        self.countryByFingerprint = countryByFingerprint
        self.now = now
    }

    static let exclusiveC14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
    static let envelopedTransform = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
    static let sha256 = "http://www.w3.org/2001/04/xmlenc#sha256"
    static let signatureMethods = ["http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                                   "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"]

    /// Where a document names its sender country, below its root element.
    static func senderPath(root: String) -> [String] {
        root == "Receipt" ? ["ReceivingNode", "Country"] : ["Header", "Sender", "Country"]
    }

    /// Verifies a signed document.
    public func verify(_ bytes: [UInt8], name: String) throws -> SignatureReport {
        try XMLSec.ensureInitialised()
        var report = SignatureReport(findings: [], signer: nil)
        let document: SignedDocument
        switch SignedDocument.parse(bytes: bytes, name: name) {
        case .success(let parsed): document = parsed
        case .failure(let failure):
            // The same finding the streaming parser gives for these bytes (both parsers share one policy).
            report.findings.append(Finding(severity: .error, rule: failure.rule, message: failure.message,
                                           location: SourceLocation(file: name, line: failure.line, column: failure.column),
                                           xpath: ""))
            return report
        }
        guard let root = document.root else { return report }

        func add(_ rule: String, _ message: String, _ node: xmlNodePtr?) {
            let line = node.map(Nodes.line) ?? 0
            report.findings.append(Finding(severity: .error, rule: rule, message: message,
                                           location: SourceLocation(file: name, line: line, column: 0),
                                           xpath: node.map { xpath($0) } ?? ""))
        }

        let signatures = Nodes.countDSig("Signature", under: root)
        guard signatures.count == 1, let signature = signatures.first else {
            add(RuleID.signatureForm, signatures.count == 0
                ? "the document is not signed; sign it with fwx sign"
                : "the document has \(signatures.count) ds:Signature elements; exactly one is allowed", signatures.first ?? root)
            return report
        }
        guard signature.pointee.parent == root, Nodes.elementChildren(root).last == signature else {
            add(RuleID.signatureForm, "the ds:Signature must be the last child of the root element \(Nodes.name(root))", signature)
            return report
        }
        guard let form = checkForm(signature, add: add) else { return report }

        let senderPath = Self.senderPath(root: Nodes.name(root))
        guard let signer = checkSigner(signature, sender: Nodes.fwxText(root, senderPath), add: add) else { return report }
        report.signer = signer

        let direct = computation == .direct && !form.hasAlgorithmParameters
        var referenceDigest: [UInt8]?
        if computesDigest {
            // Directly, both digests come from one canonicalisation where the document's shape allows it.
            if direct, let digests = EnvelopedSignature.digests(of: document, signature: signature) {
                referenceDigest = digests.reference
                report.documentDigest = SHA256Hex.hex(digests.whole)
            } else {
                report.documentDigest = document.exclusiveCanonicalSHA256()
            }
        }
        let problem = direct
            ? try Self.verifyDirectly(document, signature: signature, form: form, with: signer, referenceDigest: referenceDigest)
            : try Self.verifyWithXMLSecDSig(signature, with: signer)
        if let problem { add(RuleID.signatureInvalid, problem, signature) }
        return report
    }

    /// The checks of the signer, the same for both ways of reading the document: the certificate in KeyInfo that
    /// issued none of the others, its key, validity, chain, key usage and country (`sender`, the document's sender
    /// country). Reports through `add`; nil when KeyInfo holds no certificate.
    func checkSigner(_ signature: xmlNodePtr, sender: String?,
                             add: (String, String, xmlNodePtr?) -> Void) -> Certificate? {
        let certificates = Nodes.allDSig("X509Certificate", under: signature).compactMap { node -> Certificate? in
            let text = Nodes.text(node).filter { !$0.isWhitespace }
            guard let der = Data(base64Encoded: text) else { return nil }
            return Certificate(der: [UInt8](der))
        }
        guard let signer = certificates.first(where: { candidate in
            !certificates.contains { $0 !== candidate && candidate.issued($0) && !$0.issued(candidate) }
        }) ?? certificates.first else {
            add(RuleID.certificateUntrusted, "no X509Certificate in KeyInfo; the signer's certificate must be included", signature)
            return nil
        }
        let keyInfo = Nodes.allDSig("KeyInfo", under: signature).first ?? signature

        let publicKey = signer.publicKey
        if publicKey.isRSA && publicKey.bits < 2048 {
            add(RuleID.signatureAlgorithm, "RSA key of \(publicKey.bits) bits; 2048 or more are required", keyInfo)
        } else if !publicKey.isRSA && !(publicKey.isEC && publicKey.bits == 256) {
            add(RuleID.signatureAlgorithm, "the signer's key is neither RSA nor ECDSA P-256", keyInfo)
        }

        let moment = now ?? Date().timeIntervalSince1970
        let validity = CXMLSec_validityAt(signer.pointer, Int64(moment))
        let chainError = trustStore.verify(signer, intermediates: certificates.filter { $0 !== signer }, at: moment)
        if validity != 0 {
            // The signer's own dates come first: a CRL or CA that is also out of date at that time says less.
            add(RuleID.certificateValidity,
                "signer certificate \(signer.commonName ?? "?") \(validity > 0 ? "has expired" : "is not yet valid")", keyInfo)
        } else if chainError != 0 {
            let reason = String(cString: X509_verify_cert_error_string(Int(chainError)))
            switch chainError {
            case X509_V_ERR_CERT_HAS_EXPIRED, X509_V_ERR_CERT_NOT_YET_VALID:
                add(RuleID.certificateValidity, "a certificate in the signer's chain: \(reason)", keyInfo)
            case X509_V_ERR_CRL_HAS_EXPIRED, X509_V_ERR_CRL_NOT_YET_VALID:
                add(RuleID.certificateRevoked,
                    "revocation status unknown: \(reason); put the CA's current CRL in the trust store", keyInfo)
            case X509_V_ERR_CERT_REVOKED:
                add(RuleID.certificateRevoked,
                    "signer certificate \(signer.commonName ?? "?") or a CA above it is revoked", keyInfo)
            default:
                add(RuleID.certificateUntrusted,
                    "signer certificate \(signer.commonName ?? "?") is not trusted: \(reason); the trust store must hold the partner's CA",
                    keyInfo)
            }
        }
        if !signer.allowsSigning {
            add(RuleID.certificateUsage, "signer certificate \(signer.commonName ?? "?") does not allow digital signatures (key usage)", keyInfo)
        }

        let signerCountry = countryByFingerprint[signer.fingerprint] ?? signer.country
        if let sender, sender != signerCountry {
            add(RuleID.signerCountry,
                "signed by a certificate of \(signerCountry ?? "no country"), but the document says it comes from \(sender)",
                keyInfo)
        } else if let sender, validity == 0, chainError == 0, countryByFingerprint[signer.fingerprint] == nil,
                  let problem = countryBindingProblem(signer, chain: certificates, sender: sender, at: moment) {
            add(RuleID.signerCountry, problem, keyInfo)
        }
        return signer
    }

    /// Nil when the signer (already known to chain to the trust store) chains to a CA that speaks for `sender`;
    /// else why not, naming the CA it chains to.
    func countryBindingProblem(_ signer: Certificate, chain: [Certificate], sender: String, at moment: Double) -> String? {
        let intermediates = chain.filter { $0 !== signer }
        let anchors = anchorsForCountry.map { $0(sender) } ?? trustStore.restricted(toCountry: sender)
        if let anchors, !anchors.certificates.isEmpty,
           anchors.verify(signer, intermediates: intermediates, at: moment) == 0 {
            return nil
        }
        // The CA the chain ends at: the store's CA that issued the top of the presented chain.
        var top = signer
        for _ in 0..<8 {
            guard let next = intermediates.first(where: { $0 !== top && $0.issued(top) && !top.issued($0) }) else { break }
            top = next
        }
        let authority = trustStore.certificates.first { $0.issued(top) }
        let speaksFor = authority.map { trustStore.countries(ofAuthority: $0) } ?? []
        let name = authority.map { "\($0.subjectName) (sha256 \($0.fingerprint.prefix(16))…)" } ?? "a CA of the trust store"
        return "signer certificate \(signer.commonName ?? "?") chains to \(name), which speaks for "
            + "\(speaksFor.isEmpty ? "no country" : speaksFor.joined(separator: ", ")), not for the sender country \(sender); "
            + "a signer must chain to a CA configured for its sender country"
    }

    /// The parts of an accepted signature that the checks use.
    struct Form {
        var signedInfo: xmlNodePtr
        var signatureValue: xmlNodePtr
        var digestValue: xmlNodePtr
        var signatureTransform: xmlSecTransformId
        /// CanonicalizationMethod, SignatureMethod or a Transform has child elements (such as an exclusive C14N
        /// InclusiveNamespaces prefix list), which only xmlsec's generic processing takes into account.
        var hasAlgorithmParameters: Bool
    }

    /// Checks the form of the signature; reports and returns nil when it is not the one form FWX accepts:
    /// Signature = SignedInfo, SignatureValue, KeyInfo?; SignedInfo = CanonicalizationMethod, SignatureMethod,
    /// one Reference; Reference = Transforms (enveloped-signature, exclusive C14N), DigestMethod, DigestValue.
    func checkForm(_ signature: xmlNodePtr, add: (String, String, xmlNodePtr?) -> Void) -> Form? {
        let signatureParts = Nodes.elementChildren(signature)
        guard signatureParts.count >= 2, Nodes.isDSig(signatureParts[0], "SignedInfo"),
              Nodes.isDSig(signatureParts[1], "SignatureValue"),
              signatureParts.dropFirst(2).allSatisfy({ Nodes.isDSig($0, "KeyInfo") }), signatureParts.count <= 3 else {
            add(RuleID.signatureForm, "ds:Signature must hold ds:SignedInfo, ds:SignatureValue and ds:KeyInfo, in that order, and nothing else", signature)
            return nil
        }
        let signedInfo = signatureParts[0]
        let parts = Nodes.elementChildren(signedInfo)
        let canonicalizationNode = parts.first { Nodes.isDSig($0, "CanonicalizationMethod") }
        guard let canonicalization = canonicalizationNode,
              Nodes.attribute(canonicalization, "Algorithm") == Self.exclusiveC14N else {
            add(RuleID.signatureAlgorithm, "SignedInfo must use exclusive C14N (\(Self.exclusiveC14N))", canonicalizationNode ?? signedInfo)
            return nil
        }
        let methodNode = parts.first { Nodes.isDSig($0, "SignatureMethod") }
        guard let method = methodNode, let algorithm = Nodes.attribute(method, "Algorithm"),
              Self.signatureMethods.contains(algorithm) else {
            add(RuleID.signatureAlgorithm, "the signature method must be RSA-SHA256 or ECDSA-SHA256", methodNode ?? signedInfo)
            return nil
        }
        let references = parts.filter { Nodes.isDSig($0, "Reference") }
        guard references.count == 1, let reference = references.first else {
            add(RuleID.signatureForm, "SignedInfo must have exactly one Reference, it has \(references.count)", signedInfo)
            return nil
        }
        guard parts.count == 3, parts[0] == canonicalization, parts[1] == method, parts[2] == reference else {
            add(RuleID.signatureForm, "SignedInfo must hold CanonicalizationMethod, SignatureMethod and one Reference, in that order, and nothing else", signedInfo)
            return nil
        }
        guard Nodes.attribute(reference, "URI") == "" else {
            add(RuleID.signatureForm,
                "the Reference must cover the whole document (URI=\"\"), not \(Nodes.attribute(reference, "URI").map { "URI=\"\($0)\"" } ?? "an omitted URI")",
                reference)
            return nil
        }
        let transformNodes = Nodes.allDSig("Transform", under: reference)
        let transforms = transformNodes.map { Nodes.attribute($0, "Algorithm") ?? "" }
        guard transforms == [Self.envelopedTransform, Self.exclusiveC14N] else {
            add(RuleID.signatureForm, "the Reference's transforms must be exactly enveloped-signature then exclusive C14N", reference)
            return nil
        }
        let digest = Nodes.allDSig("DigestMethod", under: reference).first
        guard digest.flatMap({ Nodes.attribute($0, "Algorithm") }) == Self.sha256 else {
            add(RuleID.signatureAlgorithm, "the digest method must be SHA-256", digest ?? reference)
            return nil
        }
        let referenceParts = Nodes.elementChildren(reference)
        guard referenceParts.count == 3, Nodes.isDSig(referenceParts[0], "Transforms"),
              Nodes.elementChildren(referenceParts[0]) == transformNodes,
              referenceParts[1] == digest, Nodes.isDSig(referenceParts[2], "DigestValue") else {
            add(RuleID.signatureForm, "the Reference must hold Transforms, DigestMethod and DigestValue, in that order, and nothing else", reference)
            return nil
        }
        let parameterised = [canonicalization, method] + transformNodes
        return Form(signedInfo: signedInfo, signatureValue: signatureParts[1], digestValue: referenceParts[2],
                    signatureTransform: algorithm.hasSuffix("rsa-sha256") ? CXMLSec_rsaSha256() : CXMLSec_ecdsaSha256(),
                    hasAlgorithmParameters: parameterised.contains { !Nodes.elementChildren($0).isEmpty })
    }

    /// Checks the Reference digest (`referenceDigest` when already computed) and the signature value with
    /// ``EnvelopedSignature``. Nil when they match.
    static func verifyDirectly(_ document: SignedDocument, signature: xmlNodePtr, form: Form,
                               with certificate: Certificate, referenceDigest: [UInt8]? = nil) throws -> String? {
        guard let expected = EnvelopedSignature.base64Value(of: form.digestValue) else {
            return "the DigestValue is not base64"
        }
        guard let actual = referenceDigest ?? EnvelopedSignature.referenceDigest(of: document, excluding: signature) else {
            return "the document could not be canonicalised (exclusive C14N)"
        }
        guard actual == expected else {
            return "the document's digest does not match the signed DigestValue: the batch was changed after signing"
        }
        guard let canonical = EnvelopedSignature.canonicalSignedInfo(form.signedInfo) else {
            return "SignedInfo could not be canonicalised (exclusive C14N)"
        }
        guard let key = CXMLSec_keyFromCertificate(certificate.pointer) else {
            return "cannot use the certificate's public key: \(XMLSec.errors())"
        }
        defer { xmlSecKeyDestroy(key) }
        do {
            guard try EnvelopedSignature.verify(canonical, transform: form.signatureTransform, key: key,
                                                signatureValue: form.signatureValue) else {
                return "the signature value does not match SignedInfo: it was changed after signing, or signed with another key"
            }
        } catch let error as FWXError {
            return error.message
        }
        return nil
    }

    /// Checks the signature value and digests with `certificate`'s public key through xmlsec's generic
    /// `xmlSecDSigCtxVerify`, nothing else. Nil when they match.
    static func verifyWithXMLSecDSig(_ signature: xmlNodePtr, with certificate: Certificate) throws -> String? {
        XMLSec.clearErrors()
        guard let context = xmlSecDSigCtxCreate(nil) else { return "cannot create a signature context" }
        defer { xmlSecDSigCtxDestroy(context) }
        guard let key = CXMLSec_keyFromCertificate(certificate.pointer) else {
            return "cannot use the certificate's public key: \(XMLSec.errors())"
        }
        context.pointee.signKey = key
        // Only same-document references to the whole document, and only the permitted transforms.
        context.pointee.enabledReferenceUris = xmlSecTransformUriType(xmlSecTransformUriTypeEmpty)
        for transform in [CXMLSec_enveloped(), CXMLSec_exclC14N(), CXMLSec_sha256()] {
            _ = xmlSecDSigCtxEnableReferenceTransform(context, transform)
        }
        for transform in [CXMLSec_exclC14N(), CXMLSec_rsaSha256(), CXMLSec_ecdsaSha256()] {
            _ = xmlSecDSigCtxEnableSignatureTransform(context, transform)
        }
        guard xmlSecDSigCtxVerify(context, signature) == 0 else {
            return "the signature could not be checked: \(XMLSec.errors())"
        }
        guard context.pointee.status == xmlSecDSigStatusSucceeded else {
            return "the signature does not match the document: it was changed after signing, or signed with another key"
        }
        return nil
    }

    private func xpath(_ node: xmlNodePtr) -> String {
        guard let path = xmlGetNodePath(node) else { return "" }
        defer { CXMLSec_xmlFree(path) }
        return String(cString: path)
    }
}

/// SHA-256 through OpenSSL, as lower-case hex.
enum SHA256Hex {
    static func of(_ bytes: [UInt8]) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        bytes.withUnsafeBufferPointer { _ = SHA256($0.baseAddress, $0.count, &digest) }
        return hex(digest)
    }

    /// A digest as lower-case hex.
    static func hex(_ digest: [UInt8]) -> String {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}
