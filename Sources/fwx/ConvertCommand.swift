import ArgumentParser

/// `fwx convert`: transforms between CSV exports, FWX XML, FWX JSON and flat CSV.
struct ConvertCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "convert", abstract: "Convert between CSV, XML and JSON.")
    func run() async throws { throw ValidationError("not yet available") }
}
