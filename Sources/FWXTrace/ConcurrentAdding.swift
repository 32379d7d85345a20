internal import Foundation

extension TraceEngine {
    /// Adds every record `produce` gives to ``ConcurrentTraceAdder/add(_:)`` or ``ConcurrentTraceAdder/add(binary:)``,
    /// with the producing on the calling thread (or on threads the producer starts and joins, one at a time) and the
    /// adding on a second one, so that on two cores the two overlap. The result is the same as adding the records in
    /// the same order on one thread. Returns how many binary forms could not be read (those are left out). If
    /// `produce` throws, the records given before the error have been added and the error is rethrown.
    @discardableResult
    public mutating func addConcurrently(
        chunkSize: Int = 2048, _ produce: (_ adder: ConcurrentTraceAdder) throws -> Void
    ) rethrows -> Int {
        let adder = ConcurrentTraceAdder(engine: self, chunkSize: chunkSize)
        do {
            try produce(adder)
        } catch {
            self = adder.finish()
            throw error
        }
        self = adder.finish()
        return adder.unreadable
    }

    /// Adds every record of facts in their binary form (``RecordFacts/binary()``, as a node's store keeps them) that
    /// `produce` emits: `produce` runs on the calling thread (reading a store, which waits for the disk when the
    /// store is not cached) and the adding, straight from the binary form, on a second one. The result is the same
    /// as adding in order on one thread. Returns how many could not be read (those are left out). The bytes given
    /// to `emit` are copied before it returns.
    public mutating func addConcurrently(
        binaryFacts produce: (_ emit: (UnsafeRawBufferPointer) -> Void) throws -> Void, chunkSize: Int = 2048
    ) rethrows -> Int {
        try addConcurrently(chunkSize: chunkSize) { adder in try produce { adder.add(binary: $0) } }
    }
}

/// Adds records to a ``TraceEngine`` on a thread of its own, in chunks: ``add(_:)`` or ``add(binary:)`` from one
/// producing thread at a time (several threads in turn are fine when each hands over to the next, as a parser joins
/// its threads), then ``finish()`` once (``TraceEngine/addConcurrently(chunkSize:_:)`` does that). Records travel
/// in their binary form, many to a buffer, so handing them over allocates and reference-counts nothing per record;
/// memory stays flat, as chunks go through a small bounded queue and come back to be reused.
public final class ConcurrentTraceAdder: @unchecked Sendable {
    // @unchecked Sendable: `engine` and `unreadableCount` are touched only by the adding thread between `init` and
    // the semaphore signal, and read only after waiting on that semaphore; `chunk` only by the one producer at a
    // time.
    private var engine: TraceEngine
    private var unreadableCount = 0
    private let queue = ChunkQueue<BinaryChunk>(capacity: 8)
    private let finished = DispatchSemaphore(value: 0)
    private let chunkSize: Int
    private var chunk = BinaryChunk()
    private var isFinished = false

    /// Starts the adding thread with `engine`.
    public init(engine: TraceEngine, chunkSize: Int = 2048) {
        self.engine = engine
        self.chunkSize = max(1, chunkSize)
        let adder = Thread { [self] in
            var done: BinaryChunk?
            while let next = queue.take(handingBack: &done) {
                next.forEach { if !self.engine.add(binary: $0) { self.unreadableCount += 1 } }
                done = consume next
            }
            finished.signal()
        }
        adder.name = "fwx-trace-add"
        adder.start()
    }

    /// Takes one record (encoded here, on the producer's thread, and handed to the adding thread with its chunk).
    public func add(_ facts: RecordFacts) {
        chunk.append(facts)
        if chunk.count >= chunkSize { flush() }
    }

    /// Takes one record as facts in their binary form (copied before this returns); a form the engine cannot read
    /// is counted in ``unreadable`` and left out.
    public func add(binary bytes: UnsafeRawBufferPointer) {
        chunk.append(bytes)
        if chunk.count >= chunkSize { flush() }
    }

    /// How many binary forms could not be read; valid after ``finish()``.
    public var unreadable: Int {
        precondition(isFinished, "ConcurrentTraceAdder.unreadable is known after finish()")
        return unreadableCount
    }

    /// Hands the records taken so far to the adding thread (waiting while its queue is full), and takes a chunk the
    /// adding thread is done with to fill next.
    private func flush() {
        guard chunk.count > 0 else { return }
        var next = queue.put(chunk).last ?? BinaryChunk()
        next.removeAll()
        chunk = next
    }

    /// Hands over what is left, waits for the adding thread to finish, and returns the engine. Call once.
    public func finish() -> TraceEngine {
        flush()
        queue.close()
        finished.wait()
        isFinished = true
        return engine
    }
}

/// Binary facts, one after the other in one buffer.
private struct BinaryChunk: Sendable {
    private var bytes: [UInt8] = []
    private var ends: [Int] = []

    var count: Int { ends.count }

    mutating func append(_ blob: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: blob)
        ends.append(bytes.count)
    }

    mutating func append(_ facts: RecordFacts) {
        facts.appendBinary(to: &bytes)
        ends.append(bytes.count)
    }

    /// Calls `body` with each record's bytes, in order.
    func forEach(_ body: (UnsafeRawBufferPointer) -> Void) {
        bytes.withUnsafeBytes { buffer in
            var start = 0
            for end in ends {
                body(UnsafeRawBufferPointer(rebasing: buffer[start..<end]))
                start = end
            }
        }
    }

    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
    }
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
