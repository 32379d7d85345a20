// A TraceResult as one self-contained HTML page: inline CSS and server-rendered SVG, no script, no network.
import FWXModel

/// Writes a ``TraceResult`` as a self-contained HTML report for analysts.
///
/// The page needs nothing but itself: CSS is inline, charts are SVG drawn here (no JavaScript), fonts are the
/// system's, and a Content-Security-Policy forbids loading anything, so opening the report never contacts a server.
/// It shows, in order:
///
/// 1. a header with the title, when it was generated, the filters of the query and the totals;
/// 2. **routes**: an SVG flow map (country centroids on an equirectangular projection around the countries involved,
///    circles sized by NEQ, curved lines from origin through transit to destination whose width is the number of
///    records), and a table of the top routes (`CN → PL → NL`) with records, NEQ, gross mass and the change against
///    the previous period;
/// 3. a **time series** per period (bars for records, a line for NEQ, both axes labelled) and its table;
/// 4. the **category breakdown**: a table with a bar per category (NEQ);
/// 5. the **top clusters** with their evidence: members, countries, time span, NEQ and the shared keys with the
///    members that carry each;
/// 6. keys ignored by the giant-key guard, and the countries involved.
///
/// Numbers are written the same way throughout: counts with `,` between thousands, kilograms with one decimal and
/// ` kg` (`1,234.5 kg`), changes with a sign, percentages with one decimal. All text from records is escaped.
public enum TraceHTML {
    /// The HTML page of `result`.
    ///
    /// - Parameters:
    ///   - title: the page's title and heading.
    ///   - generatedAt: when the report was made, shown as given (an ISO 8601 timestamp, say).
    ///   - maxClusters: how many clusters the page details (the largest first); the rest are counted.
    public static func render(_ result: TraceResult, title: String, generatedAt: String, maxClusters: Int = 20)
        -> String {
        var page = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
            <meta name="generator" content="FWX trace">
            <title>\(esc(title))</title>
            <style>\(style)</style>
            </head>
            <body>

            """
        header(result, title: title, generatedAt: generatedAt, into: &page)
        page += "<main>\n"
        routes(result, into: &page)
        timeSeries(result, into: &page)
        categories(result, into: &page)
        clusters(result, maxClusters: max(0, maxClusters), into: &page)
        ignoredKeys(result, into: &page)
        countries(result, into: &page)
        page += "</main>\n"
        page += """
            <footer>
            <p>Figures as defined in the FWX trace documentation (docs/trace.md): NEQ is the net explosive quantity of \
            seized items; a record with items of two categories counts once in each. Map positions are approximate \
            country centres, not places of seizure. Only records the analyst's node may see were traced.</p>
            </footer>
            </body>
            </html>

            """
        return page
    }

    // MARK: Header

    private static func header(_ result: TraceResult, title: String, generatedAt: String, into page: inout String) {
        let query = result.query
        let dates: String = switch (query.from, query.to) {
        case (let from?, let to?): "\(from) to \(to)"
        case (let from?, nil): "from \(from)"
        case (nil, let to?): "up to \(to)"
        case (nil, nil): "all dates"
        }
        let categories = query.categories.isEmpty
            ? "all" : query.categories.map(\.rawValue).joined(separator: ", ") + " (only items of these count)"
        let kinds = Set(query.linkKinds) == Set(LinkKind.allCases)
            ? "every kind of key" : query.linkKinds.map(\.label).joined(separator: ", ")
        let comparison = result.comparison.map { "\($0.current) against \($0.previous)" }
            ?? "none (the range has no two complete periods)"
        let filters: [(String, String)] = [
            ("Dates", dates),
            ("Countries", query.countries.isEmpty ? "all" : query.countries.joined(separator: ", ")),
            ("Categories", categories),
            ("Periods", query.period.rawValue + (query.regionLevel.map { ", regions at NUTS level \($0)" } ?? "")),
            ("Linked by", kinds),
            ("Key guard", "keys carried by more than \(OutputNumber.count(query.maxRecordsPerKey)) records link nothing"
                + " (\(OutputNumber.count(result.ignoredKeys.count)) ignored)"),
            ("Clusters", "at least \(OutputNumber.count(query.minClusterSize)) records"),
            ("Change", comparison),
        ]
        let totals = result.totals
        let tiles: [(String, String, String?)] = [
            ("Records", OutputNumber.count(totals.recordsMatched),
             "of \(OutputNumber.count(totals.recordsConsidered)) considered; "
                + "\(OutputNumber.count(totals.recordsWithdrawn)) withdrawn, skipped"),
            ("Seizures", OutputNumber.count(totals.seizures), nil),
            ("Shipments", OutputNumber.count(totals.shipments), nil),
            ("Items", OutputNumber.count(totals.items), nil),
            ("NEQ", OutputNumber.kg(totals.neqKg), "net explosive quantity"),
            ("Gross mass", OutputNumber.kg(totals.grossKg), nil),
            ("Routes", OutputNumber.count(result.routeCount), nil),
            ("Clusters", OutputNumber.count(result.clusterCount), nil),
        ]
        page += "<header>\n<h1>\(esc(title))</h1>\n"
        page += "<p class=\"meta\">Generated \(esc(generatedAt)) by FWX trace</p>\n"
        page += "<dl class=\"filters\" id=\"filters\">\n"
        for (name, value) in filters { page += "<dt>\(esc(name))</dt><dd>\(esc(value))</dd>\n" }
        page += "</dl>\n<div class=\"tiles\" id=\"totals\">\n"
        for (name, value, note) in tiles {
            page += "<div class=\"tile\"><span class=\"tile-name\">\(esc(name))</span>"
            page += "<span class=\"tile-value\">\(esc(value))</span>"
            if let note { page += "<span class=\"tile-note\">\(esc(note))</span>" }
            page += "</div>\n"
        }
        page += "</div>\n</header>\n"
    }

    // MARK: Routes and the flow map

    private static func routes(_ result: TraceResult, into page: inout String) {
        page += "<section id=\"routes\">\n<h2>Routes</h2>\n"
        guard !result.routes.isEmpty else {
            page += "<p class=\"empty\">No routes: no record matched.</p>\n</section>\n"
            return
        }
        page += "<p>The top \(OutputNumber.count(result.routes.count)) of \(OutputNumber.count(result.routeCount)) "
            + "routes by records (then NEQ), over the whole range; each record counts once, on its route from origin "
            + "through transit to destination country.</p>\n"
        flowMap(result, into: &page)

        let comparison = result.comparison
        page += "<div class=\"table-wrap\">\n<table class=\"data\" id=\"route-table\">\n"
            + "<thead><tr><th>#</th><th>Route</th><th>Records</th>"
            + "<th>Seizures</th><th>Shipments</th><th>NEQ</th><th>Gross mass</th>"
        if let comparison {
            page += "<th>\(esc(comparison.current))</th><th>\(esc(comparison.previous))</th><th>Change</th>"
        }
        page += "</tr></thead>\n<tbody>\n"
        for (index, route) in result.routes.enumerated() {
            page += "<tr><td class=\"num\">\(index + 1)</td><td class=\"route\">\(esc(route.label))</td>"
            page += numberCells([OutputNumber.count(route.records), OutputNumber.count(route.seizures),
                                 OutputNumber.count(route.shipments), OutputNumber.kg(route.neqKg),
                                 OutputNumber.kg(route.grossKg)])
            if comparison != nil {
                if let change = route.change {
                    page += numberCells([
                        "\(OutputNumber.count(change.records)) · \(OutputNumber.kg(change.neqKg))",
                        "\(OutputNumber.count(change.previousRecords)) · \(OutputNumber.kg(change.previousNeqKg))",
                    ])
                    let trend = change.recordsChange > 0 ? "up" : change.recordsChange < 0 ? "down" : "same"
                    page += "<td class=\"num change \(trend)\">\(esc(OutputNumber.signed(change.recordsChange))) "
                        + (abs(change.recordsChange) == 1 ? "record" : "records")
                        + " (\(esc(OutputNumber.percent(change.recordsChangePercent)))); "
                        + "\(esc(OutputNumber.signedKg(change.neqChangeKg))) NEQ "
                        + "(\(esc(OutputNumber.percent(change.neqChangePercent))))</td>"
                } else {
                    page += "<td></td><td></td><td></td>"
                }
            }
            page += "</tr>\n"
        }
        page += "</tbody>\n</table>\n</div>\n</section>\n"
    }

    /// A place on the flow map.
    private struct MapPlace {
        var country: String
        var x: Double
        var y: Double
        var offMap: Bool
        var neqKg: Double = 0
        var routes = 0
    }

    private static let palette = ["#c62828", "#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457",
                                  "#4e342e", "#9e9d24", "#455a64"]

    /// The SVG flow map of the listed routes: country centroids on an equirectangular projection fitted to the
    /// European countries involved; countries outside Europe's frame (China …) are drawn, dashed, at the map's edge
    /// in their direction.
    private static func flowMap(_ result: TraceResult, into page: inout String) {
        // Routes that can be drawn: every country known and placed, at least two distinct places.
        var drawable: [(rank: Int, route: RouteRow, countries: [String])] = []
        var undrawable: [String] = []
        for (index, route) in result.routes.enumerated() {
            let places = [route.origin] + route.transit.map(Optional.some) + [route.destination]
            var countries: [String] = []
            var complete = true
            for place in places {
                guard let place, CountryCentroids.coordinate(of: place) != nil else {
                    complete = false
                    break
                }
                if countries.last != place { countries.append(place) }
            }
            if complete, countries.count >= 2 {
                drawable.append((index + 1, route, countries))
            } else {
                undrawable.append(route.label)
            }
        }
        guard !drawable.isEmpty else {
            page += "<p class=\"empty\">No route can be drawn on the map (unknown origin, a country without a known "
                + "centre, or a route within one country).</p>\n"
            return
        }

        // The frame: Europe and its neighbours; the view: the involved countries inside it, padded.
        let frame = (minLon: -25.0, maxLon: 45.0, minLat: 33.0, maxLat: 72.0)
        var involved: [String: GeoCoordinate] = [:]
        for entry in drawable {
            for country in entry.countries { involved[country] = CountryCentroids.coordinate(of: country) }
        }
        let inside = involved.values.filter {
            $0.longitude >= frame.minLon && $0.longitude <= frame.maxLon
                && $0.latitude >= frame.minLat && $0.latitude <= frame.maxLat
        }
        var view = frame
        if !inside.isEmpty {
            view = (inside.map(\.longitude).min()! - 4, inside.map(\.longitude).max()! + 4,
                    inside.map(\.latitude).min()! - 3, inside.map(\.latitude).max()! + 3)
            let lonSpan = max(view.maxLon - view.minLon, 18), latSpan = max(view.maxLat - view.minLat, 11)
            let lonCentre = (view.minLon + view.maxLon) / 2, latCentre = (view.minLat + view.maxLat) / 2
            view = (lonCentre - lonSpan / 2, lonCentre + lonSpan / 2, latCentre - latSpan / 2, latCentre + latSpan / 2)
        }
        let kx = cos(degrees: (view.minLat + view.maxLat) / 2)
        let margin = 44.0
        let scale = min(820 / ((view.maxLon - view.minLon) * kx), 520 / (view.maxLat - view.minLat))
        let width = ((view.maxLon - view.minLon) * kx * scale + 2 * margin).rounded()
        let height = ((view.maxLat - view.minLat) * scale + 2 * margin).rounded()
        func project(_ coordinate: GeoCoordinate) -> (x: Double, y: Double) {
            (margin + (coordinate.longitude - view.minLon) * kx * scale,
             margin + (view.maxLat - coordinate.latitude) * scale)
        }

        // Places, with off-map countries pulled to the edge along the ray from the centre.
        var places: [String: MapPlace] = [:]
        let centre = (x: width / 2, y: height / 2)
        let edge = (minX: margin * 0.5, maxX: width - margin * 0.5, minY: margin * 0.5, maxY: height - margin * 0.5)
        for (country, coordinate) in involved {
            var point = project(coordinate)
            var offMap = false
            if point.x < edge.minX || point.x > edge.maxX || point.y < edge.minY || point.y > edge.maxY {
                offMap = true
                let dx = point.x - centre.x, dy = point.y - centre.y
                var t = 1.0
                if dx > 0 { t = min(t, (edge.maxX - centre.x) / dx) }
                if dx < 0 { t = min(t, (edge.minX - centre.x) / dx) }
                if dy > 0 { t = min(t, (edge.maxY - centre.y) / dy) }
                if dy < 0 { t = min(t, (edge.minY - centre.y) / dy) }
                point = (centre.x + dx * t, centre.y + dy * t)
            }
            places[country] = MapPlace(country: country, x: point.x, y: point.y, offMap: offMap)
        }
        for entry in drawable {
            for country in Set(entry.countries) {
                places[country]?.neqKg += entry.route.neqKg
                places[country]?.routes += 1
            }
        }
        let maxNeq = places.values.map(\.neqKg).max() ?? 0
        func radius(_ place: MapPlace) -> Double {
            maxNeq > 0 ? 6 + 20 * (place.neqKg / maxNeq).squareRoot() : 8
        }
        let maxRecords = drawable.map(\.route.records).max() ?? 1

        var svg = "<svg class=\"flow-map\" id=\"flow-map\" viewBox=\"0 0 \(n(width)) \(n(height))\" "
            + "role=\"img\" aria-labelledby=\"flow-map-title\">\n"
            + "<title id=\"flow-map-title\">Flow map of the top routes</title>\n<defs>\n"
        for (index, colour) in palette.enumerated() {
            svg += "<marker id=\"arrow-\(index)\" viewBox=\"0 0 10 10\" refX=\"6\" refY=\"5\" markerWidth=\"2.4\" "
                + "markerHeight=\"2.4\" markerUnits=\"strokeWidth\" orient=\"auto\">"
                + "<path d=\"M0,0 L10,5 L0,10 z\" fill=\"\(colour)\"/></marker>\n"
        }
        svg += "</defs>\n<rect class=\"map-bg\" x=\"0\" y=\"0\" width=\"\(n(width))\" height=\"\(n(height))\"/>\n"

        // Graticule every 5 degrees, labelled, so that the map can be read without outlines.
        svg += "<g class=\"graticule\">\n"
        var lon = (view.minLon / 5).rounded(.up) * 5
        while lon <= view.maxLon {
            let x = project(GeoCoordinate(latitude: view.minLat, longitude: lon)).x
            svg += "<line x1=\"\(n(x))\" y1=\"\(n(margin))\" x2=\"\(n(x))\" y2=\"\(n(height - margin))\"/>"
            svg += "<text x=\"\(n(x))\" y=\"\(n(height - margin + 14))\" text-anchor=\"middle\">"
                + "\(esc(degrees(lon, positive: "E", negative: "W")))</text>\n"
            lon += 5
        }
        var lat = (view.minLat / 5).rounded(.up) * 5
        while lat <= view.maxLat {
            let y = project(GeoCoordinate(latitude: lat, longitude: view.minLon)).y
            svg += "<line x1=\"\(n(margin))\" y1=\"\(n(y))\" x2=\"\(n(width - margin))\" y2=\"\(n(y))\"/>"
            svg += "<text x=\"\(n(margin - 4))\" y=\"\(n(y + 4))\" text-anchor=\"end\">"
                + "\(esc(degrees(lat, positive: "N", negative: "S")))</text>\n"
            lat += 5
        }
        svg += "</g>\n"

        // Routes, widest first so that thin lines stay visible on top.
        var badges = ""
        svg += "<g class=\"routes\" fill=\"none\" stroke-linecap=\"round\">\n"
        let widestFirst = drawable.sorted {
            $0.route.records != $1.route.records ? $0.route.records > $1.route.records : $0.rank > $1.rank
        }
        for entry in widestFirst {
            let colourIndex = (entry.rank - 1) % palette.count
            let widthPx = 2 + 10 * Double(entry.route.records) / Double(max(1, maxRecords))
            var d = ""
            var badge: (x: Double, y: Double)?
            for (index, pair) in zip(entry.countries, entry.countries.dropFirst()).enumerated() {
                guard let from = places[pair.0], let to = places[pair.1] else { continue }
                let dx = to.x - from.x, dy = to.y - from.y
                let length = (dx * dx + dy * dy).squareRoot()
                guard length > 1 else { continue }
                // Bend to the left of the direction of travel, so that A → B and B → A do not overlap.
                let control = (x: (from.x + to.x) / 2 + dy / length * length * 0.18,
                               y: (from.y + to.y) / 2 - dx / length * length * 0.18)
                var end = (x: to.x, y: to.y)
                if index == entry.countries.count - 2 {
                    // Stop at the destination's circle, so that the arrow head shows.
                    let ex = to.x - control.x, ey = to.y - control.y
                    let el = max(1, (ex * ex + ey * ey).squareRoot())
                    let back = min(radius(to) + 1.5 * widthPx, el * 0.5)
                    end = (to.x - ex / el * back, to.y - ey / el * back)
                }
                if d.isEmpty { d = "M\(n(from.x)),\(n(from.y))" }
                d += " Q\(n(control.x)),\(n(control.y)) \(n(end.x)),\(n(end.y))"
                if badge == nil {
                    badge = (0.25 * from.x + 0.5 * control.x + 0.25 * to.x,
                             0.25 * from.y + 0.5 * control.y + 0.25 * to.y)
                }
            }
            guard !d.isEmpty else { continue }
            let tooltip = "#\(entry.rank) \(entry.route.label): \(OutputNumber.count(entry.route.records)) records, "
                + "\(OutputNumber.kg(entry.route.neqKg)) NEQ"
            svg += "<path class=\"route-line\" d=\"\(d)\" stroke=\"\(palette[colourIndex])\" "
                + "stroke-width=\"\(n(widthPx))\" marker-end=\"url(#arrow-\(colourIndex))\">"
                + "<title>\(esc(tooltip))</title></path>\n"
            if let badge {
                badges += "<g class=\"badge\"><circle cx=\"\(n(badge.x))\" cy=\"\(n(badge.y))\" r=\"9\" "
                    + "fill=\"\(palette[colourIndex])\"/><text x=\"\(n(badge.x))\" y=\"\(n(badge.y + 4))\" "
                    + "text-anchor=\"middle\">\(entry.rank)</text><title>\(esc(tooltip))</title></g>\n"
            }
        }
        svg += "</g>\n<g class=\"countries\">\n"
        let largestFirst = places.values.sorted {
            $0.neqKg != $1.neqKg ? $0.neqKg > $1.neqKg : $0.country < $1.country
        }
        for place in largestFirst {
            let r = radius(place)
            let tooltip = "\(place.country): \(OutputNumber.kg(place.neqKg)) NEQ on \(place.routes) listed route"
                + (place.routes == 1 ? "" : "s") + (place.offMap ? " (outside the map, drawn at its edge)" : "")
            svg += "<g class=\"country\(place.offMap ? " off-map" : "")\"><circle cx=\"\(n(place.x))\" "
                + "cy=\"\(n(place.y))\" r=\"\(n(r))\"/><text x=\"\(n(place.x))\" y=\"\(n(place.y - r - 4))\" "
                + "text-anchor=\"middle\">\(esc(place.country))\(place.offMap ? " ›" : "")</text>"
                + "<title>\(esc(tooltip))</title></g>\n"
        }
        svg += "</g>\n<g class=\"badges\">\n\(badges)</g>\n</svg>\n"

        page += "<figure class=\"map\">\n\(svg)<figcaption>Line width: records on the route (widest "
            + "\(OutputNumber.count(maxRecords))); numbers refer to the table below. Circle area: NEQ on the listed "
            + "routes that start in, pass through or end in the country (largest \(esc(OutputNumber.kg(maxNeq)))). "
            + "Countries are placed at approximate geographic centres; those outside the frame (dashed, ›) at the "
            + "map's edge, in their direction."
        if !undrawable.isEmpty {
            page += " Not drawn (unknown country, or within one country): \(esc(undrawable.joined(separator: "; ")))."
        }
        page += "</figcaption>\n</figure>\n"
    }

    // MARK: Time series

    private static func timeSeries(_ result: TraceResult, into page: inout String) {
        let unit = result.query.period.rawValue
        page += "<section id=\"time-series\">\n<h2>Time series by \(esc(unit))</h2>\n"
        let rows = result.timeSeries
        guard !rows.isEmpty else {
            page += "<p class=\"empty\">No dated records.</p>\n</section>\n"
            return
        }
        let width = 900.0, height = 300.0
        let left = 60.0, right = 72.0, top = 16.0, bottom = rows.count > 12 ? 70.0 : 50.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let records = niceScale(Double(rows.map(\.records).max() ?? 0), integral: true)
        let neq = niceScale(rows.map(\.neqKg).max() ?? 0, integral: false)
        let band = plotWidth / Double(rows.count)
        func y(_ value: Double, _ scale: (top: Double, step: Double)) -> Double {
            top + plotHeight - value / scale.top * plotHeight
        }

        var svg = "<svg class=\"chart\" id=\"time-series-chart\" viewBox=\"0 0 \(n(width)) \(n(height))\" "
            + "role=\"img\" aria-labelledby=\"time-series-title\">\n"
            + "<title id=\"time-series-title\">Records and NEQ per \(esc(unit))</title>\n"
        // Axes and grid.
        svg += "<g class=\"axis\">\n"
        var tick = 0.0
        while tick <= records.top + records.step / 2 {
            let ty = y(tick, records)
            svg += "<line class=\"grid\" x1=\"\(n(left))\" y1=\"\(n(ty))\" x2=\"\(n(left + plotWidth))\" "
                + "y2=\"\(n(ty))\"/><text x=\"\(n(left - 6))\" y=\"\(n(ty + 4))\" text-anchor=\"end\">"
                + "\(OutputNumber.count(Int(tick)))</text>\n"
            tick += records.step
        }
        tick = 0
        while tick <= neq.top + neq.step / 2 {
            let ty = y(tick, neq)
            svg += "<text class=\"neq-axis\" x=\"\(n(left + plotWidth + 6))\" y=\"\(n(ty + 4))\" "
                + "text-anchor=\"start\">\(esc(axisKg(tick, step: neq.step)))</text>\n"
            tick += neq.step
        }
        svg += "<line x1=\"\(n(left))\" y1=\"\(n(top))\" x2=\"\(n(left))\" y2=\"\(n(top + plotHeight))\"/>"
        svg += "<line x1=\"\(n(left))\" y1=\"\(n(top + plotHeight))\" x2=\"\(n(left + plotWidth))\" "
            + "y2=\"\(n(top + plotHeight))\"/>"
        svg += "<line x1=\"\(n(left + plotWidth))\" y1=\"\(n(top))\" x2=\"\(n(left + plotWidth))\" "
            + "y2=\"\(n(top + plotHeight))\"/>\n"
        svg += "<text class=\"axis-title\" transform=\"translate(14 \(n(top + plotHeight / 2))) rotate(-90)\" "
            + "text-anchor=\"middle\">Records</text>\n"
        svg += "<text class=\"axis-title neq-axis\" transform=\"translate(\(n(width - 10)) "
            + "\(n(top + plotHeight / 2))) rotate(90)\" text-anchor=\"middle\">NEQ (kg)</text>\n"
        svg += "</g>\n<g class=\"bars\">\n"
        let every = max(1, (rows.count + 23) / 24)
        var line: [String] = []
        for (index, row) in rows.enumerated() {
            let x = left + Double(index) * band
            let barTop = y(Double(row.records), records)
            let tooltip = "\(row.period): \(OutputNumber.count(row.records)) records, \(OutputNumber.kg(row.neqKg)) NEQ"
            let barWidth = min(band * 0.7, 56)
            svg += "<rect x=\"\(n(x + (band - barWidth) / 2))\" y=\"\(n(barTop))\" width=\"\(n(barWidth))\" "
                + "height=\"\(n(top + plotHeight - barTop))\"><title>\(esc(tooltip))</title></rect>\n"
            line.append("\(n(x + band / 2)),\(n(y(row.neqKg, neq)))")
            if index % every == 0 {
                let lx = x + band / 2, ly = top + plotHeight + 16
                if rows.count > 12 {
                    svg += "<text class=\"period\" x=\"\(n(lx))\" y=\"\(n(ly))\" text-anchor=\"end\" "
                        + "transform=\"rotate(-45 \(n(lx)) \(n(ly)))\">\(esc(row.period))</text>\n"
                } else {
                    svg += "<text class=\"period\" x=\"\(n(lx))\" y=\"\(n(ly))\" text-anchor=\"middle\">"
                        + "\(esc(row.period))</text>\n"
                }
            }
        }
        svg += "</g>\n<polyline class=\"neq-line\" fill=\"none\" points=\"\(line.joined(separator: " "))\"/>\n"
        svg += "<g class=\"neq-points\">"
        for point in line {
            let xy = point.split(separator: ",")
            svg += "<circle cx=\"\(xy[0])\" cy=\"\(xy[1])\" r=\"3\"/>"
        }
        svg += "</g>\n</svg>\n"
        page += "<figure class=\"chart\">\n\(svg)<figcaption><span class=\"key bars-key\"></span> records (left "
            + "axis) <span class=\"key line-key\"></span> NEQ in kg (right axis), per \(esc(unit)).</figcaption>\n"
            + "</figure>\n"

        page += "<table class=\"data\" id=\"time-series-table\">\n<thead><tr><th>Period</th><th>From</th><th>To</th>"
            + "<th>Records</th><th>Seizures</th><th>Shipments</th><th>Items</th><th>NEQ</th><th>Gross mass</th>"
            + "</tr></thead>\n<tbody>\n"
        for row in rows {
            page += "<tr><td>\(esc(row.period))</td><td>\(esc(row.start))</td><td>\(esc(row.end))</td>"
            page += numberCells([OutputNumber.count(row.records), OutputNumber.count(row.seizures),
                                 OutputNumber.count(row.shipments), OutputNumber.count(row.items),
                                 OutputNumber.kg(row.neqKg), OutputNumber.kg(row.grossKg)])
            page += "</tr>\n"
        }
        page += "</tbody>\n</table>\n</section>\n"
    }

    /// A scale from 0 with 4 to 6 ticks of 1, 2 or 5 × 10ⁿ; whole steps when `integral`.
    private static func niceScale(_ maximum: Double, integral: Bool) -> (top: Double, step: Double) {
        guard maximum > 0 else { return (1, 1) }
        let rough = maximum / 5
        var magnitude = 1.0
        while magnitude * 10 <= rough { magnitude *= 10 }
        while magnitude > rough { magnitude /= 10 }
        var step = magnitude
        for factor in [1.0, 2, 5, 10] where magnitude * factor >= rough {
            step = magnitude * factor
            break
        }
        if integral { step = max(1, step.rounded(.up)) }
        return ((maximum / step).rounded(.up) * step, step)
    }

    private static func axisKg(_ value: Double, step: Double) -> String {
        step >= 1 ? OutputNumber.fixed(value, places: 0, grouped: true)
            : OutputNumber.plain(value, maxPlaces: step >= 0.1 ? 1 : step >= 0.01 ? 2 : 3)
    }

    // MARK: Categories

    private static func categories(_ result: TraceResult, into page: inout String) {
        page += "<section id=\"categories\">\n<h2>Categories</h2>\n"
        guard !result.categories.isEmpty else {
            page += "<p class=\"empty\">No categories: no record matched.</p>\n</section>\n"
            return
        }
        let maxNeq = result.categories.map(\.neqKg).max() ?? 0
        let maxRecords = result.categories.map(\.records).max() ?? 0
        page += "<p>Per CE category; a record with items of two categories counts in both. The bar shows NEQ "
            + "(or records, when no category has NEQ).</p>\n"
        page += "<table class=\"data\" id=\"category-table\">\n<thead><tr><th>Category</th><th>Records</th>"
            + "<th>Items</th><th>NEQ</th><th>Gross mass</th><th class=\"bar-cell\">Share</th></tr></thead>\n<tbody>\n"
        for row in result.categories {
            let name = row.category?.rawValue ?? "no items (shipments)"
            let share = maxNeq > 0 ? row.neqKg / maxNeq
                : maxRecords > 0 ? Double(row.records) / Double(maxRecords) : 0
            page += "<tr><td>\(esc(name))</td>"
            page += numberCells([OutputNumber.count(row.records), OutputNumber.count(row.items),
                                 OutputNumber.kg(row.neqKg), OutputNumber.kg(row.grossKg)])
            page += "<td class=\"bar-cell\"><svg class=\"bar\" viewBox=\"0 0 100 10\" preserveAspectRatio=\"none\" "
                + "aria-hidden=\"true\"><rect x=\"0\" y=\"0\" width=\"\(n(share * 100))\" height=\"10\"/></svg></td>"
            page += "</tr>\n"
        }
        page += "</tbody>\n</table>\n</section>\n"
    }

    // MARK: Clusters

    private static func clusters(_ result: TraceResult, maxClusters: Int, into page: inout String) {
        page += "<section id=\"clusters\">\n<h2>Networks: linked records</h2>\n"
        guard !result.clusters.isEmpty else {
            page += "<p class=\"empty\">No cluster: no two matched records share a key.</p>\n</section>\n"
            return
        }
        let shown = result.clusters.prefix(maxClusters)
        page += "<p>Records joined by shared keys (containers, vehicles, companies, products, persons), largest "
            + "first: \(OutputNumber.count(shown.count)) of \(OutputNumber.count(result.clusterCount)) clusters. "
            + "A record may be linked through another one: the evidence lists, for each key, the records that carry "
            + "it.</p>\n"
        for (index, cluster) in shown.enumerated() {
            let span: String
            switch (cluster.firstDate, cluster.lastDate) {
            case (let first?, let last?) where first == last: span = first
            case (let first?, let last?):
                span = "\(first) to \(last)"
                    + (days(from: first, to: last).map { " (\(counted($0, "day")))" } ?? "")
            default: span = "undated"
            }
            page += "<article class=\"cluster\" id=\"cluster-\(index + 1)\">\n"
            page += "<h3>#\(index + 1) · \(esc(cluster.id))</h3>\n<dl class=\"facts\">"
            page += "<dt>Records</dt><dd>\(OutputNumber.count(cluster.members.count)) "
                + "(\(counted(cluster.seizures, "seizure")), \(counted(cluster.shipments, "shipment")))</dd>"
            page += "<dt>Countries</dt><dd>\(esc(cluster.countries.joined(separator: ", ")))</dd>"
            page += "<dt>Time span</dt><dd>\(esc(span))</dd>"
            page += "<dt>NEQ</dt><dd>\(esc(OutputNumber.kg(cluster.neqKg)))</dd>"
            page += "<dt>Gross mass</dt><dd>\(esc(OutputNumber.kg(cluster.grossKg)))</dd></dl>\n"
            page += "<table class=\"data evidence\">\n<thead><tr><th>Shared key (evidence)</th><th>Kind</th>"
                + "<th>Records that carry it</th></tr></thead>\n<tbody>\n"
            for key in cluster.sharedKeys {
                page += "<tr><td class=\"key\">\(esc(key.label))</td><td>\(esc(key.kind.label))</td>"
                    + "<td>\(OutputNumber.count(key.members.count)): \(idList(key.members, limit: 30))</td></tr>\n"
            }
            page += "</tbody>\n</table>\n"
            page += "<p class=\"members\">Members: \(idList(cluster.members, limit: 60))</p>\n</article>\n"
        }
        page += "</section>\n"
    }

    private static func idList(_ ids: [String], limit: Int) -> String {
        var text = ids.prefix(limit).map { "<code>\(esc($0))</code>" }.joined(separator: ", ")
        if ids.count > limit { text += " and \(OutputNumber.count(ids.count - limit)) more" }
        return text
    }

    private static func days(from first: String, to last: String) -> Int? {
        guard let a = TraceDay(first), let b = TraceDay(last) else { return nil }
        return ISOTime.daysSinceEpoch(year: b.year, month: b.month, day: b.day)
            - ISOTime.daysSinceEpoch(year: a.year, month: a.month, day: a.day)
    }

    // MARK: Ignored keys and countries

    private static func ignoredKeys(_ result: TraceResult, into page: inout String) {
        guard !result.ignoredKeys.isEmpty else { return }
        let limit = 25
        page += "<section id=\"ignored-keys\">\n<h2>Keys too common to link</h2>\n"
        page += "<p>Carried by more than \(OutputNumber.count(result.query.maxRecordsPerKey)) records each, these keys "
            + "joined none of them (a generic product or a large legitimate carrier would otherwise merge unrelated "
            + "records).</p>\n"
        page += "<table class=\"data\">\n<thead><tr><th>Key</th><th>Records</th></tr></thead>\n<tbody>\n"
        for key in result.ignoredKeys.prefix(limit) {
            page += "<tr><td class=\"key\">\(esc(key.label))</td>\(numberCells([OutputNumber.count(key.records)]))"
                + "</tr>\n"
        }
        page += "</tbody>\n</table>\n"
        if result.ignoredKeys.count > limit {
            page += "<p>… and \(OutputNumber.count(result.ignoredKeys.count - limit)) more.</p>\n"
        }
        page += "</section>\n"
    }

    private static func countries(_ result: TraceResult, into page: inout String) {
        guard !result.countries.isEmpty else { return }
        page += "<section id=\"countries\">\n<h2>Countries</h2>\n"
        page += "<p>Records in which each country is the owner, origin, a transit country, the destination, or where "
            + "a seizure was made.</p>\n"
        page += "<table class=\"data\" id=\"country-table\">\n<thead><tr><th>Country</th><th>Owner</th><th>Origin</th>"
            + "<th>Transit</th><th>Destination</th><th>Seizures made</th></tr></thead>\n<tbody>\n"
        for row in result.countries {
            page += "<tr><td>\(esc(row.country))</td>"
            page += numberCells([row.asOwner, row.asOrigin, row.asTransit, row.asDestination, row.asLocation]
                .map(OutputNumber.count))
            page += "</tr>\n"
        }
        page += "</tbody>\n</table>\n</section>\n"
    }

    // MARK: Helpers

    private static func esc(_ text: String) -> String { OutputEscape.xml(text) }

    /// `1 seizure`, `3 seizures`.
    private static func counted(_ count: Int, _ singular: String) -> String {
        "\(OutputNumber.count(count)) \(singular)\(count == 1 ? "" : "s")"
    }

    private static func numberCells(_ values: [String]) -> String {
        values.map { "<td class=\"num\">\(esc($0))</td>" }.joined()
    }

    /// A coordinate for SVG: one decimal.
    private static func n(_ value: Double) -> String { OutputNumber.plain(value, maxPlaces: 1) }

    private static func degrees(_ value: Double, positive: String, negative: String) -> String {
        let whole = Int(value.rounded())
        return whole == 0 ? "0°" : "\(abs(whole))°\(whole > 0 ? positive : negative)"
    }

    /// cos of an angle in degrees, without Foundation (Taylor series after reducing to ±90°; ample for a map).
    private static func cos(degrees: Double) -> Double {
        var x = degrees.truncatingRemainder(dividingBy: 360)
        if x > 180 { x -= 360 }
        if x < -180 { x += 360 }
        var sign = 1.0
        if x > 90 { x = 180 - x; sign = -1 }
        if x < -90 { x = -180 - x; sign = -1 }
        let r = x * .pi / 180, r2 = r * r
        var term = 1.0, sum = 1.0
        for k in 1...10 {
            term *= -r2 / Double((2 * k - 1) * (2 * k))
            sum += term
        }
        return sign * sum
    }

    private static let style = """

        :root { --ink: #1b1f24; --muted: #5b6470; --line: #d5dae0; --accent: #1565c0; --bar: #5c7fa8; --neq: #c62828; }
        * { box-sizing: border-box; }
        body { margin: 0; color: var(--ink);
               font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif;
               background: #fff; }
        header, main, footer { max-width: 1100px; margin: 0 auto; padding: 0 20px; }
        header { padding-top: 20px; border-bottom: 1px solid var(--line); padding-bottom: 16px; }
        h1 { font-size: 26px; margin: 0 0 4px; }
        h2 { font-size: 20px; margin: 32px 0 8px; border-bottom: 2px solid var(--accent); padding-bottom: 4px; }
        h3 { font-size: 16px; margin: 0 0 6px; }
        .meta { color: var(--muted); margin: 0 0 12px; }
        dl.filters { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0 0 14px; }
        dl.filters dt { font-weight: 600; color: var(--muted); }
        dl.filters dd { margin: 0; }
        .tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; }
        .tile { border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; background: #f7f9fb; }
        .tile-name { display: block; font-size: 12px; text-transform: uppercase; letter-spacing: .04em;
                     color: var(--muted); }
        .tile-value { display: block; font-size: 20px; font-weight: 650; }
        .tile-note { display: block; font-size: 12px; color: var(--muted); }
        figure { margin: 12px 0; }
        figcaption { font-size: 13px; color: var(--muted); margin-top: 4px; }
        svg.flow-map, svg.chart { width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
        .map-bg { fill: #f4f8fb; }
        .graticule line { stroke: #dfe6ee; stroke-width: 1; }
        .graticule text { font-size: 10px; fill: #8a96a3; }
        .route-line { opacity: .72; }
        .country circle { fill: rgba(21, 101, 192, .22); stroke: #1565c0; stroke-width: 1.5; }
        .country.off-map circle { stroke-dasharray: 4 3; fill: rgba(120, 120, 120, .15); stroke: #666; }
        .country text { font-size: 13px; font-weight: 700; fill: var(--ink); paint-order: stroke;
                        stroke: #fff; stroke-width: 3px; }
        .badge text { font-size: 11px; font-weight: 700; fill: #fff; }
        .axis line { stroke: #9aa5b1; }
        .axis line.grid { stroke: #e6eaee; }
        .axis text, svg.chart text.period { font-size: 11px; fill: var(--muted); }
        .axis-title { font-size: 12px; font-weight: 600; }
        .neq-axis { fill: var(--neq) !important; }
        .bars rect { fill: var(--bar); }
        .neq-line { stroke: var(--neq); stroke-width: 2; }
        .neq-points circle { fill: var(--neq); }
        .key.bars-key, .key.line-key { display: inline-block; width: 12px; height: 12px; vertical-align: -1px; }
        .key.bars-key { background: var(--bar); }
        .key.line-key { background: var(--neq); height: 3px; vertical-align: 3px; margin-left: 12px; }
        table.data { border-collapse: collapse; width: 100%; margin: 8px 0 4px; font-size: 14px; }
        table.data th, table.data td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left;
                                       vertical-align: top; }
        table.data th { background: #eef2f6; font-weight: 600; }
        table.data td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
        table.data td.change { white-space: normal; min-width: 14em; }
        .table-wrap { overflow-x: auto; }
        td.route { font-weight: 600; white-space: nowrap; }
        td.change.up { color: #b71c1c; }
        td.change.down { color: #1b5e20; }
        td.bar-cell, th.bar-cell { width: 30%; }
        svg.bar { width: 100%; height: 12px; display: block; background: #eef2f6; }
        svg.bar rect { fill: var(--bar); }
        article.cluster { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; margin: 12px 0; }
        dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0 0 8px; }
        dl.facts dt { color: var(--muted); }
        dl.facts dd { margin: 0; }
        td.key { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
        code { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px; }
        .members { font-size: 13px; color: var(--muted); }
        .empty { color: var(--muted); font-style: italic; }
        footer { margin-top: 32px; padding-top: 12px; padding-bottom: 24px; border-top: 1px solid var(--line);
                 color: var(--muted); font-size: 13px; }
        @media print { h2 { break-after: avoid; } article.cluster, figure { break-inside: avoid; } }

        """
}
