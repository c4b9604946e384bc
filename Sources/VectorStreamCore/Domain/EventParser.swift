/// Limits that validation enforces; defaults suit product events of a normal shop.
public struct ValidationLimits: Sendable, Hashable, Codable {
    /// Largest accepted record, in bytes.
    public var maxRecordBytes: Int = 64 * 1024
    /// Largest accepted text field (name, description, ids), in UTF-8 bytes.
    public var maxTextBytes: Int = 8 * 1024
    /// Highest accepted price. Default 1e9: far above any shop's, far below where revenue sums overflow.
    public var maxPrice: Double = 1e9

    /// Earliest accepted timestamp: 1970-01-01T00:00:00Z. Every store represents the range
    /// [`earliestTimestamp`, `latestTimestamp`] exactly (ClickHouse's `DateTime` is unsigned seconds since 1970
    /// and ends in February 2106); outside it a store would clamp the time silently.
    public static let earliestTimestamp: EpochMillis = 0
    /// Latest accepted timestamp: 2105-12-31T23:59:59.999Z.
    public static let latestTimestamp: EpochMillis = 4_291_747_199_999
    /// Deepest accepted nesting of JSON arrays and objects; deeper input is refused before it can exhaust a stack.
    public static let maxNestingDepth = 64

    public init(maxRecordBytes: Int = 64 * 1024, maxTextBytes: Int = 8 * 1024, maxPrice: Double = 1e9) {
        self.maxRecordBytes = maxRecordBytes
        self.maxTextBytes = maxTextBytes
        self.maxPrice = maxPrice
    }
}

/// Parses and validates one raw event in a single pass over its bytes, without Foundation.
///
/// Unknown fields are skipped (and kept in the raw record); every way an event can be wrong has its own reason.
public struct EventParser: Sendable {
    public var limits: ValidationLimits

    public init(limits: ValidationLimits = ValidationLimits()) {
        self.limits = limits
    }

    public func parse(_ bytes: [UInt8]) -> Result<Event, ValidationError> {
        if bytes.count > limits.maxRecordBytes {
            return .failure(.recordTooLarge(bytes: bytes.count, limit: limits.maxRecordBytes))
        }
        return bytes.withUnsafeBufferPointer { buffer in
            var scanner = JSONScanner(buffer)
            do {
                return .success(try parseEvent(&scanner))
            } catch let error as ValidationError {
                return .failure(error)
            } catch {
                return .failure(.notJSON(String(describing: error)))
            }
        }
    }

    private func parseEvent(_ s: inout JSONScanner) throws -> Event {
        s.skipWhitespace()
        guard let first = s.peek() else { throw ValidationError.notJSON("empty input") }
        guard first == UInt8(ascii: "{") else {
            // Still tell "not JSON" from "JSON, but not an object".
            try s.skipValue()
            s.skipWhitespace()
            if !s.atEnd { throw ValidationError.notJSON(s.errorText("trailing characters")) }
            throw ValidationError.notAnObject
        }
        var eventID: String?, userID: String?, sessionID: String?, typeText: String?
        var timestamp: EpochMillis?
        var timestampText: String?
        var product: Product?
        try s.parseObject { key, s in
            switch key {
            case "event_id": eventID = try text(&s, "event_id")
            case "user_id": userID = try text(&s, "user_id")
            case "session_id": sessionID = try text(&s, "session_id")
            case "event_type": typeText = try text(&s, "event_type")
            case "timestamp":
                guard s.peek() == UInt8(ascii: "\"") else {
                    try s.skipValue()
                    throw ValidationError.wrongType(field: "timestamp", expected: "an ISO-8601 string")
                }
                let range = try s.rawStringRange()
                timestamp = ISO8601.parse(UnsafeBufferPointer(rebasing: s.buffer[range]))
                if timestamp == nil { timestampText = String(decoding: s.buffer[range].prefix(64), as: UTF8.self) }
                if let t = timestamp, t < ValidationLimits.earliestTimestamp || t > ValidationLimits.latestTimestamp {
                    throw ValidationError.timestampOutOfRange(String(decoding: s.buffer[range].prefix(64), as: UTF8.self))
                }
            case "product": product = try parseProduct(&s)
            default: try s.skipValue()
            }
        }
        s.skipWhitespace()
        if !s.atEnd { throw ValidationError.notJSON(s.errorText("trailing characters after the object")) }

        guard let eventID else { throw ValidationError.missingField("event_id") }
        guard let timestamp else {
            if let timestampText { throw ValidationError.badTimestamp(timestampText) }
            throw ValidationError.missingField("timestamp")
        }
        guard let userID else { throw ValidationError.missingField("user_id") }
        guard let typeText else { throw ValidationError.missingField("event_type") }
        guard let type = EventType(rawValue: typeText) else { throw ValidationError.unknownEventType(String(typeText.prefix(64))) }
        guard let product else { throw ValidationError.missingField("product") }
        guard let sessionID else { throw ValidationError.missingField("session_id") }
        return Event(eventID: eventID, timestamp: timestamp, userID: userID, type: type, product: product,
                     sessionID: sessionID)
    }

    private func parseProduct(_ s: inout JSONScanner) throws -> Product {
        guard s.peek() == UInt8(ascii: "{") else {
            try s.skipValue()
            throw ValidationError.wrongType(field: "product", expected: "an object")
        }
        var id: String?, name: String?, description: String?, category: String?
        var price: Double?
        try s.parseObject { key, s in
            switch key {
            case "id": id = try text(&s, "product.id")
            case "name": name = try text(&s, "product.name")
            case "description": description = try text(&s, "product.description", allowEmpty: true)
            case "category": category = try text(&s, "product.category")
            case "price":
                guard let value = try s.number() else {
                    try s.skipValue()
                    throw ValidationError.wrongType(field: "product.price", expected: "a number")
                }
                guard value.isFinite, value >= 0 else { throw ValidationError.invalidPrice(String(value)) }
                guard value <= limits.maxPrice else {
                    throw ValidationError.priceTooHigh(String(value), limit: limits.maxPrice)
                }
                price = value
            default: try s.skipValue()
            }
        }
        guard let id else { throw ValidationError.missingField("product.id") }
        guard let name else { throw ValidationError.missingField("product.name") }
        guard let description else { throw ValidationError.missingField("product.description") }
        guard let category else { throw ValidationError.missingField("product.category") }
        guard let price else { throw ValidationError.missingField("product.price") }
        return Product(id: id, name: name, description: description, category: category, price: price)
    }

    private func text(_ s: inout JSONScanner, _ field: String, allowEmpty: Bool = false) throws -> String {
        guard s.peek() == UInt8(ascii: "\"") else {
            try s.skipValue()
            throw ValidationError.wrongType(field: field, expected: "a string")
        }
        let value = try s.string()
        if value.utf8.count > limits.maxTextBytes {
            throw ValidationError.textTooLong(field: field, bytes: value.utf8.count, limit: limits.maxTextBytes)
        }
        if !allowEmpty && value.isEmpty { throw ValidationError.emptyField(field) }
        return value
    }
}

/// A strict RFC 8259 scanner over bytes: it validates what it skips, so "not JSON" is never missed.
struct JSONScanner {
    struct SyntaxError: Error, CustomStringConvertible {
        var description: String
    }

    let buffer: UnsafeBufferPointer<UInt8>
    var index = 0
    /// Arrays and objects open around the scanner now.
    var depth = 0

    init(_ buffer: UnsafeBufferPointer<UInt8>) { self.buffer = buffer }

    var atEnd: Bool { index >= buffer.count }

    @inline(__always) func peek() -> UInt8? { index < buffer.count ? buffer[index] : nil }

    func errorText(_ what: String) -> String {
        if index >= buffer.count { return "\(what) at end of input" }
        let c = buffer[index]
        let shown = c >= 0x20 && c < 0x7f ? "'\(Character(Unicode.Scalar(c)))'" : "byte 0x\(String(c, radix: 16))"
        return "\(what): \(shown) at offset \(index)"
    }

    func fail(_ what: String) -> ValidationError { .notJSON(errorText(what)) }

    @inline(__always) mutating func skipWhitespace() {
        while index < buffer.count {
            let c = buffer[index]
            guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
            index += 1
        }
    }

    @inline(__always) mutating func expect(_ c: UInt8, _ what: String) throws {
        skipWhitespace()
        guard index < buffer.count, buffer[index] == c else { throw fail("expected \(what)") }
        index += 1
    }

    /// Calls `body` for each key with the scanner at the value; `body` must consume the value.
    mutating func parseObject(_ body: (String, inout JSONScanner) throws -> Void) throws {
        try expect(UInt8(ascii: "{"), "'{'")
        try enter()
        defer { depth -= 1 }
        skipWhitespace()
        if peek() == UInt8(ascii: "}") { index += 1; return }
        while true {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else { throw fail("expected a key") }
            let key = try string()
            try expect(UInt8(ascii: ":"), "':'")
            skipWhitespace()
            try body(key, &self)
            skipWhitespace()
            guard let c = peek() else { throw fail("unterminated object") }
            index += 1
            if c == UInt8(ascii: "}") { return }
            guard c == UInt8(ascii: ",") else { index -= 1; throw fail("expected ',' or '}'") }
        }
    }

    /// The bytes between the quotes of a string without escapes (used for timestamps).
    mutating func rawStringRange() throws -> Range<Int> {
        let start = index + 1
        let saved = index
        _ = try string()
        let end = index - 1
        // Escapes in a timestamp are not meaningful; fall back to the decoded length check.
        if buffer[start..<end].contains(UInt8(ascii: "\\")) { index = saved; _ = try string(); return start..<start }
        return start..<end
    }

    mutating func string() throws -> String {
        guard peek() == UInt8(ascii: "\"") else { throw fail("expected a string") }
        index += 1
        let start = index
        // Fast path: no escapes.
        while index < buffer.count {
            let c = buffer[index]
            if c == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: buffer[start..<index])
                index += 1
                guard let s = String(validating: slice, as: UTF8.self) else {
                    throw ValidationError.notJSON("invalid UTF-8 in string at offset \(start)")
                }
                return s
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw fail("control character in string") }
            index += 1
        }
        var bytes = Array(buffer[start..<index])
        while index < buffer.count {
            let c = buffer[index]
            if c == UInt8(ascii: "\"") {
                index += 1
                guard let s = String(validating: bytes, as: UTF8.self) else {
                    throw ValidationError.notJSON("invalid UTF-8 in string at offset \(start)")
                }
                return s
            }
            if c < 0x20 { throw fail("control character in string") }
            if c != UInt8(ascii: "\\") { bytes.append(c); index += 1; continue }
            index += 1
            guard let e = peek() else { break }
            index += 1
            switch e {
            case UInt8(ascii: "\""): bytes.append(0x22)
            case UInt8(ascii: "\\"): bytes.append(0x5C)
            case UInt8(ascii: "/"): bytes.append(0x2F)
            case UInt8(ascii: "b"): bytes.append(0x08)
            case UInt8(ascii: "f"): bytes.append(0x0C)
            case UInt8(ascii: "n"): bytes.append(0x0A)
            case UInt8(ascii: "r"): bytes.append(0x0D)
            case UInt8(ascii: "t"): bytes.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar) {
                    guard index + 1 < buffer.count, buffer[index] == UInt8(ascii: "\\"), buffer[index + 1] == UInt8(ascii: "u")
                    else { throw fail("lone surrogate in \\u escape") }
                    index += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw fail("bad surrogate pair") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw fail("lone surrogate in \\u escape")
                }
                guard let u = Unicode.Scalar(scalar) else { throw fail("bad \\u escape") }
                bytes.append(contentsOf: UTF8.encode(u)!)
            default:
                index -= 1
                throw fail("bad escape")
            }
        }
        throw fail("unterminated string")
    }

    private mutating func hex4() throws -> UInt32 {
        guard index + 4 <= buffer.count else { throw fail("short \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = buffer[index]
            let d: UInt32
            switch c {
            case 48...57: d = UInt32(c - 48)
            case 65...70: d = UInt32(c - 55)
            case 97...102: d = UInt32(c - 87)
            default: throw fail("bad hex digit in \\u escape")
            }
            v = v << 4 | d
            index += 1
        }
        return v
    }

    /// Parses a JSON number; nil (index unchanged) when the value is not a number.
    mutating func number() throws -> Double? {
        let start = index
        guard let c = peek(), c == UInt8(ascii: "-") || (c >= 48 && c <= 57) else { return nil }
        if c == UInt8(ascii: "-") { index += 1 }
        guard let d0 = peek(), d0 >= 48, d0 <= 57 else { throw fail("bad number") }
        index += 1
        if d0 != 48 { while let d = peek(), d >= 48, d <= 57 { index += 1 } }
        if peek() == UInt8(ascii: ".") {
            index += 1
            guard let d = peek(), d >= 48, d <= 57 else { throw fail("bad number") }
            while let d = peek(), d >= 48, d <= 57 { index += 1 }
        }
        if let e = peek(), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            index += 1
            if let sign = peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { index += 1 }
            guard let d = peek(), d >= 48, d <= 57 else { throw fail("bad number") }
            while let d = peek(), d >= 48, d <= 57 { index += 1 }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<index]), as: UTF8.self)
        return Double(text) ?? .infinity
    }

    mutating func skipValue() throws {
        skipWhitespace()
        guard let c = peek() else { throw fail("expected a value") }
        switch c {
        case UInt8(ascii: "\""): _ = try string()
        case UInt8(ascii: "{"): try parseObject { _, s in try s.skipValue() }
        case UInt8(ascii: "["):
            index += 1
            try enter()
            defer { depth -= 1 }
            skipWhitespace()
            if peek() == UInt8(ascii: "]") { index += 1; return }
            while true {
                try skipValue()
                skipWhitespace()
                guard let d = peek() else { throw fail("unterminated array") }
                index += 1
                if d == UInt8(ascii: "]") { return }
                guard d == UInt8(ascii: ",") else { index -= 1; throw fail("expected ',' or ']'") }
            }
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default:
            guard try number() != nil else { throw fail("unexpected character") }
        }
    }

    /// One level deeper; refuses input nested past `ValidationLimits.maxNestingDepth` (the skip is recursive).
    private mutating func enter() throws {
        depth += 1
        if depth > ValidationLimits.maxNestingDepth {
            throw ValidationError.tooDeeplyNested(limit: ValidationLimits.maxNestingDepth)
        }
    }

    private mutating func literal(_ word: StaticString) throws {
        let n = word.utf8CodeUnitCount
        guard index + n <= buffer.count else { throw fail("unexpected end") }
        for k in 0..<n where buffer[index + k] != word.utf8Start[k] { throw fail("unexpected character") }
        index += n
    }
}
