// The record model of schema v1 (urn:fwx:schema:v1). Property names are the JSON keys of FWX's JSON form
// (docs/json.md); XML element names are the same words in UpperCamelCase. Timestamps and dates keep their
// ISO 8601 text so that nothing is lost between XML and JSON.

/// The node that sent a batch: its country and agency.
public struct NodeIdentity: Sendable, Hashable, Codable {
    public var country: String
    public var agencyId: String
    public init(country: String, agencyId: String) {
        self.country = country
        self.agencyId = agencyId
    }
}

/// Who a batch is for: every partner node, or a list of countries.
public enum Recipients: Sendable, Hashable, Codable {
    case allPartners
    case countries([String])

    private enum CodingKeys: String, CodingKey { case allPartners, countries }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let countries = try container.decodeIfPresent([String].self, forKey: .countries) {
            self = .countries(countries)
        } else if try container.decodeIfPresent(Bool.self, forKey: .allPartners) == true {
            self = .allPartners
        } else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                debugDescription: "recipients needs \"allPartners\": true or a \"countries\" list"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .allPartners: try container.encode(true, forKey: .allPartners)
        case .countries(let countries): try container.encode(countries, forKey: .countries)
        }
    }

    /// Whether a node of `country` is among the recipients.
    public func includes(_ country: String) -> Bool {
        switch self {
        case .allPartners: return true
        case .countries(let countries): return countries.contains(country)
        }
    }
}

/// The header of a batch: identity, sender, recipients, ordering and default handling code.
public struct BatchHeader: Sendable, Hashable, Codable {
    public var schemaVersion: String
    public var batchId: String
    public var sender: NodeIdentity
    public var recipients: Recipients
    public var createdAt: String
    /// Per-sender sequence number, increasing by one for each batch a node sends.
    public var sequenceNumber: UInt64
    public var defaultHandlingCode: HandlingCode

    public init(schemaVersion: String = "1.0", batchId: String, sender: NodeIdentity, recipients: Recipients,
                createdAt: String, sequenceNumber: UInt64, defaultHandlingCode: HandlingCode) {
        self.schemaVersion = schemaVersion
        self.batchId = batchId
        self.sender = sender
        self.recipients = recipients
        self.createdAt = createdAt
        self.sequenceNumber = sequenceNumber
        self.defaultHandlingCode = defaultHandlingCode
    }
}

/// A place: country always, region, port or municipality and coordinates where known.
public struct Location: Sendable, Hashable, Codable {
    public var country: String
    public var nutsCode: String?
    public var unLocode: String?
    public var municipality: String?
    /// WGS84 latitude in degrees.
    public var latitude: Double?
    /// WGS84 longitude in degrees.
    public var longitude: Double?

    public init(country: String, nutsCode: String? = nil, unLocode: String? = nil, municipality: String? = nil,
                latitude: Double? = nil, longitude: Double? = nil) {
        self.country = country
        self.nutsCode = nutsCode
        self.unLocode = unLocode
        self.municipality = municipality
        self.latitude = latitude
        self.longitude = longitude
    }
}

/// The 4x4 evaluation of a record: reliability of the source and assessment of the information.
public struct Evaluation: Sendable, Hashable, Codable {
    public var source: SourceReliability
    public var information: InformationAssessment
    public init(source: SourceReliability, information: InformationAssessment) {
        self.source = source
        self.information = information
    }
}

/// The authority that made a seizure.
public struct SeizingAuthority: Sendable, Hashable, Codable {
    public var type: AuthorityType
    public var name: String?
    public init(type: AuthorityType, name: String? = nil) {
        self.type = type
        self.name = name
    }
}

/// A quantity with its unit.
public struct Quantity: Sendable, Hashable, Codable {
    public var value: Double
    public var unit: QuantityUnit
    public init(_ value: Double, _ unit: QuantityUnit) {
        self.value = value
        self.unit = unit
    }
}

/// Net explosive quantity in kilograms, and how it was obtained.
public struct NetExplosiveQuantity: Sendable, Hashable, Codable {
    public var kg: Double
    public var basis: NEQBasis
    public init(kg: Double, basis: NEQBasis) {
        self.kg = kg
        self.basis = basis
    }
}

/// One seized pyrotechnic article or explosive, as marked and as measured.
public struct Item: Sendable, Hashable, Codable {
    public var category: CECategory
    public var productName: String?
    public var brand: String?
    public var manufacturer: String?
    public var countryOfManufacture: String?
    /// CE registration number: notified body - category - processing number, e.g. `0589-F4-1234`.
    public var ceRegistrationNumber: String?
    public var unNumber: String?
    public var hazardDivision: HazardDivision?
    public var hsCode: String?
    public var quantity: Quantity
    public var grossMassKg: Double?
    public var netExplosiveQuantity: NetExplosiveQuantity?

    public init(category: CECategory, productName: String? = nil, brand: String? = nil, manufacturer: String? = nil,
                countryOfManufacture: String? = nil, ceRegistrationNumber: String? = nil, unNumber: String? = nil,
                hazardDivision: HazardDivision? = nil, hsCode: String? = nil, quantity: Quantity,
                grossMassKg: Double? = nil, netExplosiveQuantity: NetExplosiveQuantity? = nil) {
        self.category = category
        self.productName = productName
        self.brand = brand
        self.manufacturer = manufacturer
        self.countryOfManufacture = countryOfManufacture
        self.ceRegistrationNumber = ceRegistrationNumber
        self.unNumber = unNumber
        self.hazardDivision = hazardDivision
        self.hsCode = hsCode
        self.quantity = quantity
        self.grossMassKg = grossMassKg
        self.netExplosiveQuantity = netExplosiveQuantity
    }
}

/// A link from one record to another, in this batch or (when `external`) held elsewhere.
public struct RecordLink: Sendable, Hashable, Codable {
    public var recordId: String
    public var external: Bool
    public init(_ recordId: String, external: Bool = false) {
        self.recordId = recordId
        self.external = external
    }
}

/// A person, pseudonymised: the owning country keeps the key that makes the pseudonym.
public struct Person: Sendable, Hashable, Codable {
    public var pseudonym: String
    public var nationality: String?
    public var birthYear: Int?
    public init(pseudonym: String, nationality: String? = nil, birthYear: Int? = nil) {
        self.pseudonym = pseudonym
        self.nationality = nationality
        self.birthYear = birthYear
    }
}

/// A company or other organisation.
public struct Organisation: Sendable, Hashable, Codable {
    public var name: String
    public var registrationNumber: String?
    public var vatNumber: String?
    public var country: String?
    public init(name: String, registrationNumber: String? = nil, vatNumber: String? = nil, country: String? = nil) {
        self.name = name
        self.registrationNumber = registrationNumber
        self.vatNumber = vatNumber
        self.country = country
    }
}

/// A person or organisation in a role (consignor, driver, seller …). Exactly one of `person` and `organisation`.
public struct Party: Sendable, Hashable, Codable {
    public var role: PartyRole
    public var person: Person?
    public var organisation: Organisation?
    public init(role: PartyRole, person: Person) {
        self.role = role
        self.person = person
    }
    public init(role: PartyRole, organisation: Organisation) {
        self.role = role
        self.organisation = organisation
    }
}

/// A vehicle by plate and registration country.
public struct Vehicle: Sendable, Hashable, Codable {
    public var plate: String
    public var registrationCountry: String
    public init(plate: String, registrationCountry: String) {
        self.plate = plate
        self.registrationCountry = registrationCountry
    }
}

/// A transport document (CMR, bill of lading, air waybill, parcel tracking number).
public struct TransportDocument: Sendable, Hashable, Codable {
    public var type: TransportDocumentType
    public var number: String
    public init(type: TransportDocumentType, number: String) {
        self.type = type
        self.number = number
    }
}

/// Goods as declared to customs or as found.
public struct Goods: Sendable, Hashable, Codable {
    public var description: String
    public var hsCode: String?
    public var grossMassKg: Double?
    public init(description: String, hsCode: String? = nil, grossMassKg: Double? = nil) {
        self.description = description
        self.hsCode = hsCode
        self.grossMassKg = grossMassKg
    }
}

/// A seizure of pyrotechnic articles: what, where, when, by whom, and what it links to.
public struct SeizureRecord: Sendable, Hashable, Codable {
    /// Global id, prefixed with the owning country, stable across revisions: `NL-SZ-2026-000001`.
    public var recordId: String
    public var revision: Int
    public var status: RecordStatus
    public var withdrawalReason: WithdrawalReason?
    public var incidentType: IncidentType
    public var seizureDateTime: String
    public var seizingAuthority: SeizingAuthority
    public var caseReference: String
    public var location: Location
    /// Handling code of this record; the batch default applies when nil.
    public var handlingCode: HandlingCode?
    public var evaluation: Evaluation
    public var items: [Item]
    public var shipmentLinks: [RecordLink]
    public var parties: [Party]
    public var vehicles: [Vehicle]
    public var remarks: String?
    public var retentionUntil: String

    public init(recordId: String, revision: Int = 1, status: RecordStatus = .active,
                withdrawalReason: WithdrawalReason? = nil, incidentType: IncidentType, seizureDateTime: String,
                seizingAuthority: SeizingAuthority, caseReference: String, location: Location,
                handlingCode: HandlingCode? = nil, evaluation: Evaluation, items: [Item],
                shipmentLinks: [RecordLink] = [], parties: [Party] = [], vehicles: [Vehicle] = [],
                remarks: String? = nil, retentionUntil: String) {
        self.recordId = recordId
        self.revision = revision
        self.status = status
        self.withdrawalReason = withdrawalReason
        self.incidentType = incidentType
        self.seizureDateTime = seizureDateTime
        self.seizingAuthority = seizingAuthority
        self.caseReference = caseReference
        self.location = location
        self.handlingCode = handlingCode
        self.evaluation = evaluation
        self.items = items
        self.shipmentLinks = shipmentLinks
        self.parties = parties
        self.vehicles = vehicles
        self.remarks = remarks
        self.retentionUntil = retentionUntil
    }
}

/// A shipment of goods: route, parties, containers, documents, declared versus found goods, and dates.
public struct ShipmentRecord: Sendable, Hashable, Codable {
    public var recordId: String
    public var revision: Int
    public var status: RecordStatus
    public var withdrawalReason: WithdrawalReason?
    public var transportMode: TransportMode
    public var origin: Location
    /// Transit countries in the order the shipment crossed them.
    public var transit: [String]
    public var destination: Location
    public var handlingCode: HandlingCode?
    public var evaluation: Evaluation?
    public var parties: [Party]
    /// ISO 6346 container numbers.
    public var containers: [String]
    public var vehicles: [Vehicle]
    public var transportDocuments: [TransportDocument]
    /// Movement Reference Number of the customs declaration.
    public var customsMRN: String?
    public var declaredGoods: Goods?
    public var goodsFound: Goods?
    public var departureDate: String?
    public var arrivalDate: String?
    public var interceptionDate: String?
    public var seizureLinks: [RecordLink]
    public var remarks: String?
    public var retentionUntil: String

    public init(recordId: String, revision: Int = 1, status: RecordStatus = .active,
                withdrawalReason: WithdrawalReason? = nil, transportMode: TransportMode, origin: Location,
                transit: [String] = [], destination: Location, handlingCode: HandlingCode? = nil,
                evaluation: Evaluation? = nil, parties: [Party] = [], containers: [String] = [],
                vehicles: [Vehicle] = [], transportDocuments: [TransportDocument] = [], customsMRN: String? = nil,
                declaredGoods: Goods? = nil, goodsFound: Goods? = nil, departureDate: String? = nil,
                arrivalDate: String? = nil, interceptionDate: String? = nil, seizureLinks: [RecordLink] = [],
                remarks: String? = nil, retentionUntil: String) {
        self.recordId = recordId
        self.revision = revision
        self.status = status
        self.withdrawalReason = withdrawalReason
        self.transportMode = transportMode
        self.origin = origin
        self.transit = transit
        self.destination = destination
        self.handlingCode = handlingCode
        self.evaluation = evaluation
        self.parties = parties
        self.containers = containers
        self.vehicles = vehicles
        self.transportDocuments = transportDocuments
        self.customsMRN = customsMRN
        self.declaredGoods = declaredGoods
        self.goodsFound = goodsFound
        self.departureDate = departureDate
        self.arrivalDate = arrivalDate
        self.interceptionDate = interceptionDate
        self.seizureLinks = seizureLinks
        self.remarks = remarks
        self.retentionUntil = retentionUntil
    }
}

/// A record of either kind. In JSON a record is an object with `"kind": "seizure"` or `"kind": "shipment"`
/// next to the record's own keys.
public enum Record: Sendable, Hashable, Codable {
    case seizure(SeizureRecord)
    case shipment(ShipmentRecord)

    private enum KindKey: String, CodingKey { case kind }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: KindKey.self)
        switch try container.decode(String.self, forKey: .kind) {
        case "seizure": self = .seizure(try SeizureRecord(from: decoder))
        case "shipment": self = .shipment(try ShipmentRecord(from: decoder))
        case let other:
            throw DecodingError.dataCorruptedError(forKey: .kind, in: container,
                debugDescription: "kind must be \"seizure\" or \"shipment\", not \(other.quotedForMessage)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: KindKey.self)
        switch self {
        case .seizure(let record):
            try container.encode("seizure", forKey: .kind)
            try record.encode(to: encoder)
        case .shipment(let record):
            try container.encode("shipment", forKey: .kind)
            try record.encode(to: encoder)
        }
    }

    public var recordId: String {
        switch self {
        case .seizure(let record): return record.recordId
        case .shipment(let record): return record.recordId
        }
    }

    public var revision: Int {
        switch self {
        case .seizure(let record): return record.revision
        case .shipment(let record): return record.revision
        }
    }

    public var status: RecordStatus {
        switch self {
        case .seizure(let record): return record.status
        case .shipment(let record): return record.status
        }
    }

    public var handlingCode: HandlingCode? {
        switch self {
        case .seizure(let record): return record.handlingCode
        case .shipment(let record): return record.handlingCode
        }
    }
}

/// A whole batch in memory. Large batches are better read record by record (see FWXXML's BatchReader).
public struct Batch: Sendable, Hashable, Codable {
    public var header: BatchHeader
    public var records: [Record]
    public init(header: BatchHeader, records: [Record]) {
        self.header = header
        self.records = records
    }
}
