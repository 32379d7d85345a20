public import FWXModel
public import FWXStore

/// Who may see a record: the one place the rule is decided, for every store backend. The store narrows with
/// ``prefilter`` (indexable conditions only) and hands over what the rule needs (``FeedCandidate``).
///
/// - An active record is seen when its latest revision is addressed to the caller with a handling code the caller
///   may receive.
/// - A withdrawn record (a tombstone) is seen also when any earlier revision was, so that the withdrawal reaches
///   every partner that may hold the record, and nobody else.
public struct Entitlement: Sendable, Hashable {
    public var caller: String
    public var handlingCodes: Set<HandlingCode>

    public init(caller: String, handlingCodes: Set<HandlingCode>) {
        self.caller = caller
        self.handlingCodes = handlingCodes
    }

    /// What the store may narrow on: every record this rule allows passes it.
    public var prefilter: VisibilityPrefilter { VisibilityPrefilter(caller: caller, handlingCodes: handlingCodes) }

    public func allows(_ candidate: FeedCandidate) -> Bool {
        if allows(candidate.latest) { return true }
        guard candidate.entry.status == .withdrawn else { return false }
        return candidate.history.contains(where: allows)
    }

    func allows(_ disclosure: Disclosure) -> Bool {
        handlingCodes.contains(disclosure.handlingCode) && disclosure.addresses(caller)
    }
}

/// The feed, single records and search as a caller may see them: the store's candidates through ``Entitlement``.
public struct EntitledReads: Sendable {
    public let store: any NodeStore
    /// The node's own country: only records it owns are served to partners.
    public let origin: String
    /// How many candidates one feed page looks at, at most, as a multiple of its limit: a page of records the
    /// caller may not see still moves the cursor on, so paging always progresses, and one request stays bounded.
    public var scanFactor = 8

    public init(store: any NodeStore, origin: String) {
        self.store = store
        self.origin = origin
    }

    /// Up to `limit` records after `after` that `entitlement` allows, in feed order. `nextCursor` is the last
    /// position looked at, so records passed over are not looked at again; `more` when the caller should ask again
    /// at once.
    public func feed(_ entitlement: Entitlement, after: Int64, limit: Int) async throws -> FeedPage {
        var entries: [FeedEntry] = []
        var position = after
        var looked = 0
        while true {
            let page = try await store.feedCandidates(origin: origin, prefilter: entitlement.prefilter,
                                                      after: position, limit: limit)
            for candidate in page.candidates {
                position = candidate.entry.sequence
                guard entitlement.allows(candidate) else { continue }
                entries.append(candidate.entry)
                if entries.count == limit {
                    // Cut here: the rest of this store page is looked at again from this position.
                    let rest = page.candidates.last.map { $0.entry.sequence > position } ?? false
                    return FeedPage(entries: entries, nextCursor: position, more: rest || page.more)
                }
            }
            position = max(position, page.lastPosition)
            looked += page.candidates.count
            if !page.more { return FeedPage(entries: entries, nextCursor: position, more: false) }
            if looked >= limit * scanFactor { return FeedPage(entries: entries, nextCursor: position, more: true) }
        }
    }

    /// A record owned by this node at its latest revision, when `entitlement` allows it.
    public func record(id: String, _ entitlement: Entitlement) async throws -> FeedEntry? {
        guard let stored = try await store.record(id: id), stored.origin == origin,
              entitlement.allows(stored.candidate) else { return nil }
        return stored.entry
    }

    /// Ids of the active records owned by this node that `entitlement` allows and that have one of `keys` among
    /// their search keys, sorted.
    public func search(keys: [String], _ entitlement: Entitlement) async throws -> [String] {
        try await store.searchCandidates(keys: keys, origin: origin, prefilter: entitlement.prefilter)
            .filter { $0.entry.status == .active && entitlement.allows($0) }
            .map(\.entry.recordId)
    }
}
