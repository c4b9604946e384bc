import NIOCore

/// One argument of a command; every argument travels as a RESP bulk string.
public enum RedisArgument: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    case string(String)
    case bytes([UInt8])
    case buffer(ByteBuffer)
    case integer(Int64)

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(_ value: Int) { self = .integer(Int64(value)) }
}

/// A command and its arguments, e.g. `RedisCommand("SET", "key", "value", "EX", 60)`.
public struct RedisCommand: Sendable, Hashable {
    public var arguments: [RedisArgument]

    public init(_ name: String, _ arguments: [RedisArgument]) {
        self.arguments = [.string(name)] + arguments
    }

    public init(_ name: String, _ arguments: RedisArgument...) {
        self.init(name, arguments)
    }

    /// The command's name, safe for logs and errors (arguments may hold secrets or user data).
    public var name: String {
        if case .string(let s)? = arguments.first { return s.uppercased() }
        return "?"
    }

    /// A rough size, to allocate a pipeline's buffer once.
    var estimatedSize: Int {
        arguments.reduce(16) { total, argument in
            switch argument {
            case .string(let s): total + s.utf8.count + 16
            case .bytes(let b): total + b.count + 16
            case .buffer(let b): total + b.readableBytes + 16
            case .integer: total + 36
            }
        }
    }
}

/// Writes commands as RESP arrays of bulk strings, the only form servers accept from clients.
public enum RESPEncoder {
    public static func encode(_ command: RedisCommand, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "*"))
        writeDecimal(Int64(command.arguments.count), into: &buffer)
        buffer.writeStaticString("\r\n")
        for argument in command.arguments {
            switch argument {
            case .string(let s):
                bulkHeader(s.utf8.count, into: &buffer)
                buffer.writeString(s)
            case .bytes(let b):
                bulkHeader(b.count, into: &buffer)
                buffer.writeBytes(b)
            case .buffer(let b):
                bulkHeader(b.readableBytes, into: &buffer)
                buffer.writeImmutableBuffer(b)
            case .integer(let i):
                var digits = ByteBuffer()
                writeDecimal(i, into: &digits)
                bulkHeader(digits.readableBytes, into: &buffer)
                buffer.writeImmutableBuffer(digits)
            }
            buffer.writeStaticString("\r\n")
        }
    }

    public static func encode(_ commands: [RedisCommand], allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: commands.reduce(0) { $0 + $1.estimatedSize })
        for command in commands { encode(command, into: &buffer) }
        return buffer
    }

    @inline(__always)
    private static func bulkHeader(_ length: Int, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "$"))
        writeDecimal(Int64(length), into: &buffer)
        buffer.writeStaticString("\r\n")
    }

    /// ASCII decimal without going through `String` (hot path: one per argument).
    static func writeDecimal(_ value: Int64, into buffer: inout ByteBuffer) {
        if value == 0 {
            buffer.writeInteger(UInt8(ascii: "0"))
            return
        }
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for 20 digits
        var count = 0
        withUnsafeMutableBytes(of: &digits) { raw in
            while magnitude > 0 {
                raw[23 - count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            }
            if value < 0 { buffer.writeInteger(UInt8(ascii: "-")) }
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[(24 - count)...]))
        }
    }
}
