/// An error raised by FWX itself (I/O, limits, configuration), as opposed to a finding about a document.
///
/// Errors are compared by ``code`` only; the message and location help a person but are not part of identity.
/// Messages never contain record values unless the caller put them there on purpose.
public struct FWXError: Error, Sendable, CustomStringConvertible, Equatable {
    /// A stable error code.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Value: String, Sendable, Hashable {
            case io, usage, schemaUnavailable, parserSetup, limitExceeded, profile, conversion, unsupported, json
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// A file could not be read or written.
        public static let io = Code(.io)
        /// The caller used an API or command wrongly.
        public static let usage = Code(.usage)
        /// A bundled schema could not be found or compiled.
        public static let schemaUnavailable = Code(.schemaUnavailable)
        /// libxml2 could not set up a parser.
        public static let parserSetup = Code(.parserSetup)
        /// A configured size or count limit was exceeded.
        public static let limitExceeded = Code(.limitExceeded)
        /// A CSV mapping profile is invalid.
        public static let profile = Code(.profile)
        /// A conversion could not be completed.
        public static let conversion = Code(.conversion)
        /// The input uses a feature FWX does not support.
        public static let unsupported = Code(.unsupported)
        /// A JSON document does not have the documented FWX shape.
        public static let json = Code(.json)

        public var description: String { value.rawValue }
    }

    public var code: Code
    public var message: String
    /// A file, or `file:line:column`, or a configuration key, where known.
    public var location: String?

    public init(_ code: Code, _ message: String, location: String? = nil) {
        self.code = code
        self.message = message
        self.location = location
    }

    public var description: String {
        if let location { return "\(location): \(message)" }
        return message
    }

    public static func == (lhs: FWXError, rhs: FWXError) -> Bool { lhs.code == rhs.code }
}
