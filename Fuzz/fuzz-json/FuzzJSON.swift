// Fuzz target: the JSON batch reader (BatchJSONReader: its own scanner, JSONDecoder per value, the key-shape check)
// through BatchJSONConverter.jsonToXML. Property checked besides crashes: a document it accepts becomes well-formed
// XML (it may be invalid: the XML is validated after conversion).
import FWXConvert
import FWXModel
import FWXXML
import FuzzSupport

private let checker = BatchValidator(maxFindings: 20, now: 1_796_000_000)

@main
enum FuzzJSON {
    static func main() { Fuzz.run(fuzz) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var xml: [UInt8] = []
    var writer = BatchXMLWriter { xml += Array($0.utf8) }
    do {
        _ = try BatchJSONConverter.jsonToXML(ByteSource(bytes: Fuzz.bytes(data, size), name: "fuzz.json"), writer: &writer)
    } catch {
        return 0  // refused with an FWXError naming the place: fine
    }
    do {
        let report = try checker.validate(ByteSource(bytes: xml, name: "converted.xml"))
        Fuzz.requireWellFormed(report.findings, "the XML written from accepted JSON")
    } catch {
        Fuzz.fail("validating the converted batch threw \(error)")
    }
    return 0
}
