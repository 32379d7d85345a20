/// What a receiving node did with one record of a batch.
public struct RecordOutcome: Sendable, Hashable, Codable {
    /// accepted (stored as the latest revision), superseded (this or a newer revision was already held) or
    /// rejected (broke a rule).
    public enum Result: String, Sendable, Codable, CaseIterable { case accepted, superseded, rejected }

    public var recordId: String
    public var revision: Int
    public var result: Result
    /// The rule a rejected record broke.
    public var rule: String?

    public init(recordId: String, revision: Int, result: Result, rule: String? = nil) {
        self.recordId = recordId
        self.revision = revision
        self.result = result
        self.rule = rule
    }
}

/// A receipt: the receiving node's statement that it stored a batch (identified by id and digest), with the
/// outcome of every record. Signed by the receiving node, it proves to the sender that the partner accepted it.
public struct Receipt: Sendable, Hashable, Codable {
    public var schemaVersion: String
    public var receiptId: String
    public var batchId: String
    public var batchSender: NodeIdentity
    /// SHA-256 (hex) of the exclusive canonical form of the whole signed batch.
    public var batchDigest: String
    public var receivedAt: String
    public var receivingNode: NodeIdentity
    public var outcomes: [RecordOutcome]

    public init(schemaVersion: String = "1.0", receiptId: String, batchId: String, batchSender: NodeIdentity,
                batchDigest: String, receivedAt: String, receivingNode: NodeIdentity, outcomes: [RecordOutcome]) {
        self.schemaVersion = schemaVersion
        self.receiptId = receiptId
        self.batchId = batchId
        self.batchSender = batchSender
        self.batchDigest = batchDigest
        self.receivedAt = receivedAt
        self.receivingNode = receivingNode
        self.outcomes = outcomes
    }

    /// The receipt as unsigned XML (schemas/v1/receipt.xsd).
    public var xml: String {
        func escape(_ text: String) -> String {
            text.replacingAll("&", "&amp;").replacingAll("<", "&lt;").replacingAll(">", "&gt;")
        }
        var text = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        text += "<Receipt xmlns=\"\(BatchXMLWriter.namespace)\" schemaVersion=\"\(escape(schemaVersion))\">\n"
        text += "  <ReceiptId>\(escape(receiptId))</ReceiptId>\n"
        text += "  <BatchId>\(escape(batchId))</BatchId>\n"
        text += "  <BatchSender>\n    <Country>\(escape(batchSender.country))</Country>\n"
        text += "    <AgencyId>\(escape(batchSender.agencyId))</AgencyId>\n  </BatchSender>\n"
        text += "  <BatchDigest>\(escape(batchDigest))</BatchDigest>\n"
        text += "  <ReceivedAt>\(escape(receivedAt))</ReceivedAt>\n"
        text += "  <ReceivingNode>\n    <Country>\(escape(receivingNode.country))</Country>\n"
        text += "    <AgencyId>\(escape(receivingNode.agencyId))</AgencyId>\n  </ReceivingNode>\n"
        text += "  <Outcomes>\n"
        for outcome in outcomes {
            text += "    <Outcome>\n      <RecordId>\(escape(outcome.recordId))</RecordId>\n"
            text += "      <Revision>\(outcome.revision)</Revision>\n      <Result>\(outcome.result.rawValue)</Result>\n"
            if let rule = outcome.rule { text += "      <RuleId>\(escape(rule))</RuleId>\n" }
            text += "    </Outcome>\n"
        }
        text += "  </Outcomes>\n</Receipt>\n"
        return text
    }
}

extension String {
    func replacingAll(_ target: String, _ replacement: String) -> String {
        split(separator: Character(target), omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
