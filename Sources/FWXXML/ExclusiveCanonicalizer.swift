import CLibXML2

/// Exclusive XML Canonicalization 1.0 without comments (`http://www.w3.org/2001/10/xml-exc-c14n#`, no
/// InclusiveNamespaces prefix list) of a whole document, computed from SAX2 events as the parser delivers them, with
/// no document tree: byte for byte what libxml2's `xmlC14NExecute(doc, nil, XML_C14N_EXCLUSIVE_1_0, nil, 0, …)`
/// writes for the document libxml2 builds from the same bytes (issue 15; differential tests and a fuzz target hold
/// the two side by side).
///
/// The rules are libxml2's (c14n.c), not only the specification's prose, where they could differ:
/// - a namespace declaration is written on an element that visibly uses it (its own prefix, or a prefixed
///   attribute's) unless the nearest output ancestor that used the same prefix already wrote the same URI; the
///   element's own namespace and its attributes' count as written for its descendants either way;
/// - `xmlns=""` is written on an element in no namespace when the nearest ancestor that used the default prefix
///   wrote a non-empty one;
/// - declarations sorted by prefix (the default first), attributes unprefixed first by local name, then by
///   (namespace URI, local name); `xml:` attributes are written where they stand and never inherited;
/// - namespace URIs are written as libxml2's `xmlBufWriteQuotedString` does (in single quotes when they hold a `"`),
///   attribute values and text escaped as C14N requires; comments dropped; processing instructions kept, with a
///   line feed after those before the root and before those after it.
///
/// `omit` in ``startElement`` leaves an element and its subtree out (the enveloped-signature transform); with an
/// ``omittedSink`` it is still rendered as it would be in place, but into that sink. Output is
/// buffered and handed to `sink` in pieces of up to 64 KiB; ``finish()`` hands over the rest. Not thread-safe: one
/// parser feeds it.
package final class ExclusiveCanonicalizer {
    package typealias Sink = (UnsafeRawBufferPointer) -> Void

    private struct Binding {
        var prefix: [UInt8]
        var uri: [UInt8]
    }

    private let sink: Sink
    /// Where an omitted subtree's canonical bytes go, rendered as in place (for the digest of the whole document
    /// beside the one without it); nil: an omitted subtree is skipped. The main sink has been handed everything
    /// before the subtree when this one is first called.
    package var omittedSink: Sink?
    /// While an omitted subtree is rendered into ``omittedSink``: the output depth it was opened at.
    private var divertedAt: Int?
    private var buffer: [UInt8] = []
    private static let flushAt = 65_536

    /// Namespace declarations in scope, innermost last; `scopeMarks` holds the count before each open element's.
    private var scope: [Binding] = []
    private var scopeMarks: [Int] = []
    /// libxml2's `ns_rendered` stack: namespaces used (written or not) by open output elements.
    private var rendered: [Binding] = []
    private var renderedMarks: [Int] = []
    /// Qualified names of the open output elements, for their end tags.
    private var names: [[UInt8]] = []
    /// Depth inside an omitted subtree (0: not omitting).
    private var omitted = 0
    private var afterRoot = false
    /// Bytes handed to the (main) sink so far, plus those still buffered for it.
    package private(set) var byteCount = 0

    private static let xmlNamespace = Array("http://www.w3.org/XML/1998/namespace".utf8)

    package init(sink: @escaping Sink) {
        self.sink = sink
        buffer.reserveCapacity(Self.flushAt + 4096)
    }

    /// Open output elements (the root is depth 1); an omitted subtree does not count.
    package var depth: Int { names.count }
    /// Whether an omitted subtree is being skipped.
    package var isOmitting: Bool { omitted > 0 }

    /// A start tag, as libxml2's SAX2 `startElementNs` reports it: `namespaces` holds `namespaceCount` pairs
    /// (prefix or nil for the default, URI), `attributes` holds `attributeCount` quintuples (local name, prefix, URI,
    /// value start, value end). With `omit`, the element and everything in it is left out.
    package func startElement(localName: UnsafePointer<UInt8>, prefix: UnsafePointer<UInt8>?,
                             uri: UnsafePointer<UInt8>?, namespaceCount: Int,
                             namespaces: UnsafeMutablePointer<UnsafePointer<UInt8>?>?, attributeCount: Int,
                             attributes: UnsafeMutablePointer<UnsafePointer<UInt8>?>?, omit: Bool = false) {
        if omitted > 0 || (omit && omittedSink == nil) {
            omitted += 1
            return
        }
        if omit {
            flush()
            divertedAt = names.count
        }
        scopeMarks.append(scope.count)
        renderedMarks.append(rendered.count)
        if namespaceCount > 0, let namespaces {
            for index in 0..<namespaceCount {
                scope.append(Binding(prefix: Self.bytes(namespaces[2 * index]), uri: Self.bytes(namespaces[2 * index + 1])))
            }
        }
        let elementPrefix = Self.bytes(prefix)
        var qualified = elementPrefix
        if !qualified.isEmpty { qualified.append(UInt8(ascii: ":")) }
        qualified += Self.bytes(localName)

        // The namespaces this element writes (libxml2's xmlExcC14NProcessNamespacesAxis).
        var toWrite: [Binding] = []
        var usesEmptyDefault = false
        var hasEmptyPrefix = false
        let elementNamespace: Binding?
        if let uri {
            elementNamespace = Binding(prefix: elementPrefix, uri: Self.bytes(uri))
        } else {
            usesEmptyDefault = true
            // The nearest default declaration in scope: for an element in no namespace, an `xmlns=""`.
            elementNamespace = scope.last { $0.prefix.isEmpty }
        }
        if let namespace = elementNamespace, namespace.uri != Self.xmlNamespace {
            if !isRendered(namespace) { toWrite.append(namespace) }
            rendered.append(namespace)
            if namespace.prefix.isEmpty { hasEmptyPrefix = true }
        }
        var attributeList: [(prefix: [UInt8], local: [UInt8], uri: [UInt8]?, value: [UInt8])] = []
        if attributeCount > 0, let attributes {
            attributeList.reserveCapacity(attributeCount)
            for index in 0..<attributeCount {
                let base = attributes + 5 * index
                let attributePrefix = Self.bytes(base[1])
                let attributeURI = base[2].map { Self.bytes($0) }
                var value: [UInt8] = []
                if let start = base[3], let end = base[4] {
                    value = Self.decodedAttributeValue(UnsafeBufferPointer(start: start, count: end - start))
                }
                attributeList.append((attributePrefix, Self.bytes(base[0]), attributeURI, value))
                if base[1] != nil, let attributeURI, attributeURI != Self.xmlNamespace {
                    let namespace = Binding(prefix: attributePrefix, uri: attributeURI)
                    let already = isRendered(namespace)
                    rendered.append(namespace)
                    if !already { toWrite.append(namespace) }
                    if attributePrefix.isEmpty { hasEmptyPrefix = true }
                }
            }
        }

        write(UInt8(ascii: "<"))
        write(qualified)
        if usesEmptyDefault && !hasEmptyPrefix && !isRendered(Binding(prefix: [], uri: [])) {
            write(Array(#" xmlns="""#.utf8))
        }
        toWrite.sort { Self.less($0.prefix, $1.prefix) }
        for namespace in toWrite {
            if namespace.prefix.isEmpty {
                write(Array(" xmlns=".utf8))
            } else {
                write(Array(" xmlns:".utf8))
                write(namespace.prefix)
                write(UInt8(ascii: "="))
            }
            writeQuoted(namespace.uri)
        }
        attributeList.sort { left, right in
            switch (left.prefix.isEmpty, right.prefix.isEmpty) {
            case (true, true): return Self.less(left.local, right.local)
            case (true, false): return true
            case (false, true): return false
            case (false, false):
                let leftURI = left.uri ?? [], rightURI = right.uri ?? []
                if leftURI != rightURI { return Self.less(leftURI, rightURI) }
                return Self.less(left.local, right.local)
            }
        }
        for attribute in attributeList {
            write(UInt8(ascii: " "))
            if !attribute.prefix.isEmpty {
                write(attribute.prefix)
                write(UInt8(ascii: ":"))
            }
            write(attribute.local)
            write(Array(#"=""#.utf8))
            writeEscapedAttribute(attribute.value)
            write(UInt8(ascii: "\""))
        }
        write(UInt8(ascii: ">"))
        names.append(qualified)
    }

    /// An end tag.
    package func endElement() {
        if omitted > 0 {
            omitted -= 1
            return
        }
        guard let name = names.popLast() else { return }
        write(Array("</".utf8))
        write(name)
        write(UInt8(ascii: ">"))
        scope.removeLast(scope.count - (scopeMarks.popLast() ?? scope.count))
        rendered.removeLast(rendered.count - (renderedMarks.popLast() ?? rendered.count))
        if let at = divertedAt, names.count == at {
            flush()
            divertedAt = nil
        }
        if names.isEmpty { afterRoot = true }
    }

    /// Character data (text or a CDATA section's content), as the parser reports it. Outside the root it is
    /// dropped, as it has no node in the document tree.
    package func characters(_ characters: UnsafePointer<UInt8>, count: Int) {
        guard omitted == 0, !names.isEmpty else { return }
        writeEscapedText(UnsafeBufferPointer(start: characters, count: count))
    }

    /// A processing instruction.
    package func processingInstruction(target: UnsafePointer<UInt8>, data: UnsafePointer<UInt8>?) {
        guard omitted == 0 else { return }
        let outside = names.isEmpty
        if outside && afterRoot { write(UInt8(ascii: "\n")) }
        write(Array("<?".utf8))
        write(Self.bytes(target))
        if let data, data.pointee != 0 {
            write(UInt8(ascii: " "))
            var pointer = data
            while pointer.pointee != 0 {
                if pointer.pointee == 0x0D { write(Array("&#xD;".utf8)) } else { write(pointer.pointee) }
                pointer += 1
            }
        }
        write(Array("?>".utf8))
        if outside && !afterRoot { write(UInt8(ascii: "\n")) }
    }

    /// Hands the buffered rest to the sink.
    package func finish() {
        flush()
    }

    // MARK: Namespaces

    /// libxml2's xmlExcC14NVisibleNsStackFind: whether the nearest used namespace with this prefix has this URI
    /// (an empty default counts as written when none was used).
    private func isRendered(_ namespace: Binding) -> Bool {
        if let nearest = rendered.last(where: { $0.prefix == namespace.prefix }) {
            return nearest.uri == namespace.uri
        }
        return namespace.prefix.isEmpty && namespace.uri.isEmpty
    }

    // MARK: Output

    private func write(_ byte: UInt8) {
        buffer.append(byte)
        if divertedAt == nil { byteCount += 1 }
        if buffer.count >= Self.flushAt { flush() }
    }

    private func write(_ bytes: [UInt8]) {
        buffer.append(contentsOf: bytes)
        if divertedAt == nil { byteCount += bytes.count }
        if buffer.count >= Self.flushAt { flush() }
    }

    private func flush() {
        guard !buffer.isEmpty else { return }
        if divertedAt != nil, let omittedSink {
            buffer.withUnsafeBytes { omittedSink($0) }
        } else {
            buffer.withUnsafeBytes { sink($0) }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// As libxml2's xmlBufWriteQuotedString: in double quotes; in single quotes when the text holds a `"` and no
    /// `'`; with `"` written as `&quot;` when it holds both.
    private func writeQuoted(_ text: [UInt8]) {
        let hasDouble = text.contains(UInt8(ascii: "\""))
        if !hasDouble {
            write(UInt8(ascii: "\""))
            write(text)
            write(UInt8(ascii: "\""))
        } else if !text.contains(UInt8(ascii: "'")) {
            write(UInt8(ascii: "'"))
            write(text)
            write(UInt8(ascii: "'"))
        } else {
            write(UInt8(ascii: "\""))
            for byte in text {
                if byte == UInt8(ascii: "\"") { write(Array("&quot;".utf8)) } else { write(byte) }
            }
            write(UInt8(ascii: "\""))
        }
    }

    private func writeEscapedAttribute(_ value: [UInt8]) {
        var start = 0
        for (index, byte) in value.enumerated() {
            let replacement: String
            switch byte {
            case UInt8(ascii: "&"): replacement = "&amp;"
            case UInt8(ascii: "<"): replacement = "&lt;"
            case UInt8(ascii: "\""): replacement = "&quot;"
            case 0x09: replacement = "&#x9;"
            case 0x0A: replacement = "&#xA;"
            case 0x0D: replacement = "&#xD;"
            default: continue
            }
            if index > start { write(Array(value[start..<index])) }
            write(Array(replacement.utf8))
            start = index + 1
        }
        if start < value.count { write(Array(value[start...])) }
    }

    private func writeEscapedText(_ text: UnsafeBufferPointer<UInt8>) {
        var start = 0
        for index in 0..<text.count {
            let replacement: StaticString
            switch text[index] {
            case UInt8(ascii: "&"): replacement = "&amp;"
            case UInt8(ascii: "<"): replacement = "&lt;"
            case UInt8(ascii: ">"): replacement = "&gt;"
            case 0x0D: replacement = "&#xD;"
            default: continue
            }
            if index > start { writeRaw(UnsafeBufferPointer(rebasing: text[start..<index])) }
            writeRaw(UnsafeBufferPointer(start: replacement.utf8Start, count: replacement.utf8CodeUnitCount))
            start = index + 1
        }
        if start < text.count { writeRaw(UnsafeBufferPointer(rebasing: text[start...])) }
    }

    private func writeRaw(_ bytes: UnsafeBufferPointer<UInt8>) {
        buffer.append(contentsOf: bytes)
        if divertedAt == nil { byteCount += bytes.count }
        if buffer.count >= Self.flushAt { flush() }
    }

    // MARK: Helpers

    private static func bytes(_ text: UnsafePointer<UInt8>?) -> [UInt8] {
        guard let text else { return [] }
        return Array(UnsafeBufferPointer(start: text, count: strlen(UnsafeRawPointer(text).assumingMemoryBound(to: CChar.self))))
    }

    /// libxml2 keeps a `&` of an attribute value (written `&amp;` or `&#38;`) as the five characters `&#38;` when
    /// it does not replace entities, and SAX2 hands the value over that way; no other `&` can be in it.
    static func decodedAttributeValue(_ raw: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        guard raw.contains(UInt8(ascii: "&")) else { return Array(raw) }
        var value: [UInt8] = []
        value.reserveCapacity(raw.count)
        var index = 0
        while index < raw.count {
            if raw[index] == UInt8(ascii: "&"), index + 4 < raw.count, raw[index + 1] == UInt8(ascii: "#"),
               raw[index + 2] == UInt8(ascii: "3"), raw[index + 3] == UInt8(ascii: "8"),
               raw[index + 4] == UInt8(ascii: ";") {
                value.append(UInt8(ascii: "&"))
                index += 5
            } else {
                value.append(raw[index])
                index += 1
            }
        }
        return value
    }

    /// xmlStrcmp's order: bytewise, a prefix first.
    private static func less(_ left: [UInt8], _ right: [UInt8]) -> Bool {
        left.lexicographicallyPrecedes(right)
    }
}
