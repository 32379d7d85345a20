public import FWXModel
import Foundation
import Yams

/// A mapping profile: how one national CSV export becomes FWX records. One YAML file per export format, so a
/// new country's export needs a new profile, not new code. Every key is documented in docs/csv-profiles.md.
///
/// Decoding is strict: an unknown key, an unknown field name or a value of the wrong kind is an error that
/// names the key (`key 'columns.Datum': unknown field 'seizureDat'; did you mean 'seizureDate'?`). Use
/// ``load(path:)`` or ``parse(yaml:name:)``, which also run the checks across keys (``validate()``) and turn
/// problems into ``FWXError``s with code ``FWXError/Code/profile`` whose location is `profile FILE:LINE`.
public struct CSVMappingProfile: Sendable, Decodable {
    /// How the file is written.
    public struct CSVSettings: Sendable, Hashable {
        /// Field separator: one character; `tab` (or "\t"), `semicolon`, `comma` and `pipe` are accepted as words.
        public var delimiter: UInt8 = UInt8(ascii: ",")
        public var quote: UInt8 = UInt8(ascii: "\"")
        public var encoding: CSVEncoding = .utf8
        /// Records before the header row (report titles, export dates), skipped.
        public var skipLines: Int = 0

        public var dialect: CSVDialect { CSVDialect(delimiter: delimiter, quote: quote, encoding: encoding) }
    }

    /// How numbers are written.
    public struct NumberSettings: Sendable, Hashable {
        public var decimalSeparator: Character = "."
        /// Separator of thousands (`.` in `1.234,5`), or nil when numbers have none.
        public var thousandsSeparator: Character?
    }

    /// How dates and times are written, and in which zone local times are.
    public struct DateSettings: Sendable, Hashable {
        public var dateFormat: String = "yyyy-MM-dd"
        public var timeFormat: String = "HH:mm"
        /// Format of a combined date-time column; `dateFormat timeFormat` when not given.
        public var dateTimeFormat: String?
        /// IANA time zone name, `UTC` or a fixed offset such as `+01:00`.
        public var timeZone: String = "UTC"
        /// Time of day used when a seizure has a date but no time (`HH:mm`).
        public var defaultTime: String = "00:00"
    }

    /// The batch header: who sends it, to whom, with what default handling code.
    public struct BatchSettings: Sendable, Hashable {
        /// Sender country; `fwx convert --sender` overrides it.
        public var sender: String?
        /// Sender agency id; `fwx convert --agency` overrides it.
        public var agencyId: String?
        public var recipients: Recipients = .allPartners
        public var defaultHandlingCode: HandlingCode?
    }

    /// How long records may be kept, when no column gives `retentionUntil`: the event's date plus this.
    public struct RetentionSettings: Sendable, Hashable {
        public var years: Int = 0
        public var days: Int = 0
    }

    /// What one column fills.
    public struct ColumnMapping: Sendable, Hashable {
        /// The field (see ``CSVField/all``).
        public var field: String
        /// Name of a value map in ``CSVMappingProfile/maps`` that translates the column's values.
        public var map: String?
        /// Text put in front of the value (unless the value already starts with it), e.g. `NL-SZ-`.
        public var prefix: String?
        /// Date or time pattern for this column instead of the profile's `dates` one.
        public var format: String?
        /// Decimal separator for this column instead of the profile's `numbers.decimalSeparator`.
        public var decimalSeparator: Character?
        /// Whether the column may be missing from the file's header.
        public var optional: Bool = false

        public init(field: String, map: String? = nil, prefix: String? = nil, format: String? = nil,
                    decimalSeparator: Character? = nil, optional: Bool = false) {
            self.field = field
            self.map = map
            self.prefix = prefix
            self.format = format
            self.decimalSeparator = decimalSeparator
            self.optional = optional
        }
    }

    /// A column of the export and what it fills (one column may fill several fields).
    public struct Column: Sendable, Hashable {
        /// The column's name in the header row (matched ignoring case and surrounding white space).
        public var header: String
        public var mappings: [ColumnMapping]
    }

    /// Version of the profile format; 1.
    public var profile: Int = 1
    public var name: String = ""
    public var description: String?
    public var csv = CSVSettings()
    public var numbers = NumberSettings()
    public var dates = DateSettings()
    public var batch = BatchSettings()
    public var retention = RetentionSettings()
    /// Keyed pseudonymisation of persons (docs/pseudonymisation.md).
    public var pseudonymisation = PseudonymisationSettings()
    public var columns: [Column] = []
    /// Values of fields that no column gives, or that a column leaves empty (field name → value written as FWX
    /// writes it: codes, ISO dates, numbers with a point).
    public var constants: [String: String] = [:]
    /// Value maps: map name → (value in the export → value FWX uses).
    public var maps: [String: [String: String]] = [:]

    /// The profile's file name, for messages.
    public var sourceName: String = "profile"

    /// How persons become pseudonyms.
    public struct PseudonymisationSettings: Sendable, Hashable {
        /// The key file of keyed pseudonyms, as written in the profile (relative to the profile's folder).
        public var keyFile: String?
        /// The export's `person.pseudonym` values were made by the national system (keyed hashes, register
        /// numbers of a pseudonymisation service): they are taken as they are, even when they look like names.
        public var alreadyPseudonymised = false
        public init() {}
    }

    /// The key file named by the profile, resolved against the profile's folder.
    public var pseudonymKeyFile: String? {
        guard let keyFile = pseudonymisation.keyFile else { return nil }
        if keyFile.hasPrefix("/") { return keyFile }
        return URL(fileURLWithPath: sourceName).deletingLastPathComponent().appendingPathComponent(keyFile).path
    }

    // MARK: Loading

    /// Reads and checks the profile at `path`.
    public static func load(path: String) throws -> CSVMappingProfile {
        guard let data = FileManager.default.contents(atPath: path) else {
            var isFolder: ObjCBool = false
            let reason: String
            if !FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) {
                reason = "there is no such file; check the path (profiles are YAML files, e.g. fixtures/profiles/nl-politie.yaml)"
            } else if isFolder.boolValue {
                reason = "it is a folder; give the profile's YAML file"
            } else if !FileManager.default.isReadableFile(atPath: path) {
                reason = "permission denied; give this user read access to it"
            } else {
                reason = "it could not be read"
            }
            throw FWXError(.io, "cannot read profile \(path): \(reason)", location: path)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw FWXError(.profile, "the profile is not UTF-8 text", location: "profile \(path)")
        }
        return try parse(yaml: text, name: path)
    }

    /// Parses and checks a profile. `name` is used in messages.
    public static func parse(yaml: String, name: String = "profile") throws -> CSVMappingProfile {
        do {
            var profile = try YAMLDecoder().decode(CSVMappingProfile.self, from: yaml)
            profile.sourceName = name
            try profile.check()
            return profile
        } catch let issue as ProfileIssue {
            throw issue.error(file: name, yaml: yaml)
        } catch let error as DecodingError {
            // Yams wraps errors thrown while decoding, and YAML syntax errors, in dataCorrupted.
            if case .dataCorrupted(let context) = error, let underlying = context.underlyingError {
                if let issue = underlying as? ProfileIssue { throw issue.error(file: name, yaml: yaml) }
                if let yamlError = underlying as? YamlError {
                    throw FWXError(.profile, "the profile is not valid YAML: \(Self.describe(yamlError))", location: "profile \(name)")
                }
            }
            throw ProfileIssue(error).error(file: name, yaml: yaml)
        } catch let error as YamlError {
            throw FWXError(.profile, "the profile is not valid YAML: \(Self.describe(error))", location: "profile \(name)")
        } catch let error as FWXError {
            throw error
        } catch {
            throw FWXError(.profile, "the profile is not valid YAML: \(error)", location: "profile \(name)")
        }
    }

    /// A YAML syntax error on one line, without the echo of the input that Yams adds.
    private static func describe(_ error: YamlError) -> String {
        let text = "\(error)"
        return text.split(separator: "\n").first.map(String.init) ?? text
    }

    /// Checks the profile as a whole (fields mapped twice, maps that do not exist, required fields that no column
    /// or constant gives …). ``load(path:)`` and ``parse(yaml:name:)`` call it.
    public func validate() throws {
        do { try check() } catch let issue as ProfileIssue { throw issue.error(file: sourceName, yaml: nil) }
    }

    // MARK: Decoding

    private static let topKeys = ["profile", "name", "description", "csv", "numbers", "dates", "batch", "retention",
                                  "pseudonymisation", "columns", "constants", "maps"]

    public init(from decoder: any Decoder) throws {
        let container = try strictContainer(decoder, Self.topKeys)
        profile = try container.decodeIfPresent(Int.self, forKey: ProfileKey("profile")) ?? 1
        guard profile == 1 else {
            throw ProfileIssue(decoder.codingPath + [ProfileKey("profile")],
                               "profile format \(profile) is not known; this FWX reads profile format 1")
        }
        name = try container.decodeIfPresent(String.self, forKey: ProfileKey("name")) ?? ""
        description = try container.decodeIfPresent(String.self, forKey: ProfileKey("description"))
        if container.contains(ProfileKey("csv")) {
            let section = try strictContainer(try container.superDecoder(forKey: ProfileKey("csv")),
                                              ["delimiter", "quote", "encoding", "skipLines"])
            if let text = try section.decodeIfPresent(String.self, forKey: ProfileKey("delimiter")) {
                csv.delimiter = try Self.singleByte(text, words: ["tab": 9, "\\t": 9, "semicolon": 59, "comma": 44, "pipe": 124],
                                                    path: section.codingPath + [ProfileKey("delimiter")], what: "delimiter")
            }
            if let text = try section.decodeIfPresent(String.self, forKey: ProfileKey("quote")) {
                csv.quote = try Self.singleByte(text, words: [:], path: section.codingPath + [ProfileKey("quote")], what: "quote")
            }
            if let text = try section.decodeIfPresent(String.self, forKey: ProfileKey("encoding")) {
                guard let encoding = CSVEncoding(name: text) else {
                    throw ProfileIssue(section.codingPath + [ProfileKey("encoding")],
                                       "encoding '\(text)' is not supported; use utf-8, iso-8859-1 or windows-1252")
                }
                csv.encoding = encoding
            }
            csv.skipLines = try section.decodeIfPresent(Int.self, forKey: ProfileKey("skipLines")) ?? 0
            guard csv.skipLines >= 0 else {
                throw ProfileIssue(section.codingPath + [ProfileKey("skipLines")], "skipLines must be 0 or more")
            }
        }
        if container.contains(ProfileKey("numbers")) {
            let section = try strictContainer(try container.superDecoder(forKey: ProfileKey("numbers")),
                                              ["decimalSeparator", "thousandsSeparator"])
            if let text = try section.decodeIfPresent(String.self, forKey: ProfileKey("decimalSeparator")) {
                numbers.decimalSeparator = try Self.separator(text, path: section.codingPath + [ProfileKey("decimalSeparator")])
            }
            if let text = try section.decodeIfPresent(String.self, forKey: ProfileKey("thousandsSeparator")), !text.isEmpty {
                numbers.thousandsSeparator = try Self.character(text, path: section.codingPath + [ProfileKey("thousandsSeparator")])
            }
        }
        if container.contains(ProfileKey("dates")) {
            let section = try strictContainer(try container.superDecoder(forKey: ProfileKey("dates")),
                                              ["dateFormat", "timeFormat", "dateTimeFormat", "timeZone", "defaultTime"])
            dates.dateFormat = try section.decodeIfPresent(String.self, forKey: ProfileKey("dateFormat")) ?? dates.dateFormat
            dates.timeFormat = try section.decodeIfPresent(String.self, forKey: ProfileKey("timeFormat")) ?? dates.timeFormat
            dates.dateTimeFormat = try section.decodeIfPresent(String.self, forKey: ProfileKey("dateTimeFormat"))
            dates.timeZone = try section.decodeIfPresent(String.self, forKey: ProfileKey("timeZone")) ?? dates.timeZone
            dates.defaultTime = try section.decodeIfPresent(String.self, forKey: ProfileKey("defaultTime")) ?? dates.defaultTime
        }
        if container.contains(ProfileKey("batch")) {
            let section = try strictContainer(try container.superDecoder(forKey: ProfileKey("batch")),
                                              ["sender", "agencyId", "recipients", "defaultHandlingCode"])
            batch.sender = try section.decodeIfPresent(String.self, forKey: ProfileKey("sender"))
            batch.agencyId = try section.decodeIfPresent(String.self, forKey: ProfileKey("agencyId"))
            let recipientsKey = ProfileKey("recipients")
            if section.contains(recipientsKey) {
                if let list = try? section.decode([String].self, forKey: recipientsKey) {
                    var countries: [String] = []
                    for (index, code) in list.enumerated() {
                        guard let country = CountryCode.normalize(code) else {
                            throw ProfileIssue(section.codingPath + [recipientsKey, ProfileKey(index: index)],
                                               "'\(code)' is not an ISO 3166-1 alpha-2 country code")
                        }
                        countries.append(country)
                    }
                    guard !countries.isEmpty else {
                        throw ProfileIssue(section.codingPath + [recipientsKey], "recipients: give 'all' or a list of countries")
                    }
                    batch.recipients = .countries(countries)
                } else {
                    let text = try section.decode(String.self, forKey: recipientsKey)
                    guard text.lowercased() == "all" || text.lowercased() == "allpartners" else {
                        throw ProfileIssue(section.codingPath + [recipientsKey],
                                           "recipients: give 'all' or a list of countries such as [DE, BE]")
                    }
                    batch.recipients = .allPartners
                }
            }
            if let code = try section.decodeIfPresent(String.self, forKey: ProfileKey("defaultHandlingCode")) {
                guard let handling = HandlingCode(rawValue: code.uppercased()) else {
                    throw ProfileIssue(section.codingPath + [ProfileKey("defaultHandlingCode")],
                                       "'\(code)' is not a handling code (H0, H1, H2, H3)")
                }
                batch.defaultHandlingCode = handling
            }
        }
        if container.contains(ProfileKey("retention")) {
            let section = try strictContainer(try container.superDecoder(forKey: ProfileKey("retention")), ["years", "days"])
            retention.years = try section.decodeIfPresent(Int.self, forKey: ProfileKey("years")) ?? 0
            retention.days = try section.decodeIfPresent(Int.self, forKey: ProfileKey("days")) ?? 0
            guard retention.years >= 0, retention.days >= 0, retention.years + retention.days > 0 else {
                throw ProfileIssue(section.codingPath, "give retention years or days, more than zero")
            }
        }
        if container.contains(ProfileKey("pseudonymisation")) {
            let section = try strictContainer(try container.superDecoder(forKey: ProfileKey("pseudonymisation")),
                                              ["keyFile", "alreadyPseudonymised"])
            pseudonymisation.keyFile = try section.decodeIfPresent(String.self, forKey: ProfileKey("keyFile"))
            pseudonymisation.alreadyPseudonymised =
                try section.decodeIfPresent(Bool.self, forKey: ProfileKey("alreadyPseudonymised")) ?? false
        }
        if container.contains(ProfileKey("columns")) {
            let section = try container.nestedContainer(keyedBy: ProfileKey.self, forKey: ProfileKey("columns"))
            for key in section.allKeys {
                let entryDecoder = try section.superDecoder(forKey: key)
                columns.append(Column(header: key.stringValue, mappings: try Self.decodeMappings(entryDecoder)))
            }
        }
        constants = try container.decodeIfPresent([String: String].self, forKey: ProfileKey("constants")) ?? [:]
        maps = try container.decodeIfPresent([String: [String: String]].self, forKey: ProfileKey("maps")) ?? [:]
    }

    private static let mappingKeys = ["field", "map", "prefix", "format", "decimalSeparator", "optional"]

    /// A column entry: a field name, a mapping with options, or a list of those.
    private static func decodeMappings(_ decoder: any Decoder) throws -> [ColumnMapping] {
        if var list = try? decoder.unkeyedContainer() {
            var mappings: [ColumnMapping] = []
            while !list.isAtEnd {
                mappings.append(try decodeMapping(try list.superDecoder()))
            }
            guard !mappings.isEmpty else { throw ProfileIssue(decoder.codingPath, "the list of fields is empty") }
            return mappings
        }
        return [try decodeMapping(decoder)]
    }

    private static func decodeMapping(_ decoder: any Decoder) throws -> ColumnMapping {
        if let single = try? decoder.singleValueContainer(), let field = try? single.decode(String.self) {
            try checkFieldName(field, path: decoder.codingPath)
            return ColumnMapping(field: field)
        }
        let container = try strictContainer(decoder, mappingKeys)
        guard let field = try container.decodeIfPresent(String.self, forKey: ProfileKey("field")) else {
            throw ProfileIssue(decoder.codingPath, "a column entry needs a 'field'")
        }
        try checkFieldName(field, path: decoder.codingPath + [ProfileKey("field")])
        var mapping = ColumnMapping(field: field)
        mapping.map = try container.decodeIfPresent(String.self, forKey: ProfileKey("map"))
        mapping.prefix = try container.decodeIfPresent(String.self, forKey: ProfileKey("prefix"))
        mapping.format = try container.decodeIfPresent(String.self, forKey: ProfileKey("format"))
        if let separator = try container.decodeIfPresent(String.self, forKey: ProfileKey("decimalSeparator")) {
            mapping.decimalSeparator = try Self.separator(separator, path: decoder.codingPath + [ProfileKey("decimalSeparator")])
        }
        mapping.optional = try container.decodeIfPresent(Bool.self, forKey: ProfileKey("optional")) ?? false
        return mapping
    }

    private static func checkFieldName(_ field: String, path: [any CodingKey]) throws {
        guard CSVField.named(field) == nil else { return }
        var message = "unknown field '\(field)'"
        if let suggestion = closest(field, among: CSVField.all.map(\.name)) { message += "; did you mean '\(suggestion)'?" }
        else { message += "; the fields are listed in docs/csv-profiles.md" }
        throw ProfileIssue(path, message)
    }

    private static func singleByte(_ text: String, words: [String: UInt8], path: [any CodingKey], what: String) throws -> UInt8 {
        if let byte = words[text.lowercased()] { return byte }
        guard text.utf8.count == 1, let byte = text.utf8.first, byte != 0x0A, byte != 0x0D else {
            throw ProfileIssue(path, "the \(what) must be one ASCII character (or tab, semicolon, comma, pipe)")
        }
        return byte
    }

    private static func character(_ text: String, path: [any CodingKey]) throws -> Character {
        guard text.count == 1, let character = text.first else {
            throw ProfileIssue(path, "give one character")
        }
        return character
    }

    private static func separator(_ text: String, path: [any CodingKey]) throws -> Character {
        guard text == "," || text == "." else { throw ProfileIssue(path, "the decimal separator is ',' or '.'") }
        return Character(text)
    }

    // MARK: Checks across keys

    /// Fields given by a column of the profile.
    var mappedFields: Set<String> { Set(columns.flatMap { $0.mappings.map(\.field) }) }

    private func check() throws {
        // Batch
        if let sender = batch.sender, CountryCode.normalize(sender) == nil {
            throw ProfileIssue(["batch", "sender"], "'\(sender)' is not an ISO 3166-1 alpha-2 country code")
        }
        if let agency = batch.agencyId, !Self.isAgencyId(agency) {
            throw ProfileIssue(["batch", "agencyId"], "an agency id is 2 to 64 letters, digits, '.', '_' or '-'")
        }
        if batch.defaultHandlingCode == nil {
            throw ProfileIssue(["batch", "defaultHandlingCode"] , "give the batch's defaultHandlingCode (H0 … H3)")
        }
        // Formats
        for (key, pattern, needsDate, needsTime) in [("dateFormat", dates.dateFormat, true, false),
                                                     ("timeFormat", dates.timeFormat, false, true),
                                                     ("dateTimeFormat", dates.dateTimeFormat, true, true)] {
            guard let pattern else { continue }
            try Self.checkPattern(pattern, needsDate: needsDate, needsTime: needsTime, path: ["dates", key])
        }
        guard ProfileTimeZone(dates.timeZone) != nil else {
            throw ProfileIssue(["dates", "timeZone"],
                               "'\(dates.timeZone)' is not a time zone; use an IANA name such as Europe/Berlin, UTC or an offset such as +01:00")
        }
        guard let time = DatePattern("HH:mm")?.parse(dates.defaultTime), time.seconds != nil else {
            throw ProfileIssue(["dates", "defaultTime"], "the default time is written HH:mm, for example 00:00")
        }
        if numbers.thousandsSeparator == numbers.decimalSeparator {
            throw ProfileIssue(["numbers", "thousandsSeparator"], "the thousands separator must differ from the decimal separator")
        }
        if csv.delimiter == csv.quote {
            throw ProfileIssue(["csv", "quote"], "the quote character must differ from the delimiter")
        }
        // Maps
        for (mapName, entries) in maps {
            var seen: [String: String] = [:]
            for key in entries.keys {
                let lookup = key.csvLookupKey
                if let other = seen[lookup] {
                    throw ProfileIssue(["maps", mapName, key],
                                       "'\(key)' and '\(other)' are the same value once case and spaces are ignored")
                }
                seen[lookup] = key
            }
        }
        // Columns
        guard !columns.isEmpty else { throw ProfileIssue(["columns"], "map at least one column") }
        var fieldColumn: [String: String] = [:]
        var headers: [String: String] = [:]
        for column in columns {
            if let other = headers[column.header.csvLookupKey] {
                throw ProfileIssue(["columns", column.header], "column '\(column.header)' is listed twice (also as '\(other)')")
            }
            headers[column.header.csvLookupKey] = column.header
            for (index, mapping) in column.mappings.enumerated() {
                let path: [String] = column.mappings.count > 1 ? ["columns", column.header, "[\(index)]"] : ["columns", column.header]
                guard let field = CSVField.named(mapping.field) else {
                    throw ProfileIssue(path, "unknown field '\(mapping.field)'")
                }
                if let other = fieldColumn[mapping.field] {
                    throw ProfileIssue(path, "field '\(mapping.field)' is already filled by column '\(other)'; a field comes from one column")
                }
                fieldColumn[mapping.field] = column.header
                if let map = mapping.map {
                    guard maps[map] != nil else {
                        throw ProfileIssue(path + ["map"], "there is no map '\(map)' under 'maps'")
                    }
                    if case .date = field.kind { throw ProfileIssue(path + ["map"], "dates cannot go through a value map") }
                }
                if mapping.prefix != nil && !field.acceptsPrefix {
                    throw ProfileIssue(path + ["prefix"], "field '\(field.name)' takes no prefix")
                }
                if let format = mapping.format {
                    guard field.acceptsFormat else { throw ProfileIssue(path + ["format"], "field '\(field.name)' takes no format") }
                    try Self.checkPattern(format, needsDate: field.kind != .time, needsTime: field.kind != .date,
                                          path: path + ["format"])
                }
                if mapping.decimalSeparator != nil && !field.isDecimal {
                    throw ProfileIssue(path + ["decimalSeparator"], "field '\(field.name)' is not a decimal number")
                }
            }
        }
        // Constants
        let reader = try ProfileReader(profile: self)
        for (fieldName, value) in constants {
            guard let field = CSVField.named(fieldName) else {
                var message = "unknown field '\(fieldName)'"
                if let suggestion = Self.closest(fieldName, among: CSVField.all.map(\.name)) { message += "; did you mean '\(suggestion)'?" }
                throw ProfileIssue(["constants", fieldName], message)
            }
            if field.kind == .recordId && (fieldName == "recordId" || fieldName == "shipment.recordId") {
                throw ProfileIssue(["constants", fieldName], "record ids come from a column, not from a constant")
            }
            if case .failure(let reason) = reader.readConstant(value, field: field) {
                throw ProfileIssue(["constants", fieldName], reason.hasPrefix("value") ? reason : "value \(reason)")
            }
        }
        // Required fields
        let given = mappedFields.union(constants.keys)
        func require(_ field: String, _ why: String) throws {
            guard given.contains(field) else {
                throw ProfileIssue(["columns"], "no column maps '\(field)' and 'constants' has no value for it; \(why)")
            }
        }
        guard mappedFields.contains("recordId") else {
            throw ProfileIssue(["columns"], "no column maps 'recordId'; every seizure needs its id from a column")
        }
        try require("incidentType", "a seizure needs an incident type")
        if !given.contains("seizureDateTime") && !given.contains("seizureDate") {
            throw ProfileIssue(["columns"], "no column maps 'seizureDateTime' or 'seizureDate'; a seizure needs its date")
        }
        if given.contains("seizureDateTime") && (given.contains("seizureDate") || given.contains("seizureTime")) {
            throw ProfileIssue(["columns"], "map either 'seizureDateTime' or 'seizureDate' (with 'seizureTime'), not both")
        }
        if given.contains("seizureTime") && !given.contains("seizureDate") {
            throw ProfileIssue(["columns"], "'seizureTime' needs 'seizureDate'")
        }
        try require("authorityType", "a seizure needs the kind of authority (police, customs, other)")
        try require("caseReference", "a seizure needs a case reference")
        try require("location.country", "a seizure needs the country where it happened")
        try require("evaluation.source", "a seizure needs a source reliability (A, B, C, X)")
        try require("evaluation.information", "a seizure needs an information assessment (1 … 4)")
        try require("item.category", "an item needs a CE category")
        try require("item.quantity", "an item needs a quantity")
        try require("item.quantityUnit", "an item needs a quantity unit (pieces, boxes, kg)")
        if given.contains("item.netExplosiveQuantityKg") {
            try require("item.neqBasis", "a net explosive quantity needs its basis (label, measured, estimated)")
        }
        if !given.contains("retentionUntil") && retention.years + retention.days == 0 {
            throw ProfileIssue(["retention"], "give 'retention' (years or days after the event) or map 'retentionUntil'")
        }
        let keyed = CSVField.keyedPersonFields.filter { given.contains($0) }
        if !keyed.isEmpty && given.contains("person.pseudonym") {
            throw ProfileIssue(["columns"], "map persons either to person.pseudonym (made by the national system) or to "
                + "\(keyed.joined(separator: ", ")) (made into a keyed pseudonym here), not both")
        }
        if mappedFields.contains(where: { $0.hasPrefix("person.") }) && keyed.isEmpty {
            try require("person.pseudonym", "fields of 'person' are mapped, and it needs 'person.pseudonym', or "
                + "'person.name' (and 'person.birthDate') to make a keyed pseudonym")
        }
        for part in CSVField.parts where mappedFields.contains(where: { $0.hasPrefix(part.prefix) }) {
            for field in part.required {
                try require(field, "fields of '\(part.prefix.dropLast())' are mapped, and it needs '\(field)'")
            }
        }
        let shipmentFields = mappedFields.filter { $0.hasPrefix("shipment.") && $0 != "shipment.recordId" }
        if !shipmentFields.isEmpty || mappedFields.contains("shipment.recordId") {
            guard mappedFields.contains("shipment.recordId") else {
                throw ProfileIssue(["columns"],
                    "shipment fields are mapped, but no column maps 'shipment.recordId'; map the seizure id column to it too, with another prefix")
            }
            try require("shipment.transportMode", "a shipment needs its transport mode")
            try require("shipment.origin.country", "a shipment needs its country of origin")
            try require("shipment.destination.country", "a shipment needs its country of destination")
        }
    }

    private static func checkPattern(_ pattern: String, needsDate: Bool, needsTime: Bool, path: [String]) throws {
        guard let compiled = DatePattern(pattern) else {
            throw ProfileIssue(path, "'\(pattern)' uses a letter FWX does not know; use yyyy, yy, MM, M, dd, d, HH, H, mm, ss")
        }
        if needsDate && !compiled.hasDate {
            throw ProfileIssue(path, "'\(pattern)' needs a year, a month and a day (yyyy, MM, dd)")
        }
        if needsTime && !compiled.hasTime {
            throw ProfileIssue(path, "'\(pattern)' needs hours and minutes (HH, mm)")
        }
    }

    static func isAgencyId(_ text: String) -> Bool {
        (2...64).contains(text.utf8.count) && text.unicodeScalars.allSatisfy {
            ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || $0 == "." || $0 == "_" || $0 == "-"
        }
    }

    /// The candidate closest to `word`, when it is close enough to be a typo.
    static func closest(_ word: String, among candidates: [String]) -> String? {
        Spelling.closest(word, among: candidates)
    }
}

// MARK: - Problems while decoding

/// A string coding key for strict decoding.
struct ProfileKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(_ string: String) { stringValue = string }
    init(index: Int) {
        stringValue = "[\(index)]"
        intValue = index
    }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) {
        self.stringValue = "[\(intValue)]"
        self.intValue = intValue
    }
}

/// A problem in a profile, with the path of the key it is about.
struct ProfileIssue: Error {
    /// Keys from the top; indexes are written `[n]`.
    var path: [String]
    var message: String

    init(_ path: [String], _ message: String) {
        self.path = path
        self.message = message
    }

    init(_ codingPath: [any CodingKey], _ message: String) {
        self.path = codingPath.map { key in key.intValue.map { "[\($0)]" } ?? key.stringValue }
        self.message = message
    }

    init(_ error: DecodingError) {
        switch error {
        case .typeMismatch(let type, let context):
            self.init(context.codingPath, "expected \(Self.describe(type))")
        case .valueNotFound(let type, let context):
            self.init(context.codingPath, "expected \(Self.describe(type)), found nothing")
        case .keyNotFound(let key, let context):
            self.init(context.codingPath, "missing key '\(key.stringValue)'")
        case .dataCorrupted(let context):
            self.init(context.codingPath, context.debugDescription)
        @unknown default:
            self.init([String](), "\(error)")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a text value"
        case is Int.Type: return "a whole number"
        case is Bool.Type: return "true or false"
        case is [String: String].Type: return "a mapping of values"
        case is [String: [String: String]].Type: return "a mapping of maps"
        default: return "a \(type)"
        }
    }

    var keyPath: String {
        var text = ""
        for component in path {
            if component.hasPrefix("[") { text += component } else { text += text.isEmpty ? component : "." + component }
        }
        return text
    }

    /// The error to show: `profile FILE:LINE: key 'a.b': message`.
    func error(file: String, yaml: String?) -> FWXError {
        var location = "profile \(file)"
        if let yaml, let line = Self.line(of: path, in: yaml) { location += ":\(line)" }
        let message = path.isEmpty ? message : "key '\(keyPath)': \(message)"
        return FWXError(.profile, message, location: location)
    }

    /// Line of the node at `path` in `yaml`, found by walking the composed YAML tree.
    static func line(of path: [String], in yaml: String) -> Int? {
        guard var node = try? Yams.compose(yaml: yaml) else { return nil }
        var line = node.mark?.line
        for component in path {
            if component.hasPrefix("["), let index = Int(component.dropFirst().dropLast()), let sequence = node.sequence,
               index < sequence.count {
                node = sequence[index]
            } else if let mapping = node.mapping, let pair = mapping.first(where: { $0.key.string == component }) {
                // The key's line is where a person looks.
                line = pair.key.mark?.line ?? line
                node = pair.value
                continue
            } else {
                break
            }
            line = node.mark?.line ?? line
        }
        return line
    }
}

/// A keyed container that refuses keys not in `allowed`.
func strictContainer(_ decoder: any Decoder, _ allowed: [String]) throws -> KeyedDecodingContainer<ProfileKey> {
    let container = try decoder.container(keyedBy: ProfileKey.self)
    for key in container.allKeys where !allowed.contains(key.stringValue) {
        var message = "unknown key '\(key.stringValue)'"
        if let suggestion = CSVMappingProfile.closest(key.stringValue, among: allowed) {
            message += "; did you mean '\(suggestion)'?"
        } else {
            message += "; the keys here are \(allowed.joined(separator: ", "))"
        }
        throw ProfileIssue(decoder.codingPath + [key], message)
    }
    return container
}
