// Inputs the fuzz targets (scripts/fuzz, docs/fuzzing.md) found to break a property, kept under
// fixtures/fuzz/regressions/ and fed to the same entry point here, so that a fixed defect stays fixed.
@testable import FWXConvert
import FWXModel
import FWXXML
import Foundation
import Testing

@Suite("Fuzz regressions")
struct FuzzRegressionTests {
    static let folder = Paths.repo("fixtures/fuzz/regressions")

    static func reproducer(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name)))
    }

    /// What the JSON reader turns `bytes` into, or its error.
    static func xml(fromJSON bytes: [UInt8]) throws -> String {
        var text = ""
        var writer = BatchXMLWriter { text += $0 }
        try BatchJSONConverter.jsonToXML(ByteSource(bytes: bytes, name: "fuzz.json"), writer: &writer)
        return text
    }

    @Test("JSON with a control character XML cannot carry is refused, naming the place, instead of written as broken XML")
    func jsonControlCharacter() throws {
        // fuzz-json: "batchId":"0B9D2C41\b-…" was accepted and written as XML that is not well-formed (PCDATA invalid
        // Char value 8), which no validator or partner can read.
        let bytes = try Self.reproducer("json-control-character-in-string.json")
        #expect { try Self.xml(fromJSON: bytes) } throws: { error in
            guard let error = error as? FWXError, error.code == .json else { return false }
            return error.description.hasPrefix("fuzz.json:2")
                && error.description.contains("header.batchId contains the control character U+0008")
        }
    }

    @Test("JSON that the decoder reads but JSONSerialization cannot (invalid UTF-8 in a key) is refused, not written as broken XML")
    func jsonUnreadableTree() throws {
        // fuzz-json: a header with a key of invalid UTF-8 bytes was decoded, but the tree the control-character and
        // unknown-key checks read could not be made, so those checks were skipped and "\b" reached the XML.
        let bytes = try Self.reproducer("json-undecodable-key-hides-control-character.json")
        #expect { try Self.xml(fromJSON: bytes) } throws: { error in
            guard let error = error as? FWXError, error.code == .json else { return false }
            return error.description.contains("is not valid JSON") || error.description.contains("control character")
        }
    }

    @Test("JSON with a key given twice in one object is refused: the decoder and the checks would read different values")
    func jsonDuplicateKey() throws {
        // fuzz-json: a header with "schemaVersion" twice, the first with "\b": the decoder kept the first, the
        // control-character check (on JSONSerialization's tree) saw the last, and "\b" reached the XML.
        let bytes = try Self.reproducer("json-duplicate-key-hides-control-character.json")
        #expect { try Self.xml(fromJSON: bytes) } throws: { error in
            guard let error = error as? FWXError, error.code == .json else { return false }
            return error.description.contains("appears twice in one object")
        }
        // The same key written with an escape is the same key; keys of different objects may repeat.
        let sample = String(decoding: try Data(contentsOf: URL(fileURLWithPath:
            Paths.repo("fixtures/fuzz/json/nl-sample.json"))), as: UTF8.self)
        let escaped = sample.replacingOccurrences(of: "\"header\": {", with: "\"header\": {\"b\\u0061tchId\": \"x\", ")
        #expect(escaped != sample)
        #expect { try Self.xml(fromJSON: Array(escaped.utf8)) } throws: { error in
            (error as? FWXError)?.description.contains("key \"batchId\" appears twice") ?? false
        }
        #expect(BatchJSONReader.firstDuplicateKey(in: Array(#"[{"a":1,"b":{"a":2}},{"a":3}]"#.utf8)) == nil)
        #expect(BatchJSONReader.firstDuplicateKey(in: Array(#"{"a":{"x":"a,\"b","x":1}}"#.utf8)) == "x")
    }

    @Test("Every control character XML 1.0 forbids is refused in any string of a record; tab, newline and CR pass",
          arguments: [0x00, 0x01, 0x08, 0x0B, 0x0C, 0x0E, 0x1F, 0xFFFE, 0xFFFF, 0x09, 0x0A, 0x0D] as [UInt32])
    func jsonCharacters(value: UInt32) throws {
        let sample = Array(try Data(contentsOf: URL(fileURLWithPath: Paths.repo("fixtures/fuzz/json/nl-sample.json"))))
        let text = String(decoding: sample, as: UTF8.self)
        let escaped = String(format: "\\u%04X", value)
        let original = "\"remarks\":\"Goods declared as toys;"
        let broken = text.replacingOccurrences(of: original, with: "\"remarks\":\"Goods\(escaped) declared as toys;")
        #expect(broken != text)
        if [0x09, 0x0A, 0x0D].contains(value) {
            let xml = try Self.xml(fromJSON: Array(broken.utf8))
            let report = try BatchValidator(maxFindings: 10, now: 1_796_000_000)
                .validate(ByteSource(bytes: Array(xml.utf8), name: "back.xml"))
            #expect(!report.findings.contains { $0.rule == RuleID.notWellFormed })
        } else {
            #expect { try Self.xml(fromJSON: Array(broken.utf8)) } throws: { error in
                guard let error = error as? FWXError, error.code == .json else { return false }
                let code = String(format: "U+%04X", value)
                return error.description.contains("records[0].remarks contains the control character \(code)")
            }
        }
    }

    @Test("Every reproducer under fixtures/fuzz/regressions is named after its target and replayed by a test here")
    func everyReproducerHasATest() throws {
        let replayed: Set<String> = ["json-control-character-in-string.json",
                                      "json-duplicate-key-hides-control-character.json",
                                      "json-undecodable-key-hides-control-character.json"]
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: Self.folder))
        #expect(files == replayed)
        let targets = ["validator", "signature", "csv", "profile", "json", "nodeconfig", "c14n"]
        for file in files { #expect(targets.contains { file.hasPrefix($0 + "-") }, "\(file) does not start with a target name") }
    }
}
