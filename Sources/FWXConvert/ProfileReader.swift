import FWXModel

/// Reads field values the way a profile says: value maps, prefixes, number and date formats, and the
/// normalisations FWX applies to codes (spaces out of UN/LOCODEs, `UN` off UN numbers …).
/// Reasons it returns start with the word after "column 'X': " (for example "value '…' is not a number").
struct ProfileReader {
    let profile: CSVMappingProfile
    private let maps: [String: [String: String]]
    private let numberFormat: NumberFormat
    private let patterns: [String: DatePattern]
    private let zone: ProfileTimeZone
    let defaultTimeSeconds: Int

    init(profile: CSVMappingProfile) throws {
        self.profile = profile
        var maps: [String: [String: String]] = [:]
        for (name, entries) in profile.maps {
            var lookup: [String: String] = [:]
            for (key, value) in entries { lookup[key.csvLookupKey] = value }
            maps[name] = lookup
        }
        self.maps = maps
        numberFormat = NumberFormat(decimalSeparator: profile.numbers.decimalSeparator,
                                    thousandsSeparator: profile.numbers.thousandsSeparator)
        var patterns: [String: DatePattern] = [:]
        var formats = [profile.dates.dateFormat, profile.dates.timeFormat, "yyyy-MM-dd", "HH:mm", "HH:mm:ss",
                       profile.dates.dateTimeFormat ?? "\(profile.dates.dateFormat) \(profile.dates.timeFormat)"]
        formats += profile.columns.flatMap { $0.mappings.compactMap(\.format) }
        for format in formats {
            guard let pattern = DatePattern(format) else {
                throw ProfileIssue(["dates"], "'\(format)' uses a letter FWX does not know; use yyyy, yy, MM, M, dd, d, HH, H, mm, ss")
            }
            patterns[format] = pattern
        }
        self.patterns = patterns
        guard let zone = ProfileTimeZone(profile.dates.timeZone) else {
            throw ProfileIssue(["dates", "timeZone"], "'\(profile.dates.timeZone)' is not a time zone")
        }
        self.zone = zone
        defaultTimeSeconds = DatePattern("HH:mm")?.parse(profile.dates.defaultTime)?.seconds ?? 0
    }

    var dateTimeFormat: String {
        profile.dates.dateTimeFormat ?? "\(profile.dates.dateFormat) \(profile.dates.timeFormat)"
    }

    /// The timestamp of a local date and time in the profile's zone.
    func timestamp(day: Int, seconds: Int) -> String { zone.timestamp(day: day, seconds: seconds) }

    /// Reads a non-empty, trimmed value of a column.
    func read(_ value: String, field: CSVField, mapping: CSVMappingProfile.ColumnMapping) -> Parsed<CSVValue> {
        var value = value
        if let mapName = mapping.map, let map = maps[mapName] {
            if let mapped = map[value.csvLookupKey] {
                value = mapped
            } else if !accepts(value, field) {
                return .failure("value \(field.isPersonal ? "(not shown: personal data)" : value.quotedForMessage) has no mapping to \(Self.noun(field)); add it to the profile's \(mapName) map")
            }
        }
        if let prefix = mapping.prefix, !value.hasPrefix(prefix) { value = prefix + value }
        var format: String
        switch field.kind {
        case .date: format = mapping.format ?? profile.dates.dateFormat
        case .time: format = mapping.format ?? profile.dates.timeFormat
        case .dateTime: format = mapping.format ?? dateTimeFormat
        default: format = ""
        }
        var numbers = numberFormat
        if let separator = mapping.decimalSeparator {
            numbers.decimalSeparator = separator
            if numbers.thousandsSeparator == separator { numbers.thousandsSeparator = nil }
        }
        return normalise(value, field: field, format: format, numbers: numbers, fromMap: mapping.map)
    }

    /// Reads a profile constant: codes, ISO dates (`yyyy-MM-dd`), times `HH:mm`, numbers with a point.
    func readConstant(_ value: String, field: CSVField) -> Parsed<CSVValue> {
        let trimmed = value.csvTrimmed
        guard !trimmed.isEmpty else { return .failure("is empty") }
        let format: String
        switch field.kind {
        case .date: format = "yyyy-MM-dd"
        case .time: format = "HH:mm"
        case .dateTime: format = "yyyy-MM-dd HH:mm"
        default: format = ""
        }
        return normalise(trimmed, field: field, format: format,
                         numbers: NumberFormat(decimalSeparator: ".", thousandsSeparator: nil), fromMap: nil)
    }

    /// Whether `value` is already acceptable for a code or country field (so a map need not list it).
    private func accepts(_ value: String, _ field: CSVField) -> Bool {
        switch field.kind {
        case .code(let codes): return codes.contains { $0.caseInsensitiveCompare(value) == .orderedSame }
        case .country: return CountryCode.normalize(value) != nil
        default: return false
        }
    }

    /// What a code field holds, for messages: "a CE category".
    static func noun(_ field: CSVField) -> String {
        switch field.name {
        case "item.category": return "a CE category"
        case "incidentType": return "an incident type"
        case "authorityType": return "an authority type"
        case "status": return "a record status"
        case "withdrawalReason": return "a withdrawal reason"
        case "handlingCode": return "a handling code"
        case "evaluation.source": return "a source reliability code"
        case "evaluation.information": return "an information assessment code"
        case "person.role", "organisation.role": return "a party role"
        case "item.quantityUnit": return "a quantity unit"
        case "item.neqBasis": return "an NEQ basis"
        case "shipment.transportMode": return "a transport mode"
        case "shipment.transportDocument.type": return "a transport document type"
        default:
            switch field.kind {
            case .country: return "a country code"
            case .countryList: return "country codes"
            default: return "an FWX value"
            }
        }
    }

    private func normalise(_ value: String, field: CSVField, format: String, numbers: NumberFormat,
                           fromMap: String?) -> Parsed<CSVValue> {
        // Personal data (names, birth dates, identity numbers) is never quoted in a message or the log.
        var quoted: String { field.isPersonal ? "(not shown: personal data)" : value.quotedForMessage }
        func matches(_ text: String, _ rule: (Unicode.Scalar, Int) -> Bool, count: ClosedRange<Int>) -> Bool {
            let scalars = Array(text.unicodeScalars)
            return count.contains(scalars.count) && scalars.enumerated().allSatisfy { rule($0.element, $0.offset) }
        }
        let upper: (Unicode.Scalar) -> Bool = { ("A"..."Z").contains($0) }
        let digit: (Unicode.Scalar) -> Bool = { ("0"..."9").contains($0) }
        let alnum: (Unicode.Scalar) -> Bool = { upper($0) || digit($0) || ("a"..."z").contains($0) }
        func stripped(_ text: String, _ removing: Set<Character>) -> String {
            String(text.filter { !removing.contains($0) && !$0.isWhitespace })
        }

        switch field.kind {
        case .text(let maxLength):
            let length = value.unicodeScalars.count
            guard length <= maxLength else {
                return .failure("value is \(length) characters long; FWX takes at most \(maxLength)")
            }
            return .success(.text(value))
        case .token(let maxLength):
            let token = value.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
            let length = token.unicodeScalars.count
            guard length <= maxLength else {
                return .failure("value is \(length) characters long; FWX takes at most \(maxLength)")
            }
            return .success(.text(token))
        case .recordId:
            let ok = matches(value, { scalar, offset in
                offset < 2 ? upper(scalar) : offset == 2 ? scalar == "-" : (alnum(scalar) || scalar == "." || scalar == "_" || scalar == "-")
            }, count: 4...65)
            guard ok else {
                return .failure("value \(quoted) is not a record id: a country code, '-' and 1 to 62 letters, digits, '.', '_' or '-' (check the column's prefix)")
            }
            return .success(.text(value))
        case .code(let codes):
            if let code = codes.first(where: { $0 == value }) ?? codes.first(where: { $0.caseInsensitiveCompare(value) == .orderedSame }) {
                return .success(.text(code))
            }
            if let fromMap {
                return .failure("value \(quoted) (from the profile's \(fromMap) map) is not \(Self.noun(field)) (\(codes.joined(separator: ", ")))")
            }
            return .failure("value \(quoted) is not \(Self.noun(field)) (\(codes.joined(separator: ", "))); translate the export's values with a map in the profile")
        case .country:
            guard let country = CountryCode.normalize(value) else {
                return .failure("value \(quoted) is not an ISO 3166-1 alpha-2 country code; translate country names with a map in the profile")
            }
            return .success(.text(country))
        case .countryList:
            var countries: [String] = []
            for part in value.split(whereSeparator: { ",;/|".contains($0) || $0.isWhitespace }) {
                guard let country = CountryCode.normalize(String(part)) else {
                    return .failure("\(String(part).quotedForMessage) is not an ISO 3166-1 alpha-2 country code")
                }
                countries.append(country)
            }
            return .success(.list(countries))
        case .containerList:
            var containers: [String] = []
            for part in value.split(whereSeparator: { ",;/|".contains($0) }) {
                let number = stripped(String(part), ["-"]).uppercased()
                guard matches(number, { scalar, offset in
                    offset < 3 ? upper(scalar) : offset == 3 ? "UJZR".unicodeScalars.contains(scalar) : digit(scalar)
                }, count: 11...11) else {
                    return .failure("\(String(part).quotedForMessage) is not an ISO 6346 container number (4 letters ending in U, J, Z or R, and 7 digits)")
                }
                if let expected = CheckCharacters.containerCheckDigit(number), number.last?.wholeNumberValue != expected {
                    return .failure("container number \(number.quotedForMessage) has check digit \(number.suffix(1)), ISO 6346 gives \(expected)")
                }
                containers.append(number)
            }
            guard !containers.isEmpty else { return .failure("value \(quoted) holds no container number") }
            return .success(.list(containers))
        case .decimal(let minimum, let exclusive, let maximum):
            switch numbers.parse(value) {
            case .failure(let reason): return .failure("value \(quoted) \(reason)")
            case .success(let number):
                if exclusive ? number <= minimum : number < minimum {
                    return .failure("value \(quoted) must be \(exclusive ? "above" : "at least") \(BatchXMLWriter.decimal(minimum))")
                }
                if let maximum, number > maximum {
                    return .failure("value \(quoted) must be at most \(BatchXMLWriter.decimal(maximum))")
                }
                return .success(.number(number))
            }
        case .integer(let range):
            guard let number = Int(value), range.contains(number) else {
                return .failure("value \(quoted) is not a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            return .success(.integer(number))
        case .date:
            if let parsed = patterns[format]?.parse(value) ?? DatePattern(format)?.parse(value), let day = parsed.day {
                return .success(.day(day))
            }
            if let parsed = patterns["yyyy-MM-dd"]?.parse(value), let day = parsed.day { return .success(.day(day)) }
            return .failure("value \(quoted) is not a date written \(format)")
        case .time:
            for candidate in [format, "HH:mm", "HH:mm:ss"] {
                if let parsed = patterns[candidate]?.parse(value) ?? DatePattern(candidate)?.parse(value),
                   let seconds = parsed.seconds {
                    return .success(.seconds(seconds))
                }
            }
            return .failure("value \(quoted) is not a time written \(format)")
        case .dateTime:
            if ISOTime.epochSeconds(of: value) != nil { return .success(.timestamp(value)) }
            if let parsed = patterns[format]?.parse(value) ?? DatePattern(format)?.parse(value), let day = parsed.day {
                return .success(.timestamp(timestamp(day: day, seconds: parsed.seconds ?? defaultTimeSeconds)))
            }
            return .failure("value \(quoted) is not a date and time written \(format)")
        case .unLocode:
            let code = stripped(value, []).uppercased()
            guard matches(code, { scalar, offset in offset < 2 ? upper(scalar) : (upper(scalar) || ("2"..."9").contains(scalar)) },
                          count: 5...5) else {
                return .failure("value \(quoted) is not a UN/LOCODE (country and three letters or digits 2-9, such as NLRTM)")
            }
            return .success(.text(code))
        case .nutsCode:
            let code = stripped(value, []).uppercased()
            guard matches(code, { scalar, offset in offset < 2 ? upper(scalar) : (upper(scalar) || digit(scalar)) }, count: 2...5) else {
                return .failure("value \(quoted) is not a NUTS code (such as NL33B)")
            }
            return .success(.text(code))
        case .hsCode:
            let code = stripped(value, ["."])
            guard matches(code, { scalar, _ in digit(scalar) }, count: 6...10), code.count % 2 == 0 else {
                return .failure("value \(quoted) is not an HS code of 6, 8 or 10 digits")
            }
            return .success(.text(code))
        case .unNumber:
            var code = stripped(value, []).uppercased()
            if code.hasPrefix("UN") { code = String(code.dropFirst(2)) }
            guard matches(code, { scalar, _ in digit(scalar) }, count: 4...4) else {
                return .failure("value \(quoted) is not a four-digit UN number")
            }
            return .success(.text(code))
        case .ceRegistration:
            let parts = stripped(value, []).split(separator: "-", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3 else {
                return .failure("value \(quoted) is not a CE registration number NNNN-CAT-XXXX")
            }
            let code = [parts[0], parts[1].uppercased(), parts[2]].joined(separator: "-")
            guard matches(parts[0], { scalar, _ in digit(scalar) }, count: 4...4),
                  matches(parts[1].uppercased(), { scalar, offset in offset == 0 ? upper(scalar) : (upper(scalar) || digit(scalar)) }, count: 2...3),
                  matches(parts[2], { scalar, _ in alnum(scalar) }, count: 1...20) else {
                return .failure("value \(quoted) is not a CE registration number NNNN-CAT-XXXX")
            }
            return .success(.text(code))
        case .hazardDivision:
            let code = stripped(value, []).uppercased().replacingOccurrences(of: ",", with: ".")
            guard HazardDivision(rawValue: code) != nil else {
                return .failure("value \(quoted) is not a hazard division (1.1G, 1.2G, 1.3G, 1.4G, 1.4S)")
            }
            return .success(.text(code))
        case .customsMRN:
            let code = stripped(value, []).uppercased()
            if let problem = CheckCharacters.mrnFormatProblem(code) { return .failure("MRN \(code.quotedForMessage): \(problem)") }
            if let expected = CheckCharacters.mrnCheckCharacter(String(code.prefix(17))), code.last != expected {
                return .failure("MRN \(code.quotedForMessage) has check character \(code.suffix(1)), expected \(expected)")
            }
            return .success(.text(code))
        case .vatNumber:
            let code = stripped(value, [".", "-"]).uppercased()
            guard matches(code, { scalar, offset in offset < 2 ? upper(scalar) : (alnum(scalar) || scalar == "+" || scalar == "*") },
                          count: 4...14) else {
                return .failure("value \(quoted) is not a VAT number (country prefix and 2 to 12 characters)")
            }
            return .success(.text(code))
        }
    }
}
