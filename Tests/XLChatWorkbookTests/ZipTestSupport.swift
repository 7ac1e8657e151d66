import CXLZlib
import Foundation
@testable import XLChatWorkbook

/// Builds zip archives for tests: stored or deflated members, optional data descriptors and
/// ZIP64 records, names written exactly as given (backslashes and odd case included).
struct ZipTestArchive {
    struct Member { var name: String; var data: [UInt8]; var deflate = true }
    var members: [Member] = []
    var dataDescriptors = false
    var zip64 = false

    mutating func add(_ name: String, _ text: String, deflate: Bool = true) {
        members.append(Member(name: name, data: Array(text.utf8), deflate: deflate))
    }

    static func crc(_ d: [UInt8]) -> UInt32 {
        UInt32(d.withUnsafeBufferPointer { CXLZlib.crc32(0, $0.baseAddress, uInt($0.count)) })
    }

    static func rawDeflate(_ d: [UInt8]) -> [UInt8] {
        var zs = z_stream()
        deflateInit2_(&zs, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        defer { deflateEnd(&zs) }
        var out = [UInt8](repeating: 0, count: Int(deflateBound(&zs, uLong(d.count))) + 64)
        var input = d
        let produced: Int = input.withUnsafeMutableBufferPointer { ip in
            out.withUnsafeMutableBufferPointer { op in
                zs.next_in = ip.baseAddress; zs.avail_in = uInt(ip.count)
                zs.next_out = op.baseAddress; zs.avail_out = uInt(op.count)
                _ = deflate(&zs, Z_FINISH)
                return op.count - Int(zs.avail_out)
            }
        }
        return Array(out[0..<produced])
    }

    func bytes() -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        func u16(_ v: Int, _ a: inout [UInt8]) { a += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
        func u32(_ v: Int, _ a: inout [UInt8]) { for k in 0..<4 { a.append(UInt8((v >> (8 * k)) & 0xFF)) } }
        func u64(_ v: Int, _ a: inout [UInt8]) { for k in 0..<8 { a.append(UInt8((v >> (8 * k)) & 0xFF)) } }
        for m in members {
            let payload = m.deflate ? ZipTestArchive.rawDeflate(m.data) : m.data
            let crc = Int(ZipTestArchive.crc(m.data))
            let offset = out.count
            let name = Array(m.name.utf8)
            let flags = (dataDescriptors ? 8 : 0) | 0x800
            var extra: [UInt8] = []
            if zip64 { u16(1, &extra); u16(24, &extra); u64(m.data.count, &extra); u64(payload.count, &extra); u64(offset, &extra) }
            // Local header.
            u32(0x04034B50, &out); u16(zip64 ? 45 : 20, &out); u16(flags, &out); u16(m.deflate ? 8 : 0, &out)
            u16(0, &out); u16(0, &out)
            if dataDescriptors { u32(0, &out); u32(0, &out); u32(0, &out) }
            else { u32(crc, &out); u32(zip64 ? 0xFFFF_FFFF : payload.count, &out); u32(zip64 ? 0xFFFF_FFFF : m.data.count, &out) }
            u16(name.count, &out); u16(zip64 ? 20 : 0, &out); out += name
            if zip64 { u16(1, &out); u16(16, &out); u64(m.data.count, &out); u64(payload.count, &out) }
            out += payload
            if dataDescriptors { u32(0x08074B50, &out); u32(crc, &out); u32(payload.count, &out); u32(m.data.count, &out) }
            // Central directory entry.
            u32(0x02014B50, &central); u16(45, &central); u16(zip64 ? 45 : 20, &central); u16(flags, &central)
            u16(m.deflate ? 8 : 0, &central); u16(0, &central); u16(0, &central); u32(crc, &central)
            u32(zip64 ? 0xFFFF_FFFF : payload.count, &central); u32(zip64 ? 0xFFFF_FFFF : m.data.count, &central)
            u16(name.count, &central); u16(extra.count, &central); u16(0, &central); u16(0, &central); u16(0, &central)
            u32(0, &central); u32(zip64 ? 0xFFFF_FFFF : offset, &central)
            central += name + extra
        }
        let cdOffset = out.count
        out += central
        if zip64 {
            let z64 = out.count
            u32(0x06064B50, &out); u64(44, &out); u16(45, &out); u16(45, &out); u32(0, &out); u32(0, &out)
            u64(members.count, &out); u64(members.count, &out); u64(central.count, &out); u64(cdOffset, &out)
            u32(0x07064B50, &out); u32(0, &out); u64(z64, &out); u32(1, &out)
            u32(0x06054B50, &out); u16(0, &out); u16(0, &out); u16(0xFFFF, &out); u16(0xFFFF, &out)
            u32(0xFFFF_FFFF, &out); u32(0xFFFF_FFFF, &out); u16(0, &out)
        } else {
            u32(0x06054B50, &out); u16(0, &out); u16(0, &out); u16(members.count, &out); u16(members.count, &out)
            u32(central.count, &out); u32(cdOffset, &out); u16(0, &out)
        }
        return out
    }

    /// Writes to a fresh temporary file and returns its path.
    func write(ext: String = "xlsx") throws -> String {
        try ZipTestFiles.write(bytes(), ext: ext)
    }
}

enum ZipTestFiles {
    static func write(_ bytes: [UInt8], ext: String) throws -> String {
        let path = NSTemporaryDirectory() + "xlchat-test-\(UUID().uuidString).\(ext)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }
}

/// A minimal but complete workbook package; tests replace parts to exercise one feature.
struct XLSXTestWorkbook {
    var sheets: [(name: String, xml: String, state: String?, kind: String)] = []
    var sharedStrings: String? = nil
    var styles: String? = nil
    var workbookExtra = ""
    var workbookPr = ""
    var strict = false
    var extraParts: [(String, String)] = []
    var sheetRels: [Int: String] = [:]
    var nameTransform: (String) -> String = { $0 }
    var macroEnabled = false

    static func sheetXML(_ rows: String, before: String = "", after: String = "", ns: String? = nil) -> String {
        let main = ns ?? "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
        return #"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"# + "\n"
            + #"<worksheet xmlns="\#(main)" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">"#
            + before + "<sheetData>" + rows + "</sheetData>" + after + "</worksheet>"
    }

    func zip() -> ZipTestArchive {
        let main = strict ? "http://purl.oclc.org/ooxml/spreadsheetml/main" : "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
        let relNS = strict ? "http://purl.oclc.org/ooxml/officeDocument/relationships" : "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
        var z = ZipTestArchive()
        let mainType = macroEnabled ? "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
            : "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
        z.add(nameTransform("[Content_Types].xml"), #"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="\#(mainType)"/></Types>"#)
        z.add(nameTransform("_rels/.rels"), #"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="\#(relNS)/officeDocument" Target="xl/workbook.xml"/></Relationships>"#)
        var sheetList = "", rels = ""
        for (i, s) in sheets.enumerated() {
            let state = s.state.map { " state=\"\($0)\"" } ?? ""
            sheetList += #"<sheet name="\#(s.name)" sheetId="\#(i + 1)"\#(state) r:id="rId\#(i + 1)"/>"#
            let folder = s.kind == "chartsheet" ? "chartsheets" : "worksheets"
            rels += #"<Relationship Id="rId\#(i + 1)" Type="\#(relNS)/\#(s.kind)" Target="\#(folder)/sheet\#(i + 1).xml"/>"#
            z.add(nameTransform("xl/\(folder)/sheet\(i + 1).xml"), s.xml)
            if let r = sheetRels[i] {
                z.add(nameTransform("xl/\(folder)/_rels/sheet\(i + 1).xml.rels"),
                      #"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">\#(r)</Relationships>"#)
            }
        }
        if sharedStrings != nil { rels += #"<Relationship Id="rIdS" Type="\#(relNS)/sharedStrings" Target="sharedStrings.xml"/>"# }
        if styles != nil { rels += #"<Relationship Id="rIdT" Type="\#(relNS)/styles" Target="/xl/styles.xml"/>"# }
        z.add(nameTransform("xl/workbook.xml"), #"<?xml version="1.0"?><workbook xmlns="\#(main)" xmlns:r="\#(relNS)">\#(workbookPr)<sheets>\#(sheetList)</sheets>\#(workbookExtra)</workbook>"#)
        z.add(nameTransform("xl/_rels/workbook.xml.rels"), #"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">\#(rels)</Relationships>"#)
        if let sst = sharedStrings { z.add(nameTransform("xl/sharedStrings.xml"), #"<sst xmlns="\#(main)">\#(sst)</sst>"#) }
        if let st = styles { z.add(nameTransform("xl/styles.xml"), #"<styleSheet xmlns="\#(main)">\#(st)</styleSheet>"#) }
        for (n, t) in extraParts { z.add(nameTransform(n), t) }
        return z
    }

    func write(ext: String = "xlsx") throws -> String { try zip().write(ext: ext) }
}

/// All rows of a sheet, as (A1 -> value).
func xlsxReadCells(_ reader: XLSXReader, sheet: Int) throws -> (cells: [String: CellValue], formulas: [String: String], summary: SheetSummary) {
    var cells: [String: CellValue] = [:], formulas: [String: String] = [:]
    let summary = try reader.readSheet(at: sheet) { row in
        for c in row.cells {
            let ref = CellRef(row: row.index, column: c.column).description
            cells[ref] = c.value
            if let f = c.formula { formulas[ref] = f }
        }
        return true
    }
    return (cells, formulas, summary)
}

func xlsxErrorKind(_ body: () throws -> Void) -> WorkbookError.Kind? {
    do { try body(); return nil } catch let e as WorkbookError { return e.kind } catch { return nil }
}
