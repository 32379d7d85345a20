import CXMLSec
import FWXModel
import FWXXML
import Foundation
import Synchronization

/// A signing key and its certificate (with chain), loaded from PEM files, for signing batches and receipts.
public final class SigningIdentity: @unchecked Sendable {
    // @unchecked Sendable: the xmlsec key is only read (duplicated per signature) after init.
    let key: UnsafeMutablePointer<xmlSecKey>
    /// The signer certificate, then the rest of the chain as given.
    public let certificates: [Certificate]

    /// Loads `keyFile` (PEM, unencrypted) and the certificate file (the signer's certificate first, optionally
    /// followed by intermediates). A key file readable by group or others is refused.
    public init(keyFile: String, certificateFile: String) throws {
        try XMLSec.ensureInitialised()
        var info = stat()
        guard stat(keyFile, &info) == 0 else {
            throw FWXError(.io, "cannot read private key \(keyFile): \(String(cString: strerror(errno)))", location: keyFile)
        }
        if info.st_mode & 0o077 != 0 {
            throw FWXError(.usage,
                "private key \(keyFile) is readable by group or others (mode \(String(info.st_mode & 0o777, radix: 8))); run: chmod 600 \(keyFile)",
                location: keyFile)
        }
        certificates = try Certificate.load(pemFile: certificateFile)
        XMLSec.clearErrors()
        guard let key = xmlSecOpenSSLAppKeyLoad(keyFile, xmlSecKeyDataFormatPem, nil, nil, nil) else {
            throw FWXError(.io, "cannot load private key \(keyFile) (PEM, unencrypted): \(XMLSec.errors())",
                           location: keyFile)
        }
        self.key = key
        for certificate in certificates {
            let der = certificate.der
            let status = der.withUnsafeBufferPointer {
                xmlSecOpenSSLAppKeyCertLoadMemory(key, $0.baseAddress, UInt32($0.count), xmlSecKeyDataFormatDer)
            }
            guard status == 0 else {
                throw FWXError(.io, "cannot attach certificate from \(certificateFile): \(XMLSec.errors())",
                               location: certificateFile)
            }
        }
        guard CXMLSec_keyMatchesCertificate(key, certificates[0].pointer) == 1 else {
            throw FWXError(.usage, "the private key \(keyFile) does not belong to the certificate \(certificates[0])",
                           location: keyFile)
        }
        let signer = certificates[0].publicKey
        if signer.isRSA && signer.bits < 2048 {
            throw FWXError(.usage, "RSA keys must have 2048 bits or more; \(certificateFile) has \(signer.bits)",
                           location: certificateFile)
        }
        guard signer.isRSA || (signer.isEC && signer.bits == 256) else {
            throw FWXError(.usage, "signing keys are RSA (2048 bits or more) or ECDSA P-256", location: certificateFile)
        }
    }

    deinit { xmlSecKeyDestroy(key) }

    /// The signer's certificate.
    public var certificate: Certificate { certificates[0] }

    var signatureTransform: xmlSecTransformId { certificate.publicKey.isRSA ? CXMLSec_rsaSha256() : CXMLSec_ecdsaSha256() }
}

/// An owned libxml2 document, freed with the object.
final class SignedDocument {
    let document: xmlDocPtr
    let name: String

    /// Parses `bytes` under FWX's hardening policy (``HardenedDocumentParser``: pre-scanned, no network, no DTD
    /// loading, no entity substitution; a DOCTYPE is refused before anything is built). Throws an ``FWXError`` that
    /// names the rule and the place; ``parse(bytes:name:)`` gives the failure itself.
    init(bytes: [UInt8], name: String) throws {
        switch HardenedDocumentParser.parse(bytes, name: name) {
        case .success(let document):
            self.document = document.assumingMemoryBound(to: xmlDoc.self)
            self.name = name
        case .failure(let failure):
            throw Self.error(failure, name: name)
        }
    }

    /// Parses `bytes`, or says why not (a rule id, a message and a position, for a finding).
    static func parse(bytes: [UInt8], name: String) -> Result<SignedDocument, HardenedDocumentParser.Failure> {
        HardenedDocumentParser.parse(bytes, name: name).map {
            SignedDocument(owning: $0.assumingMemoryBound(to: xmlDoc.self), name: name)
        }
    }

    private init(owning document: xmlDocPtr, name: String) {
        self.document = document
        self.name = name
    }

    /// The error for a document that cannot be parsed: the rule, the place and what to do.
    static func error(_ failure: HardenedDocumentParser.Failure, name: String) -> FWXError {
        FWXError(failure.rule == RuleID.doctypeRefused ? .unsupported : .conversion,
                 "\(failure.message) [\(failure.rule)]; run fwx validate for details",
                 location: "\(name):\(failure.line):\(failure.column)")
    }

    deinit { DocumentReclaimer.free(document) }

    var root: xmlNodePtr? { xmlDocGetRootElement(document) }

    /// The document as bytes, exactly as the tree holds it (never re-indented: that would break signatures).
    func serialized() -> [UInt8] {
        var memory: UnsafeMutablePointer<xmlChar>?
        var size: Int32 = 0
        // Without an explicit encoding: FWX documents are UTF-8, and an encoding handler would copy every byte again.
        xmlDocDumpMemory(document, &memory, &size)
        guard let memory else { return [] }
        defer { CXMLSec_xmlFree(memory) }
        return Array(UnsafeBufferPointer(start: memory, count: Int(size)))
    }

    /// Writes the document, exactly as the tree holds it, to an open file descriptor.
    func write(to descriptor: Int32) throws {
        guard let save = xmlSaveToFd(descriptor, "UTF-8", 0) else {
            throw FWXError(.io, "cannot start writing the signed document")
        }
        let written = xmlSaveDoc(save, document)
        let closed = xmlSaveClose(save)
        guard written >= 0, closed >= 0 else {
            throw FWXError(.io, "cannot write the signed document (disk full or closed output?)")
        }
    }

    /// SHA-256 (hex) of the exclusive canonical form of the whole document (comments dropped), as receipts name
    /// it. Hashed while libxml2 writes it: no copy of the canonical form is ever held (a node computes this for
    /// every batch it takes in).
    func exclusiveCanonicalSHA256() -> String {
        guard let digest = exclusiveCanonicalDigest() else {
            return SHA256Hex.of(EnvelopedSignature.exclusiveCanonical(of: document) ?? [])
        }
        return SHA256Hex.hex(digest)
    }

    /// SHA-256 of the exclusive canonical form of the whole document (comments dropped), streamed; nil when
    /// libxml2 cannot canonicalise it.
    func exclusiveCanonicalDigest() -> [UInt8]? {
        let hasher = StreamingSHA256()
        guard writeExclusiveCanonical(to: { hasher.update($0) }) else { return nil }
        return hasher.finish()
    }

    /// Hands the exclusive canonical form of the whole document (comments dropped) to `sink` in the pieces libxml2
    /// writes; false when libxml2 cannot canonicalise it.
    func writeExclusiveCanonical(to sink: @escaping (UnsafeRawBufferPointer) -> Void) -> Bool {
        final class Sink {
            let write: (UnsafeRawBufferPointer) -> Void
            init(_ write: @escaping (UnsafeRawBufferPointer) -> Void) { self.write = write }
        }
        let context = Unmanaged.passRetained(Sink(sink))
        defer { context.release() }
        guard let output = xmlOutputBufferCreateIO({ context, buffer, length in
            guard let context, let buffer, length >= 0 else { return -1 }
            Unmanaged<Sink>.fromOpaque(context).takeUnretainedValue().write(UnsafeRawBufferPointer(start: buffer, count: Int(length)))
            return length
        }, nil, context.toOpaque(), nil) else { return false }
        let written = xmlC14NDocSaveTo(document, nil, Int32(XML_C14N_EXCLUSIVE_1_0.rawValue), nil, 0, output)
        let closed = xmlOutputBufferClose(output)
        return written >= 0 && closed >= 0
    }

}

/// Frees libxml2 documents on a thread of its own. A signed batch of 10,000 records is a tree of ~250 MB in
/// millions of small allocations; freeing it took about 15% of `fwx verify`'s signature thread, whose answer the
/// caller waits for (perf). Documents are freed in the order they are handed over; a process that exits does not
/// wait for the freeing to finish. At most ``maxPending`` trees wait at any time: beyond that the caller frees
/// its own, so a node under sustained load cannot pile up trees faster than they are freed.
enum DocumentReclaimer {
    static let maxPending = 2
    private static let queue = DispatchQueue(label: "fwx.document-reclaimer", qos: .utility)
    private static let pending = Atomic<Int>(0)

    /// Frees `document` soon, on the reclaimer's thread (or now, when enough are waiting). Nothing else may use
    /// it afterwards.
    static func free(_ document: xmlDocPtr) {
        guard pending.add(1, ordering: .relaxed).newValue <= maxPending else {
            pending.subtract(1, ordering: .relaxed)
            xmlFreeDoc(document)
            return
        }
        // The address crosses the thread boundary as a plain integer: the tree is no longer reachable from
        // anywhere else, and libxml2 allows a document to be freed on another thread than the one that built it.
        let address = UInt(bitPattern: document)
        queue.async {
            xmlFreeDoc(xmlDocPtr(bitPattern: address))
            pending.subtract(1, ordering: .relaxed)
        }
    }

    /// Returns when every document handed over before the call is freed (the queue is serial).
    static func drain() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            queue.async { done.resume() }
        }
    }
}

/// Memory held by signature checking after its documents are released.
public enum SignatureMemory {
    /// Returns when every parsed document released before the call has been freed. Documents are freed on a
    /// thread of their own (so that a caller does not wait for a large tree's free); a node that accounts for
    /// the memory of batches in flight waits for this before it counts a batch's memory as given back.
    public static func freeReleasedDocuments() async {
        await DocumentReclaimer.drain()
    }
}

/// An OpenSSL SHA-256 computation fed in pieces. Owns its EVP_MD_CTX. Not Sendable: one task feeds it.
public final class StreamingSHA256 {
    private let context: OpaquePointer

    public init() {
        context = EVP_MD_CTX_new()
        EVP_DigestInit_ex(context, EVP_sha256(), nil)
    }

    deinit { EVP_MD_CTX_free(context) }

    private init(copying other: StreamingSHA256) {
        context = EVP_MD_CTX_new()
        EVP_MD_CTX_copy_ex(context, other.context)
    }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        EVP_DigestUpdate(context, bytes.baseAddress, bytes.count)
    }

    public func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// An independent computation that has seen what this one has.
    func copy() -> StreamingSHA256 { StreamingSHA256(copying: self) }

    /// The digest (32 bytes).
    public func finish() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &digest, &length)
        return Array(digest.prefix(Int(length)))
    }
}

/// Small helpers over libxml2 nodes.
enum Nodes {
    static let dsig = "http://www.w3.org/2000/09/xmldsig#"

    static func name(_ node: xmlNodePtr) -> String { String(cString: node.pointee.name) }

    static func namespace(_ node: xmlNodePtr) -> String? {
        node.pointee.ns.map { String(cString: $0.pointee.href) }
    }

    static func elementChildren(_ node: xmlNodePtr) -> [xmlNodePtr] {
        var result: [xmlNodePtr] = []
        var child = node.pointee.children
        while let current = child {
            if current.pointee.type == XML_ELEMENT_NODE { result.append(current) }
            child = current.pointee.next
        }
        return result
    }

    static func isDSig(_ node: xmlNodePtr, _ localName: String) -> Bool {
        name(node) == localName && namespace(node) == dsig
    }

    /// How many dsig elements of that name the subtree of `node` holds, and the first of them (walked in C).
    static func countDSig(_ localName: String, under node: xmlNodePtr) -> (count: Int, first: xmlNodePtr?) {
        var first: xmlNodePtr?
        let count = CXMLSec_countElements(node, localName, dsig, &first)
        return (Int(count), first)
    }

    /// Every element below and including `node` with that name in the dsig namespace, in document order
    /// (for small subtrees such as a ds:Signature; use ``countDSig(_:under:)`` over a whole document).
    static func allDSig(_ localName: String, under node: xmlNodePtr) -> [xmlNodePtr] {
        var found: [xmlNodePtr] = []
        var stack = [node]
        while let current = stack.popLast() {
            if isDSig(current, localName) { found.append(current) }
            stack.append(contentsOf: elementChildren(current).reversed())
        }
        return found
    }

    static func attribute(_ node: xmlNodePtr, _ name: String) -> String? {
        guard xmlHasProp(node, name) != nil, let value = xmlGetProp(node, name) else { return nil }
        defer { CXMLSec_xmlFree(value) }
        return String(cString: value)
    }

    static func text(_ node: xmlNodePtr) -> String {
        guard let content = xmlNodeGetContent(node) else { return "" }
        defer { CXMLSec_xmlFree(content) }
        return String(cString: content)
    }

    static func line(_ node: xmlNodePtr) -> Int { Int(xmlGetLineNo(node)) }

    /// Text of the first descendant path of FWX elements, e.g. Header/Sender/Country.
    static func fwxText(_ node: xmlNodePtr, _ path: [String]) -> String? {
        var current = node
        for step in path {
            guard let next = elementChildren(current).first(where: { name($0) == step }) else { return nil }
            current = next
        }
        return text(current).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Signs batches and receipts with one enveloped XML signature: exclusive C14N, SHA-256 digest, RSA-SHA256 or
/// ECDSA-SHA256, the signer's certificate and chain in KeyInfo.
public struct DocumentSigner: Sendable {
    public let identity: SigningIdentity
    /// How the digest and signature value are computed (the result is the same document; see
    /// ``SignatureComputation``).
    public var computation = SignatureComputation.direct

    public init(identity: SigningIdentity) { self.identity = identity }

    /// Returns the signed document. The input must not carry a signature yet. (That the key belongs to the
    /// certificate was checked when the identity was loaded.)
    public func sign(_ bytes: [UInt8], name: String) throws -> [UInt8] {
        try signedDocument(bytes, name: name).serialized()
    }

    /// Signs `bytes` and writes the signed document straight to the open file descriptor `descriptor`, without
    /// holding a second copy of it in memory (a 228 MB batch would otherwise need two more such buffers).
    public func sign(_ bytes: [UInt8], name: String, writingTo descriptor: Int32) throws {
        let document = try signedDocument(bytes, name: name)
        try document.write(to: descriptor)
    }

    private func signedDocument(_ bytes: [UInt8], name: String) throws -> SignedDocument {
        try XMLSec.ensureInitialised()
        let document = try SignedDocument(bytes: bytes, name: name)
        guard let root = document.root else { throw FWXError(.conversion, "\(name) has no root element", location: name) }
        if Nodes.countDSig("Signature", under: root).count > 0 {
            throw FWXError(.usage, "\(name) is already signed; sign the unsigned batch", location: name)
        }
        let signature = try template(in: document.document, name: name) { xmlAddChild(root, $0) != nil }
        let key = try duplicateKey()
        switch computation {
        case .direct:
            defer { xmlSecKeyDestroy(key) }
            guard let digest = EnvelopedSignature.referenceDigest(of: document, excluding: signature) else {
                throw FWXError(.conversion, "\(name) could not be canonicalised (exclusive C14N)", location: name)
            }
            try fill(signature, referenceDigest: digest, key: key, name: name)
        case .xmlsecDSig:
            guard let context = xmlSecDSigCtxCreate(nil) else {
                xmlSecKeyDestroy(key)
                throw FWXError(.conversion, "cannot create a signature context: \(XMLSec.errors())")
            }
            defer { xmlSecDSigCtxDestroy(context) }
            context.pointee.signKey = key
            guard xmlSecDSigCtxSign(context, signature) == 0 else {
                throw FWXError(.conversion, "signing failed: \(XMLSec.errors())", location: name)
            }
        }
        return document
    }

    /// The empty signature of the one accepted form, made in `document` and placed by `place` (as the root's last
    /// child, or as a document's root).
    func template(in document: xmlDocPtr, name: String, place: (xmlNodePtr) -> Bool) throws -> xmlNodePtr {
        XMLSec.clearErrors()
        guard let signature = xmlSecTmplSignatureCreate(document, CXMLSec_exclC14N(), identity.signatureTransform, nil),
              place(signature),
              let reference = xmlSecTmplSignatureAddReference(signature, CXMLSec_sha256(), nil, "", nil),
              xmlSecTmplReferenceAddTransform(reference, CXMLSec_enveloped()) != nil,
              xmlSecTmplReferenceAddTransform(reference, CXMLSec_exclC14N()) != nil,
              let keyInfo = xmlSecTmplSignatureEnsureKeyInfo(signature, nil),
              let x509Data = xmlSecTmplKeyInfoAddX509Data(keyInfo),
              xmlSecTmplX509DataAddCertificate(x509Data) != nil
        else {
            throw FWXError(.conversion, "cannot build the signature template: \(XMLSec.errors())", location: name)
        }
        return signature
    }

    /// A copy of the signing key for one signature (xmlsec's contexts take ownership of the key they are given).
    func duplicateKey() throws -> UnsafeMutablePointer<xmlSecKey> {
        guard let key = xmlSecKeyDuplicate(identity.key) else {
            throw FWXError(.conversion, "cannot use the signing key: \(XMLSec.errors())")
        }
        return key
    }

    /// Fills the template `signature` as `xmlSecDSigCtxSign` would: DigestValue (the Reference digest, SHA-256 of
    /// the document's exclusive canonical form without the signature), SignatureValue and KeyInfo's certificates.
    func fill(_ signature: xmlNodePtr, referenceDigest digest: [UInt8], key: UnsafeMutablePointer<xmlSecKey>,
              name: String) throws {
        guard let signedInfo = Nodes.elementChildren(signature).first(where: { Nodes.isDSig($0, "SignedInfo") }),
              let digestValue = Nodes.allDSig("DigestValue", under: signedInfo).first,
              let signatureValue = Nodes.elementChildren(signature).first(where: { Nodes.isDSig($0, "SignatureValue") }),
              let keyInfo = Nodes.elementChildren(signature).first(where: { Nodes.isDSig($0, "KeyInfo") })
        else { throw FWXError(.conversion, "the signature template is incomplete", location: name) }
        try EnvelopedSignature.setBase64(digest, of: digestValue)
        guard let canonical = EnvelopedSignature.canonicalSignedInfo(signedInfo) else {
            throw FWXError(.conversion, "SignedInfo could not be canonicalised (exclusive C14N)", location: name)
        }
        try EnvelopedSignature.sign(canonical, transform: identity.signatureTransform, key: key, into: signatureValue)
        XMLSec.clearErrors()
        guard let keyInfoContext = xmlSecKeyInfoCtxCreate(nil) else {
            throw FWXError(.conversion, "cannot create a KeyInfo context: \(XMLSec.errors())")
        }
        defer { xmlSecKeyInfoCtxDestroy(keyInfoContext) }
        keyInfoContext.pointee.mode = xmlSecKeyInfoModeWrite
        // What KeyInfo may show of the key: its public part (the certificates); xmlsec writes nothing for an empty request.
        keyInfoContext.pointee.keyReq.keyType = xmlSecKeyDataType(xmlSecKeyDataTypePublic)
        guard xmlSecKeyInfoNodeWrite(keyInfo, key, keyInfoContext) == 0 else {
            throw FWXError(.conversion, "cannot write the certificates into KeyInfo: \(XMLSec.errors())", location: name)
        }
    }
}
