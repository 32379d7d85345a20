public import FWXModel

/// What a link key identifies: the kinds of value that, shared by two records, join them into one cluster.
public enum LinkKind: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    /// An ISO 6346 container number.
    case container
    /// A vehicle: registration country and plate.
    case vehicle
    /// An organisation's name, normalised (``NameNormaliser/organisation(_:)``).
    case organisationName
    /// An organisation's registration number (company register), matched exactly.
    case organisationRegistration
    /// An organisation's VAT number, matched exactly.
    case vat
    /// The CE registration number of an item (notified body - category - number), matched exactly.
    case ceRegistration
    /// A product: product name and brand, normalised (``NameNormaliser/product(name:brand:)``).
    case product
    /// A person's pseudonym, matched exactly.
    case person

    /// Words for people: `container`, `organisation name`, `VAT number` ….
    public var label: String {
        switch self {
        case .container: return "container"
        case .vehicle: return "vehicle"
        case .organisationName: return "organisation name"
        case .organisationRegistration: return "registration number"
        case .vat: return "VAT number"
        case .ceRegistration: return "CE registration"
        case .product: return "product"
        case .person: return "person"
        }
    }

    /// The words after a party role: `carrier name`, `driver pseudonym`.
    var labelAfterRole: String {
        switch self {
        case .organisationName: return "name"
        case .person: return "pseudonym"
        default: return label
        }
    }

    private var order: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (lhs: LinkKind, rhs: LinkKind) -> Bool { lhs.order < rhs.order }
}

/// A normalised value that can link records: two records that carry an equal key are joined.
///
/// Build keys with the factory functions (``container(_:)``, ``vehicle(plate:registrationCountry:)`` …), which
/// normalise the raw value the same way ``RecordFacts/of(_:)`` does; a search for a container number typed by an
/// analyst then finds the records that carry it however it was written.
public struct LinkKey: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    public var kind: LinkKind
    /// The normalised value (`MSCU1234565`, `PL:WA12345`, `PYROTRANS`).
    public var value: String

    /// A key from an already normalised value.
    public init(kind: LinkKind, value: String) {
        self.kind = kind
        self.value = value
    }

    /// `container MSCU1234565`.
    public var description: String { "\(kind.label) \(value)" }

    /// The key described with the party roles it was seen in: `carrier name PYROTRANS`,
    /// `consignor/carrier VAT number NL123456789B01`; without roles the same as ``description``.
    public func description(roles: PartyRoles) -> String {
        roles.isEmpty ? description : "\(roles) \(kind.labelAfterRole) \(value)"
    }

    public static func < (lhs: LinkKey, rhs: LinkKey) -> Bool {
        lhs.kind != rhs.kind ? lhs.kind < rhs.kind : lhs.value < rhs.value
    }

    // MARK: Factories (nil when nothing is left after normalisation)

    /// The key of a container number.
    public static func container(_ number: String) -> LinkKey? {
        make(.container, NameNormaliser.container(number))
    }

    /// The key of a vehicle by plate and registration country.
    public static func vehicle(plate: String, registrationCountry: String) -> LinkKey? {
        make(.vehicle, NameNormaliser.plate(plate, registrationCountry: registrationCountry))
    }

    /// The key of an organisation name.
    public static func organisationName(_ name: String) -> LinkKey? {
        make(.organisationName, NameNormaliser.organisation(name))
    }

    /// The key of a company registration number.
    public static func organisationRegistration(_ number: String) -> LinkKey? {
        make(.organisationRegistration, NameNormaliser.identifier(number))
    }

    /// The key of a VAT number.
    public static func vat(_ number: String) -> LinkKey? {
        make(.vat, NameNormaliser.identifier(number))
    }

    /// The key of a CE registration number.
    public static func ceRegistration(_ number: String) -> LinkKey? {
        make(.ceRegistration, NameNormaliser.identifier(number))
    }

    /// The key of a product by name and brand.
    public static func product(name: String, brand: String? = nil) -> LinkKey? {
        make(.product, NameNormaliser.product(name: name, brand: brand))
    }

    /// The key of a pseudonymised person.
    public static func person(pseudonym: String) -> LinkKey? {
        make(.person, NameNormaliser.pseudonym(pseudonym))
    }

    private static func make(_ kind: LinkKind, _ value: String) -> LinkKey? {
        value.isEmpty ? nil : LinkKey(kind: kind, value: value)
    }
}

/// A set of party roles (consignor, carrier …), kept next to each link key of a record to say in which roles the
/// key's organisation or person appeared. Encoded as a list of role codes.
public struct PartyRoles: OptionSet, Sendable, Hashable, Codable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// The set holding one role.
    public init(_ role: PartyRole) {
        rawValue = 1 << UInt16(PartyRole.allCases.firstIndex(of: role)!)
    }

    /// The roles, in the order of ``PartyRole``'s cases.
    public var roles: [PartyRole] {
        PartyRole.allCases.filter { contains(PartyRoles($0)) }
    }

    /// `consignor/carrier`; empty when there is no role.
    public var description: String { roles.map(\.rawValue).joined(separator: "/") }

    public init(from decoder: any Decoder) throws {
        var roles: PartyRoles = []
        for role in try [PartyRole](from: decoder) { roles.insert(PartyRoles(role)) }
        self = roles
    }

    public func encode(to encoder: any Encoder) throws {
        try roles.encode(to: encoder)
    }
}
