import Foundation
import FoundationXML
import Testing

/// Checks that keep the repository's promises: documentation matches the code, schemas are documented, and the
/// C shims match the system libraries they wrap.
@Suite("Project")
struct ProjectTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func runProject(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static var fwxBinary: String {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("fwx").path,
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("fwx").path,
            root.appendingPathComponent(".build/debug/fwx").path,
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates.last!
    }

    @Test("docs/rules.md holds exactly the table `fwx rules` prints")
    func rulesTableIsDocumented() throws {
        let (status, table) = try Self.runProject([Self.fwxBinary, "rules"])
        #expect(status == 0)
        let doc = try String(contentsOf: Self.root.appendingPathComponent("docs/rules.md"), encoding: .utf8)
        let rows = table.split(separator: "\n").filter { $0.hasPrefix("| FWX-") }
        #expect(rows.count >= 30)
        for row in rows {
            #expect(doc.contains(row), "docs/rules.md lacks: \(row); regenerate the table with fwx rules")
        }
        let documentedRows = doc.split(separator: "\n").filter { $0.hasPrefix("| FWX-") }
        #expect(documentedRows.count == rows.count, "docs/rules.md lists rules that fwx no longer has")
    }

    @Test("every element, attribute, type and code in the schemas has xs:documentation", arguments: [
        "v1/batch.xsd", "v1/records.xsd", "v1/codelists.xsd", "v1/receipt.xsd",
        "v2/batch.xsd", "v2/records.xsd", "v2/codelists.xsd",
    ])
    func schemasAreDocumented(file: String) throws {
        let url = Self.root.appendingPathComponent("schemas").appendingPathComponent(file)
        let document = try XMLDocument(contentsOf: url, options: [])
        let undocumented = try document.nodes(forXPath: """
            //*[local-name()='element' or local-name()='attribute' or local-name()='enumeration' \
            or local-name()='complexType' or local-name()='simpleType' or local-name()='any']\
            [not(*[local-name()='annotation']/*[local-name()='documentation'][normalize-space()])]
            """)
        #expect(undocumented.isEmpty, "undocumented in \(file): \(undocumented.prefix(5).map { $0.xmlString.prefix(120) })")
    }

    @Test("the CXMLSec shim defines what pkg-config says libxmlsec1 was built with")
    func xmlsecDefinesMatchPkgConfig() throws {
        let (status, flags) = try Self.runProject(["/usr/bin/pkg-config", "--cflags", "xmlsec1-openssl"])
        #expect(status == 0, "pkg-config xmlsec1-openssl failed: run scripts/setup")
        let shim = try String(contentsOf: Self.root.appendingPathComponent("Sources/CXMLSec/shim.h"), encoding: .utf8)
        let defines = flags.split(separator: " ").filter { $0.hasPrefix("-D") }.map { $0.dropFirst(2) }
        #expect(!defines.isEmpty)
        for define in defines {
            let name = define.split(separator: "=")[0]
            #expect(shim.contains("#define \(name)"), "shim.h does not define \(name) (pkg-config: -D\(define))")
        }
    }

    @Test("JSON input accepts EL (and lower case) for Greece and writes GR")
    func jsonInputMapsEL() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fwx-el-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let json = directory.appendingPathComponent("sample.json").path
        let sample = Self.root.appendingPathComponent("fixtures/batches/nl-sample.xml").path
        #expect(try Self.runProject([Self.fwxBinary, "convert", "--from", "xml", "--to", "json", sample, "-o", json]).status == 0)
        let greek = try String(contentsOfFile: json, encoding: .utf8).replacingOccurrences(of: "\"PL\"", with: "\"el\"")
        #expect(greek.contains("\"el\""))
        let greekJSON = directory.appendingPathComponent("greek.json").path
        try greek.write(toFile: greekJSON, atomically: true, encoding: .utf8)
        let xml = directory.appendingPathComponent("greek.xml").path
        let status = try Self.runProject([Self.fwxBinary, "convert", "--from", "json", "--to", "xml", greekJSON, "-o", xml]).status
        #expect(status == 0)
        let written = try String(contentsOfFile: xml, encoding: .utf8)
        #expect(written.contains("<Country>GR</Country>"))
        #expect(!written.contains(">el<") && !written.contains(">EL<"))
    }

    @Test("docs/openapi.yaml describes every route the node registers, and nothing else")
    func openAPIMatchesRoutes() throws {
        let server = try String(contentsOf: Self.root.appendingPathComponent("Sources/FWXNode/NodeServer.swift"),
                                encoding: .utf8)
        let spec = try String(contentsOf: Self.root.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
        let routePattern = try Regex(#"router\.(get|post|put|delete)\("([^"]+)""#)
        var routes: Set<String> = []
        for match in server.matches(of: routePattern) {
            let method = String(match.output[1].substring ?? "")
            // Hummingbird's :name is OpenAPI's {name}.
            let path = String(match.output[2].substring ?? "").replacing(try Regex(#":([A-Za-z]+)"#)) { "{\($0.output[1].substring ?? "")}" }
            routes.insert("\(method) \(path)")
        }
        #expect(routes.count >= 5, "routes not found in NodeServer.swift")
        var documented: Set<String> = []
        var currentPath: String?
        for line in spec.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("  /") { currentPath = String(line.dropFirst(2).dropLast()) }
            else if !line.hasPrefix(" ") { currentPath = nil }
            else if let path = currentPath, let method = ["get", "post", "put", "delete"].first(where: { line == "    \($0):" }) {
                documented.insert("\(method) \(path)")
            }
        }
        #expect(routes == documented, "routes \(routes.sorted()) vs documented \(documented.sorted())")
    }
}
