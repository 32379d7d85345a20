/// Builds the typed model from element trees read by the streaming parser. Trees of schema-valid documents always
/// decode; for anything else the error names the element and its line.
public struct RecordDecoder {
    private let tree: ElementTree
    private let file: String

    public init(tree: ElementTree, file: String) {
        self.tree = tree
        self.file = file
    }

    /// Decodes a `Header` tree (schema version comes from the root element's attribute).
    public func header(schemaVersion: String) throws -> BatchHeader {
        let header = tree.root
        let sender = try required(header, "Sender")
        let recipientsNode = try required(header, "Recipients")
        let recipients: Recipients = tree.child(recipientsNode, "AllPartners") != nil
            ? .allPartners : .countries(tree.children(recipientsNode, named: "Country").map(tree.text))
        let sequenceText = try text(header, "SequenceNumber")
        guard let sequence = UInt64(sequenceText) else { throw problem(header, "SequenceNumber is not a whole number") }
        return BatchHeader(
            schemaVersion: schemaVersion,
            batchId: try text(header, "BatchId"),
            sender: NodeIdentity(country: try text(sender, "Country"), agencyId: try text(sender, "AgencyId")),
            recipients: recipients,
            createdAt: try text(header, "CreatedAt"),
            sequenceNumber: sequence,
            defaultHandlingCode: try code(header, "DefaultHandlingCode"))
    }

    /// Decodes a `Seizure` or `Shipment` tree.
    public func record() throws -> Record {
        let root = tree.root
        switch tree.name(root) {
        case "Seizure": return .seizure(try seizure(root))
        case "Shipment": return .shipment(try shipment(root))
        default: throw problem(root, "expected a Seizure or Shipment element, found \(tree.name(root))")
        }
    }

    // MARK: Records

    private func seizure(_ node: Int) throws -> SeizureRecord {
        let authority = try required(node, "SeizingAuthority")
        return SeizureRecord(
            recordId: try text(node, "RecordId"),
            revision: try integer(node, "Revision"),
            status: try code(node, "Status"),
            withdrawalReason: try optionalCode(node, "WithdrawalReason"),
            incidentType: try code(node, "IncidentType"),
            seizureDateTime: try text(node, "SeizureDateTime"),
            seizingAuthority: SeizingAuthority(type: try code(authority, "Type"),
                                               name: tree.childText(authority, "Name")),
            caseReference: try text(node, "CaseReference"),
            location: try location(try required(node, "Location")),
            handlingCode: try optionalCode(node, "HandlingCode"),
            evaluation: try evaluation(try required(node, "Evaluation")),
            items: try tree.children(try required(node, "Items"), named: "Item").map(item),
            shipmentLinks: links(node, "ShipmentLinks"),
            parties: try parties(node),
            vehicles: try vehicles(node),
            remarks: tree.childText(node, "Remarks"),
            retentionUntil: try text(node, "RetentionUntil"))
    }

    private func shipment(_ node: Int) throws -> ShipmentRecord {
        ShipmentRecord(
            recordId: try text(node, "RecordId"),
            revision: try integer(node, "Revision"),
            status: try code(node, "Status"),
            withdrawalReason: try optionalCode(node, "WithdrawalReason"),
            transportMode: try code(node, "TransportMode"),
            origin: try location(try required(node, "Origin")),
            transit: tree.child(node, "Transit").map { tree.children($0, named: "Country").map(tree.text) } ?? [],
            destination: try location(try required(node, "Destination")),
            handlingCode: try optionalCode(node, "HandlingCode"),
            evaluation: try tree.child(node, "Evaluation").map(evaluation),
            parties: try parties(node),
            containers: tree.child(node, "Containers").map { tree.children($0, named: "Container").map(tree.text) } ?? [],
            vehicles: try vehicles(node),
            transportDocuments: try tree.child(node, "TransportDocuments").map { list in
                try tree.children(list, named: "Document").map { document in
                    guard let type = tree.attribute(document, "type").flatMap(TransportDocumentType.init(rawValue:)) else {
                        throw problem(document, "Document needs a type attribute (cmr, bill-of-lading, air-waybill, parcel-tracking, other)")
                    }
                    return TransportDocument(type: type, number: tree.text(document))
                }
            } ?? [],
            customsMRN: tree.childText(node, "CustomsMRN"),
            declaredGoods: try tree.child(node, "DeclaredGoods").map(goods),
            goodsFound: try tree.child(node, "GoodsFound").map(goods),
            departureDate: tree.childText(node, "DepartureDate"),
            arrivalDate: tree.childText(node, "ArrivalDate"),
            interceptionDate: tree.childText(node, "InterceptionDate"),
            seizureLinks: links(node, "SeizureLinks"),
            remarks: tree.childText(node, "Remarks"),
            retentionUntil: try text(node, "RetentionUntil"))
    }

    // MARK: Parts

    private func location(_ node: Int) throws -> Location {
        Location(country: try text(node, "Country"),
                 nutsCode: tree.childText(node, "NutsCode"),
                 unLocode: tree.childText(node, "UNLocode"),
                 municipality: tree.childText(node, "Municipality"),
                 latitude: try optionalNumber(node, "Latitude"),
                 longitude: try optionalNumber(node, "Longitude"))
    }

    private func evaluation(_ node: Int) throws -> Evaluation {
        Evaluation(source: try code(node, "Source"), information: try code(node, "Information"))
    }

    private func item(_ node: Int) throws -> Item {
        let quantityNode = try required(node, "Quantity")
        guard let unit = tree.attribute(quantityNode, "unit").flatMap(QuantityUnit.init(rawValue:)) else {
            throw problem(quantityNode, "Quantity needs a unit attribute: pieces, boxes or kg")
        }
        var neq: NetExplosiveQuantity?
        if let neqNode = tree.child(node, "NetExplosiveQuantity") {
            guard let basis = tree.attribute(neqNode, "basis").flatMap(NEQBasis.init(rawValue:)) else {
                throw problem(neqNode, "NetExplosiveQuantity needs a basis attribute: label, measured or estimated")
            }
            neq = NetExplosiveQuantity(kg: try number(neqNode), basis: basis)
        }
        return Item(category: try code(node, "Category"),
                    productName: tree.childText(node, "ProductName"),
                    brand: tree.childText(node, "Brand"),
                    manufacturer: tree.childText(node, "Manufacturer"),
                    countryOfManufacture: tree.childText(node, "CountryOfManufacture"),
                    ceRegistrationNumber: tree.childText(node, "CERegistrationNumber"),
                    unNumber: tree.childText(node, "UNNumber"),
                    hazardDivision: try optionalCode(node, "HazardDivision"),
                    hsCode: tree.childText(node, "HSCode"),
                    quantity: Quantity(try number(quantityNode), unit),
                    grossMassKg: try optionalNumber(node, "GrossMassKg"),
                    netExplosiveQuantity: neq)
    }

    private func links(_ node: Int, _ name: String) -> [RecordLink] {
        guard let list = tree.child(node, name) else { return [] }
        return tree.children(list).map { ref in
            let external = tree.attribute(ref, "external")
            return RecordLink(tree.text(ref), external: external == "true" || external == "1")
        }
    }

    private func parties(_ node: Int) throws -> [Party] {
        guard let list = tree.child(node, "Parties") else { return [] }
        return try tree.children(list, named: "Party").map { party in
            guard let role = tree.attribute(party, "role").flatMap(PartyRole.init(rawValue:)) else {
                throw problem(party, "Party needs a role attribute (consignor, consignee, carrier, driver, …)")
            }
            if let person = tree.child(party, "Person") {
                let birthYear = try tree.child(person, "BirthYear").map { yearNode -> Int in
                    guard let year = Int(tree.text(yearNode)) else { throw problem(yearNode, "BirthYear is not a year") }
                    return year
                }
                return Party(role: role, person: Person(pseudonym: try text(person, "Pseudonym"),
                                                        nationality: tree.childText(person, "Nationality"),
                                                        birthYear: birthYear))
            }
            let organisation = try required(party, "Organisation")
            return Party(role: role, organisation: Organisation(
                name: try text(organisation, "Name"),
                registrationNumber: tree.childText(organisation, "RegistrationNumber"),
                vatNumber: tree.childText(organisation, "VatNumber"),
                country: tree.childText(organisation, "Country")))
        }
    }

    private func vehicles(_ node: Int) throws -> [Vehicle] {
        guard let list = tree.child(node, "Vehicles") else { return [] }
        return try tree.children(list, named: "Vehicle").map {
            Vehicle(plate: try text($0, "Plate"), registrationCountry: try text($0, "RegistrationCountry"))
        }
    }

    private func goods(_ node: Int) throws -> Goods {
        Goods(description: try text(node, "Description"), hsCode: tree.childText(node, "HSCode"),
              grossMassKg: try optionalNumber(node, "GrossMassKg"))
    }

    // MARK: Scalars

    private func problem(_ node: Int, _ message: String) -> FWXError {
        FWXError(.conversion, "\(message) (at \(tree.xpath(node)))",
                 location: "\(file):\(tree[node].line):\(tree[node].column)")
    }

    private func required(_ node: Int, _ name: String) throws -> Int {
        guard let child = tree.child(node, name) else { throw problem(node, "\(tree.name(node)) has no \(name)") }
        return child
    }

    private func text(_ node: Int, _ name: String) throws -> String {
        tree.text(try required(node, name))
    }

    private func integer(_ node: Int, _ name: String) throws -> Int {
        let child = try required(node, name)
        guard let value = Int(tree.text(child)) else { throw problem(child, "\(name) is not a whole number") }
        return value
    }

    private func number(_ node: Int) throws -> Double {
        guard let value = Double(tree.text(node)), value.isFinite else {
            throw problem(node, "\(tree.name(node)) is not a decimal number")
        }
        return value
    }

    private func optionalNumber(_ node: Int, _ name: String) throws -> Double? {
        try tree.child(node, name).map(number)
    }

    private func code<T: RawRepresentable>(_ node: Int, _ name: String) throws -> T where T.RawValue == String {
        let child = try required(node, name)
        guard let value = T(rawValue: tree.text(child)) else {
            throw problem(child, "\(name) \(tree.text(child).quotedForMessage) is not a code of its list")
        }
        return value
    }

    private func optionalCode<T: RawRepresentable>(_ node: Int, _ name: String) throws -> T?
    where T.RawValue == String {
        guard tree.child(node, name) != nil else { return nil }
        return try code(node, name) as T
    }
}
