import CXMLSec
public import FWXModel
import Foundation

/// The secret key of keyed pseudonyms (docs/pseudonymisation.md): at least 32 bytes read from a file that only its
/// owner may read. It never appears in an output, a message or a log; its description says only where it came from.
public struct PseudonymKey: Sendable, CustomStringConvertible {
    let bytes: [UInt8]
    /// The file it was read from.
    public let file: String

    public static let minimumBytes = 32

    /// Reads the key in `file` (its bytes as they are; for example made by `head -c 32 /dev/urandom > FILE`).
    public init(file: String) throws {
        var info = stat()
        guard stat(file, &info) == 0 else {
            throw FWXError(.io, "cannot read the pseudonym key \(file): \(String(cString: strerror(errno))); make one "
                           + "with: head -c 32 /dev/urandom > \(file) && chmod 600 \(file)", location: file)
        }
        if info.st_mode & 0o077 != 0 {
            throw FWXError(.usage, "the pseudonym key \(file) is readable by group or others (mode "
                           + "\(String(info.st_mode & 0o777, radix: 8))); run: chmod 600 \(file)", location: file)
        }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw FWXError(.io, "cannot read the pseudonym key \(file)", location: file)
        }
        guard data.count >= Self.minimumBytes else {
            throw FWXError(.usage, "the pseudonym key \(file) has \(data.count) bytes; it needs at least "
                           + "\(Self.minimumBytes) (head -c 32 /dev/urandom > \(file))", location: file)
        }
        self.bytes = [UInt8](data)
        self.file = file
    }

    /// A random key that lives only in memory: for checking a profile, where no pseudonym is kept.
    public static func ephemeral() -> PseudonymKey {
        PseudonymKey(bytes: (0..<minimumBytes).map { _ in UInt8.random(in: 0...255) }, file: "(a random key for this check)")
    }

    private init(bytes: [UInt8], file: String) {
        self.bytes = bytes
        self.file = file
    }

    public var description: String { "pseudonym key from \(file)" }
}

/// Keyed pseudonyms of persons: HMAC-SHA-256, with the owner's key, over a normalised name, birth date and
/// identity number. The same person gets the same pseudonym in every batch made with the same key, so analysts
/// can link records, and without the key nobody can tell who it is or test a guess. Only the holder of the key
/// (the owning country, or partners who share it on purpose) can link a pseudonym back to a person.
public enum KeyedPseudonym {
    /// Starts every keyed pseudonym: the scheme's version (`hk1`: HMAC-SHA-256 over the v1 normalisation).
    public static let prefix = "hk1-"

    /// A name as the pseudonym sees it: letters only (accents and other marks removed, so "Müller" and
    /// "Muller" agree), in capitals, each run of other characters (spaces, hyphens, apostrophes, commas) one
    /// separator, the parts in alphabetical order (so "Dupont, Jean" and "JEAN DUPONT" agree).
    public static func normalisedName(_ name: String) -> String {
        let stripped = name.decomposedStringWithCompatibilityMapping.unicodeScalars
            .filter { !$0.properties.isDiacritic && $0.properties.generalCategory != .nonspacingMark }
        var parts: [String] = []
        var current = ""
        for scalar in stripped {
            if scalar.properties.isAlphabetic || scalar.properties.numericType != nil {
                current.unicodeScalars.append(scalar)
            } else if !current.isEmpty {
                parts.append(current)
                current = ""
            }
        }
        if !current.isEmpty { parts.append(current) }
        return parts.map { $0.uppercased() }.sorted().joined(separator: " ")
    }

    /// An identity number as the pseudonym sees it: letters and digits only, in capitals.
    public static func normalisedIdNumber(_ number: String) -> String {
        String(String.UnicodeScalarView(number.unicodeScalars.filter { $0.properties.isAlphabetic
            || $0.properties.numericType != nil })).uppercased()
    }

    /// The pseudonym of the person with these details (at least one given; a birth date as `yyyy-MM-dd`).
    public static func make(name: String?, birthDate: String?, idNumber: String?, key: PseudonymKey) -> String {
        let input = "fwx-person-v1\nname=\(name.map(normalisedName) ?? "")\nborn=\(birthDate ?? "")\n"
            + "id=\(idNumber.map(normalisedIdNumber) ?? "")"
        let message = Array(input.utf8)
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        key.bytes.withUnsafeBufferPointer { keyBytes in
            message.withUnsafeBufferPointer { bytes in
                _ = HMAC(EVP_sha256(), keyBytes.baseAddress, Int32(keyBytes.count), bytes.baseAddress, bytes.count,
                         &digest, &length)
            }
        }
        return prefix + SHA256Hex.hex(Array(digest.prefix(Int(length))))
    }

    /// Whether `value`, given as a pseudonym, looks like a clear name instead: two to five words of letters (with
    /// hyphens or apostrophes inside), each starting with a capital, as in "Jean Dupont" or "Anna van der Berg"
    /// (lower-case particles allowed between). Pseudonyms made by systems are codes: digits, colons, hex.
    public static func looksLikeClearName(_ value: String) -> Bool {
        let words = value.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
        guard (2...5).contains(words.count) else { return false }
        let particles: Set<String> = ["van", "der", "den", "de", "du", "la", "le", "von", "zu", "di", "da", "del", "ter", "ten"]
        var capitalised = 0
        for word in words {
            guard word.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || $0 == "-" || $0 == "'" || $0 == "’" })
            else { return false }
            if word.first!.isUppercase, word.dropFirst().contains(where: { $0.isLowercase }) || word.count == 1 {
                capitalised += 1
            } else if word.allSatisfy({ $0.isUppercase || $0 == "-" || $0 == "'" }) && word.count > 1 {
                capitalised += 1 // surnames in capitals, as many registers write them
            } else if !particles.contains(word.lowercased()) {
                return false
            }
        }
        return capitalised >= 2
    }
}
