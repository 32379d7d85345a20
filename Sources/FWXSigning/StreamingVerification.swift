import CXMLSec
public import FWXModel
package import FWXXML
import Foundation

extension SignatureVerifier {
    /// Verifies the signed document in the file at `path` in one streaming pass, with no document tree: memory
    /// stays flat however large the document is (issue 15).
    ///
    /// The exclusive canonical form of the document without its enveloped signature is made from the SAX parse
    /// (``CanonicalStream``) and hashed as it goes; the signature element alone is kept, as a small document, and
    /// checked as ``verify(_:name:)`` checks it: the same form, signer, chain, CRL, key usage and country rules,
    /// with the same rule ids. The Reference digest is the streamed one; SignedInfo is canonicalised and its
    /// signature value checked with the signer's key. With ``computesDigest``, the digest of the whole document's
    /// canonical form comes from the same pass (the signature rendered in its place into a fork of the hash).
    ///
    /// Documents outside what the stream computes (an InclusiveNamespaces prefix list, or ``computation`` set to
    /// xmlsec's generic processing) are read whole and verified by ``verify(_:name:)``.
    public func verify(file path: String) throws -> SignatureReport {
        try verifyStreaming(ByteSource(path: path)) {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw FWXError(.io, "cannot read \(path)", location: path)
            }
            return [UInt8](data)
        }
    }

    /// ``verify(file:)`` for a document in memory (a request body): the same single pass, no tree.
    public func verifyStreaming(_ bytes: [UInt8], name: String) throws -> SignatureReport {
        try verifyStreaming(ByteSource(bytes: bytes, name: name)) { bytes }
    }

    /// The streaming verification of `source`; `whole` gives the document's bytes for the tree-based fallback.
    func verifyStreaming(_ source: ByteSource, whole: () throws -> [UInt8]) throws -> SignatureReport {
        if computation == .xmlsecDSig { return try verify(whole(), name: source.name) }
        let pass = signaturePass()
        let result: CanonicalStream.Result
        do {
            result = try CanonicalStream.canonicalize(source, omitEnvelopedSignature: true,
                                                      textPath: pass.textPath, omittedSink: pass.omittedSink,
                                                      refusesRelativeNamespaces: false, sink: pass.sink)
        } catch let failure as HardenedDocumentParser.Failure {
            return Self.report(failure, name: source.name)
        }
        return try verify(result, digests: pass.fork, name: source.name, whole: whole)
    }

    /// What a streamed verification needs of the parse that canonicalises the document: where its canonical bytes
    /// go (``SignaturePass/sink``, the signature's own to ``SignaturePass/omittedSink``) and the sender path.
    package func signaturePass() -> SignaturePass {
        SignaturePass(fork: DigestFork(StreamingSHA256(), forking: computesDigest))
    }

    /// The verification of a document whose canonical form `tap` (made with `pass`) took from another parse, the
    /// node's validating one: the same checks and findings as ``verifyStreaming(_:name:)``.
    package func verify(tapped tap: CanonicalStream.Tap, pass: SignaturePass, name: String,
                        whole: () throws -> [UInt8]) throws -> SignatureReport {
        if computation == .xmlsecDSig { return try verify(whole(), name: name) }
        let result: CanonicalStream.Result
        do {
            result = try tap.finish()
        } catch let failure as HardenedDocumentParser.Failure {
            return Self.report(failure, name: name)
        }
        return try verify(result, digests: pass.fork, name: name, whole: whole)
    }

    /// The report for a document that does not parse: the parser's one finding.
    private static func report(_ failure: HardenedDocumentParser.Failure, name: String) -> SignatureReport {
        SignatureReport(findings: [Finding(severity: .error, rule: failure.rule, message: failure.message,
                                           location: SourceLocation(file: name, line: failure.line, column: failure.column),
                                           xpath: "")], signer: nil)
    }

    /// Checks the signature from what the canonical stream found: the form, the signer and the signature value
    /// over the streamed Reference digest.
    private func verify(_ result: CanonicalStream.Result, digests fork: DigestFork, name: String,
                        whole: () throws -> [UInt8]) throws -> SignatureReport {
        try XMLSec.ensureInitialised()
        var report = SignatureReport(findings: [], signer: nil)
        // Form findings point at the first ds:Signature, or at the root when there is none, as in the tree.
        let rootPath = result.rootPrefix != nil || result.rootNamespace.isEmpty ? "/" + result.rootQualifiedName : "/*"
        func addForm(_ message: String) {
            let signed = result.signatureElements > 0
            let location = SourceLocation(file: name, line: signed ? result.signatureLine : result.rootLine, column: 0)
            report.findings.append(Finding(severity: .error, rule: RuleID.signatureForm, message: message,
                                           location: location, xpath: signed ? result.signaturePath : rootPath))
        }
        guard result.signatureElements == 1 else {
            addForm(result.signatureElements == 0
                ? "the document is not signed; sign it with fwx sign"
                : "the document has \(result.signatureElements) ds:Signature elements; exactly one is allowed")
            return report
        }
        guard result.signatures.count == 1, !result.elementAfterSignature, let signatureBytes = result.signatures.first else {
            addForm("the ds:Signature must be the last child of the root element \(result.rootName)")
            return report
        }

        // The signature on its own: a few kilobytes, parsed under the same policy as every document.
        let document: SignedDocument
        switch SignedDocument.parse(bytes: signatureBytes, name: name) {
        case .success(let parsed): document = parsed
        case .failure(let failure):
            report.findings.append(Finding(severity: .error, rule: failure.rule,
                                           message: "the ds:Signature element cannot be read on its own: \(failure.message)",
                                           location: SourceLocation(file: name, line: result.signatureLine, column: 0),
                                           xpath: result.signaturePath))
            return report
        }
        guard let signature = document.root else { return report }
        let baseLine = result.signatureLine
        func add(_ rule: String, _ message: String, _ node: xmlNodePtr?) {
            let line = node.map { baseLine + Nodes.line($0) - 1 } ?? baseLine
            var path = ""
            if let node, let nodePath = xmlGetNodePath(node) {
                // The signature is the stand-alone copy's root: its own step is the one recorded in the document.
                let inSignature = String(cString: nodePath)
                CXMLSec_xmlFree(nodePath)
                path = result.signaturePath + inSignature.dropFirst().drop { $0 != "/" }
            }
            report.findings.append(Finding(severity: .error, rule: rule, message: message,
                                           location: SourceLocation(file: name, line: line, column: 0), xpath: path))
        }
        guard let form = checkForm(signature, add: add) else { return report }
        if form.hasAlgorithmParameters {
            // A prefix list changes the canonical form: only xmlsec's generic processing takes it into account.
            return try verify(whole(), name: name)
        }
        guard let signer = checkSigner(signature, sender: result.text, add: add) else { return report }
        report.signer = signer
        let digests = fork.finish()
        if result.canonicalFailure != nil {
            // As the tree verifier: the form and the signer were checked; the digest cannot be computed.
            if computesDigest { report.documentDigest = SHA256Hex.of([]) }
            add(RuleID.signatureInvalid, EnvelopedSignature.base64Value(of: form.digestValue) == nil
                ? "the DigestValue is not base64" : "the document could not be canonicalised (exclusive C14N)", signature)
            return report
        }
        if computesDigest { report.documentDigest = digests.whole.map(SHA256Hex.hex) }
        if let problem = try Self.verifyDirectly(document, signature: signature, form: form, with: signer,
                                                 referenceDigest: digests.reference) {
            add(RuleID.signatureInvalid, problem, signature)
        }
        return report
    }
}

/// The sinks a streamed verification gives the parse that canonicalises the document.
package struct SignaturePass {
    let fork: DigestFork

    /// The canonical bytes outside the signature.
    package var sink: ExclusiveCanonicalizer.Sink { { [fork] in fork.update($0) } }
    /// The signature's own canonical bytes, when the whole document's digest is wanted too.
    package var omittedSink: ExclusiveCanonicalizer.Sink? { fork.forking ? { [fork] in fork.omitted($0) } : nil }
    /// Where the document names its sender country.
    package var textPath: (String) -> [String] { { SignatureVerifier.senderPath(root: $0) } }

    /// A tap for another parse, feeding this pass.
    package func tap() -> CanonicalStream.Tap {
        CanonicalStream.Tap(omitEnvelopedSignature: true, textPath: textPath, omittedSink: omittedSink,
                            refusesRelativeNamespaces: false, sink: sink)
    }
}

/// The digests of one canonical stream: the Reference digest (the stream without the omitted signature) and,
/// when asked, the digest of the whole document, a copy of the first taken where the signature starts and fed the
/// signature's in-place bytes as well as everything after it.
final class DigestFork {
    private let reference: StreamingSHA256
    let forking: Bool
    private var whole: StreamingSHA256?

    init(_ reference: StreamingSHA256, forking: Bool) {
        self.reference = reference
        self.forking = forking
    }

    /// Canonical bytes outside the signature.
    func update(_ bytes: UnsafeRawBufferPointer) {
        reference.update(bytes)
        whole?.update(bytes)
    }

    /// The signature's canonical bytes, as in its place.
    func omitted(_ bytes: UnsafeRawBufferPointer) {
        if whole == nil { whole = reference.copy() }
        whole?.update(bytes)
    }

    func finish() -> (reference: [UInt8], whole: [UInt8]?) {
        let whole = forking ? (self.whole ?? reference.copy()) : nil
        return (reference.finish(), whole?.finish())
    }
}
