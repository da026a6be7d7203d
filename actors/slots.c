/* slots.c — the training-slot pool over flock'ed files (see slots.h). Never holds two slots in
 * one handle; never leaves a descriptor open on a released slot. */
#include "actors/slots.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct slots {
    char dir[PATH_MAX - 32]; /* room left for "/slot.N" in a PATH_MAX buffer */
    int n;
    int held; /* slot number, -1 when none */
    int fd;   /* descriptor carrying the flock of the held slot */
    unsigned probe; /* where the next scan starts, so waiters do not all hammer slot 0 */
};

static int slot_path(char *out, size_t cap, const char *dir, int i)
{
    return snprintf(out, cap, "%s/slot.%d", dir, i) < (int)cap ? 0 : -1;
}

fp_status slots_create(const char *dir, int n, fp_error *err)
{
    if (!dir || n < 1 || n > SLOTS_MAX)
        return fp_fail(err, FP_EINVAL, "slots: pool size %d outside 1..%d", n, SLOTS_MAX);
    if (mkdir(dir, 0700) && errno != EEXIST)
        return fp_fail(err, FP_EIO, "slots: mkdir %s: %s", dir, strerror(errno));
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX];
        if (slot_path(path, sizeof path, dir, i))
            return fp_fail(err, FP_EINVAL, "slots: folder name too long: %s", dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
            return fp_fail(err, FP_EIO, "slots: create %s: %s", path, strerror(errno));
        close(fd);
    }
    return FP_OK;
}

slots_t *slots_open(const char *dir, int n, fp_error *err)
{
    if (!dir || n < 1 || n > SLOTS_MAX) {
        fp_fail(err, FP_EINVAL, "slots: pool size %d outside 1..%d", n, SLOTS_MAX);
        return NULL;
    }
    char path[PATH_MAX];
    if (strlen(dir) >= PATH_MAX - 32 || slot_path(path, sizeof path, dir, n - 1)) {
        fp_fail(err, FP_EINVAL, "slots: folder name too long: %s", dir);
        return NULL;
    }
    if (access(path, R_OK)) {
        fp_fail(err, FP_ENOTFOUND, "slots: %s: %s (no pool of %d slots there)", path,
                strerror(errno), n);
        return NULL;
    }
    slots_t *pool = calloc(1, sizeof *pool);
    if (!pool) {
        fp_fail(err, FP_ENOMEM, "slots: out of memory");
        return NULL;
    }
    snprintf(pool->dir, sizeof pool->dir, "%s", dir);
    pool->n = n;
    pool->held = -1;
    pool->fd = -1;
    pool->probe = (unsigned)getpid();
    return pool;
}

fp_status slots_from_env(slots_t **out, fp_error *err)
{
    *out = NULL;
    const char *v = getenv(SLOTS_ENV);
    if (!v || !*v)
        return FP_OK;
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end != ':' || !end[1] || n < 1 || n > SLOTS_MAX)
        return fp_fail(err, FP_EFORMAT, "slots: %s='%s' is not N:DIR with 1 <= N <= %d",
                       SLOTS_ENV, v, SLOTS_MAX);
    fp_error e = {0};
    *out = slots_open(end + 1, (int)n, &e);
    return *out ? FP_OK : fp_fail(err, e.status, "%s", e.msg);
}

fp_status slots_try_acquire(slots_t *pool, int *slot, fp_error *err)
{
    if (slot)
        *slot = -1;
    if (!pool)
        return FP_OK;
    if (pool->held >= 0)
        return fp_fail(err, FP_ESTATE, "slots: this handle already holds slot %d", pool->held);
    for (int k = 0; k < pool->n; k++) {
        int i = (int)((pool->probe + (unsigned)k) % (unsigned)pool->n);
        char path[PATH_MAX];
        slot_path(path, sizeof path, pool->dir, i);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return fp_fail(err, FP_EIO, "slots: open %s: %s", path, strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            pool->held = i;
            pool->fd = fd;
            pool->probe++;
            if (slot)
                *slot = i;
            return FP_OK;
        }
        int e = errno;
        close(fd);
        if (e != EWOULDBLOCK && e != EINTR)
            return fp_fail(err, FP_EIO, "slots: flock %s: %s", path, strerror(e));
    }
    pool->probe++;
    return FP_ETIMEOUT; /* every slot is held: not an error the caller must report */
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

fp_status slots_acquire(slots_t *pool, int64_t timeout_ms, int *slot, fp_error *err)
{
    int64_t start = now_ms();
    for (;;) {
        fp_status st = slots_try_acquire(pool, slot, err);
        if (st != FP_ETIMEOUT)
            return st;
        if (timeout_ms >= 0 && now_ms() - start >= timeout_ms)
            return fp_fail(err, FP_ETIMEOUT, "slots: all %d training slots busy for %lld ms",
                           pool->n, (long long)timeout_ms);
        struct timespec nap = {0, 5 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }
}

void slots_release(slots_t *pool)
{
    if (!pool || pool->held < 0)
        return;
    flock(pool->fd, LOCK_UN);
    close(pool->fd);
    pool->fd = -1;
    pool->held = -1;
}

int slots_held(const slots_t *pool) { return pool ? pool->held : -1; }
int slots_count(const slots_t *pool) { return pool ? pool->n : 0; }

void slots_destroy(slots_t **pool_p)
{
    if (!pool_p || !*pool_p)
        return;
    slots_release(*pool_p);
    free(*pool_p);
    *pool_p = NULL;
}
