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
    public init(rule: String, message: String) {
        self.rule = rule
        self.message = message
    }

    /// `sender`'s sequence number `number` is taken by batch `other`: says what to do, the same on every backend.
    public static func sequenceReused(_ number: UInt64, sender: NodeIdentity, usedBy other: String) -> StoreConflict {
        StoreConflict(rule: RuleID.sequenceReused, message:
            "sequence number \(number) of \(sender.country)/\(sender.agencyId) is already used by batch \(other); a node "
                + "takes each sequence number of a sender once: give this batch the next number (fwx convert without "
                + "--sequence takes it from the sender's counter file .fwx-sequence-\(sender.country)-\(sender.agencyId) "
                + "next to its output), sign it again and send it")
    }
}

/// What keeping a batch came to. The store never signs: the caller signs a receipt for the outcomes after the
/// commit, outside any transaction, and keeps it with ``NodeStore/keepReceipt(batchId:receipt:)``.
public enum IngestResult: Sendable {
    /// Stored now, with each record's outcome; no receipt is stored yet.
    case accepted(outcomes: [RecordOutcome])
    /// The same batch (same id and digest) was stored before, by this or another process: its stored receipt, or
    /// nil when none is kept yet (the first process is still signing, or stopped before it kept its receipt); the
    /// caller then signs one for `outcomes` and keeps it, and the first receipt kept is the one every caller gets.
    /// `receivedAt` is when the stored batch was received (what a receipt signed now must say).
    case duplicate(receipt: [UInt8]?, outcomes: [RecordOutcome], receivedAt: Date)
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
    public init(sequence: Int64, recordId: String, revision: Int, status: RecordStatus, handlingCode: HandlingCode,
                xml: String) {
        self.sequence = sequence
        self.recordId = recordId
        self.revision = revision
        self.status = status
        self.handlingCode = handlingCode
        self.xml = xml
    }
}

/// Records after a cursor, in commit order, and the cursor to ask with next.
public struct FeedPage: Sendable {
    public var entries: [FeedEntry]
    /// The position to ask with next: the last position looked at, which may be past the last entry (records
    /// the caller may not see are passed over), or the `after` asked with when nothing was looked at.
    public var nextCursor: Int64
    /// True when more records may follow at once (the page was cut at its limit).
    public var more: Bool
    public init(entries: [FeedEntry], nextCursor: Int64, more: Bool) {
        self.entries = entries
        self.nextCursor = nextCursor
        self.more = more
    }
}

/// To whom one revision was addressed, and with what handling code: what the entitlement rule decides on.
public struct Disclosure: Sendable, Hashable {
    public var recipients: Recipients
    public var handlingCode: HandlingCode
    public init(recipients: Recipients, handlingCode: HandlingCode) {
        self.recipients = recipients
        self.handlingCode = handlingCode
    }
    public func addresses(_ country: String) -> Bool {
        switch recipients {
        case .allPartners: return true
        case .countries(let countries): return countries.contains(country)
        }
    }
}

/// What the store can narrow on with its indexes before the entitlement rule (FWXNode's `Entitlement`) decides:
/// records whose audience (every revision's recipients together) includes `caller`, and that are withdrawn or
/// whose latest handling code is one of `handlingCodes`. Every record the rule lets through passes; a store may
/// return more, never fewer.
public struct VisibilityPrefilter: Sendable, Hashable {
    public var caller: String
    public var handlingCodes: Set<HandlingCode>
    public init(caller: String, handlingCodes: Set<HandlingCode>) {
        self.caller = caller
        self.handlingCodes = handlingCodes
    }
}

/// A record that passed a ``VisibilityPrefilter``, with what the entitlement rule needs to decide on it.
public struct FeedCandidate: Sendable, Hashable {
    /// The record at its latest revision; `entry.sequence` is its feed position.
    public var entry: FeedEntry
    /// The latest revision's recipients (its handling code is `entry.handlingCode`).
    public var latest: Disclosure
    /// For a withdrawn record, every revision's disclosure (so a tombstone reaches whoever may hold the record);
    /// empty for an active one.
    public var history: [Disclosure]
    public init(entry: FeedEntry, latest: Disclosure, history: [Disclosure]) {
        self.entry = entry
        self.latest = latest
        self.history = history
    }
}

/// Candidates after a position, in feed order.
public struct CandidatePage: Sendable {
    public var candidates: [FeedCandidate]
    /// The last position looked at (at least the last candidate's), or the `after` asked with.
    public var lastPosition: Int64
    /// True when the store stopped at the limit: more candidates may follow.
    public var more: Bool
    public init(candidates: [FeedCandidate], lastPosition: Int64, more: Bool) {
        self.candidates = candidates
        self.lastPosition = lastPosition
        self.more = more
    }
}

/// A record at its latest revision, with who may see it.
public struct StoredRecord: Sendable, Hashable {
    public var entry: FeedEntry
    /// Country whose node owns the record.
    public var origin: String
    /// Countries any revision was addressed to; nil means every partner.
    public var audience: Set<String>?
    /// The latest revision's disclosure, and (withdrawn records) every revision's.
    public var latest: Disclosure
    public var history: [Disclosure]
    public func isVisible(to country: String) -> Bool { audience?.contains(country) ?? true }
    public var candidate: FeedCandidate { FeedCandidate(entry: entry, latest: latest, history: history) }
    public init(entry: FeedEntry, origin: String, audience: Set<String>?, latest: Disclosure, history: [Disclosure]) {
        self.entry = entry
        self.origin = origin
        self.audience = audience
        self.latest = latest
        self.history = history
    }
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
    public init(id: Int64, peer: String, batchId: String, state: State, attempts: Int, nextAttemptAt: Date,
                lastError: String?, createdAt: Date) {
        self.id = id
        self.peer = peer
        self.batchId = batchId
        self.state = state
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.lastError = lastError
        self.createdAt = createdAt
    }
}

/// A queued push one process holds for a while: only the holder of the current `token` may record its delivery
/// or failure. When the lease runs out (the holder stopped or hangs), another process may claim the entry again;
/// the old holder's late result is then refused (`false`), and the peer answers the re-send with the receipt it
/// gave the first time.
public struct OutboxClaim: Sendable, Hashable {
    public var entry: OutboxEntry
    public var token: UUID
    public var leaseUntil: Date
    public init(entry: OutboxEntry, token: UUID, leaseUntil: Date) {
        self.entry = entry
        self.token = token
        self.leaseUntil = leaseUntil
    }
}

/// The right to pull one peer's feed for a while, with the cursor it was granted at. Keeping pulled records moves
/// the cursor only from `cursor` (compare-and-set), and only for the holder of `token`, so two processes never
/// pull the same peer at once and a slow one can never move a cursor backwards.
public struct PullLease: Sendable, Hashable {
    public var peer: String
    public var token: UUID
    /// The cursor to continue from (nil: from the beginning).
    public var cursor: String?
    public var leaseUntil: Date
    public init(peer: String, token: UUID, cursor: String?, leaseUntil: Date) {
        self.peer = peer
        self.token = token
        self.cursor = cursor
        self.leaseUntil = leaseUntil
    }
}

/// The analysis facts of latest revisions, a page at a time, in record id order: one buffer and where each
/// record's facts end in it (no allocation per record).
public struct FactsPage: Sendable {
    public var bytes: [UInt8]
    /// End offsets in ``bytes``: record i is `bytes[ends[i-1] ..< ends[i]]` (from 0 for the first).
    public var ends: [Int]
    /// The record id to continue after, nil when this was the last page.
    public var continueAfter: String?
    public init(bytes: [UInt8], ends: [Int], continueAfter: String?) {
        self.bytes = bytes
        self.ends = ends
        self.continueAfter = continueAfter
    }
    /// Calls `body` with each record's facts; the bytes are valid only during the call.
    public func forEach(_ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        try bytes.withUnsafeBytes { all in
            var start = 0
            for end in ends {
                try body(UnsafeRawBufferPointer(rebasing: all[start..<end]))
                start = end
            }
        }
    }
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

    public init(peer: String, queued: Int, deadLetters: Int, delivered: Int, oldestQueuedAt: Date?, lastPushAt: Date?,
                lastPullAt: Date?, pullCursor: String?, recordsPulled: Int, lastError: String?) {
        self.peer = peer
        self.queued = queued
        self.deadLetters = deadLetters
        self.delivered = delivered
        self.oldestQueuedAt = oldestQueuedAt
        self.lastPushAt = lastPushAt
        self.lastPullAt = lastPullAt
        self.pullCursor = pullCursor
        self.recordsPulled = recordsPulled
        self.lastError = lastError
    }
}

/// Totals for status output and metrics.
public struct StoreCounts: Sendable, Hashable, Codable {
    public var batches: Int
    public var records: Int
    public var revisions: Int
    public var withdrawn: Int

    public init(batches: Int, records: Int, revisions: Int, withdrawn: Int) {
        self.batches = batches
        self.records = records
        self.revisions = revisions
        self.withdrawn = withdrawn
    }
}

/// Everything a node keeps: batches with their receipts, every record revision, the feed, the outbox, pull
/// cursors and the audit trail: for one process (SQLite, ``SQLiteNodeStore``) or for several processes on one
/// database (PostgreSQL). One contract for both, proven by one test suite (StoreContractTests):
///
/// - Each method is one transaction, durable when it returns; none calls back into the caller inside a write
///   transaction.
/// - **Feed positions** are commit-ordered: once a reader has seen position p, no transaction can later commit a
///   position at or below p. A reader paging with the last position it saw never skips a record, however many
///   processes write at once. Positions are opaque to partners (a decimal string on the wire).
/// - **Ingest** is idempotent under concurrency: of two processes keeping the same batch at once, one stores it
///   and the other gets `.duplicate`; a different batch with a used batch id, or a used (sender, sequence number),
///   gets `.conflict`, never an error. A record's latest revision is always the highest kept.
/// - **Outbox**: a queued push is claimed with a lease; a claimed entry is not handed to anyone else until its lease
///   runs out; delivery and failure are recorded only by the current holder (the call returns false otherwise),
///   so an entry is never both delivered and dead.
/// - **Pull cursors** move only by compare-and-set under a per-peer lease: never backwards.
/// - **Entitlement** is not decided here: the store narrows with ``VisibilityPrefilter`` and returns what the
///   rule needs (``FeedCandidate``); FWXNode's `Entitlement` decides, in one place for every backend.
/// - **Audit** is append-only (the backend refuses updates and deletes).
/// - Errors are ``StoreError`` values with stable codes; they show no SQL, no path and no record content.
public protocol NodeStore: Sendable {
    /// Keeps a verified batch and its records atomically: refuses a conflicting batch id or sequence number,
    /// keeps each record revision newer than the one held (older or equal ones are `superseded`; records owned by
    /// another country `rejected`), keeps the outcomes, queues pushes to `submission.pushTo` and appends `audit`
    /// (result `duplicate` for a replay). The receipt is signed by the caller after this returns.
    func ingest(_ submission: BatchSubmission, audit: AuditEntry) async throws -> IngestResult

    /// Keeps the receipt for a stored batch unless one is kept already, and returns the one kept (the first):
    /// every request for one batch is answered with the same receipt. Throws `missing` for an unknown batch.
    func keepReceipt(batchId: String, receipt: [UInt8]) async throws -> [UInt8]

    /// Records owned by `origin` after position `after`, in feed order, each at its latest revision, that pass
    /// `prefilter`; at most `limit`, and `more` when cut there.
    func feedCandidates(origin: String, prefilter: VisibilityPrefilter, after: Int64, limit: Int) async throws
        -> CandidatePage

    /// A record at its latest revision, whoever may see it (the entitlement rule decides for callers).
    func record(id: String) async throws -> StoredRecord?

    /// Active records owned by `origin` that pass `prefilter` and have one of `keys` among their search keys, in
    /// record id order. A withdrawn record is never a hit.
    func searchCandidates(keys: [String], origin: String, prefilter: VisibilityPrefilter) async throws
        -> [FeedCandidate]

    /// Takes (or, for the same `token`, renews) the lease on pulling `peer`, until `now + seconds`; nil while
    /// another holder's lease runs.
    func claimPull(peer: String, token: UUID, now: Date, seconds: TimeInterval) async throws -> PullLease?
    /// Keeps records pulled under `lease` and moves the peer's cursor from `lease.cursor` to `cursor`, in one
    /// transaction; returns the lease at the new cursor (same expiry: renew with ``claimPull``). Throws `conflict` (nothing kept) when the lease
    /// was lost or the cursor moved meanwhile.
    func applyPulled(_ records: [IncomingRecord], lease: PullLease, cursor: String, at: Date, audit: AuditEntry)
        async throws -> (outcomes: [RecordOutcome], lease: PullLease)
    /// Gives the lease up (when still held), noting `error` when the pull failed.
    func releasePull(_ lease: PullLease, error: String?, at: Date) async throws
    /// Notes a failed pull attempt that held no lease.
    func recordPullFailure(peer: String, error: String, at: Date) async throws
    /// The cursor to continue pulling `peer` from.
    func pullCursor(peer: String) async throws -> String?

    /// Claims up to `limit` queued pushes due at `now` (oldest first) that nobody holds, for `seconds`.
    func claimPushes(now: Date, limit: Int, seconds: TimeInterval) async throws -> [OutboxClaim]
    /// The earliest time a queued push is due or a claim on one runs out.
    func nextPushDue() async throws -> Date?
    /// The signed batch as received, with the SHA-256 of its canonical form that its receipts name.
    func signedBatch(id: String) async throws -> (bytes: [UInt8], digest: String)?
    /// Marks a claimed push delivered with the peer's receipt, and appends `audit`; false (nothing changed) when
    /// the claim is no longer held.
    func recordPushDelivered(_ claim: OutboxClaim, receipt: [UInt8], at: Date, audit: AuditEntry) async throws
        -> Bool
    /// Notes a failed claimed push: retried at `retryAt`, or a dead letter when `retryAt` is nil; false when the
    /// claim is no longer held.
    func recordPushFailure(_ claim: OutboxClaim, error: String, retryAt: Date?, at: Date) async throws -> Bool
    /// Puts dead letters of `peer` (every peer when nil) back in the queue, due at `at`, and appends
    /// `audit(count)` to the audit trail in the same transaction. Returns how many.
    func requeueDeadLetters(peer: String?, at: Date, audit: @escaping @Sendable (Int) -> AuditEntry) async throws
        -> Int
    /// Every outbox entry (of one peer when given), by id: for status, tests and `fwx store copy`.
    func outbox(peer: String?) async throws -> [OutboxEntry]

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

    /// The analysis facts of the latest revision of active records (of one owner when given), after record id
    /// `after`, at most `limit` records.
    func latestFacts(origin: String?, after: String?, limit: Int) async throws -> FactsPage

    /// Closes connections and background work; the store is not used afterwards.
    func close() async

    /// Signals, from any process on the same data, that pushes were queued: a **hint only**, used to push at once
    /// what another process accepted. The outbox loop still polls ``nextPushDue()``; nothing depends on a signal
    /// arriving. A store with one process (SQLite) has none to give: the default stream ends at once.
    func outboxWakeups() -> AsyncStream<Void>
}

extension NodeStore {
    public func outboxWakeups() -> AsyncStream<Void> {
        AsyncStream { $0.finish() }
    }

    /// Calls `body` with the facts of every active record's latest revision, a page at a time (each page one
    /// snapshot; a record changed between pages is seen once, at the revision its page read).
    public func forEachLatestFacts(origin: String?, pageSize: Int = 2_000,
                                   _ body: (UnsafeRawBufferPointer) throws -> Void) async throws {
        var after: String?
        repeat {
            let page = try await latestFacts(origin: origin, after: after, limit: pageSize)
            try page.forEach(body)
            after = page.continueAfter
        } while after != nil
    }
}

/// A storage failure. ``code`` is stable and what callers and tests compare on; ``message`` says what to do. Never
/// carries SQL, a file path, a password or record content.
public struct StoreError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// A concurrent change won (a lease was lost, a cursor moved); retrying later is safe.
        case conflict
        /// The store is locked or overloaded for now; retry.
        case busy
        /// The database cannot be reached or is shutting down; retry later (HTTP 503).
        case unavailable
        /// The stored data is damaged or not what this version expects.
        case corrupt
        /// There is no such store, or no such object in it.
        case missing
        /// The store was opened read-only.
        case readOnly = "read-only"
        /// The database was written by a newer version of fwx.
        case schemaTooNew = "schema-too-new"
        /// Configuration of the store (URL, password file, pool) is wrong.
        case configuration
        /// Anything else.
        case `internal`
    }
    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// True when trying again later may succeed (busy, unavailable, conflict).
    public var isTransient: Bool { code == .busy || code == .unavailable || code == .conflict }
    public var description: String { "store error \(code.rawValue): \(message)" }
    public static func == (lhs: StoreError, rhs: StoreError) -> Bool { lhs.code == rhs.code }
}
