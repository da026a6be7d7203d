/* file_io.c — see file_io.h. */
#include "common/file_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

fp_status fp_file_read(const char *path, size_t max_bytes, char **out, size_t *len, fp_error *err)
{
    if (!out || !len)
        return fp_fail(err, FP_EINVAL, "fp_file_read: NULL argument");
    *out = NULL;
    *len = 0;
    if (!path)
        return fp_fail(err, FP_EINVAL, "fp_file_read: NULL path");
    FILE *f = fopen(path, "rb");
    if (!f)
        return fp_fail(err, errno == ENOENT ? FP_ENOTFOUND : FP_EIO, "%s: cannot open: %s", path,
                       strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fclose(f);
        return fp_fail(err, FP_EIO, "%s: not a regular file (a folder)", path);
    }
    if (max_bytes > SIZE_MAX / 2)
        max_bytes = SIZE_MAX / 2;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    fp_status st = FP_OK;
    for (;;) {
        if (n + 1 >= cap) {
            /* Room for one byte beyond the limit (tells "exactly max" from "larger") + the NUL. */
            size_t want = cap ? 2 * cap : 4096;
            if (want > max_bytes + 2)
                want = max_bytes + 2;
            char *nb = realloc(buf, want);
            if (!nb) {
                st = fp_fail(err, FP_ENOMEM, "%s: out of memory", path);
                break;
            }
            buf = nb, cap = want;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (n > max_bytes) {
            st = fp_fail(err, FP_ELIMIT, "%s: larger than %zu bytes", path, max_bytes);
            break;
        }
        if (got == 0) {
            if (ferror(f))
                st = fp_fail(err, FP_EIO, "%s: read error", path);
            break;
        }
    }
    fclose(f);
    if (st) {
        free(buf);
        return st;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return FP_OK;
}

static fp_status write_all(int fd, const void *buf, size_t n, const char *path, fp_error *err)
{
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n > (1u << 30) ? (1u << 30) : n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return fp_fail(err, FP_EIO, "write %s: %s", path,
                           w < 0 ? strerror(errno) : "no progress");
        p += w;
        n -= (size_t)w;
    }
    return FP_OK;
}

/* Makes the rename durable; failure here is not fatal to the data already written. */
static void fsync_parent(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

fp_status fp_file_write_atomic(const char *path, const void *const *parts, const size_t *sizes,
                               size_t n_parts, fp_error *err)
{
    if (!path || (n_parts && (!parts || !sizes)))
        return fp_fail(err, FP_EINVAL, "fp_file_write_atomic: NULL argument");
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return fp_fail(err, FP_EINVAL, "fp_file_write_atomic: path too long");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return fp_fail(err, FP_EIO, "create %s: %s", tmp, strerror(errno));
    fp_status st = FP_OK;
    for (size_t i = 0; !st && i < n_parts; i++)
        st = write_all(fd, parts[i], sizes[i], tmp, err);
    if (!st && fsync(fd) != 0)
        st = fp_fail(err, FP_EIO, "fsync %s: %s", tmp, strerror(errno));
    if (close(fd) != 0 && !st)
        st = fp_fail(err, FP_EIO, "close %s: %s", tmp, strerror(errno));
    if (!st && rename(tmp, path) != 0)
        st = fp_fail(err, FP_EIO, "rename %s to %s: %s", tmp, path, strerror(errno));
    if (st)
        unlink(tmp);
    else
        fsync_parent(path);
    return st;
}
