/// Writes batches as schema v1 XML, record by record, in FWX's canonical layout (two-space indentation, elements
/// in schema order, numbers in shortest form). The same model always gives the same bytes, which is what makes
/// XML → JSON → XML give the same XML. The writer does no I/O: it hands text to `output`.
public struct BatchXMLWriter {
    /// The namespace of schema v1.
    public static let namespace = "urn:fwx:schema:v1"

    /// UTF-8 bytes not yet handed to `output` (appending bytes is several times cheaper than appending to a
    /// String, which a node does for every record it takes in).
    private var buffer: [UInt8] = []
    private let output: (String) throws -> Void
    private let flushThreshold: Int

    /// - Parameter output: receives the XML text in chunks of about `flushThreshold` bytes, in order.
    public init(flushThreshold: Int = 1 << 16, output: @escaping (String) throws -> Void) {
        self.output = output
        self.flushThreshold = flushThreshold
        buffer.reserveCapacity(flushThreshold + 4096)
    }

    /// Writes a whole batch to a string.
    public static func string(for batch: Batch) -> String {
        var text = ""
        var writer = BatchXMLWriter { text += $0 }
        // Writing to a String cannot fail.
        try! writer.writeHeader(batch.header)
        for record in batch.records { try! writer.writeRecord(record) }
        try! writer.finish()
        return text
    }

    /// Starts the document: XML declaration, root element and header, and opens `Records`.
    public mutating func writeHeader(_ header: BatchHeader) throws {
        append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
        append("<Batch xmlns=\"\(Self.namespace)\" schemaVersion=\"")
        appendEscaped(header.schemaVersion)
        append("\">\n")
        open("Header", 1)
        leaf("BatchId", header.batchId, 2)
        open("Sender", 2)
        leaf("Country", header.sender.country, 3)
        leaf("AgencyId", header.sender.agencyId, 3)
        close("Sender", 2)
        switch header.recipients {
        case .allPartners:
            append("    <Recipients>\n      <AllPartners/>\n    </Recipients>\n")
        case .countries(let countries):
            open("Recipients", 2)
            for country in countries { leaf("Country", country, 3) }
            close("Recipients", 2)
        }
        leaf("CreatedAt", header.createdAt, 2)
        leaf("SequenceNumber", String(header.sequenceNumber), 2)
        leaf("DefaultHandlingCode", header.defaultHandlingCode.rawValue, 2)
        close("Header", 1)
        append("  <Records>\n")
        try flushIfNeeded()
    }

    /// Appends one record.
    public mutating func writeRecord(_ record: Record) throws {
        switch record {
        case .seizure(let seizure): writePart(seizure, FieldTable.v1.seizure, element: "Seizure", depth: 2)
        case .shipment(let shipment): writePart(shipment, FieldTable.v1.shipment, element: "Shipment", depth: 2)
        }
        try flushIfNeeded()
    }

    /// Appends a record already written by ``fragment(for:)`` (as a node keeps records to serve them again).
    public mutating func writeRecordXML(_ fragment: String) throws {
        append(fragment)
        try flushIfNeeded()
    }

    /// One record as it appears inside `Records` (indented, no namespace declaration of its own).
    public static func fragment(for record: Record) -> String {
        var text = ""
        var writer = BatchXMLWriter(flushThreshold: 0) { text += $0 }
        // Writing to a String cannot fail.
        try! writer.writeRecord(record)
        return text
    }

    /// Closes `Records` and the root element, and hands over what is left.
    public mutating func finish() throws {
        append("  </Records>\n</Batch>\n")
        try output(String(decoding: buffer, as: UTF8.self))
        buffer = []
    }

    private mutating func flushIfNeeded() throws {
        if buffer.count >= flushThreshold {
            try output(String(decoding: buffer, as: UTF8.self))
            buffer.removeAll(keepingCapacity: true)
        }
    }

    private mutating func append(_ text: String) {
        // Native strings are contiguous UTF-8: one copy. (The generic `append(contentsOf: text.utf8)` walked the
        // view byte by byte: ~1% of a node's CPU under pushes.)
        if text.utf8.withContiguousStorageIfAvailable({ buffer.append(contentsOf: $0) }) == nil {
            buffer.append(contentsOf: Array(text.utf8))
        }
    }

    /// Appends `text` escaped for element content and attribute values: `&`, `<`, `>`, `"` and CR become
    /// references; runs of other bytes are copied as they are (every byte of those five is ASCII, so no UTF-8
    /// sequence is split).
    mutating func appendEscaped(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var runStart = 0
            for index in 0..<bytes.count {
                let reference: StaticString
                switch bytes[index] {
                case UInt8(ascii: "&"): reference = "&amp;"
                case UInt8(ascii: "<"): reference = "&lt;"
                case UInt8(ascii: ">"): reference = "&gt;"
                case UInt8(ascii: "\""): reference = "&quot;"
                case 0x0D: reference = "&#13;"
                default: continue
                }
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
                buffer.append(contentsOf: UnsafeBufferPointer(start: reference.utf8Start, count: reference.utf8CodeUnitCount))
                runStart = index + 1
            }
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...]))
        }
    }

    // MARK: Records

    /// Writes `value` as the element `element` at `depth`, entry by entry of its table: attributes, then the
    /// simple content or the child elements in schema order.
    mutating func writePart<Part>(_ value: Part, _ table: PartTable<Part>, element: String, depth: Int) {
        withUnsafePointer(to: value) { writePart($0, table, element: element, depth: depth) }
    }

    private mutating func writePart<Part>(_ value: UnsafePointer<Part>, _ table: PartTable<Part>, element: String,
                                          depth: Int) {
        indent(depth)
        append("<")
        append(element)
        table.attributes.withUnsafeBufferPointer { fields in
            for index in fields.indices { _ = fields[index].write(value, &self, depth) }
        }
        if let content = table.content {
            append(">")
            _ = content.write(value, &self, depth)
            append("</")
            append(element)
            append(">\n")
            return
        }
        append(">\n")
        table.elements.withUnsafeBufferPointer { fields in
            var choiceMade = false
            for index in fields.indices {
                if fields[index].isChoice {
                    // One alternative of a choice: the first one the value has.
                    if !choiceMade { choiceMade = fields[index].write(value, &self, depth + 1) }
                } else {
                    choiceMade = false
                    _ = fields[index].write(value, &self, depth + 1)
                }
            }
        }
        close(element, depth)
    }

    // MARK: Text

    /// Indentation by depth, made once (the writer appends them for every element).
    private static let indents = (0...16).map { String(repeating: "  ", count: $0) }

    mutating func indent(_ depth: Int) {
        append(depth < Self.indents.count ? Self.indents[depth] : String(repeating: "  ", count: depth))
    }

    mutating func open(_ name: String, _ depth: Int) {
        indent(depth)
        append("<")
        append(name)
        append(">\n")
    }

    mutating func close(_ name: String, _ depth: Int) {
        indent(depth)
        append("</")
        append(name)
        append(">\n")
    }

    mutating func leaf(_ name: String, _ value: String, _ depth: Int) {
        indent(depth)
        append("<")
        append(name)
        append(">")
        appendEscaped(value)
        append("</")
        append(name)
        append(">\n")
    }

    /// ` name="value"`, inside a start tag.
    mutating func attribute(_ name: String, _ value: String) {
        append(" ")
        append(name)
        append("=\"")
        appendEscaped(value)
        append("\"")
    }

    /// A number in the shortest text that reads back to the same Double, as xs:decimal: no exponent, no
    /// trailing ".0" (so 96.0 is written 96 and 1e16 is written 10000000000000000).
    public static func decimal(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        if value == 0 { return "0" }
        // Swift's description is the shortest text that reads back to the same value; only its form changes here.
        var text = value.description
        // Fast path, most values: no exponent, so the description is already a decimal ("12.5", "0.25", "-3.0").
        if !text.utf8.contains(where: { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
            if text.hasSuffix(".0") { text.removeLast(2) }
            return text
        }
        var negative = false
        if text.hasPrefix("-") {
            negative = true
            text.removeFirst()
        }
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...]) ?? 0
            text = String(text[..<e])
        }
        let point = text.firstIndex(of: ".").map { text.distance(from: text.startIndex, to: $0) } ?? text.count
        var digits = text.filter { $0 != "." }
        var pointPosition = point + exponent
        // Drop leading zeros, keeping the point where it belongs.
        while digits.count > 1, digits.first == "0" {
            digits.removeFirst()
            pointPosition -= 1
        }
        var result: String
        if pointPosition <= 0 {
            result = "0." + String(repeating: "0", count: -pointPosition) + digits
        } else if pointPosition >= digits.count {
            result = digits + String(repeating: "0", count: pointPosition - digits.count)
        } else {
            let index = digits.index(digits.startIndex, offsetBy: pointPosition)
            result = digits[..<index] + "." + digits[index...]
        }
        if result.contains(".") {
            while result.hasSuffix("0") { result.removeLast() }
            if result.hasSuffix(".") { result.removeLast() }
        }
        return negative ? "-" + result : result
    }
}
