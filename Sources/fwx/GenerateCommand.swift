import ArgumentParser
import FWXConvert
import FWXModel
import Foundation

/// `fwx generate`: deterministic synthetic batches for tests, the demo and benchmarks.
struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write a realistic synthetic batch; the same seed always gives the same bytes.")

    @Option(help: "Number of records (seizures and shipments).")
    var records: Int

    @Option(help: "Seed of the pseudo-random generator.")
    var seed: UInt64 = 1

    @Option(help: "Sender country (ISO 3166-1 alpha-2).")
    var sender: String = "NL"

    @Option(help: "Events lie in the year before this date (YYYY-MM-DD); also the batch's creation day.")
    var asOf: String = "2026-11-01"

    @Option(help: "Per-sender sequence number of the batch.")
    var sequence: UInt64 = 1

    @Option(help: "Number in the first record ids (NL-SZ-2026-0001001 …); give batches disjoint ranges.")
    var firstNumber: Int = 1

    @Option(help: "Recipient countries, comma-separated; all partners when absent.")
    var recipients: String?

    @Flag(help: "Plant known rule violations (one in every 10 records); see --manifest.")
    var withErrors = false

    @Option(help: "Write the planted violations (rule id and record id) as JSON to this file.")
    var manifest: String?

    @Option(name: .shortAndLong, help: "Output file (standard output when absent).")
    var output: String?

    func validate() throws {
        guard records >= 0 else { throw ValidationError("--records must be 0 or more") }
        guard (1...9_000_000).contains(firstNumber) else { throw ValidationError("--first-number must be 1 to 9000000") }
        guard CountryCode.normalize(sender) != nil else {
            throw ValidationError("--sender \(sender) is not an ISO 3166-1 alpha-2 country code")
        }
        if let recipients {
            for code in recipients.split(separator: ",") where CountryCode.normalize(String(code)) == nil {
                throw ValidationError("--recipients: \(code) is not an ISO 3166-1 alpha-2 country code")
            }
        }
    }

    func run() async throws {
        let recipientList: Recipients = recipients.map {
            .countries($0.split(separator: ",").compactMap { CountryCode.normalize(String($0)) })
        } ?? .allPartners
        var generator = try SyntheticBatchGenerator(SyntheticBatchConfiguration(
            records: records, seed: seed, sender: CountryCode.normalize(sender)!, asOf: asOf,
            sequenceNumber: sequence, recipients: recipientList, withErrors: withErrors, firstNumber: firstNumber))
        let out = try AtomicOutput(path: output)
        do {
            var writer = BatchXMLWriter { try out.write($0) }
            try generator.write(to: &writer)
            try out.commit()
        } catch {
            out.discard()
            throw error
        }
        if let manifest {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let data = try encoder.encode(generator.planted)
            guard FileManager.default.createFile(atPath: manifest, contents: data) else {
                throw FWXError(.io, "cannot write \(manifest)", location: manifest)
            }
        }
    }
}
