import CCurl
import Foundation
import Synchronization

/// Limits of a CRL download.
public struct CRLFetchConfiguration: Sendable, Hashable {
    /// Longest wait for the connection, in seconds (default 5).
    public var connectTimeout: Double
    /// Longest time for the whole download, in seconds (default 15).
    public var timeout: Double
    /// Largest CRL accepted, in bytes (default 8 MiB); a larger answer is cut off and refused.
    public var maxBytes: Int

    public init(connectTimeout: Double = 5, timeout: Double = 15, maxBytes: Int = 8 * 1024 * 1024) {
        self.connectTimeout = connectTimeout
        self.timeout = timeout
        self.maxBytes = maxBytes
    }
}

/// Why a CRL could not be downloaded.
public struct CRLFetchError: Error, Sendable, CustomStringConvertible, Equatable {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Value: String, Sendable, Hashable { case invalidURL, timedOut, tooLarge, httpStatus, transfer }
        private let value: Value
        private init(_ value: Value) { self.value = value }
        /// Not an http:// or https:// URL.
        public static let invalidURL = Code(.invalidURL)
        /// The connection or the download took longer than allowed.
        public static let timedOut = Code(.timedOut)
        /// The answer is larger than ``CRLFetchConfiguration/maxBytes``.
        public static let tooLarge = Code(.tooLarge)
        /// The server answered with a status other than 200.
        public static let httpStatus = Code(.httpStatus)
        /// Any other failure (connection refused, TLS, DNS …).
        public static let transfer = Code(.transfer)
        public var description: String { value.rawValue }
    }
    public var code: Code
    public var message: String
    public var url: String
    public var description: String { "CRL download from \(url) failed (\(code)): \(message)" }
    public static func == (lhs: CRLFetchError, rhs: CRLFetchError) -> Bool { lhs.code == rhs.code }
}

/// Downloads CRLs from the distribution points certificates name. A CRL is a signed object, checked against its CA
/// by the caller, so plain `http://` is allowed here (and only here: ``HTTPSClient`` speaks HTTPS only); `https://`
/// servers are checked against the system's CAs. No redirects, no proxy, no client certificate; timeouts and a
/// size limit from ``CRLFetchConfiguration``.
public enum CRLFetcher {
    /// The body of a 200 answer (DER or PEM, as served), or a ``CRLFetchError``.
    public static func fetch(_ url: String, configuration: CRLFetchConfiguration = .init()) async throws -> [UInt8] {
        let lower = url.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://"),
              !url.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw CRLFetchError(code: .invalidURL, message: "only http:// and https:// URLs without spaces are fetched",
                                url: url)
        }
        if let unusable = Curl.unusable { throw CRLFetchError(code: .transfer, message: unusable, url: url) }
        let download = CRLDownload(url: url, configuration: configuration)
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<[UInt8], CRLFetchError>, Never>) in
                let thread = Thread { continuation.resume(returning: download.run()) }
                thread.name = "fwx-crl-fetch"
                thread.start()
            }
        } onCancel: {
            download.cancel()
        }
        return try result.get()
    }
}

/// One CRL download on its own easy handle, run on a dedicated thread.
private final class CRLDownload: @unchecked Sendable {
    // @unchecked Sendable: `cancel()` only touches the atomic flag; `body` and `tooLarge` are written and read only
    // on the thread running `run()` (libcurl calls the callbacks inside curl_easy_perform on that thread).
    let url: String
    let configuration: CRLFetchConfiguration
    private let cancelled = Atomic<Bool>(false)
    private var body: [UInt8] = []
    private var tooLarge = false

    init(url: String, configuration: CRLFetchConfiguration) {
        self.url = url
        self.configuration = configuration
    }

    func cancel() { cancelled.store(true, ordering: .relaxed) }

    func run() -> Result<[UInt8], CRLFetchError> {
        guard let handle = EasyHandle() else {
            return .failure(CRLFetchError(code: .transfer, message: "libcurl could not create a handle", url: url))
        }
        let curl = handle.pointer
        var options = OptionWriter(curl: curl)
        options.set(CURLOPT_ERRORBUFFER, pointer: handle.errorBuffer)
        options.set(CURLOPT_NOSIGNAL, 1)
        options.set(CURLOPT_URL, url)
        options.set(CURLOPT_PROTOCOLS_STR, "http,https")
        options.set(CURLOPT_REDIR_PROTOCOLS_STR, "https")
        options.set(CURLOPT_FOLLOWLOCATION, 0)
        options.set(CURLOPT_SSL_VERIFYPEER, 1)
        options.set(CURLOPT_SSL_VERIFYHOST, 2)
        options.set(CURLOPT_PROXY, "")
        options.set(CURLOPT_NOPROXY, "*")
        options.set(CURLOPT_CONNECTTIMEOUT_MS, Int(configuration.connectTimeout * 1000))
        options.set(CURLOPT_TIMEOUT_MS, Int(configuration.timeout * 1000))
        options.set(CURLOPT_MAXFILESIZE_LARGE, offset: Int64(configuration.maxBytes))
        options.set(CURLOPT_HTTPGET, 1)
        options.set(CURLOPT_USERAGENT, "fwx-crl-fetch")
        let context = Unmanaged.passUnretained(self).toOpaque()
        options.set(CURLOPT_WRITEFUNCTION, callback: { data, size, count, context in
            Unmanaged<CRLDownload>.fromOpaque(context!).takeUnretainedValue()
                .receive(UnsafeRawBufferPointer(start: data, count: size * count))
        })
        options.set(CURLOPT_WRITEDATA, pointer: context)
        options.set(CURLOPT_NOPROGRESS, 0)
        options.setProgress { context, _, _, _, _ in
            Unmanaged<CRLDownload>.fromOpaque(context!).takeUnretainedValue().cancelled.load(ordering: .relaxed) ? 1 : 0
        }
        options.set(CURLOPT_XFERINFODATA, pointer: context)
        if let failure = options.failure {
            return .failure(CRLFetchError(code: .transfer, message: "libcurl refused option \(failure.option.rawValue)",
                                          url: url))
        }
        let code = curl_easy_perform(curl)
        guard code == CURLE_OK else {
            let detail = handle.errorText.isEmpty ? String(cString: curl_easy_strerror(code)) : handle.errorText
            switch code {
            case CURLE_OPERATION_TIMEDOUT:
                return .failure(CRLFetchError(code: .timedOut, message: detail, url: url))
            case CURLE_FILESIZE_EXCEEDED:
                return .failure(CRLFetchError(code: .tooLarge, message: "larger than \(configuration.maxBytes) bytes", url: url))
            case CURLE_WRITE_ERROR where tooLarge:
                return .failure(CRLFetchError(code: .tooLarge, message: "larger than \(configuration.maxBytes) bytes", url: url))
            default:
                return .failure(CRLFetchError(code: .transfer, message: detail, url: url))
            }
        }
        var status = 0
        _ = CCurl_getLong(curl, CURLINFO_RESPONSE_CODE, &status)
        guard status == 200 else {
            return .failure(CRLFetchError(code: .httpStatus, message: "HTTP \(status)", url: url))
        }
        return .success(body)
    }

    private func receive(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard body.count + bytes.count <= configuration.maxBytes else {
            tooLarge = true
            return 0
        }
        body.append(contentsOf: bytes)
        return bytes.count
    }
}
