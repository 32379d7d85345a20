internal import Foundation

extension TraceEngine {
    /// Adds every record `produce` emits, with the producing (reading a store, decoding facts) on the calling
    /// thread and ``add(_:)`` on a second one, so that on two cores the two overlap. The result is the same as
    /// adding the records in the same order on one thread.
    ///
    /// Records travel in chunks through a small bounded queue, so memory stays flat however many there are. If
    /// `produce` throws, the records emitted before the error have been added and the error is rethrown.
    public mutating func addConcurrently(
        chunkSize: Int = 2048, _ produce: (_ emit: (RecordFacts) -> Void) throws -> Void
    ) rethrows {
        let queue = FactsChunkQueue(capacity: 32)
        let box = EngineBox(self)
        let finished = DispatchSemaphore(value: 0)
        let adder = Thread {
            var done: [RecordFacts]?
            while let chunk = queue.take(handingBack: done) {
                for facts in chunk { box.engine.add(facts) }
                done = chunk
            }
            finished.signal()
        }
        adder.name = "fwx-trace-add"
        adder.start()
        var chunk: [RecordFacts] = []
        chunk.reserveCapacity(chunkSize)
        defer {
            if !chunk.isEmpty { _ = queue.put(chunk) }
            queue.close()
            finished.wait()
            // The adding thread has finished (the semaphore orders its writes before this read).
            self = box.engine
        }
        try produce { facts in
            chunk.append(facts)
            if chunk.count == chunkSize {
                // Chunks the adder is done with are freed here, on the thread that allocated them: freeing a
                // record's strings and arrays on the adding thread cost it ~20% of its time (glibc arenas).
                var handedBack = queue.put(chunk)
                handedBack.removeAll()
                chunk = []
                chunk.reserveCapacity(chunkSize)
            }
        }
    }
}

/// The engine while the adding thread owns it.
private final class EngineBox: @unchecked Sendable {
    // @unchecked Sendable: only the adding thread touches `engine` between start and the semaphore signal; the
    // caller reads it back only after waiting on that semaphore.
    var engine: TraceEngine
    init(_ engine: TraceEngine) { self.engine = engine }
}

/// A bounded first-in first-out queue of chunks of facts between one producer and one consumer.
private final class FactsChunkQueue: @unchecked Sendable {
    // @unchecked Sendable: every access to the mutable state happens with `condition` locked.
    private let condition = NSCondition()
    private var chunks: [[RecordFacts]] = []
    private var handedBack: [[RecordFacts]] = []
    private var closed = false
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    /// Waits while the queue is full, then appends; returns the chunks the consumer has handed back since.
    func put(_ chunk: [RecordFacts]) -> [[RecordFacts]] {
        condition.lock()
        defer { condition.unlock() }
        while chunks.count >= capacity { condition.wait() }
        chunks.append(chunk)
        condition.broadcast()
        let back = handedBack
        handedBack = []
        return back
    }

    /// Hands back the consumer's finished chunk (for the producer to free), then returns the next chunk, waiting
    /// for one; nil once the queue is closed and empty.
    func take(handingBack finished: [RecordFacts]?) -> [RecordFacts]? {
        condition.lock()
        defer { condition.unlock() }
        if let finished { handedBack.append(finished) }
        while chunks.isEmpty && !closed { condition.wait() }
        guard !chunks.isEmpty else { return nil }
        condition.broadcast()
        return chunks.removeFirst()
    }

    /// No more chunks will be put.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}
