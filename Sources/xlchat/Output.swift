import ArgumentParser
import Foundation
import XLChatProtocol
import XLChatServer

/// Printing for the command line: aligned tables for people, JSON for scripts.
enum Output {
    static func out(_ s: String) { FileHandle.standardOutput.write(Data(s.utf8)) }
    static func err(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }

    static func json(_ value: some Encodable) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try e.encode(value), as: UTF8.self))
    }

    static func text(_ cell: JSONValue) -> String {
        switch cell {
        case .null: return ""
        case let .bool(b): return b ? "TRUE" : "FALSE"
        case let .int(i): return String(i)
        case let .double(d): return String(d)
        case let .string(s): return s
        case let .object(o): return o["error"]?.stringValue ?? "\(cell)"
        case .array: return "\(cell)"
        }
    }

    /// An aligned table; cells wider than `maxWidth` are cut with an ellipsis.
    static func table(header: [String], rows: [[String]], maxWidth: Int = 40) {
        func clip(_ s: String) -> String {
            let one = s.replacingOccurrences(of: "\n", with: "⏎")
            return one.count > maxWidth ? String(one.prefix(maxWidth - 1)) + "…" : one
        }
        let all = ([header] + rows).map { $0.map(clip) }
        let columns = all.map(\.count).max() ?? 0
        var widths = [Int](repeating: 0, count: columns)
        for r in all { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        func line(_ r: [String]) -> String {
            r.enumerated().map { i, c in c + String(repeating: " ", count: widths[i] - c.count) }
                .joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        if !header.isEmpty {
            print(line(all[0]))
            print(widths.map { String(repeating: "─", count: $0) }.joined(separator: "  "))
        }
        for r in all.dropFirst(header.isEmpty ? 0 : 1) { print(line(r)) }
    }

    /// Prints a failure as one line on stderr and exits non-zero.
    static func fail(_ error: any Error) -> ExitCode {
        let message: String
        if let e = error as? ResponseError {
            message = e.kind.map { "\(e.message) [\($0.rawValue)]" } ?? e.message
        } else {
            message = "\(error)"
        }
        FileHandle.standardError.write(Data("xlchat: \(message)\n".utf8))
        return ExitCode.failure
    }
}

/// Draws `$/progress` notifications of a local session with the same bar `xlchat ask` uses.
final class ProgressLine: Sendable {
    private let bar = ProgressBar(enabled: true)

    /// The work is over: later notifications draw nothing.
    func close() { bar.close() }

    func handle(_ notification: any NotificationType) {
        guard let progress = notification as? ProgressNotification else { return }
        switch progress.value.kind {
        case .end: bar.finish()
        case .begin, .report: bar.show(fraction: Double(progress.value.percentage ?? 0) / 100, message: progress.value.message ?? "")
        }
    }
}
