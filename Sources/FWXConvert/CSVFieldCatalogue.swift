import FWXModel

/// A field of the FWX record model that a CSV column (or a profile constant) can fill. The names are what
/// mapping profiles use (docs/csv-profiles.md lists them all); ``CSVField/all`` is the complete list.
public struct CSVField: Sendable, Hashable {
    /// Which part of the output a field belongs to.
    public enum Level: String, Sendable, Hashable {
        /// The seizure: one value per seizure (rows of a multi-item seizure repeat it or leave it empty).
        case seizure
        /// One item: each row gives its own.
        case item
        /// The shipment linked to the seizure: one value per seizure, like seizure fields.
        case shipment
    }

    /// What values a field takes and how they are read.
    public enum Kind: Sendable, Hashable {
        /// Free text up to a length.
        case text(maxLength: Int)
        /// A record id: `CC-` and 1 to 62 letters, digits, `.`, `_` or `-`.
        case recordId
        /// One code of a code list (the raw values).
        case code([String])
        /// An ISO 3166-1 alpha-2 country code (EL is read as GR, UK as GB).
        case country
        /// A decimal number, read with the profile's decimal separator.
        case decimal(minimum: Double, exclusive: Bool, maximum: Double?)
        /// A whole number.
        case integer(ClosedRange<Int>)
        /// A calendar date, read with the profile's date format.
        case date
        /// A time of day, read with the profile's time format.
        case time
        /// A date and time, read with the profile's date-time format, in the profile's time zone.
        case dateTime
        /// Countries separated by commas, semicolons, slashes, bars or spaces.
        case countryList
        /// ISO 6346 container numbers separated by commas, semicolons, slashes or bars.
        case containerList
        case unLocode, nutsCode, hsCode, unNumber, ceRegistration, hazardDivision, customsMRN, vatNumber
        /// A token (no leading or trailing space) up to a length: plates, references, pseudonyms.
        case token(maxLength: Int)
    }

    public let name: String
    public let level: Level
    public let kind: Kind
    /// One line for docs and messages.
    public let summary: String
    /// Path of the element the field becomes, below `Records` (for example `Seizure/Items/Item/Category`).
    public let xmlPath: String

    init(_ name: String, _ level: Level, _ kind: Kind, _ xmlPath: String, _ summary: String) {
        self.name = name
        self.level = level
        self.kind = kind
        self.summary = summary
        self.xmlPath = xmlPath
    }

    /// Whether the field accepts the profile's `prefix` option.
    var acceptsPrefix: Bool {
        switch kind {
        case .recordId, .text, .token: return true
        default: return false
        }
    }

    /// Whether the field accepts the profile's `format` option.
    var acceptsFormat: Bool {
        switch kind {
        case .date, .time, .dateTime: return true
        default: return false
        }
    }

    /// Whether the field accepts a per-column `decimalSeparator`.
    var isDecimal: Bool {
        if case .decimal = kind { return true }
        return false
    }

    /// The field called `name`, if there is one.
    public static func named(_ name: String) -> CSVField? { byName[name] }

    private static let byName: [String: CSVField] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    private static func codes<T: RawRepresentable & CaseIterable>(_: T.Type) -> Kind where T.RawValue == String {
        .code(T.allCases.map(\.rawValue))
    }

    /// Every field a profile can map, in documentation order.
    public static let all: [CSVField] = [
        // Seizure
        CSVField("recordId", .seizure, .recordId, "Seizure/RecordId",
                 "The seizure's record id (required, from a column). Rows with the same id in consecutive lines form one seizure."),
        CSVField("revision", .seizure, .integer(1...4_294_967_295), "Seizure/Revision", "Revision of the record; 1 when not given."),
        CSVField("status", .seizure, codes(RecordStatus.self), "Seizure/Status", "active (default) or withdrawn."),
        CSVField("withdrawalReason", .seizure, codes(WithdrawalReason.self), "Seizure/WithdrawalReason",
                 "Why a withdrawn record was withdrawn."),
        CSVField("incidentType", .seizure, codes(IncidentType.self), "Seizure/IncidentType",
                 "What led to the seizure (required)."),
        CSVField("seizureDateTime", .seizure, .dateTime, "Seizure/SeizureDateTime",
                 "Date and time of the seizure in one column (dates.dateTimeFormat)."),
        CSVField("seizureDate", .seizure, .date, "Seizure/SeizureDateTime",
                 "Date of the seizure (dates.dateFormat); with seizureTime, or dates.defaultTime when there is none."),
        CSVField("seizureTime", .seizure, .time, "Seizure/SeizureDateTime", "Time of day of the seizure (dates.timeFormat)."),
        CSVField("authorityType", .seizure, codes(AuthorityType.self), "Seizure/SeizingAuthority/Type",
                 "police, customs or other (required)."),
        CSVField("authorityName", .seizure, .text(maxLength: 200), "Seizure/SeizingAuthority/Name",
                 "Name of the seizing unit."),
        CSVField("caseReference", .seizure, .token(maxLength: 100), "Seizure/CaseReference",
                 "Case or file reference of the seizing authority (required)."),
        CSVField("location.country", .seizure, .country, "Seizure/Location/Country", "Country of the seizure (required)."),
        CSVField("location.nutsCode", .seizure, .nutsCode, "Seizure/Location/NutsCode", "NUTS region code."),
        CSVField("location.unLocode", .seizure, .unLocode, "Seizure/Location/UNLocode", "UN/LOCODE (spaces are removed)."),
        CSVField("location.municipality", .seizure, .text(maxLength: 100), "Seizure/Location/Municipality", "Municipality."),
        CSVField("location.latitude", .seizure, .decimal(minimum: -90, exclusive: false, maximum: 90),
                 "Seizure/Location/Latitude", "WGS84 latitude in degrees (give longitude too)."),
        CSVField("location.longitude", .seizure, .decimal(minimum: -180, exclusive: false, maximum: 180),
                 "Seizure/Location/Longitude", "WGS84 longitude in degrees (give latitude too)."),
        CSVField("handlingCode", .seizure, codes(HandlingCode.self), "Seizure/HandlingCode",
                 "Handling code of the record; the batch default applies when empty."),
        CSVField("evaluation.source", .seizure, codes(SourceReliability.self), "Seizure/Evaluation/Source",
                 "Source reliability A, B, C or X (required)."),
        CSVField("evaluation.information", .seizure, codes(InformationAssessment.self), "Seizure/Evaluation/Information",
                 "Information assessment 1 to 4 (required)."),
        CSVField("remarks", .seizure, .text(maxLength: 2000), "Seizure/Remarks", "Free-text remarks; no names of persons."),
        CSVField("retentionUntil", .seizure, .date, "Seizure/RetentionUntil",
                 "Last day the record may be kept; computed from `retention` when not mapped."),
        CSVField("externalShipmentRef", .seizure, .recordId, "Seizure/ShipmentLinks/ShipmentRef",
                 "Id of a shipment record held by another country (written with external=\"true\")."),
        CSVField("person.role", .seizure, codes(PartyRole.self), "Seizure/Parties/Party",
                 "Role of the person (suspect, driver, seller …)."),
        CSVField("person.pseudonym", .seizure, .token(maxLength: 128), "Seizure/Parties/Party/Person/Pseudonym",
                 "Pseudonym of the person, made by the national system; never a name."),
        CSVField("person.name", .seizure, .text(maxLength: 200), "Seizure/Parties/Party/Person/Pseudonym",
                 "Full name of the person; never written: it goes into the keyed pseudonym (docs/pseudonymisation.md)."),
        CSVField("person.birthDate", .seizure, .date, "Seizure/Parties/Party/Person/BirthYear",
                 "Date of birth; never written: it goes into the keyed pseudonym, and its year becomes BirthYear."),
        CSVField("person.idNumber", .seizure, .token(maxLength: 64), "Seizure/Parties/Party/Person/Pseudonym",
                 "Identity document number; never written: it goes into the keyed pseudonym."),
        CSVField("person.nationality", .seizure, .country, "Seizure/Parties/Party/Person/Nationality", "Nationality."),
        CSVField("person.birthYear", .seizure, .integer(1900...2100), "Seizure/Parties/Party/Person/BirthYear",
                 "Year of birth (four digits)."),
        CSVField("organisation.role", .seizure, codes(PartyRole.self), "Seizure/Parties/Party",
                 "Role of the organisation (seller, owner, importer …)."),
        CSVField("organisation.name", .seizure, .text(maxLength: 200), "Seizure/Parties/Party/Organisation/Name",
                 "Name of the organisation."),
        CSVField("organisation.registrationNumber", .seizure, .token(maxLength: 64),
                 "Seizure/Parties/Party/Organisation/RegistrationNumber", "Trade register number."),
        CSVField("organisation.vatNumber", .seizure, .vatNumber, "Seizure/Parties/Party/Organisation/VatNumber",
                 "VAT number with its country prefix (spaces and dots are removed)."),
        CSVField("organisation.country", .seizure, .country, "Seizure/Parties/Party/Organisation/Country",
                 "Country of the organisation."),
        CSVField("vehicle.plate", .seizure, .token(maxLength: 20), "Seizure/Vehicles/Vehicle/Plate",
                 "Registration plate of the vehicle involved."),
        CSVField("vehicle.registrationCountry", .seizure, .country, "Seizure/Vehicles/Vehicle/RegistrationCountry",
                 "Registration country of the vehicle."),
        // Item
        CSVField("item.category", .item, codes(CECategory.self), "Seizure/Items/Item/Category",
                 "CE category F1 … P2, or unmarked (required)."),
        CSVField("item.productName", .item, .text(maxLength: 200), "Seizure/Items/Item/ProductName", "Product name as marked."),
        CSVField("item.brand", .item, .text(maxLength: 200), "Seizure/Items/Item/Brand", "Brand."),
        CSVField("item.manufacturer", .item, .text(maxLength: 200), "Seizure/Items/Item/Manufacturer", "Manufacturer."),
        CSVField("item.countryOfManufacture", .item, .country, "Seizure/Items/Item/CountryOfManufacture",
                 "Country of manufacture."),
        CSVField("item.ceRegistrationNumber", .item, .ceRegistration, "Seizure/Items/Item/CERegistrationNumber",
                 "CE registration number NNNN-CAT-XXXX."),
        CSVField("item.unNumber", .item, .unNumber, "Seizure/Items/Item/UNNumber", "UN number (a leading `UN` is removed)."),
        CSVField("item.hazardDivision", .item, .hazardDivision, "Seizure/Items/Item/HazardDivision",
                 "Hazard division 1.1G … 1.4S (`1,4G` is read as 1.4G)."),
        CSVField("item.hsCode", .item, .hsCode, "Seizure/Items/Item/HSCode", "HS / CN code (dots and spaces are removed)."),
        CSVField("item.quantity", .item, .decimal(minimum: 0, exclusive: true, maximum: nil), "Seizure/Items/Item/Quantity",
                 "Quantity, above zero (required for an item)."),
        CSVField("item.quantityUnit", .item, codes(QuantityUnit.self), "Seizure/Items/Item/Quantity",
                 "Unit of the quantity: pieces, boxes or kg (required for an item)."),
        CSVField("item.grossMassKg", .item, .decimal(minimum: 0, exclusive: false, maximum: nil),
                 "Seizure/Items/Item/GrossMassKg", "Gross mass in kg."),
        CSVField("item.netExplosiveQuantityKg", .item, .decimal(minimum: 0, exclusive: false, maximum: nil),
                 "Seizure/Items/Item/NetExplosiveQuantity", "Net explosive quantity in kg (needs item.neqBasis)."),
        CSVField("item.neqBasis", .item, codes(NEQBasis.self), "Seizure/Items/Item/NetExplosiveQuantity",
                 "How the NEQ was obtained: label, measured or estimated."),
        // Shipment
        CSVField("shipment.recordId", .shipment, .recordId, "Shipment/RecordId",
                 "The linked shipment's record id (required, from a column, when any shipment field is mapped)."),
        CSVField("shipment.transportMode", .shipment, codes(TransportMode.self), "Shipment/TransportMode",
                 "road, sea, air, rail or postal-courier (required for a shipment)."),
        CSVField("shipment.origin.country", .shipment, .country, "Shipment/Origin/Country", "Country of origin (required for a shipment)."),
        CSVField("shipment.origin.unLocode", .shipment, .unLocode, "Shipment/Origin/UNLocode", "UN/LOCODE of origin."),
        CSVField("shipment.origin.municipality", .shipment, .text(maxLength: 100), "Shipment/Origin/Municipality",
                 "Place of origin."),
        CSVField("shipment.transit", .shipment, .countryList, "Shipment/Transit/Country",
                 "Transit countries in order, separated by commas, semicolons, slashes, bars or spaces."),
        CSVField("shipment.destination.country", .shipment, .country, "Shipment/Destination/Country",
                 "Country of destination (required for a shipment)."),
        CSVField("shipment.destination.unLocode", .shipment, .unLocode, "Shipment/Destination/UNLocode",
                 "UN/LOCODE of destination."),
        CSVField("shipment.destination.municipality", .shipment, .text(maxLength: 100), "Shipment/Destination/Municipality",
                 "Place of destination."),
        CSVField("shipment.containers", .shipment, .containerList, "Shipment/Containers/Container",
                 "ISO 6346 container numbers (check digit verified), separated by commas, semicolons, slashes or bars."),
        CSVField("shipment.transportDocument.type", .shipment, codes(TransportDocumentType.self),
                 "Shipment/TransportDocuments/Document", "cmr, bill-of-lading, air-waybill, parcel-tracking or other."),
        CSVField("shipment.transportDocument.number", .shipment, .token(maxLength: 100), "Shipment/TransportDocuments/Document",
                 "Number of the transport document (needs its type)."),
        CSVField("shipment.customsMRN", .shipment, .customsMRN, "Shipment/CustomsMRN",
                 "Movement Reference Number (check character verified)."),
        CSVField("shipment.declaredGoods.description", .shipment, .text(maxLength: 500), "Shipment/DeclaredGoods/Description",
                 "Goods as declared."),
        CSVField("shipment.declaredGoods.hsCode", .shipment, .hsCode, "Shipment/DeclaredGoods/HSCode", "Declared HS code."),
        CSVField("shipment.declaredGoods.grossMassKg", .shipment, .decimal(minimum: 0, exclusive: false, maximum: nil),
                 "Shipment/DeclaredGoods/GrossMassKg", "Declared gross mass in kg."),
        CSVField("shipment.goodsFound.description", .shipment, .text(maxLength: 500), "Shipment/GoodsFound/Description",
                 "Goods as found."),
        CSVField("shipment.goodsFound.hsCode", .shipment, .hsCode, "Shipment/GoodsFound/HSCode", "HS code of the goods found."),
        CSVField("shipment.goodsFound.grossMassKg", .shipment, .decimal(minimum: 0, exclusive: false, maximum: nil),
                 "Shipment/GoodsFound/GrossMassKg", "Gross mass found in kg."),
        CSVField("shipment.departureDate", .shipment, .date, "Shipment/DepartureDate", "Departure date."),
        CSVField("shipment.arrivalDate", .shipment, .date, "Shipment/ArrivalDate", "Arrival date."),
        CSVField("shipment.interceptionDate", .shipment, .date, "Shipment/InterceptionDate",
                 "Interception date; the seizure's date when not mapped."),
        CSVField("shipment.consignor.name", .shipment, .text(maxLength: 200), "Shipment/Parties/Party/Organisation/Name",
                 "Consignor (an organisation)."),
        CSVField("shipment.consignor.country", .shipment, .country, "Shipment/Parties/Party/Organisation/Country",
                 "Consignor's country."),
        CSVField("shipment.consignor.vatNumber", .shipment, .vatNumber, "Shipment/Parties/Party/Organisation/VatNumber",
                 "Consignor's VAT number."),
        CSVField("shipment.consignee.name", .shipment, .text(maxLength: 200), "Shipment/Parties/Party/Organisation/Name",
                 "Consignee (an organisation)."),
        CSVField("shipment.consignee.country", .shipment, .country, "Shipment/Parties/Party/Organisation/Country",
                 "Consignee's country."),
        CSVField("shipment.consignee.vatNumber", .shipment, .vatNumber, "Shipment/Parties/Party/Organisation/VatNumber",
                 "Consignee's VAT number."),
        CSVField("shipment.carrier.name", .shipment, .text(maxLength: 200), "Shipment/Parties/Party/Organisation/Name",
                 "Carrier (an organisation)."),
        CSVField("shipment.carrier.country", .shipment, .country, "Shipment/Parties/Party/Organisation/Country",
                 "Carrier's country."),
        CSVField("shipment.vehicle.plate", .shipment, .token(maxLength: 20), "Shipment/Vehicles/Vehicle/Plate",
                 "Plate of the vehicle that carried the shipment."),
        CSVField("shipment.vehicle.registrationCountry", .shipment, .country, "Shipment/Vehicles/Vehicle/RegistrationCountry",
                 "Registration country of that vehicle."),
        CSVField("shipment.remarks", .shipment, .text(maxLength: 2000), "Shipment/Remarks", "Remarks on the shipment."),
    ]

    /// Fields that identify a person and become a keyed pseudonym: never written, never quoted in a message.
    public static let keyedPersonFields = ["person.name", "person.birthDate", "person.idNumber"]

    /// Whether the field's values are personal data that messages must not quote.
    public var isPersonal: Bool { Self.keyedPersonFields.contains(name) || name == "person.pseudonym" }

    /// Field names a profile may group, for "requires" checks: a part exists when a column gives any of its fields.
    static let parts: [(prefix: String, required: [String])] = [
        ("person.", ["person.role"]),
        ("organisation.", ["organisation.role", "organisation.name"]),
        ("vehicle.", ["vehicle.plate", "vehicle.registrationCountry"]),
        ("shipment.consignor.", ["shipment.consignor.name"]),
        ("shipment.consignee.", ["shipment.consignee.name"]),
        ("shipment.carrier.", ["shipment.carrier.name"]),
        ("shipment.vehicle.", ["shipment.vehicle.plate", "shipment.vehicle.registrationCountry"]),
        ("shipment.transportDocument.", ["shipment.transportDocument.type", "shipment.transportDocument.number"]),
        ("shipment.declaredGoods.", ["shipment.declaredGoods.description"]),
        ("shipment.goodsFound.", ["shipment.goodsFound.description"]),
    ]
}
