// Issue 16, item 1: schema v2 (schemas/v2, namespace urn:fwx:schema:v2) checked by two independent validators,
// xmllint (libxml2, tree and streaming) and Python's xmlschema: the v2 fixtures pass, each invalid one fails, and
// every valid v1 batch becomes a valid v2 batch by changing only its namespace and schemaVersion (the lossless
// upgrade docs/schema-v2.md describes). fwx validate, sign and verify read v2; readers that decode records refuse it.
import Foundation
import Testing

@Suite("Schema v2 (xmllint and xmlschema)")
struct SchemaV2Tests {
    static let schema = Paths.repo("schemas/v2/batch.xsd")
    static let fixtures = Paths.repo("fixtures/batches/v2")
    static let python = "/usr/bin/python3"

    static func xml(in folder: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".xml") }.sorted()
            .map { "\(folder)/\($0)" }
    }

    /// xmllint's verdict on each file, tree and streaming: `true` when it validates.
    static func xmllint(_ files: [String], stream: Bool) throws -> [String: Bool] {
        let xmllint = try XmllintCrossCheckTests.requireXmllint()
        var verdicts: [String: Bool] = [:]
        for file in files {
            let result = try runProcess(xmllint, ["--noout", "--nonet"] + (stream ? ["--stream"] : [])
                                            + ["--schema", schema, file])
            #expect(result.status == 0 || result.status == 3, "xmllint failed to run on \(file): \(result)")
            verdicts[file] = result.status == 0 && result.stderr.contains("validates")
        }
        return verdicts
    }

    /// Python's xmlschema (Debian's python3-xmlschema), XSD 1.0: `true` when the file is valid.
    static func xmlschema(_ files: [String]) throws -> [String: Bool] {
        try #require(FileManager.default.isExecutableFile(atPath: python), "\(python) is missing: run scripts/setup")
        let script = """
            import sys, xmlschema
            schema = xmlschema.XMLSchema10(sys.argv[1])
            for path in sys.argv[2:]:
                print(("valid " if schema.is_valid(path) else "invalid ") + path)
            """
        let result = try runProcess(python, ["-c", script, schema] + files, timeout: 300)
        try #require(result.status == 0, "xmlschema did not run (scripts/setup installs python3-xmlschema): \(result)")
        var verdicts: [String: Bool] = [:]
        for line in result.stdout.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            verdicts[String(parts[1])] = parts[0] == "valid"
        }
        return verdicts
    }

    /// A v1 batch as v2: the FWX namespace (default or prefixed) and the major schema version, nothing else.
    static func upgradedMechanically(_ text: String) throws -> String {
        let namespace = try Regex(#"(xmlns(:[A-Za-z_][A-Za-z0-9_.\-]*)?=")urn:fwx:schema:v1""#)
        let version = try Regex(#"schemaVersion="1\.[0-9]+""#)
        return text.replacing(namespace) { "\($0.output[1].substring!)urn:fwx:schema:v2\"" }
            .replacing(version, with: #"schemaVersion="2.0""#, maxReplacements: 1)
    }

    @Test("the v2 fixtures are valid and each invalid-xsd one fails, by xmllint (tree and stream) and xmlschema alike")
    func fixtures() throws {
        let valid = try Self.xml(in: Self.fixtures)
        let invalid = try Self.xml(in: Self.fixtures + "/invalid-xsd")
        try #require(valid.count >= 2 && invalid.count >= 10, "fixtures missing: \(valid) \(invalid)")
        let all = valid + invalid
        for verdicts in [try Self.xmllint(all, stream: false), try Self.xmllint(all, stream: true),
                         try Self.xmlschema(all)] {
            for file in valid { #expect(verdicts[file] == true, "\(file) should be valid") }
            for file in invalid { #expect(verdicts[file] == false, "\(file) should be refused") }
        }
        // Each invalid fixture says what is wrong with it.
        for file in invalid {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            #expect(text.prefix(600).contains("<!--"), "\(file) has no comment saying what is wrong")
        }
        // The Belgian-style sample uses what v2 adds: transport facts on a seizure, article kinds, a postal code,
        // an online sale, an incident link, an explicit unknown and a marked default.
        let belgian = try String(contentsOfFile: Self.fixtures + "/be-seizures.xml", encoding: .utf8)
        for part in ["<ArticleKind", "<PostalCode", "<OnlineSale", "<IncidentRef", "xsi:nil=\"true\"",
                     "source=\"default\"", "<Containers"] {
            #expect(belgian.contains(part), "be-seizures.xml does not show \(part)")
        }
    }

    @Test("fwx upgrade drops the enveloped signature of a signed batch (it no longer matches) and says so; an invalid v1 batch is not upgraded")
    func upgradeSignedAndInvalid() async throws {
        let pki = try await NodeTestPKI.shared()
        try withTemporaryDirectory { folder in
            let batch = folder.appendingPathComponent("b.xml").path
            #expect(try runFWX(["generate", "--records", "20", "--seed", "3", "-o", batch]).status == 0)
            let signed = folder.appendingPathComponent("b.signed.xml").path
            let sign = try runFWX(["sign", "--key", pki.key("NL", "liaison"), "--cert", pki.certificate("NL", "liaison"),
                                   batch, "-o", signed])
            try #require(sign.status == 0, "\(sign)")
            let out = folder.appendingPathComponent("b.v2.xml").path
            let run = try runFWX(["upgrade", signed, "-o", out])
            #expect(run.status == 0, "\(run)")
            #expect(run.stderr.contains("the signature was dropped: sign the v2 batch again"), "\(run.stderr)")
            let text = try String(contentsOfFile: out, encoding: .utf8)
            #expect(!text.contains("Signature") && !text.contains("xmldsig"))
            #expect(try Self.xmllint([out], stream: true)[out] == true)
            // Without the signature it is the unsigned batch upgraded, byte for byte but the signature's place.
            let unsigned = folder.appendingPathComponent("b.v2-unsigned.xml").path
            #expect(try runFWX(["upgrade", batch, "-o", unsigned]).status == 0)
            let plain = try String(contentsOfFile: unsigned, encoding: .utf8)
            #expect(text.filter { !$0.isWhitespace } == plain.filter { !$0.isWhitespace })

            let first = try #require(try FileManager.default.contentsOfDirectory(atPath: Paths.invalidXSD).sorted().first)
            let invalid = try runFWX(["upgrade", Paths.invalidXSD + "/" + first, "-o",
                                      folder.appendingPathComponent("x.xml").path])
            #expect(invalid.status == 1 && invalid.stderr.contains("is not a valid v1 batch"), "\(invalid)")
            #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("x.xml").path))
        }
    }

    @Test("fwx validate reads v2: the fixtures have no findings, and each invalid-xsd fixture fails with FWX-S001 only, as xmllint says")
    func fwxValidatesV2() throws {
        for file in try Self.xml(in: Self.fixtures) {
            let result = try runFWX(["validate", file])
            #expect(result.status == 0, "\(result)")
            #expect(result.stdout.isEmpty, "\(file): \(result.stdout)")
        }
        for file in try Self.xml(in: Self.fixtures + "/invalid-xsd") {
            let result = try runFWX(["validate", file])
            #expect(result.status == 1, "\(result)")
            let rules = Set(result.stdout.split(separator: "\n").compactMap { line in
                line.firstRange(of: "[FWX-").map { String(line[line.index($0.lowerBound, offsetBy: 1)...].prefix(8)) }
            })
            #expect(rules == ["FWX-S001"], "\(file): \(result.stdout)")
            // libxml2's messages name the v2 namespace by its prefix, as they do v1's.
            #expect(!result.stdout.contains("{urn:fwx:schema:v2}"), "\(result.stdout)")
        }
    }

    @Test("readers that decode records take v1 only: fwx convert refuses a v2 batch at its root with FWX-P003, naming the versions it takes")
    func decodingReadersRefuseV2() throws {
        try withTemporaryDirectory { folder in
            let output = folder.appendingPathComponent("out.json").path
            let result = try runFWX(["convert", "--from", "xml", "--to", "json", Self.fixtures + "/be-seizures.xml",
                                     "-o", output])
            #expect(result.status == 1, "\(result)")
            #expect(result.stderr.contains("error[FWX-P003]"), "\(result)")
            #expect(result.stderr.contains("schema v2 document"), "\(result)")
            #expect(result.stderr.contains("it takes v1"), "\(result)")
            #expect(!FileManager.default.fileExists(atPath: output))
        }
    }

    @Test("fwx sign signs a v2 batch without a tree; xmlsec1 and fwx verify accept it, and a change to it fails")
    func signAndVerifyV2() throws {
        let pki = try SigningPKI.ec()
        try withTemporaryDirectory { folder in
            let output = folder.appendingPathComponent("signed.xml").path
            let signed = try runFWX(["sign", "--key", pki.key("NL", "node-signing"), "--cert", pki.cert("NL", "node-signing"),
                                     Self.fixtures + "/nl-sample.xml", "-o", output])
            #expect(signed.status == 0, "\(signed)")
            let text = try String(contentsOfFile: output, encoding: .utf8)
            #expect(text.contains("urn:fwx:schema:v2"))
            #expect(try signingXmlsec1Verify(text, trustedCA: pki.ca("NL")).status == 0)
            let verified = try runFWX(["verify", "--trust", pki.trust, output])
            #expect(verified.status == 0, "\(verified)")
            let changed = try writeFile(folder, "changed.xml",
                                        text.replacingOccurrences(of: "<Municipality>", with: "<Municipality>X"))
            #expect(text.contains("<Municipality>"))
            let refused = try runFWX(["verify", "--trust", pki.trust, changed])
            #expect(refused.status == 1, "\(refused)")
            #expect(refused.stdout.contains("FWX-G001"), "\(refused)")
        }
    }

    @Test("every valid v1 batch (fixtures, generated, converted from both CSV profiles) is valid v2 after changing only its namespace and schemaVersion")
    func v1UpgradesMechanically() throws {
        try withTemporaryDirectory { folder in
            var v1: [String] = [Paths.sample, Paths.emptyAllPartners]
            for (index, arguments) in [["--records", "300", "--seed", "17"],
                                       ["--records", "300", "--seed", "18", "--sender", "DE"]].enumerated() {
                let path = folder.appendingPathComponent("generated-\(index).xml").path
                let generated = try runFWX(["generate"] + arguments + ["-o", path])
                try #require(generated.status == 0, "\(generated)")
                v1.append(path)
            }
            for (profile, export) in [("nl-politie", "nl-politie"), ("de-zoll", "de-zoll")] {
                let path = folder.appendingPathComponent("\(export).xml").path
                let converted = try runFWX(["convert", "--from", "csv", "--to", "xml", "--profile",
                                            Paths.repo("fixtures/profiles/\(profile).yaml"),
                                            Paths.repo("fixtures/exports/\(export).csv"), "-o", path])
                try #require(converted.status == 0, "\(converted)")
                v1.append(path)
            }
            var upgraded: [String] = []
            for (index, path) in v1.enumerated() {
                let text = try String(contentsOfFile: path, encoding: .utf8)
                let v2 = try Self.upgradedMechanically(text)
                #expect(v2 != text && v2.count == text.count, "\(path): only two characters change")
                #expect(!v2.contains("urn:fwx:schema:v1"))
                upgraded.append(try writeFile(folder, "upgraded-\(index).xml", v2))
            }
            for verdicts in [try Self.xmllint(upgraded, stream: true), try Self.xmlschema(upgraded)] {
                for (source, file) in zip(v1, upgraded) {
                    #expect(verdicts[file] == true, "\(source) upgraded is not valid v2")
                }
            }
            // fwx upgrade makes exactly these documents, and the same again on a second run.
            for (index, (source, expected)) in zip(v1, upgraded).enumerated() {
                let out = folder.appendingPathComponent("fwx-upgraded-\(index).xml").path
                for _ in 0..<2 {
                    let run = try runFWX(["upgrade", source, "-o", out])
                    #expect(run.status == 0, "\(source): \(run)")
                    #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == Data(contentsOf: URL(fileURLWithPath: expected)),
                            "\(source): fwx upgrade differs from the namespace and version change alone")
                }
            }
            // And v2 is no looser where v1 refuses: each v1 invalid-xsd fixture, upgraded, still fails.
            let refusedInV1 = try Self.xml(in: Paths.invalidXSD)
            var refusedUpgraded: [String] = []
            for (index, path) in refusedInV1.enumerated() {
                let v2 = try Self.upgradedMechanically(try String(contentsOfFile: path, encoding: .utf8))
                refusedUpgraded.append(try writeFile(folder, "refused-\(index).xml", v2))
            }
            let verdicts = try Self.xmllint(refusedUpgraded, stream: false)
            for (source, file) in zip(refusedInV1, refusedUpgraded) {
                #expect(verdicts[file] == false, "\(source) upgraded to v2 is accepted")
            }
        }
    }
}
