import Foundation
import Crypto

/// The identity of one version of a file: SHA-256 of its bytes, as lower-case hex.
public enum ContentHash {
    static let chunkSize = 1 << 20

    /// Streams the file in 1 MiB chunks.
    public static func sha256(path: String) throws -> String {
        let file = try FileInput(path: path)
        var hasher = SHA256()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 8)
        defer { buffer.deallocate() }
        while true {
            let n = try file.read(into: buffer)
            if n == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
        return hex(hasher.finalize())
    }

    /// The identity of one version of a workbook as the index keys it: `sha256(path:)`, except
    /// for delimited text (csv, tsv, tab, txt), whose one sheet is named after the file's stem
    /// (`CSVReader`): there the stem is part of what was read, so it is hashed in too. Without
    /// it, a copy or a rename of a csv reused the first name's outline, and its table, sheet and
    /// citations carried the other file's name (`iris_copy_2.csv › 'iris_copy_1'!A2`).
    /// Throws as `sha256(path:)`.
    public static func workbookVersion(path: String) throws -> String {
        let bytes = try sha256(path: path)
        let url = URL(fileURLWithPath: path)
        guard ["csv", "tsv", "tab", "txt"].contains(url.pathExtension.lowercased()) else { return bytes }
        return sha256(string: bytes + "\u{0}" + url.deletingPathExtension().lastPathComponent)
    }

    /// SHA-256 of a string's UTF-8 bytes, as lower-case hex.
    public static func sha256(string: String) -> String {
        hex(SHA256.hash(data: Array(string.utf8)))
    }

    private static func hex(_ digest: some Sequence<UInt8>) -> String {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in digest {
            out.append(hex[Int(byte >> 4)]); out.append(hex[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
