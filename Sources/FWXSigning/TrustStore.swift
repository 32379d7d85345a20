import CXMLSec
import FWXModel
import Foundation

/// The partner CAs a node trusts, with their CRLs: a folder of PEM files (certificates and CRLs in any file),
/// or certificates and CRLs given directly. Nothing else is trusted: the system's CA folder is never used.
///
/// Which country a CA speaks for is its subject's C, unless the folder's ``countryMappingFile`` names the CA (by
/// its SHA-256 fingerprint) with the countries it speaks for instead (docs/signing.md).
///
/// The CAs live in an ``AuthoritySet`` and the CRLs in a ``RevocationListSet`` that copies made with
/// ``restricted(toCountry:)``, ``restricted(toFingerprints:)`` or ``init(certificates:sharingRevocationListsOf:)``
/// share: a node replaces them while it runs (``reload(directory:files:)``) and every check after that uses the
/// new CAs and lists.
public struct TrustStore: Sendable {
    /// Which of the shared CAs a copy uses.
    enum Selection: Sendable {
        case all
        case country(String)
        case fingerprints(Set<String>)
        case fixed([Certificate])
    }

    /// The CAs, shared with the copies of this store.
    public let authorities: AuthoritySet
    let selection: Selection
    /// The CRLs, shared with the copies of this store.
    public let revocation: RevocationListSet
    /// How missing and out-of-date CRLs are treated (copies made after setting it inherit it).
    public var policy = RevocationPolicy()

    /// The CRLs as they are now.
    public var revocationLists: [RevocationList] { revocation.lists }

    /// The CA certificates this store (or copy) trusts now.
    public var certificates: [Certificate] {
        switch selection {
        case .fixed(let certificates): return certificates
        case .all: return authorities.snapshot.certificates
        case .country(let country):
            let snapshot = authorities.snapshot
            return snapshot.certificates.indices.filter { snapshot.countries[$0].contains(country) }
                .map { snapshot.certificates[$0] }
        case .fingerprints(let wanted):
            let snapshot = authorities.snapshot
            return snapshot.certificates.indices.filter { wanted.contains(snapshot.fingerprints[$0]) }
                .map { snapshot.certificates[$0] }
        }
    }

    /// Changes every time the CAs or the CRLs are replaced (to tell whether an earlier check still holds).
    public var generation: UInt64 { authorities.generation &+ revocation.generation }

    public init(certificates: [Certificate], revocationLists: [RevocationList] = [],
                countryMapping: [String: [String]] = [:]) {
        authorities = AuthoritySet(certificates, mapping: countryMapping)
        selection = .all
        revocation = RevocationListSet(revocationLists)
    }

    /// A store of other CAs that uses (and sees replacements of) the CRLs of `other`.
    public init(certificates: [Certificate], sharingRevocationListsOf other: TrustStore) {
        authorities = other.authorities
        selection = .fixed(certificates)
        revocation = other.revocation
        policy = other.policy
    }

    init(sharing other: TrustStore, selection: Selection) {
        authorities = other.authorities
        self.selection = selection
        revocation = other.revocation
        policy = other.policy
    }

    /// The name of the optional file of a trust folder that says which countries a CA speaks for.
    public static let countryMappingFile = "ca-countries.txt"

    /// Loads every `*.pem` / `*.crt` / `*.crl` file of a folder, and its ``countryMappingFile`` when present.
    public init(directory: String) throws {
        let contents = try Self.folderContents(directory)
        guard !contents.certificates.isEmpty else {
            throw FWXError(.io, "trust store \(directory) holds no CA certificate", location: directory)
        }
        self.init(certificates: contents.certificates, revocationLists: contents.crls,
                  countryMapping: try Self.checkedMapping(contents.mapping, certificates: contents.certificates))
    }

    /// What a folder holds: certificates, CRLs and the country mapping (not yet checked against the certificates).
    static func folderContents(_ directory: String) throws
        -> (certificates: [Certificate], crls: [RevocationList], mapping: CountryMapping?) {
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
        let mappingPath = directory + "/" + countryMappingFile
        let mapping = FileManager.default.fileExists(atPath: mappingPath) ? try CountryMapping(file: mappingPath) : nil
        return (certificates, crls, mapping)
    }

    /// The mapping by fingerprint, after checking that every line names a CA of the store.
    static func checkedMapping(_ mapping: CountryMapping?, certificates: [Certificate]) throws -> [String: [String]] {
        guard let mapping else { return [:] }
        let known = Set(certificates.map(\.fingerprint))
        if let unknown = mapping.entries.first(where: { !known.contains($0.fingerprint) }) {
            throw FWXError(.io, "\(mapping.file):\(unknown.line): no CA certificate of the trust store has the "
                + "fingerprint \(unknown.fingerprint); remove the line or add the CA", location: mapping.file)
        }
        return Dictionary(mapping.entries.map { ($0.fingerprint, $0.countries) }, uniquingKeysWith: { $1 })
    }

    /// The certificates and CRLs of one PEM file.
    static func objects(inFile path: String) throws -> (certificates: [Certificate], crls: [RevocationList]) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FWXError(.io, "cannot read \(path)", location: path)
        }
        return try Certificate.read(pem: [UInt8](data), name: path)
    }

    /// The countries a CA of this store speaks for: those of the country mapping, else its subject C.
    public func countries(ofAuthority certificate: Certificate) -> [String] {
        authorities.snapshot.countries(of: certificate)
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
        // Revocation is checked where the trust store has a CRL from the signer's issuer (always under
        // `policy.requireCRL`, so that a missing CRL refuses): for the whole chain when it has every CA's CRL,
        // else for the signer alone.
        let checkCRL: Int32 = policy.requireCRL ? 1 : CXMLSec_hasCRLFor(crls, leaf.pointer)
        let tolerate: Int32 = policy.acceptStaleCRLs ? 1 : 0
        let result = CXMLSec_verifyChainWithOptions(leaf.pointer, trusted, untrusted, crls, Int64(time), checkCRL,
                                                    checkCRL, purpose, tolerate)
        if checkCRL != 0 && result == X509_V_ERR_UNABLE_TO_GET_CRL {
            return CXMLSec_verifyChainWithOptions(leaf.pointer, trusted, untrusted, crls, Int64(time), checkCRL, 0,
                                                  purpose, tolerate)
        }
        return result
    }

    /// What OpenSSL's verification error means for revocation, in words that say what to do; nil for other errors.
    static func revocationProblem(_ error: Int32) -> String? {
        switch error {
        case X509_V_ERR_UNABLE_TO_GET_CRL:
            return "revocation status unknown: the trust store has no CRL of its CA (trust.revocation: require); "
                + "put the CA's CRL in the trust folder or let the node fetch it"
        case X509_V_ERR_CRL_HAS_EXPIRED:
            return "revocation status unknown: its CA's CRL is past its nextUpdate (trust.staleCRL: refuse); "
                + "put the CA's current CRL in the trust folder"
        case X509_V_ERR_CRL_NOT_YET_VALID:
            return "revocation status unknown: its CA's CRL is not valid yet; check the clocks"
        case X509_V_ERR_CRL_SIGNATURE_FAILURE, X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
            return "revocation status unknown: its CA's CRL does not verify against the CA"
        default:
            return nil
        }
    }
}

/// How a trust store treats missing and out-of-date CRLs. The default checks revocation where the store holds
/// the CA's CRL and refuses certificates whose CA's CRL is past its nextUpdate (what `fwx verify` does); a node
/// requires every CA's CRL unless its configuration says `trust.revocation: allow-missing`.
public struct RevocationPolicy: Sendable, Hashable {
    /// Every certificate's CA must have a CRL in the store; without one the certificate is refused.
    public var requireCRL: Bool
    /// A CRL past its nextUpdate is still used (its revocations hold) instead of refusing the CA's certificates.
    public var acceptStaleCRLs: Bool

    public init(requireCRL: Bool = false, acceptStaleCRLs: Bool = false) {
        self.requireCRL = requireCRL
        self.acceptStaleCRLs = acceptStaleCRLs
    }
}

/// The CA certificates of a trust store and the countries they speak for, replaceable while a node runs.
public final class AuthoritySet: @unchecked Sendable {
    // @unchecked Sendable: `current` and `changes` are only read or replaced with `lock` held; a snapshot is
    // immutable.
    struct Snapshot {
        let certificates: [Certificate]
        let fingerprints: [String]
        let countries: [[String]]

        init(_ certificates: [Certificate], mapping: [String: [String]]) {
            let fingerprints = certificates.map(\.fingerprint)
            self.certificates = certificates
            self.fingerprints = fingerprints
            countries = fingerprints.indices.map { index in
                mapping[fingerprints[index]] ?? [certificates[index].country].compactMap { $0 }
            }
        }

        func countries(of certificate: Certificate) -> [String] {
            let fingerprint = certificate.fingerprint
            guard let index = fingerprints.firstIndex(of: fingerprint) else { return [] }
            return countries[index]
        }
    }

    private let lock = NSLock()
    private var current: Snapshot
    private var changes: UInt64 = 0

    init(_ certificates: [Certificate], mapping: [String: [String]]) {
        current = Snapshot(certificates, mapping: mapping)
    }

    var snapshot: Snapshot { lock.withLock { current } }

    /// Counts replacements.
    var generation: UInt64 { lock.withLock { changes } }

    /// The CA certificates as they are now.
    public var certificates: [Certificate] { snapshot.certificates }

    func replace(with certificates: [Certificate], mapping: [String: [String]]) {
        let next = Snapshot(certificates, mapping: mapping)
        lock.withLock {
            current = next
            changes &+= 1
        }
    }
}

/// The CRLs of a trust store, replaceable while a node runs. Checks read the lists as they are at that moment.
///
/// The lists in force are, per CA, the newest of those read from files and those fetched from distribution points
/// (``accept(fetched:from:)``); fetched lists are kept in memory only, and a reload of the files never drops one
/// that is newer than the files' copy.
public final class RevocationListSet: @unchecked Sendable {
    // @unchecked Sendable: every property is only read or replaced with `lock` held; the lists are immutable.
    private let lock = NSLock()
    private var fromFiles: [RevocationList]
    private var fetched: [RevocationList] = []
    private var current: [RevocationList]
    private var changes: UInt64 = 0

    init(_ lists: [RevocationList]) {
        fromFiles = lists
        current = lists
    }

    /// The lists as they are now.
    public var lists: [RevocationList] { lock.withLock { current } }

    /// The lists read from files, as they are now (what a reload of the files is compared with).
    var fileLists: [RevocationList] { lock.withLock { fromFiles } }

    /// Counts replacements.
    var generation: UInt64 { lock.withLock { changes } }

    /// Replaces the lists read from files (a CRL folder read again).
    public func replace(with lists: [RevocationList]) {
        lock.withLock {
            fromFiles = lists
            current = Self.effective(lists + fetched)
            changes &+= 1
        }
    }

    /// Takes a CRL fetched from a distribution point if it is newer than the one in force for its CA; the caller
    /// has checked that the CA signed it. Returns whether the lists changed.
    func add(fetched list: RevocationList) -> Bool {
        lock.withLock {
            if let inForce = current.first(where: { $0.sameIssuer(as: list) }), !list.isNewer(than: inForce) {
                return false
            }
            fetched.removeAll { $0.sameIssuer(as: list) }
            fetched.append(list)
            current = Self.effective(fromFiles + fetched)
            changes &+= 1
            return true
        }
    }

    /// Per issuer, the newest list (by lastUpdate; the first of equals).
    static func effective(_ lists: [RevocationList]) -> [RevocationList] {
        var result: [RevocationList] = []
        for list in lists {
            if let index = result.firstIndex(where: { $0.sameIssuer(as: list) }) {
                if list.isNewer(than: result[index]) { result[index] = list }
            } else {
                result.append(list)
            }
        }
        return result
    }
}

/// The optional file of a trust folder (``TrustStore/countryMappingFile``) that says which countries a CA speaks
/// for, overriding its subject C: one CA per line, its SHA-256 fingerprint (hex, colons allowed) then one or more
/// country codes; `#` starts a comment.
struct CountryMapping {
    struct Entry {
        var fingerprint: String
        var countries: [String]
        var line: Int
    }
    let file: String
    let entries: [Entry]

    init(file: String) throws {
        guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8)
        else { throw FWXError(.io, "cannot read \(file) (UTF-8 text)", location: file) }
        self.file = file
        var entries: [Entry] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "," })
                .map(String.init)
            guard !words.isEmpty else { continue }
            let fingerprint = words[0].lowercased().replacingOccurrences(of: ":", with: "")
            let countries = words.dropFirst().compactMap { CountryCode.normalize($0) }
            guard fingerprint.count == 64, fingerprint.allSatisfy(\.isHexDigit), words.count >= 2,
                  countries.count == words.count - 1 else {
                throw FWXError(.io, "\(file):\(index + 1): want a CA's SHA-256 fingerprint (64 hex digits) and the "
                    + "country codes it speaks for, e.g. 3f…e1 DE", location: file)
            }
            if entries.contains(where: { $0.fingerprint == fingerprint }) {
                throw FWXError(.io, "\(file):\(index + 1): the CA \(fingerprint.prefix(16))… is named twice",
                               location: file)
            }
            entries.append(Entry(fingerprint: fingerprint, countries: countries, line: index + 1))
        }
        self.entries = entries
    }
}
