/// SipHash-2-4 with a zero key: the value of ClickHouse's `sipHash64(s)` for a string, so keys the sink computes
/// match keys the server computed (migrations fill tables from `events` with `sipHash64(session_id)`).
enum SipHash64 {
    static func hash(_ text: String) -> UInt64 {
        var text = text
        return text.withUTF8 { hash($0) }
    }

    static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var v0: UInt64 = 0x736f_6d65_7073_6575
        var v1: UInt64 = 0x646f_7261_6e64_6f6d
        var v2: UInt64 = 0x6c79_6765_6e65_7261
        var v3: UInt64 = 0x7465_6462_7974_6573

        @inline(__always) func round() {
            v0 &+= v1; v1 = rotate(v1, 13); v1 ^= v0; v0 = rotate(v0, 32)
            v2 &+= v3; v3 = rotate(v3, 16); v3 ^= v2
            v0 &+= v3; v3 = rotate(v3, 21); v3 ^= v0
            v2 &+= v1; v1 = rotate(v1, 17); v1 ^= v2; v2 = rotate(v2, 32)
        }
        @inline(__always) func compress(_ word: UInt64) {
            v3 ^= word
            round(); round()
            v0 ^= word
        }

        let count = bytes.count
        var index = 0
        while index + 8 <= count {
            var word: UInt64 = 0
            for shift in 0..<8 { word |= UInt64(bytes[index + shift]) << (8 * shift) }
            compress(word)
            index += 8
        }
        var last = UInt64(truncatingIfNeeded: count) << 56
        for shift in 0..<(count - index) { last |= UInt64(bytes[index + shift]) << (8 * shift) }
        compress(last)

        v2 ^= 0xff
        round(); round(); round(); round()
        return v0 ^ v1 ^ v2 ^ v3
    }

    @inline(__always) private static func rotate(_ value: UInt64, _ bits: UInt64) -> UInt64 {
        (value << bits) | (value >> (64 - bits))
    }
}
