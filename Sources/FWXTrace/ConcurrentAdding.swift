internal import Foundation

extension TraceEngine {
    /// Adds every record `produce` emits, with the producing (reading files, decoding records) on the calling
    /// thread and ``add(_:)`` on a second one, so that on two cores the two overlap. The result is the same as
    /// adding the records in the same order on one thread.
    ///
    /// Records travel in chunks through a small bounded queue, so memory stays flat however many there are. If
    /// `produce` throws, the records emitted before the error have been added and the error is rethrown.
    public mutating func addConcurrently(
        chunkSize: Int = 2048, _ produce: (_ emit: (RecordFacts) -> Void) throws -> Void
    ) rethrows {
        let adding = AddingStage(engine: self)
        defer { self = adding.finish() }
        var chunk: [RecordFacts] = []
        chunk.reserveCapacity(chunkSize)
        defer { adding.put(&chunk) }
        try produce { facts in
            chunk.append(facts)
            if chunk.count == chunkSize { adding.put(&chunk) }
        }
    }

    /// Adds every record of facts in their binary form (``RecordFacts/init(binary:)``, as a node's store keeps
    /// them) that `produce` emits, in three stages: `produce` on the calling thread (reading a store, which waits
    /// for the disk when the store is not cached), decoding on a second thread and adding on a third. The result
    /// is the same as decoding and adding in order on one thread. Returns how many could not be decoded (those
    /// are left out).
    ///
    /// The bytes given to `emit` are copied before it returns.
    public mutating func addConcurrently(
        binaryFacts produce: (_ emit: (UnsafeRawBufferPointer) -> Void) throws -> Void, chunkSize: Int = 2048
    ) rethrows -> Int {
        let adding = AddingStage(engine: self)
        let blobs = ChunkQueue<BinaryChunk>(capacity: 8)
        let decoded = DispatchSemaphore(value: 0)
        let failures = Counter()
        let decoder = Thread {
            var done: BinaryChunk?
            var facts: [RecordFacts] = []
            while let chunk = blobs.take(handingBack: done) {
                facts.reserveCapacity(chunk.count)
                for index in 0..<chunk.count {
                    if let item = try? RecordFacts(binary: chunk.blob(index)) {
                        facts.append(item)
                    } else {
                        failures.value += 1
                    }
                }
                adding.put(&facts)
                done = chunk
            }
            decoded.signal()
        }
        decoder.name = "fwx-trace-decode"
        decoder.start()
        defer {
            decoded.wait()
            self = adding.finish()
        }
        var chunk = BinaryChunk()
        defer {
            if chunk.count > 0 { _ = blobs.put(chunk) }
            blobs.close()
        }
        try produce { bytes in
            chunk.append(bytes)
            if chunk.count == chunkSize {
                // A chunk the decoder has finished with is reused, so reading allocates nothing per record.
                var next = blobs.put(chunk).last ?? BinaryChunk()
                next.removeAll()
                chunk = next
            }
        }
        return failures.value
    }
}

/// Blobs of binary facts, one after the other in one buffer.
private struct BinaryChunk: Sendable {
    private var bytes: [UInt8] = []
    private var ends: [Int] = []

    var count: Int { ends.count }

    mutating func append(_ blob: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: blob)
        ends.append(bytes.count)
    }

    func blob(_ index: Int) -> ArraySlice<UInt8> { bytes[(index == 0 ? 0 : ends[index - 1])..<ends[index]] }

    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
    }
}

/// The thread that adds chunks of facts to the engine, and the queue that feeds it.
private final class AddingStage: @unchecked Sendable {
    // @unchecked Sendable: `engine` is touched only by the adding thread between `init` and the semaphore signal,
    // and read by `finish()` only after waiting on that semaphore.
    private var engine: TraceEngine
    private let queue = ChunkQueue<[RecordFacts]>(capacity: 32)
    private let finished = DispatchSemaphore(value: 0)

    init(engine: TraceEngine) {
        self.engine = engine
        let adder = Thread { [self] in
            var done: [RecordFacts]?
            while let chunk = queue.take(handingBack: done) {
                for facts in chunk { self.engine.add(facts) }
                done = chunk
            }
            finished.signal()
        }
        adder.name = "fwx-trace-add"
        adder.start()
    }

    /// Hands `chunk` to the adder (waiting while the queue is full) and leaves it empty. Chunks the adder is done
    /// with are freed here, on the thread that made them: freeing a record's strings and arrays on the adding
    /// thread cost it ~20% of its time (glibc arenas).
    func put(_ chunk: inout [RecordFacts]) {
        guard !chunk.isEmpty else { return }
        var handedBack = queue.put(chunk)
        handedBack.removeAll()
        let capacity = chunk.count
        chunk = []
        chunk.reserveCapacity(capacity)
    }

    /// Waits for the adder to finish what was put, and returns the engine.
    func finish() -> TraceEngine {
        queue.close()
        finished.wait()
        return engine
    }
}

/// A count kept by one thread and read by another after a semaphore orders the two.
private final class Counter: @unchecked Sendable {
    // @unchecked Sendable: written only by the decoding thread, read after waiting for it to finish.
    var value = 0
}

/// A bounded first-in first-out queue of chunks between one producer and one consumer. The consumer hands back
/// the chunks it is done with, and the producer gets them with its next `put`: to free or reuse them on its own
/// thread.
private final class ChunkQueue<Chunk: Sendable>: @unchecked Sendable {
    // @unchecked Sendable: every access to the mutable state happens with `condition` locked.
    private let condition = NSCondition()
    private var chunks: [Chunk] = []
    private var handedBack: [Chunk] = []
    private var closed = false
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    /// Waits while the queue is full, then appends; returns the chunks the consumer has handed back since.
    func put(_ chunk: Chunk) -> [Chunk] {
        condition.lock()
        defer { condition.unlock() }
        while chunks.count >= capacity { condition.wait() }
        chunks.append(chunk)
        condition.broadcast()
        let back = handedBack
        handedBack = []
        return back
    }

    /// Hands back the consumer's finished chunk, then returns the next chunk, waiting for one; nil once the queue
    /// is closed and empty.
    func take(handingBack finished: Chunk?) -> Chunk? {
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
