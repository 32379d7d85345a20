/// One value of a portable row: the types both backends hold the same way.
public enum StoreValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// The tables a node store is made of, with the columns that are the same in every backend, in the order a copy
/// writes them (what a row refers to comes first). Leases are not copied: a store is copied with its nodes stopped.
/// Derived values are copied as they are, not rebuilt, so that partners' cursors (feed positions), receipts and
/// the audit trail move unchanged.
public struct PortableTable: Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var columns: [String]
    /// The primary key: rows are read and compared in this order.
    public var key: [String]

    public var description: String { name }

    public static let batches = PortableTable(
        name: "batches",
        columns: ["batch_id", "sender_country", "sender_agency", "sequence_number", "digest", "received_at",
                  "caller_country", "caller_fingerprint", "record_count", "signed_batch", "receipt", "outcomes"],
        key: ["batch_id"])
    public static let revisions = PortableTable(
        name: "revisions",
        columns: ["seq", "record_id", "revision", "origin_country", "batch_id", "source", "kind", "status",
                  "handling_code", "recipients", "xml", "received_at"],
        key: ["seq"])
    public static let records = PortableTable(
        name: "records",
        columns: ["record_id", "origin_country", "revision", "seq", "status", "handling_code", "audience",
                  "updated_at"],
        key: ["record_id"])
    public static let latestFacts = PortableTable(name: "latest_facts", columns: ["record_id", "facts"],
                                                  key: ["record_id"])
    public static let recordKeys = PortableTable(name: "record_keys", columns: ["key", "record_id"],
                                                 key: ["key", "record_id"])
    public static let outbox = PortableTable(
        name: "outbox",
        columns: ["id", "peer", "batch_id", "state", "attempts", "next_attempt_at", "last_error", "created_at",
                  "delivered_at", "receipt"],
        key: ["id"])
    public static let pulls = PortableTable(
        name: "pulls",
        columns: ["peer", "cursor", "last_success_at", "last_attempt_at", "last_error", "records_pulled"],
        key: ["peer"])
    public static let audit = PortableTable(
        name: "audit",
        columns: ["id", "at", "caller_country", "caller_fingerprint", "action", "target", "result", "detail"],
        key: ["id"])

    /// Every table, in copy order.
    public static let all: [PortableTable] = [batches, revisions, records, latestFacts, recordKeys, outbox, pulls,
                                              audit]

    /// Where `column` is in ``columns``.
    public func index(of column: String) -> Int? { columns.firstIndex(of: column) }
}

/// A store whose whole content can be read and written as portable rows: what `fwx store copy` moves between
/// backends. Every implementation returns the same values for the same content: a receipt not kept yet is
/// `.null`; outcomes are the JSON bytes of `[RecordOutcome]` (`.blob`); times are `.real` epoch seconds.
public protocol StoreTransfer: NodeStore {
    /// Rows of `table` after key `after` (nil: from the first) in key order, at most `limit`, with the columns of
    /// ``PortableTable/columns`` in order.
    func exportRows(_ table: PortableTable, after: [StoreValue]?, limit: Int) async throws -> [[StoreValue]]
    /// True when the store holds nothing in any table (a copy writes only into an empty store).
    func isEmpty() async throws -> Bool
    /// Writes rows into `table` in one transaction, as they are (their keys and positions too).
    func importRows(_ table: PortableTable, _ rows: [[StoreValue]]) async throws
    /// After the last import: moves the store's counters (feed positions, ids) past what was imported.
    func finishImport() async throws
}
