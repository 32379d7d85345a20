import Foundation

/// Runs CPU-heavy, blocking C work (XML parsing, canonicalisation, signatures) on a bounded pool of threads of its
/// own and awaits the result. Swift's cooperative pool has one thread per core; blocking it with a 200 ms signature
/// check would stall every other task of the node (HTTP handling, store continuations) behind it. The pool has a
/// fixed number of threads (``configure(threads:)``, `limits.blockingThreads`; by default one per core, at least
/// two): work beyond that waits in a first-in first-out queue, it never starts a thread of its own.
enum BlockingWork {
    /// The process-wide pool.
    static let shared = BlockingPool(threads: NodeLimits.MachineDefaults.current.blockingThreads, name: "fwx-work")

    /// Runs `work` on the shared pool; `name` is for debugging (the pool's threads are named after the pool).
    static func run<T: Sendable>(_ name: String, _ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await shared.run(work)
    }

    /// Sets the number of threads of the shared pool (a node does at start-up, from `limits.blockingThreads`).
    static func configure(threads: Int) { shared.resize(threads: threads) }
}

/// A fixed number of threads that take jobs from one queue, first in first out. Threads are started up to the
/// target size when work arrives and leave when the target is lowered; work never starts a thread beyond it.
/// `@unchecked Sendable`: its only mutable state, `state`, is read and written with `condition`'s lock held.
final class BlockingPool: @unchecked Sendable {
    typealias Job = @Sendable () -> Void

    private struct State {
        /// Jobs not yet taken from `head` on; a taken job's slot is emptied at once, so that what the job
        /// captured (a batch's body, say) is freed when it ends, not when the slot is reused.
        var queue: [Job?] = []
        var head = 0
        var threads = 0
        var idle = 0
        var target: Int
    }

    private let condition = NSCondition()
    private var state: State
    private let name: String

    init(threads: Int, name: String) {
        state = State(target: max(1, threads))
        self.name = name
    }

    /// Threads the pool may run at once.
    var size: Int {
        condition.lock()
        defer { condition.unlock() }
        return state.target
    }

    /// Jobs waiting for a thread.
    var queued: Int {
        condition.lock()
        defer { condition.unlock() }
        return state.queue.count - state.head
    }

    func resize(threads: Int) {
        condition.lock()
        state.target = max(1, threads)
        condition.broadcast()
        condition.unlock()
    }

    /// Runs `work` on one of the pool's threads and returns its result.
    func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            submit { continuation.resume(with: Result { try work() }) }
        }
    }

    private func submit(_ job: @escaping Job) {
        condition.lock()
        state.queue.append(job)
        let startThread = state.idle == 0 && state.threads < state.target
        if startThread { state.threads += 1 }
        condition.signal()
        condition.unlock()
        if startThread {
            let thread = Thread { [self] in work() }
            thread.name = name
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    /// A thread's loop: takes the next job, or waits; leaves when there are more threads than the target.
    private func work() {
        condition.lock()
        while true {
            if state.threads > state.target {
                state.threads -= 1
                condition.unlock()
                return
            }
            if state.head < state.queue.count {
                let job = state.queue[state.head].take()
                state.head += 1
                if state.head == state.queue.count {
                    state.queue.removeAll(keepingCapacity: true)
                    state.head = 0
                } else if state.head > 64, state.head * 2 > state.queue.count {
                    state.queue.removeFirst(state.head)
                    state.head = 0
                }
                condition.unlock()
                job?()
                condition.lock()
                continue
            }
            state.idle += 1
            condition.wait()
            state.idle -= 1
        }
    }
}
