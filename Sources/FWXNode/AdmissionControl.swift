import FWXSigning
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Admission control for batch intake: at most `limits.maxConcurrentBatches` batches are read and checked at once,
/// and the memory they are estimated to cost (their bodies and the documents built from them) stays within
/// `limits.memoryBudgetBytes`. A request that does not fit is answered 503 with Retry-After before its body is read;
/// nothing waits in memory for a slot.
///
/// The estimate is ``costPerBodyByte`` times the body size: the body itself and the records read from it (the
/// signature and the content are checked in one streaming pass, with no document tree; issue 15). A body of unknown length
/// (chunked) is estimated at `limits.maxBodyBytes`. A batch whose estimate is larger than the whole budget is admitted
/// only when nothing else is in flight, so that every batch within `maxBodyBytes` can be taken in eventually.
final class AdmissionControl: Sendable {
    /// Bytes of memory one body byte is estimated to cost while its batch is read and checked: one refused
    /// 10,001-record batch of 22.8 MB raised the node's RSS by 56 MiB, 2.6 per byte
    /// (`scripts/bench_admission.py --batches 1 --bodies 0`; 317 MiB, 13.9 per byte, while the signature was
    /// checked on a document tree).
    static let costPerBodyByte = 3
    /// After a batch whose estimate is at least this large, freed heap is returned to the system.
    static let trimThreshold = 16 << 20

    let budgetBytes: Int
    let maxBatches: Int
    private let state = Mutex<(bytes: Int, batches: Int)>((0, 0))

    init(budgetBytes: Int, maxBatches: Int) {
        self.budgetBytes = max(1, budgetBytes)
        self.maxBatches = max(1, maxBatches)
    }

    /// A place in the intake: release it when the batch's body and documents are gone.
    struct Ticket: Sendable, Equatable {
        let bytes: Int
    }

    /// Why a batch was not admitted.
    enum Refusal: Error, Sendable, Equatable {
        /// `maxConcurrentBatches` batches are in flight.
        case tooManyBatches
        /// The estimate does not fit in what is left of the memory budget.
        case overMemoryBudget
    }

    /// The estimated cost of a batch with a body of `bodyBytes`, capped at the budget.
    func estimate(bodyBytes: Int) -> Int {
        let (product, overflow) = max(0, bodyBytes).multipliedReportingOverflow(by: Self.costPerBodyByte)
        return min(overflow ? Int.max : product, budgetBytes)
    }

    /// Takes a place for a batch of `bodyBytes` (nil: unknown, counted as `maxBodyBytes`), or says why not.
    func admit(bodyBytes: Int) -> Result<Ticket, Refusal> {
        let cost = estimate(bodyBytes: bodyBytes)
        return state.withLock { state in
            guard state.batches < maxBatches else { return .failure(.tooManyBatches) }
            guard state.bytes + cost <= budgetBytes else { return .failure(.overMemoryBudget) }
            state.bytes += cost
            state.batches += 1
            return .success(Ticket(bytes: cost))
        }
    }

    /// Gives a place back; after a large batch, returns freed heap to the system (off the cooperative pool).
    func release(_ ticket: Ticket) async {
        // The batch's signature tree is freed on the reclaimer's thread: its memory is back only after that.
        await SignatureMemory.freeReleasedDocuments()
        // Returned to the system before the place is given back: the next batch may run on a thread with another
        // malloc arena, which cannot reuse this one's free pages, and both would count until the next trim.
        if ticket.bytes >= Self.trimThreshold {
            _ = try? await BlockingWork.run("fwx-trim") { MemoryTrim.returnFreedHeap() }
        }
        state.withLock { state in
            state.bytes -= ticket.bytes
            state.batches -= 1
        }
        // What the request's answer and connection free afterwards is returned by the trim service.
        MemoryTrim.requestSoon()
    }

    /// Bytes and batches in flight now.
    var inFlight: (bytes: Int, batches: Int) { state.withLock { $0 } }
}

/// Returns freed heap to the system: glibc's `malloc_trim(0)`, which also releases free pages inside its arenas.
/// Without it, the ~300 MB a large batch's documents took stay in the process after they are freed (issue 13).
/// Found at run time, so that this is a no-op where malloc is not glibc's.
enum MemoryTrim {
    private typealias TrimFunction = @convention(c) (Int) -> Int32

    private static let trim: TrimFunction? = {
        #if canImport(Glibc)
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: TrimFunction.self)
        #else
        return nil
        #endif
    }()

    /// True when memory was returned.
    @discardableResult
    static func returnFreedHeap() -> Bool {
        guard let trim else { return false }
        return trim(0) == 1
    }

    private typealias MalloptFunction = @convention(c) (Int32, Int32) -> Int32
    /// glibc's `M_ARENA_MAX`.
    private static let arenaMaxParameter: Int32 = -8

    /// Limits glibc's malloc to `arenas` arenas (its default is 8 per core), unless `MALLOC_ARENA_MAX` is set in
    /// the environment, which then wins. Each thread that allocates gets an arena of its own up to that limit; a
    /// batch read on one thread and freed on another leaves free pages in several arenas, and many half-used arenas
    /// keep a node's memory high after a burst (bench_admission: 115 MiB 10 s after the burst with glibc's default,
    /// 91 MiB with one arena per core, against an idle 56 MiB). Returns whether the limit was set.
    @discardableResult
    static func limitArenas(_ arenas: Int) -> Bool {
        #if canImport(Glibc)
        guard ProcessInfo.processInfo.environment["MALLOC_ARENA_MAX"] == nil,
              let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return false }
        let mallopt = unsafeBitCast(symbol, to: MalloptFunction.self)
        return mallopt(arenaMaxParameter, Int32(clamping: max(1, arenas))) == 1
        #else
        return false
        #endif
    }

    /// Turns of ``PeriodicService/memoryTrim()`` that still trim.
    private static let requested = Atomic<Int>(0)

    /// Asks ``PeriodicService/memoryTrim()`` to return freed heap at its next two turns: after work whose memory was freed
    /// outside a batch's ticket (bodies answered 413 or 503, connections closed), which would otherwise stay in
    /// malloc's arenas. Twice, because what a request holds can be freed a moment after the event that asks (its
    /// task ends after its connection closes). Cheap; may be called on an event loop.
    static func requestSoon() {
        requested.store(2, ordering: .relaxed)
    }

    /// Whether a trim is due at this turn.
    static func takeRequest() -> Bool {
        var value = requested.load(ordering: .relaxed)
        while value > 0 {
            let (exchanged, original) = requested.compareExchange(expected: value, desired: value - 1,
                                                                  ordering: .relaxed)
            if exchanged { return true }
            value = original
        }
        return false
    }
}

extension PeriodicService {
    /// Returns freed heap to the system once a second at most, when something asked for it
    /// (``MemoryTrim/requestSoon()``), so that memory goes back near the idle level after a burst whatever its
    /// requests were.
    static func memoryTrim() -> PeriodicService {
        PeriodicService(seconds: 1, turn: {
            if MemoryTrim.takeRequest() {
                _ = try? await BlockingWork.run("fwx-trim") { MemoryTrim.returnFreedHeap() }
            }
        })
    }
}
