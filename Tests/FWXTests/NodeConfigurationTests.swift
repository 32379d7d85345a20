// The node configuration (docs/node-config.md): a valid file loads with defaults and absolute paths; every kind of
// mistake an operator makes is refused before anything starts, naming the key, its line and what to do.
import FWXModel
import FWXNode
import FWXStore
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A folder laid out like `scripts/test-pki` writes it (placeholder PEM files with the right modes: the loader only
/// checks existence and permissions), with a configuration that refers to it by relative paths.
private struct NodeFolder {
    let root: URL

    /// A valid configuration. Peer DE is at lines 12-15, peer BE at 16-21.
    static let yaml = """
        node:
          country: NL
          agency: NL-POLITIE
          baseURL: https://127.0.0.1:8443
        listen: { host: 127.0.0.1, port: 8443 }
        tls: { certificate: pki/NL/node-tls.pem, key: pki/NL/node-tls.key.pem }
        signing: { certificate: pki/NL/node-signing.pem, key: pki/NL/node-signing.key.pem }
        trust:
          directory: pki/trust
        store: { sqlite: data/nl.sqlite }
        peers:
          - country: DE
            baseURL: https://127.0.0.1:8444
            ca: pki/DE/ca.pem
            handlingCodes: [H0, H1]
          - country: BE
            baseURL: https://127.0.0.1:8445/
            ca: pki/BE/ca.pem
            push: true
            pullEverySeconds: 30
            handlingCodes: [h0]

        """

    init(_ root: URL) throws {
        self.root = root
        for (file, mode) in [("pki/NL/node-tls.pem", 0o644), ("pki/NL/node-tls.key.pem", 0o600),
                             ("pki/NL/node-signing.pem", 0o644), ("pki/NL/node-signing.key.pem", 0o600),
                             ("pki/NL/crl.pem", 0o644), ("pki/trust/DE-ca.pem", 0o644), ("pki/trust/DE-crl.pem", 0o644),
                             ("pki/DE/ca.pem", 0o644), ("pki/BE/ca.pem", 0o644)] {
            try write(file, "-----BEGIN PLACEHOLDER-----\n-----END PLACEHOLDER-----\n", mode: mode)
        }
    }

    func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    func write(_ relative: String, _ text: String, mode: Int = 0o644) throws {
        let url = root.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
        #expect(chmod(url.path, mode_t(mode)) == 0)
    }

    /// Parses `yaml` as the file `node.yaml` in this folder.
    func parse(_ yaml: String = NodeFolder.yaml) throws -> NodeConfiguration {
        try NodeConfiguration.parse(yaml: yaml, path: "node.yaml", baseDirectory: root.path)
    }

    /// The error parsing `yaml` gives (the test fails when it loads).
    func error(_ yaml: String) -> ConfigurationError? {
        do {
            _ = try parse(yaml)
            Issue.record("the configuration was accepted:\n\(yaml)")
            return nil
        } catch let error as ConfigurationError {
            return error
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }
}

/// Runs `body` with a fresh ``NodeFolder`` in a temporary folder.
private func withNodeFolder(_ body: (NodeFolder) throws -> Void) throws {
    try withTemporaryDirectory { try body(try NodeFolder($0)) }
}

/// `yaml` with `old` replaced by `new` (the test fails when `old` is not there).
private func edit(_ yaml: String, _ old: String, _ new: String) -> String {
    #expect(yaml.contains(old), "the test's YAML has no \(old)")
    return yaml.replacingOccurrences(of: old, with: new)
}

/// The line (from 1) of the first line of `yaml` that contains `text`.
private func line(of text: String, in yaml: String) -> Int? {
    yaml.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains(text) }.map { $0 + 1 }
}

@Suite("Node configuration")
struct NodeConfigurationTests {
    @Test("A valid file loads, with defaults applied, countries normalised and paths absolute")
    func validConfiguration() throws {
        try withNodeFolder { folder in
            let configuration = try folder.parse()
            #expect(configuration.identity == NodeIdentity(country: "NL", agencyId: "NL-POLITIE"))
            #expect(configuration.baseURL == "https://127.0.0.1:8443")
            #expect(configuration.listen == ListenAddress(host: "127.0.0.1", port: 8443))
            #expect(configuration.tls == CredentialFiles(certificate: folder.path("pki/NL/node-tls.pem"),
                                                         key: folder.path("pki/NL/node-tls.key.pem")))
            #expect(configuration.signing.key == folder.path("pki/NL/node-signing.key.pem"))
            #expect(configuration.trust == TrustSettings(directory: folder.path("pki/trust")))
            #expect(configuration.store.sqlitePath == folder.path("data/nl.sqlite"))
            #expect(configuration.limits == NodeLimits(maxBodyBytes: 33_554_432, maxRecordsPerBatch: 10_000,
                                                       requestsPerMinutePerPeer: 600, maxFeedPage: 1000))
            #expect(configuration.outbox == OutboxSettings(maxAttempts: 10, initialBackoffSeconds: 1, maxBackoffSeconds: 300))
            #expect(configuration.logLevel == "info")
            #expect(configuration.configurationFile
                == URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("node.yaml").path)
            #expect(configuration.peers.count == 2)
            let germany = try #require(configuration.peer(country: "de"))
            #expect(germany == PeerConfiguration(country: "DE", baseURL: "https://127.0.0.1:8444", caFile: folder.path("pki/DE/ca.pem"),
                                                 pinnedPublicKey: nil, push: false, pullEverySeconds: nil,
                                                 handlingCodes: [.h0, .h1]))
            let belgium = try #require(configuration.peer(country: "BE"))
            #expect(belgium.baseURL == "https://127.0.0.1:8445", "the trailing slash is dropped")
            #expect(belgium.push)
            #expect(belgium.pullEverySeconds == 30)
            #expect(belgium.handlingCodes == [.h0], "lower case handling codes are read")
            #expect(configuration.peer(country: "FR") == nil)
            #expect(configuration.configurationFile.hasPrefix("/"))
            #expect(configuration.tls.certificate.hasPrefix("/"))
            // Checking never creates the database folder.
            #expect(!FileManager.default.fileExists(atPath: folder.path("data")))
        }
    }

    @Test("Every key can be given: limits, outbox, log, trust files, pins; EL/UK and lower case countries are normalised")
    func everyKey() throws {
        try withNodeFolder { folder in
            let pin = "sha256//" + Data(repeating: 7, count: 32).base64EncodedString()
            let yaml = NodeFolder.yaml
                .replacingOccurrences(of: "  country: NL", with: "  country: nl")
                .replacingOccurrences(of: "country: DE", with: "country: el")
                .replacingOccurrences(of: "  directory: pki/trust\n", with: """
                      directory: pki/trust
                      certificates: [pki/DE/ca.pem, pki/BE/ca.pem]
                      crls:
                        - pki/NL/crl.pem

                    """)
                .replacingOccurrences(of: "    handlingCodes: [H0, H1]\n", with: """
                        handlingCodes: [H0, H1, H2, H3]
                        pinnedPublicKey: "\(pin);\(pin)"
                        push: false
                        pullEverySeconds: 0.5

                    """)
                + """
                limits: { maxBodyBytes: 1048576, maxRecordsPerBatch: 500, requestsPerMinutePerPeer: 60, maxFeedPage: 100,
                          spoolBodiesOverBytes: 0, spoolDirectory: pki }
                outbox: { maxAttempts: 3, initialBackoffSeconds: 0.25, maxBackoffSeconds: 60 }
                log: { level: WARNING }

                """
            let configuration = try folder.parse(yaml)
            #expect(configuration.identity.country == "NL")
            #expect(configuration.trust.certificates == [folder.path("pki/DE/ca.pem"), folder.path("pki/BE/ca.pem")])
            #expect(configuration.trust.crls == [folder.path("pki/NL/crl.pem")])
            #expect(configuration.limits == NodeLimits(maxBodyBytes: 1_048_576, maxRecordsPerBatch: 500,
                                                       requestsPerMinutePerPeer: 60, maxFeedPage: 100,
                                                       spoolBodiesOverBytes: 0, spoolDirectory: folder.path("pki")))
            #expect(configuration.spoolDirectory == folder.path("pki"))
            #expect(configuration.outbox == OutboxSettings(maxAttempts: 3, initialBackoffSeconds: 0.25, maxBackoffSeconds: 60))
            #expect(configuration.logLevel == "warning")
            let greece = try #require(configuration.peer(country: "EL"))
            #expect(greece.country == "GR")
            #expect(greece.handlingCodes == Set(HandlingCode.allCases))
            #expect(greece.pinnedPublicKey == "\(pin);\(pin)")
            #expect(greece.pullEverySeconds == 0.5)
            #expect(!greece.push)
        }
    }

    @Test("Norway stays Norway: scalars are read as written, not as YAML 1.1 booleans")
    func norway() throws {
        try withNodeFolder { folder in
            let configuration = try folder.parse(edit(NodeFolder.yaml, "country: BE", "country: NO"))
            #expect(configuration.peer(country: "NO")?.country == "NO")
        }
    }

    struct Refusal: Sendable, CustomTestStringConvertible {
        var name: String
        /// Replacements applied to the valid YAML, in order.
        var edits: [(String, String)]
        var code: ConfigurationError.Code
        var key: String?
        /// Text of the line the problem must point at (nil: no line).
        var lineText: String?
        var column: Int?
        /// Text the message must contain.
        var message: String

        var testDescription: String { name }
    }

    static let refusals: [Refusal] = [
        Refusal(name: "a spool folder that does not exist",
                edits: [("store:", "limits: {spoolDirectory: spool}\nstore:")], code: .fileProblem,
                key: "limits.spoolDirectory", lineText: "spoolDirectory", column: 10,
                message: "does not exist; create it for the node's user"),
        Refusal(name: "a typo in a peer's key", edits: [("    pullEverySeconds: 30", "    pulEverySeconds: 30")],
                code: .unknownKey, key: "peers[1].pulEverySeconds", lineText: "pulEverySeconds", column: 5,
                message: "unknown key 'pulEverySeconds'; did you mean 'pullEverySeconds'?"),
        Refusal(name: "an unknown top-level key", edits: [("store:", "storage:")], code: .unknownKey, key: "storage",
                lineText: "storage:", column: 1, message: "did you mean 'store'?"),
        Refusal(name: "an unknown key in a flow mapping", edits: [("port: 8443", "prot: 8443")], code: .unknownKey,
                key: "listen.prot", lineText: "prot:", column: 28, message: "unknown key 'prot'"),
        Refusal(name: "a typo in a required key is one problem, not also a missing key",
                edits: [("  directory: pki/trust", "  directroy: pki/trust")], code: .unknownKey, key: "trust.directroy",
                lineText: "directroy", column: 3, message: "did you mean 'directory'?"),
        Refusal(name: "a missing required key", edits: [("  agency: NL-POLITIE\n", "")], code: .missingKey,
                key: "node.agency", lineText: "node:", column: 1, message: "add it, e.g. agency: NL-POLITIE under node"),
        Refusal(name: "a required key without value", edits: [("  agency: NL-POLITIE", "  agency:")], code: .missingKey,
                key: "node.agency", lineText: "agency:", column: 3, message: "has no value"),
        Refusal(name: "a missing section", edits: [("signing: {", "# signing: {")], code: .missingKey, key: "signing",
                lineText: nil, column: nil, message: "is missing"),
        Refusal(name: "a missing peer key", edits: [("    ca: pki/DE/ca.pem\n", "")], code: .missingKey, key: "peers[0].ca",
                lineText: "country: DE", column: 5, message: "add it, e.g. ca: pki/DE/ca.pem"),
        Refusal(name: "missing handling codes", edits: [("    handlingCodes: [H0, H1]\n", "")], code: .missingKey,
                key: "peers[0].handlingCodes", lineText: "country: DE", column: 5, message: "handlingCodes: [H0, H1]"),
        Refusal(name: "an invalid node country", edits: [("  country: NL", "  country: XX")], code: .invalidValue,
                key: "node.country", lineText: "country: XX", column: 3, message: "'XX' is not an ISO 3166-1 alpha-2 country code"),
        Refusal(name: "an invalid agency id", edits: [("agency: NL-POLITIE", "agency: NL POLITIE")], code: .invalidValue,
                key: "node.agency", lineText: "agency:", column: 3, message: "2 to 64 letters, digits"),
        Refusal(name: "a peer with the node's own country", edits: [("country: DE", "country: nl")], code: .invalidValue,
                key: "peers[0].country", lineText: "country: nl", column: 5, message: "NL is this node's own country"),
        Refusal(name: "a peer country given twice", edits: [("country: BE", "country: de")], code: .invalidValue,
                key: "peers[1].country", lineText: "country: de", column: 5, message: "DE is already configured as peers[0]"),
        Refusal(name: "an http URL", edits: [("https://127.0.0.1:8445/", "http://127.0.0.1:8445")], code: .invalidValue,
                key: "peers[1].baseURL", lineText: "http://127.0.0.1:8445", column: 5,
                message: "must be an https URL with a host, e.g. https://node.example:8443"),
        Refusal(name: "a URL without host", edits: [("baseURL: https://127.0.0.1:8443", "baseURL: https:///fwx")],
                code: .invalidValue, key: "node.baseURL", lineText: "https:///fwx", column: 3, message: "https URL with a host"),
        Refusal(name: "a URL with a query", edits: [("https://127.0.0.1:8444", "https://127.0.0.1:8444/?x=1")],
                code: .invalidValue, key: "peers[0].baseURL", lineText: "?x=1", column: 5, message: "https URL"),
        Refusal(name: "port 0", edits: [("port: 8443", "port: 0")], code: .invalidValue, key: "listen.port",
                lineText: "port: 0", column: 28, message: "from 1 to 65535"),
        Refusal(name: "port 70000", edits: [("port: 8443", "port: 70000")], code: .invalidValue, key: "listen.port",
                lineText: "port: 70000", column: 28, message: "'70000' is not a whole number from 1 to 65535"),
        Refusal(name: "a port that is not a number", edits: [("port: 8443", "port: https")], code: .invalidValue,
                key: "listen.port", lineText: "port: https", column: 28, message: "not a whole number"),
        Refusal(name: "a missing certificate file", edits: [("pki/NL/node-tls.pem", "pki/NL/node-tsl.pem")],
                code: .fileProblem, key: "tls.certificate", lineText: "node-tsl.pem", column: 8, message: "does not exist"),
        Refusal(name: "a missing CA file", edits: [("pki/BE/ca.pem", "pki/FR/ca.pem")], code: .fileProblem,
                key: "peers[1].ca", lineText: "pki/FR/ca.pem", column: 5, message: "pki/FR/ca.pem does not exist"),
        Refusal(name: "a missing CRL file", edits: [("  directory: pki/trust", "  directory: pki/trust\n  crls: [pki/NL/none.pem]")],
                code: .fileProblem, key: "trust.crls[0]", lineText: "none.pem", column: 10, message: "CRL"),
        Refusal(name: "a folder given as certificate", edits: [("pki/NL/node-signing.pem", "pki/NL")], code: .fileProblem,
                key: "signing.certificate", lineText: "certificate: pki/NL,", column: 12, message: "is a folder, not a file"),
        Refusal(name: "a missing trust folder", edits: [("directory: pki/trust", "directory: pki/trusted")], code: .fileProblem,
                key: "trust.directory", lineText: "pki/trusted", column: 3, message: "trust folder"),
        Refusal(name: "a trust folder that is a file", edits: [("directory: pki/trust", "directory: pki/DE/ca.pem")],
                code: .fileProblem, key: "trust.directory", lineText: "directory:", column: 3, message: "not a folder"),
        Refusal(name: "trust without any CA", edits: [("  directory: pki/trust", "  crls: [pki/NL/crl.pem]")],
                code: .missingKey, key: "trust", lineText: "trust:", column: 1, message: "give trust.directory"),
        Refusal(name: "a database folder that cannot be made", edits: [("sqlite: data/nl.sqlite", "sqlite: pki/DE/ca.pem/data/nl.sqlite")],
                code: .fileProblem, key: "store.sqlite", lineText: "sqlite:", column: 10, message: "is a file, not a folder"),
        Refusal(name: "a database that is a folder", edits: [("sqlite: data/nl.sqlite", "sqlite: pki")], code: .fileProblem,
                key: "store.sqlite", lineText: "sqlite:", column: 10, message: "is a folder, not a file"),
        Refusal(name: "requestsPerMinutePerPeer 0 (no unlimited)", edits: [("store:", "limits: { requestsPerMinutePerPeer: 0 }\nstore:")],
                code: .invalidValue, key: "limits.requestsPerMinutePerPeer", lineText: "limits:", column: 11,
                message: "there is no unlimited"),
        Refusal(name: "a negative body limit", edits: [("store:", "limits:\n  maxBodyBytes: -1\nstore:")], code: .invalidValue,
                key: "limits.maxBodyBytes", lineText: "maxBodyBytes", column: 3, message: "from 1024 to 4294967296"),
        Refusal(name: "a feed page over the bound", edits: [("store:", "limits:\n  maxFeedPage: 1000000000\nstore:")],
                code: .invalidValue, key: "limits.maxFeedPage", lineText: "maxFeedPage", column: 3, message: "from 1 to 100000"),
        Refusal(name: "a fractional record limit", edits: [("store:", "limits:\n  maxRecordsPerBatch: 10.5\nstore:")],
                code: .invalidValue, key: "limits.maxRecordsPerBatch", lineText: "maxRecordsPerBatch", column: 3,
                message: "not a whole number"),
        Refusal(name: "zero outbox attempts", edits: [("store:", "outbox: { maxAttempts: 0 }\nstore:")], code: .invalidValue,
                key: "outbox.maxAttempts", lineText: "outbox:", column: 11, message: "from 1 to 1000"),
        Refusal(name: "a first backoff longer than the longest", edits: [("store:", "outbox:\n  initialBackoffSeconds: 600\nstore:")],
                code: .invalidValue, key: "outbox.initialBackoffSeconds", lineText: "initialBackoffSeconds", column: 3,
                message: "larger than maxBackoffSeconds (300)"),
        Refusal(name: "an empty handling code list", edits: [("handlingCodes: [h0]", "handlingCodes: []")], code: .invalidValue,
                key: "peers[1].handlingCodes", lineText: "handlingCodes: []", column: 5, message: "is empty"),
        Refusal(name: "an unknown handling code", edits: [("[H0, H1]", "[H0, H4]")], code: .invalidValue,
                key: "peers[0].handlingCodes[1]", lineText: "H4", column: 25, message: "'H4' is not a handling code"),
        Refusal(name: "handling codes not as a list", edits: [("[H0, H1]", "H0")], code: .invalidValue,
                key: "peers[0].handlingCodes", lineText: "handlingCodes: H0", column: 5, message: "must be a list"),
        Refusal(name: "a pin that is not sha256// of 32 bytes", edits: [("    push: true", "    pinnedPublicKey: sha256//AAAA\n    push: true")],
                code: .invalidValue, key: "peers[1].pinnedPublicKey", lineText: "pinnedPublicKey", column: 5,
                message: "sha256// followed by the base64"),
        Refusal(name: "a pin without sha256//", edits: [("    push: true", "    pinnedPublicKey: \(Data(count: 32).base64EncodedString())\n    push: true")],
                code: .invalidValue, key: "peers[1].pinnedPublicKey", lineText: "pinnedPublicKey", column: 5,
                message: "sha256//"),
        Refusal(name: "an unknown log level", edits: [("store:", "log: { level: verbose }\nstore:")], code: .invalidValue,
                key: "log.level", lineText: "log:", column: 8, message: "use one of trace, debug, info, notice, warning, error, critical"),
        Refusal(name: "pulling every 0 seconds", edits: [("pullEverySeconds: 30", "pullEverySeconds: 0")], code: .invalidValue,
                key: "peers[1].pullEverySeconds", lineText: "pullEverySeconds", column: 5, message: "greater than 0"),
        Refusal(name: "pulling every -5 seconds", edits: [("pullEverySeconds: 30", "pullEverySeconds: -5")], code: .invalidValue,
                key: "peers[1].pullEverySeconds", lineText: "pullEverySeconds", column: 5, message: "greater than 0"),
        Refusal(name: "push that is not true or false", edits: [("push: true", "push: yes")], code: .invalidValue,
                key: "peers[1].push", lineText: "push: yes", column: 5, message: "not true or false"),
        Refusal(name: "a section that is not a mapping", edits: [("store:", "outbox: 3\nstore:")],
                code: .invalidValue, key: "outbox", lineText: "outbox: 3", column: 1, message: "must be a mapping of keys"),
        Refusal(name: "invalid YAML", edits: [("  agency: NL-POLITIE", "  agency: NL-POLITIE: x")], code: .syntax, key: nil,
                lineText: "agency:", column: nil, message: "not valid YAML"),
        Refusal(name: "a key given twice", edits: [("  agency: NL-POLITIE", "  agency: NL-POLITIE\n  agency: NL-KLPD")],
                code: .syntax, key: nil, lineText: nil, column: nil, message: "'agency' is given twice"),
        Refusal(name: "a PostgreSQL URL with a password",
                edits: [("store: { sqlite: data/nl.sqlite }", "store:\n  postgres: { url: \"postgresql://fwx:secret@127.0.0.1:5432/fwx_nl\" }")],
                code: .invalidValue, key: "store.postgres.url", lineText: "postgres:", column: 15, message: "the URL holds a password"),
        Refusal(name: "a password key in the configuration",
                edits: [("store: { sqlite: data/nl.sqlite }", "store:\n  postgres:\n    url: postgresql://fwx@127.0.0.1/fwx_nl\n    password: secret")],
                code: .unknownKey, key: "store.postgres.password", lineText: "password:", column: 5,
                message: "a password is never written in the configuration file"),
        Refusal(name: "a missing PostgreSQL password file",
                edits: [("store: { sqlite: data/nl.sqlite }", "store:\n  postgres:\n    url: postgresql://fwx@127.0.0.1/fwx_nl\n    passwordFile: secrets/none")],
                code: .fileProblem, key: "store.postgres.passwordFile", lineText: "passwordFile:", column: 5, message: "does not exist"),
        Refusal(name: "a URL that is not PostgreSQL's",
                edits: [("store: { sqlite: data/nl.sqlite }", "store:\n  postgres:\n    url: https://127.0.0.1/fwx_nl")],
                code: .invalidValue, key: "store.postgres.url", lineText: "url:", column: 5, message: "is not a PostgreSQL URL"),
        Refusal(name: "both SQLite and PostgreSQL",
                edits: [("store: { sqlite: data/nl.sqlite }", "store:\n  sqlite: data/nl.sqlite\n  postgres: { url: postgresql://fwx@127.0.0.1/fwx_nl }")],
                code: .invalidValue, key: "store", lineText: "store:", column: 1, message: "not both"),
        Refusal(name: "a merge key", edits: [("listen: {", "listen: { <<: {}, ")], code: .unknownKey, key: "listen.<<",
                lineText: "listen:", column: 11, message: "merge keys (<<) are not supported"),
    ]

    @Test("Each mistake is refused with its code, key path, line and a message that says what to do", arguments: refusals)
    func refusal(_ refusal: Refusal) throws {
        try withNodeFolder { folder in
            var yaml = NodeFolder.yaml
            for (old, new) in refusal.edits { yaml = edit(yaml, old, new) }
            guard let error = folder.error(yaml) else { return }
            let problem = try #require(error.problems.first { $0.key == refusal.key && $0.code == refusal.code },
                                       "expected \(refusal.code) at \(refusal.key ?? "-"), got:\n\(error)")
            #expect(error.problems.count == 1, "one mistake, one problem; got:\n\(error)")
            #expect(error.code == refusal.code)
            #expect(error == ConfigurationError(refusal.code, key: nil, message: "", file: ""), "equal by code")
            #expect(problem.file == "node.yaml")
            #expect(problem.message.contains(refusal.message), "\(problem.message)")
            if let text = refusal.lineText {
                #expect(problem.line == line(of: text, in: yaml), "\(error)")
            } else if refusal.code != .syntax {
                #expect(problem.line == nil)
            }
            if let column = refusal.column { #expect(problem.column == column, "\(error)") }
            #expect(error.description.hasPrefix("node.yaml:") || error.description.hasPrefix("node.yaml: "))
            if let key = refusal.key { #expect(error.description.contains("key \(key): ")) }
        }
    }

    @Test("The description is FILE:LINE:COL: key KEY: message")
    func descriptionFormat() throws {
        try withNodeFolder { folder in
            let yaml = edit(NodeFolder.yaml, "https://127.0.0.1:8445/", "ftp://127.0.0.1:8445")
            let error = try #require(folder.error(yaml))
            #expect(error.description
                == "node.yaml:17:5: key peers[1].baseURL: must be an https URL with a host, e.g. https://node.example:8443")
            #expect(error.key == "peers[1].baseURL")
            #expect(error.file == "node.yaml")
            #expect(error.line == 17)
            #expect(error.column == 5)
            #expect(error.errorDescription == error.description)
        }
    }

    @Test("A private key readable by group or others is refused with the chmod hint")
    func groupReadableKey() throws {
        try withNodeFolder { folder in
            let key = folder.path("pki/NL/node-tls.key.pem")
            for mode in [0o640, 0o604, 0o660, 0o700 | 0o007] {
                #expect(chmod(key, mode_t(mode)) == 0)
                let error = try #require(folder.error(NodeFolder.yaml))
                #expect(error.code == .fileProblem)
                #expect(error.key == "tls.key")
                #expect(error.line == 6)
                #expect(error.message.contains("readable by group or others (mode \(String(mode, radix: 8)))"), "\(error)")
                #expect(error.message.hasSuffix("run: chmod 600 \(key)"), "\(error)")
            }
            #expect(chmod(key, 0o400) == 0)
            _ = try folder.parse()
        }
    }

    @Test("Every problem of the file is reported at once, in file order, one per line")
    func allProblems() throws {
        try withNodeFolder { folder in
            var yaml = NodeFolder.yaml
            yaml = edit(yaml, "pullEverySeconds: 30", "pulEverySeconds: 30")
            yaml = edit(yaml, "port: 8443", "port: 0")
            yaml = edit(yaml, "  country: NL", "  country: XX")
            yaml = edit(yaml, "signing: {", "# signing: {")
            #expect(chmod(folder.path("pki/NL/node-tls.key.pem"), 0o644) == 0)
            let error = try #require(folder.error(yaml))
            #expect(error.problems.map(\.key) == ["node.country", "listen.port", "tls.key", "peers[1].pulEverySeconds", "signing"])
            #expect(error.problems.map(\.code) == [.invalidValue, .invalidValue, .fileProblem, .unknownKey, .missingKey])
            let lines = error.description.split(separator: "\n")
            #expect(lines.count == 5)
            #expect(lines.first == "node.yaml:2:3: key node.country: '\("XX")' is not an ISO 3166-1 alpha-2 country code; use e.g. NL, DE, BE (EL and UK are read as GR and GB)")
            #expect(lines.last?.hasPrefix("node.yaml: key signing: is missing") == true)
            #expect(error != ConfigurationError(.invalidValue, key: nil, message: "", file: ""))
        }
    }

    @Test("The database folder may be missing if it can be made; checking does not make it")
    func databaseFolder() throws {
        try withNodeFolder { folder in
            let yaml = edit(NodeFolder.yaml, "sqlite: data/nl.sqlite", "sqlite: var/lib/fwx/nl.sqlite")
            let configuration = try folder.parse(yaml)
            #expect(configuration.store.sqlitePath == folder.path("var/lib/fwx/nl.sqlite"))
            #expect(!FileManager.default.fileExists(atPath: folder.path("var")))
            try configuration.store.createFolder()
            var isFolder: ObjCBool = false
            #expect(FileManager.default.fileExists(atPath: folder.path("var/lib/fwx"), isDirectory: &isFolder) && isFolder.boolValue)
            // An existing database file is fine.
            try folder.write("var/lib/fwx/nl.sqlite", "")
            _ = try folder.parse(yaml)
        }
    }

    @Test("store.postgres is read into PostgreSQL settings, with defaults; the password file must be private")
    func postgresStore() throws {
        try withNodeFolder { folder in
            try folder.write("secrets/pg-password", "not-a-real-password\n", mode: 0o600)
            let yaml = edit(NodeFolder.yaml, "store: { sqlite: data/nl.sqlite }", """
                store:
                  postgres:
                    url: "postgresql://fwx@127.0.0.1:5432/fwx_nl"
                    passwordFile: secrets/pg-password
                    poolSize: 4
                """)
            let configuration = try folder.parse(yaml)
            #expect(configuration.store.configuration == .postgres(PostgresSettings(
                url: "postgresql://fwx@127.0.0.1:5432/fwx_nl", passwordFile: folder.path("secrets/pg-password"),
                poolSize: 4, connectTimeoutSeconds: 10)))
            #expect(configuration.store.sqlitePath == "")
            let defaults = try folder.parse(edit(NodeFolder.yaml, "store: { sqlite: data/nl.sqlite }",
                                                 "store: { postgres: { url: postgres://fwx@db.example/fwx } }"))
            #expect(defaults.store.configuration == .postgres(PostgresSettings(url: "postgres://fwx@db.example/fwx")))
            // A password file others can read is refused like a private key.
            try folder.write("secrets/pg-password", "not-a-real-password\n", mode: 0o644)
            let error = try #require(folder.error(yaml))
            #expect(error.problems.map(\.key) == ["store.postgres.passwordFile"])
            #expect(error.description.contains("chmod 600"))
        }
    }

    @Test("The store factory answers a PostgreSQL server that is not there with `unavailable`, naming no password")
    func postgresUnreachable() async throws {
        // Port 1 on the loopback: nothing listens there, so the connection is refused at once.
        let settings = PostgresSettings(url: "postgresql://fwx@127.0.0.1:1/fwx_nl", connectTimeoutSeconds: 2)
        let error = await #expect(throws: StoreError(.unavailable, "")) {
            _ = try await NodeStores.open(.postgres(settings), access: .node)
        }
        #expect(error.map { "\($0)".contains("unavailable") } ?? false)
    }

    @Test("Relative paths are read from the configuration file's folder, not the current directory; .. is resolved")
    func relativePaths() throws {
        try withNodeFolder { folder in
            try folder.write("etc/node.yaml", edit(NodeFolder.yaml.replacingOccurrences(of: "pki/", with: "../pki/"),
                                                   "sqlite: data/", "sqlite: ../data/"))
            let configuration = try NodeConfiguration.load(path: folder.path("etc/node.yaml"))
            #expect(configuration.tls.key == folder.path("pki/NL/node-tls.key.pem"))
            #expect(configuration.peer(country: "DE")?.caFile == folder.path("pki/DE/ca.pem"))
            #expect(configuration.store.sqlitePath == folder.path("data/nl.sqlite"))
            #expect(configuration.configurationFile == folder.path("etc/node.yaml"))
            // Absolute paths are kept.
            let absolute = NodeFolder.yaml.replacingOccurrences(of: "pki/", with: folder.path("pki") + "/")
            #expect(try folder.parse(absolute).signing.certificate == folder.path("pki/NL/node-signing.pem"))
        }
    }

    @Test("A configuration file that is missing, a folder, empty or not a mapping is refused")
    func unusableFile() throws {
        try withNodeFolder { folder in
            #expect(throws: ConfigurationError(.fileProblem, key: nil, message: "", file: "")) {
                try NodeConfiguration.load(path: folder.path("missing.yaml"))
            }
            #expect(throws: ConfigurationError(.fileProblem, key: nil, message: "", file: "")) {
                try NodeConfiguration.load(path: folder.path("pki"))
            }
            try folder.write("empty.yaml", "# nothing yet\n")
            #expect(throws: ConfigurationError(.syntax, key: nil, message: "", file: "")) {
                try NodeConfiguration.load(path: folder.path("empty.yaml"))
            }
            let bytes = Array("node: { agency: ".utf8) + [0xE9] + Array(" }\n".utf8)
            try Data(bytes).write(to: folder.root.appendingPathComponent("latin1.yaml"))
            #expect(throws: ConfigurationError(.syntax, key: nil, message: "", file: "")) {
                try NodeConfiguration.load(path: folder.path("latin1.yaml"))
            }
            let peers = NodeFolder.yaml[..<NodeFolder.yaml.range(of: "peers:")!.lowerBound] + "peers: DE\n"
            let notAList = try #require(folder.error(String(peers)))
            #expect(notAList.key == "peers")
            #expect(notAList.line == 11)
            #expect(notAList.message.contains("must be a list of peers"))
            let list = try #require(folder.error("- node\n- listen\n"))
            #expect(list.code == .invalidValue)
            #expect(list.message.contains("must be a mapping of keys"))
            do {
                _ = try NodeConfiguration.load(path: folder.path("missing.yaml"))
            } catch let error as ConfigurationError {
                #expect(error.description.contains("does not exist"))
                #expect(error.file == folder.path("missing.yaml"))
            }
        }
    }

    @Test("fixtures/nodes/example-nl.yaml loads against a real test PKI (scripts/test-pki)")
    func exampleWithTestPKI() throws {
        try withTemporaryDirectory { root in
            let result = try runProcess(Paths.repo("scripts/test-pki"),
                                        [root.appendingPathComponent("pki").path, "--countries", "NL,DE,BE"], timeout: 120)
            try #require(result.status == 0, "\(result)")
            let example = root.appendingPathComponent("node.yaml").path
            try FileManager.default.copyItem(atPath: Paths.repo("fixtures/nodes/example-nl.yaml"), toPath: example)
            let configuration = try NodeConfiguration.load(path: example)
            #expect(configuration.identity == NodeIdentity(country: "NL", agencyId: "NL-POLITIE"))
            #expect(configuration.tls.certificate == root.appendingPathComponent("pki/NL/node-tls.pem").path)
            #expect(configuration.trust.directory == root.appendingPathComponent("pki/trust").path)
            #expect(configuration.peers.map(\.country) == ["DE", "BE"])
            #expect(configuration.peer(country: "DE")?.push == true)
            #expect(configuration.peer(country: "DE")?.pullEverySeconds == 30)
            #expect(configuration.peer(country: "BE")?.pullEverySeconds == nil)
            #expect(configuration.limits == NodeLimits())
            #expect(configuration.outbox == OutboxSettings())
        }
    }

    @Test("docs/node-config.md documents exactly the keys the loader accepts")
    func documentedKeys() throws {
        let docs = try String(contentsOfFile: Paths.repo("docs/node-config.md"), encoding: .utf8)
        let lines = docs.split(separator: "\n", omittingEmptySubsequences: false)
        let start = try #require(lines.firstIndex { $0 == "## Keys" })
        let end = lines[(start + 1)...].firstIndex { $0.hasPrefix("## ") } ?? lines.endIndex
        let documented = lines[start..<end].compactMap { line -> String? in
            guard line.hasPrefix("| `") else { return nil }
            return line.dropFirst(3).split(separator: "`", maxSplits: 1).first.map(String.init)
        }
        #expect(Set(documented).count == documented.count, "a key is documented twice")
        let known = Set(NodeConfiguration.knownKeys)
        #expect(known.count == NodeConfiguration.knownKeys.count)
        #expect(known.subtracting(documented).sorted() == [], "keys the loader accepts but docs/node-config.md does not document")
        #expect(Set(documented).subtracting(known).sorted() == [], "keys docs/node-config.md documents but the loader refuses")
        #expect(known.contains("peers[].pullEverySeconds") && known.contains("limits.maxBodyBytes") && known.contains("node"))
    }

    @Test("Every key of the example is a known key (the example documents the format)")
    func exampleUsesKnownKeys() throws {
        let example = try String(contentsOfFile: Paths.repo("fixtures/nodes/example-nl.yaml"), encoding: .utf8)
        let names = Set(NodeConfiguration.knownKeys.map { $0.split(separator: ".").last.map(String.init) ?? $0 })
        for line in example.split(separator: "\n") where !line.trimmingCharacters(in: .whitespaces).hasPrefix("#") {
            var text = line.trimmingCharacters(in: .whitespaces)
            if text.hasPrefix("- ") { text.removeFirst(2) }
            guard let colon = text.firstIndex(of: ":") else { continue }
            let key = String(text[..<colon])
            #expect(names.contains(key), "\(key) in the example is not a key the loader knows")
        }
    }
}
