import CCurl
import Synchronization

/// A request checked and ready for libcurl.
struct PreparedRequest: Sendable {
    var method: String
    var url: String
    /// `host:port` (the pool's key for connection reuse).
    var origin: String
    var headers: [(String, String)]
    var body: [UInt8]?
}

/// One request on one easy handle: sets every option, runs the blocking `curl_easy_perform` on the calling
/// thread (a dedicated thread, see ``HTTPSClient``), and collects the response through libcurl's callbacks.
final class Transfer: @unchecked Sendable {
    // @unchecked Sendable: `cancel()` may be called from any thread and only touches the atomic flag. Everything
    // else (`body`, `headers`, `received`, `exceededLimit`) is written and read only on the thread that runs
    // `run(on:)`: libcurl calls the callbacks on the thread inside curl_easy_perform.
    let request: PreparedRequest
    let credentials: TLSClientCredentials
    let configuration: HTTPSClientConfiguration

    private let cancelled = Atomic<Bool>(false)
    private var body: [UInt8] = []
    private var headers: [String: String] = [:]
    private var lastHeaderName: String?
    private var received = 0
    private var exceededLimit = false

    init(request: PreparedRequest, credentials: TLSClientCredentials, configuration: HTTPSClientConfiguration) {
        self.request = request
        self.credentials = credentials
        self.configuration = configuration
    }

    /// Asks the transfer to stop; libcurl notices at its next progress callback (at least once a second).
    func cancel() { cancelled.store(true, ordering: .relaxed) }

    var isCancelled: Bool { cancelled.load(ordering: .relaxed) }

    // MARK: Running

    /// Performs the request on `handle`, blocking the calling thread until it completes, fails or is cancelled.
    func run(on handle: EasyHandle) -> Result<HTTPSResponse, HTTPSClientError> {
        guard !isCancelled else {
            return .failure(HTTPSClientError(.cancelled, "the request was cancelled before it was sent",
                                             url: request.url))
        }
        let curl = handle.pointer
        // Every option is set again for every request; the reset keeps live connections and the TLS session cache.
        curl_easy_reset(curl)
        // Leave no pointer into this transfer (callback data, header list, body) in the idle handle.
        defer { curl_easy_reset(curl) }
        handle.errorBuffer[0] = 0

        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }
        // "Expect:" turns off `Expect: 100-continue`, which would cost a round trip (or a 1 s wait) per upload.
        for line in request.headers.map({ $0.1.isEmpty ? "\($0.0);" : "\($0.0): \($0.1)" }) + ["Expect:"] {
            guard let appended = curl_slist_append(headerList, line) else {
                return .failure(HTTPSClientError(.other, "out of memory building the request headers",
                                                 url: request.url))
            }
            headerList = appended
        }

        var options = OptionWriter(curl: curl)
        setOptions(&options, handle: handle, headerList: headerList)
        let context = Unmanaged.passUnretained(self).toOpaque()
        options.set(CURLOPT_WRITEFUNCTION, callback: { data, size, count, context in
            Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
                .receiveBody(UnsafeRawBufferPointer(start: data, count: size * count))
        })
        options.set(CURLOPT_WRITEDATA, pointer: context)
        options.set(CURLOPT_HEADERFUNCTION, callback: { data, size, count, context in
            Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
                .receiveHeader(UnsafeRawBufferPointer(start: data, count: size * count))
        })
        options.set(CURLOPT_HEADERDATA, pointer: context)
        // Progress callback: the only way into a running curl_easy_perform, used for cancellation.
        options.set(CURLOPT_NOPROGRESS, 0)
        options.setProgress { context, _, _, _, _ in
            Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue().isCancelled ? 1 : 0
        }
        options.set(CURLOPT_XFERINFODATA, pointer: context)

        let result: CURLcode
        switch request.body {
        case .some(let body) where !body.isEmpty:
            // libcurl reads the body in place (no copy); the pointer is valid until perform returns.
            result = body.withUnsafeBytes { bytes in
                options.set(CURLOPT_POSTFIELDSIZE_LARGE, offset: Int64(bytes.count))
                options.set(CURLOPT_POSTFIELDS, pointer: UnsafeMutableRawPointer(mutating: bytes.baseAddress!))
                return perform(curl, options)
            }
        case .some:
            // POSTFIELDS must not stay NULL (libcurl would read a body from stdin); COPYPOSTFIELDS copies "".
            options.set(CURLOPT_POSTFIELDSIZE_LARGE, offset: 0)
            options.set(CURLOPT_COPYPOSTFIELDS, "")
            result = perform(curl, options)
        case .none:
            result = perform(curl, options)
        }
        if let failure = options.failure {
            return .failure(HTTPSClientError(
                .other, "libcurl refused option \(failure.option.rawValue): "
                    + String(cString: curl_easy_strerror(failure.code)), url: request.url,
                curlCode: Int(failure.code.rawValue)))
        }
        var connections = 0
        _ = CCurl_getLong(curl, CURLINFO_NUM_CONNECTS, &connections)
        guard result == CURLE_OK else {
            return .failure(HTTPSClientError.fromCurl(
                result, detail: handle.errorText, url: request.url, exceededLimit: exceededLimit,
                cancelled: isCancelled, brokeAfterHandshake: connections > 0 && received == 0,
                credentials: credentials, configuration: configuration))
        }
        var status = 0
        _ = CCurl_getLong(curl, CURLINFO_RESPONSE_CODE, &status)
        var response = HTTPSResponse(status: status)
        response.headers = headers
        response.body = body
        response.connectionsOpened = connections
        return .success(response)
    }

    /// Every option of a request except the callbacks and the body.
    private func setOptions(_ options: inout OptionWriter, handle: EasyHandle,
                            headerList: UnsafeMutablePointer<curl_slist>?) {
        options.set(CURLOPT_ERRORBUFFER, pointer: handle.errorBuffer)
        options.set(CURLOPT_NOSIGNAL, 1)
        options.set(CURLOPT_URL, request.url)
        // HTTPS only, for the request and for any redirect; redirects are not followed at all.
        options.set(CURLOPT_PROTOCOLS_STR, "https")
        options.set(CURLOPT_REDIR_PROTOCOLS_STR, "https")
        options.set(CURLOPT_FOLLOWLOCATION, 0)

        // Trust: the partner CA file and nothing else. Debian's libcurl also trusts /etc/ssl/certs (CApath) unless
        // it is set to NULL.
        options.set(CURLOPT_CAINFO, credentials.caFile)
        options.set(CURLOPT_CAPATH, nil as String?)
        options.set(CURLOPT_SSL_VERIFYPEER, 1)
        options.set(CURLOPT_SSL_VERIFYHOST, 2)
        options.set(CURLOPT_SSLVERSION, Int(CURL_SSLVERSION_TLSv1_2) | Int(CURL_SSLVERSION_MAX_DEFAULT))
        if let pin = credentials.pinnedPublicKey { options.set(CURLOPT_PINNEDPUBLICKEY, pin) }
        // Our identity.
        options.set(CURLOPT_SSLCERT, credentials.certificateFile)
        options.set(CURLOPT_SSLCERTTYPE, "PEM")
        options.set(CURLOPT_SSLKEY, credentials.keyFile)
        options.set(CURLOPT_SSLKEYTYPE, "PEM")

        // A proxy only when configured: "" disables the proxy environment variables, "*" bypasses any proxy; with
        // a proxy, "" also makes curl ignore `no_proxy`.
        options.set(CURLOPT_PROXY, configuration.proxy ?? "")
        options.set(CURLOPT_NOPROXY, configuration.proxy == nil ? "*" : "")

        options.set(CURLOPT_CONNECTTIMEOUT_MS, configuration.connectTimeout.curlMilliseconds)
        options.set(CURLOPT_TIMEOUT_MS, configuration.requestTimeout.curlMilliseconds)
        // Refuses a response whose Content-Length is over the limit before its body is read; the write callback
        // catches the rest (chunked responses, servers that lie).
        options.set(CURLOPT_MAXFILESIZE_LARGE, offset: Int64(configuration.maxResponseBytes))
        options.set(CURLOPT_TCP_KEEPALIVE, 1)
        options.set(CURLOPT_USERAGENT, configuration.userAgent)
        options.set(CURLOPT_HTTPHEADER, list: headerList)

        switch (request.method, request.body) {
        case ("GET", nil): options.set(CURLOPT_HTTPGET, 1)
        case ("HEAD", nil): options.set(CURLOPT_NOBODY, 1)
        case (_, nil): options.set(CURLOPT_CUSTOMREQUEST, request.method)
        case (_, .some):
            options.set(CURLOPT_POST, 1)
            if request.method != "POST" { options.set(CURLOPT_CUSTOMREQUEST, request.method) }
        }
    }

    /// curl_easy_perform, unless an option was refused (then nothing is sent; the caller reports the option).
    private func perform(_ curl: UnsafeMutableRawPointer, _ options: OptionWriter) -> CURLcode {
        options.failure == nil ? curl_easy_perform(curl) : CURLE_FAILED_INIT
    }

    // MARK: Callbacks (on the transfer's thread)

    /// CURLOPT_WRITEFUNCTION: returning anything but the byte count makes libcurl stop with CURLE_WRITE_ERROR.
    private func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard take(bytes.count) else { return 0 }
        body.append(contentsOf: bytes)
        return bytes.count
    }

    /// CURLOPT_HEADERFUNCTION: called once per header line, status lines of interim responses (100 Continue, a
    /// proxy's CONNECT answer) included.
    private func receiveHeader(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard take(bytes.count) else { return 0 }
        var line = String(decoding: bytes, as: UTF8.self)
        while line.last?.isNewline == true { line.removeLast() }
        if line.hasPrefix("HTTP/") {
            // A new response begins; the headers of an interim one are not this response's.
            headers = [:]
            lastHeaderName = nil
        } else if line.first == " " || line.first == "\t" {
            // Obsolete line folding: continues the previous header's value.
            if let name = lastHeaderName {
                headers[name, default: ""] += " " + line.trimmingWhitespace()
            }
        } else if let colon = line.firstIndex(of: ":") {
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingWhitespace()
            if let existing = headers[name] { headers[name] = existing + ", " + value } else { headers[name] = value }
            lastHeaderName = name
            if name == "content-length", let length = Int(value), length > 0,
               length <= configuration.maxResponseBytes - received
            {
                body.reserveCapacity(length)
            }
        }
        return bytes.count
    }

    /// Counts received bytes against the limit; false (and the flag set) when the limit is exceeded.
    private func take(_ count: Int) -> Bool {
        received += count
        if received > configuration.maxResponseBytes {
            exceededLimit = true
            return false
        }
        return true
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = lastIndex(where: { !isSpace($0) })!
        return String(self[first...last])
    }
}

/// Typed calls of `curl_easy_setopt` through the shim that remember the first option libcurl refused: a refused
/// security option must fail the request, not be ignored.
struct OptionWriter {
    let curl: UnsafeMutableRawPointer
    private(set) var failure: (option: CURLoption, code: CURLcode)?

    init(curl: UnsafeMutableRawPointer) { self.curl = curl }

    private mutating func check(_ option: CURLoption, _ code: CURLcode) {
        if code != CURLE_OK, failure == nil { failure = (option, code) }
    }

    mutating func set(_ option: CURLoption, _ value: Int) { check(option, CCurl_setLong(curl, option, value)) }

    /// A string option (libcurl copies it); nil sets NULL.
    mutating func set(_ option: CURLoption, _ value: String?) {
        if let value {
            check(option, value.withCString { CCurl_setString(curl, option, $0) })
        } else {
            check(option, CCurl_setString(curl, option, nil))
        }
    }

    mutating func set(_ option: CURLoption, offset value: Int64) {
        check(option, CCurl_setOffset(curl, option, curl_off_t(value)))
    }

    mutating func set(_ option: CURLoption, pointer value: UnsafeMutableRawPointer?) {
        check(option, CCurl_setPointer(curl, option, value))
    }

    mutating func set(_ option: CURLoption, pointer value: UnsafeMutablePointer<CChar>) {
        check(option, CCurl_setPointer(curl, option, UnsafeMutableRawPointer(value)))
    }

    mutating func set(_ option: CURLoption, list value: UnsafeMutablePointer<curl_slist>?) {
        check(option, CCurl_setList(curl, option, value))
    }

    /// CURLOPT_WRITEFUNCTION or CURLOPT_HEADERFUNCTION.
    mutating func set(_ option: CURLoption, callback: curl_write_callback) {
        check(option, CCurl_setDataCallback(curl, option, callback))
    }

    mutating func setProgress(_ callback: curl_xferinfo_callback) {
        check(CURLOPT_XFERINFOFUNCTION, CCurl_setProgressCallback(curl, callback))
    }
}
