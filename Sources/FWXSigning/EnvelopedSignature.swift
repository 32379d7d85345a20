import CXMLSec
import FWXModel
import Foundation

/// The two computations of the one signature form FWX makes and accepts (a single Reference with `URI=""`, the
/// enveloped-signature transform, then exclusive C14N; SHA-256; RSA-SHA256 or ECDSA-SHA256), done directly:
///
/// - the Reference digest is SHA-256 (OpenSSL) over libxml2's exclusive canonical form of the whole document
///   with the ds:Signature element unlinked, which is what URI="" (the document without comments) minus the
///   enveloped signature is;
/// - the signature value is made or checked by xmlsec's own signature transform over libxml2's exclusive canonical
///   form of SignedInfo.
///
/// xmlsec's generic `xmlSecDSigCtxSign`/`Verify` compute the same bytes, but through a node-set callback that
/// walks each node's ancestors for every node, attribute and namespace of the document, twice (for the Reference and
/// again for SignedInfo); perf put that at 14% of `xmlsec1 --verify` in the named functions
/// (`xmlXPathNodeSetContains`, `xmlSecNodeSetContains`) plus 15% in unnamed libxmlsec1 internals. The form is checked before
/// anything here is used (``SignatureVerifier``), and a document in any other form (for example exclusive C14N
/// with an InclusiveNamespaces prefix list) goes through `xmlSecDSigCtxVerify` instead. Tests hold both ways side
/// by side on signed, tampered and wrapped documents.
enum EnvelopedSignature {
    /// SHA-256 of the exclusive canonical form (comments dropped) of `document` without `signature`, which is
    /// unlinked for the computation and put back where it was. Nil when libxml2 cannot canonicalise the document.
    static func referenceDigest(of document: SignedDocument, excluding signature: xmlNodePtr) -> [UInt8]? {
        let parent = signature.pointee.parent
        let next = signature.pointee.next
        xmlUnlinkNode(signature)
        defer {
            if let next {
                xmlAddPrevSibling(next, signature)
            } else if let parent {
                xmlAddChild(parent, signature)
            }
        }
        return document.exclusiveCanonicalDigest()
    }

    /// Exclusive canonical form (no comments, no prefix list) of `signedInfo` on its own: a copy of it is made the
    /// root of a new document, which carries the namespace declarations it uses from its ancestors. Exclusive C14N
    /// renders only visibly used namespaces and inherits no xml: attributes, so this is the form it has in place.
    static func canonicalSignedInfo(_ signedInfo: xmlNodePtr) -> [UInt8]? {
        guard let scratch = xmlNewDoc("1.0") else { return nil }
        defer { xmlFreeDoc(scratch) }
        guard let copy = xmlDocCopyNode(signedInfo, scratch, 1) else { return nil }
        xmlDocSetRootElement(scratch, copy)
        return exclusiveCanonical(of: scratch)
    }

    /// Signs `canonicalSignedInfo` with `key` through xmlsec's `transform` (RSA-SHA256 or ECDSA-SHA256) and writes
    /// the value, base64 in xmlsec's line length, into the empty `signatureValue` element.
    static func sign(_ canonicalSignedInfo: [UInt8], transform id: xmlSecTransformId,
                     key: UnsafeMutablePointer<xmlSecKey>, into signatureValue: xmlNodePtr) throws {
        try run(id, xmlSecTransformOperationSign, key: key, over: canonicalSignedInfo) { context, _ in
            guard let result = context.pointee.result,
                  xmlSecBufferBase64NodeContentWrite(result, signatureValue, xmlSecBase64GetDefaultLineSize()) == 0 else {
                throw FWXError(.conversion, "cannot write the signature value: \(XMLSec.errors())")
            }
        }
    }

    /// Whether the base64 value of `signatureValue` is `key`'s signature (xmlsec's `transform`) of
    /// `canonicalSignedInfo`. Throws when xmlsec cannot run the check at all; the message says why.
    static func verify(_ canonicalSignedInfo: [UInt8], transform id: xmlSecTransformId,
                       key: UnsafeMutablePointer<xmlSecKey>, signatureValue: xmlNodePtr) throws -> Bool {
        try run(id, xmlSecTransformOperationVerify, key: key, over: canonicalSignedInfo) { context, transform in
            guard xmlSecTransformVerifyNodeContent(transform, signatureValue, context) == 0 else {
                throw FWXError(.conversion, "the signature value could not be checked: \(XMLSec.errors())")
            }
            return transform.pointee.status == xmlSecTransformStatusOk
        }
    }

    /// Runs `data` through xmlsec's signature transform `id` for `operation` with `key`, then `finish` with the
    /// transform context and the transform.
    private static func run<Result>(_ id: xmlSecTransformId, _ operation: xmlSecTransformOperation,
                                    key: UnsafeMutablePointer<xmlSecKey>, over data: [UInt8],
                                    finish: (xmlSecTransformCtxPtr, xmlSecTransformPtr) throws -> Result) throws -> Result {
        XMLSec.clearErrors()
        guard let context = xmlSecTransformCtxCreate() else {
            throw FWXError(.conversion, "cannot create a transform context: \(XMLSec.errors())")
        }
        defer { xmlSecTransformCtxDestroy(context) }
        guard let transform = xmlSecTransformCtxCreateAndAppend(context, id) else {
            throw FWXError(.conversion, "cannot create the signature transform: \(XMLSec.errors())")
        }
        transform.pointee.operation = operation
        guard xmlSecTransformSetKey(transform, key) == 0 else {
            throw FWXError(.conversion, "the key does not fit the signature method: \(XMLSec.errors())")
        }
        let executed = data.withUnsafeBufferPointer {
            xmlSecTransformCtxBinaryExecute(context, $0.baseAddress, UInt32($0.count))
        }
        guard executed == 0 else {
            throw FWXError(.conversion, "the signature transform failed: \(XMLSec.errors())")
        }
        return try finish(context, transform)
    }

    /// The bytes of a base64 element text (whitespace between the characters allowed, nothing else).
    static func base64Value(of node: xmlNodePtr) -> [UInt8]? {
        let text = Nodes.text(node).filter { !($0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r") }
        return Data(base64Encoded: text).map { [UInt8]($0) }
    }

    /// Writes `bytes` as base64 (xmlsec's line length) into the empty element `node`.
    static func setBase64(_ bytes: [UInt8], of node: xmlNodePtr) throws {
        guard let encoded = bytes.withUnsafeBufferPointer({
            xmlSecBase64Encode($0.baseAddress, UInt32($0.count), xmlSecBase64GetDefaultLineSize())
        }) else { throw FWXError(.conversion, "cannot encode a digest: \(XMLSec.errors())") }
        defer { CXMLSec_xmlFree(encoded) }
        xmlNodeAddContent(node, encoded)
    }
}

extension EnvelopedSignature {
    /// Both digests a node needs of a signed batch from one canonicalisation: the Reference digest (the document
    /// without `signature`) and SHA-256 of the exclusive canonical form of the whole document (what receipts name).
    ///
    /// The whole document is canonicalised once with the signature in place and hashed as it is written, except
    /// for a tail held back. The signature's own canonical form in its place is made separately, from a copy of
    /// it under a copy of the root element (attributes and namespace declarations, no children): exclusive C14N
    /// renders a namespace only where it is used and not already rendered above, so that is its form in the
    /// document. The tail must then end with those bytes, followed by text (canonical text has no `>`) and the
    /// root's end tag; the hash state is copied, and one copy takes the tail without the signature. Nil when the
    /// shape does not allow it (a processing instruction after the root element, or bytes that do not match); the
    /// caller then computes the two digests separately.
    static func digests(of document: SignedDocument, signature: xmlNodePtr) -> (reference: [UInt8], whole: [UInt8])? {
        guard let root = document.root, signature.pointee.parent == root else { return nil }
        var after = root.pointee.next
        while let node = after {
            if node.pointee.type == XML_PI_NODE { return nil }
            after = node.pointee.next
        }
        guard let inPlace = canonicalFormInPlace(of: signature, under: root) else { return nil }
        let hasher = TailHoldingSHA256(holdBack: inPlace.signature.count + inPlace.endTag.count + (1 << 16))
        guard document.writeExclusiveCanonical(to: { hasher.update($0) }) else { return nil }
        let tail = hasher.tail
        guard tail.count >= inPlace.signature.count + inPlace.endTag.count,
              tail.suffix(inPlace.endTag.count).elementsEqual(inPlace.endTag) else { return nil }
        let beforeEndTag = tail.count - inPlace.endTag.count
        guard let lastTagEnd = tail[..<beforeEndTag].lastIndex(of: UInt8(ascii: ">")) else { return nil }
        let signatureEnd = lastTagEnd + 1
        let signatureStart = signatureEnd - inPlace.signature.count
        guard signatureStart >= 0, tail[signatureStart..<signatureEnd].elementsEqual(inPlace.signature) else { return nil }
        let withoutSignature = hasher.copy()
        withoutSignature.update(tail[..<signatureStart])
        withoutSignature.update(tail[signatureEnd...])
        hasher.update(tail[...])
        return (withoutSignature.finish(), hasher.finish())
    }

    /// The exclusive canonical form `signature` has in its document, and the canonical end tag of `root`.
    private static func canonicalFormInPlace(of signature: xmlNodePtr, under root: xmlNodePtr)
        -> (signature: [UInt8], endTag: [UInt8])?
    {
        guard let scratch = xmlNewDoc("1.0") else { return nil }
        defer { xmlFreeDoc(scratch) }
        guard let rootCopy = xmlDocCopyNode(root, scratch, 2) else { return nil }
        xmlDocSetRootElement(scratch, rootCopy)
        guard let empty = exclusiveCanonical(of: scratch) else { return nil }
        guard let signatureCopy = xmlDocCopyNode(signature, scratch, 1) else { return nil }
        guard xmlAddChild(rootCopy, signatureCopy) != nil, let full = exclusiveCanonical(of: scratch) else { return nil }
        // `empty` is the root's start tag then its end tag; `full` has the signature between the two.
        guard let endTagStart = empty.lastIndex(of: UInt8(ascii: "<")) else { return nil }
        let startTag = empty[..<endTagStart], endTag = empty[endTagStart...]
        guard full.count > empty.count, full.starts(with: startTag), full.suffix(endTag.count).elementsEqual(endTag) else {
            return nil
        }
        return (Array(full[startTag.count..<(full.count - endTag.count)]), Array(endTag))
    }

    /// The exclusive canonical form (comments dropped) of a whole document, in memory: for small documents
    /// (SignedInfo, a signature under a copy of the root); large ones are streamed (``SignedDocument``).
    static func exclusiveCanonical(of document: xmlDocPtr) -> [UInt8]? {
        var memory: UnsafeMutablePointer<xmlChar>?
        let size = xmlC14NDocDumpMemory(document, nil, Int32(XML_C14N_EXCLUSIVE_1_0.rawValue), nil, 0, &memory)
        guard size >= 0, let memory else { return nil }
        defer { CXMLSec_xmlFree(memory) }
        return Array(UnsafeBufferPointer(start: memory, count: Int(size)))
    }
}

/// SHA-256 of a stream whose last `holdBack` bytes (at least) are kept unhashed in ``tail`` until the caller
/// decides what to do with them.
final class TailHoldingSHA256 {
    private let hasher: StreamingSHA256
    private let holdBack: Int
    private(set) var tail: [UInt8] = []

    init(holdBack: Int) {
        hasher = StreamingSHA256()
        self.holdBack = holdBack
        tail.reserveCapacity(2 * holdBack)
    }

    private init(copying other: TailHoldingSHA256) {
        hasher = other.hasher.copy()
        holdBack = other.holdBack
    }

    func update(_ bytes: UnsafeRawBufferPointer) {
        tail.append(contentsOf: bytes)
        if tail.count > 2 * holdBack {
            let ready = tail.count - holdBack
            tail.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[..<ready])) }
            tail.removeFirst(ready)
        }
    }

    /// Hashes `bytes` straight away (after everything given before; for use once the tail has been taken).
    func update(_ bytes: ArraySlice<UInt8>) {
        bytes.withUnsafeBytes { hasher.update($0) }
    }

    /// An independent copy of the hash state of the bytes hashed so far (not of the tail).
    func copy() -> TailHoldingSHA256 { TailHoldingSHA256(copying: self) }

    func finish() -> [UInt8] { hasher.finish() }
}
