import Foundation

// MS-CFB (Compound File Binary, "OLE2"): the container of legacy .xls files, and of encrypted
// .xlsx files (EncryptionInfo + EncryptedPackage streams). Hand-written: there is no Swift
// library for it, and the format is small. The whole file is held in one buffer (xls files
// are bounded: BIFF8 sheets stop at 65,536 rows); every sector chain is walked with a step
// limit and range checks, so a hostile file ends in `.corruptWorkbook`, never a hang or a trap.

/// A compound file (MS-CFB, versions 3 and 4), read from a byte buffer.
public final class CompoundFile: Sendable {
    /// One entry of the directory (the red-black tree stored as a flat array).
    public struct Entry: Sendable, Hashable {
        public enum Kind: UInt8, Sendable, Hashable { case storage = 1, stream = 2, root = 5 }
        public var name: String
        public var kind: Kind
        /// Index of this entry in the directory array.
        public var id: Int
        public var startSector: UInt32
        public var size: Int64
        var left: UInt32, right: UInt32, child: UInt32
    }

    public static let signature: [UInt8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]

    /// Sector ids with a special meaning.
    static let endOfChain: UInt32 = 0xFFFF_FFFE
    static let freeSect: UInt32 = 0xFFFF_FFFF
    static let noStream: UInt32 = 0xFFFF_FFFF

    let bytes: [UInt8]
    let sectorSize: Int
    let miniSectorSize: Int
    let miniStreamCutoff: Int64
    let fat: [UInt32]
    let miniFat: [UInt32]
    /// The mini stream (the root entry's data), holding streams smaller than the cutoff.
    let miniStream: [UInt8]
    let limits: ReadLimits

    /// Every allocated directory entry (storages, streams and the root), in directory order.
    public let entries: [Entry]
    /// Streams and storages directly under the root storage (found by walking the tree).
    public let rootChildren: [Entry]

    /// True when the first bytes are the compound file signature.
    public static func hasSignature<C: Collection>(_ prefix: C) -> Bool where C.Element == UInt8 {
        prefix.count >= 8 && zip(prefix.prefix(8), signature).allSatisfy { $0 == $1 }
    }

    /// Opens and parses the compound file at `path`.
    public convenience init(path: String, limits: ReadLimits = .default) throws {
        try self.init(bytes: try CompoundFile.readFile(path: path, limits: limits), limits: limits)
    }

    /// Parses a compound file held in memory.
    public init(bytes: [UInt8], limits: ReadLimits = .default) throws {
        self.bytes = bytes
        self.limits = limits
        guard bytes.count >= 512 else {
            throw WorkbookError.corrupt(bytes.isEmpty ? "The file is empty (0 bytes)." :
                "The compound file is truncated: \(bytes.count) bytes, shorter than its 512-byte header.")
        }
        guard CompoundFile.hasSignature(bytes) else {
            throw WorkbookError(.unsupportedFormat, "Not a compound (OLE2) file: the signature is missing.")
        }
        let major = Self.u16(bytes, 0x1A)
        let shift = Int(Self.u16(bytes, 0x1E))
        let miniShift = Int(Self.u16(bytes, 0x20))
        guard (major == 3 && shift == 9) || (major == 4 && shift == 12) else {
            throw WorkbookError.corrupt("Compound file header: version \(major) with sector shift \(shift) is not valid.")
        }
        guard miniShift == 6 else {
            throw WorkbookError.corrupt("Compound file header: mini sector shift \(miniShift) is not 6.")
        }
        sectorSize = 1 << shift
        miniSectorSize = 1 << miniShift
        let cutoff = Int64(Self.u32(bytes, 0x38))
        miniStreamCutoff = cutoff == 0 ? 4096 : cutoff
        let numFatSectors = Int(Self.u32(bytes, 0x2C))
        let firstDirSector = Self.u32(bytes, 0x30)
        let firstMiniFatSector = Self.u32(bytes, 0x3C)
        let numMiniFatSectors = Int(Self.u32(bytes, 0x40))
        let firstDifatSector = Self.u32(bytes, 0x44)
        let numDifatSectors = Int(Self.u32(bytes, 0x48))

        // Sectors the file can hold (a short last sector counts: some writers truncate it).
        let sectorCount = max(0, (bytes.count - sectorSize + sectorSize - 1) / sectorSize)
        guard numFatSectors <= sectorCount else {
            throw WorkbookError.corrupt("Compound file header claims \(numFatSectors) FAT sectors, but the file holds only \(sectorCount) sectors (truncated?).")
        }

        // DIFAT: 109 ids in the header, then a chain of DIFAT sectors.
        var fatSectorIDs: [UInt32] = []
        fatSectorIDs.reserveCapacity(numFatSectors)
        for i in 0..<109 where fatSectorIDs.count < numFatSectors {
            fatSectorIDs.append(Self.u32(bytes, 0x4C + 4 * i))
        }
        var difat = firstDifatSector
        var difatSteps = 0
        let perDifat = sectorSize / 4 - 1
        while fatSectorIDs.count < numFatSectors {
            guard difat != Self.endOfChain, difat != Self.freeSect else {
                throw WorkbookError.corrupt("Compound file DIFAT chain ends after \(fatSectorIDs.count) of \(numFatSectors) FAT sectors.")
            }
            difatSteps += 1
            guard difatSteps <= max(numDifatSectors, 1) + 1, difatSteps <= sectorCount else {
                throw WorkbookError.corrupt("Compound file DIFAT chain loops or is longer than its header says.")
            }
            let off = try Self.sectorOffset(difat, sectorSize: sectorSize, fileSize: bytes.count, full: true)
            for i in 0..<perDifat where fatSectorIDs.count < numFatSectors {
                fatSectorIDs.append(Self.u32(bytes, off + 4 * i))
            }
            difat = Self.u32(bytes, off + 4 * perDifat)
        }

        // FAT.
        var fat: [UInt32] = []
        fat.reserveCapacity(numFatSectors * sectorSize / 4)
        for id in fatSectorIDs {
            let off = try Self.sectorOffset(id, sectorSize: sectorSize, fileSize: bytes.count, full: true)
            for i in 0..<(sectorSize / 4) { fat.append(Self.u32(bytes, off + 4 * i)) }
        }
        self.fat = fat

        // Directory.
        let dirBytes = try Self.readChain(bytes: bytes, fat: fat, start: firstDirSector, sectorSize: sectorSize,
                                          size: nil, what: "directory")
        var entries: [Entry] = []
        var slot = 0
        var rawEntries: [Entry?] = []
        while slot * 128 + 128 <= dirBytes.count {
            let base = slot * 128
            let type = dirBytes[base + 0x42]
            if let kind = Entry.Kind(rawValue: type) {
                let nameLen = min(64, Int(Self.u16(dirBytes, base + 0x40)))
                var units: [UInt16] = []
                var i = 0
                while i + 1 < nameLen {
                    let u = Self.u16(dirBytes, base + i)
                    if u == 0 { break }
                    units.append(u)
                    i += 2
                }
                var size = Int64(Self.u32(dirBytes, base + 0x78))
                if major == 4 { size |= Int64(Self.u32(dirBytes, base + 0x7C)) << 32 }
                let e = Entry(name: String(decoding: units, as: UTF16.self), kind: kind, id: slot,
                              startSector: Self.u32(dirBytes, base + 0x74), size: size,
                              left: Self.u32(dirBytes, base + 0x44), right: Self.u32(dirBytes, base + 0x48),
                              child: Self.u32(dirBytes, base + 0x4C))
                entries.append(e)
                rawEntries.append(e)
            } else {
                rawEntries.append(nil)
            }
            slot += 1
        }
        guard let root = rawEntries.first ?? nil, root.kind == .root else {
            throw WorkbookError.corrupt("Compound file directory has no root entry.")
        }
        self.entries = entries

        // Children of the root: walk its subtree (left/right siblings), guarding against loops.
        var children: [Entry] = []
        var seen = Set<UInt32>()
        var stack: [UInt32] = [root.child]
        while let id = stack.popLast() {
            guard id != Self.noStream, Int(id) < rawEntries.count, let e = rawEntries[Int(id)] else { continue }
            guard seen.insert(id).inserted else {
                throw WorkbookError.corrupt("Compound file directory tree has a loop.")
            }
            children.append(e)
            stack.append(e.left)
            stack.append(e.right)
        }
        children.sort { $0.id < $1.id }
        self.rootChildren = children

        // Mini FAT and mini stream.
        if numMiniFatSectors > 0 && firstMiniFatSector != Self.endOfChain {
            let mf = try Self.readChain(bytes: bytes, fat: fat, start: firstMiniFatSector, sectorSize: sectorSize,
                                        size: nil, what: "mini FAT")
            var mini: [UInt32] = []
            mini.reserveCapacity(mf.count / 4)
            for i in stride(from: 0, to: mf.count - 3, by: 4) { mini.append(Self.u32(mf, i)) }
            self.miniFat = mini
        } else {
            self.miniFat = []
        }
        if root.size > 0 && root.startSector != Self.endOfChain {
            guard root.size <= Int64(bytes.count) else {
                throw WorkbookError.corrupt("Compound file mini stream claims \(root.size) bytes, more than the file.")
            }
            self.miniStream = try Self.readChain(bytes: bytes, fat: fat, start: root.startSector, sectorSize: sectorSize,
                                                 size: Int(root.size), what: "mini stream")
        } else {
            self.miniStream = []
        }
    }

    // MARK: - Streams

    /// The stream named `name` (case-insensitive, as MS-CFB compares names), preferring one
    /// directly under the root storage.
    public func entry(named name: String) -> Entry? {
        let lower = name.lowercased()
        return rootChildren.first { $0.kind == .stream && $0.name.lowercased() == lower }
            ?? entries.first { $0.kind == .stream && $0.name.lowercased() == lower }
    }

    /// The bytes of the stream named `name`, or nil when there is no such stream.
    public func streamBytes(named name: String) throws -> [UInt8]? {
        guard let e = entry(named: name) else { return nil }
        return try streamBytes(e)
    }

    /// The bytes of a stream entry.
    public func streamBytes(_ entry: Entry) throws -> [UInt8] {
        guard entry.size >= 0 else { throw WorkbookError.corrupt("Stream \(entry.name) has a negative size.") }
        if entry.size > limits.maxMemberBytes {
            throw WorkbookError.tooLarge("Stream \(entry.name) is \(entry.size) bytes, over the limit of \(limits.maxMemberBytes).")
        }
        if entry.size == 0 { return [] }
        if entry.size < miniStreamCutoff && entry.kind != .root {
            return try Self.readChain(bytes: miniStream, fat: miniFat, start: entry.startSector,
                                      sectorSize: miniSectorSize, size: Int(entry.size),
                                      what: "stream \(entry.name) (mini stream)", firstSector: 0)
        }
        guard entry.size <= Int64(bytes.count) else {
            throw WorkbookError.corrupt("Stream \(entry.name) claims \(entry.size) bytes, more than the whole file (\(bytes.count)): truncated or corrupt.")
        }
        return try Self.readChain(bytes: bytes, fat: fat, start: entry.startSector, sectorSize: sectorSize,
                                  size: Int(entry.size), what: "stream \(entry.name)")
    }

    /// An OLE container holding `EncryptionInfo` / `EncryptedPackage` is an encrypted OOXML
    /// (xlsx/xlsm) file: Excel stores password-protected workbooks this way.
    public var isEncryptedOOXML: Bool {
        entry(named: "EncryptedPackage") != nil || entry(named: "EncryptionInfo") != nil
    }

    /// Throws `.encryptedWorkbook` for an encrypted OOXML container.
    public func checkNotEncryptedOOXML() throws {
        if isEncryptedOOXML { throw Self.encryptedOOXMLError }
    }

    public static let encryptedOOXMLError = encryptedOOXMLError(path: nil)

    /// The error for an encrypted OOXML container. The container ([MS-OFFCRYPTO] 2.3.4.4,
    /// EncryptionInfo + EncryptedPackage) holds the zip package encrypted, so which workbook
    /// format it is (xlsx, xlsm, xlsb, template) is known only from the file's extension:
    /// "an encrypted xlsb workbook" for `Book.xlsb`, else "an encrypted Office workbook".
    public static func encryptedOOXMLError(path: String?) -> WorkbookError {
        let ext = path.map { URL(fileURLWithPath: $0).pathExtension.lowercased() } ?? ""
        let what = ["xlsx", "xlsm", "xlsb", "xltx", "xltm", "xlam"].contains(ext) ? "an encrypted \(ext) workbook" : "an encrypted Office workbook"
        return WorkbookError(.encryptedWorkbook,
            "The workbook is encrypted with a password (\(what)). Open it in Excel, remove the password (File > Info > Protect Workbook > Encrypt with Password, clear it), save, and try again.")
    }

    /// True when the file at `path` is a compound file holding an encrypted OOXML package.
    public static func isEncryptedOOXML(path: String) -> Bool {
        (try? CompoundFile(path: path))?.isEncryptedOOXML ?? false
    }

    // MARK: - Helpers

    /// Reads a whole file, mapping the usual failures to workbook errors.
    static func readFile(path: String, limits: ReadLimits) throws -> [UInt8] {
        let file = try FileInput(path: path)
        if file.size > limits.maxMemberBytes {
            throw WorkbookError.tooLarge("\(path) is \(file.size) bytes, over the limit of \(limits.maxMemberBytes).")
        }
        let data = try file.readFully(Int(file.size))
        guard Int64(data.count) == file.size else {
            throw WorkbookError.corrupt("\(path) changed while it was read (\(data.count) of \(file.size) bytes).")
        }
        return data
    }

    /// Offset of sector `id` in a file of `fileSize` bytes; `full` requires the whole sector.
    static func sectorOffset(_ id: UInt32, sectorSize: Int, fileSize: Int, full: Bool) throws -> Int {
        let off = (Int(id) + 1) * sectorSize
        guard id < 0xFFFF_FFFA, off < fileSize, !full || off + sectorSize <= fileSize else {
            throw WorkbookError.corrupt("Compound file refers to sector \(id), outside the file (\(fileSize) bytes): truncated or corrupt.")
        }
        return off
    }

    /// Concatenates the sectors of a chain. With `size`, stops once that many bytes are read
    /// and fails if the chain ends sooner; without, reads to the end of the chain. The number
    /// of steps is bounded by the FAT's length: a sector met twice fails instead of spinning.
    /// `firstSector` is 1 in the file (the header takes sector -1's place) and 0 in the mini stream.
    static func readChain(bytes: [UInt8], fat: [UInt32], start: UInt32, sectorSize: Int, size: Int?,
                          what: String, firstSector: Int = 1) throws -> [UInt8] {
        var out: [UInt8] = []
        if let size { out.reserveCapacity(size) }
        var id = start
        // A sector met twice is a loop (a length-bounded read would otherwise silently
        // return repeated data).
        var visited = [Bool](repeating: false, count: fat.count)
        while id != endOfChain {
            if let size, out.count >= size { break }
            guard Int(id) < fat.count else {
                throw WorkbookError.corrupt("Compound file \(what): sector \(id) is outside the allocation table (\(fat.count) entries).")
            }
            guard !visited[Int(id)] else {
                throw WorkbookError.corrupt("Compound file \(what): the sector chain loops (sector \(id) comes twice).")
            }
            visited[Int(id)] = true
            let off = (Int(id) + firstSector) * sectorSize
            guard off < bytes.count else {
                throw WorkbookError.corrupt("Compound file \(what): sector \(id) lies past the end of the data (truncated file?).")
            }
            var end = min(off + sectorSize, bytes.count)
            if let size { end = min(end, off + (size - out.count)) }
            out.append(contentsOf: bytes[off..<end])
            id = fat[Int(id)]
        }
        if let size, out.count < size {
            throw WorkbookError.corrupt("Compound file \(what): the chain holds \(out.count) of \(size) bytes (truncated file?).")
        }
        return out
    }

    @inline(__always) static func u16(_ b: [UInt8], _ o: Int) -> UInt16 {
        guard o + 1 < b.count else { return 0 }
        return UInt16(b[o]) | UInt16(b[o + 1]) << 8
    }

    @inline(__always) static func u32(_ b: [UInt8], _ o: Int) -> UInt32 {
        guard o + 3 < b.count else { return 0 }
        return UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24
    }
}
