/* trace.h — an availability trace ([faults] trace): a CSV that replays real device behaviour in
 * place of the random dropout / straggler model, per (client, round).
 *
 * Format (strict; docs/config.md):
 *     client,round,available,speed        <- this exact header, first non-comment line
 *     0,3,0,1                             <- client 0 is unavailable in round 3
 *     1,0-9,1,0.5                         <- client 1 runs at half speed in rounds 0..9
 *     2,*,1,0.25                          <- client 2 runs at quarter speed in every round
 * client: 0 … clients−1; round: a 0-based round, an inclusive range a-b, or * (all rounds);
 * available: 0 or 1; speed: the device's speed relative to this machine, 0 < speed ≤ 1 (its
 * answer is held back by (1/speed − 1) × its compute time). Blank lines and lines starting with
 * # are ignored; spaces around fields are allowed. A (client, round) covered twice is an error.
 * Every error names file:line. Parsing never aborts on any input; lookups never fail. */
#ifndef FEDPEP_ACTORS_TRACE_H
#define FEDPEP_ACTORS_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

typedef struct fault_trace fault_trace_t;

/* The trace in text[len] (not NUL-terminated necessarily) for a run of `clients` clients; name
 * is used in error messages. NULL on error (FP_EFORMAT with "name:line: reason"). */
fault_trace_t *fault_trace_parse(const char *text, size_t len, const char *name, int clients,
                                 fp_error *err);

/* The trace in the file at path (FP_EIO if it cannot be read). */
fault_trace_t *fault_trace_load(const char *path, int clients, fp_error *err);

void fault_trace_destroy(fault_trace_t **self_p);

/* Whether the trace lists client k in round r; if so, *available and *speed are its values. */
bool fault_trace_lookup(const fault_trace_t *self, uint32_t round, uint32_t client,
                        bool *available, double *speed);

/* Number of rows (for tests and logs). */
size_t fault_trace_rows(const fault_trace_t *self);

#endif
