/* round.c — the round engine (see round.h). Slots are kept in the order their clients were
 * first asked; that order is the order of aggregation and of the recorded client rows. */
#include "train/round.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct train_round {
    const fedpep_config *cfg;
    fl_server_t *server;
    bool scaffold;
    int N, K;
    uint32_t round;
    int attempt, n_ok, n_slots;
    int *order;               /* [N] the round's order of asking */
    int *slot_of;             /* [N] client -> slot, -1 = not asked */
    int *pick;                /* [N] scratch */
    unsigned char *state;     /* [N] TRAIN_ASK_* per client */
    train_round_slot *slots;  /* [N] */
    train_round_client *rows; /* [N] the recorded client rows */
    char reason[TRAIN_ROUND_REASON_CAP];
};

static void slot_clear(train_round_slot *s)
{
    free(s->rows);
    free(s->delta_c);
    s->rows = s->delta_c = NULL;
}

train_round_t *train_round_new(const fedpep_config *cfg, fl_server_t *server, bool scaffold,
                               fp_error *err)
{
    if (!cfg || !server || server->n_clients < 1) {
        fp_fail(err, FP_EINVAL, "round engine: no configuration or server");
        return NULL;
    }
    train_round_t *self = calloc(1, sizeof *self);
    int N = server->n_clients;
    if (self) {
        *self = (train_round_t){.cfg = cfg,
                                .server = server,
                                .scaffold = scaffold,
                                .N = N,
                                .K = cfg->federation.clients_per_round,
                                .order = malloc((size_t)N * sizeof(int)),
                                .slot_of = malloc((size_t)N * sizeof(int)),
                                .pick = malloc((size_t)N * sizeof(int)),
                                .state = calloc((size_t)N, 1),
                                .slots = calloc((size_t)N, sizeof(train_round_slot)),
                                .rows = calloc((size_t)N, sizeof(train_round_client))};
        if (!self->order || !self->slot_of || !self->pick || !self->state || !self->slots ||
            !self->rows)
            train_round_destroy(&self);
    }
    if (!self)
        fp_fail(err, FP_ENOMEM, "round engine: out of memory");
    return self;
}

void train_round_destroy(train_round_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    train_round_t *self = *self_p;
    for (int i = 0; self->slots && i < self->n_slots; i++)
        slot_clear(&self->slots[i]);
    free(self->order);
    free(self->slot_of);
    free(self->pick);
    free(self->state);
    free(self->slots);
    free(self->rows);
    free(self);
    *self_p = NULL;
}

fp_status train_round_begin(train_round_t *self, uint32_t round, fp_error *err)
{
    for (int i = 0; i < self->n_slots; i++)
        slot_clear(&self->slots[i]);
    self->round = round;
    self->attempt = self->n_ok = self->n_slots = 0;
    self->reason[0] = '\0';
    for (int k = 0; k < self->N; k++)
        self->slot_of[k] = -1, self->state[k] = TRAIN_ASK_NONE;
    return train_round_order(self->server, round, self->order, err);
}

int train_round_ask(train_round_t *self, int *slots)
{
    int n = train_round_pick(self->cfg, self->order, self->state, self->attempt, self->n_ok,
                             self->pick);
    for (int j = 0; j < n; j++) {
        int k = self->pick[j], i = self->slot_of[k];
        if (i < 0)
            i = self->slot_of[k] = self->n_slots++;
        train_round_slot *s = &self->slots[i];
        slot_clear(s);
        *s = (train_round_slot){
            .client = k, .attempt = self->attempt, .status = TRAIN_SLOT_PENDING, .cpu_ms = -1};
        self->state[k] = TRAIN_ASK_FAILED; /* until its update is in */
        slots[j] = i;
    }
    return n;
}

train_slot_status train_round_answer(train_round_t *self, int i, float **rows_p, float **delta_p,
                                     int64_t n_k, int64_t steps, double loss, int64_t ms,
                                     int64_t compute_ms)
{
    train_round_slot *s = &self->slots[i];
    if (s->status != TRAIN_SLOT_PENDING || s->attempt != self->attempt || self->n_ok >= self->K) {
        if (s->status == TRAIN_SLOT_PENDING)
            s->status = TRAIN_SLOT_LATE;
        free(*rows_p), *rows_p = NULL;
        if (delta_p)
            free(*delta_p), *delta_p = NULL;
        return TRAIN_SLOT_LATE;
    }
    s->status = TRAIN_SLOT_OK;
    s->rows = *rows_p, *rows_p = NULL;
    if (self->scaffold && delta_p)
        s->delta_c = *delta_p, *delta_p = NULL;
    s->n_k = n_k, s->steps = steps, s->loss = loss, s->ms = ms, s->compute_ms = compute_ms;
    self->state[s->client] = TRAIN_ASK_OK;
    self->n_ok++;
    return TRAIN_SLOT_OK;
}

void train_round_set_cpu(train_round_t *self, int i, int64_t cpu_ms)
{
    if (i >= 0 && i < self->n_slots && self->slots[i].status == TRAIN_SLOT_OK)
        self->slots[i].cpu_ms = cpu_ms < 0 ? -1 : cpu_ms;
}

void train_round_no_answer(train_round_t *self, int i, train_slot_status status)
{
    train_round_slot *s = &self->slots[i];
    if (s->status == TRAIN_SLOT_PENDING)
        s->status = status == TRAIN_SLOT_ERROR ? TRAIN_SLOT_ERROR : TRAIN_SLOT_DROPPED;
}

bool train_round_reopen(train_round_t *self, int i)
{
    train_round_slot *s = &self->slots[i];
    if (s->attempt != self->attempt || s->status != TRAIN_SLOT_DROPPED)
        return false;
    s->status = TRAIN_SLOT_PENDING;
    return true;
}

bool train_round_attempt_done(const train_round_t *self)
{
    if (self->n_ok >= self->K)
        return true;
    for (int i = 0; i < self->n_slots; i++)
        if (self->slots[i].status == TRAIN_SLOT_PENDING)
            return false;
    return true;
}

train_round_next train_round_close(train_round_t *self)
{
    for (int i = 0; i < self->n_slots; i++)
        if (self->slots[i].status == TRAIN_SLOT_PENDING)
            self->slots[i].status = TRAIN_SLOT_LATE;
    train_round_next next = train_round_decide(self->cfg, self->attempt, self->n_ok);
    self->reason[0] = '\0';
    if (next != TRAIN_ROUND_AGGREGATE)
        train_round_reason(self->reason, sizeof self->reason, self->cfg, self->attempt, self->n_ok,
                           self->n_slots, next);
    if (next == TRAIN_ROUND_RETRY)
        self->attempt++;
    return next;
}

fp_status train_round_aggregate(train_round_t *self, const fl_server_config *scfg, fp_error *err)
{
    fl_upload *up = calloc((size_t)(self->n_ok ? self->n_ok : 1), sizeof *up);
    if (!up)
        return fp_fail(err, FP_ENOMEM, "round: out of memory");
    int n = 0;
    for (int i = 0; i < self->n_slots; i++) {
        const train_round_slot *s = &self->slots[i];
        if (s->status == TRAIN_SLOT_OK)
            up[n++] = (fl_upload){.client = s->client,
                                  .n_samples = s->n_k,
                                  .steps = s->steps,
                                  .theta = s->rows,
                                  .delta_c = s->delta_c};
    }
    fp_status st = fl_server_round(self->server, scfg, up, n, err);
    free(up);
    return st;
}

void train_round_record_make(const train_round_t *self, train_round_record *rec)
{
    train_round_t *mut = (train_round_t *)self; /* the rows are a cache of the slots */
    *rec = (train_round_record){.round = self->round,
                                .ok = !self->reason[0],
                                .sampled = self->n_slots,
                                .retries = self->attempt,
                                .train_loss = NAN,
                                .eval_metric = NAN,
                                .eval_loss = NAN,
                                .eval_accuracy = NAN,
                                .eval_f1 = NAN,
                                .eval_mcc = NAN,
                                .cpu_ms = self->n_ok ? 0 : -1,
                                .cpu_max_ms = self->n_ok ? 0 : -1,
                                .global = {NAN, NAN, NAN, NAN, NAN},
                                .clients = self->rows};
    snprintf(rec->reason, sizeof rec->reason, "%s", self->reason);
    double loss_sum = 0;
    int64_t total_n = 0;
    for (int i = 0; i < self->n_slots; i++) {
        const train_round_slot *s = &self->slots[i];
        train_round_client *row = &mut->rows[i];
        *row = (train_round_client){s->client, s->status, -1, -1, -1, NAN};
        rec->completed += s->status == TRAIN_SLOT_OK;
        rec->dropped += s->status == TRAIN_SLOT_DROPPED;
        rec->late += s->status == TRAIN_SLOT_LATE;
        if (s->status != TRAIN_SLOT_OK)
            continue;
        row->n_k = s->n_k, row->steps = s->steps, row->ms = s->ms, row->loss = s->loss;
        if (!isnan(s->loss))
            loss_sum += s->loss * (double)s->n_k;
        total_n += s->n_k;
        rec->slowest_ms = s->compute_ms > rec->slowest_ms ? s->compute_ms : rec->slowest_ms;
        if (s->cpu_ms < 0 || rec->cpu_ms < 0) /* one unknown makes the sum unknown */
            rec->cpu_ms = rec->cpu_max_ms = -1;
        else
            rec->cpu_ms += s->cpu_ms,
                rec->cpu_max_ms = s->cpu_ms > rec->cpu_max_ms ? s->cpu_ms : rec->cpu_max_ms;
    }
    if (total_n)
        rec->train_loss = loss_sum / (double)total_n;
}

static train_round_scores scores_of(fp_metric metric, const fp_confusion *cm, double loss_sum)
{
    uint64_t total = confusion_total(cm);
    return (train_round_scores){metric_value(metric, cm), total ? loss_sum / (double)total : NAN,
                                metric_accuracy(cm), metric_f1(cm, 1), metric_mcc(cm)};
}

void train_round_record_eval(train_round_record *rec, fp_metric metric, const fp_confusion *cm,
                             double loss_sum)
{
    train_round_scores sc = scores_of(metric, cm, loss_sum);
    rec->evaluated = true;
    rec->eval_metric = sc.metric;
    rec->eval_loss = sc.loss;
    rec->eval_accuracy = sc.accuracy;
    rec->eval_f1 = sc.f1;
    rec->eval_mcc = sc.mcc;
}

void train_round_record_global(train_round_record *rec, fp_metric metric, const fp_confusion *cm,
                               double loss_sum)
{
    rec->global_evaluated = true;
    rec->global = scores_of(metric, cm, loss_sum);
}

uint32_t train_round_number(const train_round_t *self)
{
    return self->round;
}
int train_round_attempt(const train_round_t *self)
{
    return self->attempt;
}
int train_round_slot_count(const train_round_t *self)
{
    return self->n_slots;
}
int train_round_updates(const train_round_t *self)
{
    return self->n_ok;
}
const train_round_slot *train_round_slot_at(const train_round_t *self, int i)
{
    return i >= 0 && i < self->n_slots ? &self->slots[i] : NULL;
}
int train_round_slot_of(const train_round_t *self, int k)
{
    return k >= 0 && k < self->N ? self->slot_of[k] : -1;
}
const char *train_round_reason_text(const train_round_t *self)
{
    return self->reason;
}
