// A TraceResult as JSON: its Codable form, keys sorted and indented, so that the same result always gives the same
// bytes and diffs of two runs are readable. Written by hand, in pieces: Foundation's JSONEncoder builds a tree of
// the whole document first, which for a million records (464 MB of JSON) took 3 GB and most of a 35-second run.
internal import Foundation

/// Writes a ``TraceResult`` as JSON and reads it back.
///
/// The document is the result's `Codable` form (property names as keys; absent optional values left out; codes such
/// as categories and link kinds as their raw strings), pretty-printed with two-space indentation, keys sorted, `/`
/// not escaped, and ended by a newline: byte for byte what `JSONEncoder` with `[.prettyPrinted, .sortedKeys,
/// .withoutEscapingSlashes]` makes of it (a test holds the two side by side). Numbers are written in their shortest
/// form that reads back to the same value, so ``decode(_:)`` gives a result equal to the one rendered.
public enum TraceJSON {
    /// The JSON bytes (UTF-8) of `result`.
    public static func render(_ result: TraceResult) -> [UInt8] {
        var bytes: [UInt8] = []
        // The sink cannot fail, so neither can the writing.
        try! write(result) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// Writes the JSON of `result` in pieces of about `pieceSize` bytes, each given to `sink` as soon as it is
    /// complete, so that the whole document is never held in memory. An error of `sink` stops the writing and is
    /// thrown.
    public static func write(_ result: TraceResult, pieceSize: Int = 1 << 20,
                             to sink: (_ piece: [UInt8]) throws -> Void) throws {
        try withoutActuallyEscaping(sink) { sink in
            var writer = JSONTextWriter(pieceSize: pieceSize, sink: sink)
            try writer.object { object in
                try object.field("categories") { try $0.array(result.categories, element: Self.category) }
                try object.field("clusterCount") { $0.number(result.clusterCount) }
                try object.field("clusters") { try $0.array(result.clusters, element: Self.cluster) }
                if let comparison = result.comparison {
                    try object.field("comparison") { writer in
                        try writer.object {
                            try $0.field("current") { $0.string(comparison.current) }
                            try $0.field("previous") { $0.string(comparison.previous) }
                        }
                    }
                }
                try object.field("countries") { try $0.array(result.countries, element: Self.country) }
                try object.field("flows") { try $0.array(result.flows, element: Self.flow) }
                try object.field("ignoredKeys") { try $0.array(result.ignoredKeys, element: Self.ignoredKey) }
                try object.field("pointCount") { $0.number(result.pointCount) }
                try object.field("points") { try $0.array(result.points, element: Self.point) }
                try object.field("query") { try Self.query(result.query, &$0) }
                try object.field("routeCount") { $0.number(result.routeCount) }
                try object.field("routes") { try $0.array(result.routes, element: Self.route) }
                try object.field("timeSeries") { try $0.array(result.timeSeries, element: Self.period) }
                try object.field("totals") { try Self.totals(result.totals, &$0) }
            }
            writer.raw("\n")
            try writer.flush()
        }
    }

    /// The result a document of ``render(_:)`` holds; throws `DecodingError` when the bytes are not such a document.
    public static func decode(_ bytes: [UInt8]) throws -> TraceResult {
        try JSONDecoder().decode(TraceResult.self, from: Data(bytes))
    }

    // MARK: Each type, its keys in sorted order

    private typealias Writer = JSONTextWriter

    private static func query(_ query: TraceResult.QuerySummary, _ writer: inout Writer) throws {
        try writer.object {
            try $0.field("categories") { try $0.array(query.categories) { $1.string($0.rawValue) } }
            try $0.field("countries") { try $0.array(query.countries) { $1.string($0) } }
            if let from = query.from { try $0.field("from") { $0.string(from) } }
            try $0.field("linkKinds") { try $0.array(query.linkKinds) { $1.string($0.rawValue) } }
            try $0.field("maxRecordsPerKey") { $0.number(query.maxRecordsPerKey) }
            try $0.field("minClusterSize") { $0.number(query.minClusterSize) }
            try $0.field("period") { $0.string(query.period.rawValue) }
            if let level = query.regionLevel { try $0.field("regionLevel") { $0.number(level) } }
            if let to = query.to { try $0.field("to") { $0.string(to) } }
        }
    }

    private static func totals(_ totals: TraceResult.Totals, _ writer: inout Writer) throws {
        try writer.object {
            try $0.field("grossKg") { $0.number(totals.grossKg) }
            try $0.field("items") { $0.number(totals.items) }
            try $0.field("neqKg") { $0.number(totals.neqKg) }
            try $0.field("recordsConsidered") { $0.number(totals.recordsConsidered) }
            try $0.field("recordsMatched") { $0.number(totals.recordsMatched) }
            try $0.field("recordsWithdrawn") { $0.number(totals.recordsWithdrawn) }
            try $0.field("seizures") { $0.number(totals.seizures) }
            try $0.field("shipments") { $0.number(totals.shipments) }
        }
    }

    private static func flow(_ row: FlowRow, _ writer: inout Writer) throws {
        try writer.object {
            if let category = row.category { try $0.field("category") { $0.string(category.rawValue) } }
            try $0.optionalString("destination", row.destination)
            try $0.optionalString("destinationRegion", row.destinationRegion)
            try $0.field("grossKg") { $0.number(row.grossKg) }
            try $0.field("items") { $0.number(row.items) }
            try $0.field("neqKg") { $0.number(row.neqKg) }
            try $0.optionalString("origin", row.origin)
            try $0.optionalString("originRegion", row.originRegion)
            try $0.optionalString("period", row.period)
            try $0.field("records") { $0.number(row.records) }
            try $0.field("seizures") { $0.number(row.seizures) }
            try $0.field("shipments") { $0.number(row.shipments) }
            try $0.field("transit") { try $0.array(row.transit) { $1.string($0) } }
        }
    }

    private static func route(_ row: RouteRow, _ writer: inout Writer) throws {
        try writer.object {
            if let change = row.change {
                try $0.field("change") { writer in
                    try writer.object {
                        try $0.field("neqChangeKg") { $0.number(change.neqChangeKg) }
                        if let percent = change.neqChangePercent { try $0.field("neqChangePercent") { $0.number(percent) } }
                        try $0.field("neqKg") { $0.number(change.neqKg) }
                        try $0.field("previousNeqKg") { $0.number(change.previousNeqKg) }
                        try $0.field("previousRecords") { $0.number(change.previousRecords) }
                        try $0.field("records") { $0.number(change.records) }
                        try $0.field("recordsChange") { $0.number(change.recordsChange) }
                        if let percent = change.recordsChangePercent {
                            try $0.field("recordsChangePercent") { $0.number(percent) }
                        }
                    }
                }
            }
            try $0.optionalString("destination", row.destination)
            try $0.field("grossKg") { $0.number(row.grossKg) }
            try $0.field("label") { $0.string(row.label) }
            try $0.field("neqKg") { $0.number(row.neqKg) }
            try $0.optionalString("origin", row.origin)
            try $0.field("records") { $0.number(row.records) }
            try $0.field("seizures") { $0.number(row.seizures) }
            try $0.field("shipments") { $0.number(row.shipments) }
            try $0.field("transit") { try $0.array(row.transit) { $1.string($0) } }
        }
    }

    private static func period(_ row: PeriodRow, _ writer: inout Writer) throws {
        try writer.object {
            try $0.field("end") { $0.string(row.end) }
            try $0.field("grossKg") { $0.number(row.grossKg) }
            try $0.field("items") { $0.number(row.items) }
            try $0.field("neqKg") { $0.number(row.neqKg) }
            try $0.field("period") { $0.string(row.period) }
            try $0.field("records") { $0.number(row.records) }
            try $0.field("seizures") { $0.number(row.seizures) }
            try $0.field("shipments") { $0.number(row.shipments) }
            try $0.field("start") { $0.string(row.start) }
        }
    }

    private static func category(_ row: CategoryRow, _ writer: inout Writer) throws {
        try writer.object {
            if let category = row.category { try $0.field("category") { $0.string(category.rawValue) } }
            try $0.field("grossKg") { $0.number(row.grossKg) }
            try $0.field("items") { $0.number(row.items) }
            try $0.field("neqKg") { $0.number(row.neqKg) }
            try $0.field("records") { $0.number(row.records) }
        }
    }

    private static func cluster(_ cluster: Cluster, _ writer: inout Writer) throws {
        try writer.object {
            try $0.field("countries") { try $0.array(cluster.countries) { $1.string($0) } }
            try $0.optionalString("firstDate", cluster.firstDate)
            try $0.field("grossKg") { $0.number(cluster.grossKg) }
            try $0.field("id") { $0.string(cluster.id) }
            try $0.optionalString("lastDate", cluster.lastDate)
            try $0.field("members") { try $0.array(cluster.members) { $1.string($0) } }
            try $0.field("neqKg") { $0.number(cluster.neqKg) }
            try $0.field("seizures") { $0.number(cluster.seizures) }
            try $0.field("sharedKeys") { try $0.array(cluster.sharedKeys, element: Self.sharedKey) }
            try $0.field("shipments") { $0.number(cluster.shipments) }
        }
    }

    private static func sharedKey(_ key: SharedKey, _ writer: inout Writer) throws {
        try writer.object {
            try $0.field("kind") { $0.string(key.kind.rawValue) }
            try $0.field("label") { $0.string(key.label) }
            try $0.field("members") { try $0.array(key.members) { $1.string($0) } }
            try $0.field("roles") { try $0.array(key.roles) { $1.string($0.rawValue) } }
            try $0.field("value") { $0.string(key.value) }
        }
    }

    private static func ignoredKey(_ key: IgnoredKey, _ writer: inout Writer) throws {
        try writer.object {
            try $0.field("kind") { $0.string(key.kind.rawValue) }
            try $0.field("label") { $0.string(key.label) }
            try $0.field("records") { $0.number(key.records) }
            try $0.field("roles") { try $0.array(key.roles) { $1.string($0.rawValue) } }
            try $0.field("value") { $0.string(key.value) }
        }
    }

    private static func point(_ point: MapPoint, _ writer: inout Writer) throws {
        try writer.object {
            try $0.field("country") { $0.string(point.country) }
            try $0.optionalString("date", point.date)
            if let latitude = point.latitude { try $0.field("latitude") { $0.number(latitude) } }
            if let longitude = point.longitude { try $0.field("longitude") { $0.number(longitude) } }
            try $0.field("neqKg") { $0.number(point.neqKg) }
            try $0.field("recordId") { $0.string(point.recordId) }
        }
    }

    private static func country(_ row: CountryRow, _ writer: inout Writer) throws {
        try writer.object {
            try $0.field("asDestination") { $0.number(row.asDestination) }
            try $0.field("asLocation") { $0.number(row.asLocation) }
            try $0.field("asOrigin") { $0.number(row.asOrigin) }
            try $0.field("asOwner") { $0.number(row.asOwner) }
            try $0.field("asTransit") { $0.number(row.asTransit) }
            try $0.field("country") { $0.string(row.country) }
        }
    }
}

/// Pretty-printed JSON text in `JSONEncoder`'s layout (two-space indent, `"key" : value`, an empty array as `[`,
/// an empty line and `]`), collected in a buffer that goes to a sink whenever it passes the piece size.
struct JSONTextWriter {
    private var buffer: [UInt8] = []
    private var depth = 0
    /// Fields written so far in the innermost open object.
    private var fieldCount = 0
    private let pieceSize: Int
    private let sink: ([UInt8]) throws -> Void

    init(pieceSize: Int, sink: @escaping ([UInt8]) throws -> Void) {
        self.pieceSize = max(1, pieceSize)
        self.sink = sink
        buffer.reserveCapacity(min(self.pieceSize, 1 << 20) + 4096)
    }

    /// An object whose fields `body` writes with ``field(_:_:)``, in sorted key order.
    mutating func object(_ body: (inout JSONTextWriter) throws -> Void) throws {
        raw("{")
        depth += 1
        let outer = fieldCount
        fieldCount = 0
        try body(&self)
        let count = fieldCount
        fieldCount = outer
        depth -= 1
        if count == 0 { raw("\n") }
        newline()
        raw("}")
    }

    /// A field of the object being written: its key, then its value written by `value`.
    mutating func field(_ name: String, _ value: (inout JSONTextWriter) throws -> Void) throws {
        if fieldCount > 0 { raw(",") }
        fieldCount += 1
        newline()
        string(name)
        raw(" : ")
        try value(&self)
    }

    /// A string field, left out when nil (as `Codable` does).
    mutating func optionalString(_ name: String, _ value: String?) throws {
        guard let value else { return }
        try field(name) { $0.string(value) }
    }

    /// An array of `elements`, each written by `element`.
    mutating func array<Element>(_ elements: [Element], element: (Element, inout JSONTextWriter) throws -> Void) throws {
        raw("[")
        depth += 1
        for (index, item) in elements.enumerated() {
            if index > 0 { raw(",") }
            newline()
            try element(item, &self)
            if buffer.count >= pieceSize {
                try sink(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        depth -= 1
        if elements.isEmpty { raw("\n") }
        newline()
        raw("]")
    }

    mutating func number(_ value: Int) { raw(String(value)) }

    /// The shortest form that reads back to the same value, without a trailing `.0` (as `JSONEncoder`).
    mutating func number(_ value: Double) {
        // JSON has no form for infinities and NaN; the engine refuses records that could make one (TraceEngine.add),
        // and should one still arrive, it is written as null rather than stopping the process.
        guard value.isFinite else { return raw("null") }
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        raw(text)
    }

    /// A string, with `"`, `\\` and control characters escaped (`/` and non-ASCII as they are).
    mutating func string(_ value: String) {
        buffer.append(0x22)
        var text = value
        let plain = text.withUTF8 { utf8 in
            // Most strings (ids, codes, names) need no escaping: copied in one go.
            guard !utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) else { return false }
            buffer.append(contentsOf: utf8)
            return true
        }
        if !plain { escape(text) }
        buffer.append(0x22)
    }

    private mutating func escape(_ value: String) {
        for byte in value.utf8 {
            switch byte {
            case 0x22: buffer.append(contentsOf: [0x5C, 0x22])
            case 0x5C: buffer.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: buffer.append(contentsOf: [0x5C, 0x6E])
            case 0x0D: buffer.append(contentsOf: [0x5C, 0x72])
            case 0x09: buffer.append(contentsOf: [0x5C, 0x74])
            case 0x08: buffer.append(contentsOf: [0x5C, 0x62])
            case 0x0C: buffer.append(contentsOf: [0x5C, 0x66])
            case 0x00..<0x20:
                buffer.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, Self.hexDigits[Int(byte >> 4)],
                                           Self.hexDigits[Int(byte & 0xF)]])
            default: buffer.append(byte)
            }
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    mutating func raw(_ text: String) { buffer.append(contentsOf: text.utf8) }

    private mutating func newline() {
        buffer.append(0x0A)
        buffer.append(contentsOf: repeatElement(0x20, count: depth * 2))
    }

    /// Hands what is left to the sink.
    mutating func flush() throws {
        if !buffer.isEmpty { try sink(buffer) }
        buffer.removeAll()
    }
}
