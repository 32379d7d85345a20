public import FWXModel
import Foundation

/// The result of validating one document: findings (sorted by position) and what was read.
public struct ValidationReport: Sendable, Codable {
    public var file: String
    public var findings: [Finding]
    public var errorCount: Int
    public var warningCount: Int
    /// Findings counted but not kept because ``BatchValidator/maxFindings`` was reached.
    public var findingsNotShown: Int
    public var records: Int
    public var bytes: Int

    /// Valid means no errors; warnings are allowed.
    public var isValid: Bool { errorCount == 0 }

    public init(file: String, findings: [Finding], errorCount: Int, warningCount: Int, findingsNotShown: Int,
                records: Int, bytes: Int) {
        self.file = file
        self.findings = findings
        self.errorCount = errorCount
        self.warningCount = warningCount
        self.findingsNotShown = findingsNotShown
        self.records = records
        self.bytes = bytes
    }
}

/// Looks at the header and records as validation passes them, after the rules have checked them. Both closures
/// return findings to add to the report (for example when a record cannot be converted).
public struct ValidationObserver {
    /// The header tree and the root's schemaVersion.
    public var header: (ElementTree, String) throws -> [Finding]
    /// A record tree and whether it passed the schema.
    public var record: (ElementTree, Bool) throws -> [Finding]

    public init(header: @escaping (ElementTree, String) throws -> [Finding] = { _, _ in [] },
                record: @escaping (ElementTree, Bool) throws -> [Finding] = { _, _ in [] }) {
        self.header = header
        self.record = record
    }
}

/// Layered validation of batches: hardened well-formedness, XSD through libxml2, then FWX's business rules,
/// record by record, in one streaming pass with memory that does not grow with the file.
public struct BatchValidator: Sendable {
    /// Most findings kept per document; further ones are only counted.
    public var maxFindings: Int
    public var limits: ParserLimits
    /// "Now" for the future-date rule, in seconds since 1970; the clock when nil.
    public var now: Double?
    /// Whether the parser may use a second thread (see ``BatchStreamParser/usesSecondThread``).
    public var usesSecondThread = true
    /// The document kinds taken (``BatchStreamParser/acceptedKinds``): v1 unless told otherwise, since most readers
    /// decode what they validate; `fwx validate`, `fwx sign` and `fwx verify` take every version
    /// (``SchemaRegistry/validatingKinds``).
    public var acceptedKinds: [SchemaRegistry.DocumentKind] = SchemaRegistry.v1Kinds
    public let registry: SchemaRegistry

    public init(registry: SchemaRegistry = .shared, limits: ParserLimits = ParserLimits(), maxFindings: Int = 1000,
                now: Double? = nil) {
        self.registry = registry
        self.limits = limits
        self.maxFindings = maxFindings
        self.now = now
    }

    /// Validates the file at `path`.
    public func validate(path: String, progress: @escaping (Int, Int?) -> Void = { _, _ in }) throws -> ValidationReport {
        try validate(try ByteSource(path: path), progress: progress)
    }

    /// Validates a document from any source. Throws only for I/O or set-up failures.
    public func validate(_ source: ByteSource, progress: @escaping (Int, Int?) -> Void = { _, _ in }) throws
        -> ValidationReport
    {
        try validate(source, observer: ValidationObserver(), progress: progress)
    }

    /// Validates a document and shows the observer the header and each record once the rules have checked them
    /// (for readers that convert while validating). The findings an observer returns join the report; the first
    /// error an observer throws ends the observing and is rethrown once the document has been read.
    public func validate(_ source: ByteSource, observer: ValidationObserver,
                         progress: @escaping (Int, Int?) -> Void = { _, _ in }) throws -> ValidationReport {
        try validate(source, observer: observer, canonicalTap: nil, progress: progress)
    }

    /// ``validate(_:observer:progress:)``, with the parse's events also handed to `canonicalTap` (the document's
    /// canonical form from the same parse, for its signature).
    package func validate(_ source: ByteSource, observer: ValidationObserver, canonicalTap: CanonicalStream.Tap?,
                          progress: @escaping (Int, Int?) -> Void = { _, _ in }) throws -> ValidationReport {
        let state = ValidationState(file: source.name, now: now ?? Date().timeIntervalSince1970, cap: maxFindings)
        var events = BatchEvents()
        events.canonicalTap = canonicalTap
        events.finding = { state.add($0) }
        events.header = { tree, schemaVersion in
            // Only a v2 namespace's schema admits a 2.x version (a 2.x in v1 is an S001 finding already).
            state.rules.isV2 = schemaVersion.hasPrefix("2.")
            state.rules.checkHeader(tree, emit: state.add)
            state.observe { try observer.header(tree, schemaVersion) }
        }
        events.record = { tree, schemaValid in
            state.records += 1
            // Business rules assume schema-valid content; a record that failed the schema already has findings.
            state.rules.checkRecord(tree, schemaValid: schemaValid, emit: state.add)
            state.observe { try observer.record(tree, schemaValid) }
        }
        let total = source.totalSize
        events.progress = { progress($0, total) }
        var parser = BatchStreamParser(registry: registry, limits: limits, validateSchema: true,
                                       usesSecondThread: usesSecondThread)
        parser.acceptedKinds = acceptedKinds
        try parser.parse(source, events: events)
        // After a fatal parse error the batch was cut short: links to records never read prove nothing.
        if !state.parseFailed { state.rules.finish(emit: state.add) }
        if let failure = state.observerFailure { throw failure }
        state.findings.sort { ($0.location.line, $0.location.column) < ($1.location.line, $1.location.column) }
        return ValidationReport(file: source.name, findings: state.findings, errorCount: state.errors,
                                warningCount: state.warnings, findingsNotShown: state.dropped,
                                records: state.records, bytes: source.bytesRead)
    }
}

/// Mutable state of one validation, shared by the parser's event closures.
private final class ValidationState {
    var rules: BatchRuleChecker
    var findings: [Finding] = []
    var errors = 0
    var warnings = 0
    var dropped = 0
    var records = 0
    /// Whether the parser stopped early (not well-formed, DOCTYPE, unknown document, limit).
    var parseFailed = false
    let cap: Int

    init(file: String, now: Double, cap: Int) {
        self.rules = BatchRuleChecker(file: file, now: now)
        self.cap = cap
    }

    /// The first error an observer threw; no observer is called after it.
    var observerFailure: (any Error)?

    func observe(_ body: () throws -> [Finding]) {
        guard observerFailure == nil else { return }
        do {
            for finding in try body() { add(finding) }
        } catch {
            observerFailure = error
        }
    }

    func add(_ finding: Finding) {
        if finding.severity == .error { errors += 1 } else { warnings += 1 }
        if finding.rule.hasPrefix("FWX-P") { parseFailed = true }
        if findings.count < cap { findings.append(finding) } else { dropped += 1 }
    }
}
