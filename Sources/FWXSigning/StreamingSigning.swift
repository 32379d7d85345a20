import CXMLSec
public import FWXModel
package import FWXXML
import Foundation

/// A signature made for a document in one streaming pass (``DocumentSigner/streamedSignature(file:)``), ready to
/// be written into a copy of it: the document's bytes, unchanged, with ``element`` inserted right before the root
/// element's end tag, where the tree-based signer adds it as the root's last child.
public struct StreamedSignature: Sendable {
    /// The serialised `ds:Signature` element (a few kilobytes).
    public let element: [UInt8]
    /// The byte offset of the root's end tag (`</Batch>`) in the document.
    public let insertionOffset: Int
    /// The document's Header/Sender/Country, when it has one (for ``SigningIdentity/senderCountryProblem(sender:name:)``).
    public let senderCountry: String?
}

extension DocumentSigner {
    /// Signs the document in the file at `path` without a document tree: its exclusive canonical form is made and
    /// hashed by one SAX parse (``CanonicalStream``), the signature is built on its own and filled as
    /// ``sign(_:name:)`` fills it. Nil when the document is one this way cannot place the signature in (its
    /// root's end tag is followed by more than whitespace, or it is not in an ASCII-compatible encoding), or when
    /// ``computation`` asks for xmlsec's generic processing: sign it with ``sign(_:name:writingTo:)`` then.
    ///
    /// Throws as ``sign(_:name:)`` does for a document that does not parse or is already signed.
    public func streamedSignature(file path: String) throws -> StreamedSignature? {
        guard computation == .direct else { return nil }
        let source = try ByteSource(path: path)
        guard let size = source.totalSize else { return nil }
        return try streamedSignature(source, size: size) { start, count in
            try Self.readRange(of: path, from: start, count: count)
        }
    }

    /// ``streamedSignature(file:)`` for a document in memory.
    public func streamedSignature(_ bytes: [UInt8], name: String) throws -> StreamedSignature? {
        guard computation == .direct else { return nil }
        return try streamedSignature(ByteSource(bytes: bytes, name: name), size: bytes.count) { start, count in
            Array(bytes[start..<(start + count)])
        }
    }

    /// Signs the file at `path` and writes the signed document to `descriptor`: streamed where
    /// ``streamedSignature(file:)`` can, read whole and signed through the tree otherwise.
    public func sign(file path: String, writingTo descriptor: Int32) throws {
        if let signature = try streamedSignature(file: path) {
            try Self.write(file: path, with: signature, to: descriptor)
        } else {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw FWXError(.io, "cannot read \(path)", location: path)
            }
            try sign([UInt8](data), name: path, writingTo: descriptor)
        }
    }

    /// Writes the file at `path` with `signature` inserted to `descriptor`, copying it in 1 MiB pieces.
    public static func write(file path: String, with signature: StreamedSignature, to descriptor: Int32) throws {
        let input = open(path, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else {
            throw FWXError(.io, "cannot open \(path): \(String(cString: strerror(errno)))", location: path)
        }
        defer { close(input) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset = 0
        var inserted = false
        while true {
            let wanted = inserted ? buffer.count : min(buffer.count, signature.insertionOffset - offset)
            if !inserted, wanted == 0 {
                try signature.element.withUnsafeBytes { try writeAll($0, to: descriptor) }
                inserted = true
                continue
            }
            let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, wanted) }
            guard count >= 0 else {
                if errno == EINTR { continue }
                throw FWXError(.io, "cannot read \(path): \(String(cString: strerror(errno)))", location: path)
            }
            if count == 0 {
                guard inserted else { throw FWXError(.io, "\(path) changed while it was signed", location: path) }
                return
            }
            try buffer.withUnsafeBytes { try writeAll(UnsafeRawBufferPointer(rebasing: $0[0..<count]), to: descriptor) }
            offset += count
        }
    }

    private func streamedSignature(_ source: ByteSource, size: Int,
                                   read: (_ start: Int, _ count: Int) throws -> [UInt8]) throws -> StreamedSignature? {
        try XMLSec.ensureInitialised()
        let name = source.name
        // Where the signature goes: before the root's end tag, found from the end of the document (only
        // whitespace may follow it: after a comment or instruction, "</" could be text of theirs).
        let tailStart = max(0, size - 4096)
        let tail = try read(tailStart, size - tailStart)
        let reference = StreamingSHA256()
        let result: CanonicalStream.Result
        do {
            result = try CanonicalStream.canonicalize(source, omitEnvelopedSignature: true,
                                                      textPath: { _ in ["Header", "Sender", "Country"] },
                                                      sink: { reference.update($0) })
        } catch let failure as HardenedDocumentParser.Failure {
            throw SignedDocument.error(failure, name: name)
        }
        if result.signatureElements > 0 {
            throw FWXError(.usage, "\(name) is already signed; sign the unsigned batch", location: name)
        }
        guard let endTag = Self.rootEndTag(in: tail, rootName: Array(result.rootQualifiedName.utf8)) else { return nil }

        let scratch = try SignatureScratch()
        let signature = try template(in: scratch.document, name: name) { xmlDocSetRootElement(scratch.document, $0) == nil }
        let key = try duplicateKey()
        defer { xmlSecKeyDestroy(key) }
        try fill(signature, referenceDigest: reference.finish(), key: key, name: name)
        return StreamedSignature(element: try scratch.serialized(signature), insertionOffset: tailStart + endTag,
                                 senderCountry: result.text)
    }

    /// The offset in `tail` (the document's last bytes) of `</rootName S? >` when only whitespace follows it.
    static func rootEndTag(in tail: [UInt8], rootName: [UInt8]) -> Int? {
        let whitespace: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D]
        var end = tail.count
        while end > 0, whitespace.contains(tail[end - 1]) { end -= 1 }
        guard end > 0, tail[end - 1] == UInt8(ascii: ">") else { return nil }
        var start = end - 1
        while start > 0, !(tail[start - 1] == UInt8(ascii: "<") && tail[start] == UInt8(ascii: "/")) { start -= 1 }
        guard start > 0 else { return nil }
        let nameStart = start + 1
        guard nameStart + rootName.count <= end - 1,
              Array(tail[nameStart..<(nameStart + rootName.count)]) == rootName,
              tail[(nameStart + rootName.count)..<(end - 1)].allSatisfy(whitespace.contains) else { return nil }
        return start - 1
    }

    private static func readRange(of path: String, from start: Int, count: Int) throws -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw FWXError(.io, "cannot open \(path): \(String(cString: strerror(errno)))", location: path)
        }
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let got = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, count - done, off_t(start + done)) }
            guard got > 0 else {
                if got < 0, errno == EINTR { continue }
                throw FWXError(.io, "cannot read \(path)", location: path)
            }
            done += got
        }
        return bytes
    }

    /// Writes all of `bytes` (no copy of them is made: the signed document is copied through one buffer).
    private static func writeAll(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) throws {
        var done = 0
        while done < bytes.count {
            let count = Glibc.write(descriptor, bytes.baseAddress! + done, bytes.count - done)
            guard count > 0 else {
                if count < 0, errno == EINTR { continue }
                throw FWXError(.io, "cannot write the signed document: \(String(cString: strerror(errno)))")
            }
            done += count
        }
    }
}

/// The small document a streamed signature is built in, freed with it.
private final class SignatureScratch {
    let document: xmlDocPtr

    init() throws {
        guard let document = xmlNewDoc("1.0") else { throw FWXError(.conversion, "cannot make the signature's document") }
        self.document = document
    }

    deinit { xmlFreeDoc(document) }

    /// `node` as libxml2 writes it inside a document (no XML declaration, no formatting added).
    func serialized(_ node: xmlNodePtr) throws -> [UInt8] {
        guard let buffer = xmlBufferCreate() else { throw FWXError(.conversion, "cannot serialise the signature") }
        defer { xmlBufferFree(buffer) }
        guard xmlNodeDump(buffer, document, node, 0, 0) >= 0, let content = xmlBufferContent(buffer) else {
            throw FWXError(.conversion, "cannot serialise the signature")
        }
        return Array(UnsafeBufferPointer(start: content, count: Int(xmlBufferLength(buffer))))
    }
}
