import FWXModel
import Foundation

/// A value read from a CSV field (or a profile constant), ready for the model.
enum CSVValue: Sendable, Hashable {
    case text(String)
    case number(Double)
    case integer(Int)
    /// A calendar date as days since 1970-01-01.
    case day(Int)
    /// A time of day in seconds since midnight.
    case seconds(Int)
    /// A complete ISO 8601 timestamp with zone.
    case timestamp(String)
    case list([String])

    var text: String? {
        if case .text(let value) = self { return value }
        return nil
    }
}

/// A date or time pattern of a profile: `dd-MM-yyyy`, `dd.MM.yyyy`, `d/M/yy`, `HH:mm`, `dd.MM.yyyy HH:mm:ss` …
///
/// Letters: `yyyy` four-digit year, `yy` two-digit year (20yy), `MM`/`dd`/`HH`/`mm`/`ss` two digits, `M`/`d`/`H`
/// one or two digits. Every other character must appear as it is. Letters other than these are refused, so
/// that a typo in a profile is found when the profile is loaded.
public struct DatePattern: Sendable, Hashable, CustomStringConvertible {
    enum Token: Sendable, Hashable {
        case year4, year2, month(Int), day(Int), hour(Int), minute, second
        case literal(Character)
    }

    let tokens: [Token]
    public let description: String

    /// Parses a pattern; nil when it uses a letter FWX does not know.
    public init?(_ pattern: String) {
        var tokens: [Token] = []
        let characters = Array(pattern)
        var index = 0
        while index < characters.count {
            let character = characters[index]
            var run = 1
            while index + run < characters.count && characters[index + run] == character { run += 1 }
            switch (character, run) {
            case ("y", 4): tokens.append(.year4)
            case ("y", 2): tokens.append(.year2)
            case ("M", 1), ("M", 2): tokens.append(.month(run))
            case ("d", 1), ("d", 2): tokens.append(.day(run))
            case ("H", 1), ("H", 2): tokens.append(.hour(run))
            case ("m", 2): tokens.append(.minute)
            case ("s", 2): tokens.append(.second)
            default:
                if character.isLetter { return nil }
                for _ in 0..<run { tokens.append(.literal(character)) }
            }
            index += run
        }
        self.tokens = tokens
        self.description = pattern
    }

    var hasDate: Bool {
        tokens.contains { if case .year4 = $0 { return true }; if case .year2 = $0 { return true }; return false }
            && tokens.contains { if case .month = $0 { return true }; return false }
            && tokens.contains { if case .day = $0 { return true }; return false }
    }

    var hasTime: Bool {
        tokens.contains { if case .hour = $0 { return true }; return false }
            && tokens.contains { if case .minute = $0 { return true }; return false }
    }

    /// The parts of `text`, or nil when it does not follow the pattern or names an impossible date or time.
    func parse(_ text: String) -> (day: Int?, seconds: Int?)? {
        let characters = Array(text)
        var index = 0
        var year: Int?, month: Int?, day: Int?, hour: Int?, minute: Int?, second: Int?
        func digits(_ minimum: Int, _ maximum: Int) -> Int? {
            var value = 0
            var count = 0
            while count < maximum, index < characters.count, let digit = characters[index].wholeNumberValue,
                  characters[index].isASCII {
                value = value * 10 + digit
                index += 1
                count += 1
            }
            return count >= minimum ? value : nil
        }
        for token in tokens {
            switch token {
            case .year4: guard let value = digits(4, 4) else { return nil }; year = value
            case .year2: guard let value = digits(2, 2) else { return nil }; year = 2000 + value
            case .month(let width): guard let value = digits(width, 2) else { return nil }; month = value
            case .day(let width): guard let value = digits(width, 2) else { return nil }; day = value
            case .hour(let width): guard let value = digits(width, 2) else { return nil }; hour = value
            case .minute: guard let value = digits(2, 2) else { return nil }; minute = value
            case .second: guard let value = digits(2, 2) else { return nil }; second = value
            case .literal(let character):
                guard index < characters.count, characters[index] == character else { return nil }
                index += 1
            }
        }
        guard index == characters.count else { return nil }
        var dayNumber: Int?
        if let year, let month, let day {
            guard (1...12).contains(month), day >= 1, day <= DatePattern.daysIn(month: month, year: year) else { return nil }
            dayNumber = ISOTime.daysSinceEpoch(year: year, month: month, day: day)
        }
        var seconds: Int?
        if let hour {
            let minute = minute ?? 0, second = second ?? 0
            guard hour <= 23, minute <= 59, second <= 59 else { return nil }
            seconds = hour * 3600 + minute * 60 + second
        }
        return (dayNumber, seconds)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}

/// The time zone of a profile: an IANA name (`Europe/Amsterdam`), `UTC`, or a fixed offset (`+01:00`).
struct ProfileTimeZone: Sendable, Hashable {
    private let fixedOffset: Int?
    private let identifier: String?

    init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed == "UTC" || trimmed == "Z" || trimmed == "GMT" {
            fixedOffset = 0
            identifier = nil
            return
        }
        if let first = trimmed.first, first == "+" || first == "-" {
            let parts = trimmed.dropFirst().split(separator: ":")
            guard parts.count == 2, parts[0].count == 2, parts[1].count == 2, let hours = Int(parts[0]),
                  let minutes = Int(parts[1]), hours <= 14, minutes <= 59 else { return nil }
            fixedOffset = (hours * 3600 + minutes * 60) * (first == "-" ? -1 : 1)
            identifier = nil
            return
        }
        guard TimeZone(identifier: trimmed) != nil else { return nil }
        fixedOffset = nil
        identifier = trimmed
    }

    /// Offset from UTC in seconds of the wall-clock time `localSeconds` (seconds since 1970 as if it were UTC).
    func offset(atLocal localSeconds: Int) -> Int {
        if let fixedOffset { return fixedOffset }
        guard let identifier, let zone = TimeZone(identifier: identifier) else { return 0 }
        let first = zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(localSeconds)))
        return zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(localSeconds - first)))
    }

    /// `YYYY-MM-DDThh:mm:ss±hh:mm` (or `Z`) of a local date and time.
    func timestamp(day: Int, seconds: Int) -> String {
        let offset = offset(atLocal: day * 86400 + seconds)
        let time = "\(pad(seconds / 3600)):\(pad(seconds / 60 % 60)):\(pad(seconds % 60))"
        guard offset != 0 else { return "\(ISOTime.date(daysSinceEpoch: day))T\(time)Z" }
        let sign = offset < 0 ? "-" : "+"
        let magnitude = abs(offset)
        return "\(ISOTime.date(daysSinceEpoch: day))T\(time)\(sign)\(pad(magnitude / 3600)):\(pad(magnitude / 60 % 60))"
    }

    private func pad(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
}

/// How numbers are written in an export.
struct NumberFormat: Sendable, Hashable {
    var decimalSeparator: Character
    var thousandsSeparator: Character?

    /// The number in `text`, or a reason why it is not one.
    func parse(_ text: String) -> Parsed<Double> {
        var body = Substring(text)
        var negative = false
        if body.first == "-" || body.first == "+" {
            negative = body.first == "-"
            body = body.dropFirst()
        }
        let parts = body.split(separator: decimalSeparator, omittingEmptySubsequences: false)
        guard parts.count <= 2 else {
            return .failure("is not a number: '\(decimalSeparator)' is the decimal separator and appears more than once")
        }
        var integer = String(parts[0])
        let fraction = parts.count == 2 ? String(parts[1]) : ""
        if let thousands = thousandsSeparator, integer.contains(thousands) {
            let groups = integer.split(separator: thousands, omittingEmptySubsequences: false)
            guard let first = groups.first, (1...3).contains(first.count),
                  groups.dropFirst().allSatisfy({ $0.count == 3 }) else {
                return .failure("is not a number: '\(thousands)' separates thousands in groups of three digits, and '\(decimalSeparator)' is the decimal separator")
            }
            integer = groups.joined()
        }
        let isDigits: (String) -> Bool = { $0.allSatisfy { $0.isASCII && $0.isNumber } }
        guard !(integer.isEmpty && fraction.isEmpty), isDigits(integer), isDigits(fraction) else {
            let other: Character = decimalSeparator == "," ? "." : ","
            if text.contains(other) && thousandsSeparator != other {
                return .failure("is not a number with decimal separator '\(decimalSeparator)' (the profile's numbers.decimalSeparator)")
            }
            return .failure("is not a number")
        }
        guard let value = Double((integer.isEmpty ? "0" : integer) + (fraction.isEmpty ? "" : "." + fraction)),
              value.isFinite else { return .failure("is not a number") }
        return .success(negative ? -value : value)
    }
}

extension String {
    /// Trimmed of white space and line breaks at both ends, with CRLF (and lone CR) inside turned into LF.
    var csvTrimmed: String {
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D || $0 == 0x0B || $0 == 0x0C }
        var text = self
        let utf8 = text.utf8
        if let first = utf8.first, let last = utf8.last, isSpace(first) || isSpace(last) {
            // Non-ASCII white space (no-break space) is trimmed too, the slow way.
            text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        } else if let first = unicodeScalars.first, let last = unicodeScalars.last,
                  first.properties.isWhitespace || last.properties.isWhitespace {
            text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if text.utf8.contains(0x0D) {
            text = text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        }
        return text
    }

    /// The form used to look values up in value maps and to match header names: trimmed, lower-cased, inner
    /// white space collapsed to one space.
    var csvLookupKey: String {
        lowercased().split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }
}

/// A value read, or the reason it could not be read (the reason is text for a person, not an `Error`).
enum Parsed<Value> {
    case success(Value)
    case failure(String)
}
