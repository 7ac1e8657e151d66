import Foundation
import Testing
import XLChatProtocol
@testable import JSONRPC

/// Params are decoded once: from the parsed message tree straight into the request type
/// (`JSONValueDecoder`), not written back to text and parsed again by `JSONDecoder`. The result
/// must be what `JSONDecoder` gives for the same text, and a mismatch must name the field.
@Suite struct DecodeOnceTests {
    /// Parses `text` with the connection's parser and decodes `T` both ways.
    func both<T: Decodable & Equatable>(_ type: T.Type, _ text: String) throws -> (once: T, twice: T) {
        let tree = try JSONParser.parse(Array(text.utf8))
        let once = try JSONValueDecoder().decode(T.self, from: tree)
        let twice = try JSONDecoder().decode(T.self, from: Data(text.utf8))
        return (once, twice)
    }

    @Test func everyShapeDecodesAsJSONDecoderDecodesIt() throws {
        let samples: [String] = [
            #"{"path": "/tmp/a b/ü.xlsx", "workDoneToken": 7}"#,
            #"{"text": "a,b\n1,2\n", "format": "csv", "name": "x.csv", "workDoneToken": "tok"}"#,
            #"{}"#,
            #"{"path": null}"#,
        ]
        for s in samples {
            let (a, b) = try both(WorkbookOpenRequest.self, s)
            #expect(a == b, "\(s)")
        }
        // Integers written as 10.0 or 1e2 are integers (as JSONDecoder reads them); optionals absent or null.
        for s in [#"{"workbookId": "wb-1", "sheet": "S", "limit": 10.0}"#, #"{"workbookId": "wb-1", "sheet": "S", "limit": 1e2, "range": null}"#,
                  #"{"workbookId": "wb-1", "sheet": "Ünïcode 📈", "range": "A1:B2", "formulas": true}"#] {
            let (a, b) = try both(WorkbookReadRequest.self, s)
            #expect(a == b, "\(s)")
        }
        let (i, j) = try both(InitializeRequest.self,
                              #"{"processId": 42, "clientInfo": {"name": "n", "version": "1"}, "capabilities": {"x": [1, 2.5, "s", null, {"y": false}]}}"#)
        #expect(i == j)
        let (c, d) = try both(CancelRequestNotification.self, #"{"id": "abc"}"#)
        #expect(c == d)
    }

    @Test func mismatchesNameTheField() throws {
        func message<T: Decodable>(_ type: T.Type, _ text: String) -> String? {
            do {
                _ = try JSONRPCCoding.decode(T.self, from: try JSONParser.parse(Array(text.utf8)))
                return nil
            } catch { return (error as? ResponseError)?.message ?? "\(error)" }
        }
        #expect(message(WorkbookReadRequest.self, #"{"workbookId": "wb", "sheet": 3}"#) == "invalid params: 'sheet' must be a string")
        #expect(message(WorkbookReadRequest.self, #"{"sheet": "S"}"#) == "invalid params: missing 'workbookId'")
        #expect(message(WorkbookReadRequest.self, #"{"workbookId": null, "sheet": "S"}"#) == "invalid params: 'workbookId' must be a string, not null")
        #expect(message(WorkbookReadRequest.self, #"{"workbookId": "wb", "sheet": "S", "limit": 1.5}"#)?.hasPrefix("invalid params: 'limit'") == true)
        #expect(message(WorkbookReadRequest.self, #"{"workbookId": "wb", "sheet": "S", "limit": "10"}"#) == "invalid params: 'limit' must be an integer")
        #expect(message(InitializeRequest.self, #"{"clientInfo": {"version": "1"}}"#) == "invalid params: missing 'clientInfo.name'")
        #expect(message(WorkbookOpenRequest.self, #"[1, 2]"#) != nil)
        // An integer out of range is an error, not a wrapped value.
        #expect(message(WorkbookReadRequest.self, #"{"workbookId": "wb", "sheet": "S", "limit": 1e300}"#) != nil)
    }
}
