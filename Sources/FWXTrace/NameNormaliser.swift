// Normalisation of the values that link records: organisation names, product names, container numbers, plates and
// identifiers. docs/trace.md states the rules; tests check the examples given there.

/// Turns the ways people write the same company, product, container or plate into one comparable key value.
///
/// Every function is pure and deterministic, uses no locale and no Foundation, and works on any Unicode input:
/// Latin letters lose their diacritics (`ł` → `L`, `ß` → `SS`, `é` → `E`), other scripts are kept, upper-cased.
public enum NameNormaliser {
    /// The legal-form suffixes ``organisation(_:)`` removes, written as they look once punctuation and spaces are
    /// gone and letters are upper-cased (`Sp. z o.o.` → `SPZOO`, `GmbH & Co. KG` → `GMBHCOKG`).
    public static let legalForms: Set<String> = [
        // Netherlands and Belgium
        "BV", "NV", "VOF", "CV", "BVBA", "CVBA", "VZW", "COMMV",
        // Germany, Austria, Switzerland, Liechtenstein
        "GMBH", "GMBHCOKG", "AG", "AGCOKG", "KG", "KGAA", "OHG", "UG", "UGHAFTUNGSBESCHRANKT", "EK", "GBR", "SE",
        // Poland
        "SPZOO", "SPOLKAZOO", "SPOLKAZOGRANICZONAODPOWIEDZIALNOSCIA", "SA", "SPJ", "SPK", "SKA", "SC",
        // Czechia and Slovakia
        "SRO", "SPOLSRO", "AS", "VOS", "KS",
        // France, Belgium, Luxembourg
        "SARL", "SAS", "SASU", "EURL", "SNC", "SCI", "SCS", "SCA",
        // Italy, Romania, Spain, Portugal
        "SRL", "SRLS", "SPA", "SAPA", "SCARL", "SL", "SLU", "SAU", "LDA",
        // Hungary
        "KFT", "ZRT", "NYRT", "BT", "KKT",
        // Bulgaria, former Yugoslavia
        "OOD", "EOOD", "AD", "EAD", "DOO", "DD",
        // Nordic and Baltic countries
        "AB", "ASA", "APS", "OY", "OYJ", "UAB", "SIA", "OU",
        // Greece
        "AE", "EPE", "IKE", "OE",
        // English-speaking countries, and the usual Chinese export company form
        "LTD", "LIMITED", "PLC", "LLP", "LLC", "INC", "CORP", "CORPORATION", "CO", "COMPANY", "COLTD", "COINC",
        "PTY", "PTYLTD", "LTDA",
    ]

    /// The most words one legal form spans (`spółka z ograniczoną odpowiedzialnością`).
    static let longestLegalForm = 5
    static let longestLegalFormBytes = legalForms.map(\.utf8.count).max()!

    /// The key of an organisation name: letters folded to upper-case ASCII where they are Latin, every character
    /// that is not a letter or digit taken as a word break, trailing legal forms (``legalForms``) removed (as long
    /// as one word is left), and the remaining words joined without spaces.
    ///
    /// `Pyro-Trans B.V.`, `PYRO TRANS BV` and `pyrotrans b.v.` all give `PYROTRANS`; `Fajerwerki Hurt Sp. z o.o.`
    /// gives `FAJERWERKIHURT`. Returns an empty string when the name has no letters or digits.
    public static func organisation(_ name: String) -> String {
        if let fast = asciiFolded(name, body: { bytes, words in
            var count = words.count
            var stripped = true
            while stripped, count > 1 {
                stripped = false
                for length in stride(from: min(longestLegalForm, count - 1), through: 1, by: -1) {
                    let start = words[count - length - 1], end = words[count - 1]
                    if end - start <= longestLegalFormBytes,
                       legalForms.contains(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]),
                                                  as: UTF8.self)) {
                        count -= length
                        stripped = true
                        break
                    }
                }
            }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[0..<(count > 0 ? words[count - 1] : 0)]),
                          as: UTF8.self)
        }) {
            return fast
        }
        var words = foldedWords(name)
        var stripped = true
        while stripped, words.count > 1 {
            stripped = false
            for length in stride(from: min(longestLegalForm, words.count - 1), through: 1, by: -1) {
                if legalForms.contains(words.suffix(length).joined()) {
                    words.removeLast(length)
                    stripped = true
                    break
                }
            }
        }
        return words.joined()
    }

    /// The key of a product: its name and, when given, its brand, each folded like ``organisation(_:)`` but with
    /// no legal forms removed, joined by `/` (`Cobra 6` of brand `Cobra` → `COBRA6/COBRA`). Empty when the name
    /// has no letters or digits.
    public static func product(name: String, brand: String?) -> String {
        let product = container(name)
        guard !product.isEmpty else { return "" }
        let brandKey = brand.map(container) ?? ""
        return brandKey.isEmpty ? product : product + "/" + brandKey
    }

    /// The key of an ISO 6346 container number: upper-case letters and digits only (`mscu 123456-5` →
    /// `MSCU1234565`).
    public static func container(_ number: String) -> String {
        if let fast = asciiFolded(number, body: { bytes, words in
            let folded = UnsafeBufferPointer(rebasing: bytes[0..<(words.last ?? 0)])
            return number.utf8.elementsEqual(folded) ? number : String(decoding: folded, as: UTF8.self)
        }) {
            return fast
        }
        return foldedWords(number).joined()
    }

    /// The key of a vehicle: the registration country, `:`, and the plate's letters and digits upper-cased
    /// (`PL`, `wa 12345` → `PL:WA12345`). The country is normalised as in batches (EL → GR, UK → GB).
    public static func plate(_ plate: String, registrationCountry: String) -> String {
        let digits = container(plate)
        guard !digits.isEmpty else { return "" }
        return country(registrationCountry) + ":" + digits
    }

    /// The key of a registration, VAT or CE registration number, or of a pseudonym: the text with white space
    /// removed, upper-cased. Nothing else is changed: these identifiers are matched exactly.
    public static func identifier(_ value: String) -> String {
        let unchanged = value.utf8.withContiguousStorageIfAvailable { bytes in
            bytes.allSatisfy { $0 < 0x80 && !($0 >= 97 && $0 <= 122) && !isASCIISpace($0) }
        }
        if unchanged == true { return value }
        var result = ""
        result.reserveCapacity(value.utf8.count)
        for scalar in value.unicodeScalars where !scalar.properties.isWhitespace {
            if scalar.isASCII {
                let byte = UInt8(scalar.value)
                result.unicodeScalars.append(byte >= 97 && byte <= 122 ? Unicode.Scalar(byte - 32) : scalar)
            } else {
                result += String(scalar).uppercased()
            }
        }
        return result
    }

    /// A pseudonym exactly as written, only trimmed of white space at either end: pseudonyms are opaque, and
    /// their case may matter.
    public static func pseudonym(_ value: String) -> String {
        if let first = value.utf8.first, let last = value.utf8.last, first < 0x80, last < 0x80,
           !isASCIISpace(first), !isASCIISpace(last) {
            return value
        }
        let scalars = value.unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }

    private static func isASCIISpace(_ byte: UInt8) -> Bool {
        byte == 32 || (byte >= 9 && byte <= 13)
    }

    /// A country code as batches carry it: trimmed, upper-cased, EL mapped to GR and UK to GB.
    static func country(_ code: String) -> String {
        let upper = identifier(code)
        switch upper {
        case "EL": return "GR"
        case "UK": return "GB"
        default: return upper
        }
    }

    // MARK: Folding

    /// The ASCII fast path of ``foldedWords(_:)``: `body` gets the letters and digits of `text`, upper-cased and
    /// without breaks, and the end offset of each word. Nil when `text` is not ASCII (or long), for the slow path.
    static func asciiFolded<Result>(
        _ text: String, body: (UnsafeMutableBufferPointer<UInt8>, UnsafeMutableBufferPointer<Int>) -> Result
    ) -> Result? {
        let count = text.utf8.count
        guard count <= 512 else { return nil }
        let folded: Result?? = text.utf8.withContiguousStorageIfAvailable { source in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(1, count)) { bytes in
                withUnsafeTemporaryAllocation(of: Int.self, capacity: count / 2 + 1) { ends in
                    var length = 0, words = 0, inWord = false
                    for byte in source {
                        switch byte {
                        case 48...57, 65...90:
                            bytes[length] = byte
                        case 97...122:
                            bytes[length] = byte - 32
                        case 0x80...:
                            return nil
                        default:
                            if inWord {
                                ends[words] = length
                                words += 1
                                inWord = false
                            }
                            continue
                        }
                        length += 1
                        inWord = true
                    }
                    if inWord {
                        ends[words] = length
                        words += 1
                    }
                    return body(bytes, UnsafeMutableBufferPointer(rebasing: ends[0..<words]))
                }
            }
        }
        return folded ?? nil
    }

    /// The words of `text`: runs of letters and digits, Latin letters folded to upper-case ASCII, combining marks
    /// dropped, anything else a break.
    static func foldedWords(_ text: String) -> [String] {
        var words: [String] = []
        var current = ""
        func flush() {
            if !current.isEmpty {
                words.append(current)
                current = ""
            }
        }
        for scalar in text.unicodeScalars {
            if scalar.isASCII {
                let byte = UInt8(scalar.value)
                switch byte {
                case 48...57, 65...90: current.unicodeScalars.append(scalar)
                case 97...122: current.unicodeScalars.append(Unicode.Scalar(byte - 32))
                default: flush()
                }
                continue
            }
            let properties = scalar.properties
            switch properties.generalCategory {
            case .nonspacingMark, .enclosingMark, .spacingMark, .format:
                continue  // accents written as separate marks (decomposed text), zero-width joiners
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .otherLetter, .modifierLetter,
                 .decimalNumber, .letterNumber, .otherNumber:
                if let latin = latinBase(of: scalar) {
                    current += latin
                } else {
                    current += String(scalar).uppercased()
                }
            default:
                flush()
            }
        }
        flush()
        return words
    }

    /// Letters whose Unicode name does not end in the plain letter they stand for.
    private static let specialLatin: [String: String] = [
        "SHARP S": "SS", "THORN": "TH", "ETH": "D", "KRA": "K", "ENG": "N", "DOTLESS I": "I", "DOTLESS J": "J",
        "LONG S": "S",
    ]

    /// The ASCII letters a Latin letter with diacritics stands for (`Ł` → `L`, `æ` → `AE`), found from its Unicode
    /// name; nil for letters of other scripts.
    static func latinBase(of scalar: Unicode.Scalar) -> String? {
        guard var name = scalar.properties.name else { return nil }
        if name.hasPrefix("FULLWIDTH ") { name.removeFirst("FULLWIDTH ".count) }
        let prefixes = ["LATIN CAPITAL LETTER ", "LATIN SMALL LETTER ", "LATIN CAPITAL LIGATURE ",
                        "LATIN SMALL LIGATURE ", "LATIN LETTER SMALL CAPITAL "]
        guard let prefix = prefixes.first(where: { name.hasPrefix($0) }) else {
            // Letters of other scripts and digits: the caller keeps them as written, upper-cased.
            return nil
        }
        let words = name.dropFirst(prefix.count).split(separator: " ").prefix { $0 != "WITH" }
        if let special = specialLatin[words.joined(separator: " ")] { return special }
        for word in [words.first, words.last] {
            if let word, word.count <= 2, word.allSatisfy({ $0 >= "A" && $0 <= "Z" }) {
                return String(word)  // the letter itself, or the last word of TURNED A, REVERSED E …
            }
        }
        return nil
    }
}
