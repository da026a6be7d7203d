/* test_fl_simulation.c — the fl/ pieces composed the way the actors will compose them, with a
 * synthetic "model" so it runs in milliseconds: a Dirichlet partition gives each client n_k;
 * clients report layer statistics from fake hidden states; the evaluator selects layers; each
 * round the coordinator samples clients, clients write the global rows over their private
 * prompt E[P][L][2][d], train with AdamW on ½|E − a_k|² (a_k differs per client) along seeded
 * epoch orders, upload E[:, S]; the server runs its round; every client is evaluated with the
 * global rows written over its own prompt. Checks: the selection, the traffic ratio K/L,
 * that personalisation beats a fully shared prompt on heterogeneous clients, and that a run
 * stopped and restored from its blobs ends byte-identical to an uninterrupted one. */
#include "tests/support/test.h"

#include "common/rng.h"
#include "fl/client_step.h"
#include "fl/layer_score.h"
#include "fl/local_schedule.h"
#include "fl/partition.h"
#include "fl/prompt_rows.h"
#include "fl/server.h"
#include "fl/strategy.h"

enum { P = 2, L = 6, D = 4, NE = P * L * 2 * D, N = 8, PER_ROUND = 4, ROUNDS = 30, BATCH = 8 };
static const fl_prompt_shape SHAPE = {P, L, D};
static const uint64_t SEED = 42;

typedef struct client {
    float E[NE], target[NE];
    int64_t n;
    fl_adamw_t *opt;
} client;

typedef struct sim {
    const fl_strategy_desc *strategy;
    fl_server_config scfg;
    fl_adamw_config ccfg;
    int layers[L], k;
    client c[N];
    fl_server_t *server;
} sim;

/* Fake hidden states of layer l: b examples around a common direction with layer-specific
 * spread, so the most collinear layers are 3, then 1, then 2 (then 0, 4). */
static void client_statistics(int k, double *s)
{
    static const double spread[L - 1] = {1.0, 0.05, 0.5, 0.02, 2.0};
    enum { B = 8, DIM = 32 };
    float z[(L - 1) * B * DIM];
    rng_t r;
    rng_derive(&r, SEED, 99, (uint64_t)k);
    for (int l = 0; l < L - 1; l++)
        for (int i = 0; i < B; i++)
            for (int e = 0; e < DIM; e++)
                z[(l * B + i) * DIM + e] = (float)(1.0 + 0.1 * e + spread[l] * rng_normal(&r));
    assert_int_equal(fl_layer_statistics(z, L - 1, B, DIM, s, NULL), FP_OK);
}

static void sim_init(sim *s, fp_strategy id)
{
    memset(s, 0, sizeof *s);
    s->strategy = fl_strategy_get(id);
    s->scfg = fl_strategy_server_config(s->strategy);
    s->ccfg = fl_adamw_defaults();
    s->ccfg.total_steps = (400 / BATCH) * ROUNDS;
    int labels[400];
    for (int i = 0; i < 400; i++)
        labels[i] = i % 2;
    fl_dirichlet_params prm = {1.0, 5.0, SEED};
    fl_partition_t *part = NULL;
    assert_int_equal(fl_partition_dirichlet(labels, 400, 2, N, &prm, &part, NULL), FP_OK);
    double stats[N][L - 1], S[L - 1];
    rng_t r;
    rng_seed(&r, SEED);
    float init[NE], base[NE];
    for (int i = 0; i < NE; i++) {
        init[i] = (float)(0.02 * rng_normal(&r)); /* same init on every client */
        base[i] = (float)(0.5 * rng_normal(&r));
    }
    for (int k = 0; k < N; k++) {
        s->c[k].n = fl_partition_size(part, k);
        memcpy(s->c[k].E, init, sizeof init);
        for (int i = 0; i < NE; i++)
            s->c[k].target[i] = base[i] + (float)(0.5 * rng_normal(&r));
        s->c[k].opt = fl_adamw_new(NE);
        client_statistics(k, stats[k]);
    }
    int64_t n[N];
    for (int k = 0; k < N; k++)
        n[k] = s->c[k].n;
    assert_int_equal(fl_layer_scores_combine(&stats[0][0], n, N, L - 1, S, NULL), FP_OK);
    assert_int_equal(fl_strategy_layers(s->strategy, L, S, 0.5, SEED, s->layers, &s->k, NULL),
                     FP_OK);
    float w0[NE];
    fl_prompt_gather(&SHAPE, init, s->layers, s->k, w0);
    s->server = fl_server_new(&s->scfg, (size_t)(P * s->k * 2 * D), N, SEED, w0);
    assert_non_null(s->server);
    fl_partition_destroy(&part);
}

static void sim_free(sim *s)
{
    for (int k = 0; k < N; k++)
        fl_adamw_destroy(&s->c[k].opt);
    fl_server_destroy(&s->server);
}

/* One client's local round: global rows over the private prompt, 2 epochs of batch 8. */
static void local_round(sim *s, int k, int64_t round, float *upload)
{
    client *c = &s->c[k];
    fl_prompt_scatter(&SHAPE, c->E, s->layers, s->k, s->server->w);
    int idx[400], order[400];
    for (int i = 0; i < (int)c->n; i++)
        idx[i] = i;
    float g[NE];
    rng_t r;
    fl_local_stream(&r, SEED, k, round);
    for (int epoch = 0; epoch < 2; epoch++) {
        fl_epoch_order(&r, idx, (int)c->n, order);
        for (int at = 0; at < c->n; at += BATCH) {
            double jitter = 0; /* a batch-dependent gradient: the order matters */
            for (int j = at; j < at + BATCH && j < c->n; j++)
                jitter += sin(order[j] * 1.7);
            for (int i = 0; i < NE; i++)
                g[i] = c->E[i] - c->target[i] + (float)(0.01 * jitter * cos(i));
            assert_int_equal(fl_client_step(c->opt, &s->ccfg, NULL, c->E, g, NULL), FP_OK);
        }
    }
    fl_prompt_gather(&SHAPE, c->E, s->layers, s->k, upload);
}

static void run_rounds(sim *s, int from, int to)
{
    static float up_rows[PER_ROUND][NE];
    for (int t = from; t < to; t++) {
        int ids[PER_ROUND];
        assert_int_equal(fl_server_sample(s->server, (uint64_t)t, PER_ROUND, ids, NULL), FP_OK);
        fl_upload up[PER_ROUND];
        for (int j = 0; j < PER_ROUND; j++) {
            local_round(s, ids[j], t, up_rows[j]);
            up[j] = (fl_upload){ids[j], s->c[ids[j]].n, fl_local_steps(s->c[ids[j]].n, BATCH, 2, 0),
                                up_rows[j], NULL};
        }
        assert_int_equal(fl_server_round(s->server, &s->scfg, up, PER_ROUND, NULL), FP_OK);
    }
}

/* Mean over clients of ½|E_k − a_k|²/NE with the global rows written over each E_k. */
static double evaluate(const sim *s)
{
    double total = 0;
    for (int k = 0; k < N; k++) {
        float E[NE];
        memcpy(E, s->c[k].E, sizeof E);
        fl_prompt_scatter(&SHAPE, E, s->layers, s->k, s->server->w);
        for (int i = 0; i < NE; i++)
            total += 0.5 * (E[i] - s->c[k].target[i]) * (E[i] - s->c[k].target[i]);
    }
    return total / (N * NE);
}

static void fedpeptao_selects_sends_half_and_personalises(void **state)
{
    (void)state;
    static sim pep, full;
    sim_init(&pep, FP_STRATEGY_FEDPEPTAO);
    sim_init(&full, FP_STRATEGY_FEDPROMPT);
    int want[3] = {1, 2, 3};
    assert_int_equal(pep.k, 3);
    assert_memory_equal(pep.layers, want, sizeof want);
    assert_int_equal(full.k, L);
    assert_int_equal(pep.server->dim * 2, full.server->dim); /* P·K·2·d vs P·L·2·d floats */
    double start = evaluate(&pep);
    fl_round_track track;
    fl_round_track_init(&track);
    for (int t = 0; t < ROUNDS; t += 5) {
        run_rounds(&pep, t, t + 5);
        fl_round_track_update(&track, t + 4, -evaluate(&pep));
    }
    run_rounds(&full, 0, ROUNDS);
    double end_pep = evaluate(&pep), end_full = evaluate(&full);
    printf("# eval loss: start %.4f, fedpeptao %.4f (best round %lld), fedprompt %.4f\n", start,
           end_pep, (long long)track.best_round, end_full);
    assert_true(end_pep < 0.35 * start);   /* measured 0.071 vs 0.267 */
    assert_true(end_pep < 0.8 * end_full); /* private layers fit each client: 0.071 vs 0.119 */
    assert_close(-track.last, end_pep, 1e-12);
    sim_free(&pep);
    sim_free(&full);
}

/* Save everything a store would hold after round 12 (server blob, each client's AdamW blob and
 * private prompt), rebuild from the bytes, run to the end: identical to the uninterrupted run. */
static void stopped_and_restored_run_is_identical(void **state)
{
    (void)state;
    static sim a, b;
    sim_init(&a, FP_STRATEGY_FEDPEPTAO);
    sim_init(&b, FP_STRATEGY_FEDPEPTAO);
    run_rounds(&a, 0, ROUNDS);
    run_rounds(&b, 0, 12);
    uint8_t *blob;
    size_t len;
    assert_int_equal(fl_server_save(b.server, &blob, &len, NULL), FP_OK);
    fl_server_destroy(&b.server);
    assert_int_equal(fl_server_load(blob, len, &b.server, NULL), FP_OK);
    free(blob);
    for (int k = 0; k < N; k++) {
        assert_int_equal(fl_adamw_save(b.c[k].opt, &blob, &len, NULL), FP_OK);
        fl_adamw_destroy(&b.c[k].opt);
        assert_int_equal(fl_adamw_load(blob, len, &b.c[k].opt, NULL), FP_OK);
        free(blob);
    }
    run_rounds(&b, 12, ROUNDS);
    uint8_t *ba, *bb;
    size_t la, lb;
    assert_int_equal(fl_server_save(a.server, &ba, &la, NULL), FP_OK);
    assert_int_equal(fl_server_save(b.server, &bb, &lb, NULL), FP_OK);
    assert_int_equal(la, lb);
    assert_memory_equal(ba, bb, la);
    for (int k = 0; k < N; k++)
        assert_memory_equal(a.c[k].E, b.c[k].E, sizeof a.c[k].E);
    free(ba);
    free(bb);
    sim_free(&a);
    sim_free(&b);
}

static void local_round_bookkeeping(void **state)
{
    (void)state;
    assert_int_equal(fl_local_steps(17, 8, 2, 0), 6);
    assert_int_equal(fl_local_steps(16, 8, 2, 0), 4);
    assert_int_equal(fl_local_steps(0, 8, 2, 0), 0);
    assert_int_equal(fl_local_steps(17, 8, 2, 5), 5); /* client.max_local_steps caps K_k */
    assert_int_equal(fl_local_steps(17, 8, 2, 7), 6);
    int idx[50], a[50], b[50], c[50], seen[50] = {0};
    for (int i = 0; i < 50; i++)
        idx[i] = 100 + i; /* a shard: the order permutes the client's own example ids */
    rng_t ra, rb, rc;
    fl_local_stream(&ra, 1, 3, 7);
    fl_local_stream(&rb, 1, 3, 7);
    fl_epoch_order(&ra, idx, 50, a);
    fl_epoch_order(&rb, idx, 50, b);
    assert_memory_equal(a, b, sizeof a); /* a pure function of (seed, client, round) */
    fl_epoch_order(&ra, idx, 50, c);
    assert_memory_not_equal(a, c, sizeof a); /* reshuffled each epoch */
    for (int i = 0; i < 50; i++)
        seen[a[i] - 100]++;
    for (int i = 0; i < 50; i++)
        assert_int_equal(seen[i], 1);
    fl_local_stream(&rc, 1, 4, 7);
    fl_epoch_order(&rc, idx, 50, c);
    assert_memory_not_equal(a, c, sizeof a); /* and per client */
    fl_local_stream(&rc, 1, 3, 8);
    fl_epoch_order(&rc, idx, 50, c);
    assert_memory_not_equal(a, c, sizeof a); /* and per round */
    memcpy(b, c, sizeof b);
    fl_epoch_order(&rc, idx, 0, c); /* an empty shard writes nothing */
    assert_memory_equal(b, c, sizeof b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(local_round_bookkeeping),
        cmocka_unit_test(fedpeptao_selects_sends_half_and_personalises),
        cmocka_unit_test(stopped_and_restored_run_is_identical),
    };
    return cmocka_run_group_tests_name("fl_simulation", tests, NULL, NULL);
}
