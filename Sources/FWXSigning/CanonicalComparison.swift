import CXMLSec
import FWXModel
package import FWXXML

/// The exclusive canonical form of a document computed both ways: by libxml2 over the document tree
/// (`xmlC14NDocDumpMemory`, the reference, what signatures have been made and checked with so far) and by the
/// streaming canonicaliser (``CanonicalStream``, no tree). Differential tests and the `c14n` fuzz target hold the two
/// side by side; they must agree byte for byte on every document both accept.
package enum CanonicalComparison {
    /// libxml2's exclusive canonical form (comments dropped) of `bytes` parsed as a tree; with
    /// `omitEnvelopedSignature`, every ds:Signature child of the root is unlinked first.
    package static func tree(_ bytes: [UInt8], omitEnvelopedSignature: Bool, name: String = "document") throws
        -> [UInt8]
    {
        let document: xmlDocPtr
        switch HardenedDocumentParser.parse(bytes, name: name) {
        case .success(let pointer): document = pointer.assumingMemoryBound(to: xmlDoc.self)
        case .failure(let failure): throw failure
        }
        defer { xmlFreeDoc(document) }
        var unlinked: [xmlNodePtr] = []
        defer { for node in unlinked { xmlFreeNode(node) } }
        if omitEnvelopedSignature, let root = xmlDocGetRootElement(document) {
            var child = root.pointee.children
            while let node = child {
                child = node.pointee.next
                if node.pointee.type == XML_ELEMENT_NODE, let namespace = node.pointee.ns,
                   let href = namespace.pointee.href,
                   String(cString: href) == CanonicalStream.signatureNamespace,
                   String(cString: node.pointee.name) == "Signature" {
                    xmlUnlinkNode(node)
                    unlinked.append(node)
                }
            }
        }
        guard let canonical = EnvelopedSignature.exclusiveCanonical(of: document) else {
            throw HardenedDocumentParser.Failure(rule: RuleID.notWellFormed,
                                                 message: "libxml2 could not canonicalise the document", line: 0,
                                                 column: 0)
        }
        return canonical
    }

    /// The streaming canonicaliser's form of the same document, and what the parse found.
    package static func stream(_ bytes: [UInt8], omitEnvelopedSignature: Bool, name: String = "document") throws
        -> (canonical: [UInt8], result: CanonicalStream.Result)
    {
        var canonical: [UInt8] = []
        let result = try CanonicalStream.canonicalize(ByteSource(bytes: bytes, name: name),
                                                      omitEnvelopedSignature: omitEnvelopedSignature) {
            canonical.append(contentsOf: $0)
        }
        return (canonical, result)
    }
}
