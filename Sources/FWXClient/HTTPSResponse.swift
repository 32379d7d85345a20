/// A complete HTTP response from a server. Error statuses (4xx, 5xx) are responses too, not errors.
public struct HTTPSResponse: Sendable {
    /// The HTTP status code (200, 404, ...).
    public var status: Int
    /// The response headers, names in lower case; a header sent several times has its values joined by ", ".
    public var headers: [String: String]
    /// The response body.
    public var body: [UInt8]
    /// How many new connections the transfer opened (0 when it reused a kept-alive one).
    var connectionsOpened: Int = 0

    /// A response; header names are lower-cased.
    public init(status: Int, headers: [String: String] = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }) { first, second in
            first + ", " + second
        }
        self.body = body
    }

    /// The value of a header, whatever the case of `name`.
    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}
