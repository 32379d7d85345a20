import CLibXML2
import FWXModel

/// One streaming parse of a document into its exclusive canonical form (``ExclusiveCanonicalizer``), with no
/// document tree: memory stays flat however large the document is. With `omitEnvelopedSignature`, every
/// `ds:Signature` element that is a child of the root is left out of the canonical form (the enveloped-signature
/// transform) and kept instead as a small stand-alone XML document (``Result/signatures``), carrying the namespace
/// declarations in scope where it stood, for the checks of its own content.
///
/// The parser is libxml2's, under the policy of every other FWX parse (XMLHardening: the bytes pre-scanned before
/// libxml2 sees them, no network, no DTD, no entities). A refused document is a ``HardenedDocumentParser/Failure``
/// with the same rule ids and positions as the tree parser's; I/O errors are FWXErrors.
package enum CanonicalStream {
    package static let signatureNamespace = "http://www.w3.org/2000/09/xmldsig#"

    package struct Result: Sendable {
        /// The omitted `ds:Signature` children of the root, in document order, each as a well-formed document.
        package var signatures: [[UInt8]] = []
        /// Whether an element child of the root came after the first omitted signature.
        package var elementAfterSignature = false
        /// Bytes of canonical form handed to the sink.
        package var canonicalBytes = 0
        /// Namespace URI, local and qualified name of the root element.
        package var rootNamespace = ""
        package var rootName = ""
        package var rootQualifiedName = ""
        /// The root element's prefix, nil when it has none.
        package var rootPrefix: String?
        /// Where the root element's start tag is.
        package var rootLine = 0
        /// Every `ds:Signature` element of the document, at any depth (omitted or not).
        package var signatureElements = 0
        /// Where the first `ds:Signature` element's start tag is (at any depth), and its path as libxml2's
        /// xmlGetNodePath writes it in the tree (`/*/*[3]`); 0 and "" when there is none.
        package var signatureLine = 0
        package var signatureColumn = 0
        package var signaturePath = ""
        /// Why the document has no exclusive canonical form (a relative namespace name), when it was parsed with
        /// `refusesRelativeNamespaces: false`; the canonical bytes are then not to be used.
        package var canonicalFailure: String?
        /// The text of the element at ``CanonicalStream/canonicalize(_:omitEnvelopedSignature:limits:textPath:omittedSink:sink:)``'s
        /// `textPath` (trimmed), when the document has one.
        package var text: String?
    }

    /// Parses `source` to the end, handing the canonical bytes to `sink` as they are made.
    ///
    /// `textPath`, given the root's local name, names elements by local name below the root (the first child of
    /// that name at each step, as ``Result/text`` then holds its text; a sender country, for example). With
    /// `omittedSink`, an omitted signature is also rendered in its place's canonical form, into that sink (see
    /// ``ExclusiveCanonicalizer/omittedSink``).
    package static func canonicalize(_ source: ByteSource, omitEnvelopedSignature: Bool,
                                     limits: ParserLimits = ParserLimits(),
                                     textPath: ((String) -> [String])? = nil,
                                     omittedSink: ExclusiveCanonicalizer.Sink? = nil,
                                     refusesRelativeNamespaces: Bool = true,
                                     sink: @escaping ExclusiveCanonicalizer.Sink) throws -> Result {
        XMLHardening.prepareThread()
        let state = StreamState(source: source, omit: omitEnvelopedSignature,
                                inputGuard: InputGuard(prefix: source.peek(65_536), limits: limits), sink: sink)
        state.refusesRelativeNamespaces = refusesRelativeNamespaces
        state.canonicalizer.omittedSink = omittedSink
        state.textPathFor = textPath
        let pointer = Unmanaged.passRetained(state)
        defer { pointer.release() }

        var sax = xmlSAXHandler()
        sax.initialized = CLibXML2_sax2Magic()
        sax.startElementNs = { context, localName, prefix, uri, namespaceCount, namespaces, attributeCount, _,
                               attributes in
            guard let localName else { return }
            StreamState.from(context).start(localName, prefix, uri, Int(namespaceCount), namespaces,
                                            Int(attributeCount), attributes)
        }
        sax.endElementNs = { context, _, _, _ in StreamState.from(context).end() }
        sax.characters = { context, characters, length in
            guard let characters else { return }
            StreamState.from(context).text(characters, Int(length))
        }
        sax.ignorableWhitespace = sax.characters
        sax.cdataBlock = sax.characters
        sax.processingInstruction = { context, target, data in
            guard let target else { return }
            StreamState.from(context).processingInstruction(target, data)
        }
        sax.internalSubset = { context, _, _, _ in StreamState.from(context).refuseDoctype() }
        sax.entityDecl = { context, _, _, _, _, _ in StreamState.from(context).refuseDoctype() }
        sax.serror = { _, error in
            guard let error, let parser = error.pointee.ctxt, let state = CLibXML2_parserPrivate(parser) else { return }
            Unmanaged<StreamState>.fromOpaque(state).takeUnretainedValue().parserError(error.pointee)
        }
        guard let parser = xmlCreateIOParserCtxt(&sax, pointer.toOpaque(), { context, buffer, length in
            guard let context, let buffer else { return -1 }
            return Int32(StreamState.from(context).read(into: buffer, count: Int(length)))
        }, nil, pointer.toOpaque(), XML_CHAR_ENCODING_NONE) else {
            throw FWXError(.parserSetup, "libxml2 could not create a parser", location: source.name)
        }
        defer {
            if let document = parser.pointee.myDoc { xmlFreeDoc(document) }
            xmlFreeParserCtxt(parser)
        }
        xmlCtxtUseOptions(parser, XMLHardening.streamOptions)
        parser.pointee._private = pointer.toOpaque()
        state.parser = parser
        xmlParseDocument(parser)
        if state.readFailed {
            throw FWXError(.io, "read error in \(source.name) after \(source.bytesRead) bytes", location: source.name)
        }
        if let violation = state.inputGuard?.violation {
            throw HardenedDocumentParser.Failure(rule: violation.rule, message: violation.message,
                                                 line: violation.line, column: violation.column)
        }
        return try state.finish(wellFormed: CLibXML2_wellFormed(parser) != 0)
    }

    /// The canonical form of a document that another SAX parse reads, made from that parse's events: a node's
    /// intake validates, decodes and canonicalises a batch in one pass (issue 15) by handing the validating
    /// parser's callbacks here too. What the tap cannot canonicalise (a relative namespace URI) makes ``finish()``
    /// throw; the parse it listens to is never stopped by it.
    package final class Tap {
        private let state: StreamState

        /// As ``CanonicalStream/canonicalize(_:omitEnvelopedSignature:limits:textPath:omittedSink:sink:)``'s.
        package init(omitEnvelopedSignature: Bool, textPath: ((String) -> [String])? = nil,
                     omittedSink: ExclusiveCanonicalizer.Sink? = nil, refusesRelativeNamespaces: Bool = true,
                     sink: @escaping ExclusiveCanonicalizer.Sink) {
            state = StreamState(source: nil, omit: omitEnvelopedSignature, inputGuard: nil, sink: sink)
            state.stopsParser = false
            state.refusesRelativeNamespaces = refusesRelativeNamespaces
            state.canonicalizer.omittedSink = omittedSink
            state.textPathFor = textPath
        }

        /// The parser whose events come (for positions); set before the parse starts.
        func attach(_ parser: xmlParserCtxtPtr) { state.parser = parser }

        func start(_ localName: UnsafePointer<xmlChar>, _ prefix: UnsafePointer<xmlChar>?,
                           _ uri: UnsafePointer<xmlChar>?, _ namespaceCount: Int,
                           _ namespaces: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?, _ attributeCount: Int,
                           _ attributes: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?) {
            state.start(localName, prefix, uri, namespaceCount, namespaces, attributeCount, attributes)
        }

        func end() { state.end() }

        func text(_ characters: UnsafePointer<xmlChar>, _ count: Int) { state.text(characters, count) }

        func processingInstruction(_ target: UnsafePointer<xmlChar>, _ data: UnsafePointer<xmlChar>?) {
            state.processingInstruction(target, data)
        }

        /// After the parse: the result, or why there is none (the listened-to parse reports well-formedness and
        /// the pre-scan itself; here, only an incomplete document or what the canonical form cannot hold).
        package func finish() throws -> Result {
            state.parser = nil
            return try state.finish(wellFormed: true)
        }
    }
}

/// The parse's state, reached from libxml2's callbacks through the context pointer.
private final class StreamState {
    /// The input and its pre-scan; nil for a ``CanonicalStream/Tap``, whose events come from another parse.
    let source: ByteSource?
    let omit: Bool
    let canonicalizer: ExclusiveCanonicalizer
    let inputGuard: InputGuard?
    var parser: xmlParserCtxtPtr?
    /// Whether a failure stops the parser (not for a tap: the parse it listens to goes on with its own work).
    var stopsParser = true
    /// Whether a relative namespace name stops the parse as a failure (else it is noted in
    /// ``CanonicalStream/Result/canonicalFailure`` and the parse goes on, as a verifier's form checks need).
    var refusesRelativeNamespaces = true
    var result = CanonicalStream.Result()
    var failure: HardenedDocumentParser.Failure?
    var readFailed = false
    var inputStopped = false
    /// The namespace declarations in scope, innermost last, with the count before each open element's.
    var scope: [(prefix: String?, uri: String)] = []
    var scopeMarks: [Int] = []
    var depth = 0
    /// The omitted signature being written out, and its depth inside it.
    var capture: SubtreeWriter?
    var seenSignature = false
    /// Paths of elements as the tree names them (for the first signature's findings).
    var paths = NodePathTracker()
    /// The text path (``CanonicalStream/canonicalize(_:omitEnvelopedSignature:limits:textPath:omittedSink:sink:)``):
    /// its steps, how many of them are open now, how many were chosen (only the first element of a name per step).
    var textPathFor: ((String) -> [String])?
    var textPath: [[UInt8]]?
    var textOpen = 0
    var textChosen = 0
    var textBytes: [UInt8] = []

    init(source: ByteSource?, omit: Bool, inputGuard: InputGuard?, sink: @escaping ExclusiveCanonicalizer.Sink) {
        self.source = source
        self.omit = omit
        self.inputGuard = inputGuard
        self.canonicalizer = ExclusiveCanonicalizer(sink: sink)
    }

    /// The end of the parse: the canonical form finished and the result complete, or the failure.
    func finish(wellFormed: Bool) throws -> CanonicalStream.Result {
        if let failure { throw failure }
        if !wellFormed || result.rootName.isEmpty || depth != 0 {
            throw HardenedDocumentParser.Failure(rule: RuleID.notWellFormed,
                                                 message: "not well-formed XML: the document has no complete root element",
                                                 line: parser.map { Int(CLibXML2_currentLine($0)) } ?? 0,
                                                 column: parser.map { Int(CLibXML2_currentColumn($0)) } ?? 0)
        }
        canonicalizer.finish()
        if textPath != nil, textChosen == textPath?.count {
            result.text = textBytes.withUnsafeBufferPointer { ParseSession.trimmed($0) }
        }
        result.canonicalBytes = canonicalizer.byteCount
        result.signaturePath = paths.recordedPath
        return result
    }

    static func from(_ context: UnsafeMutableRawPointer?) -> StreamState {
        Unmanaged<StreamState>.fromOpaque(context!).takeUnretainedValue()
    }

    /// Hands libxml2 the next bytes, those the pre-scan allows; after a violation, the end of the input.
    func read(into buffer: UnsafeMutablePointer<CChar>, count: Int) -> Int {
        guard !inputStopped, let source, let inputGuard else { return 0 }
        let n = source.read(into: buffer, count: count)
        if n < 0 { readFailed = true }
        guard n > 0 else { return n }
        let allowed = inputGuard.allow(buffer, count: n)
        if allowed < n { inputStopped = true }
        return allowed
    }

    func start(_ localName: UnsafePointer<xmlChar>, _ prefix: UnsafePointer<xmlChar>?, _ uri: UnsafePointer<xmlChar>?,
               _ namespaceCount: Int, _ namespaces: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?,
               _ attributeCount: Int, _ attributes: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?) {
        guard failure == nil else { return }
        depth += 1
        scopeMarks.append(scope.count)
        if namespaceCount > 0, let namespaces {
            for index in 0..<namespaceCount {
                scope.append((namespaces[2 * index].map { String(cString: $0) },
                              namespaces[2 * index + 1].map { String(cString: $0) } ?? ""))
            }
        }
        paths.start(localName, prefix: prefix, hasNamespace: uri != nil)
        if depth == 1 {
            if let parser {
                var line: Int32 = 1, column: Int32 = 1
                CLibXML2_startTagPosition(parser, &line, &column)
                result.rootLine = Int(line)
            }
            result.rootNamespace = uri.map { String(cString: $0) } ?? ""
            result.rootName = String(cString: localName)
            result.rootPrefix = prefix.map { String(cString: $0) }
            result.rootQualifiedName = (result.rootPrefix.map { $0 + ":" } ?? "") + result.rootName
            textPath = textPathFor.map { $0(result.rootName).map { Array($0.utf8) } }
        } else if let textPath, textOpen == textChosen, textOpen < textPath.count, depth == textOpen + 2,
                  Self.equal(localName, textPath[textOpen]) {
            textOpen += 1
            textChosen += 1
        }
        // Tested once per element; the omission below at depth 2 uses the same answer.
        let isSignature = uri.map {
            Self.equal(localName, Self.signatureName)
                && strcmp(UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self), CanonicalStream.signatureNamespace) == 0
        } ?? false
        if isSignature {
            result.signatureElements += 1
            if result.signatureElements == 1 {
                paths.record()
                if let parser {
                    var line: Int32 = 1, column: Int32 = 1
                    CLibXML2_startTagPosition(parser, &line, &column)
                    result.signatureLine = Int(line)
                    result.signatureColumn = Int(column)
                }
            }
        }
        if let capture {
            capture.start(localName, prefix, namespaceCount, namespaces, attributeCount, attributes, declarations: nil)
            canonicalizer.startElement(localName: localName, prefix: prefix, uri: uri, namespaceCount: namespaceCount,
                                       namespaces: namespaces, attributeCount: attributeCount, attributes: attributes)
            return
        }
        var omitThis = false
        if depth == 2 {
            if seenSignature { result.elementAfterSignature = true }
            if omit, isSignature {
                omitThis = true
                seenSignature = true
                // Every declaration in scope, innermost first per prefix, goes on the stand-alone copy's root.
                var declared = Set<String>()
                var declarations: [(prefix: String?, uri: String)] = []
                for binding in scope.reversed() where declared.insert(binding.prefix ?? "").inserted {
                    declarations.append(binding)
                }
                let writer = SubtreeWriter()
                writer.start(localName, prefix, 0, nil, attributeCount, attributes, declarations: declarations)
                capture = writer
            }
        }
        if !omitThis, !namespacesAreAbsolute(namespaceCount, namespaces) { return }
        canonicalizer.startElement(localName: localName, prefix: prefix, uri: uri, namespaceCount: namespaceCount,
                                   namespaces: namespaces, attributeCount: attributeCount, attributes: attributes,
                                   omit: omitThis)
    }

    /// As libxml2's C14N (xmlC14NCheckForRelativeNamespaces) on every element it visits: a declared namespace
    /// name that is not an absolute URI cannot be canonicalised. False (and the parse stopped) when one is not.
    private func namespacesAreAbsolute(_ namespaceCount: Int,
                                       _ namespaces: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?) -> Bool {
        guard namespaceCount > 0, let namespaces else { return true }
        for index in 0..<namespaceCount {
            guard let name = namespaces[2 * index + 1], name.pointee != 0 else { continue }
            let parsed = xmlParseURI(UnsafeRawPointer(name).assumingMemoryBound(to: CChar.self))
            defer { if let parsed { xmlFreeURI(parsed) } }
            if parsed == nil || parsed?.pointee.scheme == nil || parsed?.pointee.scheme.pointee == 0 {
                let message = """
                    a namespace name is not an absolute URI (it has no scheme); XML canonicalisation (C14N) \
                    refuses relative namespace names, so the document can be neither signed nor verified: \
                    use an absolute one such as urn:…
                    """
                guard refusesRelativeNamespaces else {
                    if result.canonicalFailure == nil { result.canonicalFailure = message }
                    return true
                }
                refuse(RuleID.notWellFormed, message)
                return false
            }
        }
        return true
    }

    func end() {
        guard failure == nil else { return }
        if let capture {
            capture.end()
            if capture.isComplete {
                result.signatures.append(capture.bytes)
                self.capture = nil
            }
        }
        canonicalizer.endElement()
        paths.end()
        if textOpen > 0, depth == textOpen + 1 { textOpen -= 1 }
        depth -= 1
        scope.removeLast(scope.count - (scopeMarks.popLast() ?? scope.count))
    }

    func text(_ characters: UnsafePointer<xmlChar>, _ count: Int) {
        guard failure == nil else { return }
        capture?.text(characters, count)
        canonicalizer.characters(characters, count: count)
        if let textPath, textOpen == textPath.count, depth == textOpen + 1, textBytes.count < 4096 {
            textBytes.append(contentsOf: UnsafeBufferPointer(start: characters, count: min(count, 4096)))
        }
    }

    func processingInstruction(_ target: UnsafePointer<xmlChar>, _ data: UnsafePointer<xmlChar>?) {
        guard failure == nil else { return }
        capture?.processingInstruction(target, data)
        canonicalizer.processingInstruction(target: target, data: data)
    }

    static let signatureName = Array("Signature".utf8)

    /// Whether the NUL-terminated `name` is `bytes`.
    static func equal(_ name: UnsafePointer<xmlChar>, _ bytes: [UInt8]) -> Bool {
        var index = 0
        while name[index] != 0 {
            guard index < bytes.count, name[index] == bytes[index] else { return false }
            index += 1
        }
        return index == bytes.count
    }

    /// Second line behind the pre-scan: a DOCTYPE that reached libxml2 stops the parse at once.
    func refuseDoctype() {
        refuse(RuleID.doctypeRefused, "DOCTYPE declarations are not allowed in FWX documents (no DTDs, no entities)")
    }

    /// Stops the parse with a finding at the current position.
    func refuse(_ rule: String, _ message: String) {
        guard failure == nil else { return }
        var line: Int32 = 1, column: Int32 = 1
        if let parser { CLibXML2_startTagPosition(parser, &line, &column) }
        failure = HardenedDocumentParser.Failure(rule: rule, message: message, line: Int(line), column: Int(column))
        if stopsParser, let parser { xmlStopParser(parser) }
    }

    func parserError(_ error: xmlError) {
        guard error.level.rawValue >= XML_ERR_ERROR.rawValue, failure == nil, inputGuard?.violation == nil else { return }
        var message = error.message.map { String(cString: $0) } ?? "unknown error"
        while message.last?.isWhitespace == true { message.removeLast() }
        failure = HardenedDocumentParser.Failure(rule: RuleID.notWellFormed, message: "not well-formed XML: \(message)",
                                                 line: Int(error.line), column: Int(error.int2))
    }
}

/// Writes a subtree, as SAX2 reports it, back out as a stand-alone XML document with the same content: names,
/// namespace declarations (those given for the root, then each element's own), attribute values and text escaped
/// so that a parser reads back exactly the same characters (tab, line feed and carriage return as references).
private final class SubtreeWriter {
    private(set) var bytes: [UInt8] = []
    private var names: [[UInt8]] = []
    private var started = false
    var isComplete: Bool { started && names.isEmpty }

    func start(_ localName: UnsafePointer<xmlChar>, _ prefix: UnsafePointer<xmlChar>?, _ namespaceCount: Int,
               _ namespaces: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?, _ attributeCount: Int,
               _ attributes: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?,
               declarations: [(prefix: String?, uri: String)]?) {
        started = true
        var name: [UInt8] = []
        if let prefix { name += Self.bytes(prefix) + [UInt8(ascii: ":")] }
        name += Self.bytes(localName)
        bytes.append(UInt8(ascii: "<"))
        bytes += name
        var declared: [(prefix: [UInt8]?, uri: [UInt8])] = []
        if let declarations {
            declared = declarations.map { ($0.prefix.map { Array($0.utf8) }, Array($0.uri.utf8)) }
        } else if namespaceCount > 0, let namespaces {
            for index in 0..<namespaceCount {
                declared.append((namespaces[2 * index].map { Self.bytes($0) }, namespaces[2 * index + 1].map { Self.bytes($0) } ?? []))
            }
        }
        for (declaredPrefix, uri) in declared {
            bytes += Array(" xmlns".utf8)
            if let declaredPrefix { bytes += [UInt8(ascii: ":")] + declaredPrefix }
            bytes += Array("=\"".utf8)
            escape(uri, attribute: true)
            bytes.append(UInt8(ascii: "\""))
        }
        if attributeCount > 0, let attributes {
            for index in 0..<attributeCount {
                let base = attributes + 5 * index
                bytes.append(UInt8(ascii: " "))
                if let attributePrefix = base[1] { bytes += Self.bytes(attributePrefix) + [UInt8(ascii: ":")] }
                if let local = base[0] { bytes += Self.bytes(local) }
                bytes += Array("=\"".utf8)
                if let start = base[3], let end = base[4] {
                    escape(ExclusiveCanonicalizer.decodedAttributeValue(UnsafeBufferPointer(start: start,
                                                                                            count: end - start)),
                           attribute: true)
                }
                bytes.append(UInt8(ascii: "\""))
            }
        }
        bytes.append(UInt8(ascii: ">"))
        names.append(name)
    }

    func end() {
        guard let name = names.popLast() else { return }
        bytes += Array("</".utf8) + name + [UInt8(ascii: ">")]
    }

    func text(_ characters: UnsafePointer<xmlChar>, _ count: Int) {
        escape(Array(UnsafeBufferPointer(start: characters, count: count)), attribute: false)
    }

    func processingInstruction(_ target: UnsafePointer<xmlChar>, _ data: UnsafePointer<xmlChar>?) {
        bytes += Array("<?".utf8) + Self.bytes(target)
        if let data, data.pointee != 0 { bytes += [UInt8(ascii: " ")] + Self.bytes(data) }
        bytes += Array("?>".utf8)
    }

    private func escape(_ text: [UInt8], attribute: Bool) {
        for byte in text {
            switch byte {
            case UInt8(ascii: "&"): bytes += Array("&amp;".utf8)
            case UInt8(ascii: "<"): bytes += Array("&lt;".utf8)
            case UInt8(ascii: ">"): bytes += Array("&gt;".utf8)
            case UInt8(ascii: "\"") where attribute: bytes += Array("&quot;".utf8)
            case 0x09 where attribute: bytes += Array("&#9;".utf8)
            case 0x0A where attribute: bytes += Array("&#10;".utf8)
            case 0x0D: bytes += Array("&#13;".utf8)
            default: bytes.append(byte)
            }
        }
    }

    private static func bytes(_ text: UnsafePointer<xmlChar>) -> [UInt8] {
        Array(UnsafeBufferPointer(start: text, count: strlen(UnsafeRawPointer(text).assumingMemoryBound(to: CChar.self))))
    }
}
