import Foundation

/// Runs CPU-heavy, blocking C work (XML parsing, canonicalisation, signatures) on a thread of its own and awaits
/// the result. Swift's cooperative pool has one thread per core; blocking it with a 200 ms signature check would
/// stall every other task of the node (HTTP handling, store continuations) behind it.
enum BlockingWork {
    static func run<T: Sendable>(_ name: String, _ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try work() })
            }
            thread.name = name
            thread.stackSize = 8 << 20
            thread.start()
        }
    }
}
