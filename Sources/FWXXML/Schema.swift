import CLibXML2
import FWXModel
import Foundation
import Synchronization

/// Process-wide libxml2 set-up, done once before any parser is created (libxml2 requires it for threads).
enum LibXML2 {
    private static let initialised: Bool = {
        xmlInitParser()
        // libxml2 prints to stderr by default, on every thread whose handlers nobody set: not for FWX.
        CLibXML2_silenceErrorsByDefault()
        return true
    }()

    static func ensureInitialised() { _ = initialised }
}

/// A compiled XSD schema. Compiled once per process and shared: libxml2 allows one `xmlSchemaPtr` to be used by
/// many validation contexts on many threads at once, as long as nobody changes it.
public final class CompiledSchema: @unchecked Sendable {
    // @unchecked Sendable: the schema pointer is written once in init and never mutated afterwards; libxml2
    // documents compiled schemas as read-only during validation, so sharing across threads is safe.
    let pointer: xmlSchemaPtr
    /// The namespace the schema defines.
    public let namespace: String
    /// The file it was compiled from.
    public let path: String

    /// Compiles the schema at `path`. Throws with libxml2's messages when the schema itself is broken.
    public init(path: String, namespace: String) throws {
        XMLHardening.prepareThread()
        guard let parserContext = xmlSchemaNewParserCtxt(path) else {
            throw FWXError(.schemaUnavailable, "cannot read schema \(path)", location: path)
        }
        defer { xmlSchemaFreeParserCtxt(parserContext) }
        let collector = MessageCollector()
        let unmanaged = Unmanaged.passRetained(collector)
        defer { unmanaged.release() }
        xmlSchemaSetParserStructuredErrors(parserContext, { userData, error in
            guard let userData, let error else { return }
            let collector = Unmanaged<MessageCollector>.fromOpaque(userData).takeUnretainedValue()
            collector.add(error.pointee)
        }, unmanaged.toOpaque())
        guard let schema = xmlSchemaParse(parserContext) else {
            throw FWXError(.schemaUnavailable,
                           "schema \(path) does not compile: \(collector.messages.prefix(5).joined(separator: "; "))",
                           location: path)
        }
        self.pointer = schema
        self.namespace = namespace
        self.path = path
    }

    deinit { xmlSchemaFree(pointer) }

    /// Validates the file at `path` against this schema alone, streaming (no tree, no business rules): libxml2's
    /// messages, at most `limit`, empty when the file is valid. For documents FWX made itself (`fwx upgrade`
    /// checks its output against v2 this way); documents from elsewhere go through ``BatchValidator``.
    public func messages(validatingFile path: String, limit: Int = 20) -> [String] {
        XMLHardening.prepareThread()
        guard let context = xmlSchemaNewValidCtxt(pointer) else { return ["cannot create a validation context"] }
        defer { xmlSchemaFreeValidCtxt(context) }
        let collector = MessageCollector()
        let unmanaged = Unmanaged.passRetained(collector)
        defer { unmanaged.release() }
        xmlSchemaSetValidStructuredErrors(context, { userData, error in
            guard let userData, let error else { return }
            let collector = Unmanaged<MessageCollector>.fromOpaque(userData).takeUnretainedValue()
            collector.add(error.pointee)
        }, unmanaged.toOpaque())
        let result = xmlSchemaValidateFile(context, path, 0)
        if result != 0 && collector.messages.isEmpty { return ["not valid (libxml2 code \(result))"] }
        return Array(collector.messages.prefix(limit))
    }
}

/// Collects libxml2 messages during schema compilation.
final class MessageCollector {
    var messages: [String] = []
    func add(_ error: xmlError) {
        let text = error.message.map { String(cString: $0) }?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
        messages.append("\(error.file.map { String(cString: $0) } ?? ""):\(error.line): \(text)")
    }
}

/// The bundled schemas, by namespace and root element. A document is always validated against the schema its
/// root namespace selects; `xsi:schemaLocation` in the document is never followed.
public final class SchemaRegistry: Sendable {
    /// One kind of document FWX knows: root element name, namespace and entry schema file.
    public struct DocumentKind: Sendable, Hashable {
        public var namespace: String
        public var rootElement: String
        public var schemaFile: String

        /// The schema version's folder, e.g. `v1`.
        public var versionFolder: String { String(schemaFile.prefix { $0 != "/" }) }
    }

    /// Batches of schema v1.
    public static let batchV1 = DocumentKind(namespace: BatchXMLWriter.namespace, rootElement: "Batch",
                                             schemaFile: "v1/batch.xsd")

    /// Receipts of schema v1.
    public static let receiptV1 = DocumentKind(namespace: BatchXMLWriter.namespace, rootElement: "Receipt",
                                               schemaFile: "v1/receipt.xsd")

    /// Batches of schema v2 (schemas/v2, docs/schema-v2.md).
    public static let batchV2 = DocumentKind(namespace: "urn:fwx:schema:v2", rootElement: "Batch",
                                             schemaFile: "v2/batch.xsd")

    /// Every document kind this build knows.
    public static let knownKinds: [DocumentKind] = [batchV1, receiptV1, batchV2]

    /// What a reader takes unless told otherwise: v1 batches and receipts. Readers that decode records into the
    /// model (converters, the node's intake) take only these until the model holds v2's fields.
    public static let v1Kinds: [DocumentKind] = [batchV1, receiptV1]

    /// What validation, signing and verification take: every kind this build has a schema for.
    public static let validatingKinds: [DocumentKind] = knownKinds

    /// The registry over the schemas bundled with FWX.
    public static let shared = SchemaRegistry(directory: SchemaRegistry.bundledDirectory())

    /// Folder holding `v1/…`, the first of: `$FWX_SCHEMA_DIR`; `share/fwx/schemas` or `schemas` beside the
    /// executable's folder (an installed copy); the `schemas/` folder of the source tree this library was built
    /// from (development builds and tests).
    public static func bundledDirectory() -> String {
        candidateDirectories().first { FileManager.default.fileExists(atPath: $0 + "/v1/batch.xsd") }
            ?? candidateDirectories().last!
    }

    /// Where FWX looks for its schemas, in order.
    public static func candidateDirectories() -> [String] {
        var candidates: [String] = []
        if let override = ProcessInfo.processInfo.environment["FWX_SCHEMA_DIR"], !override.isEmpty {
            candidates.append(override)
        }
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath()
        let binDirectory = executable.deletingLastPathComponent()
        candidates.append(binDirectory.deletingLastPathComponent().appendingPathComponent("share/fwx/schemas").path)
        candidates.append(binDirectory.appendingPathComponent("schemas").path)
        let sourceTree = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("schemas")
        candidates.append(sourceTree.path)
        return candidates
    }

    public let directory: String
    private let compiled = Mutex<[DocumentKind: CompiledSchema]>([:])

    public init(directory: String) {
        self.directory = directory
    }

    /// The document kind of a root element, or nil when FWX does not know it.
    public func kind(namespace: String, rootElement: String) -> DocumentKind? {
        Self.knownKinds.first { $0.namespace == namespace && $0.rootElement == rootElement }
    }

    /// The compiled schema for a document kind, compiled on first use and kept for the life of the process.
    public func schema(for kind: DocumentKind) throws -> CompiledSchema {
        if let schema = compiled.withLock({ $0[kind] }) { return schema }
        let path = directory + "/" + kind.schemaFile
        guard FileManager.default.fileExists(atPath: path) else {
            throw FWXError(.schemaUnavailable,
                "schema \(kind.schemaFile) not found; looked in \(Self.candidateDirectories().joined(separator: ", ")). Set FWX_SCHEMA_DIR to the schemas/ folder of FWX",
                location: path)
        }
        let schema = try CompiledSchema(path: path, namespace: kind.namespace)
        return compiled.withLock { cache in
            if let existing = cache[kind] { return existing }
            cache[kind] = schema
            return schema
        }
    }
}
