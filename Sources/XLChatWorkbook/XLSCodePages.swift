import Foundation

// Code pages of 8-bit strings in legacy xls files (BIFF2-5, where the CODEPAGE record says
// how bytes map to characters; BIFF8 stores Unicode). cp1252, by far the most common, is a
// table here; the other single-byte Windows pages and Mac Roman go through Foundation's
// String.Encoding, which decodes them on Linux (checked: 1250, 1251, 1253, 1254, Mac Roman).

enum XLSCodePages {
    /// cp1252's 0x80-0x9F block (0 where the code page leaves the byte undefined: kept as C1).
    static let cp1252High: [UInt16] = [
        0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
        0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
    ]

    /// Latin-1 (ISO 8859-1): every byte is the code point of the same value. This is also how
    /// BIFF8 stores "compressed" Unicode strings (the high bytes, all zero, left out).
    static func latin1<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        if bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
        return String(decoding: bytes.map { UInt16($0) }, as: UTF16.self)
    }

    static func cp1252<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        if bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
        return String(decoding: bytes.map { b -> UInt16 in
            if b >= 0x80 && b < 0xA0, case let u = cp1252High[Int(b) - 0x80], u != 0 { return u }
            return UInt16(b)
        }, as: UTF16.self)
    }

    /// Decodes 8-bit text in Windows code page `codepage` (the CODEPAGE record's value).
    static func decode<C: Collection>(_ bytes: C, codepage: Int) -> String where C.Element == UInt8 {
        if bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
        let encoding: String.Encoding?
        switch codepage {
        case 1252, 0x8001, 0: return cp1252(bytes)  // 0x8001: "Windows 3.x ANSI", i.e. 1252
        case 28591: return latin1(bytes)
        case 1200: encoding = .utf16LittleEndian
        case 65001: encoding = .utf8
        case 1250: encoding = .windowsCP1250
        case 1251: encoding = .windowsCP1251
        case 1253: encoding = .windowsCP1253
        case 1254: encoding = .windowsCP1254
        case 10000, 0x8000: encoding = .macOSRoman  // 0x8000 (32768): Apple Roman
        case 932: encoding = .shiftJIS
        case 20932: encoding = .japaneseEUC
        default: encoding = nil
        }
        if let encoding, let s = String(bytes: Array(bytes), encoding: encoding) { return s }
        return cp1252(bytes)  // unknown page: the most likely one
    }
}
