import ArgumentParser
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `xlchat-bench rpc`: throughput and latency of a trivial request (`server/ping`) against the
/// real `xlchat serve` binary, over a unix socket (many clients) and over stdio.
struct RPCBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rpc",
        abstract: "Requests/s and p50/p99 latency of server/ping over a unix socket and over stdio.")

    @Option(help: "Clients on the socket.") var clients = 32
    @Option(help: "Requests per client.") var requests = 1000
    @Option(help: "Requests each client keeps in flight (pipelining window).") var window = 16
    @Option(help: "Requests for the one-at-a-time latency run.") var latencyRequests = 5000
    @Option(help: "The xlchat binary (default: next to this one).") var xlchat: String?

    func run() throws {
        let binary = xlchat ?? URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("xlchat").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw ValidationError("no xlchat binary at \(binary); build it (swift build -c release) or pass --xlchat")
        }
        let dataDir = NSTemporaryDirectory() + "xlchat-bench-\(getpid())"
        print("xlchat-bench rpc: \(binary)")
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; goal (issue 2): >= 20,000 req/s over a socket, p99 <= 2 ms\n")

        // Socket.
        let path = "/tmp/xlchat-bench-\(getpid()).sock"
        let server = Process()
        server.executableURL = URL(fileURLWithPath: binary)
        server.arguments = ["serve", "--socket", path, "--log-level", "error", "--data-dir", dataDir]
        try server.run()
        defer { server.terminate(); server.waitUntilExit() }
        var fd: Int32 = -1
        for _ in 0..<500 {
            if let c = try? SocketEnd.connect(path) { fd = c; break }
            usleep(10_000)
        }
        guard fd >= 0 else { throw ValidationError("server did not start listening on \(path)") }
        close(fd)

        let throughput = try runClients(count: clients, perClient: requests, window: window) { try SocketEnd.connect(path) }
        report("socket, \(clients) clients x \(requests) requests, window \(window)", throughput)
        let latency = try runClients(count: 1, perClient: latencyRequests, window: 1) { try SocketEnd.connect(path) }
        report("socket, 1 client, one request at a time", latency)

        // stdio: one client, the process's own pipes.
        for (label, w) in [("stdio, window \(window)", window), ("stdio, one request at a time", 1)] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = ["serve", "--log-level", "error", "--data-dir", dataDir]
            let input = Pipe(), output = Pipe()
            p.standardInput = input
            p.standardOutput = output
            try p.run()
            let n = w == 1 ? latencyRequests : requests * 10
            let r = try runClients(count: 1, perClient: n, window: w, pipes: (input.fileHandleForWriting.fileDescriptor,
                                                                                output.fileHandleForReading.fileDescriptor))
            report(label, r)
            try? input.fileHandleForWriting.close()
            p.waitUntilExit()
        }
    }

    struct Result {
        var sent = 0, received = 0, mismatched = 0
        var seconds = 0.0
        var latenciesNs: [UInt64] = []
    }

    func report(_ label: String, _ r: Result) {
        let sorted = r.latenciesNs.sorted()
        func pct(_ p: Double) -> Double { sorted.isEmpty ? 0 : Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1e6 }
        let rate = Double(r.received) / r.seconds
        print("\(label):")
        print(String(format: "  %d sent, %d answered, %d lost, %d mismatched; %.0f req/s; latency p50 %.3f ms, p99 %.3f ms, max %.3f ms",
                     r.sent, r.received, r.sent - r.received, r.mismatched, rate, pct(0.5), pct(0.99), pct(1.0)))
    }

    /// Runs `count` clients, each on its own connection with a writer and a reader thread.
    func runClients(count: Int, perClient: Int, window: Int, pipes: (Int32, Int32)? = nil,
                    connect: (() throws -> Int32)? = nil) throws -> Result {
        var ends: [(write: Int32, read: Int32)] = []
        for _ in 0..<count {
            if let pipes { ends.append((pipes.0, pipes.1)) } else {
                let fd = try connect!()
                ends.append((fd, fd))
            }
        }
        let results = Mutex<[Result]>([])
        let start = DispatchTime.now().uptimeNanoseconds
        let group = DispatchGroup()
        for (c, end) in ends.enumerated() {
            group.enter()
            Thread.detachNewThread {
                let r = BenchClient(write: end.write, read: end.read, client: c).run(requests: perClient, window: window)
                results.withLock { $0.append(r) }
                group.leave()
            }
        }
        group.wait()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        if pipes == nil { for e in ends { close(e.write) } }
        var total = Result()
        for r in results.withLock({ $0 }) {
            total.sent += r.sent; total.received += r.received; total.mismatched += r.mismatched
            total.latenciesNs += r.latenciesNs
        }
        total.seconds = seconds
        return total
    }
}

enum SocketEnd {
    static func connect(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if rc != 0 { close(fd); throw ValidationError("connect failed") }
        return fd
    }
}

/// One connection: initialize, then `requests` pings with at most `window` outstanding. The
/// reader matches each reply's id to its send time; nothing but the id is parsed, so the client
/// costs little next to the server.
final class BenchClient: @unchecked Sendable {
    let writeFD: Int32, readFD: Int32, client: Int
    init(write: Int32, read: Int32, client: Int) { writeFD = write; readFD = read; self.client = client }

    func frame(_ body: String) -> [UInt8] { Array("Content-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8) }

    func writeAll(_ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(writeFD, $0.baseAddress! + off, bytes.count - off) }
            if n <= 0 { if errno == EINTR { continue }; return }
            off += n
        }
    }

    private var sentAt: UnsafeMutablePointer<UInt64>!
    private let initialized = Atomic<Bool>(false)
    private var readerResult = RPCBenchmark.Result()

    func run(requests: Int, window: Int) -> RPCBenchmark.Result {
        sentAt = .allocate(capacity: requests + 1)
        defer { sentAt.deallocate() }
        let credits = DispatchSemaphore(value: window)
        let done = DispatchSemaphore(value: 0)
        writeAll(frame(#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"clientInfo":{"name":"bench"}}}"#))
        let reader = Thread { [self] in
            readReplies(requests: requests, credits: credits)
            done.signal()
        }
        reader.start()
        while !initialized.load(ordering: .acquiring) { usleep(100) }
        var sent = 0
        for i in 1...requests {
            credits.wait()
            sentAt[i] = DispatchTime.now().uptimeNanoseconds
            writeAll(frame(#"{"jsonrpc":"2.0","id":\#(i),"method":"server/ping"}"#))
            sent += 1
        }
        done.wait()
        var result = readerResult
        result.sent = sent
        return result
    }

    private func readReplies(requests: Int, credits: DispatchSemaphore) {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        var seen = 0
        var got = Set<Int>()
        let okResult = Array(#""result":{}"#.utf8)
        while seen < requests + 1 {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(readFD, $0.baseAddress, 65536) }
            if n <= 0 { break }
            buffer += chunk[0..<n]
            var pos = 0
            while let headerEnd = Self.find(buffer, Array("\r\n\r\n".utf8), from: pos) {
                let header = String(decoding: buffer[pos..<headerEnd], as: UTF8.self)
                guard let len = Int(header.split(separator: ":").last!.trimmingCharacters(in: .whitespaces)) else { break }
                let bodyStart = headerEnd + 4
                guard buffer.count >= bodyStart + len else { break }
                let body = buffer[bodyStart..<bodyStart + len]
                let now = DispatchTime.now().uptimeNanoseconds
                let id = Self.id(in: body)
                if id == 0 {
                    initialized.store(true, ordering: .releasing)
                } else if let id, id <= requests, !got.contains(id) {
                    got.insert(id)
                    readerResult.latenciesNs.append(now - sentAt[id])
                    if !Self.contains(body, okResult) { readerResult.mismatched += 1 }
                    credits.signal()
                } else {
                    readerResult.mismatched += 1
                    credits.signal()
                }
                seen += 1
                pos = bodyStart + len
            }
            buffer.removeSubrange(0..<pos)
        }
        readerResult.received = got.count
    }

    static func find(_ hay: [UInt8], _ needle: [UInt8], from: Int) -> Int? {
        guard hay.count >= needle.count else { return nil }
        var i = from
        while i <= hay.count - needle.count {
            if hay[i] == needle[0] && Array(hay[i..<i + needle.count]) == needle { return i }
            i += 1
        }
        return nil
    }

    static func contains(_ hay: ArraySlice<UInt8>, _ needle: [UInt8]) -> Bool {
        find(Array(hay), needle, from: 0) != nil
    }

    static func id(in body: ArraySlice<UInt8>) -> Int? {
        let b = Array(body)
        guard let at = find(b, Array(#""id":"#.utf8), from: 0) else { return nil }
        var i = at + 5, v = 0, digits = 0
        while i < b.count, b[i] >= 48, b[i] <= 57 { v = v * 10 + Int(b[i] - 48); i += 1; digits += 1 }
        return digits > 0 ? v : nil
    }
}
