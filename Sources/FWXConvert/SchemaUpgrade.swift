public import FWXModel
public import FWXXML

/// `fwx upgrade`: a schema v1 batch as a schema v2 batch (docs/schema-v2.md). Every v1 record is a v2 record as it
/// is, so the upgrade changes only the FWX namespace declarations (`urn:fwx:schema:v1` → `urn:fwx:schema:v2`) and
/// the root's `schemaVersion` (`2.0`), and drops the enveloped `ds:Signature`, which no longer matches the changed
/// bytes (the sender signs the v2 batch again). Every other byte is copied as it is: lossless and deterministic.
///
/// It reads the document as a stream of markup and text, in chunks, and never holds more than one piece of markup
/// (a tag, comment, instruction or CDATA section) beyond the current chunk. Give it only documents that passed v1
/// validation: it relies on them being well-formed and having no DOCTYPE.
public enum SchemaUpgrade {
    public static let v1Namespace = "urn:fwx:schema:v1"
    public static let v2Namespace = "urn:fwx:schema:v2"
    static let signatureNamespace = "http://www.w3.org/2000/09/xmldsig#"

    /// What an upgrade changed.
    public struct Summary: Sendable, Hashable {
        /// Namespace declarations rewritten to v2.
        public var namespaceDeclarations = 0
        /// The enveloped signature was dropped.
        public var signatureDropped = false
        /// The root's `schemaVersion` before (for example `1.0`).
        public var fromVersion = ""
    }

    /// Upgrades the v1 batch in `source`, handing the v2 document to `write` piece by piece.
    public static func v1ToV2(_ source: ByteSource, write: @escaping ([UInt8]) throws -> Void) throws -> Summary {
        var upgrade = Upgrader(source: source, write: write)
        try upgrade.run()
        guard upgrade.rootRewritten else {
            throw FWXError(.conversion, "\(source.name): the root element's FWX namespace is not written plainly as "
                           + "\(v1Namespace) (character references?); write it plainly, then upgrade", location: source.name)
        }
        return upgrade.summary
    }
}

/// The markup delimiters the upgrade looks for, made once.
private enum Markup {
    static let comment = Array("<!--".utf8), commentEnd = Array("-->".utf8)
    static let cdata = Array("<![CDATA[".utf8), cdataEnd = Array("]]>".utf8)
    static let instruction = Array("<?".utf8), instructionEnd = Array("?>".utf8)
    static let declaration = Array("<!".utf8), endTag = Array("</".utf8)
}

private struct Upgrader {
    let source: ByteSource
    let write: ([UInt8]) throws -> Void
    var buffer: [UInt8] = []
    var position = 0
    var finished = false
    var output: [UInt8] = []
    var depth = 0
    var summary = SchemaUpgrade.Summary()
    var rootRewritten = false
    /// Prefix → namespace declared on the root element (all that is in scope for its children's start tags, with
    /// their own declarations).
    var rootNamespaces: [String: String] = [:]

    init(source: ByteSource, write: @escaping ([UInt8]) throws -> Void) {
        self.source = source
        self.write = write
    }

    /// Makes at least `count` bytes available from `position`, unless the input ends first.
    mutating func fill(_ count: Int) -> Bool {
        while buffer.count - position < count && !finished {
            if position > 0 {
                buffer.removeFirst(position)
                position = 0
            }
            var chunk = [UInt8](repeating: 0, count: 1 << 20)
            let n = chunk.withUnsafeMutableBytes { source.read(into: $0.baseAddress!, count: $0.count) }
            if n <= 0 { finished = true } else { buffer += chunk[..<n] }
        }
        return buffer.count - position >= count
    }

    /// The index of `pattern` at or after `from`, reading more input as needed; nil at the end of the input.
    mutating func find(_ pattern: [UInt8], from offset: Int) -> Int? {
        var start = position + offset
        while true {
            if let found = search(pattern, from: start) { return found - position }
            let searched = buffer.count - position
            guard fill(searched + 1) else { return nil }
            start = position + max(0, searched - pattern.count)
        }
    }

    func search(_ pattern: [UInt8], from start: Int) -> Int? {
        guard buffer.count >= pattern.count else { return nil }
        var i = start
        while i + pattern.count <= buffer.count {
            if buffer[i] == pattern[0] && buffer[i..<(i + pattern.count)].elementsEqual(pattern) { return i }
            i += 1
        }
        return nil
    }

    mutating func emit(_ bytes: ArraySlice<UInt8>) throws {
        output += bytes
        if output.count >= 1 << 20 {
            try write(output)
            output.removeAll(keepingCapacity: true)
        }
    }

    /// The end (exclusive, relative to `position`) of the tag starting at `position`: the `>` outside quotes.
    mutating func tagEnd() throws -> Int {
        var i = 1
        var quote: UInt8?
        while true {
            guard fill(i + 1) else { throw FWXError(.conversion, "\(source.name): the document ends inside a tag") }
            let byte = buffer[position + i]
            if let open = quote {
                if byte == open { quote = nil }
            } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                quote = byte
            } else if byte == UInt8(ascii: ">") {
                return i + 1
            }
            i += 1
        }
    }

    mutating func run() throws {
        while fill(1) {
            // Text up to the next markup, as it is.
            if buffer[position] != UInt8(ascii: "<") {
                let next = find([UInt8(ascii: "<")], from: 0) ?? (buffer.count - position)
                try emit(buffer[position..<(position + next)])
                position += next
                continue
            }
            _ = fill(9)
            let rest = buffer[position...]
            let length: Int
            if rest.starts(with: Markup.comment) {
                guard let end = find(Markup.commentEnd, from: 4) else { throw truncated("a comment") }
                length = end + 3
            } else if rest.starts(with: Markup.cdata) {
                guard let end = find(Markup.cdataEnd, from: 9) else { throw truncated("a CDATA section") }
                length = end + 3
            } else if rest.starts(with: Markup.instruction) {
                guard let end = find(Markup.instructionEnd, from: 2) else { throw truncated("an instruction") }
                length = end + 2
            } else if rest.starts(with: Markup.declaration) {
                throw FWXError(.conversion, "\(source.name): a DOCTYPE or declaration; FWX batches have none")
            } else if rest.starts(with: Markup.endTag) {
                length = try tagEnd()
                depth -= 1
            } else {
                length = try tagEnd()
                let tag = Array(buffer[position..<(position + length)])
                let selfClosing = tag[tag.count - 2] == UInt8(ascii: "/")
                if depth == 1, isSignature(tag) {
                    try skipElement(selfClosing: selfClosing, length: length)
                    summary.signatureDropped = true
                    continue
                }
                let rewritten = rewrite(tag, isRoot: depth == 0)
                try emit(rewritten[...])
                position += length
                if !selfClosing { depth += 1 }
                continue
            }
            try emit(buffer[position..<(position + length)])
            position += length
        }
        if !output.isEmpty { try write(output) }
    }

    func truncated(_ what: String) -> FWXError {
        FWXError(.conversion, "\(source.name): the document ends inside \(what)")
    }

    /// The attributes of a start tag: name, and the range of the value (without its quotes) in `tag`.
    func attributes(_ tag: [UInt8]) -> (name: String, attributes: [(name: String, value: Range<Int>)]) {
        var i = 1
        while i < tag.count, !Self.isSpace(tag[i]), tag[i] != UInt8(ascii: ">"), tag[i] != UInt8(ascii: "/") { i += 1 }
        let name = String(decoding: tag[1..<i], as: UTF8.self)
        var result: [(String, Range<Int>)] = []
        while i < tag.count {
            while i < tag.count, Self.isSpace(tag[i]) { i += 1 }
            let nameStart = i
            while i < tag.count, tag[i] != UInt8(ascii: "="), !Self.isSpace(tag[i]), tag[i] != UInt8(ascii: ">"),
                  tag[i] != UInt8(ascii: "/") { i += 1 }
            guard i > nameStart else { break }
            let attribute = String(decoding: tag[nameStart..<i], as: UTF8.self)
            while i < tag.count, Self.isSpace(tag[i]) || tag[i] == UInt8(ascii: "=") { i += 1 }
            guard i < tag.count else { break }
            let quote = tag[i]
            i += 1
            let valueStart = i
            while i < tag.count, tag[i] != quote { i += 1 }
            result.append((attribute, valueStart..<i))
            i += 1
        }
        return (name, result)
    }

    static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }

    /// A start tag with the FWX namespace declarations moved to v2 (and, on the root, `schemaVersion` 2.0).
    mutating func rewrite(_ tag: [UInt8], isRoot: Bool) -> [UInt8] {
        let parsed = attributes(tag)
        var replacements: [(Range<Int>, [UInt8])] = []
        for attribute in parsed.attributes {
            let value = String(decoding: tag[attribute.value], as: UTF8.self)
            if attribute.name == "xmlns" || attribute.name.hasPrefix("xmlns:") {
                let prefix = attribute.name == "xmlns" ? "" : String(attribute.name.dropFirst(6))
                if isRoot { rootNamespaces[prefix] = value }
                if value == SchemaUpgrade.v1Namespace {
                    replacements.append((attribute.value, Array(SchemaUpgrade.v2Namespace.utf8)))
                    summary.namespaceDeclarations += 1
                    if isRoot && prefix == Self.prefix(of: parsed.name) { rootRewritten = true }
                }
            } else if isRoot && attribute.name == "schemaVersion" {
                summary.fromVersion = value
                replacements.append((attribute.value, Array("2.0".utf8)))
            }
        }
        var result = tag
        for (range, bytes) in replacements.sorted(by: { $0.0.lowerBound > $1.0.lowerBound }) {
            result.replaceSubrange(range, with: bytes)
        }
        return result
    }

    static func prefix(of name: String) -> String {
        name.split(separator: ":", maxSplits: 1).count == 2 ? String(name.split(separator: ":")[0]) : ""
    }

    /// Whether a start tag at depth 1 is the enveloped XML-DSig Signature.
    func isSignature(_ tag: [UInt8]) -> Bool {
        let parsed = attributes(tag)
        let prefix = Self.prefix(of: parsed.name)
        let local = prefix.isEmpty ? parsed.name : String(parsed.name.dropFirst(prefix.count + 1))
        guard local == "Signature" else { return false }
        var namespace = rootNamespaces[prefix]
        for attribute in parsed.attributes where attribute.name == (prefix.isEmpty ? "xmlns" : "xmlns:\(prefix)") {
            namespace = String(decoding: tag[attribute.value], as: UTF8.self)
        }
        return namespace == SchemaUpgrade.signatureNamespace
    }

    /// Skips the element whose start tag is at `position`, up to and including its end tag.
    mutating func skipElement(selfClosing: Bool, length: Int) throws {
        position += length
        if selfClosing { return }
        var nested = 1
        while nested > 0 {
            guard let next = find([UInt8(ascii: "<")], from: 0) else { throw truncated("the signature") }
            position += next
            _ = fill(9)
            let rest = buffer[position...]
            if rest.starts(with: Markup.comment) {
                guard let end = find(Markup.commentEnd, from: 4) else { throw truncated("a comment") }
                position += end + 3
            } else if rest.starts(with: Markup.instruction) {
                guard let end = find(Markup.instructionEnd, from: 2) else { throw truncated("an instruction") }
                position += end + 2
            } else if rest.starts(with: Markup.cdata) {
                guard let end = find(Markup.cdataEnd, from: 9) else { throw truncated("a CDATA section") }
                position += end + 3
            } else {
                let end = try tagEnd()
                let tag = buffer[position..<(position + end)]
                if tag.starts(with: Markup.endTag) {
                    nested -= 1
                } else if tag[tag.endIndex - 2] != UInt8(ascii: "/") {
                    nested += 1
                }
                position += end
            }
        }
    }
}
