/* template.h — the text a model sees for an example (FEDPEPTAO.md §1), tokenizer-free.
 *
 * Encoder (masked LM), with FP_MASK standing for the tokenizer's mask token:
 *   single sentence  "{x} . It was <mask> ."
 *   sentence pair    "{s1} ? <mask> , {s2}"
 *   TREC             "<mask> : {x}"
 * Decoder (causal LM): the prompt, to which the glue appends one class's decoder word:
 *   single and TREC  "{x} It was"        pairs  "{s1} {s2} They are"
 * The model glue tokenizes text[0, mask_at) (without its trailing blank, which the mask token
 * absorbs as RoBERTa's `<mask>` does with lstrip) and text[mask_at + strlen(FP_MASK), len)
 * separately, with the mask id between them. */
#ifndef FEDPEP_DATA_TEMPLATE_H
#define FEDPEP_DATA_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/status.h"
#include "dataset.h"
#include "task.h"

#define FP_MASK "<mask>"
#define FP_NO_MASK ((size_t)-1)

typedef struct fp_rendered {
    size_t len;     /* bytes of the text (without the NUL), also when it did not fit */
    size_t mask_at; /* byte offset of FP_MASK in the text; FP_NO_MASK for decoders */
} fp_rendered;

/* The three things a model may see: the encoder's masked template, the decoder's prompt, or the
 * text alone for a linear classifier head (no mask, no cue words): "{x}", pairs "{s1} {s2}". */
typedef enum fp_template_style {
    FP_STYLE_ENCODER = 0,
    FP_STYLE_DECODER = 1,
    FP_STYLE_TEXT = 2,
} fp_template_style;

/* template_render for any style (mask_at is FP_NO_MASK for the decoder and text styles). */
fp_status template_render_style(const fp_task *task, fp_template_style style,
                                const fp_example *ex, char *out, size_t cap, fp_rendered *r,
                                fp_error *err);

/* Writes the example's text for an encoder (decoder = false) or decoder prompt into out
 * (cap bytes, NUL-terminated) and where the mask sits. FP_ELIMIT if it does not fit (r->len
 * then says how many bytes are needed, plus one for the NUL); FP_EINVAL on a NULL argument or
 * an example without the second text a pair task needs. */
fp_status template_render(const fp_task *task, bool decoder, const fp_example *ex, char *out,
                          size_t cap, fp_rendered *r, fp_error *err);

/* The verbalizer word of class c (with its leading space): the encoder's target at the mask,
 * or the decoder's continuation. NULL if c is out of range. */
const char *template_label_word(const fp_task *task, bool decoder, int c);

#endif
