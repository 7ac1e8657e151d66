// xlchat-bench: measured figures printed beside the peers', as ratios.
// Build in release: `swift run -c release xlchat-bench <benchmark> --help`.
// Each benchmark is a subcommand in a file of its own; add it to `subcommands` below.
import ArgumentParser

@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xlchat-bench",
        abstract: "Benchmarks for xlchat, each printing our figure beside a peer's.",
        subcommands: [
            RPCBenchmark.self,
            CSVBench.self,
            IndexBenchmark.self,
            ReadBenchmark.self,
            CorpusBenchmark.self,
            LoadBenchmark.self,
            FormulaBenchmark.self,
        ]
    )
}
