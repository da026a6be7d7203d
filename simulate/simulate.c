/* simulate.c — the one-process federated run (see simulate.h): a driver of the round engine
 * (train/round.h) that trains the asked clients in-process and commits to the database itself.
 * Everything random is a pure function of the run seed (partition, sampling, shuffles, dropout,
 * init), so two runs and a resumed run give byte-identical checkpoints. Never sleeps, never talks
 * to a network. Of the faults it reproduces what changes the rounds' outcome without a clock:
 * dropout, an availability trace's unavailable clients and stragglers whose delay alone passes
 * the deadline (the very draws the clients make, actors/faults.h); a slowdown and a trace's
 * speeds only delay answers, so they only order them. */
#include "simulate/simulate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/metrics.h"
#include "fl/layer_score.h"
#include "fl/partition.h"
#include "fl/prompt_rows.h"
#include "fl/server.h"
#include "fl/strategy.h"
#include "actors/faults.h"
#include "actors/round_save.h"
#include "actors/trace.h"
#include "storage/store_db.h"
#include "train/evaluate.h"
#include "train/global_eval.h"
#include "train/layer_stats.h"
#include "train/local_round.h"
#include "train/round.h"
#include "train/run_setup.h"
#include "train/task_data.h"
#include "train/wire_rows.h"

typedef struct sim {
    const fedpep_config *cfg;
    const fl_strategy_desc *strat;
    train_model_t *m;
    train_task_data d;
    fl_partition_t *ptrain, *peval;
    train_layout lay;
    train_opts opts;
    train_worker_t *w;
    train_client_t **clients; /* [N]: the clients of the current round, loaded on first use */
    train_client_t *fresh;    /* the initial state, for clients never trained */
    train_client_t *probe;    /* scratch for evaluating a client that is not loaded */
    fl_server_t *server;
    fl_server_config scfg;
    train_round_t *rnd; /* the round engine the coordinator also drives */
    store_db_t *db;
    int64_t run_id;
    double S[TRAIN_MAX_LAYERS];
    bool scored;
    train_global_eval_t global; /* the global model on the whole evaluation split */
    fault_trace_t *trace;       /* [faults] trace, NULL when none */
} sim;

/* §2 step 1–2: every client's statistics, combined by n_k. */
static fp_status score_layers(sim *s, const float *E0, fp_error *err)
{
    int L = s->m->cfg.n_layers, N = s->cfg->federation.clients;
    double *stat = calloc((size_t)N * (L - 1), sizeof(double));
    int64_t *nk = calloc((size_t)N, sizeof(int64_t));
    fp_status st = stat && nk ? FP_OK : fp_fail(err, FP_ENOMEM, "scores: out of memory");
    for (int k = 0; k < N && !st; k++) {
        int n = fl_partition_size(s->ptrain, k);
        if (n < 2)
            continue; /* cannot form a similarity matrix: weight 0 */
        nk[k] = n;
        st = train_layer_stats(s->m, s->lay.P, E0, s->d.train,
                               s->ptrain->index + s->ptrain->offset[k], n,
                               s->cfg->federation.score_batch, stat + (size_t)k * (L - 1), err);
    }
    if (!st)
        st = fl_layer_scores_combine(stat, nk, N, L - 1, s->S, err);
    s->S[L - 1] = NAN;
    s->scored = !st;
    free(stat);
    free(nk);
    return st;
}

/* The travelling layers (k = 0 with *input: the input soft prompt travels instead). */
static fp_status choose_layers(sim *s, int *layers, int *k, bool *personalise, bool *input,
                               fp_error *err)
{
    const fedpep_config *cfg = s->cfg;
    int P = config_prompt_length(cfg, s->m->decoder);
    /* The initial prompt E0 of a provisional all-layer layout, for scoring. */
    float *E0 = NULL;
    fp_status st = train_scoring_prompt(cfg, &s->m->cfg, P, &s->lay, &E0, err);
    fl_strategy_desc desc = train_travel_desc(cfg, s->strat);
    double rho = cfg->federation.layer_fraction;
    if (!st && train_needs_scores(cfg, s->strat))
        st = score_layers(s, E0, err);
    if (!st && desc.travel == FL_TRAVEL_SELECTED &&
        cfg->federation.layer_selection == FP_LAYERS_HESSIAN)
        st = train_hessian_rho(cfg, s->m, &s->lay, s->d.train, s->ptrain, E0, s->d.fixed_head, &rho,
                               err);
    free(E0);
    if (st)
        return st;
    return train_pick_layers(cfg, s->strat, s->m->cfg.n_layers, s->scored ? s->S : NULL, rho,
                             layers, k, personalise, input, err);
}

/* Restores client c->id's saved state into c; *found false (c untouched) if it never saved. */
static fp_status load_client(sim *s, train_client_t *c, bool *found, fp_error *err)
{
    store_client_state cs = {0};
    fp_error e2;
    fp_status st = store_db_client_state_load(s->db, s->run_id, c->id, &cs, &e2);
    *found = st == FP_OK;
    if (st == FP_OK)
        st = train_client_load(c, cs.prompt.data, cs.prompt.size, cs.adam.data, cs.adam.size, err);
    else if (st == FP_ENOTFOUND)
        st = FP_OK;
    else if (err)
        *err = e2;
    store_client_state_clear(&cs);
    return st;
}

/* The client's state for this round: the cached object, else loaded from the store (or the
 * initial state). Only the current round's clients stay in memory. */
static fp_status get_client(sim *s, int k, train_client_t **out, fp_error *err)
{
    if (s->clients[k]) {
        *out = s->clients[k];
        return FP_OK;
    }
    train_client_t *c =
        train_client_new(&s->lay, k, (uint64_t)s->cfg->run.seed, s->strat->scaffold_client, err);
    if (!c)
        return err ? err->status : FP_ENOMEM;
    bool found;
    fp_status st = load_client(s, c, &found, err);
    if (st) {
        train_client_destroy(&c);
        return st;
    }
    s->clients[k] = c;
    *out = c;
    return FP_OK;
}

static fp_status save_client(sim *s, const train_client_t *c, int32_t round, fp_error *err)
{
    uint8_t *state = NULL, *adam = NULL;
    size_t ls, la;
    fp_status st = train_client_save(c, &state, &ls, &adam, &la, err);
    if (!st)
        st = store_db_client_state_save(s->db, s->run_id, c->id, round, (store_blob){state, ls},
                                        (store_blob){adam, la}, err);
    free(state);
    free(adam);
    return st;
}

/* Personalised evaluation of every client on its eval shard, pooled (§5). */
static fp_status evaluate_all(sim *s, train_eval_result *ev, fp_error *err)
{
    fp_status st = train_eval_init(ev, s->d.eval->n_classes, err);
    for (int k = 0; k < s->cfg->federation.clients && !st; k++) {
        int n = fl_partition_size(s->peval, k);
        if (!n)
            continue;
        const train_client_t *c = s->clients[k];
        if (!c) {
            bool found;
            s->probe->id = k;
            st = load_client(s, s->probe, &found, err);
            c = found ? s->probe : s->fresh;
        }
        if (!st)
            st = train_evaluate_client(s->w, c, s->server->w, s->d.eval,
                                       s->peval->index + s->peval->offset[k], n, s->opts.eval_batch,
                                       ev, err);
    }
    return st;
}

/* One client's part in an attempt: trains it unless it dropped (the fault draw of the attempt,
 * *f, or no training data: the actor system's client refuses with ESTATE) or already trained
 * this round (it answers from its saved state, as a client process does). *out = the client
 * that has an update (NULL: dropped). */
static fp_status ask_client(sim *s, int r, int attempt, int k, const train_sim_options *o,
                            train_client_t **out, faults_round_t *f, fp_error *err)
{
    *out = NULL;
    int n = fl_partition_size(s->ptrain, k);
    *f = faults_for_attempt(s->cfg, s->trace, (uint32_t)r, (uint32_t)attempt, (uint32_t)k);
    if (n == 0 || f->drop)
        return FP_OK;
    train_client_t *c = NULL;
    fp_status st = get_client(s, k, &c, err);
    if (st || c->last_round == r) {
        *out = st ? NULL : c;
        return st;
    }
    train_round_in in = {.round = r,
                         .w_global = s->server->w,
                         .c = s->strat->scaffold_client ? s->server->c : NULL,
                         .set = s->d.train,
                         .idx = s->ptrain->index + s->ptrain->offset[k],
                         .n = n,
                         .total_steps = train_total_steps(&s->opts, n, s->cfg->run.rounds),
                         .progress = o->progress};
    st = train_local_round(s->w, c, &s->opts, &in, NULL, NULL, err);
    if (!st)
        st = save_client(s, c, r, err);
    *out = st ? NULL : c;
    return st;
}

/* Commits the round as the store would commit the coordinator's SAVE of it. */
static fp_status commit_round(sim *s, int r, const train_round_record *rec,
                              const train_sim_options *o, fp_error *err)
{
    msg_t m;
    store_round rd;
    store_client_round *cr = NULL;
    uint8_t *sblob = NULL;
    size_t slen = 0;
    fp_status st = msg_init(&m, MSG_SAVE, s->cfg->run.name, "simulate", err);
    m.round = (uint32_t)r;
    if (!st)
        st = round_save_fill(&m.save, rec, err);
    if (!st)
        st = round_save_rows(&m, &rd, &cr, err);
    if (!st)
        st = fl_server_save(s->server, &sblob, &slen, err);
    if (!st) {
        store_checkpoint_blobs ck = {{s->server->w, s->lay.n_rows * sizeof(float)},
                                     {sblob, slen},
                                     {s->server->rng.s, sizeof s->server->rng.s}};
        st = store_db_round_commit(s->db, s->run_id, &rd, cr, (size_t)rec->sampled, &ck, NULL, err);
    }
    if (!st && o->keep_checkpoints > 0)
        st = store_db_checkpoints_prune(s->db, s->run_id, o->keep_checkpoints, err);
    free(sblob);
    free(cr);
    msg_clear(&m);
    return st;
}

/* Client c's update (E[:, S] of its state after round r) to engine slot i, as it arrives: its
 * row's time is its compute time plus a straggler's hold (faults.h), as the coordinator
 * measures TRAIN sent to UPDATE received. */
static fp_status answer(sim *s, int i, const train_client_t *c, const faults_round_t *f,
                        fp_error *err)
{
    size_t dim = s->lay.n_rows;
    float *rows = malloc(dim * sizeof(float)), *delta = NULL;
    if (rows && s->strat->scaffold_client && (delta = malloc(dim * sizeof(float))))
        memcpy(delta, c->delta_c, dim * sizeof(float));
    if (!rows || (s->strat->scaffold_client && !delta)) {
        free(rows);
        free(delta);
        return fp_fail(err, FP_ENOMEM, "round: out of memory");
    }
    train_layout_rows_gather(&s->lay, c->E, rows);
    int64_t ms = c->last.ms + (int64_t)faults_hold_ms(f, (uint64_t)c->last.ms);
    if (train_round_answer(s->rnd, i, &rows, &delta, c->last.n_k, c->last.steps, c->last.loss, ms,
                           c->last.ms) == TRAIN_SLOT_OK)
        train_round_set_cpu(s->rnd, i, c->last.cpu_ms);
    free(rows);
    free(delta);
    return FP_OK;
}

/* The attempts of round r, as the coordinator runs them (train/round.h): each asks the clients
 * the engine chooses, in order; an asked client trains (or answers from its saved state) and
 * its update goes to the engine, which keeps the first K and counts later ones late. Stragglers
 * as the actor system's clients make them (faults.h), without a clock: one whose hold alone
 * reaches the round's deadline trains and saves its state but its update is late (the slot
 * stays pending until the close); the others answer after every client that is not slow, in
 * asking order. The record goes through the SAVE the coordinator would send and the rows the
 * store would commit. */
static fp_status run_round(sim *s, int r, const train_sim_options *o, FILE *log, double *metric,
                           fp_error *err)
{
    const fedpep_config *cfg = s->cfg;
    int64_t t0 = train_now_ms();
    int N = cfg->federation.clients, *ask = malloc((size_t)N * sizeof *ask),
        *slow = malloc((size_t)N * sizeof *slow);
    faults_round_t *slow_f = malloc((size_t)N * sizeof *slow_f);
    fp_status st = ask && slow && slow_f ? train_round_begin(s->rnd, (uint32_t)r, err)
                                         : fp_fail(err, FP_ENOMEM, "round: out of memory");
    train_round_next next = TRAIN_ROUND_FAIL;
    while (!st) {
        int attempt = train_round_attempt(s->rnd), n = train_round_ask(s->rnd, ask), n_slow = 0;
        for (int j = 0; j < n && !st; j++) {
            int i = ask[j], k = train_round_slot_at(s->rnd, i)->client;
            progress_span(o->progress, r + (double)j / n, r + (double)(j + 1) / n);
            progress_label(o->progress, "round %d (%d of %d) client %d/%d", r, r + 1,
                           cfg->run.rounds, j + 1, n);
            train_client_t *c = NULL;
            faults_round_t f;
            st = ask_client(s, r, attempt, k, o, &c, &f, err);
            if (st)
                break;
            if (!c)
                train_round_no_answer(s->rnd, i, TRAIN_SLOT_DROPPED);
            else if (faults_misses_deadline(&f, cfg->federation.round_deadline_s))
                continue; /* trained and saved; its UPDATE comes after the close */
            else if (f.slow)
                slow_f[n_slow] = f, slow[n_slow++] = i;
            else
                st = answer(s, i, c, &f, err);
        }
        for (int j = 0; j < n_slow && !st; j++) /* still in this round's cache */
            st = answer(s, slow[j], s->clients[train_round_slot_at(s->rnd, slow[j])->client],
                        &slow_f[j], err);
        if (st)
            break;
        next = train_round_close(s->rnd);
        if (next != TRAIN_ROUND_RETRY)
            break;
    }
    free(ask);
    free(slow);
    free(slow_f);
    const char *why = train_round_reason_text(s->rnd);
    if (!st && next != TRAIN_ROUND_AGGREGATE) {
        if (log)
            fprintf(log, "round %d: %s\n", r, why);
        if (next == TRAIN_ROUND_FAIL)
            st = fp_fail(err, FP_ESTATE, "round %d: %s", r, why);
    }
    if (!st && r == o->stop_before_commit)
        st = fp_fail(err, FP_ESTATE, "round %d: stopped before the commit (as asked)", r);
    if (!st && next == TRAIN_ROUND_AGGREGATE)
        st = train_round_aggregate(s->rnd, &s->scfg, err);
    bool eval_now = (r + 1) % cfg->eval.every == 0 || r + 1 == cfg->run.rounds;
    train_eval_result ev = {0}, gev = {0};
    *metric = NAN;
    int64_t eval_ms = 0;
    if (!st && eval_now) {
        eval_ms = train_now_ms();
        progress_label(o->progress, "round %d (%d of %d) evaluating", r, r + 1, cfg->run.rounds);
        st = evaluate_all(s, &ev, err);
        if (!st)
            st = train_global_eval_run(&s->global, s->w, s->server->w, s->d.eval,
                                       s->opts.eval_batch, &gev, err);
        eval_ms = train_now_ms() - eval_ms;
    }
    train_round_record rec;
    train_round_record_make(s->rnd, &rec);
    if (!st && eval_now)
        train_round_record_eval(&rec, s->d.eval->task->metric, &ev.cm, ev.loss_sum);
    if (!st && eval_now)
        train_round_record_global(&rec, s->d.eval->task->metric, &gev.cm, gev.loss_sum);
    *metric = rec.eval_metric;
    /* Payload bytes: one row set to each client asked, one from each update, each row at its
     * block's width as the actors send them (train/wire_rows.h). */
    size_t wire = train_wire_floats(&s->lay);
    rec.bytes_down = (int64_t)((size_t)rec.sampled * wire * sizeof(float));
    rec.bytes_up = (int64_t)((size_t)rec.completed * wire * sizeof(float));
    rec.wall_ms = train_now_ms() - t0;
    if (!st)
        st = commit_round(s, r, &rec, o, err);
    progress_clear(o->progress); /* the round's line replaces it on a shared terminal */
    if (!st && log) {
        fprintf(log, "round %d%s  clients %d/%d  train loss %.4f  ", r, rec.ok ? "" : " FAILED",
                rec.completed, rec.sampled, rec.train_loss);
        if (rec.retries)
            fprintf(log, "retries %d  ", rec.retries);
        if (eval_now)
            fprintf(log, "eval %s %.4f global %.4f (%lld ms)  ",
                    metric_name(s->d.eval->task->metric), *metric, rec.global.metric,
                    (long long)eval_ms);
        fprintf(log, "slowest %lld ms  wall %lld ms\n", (long long)rec.slowest_ms,
                (long long)rec.wall_ms);
        fflush(log);
    }
    for (int k = 0; k < cfg->federation.clients; k++)
        train_client_destroy(&s->clients[k]);
    return st;
}

static bool run_finished(store_db_t *db, const char *name)
{
    store_run have;
    fp_error e = {0};
    if (store_db_run_find(db, name, &have, &e))
        return false;
    bool done = have.status == STORE_RUN_FINISHED;
    store_run_clear(&have);
    return done;
}

static fp_status open_run(sim *s, const train_sim_options *o, train_sim_result *res,
                          const int *layers, int k, fp_error *err)
{
    const fedpep_config *cfg = s->cfg;
    char *text = NULL;
    size_t tlen = 0;
    if (!o->config_text) {
        FILE *f = open_memstream(&text, &tlen);
        if (!f || config_dump(cfg, f)) {
            if (f)
                fclose(f);
            free(text);
            return fp_fail(err, FP_ENOMEM, "simulate: cannot render the config");
        }
        fclose(f);
    }
    fp_status st = store_db_open(&s->db, cfg->run.db, STORE_DB_CREATE, err);
    store_run_spec spec = {cfg->run.name,
                           o->config_text ? o->config_text : text,
                           cfg->model.path,
                           config_task_name(cfg->data.task),
                           config_strategy_name(cfg->run.strategy),
                           (uint64_t)cfg->run.seed};
    if (!st)
        st = store_db_run_begin(s->db, &spec, &s->run_id, &res->resumed, err);
    free(text);
    int L = s->m->cfg.n_layers;
    double score[TRAIN_MAX_LAYERS];
    bool sel[TRAIN_MAX_LAYERS] = {false};
    for (int l = 0; l < L; l++)
        score[l] = s->scored ? s->S[l] : NAN;
    for (int i = 0; i < k; i++)
        sel[layers[i]] = true;
    if (!st)
        st = store_db_layers_save(s->db, s->run_id, score, sel, (size_t)L, err);
    return st;
}

/* " (0,1,5)" for the progress line; "" when no layer travels. */
static const char *layer_list(const int *layers, int k, char *buf, size_t n)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < k && at + 8 < n; i++)
        at += (size_t)snprintf(buf + at, n - at, "%s%d", i ? "," : " (", layers[i]);
    if (k > 0 && at + 2 < n)
        snprintf(buf + at, n - at, ")");
    return buf;
}

fp_status train_simulate(const fedpep_config *cfg, const train_sim_options *o, FILE *log,
                         train_sim_result *res, fp_error *err)
{
    memset(res, 0, sizeof *res);
    res->best_metric = res->last_metric = NAN;
    sim s = {.cfg = cfg};
    int layers[TRAIN_MAX_LAYERS], k = 0, N = cfg->federation.clients;
    bool personalise = false, input = false;
    fp_status st = fl_strategy_for(cfg->run.strategy, &s.strat, err);
    if (!st &&
        !(s.m = train_model_open(cfg->model.path, o->fallback_vocab, o->fallback_merges, err)))
        st = err ? err->status : FP_EINVAL;
    if (!st) /* [model] precision, as the clients and the evaluator apply it */
        st = train_model_set_precision(s.m, cfg->model.precision, stderr, err);
    int P = s.m ? config_prompt_length(cfg, s.m->decoder) : 0;
    if (!st)
        st = train_task_data_load(cfg, s.m, P, &s.d, err);
    if (!st)
        st = train_partition_make(cfg, s.d.train_labels, (int)s.d.train->n, s.d.train->n_classes,
                                  &s.ptrain, err);
    if (!st)
        st = train_partition_make(cfg, s.d.eval_labels, (int)s.d.eval->n, s.d.eval->n_classes,
                                  &s.peval, err);
    if (!st && cfg->faults.trace[0] &&
        !(s.trace = fault_trace_load(cfg->faults.trace, cfg->federation.clients, err)))
        st = err ? err->status : FP_EFORMAT;
    if (!st)
        st = choose_layers(&s, layers, &k, &personalise, &input, err);
    int head = config_linear_head(cfg) && s.d.train ? s.d.train->n_classes : 0;
    if (!st)
        st = train_run_layout(&s.lay, cfg, &s.m->cfg, P, layers, k, personalise, input, head,
                              s.d.fixed_head, err);
    s.opts =
        train_opts_from_config(cfg, s.strat && s.strat->prox, s.strat && s.strat->scaffold_client);
    int T =
        st ? 0 : (s.d.train->max_len > s.d.eval->max_len ? s.d.train->max_len : s.d.eval->max_len);
    if (!st && !(s.w = train_worker_new(s.m, &s.lay, s.d.train, s.opts.batch_size,
                                        s.opts.eval_batch, T, err)))
        st = err ? err->status : FP_ENOMEM;
    if (!st) /* the evaluator's code in the actor system (train/global_eval.h) */
        st = train_global_eval_init(&s.global, &s.lay, (uint64_t)cfg->run.seed,
                                    s.strat->scaffold_client, (int)s.d.eval->n, err);
    if (!st && (!(s.clients = calloc((size_t)N, sizeof *s.clients)) ||
                !(s.fresh = train_client_new(&s.lay, -1, (uint64_t)cfg->run.seed,
                                             s.strat->scaffold_client, err)) ||
                !(s.probe = train_client_new(&s.lay, -1, (uint64_t)cfg->run.seed,
                                             s.strat->scaffold_client, err))))
        st = err && err->status ? err->status : fp_fail(err, FP_ENOMEM, "out of memory");
    if (!st)
        st = open_run(&s, o, res, layers, k, err);
    res->n_layers_sent = k;
    int start = 0;
    s.scfg = train_server_config(cfg, s.strat ? s.strat : fl_strategy_get(FP_STRATEGY_FEDPEPTAO));
    if (!st) {
        store_checkpoint ck = {0};
        fp_error e2;
        fp_status cst = store_db_checkpoint_latest(s.db, s.run_id, &ck, &e2);
        if (cst == FP_OK) {
            st = fl_server_load(ck.server_state.data, ck.server_state.size, &s.server, err);
            start = ck.round + 1;
            if (!st && s.server->dim != s.lay.n_rows)
                st = fp_fail(err, FP_ESTATE, "resume: checkpoint has %zu rows, layout %zu",
                             s.server->dim, s.lay.n_rows);
        } else if (cst == FP_ENOTFOUND) {
            /* A finished run whose last checkpoint was deleted to save space (bench/results.sh
             * does) is not run again from round 0: that would meet its own committed rounds. */
            if (run_finished(s.db, cfg->run.name))
                start = cfg->run.rounds;
            float *w0 = malloc(s.lay.n_rows * sizeof(float));
            if (w0) {
                train_layout_rows_gather(&s.lay, s.fresh->E, w0);
                s.server = fl_server_new(&s.scfg, s.lay.n_rows, N, (uint64_t)cfg->run.seed, w0);
            }
            free(w0);
            if (!s.server)
                st = fp_fail(err, FP_ENOMEM, "server: out of memory or bad arguments");
        } else {
            st = cst;
            if (err)
                *err = e2;
        }
        store_checkpoint_clear(&ck);
    }
    if (!st && !(s.rnd = train_round_new(cfg, s.server, s.strat->scaffold_client, err)))
        st = err ? err->status : FP_ENOMEM;
    res->first_round = start;
    char list[8 * TRAIN_MAX_LAYERS];
    if (!st && log)
        fprintf(log,
                "simulate: %s on %s, %d clients (%d per round), %zu train / %zu eval, "
                "P %d, %s %d of %d layers sent%s%s%s\n",
                config_strategy_name(s.strat->id), s.d.train->task->name, N,
                cfg->federation.clients_per_round, s.d.train->n, s.d.eval->n, P,
                input ? "input prompt, no deep prefix:" : "deep prompt,", k, s.lay.L,
                layer_list(layers, k, list, sizeof list), personalise ? ", personalised" : "",
                start ? ", resumed" : "");
    fl_round_track track;
    fl_round_track_init(&track);
    if (!st)
        progress_begin(o->progress, start, cfg->run.rounds);
    for (int r = start; r < cfg->run.rounds && !st; r++) {
        double metric;
        st = run_round(&s, r, o, log, &metric, err);
        if (st)
            break;
        res->rounds_done++;
        progress_set(o->progress, r + 1);
        (void)metric;
        if (o->stop_after_round >= 0 && r == o->stop_after_round)
            break;
    }
    /* Best and last over the whole run, resumed parts included. */
    store_round *rounds = NULL;
    size_t n_rounds = 0;
    if (s.db && store_db_rounds_list(s.db, s.run_id, &rounds, &n_rounds, st ? NULL : err) && !st)
        st = err ? err->status : FP_EDB;
    for (size_t i = 0; i < n_rounds; i++)
        if (!isnan(rounds[i].eval_metric))
            fl_round_track_update(&track, rounds[i].round, rounds[i].eval_metric);
    free(rounds);
    res->best_metric = track.has_best ? track.best : NAN;
    res->last_metric = track.has_last ? track.last : NAN;
    if (!st && start + res->rounds_done >= cfg->run.rounds)
        st = store_db_run_set_status(s.db, s.run_id, STORE_RUN_FINISHED, err);
    if (st && s.db && s.run_id) /* the run says why it failed, when the database still can */
        store_db_run_set_status_reason(s.db, s.run_id, STORE_RUN_FAILED, err ? err->msg : NULL,
                                       NULL);
    for (int i = 0; s.clients && i < N; i++)
        train_client_destroy(&s.clients[i]);
    free(s.clients);
    train_global_eval_free(&s.global);
    fault_trace_destroy(&s.trace);
    train_client_destroy(&s.fresh);
    train_client_destroy(&s.probe);
    train_round_destroy(&s.rnd);
    fl_server_destroy(&s.server);
    train_worker_destroy(&s.w);
    fl_partition_destroy(&s.ptrain);
    fl_partition_destroy(&s.peval);
    train_task_data_free(&s.d);
    train_model_destroy(&s.m);
    store_db_close(&s.db);
    return st;
}
