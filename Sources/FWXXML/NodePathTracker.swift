import CLibXML2

/// Names an element met in a SAX parse the way libxml2's `xmlGetNodePath` names it in the tree, so that a streamed
/// finding points where the tree-based one does: `/*/*[3]` for elements in a default namespace (counted among all
/// their element siblings), `/p:name[2]` or `/name` otherwise (counted among siblings of the same name and prefix),
/// `[1]` only when a later sibling would be counted too.
///
/// One element's path is recorded (``record()``) while its ancestors are open; the rest costs one counter per
/// open element (and a name per element that is not in a default namespace).
struct NodePathTracker {
    private struct Step {
        var generic: Bool
        var name: [UInt8]
        var preceding: Int
        var following = false
    }

    /// Per open level (the document first): its element children so far, and those with a name, by name.
    private var children: [Int] = [0]
    private var named: [[([UInt8], Int)]] = [[]]
    /// The steps to the element now open at each depth.
    private var open: [Step] = []
    private var recorded: [Step]?
    /// How many of the recorded path's levels, from the root, are still open.
    private var openRecorded = 0

    /// An element starts below the currently open one.
    mutating func start(_ localName: UnsafePointer<xmlChar>, prefix: UnsafePointer<xmlChar>?, hasNamespace: Bool) {
        let depth = open.count + 1
        let generic = hasNamespace && prefix == nil
        var name: [UInt8] = []
        var preceding = children[depth - 1]
        if !generic {
            if let prefix { name = Self.bytes(prefix) + [UInt8(ascii: ":")] }
            name += Self.bytes(localName)
            // A prefix-less name without a namespace and a prefixed one never match each other.
            let key = hasNamespace ? name : [0] + name
            if let index = named[depth - 1].firstIndex(where: { $0.0 == key }) {
                preceding = named[depth - 1][index].1
                named[depth - 1][index].1 += 1
            } else {
                preceding = 0
                named[depth - 1].append((key, 1))
            }
        }
        children[depth - 1] += 1
        if var path = recorded, depth == openRecorded + 1, depth <= path.count {
            let step = path[depth - 1]
            if !step.following, step.generic == generic, generic || step.name == name {
                path[depth - 1].following = true
                recorded = path
            }
        }
        open.append(Step(generic: generic, name: name, preceding: preceding))
        children.append(0)
        named.append([])
    }

    /// The open element ends.
    mutating func end() {
        if open.count <= openRecorded { openRecorded = open.count - 1 }
        open.removeLast()
        children.removeLast()
        named.removeLast()
    }

    /// Records the path of the element just started (its later siblings still count).
    mutating func record() {
        recorded = open
        openRecorded = open.count
    }

    /// The recorded path, "" when none was.
    var recordedPath: String {
        guard let recorded else { return "" }
        var path = ""
        for step in recorded {
            path += "/" + (step.generic ? "*" : String(decoding: step.name, as: UTF8.self))
            if step.preceding > 0 { path += "[\(step.preceding + 1)]" } else if step.following { path += "[1]" }
        }
        return path
    }

    private static func bytes(_ name: UnsafePointer<xmlChar>) -> [UInt8] {
        Array(UnsafeBufferPointer(start: name, count: strlen(UnsafeRawPointer(name).assumingMemoryBound(to: CChar.self))))
    }
}
