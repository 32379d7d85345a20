import CLibXML2
import FWXModel
import Foundation

// The two stages of BatchStreamParser. Stage one (EventRecorder) runs inside libxml2's callbacks and does as
// little as possible: it checks limits and appends compact events to a chunk. Stage two (ParseSession) decodes
// the chunks, builds an element tree per record and hands it on. Names travel as pointers into the parser's
// dictionary, which outlives stage two because the parser is freed only after stage two has finished.

/// One recorded event's tag.
private enum EventTag: UInt8 {
    case start = 1, text, end, schemaError, parserError, fail
}

/// A block of recorded events.
final class EventChunk {
    let capacity: Int
    let bytes: UnsafeMutableRawPointer
    var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        self.bytes = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    deinit { bytes.deallocate() }
}

/// A bounded hand-over of chunks from the parsing thread to the consuming thread, with a free list so that
/// chunks are reused rather than reallocated.
final class ChunkQueue: @unchecked Sendable {
    // @unchecked Sendable: every field is read and written only while holding `condition`.
    private let condition = NSCondition()
    private var full: [EventChunk] = []
    private var free: [EventChunk] = []
    private var closed = false
    private let depth: Int

    init(depth: Int) { self.depth = depth }

    func put(_ chunk: EventChunk) {
        condition.lock()
        while full.count >= depth { condition.wait() }
        full.append(chunk)
        condition.broadcast()
        condition.unlock()
    }

    func take() -> EventChunk? {
        condition.lock()
        defer { condition.unlock() }
        while full.isEmpty && !closed { condition.wait() }
        guard !full.isEmpty else { return nil }
        let chunk = full.removeFirst()
        condition.broadcast()
        return chunk
    }

    func recycle(_ chunk: EventChunk) {
        condition.lock()
        chunk.count = 0
        if free.count < depth + 2 { free.append(chunk) }
        condition.unlock()
    }

    func freeChunk() -> EventChunk? {
        condition.lock()
        defer { condition.unlock() }
        return free.popLast()
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}

/// Runs a closure on a thread of its own and lets the caller wait for it.
final class ConsumerThread: @unchecked Sendable {
    // @unchecked Sendable: `done` is signalled once by the thread and waited on once by the owner.
    private let done = DispatchSemaphore(value: 0)

    init(_ body: @escaping @Sendable () -> Void) {
        let done = self.done
        let thread = Thread {
            body()
            done.signal()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    func join() { done.wait() }
}

/// Stage one: called by libxml2 on the parsing thread.
final class EventRecorder {
    static let chunkCapacity = 512 << 10

    let source: ByteSource
    let kind: SchemaRegistry.DocumentKind
    let limits: ParserLimits
    /// The pre-scan every byte passes before libxml2 gets it (``InputGuard``).
    let inputGuard: InputGuard
    let session: ParseSession
    let progress: (Int) -> Void
    var parser: xmlParserCtxtPtr?
    /// Gets the parse's events too (``BatchEvents/canonicalTap``), on this thread.
    var canonicalTap: CanonicalStream.Tap?
    /// A kind FWX knows that this parse does not take (``BatchStreamParser/acceptedKinds``): refused at the root.
    var refusedKind: SchemaRegistry.DocumentKind?
    var acceptedKinds: [SchemaRegistry.DocumentKind] = SchemaRegistry.v1Kinds
    private(set) var readFailed = false
    private var stopped = false
    private var chunk: EventChunk
    private let queue: ChunkQueue?
    private var consumer: ConsumerThread?
    private var depth = 0
    private var elementsInRecord = 0
    private var textInElement = 0
    private var lastProgress = 0
    /// The pre-scan stopped the input: libxml2 got the bytes before the violation, and gets nothing more.
    private var inputStopped = false

    init(source: ByteSource, kind: SchemaRegistry.DocumentKind, limits: ParserLimits, inputGuard: InputGuard,
         session: ParseSession, progress: @escaping (Int) -> Void, pipelined: Bool) {
        self.source = source
        self.kind = kind
        self.limits = limits
        self.inputGuard = inputGuard
        self.session = session
        self.progress = progress
        self.chunk = EventChunk(capacity: Self.chunkCapacity)
        self.queue = pipelined ? ChunkQueue(depth: 4) : nil
    }

    static func from(_ context: UnsafeMutableRawPointer?) -> EventRecorder {
        Unmanaged<EventRecorder>.fromOpaque(context!).takeUnretainedValue()
    }

    /// Starts the consuming thread (pipelined mode).
    func start() {
        guard let queue else { return }
        // The session is used by the consumer thread only, until `finish` has joined it.
        let session = UncheckedBox(session)
        consumer = ConsumerThread {
            while let chunk = queue.take() {
                session.value.consume(chunk)
                queue.recycle(chunk)
            }
        }
    }

    /// Hands over what is left and waits until stage two has processed everything.
    func finish() {
        flush()
        if let queue {
            queue.close()
            consumer?.join()
        }
        session.finish()
    }

    private func flush() {
        guard chunk.count > 0 else { return }
        if let queue {
            queue.put(chunk)
            chunk = queue.freeChunk() ?? EventChunk(capacity: Self.chunkCapacity)
        } else {
            session.consume(chunk)
            chunk.count = 0
        }
    }

    // MARK: Writing events

    @inline(__always)
    private func ensure(_ bytes: Int) {
        if chunk.count + bytes > chunk.capacity {
            flush()
            // Only with limits above the chunk size (ParserLimits is public): one event that needs a bigger chunk.
            if bytes > chunk.capacity { chunk = EventChunk(capacity: bytes) }
        }
    }

    @inline(__always)
    private func put<T>(_ value: T) {
        chunk.bytes.storeBytes(of: value, toByteOffset: chunk.count, as: T.self)
        chunk.count += MemoryLayout<T>.size
    }

    @inline(__always)
    private func putBytes(_ pointer: UnsafeRawPointer, _ count: Int) {
        (chunk.bytes + chunk.count).copyMemory(from: pointer, byteCount: count)
        chunk.count += count
    }

    private func putMessage(_ tag: EventTag, line: Int32, column: Int32, code: UInt8, _ message: String) {
        var text = message
        text.withUTF8 { utf8 in
            let count = min(utf8.count, 8192)
            ensure(16 + count)
            put(tag.rawValue)
            put(code)
            put(line)
            put(column)
            put(UInt32(count))
            putBytes(utf8.baseAddress!, count)
        }
    }

    // MARK: libxml2 callbacks

    func read(into buffer: UnsafeMutablePointer<CChar>, count: Int) -> Int {
        // After a violation libxml2 has parsed what came before it, in order; now it gets the end of the input
        // (the errors it then raises are not reported: the violation is the finding).
        if inputStopped {
            failOnInput()
            return 0
        }
        let n = source.read(into: buffer, count: count)
        if n < 0 { readFailed = true }
        if source.bytesRead - lastProgress >= 4 << 20 {
            lastProgress = source.bytesRead
            progress(source.bytesRead)
        }
        guard n > 0 else { return n }
        let allowed = inputGuard.allow(buffer, count: n)
        if allowed < n {
            inputStopped = true
            if allowed == 0 {
                failOnInput()
                return 0
            }
        }
        return allowed
    }

    /// Reports the pre-scan's violation (from inside libxml2's read callback, where the parser must not be halted:
    /// the end of the input stops it).
    private func failOnInput() {
        guard let violation = inputGuard.violation else { return }
        let reason: FailReason = switch violation.kind {
        case .doctype: .doctype
        case .encoding: .encoding
        case .depth: .depth
        case .attributes, .startTagSize: .attributes
        }
        fail(reason, Int32(clamping: violation.line), Int32(clamping: violation.column), violation.message,
             haltParser: false)
    }

    func startElement(_ localName: UnsafePointer<xmlChar>?, _ uri: UnsafePointer<xmlChar>?, _ attributeCount: Int,
                      _ attributes: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?) {
        guard !stopped, let localName else { return }
        depth += 1
        textInElement = 0
        var line: Int32 = 0
        var column: Int32 = 0
        CLibXML2_startTagPosition(parser, &line, &column)
        if depth > limits.maxDepth {
            fail(.depth, line, column,
                 "elements are nested more than \(limits.maxDepth) deep; FWX batches need far fewer levels")
            return
        }
        if depth == 1 {
            let namespace = uri.map { String(cString: $0) } ?? ""
            let name = String(cString: localName)
            if let refused = refusedKind, namespace == refused.namespace, name == refused.rootElement {
                let taken = acceptedKinds.filter { $0.rootElement == name }.map(\.versionFolder)
                fail(.unknownDocument, line, column,
                     "root element \(name.quotedForMessage) is a schema \(refused.versionFolder) document (\(namespace.quotedForMessage)), which this reader does not take; it takes \(taken.isEmpty ? "no \(name.quotedForMessage)" : taken.joined(separator: ", ")). `fwx validate`, `fwx sign` and `fwx verify` read every version")
                return
            }
            guard namespace == kind.namespace, name == kind.rootElement else {
                let shown = namespace.isEmpty ? "no namespace" : "namespace \(namespace.quotedForMessage)"
                let batches = acceptedKinds.filter { $0.rootElement == "Batch" }
                    .map { "<Batch xmlns=\"\($0.namespace)\">" }.joined(separator: " or ")
                fail(.unknownDocument, line, column,
                     "root element \(name.quotedForMessage) in \(shown) is not a document FWX knows; a batch is \(batches)")
                return
            }
        }
        if depth <= 3 { elementsInRecord = 0 }
        elementsInRecord += 1
        if elementsInRecord > limits.maxElementsPerRecord {
            fail(.elements, line, column, "more than \(limits.maxElementsPerRecord) elements in one record")
            return
        }
        var attributeBytes = 0
        if attributeCount > 0, let attributes {
            for index in 0..<attributeCount {
                let base = attributes + index * 5
                if let start = base[3], let end = base[4] { attributeBytes += end - start + 12 }
            }
            if attributeCount > min(limits.maxAttributesPerElement, Int(UInt16.max)) {
                fail(.attributes, line, column,
                     "an element has more than \(limits.maxAttributesPerElement) attributes; FWX elements have at most a few")
                return
            }
            if attributeBytes > limits.maxTextBytes {
                fail(.text, line, column, "an element's attributes are longer than \(limits.maxTextBytes) bytes")
                return
            }
        }
        ensure(24 + attributeBytes)
        put(EventTag.start.rawValue)
        put(UInt(bitPattern: localName))
        put(line)
        put(column)
        put(UInt16(attributeCount))
        if attributeCount > 0, let attributes {
            for index in 0..<attributeCount {
                let base = attributes + index * 5
                guard let start = base[3], let end = base[4] else {
                    put(UInt(0))
                    put(UInt32(0))
                    continue
                }
                put(UInt(bitPattern: base[0]))
                put(UInt32(end - start))
                putBytes(start, end - start)
            }
        }
    }

    func characters(_ characters: UnsafePointer<xmlChar>?, _ length: Int) {
        guard !stopped, let characters, depth >= 2 else { return }
        // White space before any text of an element is either indentation between elements or leading space
        // that trimming removes: either way it changes nothing, so it is not recorded.
        if textInElement == 0 {
            var index = 0
            while index < length {
                let byte = characters[index]
                guard byte == 0x20 || byte == 0x0A || byte == 0x09 || byte == 0x0D else { break }
                index += 1
            }
            if index == length { return }
        }
        textInElement += length
        if textInElement > limits.maxTextBytes {
            fail(.text, Int32(CLibXML2_currentLine(parser)), Int32(CLibXML2_currentColumn(parser)),
                 "an element's text is longer than \(limits.maxTextBytes) bytes")
            return
        }
        ensure(5 + length)
        put(EventTag.text.rawValue)
        put(UInt32(length))
        putBytes(characters, length)
    }

    func endElement() {
        guard !stopped else { return }
        depth -= 1
        textInElement = 0
        ensure(1)
        put(EventTag.end.rawValue)
    }

    func refuseDoctype() {
        fail(.doctype, Int32(CLibXML2_currentLine(parser)), 1,
             "DOCTYPE declarations are not allowed in FWX documents (no DTDs, no entities); remove the <!DOCTYPE …> line")
    }

    func parserError(_ error: xmlError) {
        guard !stopped else { return }
        // Warnings (level 1) are not findings; errors and fatal errors make the document not well-formed.
        guard error.level.rawValue >= XML_ERR_ERROR.rawValue else { return }
        let fatal = error.level.rawValue >= XML_ERR_FATAL.rawValue
        putMessage(.parserError, line: error.line, column: error.int2, code: fatal ? 1 : 0,
                   "not well-formed XML: \(ParseSession.clean(error.message))")
        if fatal { stopped = true }
    }

    func schemaError(_ error: xmlError) {
        guard !stopped, error.level.rawValue >= XML_ERR_ERROR.rawValue else { return }
        putMessage(.schemaError, line: error.line, column: 0, code: 0, ParseSession.clean(error.message))
    }

    enum FailReason: UInt8 { case depth = 1, elements, text, doctype, unknownDocument, attributes, encoding }

    private func fail(_ reason: FailReason, _ line: Int32, _ column: Int32, _ message: String, haltParser: Bool = true) {
        guard !stopped else { return }
        putMessage(.fail, line: line, column: column, code: reason.rawValue, message)
        stopped = true
        if haltParser, let parser { xmlStopParser(parser) }
    }
}

/// Wraps a value handed to exactly one other thread, which uses it until it is joined.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Stage two: decodes events, builds one element tree per header or record, and hands them on.
final class ParseSession {
    private enum Capture { case none, header, record }

    let fileName: String
    let kind: SchemaRegistry.DocumentKind
    let events: BatchEvents

    private var depth = 0
    private var outsidePath: [String] = []
    private var inRecords = false
    private var capture = Capture.none
    private var captureStack: [Int] = []
    private var tree = ElementTree()
    private var pending = Capture.none
    private var pendingSchemaValid = true
    private var captureSchemaValid = true
    private var justClosed: Int?
    private var schemaVersion = ""
    private var recordCounts: [String: Int] = [:]
    private var text: [UInt8] = []
    private var nameCache: [UInt: String] = [:]
    private var deferredFindings: [(node: Int, message: String)] = []
    private var lastLine: Int32 = 0
    private var lastColumn: Int32 = 0

    init(fileName: String, kind: SchemaRegistry.DocumentKind, events: BatchEvents) {
        self.fileName = fileName
        self.kind = kind
        self.events = events
        text.reserveCapacity(256)
    }

    /// Processes one chunk of events.
    func consume(_ chunk: EventChunk) {
        let bytes = UnsafeRawPointer(chunk.bytes)
        var offset = 0
        @inline(__always) func read<T>(_: T.Type) -> T {
            let value = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
            offset += MemoryLayout<T>.size
            return value
        }
        while offset < chunk.count {
            guard let tag = EventTag(rawValue: read(UInt8.self)) else { return }
            switch tag {
            case .start:
                let namePointer = read(UInt.self)
                let line = read(Int32.self)
                let column = read(Int32.self)
                let attributeCount = Int(read(UInt16.self))
                var attributes: [(name: String, value: String)] = []
                if attributeCount > 0 {
                    attributes.reserveCapacity(attributeCount)
                    for _ in 0..<attributeCount {
                        let attributeName = read(UInt.self)
                        let length = Int(read(UInt32.self))
                        let value = Self.trimmed(UnsafeBufferPointer(
                            start: (bytes + offset).assumingMemoryBound(to: UInt8.self), count: length))
                        offset += length
                        if attributeName != 0 { attributes.append((name(attributeName), value)) }
                    }
                }
                startElement(name(namePointer), attributes, line, column)
            case .text:
                let length = Int(read(UInt32.self))
                characters(UnsafeRawBufferPointer(start: bytes + offset, count: length))
                offset += length
            case .end:
                endElement()
            case .schemaError, .parserError, .fail:
                let code = read(UInt8.self)
                let line = read(Int32.self)
                let column = read(Int32.self)
                let length = Int(read(UInt32.self))
                let message = String(decoding: UnsafeRawBufferPointer(start: bytes + offset, count: length),
                                     as: UTF8.self)
                offset += length
                switch tag {
                case .schemaError: schemaError(message)
                case .parserError: parserError(message, line: line, column: column)
                default: fail(code, message, line: line, column: column)
                }
            }
        }
    }

    /// Delivers what is still pending at the end of the document.
    func finish() {
        flushPending()
        // A record cut short by a fatal error: its findings still count, with positions as far as known.
        emitDeferred(complete: false)
    }

    private func name(_ pointer: UInt) -> String {
        if let cached = nameCache[pointer] { return cached }
        let name = String(cString: UnsafePointer<CChar>(bitPattern: pointer)!)
        // libxml2 interns names in the parser's dictionary, so the pointer identifies the name for this parse.
        if nameCache.count < 4096 { nameCache[pointer] = name }
        return name
    }

    // MARK: Tree building

    private func startElement(_ elementName: String, _ attributes: [(name: String, value: String)],
                              _ line: Int32, _ column: Int32) {
        flushPending()
        justClosed = nil
        depth += 1
        lastLine = line
        lastColumn = column
        if !text.isEmpty { text.removeAll(keepingCapacity: true) }
        if depth == 1 {
            schemaVersion = attributes.first { $0.name == "schemaVersion" }?.value ?? ""
            outsidePath = [elementName]
            return
        }
        if capture == .none {
            if depth == 2 && elementName == "Header" {
                begin(.header, rootPath: "/fwx:\(kind.rootElement)/fwx:Header")
            } else if depth == 3 && inRecords {
                let position = (recordCounts[elementName] ?? 0) + 1
                recordCounts[elementName] = position
                begin(.record, rootPath: "/fwx:\(kind.rootElement)/fwx:Records/fwx:\(elementName)[\(position)]")
            } else {
                if depth == 2 && elementName == "Records" { inRecords = true }
                outsidePath.append(elementName)
                return
            }
        }
        let node = tree.append(name: elementName, attributes: attributes, line: Int(line), column: Int(column),
                               parent: captureStack.last ?? -1)
        captureStack.append(node)
    }

    private func begin(_ kind: Capture, rootPath: String) {
        capture = kind
        tree.removeAll(rootPath: rootPath)
        captureStack.removeAll(keepingCapacity: true)
        captureSchemaValid = true
    }

    private func characters(_ bytes: UnsafeRawBufferPointer) {
        if pending != .none { flushPending() }
        justClosed = nil
        guard capture != .none, !captureStack.isEmpty else { return }
        text.append(contentsOf: bytes)
    }

    private func endElement() {
        flushPending()
        if capture != .none, let node = captureStack.popLast() {
            if tree[node].firstChild < 0, !text.isEmpty {
                tree.setText(text.withUnsafeBufferPointer { Self.trimmed($0) }, of: node)
            }
            if !text.isEmpty { text.removeAll(keepingCapacity: true) }
            justClosed = node
            if captureStack.isEmpty {
                pending = capture
                pendingSchemaValid = captureSchemaValid
                capture = .none
            }
        } else {
            justClosed = nil
            if depth == 2 && outsidePath.last == "Records" { inRecords = false }
            if !outsidePath.isEmpty { outsidePath.removeLast() }
        }
        depth -= 1
    }

    static func trimmed(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        var start = 0
        var end = bytes.count
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x09 || byte == 0x0D }
        while start < end, isSpace(bytes[start]) { start += 1 }
        while end > start, isSpace(bytes[end - 1]) { end -= 1 }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
    }

    /// Delivers a header or record whose end tag has passed, once the schema validator has had its say on it.
    private func flushPending() {
        guard pending != .none else { return }
        let delivered = pending
        pending = .none
        justClosed = nil
        emitDeferred(complete: true)
        switch delivered {
        case .header: events.header(tree, schemaVersion)
        case .record: events.record(tree, pendingSchemaValid)
        case .none: break
        }
    }

    // MARK: Findings

    private func currentPosition() -> (line: Int, column: Int, xpath: String) {
        if let node = justClosed ?? captureStack.last, !tree.isEmpty {
            // While a header or record is still open, its later elements are not known yet.
            return (Int(tree[node].line), Int(tree[node].column), tree.xpath(node, complete: capture == .none))
        }
        let path = outsidePath.isEmpty ? "" : "/" + outsidePath.map { "fwx:\($0)" }.joined(separator: "/")
        return (Int(lastLine), Int(lastColumn), path)
    }

    private func emit(_ rule: String, _ message: String, line: Int, column: Int, xpath: String) {
        events.finding(Finding(severity: .error, rule: rule, message: message,
                               location: SourceLocation(file: fileName, line: line, column: column), xpath: xpath))
    }

    private func fail(_ code: UInt8, _ message: String, line: Int32, column: Int32) {
        let rule: String = switch EventRecorder.FailReason(rawValue: code) {
        case .doctype: RuleID.doctypeRefused
        case .unknownDocument: RuleID.unknownDocument
        case .encoding: RuleID.notWellFormed
        default: RuleID.limitExceeded
        }
        let xpath = currentPosition().xpath
        emit(rule, message, line: Int(line), column: Int(column), xpath: xpath)
    }

    private func parserError(_ message: String, line: Int32, column: Int32) {
        emit(RuleID.notWellFormed, message, line: Int(line), column: Int(column), xpath: currentPosition().xpath)
    }

    private func schemaError(_ message: String) {
        if pending != .none { pendingSchemaValid = false } else if capture != .none { captureSchemaValid = false }
        // Inside an open header or record the element's position among later siblings is not known yet: the
        // finding waits until the record is complete, so its XPath names exactly one element.
        if capture != .none, let node = justClosed ?? captureStack.last, !tree.isEmpty {
            deferredFindings.append((node, message))
            return
        }
        let position = currentPosition()
        emit(RuleID.schema, message, line: position.line, column: position.column, xpath: position.xpath)
    }

    /// Emits the schema findings held back while their record was open.
    private func emitDeferred(complete: Bool) {
        for (node, message) in deferredFindings {
            emit(RuleID.schema, message, line: Int(tree[node].line), column: Int(tree[node].column),
                 xpath: tree.xpath(node, complete: complete))
        }
        deferredFindings.removeAll()
    }

    /// libxml2's message, on one line, with the FWX namespace written as its prefix.
    static func clean(_ message: UnsafeMutablePointer<CChar>?) -> String {
        guard let message else { return "unknown error" }
        var text = String(cString: message)
        while let last = text.last, last.isWhitespace { text.removeLast() }
        let folder = text.contains("{\(SchemaRegistry.batchV2.namespace)}") ? "v2" : "v1"
        text = text.replacingOccurrences(of: "{\(BatchXMLWriter.namespace)}", with: "fwx:")
            .replacingOccurrences(of: "{\(SchemaRegistry.batchV2.namespace)}", with: "fwx:")
            .replacingOccurrences(of: "\n", with: " ")
        // A wrong country code would list all 250 codes: name the code list instead.
        if let set = text.range(of: "is not an element of the set {"), text.count > 300 {
            text = String(text[..<set.lowerBound]) + "is not in the code list (schemas/\(folder)/codelists.xsd)."
        }
        return text
    }
}
