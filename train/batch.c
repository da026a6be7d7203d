/* batch.c — template rendering + tokenisation + truncation + padding (see batch.h).
 * Must never cut the template, the mask or the cue words; never runs the model. */
#include "train/batch.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "data/template.h"

int train_max_len(const model_config *cfg, int P, int max_seq_len)
{
    int room = cfg->max_positions - cfg->position_offset - P;
    return room < max_seq_len ? room : max_seq_len;
}

/* One piece of a template: literal text, the mask, or text A / B. */
typedef struct seg {
    char kind; /* 'L', 'M', 'A', 'B' */
    const char *s;
    size_t len;
    bool lead_space; /* A/B: the blank before it belongs to the text's first word */
} seg;

#define MAX_SEGS 12

/* A linear head reads the text alone: the masked template's cue words and <mask> would only
 * dilute its mean pool. */
static fp_template_style style_of(const train_set_t *s)
{
    return s->linear_head ? FP_STYLE_TEXT : s->decoder ? FP_STYLE_DECODER : FP_STYLE_ENCODER;
}

/* Finds the template's pieces by rendering it with one-byte stand-ins for the texts. */
static fp_status template_segments(const fp_task *task, fp_template_style style, char *buf,
                                   size_t cap, seg *sg, int *n_out, fp_error *err)
{
    fp_example fake = {.text_a = "\x01", .text_b = "\x02", .label = 0, .line = 0};
    fp_rendered r;
    fp_status st = template_render_style(task, style, &fake, buf, cap, &r, err);
    if (st)
        return st;
    int n = 0;
    size_t i = 0, lit = 0;
    while (i <= r.len) {
        char kind = 0;
        size_t skip = 1;
        if (i == r.len)
            kind = 'E';
        else if (buf[i] == '\x01')
            kind = 'A';
        else if (buf[i] == '\x02')
            kind = 'B';
        else if (r.mask_at != FP_NO_MASK && i == r.mask_at)
            kind = 'M', skip = strlen(FP_MASK);
        if (!kind) {
            i++;
            continue;
        }
        if (i > lit && n < MAX_SEGS)
            sg[n++] = (seg){'L', buf + lit, i - lit, false};
        if (kind != 'E' && n < MAX_SEGS)
            sg[n++] = (seg){kind, NULL, 0, false};
        i += skip;
        lit = i;
    }
    /* Blanks before the mask vanish (lstrip); a blank before a text joins the text. */
    for (int k = 0; k + 1 < n; k++) {
        if (sg[k].kind != 'L')
            continue;
        if (sg[k + 1].kind == 'M')
            while (sg[k].len && sg[k].s[sg[k].len - 1] == ' ')
                sg[k].len--;
        else if (sg[k + 1].kind != 'L' && sg[k].len && sg[k].s[sg[k].len - 1] == ' ') {
            sg[k].len--;
            sg[k + 1].lead_space = true;
        }
    }
    *n_out = n;
    return FP_OK;
}

static fp_status encode_text(train_tok_t *tok, const char *s, bool lead_space, bool at_start,
                             tok_ids *out, fp_error *err)
{
    size_t len = strlen(s);
    if (!lead_space)
        return train_tok_encode_part(tok, s, len, at_start, out, err);
    char *tmp = malloc(len + 2);
    if (!tmp)
        return fp_fail(err, FP_ENOMEM, "tokenise: out of memory");
    tmp[0] = ' ';
    memcpy(tmp + 1, s, len + 1);
    fp_status st = train_tok_encode_part(tok, tmp, len + 1, at_start, out, err);
    free(tmp);
    return st;
}

static fp_status encode_labels(train_tok_t *tok, train_set_t *s, fp_error *err)
{
    if (s->linear_head)
        return FP_OK; /* the head predicts classes: no label word is ever a target */
    for (int c = 0; c < s->n_classes; c++) {
        const char *word = template_label_word(s->task, s->decoder, c);
        tok_ids ids = {0};
        /* A label word follows the mask or the cue words: it continues the string. */
        fp_status st = train_tok_encode_part(tok, word, strlen(word), false, &ids, err);
        if (st) {
            tok_ids_free(&ids);
            return st;
        }
        if (!s->decoder && ids.n != 1)
            st = fp_fail(err, FP_EFORMAT, "%s: label word '%s' is %zu tokens, not one",
                         s->task->name, word, ids.n);
        else if (ids.n < 1 || ids.n > TRAIN_MAX_LABEL_TOKENS)
            st = fp_fail(err, FP_EFORMAT, "%s: label word '%s' is %zu tokens (1..%d)",
                         s->task->name, word, ids.n, TRAIN_MAX_LABEL_TOKENS);
        if (!st) {
            s->word_id[c] = ids.ids[0];
            memcpy(s->class_tokens[c], ids.ids, ids.n * sizeof(int));
            s->class_len[c] = (int)ids.n;
            if (s->decoder && !s->linear_head && (int)ids.n > s->max_class_len)
                s->max_class_len = (int)ids.n;
        }
        tok_ids_free(&ids);
        if (st)
            return st;
    }
    return FP_OK;
}

/* Tokenises one example into out (appending), cutting its texts to fit max_len. */
static fp_status encode_example(train_tok_t *tok, const train_set_t *s, const seg *sg, int n_seg,
                                const fp_example *ex, int max_len, tok_ids *out, int *mask_pos,
                                bool *cut, fp_error *err)
{
    tok_ids part[MAX_SEGS] = {{0}};
    fp_status st = FP_OK;
    int wrap = !s->decoder && tok->wrap_bos_eos;
    int fixed = s->decoder ? s->max_class_len : 2 * wrap, text_len[2] = {0, 0};
    int text_seg[2] = {-1, -1};
    bool begun = false; /* some text (or the mask) precedes this piece in the whole string */
    for (int k = 0; k < n_seg && !st; k++) {
        if (sg[k].kind == 'L') {
            st = train_tok_encode_part(tok, sg[k].s, sg[k].len, !begun, &part[k], err);
            begun |= sg[k].len > 0;
        } else if (sg[k].kind == 'M')
            begun = true;
        else if (sg[k].kind == 'A' || sg[k].kind == 'B') {
            int t = sg[k].kind == 'B';
            const char *txt = t ? ex->text_b : ex->text_a;
            if (!txt)
                st = fp_fail(err, FP_EINVAL, "%s: line %d has no second text", s->task->name,
                             ex->line);
            else
                st = encode_text(tok, txt, sg[k].lead_space, !begun, &part[k], err);
            begun |= sg[k].lead_space || (txt && *txt);
            text_seg[t] = k;
            text_len[t] = st ? 0 : (int)part[k].n;
            continue;
        }
        if (sg[k].kind == 'M')
            fixed += 1;
        else
            fixed += (int)part[k].n;
    }
    if (!st && fixed > max_len)
        st = fp_fail(err, FP_ELIMIT, "%s: the template alone needs %d tokens, max %d",
                     s->task->name, fixed, max_len);
    if (!st) {
        int budget = max_len - fixed;
        *cut = text_len[0] + text_len[1] > budget;
        while (text_len[0] + text_len[1] > budget)
            text_len[text_len[1] > text_len[0]]--;
        if (wrap && tok_ids_push(out, tok->bos))
            st = FP_ENOMEM;
        for (int k = 0; k < n_seg && !st; k++) {
            size_t take = part[k].n;
            if (sg[k].kind == 'M') {
                *mask_pos = (int)out->n;
                if (tok_ids_push(out, tok->mask))
                    st = FP_ENOMEM;
                continue;
            }
            if (k == text_seg[0] || k == text_seg[1])
                take = (size_t)text_len[k == text_seg[1]];
            for (size_t i = 0; i < take && !st; i++)
                if (tok_ids_push(out, part[k].ids[i]))
                    st = FP_ENOMEM;
        }
        if (!st && wrap && tok_ids_push(out, tok->eos))
            st = FP_ENOMEM;
        if (st == FP_ENOMEM)
            fp_fail(err, st, "tokenise: out of memory");
    }
    for (int k = 0; k < n_seg; k++)
        tok_ids_free(&part[k]);
    return st;
}

fp_status train_prompt_encode(train_tok_t *tok, const fp_task *task, bool decoder,
                             const fp_example *ex, tok_ids *out, int *mask_pos, fp_error *err)
{
    train_set_t s = {.task = task, .decoder = decoder};
    char tbuf[256];
    seg sg[MAX_SEGS];
    int n_seg = 0;
    bool cut = false;
    *mask_pos = -1;
    fp_status st = template_segments(task, decoder ? FP_STYLE_DECODER : FP_STYLE_ENCODER, tbuf,
                                     sizeof tbuf, sg, &n_seg, err);
    return st ? st
              : encode_example(tok, &s, sg, n_seg, ex, INT_MAX / 2, out, mask_pos, &cut, err);
}

fp_status train_set_encode(train_tok_t *tok, const model_config *cfg, const dataset_t *ds,
                           const int *idx, size_t n, int max_len, bool linear_head,
                           train_set_t **out, fp_error *err)
{
    if (!idx)
        n = ds->n;
    train_set_t *s = calloc(1, sizeof *s);
    if (!s)
        return fp_fail(err, FP_ENOMEM, "train_set: out of memory");
    s->task = ds->task;
    s->decoder = cfg->arch == MODEL_ARCH_GPT2;
    s->linear_head = linear_head;
    s->n_classes = ds->task->n_classes;
    s->pad_id = tok->pad >= 0 ? tok->pad : tok->eos;
    s->n = n;
    s->ex = calloc(n ? n : 1, sizeof *s->ex);
    char tbuf[256];
    seg sg[MAX_SEGS];
    int n_seg = 0;
    tok_ids all = {0};
    size_t *start = calloc(n ? n : 1, sizeof *start);
    fp_status st = !s->ex || !start ? fp_fail(err, FP_ENOMEM, "train_set: out of memory") : FP_OK;
    if (!st && !s->decoder && tok->mask < 0)
        st = fp_fail(err, FP_EINVAL, "train_set: encoder tokenizer without <mask>");
    if (!st)
        st = encode_labels(tok, s, err);
    if (!st)
        st = template_segments(ds->task, style_of(s), tbuf, sizeof tbuf, sg, &n_seg, err);
    for (size_t i = 0; i < n && !st; i++) {
        const fp_example *ex = &ds->examples[idx ? (size_t)idx[i] : i];
        bool cut = false;
        start[i] = all.n;
        s->ex[i].mask_pos = -1;
        s->ex[i].label = ex->label;
        st = encode_example(tok, s, sg, n_seg, ex, max_len, &all, &s->ex[i].mask_pos, &cut, err);
        if (s->ex[i].mask_pos >= 0)
            s->ex[i].mask_pos -= (int)start[i]; /* it was counted in the pool */
        s->truncated += cut;
        int row = (int)(all.n - start[i]) + s->max_class_len;
        if (row > s->max_len)
            s->max_len = row;
    }
    if (!st) {
        s->pool = all.ids ? all.ids : malloc(sizeof(int));
        all.ids = NULL;
        for (size_t i = 0; i < n; i++) {
            s->ex[i].ids = s->pool + start[i];
            s->ex[i].n = (int)((i + 1 < n ? start[i + 1] : all.n) - start[i]);
        }
    }
    tok_ids_free(&all);
    free(start);
    if (st) {
        train_set_destroy(&s);
        return st;
    }
    *out = s;
    return FP_OK;
}

void train_set_destroy(train_set_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->ex);
    free((*self_p)->pool);
    free(*self_p);
    *self_p = NULL;
}

void train_set_labels(const train_set_t *s, int *labels)
{
    for (size_t i = 0; i < s->n; i++)
        labels[i] = s->ex[i].label;
}

train_batch_t *train_batch_new(int B, int T)
{
    train_batch_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    size_t bt = (size_t)B * T;
    b->cap_B = B;
    b->cap_T = T;
    b->tokens = malloc(bt * sizeof(int));
    b->mask = malloc(bt * sizeof(int));
    b->targets = malloc(bt * sizeof(int));
    b->labels = malloc((size_t)B * sizeof(int));
    if (!b->tokens || !b->mask || !b->targets || !b->labels)
        train_batch_destroy(&b);
    return b;
}

void train_batch_destroy(train_batch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    train_batch_t *b = *self_p;
    free(b->tokens);
    free(b->mask);
    free(b->targets);
    free(b->labels);
    free(b);
    *self_p = NULL;
}

int train_set_max_lm_rows(const train_set_t *s, int B)
{
    return s->decoder ? B * (s->max_class_len > 0 ? s->max_class_len : 1) : B;
}

fp_status train_batch_fill(train_batch_t *b, const train_set_t *s, const int *idx, int n, int cls,
                           fp_error *err)
{
    if (n < 1 || n > b->cap_B)
        return fp_fail(err, FP_ELIMIT, "batch: %d examples, room for %d", n, b->cap_B);
    if (cls >= s->n_classes)
        return fp_fail(err, FP_EINVAL, "batch: class %d of %d", cls, s->n_classes);
    bool lm = !s->linear_head;
    int T = 1;
    for (int i = 0; i < n; i++) {
        const train_example *e = &s->ex[idx[i]];
        int c = cls >= 0 ? cls : e->label;
        int row = e->n + (s->decoder && lm ? s->class_len[c] : 0);
        if (row > T)
            T = row;
    }
    if (T > b->cap_T)
        return fp_fail(err, FP_ELIMIT, "batch: a row of %d tokens, room for %d", T, b->cap_T);
    for (int i = 0; i < n; i++) {
        const train_example *e = &s->ex[idx[i]];
        int c = cls >= 0 ? cls : e->label;
        int *tok = b->tokens + (size_t)i * T, *msk = b->mask + (size_t)i * T;
        int *tgt = b->targets + (size_t)i * T;
        memcpy(tok, e->ids, (size_t)e->n * sizeof(int));
        int len = e->n;
        for (int t = 0; t < T; t++)
            tgt[t] = -1;
        if (s->decoder && lm) {
            /* Row t predicts token t + 1: the rows before each label token are the targets. */
            for (int j = 0; j < s->class_len[c]; j++) {
                tok[len + j] = s->class_tokens[c][j];
                tgt[len + j - 1] = s->class_tokens[c][j];
            }
            len += s->class_len[c];
        } else if (lm) {
            tgt[e->mask_pos] = s->word_id[c];
        }
        for (int t = 0; t < T; t++)
            msk[t] = t < len;
        for (int t = len; t < T; t++)
            tok[t] = s->pad_id;
        b->labels[i] = e->label;
    }
    b->view = (tf_batch){.B = n,
                         .T = T,
                         .tokens = b->tokens,
                         .mask = b->mask,
                         .targets = lm ? b->targets : NULL,
                         .labels = s->linear_head ? b->labels : NULL};
    return FP_OK;
}
