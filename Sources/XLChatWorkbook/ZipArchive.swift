#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CXLZlib

// A zip reader of our own (stack.md: zlib raw inflate streamed in chunks is 1.5-4x ZIPFoundation,
// and a reader of our own is needed anyway to stop a member that inflates past a limit while
// streaming). Reads the central directory (ZIP64 included), stored and deflated members, and
// streams a member's inflated bytes in chunks to a consumer without ever holding the whole member.

/// One member of a zip archive, as the central directory describes it.
public struct ZipEntry: Sendable, Hashable {
    /// The name exactly as stored.
    public var name: String
    /// Compression method: 0 stored, 8 deflated.
    public var method: UInt16
    public var flags: UInt16
    public var crc32: UInt32
    public var compressedSize: Int64
    public var uncompressedSize: Int64
    public var localHeaderOffset: Int64
    public var isDirectory: Bool { name.hasSuffix("/") || name.hasSuffix("\\") }
    public var isEncrypted: Bool { flags & 1 != 0 }
}

public final class ZipArchive {
    public let path: String
    public let limits: ReadLimits
    public let entries: [ZipEntry]
    private let fd: Int32
    private let fileSize: Int64
    private let byKey: [String: Int]

    /// Opens `path` and reads its central directory. Not a zip, or a truncated one: `.corruptWorkbook`.
    public init(path: String, limits: ReadLimits = .default) throws {
        self.path = path
        self.limits = limits
        let fd = try ZipArchive.openFile(path)
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            close(fd)
            throw WorkbookError(.fileNotFound, "cannot stat \(path)")
        }
        self.fd = fd
        self.fileSize = Int64(st.st_size)
        do {
            entries = try ZipArchive.readCentralDirectory(fd: fd, fileSize: Int64(st.st_size), path: path)
        } catch {
            close(fd)
            throw error
        }
        var keys: [String: Int] = [:]
        for (i, e) in entries.enumerated() where keys[ZipArchive.key(e.name)] == nil {
            keys[ZipArchive.key(e.name)] = i
        }
        byKey = keys
    }

    deinit { close(fd) }

    static func openFile(_ path: String) throws -> Int32 {
        var st = stat()
        if stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
            throw WorkbookError(.fileNotFound, "\(path) is a directory, not a workbook")
        }
        return try FileInput.openRegularFile(path).fd
    }

    /// Lookup key: letter case folded, `\` read as `/`, no leading `/`.
    static func key(_ name: String) -> String {
        var s = name.lowercased()
        if s.contains("\\") { s = s.replacingOccurrences(of: "\\", with: "/") }
        while s.hasPrefix("/") { s.removeFirst() }
        return s
    }

    /// The entry named `name`, ignoring letter case and `\` vs `/`.
    public func entry(named name: String) -> ZipEntry? {
        byKey[ZipArchive.key(name)].map { entries[$0] }
    }

    public func contains(_ name: String) -> Bool { entry(named: name) != nil }

    // MARK: Central directory

    private static func pread(_ fd: Int32, _ count: Int, at offset: Int64) throws -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = buf.withUnsafeMutableBytes { p in
                Glibc.pread(fd, p.baseAddress! + done, count - done, off_t(offset) + off_t(done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw WorkbookError(.fileNotFound, "read error (errno \(errno))")
            }
            if n == 0 { throw WorkbookError.corrupt("zip is truncated (wanted \(count) bytes at \(offset))") }
            done += n
        }
        return buf
    }

    private static func readCentralDirectory(fd: Int32, fileSize: Int64, path: String) throws -> [ZipEntry] {
        guard fileSize >= 22 else {
            throw WorkbookError.corrupt(fileSize == 0 ? "the file is empty (0 bytes)" : "not a zip archive (too short)")
        }
        // The end-of-central-directory record is in the last 22 + 65535 bytes.
        let tailLen = Int(min(fileSize, 22 + 65_535 + 20))
        let tailStart = fileSize - Int64(tailLen)
        let tail = try pread(fd, tailLen, at: tailStart)
        var eocd = -1
        var i = tailLen - 22
        while i >= 0 {
            if tail[i] == 0x50 && tail[i + 1] == 0x4B && tail[i + 2] == 5 && tail[i + 3] == 6 { eocd = i; break }
            i -= 1
        }
        guard eocd >= 0 else {
            let head = try pread(fd, 8, at: 0)
            if head.starts(with: [0x50, 0x4B, 3, 4]) {
                throw WorkbookError.corrupt("zip is truncated: no end of central directory")
            }
            if head == [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1] {
                // The sniffer sends these to the compound-file readers (xls, encrypted OOXML).
                throw WorkbookError.corrupt("not a zip archive but an OLE compound file (a legacy xls or an encrypted workbook)")
            }
            throw WorkbookError.corrupt("not a zip archive")
        }
        var r = ByteReader(tail, at: eocd + 4)
        _ = r.u16(); _ = r.u16()
        var count = Int64(r.u16())
        _ = r.u16()
        var cdSize = Int64(r.u32())
        var cdOffset = Int64(r.u32())
        // ZIP64: a locator just before the EOCD points at the ZIP64 EOCD record.
        if count == 0xFFFF || cdSize == 0xFFFF_FFFF || cdOffset == 0xFFFF_FFFF, eocd >= 20,
           tail[eocd - 20] == 0x50, tail[eocd - 19] == 0x4B, tail[eocd - 18] == 6, tail[eocd - 17] == 7 {
            var l = ByteReader(tail, at: eocd - 12)  // locator: signature, disk number, offset, disk count
            let z64Offset = Int64(bitPattern: l.u64())
            guard z64Offset >= 0, z64Offset <= fileSize - 56 else { throw WorkbookError.corrupt("bad ZIP64 locator") }
            let rec = try pread(fd, 56, at: z64Offset)
            guard rec[0] == 0x50, rec[1] == 0x4B, rec[2] == 6, rec[3] == 6 else {
                throw WorkbookError.corrupt("bad ZIP64 end of central directory")
            }
            var z = ByteReader(rec, at: 24)
            _ = z.u64()
            count = Int64(bitPattern: z.u64())
            cdSize = Int64(bitPattern: z.u64())
            cdOffset = Int64(bitPattern: z.u64())
        }
        let eocdAbs = tailStart + Int64(eocd)
        guard cdOffset >= 0, cdSize >= 0, count >= 0, cdOffset <= eocdAbs, cdSize <= eocdAbs - cdOffset else {
            throw WorkbookError.corrupt("zip is truncated: central directory past the end of the file")
        }
        // Some writers prepend data (self-extracting stubs); tolerate a shifted directory.
        var base: Int64 = 0
        if cdOffset + cdSize < eocdAbs, count > 0 {
            let probe = try pread(fd, 4, at: cdOffset)
            if probe != [0x50, 0x4B, 1, 2] { base = eocdAbs - cdSize - cdOffset }
        }
        guard cdSize <= 256 << 20 else { throw WorkbookError.tooLarge("zip central directory of \(cdSize) bytes") }
        let cd = try pread(fd, Int(cdSize), at: cdOffset + base)
        var entries: [ZipEntry] = []
        entries.reserveCapacity(Int(min(count, 100_000)))
        var p = ByteReader(cd, at: 0)
        while p.remaining >= 46 {
            guard p.u32() == 0x0201_4B50 else {
                if entries.isEmpty { throw WorkbookError.corrupt("bad central directory") }
                break
            }
            _ = p.u16(); _ = p.u16()
            let flags = p.u16()
            let method = p.u16()
            _ = p.u16(); _ = p.u16()
            let crc = p.u32()
            var csize = Int64(p.u32())
            var usize = Int64(p.u32())
            let nameLen = Int(p.u16()), extraLen = Int(p.u16()), commentLen = Int(p.u16())
            _ = p.u16(); _ = p.u16(); _ = p.u32()
            var offset = Int64(p.u32())
            guard p.remaining >= nameLen + extraLen + commentLen else {
                throw WorkbookError.corrupt("zip is truncated: central directory entry cut short")
            }
            let nameBytes = p.bytes(nameLen)
            // Names are UTF-8 when flag bit 11 is set; otherwise CP437, which for the ASCII
            // names of OOXML parts reads the same.
            let name = String(decoding: nameBytes, as: UTF8.self)
            var extra = ByteReader(p.bytes(extraLen), at: 0)
            while extra.remaining >= 4 {
                let id = extra.u16(), size = Int(extra.u16())
                guard extra.remaining >= size else { break }
                if id == 1 {
                    var z = ByteReader(extra.bytes(size), at: 0)
                    if usize == 0xFFFF_FFFF, z.remaining >= 8 { usize = Int64(bitPattern: z.u64()) }
                    if csize == 0xFFFF_FFFF, z.remaining >= 8 { csize = Int64(bitPattern: z.u64()) }
                    if offset == 0xFFFF_FFFF, z.remaining >= 8 { offset = Int64(bitPattern: z.u64()) }
                } else {
                    extra.skip(size)
                }
            }
            p.skip(commentLen)
            guard csize >= 0, usize >= 0, offset >= 0 else { throw WorkbookError.corrupt("bad sizes for \(name)") }
            entries.append(ZipEntry(name: name, method: method, flags: flags, crc32: crc, compressedSize: csize,
                                    uncompressedSize: usize, localHeaderOffset: offset + base))
        }
        if entries.isEmpty && count > 0 { throw WorkbookError.corrupt("empty central directory") }
        return entries
    }

    // MARK: Reading members

    /// Where the member's data starts (after its local header), checked against the file size.
    private func dataOffset(_ e: ZipEntry) throws -> Int64 {
        guard e.localHeaderOffset <= fileSize - 30 else { throw WorkbookError.corrupt("zip is truncated: \(e.name)") }
        let h = try ZipArchive.pread(fd, 30, at: e.localHeaderOffset)
        guard h[0] == 0x50, h[1] == 0x4B, h[2] == 3, h[3] == 4 else {
            throw WorkbookError.corrupt("bad local header for \(e.name)")
        }
        let nameLen = Int64(h[26]) | Int64(h[27]) << 8
        let extraLen = Int64(h[28]) | Int64(h[29]) << 8
        let start = e.localHeaderOffset + 30 + nameLen + extraLen
        guard start <= fileSize, e.compressedSize <= fileSize - start else { throw WorkbookError.corrupt("zip is truncated: \(e.name) is cut short") }
        return start
    }

    /// Streams the member's bytes, inflated, to `consumer` in chunks of at most `chunkSize`
    /// bytes. Past `limits.maxMemberBytes`, or past `limits.maxCompressionRatio`:1 once over
    /// 1 MiB, it throws `.tooLarge` before handing that chunk over. The consumer's buffer is
    /// only valid during the call. `verifyCRC: false` skips the CRC check, for a pre-pass over a
    /// member that is read again (and checked) afterwards.
    public func stream(_ e: ZipEntry, chunkSize: Int = 256 << 10, verifyCRC: Bool = true, maxBytes: Int64? = nil,
                       _ consumer: (UnsafeRawBufferPointer) throws -> Void) throws {
        if e.isEncrypted { throw WorkbookError(.encryptedWorkbook, "zip member \(e.name) is encrypted") }
        let start = try dataOffset(e)
        let ratioFloor: Int64 = 1 << 20
        let cap = min(limits.maxMemberBytes, maxBytes ?? limits.maxMemberBytes)
        var produced: Int64 = 0
        var crc = CXLZlib.crc32(0, nil, 0)
        var zs = z_stream()
        // Compressed bytes consumed so far (stored members: equal to what came out).
        var consumed: Int64 = 0
        func check(_ n: Int) throws {
            try ReadCancellation.check()
            produced += Int64(n)
            if produced > cap {
                throw WorkbookError.tooLarge("\(e.name) inflates past \(cap) bytes (refused after \(produced) bytes)")
            }
            if produced > ratioFloor && produced > max(consumed, 1) * limits.maxCompressionRatio {
                throw WorkbookError.tooLarge("\(e.name) inflates at over \(limits.maxCompressionRatio):1 (a zip bomb?), refused after \(produced) bytes")
            }
        }
        let inSize = 256 << 10
        let input = UnsafeMutableRawPointer.allocate(byteCount: inSize, alignment: 16)
        defer { input.deallocate() }
        var readPos: Int64 = 0
        func fill() throws -> Int {
            let want = Int(min(Int64(inSize), e.compressedSize - readPos))
            if want <= 0 { return 0 }
            var done = 0
            while done < want {
                let n = Glibc.pread(fd, input + done, want - done, off_t(start + readPos) + off_t(done))
                if n < 0 { if errno == EINTR { continue }; throw WorkbookError.corrupt("read error in \(e.name)") }
                if n == 0 { throw WorkbookError.corrupt("zip is truncated: \(e.name)") }
                done += n
            }
            readPos += Int64(done)
            return done
        }
        switch e.method {
        case 0:
            while true {
                let n = try fill()
                if n == 0 { break }
                consumed += Int64(n)
                try check(n)
                if verifyCRC { crc = CXLZlib.crc32(crc, input.assumingMemoryBound(to: Bytef.self), uInt(n)) }
                try consumer(UnsafeRawBufferPointer(start: input, count: n))
            }
        case 8:
            let out = UnsafeMutableRawPointer.allocate(byteCount: chunkSize, alignment: 16)
            defer { out.deallocate() }
            let initRC = inflateInit2_(&zs, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
            guard initRC == Z_OK else { throw WorkbookError.corrupt("zlib init failed (\(initRC))") }
            defer { inflateEnd(&zs) }
            var finished = false
            while !finished {
                if zs.avail_in == 0 {
                    let n = try fill()
                    if n == 0 { throw WorkbookError.corrupt("zip is truncated: deflate stream of \(e.name) ends early") }
                    zs.next_in = input.assumingMemoryBound(to: Bytef.self)
                    zs.avail_in = uInt(n)
                }
                zs.next_out = out.assumingMemoryBound(to: Bytef.self)
                zs.avail_out = uInt(chunkSize)
                let rc = inflate(&zs, Z_NO_FLUSH)
                switch rc {
                case Z_OK, Z_BUF_ERROR: break
                case Z_STREAM_END: finished = true
                default:
                    throw WorkbookError.corrupt("bad deflate data in \(e.name) (zlib \(rc))")
                }
                let n = chunkSize - Int(zs.avail_out)
                consumed = readPos - Int64(zs.avail_in)
                if n > 0 {
                    try check(n)
                    if verifyCRC { crc = CXLZlib.crc32(crc, out.assumingMemoryBound(to: Bytef.self), uInt(n)) }
                    try consumer(UnsafeRawBufferPointer(start: out, count: n))
                }
                if rc == Z_BUF_ERROR && n == 0 && zs.avail_in != 0 {
                    throw WorkbookError.corrupt("deflate data of \(e.name) makes no progress")
                }
            }
        default:
            throw WorkbookError(.unsupportedFormat, "zip member \(e.name) uses compression method \(e.method)")
        }
        if verifyCRC && UInt32(crc) != e.crc32 {
            throw WorkbookError.corrupt("CRC mismatch in \(e.name): the archive is damaged")
        }
    }

    /// The whole member, inflated (for the small parts: workbook, rels, styles), at most
    /// `limits.maxWholePartBytes` (else `.tooLarge`, refused as that many bytes come out).
    public func read(_ e: ZipEntry) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Int(min(e.uncompressedSize, limits.maxWholePartBytes, 64 << 20)))
        try stream(e, maxBytes: limits.maxWholePartBytes) { out.append(contentsOf: $0) }
        return out
    }

    public func read(named name: String) throws -> [UInt8]? {
        guard let e = entry(named: name) else { return nil }
        return try read(e)
    }
}

/// Little-endian reads over a byte array; callers check `remaining` first.
struct ByteReader {
    let data: [UInt8]
    var pos: Int
    init(_ data: [UInt8], at pos: Int) { self.data = data; self.pos = pos }
    var remaining: Int { data.count - pos }
    mutating func u16() -> UInt16 {
        defer { pos += 2 }
        return UInt16(data[pos]) | UInt16(data[pos + 1]) << 8
    }
    mutating func u32() -> UInt32 {
        defer { pos += 4 }
        return UInt32(data[pos]) | UInt32(data[pos + 1]) << 8 | UInt32(data[pos + 2]) << 16 | UInt32(data[pos + 3]) << 24
    }
    mutating func u64() -> UInt64 { UInt64(u32()) | UInt64(u32()) << 32 }
    mutating func bytes(_ n: Int) -> [UInt8] {
        defer { pos += n }
        return Array(data[pos..<(pos + n)])
    }
    mutating func skip(_ n: Int) { pos += n }
}
