import NIOCore

/// Reads RESP2 and RESP3 values from a byte stream that may arrive in arbitrary pieces.
///
/// `parse` either consumes one whole value or leaves the buffer untouched, so a frame cut by the network
/// is simply parsed again once more bytes arrived.
public struct RESPParser: Sendable {
    /// Deepest nesting of aggregates accepted; guards the stack against hostile input.
    public var maxDepth = 32
    /// Largest bulk string accepted (the server's own `proto-max-bulk-len` default).
    public var maxBulkLength = 512 * 1024 * 1024
    /// Most elements in one aggregate.
    public var maxElements = 64 * 1024 * 1024

    public init() {}

    /// One value from the front of `buffer`, or nil (buffer unchanged) when the value is not complete yet.
    public func parse(_ buffer: inout ByteBuffer) throws -> RESPValue? {
        let start = buffer.readerIndex
        do {
            if let value = try parseValue(&buffer, depth: 0) { return value }
        } catch {
            buffer.moveReaderIndex(to: start)
            throw error
        }
        buffer.moveReaderIndex(to: start)
        return nil
    }

    private func parseValue(_ buffer: inout ByteBuffer, depth: Int) throws -> RESPValue? {
        guard depth <= maxDepth else { throw RedisClientError.protocolError("values nested deeper than \(maxDepth)") }
        guard let marker = buffer.readInteger(as: UInt8.self) else { return nil }
        switch marker {
        case UInt8(ascii: "+"):
            return try line(&buffer).map { .simpleString(String(buffer: $0)) }
        case UInt8(ascii: "-"):
            return try line(&buffer).map { .error(RedisError(message: String(buffer: $0))) }
        case UInt8(ascii: ":"):
            guard let l = try line(&buffer) else { return nil }
            return .integer(try integer(l))
        case UInt8(ascii: "$"):
            guard let bytes = try blob(&buffer) else { return nil }
            return bytes.map { .bulkString($0) } ?? .null
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"):
            guard let count = try length(&buffer) else { return nil }
            guard count >= 0 else { return .null }
            guard let elements = try elements(count, &buffer, depth: depth) else { return nil }
            switch marker {
            case UInt8(ascii: "*"): return .array(elements)
            case UInt8(ascii: "~"): return .set(elements)
            default: return .push(elements)
            }
        case UInt8(ascii: "%"):
            guard let count = try length(&buffer) else { return nil }
            guard count >= 0 else { return .null }
            guard count <= maxElements / 2 else { throw RedisClientError.protocolError("map of \(count) entries") }
            guard let flat = try elements(count * 2, &buffer, depth: depth) else { return nil }
            var map: [RESPValue: RESPValue] = [:]
            map.reserveCapacity(count)
            for i in stride(from: 0, to: flat.count, by: 2) { map[flat[i]] = flat[i + 1] }
            return .map(map)
        case UInt8(ascii: "|"):
            // Attributes describe the next value; no command we send asks for them: skip.
            guard let count = try length(&buffer) else { return nil }
            guard try elements(max(count, 0) * 2, &buffer, depth: depth) != nil else { return nil }
            return try parseValue(&buffer, depth: depth)
        case UInt8(ascii: "_"):
            guard let l = try line(&buffer) else { return nil }
            guard l.readableBytes == 0 else { throw RedisClientError.protocolError("null with a payload") }
            return .null
        case UInt8(ascii: ","):
            guard let l = try line(&buffer) else { return nil }
            let text = String(buffer: l)
            switch text.lowercased() {
            case "inf", "+inf": return .double(.infinity)
            case "-inf": return .double(-.infinity)
            case "nan": return .double(.nan)
            default:
                guard let d = Double(text) else { throw RedisClientError.protocolError("bad double '\(text.prefix(32))'") }
                return .double(d)
            }
        case UInt8(ascii: "#"):
            guard let l = try line(&buffer) else { return nil }
            switch String(buffer: l) {
            case "t": return .boolean(true)
            case "f": return .boolean(false)
            default: throw RedisClientError.protocolError("bad boolean")
            }
        case UInt8(ascii: "("):
            guard let l = try line(&buffer) else { return nil }
            let text = String(buffer: l)
            guard !text.isEmpty, text.drop(while: { $0 == "-" || $0 == "+" }).allSatisfy(\.isNumber) else {
                throw RedisClientError.protocolError("bad big number")
            }
            return .bigNumber(text)
        case UInt8(ascii: "!"):
            guard let bytes = try blob(&buffer) else { return nil }
            return .error(RedisError(message: bytes.map { String(buffer: $0) } ?? ""))
        case UInt8(ascii: "="):
            guard let bytes = try blob(&buffer) else { return nil }
            guard let b = bytes else { return .null }
            let text = String(buffer: b)
            // "txt:..." : a three-letter format, a colon, then the text.
            guard text.utf8.count >= 4, text.utf8.dropFirst(3).first == UInt8(ascii: ":") else {
                throw RedisClientError.protocolError("bad verbatim string")
            }
            return .verbatimString(format: String(text.prefix(3)), text: String(text.dropFirst(4)))
        default:
            throw RedisClientError.protocolError("unknown type marker 0x\(String(marker, radix: 16))")
        }
    }

    private func elements(_ count: Int, _ buffer: inout ByteBuffer, depth: Int) throws -> [RESPValue]? {
        guard count <= maxElements else { throw RedisClientError.protocolError("aggregate of \(count) elements") }
        // Each element takes at least three bytes: do not reserve more than the bytes could hold.
        var values: [RESPValue] = []
        values.reserveCapacity(min(count, buffer.readableBytes / 3 + 1))
        for _ in 0..<count {
            guard let value = try parseValue(&buffer, depth: depth + 1) else { return nil }
            values.append(value)
        }
        return values
    }

    /// A length-prefixed string: nil when incomplete, `.some(nil)` for the RESP2 null (`$-1`).
    private func blob(_ buffer: inout ByteBuffer) throws -> ByteBuffer?? {
        guard let count = try length(&buffer) else { return nil }
        if count < 0 { return .some(nil) }
        guard count <= maxBulkLength else { throw RedisClientError.protocolError("bulk string of \(count) bytes") }
        guard buffer.readableBytes >= count + 2 else { return nil }
        let slice = buffer.readSlice(length: count)!
        guard buffer.readInteger(as: UInt8.self) == UInt8(ascii: "\r"),
              buffer.readInteger(as: UInt8.self) == UInt8(ascii: "\n")
        else { throw RedisClientError.protocolError("bulk string not followed by CRLF") }
        return .some(slice)
    }

    private func length(_ buffer: inout ByteBuffer) throws -> Int? {
        guard let l = try line(&buffer) else { return nil }
        let n = try integer(l)
        guard n >= -1, n <= Int64(Int32.max) else { throw RedisClientError.protocolError("bad length \(n)") }
        return Int(n)
    }

    /// The bytes up to the next CRLF (consumed), or nil when no CRLF arrived yet.
    private func line(_ buffer: inout ByteBuffer) throws -> ByteBuffer? {
        let view = buffer.readableBytesView
        guard let cr = view.firstIndex(of: UInt8(ascii: "\r")) else {
            if view.count > 64 * 1024 { throw RedisClientError.protocolError("line longer than 64 KiB") }
            return nil
        }
        let offset = cr - view.startIndex
        guard view.count > offset + 1 else { return nil }
        guard view[cr + 1] == UInt8(ascii: "\n") else { throw RedisClientError.protocolError("CR without LF") }
        let content = buffer.readSlice(length: offset)!
        buffer.moveReaderIndex(forwardBy: 2)
        return content
    }

    private func integer(_ bytes: ByteBuffer) throws -> Int64 {
        let view = bytes.readableBytesView
        var index = view.startIndex
        var negative = false
        if index < view.endIndex, view[index] == UInt8(ascii: "-") || view[index] == UInt8(ascii: "+") {
            negative = view[index] == UInt8(ascii: "-")
            index += 1
        }
        guard index < view.endIndex else { throw RedisClientError.protocolError("empty integer") }
        var value: Int64 = 0
        while index < view.endIndex {
            let digit = view[index] &- UInt8(ascii: "0")
            guard digit < 10 else { throw RedisClientError.protocolError("bad integer '\(String(buffer: bytes).prefix(32))'") }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = negative ? times10.subtractingReportingOverflow(Int64(digit))
                                     : times10.addingReportingOverflow(Int64(digit))
            guard !o1, !o2 else { throw RedisClientError.protocolError("integer overflow") }
            value = sum
            index += 1
        }
        return value
    }
}

/// Turns the inbound byte stream into `RESPValue`s for the command handler.
struct RESPFrameDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = RESPValue
    let parser = RESPParser()

    mutating func decode(buffer: inout ByteBuffer) throws -> RESPValue? {
        try parser.parse(&buffer)
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RESPValue? {
        try parser.parse(&buffer)
    }
}
