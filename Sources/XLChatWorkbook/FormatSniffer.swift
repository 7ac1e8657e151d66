import Foundation

/// What a file's first bytes say it is. The extension only breaks the tie for text files.
public enum Sniffed: Sendable, Hashable {
    /// A zip archive: xlsx, xlsm, xlsb or ods, told apart by their members in `Workbooks.openZip`
    /// (other zip packages are refused there).
    case zip
    /// An OLE2 compound file (xls, or an encrypted OOXML package).
    case compoundFile
    /// A bare BIFF stream starting with a BOF record: version 2, 3, 4, 5 or 8.
    case biff(version: Int)
    /// Delimited text; the hint is the extension's delimiter (tab for .tsv/.tab, `,` for .csv).
    case text(delimiterHint: Character?)
    case unknown
}

public enum FormatSniffer {
    static let headBytes = 4096

    public static func sniff(path: String) throws -> Sniffed {
        let file = try FileInput(path: path)
        if file.size == 0 { throw WorkbookError.corrupt("empty file: \(path) has no bytes") }
        let head = try file.readFully(headBytes)
        if head.isEmpty { throw WorkbookError.corrupt("empty file: \(path) has no bytes") }
        return sniff(head: head, pathExtension: URL(fileURLWithPath: path).pathExtension.lowercased())
    }

    public static func sniff(head: [UInt8], pathExtension ext: String) -> Sniffed {
        func starts(_ magic: [UInt8]) -> Bool { head.count >= magic.count && Array(head[0..<magic.count]) == magic }
        // Local file header, empty archive (end of central directory), or a spanned-archive marker.
        if starts([0x50, 0x4B, 0x03, 0x04]) || starts([0x50, 0x4B, 0x05, 0x06]) || starts([0x50, 0x4B, 0x07, 0x08]) {
            return .zip
        }
        if starts([0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) { return .compoundFile }
        if let v = biffVersion(head) { return .biff(version: v) }
        let hint: Character? = switch ext {
        case "tsv", "tab": "\t"
        case "csv": ","
        default: nil
        }
        if ext == "csv" || ext == "tsv" || ext == "tab" || ext == "txt" || looksLikeText(head) {
            return .text(delimiterHint: hint)
        }
        return .unknown
    }

    /// A BOF record at offset 0: type 0x0009 (BIFF2), 0x0209 (BIFF3), 0x0409 (BIFF4) or 0x0809
    /// (BIFF5/BIFF8, told apart by the version field 0x0500 / 0x0600), with a plausible length.
    static func biffVersion(_ h: [UInt8]) -> Int? {
        guard h.count >= 8, h[0] == 0x09 else { return nil }
        let length = Int(h[2]) | Int(h[3]) << 8
        switch h[1] {
        case 0x00: return (length == 4 || length == 6) ? 2 : nil
        case 0x02: return length == 6 ? 3 : nil
        case 0x04: return length == 6 ? 4 : nil
        case 0x08:
            guard length >= 8 && length <= 20 else { return nil }
            let version = Int(h[4]) | Int(h[5]) << 8
            switch version {
            case 0x0500: return 5
            case 0x0600: return 8
            default: return nil
            }
        default: return nil
        }
    }

    /// Text if it has a BOM or a UTF-16 NUL pattern, or few control bytes other than
    /// tab / LF / CR / FF (at most 1%, and no NUL).
    static func looksLikeText(_ h: [UInt8]) -> Bool {
        if h.count >= 3 && h[0] == 0xEF && h[1] == 0xBB && h[2] == 0xBF { return true }
        if h.count >= 2 && ((h[0] == 0xFF && h[1] == 0xFE) || (h[0] == 0xFE && h[1] == 0xFF)) { return true }
        if TextEncodingDetector.bomlessUTF16(h) != nil { return true }
        var control = 0
        for b in h {
            if b == 0 { return false }
            if b < 0x20 && b != 9 && b != 10 && b != 13 && b != 12 { control += 1 }
        }
        return control * 100 <= h.count
    }
}

/// The entry point: open any supported workbook by content, not by extension.
public enum Workbooks {
    static let binaryExtensions: Set<String> = ["xlsx", "xlsm", "xltx", "xltm", "xlsb", "xls", "xlt", "ods", "ots"]

    /// Opens the workbook at `path`. With `evaluateFormulas` (the default), formula cells saved
    /// without a cached value come back computed (`EvaluatingReader`); without it, such cells
    /// have an `.empty` value and their formula text.
    public static func open(path: String, limits: ReadLimits = .default, evaluateFormulas: Bool = true) throws -> any WorkbookReader {
        let reader = try openFormat(path: path, limits: limits)
        if evaluateFormulas, reader.format != .csv, reader.format != .tsv { return EvaluatingReader(reader) }
        return reader
    }

    static func openFormat(path: String, limits: ReadLimits) throws -> any WorkbookReader {
        switch try FormatSniffer.sniff(path: path) {
        case .text(let hint):
            // Text named like a binary workbook is a broken (or mislabelled) file, not a CSV:
            // reading it as one would hand the user a one-column table of garbage.
            let ext = URL(fileURLWithPath: path).pathExtension.lowercased()
            if binaryExtensions.contains(ext) {
                throw WorkbookError.corrupt("\(path) is named .\(ext) but holds plain text, not a workbook; if it is a CSV file, rename it to .csv")
            }
            return try CSVReader(path: path, limits: limits, preferredDelimiter: hint)
        case .zip:
            return try openZip(path: path, limits: limits)
        case .compoundFile:
            return try openCompoundFile(path: path, limits: limits)
        case .biff(let version):
            return try openBIFF(path: path, version: version, limits: limits)
        case .unknown:
            throw WorkbookError(.unsupportedFormat,
                                "\(path) is not a spreadsheet this engine reads (\(WorkbookFormat.list)): its first bytes match none of them")
        }
    }
}
