public import FWXXML
import FWXModel
import Foundation

/// A first mapping profile for a national export FWX has not seen (issue 17, item 2): the file's encoding,
/// delimiter and title lines, the FWX field each header names (by the words police, customs and Excel exports use
/// in Dutch, German, French and English), the date and number formats of the sample rows, and the code maps to
/// fill in. It never invents what the export does not say: what only the liaison can decide (the default
/// handling code, the retention, codes for the export's own words) is left empty and marked, so that the profile
/// does not load until it is decided. Personal values are never copied into the draft.
public struct ProfileDraft: Sendable {
    /// One column of the export's header.
    public struct Column: Sendable {
        public var header: String
        /// The FWX field the header names, or nil when it is not recognised.
        public var field: String?
        /// Distinct values of the sample rows, for a field with codes (at most ``maxDistinctValues``); empty for
        /// personal and free-text fields.
        public var values: [String] = []
        /// The first three characters of a record id column's values (to see whether they start with `CC-`).
        public var idPrefixes: Set<String> = []
    }

    public var dialect: CSVDialect
    public var skipLines: Int
    public var columns: [Column]
    /// `dd-MM-yyyy` and the like, when every sample date has the same form; nil when there are no dates.
    public var dateFormat: String?
    /// Set when the sample dates read either way (day and month both at most 12).
    public var dateFormatAmbiguous = false
    public var timeFormat: String?
    /// `,` or `.`, when the sample decimals show it.
    public var decimalSeparator: String?
    public var rowsSampled: Int

    public static let maxDistinctValues = 40

    /// The fields a profile must fill, from a column or a constant, for a seizure to be written.
    public static let requiredFields: [(field: String, alternatives: [String])] = [
        ("recordId", []), ("seizureDate", ["seizureDateTime"]), ("incidentType", []), ("caseReference", []),
        ("authorityType", []), ("location.country", []), ("evaluation.source", []), ("evaluation.information", []),
        ("item.category", []), ("item.quantity", []), ("item.quantityUnit", []),
    ]

    /// Drafts from the export at `path`, reading its first `sampleRows` rows.
    public static func draft(path: String, sampleRows: Int = 500) throws -> ProfileDraft {
        let head = try readHead(path, bytes: 256 << 10)
        let encoding = detectEncoding(head)
        guard !head.isEmpty else {
            throw FWXError(.conversion, "\(path) is empty: an export needs a header row and data rows", location: path)
        }
        let (delimiter, skip) = detectDelimiter(head, encoding: encoding)
        let dialect = CSVDialect(delimiter: delimiter, encoding: encoding)
        let reader = CSVReader(source: try ByteSource(path: path), dialect: dialect)
        var header: [String] = []
        var rows: [[String]] = []
        var index = 0
        while let row = try reader.next() {
            defer { index += 1 }
            if index < skip { continue }
            if index == skip {
                header = row.fields
                continue
            }
            if row.fields.allSatisfy({ $0.isEmpty }) { continue }
            rows.append(row.fields)
            if rows.count >= sampleRows { break }
        }
        var draft = ProfileDraft(dialect: dialect, skipLines: skip, columns: [], rowsSampled: rows.count)
        var taken: Set<String> = []
        var separatorVotes: [Character: Int] = [:]
        for (position, name) in header.enumerated() {
            let trimmed = name.trimmingCharacters(in: .whitespaces)
            var column = Column(header: trimmed)
            if let field = HeaderWords.field(for: trimmed), !taken.contains(field) {
                taken.insert(field)
                column.field = field
            }
            let values = rows.compactMap { position < $0.count ? $0[position].trimmingCharacters(in: .whitespaces) : nil }
                .filter { !$0.isEmpty }
            if let field = column.field, let kind = CSVField.named(field)?.kind {
                switch kind {
                case .date: draft.noteDates(values)
                case .time: draft.timeFormat = draft.timeFormat ?? Self.timeFormat(values)
                case .decimal: Self.countDecimalSeparators(values, into: &separatorVotes)
                case .recordId: column.idPrefixes = Set(values.map { String($0.prefix(3)) })
                default: break
                }
                if Self.needsMap(field: field, kind: kind) {
                    var seen: [String] = []
                    for value in values where !seen.contains(value) {
                        seen.append(value)
                        if seen.count >= maxDistinctValues { break }
                    }
                    column.values = seen
                }
            }
            draft.columns.append(column)
        }
        draft.decimalSeparator = separatorVotes.max { $0.value < $1.value }.map { String($0.key) }
        return draft
    }

    /// Fields whose export words need a map to FWX's codes; personal fields never get their values copied.
    static func needsMap(field: String, kind: CSVField.Kind) -> Bool {
        if field.hasPrefix("person.") && field != "person.nationality" { return false }
        switch kind {
        case .code, .country, .hazardDivision: return true
        default: return false
        }
    }

    static func readHead(_ path: String, bytes: Int) throws -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw FWXError(.io, "cannot read \(path): \(FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file")",
                           location: path)
        }
        defer { try? handle.close() }
        return Array((try handle.read(upToCount: bytes)) ?? Data())
    }

    /// UTF-8 (with or without a byte order mark) when the bytes are valid UTF-8, else Windows-1252 when they are
    /// valid in it (Excel's "ANSI" in western Europe), else ISO-8859-1.
    static func detectEncoding(_ head: [UInt8]) -> CSVEncoding {
        // A cut in the middle of a character at the end of the sample does not count.
        var sample = head[...]
        while let last = sample.last, last & 0xC0 == 0x80 || last >= 0xC0 { sample = sample.dropLast() }
        if CSVEncoding.utf8.decode(Array(sample)) != nil { return .utf8 }
        if CSVEncoding.windows1252.decode(Array(head)) != nil { return .windows1252 }
        return .isoLatin1
    }

    /// The delimiter that splits most of the first records into the same number of fields (above one), and how
    /// many records come before the first of them (report titles). Records are read as the conversion reads them,
    /// so a quoted field may hold the delimiter or a line break.
    static func detectDelimiter(_ head: [UInt8], encoding: CSVEncoding) -> (UInt8, Int) {
        var best: (delimiter: UInt8, agreeing: Int, fields: Int, first: Int) = (UInt8(ascii: ","), 0, 0, 0)
        for candidate in [";", "\t", ",", "|"] {
            let delimiter = candidate.utf8.first!
            let reader = CSVReader(source: ByteSource(bytes: head, name: "sample"),
                                   dialect: CSVDialect(delimiter: delimiter, encoding: encoding))
            var counts: [Int] = []
            while counts.count < 40, let row = try? reader.next() { counts.append(row.fields.count) }
            // The sample may end inside a record.
            if counts.count > 1 { counts.removeLast() }
            var frequency: [Int: Int] = [:]
            for count in counts where count > 1 { frequency[count, default: 0] += 1 }
            guard let (fields, agreeing) = frequency.max(by: { ($0.value, $0.key) < ($1.value, $1.key) }) else { continue }
            if (agreeing, fields) > (best.agreeing, best.fields) {
                best = (delimiter, agreeing, fields, counts.firstIndex(of: fields) ?? 0)
            }
        }
        return (best.delimiter, best.first)
    }

    mutating func noteDates(_ values: [String]) {
        guard dateFormat == nil, let first = values.first else { return }
        let separator = first.first { !$0.isNumber }
        guard let separator else { return }
        let parts = values.map { $0.split(separator: separator, omittingEmptySubsequences: false) }
        guard parts.allSatisfy({ $0.count == 3 && $0.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) } }) else { return }
        let s = String(separator)
        if parts.allSatisfy({ $0[0].count == 4 }) {
            dateFormat = "yyyy\(s)MM\(s)dd"
            return
        }
        guard parts.allSatisfy({ $0[2].count == 4 }) else { return }
        let firstAbove12 = parts.contains { Int($0[0]) ?? 0 > 12 }
        let secondAbove12 = parts.contains { Int($0[1]) ?? 0 > 12 }
        let padded = parts.allSatisfy { $0[0].count == 2 && $0[1].count == 2 }
        let (day, month) = padded ? ("dd", "MM") : ("d", "M")
        if secondAbove12 && !firstAbove12 {
            dateFormat = "\(month)\(s)\(day)\(s)yyyy"
        } else {
            dateFormat = "\(day)\(s)\(month)\(s)yyyy"
            dateFormatAmbiguous = !firstAbove12
        }
    }

    static func timeFormat(_ values: [String]) -> String? {
        guard !values.isEmpty else { return nil }
        let parts = values.map { $0.split(separator: ":").count }
        if parts.allSatisfy({ $0 == 2 }) { return "HH:mm" }
        if parts.allSatisfy({ $0 == 3 }) { return "HH:mm:ss" }
        return nil
    }

    /// Votes for the decimal separator: the last ',' or '.' of a number is one, unless exactly three digits follow
    /// it (1.200 is a thousand and two hundred with a '.' for thousands, or 1.2 with a '.' for decimals).
    static func countDecimalSeparators(_ values: [String], into votes: inout [Character: Int]) {
        for value in values {
            guard let index = value.lastIndex(where: { $0 == "," || $0 == "." }) else { continue }
            let after = value[value.index(after: index)...]
            guard after.allSatisfy(\.isNumber), !after.isEmpty else { continue }
            let separator = value[index]
            if after.count != 3 {
                votes[separator, default: 0] += 1
            } else if value[..<index].contains(separator == "," ? "." : ",") {
                // 1.234,567: the other one is for thousands, so this one is the decimal separator.
                votes[separator, default: 0] += 1
            }
        }
    }

    /// The fields still needed for a seizure that no column gives: each becomes a constant to decide or a column
    /// to map.
    public var missingRequired: [String] {
        let mapped = Set(columns.compactMap(\.field))
        return Self.requiredFields.filter { required in
            !mapped.contains(required.field) && !required.alternatives.contains(where: mapped.contains)
        }.map(\.field)
    }
}
