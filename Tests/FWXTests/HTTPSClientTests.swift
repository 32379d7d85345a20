// The libcurl HTTPS client (FWXClient) against a real mutual-TLS server on 127.0.0.1 (TLSTestServer.swift) with
// certificates from scripts/test-pki: requests and bodies, connection reuse, concurrency, every way the TLS
// handshake can be refused (by us or by the server), size limit, timeouts and cancellation.
@testable import FWXClient
import Foundation
import Testing

@Suite("HTTPS client")
struct HTTPSClientTests {
    /// What the test server's /echo answers.
    struct Echo: Decodable {
        var method: String
        var path: String
        var length: Int
        var sha256: String
        var country: String?
        var clientPort: Int
        var userAgent: String?
        var contentType: String?
        var expect: String?
        var custom: String?
    }

    let pki: TLSTestPKI

    init() async throws {
        pki = try await TLSTestPKI.shared()
    }

    /// The Dutch node's server: NL certificate, accepts client certificates issued by `clientCA` (NL by default).
    func nlServer(clientCA: String? = nil, maxTLS: String = "1.3") async throws -> TLSTestServer {
        try await TLSTestServer.start(certificate: pki.cert("NL"), key: pki.key("NL"),
                                      clientCA: clientCA ?? pki.ca("NL"), maxTLS: maxTLS)
    }

    /// The Dutch node as a client trusting the NL CA; `country` picks whose certificate and key it presents.
    func client(country: String = "NL", keyCountry: String? = nil, pin: String? = nil,
                configuration: HTTPSClientConfiguration = .init()) -> HTTPSClient {
        HTTPSClient(credentials: TLSClientCredentials(certificateFile: pki.cert(country),
                                                      keyFile: pki.key(keyCountry ?? country),
                                                      caFile: pki.ca("NL"), pinnedPublicKey: pin),
                    configuration: configuration)
    }

    func echo(_ response: HTTPSResponse) throws -> Echo {
        try JSONDecoder().decode(Echo.self, from: Data(response.body))
    }

    /// The error `request` throws, failing the test when it throws something else or nothing.
    func failure(_ request: () async throws -> HTTPSResponse, sourceLocation: SourceLocation = #_sourceLocation)
        async -> HTTPSClientError?
    {
        do {
            let response = try await request()
            Issue.record("expected an error, got status \(response.status)", sourceLocation: sourceLocation)
            return nil
        } catch let error as HTTPSClientError {
            return error
        } catch {
            Issue.record("expected an HTTPSClientError, got \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    /// SHA-256 of bytes, hex, computed by openssl (independently of the server).
    func sha256(_ bytes: [UInt8]) async throws -> String {
        try await offPool { try withTemporaryDirectory { folder in
            let path = try writeFile(folder, "body", bytes)
            let result = try runProcess("/usr/bin/openssl", ["dgst", "-sha256", "-r", path], timeout: 30)
            return String(result.stdout.prefix { $0 != " " })
        } }
    }

    // MARK: Requests

    @Test("GET: status, lower-cased headers, our certificate's country reaches the server")
    func get() async throws {
        let server = try await nlServer()
        defer { server.stop() }
        let response = try await client().get(server.url("/echo?x=1"), headers: [("X-Custom", "hello")])
        #expect(response.status == 200)
        let echo = try echo(response)
        #expect(echo.method == "GET")
        #expect(echo.path == "/echo?x=1")
        #expect(echo.country == "NL")
        #expect(echo.userAgent == "fwx/1")
        #expect(echo.custom == "hello")
        #expect(response.headers["content-type"] == "application/json")
        #expect(response.header("Content-Type") == "application/json")
        #expect(response.header("X-TEST") == "a, b")
    }

    @Test("POST of 3 MB: the server receives exactly the bytes sent, without Expect: 100-continue")
    func post() async throws {
        let server = try await nlServer()
        defer { server.stop() }
        // Pseudo-random bytes (xorshift), every byte value, cheap to make in a debug build.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let body = (0..<3_000_000).map { _ -> UInt8 in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return UInt8(truncatingIfNeeded: state >> 24)
        }
        let response = try await client().post(server.url("/echo"), body: body, contentType: "application/xml")
        #expect(response.status == 200)
        let echo = try echo(response)
        #expect(echo.method == "POST")
        #expect(echo.length == body.count)
        let expectedHash = try await sha256(body)
        #expect(echo.sha256 == expectedHash)
        #expect(echo.contentType == "application/xml")
        #expect(echo.expect == nil)

        let put = try await client().send(method: "PUT", url: server.url("/echo"), body: [1, 2, 3])
        #expect(try self.echo(put).method == "PUT")
        #expect(try self.echo(put).length == 3)
        let emptyPost = try await client().send(method: "POST", url: server.url("/echo"), body: [])
        #expect(try self.echo(emptyPost).length == 0)
        let bodilessPost = try await client().send(method: "POST", url: server.url("/echo"))
        #expect(try self.echo(bodilessPost).method == "POST")
        let delete = try await client().send(method: "DELETE", url: server.url("/echo"))
        #expect(try self.echo(delete).method == "DELETE")
    }

    @Test("A 404 is a response, not an error")
    func notFound() async throws {
        let server = try await nlServer()
        defer { server.stop() }
        let response = try await client().get(server.url("/no-such-thing"))
        #expect(response.status == 404)
        #expect(response.body == Array("not found".utf8))
    }

    @Test("Sequential requests reuse one kept-alive TLS connection")
    func keepAlive() async throws {
        let server = try await nlServer()
        defer { server.stop() }
        let client = client()
        var ports: Set<Int> = []
        for index in 0..<50 {
            let response = try await client.post(server.url("/echo"), body: Array("request \(index)".utf8),
                                                 contentType: "text/plain")
            #expect(response.status == 200)
            #expect(response.connectionsOpened == (index == 0 ? 1 : 0), "request \(index)")
            ports.insert(try echo(response).clientPort)
        }
        #expect(ports.count == 1, "the server saw \(ports.count) client connections")
    }

    @Test("20 concurrent requests from 20 tasks")
    func concurrent() async throws {
        let server = try await nlServer()
        defer { server.stop() }
        let client = client()
        let lengths = try await withThrowingTaskGroup(of: (Int, Int, Int).self) { group in
            for index in 0..<20 {
                group.addTask {
                    let body = [UInt8](repeating: UInt8(index), count: 1000 * (index + 1))
                    let response = try await client.post(server.url("/echo"), body: body, contentType: "text/plain")
                    return (response.status, body.count, try self.echo(response).length)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(lengths.count == 20)
        for (status, sent, received) in lengths {
            #expect(status == 200)
            #expect(sent == received)
        }
        // The handles stay usable afterwards.
        #expect(try await client.get(server.url("/echo")).status == 200)
    }

    // MARK: Refusals

    @Test("A server certificate from an unknown CA is refused by us")
    func unknownServerCA() async throws {
        let server = try await TLSTestServer.start(certificate: pki.rogueCert, key: pki.rogueKey,
                                                   clientCA: pki.ca("NL"))
        defer { server.stop() }
        let error = await failure { try await client().get(server.url("/echo")) }
        #expect(error?.code == .serverCertificateRejected)
        #expect(error?.curlCode == 60)
        #expect(error?.message.contains("we refused the server's certificate") == true, "\(String(describing: error))")
        #expect(error?.message.contains("local issuer") == true, "\(String(describing: error))")
    }

    @Test("A partner's server certificate issued by another country's CA is refused by us")
    func otherCountryServer() async throws {
        let server = try await TLSTestServer.start(certificate: pki.cert("DE"), key: pki.key("DE"),
                                                   clientCA: pki.ca("NL"))
        defer { server.stop() }
        let error = await failure { try await client().get(server.url("/echo")) }
        #expect(error?.code == .serverCertificateRejected)
    }

    @Test("An expired server certificate is refused by us")
    func expiredServerCertificate() async throws {
        let server = try await TLSTestServer.start(certificate: pki.cert("NL", "expired"),
                                                   key: pki.key("NL", "expired"), clientCA: pki.ca("NL"))
        defer { server.stop() }
        let error = await failure { try await client().get(server.url("/echo")) }
        #expect(error?.code == .serverCertificateRejected)
        #expect(error?.message.contains("expired") == true, "\(String(describing: error))")
    }

    @Test("Pinned public key: the right pin connects, a wrong pin is refused")
    func pinnedKey() async throws {
        let server = try await nlServer()
        defer { server.stop() }
        let right = try await pki.pin(of: pki.cert("NL"))
        #expect(try await client(pin: right).get(server.url("/echo")).status == 200)

        let wrong = try await pki.pin(of: pki.cert("DE"))
        let error = await failure { try await client(pin: wrong).get(server.url("/echo")) }
        #expect(error?.code == .pinnedKeyMismatch)
        #expect(error?.curlCode == 90)
        #expect(error?.message.contains(wrong) == true)
    }

    @Test("A server that does not trust our CA refuses our certificate", arguments: ["1.3", "1.2"])
    func clientCertificateRefused(maxTLS: String) async throws {
        let server = try await nlServer(clientCA: pki.ca("DE"), maxTLS: maxTLS)
        defer { server.stop() }
        let error = await failure { try await client().get(server.url("/echo")) }
        #expect(error?.code == .clientCertificateRefused, "\(String(describing: error))")
        if maxTLS == "1.2" {
            // The server's alert ends the handshake.
            #expect(error?.curlCode == 35)
            #expect(error?.message.contains("alert") == true, "\(String(describing: error))")
        } else {
            // The handshake completes on our side; the refusal shows when sending or reading the request.
            #expect(error?.curlCode == 55 || error?.curlCode == 56, "\(String(describing: error))")
        }
        #expect(error?.message.contains("client certificate") == true, "\(String(describing: error))")
    }

    @Test("Our key not matching our certificate, or a missing file, is a local credentials error")
    func localCredentials() async throws {
        let server = try await nlServer()
        defer { server.stop() }
        let mismatch = await failure { try await client(country: "NL", keyCountry: "DE").get(server.url("/echo")) }
        #expect(mismatch?.code == .localCredentials)
        #expect(mismatch?.curlCode == 58)
        #expect(mismatch?.message.contains("our own TLS client credentials") == true)

        let missing = HTTPSClient(credentials: TLSClientCredentials(
            certificateFile: pki.root + "/nothing.pem", keyFile: pki.key("NL"), caFile: pki.ca("NL")))
        #expect(await failure { try await missing.get(server.url("/echo")) }?.code == .localCredentials)

        let missingCA = HTTPSClient(credentials: TLSClientCredentials(
            certificateFile: pki.cert("NL"), keyFile: pki.key("NL"), caFile: pki.root + "/nothing.pem"))
        let error = await failure { try await missingCA.get(server.url("/echo")) }
        #expect(error?.code == .localCredentials)
        #expect(error?.message.contains("CA file") == true)
    }

    @Test("Nothing listening is a connection failure")
    func nothingListening() async throws {
        let port = try unusedLocalPort()
        let error = await failure { try await client().get("https://127.0.0.1:\(port)/echo") }
        #expect(error?.code == .connectionFailed)
        #expect(error?.curlCode == 7)
        #expect(error?.url == "https://127.0.0.1:\(port)/echo")
    }

    @Test("Only https:// URLs, HTTP-token methods and header values without line breaks")
    func invalidRequests() async throws {
        let client = client()
        #expect(await failure { try await client.get("http://127.0.0.1:1/x") }?.code == .invalidRequest)
        #expect(await failure { try await client.get("file:///etc/passwd") }?.code == .invalidRequest)
        #expect(await failure {
            try await client.get("https://127.0.0.1:1/x", headers: [("X-A", "b\r\nX-Injected: 1")])
        }?.code == .invalidRequest)
        #expect(await failure { try await client.send(method: "GET /x", url: "https://127.0.0.1:1/") }?.code
            == .invalidRequest)
    }

    // MARK: Limits, timeouts, cancellation

    @Test("A response over maxResponseBytes is aborted, with and without Content-Length", arguments: [false, true])
    func responseTooLarge(chunked: Bool) async throws {
        let server = try await nlServer()
        defer { server.stop() }
        let client = client(configuration: HTTPSClientConfiguration(maxResponseBytes: 1_000_000))
        let suffix = chunked ? "&chunked=1" : ""
        let small = try await client.get(server.url("/big?n=900000" + suffix))
        #expect(small.body.count == 900_000)
        let error = await failure { try await client.get(server.url("/big?n=3000000" + suffix)) }
        #expect(error?.code == .responseTooLarge)
        #expect(error?.message.contains("1000000 bytes") == true)
        // The handle is still good for the next request.
        #expect(try await client.get(server.url("/echo")).status == 200)
    }

    @Test("A request that takes longer than requestTimeout times out")
    func timeout() async throws {
        let server = try await nlServer()
        defer { server.stop() }
        let client = client(configuration: HTTPSClientConfiguration(requestTimeout: .seconds(1)))
        let start = ContinuousClock.now
        let error = await failure { try await client.get(server.url("/slow?s=30")) }
        #expect(error?.code == .timeout)
        #expect(error?.curlCode == 28)
        #expect(ContinuousClock.now - start < .seconds(6))
    }

    @Test("Cancelling the task aborts a slow request promptly")
    func cancellation() async throws {
        let server = try await nlServer()
        defer { server.stop() }
        let client = client()
        let start = ContinuousClock.now
        let task = Task { try await client.get(server.url("/slow?s=30")) }
        try await Task.sleep(for: .milliseconds(500))
        task.cancel()
        let result = await task.result
        let elapsed = ContinuousClock.now - start
        // libcurl's progress callback, which sees the cancellation, runs about once a second on an idle transfer.
        #expect(elapsed < .seconds(5), "took \(elapsed)")
        #expect(errorCode(result) == .cancelled, "\(result)")

        // A task cancelled before it sends does not send.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await client.get(server.url("/echo"))
        }
        #expect(errorCode(await early.result) == .cancelled)
        // The client works on.
        #expect(try await client.get(server.url("/echo")).status == 200)
    }
}

/// The code of the HTTPSClientError a task failed with, or nil.
private func errorCode(_ result: Result<HTTPSResponse, any Error>) -> HTTPSClientError.Code? {
    if case .failure(let error) = result { return (error as? HTTPSClientError)?.code }
    return nil
}


