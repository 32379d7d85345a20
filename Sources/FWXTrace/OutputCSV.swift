// CSV tables of a TraceResult (RFC 4180). docs/trace.md, section "Outputs", lists every column.

/// The tables of a ``TraceResult`` that ``TraceCSV`` writes, one CSV file each. The raw value is the name used on
/// the command line (`--table time-series`).
public enum TraceTable: String, Sendable, CaseIterable {
    /// ``TraceResult/flows``: one row per period × route × category.
    case flows
    /// ``TraceResult/routes``: the top routes with their change against the previous period.
    case routes
    /// ``TraceResult/timeSeries``: one row per period.
    case timeSeries = "time-series"
    /// ``TraceResult/categories``: one row per CE category.
    case categories
    /// ``TraceResult/clusters``: one row per cluster, members and evidence in one cell each.
    case clusters
    /// ``TraceResult/points``: one row per seizure location.
    case points
    /// ``TraceResult/countries``: one row per country, with the records it appears in per role.
    case countries
}

/// Writes the tables of a ``TraceResult`` as CSV (RFC 4180): a header row, then one row per line of the table,
/// lines ended by CRLF, fields quoted with `"` when they hold a comma, a quote, CR or LF (quotes doubled).
///
/// Numbers use `.` as the decimal separator and no thousands separator (kilograms to 3 decimals, percentages to 1,
/// coordinates to 6, trailing zeros left out); dates are ISO 8601 (`2026-09-30`) and periods as in the result
/// (`2026-09`, `2026-Q3`, `2026`). A missing value is an empty field. Lists inside a field (transit countries,
/// members) are joined by `;`.
public enum TraceCSV {
    /// The CSV text of one table of `result`, header row first.
    public static func render(_ result: TraceResult, table: TraceTable) -> String {
        var writer = CSVWriter()
        writer.row(header(of: table))
        switch table {
        case .flows:
            for flow in result.flows {
                writer.row([
                    flow.period ?? "", flow.origin ?? "", flow.originRegion ?? "", flow.transit.joined(separator: ";"),
                    flow.destination ?? "", flow.destinationRegion ?? "", flow.category?.rawValue ?? "",
                    String(flow.records), String(flow.seizures), String(flow.shipments), String(flow.items),
                    kg(flow.neqKg), kg(flow.grossKg),
                ])
            }
        case .routes:
            for (index, route) in result.routes.enumerated() {
                let change = route.change
                writer.row([
                    String(index + 1), route.label, route.origin ?? "", route.transit.joined(separator: ";"),
                    route.destination ?? "", String(route.records), String(route.seizures), String(route.shipments),
                    kg(route.neqKg), kg(route.grossKg),
                    change == nil ? "" : result.comparison?.current ?? "",
                    change == nil ? "" : result.comparison?.previous ?? "",
                    change.map { String($0.records) } ?? "", change.map { String($0.previousRecords) } ?? "",
                    change.map { String($0.recordsChange) } ?? "", percent(change?.recordsChangePercent),
                    change.map { kg($0.neqKg) } ?? "", change.map { kg($0.previousNeqKg) } ?? "",
                    change.map { kg($0.neqChangeKg) } ?? "", percent(change?.neqChangePercent),
                ])
            }
        case .timeSeries:
            for period in result.timeSeries {
                writer.row([
                    period.period, period.start, period.end, String(period.records), String(period.seizures),
                    String(period.shipments), String(period.items), kg(period.neqKg), kg(period.grossKg),
                ])
            }
        case .categories:
            for category in result.categories {
                writer.row([
                    category.category?.rawValue ?? "", String(category.records), String(category.items),
                    kg(category.neqKg), kg(category.grossKg),
                ])
            }
        case .clusters:
            for (index, cluster) in result.clusters.enumerated() {
                writer.row([
                    String(index + 1), cluster.id, String(cluster.members.count), String(cluster.seizures),
                    String(cluster.shipments), cluster.countries.joined(separator: ";"), cluster.firstDate ?? "",
                    cluster.lastDate ?? "", kg(cluster.neqKg), kg(cluster.grossKg),
                    cluster.members.joined(separator: ";"), String(cluster.sharedKeys.count),
                    describe(cluster.sharedKeys),
                ])
            }
        case .points:
            for point in result.points {
                writer.row([
                    point.recordId, point.country, point.latitude.map(coordinate) ?? "",
                    point.longitude.map(coordinate) ?? "", point.date ?? "", kg(point.neqKg),
                ])
            }
        case .countries:
            for country in result.countries {
                writer.row([
                    country.country, String(country.asOwner), String(country.asOrigin), String(country.asTransit),
                    String(country.asDestination), String(country.asLocation),
                ])
            }
        }
        return writer.text
    }

    /// The column names of a table, as its header row has them.
    public static func header(of table: TraceTable) -> [String] {
        switch table {
        case .flows:
            return ["period", "origin", "originRegion", "transit", "destination", "destinationRegion", "category",
                    "records", "seizures", "shipments", "items", "neqKg", "grossKg"]
        case .routes:
            return ["rank", "route", "origin", "transit", "destination", "records", "seizures", "shipments", "neqKg",
                    "grossKg", "currentPeriod", "previousPeriod", "currentRecords", "previousRecords",
                    "recordsChange", "recordsChangePercent", "currentNeqKg", "previousNeqKg", "neqChangeKg",
                    "neqChangePercent"]
        case .timeSeries:
            return ["period", "start", "end", "records", "seizures", "shipments", "items", "neqKg", "grossKg"]
        case .categories:
            return ["category", "records", "items", "neqKg", "grossKg"]
        case .clusters:
            return ["rank", "id", "size", "seizures", "shipments", "countries", "firstDate", "lastDate", "neqKg",
                    "grossKg", "members", "sharedKeyCount", "sharedKeys"]
        case .points:
            return ["recordId", "country", "latitude", "longitude", "date", "neqKg"]
        case .countries:
            return ["country", "asOwner", "asOrigin", "asTransit", "asDestination", "asLocation"]
        }
    }

    /// The evidence of a cluster in one field: each shared key's label and, in brackets, the members that carry it,
    /// keys separated by `; `: `container MSCU1234565 [DE-SH-1 NL-SH-2]; carrier name PYROTRANS [DE-SH-1 PL-SH-3]`.
    static func describe(_ keys: [SharedKey]) -> String {
        keys.map { "\($0.label) [\($0.members.joined(separator: " "))]" }.joined(separator: "; ")
    }

    private static func kg(_ value: Double) -> String { OutputNumber.plain(value, maxPlaces: 3) }
    private static func coordinate(_ value: Double) -> String { OutputNumber.plain(value, maxPlaces: 6) }
    private static func percent(_ value: Double?) -> String {
        value.map { OutputNumber.plain($0, maxPlaces: 1) } ?? ""
    }
}

/// Builds RFC 4180 text row by row.
struct CSVWriter {
    private(set) var text = ""

    mutating func row(_ fields: [String]) {
        for (index, field) in fields.enumerated() {
            if index > 0 { text += "," }
            text += Self.quoted(field)
        }
        text += "\r\n"
    }

    /// The field as written: quoted, with quotes doubled, when it holds `,`, `"`, CR or LF.
    static func quoted(_ field: String) -> String {
        guard field.utf8.contains(where: { $0 == 44 || $0 == 34 || $0 == 13 || $0 == 10 }) else { return field }
        var result = "\""
        for character in field.unicodeScalars {
            if character == "\"" { result += "\"\"" } else { result.unicodeScalars.append(character) }
        }
        return result + "\""
    }
}
