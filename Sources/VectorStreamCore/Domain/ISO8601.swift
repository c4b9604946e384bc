/// ISO-8601 date-times, parsed and formatted by hand: Foundation's formatters are far too slow for the hot path.
public enum ISO8601 {
    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff…](Z|±HH:MM)` to UTC epoch milliseconds; nil when malformed.
    public static func parse<C: RandomAccessCollection>(_ s: C) -> EpochMillis? where C.Element == UInt8, C.Index == Int {
        let n = s.count
        guard n >= 20 else { return nil }
        let b = s.startIndex
        @inline(__always) func digit(_ i: Int) -> Int? {
            let c = s[b + i]
            return (c >= 48 && c <= 57) ? Int(c - 48) : nil
        }
        @inline(__always) func number(_ i: Int, _ len: Int) -> Int? {
            var v = 0
            for k in 0..<len {
                guard let d = digit(i + k) else { return nil }
                v = v * 10 + d
            }
            return v
        }
        guard let year = number(0, 4), s[b + 4] == 45, let month = number(5, 2), s[b + 7] == 45,
              let day = number(8, 2), s[b + 10] == 84 || s[b + 10] == 116 || s[b + 10] == 32,
              let hour = number(11, 2), s[b + 13] == 58, let minute = number(14, 2), s[b + 16] == 58,
              let second = number(17, 2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month),
              hour < 24, minute < 60, second < 61
        else { return nil }
        var i = 19
        var millis = 0
        if i < n, s[b + i] == 46 {  // '.'
            i += 1
            var digits = 0
            while i < n, let d = digit(i) {
                if digits < 3 { millis = millis * 10 + d }
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<max(digits, 3) { millis *= 10 }
        }
        guard i < n else { return nil }
        var offsetSeconds = 0
        switch s[b + i] {
        case 90, 122:  // Z z
            i += 1
        case 43, 45:  // + -
            let sign = s[b + i] == 43 ? 1 : -1
            guard i + 6 == n, let oh = number(i + 1, 2), s[b + i + 3] == 58, let om = number(i + 4, 2), oh < 24, om < 60
            else { return nil }
            offsetSeconds = sign * (oh * 3600 + om * 60)
            i += 6
        default:
            return nil
        }
        guard i == n else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + min(second, 59) - offsetSeconds
        return EpochMillis(seconds) * 1000 + EpochMillis(millis)
    }

    public static func parse(_ string: String) -> EpochMillis? {
        var copy = string
        return copy.withUTF8 { parse($0) }
    }

    /// Formats as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    public static func format(_ millis: EpochMillis) -> String {
        let totalSeconds = Int(millis.floorDiv(1000))
        let ms = Int(millis - EpochMillis(totalSeconds) * 1000)
        let days = totalSeconds.floorDiv(86_400)
        let secOfDay = totalSeconds - days * 86_400
        let (y, m, d) = civilFromDays(days)
        func pad(_ v: Int, _ w: Int) -> String {
            let s = String(v)
            return s.count >= w ? s : String(repeating: "0", count: w - s.count) + s
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(secOfDay / 3600, 2)):\(pad(secOfDay / 60 % 60, 2)):\(pad(secOfDay % 60, 2)).\(pad(ms, 3))Z"
    }

    static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Howard Hinnant's days-from-civil algorithm.
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = y.floorDiv(400)
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = z.floorDiv(146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        return (y, m, d)
    }
}

extension BinaryInteger {
    @inlinable func floorDiv(_ d: Self) -> Self {
        let q = self / d
        return (self % d != 0 && ((self < 0) != (d < 0))) ? q - 1 : q
    }
}
