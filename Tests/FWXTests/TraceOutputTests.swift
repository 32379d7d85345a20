// Tests of the renderers of a TraceResult: CSV, JSON, GeoJSON, GraphML and the HTML report. Each output is read back
// by an independent parser (python3's csv, json and xml.etree modules, networkx when installed, headless Chromium)
// and checked against figures computed by hand from a small planted fixture.
import FWXConvert
import FWXModel
import FWXTrace
import Foundation
import Testing

// MARK: - Fixture (private, prefixed `output`)

/// A person pseudonym that needs escaping everywhere: markup, an ampersand, quotes and a comma.
private let outputPseudonym = "<b>P1</b> & \"x\", y"

private func outputF(_ category: CECategory, items: Int, neq: Double, gross: Double) -> RecordFacts.CategoryAmounts {
    RecordFacts.CategoryAmounts(category: category,
                                amounts: RecordFacts.Amounts(items: items, neqKg: neq, grossKg: gross))
}

/// Hand-made facts, figures chosen so that every total is easy to check by hand:
///
/// - the planted route CN → PL → NL: two shipments (PL, DE; 1,200 and 800 kg gross) and a seizure in NL (F3 2.25 kg
///   and F4 12.5 kg NEQ, 49 kg gross, with coordinates). Facts are hand-made: the seizure's transit through PL and
///   its container stand for what an investigation established (``RecordFacts/of(_:)`` gives seizures neither);
/// - one container, MSCU1234565, seen in PL, DE and NL: the three records above form one cluster;
/// - CN → BE: a seizure in BE without coordinates (F4 5 kg NEQ, 20 kg gross), mapped at Belgium's centroid;
/// - NG → FR and ? → DE: two seizures sharing a vehicle and a person; Nigeria has no centroid, the other origin is
///   unknown, so neither route can be drawn;
/// - a withdrawn record, which counts as considered only.
private let outputFacts: [RecordFacts] = {
    let container = LinkKey.container("mscu 123456-5")!
    let vehicle = LinkKey.vehicle(plate: "wa 12345", registrationCountry: "PL")!
    let person = LinkKey(kind: .person, value: outputPseudonym)
    return [
        RecordFacts(recordId: "PL-SH-2026-0000101", kind: .shipment, date: "2026-08-04",
                    origin: .init(country: "CN"), transit: ["PL"], destination: .init(country: "NL"),
                    totals: .init(grossKg: 1200),
                    linkKeys: [container, LinkKey.organisationName("Pyro-Trans B.V.")!].sorted(),
                    linkRoles: [[], PartyRoles(.carrier)]),
        RecordFacts(recordId: "DE-SH-2026-0000102", kind: .shipment, date: "2026-09-02",
                    origin: .init(country: "CN"), transit: ["PL"], destination: .init(country: "NL"),
                    totals: .init(grossKg: 800), linkKeys: [container]),
        RecordFacts(recordId: "NL-SZ-2026-0000103", kind: .seizure, date: "2026-09-15",
                    origin: .init(country: "CN"), transit: ["PL"], destination: .init(country: "NL", region: "NL33"),
                    location: .init(country: "NL", latitude: 51.95, longitude: 4.14),
                    categories: [outputF(.f3, items: 1, neq: 2.25, gross: 9),
                                 outputF(.f4, items: 1, neq: 12.5, gross: 40)],
                    linkKeys: [container]),
        RecordFacts(recordId: "BE-SZ-2026-0000201", kind: .seizure, date: "2026-08-20",
                    origin: .init(country: "CN"), destination: .init(country: "BE"), location: .init(country: "BE"),
                    categories: [outputF(.f4, items: 1, neq: 5, gross: 20)]),
        RecordFacts(recordId: "FR-SZ-2026-0000301", kind: .seizure, date: "2026-09-05",
                    origin: .init(country: "NG"), destination: .init(country: "FR"),
                    location: .init(country: "FR", latitude: 48.85, longitude: 2.35),
                    categories: [outputF(.f2, items: 2, neq: 1.5, gross: 6)], linkKeys: [vehicle, person].sorted()),
        RecordFacts(recordId: "DE-SZ-2026-0000302", kind: .seizure, date: "2026-09-25",
                    destination: .init(country: "DE"), location: .init(country: "DE"),
                    categories: [outputF(.unmarked, items: 1, neq: 0.5, gross: 2)],
                    linkKeys: [vehicle, person].sorted()),
        RecordFacts(recordId: "IT-SZ-2026-0000401", kind: .seizure, status: .withdrawn, date: "2026-09-01",
                    origin: .init(country: "CN"), destination: .init(country: "IT"), location: .init(country: "IT"),
                    categories: [outputF(.f4, items: 1, neq: 99, gross: 99)], linkKeys: [container]),
    ]
}()

/// The trace of the fixture: August and September 2026, by month (so September is compared with August).
private func outputResult() throws -> TraceResult {
    var engine = TraceEngine(query: try TraceQuery(from: "2026-08-01", to: "2026-09-30", period: .month))
    try engine.add(contentsOf: outputFacts)
    return engine.result()
}

/// The first python3 on PATH (where networkx may be installed), else Debian's.
private let outputPython: String = {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    let candidates = path.split(separator: ":").map(String.init) + ["/usr/bin"]
    return candidates.map { $0 + "/python3" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        ?? "/usr/bin/python3"
}()

/// Runs a python3 script with arguments and returns its standard output; throws when it fails.
private func outputRunPython(_ script: String, _ arguments: [String]) throws -> Data {
    let run = try runProcess(outputPython, ["-c", script] + arguments, timeout: 60)
    guard run.status == 0, !run.timedOut else { throw TestSupportError("python3 failed: \(run)") }
    return run.stdoutData
}

/// Debian's chromium (scripts/setup installs it), or nil when it is not installed.
private let outputChromium: String? = {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    let folders = ["/usr/bin"] + path.split(separator: ":").map(String.init)
    return folders.flatMap { [$0 + "/chromium", $0 + "/chromium-browser"] }
        .first { FileManager.default.isExecutableFile(atPath: $0) }
}()

/// The DOM of an HTML page as headless Chromium built it (`--dump-dom`), Chromium bounded to 60 s and killed after.
/// Sets FWX_TRACE_OUTPUT_DIR to keep a copy of the page there as `name`.
private func outputChromiumDOM(_ html: String, name: String) throws -> String {
    // Debian's chromium package; scripts/setup installs it. Not installed is a failure, not a skip.
    let chromium = try #require(outputChromium,
                                "chromium is not installed: run scripts/setup (apt-get install chromium)")
    if let keep = ProcessInfo.processInfo.environment["FWX_TRACE_OUTPUT_DIR"] {
        try? html.write(toFile: keep + "/" + name, atomically: true, encoding: .utf8)
    }
    return try withTemporaryDirectory { folder -> String in
        let page = try writeFile(folder, name, html)
        let run = try runProcess(chromium, [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--user-data-dir=\(folder.path)/profile", "--dump-dom", URL(fileURLWithPath: page).absoluteString,
        ], timeout: 60, environment: ["HOME": folder.path])
        #expect(!run.timedOut && run.status == 0, "chromium: \(run)")
        #expect(run.stdout.contains("</html>"), "chromium printed no DOM: \(run)")
        return run.stdout
    }
}

/// The CSV of one table parsed by python's csv module (strict): rows as dictionaries by header name.
private func outputParseCSV(_ text: String, table: TraceTable) throws -> [[String: String]] {
    try withTemporaryDirectory { folder in
        let path = try writeFile(folder, "\(table.rawValue).csv", text)
        let script = """
            import csv, json, sys
            with open(sys.argv[1], newline='', encoding='utf-8') as f:
                rows = list(csv.reader(f, strict=True))
            json.dump(rows, sys.stdout)
            """
        let rows = try JSONDecoder().decode([[String]].self, from: outputRunPython(script, [path]))
        let header = try #require(rows.first, "no header row in \(table.rawValue)")
        #expect(header == TraceCSV.header(of: table))
        return rows.dropFirst().map { row in
            #expect(row.count == header.count, "row of \(table.rawValue) with \(row.count) fields: \(row)")
            return Dictionary(uniqueKeysWithValues: zip(header, row))
        }
    }
}

/// Text of an HTML fragment: tags removed, the five entities decoded, white space collapsed.
private func outputText(_ html: String) -> String {
    var text = html.replacingOccurrences(of: "<style[^>]*>[\\s\\S]*?</style>", with: " ", options: .regularExpression)
    text = text.replacingOccurrences(of: "</?code[^>]*>", with: "", options: .regularExpression)
    text = text.replacingOccurrences(of: "<[^>]+>", with: " ", options: .regularExpression)
    for (entity, character) in [("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\""), ("&#39;", "'"), ("&nbsp;", " "),
                                ("&amp;", "&")] {
        text = text.replacingOccurrences(of: entity, with: character)
    }
    return text.replacingOccurrences(of: "\\s+", with: " ", options: .regularExpression)
}

/// The cells' text of the rows of the table with `id` in an HTML document.
private func outputTableRows(_ html: String, id: String) throws -> [[String]] {
    let start = try #require(html.range(of: "id=\"\(id)\""), "no table \(id)")
    let end = try #require(html.range(of: "</table>", range: start.upperBound..<html.endIndex))
    let table = String(html[start.upperBound..<end.lowerBound])
    return table.components(separatedBy: "<tr").dropFirst().compactMap { row in
        let cells = row.components(separatedBy: "<td").dropFirst().map { cell -> String in
            let content = cell.drop { $0 != ">" }.dropFirst()
            let close = content.range(of: "</td>").map { content[..<$0.lowerBound] } ?? content[...]
            return outputText(String(close)).trimmingCharacters(in: .whitespaces)
        }
        return cells.isEmpty ? nil : cells
    }
}

@Suite("Trace outputs")
struct TraceOutputTests {
    // MARK: The fixture itself

    @Test("the fixture's trace has the hand-computed totals, route and clusters the outputs are checked against")
    func fixtureFigures() throws {
        let result = try outputResult()
        #expect(result.totals == TraceResult.Totals(recordsConsidered: 7, recordsWithdrawn: 1, recordsMatched: 6,
                                                    seizures: 4, shipments: 2, items: 6, neqKg: 21.75,
                                                    grossKg: 2077))
        let route = try #require(result.routes.first)
        #expect(route.label == "CN → PL → NL" && route.records == 3 && route.seizures == 1 && route.shipments == 2)
        #expect(route.neqKg == 14.75 && route.grossKg == 2049)
        #expect(route.change?.records == 2 && route.change?.previousRecords == 1)
        #expect(result.comparison == PeriodComparison(current: "2026-09", previous: "2026-08"))
        #expect(result.routes.map(\.label) == ["CN → PL → NL", "CN → BE", "NG → FR", "? → DE"])
        #expect(result.clusters.map(\.members) == [
            ["DE-SH-2026-0000102", "NL-SZ-2026-0000103", "PL-SH-2026-0000101"],
            ["DE-SZ-2026-0000302", "FR-SZ-2026-0000301"],
        ])
        #expect(result.clusters.first?.countries == ["DE", "NL", "PL"])
    }

    // MARK: CSV

    @Test("every CSV table parses back with python's csv module, RFC 4180 quoting and CRLF, with the right values")
    func csvTables() throws {
        let result = try outputResult()
        var tables: [TraceTable: [[String: String]]] = [:]
        for table in TraceTable.allCases {
            let text = TraceCSV.render(result, table: table)
            #expect(text.hasSuffix("\r\n") && !text.replacingOccurrences(of: "\r\n", with: "").contains("\n"),
                    "\(table.rawValue): lines must end with CRLF (RFC 4180)")
            tables[table] = try outputParseCSV(text, table: table)
        }
        #expect(TraceTable.allCases.map(\.rawValue)
                    == ["flows", "routes", "time-series", "categories", "clusters", "points", "countries"])

        let routes = try #require(tables[.routes])
        #expect(routes.count == result.routes.count)
        #expect(routes.first == [
            "rank": "1", "route": "CN → PL → NL", "origin": "CN", "transit": "PL", "destination": "NL",
            "records": "3", "seizures": "1", "shipments": "2", "neqKg": "14.75", "grossKg": "2049",
            "currentPeriod": "2026-09", "previousPeriod": "2026-08", "currentRecords": "2", "previousRecords": "1",
            "recordsChange": "1", "recordsChangePercent": "100", "currentNeqKg": "14.75", "previousNeqKg": "0",
            "neqChangeKg": "14.75", "neqChangePercent": "",
        ])
        #expect(routes.last?["route"] == "? → DE" && routes.last?["origin"] == "")

        let flows = try #require(tables[.flows])
        #expect(flows.count == result.flows.count)
        #expect(flows.contains {
            $0["period"] == "2026-09" && $0["origin"] == "CN" && $0["transit"] == "PL" && $0["destination"] == "NL"
                && $0["destinationRegion"] == "" && $0["category"] == "F4" && $0["records"] == "1"
                && $0["neqKg"] == "12.5" && $0["grossKg"] == "40"
        })
        #expect(flows.contains { $0["period"] == "2026-08" && $0["category"] == "" && $0["grossKg"] == "1200" })

        let series = try #require(tables[.timeSeries])
        #expect(series.map { [$0["period"]!, $0["start"]!, $0["end"]!, $0["records"]!, $0["neqKg"]!, $0["grossKg"]!] }
                    == [["2026-08", "2026-08-01", "2026-08-31", "2", "5", "1220"],
                        ["2026-09", "2026-09-01", "2026-09-30", "4", "16.75", "857"]])

        let categories = try #require(tables[.categories])
        #expect(categories.map { $0["category"]! } == ["F2", "F3", "F4", "unmarked", ""])
        #expect(categories.first { $0["category"] == "F4" } == ["category": "F4", "records": "2", "items": "2",
                                                                 "neqKg": "17.5", "grossKg": "60"])

        let clusters = try #require(tables[.clusters])
        #expect(clusters.count == 2)
        #expect(clusters.first == [
            "rank": "1", "id": "DE-SH-2026-0000102", "size": "3", "seizures": "1", "shipments": "2",
            "countries": "DE;NL;PL", "firstDate": "2026-08-04", "lastDate": "2026-09-15", "neqKg": "14.75",
            "grossKg": "2049", "members": "DE-SH-2026-0000102;NL-SZ-2026-0000103;PL-SH-2026-0000101",
            "sharedKeyCount": "1",
            "sharedKeys": "container MSCU1234565 [DE-SH-2026-0000102 NL-SZ-2026-0000103 PL-SH-2026-0000101]",
        ])
        // The pseudonym's quotes and comma survive quoting.
        #expect(clusters.last?["sharedKeys"]
                    == "vehicle PL:WA12345 [DE-SZ-2026-0000302 FR-SZ-2026-0000301]; "
                    + "person \(outputPseudonym) [DE-SZ-2026-0000302 FR-SZ-2026-0000301]")

        let points = try #require(tables[.points])
        #expect(points.map { $0["recordId"]! }
                    == ["BE-SZ-2026-0000201", "DE-SZ-2026-0000302", "FR-SZ-2026-0000301", "NL-SZ-2026-0000103"])
        #expect(points.last == ["recordId": "NL-SZ-2026-0000103", "country": "NL", "latitude": "51.95",
                                "longitude": "4.14", "date": "2026-09-15", "neqKg": "14.75"])
        #expect(points.first?["latitude"] == "" && points.first?["longitude"] == "")

        let countries = try #require(tables[.countries])
        #expect(countries.first { $0["country"] == "NL" } == ["country": "NL", "asOwner": "1", "asOrigin": "0",
                                                               "asTransit": "0", "asDestination": "3",
                                                               "asLocation": "1"])
        #expect(countries.first { $0["country"] == "PL" }?["asTransit"] == "3")
    }

    // MARK: JSON

    @Test("JSON is byte for byte what JSONEncoder (pretty, sorted keys) makes of the result, written whole or in pieces")
    func jsonMatchesJSONEncoder() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var edgy = try outputResult()
        // Strings that need escaping, numbers in exponent form, optional fields present and absent.
        edgy.clusters[0].id = "quote \" backslash \\ slash / \u{1}\u{1f}\u{7f} tab\t cr\r lf\n \u{8}\u{c} é 😀 \u{2028}"
        edgy.clusters[0].firstDate = nil
        edgy.points[0].latitude = 1e-7
        edgy.points[0].longitude = nil
        edgy.totals.neqKg = 1e21
        edgy.totals.grossKg = -0.0
        edgy.query.regionLevel = 2
        edgy.query.from = nil
        edgy.flows[0].category = nil
        edgy.routes[0].change = nil
        var grown = TraceEngine(query: .all)
        try grown.add(contentsOf: outputFacts)
        for result in [try outputResult(), edgy, TraceEngine(query: .all).result(), grown.result()] {
            let expected = Array(try encoder.encode(result)) + [0x0A]
            let rendered = TraceJSON.render(result)
            #expect(rendered == expected, "\(String(decoding: rendered.prefix(400), as: UTF8.self))")
            var pieces: [[UInt8]] = []
            try TraceJSON.write(result, pieceSize: 64) { pieces.append($0) }
            #expect(pieces.joined().elementsEqual(expected))
            #expect(pieces.count > 1 || expected.count < 200)
        }
        struct DiskFull: Error {}
        var calls = 0
        #expect(throws: DiskFull.self) {
            try TraceJSON.write(try outputResult(), pieceSize: 64) { _ in
                calls += 1
                throw DiskFull()
            }
        }
        #expect(calls == 1)
    }

    @Test("GeoJSON and GraphML written in pieces are the rendered text; a failing sink stops the writing")
    func piecesOfGeoJSONAndGraphML() throws {
        let result = try outputResult()
        for lines in TraceGeoJSON.Lines.allCases {
            var pieces: [String] = []
            try TraceGeoJSON.write(result, lines: lines, pieceSize: 100) { pieces.append($0) }
            #expect(pieces.joined() == TraceGeoJSON.render(result, lines: lines))
            #expect(pieces.count > 1)
        }
        for keyNodes in [false, true] {
            var pieces: [String] = []
            try TraceGraphML.write(result, keyNodes: keyNodes, pieceSize: 100) { pieces.append($0) }
            #expect(pieces.joined() == TraceGraphML.render(result, keyNodes: keyNodes))
            #expect(pieces.count > 1)
        }
        struct DiskFull: Error {}
        var calls = 0
        #expect(throws: DiskFull.self) {
            try TraceGraphML.write(result, pieceSize: 100) { _ in
                calls += 1
                throw DiskFull()
            }
        }
        #expect(throws: DiskFull.self) {
            try TraceGeoJSON.write(result, pieceSize: 100) { _ in
                calls += 1
                throw DiskFull()
            }
        }
        #expect(calls == 2)
    }

    @Test("JSON decodes back to an equal result, is byte-for-byte stable and has its keys sorted (python's json)")
    func json() throws {
        let result = try outputResult()
        let bytes = TraceJSON.render(result)
        #expect(try TraceJSON.decode(bytes) == result)
        #expect(TraceJSON.render(try TraceJSON.decode(bytes)) == bytes)
        let script = """
            import json, sys
            def sorted_keys(pairs):
                keys = [k for k, _ in pairs]
                if keys != sorted(keys) or len(set(keys)) != len(keys):
                    raise SystemExit('keys not sorted or repeated: %r' % keys)
                return dict(pairs)
            with open(sys.argv[1], encoding='utf-8') as f:
                doc = json.load(f, object_pairs_hook=sorted_keys)
            json.dump({'route': doc['routes'][0]['label'], 'neq': doc['totals']['neqKg'],
                       'members': doc['clusters'][0]['members']}, sys.stdout)
            """
        struct Summary: Decodable, Equatable { var route: String; var neq: Double; var members: [String] }
        let summary = try withTemporaryDirectory { folder in
            try JSONDecoder().decode(Summary.self,
                                     from: outputRunPython(script, [try writeFile(folder, "trace.json", bytes)]))
        }
        #expect(summary == Summary(route: "CN → PL → NL", neq: 21.75,
                                   members: ["DE-SH-2026-0000102", "NL-SZ-2026-0000103", "PL-SH-2026-0000101"]))
    }

    // MARK: GeoJSON

    /// A feature as python's json module read it.
    private struct ParsedFeature: Decodable {
        var type: String
        var geometryType: String
        var coordinates: [[Double]]
        var properties: [String: PropertyValue]
        var hasId: Bool
    }

    private enum PropertyValue: Decodable, Equatable {
        case text(String), number(Double), null
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() { self = .null }
            else if let number = try? container.decode(Double.self) { self = .number(number) }
            else { self = .text(try container.decode(String.self)) }
        }
    }

    private struct ParsedCollection: Decodable {
        var type: String
        var members: [String]
        var features: [ParsedFeature]
        var omitted: [String: PropertyOrList]
    }

    private enum PropertyOrList: Decodable, Equatable {
        case number(Int), list([String])
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let number = try? container.decode(Int.self) { self = .number(number) }
            else { self = .list(try container.decode([String].self)) }
        }
    }

    /// Parses GeoJSON with python's json module, failing on anything RFC 7946 forbids that a GIS would trip on.
    private func parseGeoJSON(_ text: String) throws -> ParsedCollection {
        let script = """
            import json, math, sys
            with open(sys.argv[1], encoding='utf-8') as f:
                doc = json.load(f, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
            assert 'crs' not in doc, 'RFC 7946 has no crs member'
            out = {'type': doc['type'], 'members': sorted(doc.keys()), 'omitted': doc.get('omitted', {}),
                   'features': []}
            for feature in doc['features']:
                geometry = feature['geometry']
                coordinates = geometry['coordinates']
                if geometry['type'] == 'Point':
                    coordinates = [coordinates]
                for lon, lat in coordinates:
                    assert -180 <= lon <= 180 and -90 <= lat <= 90, (lon, lat)
                assert set(feature) <= {'type', 'id', 'geometry', 'properties'}, sorted(feature)
                out['features'].append({'type': feature['type'], 'geometryType': geometry['type'],
                                        'coordinates': coordinates, 'properties': feature['properties'],
                                        'hasId': 'id' in feature})
            json.dump(out, sys.stdout)
            """
        return try withTemporaryDirectory { folder in
            try JSONDecoder().decode(ParsedCollection.self,
                                     from: outputRunPython(script, [try writeFile(folder, "trace.geojson", text)]))
        }
    }

    @Test("GeoJSON parses with python's json: a FeatureCollection of seizure points and route lines through centroids")
    func geoJSON() throws {
        let result = try outputResult()
        let collection = try parseGeoJSON(TraceGeoJSON.render(result))
        #expect(collection.type == "FeatureCollection")
        #expect(collection.members == ["features", "omitted", "type"])
        #expect(collection.features.allSatisfy { $0.type == "Feature" && $0.hasId })

        let points = collection.features.filter { $0.geometryType == "Point" }
        #expect(points.count == result.points.count)
        let nl = try #require(points.first { $0.properties["recordId"] == .text("NL-SZ-2026-0000103") })
        #expect(nl.coordinates == [[4.14, 51.95]], "[lon, lat] from the record")
        #expect(nl.properties["position"] == .text("record") && nl.properties["neqKg"] == .number(14.75))
        let be = try #require(points.first { $0.properties["recordId"] == .text("BE-SZ-2026-0000201") })
        let belgium = try #require(CountryCentroids.coordinate(of: "BE"))
        #expect(be.coordinates == [[belgium.longitude, belgium.latitude]])
        #expect(be.properties["position"] == .text("country centroid"))

        let lines = collection.features.filter { $0.geometryType == "LineString" }
        #expect(lines.map { $0.properties["route"] } == [.text("CN → PL → NL"), .text("CN → BE")])
        let planted = try #require(lines.first)
        let expected = try ["CN", "PL", "NL"].map { country -> [Double] in
            let centroid = try #require(CountryCentroids.coordinate(of: country))
            return [centroid.longitude, centroid.latitude]
        }
        #expect(planted.coordinates == expected, "origin → transit → destination centroids")
        #expect(planted.properties["records"] == .number(3) && planted.properties["neqKg"] == .number(14.75))
        #expect(planted.properties["grossKg"] == .number(2049) && planted.properties["seizures"] == .number(1))
        #expect(planted.properties["recordsChange"] == .number(1))
        // NG has no centroid and the other route's origin is unknown: both lines left out and counted.
        #expect(collection.omitted == ["points": .number(0), "lines": .number(2), "unknownCountries": .list(["NG"])])

        let flows = try parseGeoJSON(TraceGeoJSON.render(result, lines: .flows))
        let flowLines = flows.features.filter { $0.geometryType == "LineString" }
        #expect(flowLines.count == result.flows.filter { $0.origin == "CN" }.count)
        #expect(flowLines.contains {
            $0.properties["period"] == .text("2026-09") && $0.properties["category"] == .text("F4")
                && $0.properties["route"] == .text("CN → PL → NL") && $0.properties["neqKg"] == .number(12.5)
        })
        #expect(try parseGeoJSON(TraceGeoJSON.render(result, lines: .none)).features.count == result.points.count)
    }

    @Test("country centroids cover the EU, EFTA, the UK and common origins, within range; EL and UK are accepted")
    func centroids() {
        let required = ["AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
                        "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO", "CH", "GB",
                        "CN", "HK", "TW", "VN", "IN", "TR", "UA", "RS", "BA", "AL", "ME", "MK", "XK", "MD", "MA"]
        for country in required {
            #expect(CountryCentroids.coordinate(of: country) != nil, "no centroid for \(country)")
        }
        for country in CountryCentroids.countries {
            let position = CountryCentroids.coordinate(of: country)!
            #expect(CountryCode.isValid(country) && abs(position.latitude) <= 90 && abs(position.longitude) <= 180)
        }
        #expect(CountryCentroids.coordinate(of: "EL") == CountryCentroids.coordinate(of: "GR"))
        #expect(CountryCentroids.coordinate(of: "uk") == CountryCentroids.coordinate(of: "GB"))
        #expect(CountryCentroids.coordinate(of: "ZZ") == nil)
    }

    // MARK: GraphML

    private struct ParsedGraph: Decodable {
        struct Node: Decodable { var id: String; var data: [String: PropertyValue] }
        struct Edge: Decodable { var source: String; var target: String; var data: [String: PropertyValue] }
        var parser: String
        var directed: Bool
        var nodes: [Node]
        var edges: [Edge]
    }

    /// Parses GraphML with python: xml.etree always (the standard library; declared keys and types checked), and
    /// networkx too when it is importable (CI installs only what scripts/setup installs, which may not include it).
    /// The parsers used are named in `parser`, which every assertion message shows.
    private func parseGraphML(_ text: String) throws -> [ParsedGraph] {
        let script = #"""
            import json, sys
            import xml.etree.ElementTree as ET
            NS = '{http://graphml.graphdrawing.org/xmlns}'
            path = sys.argv[1]
            root = ET.parse(path).getroot()
            assert root.tag == NS + 'graphml', root.tag
            types = {'string': str, 'int': int, 'long': int, 'double': float, 'float': float,
                     'boolean': lambda v: v == 'true'}
            keys = {}
            for key in root.findall(NS + 'key'):
                assert key.get('attr.type') in types, key.attrib
                keys[key.get('id')] = (key.get('for'), key.get('attr.name'), types[key.get('attr.type')])
            graph = root.find(NS + 'graph')
            def data(element, kind):
                values = {}
                for d in element.findall(NS + 'data'):
                    target, name, convert = keys[d.get('key')]
                    assert target == kind, (d.get('key'), kind)
                    values[name] = convert(d.text or '')
                return values
            ids = [n.get('id') for n in graph.findall(NS + 'node')]
            assert len(ids) == len(set(ids)), 'repeated node ids'
            for e in graph.findall(NS + 'edge'):
                assert e.get('source') in ids and e.get('target') in ids, e.attrib
            results = [{'parser': 'xml.etree', 'directed': graph.get('edgedefault') == 'directed',
                        'nodes': [{'id': n.get('id'), 'data': data(n, 'node')} for n in graph.findall(NS + 'node')],
                        'edges': [{'source': e.get('source'), 'target': e.get('target'), 'data': data(e, 'edge')}
                                  for e in graph.findall(NS + 'edge')]}]
            try:
                import networkx
            except ImportError:
                networkx = None
            if networkx is not None:
                g = networkx.read_graphml(path)
                edges = g.edges(data=True, keys=False) if g.is_multigraph() else g.edges(data=True)
                results.append({'parser': 'networkx ' + networkx.__version__, 'directed': g.is_directed(),
                                'nodes': [{'id': n, 'data': d} for n, d in g.nodes(data=True)],
                                'edges': [{'source': s, 'target': t, 'data': {k: v for k, v in d.items() if k != 'id'}}
                                          for s, t, d in edges]})
            json.dump(results, sys.stdout)
            """#
        let graphs = try withTemporaryDirectory { folder in
            try JSONDecoder().decode([ParsedGraph].self,
                                     from: outputRunPython(script, [try writeFile(folder, "links.graphml", text)]))
        }
        // Which parsers ran is not left to chance: networkx must have been used exactly when python can import it.
        let networkx = try runProcess(outputPython, ["-c", "import networkx"], timeout: 60).status == 0
        let expected = networkx ? ["xml.etree", "networkx"] : ["xml.etree"]
        #expect(graphs.map { String($0.parser.split(separator: " ")[0]) } == expected,
                "parsers used: \(graphs.map(\.parser)) (networkx importable: \(networkx))")
        return graphs
    }

    @Test("GraphML parses with xml.etree (and networkx when installed): cluster members as nodes, shared keys as edges")
    func graphML() throws {
        let result = try outputResult()
        let text = TraceGraphML.render(result)
        #expect(text.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<graphml "))
        for graph in try parseGraphML(text) {
            let parser = graph.parser
            #expect(!graph.directed, "\(parser)")
            #expect(graph.nodes.map(\.id).sorted()
                        == ["DE-SH-2026-0000102", "DE-SZ-2026-0000302", "FR-SZ-2026-0000301", "NL-SZ-2026-0000103",
                            "PL-SH-2026-0000101"], "\(parser)")
            let nodes = Dictionary(uniqueKeysWithValues: graph.nodes.map { ($0.id, $0.data) })
            #expect(nodes["NL-SZ-2026-0000103"] == [
                "type": .text("record"), "label": .text("NL-SZ-2026-0000103"), "kind": .text("seizure"),
                "owner": .text("NL"), "country": .text("NL"), "date": .text("2026-09-15"), "neqKg": .number(14.75),
                "cluster": .text("DE-SH-2026-0000102"), "clusterRank": .number(1),
            ], "\(parser)")
            #expect(nodes["PL-SH-2026-0000101"]?["kind"] == .text("shipment"), "\(parser)")
            #expect(nodes["PL-SH-2026-0000101"]?["owner"] == .text("PL"), "\(parser)")
            #expect(nodes["FR-SZ-2026-0000301"]?["clusterRank"] == .number(2), "\(parser)")
            // The container joins three records pairwise; the vehicle and the person join the other two.
            #expect(graph.edges.count == 5, "\(parser)")
            let containerEdges = graph.edges.filter { $0.data["keyKind"] == .text("container") }
            #expect(containerEdges.count == 3, "\(parser)")
            #expect(containerEdges.allSatisfy {
                $0.data["keyValue"] == .text("MSCU1234565") && $0.data["label"] == .text("container MSCU1234565")
            }, "\(parser)")
            let personEdge = try #require(graph.edges.first { $0.data["keyKind"] == .text("person") }, "\(parser)")
            #expect(personEdge.data["keyValue"] == .text(outputPseudonym), "escaped and read back, \(parser)")
            #expect(Set([personEdge.source, personEdge.target]) == ["DE-SZ-2026-0000302", "FR-SZ-2026-0000301"])
        }

        for graph in try parseGraphML(TraceGraphML.render(result, keyNodes: true)) {
            let keys = graph.nodes.filter { $0.data["type"] == .text("key") }
            #expect(graph.nodes.count == 8 && keys.count == 3, "\(graph.parser)")
            #expect(graph.edges.count == 7, "one edge per member carrying a key, \(graph.parser)")
            #expect(keys.contains { $0.data["label"] == .text("container MSCU1234565") }, "\(graph.parser)")
        }
    }

    // MARK: HTML

    @Test("the HTML report needs no network: no script, no external reference, a policy that forbids loading")
    func htmlSelfContained() throws {
        let html = TraceHTML.render(try outputResult(), title: "Trace <NL> & \"friends\"",
                                    generatedAt: "2026-10-01T08:00:00Z")
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(!html.contains("http://") && !html.contains("https://"),
                "the fixture holds no URL, so neither may the page")
        let resource = #"(src|href)\s*=\s*["']?\s*(https?:)?//|url\(\s*["']?(https?:)?//"#
            + #"|@import|<script|<link|<iframe|<img|<object|<embed"#
        let external = html.range(of: resource, options: [.regularExpression, .caseInsensitive])
        #expect(external == nil, "external resource: \(external.map { String(html[$0]) } ?? "")")
        #expect(html.contains("Content-Security-Policy\" content=\"default-src 'none'"))
        #expect(html.contains("<title>Trace &lt;NL&gt; &amp; &quot;friends&quot;</title>"))
        #expect(!html.contains(outputPseudonym) && html.contains("&lt;b&gt;P1&lt;/b&gt; &amp; &quot;x&quot;, y"))
    }

    @Test("the HTML report rendered in headless Chromium shows the planted route, its numbers and the evidence",
          .timeLimit(.minutes(2)))
    func htmlInChromium() throws {
        let result = try outputResult()
        let html = TraceHTML.render(result, title: "Fireworks trace, August–September 2026",
                                    generatedAt: "2026-10-01T08:00:00Z")
        let dom = try outputChromiumDOM(html, name: "report.html")
        #expect(dom.contains("<svg class=\"flow-map\""), "the flow map is in the rendered DOM")
        #expect(dom.contains("id=\"time-series-chart\""))
        let text = outputText(dom)
        #expect(text.contains("CN → PL → NL"))
        #expect(text.contains("Fireworks trace, August–September 2026"))

        // The route table: rank, route, records, seizures, shipments, NEQ, gross, September, August, change.
        let routes = try outputTableRows(dom, id: "route-table")
        #expect(routes.first == ["1", "CN → PL → NL", "3", "1", "2", "14.8 kg", "2,049.0 kg", "2 · 14.8 kg",
                                 "1 · 0.0 kg", "+1 record (+100.0%); +14.8 kg NEQ (n/a)"])
        #expect(routes.map { $0[1] } == ["CN → PL → NL", "CN → BE", "NG → FR", "? → DE"])

        // Totals, time series and categories.
        #expect(text.contains("NEQ 21.8 kg net explosive quantity") && text.contains("Gross mass 2,077.0 kg"))
        #expect(text.contains("Records 6 of 7 considered; 1 withdrawn, skipped"))
        let series = try outputTableRows(dom, id: "time-series-table")
        #expect(series == [["2026-08", "2026-08-01", "2026-08-31", "2", "1", "1", "1", "5.0 kg", "1,220.0 kg"],
                           ["2026-09", "2026-09-01", "2026-09-30", "4", "3", "1", "5", "16.8 kg", "857.0 kg"]])
        let categories = try outputTableRows(dom, id: "category-table")
        #expect(categories.map { Array($0.prefix(5)) } == [
            ["F2", "1", "2", "1.5 kg", "6.0 kg"], ["F3", "1", "1", "2.3 kg", "9.0 kg"],
            ["F4", "2", "2", "17.5 kg", "60.0 kg"], ["unmarked", "1", "1", "0.5 kg", "2.0 kg"],
            ["no items (shipments)", "2", "0", "0.0 kg", "2,000.0 kg"],
        ])

        // The cluster and its evidence: the container key and the members that carry it.
        let start = try #require(dom.range(of: "id=\"cluster-1\""))
        let end = try #require(dom.range(of: "</article>", range: start.upperBound..<dom.endIndex))
        let cluster = outputText(String(dom[start.upperBound..<end.lowerBound]))
        #expect(cluster.contains("#1 · DE-SH-2026-0000102"))
        #expect(cluster.contains("Records 3 (1 seizure, 2 shipments)"))
        #expect(cluster.contains("Countries DE, NL, PL"))
        #expect(cluster.contains("Time span 2026-08-04 to 2026-09-15 (42 days)"))
        #expect(cluster.contains("NEQ 14.8 kg"))
        #expect(cluster.contains(
            "container MSCU1234565 container 3: DE-SH-2026-0000102, NL-SZ-2026-0000103, PL-SH-2026-0000101"))
        // The pseudonym is text, not markup: Chromium made no <b> element of it.
        #expect(text.contains("person \(outputPseudonym)"))
        #expect(!dom.contains("<b>P1</b>"))
    }

    @Test("a report over generated records of three countries renders in Chromium with its routes and clusters",
          .timeLimit(.minutes(2)))
    func htmlOfGeneratedRecords() throws {
        var engine = TraceEngine(query: try TraceQuery(period: .month))
        for (index, sender) in ["NL", "PL", "DE"].enumerated() {
            var generator = try SyntheticBatchGenerator(SyntheticBatchConfiguration(
                records: 400, seed: 77 + UInt64(index), sender: sender, firstNumber: 1 + index * 100_000))
            var written = 0
            while written < 400 {
                let batch = generator.nextCase(limit: 400 - written)
                for record in batch { try engine.add(RecordFacts.of(record)) }
                written += batch.count
            }
        }
        // A low guard, as docs/trace.md advises for small generated sets, so that real links remain.
        let result = engine.result(topRoutes: 12, maxRecordsPerKey: 20)
        #expect(result.routes.count == 12 && result.clusterCount > 0 && result.timeSeries.count > 1)
        let html = TraceHTML.render(result, title: "Generated", generatedAt: "now", maxClusters: 10)
        let dom = try outputChromiumDOM(html, name: "generated.html")
        let routes = try outputTableRows(dom, id: "route-table")
        #expect(routes.map { $0[1] } == result.routes.map(\.label))
        #expect(routes.map { $0[2] } == result.routes.map { String($0.records) })
        let series = try outputTableRows(dom, id: "time-series-table")
        #expect(series.map { $0[0] } == result.timeSeries.map(\.period))
        for (index, cluster) in result.clusters.prefix(10).enumerated() {
            #expect(dom.contains("id=\"cluster-\(index + 1)\""))
            #expect(outputText(dom).contains("#\(index + 1) · \(cluster.id)"))
        }
        #expect(!dom.contains("id=\"cluster-11\""))
    }

    @Test("an empty result gives valid, empty outputs in every format")
    func emptyResult() throws {
        let result = TraceEngine(query: .all).result()
        let collection = try parseGeoJSON(TraceGeoJSON.render(result))
        #expect(collection.type == "FeatureCollection" && collection.features.isEmpty)
        for graph in try parseGraphML(TraceGraphML.render(result)) {
            #expect(graph.nodes.isEmpty && graph.edges.isEmpty, "\(graph.parser)")
        }
        #expect(try TraceJSON.decode(TraceJSON.render(result)) == result)
        for table in TraceTable.allCases {
            #expect(try outputParseCSV(TraceCSV.render(result, table: table), table: table).isEmpty)
        }
        let html = TraceHTML.render(result, title: "Empty", generatedAt: "2026-10-01")
        #expect(html.contains("No routes: no record matched.") && html.contains("No dated records."))
    }
}
