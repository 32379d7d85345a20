// Reading and checking a node configuration file (docs/node-config.md documents every key read here).
//
// The YAML is composed into Yams' node tree rather than decoded, so that every key keeps its line and column, scalars
// are read as written (`country: NO` stays Norway, not YAML 1.1's false), and checking goes on after a problem:
// the operator sees every problem of the file at once.
import FWXModel
import FWXStore
import Foundation
import Logging
import Yams
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a node configuration from YAML and collects its problems.
struct ConfigurationReader {
    typealias Problem = ConfigurationError.Problem
    typealias Code = ConfigurationError.Code

    /// The keys of each section; `""` is the top level, `peers[]` each peer. The single list of keys the loader
    /// accepts (``NodeConfiguration/knownKeys`` is made from it).
    static let sections: [(String, [String])] = [
        ("", ["node", "listen", "tls", "signing", "trust", "store", "limits", "outbox", "connections", "audit", "log",
              "roles", "peers"]),
        ("node", ["country", "agency", "baseURL"]),
        ("listen", ["host", "port"]),
        ("tls", ["certificate", "key"]),
        ("signing", ["certificate", "key"]),
        ("trust", ["directory", "certificates", "crls", "reloadCRLsEverySeconds", "revocation", "staleCRL",
                   "fetchCRLsEverySeconds"]),
        ("store", ["sqlite", "postgres"]),
        ("store.postgres", ["url", "passwordFile", "poolSize", "connectTimeoutSeconds"]),
        ("limits", ["maxBodyBytes", "maxRecordsPerBatch", "requestsPerMinutePerPeer", "maxFeedPage",
                    "maxConcurrentBatches", "memoryBudgetBytes", "blockingThreads", "spoolBodiesOverBytes",
                    "spoolDirectory"]),
        ("outbox", ["maxAttempts", "initialBackoffSeconds", "maxBackoffSeconds", "leaseSeconds", "pullLeaseSeconds"]),
        ("connections", ["handshakeTimeoutSeconds", "headerTimeoutSeconds", "bodyTimeoutSeconds", "idleTimeoutSeconds",
                         "maxPerClientAddress"]),
        ("audit", ["refusalWindowSeconds"]),
        ("log", ["level"]),
        ("roles", ["liaisonsMayPull", "nodesMaySubmit"]),
        ("peers[]", ["country", "baseURL", "ca", "pinnedPublicKey", "push", "pullEverySeconds", "handlingCodes"]),
    ]

    static func keys(of section: String) -> [String] {
        sections.first { $0.0 == section }?.1 ?? []
    }

    /// Bounds of the numbers (inclusive).
    enum Bounds {
        static let maxBodyBytes = 1024...4_294_967_296
        static let maxRecordsPerBatch = 1...1_000_000
        static let spoolBodiesOverBytes = 0...4_294_967_296
        static let requestsPerMinutePerPeer = 1...1_000_000
        static let maxFeedPage = 1...100_000
        static let maxAttempts = 1...1000
        static let initialBackoffSeconds = 0.001...3600
        static let maxBackoffSeconds = 0.001...86_400
        static let leaseSeconds = 1.0...86_400
        static let pullEverySeconds = 0.001...86_400
        static let reloadCRLsEverySeconds = 0.001...86_400
        static let fetchCRLsEverySeconds = 0.001...86_400
        static let maxConcurrentBatches = 1...4096
        static let memoryBudgetBytes = 16_777_216...1_099_511_627_776
        static let blockingThreads = 1...1024
        static let connectionTimeoutSeconds = 0.001...86_400
        static let maxPerClientAddress = 1...1_000_000
        static let refusalWindowSeconds = 0.001...3600
        static let poolSize = 1...1000
        static let connectTimeoutSeconds = 0.001...3600
    }

    /// The file as given, for messages.
    let file: String
    /// The absolute folder relative paths are read from.
    let baseDirectory: String
    private(set) var problems: [Problem] = []

    init(file: String, baseDirectory: String) {
        self.file = file
        self.baseDirectory = baseDirectory
    }

    /// The problems in file order (those without a line, such as missing top-level keys, last).
    var sortedProblems: [Problem] {
        problems.enumerated().sorted { a, b in
            let left = (a.element.line ?? Int.max, a.element.column ?? 0, a.offset)
            let right = (b.element.line ?? Int.max, b.element.column ?? 0, b.offset)
            return left < right
        }.map(\.element)
    }

    // MARK: The file

    /// The configuration, or nil when there are problems (then ``problems`` says which).
    mutating func read(yaml: String) -> NodeConfiguration? {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            report(syntax: error)
            return nil
        } catch {
            problem(.syntax, nil, nil, "the file is not valid YAML: \(error)")
            return nil
        }
        guard let root, !Self.isNull(root) else {
            problem(.syntax, nil, nil, "the configuration is empty; start from fixtures/nodes/example-nl.yaml (docs/node-config.md)")
            return nil
        }
        guard let top = section(Entry(path: "", mark: nil, value: root), keys: Self.keys(of: "")) else { return nil }

        // node
        var identity = NodeIdentity(country: "", agencyId: "")
        var baseURL = ""
        if let node = requiredSection(top, "node") {
            if let entry = required(node, "country"), let code = country(entry) { identity.country = code }
            if let entry = required(node, "agency"), let agency = agencyId(entry) { identity.agencyId = agency }
            if let entry = required(node, "baseURL"), let url = httpsURL(entry) { baseURL = url }
        }

        // listen
        var listen = ListenAddress(host: "", port: 0)
        if let section = requiredSection(top, "listen") {
            if let entry = required(section, "host"), let host = host(entry) { listen.host = host }
            if let entry = required(section, "port"), let port = integer(entry, in: 1...65535) { listen.port = port }
        }

        // tls, signing
        let tls = credentials(top, "tls")
        let signing = credentials(top, "signing")

        // trust
        var trust = TrustSettings()
        if let section = requiredSection(top, "trust") {
            if let entry = optional(section, "directory"), let path = path(entry) {
                if checkFolder(path, entry, what: "trust folder") { trust.directory = path }
            }
            if let entry = optional(section, "certificates") {
                trust.certificates = fileList(entry, what: "CA certificate")
            }
            if let entry = optional(section, "crls") {
                trust.crls = fileList(entry, what: "CRL")
            }
            if let entry = optional(section, "reloadCRLsEverySeconds"),
               let value = seconds(entry, in: Bounds.reloadCRLsEverySeconds) {
                trust.reloadCRLsEverySeconds = value
            }
            if let entry = optional(section, "revocation"), let text = text(entry) {
                if let value = RevocationRequirement(rawValue: text) {
                    trust.revocation = value
                } else {
                    problem(.invalidValue, entry.path, entry.mark,
                            "'\(text)' is not a revocation setting; use require (every CA needs a CRL, the default) or allow-missing")
                }
            }
            if let entry = optional(section, "staleCRL"), let text = text(entry) {
                if let value = StaleCRLHandling(rawValue: text) {
                    trust.staleCRL = value
                } else {
                    problem(.invalidValue, entry.path, entry.mark,
                            "'\(text)' is not a stale-CRL setting; use refuse (the default) or warn")
                }
            }
            if let entry = optional(section, "fetchCRLsEverySeconds"),
               let value = seconds(entry, in: Bounds.fetchCRLsEverySeconds) {
                trust.fetchCRLsEverySeconds = value
            }
            if optional(section, "directory") == nil && optional(section, "certificates").map({ isEmptyList($0.value) }) ?? true
                && section.suggested.isDisjoint(with: ["directory", "certificates"]) {
                problem(.missingKey, section.path, section.mark,
                        "give trust.directory (a folder of PEM CA certificates and CRLs) or trust.certificates (a list of CA files); a node that trusts no CA accepts nobody")
            }
        }

        // store
        var store = StoreSettings(sqlitePath: "")
        if let section = requiredSection(top, "store") {
            if let configuration = storeConfiguration(section) { store = StoreSettings(configuration) }
        }

        // limits
        var limits = NodeLimits()
        if let section = optionalSection(top, "limits") {
            if let entry = optional(section, "maxBodyBytes"), let value = integer(entry, in: Bounds.maxBodyBytes) {
                limits.maxBodyBytes = value
            }
            if let entry = optional(section, "maxRecordsPerBatch"), let value = integer(entry, in: Bounds.maxRecordsPerBatch) {
                limits.maxRecordsPerBatch = value
            }
            if let entry = optional(section, "requestsPerMinutePerPeer"),
               let value = integer(entry, in: Bounds.requestsPerMinutePerPeer,
                                   hint: "there is no unlimited; give the most requests a peer may make in a minute") {
                limits.requestsPerMinutePerPeer = value
            }
            if let entry = optional(section, "maxFeedPage"), let value = integer(entry, in: Bounds.maxFeedPage) {
                limits.maxFeedPage = value
            }
            if let entry = optional(section, "maxConcurrentBatches"),
               let value = integer(entry, in: Bounds.maxConcurrentBatches) {
                limits.maxConcurrentBatches = value
            }
            if let entry = optional(section, "memoryBudgetBytes"), let value = integer(entry, in: Bounds.memoryBudgetBytes,
                                                                                      hint: "at least 16 MiB") {
                limits.memoryBudgetBytes = value
            }
            if let entry = optional(section, "blockingThreads"), let value = integer(entry, in: Bounds.blockingThreads) {
                limits.blockingThreads = value
            }
            if let entry = optional(section, "spoolBodiesOverBytes"),
               let value = integer(entry, in: Bounds.spoolBodiesOverBytes, hint: "0 spools every batch") {
                limits.spoolBodiesOverBytes = value
            }
            if let entry = optional(section, "spoolDirectory"), let path = path(entry) {
                var info = stat()
                if stat(path, &info) != 0 || info.st_mode & S_IFMT != S_IFDIR {
                    problem(.fileProblem, entry.path, entry.mark, "folder \(path) does not exist; create it for the node's user")
                } else if access(path, W_OK | X_OK) != 0 {
                    problem(.fileProblem, entry.path, entry.mark,
                            "folder \(path) is not writable by this user; give the node's user write access")
                } else {
                    limits.spoolDirectory = path
                }
            }
        }

        // connections
        var connections = ConnectionSettings()
        if let section = optionalSection(top, "connections") {
            let timeouts: [(String, WritableKeyPath<ConnectionSettings, Double>)] = [
                ("handshakeTimeoutSeconds", \.handshakeTimeoutSeconds), ("headerTimeoutSeconds", \.headerTimeoutSeconds),
                ("bodyTimeoutSeconds", \.bodyTimeoutSeconds), ("idleTimeoutSeconds", \.idleTimeoutSeconds),
            ]
            for (key, path) in timeouts {
                if let entry = optional(section, key), let value = seconds(entry, in: Bounds.connectionTimeoutSeconds) {
                    connections[keyPath: path] = value
                }
            }
            if let entry = optional(section, "maxPerClientAddress"),
               let value = integer(entry, in: Bounds.maxPerClientAddress) {
                connections.maxPerClientAddress = value
            }
        }

        // audit
        var audit = AuditSettings()
        if let section = optionalSection(top, "audit"), let entry = optional(section, "refusalWindowSeconds"),
           let value = seconds(entry, in: Bounds.refusalWindowSeconds) {
            audit.refusalWindowSeconds = value
        }

        // outbox
        var outbox = OutboxSettings()
        if let section = optionalSection(top, "outbox") {
            if let entry = optional(section, "maxAttempts"), let value = integer(entry, in: Bounds.maxAttempts) {
                outbox.maxAttempts = value
            }
            if let entry = optional(section, "initialBackoffSeconds"),
               let value = seconds(entry, in: Bounds.initialBackoffSeconds) {
                outbox.initialBackoffSeconds = value
            }
            if let entry = optional(section, "maxBackoffSeconds"), let value = seconds(entry, in: Bounds.maxBackoffSeconds) {
                outbox.maxBackoffSeconds = value
            }
            if let entry = optional(section, "leaseSeconds"), let value = seconds(entry, in: Bounds.leaseSeconds) {
                outbox.leaseSeconds = value
            }
            if let entry = optional(section, "pullLeaseSeconds"), let value = seconds(entry, in: Bounds.leaseSeconds) {
                outbox.pullLeaseSeconds = value
            }
            if outbox.initialBackoffSeconds > outbox.maxBackoffSeconds,
               let entry = optional(section, "maxBackoffSeconds") ?? optional(section, "initialBackoffSeconds") {
                problem(.invalidValue, entry.path, entry.mark,
                        "initialBackoffSeconds (\(Self.format(outbox.initialBackoffSeconds))) is larger than maxBackoffSeconds (\(Self.format(outbox.maxBackoffSeconds))); the first wait cannot exceed the longest")
            }
        }

        // log
        var logLevel = "info"
        if let section = optionalSection(top, "log"), let entry = optional(section, "level"), let text = text(entry) {
            if let level = Logger.Level(rawValue: text.lowercased()) {
                logLevel = level.rawValue
            } else {
                problem(.invalidValue, entry.path, entry.mark,
                        "'\(text)' is not a log level; use one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }

        // roles
        var roles = RoleSettings()
        if let section = optionalSection(top, "roles") {
            if let entry = optional(section, "liaisonsMayPull"), let value = boolean(entry) { roles.liaisonsMayPull = value }
            if let entry = optional(section, "nodesMaySubmit"), let value = boolean(entry) { roles.nodesMaySubmit = value }
        }

        // peers
        let peers = self.peers(top, nodeCountry: identity.country)

        guard problems.isEmpty else { return nil }
        return NodeConfiguration(identity: identity, baseURL: baseURL, listen: listen, tls: tls, signing: signing,
                                 trust: trust, store: store, limits: limits, outbox: outbox, connections: connections,
                                 audit: audit, logLevel: logLevel, roles: roles, peers: peers)
    }

    private mutating func credentials(_ top: Section, _ name: String) -> CredentialFiles {
        var files = CredentialFiles(certificate: "", key: "")
        guard let section = requiredSection(top, name) else { return files }
        let what = name == "tls" ? "TLS" : "signing"
        if let entry = required(section, "certificate"), let path = path(entry) {
            if checkFile(path, entry, what: "\(what) certificate") { files.certificate = path }
        }
        if let entry = required(section, "key"), let path = path(entry) {
            if checkFile(path, entry, what: "\(what) private key", privateKey: true) { files.key = path }
        }
        return files
    }

    /// `store: { sqlite: PATH }` or `store: { postgres: { url, passwordFile, poolSize, connectTimeoutSeconds } }`:
    /// exactly one of the two.
    private mutating func storeConfiguration(_ section: Section) -> StoreConfiguration? {
        let sqlite = optional(section, "sqlite")
        let postgres = optional(section, "postgres")
        if sqlite != nil && postgres != nil {
            problem(.invalidValue, section.path, section.mark,
                    "give either store.sqlite or store.postgres, not both; a node keeps one store")
            return nil
        }
        if let postgres {
            guard let settings = self.section(postgres, keys: Self.keys(of: "store.postgres")) else { return nil }
            return postgresSettings(settings).map { .postgres($0) }
        }
        guard let entry = required(section, "sqlite"), let path = path(entry) else { return nil }
        checkDatabasePath(path, entry)
        return .sqlite(path: path)
    }

    /// The PostgreSQL settings; the password is never in the configuration file: not in the URL, not as a key.
    private mutating func postgresSettings(_ section: Section) -> PostgresSettings? {
        var result: PostgresSettings?
        if let entry = required(section, "url"), let url = text(entry) {
            let settings = PostgresSettings(url: url)
            if let parts = settings.components {
                if parts.password != nil {
                    problem(.invalidValue, entry.path, entry.mark,
                            "the URL holds a password; remove it (postgresql://USER@HOST:PORT/DATABASE) and put the password in a file named by store.postgres.passwordFile (mode 0600)")
                } else if parts.user == nil || parts.user?.isEmpty == true {
                    problem(.invalidValue, entry.path, entry.mark,
                            "the URL names no user; write postgresql://USER@HOST:PORT/DATABASE, e.g. \(Self.examples["store.postgres.url"] ?? "")")
                } else {
                    result = settings
                }
            } else {
                problem(.invalidValue, entry.path, entry.mark,
                        "is not a PostgreSQL URL; write postgresql://USER@HOST:PORT/DATABASE (no password), e.g. \(Self.examples["store.postgres.url"] ?? "")")
            }
        }
        if let entry = optional(section, "passwordFile"), let path = path(entry) {
            if checkFile(path, entry, what: "password file", privateKey: true) {
                result?.passwordFile = path
            } else {
                result = nil
            }
        }
        if let entry = optional(section, "poolSize"), let value = integer(entry, in: Bounds.poolSize) {
            result?.poolSize = value
        }
        if let entry = optional(section, "connectTimeoutSeconds"),
           let value = seconds(entry, in: Bounds.connectTimeoutSeconds) {
            result?.connectTimeoutSeconds = value
        }
        return result
    }

    private mutating func peers(_ top: Section, nodeCountry: String) -> [PeerConfiguration] {
        guard let entry = optional(top, "peers") else { return [] }
        guard case .sequence(let items) = entry.value else {
            problem(.invalidValue, entry.path, entry.mark, "must be a list of peers, each starting with '- country: XX'")
            return []
        }
        var peers: [PeerConfiguration] = []
        var seen: [String: String] = [:]
        for (index, item) in items.enumerated() {
            let itemEntry = Entry(path: "peers[\(index)]", mark: item.mark, value: item)
            guard let section = section(itemEntry, keys: Self.keys(of: "peers[]")) else { continue }
            var peer = PeerConfiguration(country: "", baseURL: "", caFile: "", handlingCodes: [])
            if let entry = required(section, "country"), let code = country(entry) {
                if code == nodeCountry {
                    problem(.invalidValue, entry.path, entry.mark,
                            "\(code) is this node's own country (node.country); a peer is another member state's node")
                } else if let other = seen[code] {
                    problem(.invalidValue, entry.path, entry.mark,
                            "\(code) is already configured as \(other); give each country once")
                } else {
                    seen[code] = section.path
                }
                peer.country = code
            }
            if let entry = required(section, "baseURL"), let url = httpsURL(entry) { peer.baseURL = url }
            if let entry = required(section, "ca"), let path = path(entry) {
                if checkFile(path, entry, what: "CA certificate") { peer.caFile = path }
            }
            if let entry = optional(section, "pinnedPublicKey"), let pin = pinnedPublicKey(entry) { peer.pinnedPublicKey = pin }
            if let entry = optional(section, "push"), let push = boolean(entry) { peer.push = push }
            if let entry = optional(section, "pullEverySeconds"), let value = seconds(entry, in: Bounds.pullEverySeconds) {
                peer.pullEverySeconds = value
            }
            if let entry = required(section, "handlingCodes") { peer.handlingCodes = handlingCodes(entry) }
            peers.append(peer)
        }
        return peers
    }

    // MARK: Sections and keys

    /// A key's value, the key as a path and where the key is written.
    struct Entry {
        var path: String
        var mark: Mark?
        var value: Node
    }

    /// A mapping whose keys were checked against the known ones.
    struct Section {
        /// `""` for the top level.
        var path: String
        /// Where the section's key is written (nil for the top level).
        var mark: Mark?
        var entries: [String: Entry]
        /// Known keys suggested for unknown ones (`pulEverySeconds` → `pullEverySeconds`): the typo is reported,
        /// so the key is not reported missing as well.
        var suggested: Set<String> = []

        func child(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
    }

    /// The mapping of `entry`, with unknown keys reported; nil when it is not a mapping.
    private mutating func section(_ entry: Entry, keys: [String]) -> Section? {
        guard case .mapping(let mapping) = entry.value else {
            let what = entry.path.isEmpty ? "the configuration" : "this"
            problem(.invalidValue, entry.path.isEmpty ? nil : entry.path, entry.mark ?? entry.value.mark,
                    "\(what) must be a mapping of keys (\(keys.joined(separator: ", ")))")
            return nil
        }
        // Missing keys of the top level have no line to point at; those of a section point at the section's key.
        var section = Section(path: entry.path, mark: entry.path.isEmpty ? nil : entry.mark ?? mapping.mark, entries: [:])
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else {
                problem(.invalidValue, entry.path.isEmpty ? nil : entry.path, key.mark, "keys must be plain words")
                continue
            }
            let name = scalar.string
            let path = section.child(name)
            guard keys.contains(name) else {
                var message = "unknown key '\(name)'"
                if let suggestion = Self.closest(name, among: keys) {
                    message += "; did you mean '\(suggestion)'?"
                    section.suggested.insert(suggestion)
                } else {
                    message += "; the keys here are \(keys.joined(separator: ", "))"
                }
                if name == "<<" { message = "YAML merge keys (<<) are not supported; write the keys out" }
                if path == "store.postgres.password" {
                    message = "a password is never written in the configuration file; put it in a file only the node's user can read (chmod 600) and name that file in store.postgres.passwordFile"
                }
                problem(.unknownKey, path, key.mark, message)
                continue
            }
            section.entries[name] = Entry(path: path, mark: key.mark, value: value)
        }
        return section
    }

    /// The entry of `key`, or nil when it is absent or has no value (`key:`, `key: ~`).
    private func optional(_ section: Section, _ key: String) -> Entry? {
        guard let entry = section.entries[key], !Self.isNull(entry.value) else { return nil }
        return entry
    }

    /// The entry of `key`; reports it missing when it is absent or has no value.
    private mutating func required(_ section: Section, _ key: String) -> Entry? {
        if let entry = optional(section, key) { return entry }
        if section.entries[key] == nil && section.suggested.contains(key) { return nil }
        let path = section.child(key)
        let example = Self.examples[path.replacingOccurrences(of: #"\[\d+\]"#, with: "[]", options: .regularExpression)]
        var message = section.entries[key] == nil ? "is missing" : "has no value"
        if let example { message += "; add it, e.g. \(example)" }
        message += section.path.isEmpty ? "" : " under \(section.path)"
        problem(.missingKey, path, section.entries[key]?.mark ?? section.mark, message)
        return nil
    }

    private mutating func requiredSection(_ top: Section, _ key: String) -> Section? {
        guard let entry = required(top, key) else { return nil }
        return section(entry, keys: Self.keys(of: key))
    }

    private mutating func optionalSection(_ top: Section, _ key: String) -> Section? {
        guard let entry = optional(top, key) else { return nil }
        return section(entry, keys: Self.keys(of: key))
    }

    /// How to write a required key, for messages.
    static let examples: [String: String] = [
        "node": "node: { country: NL, agency: NL-POLITIE, baseURL: https://fwx.politie.example:8443 }",
        "node.country": "country: NL",
        "node.agency": "agency: NL-POLITIE",
        "node.baseURL": "baseURL: https://fwx.politie.example:8443",
        "listen": "listen: { host: 0.0.0.0, port: 8443 }",
        "listen.host": "host: 0.0.0.0",
        "listen.port": "port: 8443",
        "tls": "tls: { certificate: pki/node-tls.pem, key: pki/node-tls.key.pem }",
        "tls.certificate": "certificate: pki/node-tls.pem",
        "tls.key": "key: pki/node-tls.key.pem",
        "signing": "signing: { certificate: pki/node-signing.pem, key: pki/node-signing.key.pem }",
        "signing.certificate": "certificate: pki/node-signing.pem",
        "signing.key": "key: pki/node-signing.key.pem",
        "trust": "trust: { directory: pki/trust }",
        "store": "store: { sqlite: data/node.sqlite }",
        "store.sqlite": "sqlite: data/node.sqlite",
        "store.postgres.url": "url: \"postgresql://fwx@127.0.0.1:5432/fwx_nl\"",
        "peers[].country": "country: DE",
        "peers[].baseURL": "baseURL: https://fwx.polizei.example:8443",
        "peers[].ca": "ca: pki/DE/ca.pem",
        "peers[].handlingCodes": "handlingCodes: [H0, H1]",
    ]

    // MARK: Values

    private mutating func scalar(_ entry: Entry, expected: String) -> String? {
        guard case .scalar(let scalar) = entry.value else {
            problem(.invalidValue, entry.path, entry.mark, "must be \(expected), not a \(Self.kind(entry.value))")
            return nil
        }
        return scalar.string
    }

    /// A non-empty text value.
    private mutating func text(_ entry: Entry) -> String? {
        guard let text = scalar(entry, expected: "a text value")?.trimmingCharacters(in: .whitespaces) else { return nil }
        guard !text.isEmpty else {
            problem(.missingKey, entry.path, entry.mark, "is empty; give a value")
            return nil
        }
        return text
    }

    private mutating func integer(_ entry: Entry, in range: ClosedRange<Int>, hint: String? = nil) -> Int? {
        guard let text = scalar(entry, expected: "a whole number") else { return nil }
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)), range.contains(value) else {
            var message = "'\(text)' is not a whole number from \(range.lowerBound) to \(range.upperBound)"
            if let hint { message += "; \(hint)" }
            problem(.invalidValue, entry.path, entry.mark, message)
            return nil
        }
        return value
    }

    private mutating func seconds(_ entry: Entry, in range: ClosedRange<Double>) -> Double? {
        guard let text = scalar(entry, expected: "a number of seconds") else { return nil }
        guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite, value > 0,
              range.contains(value) else {
            problem(.invalidValue, entry.path, entry.mark,
                    "'\(text)' is not a number of seconds greater than 0 and at most \(Self.format(range.upperBound))")
            return nil
        }
        return value
    }

    private mutating func boolean(_ entry: Entry) -> Bool? {
        guard let text = scalar(entry, expected: "true or false") else { return nil }
        switch text.lowercased() {
        case "true": return true
        case "false": return false
        default:
            problem(.invalidValue, entry.path, entry.mark, "'\(text)' is not true or false")
            return nil
        }
    }

    private mutating func country(_ entry: Entry) -> String? {
        guard let text = text(entry) else { return nil }
        guard let code = CountryCode.normalize(text) else {
            problem(.invalidValue, entry.path, entry.mark,
                    "'\(text)' is not an ISO 3166-1 alpha-2 country code; use e.g. NL, DE, BE (EL and UK are read as GR and GB)")
            return nil
        }
        return code
    }

    private mutating func agencyId(_ entry: Entry) -> String? {
        guard let text = text(entry) else { return nil }
        let valid = (2...64).contains(text.utf8.count) && text.unicodeScalars.allSatisfy {
            ("A"..."Z").contains($0) || ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "." || $0 == "_" || $0 == "-"
        }
        guard valid else {
            problem(.invalidValue, entry.path, entry.mark,
                    "'\(text)' is not an agency id: 2 to 64 letters, digits, dots, underscores or hyphens, e.g. NL-POLITIE")
            return nil
        }
        return text
    }

    private mutating func host(_ entry: Entry) -> String? {
        guard let text = text(entry) else { return nil }
        let valid = text.unicodeScalars.allSatisfy {
            ("A"..."Z").contains($0) || ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "." || $0 == "-" || $0 == ":"
        }
        guard valid else {
            problem(.invalidValue, entry.path, entry.mark,
                    "'\(text)' is not a host name or IP address; use e.g. 0.0.0.0 (every interface), 127.0.0.1 or ::")
            return nil
        }
        return text
    }

    /// An https URL with a host, an optional port and path, no user, query or fragment; returned without a
    /// trailing slash.
    private mutating func httpsURL(_ entry: Entry) -> String? {
        guard let text = text(entry) else { return nil }
        let example = "must be an https URL with a host, e.g. https://node.example:8443"
        guard let components = URLComponents(string: text), components.scheme?.lowercased() == "https",
              let host = components.host, !host.isEmpty, components.user == nil, components.password == nil,
              components.query == nil, components.fragment == nil else {
            problem(.invalidValue, entry.path, entry.mark, example)
            return nil
        }
        if let port = components.port, !(1...65535).contains(port) {
            problem(.invalidValue, entry.path, entry.mark, "port \(port) is out of range; \(example)")
            return nil
        }
        var url = text
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    /// One or more `sha256//BASE64` pins (base64 of 32 bytes), separated by `;`.
    private mutating func pinnedPublicKey(_ entry: Entry) -> String? {
        guard let text = text(entry) else { return nil }
        let pins = text.split(separator: ";", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        for pin in pins {
            guard pin.hasPrefix("sha256//"), let digest = Data(base64Encoded: String(pin.dropFirst(8))), digest.count == 32 else {
                problem(.invalidValue, entry.path, entry.mark,
                        "must be sha256// followed by the base64 SHA-256 of the peer's public key (44 characters), as curl's --pinnedpubkey; several pins are separated by ';'. Get it with: openssl x509 -in CERT -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | openssl base64")
                return nil
            }
        }
        return pins.joined(separator: ";")
    }

    private mutating func handlingCodes(_ entry: Entry) -> Set<HandlingCode> {
        guard case .sequence(let items) = entry.value else {
            problem(.invalidValue, entry.path, entry.mark,
                    "must be a list of handling codes this peer may receive, e.g. [H0, H1]")
            return []
        }
        var codes: Set<HandlingCode> = []
        for (index, item) in items.enumerated() {
            let itemEntry = Entry(path: "\(entry.path)[\(index)]", mark: item.mark, value: item)
            guard let text = scalar(itemEntry, expected: "a handling code") else { continue }
            guard let code = HandlingCode(rawValue: text.trimmingCharacters(in: .whitespaces).uppercased()) else {
                problem(.invalidValue, itemEntry.path, itemEntry.mark, "'\(text)' is not a handling code; use H0, H1, H2 or H3")
                continue
            }
            codes.insert(code)
        }
        if items.isEmpty {
            problem(.invalidValue, entry.path, entry.mark,
                    "is empty; list the handling codes this peer may receive, e.g. [H0, H1] (a peer that may receive nothing needs no entry)")
        }
        return codes
    }

    // MARK: Files

    /// A path resolved against the configuration's folder, absolute.
    private mutating func path(_ entry: Entry) -> String? {
        guard let text = scalar(entry, expected: "a file path") else { return nil }
        guard !text.isEmpty else {
            problem(.missingKey, entry.path, entry.mark, "is empty; give a path")
            return nil
        }
        return Self.absolute(text, against: baseDirectory)
    }

    private mutating func fileList(_ entry: Entry, what: String) -> [String] {
        guard case .sequence(let items) = entry.value else {
            problem(.invalidValue, entry.path, entry.mark, "must be a list of files, e.g. [pki/DE/ca.pem]")
            return []
        }
        var files: [String] = []
        for (index, item) in items.enumerated() {
            let itemEntry = Entry(path: "\(entry.path)[\(index)]", mark: item.mark, value: item)
            if let path = path(itemEntry), checkFile(path, itemEntry, what: what) { files.append(path) }
        }
        return files
    }

    /// Whether `path` is a readable regular file; a private key must also be closed to group and others.
    @discardableResult
    private mutating func checkFile(_ path: String, _ entry: Entry, what: String, privateKey: Bool = false) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let failure = errno
            problem(.fileProblem, entry.path, entry.mark, "\(what) \(path) \(missingReason(failure))")
            return false
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            problem(.fileProblem, entry.path, entry.mark, "\(what) \(path) is \(Self.kind(of: info)), not a file; give the file's path")
            return false
        }
        guard access(path, R_OK) == 0 else {
            let failure = errno
            problem(.fileProblem, entry.path, entry.mark,
                    "\(what) \(path) cannot be read by this user (\(Self.text(errno: failure))); give the node's user read access")
            return false
        }
        if privateKey && info.st_mode & 0o077 != 0 {
            problem(.fileProblem, entry.path, entry.mark,
                    "private key \(path) is readable by group or others (mode \(String(info.st_mode & 0o777, radix: 8))); run: chmod 600 \(path)")
            return false
        }
        return true
    }

    /// Whether `path` is a readable folder holding PEM files.
    private mutating func checkFolder(_ path: String, _ entry: Entry, what: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let failure = errno
            problem(.fileProblem, entry.path, entry.mark, "\(what) \(path) \(missingReason(failure))")
            return false
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            problem(.fileProblem, entry.path, entry.mark,
                    "\(what) \(path) is \(Self.kind(of: info)), not a folder; give a folder of PEM CA certificates and CRLs")
            return false
        }
        guard access(path, R_OK | X_OK) == 0, let names = try? FileManager.default.contentsOfDirectory(atPath: path) else {
            problem(.fileProblem, entry.path, entry.mark,
                    "\(what) \(path) cannot be read by this user; give the node's user read access")
            return false
        }
        guard names.contains(where: { name in [".pem", ".crt", ".crl"].contains { name.hasSuffix($0) } }) else {
            problem(.fileProblem, entry.path, entry.mark,
                    "\(what) \(path) holds no .pem, .crt or .crl file; put the partner CA certificates and their CRLs there")
            return false
        }
        return true
    }

    /// The database file must be a readable and writable file if it exists; its folder must exist and be writable,
    /// or be creatable (the nearest existing parent is a writable folder). Nothing is created here.
    private mutating func checkDatabasePath(_ path: String, _ entry: Entry) {
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFREG else {
                problem(.fileProblem, entry.path, entry.mark, "database \(path) is \(Self.kind(of: info)), not a file")
                return
            }
            guard access(path, R_OK | W_OK) == 0 else {
                problem(.fileProblem, entry.path, entry.mark,
                        "database \(path) cannot be read and written by this user; give the node's user read and write access")
                return
            }
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var existing = folder
        while stat(existing, &info) != 0 {
            let failure = errno
            guard failure == ENOENT || failure == ENOTDIR, existing != "/" else {
                problem(.fileProblem, entry.path, entry.mark,
                        "database folder \(existing) cannot be reached (\(Self.text(errno: failure))); check the path and its folders' permissions")
                return
            }
            existing = URL(fileURLWithPath: existing).deletingLastPathComponent().path
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            problem(.fileProblem, entry.path, entry.mark,
                    "database folder \(folder) cannot be made: \(existing) is \(Self.kind(of: info)), not a folder; choose another path")
            return
        }
        guard access(existing, W_OK | X_OK) == 0 else {
            let message = existing == folder
                ? "database folder \(folder) is not writable by this user (SQLite writes its journal next to the database); give the node's user write access"
                : "database folder \(folder) does not exist and cannot be made: \(existing) is not writable by this user; create \(folder) for the node's user"
            problem(.fileProblem, entry.path, entry.mark, message)
            return
        }
    }

    private func missingReason(_ failure: Int32) -> String {
        if failure == ENOENT {
            return "does not exist (relative paths are read from the configuration file's folder \(baseDirectory)); check the path"
        }
        return "cannot be reached (\(Self.text(errno: failure))); check the path and its folders' permissions"
    }

    // MARK: Problems

    private mutating func problem(_ code: Code, _ key: String?, _ mark: Mark?, _ message: String) {
        problems.append(Problem(code, key: key, message: message, file: file, line: mark?.line, column: mark?.column))
    }

    private mutating func report(syntax error: YamlError) {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            var message = "not valid YAML: \(problem)"
            if let context { message += " (\(context.text) at line \(context.mark.line), column \(context.mark.column))" }
            self.problem(.syntax, nil, mark, message)
        case .duplicatedKeysInMapping(let duplicates, let context):
            self.problem(.syntax, nil, context.mark,
                         "key \(duplicates.map { "'\($0)'" }.joined(separator: ", ")) is given twice in one mapping; keep one")
        case .reader(let problem, _, _, _):
            self.problem(.syntax, nil, nil, "not readable as YAML text: \(problem)")
        default:
            self.problem(.syntax, nil, nil, "not valid YAML: \(error)")
        }
    }

    // MARK: Helpers

    static func isNull(_ node: Node) -> Bool {
        if case .scalar(let scalar) = node, scalar.style == .plain, node.tag.rawValue == Tag.Name.null.rawValue { return true }
        return false
    }

    private func isEmptyList(_ node: Node) -> Bool {
        if case .sequence(let items) = node { return items.isEmpty }
        return false
    }

    private static func kind(_ node: Node) -> String {
        switch node {
        case .scalar: return "single value"
        case .mapping: return "mapping"
        case .sequence: return "list"
        case .alias: return "alias"
        }
    }

    private static func kind(of info: stat) -> String {
        switch info.st_mode & S_IFMT {
        case S_IFDIR: return "a folder"
        case S_IFREG: return "a file"
        default: return "a special file"
        }
    }

    /// `path` made absolute against `base` and standardised (`.` and `..` removed).
    static func absolute(_ path: String, against base: String) -> String {
        let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : URL(fileURLWithPath: base).appendingPathComponent(path)
        return url.standardized.path
    }

    static func text(errno code: Int32) -> String {
        String(cString: strerror(code))
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }

    /// The candidate closest to `word`, when it is close enough to be a typo.
    static func closest(_ word: String, among candidates: [String]) -> String? {
        Spelling.closest(word, among: candidates)
    }
}
