import FWXModel
import Foundation

/// The words exports use for FWX's fields in their headers, in Dutch, German, French and English, compared
/// without case, accents, spaces and punctuation ("Rohmasse (kg)" is `rohmassekg`).
enum HeaderWords {
    static let synonyms: [String: [String]] = [
        "recordId": ["registratienummer", "vorgangsnr", "vorgangsnummer", "recordid", "numeroenregistrement",
                     "nenregistrement", "referenceinterne", "incidentnummer", "id"],
        "caseReference": ["pvnummer", "proces verbaal", "aktenzeichen", "npv", "nopv", "numeropv", "pv",
                          "numeroduprocesverbal", "casereference", "caseref", "dossiernummer", "numerodossier"],
        "seizureDate": ["datum", "datumsicherstellung", "datumbeslag", "datuminbeslagname", "datesaisie",
                        "datedesaisie", "date", "seizuredate", "datefaits"],
        "seizureTime": ["tijdstip", "tijd", "uhrzeit", "zeit", "heure", "heuresaisie", "time", "seizuretime"],
        "incidentType": ["soortincident", "kontrollart", "typeincident", "typedecontrole", "typedintervention",
                         "incidenttype", "aardincident"],
        "authorityName": ["eenheid", "dienststelle", "service", "serviceverbalisant", "zonedepolice", "authority",
                          "authorityname", "behorde"],
        "location.municipality": ["pleegplaats", "plaats", "ort", "gemeente", "commune", "lieu", "localite",
                                  "municipality", "city", "ville", "tatort"],
        "location.latitude": ["breedtegraad", "latitude", "lat", "breitengrad"],
        "location.longitude": ["lengtegraad", "longitude", "lon", "lng", "langengrad"],
        "location.unLocode": ["unlocode", "locode"],
        "evaluation.source": ["betrouwbaarheidbron", "quellenbewertung", "bewertungquelle", "fiabilitesource",
                              "evaluationsource", "sourcereliability"],
        "evaluation.information": ["beoordelinginformatie", "informationsbewertung", "bewertunginformation",
                                   "fiabiliteinformation", "evaluationinformation", "informationassessment"],
        "item.category": ["categorie", "kategorie", "category", "cecategorie", "categoriece"],
        "item.productName": ["omschrijving", "warenbezeichnung", "description", "designation", "produit",
                             "productname", "article", "libelle"],
        "item.brand": ["merk", "marke", "marque", "brand"],
        "item.manufacturer": ["hersteller", "fabrikant", "fabricant", "manufacturer", "producent"],
        "item.countryOfManufacture": ["herstellungsland", "paysdefabrication", "paysfabrication",
                                      "countryofmanufacture", "landvanproductie"],
        "item.ceRegistrationNumber": ["cenummer", "ceregistriernummer", "numeroce", "nce", "ceregistrationnumber"],
        "item.unNumber": ["unnummer", "unnr", "numeroonu", "onu", "unnumber", "un"],
        "item.hazardDivision": ["gefahrenunterklasse", "risicoklasse", "divisionderisque", "hazarddivision"],
        "item.hsCode": ["warennummer", "hscode", "goederencode", "codesh"],
        "item.quantity": ["aantal", "menge", "anzahl", "quantite", "quantity", "nombre"],
        "item.quantityUnit": ["eenheidaantal", "masseinheit", "einheit", "unitedemesure", "unite", "quantityunit",
                              "unit"],
        "item.grossMassKg": ["brutogewichtkg", "brutogewicht", "rohmassekg", "rohmasse", "bruttogewicht",
                             "poidsbrutkg", "poidsbrut", "grossmasskg", "grossmass"],
        "item.netExplosiveQuantityKg": ["nemkg", "nem", "neq", "neqkg", "massenetteexplosivekg",
                                        "massenetteexplosive", "netexplosivequantitykg"],
        "item.neqBasis": ["bronnem", "neqbasis", "originenem"],
        "vehicle.plate": ["kenteken", "plaque", "immatriculation", "plate", "licenseplate", "nummerplaat"],
        "vehicle.registrationCountry": ["landkenteken", "paysimmatriculation", "paysdimmatriculation",
                                        "registrationcountry"],
        "person.pseudonym": ["verdachtepseudoniem", "pseudoniem", "pseudonym", "pseudonyme"],
        "person.name": ["verdachte", "naam", "name", "nom", "nomprenom", "suspect", "beschuldigter"],
        "person.nationality": ["nationaliteit", "staatsangehorigkeit", "nationalite", "nationality"],
        "person.birthYear": ["geboortejaar", "geburtsjahr", "anneedenaissance", "birthyear"],
        "person.birthDate": ["geboortedatum", "geburtsdatum", "datedenaissance", "birthdate"],
        "remarks": ["opmerkingen", "opmerking", "bemerkung", "bemerkungen", "remarques", "observations", "remarks",
                    "notes", "commentaire"],
        "shipment.transportMode": ["verkehrszweig", "vervoerswijze", "modedetransport", "transportmode"],
        "shipment.origin.country": ["versendungsland", "landvanherkomst", "paysdorigine", "origincountry"],
        "shipment.origin.municipality": ["abgangsort", "plaatsvanvertrek", "lieudedepart"],
        "shipment.transit": ["durchfuhrlander", "transitlanden", "paysdetransit", "transit"],
        "shipment.destination.country": ["bestimmungsland", "landvanbestemming", "paysdedestination",
                                         "destinationcountry"],
        "shipment.containers": ["containernr", "containernummer", "container", "conteneur", "numeroconteneur",
                                "ncontainer"],
        "shipment.customsMRN": ["mrn"],
        "shipment.transportDocument.type": ["papierart", "soortdocument", "typededocument"],
        "shipment.transportDocument.number": ["beforderungspapier", "vervoersdocument", "documentdetransport"],
        "shipment.consignor.name": ["versender", "afzender", "expediteur", "consignor"],
        "shipment.consignee.name": ["empfanger", "ontvanger", "geadresseerde", "destinataire", "consignee"],
        "shipment.declaredGoods.description": ["anmeldungwarenbeschreibung"],
        "shipment.declaredGoods.hsCode": ["anmeldungwarennummer"],
        "shipment.departureDate": ["abgangsdatum", "vertrekdatum", "datededepart"],
        "shipment.vehicle.plate": ["kennzeichen"],
        "shipment.vehicle.registrationCountry": ["zulassungsland"],
    ]

    private static let byWord: [String: String] = {
        var result: [String: String] = [:]
        for (field, words) in synonyms where CSVField.named(field) != nil {
            for word in words { result[normalised(word)] = field }
        }
        return result
    }()

    static func normalised(_ header: String) -> String {
        let folded = header.replacingOccurrences(of: "ß", with: "ss")
            .folding(options: [.diacriticInsensitive, .caseInsensitive], locale: nil)
        return String(folded.unicodeScalars.filter { $0.isASCII && CharacterSet.alphanumerics.contains($0) }
            .map(Character.init))
    }

    /// The field a header names, or nil.
    static func field(for header: String) -> String? { byWord[normalised(header)] }
}

extension ProfileDraft {
    /// Time zones of the member states, for `dates.timeZone` (the sender's own; CHECK in the draft).
    static let timeZones: [String: String] = [
        "AT": "Europe/Vienna", "BE": "Europe/Brussels", "BG": "Europe/Sofia", "CY": "Asia/Nicosia",
        "CZ": "Europe/Prague", "DE": "Europe/Berlin", "DK": "Europe/Copenhagen", "EE": "Europe/Tallinn",
        "ES": "Europe/Madrid", "FI": "Europe/Helsinki", "FR": "Europe/Paris", "GR": "Europe/Athens",
        "HR": "Europe/Zagreb", "HU": "Europe/Budapest", "IE": "Europe/Dublin", "IT": "Europe/Rome",
        "LT": "Europe/Vilnius", "LU": "Europe/Luxembourg", "LV": "Europe/Riga", "MT": "Europe/Malta",
        "NL": "Europe/Amsterdam", "PL": "Europe/Warsaw", "PT": "Europe/Lisbon", "RO": "Europe/Bucharest",
        "SE": "Europe/Stockholm", "SI": "Europe/Ljubljana", "SK": "Europe/Bratislava", "CH": "Europe/Zurich",
        "NO": "Europe/Oslo", "GB": "Europe/London",
    ]

    /// The draft as a commented profile. Lines to decide are marked `CHECK` (a guess from the sample) or left
    /// empty with `REQUIRED` (the profile does not load until they are filled).
    public func yaml(exportName: String, country: String, agency: String) -> String {
        var out: [String] = []
        // A YAML double-quoted scalar: the export's words may hold quotes, '#', ':' or (in a quoted CSV header)
        // line breaks, all of which YAML reads back exactly in this form.
        func q(_ text: String) -> String {
            var escaped = "\""
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": escaped += "\\\""
                case "\\": escaped += "\\\\"
                case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                    escaped += "\\x" + String(format: "%02X", scalar.value)
                default: escaped.unicodeScalars.append(scalar)
                }
            }
            return escaped + "\""
        }
        let delimiterName: String = switch dialect.delimiter {
        case UInt8(ascii: "\t"): "tab"
        default: q(String(UnicodeScalar(dialect.delimiter)))
        }
        out += [
            "# FWX mapping profile drafted by `fwx profile draft` from \(exportName) (\(rowsSampled) rows read).",
            "# Every key is explained in docs/csv-profiles.md. Lines marked CHECK are guesses from the sample rows;",
            "# empty values marked REQUIRED must be decided before the profile loads. Then run:",
            "#   fwx profile check PROFILE \(exportName)",
            "profile: 1",
            "name: \(q("\(country) \(agency) export (draft)"))",
            "",
            "csv:",
            "  delimiter: \(delimiterName)",
            "  encoding: \(dialect.encoding.rawValue)",
        ]
        if skipLines > 0 { out.append("  skipLines: \(skipLines)   # title lines before the header") }
        if let decimalSeparator {
            out += ["", "numbers:", "  decimalSeparator: \(q(decimalSeparator))",
                    "  thousandsSeparator: \(q(decimalSeparator == "," ? "." : ","))   # CHECK"]
        }
        if dateFormat != nil || timeFormat != nil {
            out += ["", "dates:"]
            if let dateFormat {
                out.append("  dateFormat: \(dateFormat)" + (dateFormatAmbiguous
                    ? "   # CHECK: every sample day is 12 or less, so day and month could be the other way round" : ""))
            }
            if let timeFormat { out.append("  timeFormat: \(timeFormat)") }
            out.append("  timeZone: \(Self.timeZones[country] ?? "UTC")   # CHECK: the zone the export's times are in")
        }
        out += [
            "", "batch:", "  sender: \(country)", "  agencyId: \(q(agency))",
            "  recipients: all   # CHECK: or a list of countries",
            "  defaultHandlingCode:   # REQUIRED: H1, H2 or H3 (docs/node.md, handling codes), your decision",
            "", "retention:",
            "  years:   # REQUIRED: how long your law lets partners keep these records",
            "", "columns:",
        ]
        var maps: [(name: String, field: String, values: [String])] = []
        for column in columns {
            guard let field = column.field else { continue }
            if !column.values.isEmpty || CSVField.named(field).map({ Self.needsMap(field: field, kind: $0.kind) }) == true {
                let name = "map" + String(maps.count + 1)
                let codesAlready = CSVField.named(field).map { Self.codes(of: $0.kind) } ?? []
                if column.values.allSatisfy({ codesAlready.contains($0) }) && !column.values.isEmpty {
                    out.append("  \(q(column.header)): \(field)")
                } else {
                    maps.append((name, field, column.values))
                    out.append("  \(q(column.header)): { field: \(field), map: \(name) }")
                }
            } else if field.hasSuffix("recordId"), !column.idPrefixes.isEmpty, column.idPrefixes != ["\(country)-"] {
                let prefix = "\(country)-\(field == "recordId" ? "SZ" : "SH")-"
                out.append("  \(q(column.header)): { field: \(field), prefix: \(prefix) }   # CHECK: record ids start with the sending country; the export's do not")
            } else {
                out.append("  \(q(column.header)): \(field)")
            }
        }
        let unmapped = columns.filter { $0.field == nil }
        if !unmapped.isEmpty {
            out.append("  # Not recognised (left out; map them to a field of docs/csv-profiles.md if they hold one):")
            for column in unmapped { out.append("  #   \(q(column.header))") }
        }
        let missing = missingRequired
        out += ["", "constants:"]
        if missing.isEmpty {
            out.append("  {}")
        } else {
            out.append("  # No column gives these; decide a value that holds for the whole export, or map a column.")
            for field in missing { out.append("  \(field):   # REQUIRED") }
        }
        if !maps.isEmpty {
            out += ["", "maps:"]
            for map in maps {
                let codes = CSVField.named(map.field).map { Self.codes(of: $0.kind) } ?? []
                let hint = codes.isEmpty ? "ISO 3166-1 alpha-2 country codes" : codes.joined(separator: ", ")
                out.append("  \(map.name):   # \(map.field): \(hint)")
                if map.values.isEmpty { out.append("    # no values in the sample rows") }
                for value in map.values {
                    if let code = codes.first(where: { $0.caseInsensitiveCompare(value) == .orderedSame })
                        ?? (codes.isEmpty && value.count == 2 && CountryCode.isValid(value.uppercased()) ? value.uppercased() : nil) {
                        out.append("    \(q(value)): \(q(code))")
                    } else if let code = ValueWords.code(for: value, field: map.field, codes: codes) {
                        out.append("    \(q(value)): \(q(code))   # CHECK")
                    } else {
                        out.append("    \(q(value)):   # REQUIRED")
                    }
                }
            }
        }
        return out.joined(separator: "\n") + "\n"
    }

    static func codes(of kind: CSVField.Kind) -> [String] {
        switch kind {
        case .code(let codes): return codes
        case .hazardDivision: return HazardDivision.allCases.map(\.rawValue)
        default: return []
        }
    }
}

/// Words of exports FWX knows the code of, in Dutch, German, French and English (compared like header words);
/// what the draft proposes for them is marked CHECK.
enum ValueWords {
    static let units: [String: String] = [
        "stuks": "pieces", "stuk": "pieces", "stuck": "pieces", "pieces": "pieces", "piece": "pieces", "pcs": "pieces",
        "st": "pieces", "dozen": "boxes", "doos": "boxes", "karton": "boxes", "kartons": "boxes", "boites": "boxes",
        "boite": "boxes", "cartons": "boxes", "carton": "boxes", "boxes": "boxes", "box": "boxes", "kg": "kg",
        "kilogram": "kg", "kilogramm": "kg", "kilogramme": "kg",
    ]

    /// Marks that say an article has no (valid) CE marking.
    static let unmarked: Set<String> = [
        "zonderce", "zondercemarkering", "geencemarkering", "illegaal", "ohnece", "ohnecekennzeichnung",
        "nichtzugelassen", "illegal", "nonmarque", "sansmarquagece", "sansce", "illegale", "unmarked", "noce",
        "nocemarking",
    ]

    static let countries: [String: String] = {
        let names: [String: [String]] = [
            "AT": ["oostenrijk", "osterreich", "autriche", "austria"], "BE": ["belgie", "belgien", "belgique", "belgium"],
            "BG": ["bulgarije", "bulgarien", "bulgarie", "bulgaria"], "CN": ["china", "chine"],
            "CZ": ["tsjechie", "tschechien", "tchequie", "republiquetcheque", "czechia", "czechrepublic"],
            "DE": ["duitsland", "deutschland", "allemagne", "germany"], "DK": ["denemarken", "danemark", "denmark"],
            "ES": ["spanje", "spanien", "espagne", "spain"], "FR": ["frankrijk", "frankreich", "france"],
            "GB": ["verenigdkoninkrijk", "vereinigteskonigreich", "royaumeuni", "unitedkingdom", "grootbrittannie",
                   "grossbritannien", "uk"],
            "GR": ["griekenland", "griechenland", "grece", "greece"], "HU": ["hongarije", "ungarn", "hongrie", "hungary"],
            "IT": ["italie", "italien", "italy"], "LT": ["litouwen", "litauen", "lituanie", "lithuania"],
            "LU": ["luxemburg", "luxembourg"], "NL": ["nederland", "niederlande", "paysbas", "netherlands", "holland"],
            "PL": ["polen", "pologne", "poland"], "PT": ["portugal"], "RO": ["roemenie", "rumanien", "roumanie", "romania"],
            "SK": ["slowakije", "slowakei", "slovaquie", "slovakia"], "SE": ["zweden", "schweden", "suede", "sweden"],
        ]
        var result: [String: String] = [:]
        for (code, words) in names { for word in words { result[word] = code } }
        return result
    }()

    /// The code a word of the export stands for, or nil when FWX does not know it.
    static func code(for value: String, field: String, codes: [String]) -> String? {
        let word = HeaderWords.normalised(value)
        if field == "item.quantityUnit" { return units[word] }
        if field == "item.category" {
            if unmarked.contains(word) { return "unmarked" }
            // "Kategorie F4", "catégorie F3", "cat. F2": the code at the end.
            return codes.first { code in code != "unmarked" && word.hasSuffix(code.lowercased())
                && (word.count == code.count || !word.dropLast(code.count).last!.isNumber) }
        }
        if codes.isEmpty, let field = CSVField.named(field), case .country = field.kind { return countries[word] }
        return nil
    }
}
