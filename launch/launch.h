/* launch.h — `fedpep launch`: one run of the actor system on this machine.
 *
 * launch_run makes the run folder, writes the effective configuration into it, starts broker,
 * store, evaluator, N clients and coordinator as separate processes of one executable (the
 * `fedpep` multi-call binary), supervises them (launch/supervisor.h), prints one progress line
 * per committed round, injects the launcher's faults, and stops everything in order when the
 * coordinator exits, a process runs out of restarts, or SIGINT/SIGTERM arrives.
 *
 * Progress comes from the run database, opened read-only (WAL: readers never block the store);
 * the launcher is not an actor and sends nothing through the broker. A child that exits 2 or 78
 * (common/status.h: its configuration or input is unusable) is not restarted and ends the run;
 * the summary then quotes its error line ("fedpep ROLE: error: CAUSE") from its log.
 * This module must never write the run database while a child may run (the store is its one
 * writer); after a failure the launcher stopped itself, once every child has exited, it marks a
 * run that is still `running` as `failed`. It never leaves a child process running. */
#ifndef FEDPEP_LAUNCH_LAUNCH_H
#define FEDPEP_LAUNCH_LAUNCH_H

#include <stdbool.h>
#include <stdio.h>

#include "common/config.h"
#include "common/status.h"
#include "storage/store_db.h"

typedef struct launch_options {
    const char *config_path;          /* INI file; NULL = the embedded default run */
    const char *const *overrides;     /* "section.key=value", applied after the file */
    size_t n_overrides;
    const char *exe;                  /* the fedpep binary; NULL = /proc/self/exe */
    const char *run_dir;              /* NULL = runs/<run.name> */
    const char *endpoint; /* NULL = [broker] endpoint if given, else ipc://<run dir>/broker.ipc */
    bool fresh;                       /* remove an existing run folder first */
    double kill_clients;              /* probability per client and round of a SIGKILL */
    int kill_broker_at_round;         /* SIGKILL the broker once in this round; -1 = never */
    int kill_store_at_round;          /* SIGKILL the store once in this round; -1 = never */
    int grace_ms;                     /* SIGTERM -> SIGKILL at shutdown (default 5000) */
    int poll_ms;                      /* how often the database is read (default 100) */
    FILE *out;                        /* progress lines and the final summary; NULL = stdout */
    FILE *events;                     /* process starts, deaths, restarts; NULL = stderr */
} launch_options;

/* Defaults: everything NULL/0 except grace_ms 5000, poll_ms 100, kill_*_at_round -1. */
void launch_options_defaults(launch_options *o);

/* Runs the whole topology to its end. *exit_code gets what `fedpep launch` exits with: the
 * coordinator's exit code; the exit code of a process that failed fatally (2 or 78); 1 when a
 * process gave up (restarts exhausted) or the launcher failed; 130/143 after SIGINT/SIGTERM.
 * Returns FP_OK when the run could be started and was supervised to its end (whatever the
 * coordinator's code), else the reason (bad config: *exit_code 2; run folder not writable,
 * fork failed: 1). The broker endpoint is o->endpoint, else [broker] endpoint when the file or
 * an override names one, else ipc://<run dir>/broker.ipc; both given and different: bad
 * config. */
fp_status launch_run(const launch_options *o, int *exit_code, fp_error *err);

/* One progress line for a committed round into buf (no newline), e.g.
 * "round 2 (3 of 5)  sampled 3 ok 2 dropped 1 late 0  loss 0.6931  metric 0.5120  2.1 MB  12.3 s
 *  ETA 25 s": the round as stored (from 0), then its position among total = the run's rounds;
 * eta_s < 0 prints no ETA. Defined in launch/console.c. */
void launch_format_round(char *buf, size_t cap, const store_round *r, int total,
                         double eta_s);

#endif
