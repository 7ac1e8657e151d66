import ArgumentParser

/// `xlchat completions SHELL`: prints ArgumentParser's completion script for the whole command
/// tree, so it can never drift from the flags. The .deb installs the same scripts
/// (scripts/package-deb.sh) where bash-completion, zsh and fish look for them.
struct CompletionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "completions",
        abstract: "Print the shell completion script for bash, zsh or fish.",
        discussion: """
            The .deb installs these already. By hand:
              bash: xlchat completions bash > ~/.local/share/bash-completion/completions/xlchat
              zsh:  xlchat completions zsh > ~/.zfunc/_xlchat   (with fpath+=~/.zfunc before compinit)
              fish: xlchat completions fish > ~/.config/fish/completions/xlchat.fish
            """)

    enum Shell: String, CaseIterable, ExpressibleByArgument {
        case bash, zsh, fish
    }

    @Argument(help: "The shell: bash, zsh or fish.")
    var shell: Shell

    func run() throws {
        // CompletionShell's raw values are these names (ArgumentParser's CompletionShell.allCases).
        guard let target = CompletionShell(rawValue: shell.rawValue) else {
            throw ValidationError("no completion script for \(shell.rawValue)")
        }
        print(XLChatCommand.completionScript(for: target))
    }
}
