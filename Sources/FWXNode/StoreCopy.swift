public import FWXStore
import FWXSigning
import Foundation

/// What a store holds, table by table, and one SHA-256 over all of it: how `fwx store copy` proves that a copy
/// is complete and exact, whatever the backends.
public struct StoreSummary: Sendable, Hashable, CustomStringConvertible {
    /// Rows per table, in ``PortableTable/all`` order.
    public var rows: [String: Int]
    /// SHA-256 (hex) over every table's rows in key order, each value encoded with its type.
    public var digest: String

    public var description: String {
        PortableTable.all.map { "\($0.name) \(rows[$0.name] ?? 0)" }.joined(separator: ", ") + "; sha256 \(digest)"
    }
}

/// A copy that did not come out the same as its source.
public struct StoreCopyError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Moves a node's whole store to another store (SQLite to PostgreSQL and back): records with every revision and
/// their feed positions, batches with receipts and evidence, outbox, pull cursors and the audit trail, then checks
/// that both hold the same rows and the same content digest.
public enum StoreCopy {
    /// Copies `source` into the empty `target`, a page at a time, then compares their summaries.
    ///
    /// - Throws: ``StoreError`` `conflict` when the target is not empty (nothing written); ``StoreCopyError``
    ///   when the summaries differ afterwards (the source changed during the copy: stop its node and copy into a
    ///   new target again).
    public static func copy(from source: any StoreTransfer, to target: any StoreTransfer, pageSize: Int = 1_000,
                            progress: (PortableTable, Int) -> Void = { _, _ in }) async throws -> StoreSummary {
        guard try await target.isEmpty() else {
            throw StoreError(.conflict, "the target store is not empty; copy only into a new, empty store")
        }
        for table in PortableTable.all {
            var after: [StoreValue]?
            var copied = 0
            do {
                while true {
                    let rows = try await source.exportRows(table, after: after, limit: pageSize)
                    try await target.importRows(table, rows)
                    copied += rows.count
                    guard rows.count == pageSize, let last = rows.last else { break }
                    after = table.key.map { last[table.index(of: $0)!] }
                }
            } catch let error as StoreError {
                // Each page is its own transaction: what was written stays, and says so.
                throw StoreError(error.code, error.message + " (while copying \(table.name), after \(copied) rows: "
                    + "the target holds a partial copy; drop it and copy again into a new, empty store)")
            }
            progress(table, copied)
        }
        try await target.finishImport()
        let copied = try await summary(of: source, pageSize: pageSize)
        let written = try await summary(of: target, pageSize: pageSize)
        guard copied == written else {
            let differing = PortableTable.all.map(\.name).filter { copied.rows[$0] != written.rows[$0] }
            throw StoreCopyError(message: "the copy differs from its source ("
                + (differing.isEmpty ? "same row counts, different content" : "rows differ in "
                    + differing.joined(separator: ", "))
                + "): the source probably changed during the copy; stop its node, drop the target and copy again")
        }
        return written
    }

    /// Row counts and the content digest of `store`.
    public static func summary(of store: any StoreTransfer, pageSize: Int = 1_000) async throws -> StoreSummary {
        let hasher = StreamingSHA256()
        var counts: [String: Int] = [:]
        for table in PortableTable.all {
            hasher.update(Array("table \(table.name)\n".utf8))
            var after: [StoreValue]?
            var count = 0
            while true {
                let rows = try await store.exportRows(table, after: after, limit: pageSize)
                for row in rows { hasher.update(encode(row)) }
                count += rows.count
                guard rows.count == pageSize, let last = rows.last else { break }
                after = table.key.map { last[table.index(of: $0)!] }
            }
            counts[table.name] = count
        }
        let digest = hasher.finish().map { String(format: "%02x", $0) }.joined()
        return StoreSummary(rows: counts, digest: digest)
    }

    /// One row, each value as a type tag and its bytes with their length, so no two different rows encode alike.
    static func encode(_ row: [StoreValue]) -> [UInt8] {
        var bytes: [UInt8] = []
        func length(_ count: Int) { withUnsafeBytes(of: UInt64(count).bigEndian) { bytes.append(contentsOf: $0) } }
        for value in row {
            switch value {
            case .null: bytes.append(0)
            case .integer(let integer):
                bytes.append(1)
                withUnsafeBytes(of: integer.bigEndian) { bytes.append(contentsOf: $0) }
            case .real(let real):
                bytes.append(2)
                withUnsafeBytes(of: real.bitPattern.bigEndian) { bytes.append(contentsOf: $0) }
            case .text(let text):
                bytes.append(3)
                length(text.utf8.count)
                bytes.append(contentsOf: text.utf8)
            case .blob(let blob):
                bytes.append(4)
                length(blob.count)
                bytes.append(contentsOf: blob)
            }
        }
        bytes.append(0xFF)
        return bytes
    }
}
