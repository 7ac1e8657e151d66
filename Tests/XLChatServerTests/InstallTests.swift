import Foundation
import Testing
import XLChatServer
import XLChatTestSupport

/// What the .deb installs beside the binary, checked against the built binary: the completion
/// scripts (`xlchat completions SHELL`) and the man page `docs/man/xlchat.1`, which is written
/// once with ArgumentParser's generate-manual plugin and must stay true to `--help`.
@Suite(.timeLimit(.minutes(2))) struct InstallTests {
    let xlchat = BuiltBinary.path()

    @Test func completionsForEachShellNameEverySubcommand() async throws {
        let help = try await SpawnedProcess.run(xlchat, ["--experimental-dump-help"])
        let commands = try Self.commands(fromDumpHelp: help.stdout).filter { $0.path.count == 1 }.map { $0.path[0] }
        #expect(commands.contains("doctor") && commands.contains("completions"))
        let markers = ["bash": "-F _xlchat xlchat", "zsh": "#compdef xlchat", "fish": "complete -c 'xlchat'"]
        for shell in ["bash", "zsh", "fish"] {
            let r = try await SpawnedProcess.run(xlchat, ["completions", shell])
            #expect(r.status == 0, "\(shell): \(r.stderr)")
            #expect(r.stdout.contains(markers[shell]!), "\(shell)")
            for c in commands { #expect(r.stdout.contains(c), "\(shell) completion lacks \(c)") }
            // The same script as ArgumentParser's own flag.
            let flag = try await SpawnedProcess.run(xlchat, ["--generate-completion-script", shell])
            #expect(flag.stdout == r.stdout, "\(shell)")
        }
    }

    @Test func completionsForAnUnknownShellIsAUsageError() async throws {
        for args in [["completions", "powershell"], ["completions"]] {
            let r = try await SpawnedProcess.run(xlchat, args)
            #expect(r.status == 64, "\(args): \(r.status)")  // EX_USAGE
            #expect(r.stderr.contains("bash") && r.stderr.contains("zsh") && r.stderr.contains("fish"), "\(args): \(r.stderr)")
            #expect(r.stdout.isEmpty)
        }
    }

    /// Every command and option of `--help` (its machine form, `--experimental-dump-help`) is in the
    /// man page, and the man page names none that is gone. On failure, regenerate it:
    /// `swift package plugin generate-manual --configuration debug` and copy
    /// `.build/plugins/GenerateManual/outputs/xlchat/xlchat.1` to `docs/man/xlchat.1`.
    @Test func manPageMatchesHelp() async throws {
        let page = try String(contentsOf: BuiltBinary.packageRoot().appendingPathComponent("docs/man/xlchat.1"), encoding: .utf8)
        let help = try await SpawnedProcess.run(xlchat, ["--experimental-dump-help"])
        #expect(help.status == 0)
        let commands = try Self.commands(fromDumpHelp: help.stdout)
        #expect(commands.count > 8)
        var optionsInHelp = Set<String>()
        for c in commands {
            if let name = c.path.last {
                #expect(page.contains(name), "man page lacks the command \(c.path.joined(separator: " "))")
            }
            if let abstract = c.abstract, !abstract.isEmpty {
                #expect(Self.normalized(page).contains(Self.normalized(abstract)),
                        "man page lacks the abstract of \(c.path.joined(separator: " ")): \(abstract)")
            }
            for o in c.longOptions {
                optionsInHelp.insert(o)
                #expect(page.contains("Fl -\(o)"), "man page lacks --\(o) of \(c.path.joined(separator: " "))")
            }
        }
        // mdoc writes options as `Fl -name`: each must still exist.
        let inPage = Set(page.matches(of: /Fl -([a-z][a-z0-9-]*)/).map { String($0.output.1) })
        #expect(inPage.subtracting(optionsInHelp).isEmpty, "options in the man page but not in --help: \(inPage.subtracting(optionsInHelp).sorted())")
    }

    struct Command { var path: [String]; var abstract: String?; var longOptions: [String] }

    /// The commands of ArgumentParser's ToolInfo JSON (`--experimental-dump-help`), depth first,
    /// with their visible long options; `help` and hidden arguments left out.
    static func commands(fromDumpHelp json: String) throws -> [Command] {
        let root = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        guard let command = root?["command"] as? [String: Any] else { throw CocoaError(.coderReadCorrupt) }
        var out: [Command] = []
        func walk(_ c: [String: Any], _ path: [String]) {
            let args = (c["arguments"] as? [[String: Any]]) ?? []
            let longs = args.filter { ($0["shouldDisplay"] as? Bool) ?? true }.flatMap { a in
                ((a["names"] as? [[String: Any]]) ?? []).filter { ($0["kind"] as? String) == "long" }.compactMap { $0["name"] as? String }
            }
            out.append(Command(path: path, abstract: c["abstract"] as? String, longOptions: longs))
            for s in (c["subcommands"] as? [[String: Any]]) ?? [] {
                guard let name = s["commandName"] as? String, name != "help" else { continue }
                walk(s, path + [name])
            }
        }
        walk(command, [])
        return out
    }

    /// Text with mdoc's escapes and line breaks folded, for comparing sentences.
    static func normalized(_ s: String) -> String {
        s.replacingOccurrences(of: "\\&", with: "").replacingOccurrences(of: "\\-", with: "-")
            .split(whereSeparator: { $0 == " " || $0 == "\n" }).joined(separator: " ")
    }
}
