/* test_coordinator_fixture.h — a real coordinator on its own actor thread against a broker at ep,
 * for the tests that play every other role with raw peers (test_coordinator_retry,
 * test_update_checks). Header-only, like the fixtures it builds on. */
#ifndef FEDPEP_TEST_COORDINATOR_FIXTURE_H
#define FEDPEP_TEST_COORDINATOR_FIXTURE_H

#include "tests/test_broker_fixture.h"
#include "tests/test_train_fixture.h"

#include "actors/actor.h"
#include "actors/coordinator.h"

typedef struct fixture_coordinator {
    coordinator_t *coord;
    zactor_t *actor;
    actor_result_t result; /* the actor's exit status, once actor is destroyed */
} fixture_coordinator;

/* Starts a coordinator of cfg (which must outlive it) registered as "coordinator" of run "t";
 * the tokenizer fallbacks are the fixture's. Fails the test when it cannot. */
static inline void fixture_coordinator_start(fixture_coordinator *c, const fedpep_config *cfg,
                                             const fixture_files *fx, const char *ep)
{
    fp_error err = {0};
    coordinator_options_t co = {.cfg = cfg,
                                .fallback_vocab = fx->vocab,
                                .fallback_merges = fx->merges,
                                .stop_before_save = -1};
    memset(&c->result, 0, sizeof c->result);
    c->coord = coordinator_new(&co, &err);
    if (!c->coord)
        fail_msg("coordinator_new: %s", err.msg);
    actor_options_t o;
    fixture_actor_options(&o, ep, "coordinator", MSG_ROLE_COORDINATOR, "t");
    coordinator_actor_options(&o);
    c->actor = actor_spawn(&o, coordinator_actor(), c->coord, &c->result);
    assert_non_null(c->actor);
}

/* Stops the actor thread (c->result then holds its status) and frees the coordinator. */
static inline void fixture_coordinator_stop(fixture_coordinator *c)
{
    zactor_destroy(&c->actor);
    coordinator_destroy(&c->coord);
}

#endif
