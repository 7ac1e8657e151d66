/// Why a workbook could not be read. The server maps `kind` to the wire's error kinds in one
/// place; the message says what happened and, where it can, what to do.
public struct WorkbookError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        case fileNotFound, unsupportedFormat, corruptWorkbook, encryptedWorkbook, tooLarge
        case unknownSheet, invalidRange
    }
    public var kind: Kind
    public var message: String
    public init(_ kind: Kind, _ message: String) { self.kind = kind; self.message = message }
    public var description: String { "\(kind.rawValue): \(message)" }

    public static func corrupt(_ message: String) -> WorkbookError { .init(.corruptWorkbook, message) }
    public static func tooLarge(_ message: String) -> WorkbookError { .init(.tooLarge, message) }
}

/// Limits that keep a hostile file from exhausting memory or time.
public struct ReadLimits: Sendable, Hashable {
    /// A single zip member may inflate to at most this many bytes.
    public var maxMemberBytes: Int64 = 4 << 30
    /// ... and at most this ratio of inflated to compressed bytes (past a small floor).
    public var maxCompressionRatio: Int64 = 1000
    /// Row/column indexes beyond Excel's limits are a corrupt file.
    public var maxRows = CellRef.maxRows
    public var maxColumns = CellRef.maxColumns
    /// Delimited text (csv/tsv) has no format limit on rows, and a streamed read holds one row at
    /// a time, so by default it is not capped at Excel's 1,048,576 (`maxRows` applies to the
    /// binary formats). Set this to cap csv/tsv rows (`tooLarge` past it).
    public var maxTextRows = Int.max
    public init() {}
    public static let `default` = ReadLimits()
}
