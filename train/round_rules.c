/* round_rules.c — see round_rules.h. Every choice is a pure function of the configuration, the
 * run seed and what the attempts so far returned; nothing here may read a clock. */
#include "train/round_rules.h"

#include <math.h>
#include <stdio.h>

#include "common/rng.h"

/* Fault streams: tag "FAUT" and the kind, as actors/faults.c always drew them; the attempt
 * goes above bit 48 so attempt 0 keeps the old streams. */
#define FAULTS_TAG 0x46415554ULL

int train_round_first_ask(const fedpep_config *cfg)
{
    int K = cfg->federation.clients_per_round, N = cfg->federation.clients;
    int kp = (int)ceil(cfg->federation.overselect * K - 1e-9);
    return kp < K ? K : kp > N ? N : kp;
}

fp_status train_round_order(const fl_server_t *server, uint32_t round, int *order, fp_error *err)
{
    /* fl_server_sample is a partial Fisher-Yates: the first k of a full draw are its k-draw. */
    return fl_server_sample(server, round, server->n_clients, order, err);
}

int train_round_pick(const fedpep_config *cfg, const int *order, const unsigned char *state,
                     int attempt, int n_ok, int *out)
{
    int N = cfg->federation.clients, K = cfg->federation.clients_per_round;
    int want = train_round_first_ask(cfg);
    if (attempt > 0) {
        int missing = K - n_ok > 1 ? K - n_ok : 1;
        want = attempt >= cfg->federation.max_retries
                   ? N
                   : (int)ceil(cfg->federation.overselect * missing - 1e-9);
    }
    int n = 0;
    /* Never asked first, then asked without an update; each group in the round's order. */
    for (int pass = 0; pass < 2 && n < want; pass++)
        for (int i = 0; i < N && n < want; i++)
            if (state[order[i]] == (pass ? TRAIN_ASK_FAILED : TRAIN_ASK_NONE))
                out[n++] = order[i];
    return n;
}

double train_fault_uniform(const fedpep_config *cfg, uint32_t round, uint32_t attempt,
                           uint32_t client, unsigned what)
{
    rng_t r;
    uint64_t tag = FAULTS_TAG << 8 | what;
    rng_derive(&r, (uint64_t)cfg->run.seed ^ tag ^ (uint64_t)attempt << 48, round, client);
    return rng_uniform(&r);
}

bool train_fault_drops(const fedpep_config *cfg, uint32_t round, uint32_t attempt, uint32_t client)
{
    double p = cfg->faults.dropout;
    return p > 0 && train_fault_uniform(cfg, round, attempt, client, 1) < p;
}

train_round_next train_round_decide(const fedpep_config *cfg, int attempt, int n_ok)
{
    if (n_ok >= cfg->federation.min_clients && n_ok > 0)
        return TRAIN_ROUND_AGGREGATE;
    switch (cfg->federation.on_short_round) {
    case FP_SHORT_ROUND_RETRY:
        return attempt < cfg->federation.max_retries ? TRAIN_ROUND_RETRY : TRAIN_ROUND_FAIL;
    case FP_SHORT_ROUND_SKIP:
        return TRAIN_ROUND_SKIP;
    default:
        return TRAIN_ROUND_FAIL;
    }
}

void train_round_reason(char *buf, size_t cap, const fedpep_config *cfg, int attempt, int n_ok,
                        int asked, train_round_next next)
{
    const fp_config_federation *f = &cfg->federation;
    int n = snprintf(buf, cap, "%d of %d updates (min_clients %d)", n_ok, f->clients_per_round,
                     f->min_clients);
    if (n < 0 || (size_t)n >= cap)
        return;
    const char *what = next == TRAIN_ROUND_SKIP    ? "; skipped (on_short_round = skip)"
                       : next == TRAIN_ROUND_RETRY ? "; retried"
                       : f->on_short_round == FP_SHORT_ROUND_RETRY ? "; no retry left (max_retries)"
                                                                   : "; on_short_round = fail";
    snprintf(buf + n, cap - (size_t)n, " after %d attempt%s, %d of %d clients asked%s", attempt + 1,
             attempt ? "s" : "", asked, f->clients, what);
}
