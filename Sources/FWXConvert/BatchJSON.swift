public import FWXModel
public import FWXXML
import Foundation

/// Writes a batch in FWX's JSON form (docs/json.md), record by record:
///
/// ```
/// {
///   "header": {…},
///   "records": [
///     {"kind":"seizure",…},
///     {"kind":"shipment",…}
///   ]
/// }
/// ```
///
/// The header and each record are compact JSON on one line, keys sorted (with `kind` first in records), so the
/// same batch always gives the same bytes. Keys are the model's property names; optional values that are absent
/// are left out, lists that are empty are written as `[]`.
public struct BatchJSONWriter {
    private let output: (String) throws -> Void
    private var recordCount = 0
    private var buffer = ""
    private let encoder: JSONEncoder

    /// - Parameter output: receives the JSON text in chunks, in order.
    public init(output: @escaping (String) throws -> Void) {
        self.output = output
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    }

    /// Starts the document with its header.
    public mutating func writeHeader(_ header: BatchHeader) throws {
        buffer += "{\n  \"header\": "
        buffer += try Self.json(header, encoder)
        buffer += ",\n  \"records\": ["
    }

    /// Appends one record.
    public mutating func writeRecord(_ record: Record) throws {
        buffer += recordCount == 0 ? "\n    " : ",\n    "
        buffer += try Self.json(record, encoder)
        recordCount += 1
        if buffer.utf8.count >= 1 << 16 {
            try output(buffer)
            buffer.removeAll(keepingCapacity: true)
        }
    }

    /// Ends the document.
    public mutating func finish() throws {
        buffer += recordCount == 0 ? "]\n}\n" : "\n  ]\n}\n"
        try output(buffer)
        buffer = ""
    }

    /// One record as compact JSON with `kind` first and the other keys sorted.
    public static func json(_ record: Record) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try json(record, encoder)
    }

    private static func json(_ record: Record, _ encoder: JSONEncoder) throws -> String {
        let kind: String
        let body: Data
        switch record {
        case .seizure(let seizure):
            kind = "seizure"
            body = try encoder.encode(seizure)
        case .shipment(let shipment):
            kind = "shipment"
            body = try encoder.encode(shipment)
        }
        // The record's own keys never include "kind"; put it first, where a reader looks.
        return "{\"kind\":\"\(kind)\"," + String(decoding: body.dropFirst(), as: UTF8.self)
    }

    private static func json(_ header: BatchHeader, _ encoder: JSONEncoder) throws -> String {
        String(decoding: try encoder.encode(header), as: UTF8.self)
    }
}

/// Reads FWX's JSON form record by record without holding the document in memory: the header is decoded when
/// it has been read, then each element of `records` on its own. The whole document is never parsed at once,
/// so its size is not limited; one record may be at most ``maxValueBytes`` long.
///
/// Stricter than a plain `JSONDecoder`: `header` must come before `records` (as FWX writes it and as sorted keys
/// give it), and a key the model does not have (a typo such as `remark`) is an error instead of being dropped.
/// Errors are ``FWXError``s with code ``FWXError/Code/json``, located `FILE:LINE` and naming the path
/// (`records[3].items[0].category`).
public final class BatchJSONReader {
    public let source: ByteSource
    /// Longest header or record accepted, in bytes.
    public var maxValueBytes = 16 << 20

    private var buffer = [UInt8](repeating: 0, count: 1 << 16)
    private var count = 0
    private var position = 0
    private var atEnd = false
    private var line = 1
    private let decoder = JSONDecoder()

    public init(source: ByteSource) {
        self.source = source
    }

    /// Reads the document: `header` once, then `record` for each record with its index. Returns the number of records.
    @discardableResult
    public func read(header: (BatchHeader) throws -> Void, record: (Record, Int) throws -> Void,
                     progress: (Int) -> Void = { _ in }) throws -> Int {
        // A UTF-8 byte order mark is allowed.
        if try peek() == 0xEF {
            for expected: UInt8 in [0xEF, 0xBB, 0xBF] where try next() != expected {
                throw problem("the document is not UTF-8 JSON")
            }
        }
        try skipSpace()
        guard try next() == UInt8(ascii: "{") else {
            throw problem("an FWX JSON document is an object {\"header\": {…}, \"records\": […]}")
        }
        var sawHeader = false
        var sawRecords = false
        var records = 0
        try skipSpace()
        if try peek() == UInt8(ascii: "}") {
            throw problem("the document has no \"header\"")
        }
        while true {
            try skipSpace()
            let keyLine = line
            let key = try readString()
            try skipSpace()
            guard try next() == UInt8(ascii: ":") else { throw problem("expected ':' after \"\(key)\"") }
            try skipSpace()
            switch key {
            case "header":
                guard !sawHeader else { throw problem("\"header\" appears twice", line: keyLine) }
                let startLine = line
                let bytes = try captureValue()
                try header(try decode(BatchHeader.self, bytes, path: "header", line: startLine).normalizingCountries())
                sawHeader = true
            case "records":
                guard sawHeader else {
                    throw problem("\"records\" comes before \"header\"; FWX reads the header first (as it writes it)", line: keyLine)
                }
                guard !sawRecords else { throw problem("\"records\" appears twice", line: keyLine) }
                sawRecords = true
                guard try next() == UInt8(ascii: "[") else { throw problem("\"records\" must be an array") }
                try skipSpace()
                if try peek() == UInt8(ascii: "]") {
                    _ = try next()
                } else {
                    while true {
                        try skipSpace()
                        let startLine = line
                        let bytes = try captureValue()
                        try record(try decode(Record.self, bytes, path: "records[\(records)]", line: startLine)
                            .normalizingCountries(), records)
                        records += 1
                        if records % 1024 == 0 { progress(source.bytesRead) }
                        try skipSpace()
                        let separator = try next()
                        if separator == UInt8(ascii: "]") { break }
                        guard separator == UInt8(ascii: ",") else { throw problem("expected ',' or ']' after record \(records - 1)") }
                    }
                }
            default:
                throw problem("key \"\(key)\" is not part of the FWX JSON shape; the document has \"header\" and \"records\" (docs/json.md)",
                              line: keyLine)
            }
            try skipSpace()
            let separator = try next()
            if separator == UInt8(ascii: "}") { break }
            guard separator == UInt8(ascii: ",") else { throw problem("expected ',' or '}'") }
        }
        try skipSpace()
        guard try peek() == nil else { throw problem("text after the end of the JSON document") }
        guard sawRecords else { throw problem("the document has no \"records\" array") }
        progress(source.bytesRead)
        return records
    }

    // MARK: Decoding one value

    private func decode<T: Codable>(_ type: T.Type, _ bytes: [UInt8], path: String, line: Int) throws -> T {
        let data = Data(bytes)
        let value: T
        do {
            value = try decoder.decode(T.self, from: data)
        } catch let error as DecodingError {
            throw problem(Self.describe(error, path: path), line: line)
        } catch {
            throw problem("\(path) is not valid JSON", line: line)
        }
        // The checks below need the value as a tree. A value the decoder took but JSONSerialization cannot read
        // (the decoder is more lenient, e.g. with invalid UTF-8 in a key) could hide what they look for: refuse it.
        guard let input = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
            throw problem("\(path) is not valid JSON (check its UTF-8 and its keys)", line: line)
        }
        // A key given twice in one object is read as its first value by the decoder and as its last by
        // JSONSerialization, so the checks below would look at another value than the one written: refuse it
        // (RFC 8259 leaves such an object's meaning open).
        if let key = Self.firstDuplicateKey(in: bytes) {
            throw problem("\(path): key \"\(key.prefix(64))\" appears twice in one object; give each key once", line: line)
        }
        // Keys the model does not have would be lost silently: refuse them.
        if let unknown = JSONKeyShape.of(value).unknownKey(in: input, path: path) {
            throw problem("\(unknown.path): key \"\(unknown.key)\" is not part of the FWX JSON shape (docs/json.md); it would be lost", line: line)
        }
        // JSON can carry control characters that XML 1.0 cannot (not even as &#8;): the XML written would not
        // be well-formed. Refuse them here, where the path can be named.
        if let found = Self.characterXMLCannotCarry(in: input, path: path) {
            let code = "U+" + String(found.scalar.value, radix: 16, uppercase: true).leftPadded(to: 4)
            throw problem("\(found.path) contains the control character \(code), which XML cannot carry; remove it", line: line)
        }
        return value
    }

    /// The first string value under `input` holding a character outside XML 1.0's `Char` production.
    private static func characterXMLCannotCarry(in input: Any, path: String) -> (path: String, scalar: Unicode.Scalar)? {
        if let text = input as? String {
            for scalar in text.unicodeScalars {
                switch scalar.value {
                case 0x09, 0x0A, 0x0D, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: continue
                default: return (path, scalar)
                }
            }
        } else if let object = input as? [String: Any] {
            for key in object.keys.sorted() {
                if let found = characterXMLCannotCarry(in: object[key]!, path: "\(path).\(key)") { return found }
            }
        } else if let array = input as? [Any] {
            for (index, value) in array.enumerated() {
                if let found = characterXMLCannotCarry(in: value, path: "\(path)[\(index)]") { return found }
            }
        }
        return nil
    }

    /// A batch in which every optional value is present and every list has members, in each of its forms
    /// (a person and an organisation as parties, both kinds of recipients …). Encoding it shows every key of the
    /// JSON shape; the reader takes the keys it accepts from it.
    public static let specimen: [Batch] = {
        let location = Location(country: "NL", nutsCode: "NL33B", unLocode: "NLRTM", municipality: "Rotterdam",
                                latitude: 51.95, longitude: 4.14)
        let evaluation = Evaluation(source: .b, information: .two)
        let organisation = Organisation(name: "Pyro-Trade Sp. z o.o.", registrationNumber: "0000123456",
                                        vatNumber: "PL5260001246", country: "PL")
        let parties = [Party(role: .consignor, organisation: organisation),
                       Party(role: .driver, person: Person(pseudonym: "p1:8d4c6e0f2a9b7c13", nationality: "PL", birthYear: 1991))]
        let vehicles = [Vehicle(plate: "WX 4821K", registrationCountry: "PL")]
        let item = Item(category: .f4, productName: "Cobra 6", brand: "Cobra", manufacturer: "Unknown",
                        countryOfManufacture: "PL", ceRegistrationNumber: "0589-F4-1234", unNumber: "0335",
                        hazardDivision: .d13G, hsCode: "36041000", quantity: Quantity(480, .pieces), grossMassKg: 96,
                        netExplosiveQuantity: NetExplosiveQuantity(kg: 28.8, basis: .label))
        let seizure = SeizureRecord(
            recordId: "NL-SZ-1", revision: 2, status: .withdrawn, withdrawalReason: .erroneous, incidentType: .other,
            seizureDateTime: "2026-11-12T14:30:00+01:00", seizingAuthority: SeizingAuthority(type: .customs, name: "Douane"),
            caseReference: "C-1", location: location, handlingCode: .h1, evaluation: evaluation, items: [item],
            shipmentLinks: [RecordLink("NL-SH-1")], parties: parties, vehicles: vehicles, remarks: "r",
            retentionUntil: "2031-11-12")
        let goods = Goods(description: "Plastic toys", hsCode: "95030000", grossMassKg: 1200)
        let shipment = ShipmentRecord(
            recordId: "NL-SH-1", revision: 2, status: .withdrawn, withdrawalReason: .duplicate, transportMode: .road,
            origin: location, transit: ["DE"], destination: location, handlingCode: .h1, evaluation: evaluation,
            parties: parties, containers: ["CSQU3054383"], vehicles: vehicles,
            transportDocuments: [TransportDocument(type: .cmr, number: "CMR-1")], customsMRN: "26NL0003960000GRB7",
            declaredGoods: goods, goodsFound: goods, departureDate: "2026-11-10", arrivalDate: "2026-11-11",
            interceptionDate: "2026-11-12", seizureLinks: [RecordLink("NL-SZ-1")], remarks: "r",
            retentionUntil: "2031-11-12")
        func header(_ recipients: Recipients) -> BatchHeader {
            BatchHeader(batchId: "6f1c2b9e-4a7d-4c1e-9b7a-2d5e8f0a1c3b", sender: NodeIdentity(country: "NL", agencyId: "NL-X"),
                        recipients: recipients, createdAt: "2026-11-20T09:15:00Z", sequenceNumber: 1, defaultHandlingCode: .h2)
        }
        return [Batch(header: header(.countries(["DE"])), records: [.seizure(seizure), .shipment(shipment)]),
                Batch(header: header(.allPartners), records: [])]
    }()

    static func describe(_ error: DecodingError, path: String) -> String {
        func where_(_ codingPath: [any CodingKey]) -> String {
            var text = path
            for key in codingPath {
                if let index = key.intValue { text += "[\(index)]" } else { text += ".\(key.stringValue)" }
            }
            return text
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "\(where_(context.codingPath)): missing key \"\(key.stringValue)\" (lists that are empty are written [])"
        case .typeMismatch(let type, let context):
            return "\(where_(context.codingPath)): expected \(describe(type))"
        case .valueNotFound(let type, let context):
            return "\(where_(context.codingPath)): null where \(describe(type)) is needed"
        case .dataCorrupted(let context):
            var reason = context.debugDescription
            if let range = reason.range(of: "Cannot initialize ") {
                reason = "not a code of its list: " + reason[range.upperBound...].replacingOccurrences(of: " from invalid String value ", with: " cannot be ")
            }
            return "\(where_(context.codingPath)): \(reason)"
        @unknown default:
            return "\(path): \(error)"
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is UInt64.Type: return "a whole number"
        case is Double.Type: return "a number"
        case is Bool.Type: return "true or false"
        default:
            let name = "\(type)"
            if name.hasPrefix("Array") { return "an array" }
            if name.hasPrefix("Dictionary") || name.hasPrefix("KeyedDecodingContainer") { return "an object" }
            return "a value of type \(name)"
        }
    }

    // MARK: Scanning

    private func problem(_ message: String, line: Int? = nil) -> FWXError {
        FWXError(.json, message, location: "\(source.name):\(line ?? self.line)")
    }

    private func fill() throws {
        position = 0
        count = 0
        guard !atEnd else { return }
        let n = buffer.withUnsafeMutableBytes { source.read(into: $0.baseAddress!, count: $0.count) }
        if n < 0 { throw FWXError(.io, "read error in \(source.name) after \(source.bytesRead) bytes", location: source.name) }
        if n == 0 { atEnd = true }
        count = max(n, 0)
    }

    /// The first key that appears twice in one object of the JSON value `bytes` (already known to decode), or nil.
    /// Keys are compared as the strings they stand for: `"a"` and `"\u0061"` are the same key.
    static func firstDuplicateKey(in bytes: [UInt8]) -> String? {
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        var keys: [Set<String>?] = []   // one entry per open object (a set) or array (nil)
        var expectKey = false
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case quote:
                let start = index
                var escaped = false
                index += 1
                while index < bytes.count && bytes[index] != quote {
                    if bytes[index] == backslash { escaped = true; index += 1 }
                    index += 1
                }
                if expectKey, let open = keys.last, var set = open {
                    let token = bytes[start..<min(index + 1, bytes.count)]
                    let key = escaped ? (try? JSONDecoder().decode(String.self, from: Data(token)))
                        ?? String(decoding: token, as: UTF8.self)
                        : String(decoding: token.dropFirst().dropLast(), as: UTF8.self)
                    guard set.insert(key).inserted else { return key }
                    keys[keys.count - 1] = set
                    expectKey = false
                }
            case UInt8(ascii: "{"):
                keys.append(Set<String>())
                expectKey = true
            case UInt8(ascii: "["):
                keys.append(nil)
                expectKey = false
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if !keys.isEmpty { keys.removeLast() }
                expectKey = false
            case UInt8(ascii: ","):
                expectKey = keys.last.map { $0 != nil } ?? false
            default:
                break
            }
            index += 1
        }
        return nil
    }

    private func peek() throws -> UInt8? {
        if position == count { try fill() }
        return position < count ? buffer[position] : nil
    }

    private func next() throws -> UInt8? {
        if position == count { try fill() }
        guard position < count else { return nil }
        let byte = buffer[position]
        position += 1
        if byte == 0x0A { line += 1 }
        return byte
    }

    private func skipSpace() throws {
        while let byte = try peek(), byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { _ = try next() }
    }

    /// A JSON string (the opening quote is next), unescaped.
    private func readString() throws -> String {
        guard try peek() == UInt8(ascii: "\"") else { throw problem("expected a key in double quotes") }
        var raw: [UInt8] = []
        raw.append(try next()!)
        var escaped = false
        while true {
            guard let byte = try next() else { throw problem("a string is not closed before the end of the document") }
            raw.append(byte)
            if raw.count > 4096 { throw problem("a key is longer than 4096 bytes") }
            if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { break }
        }
        guard let key = try? decoder.decode(String.self, from: Data(raw)) else { throw problem("a key is not a valid JSON string") }
        return key
    }

    /// The bytes of one complete JSON value (object, array, string or scalar), checked only for balance here;
    /// the decoder checks the rest.
    private func captureValue() throws -> [UInt8] {
        var bytes: [UInt8] = []
        var depth = 0
        var inString = false
        var escaped = false
        guard let first = try peek() else { throw problem("a value is missing at the end of the document") }
        if first != UInt8(ascii: "{") && first != UInt8(ascii: "[") && first != UInt8(ascii: "\"") {
            // A scalar: up to the next separator.
            while let byte = try peek(), ![UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x0A, 0x0D, 0x09].contains(byte) {
                bytes.append(try next()!)
                if bytes.count > 1024 { throw problem("a value is too long") }
            }
            return bytes
        }
        while let byte = try next() {
            bytes.append(byte)
            if bytes.count > maxValueBytes {
                throw problem("a value is longer than \(maxValueBytes >> 20) MiB; is a bracket or quote missing?")
            }
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") {
                    inString = false
                    if depth == 0 { return bytes }
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 { return bytes }
                if depth < 0 { throw problem("unbalanced brackets") }
            default: break
            }
        }
        throw problem("the document ends inside a value; is a bracket or quote missing?")
    }
}

/// XML ↔ JSON in one call each, streaming both ways.
public enum BatchJSONConverter {
    /// Converts batch XML to FWX JSON, validating the XML in the same pass (see ``ValidatingBatchReader``).
    /// Records that fail the schema are left out of the JSON; check the report's `isValid` before using the result.
    public static func xmlToJSON(_ source: ByteSource, reader: ValidatingBatchReader = ValidatingBatchReader(),
                                 output: @escaping (String) throws -> Void,
                                 progress: @escaping (Int) -> Void = { _ in }) throws -> BatchReadReport {
        let box = WriterBox(BatchJSONWriter(output: output))
        let report = try reader.read(source, header: {
                                         try box.writer.writeHeader($0)
                                         box.started = true
                                     },
                                     record: { try box.writer.writeRecord($0) }, progress: progress)
        if box.started { try box.writer.finish() }
        return report
    }

    /// Converts FWX JSON to canonical batch XML through `writer`. Returns the number of records. The XML is not
    /// validated here: validate it (``BatchValidator``) before using it.
    @discardableResult
    public static func jsonToXML(_ source: ByteSource, writer: inout BatchXMLWriter,
                                 progress: (Int) -> Void = { _ in }) throws -> Int {
        let reader = BatchJSONReader(source: source)
        var xml = writer
        defer { writer = xml }
        let count = try reader.read(header: { try xml.writeHeader($0) }, record: { record, _ in try xml.writeRecord(record) },
                                    progress: progress)
        try xml.finish()
        return count
    }
}

/// Holds a JSON writer for the parser's event closures.
private final class WriterBox {
    var writer: BatchJSONWriter
    var started = false
    init(_ writer: BatchJSONWriter) { self.writer = writer }
}

/// The keys of FWX's JSON shape, as a tree, taken from ``BatchJSONReader/specimen``.
indirect enum JSONKeyShape: Sendable {
    case scalar
    case object([String: JSONKeyShape])
    case array(JSONKeyShape)

    static let header: JSONKeyShape = shape(of: BatchJSONReader.specimen.map(\.header))
    static let seizure: JSONKeyShape = shape(of: BatchJSONReader.specimen.flatMap(\.records).filter {
        if case .seizure = $0 { return true } else { return false }
    })
    static let shipment: JSONKeyShape = shape(of: BatchJSONReader.specimen.flatMap(\.records).filter {
        if case .shipment = $0 { return true } else { return false }
    })

    /// The shape a decoded value had to have: the header's, or its record kind's.
    static func of(_ value: Any) -> JSONKeyShape {
        if value is BatchHeader { return header }
        guard let record = value as? Record else { return .scalar }
        if case .shipment = record { return shipment }
        return seizure
    }

    /// The union of the shapes of `values` as they encode.
    private static func shape<T: Encodable>(of values: [T]) -> JSONKeyShape {
        let encoder = JSONEncoder()
        var result = JSONKeyShape.scalar
        for value in values {
            guard let data = try? encoder.encode(value),
                  let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else { continue }
            result = result.merged(with: shape(of: object))
        }
        return result
    }

    private static func shape(of value: Any) -> JSONKeyShape {
        if let object = value as? [String: Any] { return .object(object.mapValues(shape(of:))) }
        if let array = value as? [Any] { return .array(array.map(shape(of:)).reduce(.scalar) { $0.merged(with: $1) }) }
        return .scalar
    }

    private func merged(with other: JSONKeyShape) -> JSONKeyShape {
        switch (self, other) {
        case (.object(let a), .object(let b)): return .object(a.merging(b) { $0.merged(with: $1) })
        case (.array(let a), .array(let b)): return .array(a.merged(with: b))
        case (.scalar, _): return other
        default: return self
        }
    }

    /// The first key in `input` that the shape does not have (a `null` value counts as absent).
    func unknownKey(in input: Any, path: String) -> (path: String, key: String)? {
        switch self {
        case .object(let keys):
            guard let object = input as? [String: Any] else { return nil }
            for key in object.keys.sorted() {
                let value = object[key]!
                guard let shape = keys[key] else {
                    if value is NSNull { continue }
                    return (path, key)
                }
                if let found = shape.unknownKey(in: value, path: "\(path).\(key)") { return found }
            }
        case .array(let element):
            guard let array = input as? [Any] else { return nil }
            for (index, value) in array.enumerated() {
                if let found = element.unknownKey(in: value, path: "\(path)[\(index)]") { return found }
            }
        case .scalar:
            break
        }
        return nil
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: Swift.max(0, width - count)) + self }
}
