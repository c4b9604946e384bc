import Foundation

/// Element-wise parts of the encoder on 16-float vectors. Every row length here is a multiple of 16
/// (checked when the model loads), so the hot loops have no scalar tails.
public enum VectorKernels {
    public typealias Vector = SIMD16<Float>
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

    /// `row = LayerNorm(row + bias)` in place over `rows` rows of `width` floats (the residual is already in
    /// `row`: the products accumulate onto it). `bias` may be nil. Statistics in two passes, as PyTorch does.
    static func addLayerNorm(
        _ data: UnsafeMutablePointer<Float>, rows: Int, width n: Int,
        bias: UnsafePointer<Float>?,
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
                store(load(beta, column).addingProduct(normalized, load(gamma, column)), x, column)
                column += width
            }
        }
    }

    /// `data = gelu(data)` with the exact (erf) GELU over `count` floats (a multiple of 16).
    static func gelu(_ data: UnsafeMutablePointer<Float>, count: Int) {
        let half = Vector(repeating: 0.5)
        let inverseSqrt2 = Vector(repeating: 0.707_106_781_186_547_5)
        var index = 0
        while index < count {
            let value = load(data, index)
            let halfValue = half * value
            store(halfValue.addingProduct(halfValue, erf(value * inverseSqrt2)), data, index)
            index += width
        }
    }

    /// Every one of `rows` rows of `width` floats set to `values` (a bias, before a product adds onto it).
    static func fillRows(_ data: UnsafeMutablePointer<Float>, rows: Int, width n: Int, with values: UnsafePointer<Float>) {
        for row in 0..<rows {
            (data + row * n).update(from: values, count: n)
        }
    }

    // Compare-and-blend compiles to vcmpps/vblendvps; the standard library's pointwiseMin/Max and clamped
    // go lane by lane through the stack (they honour NaN rules that do not matter here).
    @inline(__always)
    static func clamp(_ x: Vector, _ low: Float, _ high: Float) -> Vector {
        let low = Vector(repeating: low)
        let high = Vector(repeating: high)
        let raised = x.replacing(with: low, where: x .< low)
        return raised.replacing(with: high, where: raised .> high)
    }

    @inline(__always)
    static func maximum(_ a: Vector, _ b: Vector) -> Vector {
        a.replacing(with: b, where: a .< b)
    }

    /// erf for single precision: a rational approximation on [-4, 4] (beyond it erf is ±1 in Float),
    /// absolute error below 1e-6 (tested against the C library).
    @inline(__always)
    public static func erf(_ input: Vector) -> Vector {
        let x = clamp(input, -4, 4)
        let x2 = x * x
        // Horner steps as fused multiply-adds (one rounding each, half the instructions).
        var p = Vector(repeating: 2.770_681_424_959_02e-08).addingProduct(x2, Vector(repeating: -2.726_142_258_013_06e-10))
        p = Vector(repeating: -2.101_024_020_825_08e-06).addingProduct(x2, p)
        p = Vector(repeating: -5.692_506_394_623_46e-05).addingProduct(x2, p)
        p = Vector(repeating: -7.349_906_303_268_55e-04).addingProduct(x2, p)
        p = Vector(repeating: -2.954_599_808_540_25e-03).addingProduct(x2, p)
        p = Vector(repeating: -1.609_603_332_624_15e-02).addingProduct(x2, p)
        p = x * p
        var q = Vector(repeating: -2.133_740_552_789_05e-04).addingProduct(x2, Vector(repeating: -1.456_607_184_649_96e-05))
        q = Vector(repeating: -1.682_826_974_382_03e-03).addingProduct(x2, q)
        q = Vector(repeating: -7.373_329_167_204_68e-03).addingProduct(x2, q)
        q = Vector(repeating: -1.426_473_905_141_89e-02).addingProduct(x2, q)
        return p / q
    }

    /// e^x for x <= 0 (softmax after subtracting the maximum): range reduction to [-ln2/2, ln2/2] and a
    /// degree-6 polynomial, relative error about 2e-7. Plain multiplies and adds: written with
    /// `addingProduct`, this function was compiled lane by lane (scalar FMAs) inside the softmax loop, which
    /// then took twice as long.
    @inline(__always)
    public static func exp(_ input: Vector) -> Vector {
        // Only the lower bound matters for x <= 0; below -87 the result is ~0 either way.
        let low = Vector(repeating: -87)
        let x = input.replacing(with: low, where: input .< low)
        // Adding 1.5 * 2^23 rounds to an integer and leaves it in the low mantissa bits: no conversions.
        let magic = Vector(repeating: 12_582_912)
        let shifted = (magic + x * Vector(repeating: 1.442_695_040_888_963_4))
        let n = shifted - magic
        var r = (x + n * Vector(repeating: -0.693_145_751_953_125))
        r = (r + n * Vector(repeating: -1.428_606_765_330_187_0e-06))
        var p = (Vector(repeating: 1.0 / 120) + r * Vector(repeating: 1.0 / 720))
        p = (Vector(repeating: 1.0 / 24) + r * p)
        p = (Vector(repeating: 1.0 / 6) + r * p)
        p = (Vector(repeating: 0.5) + r * p)
        p = (Vector(repeating: 1) + r * p)
        p = (Vector(repeating: 1) + r * p)
        let integer = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
        let exponent = (integer &+ 127) &<< 23
        return p * unsafeBitCast(exponent, to: Vector.self)
    }

    /// Softmax down each of the first `columns` columns of a `rows` x `stride` matrix, in place.
    ///
    /// Attention keeps its scores transposed (keys down, queries across), so the softmax of 16 queries is
    /// vertical vector work: maxima, exponentials and sums with no horizontal reductions and no scalar tails.
    /// Lanes past `columns` in the last block are zeroed first and otherwise ignored.
    static func softmaxColumns(_ data: UnsafeMutablePointer<Float>, rows: Int, columns: Int, stride: Int) {
        precondition(rows > 0 && (columns + width - 1) & ~(width - 1) <= stride)
        let lane = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        var column = 0
        while column < columns {
            let valid = Int32(min(width, columns - column))
            if valid < Int32(width) {
                let pad = lane .>= SIMD16<Int32>(repeating: valid)
                for row in 0..<rows {
                    let x = data + row * stride + column
                    store(load(x, 0).replacing(with: 0, where: pad), x, 0)
                }
            }
            var maxima = load(data + column, 0)
            for row in 1..<rows { maxima = maximum(maxima, load(data + row * stride + column, 0)) }
            var sums = Vector()
            for row in 0..<rows {
                let x = data + row * stride + column
                let value = exp(load(x, 0) - maxima)
                store(value, x, 0)
                sums += value
            }
            let scale = 1 / sums
            for row in 0..<rows {
                let x = data + row * stride + column
                store(load(x, 0) * scale, x, 0)
            }
            column += width
        }
    }
}
