// What trace needs from one record, extracted once (a node stores these at ingest, so that trace over a million
// records does not parse XML again). docs/trace.md describes every field.
public import FWXModel

/// The kind of a record.
public enum RecordKind: String, Sendable, Hashable, Codable, CaseIterable {
    case seizure, shipment
}

/// Everything trace needs from one record: when, where from, through and to, how much of which category, and the
/// keys that can link it to other records. Build it with ``of(_:)``.
public struct RecordFacts: Sendable, Hashable, Codable {
    /// A country and, where known, its NUTS region code.
    public struct Place: Sendable, Hashable, Codable {
        public var country: String
        /// NUTS code as given in the record (any level), or nil.
        public var region: String?
        /// A place from a country code and an optional NUTS code.
        public init(country: String, region: String? = nil) {
            self.country = country
            self.region = region
        }
    }

    /// Where a seizure was made: the country always, WGS84 coordinates when the record gives both.
    public struct Point: Sendable, Hashable, Codable {
        public var country: String
        public var latitude: Double?
        public var longitude: Double?
        /// A point from a country and optional coordinates.
        public init(country: String, latitude: Double? = nil, longitude: Double? = nil) {
            self.country = country
            self.latitude = latitude
            self.longitude = longitude
        }
    }

    /// Totals of items: how many items (entries, not pieces), their net explosive quantity and their gross mass.
    public struct Amounts: Sendable, Hashable, Codable {
        public var items: Int
        public var neqKg: Double
        public var grossKg: Double
        /// Amounts from counts and kilograms.
        public init(items: Int = 0, neqKg: Double = 0, grossKg: Double = 0) {
            self.items = items
            self.neqKg = neqKg
            self.grossKg = grossKg
        }

        static func + (lhs: Amounts, rhs: Amounts) -> Amounts {
            // Saturating: a count past Int.max (only from facts given field by field) is refused later, when the
            // binary form is read (at most UInt32.max items), rather than trapping here.
            let (items, overflow) = lhs.items.addingReportingOverflow(rhs.items)
            return Amounts(items: overflow ? (lhs.items < 0 ? Int.min : Int.max) : items,
                           neqKg: lhs.neqKg + rhs.neqKg, grossKg: lhs.grossKg + rhs.grossKg)
        }
    }

    /// The amounts of one CE category within a record.
    public struct CategoryAmounts: Sendable, Hashable, Codable {
        public var category: CECategory
        public var amounts: Amounts
        /// The amounts of `category`.
        public init(category: CECategory, amounts: Amounts) {
            self.category = category
            self.amounts = amounts
        }
    }

    /// The record's global id (`NL-SZ-2026-0000001`).
    public var recordId: String
    public var kind: RecordKind
    /// The country that owns the record: the part of the record id before the first `-`.
    public var ownerCountry: String
    public var status: RecordStatus
    /// The record's own handling code; nil when the batch default applies.
    public var handlingCode: HandlingCode?
    /// The day of the record, `YYYY-MM-DD`: a seizure's date (as written, in its local zone); a shipment's departure,
    /// else interception, else arrival date. Nil when none is known.
    public var date: String?
    /// Where the goods came from: a shipment's origin; a seizure's country of manufacture (see ``of(_:)``), or nil.
    public var origin: Place?
    /// Transit countries of a shipment, in order; empty for seizures.
    public var transit: [String]
    /// Where the goods went: a shipment's destination; the country (and NUTS region) of a seizure's location.
    public var destination: Place?
    /// Where a seizure was made; nil for shipments.
    public var location: Point?
    /// Amounts per CE category, in the order of ``CECategory``'s cases, only categories the record has.
    public var categories: [CategoryAmounts]
    /// Amounts over all items. A shipment has no items: its gross mass is that of the goods found.
    public var totals: Amounts
    /// The record's link keys, distinct and sorted.
    public var linkKeys: [LinkKey]
    /// For each of ``linkKeys`` (same index), the party roles in which the key's organisation or person appeared;
    /// empty for keys that do not come from parties (containers, vehicles, items). May be shorter than `linkKeys`
    /// when no key has a role; missing entries are empty.
    public var linkRoles: [PartyRoles]

    /// Facts given field by field (tests and stores that keep their own columns); ``of(_:)`` is the usual way.
    public init(recordId: String, kind: RecordKind, ownerCountry: String? = nil, status: RecordStatus = .active,
                handlingCode: HandlingCode? = nil, date: String?, origin: Place? = nil, transit: [String] = [],
                destination: Place? = nil, location: Point? = nil, categories: [CategoryAmounts] = [],
                totals: Amounts? = nil, linkKeys: [LinkKey] = [], linkRoles: [PartyRoles] = []) {
        self.recordId = recordId
        self.kind = kind
        self.ownerCountry = ownerCountry ?? Self.owner(of: recordId)
        self.status = status
        self.handlingCode = handlingCode
        self.date = date
        self.origin = origin
        self.transit = transit
        self.destination = destination
        self.location = location
        self.categories = categories
        self.totals = totals ?? categories.reduce(Amounts()) { $0 + $1.amounts }
        self.linkKeys = linkKeys
        self.linkRoles = linkRoles
    }

    /// The roles of the key at `index` of ``linkKeys``.
    public func roles(at index: Int) -> PartyRoles {
        index < linkRoles.count ? linkRoles[index] : []
    }

    /// The owner country of a record id: the text before the first `-`, upper-cased.
    public static func owner(of recordId: String) -> String {
        NameNormaliser.identifier(String(recordId.prefix { $0 != "-" }))
    }

    /// The facts of a record.
    ///
    /// - A seizure's origin is the country of manufacture of its items: when items name different countries, the one
    ///   with the most net explosive quantity (then the most items, then the first named); nil when no item names
    ///   one. Its destination is its location's country and NUTS code.
    /// - An item's gross mass is its `grossMassKg`, or its quantity when that is given in kg; missing values count
    ///   as 0. A shipment's gross mass is its goods found (declared goods are what the papers claim, often cover
    ///   goods, and are not counted).
    /// - Country codes are normalised as in batches (EL → GR, UK → GB).
    public static func of(_ record: Record) -> RecordFacts {
        switch record {
        case .seizure(let seizure): return of(seizure)
        case .shipment(let shipment): return of(shipment)
        }
    }

    static func of(_ seizure: SeizureRecord) -> RecordFacts {
        var keys = KeyCollector()
        keys.add(parties: seizure.parties)
        keys.add(vehicles: seizure.vehicles)
        var perCategory: [Amounts?] = Array(repeating: nil, count: CECategory.allCases.count)
        var manufacture: [(country: String, neq: Double, items: Int)] = []
        for item in seizure.items {
            let neq = item.netExplosiveQuantity?.kg ?? 0
            let gross = item.grossMassKg ?? (item.quantity.unit == .kg ? item.quantity.value : 0)
            let index = TraceEngine.index(of: item.category)
            perCategory[index] = (perCategory[index] ?? Amounts()) + Amounts(items: 1, neqKg: neq, grossKg: gross)
            if let raw = item.countryOfManufacture {
                let country = NameNormaliser.country(raw)
                if let at = manufacture.firstIndex(where: { $0.country == country }) {
                    manufacture[at].neq += neq
                    manufacture[at].items += 1
                } else if !country.isEmpty {
                    manufacture.append((country, neq, 1))
                }
            }
            if let number = item.ceRegistrationNumber { keys.add(LinkKey.ceRegistration(number), roles: []) }
            if let name = item.productName { keys.add(LinkKey.product(name: name, brand: item.brand), roles: []) }
        }
        var origin: Place?
        if var best = manufacture.first {
            for candidate in manufacture.dropFirst()
            where candidate.neq > best.neq || (candidate.neq == best.neq && candidate.items > best.items) {
                best = candidate
            }
            origin = Place(country: best.country)
        }
        var categories: [CategoryAmounts] = []
        for (index, amounts) in perCategory.enumerated() {
            if let amounts { categories.append(CategoryAmounts(category: CECategory.allCases[index], amounts: amounts)) }
        }
        let country = NameNormaliser.country(seizure.location.country)
        // Coordinates only as a pair (a record with one of them breaks rule FWX-R014).
        let hasCoordinates = seizure.location.latitude != nil && seizure.location.longitude != nil
        let (linkKeys, linkRoles) = keys.finish()
        return RecordFacts(
            recordId: seizure.recordId, kind: .seizure, status: seizure.status, handlingCode: seizure.handlingCode,
            date: dayText(seizure.seizureDateTime), origin: origin, transit: [],
            destination: Place(country: country, region: seizure.location.nutsCode.flatMap(nonEmpty)),
            location: Point(country: country, latitude: hasCoordinates ? seizure.location.latitude : nil,
                            longitude: hasCoordinates ? seizure.location.longitude : nil),
            categories: categories, linkKeys: linkKeys, linkRoles: linkRoles)
    }

    static func of(_ shipment: ShipmentRecord) -> RecordFacts {
        var keys = KeyCollector()
        keys.add(parties: shipment.parties)
        keys.add(vehicles: shipment.vehicles)
        for container in shipment.containers { keys.add(LinkKey.container(container), roles: []) }
        let date = [shipment.departureDate, shipment.interceptionDate, shipment.arrivalDate]
            .lazy.compactMap { $0.flatMap(dayText) }.first
        let (linkKeys, linkRoles) = keys.finish()
        return RecordFacts(
            recordId: shipment.recordId, kind: .shipment, status: shipment.status, handlingCode: shipment.handlingCode,
            date: date,
            origin: Place(country: NameNormaliser.country(shipment.origin.country),
                          region: shipment.origin.nutsCode.flatMap(nonEmpty)),
            transit: shipment.transit.map(NameNormaliser.country),
            destination: Place(country: NameNormaliser.country(shipment.destination.country),
                               region: shipment.destination.nutsCode.flatMap(nonEmpty)),
            location: nil, categories: [],
            totals: Amounts(items: 0, neqKg: 0, grossKg: shipment.goodsFound?.grossMassKg ?? 0),
            linkKeys: linkKeys, linkRoles: linkRoles)
    }

    /// `YYYY-MM-DD` from the start of an xs:date or xs:dateTime, or nil when it does not start that way.
    static func dayText(_ text: String) -> String? {
        var digits = 0
        for (offset, byte) in text.utf8.prefix(10).enumerated() {
            let isDash = offset == 4 || offset == 7
            if isDash ? byte != UInt8(ascii: "-") : !(byte >= 48 && byte <= 57) { return nil }
            digits += 1
        }
        guard digits == 10 else { return nil }
        return text.utf8.count == 10 ? text : String(text.prefix(10))
    }

    private static func nonEmpty(_ text: String) -> String? {
        let trimmed = NameNormaliser.identifier(text)
        return trimmed.isEmpty ? nil : trimmed
    }
}

/// Collects a record's keys with their roles, merging duplicates.
struct KeyCollector {
    private var keys: [LinkKey] = []
    private var roles: [PartyRoles] = []

    mutating func add(_ key: LinkKey?, roles newRoles: PartyRoles) {
        guard let key else { return }
        if let index = keys.firstIndex(of: key) {
            roles[index].formUnion(newRoles)
        } else {
            keys.append(key)
            roles.append(newRoles)
        }
    }

    mutating func add(parties: [Party]) {
        for party in parties {
            let role = PartyRoles(party.role)
            if let person = party.person { add(LinkKey.person(pseudonym: person.pseudonym), roles: role) }
            if let organisation = party.organisation {
                add(LinkKey.organisationName(organisation.name), roles: role)
                if let number = organisation.registrationNumber {
                    add(LinkKey.organisationRegistration(number), roles: role)
                }
                if let number = organisation.vatNumber { add(LinkKey.vat(number), roles: role) }
            }
        }
    }

    mutating func add(vehicles: [Vehicle]) {
        for vehicle in vehicles {
            add(LinkKey.vehicle(plate: vehicle.plate, registrationCountry: vehicle.registrationCountry), roles: [])
        }
    }

    /// The keys sorted, with their roles; the roles list is empty when no key has a role.
    func finish() -> ([LinkKey], [PartyRoles]) {
        if roles.allSatisfy(\.isEmpty) { return (keys.sorted(), []) }
        let pairs = zip(keys, roles).sorted { $0.0 < $1.0 }
        return (pairs.map(\.0), pairs.map(\.1))
    }
}
