// A declarative description of a schema version's record format: per record part, the entries in schema order,
// each with its element (or attribute) name, the model property it reads and writes, its kind of value, how often it
// occurs, its JSON key and the CSV fields that fill it. The XML reader and writer are driven by these tables
// (RecordDecoder, BatchXMLWriter); the v1 table is in FieldTableV1.swift.
//
// An entry is declared once with a key path; the declaration also makes, once, the two small closures the reader
// and writer call for it (specialised for the entry's value type), so the per-record work does no lookups by name
// in the table and no boxing: a loop over an array of entries, one indirect call each.

/// The record format of one schema version: the tables of its record kinds.
///
/// A later version gets its own value beside ``v1`` (the model holds the union of the versions' fields; each table
/// lists those its version has).
public struct FieldTable: Sendable {
    /// The version written in `schemaVersion` attributes, e.g. `1.0`.
    public let schemaVersion: String
    /// The XML namespace of the version.
    public let namespace: String
    /// The `Seizure` record.
    public let seizure: PartTable<SeizureRecord>
    /// The `Shipment` record.
    public let shipment: PartTable<ShipmentRecord>

    public init(schemaVersion: String, namespace: String, seizure: PartTable<SeizureRecord>,
                shipment: PartTable<ShipmentRecord>) {
        self.schemaVersion = schemaVersion
        self.namespace = namespace
        self.seizure = seizure
        self.shipment = shipment
    }

    /// Every part of the format once (records first, then the parts they hold, depth first), by schema type name.
    public var parts: [PartDescription] {
        var seen: Set<String> = []
        var result: [PartDescription] = []
        func visit(_ part: PartDescription) {
            guard seen.insert(part.name).inserted else { return }
            result.append(part)
            for field in part.fields {
                if let nested = field.kind.part { visit(nested) }
            }
        }
        visit(seizure.description)
        visit(shipment.description)
        return result
    }
}

/// Where an entry's value sits in its part's element.
public enum Placement: Sendable, Hashable {
    /// A child element called by the entry's name.
    case element
    /// An attribute called by the entry's name.
    case attribute
    /// The part element's own text (a part with simple content, such as `Quantity`).
    case content
}

/// How often an entry occurs in its part.
public enum Cardinality: Sendable, Hashable {
    /// Exactly once.
    case required
    /// At most once.
    case optional
    /// One alternative of an `xs:choice`, with the neighbouring `.choice` entries: exactly one of them occurs.
    case choice
    /// A list in a wrapper element (the entry's name) holding one or more items; `wrapperRequired` says whether the
    /// wrapper must be there (it is written even for an empty list) or is left out when the list is empty.
    case repeated(wrapperRequired: Bool)
}

/// A code list: the Swift type's name and its codes, as in XML and JSON.
public struct CodeList: Sendable, Hashable {
    public let name: String
    public let codes: [String]
}

/// The kind of value an entry holds.
public indirect enum ValueKind: Sendable {
    /// Free text or a token (kept as it is written).
    case text
    /// A whole number (`Int`).
    case integer
    /// A year of four digits (`Int`).
    case year
    /// An `xs:decimal` (`Double`), written in its shortest form (``BatchXMLWriter/decimal(_:)``).
    case decimal
    /// An `xs:boolean` attribute with the default false (`Bool`), written only when true.
    case boolean
    /// An `xs:date`, kept as its text.
    case date
    /// An `xs:dateTime` with zone, kept as its text.
    case timestamp
    /// One code of a code list (a `String`-backed enum).
    case code(CodeList)
    /// A nested part.
    case part(PartDescription)
    /// A list: each item is an element called `item` holding a value of kind `of`.
    case list(item: String, of: ValueKind)

    /// The nested part of a part or a list of parts.
    public var part: PartDescription? {
        switch self {
        case .part(let part): return part
        case .list(_, let of): return of.part
        default: return nil
        }
    }
}

/// The description of one entry of a part's table, without its type: what docs, tests and other formats read.
public struct FieldDescription: Sendable {
    /// Element or attribute name (for `.content`, the part's element name is used).
    public let name: String
    public let placement: Placement
    public let kind: ValueKind
    public let cardinality: Cardinality
    /// Key in FWX's JSON form (docs/json.md), the model property's name.
    public let jsonKey: String
    /// Names of the CSV mapping fields (docs/csv-profiles.md) that fill this entry, wherever the part is used.
    public let csvFields: [String]
}

/// A part's table without its type.
public struct PartDescription: Sendable {
    /// The schema type's name (`Location`), which is also the element name of the records.
    public let name: String
    public let fields: [FieldDescription]
}

/// The table of one record part (`Seizure`, `Location`, `Item` …): its entries in schema order.
///
/// A class, so that the reader and writer pass one reference per part rather than copying the table's arrays.
public final class PartTable<Part: Sendable>: Sendable {
    /// The schema type's name.
    public let name: String
    /// Every entry: attributes, then simple content or child elements in `xs:sequence` order.
    public let fields: [Field<Part>]
    /// A value with every optional entry absent; the reader starts from it and sets what it finds.
    let blank: Part
    /// What the reader and writer call, split by placement (and all of them in table order, for the reader).
    let attributes: [FieldCodec<Part>]
    let content: FieldCodec<Part>?
    let elements: [FieldCodec<Part>]
    let codecs: [FieldCodec<Part>]
    /// The entries' names, in table order (for the reader's messages).
    let names: [String]

    public init(_ name: String, blank: Part, _ fields: [Field<Part>]) {
        self.name = name
        self.blank = blank
        self.fields = fields
        attributes = fields.filter { $0.placement == .attribute }.map(\.codec)
        content = fields.first { $0.placement == .content }?.codec
        elements = fields.filter { $0.placement == .element }.map(\.codec)
        codecs = fields.map(\.codec)
        names = fields.map(\.name)
        precondition(content == nil || elements.isEmpty, "\(name): simple content and child elements")
    }

    public var description: PartDescription {
        PartDescription(name: name, fields: fields.map(\.description))
    }
}

/// One entry of a part's table: its description, the model property, and what the XML reader and writer do with it.
public struct Field<Part: Sendable>: Sendable {
    public let description: FieldDescription
    /// The model property the entry reads and writes.
    public let keyPath: any PartialKeyPath<Part> & Sendable
    let codec: FieldCodec<Part>

    public var name: String { description.name }
    public var placement: Placement { description.placement }

    init(_ name: String, _ placement: Placement, _ kind: ValueKind, _ cardinality: Cardinality, json: String,
         csv: [String], keyPath: any PartialKeyPath<Part> & Sendable,
         write: @escaping @Sendable (UnsafePointer<Part>, inout BatchXMLWriter, Int) -> Bool,
         read: @escaping @Sendable (inout Part, RecordDecoder, Int) throws -> Bool) {
        description = FieldDescription(name: name, placement: placement, kind: kind, cardinality: cardinality,
                                       jsonKey: json, csvFields: csv)
        self.keyPath = keyPath
        codec = FieldCodec(isChoice: cardinality == .choice, write: write, read: read)
    }
}

/// What the reader and writer do with one entry: small, as they go through the entries of every part they handle.
struct FieldCodec<Part>: Sendable {
    let isChoice: Bool
    /// Writes the entry's element, attribute (` name="value"`) or content at `depth`; false when it wrote nothing.
    let write: @Sendable (UnsafePointer<Part>, inout BatchXMLWriter, Int) -> Bool
    /// Reads the entry from the part's element `node` into the value; false when it is absent (and optional).
    let read: @Sendable (inout Part, RecordDecoder, Int) throws -> Bool
}

/// A `String`-backed code list the tables can name.
public typealias TableCode = RawRepresentable & CaseIterable & Sendable

extension CodeList {
    init<C: TableCode>(_: C.Type) where C.RawValue == String {
        self.init(name: String(describing: C.self), codes: C.allCases.map(\.rawValue))
    }
}

/// A stored property of a part, reached by its offset: what the reader and writer use instead of applying the
/// entry's key path, which goes through the runtime's generic key path code (metadata lookups for every access;
/// measured: half again the time of the hand-written decoder and writer).
struct StoredProperty<Part, Value>: Sendable {
    private let offset: Int

    /// `keyPath` must name a stored property (of a stored property …) of the struct `Part`.
    init(_ keyPath: WritableKeyPath<Part, Value>) {
        guard let offset = MemoryLayout<Part>.offset(of: keyPath) else {
            preconditionFailure("\(keyPath) is not a stored property of \(Part.self)")
        }
        self.offset = offset
    }

    @inline(__always)
    func get(_ part: UnsafePointer<Part>) -> Value {
        UnsafeRawPointer(part).load(fromByteOffset: offset, as: Value.self)
    }

    @inline(__always)
    func set(_ part: inout Part, _ value: Value) {
        withUnsafeMutablePointer(to: &part) {
            (UnsafeMutableRawPointer($0) + offset).assumingMemoryBound(to: Value.self).pointee = value
        }
    }
}

// MARK: Declaring entries
//
// One factory per placement and Swift type; the cardinality follows from the property's type (optional or not),
// except for lists and choices, which say so.

extension Field {
    /// A text, date or timestamp element.
    public static func text(_ name: String, _ keyPath: any WritableKeyPath<Part, String> & Sendable,
                            _ kind: ValueKind = .text, json: String, csv: [String] = []) -> Field {
        let property = StoredProperty(keyPath)
        return Field(name, .element, kind, .required, json: json, csv: csv, keyPath: keyPath,
              write: { part, writer, depth in
                  writer.leaf(name, property.get(part), depth)
                  return true
              },
              read: { part, decoder, node in
                  property.set(&part, try decoder.text(node, name))
                  return true
              })
    }

    /// An optional text, date or timestamp element.
    public static func text(_ name: String, _ keyPath: any WritableKeyPath<Part, String?> & Sendable,
                            _ kind: ValueKind = .text, json: String, csv: [String] = []) -> Field {
        let property = StoredProperty(keyPath)
        return Field(name, .element, kind, .optional, json: json, csv: csv, keyPath: keyPath,
              write: { part, writer, depth in
                  guard let value = property.get(part) else { return false }
                  writer.leaf(name, value, depth)
                  return true
              },
              read: { part, decoder, node in
                  guard let child = decoder.tree.child(node, name) else { return false }
                  property.set(&part, decoder.tree.text(child))
                  return true
              })
    }

    /// A whole-number or year element.
    public static func integer(_ name: String, _ keyPath: any WritableKeyPath<Part, Int> & Sendable,
                               _ kind: ValueKind = .integer, json: String, csv: [String] = []) -> Field {
        let property = StoredProperty(keyPath)
        return Field(name, .element, kind, .required, json: json, csv: csv, keyPath: keyPath,
              write: { part, writer, depth in
                  writer.leaf(name, String(property.get(part)), depth)
                  return true
              },
              read: { part, decoder, node in
                  property.set(&part, try decoder.integer(try decoder.required(node, name), kind))
                  return true
              })
    }

    /// An optional whole-number or year element.
    public static func integer(_ name: String, _ keyPath: any WritableKeyPath<Part, Int?> & Sendable,
                               _ kind: ValueKind = .integer, json: String, csv: [String] = []) -> Field {
        let property = StoredProperty(keyPath)
        return Field(name, .element, kind, .optional, json: json, csv: csv, keyPath: keyPath,
              write: { part, writer, depth in
                  guard let value = property.get(part) else { return false }
                  writer.leaf(name, String(value), depth)
                  return true
              },
              read: { part, decoder, node in
                  guard let child = decoder.tree.child(node, name) else { return false }
                  property.set(&part, try decoder.integer(child, kind))
                  return true
              })
    }

    /// An optional decimal element.
    public static func decimal(_ name: String, _ keyPath: any WritableKeyPath<Part, Double?> & Sendable,
                               json: String, csv: [String] = []) -> Field {
        let property = StoredProperty(keyPath)
        return Field(name, .element, .decimal, .optional, json: json, csv: csv, keyPath: keyPath,
              write: { part, writer, depth in
                  guard let value = property.get(part) else { return false }
                  writer.leaf(name, BatchXMLWriter.decimal(value), depth)
                  return true
              },
              read: { part, decoder, node in
                  guard let child = decoder.tree.child(node, name) else { return false }
                  property.set(&part, try decoder.number(child))
                  return true
              })
    }

    /// A code element.
    public static func code<C: TableCode>(_ name: String, _ keyPath: any WritableKeyPath<Part, C> & Sendable,
                                          json: String, csv: [String] = []) -> Field where C.RawValue == String {
        let property = StoredProperty(keyPath)
        return Field(name, .element, .code(CodeList(C.self)), .required, json: json, csv: csv, keyPath: keyPath,
              write: { part, writer, depth in
                  writer.leaf(name, property.get(part).rawValue, depth)
                  return true
              },
              read: { part, decoder, node in
                  property.set(&part, try decoder.code(try decoder.required(node, name)))
                  return true
              })
    }

    /// An optional code element.
    public static func code<C: TableCode>(_ name: String, _ keyPath: any WritableKeyPath<Part, C?> & Sendable,
                                          json: String, csv: [String] = []) -> Field where C.RawValue == String {
        let property = StoredProperty(keyPath)
        return Field(name, .element, .code(CodeList(C.self)), .optional, json: json, csv: csv, keyPath: keyPath,
              write: { part, writer, depth in
                  guard let value = property.get(part) else { return false }
                  writer.leaf(name, value.rawValue, depth)
                  return true
              },
              read: { part, decoder, node in
                  guard let child = decoder.tree.child(node, name) else { return false }
                  property.set(&part, try decoder.code(child) as C)
                  return true
              })
    }

    /// A nested part.
    public static func part<C>(_ name: String, _ keyPath: any WritableKeyPath<Part, C> & Sendable, _ table: PartTable<C>,
                               json: String, csv: [String] = []) -> Field {
        let property = StoredProperty(keyPath)
        return Field(name, .element, .part(table.description), .required, json: json, csv: csv, keyPath: keyPath,
              write: { part, writer, depth in
                  writer.writePart(property.get(part), table, element: name, depth: depth)
                  return true
              },
              read: { part, decoder, node in
                  property.set(&part, try decoder.part(try decoder.required(node, name), table))
                  return true
              })
    }

    /// An optional nested part, or (`choice: true`) one alternative of a choice.
    public static func part<C>(_ name: String, _ keyPath: any WritableKeyPath<Part, C?> & Sendable, _ table: PartTable<C>,
                               choice: Bool = false, json: String, csv: [String] = []) -> Field {
        let property = StoredProperty(keyPath)
        return Field(name, .element, .part(table.description), choice ? .choice : .optional, json: json, csv: csv,
              keyPath: keyPath,
              write: { part, writer, depth in
                  guard let value = property.get(part) else { return false }
                  writer.writePart(value, table, element: name, depth: depth)
                  return true
              },
              read: { part, decoder, node in
                  guard let child = decoder.tree.child(node, name) else { return false }
                  property.set(&part, try decoder.part(child, table))
                  return true
              })
    }

    /// A list of parts in a wrapper element `name`, each item an element `item`. `anyItemName`: every child of the
    /// wrapper is read as an item whatever its name (v1's reader does so for record links).
    public static func list<C>(_ name: String, item: String, _ keyPath: any WritableKeyPath<Part, [C]> & Sendable,
                               _ table: PartTable<C>, wrapperRequired: Bool = false, anyItemName: Bool = false,
                               json: String, csv: [String] = []) -> Field {
        let property = StoredProperty(keyPath)
        return Field(name, .element, .list(item: item, of: .part(table.description)),
              .repeated(wrapperRequired: wrapperRequired), json: json, csv: csv, keyPath: keyPath,
              write: { part, writer, depth in
                  let values = property.get(part)
                  guard wrapperRequired || !values.isEmpty else { return false }
                  writer.open(name, depth)
                  for value in values { writer.writePart(value, table, element: item, depth: depth + 1) }
                  writer.close(name, depth)
                  return true
              },
              read: { part, decoder, node in
                  let list: Int
                  if wrapperRequired {
                      list = try decoder.required(node, name)
                  } else {
                      guard let child = decoder.tree.child(node, name) else { return false }
                      list = child
                  }
                  property.set(&part, anyItemName
                      ? try decoder.tree.children(list).map { try decoder.part($0, table) }
                      : try decoder.tree.children(list, named: item).map { try decoder.part($0, table) })
                  return true
              })
    }

    /// A list of text values in an optional wrapper element `name`, each item an element `item`.
    public static func list(_ name: String, item: String, _ keyPath: any WritableKeyPath<Part, [String]> & Sendable,
                            json: String, csv: [String] = []) -> Field {
        let property = StoredProperty(keyPath)
        return Field(name, .element, .list(item: item, of: .text), .repeated(wrapperRequired: false), json: json, csv: csv,
              keyPath: keyPath,
              write: { part, writer, depth in
                  let values = property.get(part)
                  guard !values.isEmpty else { return false }
                  writer.open(name, depth)
                  for value in values { writer.leaf(item, value, depth + 1) }
                  writer.close(name, depth)
                  return true
              },
              read: { part, decoder, node in
                  guard let list = decoder.tree.child(node, name) else { return false }
                  property.set(&part, decoder.tree.children(list, named: item).map(decoder.tree.text))
                  return true
              })
    }

    /// A required code attribute; `missing` is the reader's message when it is absent or not a code.
    public static func attribute<C: TableCode>(_ name: String, _ keyPath: any WritableKeyPath<Part, C> & Sendable,
                                               missing: String, json: String, csv: [String] = []) -> Field
    where C.RawValue == String {
        let property = StoredProperty(keyPath)
        return Field(name, .attribute, .code(CodeList(C.self)), .required, json: json, csv: csv, keyPath: keyPath,
              write: { part, writer, _ in
                  writer.attribute(name, property.get(part).rawValue)
                  return true
              },
              read: { part, decoder, node in
                  guard let value = decoder.tree.attribute(node, name).flatMap(C.init(rawValue:)) else {
                      throw decoder.problem(node, missing)
                  }
                  property.set(&part, value)
                  return true
              })
    }

    /// An optional boolean attribute, false when absent; written only when true.
    public static func attribute(_ name: String, _ keyPath: any WritableKeyPath<Part, Bool> & Sendable,
                                 json: String, csv: [String] = []) -> Field {
        let property = StoredProperty(keyPath)
        return Field(name, .attribute, .boolean, .optional, json: json, csv: csv, keyPath: keyPath,
              write: { part, writer, _ in
                  guard property.get(part) else { return false }
                  writer.attribute(name, "true")
                  return true
              },
              read: { part, decoder, node in
                  let value = decoder.tree.attribute(node, name)
                  property.set(&part, value == "true" || value == "1")
                  return value != nil
              })
    }

    /// Text content of a simple-content part.
    public static func content(_ keyPath: any WritableKeyPath<Part, String> & Sendable, json: String,
                               csv: [String] = []) -> Field {
        let property = StoredProperty(keyPath)
        return Field("", .content, .text, .required, json: json, csv: csv, keyPath: keyPath,
              write: { part, writer, _ in
                  writer.appendEscaped(property.get(part))
                  return true
              },
              read: { part, decoder, node in
                  property.set(&part, decoder.tree.text(node))
                  return true
              })
    }

    /// Decimal content of a simple-content part.
    public static func content(_ keyPath: any WritableKeyPath<Part, Double> & Sendable, json: String,
                               csv: [String] = []) -> Field {
        let property = StoredProperty(keyPath)
        return Field("", .content, .decimal, .required, json: json, csv: csv, keyPath: keyPath,
              write: { part, writer, _ in
                  writer.appendEscaped(BatchXMLWriter.decimal(property.get(part)))
                  return true
              },
              read: { part, decoder, node in
                  property.set(&part, try decoder.number(node))
                  return true
              })
    }
}
