import CLibXML2
public import FWXModel
import Foundation

/// Limits the streaming parser enforces on top of libxml2's own (which stay on: no huge mode).
public struct ParserLimits: Sendable {
    /// Deepest element nesting accepted (schema v1 needs 7).
    public var maxDepth: Int = 32
    /// Most elements in one record or header.
    public var maxElementsPerRecord: Int = 10_000
    /// Longest text of one element, in bytes (also the most bytes of one element's attribute values together).
    public var maxTextBytes: Int = 65_536
    /// Most attributes (namespace declarations included) of one element. Checked on the bytes before libxml2
    /// parses the start tag: its duplicate-attribute check takes time quadratic in their number.
    public var maxAttributesPerElement: Int = 256
    /// Longest start tag (from `<` to `>`), in bytes; checked like ``maxAttributesPerElement``.
    public var maxStartTagBytes: Int = 131_072

    public init(maxDepth: Int = 32, maxElementsPerRecord: Int = 10_000, maxTextBytes: Int = 65_536,
                maxAttributesPerElement: Int = 256, maxStartTagBytes: Int = 131_072) {
        self.maxDepth = maxDepth
        self.maxElementsPerRecord = maxElementsPerRecord
        self.maxTextBytes = maxTextBytes
        self.maxAttributesPerElement = min(max(0, maxAttributesPerElement), Int(UInt16.max))
        self.maxStartTagBytes = max(0, maxStartTagBytes)
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
    /// Also gets libxml2's events, on the parsing thread, as they come (the canonical form of the document).
    package var canonicalTap: CanonicalStream.Tap?

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
    /// Whether to build records on a second thread while libxml2 parses (sources over 1 MiB). Turn it off when
    /// the other core is busy anyway, for example with a signature check running beside validation.
    public var usesSecondThread: Bool
    /// The document kinds this parse takes; another kind FWX knows (a v2 batch for a v1-only reader) is refused
    /// at its root element with FWX-P003, saying which versions are taken.
    public var acceptedKinds: [SchemaRegistry.DocumentKind] = SchemaRegistry.v1Kinds

    public init(registry: SchemaRegistry = .shared, limits: ParserLimits = ParserLimits(), validateSchema: Bool = true,
                usesSecondThread: Bool = true) {
        self.registry = registry
        self.limits = limits
        self.validateSchema = validateSchema
        self.usesSecondThread = usesSecondThread
    }

    /// Parses `source` to the end (or to the first fatal error), delivering events as they come.
    /// Throws only for I/O and set-up failures; problems in the document arrive as findings.
    ///
    /// Two stages run on two threads: libxml2 parses and validates on the calling thread and records compact
    /// events into chunks; a second thread turns them into element trees and calls `events`. A bounded queue of
    /// chunks between them keeps memory flat. Small in-memory sources are handled on the calling thread alone.
    /// All `events` closures except `progress` are called on the second thread, one at a time, and all calls
    /// have returned when `parse` returns.
    public func parse(_ source: ByteSource, events: BatchEvents) throws {
        XMLHardening.prepareThread()
        let prefix = source.peek(65_536)
        let inputGuard = InputGuard(prefix: prefix, limits: limits)
        let peeked = Self.peekRootKind(prefix, limits: limits, registry: registry)
        let kind = peeked.flatMap { acceptedKinds.contains($0) ? $0 : nil } ?? SchemaRegistry.batchV1
        // A kind FWX knows but this reader does not take is refused at its root; its schema is not needed.
        let refused = peeked.flatMap { acceptedKinds.contains($0) ? nil : $0 }
        let schema = validateSchema && refused == nil ? try registry.schema(for: kind) : nil
        let pipelined = usesSecondThread && (source.totalSize ?? Int.max) > Self.pipelineThreshold
        let session = ParseSession(fileName: source.name, kind: kind, events: events)
        let recorder = EventRecorder(source: source, kind: kind, limits: limits, inputGuard: inputGuard,
                                     session: session, progress: events.progress, pipelined: pipelined)
        recorder.refusedKind = refused
        recorder.acceptedKinds = acceptedKinds
        let recorderPointer = Unmanaged.passRetained(recorder)
        defer { recorderPointer.release() }

        var sax = xmlSAXHandler()
        sax.initialized = CLibXML2_sax2Magic()
        sax.startElementNs = { context, localName, prefix, uri, namespaceCount, namespaces, attributeCount, _, attributes in
            let recorder = EventRecorder.from(context)
            if let tap = recorder.canonicalTap, let localName {
                tap.start(localName, prefix, uri, Int(namespaceCount), namespaces, Int(attributeCount), attributes)
            }
            recorder.startElement(localName, uri, Int(attributeCount), attributes)
        }
        sax.endElementNs = { context, _, _, _ in
            let recorder = EventRecorder.from(context)
            recorder.canonicalTap?.end()
            recorder.endElement()
        }
        sax.characters = { context, characters, length in
            let recorder = EventRecorder.from(context)
            if let tap = recorder.canonicalTap, let characters { tap.text(characters, Int(length)) }
            recorder.characters(characters, Int(length))
        }
        sax.cdataBlock = sax.characters
        if events.canonicalTap != nil {
            sax.processingInstruction = { context, target, data in
                guard let target else { return }
                EventRecorder.from(context).canonicalTap?.processingInstruction(target, data)
            }
        }
        sax.internalSubset = { context, _, _, _ in
            EventRecorder.from(context).refuseDoctype()
        }
        sax.entityDecl = { context, _, _, _, _, _ in
            EventRecorder.from(context).refuseDoctype()
        }
        sax.serror = { _, error in
            guard let error, let parser = error.pointee.ctxt,
                  let recorder = CLibXML2_parserPrivate(parser) else { return }
            Unmanaged<EventRecorder>.fromOpaque(recorder).takeUnretainedValue().parserError(error.pointee)
        }

        guard let parser = xmlCreateIOParserCtxt(&sax, recorderPointer.toOpaque(), { context, buffer, length in
            guard let context, let buffer else { return -1 }
            return Int32(EventRecorder.from(context).read(into: buffer, count: Int(length)))
        }, nil, recorderPointer.toOpaque(), XML_CHAR_ENCODING_NONE) else {
            throw FWXError(.parserSetup, "libxml2 could not create a parser", location: source.name)
        }
        defer {
            if let document = parser.pointee.myDoc { xmlFreeDoc(document) }
            xmlFreeParserCtxt(parser)
        }
        xmlCtxtUseOptions(parser, XMLHardening.streamOptions)
        parser.pointee._private = recorderPointer.toOpaque()
        recorder.parser = parser
        if let tap = events.canonicalTap {
            recorder.canonicalTap = tap
            tap.attach(parser)
        }

        var validation: OpaquePointer?
        var plug: xmlSchemaSAXPlugPtr?
        if let schema {
            validation = xmlSchemaNewValidCtxt(schema.pointer)
            guard let validation else {
                throw FWXError(.parserSetup, "libxml2 could not create a schema validation context")
            }
            xmlSchemaSetValidStructuredErrors(validation, { userData, error in
                guard let userData, let error else { return }
                Unmanaged<EventRecorder>.fromOpaque(userData).takeUnretainedValue().schemaError(error.pointee)
            }, recorderPointer.toOpaque())
            plug = CLibXML2_plugSchema(validation, parser)
            guard plug != nil else {
                xmlSchemaFreeValidCtxt(validation)
                throw FWXError(.parserSetup, "libxml2 could not attach the schema validator")
            }
            // The plug's own SAX handler (libxml2 2.9) has no structured error callback: without this line,
            // well-formedness errors would vanish whenever the schema is checked.
            parser.pointee.sax.pointee.serror = sax.serror
        }
        recorder.start()
        xmlParseDocument(parser)
        if let plug { xmlSchemaSAXUnplug(plug) }
        if let validation { xmlSchemaFreeValidCtxt(validation) }
        // The consumer must be done before the parser (and the dictionary its names point into) is freed.
        recorder.finish()
        if recorder.readFailed {
            throw FWXError(.io, "read error in \(source.name) after \(source.bytesRead) bytes", location: source.name)
        }
    }

    /// In-memory sources up to this size are parsed on the calling thread alone.
    static let pipelineThreshold = 1 << 20

    /// The kind of document, from the namespace and name of its root element, read from `prefix` (the first
    /// 64 KiB), of which libxml2 sees only what the pre-scan allows (the parse proper then reports the rest).
    static func peekRootKind(_ prefix: [UInt8], limits: ParserLimits, registry: SchemaRegistry)
        -> SchemaRegistry.DocumentKind?
    {
        guard !prefix.isEmpty else { return nil }
        let allowed = prefix.withUnsafeBytes { InputGuard(prefix: $0, limits: limits).allow($0.baseAddress!, count: $0.count) }
        guard allowed > 0 else { return nil }
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
        xmlCtxtUseOptions(parser, XMLHardening.streamOptions)
        prefix.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) {
                _ = xmlParseChunk(parser, $0.baseAddress, Int32(allowed), 0)
            }
        }
        guard let namespace = probe.namespace, let name = probe.name else { return nil }
        return registry.kind(namespace: namespace, rootElement: name)
    }
}

