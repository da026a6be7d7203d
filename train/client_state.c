/* client.c — layout of the trainable vector, a client's private state and its blobs, and the
 * per-thread scratch (see client.h). Never touches the model weights. */
#include "train/client_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "fl/blob.h"
#include "fl/prompt_rows.h"

/* Stream tag of the initial prompt (rng_derive(seed, TAG, 0)). */
#define TRAIN_INIT_TAG 0x50524f4d50540000ULL /* "PROMPT" */
#define PROMPT_INIT_STD 0.02

fp_status train_layout_init(train_layout *lay, const model_config *cfg, int P, const int *travel,
                            int k, bool personalise, int head_classes, fp_error *err)
{
    int L = cfg->n_layers;
    if (L < 1 || L > TRAIN_MAX_LAYERS || P < 1 || k < 0 || k > L || head_classes < 0)
        return fp_fail(err, FP_EINVAL, "layout: P %d, L %d, k %d", P, L, k);
    memset(lay, 0, sizeof *lay);
    lay->P = P, lay->L = L, lay->d = cfg->d_model, lay->d0 = model_embed_width(cfg);
    fl_prompt_shape sh = {P, L, cfg->d_model};
    fp_status st = fl_prompt_check_layers(&sh, travel, k, err);
    if (st)
        return st;
    for (int i = 0; i < k; i++) {
        lay->travel[i] = travel[i];
        lay->present[travel[i]] = lay->trainable[travel[i]] = true;
    }
    lay->n_travel = k;
    for (int l = 0; l < L && personalise; l++)
        if (!lay->trainable[l]) {
            lay->priv[lay->n_private++] = l;
            lay->present[l] = lay->trainable[l] = true;
        }
    size_t row = (size_t)P * 2 * cfg->d_model;
    lay->head_classes = head_classes;
    lay->n_rows = row * k;
    lay->n_private_rows = row * lay->n_private;
    lay->n_prompt = row * L;
    lay->n_theta = lay->n_rows + lay->n_private_rows + (size_t)head_classes * (cfg->d_model + 1);
    if (lay->n_theta == 0)
        return fp_fail(err, FP_EINVAL, "layout: nothing to train");
    return FP_OK;
}

fp_status train_layout_fix_head(train_layout *lay, const float *head, fp_error *err)
{
    if (!lay->head_classes || !head)
        return fp_fail(err, FP_EINVAL, "layout: no head to fix");
    size_t n = lay->n_theta - (lay->fixed_head ? 0 : (size_t)lay->head_classes * (lay->d + 1));
    if (n == 0)
        return fp_fail(err, FP_EINVAL, "layout: a fixed head and no prompt leave nothing to train");
    lay->fixed_head = head;
    lay->n_theta = n;
    return FP_OK;
}

fp_status train_layout_init_input(train_layout *lay, const model_config *cfg, int P,
                                  int head_classes, fp_error *err)
{
    int L = cfg->n_layers;
    if (L < 1 || L > TRAIN_MAX_LAYERS || P < 1 || head_classes < 0)
        return fp_fail(err, FP_EINVAL, "layout: P %d, L %d", P, L);
    memset(lay, 0, sizeof *lay);
    lay->P = P, lay->L = L, lay->d = cfg->d_model, lay->d0 = model_embed_width(cfg);
    lay->input_prompt = true;
    lay->head_classes = head_classes;
    lay->n_rows = lay->n_prompt = (size_t)P * cfg->d_model;
    lay->n_theta = lay->n_rows + (size_t)head_classes * (cfg->d_model + 1);
    return FP_OK;
}

tf_prompt train_layout_prompt(const train_layout *lay, const float *E, float *dE)
{
    if (lay->input_prompt)
        return (tf_prompt){.P = 0, .P_in = lay->P, .input = E, .d_input = dE};
    return (tf_prompt){.P = lay->P,
                       .E = E,
                       .present = lay->present,
                       .trainable = dE ? lay->trainable : NULL,
                       .dE = dE};
}

void train_layout_rows_gather(const train_layout *lay, const float *E, float *rows)
{
    fl_prompt_shape sh = {lay->P, lay->L, lay->d};
    if (lay->input_prompt)
        memcpy(rows, E, lay->n_rows * sizeof(float));
    else
        fl_prompt_gather(&sh, E, lay->travel, lay->n_travel, rows);
}

void train_layout_rows_scatter(const train_layout *lay, float *E, const float *rows)
{
    fl_prompt_shape sh = {lay->P, lay->L, lay->d};
    if (lay->input_prompt)
        memcpy(E, rows, lay->n_rows * sizeof(float));
    else
        fl_prompt_scatter(&sh, E, lay->travel, lay->n_travel, rows);
}

int train_layout_lowest(const train_layout *lay)
{
    if (lay->input_prompt)
        return 0;
    for (int l = 0; l < lay->L; l++)
        if (lay->trainable[l])
            return l;
    return lay->L;
}

static size_t head_len(const train_layout *lay)
{
    return (size_t)lay->head_classes * (lay->d + 1);
}

void train_layout_gather(const train_layout *lay, const float *E, const float *head, float *theta)
{
    fl_prompt_shape sh = {lay->P, lay->L, lay->d};
    train_layout_rows_gather(lay, E, theta);
    fl_prompt_gather(&sh, E, lay->priv, lay->n_private, theta + lay->n_rows);
    if (lay->head_classes && !lay->fixed_head)
        memcpy(theta + lay->n_rows + lay->n_private_rows, head, head_len(lay) * sizeof(float));
}

void train_layout_scatter(const train_layout *lay, const float *theta, float *E, float *head)
{
    fl_prompt_shape sh = {lay->P, lay->L, lay->d};
    train_layout_rows_scatter(lay, E, theta);
    fl_prompt_scatter(&sh, E, lay->priv, lay->n_private, theta + lay->n_rows);
    if (lay->head_classes && !lay->fixed_head)
        memcpy(head, theta + lay->n_rows + lay->n_private_rows, head_len(lay) * sizeof(float));
}

void train_initial_prompt(const train_layout *lay, uint64_t seed, float *E, float *head)
{
    rng_t r;
    rng_derive(&r, seed, TRAIN_INIT_TAG, 0);
    for (size_t i = 0; i < lay->n_prompt; i++)
        E[i] = (float)(PROMPT_INIT_STD * rng_normal(&r));
    /* Rows the model reads only in part (block 0 of a model with narrower embeddings) start
     * with zeros in the rest, which then never change (no gradient reaches them). */
    const size_t tail = (size_t)(lay->d - lay->d0);
    const int rows = lay->input_prompt ? lay->P : lay->P * 2; /* block 0's rows, or all of I */
    for (int i = 0; tail && i < rows; i++) {
        size_t at = lay->input_prompt ? (size_t)i * lay->d
                                      : tf_prompt_index(lay->L, lay->d, i / 2, 0, i % 2);
        memset(E + at + lay->d0, 0, tail * sizeof(float));
    }
    if (head && lay->fixed_head)
        memcpy(head, lay->fixed_head, head_len(lay) * sizeof(float));
    else if (head) {
        size_t nw = (size_t)lay->head_classes * lay->d;
        for (size_t i = 0; i < nw; i++)
            head[i] = (float)(PROMPT_INIT_STD * rng_normal(&r));
        memset(head + nw, 0, (size_t)lay->head_classes * sizeof(float));
    }
}

train_client_t *train_client_new(const train_layout *lay, int id, uint64_t seed, bool scaffold,
                                 fp_error *err)
{
    train_client_t *c = calloc(1, sizeof *c);
    if (!c)
        goto oom;
    c->id = id;
    c->lay = lay;
    c->last_round = -1;
    c->E = malloc(lay->n_prompt * sizeof(float));
    c->opt = fl_adamw_new(lay->n_theta);
    if (!c->E || !c->opt)
        goto oom;
    if (lay->head_classes && !(c->head = malloc(head_len(lay) * sizeof(float))))
        goto oom;
    if (scaffold && (!(c->c_k = calloc(lay->n_rows ? lay->n_rows : 1, sizeof(float))) ||
                     !(c->delta_c = calloc(lay->n_rows ? lay->n_rows : 1, sizeof(float)))))
        goto oom;
    train_initial_prompt(lay, seed, c->E, c->head);
    return c;
oom:
    train_client_destroy(&c);
    fp_fail(err, FP_ENOMEM, "client %d: out of memory", id);
    return NULL;
}

void train_client_destroy(train_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    train_client_t *c = *self_p;
    free(c->E);
    free(c->head);
    free(c->c_k);
    free(c->delta_c);
    fl_adamw_destroy(&c->opt);
    free(c);
    *self_p = NULL;
}

static const char CLIENT_MAGIC[4] = {'F', 'P', 'C', 'S'};

static size_t client_floats(const train_client_t *c)
{
    return c->lay->n_prompt + (c->head ? head_len(c->lay) : 0) + (c->c_k ? 2 * c->lay->n_rows : 0);
}

/* The "FPCS" blob, for fl_blob_build. */
static void client_write(const void *ctx, fl_blob_writer *w)
{
    const train_client_t *c = ctx;
    fl_blob_put_header(w, CLIENT_MAGIC, 1);
    fl_blob_put_u64(w, (uint64_t)c->last_round);
    fl_blob_put_u64(w, (uint64_t)c->last.n_k);
    fl_blob_put_u64(w, (uint64_t)c->last.steps);
    fl_blob_put_u64(w, (uint64_t)c->last.ms);
    fl_blob_put_f64(w, c->last.loss);
    fl_blob_put_f32s(w, c->E, c->lay->n_prompt);
    if (c->head)
        fl_blob_put_f32s(w, c->head, head_len(c->lay));
    if (c->c_k) {
        fl_blob_put_f32s(w, c->c_k, c->lay->n_rows);
        fl_blob_put_f32s(w, c->delta_c, c->lay->n_rows);
    }
}

fp_status train_client_save(const train_client_t *c, uint8_t **state, size_t *state_len,
                            uint8_t **adam, size_t *adam_len, fp_error *err)
{
    char what[32];
    snprintf(what, sizeof what, "client %d", c->id);
    uint8_t *buf = NULL;
    size_t len = 0;
    fp_status st = fl_blob_build(client_write, c, what, &buf, &len, err);
    if (!st)
        st = fl_adamw_save(c->opt, adam, adam_len, err);
    if (st) {
        free(buf);
        return st;
    }
    *state = buf;
    *state_len = len;
    return FP_OK;
}

fp_status train_client_load(train_client_t *c, const uint8_t *state, size_t state_len,
                            const uint8_t *adam, size_t adam_len, fp_error *err)
{
    fl_blob_reader r = {state, state_len, 0};
    uint64_t round, n_k, steps, ms;
    double loss;
    fp_status st = fl_blob_get_header(&r, CLIENT_MAGIC, 1, err);
    if (!st)
        st = fl_blob_get_u64(&r, &round, err);
    if (!st)
        st = fl_blob_get_u64(&r, &n_k, err);
    if (!st)
        st = fl_blob_get_u64(&r, &steps, err);
    if (!st)
        st = fl_blob_get_u64(&r, &ms, err);
    if (!st)
        st = fl_blob_get_f64(&r, &loss, err);
    if (st)
        return fp_wrap(err, "client %d state: ", c->id);
    if (r.len - r.pos != 4 * client_floats(c))
        return fp_fail(err, FP_EFORMAT, "client %d state: %zu bytes of values, layout needs %zu",
                       c->id, r.len - r.pos, 4 * client_floats(c));
    fl_adamw_t *opt = NULL;
    st = fl_adamw_load(adam, adam_len, &opt, err);
    if (st)
        return fp_wrap(err, "client %d adam: ", c->id);
    if (opt->n != c->lay->n_theta) {
        fl_adamw_destroy(&opt);
        return fp_fail(err, FP_EFORMAT, "client %d adam: %zu parameters, layout has %zu", c->id,
                       opt->n, c->lay->n_theta);
    }
    fl_blob_get_f32s(&r, c->E, c->lay->n_prompt, NULL);
    if (c->head)
        fl_blob_get_f32s(&r, c->head, head_len(c->lay), NULL);
    if (c->c_k) {
        fl_blob_get_f32s(&r, c->c_k, c->lay->n_rows, NULL);
        fl_blob_get_f32s(&r, c->delta_c, c->lay->n_rows, NULL);
    }
    fl_adamw_destroy(&c->opt);
    c->opt = opt;
    c->last_round = (int64_t)round;
    c->last = (train_round_result){(int64_t)n_k, (int64_t)steps, loss, (int64_t)ms, -1};
    return FP_OK;
}

train_worker_t *train_worker_new(const train_model_t *model, const train_layout *lay,
                                 const train_set_t *set, int B, int B_eval, int T, fp_error *err)
{
    train_worker_t *w = calloc(1, sizeof *w);
    if (!w) {
        fp_fail(err, FP_ENOMEM, "worker: out of memory");
        return NULL;
    }
    w->model = model;
    w->lay = lay;
    w->B = B, w->B_eval = B_eval, w->T = T;
    tf_acts_spec spec = {.B = B,
                         .T = T,
                         .P = lay->input_prompt ? 0 : lay->P,
                         .P_in = lay->input_prompt ? lay->P : 0,
                         .saved_layers = lay->L - train_layout_lowest(lay),
                         .max_lm_rows = train_set_max_lm_rows(set, B),
                         .max_classes = lay->head_classes};
    w->acts = tf_acts_new(&model->cfg, spec, err);
    if (!w->acts)
        goto fail;
    spec.B = B_eval;
    spec.saved_layers = 0;
    spec.max_lm_rows = train_set_max_lm_rows(set, B_eval);
    w->eval_acts = tf_acts_new(&model->cfg, spec, err);
    if (!w->eval_acts)
        goto fail;
    w->batch = train_batch_new(B > B_eval ? B : B_eval, T);
    size_t nt = lay->n_theta, np = lay->n_prompt;
    w->dE = calloc(np, sizeof(float));
    w->E_eval = calloc(np, sizeof(float));
    w->theta = calloc(nt, sizeof(float));
    w->g = calloc(nt, sizeof(float));
    w->w_full = calloc(nt, sizeof(float));
    w->c_full = calloc(nt, sizeof(float));
    w->ck_full = calloc(nt, sizeof(float));
    w->head_grad = calloc(head_len(lay) + 1, sizeof(float));
    if (!w->batch || !w->dE || !w->E_eval || !w->theta || !w->g || !w->w_full || !w->c_full ||
        !w->ck_full || !w->head_grad) {
        fp_fail(err, FP_ENOMEM, "worker: out of memory");
        goto fail;
    }
    return w;
fail:
    train_worker_destroy(&w);
    return NULL;
}

void train_worker_destroy(train_worker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    train_worker_t *w = *self_p;
    tf_acts_destroy(&w->acts);
    tf_acts_destroy(&w->eval_acts);
    train_batch_destroy(&w->batch);
    free(w->dE);
    free(w->E_eval);
    free(w->theta);
    free(w->g);
    free(w->w_full);
    free(w->c_full);
    free(w->ck_full);
    free(w->head_grad);
    free(w);
    *self_p = NULL;
}
