// Receipts: the receiving node's signed statement that it accepted a batch (ReceiptIssuer, ReceiptReader, `fwx receipt`,
// `fwx verify --for-batch`). The test PKI is the shared one of SigningTests.swift (`SigningPKI`).
import FWXModel
import FWXSigning
import FWXXML
import Foundation
import Testing

@Suite("Receipts")
struct ReceiptTests {
    static let receiptId = "0b7e2f7c-1d2a-4c3b-8e9f-0123456789ab"
    static let receivedAt = Date(timeIntervalSince1970: 1_795_900_000)  // 2026-11-28T21:06:40Z

    /// A batch signed by NL, verified, and a receipt for it issued and signed by DE.
    private func issued(batch: String, outcomes: [RecordOutcome]? = nil, issuer country: String = "DE",
                        node: NodeIdentity = NodeIdentity(country: "DE", agencyId: "DE-BKA")) throws
        -> (pki: SigningPKI, signedBatch: String, receipt: Receipt, xml: String)
    {
        let pki = try SigningPKI.ec()
        let signedBatch = try pki.sign(batch)
        let batchReport = try signingVerify(signedBatch, with: try pki.verifier())
        try #require(batchReport.findings.isEmpty, "the batch must verify first: \(signingDescribe(batchReport))")
        let issuer = ReceiptIssuer(signer: DocumentSigner(identity: try pki.identity(country)), node: node)
        let (receipt, xml) = try issuer.issue(forSignedBatch: Array(signedBatch.utf8), name: "signed.xml",
                                              outcomes: outcomes, receivedAt: Self.receivedAt, receiptId: Self.receiptId)
        return (pki, signedBatch, receipt, String(decoding: xml, as: UTF8.self))
    }

    @Test("a receipt for a verified batch: its fields, valid against receipt.xsd (FWX and xmllint), signed by the receiving node")
    func issueForVerifiedBatch() throws {
        let batch = try Generated.batch(records: 30, seed: 51).xml
        let (pki, _, receipt, xml) = try issued(batch: batch)

        let batchId = try #require(batch.firstMatch(of: try Regex(#"<BatchId>([^<]+)</BatchId>"#))?.output[1].substring)
        #expect(receipt.receiptId == Self.receiptId)
        #expect(receipt.batchId == String(batchId))
        #expect(receipt.batchSender.country == "NL")
        #expect(batch.contains("<AgencyId>\(receipt.batchSender.agencyId)</AgencyId>"))
        #expect(receipt.receivingNode == NodeIdentity(country: "DE", agencyId: "DE-BKA"))
        #expect(receipt.receivedAt == "2026-11-28T21:06:40Z")
        #expect(receipt.schemaVersion == "1.0")
        #expect(receipt.batchDigest.wholeMatch(of: try Regex("[0-9a-f]{64}")) != nil)

        // Every record, in batch order, accepted.
        let records = try signingRecordIds(batch)
        #expect(records.count == 30)
        #expect(receipt.outcomes.map(\.recordId) == records.map(\.id))
        #expect(receipt.outcomes.map(\.revision) == records.map(\.revision))
        #expect(receipt.outcomes.allSatisfy { $0.result == .accepted && $0.rule == nil })

        // The XML is the receipt, valid against schemas/v1/receipt.xsd, in FWX's validator and in xmllint.
        let content = try Validation.validate(xml: xml, name: "receipt.xml")
        #expect(content.isValid, "\(Validation.describe(content))")
        #expect(content.findings.isEmpty, "\(Validation.describe(content))")
        try withTemporaryDirectory { folder in
            let file = try writeFile(folder, "receipt.xml", xml)
            let xmllint = try runProcess("/usr/bin/xmllint", ["--noout", "--nonet", "--schema", Paths.repo("schemas/v1/receipt.xsd"), file])
            #expect(xmllint.status == 0, "\(xmllint)")
        }

        // Signed by the receiving node: its certificate's country is ReceivingNode/Country.
        let report = try signingVerify(xml, with: try pki.verifier(), name: "receipt.xml")
        #expect(report.findings.isEmpty, "\(signingDescribe(report))")
        #expect(report.signer?.country == receipt.receivingNode.country)
        #expect(report.signer == (try pki.identity("DE").certificate))
    }

    @Test("BatchDigest is the SHA-256 of the exclusive canonical form of the whole signed batch (checked with xmllint and openssl)")
    func batchDigestIndependently() throws {
        let (_, signedBatch, receipt, _) = try issued(batch: try Generated.batch(records: 10, seed: 52).xml)
        #expect(!signedBatch.contains("<!--"), "xmllint --exc-c14n keeps comments; this check needs a batch without")
        try withTemporaryDirectory { folder in
            let file = try writeFile(folder, "signed.xml", signedBatch)
            let c14n = try runProcess("/usr/bin/xmllint", ["--exc-c14n", file])
            try #require(c14n.status == 0, "\(c14n)")
            let canonical = try writeFile(folder, "signed.c14n", [UInt8](c14n.stdoutData))
            let digest = try runProcess("/usr/bin/openssl", ["dgst", "-sha256", "-r", canonical])
            try #require(digest.status == 0, "\(digest)")
            #expect(digest.stdout.split(separator: " ").first.map(String.init) == receipt.batchDigest, "\(digest)")
        }
    }

    @Test("the outcomes of the sample list every record id and revision in batch order")
    func sampleOutcomes() throws {
        let (_, _, receipt, xml) = try issued(batch: Sample.text)
        let expected = [("NL-SZ-2026-000001", 1), ("NL-SH-2026-000001", 2), ("NL-SZ-2026-000000", 3)]
        #expect(receipt.outcomes.map(\.recordId) == expected.map(\.0))
        #expect(receipt.outcomes.map(\.revision) == expected.map(\.1))
        #expect(receipt.batchId == "6f1c2b9e-4a7d-4c1e-9b7a-2d5e8f0a1c3b")
        #expect(receipt.batchSender == NodeIdentity(country: "NL", agencyId: "NL-POLITIE-LE"))
        // The receipt XML carries them in the same order.
        let regex = try Regex(#"<Outcome>\s*<RecordId>([^<]+)</RecordId>\s*<Revision>(\d+)</Revision>\s*<Result>accepted</Result>"#)
        #expect(xml.matches(of: regex).map { String($0.output[1].substring ?? "") } == expected.map(\.0))
    }

    @Test("ReceiptReader.read round-trips every field, including given outcomes with a rule id")
    func readRoundTrip() throws {
        let outcomes = [
            RecordOutcome(recordId: "NL-SZ-2026-000001", revision: 1, result: .accepted),
            RecordOutcome(recordId: "NL-SH-2026-000001", revision: 2, result: .superseded),
            RecordOutcome(recordId: "NL-SZ-2026-000000", revision: 3, result: .rejected, rule: "FWX-R002"),
        ]
        let (pki, _, receipt, xml) = try issued(batch: Sample.text, outcomes: outcomes)
        #expect(receipt.outcomes == outcomes)
        let read = try ReceiptReader.read(Array(xml.utf8), name: "receipt.xml")
        #expect(read == receipt)
        #expect(read.outcomes[2].rule == "FWX-R002")
        let content = try Validation.validate(xml: xml, name: "receipt.xml")
        #expect(content.isValid, "\(Validation.describe(content))")
        #expect(try signingVerify(xml, with: try pki.verifier()).findings.isEmpty)
        // A batch is not a receipt.
        #expect(throws: FWXError.self) { try ReceiptReader.read(Array(Sample.text.utf8), name: "batch.xml") }
    }

    @Test("ReceiptReader.mismatch: nil for the acknowledged batch; a reason for another batch or other bytes of the same batch")
    func mismatch() throws {
        let (pki, signedBatch, receipt, _) = try issued(batch: Sample.text)
        #expect(try ReceiptReader.mismatch(receipt, signedBatch: Array(signedBatch.utf8), name: "signed.xml") == nil)

        let other = try pki.sign(try Generated.batch(records: 5, seed: 53).xml)
        let otherReason = try ReceiptReader.mismatch(receipt, signedBatch: Array(other.utf8), name: "other.xml")
        #expect(otherReason != nil)
        #expect(otherReason?.contains(receipt.batchId) == true, "\(otherReason ?? "nil")")

        // The same batch signed again (ECDSA signatures differ each time): same BatchId, different bytes.
        let resigned = try pki.sign(Sample.text)
        #expect(resigned != signedBatch)
        let digestReason = try ReceiptReader.mismatch(receipt, signedBatch: Array(resigned.utf8), name: "resigned.xml")
        #expect(digestReason?.contains("BatchDigest") == true, "\(digestReason ?? "nil")")

        // A changed record of the acknowledged batch is other bytes too.
        let changed = try signingReplacingOnce(signedBatch, #"<Quantity unit="boxes">12</Quantity>"#, #"<Quantity unit="boxes">13</Quantity>"#)
        #expect(try ReceiptReader.mismatch(receipt, signedBatch: Array(changed.utf8), name: "changed.xml") != nil)
    }

    @Test("a tampered receipt fails its signature (FWX-G001)", arguments: ["result", "digest", "receivedAt"])
    func tamperedReceipt(field: String) throws {
        let (pki, _, receipt, xml) = try issued(batch: Sample.text)
        let tampered: String
        switch field {
        case "result":
            tampered = xml.replacingOccurrences(of: "<Result>accepted</Result>", with: "<Result>rejected</Result>")
        case "digest":
            tampered = try signingReplacingOnce(xml, "<BatchDigest>\(receipt.batchDigest)</BatchDigest>",
                                                "<BatchDigest>\(String(repeating: "0", count: 64))</BatchDigest>")
        default:
            tampered = try signingReplacingOnce(xml, "<ReceivedAt>2026-11-28T21:06:40Z</ReceivedAt>",
                                                "<ReceivedAt>2026-11-20T21:06:40Z</ReceivedAt>")
        }
        #expect(tampered != xml)
        let report = try signingVerify(tampered, with: try pki.verifier(), name: "receipt.xml")
        #expect(signingRules(report) == [RuleID.signatureInvalid], "\(signingDescribe(report))")
    }

    @Test("a receipt signed by a node whose certificate is not of ReceivingNode/Country → FWX-G007")
    func receiptSignerCountry() throws {
        let (pki, _, _, xml) = try issued(batch: Sample.text, issuer: "BE", node: NodeIdentity(country: "DE", agencyId: "DE-BKA"))
        let report = try signingVerify(xml, with: try pki.verifier(), name: "receipt.xml")
        #expect(signingRules(report) == [RuleID.signerCountry], "\(signingDescribe(report))")
    }

    @Test("xmlsec1 --verify accepts a receipt signed by FWX")
    func xmlsec1VerifiesReceipt() throws {
        let (pki, _, _, xml) = try issued(batch: try Generated.batch(records: 30, seed: 54).xml)
        let result = try signingXmlsec1Verify(xml, trustedCA: pki.ca("DE"))
        #expect(result.status == 0, "xmlsec1 rejects FWX's receipt signature: \(result)")
        // and rejects it with another country's CA.
        #expect(try signingXmlsec1Verify(xml, trustedCA: pki.ca("NL")).status != 0)
    }

    @Test("fwx receipt, then fwx verify --for-batch: exit 0 for the batch, exit 1 with FWX-G009 for another batch")
    func receiptCLI() throws {
        let pki = try SigningPKI.ec()
        let regex = try Regex(signingFindingLine)
        try withTemporaryDirectory { folder in
            let signed = try writeFile(folder, "signed.xml", try pki.sign(try Generated.batch(records: 30, seed: 55).xml))
            let other = try writeFile(folder, "other.xml", try pki.sign(try Generated.batch(records: 30, seed: 56).xml))
            let receiptPath = folder.appendingPathComponent("receipt.xml").path
            let issue = try runFWX(["receipt", "--key", pki.key("DE", "node-signing"), "--cert", pki.cert("DE", "node-signing"),
                                    "--trust", pki.trust, "--agency", "DE-BKA", signed, "-o", receiptPath])
            #expect(issue.status == 0, "\(issue)")
            let receiptText = try String(contentsOfFile: receiptPath, encoding: .utf8)
            let receipt = try ReceiptReader.read(Array(receiptText.utf8), name: receiptPath)
            #expect(receipt.receivingNode == NodeIdentity(country: "DE", agencyId: "DE-BKA"))
            #expect(receipt.outcomes.count == 30)

            let good = try runFWX(["verify", "--trust", pki.trust, receiptPath, "--for-batch", signed])
            #expect(good.status == 0, "\(good)")
            #expect(good.stdout.isEmpty, "\(good)")
            #expect(good.stderr.contains("\(receiptPath): valid"), "\(good)")

            let wrong = try runFWX(["verify", "--trust", pki.trust, receiptPath, "--for-batch", other])
            #expect(wrong.status == 1, "\(wrong)")
            let lines = wrong.stdout.split(separator: "\n").map(String.init)
            #expect(lines.contains { $0.contains("error[FWX-G009]") }, "\(wrong)")
            for line in lines {
                #expect(line.firstMatch(of: regex) != nil, "not FILE:LINE:COL: error[FWX-Gnnn]: …: \(line)")
            }
        }
    }

    @Test("fwx receipt refuses a batch that does not verify: exit 1, no receipt written")
    func receiptCLIRefusesTamperedBatch() throws {
        let pki = try SigningPKI.ec()
        try withTemporaryDirectory { folder in
            let signed = try pki.sign(Sample.text)
            let tampered = try writeFile(folder, "tampered.xml", try SigningTamper.quantity.apply(to: signed, pki: pki))
            let receiptPath = folder.appendingPathComponent("receipt.xml").path
            let result = try runFWX(["receipt", "--key", pki.key("DE", "node-signing"), "--cert", pki.cert("DE", "node-signing"),
                                     "--trust", pki.trust, "--agency", "DE-BKA", tampered, "-o", receiptPath])
            #expect(result.status == 1, "\(result)")
            #expect(result.stdout.contains("error[FWX-G001]"), "\(result)")
            #expect(!FileManager.default.fileExists(atPath: receiptPath))
        }
    }
}
