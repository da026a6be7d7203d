/* test.c — helpers shared by the test programs; see test.h. */
#include "tests/support/test.h"

#include <ftw.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "model/blas_kernel.h"

/* Test programs compute with the kernels the fedpep processes they compare with use: glibc
 * passes a constructor the program's arguments, so it can run the program again before main. */
__attribute__((constructor)) static void use_native_kernel(int argc, char **argv, char **envp)
{
    (void)argc;
    (void)envp;
    blas_use_native_kernel(argv);
}

const char *test_shared_dir(void)
{
    const char *env = getenv("FEDPEP_SHARED");
    return env && *env ? env : "../shared";
}

const char *test_tmpdir(const char *tag)
{
    static char path[256];
    snprintf(path, sizeof path, "/tmp/fedpep-test-%s-XXXXXX", tag);
    if (!mkdtemp(path))
        fail_msg("mkdtemp %s failed", path);
    return path;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void test_rmtree(const char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0)
        buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (len)
            *len = (size_t)n;
    }
    return buf;
}

int64_t test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool test_pid_alive(pid_t pid)
{
    if (pid <= 0 || kill(pid, 0))
        return false;
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *rp = strrchr(buf, ')');
    return !(rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'));
}
