/// Check characters of identifiers that travel with seized goods: ISO 6346 container numbers and customs MRNs.
public enum CheckCharacters {
    /// ISO 6346 value of one character: digits count as themselves, letters from A=10 upward, skipping 11, 22 and 33.
    static func iso6346Value(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "A")...UInt8(ascii: "Z"):
            var value = 10 + Int(byte - UInt8(ascii: "A"))
            // Values that are multiples of 11 are skipped: A=10, B=12 … K=21, L=23 … U=32, V=34 …
            value += (value - 1) / 10
            return value
        default: return nil
        }
    }

    /// The ISO 6346 check digit over `characters` (weights 2^position, sum mod 11, 10 counts as 0).
    static func iso6346CheckDigit<S: Sequence>(_ characters: S) -> Int? where S.Element == UInt8 {
        var sum = 0
        var weight = 1
        for byte in characters {
            guard let value = iso6346Value(byte) else { return nil }
            sum += value * weight
            weight *= 2
        }
        return sum % 11 % 10
    }

    /// The expected check digit of an 11-character container number (owner code, category, serial, check digit),
    /// or nil when the first ten characters are not of the right form.
    public static func containerCheckDigit(_ number: String) -> Int? {
        let bytes = Array(number.utf8)
        guard bytes.count == 11 else { return nil }
        guard bytes[0..<3].allSatisfy({ (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }),
              [UInt8(ascii: "U"), UInt8(ascii: "J"), UInt8(ascii: "Z"), UInt8(ascii: "R")].contains(bytes[3]),
              bytes[4..<11].allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
        else { return nil }
        return iso6346CheckDigit(bytes[0..<10])
    }

    /// Whether a container number carries the right ISO 6346 check digit.
    public static func isValidContainerNumber(_ number: String) -> Bool {
        guard let expected = containerCheckDigit(number) else { return false }
        return Int(number.utf8.last! - UInt8(ascii: "0")) == expected
    }

    /// Appends the check digit to a ten-character container number prefix.
    public static func completeContainerNumber(_ prefix: String) -> String? {
        guard let digit = containerCheckDigit(prefix + "0") else { return nil }
        return prefix + String(digit)
    }

    /// Why an MRN is malformed, or nil when its form is right. The MRN is 18 characters: two digits of the year,
    /// the ISO country of the declaring office, 13 letters or digits, and a check character.
    public static func mrnFormatProblem(_ mrn: String) -> String? {
        let bytes = Array(mrn.utf8)
        guard bytes.count == 18 else { return "an MRN has 18 characters, this one has \(bytes.count)" }
        guard bytes[0..<2].allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
            return "an MRN starts with the two digits of the year"
        }
        let country = String(decoding: bytes[2..<4], as: UTF8.self)
        guard CountryCode.isValid(CountryCode.fromEUPrefix(country)) else {
            return "characters 3-4 of an MRN are the country of the customs office; \(country.quotedForMessage) is not a country code"
        }
        guard bytes[4..<18].allSatisfy({ iso6346Value($0) != nil }) else {
            return "an MRN has only upper-case letters and digits"
        }
        return nil
    }

    /// The check character of the first 17 characters of an MRN (ISO 6346 method, as the EU customs systems use).
    public static func mrnCheckCharacter(_ first17: String) -> Character? {
        let bytes = Array(first17.utf8)
        guard bytes.count == 17, let digit = iso6346CheckDigit(bytes) else { return nil }
        return Character(String(digit))
    }

    /// Whether an MRN has the right form and check character.
    public static func isValidMRN(_ mrn: String) -> Bool {
        guard mrnFormatProblem(mrn) == nil, let expected = mrnCheckCharacter(String(mrn.prefix(17))) else { return false }
        return mrn.last == expected
    }
}
