public import FWXStore
public import FWXTrace

extension TraceEngine {
    /// Adds the facts of every active record's latest revision in `store` (of one owner when given), a page at a
    /// time: the next page is read (on the store's own threads or connections) while this one is added. Returns
    /// how many could not be read (those are left out).
    public mutating func add(from store: any NodeStore, origin: String? = nil, pageSize: Int = 4_096) async throws
        -> Int
    {
        var unreadable = 0
        var next: Task<FactsPage, any Error>? = Task { try await store.latestFacts(origin: origin, after: nil,
                                                                                     limit: pageSize) }
        while let reading = next {
            let page = try await reading.value
            next = page.continueAfter.map { after in
                Task { try await store.latestFacts(origin: origin, after: after, limit: pageSize) }
            }
            page.forEach { if !add(binary: $0) { unreadable += 1 } }
        }
        return unreadable
    }
}
