// The link graph of a TraceResult as GraphML, for Gephi, yEd, Cytoscape and networkx.

/// Writes the link graph of a ``TraceResult`` as GraphML (graphml.graphdrawing.org, schema 1.0): the records of the
/// listed clusters as nodes, and the keys they share as edges.
///
/// - **Record nodes**, one per member of each listed cluster (``TraceResult/clusters``). The node id is the record id
///   (or `r1`, `r2` … for an id that is not an XML name token). Attributes: `type` (`record`), `label` (the record
///   id), `kind` (`seizure` or `shipment`), `owner` (owner country), `cluster` (the cluster's id), `clusterRank`
///   (1 for the largest), and for seizures `country` (where it was made), `date` and `neqKg`.
/// - **Edges**, undirected, one per pair of members per key they share: a key carried by *n* members gives
///   n(n-1)/2 edges, so two records that share a container and a carrier are joined by two (parallel) edges.
///   Attributes: `keyKind` (`container`, `organisationName` …), `keyValue` (the normalised value), `roles`
///   (`consignor/carrier`, empty when the key has none), `label` (`carrier name PYROTRANS`) and `cluster`.
/// - With `keyNodes`, each shared key is a node of its own instead (`type` `key`, id `k1`, `k2` …, with `label`,
///   `keyKind`, `keyValue`, `roles`, `cluster`, `clusterRank`), and each member that carries it has one edge to it:
///   a bipartite graph that stays small however many records share a key.
///
/// The result holds, per record, only what clusters and map points say: a member's kind, date and NEQ come from its
/// map point when it has one (every matched seizure, unless points were limited); a member without one is a
/// shipment when the cluster's count of seizures is already accounted for (shipments carry no NEQ: `neqKg` 0). An
/// attribute that is not known is left out of the node.
public enum TraceGraphML {
    /// The GraphML document of the clusters of `result`; with `keyNodes`, shared keys are nodes too (see above).
    public static func render(_ result: TraceResult, keyNodes: Bool = false) -> String {
        var text = ""
        // The sink cannot fail, so neither can the writing.
        try! write(result, keyNodes: keyNodes) { text += $0 }
        return text
    }

    /// Writes the document of ``render(_:keyNodes:)`` in pieces of about `pieceSize` bytes, each given to `sink` as
    /// soon as it is complete. An error of `sink` stops the writing and is thrown.
    public static func write(_ result: TraceResult, keyNodes: Bool = false, pieceSize: Int = 1 << 20,
                             to sink: (_ piece: String) throws -> Void) throws {
        try TextPieces.write(pieceSize: pieceSize, to: sink) { try write(result, keyNodes: keyNodes, to: &$0) }
    }

    private static func write(_ result: TraceResult, keyNodes: Bool, to out: inout TextPieces) throws {
        try out += """
            <?xml version="1.0" encoding="UTF-8"?>
            <graphml xmlns="http://graphml.graphdrawing.org/xmlns" \
            xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" \
            xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns \
            http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">
              <desc>FWX trace: records joined by shared keys (\(result.clusters.count) of \(result.clusterCount) \
            clusters)</desc>

            """
        for key in declaredKeys(keyNodes: keyNodes) {
            try out += "  <key id=\"\(key.id)\" for=\"\(key.for)\" attr.name=\"\(key.name)\" attr.type=\"\(key.type)\"/>\n"
        }
        try out += "  <graph id=\"links\" edgedefault=\"undirected\">\n"

        let points = Dictionary(result.points.map { ($0.recordId, $0) }, uniquingKeysWith: { first, _ in first })
        var nodeIds: [String: String] = [:]
        var edgeNumber = 0, keyNumber = 0
        for (rank, cluster) in result.clusters.enumerated() {
            let seizuresWithPoints = cluster.members.reduce(0) { $0 + (points[$1] == nil ? 0 : 1) }
            for member in cluster.members where nodeIds[member] == nil {
                let id = isNameToken(member) ? member : "r\(nodeIds.count + 1)"
                nodeIds[member] = id
                var data: [(String, String)] = [
                    ("n_type", "record"), ("n_label", member), ("n_owner", RecordFacts.owner(of: member)),
                    ("n_cluster", cluster.id), ("n_clusterRank", String(rank + 1)),
                ]
                if let point = points[member] {
                    data.append(("n_kind", RecordKind.seizure.rawValue))
                    data.append(("n_country", point.country))
                    if let date = point.date { data.append(("n_date", date)) }
                    data.append(("n_neqKg", OutputNumber.plain(point.neqKg)))
                } else if cluster.shipments == 0 {
                    data.append(("n_kind", RecordKind.seizure.rawValue))
                } else if cluster.seizures == seizuresWithPoints {
                    data.append(("n_kind", RecordKind.shipment.rawValue))
                    data.append(("n_neqKg", "0"))
                }
                try out += element("node", attributes: [("id", id)], data: data)
            }
            for key in cluster.sharedKeys {
                let roles = key.roles.map(\.rawValue).joined(separator: "/")
                let keyData: [(String, String)] = [
                    ("e_keyKind", key.kind.rawValue), ("e_keyValue", key.value), ("e_roles", roles),
                    ("e_label", key.label), ("e_cluster", cluster.id),
                ]
                let members = key.members.compactMap { nodeIds[$0] }
                if keyNodes {
                    keyNumber += 1
                    let keyId = "k\(keyNumber)"
                    try out += element("node", attributes: [("id", keyId)], data: [
                        ("n_type", "key"), ("n_label", key.label), ("n_keyKind", key.kind.rawValue),
                        ("n_keyValue", key.value), ("n_roles", roles), ("n_cluster", cluster.id),
                        ("n_clusterRank", String(rank + 1)),
                    ])
                    for member in members {
                        edgeNumber += 1
                        try out += element("edge", attributes: [("id", "e\(edgeNumber)"), ("source", member),
                                                            ("target", keyId)], data: keyData)
                    }
                } else {
                    for (index, source) in members.enumerated() {
                        for target in members[(index + 1)...] {
                            edgeNumber += 1
                            try out += element("edge", attributes: [("id", "e\(edgeNumber)"), ("source", source),
                                                                ("target", target)], data: keyData)
                        }
                    }
                }
            }
        }
        try out += "  </graph>\n</graphml>\n"
    }

    private struct DeclaredKey {
        var id: String
        var `for`: String
        var name: String
        var type: String
    }

    /// The `<key>` declarations: every attribute a node or edge may carry, with its GraphML type.
    private static func declaredKeys(keyNodes: Bool) -> [DeclaredKey] {
        var keys = [
            DeclaredKey(id: "n_type", for: "node", name: "type", type: "string"),
            DeclaredKey(id: "n_label", for: "node", name: "label", type: "string"),
            DeclaredKey(id: "n_kind", for: "node", name: "kind", type: "string"),
            DeclaredKey(id: "n_owner", for: "node", name: "owner", type: "string"),
            DeclaredKey(id: "n_country", for: "node", name: "country", type: "string"),
            DeclaredKey(id: "n_date", for: "node", name: "date", type: "string"),
            DeclaredKey(id: "n_neqKg", for: "node", name: "neqKg", type: "double"),
            DeclaredKey(id: "n_cluster", for: "node", name: "cluster", type: "string"),
            DeclaredKey(id: "n_clusterRank", for: "node", name: "clusterRank", type: "int"),
        ]
        if keyNodes {
            keys += [
                DeclaredKey(id: "n_keyKind", for: "node", name: "keyKind", type: "string"),
                DeclaredKey(id: "n_keyValue", for: "node", name: "keyValue", type: "string"),
                DeclaredKey(id: "n_roles", for: "node", name: "roles", type: "string"),
            ]
        }
        keys += [
            DeclaredKey(id: "e_keyKind", for: "edge", name: "keyKind", type: "string"),
            DeclaredKey(id: "e_keyValue", for: "edge", name: "keyValue", type: "string"),
            DeclaredKey(id: "e_roles", for: "edge", name: "roles", type: "string"),
            DeclaredKey(id: "e_label", for: "edge", name: "label", type: "string"),
            DeclaredKey(id: "e_cluster", for: "edge", name: "cluster", type: "string"),
        ]
        return keys
    }

    private static func element(_ name: String, attributes: [(String, String)], data: [(String, String)]) -> String {
        var text = "    <\(name)"
        for (attribute, value) in attributes { text += " \(attribute)=\"\(OutputEscape.xml(value))\"" }
        text += ">"
        for (key, value) in data { text += "<data key=\"\(key)\">\(OutputEscape.xml(value))</data>" }
        return text + "</\(name)>\n"
    }

    /// Whether `text` is an XML name token (what GraphML requires of node ids): letters, digits, `.`, `-`, `_`, `:`.
    private static func isNameToken(_ text: String) -> Bool {
        !text.isEmpty && text.unicodeScalars.allSatisfy {
            $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "." || $0 == "-" || $0 == "_" || $0 == ":"
        }
    }
}
