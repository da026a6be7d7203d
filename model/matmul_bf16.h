/* matmul_bf16.h — y = x·W (+ y) with W in bfloat16, x rounded to bfloat16 on the fly, products
 * accumulated and written in fp32, through oneDNN's matmul (Debian libdnnl 2.6). oneDNN picks the
 * kernel from the CPU at run time: AMX tiles, AVX-512 BF16 dot products, or none; when the CPU
 * has no bf16 instructions mm_bf16_supported says so and the caller keeps fp32 (oneDNN would
 * otherwise emulate bf16 more slowly than OpenBLAS computes fp32).
 *
 * One mm_bf16_t per caller thread (an activation arena owns one): it holds the engine, the
 * stream, the primitives made so far (created once per shape and reused) and the bf16 copy of
 * the current input. Nothing here is shared, so nothing locks. Never touches the weights. */
#ifndef FEDPEP_MODEL_MATMUL_BF16_H
#define FEDPEP_MODEL_MATMUL_BF16_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

typedef struct mm_bf16 mm_bf16_t;

/* Whether this CPU multiplies bf16 natively (oneDNN's effective ISA has AVX-512 BF16 or AMX;
 * DNNL_MAX_CPU_ISA or dnnl_set_max_cpu_isa lower it). Writes the ISA's name to isa (n bytes)
 * when isa is not NULL. */
bool mm_bf16_supported(char *isa, size_t n);

/* fp32 → bf16, rounded to nearest even (NaN stays NaN; subnormal inputs become signed zero, as
 * the CPU's conversion instruction, which this uses where the build has it, makes them): dst[i]
 * for i < n. */
void mm_bf16_from_f32(uint16_t *dst, const float *src, size_t n);
/* bf16 → fp32 (exact). */
float mm_bf16_to_f32(uint16_t v);

/* A context with an empty primitive cache. NULL with err (FP_ENOMEM, FP_ESTATE when oneDNN
 * refuses its CPU engine). */
mm_bf16_t *mm_bf16_new(fp_error *err);
void mm_bf16_destroy(mm_bf16_t **self_p);

/* The weight of one product: logical [K][N] bf16, element (k, n) at w[k·rs + n·cs] (one of rs,
 * cs is 1: row-major W, or a row-major Wᵀ). */
typedef struct mm_bf16_weight {
    const uint16_t *w;
    int rs, cs;
} mm_bf16_weight;

/* y[M][N] (row stride ldy) = x[M][K] (row stride ldx) · W (+ bias[N] when not NULL, fp32,
 * added in the product's epilogue), or += when accumulate. Threads: as
 * many as OpenBLAS uses (openblas_set_num_threads / OPENBLAS_NUM_THREADS), so one setting
 * governs both backends. On failure to make a primitive or the input copy (out of memory,
 * oneDNN refusing a shape) y is unchanged and the caller can compute the product another way;
 * oneDNN failing to run a primitive it accepted (FP_ESTATE "failed on") would be a bug here. */
fp_status mm_bf16_gemm(mm_bf16_t *self, float *y, int ldy, const float *x, int ldx,
                       mm_bf16_weight W, int M, int K, int N, const float *bias, bool accumulate,
                       fp_error *err);

/* The same product from an input already in bf16: the caller fills mm_bf16_input(self, M, K)
 * (dense [M][K], valid until the next call on self) — e.g. an activation function writing bf16
 * directly, which saves the fp32 write and the rounding pass — then calls mm_bf16_gemm_input. */
uint16_t *mm_bf16_input(mm_bf16_t *self, int M, int K, fp_error *err);
fp_status mm_bf16_gemm_input(mm_bf16_t *self, float *y, int ldy, mm_bf16_weight W, int M, int K,
                             int N, const float *bias, bool accumulate, fp_error *err);

/* Counters for tests and the benchmark: primitives created so far, products run, and products
 * the caller had to compute in fp32 because mm_bf16_gemm failed (mm_bf16_note_fallback), with
 * the first failure's reason. */
typedef struct mm_bf16_stats {
    size_t primitives, calls, fallbacks;
    char first_failure[256];
} mm_bf16_stats;
mm_bf16_stats mm_bf16_get_stats(const mm_bf16_t *self);
void mm_bf16_note_fallback(mm_bf16_t *self, const fp_error *why);

#endif
