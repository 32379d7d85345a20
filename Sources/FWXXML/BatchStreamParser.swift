import CLibXML2
public import FWXModel
import Foundation

/// Limits the streaming parser enforces on top of libxml2's own (which stay on: no huge mode).
public struct ParserLimits: Sendable {
    /// Deepest element nesting accepted (schema v1 needs 7).
    public var maxDepth: Int = 32
    /// Most elements in one record or header.
    public var maxElementsPerRecord: Int = 10_000
    /// Longest text of one element, in bytes.
    public var maxTextBytes: Int = 65_536

    public init(maxDepth: Int = 32, maxElementsPerRecord: Int = 10_000, maxTextBytes: Int = 65_536) {
        self.maxDepth = maxDepth
        self.maxElementsPerRecord = maxElementsPerRecord
        self.maxTextBytes = maxTextBytes
    }
}

/// What the streaming parser hands to its user, in document order.
public struct BatchEvents {
    /// The batch header, once, before any record; with the root's schemaVersion attribute.
    public var header: (ElementTree, String) -> Void = { _, _ in }
    /// One record; the flag says whether the record passed the schema (always true when not validating).
    public var record: (ElementTree, Bool) -> Void = { _, _ in }
    /// A parser, limit or schema finding.
    public var finding: (Finding) -> Void = { _ in }
    /// Called about every 4 MiB with the bytes read so far.
    public var progress: (Int) -> Void = { _ in }

    public init() {}
}

/// Reads an FWX document with libxml2's SAX2 parser, validating against the bundled XSD on the fly when asked,
/// and hands over the header and each record as a small element tree. Memory use does not grow with the document.
///
/// Hardened: no network, no DTD or entity declarations (a DOCTYPE stops the parse), no XInclude, no entity
/// substitution, libxml2's default depth and size limits plus ``ParserLimits``.
public struct BatchStreamParser {
    public var registry: SchemaRegistry
    public var limits: ParserLimits
    /// Whether to validate against the schema of the document's namespace.
    public var validateSchema: Bool

    public init(registry: SchemaRegistry = .shared, limits: ParserLimits = ParserLimits(), validateSchema: Bool = true) {
        self.registry = registry
        self.limits = limits
        self.validateSchema = validateSchema
    }

    /// Parses `source` to the end (or to the first fatal error), delivering events as they come.
    /// Throws only for I/O and set-up failures; problems in the document arrive as findings.
    public func parse(_ source: ByteSource, events: BatchEvents) throws {
        LibXML2.ensureInitialised()
        CLibXML2_silenceGenericErrors()
        let kind = Self.peekRootKind(source, registry: registry) ?? SchemaRegistry.batchV1
        let schema = validateSchema ? try registry.schema(for: kind) : nil
        let session = ParseSession(source: source, kind: kind, limits: limits, events: events)
        let sessionPointer = Unmanaged.passRetained(session)
        defer { sessionPointer.release() }

        var sax = xmlSAXHandler()
        sax.initialized = CLibXML2_sax2Magic()
        sax.startElementNs = { context, localName, _, uri, _, _, attributeCount, _, attributes in
            ParseSession.from(context).startElement(localName, uri, Int(attributeCount), attributes)
        }
        sax.endElementNs = { context, _, _, _ in
            ParseSession.from(context).endElement()
        }
        sax.characters = { context, characters, length in
            ParseSession.from(context).characters(characters, Int(length))
        }
        sax.cdataBlock = sax.characters
        sax.internalSubset = { context, _, _, _ in
            ParseSession.from(context).refuseDoctype()
        }
        sax.entityDecl = { context, _, _, _, _, _ in
            ParseSession.from(context).refuseDoctype()
        }
        sax.serror = { _, error in
            guard let error, let parser = error.pointee.ctxt,
                  let session = CLibXML2_parserPrivate(parser) else { return }
            Unmanaged<ParseSession>.fromOpaque(session).takeUnretainedValue().parserError(error.pointee)
        }

        guard let parser = xmlCreateIOParserCtxt(&sax, sessionPointer.toOpaque(), { context, buffer, length in
            guard let context, let buffer else { return -1 }
            let session = ParseSession.from(context)
            return Int32(session.read(into: buffer, count: Int(length)))
        }, nil, sessionPointer.toOpaque(), XML_CHAR_ENCODING_NONE) else {
            throw FWXError(.parserSetup, "libxml2 could not create a parser", location: source.name)
        }
        defer {
            if let document = parser.pointee.myDoc { xmlFreeDoc(document) }
            xmlFreeParserCtxt(parser)
        }
        xmlCtxtUseOptions(parser, CLibXML2_hardenedOptions())
        parser.pointee._private = sessionPointer.toOpaque()
        session.parser = parser

        var validation: OpaquePointer?
        var plug: xmlSchemaSAXPlugPtr?
        if let schema {
            validation = xmlSchemaNewValidCtxt(schema.pointer)
            guard let validation else {
                throw FWXError(.parserSetup, "libxml2 could not create a schema validation context")
            }
            xmlSchemaSetValidStructuredErrors(validation, { userData, error in
                guard let userData, let error else { return }
                Unmanaged<ParseSession>.fromOpaque(userData).takeUnretainedValue().schemaError(error.pointee)
            }, sessionPointer.toOpaque())
            plug = CLibXML2_plugSchema(validation, parser)
            guard plug != nil else {
                xmlSchemaFreeValidCtxt(validation)
                throw FWXError(.parserSetup, "libxml2 could not attach the schema validator")
            }
        }
        xmlParseDocument(parser)
        session.flushPending()
        if let plug { xmlSchemaSAXUnplug(plug) }
        if let validation { xmlSchemaFreeValidCtxt(validation) }
        session.flushPending()
        if session.readFailed {
            throw FWXError(.io, "read error in \(source.name) after \(source.bytesRead) bytes", location: source.name)
        }
    }

    /// The kind of document, from the namespace and name of its root element, read from the first 64 KiB.
    static func peekRootKind(_ source: ByteSource, registry: SchemaRegistry) -> SchemaRegistry.DocumentKind? {
        let prefix = source.peek(65_536)
        guard !prefix.isEmpty else { return nil }
        final class RootProbe {
            var namespace: String?
            var name: String?
        }
        let probe = RootProbe()
        let probePointer = Unmanaged.passRetained(probe)
        defer { probePointer.release() }
        var sax = xmlSAXHandler()
        sax.initialized = CLibXML2_sax2Magic()
        sax.startElementNs = { context, localName, _, uri, _, _, _, _, _ in
            guard let parser = context?.assumingMemoryBound(to: xmlParserCtxt.self),
                  let probeRaw = parser.pointee._private else { return }
            let probe = Unmanaged<RootProbe>.fromOpaque(probeRaw).takeUnretainedValue()
            probe.name = localName.map { String(cString: $0) }
            probe.namespace = uri.map { String(cString: $0) } ?? ""
            xmlStopParser(parser)
        }
        sax.internalSubset = { context, _, _, _ in
            guard let parser = context?.assumingMemoryBound(to: xmlParserCtxt.self) else { return }
            xmlStopParser(parser)
        }
        sax.serror = { _, _ in }
        guard let parser = xmlCreatePushParserCtxt(&sax, nil, nil, 0, nil) else { return nil }
        defer {
            if let document = parser.pointee.myDoc { xmlFreeDoc(document) }
            xmlFreeParserCtxt(parser)
        }
        parser.pointee.userData = UnsafeMutableRawPointer(parser)
        parser.pointee._private = probePointer.toOpaque()
        xmlCtxtUseOptions(parser, CLibXML2_hardenedOptions())
        prefix.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) {
                _ = xmlParseChunk(parser, $0.baseAddress, Int32($0.count), 0)
            }
        }
        guard let namespace = probe.namespace, let name = probe.name else { return nil }
        return registry.kind(namespace: namespace, rootElement: name)
    }
}

/// The state of one parse, reached from libxml2's callbacks through an unmanaged pointer.
final class ParseSession {
    private enum Capture { case none, header, record }

    let source: ByteSource
    let kind: SchemaRegistry.DocumentKind
    let limits: ParserLimits
    let events: BatchEvents
    var parser: xmlParserCtxtPtr?
    private(set) var readFailed = false
    private var stopped = false

    private var depth = 0
    private var outsidePath: [String] = []
    private var inRecords = false
    private var capture = Capture.none
    private var captureStack: [Int] = []
    private var tree = ElementTree()
    private var pending = Capture.none
    private var pendingSchemaValid = true
    private var captureSchemaValid = true
    private var justClosed: Int?
    private var schemaVersion = ""
    private var recordCounts: [String: Int] = [:]
    private var text: [UInt8] = []
    private var nameCache: [UnsafeRawPointer: String] = [:]
    private var lastProgress = 0

    init(source: ByteSource, kind: SchemaRegistry.DocumentKind, limits: ParserLimits, events: BatchEvents) {
        self.source = source
        self.kind = kind
        self.limits = limits
        self.events = events
        text.reserveCapacity(256)
    }

    static func from(_ context: UnsafeMutableRawPointer?) -> ParseSession {
        Unmanaged<ParseSession>.fromOpaque(context!).takeUnretainedValue()
    }

    // MARK: Input

    func read(into buffer: UnsafeMutablePointer<CChar>, count: Int) -> Int {
        let n = source.read(into: buffer, count: count)
        if n < 0 { readFailed = true }
        if source.bytesRead - lastProgress >= 4 << 20 {
            lastProgress = source.bytesRead
            events.progress(source.bytesRead)
        }
        return n
    }

    // MARK: Events

    private func name(_ pointer: UnsafePointer<xmlChar>) -> String {
        let key = UnsafeRawPointer(pointer)
        if let cached = nameCache[key] { return cached }
        let name = String(cString: pointer)
        // libxml2 interns element names in the parser's dictionary, so the pointer identifies the name.
        if nameCache.count < 4096 { nameCache[key] = name }
        return name
    }

    func startElement(_ localName: UnsafePointer<xmlChar>?, _ uri: UnsafePointer<xmlChar>?, _ attributeCount: Int,
                      _ attributes: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?) {
        guard !stopped, let localName else { return }
        flushPending()
        justClosed = nil
        depth += 1
        if depth > limits.maxDepth {
            fail(RuleID.limitExceeded, "elements are nested more than \(limits.maxDepth) deep; FWX batches need far fewer levels")
            return
        }
        let elementName = name(localName)
        text.removeAll(keepingCapacity: true)

        if depth == 1 {
            let namespace = uri.map { String(cString: $0) } ?? ""
            guard namespace == kind.namespace, elementName == kind.rootElement else {
                let shown = namespace.isEmpty ? "no namespace" : "namespace \(namespace.quotedForMessage)"
                fail(RuleID.unknownDocument,
                     "root element \(elementName.quotedForMessage) in \(shown) is not a document FWX knows; a v1 batch is <Batch xmlns=\"\(SchemaRegistry.batchV1.namespace)\">")
                return
            }
            schemaVersion = attribute("schemaVersion", attributeCount, attributes) ?? ""
            outsidePath = [elementName]
            return
        }

        if capture == .none {
            if depth == 2 && elementName == "Header" {
                begin(.header, rootPath: "/fwx:\(kind.rootElement)/fwx:Header")
            } else if depth == 3 && inRecords {
                let position = (recordCounts[elementName] ?? 0) + 1
                recordCounts[elementName] = position
                begin(.record, rootPath: "/fwx:\(kind.rootElement)/fwx:Records/fwx:\(elementName)[\(position)]")
            } else {
                if depth == 2 && elementName == "Records" { inRecords = true }
                outsidePath.append(elementName)
                return
            }
        }
        guard tree.nodes.count < limits.maxElementsPerRecord else {
            fail(RuleID.limitExceeded, "more than \(limits.maxElementsPerRecord) elements in one record")
            return
        }
        var line: Int32 = 0
        var column: Int32 = 0
        CLibXML2_startTagPosition(parser, &line, &column)
        var attributeList: [(name: String, value: String)] = []
        if attributeCount > 0, let attributes {
            attributeList.reserveCapacity(attributeCount)
            for index in 0..<attributeCount {
                let base = attributes + index * 5
                guard let attributeName = base[0], let start = base[3], let end = base[4] else { continue }
                // Attribute values are codes and flags (xs:token): surrounding white space does not count.
                let value = Self.trimmed(UnsafeBufferPointer(start: start, count: end - start))
                attributeList.append((name(attributeName), value))
            }
        }
        let node = tree.append(name: elementName, attributes: attributeList, line: Int(line), column: Int(column),
                               parent: captureStack.last ?? -1)
        captureStack.append(node)
    }

    private func attribute(_ wanted: String, _ count: Int,
                           _ attributes: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?) -> String? {
        guard count > 0, let attributes else { return nil }
        for index in 0..<count {
            let base = attributes + index * 5
            guard let attributeName = base[0], let start = base[3], let end = base[4] else { continue }
            if String(cString: attributeName) == wanted {
                return String(decoding: UnsafeBufferPointer(start: start, count: end - start), as: UTF8.self)
            }
        }
        return nil
    }

    private func begin(_ kind: Capture, rootPath: String) {
        capture = kind
        tree.removeAll(rootPath: rootPath)
        captureStack.removeAll(keepingCapacity: true)
        captureSchemaValid = true
    }

    func characters(_ characters: UnsafePointer<xmlChar>?, _ length: Int) {
        guard !stopped, let characters else { return }
        if pending != .none { flushPending() }
        justClosed = nil
        guard capture != .none, !captureStack.isEmpty else { return }
        guard text.count + length <= limits.maxTextBytes else {
            fail(RuleID.limitExceeded, "an element's text is longer than \(limits.maxTextBytes) bytes")
            return
        }
        text.append(contentsOf: UnsafeBufferPointer(start: characters, count: length))
    }

    func endElement() {
        guard !stopped else { return }
        flushPending()
        if capture != .none, let node = captureStack.popLast() {
            if tree[node].firstChild < 0, !text.isEmpty {
                tree.setText(Self.trimmed(text), of: node)
            }
            text.removeAll(keepingCapacity: true)
            justClosed = node
            if captureStack.isEmpty {
                pending = capture
                pendingSchemaValid = captureSchemaValid
                capture = .none
            }
        } else {
            justClosed = nil
            if depth == 2 && outsidePath.last == "Records" { inRecords = false }
            if !outsidePath.isEmpty { outsidePath.removeLast() }
        }
        depth -= 1
    }

    private static func trimmed(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBufferPointer { trimmed($0) }
    }

    private static func trimmed(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        var start = 0
        var end = bytes.count
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x09 || byte == 0x0D }
        while start < end, isSpace(bytes[start]) { start += 1 }
        while end > start, isSpace(bytes[end - 1]) { end -= 1 }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
    }

    /// Delivers a header or record whose end tag has passed, once the schema validator has had its say on it.
    func flushPending() {
        guard pending != .none else { return }
        let delivered = pending
        pending = .none
        justClosed = nil
        switch delivered {
        case .header: events.header(tree, schemaVersion)
        case .record: events.record(tree, pendingSchemaValid)
        case .none: break
        }
    }

    // MARK: Errors

    func refuseDoctype() {
        fail(RuleID.doctypeRefused,
             "DOCTYPE declarations are not allowed in FWX documents (no DTDs, no entities); remove the <!DOCTYPE …> line")
    }

    private func currentPosition() -> (line: Int, column: Int, xpath: String) {
        if let node = justClosed ?? captureStack.last, !tree.isEmpty {
            return (Int(tree[node].line), Int(tree[node].column), tree.xpath(node))
        }
        let path = outsidePath.isEmpty ? "" : "/" + outsidePath.map { "fwx:\($0)" }.joined(separator: "/")
        return (Int(CLibXML2_currentLine(parser)), Int(CLibXML2_currentColumn(parser)), path)
    }

    private func fail(_ rule: String, _ message: String) {
        let position = currentPosition()
        events.finding(Finding(severity: .error, rule: rule, message: message,
                               location: SourceLocation(file: source.name, line: position.line, column: position.column),
                               xpath: position.xpath))
        stopped = true
        if let parser { xmlStopParser(parser) }
    }

    func parserError(_ error: xmlError) {
        guard !stopped else { return }
        // Warnings (level 1) are not findings; errors and fatal errors make the document not well-formed.
        guard error.level.rawValue >= XML_ERR_ERROR.rawValue else { return }
        let message = Self.clean(error.message)
        let path = currentPosition().xpath
        events.finding(Finding(severity: .error, rule: RuleID.notWellFormed,
                               message: "not well-formed XML: \(message)",
                               location: SourceLocation(file: source.name, line: Int(error.line),
                                                        column: Int(error.int2)),
                               xpath: path))
        if error.level.rawValue >= XML_ERR_FATAL.rawValue { stopped = true }
    }

    func schemaError(_ error: xmlError) {
        guard !stopped else { return }
        guard error.level.rawValue >= XML_ERR_ERROR.rawValue else { return }
        if pending != .none { pendingSchemaValid = false } else if capture != .none { captureSchemaValid = false }
        let position = currentPosition()
        events.finding(Finding(severity: .error, rule: RuleID.schema, message: Self.clean(error.message),
                               location: SourceLocation(file: source.name, line: position.line,
                                                        column: position.column),
                               xpath: position.xpath))
    }

    /// libxml2's message, on one line, with the FWX namespace written as its prefix.
    static func clean(_ message: UnsafeMutablePointer<CChar>?) -> String {
        guard let message else { return "unknown error" }
        var text = String(cString: message)
        while let last = text.last, last.isWhitespace { text.removeLast() }
        text = text.replacingOccurrences(of: "{\(BatchXMLWriter.namespace)}", with: "fwx:")
            .replacingOccurrences(of: "\n", with: " ")
        // A wrong country code would list all 250 codes: name the code list instead.
        if let set = text.range(of: "is not an element of the set {"), text.count > 300 {
            text = String(text[..<set.lowerBound]) + "is not in the code list (schemas/v1/codelists.xsd)."
        }
        return text
    }
}
