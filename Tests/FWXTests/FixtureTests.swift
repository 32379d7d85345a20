// The committed fixtures and the synthetic generator, through the real libxml2 parser, the bundled XSD and the rules.
import FWXConvert
import FWXModel
import FWXXML
import Foundation
import Testing

@Suite("Fixtures and generated batches")
struct FixtureTests {
    // MARK: Valid fixtures

    @Test("valid fixtures have no findings", arguments: [
        (Paths.sample, 3),
        (Paths.emptyAllPartners, 0),
    ])
    func validFixture(path: String, records: Int) throws {
        let report = try Validation.validate(path: path)
        #expect(report.isValid, "\(Validation.describe(report))")
        #expect(report.errorCount == 0)
        #expect(report.warningCount == 0)
        #expect(report.findings.isEmpty, "\(Validation.describe(report))")
        #expect(report.records == records)
        #expect(report.file == path)
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
        #expect(report.bytes == size)
    }

    @Test("the sample validates the same from memory as from its file")
    func sampleFromMemory() throws {
        let report = try Validation.validate(xml: Sample.text, name: "memory.xml")
        #expect(report.findings.isEmpty, "\(Validation.describe(report))")
        #expect(report.records == 3)
        #expect(report.bytes == Sample.text.utf8.count)
    }

    // MARK: Schema failures

    struct InvalidFixture: Sendable, CustomTestStringConvertible {
        var file: String
        /// Line of the element the schema rejects (as xmllint reports it).
        var line: Int
        /// Text at the start of that element in the file, to find its column.
        var anchor: String
        var xpath: String
        var testDescription: String { file }
    }

    static let seizure1 = "/fwx:Batch/fwx:Records/fwx:Seizure[1]"
    static let shipment1 = "/fwx:Batch/fwx:Records/fwx:Shipment[1]"

    static let invalidFixtures: [InvalidFixture] = [
        InvalidFixture(file: "bad-category.xml", line: 46, anchor: "<Category>F5",
                       xpath: seizure1 + "/fwx:Items/fwx:Item[1]/fwx:Category"),
        InvalidFixture(file: "bad-container.xml", line: 143, anchor: "<Container>CSQX",
                       xpath: shipment1 + "/fwx:Containers/fwx:Container"),
        InvalidFixture(file: "el-country.xml", line: 109, anchor: "<Country>EL",
                       xpath: shipment1 + "/fwx:Transit/fwx:Country"),
        InvalidFixture(file: "missing-recordid.xml", line: 21, anchor: "<Revision>1",
                       xpath: seizure1 + "/fwx:Revision"),
        InvalidFixture(file: "quantity-zero.xml", line: 55, anchor: "<Quantity unit=\"pieces\">0",
                       xpath: seizure1 + "/fwx:Items/fwx:Item[1]/fwx:Quantity"),
        InvalidFixture(file: "timestamp-no-zone.xml", line: 25, anchor: "<SeizureDateTime>",
                       xpath: seizure1 + "/fwx:SeizureDateTime"),
        InvalidFixture(file: "unknown-element.xml", line: 55, anchor: "<Colour>",
                       xpath: seizure1 + "/fwx:Items/fwx:Item[1]/fwx:Colour"),
        InvalidFixture(file: "wrong-order.xml", line: 43, anchor: "<HandlingCode>",
                       xpath: seizure1 + "/fwx:HandlingCode"),
    ]

    @Test("every fixture in invalid-xsd/ has an expected location here")
    func everyInvalidFixtureListed() {
        let onDisk = Paths.files(in: Paths.invalidXSD, withExtension: "xml").map { ($0 as NSString).lastPathComponent }
        #expect(!onDisk.isEmpty)
        #expect(Set(onDisk) == Set(Self.invalidFixtures.map(\.file)))
    }

    @Test("each invalid-xsd fixture fails the schema at the right place", arguments: invalidFixtures)
    func invalidFixture(_ fixture: InvalidFixture) throws {
        let path = Paths.invalidXSD + "/" + fixture.file
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let report = try Validation.validate(path: path)
        #expect(!report.isValid)
        let schemaFindings = report.findings.filter { $0.rule == RuleID.schema }
        try #require(!schemaFindings.isEmpty, "no FWX-S001 for \(fixture.file):\n\(Validation.describe(report))")
        let first = schemaFindings[0]
        #expect(first.severity == .error)
        #expect(first.location.file == path)
        #expect(first.location.line == fixture.line, "\(Validation.describe(report))")
        #expect(text.line(of: fixture.anchor) == fixture.line, "the fixture moved; update the expected line")
        #expect(first.location.column == text.column(of: fixture.anchor))
        #expect(first.xpath.hasPrefix(fixture.xpath.hasPrefix(Self.seizure1) ? Self.seizure1 : Self.shipment1))
        #expect(!first.message.isEmpty)
        // Messages name the namespace by its prefix rather than in Clark notation.
        #expect(!first.message.contains("{urn:fwx:schema:v1}"))
        // A long enumeration (250 country codes) is summarised, not pasted.
        #expect(first.message.count < 400, "\(first.message)")
        // Records that fail the schema are not also run through the business rules.
        let ruleFindings = report.findings.filter { $0.rule.hasPrefix("FWX-R") || $0.rule.hasPrefix("FWX-W") }
        if fixture.file != "missing-recordid.xml" {
            #expect(ruleFindings.isEmpty, "\(Validation.describe(report))")
        }
    }

    @Test("a schema finding's XPath selects exactly the element concerned (positions among later siblings too)",
          arguments: invalidFixtures)
    func invalidFixtureXPath(_ fixture: InvalidFixture) throws {
        // The rules layer writes Item[1] when an Items has two Item children; the schema layer must name the same
        // element the same way, although the second Item has not been read yet when the error is found.
        let report = try Validation.validate(path: Paths.invalidXSD + "/" + fixture.file)
        let first = try #require(report.findings.first { $0.rule == RuleID.schema })
        #expect(first.xpath == fixture.xpath)
    }

    @Test("a record that fails the schema at its end tag is reported there and not run through the rules")
    func schemaErrorAtRecordEnd() throws {
        // The shipment loses RetentionUntil (checked when </Shipment> is read) and gets a wrong container check digit.
        let text = try Sample.edited([
            ("      <RetentionUntil>2031-11-12</RetentionUntil>\n    </Shipment>", "    </Shipment>", nil),
            ("<Container>CSQU3054383</Container>", "<Container>CSQU3054384</Container>", nil),
        ])
        let report = try Validation.validate(xml: text)
        #expect(report.findings.map(\.rule) == [RuleID.schema], "\(Validation.describe(report))")
        #expect(report.findings.first?.location.line == text.line(of: "<Shipment>"))
        #expect(report.findings.first?.xpath == Self.shipment1)
        // Its id still counts: the seizure's link to it does not show up as unresolved.
        #expect(report.records == 3)
    }

    @Test("a schema error in the header points into the header")
    func schemaErrorInHeader() throws {
        let text = try Sample.edited("<SequenceNumber>17</SequenceNumber>", "<SequenceNumber>-17</SequenceNumber>")
        let report = try Validation.validate(xml: text)
        #expect(report.findings.map(\.rule) == [RuleID.schema], "\(Validation.describe(report))")
        #expect(report.findings.first?.location.line == 16)
        #expect(report.findings.first?.xpath == "/fwx:Batch/fwx:Header/fwx:SequenceNumber")
    }

    // MARK: Encodings and lexical forms

    static func sampleBytes(_ transform: (String) -> String, encoding: String.Encoding = .utf8,
                            bom: [UInt8] = []) throws -> [UInt8] {
        let text = transform(Sample.text)
        let data = try #require(text.data(using: encoding))
        return bom + [UInt8](data)
    }

    @Test("the sample in other encodings and lexical forms is still valid, lines unchanged")
    func encodingsAndForms() throws {
        let variants: [(String, [UInt8])] = [
            ("UTF-8 with BOM", try Self.sampleBytes({ $0 }, bom: [0xEF, 0xBB, 0xBF])),
            ("UTF-16 with BOM", try Self.sampleBytes({ $0.replacingOccurrences(of: "encoding=\"UTF-8\"", with: "encoding=\"UTF-16\"") },
                                                     encoding: .utf16)),
            ("ISO-8859-1", try Self.sampleBytes({
                $0.replacingOccurrences(of: "encoding=\"UTF-8\"", with: "encoding=\"ISO-8859-1\"")
                    .replacingOccurrences(of: "Slubice", with: "Slubice (Gmina Slubice, Zachód é ü ß)")
            }, encoding: .isoLatin1)),
            ("CDATA and entities", try Self.sampleBytes({
                $0.replacingOccurrences(of: "<Remarks>Goods declared as toys; found behind a false pallet wall.</Remarks>",
                                        with: "<Remarks><![CDATA[Goods <declared> as toys]]> &amp; &#x41;&#66;</Remarks>")
            })),
            ("white space around ids and attribute values", try Self.sampleBytes({
                $0.replacingOccurrences(of: "<ShipmentRef>NL-SH-2026-000001</ShipmentRef>",
                                        with: "<ShipmentRef>\n   NL-SH-2026-000001  </ShipmentRef>")
                    .replacingOccurrences(of: "<ShipmentRef external=\"true\">", with: "<ShipmentRef external=\" true \">")
            })),
            ("character reference and comment inside an id", try Self.sampleBytes({
                $0.replacingOccurrences(of: "<SeizureRef>NL-SZ-2026-000001</SeizureRef>",
                                        with: "<SeizureRef>NL&#45;SZ-2026-<!-- split -->000001</SeizureRef>")
            })),
            ("CRLF line ends", try Self.sampleBytes({ $0.replacingOccurrences(of: "\n", with: "\r\n") })),
        ]
        for (name, bytes) in variants {
            let report = try Validation.validate(bytes: bytes, name: name)
            #expect(report.findings.isEmpty, "\(name): \(Validation.describe(report))")
            #expect(report.records == 3, "\(name)")
        }
        // A rule finding in a UTF-16 document is still reported at the right line.
        let utf16 = try Self.sampleBytes({
            $0.replacingOccurrences(of: "encoding=\"UTF-8\"", with: "encoding=\"UTF-16\"")
                .replacingOccurrences(of: "CSQU3054383", with: "CSQU3054384")
        }, encoding: .utf16)
        let report = try Validation.validate(bytes: utf16, name: "utf16")
        #expect(report.findings.map(\.rule) == [RuleID.containerCheckDigit], "\(Validation.describe(report))")
        #expect(report.findings.first?.location.line == 143)
    }

    @Test("a large batch (two-thread pipeline): findings at exact lines, from a file and from memory")
    func largeBatchPositions() throws {
        let generated = try Generated.batch(records: 1_500, seed: 99, sender: "DE").xml
        var lines = generated.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // A Longitude removed about 60% into the file: FWX-R014 on the Latitude line above it.
        let longitudeIndex = try #require(lines.indices.first { $0 > lines.count * 6 / 10 && lines[$0].contains("<Longitude>") })
        lines.remove(at: longitudeIndex)
        // The last item quantity set to 0: FWX-S001 there.
        let quantityIndex = try #require(lines.lastIndex { $0.contains("<Quantity unit=") })
        lines[quantityIndex] = lines[quantityIndex].replacingOccurrences(
            of: #">[0-9.]+</Quantity>"#, with: ">0</Quantity>", options: .regularExpression)
        let xml = lines.joined(separator: "\n")
        try #require(xml.utf8.count > 2 << 20, "the batch must be large enough for the pipelined parser")
        try withTemporaryDirectory { folder in
            let path = try writeFile(folder, "large.xml", xml)
            for report in [try Validation.validate(path: path), try Validation.validate(xml: xml, name: path)] {
                #expect(report.records == 1_500)
                #expect(report.findings.map(\.rule) == [RuleID.coordinatesPair, RuleID.schema],
                        "\(Validation.describe(report))")
                #expect(report.findings.first?.location.line == longitudeIndex, "the Latitude line (1-based)")
                #expect(report.findings.last?.location.line == quantityIndex + 1)
            }
        }
    }

    // MARK: Generated batches

    static let generatorConfigurations: [(seed: UInt64, sender: String)] = [
        (1, "NL"), (2, "DE"), (3, "BE"), (42, "NL"), (2026, "DE"), (77, "BE"),
    ]

    @Test("generated batches of 200 records are valid", arguments: generatorConfigurations)
    func generatedIsValid(seed: UInt64, sender: String) throws {
        let (xml, planted) = try Generated.batch(records: 200, seed: seed, sender: sender)
        #expect(planted.isEmpty)
        let report = try Validation.validate(xml: xml, name: "generated-\(sender)-\(seed).xml")
        #expect(report.records == 200)
        #expect(report.errorCount == 0, "\(Validation.describe(report))")
        #expect(report.warningCount == 0, "\(Validation.describe(report))")
        #expect(xml.contains("<Country>\(sender)</Country>"))
        #expect(xml.contains("<RecordId>\(sender)-SZ-"))
    }

    @Test("the generator is deterministic in-process: same configuration, same bytes")
    func generatorDeterministicInProcess() throws {
        for sender in ["NL", "DE", "BE"] {
            let first = try Generated.batch(records: 120, seed: 9, sender: sender).xml
            let second = try Generated.batch(records: 120, seed: 9, sender: sender).xml
            #expect(first == second)
            let other = try Generated.batch(records: 120, seed: 10, sender: sender).xml
            #expect(first != other)
        }
    }

    @Test("fwx generate: the same seed gives byte-identical output, another seed differs")
    func generateCommandDeterministic() throws {
        let a = try runFWX(["generate", "--records", "200", "--seed", "31"])
        let b = try runFWX(["generate", "--records", "200", "--seed", "31"])
        let c = try runFWX(["generate", "--records", "200", "--seed", "32"])
        for result in [a, b, c] {
            #expect(result.status == 0, "\(result)")
            #expect(!result.timedOut)
        }
        #expect(!a.stdoutData.isEmpty)
        #expect(a.stdoutData == b.stdoutData)
        #expect(a.stdoutData != c.stdoutData)
        // The command and the library write the same bytes for the same configuration.
        let library = try Generated.batch(records: 200, seed: 31).xml
        #expect(a.stdoutData == Data(library.utf8))
    }

    @Test("fwx generate -o writes the same bytes as standard output, per sender")
    func generateToFile() throws {
        try withTemporaryDirectory { folder in
            for sender in ["NL", "DE", "BE"] {
                let path = folder.appendingPathComponent("gen-\(sender).xml").path
                let toFile = try runFWX(["generate", "--records", "200", "--seed", "5", "--sender", sender, "-o", path])
                #expect(toFile.status == 0, "\(toFile)")
                #expect(toFile.stdout.isEmpty)
                let toStdout = try runFWX(["generate", "--records", "200", "--seed", "5", "--sender", sender])
                let written = try Data(contentsOf: URL(fileURLWithPath: path))
                #expect(written == toStdout.stdoutData)
                let report = try Validation.validate(path: path)
                #expect(report.isValid, "\(Validation.describe(report))")
                #expect(report.records == 200)
                // No temporary file is left behind next to the output.
                let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.path)
                    .filter { $0.contains(".partial-") }
                #expect(leftovers.isEmpty)
            }
        }
    }
}
