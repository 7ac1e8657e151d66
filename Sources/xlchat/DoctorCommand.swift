import ArgumentParser
import Foundation
import XLChatIndex
import XLChatLLM
import XLChatPostgres
import XLChatServer
#if canImport(Glibc)
import Glibc
#endif

/// `xlchat doctor`: checks what xlchat needs, one line per check, and says what to do about
/// each failure. Exits 1 when any check fails.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the data directory, SQLite, the shared store, the model server and its models, and the socket path.",
        discussion: """
            Prints `ok  ...` or `FAIL ... — what to do` per check and exits non-zero when one fails. \
            The settings are those of `xlchat serve` (flags, then environment variables).
            """)

    @Option(help: "Also check this unix socket path (can a server listen there; is one already listening).")
    var socket: String?

    @Option(help: "Seconds to wait for the model server.")
    var timeout: Double = 10

    @OptionGroup var engine: EngineOptions

    func run() async throws {
        let config = engine.configuration()
        var report = DoctorReport()
        report.dataDirectory(config.dataDirectory)
        report.sqlite(SQLiteCapabilities.probe())
        report.store(config)
        await report.modelServer(config: config, timeout: timeout)
        if let socket { report.socket(socket) }
        if report.failures > 0 {
            DoctorReport.emit("\(report.failures) check\(report.failures == 1 ? "" : "s") failed")
            throw ExitCode(1)
        }
    }
}

/// The checks; each prints its line as it finishes.
struct DoctorReport {
    private(set) var failures = 0

    mutating func ok(_ text: String) {
        Self.emit("ok    \(text)")
    }

    mutating func fail(_ text: String, fix: String) {
        failures += 1
        Self.emit("FAIL  \(text) — \(fix)")
    }

    /// One line, written at once (unbuffered), so a slow check shows the lines before it.
    static func emit(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    // MARK: data directory

    mutating func dataDirectory(_ path: String) {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        let existed = fm.fileExists(atPath: path, isDirectory: &isDir)
        if existed && !isDir.boolValue {
            fail("data directory \(path) is a file, not a directory",
                 fix: "move it away, or choose another directory with --data-dir or XLCHAT_DATA_DIR")
            return
        }
        if !existed {
            do {
                try fm.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                fail("data directory \(path) cannot be created (\(Self.reason(error)))",
                     fix: "create it with a writable parent, or choose another with --data-dir or XLCHAT_DATA_DIR")
                return
            }
        }
        // Writable for real (access(2) says yes for root on a read-only mount, and no ACL is seen).
        let probe = path + "/.xlchat-doctor-\(getpid())"
        let fd = open(probe, O_CREAT | O_EXCL | O_WRONLY, 0o600)
        if fd < 0 {
            let why = String(cString: strerror(errno))
            fail("data directory \(path) is not writable (\(why))",
                 fix: "fix its permissions (chmod u+w \(path)), or choose another with --data-dir or XLCHAT_DATA_DIR")
            return
        }
        let written = write(fd, "ok", 2)
        close(fd)
        unlink(probe)
        guard written == 2 else {
            fail("data directory \(path) accepts no data (disk full?)", fix: "free some space, or choose another with --data-dir")
            return
        }
        ok("data directory \(path) (\(existed ? "writable" : "created, writable"))")
        let loose = DataDirectoryPermissions.loose(path)
        if let first = loose.first {
            warn("\(loose.count) entr\(loose.count == 1 ? "y" : "ies") under the data directory can be read by other users (e.g. \(first.0), mode \(String(first.2, radix: 8)))",
                 fix: "run `chmod -R go-rwx \(path)`; `xlchat serve` tightens them when it starts")
        }
    }

    mutating func warn(_ text: String, fix: String) {
        Self.emit("WARN  \(text) — \(fix)")
    }

    // MARK: SQLite

    mutating func sqlite(_ caps: SQLiteCapabilities) {
        guard caps.fts5 else {
            fail("SQLite \(caps.version) has no FTS5 (the index needs it)",
                 fix: "install a SQLite built with FTS5 (Debian's libsqlite3-0 has it) and rebuild xlchat")
            return
        }
        guard caps.trigram else {
            fail("SQLite \(caps.version) has FTS5 but no trigram tokenizer (substring search in codes needs it)",
                 fix: "install SQLite 3.34 or newer (libsqlite3-0) and rebuild xlchat")
            return
        }
        ok("SQLite \(caps.version) with FTS5 and the trigram tokenizer")
    }

    // MARK: store

    /// The typed tables' store: SQLite needs nothing more; a PostgreSQL store is diagnosed
    /// (`PostgresTableStore.diagnose`: reachable, version, init, the roles' rights, pgvector).
    mutating func store(_ config: ServerConfiguration) {
        let settings: PostgresSettings?
        do {
            settings = try config.postgresSettings()
        } catch {
            fail("store: \((error as? IndexError)?.message ?? "\(error)")",
                 fix: "set XLCHAT_STORE (--store) to `sqlite` or a postgres://user:password@host:port/database string")
            return
        }
        guard let settings else {
            ok("store: SQLite under the data directory (set XLCHAT_STORE=postgres://… to share typed tables with a team)")
            return
        }
        for check in PostgresTableStore.diagnose(settings: settings).checks {
            switch check.level {
            case .ok: ok(check.text)
            case .warn: warn(check.text, fix: check.fix ?? "")
            case .fail: fail(check.text, fix: check.fix ?? "")
            }
        }
    }

    // MARK: model server

    mutating func modelServer(config: ServerConfiguration, timeout: Double) async {
        let policy = HTTPPolicy(firstByteTimeout: timeout, stallTimeout: timeout, maxAttempts: 1)
        let clientConfig: ModelClientConfiguration
        do {
            clientConfig = try config.modelClientConfiguration(policy: policy)
        } catch {
            fail("model server settings: \(error)", fix: "fix XLCHAT_PROVIDER / XLCHAT_BASE_URL / OLLAMA_HOST (or the flags)")
            return
        }
        let address = clientConfig.baseURL.absoluteString
        let isOllama = clientConfig.provider == .ollama
        var wanted = [config.model]
        if !config.embedModel.isEmpty { wanted.append(config.embedModel) }
        let status = await clientConfig.makeClient().status(models: wanted)
        guard status.reachable else {
            // The client's own message repeats the advice; keep the cause only.
            let why = status.problem.map { p in
                p.message.contains("connection refused") ? " (connection refused)"
                    : p.kind == .timeout ? " (no answer within \(Int(timeout)) s)" : " (\(p.message))"
            } ?? ""
            fail("model server: nothing answers at \(address)\(why)",
                 fix: isOllama
                    ? "start Ollama with `ollama serve`, or point OLLAMA_HOST (--ollama-host) at the one you run"
                    : "start the OpenAI-compatible server there, or set XLCHAT_BASE_URL (--base-url) to its address")
            return
        }
        ok("model server \(address) (\(clientConfig.provider.rawValue)\(status.version.map { ", version \($0)" } ?? ""))")
        check(model: config.model, role: "chat model", flag: "--model / XLCHAT_MODEL", status: status, address: address, isOllama: isOllama)
        if config.embedModel.isEmpty {
            ok("embedding model: the built-in embedder (needs no model server; set XLCHAT_EMBED_MODEL to use one)")
        } else {
            check(model: config.embedModel, role: "embedding model", flag: "--embed-model / XLCHAT_EMBED_MODEL",
                  status: status, address: address, isOllama: isOllama)
        }
    }

    private mutating func check(model: String, role: String, flag: String, status: ModelServerStatus, address: String, isOllama: Bool) {
        switch status.models[model] {
        case true?:
            ok("\(role) \(model) is available")
        case false?:
            fail("\(role) \(model) is not on \(address)",
                 fix: isOllama ? "run `ollama pull \(model)`, or choose another with \(flag)"
                               : "load it in the server, or choose one it serves with \(flag)")
        case nil:
            let why = status.problem.map { ": \($0.message)" } ?? ""
            fail("\(role) \(model): the model list could not be read from \(address)\(why)",
                 fix: "check that the server at \(address) is the model server you mean")
        }
    }

    // MARK: socket

    mutating func socket(_ path: String) {
        let maxPath = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1
        if path.utf8.count > maxPath {
            fail("socket \(path): the path is \(path.utf8.count) bytes, longer than a unix socket allows (\(maxPath))",
                 fix: "choose a shorter path, such as $XDG_RUNTIME_DIR/xlchat.sock")
            return
        }
        var st = stat()
        if lstat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFSOCK else {
                fail("socket \(path) exists and is not a socket", fix: "remove it or choose another path for --socket")
                return
            }
            switch Self.connect(path) {
            case 0:
                ok("socket \(path): a server is already listening there (clients can connect; a second `xlchat serve --socket` would refuse)")
            case ECONNREFUSED:
                ok("socket \(path): a stale socket file nobody listens on (`xlchat serve --socket` replaces it)")
            case let err:
                fail("socket \(path) cannot be reached (\(String(cString: strerror(err))))",
                     fix: "check the permissions of the socket and its directory, or choose another path")
            }
            return
        }
        // Nothing there: bind a socket for real, then remove it.
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else {
            fail("socket \(path): cannot create a unix socket (\(String(cString: strerror(errno))))",
                 fix: "check the process limits (ulimit -n)")
            return
        }
        defer { close(fd) }
        let err = Self.withAddress(path) { bind(fd, $0, $1) == 0 ? 0 : errno }
        if err != 0 {
            let dir = (path as NSString).deletingLastPathComponent
            fail("socket \(path): a server cannot listen there (\(String(cString: strerror(err))))",
                 fix: err == ENOENT ? "create the directory \(dir) first, or choose another path"
                                    : "choose a path in a directory you can write, such as $XDG_RUNTIME_DIR/xlchat.sock")
            return
        }
        unlink(path)
        ok("socket \(path): a server can listen there (no server is listening now)")
    }

    /// 0 when something accepts a connection on `path`, else the errno.
    private static func connect(_ path: String) -> Int32 {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        return withAddress(path) { Glibc.connect(fd, $0, $1) == 0 ? 0 : errno }
    }

    private static func withAddress(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    private static func reason(_ error: any Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return ns.localizedDescription
    }
}
