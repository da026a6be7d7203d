/* reference_dump.c — the C side of `make check-reference`: loads a tiny Hugging Face checkpoint
 * through fedpep's loaders, runs one case (batch + deep prompt) through the transformer forward
 * and prompt backward, and writes what it computed for compare.py.
 *
 *   reference_dump [--bf16] MODEL_DIR CASE.input.safetensors OUT.got.safetensors
 *                  [GRADS.safetensors]
 *
 * --bf16: the weights get their bf16 copies first (tf_weights_to_bf16, [model] precision = bf16),
 * so every frozen product runs in bf16 with fp32 accumulation; refused without bf16 instructions.
 * Input tensors (all F32, integers exact): ids [B][T], lengths [B] (right padding), E [P][L][2][d],
 * active [L], trainable [L]; RoBERTa: mask_pos [B], label [B]; GPT-2: targets [B][T] (-1 none);
 * weight_grads [1] when full-weight gradients are wanted too; I [P_in][d], an input soft prompt
 * whose gradient dI is wanted.
 * Output: logits [rows][V] (rows with a target in (b, t) order), loss [1], dE [P][L][2][d]
 * (zero outside trainable layers), example_loss [B], dI [P_in][d] (with I),
 * layers [L][B][P_in + T][d] (every block's output,
 * from a second, inference pass that keeps all layers); with weight_grads, the weight gradients
 * under their canonical Hugging Face names in GRADS (tf_weights_save).
 * This program must never compute anything itself: every number it writes comes from the library. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/status.h"
#include "model/hf_config.h"
#include "model/matmul_bf16.h"
#include "model/model_config.h"
#include "model/safetensors.h"
#include "model/transformer.h"
#include "model/weights.h"

/* A case tensor of any shape, with its element count checked against want (0: any). */
static fp_status get_any(const st_file_t *f, const char *name, size_t want, const float **v,
                         size_t *numel, fp_error *err)
{
    const st_tensor *t = st_find(f, name);
    if (!t)
        return fp_fail(err, FP_ENOTFOUND, "case file has no tensor %s", name);
    if (t->dtype != ST_F32)
        return fp_fail(err, FP_EFORMAT, "case tensor %s is not F32", name);
    if (want && t->numel != want)
        return fp_fail(err, FP_EFORMAT, "case tensor %s has %zu values, want %zu", name, t->numel,
                       want);
    *v = t->data;
    if (numel)
        *numel = t->numel;
    return FP_OK;
}

typedef struct dump {
    model_config cfg;
    st_file_t *model, *input;
    tf_weights w, grads;
    tf_acts_t *acts, *all_acts;
    float *layers;
    int *tokens, *mask, *targets;
    bool *present, *trainable;
    float *dE, *dI;
} dump;

static void dump_free(dump *d)
{
    tf_acts_destroy(&d->acts);
    tf_acts_destroy(&d->all_acts);
    tf_weights_free(&d->w);
    tf_weights_free(&d->grads);
    free(d->layers);
    st_close(&d->model);
    st_close(&d->input);
    free(d->tokens);
    free(d->mask);
    free(d->targets);
    free(d->present);
    free(d->trainable);
    free(d->dE);
    free(d->dI);
}

/* Every block's output [L][B][T][d] from an inference pass that keeps all layers (the path the
 * layer-importance scoring uses), in its own arena. */
static fp_status all_layers(dump *d, const tf_prompt *prompt, const tf_batch *batch,
                            int max_rows, fp_error *err)
{
    const model_config *c = &d->cfg;
    const size_t per = (size_t)batch->B * (prompt->P_in + batch->T) * c->d_model;
    tf_acts_spec spec = {.B = batch->B, .T = batch->T, .P = prompt->P, .P_in = prompt->P_in,
                         .saved_layers = c->n_layers, .max_lm_rows = max_rows};
    if (!(d->all_acts = tf_acts_new(c, spec, err)))
        return err->status;
    if (!(d->layers = malloc(per * c->n_layers * sizeof *d->layers)))
        return fp_fail(err, FP_ENOMEM, "out of memory");
    tf_prompt no_grad = *prompt;
    no_grad.trainable = NULL;
    no_grad.d_input = NULL;
    tf_options opt = {.keep_all_layers = true};
    tf_result res;
    fp_status st = tf_forward(d->all_acts, c, &d->w, &no_grad, NULL, batch, &opt, &res, err);
    if (st)
        return st;
    for (int l = 0; l < c->n_layers; l++) {
        const float *out = tf_acts_layer_output(d->all_acts, l);
        if (!out)
            return fp_fail(err, FP_ESTATE, "layer %d kept no output with keep_all_layers", l);
        memcpy(d->layers + per * l, out, per * sizeof *out);
    }
    return FP_OK;
}

static fp_status run(dump *d, const char *model_dir, const char *in_path, const char *out_path,
                     const char *grads_path, bool bf16, fp_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", model_dir);
    fp_status st = hf_config_load(path, &d->cfg, err);
    if (st)
        return st;
    snprintf(path, sizeof path, "%s/model.safetensors", model_dir);
    if (!(d->model = st_open(path, err)))
        return err->status;
    if ((st = tf_weights_from_safetensors(&d->w, &d->cfg, d->model, err)))
        return st;
    if (bf16) { /* [model] precision = bf16: the frozen products in bf16 */
        char isa[32];
        if (!mm_bf16_supported(isa, sizeof isa))
            return fp_fail(err, FP_ESTATE, "--bf16: no bf16 instructions (oneDNN ISA %s)", isa);
        if ((st = tf_weights_to_bf16(&d->w, &d->cfg, err)))
            return st;
    }
    if (!(d->input = st_open(in_path, err)))
        return err->status;

    const model_config *c = &d->cfg;
    const int L = c->n_layers, dm = c->d_model, V = c->vocab_size;
    const st_tensor *ids_t = st_find(d->input, "ids");
    const st_tensor *E_t = st_find(d->input, "E");
    if (!ids_t || ids_t->ndim != 2 || !E_t || E_t->ndim != 4)
        return fp_fail(err, FP_EFORMAT, "case needs ids [B][T] and E [P][L][2][d]");
    const int B = (int)ids_t->shape[0], T = (int)ids_t->shape[1], P = (int)E_t->shape[0];
    const float *ids, *lengths, *E, *active, *tuned;
    if ((st = get_any(d->input, "ids", (size_t)B * T, &ids, NULL, err)) ||
        (st = get_any(d->input, "lengths", (size_t)B, &lengths, NULL, err)) ||
        (st = get_any(d->input, "E", (size_t)P * L * 2 * dm, &E, NULL, err)) ||
        (st = get_any(d->input, "active", (size_t)L, &active, NULL, err)) ||
        (st = get_any(d->input, "trainable", (size_t)L, &tuned, NULL, err)))
        return st;

    d->tokens = calloc((size_t)B * T, sizeof *d->tokens);
    d->mask = calloc((size_t)B * T, sizeof *d->mask);
    d->targets = calloc((size_t)B * T, sizeof *d->targets);
    d->present = calloc((size_t)L, sizeof *d->present);
    d->trainable = calloc((size_t)L, sizeof *d->trainable);
    d->dE = calloc((size_t)P * L * 2 * dm, sizeof *d->dE);
    if (!d->tokens || !d->mask || !d->targets || !d->present || !d->trainable || !d->dE)
        return fp_fail(err, FP_ENOMEM, "out of memory");
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            d->tokens[b * T + t] = (int)ids[b * T + t];
            d->mask[b * T + t] = t < (int)lengths[b];
            d->targets[b * T + t] = -1;
        }
    if (c->arch == MODEL_ARCH_ROBERTA) {
        const float *mask_pos, *label;
        if ((st = get_any(d->input, "mask_pos", (size_t)B, &mask_pos, NULL, err)) ||
            (st = get_any(d->input, "label", (size_t)B, &label, NULL, err)))
            return st;
        for (int b = 0; b < B; b++)
            d->targets[b * T + (int)mask_pos[b]] = (int)label[b];
    } else {
        const float *tg;
        if ((st = get_any(d->input, "targets", (size_t)B * T, &tg, NULL, err)))
            return st;
        for (int i = 0; i < B * T; i++)
            d->targets[i] = (int)tg[i];
    }
    int lowest = L;
    for (int l = 0; l < L; l++) {
        d->present[l] = active[l] != 0.0f;
        d->trainable[l] = tuned[l] != 0.0f;
        if (d->trainable[l] && l < lowest)
            lowest = l;
    }

    int rows = 0;
    for (int i = 0; i < B * T; i++)
        rows += d->targets[i] >= 0;
    const bool full = st_find(d->input, "weight_grads") != NULL;
    if (full && !grads_path)
        return fp_fail(err, FP_EINVAL, "case wants weight gradients: give a GRADS path");
    tf_prompt prompt = {.P = P, .E = E, .present = d->present, .trainable = d->trainable,
                        .dE = d->dE};
    const st_tensor *I_t = st_find(d->input, "I");
    if (I_t) {
        if (I_t->ndim != 2 || I_t->shape[1] != dm)
            return fp_fail(err, FP_EFORMAT, "case tensor I must be [P_in][%d]", dm);
        prompt.P_in = (int)I_t->shape[0];
        if ((st = get_any(d->input, "I", (size_t)prompt.P_in * dm, &prompt.input, NULL, err)))
            return st;
        if (!(d->dI = calloc((size_t)prompt.P_in * dm, sizeof *d->dI)))
            return fp_fail(err, FP_ENOMEM, "out of memory");
        prompt.d_input = d->dI;
    }
    /* The arena keeps only the layers backward needs (all of them for weight gradients or a
     * trainable input prompt). */
    const bool keep_all = full || d->dI;
    tf_acts_spec spec = {.B = B, .T = T, .P = P, .P_in = prompt.P_in,
                         .saved_layers = keep_all ? L : L - lowest, .max_lm_rows = rows,
                         .weight_grads = full};
    if (!(d->acts = tf_acts_new(c, spec, err)))
        return err->status;
    tf_batch batch = {.B = B, .T = T, .tokens = d->tokens, .mask = d->mask,
                      .targets = d->targets};
    tf_options opt = {.grad = true};
    if (full) {
        if ((st = tf_weights_init_zero(&d->grads, c, err)))
            return st;
        d->grads.has_lm_head = d->w.has_lm_head;
        opt.grads = &d->grads;
    }
    tf_result res;
    if ((st = tf_forward(d->acts, c, &d->w, &prompt, NULL, &batch, &opt, &res, err)) ||
        (st = tf_backward(d->acts, err)))
        return st;

    const int *row_index;
    int n_rows;
    const float *logits = tf_acts_lm_logits(d->acts, &row_index, &n_rows);
    if (n_rows != rows)
        return fp_fail(err, FP_ESTATE, "model scored %d rows, the case has %d targets", n_rows,
                       rows);
    if (full && (st = tf_weights_save(&d->grads, c, grads_path, err)))
        return st;
    float loss = res.loss;
    const float *ex_loss = tf_acts_example_loss(d->acts);
    if ((st = all_layers(d, &prompt, &batch, rows, err)))
        return st;
    st_write_tensor out[6] = {
        {.name = "logits", .ndim = 2, .shape = {n_rows, V}, .data = logits},
        {.name = "loss", .ndim = 1, .shape = {1}, .data = &loss},
        {.name = "dE", .ndim = 4, .shape = {P, L, 2, dm}, .data = d->dE},
        {.name = "example_loss", .ndim = 1, .shape = {B}, .data = ex_loss},
        {.name = "layers", .ndim = 4, .shape = {L, B, prompt.P_in + T, dm}, .data = d->layers},
        {.name = "dI", .ndim = 2, .shape = {prompt.P_in, dm}, .data = d->dI},
    };
    return st_write(out_path, out, d->dI ? 6 : 5, NULL, 0, err);
}

int main(int argc, char **argv)
{
    const bool bf16 = argc > 1 && strcmp(argv[1], "--bf16") == 0;
    argv += bf16, argc -= bf16;
    if (argc != 4 && argc != 5) {
        fprintf(stderr,
                "usage: %s [--bf16] MODEL_DIR CASE.input.safetensors OUT.got.safetensors "
                "[GRADS.safetensors]\n",
                argv[0]);
        return 2;
    }
    dump d = {0};
    fp_error err = {0};
    fp_status st =
        run(&d, argv[1], argv[2], argv[3], argc == 5 ? argv[4] : NULL, bf16, &err);
    dump_free(&d);
    if (st) {
        fprintf(stderr, "reference_dump %s: %s: %s\n", argv[2], fp_status_name(st), err.msg);
        return 1;
    }
    return 0;
}
