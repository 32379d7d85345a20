public import FWXModel
public import FWXXML
import Foundation

/// What reading (and validating) a batch found: the findings, as `fwx validate` reports them, and counts.
public struct BatchReadReport: Sendable {
    public var file: String
    /// Findings sorted by position, at most ``ValidatingBatchReader/maxFindings``.
    public var findings: [Finding]
    public var errorCount: Int
    public var warningCount: Int
    /// Findings counted but not kept.
    public var findingsNotShown: Int
    /// Records in the document.
    public var records: Int
    /// Records handed to the caller (those that passed the schema).
    public var recordsDelivered: Int
    public var bytes: Int

    /// Valid means no errors; warnings are allowed.
    public var isValid: Bool { errorCount == 0 }
}

/// Reads a batch XML document record by record as typed values, and validates it in the same streaming pass:
/// hardened parsing, the bundled XSD and FWX's business rules (``BatchRuleChecker``), exactly as `fwx validate`
/// does. Memory does not grow with the document.
///
/// Records that fail the schema are not handed over (their findings say why); everything else is, in document
/// order. Whether the result may be used is for the caller to decide from ``BatchReadReport/isValid``.
public struct ValidatingBatchReader {
    public var registry: SchemaRegistry
    public var limits: ParserLimits
    /// Most findings kept; further ones are only counted.
    public var maxFindings: Int
    /// "Now" for the future-date rule, in seconds since 1970; the clock when nil.
    public var now: Double?

    public init(registry: SchemaRegistry = .shared, limits: ParserLimits = ParserLimits(), maxFindings: Int = 1000,
                now: Double? = nil) {
        self.registry = registry
        self.limits = limits
        self.maxFindings = maxFindings
        self.now = now
    }

    /// Reads `source`, calling `header` once and then `record` for each schema-valid record. The first error one of
    /// them throws stops the handing over and is rethrown when the parse is over. `progress` gets the bytes read.
    /// Throws ``FWXError`` for I/O and set-up problems; problems in the document are findings.
    public func read(_ source: ByteSource, header: @escaping (BatchHeader) throws -> Void,
                     record: @escaping (Record) throws -> Void,
                     progress: @escaping (Int) -> Void = { _ in }) throws -> BatchReadReport {
        try read(source, canonicalTap: nil, header: header, record: record, progress: progress)
    }

    /// ``read(_:header:record:progress:)``, with the parse's events also handed to `canonicalTap`: the document's
    /// canonical form (for its signature) from the same pass that validates and decodes it.
    package func read(_ source: ByteSource, canonicalTap: CanonicalStream.Tap?,
                      header: @escaping (BatchHeader) throws -> Void, record: @escaping (Record) throws -> Void,
                      progress: @escaping (Int) -> Void = { _ in }) throws -> BatchReadReport {
        let state = ReadState()
        let observer = ValidationObserver(
            header: { tree, schemaVersion in
                do {
                    let decoded = try RecordDecoder(tree: tree, file: source.name).header(schemaVersion: schemaVersion)
                    state.headerDelivered = true
                    try header(decoded)
                    return []
                } catch let error as FWXError where error.code == .conversion {
                    return [Finding(severity: .error, rule: RuleID.schema,
                                    message: "the header cannot be read: \(error.message)",
                                    location: SourceLocation(file: source.name, line: Int(tree[tree.root].line), column: 0),
                                    xpath: tree.rootPath)]
                }
            },
            record: { tree, schemaValid in
                guard schemaValid, state.headerDelivered else { return [] }
                do {
                    let decoded = try RecordDecoder(tree: tree, file: source.name).record()
                    state.delivered += 1
                    try record(decoded)
                    return []
                } catch let error as FWXError where error.code == .conversion {
                    return [Finding(severity: .error, rule: RuleID.schema, message: error.message,
                                    location: SourceLocation(file: source.name, line: Int(tree[tree.root].line), column: 0),
                                    xpath: tree.rootPath)]
                }
            })
        let validator = BatchValidator(registry: registry, limits: limits, maxFindings: maxFindings, now: now)
        var report = try validator.validate(source, observer: observer, canonicalTap: canonicalTap) { bytes, _ in
            progress(bytes)
        }
        if !state.headerDelivered && report.errorCount == 0 {
            report.findings.insert(Finding(severity: .error, rule: RuleID.schema, message: "the document has no batch header",
                                           location: SourceLocation(file: source.name, line: 1, column: 1), xpath: ""),
                                   at: 0)
            report.errorCount += 1
        }
        return BatchReadReport(file: report.file, findings: report.findings, errorCount: report.errorCount,
                               warningCount: report.warningCount, findingsNotShown: report.findingsNotShown,
                               records: report.records, recordsDelivered: state.delivered, bytes: report.bytes)
    }
}

/// What one read hands over, shared by the observer's closures (which run one at a time).
private final class ReadState {
    var delivered = 0
    var headerDelivered = false
}
