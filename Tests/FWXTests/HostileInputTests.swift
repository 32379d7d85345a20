// Hostile documents (fixtures/hostile/ and generated ones): each must end within seconds, be reported invalid with an
// error finding of the right layer at a file:line location, and never leak what it tried to reach.
import FWXConvert
import FWXModel
import FWXXML
import Foundation
import Testing

/// Text that would show that /etc/passwd (or another local file) was read and quoted.
private let leakMarkers = ["root:", "daemon:", "nologin", "/bin/bash", "/bin/sh"]

private let seconds10: Duration = .seconds(10)

/// Validates `source` and checks the hostile-input contract; returns the report for further checks.
@discardableResult
private func expectRefused(_ makeSource: () throws -> ByteSource, name: String, rule: String, line: Int? = nil,
                           sourceLocation: Testing.SourceLocation = #_sourceLocation) throws -> ValidationReport {
    let clock = ContinuousClock()
    let start = clock.now
    let report = try Validation.validator.validate(try makeSource())
    let elapsed = clock.now - start
    #expect(elapsed < seconds10, "took \(elapsed)", sourceLocation: sourceLocation)
    #expect(!report.isValid, "a hostile document was accepted: \(Validation.describe(report))",
            sourceLocation: sourceLocation)
    let matching = report.findings.filter { $0.rule == rule && $0.severity == .error }
    #expect(!matching.isEmpty, "expected \(rule), got:\n\(Validation.describe(report))", sourceLocation: sourceLocation)
    for finding in report.findings {
        #expect(finding.location.file == name, sourceLocation: sourceLocation)
        #expect(finding.location.line >= 1, "no line: \(finding.humanDescription)", sourceLocation: sourceLocation)
        for marker in leakMarkers {
            #expect(!finding.message.contains(marker), "leak: \(finding.message)", sourceLocation: sourceLocation)
            #expect(!finding.xpath.contains(marker), sourceLocation: sourceLocation)
        }
    }
    if let line, let first = matching.first {
        #expect(first.location.line == line, "\(Validation.describe(report))", sourceLocation: sourceLocation)
    }
    // Nothing from a hostile document reaches the business rules.
    #expect(report.records == 0 || rule == RuleID.notWellFormed || rule == RuleID.schema,
            sourceLocation: sourceLocation)
    return report
}

@Suite("Hostile input")
struct HostileInputTests {
    struct HostileFixture: Sendable, CustomTestStringConvertible {
        var file: String
        var rule: String
        /// Line the finding must point at (nil: any line from 1).
        var line: Int?
        var testDescription: String { file }
    }

    static let fixtures: [HostileFixture] = [
        HostileFixture(file: "xxe-local-file.xml", rule: RuleID.doctypeRefused, line: 3),
        HostileFixture(file: "xxe-url.xml", rule: RuleID.doctypeRefused, line: 3),
        HostileFixture(file: "parameter-entity.xml", rule: RuleID.doctypeRefused, line: 3),
        HostileFixture(file: "external-dtd.xml", rule: RuleID.doctypeRefused, line: 3),
        HostileFixture(file: "billion-laughs.xml", rule: RuleID.doctypeRefused, line: 3),
        HostileFixture(file: "invalid-utf8.xml", rule: RuleID.notWellFormed, line: 8),
        HostileFixture(file: "truncated.xml", rule: RuleID.notWellFormed, line: nil),
        HostileFixture(file: "empty.xml", rule: RuleID.notWellFormed, line: 1),
        HostileFixture(file: "schemalocation-permissive.xml", rule: RuleID.schema, line: 6),
        HostileFixture(file: "unknown-namespace.xml", rule: RuleID.unknownDocument, line: 3),
        HostileFixture(file: "xinclude.xml", rule: RuleID.schema, line: 4),
    ]

    @Test("every hostile fixture on disk has an expectation here")
    func everyFixtureListed() {
        let onDisk = Paths.files(in: Paths.hostile, withExtension: "xml").map { ($0 as NSString).lastPathComponent }
        #expect(Set(onDisk) == Set(Self.fixtures.map(\.file)))
    }

    @Test("hostile fixture is refused fast, at a location, without leaking", arguments: fixtures)
    func hostileFixture(_ fixture: HostileFixture) throws {
        let path = Paths.hostile + "/" + fixture.file
        try expectRefused({ try ByteSource(path: path) }, name: path, rule: fixture.rule, line: fixture.line)
        // The same bytes from memory (the HTTP body path) behave the same.
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        try expectRefused({ ByteSource(bytes: bytes, name: "body") }, name: "body", rule: fixture.rule,
                          line: fixture.line)
    }

    @Test("the truncated batch is reported at its last line")
    func truncatedLine() throws {
        let path = Paths.hostile + "/truncated.xml"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lastLine = text.split(separator: "\n", omittingEmptySubsequences: false).count
        let report = try expectRefused({ try ByteSource(path: path) }, name: path, rule: RuleID.notWellFormed)
        #expect(report.findings.first { $0.rule == RuleID.notWellFormed }?.location.line == lastLine)
    }

    @Test("the permissive schema really accepts the document (so honouring schemaLocation would be a hole)")
    func permissiveSchemaIsPermissive() throws {
        let xmllint = "/usr/bin/xmllint"
        try #require(FileManager.default.isExecutableFile(atPath: xmllint),
                     "xmllint is missing: run scripts/setup (it installs libxml2-utils)")
        let result = try runProcess(xmllint, ["--noout", "--nonet", "--schema", Paths.hostile + "/permissive.xsd",
                                              Paths.hostile + "/schemalocation-permissive.xml"])
        #expect(result.status == 0, "\(result)")
        let strict = try runProcess(xmllint, ["--noout", "--nonet", "--schema", Paths.batchSchema,
                                              Paths.hostile + "/schemalocation-permissive.xml"])
        #expect(strict.status != 0)
    }

    // MARK: Generated hostile documents

    @Test("quadratic blowup: one 100 KB entity referenced 10,000 times")
    func quadraticBlowup() throws {
        let entity = String(repeating: "x", count: 100_000)
        let references = String(repeating: "&a;", count: 10_000)
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <!DOCTYPE Batch [<!ENTITY a "\(entity)">]>
            <Batch xmlns="urn:fwx:schema:v1" schemaVersion="1.0"><Header><BatchId>\(references)</BatchId></Header><Records/></Batch>

            """
        try withTemporaryDirectory { folder in
            let path = try writeFile(folder, "quadratic.xml", xml)
            try expectRefused({ try ByteSource(path: path) }, name: path, rule: RuleID.doctypeRefused, line: 2)
        }
        try expectRefused({ ByteSource(bytes: Array(xml.utf8), name: "quadratic") }, name: "quadratic",
                          rule: RuleID.doctypeRefused, line: 2)
    }

    @Test("100,000-deep nesting stops at the depth limit")
    func deepNesting() throws {
        let depth = 100_000
        var xml = "<Batch xmlns=\"urn:fwx:schema:v1\" schemaVersion=\"1.0\">\n"
        xml.reserveCapacity(depth * 8)
        for _ in 1..<depth { xml += "<a>\n" }
        for _ in 1..<depth { xml += "</a>" }
        xml += "</Batch>\n"
        try withTemporaryDirectory { folder in
            let path = try writeFile(folder, "deep.xml", xml)
            // Line k holds the element at depth k; depth 33 is the first beyond the default limit of 32.
            let report = try expectRefused({ try ByteSource(path: path) }, name: path, rule: RuleID.limitExceeded,
                                           line: ParserLimits().maxDepth + 1)
            #expect(report.findings.count <= 3, "\(Validation.describe(report))")
        }
    }

    @Test("deep nesting inside a record of a real batch is also stopped")
    func deepNestingInRecord() throws {
        let nested = String(repeating: "<Remarks>", count: 2_000) + String(repeating: "</Remarks>", count: 2_000)
        let xml = try Sample.edited("<Remarks>Goods declared", nested + "<Remarks>Goods declared")
        try expectRefused({ ByteSource(bytes: Array(xml.utf8), name: "deep-record") }, name: "deep-record",
                          rule: RuleID.limitExceeded, line: xml.line(of: nested))
    }

    @Test("binary garbage is not well-formed", arguments: [UInt64(1), 2, 3, 4])
    func binaryGarbage(seed: UInt64) throws {
        var random = SeededRandom(seed: seed)
        var bytes = (0..<65_536).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        if seed == 4 { bytes[0] = UInt8(ascii: "<") }  // starts like markup
        try withTemporaryDirectory { folder in
            let path = try writeFile(folder, "garbage-\(seed).bin", bytes)
            try expectRefused({ try ByteSource(path: path) }, name: path, rule: RuleID.notWellFormed)
        }
    }

    @Test("a text node above the size limit stops the parse")
    func hugeText() throws {
        let big = String(repeating: "A", count: 2 << 20)
        let xml = try Sample.edited("<Remarks>Goods declared as toys; found behind a false pallet wall.</Remarks>",
                                    "<Remarks>\(big)</Remarks>")
        try expectRefused({ ByteSource(bytes: Array(xml.utf8), name: "huge-text") }, name: "huge-text",
                          rule: RuleID.limitExceeded)
    }

    @Test("too many elements in one record stops the parse")
    func manyElements() throws {
        let items = String(repeating: "<Item><Category>F2</Category><Quantity unit=\"pieces\">1</Quantity></Item>\n",
                           count: 4_000)
        let xml = try Sample.edited("<Items>\n        <Item>\n          <Category>F4</Category>",
                                    "<Items>\n" + items + "        <Item>\n          <Category>F4</Category>")
        try expectRefused({ ByteSource(bytes: Array(xml.utf8), name: "many") }, name: "many",
                          rule: RuleID.limitExceeded)
    }

    @Test("root without namespace, and an unknown root in the FWX namespace, are unknown documents")
    func unknownRoots() throws {
        let noNamespace = "<?xml version=\"1.0\"?>\n<Batch schemaVersion=\"1.0\"><Header/><Records/></Batch>\n"
        try expectRefused({ ByteSource(bytes: Array(noNamespace.utf8), name: "no-ns") }, name: "no-ns",
                          rule: RuleID.unknownDocument, line: 2)
        let otherRoot = "<?xml version=\"1.0\"?>\n\n<Envelope xmlns=\"urn:fwx:schema:v1\"><Batch/></Envelope>\n"
        try expectRefused({ ByteSource(bytes: Array(otherRoot.utf8), name: "other-root") }, name: "other-root",
                          rule: RuleID.unknownDocument, line: 3)
    }

    @Test("an undeclared entity reference without a DOCTYPE is not well-formed")
    func undeclaredEntity() throws {
        let xml = try Sample.edited("<BatchId>6f1c2b9e-4a7d-4c1e-9b7a-2d5e8f0a1c3b</BatchId>", "<BatchId>&passwd;</BatchId>")
        try expectRefused({ ByteSource(bytes: Array(xml.utf8), name: "entity") }, name: "entity",
                          rule: RuleID.notWellFormed, line: 6)
    }

    @Test("a mismatched end tag in an otherwise valid batch is not well-formed")
    func mismatchedTag() throws {
        let xml = try Sample.edited("<Brand>Cobra</Brand>", "<Brand>Cobra</Brnad>")
        try expectRefused({ ByteSource(bytes: Array(xml.utf8), name: "mismatch") }, name: "mismatch",
                          rule: RuleID.notWellFormed, line: 48)
    }

    @Test("without the schema plugged in, the parser does report FWX-P001 for a mismatched tag")
    func parserWithoutSchema() throws {
        // Isolates the layers: libxml2's well-formedness errors reach FWX when no XSD validator is plugged in.
        final class Collected { var findings: [Finding] = [] }
        let collected = Collected()
        var events = BatchEvents()
        events.finding = { collected.findings.append($0) }
        let xml = try Sample.edited("<Brand>Cobra</Brand>", "<Brand>Cobra</Brnad>")
        try BatchStreamParser(validateSchema: false).parse(ByteSource(bytes: Array(xml.utf8), name: "no-schema"),
                                                           events: events)
        #expect(collected.findings.contains { $0.rule == RuleID.notWellFormed && $0.location.line == 48 },
                "\(collected.findings.map(\.humanDescription))")
    }

    @Test("a large truncated batch (pipelined parse) is not well-formed")
    func largeTruncated() throws {
        let xml = try Generated.batch(records: 1_500, seed: 8).xml
        let bytes = Array(xml.utf8)
        try #require(bytes.count > 2 << 20, "big enough for the two-thread pipeline")
        let cut = Array(bytes[0..<(bytes.count * 2 / 3)])
        try withTemporaryDirectory { folder in
            let path = try writeFile(folder, "cut.xml", cut)
            try expectRefused({ try ByteSource(path: path) }, name: path, rule: RuleID.notWellFormed)
        }
    }

    @Test("hostile fixtures through the CLI: exit 1, fast, nothing leaked on stdout or stderr")
    func hostileThroughCLI() throws {
        let files = Self.fixtures.map { Paths.hostile + "/" + $0.file }
        let clock = ContinuousClock()
        let start = clock.now
        let result = try runFWX(["validate"] + files, timeout: 30)
        #expect(clock.now - start < seconds10)
        #expect(!result.timedOut)
        #expect(result.status == 1, "\(result)")
        for marker in leakMarkers {
            #expect(!result.stdout.contains(marker) && !result.stderr.contains(marker), "leak of \(marker)")
        }
        for file in files {
            #expect(result.stderr.contains("\(file): INVALID"), "\(file) not reported invalid:\n\(result)")
        }
    }
}
