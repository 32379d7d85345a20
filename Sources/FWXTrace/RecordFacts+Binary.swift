// A compact binary form of RecordFacts for stores: about a fifth of the JSON size and decoded without Foundation.
import FWXModel

extension RecordFacts {
    /// The first byte of the binary form; a new layout gets a new version.
    static let binaryVersion: UInt8 = 1

    /// The facts in FWX's compact binary form (docs/trace.md, "Storing facts"): version byte, then the fields in
    /// declaration order, integers as LEB128 varints, kilograms and coordinates as IEEE 754 doubles, strings as
    /// length and UTF-8. ``init(binary:)`` reads it back.
    public func binary() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128 + linkKeys.count * 24)
        appendBinary(to: &out)
        return out
    }

    /// Appends ``binary()`` to `out`.
    func appendBinary(to out: inout [UInt8]) {
        out.append(Self.binaryVersion)
        out.appendString(recordId)
        var flags: UInt8 = kind == .shipment ? 1 : 0
        if status == .withdrawn { flags |= 2 }
        if let handlingCode { flags |= UInt8(HandlingCode.allCases.firstIndex(of: handlingCode)! + 1) << 2 }
        if date != nil { flags |= 1 << 5 }
        if origin != nil { flags |= 1 << 6 }
        if destination != nil { flags |= 1 << 7 }
        out.append(flags)
        out.appendString(ownerCountry)
        if let date { out.appendString(date) }
        if let origin { out.appendPlace(origin) }
        if let destination { out.appendPlace(destination) }
        out.appendVarint(UInt64(transit.count))
        for country in transit { out.appendString(country) }
        if let location {
            let hasCoordinates = location.latitude != nil && location.longitude != nil
            out.append(hasCoordinates ? 2 : 1)
            out.appendString(location.country)
            if hasCoordinates {
                out.appendDouble(location.latitude!)
                out.appendDouble(location.longitude!)
            }
        } else {
            out.append(0)
        }
        out.appendVarint(UInt64(categories.count))
        for entry in categories {
            out.append(UInt8(TraceEngine.index(of: entry.category)))
            out.appendAmounts(entry.amounts)
        }
        out.appendAmounts(totals)
        out.appendVarint(UInt64(linkKeys.count))
        for (index, key) in linkKeys.enumerated() {
            out.append(UInt8(LinkKind.allCases.firstIndex(of: key.kind)!))
            out.appendString(key.value)
            out.appendVarint(UInt64(roles(at: index).rawValue))
        }
    }

    /// Facts from their binary form (``binary()``); throws an FWXError with code `conversion` when the bytes are
    /// truncated, of another version or malformed.
    public init(binary bytes: some Collection<UInt8>) throws {
        let array = bytes as? [UInt8] ?? Array(bytes)
        self = try array.withUnsafeBytes { buffer in
            guard let facts = BinaryFacts(buffer) else {
                throw FWXError(.conversion, "record facts in binary form are truncated, malformed or not version \(Self.binaryVersion)")
            }
            return RecordFacts(facts)
        }
    }

    /// The facts of a checked binary form, as values of their own.
    init(_ facts: BinaryFacts) {
        func text(_ range: Range<Int>) -> String { String(decoding: facts[range], as: UTF8.self) }
        func place(_ country: Range<Int>?, _ region: Range<Int>?) -> Place? {
            country.map { Place(country: text($0), region: region.map(text)) }
        }
        var transit: [String] = []
        facts.forEachTransit { transit.append(String(decoding: $0, as: UTF8.self)) }
        var categories: [CategoryAmounts] = []
        facts.forEachCategory { index, amounts in
            categories.append(CategoryAmounts(category: CECategory.allCases[index], amounts: amounts))
        }
        var keys: [LinkKey] = [], roles: [PartyRoles] = []
        facts.forEachKey { kind, value, keyRoles in
            keys.append(LinkKey(kind: LinkKind.allCases[kind], value: String(decoding: value, as: UTF8.self)))
            roles.append(PartyRoles(rawValue: keyRoles))
        }
        let handlingIndex = Int(facts.flags >> 2 & 0b111)
        self.init(recordId: text(facts.recordId), kind: facts.isShipment ? .shipment : .seizure,
                  ownerCountry: text(facts.owner), status: facts.isWithdrawn ? .withdrawn : .active,
                  handlingCode: handlingIndex == 0 ? nil : HandlingCode.allCases[handlingIndex - 1],
                  date: facts.date.map(text),
                  origin: place(facts.originCountry, facts.originRegion), transit: transit,
                  destination: place(facts.destinationCountry, facts.destinationRegion),
                  location: facts.locationCountry.map {
                      Point(country: text($0), latitude: facts.latitude, longitude: facts.longitude)
                  },
                  categories: categories, totals: facts.totals, linkKeys: keys,
                  linkRoles: roles.allSatisfy(\.isEmpty) ? [] : roles)
    }
}

extension [UInt8] {
    fileprivate mutating func appendVarint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        append(UInt8(rest))
    }

    fileprivate mutating func appendString(_ text: String) {
        appendVarint(UInt64(text.utf8.count))
        append(contentsOf: text.utf8)
    }

    fileprivate mutating func appendDouble(_ value: Double) {
        var bits = value.bitPattern
        for _ in 0..<8 {
            append(UInt8(truncatingIfNeeded: bits))
            bits >>= 8
        }
    }

    fileprivate mutating func appendPlace(_ place: RecordFacts.Place) {
        appendString(place.country)
        if let region = place.region {
            append(1)
            appendString(region)
        } else {
            append(0)
        }
    }

    fileprivate mutating func appendAmounts(_ amounts: RecordFacts.Amounts) {
        appendVarint(UInt64(Swift.max(0, amounts.items)))
        appendDouble(amounts.neqKg)
        appendDouble(amounts.grossKg)
    }
}
