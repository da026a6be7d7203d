/* trace.c — see trace.h. Rows are kept as (client, first round, last round) ranges sorted by
 * client then first round, so overlap detection is one pass and a lookup is a binary search. */
#include "actors/trace.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/file_io.h"

#define TRACE_HEADER "client,round,available,speed"
#define TRACE_FIELDS 4
#define TRACE_ALL_ROUNDS UINT32_MAX
#define TRACE_MAX_BYTES (64u << 20)

typedef struct trace_row {
    uint32_t client, r0, r1; /* rounds r0..r1 inclusive */
    bool available;
    double speed;
    int line;
} trace_row;

struct fault_trace {
    trace_row *rows;
    size_t n, cap;
};

/* A field [b, e) with spaces trimmed. */
typedef struct field {
    const char *b, *e;
} field;

static field trim(const char *b, const char *e)
{
    while (b < e && (*b == ' ' || *b == '\t'))
        b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        e--;
    return (field){b, e};
}

static bool field_is(field f, const char *s)
{
    size_t n = strlen(s);
    return (size_t)(f.e - f.b) == n && memcmp(f.b, s, n) == 0;
}

/* A decimal unsigned integer that fills f and is ≤ max. */
static bool parse_u32(field f, uint32_t max, uint32_t *out)
{
    if (f.b == f.e || f.e - f.b > 10)
        return false;
    uint64_t v = 0;
    for (const char *p = f.b; p < f.e; p++) {
        if (!isdigit((unsigned char)*p))
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v > max)
        return false;
    *out = (uint32_t)v;
    return true;
}

static bool parse_speed(field f, double *out)
{
    char buf[64];
    size_t n = (size_t)(f.e - f.b);
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, f.b, n);
    buf[n] = 0;
    if (!isdigit((unsigned char)buf[0]) && buf[0] != '.')
        return false; /* no sign, no "inf"/"nan" spellings */
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (errno || *end || !isfinite(v) || !(v > 0) || v > 1)
        return false;
    *out = v;
    return true;
}

/* "a", "a-b" (a ≤ b) or "*". */
static bool parse_rounds(field f, uint32_t *r0, uint32_t *r1)
{
    if (field_is(f, "*")) {
        *r0 = 0;
        *r1 = TRACE_ALL_ROUNDS;
        return true;
    }
    const char *dash = memchr(f.b, '-', (size_t)(f.e - f.b));
    if (!dash)
        return parse_u32(f, TRACE_ALL_ROUNDS - 1, r0) && (*r1 = *r0, true);
    return parse_u32((field){f.b, dash}, TRACE_ALL_ROUNDS - 1, r0) &&
           parse_u32((field){dash + 1, f.e}, TRACE_ALL_ROUNDS - 1, r1) && *r0 <= *r1;
}

/* Splits [b, e) at commas into at most TRACE_FIELDS + 1 fields; returns how many. */
static int split(const char *b, const char *e, field *out)
{
    int n = 0;
    for (;;) {
        const char *c = memchr(b, ',', (size_t)(e - b));
        const char *fe = c ? c : e;
        if (n <= TRACE_FIELDS)
            out[n] = trim(b, fe);
        n++;
        if (!c)
            return n;
        b = c + 1;
    }
}

static fp_status parse_row(fault_trace_t *self, field *f, int clients, int line, const char *name,
                           fp_error *err)
{
    trace_row r = {.line = line};
    uint32_t avail;
    if (!parse_u32(f[0], UINT32_MAX, &r.client))
        return fp_fail(err, FP_EFORMAT, "%s:%d: client is not a number", name, line);
    if (r.client >= (uint32_t)clients)
        return fp_fail(err, FP_EFORMAT, "%s:%d: client %u out of range (the run has %d)", name,
                       line, r.client, clients);
    if (!parse_rounds(f[1], &r.r0, &r.r1))
        return fp_fail(err, FP_EFORMAT, "%s:%d: round must be N, A-B (A <= B) or *", name, line);
    if (!parse_u32(f[2], 1, &avail))
        return fp_fail(err, FP_EFORMAT, "%s:%d: available must be 0 or 1", name, line);
    r.available = avail == 1;
    if (!parse_speed(f[3], &r.speed))
        return fp_fail(err, FP_EFORMAT, "%s:%d: speed must be a number in (0, 1]", name, line);
    if (self->n == self->cap) {
        size_t cap = self->cap ? 2 * self->cap : 64;
        trace_row *rows = realloc(self->rows, cap * sizeof *rows);
        if (!rows)
            return fp_fail(err, FP_ENOMEM, "%s: out of memory", name);
        self->rows = rows;
        self->cap = cap;
    }
    self->rows[self->n++] = r;
    return FP_OK;
}

static int row_cmp(const void *a, const void *b)
{
    const trace_row *x = a, *y = b;
    if (x->client != y->client)
        return x->client < y->client ? -1 : 1;
    if (x->r0 != y->r0)
        return x->r0 < y->r0 ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

/* After sorting, two rows of one client overlap iff adjacent ones do. */
static fp_status check_overlaps(const fault_trace_t *self, const char *name, fp_error *err)
{
    for (size_t i = 1; i < self->n; i++) {
        const trace_row *a = &self->rows[i - 1], *b = &self->rows[i];
        if (a->client == b->client && b->r0 <= a->r1) {
            const trace_row *late = a->line > b->line ? a : b, *early = late == a ? b : a;
            return fp_fail(err, FP_EFORMAT, "%s:%d: client %u round %u is already given at line %d",
                           name, late->line, late->client, b->r0, early->line);
        }
    }
    return FP_OK;
}

static fp_status parse_all(fault_trace_t *self, const char *text, size_t len, const char *name,
                           int clients, fp_error *err)
{
    const char *p = text, *end = text + len;
    bool header = false;
    fp_status st = FP_OK;
    for (int line = 1; p < end && !st; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        field whole = trim(p, le);
        p = nl ? nl + 1 : end;
        if (whole.b == whole.e || *whole.b == '#')
            continue;
        if (memchr(whole.b, 0, (size_t)(whole.e - whole.b)))
            return fp_fail(err, FP_EFORMAT, "%s:%d: NUL byte", name, line);
        field f[TRACE_FIELDS + 1];
        int n = split(whole.b, whole.e, f);
        if (!header) {
            if (n != TRACE_FIELDS || !field_is(f[0], "client") || !field_is(f[1], "round") ||
                !field_is(f[2], "available") || !field_is(f[3], "speed"))
                return fp_fail(err, FP_EFORMAT, "%s:%d: the header must be " TRACE_HEADER, name,
                               line);
            header = true;
            continue;
        }
        if (n != TRACE_FIELDS)
            return fp_fail(err, FP_EFORMAT, "%s:%d: %d fields, expected %d (" TRACE_HEADER ")",
                           name, line, n, TRACE_FIELDS);
        st = parse_row(self, f, clients, line, name, err);
    }
    if (!st && !header)
        st = fp_fail(err, FP_EFORMAT, "%s: no header (" TRACE_HEADER ")", name);
    if (!st && self->n)
        qsort(self->rows, self->n, sizeof *self->rows, row_cmp);
    return st ? st : check_overlaps(self, name, err);
}

fault_trace_t *fault_trace_parse(const char *text, size_t len, const char *name, int clients,
                                 fp_error *err)
{
    fault_trace_t *self = calloc(1, sizeof *self);
    if (!self) {
        fp_fail(err, FP_ENOMEM, "%s: out of memory", name);
        return NULL;
    }
    if (parse_all(self, text, len, name, clients, err))
        fault_trace_destroy(&self);
    return self;
}

fault_trace_t *fault_trace_load(const char *path, int clients, fp_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    fp_status st = fp_file_read(path, TRACE_MAX_BYTES, &buf, &len, err);
    fault_trace_t *self = st ? NULL : fault_trace_parse(buf, len, path, clients, err);
    free(buf);
    return self;
}

void fault_trace_destroy(fault_trace_t **self_p)
{
    fault_trace_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    free(self->rows);
    free(self);
    *self_p = NULL;
}

bool fault_trace_lookup(const fault_trace_t *self, uint32_t round, uint32_t client, bool *available,
                        double *speed)
{
    if (!self)
        return false;
    /* The last row with (client, r0) ≤ (client, round); rows of a client do not overlap. */
    size_t lo = 0, hi = self->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const trace_row *r = &self->rows[mid];
        if (r->client < client || (r->client == client && r->r0 <= round))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return false;
    const trace_row *r = &self->rows[lo - 1];
    if (r->client != client || round < r->r0 || round > r->r1)
        return false;
    *available = r->available;
    *speed = r->speed;
    return true;
}

size_t fault_trace_rows(const fault_trace_t *self)
{
    return self ? self->n : 0;
}
