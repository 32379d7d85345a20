// Issue 15 item 2: the streaming exclusive canonicaliser (FWXXML's CanonicalStream, no document tree) against
// libxml2's xmlC14N over the tree, byte for byte: hand-made edge cases, every XML fixture, and generated signed
// batches of many seeds, with and without the enveloped signature left out.
import FWXConvert
import FWXModel
import FWXSigning
import FWXXML
import Foundation
import Testing

@Suite("Streaming exclusive canonicalisation equals libxml2's")
struct CanonicalStreamTests {
    /// Both forms of `text`; records a readable difference (the first differing byte with context) on mismatch.
    static func expectSame(_ bytes: [UInt8], omit: Bool = false, _ label: String,
                           sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
        let tree = try CanonicalComparison.tree(bytes, omitEnvelopedSignature: omit)
        let stream = try CanonicalComparison.stream(bytes, omitEnvelopedSignature: omit).canonical
        if tree != stream {
            let index = (0..<min(tree.count, stream.count)).first { tree[$0] != stream[$0] } ?? min(tree.count, stream.count)
            func around(_ value: [UInt8]) -> String {
                String(decoding: value[max(0, index - 60)..<min(value.count, index + 60)], as: UTF8.self).debugDescription
            }
            Issue.record("""
                \(label): canonical forms differ at byte \(index) (tree \(tree.count) bytes, stream \(stream.count)):
                tree:   \(around(tree))
                stream: \(around(stream))
                """, sourceLocation: sourceLocation)
        }
    }

    static let edgeCases: [(String, String)] = [
        ("namespaces at several levels",
         #"<a:r xmlns:a="urn:a" xmlns:b="urn:b"><b:c xmlns:a="urn:a"><a:d/></b:c><e xmlns="urn:e"><f/></e></a:r>"#),
        ("a prefix redeclared with another URI and back",
         #"<p:r xmlns:p="urn:1"><p:c xmlns:p="urn:2"><p:d xmlns:p="urn:1"/><p:e/></p:c><p:f/></p:r>"#),
        ("unused prefixes", #"<r xmlns:u="urn:unused" xmlns:v="urn:v"><c xmlns:w="urn:w"/></r>"#),
        ("a default namespace undeclared",
         #"<r xmlns="urn:d"><c xmlns=""><d/><e xmlns="urn:d"/></c><f/></r>"#),
        ("xmlns=\"\" with no default in scope", #"<r xmlns=""><c xmlns=""/><d/></r>"#),
        ("a default namespace changed and back",
         #"<r xmlns="urn:1"><c xmlns="urn:2"><d xmlns="urn:1"/></c><g/></r>"#),
        ("attributes in several namespaces",
         #"<r xmlns:a="urn:z" xmlns:b="urn:a" b:x="1" a:x="2" y="3" a:b="4" xml:lang="nl" b="5"/>"#),
        ("two prefixes for one namespace",
         #"<a:r xmlns:a="urn:s" xmlns:b="urn:s" b:x="1" a:y="2"><b:c a:z="3"/></a:r>"#),
        ("a namespace used only below an element that does not use it",
         #"<r xmlns:a="urn:a"><c><a:d/><a:e/></c><a:f/></r>"#),
        ("xml: attributes, never inherited", #"<r xml:space="preserve" xml:lang="en"><c xml:lang="de"><d/></c></r>"#),
        ("special characters in attribute values",
         "<r a=\"&lt;&amp;&gt;&quot;'&#9;&#10;&#13; x\" b='\"' c=\"&#38;&#38;amp;\"/>"),
        ("literal tab, line feed and CR in attribute values (normalised by the parser)", "<r a=\"x\ty\nz\r\nw\"/>"),
        ("special characters in text", "<r>&lt;&amp;&gt;\"'&#13;&#9;\nline\r\nnext\rlast&#x20;</r>"),
        ("white space", "<r>\n  <c>  </c>\n\t<d>\n</d>\n</r>\n"),
        ("comments and processing instructions outside and inside the root",
         "<?pi before?><!-- c --><?pi2?>\n<r><?in data?><!--x--><?empty?>t<?in2   spaced  data ?></r><?after x?><!-- y --><?last?>"),
        ("an XML declaration and a PI with a line break in its data",
         "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<?p a\nb?><r/>"),
        ("CDATA sections", "<r><![CDATA[<&>\"'\r\n]]>x]]&gt;<![CDATA[]]><c><![CDATA[ ]]></c></r>"),
        ("empty elements", #"<r><e/><f></f><g a="1"/><h xmlns="urn:h"/></r>"#),
        ("characters outside the BMP", "<r a=\"😀\u{10FFFD}\">𝄞 &#x1F600; &#128512;</r>"),
        ("a namespace URI with an apostrophe", #"<q:r xmlns:q="urn:it's"/>"#),
        ("prefixed and unprefixed attributes with equal local names",
         #"<r xmlns:a="urn:b" xmlns:b="urn:a" x="0" a:x="1" b:x="2"/>"#),
        ("deep nesting with shadowed defaults",
         #"<r xmlns="urn:0"><a xmlns="urn:1"><b xmlns="urn:0"><c xmlns=""><d xmlns="urn:1"/></c></b></a></r>"#),
        ("a long text", "<r>" + String(repeating: "abc&amp;<![CDATA[&]]>", count: 20_000) + "</r>"),
    ]

    @Test("hand-made edge cases", arguments: Self.edgeCases.indices)
    func edgeCase(_ index: Int) throws {
        let (label, text) = Self.edgeCases[index]
        try Self.expectSame(Array(text.utf8), label)
    }

    @Test("a document in ISO-8859-1 is canonicalised to UTF-8 the same way")
    func latin1() throws {
        let bytes = Array(#"<?xml version="1.0" encoding="ISO-8859-1"?><r a=""#.utf8) + [0xE9] + Array(#"">"#.utf8)
            + [0xFC, 0x20, 0xDF] + Array("</r>".utf8)
        try Self.expectSame(bytes, "ISO-8859-1")
        let canonical = try CanonicalComparison.stream(bytes, omitEnvelopedSignature: false).canonical
        #expect(String(decoding: canonical, as: UTF8.self) == "<r a=\"é\">ü ß</r>")
    }

    @Test("the enveloped signature is left out as libxml2's tree with it unlinked; the signature is kept apart")
    func omission() throws {
        let text = """
            <?pi x?><Batch xmlns="urn:x" xmlns:u="urn:unused"><a u:b="1"/>
              <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="s"><ds:SignedInfo>\
            <ds:Reference URI=""/></ds:SignedInfo><ds:SignatureValue>AA&#13;==</ds:SignatureValue></ds:Signature>
            </Batch>
            """
        try Self.expectSame(Array(text.utf8), omit: true, "signature omitted")
        let (_, result) = try CanonicalComparison.stream(Array(text.utf8), omitEnvelopedSignature: true)
        #expect(result.signatures.count == 1 && !result.elementAfterSignature)
        #expect(result.rootName == "Batch" && result.rootNamespace == "urn:x")
        // The kept signature parses on its own to the same canonical form as in place.
        let kept = try #require(result.signatures.first)
        let inPlace = try CanonicalComparison.tree(Array("""
            <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="s"><ds:SignedInfo>\
            <ds:Reference URI=""/></ds:SignedInfo><ds:SignatureValue>AA&#13;==</ds:SignatureValue></ds:Signature>
            """.utf8), omitEnvelopedSignature: false)
        #expect(try CanonicalComparison.tree(kept, omitEnvelopedSignature: false) == inPlace)
        // An element after the signature is noticed (the accepted form has the signature last).
        let after = Array(#"<r><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/><x/></r>"#.utf8)
        #expect(try CanonicalComparison.stream(after, omitEnvelopedSignature: true).result.elementAfterSignature)
        try Self.expectSame(after, omit: true, "element after the signature")
    }

    @Test("refusals carry the tree parser's rule ids")
    func refusals() throws {
        for (text, rule) in [("<r><a></r>", RuleID.notWellFormed), ("<!DOCTYPE r [<!ENTITY e \"x\">]><r>&e;</r>", RuleID.doctypeRefused),
                             ("<r>", RuleID.notWellFormed), ("", RuleID.notWellFormed), ("<r/><s/>", RuleID.notWellFormed),
                             // libxml2 refuses namespace names that are not URIs (a quote, markup characters).
                             ("<q:r xmlns:q='urn:\"q\"'/>", RuleID.notWellFormed),
                             (#"<q:r xmlns:q="urn:a&amp;b&lt;c&gt;"/>"#, RuleID.notWellFormed),
                             // C14N refuses relative namespace names, used or not (found by the c14n fuzz target).
                             (#"<r><e xmlns="urn;d"/></r>"#, RuleID.notWellFormed),
                             (#"<r xmlns:u="relative/path"><c/></r>"#, RuleID.notWellFormed)] {
            var treeRule: String?
            var streamRule: String?
            do { _ = try CanonicalComparison.tree(Array(text.utf8), omitEnvelopedSignature: false) } catch let failure as HardenedDocumentParser.Failure { treeRule = failure.rule }
            do { _ = try CanonicalComparison.stream(Array(text.utf8), omitEnvelopedSignature: false) } catch let failure as HardenedDocumentParser.Failure { streamRule = failure.rule }
            #expect(treeRule == rule && streamRule == rule, "\(text.debugDescription): tree \(treeRule ?? "accepted"), stream \(streamRule ?? "accepted")")
        }
    }

    @Test("every XML fixture")
    func fixtures() throws {
        let root = Paths.repo("fixtures")
        let files = (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? [])
            .filter { $0.hasSuffix(".xml") }.sorted()
        #expect(files.count >= 10, "fixtures found: \(files.count)")
        var compared = 0
        for file in files {
            guard let data = FileManager.default.contents(atPath: root + "/" + file) else { continue }
            let bytes = Array(data)
            let tree = Result { try CanonicalComparison.tree(bytes, omitEnvelopedSignature: true) }
            let stream = Result { try CanonicalComparison.stream(bytes, omitEnvelopedSignature: true).canonical }
            switch (tree, stream) {
            case (.success, .success):
                try Self.expectSame(bytes, omit: true, file)
                try Self.expectSame(bytes, omit: false, file)
                compared += 1
            case (.failure(let treeError), .failure(let streamError)):
                let treeRule = (treeError as? HardenedDocumentParser.Failure)?.rule
                let streamRule = (streamError as? HardenedDocumentParser.Failure)?.rule
                #expect(treeRule == streamRule, "\(file): refused as \(treeRule ?? "?") and \(streamRule ?? "?")")
            default:
                Issue.record("\(file): one way accepts it, the other refuses it (tree \(tree), stream \(stream))")
            }
        }
        #expect(compared >= 10, "fixtures compared: \(compared)")
    }

    @Test("signed generated batches of many seeds", arguments: 0..<12)
    func generated(_ seed: Int) throws {
        let pki = try SigningPKI.ec()
        let records = 1 + seed * 37 % 300
        var generator = try SyntheticBatchGenerator(SyntheticBatchConfiguration(records: records,
                                                                                seed: UInt64(7000 + seed)))
        let header = generator.header()
        var planned: [Record] = []
        while planned.count < records { planned += generator.nextCase(limit: records - planned.count) }
        let text = BatchXMLWriter.string(for: Batch(header: header, records: planned))
        let signed = try DocumentSigner(identity: try pki.identity("NL", "liaison")).sign(Array(text.utf8),
                                                                                          name: "seed \(seed)")
        try Self.expectSame(signed, omit: true, "seed \(seed), signature omitted")
        try Self.expectSame(signed, omit: false, "seed \(seed), whole document")
        let streamed = try CanonicalComparison.stream(signed, omitEnvelopedSignature: true)
        #expect(streamed.result.signatures.count == 1 && !streamed.result.elementAfterSignature)
        let report = try signingVerify(String(decoding: signed, as: UTF8.self), with: try pki.verifier())
        #expect(report.isValid)
    }
}
