#ifndef VECTORSTREAM_FLOAT32_H
#define VECTORSTREAM_FLOAT32_H

#include <stddef.h>

// The encoder's fp32 kernels on AVX-512F: its four large products per layer, attention's per-head products,
// their softmax and the query transposes. The weights of the large products never change, so they are packed
// once at load in the order the kernel reads them; a BLAS sgemm packs both operands again on every call (about
// 8 % of the encoder's time with OpenBLAS). Each output starts from its bias (and the residual already in c),
// so no separate pass writes or adds them. Plain fp32 arithmetic: results differ from BLAS only in the order of
// the sums.

/// 1 when the CPU and OS run AVX-512 F (decided once per process).
int vs_f32_supported(void);

/// Outputs are processed in blocks of this many (4 registers of 16 lanes); `n` must be a multiple of it.
#define VS_F32_BLOCK 64

/// Floats the packed form of an n x k weight matrix takes.
size_t vs_f32_packed_count(int n, int k);

/// Packs `weight` (n rows of k fp32, PyTorch's [out, in] layout; n % 64 == 0) as panels: per block of 64
/// outputs, per input, the 64 weights of that input.
void vs_f32_pack_weights(const float *weight, int n, int k, float *packed);

/// vs_f32_gemm flags: add onto what c holds; apply the exact (erf) GELU to each result as it is stored.
#define VS_F32_ACCUMULATE 1
#define VS_F32_GELU 2

/// c[m][0..<n] = (ACCUMULATE ? c : 0) + bias + a · weightᵀ for m rows, through GELU when flags has VS_F32_GELU;
/// `a` fp32 row-major with row stride lda, `packed` from vs_f32_pack_weights, `bias` n floats or NULL, `c` with
/// row stride ldc. Needs vs_f32_supported().
void vs_f32_gemm(int m, int n, int k, const float *a, int lda, const float *packed, const float *bias, float *c,
                 int ldc, int flags);

/// c[i][0..<n] = Σ_p a[i * aRow + p * aColumn] · b[p * ldb + 0..<n] for i < m (n a multiple of 16): a may be
/// row-major (aColumn 1) or transposed (aRow 1); b row-major. For attention's per-head products, where a BLAS
/// call costs more in packing and dispatch than the product itself. Needs vs_f32_supported().
void vs_f32_gemm_strided(int m, int n, int k, const float *a, long aRow, long aColumn, const float *b, long ldb,
                         float *c, long ldc);

/// target[c * targetStride + r] = source[r * sourceStride + c] for r < rows, c < columns; rows up to paddedRows
/// are zeroed in target (whole vectors for the products that read it). Needs vs_f32_supported().
void vs_f32_transpose(int rows, int columns, const float *source, long sourceStride, float *target, long targetStride,
                      int paddedRows);

/// Softmax down each of the first `columns` columns of a `rows` x `stride` matrix, in place (attention's
/// transposed scores: keys down, queries across). Lanes past `columns` up to the next multiple of 16 become 0;
/// stride must reach that far. Needs vs_f32_supported().
void vs_f32_softmax_columns(float *data, int rows, int columns, long stride);

#endif
