// Fuzz target: the streaming validator (BatchValidator over BatchStreamParser / ParsePipeline) over any bytes.
// Inputs of even length go through the two-thread pipeline (parse and schema on one thread, rules on the other),
// odd lengths through the single-thread path, so both are fuzzed with the same corpus.
import FWXModel
import FWXXML
import FuzzSupport

/// A fixed "now" keeps a run reproducible (rules refuse dates in the future).
private let validator = BatchValidator(maxFindings: 200, now: 1_796_000_000)

@main
enum FuzzValidator {
    static func main() { Fuzz.run(fuzz) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var validator = validator
    validator.usesSecondThread = size % 2 == 0
    do {
        let report = try validator.validate(ByteSource(bytes: Fuzz.bytes(data, size), name: "fuzz.xml"))
        if report.isValid && report.records == 0 && size == 0 { Fuzz.fail("an empty document was reported valid") }
    } catch {
        // Thrown only for I/O or set-up failures: with bytes in memory and the bundled schemas there are none.
        Fuzz.fail("validate threw \(error)")
    }
    return 0
}
