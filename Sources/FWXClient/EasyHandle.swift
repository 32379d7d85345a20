import CCurl
import Synchronization

/// Process-wide libcurl set-up: `curl_global_init` exactly once, and a check that the library is recent enough for
/// the options the client relies on.
enum Curl {
    /// Nil when libcurl is usable, else why not. A `static let` is initialised once, thread-safely.
    static let unusable: String? = {
        let code = curl_global_init(Int(CURL_GLOBAL_DEFAULT))
        guard code == CURLE_OK else {
            return "libcurl could not be initialised: \(String(cString: curl_easy_strerror(code)))"
        }
        // CURLOPT_PROTOCOLS_STR and CURLOPT_REDIR_PROTOCOLS_STR exist since 7.85.0.
        let version = curl_version_info(CURLVERSION_FIRST).pointee
        guard version.version_num >= 0x07_55_00 else {
            return "libcurl \(String(cString: version.version)) is too old; FWX needs 7.85.0 or later"
        }
        return nil
    }()
}

/// One libcurl easy handle (`CURL *`), owned: `curl_easy_cleanup` in `deinit`.
///
/// Between transfers the handle keeps its connection cache (kept-alive TLS connections) and TLS session cache,
/// which is why handles are pooled rather than made per request.
final class EasyHandle: @unchecked Sendable {
    // @unchecked Sendable: a handle is used by one transfer at a time. The pool hands it out under its lock to
    // exactly one transfer; only that transfer's thread touches it until it is given back, and libcurl does not
    // touch an easy handle on its own between calls.
    let pointer: UnsafeMutableRawPointer
    /// CURLOPT_ERRORBUFFER: libcurl writes the explanation of a failure here.
    let errorBuffer: UnsafeMutablePointer<CChar>

    /// A new handle, or nil when libcurl cannot make one (out of memory).
    init?() {
        guard let pointer = curl_easy_init() else { return nil }
        self.pointer = pointer
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
    }

    deinit {
        curl_easy_cleanup(pointer)
        errorBuffer.deallocate()
    }

    /// The error buffer's text, without the trailing newline libcurl sometimes leaves.
    var errorText: String {
        var text = String(cString: errorBuffer)
        while text.last?.isNewline == true { text.removeLast() }
        return text
    }
}

/// The idle easy handles of one client, each remembered with the origin (`host:port`) it last talked to, so that a
/// request to a node gets the handle that holds a kept-alive connection to it.
final class EasyHandlePool: Sendable {
    private let idle = Mutex<[(origin: String, handle: EasyHandle)]>([])
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = max(0, capacity)
    }

    /// An idle handle, preferably one that last talked to `origin`, or a new one; nil when none can be made.
    func take(for origin: String) -> EasyHandle? {
        let reused = idle.withLock { handles -> EasyHandle? in
            if let index = handles.lastIndex(where: { $0.origin == origin }) {
                return handles.remove(at: index).handle
            }
            return handles.popLast()?.handle
        }
        return reused ?? EasyHandle()
    }

    /// Returns a handle after a transfer. When the pool is full the oldest idle handle is dropped (and cleaned up
    /// outside the lock: closing its connections may write a TLS close_notify).
    func giveBack(_ handle: EasyHandle, origin: String) {
        let dropped = idle.withLock { handles -> EasyHandle? in
            handles.append((origin, handle))
            return handles.count > capacity ? handles.removeFirst().handle : nil
        }
        _ = dropped
    }
}
