public import FWXModel
public import FWXXML
public import FWXSigning
public import FWXStore
import FWXConvert
import FWXTrace
import Foundation

/// What happened to a batch a caller submitted; the server turns it into an HTTP answer.
public enum IntakeOutcome: Sendable {
    /// Stored now; answer 200 with the signed receipt.
    case accepted(batchId: String, receipt: [UInt8], outcomes: [RecordOutcome])
    /// Stored before (same id, same content); answer 200 with the same receipt.
    case duplicate(batchId: String, receipt: [UInt8])
    /// The document or its signature is not acceptable; answer 422 with the findings.
    case invalid(ValidationReport)
    /// The batch says it comes from another country than the caller's; answer 403.
    case forbidden(rule: String, message: String)
    /// The batch id or sequence number is used by another batch; answer 409.
    case conflict(rule: String, message: String)
    /// More records than the node accepts in one batch; answer 413.
    case tooLarge(rule: String, message: String)

    /// The audit result word for this outcome.
    var auditResult: String {
        switch self {
        case .accepted: return "ok"
        case .duplicate: return "duplicate"
        case .invalid: return "422 invalid"
        case .forbidden(let rule, _): return "403 \(rule)"
        case .conflict(let rule, _): return "409 \(rule)"
        case .tooLarge(let rule, _): return "413 \(rule)"
        }
    }
}

/// The bytes of a submitted batch: in memory, or spooled to a file (large bodies; see `limits.spoolBodiesOverBytes`).
public enum BatchBody: Sendable {
    case memory([UInt8])
    case spooled(SpoolFile)

    /// Its size in bytes.
    public var count: Int {
        switch self {
        case .memory(let bytes): return bytes.count
        case .spooled(let spool): return spool.count
        }
    }

    /// A reader from the start, for one parse.
    func source(name: String) -> ByteSource {
        switch self {
        case .memory(let bytes): return ByteSource(bytes: bytes, name: name)
        case .spooled(let spool): return spool.source(name: name)
        }
    }

    /// All the bytes in one array: for storing an accepted batch, or for a check that needs the whole document.
    func bytes() throws -> [UInt8] {
        switch self {
        case .memory(let bytes): return bytes
        case .spooled(let spool): return try spool.readAll()
        }
    }
}

/// Takes in a signed batch the way a node must: the signature (with the signer's chain, revocation and country)
/// and the content (schema and business rules) are checked in parallel, each on its own thread; the sender must
/// be the caller; then the batch and its records are kept in one transaction together with the signed receipt.
public struct BatchIntake: Sendable {
    public let node: NodeIdentity
    public let store: any NodeStore
    public let receipts: ReceiptIssuer
    public internal(set) var checker: SignedBatchChecker

    public init(node: NodeIdentity, store: any NodeStore, trustStore: TrustStore, signer: DocumentSigner,
                maxRecordsPerBatch: Int) {
        self.node = node
        self.store = store
        checker = SignedBatchChecker(trustStore: trustStore, maxRecordsPerBatch: maxRecordsPerBatch)
        receipts = ReceiptIssuer(signer: signer, node: node)
    }

    /// Checks and keeps `bytes` from `caller`; `pushTo` lists the peers to forward an accepted batch to.
    public func submit(_ bytes: [UInt8], caller: CallerIdentity, pushTo: @Sendable (BatchHeader, [IncomingRecord]) -> [String],
                       name: String = "batch") async throws -> IntakeOutcome {
        try await submit(.memory(bytes), caller: caller, pushTo: pushTo, name: name)
    }

    /// Checks and keeps `body` from `caller`. A spooled body is read into memory only once it has passed every
    /// check, to be stored: a refused one never is.
    public func submit(_ body: BatchBody, caller: CallerIdentity, pushTo: @Sendable (BatchHeader, [IncomingRecord]) -> [String],
                       name: String = "batch") async throws -> IntakeOutcome {
        let receivedAt = Date()
        let checked = try await checker.check(body, name: name)
        switch checked {
        case .refused(let outcome, let header):
            if let header, header.sender.country != caller.country { return Self.forbidden(header, caller) }
            return outcome
        case .checked(let header, let records, let digest):
            if header.sender.country != caller.country { return Self.forbidden(header, caller) }
            let bytes = try body.bytes()
            let submission = BatchSubmission(
                batchId: header.batchId, sender: header.sender, sequenceNumber: header.sequenceNumber,
                recipients: header.recipients, digest: digest, signedBatch: bytes, records: records, caller: caller,
                receivedAt: receivedAt, pushTo: pushTo(header, records))
            let audit = AuditEntry(at: receivedAt, callerCountry: caller.country, callerFingerprint: caller.fingerprint,
                                   action: "batch-in", target: header.batchId, result: "ok",
                                   detail: "\(records.count) records")
            // The receipt is signed after the commit, outside any transaction (no writer waits for the signing),
            // and the first one kept is the one every request for this batch gets.
            func receipt(for outcomes: [RecordOutcome], receivedAt: Date) async throws -> [UInt8] {
                let receipts = self.receipts
                let signed = try await BlockingWork.run("fwx-receipt") {
                    try receipts.issue(batchId: header.batchId, sender: header.sender, digest: digest,
                                       outcomes: outcomes, receivedAt: receivedAt).xml
                }
                return try await store.keepReceipt(batchId: header.batchId, receipt: signed)
            }
            switch try await store.ingest(submission, audit: audit) {
            case .accepted(let outcomes):
                return .accepted(batchId: header.batchId, receipt: try await receipt(for: outcomes, receivedAt: receivedAt),
                                 outcomes: outcomes)
            case .duplicate(let kept?, _, _):
                return .duplicate(batchId: header.batchId, receipt: kept)
            case .duplicate(nil, let outcomes, let storedAt):
                // Stored by a request that has not kept its receipt (still signing, or its process stopped).
                return .duplicate(batchId: header.batchId, receipt: try await receipt(for: outcomes, receivedAt: storedAt))
            case .conflict(let conflict):
                return .conflict(rule: conflict.rule, message: conflict.message)
            }
        }
    }

    private static func forbidden(_ header: BatchHeader, _ caller: CallerIdentity) -> IntakeOutcome {
        .forbidden(rule: RuleID.senderNotCaller,
                   message: "the batch says it comes from \(header.sender.country), but the caller's certificate is "
                       + "for \(caller.country); a node accepts batches only from their sender")
    }

    /// Checks a signed batch without keeping it (see ``SignedBatchChecker``).
    public func check(_ bytes: [UInt8], name: String, ignoring: Set<String> = []) async throws
        -> SignedBatchChecker.CheckResult
    {
        try await checker.check(bytes, name: name, ignoring: ignoring)
    }
}

/// Checks a signed batch before anything is done with it: the signature (signer chain, validity, revocation,
/// country) and the content (schema and business rules) in one streaming pass (no document tree), which also
/// reads the header and the records (as ``IncomingRecord``s with their canonical XML).
public struct SignedBatchChecker: Sendable {
    public var verifier: SignatureVerifier
    public var maxRecordsPerBatch: Int
    /// "Now" for validation rules (seconds since 1970); the clock when nil.
    public var now: Double?

    /// - Parameter trustStore: the CAs the signer must chain to (with CRLs).
    public init(trustStore: TrustStore, maxRecordsPerBatch: Int) {
        var verifier = SignatureVerifier(trustStore: trustStore)
        verifier.computesDigest = true
        self.verifier = verifier
        self.maxRecordsPerBatch = maxRecordsPerBatch
    }

    /// The result of checking a signed document before anything is stored.
    public enum CheckResult: Sendable {
        case checked(header: BatchHeader, records: [IncomingRecord], digest: String)
        /// Refused, with the header when it could be read.
        case refused(IntakeOutcome, header: BatchHeader?)
    }

    /// Verifies the signature and validates and reads the content of a signed batch, in one parse.
    /// `ignoring` drops findings of those rules (a feed page is a cut of a record stream, so links to records
    /// outside the page are expected there).
    public func check(_ bytes: [UInt8], name: String, ignoring: Set<String> = []) async throws -> CheckResult {
        try await check(.memory(bytes), name: name, ignoring: ignoring)
    }

    /// Verifies the signature and validates and reads the content of a signed batch, in memory or spooled, in one
    /// parse.
    public func check(_ body: BatchBody, name: String, ignoring: Set<String> = []) async throws -> CheckResult {
        let verifier = self.verifier
        let maxRecords = maxRecordsPerBatch
        let now = self.now
        // One streaming pass: libxml2's parse validates against the schema, the records are decoded (on a second
        // thread for large batches) and the canonical form is hashed for the signature from the same events; only
        // the ds:Signature element is kept. No document tree, and the batch is parsed once.
        let reading = try await BlockingWork.run("fwx-intake") { () throws -> ReadResult in
            let collected = Collected()
            let reader = ValidatingBatchReader(now: now)
            let pass = verifier.signaturePass()
            let tap = pass.tap()
            let report: BatchReadReport
            do {
                report = try reader.read(body.source(name: name), canonicalTap: tap,
                                         header: { collected.header = $0 }, record: { record in
                    guard collected.records.count < maxRecords else { throw TooManyRecords() }
                    var record = record
                    let code = record.handlingCode ?? collected.header?.defaultHandlingCode ?? .h3
                    record.setHandlingCode(code)
                    let facts = RecordFacts.of(record)
                    collected.records.append(IncomingRecord(
                        recordId: record.recordId, revision: record.revision, kind: record.kind,
                        status: record.status, handlingCode: code, xml: BatchXMLWriter.fragment(for: record),
                        facts: facts.binary(), searchKeys: SearchKeys.of(facts)))
                })
            } catch is TooManyRecords {
                return ReadResult(report: nil, header: collected.header, records: [], signature: nil)
            }
            let signature = Result { try verifier.verify(tapped: tap, pass: pass, name: name) { try body.bytes() } }
            return ReadResult(report: report, header: collected.header, records: collected.records, signature: signature)
        }
        guard var report = reading.report else {
            return .refused(.tooLarge(rule: RuleID.requestTooLarge,
                                      message: "the batch has more than \(maxRecords) records, the most this node "
                                          + "accepts in one batch; split it into sequenced batches"),
                            header: reading.header)
        }
        if !ignoring.isEmpty {
            let dropped = report.findings.filter { ignoring.contains($0.rule) && $0.severity == .error }.count
            report.findings.removeAll { ignoring.contains($0.rule) }
            report.errorCount -= dropped
        }
        var validation = ValidationReport(file: report.file, findings: report.findings, errorCount: report.errorCount,
                                          warningCount: report.warningCount, findingsNotShown: report.findingsNotShown,
                                          records: report.records, bytes: report.bytes)
        // A document that is not well-formed XML has no signature worth reporting on.
        if !validation.findings.contains(where: { $0.rule.hasPrefix("FWX-P") }), let signature = reading.signature {
            let signatureReport = try signature.get()
            let errors = signatureReport.findings.filter { $0.severity == .error }.count
            validation.findings = (signatureReport.findings + validation.findings)
                .sorted { ($0.location.line, $0.location.column) < ($1.location.line, $1.location.column) }
            validation.errorCount += errors
            if validation.isValid, let header = reading.header, let digest = signatureReport.documentDigest {
                return .checked(header: header, records: reading.records, digest: digest)
            }
        }
        if validation.isValid {
            // Valid content and signature but no digest or header: cannot happen with a well-formed batch.
            validation.findings.append(Finding(severity: .error, rule: RuleID.schema, message: "the batch has no header",
                                               location: SourceLocation(file: name, line: 1, column: 1), xpath: ""))
            validation.errorCount += 1
        }
        return .refused(.invalid(validation), header: reading.header)
    }
}

private struct TooManyRecords: Error {}

private struct ReadResult: Sendable {
    var report: BatchReadReport?
    var header: BatchHeader?
    var records: [IncomingRecord]
    /// The signature's verification, from the same pass (nil when the batch had too many records).
    var signature: Result<SignatureReport, any Error>?
}

/// What the reader's callbacks collect; they run one at a time on the reading thread.
private final class Collected: @unchecked Sendable {
    var header: BatchHeader?
    var records: [IncomingRecord] = []
}

extension Record {
    /// `seizure` or `shipment`.
    var kind: String {
        switch self {
        case .seizure: return "seizure"
        case .shipment: return "shipment"
        }
    }

    mutating func setHandlingCode(_ code: HandlingCode) {
        switch self {
        case .seizure(var record):
            record.handlingCode = code
            self = .seizure(record)
        case .shipment(var record):
            record.handlingCode = code
            self = .shipment(record)
        }
    }
}
