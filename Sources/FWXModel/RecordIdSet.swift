/// The record ids seen in one batch, 16 bytes per id whatever its length: each id is kept as a 96-bit
/// fingerprint (two independently seeded hashes; a false match among a million ids has a probability near
/// 10^-17) with the line where it first appeared and its record kind. An open-addressing table, so there is no
/// per-entry allocation; it doubles at 70% load.
struct RecordIdSet {
    struct Entry {
        /// Fingerprint part one; 0 marks an empty slot (real values have the low bit set).
        var high: UInt64
        var low: UInt32
        /// Line number (31 bits, saturating) and the record kind in the top bit.
        var lineAndKind: UInt32
    }

    private var slots: [Entry]
    private(set) var count = 0

    init() {
        slots = Array(repeating: Entry(high: 0, low: 0, lineAndKind: 0), count: 1024)
    }

    static func fingerprint(_ id: String) -> (UInt64, UInt32) {
        var first = Hasher()
        first.combine(0x5EED_0001 as UInt64)
        first.combine(id)
        var second = Hasher()
        second.combine(0x5EED_0002 as UInt64)
        second.combine(id)
        return (UInt64(bitPattern: Int64(first.finalize())) | 1, UInt32(truncatingIfNeeded: second.finalize()))
    }

    /// The line and kind recorded for `id`, or nil when it was not seen.
    func lookup(_ fingerprint: (UInt64, UInt32)) -> (line: Int, isShipment: Bool)? {
        let mask = slots.count - 1
        var index = Int(truncatingIfNeeded: fingerprint.0 >> 7) & mask
        while slots[index].high != 0 {
            if slots[index].high == fingerprint.0 && slots[index].low == fingerprint.1 {
                let value = slots[index].lineAndKind
                return (Int(value & 0x7FFF_FFFF), value & 0x8000_0000 != 0)
            }
            index = (index + 1) & mask
        }
        return nil
    }

    /// Records `id` unless it is already there.
    mutating func insert(_ fingerprint: (UInt64, UInt32), line: Int, isShipment: Bool) {
        if (count + 1) * 10 > slots.count * 7 { grow() }
        let lineAndKind = UInt32(min(line, 0x7FFF_FFFF)) | (isShipment ? 0x8000_0000 : 0)
        if place(Entry(high: fingerprint.0, low: fingerprint.1, lineAndKind: lineAndKind), in: &slots) { count += 1 }
    }

    private func place(_ entry: Entry, in table: inout [Entry]) -> Bool {
        let mask = table.count - 1
        var index = Int(truncatingIfNeeded: entry.high >> 7) & mask
        while table[index].high != 0 {
            if table[index].high == entry.high && table[index].low == entry.low { return false }
            index = (index + 1) & mask
        }
        table[index] = entry
        return true
    }

    private mutating func grow() {
        var bigger = Array(repeating: Entry(high: 0, low: 0, lineAndKind: 0), count: slots.count * 2)
        for entry in slots where entry.high != 0 { _ = place(entry, in: &bigger) }
        slots = bigger
    }
}
