public import FWXStore
import Foundation
import Logging
import NIOCore
import PostgresNIO

// MARK: - Transfer (fwx store copy)

/// The portable rows of ``PortableTable`` on PostgreSQL. Keys are read and compared bytewise (`COLLATE "C"`), as
/// SQLite's BINARY does, so a copy pages both backends in the same order and their summaries agree. Imported ids
/// and feed positions are kept as they are (`OVERRIDING SYSTEM VALUE` for identity columns); ``finishImport()``
/// moves the identities and the feed clock past them.
extension PostgresNodeStore: StoreTransfer {
    /// Tables whose key is an identity column (GENERATED ALWAYS): an import names the ids it copies.
    private static let identityTables: Set<String> = [PortableTable.outbox.name, PortableTable.audit.name]
    /// Key columns that hold text (the others are integers, which take no collation).
    private static let textKeys: Set<String> = ["batch_id", "record_id", "key", "peer"]

    public func exportRows(_ table: PortableTable, after: [StoreValue]?, limit: Int) async throws -> [[StoreValue]] {
        let key = table.key.map { Self.textKeys.contains($0) ? "\($0) COLLATE \"C\"" : $0 }
        var bindings = PostgresBindings()
        var sql = "SELECT \(table.columns.joined(separator: ", ")) FROM \(table.name)"
        if let after {
            guard after.count == table.key.count else {
                throw StoreError(.internal, "a key of \(table.name) has \(after.count) values, not \(table.key.count)")
            }
            let placeholders = try zip(table.key, after).enumerated().map { index, pair in
                try Self.bind(pair.1, into: &bindings)
                return "$\(index + 1)" + (Self.textKeys.contains(pair.0) ? "::text COLLATE \"C\"" : "")
            }
            sql += " WHERE (\(key.joined(separator: ", "))) > (\(placeholders.joined(separator: ", ")))"
        }
        bindings.append(Int64(limit))
        sql += " ORDER BY \(key.joined(separator: ", ")) LIMIT $\(bindings.count)"
        let query = PostgresQuery(unsafeSQL: sql, binds: bindings)
        let width = table.columns.count
        let logger = self.logger
        return try await read { connection in
            try await connection.rows(query, logger) { row in
                let values = try row.map(Self.storeValue)
                guard values.count == width else {
                    throw StoreError(.corrupt, "a \(table.name) row came back with \(values.count) columns")
                }
                return values
            }
        }
    }

    public func isEmpty() async throws -> Bool {
        let tables = PortableTable.all.map(\.name)
        let logger = self.logger
        return try await read { connection in
            for table in tables {
                let query = PostgresQuery(unsafeSQL: "SELECT EXISTS (SELECT 1 FROM \(table))")
                if try await connection.rows(query, logger, { try $0.decode(Bool.self) }).first ?? false {
                    return false
                }
            }
            return true
        }
    }

    public func importRows(_ table: PortableTable, _ rows: [[StoreValue]]) async throws {
        guard !rows.isEmpty else { return }
        let width = table.columns.count
        let overriding = Self.identityTables.contains(table.name) ? " OVERRIDING SYSTEM VALUE" : ""
        // Several rows per statement, within PostgreSQL's 65,535 parameters.
        let perStatement = max(1, min(200, 60_000 / width))
        var queries: [PostgresQuery] = []
        for start in stride(from: 0, to: rows.count, by: perStatement) {
            var bindings = PostgresBindings()
            var tuples: [String] = []
            for row in rows[start..<min(rows.count, start + perStatement)] {
                guard row.count == width else {
                    throw StoreError(.corrupt, "a \(table.name) row has \(row.count) values, not \(width)")
                }
                let first = bindings.count
                for value in row { try Self.bind(value, into: &bindings) }
                tuples.append("(" + (1...width).map { "$\(first + $0)" }.joined(separator: ", ") + ")")
            }
            queries.append(PostgresQuery(
                unsafeSQL: "INSERT INTO \(table.name) (\(table.columns.joined(separator: ", ")))\(overriding) VALUES "
                    + tuples.joined(separator: ", "),
                binds: bindings))
        }
        let logger = self.logger
        let batch = queries
        _ = try await write { connection in
            for query in batch { try await connection.run(query, logger) }
            return true
        }
    }

    public func finishImport() async throws {
        let logger = self.logger
        _ = try await write { connection in
            // The feed clock hands out positions after the largest imported one, so partners' cursors stay valid.
            try await connection.run("""
                UPDATE fwx_feed_clock
                SET position = GREATEST(position, (SELECT COALESCE(max(seq), 0) FROM revisions)) WHERE id = 1
                """, logger)
            for table in Self.identityTables.sorted() {
                try await connection.run(PostgresQuery(unsafeSQL: """
                    SELECT setval(pg_get_serial_sequence('\(table)', 'id'),
                                  COALESCE((SELECT max(id) FROM \(table)), 0) + 1, false)
                    """), logger)
            }
            return true
        }
    }

    private static func bind(_ value: StoreValue, into bindings: inout PostgresBindings) throws {
        switch value {
        case .null: bindings.appendNull()
        case .integer(let integer): bindings.append(integer)
        case .real(let real): bindings.append(real)
        case .text(let text): bindings.append(text)
        case .blob(let bytes): bindings.append(ByteBuffer(bytes: bytes))
        }
    }

    /// A cell as a portable value, by the column's type (the columns of ``PortableTable`` are integers, doubles,
    /// text and bytea only).
    private static func storeValue(_ cell: PostgresCell) throws -> StoreValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8: return .integer(try cell.decode(Int64.self))
        case .float4, .float8: return .real(try cell.decode(Double.self))
        case .text, .varchar, .name: return .text(try cell.decode(String.self))
        case .bytea:
            let buffer = try cell.decode(ByteBuffer.self)
            return .blob(Array(buffer.readableBytesView))
        default:
            throw StoreError(.corrupt, "column \(cell.columnName) has a type a copy does not carry")
        }
    }
}
