// The index's API is synchronous (it runs on the engine's threads); PostgresNIO's is async.
import Foundation
import PostgresNIO
import XLChatIndex
import XLChatWorkbook

/// Runs async store work to completion from a synchronous caller. The work's jobs run on two
/// threads of their own (`PGExecutor`), never on the cooperative pool: a caller blocking a
/// cooperative thread (an async test, the agent) cannot starve the work it waits for.
/// Must not be called from inside such work (it would wait on its own threads).
enum PGSync {
    static func run<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        Task.detached(executorPreference: PGExecutor.shared) {
            do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
            done.signal()
        }
        done.wait()
        return try box.result!.get()
    }

    private final class ResultBox<T>: @unchecked Sendable {
        var result: Result<T, any Error>?
    }
}

/// Two threads taking jobs from one queue.
final class PGExecutor: TaskExecutor, @unchecked Sendable {
    static let shared = PGExecutor(threads: 2)
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    init(threads: Int) {
        for i in 0..<threads {
            let t = Thread { [unowned self] in self.loop() }
            t.name = "xlchat-postgres-\(i)"
            t.start()
        }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        let executor = asUnownedTaskExecutor()
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: executor)
        }
    }
}

/// A column as PostgreSQL stores it: the type that holds every value SQLite kept
/// (`BuiltColumn.storageClasses`), from the typing's `ColumnType`.
struct PGColumn {
    enum Kind { case bigint, double, boolean, date, timestamp, text }
    var name: String
    var kind: Kind

    init(_ c: BuiltTablesFile.BuiltColumn) {
        name = c.name
        let classes = c.storageClasses
        if classes.isEmpty {
            switch c.type {
            case .integer: kind = .bigint
            case .real, .duration: kind = .double
            case .boolean: kind = .boolean
            case .date: kind = .date
            case .datetime: kind = .timestamp
            case .text, .time: kind = .text
            }
        } else if classes == ["integer"] {
            kind = c.type == .boolean ? .boolean : .bigint
        } else if classes.isSubset(of: ["integer", "real"]) {
            kind = .double
        } else if classes == ["text"] && c.isoTemporal {
            kind = c.type == .date ? .date : .timestamp
        } else {
            kind = .text
        }
    }

    /// PostgreSQL keeps 63 bytes of a name (NAMEDATALEN - 1) and cuts longer ones in tables and
    /// in queries alike, so a long header still works when written in full; two headers alike
    /// in their first 63 bytes would collide: the later ones get `_2`, `_3`... within the limit.
    static func named(_ columns: [PGColumn]) -> [PGColumn] {
        var used = Set<String>()
        return columns.map { c in
            var c = c
            var name = clip(c.name, 63)
            var n = 2
            while used.contains(name) { name = clip(c.name, 57) + "_\(n)"; n += 1 }
            used.insert(name)
            c.name = name
            return c
        }
    }

    /// The longest prefix of `s` within `bytes` UTF-8 bytes, cut at a character boundary.
    static func clip(_ s: String, _ bytes: Int) -> String {
        guard s.utf8.count > bytes else { return s }
        var out = ""
        for ch in s { if out.utf8.count + String(ch).utf8.count > bytes { break }; out.append(ch) }
        return out
    }

    var sqlType: String {
        switch kind {
        case .bigint: return "bigint"
        case .double: return "double precision"
        case .boolean: return "boolean"
        case .date: return "date"
        case .timestamp: return "timestamp"
        case .text: return "text"
        }
    }

    /// One row in COPY's text format: tab-separated, `\N` for NULL, backslash escapes.
    /// Doubles are written as Swift's shortest round-trip text, so they arrive bit-exact.
    static func appendCopyLine(_ values: [TypedValue], columns: [PGColumn], to buffer: inout ByteBuffer) {
        for (i, v) in values.enumerated() {
            if i > 0 { buffer.writeInteger(UInt8(ascii: "\t")) }
            let kind: Kind = i == 0 ? .bigint : columns[i - 1].kind
            switch v {
            case .null: buffer.writeString("\\N")
            case let .integer(x):
                if kind == .boolean { buffer.writeString(x != 0 ? "t" : "f") } else { buffer.writeString(String(x)) }
            case let .real(x):
                if x.isNaN { buffer.writeString(kind == .text ? "NaN" : "NaN") }
                else if x.isInfinite { buffer.writeString(x > 0 ? "Infinity" : "-Infinity") }
                else { buffer.writeString("\(x)") }
            case let .text(s):
                for b in s.utf8 {
                    switch b {
                    case UInt8(ascii: "\\"): buffer.writeString("\\\\")
                    case UInt8(ascii: "\t"): buffer.writeString("\\t")
                    case UInt8(ascii: "\n"): buffer.writeString("\\n")
                    case UInt8(ascii: "\r"): buffer.writeString("\\r")
                    default: buffer.writeInteger(b)
                    }
                }
            }
        }
        buffer.writeInteger(UInt8(ascii: "\n"))
    }
}

/// PostgreSQL result values as the index's `SQLValue`, the way SQLite would return them:
/// booleans as 0/1, integral numerics as integers, dates as ISO text.
enum PGValue {
    static func decode(_ cell: PostgresCell, maxBytes: Int) -> (SQLValue, Bool, Int) {
        guard cell.bytes != nil else { return (.null, false, 4) }
        do {
            switch cell.dataType {
            case .bool: return (.integer(try cell.decode(Bool.self) ? 1 : 0), false, 8)
            case .int2, .int4, .int8: return (.integer(try cell.decode(Int64.self)), false, 8)
            case .float4, .float8: return (.real(try cell.decode(Double.self)), false, 8)
            case .numeric:
                let d = try cell.decode(Decimal.self)
                let text = d.description
                if !text.contains("."), let i = Int64(text) { return (.integer(i), false, 8) }
                return (.real(Double(text) ?? 0), false, 8)
            case .date:
                return (.text(iso(try cell.decode(Date.self), time: false)), false, 10)
            case .timestamp, .timestamptz:
                return (.text(iso(try cell.decode(Date.self), time: true)), false, 23)
            case .bytea:
                let b = Array(try cell.decode(ByteBuffer.self).readableBytesView)
                let keep = min(b.count, maxBytes)
                return (.blob(Array(b.prefix(keep))), keep < b.count, keep * 4 / 3)
            default:
                let s = (try? cell.decode(String.self)) ?? "<\(cell.dataType)>"
                var keep = min(s.utf8.count, maxBytes)
                let u = Array(s.utf8)
                if keep < u.count { while keep > 0 && u[keep] & 0xC0 == 0x80 { keep -= 1 } }
                return (.text(String(decoding: u[0..<keep], as: UTF8.self)), keep < u.count, keep)
            }
        } catch {
            return (.text("<\(cell.dataType)>"), false, 8)
        }
    }

    static func iso(_ date: Date, time: Bool) -> String {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC")!
        let c = cal.dateComponents([.year, .month, .day, .hour, .minute, .second, .nanosecond], from: date)
        func pad(_ v: Int, _ n: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, n - s.count)) + s }
        let d = pad(c.year ?? 0, 4) + "-" + pad(c.month ?? 0, 2) + "-" + pad(c.day ?? 0, 2)
        guard time else { return d }
        // As `ExcelDate.iso` writes it: milliseconds only when not zero, trailing zeros trimmed.
        let ms = min(999, Int((Double(c.nanosecond ?? 0) / 1e6).rounded()))
        var frac = ms > 0 ? pad(ms, 3) : ""
        while frac.hasSuffix("0") { frac.removeLast() }
        return d + "T" + pad(c.hour ?? 0, 2) + ":" + pad(c.minute ?? 0, 2) + ":" + pad(c.second ?? 0, 2) + (frac.isEmpty ? "" : "." + frac)
    }
}
