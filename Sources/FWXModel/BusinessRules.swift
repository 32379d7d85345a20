/// The business rules of schemas v1 and v2, which XSD cannot express. Each has a stable id; docs/rules.md lists them
/// all. The v2 rules (FWX-R016 to FWX-R020, FWX-W105 to FWX-W110) check what only a v2 document can hold.
public enum RuleID {
    public static let containerCheckDigit = "FWX-R001"
    public static let mrn = "FWX-R002"
    public static let ceRegistrationFormat = "FWX-R003"
    public static let ceRegistrationCategory = "FWX-R004"
    public static let unDivision = "FWX-R005"
    public static let netAboveGross = "FWX-R006"
    public static let futureDate = "FWX-R007"
    public static let chronology = "FWX-R008"
    public static let recordIdCountry = "FWX-R009"
    public static let unresolvedLink = "FWX-R010"
    public static let duplicateRecordId = "FWX-R011"
    public static let withdrawalReason = "FWX-R012"
    public static let locationCodes = "FWX-R013"
    public static let coordinatesPair = "FWX-R014"
    public static let retentionBeforeEvent = "FWX-R015"
    public static let netShareImplausible = "FWX-W101"
    public static let categoryDivisionUnusual = "FWX-W102"
    public static let itemHSCodeNotExplosive = "FWX-W103"
    public static let vatCountry = "FWX-W104"

    // Schema v2 (docs/schema-v2.md, "Proposed business rules").
    public static let nilUnknown = "FWX-R016"
    public static let quantityUnit = "FWX-R017"
    public static let defaultNotAllowed = "FWX-R018"
    public static let incidentAfterSeizure = "FWX-R019"
    public static let timeUnknownForm = "FWX-R020"
    public static let articleKindCategory = "FWX-W105"
    public static let articleKindUNNumber = "FWX-W106"
    public static let postalCodeFormat = "FWX-W107"
    public static let seizureRepeatsShipment = "FWX-W108"
    public static let pseudonymLooksClear = "FWX-W109"
    public static let countryFromCode = "FWX-W110"

    /// Parser layer: not well-formed XML.
    public static let notWellFormed = "FWX-P001"
    /// Parser layer: a DOCTYPE (internal or external DTD subset) or an entity declaration.
    public static let doctypeRefused = "FWX-P002"
    /// Parser layer: the root element is not an FWX batch of a known schema version.
    public static let unknownDocument = "FWX-P003"
    /// Parser layer: a size or depth limit was exceeded.
    public static let limitExceeded = "FWX-P004"
    /// Schema layer: the document does not conform to the XSD.
    public static let schema = "FWX-S001"

    /// Signature layer: the signature value or a digest does not match the document.
    public static let signatureInvalid = "FWX-G001"
    /// Signature layer: not exactly one enveloped signature over the whole document in the permitted form.
    public static let signatureForm = "FWX-G002"
    /// Signature layer: the signer certificate does not chain to a trusted partner CA.
    public static let certificateUntrusted = "FWX-G003"
    /// Signature layer: the signer certificate is expired or not yet valid.
    public static let certificateValidity = "FWX-G004"
    /// Signature layer: the signer certificate's key usage does not allow signing.
    public static let certificateUsage = "FWX-G005"
    /// Signature layer: the signer certificate is revoked.
    public static let certificateRevoked = "FWX-G006"
    /// Signature layer: the signer certificate's country is not the sender country of the document.
    public static let signerCountry = "FWX-G007"
    /// Signature layer: algorithm or key size not permitted.
    public static let signatureAlgorithm = "FWX-G008"

    /// Receipts: the receipt does not acknowledge the batch it is checked against.
    public static let receiptMismatch = "FWX-G009"

    /// Exchange: a batch id names one batch; the same id with different content is refused.
    public static let batchIdReused = "FWX-N001"
    /// Exchange: a sender's sequence number names one batch.
    public static let sequenceReused = "FWX-N002"
    /// Exchange: the batch's sender is the calling node's country.
    public static let senderNotCaller = "FWX-N003"
    /// Exchange: a request fits the node's limits (body size, records per batch).
    public static let requestTooLarge = "FWX-N004"
    /// Exchange: the caller's TLS client certificate is trusted, valid and not revoked.
    public static let callerCertificate = "FWX-N005"
    /// Exchange: a peer stays within its requests per minute.
    public static let rateLimited = "FWX-N006"
    /// Exchange: the caller may see the record (recipients and handling code).
    public static let notEntitled = "FWX-N007"
    /// Exchange: query parameters are well-formed.
    public static let badRequest = "FWX-N008"
    /// Exchange: the node has room (memory budget, batches in flight) for the batch now.
    public static let nodeBusy = "FWX-N009"
    /// Exchange: the caller's certificate role (node or liaison) may do what it asks.
    public static let callerRole = "FWX-N015"
    /// Exchange: the node's store (its database) is reachable; otherwise 503 with Retry-After, nothing acknowledged.
    public static let storeUnavailable = "FWX-N016"

    /// Every rule id with its severity and a one-line summary (the table in docs/rules.md is generated from it).
    public static let catalogue: [(id: String, severity: Severity, summary: String)] = [
        (notWellFormed, .error, "The document is well-formed XML in UTF-8 (or a declared encoding)."),
        (doctypeRefused, .error, "No DOCTYPE, DTD or entity declarations: batches never carry them."),
        (unknownDocument, .error, "The root element is a Batch in a namespace FWX knows; xsi:schemaLocation is ignored."),
        (limitExceeded, .error, "Nesting depth, element count per record, text length, attributes per element and start-tag length stay within the configured limits."),
        (schema, .error, "The document conforms to the bundled XSD of its namespace (schemas/v1/batch.xsd, schemas/v2/batch.xsd)."),
        (containerCheckDigit, .error, "A container number (of a shipment, or in v2 of a seizure) carries the right ISO 6346 check digit."),
        (mrn, .error, "A customs MRN has 18 characters: year, country of the office, 13 characters and the right check character."),
        (ceRegistrationFormat, .error, "A CE registration number reads notified body (4 digits) - category - processing number."),
        (ceRegistrationCategory, .error, "The category in a CE registration number is the item's Category; an unmarked item has no CE number."),
        (unDivision, .error, "A fireworks UN number goes with its hazard division: 0333=1.1G, 0334=1.2G, 0335=1.3G, 0336=1.4G, 0337=1.4S, 0431=1.4G, 0432=1.4S."),
        (netAboveGross, .error, "The net explosive quantity of an item is not above its gross mass."),
        (futureDate, .error, "No event date or time lies in the future (batch creation, seizure, departure, arrival, interception; in v2 also linked incidents and online offers)."),
        (chronology, .error, "A shipment departs no later than it arrives or is intercepted."),
        (recordIdCountry, .error, "A record id starts with the owning country, which is the batch's sender country."),
        (unresolvedLink, .error, "A ShipmentRef or SeizureRef names a record of that kind in the same batch, or is marked external=\"true\"."),
        (duplicateRecordId, .error, "A record id appears once in a batch."),
        (withdrawalReason, .error, "A withdrawn record gives a WithdrawalReason; an active record does not."),
        (locationCodes, .error, "A UN/LOCODE or NUTS code belongs to the location's country (NUTS EL and UK stand for GR and GB)."),
        (coordinatesPair, .error, "Latitude and Longitude are given together or not at all."),
        (retentionBeforeEvent, .error, "RetentionUntil is not before the seizure or the shipment's last date."),
        (nilUnknown, .error, "v2: an element with xsi:nil=\"true\" gives its reason in unknown and has no source; an element that is not nil has no unknown attribute."),
        (quantityUnit, .error, "v2: a Quantity that is not nil has a unit."),
        (defaultNotAllowed, .error, "v2: source=\"default\" is not used on a value that must be established for the record itself (seizure time, case reference, quantities and masses, identifiers and numbers, coordinates, postal codes, dates of shipments, incidents and offers)."),
        (incidentAfterSeizure, .error, "v2: a linked incident's Date is not after the day of the seizure."),
        (timeUnknownForm, .error, "v2: a SeizureDateTime with timeUnknown has the time 00:00:00, and its reason is not not-applicable."),
        (signatureInvalid, .error, "The signature value and every digest match the document (XMLDSig, exclusive C14N, SHA-256)."),
        (signatureForm, .error, "Exactly one ds:Signature, a child of the root, with one Reference URI=\"\" and only the enveloped-signature and exclusive C14N transforms."),
        (certificateUntrusted, .error, "The signer certificate chains to a CA in the trust store."),
        (certificateValidity, .error, "The signer certificate (and its chain) is within its validity period."),
        (certificateUsage, .error, "The signer certificate's key usage allows signing (digitalSignature or nonRepudiation)."),
        (certificateRevoked, .error, "The signer certificate is not on its CA's revocation list in the trust store."),
        (signerCountry, .error, "The signer certificate's country (subject C) is the document's sender country, and it chains to a CA that speaks for that country."),
        (signatureAlgorithm, .error, "RSA-SHA256 with keys of 2048 bits or more, or ECDSA P-256 with SHA-256; digests SHA-256."),
        (receiptMismatch, .error, "A receipt names the batch's BatchId and the SHA-256 of its exclusive canonical form."),
        (batchIdReused, .error, "A batch id names one batch: resending the same signed batch returns its receipt, a different batch under a used id is refused (HTTP 409)."),
        (sequenceReused, .error, "A sender's (country, agency) sequence number names one batch; a different batch reusing it is refused (HTTP 409)."),
        (senderNotCaller, .error, "The batch's sender country is the country of the calling node's verified TLS client certificate (HTTP 403)."),
        (requestTooLarge, .error, "A request body stays within the node's maxBodyBytes and a batch within maxRecordsPerBatch (HTTP 413)."),
        (callerCertificate, .error, "The caller's TLS client certificate chains to a trusted CA, is within its validity period and is not revoked."),
        (rateLimited, .error, "A peer makes no more requests per minute than the node allows it (HTTP 429)."),
        (notEntitled, .error, "A record is given only to a node among its recipients whose configuration allows its handling code."),
        (badRequest, .error, "A request is one the node knows (HTTP 404 otherwise), a batch is sent as XML (Content-Type application/xml, text/xml or +xml; HTTP 415 otherwise), and a feed request's cursor is one the node returned (a non-negative integer) and its limit a positive integer (HTTP 400); a limit above the node's maxFeedPage is reduced to it."),
        (nodeBusy, .error, "A batch is taken in only when the node has room for it (memory budget, batches in flight); otherwise HTTP 503 with Retry-After, before the body is read."),
        (callerRole, .error, "Node certificates pull the feed, read records and search; liaison certificates submit their country's batches; unless the node's roles settings allow otherwise (HTTP 403)."),
        (storeUnavailable, .error, "A request is answered only when the node's store can be read and written; while its database is unreachable or busy, HTTP 503 with Retry-After, and nothing is acknowledged that was not committed."),
        (netShareImplausible, .warning, "A net explosive quantity above 70% of the gross mass is implausible for fireworks (packaging weighs)."),
        (categoryDivisionUnusual, .warning, "The hazard division (given, or implied by the UN number) is unusual for the item's CE category."),
        (itemHSCodeNotExplosive, .warning, "An item's HS code is normally in heading 3601-3604 (explosives, fireworks)."),
        (vatCountry, .warning, "An organisation's VAT number prefix matches its country (EL is Greece)."),
        (articleKindCategory, .warning, "v2: the article kind is usual for the item's CE category."),
        (articleKindUNNumber, .warning, "v2: the article kind is usual for the item's UN number."),
        (postalCodeFormat, .warning, "v2: a postal code has the format of its location's country (BE, AT, CH, DK, LU, NL, DE, FR, ES, IT, PL, CZ, SK, SE, PT)."),
        (seizureRepeatsShipment, .warning, "v2: a seizure linked to a shipment in the same batch leaves the route, containers and transport documents to the shipment, so that they are not counted twice."),
        (pseudonymLooksClear, .warning, "v2: a pseudonym (Person/Pseudonym, OnlineSale/SellerAccount) does not look like a clear identifier (an e-mail or web address, a phone number, text with spaces)."),
        (countryFromCode, .warning, "v2: a shipment's Origin or Destination whose Country is nil has no UN/LOCODE or NUTS code, which would name the country."),
    ]
}

/// Applies the business rules to a batch header and its records, one record at a time, keeping only what
/// batch-wide rules need (record ids and unresolved links), so memory grows by a few dozen bytes per record.
public struct BatchRuleChecker {
    private enum Kind: UInt8 { case seizure, shipment }

    /// A record id reduced to its fingerprint, for the links that wait for their target.
    struct IDKey: Hashable {
        var high: UInt64
        var low: UInt32
        init(_ id: String) { (high, low) = RecordIdSet.fingerprint(id) }
        var fingerprint: (UInt64, UInt32) { (high, low) }
    }

    private struct PendingLink {
        var expected: Kind
        var finding: Finding
    }

    private let file: String
    private let nowSeconds: Double
    private let todayDay: Int
    /// Clock skew tolerated before a time counts as "in the future".
    public static let clockSkewSeconds = 600.0

    private var senderCountry: String?
    var seen = RecordIdSet()
    private var pending: [IDKey: [PendingLink]] = [:]
    /// Number of records checked so far.
    public private(set) var recordCount = 0
    /// Whether the document is of schema v2, whose rules then apply too. Set before the records are checked
    /// (``BatchValidator`` sets it from the root's `schemaVersion`).
    public var isV2 = false
    /// v2, FWX-W108: seizures with their own transport facts that link to a shipment not read yet, by its id.
    var routeRepeats: [IDKey: [(seizure: Int, finding: Finding)]] = [:]
    /// v2, FWX-W108: seizures (by record number) already reported, so that one with two links warns once.
    var routeRepeatsReported: Set<Int> = []

    /// - Parameters:
    ///   - file: name used in finding locations.
    ///   - now: seconds since 1970 that count as "now" for the future-date rule.
    public init(file: String, now: Double) {
        self.file = file
        self.nowSeconds = now
        // A calendar date is in the future only once it has begun everywhere: UTC+14 is the earliest zone.
        self.todayDay = Int(((now + 14 * 3600) / 86400).rounded(.down))
    }

    // MARK: Entry points

    /// Checks the batch header. Call before the records.
    public mutating func checkHeader(_ tree: ElementTree, emit: (Finding) -> Void) {
        guard !tree.isEmpty else { return }
        let header = tree.root
        if let country = tree.descendant(header, "Sender", "Country") {
            senderCountry = tree.text(country)
        }
        if let created = tree.child(header, "CreatedAt") {
            checkNotFuture(timestamp: created, "CreatedAt", tree, emit)
        }
    }

    /// Checks one record (a `Seizure` or `Shipment` tree).
    ///
    /// A record that failed the schema (`schemaValid` false) already has findings: its content is not checked
    /// again, but its id is still registered, so that links to it do not show up as unresolved as well.
    public mutating func checkRecord(_ tree: ElementTree, schemaValid: Bool = true, emit: (Finding) -> Void) {
        guard !tree.isEmpty else { return }
        recordCount += 1
        let record = tree.root
        let kind: Kind = tree.name(record) == "Shipment" ? .shipment : .seizure
        guard schemaValid else {
            checkIdentity(tree, record, kind, { _ in })
            return
        }
        checkIdentity(tree, record, kind, emit)
        if isV2 { checkV2Values(tree, emit) }
        checkStatus(tree, record, emit)
        for party in tree.children(tree.child(record, "Parties") ?? -1, ifPresent: tree) {
            checkOrganisation(tree, party, emit)
        }
        switch kind {
        case .seizure: checkSeizure(tree, record, emit)
        case .shipment: checkShipment(tree, record, emit)
        }
    }

    /// Reports what can only be known at the end: links that never resolved.
    public mutating func finish(emit: (Finding) -> Void) {
        for (_, links) in pending {
            for link in links { emit(link.finding) }
        }
        pending.removeAll()
        // Links to shipments that never came are FWX-R010's business, not a repeated route.
        routeRepeats.removeAll()
    }

    // MARK: Shared rules

    func finding(_ severity: Severity, _ rule: String, _ message: String, _ tree: ElementTree,
                         _ node: Int) -> Finding {
        Finding(severity: severity, rule: rule, message: message,
                location: SourceLocation(file: file, line: Int(tree[node].line), column: Int(tree[node].column)),
                xpath: tree.xpath(node))
    }

    private mutating func checkIdentity(_ tree: ElementTree, _ record: Int, _ kind: Kind,
                                        _ emit: (Finding) -> Void) {
        guard let idNode = tree.child(record, "RecordId") else { return }
        let id = tree.text(idNode)
        let prefix = String(id.prefix(2))
        if let sender = senderCountry, CountryCode.isValid(sender) {
            if prefix != sender {
                emit(finding(.error, RuleID.recordIdCountry,
                    "record id \(id.quotedForMessage) must start with the owning country \(sender)-, the batch's sender; records of another country are sent by that country's node",
                    tree, idNode))
            }
        } else if !CountryCode.isValid(prefix) {
            emit(finding(.error, RuleID.recordIdCountry,
                "record id \(id.quotedForMessage) must start with an ISO 3166-1 alpha-2 country code and '-'",
                tree, idNode))
        }
        let key = IDKey(id)
        if let earlier = seen.lookup(key.fingerprint) {
            emit(finding(.error, RuleID.duplicateRecordId,
                "record id \(id.quotedForMessage) already appears at line \(earlier.line); send each record once per batch, at its latest revision",
                tree, idNode))
            return
        }
        seen.insert(key.fingerprint, line: Int(tree[idNode].line), isShipment: kind == .shipment)
        if kind == .shipment, let waiting = routeRepeats.removeValue(forKey: key) {
            for repeat_ in waiting where routeRepeatsReported.insert(repeat_.seizure).inserted { emit(repeat_.finding) }
        }
        if let waiting = pending.removeValue(forKey: key) {
            for link in waiting where link.expected != kind {
                var wrongKind = link.finding
                wrongKind.message = "the link names \(id.quotedForMessage), which is a \(kind == .seizure ? "Seizure" : "Shipment") in this batch, not a \(link.expected == .seizure ? "Seizure" : "Shipment")"
                emit(wrongKind)
            }
        }
    }

    private func checkStatus(_ tree: ElementTree, _ record: Int, _ emit: (Finding) -> Void) {
        guard let statusNode = tree.child(record, "Status") else { return }
        let reason = tree.child(record, "WithdrawalReason")
        switch tree.text(statusNode) {
        case RecordStatus.withdrawn.rawValue where reason == nil:
            emit(finding(.error, RuleID.withdrawalReason,
                "a withdrawn record needs a WithdrawalReason after Status, so partners know whether to erase or correct",
                tree, statusNode))
        case RecordStatus.active.rawValue where reason != nil:
            emit(finding(.error, RuleID.withdrawalReason,
                "an active record has no WithdrawalReason; set Status to withdrawn or remove the reason", tree, reason!))
        default:
            break
        }
    }

    private mutating func checkLinks(_ tree: ElementTree, _ list: Int?, expected: Kind, _ emit: (Finding) -> Void) {
        guard let list else { return }
        for ref in tree.children(list) {
            if tree.attribute(ref, "external") == "true" || tree.attribute(ref, "external") == "1" { continue }
            let id = tree.text(ref)
            let key = IDKey(id)
            let kindName = expected == .seizure ? "Seizure" : "Shipment"
            if let target = seen.lookup(key.fingerprint) {
                if (target.isShipment ? Kind.shipment : Kind.seizure) != expected {
                    emit(finding(.error, RuleID.unresolvedLink,
                        "the link names \(id.quotedForMessage), which is not a \(kindName) in this batch", tree, ref))
                }
            } else {
                let message = "the link names \(id.quotedForMessage), which is not a \(kindName) in this batch; add that record or mark the link external=\"true\""
                pending[key, default: []].append(
                    PendingLink(expected: expected, finding: finding(.error, RuleID.unresolvedLink, message, tree, ref)))
            }
        }
    }

    func checkNotFuture(timestamp node: Int, _ name: String, _ tree: ElementTree,
                                _ emit: (Finding) -> Void) {
        // v2: with timeUnknown only the day is known, so only the day can lie in the future.
        if tree.attribute(node, "timeUnknown") != nil {
            checkNotFuture(date: node, name, tree, emit)
            return
        }
        let text = tree.text(node)
        guard let seconds = ISOTime.epochSeconds(of: text) else { return }
        if seconds > nowSeconds + Self.clockSkewSeconds {
            emit(finding(.error, RuleID.futureDate,
                "\(name) \(text.quotedForMessage) lies in the future; check the date, the time zone and the clock of the exporting system",
                tree, node))
        }
    }

    func checkNotFuture(date node: Int, _ name: String, _ tree: ElementTree, _ emit: (Finding) -> Void) {
        let text = tree.text(node)
        guard let day = ISOTime.day(of: text) else { return }
        if day > todayDay {
            emit(finding(.error, RuleID.futureDate,
                "\(name) \(text.quotedForMessage) lies in the future; check the date format of the export (day and month swapped?)",
                tree, node))
        }
    }

    func checkLocation(_ tree: ElementTree, _ location: Int?, _ emit: (Finding) -> Void) {
        guard let location else { return }
        let latitude = tree.child(location, "Latitude")
        let longitude = tree.child(location, "Longitude")
        if (latitude == nil) != (longitude == nil) {
            emit(finding(.error, RuleID.coordinatesPair,
                "give both Latitude and Longitude (WGS84 degrees) or neither", tree, latitude ?? longitude!))
        }
        // A nil Country (v2, a shipment's route) has no codes to compare; FWX-W110 looks at that case.
        guard let country = tree.childText(location, "Country"), !country.isEmpty else { return }
        if isV2, let postalCode = tree.child(location, "PostalCode") {
            checkPostalCode(tree, postalCode, country: country, emit)
        }
        if let locode = tree.child(location, "UNLocode") {
            let text = tree.text(locode)
            if !text.hasPrefix(country) {
                emit(finding(.error, RuleID.locationCodes,
                    "UN/LOCODE \(text.quotedForMessage) is in \(String(text.prefix(2))), not in the location's country \(country)",
                    tree, locode))
            }
        }
        if let nuts = tree.child(location, "NutsCode") {
            let text = tree.text(nuts)
            let nutsCountry = CountryCode.fromEUPrefix(String(text.prefix(2)))
            if nutsCountry != country {
                emit(finding(.error, RuleID.locationCodes,
                    "NUTS code \(text.quotedForMessage) is a region of \(nutsCountry), not of the location's country \(country)",
                    tree, nuts))
            }
        }
    }

    private func checkOrganisation(_ tree: ElementTree, _ party: Int, _ emit: (Finding) -> Void) {
        guard let organisation = tree.child(party, "Organisation"),
              let vat = tree.child(organisation, "VatNumber"),
              let country = tree.childText(organisation, "Country") else { return }
        let text = tree.text(vat)
        let vatCountry = CountryCode.fromEUPrefix(String(text.prefix(2)))
        if vatCountry != country {
            emit(finding(.warning, RuleID.vatCountry,
                "VAT number \(text.quotedForMessage) is registered in \(vatCountry), but the organisation's country is \(country); check both",
                tree, vat))
        }
    }

    func checkContainers(_ tree: ElementTree, _ containers: Int?, _ emit: (Finding) -> Void) {
        guard let containers else { return }
        for container in tree.children(containers) {
            let number = tree.text(container)
            if let expected = CheckCharacters.containerCheckDigit(number),
               Int(number.utf8.last! - UInt8(ascii: "0")) != expected {
                emit(finding(.error, RuleID.containerCheckDigit,
                    "container number \(number.quotedForMessage) has check digit \(number.suffix(1)), ISO 6346 gives \(expected); check the number on the container",
                    tree, container))
            }
        }
    }

    private func checkRetention(_ tree: ElementTree, _ record: Int, eventDay: Int?, _ emit: (Finding) -> Void) {
        guard let eventDay, let retention = tree.child(record, "RetentionUntil"),
              let retentionDay = ISOTime.day(of: tree.text(retention)) else { return }
        if retentionDay < eventDay {
            emit(finding(.error, RuleID.retentionBeforeEvent,
                "RetentionUntil \(tree.text(retention).quotedForMessage) is before the event it keeps; data would be due for deletion before it happened",
                tree, retention))
        }
    }

    // MARK: Seizures

    private mutating func checkSeizure(_ tree: ElementTree, _ record: Int, _ emit: (Finding) -> Void) {
        var eventDay: Int?
        if let when = tree.child(record, "SeizureDateTime") {
            checkNotFuture(timestamp: when, "SeizureDateTime", tree, emit)
            eventDay = ISOTime.day(of: tree.text(when))
        }
        checkLocation(tree, tree.child(record, "Location"), emit)
        if let items = tree.child(record, "Items") {
            for item in tree.children(items) { checkItem(tree, item, emit) }
        }
        checkLinks(tree, tree.child(record, "ShipmentLinks"), expected: .shipment, emit)
        if isV2 { checkV2Seizure(tree, record, eventDay: eventDay, emit) }
        checkRetention(tree, record, eventDay: eventDay, emit)
    }

    private func checkItem(_ tree: ElementTree, _ item: Int, _ emit: (Finding) -> Void) {
        let category = tree.childText(item, "Category").flatMap(CECategory.init(rawValue:))
        if let registration = tree.child(item, "CERegistrationNumber") {
            checkCERegistration(tree, registration, category: category, emit)
        }
        var division: HazardDivision?
        let divisionNode = tree.child(item, "HazardDivision")
        if let divisionNode { division = HazardDivision(rawValue: tree.text(divisionNode)) }
        if let unNode = tree.child(item, "UNNumber") {
            let un = tree.text(unNode)
            if let implied = UNNumbers.fireworksDivision[un] {
                if let division, division != implied {
                    emit(finding(.error, RuleID.unDivision,
                        "UN \(un) is hazard division \(implied.rawValue), not \(division.rawValue); correct the UN number or the division",
                        tree, divisionNode!))
                }
                division = division ?? implied
            }
        }
        if let category, category != .unmarked, let division,
           let usual = UNNumbers.usualDivisions[category], !usual.contains(division) {
            emit(finding(.warning, RuleID.categoryDivisionUnusual,
                "category \(category.rawValue) is usually hazard division \(usual.map(\.rawValue).sorted().joined(separator: " or ")), not \(division.rawValue); check the category and the UN number",
                tree, divisionNode ?? tree.child(item, "UNNumber") ?? item))
        }
        let grossNode = tree.child(item, "GrossMassKg")
        let netNode = tree.child(item, "NetExplosiveQuantity")
        if let grossNode, let netNode, let gross = Double(tree.text(grossNode)), let net = Double(tree.text(netNode)) {
            if net > gross {
                emit(finding(.error, RuleID.netAboveGross,
                    "net explosive quantity \(tree.text(netNode)) kg is above the gross mass \(tree.text(grossNode)) kg; both are in kg, check the units",
                    tree, netNode))
            } else if gross > 0, net * 10 > gross * 7, tree.childText(item, "ArticleKind") != "bulk-composition" {
                let percent = Int((net / gross * 100).rounded())
                emit(finding(.warning, RuleID.netShareImplausible,
                    "net explosive quantity is \(percent)% of the gross mass; above 70% is implausible for packaged fireworks",
                    tree, netNode))
            }
        }
        if isV2, let kindNode = tree.child(item, "ArticleKind") {
            checkArticleKind(tree, kindNode, item: item, category: category, emit)
        }
        if let hs = tree.child(item, "HSCode") {
            let text = tree.text(hs)
            if !["3601", "3602", "3603", "3604"].contains(String(text.prefix(4))) {
                emit(finding(.warning, RuleID.itemHSCodeNotExplosive,
                    "HS code \(text.quotedForMessage) is outside 3601-3604 (fireworks are 3604 10 00); use the declared code in the shipment's DeclaredGoods instead",
                    tree, hs))
            }
        }
    }

    private func checkCERegistration(_ tree: ElementTree, _ node: Int, category: CECategory?,
                                     _ emit: (Finding) -> Void) {
        let text = tree.text(node)
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        let wellFormed = parts.count == 3 && parts[0].count == 4 && parts[0].allSatisfy(\.isASCIIDigit)
            && CECategory(rawValue: String(parts[1])) != nil && parts[1] != "unmarked"
            && (1...20).contains(parts[2].count) && parts[2].allSatisfy { $0.isASCIIDigit || $0.isASCIIUpperOrLower }
        guard wellFormed else {
            emit(finding(.error, RuleID.ceRegistrationFormat,
                "CE registration number \(text.quotedForMessage) must read NNNN-CAT-XXXX: notified body (4 digits), category (F1-F4, T1, T2, P1, P2), processing number",
                tree, node))
            return
        }
        guard let category else { return }
        if category == .unmarked {
            emit(finding(.error, RuleID.ceRegistrationCategory,
                "an unmarked item has no CE registration number; set Category to \(parts[1]) or drop the number",
                tree, node))
        } else if String(parts[1]) != category.rawValue {
            emit(finding(.error, RuleID.ceRegistrationCategory,
                "CE registration number \(text.quotedForMessage) is for category \(parts[1]), but the item's Category is \(category.rawValue)",
                tree, node))
        }
    }

    // MARK: Shipments

    private mutating func checkShipment(_ tree: ElementTree, _ record: Int, _ emit: (Finding) -> Void) {
        checkLocation(tree, tree.child(record, "Origin"), emit)
        checkLocation(tree, tree.child(record, "Destination"), emit)
        if isV2 {
            for end in ["Origin", "Destination"] { checkNilCountry(tree, tree.child(record, end), emit) }
        }
        checkContainers(tree, tree.child(record, "Containers"), emit)
        if let mrnNode = tree.child(record, "CustomsMRN") {
            let mrn = tree.text(mrnNode)
            if let problem = CheckCharacters.mrnFormatProblem(mrn) {
                emit(finding(.error, RuleID.mrn, "MRN \(mrn.quotedForMessage): \(problem)", tree, mrnNode))
            } else if let expected = CheckCharacters.mrnCheckCharacter(String(mrn.prefix(17))), mrn.last != expected {
                emit(finding(.error, RuleID.mrn,
                    "MRN \(mrn.quotedForMessage) has check character \(mrn.suffix(1)), expected \(expected); check the declaration number",
                    tree, mrnNode))
            }
        }
        let departure = tree.child(record, "DepartureDate")
        let arrival = tree.child(record, "ArrivalDate")
        let interception = tree.child(record, "InterceptionDate")
        for (node, name) in [(departure, "DepartureDate"), (arrival, "ArrivalDate"), (interception, "InterceptionDate")] {
            if let node { checkNotFuture(date: node, name, tree, emit) }
        }
        let departureDay = departure.flatMap { ISOTime.day(of: tree.text($0)) }
        if let departureDay {
            for (node, name) in [(arrival, "ArrivalDate"), (interception, "InterceptionDate")] {
                if let node, let day = ISOTime.day(of: tree.text(node)), day < departureDay {
                    emit(finding(.error, RuleID.chronology,
                        "\(name) \(tree.text(node).quotedForMessage) is before DepartureDate \(tree.text(departure!).quotedForMessage); a shipment departs first",
                        tree, node))
                }
            }
        }
        checkLinks(tree, tree.child(record, "SeizureLinks"), expected: .seizure, emit)
        let lastDay = [departure, arrival, interception].compactMap { $0.flatMap { ISOTime.day(of: tree.text($0)) } }.max()
        checkRetention(tree, record, eventDay: lastDay, emit)
    }
}

extension ElementTree {
    /// Children of `node`, or nothing when `node` is -1 (absent).
    func children(_ node: Int, ifPresent tree: ElementTree) -> [Int] {
        node < 0 ? [] : Array(children(node))
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
    var isASCIIUpperOrLower: Bool { isASCII && isLetter }
}
