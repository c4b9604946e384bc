#ifndef VECTORSTREAM_COPENBLAS_SHIM_H
#define VECTORSTREAM_COPENBLAS_SHIM_H

#include <cblas.h>
#include <string.h>
#include <stdlib.h>

// Declared by OpenBLAS itself but not in every cblas.h.
extern void openblas_set_num_threads(int num_threads);
extern int openblas_get_num_threads(void);
extern char *openblas_get_config(void);
extern char *openblas_get_corename(void);

// OpenBLAS built with DYNAMIC_ARCH (Debian's) picks its kernels from a table of CPU models known at its
// release. 0.3.21 does not know AMD Zen 4/5 as AVX-512 CPUs and falls back to the AVX2 "Haswell" kernels,
// which halves single-precision GEMM throughput. The library reads OPENBLAS_CORETYPE only while it loads,
// before any code of ours runs, so instead we point its kernel table at the SkylakeX one ourselves.
// Done only for the exact layout we know (0.3.21, no bfloat16 build), verified field by field first.
extern int gotoblas_SKYLAKEX[] __attribute__((weak));
extern int gotoblas_HASWELL[] __attribute__((weak));
extern void *gotoblas __attribute__((weak));

/// Returns 1 when the AVX-512 SkylakeX kernels are now in use (switched or already chosen), 0 otherwise.
static inline int vs_openblas_prefer_avx512(void) {
    if (!&gotoblas || !gotoblas_SKYLAKEX || !gotoblas_HASWELL) return 0;
    if (gotoblas == (void *)gotoblas_SKYLAKEX) return 1;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
        !__builtin_cpu_supports("avx512dq") || !__builtin_cpu_supports("avx512vl")) return 0;
    const char *config = openblas_get_config();
    if (config == NULL || strncmp(config, "OpenBLAS 0.3.21 ", 16) != 0 || strstr(config, "DYNAMIC_ARCH") == NULL)
        return 0;
    if (getenv("OPENBLAS_CORETYPE") != NULL) return 0;  // an explicit choice wins
    if (gotoblas != (void *)gotoblas_HASWELL) return 0;
    // Layout check: dtb_entries, offsets and alignment, then sgemm unroll m/n/mn of both tables.
    int *s = gotoblas_SKYLAKEX, *h = gotoblas_HASWELL;
    if (s[0] != 64 || s[3] != 16383 || h[3] != 16383) return 0;
    if (h[7] != 8 || h[8] != 4 || h[9] != 8 || s[7] != 16 || s[8] != 4 || s[9] != 32) return 0;
    if (s[4] == 0 && s[5] == 0 && s[6] == 0) {
        // The blocking sizes OpenBLAS 0.3.21 sets for SkylakeX when it selects it at load time.
        s[4] = 448; s[5] = 448; s[6] = 74432;
    } else if (s[4] != 448 || s[5] != 448 || s[6] != 74432) {
        return 0;
    }
    gotoblas = (void *)gotoblas_SKYLAKEX;
    return 1;
}

#endif
