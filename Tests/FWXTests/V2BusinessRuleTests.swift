// Issue 16: the business rules of schema v2 (FWX-R016..R020, FWX-W105..W110) and the v1 rules in v2's new places,
// through the real parser, schema and rules: for each, an edit of fixtures/batches/v2/be-seizures.xml that gives
// exactly that rule on the expected element, and a close variant with no finding at all. Every edited document is
// schema-valid (the only findings allowed are the business rule's).
import FWXModel
import FWXXML
import Foundation
import Testing

private let S1 = "/fwx:Batch/fwx:Records/fwx:Seizure[1]"
private let S2 = "/fwx:Batch/fwx:Records/fwx:Seizure[2]"
private let S3 = "/fwx:Batch/fwx:Records/fwx:Seizure[3]"

/// A shipment for the Belgian batch, added after its last seizure; `origin` is the Origin element's content.
private func shipment(origin: String = "<Country>CN</Country>") -> String {
    """
        <Shipment>
          <RecordId>BE-SH-2026-000900</RecordId>
          <Revision>1</Revision>
          <Status>active</Status>
          <TransportMode>sea</TransportMode>
          <Origin>\(origin)</Origin>
          <Destination><Country>BE</Country></Destination>
          <Evaluation><Source>B</Source><Information>2</Information></Evaluation>
          <RetentionUntil>2031-11-05</RetentionUntil>
        </Shipment>
      </Records>
    """
}

/// A link from the first seizure to that shipment.
private let linkFromFirstSeizure = Edit("      </Items>\n      <TransportMode>sea</TransportMode>",
                                        "      </Items>\n      <ShipmentLinks><ShipmentRef>BE-SH-2026-000900</ShipmentRef></ShipmentLinks>\n      <TransportMode>sea</TransportMode>")

struct V2Case: Sendable, CustomTestStringConvertible {
    var rule: String
    var name: String
    var edits: [Edit]
    /// The element of the finding; nil for a passing case.
    var xpath: String?
    var testDescription: String { "\(rule) \(name)\(xpath == nil ? " (passes)" : "")" }

    static let sample: String = (try? String(contentsOfFile: Paths.repo("fixtures/batches/v2/be-seizures.xml"),
                                             encoding: .utf8)) ?? ""

    func text() throws -> String {
        var text = Self.sample
        for edit in edits {
            let ranges = text.occurrenceRanges(of: edit.old)
            let index = (edit.occurrence ?? 1) - 1
            guard edit.occurrence != nil ? ranges.count > index : ranges.count == 1 else {
                throw TestSupportError("\(edit.old.debugDescription) occurs \(ranges.count) times in be-seizures.xml")
            }
            text.replaceSubrange(ranges[index], with: edit.new)
        }
        return text
    }
}

@Suite("Business rules of schema v2")
struct V2BusinessRuleTests {
    static let cases: [V2Case] = [
        // R016: nil and its reason
        V2Case(rule: RuleID.nilUnknown, name: "nil without a reason",
               edits: [Edit("<Source source=\"default\">B</Source>", "<Source xsi:nil=\"true\"/>", occurrence: 1)],
               xpath: S1 + "/fwx:Evaluation/fwx:Source"),
        V2Case(rule: RuleID.nilUnknown, name: "a value with a reason for not having one",
               edits: [Edit("<Source source=\"default\">B</Source>", "<Source unknown=\"not-recorded\">B</Source>", occurrence: 1)],
               xpath: S1 + "/fwx:Evaluation/fwx:Source"),
        V2Case(rule: RuleID.nilUnknown, name: "nil with its reason",
               edits: [Edit("<Source source=\"default\">B</Source>", "<Source xsi:nil=\"true\" unknown=\"not-recorded\"/>", occurrence: 1)]),
        // R017: a quantity's unit
        V2Case(rule: RuleID.quantityUnit, name: "quantity without a unit",
               edits: [Edit("<Quantity unit=\"pieces\">2400</Quantity>", "<Quantity>2400</Quantity>")],
               xpath: S1 + "/fwx:Items/fwx:Item[1]/fwx:Quantity"),
        V2Case(rule: RuleID.quantityUnit, name: "nil quantity without a unit",
               edits: [Edit("<Quantity unit=\"pieces\">2400</Quantity>", "<Quantity xsi:nil=\"true\" unknown=\"not-recorded\"/>")]),
        // R018: defaults where a value must be established
        V2Case(rule: RuleID.defaultNotAllowed, name: "case reference as a profile default",
               edits: [Edit("<CaseReference>ANR-2026-CC-0915</CaseReference>", "<CaseReference source=\"default\">ANR-2026-CC-0915</CaseReference>")],
               xpath: S1 + "/fwx:CaseReference"),
        V2Case(rule: RuleID.defaultNotAllowed, name: "case reference as reported",
               edits: [Edit("<CaseReference>ANR-2026-CC-0915</CaseReference>", "<CaseReference source=\"reported\">ANR-2026-CC-0915</CaseReference>")]),
        // R019: an incident before the seizure it is tied to
        V2Case(rule: RuleID.incidentAfterSeizure, name: "incident the day after the seizure",
               edits: [Edit("<Date>2026-11-03</Date>", "<Date>2026-11-15</Date>")],
               xpath: S3 + "/fwx:IncidentLinks/fwx:IncidentRef[1]/fwx:Date"),
        V2Case(rule: RuleID.incidentAfterSeizure, name: "incident on the day of the seizure",
               edits: [Edit("<Date>2026-11-03</Date>", "<Date>2026-11-14</Date>")]),
        // R020: a time that is not known
        V2Case(rule: RuleID.timeUnknownForm, name: "timeUnknown with a time of day",
               edits: [Edit("2026-11-07T00:00:00+01:00", "2026-11-07T10:00:00+01:00")],
               xpath: S2 + "/fwx:SeizureDateTime"),
        V2Case(rule: RuleID.timeUnknownForm, name: "timeUnknown not-applicable",
               edits: [Edit("timeUnknown=\"not-recorded\"", "timeUnknown=\"not-applicable\"")],
               xpath: S2 + "/fwx:SeizureDateTime"),
        V2Case(rule: RuleID.timeUnknownForm, name: "timeUnknown not-disclosed at midnight with zero fractions",
               edits: [Edit("timeUnknown=\"not-recorded\">2026-11-07T00:00:00+01:00",
                            "timeUnknown=\"not-disclosed\">2026-11-07T00:00:00.000+01:00")]),
        // W105 / W106: article kinds
        V2Case(rule: RuleID.articleKindCategory, name: "flash banger with category F2",
               edits: [Edit("<ArticleKind>firecracker</ArticleKind>\n          <ProductName>Knallerketting 500",
                            "<ArticleKind>flash-banger</ArticleKind>\n          <ProductName>Knallerketting 500")],
               xpath: S2 + "/fwx:Items/fwx:Item[2]/fwx:ArticleKind"),
        V2Case(rule: RuleID.articleKindCategory, name: "cake with category F2",
               edits: [Edit("<ArticleKind>firecracker</ArticleKind>\n          <ProductName>Knallerketting 500",
                            "<ArticleKind>cake-or-battery</ArticleKind>\n          <ProductName>Knallerketting 500")]),
        V2Case(rule: RuleID.articleKindUNNumber, name: "bulk composition with UN 0333",
               edits: [Edit("<ArticleKind>flash-banger</ArticleKind>\n          <ProductName>Cobra 8",
                            "<ArticleKind>bulk-composition</ArticleKind>\n          <ProductName>Cobra 8")],
               xpath: S1 + "/fwx:Items/fwx:Item[1]/fwx:ArticleKind"),
        V2Case(rule: RuleID.articleKindUNNumber, name: "improvised device (UN not checked)",
               edits: [Edit("<ArticleKind>flash-banger</ArticleKind>\n          <ProductName>Cobra 8",
                            "<ArticleKind>improvised-explosive-device</ArticleKind>\n          <ProductName>Cobra 8")]),
        // W107: postal codes
        V2Case(rule: RuleID.postalCodeFormat, name: "five digits in Belgium",
               edits: [Edit("<PostalCode>2030</PostalCode>", "<PostalCode>20300</PostalCode>")],
               xpath: S1 + "/fwx:Location/fwx:PostalCode"),
        V2Case(rule: RuleID.postalCodeFormat, name: "four digits in Belgium",
               edits: [Edit("<PostalCode>2030</PostalCode>", "<PostalCode>2060</PostalCode>")]),
        // W108: a seizure repeating its shipment's route
        V2Case(rule: RuleID.seizureRepeatsShipment, name: "route on a seizure linked to a shipment later in the batch",
               edits: [linkFromFirstSeizure, Edit("  </Records>", shipment())],
               xpath: S1 + "/fwx:TransportMode"),
        V2Case(rule: RuleID.seizureRepeatsShipment, name: "the same link marked external",
               edits: [Edit("      </Items>\n      <TransportMode>sea</TransportMode>",
                            "      </Items>\n      <ShipmentLinks><ShipmentRef external=\"true\">BE-SH-2026-000900</ShipmentRef></ShipmentLinks>\n      <TransportMode>sea</TransportMode>"),
                       Edit("  </Records>", shipment())]),
        // W109: pseudonyms that are not
        V2Case(rule: RuleID.pseudonymLooksClear, name: "an e-mail address as a person's pseudonym",
               edits: [Edit("p1:5be07d19c3a28f64", "jan.kowalski@example.pl")],
               xpath: S2 + "/fwx:Parties/fwx:Party[1]/fwx:Person/fwx:Pseudonym"),
        V2Case(rule: RuleID.pseudonymLooksClear, name: "a phone number as a seller account",
               edits: [Edit("p1:3f9a0c5e7b21d846", "+32 470 12 34 56")],
               xpath: S3 + "/fwx:OnlineSales/fwx:OnlineSale/fwx:SellerAccount"),
        V2Case(rule: RuleID.pseudonymLooksClear, name: "another keyed pseudonym",
               edits: [Edit("p1:5be07d19c3a28f64", "hk1-5be07d19c3a28f64aa")]),
        // W110: a nil country that a code gives
        V2Case(rule: RuleID.countryFromCode, name: "nil origin country with a UN/LOCODE",
               edits: [Edit("  </Records>", shipment(origin: "<Country xsi:nil=\"true\" unknown=\"not-recorded\"/><UNLocode>CNNGB</UNLocode>"))],
               xpath: "/fwx:Batch/fwx:Records/fwx:Shipment[1]/fwx:Origin/fwx:Country"),
        V2Case(rule: RuleID.countryFromCode, name: "nil origin country with only a municipality",
               edits: [Edit("  </Records>", shipment(origin: "<Country xsi:nil=\"true\" unknown=\"not-recorded\"/><Municipality>Ningbo</Municipality>"))]),
        // v1 rules in v2's new places
        V2Case(rule: RuleID.containerCheckDigit, name: "a seizure's own container",
               edits: [Edit("<Container>FSCU7369155</Container>", "<Container>FSCU7369156</Container>")],
               xpath: S1 + "/fwx:Containers/fwx:Container"),
        V2Case(rule: RuleID.futureDate, name: "an online offer in the future",
               edits: [Edit("<OfferDate>2026-10-20</OfferDate>", "<OfferDate>2026-12-31</OfferDate>")],
               xpath: S3 + "/fwx:OnlineSales/fwx:OnlineSale/fwx:OfferDate"),
        V2Case(rule: RuleID.locationCodes, name: "a seizure's reported origin with another country's UN/LOCODE",
               edits: [Edit("<UNLocode source=\"reported\">CNNGB</UNLocode>", "<UNLocode source=\"reported\">DEHAM</UNLocode>")],
               xpath: S1 + "/fwx:Origin/fwx:UNLocode"),
        V2Case(rule: RuleID.netShareImplausible, name: "bulk composition is mostly explosive (no W101)",
               edits: [Edit("<ArticleKind>flash-banger</ArticleKind>\n          <ProductName>Cobra 8",
                            "<ArticleKind>bulk-composition</ArticleKind>\n          <ProductName>Cobra 8"),
                       Edit("<UNNumber>0333</UNNumber>\n          <HazardDivision>1.1G</HazardDivision>\n          <Quantity unit=\"pieces\">2400",
                            "<UNNumber>0094</UNNumber>\n          <HazardDivision>1.1G</HazardDivision>\n          <Quantity unit=\"pieces\">2400"),
                       Edit("<NetExplosiveQuantity basis=\"estimated\">96.0</NetExplosiveQuantity>",
                            "<NetExplosiveQuantity basis=\"estimated\">280.0</NetExplosiveQuantity>")]),
    ]

    @Test("the Belgian v2 batch and the upgraded v1 sample have no findings")
    func fixturesClean() throws {
        let belgian = try Validation.validate(path: Paths.repo("fixtures/batches/v2/be-seizures.xml"))
        #expect(belgian.findings.isEmpty, "\(Validation.describe(belgian))")
        #expect(belgian.records == 5)
        let upgraded = try Validation.validate(path: Paths.repo("fixtures/batches/v2/nl-sample.xml"))
        #expect(upgraded.findings.isEmpty, "\(Validation.describe(upgraded))")
    }

    @Test("each case gives exactly its rule on its element, or (a passing variant) no finding", arguments: cases)
    func ruleCase(_ testCase: V2Case) throws {
        let report = try Validation.validate(xml: try testCase.text(), name: "case.xml")
        let description = Validation.describe(report)
        guard let xpath = testCase.xpath else {
            #expect(report.findings.isEmpty, "\(description)")
            return
        }
        try #require(report.findings.count == 1, "expected exactly one \(testCase.rule):\n\(description)")
        #expect(report.findings[0].rule == testCase.rule, "\(description)")
        #expect(report.findings[0].xpath == xpath, "\(description)")
        #expect(report.findings[0].severity == (testCase.rule.hasPrefix("FWX-W") ? .warning : .error))
    }

    @Test("every v2 rule has a failing and a passing case, and the catalogue lists them with their severities")
    func everyRuleCovered() {
        let v2 = RuleTests.v2RuleIDs
        #expect(Set(Self.cases.filter { $0.xpath != nil }.map(\.rule)).isSuperset(of: v2))
        #expect(Set(Self.cases.filter { $0.xpath == nil }.map(\.rule)).isSuperset(of: v2))
        for entry in RuleID.catalogue where v2.contains(entry.id) {
            #expect(entry.severity == (entry.id.hasPrefix("FWX-W") ? .warning : .error))
            #expect(entry.summary.hasPrefix("v2: "))
        }
    }

    @Test("W109 quotes no value, and a v1 batch keeps its findings: the same pseudonym there gives none")
    func pseudonymRuleIsV2Only() throws {
        let v2Case = try #require(Self.cases.first { $0.rule == RuleID.pseudonymLooksClear && $0.xpath != nil })
        let report = try Validation.validate(xml: try v2Case.text(), name: "case.xml")
        #expect(report.findings.count == 1)
        #expect(!(report.findings.first?.message.contains("kowalski") ?? true))
        let v1 = try Sample.edited("<Pseudonym>", "<Pseudonym>jan.kowalski@example.pl", occurrence: 1)
        let v1Report = try Validation.validate(xml: v1)
        #expect(!v1Report.findings.contains { $0.rule == RuleID.pseudonymLooksClear }, "\(Validation.describe(v1Report))")
    }
}
