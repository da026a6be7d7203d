/* metrics.h — task metrics from a confusion matrix (FEDPEPTAO.md §5): accuracy, Matthews
 * correlation (CoLA), F1 of class 1 and (accuracy + F1) / 2 (MRPC).
 * Everything is computed from counts, so each client can send its confusion matrix and the
 * evaluator pools them by adding: the pooled metric equals the metric of the pooled predictions.
 * A metric with nothing to measure (no examples, a constant predictor) is 0, never NaN. */
#ifndef FEDPEP_DATA_METRICS_H
#define FEDPEP_DATA_METRICS_H

#include <stdint.h>

#include "common/status.h"
#include "task.h"

typedef struct fp_confusion {
    int n_classes;
    uint64_t count[FP_TASK_MAX_CLASSES][FP_TASK_MAX_CLASSES]; /* [true class][predicted class] */
} fp_confusion;

/* An empty matrix for n_classes in [2, FP_TASK_MAX_CLASSES]; FP_EINVAL otherwise. */
fp_status confusion_init(fp_confusion *cm, int n_classes, fp_error *err);

/* Counts one prediction; FP_EINVAL if a class is out of range (cm unchanged). */
fp_status confusion_add(fp_confusion *cm, int truth, int predicted, fp_error *err);

/* into += from; FP_EINVAL if their class counts differ. */
fp_status confusion_merge(fp_confusion *into, const fp_confusion *from, fp_error *err);

uint64_t confusion_total(const fp_confusion *cm);

double metric_accuracy(const fp_confusion *cm);
/* Multi-class MCC (Gorodkin's R_K); the usual binary MCC for two classes. */
double metric_mcc(const fp_confusion *cm);
/* F1 of class `positive`. */
double metric_f1(const fp_confusion *cm, int positive);
/* (accuracy + F1 of class 1) / 2. */
double metric_acc_f1(const fp_confusion *cm);

/* The metric a task reports (task->metric). */
double metric_value(fp_metric metric, const fp_confusion *cm);

#endif
