/* distill_step.c — the arithmetic of a distillation run (distill_job.h): batches of an epoch,
 * the teacher's targets, the student's loss, one clipped AdamW step, the held-out figures. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "fl/adamw.h"
#include "train/distill_job.h"

enum { STAT_SENTENCES = 2000, SORT_WINDOW = 50 };
/* rng_derive tag of an epoch's order */
enum { TAG_EPOCH = 0x45504f43 };

static fp_status teacher_forward(distill_job *r, int B, int T, fp_error *err)
{
    tf_batch batch = {B, T, r->tokens, r->mask, NULL, NULL};
    tf_options opt = {0};
    tf_result res;
    return tf_forward(r->t_acts, &r->teacher->cfg, &r->teacher->w, NULL, NULL, &batch, &opt, &res,
                      err);
}

/* Lays sentences idx[0..B) of q into tokens/mask; returns T (the longest). */
static int fill_batch(distill_job *r, const distill_seqs *q, const int *idx, int B)
{
    int T = 1;
    for (int b = 0; b < B; b++)
        if ((int)distill_seq_len(q, (size_t)idx[b]) > T)
            T = (int)distill_seq_len(q, (size_t)idx[b]);
    const int pad = r->teacher->cfg.pad_token_id;
    for (int b = 0; b < B; b++) {
        const int *ids = q->ids + q->start[idx[b]];
        int n = (int)distill_seq_len(q, (size_t)idx[b]);
        for (int t = 0; t < T; t++) {
            r->tokens[b * T + t] = t < n ? ids[t] : pad;
            r->mask[b * T + t] = t < n;
        }
    }
    return T;
}

fp_status distill_standardisation(distill_job *r, fp_error *err)
{
    const int dt = r->teacher->cfg.d_model, B = r->o->batch;
    const size_t n = r->text.train.n < STAT_SENTENCES ? r->text.train.n : STAT_SENTENCES;
    double *sum = calloc((size_t)dt, sizeof *sum), *sq = calloc((size_t)dt, sizeof *sq);
    int *idx = malloc((size_t)B * sizeof *idx);
    fp_status st = sum && sq && idx ? FP_OK : fp_fail(err, FP_ENOMEM, "distill: out of memory");
    double rows = 0;
    for (size_t i = 0; !st && i < n; i += (size_t)B) {
        int nb = (int)(n - i < (size_t)B ? n - i : (size_t)B);
        for (int b = 0; b < nb; b++)
            idx[b] = (int)(i + (size_t)b);
        int T = fill_batch(r, &r->text.train, idx, nb);
        st = teacher_forward(r, nb, T, err);
        const float *h = st ? NULL : tf_acts_hidden(r->t_acts);
        for (int k = 0; h && k < nb * T; k++) {
            if (!r->mask[k])
                continue;
            rows++;
            for (int j = 0; j < dt; j++) {
                double v = h[(size_t)k * dt + j];
                sum[j] += v;
                sq[j] += v * v;
            }
        }
    }
    for (int j = 0; !st && j < dt; j++) {
        double m = sum[j] / rows, var = sq[j] / rows - m * m;
        r->st.mu[j] = (float)m;
        r->st.sigma[j] = (float)sqrt(var > 1e-12 ? var : 1e-12);
    }
    free(sum);
    free(sq);
    free(idx);
    return st;
}

/* ---- batches of an epoch: shuffled, sorted by length within windows (little padding), and
 * the batches shuffled again */

typedef struct by_len {
    int len, idx;
} by_len;

static int cmp_by_len(const void *a, const void *b)
{
    const by_len *x = a, *y = b;
    return x->len != y->len ? (x->len > y->len) - (x->len < y->len)
                            : (x->idx > y->idx) - (x->idx < y->idx);
}

static fp_status make_epoch(distill_job *r, uint32_t epoch, fp_error *err)
{
    if (r->order_epoch == epoch)
        return FP_OK;
    const size_t n = r->text.train.n, B = (size_t)r->o->batch, W = SORT_WINDOW * B;
    const size_t nb = (n + B - 1) / B;
    by_len *tmp = malloc(W * sizeof *tmp);
    int *perm = malloc(n * sizeof *perm), *border = malloc(nb * sizeof *border);
    if (!tmp || !perm || !border) {
        free(tmp);
        free(perm);
        free(border);
        return fp_fail(err, FP_ENOMEM, "distill: out of memory");
    }
    rng_t g;
    rng_derive(&g, r->o->seed, TAG_EPOCH, epoch);
    for (size_t i = 0; i < n; i++)
        perm[i] = (int)i;
    rng_shuffle_int(&g, perm, n);
    for (size_t w0 = 0; w0 < n; w0 += W) {
        size_t m = n - w0 < W ? n - w0 : W;
        for (size_t i = 0; i < m; i++)
            tmp[i] =
                (by_len){(int)distill_seq_len(&r->text.train, (size_t)perm[w0 + i]), perm[w0 + i]};
        qsort(tmp, m, sizeof *tmp, cmp_by_len);
        for (size_t i = 0; i < m; i++)
            perm[w0 + i] = tmp[i].idx;
    }
    /* batch k of the sorted list is perm[k·B ..]; the epoch visits them in a shuffled order */
    for (size_t k = 0; k < nb; k++)
        border[k] = (int)k;
    rng_shuffle_int(&g, border, nb);
    size_t at = 0;
    for (size_t k = 0; k < nb; k++) {
        size_t from = (size_t)border[k] * B, to = from + B < n ? from + B : n;
        r->bstart[k] = at;
        for (size_t i = from; i < to; i++)
            r->order[at++] = perm[i];
    }
    r->bstart[nb] = at;
    r->n_batches = nb;
    r->order_epoch = epoch;
    free(tmp);
    free(perm);
    free(border);
    return FP_OK;
}

/* ---- one step */

double distill_lr_at(const distill_options *o, uint64_t t /* 1-based */)
{
    if (o->warmup > 0 && t <= (uint64_t)o->warmup)
        return o->lr * (double)t / o->warmup;
    double span = (double)(o->steps > (uint64_t)o->warmup ? o->steps - (uint64_t)o->warmup : 1);
    double f = (double)(t - (uint64_t)o->warmup) / span;
    f = f > 1 ? 1 : f;
    return o->lr * (1.0 - f * (1.0 - o->lr_final));
}

static double sum_squares(const float *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return s;
}

static void scale(float *x, size_t n, float f)
{
    for (size_t i = 0; i < n; i++)
        x[i] *= f;
}

/* Student forward (with gradients when grad) and the loss of the batch in tokens/mask. */
static fp_status student_loss(distill_job *r, int B, int T, bool grad, distill_parts *parts,
                              fp_error *err)
{
    tf_batch batch = {B, T, r->tokens, r->mask, NULL, NULL};
    tf_options opt = {.grad = grad, .grads = grad ? &r->g : NULL};
    tf_result res;
    fp_status st = teacher_forward(r, B, T, err);
    if (!st && grad)
        memset(r->g.block, 0, tf_weights_numel(&r->cfg) * sizeof(float));
    if (!st)
        st = tf_forward(r->s_acts, &r->cfg, &r->w, NULL, NULL, &batch, &opt, &res, err);
    if (st)
        return st;
    const int ds = r->cfg.d_model, dt = r->teacher->cfg.d_model;
    distill_batch x = {
        B,        T,           r->mask,   tf_acts_hidden(r->s_acts),  tf_acts_hidden(r->t_acts),
        r->st.mu, r->st.sigma, r->st.map, r->st.map + (size_t)dt * ds};
    float *dmap = r->dmap;
    return distill_loss_eval(r->loss, &x, r->o->w, parts, grad ? r->dh_s : NULL, dmap,
                             dmap + (size_t)dt * ds, err);
}

fp_status distill_train_step(distill_job *r, distill_parts *parts, fp_error *err)
{
    const distill_options *o = r->o;
    fp_status st = make_epoch(r, r->st.epoch, err);
    if (st)
        return st;
    const size_t k = r->st.batch_pos;
    const int *idx = r->order + r->bstart[k];
    const int B = (int)(r->bstart[k + 1] - r->bstart[k]);
    const int T = fill_batch(r, &r->text.train, idx, B);
    st = student_loss(r, B, T, true, parts, err);
    const float *seeds[64] = {0};
    seeds[r->cfg.n_layers - 1] = r->dh_s;
    if (!st)
        st = tf_backward_seeded(r->s_acts, seeds, err);
    if (st)
        return st;
    float *gw = r->g.block + r->emb_off;
    const size_t nw = r->st.n_trainable, nm = r->st.map_n;
    double norm = sqrt(sum_squares(gw, nw) + sum_squares(r->dmap, nm));
    if (!isfinite(norm))
        return fp_fail(err, FP_ENUMERIC, "distill: step %llu: the gradient is not finite",
                       (unsigned long long)r->st.step + 1);
    if (o->clip > 0 && norm > o->clip) {
        scale(gw, nw, (float)(o->clip / norm));
        scale(r->dmap, nm, (float)(o->clip / norm));
    }
    fl_adamw_config ac = fl_adamw_defaults();
    ac.lr = distill_lr_at(o, r->st.step + 1);
    ac.beta2 = 0.98;
    ac.weight_decay = o->weight_decay;
    ac.max_grad_norm = 0;
    ac.total_steps = 0;
    st = fl_adamw_step(r->st.opt_w, &ac, r->st.block + r->emb_off, gw, err);
    if (!st)
        st = fl_adamw_step(r->st.opt_map, &ac, r->st.map, r->dmap, err);
    if (st)
        return st;
    for (int b = 0; b < B * T; b++)
        r->st.tokens += r->mask[b] != 0;
    r->st.step++;
    if (++r->st.batch_pos == r->n_batches) {
        r->st.batch_pos = 0;
        r->st.epoch++;
    }
    return FP_OK;
}

/* ---- held-out figures: the first held_max held-out sentences, in batches sorted by length */

fp_status distill_evaluate_held(distill_job *r, distill_parts *out, fp_error *err)
{
    const distill_seqs *q = &r->text.held;
    const size_t n = q->n < (size_t)r->o->held_max ? q->n : (size_t)r->o->held_max;
    by_len *s = malloc(n * sizeof *s);
    int *idx = malloc((size_t)r->o->batch * sizeof *idx);
    fp_status st = s && idx ? FP_OK : fp_fail(err, FP_ENOMEM, "distill: out of memory");
    for (size_t i = 0; !st && i < n; i++)
        s[i] = (by_len){(int)distill_seq_len(q, i), (int)i};
    if (!st)
        qsort(s, n, sizeof *s, cmp_by_len);
    *out = (distill_parts){0};
    for (size_t i = 0; !st && i < n; i += (size_t)r->o->batch) {
        int B = (int)(n - i < (size_t)r->o->batch ? n - i : (size_t)r->o->batch);
        for (int b = 0; b < B; b++)
            idx[b] = s[i + (size_t)b].idx;
        int T = fill_batch(r, q, idx, B);
        distill_parts p;
        st = student_loss(r, B, T, false, &p, err);
        out->tok += p.tok * B;
        out->pool_cos += p.pool_cos * B;
        out->rel += p.rel * B;
        out->loss += p.loss * B;
    }
    if (!st && n) {
        out->tok /= (double)n;
        out->pool_cos /= (double)n;
        out->rel /= (double)n;
        out->loss /= (double)n;
    }
    free(s);
    free(idx);
    return st;
}
