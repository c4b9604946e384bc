#include "vs_float32.h"

size_t vs_f32_packed_count(int n, int k) { return (size_t)n * (size_t)k; }

void vs_f32_pack_weights(const float *weight, int n, int k, float *packed) {
    for (int block = 0; block < n / VS_F32_BLOCK; block++) {
        for (int input = 0; input < k; input++) {
            float *out = packed + ((size_t)block * k + input) * VS_F32_BLOCK;
            for (int lane = 0; lane < VS_F32_BLOCK; lane++) {
                out[lane] = weight[(size_t)(block * VS_F32_BLOCK + lane) * k + input];
            }
        }
    }
}

/// The portable transpose (other CPUs, and shapes that are not whole 16 x 16 blocks).
static void transpose_scalar(int rows, int columns, const float *source, long sourceStride, float *target,
                             long targetStride, int paddedRows) {
    for (int row = 0; row < rows; row++) {
        const float *from = source + (size_t)row * sourceStride;
        for (int column = 0; column < columns; column++) target[(size_t)column * targetStride + row] = from[column];
    }
    for (int column = 0; column < columns; column++)
        for (int row = rows; row < paddedRows; row++) target[(size_t)column * targetStride + row] = 0;
}

#if defined(__x86_64__)
#include <immintrin.h>

#define VS_F32_TARGET __attribute__((target("avx512f,fma")))

int vs_f32_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

/// The exact (erf) GELU, x/2 · (1 + erf(x/√2)), with the rational erf of the Swift kernels
/// (`VectorKernels.erf`: absolute error below 1e-6 on [-4, 4], ±1 beyond), on 16 lanes.
VS_F32_TARGET static inline __m512 gelu(__m512 value) {
    __m512 x = _mm512_mul_ps(value, _mm512_set1_ps(0.7071067811865475f));
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-4.0f)), _mm512_set1_ps(4.0f));
    const __m512 x2 = _mm512_mul_ps(x, x);
    __m512 p = _mm512_fmadd_ps(x2, _mm512_set1_ps(-2.72614225801306e-10f), _mm512_set1_ps(2.77068142495902e-08f));
    p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(-2.10102402082508e-06f));
    p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(-5.69250639462346e-05f));
    p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(-7.34990630326855e-04f));
    p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(-2.95459980854025e-03f));
    p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(-1.60960333262415e-02f));
    p = _mm512_mul_ps(x, p);
    __m512 q = _mm512_fmadd_ps(x2, _mm512_set1_ps(-1.45660718464996e-05f), _mm512_set1_ps(-2.13374055278905e-04f));
    q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(-1.68282697438203e-03f));
    q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(-7.37332916720468e-03f));
    q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(-1.42647390514189e-02f));
    const __m512 half = _mm512_mul_ps(value, _mm512_set1_ps(0.5f));
    return _mm512_fmadd_ps(half, _mm512_div_ps(p, q), half);
}

/// GELU over a tile just stored (still in L1). Kept out of line: applied to the accumulators themselves, its
/// constants crowd the 24 accumulators out of the registers and the compiler spills inside the product's loop.
VS_F32_TARGET __attribute__((noinline)) static void gelu_tile(float *c, int rows, int vectors, size_t ldc) {
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < vectors; j++) {
            float *x = c + r * ldc + 16 * j;
            _mm512_storeu_ps(x, gelu(_mm512_loadu_ps(x)));
        }
}

/// ROWS rows of c (up to 6) by VECS registers of 16 outputs (up to 4): up to 24 accumulators, 4 registers of b
/// and one broadcast of a. Row r, input p of a is at a[r * aRow + p * aColumn] (a row-major matrix or a
/// transposed one); row p of b is VECS * 16 floats at b + p * ldb (a packed panel: ldb 64). Each output starts
/// from its bias (or zero), plus c when accumulating. Constant ROWS and VECS unroll the loops completely.
VS_F32_TARGET __attribute__((always_inline)) static inline void
tile(const int ROWS, const int VECS, int k, const float *a, size_t aRow, size_t aColumn, const float *b, size_t ldb,
     const float *bias, float *c, size_t ldc, int flags) {
    __m512 acc[6][4];
    for (int r = 0; r < ROWS; r++)
        for (int j = 0; j < VECS; j++) {
            __m512 start = bias ? _mm512_loadu_ps(bias + 16 * j) : _mm512_setzero_ps();
            if (flags & VS_F32_ACCUMULATE) start = _mm512_add_ps(start, _mm512_loadu_ps(c + r * ldc + 16 * j));
            acc[r][j] = start;
        }
    for (int p = 0; p < k; p++) {
        const float *row = b + p * ldb;
        __m512 w[4];
        for (int j = 0; j < VECS; j++) w[j] = _mm512_loadu_ps(row + 16 * j);
        for (int r = 0; r < ROWS; r++) {
            __m512 x = _mm512_set1_ps(a[r * aRow + p * aColumn]);
            for (int j = 0; j < VECS; j++) acc[r][j] = _mm512_fmadd_ps(x, w[j], acc[r][j]);
        }
    }
    for (int r = 0; r < ROWS; r++)
        for (int j = 0; j < VECS; j++) _mm512_storeu_ps(c + r * ldc + 16 * j, acc[r][j]);
    if (flags & VS_F32_GELU) gelu_tile(c, ROWS, VECS, ldc);
}

/// Rows `first..<end` of c for one block of VECS registers: tiles of 6 rows, then the rest.
VS_F32_TARGET __attribute__((always_inline)) static inline void
rows(const int VECS, int first, int end, int k, const float *a, size_t aRow, size_t aColumn, const float *b,
     size_t ldb, const float *bias, float *c, size_t ldc, int flags) {
    int row = first;
    for (; row + 6 <= end; row += 6)
        tile(6, VECS, k, a + row * aRow, aRow, aColumn, b, ldb, bias, c + row * ldc, ldc, flags);
    const float *restA = a + row * aRow;
    float *restC = c + row * ldc;
    switch (end - row) {
    case 5: tile(5, VECS, k, restA, aRow, aColumn, b, ldb, bias, restC, ldc, flags); break;
    case 4: tile(4, VECS, k, restA, aRow, aColumn, b, ldb, bias, restC, ldc, flags); break;
    case 3: tile(3, VECS, k, restA, aRow, aColumn, b, ldb, bias, restC, ldc, flags); break;
    case 2: tile(2, VECS, k, restA, aRow, aColumn, b, ldb, bias, restC, ldc, flags); break;
    case 1: tile(1, VECS, k, restA, aRow, aColumn, b, ldb, bias, restC, ldc, flags); break;
    default: break;
    }
}

/// 16 vectors (rows) become 16 vectors (columns): pairs of lanes, then quarters, then 128-bit quarters
/// across registers. 64 shuffles per 256 floats, against 256 scalar stores to 16 cache lines.
VS_F32_TARGET static inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[4 + i], 0x88);
        t[4 + i] = _mm512_shuffle_f32x4(r[i], r[4 + i], 0xDD);
        t[8 + i] = _mm512_shuffle_f32x4(r[8 + i], r[12 + i], 0x88);
        t[12 + i] = _mm512_shuffle_f32x4(r[8 + i], r[12 + i], 0xDD);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
        r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xDD);
        r[4 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], 0x88);
        r[12 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], 0xDD);
    }
}

VS_F32_TARGET static void transpose_blocks(int rows, int columns, const float *source, long sourceStride,
                                           float *target, long targetStride, int paddedRows) {
    for (int first = 0; first < paddedRows; first += 16) {
        for (int column = 0; column < columns; column += 16) {
            __m512 block[16];
            for (int i = 0; i < 16; i++)
                block[i] = first + i < rows ? _mm512_loadu_ps(source + (size_t)(first + i) * sourceStride + column)
                                            : _mm512_setzero_ps();
            transpose16(block);
            for (int i = 0; i < 16; i++) _mm512_storeu_ps(target + (size_t)(column + i) * targetStride + first, block[i]);
        }
    }
}

void vs_f32_transpose(int rows, int columns, const float *source, long sourceStride, float *target, long targetStride,
                      int paddedRows) {
    if (columns % 16 == 0 && paddedRows % 16 == 0 && paddedRows >= rows) {
        transpose_blocks(rows, columns, source, sourceStride, target, targetStride, paddedRows);
    } else {
        transpose_scalar(rows, columns, source, sourceStride, target, targetStride, paddedRows);
    }
}

/// e^x for x <= 0 (after subtracting the maximum): x = n ln2 + r with |r| <= ln2/2, a degree-6 polynomial
/// for e^r (relative error about 2e-7), scaled by 2^n exactly with VSCALEFPS. Below -87 the result is ~0.
VS_F32_TARGET static inline __m512 exp_nonpositive(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-0.693145751953125f), x);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(-1.428606765330187e-06f), r);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(1.0f / 720), r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

VS_F32_TARGET
void vs_f32_softmax_columns(float *data, int rows, int columns, long stride) {
    for (int column = 0; column < columns; column += 16) {
        const int valid = columns - column < 16 ? columns - column : 16;
        const __mmask16 lanes = (__mmask16)((1u << valid) - 1u);
        float *top = data + column;
        __m512 maxima = _mm512_maskz_loadu_ps(lanes, top);
        for (int row = 1; row < rows; row++) maxima = _mm512_max_ps(maxima, _mm512_maskz_loadu_ps(lanes, top + (size_t)row * stride));
        __m512 sums = _mm512_setzero_ps();
        for (int row = 0; row < rows; row++) {
            float *x = top + (size_t)row * stride;
            const __m512 value = _mm512_maskz_mov_ps(lanes, exp_nonpositive(_mm512_sub_ps(_mm512_maskz_loadu_ps(lanes, x), maxima)));
            _mm512_storeu_ps(x, value);
            sums = _mm512_add_ps(sums, value);
        }
        // Lanes past `columns` hold zeros and sum to 0; the masked multiply stores 0 there, not 0 * (1/0).
        const __m512 scale = _mm512_div_ps(_mm512_set1_ps(1.0f), sums);
        for (int row = 0; row < rows; row++) {
            float *x = top + (size_t)row * stride;
            _mm512_storeu_ps(x, _mm512_maskz_mul_ps(lanes, _mm512_loadu_ps(x), scale));
        }
    }
}

/// Rows are taken in chunks so that a chunk's rows of `a` stay in L2 while every panel passes over them.
#define VS_F32_CHUNK 96

VS_F32_TARGET
void vs_f32_gemm(int m, int n, int k, const float *a, int lda, const float *packed, const float *bias, float *c,
                 int ldc, int flags) {
    for (int first = 0; first < m; first += VS_F32_CHUNK) {
        const int end = first + VS_F32_CHUNK < m ? first + VS_F32_CHUNK : m;
        for (int block = 0; block < n / VS_F32_BLOCK; block++) {
            rows(4, first, end, k, a, (size_t)lda, 1, packed + (size_t)block * k * VS_F32_BLOCK, VS_F32_BLOCK,
                 bias ? bias + block * VS_F32_BLOCK : NULL, c + block * VS_F32_BLOCK, (size_t)ldc, flags);
        }
    }
}

VS_F32_TARGET
void vs_f32_gemm_strided(int m, int n, int k, const float *a, long aRow, long aColumn, const float *b, long ldb,
                         float *c, long ldc) {
    int column = 0;
    for (; column + 64 <= n; column += 64)
        rows(4, 0, m, k, a, (size_t)aRow, (size_t)aColumn, b + column, (size_t)ldb, NULL, c + column, (size_t)ldc, 0);
    switch ((n - column) / 16) {
    case 3: rows(3, 0, m, k, a, (size_t)aRow, (size_t)aColumn, b + column, (size_t)ldb, NULL, c + column, (size_t)ldc, 0); break;
    case 2: rows(2, 0, m, k, a, (size_t)aRow, (size_t)aColumn, b + column, (size_t)ldb, NULL, c + column, (size_t)ldc, 0); break;
    case 1: rows(1, 0, m, k, a, (size_t)aRow, (size_t)aColumn, b + column, (size_t)ldb, NULL, c + column, (size_t)ldc, 0); break;
    default: break;
    }
}

#else  // Other architectures: never supported, so the encoder never calls vs_f32_gemm.

int vs_f32_supported(void) { return 0; }
void vs_f32_softmax_columns(float *data, int rows, int columns, long stride) {
    (void)data; (void)rows; (void)columns; (void)stride;
}
void vs_f32_transpose(int rows, int columns, const float *source, long sourceStride, float *target, long targetStride,
                      int paddedRows) {
    transpose_scalar(rows, columns, source, sourceStride, target, targetStride, paddedRows);
}
void vs_f32_gemm(int m, int n, int k, const float *a, int lda, const float *packed, const float *bias, float *c,
                 int ldc, int flags) {
    (void)m; (void)n; (void)k; (void)a; (void)lda; (void)packed; (void)bias; (void)c; (void)ldc; (void)flags;
}
void vs_f32_gemm_strided(int m, int n, int k, const float *a, long aRow, long aColumn, const float *b, long ldb,
                         float *c, long ldc) {
    (void)m; (void)n; (void)k; (void)a; (void)aRow; (void)aColumn; (void)b; (void)ldb; (void)c; (void)ldc;
}

#endif
