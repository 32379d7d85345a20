// Fuzz target: the mapping profile reader (CSVMappingProfile.parse over YAML: Yams, the decoding, the profile checks)
// and, for a profile that is accepted, ProfileReader through a conversion of a fixed CSV export with it.
import FWXConvert
import FWXModel
import FWXXML
import FuzzSupport

/// The first rows of the NL export the seed profile maps (a few rows keep an accepted profile cheap to run).
private let export: [UInt8] = {
    let bytes = Fuzz.contents(Fuzz.fixture("fixtures/exports/nl-politie-with-bad-rows.csv"))
    var lines = 0
    let cut = bytes.firstIndex { byte in
        if byte == UInt8(ascii: "\n") { lines += 1 }
        return lines == 12
    } ?? bytes.endIndex
    return Array(bytes[..<cut])
}()

@main
enum FuzzProfile {
    static func main() { Fuzz.run(fuzz) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let yaml = Fuzz.text(data, size) else { return 0 }  // profiles are read as UTF-8 text
    guard let profile = try? CSVMappingProfile.parse(yaml: yaml, name: "fuzz.yaml") else { return 0 }
    guard let converter = try? CSVToBatchConverter(profile: profile, options: CSVConversionOptions(
        senderCountry: "NL", agencyId: "NL-POLITIE", batchId: "6f1c2a9e-6a53-4c1e-9a51-2c3f5e7d8b90",
        createdAt: "2026-12-01T10:00:00Z", now: 1_796_000_000)) else { return 0 }
    var writer = BatchXMLWriter { _ in }
    _ = try? converter.convert(ByteSource(bytes: export, name: "export.csv"), to: &writer)
    return 0
}
