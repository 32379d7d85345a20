/// Builds the typed model from element trees read by the streaming parser. Trees of schema-valid documents always
/// decode; for anything else the error names the element and its line.
public struct RecordDecoder {
    let tree: ElementTree
    private let file: String

    public init(tree: ElementTree, file: String) {
        self.tree = tree
        self.file = file
    }

    /// Decodes a `Header` tree (schema version comes from the root element's attribute).
    public func header(schemaVersion: String) throws -> BatchHeader {
        let header = tree.root
        let sender = try required(header, "Sender")
        let recipientsNode = try required(header, "Recipients")
        let recipients: Recipients = tree.child(recipientsNode, "AllPartners") != nil
            ? .allPartners : .countries(tree.children(recipientsNode, named: "Country").map(tree.text))
        let sequenceText = try text(header, "SequenceNumber")
        guard let sequence = UInt64(sequenceText) else { throw problem(header, "SequenceNumber is not a whole number") }
        return BatchHeader(
            schemaVersion: schemaVersion,
            batchId: try text(header, "BatchId"),
            sender: NodeIdentity(country: try text(sender, "Country"), agencyId: try text(sender, "AgencyId")),
            recipients: recipients,
            createdAt: try text(header, "CreatedAt"),
            sequenceNumber: sequence,
            defaultHandlingCode: try code(try required(header, "DefaultHandlingCode")))
    }

    /// Decodes a `Seizure` or `Shipment` tree.
    public func record() throws -> Record {
        let root = tree.root
        switch tree.name(root) {
        case "Seizure": return .seizure(try part(root, FieldTable.v1.seizure))
        case "Shipment": return .shipment(try part(root, FieldTable.v1.shipment))
        default: throw problem(root, "expected a Seizure or Shipment element, found \(tree.name(root))")
        }
    }

    // MARK: Parts

    /// Reads the element `node` as a `Part`, entry by entry of its table, starting from the table's blank value.
    func part<Part>(_ node: Int, _ table: PartTable<Part>) throws -> Part {
        var value = table.blank
        try table.codecs.withUnsafeBufferPointer { fields in
            var index = 0
            while index < fields.count {
                guard fields[index].isChoice else {
                    _ = try fields[index].read(&value, self, node)
                    index += 1
                    continue
                }
                // A choice: the first alternative present is read; with none, the message names the last one.
                var found = false
                while index < fields.count, fields[index].isChoice {
                    if !found { found = try fields[index].read(&value, self, node) }
                    index += 1
                }
                if !found { throw problem(node, "\(tree.name(node)) has no \(table.names[index - 1])") }
            }
        }
        return value
    }

    // MARK: Scalars

    func problem(_ node: Int, _ message: String) -> FWXError {
        FWXError(.conversion, "\(message) (at \(tree.xpath(node)))",
                 location: "\(file):\(tree[node].line):\(tree[node].column)")
    }

    func required(_ node: Int, _ name: String) throws -> Int {
        guard let child = tree.child(node, name) else { throw problem(node, "\(tree.name(node)) has no \(name)") }
        return child
    }

    func text(_ node: Int, _ name: String) throws -> String {
        tree.text(try required(node, name))
    }

    /// The whole number in `node`; `kind` is `.integer` or `.year` (which only changes the message).
    func integer(_ node: Int, _ kind: ValueKind) throws -> Int {
        guard let value = Int(tree.text(node)) else {
            if case .year = kind { throw problem(node, "\(tree.name(node)) is not a year") }
            throw problem(node, "\(tree.name(node)) is not a whole number")
        }
        return value
    }

    func number(_ node: Int) throws -> Double {
        guard let value = Double(tree.text(node)), value.isFinite else {
            throw problem(node, "\(tree.name(node)) is not a decimal number")
        }
        return value
    }

    /// The code in `node`.
    func code<T: RawRepresentable>(_ node: Int) throws -> T where T.RawValue == String {
        guard let value = T(rawValue: tree.text(node)) else {
            throw problem(node, "\(tree.name(node)) \(tree.text(node).quotedForMessage) is not a code of its list")
        }
        return value
    }
}
