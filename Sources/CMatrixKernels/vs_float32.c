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

/// ROWS rows of c (up to 6) by VECS registers of 16 outputs (up to 4): up to 24 accumulators, 4 registers of b
/// and one broadcast of a. Row r, input p of a is at a[r * aRow + p * aColumn] (a row-major matrix or a
/// transposed one); row p of b is VECS * 16 floats at b + p * ldb (a packed panel: ldb 64). Each output starts
/// from its bias (or zero), plus c when accumulating. Constant ROWS and VECS unroll the loops completely.
VS_F32_TARGET __attribute__((always_inline)) static inline void
tile(const int ROWS, const int VECS, int k, const float *a, size_t aRow, size_t aColumn, const float *b, size_t ldb,
     const float *bias, float *c, size_t ldc, int accumulate) {
    __m512 acc[6][4];
    for (int r = 0; r < ROWS; r++)
        for (int j = 0; j < VECS; j++) {
            __m512 start = bias ? _mm512_loadu_ps(bias + 16 * j) : _mm512_setzero_ps();
            if (accumulate) start = _mm512_add_ps(start, _mm512_loadu_ps(c + r * ldc + 16 * j));
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
}

/// Rows `first..<end` of c for one block of VECS registers: tiles of 6 rows, then the rest.
VS_F32_TARGET __attribute__((always_inline)) static inline void
rows(const int VECS, int first, int end, int k, const float *a, size_t aRow, size_t aColumn, const float *b,
     size_t ldb, const float *bias, float *c, size_t ldc, int accumulate) {
    int row = first;
    for (; row + 6 <= end; row += 6)
        tile(6, VECS, k, a + row * aRow, aRow, aColumn, b, ldb, bias, c + row * ldc, ldc, accumulate);
    const float *restA = a + row * aRow;
    float *restC = c + row * ldc;
    switch (end - row) {
    case 5: tile(5, VECS, k, restA, aRow, aColumn, b, ldb, bias, restC, ldc, accumulate); break;
    case 4: tile(4, VECS, k, restA, aRow, aColumn, b, ldb, bias, restC, ldc, accumulate); break;
    case 3: tile(3, VECS, k, restA, aRow, aColumn, b, ldb, bias, restC, ldc, accumulate); break;
    case 2: tile(2, VECS, k, restA, aRow, aColumn, b, ldb, bias, restC, ldc, accumulate); break;
    case 1: tile(1, VECS, k, restA, aRow, aColumn, b, ldb, bias, restC, ldc, accumulate); break;
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

/// Rows are taken in chunks so that a chunk's rows of `a` stay in L2 while every panel passes over them.
#define VS_F32_CHUNK 96

VS_F32_TARGET
void vs_f32_gemm(int m, int n, int k, const float *a, int lda, const float *packed, const float *bias, float *c,
                 int ldc, int accumulate) {
    for (int first = 0; first < m; first += VS_F32_CHUNK) {
        const int end = first + VS_F32_CHUNK < m ? first + VS_F32_CHUNK : m;
        for (int block = 0; block < n / VS_F32_BLOCK; block++) {
            rows(4, first, end, k, a, (size_t)lda, 1, packed + (size_t)block * k * VS_F32_BLOCK, VS_F32_BLOCK,
                 bias ? bias + block * VS_F32_BLOCK : NULL, c + block * VS_F32_BLOCK, (size_t)ldc, accumulate);
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
void vs_f32_transpose(int rows, int columns, const float *source, long sourceStride, float *target, long targetStride,
                      int paddedRows) {
    transpose_scalar(rows, columns, source, sourceStride, target, targetStride, paddedRows);
}
void vs_f32_gemm(int m, int n, int k, const float *a, int lda, const float *packed, const float *bias, float *c,
                 int ldc, int accumulate) {
    (void)m; (void)n; (void)k; (void)a; (void)lda; (void)packed; (void)bias; (void)c; (void)ldc; (void)accumulate;
}
void vs_f32_gemm_strided(int m, int n, int k, const float *a, long aRow, long aColumn, const float *b, long ldb,
                         float *c, long ldc) {
    (void)m; (void)n; (void)k; (void)a; (void)aRow; (void)aColumn; (void)b; (void)ldb; (void)c; (void)ldc;
}

#endif
