import CLibXML2
import FWXModel
import Foundation

// The one hardening policy of FWX's two XML parsers, the streaming one (BatchStreamParser) and the DOM that
// signatures need (HardenedDocumentParser, used by FWXSigning):
//
// - every byte is pre-scanned before libxml2 sees it (``InputGuard``): a DOCTYPE or other declaration, a start
//   tag with more than ``ParserLimits/maxAttributesPerElement`` attributes or longer than
//   ``ParserLimits/maxStartTagBytes``, and nesting deeper than ``ParserLimits/maxDepth`` stop the parse before
//   libxml2 builds or compares anything (its duplicate-attribute check is quadratic); encodings the pre-scan cannot
//   read are refused;
// - the same libxml2 options: no network, no DTD loading, no entity substitution, no huge mode, big line numbers;
// - every libxml2 message goes to FWX's handler of that parse and becomes a finding with a rule id and a location;
//   nothing is ever printed by libxml2 (the calling thread's generic and structured handlers, and the defaults of
//   threads created later, are silent: libxml2 keeps them per thread).

/// Process-wide and per-thread libxml2 set-up shared by every FWX parse.
package enum XMLHardening {
    /// Initialises libxml2 once (with silent defaults for threads created later) and silences the calling thread's
    /// own handlers. Call on the thread that parses, before it parses: pool threads too.
    package static func prepareThread() {
        LibXML2.ensureInitialised()
        CLibXML2_silenceThreadErrors()
    }

    /// libxml2 options of the streaming parser.
    static var streamOptions: Int32 { CLibXML2_hardenedOptions() }

    /// libxml2 options of the DOM parser (the same, except that CDATA sections stay as they are in the tree that
    /// is signed and written back).
    static var documentOptions: Int32 { CLibXML2_hardenedDocumentOptions() }
}

/// Why the pre-scan stopped a document, with the position of the markup concerned.
package struct InputViolation: Sendable {
    package enum Kind: Sendable { case doctype, attributes, startTagSize, depth, encoding }
    package var kind: Kind
    package var line: Int
    package var column: Int
    package var message: String

    /// The rule id of the finding this becomes.
    package var rule: String {
        switch kind {
        case .doctype: RuleID.doctypeRefused
        case .encoding: RuleID.notWellFormed
        case .attributes, .startTagSize, .depth: RuleID.limitExceeded
        }
    }
}

/// The streaming pre-scan of a document's bytes (``XMLHardening``). Feed it every chunk before libxml2 gets it;
/// hand libxml2 only the bytes it allows. Cheap: one pass in C over the bytes, text and values skipped.
package final class InputGuard {
    private var scanner = CLibXML2_InputScanner()
    private let limits: ParserLimits
    /// The first violation, once found; nothing after it may reach libxml2.
    package private(set) var violation: InputViolation?

    /// A guard for a document that starts with `prefix` (at least its first 4 bytes when the document has them,
    /// and its XML declaration, to tell the encoding).
    package convenience init(prefix: UnsafeRawBufferPointer, limits: ParserLimits) {
        let family = Self.family(of: prefix)
        self.init(family: family, problem: family.problem ?? Self.declaredEncodingProblem(prefix, family: family),
                  limits: limits)
    }

    /// The same for a prefix held in an array. (It used to pass the array's storage pointer out of
    /// `withUnsafeBytes`, a use after free that AddressSanitizer found in the c14n fuzz target.)
    package convenience init(prefix: [UInt8], limits: ParserLimits) {
        let (family, problem) = prefix.withUnsafeBytes { raw in
            let family = Self.family(of: raw)
            return (family, family.problem ?? Self.declaredEncodingProblem(raw, family: family))
        }
        self.init(family: family, problem: problem, limits: limits)
    }

    private init(family: Family, problem: String?, limits: ParserLimits) {
        self.limits = limits
        CLibXML2_scannerInit(&scanner, family.unitSize, family.bigEndian ? 1 : 0,
                             Int64(limits.maxAttributesPerElement), Int64(limits.maxStartTagBytes / Int(family.unitSize)),
                             Int64(limits.maxDepth))
        if let problem { violation = InputViolation(kind: .encoding, line: 1, column: 1, message: problem) }
    }

    /// Scans `count` bytes at `bytes`; returns how many of them may go to libxml2 (all unless a violation starts in
    /// them; 0 once one was found).
    package func allow(_ bytes: UnsafeRawPointer, count: Int) -> Int {
        guard violation == nil else { return 0 }
        let allowed = CLibXML2_scanInput(&scanner, bytes.assumingMemoryBound(to: UInt8.self), count)
        if Int(scanner.violation) != Int(CLibXML2_scanOK) { violation = makeViolation() }
        return allowed
    }

    private func makeViolation() -> InputViolation {
        let line = Int(scanner.tagLine), column = Int(scanner.tagColumn)
        switch Int(scanner.violation) {
        case Int(CLibXML2_scanDoctype):
            return InputViolation(kind: .doctype, line: line, column: column,
                message: "DOCTYPE declarations are not allowed in FWX documents (no DTDs, no entities); remove the <!DOCTYPE …> line")
        case Int(CLibXML2_scanAttributes):
            return InputViolation(kind: .attributes, line: line, column: column,
                message: "an element has more than \(limits.maxAttributesPerElement) attributes; FWX elements have at most a few")
        case Int(CLibXML2_scanTagSize):
            return InputViolation(kind: .startTagSize, line: line, column: column,
                message: "a start tag is longer than \(limits.maxStartTagBytes) bytes")
        default:
            return InputViolation(kind: .depth, line: line, column: column,
                message: "elements are nested more than \(limits.maxDepth) deep; FWX batches need far fewer levels")
        }
    }

    // MARK: Encodings

    private struct Family {
        var unitSize: Int32 = 1
        var bigEndian = false
        var problem: String?
    }

    /// The encoding family from the first bytes, as libxml2 detects it (XML 1.0 appendix F).
    private static func family(of prefix: UnsafeRawBufferPointer) -> Family {
        let b = Array(prefix.prefix(4))
        func starts(_ bytes: [UInt8]) -> Bool { b.count >= bytes.count && Array(b.prefix(bytes.count)) == bytes }
        if starts([0x00, 0x00, 0x00, 0x3C]) || starts([0x3C, 0x00, 0x00, 0x00]) || starts([0x00, 0x00, 0x3C, 0x00])
            || starts([0x00, 0x3C, 0x00, 0x00]) || starts([0x00, 0x00, 0xFE, 0xFF]) {
            return Family(problem: "the document is in UCS-4 (UTF-32); FWX documents are UTF-8 (or UTF-16)")
        }
        if starts([0x4C, 0x6F, 0xA7, 0x94]) {
            return Family(problem: "the document is in EBCDIC; FWX documents are UTF-8 (or UTF-16)")
        }
        if starts([0xFE, 0xFF]) || starts([0x00, 0x3C, 0x00, 0x3F]) { return Family(unitSize: 2, bigEndian: true) }
        if starts([0xFF, 0xFE]) || starts([0x3C, 0x00, 0x3F, 0x00]) { return Family(unitSize: 2, bigEndian: false) }
        return Family()
    }

    /// Encodings whose markup characters the pre-scan reads as they are: ASCII-compatible single-byte sets and
    /// UTF-8, or UTF-16 for documents that are in it. Others (UTF-7, EBCDIC code pages, ISO-2022, …) could hide
    /// markup from the pre-scan, and FWX never writes them.
    private static let asciiCompatible: Set<String> = {
        var names: Set<String> = ["UTF-8", "UTF8", "US-ASCII", "ASCII", "LATIN1", "LATIN-1", "ISO-LATIN-1"]
        for part in 1...16 {
            names.insert("ISO-8859-\(part)")
            names.insert("ISO8859-\(part)")
            names.insert("ISO_8859-\(part)")
        }
        for page in 1250...1258 {
            names.insert("WINDOWS-\(page)")
            names.insert("CP\(page)")
        }
        return names
    }()
    private static let utf16Names: Set<String> = ["UTF-16", "UTF16", "UTF-16LE", "UTF-16BE", "UCS-2", "ISO-10646-UCS-2"]

    /// A problem with the encoding the XML declaration names, or nil.
    private static func declaredEncodingProblem(_ prefix: UnsafeRawBufferPointer, family: Family) -> String? {
        guard family.problem == nil else { return nil }
        // The declaration in ASCII: UTF-16 units reduced to their low byte, anything else as it is.
        var ascii: [UInt8] = []
        let limit = min(prefix.count, 512)
        var index = 0
        if family.unitSize == 2 {
            while index + 1 < limit {
                let unit = family.bigEndian ? (UInt16(prefix[index]) << 8 | UInt16(prefix[index + 1]))
                                            : (UInt16(prefix[index + 1]) << 8 | UInt16(prefix[index]))
                ascii.append(unit < 0x80 ? UInt8(unit) : 0x80)
                index += 2
            }
        } else {
            ascii = Array(prefix.prefix(limit))
        }
        if ascii.starts(with: [0xEF, 0xBB, 0xBF]) { ascii.removeFirst(3) }
        if ascii.first == 0xFF || ascii.first == 0xFE { ascii.removeFirst() }
        guard ascii.starts(with: Array("<?xml".utf8)), let end = ascii.firstRange(of: Array("?>".utf8)) else { return nil }
        let declaration = String(decoding: ascii[..<end.lowerBound], as: UTF8.self)
        guard let keyword = declaration.range(of: "encoding") else { return nil }
        var rest = declaration[keyword.upperBound...].drop { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard rest.first == "=" else { return nil }
        rest = rest.dropFirst().drop { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let quote = rest.first, quote == "\"" || quote == "'" else { return nil }
        let name = rest.dropFirst().prefix { $0 != quote }.uppercased()
        let accepted = family.unitSize == 2 ? utf16Names : asciiCompatible
        if accepted.contains(name) { return nil }
        return "the XML declaration names the encoding \(String(name.prefix(40)).quotedForMessage), which FWX does not read; "
            + "FWX documents are UTF-8 (UTF-16, US-ASCII, ISO-8859 and Windows-125x are also read)"
    }
}
