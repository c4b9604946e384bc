#ifndef VECTORSTREAM_BFLOAT16_H
#define VECTORSTREAM_BFLOAT16_H

#include <stddef.h>
#include <stdint.h>

// A bfloat16 matrix product for the embedder's reduced-precision path, on AVX-512 BF16 (VDPBF16PS: 32
// bf16 products summed into 16 fp32 lanes per instruction, twice the fp32 FMA rate). OpenBLAS as Debian
// ships it has no bf16 GEMM, so this small kernel exists; everything else stays in Swift and fp32.

/// 1 when the CPU and OS run AVX-512 F, BW and BF16 (decided once per process).
int vs_bf16_supported(void);

/// Outputs are processed in blocks of this many (4 registers of 16 lanes); `n` must be a multiple of it.
#define VS_BF16_BLOCK 64

/// Elements (uint16_t) the packed form of an n x k weight matrix takes.
size_t vs_bf16_packed_count(int n, int k);

/// Packs `weight` (n rows of k fp32, PyTorch's [out, in] layout; n % 64 == 0, k even) as bf16 panels:
/// per block of 64 outputs, per pair of inputs, 64 lanes of (w[o][2p], w[o][2p+1]).
void vs_bf16_pack_weights(const float *weight, int n, int k, uint16_t *packed);

/// Rounds `count` floats (a multiple of 16) to bf16, nearest even. Needs vs_bf16_supported().
void vs_bf16_convert(const float *input, size_t count, uint16_t *output);

/// c[m][0..<n] += a[m][0..<k] · weightᵀ for m rows; `a` is bf16 row-major (k per row), `packed` from
/// vs_bf16_pack_weights, `c` fp32 with row stride ldc. Accumulates in fp32. Needs vs_bf16_supported().
void vs_bf16_gemm(int m, int n, int k, const uint16_t *a, const uint16_t *packed, float *c, int ldc);

#endif
