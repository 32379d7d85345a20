// Fuzz target: the streaming exclusive canonicaliser (FWXXML's CanonicalStream, no document tree) against
// libxml2's xmlC14N over the document tree, on any bytes (issue 15 item 2). Property checked besides crashes: both
// accept or both refuse a document, and when both accept it their canonical forms are equal byte for byte. Inputs
// of even length leave the enveloped signature (every ds:Signature child of the root) out, odd ones keep it.
import CLibXML2
import FWXModel
import FWXSigning
import FWXXML
import FuzzSupport

@main
enum FuzzC14N {
    static func main() {
        // The tree parser still lets libxml2 report to its handlers; here they would fill the log at each execution.
        xmlSetStructuredErrorFunc(nil) { _, _ in }
        Fuzz.run(fuzz)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Fuzz.bytes(data, size)
    let omit = size % 2 == 0
    let tree = Result { try CanonicalComparison.tree(bytes, omitEnvelopedSignature: omit) }
    let stream = Result { try CanonicalComparison.stream(bytes, omitEnvelopedSignature: omit).canonical }
    switch (tree, stream) {
    case (.success(let expected), .success(let streamed)):
        if expected != streamed {
            let index = (0..<min(expected.count, streamed.count)).first { expected[$0] != streamed[$0] }
                ?? min(expected.count, streamed.count)
            Fuzz.fail("the streaming canonical form differs from libxml2's at byte \(index) (\(streamed.count) and "
                + "\(expected.count) bytes, omit \(omit))")
        }
    case (.failure, .failure):
        break
    case (.success, .failure(let error)):
        Fuzz.fail("libxml2's tree accepts a document the stream refuses: \(error)")
    case (.failure(let error), .success):
        Fuzz.fail("the stream accepts a document libxml2's tree refuses: \(error)")
    }
    return 0
}
