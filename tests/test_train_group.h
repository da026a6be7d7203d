/* test_train_group.h — the shared set-up of test_train.c and test_train_rounds.c: the standard
 * fixture tree (test_train_fixture.h) with its model opened once per group. */
#ifndef FEDPEP_TESTS_TEST_TRAIN_GROUP_H
#define FEDPEP_TESTS_TEST_TRAIN_GROUP_H

#include "tests/support/test.h"

#include "tests/support/confusion_check.h"

#include "tests/test_train_fixture.h"

#include "data/metrics.h"
#include "train/model_bundle.h"

typedef struct fixture {
    char dir[100];
    char model[120], data[120];
    train_model_t *m;
} fixture;

static inline int train_group_setup(void **state)
{
    static fixture f;
    fixture_tree("train", f.dir, sizeof f.dir, 96, 48);
    snprintf(f.model, sizeof f.model, "%s/model", f.dir);
    snprintf(f.data, sizeof f.data, "%s/data", f.dir);
    fp_error err = {0};
    f.m = train_model_open(f.model, NULL, NULL, &err);
    if (!f.m)
        fail_msg("open: %s", err.msg);
    *state = &f;
    return 0;
}

static inline int train_group_teardown(void **state)
{
    fixture *f = *state;
    train_model_destroy(&f->m);
    test_rmtree(f->dir);
    return 0;
}

#endif
