import Foundation

/// SplitMix64: tiny, fast, and the same sequence on every platform, so `--seed` output is reproducible.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }

    public mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }

    /// A UUID-shaped identifier (version 4 layout) drawn from this generator.
    public mutating func uuid() -> String {
        let a = next(), b = next()
        let hex = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(36)
        var bits = [a, (b & ~0xF000_0000_0000_0000) | 0x8000_0000_0000_0000]
        bits[0] = (bits[0] & ~0x0000_0000_0000_F000) | 0x0000_0000_0000_4000
        for (i, word) in bits.enumerated() {
            for nibble in 0..<16 {
                let pos = i * 16 + nibble
                if pos == 8 || pos == 12 || pos == 16 || pos == 20 { out.append(UInt8(ascii: "-")) }
                out.append(hex[Int((word >> UInt64(60 - nibble * 4)) & 15)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Samples ranks 0..<n with probability proportional to 1/(rank+1)^s: a few products get most views.
public struct ZipfSampler: Sendable {
    private let cumulative: [Double]

    public init(count: Int, exponent: Double = 1.07) {
        var total = 0.0
        var c = [Double]()
        c.reserveCapacity(count)
        for rank in 0..<count {
            total += 1 / pow(Double(rank + 1), exponent)
            c.append(total)
        }
        cumulative = c.map { $0 / total }
    }

    public func sample(_ random: inout SeededRandom) -> Int {
        let u = random.unit()
        var lo = 0, hi = cumulative.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cumulative[mid] < u { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}

