// Fuzz target: the node configuration reader (NodeConfiguration.parse(yaml:path:baseDirectory:): Yams' composer, every
// section's checks, paths checked against a real test PKI). Relative paths are read from FWX_FUZZ_BASE, the folder
// scripts/fuzz makes with the PKI in pki/, so fixtures/nodes/example-nl.yaml is a configuration that is accepted.
import FWXNode
import Foundation
import FuzzSupport

private let base: String = {
    let base = Fuzz.required("FWX_FUZZ_BASE", "a folder holding the test PKI as pki/")
    let example = Fuzz.fixture("fixtures/nodes/example-nl.yaml")
    guard let text = Fuzz.text(Fuzz.contents(example), Fuzz.contents(example).count) else { Fuzz.fail("\(example) is not UTF-8") }
    do {
        _ = try NodeConfiguration.parse(yaml: text, path: "example-nl.yaml", baseDirectory: base)
    } catch {
        Fuzz.fail("the example configuration is refused with FWX_FUZZ_BASE=\(base): \(error)")
    }
    return base
}()

@main
enum FuzzNodeConfig {
    static func main() { Fuzz.run(fuzz) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let base = base
    guard let yaml = Fuzz.text(data, size) else { return 0 }  // the loader refuses non-UTF-8 before parsing
    do {
        _ = try NodeConfiguration.parse(yaml: yaml, path: "fuzz.yaml", baseDirectory: base)
    } catch let error as ConfigurationError {
        _ = error.description
    } catch {
        Fuzz.fail("parse threw something other than a ConfigurationError: \(error)")
    }
    return 0
}
