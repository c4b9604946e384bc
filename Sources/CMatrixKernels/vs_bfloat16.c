#include "vs_bfloat16.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define VS_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

int vs_bf16_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512bf16");
}

#endif

size_t vs_bf16_packed_count(int n, int k) { return (size_t)n * (size_t)k; }

/// Round to nearest even (the weights are finite; NaN is not preserved).
static uint16_t to_bf16(float value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    bits += 0x7FFFu + ((bits >> 16) & 1u);
    return (uint16_t)(bits >> 16);
}

void vs_bf16_pack_weights(const float *weight, int n, int k, uint16_t *packed) {
    const int pairs = k / 2;
    for (int block = 0; block < n / VS_BF16_BLOCK; block++) {
        for (int pair = 0; pair < pairs; pair++) {
            uint16_t *out = packed + ((size_t)block * pairs + pair) * (2 * VS_BF16_BLOCK);
            for (int lane = 0; lane < VS_BF16_BLOCK; lane++) {
                const float *row = weight + (size_t)(block * VS_BF16_BLOCK + lane) * k;
                out[2 * lane] = to_bf16(row[2 * pair]);
                out[2 * lane + 1] = to_bf16(row[2 * pair + 1]);
            }
        }
    }
}

#if defined(__x86_64__)

VS_BF16_TARGET
void vs_bf16_convert(const float *input, size_t count, uint16_t *output) {
    for (size_t i = 0; i < count; i += 16) {
        __m256bh rounded = _mm512_cvtneps_pbh(_mm512_loadu_ps(input + i));
        _mm256_storeu_si256((__m256i *)(output + i), (__m256i)rounded);
    }
}

/// ROWS rows of c (up to 6) by one block of 64 outputs: 24 accumulators, 4 weight registers, 1 broadcast.
#define VS_BF16_TILE(ROWS)                                                                                  \
    VS_BF16_TARGET static void tile_##ROWS(int k, const uint16_t *a, const uint16_t *panel, float *c,      \
                                           int ldc) {                                                      \
        __m512 acc[ROWS][4];                                                                               \
        for (int r = 0; r < ROWS; r++)                                                                     \
            for (int j = 0; j < 4; j++) acc[r][j] = _mm512_loadu_ps(c + (size_t)r * ldc + 16 * j);         \
        const int pairs = k / 2;                                                                           \
        for (int p = 0; p < pairs; p++) {                                                                  \
            const uint16_t *w = panel + (size_t)p * (2 * VS_BF16_BLOCK);                                   \
            __m512bh w0 = (__m512bh)_mm512_loadu_si512(w);                                                 \
            __m512bh w1 = (__m512bh)_mm512_loadu_si512(w + 32);                                            \
            __m512bh w2 = (__m512bh)_mm512_loadu_si512(w + 64);                                            \
            __m512bh w3 = (__m512bh)_mm512_loadu_si512(w + 96);                                            \
            for (int r = 0; r < ROWS; r++) {                                                               \
                int32_t both;                                                                              \
                memcpy(&both, a + (size_t)r * k + 2 * p, sizeof both);                                     \
                __m512bh x = (__m512bh)_mm512_set1_epi32(both);                                            \
                acc[r][0] = _mm512_dpbf16_ps(acc[r][0], x, w0);                                            \
                acc[r][1] = _mm512_dpbf16_ps(acc[r][1], x, w1);                                            \
                acc[r][2] = _mm512_dpbf16_ps(acc[r][2], x, w2);                                            \
                acc[r][3] = _mm512_dpbf16_ps(acc[r][3], x, w3);                                            \
            }                                                                                              \
        }                                                                                                  \
        for (int r = 0; r < ROWS; r++)                                                                     \
            for (int j = 0; j < 4; j++) _mm512_storeu_ps(c + (size_t)r * ldc + 16 * j, acc[r][j]);         \
    }

VS_BF16_TILE(1)
VS_BF16_TILE(2)
VS_BF16_TILE(3)
VS_BF16_TILE(4)
VS_BF16_TILE(5)
VS_BF16_TILE(6)

VS_BF16_TARGET
void vs_bf16_gemm(int m, int n, int k, const uint16_t *a, const uint16_t *packed, float *c, int ldc) {
    const size_t panel = (size_t)k * VS_BF16_BLOCK;
    for (int block = 0; block < n / VS_BF16_BLOCK; block++) {
        const uint16_t *weights = packed + block * panel;
        float *out = c + block * VS_BF16_BLOCK;
        int row = 0;
        for (; row + 6 <= m; row += 6) tile_6(k, a + (size_t)row * k, weights, out + (size_t)row * ldc, ldc);
        const uint16_t *rest = a + (size_t)row * k;
        float *restOut = out + (size_t)row * ldc;
        switch (m - row) {
        case 5: tile_5(k, rest, weights, restOut, ldc); break;
        case 4: tile_4(k, rest, weights, restOut, ldc); break;
        case 3: tile_3(k, rest, weights, restOut, ldc); break;
        case 2: tile_2(k, rest, weights, restOut, ldc); break;
        case 1: tile_1(k, rest, weights, restOut, ldc); break;
        default: break;
        }
    }
}

#else  // Other architectures: never supported, so the encoder never calls these.

int vs_bf16_supported(void) { return 0; }
void vs_bf16_convert(const float *input, size_t count, uint16_t *output) { (void)input; (void)count; (void)output; }
void vs_bf16_gemm(int m, int n, int k, const uint16_t *a, const uint16_t *packed, float *c, int ldc) {
    (void)m; (void)n; (void)k; (void)a; (void)packed; (void)c; (void)ldc;
}

#endif
