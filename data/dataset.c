/* dataset.c — the one strict TSV loader behind every task (see dataset.h). It must never skip
 * or repair a bad row: a dataset that loads is exactly the file's rows. */
#include "dataset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/file_io.h"
#include "common/rng.h"

#define DATASET_MAX_BYTES ((size_t)1 << 30)
#define CARVE_TAG 0x6361727665ULL   /* "carve" */
#define SUBSAMPLE_TAG 0x73756273ULL /* "subs" */

/* ---- reading ---------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid: no overlongs, no
 * surrogates, nothing above U+10FFFF. */
static size_t utf8_char(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        len = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        if (s[0] == 0xE0)
            lo = 0xA0;
        if (s[0] == 0xED)
            hi = 0x9F;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        if (s[0] == 0xF0)
            lo = 0x90;
        if (s[0] == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

/* Checks a field is valid UTF-8. Control characters are kept: CoLA's train.tsv has backspaces
 * in three sentences, and a byte-level tokenizer takes them as they are. */
static const char *field_problem(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t k = utf8_char(p + i, n - i);
        if (!k)
            return "invalid UTF-8";
        i += k;
    }
    return NULL;
}

static char *trim(char *s)
{
    while (*s == ' ')
        s++;
    char *e = s + strlen(s);
    while (e > s && e[-1] == ' ')
        *--e = '\0';
    return s;
}

/* Splits line (NUL-terminated) on tabs in place into at most max fields; returns the count,
 * or max + 1 if there are more. */
static int split_tabs(char *line, char **fields, int max)
{
    int n = 0;
    for (char *p = line;;) {
        if (n == max)
            return max + 1;
        fields[n++] = p;
        char *tab = strchr(p, '\t');
        if (!tab)
            return n;
        *tab = '\0';
        p = tab + 1;
    }
}

#define MAX_COLUMNS 8

/* Turns one data row into an example, or fails with the reason (path and line added by the
 * caller). */
static fp_status parse_row(const fp_task *task, char *line, fp_example *ex, fp_error *err)
{
    char *f[MAX_COLUMNS];
    int n = split_tabs(line, f, MAX_COLUMNS);
    if (n != task->columns)
        return fp_fail(err, FP_EFORMAT, "%s%d columns, expected %d", n > MAX_COLUMNS ? "> " : "",
                       n > MAX_COLUMNS ? MAX_COLUMNS : n, task->columns);
    for (int c = 0; c < n; c++) {
        const char *why = field_problem(f[c]);
        if (why)
            return fp_fail(err, FP_EFORMAT, "column %d: %s", c + 1, why);
    }
    ex->text_a = trim(f[task->text_a_col]);
    ex->text_b = task->text_b_col >= 0 ? trim(f[task->text_b_col]) : NULL;
    if (!*ex->text_a || (ex->text_b && !*ex->text_b))
        return fp_fail(err, FP_EFORMAT, "empty text in column %d",
                       !*ex->text_a ? task->text_a_col + 1 : task->text_b_col + 1);
    const char *label = f[task->label_col];
    for (int k = 0; k < task->n_classes; k++) {
        if (!strcmp(label, task->labels[k])) {
            ex->label = k;
            return FP_OK;
        }
    }
    return fp_fail(err, FP_EFORMAT, "unknown label '%.40s' in column %d", label,
                   task->label_col + 1);
}

/* Cuts the next line out of [*p, end): NUL-terminates it, drops a trailing '\r'. */
static char *next_line(char **p, char *end)
{
    char *line = *p;
    char *nl = memchr(line, '\n', (size_t)(end - line));
    char *stop = nl ? nl : end;
    *p = nl ? nl + 1 : end;
    if (stop > line && stop[-1] == '\r')
        stop--;
    *stop = '\0';
    return line;
}

fp_status dataset_load_file(const fp_task *task, const char *path, dataset_t **out, fp_error *err)
{
    if (!task || !path || !out)
        return fp_fail(err, FP_EINVAL, "dataset_load_file: NULL argument");
    *out = NULL;
    dataset_t *ds = calloc(1, sizeof *ds);
    if (!ds)
        return fp_fail(err, FP_ENOMEM, "%s: out of memory", path);
    ds->task = task;
    size_t len = 0;
    fp_status st = fp_file_read(path, DATASET_MAX_BYTES, &ds->buf, &len, err);
    if (st) {
        dataset_destroy(&ds);
        return st;
    }
    if (memchr(ds->buf, '\0', len)) {
        /* Report the line of the NUL. */
        const char *z = memchr(ds->buf, '\0', len);
        int line = 1;
        for (const char *q = ds->buf; q < z; q++)
            line += *q == '\n';
        dataset_destroy(&ds);
        return fp_fail(err, FP_EFORMAT, "%s:%d: NUL byte", path, line);
    }
    size_t max_rows = 1;
    for (size_t i = 0; i < len; i++)
        max_rows += ds->buf[i] == '\n';
    ds->examples = calloc(max_rows, sizeof *ds->examples);
    if (!ds->examples) {
        dataset_destroy(&ds);
        return fp_fail(err, FP_ENOMEM, "%s: out of memory for %zu rows", path, max_rows);
    }

    char *p = ds->buf, *end = ds->buf + len;
    if (len >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3))
        p += 3;
    int line_no = 0;
    if (task->header) {
        line_no++;
        char *line = next_line(&p, end);
        char *f[MAX_COLUMNS];
        int n = split_tabs(line, f, MAX_COLUMNS);
        if (n != task->columns || strcmp(f[0], task->header)) {
            dataset_destroy(&ds);
            return fp_fail(err, FP_EFORMAT,
                           "%s:1: expected a header of %d columns starting with '%s'", path,
                           task->columns, task->header);
        }
    }
    while (p < end) {
        line_no++;
        char *line = next_line(&p, end);
        if (!*line) {
            dataset_destroy(&ds);
            return fp_fail(err, FP_EFORMAT, "%s:%d: empty line", path, line_no);
        }
        fp_example *ex = &ds->examples[ds->n];
        st = parse_row(task, line, ex, err);
        if (st) {
            dataset_destroy(&ds);
            return fp_wrap(err, "%s:%d", path, line_no);
        }
        ex->line = line_no;
        ds->n++;
    }
    if (ds->n == 0) {
        dataset_destroy(&ds);
        return fp_fail(err, FP_EFORMAT, "%s: no examples", path);
    }
    *out = ds;
    return FP_OK;
}

/* ---- subsets ---------------------------------------------------------------------------- */

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Keeps examples whose indices are keep[0..k) (sorted ascending), in that order. */
static void keep_sorted(dataset_t *ds, const int *keep, size_t k)
{
    for (size_t i = 0; i < k; i++)
        ds->examples[i] = ds->examples[keep[i]];
    ds->n = k;
}

/* Draws k distinct indices of [0, n) from rng, sorted ascending; NULL on allocation failure. */
static int *draw_sorted(rng_t *rng, size_t n, size_t k)
{
    int *idx = malloc((k ? k : 1) * sizeof *idx);
    if (!idx || rng_sample_without_replacement(rng, (int)n, (int)k, idx)) {
        free(idx);
        return NULL;
    }
    qsort(idx, k, sizeof *idx, cmp_int);
    return idx;
}

fp_status dataset_subsample(dataset_t *ds, size_t max, uint64_t seed, fp_error *err)
{
    if (!ds)
        return fp_fail(err, FP_EINVAL, "dataset_subsample: NULL dataset");
    if (max == 0 || max >= ds->n)
        return FP_OK;
    if (ds->n > (size_t)INT32_MAX)
        return fp_fail(err, FP_ELIMIT, "dataset_subsample: %zu examples", ds->n);
    rng_t rng;
    rng_derive(&rng, seed, SUBSAMPLE_TAG, ds->n);
    int *idx = draw_sorted(&rng, ds->n, max);
    if (!idx)
        return fp_fail(err, FP_ENOMEM, "dataset_subsample: out of memory");
    keep_sorted(ds, idx, max);
    free(idx);
    return FP_OK;
}

/* Splits a carved task's file: eval = a seeded draw of round(fraction * n) rows, train = the
 * rest; each in file order. */
static fp_status carve(dataset_t *ds, fp_split split, uint64_t seed, double fraction, fp_error *err)
{
    if (!(fraction > 0.0 && fraction < 1.0))
        return fp_fail(err, FP_EINVAL, "%s: eval fraction %g is not in (0, 1)", ds->task->name,
                       fraction);
    if (ds->n < 2 || ds->n > (size_t)INT32_MAX)
        return fp_fail(err, FP_ELIMIT, "%s: cannot split %zu examples", ds->task->name, ds->n);
    size_t n_eval = (size_t)(fraction * (double)ds->n + 0.5);
    if (n_eval < 1)
        n_eval = 1;
    if (n_eval > ds->n - 1)
        n_eval = ds->n - 1;
    rng_t rng;
    rng_derive(&rng, seed, CARVE_TAG, ds->task->id);
    int *eval = draw_sorted(&rng, ds->n, n_eval);
    if (!eval)
        return fp_fail(err, FP_ENOMEM, "%s: out of memory", ds->task->name);
    if (split == FP_SPLIT_EVAL) {
        keep_sorted(ds, eval, n_eval);
    } else {
        size_t k = 0, e = 0;
        for (size_t i = 0; i < ds->n; i++) {
            if (e < n_eval && (size_t)eval[e] == i)
                e++;
            else
                ds->examples[k++] = ds->examples[i];
        }
        ds->n = k;
    }
    free(eval);
    return FP_OK;
}

fp_status dataset_load(const fp_task *task, fp_split split, const char *dir, uint64_t seed,
                       double eval_fraction, dataset_t **out, fp_error *err)
{
    if (!task || !dir || !out)
        return fp_fail(err, FP_EINVAL, "dataset_load: NULL argument");
    char path[1024];
    const char *file = split == FP_SPLIT_TRAIN ? task->train_file : task->eval_file;
    int n = snprintf(path, sizeof path, "%s/%s/%s", dir, task->folder, file);
    if (n < 0 || (size_t)n >= sizeof path)
        return fp_fail(err, FP_ELIMIT, "dataset path longer than %zu bytes", sizeof path);
    fp_status st = dataset_load_file(task, path, out, err);
    if (st || !task->carve)
        return st;
    st = carve(*out, split, seed, eval_fraction, err);
    if (st)
        dataset_destroy(out);
    return st;
}

void dataset_class_counts(const dataset_t *ds, size_t counts[FP_TASK_MAX_CLASSES])
{
    memset(counts, 0, FP_TASK_MAX_CLASSES * sizeof *counts);
    for (size_t i = 0; i < ds->n; i++)
        counts[ds->examples[i].label]++;
}

void dataset_destroy(dataset_t **ds)
{
    if (!ds || !*ds)
        return;
    free((*ds)->examples);
    free((*ds)->buf);
    free(*ds);
    *ds = NULL;
}
