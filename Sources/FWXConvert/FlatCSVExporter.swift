public import FWXModel
public import FWXXML

/// Flattens batches into one CSV table for spreadsheets (columns in docs/csv-profiles.md, "Flat CSV export"):
///
/// - one row per item of each seizure, the seizure's own columns repeated on each of its rows;
/// - one row per shipment, with the item and seizure columns empty;
/// - lists (links, parties, vehicles, transit countries, containers, documents) in one cell, joined with ` | `.
///
/// The file is UTF-8 with a byte order mark (so spreadsheet programs read accents right), comma separated,
/// RFC 4180 quoted, numbers with a decimal point. A text cell that starts with `=`, `+`, `-` or `@` gets a
/// leading `'` so that a spreadsheet does not run it as a formula. This is a view for people: it leaves out
/// the NUTS codes and coordinates of shipment origins and destinations, and it cannot be converted back.
public struct FlatCSVExporter {
    /// The header row, in order.
    public static let columns = [
        "batch_id", "sender_country", "record_kind", "record_id", "revision", "status", "withdrawal_reason",
        "handling_code", "evaluation_source", "evaluation_information",
        "incident_type", "seizure_date_time", "authority_type", "authority_name", "case_reference",
        "location_country", "location_nuts_code", "location_un_locode", "location_municipality",
        "location_latitude", "location_longitude",
        "item_number", "item_count", "item_category", "item_product_name", "item_brand", "item_manufacturer",
        "item_country_of_manufacture", "item_ce_registration_number", "item_un_number", "item_hazard_division",
        "item_hs_code", "item_quantity", "item_quantity_unit", "item_gross_mass_kg", "item_net_explosive_quantity_kg",
        "item_neq_basis",
        "linked_records", "parties", "vehicles",
        "transport_mode", "origin_country", "origin_un_locode", "origin_municipality", "transit",
        "destination_country", "destination_un_locode", "destination_municipality", "containers",
        "transport_documents", "customs_mrn", "declared_goods_description", "declared_goods_hs_code",
        "declared_goods_gross_mass_kg", "goods_found_description", "goods_found_hs_code", "goods_found_gross_mass_kg",
        "departure_date", "arrival_date", "interception_date",
        "remarks", "retention_until",
    ]

    /// The CSV dialect written: comma, double quote, UTF-8.
    public static let dialect = CSVDialect(delimiter: UInt8(ascii: ","), quote: UInt8(ascii: "\""), encoding: .utf8)

    /// Columns holding numbers or codes, never formula-guarded.
    private static let numericColumns: Set<String> = [
        "revision", "location_latitude", "location_longitude", "item_number", "item_count", "item_quantity",
        "item_gross_mass_kg", "item_net_explosive_quantity_kg", "declared_goods_gross_mass_kg", "goods_found_gross_mass_kg",
    ]

    private let output: ([UInt8]) throws -> Void
    private var header: BatchHeader?
    /// Data rows written so far.
    public private(set) var rowsWritten = 0

    /// - Parameter output: receives the file's bytes in order.
    public init(output: @escaping ([UInt8]) throws -> Void) {
        self.output = output
    }

    /// Writes the byte order mark and the header row; `header` gives the batch columns of every row.
    public mutating func begin(_ header: BatchHeader) throws {
        self.header = header
        try output([0xEF, 0xBB, 0xBF] + CSVWriter.record(Self.columns, dialect: Self.dialect))
    }

    /// Writes the rows of one record.
    public mutating func write(_ record: Record) throws {
        for row in rows(for: record) {
            try output(CSVWriter.record(row, dialect: Self.dialect))
            rowsWritten += 1
        }
    }

    /// The rows of one record, as cell texts in ``columns`` order.
    public func rows(for record: Record) -> [[String]] {
        var cells: [String: String] = [:]
        cells["batch_id"] = header?.batchId
        cells["sender_country"] = header?.sender.country
        cells["record_id"] = record.recordId
        cells["revision"] = String(record.revision)
        cells["status"] = record.status.rawValue
        cells["handling_code"] = (record.handlingCode ?? header?.defaultHandlingCode)?.rawValue
        var itemRows: [[String: String]] = []
        switch record {
        case .seizure(let seizure):
            cells["record_kind"] = "seizure"
            cells["withdrawal_reason"] = seizure.withdrawalReason?.rawValue
            cells["evaluation_source"] = seizure.evaluation.source.rawValue
            cells["evaluation_information"] = seizure.evaluation.information.rawValue
            cells["incident_type"] = seizure.incidentType.rawValue
            cells["seizure_date_time"] = seizure.seizureDateTime
            cells["authority_type"] = seizure.seizingAuthority.type.rawValue
            cells["authority_name"] = seizure.seizingAuthority.name
            cells["case_reference"] = seizure.caseReference
            cells["location_country"] = seizure.location.country
            cells["location_nuts_code"] = seizure.location.nutsCode
            cells["location_un_locode"] = seizure.location.unLocode
            cells["location_municipality"] = seizure.location.municipality
            cells["location_latitude"] = seizure.location.latitude.map(BatchXMLWriter.decimal)
            cells["location_longitude"] = seizure.location.longitude.map(BatchXMLWriter.decimal)
            cells["linked_records"] = Self.links(seizure.shipmentLinks)
            cells["parties"] = Self.parties(seizure.parties)
            cells["vehicles"] = Self.vehicles(seizure.vehicles)
            cells["remarks"] = seizure.remarks
            cells["retention_until"] = seizure.retentionUntil
            cells["item_count"] = String(seizure.items.count)
            for (index, item) in seizure.items.enumerated() {
                itemRows.append([
                    "item_number": String(index + 1),
                    "item_category": item.category.rawValue,
                    "item_product_name": item.productName,
                    "item_brand": item.brand,
                    "item_manufacturer": item.manufacturer,
                    "item_country_of_manufacture": item.countryOfManufacture,
                    "item_ce_registration_number": item.ceRegistrationNumber,
                    "item_un_number": item.unNumber,
                    "item_hazard_division": item.hazardDivision?.rawValue,
                    "item_hs_code": item.hsCode,
                    "item_quantity": BatchXMLWriter.decimal(item.quantity.value),
                    "item_quantity_unit": item.quantity.unit.rawValue,
                    "item_gross_mass_kg": item.grossMassKg.map(BatchXMLWriter.decimal),
                    "item_net_explosive_quantity_kg": item.netExplosiveQuantity.map { BatchXMLWriter.decimal($0.kg) },
                    "item_neq_basis": item.netExplosiveQuantity?.basis.rawValue,
                ].compactMapValues { $0 })
            }
        case .shipment(let shipment):
            cells["record_kind"] = "shipment"
            cells["withdrawal_reason"] = shipment.withdrawalReason?.rawValue
            cells["evaluation_source"] = shipment.evaluation?.source.rawValue
            cells["evaluation_information"] = shipment.evaluation?.information.rawValue
            cells["linked_records"] = Self.links(shipment.seizureLinks)
            cells["parties"] = Self.parties(shipment.parties)
            cells["vehicles"] = Self.vehicles(shipment.vehicles)
            cells["transport_mode"] = shipment.transportMode.rawValue
            cells["origin_country"] = shipment.origin.country
            cells["origin_un_locode"] = shipment.origin.unLocode
            cells["origin_municipality"] = shipment.origin.municipality
            cells["transit"] = shipment.transit.isEmpty ? nil : shipment.transit.joined(separator: " | ")
            cells["destination_country"] = shipment.destination.country
            cells["destination_un_locode"] = shipment.destination.unLocode
            cells["destination_municipality"] = shipment.destination.municipality
            cells["containers"] = shipment.containers.isEmpty ? nil : shipment.containers.joined(separator: " | ")
            cells["transport_documents"] = shipment.transportDocuments.isEmpty ? nil
                : shipment.transportDocuments.map { "\($0.type.rawValue): \($0.number)" }.joined(separator: " | ")
            cells["customs_mrn"] = shipment.customsMRN
            cells["declared_goods_description"] = shipment.declaredGoods?.description
            cells["declared_goods_hs_code"] = shipment.declaredGoods?.hsCode
            cells["declared_goods_gross_mass_kg"] = shipment.declaredGoods?.grossMassKg.map(BatchXMLWriter.decimal)
            cells["goods_found_description"] = shipment.goodsFound?.description
            cells["goods_found_hs_code"] = shipment.goodsFound?.hsCode
            cells["goods_found_gross_mass_kg"] = shipment.goodsFound?.grossMassKg.map(BatchXMLWriter.decimal)
            cells["departure_date"] = shipment.departureDate
            cells["arrival_date"] = shipment.arrivalDate
            cells["interception_date"] = shipment.interceptionDate
            cells["remarks"] = shipment.remarks
            cells["retention_until"] = shipment.retentionUntil
            itemRows = [[:]]
        }
        return itemRows.map { item in
            Self.columns.map { column in
                let text = item[column] ?? cells[column] ?? ""
                return Self.numericColumns.contains(column) ? text : Self.guarded(text)
            }
        }
    }

    /// Reads a batch XML document, validating it in the same pass, and writes its flat CSV through `output`.
    /// Records that fail the schema are left out; check the report's `isValid` before using the result.
    public static func export(_ source: ByteSource, reader: ValidatingBatchReader = ValidatingBatchReader(),
                              output: @escaping ([UInt8]) throws -> Void,
                              progress: @escaping (Int) -> Void = { _ in }) throws -> (report: BatchReadReport, rows: Int) {
        let box = ExporterBox(FlatCSVExporter(output: output))
        let report = try reader.read(source, header: { try box.exporter.begin($0) },
                                     record: { try box.exporter.write($0) }, progress: progress)
        return (report, box.exporter.rowsWritten)
    }

    private static func guarded(_ text: String) -> String {
        guard let first = text.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) else { return text }
        return "'" + text
    }

    private static func links(_ links: [RecordLink]) -> String? {
        links.isEmpty ? nil : links.map { $0.external ? "\($0.recordId) (external)" : $0.recordId }.joined(separator: " | ")
    }

    private static func parties(_ parties: [Party]) -> String? {
        guard !parties.isEmpty else { return nil }
        return parties.map { party in
            if let person = party.person {
                let details = [person.nationality, person.birthYear.map { String($0) }].compactMap { $0 }
                return "\(party.role.rawValue): \(person.pseudonym)" + (details.isEmpty ? "" : " (\(details.joined(separator: ", ")))")
            }
            let organisation = party.organisation
            let details = [organisation?.country, organisation?.vatNumber.map { "VAT \($0)" }].compactMap { $0 }
            return "\(party.role.rawValue): \(organisation?.name ?? "")" + (details.isEmpty ? "" : " (\(details.joined(separator: ", ")))")
        }.joined(separator: " | ")
    }

    private static func vehicles(_ vehicles: [Vehicle]) -> String? {
        vehicles.isEmpty ? nil : vehicles.map { "\($0.plate) (\($0.registrationCountry))" }.joined(separator: " | ")
    }
}

/// Holds an exporter for the parser's event closures.
private final class ExporterBox {
    var exporter: FlatCSVExporter
    init(_ exporter: FlatCSVExporter) { self.exporter = exporter }
}
