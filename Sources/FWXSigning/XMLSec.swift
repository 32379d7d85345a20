import CXMLSec
import FWXModel
import FWXXML
import Foundation

/// Process-wide xmlsec set-up and the one place where xmlsec's and OpenSSL's errors become Swift errors.
enum XMLSec {
    private static let status: Int32 = {
        // libxml2 must be initialised before xmlsec (with FWX's silent defaults for every thread).
        XMLHardening.prepareThread()
        return CXMLSec_initialise()
    }()

    /// Initialises xmlsec once, and silences libxml2's per-thread error output of the calling thread (signing and
    /// verifying canonicalise through libxml2, whose messages outside a parser context would go to stderr).
    static func ensureInitialised() throws {
        XMLHardening.prepareThread()
        guard status == 0 else {
            throw FWXError(.unsupported, "libxmlsec1 with OpenSSL could not be initialised (code \(status))")
        }
        // XMLSEC_NO_SIZE_T must match the library, or xmlSecSize has the wrong width in every struct.
        guard CXMLSec_sizeOfSize() == MemoryLayout<UInt32>.size else {
            throw FWXError(.unsupported, "xmlSecSize is \(CXMLSec_sizeOfSize()) bytes; the CXMLSec defines do not match libxmlsec1")
        }
    }

    /// Clears the calling thread's collected xmlsec/OpenSSL messages.
    static func clearErrors() { CXMLSec_clearErrors() }

    /// The calling thread's collected xmlsec messages since the last clear.
    static func errors() -> String { String(cString: CXMLSec_errors()) }
}

/// An X.509 certificate (OpenSSL `X509`), owned: freed when the last reference goes.
public final class Certificate: @unchecked Sendable, Hashable, CustomStringConvertible {
    // @unchecked Sendable: the X509 is never mutated after init; OpenSSL allows concurrent reads of a certificate.
    let pointer: OpaquePointer

    /// Takes ownership of `pointer`.
    init(owning pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit { X509_free(pointer) }

    /// Reads every certificate in a PEM file (a certificate followed by its chain, or a folder's CA file).
    public static func load(pemFile path: String) throws -> [Certificate] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FWXError(.io, "cannot read certificate file \(path)", location: path)
        }
        let certificates = try read(pem: [UInt8](data), name: path).certificates
        guard !certificates.isEmpty else {
            throw FWXError(.io, "\(path) holds no PEM certificate (-----BEGIN CERTIFICATE-----)", location: path)
        }
        return certificates
    }

    /// Reads certificates and CRLs from PEM bytes.
    static func read(pem: [UInt8], name: String) throws -> (certificates: [Certificate], crls: [RevocationList]) {
        let certificates = CXMLSec_newCertificateStack()
        let crls = CXMLSec_newCRLStack()
        defer {
            CXMLSec_freeCertificateStack(certificates)
            CXMLSec_freeCRLStack(crls)
        }
        let count = pem.withUnsafeBytes { CXMLSec_readPEMObjects($0.baseAddress, Int32($0.count), certificates, crls) }
        guard count >= 0 else { throw FWXError(.io, "\(name) is not a readable PEM file", location: name) }
        var resultCertificates: [Certificate] = []
        for index in 0..<CXMLSec_certificateCount(certificates) {
            let certificate = CXMLSec_certificateAt(certificates, index)!
            X509_up_ref(certificate)
            resultCertificates.append(Certificate(owning: certificate))
        }
        var resultCRLs: [RevocationList] = []
        for index in 0..<CXMLSec_crlCount(crls) {
            let crl = CXMLSec_crlAt(crls, index)!
            X509_CRL_up_ref(crl)
            resultCRLs.append(RevocationList(owning: crl))
        }
        return (resultCertificates, resultCRLs)
    }

    /// Decodes a DER certificate (as found base64-encoded in ds:X509Certificate).
    public convenience init?(der: [UInt8]) {
        guard let pointer = der.withUnsafeBufferPointer({ CXMLSec_certificateFromDER($0.baseAddress, $0.count) })
        else { return nil }
        self.init(owning: pointer)
    }

    private func subjectField(_ nid: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        let length = CXMLSec_subjectField(pointer, nid, &buffer, Int32(buffer.count))
        guard length >= 0 else { return nil }
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Subject country (C).
    public var country: String? { subjectField(CXMLSec_nidCountry()) }
    /// Subject organisation (O).
    public var organisation: String? { subjectField(CXMLSec_nidOrganisation()) }
    /// Subject common name (CN).
    public var commonName: String? { subjectField(CXMLSec_nidCommonName()) }

    /// SHA-256 of the DER encoding, lower-case hex: the certificate's fingerprint in audit logs.
    public var fingerprint: String {
        var digest = [UInt8](repeating: 0, count: 32)
        guard CXMLSec_fingerprint(pointer, &digest) == 0 else { return "" }
        return digest.map { String(format: "%02x", $0) }.joined()
    }

    /// The DER encoding.
    public var der: [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        let length = CXMLSec_certificateDER(pointer, &out)
        guard length > 0, let out else { return [] }
        defer { CXMLSec_freeOpenSSL(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }

    /// Public key type and size in bits.
    var publicKey: (isRSA: Bool, isEC: Bool, bits: Int) {
        var bits: Int32 = 0
        let type = CXMLSec_publicKeyInfo(pointer, &bits)
        return (type == CXMLSec_keyTypeRSA(), type == CXMLSec_keyTypeEC(), Int(bits))
    }

    /// Whether the key usage (when the certificate restricts it) allows signing documents.
    public var allowsSigning: Bool {
        let usage = CXMLSec_keyUsage(pointer)
        if usage < 0 { return true }
        return usage & (CXMLSec_keyUsageDigitalSignature() | CXMLSec_keyUsageNonRepudiation()) != 0
    }

    /// Whether this certificate issued `other`.
    func issued(_ other: Certificate) -> Bool { CXMLSec_issued(pointer, other.pointer) != 0 }

    public var description: String {
        "CN=\(commonName ?? "?"), O=\(organisation ?? "?"), C=\(country ?? "?") (sha256 \(fingerprint.prefix(16))…)"
    }

    public static func == (lhs: Certificate, rhs: Certificate) -> Bool { lhs.der == rhs.der }
    public func hash(into hasher: inout Hasher) { hasher.combine(der) }
}

/// A certificate revocation list (OpenSSL `X509_CRL`), owned.
public final class RevocationList: @unchecked Sendable {
    // @unchecked Sendable: never mutated after init; read-only use by OpenSSL.
    let pointer: OpaquePointer
    init(owning pointer: OpaquePointer) { self.pointer = pointer }
    deinit { X509_CRL_free(pointer) }

    /// Whether `other` has the same issuer.
    func sameIssuer(as other: RevocationList) -> Bool { CXMLSec_crlSameIssuer(pointer, other.pointer) != 0 }

    /// Whether this list was issued at the same time as `other` or later (lastUpdate); false when unreadable.
    func isAtLeastAsNew(as other: RevocationList) -> Bool {
        let order = CXMLSec_crlCompareLastUpdate(pointer, other.pointer)
        return order == 0 || order == 1
    }

    /// The issuer's name, one line.
    var issuer: String {
        var buffer = [CChar](repeating: 0, count: 256)
        CXMLSec_crlIssuer(pointer, &buffer, Int32(buffer.count))
        return String(cString: buffer)
    }

    /// The DER encoding (to tell whether a CRL file changed).
    var der: [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        let length = CXMLSec_crlDER(pointer, &out)
        guard length > 0, let out else { return [] }
        defer { CXMLSec_freeOpenSSL(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }
}
