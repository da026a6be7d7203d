/* test_launch_slots.c — the training-slot pool: never more than N holders across processes, a
 * holder killed with SIGKILL frees its slot, FEDPEP_SLOTS parsing, misuse refused. */
#include "tests/support/test.h"

#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "actors/slots.h"

static void nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void handles_in_one_process_share_the_limit(void **state)
{
    (void)state;
    const char *dir = test_tmpdir("slots");
    fp_error err = {0};
    assert_int_equal(slots_create(dir, 2, &err), FP_OK);
    slots_t *a = slots_open(dir, 2, &err), *b = slots_open(dir, 2, &err),
            *c = slots_open(dir, 2, &err);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    int sa = -1, sb = -1, sc = -1;
    assert_int_equal(slots_acquire(a, 0, &sa, &err), FP_OK);
    assert_int_equal(slots_acquire(b, 0, &sb, &err), FP_OK);
    assert_true(sa != sb && sa >= 0 && sb >= 0 && sa < 2 && sb < 2);
    assert_int_equal(slots_try_acquire(c, &sc, &err), FP_ETIMEOUT);
    assert_int_equal(sc, -1);
    assert_int_equal(slots_acquire(c, 30, &sc, &err), FP_ETIMEOUT);
    assert_non_null(strstr(err.msg, "busy"));
    assert_int_equal(slots_acquire(a, 0, NULL, &err), FP_ESTATE);
    slots_release(a);
    assert_int_equal(slots_held(a), -1);
    assert_int_equal(slots_acquire(c, 100, &sc, &err), FP_OK);
    assert_int_equal(sc, sa);
    assert_int_equal(slots_held(c), sa);
    slots_destroy(&a); /* releasing nothing */
    slots_destroy(&b);
    slots_destroy(&c); /* releases its slot */
    assert_null(c);
    slots_t *d = slots_open(dir, 2, &err);
    assert_int_equal(slots_try_acquire(d, NULL, &err), FP_OK);
    slots_destroy(&d);
    test_rmtree(dir);
}

/* K processes loop acquire -> count -> release; the shared maximum never exceeds N. */
static void processes_never_exceed_the_pool(void **state)
{
    (void)state;
    const char *dir = test_tmpdir("slots");
    fp_error err = {0};
    const int N = 2, K = 5;
    assert_int_equal(slots_create(dir, N, &err), FP_OK);
    atomic_int *shared = mmap(NULL, 2 * sizeof *shared, PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(shared != MAP_FAILED);
    atomic_init(&shared[0], 0);
    atomic_init(&shared[1], 0);
    pid_t pids[5];
    for (int k = 0; k < K; k++) {
        pids[k] = fork();
        assert_true(pids[k] >= 0);
        if (pids[k] == 0) {
            slots_t *s = slots_open(dir, N, NULL);
            int bad = !s;
            for (int i = 0; s && i < 20; i++) {
                if (slots_acquire(s, 5000, NULL, NULL)) {
                    bad = 1;
                    break;
                }
                int now = atomic_fetch_add(&shared[0], 1) + 1;
                int max = atomic_load(&shared[1]);
                while (now > max && !atomic_compare_exchange_weak(&shared[1], &max, now)) {
                }
                nap_ms(1);
                atomic_fetch_sub(&shared[0], 1);
                slots_release(s);
            }
            slots_destroy(&s);
            _exit(bad);
        }
    }
    for (int k = 0; k < K; k++) {
        int ws = 0;
        assert_int_equal(waitpid(pids[k], &ws, 0), pids[k]);
        assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    }
    assert_true(atomic_load(&shared[1]) <= N);
    assert_true(atomic_load(&shared[1]) >= 1);
    munmap(shared, 2 * sizeof *shared);
    test_rmtree(dir);
}

static void killed_holder_frees_its_slot(void **state)
{
    (void)state;
    const char *dir = test_tmpdir("slots");
    fp_error err = {0};
    assert_int_equal(slots_create(dir, 1, &err), FP_OK);
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        slots_t *s = slots_open(dir, 1, NULL);
        char ok = s && slots_acquire(s, 1000, NULL, NULL) == FP_OK ? 'y' : 'n';
        if (write(pipefd[1], &ok, 1) != 1)
            _exit(1);
        for (;;)
            pause(); /* holds the slot until killed */
    }
    char got = 0;
    assert_int_equal(read(pipefd[0], &got, 1), 1);
    assert_int_equal(got, 'y');
    slots_t *me = slots_open(dir, 1, &err);
    assert_non_null(me);
    assert_int_equal(slots_try_acquire(me, NULL, &err), FP_ETIMEOUT);
    kill(pid, SIGKILL);
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_int_equal(slots_acquire(me, 1000, NULL, &err), FP_OK);
    slots_destroy(&me);
    close(pipefd[0]);
    close(pipefd[1]);
    test_rmtree(dir);
}

static void environment_and_misuse(void **state)
{
    (void)state;
    const char *dir = test_tmpdir("slots");
    fp_error err = {0};
    slots_t *s = (slots_t *)1;
    unsetenv(SLOTS_ENV);
    assert_int_equal(slots_from_env(&s, &err), FP_OK);
    assert_null(s);
    int slot = 7;
    assert_int_equal(slots_acquire(NULL, 0, &slot, &err), FP_OK); /* no pool: no wait */
    assert_int_equal(slot, -1);
    slots_release(NULL);
    const char *bad[] = {"x", "2", "2:", "0:/tmp", "-1:/tmp", "99999:/tmp", ":/tmp", "2x:/tmp"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv(SLOTS_ENV, bad[i], 1);
        assert_int_equal(slots_from_env(&s, &err), FP_EFORMAT);
        assert_null(s);
    }
    char value[600];
    snprintf(value, sizeof value, "3:%s", dir);
    setenv(SLOTS_ENV, value, 1);
    assert_int_equal(slots_from_env(&s, &err), FP_ENOTFOUND); /* not created yet */
    assert_int_equal(slots_create(dir, 3, &err), FP_OK);
    assert_int_equal(slots_from_env(&s, &err), FP_OK);
    assert_non_null(s);
    assert_int_equal(slots_count(s), 3);
    slots_destroy(&s);
    unsetenv(SLOTS_ENV);
    assert_int_equal(slots_create(dir, 0, &err), FP_EINVAL);
    assert_int_equal(slots_create(dir, SLOTS_MAX + 1, &err), FP_EINVAL);
    assert_null(slots_open(dir, 0, &err));
    assert_null(slots_open("/nonexistent/fedpep-slots", 2, &err));
    assert_int_equal(err.status, FP_ENOTFOUND);
    assert_int_equal(slots_create("/proc/fedpep-no", 2, &err), FP_EIO);
    slots_destroy(NULL);
    test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(handles_in_one_process_share_the_limit),
        cmocka_unit_test(processes_never_exceed_the_pool),
        cmocka_unit_test(killed_holder_frees_its_slot),
        cmocka_unit_test(environment_and_misuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
