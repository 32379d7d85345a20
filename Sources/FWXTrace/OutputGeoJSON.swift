// A TraceResult as GeoJSON (RFC 7946): seizure points and flow lines, for QGIS and other GIS tools.

/// Writes the map of a ``TraceResult`` as a GeoJSON FeatureCollection (RFC 7946): WGS84 longitude/latitude, no `crs`
/// member (RFC 7946 has none; GIS tools read such files as EPSG:4326).
///
/// - **Points**, one per entry of ``TraceResult/points``: the seizure's coordinates when the record gives them, else
///   the centroid of its country (``CountryCentroids``). Properties: `feature` (`seizure`), `recordId`, `country`,
///   `date`, `neqKg`, and `position` (`record` or `country centroid`).
/// - **Lines**, one per route (``TraceResult/routes``) or per flow row (``TraceResult/flows``), through the
///   centroids of origin, transit countries and destination. Properties: `feature` (`route` or `flow`), `route`
///   (`CN → PL → NL`), `origin`, `transit` (`;`-joined), `destination`, `records`, `seizures`, `shipments`,
///   `neqKg`, `grossKg`; routes also `rank` and their change against the previous period (`currentPeriod`,
///   `previousPeriod`, `recordsChange`, `neqChangeKg`, or null), flows `period`, `category`, `items` and the regions.
///
/// A point whose country has no centroid and no coordinates, and a line with an unknown country or fewer than two
/// distinct places (a route within one country), cannot be drawn: they are left out and counted in the collection's
/// one foreign member, `omitted`: `{"points": n, "lines": n, "unknownCountries": [...]}`. Parsers that do not know
/// it ignore it (RFC 7946 §6.1).
public enum TraceGeoJSON {
    /// Which lines the collection holds.
    public enum Lines: String, Sendable, CaseIterable {
        /// One line per listed route over the whole range (the default).
        case routes
        /// One line per flow row: per period, route and category.
        case flows
        /// Points only.
        case none
    }

    /// The GeoJSON text of `result`: a FeatureCollection of seizure points, then lines.
    public static func render(_ result: TraceResult, lines: Lines = .routes) -> String {
        var text = ""
        // The sink cannot fail, so neither can the writing.
        try! write(result, lines: lines) { text += $0 }
        return text
    }

    /// Writes the text of ``render(_:lines:)`` in pieces of about `pieceSize` bytes, each given to `sink` as soon
    /// as it is complete. An error of `sink` stops the writing and is thrown.
    public static func write(_ result: TraceResult, lines: Lines = .routes, pieceSize: Int = 1 << 20,
                             to sink: (_ piece: String) throws -> Void) throws {
        try TextPieces.write(pieceSize: pieceSize, to: sink) { try write(result, lines: lines, to: &$0) }
    }

    private static func write(_ result: TraceResult, lines: Lines, to out: inout TextPieces) throws {
        try out += "{\n\"type\": \"FeatureCollection\",\n\"features\": [\n"
        var isFirst = true
        func add(_ feature: String) throws {
            if !isFirst { try out += ",\n" }
            isFirst = false
            try out += feature
        }
        var omittedPoints = 0, omittedLines = 0
        var unknown: Set<String> = []

        for point in result.points {
            let position: (longitude: Double, latitude: Double, source: String)
            if let latitude = point.latitude, let longitude = point.longitude, latitude.isFinite, longitude.isFinite,
               abs(latitude) <= 90, abs(longitude) <= 180 {
                position = (longitude, latitude, "record")
            } else if let centroid = CountryCentroids.coordinate(of: point.country) {
                position = (centroid.longitude, centroid.latitude, "country centroid")
            } else {
                omittedPoints += 1
                unknown.insert(point.country)
                continue
            }
            try add(feature(
                id: point.recordId,
                geometry: "{\"type\": \"Point\", \"coordinates\": \(pair(position.longitude, position.latitude))}",
                properties: [
                    ("feature", string("seizure")), ("recordId", string(point.recordId)),
                    ("country", string(point.country)), ("date", string(point.date)), ("neqKg", number(point.neqKg)),
                    ("position", string(position.source)),
                ]))
        }

        func line(_ countries: [String?]) -> String? {
            var positions: [GeoCoordinate] = []
            var missing = false
            for country in countries {
                guard let country, let centroid = CountryCentroids.coordinate(of: country) else {
                    missing = true
                    if let country { unknown.insert(country) }
                    continue
                }
                if positions.last != centroid { positions.append(centroid) }
            }
            guard !missing, positions.count >= 2 else {
                omittedLines += 1
                return nil
            }
            let coordinates = positions.map { pair($0.longitude, $0.latitude) }.joined(separator: ", ")
            return "{\"type\": \"LineString\", \"coordinates\": [\(coordinates)]}"
        }

        switch lines {
        case .routes:
            for (index, route) in result.routes.enumerated() {
                let countries = [route.origin] + route.transit.map(Optional.some) + [route.destination]
                guard let geometry = line(countries) else { continue }
                let change = route.change
                try add(feature(id: route.label, geometry: geometry, properties: [
                    ("feature", string("route")), ("rank", String(index + 1)), ("route", string(route.label)),
                    ("origin", string(route.origin)), ("transit", string(route.transit.joined(separator: ";"))),
                    ("destination", string(route.destination)), ("records", String(route.records)),
                    ("seizures", String(route.seizures)), ("shipments", String(route.shipments)),
                    ("neqKg", number(route.neqKg)), ("grossKg", number(route.grossKg)),
                    ("currentPeriod", string(change == nil ? nil : result.comparison?.current)),
                    ("previousPeriod", string(change == nil ? nil : result.comparison?.previous)),
                    ("recordsChange", change.map { String($0.recordsChange) } ?? "null"),
                    ("neqChangeKg", change.map { number($0.neqChangeKg) } ?? "null"),
                ]))
            }
        case .flows:
            for flow in result.flows {
                let countries = [flow.origin] + flow.transit.map(Optional.some) + [flow.destination]
                guard let geometry = line(countries) else { continue }
                let label = ([flow.origin ?? "?"] + flow.transit + [flow.destination ?? "?"])
                    .joined(separator: " → ")
                try add(feature(id: nil, geometry: geometry, properties: [
                    ("feature", string("flow")), ("period", string(flow.period)), ("route", string(label)),
                    ("origin", string(flow.origin)), ("originRegion", string(flow.originRegion)),
                    ("transit", string(flow.transit.joined(separator: ";"))),
                    ("destination", string(flow.destination)), ("destinationRegion", string(flow.destinationRegion)),
                    ("category", string(flow.category?.rawValue)), ("records", String(flow.records)),
                    ("seizures", String(flow.seizures)), ("shipments", String(flow.shipments)),
                    ("items", String(flow.items)), ("neqKg", number(flow.neqKg)), ("grossKg", number(flow.grossKg)),
                ]))
            }
        case .none:
            break
        }

        let unknownList = unknown.sorted().map { string($0) }.joined(separator: ", ")
        try out += "\n],\n\"omitted\": {\"points\": \(omittedPoints), \"lines\": \(omittedLines), "
            + "\"unknownCountries\": [\(unknownList)]}\n}\n"
    }

    private static func feature(id: String?, geometry: String, properties: [(String, String)]) -> String {
        let members = properties.map { "\(string($0.0)): \($0.1)" }.joined(separator: ", ")
        let idMember = id.map { "\"id\": \(string($0)), " } ?? ""
        return "{\"type\": \"Feature\", \(idMember)\"geometry\": \(geometry), \"properties\": {\(members)}}"
    }

    private static func string(_ text: String?) -> String {
        text.map(OutputEscape.jsonString) ?? "null"
    }

    private static func number(_ value: Double) -> String { OutputNumber.plain(value, maxPlaces: 3) }

    /// `[longitude, latitude]`, 6 decimals at most (about 0.1 m).
    private static func pair(_ longitude: Double, _ latitude: Double) -> String {
        "[\(OutputNumber.plain(longitude, maxPlaces: 6)), \(OutputNumber.plain(latitude, maxPlaces: 6))]"
    }
}
