/* confusion_check.c — see confusion_check.h. */
#include "tests/support/confusion_check.h"

#include "tests/support/test.h"

void assert_confusion_equal(const fp_confusion *a, const fp_confusion *b)
{
    assert_int_equal(a->n_classes, b->n_classes);
    for (int t = 0; t < FP_TASK_MAX_CLASSES; t++)
        for (int p = 0; p < FP_TASK_MAX_CLASSES; p++)
            if (a->count[t][p] != b->count[t][p])
                fail_msg("count[%d][%d]: %llu != %llu", t, p, (unsigned long long)a->count[t][p],
                         (unsigned long long)b->count[t][p]);
}
