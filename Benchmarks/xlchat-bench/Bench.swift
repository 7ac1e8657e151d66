// xlchat-bench: measured figures printed beside the peers', as ratios.
// Build in release: `swift run -c release xlchat-bench <benchmark> --help`.
// Each benchmark is a subcommand in a file of its own; add it to `subcommands` below.
import ArgumentParser
import Foundation

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
            BudgetBenchmark.self,
            FirstAnswerBenchmark.self,
            FormulaBenchmark.self,
            FormulaTextBenchmark.self,
            DecodeBenchmark.self,
            WorkspaceBenchmark.self,
            HandleReadBenchmark.self,
            StoreBenchmark.self,
        ]
    )
}

/// Runs an async benchmark body from a synchronous `run()`, waiting for it: `await Bench.main()`
/// in top-level code resolves to ParsableCommand's synchronous main(), which never calls an
/// async run().
func runBlocking(_ body: @escaping @Sendable () async throws -> Void) throws {
    final class Outcome: @unchecked Sendable { var error: Error? }
    let outcome = Outcome()
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        do { try await body() } catch { outcome.error = error }
        done.signal()
    }
    done.wait()
    if let e = outcome.error { throw e }
}
