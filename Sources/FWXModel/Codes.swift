// Code lists of schema v1. Raw values are the codes as they appear in XML and JSON; each list is documented in
// schemas/v1/codelists.xsd.

/// Handling code, as in Europol's SIENA: who may use the information and how.
public enum HandlingCode: String, Sendable, Codable, CaseIterable, Comparable {
    case h0 = "H0", h1 = "H1", h2 = "H2", h3 = "H3"
    public static func < (lhs: HandlingCode, rhs: HandlingCode) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// CE category of a pyrotechnic article (Directive 2013/29/EU), or `unmarked` for articles with no CE marking.
public enum CECategory: String, Sendable, Codable, CaseIterable {
    case f1 = "F1", f2 = "F2", f3 = "F3", f4 = "F4", t1 = "T1", t2 = "T2", p1 = "P1", p2 = "P2"
    case unmarked
}

/// UN hazard division of class 1 goods as used for fireworks.
public enum HazardDivision: String, Sendable, Codable, CaseIterable {
    case d11G = "1.1G", d12G = "1.2G", d13G = "1.3G", d14G = "1.4G", d14S = "1.4S"
}

/// What kind of event led to a seizure.
public enum IncidentType: String, Sendable, Codable, CaseIterable {
    case borderOrRoadCheck = "border-or-road-check"
    case portOrContainerInspection = "port-or-container-inspection"
    case postalOrCourierParcel = "postal-or-courier-parcel"
    case houseSearch = "house-search"
    case storageSite = "storage-site"
    case onlineSale = "online-sale"
    case postExplosion = "post-explosion"
    case other
}

/// The kind of authority that seized the goods.
public enum AuthorityType: String, Sendable, Codable, CaseIterable {
    case police, customs, other
}

/// Whether a record is current or withdrawn (a withdrawn record travels as a tombstone).
public enum RecordStatus: String, Sendable, Codable, CaseIterable {
    case active, withdrawn
}

/// Why a record was withdrawn.
public enum WithdrawalReason: String, Sendable, Codable, CaseIterable {
    case erroneous, duplicate
    case erasureRequest = "erasure-request"
    case retentionExpired = "retention-expired"
    case legalOrder = "legal-order"
    case superseded, other
}

/// Mode of transport of a shipment.
public enum TransportMode: String, Sendable, Codable, CaseIterable {
    case road, sea, air, rail
    case postalCourier = "postal-courier"
}

/// The role a person or organisation played.
public enum PartyRole: String, Sendable, Codable, CaseIterable {
    case consignor, consignee, carrier, driver, seller, buyer, manufacturer, importer, owner, suspect, other
}

/// Unit of an item quantity.
public enum QuantityUnit: String, Sendable, Codable, CaseIterable {
    case pieces, boxes, kg
}

/// How a net explosive quantity was obtained.
public enum NEQBasis: String, Sendable, Codable, CaseIterable {
    case label, measured, estimated
}

/// Kind of transport document.
public enum TransportDocumentType: String, Sendable, Codable, CaseIterable {
    case cmr
    case billOfLading = "bill-of-lading"
    case airWaybill = "air-waybill"
    case parcelTracking = "parcel-tracking"
    case other
}

/// Source reliability in the 4x4 evaluation system (A completely reliable … X cannot be judged).
public enum SourceReliability: String, Sendable, Codable, CaseIterable {
    case a = "A", b = "B", c = "C", x = "X"
}

/// Information assessment in the 4x4 evaluation system (1 known to be true … 4 cannot be judged).
public enum InformationAssessment: String, Sendable, Codable, CaseIterable {
    case one = "1", two = "2", three = "3", four = "4"
}

/// UN numbers and the hazard division each one implies, for the fireworks entries of the UN list.
public enum UNNumbers {
    /// Fireworks UN numbers with their one permitted hazard division.
    public static let fireworksDivision: [String: HazardDivision] = [
        "0333": .d11G, "0334": .d12G, "0335": .d13G, "0336": .d14G, "0337": .d14S, "0431": .d14G, "0432": .d14S,
    ]

    /// Hazard divisions usually seen for each CE category (a mismatch is a warning, not an error).
    public static let usualDivisions: [CECategory: Set<HazardDivision>] = [
        .f1: [.d14G, .d14S],
        .f2: [.d14G, .d14S],
        .f3: [.d13G, .d14G],
        .f4: [.d11G, .d12G, .d13G, .d14G],
        .t1: [.d14G, .d14S],
        .t2: [.d11G, .d12G, .d13G, .d14G],
        .p1: [.d14G, .d14S],
        .p2: [.d11G, .d12G, .d13G, .d14G],
    ]
}
