import CXMLSec
import FWXModel
import Foundation

/// The partner CAs a node trusts, with their CRLs: a folder of PEM files (certificates and CRLs in any file),
/// or certificates and CRLs given directly. Nothing else is trusted: the system's CA folder is never used.
///
/// The CRLs live in a ``RevocationListSet`` that copies made with ``restricted(toCountry:)`` or
/// ``init(certificates:sharingRevocationListsOf:)`` share: a node replaces them while it runs
/// (``RevocationListSet/replace(with:)``) and every check after that uses the new lists.
public struct TrustStore: Sendable {
    public let certificates: [Certificate]
    /// The CRLs, shared with the copies of this store.
    public let revocation: RevocationListSet

    /// The CRLs as they are now.
    public var revocationLists: [RevocationList] { revocation.lists }

    public init(certificates: [Certificate], revocationLists: [RevocationList] = []) {
        self.certificates = certificates
        self.revocation = RevocationListSet(revocationLists)
    }

    /// A store of other CAs that uses (and sees replacements of) the CRLs of `other`.
    public init(certificates: [Certificate], sharingRevocationListsOf other: TrustStore) {
        self.certificates = certificates
        self.revocation = other.revocation
    }

    /// Loads every `*.pem` / `*.crt` / `*.crl` file of a folder.
    public init(directory: String) throws {
        try XMLSec.ensureInitialised()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw FWXError(.io, "trust store \(directory) is not a folder of PEM files", location: directory)
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        var certificates: [Certificate] = []
        var crls: [RevocationList] = []
        for name in names where [".pem", ".crt", ".crl"].contains(where: { name.hasSuffix($0) }) {
            let objects = try Self.objects(inFile: directory + "/" + name)
            certificates += objects.certificates
            crls += objects.crls
        }
        guard !certificates.isEmpty else {
            throw FWXError(.io, "trust store \(directory) holds no CA certificate", location: directory)
        }
        self.init(certificates: certificates, revocationLists: crls)
    }

    /// The certificates and CRLs of one PEM file.
    static func objects(inFile path: String) throws -> (certificates: [Certificate], crls: [RevocationList]) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FWXError(.io, "cannot read \(path)", location: path)
        }
        return try Certificate.read(pem: [UInt8](data), name: path)
    }

    /// The OpenSSL verification error for `leaf` with `intermediates`, at `time` (seconds since 1970); with
    /// `tlsClient`, the chain must also allow TLS client authentication (key usage, extended key usage).
    func verify(_ leaf: Certificate, intermediates: [Certificate], at time: Double, tlsClient: Bool = false) -> Int32 {
        let purpose = tlsClient ? CXMLSec_purposeTLSClient() : 0
        let trusted = CXMLSec_newCertificateStack()
        let untrusted = CXMLSec_newCertificateStack()
        let crls = CXMLSec_newCRLStack()
        defer {
            CXMLSec_freeCertificateStack(trusted)
            CXMLSec_freeCertificateStack(untrusted)
            CXMLSec_freeCRLStack(crls)
        }
        for certificate in certificates {
            X509_up_ref(certificate.pointer)
            _ = CXMLSec_pushCertificate(trusted, certificate.pointer)
        }
        for certificate in intermediates {
            X509_up_ref(certificate.pointer)
            _ = CXMLSec_pushCertificate(untrusted, certificate.pointer)
        }
        for crl in revocationLists {
            X509_CRL_up_ref(crl.pointer)
            _ = CXMLSec_pushCRL(crls, crl.pointer)
        }
        // Revocation is checked where the trust store has a CRL from the signer's issuer: for the whole chain
        // when it has every CA's CRL, else for the signer alone.
        let checkCRL = CXMLSec_hasCRLFor(crls, leaf.pointer)
        let result = CXMLSec_verifyChain(leaf.pointer, trusted, untrusted, crls, Int64(time), checkCRL, checkCRL,
                                         purpose)
        if checkCRL != 0 && result == X509_V_ERR_UNABLE_TO_GET_CRL {
            return CXMLSec_verifyChain(leaf.pointer, trusted, untrusted, crls, Int64(time), checkCRL, 0, purpose)
        }
        return result
    }
}

/// The CRLs of a trust store, replaceable while a node runs. Checks read the lists as they are at that moment.
public final class RevocationListSet: @unchecked Sendable {
    // @unchecked Sendable: `current` is only read or replaced with `lock` held; the lists themselves are immutable.
    private let lock = NSLock()
    private var current: [RevocationList]

    init(_ lists: [RevocationList]) { current = lists }

    /// The lists as they are now.
    public var lists: [RevocationList] { lock.withLock { current } }

    /// Replaces every list (a CRL folder read again).
    public func replace(with lists: [RevocationList]) { lock.withLock { current = lists } }
}
