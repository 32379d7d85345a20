internal import CLibXML2

/// Process-wide settings for working with large XML documents.
public enum LargeDocuments {
    /// Makes malloc grow its heaps 64 MiB at a time instead of glibc's 128 KiB. A signed batch of 10,000 records
    /// is a libxml2 tree of ~250 MB in small allocations, built on a worker thread whose malloc arena otherwise
    /// grows by thousands of `mprotect` calls (perf: about a fifth of `fwx sign`'s time in `sysmalloc` and
    /// `mprotect`). Pad that is never touched is address space, not resident memory. Call once, early; a no-op
    /// where malloc is not glibc's.
    public static func growHeapsInLargeSteps() {
        #if os(Linux)
        _ = CLibXML2_setMallocTopPad(64 << 20)
        #endif
    }
}
