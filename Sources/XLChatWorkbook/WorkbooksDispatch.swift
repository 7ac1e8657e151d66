// Where `Workbooks.open` hands each sniffed container to its reader.

extension Workbooks {
    /// A zip package, told apart by its content: OpenDocument (a `mimetype` member naming a
    /// spreadsheet, or `content.xml` without OOXML parts) -> ods; `xl/workbook.bin` -> xlsb;
    /// anything else -> xlsx / xlsm (that reader checks the content types and refuses other packages).
    static func openZip(path: String, limits: ReadLimits) throws -> any WorkbookReader {
        let archive = try ZipArchive(path: path, limits: limits)
        if let mime = archive.entry(named: "mimetype"), mime.uncompressedSize < 256,
           let bytes = try? archive.read(mime),
           String(decoding: bytes, as: UTF8.self).hasPrefix("application/vnd.oasis.opendocument.spreadsheet") {
            return try ODSReader(archive: archive)
        }
        if archive.contains("content.xml") && !archive.contains("[Content_Types].xml") {
            return try ODSReader(archive: archive)
        }
        if archive.contains("xl/workbook.bin") {
            return try XLSBReader(archive: archive)
        }
        return try XLSXReader(archive: archive)
    }

    /// An OLE compound file: xls (BIFF5/8), or an encrypted OOXML package (`encryptedWorkbook`).
    static func openCompoundFile(path: String, limits: ReadLimits) throws -> any WorkbookReader {
        try XLSReader(path: path, limits: limits)
    }

    /// A bare BIFF2-5 stream (old Excel versions and some exporters).
    static func openBIFF(path: String, version: Int, limits: ReadLimits) throws -> any WorkbookReader {
        try XLSReader(path: path, limits: limits)
    }
}
