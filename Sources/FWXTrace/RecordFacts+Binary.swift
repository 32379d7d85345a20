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
        return out
    }

    /// Facts from their binary form (``binary()``); throws an FWXError with code `conversion` when the bytes are
    /// truncated, of another version or malformed.
    public init(binary bytes: some Collection<UInt8>) throws {
        let array = bytes as? [UInt8] ?? Array(bytes)
        var reader = BinaryReader(bytes: array)
        guard try reader.byte() == Self.binaryVersion else {
            throw FWXError(.conversion, "record facts are not in binary version \(Self.binaryVersion)")
        }
        let recordId = try reader.string()
        let flags = try reader.byte()
        let handlingIndex = Int(flags >> 2 & 0b111)
        guard handlingIndex <= HandlingCode.allCases.count else { throw BinaryReader.malformed }
        let ownerCountry = try reader.string()
        let date = flags & 1 << 5 != 0 ? try reader.string() : nil
        let origin = flags & 1 << 6 != 0 ? try reader.place() : nil
        let destination = flags & 1 << 7 != 0 ? try reader.place() : nil
        var transit: [String] = []
        for _ in 0..<(try reader.count()) { transit.append(try reader.string()) }
        var location: Point?
        switch try reader.byte() {
        case 0: location = nil
        case 1: location = Point(country: try reader.string())
        case 2: location = Point(country: try reader.string(), latitude: try reader.double(), longitude: try reader.double())
        default: throw BinaryReader.malformed
        }
        var categories: [CategoryAmounts] = []
        for _ in 0..<(try reader.count()) {
            let index = Int(try reader.byte())
            guard index < CECategory.allCases.count else { throw BinaryReader.malformed }
            categories.append(CategoryAmounts(category: CECategory.allCases[index], amounts: try reader.amounts()))
        }
        let totals = try reader.amounts()
        var keys: [LinkKey] = [], roles: [PartyRoles] = []
        for _ in 0..<(try reader.count()) {
            let kindIndex = Int(try reader.byte())
            guard kindIndex < LinkKind.allCases.count else { throw BinaryReader.malformed }
            keys.append(LinkKey(kind: LinkKind.allCases[kindIndex], value: try reader.string()))
            let raw = try reader.varint()
            guard raw <= UInt64(UInt16.max) else { throw BinaryReader.malformed }
            roles.append(PartyRoles(rawValue: UInt16(raw)))
        }
        guard reader.isAtEnd else { throw BinaryReader.malformed }
        self.init(recordId: recordId, kind: flags & 1 != 0 ? .shipment : .seizure, ownerCountry: ownerCountry,
                  status: flags & 2 != 0 ? .withdrawn : .active,
                  handlingCode: handlingIndex == 0 ? nil : HandlingCode.allCases[handlingIndex - 1], date: date,
                  origin: origin, transit: transit, destination: destination, location: location,
                  categories: categories, totals: totals, linkKeys: keys,
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

/// Reads the binary form, checking every length against the bytes left.
private struct BinaryReader {
    static let malformed = FWXError(.conversion, "record facts in binary form are truncated or malformed")

    let bytes: [UInt8]
    var position = 0

    var isAtEnd: Bool { position == bytes.count }

    mutating func byte() throws -> UInt8 {
        guard position < bytes.count else { throw Self.malformed }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func varint() throws -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let next = try byte()
            guard shift < 64 else { throw Self.malformed }
            value |= UInt64(next & 0x7F) << shift
            if next < 0x80 { return value }
            shift += 7
        }
    }

    mutating func count() throws -> Int {
        let value = try varint()
        guard value <= UInt64(bytes.count - position) else { throw Self.malformed }
        return Int(value)
    }

    mutating func string() throws -> String {
        let length = try count()
        defer { position += length }
        return String(decoding: bytes[position..<position + length], as: UTF8.self)
    }

    mutating func double() throws -> Double {
        guard bytes.count - position >= 8 else { throw Self.malformed }
        var bits: UInt64 = 0
        for offset in 0..<8 { bits |= UInt64(bytes[position + offset]) << (offset * 8) }
        position += 8
        return Double(bitPattern: bits)
    }

    mutating func place() throws -> RecordFacts.Place {
        let country = try string()
        switch try byte() {
        case 0: return RecordFacts.Place(country: country)
        case 1: return RecordFacts.Place(country: country, region: try string())
        default: throw Self.malformed
        }
    }

    mutating func amounts() throws -> RecordFacts.Amounts {
        RecordFacts.Amounts(items: Int(clamping: try varint()), neqKg: try double(), grossKg: try double())
    }
}
