/* supervisor.h — starts child processes, restarts the ones that die by policy, and stops them
 * all in order: the process-management half of `fedpep launch`, independent of fedpep's roles.
 *
 * Every child is fork+exec'ed in its own process group with PR_SET_PDEATHSIG = SIGKILL, so a
 * launcher that dies (even by SIGKILL) takes its children with it, and a Ctrl-C on the terminal
 * reaches only the launcher, which then stops the children in order. stdout and stderr of a
 * child go to its log file (appended across restarts), stdin is /dev/null.
 *
 * Restart rules (per child, fp_restart from [launch] restart):
 *   - never: a dead child stays dead;
 *   - on-failure: restarted after a non-zero exit or a death by signal;
 *   - always: restarted after any exit.
 * A child marked `final_exit` (the coordinator) is restarted only after a death by signal: its
 * exit code is an answer, not a crash. An exit code listed in `fatal_exits` says the failure is
 * deterministic (bad configuration, unusable model or dataset): that child is never restarted,
 * whatever its policy, and its state becomes SUP_FATAL. Each child gets at most max_restarts
 * restarts (deaths the caller injected with sup_kill(..., injected = true) are restarted and not
 * counted); past that its state becomes SUP_GAVE_UP. A restart waits restart_delay_ms.
 *
 * Why a child ended is read from its log (sup_cause): its error line, by the convention that a
 * failing program prints its cause as one line "NAME: error: CAUSE" (or "error: CAUSE").
 *
 * This module must never leave a child running after sup_shutdown or sup_destroy, and never
 * wait on a pid it did not start. One supervisor per process (it reaps with waitpid(-1)). */
#ifndef FEDPEP_LAUNCH_SUPERVISOR_H
#define FEDPEP_LAUNCH_SUPERVISOR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "common/config.h"
#include "common/status.h"

typedef struct sup sup_t;

typedef struct sup_options {
    int max_restarts;      /* restarts per child before SUP_GAVE_UP */
    int restart_delay_ms;  /* wait before a restart */
    int grace_ms;          /* sup_shutdown: SIGTERM, then SIGKILL after this long per stage */
    int wake_fd;           /* read end of a pipe that a SIGCHLD handler writes to; -1 = none
                              (sup_poll then checks every 10 ms) */
    FILE *events;          /* one line per start, death, restart, give-up; NULL = silent */
    const char *const *env; /* "KEY=VALUE" added to every child's environment, NULL-ended;
                               NULL = none */
    const int *fatal_exits; /* exit codes (1..255) never restarted, 0-ended; NULL = none */
} sup_options;

typedef struct sup_spec {
    const char *name;        /* for event lines, e.g. "client.3" */
    const char *const *argv; /* NULL-ended; argv[0] is the program path (execv, no PATH search) */
    fp_restart restart;
    bool final_exit;         /* an exit() is final whatever the policy; only signals restart */
    int stop_stage;          /* sup_shutdown stops lower stages first */
    const char *log_path;    /* child's stdout+stderr, appended; NULL = the launcher's own */
} sup_spec;

typedef enum sup_state {
    SUP_IDLE,       /* added, never started */
    SUP_RUNNING,
    SUP_RESTARTING, /* dead; restarts when its delay has passed */
    SUP_EXITED,     /* dead and not restarted (policy, final exit, or shutdown) */
    SUP_GAVE_UP,    /* dead after max_restarts restarts */
    SUP_FATAL,      /* exited with a code of fatal_exits: not restarted */
} sup_state;

/* NULL on failure (FP_ENOMEM, FP_EINVAL). */
sup_t *sup_new(const sup_options *options, fp_error *err);

/* Registers a child (copies everything); returns its index (0, 1, ...) or -1 with err. */
int sup_add(sup_t *sup, const sup_spec *spec, fp_error *err);

/* Starts a registered child that is not running. FP_EIO when fork fails or the log cannot be
 * opened (an exec failure shows as the child exiting with code 127). */
fp_status sup_start(sup_t *sup, int index, fp_error *err);

/* Waits up to timeout_ms (0 = just look) for something to happen, reaps dead children, applies
 * the restart rules and performs the restarts that are due. A child that exits with a non-zero
 * code gets a second event line with its cause (sup_cause) when its log has an error line. Returns
 * the number of children that died during the call (restarts alone return 0 when nothing else
 * happened). A failed restart (fork error) leaves the child SUP_GAVE_UP and reports through err
 * with FP_EIO. */
fp_status sup_poll(sup_t *sup, int timeout_ms, int *deaths, fp_error *err);

/* Sends sig to the child's process group. injected = true marks the coming death as a fault
 * the caller injected: restarted without counting against max_restarts. FP_ESTATE if the child
 * is not running. */
fp_status sup_kill(sup_t *sup, int index, int sig, bool injected, fp_error *err);

/* Stops everything: no more restarts; stage by stage (ascending stop_stage) SIGTERM to every
 * running child of the stage, wait up to grace_ms, SIGKILL what is left, reap. On return no
 * child is alive. Idempotent. */
void sup_shutdown(sup_t *sup);

/* Shuts down (if not yet) and frees; accepts NULL and *sup_p == NULL. */
void sup_destroy(sup_t **sup_p);

int sup_count(const sup_t *sup);
sup_state sup_state_of(const sup_t *sup, int index);
pid_t sup_pid(const sup_t *sup, int index);      /* 0 when not running */
int sup_restarts(const sup_t *sup, int index);   /* counted restarts so far */
int sup_starts(const sup_t *sup, int index);     /* every start, injected restarts included */
/* How the child last ended: its exit code (0..255), or -signal; INT32_MIN if it never ended. */
int sup_last_status(const sup_t *sup, int index);
const char *sup_name(const sup_t *sup, int index);

/* Bytes of a log sup_cause reads at most: the end of the latest instance's output. */
#define SUP_CAUSE_WINDOW (64 * 1024)

/* Why the child's latest instance ended, from what it wrote to its log since its latest start
 * (the last SUP_CAUSE_WINDOW bytes of it): the first error line — one that begins with "error: "
 * or contains ": error: " — into out as "error: CAUSE" (the text from "error: " on), and true;
 * else its last non-empty line, and false; out = "" when it wrote nothing, has no log file
 * (log_path NULL) or the log cannot be read. Lines longer than cap - 1 bytes are cut. */
bool sup_cause(const sup_t *sup, int index, char *out, size_t cap);
/* The child's log file (its spec's log_path), NULL when it has none. */
const char *sup_log_path(const sup_t *sup, int index);

#endif
