import CXMLSec
import FWXModel
import Foundation

// What the trust checks need to know about certificates and CRLs beyond their names: CRL times and issuers,
// CRL distribution points, and the role (node or liaison) a certificate is for.

extension RevocationList {
    /// Whether this list was issued later than `other` (lastUpdate); false when either cannot be read.
    func isNewer(than other: RevocationList) -> Bool { CXMLSec_crlCompareLastUpdate(pointer, other.pointer) == 1 }

    /// nextUpdate, seconds since 1970; nil when the list has none.
    public var nextUpdate: Double? {
        var seconds: Int64 = 0
        return CXMLSec_crlNextUpdate(pointer, &seconds) == 0 ? Double(seconds) : nil
    }

    /// lastUpdate, seconds since 1970.
    public var lastUpdate: Double? {
        var seconds: Int64 = 0
        return CXMLSec_crlLastUpdate(pointer, &seconds) == 0 ? Double(seconds) : nil
    }

    /// Whether the list is past its nextUpdate at `time`.
    public func isStale(at time: Double) -> Bool { nextUpdate.map { $0 < time } ?? false }

    /// The issuer's name, one line (/C=NL/O=…/CN=…).
    public var issuerName: String { issuer }

    /// Whether `authority` issued this list: its name and a signature that verifies with the CA's key.
    func isIssued(by authority: Certificate) -> Bool { CXMLSec_crlIssuedBy(pointer, authority.pointer) != 0 }

    /// Whether the list says it is `authority`'s (issuer name = the CA's subject).
    func names(_ authority: Certificate) -> Bool { CXMLSec_crlNamesSubjectOf(pointer, authority.pointer) != 0 }

    /// A CRL from DER or PEM bytes, or nil.
    public convenience init?(bytes: [UInt8]) {
        guard !bytes.isEmpty,
              let pointer = bytes.withUnsafeBufferPointer({ CXMLSec_crlFromBytes($0.baseAddress, $0.count) })
        else { return nil }
        self.init(owning: pointer)
    }
}

/// What a TLS client certificate is for: a node (server and client of the node-to-node exchange) or a liaison
/// officer (submits batches to the node of their own country). See docs/test-pki.md and docs/node.md.
public enum CertificateRole: String, Sendable, Hashable {
    case node
    case liaison

    /// Certificate policy OID of node certificates (under the UUID arc 2.25 of ITU-T X.667, so it needs no
    /// registration): `2.25.225242111404933570214185772332291346118.1`.
    public static let nodePolicy = "2.25.225242111404933570214185772332291346118.1"
    /// Certificate policy OID of liaison certificates: `2.25.225242111404933570214185772332291346118.2`.
    public static let liaisonPolicy = "2.25.225242111404933570214185772332291346118.2"
}

extension Certificate {
    /// The URIs of the certificate's CRL distribution points (full names), in order.
    public var crlDistributionPoints: [String] {
        var buffer = [CChar](repeating: 0, count: 4096)
        guard CXMLSec_crlDistributionPoints(pointer, &buffer, Int32(buffer.count)) > 0 else { return [] }
        return nulTerminated(buffer).split(separator: "\n").map(String.init)
    }

    /// The subject as one line (/C=NL/O=…/CN=…).
    public var subjectName: String {
        var buffer = [CChar](repeating: 0, count: 512)
        CXMLSec_subjectLine(pointer, &buffer, Int32(buffer.count))
        return nulTerminated(buffer)
    }

    /// The certificate's role: by FWX's certificate policies (``CertificateRole/nodePolicy``,
    /// ``CertificateRole/liaisonPolicy``); a certificate with neither policy is a node certificate when its
    /// extended key usage allows TLS server authentication, else a liaison certificate. Nil when it names both.
    public var role: CertificateRole? {
        let node = CXMLSec_hasPolicy(pointer, CertificateRole.nodePolicy) == 1
        let liaison = CXMLSec_hasPolicy(pointer, CertificateRole.liaisonPolicy) == 1
        switch (node, liaison) {
        case (true, false): return .node
        case (false, true): return .liaison
        case (true, true): return nil
        case (false, false): return CXMLSec_allowsTLSServer(pointer) == 1 ? .node : .liaison
        }
    }
}

/// The text of a NUL-terminated C buffer (UTF-8, invalid bytes replaced).
func nulTerminated(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

extension SigningIdentity {
    /// Why this identity may not sign `bytes` (a batch): its certificate's country (subject C) is not the batch's
    /// sender country, so every verifier would refuse the signature (FWX-G007). Nil when it may, or when the
    /// document is not a batch with a sender country (validation reports that).
    public func senderCountryProblem(in bytes: [UInt8], name: String) throws -> String? {
        try XMLSec.ensureInitialised()
        // A document that does not parse has no sender to compare; validation refuses it with its findings.
        guard let document = try? SignedDocument(bytes: bytes, name: name), let root = document.root else { return nil }
        return senderCountryProblem(sender: Nodes.fwxText(root, ["Header", "Sender", "Country"]), name: name)
    }

    /// ``senderCountryProblem(in:name:)`` for a sender country already read (nil: the document names none).
    public func senderCountryProblem(sender: String?, name: String) -> String? {
        guard let sender else { return nil }
        let country = certificate.country
        guard CountryCode.normalize(sender) != country.flatMap({ CountryCode.normalize($0) }) || country == nil else {
            return nil
        }
        return "\(name) comes from \(sender) (Header/Sender/Country), but the certificate \(certificate.commonName ?? "?") "
            + "is for \(country ?? "no country"); sign a country's batches with a certificate of that country"
    }
}
