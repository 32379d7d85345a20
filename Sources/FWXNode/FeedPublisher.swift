public import FWXModel
public import FWXSigning
public import FWXStore
public import Foundation

/// Builds the signed batches a node hands out: feed pages and single records. Each is an ordinary schema v1
/// batch with the node as sender, addressed to the caller, and signed with the node's signing key, so that a
/// partner can prove where the records came from long after the connection is gone.
public struct FeedPublisher: Sendable {
    public let node: NodeIdentity
    public let signer: DocumentSigner

    public init(node: NodeIdentity, signer: DocumentSigner) {
        self.node = node
        self.signer = signer
    }

    /// A signed batch holding `entries` (their stored XML, which carries each record's handling code), for `caller`.
    /// `sequence` goes into the header's SequenceNumber (the page's next cursor, so pages are ordered).
    public func signedBatch(of entries: [FeedEntry], for caller: String, sequence: Int64, now: Date = Date()) throws
        -> [UInt8]
    {
        let header = BatchHeader(batchId: UUID().uuidString.lowercased(), sender: node,
                                 recipients: .countries([caller]),
                                 createdAt: ISOTime.timestamp(epochSeconds: Int(now.timeIntervalSince1970)),
                                 sequenceNumber: UInt64(max(1, sequence)),
                                 defaultHandlingCode: entries.map(\.handlingCode).max() ?? .h3)
        var text = ""
        text.reserveCapacity(entries.reduce(1024) { $0 + $1.xml.utf8.count })
        var writer = BatchXMLWriter(flushThreshold: 1 << 30) { text += $0 }
        try writer.writeHeader(header)
        for entry in entries { try writer.writeRecordXML(entry.xml) }
        try writer.finish()
        return try signer.sign(Array(text.utf8), name: "feed for \(caller)")
    }
}
