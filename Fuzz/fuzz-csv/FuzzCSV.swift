// Fuzz target: the CSV reader and converter with a real profile (fixtures/profiles/nl-politie.yaml) over any bytes:
// dialect, quoting, encodings, value maps, numbers, dates, the per-record checks and the reject file. Property
// checked besides crashes: what the converter writes is well-formed XML (it may be invalid: the CLI validates it).
import FWXConvert
import FWXModel
import FWXXML
import FuzzSupport

/// Used from the fuzzer's one thread only.
nonisolated(unsafe) private let converter: CSVToBatchConverter = {
    let path = Fuzz.fixture("fixtures/profiles/nl-politie.yaml")
    do {
        let profile = try CSVMappingProfile.load(path: path)
        return try CSVToBatchConverter(profile: profile, options: CSVConversionOptions(
            batchId: "6f1c2a9e-6a53-4c1e-9a51-2c3f5e7d8b90", createdAt: "2026-12-01T10:00:00Z", now: 1_796_000_000))
    } catch {
        Fuzz.fail("cannot load \(path): \(error)")
    }
}()
private let checker = BatchValidator(maxFindings: 20, now: 1_796_000_000)

@main
enum FuzzCSV {
    static func main() { Fuzz.run(fuzz) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var xml: [UInt8] = []
    var writer = BatchXMLWriter { xml += Array($0.utf8) }
    var rejectBytes = 0
    let rejects = RejectFileWriter { rejectBytes += $0.count }
    do {
        _ = try converter.convert(ByteSource(bytes: Fuzz.bytes(data, size), name: "fuzz.csv"), to: &writer, rejects: rejects)
    } catch {
        return 0  // a refusal of the whole file (no header row, a missing column …): an FWXError, fine
    }
    do {
        let report = try checker.validate(ByteSource(bytes: xml, name: "converted.xml"))
        Fuzz.requireWellFormed(report.findings, "the converted batch")
    } catch {
        Fuzz.fail("validating the converted batch threw \(error)")
    }
    return 0
}
