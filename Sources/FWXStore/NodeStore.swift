public import FWXModel
public import Foundation

/// One record revision as the store keeps it: identity, what the feed filters on, and the record's canonical
/// XML (as ``BatchXMLWriter`` writes it, without a namespace declaration) for building signed feed batches.
public struct IncomingRecord: Sendable, Hashable {
    public var recordId: String
    public var revision: Int
    /// `seizure` or `shipment`.
    public var kind: String
    public var status: RecordStatus
    /// The record's own handling code, or the batch's default.
    public var handlingCode: HandlingCode
    public var xml: String
    /// What analysis needs of the record, in FWXTrace's compact binary form (opaque to the store).
    public var facts: [UInt8]?
    /// Exact-match search keys (`container:…`, `plate:…`, `registration:…`, `ce:…`, `vat:…`), for hit/no-hit
    /// searches; kept for the latest revision of active records only.
    public var searchKeys: [String]

    public init(recordId: String, revision: Int, kind: String, status: RecordStatus, handlingCode: HandlingCode,
                xml: String, facts: [UInt8]? = nil, searchKeys: [String] = []) {
        self.recordId = recordId
        self.revision = revision
        self.kind = kind
        self.status = status
        self.handlingCode = handlingCode
        self.xml = xml
        self.facts = facts
        self.searchKeys = searchKeys
    }
}

/// The node that made a request, as its verified TLS client certificate says.
public struct CallerIdentity: Sendable, Hashable, Codable {
    public var country: String
    /// SHA-256 of the certificate's DER, lower-case hex.
    public var fingerprint: String
    public init(country: String, fingerprint: String) {
        self.country = country
        self.fingerprint = fingerprint
    }
}

/// A verified, valid batch handed to the store to be kept.
public struct BatchSubmission: Sendable {
    public var batchId: String
    public var sender: NodeIdentity
    public var sequenceNumber: UInt64
    public var recipients: Recipients
    /// SHA-256 (hex) of the exclusive canonical form of the signed batch: what receipts name.
    public var digest: String
    /// The signed batch as received, kept as evidence and for forwarding.
    public var signedBatch: [UInt8]
    public var records: [IncomingRecord]
    public var caller: CallerIdentity
    public var receivedAt: Date
    /// Peers (countries) to push this batch to, queued in the same transaction.
    public var pushTo: [String]

    public init(batchId: String, sender: NodeIdentity, sequenceNumber: UInt64, recipients: Recipients,
                digest: String, signedBatch: [UInt8], records: [IncomingRecord], caller: CallerIdentity,
                receivedAt: Date, pushTo: [String]) {
        self.batchId = batchId
        self.sender = sender
        self.sequenceNumber = sequenceNumber
        self.recipients = recipients
        self.digest = digest
        self.signedBatch = signedBatch
        self.records = records
        self.caller = caller
        self.receivedAt = receivedAt
        self.pushTo = pushTo
    }
}

/// Why the store refused a batch.
public struct StoreConflict: Sendable, Hashable {
    /// The rule id (``RuleID/batchIdReused`` or ``RuleID/sequenceReused``).
    public var rule: String
    public var message: String
}

/// What keeping a batch came to.
public enum IngestResult: Sendable {
    /// Stored now; the receipt was signed and stored in the same transaction.
    case accepted(receipt: [UInt8], outcomes: [RecordOutcome])
    /// The same batch (same id and digest) was stored before: its receipt, unchanged.
    case duplicate(receipt: [UInt8])
    /// Refused: nothing was stored.
    case conflict(StoreConflict)
}

/// One record in a feed page.
public struct FeedEntry: Sendable, Hashable {
    /// Commit position: the cursor after this entry.
    public var sequence: Int64
    public var recordId: String
    public var revision: Int
    public var status: RecordStatus
    public var handlingCode: HandlingCode
    public var xml: String
}

/// Records after a cursor, in commit order, and the cursor to ask with next.
public struct FeedPage: Sendable {
    public var entries: [FeedEntry]
    /// The sequence of the last entry, or the `after` asked with when the page is empty.
    public var nextCursor: Int64
}

/// A record at its latest revision, with who may see it.
public struct StoredRecord: Sendable, Hashable {
    public var entry: FeedEntry
    /// Country whose node owns the record.
    public var origin: String
    /// Countries any revision was addressed to; nil means every partner.
    public var audience: Set<String>?
    public func isVisible(to country: String) -> Bool { audience?.contains(country) ?? true }
}

/// A push of one batch to one peer, waiting or done.
public struct OutboxEntry: Sendable, Hashable {
    public enum State: String, Sendable, Codable { case queued, delivered, dead }
    public var id: Int64
    public var peer: String
    public var batchId: String
    public var state: State
    public var attempts: Int
    public var nextAttemptAt: Date
    public var lastError: String?
    public var createdAt: Date
}

/// One line of the audit trail (Law Enforcement Directive art. 25): who accessed what, when, with what result.
/// Never holds record content; `target` is a batch id, record id, cursor or path.
public struct AuditEntry: Sendable, Hashable, Codable {
    public var id: Int64?
    public var at: Date
    public var callerCountry: String
    public var callerFingerprint: String
    /// `batch-in`, `batch-out`, `feed-out`, `feed-in`, `record-read`, `search`, `refusal`.
    public var action: String
    public var target: String
    /// `ok`, `duplicate`, or an HTTP status / rule id for refusals.
    public var result: String
    public var detail: String?

    public init(id: Int64? = nil, at: Date = Date(), callerCountry: String, callerFingerprint: String, action: String,
                target: String, result: String, detail: String? = nil) {
        self.id = id
        self.at = at
        self.callerCountry = callerCountry
        self.callerFingerprint = callerFingerprint
        self.action = action
        self.target = target
        self.result = result
        self.detail = detail
    }
}

/// How synchronisation with one peer stands.
public struct PeerSyncStatus: Sendable, Hashable, Codable {
    public var peer: String
    public var queued: Int
    public var deadLetters: Int
    public var delivered: Int
    public var oldestQueuedAt: Date?
    public var lastPushAt: Date?
    public var lastPullAt: Date?
    public var pullCursor: String?
    public var recordsPulled: Int
    public var lastError: String?
}

/// Totals for status output and metrics.
public struct StoreCounts: Sendable, Hashable, Codable {
    public var batches: Int
    public var records: Int
    public var revisions: Int
    public var withdrawn: Int
}

/// Everything a node keeps: batches with their receipts, every record revision, the feed, the outbox, pull
/// cursors and the audit trail. Each method is one transaction; implementations must make a committed
/// transaction durable before returning. SQLite (``SQLiteNodeStore``) is the default; a PostgreSQL store can
/// implement the same protocol.
public protocol NodeStore: Sendable {
    /// Keeps a verified batch and its records atomically: refuses a conflicting batch id or sequence number,
    /// keeps each record revision newer than the one held (older or equal ones are `superseded`), queues pushes
    /// to `submission.pushTo`, appends `audit`, and stores the receipt `makeReceipt` signs for the outcomes — all
    /// in one transaction, so a receipt exists only for data on disk.
    func ingest(_ submission: BatchSubmission, audit: AuditEntry,
                makeReceipt: @escaping @Sendable ([RecordOutcome]) throws -> [UInt8]) async throws -> IngestResult

    /// Records owned by `origin` that `caller` may see, after `cursor`, in commit order, each at its latest
    /// revision. An active record is seen when its latest revision is addressed to `caller` with a handling code
    /// in `handlingCodes`; a withdrawn record (a tombstone) also when any earlier revision was, so that it
    /// reaches every partner that may hold the record, and nobody else.
    func feed(origin: String, caller: String, handlingCodes: Set<HandlingCode>, after cursor: Int64,
              limit: Int) async throws -> FeedPage

    /// A record owned by `origin` at its latest revision, when `caller` may see it (as for the feed).
    func record(id: String, origin: String, caller: String, handlingCodes: Set<HandlingCode>) async throws
        -> FeedEntry?

    /// A record at its latest revision, whoever may see it (for the node itself and operators).
    func record(id: String) async throws -> StoredRecord?

    /// Keeps records pulled from `peer`'s feed and the peer's next cursor in one transaction.
    func applyPulled(_ records: [IncomingRecord], from peer: String, cursor: String, at: Date,
                     audit: AuditEntry) async throws -> [RecordOutcome]
    /// The cursor to continue pulling `peer` from.
    func pullCursor(peer: String) async throws -> String?
    /// Notes a failed pull.
    func recordPullFailure(peer: String, error: String, at: Date) async throws

    /// Queued pushes due at `now`, oldest first.
    func duePushes(now: Date, limit: Int) async throws -> [OutboxEntry]
    /// The earliest time a queued push is due.
    func nextPushDue() async throws -> Date?
    /// The signed batch as received, with the SHA-256 of its canonical form that its receipts name.
    func signedBatch(id: String) async throws -> (bytes: [UInt8], digest: String)?
    /// Marks a push delivered, with the peer's receipt.
    func recordPushDelivered(id: Int64, receipt: [UInt8], at: Date, audit: AuditEntry) async throws
    /// Notes a failed push: retried at `retryAt`, or a dead letter when `retryAt` is nil.
    func recordPushFailure(id: Int64, error: String, retryAt: Date?, at: Date) async throws
    /// Puts dead letters of `peer` (every peer when nil) back in the queue, due at `at`, and appends
    /// `audit(count)` to the audit trail in the same transaction. Returns how many.
    func requeueDeadLetters(peer: String?, at: Date, audit: @escaping @Sendable (Int) -> AuditEntry) async throws
        -> Int

    /// Appends to the audit trail.
    func appendAudit(_ entry: AuditEntry) async throws
    /// Audit entries, oldest first, optionally since a time and for one caller country.
    func audit(since: Date?, peer: String?, limit: Int?) async throws -> [AuditEntry]

    /// Per-peer synchronisation state, for every peer in `peers` and any other the store knows.
    func syncStatus(peers: [String]) async throws -> [PeerSyncStatus]
    /// Totals; `origin` restricts records to one owner.
    func counts(origin: String?) async throws -> StoreCounts
    /// Ids of the records held (latest revisions), optionally of one owner, sorted.
    func recordIds(origin: String?) async throws -> [String]

    /// Ids of the records owned by `origin` that `caller` may see (as for the feed) and that have one of `keys`
    /// among their search keys, sorted. Active records only: a withdrawn record is never a hit.
    func search(keys: [String], origin: String, caller: String, handlingCodes: Set<HandlingCode>) async throws
        -> [String]

    /// Calls `body` with the analysis facts (binary form) of the latest revision of every active record held (of
    /// one owner when `origin` is given), reading them in one snapshot without holding them all in memory. The
    /// bytes are valid only during the call. Blocks.
    func forEachLatestFacts(origin: String?, _ body: (UnsafeRawBufferPointer) throws -> Void) throws
}
