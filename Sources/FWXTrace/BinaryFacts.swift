// Facts read in place from their binary form, so that adding a stored record allocates nothing.
import FWXModel

/// One record's facts as they lie in their binary form (``RecordFacts/binary()``), checked once and then read in
/// place: strings are byte ranges of the buffer, lists are walked when used. ``TraceEngine`` adds these without
/// building a ``RecordFacts`` (the decoder's strings and arrays, and their reference counting, were over half of
/// the time of a trace over a node's store). Valid only while the buffer is.
struct BinaryFacts {
    let bytes: UnsafeRawBufferPointer
    private(set) var recordId: Range<Int> = 0..<0
    private(set) var flags: UInt8 = 0
    private(set) var owner: Range<Int> = 0..<0
    private(set) var date: Range<Int>?
    private(set) var originCountry: Range<Int>?
    private(set) var originRegion: Range<Int>?
    private(set) var destinationCountry: Range<Int>?
    private(set) var destinationRegion: Range<Int>?
    private(set) var transitCount = 0
    private var transitStart = 0
    private(set) var locationCountry: Range<Int>?
    private(set) var latitude: Double?
    private(set) var longitude: Double?
    private(set) var categoryCount = 0
    private var categoriesStart = 0
    private(set) var totals = RecordFacts.Amounts()
    private(set) var keyCount = 0
    private var keysStart = 0

    var isShipment: Bool { flags & 1 != 0 }
    var isWithdrawn: Bool { flags & 2 != 0 }

    /// Checks the whole form (lengths, counts, enumeration indexes, nothing left over); nil when it is truncated,
    /// of another version or malformed, exactly when ``RecordFacts/init(binary:)`` throws.
    init?(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        var cursor = BinaryCursor(bytes: bytes)
        guard cursor.byte() == RecordFacts.binaryVersion,
              let recordId = cursor.string(), let flags = cursor.byte(),
              Int(flags >> 2 & 0b111) <= HandlingCode.allCases.count,
              let owner = cursor.string()
        else { return nil }
        self.recordId = recordId
        self.flags = flags
        self.owner = owner
        if flags & 1 << 5 != 0 {
            guard let date = cursor.string() else { return nil }
            self.date = date
        }
        if flags & 1 << 6 != 0 {
            guard let (country, region) = cursor.place() else { return nil }
            originCountry = country
            originRegion = region
        }
        if flags & 1 << 7 != 0 {
            guard let (country, region) = cursor.place() else { return nil }
            destinationCountry = country
            destinationRegion = region
        }
        guard let transitCount = cursor.count() else { return nil }
        self.transitCount = transitCount
        transitStart = cursor.position
        for _ in 0..<transitCount { guard cursor.string() != nil else { return nil } }
        switch cursor.byte() {
        case 0: break
        case 1:
            guard let country = cursor.string() else { return nil }
            locationCountry = country
        case 2:
            guard let country = cursor.string(), let latitude = cursor.double(), let longitude = cursor.double(),
                  latitude.isFinite, longitude.isFinite
            else { return nil }
            locationCountry = country
            self.latitude = latitude
            self.longitude = longitude
        default: return nil
        }
        guard let categoryCount = cursor.count() else { return nil }
        self.categoryCount = categoryCount
        categoriesStart = cursor.position
        for _ in 0..<categoryCount {
            guard let index = cursor.byte(), Int(index) < TraceEngine.categoryCount, cursor.amounts() != nil
            else { return nil }
        }
        guard let totals = cursor.amounts(), let keyCount = cursor.count() else { return nil }
        self.totals = totals
        self.keyCount = keyCount
        keysStart = cursor.position
        for _ in 0..<keyCount {
            guard let kind = cursor.byte(), Int(kind) < LinkKind.allCases.count, cursor.string() != nil,
                  let roles = cursor.varint(), roles <= UInt64(UInt16.max)
            else { return nil }
        }
        guard cursor.isAtEnd else { return nil }
    }

    /// The UTF-8 of one of the ranges above.
    subscript(range: Range<Int>) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[range]) }

    /// Each transit country, in order.
    func forEachTransit(_ body: (UnsafeRawBufferPointer) -> Void) {
        var cursor = BinaryCursor(bytes: bytes, position: transitStart)
        for _ in 0..<transitCount { body(self[cursor.string()!]) }
    }

    /// Each category the record has: its index (``TraceEngine/index(of:)``) and amounts.
    func forEachCategory(_ body: (Int, RecordFacts.Amounts) -> Void) {
        var cursor = BinaryCursor(bytes: bytes, position: categoriesStart)
        for _ in 0..<categoryCount {
            let index = Int(cursor.byte()!)
            body(index, cursor.amounts()!)
        }
    }

    /// Each link key: its kind's index in ``LinkKind/allCases``, its value's UTF-8 and its party roles.
    func forEachKey(_ body: (Int, UnsafeRawBufferPointer, UInt16) -> Void) {
        var cursor = BinaryCursor(bytes: bytes, position: keysStart)
        for _ in 0..<keyCount {
            let kind = Int(cursor.byte()!)
            let value = cursor.string()!
            body(kind, self[value], UInt16(cursor.varint()!))
        }
    }
}

/// Reads the binary form, checking every length against the bytes left; nil when something does not fit.
private struct BinaryCursor {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    var isAtEnd: Bool { position == bytes.count }

    mutating func byte() -> UInt8? {
        guard position < bytes.count else { return nil }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func varint() -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard let next = byte(), shift < 64 else { return nil }
            value |= UInt64(next & 0x7F) << shift
            if next < 0x80 { return value }
            shift += 7
        }
    }

    /// A count or length: at most the number of bytes left.
    mutating func count() -> Int? {
        guard let value = varint(), value <= UInt64(bytes.count - position) else { return nil }
        return Int(value)
    }

    mutating func string() -> Range<Int>? {
        guard let length = count() else { return nil }
        defer { position += length }
        return position..<position + length
    }

    mutating func double() -> Double? {
        guard bytes.count - position >= 8 else { return nil }
        var bits: UInt64 = 0
        for offset in 0..<8 { bits |= UInt64(bytes[position + offset]) << (offset * 8) }
        position += 8
        return Double(bitPattern: bits)
    }

    mutating func place() -> (country: Range<Int>, region: Range<Int>?)? {
        guard let country = string() else { return nil }
        switch byte() {
        case 0: return (country, nil)
        case 1:
            guard let region = string() else { return nil }
            return (country, region)
        default: return nil
        }
    }

    /// Item count and kilograms; nil for a count beyond 2^32 or a kilogram value that is not finite (no record
    /// has those, and they would overflow the engine's sums or have no JSON form).
    mutating func amounts() -> RecordFacts.Amounts? {
        // Amounts beyond TraceEngine.maxKilograms are refused like non-finite ones: no sum of them can overflow.
        guard let items = varint(), items <= UInt64(UInt32.max), let neq = double(), let gross = double(),
              neq.isFinite, gross.isFinite,
              abs(neq) <= TraceEngine.maxKilograms, abs(gross) <= TraceEngine.maxKilograms
        else { return nil }
        return RecordFacts.Amounts(items: Int(items), neqKg: neq, grossKg: gross)
    }
}
