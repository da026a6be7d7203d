/* test_destroy.c — every destructor of the library, `foo_destroy(foo_t **self_p)` (and the
 * `*_close` ones of the same shape), accepts NULL and a NULL *self_p (STYLE.md, CZMQ's CLASS
 * rule), so a constructor's failure path and a caller's cleanup can call it unconditionally.
 * fault_trace_destroy, client_role_destroy, evaluator_destroy and coordinator_destroy
 * dereferenced self_p. A new destructor belongs in the table below. */
#include "tests/support/test.h"

#include "actors/client_role.h"
#include "actors/coordinator.h"
#include "actors/evaluator.h"
#include "actors/slots.h"
#include "actors/store_role.h"
#include "actors/trace.h"
#include "broker/broker.h"
#include "broker/broker_peers.h"
#include "common/progress.h"
#include "common/ratelog.h"
#include "data/dataset.h"
#include "fl/adamw.h"
#include "fl/partition.h"
#include "fl/server.h"
#include "launch/console.h"
#include "launch/supervisor.h"
#include "messages/protocol.h"
#include "model/bpe.h"
#include "model/safetensors.h"
#include "model/sentencepiece.h"
#include "model/tfjs_weights.h"
#include "model/transformer.h"
#include "storage/store_db.h"
#include "train/batch.h"
#include "train/client_state.h"
#include "train/layer_stats.h"
#include "train/model_bundle.h"
#include "train/round.h"
#include "train/tokenizer.h"

/* fn(NULL), then fn(&p) with p NULL, which must stay NULL. */
#define ACCEPTS_NULL(fn, type)                                                                    \
    do {                                                                                          \
        fn(NULL);                                                                                 \
        type *p_ = NULL;                                                                          \
        fn(&p_);                                                                                  \
        assert_null(p_);                                                                          \
    } while (0)

static void every_destructor_accepts_null(void **state)
{
    (void)state;
    ACCEPTS_NULL(ratelog_destroy, ratelog_t);
    ACCEPTS_NULL(progress_destroy, progress_t);
    ACCEPTS_NULL(msg_destroy, msg_t);
    ACCEPTS_NULL(store_db_close, store_db_t);
    ACCEPTS_NULL(bpe_destroy, bpe_t);
    ACCEPTS_NULL(tf_acts_destroy, tf_acts_t);
    ACCEPTS_NULL(tfjs_weights_destroy, tfjs_weights_t);
    ACCEPTS_NULL(st_close, st_file_t);
    ACCEPTS_NULL(sp_destroy, sp_t);
    ACCEPTS_NULL(fl_adamw_destroy, fl_adamw_t);
    ACCEPTS_NULL(fl_partition_destroy, fl_partition_t);
    ACCEPTS_NULL(fl_server_destroy, fl_server_t);
    ACCEPTS_NULL(dataset_destroy, dataset_t);
    ACCEPTS_NULL(train_grad_destroy, train_grad_t);
    ACCEPTS_NULL(train_model_destroy, train_model_t);
    ACCEPTS_NULL(train_tok_destroy, train_tok_t);
    ACCEPTS_NULL(train_client_destroy, train_client_t);
    ACCEPTS_NULL(train_worker_destroy, train_worker_t);
    ACCEPTS_NULL(train_set_destroy, train_set_t);
    ACCEPTS_NULL(train_batch_destroy, train_batch_t);
    ACCEPTS_NULL(train_round_destroy, train_round_t);
    ACCEPTS_NULL(client_role_destroy, client_role_t);
    ACCEPTS_NULL(coordinator_destroy, coordinator_t);
    ACCEPTS_NULL(evaluator_destroy, evaluator_t);
    ACCEPTS_NULL(store_role_destroy, store_role_t);
    ACCEPTS_NULL(slots_destroy, slots_t);
    ACCEPTS_NULL(fault_trace_destroy, fault_trace_t);
    ACCEPTS_NULL(broker_peers_destroy, broker_peers_t);
    ACCEPTS_NULL(broker_destroy, broker_t);
    ACCEPTS_NULL(sup_destroy, sup_t);
    ACCEPTS_NULL(console_destroy, console_t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_destructor_accepts_null),
    };
    return cmocka_run_group_tests_name("destroy", tests, NULL, NULL);
}
