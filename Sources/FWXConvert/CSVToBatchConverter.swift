public import FWXModel
public import FWXXML
public import FWXSigning
import Foundation

/// A CSV row that could not be converted: where, which column, and why. Rows are never dropped silently:
/// every row that does not become part of a record is reported with one or more rejections.
public struct RowRejection: Sendable, Hashable, CustomStringConvertible {
    /// The CSV file's name.
    public var file: String
    /// Physical line on which the row starts (1-based; line breaks inside quoted fields count).
    public var line: Int
    /// The column concerned, when one is.
    public var column: String?
    /// Why. Quotes at most the one failing value.
    public var reason: String

    public init(file: String, line: Int, column: String?, reason: String) {
        self.file = file
        self.line = line
        self.column = column
        self.reason = reason
    }

    /// `column 'Categorie': value 'vuurwerk X' has no mapping …`, or the reason alone.
    public var message: String { column.map { "column '\($0)': \(reason)" } ?? reason }

    /// `export.csv:17: column 'Categorie': value 'vuurwerk X' has no mapping …`
    public var description: String { "\(file):\(line): \(message)" }
}

/// Settings of one CSV conversion that are not part of the profile.
public struct CSVConversionOptions: Sendable {
    /// Sender country instead of the profile's `batch.sender` (EL is read as GR).
    public var senderCountry: String?
    /// Sender agency id instead of the profile's `batch.agencyId`.
    public var agencyId: String?
    /// The sender's sequence number of this batch.
    public var sequenceNumber: UInt64
    /// The batch id; a random UUID when nil.
    public var batchId: String?
    /// The batch's creation time (ISO 8601 with zone); the clock when nil.
    public var createdAt: String?
    /// "Now" in seconds since 1970, for the rule that no date lies in the future; the clock when nil.
    public var now: Double?
    /// Check each record on its own (XSD and per-record business rules) before writing it, so that a bad row is
    /// rejected instead of making the whole batch invalid. On by default.
    public var checkEachRecord: Bool
    /// The key of keyed pseudonyms, instead of the profile's `pseudonymisation.keyFile` (`--pseudonym-key`).
    public var pseudonymKeyFile: String?
    /// A key to use when neither the options nor the profile name one (`fwx profile check`'s random key).
    public var fallbackPseudonymKey: PseudonymKey?

    public init(senderCountry: String? = nil, agencyId: String? = nil, sequenceNumber: UInt64 = 1,
                batchId: String? = nil, createdAt: String? = nil, now: Double? = nil, checkEachRecord: Bool = true) {
        self.senderCountry = senderCountry
        self.agencyId = agencyId
        self.sequenceNumber = sequenceNumber
        self.batchId = batchId
        self.createdAt = createdAt
        self.now = now
        self.checkEachRecord = checkEachRecord
    }
}

/// What a CSV conversion did.
public struct CSVConversionSummary: Sendable, Hashable {
    /// Data rows read (not counting the header and skipped lines).
    public var rowsRead = 0
    /// Rows that went to the reject file.
    public var rowsRejected = 0
    public var seizures = 0
    public var shipments = 0
    /// Records written: seizures and shipments.
    public var recordsWritten: Int { seizures + shipments }

    public init() {}
}

/// Writes the reject file of a CSV conversion: the rejected rows as they were read, in the input's delimiter
/// and encoding, behind two added columns `fwx_line` and `fwx_reason`. The header row is the input's, behind
/// the same two names. A row that could not be read as CSV at all (broken quoting) is written as one quoted
/// field holding its text, so that it cannot swallow the rows after it.
public final class RejectFileWriter {
    /// Names of the two columns put in front of each rejected row.
    public static let addedColumns = ["fwx_line", "fwx_reason"]

    private let output: ([UInt8]) throws -> Void
    private var dialect = CSVDialect()
    /// Rows written so far (not counting the header).
    public private(set) var rowsWritten = 0

    /// - Parameter output: receives the file's bytes in order.
    public init(output: @escaping ([UInt8]) throws -> Void) {
        self.output = output
    }

    /// Starts the file with the input's header row.
    public func begin(header: CSVRow, dialect: CSVDialect, byteOrderMark: Bool) throws {
        self.dialect = dialect
        var bytes: [UInt8] = byteOrderMark ? [0xEF, 0xBB, 0xBF] : []
        bytes += CSVWriter.record(Self.addedColumns, dialect: dialect).dropLast(2)
        bytes.append(dialect.delimiter)
        bytes += header.raw
        bytes += [0x0D, 0x0A]
        try output(bytes)
    }

    /// Writes one rejected row with its reasons (joined with "; ").
    public func write(row: CSVRow, reasons: [RowRejection]) throws {
        let reason = reasons.map(\.message).joined(separator: "; ")
        var bytes = Array(CSVWriter.record([String(row.line), reason], dialect: dialect).dropLast(2))
        bytes.append(dialect.delimiter)
        if row.problem != nil {
            let readable = dialect.encoding.decode(row.raw) ?? CSVEncoding.isoLatin1.decode(row.raw) ?? ""
            bytes.append(dialect.quote)
            for byte in dialect.encoding.encode(readable) {
                if byte == dialect.quote { bytes.append(byte) }
                bytes.append(byte)
            }
            bytes.append(dialect.quote)
        } else {
            bytes += row.raw
        }
        bytes += [0x0D, 0x0A]
        try output(bytes)
        rowsWritten += 1
    }
}

/// Converts a national CSV export to an FWX batch through a ``CSVMappingProfile``, record by record.
///
/// - Each row becomes a seizure with one item; consecutive rows with the same seizure id (the column mapped to
///   `recordId`) become one seizure with several items. Rows are grouped only when they are consecutive, so
///   memory stays bounded; the same id appearing again later is rejected as a duplicate.
/// - When the profile maps shipment fields and a row gives any of them, a shipment is written too, linked to
///   the seizure both ways.
/// - A seizure is converted whole or not at all: when one of its rows cannot be mapped, all its rows are
///   rejected (the others with a reason naming the failing line), and nothing of it is written.
/// - With ``CSVConversionOptions/checkEachRecord`` each record is validated on its own (XSD and per-record
///   business rules, such as check digits and CE categories) before it is written; a failure rejects its rows
///   with the finding, pointed at the column the value came from.
public struct CSVToBatchConverter {
    public let profile: CSVMappingProfile
    public let options: CSVConversionOptions
    /// The header every batch of this conversion gets.
    public let header: BatchHeader

    private let reader: ProfileReader
    private let constants: [String: CSVValue]
    /// The key of keyed pseudonyms, when the profile maps a person's name, birth date or identity number.
    private let pseudonymKey: PseudonymKey?

    /// Prepares a conversion. Throws ``FWXError`` when the profile and options do not give a complete, valid
    /// batch header (sender country, agency id).
    public init(profile: CSVMappingProfile, options: CSVConversionOptions = CSVConversionOptions()) throws {
        self.profile = profile
        self.options = options
        // A profile built in code has not been checked by load(path:) or parse(yaml:name:).
        try profile.validate()
        do {
            reader = try ProfileReader(profile: profile)
        } catch let issue as ProfileIssue {
            throw issue.error(file: profile.sourceName, yaml: nil)
        }
        var constants: [String: CSVValue] = [:]
        for (name, text) in profile.constants {
            guard let field = CSVField.named(name), case .success(let value) = reader.readConstant(text, field: field) else {
                throw FWXError(.profile, "key 'constants.\(name)': value is not valid", location: "profile \(profile.sourceName)")
            }
            constants[name] = value
        }
        self.constants = constants

        let mapped = Set(profile.columns.flatMap { $0.mappings.map(\.field) })
        if !mapped.isDisjoint(with: CSVField.keyedPersonFields) {
            if options.pseudonymKeyFile == nil && profile.pseudonymKeyFile == nil, let fallback = options.fallbackPseudonymKey {
                pseudonymKey = fallback
            } else if let keyFile = options.pseudonymKeyFile ?? profile.pseudonymKeyFile {
                pseudonymKey = try PseudonymKey(file: keyFile)
            } else {
                throw FWXError(.usage, "profile \(profile.sourceName) maps a person's name, birth date or identity "
                    + "number, which become keyed pseudonyms: give the key with --pseudonym-key FILE or "
                    + "pseudonymisation.keyFile in the profile (docs/pseudonymisation.md)")
            }
        } else {
            pseudonymKey = nil
        }

        let senderText = options.senderCountry ?? profile.batch.sender
        guard let senderText else {
            throw FWXError(.usage, "the profile gives no batch.sender; name the sender country (--sender)")
        }
        guard let sender = CountryCode.normalize(senderText) else {
            throw FWXError(.usage, "sender \(senderText.quotedForMessage) is not an ISO 3166-1 alpha-2 country code")
        }
        guard let agency = options.agencyId ?? profile.batch.agencyId else {
            throw FWXError(.usage, "the profile gives no batch.agencyId; name the sender agency (--agency)")
        }
        guard CSVMappingProfile.isAgencyId(agency) else {
            throw FWXError(.usage, "agency id \(agency.quotedForMessage) must be 2 to 64 letters, digits, '.', '_' or '-'")
        }
        let now = options.now ?? Date().timeIntervalSince1970
        header = BatchHeader(
            batchId: options.batchId ?? UUID().uuidString.lowercased(),
            sender: NodeIdentity(country: sender, agencyId: agency),
            recipients: profile.batch.recipients,
            createdAt: options.createdAt ?? ISOTime.timestamp(epochSeconds: Int(now)),
            sequenceNumber: options.sequenceNumber,
            defaultHandlingCode: profile.batch.defaultHandlingCode ?? .h2)
    }

    /// Converts the CSV in `source`, writing the batch through `writer` (header, records, end) and rejected rows
    /// through `rejects`. `rejected` hears of every rejection as it happens; `progress` is called every few
    /// hundred rows with the summary so far and the bytes read.
    ///
    /// Throws ``FWXError`` for problems that concern the whole file: it cannot be read, its header lacks a
    /// column of the profile, the batch header would be invalid.
    public func convert(_ source: ByteSource, to writer: inout BatchXMLWriter, rejects: RejectFileWriter? = nil,
                        rejected: (RowRejection) -> Void = { _ in },
                        progress: (CSVConversionSummary, Int) -> Void = { _, _ in }) throws -> CSVConversionSummary {
        let csv = CSVReader(source: source, dialect: profile.csv.dialect)
        var state = ConversionState(file: source.name)
        for _ in 0..<profile.csv.skipLines { _ = try csv.next() }
        guard let headerRow = try csv.next() else {
            throw FWXError(.conversion, "\(source.name) has no header row", location: source.name)
        }
        if let problem = headerRow.problem {
            let skipped = profile.csv.skipLines > 0 ? " (after the \(profile.csv.skipLines) lines the profile skips)" : ""
            throw FWXError(.conversion, "the header row\(skipped) cannot be read: \(problem). This export may not fit its profile: \(profileExpectation()); "
                               + "is it the right profile for this export?", location: "\(source.name):\(headerRow.line)")
        }
        let columns = try mapColumns(headerRow, file: source.name)
        let validator = BatchValidator(maxFindings: 100, now: options.now)
        try checkHeader(validator)
        try rejects?.begin(header: headerRow, dialect: csv.dialect, byteOrderMark: csv.hadByteOrderMark)
        try writer.writeHeader(header)

        let headerCount = headerRow.fields.count
        var group: [RowData] = []
        var groupKey: String?

        func reject(_ row: CSVRow, _ reasons: [RowRejection]) throws {
            state.summary.rowsRejected += 1
            for reason in reasons { rejected(reason) }
            try rejects?.write(row: row, reasons: reasons)
        }

        func flush() throws {
            guard !group.isEmpty else { return }
            let outcome = build(group, state: &state, validator: validator)
            switch outcome {
            case .records(let records):
                for record in records {
                    try writer.writeRecord(record)
                    if case .seizure = record { state.summary.seizures += 1 } else { state.summary.shipments += 1 }
                }
            case .rejected(let reasons):
                for (index, data) in group.enumerated() {
                    try reject(data.row, reasons[index])
                }
            }
            group.removeAll(keepingCapacity: true)
            groupKey = nil
        }

        while let row = try csv.next() {
            state.summary.rowsRead += 1
            if state.summary.rowsRead % 256 == 0 { progress(state.summary, csv.bytesRead) }
            if let problem = row.problem {
                try reject(row, [RowRejection(file: source.name, line: row.line, column: nil, reason: problem)])
                continue
            }
            if row.fields.count != headerCount {
                var reason = "the row has \(row.fields.count) fields, the header has \(headerCount)"
                if row.fields.count > headerCount && profile.numbers.decimalSeparator == Character(Unicode.Scalar(profile.csv.delimiter)) {
                    reason += "; a number with a decimal comma must be quoted when the delimiter is a comma"
                }
                try reject(row, [RowRejection(file: source.name, line: row.line, column: nil, reason: reason)])
                continue
            }
            let data = mapRow(row, columns: columns, file: source.name)
            if let key = data.key, key == groupKey {
                group.append(data)
                continue
            }
            try flush()
            group = [data]
            groupKey = data.key
        }
        try flush()
        try writer.finish()
        progress(state.summary, csv.bytesRead)
        return state.summary
    }

    // MARK: Columns

    private struct MappedColumn {
        var index: Int
        var header: String
        var mapping: CSVMappingProfile.ColumnMapping
        var field: CSVField
    }

    /// How the profile's columns meet an export's header, read from `source` (its skipped lines and header row
    /// only): for `fwx profile check`, before any conversion.
    public struct ColumnReport: Sendable {
        /// Header columns the profile maps, in the header's order, with their fields.
        public var mapped: [(header: String, fields: [String])]
        /// Header columns the profile does not name (ignored by a conversion).
        public var unmapped: [String]
        /// Profile columns the header lacks, and whether each may be missing (`optional: true`).
        public var missing: [(header: String, optional: Bool)]
    }

    /// The column report of the export in `source`. Throws, as a conversion would, when the header cannot be read.
    public func columnReport(_ source: ByteSource) throws -> ColumnReport {
        let csv = CSVReader(source: source, dialect: profile.csv.dialect)
        for _ in 0..<profile.csv.skipLines { _ = try csv.next() }
        guard let headerRow = try csv.next() else {
            throw FWXError(.conversion, "\(source.name) has no header row", location: source.name)
        }
        if let problem = headerRow.problem {
            throw FWXError(.conversion, "the header row cannot be read: \(problem). This export may not fit its "
                           + "profile: \(profileExpectation()); is it the right profile for this export?",
                           location: "\(source.name):\(headerRow.line)")
        }
        let byKey = Dictionary(profile.columns.map { ($0.header.csvLookupKey, $0) }, uniquingKeysWith: { first, _ in first })
        var report = ColumnReport(mapped: [], unmapped: [], missing: [])
        var seen: Set<String> = []
        for name in headerRow.fields.map(\.csvTrimmed) {
            if let column = byKey[name.csvLookupKey], seen.insert(name.csvLookupKey).inserted {
                report.mapped.append((name, column.mappings.map(\.field)))
            } else {
                report.unmapped.append(name)
            }
        }
        for column in profile.columns where !seen.contains(column.header.csvLookupKey) {
            report.missing.append((column.header, column.mappings.allSatisfy(\.optional)))
        }
        return report
    }

    /// What the profile expects of an export's header, for messages: encoding, delimiter, its first columns.
    private func profileExpectation() -> String {
        let delimiter = profile.csv.delimiter == 9 ? "tabs" : "'\(Character(Unicode.Scalar(profile.csv.delimiter)))'"
        let columns = profile.columns.prefix(5).map { "'\($0.header)'" }.joined(separator: ", ")
        return "profile \(profile.sourceName) expects \(profile.csv.dialect.encoding.rawValue) separated by \(delimiter), "
            + "with columns \(columns)\(profile.columns.count > 5 ? ", …" : "")"
    }

    private func mapColumns(_ headerRow: CSVRow, file: String) throws -> [MappedColumn] {
        var indexes: [String: Int] = [:]
        for (index, name) in headerRow.fields.enumerated() {
            let key = name.csvTrimmed.csvLookupKey
            if indexes[key] == nil { indexes[key] = index }
        }
        var columns: [MappedColumn] = []
        var missing: [String] = []
        for column in profile.columns {
            guard let index = indexes[column.header.csvLookupKey] else {
                if !column.mappings.allSatisfy(\.optional) { missing.append(column.header) }
                continue
            }
            for mapping in column.mappings {
                columns.append(MappedColumn(index: index, header: headerRow.fields[index].csvTrimmed, mapping: mapping,
                                            field: CSVField.named(mapping.field)!))
            }
        }
        let required = profile.columns.filter { !$0.mappings.allSatisfy(\.optional) }.count
        if missing.count >= 2 && missing.count * 2 >= required {
            // Most of what the profile needs is absent: the wrong profile, rather than a column renamed.
            let found = headerRow.fields.prefix(8).map { "'\($0.csvTrimmed.prefix(40))'" }.joined(separator: ", ")
            throw FWXError(.conversion, "this export's header does not match profile \(profile.sourceName): "
                               + "\(missing.count) of its \(required) required columns are missing; \(profileExpectation()), "
                               + "found \(found)\(headerRow.fields.count > 8 ? ", …" : ""); is it the right profile for this export?",
                           location: "\(file):\(headerRow.line)")
        }
        if !missing.isEmpty {
            let names = missing.map { "'\($0)'" }.joined(separator: ", ")
            var message = "the header has no column \(names), which profile \(profile.sourceName) maps"
            if headerRow.fields.count == 1 {
                let delimiter = profile.csv.delimiter == 9 ? "tab" : "'\(Character(Unicode.Scalar(profile.csv.delimiter)))'"
                message += "; the header has one column only: is the file separated by \(delimiter), as the profile says?"
            } else if missing.count < 4 {
                message += "; mark a column 'optional: true' in the profile if exports may lack it"
            }
            throw FWXError(.conversion, message, location: "\(file):\(headerRow.line)")
        }
        return columns
    }

    // MARK: Rows

    private struct RowData {
        let row: CSVRow
        var values: [String: CSVValue] = [:]
        var columnOf: [String: String] = [:]
        var problems: [RowRejection] = []
        var hasItem = false
        /// Fields whose column had a value that could not be read (already reported).
        var failed: Set<String> = []
        /// The seizure id (after prefix), the grouping key.
        var key: String?
    }

    private func mapRow(_ row: CSVRow, columns: [MappedColumn], file: String) -> RowData {
        var data = RowData(row: row)
        for column in columns {
            let raw = row.fields[column.index].csvTrimmed
            if raw.isEmpty { continue }
            switch reader.read(raw, field: column.field, mapping: column.mapping) {
            case .success(let value):
                data.values[column.field.name] = value
                data.columnOf[column.field.name] = column.header
                if column.field.level == .item { data.hasItem = true }
                if column.field.name == "recordId" { data.key = value.text }
            case .failure(let reason):
                data.problems.append(RowRejection(file: file, line: row.line, column: column.header, reason: reason))
                data.failed.insert(column.field.name)
                if column.field.level == .item { data.hasItem = true }
                if column.field.name == "recordId" { data.key = (column.mapping.prefix ?? "") + raw }
            }
        }
        if data.key == nil && data.problems.isEmpty {
            let column = columns.first { $0.field.name == "recordId" }?.header
            data.problems.append(RowRejection(file: file, line: row.line, column: column,
                                              reason: "is empty; every row needs the id of its seizure"))
        }
        return data
    }

    // MARK: Records

    private enum Outcome {
        case records([Record])
        /// Reasons for each row of the group, in order.
        case rejected([[RowRejection]])
    }

    private struct ConversionState {
        let file: String
        var summary = CSVConversionSummary()
        /// Ids written or rejected so far, with the line of their first row.
        var seenIds: [String: Int] = [:]
        init(file: String) { self.file = file }
    }

    /// Problems found while building, by row index in the group.
    private struct Problems {
        var byRow: [Int: [RowRejection]] = [:]
        var isEmpty: Bool { byRow.isEmpty }
        mutating func add(_ row: Int, _ rejection: RowRejection) { byRow[row, default: []].append(rejection) }
    }

    private func build(_ group: [RowData], state: inout ConversionState, validator: BatchValidator) -> Outcome {
        let file = state.file
        var problems = Problems()
        for (index, data) in group.enumerated() where !data.problems.isEmpty {
            for problem in data.problems { problems.add(index, problem) }
        }

        // Seizure and shipment fields: one value per group.
        var values: [String: CSVValue] = [:]
        var source: [String: (row: Int, column: String)] = [:]
        for (index, data) in group.enumerated() {
            for (field, value) in data.values where CSVField.named(field)!.level != .item {
                if let existing = values[field] {
                    if existing != value, let first = source[field] {
                        problems.add(index, RowRejection(file: file, line: data.row.line, column: data.columnOf[field],
                            reason: "differs from line \(group[first.row].row.line), the first row of this seizure; rows of one seizure must agree on seizure columns or leave them empty"))
                    }
                } else {
                    values[field] = value
                    source[field] = (index, data.columnOf[field] ?? "")
                }
            }
        }
        let firstLine = group[0].row.line
        func value(_ field: String) -> CSVValue? { values[field] ?? constants[field] }
        func text(_ field: String) -> String? { value(field)?.text }
        func code<T: RawRepresentable>(_ field: String) -> T? where T.RawValue == String { text(field).flatMap(T.init(rawValue:)) }
        func number(_ field: String) -> Double? { if case .number(let n)? = value(field) { return n }; return nil }
        func day(_ field: String) -> Int? { if case .day(let d)? = value(field) { return d }; return nil }
        func missing(_ field: String, _ what: String) {
            // A value that was there but could not be read is reported already.
            if group.contains(where: { $0.failed.contains(field) }) { return }
            let column = profile.columns.first { $0.mappings.contains { $0.field == field } }?.header
            let row = group.firstIndex { $0.problems.isEmpty } ?? 0
            problems.add(row, RowRejection(file: file, line: group[row].row.line, column: column,
                                           reason: column == nil ? "no value for \(field): \(what)" : "is empty; \(what)"))
        }
        func has(_ prefix: String) -> Bool { values.keys.contains { $0.hasPrefix(prefix) } }

        // Seizure
        let recordId = text("recordId") ?? ""
        let incident: IncidentType? = code("incidentType")
        if incident == nil { missing("incidentType", "a seizure needs an incident type") }
        var seizureTime: String?
        var eventDay: Int?
        if case .timestamp(let stamp)? = value("seizureDateTime") {
            seizureTime = stamp
            eventDay = ISOTime.day(of: stamp)
        } else if let date = day("seizureDate") {
            var seconds = reader.defaultTimeSeconds
            if case .seconds(let given)? = value("seizureTime") { seconds = given }
            seizureTime = reader.timestamp(day: date, seconds: seconds)
            eventDay = date
        } else {
            missing(profile.mappedFields.contains("seizureDateTime") ? "seizureDateTime" : "seizureDate",
                    "a seizure needs its date")
        }
        let authorityType: AuthorityType? = code("authorityType")
        if authorityType == nil { missing("authorityType", "a seizure needs the kind of authority") }
        let caseReference = text("caseReference")
        if caseReference == nil { missing("caseReference", "a seizure needs a case reference") }
        let country = text("location.country")
        if country == nil { missing("location.country", "a seizure needs the country where it happened") }
        let source_: SourceReliability? = code("evaluation.source")
        if source_ == nil { missing("evaluation.source", "a seizure needs a source reliability (A, B, C, X)") }
        let information: InformationAssessment? = code("evaluation.information")
        if information == nil { missing("evaluation.information", "a seizure needs an information assessment (1 … 4)") }

        // Items: one per row that gives item fields.
        var items: [Item] = []
        var itemRows: [Int] = []
        for (index, data) in group.enumerated() where data.hasItem {
            func itemValue(_ field: String) -> CSVValue? { data.values[field] ?? constants[field] }
            func itemText(_ field: String) -> String? { itemValue(field)?.text }
            func itemNumber(_ field: String) -> Double? { if case .number(let n)? = itemValue(field) { return n }; return nil }
            func itemMissing(_ field: String, _ what: String) {
                if data.failed.contains(field) { return }
                let column = profile.columns.first { $0.mappings.contains { $0.field == field } }?.header
                problems.add(index, RowRejection(file: file, line: data.row.line, column: column,
                                                 reason: column == nil ? "no value for \(field): \(what)" : "is empty; \(what)"))
            }
            let category = itemText("item.category").flatMap(CECategory.init(rawValue:))
            if category == nil { itemMissing("item.category", "an item needs a CE category") }
            let quantity = itemNumber("item.quantity")
            if quantity == nil { itemMissing("item.quantity", "an item needs a quantity") }
            let unit = itemText("item.quantityUnit").flatMap(QuantityUnit.init(rawValue:))
            if unit == nil { itemMissing("item.quantityUnit", "an item needs a quantity unit") }
            var neq: NetExplosiveQuantity?
            if let kg = itemNumber("item.netExplosiveQuantityKg") {
                if let basis = itemText("item.neqBasis").flatMap(NEQBasis.init(rawValue:)) {
                    neq = NetExplosiveQuantity(kg: kg, basis: basis)
                } else {
                    itemMissing("item.neqBasis", "a net explosive quantity needs its basis (label, measured, estimated)")
                }
            }
            guard let category, let quantity, let unit else { continue }
            items.append(Item(category: category, productName: itemText("item.productName"), brand: itemText("item.brand"),
                              manufacturer: itemText("item.manufacturer"),
                              countryOfManufacture: itemText("item.countryOfManufacture"),
                              ceRegistrationNumber: itemText("item.ceRegistrationNumber"),
                              unNumber: itemText("item.unNumber"),
                              hazardDivision: itemText("item.hazardDivision").flatMap(HazardDivision.init(rawValue:)),
                              hsCode: itemText("item.hsCode"), quantity: Quantity(quantity, unit),
                              grossMassKg: itemNumber("item.grossMassKg"), netExplosiveQuantity: neq))
            itemRows.append(index)
        }
        if items.isEmpty && problems.isEmpty {
            let columns = profile.columns.filter { $0.mappings.contains { CSVField.named($0.field)?.level == .item } }.map { "'\($0.header)'" }
            problems.add(0, RowRejection(file: file, line: firstLine, column: nil,
                reason: "no item: the item columns (\(columns.prefix(4).joined(separator: ", "))) are empty, and a seizure needs at least one item"))
        }

        // Parties and vehicles of the seizure.
        var parties: [Party] = []
        if has("person.") {
            // A name, birth date or identity number becomes a keyed pseudonym here and is never written itself.
            let name = text("person.name")
            let birthDay = day("person.birthDate")
            let idNumber = text("person.idNumber")
            var pseudonym = text("person.pseudonym")
            var refusedClearName = false
            if let key = pseudonymKey, name != nil || birthDay != nil || idNumber != nil {
                pseudonym = KeyedPseudonym.make(name: name, birthDate: birthDay.map { ISOTime.date(daysSinceEpoch: $0) },
                                                idNumber: idNumber, key: key)
            } else if let given = pseudonym, !profile.pseudonymisation.alreadyPseudonymised,
                      KeyedPseudonym.looksLikeClearName(given) {
                let column = profile.columns.first { $0.mappings.contains { $0.field == "person.pseudonym" } }?.header
                problems.add(0, RowRejection(file: file, line: firstLine, column: column, reason:
                    "holds what looks like a clear name, not a pseudonym (value not shown); map this column to "
                        + "person.name to make a keyed pseudonym (docs/pseudonymisation.md), or set "
                        + "pseudonymisation.alreadyPseudonymised: true if the national system made these pseudonyms"))
                pseudonym = nil
                refusedClearName = true
            }
            if let role: PartyRole = code("person.role"), let pseudonym {
                var birthYear: Int?
                if case .integer(let year)? = value("person.birthYear") { birthYear = year }
                if birthYear == nil, let birthDay { birthYear = ISOTime.civilDate(daysSinceEpoch: birthDay).year }
                parties.append(Party(role: role, person: Person(pseudonym: pseudonym, nationality: text("person.nationality"),
                                                                birthYear: birthYear)))
            } else if !refusedClearName || code("person.role") as PartyRole? == nil {
                missing(code("person.role") as PartyRole? == nil ? "person.role"
                            : (pseudonymKey != nil ? "person.name" : "person.pseudonym"),
                        "a person needs a role and a pseudonym (or a name to make one)")
            }
        }
        if has("organisation.") {
            if let role: PartyRole = code("organisation.role"), let name = text("organisation.name") {
                parties.append(Party(role: role, organisation: Organisation(
                    name: name, registrationNumber: text("organisation.registrationNumber"),
                    vatNumber: text("organisation.vatNumber"), country: text("organisation.country"))))
            } else {
                missing(code("organisation.role") as PartyRole? == nil ? "organisation.role" : "organisation.name",
                        "an organisation needs a role and a name")
            }
        }
        var vehicles: [Vehicle] = []
        if has("vehicle.") {
            if let plate = text("vehicle.plate"), let registration = text("vehicle.registrationCountry") {
                vehicles.append(Vehicle(plate: plate.uppercased(), registrationCountry: registration))
            } else {
                missing(text("vehicle.plate") == nil ? "vehicle.plate" : "vehicle.registrationCountry",
                        "a vehicle needs its plate and registration country")
            }
        }

        // Retention
        let retentionUntil: Int?
        if let given = day("retentionUntil") {
            retentionUntil = given
        } else if let eventDay {
            retentionUntil = retain(from: eventDay)
        } else {
            retentionUntil = nil
        }

        // Shipment
        var shipment: ShipmentRecord?
        let shipmentGiven = values.keys.contains { $0.hasPrefix("shipment.") && $0 != "shipment.recordId" }
        if shipmentGiven {
            let shipmentId = text("shipment.recordId") ?? ""
            let mode: TransportMode? = code("shipment.transportMode")
            if mode == nil { missing("shipment.transportMode", "a shipment needs its transport mode") }
            let origin = text("shipment.origin.country")
            if origin == nil { missing("shipment.origin.country", "a shipment needs its country of origin") }
            let destination = text("shipment.destination.country")
            if destination == nil { missing("shipment.destination.country", "a shipment needs its country of destination") }
            var shipmentParties: [Party] = []
            for (role, prefix) in [(PartyRole.consignor, "shipment.consignor"), (.consignee, "shipment.consignee"),
                                   (.carrier, "shipment.carrier")] where has(prefix + ".") {
                guard let name = text(prefix + ".name") else {
                    missing(prefix + ".name", "a \(role.rawValue) needs a name")
                    continue
                }
                shipmentParties.append(Party(role: role, organisation: Organisation(
                    name: name, vatNumber: text(prefix + ".vatNumber"), country: text(prefix + ".country"))))
            }
            var shipmentVehicles: [Vehicle] = []
            if has("shipment.vehicle.") {
                if let plate = text("shipment.vehicle.plate"), let registration = text("shipment.vehicle.registrationCountry") {
                    shipmentVehicles.append(Vehicle(plate: plate.uppercased(), registrationCountry: registration))
                } else {
                    missing(text("shipment.vehicle.plate") == nil ? "shipment.vehicle.plate" : "shipment.vehicle.registrationCountry",
                            "a vehicle needs its plate and registration country")
                }
            }
            var documents: [TransportDocument] = []
            if has("shipment.transportDocument.") {
                if let type: TransportDocumentType = code("shipment.transportDocument.type"),
                   let number = text("shipment.transportDocument.number") {
                    documents.append(TransportDocument(type: type, number: number))
                } else {
                    missing(code("shipment.transportDocument.type") as TransportDocumentType? == nil
                            ? "shipment.transportDocument.type" : "shipment.transportDocument.number",
                            "a transport document needs its type and number")
                }
            }
            func goods(_ prefix: String) -> Goods? {
                guard has(prefix + ".") else { return nil }
                guard let description = text(prefix + ".description") else {
                    missing(prefix + ".description", "goods need a description")
                    return nil
                }
                return Goods(description: description, hsCode: text(prefix + ".hsCode"), grossMassKg: number(prefix + ".grossMassKg"))
            }
            let interception = day("shipment.interceptionDate") ?? eventDay
            let shipmentDays = [day("shipment.departureDate"), day("shipment.arrivalDate"), interception].compactMap { $0 }
            var shipmentRetention = retentionUntil
            if day("retentionUntil") == nil, let last = shipmentDays.max() {
                shipmentRetention = max(retain(from: last), retentionUntil ?? Int.min)
            }
            if let mode, let origin, let destination, let shipmentRetention {
                shipment = ShipmentRecord(
                    recordId: shipmentId, transportMode: mode,
                    origin: Location(country: origin, unLocode: text("shipment.origin.unLocode"),
                                     municipality: text("shipment.origin.municipality")),
                    transit: { if case .list(let list)? = value("shipment.transit") { return list }; return [] }(),
                    destination: Location(country: destination, unLocode: text("shipment.destination.unLocode"),
                                          municipality: text("shipment.destination.municipality")),
                    handlingCode: code("handlingCode"),
                    parties: shipmentParties,
                    containers: { if case .list(let list)? = value("shipment.containers") { return list }; return [] }(),
                    vehicles: shipmentVehicles, transportDocuments: documents,
                    customsMRN: text("shipment.customsMRN"),
                    declaredGoods: goods("shipment.declaredGoods"), goodsFound: goods("shipment.goodsFound"),
                    departureDate: day("shipment.departureDate").map(ISOTime.date(daysSinceEpoch:)),
                    arrivalDate: day("shipment.arrivalDate").map(ISOTime.date(daysSinceEpoch:)),
                    interceptionDate: interception.map(ISOTime.date(daysSinceEpoch:)),
                    seizureLinks: [RecordLink(recordId)],
                    remarks: text("shipment.remarks"),
                    retentionUntil: ISOTime.date(daysSinceEpoch: shipmentRetention))
            }
        }

        // Ids: each once per batch.
        if problems.isEmpty {
            for (id, field) in [(recordId, "recordId"), (shipment?.recordId, "shipment.recordId")] {
                guard let id else { continue }
                let row = source[field]?.row ?? 0
                if let earlier = state.seenIds[id] {
                    let reason = earlier == firstLine
                        ? "the shipment id is the same as the seizure id; give the shipment id another prefix"
                        : "id \(id.quotedForMessage) was already used by the rows from line \(earlier); rows of one seizure must be consecutive, and each id is sent once per batch"
                    problems.add(row, RowRejection(file: file, line: group[row].row.line, column: source[field]?.column, reason: reason))
                } else {
                    state.seenIds[id] = firstLine
                }
            }
        } else {
            for id in [recordId, shipment?.recordId ?? ""] where !id.isEmpty && state.seenIds[id] == nil {
                state.seenIds[id] = firstLine
            }
        }

        let latitude = number("location.latitude"), longitude = number("location.longitude")
        if (latitude == nil) != (longitude == nil) {
            missing(latitude == nil ? "location.latitude" : "location.longitude", "give latitude and longitude together")
        }

        var records: [Record] = []
        if problems.isEmpty, let incident, let seizureTime, let authorityType, let caseReference, let country,
           let source_, let information, let retentionUntil {
            var links: [RecordLink] = []
            if let shipment { links.append(RecordLink(shipment.recordId)) }
            if let external = text("externalShipmentRef") { links.append(RecordLink(external, external: true)) }
            let seizure = SeizureRecord(
                recordId: recordId,
                revision: { if case .integer(let r)? = value("revision") { return r }; return 1 }(),
                status: code("status") ?? .active, withdrawalReason: code("withdrawalReason"),
                incidentType: incident, seizureDateTime: seizureTime,
                seizingAuthority: SeizingAuthority(type: authorityType, name: text("authorityName")),
                caseReference: caseReference,
                location: Location(country: country, nutsCode: text("location.nutsCode"), unLocode: text("location.unLocode"),
                                   municipality: text("location.municipality"), latitude: latitude, longitude: longitude),
                handlingCode: code("handlingCode"),
                evaluation: Evaluation(source: source_, information: information),
                items: items, shipmentLinks: links, parties: parties, vehicles: vehicles,
                remarks: text("remarks"), retentionUntil: ISOTime.date(daysSinceEpoch: retentionUntil))
            records.append(.seizure(seizure))
            if let shipment { records.append(.shipment(shipment)) }
        }

        if problems.isEmpty && options.checkEachRecord {
            for finding in check(records, validator: validator) {
                let (row, column) = attribute(finding, group: group, itemRows: itemRows, source: source)
                problems.add(row, RowRejection(file: file, line: group[row].row.line, column: column,
                                               reason: "\(finding.message) (\(finding.rule))"))
            }
        }

        guard !problems.isEmpty else { return .records(records) }
        let failingLines = problems.byRow.keys.sorted().map { group[$0].row.line }
        var reasons: [[RowRejection]] = []
        for (index, data) in group.enumerated() {
            if let own = problems.byRow[index] {
                reasons.append(own)
            } else {
                let lines = failingLines.map(String.init).joined(separator: ", ")
                reasons.append([RowRejection(file: file, line: data.row.line, column: nil,
                    reason: "rejected together with line \(lines): the rows belong to the same seizure, which is converted whole or not at all")])
            }
        }
        return .rejected(reasons)
    }

    /// The day `retention` after `day`.
    private func retain(from day: Int) -> Int {
        let date = ISOTime.civilDate(daysSinceEpoch: day)
        let year = date.year + profile.retention.years
        let dayOfMonth = min(date.day, DatePattern.daysIn(month: date.month, year: year))
        return ISOTime.daysSinceEpoch(year: year, month: date.month, day: dayOfMonth) + profile.retention.days
    }

    // MARK: Checking each record

    /// Validates the batch header once, so that a wrong sender or agency is reported as such, not on every row.
    private func checkHeader(_ validator: BatchValidator) throws {
        let text = BatchXMLWriter.string(for: Batch(header: header, records: []))
        let report = try validator.validate(ByteSource(bytes: Array(text.utf8), name: "header"))
        if let finding = report.findings.first(where: { $0.severity == .error }) {
            throw FWXError(.conversion, "the batch header would be invalid: \(finding.message) (\(finding.rule))")
        }
    }

    /// Error findings of a small batch holding just these records.
    private func check(_ records: [Record], validator: BatchValidator) -> [Finding] {
        let text = BatchXMLWriter.string(for: Batch(header: header, records: records))
        guard let report = try? validator.validate(ByteSource(bytes: Array(text.utf8), name: "record")) else { return [] }
        return report.findings.filter { $0.severity == .error }
    }

    /// The row and column a finding about a record built from `group` points at.
    private func attribute(_ finding: Finding, group: [RowData], itemRows: [Int],
                           source: [String: (row: Int, column: String)]) -> (Int, String?) {
        var steps: [String] = []
        var itemIndex = 1
        for step in finding.xpath.split(separator: "/") {
            var name = step.hasPrefix("fwx:") ? String(step.dropFirst(4)) : String(step)
            if let bracket = name.firstIndex(of: "[") {
                let position = Int(name[name.index(after: bracket)...].dropLast()) ?? 1
                name = String(name[..<bracket])
                if name == "Item" { itemIndex = position }
            }
            steps.append(name)
        }
        while let first = steps.first, first == "Batch" || first == "Records" { steps.removeFirst() }
        let path = steps.joined(separator: "/")
        let candidates = CSVField.all.filter { $0.xmlPath == path }
        for field in candidates {
            if field.level == .item {
                guard itemIndex - 1 < itemRows.count else { continue }
                let row = itemRows[itemIndex - 1]
                if let column = group[row].columnOf[field.name] { return (row, column) }
            } else if let origin = source[field.name] {
                return (origin.row, origin.column)
            }
        }
        if candidates.contains(where: { $0.level == .item }), itemIndex - 1 < itemRows.count {
            return (itemRows[itemIndex - 1], nil)
        }
        return (0, nil)
    }
}
