import CXMLSec
public import FWXModel
public import Foundation

/// Builds and signs receipts for batches a node has accepted.
public struct ReceiptIssuer: Sendable {
    public let signer: DocumentSigner
    /// The receiving node, which signs (its signing certificate's country must be `node.country`).
    public let node: NodeIdentity

    public init(signer: DocumentSigner, node: NodeIdentity) {
        self.signer = signer
        self.node = node
    }

    /// A signed receipt for a signed batch. `outcomes` defaults to every record of the batch accepted.
    /// - Returns: the receipt and its signed XML.
    public func issue(forSignedBatch bytes: [UInt8], name: String, outcomes: [RecordOutcome]? = nil,
                      receivedAt: Date = Date(), receiptId: String = UUID().uuidString.lowercased()) throws
        -> (receipt: Receipt, xml: [UInt8])
    {
        let batch = try SignedDocument(bytes: bytes, name: name)
        guard let root = batch.root, Nodes.name(root) == "Batch",
              let batchId = Nodes.fwxText(root, ["Header", "BatchId"]),
              let country = Nodes.fwxText(root, ["Header", "Sender", "Country"]),
              let agency = Nodes.fwxText(root, ["Header", "Sender", "AgencyId"])
        else { throw FWXError(.usage, "\(name) is not an FWX batch with a header", location: name) }
        let recordOutcomes = outcomes ?? Self.records(of: root).map {
            RecordOutcome(recordId: $0.id, revision: $0.revision, result: .accepted)
        }
        let receipt = Receipt(receiptId: receiptId, batchId: batchId,
                              batchSender: NodeIdentity(country: country, agencyId: agency),
                              batchDigest: batch.exclusiveCanonicalSHA256(),
                              receivedAt: ISOTime.timestamp(epochSeconds: Int(receivedAt.timeIntervalSince1970)),
                              receivingNode: node, outcomes: recordOutcomes)
        let signed = try signer.sign(Array(receipt.xml.utf8), name: "receipt for \(batchId)")
        return (receipt, signed)
    }

    /// A signed receipt from what the receiving node already knows of the batch (its id, sender and the SHA-256 of
    /// its exclusive canonical form, e.g. from ``SignatureReport/documentDigest``), without parsing it again.
    public func issue(batchId: String, sender: NodeIdentity, digest: String, outcomes: [RecordOutcome],
                      receivedAt: Date = Date(), receiptId: String = UUID().uuidString.lowercased()) throws
        -> (receipt: Receipt, xml: [UInt8])
    {
        let receipt = Receipt(receiptId: receiptId, batchId: batchId, batchSender: sender, batchDigest: digest,
                              receivedAt: ISOTime.timestamp(epochSeconds: Int(receivedAt.timeIntervalSince1970)),
                              receivingNode: node, outcomes: outcomes)
        return (receipt, try signer.sign(Array(receipt.xml.utf8), name: "receipt for \(batchId)"))
    }

    /// Record ids and revisions of a batch, in order.
    static func records(of root: xmlNodePtr) -> [(id: String, revision: Int)] {
        guard let records = Nodes.elementChildren(root).first(where: { Nodes.name($0) == "Records" }) else { return [] }
        return Nodes.elementChildren(records).compactMap { record in
            guard let id = Nodes.fwxText(record, ["RecordId"]),
                  let revision = Nodes.fwxText(record, ["Revision"]).flatMap({ Int($0) }) else { return nil }
            return (id, revision)
        }
    }
}

/// Reads receipts and matches them to the batches they acknowledge.
public enum ReceiptReader {
    /// Reads a receipt's fields (check its signature with ``SignatureVerifier`` and its form with the validator).
    public static func read(_ bytes: [UInt8], name: String) throws -> Receipt {
        try XMLSec.ensureInitialised()
        let document = try SignedDocument(bytes: bytes, name: name)
        guard let root = document.root, Nodes.name(root) == "Receipt" else {
            throw FWXError(.usage, "\(name) is not an FWX receipt", location: name)
        }
        func field(_ path: [String]) throws -> String {
            guard let value = Nodes.fwxText(root, path) else {
                throw FWXError(.conversion, "receipt \(name) has no \(path.joined(separator: "/"))", location: name)
            }
            return value
        }
        let outcomesNode = Nodes.elementChildren(root).first { Nodes.name($0) == "Outcomes" }
        let outcomes = try (outcomesNode.map(Nodes.elementChildren) ?? []).map { outcome -> RecordOutcome in
            guard let id = Nodes.fwxText(outcome, ["RecordId"]),
                  let revision = Nodes.fwxText(outcome, ["Revision"]).flatMap({ Int($0) }),
                  let result = Nodes.fwxText(outcome, ["Result"]).flatMap(RecordOutcome.Result.init(rawValue:))
            else { throw FWXError(.conversion, "receipt \(name) has a malformed Outcome", location: name) }
            return RecordOutcome(recordId: id, revision: revision, result: result, rule: Nodes.fwxText(outcome, ["RuleId"]))
        }
        return Receipt(schemaVersion: Nodes.attribute(root, "schemaVersion") ?? "1.0",
                       receiptId: try field(["ReceiptId"]), batchId: try field(["BatchId"]),
                       batchSender: NodeIdentity(country: try field(["BatchSender", "Country"]),
                                                 agencyId: try field(["BatchSender", "AgencyId"])),
                       batchDigest: try field(["BatchDigest"]), receivedAt: try field(["ReceivedAt"]),
                       receivingNode: NodeIdentity(country: try field(["ReceivingNode", "Country"]),
                                                   agencyId: try field(["ReceivingNode", "AgencyId"])),
                       outcomes: outcomes)
    }

    /// Why `receipt` does not acknowledge the batch `batchId` whose canonical SHA-256 is `digest`, or nil.
    public static func mismatch(_ receipt: Receipt, batchId: String, digest: String) -> String? {
        if receipt.batchId != batchId { return "the receipt is for batch \(receipt.batchId), not \(batchId)" }
        if receipt.batchDigest != digest {
            return "the receipt's BatchDigest does not match batch \(batchId): the partner accepted different bytes"
        }
        return nil
    }

    /// The batch id of a signed batch and the SHA-256 (hex) of its exclusive canonical form, from one parse.
    public static func batchIdentity(of bytes: [UInt8], name: String) throws -> (batchId: String, digest: String) {
        try XMLSec.ensureInitialised()
        let batch = try SignedDocument(bytes: bytes, name: name)
        guard let root = batch.root, Nodes.name(root) == "Batch", let batchId = Nodes.fwxText(root, ["Header", "BatchId"]) else {
            throw FWXError(.usage, "\(name) is not an FWX batch with a BatchId", location: name)
        }
        return (batchId, batch.exclusiveCanonicalSHA256())
    }

    /// Why `receipt` does not acknowledge exactly the signed batch `bytes`, or nil when it does.
    public static func mismatch(_ receipt: Receipt, signedBatch bytes: [UInt8], name: String) throws -> String? {
        let batch = try SignedDocument(bytes: bytes, name: name)
        let digest = batch.exclusiveCanonicalSHA256()
        guard let root = batch.root, let batchId = Nodes.fwxText(root, ["Header", "BatchId"]) else {
            return "\(name) is not an FWX batch"
        }
        if receipt.batchId != batchId { return "the receipt is for batch \(receipt.batchId), not \(batchId)" }
        if receipt.batchDigest != digest {
            return "the receipt's BatchDigest does not match \(name): the partner accepted different bytes"
        }
        return nil
    }
}
