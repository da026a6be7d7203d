/* test_launch_fixture.h — shared by the tests that run `fedpep launch` (test_launch_run.c,
 * test_launch_failures.c, test_attacks.c): a fresh folder with a tiny random model (2 layers of
 * width 32), 160/40 synthetic sst-2 rows and tiny.ini (run "tiny", seed 11, 2 local steps, 2
 * clients a round), and the sanitizer build of the fedpep binary the launcher starts. */
#ifndef FEDPEP_TESTS_TEST_LAUNCH_FIXTURE_H
#define FEDPEP_TESTS_TEST_LAUNCH_FIXTURE_H

#include "tests/support/test.h"

#include <sys/stat.h>
#include <unistd.h>

#include "launch/launch.h"
#include "tests/test_train_fixture.h"

typedef struct fixture {
    char dir[256];
    char config[512];
    char exe[512];
} fixture;

/* A cmocka group setup: *state gets the fixture for `rounds` rounds of `clients` clients in a
 * folder named after tag; -1 (saying why) when $BUILD/asan/fedpep is missing. */
static inline int launch_fixture_setup(void **state, const char *tag, int rounds, int clients)
{
    static fixture f;
    snprintf(f.dir, sizeof f.dir, "%s", test_tmpdir(tag));
    fixture_tree_in(f.dir, 2, 3, 160, 40, 5);
    snprintf(f.config, sizeof f.config, "%s/tiny.ini", f.dir);
    FILE *out = fopen(f.config, "w");
    assert_non_null(out);
    fprintf(out,
            "[run]\nname = tiny\nseed = 11\nrounds = %d\n"
            "[model]\npath = %s/model\nmax_seq_len = 24\nprompt_length = 2\n"
            "[data]\ntask = sst-2\ndir = %s/data\n"
            "[federation]\nclients = %d\nclients_per_round = 2\nmin_clients = 1\n"
            "round_deadline_s = 60\nscore_batch = 4\n"
            "[client]\nmax_local_steps = 2\nbatch_size = 4\nlocal_epochs = 1\n"
            "[eval]\nbatch_size = 8\n"
            "[launch]\ntrain_slots = 2\nrestart_delay_ms = 100\n",
            rounds, f.dir, f.dir, clients);
    fclose(out);
    const char *build = getenv("BUILD");
    snprintf(f.exe, sizeof f.exe, "%s/asan/fedpep", build && *build ? build : "build");
    if (access(f.exe, X_OK)) {
        fprintf(stderr, "test %s: %s missing (make build/asan/fedpep)\n", tag, f.exe);
        return -1;
    }
    *state = &f;
    return 0;
}

/* `fedpep launch` options for f's config with the overrides over[0..n), run in run_dir, its
 * console into out and its process events into events: the fixture's sanitizer binary, and 3 s
 * for the children to stop when asked. */
static inline void launch_fixture_options(launch_options *o, const fixture *f,
                                          const char *const *over, size_t n, const char *run_dir,
                                          FILE *out, FILE *events)
{
    launch_options_defaults(o);
    o->config_path = f->config;
    o->overrides = over;
    o->n_overrides = n;
    o->exe = f->exe;
    o->run_dir = run_dir;
    o->grace_ms = 3000;
    o->out = out;
    o->events = events;
}

/* One launch of f's config into the run folder f->dir/NAME, its console and process events
 * into f->dir/NAME.out and NAME.events, opened for reading back; the caller closes them. */
typedef struct launch_case_t {
    char run_dir[600];
    FILE *out, *events;
    launch_options o;
} launch_case_t;

static inline void launch_case_open(launch_case_t *c, const fixture *f, const char *name,
                                    const char *const *over, size_t n)
{
    char out_path[700], events_path[700];
    snprintf(c->run_dir, sizeof c->run_dir, "%s/%s", f->dir, name);
    snprintf(out_path, sizeof out_path, "%s/%s.out", f->dir, name);
    snprintf(events_path, sizeof events_path, "%s/%s.events", f->dir, name);
    c->out = fopen(out_path, "w+");
    c->events = fopen(events_path, "w+");
    assert_non_null(c->out);
    assert_non_null(c->events);
    launch_fixture_options(&c->o, f, over, n, c->run_dir, c->out, c->events);
}

static inline int launch_fixture_teardown(void **state)
{
    fixture *f = *state;
    if (f) /* NULL when the set-up failed (cmocka still calls the teardown) */
        test_rmtree(f->dir);
    return 0;
}

#endif
