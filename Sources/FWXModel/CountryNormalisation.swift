// Input spellings of countries (EL for Greece, UK for the United Kingdom, lower case) mapped to the ISO codes a
// batch carries, for documents that arrive in a form the schema does not check first (JSON).

extension BatchHeader {
    /// The header with every country code normalised (``CountryCode/normalize(_:)``); unknown codes are kept, so
    /// that validation reports them.
    public func normalizingCountries() -> BatchHeader {
        var header = self
        header.sender.country = normalized(sender.country)
        if case .countries(let countries) = recipients { header.recipients = .countries(countries.map(normalized)) }
        return header
    }
}

extension Record {
    /// The record with every country code normalised (EL becomes GR, UK becomes GB).
    public func normalizingCountries() -> Record {
        switch self {
        case .seizure(var record):
            record.location.country = normalized(record.location.country)
            record.items = record.items.map { item in
                var item = item
                item.countryOfManufacture = item.countryOfManufacture.map(normalized)
                return item
            }
            record.parties = record.parties.map(normalizedParty)
            record.vehicles = record.vehicles.map(normalizedVehicle)
            return .seizure(record)
        case .shipment(var record):
            record.origin.country = normalized(record.origin.country)
            record.destination.country = normalized(record.destination.country)
            record.transit = record.transit.map(normalized)
            record.parties = record.parties.map(normalizedParty)
            record.vehicles = record.vehicles.map(normalizedVehicle)
            return .shipment(record)
        }
    }
}

private func normalized(_ code: String) -> String { CountryCode.normalize(code) ?? code }

private func normalizedParty(_ party: Party) -> Party {
    var party = party
    if let nationality = party.person?.nationality { party.person?.nationality = normalized(nationality) }
    if let country = party.organisation?.country { party.organisation?.country = normalized(country) }
    return party
}

private func normalizedVehicle(_ vehicle: Vehicle) -> Vehicle {
    var vehicle = vehicle
    vehicle.registrationCountry = normalized(vehicle.registrationCountry)
    return vehicle
}
