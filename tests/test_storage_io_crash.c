/* test_storage_io_crash.c — the store killed inside SQLite's own COMMIT, before each write and
 * each fsync of the file or its WAL, still leaves each round all there or absent. The kill
 * points come from a shim VFS (wrapping the default one) that counts xWrite/xSync calls in a
 * forked child and SIGKILLs it at the k-th. test_storage_crash.c kills between statements. */
#include "test_storage_fixture.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

/* The shim: a copy of the default VFS with its own xOpen, and files whose writes and syncs are
 * counted. pAppData stays the real VFS's (the unix VFS keeps its locking finder there). */
typedef struct shim_vfs {
    sqlite3_vfs vfs; /* first, so a sqlite3_vfs * is a shim_vfs * */
    sqlite3_vfs *real;
    int kill_at, events;
} shim_vfs;

typedef struct shim_file {
    sqlite3_file base;
    shim_vfs *owner;
    sqlite3_file *real; /* lives right after this struct */
} shim_file;

static sqlite3_file *real_of(sqlite3_file *f)
{
    return ((shim_file *)f)->real;
}

/* An I/O event; the child dies before performing event number kill_at. */
static void io_event(sqlite3_file *f)
{
    shim_vfs *s = ((shim_file *)f)->owner;
    if (++s->events == s->kill_at)
        kill(getpid(), SIGKILL);
}

static int shim_close(sqlite3_file *f)
{
    return real_of(f)->pMethods->xClose(real_of(f));
}

static int shim_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
    return real_of(f)->pMethods->xRead(real_of(f), b, n, o);
}

static int shim_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
    io_event(f);
    return real_of(f)->pMethods->xWrite(real_of(f), b, n, o);
}

static int shim_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    io_event(f);
    return real_of(f)->pMethods->xTruncate(real_of(f), size);
}

static int shim_sync(sqlite3_file *f, int flags)
{
    io_event(f);
    return real_of(f)->pMethods->xSync(real_of(f), flags);
}

static int shim_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return real_of(f)->pMethods->xFileSize(real_of(f), size);
}

static int shim_lock(sqlite3_file *f, int level)
{
    return real_of(f)->pMethods->xLock(real_of(f), level);
}

static int shim_unlock(sqlite3_file *f, int level)
{
    return real_of(f)->pMethods->xUnlock(real_of(f), level);
}

static int shim_check_lock(sqlite3_file *f, int *out)
{
    return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}

static int shim_file_control(sqlite3_file *f, int op, void *arg)
{
    return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}

static int shim_sector_size(sqlite3_file *f)
{
    return real_of(f)->pMethods->xSectorSize(real_of(f));
}

static int shim_device(sqlite3_file *f)
{
    return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}

static int shim_shm_map(sqlite3_file *f, int page, int size, int extend, void volatile **p)
{
    return real_of(f)->pMethods->xShmMap(real_of(f), page, size, extend, p);
}

static int shim_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}

static void shim_shm_barrier(sqlite3_file *f)
{
    real_of(f)->pMethods->xShmBarrier(real_of(f));
}

static int shim_shm_unmap(sqlite3_file *f, int del)
{
    return real_of(f)->pMethods->xShmUnmap(real_of(f), del);
}

/* Version 2: no xFetch, so SQLite never bypasses xRead/xWrite through memory maps. */
static const sqlite3_io_methods SHIM_IO = {
    .iVersion = 2,
    .xClose = shim_close,
    .xRead = shim_read,
    .xWrite = shim_write,
    .xTruncate = shim_truncate,
    .xSync = shim_sync,
    .xFileSize = shim_file_size,
    .xLock = shim_lock,
    .xUnlock = shim_unlock,
    .xCheckReservedLock = shim_check_lock,
    .xFileControl = shim_file_control,
    .xSectorSize = shim_sector_size,
    .xDeviceCharacteristics = shim_device,
    .xShmMap = shim_shm_map,
    .xShmLock = shim_shm_lock,
    .xShmBarrier = shim_shm_barrier,
    .xShmUnmap = shim_shm_unmap,
};

static int shim_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                     int *out_flags)
{
    shim_vfs *s = (shim_vfs *)vfs;
    shim_file *f = (shim_file *)file;
    f->owner = s;
    f->real = (sqlite3_file *)(f + 1);
    int rc = s->real->xOpen(s->real, name, f->real, flags, out_flags);
    f->base.pMethods = f->real->pMethods ? &SHIM_IO : NULL;
    return rc;
}

/* In a child only: makes the shim the default VFS for every connection opened after it. */
static void shim_install(shim_vfs *s, int kill_at)
{
    s->real = sqlite3_vfs_find(NULL);
    s->vfs = *s->real;
    s->vfs.zName = "fedpep-kill-shim";
    s->vfs.szOsFile = (int)sizeof(shim_file) + s->real->szOsFile;
    s->vfs.xOpen = shim_open;
    s->vfs.pNext = NULL;
    s->kill_at = kill_at;
    s->events = 0;
    if (sqlite3_vfs_register(&s->vfs, 1) != SQLITE_OK)
        _exit(30);
}

/* Child: commit round `round` through the shim, dying before I/O event kill_at (0: never).
 * Exits with the number of I/O events the commit made when it survives. */
static pid_t fork_commit(const char *path, int64_t run, int32_t round, int kill_at)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid > 0)
        return pid;
    static shim_vfs shim; /* the child's only VFS shim; the VFS list holds a pointer to it */
    shim_install(&shim, 0);
    store_db_t *db = NULL;
    if (store_db_open(&db, path, 0, NULL))
        _exit(20);
    shim.events = 0; /* count (and kill) within the commit only */
    shim.kill_at = kill_at;
    if (fx_commit(db, run, round, NULL, NULL))
        _exit(21);
    int events = shim.events;
    store_db_close(&db);
    _exit(events < 200 ? 100 + events : 22);
}

static void make_two_rounds(const char *path, int64_t *run)
{
    store_db_t *db = fx_open(path, STORE_DB_CREATE);
    *run = fx_run(db, "r");
    fx_commit_ok(db, *run, 0);
    fx_commit_ok(db, *run, 1);
    store_db_close(&db);
}

static void killed_inside_commit_io_is_all_or_nothing(void **state)
{
    fx_db *fx = *state;
    char path[400];
    int64_t run = 0;

    /* How many writes and syncs one commit makes (the open's own I/O is not counted). */
    snprintf(path, sizeof path, "%s/count.db", fx->dir);
    make_two_rounds(path, &run);
    int status = 0;
    pid_t pid = fork_commit(path, run, 2, 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) > 100 && WEXITSTATUS(status) < 200);
    const int events = WEXITSTATUS(status) - 100;
    print_message("    one round commit = %d writes and syncs\n", events);

    bool landed = false;
    int first_landed = 0;
    for (int at = 1; at <= events; at++) {
        snprintf(path, sizeof path, "%s/io-%03d.db", fx->dir, at);
        make_two_rounds(path, &run);
        pid = fork_commit(path, run, 2, at);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
            fail_msg("kill before I/O event %d: child exited %d", at,
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);

        store_db_t *db = fx_open(path, STORE_DB_VERIFY);
        int n = fx_check_whole_rounds(db, run); /* whole rounds, checksums right */
        if (n != 2 && n != 3)
            fail_msg("kill before I/O event %d: %d rounds", at, n);
        /* Later deaths never lose what an earlier death kept. */
        if (landed && n != 3)
            fail_msg("kill before I/O event %d lost round 2 (kept from event %d)", at,
                     first_landed);
        if (n == 3 && !landed) {
            landed = true;
            first_landed = at;
        }
        fp_error err = {0};
        bool dup = false;
        assert_int_equal(fx_commit(db, run, 2, &dup, &err), FP_OK); /* resume */
        assert_int_equal(dup, n == 3);
        fx_commit_ok(db, run, 3);
        store_db_close(&db);
        unlink(path);
    }
    /* Dying before the first write loses the round; once the commit frame is written the
     * round survives even without the final fsync (the kernel has the bytes). */
    print_message("    round survives kills from I/O event %d of %d\n", first_landed, events);
    assert_true(first_landed > 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(killed_inside_commit_io_is_all_or_nothing),
    };
    return cmocka_run_group_tests_name("storage_io_crash", tests, NULL, NULL);
}
