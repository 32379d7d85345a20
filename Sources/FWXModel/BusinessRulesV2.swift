// The business rules that only a schema v2 document can break (docs/schema-v2.md, "Proposed business rules"):
// nil values and their reasons, provenance, the time that is not known, article kinds, postal codes, incident
// links, online sales and a seizure's own transport facts. Called by BatchRuleChecker when `isV2` is set; every
// check reads the record's element tree, as the v1 rules do, and quotes no personal value.

extension BatchRuleChecker {
    /// Elements whose value must be established for the record itself: a profile constant (`source="default"`)
    /// cannot be true of each record (FWX-R018). `Date` is only an incident's, `Document` a transport document.
    static let defaultNotAllowedNames: Set<String> = [
        "SeizureDateTime", "CaseReference", "Quantity", "GrossMassKg", "NetExplosiveQuantity", "CERegistrationNumber",
        "UNNumber", "Container", "Plate", "Document", "CustomsMRN", "Latitude", "Longitude", "PostalCode", "BirthYear",
        "RegistrationNumber", "VatNumber", "Domain", "DepartureDate", "ArrivalDate", "InterceptionDate", "Date",
        "OfferDate",
    ]

    /// The elements of a seizure that are the transport facts a linked shipment holds (FWX-W108); `Vehicles`
    /// is not among them, since v1 already allowed the same vehicle on both.
    static let seizureTransportFacts = ["TransportMode", "Origin", "Transit", "Destination", "Containers",
                                        "TransportDocuments"]

    /// FWX-R016, R017, R018 and W109, over every element of a record: the attributes v2 adds, and pseudonyms.
    mutating func checkV2Values(_ tree: ElementTree, _ emit: (Finding) -> Void) {
        for node in 0..<tree.nodes.count {
            let element = tree[node]
            let name = element.name
            if name == "Pseudonym" || name == "SellerAccount" {
                if let kind = Self.clearIdentifierKind(element.text) {
                    emit(finding(.warning, RuleID.pseudonymLooksClear,
                        "\(name) looks like \(kind), not a keyed pseudonym; send persons and seller accounts pseudonymised (fwx convert --pseudonym-key, docs/pseudonymisation.md) and check the export",
                        tree, node))
                }
            }
            guard !element.attributes.isEmpty || name == "Quantity" else { continue }
            var isNil = false
            var unknown: String?
            var source: String?
            var hasUnit = false
            for attribute in element.attributes {
                switch attribute.name {
                // xsi:nil: the schema allows no other attribute of that local name.
                case "nil": isNil = attribute.value == "true" || attribute.value == "1"
                case "unknown": unknown = attribute.value
                case "source": source = attribute.value
                case "unit": hasUnit = true
                default: break
                }
            }
            if isNil {
                if unknown == nil {
                    emit(finding(.error, RuleID.nilUnknown,
                        "\(name) is nil (xsi:nil=\"true\") but gives no reason; add unknown=\"not-recorded\" (or not-determinable, not-disclosed, not-applicable)",
                        tree, node))
                } else if let source {
                    emit(finding(.error, RuleID.nilUnknown,
                        "\(name) is nil, so it has no source: a value that is not known was neither observed nor reported nor defaulted; remove source=\(source.quotedForMessage)",
                        tree, node))
                }
            } else if let unknown {
                emit(finding(.error, RuleID.nilUnknown,
                    "\(name) has a value and unknown=\(unknown.quotedForMessage); unknown goes only with xsi:nil=\"true\" on an empty element: remove the attribute or the value",
                    tree, node))
            }
            if name == "Quantity", !isNil, !hasUnit {
                emit(finding(.error, RuleID.quantityUnit,
                    "Quantity needs a unit attribute (pieces, boxes or kg) unless it is nil", tree, node))
            }
            if source == "default", Self.defaultNotAllowedNames.contains(name) {
                emit(finding(.error, RuleID.defaultNotAllowed,
                    "\(name) is marked source=\"default\", but a profile constant cannot establish it for each record; map it from the export, or leave it out (nil with unknown=\"not-recorded\" where the schema allows)",
                    tree, node))
            }
        }
    }

    /// The v2 parts of a seizure: its time, its own route and containers, linked incidents and online sales.
    mutating func checkV2Seizure(_ tree: ElementTree, _ record: Int, eventDay: Int?, _ emit: (Finding) -> Void) {
        if let when = tree.child(record, "SeizureDateTime"), let reason = tree.attribute(when, "timeUnknown") {
            checkTimeUnknown(tree, when, reason: reason, emit)
        }
        checkLocation(tree, tree.child(record, "Origin"), emit)
        checkLocation(tree, tree.child(record, "Destination"), emit)
        checkContainers(tree, tree.child(record, "Containers"), emit)
        for incident in tree.children(tree.child(record, "IncidentLinks") ?? -1, ifPresent: tree) {
            if let date = tree.child(incident, "Date") {
                checkNotFuture(date: date, "IncidentRef/Date", tree, emit)
                if let eventDay, let day = ISOTime.day(of: tree.text(date)), day > eventDay {
                    emit(finding(.error, RuleID.incidentAfterSeizure,
                        "the linked incident's Date \(tree.text(date).quotedForMessage) is after the day of the seizure; a seizure is tied to an incident that came before it (check the date or the reference)",
                        tree, date))
                }
            }
            checkLocation(tree, tree.child(incident, "Location"), emit)
        }
        for sale in tree.children(tree.child(record, "OnlineSales") ?? -1, ifPresent: tree) {
            if let offer = tree.child(sale, "OfferDate") { checkNotFuture(date: offer, "OfferDate", tree, emit) }
        }
        checkRouteRepeated(tree, record, emit)
    }

    /// FWX-R020: with timeUnknown the time is 00:00:00 and means nothing; "not-applicable" makes no sense for a
    /// seizure, which always happened at some time.
    private func checkTimeUnknown(_ tree: ElementTree, _ node: Int, reason: String, _ emit: (Finding) -> Void) {
        if reason == "not-applicable" {
            emit(finding(.error, RuleID.timeUnknownForm,
                "a seizure happened at some time: timeUnknown=\"not-applicable\" does not fit; use not-recorded, not-determinable or not-disclosed",
                tree, node))
            return
        }
        if !Self.isMidnight(tree.text(node)) {
            emit(finding(.error, RuleID.timeUnknownForm,
                "SeizureDateTime has timeUnknown but a time of day; with timeUnknown write the time as 00:00:00 (recipients then use the date only), or drop timeUnknown if the time is known",
                tree, node))
        }
    }

    /// Whether an `xs:dateTime` text has the time 00:00:00 (with zero fractions, if any).
    static func isMidnight(_ text: String) -> Bool {
        guard let t = text.firstIndex(of: "T") else { return false }
        var rest = text[text.index(after: t)...]
        guard rest.hasPrefix("00:00:00") else { return false }
        rest = rest.dropFirst(8)
        if rest.first == "." {
            rest = rest.dropFirst().drop { $0 == "0" }
        }
        return rest.isEmpty || rest.first == "Z" || rest.first == "+" || rest.first == "-"
    }

    /// FWX-W108: a seizure with its own transport facts and a link to a shipment in the same batch.
    private mutating func checkRouteRepeated(_ tree: ElementTree, _ record: Int, _ emit: (Finding) -> Void) {
        guard let links = tree.child(record, "ShipmentLinks"),
              let fact = tree.children(record).first(where: { Self.seizureTransportFacts.contains(tree.name($0)) })
        else { return }
        let message = "this seizure gives its own \(tree.name(fact)) and links to a shipment in this batch, which is the place for the route, containers and transport documents; trace would count them twice. Leave them to the shipment, or mark the link external=\"true\" if the shipment is not in this batch"
        let warning = finding(.warning, RuleID.seizureRepeatsShipment, message, tree, fact)
        let serial = recordCount
        for ref in tree.children(links) {
            if tree.attribute(ref, "external") == "true" || tree.attribute(ref, "external") == "1" { continue }
            let key = IDKey(tree.text(ref))
            if let target = seen.lookup(key.fingerprint) {
                if target.isShipment, routeRepeatsReported.insert(serial).inserted { emit(warning) }
            } else {
                routeRepeats[key, default: []].append((serial, warning))
            }
        }
    }

    /// FWX-W110: a route end whose Country is nil although a code in it names the country.
    func checkNilCountry(_ tree: ElementTree, _ location: Int?, _ emit: (Finding) -> Void) {
        guard let location, let country = tree.child(location, "Country"),
              tree.attribute(country, "nil") == "true" || tree.attribute(country, "nil") == "1" else { return }
        let code = tree.child(location, "UNLocode").map { _ in "UN/LOCODE" }
            ?? tree.child(location, "NutsCode").map { _ in "NUTS code" }
        guard let code else { return }
        emit(finding(.warning, RuleID.countryFromCode,
            "Country is nil, but the \(code) of this place names its country; give the country, marked source=\"derived\"",
            tree, country))
    }

    /// FWX-W105 and W106: the article kind against the CE category and the UN number.
    func checkArticleKind(_ tree: ElementTree, _ node: Int, item: Int, category: CECategory?,
                          _ emit: (Finding) -> Void) {
        let kind = tree.text(node)
        if let category, let usual = Self.usualCategories[kind], !usual.contains(category.rawValue) {
            emit(finding(.warning, RuleID.articleKindCategory,
                "article kind \(kind) is unusual for CE category \(category.rawValue) (usually \(usual.joined(separator: ", "))); check the kind and the category",
                tree, node))
        }
        if let un = tree.childText(item, "UNNumber"), !un.isEmpty, let usual = Self.usualUNNumbers[kind],
           !usual.contains(un) {
            emit(finding(.warning, RuleID.articleKindUNNumber,
                "article kind \(kind) is unusual for UN \(un) (usually \(usual.joined(separator: ", "))); check the kind and the UN number",
                tree, node))
        }
    }

    /// Usual CE categories per article kind (docs/schema-v2.md, FWX-W105); kinds not listed are not checked.
    static let usualCategories: [String: [String]] = [
        "flash-banger": ["unmarked", "F3", "F4"],
        "firecracker": ["F1", "F2", "F3"],
        "aerial-shell": ["F2", "F3", "F4"],
        "cake-or-battery": ["F2", "F3", "F4"],
        "rocket": ["F2", "F3", "F4"],
        "roman-candle": ["F2", "F3", "F4"],
        "fountain": ["F1", "F2", "F3", "T1", "T2"],
        "sparkler": ["F1", "F2"],
        "flare-or-smoke": ["F1", "F2", "T1", "T2", "P1", "P2", "unmarked"],
        "bulk-composition": ["unmarked"],
        "fuse-or-igniter": ["P1", "P2", "unmarked"],
        "improvised-explosive-device": ["unmarked"],
    ]

    /// Usual UN numbers per article kind (docs/schema-v2.md, FWX-W106); an improvised device and `other` are not
    /// checked.
    static let usualUNNumbers: [String: [String]] = {
        let display = ["0333", "0334", "0335", "0336"]
        return [
            "flash-banger": display,
            "firecracker": ["0336", "0337"],
            "aerial-shell": display,
            "cake-or-battery": display,
            "rocket": display,
            "roman-candle": display,
            "fountain": ["0336", "0337", "0431", "0432"],
            "sparkler": ["0336", "0337"],
            "flare-or-smoke": ["0336", "0337", "0431", "0432", "0191", "0195", "0197", "0373", "0505", "0506", "0507"],
            "bulk-composition": ["0094", "0305", "0027", "0028"],
            "fuse-or-igniter": ["0066", "0101", "0105", "0131", "0325", "0454"],
        ]
    }()

    /// FWX-W107: a postal code in the format of its country (the partners' countries; others are not checked).
    func checkPostalCode(_ tree: ElementTree, _ node: Int, country: String, _ emit: (Finding) -> Void) {
        guard let format = Self.postalCodeFormats[country] else { return }
        let code = Array(tree.text(node).utf8)
        guard !format.patterns.contains(where: { Self.matches(code, $0) }) else { return }
        emit(finding(.warning, RuleID.postalCodeFormat,
            "the postal code does not have the format of \(country) (\(format.description)); check it, and give it without a country prefix",
            tree, node))
    }

    /// Postal code patterns: `9` a digit, `A` an upper-case letter, anything else itself.
    static let postalCodeFormats: [String: (patterns: [String], description: String)] = {
        let four = (["9999"], "4 digits")
        let five = (["99999"], "5 digits")
        let threeTwo = (["999 99"], "3 digits, a space, 2 digits")
        return [
            "BE": four, "AT": four, "CH": four, "DK": four, "LU": four,
            "NL": (["9999", "9999 AA"], "4 digits, optionally a space and 2 letters"),
            "DE": five, "FR": five, "ES": five, "IT": five,
            "PL": (["99-999"], "2 digits, a hyphen, 3 digits"),
            "CZ": threeTwo, "SK": threeTwo, "SE": threeTwo,
            "PT": (["9999-999"], "4 digits, a hyphen, 3 digits"),
        ]
    }()

    static func matches(_ code: [UInt8], _ pattern: String) -> Bool {
        let pattern = Array(pattern.utf8)
        guard code.count == pattern.count else { return false }
        for (byte, want) in zip(code, pattern) {
            switch want {
            case UInt8(ascii: "9"): guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return false }
            case UInt8(ascii: "A"): guard (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) else { return false }
            default: guard byte == want else { return false }
            }
        }
        return true
    }

    /// What a pseudonym looks like when it is a clear identifier (FWX-W109), or nil when it does not.
    static func clearIdentifierKind(_ text: String) -> String? {
        if text.contains("@") { return "an e-mail address or account handle" }
        let lower = text.lowercased()
        if lower.hasPrefix("http://") || lower.hasPrefix("https://") || lower.hasPrefix("www.") {
            return "a web address"
        }
        var digits = 0
        var phoneLike = !text.isEmpty
        for (index, character) in text.enumerated() {
            if character.isASCIIDigit {
                digits += 1
            } else if !(character == " " || character == "-" || character == "(" || character == ")"
                        || (character == "+" && index == 0)) {
                phoneLike = false
                break
            }
        }
        if phoneLike, digits >= 7 { return "a phone number" }
        if text.contains(" ") { return "a name (it has spaces)" }
        return nil
    }
}
