// Where `Workbooks.open` hands binary formats to their readers. The xlsx and xls readers live on
// other branches; until they are merged these throw `unsupportedFormat`.
//
// LEAD, AT MERGE: replace the three bodies below with
//   openZip:          return try XLSXReader(path: path, limits: limits)
//   openCompoundFile: return try XLSReader(path: path, limits: limits)
//   openBIFF:         return try XLSReader(path: path, limits: limits)
// (XLSReader is expected to report BIFF2-4 as unsupportedFormat or read them; encrypted
// compound files as encryptedWorkbook.)

extension Workbooks {
    static func openZip(path: String, limits: ReadLimits) throws -> any WorkbookReader {
        throw WorkbookError(.unsupportedFormat, "\(path) is a zip (xlsx) file, but the xlsx reader is not linked in this build")
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
