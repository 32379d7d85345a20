// Tests of FWXTrace: key normalisation, the facts of a record, flows and routes computed by hand, filters, the change
// against the previous period, and clusters planted into a background of generated records.
import FWXConvert
import FWXModel
import FWXTrace
import Foundation
import Testing

// MARK: - Helpers (private, prefixed `trace`)

private let traceEvaluation = Evaluation(source: .b, information: .two)

/// An item of `category` with the given NEQ and gross mass (kg), made in `made`.
private func traceItem(_ category: CECategory, neq: Double, gross: Double, made: String? = nil,
                       product: String? = nil, brand: String? = nil, ce: String? = nil) -> Item {
    Item(category: category, productName: product, brand: brand, countryOfManufacture: made, ceRegistrationNumber: ce,
         quantity: Quantity(10, .pieces), grossMassKg: gross,
         netExplosiveQuantity: NetExplosiveQuantity(kg: neq, basis: .label))
}

private func traceSeizure(_ id: String, _ date: String, in country: String, items: [Item], parties: [Party] = [],
                          vehicles: [Vehicle] = [], nuts: String? = nil, latitude: Double? = nil,
                          longitude: Double? = nil, status: RecordStatus = .active) -> Record {
    .seizure(SeizureRecord(
        recordId: id, status: status, withdrawalReason: status == .withdrawn ? .erroneous : nil,
        incidentType: .borderOrRoadCheck, seizureDateTime: "\(date)T10:00:00Z",
        seizingAuthority: SeizingAuthority(type: .police), caseReference: "CASE-\(id)",
        location: Location(country: country, nutsCode: nuts, latitude: latitude, longitude: longitude),
        evaluation: traceEvaluation, items: items, parties: parties, vehicles: vehicles, retentionUntil: "2031-01-01"))
}

private func traceShipment(_ id: String, departure: String? = nil, interception: String? = nil,
                           arrival: String? = nil, from origin: String, via transit: [String] = [],
                           to destination: String, parties: [Party] = [], containers: [String] = [],
                           vehicles: [Vehicle] = [], goodsFoundKg: Double? = nil,
                           status: RecordStatus = .active) -> Record {
    .shipment(ShipmentRecord(
        recordId: id, status: status, withdrawalReason: status == .withdrawn ? .erroneous : nil,
        transportMode: .road, origin: Location(country: origin), transit: transit,
        destination: Location(country: destination), parties: parties, containers: containers, vehicles: vehicles,
        declaredGoods: Goods(description: "Toys", grossMassKg: 9999),
        goodsFound: goodsFoundKg.map { Goods(description: "Fireworks", grossMassKg: $0) },
        departureDate: departure, arrivalDate: arrival, interceptionDate: interception, retentionUntil: "2031-01-01"))
}

private func traceOrganisation(_ role: PartyRole, _ name: String, vat: String? = nil, registration: String? = nil)
    -> Party {
    Party(role: role, organisation: Organisation(name: name, registrationNumber: registration, vatNumber: vat))
}

private func traceRun(_ records: [Record], query: TraceQuery = .all, topRoutes: Int = 10, maxRecordsPerKey: Int = 500)
    throws -> TraceResult {
    var engine = TraceEngine(query: query)
    for record in records { try engine.add(RecordFacts.of(record)) }
    return engine.result(topRoutes: topRoutes, maxRecordsPerKey: maxRecordsPerKey)
}

/// Generated records of several senders with distinct record numbers (from 500,000 on, apart from the hand-built
/// records): realistic background noise.
private func traceBackground(senders: [String], recordsEach: Int, seed: UInt64) throws -> [Record] {
    var records: [Record] = []
    for (index, sender) in senders.enumerated() {
        var generator = try SyntheticBatchGenerator(SyntheticBatchConfiguration(
            records: recordsEach, seed: seed + UInt64(index), sender: sender, firstNumber: 500_000 + index * 100_000))
        var written = 0
        while written < recordsEach {
            let batch = generator.nextCase(limit: recordsEach - written)
            records += batch
            written += batch.count
        }
    }
    return records
}

/// The hand-built flow fixture: two shipments and four seizures in March and April 2026 (see each line).
private let traceFlowRecords: [Record] = [
    // PL → DE → NL shipment, departed in March; 100 kg of goods found, no items.
    traceShipment("PL-SH-2026-0000001", departure: "2026-03-05", interception: "2026-04-01", from: "PL", via: ["DE"],
                  to: "NL", goodsFoundKg: 100),
    // NL seizure in March: F4 made in PL (2.5 kg NEQ, 10 kg gross) and unmarked made in PL (1 kg, 4 kg).
    traceSeizure("NL-SZ-2026-0000001", "2026-03-10", in: "NL",
                 items: [traceItem(.f4, neq: 2.5, gross: 10, made: "PL"), traceItem(.unmarked, neq: 1, gross: 4, made: "PL")],
                 nuts: "NL33B", latitude: 51.92, longitude: 4.48),
    // NL seizure in April: F4 made in CZ (3 kg, 12 kg).
    traceSeizure("NL-SZ-2026-0000002", "2026-04-02", in: "NL", items: [traceItem(.f4, neq: 3, gross: 12, made: "CZ")],
                 nuts: "NL421"),
    // CZ → NL shipment intercepted in April (no departure date): 50 kg found.
    traceShipment("CZ-SH-2026-0000001", interception: "2026-04-20", arrival: "2026-04-22", from: "CZ", to: "NL",
                  goodsFoundKg: 50),
    // DE seizure in April, F3 with no country of manufacture: origin unknown.
    traceSeizure("DE-SZ-2026-0000001", "2026-04-15", in: "DE", items: [traceItem(.f3, neq: 0.5, gross: 2)]),
    // NL seizure in April: F4 made in PL (1.5 kg, 6 kg).
    traceSeizure("NL-SZ-2026-0000003", "2026-04-25", in: "NL", items: [traceItem(.f4, neq: 1.5, gross: 6, made: "PL")]),
]

// MARK: - Tests

@Suite("Trace")
struct TraceTests {
    // MARK: Normalisation

    @Test("one carrier written three ways gives one organisation key, legal forms and diacritics removed")
    func organisationNames() {
        let spellings = ["Pyro-Trans B.V.", "PYRO TRANS BV", "pyrotrans b.v."]
        #expect(Set(spellings.map(NameNormaliser.organisation)) == ["PYROTRANS"])
        #expect(NameNormaliser.organisation("Fajerwerki Łódź Sp. z o.o.") == "FAJERWERKILODZ")
        #expect(NameNormaliser.organisation("Müller Feuerwerk GmbH & Co. KG") == "MULLERFEUERWERK")
        #expect(NameNormaliser.organisation("Mu\u{0308}ller Feuerwerk GmbH") == "MULLERFEUERWERK")
        #expect(NameNormaliser.organisation("Großhandel Ørsted ApS") == "GROSSHANDELORSTED")
        #expect(NameNormaliser.organisation("Liuyang Red Dragon Fireworks Co., Ltd.") == "LIUYANGREDDRAGONFIREWORKS")
        #expect(NameNormaliser.organisation("Ohňostroj Export s.r.o.") == "OHNOSTROJEXPORT")
        #expect(NameNormaliser.organisation("Pyrotechnika spol. s r.o.") == "PYROTECHNIKA")
        #expect(NameNormaliser.organisation("Feux d'Artifice S.à r.l.") == "FEUXDARTIFICE")
        // A legal form alone is kept (a name needs one word), and only trailing forms are removed.
        #expect(NameNormaliser.organisation("GmbH") == "GMBH")
        #expect(NameNormaliser.organisation("AB Cargo") == "ABCARGO")
        #expect(NameNormaliser.organisation(" -- ") == "")
        // Different companies stay different.
        #expect(NameNormaliser.organisation("Pyro-Trade B.V.") != NameNormaliser.organisation("Pyro-Trans B.V."))
    }

    @Test("containers, plates, VAT and CE numbers, products and pseudonyms normalise as documented")
    func otherKeys() {
        #expect(LinkKey.container("mscu 123456-5") == LinkKey(kind: .container, value: "MSCU1234565"))
        #expect(LinkKey.vehicle(plate: "wa 12345", registrationCountry: "pl") == LinkKey(kind: .vehicle, value: "PL:WA12345"))
        #expect(LinkKey.vehicle(plate: "WA-12345", registrationCountry: "PL") == LinkKey.vehicle(plate: "wa12345", registrationCountry: "PL"))
        #expect(LinkKey.vehicle(plate: "WA12345", registrationCountry: "DE") != LinkKey.vehicle(plate: "WA12345", registrationCountry: "PL"))
        #expect(LinkKey.vat(" nl 123456789b01 ")?.value == "NL123456789B01")
        #expect(LinkKey.vat("NL123456789B01") != LinkKey.vat("NL123456789B02"))
        #expect(LinkKey.ceRegistration("0589-f4-1234")?.value == "0589-F4-1234")
        #expect(LinkKey.product(name: "Cobra 6", brand: "Cobra")?.value == "COBRA6/COBRA")
        #expect(LinkKey.product(name: "COBRA-6", brand: "cobra") == LinkKey.product(name: "Cobra 6", brand: "Cobra"))
        #expect(LinkKey.person(pseudonym: " p1:00ab ")?.value == "p1:00ab")
        #expect(LinkKey.container(" - ") == nil)
        #expect(LinkKey.organisationName("Pyro-Trans B.V.")!.description(roles: PartyRoles(.carrier))
                    == "carrier name PYROTRANS")
    }

    @Test("docs/trace.md lists every legal form the normaliser removes")
    func legalFormsAreDocumented() throws {
        let docs = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("docs/trace.md"),
                              encoding: .utf8)
        let documented = Set(docs.split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map(String.init))
        let missing = NameNormaliser.legalForms.subtracting(documented)
        #expect(missing.isEmpty, "not in docs/trace.md: \(missing.sorted())")
    }

    // MARK: Facts

    @Test("the facts of a seizure: date, origin by most NEQ, destination and location, amounts, keys with roles")
    func seizureFacts() {
        let record = traceSeizure(
            "nl-SZ-2026-0000009", "2026-05-06", in: "NL",
            items: [traceItem(.f4, neq: 1, gross: 5, made: "CZ", product: "Viper 12", brand: "Viper", ce: "0589-F4-1234"),
                    traceItem(.f4, neq: 2, gross: 6, made: "PL"), traceItem(.unmarked, neq: 0.5, gross: 1, made: "CZ")],
            parties: [traceOrganisation(.seller, "Knaller B.V.", vat: "nl123"), Party(role: .suspect, person: Person(pseudonym: "p1:ff"))],
            vehicles: [Vehicle(plate: "ab-123-c", registrationCountry: "NL")], nuts: "NL33B", latitude: 51.9, longitude: 4.4)
        let facts = RecordFacts.of(record)
        #expect(facts.kind == .seizure)
        #expect(facts.ownerCountry == "NL")
        #expect(facts.date == "2026-05-06")
        #expect(facts.origin == RecordFacts.Place(country: "PL"))  // PL 2 kg against CZ 1.5 kg
        #expect(facts.destination == RecordFacts.Place(country: "NL", region: "NL33B"))
        #expect(facts.location == RecordFacts.Point(country: "NL", latitude: 51.9, longitude: 4.4))
        #expect(facts.categories.map(\.category) == [.f4, .unmarked])
        #expect(facts.categories[0].amounts == RecordFacts.Amounts(items: 2, neqKg: 3, grossKg: 11))
        #expect(facts.totals == RecordFacts.Amounts(items: 3, neqKg: 3.5, grossKg: 12))
        let keys = Dictionary(uniqueKeysWithValues: facts.linkKeys.enumerated().map { ($0.element, facts.roles(at: $0.offset)) })
        #expect(keys == [
            LinkKey(kind: .vehicle, value: "NL:AB123C"): [],
            LinkKey(kind: .organisationName, value: "KNALLER"): PartyRoles(.seller),
            LinkKey(kind: .vat, value: "NL123"): PartyRoles(.seller),
            LinkKey(kind: .ceRegistration, value: "0589-F4-1234"): [],
            LinkKey(kind: .product, value: "VIPER12/VIPER"): [],
            LinkKey(kind: .person, value: "p1:ff"): PartyRoles(.suspect),
        ])
        #expect(facts.linkKeys == facts.linkKeys.sorted())
    }

    @Test("the facts of a shipment: date is departure, else interception, else arrival; gross mass is goods found")
    func shipmentFacts() {
        let full = RecordFacts.of(traceShipment("PL-SH-1", departure: "2026-01-02", interception: "2026-01-05",
                                                arrival: "2026-01-09", from: "PL", via: ["DE", "el"], to: "NL",
                                                parties: [traceOrganisation(.carrier, "Pyro-Trans B.V."),
                                                          traceOrganisation(.consignor, "PYRO TRANS BV")],
                                                containers: ["mscu 123456-5"], goodsFoundKg: 40))
        #expect(full.date == "2026-01-02")
        #expect(full.transit == ["DE", "GR"])
        #expect(full.totals == RecordFacts.Amounts(items: 0, neqKg: 0, grossKg: 40))
        #expect(full.categories.isEmpty)
        #expect(full.location == nil)
        let name = full.linkKeys.firstIndex(of: LinkKey(kind: .organisationName, value: "PYROTRANS"))!
        #expect(full.roles(at: name) == [PartyRoles(.carrier), PartyRoles(.consignor)])
        #expect(full.linkKeys.contains(LinkKey(kind: .container, value: "MSCU1234565")))
        #expect(RecordFacts.of(traceShipment("PL-SH-2", interception: "2026-01-05", arrival: "2026-01-09", from: "PL",
                                             to: "NL")).date == "2026-01-05")
        #expect(RecordFacts.of(traceShipment("PL-SH-3", arrival: "2026-01-09", from: "PL", to: "NL")).date == "2026-01-09")
        #expect(RecordFacts.of(traceShipment("PL-SH-4", from: "PL", to: "NL")).date == nil)
    }

    @Test("facts survive JSON and the binary form unchanged, for generated records of every shape")
    func factsRoundTrip() throws {
        let records = try traceBackground(senders: ["NL", "PL"], recordsEach: 300, seed: 41)
        for record in records {
            let facts = RecordFacts.of(record)
            #expect(try RecordFacts(binary: facts.binary()) == facts)
            #expect(try JSONDecoder().decode(RecordFacts.self, from: JSONEncoder().encode(facts)) == facts)
        }
        let sample = RecordFacts.of(records[0]).binary()
        #expect(throws: FWXError(.conversion, "")) { try RecordFacts(binary: sample.dropLast()) }
        #expect(throws: FWXError(.conversion, "")) { try RecordFacts(binary: [9] + sample.dropFirst()) }
    }

    @Test("randomly damaged binary forms (seeded) never trap; the engine and the decoder agree on which they refuse")
    func damagedBinaryFacts() throws {
        let records = try traceBackground(senders: ["NL", "PL"], recordsEach: 30, seed: 23)
        let blobs = records.map { RecordFacts.of($0).binary() }
        var state: UInt64 = 0x5EED
        func next(_ bound: Int) -> Int {
            state = state &+ 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(bound))
        }
        var engine = TraceEngine()
        var refused = 0, taken = 0
        for blob in blobs {
            for _ in 0..<150 {
                var damaged = blob
                for _ in 0...next(3) {
                    switch next(3) {
                    case 0: damaged[next(damaged.count)] = UInt8(next(256))
                    case 1: damaged.insert(UInt8(next(256)), at: next(damaged.count + 1))
                    default: if damaged.count > 1 { damaged.remove(at: next(damaged.count)) }
                    }
                }
                let decodes = (try? RecordFacts(binary: damaged)) != nil
                let added = damaged.withUnsafeBytes { engine.add(binary: $0) }
                #expect(added == decodes)
                if added { taken += 1 } else { refused += 1 }
            }
        }
        #expect(refused > 0 && taken > 0)
        #expect(engine.result().totals.recordsConsidered == taken)
    }

    @Test("a truncated, extended or out-of-range binary form is refused by the reader and changes nothing when added")
    func malformedBinaryFacts() throws {
        let records = try traceBackground(senders: ["DE"], recordsEach: 40, seed: 5)
        let blobs = records.map { RecordFacts.of($0).binary() }
        var engine = TraceEngine()
        let before = engine.result()
        for blob in blobs.prefix(10) {
            var variants = (0..<blob.count).map { Array(blob.prefix($0)) }   // every truncation
            variants.append(blob + [0])                                       // a byte left over
            variants.append([9] + blob.dropFirst())                           // another version
            var badFlags = blob
            badFlags[1 + 1 + Int(blob[1])] |= 0b111 << 2                      // handling code index 7
            variants.append(badFlags)
            for variant in variants {
                #expect(throws: FWXError(.conversion, "")) { try RecordFacts(binary: variant) }
                #expect(variant.withUnsafeBytes { engine.add(binary: $0) } == false)
            }
        }
        #expect(engine.result() == before)
        for blob in blobs { #expect(blob.withUnsafeBytes { engine.add(binary: $0) }) }
        var decoded = TraceEngine()
        for blob in blobs { try decoded.add(try RecordFacts(binary: blob)) }
        #expect(engine.result() == decoded.result())
    }

    // MARK: Flows, routes, periods

    @Test("flows per month, route and category match the hand-computed counts, NEQ and gross mass")
    func flowTotals() throws {
        let result = try traceRun(traceFlowRecords)
        struct Flow: Equatable {
            var period: String?, origin: String?, transit: [String], destination: String?, category: CECategory?
            var records: Int, items: Int, neq: Double, gross: Double
        }
        let flows = result.flows.map {
            Flow(period: $0.period, origin: $0.origin, transit: $0.transit, destination: $0.destination,
                 category: $0.category, records: $0.records, items: $0.items, neq: $0.neqKg, gross: $0.grossKg)
        }
        #expect(flows == [
            Flow(period: "2026-03", origin: "PL", transit: [], destination: "NL", category: .f4, records: 1, items: 1, neq: 2.5, gross: 10),
            Flow(period: "2026-03", origin: "PL", transit: [], destination: "NL", category: .unmarked, records: 1, items: 1, neq: 1, gross: 4),
            Flow(period: "2026-03", origin: "PL", transit: ["DE"], destination: "NL", category: nil, records: 1, items: 0, neq: 0, gross: 100),
            Flow(period: "2026-04", origin: nil, transit: [], destination: "DE", category: .f3, records: 1, items: 1, neq: 0.5, gross: 2),
            Flow(period: "2026-04", origin: "CZ", transit: [], destination: "NL", category: .f4, records: 1, items: 1, neq: 3, gross: 12),
            Flow(period: "2026-04", origin: "CZ", transit: [], destination: "NL", category: nil, records: 1, items: 0, neq: 0, gross: 50),
            Flow(period: "2026-04", origin: "PL", transit: [], destination: "NL", category: .f4, records: 1, items: 1, neq: 1.5, gross: 6),
        ])
        #expect(result.flows.filter { $0.category == nil }.allSatisfy { $0.shipments == 1 && $0.seizures == 0 })

        #expect(result.routes.map(\.label) == ["PL → NL", "CZ → NL", "? → DE", "PL → DE → NL"])
        #expect(result.routes.map(\.records) == [2, 2, 1, 1])
        #expect(result.routes.map(\.neqKg) == [5, 3, 0.5, 0])
        #expect(result.routes.map(\.grossKg) == [20, 62, 2, 100])
        #expect(result.routeCount == 4)
        #expect(try traceRun(traceFlowRecords, topRoutes: 2).routes.map(\.label) == ["PL → NL", "CZ → NL"])

        #expect(result.timeSeries.map(\.period) == ["2026-03", "2026-04"])
        #expect(result.timeSeries.map(\.records) == [2, 4])
        #expect(result.timeSeries.map(\.neqKg) == [3.5, 5])
        #expect(result.timeSeries.map(\.grossKg) == [114, 70])
        #expect(result.timeSeries[1].start == "2026-04-01" && result.timeSeries[1].end == "2026-04-30")

        #expect(result.categories.map(\.category) == [.f3, .f4, .unmarked, nil])
        #expect(result.categories.map(\.records) == [1, 3, 1, 2])
        #expect(result.categories.map(\.neqKg) == [0.5, 7, 1, 0])
        #expect(result.categories.map(\.grossKg) == [2, 28, 4, 150])

        #expect(result.totals.recordsMatched == 6 && result.totals.seizures == 4 && result.totals.shipments == 2)
        #expect(result.totals.neqKg == 8.5 && result.totals.grossKg == 184)
        #expect(result.points.map(\.recordId) == ["DE-SZ-2026-0000001", "NL-SZ-2026-0000001", "NL-SZ-2026-0000002",
                                                  "NL-SZ-2026-0000003"])
        #expect(result.points[1].latitude == 51.92 && result.points[1].longitude == 4.48 && result.points[1].neqKg == 3.5)
        #expect(result.points[0].latitude == nil && result.points[0].country == "DE")
        let nl = try #require(result.countries.first { $0.country == "NL" })
        #expect(nl.asOwner == 3 && nl.asDestination == 5 && nl.asLocation == 3 && nl.asOrigin == 0)
        #expect(result.countries.first { $0.country == "DE" }?.asTransit == 1)
    }

    @Test("change against the previous period: last complete period of the range against the one before")
    func periodChange() throws {
        // The range ends on 2026-04-30: April is complete and is compared with March.
        let april = try traceRun(traceFlowRecords, query: try TraceQuery(to: "2026-04-30"))
        #expect(april.comparison == PeriodComparison(current: "2026-04", previous: "2026-03"))
        let plToNL = try #require(april.routes.first { $0.label == "PL → NL" }?.change)
        #expect(plToNL == RouteChange(records: 1, previousRecords: 1, recordsChange: 0, recordsChangePercent: 0,
                                      neqKg: 1.5, previousNeqKg: 3.5, neqChangeKg: -2, neqChangePercent: -57.1))
        let czToNL = try #require(april.routes.first { $0.label == "CZ → NL" }?.change)
        #expect(czToNL.records == 2 && czToNL.previousRecords == 0 && czToNL.recordsChange == 2)
        #expect(czToNL.recordsChangePercent == nil && czToNL.neqChangePercent == nil)
        let viaDE = try #require(april.routes.first { $0.label == "PL → DE → NL" }?.change)
        #expect(viaDE.records == 0 && viaDE.previousRecords == 1 && viaDE.recordsChangePercent == -100)

        // Without `to` the range ends on the latest record (2026-04-25): April is not complete, March is compared
        // with February.
        let open = try traceRun(traceFlowRecords)
        #expect(open.comparison == PeriodComparison(current: "2026-03", previous: "2026-02"))
        #expect(open.routes.first { $0.label == "PL → NL" }?.change?.previousRecords == 0)
        // February lies before `from`: no two complete periods in range, no change.
        let short = try traceRun(traceFlowRecords, query: try TraceQuery(from: "2026-03-01"))
        #expect(short.comparison == nil && short.routes.allSatisfy { $0.change == nil })
        // Quarters: Q2 ends 2026-06-30, so with to = 2026-06-30, Q2 is compared with Q1.
        let quarters = try traceRun(traceFlowRecords, query: try TraceQuery(to: "2026-06-30", period: .quarter))
        #expect(quarters.comparison == PeriodComparison(current: "2026-Q2", previous: "2026-Q1"))
        #expect(quarters.routes.first { $0.label == "PL → NL" }?.change?.recordsChange == 0)
        #expect(quarters.timeSeries.map(\.period) == ["2026-Q1", "2026-Q2"])
        #expect(quarters.timeSeries.map(\.records) == [2, 4])
    }

    @Test("filters: period, countries and categories restrict records and figures")
    func filters() throws {
        let april = try traceRun(traceFlowRecords, query: try TraceQuery(from: "2026-04-01", to: "2026-04-30"))
        #expect(april.totals.recordsMatched == 4 && april.totals.recordsConsidered == 6)
        #expect(april.flows.allSatisfy { $0.period == "2026-04" })

        // CZ: origin of one shipment and of one seizure's items, owner of the shipment.
        let czech = try traceRun(traceFlowRecords, query: try TraceQuery(countries: ["cz"]))
        #expect(Set(czech.points.map(\.recordId)) == ["NL-SZ-2026-0000002"])
        #expect(czech.totals.recordsMatched == 2 && czech.totals.shipments == 1)
        // DE: transit of the first shipment, location and owner of the DE seizure.
        let german = try traceRun(traceFlowRecords, query: try TraceQuery(countries: ["DE"]))
        #expect(Set(german.routes.map(\.label)) == ["PL → DE → NL", "? → DE"])

        // F4: only seizures with F4 items, and only their F4 items count.
        let f4 = try traceRun(traceFlowRecords, query: try TraceQuery(categories: [.f4]))
        #expect(f4.totals.recordsMatched == 3 && f4.totals.shipments == 0)
        #expect(f4.totals.neqKg == 7 && f4.totals.grossKg == 28)
        #expect(f4.categories.map(\.category) == [.f4])
        #expect(f4.flows.allSatisfy { $0.category == .f4 })
        #expect(f4.points.first { $0.recordId == "NL-SZ-2026-0000001" }?.neqKg == 2.5)

        let yearly = try traceRun(traceFlowRecords, query: try TraceQuery(period: .year))
        #expect(yearly.flows.allSatisfy { $0.period == "2026" })
        #expect(yearly.timeSeries.map(\.records) == [6])

        let regions = try traceRun(traceFlowRecords, query: try TraceQuery(regionLevel: 2))
        #expect(Set(regions.flows.compactMap(\.destinationRegion)) == ["NL33", "NL42"])
        #expect(regions.routes.count == 4)

        #expect(throws: FWXError(.usage, "")) { try TraceQuery(from: "2026-4-1") }
        #expect(throws: FWXError(.usage, "")) { try TraceQuery(from: "2026-05-01", to: "2026-04-01") }
        #expect(throws: FWXError(.usage, "")) { try TraceQuery(countries: ["XX"]) }
        #expect(throws: FWXError(.usage, "")) { try TraceQuery(regionLevel: 4) }
        #expect(try TraceQuery(countries: ["el", "uk"]).countries == ["GR", "GB"])
    }

    @Test("the result does not depend on the order records are added in, and survives JSON")
    func orderIndependence() throws {
        let records = traceFlowRecords + (try traceBackground(senders: ["NL", "BE"], recordsEach: 200, seed: 5))
        let forward = try traceRun(records)
        let backward = try traceRun(records.reversed())
        // Field by field, so that a failure says where.
        #expect(forward.totals == backward.totals)
        #expect(forward.flows == backward.flows)
        #expect(forward.routes == backward.routes)
        #expect(forward.timeSeries == backward.timeSeries)
        #expect(forward.categories == backward.categories)
        #expect(forward.clusters.map(\.members) == backward.clusters.map(\.members))
        #expect(forward.clusters == backward.clusters)
        #expect(forward.ignoredKeys == backward.ignoredKeys)
        #expect(forward.points == backward.points)
        #expect(forward.countries == backward.countries)
        #expect(forward == backward)
        let decoded = try JSONDecoder().decode(TraceResult.self, from: JSONEncoder().encode(forward))
        #expect(decoded == forward)
    }

    // MARK: Clusters

    @Test("planted networks in generated data: one container across PL, DE and NL; one carrier written three ways; one VAT number")
    func plantedNetworks() throws {
        let background = try traceBackground(senders: ["NL", "BE", "DE"], recordsEach: 400, seed: 2026)
        let container = "ZZZU 424242-0"
        let planted: [Record] = [
            traceShipment("PL-SH-2026-9000001", departure: "2026-02-01", from: "PL", to: "DE",
                          parties: [traceOrganisation(.consignor, "Planted Alpha")], containers: [container]),
            traceShipment("DE-SH-2026-9000001", departure: "2026-02-10", from: "DE", to: "NL",
                          parties: [traceOrganisation(.consignor, "Planted Beta")], containers: ["zzzu424242-0"]),
            traceShipment("NL-SH-2026-9000001", departure: "2026-03-01", from: "PL", via: ["DE"], to: "NL",
                          containers: ["ZZZU4242420"]),
            traceShipment("CZ-SH-2026-9000002", departure: "2026-02-01", from: "CZ", to: "BE",
                          parties: [traceOrganisation(.carrier, "Pyro-Trans B.V.")]),
            traceShipment("BE-SH-2026-9000002", departure: "2026-02-03", from: "CZ", to: "BE",
                          parties: [traceOrganisation(.carrier, "PYRO TRANS BV")]),
            traceShipment("FR-SH-2026-9000002", departure: "2026-02-05", from: "CZ", via: ["DE"], to: "FR",
                          parties: [traceOrganisation(.carrier, "pyrotrans b.v.")]),
            traceSeizure("AT-SZ-2026-9000003", "2026-01-10", in: "AT", items: [traceItem(.f4, neq: 4, gross: 9)],
                         parties: [traceOrganisation(.seller, "Planted Gamma", vat: "ATU99999999")]),
            traceSeizure("IT-SZ-2026-9000003", "2026-01-20", in: "IT", items: [traceItem(.f4, neq: 6, gross: 11)],
                         parties: [traceOrganisation(.buyer, "Planted Delta", vat: "atu 99999999")]),
            traceSeizure("SI-SZ-2026-9000003", "2026-01-30", in: "SI", items: [traceItem(.f4, neq: 1, gross: 2)],
                         parties: [traceOrganisation(.buyer, "Planted Epsilon", vat: "ATU99999998")]),
        ]
        let plantedIds = Set(planted.map(\.recordId))
        let result = try traceRun(background + planted)

        let byContainer = try #require(result.clusters.first { $0.members.contains("PL-SH-2026-9000001") })
        #expect(byContainer.members == ["DE-SH-2026-9000001", "NL-SH-2026-9000001", "PL-SH-2026-9000001"])
        #expect(byContainer.id == "DE-SH-2026-9000001")
        #expect(byContainer.countries == ["DE", "NL", "PL"])
        #expect(byContainer.firstDate == "2026-02-01" && byContainer.lastDate == "2026-03-01")
        #expect(byContainer.sharedKeys == [SharedKey(kind: .container, value: "ZZZU4242420", roles: [],
                                                     label: "container ZZZU4242420", members: byContainer.members)])

        let byCarrier = try #require(result.clusters.first { $0.members.contains("CZ-SH-2026-9000002") })
        #expect(byCarrier.members == ["BE-SH-2026-9000002", "CZ-SH-2026-9000002", "FR-SH-2026-9000002"])
        #expect(byCarrier.sharedKeys.map(\.label) == ["carrier name PYROTRANS"])
        #expect(byCarrier.sharedKeys.first?.roles == [.carrier])

        let byVAT = try #require(result.clusters.first { $0.members.contains("AT-SZ-2026-9000003") })
        #expect(byVAT.members == ["AT-SZ-2026-9000003", "IT-SZ-2026-9000003"])
        #expect(byVAT.sharedKeys.map(\.label) == ["seller/buyer VAT number ATU99999999"])
        #expect(byVAT.neqKg == 10 && byVAT.countries == ["AT", "IT"])
        // A different VAT number joins nothing.
        #expect(!result.clusters.contains { $0.members.contains("SI-SZ-2026-9000003") })

        // No cluster mixes planted and background records.
        for cluster in result.clusters {
            let plantedMembers = cluster.members.filter(plantedIds.contains)
            #expect(plantedMembers.isEmpty || plantedMembers.count == cluster.members.count,
                    "cluster \(cluster.id) mixes planted and generated records: \(cluster.sharedKeys.map(\.label))")
        }
        // Every listed cluster is joined by its evidence: each shared key names members of that cluster only.
        for cluster in result.clusters {
            #expect(cluster.members.count >= 2)
            for key in cluster.sharedKeys {
                #expect(key.members.count >= 2 && Set(key.members).isSubset(of: cluster.members))
            }
        }
        // Sorted by size, then NEQ, descending.
        #expect(result.clusters.map(\.members.count) == result.clusters.map(\.members.count).sorted(by: >))
        #expect(result.clusterCount == result.clusters.count)
    }

    @Test("a key shared by more records than the guard allows joins none of them and is reported")
    func giantKeyGuard() throws {
        let records = (1...6).map { number in
            traceSeizure("NL-SZ-2026-000000\(number)", "2026-03-0\(number)", in: "NL",
                         items: [traceItem(.unmarked, neq: 1, gross: 2, product: "Cobra 6", brand: "Cobra")])
        }
        let guarded = try traceRun(records, maxRecordsPerKey: 5)
        #expect(guarded.clusters.isEmpty)
        #expect(guarded.ignoredKeys == [IgnoredKey(kind: .product, value: "COBRA6/COBRA", roles: [],
                                                   label: "product COBRA6/COBRA", records: 6)])
        let allowed = try traceRun(records, maxRecordsPerKey: 6)
        #expect(allowed.clusters.map(\.members.count) == [6] && allowed.ignoredKeys.isEmpty)
        // Products can also be left out of linking altogether.
        let noProducts = try traceRun(records, query: try TraceQuery(linkKinds: Set(LinkKind.allCases).subtracting([.product])))
        #expect(noProducts.clusters.isEmpty && noProducts.ignoredKeys.isEmpty)
    }

    @Test("withdrawn records are skipped: they count as considered and join nothing")
    func withdrawnSkipped() throws {
        let records = [
            traceShipment("PL-SH-1", departure: "2026-01-01", from: "PL", to: "NL", containers: ["ABCU1111111"]),
            traceShipment("NL-SH-1", departure: "2026-01-02", from: "PL", to: "NL", containers: ["ABCU1111111"],
                          status: .withdrawn),
            traceShipment("DE-SH-1", departure: "2026-01-03", from: "PL", to: "NL", containers: ["ABCU1111111"]),
            traceSeizure("NL-SZ-1", "2026-01-04", in: "NL", items: [traceItem(.f4, neq: 9, gross: 9)], status: .withdrawn),
        ]
        let result = try traceRun(records)
        #expect(result.totals.recordsConsidered == 4 && result.totals.recordsWithdrawn == 2)
        #expect(result.totals.recordsMatched == 2 && result.totals.neqKg == 0)
        #expect(result.clusters.map(\.members) == [["DE-SH-1", "PL-SH-1"]])
        #expect(result.points.isEmpty)
    }

    @Test("an engine that matched nothing gives an empty result")
    func emptyResult() throws {
        let result = try traceRun(traceFlowRecords, query: try TraceQuery(from: "2030-01-01", to: "2030-12-31"))
        #expect(result.totals.recordsConsidered == 6 && result.totals.recordsMatched == 0)
        #expect(result.flows.isEmpty && result.routes.isEmpty && result.timeSeries.isEmpty && result.clusters.isEmpty)
        #expect(result.categories.isEmpty && result.points.isEmpty && result.countries.isEmpty)
        #expect(result.comparison == PeriodComparison(current: "2030-12", previous: "2030-11"))
        #expect(TraceEngine().result().totals.recordsConsidered == 0)
    }

    @Test("limits: minimum cluster size, number of clusters and points")
    func limits() throws {
        let records = try traceBackground(senders: ["NL"], recordsEach: 300, seed: 77)
        var engine = TraceEngine()
        for record in records { try engine.add(RecordFacts.of(record)) }
        let all = engine.result()
        let big = engine.result(minClusterSize: 3)
        #expect(big.clusters.allSatisfy { $0.members.count >= 3 })
        #expect(big.clusters == all.clusters.filter { $0.members.count >= 3 })
        let top = engine.result(maxClusters: 2, maxPoints: 5)
        #expect(top.clusters == Array(all.clusters.prefix(2)) && top.clusterCount == all.clusterCount)
        #expect(top.points.count == 5 && top.pointCount == all.points.count)
        let heaviest = all.points.sorted { $0.neqKg != $1.neqKg ? $0.neqKg > $1.neqKg : $0.recordId < $1.recordId }
        #expect(Set(top.points.map(\.recordId)) == Set(heaviest.prefix(5).map(\.recordId)))
        let summary = engine.result(maxClusters: 0, maxPoints: 0)
        #expect(summary.points.isEmpty && summary.pointCount == all.pointCount)
        #expect(summary.clusters.isEmpty && summary.clusterCount == all.clusterCount)
        #expect(summary.flows == all.flows && summary.routes == all.routes && summary.totals == all.totals)
    }

    @Test("adding on a second thread (small chunks, so the queue fills and drains) gives the same result as one thread")
    func concurrentAdding() throws {
        let facts = (traceFlowRecords + (try traceBackground(senders: ["NL", "DE"], recordsEach: 400, seed: 11)))
            .map(RecordFacts.of)
        var sequential = TraceEngine()
        for item in facts { try sequential.add(item) }
        var concurrent = TraceEngine()
        concurrent.addConcurrently(chunkSize: 7) { adder in
            for item in facts { adder.add(item) }
        }
        #expect(concurrent.result() == sequential.result())
        #expect(concurrent.result().totals.recordsConsidered == facts.count)
    }

    @Test("binary facts added on a second thread give the same result as one thread; unreadable blobs are counted")
    func concurrentBinaryAdding() throws {
        let facts = (traceFlowRecords + (try traceBackground(senders: ["NL", "PL"], recordsEach: 300, seed: 17)))
            .map(RecordFacts.of)
        var sequential = TraceEngine()
        for item in facts { try sequential.add(item) }
        var blobs = facts.map { $0.binary() }
        blobs.insert([0xFF, 0x00], at: 100)
        blobs.insert(Array(blobs[5].prefix(7)), at: 3)
        var concurrent = TraceEngine()
        let skipped = concurrent.addConcurrently(binaryFacts: { emit in
            for blob in blobs { blob.withUnsafeBytes { emit($0) } }
        }, chunkSize: 5)
        #expect(skipped == 2)
        #expect(concurrent.result() == sequential.result())
    }

    @Test("a producer that fails part-way: the records emitted before the error are added, and the error is rethrown")
    func concurrentAddingFailure() throws {
        struct ReadFailure: Error {}
        let facts = try traceBackground(senders: ["BE"], recordsEach: 50, seed: 3).map(RecordFacts.of)
        var engine = TraceEngine()
        #expect(throws: ReadFailure.self) {
            try engine.addConcurrently(chunkSize: 8) { adder in
                for item in facts.prefix(20) { adder.add(item) }
                throw ReadFailure()
            }
        }
        #expect(engine.result().totals.recordsConsidered == 20)
    }
}
