import FWXModel

/// Computes a ``TraceResult`` from a stream of ``RecordFacts``: call ``add(_:)`` once per record (latest revision
/// only; the records the analyst may see only), then ``result(topRoutes:minClusterSize:maxRecordsPerKey:maxClusters:maxPoints:)``.
///
/// Memory is proportional to the matched records and their keys, kept as integers and interned strings: about
/// 60 bytes per matched record plus about 45 bytes per distinct key and 8 per key occurrence (docs/trace.md).
/// Adding is O(keys of the record); the result is O(n log n) at most, for sorting.
public struct TraceEngine: Sendable {
    public let query: TraceQuery

    // Filters, precomputed.
    private let fromDay: TraceDay?
    private let toDay: TraceDay?
    /// Bit per category index (``categoryCount`` for "no items"); 0 for every category.
    private let categoryMask: UInt16
    private let linkKindMask: UInt16

    // Interned strings: countries and regions share one table; transit paths have their own.
    private var strings = StringTable()
    /// Ids of two-letter upper-case codes by `(first - A) × 26 + (second - A)`, -1 until seen: countries skip hashing.
    private var countryIds = [Int32](repeating: -1, count: 26 * 26)
    private var pathIds: [[Int32]: Int32] = [:]
    private var pathCountries: [[String]] = []

    // One entry per matched record (index = record number).
    private var ids = RecordIdStore()
    private var recordDay: [Int32] = []
    private var recordOwner: [Int32] = []
    private var recordLocation: [Int32] = []
    private var recordIsShipment: [Bool] = []
    private var recordNeq: [Double] = []
    private var recordGross: [Double] = []
    private var latestDay: TraceDay?

    // Aggregates.
    private var flows: [FlowKey: Sums] = [:]
    private var routes: [RouteKey: Sums] = [:]
    private var routePeriods: [RoutePeriodKey: Sums] = [:]
    private var periods: [Int32: Sums] = [:]
    private var categoryRows = Array(repeating: Sums(), count: categoryCount + 1)
    private var countryRoles: [CountryCounts] = []
    private var considered = 0
    private var withdrawn = 0
    private var total = Sums()

    // Map points: matched seizures.
    private var pointRecord: [Int32] = []
    private var pointLatitude: [Double] = []
    private var pointLongitude: [Double] = []

    // Link keys.
    private var keyTable = KeyTable()
    /// ``add(_:)``'s buffer for the binary form of the record being added.
    private var scratch: [UInt8] = []
    private var keyRecords: [Int32] = []
    private var keyRoles: [UInt16] = []
    private var occurrenceRecord: [Int32] = []
    private var occurrenceKey: [Int32] = []

    static let categoryCount = CECategory.allCases.count

    /// An engine for `query`.
    public init(query: TraceQuery = .all) {
        self.query = query
        fromDay = query.from.flatMap(TraceDay.init)
        toDay = query.to.flatMap(TraceDay.init)
        var mask: UInt16 = 0
        for category in query.categories { mask |= 1 << UInt16(Self.index(of: category)) }
        categoryMask = mask
        var kinds: UInt16 = 0
        for kind in query.linkKinds { kinds |= kind.bit }
        linkKindMask = kinds
    }

    /// Takes one record into account. Withdrawn records are counted and skipped; records outside the query are
    /// counted as considered only. Give each record once, at its latest revision.
    ///
    /// The facts are taken as their binary form keeps them (``RecordFacts/binary()``): a location with only one of
    /// its two coordinates counts as one without coordinates, and a negative item count as 0 (``of(_:)`` never
    /// makes either).
    ///
    /// Throws ``TraceError`` and changes nothing when the record's figures cannot be summed: an amount or a
    /// coordinate that is not a finite number (for example a mass too large for a Double, from a file that was
    /// never validated), or an amount beyond ``maxKilograms``.
    public mutating func add(_ facts: RecordFacts) throws {
        // One way of adding, the binary one: facts go through their binary form (as a store keeps them), in a
        // buffer the engine reuses.
        var buffer = scratch
        scratch = []
        buffer.removeAll(keepingCapacity: true)
        facts.appendBinary(to: &buffer)
        let added = buffer.withUnsafeBytes { add(binary: $0) }
        scratch = buffer
        guard added else {
            throw TraceError(.unsummable, "record \(facts.recordId.quotedForMessage) has an amount or a coordinate that is not a finite number, or an amount above \(Self.maxKilograms) kg; it was left out")
        }
    }

    /// The largest amount (net explosive quantity or gross mass, in kg, of a record or of one of its categories)
    /// the engine sums; a record with a larger one is refused, so that no total can become infinite or lose its
    /// grams: a million tonnes, far above any real seizure or shipment.
    public static let maxKilograms = 1e9

    /// Takes one record, given as facts in their binary form (``RecordFacts/binary()``), into account without
    /// decoding it to a ``RecordFacts`` first; the same as `add(RecordFacts(binary: bytes))` for every form
    /// ``RecordFacts/binary()`` makes. (Strings are compared as the UTF-8 bytes they are: bytes that are not
    /// UTF-8, which that encoder never writes, are not repaired first.) Returns false, having changed nothing, when
    /// the bytes are truncated, of another version or malformed (which includes an amount beyond ``maxKilograms``:
    /// with at most 2^31 records of at most 10^9 kg each, no sum can become infinite, and rounding to grams stays
    /// exact enough).
    @discardableResult
    public mutating func add(binary bytes: UnsafeRawBufferPointer) -> Bool {
        guard let facts = BinaryFacts(bytes) else { return false }
        add(facts)
        return true
    }

    private mutating func add(_ facts: BinaryFacts) {
        considered += 1
        if facts.isWithdrawn {
            withdrawn += 1
            return
        }
        let day = facts.date.flatMap { TraceDay(utf8: facts[$0]) }
        if fromDay != nil || toDay != nil {
            guard let day else { return }
            if let fromDay, day < fromDay { return }
            if let toDay, day > toDay { return }
        }
        if !query.countries.isEmpty, !matchesCountries(facts) { return }

        // The record's figures: every item, or only those of the selected categories.
        var amounts = facts.totals
        if categoryMask != 0 {
            var selected = RecordFacts.Amounts()
            facts.forEachCategory { index, entry in
                if isSelected(index) { selected = selected + entry }
            }
            guard selected.items > 0 else { return }
            amounts = selected
        }

        let record = Int32(recordDay.count)
        let isShipment = facts.isShipment
        ids.append(facts[facts.recordId])
        recordDay.append(day?.value ?? 0)
        if let day, latestDay.map({ day > $0 }) ?? true { latestDay = day }
        let owner = intern(facts[facts.owner])
        recordOwner.append(owner)
        let location = facts.locationCountry.map { intern(facts[$0]) } ?? -1
        recordLocation.append(location)
        recordIsShipment.append(isShipment)
        recordNeq.append(amounts.neqKg)
        recordGross.append(amounts.grossKg)

        let origin = facts.originCountry.map { intern(facts[$0]) } ?? -1
        let destination = facts.destinationCountry.map { intern(facts[$0]) } ?? -1
        var originRegion: Int32 = -1, destinationRegion: Int32 = -1
        if let level = query.regionLevel {
            originRegion = region(facts.originRegion.map { facts[$0] }, level: level)
            destinationRegion = region(facts.destinationRegion.map { facts[$0] }, level: level)
        }
        var transit: [Int32] = []
        var path: Int32 = -1
        if facts.transitCount > 0 {
            transit.reserveCapacity(facts.transitCount)
            facts.forEachTransit { transit.append(intern($0)) }
            if let id = pathIds[transit] {
                path = id
            } else {
                path = Int32(pathCountries.count)
                pathIds[transit] = path
                pathCountries.append(transit.map { strings.list[Int($0)] })
            }
        }
        let period = day.map(query.period.period(of:)) ?? Self.undated
        let sums = Sums(records: 1, seizures: isShipment ? 0 : 1, shipments: isShipment ? 1 : 0,
                        items: amounts.items, neqKg: amounts.neqKg, grossKg: amounts.grossKg)
        total.add(sums)

        // Flows and the category breakdown: one row per category of the record.
        var flowKey = FlowKey(period: period, origin: origin, originRegion: originRegion, path: path,
                              destination: destination, destinationRegion: destinationRegion,
                              category: UInt8(Self.categoryCount))
        var anyCategory = false
        facts.forEachCategory { index, entry in
            guard categoryMask == 0 || isSelected(index) else { return }
            anyCategory = true
            let categorySums = Sums(records: 1, seizures: sums.seizures, shipments: sums.shipments,
                                    items: entry.items, neqKg: entry.neqKg, grossKg: entry.grossKg)
            flowKey.category = UInt8(index)
            flows[flowKey, default: Sums()].add(categorySums)
            categoryRows[index].add(categorySums)
        }
        if !anyCategory {
            flows[flowKey, default: Sums()].add(sums)
            categoryRows[Self.categoryCount].add(sums)
        }

        let route = RouteKey(origin: origin, path: path, destination: destination)
        routes[route, default: Sums()].add(sums)
        if period != Self.undated {
            routePeriods[RoutePeriodKey(route: route, period: period), default: Sums()].add(sums)
            periods[period, default: Sums()].add(sums)
        }

        // Countries: each role once per record.
        countryRoles[Int(owner)].owner += 1
        if origin >= 0 { countryRoles[Int(origin)].origin += 1 }
        if destination >= 0 { countryRoles[Int(destination)].destination += 1 }
        if location >= 0 { countryRoles[Int(location)].location += 1 }
        for (offset, country) in transit.enumerated() where !transit[..<offset].contains(country) {
            countryRoles[Int(country)].transit += 1
        }

        if !isShipment, facts.locationCountry != nil {
            pointRecord.append(record)
            pointLatitude.append(facts.latitude ?? .nan)
            pointLongitude.append(facts.longitude ?? .nan)
        }

        // Keys: each distinct key of the record counts once (facts normally hold distinct keys already).
        let firstOccurrence = occurrenceKey.count
        facts.forEachKey { kind, value, roles in
            guard linkKindMask & LinkKind.bits[kind] != 0 else { return }
            let (id, isNew) = keyTable.intern(kind: kind, value: value)
            if isNew {
                keyRecords.append(1)
                keyRoles.append(roles)
            } else {
                keyRoles[Int(id)] |= roles
                if occurrenceKey[firstOccurrence...].contains(id) { return }
                keyRecords[Int(id)] += 1
            }
            occurrenceRecord.append(record)
            occurrenceKey.append(id)
        }
    }

    /// Takes every record of a sequence into account; the first record that cannot be summed (see ``add(_:)``)
    /// throws, after the records before it were added.
    public mutating func add(contentsOf facts: some Sequence<RecordFacts>) throws {
        for item in facts { try add(item) }
    }

    // MARK: Result

    /// The trace over the records added so far.
    ///
    /// - Parameters:
    ///   - topRoutes: how many routes ``TraceResult/routes`` lists.
    ///   - minClusterSize: the fewest members a cluster needs to be listed (at least 1; 2 leaves out records that
    ///     link to nothing).
    ///   - maxRecordsPerKey: the guard against giant keys: a key carried by more matched records than this joins
    ///     none of them and is listed in ``TraceResult/ignoredKeys`` instead. A generic product name or a common
    ///     company name would otherwise merge unrelated records into one meaningless cluster.
    ///   - maxClusters: how many clusters to list (the largest); nil for all.
    ///   - maxPoints: how many map points to list (those with the most NEQ); nil for all.
    public func result(topRoutes: Int = 10, minClusterSize: Int = 2, maxRecordsPerKey: Int = 500,
                       maxClusters: Int? = nil, maxPoints: Int? = nil) -> TraceResult {
        let comparison = comparedPeriods()
        let summary = TraceResult.QuerySummary(
            from: query.from, to: query.to, countries: query.countries.sorted(),
            categories: CECategory.allCases.filter { query.categories.contains($0) }, period: query.period,
            regionLevel: query.regionLevel, linkKinds: LinkKind.allCases.filter { query.linkKinds.contains($0) },
            maxRecordsPerKey: maxRecordsPerKey, minClusterSize: max(1, minClusterSize))
        let totals = TraceResult.Totals(
            recordsConsidered: considered, recordsWithdrawn: withdrawn, recordsMatched: total.records,
            seizures: total.seizures, shipments: total.shipments, items: total.items,
            neqKg: kilograms(total.neqKg), grossKg: kilograms(total.grossKg))
        let (clusters, clusterCount, ignored) = clusterRows(minClusterSize: max(1, minClusterSize),
                                                            maxRecordsPerKey: max(1, maxRecordsPerKey),
                                                            maxClusters: maxClusters)
        return TraceResult(
            query: summary, totals: totals, flows: flowRows(), routes: routeRows(top: topRoutes, comparison: comparison),
            routeCount: routes.count,
            comparison: comparison.map {
                PeriodComparison(current: query.period.label(of: $0.current),
                                 previous: query.period.label(of: $0.previous))
            },
            timeSeries: periodRows(), categories: categoryRowsResult(), clusters: clusters,
            clusterCount: clusterCount, ignoredKeys: ignored, points: pointRows(limit: maxPoints),
            pointCount: pointRecord.count, countries: countryRows())
    }

    /// The last complete period of the range and the one before, when both lie wholly inside the range. The range
    /// ends on `to`, or without it on the latest matched record's date; it starts on `from`, if given.
    private func comparedPeriods() -> (current: Int32, previous: Int32)? {
        guard let end = toDay ?? latestDay else { return nil }
        let granularity = query.period
        var current = granularity.period(of: end)
        if granularity.lastDay(of: current) != end { current -= 1 }
        let previous = current - 1
        if let fromDay, granularity.firstDay(of: previous) < fromDay { return nil }
        return (current, previous)
    }

    private func flowRows() -> [FlowRow] {
        var rows: [(sortKey: FlowSortKey, row: FlowRow)] = []
        rows.reserveCapacity(flows.count)
        for (key, sums) in flows {
            let row = FlowRow(
                period: key.period == Self.undated ? nil : query.period.label(of: key.period),
                origin: string(key.origin), originRegion: string(key.originRegion), transit: transit(key.path),
                destination: string(key.destination), destinationRegion: string(key.destinationRegion),
                category: Int(key.category) < Self.categoryCount ? CECategory.allCases[Int(key.category)] : nil,
                records: sums.records, seizures: sums.seizures, shipments: sums.shipments, items: sums.items,
                neqKg: kilograms(sums.neqKg), grossKg: kilograms(sums.grossKg))
            rows.append((FlowSortKey(period: key.period == Self.undated ? Int32.max : key.period,
                                     origin: row.origin ?? "", originRegion: row.originRegion ?? "",
                                     transit: row.transit.joined(separator: ">"), destination: row.destination ?? "",
                                     destinationRegion: row.destinationRegion ?? "", category: key.category), row))
        }
        return rows.sorted { $0.sortKey < $1.sortKey }.map(\.row)
    }

    private func routeRows(top: Int, comparison: (current: Int32, previous: Int32)?) -> [RouteRow] {
        var rows: [RouteRow] = []
        rows.reserveCapacity(routes.count)
        for (key, sums) in routes {
            let origin = string(key.origin), destination = string(key.destination), transit = transit(key.path)
            let label = ([origin ?? "?"] + transit + [destination ?? "?"]).joined(separator: " → ")
            var change: RouteChange?
            if let comparison {
                let now = routePeriods[RoutePeriodKey(route: key, period: comparison.current)] ?? Sums()
                let before = routePeriods[RoutePeriodKey(route: key, period: comparison.previous)] ?? Sums()
                let neqChange = now.neqKg - before.neqKg
                change = RouteChange(
                    records: now.records, previousRecords: before.records, recordsChange: now.records - before.records,
                    recordsChangePercent: before.records > 0
                        ? percent(Double(now.records - before.records) / Double(before.records)) : nil,
                    neqKg: kilograms(now.neqKg), previousNeqKg: kilograms(before.neqKg),
                    neqChangeKg: kilograms(neqChange),
                    neqChangePercent: kilograms(before.neqKg) > 0 ? percent(neqChange / before.neqKg) : nil)
            }
            rows.append(RouteRow(origin: origin, transit: transit, destination: destination, label: label,
                                 records: sums.records, seizures: sums.seizures, shipments: sums.shipments,
                                 neqKg: kilograms(sums.neqKg), grossKg: kilograms(sums.grossKg), change: change))
        }
        rows.sort { a, b in
            if a.records != b.records { return a.records > b.records }
            if a.neqKg != b.neqKg { return a.neqKg > b.neqKg }
            return a.label < b.label
        }
        return Array(rows.prefix(max(0, top)))
    }

    private func periodRows() -> [PeriodRow] {
        guard let first = periods.keys.min(), let last = periods.keys.max() else { return [] }
        var rows: [PeriodRow] = []
        for period in first...last {
            let sums = periods[period] ?? Sums()
            rows.append(PeriodRow(
                period: query.period.label(of: period), start: query.period.firstDay(of: period).text,
                end: query.period.lastDay(of: period).text, records: sums.records, seizures: sums.seizures,
                shipments: sums.shipments, items: sums.items, neqKg: kilograms(sums.neqKg),
                grossKg: kilograms(sums.grossKg)))
        }
        return rows
    }

    private func categoryRowsResult() -> [CategoryRow] {
        categoryRows.enumerated().compactMap { index, sums in
            guard sums.records > 0 else { return nil }
            return CategoryRow(category: index < Self.categoryCount ? CECategory.allCases[index] : nil,
                               records: sums.records, items: sums.items, neqKg: kilograms(sums.neqKg),
                               grossKg: kilograms(sums.grossKg))
        }
    }

    private func countryRows() -> [CountryRow] {
        var rows: [CountryRow] = []
        for (id, counts) in countryRoles.enumerated() where counts.involved {
            rows.append(CountryRow(country: strings.list[id], asOwner: counts.owner, asOrigin: counts.origin,
                                   asTransit: counts.transit, asDestination: counts.destination,
                                   asLocation: counts.location))
        }
        return rows.sorted { $0.country < $1.country }
    }

    private func pointRows(limit: Int?) -> [MapPoint] {
        if limit == 0 { return [] }
        var chosen = Array(pointRecord.indices)
        if let limit, limit < chosen.count {
            chosen.sort { a, b in
                let na = kilograms(recordNeq[Int(pointRecord[a])]), nb = kilograms(recordNeq[Int(pointRecord[b])])
                return na != nb ? na > nb : ids.less(pointRecord[a], pointRecord[b])
            }
            chosen.removeLast(chosen.count - max(0, limit))
        }
        chosen.sort { ids.less(pointRecord[$0], pointRecord[$1]) }
        return chosen.map { index in
            let record = Int(pointRecord[index])
            let latitude = pointLatitude[index], longitude = pointLongitude[index]
            return MapPoint(recordId: ids.string(Int32(record)), country: strings.list[Int(recordLocation[record])],
                            latitude: latitude.isNaN ? nil : latitude, longitude: longitude.isNaN ? nil : longitude,
                            date: dayText(recordDay[record]), neqKg: kilograms(recordNeq[record]))
        }
    }

    // MARK: Clusters

    private func clusterRows(minClusterSize: Int, maxRecordsPerKey: Int, maxClusters: Int?)
        -> (clusters: [Cluster], count: Int, ignored: [IgnoredKey]) {
        let recordCount = recordDay.count
        let keyCount = keyRecords.count

        // Group the occurrences of shared keys by key (a counting sort): members[start[k]..<start[k+1]].
        var start = [Int32](repeating: 0, count: keyCount + 1)
        var sharedOccurrences = 0
        for key in 0..<keyCount where keyRecords[key] >= 2 {
            start[key + 1] = keyRecords[key]
            sharedOccurrences += Int(keyRecords[key])
        }
        for key in 0..<keyCount { start[key + 1] += start[key] }
        var members = [Int32](repeating: 0, count: sharedOccurrences)
        var fill = start
        for (record, key) in zip(occurrenceRecord, occurrenceKey) where keyRecords[Int(key)] >= 2 {
            members[Int(fill[Int(key)])] = record
            fill[Int(key)] += 1
        }
        fill = []

        // Join the records of every usable key.
        var sets = DisjointSets(count: recordCount)
        var ignoredIds: [Int32] = []
        for key in 0..<keyCount where keyRecords[key] >= 2 {
            if Int(keyRecords[key]) > maxRecordsPerKey {
                ignoredIds.append(Int32(key))
                continue
            }
            let first = members[Int(start[key])]
            for position in Int(start[key]) + 1..<Int(start[key + 1]) { sets.union(first, members[position]) }
        }

        // Components big enough to list.
        var clusterOf = [Int32](repeating: -1, count: recordCount)
        var sizes: [Int32] = [], neq: [Double] = [], smallest: [Int32] = []
        for record in 0..<recordCount {
            let root = Int(sets.find(Int32(record)))
            if sets.size(ofRoot: Int32(root)) < minClusterSize { continue }
            var cluster = clusterOf[root]
            if cluster < 0 {
                cluster = Int32(sizes.count)
                clusterOf[root] = cluster
                sizes.append(0)
                neq.append(0)
                smallest.append(Int32(record))
            }
            let c = Int(cluster)
            sizes[c] += 1
            neq[c] += recordNeq[record]
            if ids.less(Int32(record), smallest[c]) { smallest[c] = Int32(record) }
        }
        // Rounded to grams, so that the order does not depend on the order of addition.
        neq = neq.map(kilograms)
        var order = Array(sizes.indices)
        order.sort { a, b in
            if sizes[a] != sizes[b] { return sizes[a] > sizes[b] }
            if neq[a] != neq[b] { return neq[a] > neq[b] }
            return ids.less(smallest[a], smallest[b])
        }
        if let maxClusters, maxClusters < order.count { order.removeLast(order.count - max(0, maxClusters)) }
        var position = [Int32](repeating: -1, count: sizes.count)
        for (index, cluster) in order.enumerated() { position[cluster] = Int32(index) }

        // Members and their figures.
        var memberLists = Array(repeating: [Int32](), count: order.count)
        for record in 0..<recordCount {
            let cluster = clusterOf[Int(sets.find(Int32(record)))]
            guard cluster >= 0, position[Int(cluster)] >= 0 else { continue }
            memberLists[Int(position[Int(cluster)])].append(Int32(record))
        }

        // Evidence: the usable shared keys of listed clusters, and the ignored keys.
        var evidence = Array(repeating: [Int32](), count: order.count)
        for key in 0..<keyCount where keyRecords[key] >= 2 && Int(keyRecords[key]) <= maxRecordsPerKey {
            let cluster = clusterOf[Int(sets.find(members[Int(start[key])]))]
            guard cluster >= 0, position[Int(cluster)] >= 0 else { continue }
            evidence[Int(position[Int(cluster)])].append(Int32(key))
        }

        var clusters: [Cluster] = []
        clusters.reserveCapacity(order.count)
        for (index, list) in memberLists.enumerated() {
            var countries = Set<Int32>()
            var first = Int32.max, last = Int32.min
            var seizures = 0, shipments = 0, neqKg = 0.0, grossKg = 0.0
            for record in list.map(Int.init) {
                countries.insert(recordOwner[record])
                if recordLocation[record] >= 0 { countries.insert(recordLocation[record]) }
                if recordDay[record] > 0 {
                    first = min(first, recordDay[record])
                    last = max(last, recordDay[record])
                }
                if recordIsShipment[record] { shipments += 1 } else { seizures += 1 }
                neqKg += recordNeq[record]
                grossKg += recordGross[record]
            }
            let memberIds = list.map { ids.string($0) }.sorted()
            var shared: [SharedKey] = evidence[index].map { id in
                let key = keyTable.key(id)
                let roles = PartyRoles(rawValue: keyRoles[Int(id)])
                let carriers = members[Int(start[Int(id)])..<Int(start[Int(id) + 1])].map { ids.string($0) }.sorted()
                return SharedKey(kind: key.kind, value: key.value, roles: roles.roles,
                                 label: key.description(roles: roles), members: carriers)
            }
            shared.sort { a, b in
                if a.members.count != b.members.count { return a.members.count > b.members.count }
                return a.kind != b.kind ? a.kind < b.kind : a.value < b.value
            }
            clusters.append(Cluster(
                id: memberIds.first ?? "", members: memberIds, seizures: seizures, shipments: shipments,
                countries: countries.map { strings.list[Int($0)] }.sorted(),
                firstDate: first == Int32.max ? nil : dayText(first), lastDate: last == Int32.min ? nil : dayText(last),
                neqKg: kilograms(neqKg), grossKg: kilograms(grossKg), sharedKeys: shared))
        }

        var ignored = ignoredIds.map { id in
            let key = keyTable.key(id)
            let roles = PartyRoles(rawValue: keyRoles[Int(id)])
            return IgnoredKey(kind: key.kind, value: key.value, roles: roles.roles,
                              label: key.description(roles: roles), records: Int(keyRecords[Int(id)]))
        }
        ignored.sort { a, b in
            if a.records != b.records { return a.records > b.records }
            return a.kind != b.kind ? a.kind < b.kind : a.value < b.value
        }
        return (clusters, sizes.count, ignored)
    }

    // MARK: Helpers

    static let undated = Int32.min

    static func index(of category: CECategory) -> Int {
        switch category {
        case .f1: 0
        case .f2: 1
        case .f3: 2
        case .f4: 3
        case .t1: 4
        case .t2: 5
        case .p1: 6
        case .p2: 7
        case .unmarked: 8
        }
    }

    /// Whether the category at `index` (``index(of:)``) is selected.
    private func isSelected(_ index: Int) -> Bool {
        categoryMask & (1 << UInt16(index)) != 0
    }

    private func matchesCountries(_ facts: BinaryFacts) -> Bool {
        let wanted = query.countries
        func isWanted(_ range: Range<Int>?) -> Bool {
            range.map { wanted.contains(String(decoding: facts[$0], as: UTF8.self)) } ?? false
        }
        if isWanted(facts.owner) || isWanted(facts.originCountry) || isWanted(facts.destinationCountry)
            || isWanted(facts.locationCountry) { return true }
        var found = false
        facts.forEachTransit { if wanted.contains(String(decoding: $0, as: UTF8.self)) { found = true } }
        return found
    }

    /// The id of a country code (or region code) given as UTF-8; two capital letters without building a String.
    private mutating func intern(_ utf8: UnsafeRawBufferPointer) -> Int32 {
        if utf8.count == 2, utf8[0] >= 65, utf8[0] <= 90, utf8[1] >= 65, utf8[1] <= 90 {
            let id = countryIds[Int(utf8[0] - 65) * 26 + Int(utf8[1] - 65)]
            if id >= 0 { return id }
        }
        return intern(String(decoding: utf8, as: UTF8.self))
    }

    private mutating func intern(_ text: String) -> Int32 {
        var slot = -1
        let utf8 = text.utf8
        if utf8.count == 2, let first = utf8.first, let second = utf8.last,
           first >= 65, first <= 90, second >= 65, second <= 90 {
            slot = Int(first - 65) * 26 + Int(second - 65)
            if countryIds[slot] >= 0 { return countryIds[slot] }
        }
        let (id, isNew) = strings.intern(text)
        if isNew { countryRoles.append(CountryCounts()) }
        if slot >= 0 { countryIds[slot] = id }
        return id
    }

    private mutating func region(_ utf8: UnsafeRawBufferPointer?, level: Int) -> Int32 {
        guard let utf8, !utf8.isEmpty else { return -1 }
        let code = String(decoding: utf8, as: UTF8.self)
        return intern(code.count > 2 + level ? String(code.prefix(2 + level)) : code)
    }

    private func string(_ id: Int32) -> String? { id < 0 ? nil : strings.list[Int(id)] }

    private func transit(_ path: Int32) -> [String] { path < 0 ? [] : pathCountries[Int(path)] }

    private func dayText(_ value: Int32) -> String? { value > 0 ? TraceDay(value: value).text : nil }
}

extension LinkKind {
    /// ``bit`` of each kind, by its index in ``allCases``.
    static let bits: [UInt16] = allCases.map(\.bit)

    /// The kind's bit in a mask of kinds.
    var bit: UInt16 {
        switch self {
        case .container: 1 << 0
        case .vehicle: 1 << 1
        case .organisationName: 1 << 2
        case .organisationRegistration: 1 << 3
        case .vat: 1 << 4
        case .ceRegistration: 1 << 5
        case .product: 1 << 6
        case .person: 1 << 7
        }
    }
}

/// Kilograms rounded to grams, so that results do not depend on the order records were added in.
private func kilograms(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }

/// A ratio as a percentage rounded to one decimal.
private func percent(_ ratio: Double) -> Double { (ratio * 1000).rounded() / 10 }

// MARK: - Internal storage

/// Running totals of one aggregate cell.
struct Sums: Sendable {
    var records = 0
    var seizures = 0
    var shipments = 0
    var items = 0
    var neqKg = 0.0
    var grossKg = 0.0

    mutating func add(_ other: Sums) {
        records += other.records
        seizures += other.seizures
        shipments += other.shipments
        items += other.items
        neqKg += other.neqKg
        grossKg += other.grossKg
    }
}

struct FlowKey: Hashable, Sendable {
    var period: Int32
    var origin: Int32
    var originRegion: Int32
    var path: Int32
    var destination: Int32
    var destinationRegion: Int32
    var category: UInt8
}

struct FlowSortKey: Comparable {
    var period: Int32
    var origin: String
    var originRegion: String
    var transit: String
    var destination: String
    var destinationRegion: String
    var category: UInt8

    static func < (a: FlowSortKey, b: FlowSortKey) -> Bool {
        if a.period != b.period { return a.period < b.period }
        if a.origin != b.origin { return a.origin < b.origin }
        if a.originRegion != b.originRegion { return a.originRegion < b.originRegion }
        if a.transit != b.transit { return a.transit < b.transit }
        if a.destination != b.destination { return a.destination < b.destination }
        if a.destinationRegion != b.destinationRegion { return a.destinationRegion < b.destinationRegion }
        return a.category < b.category
    }
}

struct RouteKey: Hashable, Sendable {
    var origin: Int32
    var path: Int32
    var destination: Int32
}

struct RoutePeriodKey: Hashable, Sendable {
    var route: RouteKey
    var period: Int32
}

struct CountryCounts: Sendable {
    var owner = 0
    var origin = 0
    var transit = 0
    var destination = 0
    var location = 0
    var involved: Bool { owner + origin + transit + destination + location > 0 }
}

/// Strings stored once, numbered in order of arrival.
struct StringTable: Sendable {
    private var ids: [String: Int32] = [:]
    private(set) var list: [String] = []

    mutating func intern(_ text: String) -> (id: Int32, isNew: Bool) {
        if let id = ids[text] { return (id, false) }
        let id = Int32(list.count)
        ids[text] = id
        list.append(text)
        return (id, true)
    }
}

/// Link keys numbered in order of arrival, in an open-addressing table of 8-byte slots: 32 bits of the key's hash
/// (to skip most comparisons) and its id. The keys themselves lie as UTF-8 in one buffer (no String per key, nothing
/// to reference-count), and growing re-places them by their kept hashes, never hashing a value again.
struct KeyTable: Sendable {
    /// Each key's kind, as its index in ``LinkKind/allCases``.
    private var kinds: [UInt8] = []
    /// The values' UTF-8, one after the other; key `i` ends at `ends[i]`.
    private var bytes: [UInt8] = []
    private var ends: [Int] = []
    /// ``hash(kind:value:)`` of each key, kept so that growing never hashes a value again.
    private var hashes: [UInt64] = []
    /// Per slot: hash tag in the high 32 bits, id + 1 in the low 32 bits; 0 marks an empty slot.
    private var slots = [UInt64](repeating: 0, count: 1024)

    var count: Int { kinds.count }

    /// The key numbered `id`.
    func key(_ id: Int32) -> LinkKey {
        let index = Int(id)
        let start = index == 0 ? 0 : ends[index - 1]
        return LinkKey(kind: LinkKind.allCases[Int(kinds[index])],
                       value: String(decoding: bytes[start..<ends[index]], as: UTF8.self))
    }

    /// The id of the key of kind `kind` (index in ``LinkKind/allCases``) and value `value` (UTF-8, compared byte
    /// for byte), numbering it if it is new.
    mutating func intern(kind: Int, value: UnsafeRawBufferPointer) -> (id: Int32, isNew: Bool) {
        let hash = Self.hash(kind: kind, value: value)
        let tag = hash & 0xFFFF_FFFF_0000_0000
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while slots[slot] != 0 {
            let entry = slots[slot]
            if entry & 0xFFFF_FFFF_0000_0000 == tag {
                let id = Int32(truncatingIfNeeded: entry & 0xFFFF_FFFF) - 1
                if equals(Int(id), kind: kind, value: value) { return (id, false) }
            }
            slot = (slot + 1) & mask
        }
        let id = Int32(kinds.count)
        kinds.append(UInt8(kind))
        bytes.append(contentsOf: value)
        ends.append(bytes.count)
        hashes.append(hash)
        slots[slot] = tag | UInt64(UInt32(id + 1))
        if kinds.count * 4 > slots.count * 3 { grow() }
        return (id, true)
    }

    private func equals(_ index: Int, kind: Int, value: UnsafeRawBufferPointer) -> Bool {
        guard Int(kinds[index]) == kind else { return false }
        let start = index == 0 ? 0 : ends[index - 1]
        guard ends[index] - start == value.count else { return false }
        return bytes.withUnsafeBytes { stored in
            UnsafeRawBufferPointer(rebasing: stored[start..<ends[index]]).elementsEqual(value)
        }
    }

    private mutating func grow() {
        slots = [UInt64](repeating: 0, count: slots.count * 2)
        let mask = slots.count - 1
        for (index, hash) in hashes.enumerated() {
            var slot = Int(truncatingIfNeeded: hash) & mask
            while slots[slot] != 0 { slot = (slot + 1) & mask }
            slots[slot] = hash & 0xFFFF_FFFF_0000_0000 | UInt64(UInt32(index + 1))
        }
    }

    /// A 64-bit hash of the kind and the value's UTF-8 (multiply-xorshift over 8-byte words); collisions only cost
    /// a comparison.
    static func hash(kind: Int, value bytes: UnsafeRawBufferPointer) -> UInt64 {
        let multiplier: UInt64 = 0x9E37_79B9_7F4A_7C15
        var state = UInt64(kind + 1) &* multiplier
        var index = 0
        while index + 8 <= bytes.count {
            let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self))
            state = (state ^ word) &* multiplier
            state ^= state >> 29
            index += 8
        }
        var tail: UInt64 = UInt64(bytes.count) << 56
        for offset in 0..<(bytes.count - index) { tail |= UInt64(bytes[index + offset]) << (offset * 8) }
        state = (state ^ tail) &* multiplier
        state ^= state >> 32
        state = state &* 0xBF58_476D_1CE4_E5B9
        state ^= state >> 29
        return state
    }
}

/// Record ids as UTF-8 in one buffer: no allocation per record.
struct RecordIdStore: Sendable {
    private var bytes: [UInt8] = []
    private var ends: [UInt32] = []

    mutating func append(_ utf8: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: utf8)
        ends.append(UInt32(bytes.count))
    }

    private func range(_ index: Int32) -> Range<Int> {
        (index == 0 ? 0 : Int(ends[Int(index) - 1]))..<Int(ends[Int(index)])
    }

    func string(_ index: Int32) -> String { String(decoding: bytes[range(index)], as: UTF8.self) }

    /// Whether id `a` sorts before id `b` (byte order, which for the ASCII ids of FWX is String order).
    func less(_ a: Int32, _ b: Int32) -> Bool {
        let ra = range(a), rb = range(b)
        return bytes.withUnsafeBufferPointer { buffer in
            var i = ra.lowerBound, j = rb.lowerBound
            while i < ra.upperBound, j < rb.upperBound {
                if buffer[i] != buffer[j] { return buffer[i] < buffer[j] }
                i += 1
                j += 1
            }
            return i == ra.upperBound && j < rb.upperBound
        }
    }
}

/// Union-find over record numbers, by size with path halving: near O(1) per operation.
struct DisjointSets: Sendable {
    private var parent: [Int32]
    private var sizes: [Int32]

    init(count: Int) {
        parent = Array(0..<Int32(count))
        sizes = Array(repeating: 1, count: count)
    }

    mutating func find(_ element: Int32) -> Int32 {
        var node = element
        while parent[Int(node)] != node {
            let grandparent = parent[Int(parent[Int(node)])]
            parent[Int(node)] = grandparent
            node = grandparent
        }
        return node
    }

    mutating func union(_ a: Int32, _ b: Int32) {
        var rootA = find(a), rootB = find(b)
        guard rootA != rootB else { return }
        if sizes[Int(rootA)] < sizes[Int(rootB)] { swap(&rootA, &rootB) }
        parent[Int(rootB)] = rootA
        sizes[Int(rootA)] += sizes[Int(rootB)]
    }

    func size(ofRoot root: Int32) -> Int { Int(sizes[Int(root)]) }
}

/// A record the trace engine cannot take into account. Compared by ``code``.
public struct TraceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A stable error code.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Value: String, Sendable, Hashable { case unsummable }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// An amount or coordinate is not a finite number, or an amount is beyond ``TraceEngine/maxKilograms``.
        public static let unsummable = Code(.unsummable)

        public var description: String { value.rawValue }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    public static func == (lhs: TraceError, rhs: TraceError) -> Bool { lhs.code == rhs.code }
}
