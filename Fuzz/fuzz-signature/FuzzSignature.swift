// Fuzz target: the signature verifier (SignatureVerifier over bytes: the DOM parse, the form checks, KeyInfo's
// certificates, the chain against the trust store, the digest and signature value).
// Properties checked besides crashes: a document that FWX's own signer accepts (an input without a signature) and
// signs with a trusted certificate verifies: no invalid signature, form, chain, usage or algorithm finding, whether
// it was signed through the tree or streaming (and the streaming signer signs nothing the tree signer refuses);
// the streaming verifier gives every input the tree verifier's verdict and rule ids. Inputs of even length are
// signed with the EC certificate, odd ones with the RSA certificate.
//
// The trust store is a test PKI that scripts/fuzz makes with scripts/test-pki (FWX_FUZZ_PKI: an EC one, and an RSA
// one in FWX_FUZZ_PKI_RSA when set). At start-up the target signs the batch fixtures with several of its
// certificates (genuine, via an intermediate, revoked, expired, RSA) and writes them into FWX_FUZZ_SEEDS when that
// is set, so the corpus starts from signatures that verify, or fail for one known reason.
import CLibXML2
import FWXModel
import FWXSigning
import FWXXML
import Foundation
import FuzzSupport

private nonisolated(unsafe) var verifier: SignatureVerifier?
/// The genuine NL signing identities, EC then RSA (when FWX_FUZZ_PKI_RSA is set).
private nonisolated(unsafe) var signers: [DocumentSigner] = []
/// Findings a document freshly signed by a trusted, valid signing certificate must not have.
private let signingFaults: Set<String> = [RuleID.signatureInvalid, RuleID.signatureForm, RuleID.certificateUntrusted,
                                          RuleID.certificateUsage, RuleID.signatureAlgorithm]

private func signingIdentity(_ folder: String, _ name: String) -> SigningIdentity? {
    try? SigningIdentity(keyFile: "\(folder)/\(name).key.pem", certificateFile: "\(folder)/\(name).pem")
}

@main
enum FuzzSignature {
    static func main() {
        setUp()
        Fuzz.run(fuzz)
    }
}

/// Makes the verifier, and the seeds when FWX_FUZZ_SEEDS is set (before the driver reads the corpus folders).
private func setUp() {
    // The DOM parser behind signatures still lets libxml2 print its messages (and lines of the document) to stderr
    // (issue 13 item 8 routes them through FWX's findings). Here they would fill the log at each execution: a
    // structured handler on this thread, the one the fuzzer calls the verifier on, takes them instead.
    xmlSetStructuredErrorFunc(nil) { _, _ in }
    let pki = Fuzz.required("FWX_FUZZ_PKI", "the folder scripts/test-pki wrote")
    let pkis = [pki] + [ProcessInfo.processInfo.environment["FWX_FUZZ_PKI_RSA"]].compactMap { $0 }.filter { !$0.isEmpty }
    var certificates: [Certificate] = []
    var crlStores: [TrustStore] = []
    for folder in pkis {
        do {
            let store = try TrustStore(directory: folder + "/trust")
            certificates += store.certificates
            crlStores.append(store)
        } catch {
            Fuzz.fail("cannot load the trust store \(folder)/trust: \(error)")
        }
    }
    let store = TrustStore(certificates: certificates, revocationLists: crlStores.flatMap(\.revocationLists))
    let made = SignatureVerifier(trustStore: store)
    verifier = made
    for folder in pkis {
        guard let identity = signingIdentity(folder + "/NL", "node-signing") else {
            Fuzz.fail("cannot load \(folder)/NL/node-signing.pem and its key")
        }
        signers.append(DocumentSigner(identity: identity))
    }

    guard let seeds = ProcessInfo.processInfo.environment["FWX_FUZZ_SEEDS"], !seeds.isEmpty else { return }
    let documents = ["fixtures/batches/nl-sample.xml", "fixtures/batches/empty-allpartners.xml"]
    var signers: [(String, SigningIdentity)] = []
    for (index, folder) in pkis.enumerated() {
        for name in ["node-signing", "node-signing-via-intermediate-chain", "liaison", "revoked", "expired", "wrong-usage"] {
            let certificate = name == "node-signing-via-intermediate-chain" ? "node-signing-via-intermediate" : name
            let identity = (try? SigningIdentity(keyFile: "\(folder)/NL/\(certificate).key.pem",
                                                 certificateFile: "\(folder)/NL/\(name).pem"))
            if let identity { signers.append(("\(index)-\(name)", identity)) }
        }
        if let rogue = signingIdentity("\(folder)/untrusted", "node-signing") { signers.append(("\(index)-rogue", rogue)) }
    }
    guard signers.count >= 2 else { Fuzz.fail("no signing certificate could be loaded from \(pki)/NL") }
    var valid = 0
    for document in documents {
        let bytes = Fuzz.contents(Fuzz.fixture(document))
        let base = URL(fileURLWithPath: document).deletingPathExtension().lastPathComponent
        for (name, identity) in signers {
            guard let signed = try? DocumentSigner(identity: identity).sign(bytes, name: document) else { continue }
            if (try? made.verify(signed, name: name))?.isValid == true { valid += 1 }
            _ = FileManager.default.createFile(atPath: "\(seeds)/\(base)-\(name).xml", contents: Data(signed))
        }
    }
    // The genuine signatures must verify, or the set-up is wrong and the run would fuzz only the refusals.
    guard valid >= documents.count else { Fuzz.fail("only \(valid) of the seed signatures verify; is FWX_FUZZ_PKI a test PKI?") }
}

/// A report's rule ids, in order.
private func rules(_ report: SignatureReport) -> [String] { report.findings.map(\.rule) }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let verifier else { Fuzz.fail("LLVMFuzzerInitialize did not run") }
    let bytes = Fuzz.bytes(data, size)
    // Throws for documents that cannot be parsed at all (a finding-less refusal); both outcomes are fine. The
    // streaming verifier (no tree) must come to the same verdict with the same rule ids, in the same order.
    let tree = try? verifier.verify(bytes, name: "fuzz.xml")
    let stream = try? verifier.verifyStreaming(bytes, name: "fuzz.xml")
    if tree.map(rules) != stream.map(rules) || tree?.isValid != stream?.isValid {
        Fuzz.fail("the streaming verifier disagrees with the tree: \(tree.map(rules) ?? ["threw"]) / \(stream.map(rules) ?? ["threw"])")
    }

    // Sign it ourselves (refused when it is not well-formed or already carries a signature), then verify.
    let signer = signers[size % 2 == 0 ? 0 : signers.count - 1]
    let streamed = try? signer.streamedSignature(bytes, name: "fuzz.xml")
    guard let signed = try? signer.sign(bytes, name: "fuzz.xml") else {
        if streamed != nil { Fuzz.fail("the streaming signer signed a document the tree signer refuses") }
        return 0
    }
    if let streamed = streamed ?? nil {
        // The batch unchanged with the signature inserted: it must verify. (Byte equality with the tree signer's
        // RSA output holds only where libxml2 writes the input back as it was; the tests check it there.)
        let document = Array(bytes[..<streamed.insertionOffset]) + streamed.element + Array(bytes[streamed.insertionOffset...])
        guard let report = try? verifier.verify(document, name: "streamed.xml") else {
            Fuzz.fail("the verifier cannot read a document the streaming signer made")
        }
        let faults = report.findings.filter { signingFaults.contains($0.rule) }
        if !faults.isEmpty {
            Fuzz.fail("a document FWX signed streaming does not verify: " + faults.map { "\($0.rule) \($0.message)" }.joined(separator: "; "))
        }
    }
    let report: SignatureReport
    do {
        report = try verifier.verify(signed, name: "signed.xml")
    } catch {
        Fuzz.fail("the verifier cannot read a document FWX signed: \(error)")
    }
    let faults = report.findings.filter { signingFaults.contains($0.rule) }
    if !faults.isEmpty {
        Fuzz.fail("a document FWX signed does not verify: " + faults.map { "\($0.rule) \($0.message)" }.joined(separator: "; "))
    }
    return 0
}
