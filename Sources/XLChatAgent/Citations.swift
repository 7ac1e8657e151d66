import Foundation
import XLChatIndex
import XLChatWorkbook

/// Merges cited ranges into compact A1 ranges per file and sheet: overlapping or adjacent rectangles
/// that together form a rectangle become one (`B2:D2` + `B3:D3` → `B2:D3`; `B2:B9` + `C2:C9`
/// → `B2:C9`); ranges inside another disappear.
public enum Citations {
    public static func merge(_ ranges: [SourceRange]) -> [SourceRange] {
        struct Place: Hashable { var file: String?; var sheet: String }
        var order: [Place] = []
        var byPlace: [Place: [CellRange]] = [:]
        for r in ranges {
            let p = Place(file: r.file, sheet: r.sheet)
            if byPlace[p] == nil { order.append(p) }
            byPlace[p, default: []].append(r.range)
        }
        var out: [SourceRange] = []
        for p in order {
            for range in mergeRects(byPlace[p] ?? []) { out.append(SourceRange(file: p.file, sheet: p.sheet, range: range)) }
        }
        return out
    }

    static func mergeRects(_ input: [CellRange]) -> [CellRange] {
        var rects = Array(Set(input))
        var changed = true
        while changed {
            changed = false
            rects.sort { ($0.start.row, $0.start.column, $0.end.row, $0.end.column) < ($1.start.row, $1.start.column, $1.end.row, $1.end.column) }
            outer: for i in rects.indices {
                for j in rects.indices where j > i {
                    if let m = union(rects[i], rects[j]) {
                        rects[i] = m
                        rects.remove(at: j)
                        changed = true
                        break outer
                    }
                }
            }
        }
        return rects.sorted { ($0.start.row, $0.start.column) < ($1.start.row, $1.start.column) }
    }

    /// The union of two rectangles when it is itself a rectangle (one contains the other, or
    /// they share rows/columns exactly and touch or overlap); nil otherwise.
    static func union(_ a: CellRange, _ b: CellRange) -> CellRange? {
        func contains(_ x: CellRange, _ y: CellRange) -> Bool {
            x.start.row <= y.start.row && x.end.row >= y.end.row && x.start.column <= y.start.column && x.end.column >= y.end.column
        }
        if contains(a, b) { return a }
        if contains(b, a) { return b }
        if a.start.column == b.start.column && a.end.column == b.end.column,
           b.start.row <= a.end.row + 1 && a.start.row <= b.end.row + 1 {
            return CellRange(rows: min(a.start.row, b.start.row)...max(a.end.row, b.end.row), columns: a.start.column...a.end.column)
        }
        if a.start.row == b.start.row && a.end.row == b.end.row,
           b.start.column <= a.end.column + 1 && a.start.column <= b.end.column + 1 {
            return CellRange(rows: a.start.row...a.end.row, columns: min(a.start.column, b.start.column)...max(a.end.column, b.end.column))
        }
        return nil
    }
}
