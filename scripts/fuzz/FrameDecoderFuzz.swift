// libFuzzer target: the JSON-RPC frame decoder and the message parser (issue 14). Compiled by
// scripts/fuzz/run.sh together with Sources/JSONRPC/FrameDecoder.swift, JSONParser.swift and
// Sources/XLChatProtocol/JSONValue.swift. The input is split at a few points taken from its
// first byte, so chunking is fuzzed too; every item the decoder yields is parsed.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrameDecoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let first = bytes.first else { return 0 }
    let chunk = Int(first % 61) + 1
    var decoder = FrameDecoder(maxFrameBytes: 1 << 16)
    var i = 1
    while i < bytes.count {
        decoder.append(bytes[i..<min(i + chunk, bytes.count)])
        while let item = decoder.next() {
            if case let .message(body) = item { _ = try? JSONParser.parse(body) }
        }
        i += chunk
    }
    if case let .message(body)? = decoder.finish() { _ = try? JSONParser.parse(body) }
    // The parser on the raw input as well.
    _ = try? JSONParser.parse(Array(bytes.dropFirst()))
    return 0
}
