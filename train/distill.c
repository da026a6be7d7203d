/* distill.c — see distill.h. One step: the teacher's last hidden states for a batch (forward
 * only), the student's forward with weight gradients, the loss and its gradient on the student's
 * last hidden states (distill_loss), the seeded backward into every weight, a global-norm clip,
 * AdamW on the student's trainable weights and on the map. */
#include "train/distill.h"
#include "train/distill_job.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/config.h"
#include "common/file_io.h"
#include "common/rng.h"
#include "fl/adamw.h"
#include "model/hf_config.h"
#include "data/task.h"

/* rng_derive tag of the map's initialisation */
enum { TAG_INIT = 0x494e4954 };

void distill_defaults(distill_options *o)
{
    *o = (distill_options){
        .teacher_dir = "models/default",
        .out_dir = "models/deep",
        .datasets_dir = "../shared/datasets",
        .task_mask = (1u << FP_TASK_COUNT) - 1,
        .files = {"../shared/corpus/brown.txt", "../shared/corpus/nlp-corpus.txt"},
        .n_files = 2,
        .layers = 6,
        .d_model = 256,
        .heads = 4,
        .d_ff = 1024,
        .batch = 64,
        .max_len = 64,
        .steps = 40000,
        .warmup = 1000,
        .lr = 6e-4,
        .lr_final = 0.1,
        .weight_decay = 0.01,
        .clip = 1.0,
        .init_std = 0.02f,
        .w = {1.0f, 1.0f, 1.0f},
        .seed = 42,
        .checkpoint_every = 600,
        .eval_every = 1000,
        .held_max = 1024,
    };
}

void distill_recipe_text(const distill_options *o, char *buf, size_t n)
{
    int k = snprintf(buf, n,
                     "layers = %d\nd_model = %d\nheads = %d\nd_ff = %d\nactivation = %s\n"
                     "train_embeddings = %s\nbatch = %d\nmax_len = %d\nsteps = %llu\n"
                     "warmup = %d\nlr = %.9g\nlr_final = %.9g\nweight_decay = %.9g\n"
                     "clip = %.9g\ninit_std = %.9g\nw_tok = %.9g\nw_pool = %.9g\nw_rel = %.9g\n"
                     "seed = %llu\ndatasets = %s\n",
                     o->layers, o->d_model, o->heads, o->d_ff, o->relu ? "relu" : "gelu",
                     o->train_embeddings ? "true" : "false", o->batch, o->max_len,
                     (unsigned long long)o->steps, o->warmup, o->lr, o->lr_final, o->weight_decay,
                     o->clip, (double)o->init_std, (double)o->w.tok, (double)o->w.pool,
                     (double)o->w.rel, (unsigned long long)o->seed,
                     !o->datasets_dir                            ? "none"
                     : o->task_mask == (1u << FP_TASK_COUNT) - 1 ? "train splits"
                                                                 : "some train splits");
    for (int t = 0; t < FP_TASK_COUNT && o->datasets_dir && k > 0 && (size_t)k < n; t++)
        if (o->task_mask != (1u << FP_TASK_COUNT) - 1 && o->task_mask >> t & 1)
            k += snprintf(buf + k, n - (size_t)k, "task = %s\n", task_get(t)->name);
    for (int f = 0; f < o->n_files && k > 0 && (size_t)k < n; f++) {
        const char *base = strrchr(o->files[f], '/');
        k += snprintf(buf + k, n - (size_t)k, "text = %s\n", base ? base + 1 : o->files[f]);
    }
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *path_in(distill_job *r, const char *name)
{
    snprintf(r->path, sizeof r->path, "%s/%s", r->o->out_dir, name);
    return r->path;
}

/* ---- the student */

static fp_status make_student_config(distill_job *r, fp_error *err)
{
    const distill_options *o = r->o;
    const model_config *t = &r->teacher->cfg;
    r->cfg = *t;
    r->cfg.n_layers = o->layers;
    r->cfg.d_model = o->d_model;
    r->cfg.n_heads = o->heads;
    r->cfg.d_ff = o->d_ff;
    r->cfg.hidden_act = o->relu ? MODEL_ACT_RELU : MODEL_ACT_ARCH;
    r->cfg.d_embed = 0;
    if (model_embed_width(t) != o->d_model)
        return fp_fail(err, FP_EINVAL,
                       "distill: the student's width %d must equal the teacher's embedding "
                       "width %d (its embeddings are copied)",
                       o->d_model, model_embed_width(t));
    if (t->arch != MODEL_ARCH_ROBERTA || t->final_ln)
        return fp_fail(err, FP_EINVAL, "distill: the teacher must be an encoder without ln_f");
    return hf_config_validate(&r->cfg, err) ? FP_EINVAL : tf_config_check(&r->cfg, err);
}

/* The teacher's embedding tables into the student's (same widths, same table order first). */
static void copy_embeddings(distill_job *r)
{
    const model_config *t = &r->teacher->cfg;
    const size_t de = (size_t)r->o->d_model;
    memcpy((float *)r->w.wte, r->teacher->w.wte, (size_t)t->vocab_size * de * sizeof(float));
    memcpy((float *)r->w.wpe, r->teacher->w.wpe, (size_t)t->max_positions * de * sizeof(float));
    memcpy((float *)r->w.wtt, r->teacher->w.wtt, (size_t)t->type_vocab_size * de * sizeof(float));
}

/* ---- checkpoints */

static fp_status copy_file(distill_job *r, const char *name, fp_error *err)
{
    char from[4200];
    snprintf(from, sizeof from, "%s/%s", r->o->teacher_dir, name);
    char *bytes = NULL;
    size_t len = 0;
    fp_status st = fp_file_read(from, (size_t)64 << 20, &bytes, &len, err);
    if (st == FP_ENOTFOUND)
        return FP_OK; /* the tokenizer files the teacher has */
    if (!st) {
        const void *parts[] = {bytes};
        st = fp_file_write_atomic(path_in(r, name), parts, &len, 1, err);
    }
    free(bytes);
    return st;
}

static fp_status checkpoint(distill_job *r, double cpu_s, fp_error *err)
{
    r->st.cpu_s = cpu_s;
    fp_status st = distill_state_save(&r->st, path_in(r, "distill/state.bin"), err);
    if (!st)
        st = tf_weights_save(&r->w, &r->cfg, path_in(r, "model.safetensors"), err);
    if (!st)
        st = copy_file(r, "vocab.json", err);
    if (!st)
        st = copy_file(r, "merges.txt", err);
    if (!st) /* last: its presence means the folder is a complete model */
        st = hf_config_save(path_in(r, "config.json"), &r->cfg, err);
    return st;
}

static fp_status append_log(distill_job *r, const distill_parts *train, const distill_parts *held,
                            double cpu_s, fp_error *err)
{
    const char *path = path_in(r, "distill/log.tsv");
    struct stat sb;
    bool fresh = stat(path, &sb) != 0;
    FILE *f = fopen(path, "a");
    if (!f)
        return fp_fail(err, FP_EIO, "%s: %s", path, strerror(errno));
    if (fresh)
        fprintf(f, "step\ttokens\tcpu_s\tlr\ttrain_loss\theld_tok_mse\theld_pool_cos\theld_rel\n");
    fprintf(f, "%llu\t%.0f\t%.1f\t%.6g\t%.5f\t%.5f\t%.5f\t%.6f\n", (unsigned long long)r->st.step,
            r->st.tokens, cpu_s, distill_lr_at(r->o, r->st.step ? r->st.step : 1), train->loss,
            held->tok, held->pool_cos, held->rel);
    return fclose(f) ? fp_fail(err, FP_EIO, "%s: %s", path, strerror(errno)) : FP_OK;
}

/* ---- set-up and the loop */

static fp_status make_dirs(distill_job *r, fp_error *err)
{
    char dirs[2][4200];
    snprintf(dirs[0], sizeof dirs[0], "%s", r->o->out_dir);
    snprintf(dirs[1], sizeof dirs[1], "%s/distill", r->o->out_dir);
    for (int i = 0; i < 2; i++)
        if (mkdir(dirs[i], 0755) && errno != EEXIST)
            return fp_fail(err, FP_EIO, "%s: %s", dirs[i], strerror(errno));
    return FP_OK;
}

static fp_status allocate(distill_job *r, fp_error *err)
{
    const distill_options *o = r->o;
    const int B = o->batch, T = o->max_len, ds = o->d_model, dt = r->teacher->cfg.d_model;
    fp_status st = tf_weights_init_random(&r->w, &r->cfg, o->init_std, o->seed, err);
    if (!st)
        st = tf_weights_init_zero(&r->g, &r->cfg, err);
    if (st)
        return st;
    r->w.has_lm_head = r->w.has_sentence_head = false;
    const size_t numel = tf_weights_numel(&r->cfg);
    r->emb_off = o->train_embeddings ? 0 : (size_t)(r->w.layers[0].q.w - r->w.block);
    r->st.block = r->w.block;
    r->st.numel = numel;
    r->st.n_trainable = numel - r->emb_off;
    r->st.map_n = (size_t)dt * ds + (size_t)dt;
    r->st.d_t = dt;
    r->st.map = calloc(r->st.map_n, sizeof(float));
    r->dmap = calloc(r->st.map_n, sizeof(float));
    r->st.mu = calloc((size_t)dt, sizeof(float));
    r->st.sigma = calloc((size_t)dt, sizeof(float));
    r->dh_s = calloc((size_t)B * T * ds, sizeof(float));
    r->tokens = calloc((size_t)B * T, sizeof(int));
    r->mask = calloc((size_t)B * T, sizeof(int));
    r->order = malloc(r->text.train.n * sizeof(int));
    r->bstart = malloc((r->text.train.n / (size_t)B + 2) * sizeof(size_t));
    if (!r->st.map || !r->dmap || !r->st.mu || !r->st.sigma || !r->dh_s || !r->tokens || !r->mask ||
        !r->order || !r->bstart)
        return fp_fail(err, FP_ENOMEM, "distill: out of memory");
    r->t_acts = tf_acts_new(&r->teacher->cfg, (tf_acts_spec){B, T, 0, 0, 0, 0, false, 0}, err);
    if (r->t_acts)
        r->s_acts = tf_acts_new(&r->cfg, (tf_acts_spec){B, T, 0, o->layers, 0, 0, true, 0}, err);
    if (r->s_acts)
        r->loss = distill_loss_new(B * T, B, ds, dt, err);
    return r->loss ? FP_OK : FP_ENOMEM;
}

/* A fresh start: the teacher's embeddings, a small random map, the standardisation. */
static fp_status start_fresh(distill_job *r, fp_error *err)
{
    copy_embeddings(r);
    rng_t g;
    rng_derive(&g, r->o->seed, TAG_INIT, 0);
    const size_t nM = (size_t)r->st.d_t * r->o->d_model;
    for (size_t i = 0; i < nM; i++)
        r->st.map[i] = (float)(rng_normal(&g) / sqrt((double)r->o->d_model));
    r->st.recipe = strdup(r->recipe);
    r->st.opt_w = fl_adamw_new(r->st.n_trainable);
    r->st.opt_map = fl_adamw_new(r->st.map_n);
    if (!r->st.recipe || !r->st.opt_w || !r->st.opt_map)
        return fp_fail(err, FP_ENOMEM, "distill: out of memory");
    return distill_standardisation(r, err);
}

static fp_status resume_or_start(distill_job *r, bool *resumed, fp_error *err)
{
    fp_status st = distill_state_load(&r->st, path_in(r, "distill/state.bin"), err);
    *resumed = st == FP_OK;
    if (st == FP_ENOTFOUND) {
        distill_state_free_owned(&r->st);
        return start_fresh(r, err);
    }
    if (!st && strcmp(r->st.recipe, r->recipe)) {
        /* name the first line that differs */
        const char *a = r->st.recipe, *b = r->recipe;
        while (*a && *a == *b) {
            a++;
            b++;
        }
        while (a > r->st.recipe && a[-1] != '\n') {
            a--;
            b--;
        }
        st = fp_fail(err, FP_EINVAL,
                     "distill: %s/distill/state.bin was made by another recipe: it has '%.*s', "
                     "this command asks '%.*s' (same options, or another folder)",
                     r->o->out_dir, (int)strcspn(a, "\n"), a, (int)strcspn(b, "\n"), b);
    }
    return st;
}

static void run_free(distill_job *r)
{
    train_model_destroy(&r->teacher);
    distill_text_free(&r->text);
    r->st.block = NULL;
    distill_state_free_owned(&r->st);
    free(r->st.map);
    free(r->st.mu);
    free(r->st.sigma);
    free(r->dmap);
    tf_weights_free(&r->w);
    tf_weights_free(&r->g);
    tf_acts_destroy(&r->t_acts);
    tf_acts_destroy(&r->s_acts);
    distill_loss_destroy(&r->loss);
    free(r->dh_s);
    free(r->tokens);
    free(r->mask);
    free(r->order);
    free(r->bstart);
}

static fp_status check_options(const distill_options *o, fp_error *err)
{
    if (o->layers < 1 || o->layers > 64 || o->d_model < 1 || o->heads < 1 || o->d_ff < 1 ||
        o->batch < 1 || o->max_len < 1 || o->steps < 1 || o->warmup < 0 || !(o->lr > 0) ||
        !(o->lr_final >= 0) || !(o->weight_decay >= 0) || !(o->init_std > 0) || o->eval_every < 1 ||
        o->held_max < 1 || !(o->checkpoint_every > 0))
        return fp_fail(err, FP_EINVAL, "distill: an option is out of range");
    return FP_OK;
}

fp_status distill_run(const distill_options *o, FILE *log, distill_result *res, fp_error *err)
{
    *res = (distill_result){0};
    fp_status st = check_options(o, err);
    if (st)
        return st;
    distill_job r = {.o = o, .log = log, .order_epoch = UINT32_MAX};
    distill_recipe_text(o, r.recipe, sizeof r.recipe);
    r.teacher = train_model_open(o->teacher_dir, NULL, NULL, err);
    if (!r.teacher)
        return FP_ENOTFOUND;
    distill_text_spec spec = {o->files,     (size_t)o->n_files, o->datasets_dir,
                              o->task_mask, o->max_len,         10};
    st = make_student_config(&r, err);
    if (!st)
        st = distill_text_build(&spec, r.teacher->tok, &r.text, err);
    if (!st && log)
        fprintf(log,
                "distill: text: %zu lines read, %zu duplicates, %zu equal to a dev/test line, "
                "%zu empty, %zu truncated to %d ids; %zu training sentences (%zu tokens), "
                "%zu held out (%zu tokens)\n",
                r.text.lines, r.text.duplicates, r.text.excluded, r.text.empty, r.text.truncated,
                o->max_len, r.text.train.n, r.text.train.tokens, r.text.held.n, r.text.held.tokens);
    if (!st)
        st = make_dirs(&r, err);
    if (!st)
        st = allocate(&r, err);
    bool resumed = false;
    if (!st)
        st = resume_or_start(&r, &resumed, err);
    if (!st && log)
        fprintf(log, "distill: %s at step %llu of %llu (%.0f tokens, %.0f CPU-s so far)\n",
                resumed ? "resuming" : "starting", (unsigned long long)r.st.step,
                (unsigned long long)o->steps, r.st.tokens, r.st.cpu_s);
    const double t0 = cpu_now(), cpu_before = r.st.cpu_s;
    double last_ckpt = t0;
    distill_parts window = {0}, held = {0};
    int in_window = 0;
    bool evaluated = false;
    progress_begin(o->progress, (double)r.st.step, (double)o->steps);
    while (!st && r.st.step < o->steps) {
        distill_parts p;
        st = distill_train_step(&r, &p, err);
        if (st)
            break;
        window.loss += p.loss;
        in_window++;
        progress_label(o->progress, "step %llu/%llu loss %.4f", (unsigned long long)r.st.step,
                       (unsigned long long)o->steps, p.loss);
        progress_set(o->progress, (double)r.st.step);
        progress_tick(o->progress);
        const double now = cpu_now();
        const bool done = r.st.step == o->steps;
        const bool out_of_time = o->for_seconds > 0 && now - t0 >= o->for_seconds;
        const bool stopping = o->stop && *o->stop;
        if (r.st.step % (uint64_t)o->eval_every == 0 || done) {
            window.loss /= in_window;
            st = distill_evaluate_held(&r, &held, err);
            evaluated = !st;
            if (!st)
                st = append_log(&r, &window, &held, cpu_before + now - t0, err);
            if (!st && log) {
                progress_clear(o->progress);
                fprintf(log,
                        "distill: step %llu: train loss %.4f; held-out: token MSE %.4f, pooled "
                        "cosine %.4f, pool-geometry MSE %.5f (%.0f tokens, %.0f CPU-s)\n",
                        (unsigned long long)r.st.step, window.loss, held.tok, held.pool_cos,
                        held.rel, r.st.tokens, cpu_before + now - t0);
            }
            window = (distill_parts){0};
            in_window = 0;
        }
        if (!st && (done || out_of_time || stopping || now - last_ckpt >= o->checkpoint_every)) {
            st = checkpoint(&r, cpu_before + cpu_now() - t0, err);
            last_ckpt = cpu_now();
            if (!st && log) {
                progress_clear(o->progress);
                fprintf(log, "distill: checkpoint at step %llu\n", (unsigned long long)r.st.step);
            }
        }
        if (out_of_time || stopping)
            break;
    }
    if (!st) {
        res->step = r.st.step;
        res->finished = r.st.step == o->steps;
        res->tokens = r.st.tokens;
        res->cpu_s = cpu_before + cpu_now() - t0;
        res->held = held;
        res->evaluated = evaluated;
    }
    run_free(&r);
    return st;
}
