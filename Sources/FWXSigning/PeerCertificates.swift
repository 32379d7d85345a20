import CXMLSec
public import FWXModel
public import Foundation

/// Why a TLS peer's certificate was refused: the rule id and a message naming the certificate (never record data).
public struct PeerCertificateProblem: Sendable, Hashable, CustomStringConvertible {
    public var rule: String
    public var message: String
    public var description: String { "\(rule): \(message)" }
    public init(rule: String, message: String) {
        self.rule = rule
        self.message = message
    }
}

extension TrustStore {
    /// Checks a TLS client's certificate chain as presented (leaf first, then any intermediates) the way FWX
    /// checks signers: the leaf is within its validity period, chains to one of this store's CAs, and neither it
    /// nor a CA above it is revoked where the store holds that CA's CRL; and it may be used for TLS client
    /// authentication (key usage digitalSignature or keyAgreement where restricted, extended key usage clientAuth
    /// where restricted). `country`, when given, must be the leaf's subject country. Nil when the chain is
    /// acceptable.
    public func checkPeer(_ chain: [Certificate], country: String? = nil,
                          at time: Double = Date().timeIntervalSince1970) -> PeerCertificateProblem? {
        guard let leaf = chain.first else {
            return PeerCertificateProblem(rule: RuleID.callerCertificate, message: "no client certificate was presented")
        }
        let name = leaf.commonName ?? "?"
        let validity = CXMLSec_validityAt(leaf.pointer, Int64(time))
        if validity != 0 {
            return PeerCertificateProblem(rule: RuleID.callerCertificate,
                message: "client certificate \(name) \(validity > 0 ? "has expired" : "is not yet valid")")
        }
        let error = verify(leaf, intermediates: Array(chain.dropFirst()), at: time, tlsClient: true)
        if error != 0 {
            let reason = String(cString: X509_verify_cert_error_string(Int(error)))
            let what = switch error {
            case X509_V_ERR_CERT_REVOKED: "is revoked (it or a CA above it)"
            case CXMLSec_invalidPurpose():
                "is not for TLS client authentication (its key usage or extended key usage does not allow it)"
            default: "is not accepted: \(reason)"
            }
            return PeerCertificateProblem(rule: RuleID.callerCertificate, message: "client certificate \(name) \(what)")
        }
        if let country, leaf.country != country {
            return PeerCertificateProblem(rule: RuleID.callerCertificate,
                message: "client certificate \(name) is for \(leaf.country ?? "no country"), but its CA serves \(country)")
        }
        return nil
    }

    /// The store's CA certificates whose subject country is `country`, with all its CRLs.
    public func restricted(toCountry country: String) -> TrustStore {
        TrustStore(certificates: certificates.filter { $0.country == country }, sharingRevocationListsOf: self)
    }
}

extension TrustStore {
    /// A trust store from a folder of PEM files and/or single PEM files (CA certificates and CRLs in any of them).
    public init(directory: String?, files: [String]) throws {
        try XMLSec.ensureInitialised()
        let (certificates, crls) = try Self.objects(directory: directory, files: files)
        guard !certificates.isEmpty else {
            throw FWXError(.io, "the trust store holds no CA certificate", location: directory ?? files.first)
        }
        self.init(certificates: certificates, revocationLists: crls)
    }

    /// Reads the CRLs of the same folder and files again and puts them in place of the current ones; the CA
    /// certificates stay as they were loaded. Returns whether the lists changed. Throws, and changes nothing,
    /// when a file cannot be read or when a CA whose CRL is in force has no CRL as new in the files (a CRL file
    /// removed, emptied or caught half-written): revocations are never dropped by a reload. Removing a CA's CRL
    /// on purpose needs a restart.
    @discardableResult
    public func reloadRevocationLists(directory: String?, files: [String]) throws -> Bool {
        let (_, crls) = try Self.objects(directory: directory, files: files)
        let current = revocationLists
        for old in current where !crls.contains(where: { $0.sameIssuer(as: old) && $0.isAtLeastAsNew(as: old) }) {
            throw FWXError(.io, "no CRL of \(old.issuer) as new as the one in force is in the trust store any more "
                + "(removed, emptied or half-written?); the CRLs in force stay", location: directory ?? files.first)
        }
        guard current.map(\.der) != crls.map(\.der) else { return false }
        revocation.replace(with: crls)
        return true
    }

    private static func objects(directory: String?, files: [String]) throws
        -> (certificates: [Certificate], crls: [RevocationList]) {
        var certificates: [Certificate] = []
        var crls: [RevocationList] = []
        if let directory {
            let folder = try TrustStore(directory: directory)
            certificates += folder.certificates
            crls += folder.revocationLists
        }
        for path in files {
            let objects = try TrustStore.objects(inFile: path)
            certificates += objects.certificates
            crls += objects.crls
        }
        return (certificates, crls)
    }
}
