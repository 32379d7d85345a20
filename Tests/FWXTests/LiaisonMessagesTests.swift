// Issue 17, item 4, through the built binary: a typo is called a typo with a "did you mean", a profile that cannot
// be read says why, a wrong profile is named as the likely cause, `-o` naming a folder fails before any work, a
// conversion that writes no record exits 1 and leaves no batch, and stale `.partial-PID` files of dead runs go.
import Foundation
import Testing

@Suite("Liaison messages and exit codes")
struct LiaisonMessagesTests {
    static let nlProfile = Paths.repo("fixtures/profiles/nl-politie.yaml")
    static let deProfile = Paths.repo("fixtures/profiles/de-zoll.yaml")
    static let nlExport = Paths.repo("fixtures/exports/nl-politie.csv")
    static let deExport = Paths.repo("fixtures/exports/de-zoll.csv")

    @Test("every misspelt subcommand and long option gets a 'did you mean', exit 2, before anything runs",
          arguments: [
              (["validat", "x.xml"], "'validat' is not a command of 'fwx'; did you mean 'validate'?"),
              (["convert", "--from", "csv", "--to", "xml", "--profil", "p.yaml", "x.csv", "-o", "y.xml"],
               "unknown option '--profil' for 'fwx convert'; did you mean '--profile'?"),
              (["convert", "--form", "csv", "--to", "xml", "x.csv", "-o", "y.xml"],
               "unknown option '--form' for 'fwx convert'; did you mean '--from'?"),
              (["store", "cpy"], "'cpy' is not a command of 'fwx store'; did you mean 'copy'?"),
              (["verify", "--trsut", "t", "x.xml"], "did you mean '--trust'?"),
              (["xyzzy"], "'xyzzy' is not a command of 'fwx'; the commands are: validate, sign,"),
          ] as [([String], String)])
    func typos(arguments: [String], message: String) throws {
        let result = try runFWX(arguments)
        #expect(result.status == 2, "\(arguments): \(result)")
        #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    @Test("correct commands and options are not flagged: help, values after --, option=value")
    func noFalseAlarms() throws {
        #expect(try runFWX(["help", "convert"]).status == 0)
        #expect(try runFWX(["validate", "--format=json", Paths.sample]).status == 0)
        let afterDashes = try runFWX(["validate", "--", "--not-an-option.xml"])
        #expect(afterDashes.status == 2 && !afterDashes.stderr.contains("unknown option"), "\(afterDashes)")
    }

    @Test("a profile that cannot be read says why: no such file, a folder, not YAML")
    func unreadableProfile() throws {
        try withTemporaryDirectory { folder in
            let out = folder.appendingPathComponent("out.xml").path
            let notYAML = try writeFile(folder, "bad.yaml", "csv: [unclosed\n")
            for (profile, reason) in [(folder.path + "/nosuch.yaml", "there is no such file"),
                                      (folder.path, "it is a folder"),
                                      (notYAML, "not valid YAML")] {
                let result = try runFWX(["convert", "--from", "csv", "--to", "xml", "--profile", profile,
                                         Self.nlExport, "-o", out])
                #expect(result.status == 2, "\(profile): \(result)")
                #expect(result.stderr.contains(reason), "\(profile): \(result.stderr)")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() == ["bad.yaml"])
        }
    }

    @Test("a wrong profile is named as the likely cause, before any row-level message", arguments: [
        (nlProfile, deExport), (deProfile, nlExport),
    ])
    func wrongProfile(profile: String, export: String) throws {
        try withTemporaryDirectory { folder in
            let out = folder.appendingPathComponent("out.xml").path
            let result = try runFWX(["convert", "--from", "csv", "--to", "xml", "--profile", profile, export, "-o", out])
            #expect(result.status == 2, "\(result)")
            #expect(result.stderr.contains("is it the right profile for this export?"), "\(result.stderr)")
            #expect(result.stderr.contains("profile \(profile) expects"), "\(result.stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty, "nothing written")
        }
    }

    @Test("-o naming a folder fails before any work, for convert and for generate")
    func outputIsAFolder() throws {
        try withTemporaryDirectory { folder in
            let convert = try runFWX(["convert", "--from", "csv", "--to", "xml", "--profile", Self.nlProfile,
                                      Self.nlExport, "-o", folder.path])
            #expect(convert.status == 2, "\(convert)")
            #expect(convert.stderr.contains("-o \(folder.path) is a folder; give a file name"), "\(convert.stderr)")
            #expect(!convert.stderr.contains("valid ("), "nothing was converted or validated first")
            let generate = try runFWX(["generate", "--records", "3", "-o", folder.path])
            #expect(generate.status == 2, "\(generate)")
            #expect(generate.stderr.contains("is a folder"), "\(generate.stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
        }
    }

    @Test("a conversion that writes no record exits 1 and leaves no batch, only the reject file")
    func noRecordWritten() throws {
        try withTemporaryDirectory { folder in
            // The header and two bad rows of the shipped NL export with bad rows (an unmapped category, an
            // impossible date): every row is rejected.
            let lines = try String(contentsOfFile: Paths.repo("fixtures/exports/nl-politie-with-bad-rows.csv"),
                                   encoding: .utf8).components(separatedBy: "\r\n")
            let bad = lines.filter { line in ["vuurwerk X", "31-02-2026"].contains { line.contains($0) } }
            try #require(bad.count == 2, "the two bad rows of the fixture: \(bad.count)")
            let export = try writeFile(folder, "all-bad.csv", ([lines[0]] + bad).joined(separator: "\r\n") + "\r\n")
            let out = folder.appendingPathComponent("out.xml").path
            let result = try runFWX(["convert", "--from", "csv", "--to", "xml", "--profile", Self.nlProfile, export,
                                     "-o", out])
            #expect(result.status == 1, "\(result)")
            #expect(result.stderr.contains("no record written"), "\(result.stderr)")
            #expect(result.stderr.contains("no batch was written"))
            #expect(!FileManager.default.fileExists(atPath: out))
            #expect(FileManager.default.fileExists(atPath: out + ".rejects.csv"), "the reasons are kept")
            // A header and no rows at all: the same.
            let empty = try writeFile(folder, "empty.csv", lines[0] + "\r\n")
            let none = try runFWX(["convert", "--from", "csv", "--to", "xml", "--profile", Self.nlProfile, empty,
                                   "-o", out])
            #expect(none.status == 1, "\(none)")
            #expect(!FileManager.default.fileExists(atPath: out))
        }
    }

    @Test("without --sequence each conversion takes the sender's next number from the counter next to its output; a failed one uses none")
    func sequenceCounter() throws {
        try withTemporaryDirectory { folder in
            func convert(_ export: String, _ name: String, _ extra: [String] = []) throws -> ProcessResult {
                try runFWX(["convert", "--from", "csv", "--to", "xml", "--profile", Self.nlProfile, export,
                            "-o", folder.appendingPathComponent(name).path] + extra)
            }
            func sequence(_ name: String) throws -> String? {
                let xml = try String(contentsOfFile: folder.appendingPathComponent(name).path, encoding: .utf8)
                return xml.firstMatch(of: /<SequenceNumber>([0-9]+)<\/SequenceNumber>/).map { String($0.output.1) }
            }
            let first = try convert(Self.nlExport, "one.xml")
            #expect(first.status == 0, "\(first)")
            #expect(first.stderr.contains("sequence number 1 (from "), "\(first.stderr)")
            #expect(first.stderr.contains("the next batch gets 2"))
            let second = try convert(Self.nlExport, "two.xml")
            #expect(second.status == 0, "\(second)")
            #expect(try sequence("one.xml") == "1" && sequence("two.xml") == "2")
            let counters = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasPrefix(".fwx-sequence-NL-") }
            try #require(counters.count == 1, "\(counters)")
            let counterPath = folder.appendingPathComponent(counters[0]).path
            #expect(try String(contentsOfFile: counterPath, encoding: .utf8) == "2\n")
            // A conversion that writes nothing keeps the number for the next one.
            let empty = try writeFile(folder, "empty.csv", try String(contentsOfFile: Self.nlExport, encoding: .utf8)
                .components(separatedBy: "\r\n")[0] + "\r\n")
            #expect(try convert(empty, "none.xml").status == 1)
            #expect(try String(contentsOfFile: counterPath, encoding: .utf8) == "2\n")
            // --sequence is taken as given and leaves the counter alone.
            #expect(try convert(Self.nlExport, "seven.xml", ["--sequence", "7"]).status == 0)
            #expect(try sequence("seven.xml") == "7")
            #expect(try String(contentsOfFile: counterPath, encoding: .utf8) == "2\n")
            #expect(try convert(Self.nlExport, "three.xml").status == 0)
            #expect(try sequence("three.xml") == "3")
            // Standard output has no folder for the counter: --sequence is needed.
            let toStdout = try runFWX(["convert", "--from", "csv", "--to", "xml", "--profile", Self.nlProfile,
                                       Self.nlExport, "-o", "-", "--strict"])
            #expect(toStdout.status == 2 && toStdout.stderr.contains("with -o - give --sequence N"), "\(toStdout)")
        }
    }

    @Test("fwx profile check says which columns map to what and which rows would be rejected, writing nothing")
    func profileCheck() throws {
        let bad = try runFWX(["profile", "check", Self.nlProfile, Paths.repo("fixtures/exports/nl-politie-with-bad-rows.csv")])
        #expect(bad.status == 1, "\(bad)")
        #expect(bad.stdout.contains("  column 'Datum' -> seizureDate"), "\(bad.stdout)")
        #expect(bad.stdout.contains("nl-politie-with-bad-rows.csv:14: column 'Datum': value '31-02-2026' is not a date"))
        #expect(bad.stdout.contains("31 rows read: 20 records would be written (20 seizures, 0 shipments), 3 rows would be rejected"))
        let good = try runFWX(["profile", "check", Self.nlProfile, Self.nlExport])
        #expect(good.status == 0, "\(good)")
        #expect(good.stdout.contains("0 rows would be rejected"))
        let wrong = try runFWX(["profile", "check", Self.deProfile, Self.nlExport])
        #expect(wrong.status == 2 && wrong.stderr.contains("is it the right profile for this export?"), "\(wrong)")
        // Nothing was written next to the export (no batch, no reject file, no sequence counter).
        let exports = try FileManager.default.contentsOfDirectory(atPath: Paths.repo("fixtures/exports")).sorted()
        #expect(exports == ["de-zoll-with-bad-rows.csv", "de-zoll.csv", "nl-politie-with-bad-rows.csv", "nl-politie.csv"])
    }

    @Test("a .partial file of a run that is no longer alive is removed by the next run; a live run's is kept")
    func stalePartials() throws {
        try withTemporaryDirectory { folder in
            let out = folder.appendingPathComponent("out.xml").path
            // A process id that no process has (above the kernel's pid_max) and pid 1, which is always alive.
            try writeFile(folder, "out.xml.partial-4194305", "half a batch")
            try writeFile(folder, "out.xml.partial-1", "someone else's")
            let result = try runFWX(["convert", "--from", "csv", "--to", "xml", "--profile", Self.nlProfile,
                                     Self.nlExport, "-o", out])
            #expect(result.status == 0, "\(result)")
            let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
                .filter { !$0.hasPrefix(".fwx-sequence-") }
            #expect(names == ["out.xml", "out.xml.partial-1", "out.xml.rejects.csv"], "\(names)")
        }
    }
}
