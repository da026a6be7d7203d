/* progress.h — how far a long command is: what is done of the total, the throughput and an ETA,
 * shown as one live line rewritten in place ("\r", erase to the end of the line) when the stream
 * is a terminal, and as one plain line at most every interval (10 s) when it is a file or a pipe,
 * so logs and CI output stay readable. `fedpep tune`, `simulate`, `import-use-lite` and `launch`
 * all report through it (docs/train.md, docs/launch.md).
 *
 * The position is a number of any unit (epochs, rounds, conversion steps) out of a total; a span
 * maps the items of a piece of work (the examples of one epoch, of one client's local round) onto
 * a stretch of it, so the position moves smoothly inside that piece. The ETA extrapolates the
 * position's progress since progress_begin and counts down between reports; the rate is items per
 * second over the current span. The clock is injectable, so tests drive time.
 *
 * Every function accepts a NULL reporter and then does nothing, so library code reports
 * unconditionally. A reporter writes only to its own stream: never a result, never a database. */
#ifndef FEDPEP_COMMON_PROGRESS_H
#define FEDPEP_COMMON_PROGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Monotonic milliseconds. */
typedef int64_t (*progress_clock_fn)(void *ctx);

enum { PROGRESS_TTY_AUTO = -1, PROGRESS_PLAIN = 0, PROGRESS_LIVE = 1 };

typedef struct progress_options {
    FILE *out;               /* NULL = stderr */
    const char *prefix;      /* in front of every progress line, e.g. "tune: "; NULL = none */
    int tty;                 /* PROGRESS_TTY_AUTO (isatty of out), PROGRESS_PLAIN or PROGRESS_LIVE;
                                zero-initialised options mean PROGRESS_PLAIN, so set it */
    int64_t interval_ms;     /* plain lines at most this often; 0 = 10000 */
    int64_t redraw_ms;       /* the live line is redrawn at most this often; 0 = 200 */
    const char *unit;        /* items of a span, e.g. "examples"; NULL = "examples" */
    const char *rate_unit;   /* NULL = "ex/s" */
    progress_clock_fn clock; /* NULL = CLOCK_MONOTONIC */
    void *clock_ctx;
} progress_options;

typedef struct progress progress_t;

/* The options are copied (the strings must outlive the reporter). NULL when out of memory. */
progress_t *progress_new(const progress_options *o);

/* Erases the live line, frees, sets *p_p to NULL; accepts NULL and *p_p == NULL. */
void progress_destroy(progress_t **p_p);

/* Starts measuring at position `done` of `total` (total > done; e.g. 3 of 10 rounds on a resume):
 * the ETA extrapolates the progress made after this call. Nothing is shown before it; a live
 * line is drawn at once when a label was set. */
void progress_begin(progress_t *p, double done, double total);

/* The words in front of the numbers (printf format), e.g. "epoch 2/3". A live line is redrawn at
 * once; a plain line waits for its interval. */
void progress_label(progress_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The coming progress_work reports move the position from `from` to `to` (one epoch, one
 * client's share of a round). Resets the span's item count and rate. */
void progress_span(progress_t *p, double from, double to);

/* Inside the span: `done` of `of` items are done. The position moves linearly to the span's end;
 * shows the line when due. */
void progress_work(progress_t *p, int64_t done, int64_t of);

/* Sets the position and ends the span. Shows nothing by itself (a caller about to write a line of
 * its own, such as launch's round line, wants no progress line just before it): the next report,
 * label or progress_tick does. */
void progress_set(progress_t *p, double done);

/* Shows the line when due, for a loop that waits rather than works (the launcher). */
void progress_tick(progress_t *p);

/* A permanent line of its own (no prefix): erases the live line first; a plain line's interval
 * starts again after it. */
void progress_note(progress_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Erases the live line before other output goes to the same terminal; the next report redraws
 * it. A plain stream is left alone. */
void progress_clear(progress_t *p);

/* Seconds left at the reporter's clock's now; -1 while unknown (no progress since
 * progress_begin), 0 at the total. */
double progress_eta_s(const progress_t *p);

/* Items per second over the current span; -1 while unknown. */
double progress_rate(const progress_t *p);

/* The progress line now, prefix included, without "\r" or newline: e.g.
 * "tune: epoch 2/3  1200/6734 examples  412.3 ex/s  ETA 3 min 05 s"; "elapsed 12 s" in place
 * of the ETA while it is unknown. Truncated to cap. */
void progress_format(const progress_t *p, char *buf, size_t cap);

/* A duration for people: "45 s", "3 min 05 s", "2 h 07 min" (rounded to whole seconds). */
void progress_format_duration(char *buf, size_t cap, double seconds);

#endif
