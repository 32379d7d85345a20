// The built `fwx` binary: exit statuses, the human and JSON formats, `rules` and `generate`.
import FWXModel
import FWXXML
import Foundation
import Testing

@Suite("fwx command line")
struct CLITests {
    static let findingLine = #"^[^:]+:\d+:\d+: (error|warning)\[FWX-[A-Z]\d{3}\]: .+$"#

    @Test("the fwx binary is built next to the tests")
    func binaryExists() throws {
        let fwx = try #require(Paths.fwx, "fwx not found in \(Paths.binaryFolders.map(\.path))")
        #expect(FileManager.default.isExecutableFile(atPath: fwx))
        let help = try runFWX(["--help"])
        #expect(help.status == 0, "\(help)")
        for command in ["validate", "generate", "rules"] {
            #expect(help.stdout.contains(command) || help.stderr.contains(command))
        }
    }

    @Test("fwx validate on the sample: exit 0, nothing on stdout, summary says valid")
    func validateSample() throws {
        let result = try runFWX(["validate", Paths.sample])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.isEmpty, "\(result)")
        #expect(result.stderr.contains("valid"))
        #expect(result.stderr.contains("\(Paths.sample): valid (3 records, 0 errors, 0 warnings)"), "\(result)")
        #expect(!result.stderr.contains("INVALID"))
    }

    @Test("fwx validate reads standard input for '-'")
    func validateStandardInput() throws {
        let result = try runFWX(["validate", "-"], stdin: Data(Sample.text.utf8))
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.contains("-: valid (3 records"), "\(result)")
    }

    @Test("fwx validate on invalid files: exit 1, one compiler-style line per finding")
    func validateInvalid() throws {
        let regex = try Regex(Self.findingLine)
        try withTemporaryDirectory { folder in
            let ruleFailure = try writeFile(folder, "rules.xml", try Sample.edited([
                ("26NL0003960000GRB7", "26NL0003960000GRB8", nil),
                ("<HSCode>36041000</HSCode>", "<HSCode>95030000</HSCode>", 1),
            ]))
            let files = Paths.files(in: Paths.invalidXSD, withExtension: "xml") + [ruleFailure]
            let result = try runFWX(["validate"] + files)
            #expect(result.status == 1, "\(result)")
            let lines = result.stdout.split(separator: "\n").map(String.init)
            #expect(lines.count >= files.count)
            for line in lines {
                #expect(line.wholeMatch(of: regex) != nil, "not in FILE:LINE:COL: severity[RULE]: message form: \(line)")
            }
            #expect(lines.contains { $0.hasPrefix("\(ruleFailure):") && $0.contains("error[FWX-R002]") })
            #expect(lines.contains { $0.hasPrefix("\(ruleFailure):") && $0.contains("warning[FWX-W103]") })
            for file in files {
                #expect(result.stderr.contains("\(file): INVALID"), "\(file)")
            }
            let badCategory = Paths.invalidXSD + "/bad-category.xml"
            #expect(lines.contains { $0.hasPrefix("\(badCategory):46:11: error[FWX-S001]: ") }, "\(result)")
        }
    }

    @Test("warnings alone keep exit 0")
    func warningsOnly() throws {
        try withTemporaryDirectory { folder in
            let path = try writeFile(folder, "warn.xml", try Sample.edited("<HSCode>36041000</HSCode>",
                                                                          "<HSCode>95030000</HSCode>", occurrence: 1))
            let result = try runFWX(["validate", path])
            #expect(result.status == 0, "\(result)")
            #expect(result.stdout.contains("warning[FWX-W103]"))
            #expect(result.stderr.contains("valid (3 records, 0 errors, 1 warnings)"), "\(result)")
        }
    }

    @Test("--format json: parseable, with findings carrying rule, line, column and xpath")
    func validateJSON() throws {
        let path = Paths.invalidXSD + "/wrong-order.xml"
        let result = try runFWX(["validate", "--format", "json", path])
        #expect(result.status == 1, "\(result)")
        let object = try JSONSerialization.jsonObject(with: result.stdoutData)
        let root = try #require(object as? [String: Any], "top level is not an object: \(result.stdout)")
        let files = try #require(root["files"] as? [[String: Any]])
        try #require(files.count == 1)
        #expect(files[0]["file"] as? String == path)
        #expect(files[0]["valid"] as? Bool == false)
        #expect(files[0]["errors"] as? Int == 1)
        #expect(files[0]["records"] as? Int == 3)
        let findings = try #require(files[0]["findings"] as? [[String: Any]])
        try #require(!findings.isEmpty)
        for finding in findings {
            for key in ["rule", "line", "column", "xpath", "message", "severity", "file"] {
                #expect(finding[key] != nil, "missing \(key) in \(finding)")
            }
        }
        #expect(findings[0]["rule"] as? String == RuleID.schema)
        #expect(findings[0]["line"] as? Int == 43)
        #expect(findings[0]["column"] as? Int == 7)
        #expect(findings[0]["xpath"] as? String == "/fwx:Batch/fwx:Records/fwx:Seizure[1]/fwx:HandlingCode")
        #expect((root["errors"] as? [Any])?.isEmpty == true)
        // JSON mode prints no human lines.
        #expect(!result.stdout.contains("error[FWX-"))
    }

    @Test("--format json for a valid file and a missing one")
    func validateJSONMixed() throws {
        let missing = Paths.repo("fixtures/batches/does-not-exist.xml")
        let result = try runFWX(["validate", "--format", "json", Paths.sample, missing])
        #expect(result.status == 2, "\(result)")
        let root = try #require(try JSONSerialization.jsonObject(with: result.stdoutData) as? [String: Any])
        let files = try #require(root["files"] as? [[String: Any]])
        #expect(files.count == 1)
        #expect(files.first?["valid"] as? Bool == true)
        #expect((files.first?["findings"] as? [Any])?.isEmpty == true)
        let errors = try #require(root["errors"] as? [[String: Any]])
        #expect(errors.count == 1)
        #expect(errors.first?["file"] as? String == missing)
    }

    @Test("a missing file exits 2 and names the file")
    func missingFile() throws {
        let missing = Paths.repo("fixtures/batches/does-not-exist.xml")
        let result = try runFWX(["validate", missing])
        #expect(result.status == 2, "\(result)")
        #expect(result.stderr.contains("does-not-exist.xml"))
        // An I/O error wins over an invalid file in the same run.
        let mixed = try runFWX(["validate", Paths.invalidXSD + "/bad-category.xml", missing])
        #expect(mixed.status == 2, "\(mixed)")
        let directory = try runFWX(["validate", Paths.invalidXSD])
        #expect(directory.status == 2, "\(directory)")
    }

    @Test("bad usage exits 2", arguments: [
        ["validate"],
        ["validate", "--no-such-flag", "fixtures/batches/nl-sample.xml"],
        ["validate", "--format", "xml", "fixtures/batches/nl-sample.xml"],
        ["validate", "--max-findings", "0", "fixtures/batches/nl-sample.xml"],
        ["no-such-command"],
        ["generate"],
        ["generate", "--records", "5", "--sender", "XX"],
        ["generate", "--records", "-1"],
    ])
    func badUsage(arguments: [String]) throws {
        let result = try runFWX(arguments.map { $0.hasPrefix("fixtures/") ? Paths.repo($0) : $0 })
        #expect(result.status == 2, "\(arguments): \(result)")
        #expect(!result.stderr.isEmpty)
        #expect(result.stdout.isEmpty || !result.stdout.contains("<Batch"))
    }

    @Test("--max-findings limits the lines printed and says how many were not shown")
    func maxFindingsOption() throws {
        try withTemporaryDirectory { folder in
            var text = Sample.text
            let links = (1...6).map { "        <ShipmentRef>NL-SH-2026-90000\($0)</ShipmentRef>" }.joined(separator: "\n")
            text = text.replacingOccurrences(of: "        <ShipmentRef external=\"true\">PL-SH-2026-009912</ShipmentRef>",
                                             with: links)
            let path = try writeFile(folder, "many.xml", text)
            let result = try runFWX(["validate", "--max-findings", "2", path])
            #expect(result.status == 1, "\(result)")
            #expect(result.stdout.split(separator: "\n").count == 2)
            #expect(result.stderr.contains("6 errors"), "\(result)")
            #expect(result.stderr.contains("4 findings not shown"), "\(result)")
        }
    }

    @Test("--quiet prints nothing for a clean valid file but still reports invalid ones")
    func quietOption() throws {
        let clean = try runFWX(["validate", "--quiet", Paths.sample])
        #expect(clean.status == 0)
        #expect(clean.stdout.isEmpty && clean.stderr.isEmpty, "\(clean)")
        let invalid = try runFWX(["validate", "--quiet", Paths.invalidXSD + "/bad-category.xml"])
        #expect(invalid.status == 1)
        #expect(invalid.stderr.contains("INVALID"))
    }

    @Test("fwx rules lists every rule id of the catalogue with its severity")
    func rules() throws {
        let result = try runFWX(["rules"])
        #expect(result.status == 0, "\(result)")
        let rows = result.stdout.split(separator: "\n").map(String.init)
        for entry in RuleID.catalogue {
            let row = rows.first { $0.hasPrefix("| \(entry.id) |") }
            #expect(row != nil, "\(entry.id) missing from fwx rules")
            #expect(row?.contains("| \(entry.severity.rawValue) |") == true, "\(entry.id)")
        }
        #expect(rows.filter { $0.hasPrefix("| FWX-") }.count == RuleID.catalogue.count)
    }

    @Test("fwx generate writes a valid batch to standard output")
    func generateToStandardOutput() throws {
        let result = try runFWX(["generate", "--records", "50", "--seed", "3", "--sender", "BE",
                                 "--recipients", "NL,DE,el"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Batch xmlns=\"urn:fwx:schema:v1\""))
        #expect(result.stdout.contains("<Country>GR</Country>"), "EL is written as GR")
        let report = try Validation.validate(bytes: [UInt8](result.stdoutData), name: "stdout")
        #expect(report.isValid, "\(Validation.describe(report))")
        #expect(report.findings.isEmpty)
        #expect(report.records == 50)
        let empty = try runFWX(["generate", "--records", "0"])
        #expect(empty.status == 0)
        let emptyReport = try Validation.validate(bytes: [UInt8](empty.stdoutData), name: "empty")
        #expect(emptyReport.findings.isEmpty, "\(Validation.describe(emptyReport))")
        #expect(emptyReport.records == 0)
    }

    @Test("fwx generate to an output file in a missing folder fails with exit 2 and leaves nothing")
    func generateToMissingFolder() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("no/such/folder/out.xml").path
            let result = try runFWX(["generate", "--records", "5", "-o", path])
            #expect(result.status == 2, "\(result)")
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }

    @Test("validating a generated batch through the CLI agrees with the library")
    func cliAgreesWithLibrary() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("errors.xml").path
            let manifest = folder.appendingPathComponent("m.json").path
            let generated = try runFWX(["generate", "--records", "120", "--seed", "21", "--with-errors",
                                        "--manifest", manifest, "-o", path])
            try #require(generated.status == 0, "\(generated)")
            let result = try runFWX(["validate", path])
            #expect(result.status == 1)
            let library = try BatchValidator().validate(path: path)
            let cliLines = result.stdout.split(separator: "\n").map(String.init)
            #expect(cliLines == library.findings.map(\.humanDescription))
        }
    }
}
