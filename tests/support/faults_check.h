/* faults_check.h — comparing two fault draws in a test. */
#ifndef FEDPEP_TESTS_SUPPORT_FAULTS_CHECK_H
#define FEDPEP_TESTS_SUPPORT_FAULTS_CHECK_H

#include "actors/faults.h"

/* Fails the test at the first field that differs. Field by field: the bytes of a faults_round_t
 * include padding after its three bools. */
void assert_faults_equal(faults_round_t a, faults_round_t b);

#endif
