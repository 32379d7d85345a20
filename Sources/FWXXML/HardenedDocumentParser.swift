import CLibXML2
import FWXModel

/// Parses a whole document into a libxml2 tree for the signature code (FWXSigning), under the same hardening policy
/// as the streaming parser (``XMLHardening``): the bytes are pre-scanned before libxml2 sees them, so a DOCTYPE, an
/// element with too many attributes or too deep a nesting is refused before anything is built, and libxml2's
/// messages become one ``Failure`` with a rule id and a location instead of lines on standard error.
package enum HardenedDocumentParser {
    /// Why a document could not be parsed: a rule id (FWX-P…), a message without document content beyond element
    /// names, and the position.
    package struct Failure: Error, Sendable {
        package var rule: String
        package var message: String
        package var line: Int
        package var column: Int

        package init(rule: String, message: String, line: Int, column: Int) {
            self.rule = rule
            self.message = message
            self.line = line
            self.column = column
        }
    }

    /// Parses `bytes`; on success the caller owns the returned `xmlDocPtr` (as a raw pointer, since FWXSigning
    /// sees libxml2 through its own module) and frees it with `xmlFreeDoc`.
    package static func parse(_ bytes: [UInt8], name: String, limits: ParserLimits = ParserLimits())
        -> Result<UnsafeMutableRawPointer, Failure>
    {
        XMLHardening.prepareThread()
        guard bytes.count < Int32.max else {
            return .failure(Failure(rule: RuleID.limitExceeded, message: "the document is larger than 2 GiB",
                                    line: 1, column: 1))
        }
        let state = DocumentParseState(bytes, limits: limits)
        let unmanaged = Unmanaged.passRetained(state)
        defer { unmanaged.release() }
        // Read through libxml2's I/O callbacks in chunks: xmlReadMemory first copies the whole input into a buffer
        // of its own, which made parsing a 228 MB batch take ~60% longer than reading a file.
        guard let parser = xmlCreateIOParserCtxt(nil, nil, { context, buffer, length in
            guard let context, let buffer else { return -1 }
            return Unmanaged<DocumentParseState>.fromOpaque(context).takeUnretainedValue()
                .read(into: buffer, count: Int(length))
        }, nil, unmanaged.toOpaque(), XML_CHAR_ENCODING_NONE) else {
            return .failure(Failure(rule: RuleID.notWellFormed, message: "libxml2 could not create a parser",
                                    line: 1, column: 1))
        }
        defer { xmlFreeParserCtxt(parser) }
        parser.pointee._private = unmanaged.toOpaque()
        if let sax = parser.pointee.sax {
            // Every message of this parse comes here (the context's handler is libxml2's first choice).
            sax.pointee.serror = { _, error in
                guard let error, let parser = error.pointee.ctxt, let state = CLibXML2_parserPrivate(parser) else { return }
                Unmanaged<DocumentParseState>.fromOpaque(state).takeUnretainedValue().parserError(error.pointee)
            }
            // Second line behind the pre-scan: a DOCTYPE that reached libxml2 stops the parse at once.
            sax.pointee.internalSubset = { context, _, _, _ in
                guard let parser = context?.assumingMemoryBound(to: xmlParserCtxt.self) else { return }
                if let state = parser.pointee._private {
                    Unmanaged<DocumentParseState>.fromOpaque(state).takeUnretainedValue().refuseDoctype()
                }
                xmlStopParser(parser)
            }
            sax.pointee.entityDecl = { context, _, _, _, _, _ in
                guard let parser = context?.assumingMemoryBound(to: xmlParserCtxt.self) else { return }
                if let state = parser.pointee._private {
                    Unmanaged<DocumentParseState>.fromOpaque(state).takeUnretainedValue().refuseDoctype()
                }
                xmlStopParser(parser)
            }
        }
        xmlCtxtUseOptions(parser, XMLHardening.documentOptions)
        xmlParseDocument(parser)
        let document = parser.pointee.myDoc
        parser.pointee.myDoc = nil
        if let failure = state.failure(wellFormed: parser.pointee.wellFormed != 0, hasDocument: document != nil) {
            if let document { xmlFreeDoc(document) }
            return .failure(failure)
        }
        guard let document else {
            return .failure(Failure(rule: RuleID.notWellFormed, message: "not well-formed XML", line: 1, column: 1))
        }
        if document.pointee.intSubset != nil || document.pointee.extSubset != nil {
            xmlFreeDoc(document)
            return .failure(Failure(rule: RuleID.doctypeRefused,
                                    message: "DOCTYPE declarations are not allowed in FWX documents", line: 1, column: 1))
        }
        return .success(UnsafeMutableRawPointer(document))
    }
}

/// The input and the findings of one DOM parse; used on the parsing thread only.
private final class DocumentParseState {
    private let bytes: [UInt8]
    private var offset = 0
    private let inputGuard: InputGuard
    private var inputStopped = false
    private var firstError: HardenedDocumentParser.Failure?
    private var doctype = false

    init(_ bytes: [UInt8], limits: ParserLimits) {
        self.bytes = bytes
        inputGuard = bytes.withUnsafeBytes { InputGuard(prefix: UnsafeRawBufferPointer(rebasing: $0.prefix(512)), limits: limits) }
    }

    func read(into buffer: UnsafeMutablePointer<CChar>, count: Int) -> Int32 {
        if inputStopped { return 0 }
        let n = min(count, bytes.count - offset)
        guard n > 0 else { return 0 }
        bytes.withUnsafeBytes { UnsafeMutableRawPointer(buffer).copyMemory(from: $0.baseAddress! + offset, byteCount: n) }
        offset += n
        let allowed = inputGuard.allow(buffer, count: n)
        if allowed < n { inputStopped = true }
        return Int32(allowed)
    }

    func parserError(_ error: xmlError) {
        guard firstError == nil, error.level.rawValue >= XML_ERR_ERROR.rawValue else { return }
        let rule = error.code == Int32(XML_ERR_INTERNAL_ERROR.rawValue) && Self.message(error).contains("depth")
            ? RuleID.limitExceeded : RuleID.notWellFormed
        firstError = HardenedDocumentParser.Failure(rule: rule, message: "not well-formed XML: \(Self.message(error))",
                                                    line: Int(error.line), column: Int(error.int2))
    }

    func refuseDoctype() { doctype = true }

    /// What the parse found, the pre-scan's violation first (libxml2's errors after it only follow from the cut).
    func failure(wellFormed: Bool, hasDocument: Bool) -> HardenedDocumentParser.Failure? {
        if let violation = inputGuard.violation {
            return .init(rule: violation.rule, message: violation.message, line: violation.line, column: violation.column)
        }
        if doctype {
            return .init(rule: RuleID.doctypeRefused,
                         message: "DOCTYPE declarations are not allowed in FWX documents (no DTDs, no entities)",
                         line: 1, column: 1)
        }
        if let firstError { return firstError }
        if !wellFormed || !hasDocument {
            return .init(rule: RuleID.notWellFormed, message: "not well-formed XML", line: 1, column: 1)
        }
        return nil
    }

    /// libxml2's message on one line, without the raw bytes some messages quote (invalid UTF-8 is shown as hex by
    /// libxml2 itself; control characters are escaped here).
    static func message(_ error: xmlError) -> String {
        let text = ParseSession.clean(error.message)
        var shown = ""
        for scalar in text.unicodeScalars.prefix(300) {
            if scalar.value < 0x20 || scalar.value == 0x7F {
                shown += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                shown.unicodeScalars.append(scalar)
            }
        }
        return shown
    }
}
