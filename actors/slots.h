/* slots.h — the training-slot pool: at most N processes on this machine train at once.
 *
 * Many client processes share a few cores; each one wraps its local training in
 * slots_acquire/slots_release so only N of them compute at a time while the others wait. The
 * pool is N files slot.0 .. slot.N-1 in a folder (the launcher makes it in the run folder); a
 * holder owns a slot by an exclusive flock on its file. The kernel drops a flock when the holder
 * dies, so a client killed with SIGKILL while training never leaks its slot (a POSIX semaphore
 * would). The launcher passes the pool to its children in the environment variable FEDPEP_SLOTS
 * ("N:DIR"); a process started by hand has no pool and trains without waiting.
 *
 * This module must never hold more than one slot per handle and never read anything but
 * FEDPEP_SLOTS from the environment. A handle belongs to one thread. */
#ifndef FEDPEP_ACTORS_SLOTS_H
#define FEDPEP_ACTORS_SLOTS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/status.h"

#define SLOTS_ENV "FEDPEP_SLOTS"
#define SLOTS_MAX 1024

typedef struct slots slots_t;

/* Creates the pool folder dir (if missing) and its n slot files (1 <= n <= SLOTS_MAX).
 * FP_EINVAL for a bad n, FP_EIO when the folder or a file cannot be made. */
fp_status slots_create(const char *dir, int n, fp_error *err);

/* Opens the pool of n slots in dir (made by slots_create). NULL on failure with err. */
slots_t *slots_open(const char *dir, int n, fp_error *err);

/* Opens the pool named by FEDPEP_SLOTS ("N:DIR"). *out = NULL and FP_OK when the variable is
 * unset or empty (no pool: slots_acquire(NULL, ...) then returns at once). FP_EFORMAT for a
 * malformed value; slots_open's errors otherwise. */
fp_status slots_from_env(slots_t **out, fp_error *err);

/* Waits until one slot is free and takes it. timeout_ms < 0 waits forever; FP_ETIMEOUT when
 * none became free in time. Polls every few ms (flock offers no "any of these" wait).
 * FP_ESTATE when this handle already holds a slot. *slot (may be NULL) gets the slot number.
 * A NULL pool succeeds at once with *slot = -1. */
fp_status slots_acquire(slots_t *pool, int64_t timeout_ms, int *slot, fp_error *err);

/* Takes a free slot without waiting: FP_OK, or FP_ETIMEOUT when all are held. */
fp_status slots_try_acquire(slots_t *pool, int *slot, fp_error *err);

/* Gives the held slot back; no-op when none is held or pool is NULL. */
void slots_release(slots_t *pool);

/* The slot this handle holds, or -1. */
int slots_held(const slots_t *pool);
int slots_count(const slots_t *pool);

/* Releases any held slot and frees the handle; accepts NULL and *pool_p == NULL. */
void slots_destroy(slots_t **pool_p);

#endif
