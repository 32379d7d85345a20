import ArgumentParser
import FWXClient
import FWXModel
import FWXNode
import FWXSigning
import FWXStore
import Foundation
import Logging
import ServiceLifecycle

/// `fwx serve`: runs a node until SIGTERM or SIGINT.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run an FWX node: the mutual-TLS HTTPS API, the push outbox and the scheduled pulls.",
        discussion: """
            The configuration is checked completely before anything starts (docs/node-config.md). \
            SIGTERM or SIGINT stops the node gracefully: requests in flight and the push in flight finish, \
            nothing acknowledged is lost. Logs go to standard error and carry no record content.
            """)

    @Option(name: .long, help: "The node configuration file (YAML).")
    var config: String

    func run() async throws {
        let configuration = try NodeConfiguration.load(path: config)
        try configuration.store.createFolder()
        LoggingBootstrap.once()
        let node = try await ExchangeNode.open(configuration: configuration)
        let application = try NodeServer(node: node).application { port in
            node.logger.notice("node listening", metadata: ["country": "\(configuration.identity.country)",
                                                            "port": "\(port)"])
        }
        let group = ServiceGroup(services: [application, OutboxService(node: node), PullService(node: node),
                                           RevocationReloadService(node: node)],
                                 gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [],
                                 logger: node.logger)
        do {
            try await group.run()
        } catch {
            await node.store.close()
            throw error
        }
        await node.store.close()
    }
}

/// Makes swift-log write to standard error once per process; FWX_LOG_LEVEL overrides the configured level.
///
/// The node sets its logger's level from the configuration (`log.level`) after this bootstrap; a logger's level is
/// its handler's, so with FWX_LOG_LEVEL set the handler keeps the environment's level and ignores that setting.
enum LoggingBootstrap {
    private static let done: Void = {
        let pinned = environmentLevel(ProcessInfo.processInfo.environment)
        LoggingSystem.bootstrap { label in
            PinnedLevelLogHandler(StreamLogHandler.standardError(label: label), pinned: pinned)
        }
    }()
    static func once() { _ = done }

    /// The level FWX_LOG_LEVEL names (trace, debug, info, notice, warning, error, critical; any case), or nil.
    static func environmentLevel(_ environment: [String: String]) -> Logger.Level? {
        environment["FWX_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0.trimmingCharacters(in: .whitespaces).lowercased()) }
    }
}

/// A log handler whose level, when `pinned`, stays that level whatever a logger sets.
struct PinnedLevelLogHandler: LogHandler {
    private var handler: any LogHandler
    private let pinned: Logger.Level?

    init(_ handler: any LogHandler, pinned: Logger.Level?) {
        self.handler = handler
        self.pinned = pinned
        if let pinned { self.handler.logLevel = pinned }
    }

    var logLevel: Logger.Level {
        get { pinned ?? handler.logLevel }
        set { if pinned == nil { handler.logLevel = newValue } }
    }

    var metadata: Logger.Metadata {
        get { handler.metadata }
        set { handler.metadata = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { handler.metadataProvider }
        set { handler.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { handler[metadataKey: key] }
        set { handler[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        handler.log(event: event)
    }
}

/// TLS client options shared by `send`, `pull`.
struct ClientOptions: ParsableArguments {
    @Option(name: .long, help: "The node's base URL, e.g. https://127.0.0.1:8443.")
    var node: String
    @Option(name: .long, help: "Your TLS client certificate (PEM).")
    var cert: String
    @Option(name: .long, help: "Your TLS private key (PEM, mode 600).")
    var key: String
    @Option(name: .long, help: "The CA file that issued the node's certificates (trusted for TLS and signatures).")
    var ca: String
    @Option(name: .long, help: "Pinned public key of the node's TLS certificate, as sha256//BASE64.")
    var pin: String?

    func validate() throws {
        guard node.hasPrefix("https://") else { throw ValidationError("--node must be an https:// URL") }
        for (flag, path) in [("--cert", cert), ("--key", key), ("--ca", ca)] where !FileManager.default.isReadableFile(atPath: path) {
            throw ValidationError("\(flag) \(path) is not a readable file")
        }
    }

    func exchange(expectedCountry: String? = nil) throws -> PeerExchange {
        let client = HTTPSClient(credentials: TLSClientCredentials(certificateFile: cert, keyFile: key, caFile: ca,
                                                                   pinnedPublicKey: pin))
        return PeerExchange(client: client, baseURL: node,
                            trust: TrustStore(certificates: try Certificate.load(pemFile: ca)),
                            expectedCountry: expectedCountry)
    }
}

/// `fwx send`: a liaison submits a signed batch to a node and gets the receipt, verified.
struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Submit a signed batch to a node over mutual TLS and check the signed receipt.",
        discussion: """
            Exit status: 0 accepted (receipt verified; sending the same batch again gives the same receipt), \
            1 refused by the node (403 sender, 409 conflict, 413 too large, 422 invalid; findings printed), \
            2 usage, I/O or TLS error (the message says which side refused what), or an unverifiable receipt.
            """)

    @Argument(help: "The signed batch (fwx sign).")
    var file: String
    @OptionGroup var client: ClientOptions
    @Option(name: [.short, .long], help: "Write the signed receipt here.")
    var output: String?

    func run() async throws {
        let bytes = try readFileBytes(file)
        let identity = try ReceiptReader.batchIdentity(of: bytes, name: file)
        let exchange = try client.exchange()
        switch try await exchange.push(bytes, batchId: identity.batchId, digest: identity.digest) {
        case .delivered(let receipt, let xml):
            if let output { try AtomicOutput.write(xml, to: output) }
            let counts = Dictionary(grouping: receipt.outcomes, by: \.result).mapValues(\.count)
            print("accepted by \(receipt.receivingNode.country) (\(receipt.receivingNode.agencyId)): batch \(receipt.batchId), "
                + "\(counts[.accepted] ?? 0) records accepted, \(counts[.superseded] ?? 0) superseded, "
                + "\(counts[.rejected] ?? 0) rejected; receipt signature verified"
                + (output.map { "; receipt in \($0)" } ?? ""))
            for outcome in receipt.outcomes where outcome.result == .rejected {
                print("  rejected \(outcome.recordId) revision \(outcome.revision): \(outcome.rule ?? "?")")
            }
        case .refused(let status, let message):
            FileHandle.standardError.write(Data("fwx: the node refused the batch (HTTP \(status)): \(message)\n".utf8))
            throw ExitCode(ExitStatus.invalid)
        case .retry(let message):
            FileHandle.standardError.write(Data("fwx: error: \(message)\n".utf8))
            throw ExitCode(ExitStatus.usageOrIO)
        }
    }
}

/// `fwx pull`: a one-off pull of a node's feed into a folder.
struct PullCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Pull the records a node lets you see, page by page, into a folder of signed batches.",
        discussion: """
            Each page is a batch signed by the node; its signature (chaining to --ca) and content are checked \
            before it is written as DIR/feed-CURSOR.xml. The next cursor is kept in DIR/cursor, so running the \
            command again continues where it stopped. Exit status: 0 done, 1 a page failed its checks, 2 usage, \
            I/O or TLS error.
            """)

    @OptionGroup var client: ClientOptions
    @Option(name: .long, help: "The folder for the pages (created if missing).")
    var out: String
    @Option(name: .long, help: "Start after this cursor instead of the one saved in DIR/cursor.")
    var after: String?
    @Option(name: .long, help: "Records per page (the node caps it).")
    var limit: Int = 1000
    @Option(name: .long, help: "Stop after this many pages.")
    var maxPages: Int = 10_000

    func validate() throws {
        guard limit >= 1 else { throw ValidationError("--limit must be at least 1") }
        guard maxPages >= 1 else { throw ValidationError("--max-pages must be at least 1") }
    }

    func run() async throws {
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let cursorFile = out + "/cursor"
        var cursor = after
            ?? (try? String(contentsOfFile: cursorFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            ?? "0"
        let exchange = try client.exchange()
        let check = FeedPageCheck(trust: exchange.trust, maxRecords: limit)
        var pages = 0
        var records = 0
        var withdrawn = 0
        var origin: String?
        while pages < maxPages {
            let page = try await exchange.fetchFeed(after: cursor, limit: limit)
            let name = "feed after \(cursor)"
            // The node's CA names the node's country: the owner of every record in its feed.
            let sender = origin ?? exchange.trust.certificates.first?.country
            let pageRecords: [IncomingRecord]
            do {
                pageRecords = try await check.records(in: page.signedBatch, from: sender ?? "", name: name)
            } catch let error as FeedPageError {
                // The operator's own terminal: the findings in full (the message names rule ids and lines only).
                for finding in error.findings { print(finding.humanDescription) }
                FileHandle.standardError.write(Data("fwx: page after cursor \(cursor) refused: \(error.message)\n".utf8))
                throw ExitCode(ExitStatus.invalid)
            }
            origin = sender
            pages += 1
            if !pageRecords.isEmpty {
                try AtomicOutput.write(page.signedBatch, to: out + "/feed-\(page.nextCursor).xml")
            }
            records += pageRecords.count
            withdrawn += pageRecords.filter { $0.status == .withdrawn }.count
            cursor = page.nextCursor
            try AtomicOutput.write(Array((cursor + "\n").utf8), to: cursorFile)
            if !page.more { break }
        }
        print("pulled \(records) records (\(withdrawn) withdrawn) in \(pages) page(s) from \(client.node); "
            + "next cursor \(cursor) saved in \(cursorFile)")
    }
}

/// Output of the operator commands.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case text, json }

/// `fwx status`: what a node's store says about synchronisation with each peer.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a node's records, peers, last successful syncs, queue lengths and dead letters.",
        discussion: "Reads the node's store; the node may be running. Exit status: 0, or 2 on a configuration or store error.")

    @Option(name: .long, help: "The node configuration file.")
    var config: String
    @Option(name: .long, help: "text or json.")
    var format: OutputFormat = .text

    func run() async throws {
        let configuration = try NodeConfiguration.load(path: config)
        let store = try await OperatorStore.open(configuration, readOnly: true)
        let peers = configuration.peers.map(\.country)
        let status = try await store.syncStatus(peers: peers)
        let own = try await store.counts(origin: configuration.identity.country)
        let all = try await store.counts(origin: nil)
        if format == .json {
            struct Output: Encodable {
                var country: String
                var batches: Int
                var records: Int
                var ownRecords: Int
                var withdrawn: Int
                var peers: [PeerSyncStatus]
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(Output(
                country: configuration.identity.country, batches: all.batches, records: all.records,
                ownRecords: own.records, withdrawn: all.withdrawn, peers: status)), as: UTF8.self))
            return
        }
        print("node \(configuration.identity.country) (\(configuration.identity.agencyId)) at \(configuration.baseURL)")
        print("store \(configuration.store.configuration.displayName): \(all.batches) batches, \(all.records) records "
            + "(\(own.records) own, \(all.records - own.records) from partners), \(all.withdrawn) withdrawn")
        print("")
        let widths = [6, 6, 8, 6, 11, 22, 6, 22, 9, 8]
        print(zip(["peer", "push", "queued", "dead", "delivered", "last push", "pull", "last pull", "cursor", "pulled"],
                  widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined())
        for peer in status {
            let settings = configuration.peer(country: peer.peer)
            let columns = [
                peer.peer, settings?.push == true ? "yes" : "no", "\(peer.queued)", "\(peer.deadLetters)",
                "\(peer.delivered)", peer.lastPushAt.map(Self.time) ?? "-",
                settings?.pullEverySeconds.map { "\(Int($0))s" } ?? "no", peer.lastPullAt.map(Self.time) ?? "-",
                peer.pullCursor ?? "-", "\(peer.recordsPulled)",
            ]
            print(zip(columns, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined())
            if let error = peer.lastError { print("    last error: \(error)") }
        }
    }

    static func time(_ date: Date) -> String { ISOTime.timestamp(epochSeconds: Int(date.timeIntervalSince1970)) }
}

/// `fwx requeue`: puts a node's dead letters (pushes that failed too often) back in its outbox.
struct RequeueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "requeue",
        abstract: "Put dead letters (pushes that failed too often) back in a node's outbox, due now.",
        discussion: """
            Use it once the cause is fixed (the peer is reachable again, its certificate renewed, …); `fwx status` \
            lists dead letters per peer. A running node sends them within 5 seconds; the requeue is written to \
            the audit trail. Exit status: 0, or 2 on a configuration or store error or a peer that is not configured.
            """)

    @Option(name: .long, help: "The node configuration file.")
    var config: String
    @Option(name: .long, help: "Only the dead letters to this peer country (all peers when absent).")
    var peer: String?

    func run() async throws {
        let configuration = try NodeConfiguration.load(path: config)
        let peer = try self.peer.map { given in
            guard let code = CountryCode.normalize(given), configuration.peers.contains(where: { $0.country == code })
            else {
                throw FWXError(.usage, "--peer \(given) is not a peer in \(config) (peers: "
                    + configuration.peers.map(\.country).joined(separator: ", ") + ")", location: config)
            }
            return code
        }
        // Writes (the requeue and its audit entry), so not read-only; but never creates a store a typo named.
        let store = try await OperatorStore.open(configuration, readOnly: false)
        let count = try await OutboxOperations.requeueDeadLetters(store: store, country: configuration.identity.country,
                                                                 peer: peer)
        print("requeued \(count) dead letter(s)\(peer.map { " to \($0)" } ?? ""); a running node sends them within 5 s")
    }
}

/// `fwx audit`: the node's append-only audit trail.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "List the audit trail: every push, pull, record read and refusal, with caller and result.",
        discussion: "Exit status: 0, or 2 on a configuration or store error, or a bad --since.")

    @Option(name: .long, help: "The node configuration file.")
    var config: String
    @Option(name: .long, help: "Only entries at or after this time (YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ).")
    var since: String?
    @Option(name: .long, help: "Only entries of this caller country.")
    var peer: String?
    @Option(name: .long, help: "At most this many entries.")
    var limit: Int?
    @Option(name: .long, help: "text or json.")
    var format: OutputFormat = .text

    func validate() throws {
        if let since, Self.parse(since) == nil {
            throw ValidationError("--since \(since) is not YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ (a time needs its zone: Z or +hh:mm)")
        }
        if let peer, !CountryCode.isValid(peer.uppercased()) { throw ValidationError("--peer \(peer) is not a country code") }
    }

    /// A day (`YYYY-MM-DD`, from its midnight UTC) or a timestamp with its zone (`YYYY-MM-DDThh:mm:ss[.fff]Z` or
    /// `±hh:mm`), to the second as written; nil for anything else.
    static func parse(_ text: String) -> Date? {
        if text.utf8.count == 10, let day = ISOTime.day(of: text) {
            return Date(timeIntervalSince1970: Double(day) * 86_400)
        }
        return ISOTime.epochSeconds(of: text).map { Date(timeIntervalSince1970: $0) }
    }

    func run() async throws {
        let configuration = try NodeConfiguration.load(path: config)
        let store = try await OperatorStore.open(configuration, readOnly: true)
        let entries = try await store.audit(since: since.flatMap(Self.parse), peer: peer?.uppercased(), limit: limit)
        if format == .json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(entries), as: UTF8.self))
            return
        }
        for entry in entries {
            let time = ISOTime.timestamp(epochSeconds: Int(entry.at.timeIntervalSince1970))
            print("\(time)  \(entry.callerCountry)  \(entry.callerFingerprint.prefix(16))  \(entry.action)  "
                + "\(entry.target)  \(entry.result)" + (entry.detail.map { "  \($0)" } ?? ""))
        }
    }
}

/// Opens the store of a node configuration for an operator command (never created, never migrated); a refusal names
/// the configured store (the SQLite file or the database URL, which never holds a password).
enum OperatorStore {
    static func open(_ configuration: NodeConfiguration, readOnly: Bool) async throws -> any NodeStore {
        do {
            return try await NodeStores.open(configuration.store.configuration, access: .existing(readOnly: readOnly))
        } catch let error as StoreError {
            throw FWXError(.io, "store error \(error.code.rawValue): \(error.message)",
                           location: configuration.store.configuration.displayName)
        }
    }
}
