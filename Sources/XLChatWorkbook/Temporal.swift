// Excel serial numbers <-> ISO 8601 text, as the wire contract writes them:
// date `2024-03-01`, date-time `2024-03-01T12:30:00`, time `10:10:10`, duration `PT36610.1S`.

public enum ExcelDate {
    /// Days from 1899-12-30 (serial 0 in the 1900 system as Excel counts, past its 1900 leap bug)
    /// to 1970-01-01.
    public static let unixEpochSerial = 25569.0
    /// Serial offset between the 1904 and the 1900 date systems.
    public static let offset1904 = 1462.0

    /// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    public static func civil(fromDays z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    /// Days since 1970-01-01 of a civil date.
    public static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = month > 2 ? month - 3 : month + 9
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Serial (1900 system) of a civil date-time.
    public static func serial(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Double = 0) -> Double {
        Double(days(year: year, month: month, day: day)) + unixEpochSerial
            + (Double(hour) * 3600 + Double(minute) * 60 + second) / 86400
    }

    /// Splits a serial into whole days since 1970 and milliseconds of the day, rounded to the
    /// millisecond as Excel displays them.
    static func split(_ serial: Double) -> (days: Int, millis: Int) {
        let totalMillis = (serial * 86_400_000).rounded()
        var days = Int((totalMillis / 86_400_000).rounded(.down))
        var millis = Int(totalMillis - Double(days) * 86_400_000)
        if millis >= 86_400_000 { days += 1; millis -= 86_400_000 }
        return (days - Int(unixEpochSerial), millis)
    }

    private static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    private static func clock(_ millis: Int) -> String {
        let h = millis / 3_600_000, m = (millis / 60_000) % 60, s = (millis / 1000) % 60, ms = millis % 1000
        var out = pad(h, 2) + ":" + pad(m, 2) + ":" + pad(s, 2)
        if ms != 0 {
            var frac = pad(ms, 3)
            while frac.hasSuffix("0") { frac.removeLast() }
            out += "." + frac
        }
        return out
    }

    /// ISO 8601 text for a temporal value.
    public static func iso(_ kind: TemporalKind, serial: Double) -> String {
        switch kind {
        case .duration:
            return "PT" + formatSeconds(serial * 86400) + "S"
        case .time:
            let (_, millis) = split(serial)
            return clock(millis)
        case .date, .dateTime:
            // Excel's 1900 system counts a 29 February 1900 that never was: serials 1-59 are
            // one day later than days-since-1899-12-30 gives (serial 1 is 1900-01-01).
            let (days, millis) = split(serial >= 1 && serial < 60 ? serial + 1 : serial)
            let (y, m, d) = civil(fromDays: days)
            let date = (y < 0 ? "-" + pad(-y, 4) : pad(y, 4)) + "-" + pad(m, 2) + "-" + pad(d, 2)
            return kind == .date && millis == 0 ? date : date + "T" + clock(millis)
        }
    }

    /// Seconds without a trailing `.0`, to the millisecond: 36610.1 -> "36610.1", 3600 -> "3600".
    static func formatSeconds(_ seconds: Double) -> String {
        let ms = (seconds * 1000).rounded()
        if ms.truncatingRemainder(dividingBy: 1000) == 0 { return String(Int64(ms / 1000)) }
        var s = String(format3(ms / 1000))
        while s.hasSuffix("0") { s.removeLast() }
        return s
    }

    private static func format3(_ v: Double) -> String {
        let neg = v < 0
        let scaled = Int64((abs(v) * 1000).rounded())
        return (neg ? "-" : "") + String(scaled / 1000) + "." + pad(Int(scaled % 1000), 3)
    }
}

extension CellValue {
    /// The value as the wire and the index write it: temporal values as ISO text.
    public var isoText: String? {
        if case let .temporal(kind, serial) = self { return ExcelDate.iso(kind, serial: serial) }
        return nil
    }
}
