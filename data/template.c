/* template.c — renders an example into the text of its task's template (see template.h).
 * Pure string work: it must never tokenize or allocate. */
#include "template.h"

#include <stdio.h>
#include <string.h>

/* Each template is pieces joined in order; {A}, {B} are the texts, {M} the mask. */
typedef struct piece {
    char kind; /* 'A', 'B', 'M' or 's' (literal) */
    const char *s;
} piece;

#define MAX_PIECES 6

static int template_pieces(fp_template_kind kind, fp_template_style style, piece *p)
{
    if (style == FP_STYLE_TEXT) {
        p[0] = (piece){'A', NULL};
        if (kind != FP_TEMPLATE_PAIR)
            return 1;
        p[1] = (piece){'s', " "}, p[2] = (piece){'B', NULL};
        return 3;
    }
    if (style == FP_STYLE_DECODER) {
        if (kind == FP_TEMPLATE_PAIR) {
            p[0] = (piece){'A', NULL}, p[1] = (piece){'s', " "}, p[2] = (piece){'B', NULL};
            p[3] = (piece){'s', " They are"};
            return 4;
        }
        p[0] = (piece){'A', NULL}, p[1] = (piece){'s', " It was"};
        return 2;
    }
    switch (kind) {
    case FP_TEMPLATE_SINGLE:
        p[0] = (piece){'A', NULL}, p[1] = (piece){'s', " . It was "}, p[2] = (piece){'M', NULL};
        p[3] = (piece){'s', " ."};
        return 4;
    case FP_TEMPLATE_PAIR:
        p[0] = (piece){'A', NULL}, p[1] = (piece){'s', " ? "}, p[2] = (piece){'M', NULL};
        p[3] = (piece){'s', " , "}, p[4] = (piece){'B', NULL};
        return 5;
    case FP_TEMPLATE_MASK_FIRST:
        p[0] = (piece){'M', NULL}, p[1] = (piece){'s', " : "}, p[2] = (piece){'A', NULL};
        return 3;
    }
    return 0;
}

fp_status template_render(const fp_task *task, bool decoder, const fp_example *ex, char *out,
                          size_t cap, fp_rendered *r, fp_error *err)
{
    return template_render_style(task, decoder ? FP_STYLE_DECODER : FP_STYLE_ENCODER, ex, out,
                                 cap, r, err);
}

fp_status template_render_style(const fp_task *task, fp_template_style style,
                                const fp_example *ex, char *out, size_t cap, fp_rendered *r,
                                fp_error *err)
{
    if (!task || !ex || !r || (!out && cap) || !ex->text_a)
        return fp_fail(err, FP_EINVAL, "template_render: NULL argument");
    if (task->template_kind == FP_TEMPLATE_PAIR && !ex->text_b)
        return fp_fail(err, FP_EINVAL, "%s: template needs a second text (line %d)", task->name,
                       ex->line);
    piece p[MAX_PIECES];
    int n = template_pieces(task->template_kind, style, p);
    size_t len = 0;
    r->mask_at = FP_NO_MASK;
    for (int i = 0; i < n; i++) {
        const char *s = p[i].kind == 'A'   ? ex->text_a
                        : p[i].kind == 'B' ? ex->text_b
                        : p[i].kind == 'M' ? FP_MASK
                                           : p[i].s;
        if (p[i].kind == 'M')
            r->mask_at = len;
        size_t k = strlen(s);
        if (len + k < cap)
            memcpy(out + len, s, k);
        len += k;
    }
    r->len = len;
    if (len >= cap) {
        if (cap)
            out[0] = '\0';
        return fp_fail(err, FP_ELIMIT, "%s: rendered text needs %zu bytes, have %zu", task->name,
                       len + 1, cap);
    }
    out[len] = '\0';
    return FP_OK;
}

const char *template_label_word(const fp_task *task, bool decoder, int c)
{
    if (!task || c < 0 || c >= task->n_classes)
        return NULL;
    return decoder ? task->decoder_words[c] : task->label_words[c];
}
