/* confusion_check.h — comparing two confusion matrices in a test. */
#ifndef FEDPEP_TESTS_SUPPORT_CONFUSION_CHECK_H
#define FEDPEP_TESTS_SUPPORT_CONFUSION_CHECK_H

#include "data/metrics.h"

/* Fails the test at the first count that differs. Field by field: the bytes of an fp_confusion
 * include padding after n_classes. */
void assert_confusion_equal(const fp_confusion *a, const fp_confusion *b);

#endif
