// An independent check of what FWX writes and accepts: xmllint (libxml2-utils) against the same XSD.
import FWXModel
import FWXXML
import Foundation
import Testing

@Suite("xmllint cross-check")
struct XmllintCrossCheckTests {
    static let xmllint = "/usr/bin/xmllint"

    /// Fails the test (never skips it) when xmllint is not installed.
    static func requireXmllint() throws -> String {
        try #require(FileManager.default.isExecutableFile(atPath: xmllint),
                     "\(xmllint) is missing: run scripts/setup (it installs libxml2-utils), then run the tests again")
        return xmllint
    }

    static func xmllintValidate(_ path: String) throws -> ProcessResult {
        try runProcess(try requireXmllint(), ["--noout", "--nonet", "--schema", Paths.batchSchema, path])
    }

    @Test("xmllint accepts the sample batch")
    func sample() throws {
        let result = try Self.xmllintValidate(Paths.sample)
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.contains("validates"))
    }

    @Test("xmllint accepts generated batches of 300 records", arguments: [nil, "DE"] as [String?])
    func generated(sender: String?) throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("generated-\(sender ?? "default").xml").path
            var arguments = ["generate", "--records", "300", "--seed", "17", "-o", path]
            if let sender { arguments += ["--sender", sender] }
            let generated = try runFWX(arguments)
            try #require(generated.status == 0, "\(generated)")
            let result = try Self.xmllintValidate(path)
            #expect(result.status == 0, "\(result)")
            // And FWX agrees.
            let report = try Validation.validate(path: path)
            #expect(report.isValid, "\(Validation.describe(report))")
            #expect(report.records == 300)
        }
    }

    @Test("xmllint and FWX agree on which invalid-xsd fixtures fail and where")
    func invalidFixturesAgree() throws {
        let xmllint = try Self.requireXmllint()
        for path in Paths.files(in: Paths.invalidXSD, withExtension: "xml") {
            let result = try runProcess(xmllint, ["--noout", "--nonet", "--schema", Paths.batchSchema, path])
            #expect(result.status != 0, "xmllint accepted \(path)")
            // xmllint: "FILE:LINE: element NAME: Schemas validity error : ..."
            let xmllintLines = Set(result.stderr.split(separator: "\n").compactMap { line -> Int? in
                guard line.hasPrefix(path + ":") else { return nil }
                return Int(line.dropFirst(path.count + 1).prefix { $0.isNumber })
            })
            let report = try Validation.validate(path: path)
            let fwxLines = Set(report.findings.filter { $0.rule == RuleID.schema }.map(\.location.line))
            #expect(!fwxLines.isEmpty)
            #expect(fwxLines == xmllintLines, "\(path): FWX \(fwxLines.sorted()) vs xmllint \(xmllintLines.sorted())")
        }
    }

    @Test("batches written from model values by BatchXMLWriter pass xmllint")
    func writerOutput() throws {
        let batch = Batch(header: RuleTests.header(), records: [
            .seizure(RuleTests.seizure("NL-SZ-1", links: [RecordLink("NL-SH-1")])),
            .shipment(RuleTests.shipment("NL-SH-1", links: [RecordLink("NL-SZ-1")])),
        ])
        try withTemporaryDirectory { folder in
            let path = try writeFile(folder, "model.xml", BatchXMLWriter.string(for: batch))
            let result = try Self.xmllintValidate(path)
            #expect(result.status == 0, "\(result)")
        }
    }
}
