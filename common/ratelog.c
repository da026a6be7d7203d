/* ratelog.c — per-key counters and the lines they become (see ratelog.h). Fixed memory: a table
 * of RATELOG_MAX_KEYS entries plus one for "others", found by a linear scan (32 short strings:
 * cheaper than hashing, and a flood has one key). */
#include "common/ratelog.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ratelog_key {
    char key[RATELOG_KEY_MAX + 1];
    char reason[RATELOG_REASON_MAX + 1]; /* the latest */
    uint64_t total;                      /* since ratelog_new */
    uint64_t pending;                    /* since the last line */
    int64_t last_line_ms;
    bool has_line; /* a line was reported for this key */
} ratelog_key;

struct ratelog {
    char what[64];
    char prep[16];
    int64_t interval_ms;
    uint64_t total;
    int n;                                  /* keys in use, others excluded */
    ratelog_key keys[RATELOG_MAX_KEYS + 1]; /* the last one is "others" */
};

ratelog_t *ratelog_new(const char *what, const char *prep, int64_t interval_ms)
{
    if (!what || !prep || interval_ms <= 0)
        return NULL;
    ratelog_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    snprintf(self->what, sizeof self->what, "%s", what);
    snprintf(self->prep, sizeof self->prep, "%s", prep);
    self->interval_ms = interval_ms;
    snprintf(self->keys[RATELOG_MAX_KEYS].key, sizeof self->keys[0].key, "others");
    return self;
}

void ratelog_destroy(ratelog_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

static ratelog_key *find_key(ratelog_t *self, const char *key)
{
    char k[RATELOG_KEY_MAX + 1];
    snprintf(k, sizeof k, "%s", key ? key : "unknown");
    for (int i = 0; i < self->n; i++)
        if (!strcmp(self->keys[i].key, k))
            return &self->keys[i];
    if (self->n == RATELOG_MAX_KEYS)
        return &self->keys[RATELOG_MAX_KEYS];
    ratelog_key *e = &self->keys[self->n++];
    memcpy(e->key, k, sizeof e->key);
    return e;
}

/* The line for e's pending events; resets them. */
static void line_of(const ratelog_t *self, ratelog_key *e, int64_t now_ms, char *out, size_t cap)
{
    if (e->pending == 1 || !e->has_line)
        snprintf(out, cap, "%s %s %s: %s", self->what, self->prep, e->key, e->reason);
    else
        snprintf(out, cap, "%s %s %s: %" PRIu64 " in the last %.1f s; latest: %s", self->what,
                 self->prep, e->key, e->pending, (double)(now_ms - e->last_line_ms) / 1000.0,
                 e->reason);
    e->pending = 0;
    e->last_line_ms = now_ms;
    e->has_line = true;
}

bool ratelog_event(ratelog_t *self, const char *key, const char *reason, int64_t now_ms, char *out,
                   size_t cap)
{
    if (!self)
        return false;
    ratelog_key *e = find_key(self, key);
    self->total++;
    e->total++;
    e->pending++;
    snprintf(e->reason, sizeof e->reason, "%s", reason ? reason : "");
    if (e->has_line && now_ms - e->last_line_ms < self->interval_ms)
        return false;
    line_of(self, e, now_ms, out, cap);
    return true;
}

bool ratelog_flush(ratelog_t *self, int64_t now_ms, char *out, size_t cap)
{
    if (!self)
        return false;
    for (int i = 0; i <= RATELOG_MAX_KEYS; i++) {
        ratelog_key *e = &self->keys[i];
        if (e->pending && now_ms - e->last_line_ms >= self->interval_ms) {
            line_of(self, e, now_ms, out, cap);
            return true;
        }
    }
    return false;
}

uint64_t ratelog_total(const ratelog_t *self)
{
    return self ? self->total : 0;
}

uint64_t ratelog_summary(const ratelog_t *self, char *out, size_t cap)
{
    if (cap)
        out[0] = 0;
    if (!self || !self->total || !cap)
        return self ? self->total : 0;
    size_t len = (size_t)snprintf(out, cap, "%s: %" PRIu64 " in total", self->what, self->total);
    bool listed[RATELOG_MAX_KEYS + 1] = {false};
    for (const char *sep = "; "; len < cap; sep = ", ") {
        int best = -1;
        for (int i = 0; i <= RATELOG_MAX_KEYS; i++)
            if (!listed[i] && self->keys[i].total &&
                (best < 0 || self->keys[i].total > self->keys[best].total))
                best = i;
        if (best < 0)
            break;
        listed[best] = true;
        const ratelog_key *e = &self->keys[best];
        len += (size_t)snprintf(out + len, cap - len, "%s%" PRIu64 " %s %s (latest: %s)", sep,
                                e->total, self->prep, e->key, e->reason);
    }
    return self->total;
}
