/* status.h — the one error vocabulary of fedpep.
 *
 * Every function that can fail returns an fp_status; FP_OK is zero so `if (st) return st;`
 * reads naturally. A readable reason travels beside it in an fp_error that the caller owns,
 * so the code stays a stable enum (safe on the wire, in the database, in tests) while the
 * message carries the context (which file and line, which field, which peer).
 * This file must never allocate or log: it only names and formats failures (and the exit codes
 * they become). */
#ifndef FEDPEP_COMMON_STATUS_H
#define FEDPEP_COMMON_STATUS_H

#include <stddef.h>

typedef enum fp_status {
    FP_OK = 0,
    FP_EINVAL,     /* a caller passed an argument outside the contract */
    FP_ENOMEM,     /* an allocation failed */
    FP_EIO,        /* a read, write, open or mmap failed */
    FP_EFORMAT,    /* input bytes do not follow the expected format */
    FP_ELIMIT,     /* input is well formed but larger than a configured limit */
    FP_EVERSION,   /* a version (protocol, schema, file) we do not speak */
    FP_ENOTFOUND,  /* a named thing (tensor, run, key, task) does not exist */
    FP_ESTATE,     /* the operation is not valid in the current state */
    FP_EDB,        /* the database refused (busy, corrupt, constraint) */
    FP_ENET,       /* a socket or peer failed */
    FP_ETIMEOUT,   /* a deadline passed */
    FP_ENUMERIC,   /* a NaN/Inf or a failed numerical method */
    FP_STATUS_COUNT
} fp_status;

/* A reason for the last failure. Fixed size so it can live on the stack and be filled
 * without allocation (an out-of-memory path must still be able to explain itself). */
typedef struct fp_error {
    fp_status status;
    char msg[256];
} fp_error;

/* Stable short name of a status, e.g. "EFORMAT". Never NULL. */
const char *fp_status_name(fp_status status);

/* Records status and a printf-style reason in err (err may be NULL) and returns status,
 * so a failure site is one line: `return fp_fail(err, FP_EFORMAT, "%s:%d: ...", f, l);`.
 * A message that does not fit is truncated, never overflowed. */
fp_status fp_fail(fp_error *err, fp_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes err->msg with context ("while loading x: ") keeping the status; returns it. */
fp_status fp_wrap(fp_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Exit codes of the fedpep commands (sysexits.h where one fits). A supervisor (`fedpep launch`)
 * never restarts a process that exited FP_EXIT_USAGE or FP_EXIT_INPUT: the same failure would
 * come back on every start. A command that exits with a failure prints its cause on stderr as
 * one line "fedpep NAME: error: CAUSE" (the launcher shows that line). */
enum {
    FP_EXIT_OK = 0,
    FP_EXIT_FAILURE = 1, /* failed; another attempt may succeed (restarted by policy) */
    FP_EXIT_USAGE = 2,   /* bad command line, or a configuration that is missing or invalid */
    FP_EXIT_INPUT = 78,  /* EX_CONFIG: an input named by the configuration is unusable (model,
                            tokenizer, dataset, database, trace): fatal, not restarted */
};

/* The exit code of a command whose setup (opening its model, dataset, database ...) failed with
 * status: FP_EXIT_INPUT when the failure recurs on every attempt (EINVAL, EIO, EFORMAT, ELIMIT,
 * EVERSION, ENOTFOUND, ESTATE, ENUMERIC), FP_EXIT_FAILURE when another attempt may succeed
 * (ENOMEM, ENET, ETIMEOUT, EDB: busy or locked) or for FP_OK. */
int fp_exit_code_for_setup(fp_status status);

#endif
