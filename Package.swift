// swift-tools-version: 6.0
//
// Module map (see Modules.md): wire types -> JSON-RPC transport -> server <- engine modules.
// Engine modules (XLChatWorkbook, XLChatIndex, XLChatLLM, XLChatAgent) never import the
// protocol or transport modules; the server is the only place the two worlds meet. Every front
// end (JSON-RPC, the in-process client behind the command line and tests, MCP) calls the
// server's one typed request core, `Session.handle<R: RequestType>`.
import PackageDescription

let package = Package(
    name: "xlchat",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "xlchat", targets: ["xlchat"]),
        .library(name: "XLChatServer", targets: ["XLChatServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // Wire types: one Codable struct per method, error codes. No dependencies.
        .target(name: "XLChatProtocol"),

        // JSON-RPC 2.0: framing (Content-Length / NDJSON), connection, stdio and unix-socket transports.
        .target(name: "JSONRPC", dependencies: [
            "XLChatProtocol",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // zlib, for raw inflate of zip members (named apart from ZIPFoundation's CZlib).
        .systemLibrary(name: "CXLZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        // Engine: reading workbooks (xlsx/xlsm, xlsb, xls, ods, csv/tsv; `WorkbookFormat` is the one
        // list) and inferring their tables; the engine's one bounded thread pool and cancellation
        // token (EngineThreads.swift), shared by the server and the agent.
        .target(name: "XLChatWorkbook", dependencies: [
            "CXLZlib",
            .product(name: "Crypto", package: "swift-crypto"),  // SHA-256 content hashes (BoringSSL speed)
        ]),

        // Engine: the SQLite index (typed tables, read-only SQL, FTS5 + vectors), and the one
        // owner of a workbook's lifecycle (`WorkbookHandle`: id, `FileIdentity`, outline, a kept
        // reader, "is it indexed?" in one place) over a narrow `WorkbookStorage`. Vectors come
        // from the built-in hashing embedder or the model server's (`ModelServerEmbedder`, over
        // XLChatLLM's client).
        .target(name: "XLChatIndex", dependencies: [
            "XLChatWorkbook", "XLChatLLM",
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),

        // Engine: the PostgreSQL store (issue 15): the same typed tables and read-only SQL as
        // XLChatIndex's SQLite store, shared by a team, behind `TypedTableStore`.
        .target(name: "XLChatPostgres", dependencies: [
            "XLChatIndex", "XLChatWorkbook",
            .product(name: "PostgresNIO", package: "postgres-nio"),
        ]),

        // Engine: model clients (Ollama, OpenAI-compatible), streaming over SwiftNIO (URLSession for
        // https); built from settings, never reading the environment itself.
        .target(name: "XLChatLLM", dependencies: [
            // Plain-HTTP streaming over NIO: URLSession on Linux busy-waits (see NIOHTTPTransport.swift).
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),

        // Engine: the tool-using analyst (prompting, tools, citations, grounding, sessions). It is
        // handed an indexed workbook (its caller ensures the typed tables through the handle).
        .target(name: "XLChatAgent", dependencies: [
            "XLChatWorkbook", "XLChatIndex", "XLChatLLM",
            .product(name: "GRDB", package: "GRDB.swift"),  // sessions.sqlite: conversations and the answer cache
        ]),

        // The server: the typed request core (a registry of request types and handlers; lifecycle,
        // error mapping in one place), the in-process client, configuration (the one reader of
        // the environment), progress, the registry of workbook handles. Joins wire and engines.
        .target(name: "XLChatServer", dependencies: [
            "XLChatProtocol", "JSONRPC", "XLChatWorkbook", "XLChatIndex", "XLChatLLM", "XLChatAgent", "XLChatPostgres",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),

        // The Model Context Protocol front end (`xlchat mcp`): MCP tools over the request core.
        .target(name: "XLChatMCP", dependencies: [
            "XLChatServer", "XLChatProtocol", "JSONRPC",
            .product(name: "Logging", package: "swift-log"),
        ]),

        // The thin command line.
        .executableTarget(name: "xlchat", dependencies: [
            "XLChatServer", "XLChatMCP", "XLChatProtocol", "JSONRPC", "XLChatWorkbook", "XLChatIndex", "XLChatLLM", "XLChatAgent", "XLChatPostgres",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Test helper: a child process that builds an index, so tests can kill -9 it mid-build.
        .executableTarget(name: "xlchat-testchild", dependencies: ["XLChatIndex", "XLChatWorkbook"]),

        // Benchmarks: `swift run -c release xlchat-bench --help`.
        .executableTarget(name: "xlchat-bench", dependencies: [
            "XLChatServer", "XLChatProtocol", "JSONRPC", "XLChatWorkbook", "XLChatIndex", "XLChatLLM", "XLChatAgent", "XLChatTestSupport", "XLChatPostgres",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "GRDB", package: "GRDB.swift"),  // reads the stored vectors for the scan comparison
        ], path: "Benchmarks/xlchat-bench", exclude: ["sqlite_vec_scan.py", "gen_xlsb.py", "gen_workspace.py"]),

        // Test support: JSON-RPC clients (in-process channels, pipes, sockets, the binary), the typed
        // in-process client for tests, scripted model server.
        .target(name: "XLChatTestSupport", dependencies: [
            "XLChatServer", "XLChatProtocol", "JSONRPC", "XLChatLLM",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),

        .testTarget(name: "JSONRPCTests", dependencies: ["JSONRPC", "XLChatTestSupport"]),
        .testTarget(name: "XLChatWorkbookTests", dependencies: ["XLChatWorkbook"], exclude: ["FuzzRegressions"]),
        .testTarget(name: "XLChatAgentTests", dependencies: ["XLChatAgent", "XLChatTestSupport", "XLChatWorkbook", "XLChatIndex", "XLChatLLM"]),
        .testTarget(name: "XLChatIndexTests", dependencies: [
            "XLChatIndex", "XLChatWorkbook", .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        .testTarget(name: "XLChatPostgresTests", dependencies: [
            "XLChatPostgres", "XLChatIndex", "XLChatWorkbook", .product(name: "PostgresNIO", package: "postgres-nio"),
        ]),
        .testTarget(name: "XLChatLLMTests", dependencies: ["XLChatLLM", "XLChatTestSupport"]),
        .testTarget(name: "XLChatMCPTests", dependencies: [
            "XLChatMCP", "XLChatServer", "XLChatProtocol", "JSONRPC", "XLChatTestSupport", "XLChatLLM",
        ]),
        .testTarget(name: "XLChatServerTests", dependencies: [
            "XLChatServer", "XLChatProtocol", "JSONRPC", "XLChatTestSupport", "XLChatWorkbook", "XLChatLLM", "XLChatPostgres", "XLChatIndex",
        ]),
    ],
    swiftLanguageModes: [.v6]
)
