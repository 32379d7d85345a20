// Number formatting and escaping shared by the renderers of a TraceResult (CSV, GeoJSON, GraphML, HTML). No
// Foundation and no locale: numbers always use '.' as the decimal separator, whatever the machine's settings.

/// Locale-free number text for the renderers.
enum OutputNumber {
    /// `value` rounded to `places` decimals (at most 6), always with exactly that many decimals: `12.5` with 1 place
    /// is `12.5`, `3` with 1 place `3.0`. Rounds half away from zero on the decimal value (the value is first taken
    /// to millionths, so that `0.25` rounds like the decimal it stands for). Non-finite values give `0`.
    static func fixed(_ value: Double, places: Int, grouped: Bool = false) -> String {
        let (negative, whole, fraction) = split(value, places: places)
        var text = negative ? "-" : ""
        text += grouped ? group(whole) : String(whole)
        if places > 0 { text += "." + pad(fraction, places) }
        return text
    }

    /// `value` with at most `maxPlaces` decimals and no trailing zeros: `12.5`, `100`, `0.001`. For CSV, JSON-like
    /// text and coordinates.
    static func plain(_ value: Double, maxPlaces: Int = 3) -> String {
        var text = fixed(value, places: maxPlaces)
        if text.contains(".") {
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
        }
        return text == "-0" ? "0" : text
    }

    /// A whole number with `,` between thousands: `1,234,567`.
    static func count(_ value: Int) -> String {
        value < 0 ? "-" + group(UInt64(-value)) : group(UInt64(value))
    }

    /// Kilograms for people: one decimal, thousands grouped, ` kg`: `1,234.5 kg`.
    static func kg(_ value: Double) -> String { fixed(value, places: 1, grouped: true) + " kg" }

    /// A signed change: `+3`, `-2`, `0`.
    static func signed(_ value: Int) -> String { value > 0 ? "+" + count(value) : count(value) }

    /// A signed change in kilograms: `+1.5 kg`, `-0.5 kg`.
    static func signedKg(_ value: Double) -> String {
        let text = kg(value)
        return text.hasPrefix("-") || text == "0.0 kg" ? text : "+" + text
    }

    /// A signed percentage with one decimal: `+25.0%`; `n/a` when nil.
    static func percent(_ value: Double?) -> String {
        guard let value else { return "n/a" }
        let text = fixed(value, places: 1, grouped: true)
        return (text.hasPrefix("-") || text == "0.0" ? text : "+" + text) + "%"
    }

    private static func split(_ value: Double, places: Int) -> (negative: Bool, whole: UInt64, fraction: UInt64) {
        let places = min(max(places, 0), 6)
        guard value.isFinite, abs(value) < 9e12 else { return (false, 0, 0) }
        let micro = UInt64((abs(value) * 1_000_000).rounded())
        var unit: UInt64 = 1
        for _ in 0..<(6 - places) { unit *= 10 }
        let scaled = (micro + unit / 2) / unit
        var perWhole: UInt64 = 1
        for _ in 0..<places { perWhole *= 10 }
        return (value < 0 && scaled != 0, scaled / perWhole, scaled % perWhole)
    }

    private static func pad(_ number: UInt64, _ width: Int) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    private static func group(_ number: UInt64) -> String {
        let digits = Array(String(number))
        var text = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { text += "," }
            text.append(digit)
        }
        return text
    }
}

/// Escaping for the text formats the renderers write.
enum OutputEscape {
    /// Text for XML and HTML content and attribute values (double-quoted): `&`, `<`, `>`, `"` and `'` become
    /// entities; control characters that XML 1.0 does not allow are replaced by U+FFFD.
    static func xml(_ text: String) -> String {
        // Most values (ids, codes, dates, names) need nothing: returned as they are. 0xEF starts U+FFFE and U+FFFF.
        if !text.utf8.contains(where: { byte in
            byte < 0x20 || byte == 0x26 || byte == 0x3C || byte == 0x3E || byte == 0x22 || byte == 0x27 || byte == 0xEF
        }) { return text }
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            case "\t", "\n", "\r": result.unicodeScalars.append(scalar)
            default:
                let value = scalar.value
                if value < 0x20 || value == 0xFFFE || value == 0xFFFF {
                    result += "\u{FFFD}"
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result
    }

    /// A JSON string literal, quotes included (RFC 8259: `"` and `\` escaped, control characters as `\u00XX`).
    static func jsonString(_ text: String) -> String {
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) { return "\"" + text + "\"" }
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16, uppercase: true)
                    result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }
}

/// Text handed to a sink in pieces of about `pieceSize` bytes, so that a large document (the GeoJSON or GraphML of
/// a million records is hundreds of megabytes) is never held whole.
struct TextPieces {
    private var buffer = ""
    private let pieceSize: Int
    private let sink: (String) throws -> Void

    init(pieceSize: Int, sink: @escaping (String) throws -> Void) {
        self.pieceSize = max(1, pieceSize)
        self.sink = sink
    }

    /// Appends `text`, handing the buffer to the sink when it has reached the piece size.
    static func += (pieces: inout TextPieces, text: String) throws {
        pieces.buffer += text
        if pieces.buffer.utf8.count >= pieces.pieceSize {
            try pieces.sink(pieces.buffer)
            pieces.buffer.removeAll(keepingCapacity: true)
        }
    }

    /// Hands what is left to the sink.
    private mutating func finish() throws {
        if !buffer.isEmpty { try sink(buffer) }
        buffer = ""
    }

    /// Runs `body` with pieces that go to `sink`, then hands over the rest.
    static func write(pieceSize: Int, to sink: (String) throws -> Void,
                      _ body: (inout TextPieces) throws -> Void) throws {
        try withoutActuallyEscaping(sink) { sink in
            var pieces = TextPieces(pieceSize: pieceSize, sink: sink)
            try body(&pieces)
            try pieces.finish()
        }
    }
}
