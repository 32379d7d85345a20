import CXMLSec
import FWXModel
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
            default: Self.revocationProblem(error).map { "is refused: \($0)" } ?? "is not accepted: \(reason)"
            }
            return PeerCertificateProblem(rule: RuleID.callerCertificate, message: "client certificate \(name) \(what)")
        }
        if let country, leaf.country != country {
            return PeerCertificateProblem(rule: RuleID.callerCertificate,
                message: "client certificate \(name) is for \(leaf.country ?? "no country"), but its CA serves \(country)")
        }
        return nil
    }

    /// The store's CA certificates that speak for `country` (subject C, or the country mapping), with all its CRLs.
    /// The copy follows the store: CAs added or removed by a reload are in or out of it too.
    public func restricted(toCountry country: String) -> TrustStore {
        TrustStore(sharing: self, selection: .country(country))
    }

    /// The store's CA certificates with these SHA-256 fingerprints (while they are in the store), with all its CRLs.
    public func restricted(toFingerprints fingerprints: Set<String>) -> TrustStore {
        TrustStore(sharing: self, selection: .fingerprints(fingerprints))
    }
}

extension TrustStore {
    /// A trust store from a folder of PEM files and/or single PEM files (CA certificates and CRLs in any of them).
    public init(directory: String?, files: [String]) throws {
        try XMLSec.ensureInitialised()
        let (certificates, crls, mapping) = try Self.objects(directory: directory, files: files)
        guard !certificates.isEmpty else {
            throw FWXError(.io, "the trust store holds no CA certificate", location: directory ?? files.first)
        }
        self.init(certificates: certificates, revocationLists: crls,
                  countryMapping: try Self.checkedMapping(mapping, certificates: certificates))
    }

    /// Reads the CRLs of the same folder and files again and puts them in place of the current ones; the CA
    /// certificates stay as they were loaded. Returns whether the lists changed. Throws, and changes nothing,
    /// when a file cannot be read or when a CA whose CRL is in force has no CRL as new in the files (a CRL file
    /// removed, emptied or caught half-written): revocations are never dropped by a reload. Removing a CA's CRL
    /// on purpose needs a restart.
    @discardableResult
    public func reloadRevocationLists(directory: String?, files: [String]) throws -> Bool {
        let (_, crls, _) = try Self.objects(directory: directory, files: files)
        try checkNothingDropped(crls, location: directory ?? files.first)
        guard revocation.fileLists.map(\.der) != crls.map(\.der) else { return false }
        revocation.replace(with: crls)
        return true
    }

    /// What a reload changed.
    public struct ReloadChanges: Sendable {
        /// CA certificates now trusted that were not before.
        public var added: [Certificate] = []
        /// CA certificates no longer trusted.
        public var removed: [Certificate] = []
        /// Whether the CRLs read from files changed.
        public var revocationListsChanged = false
        /// Whether a country a CA speaks for changed (the country mapping file).
        public var mappingChanged = false
        public var changedAnything: Bool {
            !added.isEmpty || !removed.isEmpty || revocationListsChanged || mappingChanged
        }
    }

    /// Reads the CA certificates, the country mapping and the CRLs of the same folder and files again and puts
    /// them in place of the current ones, so that a partner CA added to or removed from the trust folder is
    /// trusted or refused from the next check on. Throws, and changes nothing, when a file cannot be read, when
    /// no CA is left, or when a CRL in force would be dropped (as ``reloadRevocationLists(directory:files:)``).
    @discardableResult
    public func reload(directory: String?, files: [String]) throws -> ReloadChanges {
        let (certificates, crls, mapping) = try Self.objects(directory: directory, files: files)
        guard !certificates.isEmpty else {
            throw FWXError(.io, "the trust store would hold no CA certificate; the CAs in force stay",
                           location: directory ?? files.first)
        }
        let countries = try Self.checkedMapping(mapping, certificates: certificates)
        try checkNothingDropped(crls, location: directory ?? files.first)
        let before = authorities.snapshot
        var changes = ReloadChanges()
        let newFingerprints = Set(certificates.map(\.fingerprint))
        let oldFingerprints = Set(before.fingerprints)
        changes.added = certificates.filter { !oldFingerprints.contains($0.fingerprint) }
        changes.removed = before.certificates.filter { !newFingerprints.contains($0.fingerprint) }
        let after = AuthoritySet.Snapshot(certificates, mapping: countries)
        changes.mappingChanged = zip(before.fingerprints, before.countries).contains { fingerprint, countries in
            after.fingerprints.firstIndex(of: fingerprint).map { after.countries[$0] != countries } ?? false
        }
        changes.revocationListsChanged = revocation.fileLists.map(\.der) != crls.map(\.der)
        if !changes.added.isEmpty || !changes.removed.isEmpty || changes.mappingChanged
            || before.fingerprints != after.fingerprints {
            authorities.replace(with: certificates, mapping: countries)
        }
        if changes.revocationListsChanged { revocation.replace(with: crls) }
        return changes
    }

    /// Throws when a CA whose CRL is in force from the files has no CRL as new in `crls`.
    private func checkNothingDropped(_ crls: [RevocationList], location: String?) throws {
        for old in revocation.fileLists
        where !crls.contains(where: { $0.sameIssuer(as: old) && $0.isAtLeastAsNew(as: old) }) {
            throw FWXError(.io, "no CRL of \(old.issuer) as new as the one in force is in the trust store any more "
                + "(removed, emptied or half-written?); the CRLs in force stay", location: location)
        }
    }

    /// The CA certificates of the store that have no CRL in force (none of the lists names them as issuer).
    public func authoritiesWithoutRevocationList() -> [Certificate] {
        let lists = revocationLists
        return authorities.certificates.filter { authority in !lists.contains { $0.names(authority) } }
    }

    /// The CRLs in force that are past their nextUpdate at `time`.
    public func staleRevocationLists(at time: Double = Date().timeIntervalSince1970) -> [RevocationList] {
        revocationLists.filter { $0.isStale(at: time) }
    }

    /// What became of a CRL fetched from a distribution point.
    public enum FetchedListOutcome: Sendable, Equatable {
        /// Newer than the list in force for its CA: in force now (kept in memory).
        case accepted
        /// Not newer than the list in force: nothing changed.
        case notNewer
        /// No CA of the store issued it (its signature does not verify against the CA it names, or it names none).
        case notIssuedByTrustedCA
    }

    /// Takes a CRL fetched from a distribution point: accepted only when a CA of the store signed it and it is newer
    /// than the list in force for that CA. A refused list changes nothing.
    public func accept(fetched list: RevocationList) -> FetchedListOutcome {
        guard authorities.certificates.contains(where: { list.isIssued(by: $0) }) else { return .notIssuedByTrustedCA }
        return revocation.add(fetched: list) ? .accepted : .notNewer
    }

    /// The CRL distribution points named by the store's CA certificates.
    public var distributionPoints: [String] {
        var seen: [String] = []
        for authority in authorities.certificates {
            for uri in authority.crlDistributionPoints where !seen.contains(uri) { seen.append(uri) }
        }
        return seen
    }

    private static func objects(directory: String?, files: [String]) throws
        -> (certificates: [Certificate], crls: [RevocationList], mapping: CountryMapping?) {
        try XMLSec.ensureInitialised()
        var certificates: [Certificate] = []
        var crls: [RevocationList] = []
        var mapping: CountryMapping?
        if let directory {
            let folder = try TrustStore.folderContents(directory)
            certificates += folder.certificates
            crls += folder.crls
            mapping = folder.mapping
        }
        for path in files {
            let objects = try TrustStore.objects(inFile: path)
            certificates += objects.certificates
            crls += objects.crls
        }
        // The same CA in the folder and in a listed file counts once.
        var seen = Set<String>()
        certificates = certificates.filter { seen.insert($0.fingerprint).inserted }
        return (certificates, crls, mapping)
    }
}
