internal import Foundation

extension TraceEngine {
    /// Adds every record `produce` gives to ``ConcurrentTraceAdder/add(_:)``, with the producing on the calling
    /// thread (or on threads the producer starts and joins, one at a time) and ``add(_:)`` on a second one, so that
    /// on two cores the two overlap. The result is the same as adding the records in the same order on one thread.
    /// If `produce` throws, the records given before the error have been added and the error is rethrown.
    public mutating func addConcurrently(
        chunkSize: Int = 2048, _ produce: (_ adder: ConcurrentTraceAdder) throws -> Void
    ) rethrows {
        let adder = ConcurrentTraceAdder(engine: self, chunkSize: chunkSize)
        do {
            try produce(adder)
        } catch {
            self = adder.finish()
            throw error
        }
        self = adder.finish()
    }

    /// Adds every record of facts in their binary form (``RecordFacts/init(binary:)``, as a node's store keeps
    /// them) that `produce` emits, in three stages: `produce` on the calling thread (reading a store, which waits
    /// for the disk when the store is not cached), decoding on a second thread and adding on a third. The result
    /// is the same as decoding and adding in order on one thread. Returns how many could not be decoded (those
    /// are left out). The bytes given to `emit` are copied before it returns.
    public mutating func addConcurrently(
        binaryFacts produce: (_ emit: (UnsafeRawBufferPointer) -> Void) throws -> Void, chunkSize: Int = 2048
    ) rethrows -> Int {
        let adder = ConcurrentTraceAdder(engine: self, chunkSize: chunkSize)
        let blobs = ChunkQueue<BinaryChunk>(capacity: 8)
        let decoded = DispatchSemaphore(value: 0)
        let failures = Counter()
        let decoder = Thread {
            var done: BinaryChunk?
            while let chunk = blobs.take(handingBack: &done) {
                for index in 0..<chunk.count {
                    if let item = try? RecordFacts(binary: chunk.blob(index)) {
                        adder.add(item)
                    } else {
                        failures.value += 1
                    }
                }
                done = consume chunk
            }
            adder.flush()
            decoded.signal()
        }
        decoder.name = "fwx-trace-decode"
        decoder.start()
        var chunk = BinaryChunk()
        // Ends the stages in order; every path out of this function goes through it once.
        func finish() -> Int {
            if chunk.count > 0 { _ = blobs.put(chunk) }
            blobs.close()
            decoded.wait()
            self = adder.finish()
            // Read after the decoder has finished (the semaphore orders its writes before this read).
            return failures.value
        }
        do {
            try produce { bytes in
                chunk.append(bytes)
                if chunk.count == chunkSize {
                    // A chunk the decoder has finished with is reused, so reading allocates nothing per record.
                    var next = blobs.put(chunk).last ?? BinaryChunk()
                    next.removeAll()
                    chunk = next
                }
            }
        } catch {
            _ = finish()
            throw error
        }
        return finish()
    }
}

/// Adds records to a ``TraceEngine`` on a thread of its own, in chunks: ``add(_:)`` from one producing thread
/// at a time (several threads in turn are fine when each hands over to the next, as a parser joins its threads),
/// then ``finish()`` once (``TraceEngine/addConcurrently(chunkSize:_:)`` does that). Memory stays flat: chunks go
/// through a small bounded queue.
public final class ConcurrentTraceAdder: @unchecked Sendable {
    // @unchecked Sendable: `engine` is touched only by the adding thread between `init` and the semaphore signal,
    // and read by `finish()` only after waiting on that semaphore; `chunk` only by the one producer at a time.
    private var engine: TraceEngine
    private let queue = ChunkQueue<[RecordFacts]>(capacity: 32)
    private let finished = DispatchSemaphore(value: 0)
    private let chunkSize: Int
    private var chunk: [RecordFacts] = []

    /// Starts the adding thread with `engine`.
    public init(engine: TraceEngine, chunkSize: Int = 2048) {
        self.engine = engine
        self.chunkSize = max(1, chunkSize)
        chunk.reserveCapacity(self.chunkSize)
        let adder = Thread { [self] in
            var done: [RecordFacts]?
            while let next = queue.take(handingBack: &done) {
                for facts in next { self.engine.add(facts) }
                done = consume next
            }
            finished.signal()
        }
        adder.name = "fwx-trace-add"
        adder.start()
    }

    /// Takes one record (handed to the adding thread with its chunk).
    public func add(_ facts: RecordFacts) {
        chunk.append(facts)
        if chunk.count >= chunkSize { flush() }
    }

    /// Hands the records taken so far to the adding thread (waiting while its queue is full). Chunks the adder is
    /// done with are freed here, on the thread that made them: freeing a record's strings and arrays on the
    /// adding thread cost it ~20% of its time (glibc arenas).
    func flush() {
        guard !chunk.isEmpty else { return }
        var handedBack = queue.put(chunk)
        handedBack.removeAll()
        chunk = []
        chunk.reserveCapacity(chunkSize)
    }

    /// Hands over what is left, waits for the adding thread to finish, and returns the engine. Call once.
    public func finish() -> TraceEngine {
        flush()
        queue.close()
        finished.wait()
        return engine
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

    /// Moves the consumer's finished chunk (leaving nil, so the consumer keeps no reference to it) to the
    /// producer's side, then returns the next chunk, waiting for one; nil once the queue is closed and empty.
    func take(handingBack finished: inout Chunk?) -> Chunk? {
        condition.lock()
        defer { condition.unlock() }
        if let chunk = finished.take() { handedBack.append(chunk) }
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
