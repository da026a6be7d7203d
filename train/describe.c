/* describe.c — label descriptions and the zero-shot head (see describe.h). Runs the frozen model
 * forward only; never writes the weights. */
#include "train/describe.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/template.h"
#include "model/transformer.h"

fp_status train_class_description(const fp_task *task, int c, char *out, size_t cap,
                                  fp_error *err)
{
    const char *word = template_label_word(task, false, c);
    if (!word || !out || cap == 0)
        return fp_fail(err, FP_EINVAL, "class description: no class %d", c);
    fp_example empty = {"", "", c, 0};
    char text[256];
    fp_rendered r;
    fp_status st = template_render(task, false, &empty, text, sizeof text, &r, err);
    if (st)
        return st;
    if (r.mask_at == FP_NO_MASK)
        return fp_fail(err, FP_EINVAL, "class description: %s's template has no mask",
                       task->name);
    size_t before = r.mask_at; /* the blank before the mask belongs to the word, as lstrip */
    while (before && isspace((unsigned char)text[before - 1]))
        before--;
    char full[512];
    int n = snprintf(full, sizeof full, "%.*s%s%s", (int)before, text, word,
                     text + r.mask_at + strlen(FP_MASK));
    if (n < 0 || (size_t)n >= sizeof full)
        return fp_fail(err, FP_ELIMIT, "class description of %s too long", task->name);
    const char *s = full;
    while (*s && (isspace((unsigned char)*s) || ispunct((unsigned char)*s)))
        s++; /* what the empty text left in front: " . It was", " ? Yes" */
    size_t len = strlen(s);
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    if (len == 0 || len >= cap)
        return fp_fail(err, FP_ELIMIT, "class description of %s class %d: %zu bytes, room %zu",
                       task->name, c, len, cap);
    memcpy(out, s, len);
    out[len] = '\0';
    return FP_OK;
}

fp_status train_head_classify(const train_model_t *m, const float *head, int n_classes,
                              const char *text, int *cls, fp_error *err)
{
    tok_ids ids = {0};
    fp_status st = train_tok_encode(m->tok, text, strlen(text), &ids, err);
    if (!st && ids.n == 0)
        st = fp_fail(err, FP_EINVAL, "classify: the text has no tokens");
    const int T = (int)ids.n;
    tf_acts_t *a = NULL;
    if (!st && !(a = tf_acts_new(&m->cfg, (tf_acts_spec){1, T, 0, 0, 0, n_classes, false, 0},
                                 err)))
        st = err ? err->status : FP_ENOMEM;
    if (!st) {
        tf_cls_head h = {n_classes, head, head + (size_t)n_classes * m->cfg.d_model, NULL, NULL};
        tf_batch b = {1, T, ids.ids, NULL, NULL, NULL};
        tf_options opt = {0};
        st = tf_forward(a, &m->cfg, &m->w, NULL, &h, &b, &opt, NULL, err);
    }
    if (!st) {
        const float *logits = tf_acts_cls_logits(a);
        int best = 0;
        for (int c = 1; c < n_classes; c++)
            best = logits[c] > logits[best] ? c : best;
        *cls = best;
    }
    tf_acts_destroy(&a);
    free(ids.ids);
    return st;
}

fp_status train_head_from_descriptions(const train_model_t *m, const fp_task *task, float *head,
                                       fp_error *err)
{
    const int d = m->cfg.d_model;
    const size_t C = task->n_classes > 0 && task->n_classes <= FP_TASK_MAX_CLASSES
                         ? (size_t)task->n_classes : 0;
    if (!C)
        return fp_fail(err, FP_EINVAL, "class descriptions: %s has no classes", task->name);
    tok_ids ids[FP_TASK_MAX_CLASSES] = {0};
    int T = 1;
    fp_status st = FP_OK;
    for (int c = 0; c < (int)C && !st; c++) {
        char text[256];
        st = train_class_description(task, c, text, sizeof text, err);
        if (!st)
            st = train_tok_encode(m->tok, text, strlen(text), &ids[c], err);
        if (!st && (int)ids[c].n > T)
            T = (int)ids[c].n;
    }
    int *tokens = calloc(C * (size_t)T, sizeof *tokens), *mask = calloc(C * (size_t)T, sizeof *mask);
    tf_acts_t *acts = NULL;
    if (!st && (!tokens || !mask))
        st = fp_fail(err, FP_ENOMEM, "class descriptions: out of memory");
    if (!st && !(acts = tf_acts_new(&m->cfg, (tf_acts_spec){(int)C, T, 0, 0, 0, 0, false, 0}, err)))
        st = err ? err->status : FP_ENOMEM;
    for (int c = 0; c < (int)C && !st; c++)
        for (int t = 0; t < T; t++) {
            bool real = t < (int)ids[c].n;
            tokens[c * T + t] = real ? ids[c].ids[t] : (m->tok->pad >= 0 ? m->tok->pad : 0);
            mask[c * T + t] = real;
        }
    if (!st) {
        tf_batch batch = {(int)C, T, tokens, mask, NULL, NULL};
        tf_options opt = {0};
        st = tf_forward(acts, &m->cfg, &m->w, NULL, NULL, &batch, &opt, NULL, err);
    }
    const float *hidden = st ? NULL : tf_acts_hidden(acts);
    for (int c = 0; c < (int)C && hidden; c++) {
        float *row = head + (size_t)c * d;
        memset(row, 0, (size_t)d * sizeof *row);
        for (int t = 0; t < (int)ids[c].n; t++)
            for (int i = 0; i < d; i++)
                row[i] += hidden[((size_t)c * T + t) * d + i];
        double norm = 0;
        for (int i = 0; i < d; i++)
            norm += (double)row[i] * row[i];
        const float inv = norm > 0 ? (float)(1.0 / sqrt(norm)) : 0.0f;
        for (int i = 0; i < d; i++)
            row[i] *= inv;
        head[C * (size_t)d + c] = 0.0f;
    }
    tf_acts_destroy(&acts);
    free(tokens);
    free(mask);
    for (size_t c = 0; c < C; c++)
        free(ids[c].ids);
    return st;
}
