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
