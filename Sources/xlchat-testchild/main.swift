// Test helper (not shipped): builds the index of a synthetic workbook in a data directory, so
// XLChatIndexTests can kill -9 a real process in the middle of a build, or run two at once.
// Usage: xlchat-testchild build DATA_DIR ROWS HASH [--force]
import Foundation
import XLChatIndex

let args = CommandLine.arguments
guard args.count >= 5, args[1] == "build", let rows = Int(args[3]) else {
    FileHandle.standardError.write(Data("usage: xlchat-testchild build DATA_DIR ROWS HASH [--force]\n".utf8))
    exit(2)
}
do {
    let index = try WorkbookIndex(dataDirectory: URL(fileURLWithPath: args[2]))
    let (reader, outline) = try SyntheticWorkbook.mixed(rows: rows, contentHash: args[4])
    let result = try await index.build(outline: outline, reader: reader, embedder: HashingEmbedder(),
                                       force: args.contains("--force"))
    print("built chunks=\(result.chunks) reused=\(result.reused)")
} catch {
    FileHandle.standardError.write(Data("xlchat-testchild: \(error)\n".utf8))
    exit(1)
}
