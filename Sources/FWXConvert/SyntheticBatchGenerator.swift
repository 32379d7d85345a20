public import FWXModel

/// A deterministic pseudo-random generator (SplitMix64): the same seed gives the same sequence on every machine.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func pick<T>(_ values: [T]) -> T { values[Int(next() % UInt64(values.count))] }
    mutating func chance(_ probability: Double) -> Bool { Double(next() % 1_000_000) / 1_000_000 < probability }
    mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }
    mutating func double(_ range: ClosedRange<Double>) -> Double {
        range.lowerBound + (range.upperBound - range.lowerBound) * Double(next() % 1_000_001) / 1_000_000
    }
}

/// Settings of a synthetic batch.
public struct SyntheticBatchConfiguration: Sendable {
    public var records: Int
    public var seed: UInt64
    public var sender: String
    /// Events happen in the year before this day; it is also the batch's creation time. Fixed, so that output
    /// depends on the seed only.
    public var asOf: String
    public var sequenceNumber: UInt64
    public var recipients: Recipients
    /// Plant known rule violations (see ``SyntheticBatchGenerator/plantedRules``), one in every `errorEvery` records.
    public var withErrors: Bool
    public var errorEvery: Int
    /// The number in the first seizure's and the first shipment's record id; give consecutive batches
    /// non-overlapping ranges so that their records are distinct (ids are numbered, not random).
    public var firstNumber: Int

    public init(records: Int, seed: UInt64 = 1, sender: String = "NL", asOf: String = "2026-11-01",
                sequenceNumber: UInt64 = 1, recipients: Recipients = .allPartners, withErrors: Bool = false,
                errorEvery: Int = 10, firstNumber: Int = 1) {
        self.firstNumber = max(1, firstNumber)
        self.records = records
        self.seed = seed
        self.sender = sender
        self.asOf = asOf
        self.sequenceNumber = sequenceNumber
        self.recipients = recipients
        self.withErrors = withErrors
        self.errorEvery = errorEvery
    }
}

/// A rule violation the generator planted on purpose, so tests know exactly what validation must find.
public struct PlantedError: Sendable, Hashable, Codable {
    public var rule: String
    public var recordId: String
}

/// Makes realistic synthetic batches: heavy fireworks made in producing countries, moved by road, sea and parcel
/// through transit countries into NL, BE, DE and FR; valid container numbers and MRNs; a mix of CE categories and
/// incident types. Output depends only on the configuration.
public struct SyntheticBatchGenerator {
    /// The rules ``SyntheticBatchConfiguration/withErrors`` plants, in rotation.
    public static let plantedRules = [
        RuleID.containerCheckDigit, RuleID.mrn, RuleID.ceRegistrationCategory, RuleID.unDivision,
        RuleID.netAboveGross, RuleID.futureDate, RuleID.chronology, RuleID.recordIdCountry,
        RuleID.unresolvedLink, RuleID.duplicateRecordId, RuleID.withdrawalReason, RuleID.locationCodes,
        RuleID.coordinatesPair, RuleID.retentionBeforeEvent,
    ]

    public let configuration: SyntheticBatchConfiguration
    private var random: SeededRandom
    private let asOfDay: Int
    private var seizureCounter = 0
    private var shipmentCounter = 0
    private var caseCounter = 0
    public private(set) var planted: [PlantedError] = []
    private var lastSeizureId: String?
    private var recordCounter = 0
    private var pendingRule: String?

    public init(_ configuration: SyntheticBatchConfiguration) throws {
        guard let day = ISOTime.day(of: configuration.asOf) else {
            throw FWXError(.usage, "as-of date \(configuration.asOf.quotedForMessage) is not YYYY-MM-DD")
        }
        guard CountryCode.isValid(configuration.sender) else {
            throw FWXError(.usage, "sender \(configuration.sender.quotedForMessage) is not an ISO 3166-1 alpha-2 country code")
        }
        self.configuration = configuration
        self.random = SeededRandom(seed: configuration.seed)
        self.asOfDay = day
        seizureCounter = configuration.firstNumber - 1
        shipmentCounter = configuration.firstNumber - 1
    }

    /// The batch header.
    public mutating func header() -> BatchHeader {
        BatchHeader(batchId: uuid(), sender: NodeIdentity(country: configuration.sender,
                                                          agencyId: "\(configuration.sender)-POLICE-FWX"),
                    recipients: configuration.recipients, createdAt: "\(configuration.asOf)T06:00:00Z",
                    sequenceNumber: configuration.sequenceNumber, defaultHandlingCode: .h2)
    }

    /// Writes the whole batch through `writer`, record by record.
    public mutating func write(to writer: inout BatchXMLWriter) throws {
        try writer.writeHeader(header())
        var written = 0
        while written < configuration.records {
            for record in nextCase(limit: configuration.records - written) {
                try writer.writeRecord(record)
                written += 1
            }
        }
        try writer.finish()
    }

    /// The records of one case: a seizure, often with the shipment it came from (shipment first).
    public mutating func nextCase(limit: Int) -> [Record] {
        caseCounter += 1
        let eventDay = asOfDay - random.int(2...360)
        let withShipment = limit >= 2 && random.chance(0.55)
        var records: [Record] = []
        var shipment: Record? = withShipment ? .shipment(makeShipment(eventDay: eventDay)) : nil
        var seizure = Record.seizure(makeSeizure(eventDay: eventDay, shipment: shipment.flatMap {
            if case .shipment(let s) = $0 { return s } else { return nil }
        }))
        if configuration.withErrors {
            if let planned = shipment { shipment = plantIfDue(planned) }
            seizure = plantIfDue(seizure)
        }
        // Link after planting, so that a planted id change does not also break the link.
        if case .shipment(var shipmentRecord) = shipment, case .seizure(var seizureRecord) = seizure {
            shipmentRecord.seizureLinks = [RecordLink(seizureRecord.recordId)]
            seizureRecord.shipmentLinks = [RecordLink(shipmentRecord.recordId)] + seizureRecord.shipmentLinks
            records.append(.shipment(shipmentRecord))
            seizure = .seizure(seizureRecord)
        }
        records.append(seizure)
        lastSeizureId = seizure.recordId
        return records
    }

    // MARK: Reference data

    private static let producers = ["PL", "CZ", "SK", "IT", "CN", "PL", "CZ", "PL"]
    private static let transitCountries = ["DE", "BE", "CZ", "PL", "AT", "LU", "FR"]
    private static let destinations = ["NL", "NL", "NL", "BE", "DE", "FR"]
    private static let places: [String: [(name: String, locode: String?, nuts: String, lat: Double, lon: Double)]] = [
        "NL": [("Rotterdam", "NLRTM", "NL33B", 51.92, 4.48), ("Venlo", "NLVEN", "NL421", 51.37, 6.17),
               ("Amsterdam", "NLAMS", "NL329", 52.37, 4.90), ("Eindhoven", "NLEIN", "NL414", 51.44, 5.47),
               ("Utrecht", "NLUTC", "NL310", 52.09, 5.12), ("Enschede", "NLENS", "NL213", 52.22, 6.89)],
        "BE": [("Antwerpen", "BEANR", "BE211", 51.22, 4.40), ("Liège", "BELGG", "BE332", 50.63, 5.57),
               ("Bruxelles", "BEBRU", "BE100", 50.85, 4.35)],
        "DE": [("Aachen", "DEAAH", "DEA2D", 50.78, 6.08), ("Hamburg", "DEHAM", "DE600", 53.55, 9.99),
               ("Frankfurt (Oder)", "DEFFO", "DE403", 52.34, 14.55), ("Köln", "DECGN", "DEA23", 50.94, 6.96)],
        "FR": [("Lille", "FRLIL", "FRE11", 50.63, 3.06), ("Strasbourg", "FRSXB", "FRF11", 48.57, 7.75),
               ("Le Havre", "FRLEH", "FRD22", 49.49, 0.11)],
        "PL": [("Słubice", nil, "PL432", 52.35, 14.56), ("Wrocław", "PLWRO", "PL514", 51.11, 17.03),
               ("Gdańsk", "PLGDN", "PL634", 54.35, 18.65)],
        "CZ": [("Cheb", nil, "CZ041", 50.08, 12.37), ("Praha", "CZPRG", "CZ010", 50.08, 14.43)],
        "SK": [("Bratislava", "SKBTS", "SK010", 48.15, 17.11)],
        "IT": [("Napoli", "ITNAP", "ITF33", 40.85, 14.27), ("Genova", "ITGOA", "ITC33", 44.41, 8.93)],
        "CN": [("Liuyang", nil, "CN", 28.15, 113.63), ("Shanghai", "CNSHA", "CN", 31.23, 121.47)],
        "AT": [("Wien", "ATVIE", "AT130", 48.21, 16.37)],
        "LU": [("Luxembourg", "LULUX", "LU000", 49.61, 6.13)],
    ]
    private static let products: [(name: String, brand: String, category: CECategory, un: String?, grams: ClosedRange<Double>)] = [
        ("Cobra 6", "Cobra", .unmarked, "0333", 80...150), ("Cobra 8", "Cobra", .unmarked, "0333", 120...220),
        ("Dum Bum", "Dum Bum", .unmarked, "0335", 40...90), ("Viper 12", "Viper", .f4, "0335", 200...400),
        ("Super Thunder", "Thunder", .f4, "0333", 150...300), ("Mega Bomb", "Pyro Power", .unmarked, nil, 100...250),
        ("Romanian candle", "Triplex", .f3, "0336", 300...900), ("Shell 3 inch", "Pro Shells", .f4, "0335", 150...300),
        ("Thunder king", "Klasek", .f3, "0335", 60...140), ("Party box 100", "Funke", .f2, "0336", 900...2500),
        ("Sparkler pack", "Weco", .f1, "0337", 50...120), ("Smoke signal", "Nico", .t1, "0432", 100...300),
        ("Marine flare", "Comet", .p1, "0431", 200...500),
    ]
    private static let notifiedBodies = ["0589", "1008", "0163", "1395", "2809", "0123"]
    private static let companyNames = ["Pyro-Trade", "Feuerwerk Handel", "Fajerwerki Hurt", "Ohnostroj Export",
                                       "Holland Feestartikelen", "Euro Novelty", "Fireworks Direct", "Petardy Plus",
                                       "Knaller Discount", "Pyrotechnika Morava", "Festival Import"]
    private static let legalForms: [String: [String]] = [
        "PL": ["Sp. z o.o.", "S.A."], "CZ": ["s.r.o.", "a.s."], "SK": ["s.r.o."], "DE": ["GmbH", "GmbH & Co. KG"],
        "NL": ["B.V.", "V.O.F."], "BE": ["BV", "NV"], "FR": ["SARL", "SAS"], "IT": ["S.r.l.", "S.p.A."],
        "CN": ["Co., Ltd."], "AT": ["GmbH"], "LU": ["S.à r.l."],
    ]
    private static let carriers = ["TransEuro Logistics", "Baltic Road Cargo", "Rhein Spedition", "Maas Freight",
                                   "Vistula Trans", "Nordsee Shipping", "Danube Express"]
    private static let containerOwners = ["MSCU", "CSQU", "TGHU", "MAEU", "CMAU", "HLXU", "OOLU"]
    private static let vatPrefix: [String: String] = ["GR": "EL"]

    // MARK: Builders

    private mutating func uuid() -> String {
        let a = random.next(), b = random.next()
        let hex = String(a, radix: 16).leftPadded(16) + String(b, radix: 16).leftPadded(16)
        let chars = Array(hex)
        return "\(String(chars[0..<8]))-\(String(chars[8..<12]))-4\(String(chars[13..<16]))-a\(String(chars[17..<20]))-\(String(chars[20..<32]))"
    }

    private mutating func place(in country: String) -> Location {
        let choice = random.pick(Self.places[country] ?? [("Unknown", nil, country, 0, 0)])
        let withCoordinates = random.chance(0.7)
        return Location(country: country,
                        nutsCode: choice.nuts.count > 2 ? choice.nuts : nil,
                        unLocode: random.chance(0.5) ? choice.locode : nil,
                        municipality: choice.name,
                        latitude: withCoordinates ? (choice.lat + random.double(-0.05...0.05)).rounded(places: 4) : nil,
                        longitude: withCoordinates ? (choice.lon + random.double(-0.05...0.05)).rounded(places: 4) : nil)
    }

    private mutating func organisation(in country: String) -> Organisation {
        let form = random.pick(Self.legalForms[country] ?? ["Ltd"])
        let name = "\(random.pick(Self.companyNames)) \(form)"
        let vat = random.chance(0.6) && country != "CN"
            ? "\(Self.vatPrefix[country] ?? country)\(random.int(100_000_000...999_999_999))" : nil
        return Organisation(name: name,
                            registrationNumber: random.chance(0.4) ? "\(random.int(10_000_000...99_999_999))" : nil,
                            vatNumber: vat, country: country)
    }

    private mutating func plate(_ country: String) -> String {
        let letters = Array("ABCDEFGHJKLMNPRSTVWXZ")
        func l(_ r: inout SeededRandom) -> Character { r.pick(letters) }
        switch country {
        case "NL": return "\(l(&random))\(l(&random))-\(random.int(100...999))-\(l(&random))"
        case "DE": return "\(l(&random))\(l(&random)) \(l(&random))\(l(&random)) \(random.int(10...9999))"
        case "PL": return "W\(l(&random)) \(random.int(1000...9999))\(l(&random))"
        case "BE": return "1-\(l(&random))\(l(&random))\(l(&random))-\(random.int(100...999))"
        default: return "\(l(&random))\(l(&random)) \(random.int(1000...9999))"
        }
    }

    private mutating func container() -> String {
        let prefix = random.pick(Self.containerOwners) + String(random.int(100_000...999_999))
        return CheckCharacters.completeContainerNumber(prefix)!
    }

    private mutating func mrn(year: Int, country: String) -> String {
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        var body = ""
        for _ in 0..<13 { body.append(random.pick(alphabet)) }
        let first17 = String(format2(year % 100)) + country + body
        return first17 + String(CheckCharacters.mrnCheckCharacter(first17)!)
    }

    private func format2(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }

    private mutating func pseudonym() -> String {
        "p1:" + String(random.next(), radix: 16).leftPadded(16)
    }

    private mutating func makeItem() -> Item {
        let product = random.pick(Self.products)
        let pieces = Double(random.int(1...40) * (product.category == .f2 ? 1 : 24))
        let grossPerPiece = random.double(product.grams) / 1000
        let gross = (pieces * grossPerPiece).rounded(places: 2)
        let share = random.double(0.08...0.45)
        let un = product.un
        let division = un.flatMap { UNNumbers.fireworksDivision[$0] }
        let registration = product.category == .unmarked ? nil
            : "\(random.pick(Self.notifiedBodies))-\(product.category.rawValue)-\(random.int(1000...99999))"
        return Item(category: product.category, productName: product.name, brand: product.brand,
                    manufacturer: random.chance(0.3) ? "Unknown" : nil,
                    countryOfManufacture: random.pick(Self.producers), ceRegistrationNumber: registration,
                    unNumber: un, hazardDivision: random.chance(0.8) ? division : nil,
                    hsCode: random.chance(0.6) ? "36041000" : nil,
                    quantity: Quantity(pieces, .pieces), grossMassKg: max(gross, 0.01),
                    netExplosiveQuantity: NetExplosiveQuantity(kg: (max(gross, 0.01) * share).rounded(places: 3),
                                                               basis: random.pick([.label, .measured, .estimated])))
    }

    private mutating func makeShipment(eventDay: Int) -> ShipmentRecord {
        shipmentCounter += 1
        let sender = configuration.sender
        let origin = random.pick(Self.producers)
        let destination = random.chance(0.6) ? sender : random.pick(Self.destinations)
        var transit: [String] = []
        for _ in 0..<random.int(0...2) {
            let country = random.pick(Self.transitCountries)
            if country != origin, country != destination, !transit.contains(country) { transit.append(country) }
        }
        let mode: TransportMode = origin == "CN" ? .sea : random.pick([.road, .road, .road, .postalCourier, .rail])
        let departure = eventDay - random.int(1...(mode == .sea ? 40 : 5))
        var parties = [Party(role: .consignor, organisation: organisation(in: origin)),
                       Party(role: .consignee, organisation: organisation(in: destination))]
        if mode == .road || mode == .sea {
            parties.append(Party(role: .carrier, organisation: Organisation(
                name: "\(random.pick(Self.carriers)) \(random.pick(Self.legalForms["DE"]!))", country: "DE")))
        }
        var vehicles: [Vehicle] = []
        if mode == .road {
            let country = random.chance(0.5) ? origin : "DE"
            vehicles.append(Vehicle(plate: plate(country), registrationCountry: country))
            parties.append(Party(role: .driver, person: Person(pseudonym: pseudonym(), nationality: origin,
                                                                birthYear: random.int(1960...2002))))
        }
        let documentType: TransportDocumentType = switch mode {
        case .road: .cmr
        case .sea: .billOfLading
        case .air: .airWaybill
        case .postalCourier: .parcelTracking
        case .rail: .other
        }
        let declared = Goods(description: random.pick(["Plastic toys", "Party articles", "Household goods",
                                                       "Christmas decorations", "Auto parts"]),
                             hsCode: random.pick(["95030000", "95051090", "39249000", "87089997"]),
                             grossMassKg: Double(random.int(20...8000)))
        let dayText = ISOTime.date(daysSinceEpoch: eventDay)
        return ShipmentRecord(
            recordId: "\(sender)-SH-\(dayText.prefix(4))-\(String(shipmentCounter).leftPadded(7))",
            revision: 1, transportMode: mode, origin: place(in: origin), transit: transit,
            destination: place(in: destination), handlingCode: random.chance(0.2) ? .h1 : nil,
            evaluation: Evaluation(source: random.pick([.a, .b, .b, .c]), information: random.pick([.one, .two, .two, .three])),
            parties: parties,
            containers: mode == .sea || (mode == .road && random.chance(0.3)) ? [container()] : [],
            vehicles: vehicles,
            transportDocuments: [TransportDocument(type: documentType,
                                                   number: "\(documentType.rawValue.uppercased().prefix(3))-\(origin)-\(random.int(100_000...999_999))")],
            customsMRN: mode == .sea || random.chance(0.3) ? mrn(year: Int(dayText.prefix(4))!, country: destination) : nil,
            declaredGoods: declared,
            goodsFound: Goods(description: "Pyrotechnic articles, partly without CE marking", hsCode: "36041000",
                              grossMassKg: Double(random.int(10...2000))),
            departureDate: ISOTime.date(daysSinceEpoch: departure),
            arrivalDate: random.chance(0.3) ? ISOTime.date(daysSinceEpoch: eventDay) : nil,
            interceptionDate: dayText,
            remarks: random.chance(0.3) ? "Declared goods differ from goods found." : nil,
            retentionUntil: ISOTime.date(daysSinceEpoch: eventDay + 5 * 365))
    }

    private mutating func makeSeizure(eventDay: Int, shipment: ShipmentRecord?) -> SeizureRecord {
        seizureCounter += 1
        let sender = configuration.sender
        let incident: IncidentType = if let shipment {
            switch shipment.transportMode {
            case .sea: .portOrContainerInspection
            case .postalCourier: .postalOrCourierParcel
            default: .borderOrRoadCheck
            }
        } else {
            random.pick([.houseSearch, .storageSite, .onlineSale, .postExplosion, .borderOrRoadCheck, .other])
        }
        let country = shipment?.destination.country == sender ? sender : (random.chance(0.85) ? sender : random.pick(Self.destinations))
        var items: [Item] = []
        for _ in 0..<random.int(1...3) { items.append(makeItem()) }
        var parties: [Party] = []
        if let shipment { parties = shipment.parties.filter { $0.role == .consignor || $0.role == .driver } }
        if incident == .onlineSale || incident == .houseSearch {
            parties.append(Party(role: random.pick([.seller, .suspect, .owner]),
                                 person: Person(pseudonym: pseudonym(), nationality: sender,
                                                birthYear: random.int(1965...2006))))
        }
        let hour = random.int(0...23), minute = random.int(0...59)
        let time = "\(ISOTime.date(daysSinceEpoch: eventDay))T\(format2(hour)):\(format2(minute)):00Z"
        var links: [RecordLink] = []
        if shipment == nil, random.chance(0.1) {
            links.append(RecordLink("\(random.pick(Self.producers))-SH-\(random.int(100_000...999_999))", external: true))
        }
        return SeizureRecord(
            recordId: "\(sender)-SZ-\(ISOTime.date(daysSinceEpoch: eventDay).prefix(4))-\(String(seizureCounter).leftPadded(7))",
            revision: 1, incidentType: incident, seizureDateTime: time,
            seizingAuthority: SeizingAuthority(type: shipment != nil && random.chance(0.6) ? .customs : .police,
                                               name: random.chance(0.5) ? "Unit \(random.int(1...40))" : nil),
            caseReference: "\(sender)-\(random.int(2024...2026))-\(random.int(10_000...99_999))",
            location: place(in: country), handlingCode: random.chance(0.25) ? random.pick([.h0, .h1, .h3]) : nil,
            evaluation: Evaluation(source: random.pick([.a, .b, .b, .c, .x]), information: random.pick([.one, .two, .two, .three, .four])),
            items: items, shipmentLinks: links, parties: parties, vehicles: shipment?.vehicles ?? [],
            remarks: random.chance(0.2) ? "Stored in a residential garage." : nil,
            retentionUntil: ISOTime.date(daysSinceEpoch: eventDay + 5 * 365))
    }

    // MARK: Planted errors

    private mutating func plantIfDue(_ record: Record) -> Record {
        recordCounter += 1
        let index = recordCounter
        if index % configuration.errorEvery == 0 {
            pendingRule = Self.plantedRules[(index / configuration.errorEvery - 1) % Self.plantedRules.count]
        }
        guard let rule = pendingRule else { return record }
        var result = record
        switch (rule, record) {
        case (RuleID.containerCheckDigit, .shipment(var s)):
            let good = container()
            let wrong = (Int(String(good.last!))! + 1) % 10
            s.containers = [String(good.dropLast()) + String(wrong)]
            result = .shipment(s)
        case (RuleID.mrn, .shipment(var s)):
            let good = mrn(year: 2026, country: s.destination.country)
            let wrong = (Int(String(good.last!))! + 3) % 10
            s.customsMRN = String(good.dropLast()) + String(wrong)
            result = .shipment(s)
        case (RuleID.ceRegistrationCategory, .seizure(var z)):
            z.items[0].category = .f2
            z.items[0].ceRegistrationNumber = "0589-F4-4711"
            z.items[0].unNumber = "0336"
            z.items[0].hazardDivision = .d14G
            result = .seizure(z)
        case (RuleID.unDivision, .seizure(var z)):
            z.items[0].category = .f4
            z.items[0].ceRegistrationNumber = nil
            z.items[0].unNumber = "0335"
            z.items[0].hazardDivision = .d11G
            result = .seizure(z)
        case (RuleID.netAboveGross, .seizure(var z)):
            z.items[0].grossMassKg = 10
            z.items[0].netExplosiveQuantity = NetExplosiveQuantity(kg: 12.5, basis: .measured)
            result = .seizure(z)
        case (RuleID.futureDate, .seizure(var z)):
            z.seizureDateTime = "2099-12-31T23:00:00Z"
            z.retentionUntil = "2104-12-31"
            result = .seizure(z)
        case (RuleID.chronology, .shipment(var s)):
            s.departureDate = s.interceptionDate.map { ISOTime.date(daysSinceEpoch: ISOTime.day(of: $0)! + 1) }
            s.arrivalDate = nil
            s.interceptionDate = s.interceptionDate ?? ISOTime.date(daysSinceEpoch: asOfDay - 10)
            result = .shipment(s)
        case (RuleID.recordIdCountry, .seizure(var z)):
            z.recordId = (configuration.sender == "XK" ? "AL" : "XK") + z.recordId.dropFirst(2)
            result = .seizure(z)
        case (RuleID.unresolvedLink, .seizure(var z)):
            z.shipmentLinks.append(RecordLink("\(configuration.sender)-SH-MISSING-\(index)"))
            result = .seizure(z)
        case (RuleID.duplicateRecordId, .seizure(var z)):
            guard let previous = lastSeizureId, previous != z.recordId else { return record }
            z.recordId = previous
            result = .seizure(z)
        case (RuleID.withdrawalReason, .seizure(var z)):
            z.status = .withdrawn
            z.withdrawalReason = nil
            result = .seizure(z)
        case (RuleID.locationCodes, .seizure(var z)):
            z.location.unLocode = z.location.country == "DE" ? "NLRTM" : "DEHAM"
            result = .seizure(z)
        case (RuleID.coordinatesPair, .seizure(var z)):
            z.location.latitude = 51.5
            z.location.longitude = nil
            result = .seizure(z)
        case (RuleID.retentionBeforeEvent, .seizure(var z)):
            z.retentionUntil = "2001-01-01"
            result = .seizure(z)
        default:
            // The rule targets the other record kind; plant it on the next record instead.
            return record
        }
        pendingRule = nil
        planted.append(PlantedError(rule: rule, recordId: result.recordId))
        return result
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

extension Double {
    func rounded(places: Int) -> Double {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        return (self * scale).rounded() / scale
    }
}
