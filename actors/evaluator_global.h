/* evaluator_global.h — the evaluator's second job: the global model on the whole evaluation
 * split (train/global_eval.h), asked by the coordinator with an EVAL_REQUEST {layers, w_{t+1}}
 * after every evaluated round and answered with an EVAL_REPLY over the whole split, which the
 * coordinator records in the round's global_* columns — what simulate records. The model, the
 * task data and the layout are loaded on the first request (the run's selection is known only
 * then), exactly as a client loads them, so the numbers equal simulate's. The last answer is
 * kept: the coordinator asks again until it is answered, and a request for the same round and
 * rows is answered from it without evaluating twice. Private to actors/evaluator.c. */
#ifndef FEDPEP_ACTORS_EVALUATOR_GLOBAL_H
#define FEDPEP_ACTORS_EVALUATOR_GLOBAL_H

#include "common/config.h"
#include "messages/protocol.h"

typedef struct evaluator_global evaluator_global_t;

/* Nothing is loaded yet; cfg is copied, the fallback tokenizer paths too (NULL: none). */
evaluator_global_t *evaluator_global_new(const fedpep_config *cfg, const char *fallback_vocab,
                                         const char *fallback_merges, fp_error *err);
void evaluator_global_destroy(evaluator_global_t **self_p);

/* The EVAL_REPLY to req (an EVAL_REQUEST), into *reply (initialised here, from `from`).
 * FP_EINVAL with the cause when the request does not fit the run (layers, rows). */
fp_status evaluator_global_answer(evaluator_global_t *self, const msg_t *req, const char *from,
                                  msg_t *reply, fp_error *err);

#endif
