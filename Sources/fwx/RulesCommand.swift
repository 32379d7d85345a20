import ArgumentParser
import FWXModel

/// `fwx rules`: the table of validation rule ids.
struct RulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules", abstract: "List every validation rule id with its severity and meaning (Markdown table).")

    func run() async throws {
        print(RulesTable.markdown)
    }
}

enum RulesTable {
    static var markdown: String {
        var lines = ["| Rule | Severity | Layer | What it checks |", "|---|---|---|---|"]
        for rule in RuleID.catalogue {
            let layer = rule.id.hasPrefix("FWX-P") ? "parser" : rule.id.hasPrefix("FWX-S") ? "schema"
                : rule.id.hasPrefix("FWX-N") ? "exchange"
                : rule.id.hasPrefix("FWX-G") ? "signature" : "business rule"
            lines.append("| \(rule.id) | \(rule.severity.rawValue) | \(layer) | \(rule.summary) |")
        }
        return lines.joined(separator: "\n")
    }
}
