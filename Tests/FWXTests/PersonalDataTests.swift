// No personal data in logs, on the node's standard error or in stored error texts (issue 13, item 8): marker values
// (a person's pseudonym, a company name, a plate, container numbers) are planted in batches that fail in every way,
// submitted to the built `fwx serve` binary running as a child process (so its real standard error is read), and
// in a feed page that node pulls from a live partner node; none of the markers may appear in the node's output, in
// the store's error columns or in its audit trail. The submitter's own 422 answer may quote them (docs/node.md).
import FWXClient
import FWXConvert
import FWXModel
@testable import FWXNode
import FWXSigning
import FWXStore
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The planted values: each unique, so any trace of one in a log is a leak.
private enum Marker {
    static let company = "Zyxwvu Vuurwerkhandel B.V."
    static let plate = "QX 7319Z"
    static let tamperedPlate = "QX 7319Y"
    static let pseudonym = "p1:9e8d7c6b5a4f3e2d"
    static let container = CheckCharacters.completeContainerNumber("MRKU731904")!
    /// The same container number with a wrong check digit (FWX-R001 quotes it).
    static let wrongContainer: String = {
        let digit = Int(String(container.last!))!
        return String(container.dropLast()) + String((digit + 1) % 10)
    }()
    /// What must never be found: the values and distinctive parts of them.
    static let all = [company, "Zyxwvu", plate, tamperedPlate, "7319Z", "7319Y", pseudonym, "9e8d7c6b5a4f3e2d",
                      container, wrongContainer, "MRKU731904"]

    static func leaks(in text: String) -> [String] { all.filter { text.contains($0) } }
}

/// The NL sample with the markers in place of its company, plate, pseudonym and container (still valid).
private func markerBatch() -> String {
    Sample.text
        .replacingOccurrences(of: "Pyro-Trade Sp. z o.o.", with: Marker.company)
        .replacingOccurrences(of: "WX 4821K", with: Marker.plate)
        .replacingOccurrences(of: "p1:8d4c6e0f2a9b7c13", with: Marker.pseudonym)
        .replacingOccurrences(of: "CSQU3054383", with: Marker.container)
}

/// `text` with `old` (which must occur) replaced by `new`.
private func replacing(_ text: String, _ old: String, _ new: String) throws -> String {
    guard text.contains(old) else { throw TestSupportError("\(old.debugDescription) is not in the batch") }
    return text.replacingOccurrences(of: old, with: new)
}

/// `fwx serve` as a child process with its own environment; standard output and error go to one file.
private final class ServeProcess: @unchecked Sendable {
    // @unchecked Sendable: `process` is set once in init and only read afterwards.
    let logPath: String
    private let process = Process()
    private let exited = DispatchSemaphore(value: 0)

    init(executable: String, config: String, logPath: String, environment: [String: String]) throws {
        self.logPath = logPath
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        defer { try? log.close() }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["serve", "--config", config]
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        let exited = self.exited
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
    }

    var isRunning: Bool { process.isRunning }
    var log: String { String(decoding: FileManager.default.contents(atPath: logPath) ?? Data(), as: UTF8.self) }

    /// SIGTERM, then SIGKILL after `timeout` seconds; safe to call twice.
    func stop(timeout: Double = 15) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        if exited.wait(timeout: .now() + timeout) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            _ = exited.wait(timeout: .now() + 10)
        }
    }

    deinit { stop(timeout: 5) }
}

@Suite("No personal data in logs or stored errors", .serialized)
struct PersonalDataTests {
    @Test("markers in batches that fail every way reach neither the node's log nor its store's error texts")
    func noMarkersAnywhere() async throws {
        let executable = try #require(Paths.fwx, "run swift build --build-tests first")
        let valid = markerBatch()
        let plain = try Validation.validate(xml: valid, name: "markers")
        try #require(plain.isValid, "the marker batch must be valid: \(Validation.describe(plain))")

        try await withNodeTestNetwork(["NL", "DE"]) { network in
            let pki = network.pki
            // DE: a live in-process node holding a record that NL's checks refuse, with the markers in it.
            let de = try await network.start(network.configuration("DE", peers: [NodeTestPeer(country: "NL")]))
            try await Self.storeBadRecord(in: de.store)

            // NL: the built binary, logging at error level by configuration and at debug by FWX_LOG_LEVEL.
            let config = try Self.writeConfiguration(network)
            let node = try ServeProcess(executable: executable, config: config, logPath: network.folder + "/nl.log",
                                        environment: ["FWX_LOG_LEVEL": "debug"])
            defer { node.stop() }
            try await Self.waitUntilHealthy(network, node)

            // Batches that fail every way, submitted by NL's liaison.
            let signer = DocumentSigner(identity: try SigningIdentity(keyFile: pki.key("NL", "liaison"),
                                                                      certificateFile: pki.certificate("NL", "liaison")))
            func signed(_ text: String) throws -> [UInt8] { try signer.sign(Array(text.utf8), name: "markers") }
            let schemaError = try signed(try replacing(valid, "<Quantity unit=\"pieces\">480</Quantity>",
                                                       "<Quantity unit=\"pieces\">\(Marker.plate)</Quantity>"))
            let ruleError = try signed(try replacing(valid, Marker.container, Marker.wrongContainer))
            var invalidUTF8 = Array(try replacing(valid, "<Name>\(Marker.company)</Name>",
                                                  "<Name>\(Marker.company)@BAD@</Name>").utf8)
            if let at = invalidUTF8.firstRange(of: Array("@BAD@".utf8)) {
                invalidUTF8.replaceSubrange(at, with: [0xC3, 0x28, 0xFF])
            }
            let doctype = Array(try replacing(valid, "<Batch xmlns=",
                "<!DOCTYPE Batch [<!ENTITY c \"\(Marker.company)\">]>\n<Batch xmlns=").utf8)
            let mismatched = Array(try replacing(valid, "<Plate>\(Marker.plate)</Plate>",
                                                 "<Plate>\(Marker.plate)</Plat>").utf8)
            let goodSignature = try signed(valid)
            let tampered = Array(String(decoding: goodSignature, as: UTF8.self)
                .replacingOccurrences(of: Marker.plate, with: Marker.tamperedPlate).utf8)
            let cases: [(String, [UInt8], String)] = [
                ("schema error", schemaError, RuleID.schema),
                ("rule error", ruleError, RuleID.containerCheckDigit),
                ("invalid UTF-8", invalidUTF8, RuleID.notWellFormed),
                ("DOCTYPE", doctype, RuleID.doctypeRefused),
                ("mismatched tag", mismatched, RuleID.notWellFormed),
                ("bad signature", tampered, RuleID.signatureInvalid),
            ]
            for (name, body, rule) in cases {
                let response = try await network.post(body, as: pki.liaison("NL"), to: "NL")
                let answer = String(decoding: response.body, as: UTF8.self)
                #expect(response.status == 422, "\(name): \(response.status) \(answer.prefix(400))")
                #expect(answer.contains(rule), "\(name): \(answer.prefix(600))")
            }
            // The submitter's own answer keeps the findings' messages, values included (its own data).
            let ruleAnswer = try await network.post(ruleError, as: pki.liaison("NL"), to: "NL")
            #expect(String(decoding: ruleAnswer.body, as: UTF8.self).contains(Marker.wrongContainer))

            // The pull: NL takes DE's feed page, refuses it, logs and stores why.
            let refused = try await nodeTestEventually(seconds: 30) {
                let status = try runFWX(["status", "--config", config], timeout: 30)
                return status.stdout.contains("last error")
            }
            #expect(refused, "NL never recorded a failed pull; log:\n\(node.log.suffix(3000))")
            let status = try runFWX(["status", "--config", config], timeout: 30)
            #expect(Marker.leaks(in: status.stdout + status.stderr).isEmpty, "fwx status shows: \(status)")
            #expect(status.stdout.contains(RuleID.schema), "\(status)")
            node.stop()

            let log = node.log
            #expect(Marker.leaks(in: log).isEmpty, "markers in the node's output: \(Marker.leaks(in: log))\n\(log.suffix(4000))")
            // FWX_LOG_LEVEL=debug overrides the configured `error`: notices and infos are there.
            #expect(log.contains("node listening"), "\(log.prefix(2000))")
            #expect(log.contains("batch refused as invalid") && log.contains("pull failed"), "\(log.suffix(3000))")
            #expect(!log.contains("parser error") && !log.contains("XML_PARSE_HUGE"), "libxml2 wrote: \(log.suffix(3000))")

            let store = network.storePath("NL")
            for (table, columns) in [("pulls", "coalesce(last_error, '')"), ("outbox", "coalesce(last_error, '')"),
                                     ("audit", "caller_country || ' ' || action || ' ' || target || ' ' || result || ' ' || coalesce(detail, '')")] {
                let rows = try CrashSQLite.rows(store, "SELECT \(columns) FROM \(table)").map { $0.joined(separator: " ") }
                let text = rows.joined(separator: "\n")
                #expect(Marker.leaks(in: text).isEmpty, "markers in \(table): \(text.prefix(2000))")
                if table == "pulls" { #expect(text.contains(RuleID.schema), "pulls.last_error: \(text)") }
                if table == "audit" { #expect(rows.filter { $0.contains("422") }.count >= cases.count, "\(text.prefix(2000))") }
            }
        }
    }

    @Test("FeedPageError names rule ids and lines, keeps the findings, and quotes no value")
    func feedPageErrorText() async throws {
        let pki = try await NodeTestPKI.shared()
        let text = try replacing(markerBatch(), Marker.container, Marker.wrongContainer)
            .replacingOccurrences(of: "<Quantity unit=\"pieces\">480</Quantity>",
                                  with: "<Quantity unit=\"pieces\">\(Marker.plate)</Quantity>")
        let signer = DocumentSigner(identity: try SigningIdentity(keyFile: pki.key("NL", "node-signing"),
                                                                  certificateFile: pki.certificate("NL", "node-signing")))
        let page = try signer.sign(Array(text.utf8), name: "page")
        let check = FeedPageCheck(trust: try pki.trust("NL"), maxRecords: 100)
        do {
            _ = try await check.records(in: page, from: "NL", name: "feed of NL after 0")
            Issue.record("an invalid page was accepted")
        } catch let error as FeedPageError {
            #expect(Marker.leaks(in: error.description).isEmpty, "\(error.description)")
            #expect(error.description.contains("\(RuleID.schema) at line"), "\(error.description)")
            #expect(error.description.contains(RuleID.containerCheckDigit), "\(error.description)")
            // The findings themselves still say what is wrong, for whoever asks for them.
            #expect(error.findings.contains { $0.message.contains(Marker.wrongContainer) })
        }
    }

    // MARK: Helpers

    /// Stores in DE a record of DE (owner DE, for NL) whose Quantity is the plate marker: DE's feed page then holds
    /// it, and NL's schema check refuses the page with a message that quotes the value.
    static func storeBadRecord(in store: any NodeStore) async throws {
        let text = try replacing(try replacing(markerBatch(), "NL-SZ-2026-000001", "DE-SZ-2026-000077"),
                                 "<Quantity unit=\"pieces\">480</Quantity>",
                                 "<Quantity unit=\"pieces\">\(Marker.plate)</Quantity>")
        guard let start = text.range(of: "<Seizure>"), let end = text.range(of: "</Seizure>") else {
            throw TestSupportError("no Seizure in the sample")
        }
        let fragment = String(text[start.lowerBound..<end.upperBound])
        let record = IncomingRecord(recordId: "DE-SZ-2026-000077", revision: 1, kind: "seizure", status: .active,
                                    handlingCode: .h2, xml: fragment)
        let submission = BatchSubmission(
            batchId: "de-markers-1", sender: NodeIdentity(country: "DE", agencyId: "DE-BKA"), sequenceNumber: 1,
            recipients: .countries(["NL"]), digest: "test", signedBatch: Array("test".utf8), records: [record],
            caller: CallerIdentity(country: "DE", fingerprint: "00"), receivedAt: Date(), pushTo: [])
        let result = try await store.ingest(
            submission, audit: AuditEntry(callerCountry: "DE", callerFingerprint: "00", action: "batch-in",
                                          target: "de-markers-1", result: "ok"))
        guard case .accepted = result else { throw TestSupportError("DE did not store the record: \(result)") }
    }

    /// NL's configuration for `fwx serve`: the network's PKI, port and store; peer DE pulled every 0.5 s.
    static func writeConfiguration(_ network: NodeTestNetwork) throws -> String {
        let pki = network.pki
        let yaml = """
            node:
              country: NL
              agency: NL-FWX-NODE
              baseURL: \(network.url("NL"))
            listen:
              host: 127.0.0.1
              port: \(network.ports["NL"]!)
            tls:
              certificate: \(pki.certificate("NL", "node-tls"))
              key: \(pki.key("NL", "node-tls"))
            signing:
              certificate: \(pki.certificate("NL", "node-signing"))
              key: \(pki.key("NL", "node-signing"))
            trust:
              directory: \(pki.trustDirectory)
            store:
              sqlite: \(network.storePath("NL"))
            log:
              level: error
            peers:
              - country: DE
                baseURL: \(network.url("DE"))
                ca: \(pki.ca("DE"))
                push: false
                pullEverySeconds: 0.5
                handlingCodes: [H0, H1, H2, H3]

            """
        let path = network.folder + "/nl.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private static func waitUntilHealthy(_ network: NodeTestNetwork, _ node: ServeProcess) async throws {
        let healthy = try await nodeTestEventually(seconds: 60) {
            guard node.isRunning else { return true }
            return (try? await network.get("/healthz", as: network.pki.liaison("NL"), to: "NL").status) == 200
        }
        guard healthy, node.isRunning else {
            throw TestSupportError("fwx serve did not come up; its output:\n\(node.log.suffix(3000))")
        }
    }
}
