import ArgumentParser
import Foundation
import JSONRPC
import XLChatProtocol

/// `xlchat-bench decode`: the cost of turning a request's params into its type, as the server
/// does now (the message parsed once by `JSONParser`, params decoded from that tree by
/// `JSONValueDecoder`) beside the path it replaced (the tree written back to text and parsed
/// again by Foundation's `JSONDecoder`) and beside the peer's way (sourcekit-lsp: one
/// `JSONDecoder` pass over the message text, which has no depth limit or linear-time guarantee).
struct DecodeBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Params → request type: decode once from the parsed tree vs. re-encode + JSONDecoder vs. JSONDecoder on the text.")

    @Option(help: "Repetitions of the small request.") var small = 20_000
    @Option(help: "Rows of the csv text in the large request (workbook/open with text).") var rows = 50_000
    @Option(help: "Repetitions of the large request.") var large = 20

    func run() throws {
        let read = #"{"jsonrpc":"2.0","id":17,"method":"workbook/read","params":{"workbookId":"wb-0123456789abcdef","sheet":"Orders 2024","range":"A1:H200","limit":200,"formulas":true}}"#
        var csv = "order,customer,amount,date\n"
        for i in 0..<rows { csv += "ORD-\(i),Customer \(i % 977),\(i % 1000).25,2024-03-\(i % 28 + 1)\n" }
        let open = try String(decoding: JSONRPCCoding.encoder().encode(JSONValue.object([
            "jsonrpc": "2.0", "id": 1, "method": "workbook/open",
            "params": ["text": .string(csv), "format": "csv", "name": "orders.csv"]])), as: UTF8.self)
        print("xlchat-bench decode (\(ProcessInfo.processInfo.activeProcessorCount) cores)")
        try measure("workbook/read params (\(read.utf8.count) B)", text: read, WorkbookReadRequest.self, times: small)
        try measure("workbook/open text params (\(open.utf8.count / 1024) KiB)", text: open, WorkbookOpenRequest.self, times: large)
    }

    /// The message parsed once (needed for the envelope either way), then its params three ways.
    func measure<T: Decodable>(_ label: String, text: String, _ type: T.Type, times: Int) throws {
        let bytes = Array(text.utf8)
        func time(_ body: () throws -> Void) rethrows -> Double {
            let t = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<times { try body() }
            return Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6 / Double(times)
        }
        let once = try time {
            let tree = try JSONParser.parse(bytes)
            _ = try JSONValueDecoder().decode(T.self, from: tree["params"]!)
        }
        let twice = try time {
            let tree = try JSONParser.parse(bytes)
            _ = try JSONDecoder().decode(T.self, from: JSONRPCCoding.encoder().encode(tree["params"]!))
        }
        let peer = try time {
            _ = try JSONDecoder().decode(DecodeEnvelope<T>.self, from: Data(bytes))
        }
        print("\n\(label), \(times) times, ms per message:")
        print(String(format: "  xlchat now (parse + decode from the tree):      %9.4f", once))
        print(String(format: "  xlchat before (parse + re-encode + JSONDecoder): %9.4f  (%.2fx)", twice, twice / once))
        print(String(format: "  peer: JSONDecoder over the text (sourcekit-lsp): %9.4f  (%.2fx)", peer, peer / once))
    }
}

/// What a one-pass decoder reads of a message: its params as their type.
private struct DecodeEnvelope<P: Decodable>: Decodable { let params: P }
