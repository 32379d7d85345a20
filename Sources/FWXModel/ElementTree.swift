/// A compact in-memory copy of one XML element subtree (a batch header or one record), with source positions.
///
/// The streaming parser builds one tree per record and drops it after the record is checked, so memory stays bounded
/// however large a batch is. Nodes live in one array; links are indexes, so building a tree allocates little.
public struct ElementTree: Sendable {
    /// One element of the tree.
    public struct Node: Sendable {
        public var name: String
        public var attributes: [(name: String, value: String)]
        /// Text content (only for elements with no element children; whitespace trimmed at the ends).
        public var text: String
        public var line: Int32
        public var column: Int32
        public var parent: Int32
        public var firstChild: Int32 = -1
        public var lastChild: Int32 = -1
        public var nextSibling: Int32 = -1
    }

    public private(set) var nodes: [Node] = []
    /// XPath of the tree's root element, e.g. `/fwx:Batch/fwx:Records/fwx:Seizure[3]`.
    public var rootPath: String

    public init(rootPath: String = "") {
        self.rootPath = rootPath
        nodes.reserveCapacity(64)
    }

    /// The root element's index (always 0 when the tree is not empty).
    public var root: Int { 0 }
    public var isEmpty: Bool { nodes.isEmpty }

    public mutating func removeAll(rootPath: String) {
        nodes.removeAll(keepingCapacity: true)
        self.rootPath = rootPath
    }

    /// Appends an element under `parent` (or as the root when `parent` is -1) and returns its index.
    @discardableResult
    public mutating func append(name: String, attributes: [(name: String, value: String)] = [], text: String = "",
                                line: Int, column: Int, parent: Int) -> Int {
        let index = Int32(nodes.count)
        nodes.append(Node(name: name, attributes: attributes, text: text, line: Int32(clamping: line),
                          column: Int32(clamping: column), parent: Int32(parent)))
        if parent >= 0 {
            if nodes[parent].lastChild >= 0 {
                nodes[Int(nodes[parent].lastChild)].nextSibling = index
            } else {
                nodes[parent].firstChild = index
            }
            nodes[parent].lastChild = index
        }
        return Int(index)
    }

    public mutating func setText(_ text: String, of node: Int) { nodes[node].text = text }

    public subscript(node: Int) -> Node { nodes[node] }

    public func name(_ node: Int) -> String { nodes[node].name }

    /// Text of `node`.
    public func text(_ node: Int) -> String { nodes[node].text }

    /// Children of `node`, in document order.
    public func children(_ node: Int) -> ChildSequence { ChildSequence(tree: self, next: nodes[node].firstChild) }

    /// Children of `node` with the given local name.
    public func children(_ node: Int, named name: String) -> [Int] {
        children(node).filter { nodes[$0].name == name }
    }

    /// The first child of `node` with the given local name.
    public func child(_ node: Int, _ name: String) -> Int? {
        var next = nodes[node].firstChild
        while next >= 0 {
            if nodes[Int(next)].name == name { return Int(next) }
            next = nodes[Int(next)].nextSibling
        }
        return nil
    }

    /// Follows a path of child names from `node`: `descendant(record, "Location", "Country")`.
    public func descendant(_ node: Int, _ names: String...) -> Int? {
        var current = node
        for name in names {
            guard let next = child(current, name) else { return nil }
            current = next
        }
        return current
    }

    /// Text of the child element with that name, or nil when there is none.
    public func childText(_ node: Int, _ name: String) -> String? {
        child(node, name).map { nodes[$0].text }
    }

    /// Value of an attribute of `node`.
    public func attribute(_ node: Int, _ name: String) -> String? {
        nodes[node].attributes.first { $0.name == name }?.value
    }

    /// XPath of `node` in the whole document, positions counted among same-name siblings. A position is left out
    /// where the element is the only one of its name; while the tree is still being read (`complete` false),
    /// later siblings are not known yet, so every step carries its position.
    public func xpath(_ node: Int, complete: Bool = true) -> String {
        var steps: [String] = []
        var current = node
        while current > 0 {
            let parent = Int(nodes[current].parent)
            let name = nodes[current].name
            var position = 0
            var total = 0
            for sibling in children(parent) where nodes[sibling].name == name {
                total += 1
                if sibling == current { position = total }
            }
            steps.append(total > 1 || !complete ? "fwx:\(name)[\(position)]" : "fwx:\(name)")
            current = parent
        }
        return ([rootPath] + steps.reversed()).joined(separator: "/")
    }

    /// The children of one node, lazily.
    public struct ChildSequence: Sequence, IteratorProtocol {
        let tree: ElementTree
        var following: Int32
        init(tree: ElementTree, next: Int32) {
            self.tree = tree
            self.following = next
        }
        public mutating func next() -> Int? {
            guard following >= 0 else { return nil }
            let current = Int(following)
            following = tree.nodes[current].nextSibling
            return current
        }
    }
}
