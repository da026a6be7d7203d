/* task.c — the table of the nine tasks (see task.h). Data only: layouts checked against the
 * files in ../shared/datasets, label words from FEDPEPTAO.md §1 and the reference code. */
#include "task.h"

#include <string.h>

/* Class order follows the reference (LM-BFF style) label maps: SST-2/MR/MPQA 0 = negative;
 * RTE/QNLI entailment first; Subj subjective first; TREC in its coarse-class id order. */
static const fp_task TASKS[FP_TASK_COUNT] = {
    [FP_TASK_QNLI] = {FP_TASK_QNLI, "qnli", "qnli", "dev.tsv", "dev.tsv", true,
                      "index", 4, 1, 2, 3,
                      2, {"entailment", "not_entailment"}, {"entailment", "not entailment"},
                      {" Yes", " No"}, {" Yes", " No"}, FP_TEMPLATE_PAIR, FP_METRIC_ACCURACY},
    [FP_TASK_SST2] = {FP_TASK_SST2, "sst-2", "sst-2", "train.tsv", "dev.tsv", false,
                      "sentence", 2, 0, -1, 1,
                      2, {"0", "1"}, {"negative", "positive"},
                      {" terrible", " great"}, {" terrible", " great"},
                      FP_TEMPLATE_SINGLE, FP_METRIC_ACCURACY},
    [FP_TASK_COLA] = {FP_TASK_COLA, "cola", "cola", "train.tsv", "dev.tsv", false,
                      NULL, 4, 3, -1, 1,
                      2, {"0", "1"}, {"unacceptable", "acceptable"},
                      {" unacceptable", " acceptable"}, {" unacceptable", " acceptable"},
                      FP_TEMPLATE_SINGLE, FP_METRIC_MCC},
    [FP_TASK_MRPC] = {FP_TASK_MRPC, "mrpc", "mrpc", "train.tsv", "dev.tsv", false,
                      "Quality", 5, 3, 4, 0,
                      2, {"0", "1"}, {"not paraphrase", "paraphrase"},
                      {" No", " Yes"}, {" No", " Yes"}, FP_TEMPLATE_PAIR, FP_METRIC_ACC_F1},
    [FP_TASK_RTE] = {FP_TASK_RTE, "rte", "rte", "train.tsv", "dev.tsv", false,
                     "index", 4, 1, 2, 3,
                     2, {"entailment", "not_entailment"}, {"entailment", "not entailment"},
                     {" Yes", " No"}, {" Yes", " No"}, FP_TEMPLATE_PAIR, FP_METRIC_ACCURACY},
    [FP_TASK_MPQA] = {FP_TASK_MPQA, "mpqa", "mpqa", "train.tsv", "test.tsv", false,
                      "sentence", 2, 0, -1, 1,
                      2, {"0", "1"}, {"negative", "positive"},
                      {" terrible", " great"}, {" terrible", " great"},
                      FP_TEMPLATE_SINGLE, FP_METRIC_ACCURACY},
    [FP_TASK_SUBJ] = {FP_TASK_SUBJ, "subj", "subj", "train.tsv", "test.tsv", false,
                      "sentence", 2, 0, -1, 1,
                      2, {"subjective", "objective"}, {"subjective", "objective"},
                      {" subjective", " objective"}, {" subjective", " objective"},
                      FP_TEMPLATE_SINGLE, FP_METRIC_ACCURACY},
    [FP_TASK_TREC] = {FP_TASK_TREC, "trec", "trec", "train.tsv", "test.tsv", false,
                      "sentence", 2, 0, -1, 1,
                      6, {"DESC", "ENTY", "ABBR", "HUM", "LOC", "NUM"},
                      {"description", "entity", "abbreviation", "human", "location", "number"},
                      {" Description", " Entity", " Expression", " Human", " Location", " Number"},
                      {" Description", " Entity", " Expression", " Human", " Location", " Number"},
                      FP_TEMPLATE_MASK_FIRST, FP_METRIC_ACCURACY},
    [FP_TASK_MR] = {FP_TASK_MR, "mr", "mr", "train.tsv", "test.tsv", false,
                    "idx", 3, 1, -1, 2,
                    2, {"0", "1"}, {"negative", "positive"},
                    {" terrible", " great"}, {" terrible", " great"},
                    FP_TEMPLATE_SINGLE, FP_METRIC_ACCURACY},
};

const fp_task *task_get(fp_task_id id)
{
    return (unsigned)id < FP_TASK_COUNT ? &TASKS[id] : NULL;
}

const fp_task *task_find(const char *name)
{
    for (int i = 0; name && i < FP_TASK_COUNT; i++)
        if (!strcmp(TASKS[i].name, name))
            return &TASKS[i];
    return NULL;
}

const char *metric_name(fp_metric metric)
{
    static const char *const names[FP_METRIC_COUNT] = {"accuracy", "mcc", "acc+f1"};
    return (unsigned)metric < FP_METRIC_COUNT ? names[metric] : "?";
}
