/* test_store_actor_fixture.h — requests the store tests send: a RUN and a deterministic SAVE
 * of round r (values derive from r and a salt, so a test can state what the database must hold
 * and build a conflicting SAVE by changing the salt). */
#ifndef FEDPEP_TESTS_TEST_STORE_ACTOR_FIXTURE_H
#define FEDPEP_TESTS_TEST_STORE_ACTOR_FIXTURE_H

#include "tests/support/test.h"

#include "messages/protocol.h"

#define RUN_NAME "demo"

static inline void make_run(msg_t *m, msg_run_status status, const char *model)
{
    assert_int_equal(msg_init(m, MSG_RUN, RUN_NAME, "coordinator", NULL), FP_OK);
    m->seq = 11;
    m->run_row.status = status;
    assert_int_equal(msg_set_text(&m->run_row.config, "[run]\nname = demo\n", NULL), FP_OK);
    strcpy(m->run_row.model, model);
    strcpy(m->run_row.task, "sst2");
    strcpy(m->run_row.strategy, "fedpeptao");
    m->run_row.seed = 42;
    m->run_row.clients = 10;
    m->run_row.rounds = 5;
}

/* A SAVE of round r: clients 0 ok, 3 dropped, 7 late; values derive from r and salt. */
static inline void make_save(msg_t *m, uint32_t r, double salt)
{
    assert_int_equal(msg_init(m, MSG_SAVE, RUN_NAME, "coordinator", NULL), FP_OK);
    m->seq = 100 + r;
    m->round = r;
    msg_save_t *s = &m->save;
    s->status = MSG_ROUND_OK;
    s->sampled = 3;
    s->completed = 1;
    s->dropped = 1;
    s->late = 1;
    s->train_loss = 0.5 + r + salt;
    s->evaluated = true;
    s->eval_metric = 0.6 + 0.01 * r;
    s->eval_loss = 0.7;
    s->eval_accuracy = 0.6 + 0.01 * r;
    s->eval_f1 = 0.55;
    s->eval_mcc = 0.2;
    s->bytes_down = 1000 + r;
    s->bytes_up = 2000 + r;
    s->wall_ms = 3000 + r;
    s->slowest_ms = 2500 + r;
    assert_int_equal(msg_client_rows_alloc(&s->clients, 3, NULL), FP_OK);
    s->clients.v[0] = (msg_client_row_t){.client = 0, .status = MSG_CLIENT_OK, .n = 50,
                                         .steps = 7, .loss = 0.4 + r, .ms = 900};
    s->clients.v[1] = (msg_client_row_t){.client = 3, .status = MSG_CLIENT_DROPPED, .n = 60};
    s->clients.v[2] = (msg_client_row_t){.client = 7, .status = MSG_CLIENT_LATE, .n = 70,
                                         .steps = 5, .loss = 0.9, .ms = 99999};
    uint32_t shape[3] = {2, 3, 4};
    assert_int_equal(msg_tensor_alloc(&s->rows, 3, shape, NULL), FP_OK);
    for (size_t i = 0; i < 24; i++)
        s->rows.data[i] = (float)(r * 100 + i) * 0.25f;
    uint8_t server[5] = {1, 2, 3, 4, (uint8_t)r};
    assert_int_equal(msg_blob_copy(&s->server_state, server, sizeof server, NULL), FP_OK);
    for (int i = 0; i < 4; i++)
        s->rng[i] = 0x0123456789abcdefull * (uint64_t)(i + 1) + r;
}

#endif
