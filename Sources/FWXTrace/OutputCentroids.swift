// A compact table of country centroids, for maps of records that give no coordinates (GeoJSON and the HTML flow map).

/// A WGS84 position in decimal degrees.
public struct GeoCoordinate: Sendable, Hashable {
    /// Degrees north of the equator (negative south), -90 … 90.
    public var latitude: Double
    /// Degrees east of Greenwich (negative west), -180 … 180.
    public var longitude: Double

    /// A position from latitude and longitude in decimal degrees.
    public init(latitude: Double, longitude: Double) {
        self.latitude = latitude
        self.longitude = longitude
    }
}

/// Approximate geographic centres of countries, where maps put a country when a record gives no coordinates: every
/// EU, EFTA and candidate country, the United Kingdom, the European microstates, Europe's neighbours, and the
/// countries heavy fireworks commonly come from or pass through (China, Hong Kong, Taiwan, Viet Nam, India, Türkiye,
/// Ukraine, the Western Balkans, North Africa …).
///
/// Source: the approximate centre points of the Google DSPL canonical country list (`countries.csv`), rounded to
/// 0.01° (about 1 km). They are for placing a country on a small-scale map, not for measuring anything: a centre
/// can fall in the sea (Croatia's lies near the coast) and says nothing about where in the country records come
/// from. Codes are ISO 3166-1 alpha-2 as in batches (GR for Greece, GB for the United Kingdom; EL and UK are
/// accepted too).
public enum CountryCentroids {
    /// The centroid of a country, or nil when the table has none (the map then leaves the country out).
    public static func coordinate(of country: String) -> GeoCoordinate? {
        let code = NameNormaliser.country(country)
        return table[code].map { GeoCoordinate(latitude: $0.0, longitude: $0.1) }
    }

    /// The codes the table covers, sorted.
    public static var countries: [String] { table.keys.sorted() }

    /// Latitude and longitude by country code.
    static let table: [String: (Double, Double)] = [
        // European Union
        "AT": (47.52, 14.55), "BE": (50.50, 4.47), "BG": (42.73, 25.49), "CY": (35.13, 33.43),
        "CZ": (49.82, 15.47), "DE": (51.17, 10.45), "DK": (56.26, 9.50), "EE": (58.60, 25.01),
        "ES": (40.46, -3.75), "FI": (61.92, 25.75), "FR": (46.23, 2.21), "GR": (39.07, 21.82),
        "HR": (45.10, 15.20), "HU": (47.16, 19.50), "IE": (53.41, -8.24), "IT": (41.87, 12.57),
        "LT": (55.17, 23.88), "LU": (49.82, 6.13), "LV": (56.88, 24.60), "MT": (35.94, 14.38),
        "NL": (52.13, 5.29), "PL": (51.92, 19.15), "PT": (39.40, -8.22), "RO": (45.94, 24.97),
        "SE": (60.13, 18.64), "SI": (46.15, 15.00), "SK": (48.67, 19.70),
        // EFTA and the United Kingdom
        "CH": (46.82, 8.23), "IS": (64.96, -19.02), "LI": (47.17, 9.56), "NO": (60.47, 8.47),
        "GB": (55.38, -3.44),
        // European microstates and territories
        "AD": (42.55, 1.60), "MC": (43.75, 7.41), "SM": (43.94, 12.46), "VA": (41.90, 12.45),
        "GI": (36.14, -5.35), "FO": (61.89, -6.91), "GG": (49.47, -2.59), "JE": (49.21, -2.13),
        "IM": (54.24, -4.55),
        // Western Balkans, Eastern neighbours, Türkiye, Caucasus
        "AL": (41.15, 20.17), "BA": (43.92, 17.68), "ME": (42.71, 19.37), "MK": (41.61, 21.75),
        "RS": (44.02, 21.01), "XK": (42.60, 20.90), "MD": (47.41, 28.37), "UA": (48.38, 31.17),
        "BY": (53.71, 27.95), "RU": (61.52, 105.32), "TR": (38.96, 35.24), "GE": (42.32, 43.36),
        "AM": (40.07, 45.04), "AZ": (40.14, 47.58),
        // North Africa and the Middle East
        "MA": (31.79, -7.09), "DZ": (28.03, 1.66), "TN": (33.89, 9.54), "LY": (26.34, 17.23),
        "EG": (26.82, 30.80), "IL": (31.05, 34.85), "LB": (33.85, 35.86), "JO": (30.59, 36.24),
        "AE": (23.42, 53.85),
        // Asia: makers and exporters of fireworks
        "CN": (35.86, 104.20), "HK": (22.40, 114.11), "MO": (22.20, 113.54), "TW": (23.70, 120.96),
        "VN": (14.06, 108.28), "IN": (20.59, 78.96), "PK": (30.38, 69.35), "TH": (15.87, 100.99),
        "MY": (4.21, 101.98), "SG": (1.35, 103.82), "ID": (-0.79, 113.92), "JP": (36.20, 138.25),
        "KR": (35.91, 127.77),
        // Americas
        "US": (37.09, -95.71), "CA": (56.13, -106.35), "BR": (-14.24, -51.93), "MX": (23.63, -102.55),
    ]
}
