/* test_round.c — the round engine (train/round.h) on a FedAvg server of 4 floats: the first K
 * updates are kept and later ones are late, a stale answer never counts, a short attempt is
 * retried with other clients, a dropped client that comes back is asked again, aggregation
 * runs in asking order, and the record holds only what happened (NaN / -1 elsewhere). */
#include "tests/support/test.h"

#include "common/config.h"
#include "fl/server.h"
#include "train/round.h"

#define DIM 4

typedef struct fx {
    fedpep_config cfg;
    fl_server_t *server;
    train_round_t *rnd;
} fx;

static void fx_open(fx *f, int clients, int per_round, int min_clients, double overselect)
{
    assert_int_equal(config_load(NULL, NULL, 0, &f->cfg, NULL), FP_OK);
    f->cfg.federation.clients = clients;
    f->cfg.federation.clients_per_round = per_round;
    f->cfg.federation.min_clients = min_clients;
    f->cfg.federation.overselect = overselect;
    f->cfg.federation.on_short_round = FP_SHORT_ROUND_RETRY;
    f->cfg.federation.max_retries = 2;
    fl_server_config scfg = fl_server_config_defaults(FL_SERVER_FEDAVG);
    float w0[DIM] = {0};
    f->server = fl_server_new(&scfg, DIM, clients, 7, w0);
    assert_non_null(f->server);
    f->rnd = train_round_new(&f->cfg, f->server, false, NULL);
    assert_non_null(f->rnd);
}

static void fx_close(fx *f)
{
    train_round_destroy(&f->rnd);
    train_round_destroy(&f->rnd); /* idempotent */
    fl_server_destroy(&f->server);
}

/* An update of rows all equal to v from slot i. */
static train_slot_status answer(fx *f, int i, float v, int64_t n, double loss, int64_t ms)
{
    float *rows = malloc(DIM * sizeof *rows);
    for (int d = 0; d < DIM; d++)
        rows[d] = v;
    train_slot_status s = train_round_answer(f->rnd, i, &rows, NULL, n, 2, loss, ms, ms / 2);
    assert_null(rows); /* taken, whatever the status */
    return s;
}

static void the_first_k_updates_are_kept_and_recorded(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 10, 2, 1, 2.0); /* over-select: ask 4, keep the first 2 */
    assert_int_equal(train_round_begin(f.rnd, 3, NULL), FP_OK);
    int ask[10];
    int n = train_round_ask(f.rnd, ask);
    assert_int_equal(n, 4);
    for (int j = 0; j < n; j++)
        assert_int_equal(ask[j], j); /* slots in asking order */
    assert_false(train_round_attempt_done(f.rnd));
    train_round_no_answer(f.rnd, ask[0], TRAIN_SLOT_DROPPED);
    assert_int_equal(answer(&f, ask[2], 2.0f, 30, 0.5, 100), TRAIN_SLOT_OK);
    assert_int_equal(answer(&f, ask[1], 4.0f, 10, 1.5, 300), TRAIN_SLOT_OK);
    assert_true(train_round_attempt_done(f.rnd)); /* K in */
    assert_int_equal(answer(&f, ask[3], 9.0f, 10, 9.0, 50), TRAIN_SLOT_LATE);
    assert_int_equal(train_round_close(f.rnd), TRAIN_ROUND_AGGREGATE);
    assert_string_equal(train_round_reason_text(f.rnd), "");
    fl_server_config scfg = fl_server_config_defaults(FL_SERVER_FEDAVG);
    assert_int_equal(train_round_aggregate(f.rnd, &scfg, NULL), FP_OK);
    /* FedAvg by n_k: (30·2 + 10·4) / 40 = 2.5; the late 9s do not count. */
    for (int d = 0; d < DIM; d++)
        assert_close(f.server->w[d], 2.5, 1e-6);

    train_round_record rec;
    train_round_record_make(f.rnd, &rec);
    assert_int_equal(rec.round, 3);
    assert_true(rec.ok);
    assert_int_equal(rec.sampled, 4);
    assert_int_equal(rec.completed, 2);
    assert_int_equal(rec.dropped, 1);
    assert_int_equal(rec.late, 1);
    assert_int_equal(rec.retries, 0);
    assert_close(rec.train_loss, (0.5 * 30 + 1.5 * 10) / 40, 1e-12);
    assert_int_equal(rec.slowest_ms, 150); /* compute time, not the measured wall */
    assert_false(rec.evaluated);
    assert_true(isnan(rec.eval_metric));
    const train_round_client *c = rec.clients;
    assert_int_equal(c[0].status, TRAIN_SLOT_DROPPED);
    assert_int_equal(c[0].n_k, -1);
    assert_int_equal(c[0].ms, -1);
    assert_true(isnan(c[0].loss));
    assert_int_equal(c[1].status, TRAIN_SLOT_OK);
    assert_int_equal(c[1].n_k, 10);
    assert_int_equal(c[1].ms, 300);
    assert_int_equal(c[3].status, TRAIN_SLOT_LATE);
    assert_int_equal(c[3].steps, -1); /* a late update's values did not happen for the round */
    assert_true(isnan(c[3].loss));

    fp_confusion cm;
    assert_int_equal(confusion_init(&cm, 2, NULL), FP_OK);
    cm.count[0][0] = 3, cm.count[1][1] = 1, cm.count[0][1] = 1, cm.count[1][0] = 0;
    train_round_record_eval(&rec, FP_METRIC_ACCURACY, &cm, 2.5);
    assert_true(rec.evaluated);
    assert_close(rec.eval_metric, 0.8, 1e-12);
    assert_close(rec.eval_loss, 0.5, 1e-12);
    fx_close(&f);
}

/* The round's CPU time is over the aggregated updates only (a late one's work is not the
 * round's), and unknown as soon as one of them was not measured; the global model's scores are
 * recorded apart from the pooled personalised ones. */
static void cpu_time_and_global_scores_are_recorded(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 10, 2, 1, 2.0); /* ask 4, keep the first 2 */
    assert_int_equal(train_round_begin(f.rnd, 0, NULL), FP_OK);
    int ask[10];
    assert_int_equal(train_round_ask(f.rnd, ask), 4);
    train_round_set_cpu(f.rnd, ask[0], 999); /* pending: not an update, ignored */
    assert_int_equal(answer(&f, ask[0], 1.0f, 10, 0.5, 100), TRAIN_SLOT_OK);
    train_round_set_cpu(f.rnd, ask[0], 700);
    assert_int_equal(answer(&f, ask[1], 1.0f, 10, 0.5, 100), TRAIN_SLOT_OK);
    train_round_set_cpu(f.rnd, ask[1], 1200);
    assert_int_equal(answer(&f, ask[2], 1.0f, 10, 0.5, 100), TRAIN_SLOT_LATE);
    train_round_set_cpu(f.rnd, ask[2], 5000); /* late: not counted */
    train_round_no_answer(f.rnd, ask[3], TRAIN_SLOT_DROPPED);
    assert_int_equal(train_round_close(f.rnd), TRAIN_ROUND_AGGREGATE);
    train_round_record rec;
    train_round_record_make(f.rnd, &rec);
    assert_int_equal(rec.cpu_ms, 1900);
    assert_int_equal(rec.cpu_max_ms, 1200);
    assert_false(rec.global_evaluated);
    assert_true(isnan(rec.global.metric) && isnan(rec.global.loss));

    fp_confusion cm;
    assert_int_equal(confusion_init(&cm, 2, NULL), FP_OK);
    cm.count[0][0] = 3, cm.count[1][1] = 1, cm.count[0][1] = 1;
    train_round_record_global(&rec, FP_METRIC_MCC, &cm, 1.0);
    assert_true(rec.global_evaluated);
    assert_false(rec.evaluated); /* the personalised scores are apart */
    assert_close(rec.global.metric, metric_mcc(&cm), 1e-12);
    assert_close(rec.global.accuracy, 0.8, 1e-12);
    assert_close(rec.global.loss, 0.2, 1e-12);

    /* The next round: one update measured, one not (restored, not trained): unknown. */
    assert_int_equal(train_round_begin(f.rnd, 1, NULL), FP_OK);
    assert_int_equal(train_round_ask(f.rnd, ask), 4);
    assert_int_equal(answer(&f, ask[0], 1.0f, 10, 0.5, 100), TRAIN_SLOT_OK);
    train_round_set_cpu(f.rnd, ask[0], 300);
    assert_int_equal(answer(&f, ask[1], 1.0f, 10, 0.5, 100), TRAIN_SLOT_OK);
    train_round_set_cpu(f.rnd, ask[1], -1);
    assert_int_equal(train_round_close(f.rnd), TRAIN_ROUND_AGGREGATE);
    train_round_record_make(f.rnd, &rec);
    assert_int_equal(rec.cpu_ms, -1);
    assert_int_equal(rec.cpu_max_ms, -1);
    fx_close(&f);
}

static void a_short_attempt_asks_others_and_a_stale_answer_never_counts(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 6, 2, 2, 1.0);
    assert_int_equal(train_round_begin(f.rnd, 0, NULL), FP_OK);
    int ask[6], first[6];
    int n = train_round_ask(f.rnd, first);
    assert_int_equal(n, 2);
    int first_clients[2] = {train_round_slot_at(f.rnd, first[0])->client,
                            train_round_slot_at(f.rnd, first[1])->client};
    assert_int_equal(answer(&f, first[0], 1.0f, 5, 0.1, 10), TRAIN_SLOT_OK);
    train_round_no_answer(f.rnd, first[1], TRAIN_SLOT_DROPPED);
    assert_int_equal(train_round_close(f.rnd), TRAIN_ROUND_RETRY);
    assert_non_null(strstr(train_round_reason_text(f.rnd), "1 of 2 updates"));
    assert_int_equal(train_round_attempt(f.rnd), 1);
    n = train_round_ask(f.rnd, ask);
    assert_int_equal(n, 1); /* one update is missing */
    int k = train_round_slot_at(f.rnd, ask[0])->client;
    assert_int_not_equal(k, first_clients[0]); /* the update in stays in, never re-asked */
    assert_int_not_equal(k, first_clients[1]); /* never-asked clients come first */
    assert_int_equal(train_round_slot_of(f.rnd, k), ask[0]);
    /* The dropped client of attempt 0 answers now: it answers a closed attempt. */
    assert_int_equal(answer(&f, first[1], 3.0f, 5, 0.1, 10), TRAIN_SLOT_LATE);
    assert_false(train_round_reopen(f.rnd, first[1])); /* not this attempt's */
    /* The asked client is gone, then comes back: asked again in the same attempt. */
    train_round_no_answer(f.rnd, ask[0], TRAIN_SLOT_DROPPED);
    assert_true(train_round_attempt_done(f.rnd));
    assert_true(train_round_reopen(f.rnd, ask[0]));
    assert_false(train_round_attempt_done(f.rnd));
    assert_int_equal(answer(&f, ask[0], 2.0f, 5, 0.3, 10), TRAIN_SLOT_OK);
    assert_int_equal(train_round_close(f.rnd), TRAIN_ROUND_AGGREGATE);
    train_round_record rec;
    train_round_record_make(f.rnd, &rec);
    assert_int_equal(rec.retries, 1);
    assert_int_equal(rec.sampled, 3);
    assert_int_equal(rec.completed, 2);
    assert_close(rec.train_loss, 0.2, 1e-12);
    fx_close(&f);
}

static void no_retry_left_fails_and_says_why(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 3, 2, 2, 1.0);
    f.cfg.federation.max_retries = 1;
    assert_int_equal(train_round_begin(f.rnd, 5, NULL), FP_OK);
    int ask[3];
    for (int attempt = 0; attempt < 2; attempt++) {
        int n = train_round_ask(f.rnd, ask);
        assert_true(n >= 1);
        for (int j = 0; j < n; j++)
            train_round_no_answer(f.rnd, ask[j], TRAIN_SLOT_ERROR);
        train_round_next next = train_round_close(f.rnd);
        assert_int_equal(next, attempt ? TRAIN_ROUND_FAIL : TRAIN_ROUND_RETRY);
    }
    assert_non_null(strstr(train_round_reason_text(f.rnd), "0 of 2 updates"));
    train_round_record rec;
    train_round_record_make(f.rnd, &rec);
    assert_false(rec.ok);
    assert_int_equal(rec.sampled, 3); /* the last retry asked everyone left */
    assert_int_equal(rec.completed, 0);
    assert_true(isnan(rec.train_loss));
    assert_non_null(strstr(rec.reason, "0 of 2 updates"));
    /* A new round starts clean. */
    assert_int_equal(train_round_begin(f.rnd, 6, NULL), FP_OK);
    assert_int_equal(train_round_slot_count(f.rnd), 0);
    assert_int_equal(train_round_attempt(f.rnd), 0);
    assert_string_equal(train_round_reason_text(f.rnd), "");
    fx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_first_k_updates_are_kept_and_recorded),
        cmocka_unit_test(cpu_time_and_global_scores_are_recorded),
        cmocka_unit_test(a_short_attempt_asks_others_and_a_stale_answer_never_counts),
        cmocka_unit_test(no_retry_left_fails_and_says_why),
    };
    return cmocka_run_group_tests_name("round", tests, NULL, NULL);
}
