/* test_data_metrics.c — accuracy, MCC, F1 and (acc+F1)/2 from confusion counts against values
 * computed by hand, the degenerate cases (0, never NaN), and pooling by merge. */
#include "tests/support/test.h"

#include "tests/support/confusion_check.h"

#include "data/metrics.h"

/* Builds a binary matrix from tp, fn (true 1), fp, tn (true 0); class 1 is positive. */
static fp_confusion binary(uint64_t tp, uint64_t fn, uint64_t fp, uint64_t tn)
{
    fp_confusion cm;
    assert_int_equal(confusion_init(&cm, 2, NULL), FP_OK);
    cm.count[1][1] = tp;
    cm.count[1][0] = fn;
    cm.count[0][1] = fp;
    cm.count[0][0] = tn;
    return cm;
}

static void binary_metrics_match_hand_computation(void **state)
{
    (void)state;
    /* tp 40, fn 10, fp 20, tn 30: acc 70/100; F1 = 80/(80+20+10) = 0.727272...;
     * MCC = (40*30 - 20*10) / sqrt(60*40*50*50) = 1000 / sqrt(6,000,000) = 0.408248... */
    fp_confusion cm = binary(40, 10, 20, 30);
    assert_int_equal(confusion_total(&cm), 100);
    assert_close(metric_accuracy(&cm), 0.7, 1e-15);
    assert_close(metric_f1(&cm, 1), 80.0 / 110.0, 1e-15);
    assert_close(metric_mcc(&cm), 1000.0 / sqrt(6e6), 1e-15);
    assert_close(metric_acc_f1(&cm), (0.7 + 80.0 / 110.0) / 2, 1e-15);
    assert_close(metric_value(FP_METRIC_ACCURACY, &cm), 0.7, 1e-15);
    assert_close(metric_value(FP_METRIC_MCC, &cm), 1000.0 / sqrt(6e6), 1e-15);
    assert_close(metric_value(FP_METRIC_ACC_F1, &cm), (0.7 + 80.0 / 110.0) / 2, 1e-15);
    /* F1 of class 0: 2*30 / (60 + 10 + 20) */
    assert_close(metric_f1(&cm, 0), 60.0 / 90.0, 1e-15);
    assert_close(metric_f1(&cm, 2), 0.0, 0);

    fp_confusion perfect = binary(5, 0, 0, 7), inverse = binary(0, 5, 7, 0);
    assert_close(metric_mcc(&perfect), 1.0, 1e-15);
    assert_close(metric_mcc(&inverse), -1.0, 1e-15);
    assert_close(metric_accuracy(&inverse), 0.0, 0);
    assert_string_equal(metric_name(FP_METRIC_MCC), "mcc");
    assert_string_equal(metric_name(FP_METRIC_ACC_F1), "acc+f1");
    assert_string_equal(metric_name(FP_METRIC_COUNT), "?");
}

static void degenerate_cases_are_zero_not_nan(void **state)
{
    (void)state;
    fp_confusion empty = binary(0, 0, 0, 0);
    assert_close(metric_accuracy(&empty), 0.0, 0);
    assert_close(metric_mcc(&empty), 0.0, 0);
    assert_close(metric_f1(&empty, 1), 0.0, 0);
    assert_close(metric_acc_f1(&empty), 0.0, 0);
    /* A constant predictor (always 1, or always 0): MCC 0 (sklearn's convention). */
    fp_confusion all_one = binary(30, 0, 70, 0), all_zero = binary(0, 30, 0, 70);
    assert_close(metric_mcc(&all_one), 0.0, 0);
    assert_close(metric_mcc(&all_zero), 0.0, 0);
    assert_close(metric_accuracy(&all_zero), 0.7, 1e-15);
    assert_close(metric_f1(&all_zero, 1), 0.0, 0); /* no true positive, none predicted */
    assert_close(metric_f1(&all_one, 1), 60.0 / 130.0, 1e-15);
    /* Only one true class present, predictions mixed: still defined, 0. */
    fp_confusion one_class = binary(6, 4, 0, 0);
    assert_close(metric_mcc(&one_class), 0.0, 0);
    assert_false(isnan(metric_mcc(&one_class)));
}

static void multiclass_mcc_and_accuracy(void **state)
{
    (void)state;
    /* 3 classes, rows = truth:      t = (6, 5, 4), p = (6, 5, 4), correct 11, s = 15
     *   [5 1 0]  [1 3 1]  [0 1 3]    MCC = (11*15 - (36+25+16)) / sqrt((225-77)(225-77))
     *                                    = 88 / 148 */
    fp_confusion cm;
    assert_int_equal(confusion_init(&cm, 3, NULL), FP_OK);
    const int m[3][3] = {{5, 1, 0}, {1, 3, 1}, {0, 1, 3}};
    for (int t = 0; t < 3; t++)
        for (int p = 0; p < 3; p++)
            for (int k = 0; k < m[t][p]; k++)
                assert_int_equal(confusion_add(&cm, t, p, NULL), FP_OK);
    assert_close(metric_accuracy(&cm), 11.0 / 15.0, 1e-15);
    assert_close(metric_mcc(&cm), 88.0 / 148.0, 1e-15);
    fp_error err;
    assert_int_equal(confusion_add(&cm, 3, 0, &err), FP_EINVAL);
    assert_int_equal(confusion_add(&cm, 0, -1, &err), FP_EINVAL);
    assert_int_equal(confusion_total(&cm), 15);
    assert_int_equal(confusion_init(&cm, 1, &err), FP_EINVAL);
    assert_int_equal(confusion_init(&cm, FP_TASK_MAX_CLASSES + 1, &err), FP_EINVAL);
}

static void pooled_counts_equal_pooled_predictions(void **state)
{
    (void)state;
    /* Two clients' matrices merged give the metric of all predictions together. */
    const int truth[] = {1, 0, 1, 1, 0, 0, 1, 0, 1, 1};
    const int pred[] = {1, 0, 0, 1, 1, 0, 1, 1, 1, 0};
    fp_confusion a, b, all;
    confusion_init(&a, 2, NULL);
    confusion_init(&b, 2, NULL);
    confusion_init(&all, 2, NULL);
    for (int i = 0; i < 10; i++) {
        confusion_add(i < 4 ? &a : &b, truth[i], pred[i], NULL);
        confusion_add(&all, truth[i], pred[i], NULL);
    }
    assert_int_equal(confusion_merge(&a, &b, NULL), FP_OK);
    assert_confusion_equal(&a, &all);
    fp_confusion by_hand = binary(4, 2, 2, 2); /* tp, fn, fp, tn of the ten above */
    assert_confusion_equal(&a, &by_hand);
    assert_close(metric_mcc(&a), metric_mcc(&all), 0);
    fp_confusion three;
    confusion_init(&three, 3, NULL);
    assert_int_equal(confusion_merge(&a, &three, NULL), FP_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(binary_metrics_match_hand_computation),
        cmocka_unit_test(degenerate_cases_are_zero_not_nan),
        cmocka_unit_test(multiclass_mcc_and_accuracy),
        cmocka_unit_test(pooled_counts_equal_pooled_predictions),
    };
    return cmocka_run_group_tests_name("data_metrics", tests, NULL, NULL);
}
