import NIOCore

/// Encodes rows in ClickHouse's RowBinary format: little-endian numbers, strings as LEB128 length + bytes.
///
/// The cheapest format for the server to parse and for us to produce: no escaping, no number formatting.
struct RowBinaryWriter {
    var buffer: ByteBuffer

    init(capacity: Int) {
        buffer = ByteBufferAllocator().buffer(capacity: capacity)
    }

    mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { bytes in
            varUInt(UInt64(bytes.count))
            buffer.writeBytes(bytes)
        }
    }

    mutating func bytes(_ value: [UInt8]) {
        varUInt(UInt64(value.count))
        buffer.writeBytes(value)
    }

    mutating func int8(_ value: Int8) { buffer.writeInteger(value, endianness: .little) }
    mutating func int32(_ value: Int32) { buffer.writeInteger(value, endianness: .little) }
    mutating func int64(_ value: Int64) { buffer.writeInteger(value, endianness: .little) }
    mutating func uint32(_ value: UInt32) { buffer.writeInteger(value, endianness: .little) }
    mutating func uint64(_ value: UInt64) { buffer.writeInteger(value, endianness: .little) }
    mutating func float64(_ value: Double) { buffer.writeInteger(value.bitPattern, endianness: .little) }

    /// `DateTime` (UInt32 seconds) or `DateTime64(3)` (Int64 milliseconds).
    mutating func dateTime(millis: Int64, millisecondPrecision: Bool) {
        if millisecondPrecision {
            int64(millis)
        } else {
            uint32(UInt32(clamping: millis / 1000))
        }
    }

    mutating func varUInt(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            buffer.writeInteger(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        buffer.writeInteger(UInt8(v))
    }
}
