import FWXModel
public import FWXXML

/// Character encodings of CSV files that FWX reads and writes.
public enum CSVEncoding: String, Sendable, Hashable, CaseIterable {
    case utf8 = "utf-8"
    case isoLatin1 = "iso-8859-1"
    case windows1252 = "windows-1252"

    /// Reads the spellings found in the wild: `UTF-8`, `utf8`, `latin1`, `ISO-8859-1`, `cp1252`, `Windows-1252` …
    public init?(name: String) {
        switch name.lowercased().replacingOccurrences(of: "_", with: "-") {
        case "utf-8", "utf8": self = .utf8
        case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "iso-latin-1": self = .isoLatin1
        case "windows-1252", "cp1252", "cp-1252", "win1252", "windows1252": self = .windows1252
        default: return nil
        }
    }

    /// Text of `bytes` in this encoding, or nil when the bytes are not valid in it (UTF-8 only: every byte is a
    /// character in ISO-8859-1; in Windows-1252 the five unassigned bytes 0x81, 0x8D, 0x8F, 0x90 and 0x9D are
    /// not valid).
    public func decode(_ bytes: [UInt8]) -> String? {
        switch self {
        case .utf8:
            // Decoding repairs invalid sequences; the bytes were valid when nothing needed repair.
            let text = String(decoding: bytes, as: UTF8.self)
            return text.utf8.elementsEqual(bytes) ? text : nil
        case .isoLatin1 where !bytes.contains(where: { $0 >= 0x80 }), .windows1252 where !bytes.contains(where: { $0 >= 0x80 }):
            return String(decoding: bytes, as: UTF8.self)
        case .isoLatin1:
            var text = String.UnicodeScalarView()
            for byte in bytes { text.append(Unicode.Scalar(byte)) }
            return String(text)
        case .windows1252:
            var text = String.UnicodeScalarView()
            for byte in bytes {
                if byte >= 0x80 && byte <= 0x9F {
                    let value = Self.windows1252High[Int(byte - 0x80)]
                    guard value != 0, let scalar = Unicode.Scalar(value) else { return nil }
                    text.append(scalar)
                } else {
                    text.append(Unicode.Scalar(byte))
                }
            }
            return String(text)
        }
    }

    /// Bytes of `text` in this encoding; characters the encoding lacks become `?`.
    public func encode(_ text: String) -> [UInt8] {
        switch self {
        case .utf8:
            return Array(text.utf8)
        case .isoLatin1, .windows1252:
            var bytes: [UInt8] = []
            bytes.reserveCapacity(text.unicodeScalars.count)
            for scalar in text.unicodeScalars {
                if scalar.value < 0x80 || (scalar.value >= 0xA0 && scalar.value <= 0xFF) {
                    bytes.append(UInt8(scalar.value))
                } else if self == .windows1252, let index = Self.windows1252High.firstIndex(of: UInt16(clamping: scalar.value)),
                          scalar.value <= 0xFFFF {
                    bytes.append(UInt8(0x80 + index))
                } else if self == .isoLatin1, scalar.value >= 0x80 && scalar.value < 0xA0 {
                    bytes.append(UInt8(scalar.value))
                } else {
                    bytes.append(UInt8(ascii: "?"))
                }
            }
            return bytes
        }
    }

    /// Unicode code points of Windows-1252 bytes 0x80…0x9F (0 where the byte is unassigned).
    private static let windows1252High: [UInt16] = [
        0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
        0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E,
        0x0178,
    ]
}

/// How a CSV file is written: delimiter, quote character and encoding.
public struct CSVDialect: Sendable, Hashable {
    /// Field separator, one ASCII character: `;`, `,`, tab or `|`.
    public var delimiter: UInt8
    /// Quote character (RFC 4180: `"`); a quote inside a quoted field is doubled.
    public var quote: UInt8
    public var encoding: CSVEncoding

    public init(delimiter: UInt8 = UInt8(ascii: ","), quote: UInt8 = UInt8(ascii: "\""), encoding: CSVEncoding = .utf8) {
        self.delimiter = delimiter
        self.quote = quote
        self.encoding = encoding
    }
}

/// One record of a CSV file.
public struct CSVRow: Sendable, Hashable {
    /// Physical line (1-based) on which the record starts. Line breaks inside quoted fields count, so the next
    /// record's line is right too.
    public var line: Int
    /// The fields, decoded. Empty when ``problem`` is set.
    public var fields: [String]
    /// The record's bytes as read, without its line break, for reject files.
    public var raw: [UInt8]
    /// Why the record could not be read (bad quoting, bytes invalid in the encoding), or nil.
    public var problem: String?
}

/// Reads CSV files as RFC 4180 describes them (quoted fields, doubled quotes, line breaks inside quotes), with a
/// configurable delimiter and encoding, record by record: memory does not grow with the file.
///
/// - A UTF-8 byte order mark at the start is skipped, and makes the file UTF-8 whatever the dialect says
///   (spreadsheets write one). A UTF-16 byte order mark is refused.
/// - Lines end with LF, CRLF or CR. Empty lines are skipped (they are not records).
/// - A record that breaks the quoting rules is returned with ``CSVRow/problem`` set, and reading goes on with the
///   next line. A quoted field still open at the end of the file is a problem of its record.
/// - Limits: one record may be at most ``maxRecordBytes`` bytes long; a longer one (usually a quote that is never
///   closed) stops the reading with an error.
public final class CSVReader {
    public let source: ByteSource
    public private(set) var dialect: CSVDialect
    /// Longest record accepted, in bytes.
    public var maxRecordBytes = 1 << 20
    /// The encoding actually used: the dialect's, or UTF-8 when the file starts with a UTF-8 byte order mark.
    public var encoding: CSVEncoding { dialect.encoding }
    /// Whether the file started with a UTF-8 byte order mark.
    public private(set) var hadByteOrderMark = false

    private var buffer = [UInt8](repeating: 0, count: 1 << 16)
    private var bufferCount = 0
    private var position = 0
    private var atEnd = false
    private var started = false
    /// Line number of the next unread byte.
    private var line = 1
    private var pendingCR = false

    public init(source: ByteSource, dialect: CSVDialect) {
        self.source = source
        self.dialect = dialect
    }

    /// Bytes read from the source so far.
    public var bytesRead: Int { source.bytesRead }

    private func fill() throws {
        guard !atEnd else { return }
        if position > 0 && position == bufferCount {
            position = 0
            bufferCount = 0
        }
        let n = buffer.withUnsafeMutableBytes { raw in
            source.read(into: raw.baseAddress! + bufferCount, count: raw.count - bufferCount)
        }
        if n < 0 { throw FWXError(.io, "read error in \(source.name) after \(source.bytesRead) bytes", location: source.name) }
        if n == 0 { atEnd = true }
        bufferCount += max(n, 0)
    }

    /// The next byte, or nil at the end of the input.
    @inline(__always)
    private func nextByte() throws -> UInt8? {
        if position == bufferCount {
            position = 0
            bufferCount = 0
            try fill()
            if bufferCount == 0 { return nil }
        }
        let byte = buffer[position]
        position += 1
        return byte
    }

    private func peekByte() throws -> UInt8? {
        if position == bufferCount {
            position = 0
            bufferCount = 0
            try fill()
            if bufferCount == 0 { return nil }
        }
        return buffer[position]
    }

    private func start() throws {
        started = true
        // Enough bytes for a byte order mark.
        while bufferCount < 3 && !atEnd { try fill() }
        if bufferCount >= 3 && buffer[0] == 0xEF && buffer[1] == 0xBB && buffer[2] == 0xBF {
            position = 3
            hadByteOrderMark = true
            dialect.encoding = .utf8
        } else if bufferCount >= 2 && ((buffer[0] == 0xFF && buffer[1] == 0xFE) || (buffer[0] == 0xFE && buffer[1] == 0xFF)) {
            throw FWXError(.unsupported,
                           "\(source.name) is UTF-16 (it starts with a UTF-16 byte order mark); save it as UTF-8 or as ISO-8859-1 / Windows-1252",
                           location: source.name)
        }
    }

    /// The next record, or nil at the end of the file.
    public func next() throws -> CSVRow? {
        if !started { try start() }
        while true {
            guard let row = try readRecord() else { return nil }
            if let row { return row }
            // nil inside: an empty line, skipped.
        }
    }

    /// Reads one physical record. Returns `.some(nil)` for an empty line, nil at the end of the input.
    private func readRecord() throws -> CSVRow?? {
        guard try peekByte() != nil else { return nil }
        let startLine = line
        var raw: [UInt8] = []
        var fieldBytes: [[UInt8]] = []
        var field: [UInt8] = []
        var problem: String?
        let delimiter = dialect.delimiter
        let quote = dialect.quote

        enum State { case fieldStart, unquoted, quoted, quoteInQuoted, afterQuoted }
        var state = State.fieldStart
        var sawAnything = false

        func append(_ byte: UInt8) throws {
            raw.append(byte)
            if raw.count > maxRecordBytes {
                throw FWXError(.limitExceeded,
                               "the record starting at line \(startLine) is longer than \(maxRecordBytes >> 20) MiB; a quote is probably never closed",
                               location: "\(source.name):\(startLine)")
            }
        }

        recordLoop: while true {
            guard let byte = try nextByte() else {
                // End of input.
                if state == .quoted {
                    problem = problem ?? "a quoted field opened on line \(startLine) is not closed before the end of the file"
                }
                if sawAnything || !field.isEmpty { fieldBytes.append(field) }
                break recordLoop
            }
            // Line breaks: LF, CRLF or CR.
            if byte == 0x0D || byte == 0x0A {
                var terminator: [UInt8] = [byte]
                if byte == 0x0D, try peekByte() == 0x0A {
                    _ = try nextByte()
                    terminator.append(0x0A)
                }
                line += 1
                if state == .quoted {
                    field.append(contentsOf: terminator)
                    for terminatorByte in terminator { try append(terminatorByte) }
                    continue
                }
                if !sawAnything { return .some(nil) }
                fieldBytes.append(field)
                break recordLoop
            }
            try append(byte)
            sawAnything = true
            switch state {
            case .fieldStart:
                if byte == quote {
                    state = .quoted
                } else if byte == delimiter {
                    fieldBytes.append(field)
                    field = []
                } else {
                    field.append(byte)
                    state = .unquoted
                }
            case .unquoted:
                if byte == delimiter {
                    fieldBytes.append(field)
                    field = []
                    state = .fieldStart
                } else {
                    if byte == quote && problem == nil {
                        problem = "field \(fieldBytes.count + 1) has a quote character inside an unquoted value; quote the whole field and double the quote"
                    }
                    field.append(byte)
                }
            case .quoted:
                if byte == quote { state = .quoteInQuoted } else { field.append(byte) }
            case .quoteInQuoted:
                if byte == quote {
                    field.append(quote)
                    state = .quoted
                } else if byte == delimiter {
                    fieldBytes.append(field)
                    field = []
                    state = .fieldStart
                } else {
                    if problem == nil {
                        problem = "field \(fieldBytes.count + 1) has text after its closing quote; a quote inside a quoted field must be doubled"
                    }
                    field.append(byte)
                    state = .afterQuoted
                }
            case .afterQuoted:
                if byte == delimiter {
                    fieldBytes.append(field)
                    field = []
                    state = .fieldStart
                } else {
                    field.append(byte)
                }
            }
        }
        var fields: [String] = []
        if problem == nil {
            fields.reserveCapacity(fieldBytes.count)
            for (index, bytes) in fieldBytes.enumerated() {
                guard let text = dialect.encoding.decode(bytes) else {
                    problem = "field \(index + 1) is not valid \(dialect.encoding.rawValue); set csv.encoding in the profile to the file's encoding"
                    fields = []
                    break
                }
                fields.append(text)
            }
        }
        return .some(CSVRow(line: startLine, fields: fields, raw: raw, problem: problem))
    }
}

/// Writes CSV records as RFC 4180 describes them: fields that contain the delimiter, a quote, a line break or
/// leading or trailing white space are quoted, quotes inside are doubled, records end with CRLF.
public struct CSVWriter {
    public let dialect: CSVDialect
    private let output: ([UInt8]) throws -> Void

    /// - Parameter output: receives each record's bytes, in order.
    public init(dialect: CSVDialect, output: @escaping ([UInt8]) throws -> Void) {
        self.dialect = dialect
        self.output = output
    }

    /// The bytes of one record (with its CRLF) in `dialect`.
    public static func record(_ fields: [String], dialect: CSVDialect) -> [UInt8] {
        var bytes: [UInt8] = []
        for (index, field) in fields.enumerated() {
            if index > 0 { bytes.append(dialect.delimiter) }
            let encoded = dialect.encoding.encode(field)
            let needsQuotes = encoded.contains { $0 == dialect.delimiter || $0 == dialect.quote || $0 == 0x0A || $0 == 0x0D }
                || encoded.first == 0x20 || encoded.last == 0x20
            if needsQuotes {
                bytes.append(dialect.quote)
                for byte in encoded {
                    if byte == dialect.quote { bytes.append(byte) }
                    bytes.append(byte)
                }
                bytes.append(dialect.quote)
            } else {
                bytes.append(contentsOf: encoded)
            }
        }
        bytes.append(0x0D)
        bytes.append(0x0A)
        return bytes
    }

    /// Writes one record.
    public func write(_ fields: [String]) throws {
        try output(Self.record(fields, dialect: dialect))
    }

    /// Writes bytes as they are (a record read earlier, with `raw` bytes), followed by CRLF.
    public func writeRaw(_ raw: [UInt8]) throws {
        try output(raw + [0x0D, 0x0A])
    }
}
