/* server.c — FedAvg, FedPepTAO's control-variate momentum step, FedAvgM, FedAdam/Yogi/Adagrad
 * and the SCAFFOLD server, with byte-exact state blobs (see server.h and docs/fl.md).
 *
 * Every update is element-wise, so a round is one pass over the coordinates with the
 * uploads in the inner loop; all arithmetic is in double, the state is stored in float. */
#include "server.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "client_step.h"

#define SERVER_MAGIC "FPSV"
#define SERVER_VERSION 1u
/* Stream tags for rng_derive, so the purposes never share numbers. */
#define STREAM_SAMPLE 0x53414d50u /* "SAMP" */
#define STREAM_SERVER 0x53455256u /* "SERV" */

fl_server_config fl_server_config_defaults(fl_server_opt opt)
{
    fl_server_config c = {.opt = opt,
                          .variant = FL_STEP_PARALLEL,
                          .mu = 0.9,
                          .eta_s0 = 0.05,
                          .eta_s_decay = 0.99,
                          .eta_s_min = 1e-4,
                          .client_lr = 0.04,
                          .server_lr = 1.0,
                          .beta1 = 0.9,
                          .beta2 = 0.99,
                          .tau = 1e-3};
    if (opt == FL_SERVER_ADAM || opt == FL_SERVER_YOGI || opt == FL_SERVER_ADAGRAD)
        c.server_lr = 0.01;
    return c;
}

static int is_adaptive(fl_server_opt opt)
{
    return opt == FL_SERVER_ADAM || opt == FL_SERVER_YOGI || opt == FL_SERVER_ADAGRAD;
}

/* Allocates the buffers of a state; every float zeroed. */
static fl_server_t *server_alloc(fl_server_opt opt, size_t dim, int n_clients, int with_c_k)
{
    if (dim == 0 || n_clients < 1 || (unsigned)opt >= FL_SERVER_OPT_COUNT)
        return NULL;
    size_t per_client = with_c_k ? (size_t)n_clients : 0;
    if (per_client && dim > SIZE_MAX / sizeof(float) / (5 + per_client))
        return NULL;
    fl_server_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    float *all = calloc((5 + per_client) * dim, sizeof *all);
    if (!all) {
        free(self);
        return NULL;
    }
    self->opt = opt;
    self->dim = dim;
    self->n_clients = n_clients;
    self->w = all;
    self->m = all + dim;
    self->c = all + 2 * dim;
    self->delta_prev = all + 3 * dim;
    self->v = all + 4 * dim;
    self->c_k = per_client ? all + 5 * dim : NULL;
    return self;
}

fl_server_t *fl_server_new(const fl_server_config *cfg, size_t dim, int n_clients, uint64_t seed,
                           const float *w0)
{
    fl_server_t *self = server_alloc(cfg->opt, dim, n_clients, cfg->opt == FL_SERVER_MOMENTUM_CV);
    if (!self)
        return NULL;
    self->seed = seed;
    self->eta_s = cfg->eta_s0;
    rng_derive(&self->rng, seed, STREAM_SERVER, 0);
    memcpy(self->w, w0, dim * sizeof *self->w);
    if (is_adaptive(cfg->opt))
        for (size_t i = 0; i < dim; i++)
            self->v[i] = (float)(cfg->tau * cfg->tau);
    return self;
}

void fl_server_destroy(fl_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->w); /* the one allocation of every buffer */
    free(*self_p);
    *self_p = NULL;
}

/* Checks everything a round needs before anything changes. */
static fp_status validate(const fl_server_t *self, const fl_server_config *cfg, const fl_upload *up,
                          int n, fp_error *err)
{
    if (cfg->opt != self->opt)
        return fp_fail(err, FP_ESTATE, "server round: state is for optimizer %d, config says %d",
                       (int)self->opt, (int)cfg->opt);
    if (n < 1)
        return fp_fail(err, FP_EINVAL, "server round: no uploads to aggregate");
    int needs_steps = self->opt == FL_SERVER_MOMENTUM_CV;
    if (needs_steps && !(cfg->client_lr > 0))
        return fp_fail(err, FP_EINVAL, "server round: client_lr must be > 0");
    for (int k = 0; k < n; k++) {
        if (up[k].client < 0 || up[k].client >= self->n_clients)
            return fp_fail(err, FP_EINVAL, "upload %d: client %d not in [0, %d)", k, up[k].client,
                           self->n_clients);
        for (int j = 0; j < k; j++)
            if (up[j].client == up[k].client)
                return fp_fail(err, FP_EINVAL, "upload %d: client %d uploaded twice", k,
                               up[k].client);
        if (up[k].n_samples <= 0)
            return fp_fail(err, FP_EINVAL, "upload %d (client %d): n_samples %lld <= 0", k,
                           up[k].client, (long long)up[k].n_samples);
        if (needs_steps && up[k].steps <= 0)
            return fp_fail(err, FP_EINVAL, "upload %d (client %d): local steps %lld <= 0", k,
                           up[k].client, (long long)up[k].steps);
        if (!up[k].theta)
            return fp_fail(err, FP_EINVAL, "upload %d (client %d): no rows", k, up[k].client);
        if (self->opt == FL_SERVER_SCAFFOLD && !up[k].delta_c)
            return fp_fail(err, FP_EINVAL, "upload %d (client %d): SCAFFOLD needs delta_c", k,
                           up[k].client);
        for (size_t i = 0; i < self->dim; i++)
            if (!isfinite(up[k].theta[i]) ||
                (self->opt == FL_SERVER_SCAFFOLD && !isfinite(up[k].delta_c[i])))
                return fp_fail(err, FP_ENUMERIC, "upload %d (client %d): value %zu not finite", k,
                               up[k].client, i);
    }
    return FP_OK;
}

/* FedPepTAO §4 steps 3–5 at coordinate i, given w̄_i and Δ_i; p[k] = n_k / Σ n, k_sum = Σ K_k. */
static void momentum_cv_coordinate(fl_server_t *self, const fl_server_config *cfg,
                                   const fl_upload *up, int n, const double *p, double k_sum,
                                   int momentum_step, size_t i, double wbar, double delta)
{
    size_t dim = self->dim;
    double c_old = self->c[i];
    /* Step 3: c_k⁺ = c_k − c + (w_t − θ_k)/(K_k η_l); c⁺ = c + (|S|/N) Σ K_k (c_k⁺ − c_k)/Σ K_k. */
    double acc = 0.0;
    for (int k = 0; k < n; k++) {
        float *ck = &self->c_k[(size_t)up[k].client * dim + i];
        float next;
        fl_scaffold_variate(ck, &self->c[i], &self->w[i], &up[k].theta[i], (long)up[k].steps,
                            cfg->client_lr, &next, 1);
        acc += (double)up[k].steps * ((double)next - (double)*ck);
        *ck = next;
    }
    double c_new = c_old + ((double)n / self->n_clients) * acc / k_sum;
    self->c[i] = (float)c_new;
    c_new = self->c[i];   /* use the stored (float) value, as a restored run would */
    if (!momentum_step) { /* Step 4, round 0: w ← w̄, Δ_prev ← Δ_0. */
        self->w[i] = (float)wbar;
        self->delta_prev[i] = (float)delta;
        return;
    }
    /* Step 5: g = Δ_prev − Δ_t; M_k = μ m + (1 − μ) g + c⁺ − c_k⁺; w ← w̄ − η_s Σ p_k M_k. */
    double g = (double)self->delta_prev[i] - delta;
    self->delta_prev[i] = (float)delta;
    double mu = cfg->mu, m = self->m[i], mbar = 0.0, chain = m;
    for (int k = 0; k < n; k++) {
        double ck = self->c_k[(size_t)up[k].client * dim + i];
        double start = cfg->variant == FL_STEP_SEQUENTIAL ? chain : m;
        chain = mu * start + (1.0 - mu) * g;
        if (!cfg->no_control_variates) /* added in this order, as before the ablation existed */
            chain = chain + c_new - ck;
        mbar += p[k] * chain;
    }
    self->m[i] = (float)mbar;
    self->w[i] = (float)(wbar - self->eta_s * mbar);
}

/* The baselines' optimizers at coordinate i. */
static void baseline_coordinate(fl_server_t *self, const fl_server_config *cfg, const fl_upload *up,
                                int n, const double *p, size_t i, double wbar, double delta)
{
    double eta = cfg->server_lr, b1 = cfg->beta1, b2 = cfg->beta2;
    double d = -delta; /* Reddi's Δ = w̄ − w, an ascent direction for w */
    switch (self->opt) {
    case FL_SERVER_FEDAVG:
        self->w[i] = (float)wbar;
        break;
    case FL_SERVER_AVGM: {
        double m = b1 * self->m[i] + delta;
        self->m[i] = (float)m;
        self->w[i] = (float)(self->w[i] - eta * (double)self->m[i]);
        break;
    }
    case FL_SERVER_ADAM:
    case FL_SERVER_YOGI:
    case FL_SERVER_ADAGRAD: {
        double m = b1 * self->m[i] + (1.0 - b1) * d, v = self->v[i], d2 = d * d;
        if (self->opt == FL_SERVER_ADAM)
            v = b2 * v + (1.0 - b2) * d2;
        else if (self->opt == FL_SERVER_YOGI)
            v = v - (1.0 - b2) * d2 * (v > d2 ? 1.0 : v < d2 ? -1.0 : 0.0);
        else
            v = v + d2;
        self->m[i] = (float)m;
        self->v[i] = (float)v;
        self->w[i] =
            (float)(self->w[i] + eta * (double)self->m[i] / (sqrt((double)self->v[i]) + cfg->tau));
        break;
    }
    case FL_SERVER_SCAFFOLD: {
        /* c ← c + (|S|/N) Σ p_k Δc_k: with equal n_k this is Karimireddy et al.'s
         * c + (1/N) Σ Δc_k; with unequal n_k it keeps c = Σ p_k c_k, so the fixed point is the
         * optimum of the n-weighted objective FedAvg aggregates for. */
        double dc = 0.0;
        for (int k = 0; k < n; k++)
            dc += p[k] * up[k].delta_c[i];
        self->c[i] = (float)(self->c[i] + (double)n / self->n_clients * dc);
        self->w[i] = (float)(self->w[i] + eta * (wbar - self->w[i]));
        break;
    }
    default:
        break;
    }
}

fp_status fl_server_round(fl_server_t *self, const fl_server_config *cfg, const fl_upload *up,
                          int n, fp_error *err)
{
    fp_status st = validate(self, cfg, up, n, err);
    if (st)
        return st;
    double *p = malloc((size_t)n * sizeof *p);
    if (!p)
        return fp_fail(err, FP_ENOMEM, "server round: out of memory");
    double n_sum = 0.0, k_sum = 0.0;
    for (int k = 0; k < n; k++) {
        n_sum += (double)up[k].n_samples;
        k_sum += (double)up[k].steps;
    }
    for (int k = 0; k < n; k++)
        p[k] = (double)up[k].n_samples / n_sum;
    int momentum_step = 0;
    if (self->opt == FL_SERVER_MOMENTUM_CV && self->has_prev) {
        momentum_step = 1;
        self->eta_s = fmax(cfg->eta_s_decay * self->eta_s, cfg->eta_s_min);
    }
    for (size_t i = 0; i < self->dim; i++) {
        double wbar = 0.0;
        for (int k = 0; k < n; k++)
            wbar += p[k] * (double)up[k].theta[i];
        double delta = (double)self->w[i] - wbar;
        if (self->opt == FL_SERVER_MOMENTUM_CV)
            momentum_cv_coordinate(self, cfg, up, n, p, k_sum, momentum_step, i, wbar, delta);
        else
            baseline_coordinate(self, cfg, up, n, p, i, wbar, delta);
    }
    if (self->opt == FL_SERVER_MOMENTUM_CV)
        self->has_prev = 1;
    self->round++;
    free(p);
    return FP_OK;
}

fp_status fl_server_sample(const fl_server_t *self, uint64_t round, int k, int *out, fp_error *err)
{
    rng_t r;
    rng_derive(&r, self->seed, STREAM_SAMPLE, round);
    fp_status st = rng_sample_without_replacement(&r, self->n_clients, k, out);
    if (st)
        return fp_fail(err, st, "cannot sample %d of %d clients", k, self->n_clients);
    return FP_OK;
}

/* The "FPSV" blob (server.h), for fl_blob_measure and fl_blob_build. */
static void server_write(const void *ctx, fl_blob_writer *w)
{
    const fl_server_t *self = ctx;
    fl_blob_put_header(w, SERVER_MAGIC, SERVER_VERSION);
    fl_blob_put_u32(w, (uint32_t)self->opt);
    fl_blob_put_u64(w, self->dim);
    fl_blob_put_u32(w, (uint32_t)self->n_clients);
    fl_blob_put_u64(w, self->seed);
    fl_blob_put_u64(w, self->round);
    fl_blob_put_f64(w, self->eta_s);
    fl_blob_put_u32(w, (uint32_t)self->has_prev);
    for (int i = 0; i < 4; i++)
        fl_blob_put_u64(w, self->rng.s[i]);
    fl_blob_put_u32(w, self->c_k != NULL);
    /* w, m, c, delta_prev, v, c_k are contiguous in that order (server_alloc). */
    fl_blob_put_f32s(w, self->w, 5 * self->dim);
    if (self->c_k)
        fl_blob_put_f32s(w, self->c_k, (size_t)self->n_clients * self->dim);
}

size_t fl_server_blob_size(const fl_server_t *self)
{
    return fl_blob_measure(server_write, self);
}

fp_status fl_server_save(const fl_server_t *self, uint8_t **blob, size_t *len, fp_error *err)
{
    return fl_blob_build(server_write, self, "server", blob, len, err);
}

fp_status fl_server_load(const uint8_t *blob, size_t len, fl_server_t **out, fp_error *err)
{
    fl_blob_reader r = {.buf = blob, .len = len};
    uint32_t opt, n_clients, has_prev, has_c_k;
    uint64_t dim, seed, round, s[4];
    double eta_s;
    fp_status st = fl_blob_get_header(&r, SERVER_MAGIC, SERVER_VERSION, err);
    if (!st)
        st = fl_blob_get_u32(&r, &opt, err);
    if (!st)
        st = fl_blob_get_u64(&r, &dim, err);
    if (!st)
        st = fl_blob_get_u32(&r, &n_clients, err);
    if (!st)
        st = fl_blob_get_u64(&r, &seed, err);
    if (!st)
        st = fl_blob_get_u64(&r, &round, err);
    if (!st)
        st = fl_blob_get_f64(&r, &eta_s, err);
    if (!st)
        st = fl_blob_get_u32(&r, &has_prev, err);
    for (int i = 0; i < 4 && !st; i++)
        st = fl_blob_get_u64(&r, &s[i], err);
    if (!st)
        st = fl_blob_get_u32(&r, &has_c_k, err);
    if (st)
        return st;
    if (opt >= FL_SERVER_OPT_COUNT || n_clients < 1 || n_clients > INT32_MAX || dim == 0 ||
        has_prev > 1 || has_c_k != (opt == FL_SERVER_MOMENTUM_CV))
        return fp_fail(err, FP_EFORMAT, "server blob: inconsistent header (opt %u, N %u, dim %llu)",
                       opt, n_clients, (unsigned long long)dim);
    /* The remaining length must be exactly the floats the header announces. */
    uint64_t rows = 5 + (has_c_k ? (uint64_t)n_clients : 0);
    uint64_t left = len - r.pos;
    if (dim > left / 4 / rows || rows * dim * 4 != left)
        return fp_fail(err, FP_EFORMAT, "server blob: %llu bytes left, header needs %llu floats",
                       (unsigned long long)left, (unsigned long long)(rows * dim));
    fl_server_t *self = server_alloc((fl_server_opt)opt, (size_t)dim, (int)n_clients, has_c_k);
    if (!self)
        return fp_fail(err, FP_ENOMEM, "server: cannot allocate state of %llu floats",
                       (unsigned long long)(rows * dim));
    self->seed = seed;
    self->round = round;
    self->eta_s = eta_s;
    self->has_prev = (int)has_prev;
    memcpy(self->rng.s, s, sizeof s);
    fl_blob_get_f32s(&r, self->w, (size_t)(rows * dim), err);
    *out = self;
    return FP_OK;
}
