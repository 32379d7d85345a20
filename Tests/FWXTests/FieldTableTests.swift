import FWXConvert
import FWXModel
import FWXXML
import Foundation
import FoundationXML
import Testing

// The v1 field table (FieldTableV1.swift) against the things it describes: the XSD's sequences, the model's
// properties (a record of each kind with every field filled goes through writer and reader unchanged), and the CSV
// catalogue's field names and element paths.

@Suite("Field table v1")
struct FieldTableTests {
    // MARK: The XSD

    /// records.xsd, read by each test (an XMLDocument is not to be shared between tests running at once).
    private static func readXSD() throws -> XMLDocument {
        try XMLDocument(contentsOf: URL(fileURLWithPath: Paths.repo("schemas/v1/records.xsd")), options: [])
    }

    private static func nodes(_ xpath: String, in node: XMLNode) -> [XMLElement] {
        ((try? node.nodes(forXPath: xpath)) ?? []).compactMap { $0 as? XMLElement }
    }

    private static func complexType(_ name: String, in xsd: XMLDocument) -> XMLElement? {
        nodes("//*[local-name()='complexType'][@name='\(name)']", in: xsd).first
    }

    /// The child elements of a complex type in schema order, with groups expanded and a choice's alternatives in
    /// place; each with its `minOccurs`, its type and whether it is an alternative of a choice.
    private static func elements(of type: XMLElement, in xsd: XMLDocument) -> [(name: String, minOccurs: String?, type: String?, inChoice: Bool)] {
        var result: [(name: String, minOccurs: String?, type: String?, inChoice: Bool)] = []
        func walk(_ node: XMLElement, inChoice: Bool) {
            for child in node.children?.compactMap({ $0 as? XMLElement }) ?? [] {
                switch child.localName {
                case "element":
                    result.append((child.attribute(forName: "name")?.stringValue ?? "?",
                                   child.attribute(forName: "minOccurs")?.stringValue,
                                   child.attribute(forName: "type")?.stringValue, inChoice))
                case "group":
                    let reference = (child.attribute(forName: "ref")?.stringValue ?? "").replacingOccurrences(of: "fwx:", with: "")
                    for group in nodes("//*[local-name()='group'][@name='\(reference)']", in: xsd) { walk(group, inChoice: inChoice) }
                case "sequence": walk(child, inChoice: inChoice)
                case "choice": walk(child, inChoice: true)
                default: break
                }
            }
        }
        walk(type, inChoice: false)
        return result
    }

    @Test("every part's elements are in the XSD's xs:sequence order, with the XSD's types and cardinalities",
          arguments: FieldTable.v1.parts.map(\.name))
    func elementOrderMatchesXSD(part name: String) throws {
        let part = try #require(FieldTable.v1.parts.first { $0.name == name })
        let xsd = try Self.readXSD()
        let type = try #require(Self.complexType(name, in: xsd), "records.xsd has no complexType \(name)")
        let expected = Self.elements(of: type, in: xsd)
        let elements = part.fields.filter { $0.placement == .element }
        #expect(elements.map(\.name) == expected.map(\.name))
        let document = xsd
        for (field, xsd) in zip(elements, expected) where field.name == xsd.name {
            switch field.cardinality {
            case .required: #expect(xsd.minOccurs == nil && !xsd.inChoice, "\(name)/\(field.name) is optional in the XSD")
            case .optional: #expect(xsd.minOccurs == "0", "\(name)/\(field.name) is required in the XSD")
            case .choice: #expect(xsd.inChoice, "\(name)/\(field.name) is no alternative of a choice in the XSD")
            case .repeated(let wrapperRequired):
                #expect((xsd.minOccurs == nil) == wrapperRequired, "\(name)/\(field.name): wrapper cardinality")
            }
            switch field.kind {
            case .part(let nested):
                #expect(xsd.type == "fwx:\(nested.name)", "\(name)/\(field.name) is of type \(xsd.type ?? "?")")
            case .list(let item, let of):
                // The wrapper's type holds one repeated element, the item.
                let wrapper = try #require(Self.complexType((xsd.type ?? "").replacingOccurrences(of: "fwx:", with: ""), in: document))
                let items = Self.elements(of: wrapper, in: document)
                #expect(items.map(\.name) == [item], "\(name)/\(field.name) holds \(items.map(\.name))")
                if let nested = of.part { #expect(items.first?.type == "fwx:\(nested.name)") }
                #expect(Self.nodes(".//*[local-name()='element'][@maxOccurs='unbounded']", in: wrapper).count == 1)
            default:
                break
            }
        }
        // Attributes and simple content.
        let attributes = Self.nodes(".//*[local-name()='attribute']", in: type)
        #expect(part.fields.filter { $0.placement == .attribute }.map(\.name)
                == attributes.map { $0.attribute(forName: "name")?.stringValue ?? "?" })
        for field in part.fields where field.placement == .attribute {
            let use = attributes.first { $0.attribute(forName: "name")?.stringValue == field.name }?
                .attribute(forName: "use")?.stringValue
            #expect((use == "required") == (field.cardinality == .required), "\(name)/@\(field.name): use")
        }
        let simpleContent = !Self.nodes("./*[local-name()='simpleContent']", in: type).isEmpty
        #expect(part.fields.contains { $0.placement == .content } == simpleContent)
    }

    @Test("the table describes every complex type of records.xsd that is not a list wrapper")
    func everyTypeHasATable() throws {
        let xsd = try Self.readXSD()
        let wrappers = FieldTable.v1.parts.flatMap(\.fields).compactMap { field -> String? in
            guard case .list = field.kind else { return nil }
            return field.name
        }
        let tables = Set(FieldTable.v1.parts.map(\.name))
        let types = Self.nodes("//*[local-name()='complexType'][@name]", in: xsd).compactMap { $0.attribute(forName: "name")?.stringValue }
        // Wrapper types are named like their element (Items, ShipmentLinks, Transit …).
        let missing = types.filter { !tables.contains($0) && !wrappers.contains($0) }
        #expect(missing.isEmpty, "records.xsd types without a table: \(missing)")
    }

    // MARK: The model

    static let fullSeizure = SeizureRecord(
        recordId: "NL-SZ-2026-000042", revision: 3, status: .withdrawn, withdrawalReason: .duplicate,
        incidentType: .portOrContainerInspection, seizureDateTime: "2026-11-12T14:30:00+01:00",
        seizingAuthority: SeizingAuthority(type: .customs, name: "Douane Rotterdam & <Haven>"),
        caseReference: "RTM-2026-0042",
        location: Location(country: "NL", nutsCode: "NL33B", unLocode: "NLRTM", municipality: "Rotterdam",
                           latitude: 51.95, longitude: 4.1425),
        handlingCode: .h2, evaluation: Evaluation(source: .b, information: .two),
        items: [
            Item(category: .f4, productName: "Cobra 6", brand: "Cobra \"Original\"", manufacturer: "Acme Pyro",
                 countryOfManufacture: "PL", ceRegistrationNumber: "0589-F4-1234", unNumber: "0333",
                 hazardDivision: .d11G, hsCode: "36041000", quantity: Quantity(240, .pieces), grossMassKg: 12.5,
                 netExplosiveQuantity: NetExplosiveQuantity(kg: 3.25, basis: .measured)),
            Item(category: .unmarked, quantity: Quantity(2.5, .kg)),
        ],
        shipmentLinks: [RecordLink("NL-SH-2026-000001"), RecordLink("PL-SH-2026-009912", external: true)],
        parties: [
            Party(role: .suspect, person: Person(pseudonym: "p1:8d4c6e0f2a9b7c13", nationality: "PL", birthYear: 1991)),
            Party(role: .seller, organisation: Organisation(name: "Pyro Sp. z o.o.", registrationNumber: "0000123456",
                                                           vatNumber: "PL5260001246", country: "PL")),
        ],
        vehicles: [Vehicle(plate: "WX 4821K", registrationCountry: "PL")],
        remarks: "Found behind a false wall; CR\rand LF\nkept.", retentionUntil: "2031-11-12")

    static let fullShipment = ShipmentRecord(
        recordId: "NL-SH-2026-000001", revision: 2, status: .withdrawn, withdrawalReason: .erroneous,
        transportMode: .sea,
        origin: Location(country: "CN", nutsCode: "NL33C", unLocode: "CNSHA", municipality: "Shanghai",
                         latitude: 31.23, longitude: 121.47),
        transit: ["SG", "EG"],
        destination: Location(country: "NL", nutsCode: "NL33B", unLocode: "NLRTM", municipality: "Rotterdam",
                              latitude: 51.9, longitude: 4.5),
        handlingCode: .h1, evaluation: Evaluation(source: .a, information: .one),
        parties: [Party(role: .consignor, organisation: Organisation(name: "Shanghai Trading", registrationNumber: "913100001",
                                                                                  vatNumber: "CN913100001", country: "CN"))],
        containers: ["CSQU3054383", "MSCU1234566"],
        vehicles: [Vehicle(plate: "BX-123-Z", registrationCountry: "NL")],
        transportDocuments: [TransportDocument(type: .billOfLading, number: "BL-2026-1"),
                             TransportDocument(type: .cmr, number: "CMR-PL-2026-77812")],
        customsMRN: "26NL0003960000GRB7",
        declaredGoods: Goods(description: "Toys", hsCode: "95030000", grossMassKg: 1200),
        goodsFound: Goods(description: "Fireworks F4", hsCode: "36041000", grossMassKg: 1180.5),
        departureDate: "2026-09-01", arrivalDate: "2026-10-01", interceptionDate: "2026-10-02",
        seizureLinks: [RecordLink("NL-SZ-2026-000042")], remarks: "Declared as toys.", retentionUntil: "2031-10-02")

    /// Fails where a value of `part` (or of a part inside it) has a property the table does not list, or (`full`) an
    /// optional or list left empty, so that the round trip below would not cover it. The first item of a list must
    /// be full; later ones may leave optional fields out.
    private static func checkCovers(_ value: Any, _ part: PartDescription, path: String, full: Bool = true) {
        let mirror = Mirror(reflecting: value)
        let labels = mirror.children.compactMap(\.label)
        #expect(Set(labels) == Set(part.fields.map(\.jsonKey)), "\(path): model \(labels), table \(part.fields.map(\.jsonKey))")
        for field in part.fields {
            guard let child = mirror.children.first(where: { $0.label == field.jsonKey })?.value else { continue }
            let childMirror = Mirror(reflecting: child)
            var values: [Any] = [child]
            if childMirror.displayStyle == .optional {
                values = childMirror.children.map(\.value)
                // A choice leaves the other alternative out.
                if full && values.isEmpty && field.cardinality != .choice { Issue.record("\(path).\(field.jsonKey) is empty") }
            } else if childMirror.displayStyle == .collection {
                values = childMirror.children.map(\.value)
                if full && values.isEmpty { Issue.record("\(path).\(field.jsonKey) is empty") }
            }
            if let nested = field.kind.part {
                for (index, value) in values.enumerated() {
                    checkCovers(value, nested, path: "\(path).\(field.jsonKey)[\(index)]", full: full && index == 0)
                }
            }
        }
    }

    @Test("the table lists every property of the model, and the full records fill every one")
    func tableCoversTheModel() {
        Self.checkCovers(Self.fullSeizure, FieldTable.v1.seizure.description, path: "seizure")
        Self.checkCovers(Self.fullShipment, FieldTable.v1.shipment.description, path: "shipment")
        // Every entry's key path reads the property its JSON key names.
        func checkKeyPaths<Part>(_ value: Part, _ table: PartTable<Part>) {
            let mirror = Mirror(reflecting: value)
            for field in table.fields {
                let property = mirror.children.first { $0.label == field.description.jsonKey }.map { "\($0.value)" }
                #expect(property == "\(value[keyPath: field.keyPath])", "\(table.name)/\(field.name)")
            }
        }
        checkKeyPaths(Self.fullSeizure, FieldTable.v1.seizure)
        checkKeyPaths(Self.fullShipment, FieldTable.v1.shipment)
    }

    @Test("a record of each kind with every field filled goes through writer, parser, schema and reader unchanged")
    func fullRecordsRoundTrip() throws {
        let header = BatchHeader(batchId: "7d3c4a52-0c5e-4b7a-9a57-1f2b3c4d5e6f", sender: NodeIdentity(country: "NL", agencyId: "NL-POL"),
                                 recipients: .countries(["DE", "PL"]), createdAt: "2026-11-13T08:00:00Z",
                                 sequenceNumber: 42, defaultHandlingCode: .h1)
        let batch = Batch(header: header, records: [.seizure(Self.fullSeizure), .shipment(Self.fullShipment)])
        let xml = BatchXMLWriter.string(for: batch)
        var records: [Record] = []
        var headers: [BatchHeader] = []
        let report = try ValidatingBatchReader().read(ByteSource(bytes: Array(xml.utf8), name: "full.xml"),
                                                      header: { headers.append($0) }, record: { records.append($0) })
        let schemaFindings = report.findings.filter { $0.rule == RuleID.schema }
        #expect(schemaFindings.isEmpty, "\(schemaFindings.map(\.message))")
        #expect(headers == [header])
        #expect(records == batch.records)
        // And the reader's records written again give the same bytes.
        #expect(BatchXMLWriter.string(for: Batch(header: header, records: records)) == xml)
    }

    @Test("the reader's messages name the element, as before the table")
    func readerMessages() throws {
        func message(_ build: (inout ElementTree) -> Void) -> String? {
            var tree = ElementTree(rootPath: "/fwx:Batch/fwx:Records/fwx:Seizure")
            build(&tree)
            do {
                _ = try RecordDecoder(tree: tree, file: "t.xml").record()
                return nil
            } catch let error as FWXError {
                return error.message
            } catch {
                return "\(error)"
            }
        }
        #expect(message { $0.append(name: "Seizure", line: 1, column: 1, parent: -1) }
                == "Seizure has no RecordId (at /fwx:Batch/fwx:Records/fwx:Seizure)")
        #expect(message { tree in
            let root = tree.append(name: "Seizure", line: 1, column: 1, parent: -1)
            tree.append(name: "RecordId", text: "NL-SZ-1", line: 2, column: 1, parent: root)
            tree.append(name: "Revision", text: "two", line: 3, column: 1, parent: root)
        } == "Revision is not a whole number (at /fwx:Batch/fwx:Records/fwx:Seizure/fwx:Revision)")
        #expect(message { tree in
            let root = tree.append(name: "Seizure", line: 1, column: 1, parent: -1)
            tree.append(name: "RecordId", text: "NL-SZ-1", line: 2, column: 1, parent: root)
            tree.append(name: "Revision", text: "1", line: 3, column: 1, parent: root)
            tree.append(name: "Status", text: "gone", line: 4, column: 1, parent: root)
        } == "Status 'gone' is not a code of its list (at /fwx:Batch/fwx:Records/fwx:Seizure/fwx:Status)")
        #expect(message { $0.append(name: "Header", line: 1, column: 1, parent: -1) }
                == "expected a Seizure or Shipment element, found Header (at /fwx:Batch/fwx:Records/fwx:Seizure)")
        // Inside parts: a choice with neither alternative, a missing attribute, a year that is none.
        let xml = BatchXMLWriter.fragment(for: .seizure(Self.fullSeizure))
        for (edits, expected) in [
            ([("<Person>", "<Persona>"), ("</Person>", "</Persona>")], "Party has no Organisation"),
            ([("<Quantity unit=\"pieces\">", "<Quantity>")], "Quantity needs a unit attribute: pieces, boxes or kg"),
            ([("<BirthYear>1991<", "<BirthYear>MCMXCI<")], "BirthYear is not a year"),
            ([("<Latitude>51.95<", "<Latitude>1\(String(repeating: "0", count: 400))<")], "Latitude is not a decimal number"),
        ] {
            var edited = xml
            for (old, new) in edits {
                #expect(edited.contains(old))
                edited = edited.replacingOccurrences(of: old, with: new)
            }
            do {
                _ = try RecordDecoder(tree: try Self.tree(edited), file: "t.xml").record()
                Issue.record("\(edits) was read")
            } catch let error as FWXError {
                #expect(error.message.hasPrefix(expected + " (at /fwx:Batch/fwx:Records/fwx:Seizure[1]/"), "\(error.message)")
            }
        }
    }

    /// The tree of one record fragment, as the streaming parser (without the schema) builds it.
    private static func tree(_ fragment: String) throws -> ElementTree {
        let document = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Batch xmlns=\"\(BatchXMLWriter.namespace)\" schemaVersion=\"1.0\">\n  <Records>\n" + fragment + "  </Records>\n</Batch>\n"
        var found: ElementTree?
        var events = BatchEvents()
        events.record = { tree, _ in found = tree }
        try BatchStreamParser(validateSchema: false).parse(ByteSource(bytes: Array(document.utf8), name: "t.xml"), events: events)
        return try #require(found)
    }

    // MARK: CSV

    @Test("every CSV field names an entry of the table at its element path")
    func csvFieldsAreInTheTable() throws {
        for field in CSVField.all {
            var steps = field.xmlPath.split(separator: "/").map(String.init)
            var part: PartDescription? = steps.removeFirst() == "Seizure"
                ? FieldTable.v1.seizure.description : FieldTable.v1.shipment.description
            var entries: [FieldDescription] = []
            while !steps.isEmpty, let current = part {
                let step = steps.removeFirst()
                guard let entry = current.fields.first(where: { $0.placement == .element && $0.name == step }) else {
                    Issue.record("\(field.name): no \(step) in \(current.name)")
                    part = nil
                    break
                }
                entries = [entry]
                part = entry.kind.part
                if case .list(let item, _) = entry.kind, !steps.isEmpty {
                    #expect(steps.removeFirst() == item, "\(field.name): \(field.xmlPath)")
                }
                // A path that ends at a part names its attributes or content.
                if steps.isEmpty, let nested = part {
                    entries = nested.fields.filter { $0.placement != .element }
                }
            }
            #expect(entries.contains { $0.csvFields.contains(field.name) },
                    "\(field.name) (\(field.xmlPath)) is not listed in the table")
        }
        // And no table entry names a CSV field that does not exist.
        let names = Set(CSVField.all.map(\.name))
        for part in FieldTable.v1.parts {
            for entry in part.fields {
                for name in entry.csvFields { #expect(names.contains(name), "\(part.name)/\(entry.name): \(name)") }
            }
        }
    }
}
