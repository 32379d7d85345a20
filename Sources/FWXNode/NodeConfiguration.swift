public import FWXModel
public import FWXStore
public import Foundation

/// The configuration of one FWX node, as `fwx serve --config FILE` and the operator commands read it from YAML.
///
/// Read it with ``load(path:)`` (or ``parse(yaml:path:baseDirectory:)``): the whole file is checked before anything
/// starts (unknown keys, missing keys, values, files and their permissions), relative file paths are resolved
/// against the configuration file's folder and stored absolute, and every problem found is reported in one
/// ``ConfigurationError``. Every key is documented in docs/node-config.md (``knownKeys`` lists them).
///
/// The memberwise initialiser is for tests and embedding; it checks nothing.
public struct NodeConfiguration: Sendable {
    /// This node's country (normalised ISO 3166-1 alpha-2, EL → GR, UK → GB) and the agency id it signs feeds with.
    public var identity: NodeIdentity
    /// The https URL at which peers reach this node, without a trailing slash.
    public var baseURL: String
    /// Where the HTTPS server listens.
    public var listen: ListenAddress
    /// The node's TLS server and client certificate and key.
    public var tls: CredentialFiles
    /// The certificate and key the node signs batches and receipts with.
    public var signing: CredentialFiles
    /// The CA certificates and CRLs the node trusts.
    public var trust: TrustSettings
    /// Where the node keeps its data.
    public var store: StoreSettings
    /// Size, count and rate limits.
    public var limits: NodeLimits
    /// How deliveries to peers are retried.
    public var outbox: OutboxSettings
    /// Timeouts and limits of connections.
    public var connections: ConnectionSettings
    /// How refusals are audited.
    public var audit: AuditSettings
    /// The log level: `trace`, `debug`, `info`, `notice`, `warning`, `error` or `critical` (swift-log's names).
    public var logLevel: String
    /// Which certificate roles (node, liaison) may do what.
    public var roles: RoleSettings
    /// The partner nodes, in the order of the file.
    public var peers: [PeerConfiguration]
    /// The absolute path of the configuration file this was read from (empty when built in code).
    public var configurationFile: String

    /// A configuration built in code. Nothing is checked; ``load(path:)`` checks everything.
    public init(identity: NodeIdentity, baseURL: String, listen: ListenAddress, tls: CredentialFiles,
                signing: CredentialFiles, trust: TrustSettings, store: StoreSettings, limits: NodeLimits = NodeLimits(),
                outbox: OutboxSettings = OutboxSettings(), connections: ConnectionSettings = ConnectionSettings(),
                audit: AuditSettings = AuditSettings(), logLevel: String = "info", roles: RoleSettings = RoleSettings(),
                peers: [PeerConfiguration] = [], configurationFile: String = "") {
        self.identity = identity
        self.baseURL = baseURL
        self.listen = listen
        self.tls = tls
        self.signing = signing
        self.trust = trust
        self.store = store
        self.limits = limits
        self.outbox = outbox
        self.connections = connections
        self.audit = audit
        self.logLevel = logLevel
        self.roles = roles
        self.peers = peers
        self.configurationFile = configurationFile
    }

    /// The peer of `country` (any spelling ``CountryCode/normalize(_:)`` accepts, so `el` finds GR), or nil.
    public func peer(country: String) -> PeerConfiguration? {
        let code = CountryCode.normalize(country) ?? country
        return peers.first { $0.country == code }
    }

    /// Reads and checks the configuration file at `path`. Relative paths inside it are read from the file's folder.
    /// Throws ``ConfigurationError`` listing every problem found.
    public static func load(path: String) throws -> NodeConfiguration {
        let absolute = ConfigurationReader.absolute(path, against: FileManager.default.currentDirectoryPath)
        guard let data = FileManager.default.contents(atPath: absolute) else {
            var isFolder: ObjCBool = false
            let reason: String
            if !FileManager.default.fileExists(atPath: absolute, isDirectory: &isFolder) {
                reason = "does not exist; give the path of the node's YAML configuration (see docs/node-config.md)"
            } else if isFolder.boolValue {
                reason = "is a folder; give the path of the node's YAML configuration file"
            } else {
                reason = "cannot be read; give the node's user read access"
            }
            throw ConfigurationError(.fileProblem, key: nil, message: "configuration file \(absolute) \(reason)", file: path)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(.syntax, key: nil, message: "the configuration file is not UTF-8 text; save it as UTF-8",
                                     file: path)
        }
        return try parse(yaml: text, path: path, baseDirectory: URL(fileURLWithPath: absolute).deletingLastPathComponent().path)
    }

    /// Parses and checks a configuration. `path` names the file in messages and becomes ``configurationFile``
    /// (made absolute); relative paths in the YAML are resolved against `baseDirectory` (itself made absolute
    /// against the current directory). Throws ``ConfigurationError`` listing every problem found.
    public static func parse(yaml: String, path: String, baseDirectory: String) throws -> NodeConfiguration {
        let cwd = FileManager.default.currentDirectoryPath
        var reader = ConfigurationReader(file: path, baseDirectory: ConfigurationReader.absolute(baseDirectory, against: cwd))
        let configuration = reader.read(yaml: yaml)
        guard reader.problems.isEmpty, var configuration else {
            throw ConfigurationError(problems: reader.sortedProblems)
        }
        configuration.configurationFile = ConfigurationReader.absolute(path, against: cwd)
        return configuration
    }

    /// Every key the loader accepts, as paths: sections (`limits`), their keys (`limits.maxBodyBytes`) and the keys
    /// of each peer (`peers[].country`). docs/node-config.md documents exactly these.
    public static let knownKeys: [String] = ConfigurationReader.sections.flatMap { section, keys in
        keys.map { section.isEmpty ? $0 : "\(section).\($0)" }
    }
}

/// The address and port the node's HTTPS server listens on.
public struct ListenAddress: Sendable, Hashable {
    /// A host name or IP address (`0.0.0.0` or `::` for every interface).
    public var host: String
    /// 1 to 65535.
    public var port: Int

    /// An address to listen on.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}

/// A certificate (PEM, leaf first, optionally followed by intermediates) and its private key (PEM, unencrypted,
/// not readable by group or others), as absolute paths.
public struct CredentialFiles: Sendable, Hashable {
    /// The certificate file.
    public var certificate: String
    /// The private key file.
    public var key: String

    /// A certificate and key pair.
    public init(certificate: String, key: String) {
        self.certificate = certificate
        self.key = key
    }
}

/// What the node trusts: a folder of PEM CA certificates and CRLs (as `fwx verify --trust DIR`), and/or listed files.
public struct TrustSettings: Sendable, Hashable {
    /// A folder whose `*.pem`, `*.crt` and `*.crl` files hold CA certificates and CRLs, or nil.
    public var directory: String?
    /// CA certificate files (PEM).
    public var certificates: [String]
    /// CRL files (PEM).
    public var crls: [String]
    /// How often the running node reads the CA certificates and CRLs (of the folder, `certificates` and `crls`)
    /// again, so that a revocation, a partner CA added or a CA removed takes effect without a restart.
    public var reloadCRLsEverySeconds: Double
    /// Whether every trusted CA must have a CRL (`require`, the default: the node does not start without, and
    /// certificates of a CA without one are refused) or may have none (`allow-missing`).
    public var revocation: RevocationRequirement
    /// What a CRL past its nextUpdate does: `refuse` (default) the certificates of its CA, or `warn` and keep it.
    public var staleCRL: StaleCRLHandling
    /// How often the node fetches CRLs from the distribution points named by its CAs and by its callers'
    /// certificates; nil = never.
    public var fetchCRLsEverySeconds: Double?

    /// Trust settings; at least a directory or one certificate is needed for a node to trust anybody.
    public init(directory: String? = nil, certificates: [String] = [], crls: [String] = [],
                reloadCRLsEverySeconds: Double = 300, revocation: RevocationRequirement = .require,
                staleCRL: StaleCRLHandling = .refuse, fetchCRLsEverySeconds: Double? = 3600) {
        self.directory = directory
        self.certificates = certificates
        self.crls = crls
        self.reloadCRLsEverySeconds = reloadCRLsEverySeconds
        self.revocation = revocation
        self.staleCRL = staleCRL
        self.fetchCRLsEverySeconds = fetchCRLsEverySeconds
    }
}

/// `trust.revocation`: whether a trusted CA without a CRL is an error.
public enum RevocationRequirement: String, Sendable, Hashable {
    /// Every CA needs a CRL: the node does not start without; certificates of a CA without one are refused.
    case require
    /// A CA may have no CRL; its certificates are then not checked for revocation.
    case allowMissing = "allow-missing"
}

/// `trust.staleCRL`: what a CRL past its nextUpdate does.
public enum StaleCRLHandling: String, Sendable, Hashable {
    /// The certificates of its CA are refused until a current CRL is in place.
    case refuse
    /// It stays in force, with a warning in the log, the `fwx_crls_stale` metric and an audit entry.
    case warn
}

/// `roles`: what node certificates and liaison certificates may do (docs/node.md, "Certificate roles").
public struct RoleSettings: Sendable, Hashable {
    /// Liaison certificates may pull the feed, read single records and search (default false: 403).
    public var liaisonsMayPull: Bool
    /// Node certificates of the node's own country may submit batches (default false: 403).
    public var nodesMaySubmit: Bool

    public init(liaisonsMayPull: Bool = false, nodesMaySubmit: Bool = false) {
        self.liaisonsMayPull = liaisonsMayPull
        self.nodesMaySubmit = nodesMaySubmit
    }
}

/// Where the node keeps its records, deliveries and receipts.
public struct StoreSettings: Sendable, Hashable {
    /// Which store: a SQLite file (the default) or a PostgreSQL database. ``NodeStores/open(_:readOnly:)`` opens it.
    public var configuration: StoreConfiguration

    /// The SQLite database file (absolute), or "" for a PostgreSQL store. Its folder may not exist yet: checking
    /// the configuration never creates anything; ``createFolder()`` does, when the node starts.
    public var sqlitePath: String { configuration.sqlitePath ?? "" }

    /// Store settings for a SQLite database file.
    public init(sqlitePath: String) {
        self.configuration = .sqlite(path: sqlitePath)
    }

    /// Store settings for either backend.
    public init(_ configuration: StoreConfiguration) {
        self.configuration = configuration
    }

    /// Creates the SQLite database's folder (and missing parents) with mode 0700 when it does not exist yet;
    /// nothing for a PostgreSQL store.
    public func createFolder() throws {
        guard let sqlitePath = configuration.sqlitePath else { return }
        let folder = URL(fileURLWithPath: sqlitePath).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
    }
}

extension NodeConfiguration {
    /// The folder spooled bodies go to: `limits.spoolDirectory`, else the SQLite store's folder, else `TMPDIR`
    /// (or `/tmp`).
    public var spoolDirectory: String {
        if let folder = limits.spoolDirectory { return folder }
        if let sqlitePath = store.configuration.sqlitePath {
            return URL(fileURLWithPath: sqlitePath).deletingLastPathComponent().path
        }
        let temporary = ProcessInfo.processInfo.environment["TMPDIR"] ?? ""
        return temporary.isEmpty ? "/tmp" : temporary
    }
}

/// Limits that protect the node from oversized or too frequent requests, and from more work at once than it has
/// memory and cores for.
public struct NodeLimits: Sendable, Hashable {
    /// Largest request body accepted, in bytes (default 32 MiB).
    public var maxBodyBytes: Int
    /// Most records one batch may hold (default 10 000).
    public var maxRecordsPerBatch: Int
    /// Requests one peer may make per minute (default 600; there is no "unlimited").
    public var requestsPerMinutePerPeer: Int
    /// Largest `limit` a feed request may ask for (default 1000).
    public var maxFeedPage: Int
    /// Batches read and checked at once; more are answered 503 (default: one per core, at least 2).
    public var maxConcurrentBatches: Int
    /// Memory the batches in flight may take, estimated from their body sizes; a batch that does not fit is
    /// answered 503 before its body is read (default: 256 MiB per core, at most an eighth of physical memory,
    /// at least 256 MiB).
    public var memoryBudgetBytes: Int
    /// Threads for blocking work (XML, signatures); more work waits for one (default: one per core, at least 2).
    public var blockingThreads: Int
    /// A request body larger than this is written to a nameless spool file while it is checked, not held in memory,
    /// and read in only once accepted (default 8 MiB; 0 spools every batch).
    public var spoolBodiesOverBytes: Int
    /// Folder of the spool files (default: the SQLite store's folder; with a PostgreSQL store, `TMPDIR` or `/tmp`).
    /// It must be on a disk, not a RAM file system, or the spool saves no memory.
    public var spoolDirectory: String?

    /// Limits, with FWX's defaults (some derived from this machine, ``MachineDefaults``) for those not given.
    public init(maxBodyBytes: Int = 33_554_432, maxRecordsPerBatch: Int = 10_000, requestsPerMinutePerPeer: Int = 600,
                maxFeedPage: Int = 1000, maxConcurrentBatches: Int = MachineDefaults.current.maxConcurrentBatches,
                memoryBudgetBytes: Int = MachineDefaults.current.memoryBudgetBytes,
                blockingThreads: Int = MachineDefaults.current.blockingThreads,
                spoolBodiesOverBytes: Int = 8 << 20, spoolDirectory: String? = nil) {
        self.maxBodyBytes = maxBodyBytes
        self.maxRecordsPerBatch = maxRecordsPerBatch
        self.requestsPerMinutePerPeer = requestsPerMinutePerPeer
        self.maxFeedPage = maxFeedPage
        self.maxConcurrentBatches = maxConcurrentBatches
        self.memoryBudgetBytes = memoryBudgetBytes
        self.blockingThreads = blockingThreads
        self.spoolBodiesOverBytes = spoolBodiesOverBytes
        self.spoolDirectory = spoolDirectory
    }

    /// The defaults of the limits that depend on the machine: its cores and its memory (physical, or the cgroup's
    /// limit when that is lower, as in a container).
    public struct MachineDefaults: Sendable, Hashable {
        /// Cores the process may use.
        public var cores: Int
        /// Bytes of memory the process may use.
        public var memoryBytes: UInt64

        /// Defaults for a machine of `cores` and `memoryBytes`.
        public init(cores: Int, memoryBytes: UInt64) {
            self.cores = max(1, cores)
            self.memoryBytes = memoryBytes
        }

        /// This machine.
        public static let current = MachineDefaults(cores: ProcessInfo.processInfo.activeProcessorCount,
                                                    memoryBytes: availableMemory())

        /// One batch per core (checking is CPU-bound), at least 2.
        public var maxConcurrentBatches: Int { max(2, cores) }
        /// One thread per core, at least 2.
        public var blockingThreads: Int { max(2, cores) }
        /// 256 MiB per core (about one batch of 10 000 records), at most an eighth of the memory, at least 256 MiB.
        public var memoryBudgetBytes: Int {
            let perCore = cores * (256 << 20)
            let eighth = Int(min(memoryBytes / 8, UInt64(Int.max)))
            return max(256 << 20, min(perCore, eighth))
        }

        private static func availableMemory() -> UInt64 {
            let physical = ProcessInfo.processInfo.physicalMemory
            for file in ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"] {
                if let text = try? String(contentsOfFile: file, encoding: .utf8),
                   let limit = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)), limit > 0 {
                    return min(physical, limit)
                }
            }
            return physical
        }
    }
}

/// Limits on connections, against clients that open connections and hold them: time allowed for the TLS handshake,
/// for a request's header and body, and between requests on a kept-alive connection; connections per client
/// address.
public struct ConnectionSettings: Sendable, Hashable {
    /// Seconds from accepting a connection to the end of its TLS handshake (default 10).
    public var handshakeTimeoutSeconds: Double
    /// Seconds from a request's first byte to the end of its header (default 10).
    public var headerTimeoutSeconds: Double
    /// Seconds from the end of a request's header to the end of its body (default 300).
    public var bodyTimeoutSeconds: Double
    /// Seconds a kept-alive connection may wait for its next request (default 60).
    public var idleTimeoutSeconds: Double
    /// Connections one client address may hold open at once; more are closed at once (default 64).
    public var maxPerClientAddress: Int

    /// Connection limits, with FWX's defaults for those not given.
    public init(handshakeTimeoutSeconds: Double = 10, headerTimeoutSeconds: Double = 10,
                bodyTimeoutSeconds: Double = 300, idleTimeoutSeconds: Double = 60, maxPerClientAddress: Int = 64) {
        self.handshakeTimeoutSeconds = handshakeTimeoutSeconds
        self.headerTimeoutSeconds = headerTimeoutSeconds
        self.bodyTimeoutSeconds = bodyTimeoutSeconds
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.maxPerClientAddress = maxPerClientAddress
    }
}

/// How the audit trail keeps refusals that anyone who can reach the port can cause (refused handshakes, connections
/// over the limit, 503 answers): counted per (certificate fingerprint or client address, reason) and written as one
/// entry per window, saying how many.
public struct AuditSettings: Sendable, Hashable {
    /// Seconds over which such refusals are counted before one entry is written (default 2).
    public var refusalWindowSeconds: Double

    /// Audit settings, with FWX's defaults for those not given.
    public init(refusalWindowSeconds: Double = 2) {
        self.refusalWindowSeconds = refusalWindowSeconds
    }
}

/// How the outbox retries a delivery to a peer: exponential backoff from `initialBackoffSeconds`, doubling up to
/// `maxBackoffSeconds`; after `maxAttempts` failed attempts the delivery becomes a dead letter.
public struct OutboxSettings: Sendable, Hashable {
    /// Attempts before a delivery becomes a dead letter (default 10).
    public var maxAttempts: Int
    /// Wait before the first retry, in seconds (default 1).
    public var initialBackoffSeconds: Double
    /// Longest wait between retries, in seconds (default 300).
    public var maxBackoffSeconds: Double
    /// How long a process's claim on a queued push holds (default 300 s). It must be longer than the longest
    /// delivery (connect, send, receipt): a claim that runs out while its push is still in flight lets another
    /// process send the batch again (answered with the same receipt, so nothing is lost, but sent twice). With
    /// several processes on one database it is also how long the pushes a killed process had claimed wait before
    /// another process takes them over.
    public var leaseSeconds: Double
    /// How long one process holds the right to pull a peer without renewing it (default 120 s; each page kept
    /// renews it); after a process dies mid-pull, the longest wait before another process pulls that peer.
    public var pullLeaseSeconds: Double

    /// Outbox settings, with FWX's defaults for those not given.
    public init(maxAttempts: Int = 10, initialBackoffSeconds: Double = 1, maxBackoffSeconds: Double = 300,
                leaseSeconds: Double = 300, pullLeaseSeconds: Double = 120) {
        self.maxAttempts = maxAttempts
        self.initialBackoffSeconds = initialBackoffSeconds
        self.maxBackoffSeconds = maxBackoffSeconds
        self.leaseSeconds = leaseSeconds
        self.pullLeaseSeconds = pullLeaseSeconds
    }
}

/// A partner node: where it is, which CA vouches for it, and what it may receive.
public struct PeerConfiguration: Sendable, Hashable {
    /// The peer's country (normalised ISO 3166-1 alpha-2); unique among the peers and not the node's own.
    public var country: String
    /// The peer's https URL, without a trailing slash.
    public var baseURL: String
    /// The CA certificate (PEM, absolute path) that must have issued the peer's TLS and signing certificates.
    public var caFile: String
    /// Pins of the peer's TLS public key as curl's `CURLOPT_PINNEDPUBLICKEY` takes them (`sha256//BASE64`, several
    /// separated by `;`), or nil.
    public var pinnedPublicKey: String?
    /// Whether batches of our liaisons are pushed to this peer at once.
    public var push: Bool
    /// How often the node pulls this peer's feed, in seconds; nil = never.
    public var pullEverySeconds: Double?
    /// The handling codes of records this peer may receive (never empty in a loaded configuration).
    public var handlingCodes: Set<HandlingCode>

    /// A peer; by default it is neither pushed to nor pulled from.
    public init(country: String, baseURL: String, caFile: String, pinnedPublicKey: String? = nil, push: Bool = false,
                pullEverySeconds: Double? = nil, handlingCodes: Set<HandlingCode>) {
        self.country = country
        self.baseURL = baseURL
        self.caFile = caFile
        self.pinnedPublicKey = pinnedPublicKey
        self.push = push
        self.pullEverySeconds = pullEverySeconds
        self.handlingCodes = handlingCodes
    }
}

/// The problems found in a node configuration: every one, in file order, each with the key it is about and where.
///
/// ``code``, ``key``, ``message``, ``file``, ``line`` and ``column`` are those of the first problem; ``problems`` has
/// them all. The description has one line per problem:
/// `FILE:LINE:COL: key peers[1].baseURL: must be an https URL with a host, e.g. https://node.example:8443`.
/// Errors are equal when their problems have the same codes, in the same order.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible, Equatable, LocalizedError {
    /// A stable code of a configuration problem.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Value: String, Sendable, Hashable {
            case missingKey, unknownKey, invalidValue, fileProblem, syntax
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// A required key is absent or has no value.
        public static let missingKey = Code(.missingKey)
        /// A key FWX does not know (often a typo).
        public static let unknownKey = Code(.unknownKey)
        /// A value of the wrong kind, out of range or inconsistent with another.
        public static let invalidValue = Code(.invalidValue)
        /// A file or folder is missing, unreadable, of the wrong kind or too open (private keys).
        public static let fileProblem = Code(.fileProblem)
        /// The file is not valid YAML, not UTF-8, or empty.
        public static let syntax = Code(.syntax)

        public var description: String { value.rawValue }
    }

    /// One problem, at one key.
    public struct Problem: Sendable, Hashable, CustomStringConvertible {
        /// What kind of problem.
        public var code: Code
        /// The key as a path (`peers[1].baseURL`), or nil for the file as a whole.
        public var key: String?
        /// What is wrong and what to do.
        public var message: String
        /// The configuration file, as given.
        public var file: String
        /// Line of the key (from 1), when known.
        public var line: Int?
        /// Column of the key (from 1, in Unicode scalars), when known.
        public var column: Int?

        /// A problem at `key`.
        public init(_ code: Code, key: String?, message: String, file: String, line: Int? = nil, column: Int? = nil) {
            self.code = code
            self.key = key
            self.message = message
            self.file = file
            self.line = line
            self.column = column
        }

        /// `FILE:LINE:COL: key KEY: MESSAGE` (parts not known are left out).
        public var description: String {
            var location = file
            if let line {
                location += ":\(line)"
                if let column { location += ":\(column)" }
            }
            if let key { return "\(location): key \(key): \(message)" }
            return "\(location): \(message)"
        }
    }

    /// Every problem found, in file order; never empty.
    public var problems: [Problem]

    /// An error of several problems; `problems` must not be empty.
    public init(problems: [Problem]) {
        precondition(!problems.isEmpty, "a ConfigurationError needs at least one problem")
        self.problems = problems
    }

    /// An error of one problem.
    public init(_ code: Code, key: String?, message: String, file: String, line: Int? = nil, column: Int? = nil) {
        self.init(problems: [Problem(code, key: key, message: message, file: file, line: line, column: column)])
    }

    /// The first problem's code.
    public var code: Code { problems[0].code }
    /// The first problem's key path.
    public var key: String? { problems[0].key }
    /// The first problem's message.
    public var message: String { problems[0].message }
    /// The configuration file, as given.
    public var file: String { problems[0].file }
    /// The first problem's line.
    public var line: Int? { problems[0].line }
    /// The first problem's column.
    public var column: Int? { problems[0].column }

    /// One line per problem.
    public var description: String { problems.map(\.description).joined(separator: "\n") }

    public var errorDescription: String? { description }

    public static func == (lhs: ConfigurationError, rhs: ConfigurationError) -> Bool {
        lhs.problems.map(\.code) == rhs.problems.map(\.code)
    }
}
