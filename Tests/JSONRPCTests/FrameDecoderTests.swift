import Testing
@testable import JSONRPC

/// Drip-feeds and batches input the way NIO's ByteToMessageDecoderVerifier does: whatever the
/// chunking, the decoder must produce the same items.
@Suite struct FrameDecoderTests {
    func frame(_ s: String) -> String { "Content-Length: \(s.utf8.count)\r\n\r\n\(s)" }

    func decodeAll(_ input: [UInt8], chunk: Int, max: Int = FrameDecoder.defaultMaxFrameBytes) -> [FrameDecoder.Item] {
        var d = FrameDecoder(maxFrameBytes: max)
        var out: [FrameDecoder.Item] = []
        var i = 0
        while i < input.count {
            d.append(input[i..<min(i + chunk, input.count)])
            while let item = d.next() { out.append(item) }
            i += chunk
        }
        if let last = d.finish() { out.append(last) }
        return out
    }

    func texts(_ items: [FrameDecoder.Item]) -> [String] {
        items.map {
            switch $0 {
            case let .message(b): return String(decoding: b, as: UTF8.self)
            case let .malformed(m): return "!" + m
            }
        }
    }

    @Test(arguments: [1, 2, 3, 7, 64, 100_000])
    func contentLengthFramesAnyChunking(chunk: Int) {
        let a = #"{"jsonrpc":"2.0","id":1,"method":"a"}"#, b = #"{"jsonrpc":"2.0","id":2,"method":"b","params":{"x":"é"}}"#
        let input = Array((frame(a) + "Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n" + frame(b)).utf8)
        #expect(texts(decodeAll(input, chunk: chunk)) == [a, b])
    }

    @Test(arguments: [1, 5, 4096])
    func newlineDelimitedAnyChunking(chunk: Int) {
        let input = Array("{\"id\":1}\r\n\n[{\"id\":2}]\n{\"id\":3}".utf8)
        #expect(texts(decodeAll(input, chunk: chunk)) == [#"{"id":1}"#, #"[{"id":2}]"#, #"{"id":3}"#])
    }

    @Test func framingDetectedFromFirstByte() {
        var d = FrameDecoder()
        d.append(Array("  \n{\"a\":1}\n".utf8))
        _ = d.next()
        #expect(d.framing == .newlineDelimited)
        var e = FrameDecoder()
        e.append(Array(frame("{}").utf8))
        _ = e.next()
        #expect(e.framing == .contentLength)
    }

    @Test func missingContentLengthIsReportedAndDecodingResumes() {
        let good = #"{"id":2}"#
        let input = Array(("Content-Type: x\r\n\r\n{\"id\":1}" + frame(good)).utf8)
        let out = texts(decodeAll(input, chunk: 3))
        #expect(out.count == 2)
        #expect(out[0].hasPrefix("!missing Content-Length"))
        #expect(out[1] == good)
    }

    @Test func nonNumericContentLength() {
        let input = Array(("Content-Length: ten\r\n\r\n{\"id\":1}" + frame(#"{"id":2}"#)).utf8)
        let out = texts(decodeAll(input, chunk: 1))
        #expect(out.first?.contains("not a number") == true)
        #expect(out.last == #"{"id":2}"#)
        #expect(out.count == 2)
    }

    @Test func bodyLongerThanContentLength() {
        // The declared length cuts the body short; the rest is junk before the next header.
        let input = Array(("Content-Length: 5\r\n\r\n{\"id\":1,\"method\":\"x\"}" + frame(#"{"id":2}"#)).utf8)
        let out = texts(decodeAll(input, chunk: 4))
        #expect(out.first == #"{"id""#)  // not JSON: the connection answers -32700
        #expect(out.last == #"{"id":2}"#)
    }

    @Test func bodyShorterThanContentLengthDoesNotSwallowTheNextFrame() {
        let next = #"{"id":2}"#
        let input = Array(("Content-Length: 40\r\n\r\n{\"id\":1}" + frame(next) + frame(#"{"id":3}"#)).utf8)
        let out = texts(decodeAll(input, chunk: 2))
        #expect(out.first == #"{"id":1}"#)
        #expect(out.contains(next))
        #expect(out.last == #"{"id":3}"#)
    }

    @Test func oversizedFrameIsSkippedWithoutBuffering() {
        var d = FrameDecoder(maxFrameBytes: 1 << 20)
        d.append(Array("Content-Length: 104857600\r\n\r\n".utf8))
        #expect(d.next() == .malformed("frame of 104857600 bytes exceeds the 1 MiB limit"))
        // Feed the 100 MB body in 1 MB pieces: nothing is kept.
        let piece = [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 20)
        for _ in 0..<100 {
            d.append(piece)
            #expect(d.next() == nil)
            #expect(d.bufferedByteCount == 0)
        }
        d.append(Array(frame(#"{"id":9}"#).utf8))
        #expect(d.next() == .message(Array(#"{"id":9}"#.utf8)))
    }

    @Test func oversizedLineIsDroppedUpToItsNewline() {
        var d = FrameDecoder(maxFrameBytes: 1024)
        d.append(Array("{\"a\":\"".utf8))
        _ = d.next()
        d.append([UInt8](repeating: UInt8(ascii: "y"), count: 4096))
        #expect(d.next() == .malformed("message exceeds the 1024-byte limit"))
        d.append(Array("\"}\n{\"ok\":1}\n".utf8))
        #expect(d.next() == .message(Array(#"{"ok":1}"#.utf8)))
    }

    @Test func junkBetweenFramesIsReportedOnce() {
        let input = Array(("garbage here, and more\r\n" + frame(#"{"id":1}"#)).utf8)
        let out = texts(decodeAll(input, chunk: 1))
        #expect(out == ["!expected a 'Content-Length:' header", #"{"id":1}"#])
    }

    @Test func incompleteFrameAtEndOfInput() {
        let out = texts(decodeAll(Array("Content-Length: 50\r\n\r\n{\"id\":1}".utf8), chunk: 8))
        #expect(out.count == 1)
        #expect(out[0].hasPrefix("!incomplete frame"))
    }
}
