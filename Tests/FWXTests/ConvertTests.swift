import FWXConvert
import FWXModel
import FWXXML
import Foundation
import Testing

// Tests of the transforms: CSV → XML through mapping profiles, XML ↔ JSON, XML → flat CSV, and `fwx convert`.

// MARK: - Helpers (private, prefixed `convert`)

/// The repository's root folder (this file is Tests/FWXTests/ConvertTests.swift).
private let convertRepoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

private func convertPath(_ relative: String) -> String { convertRepoRoot.appendingPathComponent(relative).path }

/// The `fwx` binary built next to the tests (`swift build --build-tests` builds it).
private func convertBinary() throws -> String {
    var candidates: [String] = []
    if let argument = CommandLine.arguments.first {
        var folder = URL(fileURLWithPath: argument).deletingLastPathComponent()
        // The test bundle is a folder (…/debug/fwxPackageTests.xctest) on some platforms.
        for _ in 0..<4 {
            candidates.append(folder.appendingPathComponent("fwx").path)
            folder = folder.deletingLastPathComponent()
        }
    }
    candidates.append(convertPath(".build/debug/fwx"))
    guard let binary = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        throw FWXError(.io, "fwx binary not found; looked at \(candidates.joined(separator: ", ")); run swift build --build-tests")
    }
    return binary
}

/// A new empty folder for one test.
private func convertTemporaryFolder() throws -> String {
    let path = NSTemporaryDirectory() + "/fwx-convert-tests-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

private struct ConvertRun {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a program and collects its exit status and output (through files, so large output cannot block it).
private func convertRun(_ executable: String, _ arguments: [String]) throws -> ConvertRun {
    let folder = try convertTemporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let outPath = folder + "/stdout", errPath = folder + "/stderr"
    _ = FileManager.default.createFile(atPath: outPath, contents: nil)
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.currentDirectoryURL = convertRepoRoot
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    process.standardInput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    return ConvertRun(status: process.terminationStatus,
                      stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
}

private func convertFWX(_ arguments: String...) throws -> ConvertRun {
    try convertRun(try convertBinary(), arguments)
}

/// xmllint's verdict on a file against the bundled XSD.
private func convertXmllint(_ path: String) throws -> ConvertRun {
    try convertRun("/usr/bin/xmllint", ["--noout", "--schema", convertPath("schemas/v1/batch.xsd"), path])
}

/// Result of a CSV conversion made through the library.
private struct ConvertCSVResult {
    var xml: String
    var summary: CSVConversionSummary
    var rejections: [RowRejection]
    var rejectFile: [UInt8]
}

private func convertCSV(profile: CSVMappingProfile, bytes: [UInt8], name: String = "export.csv",
                        options: CSVConversionOptions = CSVConversionOptions(batchId: "6f1c2b9e-4a7d-4c1e-9b7a-2d5e8f0a1c3b",
                                                                             createdAt: "2026-11-28T12:00:00Z"))
    throws -> ConvertCSVResult {
    let converter = try CSVToBatchConverter(profile: profile, options: options)
    var xml = ""
    var writer = BatchXMLWriter { xml += $0 }
    var rejections: [RowRejection] = []
    var rejectBytes: [UInt8] = []
    let rejects = RejectFileWriter { rejectBytes += $0 }
    let summary = try converter.convert(ByteSource(bytes: bytes, name: name), to: &writer, rejects: rejects,
                                        rejected: { rejections.append($0) })
    return ConvertCSVResult(xml: xml, summary: summary, rejections: rejections, rejectFile: rejectBytes)
}

private func convertCSVFile(profile: String, export: String) throws -> ConvertCSVResult {
    let loaded = try CSVMappingProfile.load(path: convertPath("fixtures/profiles/\(profile).yaml"))
    let data = try Data(contentsOf: URL(fileURLWithPath: convertPath("fixtures/exports/\(export)")))
    return try convertCSV(profile: loaded, bytes: Array(data), name: export)
}

private func convertValidate(_ xml: String) throws -> ValidationReport {
    try BatchValidator().validate(ByteSource(bytes: Array(xml.utf8), name: "converted.xml"))
}

/// A minimal profile for inline CSV tests: `id;date;category;quantity` plus optional extras.
private let convertSmallProfileYAML = """
    profile: 1
    name: test export
    csv: { delimiter: ";" }
    numbers: { decimalSeparator: ",", thousandsSeparator: "." }
    dates: { dateFormat: dd-MM-yyyy, timeZone: Europe/Amsterdam }
    batch: { sender: NL, agencyId: NL-TEST, defaultHandlingCode: H2 }
    retention: { years: 5 }
    columns:
      id: { field: recordId, prefix: NL-SZ- }
      date: seizureDate
      category: { field: item.category, map: categories }
      quantity: item.quantity
    constants:
      incidentType: other
      authorityType: police
      caseReference: TEST-1
      location.country: NL
      evaluation.source: B
      evaluation.information: "2"
      item.quantityUnit: pieces
    maps:
      categories:
        cat 2: F2
        zonder CE: unmarked
    """

private func convertSmallProfile() throws -> CSVMappingProfile {
    try CSVMappingProfile.parse(yaml: convertSmallProfileYAML, name: "small.yaml")
}

private func convertRecords(_ xml: String) throws -> [Record] {
    var records: [Record] = []
    let report = try ValidatingBatchReader().read(ByteSource(bytes: Array(xml.utf8), name: "x.xml"), header: { _ in },
                                                  record: { records.append($0) })
    #expect(report.errorCount == 0)
    return records
}

// MARK: - Mapping profiles

@Suite("Convert: mapping profiles")
struct ConvertProfileTests {
    @Test("The shipped profiles load with their settings")
    func shippedProfilesLoad() throws {
        let nl = try CSVMappingProfile.load(path: convertPath("fixtures/profiles/nl-politie.yaml"))
        #expect(nl.csv.delimiter == UInt8(ascii: ";"))
        #expect(nl.csv.encoding == .utf8)
        #expect(nl.numbers.decimalSeparator == ",")
        #expect(nl.dates.dateFormat == "dd-MM-yyyy")
        #expect(nl.batch.sender == "NL")
        let de = try CSVMappingProfile.load(path: convertPath("fixtures/profiles/de-zoll.yaml"))
        #expect(de.csv.delimiter == 9)
        #expect(de.csv.encoding == .isoLatin1)
        #expect(de.csv.skipLines == 2)
        #expect(de.dates.dateFormat == "dd.MM.yyyy")
        #expect(de.columns.first { $0.header == "Vorgangs-Nr." }?.mappings.map(\.field) == ["recordId", "shipment.recordId"])
    }

    @Test("Profile errors name the key, its line and a likely fix",
          arguments: [
            ("  date: seizureDate", "  date: seizureDat", "key 'columns.date': unknown field 'seizureDat'; did you mean 'seizureDate'?"),
            ("csv: { delimiter: \";\" }", "csv: { delimter: \";\" }", "key 'csv.delimter': unknown key 'delimter'; did you mean 'delimiter'?"),
            ("map: categories }", "map: categorien }", "key 'columns.category.map': there is no map 'categorien' under 'maps'"),
            ("  authorityType: police", "  authorityType: polizei", "key 'constants.authorityType': value 'polizei' is not an authority type"),
            ("  caseReference: TEST-1\n", "", "no column maps 'caseReference' and 'constants' has no value for it"),
            ("dateFormat: dd-MM-yyyy", "dateFormat: dd-MM-jjjj", "key 'dates.dateFormat': 'dd-MM-jjjj' uses a letter FWX does not know"),
            ("timeZone: Europe/Amsterdam", "timeZone: Europe/Atlantis", "key 'dates.timeZone': 'Europe/Atlantis' is not a time zone"),
          ])
    func profileErrors(original: String, replacement: String, expected: String) throws {
        let yaml = convertSmallProfileYAML.replacingOccurrences(of: original, with: replacement)
        #expect(yaml != convertSmallProfileYAML)
        do {
            _ = try CSVMappingProfile.parse(yaml: yaml, name: "small.yaml")
            Issue.record("the profile was accepted")
        } catch let error as FWXError {
            #expect(error.code == .profile)
            #expect(error.description.hasPrefix("profile small.yaml"))
            #expect(error.description.contains(expected), "\(error.description)")
        }
    }

    @Test("The line of the offending key is given")
    func profileErrorLine() throws {
        let yaml = convertSmallProfileYAML.replacingOccurrences(of: "  date: seizureDate", with: "  date: seizureDat")
        let line = yaml.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("seizureDat") }! + 1
        #expect(throws: FWXError.self) { try CSVMappingProfile.parse(yaml: yaml, name: "small.yaml") }
        do { _ = try CSVMappingProfile.parse(yaml: yaml, name: "small.yaml") } catch let error as FWXError {
            #expect(error.location == "profile small.yaml:\(line)")
        }
    }

    @Test("Every field and profile key is documented in docs/csv-profiles.md")
    func documented() throws {
        let docs = try String(contentsOfFile: convertPath("docs/csv-profiles.md"), encoding: .utf8)
        for field in CSVField.all {
            let found = docs.contains("| `\(field.name)` |")
            #expect(found, "field \(field.name) is not documented")
        }
        for key in ["csv.delimiter", "csv.quote", "csv.encoding", "csv.skipLines", "numbers.decimalSeparator",
                    "numbers.thousandsSeparator", "dates.dateFormat", "dates.timeFormat", "dates.dateTimeFormat",
                    "dates.timeZone", "dates.defaultTime", "batch.sender", "batch.agencyId", "batch.recipients",
                    "batch.defaultHandlingCode", "retention.years", "retention.days", "`field`", "`map`", "`prefix`",
                    "`format`", "`decimalSeparator`", "`optional`", "`constants`", "`maps`", "`profile`", "`name`",
                    "`description`", "pseudonymisation.keyFile", "pseudonymisation.alreadyPseudonymised"] {
            let found = docs.contains(key)
            #expect(found, "\(key) is not documented")
        }
        for column in FlatCSVExporter.columns {
            let found = docs.contains("`\(column)`")
            #expect(found, "flat column \(column) is not documented")
        }
    }
}

// MARK: - CSV reading

@Suite("Convert: CSV reader")
struct ConvertCSVReaderTests {
    private func rows(_ text: [UInt8], _ dialect: CSVDialect = CSVDialect(delimiter: UInt8(ascii: ";"))) throws -> [CSVRow] {
        let reader = CSVReader(source: ByteSource(bytes: text, name: "t.csv"), dialect: dialect)
        var rows: [CSVRow] = []
        while let row = try reader.next() { rows.append(row) }
        return rows
    }

    @Test("RFC 4180 quoting, doubled quotes, delimiters and line breaks inside quotes, line numbers")
    func quoting() throws {
        let text = "a;b;c\r\n1;\"x;y\";\"say \"\"hi\"\"\"\r\n2;\"two\nlines\r\nthree\";z\n\n3;;\r4;\"\";end"
        let read = try rows(Array(text.utf8))
        #expect(read.map(\.line) == [1, 2, 3, 7, 8])
        #expect(read[1].fields == ["1", "x;y", "say \"hi\""])
        #expect(read[2].fields == ["2", "two\nlines\r\nthree", "z"])
        #expect(read[3].fields == ["3", "", ""])
        #expect(read[4].fields == ["4", "", "end"])
        #expect(read.allSatisfy { $0.problem == nil })
        #expect(read[1].raw == Array("1;\"x;y\";\"say \"\"hi\"\"\"".utf8))
    }

    @Test("Broken quoting is a problem of its row, and reading goes on")
    func brokenQuoting() throws {
        let read = try rows(Array("a;b\n\"x\"y;1\nab\"c;2\nok;3\n\"open;4\nmore".utf8))
        #expect(read[1].problem?.contains("text after its closing quote") == true)
        #expect(read[2].problem?.contains("quote character inside an unquoted value") == true)
        #expect(read[3].fields == ["ok", "3"])
        #expect(read[4].line == 5)
        #expect(read[4].problem?.contains("not closed before the end of the file") == true)
    }

    @Test("Encodings: a UTF-8 byte order mark is skipped, ISO-8859-1 and Windows-1252 are decoded")
    func encodings() throws {
        let bom = try rows([0xEF, 0xBB, 0xBF] + Array("Maßeinheit;Köln\n".utf8), CSVDialect(delimiter: UInt8(ascii: ";"), encoding: .isoLatin1))
        #expect(bom[0].fields == ["Maßeinheit", "Köln"])
        let latin1 = try rows([0x4D, 0x61, 0xDF, 0x3B, 0x4B, 0xF6, 0x6C, 0x6E, 0x0A], CSVDialect(delimiter: UInt8(ascii: ";"), encoding: .isoLatin1))
        #expect(latin1[0].fields == ["Maß", "Köln"])
        let cp1252 = try rows([0x80, 0x35, 0x3B, 0x93, 0x71, 0x94, 0x0A], CSVDialect(delimiter: UInt8(ascii: ";"), encoding: .windows1252))
        #expect(cp1252[0].fields == ["€5", "\u{201C}q\u{201D}"])
        let invalid = try rows([0x4B, 0xF6, 0x6C, 0x6E, 0x0A], CSVDialect(delimiter: UInt8(ascii: ";"), encoding: .utf8))
        #expect(invalid[0].problem?.contains("not valid utf-8") == true)
        #expect(throws: FWXError.self) { try rows([0xFF, 0xFE, 0x41, 0x00]) }
        #expect(CSVEncoding(name: "Latin1") == .isoLatin1)
        #expect(CSVEncoding(name: "CP1252") == .windows1252)
        #expect(CSVEncoding.windows1252.encode("€ Köln") == [0x80, 0x20, 0x4B, 0xF6, 0x6C, 0x6E])
    }

    @Test("The CSV writer quotes what needs quoting")
    func writer() {
        let bytes = CSVWriter.record(["plain", "a,b", "say \"x\"", "two\nlines", " pad"], dialect: CSVDialect())
        #expect(String(decoding: bytes, as: UTF8.self) == "plain,\"a,b\",\"say \"\"x\"\"\",\"two\nlines\",\" pad\"\r\n")
    }

    @Test("Date patterns")
    func datePatterns() throws {
        let pattern = try #require(DatePattern("d.M.yyyy HH:mm"))
        #expect(DatePattern("dd-MM-jjjj") == nil)
        #expect(pattern.description == "d.M.yyyy HH:mm")
    }
}

// MARK: - CSV → XML

@Suite("Convert: CSV to XML")
struct ConvertCSVTests {
    @Test("The shipped sample exports convert to batches that pass BatchValidator and xmllint",
          arguments: [("nl-politie", "nl-politie.csv", 28, 20, 0), ("de-zoll", "de-zoll.csv", 24, 16, 13)])
    func samplesConvert(profile: String, export: String, rows: Int, seizures: Int, shipments: Int) throws {
        let result = try convertCSVFile(profile: profile, export: export)
        #expect(result.rejections.isEmpty, "\(result.rejections.map(\.description))")
        #expect(result.summary.rowsRead == rows)
        #expect(result.summary.rowsRejected == 0)
        #expect(result.summary.seizures == seizures)
        #expect(result.summary.shipments == shipments)
        let report = try convertValidate(result.xml)
        #expect(report.errorCount == 0, "\(report.findings.map(\.humanDescription))")
        #expect(report.records == seizures + shipments)
        let folder = try convertTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/\(profile).xml"
        try result.xml.write(toFile: path, atomically: true, encoding: .utf8)
        let lint = try convertXmllint(path)
        #expect(lint.status == 0, "\(lint.stderr)")
        #expect(lint.stderr.contains("validates"))
    }

    @Test("Values are read the way the profile says: maps, prefixes, decimal comma, dates in the export's zone")
    func valuesMapped() throws {
        let result = try convertCSVFile(profile: "nl-politie", export: "nl-politie.csv")
        let records = try convertRecords(result.xml)
        guard case .seizure(let first)? = records.first else { Issue.record("no seizure"); return }
        #expect(first.recordId == "NL-SZ-PL1700-2025351201")
        #expect(first.caseReference == "2025351201")
        #expect(first.seizureDateTime == "2025-12-28T21:40:00+01:00")
        #expect(first.incidentType == .borderOrRoadCheck)
        #expect(first.seizingAuthority == SeizingAuthority(type: .police, name: "Eenheid Rotterdam"))
        #expect(first.location.latitude == 51.9225 && first.location.longitude == 4.4792)
        #expect(first.items == [Item(category: .unmarked, productName: "Cobra 6", brand: "Cobra", unNumber: "0333",
                                     quantity: Quantity(120, .pieces), grossMassKg: 18,
                                     netExplosiveQuantity: NetExplosiveQuantity(kg: 4.2, basis: .estimated))])
        #expect(first.parties == [Party(role: .suspect, person: Person(pseudonym: "p1:3f9a0c22b71e5d40", nationality: "NL", birthYear: 1998))])
        #expect(first.vehicles == [Vehicle(plate: "VL-482-K", registrationCountry: "NL")])
        #expect(first.retentionUntil == "2030-12-28")
        let seizures = records.compactMap { if case .seizure(let s) = $0 { return s } else { return nil } }
        // Summer time, thousands separators, a quoted remark with a line break.
        let summer = try #require(seizures.first { $0.recordId == "NL-SZ-PL1700-2026061207" })
        #expect(summer.seizureDateTime == "2026-06-14T22:30:00+02:00")
        let storage = try #require(seizures.first { $0.recordId == "NL-SZ-PL0500-2026011876" })
        #expect(storage.items.map(\.quantity.value) == [1200, 300, 2400])
        #expect(storage.items.map(\.category) == [.f4, .f3, .unmarked])
        let multiline = try #require(seizures.first { $0.recordId == "NL-SZ-PL0800-2026045521" })
        #expect(multiline.remarks == "Opslag in kelderbox.\nTweede kelderbox leeg aangetroffen.")
        let polish = try #require(seizures.first { $0.recordId == "NL-SZ-PL0400-2026090411" })
        #expect(polish.vehicles == [Vehicle(plate: "WX 4821K", registrationCountry: "PL")])
    }

    @Test("Consecutive rows with one id are one seizure; shipment columns give a linked shipment")
    func groupingAndShipments() throws {
        let result = try convertCSVFile(profile: "de-zoll", export: "de-zoll.csv")
        let records = try convertRecords(result.xml)
        let seizure = try #require(records.compactMap { record -> SeizureRecord? in
            if case .seizure(let s) = record, s.recordId == "DE-SZ-HZA-FF-2025-0233" { return s } else { return nil }
        }.first)
        #expect(seizure.items.count == 3)
        #expect(seizure.items[0].quantity == Quantity(60, .boxes))
        #expect(seizure.items[0].hazardDivision == .d13G)
        #expect(seizure.items[2].productName == "Römerlicht 25 Schuss")
        #expect(seizure.shipmentLinks == [RecordLink("DE-SH-HZA-FF-2025-0233")])
        #expect(seizure.location.unLocode == "DEFFO")
        let shipment = try #require(records.compactMap { record -> ShipmentRecord? in
            if case .shipment(let s) = record, s.recordId == "DE-SH-HZA-FF-2025-0233" { return s } else { return nil }
        }.first)
        #expect(shipment.transportMode == .road)
        #expect(shipment.origin == Location(country: "PL", municipality: "Slubice"))
        #expect(shipment.seizureLinks == [RecordLink("DE-SZ-HZA-FF-2025-0233")])
        #expect(shipment.departureDate == "2025-12-17")
        #expect(shipment.interceptionDate == "2025-12-18")
        #expect(shipment.vehicles == [Vehicle(plate: "FSL 12345", registrationCountry: "PL")])
        let sea = try #require(records.compactMap { record -> ShipmentRecord? in
            if case .shipment(let s) = record, s.recordId == "DE-SH-ZFA-E-2026-0815" { return s } else { return nil }
        }.first)
        #expect(sea.transportMode == .sea)
        #expect(sea.containers == ["MSCU4821931"])
        #expect(sea.customsMRN == "26DE00471100008155")
        #expect(sea.declaredGoods == Goods(description: "Spielwaren", hsCode: "950300"))
        #expect(sea.transportDocuments == [TransportDocument(type: .billOfLading, number: "SHA-HAM-2026-00418")])
        // A row without shipment columns gives no shipment.
        #expect(!records.contains { $0.recordId == "DE-SH-ZFA-F-2026-0301" })
    }

    @Test("Bad rows are reported with their line and column and go to the reject file; good rows convert",
          arguments: [("nl-politie", "nl-politie-with-bad-rows.csv", [8, 14, 20], ["Categorie", "Datum", "CE-nummer"], 20),
                      ("de-zoll", "de-zoll-with-bad-rows.csv", [7, 15, 23], ["Container-Nr.", "Kategorie", nil], 16)])
    func badRows(profile: String, export: String, lines: [Int], columns: [String?], seizures: Int) throws {
        let result = try convertCSVFile(profile: profile, export: export)
        #expect(result.rejections.map(\.line) == lines)
        #expect(result.rejections.map(\.column) == columns)
        #expect(result.rejections.allSatisfy { $0.file == export })
        #expect(result.summary.rowsRejected == 3)
        #expect(result.summary.seizures == seizures)
        let report = try convertValidate(result.xml)
        #expect(report.errorCount == 0, "\(report.findings.map(\.humanDescription))")

        let profileData = try CSVMappingProfile.load(path: convertPath("fixtures/profiles/\(profile).yaml"))
        let reader = CSVReader(source: ByteSource(bytes: result.rejectFile, name: "rejects.csv"), dialect: profileData.csv.dialect)
        let header = try #require(try reader.next())
        #expect(Array(header.fields.prefix(2)) == ["fwx_line", "fwx_reason"])
        var rejected: [CSVRow] = []
        while let row = try reader.next() { rejected.append(row) }
        #expect(rejected.map { $0.fields.first } == lines.map { String($0) })
        for (row, rejection) in zip(rejected, result.rejections) {
            #expect(row.fields[1] == rejection.message)
        }
    }

    @Test("The message names the file, line, column and the one failing value")
    func rejectionMessage() throws {
        let result = try convertCSVFile(profile: "nl-politie", export: "nl-politie-with-bad-rows.csv")
        #expect(result.rejections.first?.description
                == "nl-politie-with-bad-rows.csv:8: column 'Categorie': value 'vuurwerk X' has no mapping to a CE category; add it to the profile's categorieen map")
        #expect(result.rejections[2].reason.hasSuffix("(FWX-R004)"))
    }

    @Test("A seizure is converted whole or not at all")
    func wholeSeizure() throws {
        let csv = "id;date;category;quantity\n1;01-11-2026;cat 2;10\n2;02-11-2026;cat 2;5\n2;02-11-2026;vuurwerk X;3\n2;;zonder CE;1\n3;03-11-2026;F4;7\n"
        let result = try convertCSV(profile: try convertSmallProfile(), bytes: Array(csv.utf8))
        #expect(result.summary.seizures == 2)
        #expect(result.summary.rowsRejected == 3)
        #expect(result.rejections.map(\.line) == [3, 4, 5])
        #expect(result.rejections[0].reason.hasPrefix("rejected together with line 4"))
        #expect(result.rejections[1].column == "category")
        let records = try convertRecords(result.xml)
        #expect(records.map(\.recordId) == ["NL-SZ-1", "NL-SZ-3"])
        guard case .seizure(let third) = records[1] else { Issue.record("not a seizure"); return }
        #expect(third.items.first?.category == .f4)
    }

    @Test("Rows of a seizure must agree, be consecutive, and numbers follow the profile's format")
    func consistency() throws {
        let csv = """
            id;date;category;quantity
            1;01-11-2026;cat 2;1.234,5
            1;01-11-2026;cat 2;2
            2;02-11-2026;cat 2;5
            2;03-11-2026;cat 2;5
            3;03-11-2026;cat 2;12.5
            1;04-11-2026;cat 2;1
            4;05-11-2026;cat 2;0
            5;05-11-2099;cat 2;1
            """
        let result = try convertCSV(profile: try convertSmallProfile(), bytes: Array(csv.utf8))
        let byLine = Dictionary(grouping: result.rejections, by: \.line)
        #expect(byLine[5]?.first?.reason.contains("differs from line 4") == true)
        #expect(byLine[6]?.first?.reason.contains("is not a number") == true)
        #expect(byLine[7]?.first?.reason.contains("already used by the rows from line 2") == true)
        #expect(byLine[8]?.first?.reason.contains("must be above 0") == true)
        #expect(byLine[9]?.first?.reason.contains("lies in the future") == true)
        #expect(byLine[9]?.first?.column == "date")
        let records = try convertRecords(result.xml)
        #expect(records.map(\.recordId) == ["NL-SZ-1"])
        guard case .seizure(let first) = records[0] else { return }
        #expect(first.items.map(\.quantity.value) == [1234.5, 2])
    }

    @Test("A header that lacks a profile column stops the conversion")
    func missingColumn() throws {
        let csv = "id;date;quantity\n1;01-11-2026;1\n"
        #expect { try convertCSV(profile: try convertSmallProfile(), bytes: Array(csv.utf8)) } throws: { error in
            guard let error = error as? FWXError else { return false }
            return error.description == "export.csv:1: the header has no column 'category', which profile small.yaml maps; mark a column 'optional: true' in the profile if exports may lack it"
        }
    }

    @Test("Sender and agency can be given instead of the profile's; progress is reported")
    func optionsAndProgress() throws {
        let csv = "id;date;category;quantity\n1;01-11-2026;cat 2;1\n"
        var calls = 0
        let converter = try CSVToBatchConverter(profile: try convertSmallProfile(),
                                                options: CSVConversionOptions(agencyId: "NL-OTHER", sequenceNumber: 42))
        var xml = ""
        var writer = BatchXMLWriter { xml += $0 }
        _ = try converter.convert(ByteSource(bytes: Array(csv.utf8), name: "x.csv"), to: &writer, progress: { _, _ in calls += 1 })
        #expect(calls >= 1)
        #expect(converter.header.sender == NodeIdentity(country: "NL", agencyId: "NL-OTHER"))
        #expect(converter.header.sequenceNumber == 42)
        #expect(xml.contains("<SequenceNumber>42</SequenceNumber>"))
        #expect(throws: FWXError.self) {
            try CSVToBatchConverter(profile: try convertSmallProfile(), options: CSVConversionOptions(senderCountry: "XX"))
        }
    }
}

// MARK: - XML ↔ JSON, flat CSV

@Suite("Convert: JSON and flat CSV")
struct ConvertJSONTests {
    private func json(from xml: [UInt8], name: String) throws -> (String, BatchReadReport) {
        var text = ""
        let report = try BatchJSONConverter.xmlToJSON(ByteSource(bytes: xml, name: name), output: { text += $0 })
        return (text, report)
    }

    private func xml(fromJSON text: String) throws -> String {
        var xml = ""
        var writer = BatchXMLWriter { xml += $0 }
        try BatchJSONConverter.jsonToXML(ByteSource(bytes: Array(text.utf8), name: "batch.json"), writer: &writer)
        return xml
    }

    /// fixtures/batches/nl-sample.xml: its bytes, the batch read from it, and the reader's report.
    private func readSample() throws -> (bytes: [UInt8], batch: Batch, report: BatchReadReport) {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: convertPath("fixtures/batches/nl-sample.xml"))))
        var header: BatchHeader?
        var records: [Record] = []
        let report = try ValidatingBatchReader().read(ByteSource(bytes: bytes, name: "nl-sample.xml"),
                                                      header: { header = $0 }, record: { records.append($0) })
        return (bytes, Batch(header: try #require(header), records: records), report)
    }

    @Test("XML → JSON → XML gives the canonical XML of nl-sample.xml")
    func roundTripCanonical() throws {
        let (original, batch, report) = try readSample()
        #expect(report.isValid)
        let canonical = BatchXMLWriter.string(for: batch)

        let (jsonText, jsonReport) = try json(from: original, name: "nl-sample.xml")
        #expect(jsonReport.isValid && jsonReport.recordsDelivered == 3)
        #expect(try JSONDecoder().decode(Batch.self, from: Data(jsonText.utf8)) == batch)
        let back = try xml(fromJSON: jsonText)
        #expect(back == canonical)
        #expect(String(decoding: original, as: UTF8.self) != canonical, "the fixture is hand-written, not canonical")
        // The JSON layout: header first, one record per line, kind first.
        let lines = jsonText.split(separator: "\n")
        #expect(lines.first == "{")
        #expect(lines[1].hasPrefix("  \"header\": {\"batchId\":"))
        #expect(lines[3].hasPrefix("    {\"kind\":\"seizure\","))
        #expect(lines[4].hasPrefix("    {\"kind\":\"shipment\","))
    }

    @Test("the writer escapes markup characters and CR in text and keeps other UTF-8 as it is; the text reads back")
    func writerEscaping() throws {
        var (_, batch, _) = try readSample()
        guard case .seizure(var seizure) = try #require(batch.records.first) else {
            Issue.record("the sample's first record is a seizure")
            return
        }
        let remarks = "a & b < c > \"d\" 'e'\r\nZachód ü ß 🎆 &&<<"
        seizure.remarks = remarks
        let fragment = BatchXMLWriter.fragment(for: .seizure(seizure))
        #expect(fragment.contains("<Remarks>a &amp; b &lt; c &gt; &quot;d&quot; 'e'&#13;\nZachód ü ß 🎆 &amp;&amp;&lt;&lt;</Remarks>"),
                "\(fragment)")
        batch.records[0] = .seizure(seizure)
        let xml = BatchXMLWriter.string(for: batch)
        var readBack: [Record] = []
        let report = try ValidatingBatchReader().read(ByteSource(bytes: Array(xml.utf8), name: "escaped.xml"),
                                                      header: { _ in }, record: { readBack.append($0) })
        #expect(report.isValid, "\(report.findings)")
        guard case .seizure(let back) = try #require(readBack.first) else { return }
        #expect(back.remarks == remarks)
    }

    @Test("XML → JSON → XML gives the same bytes for fwx generate output (CLI)")
    func roundTripBytes() throws {
        let folder = try convertTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let generated = folder + "/g.xml", json = folder + "/g.json", back = folder + "/g2.xml"
        #expect(try convertFWX("generate", "--records", "200", "--seed", "5", "-o", generated).status == 0)
        let toJSON = try convertFWX("convert", "--from", "xml", "--to", "json", generated, "-o", json)
        #expect(toJSON.status == 0, "\(toJSON.stderr)")
        let toXML = try convertFWX("convert", "--from", "json", "--to", "xml", json, "-o", back)
        #expect(toXML.status == 0, "\(toXML.stderr)")
        let first = try Data(contentsOf: URL(fileURLWithPath: generated))
        let second = try Data(contentsOf: URL(fileURLWithPath: back))
        #expect(first.count > 100_000)
        #expect(first == second)
    }

    @Test("The JSON reader refuses what it would lose or misread",
          arguments: [
            ("\"remarks\":", "\"remark\":", "records[0]: key \"remark\" is not part of the FWX JSON shape"),
            ("\"category\":\"F4\"", "\"category\":\"F9\"", "records[0].items[0].category: not a code of its list"),
            ("\"revision\":1,", "", "records[0]: missing key \"revision\""),
            ("\"sequenceNumber\":17", "\"sequenceNumber\":\"17\"", "header.sequenceNumber: expected a whole number"),
          ])
    func strictJSON(original: String, replacement: String, expected: String) throws {
        let xmlBytes = Array(try Data(contentsOf: URL(fileURLWithPath: convertPath("fixtures/batches/nl-sample.xml"))))
        let (jsonText, _) = try json(from: xmlBytes, name: "nl-sample.xml")
        let broken = jsonText.replacingOccurrences(of: original, with: replacement)
        #expect(broken != jsonText)
        #expect { try xml(fromJSON: broken) } throws: { error in
            guard let error = error as? FWXError, error.code == .json else { return false }
            return error.description.contains(expected) && error.description.hasPrefix("batch.json:")
        }
    }

    @Test("The reader's specimen has every key of the model, so that no real key is refused as unknown")
    func specimenIsComplete() throws {
        var gaps: [String] = []
        func walk(_ value: Any, _ path: String) {
            let mirror = Mirror(reflecting: value)
            switch mirror.displayStyle {
            case .optional?:
                if let child = mirror.children.first { walk(child.value, path) }
                // A party is a person or an organisation; the specimen has one of each.
                else if !path.hasSuffix(".person") && !path.hasSuffix(".organisation") { gaps.append(path) }
            case .collection?:
                if mirror.children.isEmpty { gaps.append(path) }
                for (index, child) in mirror.children.enumerated() { walk(child.value, "\(path)[\(index)]") }
            case .struct?, .enum?:
                for child in mirror.children { walk(child.value, path + "." + (child.label ?? "?")) }
            default:
                break
            }
        }
        let specimen = BatchJSONReader.specimen
        walk(specimen[0], "specimen")
        #expect(gaps.isEmpty, "absent in the specimen: \(gaps)")
        #expect(specimen.map(\.header.recipients) == [.countries(["DE"]), .allPartners])
        // It round-trips through the writer and the strict reader.
        for batch in specimen {
            var text = ""
            var writer = BatchJSONWriter { text += $0 }
            try writer.writeHeader(batch.header)
            for record in batch.records { try writer.writeRecord(record) }
            try writer.finish()
            var records: [Record] = []
            var header: BatchHeader?
            try BatchJSONReader(source: ByteSource(bytes: Array(text.utf8), name: "s.json"))
                .read(header: { header = $0 }, record: { record, _ in records.append(record) })
            #expect(Batch(header: try #require(header), records: records) == batch)
        }
    }

    @Test("A key of the other record kind is refused too")
    func crossKindKey() throws {
        let xmlBytes = Array(try Data(contentsOf: URL(fileURLWithPath: convertPath("fixtures/batches/nl-sample.xml"))))
        let (jsonText, _) = try json(from: xmlBytes, name: "nl-sample.xml")
        let broken = jsonText.replacingOccurrences(of: "{\"kind\":\"seizure\",\"caseReference\"",
                                                   with: "{\"kind\":\"seizure\",\"containers\":[\"CSQU3054383\"],\"caseReference\"")
        #expect(broken != jsonText)
        #expect { try xml(fromJSON: broken) } throws: { error in
            (error as? FWXError)?.description.contains("records[0]: key \"containers\" is not part of the FWX JSON shape") == true
        }
    }

    @Test("The JSON header must come first; other top-level keys are refused; input may be pretty-printed")
    func jsonLayout() throws {
        let xmlBytes = Array(try Data(contentsOf: URL(fileURLWithPath: convertPath("fixtures/batches/nl-sample.xml"))))
        let (jsonText, _) = try json(from: xmlBytes, name: "nl-sample.xml")
        let object = try JSONSerialization.jsonObject(with: Data(jsonText.utf8)) as! [String: Any]
        let pretty = String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self)
        #expect(try xml(fromJSON: pretty) == (try xml(fromJSON: jsonText)))
        let swapped = "{\"records\": [], \"header\": \(try JSONSerialization.data(withJSONObject: object["header"]!).count)}"
        #expect(throws: FWXError.self) { try xml(fromJSON: swapped) }
        let extra = jsonText.replacingOccurrences(of: "\n  \"records\"", with: "\n  \"comment\": 1,\n  \"records\"")
        #expect(throws: FWXError.self) { try xml(fromJSON: extra) }
    }

    @Test("An invalid XML input is reported and its failing records are left out")
    func invalidXML() throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: convertPath("fixtures/batches/invalid-xsd/bad-category.xml"))))
        let (_, report) = try json(from: bytes, name: "bad-category.xml")
        #expect(!report.isValid)
        #expect(report.findings.contains { $0.rule == RuleID.schema })
        #expect(report.recordsDelivered < report.records)
    }

    @Test("Flat CSV: the documented header, one row per item, one per shipment")
    func flatCSV() throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: convertPath("fixtures/batches/nl-sample.xml"))))
        var output: [UInt8] = []
        let (report, rows) = try FlatCSVExporter.export(ByteSource(bytes: bytes, name: "nl-sample.xml"), output: { output += $0 })
        #expect(report.isValid)
        #expect(rows == 4)
        #expect(Array(output.prefix(3)) == [0xEF, 0xBB, 0xBF])
        let reader = CSVReader(source: ByteSource(bytes: output, name: "flat.csv"), dialect: FlatCSVExporter.dialect)
        let header = try #require(try reader.next())
        #expect(header.fields == FlatCSVExporter.columns)
        var table: [[String: String]] = []
        while let row = try reader.next() {
            #expect(row.fields.count == header.fields.count)
            table.append(Dictionary(uniqueKeysWithValues: zip(header.fields, row.fields)))
        }
        #expect(table.map { $0["record_kind"] } == ["seizure", "seizure", "shipment", "seizure"])
        #expect(table.map { $0["item_number"] } == ["1", "2", "", "1"])
        #expect(table[0]["record_id"] == "NL-SZ-2026-000001" && table[1]["record_id"] == "NL-SZ-2026-000001")
        #expect(table[1]["item_category"] == "unmarked" && table[1]["item_quantity"] == "12" && table[1]["item_quantity_unit"] == "boxes")
        #expect(table[0]["location_latitude"] == "51.95")
        #expect(table[0]["linked_records"] == "NL-SH-2026-000001 | PL-SH-2026-009912 (external)")
        #expect(table[2]["containers"] == "CSQU3054383" && table[2]["item_category"] == "")
        #expect(table[3]["handling_code"] == "H2" && table[3]["withdrawal_reason"] == "erroneous")
        // Rows per seizure = items of the seizure, on a generated batch too.
        var generator = try SyntheticBatchGenerator(SyntheticBatchConfiguration(records: 60, seed: 9))
        var xml = ""
        var writer = BatchXMLWriter { xml += $0 }
        try generator.write(to: &writer)
        var items = 0, shipments = 0
        _ = try ValidatingBatchReader().read(ByteSource(bytes: Array(xml.utf8), name: "g.xml"), header: { _ in }, record: {
            if case .seizure(let s) = $0 { items += s.items.count } else { shipments += 1 }
        })
        let flat = try FlatCSVExporter.export(ByteSource(bytes: Array(xml.utf8), name: "g.xml"), output: { _ in })
        #expect(flat.rows == items + shipments)
    }

    @Test("Flat CSV guards cells a spreadsheet would run as formulas")
    func formulaGuard() throws {
        var exporter = FlatCSVExporter(output: { _ in })
        try exporter.begin(BatchHeader(batchId: "6f1c2b9e-4a7d-4c1e-9b7a-2d5e8f0a1c3b", sender: NodeIdentity(country: "NL", agencyId: "NL-X"),
                                       recipients: .allPartners, createdAt: "2026-11-01T00:00:00Z", sequenceNumber: 1,
                                       defaultHandlingCode: .h2))
        let seizure = SeizureRecord(recordId: "NL-SZ-1", incidentType: .other, seizureDateTime: "2026-11-01T00:00:00Z",
                                    seizingAuthority: SeizingAuthority(type: .police), caseReference: "=HYPERLINK(\"x\")",
                                    location: Location(country: "NL", longitude: nil), evaluation: Evaluation(source: .b, information: .two),
                                    items: [Item(category: .f2, quantity: Quantity(1, .pieces))], retentionUntil: "2031-11-01")
        let row = exporter.rows(for: .seizure(seizure))[0]
        let cells = Dictionary(uniqueKeysWithValues: zip(FlatCSVExporter.columns, row))
        #expect(cells["case_reference"] == "'=HYPERLINK(\"x\")")
    }
}

// MARK: - fwx convert

@Suite("Convert: the fwx convert command")
struct ConvertCommandTests {
    @Test("CSV → XML: exit 0, output and reject file written, summary on standard error")
    func csvSuccess() throws {
        let folder = try convertTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let out = folder + "/out.xml"
        let run = try convertFWX("convert", "--from", "csv", "--to", "xml", "--profile", "fixtures/profiles/de-zoll.yaml",
                                 "--sequence", "7", "fixtures/exports/de-zoll-with-bad-rows.csv", "-o", out)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("fixtures/exports/de-zoll-with-bad-rows.csv:7: column 'Container-Nr.': container number 'OOLU8803413' has check digit 3, ISO 6346 gives 2"))
        #expect(run.stderr.contains("fwx convert: 27 rows read, 29 records written (16 seizures, 13 shipments), 3 rows rejected (see \(out).rejects.csv)"))
        #expect(run.stderr.contains("\(out): valid (29 records, 0 errors"))
        let xml = try String(contentsOfFile: out, encoding: .utf8)
        #expect(xml.contains("<SequenceNumber>7</SequenceNumber>"))
        let lint = try convertXmllint(out)
        #expect(lint.status == 0, "\(lint.stderr)")
        let rejects = try Data(contentsOf: URL(fileURLWithPath: out + ".rejects.csv"))
        // The reject file keeps the input's encoding (ISO-8859-1) and delimiter (tab).
        #expect(String(data: rejects, encoding: .isoLatin1)?.contains("15\tcolumn 'Kategorie': value 'Böller (Polen)' has no mapping") == true)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.contains(".partial") }
        #expect(leftovers.isEmpty)
    }

    @Test("--strict: rejected rows fail the conversion with exit 1 and nothing is written")
    func strict() throws {
        let folder = try convertTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let out = folder + "/out.xml"
        let run = try convertFWX("convert", "--from", "csv", "--to", "xml", "--profile", "fixtures/profiles/nl-politie.yaml",
                                 "--strict", "fixtures/exports/nl-politie-with-bad-rows.csv", "-o", out)
        #expect(run.status == 1)
        #expect(run.stderr.contains("nl-politie-with-bad-rows.csv:14: column 'Datum': value '31-02-2026' is not a date written dd-MM-yyyy"))
        #expect(run.stderr.contains("--strict: 3 of 31 rows rejected; nothing written"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
        // The clean export passes --strict.
        let clean = try convertFWX("convert", "--from", "csv", "--to", "xml", "--profile", "fixtures/profiles/nl-politie.yaml",
                                   "--strict", "--rejects", folder + "/r.csv", "fixtures/exports/nl-politie.csv", "-o", out)
        #expect(clean.status == 0, "\(clean.stderr)")
        #expect(FileManager.default.fileExists(atPath: out))
        #expect(!FileManager.default.fileExists(atPath: folder + "/r.csv"))
    }

    @Test("Usage errors exit 2", arguments: [
        ["convert", "--from", "csv", "--to", "xml", "fixtures/exports/nl-politie.csv", "-o", "/tmp/never.xml"],
        ["convert", "--from", "csv", "--to", "json", "--profile", "fixtures/profiles/nl-politie.yaml", "fixtures/exports/nl-politie.csv", "-o", "/tmp/never.json"],
        ["convert", "--from", "xml", "--to", "json", "--strict", "fixtures/batches/nl-sample.xml", "-o", "/tmp/never.json"],
        ["convert", "--from", "csv", "--to", "xml", "--profile", "fixtures/profiles/nl-politie.yaml", "--sender", "XX", "fixtures/exports/nl-politie.csv", "-o", "/tmp/never.xml"],
        ["convert", "--from", "csv", "--to", "xml", "--profile", "fixtures/profiles/nl-politie.yaml", "fixtures/exports/missing.csv", "-o", "/tmp/never.xml"],
        ["convert", "--from", "csv", "--to", "xml", "--profile", "fixtures/profiles/de-zoll.yaml", "fixtures/exports/nl-politie.csv", "-o", "/tmp/never.xml"],
    ])
    func usage(arguments: [String]) throws {
        let run = try convertRun(try convertBinary(), arguments)
        #expect(run.status == 2, "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/never.xml") && !FileManager.default.fileExists(atPath: "/tmp/never.json"))
    }

    @Test("A profile error exits 2 and names the key")
    func profileError() throws {
        let folder = try convertTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let text = try String(contentsOfFile: convertPath("fixtures/profiles/nl-politie.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "  Datum: seizureDate", with: "  Datum: seizureDat")
        try text.write(toFile: folder + "/nl-politie.yaml", atomically: true, encoding: .utf8)
        let run = try convertFWX("convert", "--from", "csv", "--to", "xml", "--profile", folder + "/nl-politie.yaml",
                                 "fixtures/exports/nl-politie.csv", "-o", folder + "/out.xml")
        #expect(run.status == 2)
        #expect(run.stderr.contains("nl-politie.yaml:37: key 'columns.Datum': unknown field 'seizureDat'; did you mean 'seizureDate'?"))
    }

    @Test("XML → JSON and XML → CSV: an invalid input exits 1 and writes nothing, unless --keep-invalid")
    func invalidInput() throws {
        let folder = try convertTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for format in ["json", "csv"] {
            let out = folder + "/out.\(format)"
            let run = try convertFWX("convert", "--from", "xml", "--to", format, "fixtures/batches/invalid-xsd/bad-category.xml", "-o", out)
            #expect(run.status == 1)
            #expect(run.stderr.contains("error[FWX-S001]"))
            #expect(run.stderr.contains("bad-category.xml: INVALID"))
            #expect(!FileManager.default.fileExists(atPath: out))
            let kept = try convertFWX("convert", "--from", "xml", "--to", format, "--keep-invalid",
                                      "fixtures/batches/invalid-xsd/bad-category.xml", "-o", out)
            #expect(kept.status == 1)
            #expect(FileManager.default.fileExists(atPath: out))
        }
        let valid = try convertFWX("convert", "--from", "xml", "--to", "csv", "fixtures/batches/nl-sample.xml", "-o", folder + "/nl.csv")
        #expect(valid.status == 0, "\(valid.stderr)")
        #expect(valid.stderr.contains("3 records written to \(folder)/nl.csv as 4 rows"))
    }

    @Test("JSON → XML: a malformed document exits 1; an invalid result is not written")
    func jsonErrors() throws {
        let folder = try convertTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let json = folder + "/nl.json"
        #expect(try convertFWX("convert", "--from", "xml", "--to", "json", "fixtures/batches/nl-sample.xml", "-o", json).status == 0)
        let text = try String(contentsOfFile: json, encoding: .utf8)
        try text.replacingOccurrences(of: "\"remarks\":", with: "\"remark\":").write(toFile: folder + "/typo.json", atomically: true, encoding: .utf8)
        let typo = try convertFWX("convert", "--from", "json", "--to", "xml", folder + "/typo.json", "-o", folder + "/typo.xml")
        #expect(typo.status == 1)
        #expect(typo.stderr.contains("typo.json:4: records[0]: key \"remark\" is not part of the FWX JSON shape"))
        #expect(!FileManager.default.fileExists(atPath: folder + "/typo.xml"))
        // Valid JSON, but the record id no longer starts with the sender country: a business rule fails.
        try text.replacingOccurrences(of: "\"recordId\":\"NL-SZ-2026-000000\"", with: "\"recordId\":\"BE-SZ-2026-000000\"")
            .write(toFile: folder + "/rule.json", atomically: true, encoding: .utf8)
        let rule = try convertFWX("convert", "--from", "json", "--to", "xml", folder + "/rule.json", "-o", folder + "/rule.xml")
        #expect(rule.status == 1)
        #expect(rule.stderr.contains("error[FWX-R009]"))
        #expect(!FileManager.default.fileExists(atPath: folder + "/rule.xml"))
        let ok = try convertFWX("convert", "--from", "json", "--to", "xml", json, "-o", folder + "/back.xml")
        #expect(ok.status == 0, "\(ok.stderr)")
    }
}
