import ArgumentParser
import FWXModel

/// "Did you mean" for every misspelt subcommand and long option, before the arguments are parsed: a typo is named
/// as a typo, never reported as something else (`fwx validat` as "2 unexpected arguments", `--profil` as a
/// missing `--profile`).
enum UsageSpelling {
    /// The problem with `arguments` (without the program name), or nil when every subcommand and long option is
    /// one the command has.
    static func problem(in arguments: [String], root: any ParsableCommand.Type = FWXCommand.self) -> String? {
        var command: any ParsableCommand.Type = root
        var path = [root._commandName]
        var index = 0
        // Subcommands: walk down while the command has some and the next word is not an option.
        while index < arguments.count, !command.configuration.subcommands.isEmpty {
            let word = arguments[index]
            if word.hasPrefix("-") { break }
            let subcommands = command.configuration.subcommands
            guard let next = subcommands.first(where: { $0._commandName == word }) else {
                if word == "help" { return nil }
                let names = subcommands.map { $0._commandName }
                let hint = Spelling.closest(word, among: names).map { "did you mean '\($0)'?" }
                    ?? "the commands are: \(names.joined(separator: ", "))"
                return "'\(word)' is not a command of '\(path.joined(separator: " "))'; \(hint)"
            }
            command = next
            path.append(word)
            index += 1
        }
        let known = longOptions(of: command, under: root) + ["--help", "--version"]
        for word in arguments[index...] {
            if word == "--" { break }
            guard word.hasPrefix("--"), word.count > 2 else { continue }
            let name = String(word.split(separator: "=", maxSplits: 1)[0])
            if known.contains(name) { continue }
            let hint = Spelling.closest(name, among: known).map { "; did you mean '\($0)'?" }
                ?? "; see '\(path.joined(separator: " ")) --help'"
            return "unknown option '\(name)' for '\(path.joined(separator: " "))'\(hint)"
        }
        return nil
    }

    /// The long options `command` accepts, read from its help text (ArgumentParser has no public list of them).
    static func longOptions(of command: any ParsableCommand.Type, under root: any ParsableCommand.Type) -> [String] {
        let help = root.helpMessage(for: command, columns: 10_000)
        var names: Set<String> = []
        var current = ""
        func flush() {
            if current.count > 2 { names.insert(current) }
            current = ""
        }
        var previous: Character = " "
        for character in help {
            if !current.isEmpty {
                if character.isLetter || character.isNumber || character == "-" {
                    current.append(character)
                } else {
                    flush()
                }
            } else if character == "-", previous == "-" {
                current = "--"
            }
            previous = character
        }
        flush()
        // "--no-x" flags come as "--x/--no-x" in the help; both spellings are read above.
        return names.sorted()
    }
}
