/* bench_step.c — the prompt-tuning step benchmark: fedpep's C step (forward + backward to the
 * deep prompt E, frozen weights) against the same step in PyTorch and against OpenBLAS sgemm,
 * all measured in this one run with the same thread count.
 *
 *   bench_step [--quick] [--shapes small,roberta-base,gpt2-small,use-lite] [--T 64,128]
 *              [--threads 1,2] [--reps N] [--no-torch] [--precision fp32|bf16|both]
 *   env FEDPEP_PYTHON (default /usr/bin/python3), FEDPEP_BENCH_TORCH (default
 *   bench/torch_step.py; run from the repository root).
 *
 * Per (shape, T, threads) it prints: examples/s of the C step in fp32 and with the frozen
 * weights' products in bf16 (model/matmul_bf16.h; where the CPU has bf16 instructions), of
 * PyTorch, and their ratios; the share of each C step's time outside the weight products (the
 * same products timed alone, products_seconds); the fp32 C step's achieved GFLOP/s (analytic count,
 * see step_flops) and its ratio to sgemm GFLOP/s measured on the step's own GEMM shapes; the
 * backward/forward time ratio with all layers tuned and with the upper half tuned. Times are the
 * best of --reps steps after one warm-up (the machine is shared: the best run is the least
 * disturbed one); with 1 thread they are process CPU time, with more wall time (PyTorch's side does
 * the same). Batch 8, random weights. Never asserts on timings and is never part of `make test`. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/rng.h"
#include "common/status.h"
#include "model/blas_kernel.h"
#include "model/matmul_bf16.h"
#include "model/model_config.h"
#include "model/transformer.h"
#include "model/weights.h"

/* After the model headers: OpenBLAS's cblas.h pulls in <complex.h>, whose macro I would
 * rename any field called I declared after it. */
#include <cblas.h>

#define BATCH 8
#define MAX_LIST 8

typedef struct shape {
    const char *name;
    model_arch arch;
    int L, d, H, ff, V, P;
    int d_embed; /* USE-lite: embeddings and block 0 this wide, pre-LN, ReLU, no LM head (the
                    step is scored by a 2-class linear head); 0 otherwise */
} shape;

/* RoBERTa-base, GPT-2 small, a small default-sized encoder (6 layers, d 256), and the default
 * model's own shape (USE-lite: 2 blocks, d_embed 256 → 512, 4 heads, FFN 1536, vocab 8000). */
static const shape SHAPES[] = {
    {"small", MODEL_ARCH_ROBERTA, 6, 256, 4, 1024, 50265, 20, 0},
    {"roberta-base", MODEL_ARCH_ROBERTA, 12, 768, 12, 3072, 50265, 20, 0},
    {"gpt2-small", MODEL_ARCH_GPT2, 12, 768, 12, 3072, 50257, 5, 0},
    {"use-lite", MODEL_ARCH_ROBERTA, 2, 512, 4, 1536, 8000, 20, 256},
};
#define CLASSES 2

/* With one thread the clock is the process's CPU time, so time spent waiting for a core on a
 * shared machine is not counted; with more threads it is wall time (OpenBLAS workers spin while
 * they wait for work, which CPU time would count as work). */
static clockid_t clock_for(int threads)
{
    return threads == 1 ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC;
}

static double now_s(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static model_config config_of(const shape *s, int max_T)
{
    bool enc = s->arch == MODEL_ARCH_ROBERTA;
    model_config c = {
        .arch = s->arch,
        .vocab_size = s->V,
        .max_positions = max_T + s->P + 2,
        .n_layers = s->L,
        .d_model = s->d,
        .n_heads = s->H,
        .d_ff = s->ff,
        .type_vocab_size = enc ? 1 : 0,
        .layer_norm_eps = 1e-5f,
        .pre_ln = !enc,
        .final_ln = !enc,
        .pad_token_id = enc ? 1 : -1,
        .bos_token_id = enc ? 0 : s->V - 1,
        .eos_token_id = enc ? 2 : s->V - 1,
        .mask_token_id = enc ? s->V - 1 : -1,
        .position_offset = enc ? 2 : 0,
    };
    if (s->d_embed) {
        c.d_embed = s->d_embed;
        c.pre_ln = true;
        c.hidden_act = MODEL_ACT_RELU;
        c.no_embedding_ln = true;
        c.prefix_keeps_positions = true;
    }
    return c;
}

/* Rows with an LM target per example: the <mask> row (encoder) or two label tokens (decoder). */
static int rows_per_example(model_arch arch)
{
    return arch == MODEL_ARCH_ROBERTA ? 1 : 2;
}

/* FLOPs the step needs (multiply-add = 2), N = B·T tokens, S = P + T keys per query:
 *   forward, per layer:  8·N·d² (Q,K,V,O) + 4·N·d·f (MLP) + 4·B·T·S·d (scores, A·V)
 *   forward, head at R target rows: RoBERTa 2·R·d² + 2·R·d·V, GPT-2 2·R·d·V
 *   backward (activation gradients only, no weight gradients), per layer above the lowest
 *   tuned one: 8·N·d² + 4·N·d·f + 8·B·T·S·d (dA, dV incl. prefix, dQ, dK incl. prefix);
 *   at the lowest tuned layer nothing below is needed: 2·N·d² + 4·N·d·f + 2·B·T·S·d (dA)
 *   + 4·B·T·P·d (dPK, dPV); head backward = head forward.
 * Causal masking is not discounted (every implementation here computes full score rows).
 * Layer norms, GELU, softmax and embeddings are O(N·d) and left out. */
static void step_flops(const shape *s, int T, int lowest, double *fwd, double *bwd)
{
    const double B = BATCH, N = B * T, d = s->d, f = s->ff, P = s->P, S = P + T, V = s->V;
    const double R = B * rows_per_example(s->arch);
    const double layer_f = 8 * N * d * d + 4 * N * d * f + 4 * B * T * S * d;
    const double head = (s->arch == MODEL_ARCH_ROBERTA ? 2 * R * d * d : 0) + 2 * R * d * V;
    *fwd = s->L * layer_f + head;
    const double layer_b = 8 * N * d * d + 4 * N * d * f + 8 * B * T * S * d;
    const double lowest_b = 2 * N * d * d + 4 * N * d * f + 2 * B * T * S * d + 4 * B * T * P * d;
    *bwd = head + lowest_b + (s->L - lowest - 1) * layer_b;
}

/* sgemm GFLOP/s on the step's dominant GEMMs (QKV, FC, PROJ at M = B·T rows), in the weight
 * orientation of the architecture's checkpoints. */
static double sgemm_gflops(const shape *s, int T, clockid_t clk)
{
    const int M = BATCH * T, d = s->d, f = s->ff;
    const int dims[3][2] = {{d, 3 * d}, {d, f}, {f, d}}; /* in, out */
    const bool trans = s->arch == MODEL_ARCH_ROBERTA;    /* nn.Linear [out][in] */
    float *x = malloc(sizeof(float) * (size_t)M * f),
          *w = malloc(sizeof(float) * (size_t)f * 3 * d);
    float *y = malloc(sizeof(float) * (size_t)M * (f > 3 * d ? f : 3 * d));
    if (!x || !w || !y) {
        free(x), free(w), free(y);
        return NAN;
    }
    for (size_t i = 0; i < (size_t)M * f; i++)
        x[i] = (float)((i * 7919) % 113) / 113.0f - 0.5f;
    for (size_t i = 0; i < (size_t)f * 3 * d; i++)
        w[i] = (float)((i * 104729) % 127) / 127.0f - 0.5f;
    double flops = 0, secs = 0;
    for (int k = 0; k < 3; k++) {
        const int in = dims[k][0], out = dims[k][1];
        /* Best call of at least 6 (and 0.3 s) after a warm-up call that faults pages in and
         * wakes the threads. */
        double best = INFINITY, spent = 0;
        for (int r = 0; r < 7 || (spent < 0.3 && r < 100); r++) {
            double t0 = now_s(clk);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, trans ? CblasTrans : CblasNoTrans, M, out, in,
                        1.0f, x, in, w, trans ? in : out, 0.0f, y, out);
            double t = now_s(clk) - t0;
            spent += t;
            if (r > 0 && t < best)
                best = t;
        }
        flops += 2.0 * M * in * out;
        secs += best;
    }
    free(x), free(w), free(y);
    return flops / secs * 1e-9;
}

/* One model of a shape: weights, prompt, batch and an arena for the longest T. */
typedef struct bench_model {
    shape s;
    model_config cfg;
    tf_weights w;
    float *E, *dE;
    int *tokens, *targets;
    bool *present, *tuned;
    tf_acts_t *acts;
    int labels[BATCH]; /* the linear head of a model without LM head */
    float head_W[CLASSES * 1024], head_b[CLASSES], head_dW[CLASSES * 1024], head_db[CLASSES];
} bench_model;

static void bench_model_free(bench_model *m)
{
    tf_acts_destroy(&m->acts);
    tf_weights_free(&m->w);
    free(m->E), free(m->dE), free(m->tokens), free(m->targets), free(m->present), free(m->tuned);
}

static fp_status bench_model_init(bench_model *m, const shape *s, int max_T, fp_error *err)
{
    memset(m, 0, sizeof *m);
    m->s = *s;
    m->cfg = config_of(s, max_T);
    fp_status st = tf_weights_init_random(&m->w, &m->cfg, 0.02f, 7, err);
    if (st)
        return st;
    const size_t nE = (size_t)s->P * s->L * 2 * s->d, N = (size_t)BATCH * max_T;
    m->E = malloc(nE * sizeof *m->E);
    m->dE = calloc(nE, sizeof *m->dE);
    m->tokens = malloc(N * sizeof *m->tokens);
    m->targets = malloc(N * sizeof *m->targets);
    m->present = malloc((size_t)s->L * sizeof *m->present);
    m->tuned = malloc((size_t)s->L * sizeof *m->tuned);
    if (!m->E || !m->dE || !m->tokens || !m->targets || !m->present || !m->tuned)
        return fp_fail(err, FP_ENOMEM, "bench: out of memory");
    rng_t rng;
    rng_seed(&rng, 11);
    for (size_t i = 0; i < nE; i++)
        m->E[i] = 0.02f * (float)rng_normal(&rng);
    for (int l = 0; l < s->L; l++)
        m->present[l] = true;
    for (int i = 0; i < CLASSES * s->d; i++)
        m->head_W[i] = 0.02f * (float)rng_normal(&rng);
    for (int b = 0; b < BATCH; b++)
        m->labels[b] = b % CLASSES;
    tf_acts_spec spec = {.B = BATCH,
                         .T = max_T,
                         .P = s->P,
                         .saved_layers = s->L,
                         .max_lm_rows = BATCH * rows_per_example(s->arch),
                         .max_classes = CLASSES};
    m->acts = tf_acts_new(&m->cfg, spec, err);
    return m->acts ? FP_OK : err->status;
}

/* Fills a full-length batch of T tokens: RoBERTa <s> … <mask> … </s> with the target at the
 * mask row; GPT-2 with its last two tokens as label tokens. */
static void fill_batch(bench_model *m, int T)
{
    rng_t rng;
    rng_seed(&rng, 13 + (uint64_t)T);
    const int V = m->s.V;
    for (int b = 0; b < BATCH; b++) {
        int *tok = m->tokens + b * T, *tg = m->targets + b * T;
        for (int t = 0; t < T; t++) {
            tok[t] = 3 + (int)rng_below(&rng, (uint64_t)V - 4);
            tg[t] = -1;
        }
        if (m->s.arch == MODEL_ARCH_ROBERTA) {
            tok[0] = 0, tok[T - 1] = 2, tok[T - 3] = V - 1;
            tg[T - 3] = 3 + (int)rng_below(&rng, (uint64_t)V - 4);
        } else {
            tg[T - 3] = tok[T - 2];
            tg[T - 2] = tok[T - 1];
        }
    }
}

/* Seconds of the step's weight products alone (all layers tuned, as time_step with lowest 0):
 * the same linear_*_mm calls, shapes and weights as model/transformer*.c, on scratch buffers,
 * best of 3. 1 − this / the step's time is the share of the step outside the weight products. */
static double products_seconds(const bench_model *m, int T, mm_bf16_t *mm, clockid_t clk)
{
    const shape *s = &m->s;
    const int N = BATCH * T, d = s->d, f = s->ff, L = s->L;
    const bool lm = m->w.has_lm_head || s->arch == MODEL_ARCH_GPT2;
    const int R = lm ? BATCH * rows_per_example(s->arch) : 0;
    const size_t cap = (size_t)N * (f > 3 * d ? f : 3 * d) + (size_t)R * s->V;
    float *x = calloc(cap, sizeof *x), *y = calloc(cap, sizeof *y);
    double best = INFINITY;
    for (int r = 0; x && y && r < 4; r++) {
        const double t0 = now_s(clk);
        for (int l = 0; l < L; l++) {
            const tf_layer_weights *w = &m->w.layers[l];
            const int di = model_layer_width(&m->cfg, l), n = lm && l == L - 1 ? R : N;
            const bool fused = w->k.w == w->q.w + di && w->q.ld == 3 * di;
            linear_forward_mm(mm, y, 3 * di, x, di, w->q, NULL, N, di, fused ? 3 * di : di, false);
            if (!fused) {
                linear_forward_mm(mm, y + di, 3 * di, x, di, w->k, NULL, N, di, di, false);
                linear_forward_mm(mm, y + 2 * di, 3 * di, x, di, w->v, NULL, N, di, di, false);
            }
            linear_forward_mm(mm, y, d, x, di, w->o, NULL, n, di, d, false);
            if (w->in_proj.w)
                linear_forward_mm(mm, y, d, x, di, w->in_proj, NULL, n, di, d, true);
            linear_forward_mm(mm, y, f, x, d, w->fc, NULL, n, d, f, false);
            linear_forward_mm(mm, y, d, x, f, w->proj, NULL, n, f, d, false);
            /* backward: dx of every product; the lowest tuned layer needs no dx below Q/K/V */
            linear_backward_input_mm(mm, y, f, x, d, w->proj, n, f, d, false);
            linear_backward_input_mm(mm, y, d, x, f, w->fc, n, d, f, false);
            linear_backward_input_mm(mm, y, di, x, d, w->o, n, di, d, false);
            if (w->in_proj.w)
                linear_backward_input_mm(mm, y, di, x, d, w->in_proj, n, di, d, true);
            if (l > 0)
                linear_backward_input_mm(mm, y, di, x, 3 * di, w->q, N, di, 3 * di, false);
        }
        if (lm) { /* head at the target rows, forward and backward */
            const lin_w dec = {m->w.wte, d, LIN_OUT_IN, m->w.wte16};
            if (s->arch == MODEL_ARCH_ROBERTA) {
                linear_forward_mm(mm, y, d, x, d, m->w.head_dense, NULL, R, d, d, false);
                linear_backward_input_mm(mm, y, d, x, d, m->w.head_dense, R, d, d, false);
            }
            linear_forward_mm(mm, y, s->V, x, d, dec, NULL, R, d, s->V, false);
            linear_backward_input_mm(mm, y, d, x, s->V, dec, R, d, s->V, false);
        }
        const double t = now_s(clk) - t0;
        if (r > 0 && t < best) /* the first run makes the primitives */
            best = t;
    }
    free(x), free(y);
    return best;
}

/* Best forward and backward seconds over reps steps (after one warm-up) with layers
 * [lowest, L) tuned. */
static fp_status time_step(bench_model *m, int T, int lowest, int reps, clockid_t clk,
                           double *fwd_s, double *bwd_s, fp_error *err)
{
    for (int l = 0; l < m->s.L; l++)
        m->tuned[l] = l >= lowest;
    tf_prompt prompt = {
        .P = m->s.P, .E = m->E, .present = m->present, .trainable = m->tuned, .dE = m->dE};
    const bool lm = m->w.has_lm_head || m->s.arch == MODEL_ARCH_GPT2;
    tf_batch batch = {.B = BATCH,
                      .T = T,
                      .tokens = m->tokens,
                      .targets = lm ? m->targets : NULL,
                      .labels = lm ? NULL : m->labels};
    tf_cls_head head = {CLASSES, m->head_W, m->head_b, m->head_dW, m->head_db};
    tf_options opt = {.grad = true};
    tf_result res;
    *fwd_s = *bwd_s = INFINITY;
    for (int r = 0; r <= reps; r++) {
        double t0 = now_s(clk);
        fp_status st = tf_forward(m->acts, &m->cfg, &m->w, &prompt, lm ? NULL : &head, &batch, &opt,
                                  &res, err);
        double t1 = now_s(clk);
        if (st || (st = tf_backward(m->acts, err)))
            return st;
        double t2 = now_s(clk);
        if (!isfinite(res.loss))
            return fp_fail(err, FP_ENUMERIC, "bench: loss is %g", res.loss);
        if (r == 0)
            continue;
        if (t1 - t0 < *fwd_s)
            *fwd_s = t1 - t0;
        if (t2 - t1 < *bwd_s)
            *bwd_s = t2 - t1;
    }
    return FP_OK;
}

/* Runs bench/torch_step.py for one shape with every T and thread count, in float32 or under
 * bf16 autocast; fills eps[t][th] (examples/s) or leaves NAN where it did not report. */
static void torch_examples_per_s(const shape *s, const int *Ts, int nT, const int *ths, int nth,
                                 int reps, bool autocast, double eps[MAX_LIST][MAX_LIST])
{
    for (int i = 0; i < MAX_LIST; i++)
        for (int j = 0; j < MAX_LIST; j++)
            eps[i][j] = NAN;
    const char *py = getenv("FEDPEP_PYTHON") ? getenv("FEDPEP_PYTHON") : "/usr/bin/python3";
    const char *script =
        getenv("FEDPEP_BENCH_TORCH") ? getenv("FEDPEP_BENCH_TORCH") : "bench/torch_step.py";
    char tlist[64] = "", hlist[64] = "", cmd[1024];
    for (int i = 0; i < nT; i++)
        snprintf(tlist + strlen(tlist), sizeof tlist - strlen(tlist), "%s%d", i ? "," : "", Ts[i]);
    for (int i = 0; i < nth; i++)
        snprintf(hlist + strlen(hlist), sizeof hlist - strlen(hlist), "%s%d", i ? "," : "", ths[i]);
    snprintf(cmd, sizeof cmd,
             "%s %s --arch %s --L %d --d %d --H %d --ff %d --V %d --P %d --B %d --T %s "
             "--threads %s --steps %d --min-time 0 --autocast %s",
             py, script, s->arch == MODEL_ARCH_ROBERTA ? "roberta" : "gpt2", s->L, s->d, s->H,
             s->ff, s->V, s->P, BATCH, tlist, hlist, reps, autocast ? "bf16" : "none");
    FILE *p = popen(cmd, "r");
    if (!p) {
        fprintf(stderr, "bench: cannot run %s\n", cmd);
        return;
    }
    char line[512];
    while (fgets(line, sizeof line, p)) {
        int T, th;
        double v;
        const char *a = strstr(line, "T="), *b = strstr(line, "threads="),
                   *c = strstr(line, "examples_per_s=");
        if (!a || !b || !c || sscanf(a, "T=%d", &T) != 1 || sscanf(b, "threads=%d", &th) != 1 ||
            sscanf(c, "examples_per_s=%lf", &v) != 1)
            continue;
        for (int i = 0; i < nT; i++)
            for (int j = 0; j < nth; j++)
                if (Ts[i] == T && ths[j] == th)
                    eps[i][j] = v;
    }
    if (pclose(p) != 0)
        fprintf(stderr, "bench: PyTorch side failed (%s); its columns show nan\n", cmd);
}

static int parse_list(const char *s, int *out)
{
    int n = 0;
    while (*s && n < MAX_LIST) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v <= 0)
            return -1;
        out[n++] = (int)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return n;
}

/* Whether name is one of the comma-separated items of list ("small" is not in "gpt2-small"). */
static bool in_list(const char *list, const char *name)
{
    const size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [--quick] [--shapes small,roberta-base,gpt2-small,use-lite] [--T 64,128] "
            "[--threads 1,2] [--reps N] [--no-torch] [--precision fp32|bf16|both]\n",
            prog);
}

int main(int argc, char **argv)
{
    blas_use_native_kernel(argv); /* the kernels fedpep itself runs (model/blas_kernel.h) */
    const char *shapes = "small,roberta-base,gpt2-small,use-lite";
    int Ts[MAX_LIST] = {64, 128}, nT = 2, ths[MAX_LIST] = {1, 2}, nth = 2, reps = 2;
    bool torch = true;
    int first_precision = 0, last_precision = 1; /* 0 fp32, 1 bf16 */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) {
            shapes = "small", nT = 1, nth = 1, Ts[0] = 64, ths[0] = 1;
        } else if (!strcmp(a, "--no-torch")) {
            torch = false;
        } else if (!strcmp(a, "--precision") && v) {
            first_precision = strcmp(v, "bf16") == 0;
            last_precision = strcmp(v, "fp32") != 0;
            i++;
        } else if (!strcmp(a, "--shapes") && v) {
            shapes = v, i++;
        } else if (!strcmp(a, "--T") && v) {
            nT = parse_list(v, Ts), i++;
        } else if (!strcmp(a, "--threads") && v) {
            nth = parse_list(v, ths), i++;
        } else if (!strcmp(a, "--reps") && v) {
            reps = atoi(v), i++;
        } else {
            usage(argv[0]);
            return 2;
        }
        if (nT <= 0 || nth <= 0 || reps <= 0) {
            usage(argv[0]);
            return 2;
        }
    }
    int max_T = 0;
    for (int i = 0; i < nT; i++)
        max_T = Ts[i] > max_T ? Ts[i] : max_T;

    printf("prompt-tuning step: batch %d, forward + backward to E only, frozen weights, best of "
           "%d steps\n",
           BATCH, reps);
    /* The machine may be shared: say how busy it was, since that bounds what the figures mean. */
    FILE *la = fopen("/proc/loadavg", "r");
    char load[128];
    if (la && fgets(load, sizeof load, la))
        printf("load average at start: %s", load);
    if (la)
        fclose(la);
    /* C16/pt16: C bf16 over PyTorch bf16-autocast; C16/pt32: C bf16 over PyTorch fp32 */
    printf("%-12s %4s %3s | %7s %7s %5s | %7s %7s %5s %5s %5s | %5s %5s | %6s %6s %5s | %7s "
           "%7s\n",
           "shape", "T", "thr", "C fp32", "C bf16", "bf/fp", "pt fp32", "pt bf16", "C/pt", "C16/",
           "C16/", "out%", "out%", "C GF/s", "sgemm", "C/sg", "bwd/fwd", "bwd/fwd");
    printf("%-12s %4s %3s | %7s %7s %5s | %7s %7s %5s %5s %5s | %5s %5s | %6s %6s %5s | %7s "
           "%7s\n",
           "", "", "", "ex/s", "ex/s", "", "ex/s", "ex/s", "fp32", "pt16", "pt32", "fp32", "bf16",
           "fp32", "GF/s", "", "all", "half");
    int status = 0;
    char isa[32];
    const bool bf16 = mm_bf16_supported(isa, sizeof isa);
    printf("oneDNN ISA: %s%s\n", isa, bf16 ? "" : " (no bf16: the bf16 column is not measured)");
    for (size_t k = 0; k < sizeof SHAPES / sizeof *SHAPES; k++) {
        const shape *s = &SHAPES[k];
        if (!in_list(shapes, s->name))
            continue;
        bench_model m;
        fp_error err = {0};
        double pt[2][MAX_LIST][MAX_LIST], eps[2][MAX_LIST][MAX_LIST], out[2][MAX_LIST][MAX_LIST];
        double gf[MAX_LIST][MAX_LIST], sg[MAX_LIST][MAX_LIST];
        double r_all[MAX_LIST][MAX_LIST], r_half[MAX_LIST][MAX_LIST];
        mm_bf16_t *mm = bf16 ? mm_bf16_new(&err) : NULL;
        if ((bf16 && !mm) || bench_model_init(&m, s, max_T, &err)) {
            fprintf(stderr, "bench %s: %s\n", s->name, err.msg);
            bench_model_free(&m);
            mm_bf16_destroy(&mm);
            status = 1;
            continue;
        }
        /* fp32 first, then the same weights with their bf16 copies */
        for (int i = 0; i < MAX_LIST; i++)
            for (int j = 0; j < MAX_LIST; j++)
                eps[0][i][j] = eps[1][i][j] = out[0][i][j] = out[1][i][j] = gf[i][j] = sg[i][j] =
                    r_all[i][j] = r_half[i][j] = NAN;
        for (int p = 0; p <= last_precision; p++) {
            if (p < first_precision)
                continue;
            if (p == 1 && (!bf16 || tf_weights_to_bf16(&m.w, &m.cfg, &err))) {
                for (int i = 0; i < MAX_LIST; i++)
                    for (int j = 0; j < MAX_LIST; j++)
                        eps[1][i][j] = out[1][i][j] = NAN;
                break;
            }
            for (int i = 0; i < nT; i++) {
                fill_batch(&m, Ts[i]);
                for (int j = 0; j < nth; j++) {
                    openblas_set_num_threads(ths[j]);
                    double fa, ba, fh, bh, flf, flb;
                    const clockid_t clk = clock_for(ths[j]);
                    if (time_step(&m, Ts[i], 0, reps, clk, &fa, &ba, &err) ||
                        time_step(&m, Ts[i], s->L / 2, reps, clk, &fh, &bh, &err)) {
                        fprintf(stderr, "bench %s: %s\n", s->name, err.msg);
                        status = 1;
                        fa = ba = fh = bh = NAN;
                    }
                    eps[p][i][j] = BATCH / (fa + ba);
                    out[p][i][j] =
                        1.0 - products_seconds(&m, Ts[i], p ? mm : NULL, clk) / (fa + ba);
                    if (p == 1)
                        continue;
                    step_flops(s, Ts[i], 0, &flf, &flb);
                    gf[i][j] = (flf + flb) / (fa + ba) * 1e-9;
                    sg[i][j] = sgemm_gflops(s, Ts[i], clk);
                    r_all[i][j] = ba / fa;
                    r_half[i][j] = bh / fh;
                }
            }
        }
        const mm_bf16_stats st = tf_acts_bf16_stats(m.acts);
        if (st.fallbacks)
            fprintf(stderr, "bench %s: %zu bf16 products fell back to fp32: %s\n", s->name,
                    st.fallbacks, st.first_failure);
        printf("%-12s bf16 copies %.1f MB, %zu primitives\n", s->name, m.w.bf16_bytes / 1e6,
               st.primitives);
        bench_model_free(&m); /* free the C model before PyTorch loads its own copy */
        mm_bf16_destroy(&mm);
        /* tests/reference/torch_model.py has no d_embed < d (USE-lite's block 0) */
        for (int p = 0; p < 2; p++)
            if (torch && !s->d_embed && p >= first_precision && p <= last_precision)
                torch_examples_per_s(s, Ts, nT, ths, nth, reps, p == 1, pt[p]);
            else
                for (int i = 0; i < MAX_LIST; i++)
                    for (int j = 0; j < MAX_LIST; j++)
                        pt[p][i][j] = NAN;
        for (int i = 0; i < nT; i++)
            for (int j = 0; j < nth; j++)
                printf("%-12s %4d %3d | %7.2f %7.2f %5.2f | %7.2f %7.2f %5.2f %5.2f %5.2f | %5.1f "
                       "%5.1f | %6.1f %6.1f %5.2f | %7.2f %7.2f\n",
                       s->name, Ts[i], ths[j], eps[0][i][j], eps[1][i][j],
                       eps[1][i][j] / eps[0][i][j], pt[0][i][j], pt[1][i][j],
                       eps[0][i][j] / pt[0][i][j], eps[1][i][j] / pt[1][i][j],
                       eps[1][i][j] / pt[0][i][j], 100 * out[0][i][j], 100 * out[1][i][j], gf[i][j],
                       sg[i][j], gf[i][j] / sg[i][j], r_all[i][j], r_half[i][j]);
        fflush(stdout);
    }
    printf(
        "targets (issue 17): C16/pt16 >= 2 with AMX, >= 1.5 without; C16/pt32 >= 4; C/sg >= "
        "0.6; bwd/fwd half <= 1.3 (shapes: small = RoBERTa-style L6 d256 H4 f1024 P20; "
        "roberta-base P20; gpt2-small P5; V ~50k; use-lite L2 d 256->512 H4 f1536 ReLU P20 "
        "V 8000, linear head, its GF/s counts every block at d = 512 and an LM head it lacks)\n");
    return status;
}
