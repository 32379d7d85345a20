/// How serious a validation finding is: errors make a batch invalid, warnings do not.
public enum Severity: String, Sendable, Codable, Comparable {
    case warning
    case error

    public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs == .warning && rhs == .error }
}

/// Where a finding or error points in a source document: file, 1-based line and column (0 when unknown).
public struct SourceLocation: Sendable, Hashable, Codable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// One problem found in a document by any validation layer (parser, schema, business rules).
///
/// A finding quotes at most the failing value, never a whole record, so that findings can be logged and shared.
public struct Finding: Sendable, Hashable, Codable {
    public var severity: Severity
    /// Stable rule id, for example `FWX-R001`; see docs/rules.md.
    public var rule: String
    public var message: String
    public var location: SourceLocation
    /// XPath of the element concerned, with the prefix `fwx` bound to the batch namespace; empty when unknown.
    public var xpath: String

    public init(severity: Severity, rule: String, message: String, location: SourceLocation, xpath: String) {
        self.severity = severity
        self.rule = rule
        self.message = message
        self.location = location
        self.xpath = xpath
    }

    /// `file:line:col: error[FWX-R012]: message`, the format compilers use, so editors can jump to it.
    public var humanDescription: String {
        "\(location): \(severity.rawValue)[\(rule)]: \(message)"
    }
}

extension String {
    /// A value quoted for a message, cut to a readable length; control characters are escaped.
    public var quotedForMessage: String {
        var shown = ""
        for scalar in unicodeScalars.prefix(64) {
            if scalar.value < 0x20 || scalar.value == 0x7F {
                shown += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                shown.unicodeScalars.append(scalar)
            }
        }
        if unicodeScalars.count > 64 { shown += "…" }
        return "'\(shown)'"
    }
}
