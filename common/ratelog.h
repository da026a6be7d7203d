/* ratelog.h — rate-limited reporting of a repeated event (malformed input) per key (a peer), so
 * that hostile or broken input cannot grow a log without bound.
 *
 * For each key: the first event is reported at once (its reason in full); later events are
 * counted, and at most one line per interval summarises those since the previous line, with the
 * latest reason. Totals per key are kept for one summary line at exit. Memory is fixed at
 * creation: at most RATELOG_MAX_KEYS keys, further keys are counted together under "others".
 *
 * The module only counts and formats lines into the caller's buffer: it never logs, never
 * allocates after ratelog_new, and reads no clock (the caller passes now_ms), so the broker,
 * the actor loop and the actor's agent thread each own one and log with their own logger. */
#ifndef FEDPEP_COMMON_RATELOG_H
#define FEDPEP_COMMON_RATELOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RATELOG_INTERVAL_MS 10000 /* what fedpep's processes use: one line per 10 s per key */
#define RATELOG_MAX_KEYS 32
#define RATELOG_KEY_MAX 63     /* longer keys are truncated */
#define RATELOG_REASON_MAX 159 /* longer reasons are truncated */

typedef struct ratelog ratelog_t;

/* what names the event in lines ("malformed input"), prep links it to a key ("from", "to");
 * interval_ms > 0. NULL when out of memory or for bad arguments. */
ratelog_t *ratelog_new(const char *what, const char *prep, int64_t interval_ms);
void ratelog_destroy(ratelog_t **self_p);

/* Counts one event of key (NULL = "unknown") with its reason at now_ms (a monotonic clock).
 * Returns true when a line is due, written into out (cap bytes, no newline):
 *   "<what> <prep> <key>: <reason>"             the first, or the only one since the last line
 *   "<what> <prep> <key>: <n> in the last <s> s; latest: <reason>"   n events since the last */
bool ratelog_event(ratelog_t *self, const char *key, const char *reason, int64_t now_ms, char *out,
                   size_t cap);

/* The next overdue summary: a key with events not reported yet whose interval has passed since
 * its last line. Returns false when there is none; call from a timer until it does. */
bool ratelog_flush(ratelog_t *self, int64_t now_ms, char *out, size_t cap);

/* Events counted since ratelog_new, all keys together. */
uint64_t ratelog_total(const ratelog_t *self);

/* One line of totals, keys busiest first, into out (no newline; cut at cap), e.g.
 *   "malformed input: 50000 in total; 49990 from client.3 (latest: ...), 10 from others"
 * Returns the total; out is "" when it is 0. */
uint64_t ratelog_summary(const ratelog_t *self, char *out, size_t cap);

#endif
