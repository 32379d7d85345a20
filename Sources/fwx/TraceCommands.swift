import ArgumentParser
import FWXModel
import FWXNode
import FWXStore
import FWXTrace
import FWXXML
import Foundation

/// `fwx trace`: flows, routes and cross-border clusters over a node's store or over batch files.
struct TraceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Trace flows of illegal fireworks and the networks behind them, over a node's store or batch files.",
        discussion: """
            Reads every record a node holds (--config: its store, which holds only what the node may see) or the \
            records of batch files (parsed with the hardened parser; the schema is not checked, run fwx validate \
            for that), at their latest revision, withdrawn ones left out. Prints a summary, or writes a table \
            (--format csv|json), a map (--format geojson, opens in QGIS), the link graph (--format graphml, \
            opens in Gephi), and/or a self-contained HTML report (--html). See docs/trace.md. \
            Exit status: 0, or 2 on a usage, configuration, store or I/O error.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, csv, json, geojson, graphml }

    @Option(name: .long, help: "A node configuration: trace over that node's store.")
    var config: String?
    @Argument(help: "Batch files to trace over (instead of --config).")
    var files: [String] = []
    @Option(name: .long, help: "First day, YYYY-MM-DD.")
    var from: String?
    @Option(name: .long, help: "Last day, YYYY-MM-DD.")
    var to: String?
    @Option(name: .long, help: "Only records involving these countries (comma-separated).")
    var countries: String?
    @Option(name: .long, help: "Only these CE categories (comma-separated, e.g. F4,unmarked).")
    var categories: String?
    @Option(name: .long, help: "month, quarter or year.")
    var period: String = "month"
    @Option(name: .long, help: "Name NUTS regions in flows at this level (1, 2 or 3) where records give them; countries only when absent.")
    var regionLevel: Int?
    @Option(name: .long, help: "text, csv, json, geojson or graphml.")
    var format: Format = .text
    @Option(name: .long, help: "The table for --format csv: \(TraceTable.allCases.map(\.rawValue).joined(separator: ", ")).")
    var table: String = "routes"
    @Option(name: [.short, .long], help: "Output file (standard output when absent).")
    var output: String?
    @Option(name: .long, help: "Also write the self-contained HTML report here.")
    var html: String?
    @Option(name: .long, help: "Top routes to list.")
    var top: Int = 10
    @Option(name: .long, help: "A key shared by more records than this joins none of them (a common name is no link).")
    var maxRecordsPerKey: Int = 500
    @Option(name: .long, help: "List at most this many clusters (the largest); all when absent.")
    var maxClusters: Int?
    @Option(name: .long, help: "List at most this many map points (most NEQ first); all when absent.")
    var maxPoints: Int?

    func validate() throws {
        guard (config == nil) != files.isEmpty else {
            throw ValidationError("give either --config FILE (a node's store) or batch files, not both")
        }
        guard PeriodGranularity(rawValue: period) != nil else { throw ValidationError("--period must be month, quarter or year") }
        guard TraceTable(rawValue: table) != nil else {
            throw ValidationError("--table must be one of \(TraceTable.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard top >= 1, maxRecordsPerKey >= 2 else { throw ValidationError("--top must be >= 1 and --max-records-per-key >= 2") }
        guard (maxClusters ?? 0) >= 0, (maxPoints ?? 0) >= 0 else {
            throw ValidationError("--max-clusters and --max-points must be 0 or more")
        }
        if let regionLevel, !(1...3).contains(regionLevel) {
            throw ValidationError("--region-level must be 1, 2 or 3 (NUTS levels)")
        }
        if let categories {
            for name in categories.split(separator: ",") where CECategory(rawValue: String(name)) == nil {
                throw ValidationError("--categories: \(name) is not a CE category (F1-F4, T1, T2, P1, P2, unmarked)")
            }
        }
    }

    func run() async throws {
        let query = try TraceQuery(
            from: from, to: to,
            countries: Set((countries ?? "").split(separator: ",").compactMap { CountryCode.normalize(String($0)) }),
            categories: Set((categories ?? "").split(separator: ",").compactMap { CECategory(rawValue: String($0)) }),
            period: PeriodGranularity(rawValue: period) ?? .month, regionLevel: regionLevel)
        var engine = TraceEngine(query: query)
        var skipped = 0
        if let config {
            let configuration = try NodeConfiguration.load(path: config)
            let store = try await OperatorStore.open(configuration, readOnly: true)
            // The store reads the next page while this one is added, straight from the stored binary form.
            do {
                skipped = try await engine.add(from: store)
                await store.close()
            } catch {
                await store.close()
                throw error
            }
        } else {
            // Three stages on two cores: libxml2 parses on this thread; records are decoded, reduced to facts and
            // encoded in their binary form on the reader's second thread; and added from that form on a third.
            let reader = TraceFileReader()
            try engine.addConcurrently { adder in
                for file in files { skipped += try reader.read(file) { adder.add($0) } }
            }
        }
        // Only what the outputs show is built: the summary details 10 clusters and the HTML report 20, and neither
        // lists map points; a 1M-record store has ~285k clusters, and building them all took a third of the time.
        // JSON, GraphML and the clusters and points tables list every cluster and point --max-clusters and
        // --max-points allow; GeoJSON lists points and no clusters; the other tables neither.
        let csvTable = TraceTable(rawValue: table)
        let listsClusters = format == .json || format == .graphml || (format == .csv && csvTable == .clusters)
        let listsPoints = format == .json || format == .graphml || format == .geojson
            || (format == .csv && csvTable == .points)
        let shownClusters = max(format == .text ? Self.summaryClusters : 0, html != nil ? Self.reportClusters : 0)
        let result = engine.result(
            topRoutes: top, maxRecordsPerKey: maxRecordsPerKey,
            maxClusters: listsClusters ? maxClusters : min(maxClusters ?? shownClusters, shownClusters),
            maxPoints: listsPoints ? maxPoints : 0)
        if skipped > 0 {
            FileHandle.standardError.write(Data("fwx: \(skipped) record(s) could not be read and were left out\n".utf8))
        }
        if let html {
            let page = TraceHTML.render(result, title: "FWX trace",
                                        generatedAt: ISOTime.timestamp(epochSeconds: Int(Date().timeIntervalSince1970)),
                                        maxClusters: Self.reportClusters)
            try AtomicOutput.write(Array(page.utf8), to: html)
        }
        switch format {
        case .text:
            let text = Self.summary(result)
            if let output { try AtomicOutput.write(Array(text.utf8), to: output) } else { print(text, terminator: "") }
        case .csv: try AtomicOutput.write(Array(TraceCSV.render(result, table: TraceTable(rawValue: table)!).utf8), to: output)
        case .json:
            // In pieces: the JSON of a million records is ~460 MB, never held whole.
            try AtomicOutput.write(to: output) { out in try TraceJSON.write(result) { try out.write(bytes: $0) } }
        case .geojson: try AtomicOutput.write(to: output) { out in try TraceGeoJSON.write(result) { try out.write($0) } }
        case .graphml: try AtomicOutput.write(to: output) { out in try TraceGraphML.write(result) { try out.write($0) } }
        }
    }

    /// Clusters detailed by the text summary and by the HTML report.
    static let summaryClusters = 10
    static let reportClusters = 20

    /// A short human summary: totals, top routes, largest clusters.
    static func summary(_ result: TraceResult) -> String {
        func kg(_ value: Double) -> String { String(format: "%.1f kg", value) }
        var lines: [String] = []
        let totals = result.totals
        lines.append("\(totals.recordsMatched) of \(totals.recordsConsidered) records (\(totals.seizures) seizures, "
            + "\(totals.shipments) shipments), NEQ \(kg(totals.neqKg)), gross \(kg(totals.grossKg))")
        lines.append("")
        lines.append("Top routes (\(result.routeCount) in all):")
        for route in result.routes {
            var line = "  \(route.label.padding(toLength: 28, withPad: " ", startingAt: 0)) \(String(format: "%6d", route.records)) records  NEQ \(kg(route.neqKg))"
            if let change = route.change {
                line += "  (\(change.recordsChange >= 0 ? "+" : "")\(change.recordsChange) vs previous period)"
            }
            lines.append(line)
        }
        lines.append("")
        lines.append("Clusters of linked records: \(result.clusterCount)"
            + (result.ignoredKeys.isEmpty ? "" : " (\(result.ignoredKeys.count) keys too common to link were ignored)"))
        for cluster in result.clusters.prefix(summaryClusters) {
            let keys = cluster.sharedKeys.prefix(3).map(\.label).joined(separator: ", ")
            lines.append("  \(cluster.members.count) records in \(cluster.countries.joined(separator: ", ")), "
                + "\(cluster.firstDate ?? "?") to \(cluster.lastDate ?? "?"), NEQ \(kg(cluster.neqKg)): \(keys)")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Reads records from batch files for tracing: the hardened streaming parser without the schema (tracing must be
/// fast; validation is `fwx validate`'s job), each record decoded and reduced to its facts.
struct TraceFileReader {
    /// Calls `body` with the facts of each record of `path`; returns how many records could not be decoded.
    func read(_ path: String, _ body: @escaping (RecordFacts) -> Void) throws -> Int {
        final class Counter { var skipped = 0; var fatal: Finding? }
        let counter = Counter()
        var events = BatchEvents()
        events.record = { tree, _ in
            if let record = try? RecordDecoder(tree: tree, file: path).record() {
                body(RecordFacts.of(record))
            } else {
                counter.skipped += 1
            }
        }
        events.finding = { finding in
            if finding.rule.hasPrefix("FWX-P"), counter.fatal == nil { counter.fatal = finding }
        }
        try BatchStreamParser(validateSchema: false).parse(try ByteSource(path: path), events: events)
        if let fatal = counter.fatal {
            throw FWXError(.conversion, "\(fatal.location): \(fatal.rule): \(fatal.message)", location: path)
        }
        return counter.skipped
    }
}

/// `fwx search`: the Prüm two-step against a node — hit or no hit, then (with --fetch) the records.
struct SearchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Ask a node whether it holds records with a container, plate, registration or VAT number.",
        discussion: """
            The node answers hit or no hit with the ids of the records you may see; every search is audited there. \
            With --fetch the records are then fetched one by one (signed by the node, signature checked) into \
            --out. Exit status: 0 hit, 1 no hit, 2 usage, I/O or TLS error.
            """)

    @OptionGroup var client: ClientOptions
    @Option(name: .long, help: "Container number (ISO 6346).")
    var container: String?
    @Option(name: .long, help: "Vehicle plate (any registration country).")
    var plate: String?
    @Option(name: .long, help: "Company registration number or CE registration number.")
    var registration: String?
    @Option(name: .long, help: "VAT number.")
    var vat: String?
    @Flag(name: .long, help: "Fetch the records that were hits.")
    var fetch = false
    @Option(name: .long, help: "Folder for fetched records (with --fetch).")
    var out: String = "."

    func validate() throws {
        guard [container, plate, registration, vat].contains(where: { $0 != nil }) else {
            throw ValidationError("give --container, --plate, --registration or --vat")
        }
    }

    func run() async throws {
        let exchange = try client.exchange()
        let answer = try await exchange.search(container: container, plate: plate, registration: registration, vat: vat)
        guard answer.hit else {
            print("no hit")
            throw ExitCode(ExitStatus.invalid)
        }
        print("hit: \(answer.records.count) record(s): \(answer.records.joined(separator: ", "))")
        guard fetch else { return }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let check = FeedPageCheck(trust: exchange.trust, maxRecords: 10)
        // The node's CA names the node's country: the owner of the records it serves.
        let country = exchange.trust.certificates.first?.country ?? ""
        for id in answer.records {
            let bytes = try await exchange.fetchRecord(id: id)
            _ = try await check.records(in: bytes, from: country, name: id)
            let safe = id.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" }
            try AtomicOutput.write(bytes, to: out + "/" + String(safe) + ".xml")
            print("  fetched \(id) (signature verified) -> \(out)/\(String(safe)).xml")
        }
    }
}
