#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

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
    /// ... and at most this ratio of inflated to compressed bytes, checked as bytes come out
    /// against the compressed bytes consumed so far (past a 1 MiB floor). Real sheets inflate
    /// at 5-60:1; a 2.2 MB bomb used to be refused only after 2.2 GB came out, and one tuned to
    /// 847:1 was accepted (issue 14, item 3).
    public var maxCompressionRatio: Int64 = 200
    /// Parts read whole into memory (workbook, styles, relationships, content types, tables):
    /// at most this many inflated bytes each (sheets and shared strings are streamed instead).
    /// A 1 GB workbook.xml used to cost 2.0 GB of memory.
    public var maxWholePartBytes: Int64 = 64 << 20
    /// The shared string table held in memory: at most about this many bytes (16 per string
    /// plus its text; with the array's growth, about 192 MB at the peak). 630 MB of `<si/>` used to
    /// become 126 million strings, 2.1 GB.
    public var maxSharedStringBytes = 128 << 20
    /// Row/column indexes beyond Excel's limits are a corrupt file.
    public var maxRows = CellRef.maxRows
    public var maxColumns = CellRef.maxColumns
    /// Delimited text (csv/tsv) has no format limit on rows, and a streamed read holds one row at
    /// a time, so by default it is not capped at Excel's 1,048,576 (`maxRows` applies to the
    /// binary formats). Set this to cap csv/tsv rows (`tooLarge` past it).
    public var maxTextRows = Int.max
    /// Cells that repeat counts (ods `number-rows-repeated` / `number-columns-repeated`) may
    /// add beyond the cells written out once: past this, `tooLarge`. 10 million keeps a real
    /// sheet (repeats are mostly empty tails, which cost nothing) and refuses an 805-byte file
    /// that repeats one value over 16,384 × 1,048,576 cells.
    public var maxRepeatedCells = 10_000_000
    /// One csv/tsv field: at most this many bytes (16 MiB, 500 times Excel's 32,767-character
    /// cell), else `tooLarge`. A 200 MB one-field csv used to cost 2.1 GB.
    public var maxTextFieldBytes = 16 << 20
    public init() {}
    public static let `default` = ReadLimits()
}

/// Cancellation for readers, which are synchronous and run on the engine's threads. The server
/// binds a cancellation check around each job on one of its own threads (`withThreadBinding`);
/// inside a task with no binding, `check()` follows the task's own cancellation. Readers call
/// `check()` once per row delivered (each repeat of a repeated row too) and per inflated zip
/// chunk, so cancelled work stops within one row or 256 KiB, not at the end of the sheet
/// (issue 14, item 5: an 805-byte ods repeating one cell over the whole grid kept a core busy
/// after cancel).
///
/// Not a `@TaskLocal`: binding one crashed in `swift_task_localValuePush` in the release build
/// with the static Swift runtime (Swift 6.3.1, Linux; both on a plain thread and inside a task;
/// the debug build worked), so the binding is a pthread key.
public enum ReadCancellation {
    private final class Binding {
        let isCancelled: @Sendable () -> Bool
        init(_ f: @escaping @Sendable () -> Bool) { isCancelled = f }
    }

    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        precondition(pthread_key_create(&k, nil) == 0, "pthread_key_create failed")
        return k
    }()

    /// Runs `body` on this thread with `isCancelled` as the check `check()` consults; the
    /// previous binding (if any) is restored afterwards. For synchronous work on a plain thread.
    public static func withThreadBinding<T>(_ isCancelled: @escaping @Sendable () -> Bool, _ body: () throws -> T) rethrows -> T {
        let previous = pthread_getspecific(key)
        let binding = Unmanaged.passRetained(Binding(isCancelled))
        pthread_setspecific(key, binding.toOpaque())
        defer {
            pthread_setspecific(key, previous)
            binding.release()
        }
        return try body()
    }

    /// Throws `CancellationError` once the bound work was cancelled.
    @inline(__always)
    public static func check() throws {
        if let raw = pthread_getspecific(key) {
            if Unmanaged<Binding>.fromOpaque(raw).takeUnretainedValue().isCancelled() { throw CancellationError() }
            return
        }
        if Task.isCancelled { throw CancellationError() }
    }
}
