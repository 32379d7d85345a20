import Logging
import PostgresNIO
import Synchronization

/// A LISTEN/NOTIFY channel name: lower-case letters, digits and `_`, starting with a letter, at most 63 characters
/// (so it needs no quoting and cannot carry SQL).
public struct PostgresChannel: Sendable, Hashable, CustomStringConvertible {
    public let name: String

    public init(_ name: String) throws {
        let allowed = name.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
        guard allowed, let first = name.utf8.first, first >= 0x61, first <= 0x7A, name.utf8.count <= 63 else {
            throw PostgresStoreError(.internal, "a LISTEN channel name must be lower-case letters, digits and _, "
                + "starting with a letter (a bug in fwx)")
        }
        self.name = name
    }

    public var description: String { name }
}

/// Wake-ups from a LISTEN connection: each element says "something may have changed on the channel, look again".
///
/// A wake-up is only a hint. Notifications sent while the listener is disconnected (server restart, network) are
/// lost, and several notifications may arrive as one wake-up. So the listener yields one extra wake-up every time it
/// (re)connects, and a consumer must still poll on a timer of its own: correctness never depends on a wake-up.
///
/// Iterate it from one task (``wait(atMost:)`` is the same thing with a deadline).
public final class PostgresWakeUps: AsyncSequence, Sendable {
    public typealias Element = Void

    private struct State {
        var pending = false
        var finished = false
        var waiter: CheckedContinuation<Bool, Never>?
        var connections = 0
    }
    private let state = Mutex(State())

    init() {}

    /// How many times the listener has connected (1 after the first connection; each reconnection adds one).
    public var connections: Int { state.withLock { $0.connections } }

    func signal(connected: Bool = false) {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            if connected { state.connections += 1 }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = true
            return nil
        }
        waiter?.resume(returning: true)
    }

    func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: false)
    }

    /// Waits for the next wake-up. Returns `false` when the sequence finished or the task was cancelled.
    func next() async -> Bool {
        if let ready = take() { return ready }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let now = state.withLock { state -> Bool? in
                    if state.pending {
                        state.pending = false
                        return true
                    }
                    if state.finished || Task.isCancelled { return false }
                    state.waiter = continuation
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: false)
        }
    }

    private func take() -> Bool? {
        state.withLock { state -> Bool? in
            if state.pending {
                state.pending = false
                return true
            }
            if state.finished { return false }
            return nil
        }
    }

    /// Waits for a wake-up at most `duration`: `true` when one came, `false` on time-out, cancellation or finish.
    /// A consumer's loop: `while ... { await wakeUps.wait(atMost: pollInterval); doTheWork() }`.
    public func wait(atMost duration: Duration) async -> Bool {
        if let ready = take() { return ready }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.next() }
            group.addTask {
                try? await Task.sleep(for: duration)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let wakeUps: PostgresWakeUps
        public mutating func next() async -> Void? {
            await wakeUps.next() ? () : nil
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(wakeUps: self) }
}

extension PostgresStoreDatabase {
    /// Listens on `channel` on a dedicated connection (not one of the pool's) while `body` runs, and hands `body`
    /// the wake-ups. The listener reconnects after the connection drops (server restart, failover), with a back-off
    /// from 100 ms up to 5 s, and yields a wake-up after each (re)connection, since notifications sent meanwhile are
    /// lost. It stops when `body` returns.
    public func withWakeUps<Result: Sendable>(
        on channel: PostgresChannel, _ body: @Sendable (PostgresWakeUps) async throws -> Result
    ) async throws -> Result {
        let wakeUps = PostgresWakeUps()
        let configuration = self.listenConfiguration
        let logger = self.logger
        return try await withThrowingTaskGroup(of: Void.self, returning: Result.self) { group in
            group.addTask {
                await Self.listen(channel, configuration: configuration, logger: logger, into: wakeUps)
            }
            defer {
                group.cancelAll()
                wakeUps.finish()
            }
            return try await body(wakeUps)
        }
    }

    private static func listen(_ channel: PostgresChannel, configuration: PostgresConnection.Configuration,
                               logger: Logger, into wakeUps: PostgresWakeUps) async {
        var failures = 0
        let ids = Atomic<Int>(1)
        while !Task.isCancelled {
            do {
                let id = ids.wrappingAdd(1, ordering: .relaxed).oldValue
                let connection = try await PostgresConnection.connect(configuration: configuration, id: id,
                                                                      logger: logger)
                do {
                    try await connection.listen(on: channel.name) { notifications in
                        failures = 0
                        wakeUps.signal(connected: true)
                        for try await _ in notifications { wakeUps.signal() }
                    }
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
            } catch {
                if Task.isCancelled { break }
                failures += 1
                if failures == 1 || failures % 20 == 0 {
                    logger.info("postgres LISTEN connection lost; reconnecting",
                                metadata: ["channel": "\(channel.name)",
                                           "error": "\(PostgresStoreError.from(error).code)",
                                           "attempts": "\(failures)"])
                }
            }
            let delay = min(5_000, 100 * (1 << min(failures, 6)))
            try? await Task.sleep(for: .milliseconds(delay))
        }
    }
}
