/* progress.c — the progress reporter (see progress.h). All arithmetic is on the injected clock;
 * output goes only to the reporter's own stream. */
#include "common/progress.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

enum { LABEL_MAX = 192, LINE_MAX_BYTES = 512 };

struct progress {
    progress_options o; /* out, interval_ms, redraw_ms, unit, rate_unit resolved */
    bool live;
    char label[LABEL_MAX];
    bool begun;
    double pos0, pos, total; /* position at begin, now, and the total */
    int64_t t0, t_pos;       /* clock at begin and at the last change of position */
    bool in_span;
    double span_from, span_to;
    int64_t items, items_of; /* the current span's items done, of */
    int64_t t_span, t_work;  /* clock at the span's start and at its last work report */
    bool shown;              /* a live line is on the terminal */
    int64_t last_draw;       /* live: when it was drawn */
    int64_t last_line;       /* plain: when the last line (or note, or begin) was written */
};

static int64_t monotonic_ms(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now_ms(const progress_t *p)
{
    return p->o.clock(p->o.clock_ctx);
}

progress_t *progress_new(const progress_options *o)
{
    progress_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    if (o)
        p->o = *o;
    else
        p->o.tty = PROGRESS_TTY_AUTO;
    if (!p->o.out)
        p->o.out = stderr;
    if (p->o.interval_ms <= 0)
        p->o.interval_ms = 10000;
    if (p->o.redraw_ms <= 0)
        p->o.redraw_ms = 200;
    if (!p->o.unit)
        p->o.unit = "examples";
    if (!p->o.rate_unit)
        p->o.rate_unit = "ex/s";
    if (!p->o.prefix)
        p->o.prefix = "";
    if (!p->o.clock)
        p->o.clock = monotonic_ms;
    if (p->o.tty == PROGRESS_TTY_AUTO) {
        int fd = fileno(p->o.out);
        const char *term = getenv("TERM");
        p->live = fd >= 0 && isatty(fd) && !(term && !strcmp(term, "dumb"));
    } else {
        p->live = p->o.tty == PROGRESS_LIVE;
    }
    return p;
}

void progress_destroy(progress_t **p_p)
{
    if (!p_p || !*p_p)
        return;
    progress_clear(*p_p);
    free(*p_p);
    *p_p = NULL;
}

double progress_eta_s(const progress_t *p)
{
    if (!p || !p->begun)
        return -1;
    if (p->pos >= p->total)
        return 0;
    if (p->pos <= p->pos0 || p->t_pos <= p->t0)
        return -1;
    double per_unit_ms = (double)(p->t_pos - p->t0) / (p->pos - p->pos0);
    double left_ms = (p->total - p->pos) * per_unit_ms - (double)(now_ms(p) - p->t_pos);
    return left_ms > 0 ? left_ms / 1000.0 : 0.0;
}

double progress_rate(const progress_t *p)
{
    if (!p || p->items <= 0 || p->t_work <= p->t_span)
        return -1;
    return (double)p->items * 1000.0 / (double)(p->t_work - p->t_span);
}

void progress_format_duration(char *buf, size_t cap, double seconds)
{
    long long s = seconds > 0 ? llround(seconds) : 0;
    if (s < 60)
        snprintf(buf, cap, "%lld s", s);
    else if (s < 3600)
        snprintf(buf, cap, "%lld min %02lld s", s / 60, s % 60);
    else
        snprintf(buf, cap, "%lld h %02lld min", s / 3600, s % 3600 / 60);
}

/* Appends "  piece" (no separator in front of the first piece) within cap. */
static void append(char *buf, size_t cap, size_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t cap, size_t *at, const char *fmt, ...)
{
    if (*at + 1 >= cap)
        return;
    if (*at > 0 && buf[*at - 1] != ' ') {
        int n = snprintf(buf + *at, cap - *at, "  ");
        *at += (size_t)n < cap - *at ? (size_t)n : cap - *at - 1;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *at, cap - *at, fmt, ap);
    va_end(ap);
    if (n > 0)
        *at += (size_t)n < cap - *at ? (size_t)n : cap - *at - 1;
}

void progress_format(const progress_t *p, char *buf, size_t cap)
{
    if (!cap)
        return;
    buf[0] = 0;
    if (!p)
        return;
    size_t at = 0;
    append(buf, cap, &at, "%s%s", p->o.prefix, p->label);
    if (p->items_of > 0)
        append(buf, cap, &at, "%lld/%lld %s", (long long)p->items, (long long)p->items_of,
               p->o.unit);
    double rate = progress_rate(p);
    if (rate >= 0)
        append(buf, cap, &at, "%.1f %s", rate, p->o.rate_unit);
    double eta = progress_eta_s(p);
    char d[48];
    if (eta >= 0 && p->pos < p->total) {
        progress_format_duration(d, sizeof d, eta);
        append(buf, cap, &at, "ETA %s", d);
    } else if (eta < 0 && p->begun) { /* no pace yet: at least show that time passes */
        progress_format_duration(d, sizeof d, (double)(now_ms(p) - p->t0) / 1000.0);
        append(buf, cap, &at, "elapsed %s", d);
    }
}

/* Columns of the terminal behind out, or 0 when unknown. */
static int columns(FILE *out)
{
    struct winsize ws;
    int fd = fileno(out);
    if (fd < 0 || ioctl(fd, TIOCGWINSZ, &ws) || ws.ws_col == 0)
        return 0;
    return ws.ws_col;
}

/* Draws the live line, or writes a plain line, when it is due (or at once with force on a
 * terminal). Nothing before progress_begin. */
static void show(progress_t *p, bool force)
{
    if (!p->begun)
        return;
    int64_t now = now_ms(p);
    char line[LINE_MAX_BYTES];
    if (p->live) {
        if (!force && p->shown && now - p->last_draw < p->o.redraw_ms)
            return;
        progress_format(p, line, sizeof line);
        int cols = columns(p->o.out);
        if (cols > 1 && strlen(line) > (size_t)cols - 1)
            line[cols - 1] = 0; /* a wrapped line could not be rewritten in place */
        fprintf(p->o.out, "\r%s\033[K", line);
        fflush(p->o.out);
        p->shown = true;
        p->last_draw = now;
    } else {
        if (now - p->last_line < p->o.interval_ms)
            return;
        progress_format(p, line, sizeof line);
        fprintf(p->o.out, "%s\n", line);
        fflush(p->o.out);
        p->last_line = now;
    }
}

static void move_to(progress_t *p, double pos)
{
    if (pos != p->pos) {
        p->pos = pos;
        p->t_pos = now_ms(p);
    }
}

void progress_begin(progress_t *p, double done, double total)
{
    if (!p)
        return;
    p->begun = true;
    p->pos0 = p->pos = done;
    p->total = total;
    p->t0 = p->t_pos = p->last_line = now_ms(p);
    p->in_span = false;
    p->items = p->items_of = 0;
    if (p->label[0])
        show(p, true);
}

void progress_label(progress_t *p, const char *fmt, ...)
{
    if (!p)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->label, sizeof p->label, fmt, ap);
    va_end(ap);
    show(p, true);
}

void progress_span(progress_t *p, double from, double to)
{
    if (!p)
        return;
    p->in_span = true;
    p->span_from = from;
    p->span_to = to;
    p->items = p->items_of = 0;
    p->t_span = p->t_work = now_ms(p);
    move_to(p, from);
}

void progress_work(progress_t *p, int64_t done, int64_t of)
{
    if (!p)
        return;
    p->items = done;
    p->items_of = of;
    p->t_work = now_ms(p);
    if (p->in_span && of > 0) {
        double f = done < of ? (double)done / (double)of : 1.0;
        move_to(p, p->span_from + (p->span_to - p->span_from) * f);
    }
    show(p, false);
}

void progress_set(progress_t *p, double done)
{
    if (!p)
        return;
    p->in_span = false;
    move_to(p, done);
}

void progress_tick(progress_t *p)
{
    if (p)
        show(p, false);
}

void progress_note(progress_t *p, const char *fmt, ...)
{
    if (!p)
        return;
    progress_clear(p);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(p->o.out, fmt, ap);
    va_end(ap);
    fputc('\n', p->o.out);
    fflush(p->o.out);
    p->last_line = now_ms(p);
}

void progress_clear(progress_t *p)
{
    if (!p || !p->shown)
        return;
    fputs("\r\033[K", p->o.out);
    fflush(p->o.out);
    p->shown = false;
}
