import ArgumentParser
import FWXModel
import FWXSigning
import FWXXML
import Foundation

/// `fwx sign`: validates a batch, then signs it with one enveloped XML signature.
struct SignCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign",
        abstract: "Validate a batch, then sign it (XMLDSig: exclusive C14N, SHA-256, RSA or ECDSA P-256).",
        discussion: """
            The key file must be readable by its owner only (chmod 600). The certificate file holds the signer's \
            certificate, optionally followed by intermediates; all go into KeyInfo. An invalid batch is refused \
            with its findings. A batch whose sender country (Header/Sender/Country) is not the certificate's \
            country (subject C) is refused before anything is signed. \
            Exit status: 0 signed, 1 the batch is invalid, 2 usage or I/O error, or a certificate of another \
            country than the batch's sender.
            """)

    @Option(help: "Private key, PEM (unencrypted, mode 600).")
    var key: String

    /// Content validation beside a signature operation: one thread, since the signature work has the other core.
    static var contentValidator: BatchValidator {
        var validator = BatchValidator()
        validator.usesSecondThread = false
        validator.acceptedKinds = SchemaRegistry.validatingKinds
        return validator
    }

    @Option(help: "Signer certificate, PEM, optionally followed by its chain.")
    var cert: String

    @Argument(help: "The unsigned batch.")
    var input: String

    @Option(name: .shortAndLong, help: "Where to write the signed batch (standard output when absent).")
    var output: String?

    func run() async throws {
        let identity = try SigningIdentity(keyFile: key, certificateFile: cert)
        let signer = DocumentSigner(identity: identity)
        // Validation streams the file on its own thread while a second streaming pass computes the signature; no
        // document tree, so memory stays flat however large the batch.
        let name = input
        async let validation = Task.detached { try Self.contentValidator.validate(ByteSource(path: name)) }.value
        let signature: StreamedSignature
        do {
            guard let streamed = try signer.streamedSignature(file: input) else {
                _ = try? await validation
                return try await signThroughTree(identity)
            }
            signature = streamed
        } catch let error as FWXError {
            // A document the signer cannot even parse is invalid content: report it as validation does (exit 1).
            guard let failed = try? await validation, !failed.isValid else { throw error }
            try Self.refuse(input, failed)
        }
        if let problem = identity.senderCountryProblem(sender: signature.senderCountry, name: input) {
            FileHandle.standardError.write(Data("fwx: error: \(problem); not signed\n".utf8))
            throw ExitCode(ExitStatus.usageOrIO)
        }
        let report = try await validation
        if !report.isValid { try Self.refuse(input, report) }
        // Only a valid batch is written (standard output cannot be taken back); a file output appears whole or not at all.
        let out = try AtomicOutput(path: output == "-" ? nil : output)
        do {
            try DocumentSigner.write(file: input, with: signature, to: try out.descriptorForDirectWrites())
            try out.commit()
        } catch {
            out.discard()
            throw error
        }
    }

    /// Prints an invalid batch's findings and exits 1: nothing was signed.
    private static func refuse(_ input: String, _ report: ValidationReport) throws -> Never {
        for finding in report.findings { print(finding.humanDescription) }
        FileHandle.standardError.write(Data("fwx: \(input) is invalid (\(report.errorCount) errors); not signed\n".utf8))
        throw ExitCode(ExitStatus.invalid)
    }

    /// Signing through a document tree, for what the streaming signer does not place a signature in (a root end
    /// tag followed by a comment, a document in UTF-16).
    private func signThroughTree(_ identity: SigningIdentity) async throws {
        let bytes = try readFileBytes(input)
        if let problem = try identity.senderCountryProblem(in: bytes, name: input) {
            FileHandle.standardError.write(Data("fwx: error: \(problem); not signed\n".utf8))
            throw ExitCode(ExitStatus.usageOrIO)
        }
        // Validation streams on its own threads while the signature is made; an invalid batch's signature is
        // thrown away unseen.
        let name = input
        async let validation = Task.detached { try Self.contentValidator.validate(ByteSource(bytes: bytes, name: name)) }.value
        // The signed document goes to a temporary file that is renamed into place only if the content is valid.
        let out = try AtomicOutput(path: output == "-" ? nil : output)
        let report: ValidationReport
        do {
            if out.path == nil {
                // Standard output cannot be taken back: wait for validation before writing anything.
                let signed = try DocumentSigner(identity: identity).sign(bytes, name: input)
                report = try await validation
                if report.isValid { try out.write(bytes: signed) }
            } else {
                try DocumentSigner(identity: identity).sign(bytes, name: input, writingTo: try out.descriptorForDirectWrites())
                report = try await validation
            }
        } catch let error as FWXError {
            out.discard()
            guard let failed = try? await validation, !failed.isValid else { throw error }
            try Self.refuse(input, failed)
        } catch {
            out.discard()
            throw error
        }
        if !report.isValid {
            out.discard()
            try Self.refuse(input, report)
        }
        try out.commit()
    }
}

/// `fwx verify`: checks the signature, the signer's certificate and the content of signed batches.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify signed batches: signature, signer certificate against a trust store, sender country, content.",
        discussion: """
            The trust store is a folder of PEM files: the partner CAs and their CRLs. Findings are printed like \
            `fwx validate` (signature rules are FWX-G…; see fwx rules). \
            Exit status: 0 valid, 1 invalid, 2 usage or I/O error.
            """)

    @Option(help: "Folder of trusted partner CA certificates and CRLs (PEM).")
    var trust: String

    @Option(help: "Output format: human or json.")
    var format: ValidateCommand.Format = .human

    @Argument(help: "Signed batches or receipts to verify.")
    var files: [String]

    @Option(help: "For receipts: the signed batch the receipt must acknowledge (batch id and digest).")
    var forBatch: String?

    @Option(name: .customLong("country"),
            help: "FINGERPRINT=CC: the country of a certificate by its SHA-256 fingerprint (hex), overriding its subject C.")
    var countries: [String] = []

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("name at least one signed batch") }
        _ = try countryMapping()
    }

    private func countryMapping() throws -> [String: String] {
        var mapping: [String: String] = [:]
        for entry in countries {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            let fingerprint = parts.first?.lowercased().replacingOccurrences(of: ":", with: "") ?? ""
            guard parts.count == 2, fingerprint.count == 64, fingerprint.allSatisfy(\.isHexDigit),
                  let country = CountryCode.normalize(parts[1]) else {
                throw ValidationError("--country takes FINGERPRINT=CC (SHA-256 hex, ISO country), not \(entry)")
            }
            mapping[fingerprint] = country
        }
        return mapping
    }

    func run() async throws {
        let verifier = SignatureVerifier(trustStore: try TrustStore(directory: trust),
                                         countryByFingerprint: try countryMapping())
        var status = ExitStatus.success
        var reports: [ValidationReport] = []
        for file in files {
            var (report, signer): (ValidationReport, Certificate?)
            do {
                (report, signer) = try await checkSignedFile(file, verifier: verifier)
            } catch let error as FWXError where error.code == .io {
                FileHandle.standardError.write(Data("fwx: error: \(error.message)\n".utf8))
                status = ExitStatus.usageOrIO
                continue
            }
            if let forBatch, report.isValid {
                let receipt = try ReceiptReader.read(try readFileBytes(file), name: file)
                if let problem = try ReceiptReader.mismatch(receipt, signedBatch: try readFileBytes(forBatch), name: forBatch) {
                    report.findings.append(Finding(severity: .error, rule: RuleID.receiptMismatch, message: problem,
                        location: SourceLocation(file: file, line: 1, column: 1), xpath: "/fwx:Receipt/fwx:BatchDigest"))
                    report.errorCount += 1
                }
            }
            if !report.isValid, status == ExitStatus.success { status = ExitStatus.invalid }
            if format == .human {
                for finding in report.findings { print(finding.humanDescription) }
                let who = signer.map { ", signed by \($0)" } ?? ""
                let verdict = report.isValid ? "valid signature and content" : "INVALID (\(report.errorCount) errors)"
                FileHandle.standardError.write(Data("\(file): \(verdict)\(who)\n".utf8))
            }
            reports.append(report)
        }
        if format == .json {
            let document = JSONReport(files: reports.map(JSONReport.File.init), errors: [])
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(document), as: UTF8.self))
        }
        if status != ExitStatus.success { throw ExitCode(status) }
    }
}

/// `fwx receipt`: the receiving side's signed receipt for a verified batch.
struct ReceiptCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receipt",
        abstract: "Verify a signed batch and issue the receiving node's signed receipt for it (all records accepted).",
        discussion: "Exit status: 0 receipt written, 1 the batch does not verify, 2 usage or I/O error.")

    @Option(help: "Receiving node's signing key, PEM (mode 600).")
    var key: String

    @Option(help: "Receiving node's signing certificate, PEM.")
    var cert: String

    @Option(help: "Trust store folder used to verify the batch first.")
    var trust: String

    @Option(help: "Receiving node's agency id.")
    var agency: String

    @Argument(help: "The signed batch received.")
    var batch: String

    @Option(name: .shortAndLong, help: "Where to write the signed receipt (standard output when absent).")
    var output: String?

    func run() async throws {
        let bytes = try readFileBytes(batch)
        let verifier = SignatureVerifier(trustStore: try TrustStore(directory: trust))
        let (report, _) = try await checkSignedDocument(bytes, name: batch, verifier: verifier)
        if !report.isValid {
            for finding in report.findings { print(finding.humanDescription) }
            throw ExitCode(ExitStatus.invalid)
        }
        let identity = try SigningIdentity(keyFile: key, certificateFile: cert)
        guard let country = identity.certificate.country else {
            throw ValidationError("the receiving node's certificate has no country (subject C)")
        }
        let issuer = ReceiptIssuer(signer: DocumentSigner(identity: identity),
                                   node: NodeIdentity(country: country, agencyId: agency))
        let receipt = try issuer.issue(forSignedBatch: bytes, name: batch)
        try AtomicOutput.write(receipt.xml, to: output)
    }
}

/// The whole content of a file, or an I/O error naming it.
func readFileBytes(_ path: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw FWXError(.io, "cannot read \(path)", location: path)
    }
    return [UInt8](data)
}

/// ``checkSignedDocument(_:name:verifier:)`` for a file, in bounded memory however large it is: the content is
/// validated and the signature verified by two streaming passes over the file, side by side, with no document
/// tree (``SignatureVerifier/verify(file:)``).
func checkSignedFile(_ path: String, verifier: SignatureVerifier) async throws
    -> (report: ValidationReport, signer: Certificate?)
{
    async let validation = Task.detached {
        try SignCommand.contentValidator.validate(ByteSource(path: path))
    }.value
    let signatureResult = Result { try verifier.verify(file: path) }
    return try merge(try await validation, signatureResult)
}

/// Checks a signed batch or receipt: its content (schema and rules) on another thread while its signature is
/// verified on the same bytes. Signature findings join the report unless the document does not even parse (the
/// parser's findings then say why).
func checkSignedDocument(_ bytes: [UInt8], name: String, verifier: SignatureVerifier) async throws
    -> (report: ValidationReport, signer: Certificate?)
{
    async let validation = Task.detached {
        try SignCommand.contentValidator.validate(ByteSource(bytes: bytes, name: name))
    }.value
    let signatureResult = Result { try verifier.verify(bytes, name: name) }
    return try merge(try await validation, signatureResult)
}

/// The content report with the signature's findings joined, in document order, unless the document does not parse.
private func merge(_ validation: ValidationReport, _ signatureResult: Result<SignatureReport, any Error>) throws
    -> (report: ValidationReport, signer: Certificate?)
{
    var report = validation
    guard !report.findings.contains(where: { $0.rule.hasPrefix("FWX-P") }) else { return (report, nil) }
    let signature = try signatureResult.get()
    report.findings = (signature.findings + report.findings)
        .sorted { ($0.location.line, $0.location.column) < ($1.location.line, $1.location.column) }
    report.errorCount += signature.findings.count
    return (report, signature.signer)
}
