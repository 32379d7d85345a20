/// Writes batches as schema v1 XML, record by record, in FWX's canonical layout (two-space indentation, elements
/// in schema order, numbers in shortest form). The same model always gives the same bytes, which is what makes
/// XML → JSON → XML give the same XML. The writer does no I/O: it hands text to `output`.
public struct BatchXMLWriter {
    /// The namespace of schema v1.
    public static let namespace = "urn:fwx:schema:v1"

    /// UTF-8 bytes not yet handed to `output` (appending bytes is several times cheaper than appending to a
    /// String, which a node does for every record it takes in).
    private var buffer: [UInt8] = []
    private let output: (String) throws -> Void
    private let flushThreshold: Int

    /// - Parameter output: receives the XML text in chunks of about `flushThreshold` bytes, in order.
    public init(flushThreshold: Int = 1 << 16, output: @escaping (String) throws -> Void) {
        self.output = output
        self.flushThreshold = flushThreshold
        buffer.reserveCapacity(flushThreshold + 4096)
    }

    /// Writes a whole batch to a string.
    public static func string(for batch: Batch) -> String {
        var text = ""
        var writer = BatchXMLWriter { text += $0 }
        // Writing to a String cannot fail.
        try! writer.writeHeader(batch.header)
        for record in batch.records { try! writer.writeRecord(record) }
        try! writer.finish()
        return text
    }

    /// Starts the document: XML declaration, root element and header, and opens `Records`.
    public mutating func writeHeader(_ header: BatchHeader) throws {
        append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
        append("<Batch xmlns=\"\(Self.namespace)\" schemaVersion=\"")
        appendEscaped(header.schemaVersion)
        append("\">\n")
        open("Header", 1)
        leaf("BatchId", header.batchId, 2)
        open("Sender", 2)
        leaf("Country", header.sender.country, 3)
        leaf("AgencyId", header.sender.agencyId, 3)
        close("Sender", 2)
        switch header.recipients {
        case .allPartners:
            append("    <Recipients>\n      <AllPartners/>\n    </Recipients>\n")
        case .countries(let countries):
            open("Recipients", 2)
            for country in countries { leaf("Country", country, 3) }
            close("Recipients", 2)
        }
        leaf("CreatedAt", header.createdAt, 2)
        leaf("SequenceNumber", String(header.sequenceNumber), 2)
        leaf("DefaultHandlingCode", header.defaultHandlingCode.rawValue, 2)
        close("Header", 1)
        append("  <Records>\n")
        try flushIfNeeded()
    }

    /// Appends one record.
    public mutating func writeRecord(_ record: Record) throws {
        switch record {
        case .seizure(let seizure): writeSeizure(seizure)
        case .shipment(let shipment): writeShipment(shipment)
        }
        try flushIfNeeded()
    }

    /// Appends a record already written by ``fragment(for:)`` (as a node keeps records to serve them again).
    public mutating func writeRecordXML(_ fragment: String) throws {
        append(fragment)
        try flushIfNeeded()
    }

    /// One record as it appears inside `Records` (indented, no namespace declaration of its own).
    public static func fragment(for record: Record) -> String {
        var text = ""
        var writer = BatchXMLWriter(flushThreshold: 0) { text += $0 }
        // Writing to a String cannot fail.
        try! writer.writeRecord(record)
        return text
    }

    /// Closes `Records` and the root element, and hands over what is left.
    public mutating func finish() throws {
        append("  </Records>\n</Batch>\n")
        try output(String(decoding: buffer, as: UTF8.self))
        buffer = []
    }

    private mutating func flushIfNeeded() throws {
        if buffer.count >= flushThreshold {
            try output(String(decoding: buffer, as: UTF8.self))
            buffer.removeAll(keepingCapacity: true)
        }
    }

    private mutating func append(_ text: String) {
        // Native strings are contiguous UTF-8: one copy. (The generic `append(contentsOf: text.utf8)` walked the
        // view byte by byte: ~1% of a node's CPU under pushes.)
        if text.utf8.withContiguousStorageIfAvailable({ buffer.append(contentsOf: $0) }) == nil {
            buffer.append(contentsOf: Array(text.utf8))
        }
    }

    /// Appends `text` escaped for element content and attribute values: `&`, `<`, `>`, `"` and CR become
    /// references; runs of other bytes are copied as they are (every byte of those five is ASCII, so no UTF-8
    /// sequence is split).
    private mutating func appendEscaped(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var runStart = 0
            for index in 0..<bytes.count {
                let reference: StaticString
                switch bytes[index] {
                case UInt8(ascii: "&"): reference = "&amp;"
                case UInt8(ascii: "<"): reference = "&lt;"
                case UInt8(ascii: ">"): reference = "&gt;"
                case UInt8(ascii: "\""): reference = "&quot;"
                case 0x0D: reference = "&#13;"
                default: continue
                }
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
                buffer.append(contentsOf: UnsafeBufferPointer(start: reference.utf8Start, count: reference.utf8CodeUnitCount))
                runStart = index + 1
            }
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...]))
        }
    }

    // MARK: Records

    private mutating func recordHeader(_ id: String, _ revision: Int, _ status: RecordStatus,
                                       _ reason: WithdrawalReason?) {
        leaf("RecordId", id, 3)
        leaf("Revision", String(revision), 3)
        leaf("Status", status.rawValue, 3)
        optional("WithdrawalReason", reason?.rawValue, 3)
    }

    private mutating func writeSeizure(_ record: SeizureRecord) {
        open("Seizure", 2)
        recordHeader(record.recordId, record.revision, record.status, record.withdrawalReason)
        leaf("IncidentType", record.incidentType.rawValue, 3)
        leaf("SeizureDateTime", record.seizureDateTime, 3)
        open("SeizingAuthority", 3)
        leaf("Type", record.seizingAuthority.type.rawValue, 4)
        optional("Name", record.seizingAuthority.name, 4)
        close("SeizingAuthority", 3)
        leaf("CaseReference", record.caseReference, 3)
        location("Location", record.location, 3)
        optional("HandlingCode", record.handlingCode?.rawValue, 3)
        evaluation(record.evaluation, 3)
        open("Items", 3)
        for item in record.items { self.item(item, 4) }
        close("Items", 3)
        links("ShipmentLinks", "ShipmentRef", record.shipmentLinks, 3)
        parties(record.parties, 3)
        vehicles(record.vehicles, 3)
        optional("Remarks", record.remarks, 3)
        leaf("RetentionUntil", record.retentionUntil, 3)
        close("Seizure", 2)
    }

    private mutating func writeShipment(_ record: ShipmentRecord) {
        open("Shipment", 2)
        recordHeader(record.recordId, record.revision, record.status, record.withdrawalReason)
        leaf("TransportMode", record.transportMode.rawValue, 3)
        location("Origin", record.origin, 3)
        if !record.transit.isEmpty {
            open("Transit", 3)
            for country in record.transit { leaf("Country", country, 4) }
            close("Transit", 3)
        }
        location("Destination", record.destination, 3)
        optional("HandlingCode", record.handlingCode?.rawValue, 3)
        if let evaluation = record.evaluation { self.evaluation(evaluation, 3) }
        parties(record.parties, 3)
        if !record.containers.isEmpty {
            open("Containers", 3)
            for container in record.containers { leaf("Container", container, 4) }
            close("Containers", 3)
        }
        vehicles(record.vehicles, 3)
        if !record.transportDocuments.isEmpty {
            open("TransportDocuments", 3)
            for document in record.transportDocuments {
                leaf("Document", document.number, 4, attributes: [("type", document.type.rawValue)])
            }
            close("TransportDocuments", 3)
        }
        optional("CustomsMRN", record.customsMRN, 3)
        if let goods = record.declaredGoods { self.goods("DeclaredGoods", goods, 3) }
        if let goods = record.goodsFound { self.goods("GoodsFound", goods, 3) }
        optional("DepartureDate", record.departureDate, 3)
        optional("ArrivalDate", record.arrivalDate, 3)
        optional("InterceptionDate", record.interceptionDate, 3)
        links("SeizureLinks", "SeizureRef", record.seizureLinks, 3)
        optional("Remarks", record.remarks, 3)
        leaf("RetentionUntil", record.retentionUntil, 3)
        close("Shipment", 2)
    }

    // MARK: Parts

    private mutating func location(_ name: String, _ location: Location, _ depth: Int) {
        open(name, depth)
        leaf("Country", location.country, depth + 1)
        optional("NutsCode", location.nutsCode, depth + 1)
        optional("UNLocode", location.unLocode, depth + 1)
        optional("Municipality", location.municipality, depth + 1)
        optional("Latitude", location.latitude.map(Self.decimal), depth + 1)
        optional("Longitude", location.longitude.map(Self.decimal), depth + 1)
        close(name, depth)
    }

    private mutating func evaluation(_ evaluation: Evaluation, _ depth: Int) {
        open("Evaluation", depth)
        leaf("Source", evaluation.source.rawValue, depth + 1)
        leaf("Information", evaluation.information.rawValue, depth + 1)
        close("Evaluation", depth)
    }

    private mutating func item(_ item: Item, _ depth: Int) {
        open("Item", depth)
        leaf("Category", item.category.rawValue, depth + 1)
        optional("ProductName", item.productName, depth + 1)
        optional("Brand", item.brand, depth + 1)
        optional("Manufacturer", item.manufacturer, depth + 1)
        optional("CountryOfManufacture", item.countryOfManufacture, depth + 1)
        optional("CERegistrationNumber", item.ceRegistrationNumber, depth + 1)
        optional("UNNumber", item.unNumber, depth + 1)
        optional("HazardDivision", item.hazardDivision?.rawValue, depth + 1)
        optional("HSCode", item.hsCode, depth + 1)
        leaf("Quantity", Self.decimal(item.quantity.value), depth + 1, attributes: [("unit", item.quantity.unit.rawValue)])
        optional("GrossMassKg", item.grossMassKg.map(Self.decimal), depth + 1)
        if let neq = item.netExplosiveQuantity {
            leaf("NetExplosiveQuantity", Self.decimal(neq.kg), depth + 1, attributes: [("basis", neq.basis.rawValue)])
        }
        close("Item", depth)
    }

    private mutating func links(_ list: String, _ name: String, _ links: [RecordLink], _ depth: Int) {
        guard !links.isEmpty else { return }
        open(list, depth)
        for link in links {
            leaf(name, link.recordId, depth + 1, attributes: link.external ? [("external", "true")] : [])
        }
        close(list, depth)
    }

    private mutating func parties(_ parties: [Party], _ depth: Int) {
        guard !parties.isEmpty else { return }
        open("Parties", depth)
        for party in parties {
            indent(depth + 1)
            append("<Party role=\"\(party.role.rawValue)\">\n")
            if let person = party.person {
                open("Person", depth + 2)
                leaf("Pseudonym", person.pseudonym, depth + 3)
                optional("Nationality", person.nationality, depth + 3)
                optional("BirthYear", person.birthYear.map { String($0) }, depth + 3)
                close("Person", depth + 2)
            } else if let organisation = party.organisation {
                open("Organisation", depth + 2)
                leaf("Name", organisation.name, depth + 3)
                optional("RegistrationNumber", organisation.registrationNumber, depth + 3)
                optional("VatNumber", organisation.vatNumber, depth + 3)
                optional("Country", organisation.country, depth + 3)
                close("Organisation", depth + 2)
            }
            close("Party", depth + 1)
        }
        close("Parties", depth)
    }

    private mutating func vehicles(_ vehicles: [Vehicle], _ depth: Int) {
        guard !vehicles.isEmpty else { return }
        open("Vehicles", depth)
        for vehicle in vehicles {
            open("Vehicle", depth + 1)
            leaf("Plate", vehicle.plate, depth + 2)
            leaf("RegistrationCountry", vehicle.registrationCountry, depth + 2)
            close("Vehicle", depth + 1)
        }
        close("Vehicles", depth)
    }

    private mutating func goods(_ name: String, _ goods: Goods, _ depth: Int) {
        open(name, depth)
        leaf("Description", goods.description, depth + 1)
        optional("HSCode", goods.hsCode, depth + 1)
        optional("GrossMassKg", goods.grossMassKg.map(Self.decimal), depth + 1)
        close(name, depth)
    }

    // MARK: Text

    /// Indentation by depth, made once (the writer appends them for every element).
    private static let indents = (0...16).map { String(repeating: "  ", count: $0) }

    private mutating func indent(_ depth: Int) {
        append(depth < Self.indents.count ? Self.indents[depth] : String(repeating: "  ", count: depth))
    }

    private mutating func open(_ name: String, _ depth: Int) {
        indent(depth)
        append("<")
        append(name)
        append(">\n")
    }

    private mutating func close(_ name: String, _ depth: Int) {
        indent(depth)
        append("</")
        append(name)
        append(">\n")
    }

    private mutating func leaf(_ name: String, _ value: String, _ depth: Int,
                               attributes: [(String, String)] = []) {
        indent(depth)
        append("<")
        append(name)
        for (attribute, attributeValue) in attributes {
            append(" ")
            append(attribute)
            append("=\"")
            appendEscaped(attributeValue)
            append("\"")
        }
        append(">")
        appendEscaped(value)
        append("</")
        append(name)
        append(">\n")
    }

    private mutating func optional(_ name: String, _ value: String?, _ depth: Int) {
        if let value { leaf(name, value, depth) }
    }

    /// A number in the shortest text that reads back to the same Double, as xs:decimal: no exponent, no
    /// trailing ".0" (so 96.0 is written 96 and 1e16 is written 10000000000000000).
    public static func decimal(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        if value == 0 { return "0" }
        // Swift's description is the shortest text that reads back to the same value; only its form changes here.
        var text = value.description
        // Fast path, most values: no exponent, so the description is already a decimal ("12.5", "0.25", "-3.0").
        if !text.utf8.contains(where: { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
            if text.hasSuffix(".0") { text.removeLast(2) }
            return text
        }
        var negative = false
        if text.hasPrefix("-") {
            negative = true
            text.removeFirst()
        }
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...]) ?? 0
            text = String(text[..<e])
        }
        let point = text.firstIndex(of: ".").map { text.distance(from: text.startIndex, to: $0) } ?? text.count
        var digits = text.filter { $0 != "." }
        var pointPosition = point + exponent
        // Drop leading zeros, keeping the point where it belongs.
        while digits.count > 1, digits.first == "0" {
            digits.removeFirst()
            pointPosition -= 1
        }
        var result: String
        if pointPosition <= 0 {
            result = "0." + String(repeating: "0", count: -pointPosition) + digits
        } else if pointPosition >= digits.count {
            result = digits + String(repeating: "0", count: pointPosition - digits.count)
        } else {
            let index = digits.index(digits.startIndex, offsetBy: pointPosition)
            result = digits[..<index] + "." + digits[index...]
        }
        if result.contains(".") {
            while result.hasSuffix("0") { result.removeLast() }
            if result.hasSuffix(".") { result.removeLast() }
        }
        return negative ? "-" + result : result
    }
}
