/* metrics.c — metrics from confusion counts (see metrics.h). Pure arithmetic in double; it
 * must never return NaN or Inf. */
#include "metrics.h"

#include <math.h>
#include <string.h>

fp_status confusion_init(fp_confusion *cm, int n_classes, fp_error *err)
{
    if (!cm || n_classes < 2 || n_classes > FP_TASK_MAX_CLASSES)
        return fp_fail(err, FP_EINVAL, "confusion_init: %d classes (2..%d)", n_classes,
                       FP_TASK_MAX_CLASSES);
    memset(cm, 0, sizeof *cm);
    cm->n_classes = n_classes;
    return FP_OK;
}

fp_status confusion_add(fp_confusion *cm, int truth, int predicted, fp_error *err)
{
    if (truth < 0 || truth >= cm->n_classes || predicted < 0 || predicted >= cm->n_classes)
        return fp_fail(err, FP_EINVAL, "confusion_add: class %d/%d outside [0, %d)", truth,
                       predicted, cm->n_classes);
    cm->count[truth][predicted]++;
    return FP_OK;
}

fp_status confusion_merge(fp_confusion *into, const fp_confusion *from, fp_error *err)
{
    if (into->n_classes != from->n_classes)
        return fp_fail(err, FP_EINVAL, "confusion_merge: %d classes vs %d", into->n_classes,
                       from->n_classes);
    for (int t = 0; t < into->n_classes; t++)
        for (int p = 0; p < into->n_classes; p++)
            into->count[t][p] += from->count[t][p];
    return FP_OK;
}

uint64_t confusion_total(const fp_confusion *cm)
{
    uint64_t s = 0;
    for (int t = 0; t < cm->n_classes; t++)
        for (int p = 0; p < cm->n_classes; p++)
            s += cm->count[t][p];
    return s;
}

double metric_accuracy(const fp_confusion *cm)
{
    uint64_t total = confusion_total(cm), correct = 0;
    for (int k = 0; k < cm->n_classes; k++)
        correct += cm->count[k][k];
    return total ? (double)correct / (double)total : 0.0;
}

double metric_mcc(const fp_confusion *cm)
{
    /* R_K = (c s - sum_k p_k t_k) / sqrt((s^2 - sum_k p_k^2)(s^2 - sum_k t_k^2)), with c the
     * correct count, s the total, t_k and p_k the true and predicted counts of class k. */
    double s = 0, c = 0, pt = 0, pp = 0, tt = 0;
    for (int k = 0; k < cm->n_classes; k++) {
        double t_k = 0, p_k = 0;
        for (int j = 0; j < cm->n_classes; j++) {
            t_k += (double)cm->count[k][j];
            p_k += (double)cm->count[j][k];
        }
        c += (double)cm->count[k][k];
        s += t_k;
        pt += p_k * t_k;
        pp += p_k * p_k;
        tt += t_k * t_k;
    }
    double den = (s * s - pp) * (s * s - tt);
    if (!(den > 0))
        return 0.0; /* a constant predictor or a single true class: no correlation to measure */
    return (c * s - pt) / sqrt(den);
}

double metric_f1(const fp_confusion *cm, int positive)
{
    if (positive < 0 || positive >= cm->n_classes)
        return 0.0;
    double tp = (double)cm->count[positive][positive], fp = 0, fn = 0;
    for (int k = 0; k < cm->n_classes; k++) {
        if (k == positive)
            continue;
        fp += (double)cm->count[k][positive];
        fn += (double)cm->count[positive][k];
    }
    double den = 2 * tp + fp + fn;
    return den > 0 ? 2 * tp / den : 0.0;
}

double metric_acc_f1(const fp_confusion *cm)
{
    return (metric_accuracy(cm) + metric_f1(cm, 1)) / 2;
}

double metric_value(fp_metric metric, const fp_confusion *cm)
{
    switch (metric) {
    case FP_METRIC_MCC:
        return metric_mcc(cm);
    case FP_METRIC_ACC_F1:
        return metric_acc_f1(cm);
    default:
        return metric_accuracy(cm);
    }
}
