// A mutual-TLS HTTPS server for the HTTPS client tests: Python's http.server behind an ssl context that requires a
// client certificate from one CA, started as a child process on a free port of 127.0.0.1. Plus the test PKI
// (scripts/test-pki, countries NL and DE) it and the client use, made once per test run.
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Scratch folder of this test process for the TLS tests; removed when the process exits.
private let tlsScratchRoot: String = {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("fwx-tls-tests-\(getpid())-\(UUID().uuidString)", isDirectory: true).path
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    atexit { tlsRemoveScratchRoot() }
    return path
}()

private func tlsRemoveScratchRoot() {
    try? FileManager.default.removeItem(atPath: tlsScratchRoot)
}

/// The test PKI of docs/test-pki.md for countries NL and DE (EC keys), made once per test run.
struct TLSTestPKI: Sendable {
    let root: String

    static func shared() async throws -> TLSTestPKI { try await generation.value }

    // A `static let` is initialised once, thread-safely: parallel tests await the one generation, which runs off
    // the cooperative pool.
    private static let generation = Task {
        try await offPool {
            let root = tlsScratchRoot + "/pki"
            let result = try runProcess(Paths.repo("scripts/test-pki"), [root, "--countries", "NL,DE"],
                                        timeout: 180)
            guard result.status == 0, !result.timedOut else {
                throw TestSupportError("scripts/test-pki \(root) failed: \(result)")
            }
            return TLSTestPKI(root: root)
        }
    }

    func cert(_ country: String, _ name: String = "node-tls") -> String { "\(root)/\(country)/\(name).pem" }
    func key(_ country: String, _ name: String = "node-tls") -> String { "\(root)/\(country)/\(name).key.pem" }
    func ca(_ country: String) -> String { "\(root)/\(country)/ca.pem" }
    var rogueCert: String { root + "/untrusted/node-signing.pem" }
    var rogueKey: String { root + "/untrusted/node-signing.key.pem" }

    /// `sha256//BASE64` of a certificate's public key, as curl's CURLOPT_PINNEDPUBLICKEY takes it.
    func pin(of certificate: String) async throws -> String {
        let script = """
            set -e -o pipefail 2>/dev/null || set -e
            openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary \
                | base64
            """
        let result = try await offPool { try runProcess("/bin/bash", ["-c", script, "bash", certificate], timeout: 30) }
        let hash = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard result.status == 0, hash.count == 44 else { throw TestSupportError("cannot compute the pin: \(result)") }
        return "sha256//" + hash
    }
}

/// A Python HTTPS server requiring a client certificate issued by `clientCA`.
///
/// Paths: `/echo` answers JSON with the method, path, body length and SHA-256, the client certificate's country,
/// the client's TCP port and some request headers; `/big?n=N[&chunked=1]` sends N bytes (with a Content-Length,
/// or chunked without one); `/slow?s=S` answers after S seconds; anything else is a 404.
final class TLSTestServer: @unchecked Sendable {
    // @unchecked Sendable: `port` is set once by `start` before the server is handed out; `process` is only
    // stopped through `stop()`, which Process allows from any thread.
    private(set) var port = 0
    private let process: Process
    private let portFile: String
    private let logPath: String

    /// Starts the server and waits (at most 20 s, without blocking a thread) until it listens.
    /// - Parameter maxTLS: "1.2" to cap the server at TLS 1.2, else TLS 1.3 is allowed.
    static func start(certificate: String, key: String, clientCA: String, maxTLS: String = "1.3") async throws
        -> TLSTestServer
    {
        let server = try TLSTestServer(certificate: certificate, key: key, clientCA: clientCA, maxTLS: maxTLS)
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline, server.process.isRunning {
            if let text = try? String(contentsOfFile: server.portFile, encoding: .utf8), let port = Int(text) {
                server.port = port
                return server
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        server.stop()
        throw TestSupportError("the test HTTPS server did not start within 20 s:\n\(server.log)")
    }

    private init(certificate: String, key: String, clientCA: String, maxTLS: String) throws {
        let folder = tlsScratchRoot + "/server-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let script = folder + "/server.py"
        try Self.script.write(toFile: script, atomically: true, encoding: .utf8)
        portFile = folder + "/port"
        logPath = folder + "/log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        defer { try? log.close() }

        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.python)
        process.arguments = [script, certificate, key, clientCA, portFile, maxTLS]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try process.run()

    }

    deinit { stop() }

    func url(_ path: String) -> String { "https://127.0.0.1:\(port)\(path)" }

    /// What the server wrote to stdout and stderr (for failure messages).
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Stops the server at once (SIGKILL: it keeps no state, and a child of the test runner may have SIGTERM
    /// blocked); safe to call twice. Blocks only for the moment the kernel needs to end the process.
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Debian's python3 (with the ssl module), else the first python3 on PATH.
    private static let python: String = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let candidates = ["/usr/bin"] + path.split(separator: ":").map(String.init)
        return candidates.map { $0 + "/python3" }.first { FileManager.default.isExecutableFile(atPath: $0) }
            ?? "/usr/bin/python3"
    }()

    private static let script = #"""
        import hashlib, http.server, json, os, ssl, sys, time, urllib.parse

        cert, key, ca, port_file, max_tls = sys.argv[1:6]

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive

            def log_message(self, *args):
                pass

            def country(self):
                peer = self.connection.getpeercert() or {}
                for rdn in peer.get("subject", ()):
                    for name, value in rdn:
                        if name == "countryName":
                            return value
                return None

            def reply(self, status, body, headers=()):
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def handle_any(self):
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else b""
                if url.path == "/echo":
                    body = json.dumps({
                        "method": self.command, "path": self.path, "length": len(data),
                        "sha256": hashlib.sha256(data).hexdigest(), "country": self.country(),
                        "clientPort": self.client_address[1], "userAgent": self.headers.get("User-Agent"),
                        "contentType": self.headers.get("Content-Type"), "expect": self.headers.get("Expect"),
                        "custom": self.headers.get("X-Custom"),
                    }).encode()
                    self.reply(200, body, [("Content-Type", "application/json"), ("X-Test", "a"), ("X-Test", "b")])
                elif url.path == "/big":
                    size = int(query["n"])
                    if query.get("chunked"):
                        self.send_response(200)
                        self.send_header("Transfer-Encoding", "chunked")
                        self.end_headers()
                        left = size
                        while left > 0:
                            part = b"x" * min(left, 65536)
                            self.wfile.write(b"%x\r\n" % len(part) + part + b"\r\n")
                            left -= len(part)
                        self.wfile.write(b"0\r\n\r\n")
                    else:
                        self.reply(200, b"x" * size)
                elif url.path == "/slow":
                    time.sleep(float(query.get("s", "30")))
                    self.reply(200, b"late")
                else:
                    self.reply(404, b"not found")

            do_GET = do_POST = do_PUT = do_DELETE = handle_any

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128

            def finish_request(self, request, client_address):
                request.do_handshake()  # in the connection's thread, not the accept loop
                super().finish_request(request, client_address)

            def handle_error(self, request, client_address):
                pass  # refused handshakes and aborted transfers are what the tests provoke

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(ca)
        if max_tls == "1.2":
            context.maximum_version = ssl.TLSVersion.TLSv1_2
        server = Server(("127.0.0.1", 0), Handler)
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        with open(port_file + ".tmp", "w") as f:
            f.write(str(server.server_address[1]))
        os.rename(port_file + ".tmp", port_file)
        server.serve_forever()
        """#
}

/// Runs blocking work (a child process, a wait) on a thread of its own, not on Swift's cooperative pool: the
/// timing tests need the pool free to resume promptly.
func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}

/// Ports handed out by ``unusedLocalPort()`` in this process: never handed out twice.
private let handedOutPorts = Mutex<Set<Int>>([])

/// A TCP port on 127.0.0.1 that nothing listens on, for a test server or node to listen on later (and again after a
/// restart). Taken at random from 20000-26999: below the kernel's ephemeral range (32768-60999 by default), which a
/// port from bind(0) would be in, so no outgoing connection of another test can take it as its local port in the
/// meantime; and apart from scripts/pg-cluster's ports (27000-32699). Never the same port twice in one run.
func unusedLocalPort() throws -> Int {
    for _ in 0..<500 {
        let port = Int.random(in: 20_000...26_999)
        guard handedOutPorts.withLock({ $0.insert(port).inserted }) else { continue }
        if try canListen(on: port) { return port }
    }
    throw TestSupportError("no free port on 127.0.0.1 in 20000-26999 after 500 tries")
}

/// Whether a listening socket could bind `port` on 127.0.0.1 now (with SO_REUSEADDR, as servers set it).
private func canListen(on port: Int) throws -> Bool {
    #if canImport(Glibc)
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #else
    let fd = socket(AF_INET, SOCK_STREAM, 0)
    #endif
    guard fd >= 0 else { throw TestSupportError("socket() failed") }
    defer { close(fd) }
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let length = socklen_t(MemoryLayout<sockaddr_in>.size)
    return withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 }
    }
}
