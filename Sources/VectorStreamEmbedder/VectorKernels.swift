import Foundation

/// Element-wise parts of the encoder on 16-float vectors. Every row length here is a multiple of 16
/// (checked when the model loads), so the hot loops have no scalar tails.
enum VectorKernels {
    typealias Vector = SIMD16<Float>
    static let width = 16

    @inline(__always)
    static func load(_ pointer: UnsafePointer<Float>, _ offset: Int) -> Vector {
        UnsafeRawPointer(pointer + offset).loadUnaligned(as: Vector.self)
    }

    @inline(__always)
    static func load(_ pointer: UnsafeMutablePointer<Float>, _ offset: Int) -> Vector {
        UnsafeRawPointer(pointer + offset).loadUnaligned(as: Vector.self)
    }

    @inline(__always)
    static func store(_ value: Vector, _ pointer: UnsafeMutablePointer<Float>, _ offset: Int) {
        UnsafeMutableRawPointer(pointer + offset).storeBytes(of: value, as: Vector.self)
    }

    /// `row = LayerNorm(row + bias + residual)` in place over `rows` rows of `width` floats.
    /// `bias` and `residual` may be nil. Statistics in two passes, as PyTorch computes them.
    static func addLayerNorm(
        _ data: UnsafeMutablePointer<Float>, rows: Int, width n: Int,
        bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float
    ) {
        let inverseWidth = 1 / Float(n)
        for row in 0..<rows {
            let x = data + row * n
            var sum = Vector()
            var column = 0
            while column < n {
                var value = load(x, column)
                if let bias { value += load(bias, column) }
                if let residual { value += load(residual + row * n, column) }
                store(value, x, column)
                sum += value
                column += width
            }
            let mean = sum.sum() * inverseWidth
            var squares = Vector()
            column = 0
            while column < n {
                let centered = load(x, column) - mean
                squares.addProduct(centered, centered)
                column += width
            }
            let scale = 1 / (squares.sum() * inverseWidth + epsilon).squareRoot()
            column = 0
            while column < n {
                let normalized = (load(x, column) - mean) * scale
                store(normalized * load(gamma, column) + load(beta, column), x, column)
                column += width
            }
        }
    }

    /// `data = gelu(data + bias)` with the exact (erf) GELU, row by row.
    static func addBiasGELU(_ data: UnsafeMutablePointer<Float>, rows: Int, width n: Int, bias: UnsafePointer<Float>) {
        let half = Vector(repeating: 0.5)
        let inverseSqrt2 = Vector(repeating: 0.707_106_781_186_547_5)
        for row in 0..<rows {
            let x = data + row * n
            var column = 0
            while column < n {
                let value = load(x, column) + load(bias, column)
                let result = half * value * (1 + erf(value * inverseSqrt2))
                store(result, x, column)
                column += width
            }
        }
    }

    /// `data += bias` over `rows` rows of `n` floats.
    static func addBias(_ data: UnsafeMutablePointer<Float>, rows: Int, width n: Int, bias: UnsafePointer<Float>) {
        for row in 0..<rows {
            let x = data + row * n
            var column = 0
            while column < n {
                store(load(x, column) + load(bias, column), x, column)
                column += width
            }
        }
    }

    /// erf for single precision: a rational approximation on [-4, 4] (beyond it erf is ±1 in Float),
    /// absolute error below 1e-6 (tested against the C library).
    @inline(__always)
    static func erf(_ input: Vector) -> Vector {
        let x = input.clamped(lowerBound: Vector(repeating: -4), upperBound: Vector(repeating: 4))
        let x2 = x * x
        var p = x2 * -2.726_142_258_013_06e-10 + 2.770_681_424_959_02e-08
        p = x2 * p + -2.101_024_020_825_08e-06
        p = x2 * p + -5.692_506_394_623_46e-05
        p = x2 * p + -7.349_906_303_268_55e-04
        p = x2 * p + -2.954_599_808_540_25e-03
        p = x2 * p + -1.609_603_332_624_15e-02
        p = x * p
        var q = x2 * -1.456_607_184_649_96e-05 + -2.133_740_552_789_05e-04
        q = x2 * q + -1.682_826_974_382_03e-03
        q = x2 * q + -7.373_329_167_204_68e-03
        q = x2 * q + -1.426_473_905_141_89e-02
        return p / q
    }

    /// e^x for x <= 0 (softmax after subtracting the maximum): range reduction to [-ln2/2, ln2/2] and a
    /// degree-6 polynomial, relative error about 2e-7.
    @inline(__always)
    static func exp(_ input: Vector) -> Vector {
        let x = input.clamped(lowerBound: Vector(repeating: -87), upperBound: Vector(repeating: 88))
        // Adding 1.5 * 2^23 rounds to an integer and leaves it in the low mantissa bits: no conversions.
        let magic = Vector(repeating: 12_582_912)
        let shifted = x * 1.442_695_040_888_963_4 + magic
        let n = shifted - magic
        var r = x - n * 0.693_145_751_953_125
        r = r - n * 1.428_606_765_330_187_0e-06
        var p = r * (1.0 / 720) + (1.0 / 120)
        p = r * p + (1.0 / 24)
        p = r * p + (1.0 / 6)
        p = r * p + 0.5
        p = r * p + 1
        p = r * p + 1
        let integer = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
        let exponent = (integer &+ 127) &<< 23
        return p * unsafeBitCast(exponent, to: Vector.self)
    }

    /// Softmax of each of `rows` rows of `n` floats (stride `stride`) in place.
    static func softmaxRows(_ data: UnsafeMutablePointer<Float>, rows: Int, count n: Int, stride: Int) {
        let full = n & ~(width - 1)
        for row in 0..<rows {
            let x = data + row * stride
            var maximum = -Float.infinity
            var column = 0
            if full > 0 {
                var maxVector = Vector(repeating: -.infinity)
                while column < full {
                    maxVector = pointwiseMax(maxVector, load(x, column))
                    column += width
                }
                maximum = maxVector.max()
            }
            for tail in full..<n { maximum = Swift.max(maximum, x[tail]) }
            var sum: Float = 0
            column = 0
            if full > 0 {
                var sumVector = Vector()
                let shift = Vector(repeating: maximum)
                while column < full {
                    let value = exp(load(x, column) - shift)
                    store(value, x, column)
                    sumVector += value
                    column += width
                }
                sum = sumVector.sum()
            }
            for tail in full..<n {
                let value = Foundation.exp(x[tail] - maximum)
                x[tail] = value
                sum += value
            }
            let inverse = 1 / sum
            column = 0
            let scale = Vector(repeating: inverse)
            while column < full {
                store(load(x, column) * scale, x, column)
                column += width
            }
            for tail in full..<n { x[tail] *= inverse }
        }
    }
}
