// Where `Workbooks.open` hands each sniffed container to its reader.

extension Workbooks {
    /// A zip package: xlsx / xlsm (the reader checks the content types and refuses other packages).
    static func openZip(path: String, limits: ReadLimits) throws -> any WorkbookReader {
        try XLSXReader(path: path, limits: limits)
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
