/* distill_text.h — the text a student is distilled on, tokenized: the lines of plain text files
 * (../shared/corpus: one sentence a line) and the sentences of the tasks' TRAINING splits, never
 * a dev or test line:
 *   - a task whose training split is carved from its dev file (QNLI) contributes nothing;
 *   - every line equal to any field of any task's dev.tsv or test.tsv is dropped;
 *   - duplicates are dropped (the first is kept);
 * where "equal" compares lower-cased letters and digits only. About 1 line in 100, chosen by a
 * hash of that key (so the choice does not depend on the order of the sources), is held out to
 * measure the distillation on text it never trains on. Each kept line becomes its token ids
 * (the teacher's tokenizer), truncated to max_len; lines with no token are dropped. */
#ifndef FEDPEP_TRAIN_DISTILL_TEXT_H
#define FEDPEP_TRAIN_DISTILL_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "train/tokenizer.h"

/* Sentences as token ids: sentence i is ids[start[i] .. start[i + 1]). */
typedef struct distill_seqs {
    int *ids;
    size_t *start; /* [n + 1] */
    size_t n;
    size_t tokens; /* start[n] */
} distill_seqs;

typedef struct distill_text {
    distill_seqs train, held;
    /* what happened to the lines read */
    size_t lines, duplicates, excluded, empty, truncated;
} distill_text;

typedef struct distill_text_spec {
    const char *const *files; /* plain text, one sentence a line */
    size_t n_files;
    const char *datasets_dir; /* NULL: no task text (and no exclusion list) */
    uint32_t task_mask;       /* bit t: read task t's training split (the dev and test files of
                                 every task are excluded whatever the mask) */
    int max_len;              /* ids kept per sentence, > 0 */
    int held_per_mille;       /* held-out share in 1/1000 (10: 1%) */
} distill_text_spec;

/* Reads, filters, tokenizes. Errors name the file (and line for a bad task row). */
fp_status distill_text_build(const distill_text_spec *spec, train_tok_t *tok, distill_text *out,
                             fp_error *err);
void distill_text_free(distill_text *t);

/* The key lines are compared by: lower-cased ASCII letters and digits, other bytes of UTF-8
 * letters kept as they are, everything else dropped; FNV-1a 64 of that. */
uint64_t distill_text_key(const char *s, size_t len);

#endif
