// Issue 17, item 3: persons mapped from a CSV become keyed pseudonyms (HMAC-SHA-256 with the owner's key), through
// the built binary with real files: the same person gets the same pseudonym across batches with the same key and
// another with another key, and no clear name, birth date or identity number reaches the XML, the messages or the
// log; a clear name given as a pseudonym is refused unless the profile says the national system made it.
import FWXSigning
import Foundation
import Testing

@Suite("Keyed pseudonyms of persons")
struct PseudonymisationTests {
    static func profile(persons: String, extra: String = "") -> String {
        """
        profile: 1
        name: persons test export
        csv: { delimiter: ";" }
        dates: { dateFormat: dd-MM-yyyy, timeZone: Europe/Amsterdam }
        batch: { sender: NL, agencyId: NL-TEST, defaultHandlingCode: H2 }
        retention: { years: 5 }
        \(extra)
        columns:
          id: { field: recordId, prefix: NL-SZ- }
          date: seizureDate
          quantity: item.quantity
          role: person.role
        \(persons)
        constants:
          incidentType: other
          authorityType: police
          caseReference: TEST-1
          location.country: NL
          evaluation.source: B
          evaluation.information: "2"
          item.category: F4
          item.quantityUnit: pieces
        """
    }

    static let keyed = """
          name: person.name
          born: person.birthDate
          passport: person.idNumber
        """

    /// The same two persons, written differently (order, case, accents, punctuation) in the second export.
    static let firstExport = """
        id;date;quantity;role;name;born;passport
        1;02-11-2026;10;suspect;Jean Dupont;02-04-1991;ab 12-34
        2;03-11-2026;5;driver;Grete Müller;17-09-1985;X99
        """
    static let secondExport = """
        id;date;quantity;role;name;born;passport
        7;04-11-2026;3;driver;MULLER, Grete;17-09-1985;x-99
        8;05-11-2026;1;suspect;dupont jean;02-04-1991;AB1234
        """

    static func key(_ folder: URL, _ name: String, byte: UInt8) throws -> String {
        let path = try writeFile(folder, name, [UInt8](repeating: byte, count: 32))
        chmod(path, 0o600)
        return path
    }

    static func pseudonyms(_ path: String) throws -> [String] {
        let xml = try String(contentsOfFile: path, encoding: .utf8)
        return xml.matches(of: /<Pseudonym>([^<]*)<\/Pseudonym>/).map { String($0.output.1) }
    }

    @Test("names, birth dates and identity numbers become hk1 pseudonyms: the same person the same across batches, another key another, nothing in clear anywhere")
    func keyedPseudonyms() throws {
        try withTemporaryDirectory { folder in
            let profile = try writeFile(folder, "persons.yaml", Self.profile(persons: Self.keyed,
                                                                             extra: "pseudonymisation: { keyFile: nl.key }"))
            let key = try Self.key(folder, "nl.key", byte: 7)
            let other = try Self.key(folder, "other.key", byte: 8)
            var outputs: [String: String] = [:]
            for (name, export, extra) in [("a", Self.firstExport, [String]()), ("b", Self.secondExport, []),
                                          ("c", Self.firstExport, ["--pseudonym-key", other])] {
                let csv = try writeFile(folder, "\(name).csv", export)
                let out = folder.appendingPathComponent("\(name).xml").path
                let run = try runFWX(["convert", "--from", "csv", "--to", "xml", "--profile", profile, csv, "-o", out,
                                      "--sequence", "1"] + extra)
                #expect(run.status == 0, "\(run)")
                let everything = run.stdout + run.stderr + (try String(contentsOfFile: out, encoding: .utf8))
                for clear in ["Dupont", "DUPONT", "Jean", "Müller", "MULLER", "Grete", "1991-04-02", "02-04-1991",
                              "AB1234", "ab 12-34", "X99"] {
                    #expect(!everything.contains(clear), "\(clear) reached \(name)")
                }
                outputs[name] = out
            }
            let a = try Self.pseudonyms(outputs["a"]!), b = try Self.pseudonyms(outputs["b"]!)
            let c = try Self.pseudonyms(outputs["c"]!)
            #expect(a.count == 2 && a.allSatisfy { $0.hasPrefix("hk1-") && $0.count == 68 }, "\(a)")
            #expect(a[0] != a[1])
            #expect(b == [a[1], a[0]], "the same persons, written otherwise, get the same pseudonyms")
            #expect(Set(c).isDisjoint(with: a), "another key gives other pseudonyms")
            // The year of birth is kept, the date is not.
            let xml = try String(contentsOfFile: outputs["a"]!, encoding: .utf8)
            #expect(xml.contains("<BirthYear>1991</BirthYear>") && xml.contains("<BirthYear>1985</BirthYear>"))
            // The pseudonym is HMAC-SHA-256 of the documented text (docs/pseudonymisation.md), not something else.
            let expected = KeyedPseudonym.make(name: "Jean Dupont", birthDate: "1991-04-02", idNumber: "ab 12-34",
                                               key: try PseudonymKey(file: key))
            #expect(a[0] == expected)
        }
    }

    @Test("the key: missing, readable by others, too short, or not given at all is refused (exit 2) and never printed")
    func keyProblems() throws {
        try withTemporaryDirectory { folder in
            let csv = try writeFile(folder, "a.csv", Self.firstExport)
            let out = folder.appendingPathComponent("a.xml").path
            let noKey = try writeFile(folder, "nokey.yaml", Self.profile(persons: Self.keyed))
            let none = try runFWX(["convert", "--from", "csv", "--to", "xml", "--profile", noKey, csv, "-o", out,
                                   "--sequence", "1"])
            #expect(none.status == 2 && none.stderr.contains("--pseudonym-key FILE"), "\(none)")
            let open = try writeFile(folder, "open.key", [UInt8](repeating: 9, count: 32))
            chmod(open, 0o644)
            let short = try writeFile(folder, "short.key", [UInt8](repeating: 9, count: 16))
            chmod(short, 0o600)
            for (key, message) in [(open, "readable by group or others"), (short, "at least 32"),
                                   (folder.path + "/missing.key", "cannot read the pseudonym key")] {
                let run = try runFWX(["convert", "--from", "csv", "--to", "xml", "--profile", noKey, csv, "-o", out,
                                      "--sequence", "1", "--pseudonym-key", key])
                #expect(run.status == 2 && run.stderr.contains(message), "\(key): \(run)")
            }
            #expect(!FileManager.default.fileExists(atPath: out))
        }
    }

    @Test("a clear name mapped to person.pseudonym rejects its row without showing it, unless the national system made it")
    func clearNameAsPseudonym() throws {
        try withTemporaryDirectory { folder in
            let export = """
                id;date;quantity;role;pseudonym
                1;02-11-2026;10;suspect;Jean Dupont
                2;03-11-2026;5;driver;p1:3f9a0c77
                """
            let csv = try writeFile(folder, "a.csv", export)
            let out = folder.appendingPathComponent("a.xml").path
            let plain = try writeFile(folder, "plain.yaml", Self.profile(persons: "  pseudonym: person.pseudonym"))
            let run = try runFWX(["convert", "--from", "csv", "--to", "xml", "--profile", plain, csv, "-o", out,
                                  "--sequence", "1"])
            #expect(run.status == 0, "\(run)")
            #expect(run.stderr.contains("a.csv:2: column 'pseudonym': holds what looks like a clear name"), "\(run.stderr)")
            #expect(run.stderr.contains("map this column to person.name"))
            #expect(!(run.stdout + run.stderr).contains("Dupont"))
            #expect(try Self.pseudonyms(out) == ["p1:3f9a0c77"])
            let trusted = try writeFile(folder, "trusted.yaml", Self.profile(
                persons: "  pseudonym: person.pseudonym", extra: "pseudonymisation: { alreadyPseudonymised: true }"))
            let taken = try runFWX(["convert", "--from", "csv", "--to", "xml", "--profile", trusted, csv, "-o", out,
                                    "--sequence", "2"])
            #expect(taken.status == 0, "\(taken)")
            #expect(try Self.pseudonyms(out) == ["Jean Dupont", "p1:3f9a0c77"])
            // Both ways at once is a profile error.
            let both = try writeFile(folder, "both.yaml", Self.profile(persons: Self.keyed + "\n  pseudonym: person.pseudonym"))
            let refused = try runFWX(["convert", "--from", "csv", "--to", "xml", "--profile", both, csv, "-o", out,
                                      "--sequence", "3", "--pseudonym-key", try Self.key(folder, "k.key", byte: 1)])
            #expect(refused.status == 2 && refused.stderr.contains("not both"), "\(refused)")
        }
    }

    @Test("normalisation: order, case, accents and punctuation of a name do not change it; what looks like a clear name")
    func normalisation() {
        let forms = ["Jean Dupont", "Dupont, Jean", "jean DUPONT", "Jean-Dupont", "  Jéan   Dupont "]
        #expect(Set(forms.map(KeyedPseudonym.normalisedName)) == ["DUPONT JEAN"])
        #expect(KeyedPseudonym.normalisedName("Grete Müller") == KeyedPseudonym.normalisedName("MULLER Grete"))
        #expect(KeyedPseudonym.normalisedIdNumber("ab 12-34") == "AB1234")
        for name in ["Jean Dupont", "Anna van der Berg", "DUPONT Jean", "Grete Müller", "O'Brien Sean"] {
            #expect(KeyedPseudonym.looksLikeClearName(name), "\(name)")
        }
        for code in ["p1:3f9a0c77", "hk1-0a1b", "NL-PERS-0001", "suspect", "X Y Z 1", "12 34"] {
            #expect(!KeyedPseudonym.looksLikeClearName(code), "\(code)")
        }
    }
}
