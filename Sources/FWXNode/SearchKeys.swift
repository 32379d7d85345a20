import FWXModel
public import FWXTrace

/// The exact-match keys a node indexes for hit/no-hit searches (GET /v1/search, the Prüm two-step: a hit first,
/// then the caller fetches the records it may see), made with FWXTrace's normalisation so that a search finds
/// what analysis would link: container numbers without spaces or dashes, plates as letters and digits (any
/// registration country), registration, CE and VAT numbers without white space, upper-cased.
public enum SearchKeys {
    /// The keys of one record.
    public static func of(_ facts: RecordFacts) -> [String] {
        var keys: [String] = []
        for key in facts.linkKeys {
            switch key.kind {
            case .container: keys.append("container:" + key.value)
            case .vehicle:
                // "PL:WA12345": search by plate whatever the registration country.
                if let colon = key.value.firstIndex(of: ":") { keys.append("plate:" + key.value[key.value.index(after: colon)...]) }
            case .organisationRegistration: keys.append("registration:" + key.value)
            case .ceRegistration: keys.append("ce:" + key.value)
            case .vat: keys.append("vat:" + key.value)
            default: break
            }
        }
        return keys
    }

    /// The keys a search for these values looks up; `registration` matches company registration numbers and CE
    /// registration numbers of articles. Empty values are ignored.
    public static func query(container: String? = nil, plate: String? = nil, registration: String? = nil,
                             vat: String? = nil) -> [String] {
        var keys: [String] = []
        if let container, !NameNormaliser.container(container).isEmpty {
            keys.append("container:" + NameNormaliser.container(container))
        }
        if let plate, !NameNormaliser.container(plate).isEmpty { keys.append("plate:" + NameNormaliser.container(plate)) }
        if let registration, !NameNormaliser.identifier(registration).isEmpty {
            keys += ["registration:", "ce:"].map { $0 + NameNormaliser.identifier(registration) }
        }
        if let vat, !NameNormaliser.identifier(vat).isEmpty { keys.append("vat:" + NameNormaliser.identifier(vat)) }
        return keys
    }
}
