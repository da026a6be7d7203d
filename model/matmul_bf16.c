/* matmul_bf16.c — bf16 products through oneDNN's matmul primitive; see matmul_bf16.h.
 * Must never write to a weight, and never create a primitive for a shape it already has one
 * for: creating one costs 0.3–2 ms (JIT), running a 512×256×768 product ~0.5 ms. */
#include "model/matmul_bf16.h"

#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "model/parallel.h"

/* After the model headers: OpenBLAS's cblas.h pulls in <complex.h> (see bench_step.c). */
#include <cblas.h>

/* Rows are run in two parts: the largest multiple of M_QUANTUM by a primitive made for exactly
 * that many rows (the fastest kernels, AMX's brgemm among them, need M fixed when they are
 * made), the rest by one primitive per weight shape whose M is given at run time. A batch's
 * row count B·T changes with every batch's longest example, so keying on the exact M would make
 * hundreds of primitives per run; this way at most max_M / M_QUANTUM + 1 per weight shape. */
#define M_QUANTUM 64
/* Least recently used entries go beyond this (they hold JIT code; the default model needs
 * about 12 weight shapes × (B·T_max / 64 + 1) row counts, ~200 at T = 128). */
#define CACHE_CAP 256

/* What a primitive was made for: the three operands' dimensions (src, weights, dst; a 0 row
 * count: given at run time) and strides in elements. */
typedef struct mm_key {
    int64_t dims[3][2], strides[3][2];
    bool accumulate;
    bool bias;   /* + b[N] (fp32), fused in the product */
    int threads; /* oneDNN splits the work for the thread count at creation and keeps that split:
                    a primitive made for one thread runs on one thread even when two are set */
} mm_key;

typedef struct mm_entry {
    mm_key key;
    dnnl_primitive_t prim;
    uint64_t used; /* tick of the last use */
} mm_entry;

struct mm_bf16 {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    mm_entry cache[CACHE_CAP];
    int n_cache;
    uint64_t tick;
    uint16_t *xb; /* the bf16 copy of the current input, dense [M][K] */
    size_t xb_cap;
    mm_bf16_stats stats;
};

bool mm_bf16_supported(char *isa, size_t n)
{
    const dnnl_cpu_isa_t e = dnnl_get_effective_cpu_isa();
    const char *name = e == dnnl_cpu_isa_avx512_core_amx    ? "avx512_core_amx"
                       : e == dnnl_cpu_isa_avx512_core_bf16 ? "avx512_core_bf16"
                       : e == dnnl_cpu_isa_avx512_core_vnni ? "avx512_core_vnni"
                       : e == dnnl_cpu_isa_avx512_core      ? "avx512_core"
                       : e == dnnl_cpu_isa_avx2_vnni        ? "avx2_vnni"
                       : e == dnnl_cpu_isa_avx2             ? "avx2"
                                                            : "older than avx2";
    if (isa)
        snprintf(isa, n, "%s", name);
    /* ISA values are bit sets that include the ones below them; AMX includes AVX-512 BF16. */
    return ((unsigned)e & (unsigned)dnnl_cpu_isa_avx512_core_bf16) ==
           (unsigned)dnnl_cpu_isa_avx512_core_bf16;
}

/* One value: nearest even; NaN stays a quiet NaN; subnormals flush to signed zero. */
static inline uint16_t bf16_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    /* Round to nearest, ties to even: add 0x7fff plus the bit that becomes the last one. */
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    /* A NaN whose payload sits in the low half would round to Inf: keep it a quiet NaN. */
    const uint32_t nan = (u >> 16) | 0x40u;
    const uint32_t r = (u & 0x7f800000u) == 0 ? (u >> 16) & 0x8000u : rounded;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? nan : r);
}

void mm_bf16_from_f32(uint16_t *restrict dst, const float *restrict src, size_t n)
{
    size_t i = 0;
#ifdef __AVX512BF16__
    /* VCVTNEPS2BF16: the same rounding, NaN and subnormal rules, 16 values an instruction */
    for (; i + 16 <= n; i += 16) {
        const __m256bh r = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + i));
        _mm256_storeu_si256((__m256i *)(void *)(dst + i), (__m256i)r);
    }
#endif
    for (; i < n; i++)
        dst[i] = bf16_of(src[i]);
}

float mm_bf16_to_f32(uint16_t v)
{
    const uint32_t u = (uint32_t)v << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

mm_bf16_t *mm_bf16_new(fp_error *err)
{
    mm_bf16_t *self = calloc(1, sizeof *self);
    if (!self) {
        fp_fail(err, FP_ENOMEM, "bf16 matmul: out of memory");
        return NULL;
    }
    if (dnnl_engine_create(&self->engine, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&self->stream, self->engine, dnnl_stream_default_flags) !=
            dnnl_success) {
        fp_fail(err, FP_ESTATE, "bf16 matmul: oneDNN has no CPU engine");
        mm_bf16_destroy(&self);
    }
    return self;
}

void mm_bf16_destroy(mm_bf16_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mm_bf16_t *self = *self_p;
    for (int i = 0; i < self->n_cache; i++)
        dnnl_primitive_destroy(self->cache[i].prim);
    if (self->stream)
        dnnl_stream_destroy(self->stream);
    if (self->engine)
        dnnl_engine_destroy(self->engine);
    free(self->xb);
    free(self);
    *self_p = NULL;
}

mm_bf16_stats mm_bf16_get_stats(const mm_bf16_t *self)
{
    return self->stats;
}

void mm_bf16_note_fallback(mm_bf16_t *self, const fp_error *why)
{
    if (self->stats.fallbacks++ == 0)
        snprintf(self->stats.first_failure, sizeof self->stats.first_failure, "%s", why->msg);
}

/* The memory descriptors of key, with m rows (DNNL_RUNTIME_DIM_VAL: given at run time):
 * src, weights, dst and (when k->bias) the bias row. */
static dnnl_status_t describe(const mm_key *k, dnnl_dim_t m, dnnl_memory_desc_t md[4])
{
    dnnl_status_t s = dnnl_success;
    for (int i = 0; i < 3 && s == dnnl_success; i++) {
        dnnl_dims_t dims = {k->dims[i][0], k->dims[i][1]},
                    strides = {k->strides[i][0], k->strides[i][1]};
        if (i != 1) /* src and dst have the rows */
            dims[0] = m;
        s = dnnl_memory_desc_init_by_strides(&md[i], 2, dims, i == 2 ? dnnl_f32 : dnnl_bf16,
                                             strides);
    }
    if (s == dnnl_success && k->bias) {
        const dnnl_dims_t bd = {1, k->dims[1][1]}, bs = {k->dims[1][1], 1};
        s = dnnl_memory_desc_init_by_strides(&md[3], 2, bd, dnnl_f32, bs);
    }
    return s;
}

/* A new matmul primitive for key (accumulation is a sum post-op: dst = dst + src·wei). */
static dnnl_status_t create(const mm_bf16_t *self, const mm_key *k, dnnl_primitive_t *prim)
{
    dnnl_memory_desc_t md[4];
    dnnl_matmul_desc_t desc;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t s = describe(k, k->dims[0][0] ? k->dims[0][0] : DNNL_RUNTIME_DIM_VAL, md);
    if (s == dnnl_success)
        s = dnnl_matmul_desc_init(&desc, &md[0], &md[1], k->bias ? &md[3] : NULL, &md[2]);
    if (s == dnnl_success)
        s = dnnl_primitive_attr_create(&attr);
    if (s == dnnl_success && k->accumulate) {
        s = dnnl_post_ops_create(&po);
        if (s == dnnl_success)
            s = dnnl_post_ops_append_sum(po, 1.0f);
        if (s == dnnl_success)
            s = dnnl_primitive_attr_set_post_ops(attr, po);
    }
    if (s == dnnl_success)
        s = dnnl_primitive_desc_create(&pd, &desc, attr, self->engine, NULL);
    if (s == dnnl_success)
        s = dnnl_primitive_create(prim, pd);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (po)
        dnnl_post_ops_destroy(po);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return s;
}

static bool key_equal(const mm_key *a, const mm_key *b)
{
    if (a->accumulate != b->accumulate || a->bias != b->bias || a->threads != b->threads)
        return false;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++)
            if (a->dims[i][j] != b->dims[i][j] || a->strides[i][j] != b->strides[i][j])
                return false;
    return true;
}

/* The primitive for key, made on first use; the least recently used one makes room (never the
 * one just used: mm_bf16_gemm looks up two primitives before running either). */
static fp_status lookup(mm_bf16_t *self, const mm_key *k, dnnl_primitive_t *prim, fp_error *err)
{
    self->tick++;
    int victim = 0;
    for (int i = 0; i < self->n_cache; i++) {
        mm_entry *e = &self->cache[i];
        if (key_equal(&e->key, k)) {
            e->used = self->tick;
            *prim = e->prim;
            return FP_OK;
        }
        if (e->used < self->cache[victim].used)
            victim = i;
    }
    dnnl_primitive_t p;
    dnnl_status_t s = create(self, k, &p);
    if (s != dnnl_success)
        return fp_fail(
            err, FP_ESTATE, "bf16 matmul: oneDNN refuses M %lld K %lld N %lld (status %d)",
            (long long)k->dims[0][0], (long long)k->dims[0][1], (long long)k->dims[1][1], (int)s);
    if (self->n_cache < CACHE_CAP)
        victim = self->n_cache++;
    else
        dnnl_primitive_destroy(self->cache[victim].prim);
    self->cache[victim] = (mm_entry){*k, p, self->tick};
    self->stats.primitives++;
    *prim = p;
    return FP_OK;
}

/* Runs prim on m rows: src x, weights w, dst y (layouts as in k), bias b when k->bias. */
static fp_status run(mm_bf16_t *self, dnnl_primitive_t prim, const mm_key *k, int m, const void *x,
                     const void *w, float *y, const float *b, fp_error *err)
{
    dnnl_memory_desc_t md[4];
    dnnl_memory_t mem[4] = {NULL, NULL, NULL, NULL};
    const int n = k->bias ? 4 : 3;
    dnnl_status_t s = describe(k, m, md);
    /* oneDNN takes non-const handles but only reads SRC, WEIGHTS and BIAS. */
    void *const ptr[4] = {(void *)(uintptr_t)x, (void *)(uintptr_t)w, y, (void *)(uintptr_t)b};
    for (int i = 0; i < n && s == dnnl_success; i++)
        s = dnnl_memory_create(&mem[i], &md[i], self->engine, ptr[i]);
    if (s == dnnl_success) {
        const dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, mem[0]},
                                         {DNNL_ARG_WEIGHTS, mem[1]},
                                         {DNNL_ARG_DST, mem[2]},
                                         {DNNL_ARG_BIAS, mem[3]}};
        s = dnnl_primitive_execute(prim, self->stream, n, args);
    }
    if (s == dnnl_success)
        s = dnnl_stream_wait(self->stream);
    for (int i = 0; i < n; i++)
        if (mem[i])
            dnnl_memory_destroy(mem[i]);
    if (s != dnnl_success)
        return fp_fail(err, FP_ESTATE,
                       "bf16 matmul: oneDNN failed on M %d K %lld N %lld (status %d)", m,
                       (long long)k->dims[0][1], (long long)k->dims[1][1], (int)s);
    return FP_OK;
}

/* One thread count for OpenBLAS and oneDNN (oneDNN's OpenMP reads the calling thread's). */
static int match_threads(void)
{
    const int threads = openblas_get_num_threads();
    if (omp_get_max_threads() != threads)
        omp_set_num_threads(threads);
    return threads;
}

uint16_t *mm_bf16_input(mm_bf16_t *self, int M, int K, fp_error *err)
{
    const size_t need = (size_t)(M > 0 ? M : 0) * (size_t)(K > 0 ? K : 0);
    if (need > self->xb_cap) {
        uint16_t *xb = realloc(self->xb, need * sizeof *xb);
        if (!xb) {
            fp_fail(err, FP_ENOMEM, "bf16 matmul: out of memory for %d x %d", M, K);
            return NULL;
        }
        self->xb = xb;
        self->xb_cap = need;
    }
    return self->xb;
}

fp_status mm_bf16_gemm(mm_bf16_t *self, float *y, int ldy, const float *x, int ldx,
                       mm_bf16_weight W, int M, int K, int N, const float *bias, bool accumulate,
                       fp_error *err)
{
    if (M <= 0)
        return FP_OK;
    uint16_t *xb = mm_bf16_input(self, M, K, err);
    if (!xb)
        return err->status;
    /* the rounding is element-wise: rows split over threads round as one thread would */
    const int threads = par_threads((size_t)M, (size_t)K);
    PAR_FOR(threads)
    for (int m = 0; m < M; m++)
        mm_bf16_from_f32(xb + (size_t)m * K, x + (size_t)m * ldx, (size_t)K);
    return mm_bf16_gemm_input(self, y, ldy, W, M, K, N, bias, accumulate, err);
}

fp_status mm_bf16_gemm_input(mm_bf16_t *self, float *y, int ldy, mm_bf16_weight W, int M, int K,
                             int N, const float *bias, bool accumulate, fp_error *err)
{
    if (M <= 0)
        return FP_OK;
    if ((size_t)M * K > self->xb_cap)
        return fp_fail(err, FP_EINVAL, "bf16 matmul: input buffer holds %zu, not %d x %d",
                       self->xb_cap, M, K);
    const int threads = match_threads();

    /* Both primitives first: a failure to make one (shape refused, memory) leaves y unchanged,
     * so the caller can still compute the product in fp32, even when accumulating. */
    const int main_rows = M - M % M_QUANTUM;
    mm_key k_main = {.dims = {{main_rows, K}, {K, N}, {main_rows, N}},
                     .strides = {{K, 1}, {W.rs, W.cs}, {ldy, 1}},
                     .accumulate = accumulate,
                     .bias = bias != NULL,
                     .threads = threads},
           k_rest = k_main;
    k_rest.dims[0][0] = k_rest.dims[2][0] = 0;
    dnnl_primitive_t p_main = NULL, p_rest = NULL;
    fp_status st = FP_OK;
    if (main_rows > 0)
        st = lookup(self, &k_main, &p_main, err);
    if (!st && main_rows < M)
        st = lookup(self, &k_rest, &p_rest, err);
    if (!st && p_main)
        st = run(self, p_main, &k_main, main_rows, self->xb, W.w, y, bias, err);
    if (!st && p_rest)
        st = run(self, p_rest, &k_rest, M - main_rows, self->xb + (size_t)main_rows * K, W.w,
                 y + (size_t)main_rows * ldy, bias, err);
    if (!st)
        self->stats.calls++;
    return st;
}
