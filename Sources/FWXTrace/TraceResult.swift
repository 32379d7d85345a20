public import FWXModel

/// The answer of a trace: flows, top routes, a time series, a category breakdown, clusters of linked records with
/// their evidence, map points and the countries involved. Plain values, ready to be written as tables, JSON,
/// GeoJSON, GraphML or HTML. Kilograms are rounded to grams, percentages to one decimal. docs/trace.md defines
/// every figure.
public struct TraceResult: Sendable, Hashable, Codable {
    /// The query the result answers, as text.
    public var query: QuerySummary
    public var totals: Totals
    /// Records per period × origin × transit path × destination × category, sorted by those fields.
    public var flows: [FlowRow]
    /// The top routes by records (then NEQ), over the whole range, with their change between the last two
    /// complete periods.
    public var routes: [RouteRow]
    /// How many distinct routes there are (``routes`` holds the top ones).
    public var routeCount: Int
    /// The two periods ``RouteRow/change`` compares; nil when the range has no two complete periods.
    public var comparison: PeriodComparison?
    /// Records and amounts per period, from the first period with records to the last, without gaps.
    public var timeSeries: [PeriodRow]
    /// Amounts per CE category, in the order of ``CECategory``'s cases; records without items last.
    public var categories: [CategoryRow]
    /// Clusters of linked records, largest first (then most NEQ, then id).
    public var clusters: [Cluster]
    /// How many clusters there are (``clusters`` may hold only the top ones).
    public var clusterCount: Int
    /// Keys shared by more records than the guard allows: they did not join records. Most records first.
    public var ignoredKeys: [IgnoredKey]
    /// Seizure locations, by record id (the ones with the most NEQ when limited).
    public var points: [MapPoint]
    /// How many seizures matched (``points`` may hold only some).
    public var pointCount: Int
    /// Countries involved in matched records, by code.
    public var countries: [CountryRow]

    /// The query as text, for headers of reports.
    public struct QuerySummary: Sendable, Hashable, Codable {
        public var from: String?
        public var to: String?
        public var countries: [String]
        public var categories: [CECategory]
        public var period: PeriodGranularity
        public var regionLevel: Int?
        public var linkKinds: [LinkKind]
        /// The cap on records per key (see ``TraceEngine/result(topRoutes:minClusterSize:maxRecordsPerKey:maxClusters:maxPoints:)``).
        public var maxRecordsPerKey: Int
        public var minClusterSize: Int

        /// A value from its fields (the engine makes these; tests and renderers may too).
        public init(from: String?, to: String?, countries: [String], categories: [CECategory],
                    period: PeriodGranularity, regionLevel: Int?, linkKinds: [LinkKind], maxRecordsPerKey: Int,
                    minClusterSize: Int) {
            self.from = from
            self.to = to
            self.countries = countries
            self.categories = categories
            self.period = period
            self.regionLevel = regionLevel
            self.linkKinds = linkKinds
            self.maxRecordsPerKey = maxRecordsPerKey
            self.minClusterSize = minClusterSize
        }
    }

    /// Counts over the whole run.
    public struct Totals: Sendable, Hashable, Codable {
        /// Records given to the engine, withdrawn ones included.
        public var recordsConsidered: Int
        /// Records skipped because they are withdrawn.
        public var recordsWithdrawn: Int
        /// Records that passed the filters.
        public var recordsMatched: Int
        public var seizures: Int
        public var shipments: Int
        /// Item entries of matched records (of the selected categories).
        public var items: Int
        public var neqKg: Double
        public var grossKg: Double

        /// A value from its fields (the engine makes these; tests and renderers may too).
        public init(recordsConsidered: Int, recordsWithdrawn: Int, recordsMatched: Int, seizures: Int, shipments: Int,
                    items: Int, neqKg: Double, grossKg: Double) {
            self.recordsConsidered = recordsConsidered
            self.recordsWithdrawn = recordsWithdrawn
            self.recordsMatched = recordsMatched
            self.seizures = seizures
            self.shipments = shipments
            self.items = items
            self.neqKg = neqKg
            self.grossKg = grossKg
        }
    }

    /// A value from its fields (the engine makes these; tests and renderers may too).
    public init(query: QuerySummary, totals: Totals, flows: [FlowRow], routes: [RouteRow], routeCount: Int,
                comparison: PeriodComparison?, timeSeries: [PeriodRow], categories: [CategoryRow],
                clusters: [Cluster], clusterCount: Int, ignoredKeys: [IgnoredKey], points: [MapPoint],
                pointCount: Int, countries: [CountryRow]) {
        self.query = query
        self.totals = totals
        self.flows = flows
        self.routes = routes
        self.routeCount = routeCount
        self.comparison = comparison
        self.timeSeries = timeSeries
        self.categories = categories
        self.clusters = clusters
        self.clusterCount = clusterCount
        self.ignoredKeys = ignoredKeys
        self.points = points
        self.pointCount = pointCount
        self.countries = countries
    }
}

/// Records moving along one route in one period, of one category.
public struct FlowRow: Sendable, Hashable, Codable {
    /// `2026-09`, `2026-Q3` or `2026`; nil for records without a date.
    public var period: String?
    /// Origin country; nil when unknown (a seizure whose items name no country of manufacture).
    public var origin: String?
    /// Origin NUTS region at the query's level, when asked for and known.
    public var originRegion: String?
    public var transit: [String]
    public var destination: String?
    public var destinationRegion: String?
    /// nil for records without items (shipments).
    public var category: CECategory?
    /// Records with items of this category (a record with two categories counts in both rows).
    public var records: Int
    public var seizures: Int
    public var shipments: Int
    public var items: Int
    public var neqKg: Double
    public var grossKg: Double

    /// A value from its fields (the engine makes these; tests and renderers may too).
    public init(period: String?, origin: String?, originRegion: String?, transit: [String], destination: String?,
                destinationRegion: String?, category: CECategory?, records: Int, seizures: Int, shipments: Int,
                items: Int, neqKg: Double, grossKg: Double) {
        self.period = period
        self.origin = origin
        self.originRegion = originRegion
        self.transit = transit
        self.destination = destination
        self.destinationRegion = destinationRegion
        self.category = category
        self.records = records
        self.seizures = seizures
        self.shipments = shipments
        self.items = items
        self.neqKg = neqKg
        self.grossKg = grossKg
    }
}

/// One route (origin → transit… → destination, by country) over the whole range.
public struct RouteRow: Sendable, Hashable, Codable {
    public var origin: String?
    public var transit: [String]
    public var destination: String?
    /// `PL → DE → NL`, `?` for an unknown country.
    public var label: String
    public var records: Int
    public var seizures: Int
    public var shipments: Int
    public var neqKg: Double
    public var grossKg: Double
    /// The route in the two compared periods; nil when there is no comparison.
    public var change: RouteChange?

    /// A value from its fields (the engine makes these; tests and renderers may too).
    public init(origin: String?, transit: [String], destination: String?, label: String, records: Int, seizures: Int,
                shipments: Int, neqKg: Double, grossKg: Double, change: RouteChange?) {
        self.origin = origin
        self.transit = transit
        self.destination = destination
        self.label = label
        self.records = records
        self.seizures = seizures
        self.shipments = shipments
        self.neqKg = neqKg
        self.grossKg = grossKg
        self.change = change
    }
}

/// A route's records and NEQ in the last complete period of the range against the one before.
public struct RouteChange: Sendable, Hashable, Codable {
    public var records: Int
    public var previousRecords: Int
    /// `records - previousRecords`.
    public var recordsChange: Int
    /// `recordsChange / previousRecords × 100`; nil when the previous period had none.
    public var recordsChangePercent: Double?
    public var neqKg: Double
    public var previousNeqKg: Double
    public var neqChangeKg: Double
    /// `neqChangeKg / previousNeqKg × 100`; nil when the previous period had no NEQ.
    public var neqChangePercent: Double?

    /// A value from its fields (the engine makes these; tests and renderers may too).
    public init(records: Int, previousRecords: Int, recordsChange: Int, recordsChangePercent: Double?, neqKg: Double,
                previousNeqKg: Double, neqChangeKg: Double, neqChangePercent: Double?) {
        self.records = records
        self.previousRecords = previousRecords
        self.recordsChange = recordsChange
        self.recordsChangePercent = recordsChangePercent
        self.neqKg = neqKg
        self.previousNeqKg = previousNeqKg
        self.neqChangeKg = neqChangeKg
        self.neqChangePercent = neqChangePercent
    }
}

/// The two periods a change compares.
public struct PeriodComparison: Sendable, Hashable, Codable {
    /// The last complete period of the range (`2026-09`).
    public var current: String
    public var previous: String

    /// A value from its fields (the engine makes these; tests and renderers may too).
    public init(current: String, previous: String) {
        self.current = current
        self.previous = previous
    }
}

/// Records and amounts of one period.
public struct PeriodRow: Sendable, Hashable, Codable {
    public var period: String
    /// First and last day of the period, `YYYY-MM-DD`.
    public var start: String
    public var end: String
    public var records: Int
    public var seizures: Int
    public var shipments: Int
    public var items: Int
    public var neqKg: Double
    public var grossKg: Double

    /// A value from its fields (the engine makes these; tests and renderers may too).
    public init(period: String, start: String, end: String, records: Int, seizures: Int, shipments: Int, items: Int,
                neqKg: Double, grossKg: Double) {
        self.period = period
        self.start = start
        self.end = end
        self.records = records
        self.seizures = seizures
        self.shipments = shipments
        self.items = items
        self.neqKg = neqKg
        self.grossKg = grossKg
    }
}

/// Amounts of one CE category over the whole range.
public struct CategoryRow: Sendable, Hashable, Codable {
    /// nil for records without items (shipments).
    public var category: CECategory?
    /// Records with items of the category.
    public var records: Int
    public var items: Int
    public var neqKg: Double
    public var grossKg: Double

    /// A value from its fields (the engine makes these; tests and renderers may too).
    public init(category: CECategory?, records: Int, items: Int, neqKg: Double, grossKg: Double) {
        self.category = category
        self.records = records
        self.items = items
        self.neqKg = neqKg
        self.grossKg = grossKg
    }
}

/// Records joined by shared keys: a connected component of the link graph.
public struct Cluster: Sendable, Hashable, Codable {
    /// The smallest member record id: stable as long as that record belongs to the cluster.
    public var id: String
    /// Member record ids, sorted.
    public var members: [String]
    public var seizures: Int
    public var shipments: Int
    /// Owner countries of the members and countries where member seizures were made, sorted.
    public var countries: [String]
    /// Earliest and latest member date, `YYYY-MM-DD`.
    public var firstDate: String?
    public var lastDate: String?
    public var neqKg: Double
    public var grossKg: Double
    /// The evidence: every key that two or more members share, most members first.
    public var sharedKeys: [SharedKey]

    /// A value from its fields (the engine makes these; tests and renderers may too).
    public init(id: String, members: [String], seizures: Int, shipments: Int, countries: [String], firstDate: String?,
                lastDate: String?, neqKg: Double, grossKg: Double, sharedKeys: [SharedKey]) {
        self.id = id
        self.members = members
        self.seizures = seizures
        self.shipments = shipments
        self.countries = countries
        self.firstDate = firstDate
        self.lastDate = lastDate
        self.neqKg = neqKg
        self.grossKg = grossKg
        self.sharedKeys = sharedKeys
    }
}

/// A key shared by members of a cluster, with the members that carry it.
public struct SharedKey: Sendable, Hashable, Codable {
    public var kind: LinkKind
    public var value: String
    /// Party roles the key appeared in, across the members.
    public var roles: [PartyRole]
    /// `carrier name PYROTRANS`, `container MSCU1234565`.
    public var label: String
    /// The member record ids that carry the key, sorted.
    public var members: [String]

    /// A value from its fields (the engine makes these; tests and renderers may too).
    public init(kind: LinkKind, value: String, roles: [PartyRole], label: String, members: [String]) {
        self.kind = kind
        self.value = value
        self.roles = roles
        self.label = label
        self.members = members
    }
}

/// A key that more records share than the guard allows, so it joined none of them.
public struct IgnoredKey: Sendable, Hashable, Codable {
    public var kind: LinkKind
    public var value: String
    public var roles: [PartyRole]
    public var label: String
    /// How many matched records carry it.
    public var records: Int

    /// A value from its fields (the engine makes these; tests and renderers may too).
    public init(kind: LinkKind, value: String, roles: [PartyRole], label: String, records: Int) {
        self.kind = kind
        self.value = value
        self.roles = roles
        self.label = label
        self.records = records
    }
}

/// A seizure's place for maps.
public struct MapPoint: Sendable, Hashable, Codable {
    public var recordId: String
    public var country: String
    /// WGS84 coordinates when the record gives them; otherwise map the country (its centroid).
    public var latitude: Double?
    public var longitude: Double?
    public var date: String?
    public var neqKg: Double

    /// A value from its fields (the engine makes these; tests and renderers may too).
    public init(recordId: String, country: String, latitude: Double?, longitude: Double?, date: String?,
                neqKg: Double) {
        self.recordId = recordId
        self.country = country
        self.latitude = latitude
        self.longitude = longitude
        self.date = date
        self.neqKg = neqKg
    }
}

/// How a country is involved in matched records (records counted once per role).
public struct CountryRow: Sendable, Hashable, Codable {
    public var country: String
    public var asOwner: Int
    public var asOrigin: Int
    public var asTransit: Int
    public var asDestination: Int
    /// Seizures made in the country.
    public var asLocation: Int

    /// A value from its fields (the engine makes these; tests and renderers may too).
    public init(country: String, asOwner: Int, asOrigin: Int, asTransit: Int, asDestination: Int, asLocation: Int) {
        self.country = country
        self.asOwner = asOwner
        self.asOrigin = asOrigin
        self.asTransit = asTransit
        self.asDestination = asDestination
        self.asLocation = asLocation
    }
}
