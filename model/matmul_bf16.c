/* matmul_bf16.c — bf16 products through oneDNN's matmul primitive; see matmul_bf16.h.
 * Must never write to a weight, and never create a primitive for a shape it already has one
 * for: creating one costs 0.3–2 ms (JIT), running a 512×256×768 product ~0.5 ms. */
#include "model/matmul_bf16.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

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

typedef struct mm_key {
    int M; /* 0: given at run time */
    int K, N, rs, cs, ldy;
    bool accumulate;
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

void mm_bf16_from_f32(uint16_t *restrict dst, const float *restrict src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &src[i], sizeof u);
        /* Round to nearest, ties to even: add 0x7fff plus the bit that becomes the last one. */
        const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
        /* A NaN whose payload sits in the low half would round to Inf: keep it a quiet NaN. */
        const uint32_t nan = (u >> 16) | 0x40u;
        dst[i] = (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
    }
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

/* The memory descriptors of a product of m rows (DNNL_RUNTIME_DIM_VAL: given at run time). */
static dnnl_status_t describe(const mm_key *k, dnnl_dim_t m, dnnl_memory_desc_t *src,
                              dnnl_memory_desc_t *wei, dnnl_memory_desc_t *dst)
{
    const dnnl_dims_t sd = {m, k->K}, ss = {k->K, 1}, wd = {k->K, k->N}, ws = {k->rs, k->cs},
                      dd = {m, k->N}, ds = {k->ldy, 1};
    dnnl_status_t s = dnnl_memory_desc_init_by_strides(src, 2, sd, dnnl_bf16, ss);
    if (s == dnnl_success)
        s = dnnl_memory_desc_init_by_strides(wei, 2, wd, dnnl_bf16, ws);
    if (s == dnnl_success)
        s = dnnl_memory_desc_init_by_strides(dst, 2, dd, dnnl_f32, ds);
    return s;
}

/* A new matmul primitive for key (accumulation is a sum post-op: dst = dst + src·wei). */
static dnnl_status_t create(const mm_bf16_t *self, const mm_key *k, dnnl_primitive_t *prim)
{
    dnnl_memory_desc_t src, wei, dst;
    dnnl_matmul_desc_t desc;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t s = describe(k, k->M ? k->M : DNNL_RUNTIME_DIM_VAL, &src, &wei, &dst);
    if (s == dnnl_success)
        s = dnnl_matmul_desc_init(&desc, &src, &wei, NULL, &dst);
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
    return a->M == b->M && a->K == b->K && a->N == b->N && a->rs == b->rs && a->cs == b->cs &&
           a->ldy == b->ldy && a->accumulate == b->accumulate;
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
        return fp_fail(err, FP_ESTATE, "bf16 matmul: oneDNN refuses M %d K %d N %d (status %d)",
                       k->M, k->K, k->N, (int)s);
    if (self->n_cache < CACHE_CAP)
        victim = self->n_cache++;
    else
        dnnl_primitive_destroy(self->cache[victim].prim);
    self->cache[victim] = (mm_entry){*k, p, self->tick};
    self->stats.primitives++;
    *prim = p;
    return FP_OK;
}

/* Runs prim on m rows: xb [m][K] bf16, y [m][N] (stride k->ldy). */
static fp_status run(mm_bf16_t *self, dnnl_primitive_t prim, const mm_key *k, int m,
                     const uint16_t *xb, const uint16_t *w, float *y, fp_error *err)
{
    dnnl_memory_desc_t src, wei, dst;
    dnnl_memory_t mem[3] = {NULL, NULL, NULL};
    dnnl_status_t s = describe(k, m, &src, &wei, &dst);
    /* oneDNN takes non-const handles but only reads SRC and WEIGHTS. */
    if (s == dnnl_success)
        s = dnnl_memory_create(&mem[0], &src, self->engine, (void *)xb);
    if (s == dnnl_success)
        s = dnnl_memory_create(&mem[1], &wei, self->engine, (void *)w);
    if (s == dnnl_success)
        s = dnnl_memory_create(&mem[2], &dst, self->engine, y);
    if (s == dnnl_success) {
        const dnnl_exec_arg_t args[3] = {
            {DNNL_ARG_SRC, mem[0]}, {DNNL_ARG_WEIGHTS, mem[1]}, {DNNL_ARG_DST, mem[2]}};
        s = dnnl_primitive_execute(prim, self->stream, 3, args);
    }
    if (s == dnnl_success)
        s = dnnl_stream_wait(self->stream);
    for (int i = 0; i < 3; i++)
        if (mem[i])
            dnnl_memory_destroy(mem[i]);
    if (s != dnnl_success)
        return fp_fail(err, FP_ESTATE, "bf16 matmul: oneDNN failed on M %d K %d N %d (status %d)",
                       m, k->K, k->N, (int)s);
    return FP_OK;
}

fp_status mm_bf16_gemm(mm_bf16_t *self, float *y, int ldy, const float *x, int ldx,
                       mm_bf16_weight W, int M, int K, int N, bool accumulate, fp_error *err)
{
    if (M <= 0)
        return FP_OK;
    const size_t need = (size_t)M * K;
    if (need > self->xb_cap) {
        uint16_t *xb = realloc(self->xb, need * sizeof *xb);
        if (!xb)
            return fp_fail(err, FP_ENOMEM, "bf16 matmul: out of memory for %d x %d", M, K);
        self->xb = xb;
        self->xb_cap = need;
    }
    for (int m = 0; m < M; m++)
        mm_bf16_from_f32(self->xb + (size_t)m * K, x + (size_t)m * ldx, (size_t)K);
    /* One thread count for OpenBLAS and oneDNN (oneDNN's OpenMP reads the calling thread's). */
    const int threads = openblas_get_num_threads();
    if (omp_get_max_threads() != threads)
        omp_set_num_threads(threads);

    /* Both primitives first: a failure to make one (shape refused, memory) leaves y unchanged,
     * so the caller can still compute the product in fp32, even when accumulating. */
    const int main_rows = M - M % M_QUANTUM;
    mm_key k_main = {main_rows, K, N, W.rs, W.cs, ldy, accumulate}, k_rest = k_main;
    k_rest.M = 0;
    dnnl_primitive_t p_main = NULL, p_rest = NULL;
    fp_status st = FP_OK;
    if (main_rows > 0)
        st = lookup(self, &k_main, &p_main, err);
    if (!st && main_rows < M)
        st = lookup(self, &k_rest, &p_rest, err);
    if (!st && p_main)
        st = run(self, p_main, &k_main, main_rows, self->xb, W.w, y, err);
    if (!st && p_rest)
        st = run(self, p_rest, &k_rest, M - main_rows, self->xb + (size_t)main_rows * K, W.w,
                 y + (size_t)main_rows * ldy, err);
    if (!st)
        self->stats.calls++;
    return st;
}
