import ArgumentParser
import FWXConvert
import FWXModel
import FWXXML
import Foundation

/// `fwx upgrade`: a schema v1 batch as a schema v2 batch.
struct UpgradeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upgrade",
        abstract: "Upgrade a schema v1 batch to schema v2, losslessly (docs/schema-v2.md).",
        discussion: """
            The input is validated as v1 first (schema and business rules); an invalid batch is not upgraded. \
            Every v1 record is a v2 record as it is: only the FWX namespace and the root's schemaVersion (2.0) \
            change, every other byte is copied, and the same input always gives the same output. An enveloped \
            signature no longer matches and is dropped: sign the v2 batch again (fwx sign). The output is checked \
            against schemas/v2/batch.xsd before it is moved into place.

            Exit status: 0 upgraded; 1 the input is not a valid v1 batch (nothing written); 2 usage or I/O error.
            """)

    @Argument(help: "The v1 batch.")
    var input: String

    @Option(name: .shortAndLong, help: "The v2 batch to write.")
    var output: String

    func validate() throws {
        guard output != "-" else { throw ValidationError("-o - is not supported: give a file, it is checked before it is moved into place") }
        guard output != input else { throw ValidationError("-o \(output) would overwrite the input; choose another output") }
        if OutputFiles.isFolder(output) {
            throw ValidationError("-o \(output) is a folder; give a file name, for example \(output)/batch-v2.xml")
        }
    }

    func run() throws {
        let report = try BatchValidator().validate(path: input)
        guard report.isValid else {
            for finding in report.findings { ConvertCommand.say(finding.humanDescription) }
            ConvertCommand.say("fwx upgrade: \(input) is not a valid v1 batch (\(report.errorCount) errors); nothing written")
            throw ExitCode(ExitStatus.invalid)
        }
        let out = try StagedOutput(path: output)
        let summary: SchemaUpgrade.Summary
        do {
            summary = try SchemaUpgrade.v1ToV2(try ByteSource(path: input)) { try out.write($0) }
            try out.finishWriting()
        } catch {
            out.discard()
            throw error
        }
        let v2 = try CompiledSchema(path: SchemaRegistry.shared.directory + "/v2/batch.xsd", namespace: SchemaUpgrade.v2Namespace)
        let problems = v2.messages(validatingFile: out.temporaryPath)
        guard problems.isEmpty else {
            out.discard()
            // Lines only: libxml2's messages may quote values.
            let lines = problems.compactMap { $0.split(separator: ":").dropFirst().first }.prefix(5)
            ConvertCommand.say("fwx upgrade: the upgraded batch is not valid v2 (at lines \(lines.joined(separator: ", "))); "
                + "nothing written. This is a bug in fwx: please report it with the batch's schemaVersion")
            throw ExitCode(ExitStatus.usageOrIO)
        }
        try out.commit()
        var text = "fwx upgrade: \(report.records) records, schemaVersion \(summary.fromVersion) -> 2.0, "
            + "\(summary.namespaceDeclarations) namespace declaration(s) changed, written to \(output)"
        if summary.signatureDropped { text += "; the signature was dropped: sign the v2 batch again (fwx sign)" }
        ConvertCommand.say(text)
    }
}
