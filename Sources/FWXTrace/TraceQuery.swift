public import FWXModel

/// The length of the periods that flows and the time series are counted in.
public enum PeriodGranularity: String, Sendable, Hashable, Codable, CaseIterable {
    case month, quarter, year
}

/// What a trace looks at: a date range, countries, categories, the period length and which keys may link
/// records. Which records the analyst may see is not part of the query: the caller feeds only those.
public struct TraceQuery: Sendable, Hashable {
    /// First day, `YYYY-MM-DD`, inclusive; nil for no lower bound.
    public let from: String?
    /// Last day, `YYYY-MM-DD`, inclusive; nil for no upper bound.
    public let to: String?
    /// A record matches when its owner, origin, a transit, destination or location country is in the set; empty
    /// for every country.
    public let countries: Set<String>
    /// A record matches when it has an item of one of these categories, and only those items count in the
    /// figures; empty for every category (and records without items).
    public let categories: Set<CECategory>
    public let period: PeriodGranularity
    /// NUTS level (1, 2 or 3) at which flows name regions; nil for countries only. Routes are always by country.
    public let regionLevel: Int?
    /// The kinds of key that may join records into clusters.
    public let linkKinds: Set<LinkKind>

    /// A query; throws an FWXError with code `usage` when a date is not `YYYY-MM-DD`, `from` is after `to`, a
    /// country is not an ISO 3166-1 alpha-2 code, or the region level is not 1, 2 or 3.
    public init(from: String? = nil, to: String? = nil, countries: Set<String> = [], categories: Set<CECategory> = [],
                period: PeriodGranularity = .month, regionLevel: Int? = nil,
                linkKinds: Set<LinkKind> = Set(LinkKind.allCases)) throws {
        for (name, date) in [("from", from), ("to", to)] {
            if let date, TraceDay(date) == nil {
                throw FWXError(.usage, "\(name) date \(date.quotedForMessage) is not a date YYYY-MM-DD")
            }
        }
        if let from, let to, TraceDay(from)! > TraceDay(to)! {
            throw FWXError(.usage, "from date \(from) is after to date \(to)")
        }
        var normalised: Set<String> = []
        for country in countries {
            guard let code = CountryCode.normalize(country) else {
                throw FWXError(.usage, "country \(country.quotedForMessage) is not an ISO 3166-1 alpha-2 code")
            }
            normalised.insert(code)
        }
        if let regionLevel, !(1...3).contains(regionLevel) {
            throw FWXError(.usage, "region level \(regionLevel) is not 1, 2 or 3 (NUTS levels)")
        }
        self.from = from
        self.to = to
        self.countries = normalised
        self.categories = categories
        self.period = period
        self.regionLevel = regionLevel
        self.linkKinds = linkKinds
    }

    /// Every record, by month, linked by every kind of key.
    public static let all = try! TraceQuery()
}

/// A day as the number `yyyymmdd`, which orders like the date.
struct TraceDay: Comparable, Hashable {
    var value: Int32

    init(value: Int32) { self.value = value }

    /// Parses `YYYY-MM-DD` (anything after the tenth character is ignored); nil when the form or the month or
    /// day is wrong.
    init?(_ text: String) { self.init(utf8: text.utf8) }

    /// ``init(_:)`` from UTF-8 bytes.
    init?(utf8: some Sequence<UInt8>) {
        var fields = (0, 0, 0)
        var count = 0
        for (offset, byte) in utf8.enumerated() {
            if offset == 10 { break }
            count += 1
            if offset == 4 || offset == 7 {
                guard byte == UInt8(ascii: "-") else { return nil }
                continue
            }
            guard byte >= 48, byte <= 57 else { return nil }
            let digit = Int(byte - 48)
            switch offset {
            case 0..<4: fields.0 = fields.0 * 10 + digit
            case 5..<7: fields.1 = fields.1 * 10 + digit
            default: fields.2 = fields.2 * 10 + digit
            }
        }
        guard count == 10, (1...12).contains(fields.1), (1...31).contains(fields.2) else { return nil }
        value = Int32(fields.0 * 10000 + fields.1 * 100 + fields.2)
    }

    var year: Int { Int(value) / 10000 }
    var month: Int { Int(value) / 100 % 100 }
    var day: Int { Int(value) % 100 }

    var text: String {
        func pad(_ number: Int, _ width: Int) -> String {
            let digits = String(number)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }

    static func < (lhs: TraceDay, rhs: TraceDay) -> Bool { lhs.value < rhs.value }
}

extension PeriodGranularity {
    /// The period a day falls in, as a running number (months and quarters since year 0, or the year).
    func period(of day: TraceDay) -> Int32 {
        switch self {
        case .month: return Int32(day.year * 12 + day.month - 1)
        case .quarter: return Int32(day.year * 4 + (day.month - 1) / 3)
        case .year: return Int32(day.year)
        }
    }

    /// `2026-09`, `2026-Q3`, `2026`.
    func label(of period: Int32) -> String {
        let start = firstDay(of: period)
        switch self {
        case .month: return String(start.text.prefix(7))
        case .quarter: return "\(start.text.prefix(4))-Q\((start.month - 1) / 3 + 1)"
        case .year: return String(start.text.prefix(4))
        }
    }

    func firstDay(of period: Int32) -> TraceDay {
        let p = Int(period)
        let (year, month): (Int, Int) = switch self {
        case .month: (p / 12, p % 12 + 1)
        case .quarter: (p / 4, p % 4 * 3 + 1)
        case .year: (p, 1)
        }
        return TraceDay(value: Int32(year * 10000 + month * 100 + 1))
    }

    func lastDay(of period: Int32) -> TraceDay {
        let next = firstDay(of: period + 1)
        let days = ISOTime.daysSinceEpoch(year: next.year, month: next.month, day: 1) - 1
        let civil = ISOTime.civilDate(daysSinceEpoch: days)
        return TraceDay(value: Int32(civil.year * 10000 + civil.month * 100 + civil.day))
    }
}
