// A TraceResult as JSON: its Codable form, keys sorted and indented, so that the same result always gives the same
// bytes and diffs of two runs are readable.
internal import Foundation

/// Writes a ``TraceResult`` as JSON and reads it back.
///
/// The document is the result's `Codable` form (property names as keys; absent optional values left out; codes such
/// as categories and link kinds as their raw strings), pretty-printed with two-space indentation, keys sorted, `/`
/// not escaped, and ended by a newline. Numbers are written in their shortest form that reads back to the same
/// value, so ``decode(_:)`` gives a result equal to the one rendered.
public enum TraceJSON {
    /// The JSON bytes (UTF-8) of `result`.
    public static func render(_ result: TraceResult) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // A TraceResult holds only strings, integers, finite doubles, arrays and nested structs: encoding cannot fail.
        guard let data = try? encoder.encode(result) else {
            preconditionFailure("a TraceResult could not be encoded as JSON")
        }
        return Array(data) + [0x0A]
    }

    /// The result a document of ``render(_:)`` holds; throws `DecodingError` when the bytes are not such a document.
    public static func decode(_ bytes: [UInt8]) throws -> TraceResult {
        try JSONDecoder().decode(TraceResult.self, from: Data(bytes))
    }
}
