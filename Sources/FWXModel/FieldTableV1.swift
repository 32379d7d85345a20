// The record format of schema v1 (schemas/v1/records.xsd) as a field table. Entries are in the XSD's xs:sequence
// order (FieldTableTests checks it against the file); the header (batch.xsd) is still read and written by hand.

extension FieldTable {
    /// Schema v1, namespace `urn:fwx:schema:v1`.
    public static let v1 = FieldTable(schemaVersion: "1.0", namespace: "urn:fwx:schema:v1",
                                      seizure: V1.seizure, shipment: V1.shipment)
}

/// The part tables of v1; shared parts (Location, Evaluation, Party …) are one table used in several places.
private enum V1 {
    static let location = PartTable<Location>("Location", blank: Location(country: ""), [
        .text("Country", \.country, json: "country",
              csv: ["location.country", "shipment.origin.country", "shipment.destination.country"]),
        .text("NutsCode", \.nutsCode, json: "nutsCode", csv: ["location.nutsCode"]),
        .text("UNLocode", \.unLocode, json: "unLocode",
              csv: ["location.unLocode", "shipment.origin.unLocode", "shipment.destination.unLocode"]),
        .text("Municipality", \.municipality, json: "municipality",
              csv: ["location.municipality", "shipment.origin.municipality", "shipment.destination.municipality"]),
        .decimal("Latitude", \.latitude, json: "latitude", csv: ["location.latitude"]),
        .decimal("Longitude", \.longitude, json: "longitude", csv: ["location.longitude"]),
    ])

    static let evaluation = PartTable<Evaluation>("Evaluation", blank: Evaluation(source: .x, information: .four), [
        .code("Source", \.source, json: "source", csv: ["evaluation.source"]),
        .code("Information", \.information, json: "information", csv: ["evaluation.information"]),
    ])

    static let seizingAuthority = PartTable<SeizingAuthority>("SeizingAuthority", blank: SeizingAuthority(type: .other), [
        .code("Type", \.type, json: "type", csv: ["authorityType"]),
        .text("Name", \.name, json: "name", csv: ["authorityName"]),
    ])

    static let quantity = PartTable<Quantity>("Quantity", blank: Quantity(0, .pieces), [
        .attribute("unit", \.unit, missing: "Quantity needs a unit attribute: pieces, boxes or kg", json: "unit",
                   csv: ["item.quantityUnit"]),
        .content(\.value, json: "value", csv: ["item.quantity"]),
    ])

    static let netExplosiveQuantity = PartTable<NetExplosiveQuantity>(
        "NetExplosiveQuantity", blank: NetExplosiveQuantity(kg: 0, basis: .label), [
            .attribute("basis", \.basis, missing: "NetExplosiveQuantity needs a basis attribute: label, measured or estimated",
                       json: "basis", csv: ["item.neqBasis"]),
            .content(\.kg, json: "kg", csv: ["item.netExplosiveQuantityKg"]),
        ])

    static let item = PartTable<Item>("Item", blank: Item(category: .unmarked, quantity: Quantity(0, .pieces)), [
        .code("Category", \.category, json: "category", csv: ["item.category"]),
        .text("ProductName", \.productName, json: "productName", csv: ["item.productName"]),
        .text("Brand", \.brand, json: "brand", csv: ["item.brand"]),
        .text("Manufacturer", \.manufacturer, json: "manufacturer", csv: ["item.manufacturer"]),
        .text("CountryOfManufacture", \.countryOfManufacture, json: "countryOfManufacture",
              csv: ["item.countryOfManufacture"]),
        .text("CERegistrationNumber", \.ceRegistrationNumber, json: "ceRegistrationNumber",
              csv: ["item.ceRegistrationNumber"]),
        .text("UNNumber", \.unNumber, json: "unNumber", csv: ["item.unNumber"]),
        .code("HazardDivision", \.hazardDivision, json: "hazardDivision", csv: ["item.hazardDivision"]),
        .text("HSCode", \.hsCode, json: "hsCode", csv: ["item.hsCode"]),
        .part("Quantity", \.quantity, quantity, json: "quantity"),
        .decimal("GrossMassKg", \.grossMassKg, json: "grossMassKg", csv: ["item.grossMassKg"]),
        .part("NetExplosiveQuantity", \.netExplosiveQuantity, netExplosiveQuantity, json: "netExplosiveQuantity"),
    ])

    static let recordLink = PartTable<RecordLink>("RecordLink", blank: RecordLink(""), [
        .attribute("external", \.external, json: "external"),
        .content(\.recordId, json: "recordId", csv: ["externalShipmentRef"]),
    ])

    static let person = PartTable<Person>("Person", blank: Person(pseudonym: ""), [
        .text("Pseudonym", \.pseudonym, json: "pseudonym", csv: ["person.pseudonym", "person.name", "person.idNumber"]),
        .text("Nationality", \.nationality, json: "nationality", csv: ["person.nationality"]),
        .integer("BirthYear", \.birthYear, .year, json: "birthYear", csv: ["person.birthYear", "person.birthDate"]),
    ])

    static let organisation = PartTable<Organisation>("Organisation", blank: Organisation(name: ""), [
        .text("Name", \.name, json: "name",
              csv: ["organisation.name", "shipment.consignor.name", "shipment.consignee.name", "shipment.carrier.name"]),
        .text("RegistrationNumber", \.registrationNumber, json: "registrationNumber",
              csv: ["organisation.registrationNumber"]),
        .text("VatNumber", \.vatNumber, json: "vatNumber",
              csv: ["organisation.vatNumber", "shipment.consignor.vatNumber", "shipment.consignee.vatNumber"]),
        .text("Country", \.country, json: "country",
              csv: ["organisation.country", "shipment.consignor.country", "shipment.consignee.country",
                    "shipment.carrier.country"]),
    ])

    static let party = PartTable<Party>("Party", blank: {
        var party = Party(role: .other, person: Person(pseudonym: ""))
        party.person = nil
        return party
    }(), [
        .attribute("role", \.role, missing: "Party needs a role attribute (consignor, consignee, carrier, driver, …)",
                   json: "role", csv: ["person.role", "organisation.role"]),
        .part("Person", \.person, person, choice: true, json: "person"),
        .part("Organisation", \.organisation, organisation, choice: true, json: "organisation"),
    ])

    static let vehicle = PartTable<Vehicle>("Vehicle", blank: Vehicle(plate: "", registrationCountry: ""), [
        .text("Plate", \.plate, json: "plate", csv: ["vehicle.plate", "shipment.vehicle.plate"]),
        .text("RegistrationCountry", \.registrationCountry, json: "registrationCountry",
              csv: ["vehicle.registrationCountry", "shipment.vehicle.registrationCountry"]),
    ])

    static let transportDocument = PartTable<TransportDocument>(
        "TransportDocument", blank: TransportDocument(type: .other, number: ""), [
            .attribute("type", \.type,
                       missing: "Document needs a type attribute (cmr, bill-of-lading, air-waybill, parcel-tracking, other)",
                       json: "type", csv: ["shipment.transportDocument.type"]),
            .content(\.number, json: "number", csv: ["shipment.transportDocument.number"]),
        ])

    static let goods = PartTable<Goods>("Goods", blank: Goods(description: ""), [
        .text("Description", \.description, json: "description",
              csv: ["shipment.declaredGoods.description", "shipment.goodsFound.description"]),
        .text("HSCode", \.hsCode, json: "hsCode", csv: ["shipment.declaredGoods.hsCode", "shipment.goodsFound.hsCode"]),
        .decimal("GrossMassKg", \.grossMassKg, json: "grossMassKg",
                 csv: ["shipment.declaredGoods.grossMassKg", "shipment.goodsFound.grossMassKg"]),
    ])

    static let seizure = PartTable<SeizureRecord>("Seizure", blank: SeizureRecord(
        recordId: "", incidentType: .other, seizureDateTime: "", seizingAuthority: SeizingAuthority(type: .other),
        caseReference: "", location: Location(country: ""), evaluation: Evaluation(source: .x, information: .four),
        items: [], retentionUntil: ""), [
            // RecordHeader
            .text("RecordId", \.recordId, json: "recordId", csv: ["recordId"]),
            .integer("Revision", \.revision, json: "revision", csv: ["revision"]),
            .code("Status", \.status, json: "status", csv: ["status"]),
            .code("WithdrawalReason", \.withdrawalReason, json: "withdrawalReason", csv: ["withdrawalReason"]),
            // Seizure
            .code("IncidentType", \.incidentType, json: "incidentType", csv: ["incidentType"]),
            .text("SeizureDateTime", \.seizureDateTime, .timestamp, json: "seizureDateTime",
                  csv: ["seizureDateTime", "seizureDate", "seizureTime"]),
            .part("SeizingAuthority", \.seizingAuthority, seizingAuthority, json: "seizingAuthority"),
            .text("CaseReference", \.caseReference, json: "caseReference", csv: ["caseReference"]),
            .part("Location", \.location, location, json: "location"),
            .code("HandlingCode", \.handlingCode, json: "handlingCode", csv: ["handlingCode"]),
            .part("Evaluation", \.evaluation, evaluation, json: "evaluation"),
            .list("Items", item: "Item", \.items, item, wrapperRequired: true, json: "items"),
            .list("ShipmentLinks", item: "ShipmentRef", \.shipmentLinks, recordLink, anyItemName: true,
                  json: "shipmentLinks"),
            .list("Parties", item: "Party", \.parties, party, json: "parties"),
            .list("Vehicles", item: "Vehicle", \.vehicles, vehicle, json: "vehicles"),
            .text("Remarks", \.remarks, json: "remarks", csv: ["remarks"]),
            .text("RetentionUntil", \.retentionUntil, .date, json: "retentionUntil", csv: ["retentionUntil"]),
        ])

    static let shipment = PartTable<ShipmentRecord>("Shipment", blank: ShipmentRecord(
        recordId: "", transportMode: .road, origin: Location(country: ""), destination: Location(country: ""),
        retentionUntil: ""), [
            // RecordHeader
            .text("RecordId", \.recordId, json: "recordId", csv: ["shipment.recordId"]),
            .integer("Revision", \.revision, json: "revision"),
            .code("Status", \.status, json: "status"),
            .code("WithdrawalReason", \.withdrawalReason, json: "withdrawalReason"),
            // Shipment
            .code("TransportMode", \.transportMode, json: "transportMode", csv: ["shipment.transportMode"]),
            .part("Origin", \.origin, location, json: "origin"),
            .list("Transit", item: "Country", \.transit, json: "transit", csv: ["shipment.transit"]),
            .part("Destination", \.destination, location, json: "destination"),
            .code("HandlingCode", \.handlingCode, json: "handlingCode"),
            .part("Evaluation", \.evaluation, evaluation, json: "evaluation"),
            .list("Parties", item: "Party", \.parties, party, json: "parties"),
            .list("Containers", item: "Container", \.containers, json: "containers", csv: ["shipment.containers"]),
            .list("Vehicles", item: "Vehicle", \.vehicles, vehicle, json: "vehicles"),
            .list("TransportDocuments", item: "Document", \.transportDocuments, transportDocument,
                  json: "transportDocuments"),
            .text("CustomsMRN", \.customsMRN, json: "customsMRN", csv: ["shipment.customsMRN"]),
            .part("DeclaredGoods", \.declaredGoods, goods, json: "declaredGoods"),
            .part("GoodsFound", \.goodsFound, goods, json: "goodsFound"),
            .text("DepartureDate", \.departureDate, .date, json: "departureDate", csv: ["shipment.departureDate"]),
            .text("ArrivalDate", \.arrivalDate, .date, json: "arrivalDate", csv: ["shipment.arrivalDate"]),
            .text("InterceptionDate", \.interceptionDate, .date, json: "interceptionDate",
                  csv: ["shipment.interceptionDate"]),
            .list("SeizureLinks", item: "SeizureRef", \.seizureLinks, recordLink, anyItemName: true,
                  json: "seizureLinks"),
            .text("Remarks", \.remarks, json: "remarks", csv: ["shipment.remarks"]),
            .text("RetentionUntil", \.retentionUntil, .date, json: "retentionUntil"),
        ])
}
