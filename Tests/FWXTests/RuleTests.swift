// Every business rule of the catalogue, through the real parser: a failing case that yields exactly that rule at the
// expected line, column and XPath, and a close variant that passes. Cases are edits of fixtures/batches/nl-sample.xml
// (string replacement) or batches built from model values and written with BatchXMLWriter.
import FWXModel
import FWXXML
import Foundation
import Testing

private let S1 = "/fwx:Batch/fwx:Records/fwx:Seizure[1]"
private let S2 = "/fwx:Batch/fwx:Records/fwx:Seizure[2]"
private let SH = "/fwx:Batch/fwx:Records/fwx:Shipment[1]"
private let item1 = S1 + "/fwx:Items/fwx:Item[1]"
private let item2 = S1 + "/fwx:Items/fwx:Item[2]"

/// One edit of the sample: replace `old` (which must occur once, or pick an occurrence) by `new`.
struct Edit: Sendable {
    var old: String
    var new: String
    var occurrence: Int?
    init(_ old: String, _ new: String, occurrence: Int? = nil) {
        self.old = old
        self.new = new
        self.occurrence = occurrence
    }
}

/// A failing case: the edited sample must give exactly one finding, of `rule`, on the element that starts with
/// `anchor` (its `anchorOccurrence`-th occurrence in the edited text), at `xpath`.
struct FailingCase: Sendable, CustomTestStringConvertible {
    var rule: String
    var name: String
    var edits: [Edit]
    var anchor: String
    var anchorOccurrence: Int = 1
    var xpath: String
    var messageContains: [String] = []
    var testDescription: String { "\(rule) \(name)" }

    func text() throws -> String { try Sample.edited(edits.map { ($0.old, $0.new, $0.occurrence) }) }
}

/// A passing case: a close variant of a failing case; the edited sample must have no findings at all.
struct PassingCase: Sendable, CustomTestStringConvertible {
    var rule: String
    var name: String
    var edits: [Edit]
    var testDescription: String { "\(rule) \(name)" }

    func text() throws -> String { try Sample.edited(edits.map { ($0.old, $0.new, $0.occurrence) }) }
}

@Suite("Business rules")
struct RuleTests {
    // MARK: Failing cases

    static let failing: [FailingCase] = [
        // R001 container check digit
        FailingCase(rule: RuleID.containerCheckDigit, name: "wrong check digit",
                    edits: [Edit("<Container>CSQU3054383</Container>", "<Container>CSQU3054384</Container>")],
                    anchor: "<Container>CSQU3054384", xpath: SH + "/fwx:Containers/fwx:Container",
                    messageContains: ["CSQU3054384", "3"]),
        FailingCase(rule: RuleID.containerCheckDigit, name: "remainder 10 means check digit 0",
                    edits: [Edit("<Container>CSQU3054383</Container>", "<Container>MSCU1000071</Container>")],
                    anchor: "<Container>MSCU1000071", xpath: SH + "/fwx:Containers/fwx:Container"),
        // R002 MRN
        FailingCase(rule: RuleID.mrn, name: "wrong check character",
                    edits: [Edit("26NL0003960000GRB7", "26NL0003960000GRB8")],
                    anchor: "<CustomsMRN>", xpath: SH + "/fwx:CustomsMRN", messageContains: ["26NL0003960000GRB8"]),
        FailingCase(rule: RuleID.mrn, name: "office country is not a country",
                    edits: [Edit("26NL0003960000GRB7", "26XX0003960000GRB7")],
                    anchor: "<CustomsMRN>", xpath: SH + "/fwx:CustomsMRN", messageContains: ["XX"]),
        // R003 CE registration format
        FailingCase(rule: RuleID.ceRegistrationFormat, name: "category part is not a CE category",
                    edits: [Edit("0589-F4-1234", "0589-F5-1234")],
                    anchor: "<CERegistrationNumber>", xpath: item1 + "/fwx:CERegistrationNumber",
                    messageContains: ["0589-F5-1234"]),
        // R004 CE registration category
        FailingCase(rule: RuleID.ceRegistrationCategory, name: "number for F3 on an F4 item",
                    edits: [Edit("0589-F4-1234", "0589-F3-1234")],
                    anchor: "<CERegistrationNumber>", xpath: item1 + "/fwx:CERegistrationNumber",
                    messageContains: ["F3", "F4"]),
        FailingCase(rule: RuleID.ceRegistrationCategory, name: "unmarked item with a CE number",
                    edits: [Edit("<ProductName>Unlabelled flash banger</ProductName>",
                                 "<ProductName>Unlabelled flash banger</ProductName>\n          <CERegistrationNumber>0589-F4-7777</CERegistrationNumber>")],
                    anchor: "<CERegistrationNumber>0589-F4-7777", xpath: item2 + "/fwx:CERegistrationNumber"),
        // R005 UN number and hazard division
        FailingCase(rule: RuleID.unDivision, name: "UN 0335 given as 1.1G",
                    edits: [Edit("<HazardDivision>1.3G</HazardDivision>", "<HazardDivision>1.1G</HazardDivision>")],
                    anchor: "<HazardDivision>1.1G", xpath: item1 + "/fwx:HazardDivision",
                    messageContains: ["0335", "1.3G", "1.1G"]),
        FailingCase(rule: RuleID.unDivision, name: "UN 0333 given as 1.4G on an unmarked item",
                    edits: [Edit("<HazardDivision>1.1G</HazardDivision>", "<HazardDivision>1.4G</HazardDivision>")],
                    anchor: "<HazardDivision>1.4G", xpath: item2 + "/fwx:HazardDivision"),
        // R006 net above gross
        FailingCase(rule: RuleID.netAboveGross, name: "net 97 kg in 96 kg gross",
                    edits: [Edit(">28.8</NetExplosiveQuantity>", ">97.0</NetExplosiveQuantity>")],
                    anchor: "<NetExplosiveQuantity basis=\"label\">", xpath: item1 + "/fwx:NetExplosiveQuantity"),
        // R007 future dates
        FailingCase(rule: RuleID.futureDate, name: "CreatedAt one second beyond the clock skew",
                    edits: [Edit("<CreatedAt>2026-11-20T09:15:00Z</CreatedAt>", "<CreatedAt>2026-11-29T00:10:01Z</CreatedAt>")],
                    anchor: "<CreatedAt>", xpath: "/fwx:Batch/fwx:Header/fwx:CreatedAt",
                    messageContains: ["2026-11-29T00:10:01Z"]),
        FailingCase(rule: RuleID.futureDate, name: "SeizureDateTime in the future through its zone offset",
                    edits: [Edit("2026-11-12T14:30:00+01:00", "2026-11-29T01:00:00-01:00")],
                    anchor: "<SeizureDateTime>", xpath: S1 + "/fwx:SeizureDateTime"),
        FailingCase(rule: RuleID.futureDate, name: "InterceptionDate tomorrow",
                    edits: [Edit("<InterceptionDate>2026-11-12</InterceptionDate>", "<InterceptionDate>2026-11-30</InterceptionDate>")],
                    anchor: "<InterceptionDate>", xpath: SH + "/fwx:InterceptionDate"),
        // R008 chronology
        FailingCase(rule: RuleID.chronology, name: "departure after interception",
                    edits: [Edit("<DepartureDate>2026-11-10</DepartureDate>", "<DepartureDate>2026-11-13</DepartureDate>")],
                    anchor: "<InterceptionDate>", xpath: SH + "/fwx:InterceptionDate"),
        FailingCase(rule: RuleID.chronology, name: "arrival before departure",
                    edits: [Edit("<DepartureDate>2026-11-10</DepartureDate>",
                                 "<DepartureDate>2026-11-10</DepartureDate>\n      <ArrivalDate>2026-11-09</ArrivalDate>")],
                    anchor: "<ArrivalDate>", xpath: SH + "/fwx:ArrivalDate"),
        // R009 record id country
        FailingCase(rule: RuleID.recordIdCountry, name: "DE record in an NL batch",
                    edits: [Edit("<RecordId>NL-SZ-2026-000000</RecordId>", "<RecordId>DE-SZ-2026-000000</RecordId>")],
                    anchor: "<RecordId>DE-SZ", xpath: S2 + "/fwx:RecordId", messageContains: ["NL"]),
        // R010 links
        FailingCase(rule: RuleID.unresolvedLink, name: "ShipmentRef to a record not in the batch",
                    edits: [Edit("<ShipmentRef>NL-SH-2026-000001</ShipmentRef>", "<ShipmentRef>NL-SH-2026-000002</ShipmentRef>")],
                    anchor: "<ShipmentRef>NL-SH-2026-000002", xpath: S1 + "/fwx:ShipmentLinks/fwx:ShipmentRef[1]",
                    messageContains: ["NL-SH-2026-000002"]),
        FailingCase(rule: RuleID.unresolvedLink, name: "SeizureRef naming a Shipment",
                    edits: [Edit("<SeizureRef>NL-SZ-2026-000001</SeizureRef>", "<SeizureRef>NL-SH-2026-000001</SeizureRef>")],
                    anchor: "<SeizureRef>", xpath: SH + "/fwx:SeizureLinks/fwx:SeizureRef",
                    messageContains: ["NL-SH-2026-000001"]),
        FailingCase(rule: RuleID.unresolvedLink, name: "forward ShipmentRef naming a later Seizure",
                    edits: [Edit("<ShipmentRef>NL-SH-2026-000001</ShipmentRef>", "<ShipmentRef>NL-SZ-2026-000000</ShipmentRef>")],
                    anchor: "<ShipmentRef>NL-SZ-2026-000000", xpath: S1 + "/fwx:ShipmentLinks/fwx:ShipmentRef[1]",
                    messageContains: ["Seizure"]),
        FailingCase(rule: RuleID.unresolvedLink, name: "SeizureRef to a missing seizure",
                    edits: [Edit("<SeizureRef>NL-SZ-2026-000001</SeizureRef>", "<SeizureRef>NL-SZ-2026-999999</SeizureRef>")],
                    anchor: "<SeizureRef>", xpath: SH + "/fwx:SeizureLinks/fwx:SeizureRef"),
        FailingCase(rule: RuleID.unresolvedLink, name: "external=\"false\" is not external",
                    edits: [Edit("<ShipmentRef external=\"true\">", "<ShipmentRef external=\"false\">")],
                    anchor: "<ShipmentRef external=\"false\">", xpath: S1 + "/fwx:ShipmentLinks/fwx:ShipmentRef[2]"),
        // R011 duplicate record id
        FailingCase(rule: RuleID.duplicateRecordId, name: "second seizure repeats the first one's id",
                    edits: [Edit("<RecordId>NL-SZ-2026-000000</RecordId>", "<RecordId>NL-SZ-2026-000001</RecordId>")],
                    anchor: "<RecordId>NL-SZ-2026-000001", anchorOccurrence: 2, xpath: S2 + "/fwx:RecordId",
                    messageContains: ["NL-SZ-2026-000001", "line 21"]),
        // R012 withdrawal reason
        FailingCase(rule: RuleID.withdrawalReason, name: "withdrawn without a reason",
                    edits: [Edit("      <WithdrawalReason>erroneous</WithdrawalReason>\n", "")],
                    anchor: "<Status>withdrawn", xpath: S2 + "/fwx:Status"),
        FailingCase(rule: RuleID.withdrawalReason, name: "active with a reason",
                    edits: [Edit("<Status>active</Status>", "<Status>active</Status>\n      <WithdrawalReason>duplicate</WithdrawalReason>",
                                 occurrence: 1)],
                    anchor: "<WithdrawalReason>duplicate", xpath: S1 + "/fwx:WithdrawalReason"),
        // R013 location codes
        FailingCase(rule: RuleID.locationCodes, name: "German UN/LOCODE for a Dutch place",
                    edits: [Edit("<UNLocode>NLRTM</UNLocode>", "<UNLocode>DEHAM</UNLocode>", occurrence: 1)],
                    anchor: "<UNLocode>DEHAM", xpath: S1 + "/fwx:Location/fwx:UNLocode", messageContains: ["DEHAM"]),
        FailingCase(rule: RuleID.locationCodes, name: "German NUTS code for a Dutch place",
                    edits: [Edit("<NutsCode>NL33B</NutsCode>", "<NutsCode>DE600</NutsCode>")],
                    anchor: "<NutsCode>", xpath: S1 + "/fwx:Location/fwx:NutsCode", messageContains: ["DE600"]),
        FailingCase(rule: RuleID.locationCodes, name: "Belgian UN/LOCODE as a Dutch destination",
                    edits: [Edit("<UNLocode>NLRTM</UNLocode>", "<UNLocode>BEANR</UNLocode>", occurrence: 2)],
                    anchor: "<UNLocode>BEANR", xpath: SH + "/fwx:Destination/fwx:UNLocode"),
        FailingCase(rule: RuleID.locationCodes, name: "UN/LOCODE spells Greece GR, not EL",
                    edits: [Edit("<Country>NL</Country>\n        <NutsCode>NL33B</NutsCode>\n        <UNLocode>NLRTM</UNLocode>",
                                 "<Country>GR</Country>\n        <NutsCode>EL303</NutsCode>\n        <UNLocode>ELPIR</UNLocode>")],
                    anchor: "<UNLocode>ELPIR", xpath: S1 + "/fwx:Location/fwx:UNLocode"),
        // R014 coordinates
        FailingCase(rule: RuleID.coordinatesPair, name: "latitude without longitude",
                    edits: [Edit("        <Longitude>4.1400</Longitude>\n", "")],
                    anchor: "<Latitude>", xpath: S1 + "/fwx:Location/fwx:Latitude"),
        FailingCase(rule: RuleID.coordinatesPair, name: "longitude without latitude",
                    edits: [Edit("        <Latitude>51.9500</Latitude>\n", "")],
                    anchor: "<Longitude>", xpath: S1 + "/fwx:Location/fwx:Longitude"),
        // R015 retention
        FailingCase(rule: RuleID.retentionBeforeEvent, name: "seizure kept until the day before it happened",
                    edits: [Edit("<RetentionUntil>2031-11-12</RetentionUntil>", "<RetentionUntil>2026-11-11</RetentionUntil>", occurrence: 1)],
                    anchor: "<RetentionUntil>2026-11-11", xpath: S1 + "/fwx:RetentionUntil"),
        FailingCase(rule: RuleID.retentionBeforeEvent, name: "shipment kept until before its interception",
                    edits: [Edit("<RetentionUntil>2031-11-12</RetentionUntil>", "<RetentionUntil>2026-11-11</RetentionUntil>", occurrence: 2)],
                    anchor: "<RetentionUntil>2026-11-11", xpath: SH + "/fwx:RetentionUntil"),
        // W101 net share
        FailingCase(rule: RuleID.netShareImplausible, name: "73% net explosive quantity",
                    edits: [Edit(">28.8</NetExplosiveQuantity>", ">70.0</NetExplosiveQuantity>")],
                    anchor: "<NetExplosiveQuantity basis=\"label\">", xpath: item1 + "/fwx:NetExplosiveQuantity",
                    messageContains: ["73%"]),
        // W102 category and division
        FailingCase(rule: RuleID.categoryDivisionUnusual, name: "F4 item of division 1.4S",
                    edits: [Edit("<UNNumber>0335</UNNumber>", "<UNNumber>0337</UNNumber>"),
                            Edit("<HazardDivision>1.3G</HazardDivision>", "<HazardDivision>1.4S</HazardDivision>")],
                    anchor: "<HazardDivision>1.4S", xpath: item1 + "/fwx:HazardDivision"),
        FailingCase(rule: RuleID.categoryDivisionUnusual, name: "division implied by the UN number",
                    edits: [Edit("<UNNumber>0335</UNNumber>", "<UNNumber>0337</UNNumber>"),
                            Edit("          <HazardDivision>1.3G</HazardDivision>\n", "")],
                    anchor: "<UNNumber>0337", xpath: item1 + "/fwx:UNNumber"),
        // W103 HS code
        FailingCase(rule: RuleID.itemHSCodeNotExplosive, name: "item declared as toys",
                    edits: [Edit("<HSCode>36041000</HSCode>", "<HSCode>95030000</HSCode>", occurrence: 1)],
                    anchor: "<HSCode>95030000", anchorOccurrence: 1, xpath: item1 + "/fwx:HSCode"),
        // W104 VAT country
        FailingCase(rule: RuleID.vatCountry, name: "German VAT number for a Polish company",
                    edits: [Edit("<VatNumber>PL5260001246</VatNumber>", "<VatNumber>DE5260001246</VatNumber>", occurrence: 1)],
                    anchor: "<VatNumber>DE", xpath: S1 + "/fwx:Parties/fwx:Party[1]/fwx:Organisation/fwx:VatNumber"),
        FailingCase(rule: RuleID.vatCountry, name: "Greek (EL) VAT number for a Polish company, in a shipment",
                    edits: [Edit("<VatNumber>PL5260001246</VatNumber>", "<VatNumber>EL094014201</VatNumber>", occurrence: 2)],
                    anchor: "<VatNumber>EL", xpath: SH + "/fwx:Parties/fwx:Party[1]/fwx:Organisation/fwx:VatNumber",
                    messageContains: ["GR"]),
    ]

    // MARK: Passing variants

    static let passing: [PassingCase] = [
        PassingCase(rule: RuleID.containerCheckDigit, name: "check digit 0 from remainder 10",
                    edits: [Edit("<Container>CSQU3054383</Container>", "<Container>MSCU1000070</Container>")]),
        PassingCase(rule: RuleID.containerCheckDigit, name: "another right check digit",
                    edits: [Edit("<Container>CSQU3054383</Container>", "<Container>TGHU1234567</Container>")]),
        PassingCase(rule: RuleID.mrn, name: "office country spelled EL (Greece)",
                    edits: [Edit("26NL0003960000GRB7", "26EL0003960000GRB0")]),
        PassingCase(rule: RuleID.mrn, name: "another right check character",
                    edits: [Edit("26NL0003960000GRB7", "26DE1234567890ABC7")]),
        PassingCase(rule: RuleID.ceRegistrationFormat, name: "letters in the processing number",
                    edits: [Edit("0589-F4-1234", "0123-F4-AB12")]),
        PassingCase(rule: RuleID.ceRegistrationCategory, name: "number matching the item's category",
                    edits: [Edit("0589-F4-1234", "1008-F4-99")]),
        PassingCase(rule: RuleID.unDivision, name: "UN 0336 as 1.4G",
                    edits: [Edit("<UNNumber>0335</UNNumber>", "<UNNumber>0336</UNNumber>"),
                            Edit("<HazardDivision>1.3G</HazardDivision>", "<HazardDivision>1.4G</HazardDivision>")]),
        PassingCase(rule: RuleID.unDivision, name: "UN number not on the fireworks list",
                    edits: [Edit("<UNNumber>0335</UNNumber>", "<UNNumber>0081</UNNumber>")]),
        PassingCase(rule: RuleID.netAboveGross, name: "net 60 kg in 96 kg gross",
                    edits: [Edit(">28.8</NetExplosiveQuantity>", ">60</NetExplosiveQuantity>")]),
        PassingCase(rule: RuleID.futureDate, name: "CreatedAt exactly at the clock skew",
                    edits: [Edit("<CreatedAt>2026-11-20T09:15:00Z</CreatedAt>", "<CreatedAt>2026-11-29T00:10:00Z</CreatedAt>")]),
        PassingCase(rule: RuleID.futureDate, name: "SeizureDateTime today in UTC+14, yesterday in UTC",
                    edits: [Edit("2026-11-12T14:30:00+01:00", "2026-11-29T09:00:00+14:00")]),
        PassingCase(rule: RuleID.futureDate, name: "InterceptionDate today",
                    edits: [Edit("<InterceptionDate>2026-11-12</InterceptionDate>", "<InterceptionDate>2026-11-29</InterceptionDate>")]),
        PassingCase(rule: RuleID.chronology, name: "departure on the day of interception",
                    edits: [Edit("<DepartureDate>2026-11-10</DepartureDate>", "<DepartureDate>2026-11-12</DepartureDate>")]),
        PassingCase(rule: RuleID.chronology, name: "arrival between departure and interception",
                    edits: [Edit("<DepartureDate>2026-11-10</DepartureDate>",
                                 "<DepartureDate>2026-11-10</DepartureDate>\n      <ArrivalDate>2026-11-11</ArrivalDate>")]),
        PassingCase(rule: RuleID.recordIdCountry, name: "another NL id",
                    edits: [Edit("<RecordId>NL-SZ-2026-000000</RecordId>", "<RecordId>NL-X.1_2</RecordId>")]),
        PassingCase(rule: RuleID.unresolvedLink, name: "external=\"true\" link to a record not in the batch",
                    edits: [Edit("<ShipmentRef>NL-SH-2026-000001</ShipmentRef>", "<ShipmentRef external=\"true\">NL-SH-2025-000777</ShipmentRef>"),
                            Edit("<SeizureRef>NL-SZ-2026-000001</SeizureRef>", "<SeizureRef external=\"1\">BE-SZ-2026-000001</SeizureRef>")]),
        PassingCase(rule: RuleID.unresolvedLink, name: "backward ShipmentRef from a later seizure",
                    edits: [Edit("      </Items>\n      <RetentionUntil>2027-10-02</RetentionUntil>",
                                 "      </Items>\n      <ShipmentLinks>\n        <ShipmentRef>NL-SH-2026-000001</ShipmentRef>\n      </ShipmentLinks>\n      <RetentionUntil>2027-10-02</RetentionUntil>")]),
        PassingCase(rule: RuleID.unresolvedLink, name: "SeizureRef naming the later seizure (forward)",
                    edits: [Edit("<SeizureRef>NL-SZ-2026-000001</SeizureRef>",
                                 "<SeizureRef>NL-SZ-2026-000001</SeizureRef>\n        <SeizureRef>NL-SZ-2026-000000</SeizureRef>")]),
        PassingCase(rule: RuleID.duplicateRecordId, name: "ids differing in one character",
                    edits: [Edit("<RecordId>NL-SZ-2026-000000</RecordId>", "<RecordId>NL-SZ-2026-0000010</RecordId>")]),
        PassingCase(rule: RuleID.withdrawalReason, name: "withdrawn with another reason",
                    edits: [Edit("<WithdrawalReason>erroneous</WithdrawalReason>", "<WithdrawalReason>erasure-request</WithdrawalReason>")]),
        PassingCase(rule: RuleID.locationCodes, name: "NUTS EL and UN/LOCODE GR for a place in Greece",
                    edits: [Edit("<Country>NL</Country>\n        <NutsCode>NL33B</NutsCode>\n        <UNLocode>NLRTM</UNLocode>",
                                 "<Country>GR</Country>\n        <NutsCode>EL303</NutsCode>\n        <UNLocode>GRPIR</UNLocode>")]),
        PassingCase(rule: RuleID.locationCodes, name: "NUTS UK and UN/LOCODE GB for a place in the United Kingdom",
                    edits: [Edit("<Country>NL</Country>\n        <NutsCode>NL33B</NutsCode>\n        <UNLocode>NLRTM</UNLocode>",
                                 "<Country>GB</Country>\n        <NutsCode>UKI31</NutsCode>\n        <UNLocode>GBLON</UNLocode>")]),
        PassingCase(rule: RuleID.coordinatesPair, name: "neither latitude nor longitude",
                    edits: [Edit("        <Latitude>51.9500</Latitude>\n        <Longitude>4.1400</Longitude>\n", "")]),
        PassingCase(rule: RuleID.retentionBeforeEvent, name: "seizure kept until the day it happened",
                    edits: [Edit("<RetentionUntil>2031-11-12</RetentionUntil>", "<RetentionUntil>2026-11-12</RetentionUntil>", occurrence: 1)]),
        PassingCase(rule: RuleID.retentionBeforeEvent, name: "shipment kept until its interception day",
                    edits: [Edit("<RetentionUntil>2031-11-12</RetentionUntil>", "<RetentionUntil>2026-11-12</RetentionUntil>", occurrence: 2)]),
        PassingCase(rule: RuleID.netShareImplausible, name: "69.8% net explosive quantity",
                    edits: [Edit(">28.8</NetExplosiveQuantity>", ">67.0</NetExplosiveQuantity>")]),
        PassingCase(rule: RuleID.categoryDivisionUnusual, name: "F4 item of division 1.4G",
                    edits: [Edit("<UNNumber>0335</UNNumber>", "<UNNumber>0336</UNNumber>"),
                            Edit("<HazardDivision>1.3G</HazardDivision>", "<HazardDivision>1.4G</HazardDivision>")]),
        PassingCase(rule: RuleID.itemHSCodeNotExplosive, name: "HS code in heading 3601",
                    edits: [Edit("<HSCode>36041000</HSCode>", "<HSCode>360100</HSCode>", occurrence: 1)]),
        PassingCase(rule: RuleID.vatCountry, name: "VAT EL for an organisation in GR",
                    edits: [Edit("<VatNumber>PL5260001246</VatNumber>\n            <Country>PL</Country>",
                                 "<VatNumber>EL094014201</VatNumber>\n            <Country>GR</Country>", occurrence: 1)]),
    ]

    /// The business rules only a v2 document can break; V2BusinessRuleTests has their cases.
    static let v2RuleIDs: Set<String> = Set((16...20).map { String(format: "FWX-R%03d", $0) }
                                            + (105...110).map { "FWX-W\($0)" })

    /// The business rules of v1: every rule id of the catalogue except the parser (P) and schema (S) layers and
    /// the v2 rules.
    static let businessRuleIDs: Set<String> = Set(RuleID.catalogue.map(\.id).filter {
        $0.hasPrefix("FWX-R") || $0.hasPrefix("FWX-W")
    }).subtracting(v2RuleIDs)

    @Test("the catalogue has the 15 errors and 4 warnings of the v1 rules and the 5 errors and 6 warnings of v2, with the right severities")
    func catalogueShape() {
        let expected = Set((1...15).map { String(format: "FWX-R%03d", $0) } + (101...104).map { "FWX-W\($0)" })
        #expect(Self.businessRuleIDs == expected)
        #expect(Self.v2RuleIDs.isSubset(of: Set(RuleID.catalogue.map(\.id))))
        let ids = RuleID.catalogue.map(\.id)
        #expect(Set(ids).count == ids.count, "duplicate ids in the catalogue")
        for entry in RuleID.catalogue {
            #expect(entry.severity == (entry.id.hasPrefix("FWX-W") ? .warning : .error), "\(entry.id)")
            #expect(!entry.summary.isEmpty)
        }
    }

    @Test("every business rule has a failing and a passing case")
    func everyRuleCovered() {
        #expect(Set(Self.failing.map(\.rule)) == Self.businessRuleIDs)
        #expect(Set(Self.passing.map(\.rule)) == Self.businessRuleIDs)
    }

    @Test("failing case yields exactly its rule at the expected line, column and XPath", arguments: failing)
    func failingCase(_ testCase: FailingCase) throws {
        let text = try testCase.text()
        let report = try Validation.validate(xml: text, name: "case.xml")
        let description = Validation.describe(report)
        try #require(report.findings.count == 1, "expected exactly one \(testCase.rule):\n\(description)")
        let finding = report.findings[0]
        #expect(finding.rule == testCase.rule)
        let severity: Severity = testCase.rule.hasPrefix("FWX-W") ? .warning : .error
        #expect(finding.severity == severity)
        #expect(report.isValid == (severity == .warning))
        #expect(report.errorCount == (severity == .error ? 1 : 0))
        #expect(report.warningCount == (severity == .warning ? 1 : 0))
        let line = try #require(text.line(of: testCase.anchor, occurrence: testCase.anchorOccurrence))
        #expect(finding.location.line == line, "\(description)")
        #expect(finding.location.column == text.column(of: testCase.anchor, occurrence: testCase.anchorOccurrence))
        #expect(finding.location.file == "case.xml")
        #expect(finding.xpath == testCase.xpath)
        for fragment in testCase.messageContains {
            #expect(finding.message.contains(fragment), "message: \(finding.message)")
        }
        #expect(finding.humanDescription.hasPrefix("case.xml:\(line):"))
    }

    @Test("passing variant has no findings at all", arguments: passing)
    func passingCase(_ testCase: PassingCase) throws {
        let text = try testCase.text()
        #expect(text != Sample.text)
        let report = try Validation.validate(xml: text, name: "case.xml")
        #expect(!report.findings.contains { $0.rule == testCase.rule }, "\(Validation.describe(report))")
        #expect(report.findings.isEmpty, "\(Validation.describe(report))")
        #expect(report.records == 3)
    }

    @Test("net explosive quantity of exactly 70% is not above 70% (W101), nor is net equal to gross above it (R006)")
    func netShareBoundaries() throws {
        // 67.2 / 96 is 0.7000000000000001 in binary floating point; the rule is about the decimal values.
        let seventy = try Validation.validate(xml: try Sample.edited(">28.8</NetExplosiveQuantity>",
                                                                     ">67.2</NetExplosiveQuantity>"))
        #expect(seventy.findings.isEmpty, "\(Validation.describe(seventy))")
        let equal = try Validation.validate(xml: try Sample.edited(">28.8</NetExplosiveQuantity>",
                                                                   ">96.0</NetExplosiveQuantity>"))
        #expect(equal.findings.map(\.rule) == [RuleID.netShareImplausible], "\(Validation.describe(equal))")
    }

    // MARK: Several findings in one batch

    @Test("each violation of a batch is reported, sorted by position")
    func severalFindingsSorted() throws {
        let text = try Sample.edited([
            ("<RetentionUntil>2031-11-12</RetentionUntil>", "<RetentionUntil>2026-11-11</RetentionUntil>", 2),
            ("<Container>CSQU3054383</Container>", "<Container>CSQU3054384</Container>", nil),
            ("0589-F4-1234", "0589-F3-1234", nil),
            ("<ShipmentRef external=\"true\">", "<ShipmentRef>", nil),
        ])
        let report = try Validation.validate(xml: text)
        #expect(report.findings.map(\.rule) == [RuleID.ceRegistrationCategory, RuleID.unresolvedLink,
                                                RuleID.containerCheckDigit, RuleID.retentionBeforeEvent],
                "\(Validation.describe(report))")
        let lines = report.findings.map(\.location.line)
        #expect(lines == lines.sorted())
        #expect(report.errorCount == 4)
    }

    @Test("maxFindings keeps the first findings and counts the rest")
    func maxFindings() throws {
        var text = Sample.text
        // Ten unresolved links in the first seizure.
        let links = (1...10).map { "        <ShipmentRef>NL-SH-2026-90000\($0)</ShipmentRef>" }.joined(separator: "\n")
        text = text.replacingOccurrences(of: "        <ShipmentRef external=\"true\">PL-SH-2026-009912</ShipmentRef>",
                                         with: links)
        var validator = Validation.validator
        validator.maxFindings = 3
        let report = try validator.validate(ByteSource(bytes: Array(text.utf8), name: "many.xml"))
        #expect(report.errorCount == 10)
        #expect(report.findings.count == 3)
        #expect(report.findingsNotShown == 7)
        #expect(report.findings.allSatisfy { $0.rule == RuleID.unresolvedLink })
    }

    @Test("a message quotes at most 64 characters of a value")
    func longValuesCutInMessages() throws {
        let longId = "NL-" + String(repeating: "A", count: 62)
        let text = try Sample.edited("<ShipmentRef>NL-SH-2026-000001</ShipmentRef>", "<ShipmentRef>\(longId)</ShipmentRef>")
        let report = try Validation.validate(xml: text)
        try #require(report.findings.count == 1, "\(Validation.describe(report))")
        #expect(report.findings[0].rule == RuleID.unresolvedLink)
        #expect(!report.findings[0].message.contains(longId))
        #expect(report.findings[0].message.contains("…"))
    }

    // MARK: Batches built from model values

    static func header(sender: String = "NL") -> BatchHeader {
        BatchHeader(batchId: "0b9d2c41-7e3a-4f5b-8c6d-1a2b3c4d5e6f",
                    sender: NodeIdentity(country: sender, agencyId: "\(sender)-POLICE"),
                    recipients: .countries(["DE", "GR"]), createdAt: "2026-11-28T10:00:00+01:00",
                    sequenceNumber: 4, defaultHandlingCode: .h2)
    }

    static func seizure(_ id: String, links: [RecordLink] = [], location: Location = Location(country: "NL"),
                        parties: [Party] = []) -> SeizureRecord {
        SeizureRecord(recordId: id, incidentType: .storageSite, seizureDateTime: "2026-10-01T12:00:00Z",
                      seizingAuthority: SeizingAuthority(type: .police), caseReference: "CASE-1", location: location,
                      evaluation: Evaluation(source: .b, information: .two),
                      items: [Item(category: .f2, ceRegistrationNumber: "0589-F2-12", unNumber: "0336",
                                   hazardDivision: .d14G, hsCode: "36041000", quantity: Quantity(3, .boxes),
                                   grossMassKg: 12.5, netExplosiveQuantity: NetExplosiveQuantity(kg: 2.25, basis: .label))],
                      shipmentLinks: links, parties: parties, retentionUntil: "2031-10-01")
    }

    static func shipment(_ id: String, links: [RecordLink] = []) -> ShipmentRecord {
        ShipmentRecord(recordId: id, transportMode: .sea, origin: Location(country: "CN", unLocode: "CNSHA"),
                       transit: ["GR"], destination: Location(country: "GR", nutsCode: "EL301", unLocode: "GRPIR"),
                       containers: [CheckCharacters.completeContainerNumber("MSCU100000")!],
                       customsMRN: "26EL0003960000GRB0", departureDate: "2026-08-01", arrivalDate: "2026-09-20",
                       interceptionDate: "2026-09-21", seizureLinks: links, retentionUntil: "2031-09-21")
    }

    @Test("a model batch written by BatchXMLWriter: forward links, external links, Greek codes, all valid")
    func modelBatchValid() throws {
        let greekImporter = Party(role: .importer, organisation: Organisation(
            name: "Pyrotechnics Hellas A.E.", vatNumber: "EL094014201", country: "GR"))
        let batch = Batch(header: Self.header(), records: [
            // The seizure names the shipment before the shipment appears; the shipment names the seizure back.
            .seizure(Self.seizure("NL-SZ-1", links: [RecordLink("NL-SH-1"), RecordLink("GR-SH-77", external: true)],
                                  location: Location(country: "GR", nutsCode: "EL301", unLocode: "GRPIR",
                                                     municipality: "Piraeus", latitude: 37.94, longitude: 23.64),
                                  parties: [greekImporter])),
            .shipment(Self.shipment("NL-SH-1", links: [RecordLink("NL-SZ-1"), RecordLink("NL-SZ-2")])),
            .seizure(Self.seizure("NL-SZ-2", links: [RecordLink("NL-SH-1")])),
        ])
        let xml = BatchXMLWriter.string(for: batch)
        let report = try Validation.validate(xml: xml, name: "model.xml")
        #expect(report.findings.isEmpty, "\(Validation.describe(report))\n\(xml)")
        #expect(report.records == 3)
    }

    @Test("a model batch whose SeizureRef names a Shipment fails FWX-R010")
    func modelSeizureRefToShipment() throws {
        let batch = Batch(header: Self.header(), records: [
            .shipment(Self.shipment("NL-SH-1")),
            .shipment(Self.shipment("NL-SH-2", links: [RecordLink("NL-SH-1")])),
        ])
        let xml = BatchXMLWriter.string(for: batch)
        let report = try Validation.validate(xml: xml, name: "model.xml")
        try #require(report.findings.count == 1, "\(Validation.describe(report))")
        let finding = report.findings[0]
        #expect(finding.rule == RuleID.unresolvedLink)
        #expect(finding.xpath == "/fwx:Batch/fwx:Records/fwx:Shipment[2]/fwx:SeizureLinks/fwx:SeizureRef")
        #expect(finding.location.line == xml.line(of: "<SeizureRef>NL-SH-1"))
    }

    @Test("a model batch with the same id on a seizure and a shipment fails FWX-R011 only")
    func modelDuplicateAcrossKinds() throws {
        let batch = Batch(header: Self.header(), records: [
            .seizure(Self.seizure("NL-1")),
            .shipment(Self.shipment("NL-1")),
        ])
        let xml = BatchXMLWriter.string(for: batch)
        let report = try Validation.validate(xml: xml, name: "model.xml")
        #expect(report.findings.map(\.rule) == [RuleID.duplicateRecordId], "\(Validation.describe(report))")
        #expect(report.findings.first?.location.line == xml.line(of: "<RecordId>NL-1", occurrence: 2))
        #expect(report.findings.first?.xpath == "/fwx:Batch/fwx:Records/fwx:Shipment[1]/fwx:RecordId")
    }

    @Test("links that wait for their target: the right kind resolves, the wrong kind fails once")
    func pendingLinks() throws {
        let batch = Batch(header: Self.header(), records: [
            .seizure(Self.seizure("NL-SZ-A", links: [RecordLink("NL-X"), RecordLink("NL-SH-B")])),
            .seizure(Self.seizure("NL-SZ-C", links: [RecordLink("NL-X")])),
            .shipment(Self.shipment("NL-SH-B", links: [RecordLink("NL-SZ-A")])),
            .seizure(Self.seizure("NL-X")),
        ])
        let xml = BatchXMLWriter.string(for: batch)
        let report = try Validation.validate(xml: xml, name: "model.xml")
        // Both ShipmentRefs to NL-X resolve to a Seizure: one finding each, where each link stands.
        #expect(report.findings.map(\.rule) == [RuleID.unresolvedLink, RuleID.unresolvedLink],
                "\(Validation.describe(report))")
        #expect(report.findings.map(\.location.line) == [xml.line(of: "<ShipmentRef>NL-X", occurrence: 1),
                                                        xml.line(of: "<ShipmentRef>NL-X", occurrence: 2)])
        #expect(report.findings.allSatisfy { $0.message.contains("NL-X") })
    }

    // MARK: Unit: check characters

    @Test("ISO 6346 container numbers")
    func containerNumbers() {
        #expect(CheckCharacters.isValidContainerNumber("CSQU3054383"))
        #expect(CheckCharacters.containerCheckDigit("CSQU3054383") == 3)
        #expect(CheckCharacters.isValidContainerNumber("MSCU1000070"), "remainder 10 gives check digit 0")
        #expect(CheckCharacters.isValidContainerNumber("TGHU1234567"))
        for wrong in ["CSQU3054380", "CSQU3054384", "CSQU3054389", "MSCU1000071"] {
            #expect(!CheckCharacters.isValidContainerNumber(wrong), "\(wrong)")
        }
        // Malformed: wrong category letter, lower case, wrong length, letters in the serial.
        for malformed in ["CSQX3054383", "csqu3054383", "CSQU305438", "CSQU30543830", "CSQUA054383", ""] {
            #expect(CheckCharacters.containerCheckDigit(malformed) == nil, "\(malformed)")
            #expect(!CheckCharacters.isValidContainerNumber(malformed), "\(malformed)")
        }
        #expect(CheckCharacters.completeContainerNumber("CSQU305438") == "CSQU3054383")
        #expect(CheckCharacters.completeContainerNumber("MSCU100007") == "MSCU1000070")
        #expect(CheckCharacters.completeContainerNumber("CSQU30543") == nil)
    }

    @Test("customs MRNs")
    func mrns() {
        #expect(CheckCharacters.isValidMRN("26NL0003960000GRB7"))
        #expect(CheckCharacters.mrnFormatProblem("26NL0003960000GRB7") == nil)
        #expect(CheckCharacters.mrnCheckCharacter("26NL0003960000GRB") == "7")
        #expect(CheckCharacters.isValidMRN("26EL0003960000GRB0"), "EL is Greece's office country")
        #expect(CheckCharacters.isValidMRN("26DE1234567890ABC7"))
        for wrong in ["26NL0003960000GRB8", "26NL0003960000GRB0", "26NL0003960000GRBA", "27NL0003960000GRB7"] {
            #expect(!CheckCharacters.isValidMRN(wrong), "\(wrong)")
        }
        #expect(CheckCharacters.mrnFormatProblem("26NL0003960000GR") != nil, "too short")
        #expect(CheckCharacters.mrnFormatProblem("26NL0003960000GRB77") != nil, "too long")
        #expect(CheckCharacters.mrnFormatProblem("2XNL0003960000GRB7") != nil, "year not digits")
        #expect(CheckCharacters.mrnFormatProblem("26XX0003960000GRB7") != nil, "XX is no country")
        #expect(CheckCharacters.mrnFormatProblem("26NL0003960000grb7") != nil, "lower case")
        #expect(!CheckCharacters.isValidMRN(""))
    }

    // MARK: Unit: ISO time

    @Test("ISOTime day numbers against known dates")
    func isoDays() {
        #expect(ISOTime.daysSinceEpoch(year: 1970, month: 1, day: 1) == 0)
        #expect(ISOTime.daysSinceEpoch(year: 1969, month: 12, day: 31) == -1)
        #expect(ISOTime.daysSinceEpoch(year: 2000, month: 3, day: 1) == 11017)
        #expect(ISOTime.daysSinceEpoch(year: 2024, month: 2, day: 29) == 19782)
        #expect(ISOTime.daysSinceEpoch(year: 2026, month: 11, day: 29) == 20786)
        #expect(ISOTime.daysSinceEpoch(year: 1600, month: 1, day: 1) == -135140)
        #expect(ISOTime.day(of: "2026-11-29") == 20786)
        #expect(ISOTime.day(of: "2026-11-29+01:00") == 20786, "a trailing zone is ignored")
        #expect(ISOTime.date(daysSinceEpoch: 19782) == "2024-02-29")
        #expect(ISOTime.date(daysSinceEpoch: -1) == "1969-12-31")
        for bad in ["2026-13-01", "2026-00-10", "2026-11-32", "2026-11-00", "26-11-29", "2026/11/29", "", "2026-1-29"] {
            #expect(ISOTime.day(of: bad) == nil, "\(bad)")
        }
    }

    @Test("ISOTime day numbers round-trip through civil dates over five centuries")
    func isoRoundTrip() {
        for days in stride(from: -200_000, through: 200_000, by: 97) {
            let (year, month, day) = ISOTime.civilDate(daysSinceEpoch: days)
            #expect((1...12).contains(month) && (1...31).contains(day))
            #expect(ISOTime.daysSinceEpoch(year: year, month: month, day: day) == days)
        }
    }

    @Test("ISOTime timestamps: zones, fractions and malformed forms")
    func isoTimestamps() {
        #expect(ISOTime.epochSeconds(of: "2026-11-29T00:00:00Z") == 1_795_910_400)
        #expect(ISOTime.epochSeconds(of: "2026-11-29T00:00:00Z") == Validation.now)
        #expect(ISOTime.epochSeconds(of: "1970-01-01T00:00:00Z") == 0)
        #expect(ISOTime.epochSeconds(of: "2026-11-29T01:00:00+01:00") == 1_795_910_400)
        #expect(ISOTime.epochSeconds(of: "2026-11-28T23:00:00-01:00") == 1_795_910_400)
        #expect(ISOTime.epochSeconds(of: "2026-11-29T14:00:00+14:00") == 1_795_910_400)
        #expect(ISOTime.epochSeconds(of: "2026-11-29T00:00:00.25Z") == 1_795_910_400.25)
        for bad in ["2026-11-29T00:00:00", "2026-11-29 00:00:00Z", "2026-11-29T00:00:00+0100", "2026-11-29T00:00Z",
                    "2026-11-29T00:00:00Zjunk", "2026-11-29T00:00:00.Q", "2026-11-29", "", "2026-11-29T0a:00:00Z"] {
            #expect(ISOTime.epochSeconds(of: bad) == nil, "\(bad)")
        }
        #expect(ISOTime.timestamp(epochSeconds: 1_795_910_400) == "2026-11-29T00:00:00Z")
        #expect(ISOTime.timestamp(epochSeconds: 0) == "1970-01-01T00:00:00Z")
        #expect(ISOTime.timestamp(epochSeconds: -1) == "1969-12-31T23:59:59Z")
        #expect(ISOTime.timestamp(epochSeconds: 1_795_910_400 + 3661) == "2026-11-29T01:01:01Z")
        for seconds in [-86_401, -1, 0, 59, 951_782_400, 1_795_910_399] {
            #expect(ISOTime.epochSeconds(of: ISOTime.timestamp(epochSeconds: seconds)) == Double(seconds))
        }
    }

    // MARK: Unit: element trees, messages, numbers

    @Test("ElementTree: children, paths with positions among same-name siblings, attributes")
    func elementTree() {
        var tree = ElementTree(rootPath: "/fwx:Batch/fwx:Records/fwx:Seizure[2]")
        let record = tree.append(name: "Seizure", line: 10, column: 5, parent: -1)
        let id = tree.append(name: "RecordId", text: "NL-1", line: 11, column: 7, parent: record)
        let items = tree.append(name: "Items", line: 12, column: 7, parent: record)
        let first = tree.append(name: "Item", line: 13, column: 9, parent: items)
        let second = tree.append(name: "Item", line: 14, column: 9, parent: items)
        let category = tree.append(name: "Category", text: "F4", line: 15, column: 11, parent: second)
        let links = tree.append(name: "ShipmentLinks", line: 16, column: 7, parent: record)
        let ref = tree.append(name: "ShipmentRef", attributes: [("external", "true")], text: "PL-9", line: 17,
                              column: 9, parent: links)
        #expect(tree.root == record)
        #expect(tree.xpath(record) == "/fwx:Batch/fwx:Records/fwx:Seizure[2]")
        #expect(tree.xpath(id) == "/fwx:Batch/fwx:Records/fwx:Seizure[2]/fwx:RecordId")
        #expect(tree.xpath(first) == "/fwx:Batch/fwx:Records/fwx:Seizure[2]/fwx:Items/fwx:Item[1]")
        #expect(tree.xpath(category) == "/fwx:Batch/fwx:Records/fwx:Seizure[2]/fwx:Items/fwx:Item[2]/fwx:Category")
        #expect(tree.xpath(ref) == "/fwx:Batch/fwx:Records/fwx:Seizure[2]/fwx:ShipmentLinks/fwx:ShipmentRef")
        #expect(Array(tree.children(items)) == [first, second])
        #expect(tree.children(record, named: "Items") == [items])
        #expect(tree.child(record, "Items") == items)
        #expect(tree.child(record, "Nope") == nil)
        #expect(tree.descendant(record, "Items", "Item") == first)
        #expect(tree.descendant(record, "ShipmentLinks", "ShipmentRef").map { tree.text($0) } == "PL-9")
        #expect(tree.childText(record, "RecordId") == "NL-1")
        #expect(tree.attribute(ref, "external") == "true")
        #expect(tree.attribute(ref, "missing") == nil)
        #expect(tree[category].line == 15 && tree[category].column == 11)
        tree.removeAll(rootPath: "/x")
        #expect(tree.isEmpty)
    }

    @Test("values in messages are quoted, cut at 64 characters and stripped of control characters")
    func quotedValues() {
        #expect("NL-1".quotedForMessage == "'NL-1'")
        #expect("a\u{7}b\nc".quotedForMessage == "'a\\u{7}b\\u{a}c'")
        let long = String(repeating: "x", count: 70)
        #expect(long.quotedForMessage == "'" + String(repeating: "x", count: 64) + "…'")
        #expect(String(repeating: "y", count: 64).quotedForMessage == "'" + String(repeating: "y", count: 64) + "'")
    }

    @Test("BatchXMLWriter.decimal: shortest plain form that reads back to the same number")
    func decimals() {
        let cases: [(Double, String)] = [
            (96, "96"), (96.5, "96.5"), (0.1, "0.1"), (1e-7, "0.0000001"), (2.5e-10, "0.00000000025"),
            (-3.25, "-3.25"), (-0.0, "0"), (123456.789, "123456.789"), (5e18, "5000000000000000000"),
        ]
        for (value, text) in cases {
            #expect(BatchXMLWriter.decimal(value) == text, "\(value)")
        }
        // xs:decimal has no exponent, and the writer promises no trailing ".0".
        for value in [1e15, 4e15, 9.007199254740992e15, 1.5e16, 123456789012.5, 1e-20, 0.3, 1.234e-8, 7.77e-15] {
            let text = BatchXMLWriter.decimal(value)
            #expect(!text.contains("e") && !text.contains("E"), "\(value) -> \(text)")
            #expect(!text.hasSuffix(".0"), "\(value) -> \(text)")
            #expect(Double(text) == value, "\(value) -> \(text)")
        }
    }

    @Test("BatchXMLWriter.decimal does not crash on masses beyond Int64 (xs:decimal has no upper bound)")
    func hugeDecimalsDoNotCrash() async {
        // A batch may carry <GrossMassKg>10000000000000000000</GrossMassKg>; writing it back must not trap.
        await #expect(processExitsWith: .success) {
            let text = BatchXMLWriter.decimal(1e19)
            precondition(Double(text) == 1e19 && !text.contains("e"))
        }
        await #expect(processExitsWith: .success) {
            let text = BatchXMLWriter.decimal(-2.5e300)
            precondition(Double(text) == -2.5e300 && !text.contains("e"))
        }
    }

    @Test("country codes and EU prefixes")
    func countryCodes() {
        #expect(CountryCode.isValid("GR") && !CountryCode.isValid("EL") && !CountryCode.isValid("UK"))
        #expect(CountryCode.normalize(" el ") == "GR")
        #expect(CountryCode.normalize("uk") == "GB")
        #expect(CountryCode.normalize("XX") == nil)
        #expect(CountryCode.fromEUPrefix("EL") == "GR")
        #expect(CountryCode.fromEUPrefix("UK") == "GB")
        #expect(CountryCode.fromEUPrefix("NL") == "NL")
    }
}
