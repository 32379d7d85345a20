import ArgumentParser
import FWXModel
import FWXNode
import FWXStore
import Foundation

/// `fwx store …`: the node's store as a whole.
struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Copy a node's store to another backend, or summarise it.",
        subcommands: [StoreCopyCommand.self, StoreSummaryCommand.self])
}

struct StoreCopyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy a node's whole store (SQLite to PostgreSQL or back) and verify the copy.",
        discussion: """
            Copies records with every revision and their feed positions, batches with their receipts and the \
            signed batches kept as evidence, the outbox, partners' pull cursors and the audit trail, from the store \
            --from names to the store --to names (created if needed; it must be empty). Then both are read again \
            and compared: row counts per table and a SHA-256 over every row. Stop the node first: a store that \
            changes during the copy is detected and the copy refused. Start the node on the --to configuration \
            afterwards; partners carry on from their cursors. Exit status: 0 when the copy is verified; 2 on a \
            configuration or store error, a target that is not empty, or a copy that differs from its source \
            (drop the target and copy again).
            """)

    @Option(name: .long, help: "The configuration of the node whose store is copied.")
    var from: String
    @Option(name: .long, help: "A configuration naming the store to copy into (its store section is used).")
    var to: String

    func run() async throws {
        let source = try NodeConfiguration.load(path: from)
        let target = try NodeConfiguration.load(path: to)
        guard source.store.configuration != target.store.configuration else {
            throw ValidationError("--from and --to name the same store (\(source.store.configuration.displayName))")
        }
        let reading = try await OperatorStore.open(source, readOnly: true)
        let writing: any NodeStore
        do {
            try target.store.createFolder()
            writing = try await NodeStores.open(target.store.configuration, access: .node)
        } catch {
            await reading.close()
            throw Self.described(error, target)
        }
        guard let from = reading as? any StoreTransfer, let into = writing as? any StoreTransfer else {
            await writing.close()
            await reading.close()
            throw FWXError(.unsupported, "this store cannot be copied")
        }
        print("copying \(source.store.configuration.displayName) -> \(target.store.configuration.displayName)")
        let result: Result<StoreSummary, any Error>
        do {
            result = .success(try await StoreCopy.copy(from: from, to: into) { table, rows in
                print("  \(table.name): \(rows) rows")
            })
        } catch {
            result = .failure(error)
        }
        await writing.close()
        await reading.close()
        switch result {
        case .success(let summary): print("verified: \(summary)")
        case .failure(let error): throw Self.described(error, target)
        }
    }

    /// A store or copy failure as the CLI's error, named by the target store (its display name has no password).
    static func described(_ error: any Error, _ target: NodeConfiguration) -> any Error {
        let place = target.store.configuration.displayName
        switch error {
        case let error as StoreError:
            return FWXError(.io, "store error \(error.code.rawValue): \(error.message)", location: place)
        case let error as StoreCopyError:
            return FWXError(.io, error.message, location: place)
        default:
            return error
        }
    }
}

struct StoreSummaryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "Print a node store's row counts per table and the SHA-256 over its content.",
        discussion: """
            The same summary `fwx store copy` verifies with: two stores with the same summary hold the same \
            records, revisions, positions, receipts, outbox, cursors and audit trail. Exit status: 0, or 2 on a \
            configuration or store error.
            """)

    @Option(name: .long, help: "The node configuration file.")
    var config: String

    func run() async throws {
        let configuration = try NodeConfiguration.load(path: config)
        let store = try await OperatorStore.open(configuration, readOnly: true)
        guard let transfer = store as? any StoreTransfer else {
            await store.close()
            throw FWXError(.unsupported, "this store cannot be summarised")
        }
        let summary: StoreSummary
        do {
            summary = try await StoreCopy.summary(of: transfer)
        } catch {
            await store.close()
            throw StoreCopyCommand.described(error, configuration)
        }
        await store.close()
        print("\(configuration.store.configuration.displayName): \(summary)")
    }
}
