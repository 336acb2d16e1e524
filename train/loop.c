/* loop.c — the training loop behind `wafer train`: model and data setup,
** accumulation over K micro-batches, clipping + AdamW per block, LR schedule,
** periodic validation, checkpoints (out/ckpt-N + out/latest pointer), resume,
** log.csv and loss.png. Same seed and flags give the same bits, and a resumed
** run continues exactly where the straight run would be. */
#include "train/train_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/rng.h"
#include "datasets/shards.h"
#include "kernels/kernels.h"
#include "model/checkpoint.h"
#include "model/tokenizer.h"

void wf_train_opts_default(wf_train_opts *o) {
    memset(o, 0, sizeof *o);
    o->B = 1, o->T = 0, o->accum = 1;
    o->warmup = -1, o->sched = -1, o->end_frac = 0.1;
    o->eval_windows = 16;
    o->seed = 1234;
    o->keep = 3;
    o->sparsity = -1;
    wf_optim_opts_default(&o->optim);
}

typedef struct {
    long step;
    double loss, val, lr, tps;
} log_row;

typedef struct {
    const wf_train_opts *o;
    wf_gpt_config cfg;
    float *w, *g, *gm; /* gm: one micro-batch's gradient when accumulating (then g += gm) */
    wf_gpt_view wv, gv, gmv;
    wf_trainer *tr;
    wf_optim *opt;
    wf_shards *data;
    wf_tokenizer *tok;
    wf_train_state st;
    long total;
    double peak, end_frac;
    wf_sched_kind sched;
    long warmup;
    log_row *rows;
    int nrows, caprows, log_warned;
    int32_t *win, *in, *tg;
    long saved_step; /* step of the last checkpoint written, -1 none */
    char saved_dir[1100]; /* that checkpoint's folder (or the resumed one); "" none */
    wf_outdir od;    /* this run's checkpoints in out (train/outdir.c) */
    wf_ckpt_reader *rd; /* with an executor: where its weights come from (the loop holds none) */
    int T;           /* sequence length in use */
    wf_sparse_mask *mask;  /* NULL: dense run */
    wf_sparse_plan *plan;  /* which masked matrices run on the sparse kernels */
    /* Resident data parallelism with posted MPI calls (dp_micro): the ticket
    ** of each block's weight broadcast not yet waited for, and the last ticket
    ** posted (waited for before the buffers go). */
    long *wt;
    long last_t;
} run;

/* Block b's weights are here (their broadcast has landed). */
static wf_status dp_weights(run *r, const wf_dp_hooks *dp, int b, wf_err *err) {
    long t = r->wt[b];
    r->wt[b] = 0;
    return t ? dp->wait(dp->ud, t, err) : WF_OK;
}

/* The step's total gradient of block b is complete here: add this micro-
** batch's part when accumulating (g += gm, as the whole-model add does), then
** post the block down the rank-order chain (swarm.h), which runs while the
** backward goes on. */
static void dp_block_out(run *r, const wf_dp_hooks *dp, int b, int k) {
    size_t off = wf_gpt_block_offset(&r->cfg, b), n = wf_gpt_block_numel(&r->cfg, b);
    if (k > 0) wf_grad_add(r->g + off, r->gm + off, n);
    r->last_t = dp->post_chain(dp->ud, r->g + off, n);
}

/* One micro-batch of the resident step under mpirun with posted calls:
** wf_trainer_step's calls layer by layer (its bits), each block's weights
** waited for just before their first use (rank 0 posts them as it updates,
** so the next step's forward starts while later blocks are still on the
** way), and on the step's last micro-batch each block's gradient posted as
** soon as the backward has produced it. */
static wf_status dp_micro(run *r, const wf_dp_hooks *dp, int k, int Kl, float scale, float *loss, wf_err *err) {
    const wf_gpt_config *c = &r->cfg;
    int L = c->n_layer, last = k == Kl - 1, head_b = L + 1;
    wf_gpt_view *g = k == 0 ? &r->gv : &r->gmv;
    if (k > 0) memset(r->gm, 0, wf_gpt_numel(c) * sizeof(float));
    wf_status rc = dp_weights(r, dp, 0, err);
    if (!rc) rc = wf_trainer_embed_forward(r->tr, r->wv.wte, r->wv.wpe, r->in, r->tg, err);
    for (int l = 0; !rc && l < L; l++)
        if (!(rc = dp_weights(r, dp, 1 + l, err))) wf_trainer_layer_forward(r->tr, l, &r->wv.layers[l]);
    if (!rc) rc = dp_weights(r, dp, head_b, err);
    if (rc) return rc;
    *loss = wf_trainer_head(r->tr, r->wv.lm_head, r->wv.lnf_w, r->wv.lnf_b, g->lm_head, g->lnf_w, g->lnf_b, scale);
    if (last) dp_block_out(r, dp, head_b, k);
    for (int l = L - 1; l >= 0; l--) {
        wf_trainer_layer_backward(r->tr, l, &r->wv.layers[l], &g->layers[l]);
        if (last) dp_block_out(r, dp, 1 + l, k);
    }
    wf_trainer_embed_backward(r->tr, g->wte, g->wpe);
    if (last) dp_block_out(r, dp, 0, k);
    else if (k > 0) wf_grad_add(r->g, r->gm, wf_gpt_numel(c)); /* g = g + gm, element by element */
    return WF_OK;
}

/* Rank 0: wf_optim_step block by block, each block's new weights posted to
** the other ranks as soon as they are written; the others post the receives. */
static void dp_update(run *r, const wf_dp_hooks *dp, float lr, float *gnorm) {
    float coef = 1.0f;
    if (dp->rank == 0) coef = wf_optim_begin(r->opt, r->g, gnorm);
    else r->opt->step++;
    for (int b = 0; b < wf_gpt_nblocks(&r->cfg); b++) {
        if (dp->rank == 0) wf_optim_update_block(r->opt, b, r->w, r->g, lr, coef);
        r->last_t = r->wt[b] = dp->post_bcast(dp->ud, r->w + wf_gpt_block_offset(&r->cfg, b), wf_gpt_block_numel(&r->cfg, b));
    }
}

static wf_status read_val(void *ud, uint64_t pos, size_t n, int32_t *out, wf_err *err) {
    return wf_shards_read((const wf_shards *)ud, WF_SPLIT_VAL, pos, n, out, err);
}

static wf_status add_row(run *r, log_row row, wf_err *err) {
    if (r->nrows == r->caprows) {
        int cap = r->caprows ? 2 * r->caprows : 256;
        log_row *p = wf_realloc(NULL, r->rows, sizeof *p * (size_t)cap, "log rows", err);
        if (!p) return WF_ENOMEM;
        r->rows = p, r->caprows = cap;
    }
    r->rows[r->nrows++] = row;
    return WF_OK;
}

static const char LOG_HEADER[] = "step,loss,val_loss,lr,tokens_per_s\n";

/* One line of log.csv (at most 96 bytes). */
static int fmt_row(char *b, size_t cap, const log_row *w) {
    char val[32] = "";
    if (w->val >= 0) snprintf(val, sizeof val, "%.6f", w->val);
    return snprintf(b, cap, "%ld,%.6f,%s,%.6e,%.1f\n", w->step, w->loss, val, w->lr, w->tps);
}

/* A step's row, appended to log.csv as the run goes (so the file follows
** the run, and a kill loses no row of a saved step); a checkpoint's save
** rewrites the whole file atomically, and a resume first cuts it back to
** the resumed step. A failed append is said once; the next save rewrites. */
static void append_row(run *r, const log_row *w) {
    char path[1100], line[128];
    snprintf(path, sizeof path, "%s/log.csv", r->o->out);
    FILE *f = fopen(path, "a");
    int ok = f != NULL;
    if (f) {
        if (ftell(f) == 0) ok = fputs(LOG_HEADER, f) >= 0;
        ok = ok && fputs((fmt_row(line, sizeof line, w), line), f) >= 0;
        ok = (fclose(f) == 0) && ok;
    }
    if (!ok && !r->log_warned) {
        r->log_warned = 1;
        wf_log(WF_LOG_WARN, "%s: cannot append the step's row (%s); the next checkpoint rewrites it", path,
               strerror(errno));
    }
}

static wf_status write_log(run *r, wf_err *err) {
    size_t cap = 64 + (size_t)r->nrows * 96, n = 0;
    char *buf = wf_alloc(NULL, cap, "log.csv", err);
    if (!buf) return WF_ENOMEM;
    n += (size_t)snprintf(buf + n, cap - n, "%s", LOG_HEADER);
    for (int i = 0; i < r->nrows; i++) n += (size_t)fmt_row(buf + n, cap - n, &r->rows[i]);
    char path[1100];
    snprintf(path, sizeof path, "%s/log.csv", r->o->out);
    wf_status rc = wf_file_write_atomic(path, buf, n, err);
    wf_free(NULL, buf);
    if (rc || r->nrows == 0) return rc;
    long *st = wf_alloc(NULL, sizeof(long) * (size_t)r->nrows, "plot", err);
    double *lo = wf_alloc(NULL, sizeof(double) * (size_t)r->nrows * 2, "plot", err);
    if (!st || !lo) {
        wf_free(NULL, st), wf_free(NULL, lo);
        return WF_ENOMEM;
    }
    for (int i = 0; i < r->nrows; i++) st[i] = r->rows[i].step, lo[i] = r->rows[i].loss, lo[r->nrows + i] = r->rows[i].val;
    snprintf(path, sizeof path, "%s/loss.png", r->o->out);
    rc = wf_plot_loss_png(path, st, lo, lo + r->nrows, r->nrows, err);
    wf_free(NULL, st), wf_free(NULL, lo);
    return rc;
}

/* Reads an earlier log.csv back (resume), keeping rows up to `upto`, and
** cuts the file back to them: rows past it (a run killed after that
** checkpoint) would otherwise stand before this run's. The rows are in step
** order, so the cut is a truncation at the first row past `upto`; a file out
** of order is rewritten whole at the next save (*rewrite set). */
static void read_log(run *r, long upto, int *rewrite) {
    char path[1100], *buf;
    size_t n;
    wf_err e;
    snprintf(path, sizeof path, "%s/log.csv", r->o->out);
    *rewrite = 0;
    if (wf_file_read(NULL, path, &buf, &n, &e)) return;
    long cut = -1; /* offset of the first row past upto */
    char *line = strchr(buf, '\n');
    while (line && line[1]) {
        line++;
        log_row w = {.val = -1};
        char *p = line;
        w.step = strtol(p, &p, 10);
        if (*p == ',') w.loss = strtod(p + 1, &p);
        if (*p == ',' && p[1] != ',') w.val = strtod(p + 1, &p);
        else if (*p == ',') p++;
        if (*p == ',') w.lr = strtod(p + 1, &p);
        if (*p == ',') w.tps = strtod(p + 1, &p);
        if (w.step > upto && cut < 0) cut = (long)(line - buf);
        else if (w.step <= upto && cut >= 0) *rewrite = 1;
        if (w.step >= 1 && w.step <= upto && add_row(r, w, &e)) break;
        line = strchr(line, '\n');
    }
    wf_free(NULL, buf);
    if (cut >= 0 && !*rewrite && truncate(path, (off_t)cut) != 0) *rewrite = 1;
}

/* Names the first tensor of weights, m or v holding NaN/Inf in *what; 0 when all are finite. */
static int find_nonfinite(const run *r, char *what, size_t cap) {
    const float *bufs[3] = {r->w, r->opt->m, r->opt->v};
    static const char *const kind[3] = {"weights", "Adam moment m", "Adam moment v"};
    for (int k = 0; k < 3; k++) {
        int t = wf_nonfinite_tensor(&r->cfg, bufs[k]);
        if (t >= 0) {
            wf_tensor_info ti;
            wf_gpt_tensor_info(&r->cfg, t, &ti);
            snprintf(what, cap, "%s of tensor '%s'", kind[k], ti.name);
            return 1;
        }
    }
    return 0;
}

/* The run diverged: an error naming the step and the tensor, and the checkpoint still in force. */
static wf_status diverged(const run *r, const char *cause, wf_err *err) {
    char what[300] = "";
    int found = r->o->exec ? r->o->exec->nonfinite(r->o->exec->ud, what, sizeof what) : find_nonfinite(r, what, sizeof what);
    if (!found) snprintf(what, sizeof what, "no saved tensor yet");
    return WF_FAIL(err, WF_ERANGE, "step %llu: %s; %s holds NaN or Inf: not saved, the last good checkpoint is %s "
                   "(restart from it with a lower --lr or a --clip)", (unsigned long long)r->st.step, cause, what,
                   r->saved_dir[0] ? r->saved_dir : "none (no checkpoint was saved)");
}

/* "linear", "cosine" or "constant". */
static const char *sched_name(int k) {
    static const char *const names[WF_SCHED_COUNT] = {"linear", "cosine", "constant"};
    return k >= 0 && k < WF_SCHED_COUNT ? names[k] : "?";
}

/* A resumed run trains on the stored lr schedule; a flag given again
** replaces its value from then on, as the optimizer's flags do. A file from
** before schedules were stored leaves it to the flags, and says so. */
static void resume_schedule(run *r, const wf_train_opts *o) {
    const wf_train_state *s = &r->st;
    if (!s->has_sched) {
        if (!(o->optim_given & WF_OPTIM_GIVEN_LR))
            wf_log(WF_LOG_WARN, "--resume: this optimizer.bin predates stored lr schedules: the run goes on with "
                   "lr %g (%s, warm-up %ld); give --lr, --warmup, --schedule and --end-frac as the run began",
                   r->peak, sched_name(r->sched), r->warmup);
        return;
    }
    if (!(o->optim_given & WF_OPTIM_GIVEN_LR)) r->peak = s->lr;
    else if (r->peak != s->lr) wf_log(WF_LOG_INFO, "--lr %g replaces the stored %g from this step on", r->peak, s->lr);
    if (!(o->optim_given & WF_OPTIM_GIVEN_WARMUP)) r->warmup = (long)s->warmup;
    else if ((uint64_t)r->warmup != s->warmup)
        wf_log(WF_LOG_INFO, "--warmup %ld replaces the stored %llu from this step on", r->warmup,
               (unsigned long long)s->warmup);
    if (!(o->optim_given & WF_OPTIM_GIVEN_SCHED)) r->sched = (wf_sched_kind)s->sched;
    else if ((int)r->sched != s->sched)
        wf_log(WF_LOG_INFO, "--schedule %s replaces the stored %s from this step on", sched_name(r->sched),
               sched_name(s->sched));
    if (!(o->optim_given & WF_OPTIM_GIVEN_END)) r->end_frac = s->end_frac;
    else if (r->end_frac != s->end_frac)
        wf_log(WF_LOG_INFO, "--end-frac %g replaces the stored %g from this step on", r->end_frac, s->end_frac);
}

/* On resume the stored optimizer settings hold unless the user gave the flag
** again: then the user's value applies from this step on, and the log says so. */
static void apply_given_optim(wf_optim *opt, const wf_train_opts *o) {
    struct { unsigned bit; const char *flag; float *dst; float val; } f[] = {
        {WF_OPTIM_GIVEN_BETA1, "--beta1", &opt->opts.beta1, o->optim.beta1},
        {WF_OPTIM_GIVEN_BETA2, "--beta2", &opt->opts.beta2, o->optim.beta2},
        {WF_OPTIM_GIVEN_EPS, "--eps", &opt->opts.eps, o->optim.eps},
        {WF_OPTIM_GIVEN_WD, "--weight-decay", &opt->opts.weight_decay, o->optim.weight_decay},
        {WF_OPTIM_GIVEN_CLIP, "--clip", &opt->opts.clip, o->optim.clip},
    };
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
        if (!(o->optim_given & f[i].bit) || *f[i].dst == f[i].val) continue;
        wf_log(WF_LOG_INFO, "%s %g replaces the stored %g from this step on", f[i].flag, f[i].val, *f[i].dst);
        *f[i].dst = f[i].val;
    }
    if ((o->optim_given & WF_OPTIM_GIVEN_DECAY) && opt->opts.decay != o->optim.decay) {
        wf_log(WF_LOG_INFO, "--decay replaces the stored weight-decay groups from this step on");
        opt->opts.decay = o->optim.decay;
    }
}

static wf_status save_checkpoint(run *r, char *out_dir, size_t cap, wf_err *err) {
    char tmp[WF_TRAIN_PATH], dir[1100], path[WF_TRAIN_PATH + 32], what[300];
    long step = (long)r->st.step;
    r->st.has_sched = 1, r->st.sched = (int)r->sched, r->st.warmup = (uint64_t)r->warmup; /* what it trains on */
    r->st.lr = r->peak, r->st.end_frac = r->end_frac;
    const wf_step_hooks *x = r->o->exec;
    uint64_t shard = r->o->max_shard ? r->o->max_shard : WF_CHECKPOINT_SHARD_BYTES;
    wf_status rc;
    if (!x && find_nonfinite(r, what, sizeof what)) return diverged(r, "the run diverged", err);
    if ((rc = wf_outdir_begin(&r->od, step, tmp, sizeof tmp, err))) return rc;
    if (x) {
        /* straight from the executor's store, block by block; a NaN found on
        ** the way abandons the half-written folder */
        rc = x->save(x->ud, tmp, &r->st, shard, what, sizeof what, err);
        if (rc == WF_ERANGE && what[0]) {
            wf_outdir_abort(tmp);
            return diverged(r, "the run diverged", err);
        }
    } else {
        rc = wf_checkpoint_save_sharded(tmp, &r->cfg, r->w, shard, err);
        if (!rc) {
            snprintf(path, sizeof path, "%s/optimizer.bin", tmp);
            rc = wf_optstate_save(path, r->opt, &r->st, err);
        }
    }
    if (!rc && r->mask) {
        snprintf(path, sizeof path, "%s/%s", tmp, WF_SPARSE_MASK_FILE);
        rc = wf_sparse_mask_save(path, r->mask, err);
    }
    if (!rc && r->tok) rc = wf_tokenizer_save(r->tok, tmp, err);
    if (rc) {
        wf_outdir_abort(tmp);
        snprintf(dir, sizeof dir, "%s/ckpt-%08ld", r->o->out, step);
        return wf_err_prefix(err, "saving checkpoint %s", dir), rc;
    }
    if ((rc = wf_outdir_commit(&r->od, step, tmp, dir, sizeof dir, err))) return rc;
    char name[64];
    int n = snprintf(name, sizeof name, "ckpt-%08ld\n", step);
    snprintf(path, sizeof path, "%s/latest", r->o->out);
    if ((rc = wf_file_write_atomic(path, name, (size_t)n, err))) return wf_err_prefix(err, "saving checkpoint %s", dir), rc;
    snprintf(out_dir, cap, "%s", dir);
    snprintf(r->saved_dir, sizeof r->saved_dir, "%s", dir);
    name[n - 1] = 0;
    wf_outdir_retain(&r->od, name); /* older checkpoints go once `latest` names the new one */
    wf_log(WF_LOG_INFO, "saved %s", dir);
    return WF_OK;
}

/* The config of preset o->model with the shape flags applied. */
static wf_status preset_config(const wf_train_opts *o, wf_gpt_config *c, wf_err *err) {
    int overrides = o->n_layer || o->n_embd || o->n_head || o->n_positions || o->vocab_size || o->n_inner || o->act;
    wf_status rc = wf_gpt_config_preset(o->model, c, err);
    if (rc) return rc;
    if (o->n_layer) c->n_layer = o->n_layer;
    if (o->n_head) c->n_head = o->n_head;
    if (o->n_embd) c->n_embd = o->n_embd, c->n_inner = 4 * o->n_embd;
    if (o->n_positions) c->n_positions = o->n_positions;
    if (o->vocab_size) c->vocab_size = o->vocab_size;
    if (o->n_inner) c->n_inner = o->n_inner;
    if (o->act) c->act = (wf_activation)(o->act - 1);
    if (overrides) snprintf(c->name, sizeof c->name, "custom");
    return wf_gpt_config_validate(c, o->model, err);
}

/* A resumed run keeps the checkpoint's model: a preset and shape flags that
** describe another one are an error, not silently ignored. */
static wf_status resume_shape_check(const run *r, const char *resume_dir, wf_err *err) {
    const wf_train_opts *o = r->o;
    if (wf_path_is_dir(o->model)) return WF_OK; /* a fine-tune's folder: the checkpoint is its descendant */
    wf_gpt_config want;
    wf_err pe = {0};
    if (preset_config(o, &want, &pe)) return WF_OK; /* not a preset name: nothing to compare */
    const wf_gpt_config *c = &r->cfg;
    const struct { const char *field; int want, have; } f[] = {
        {"n_layer", want.n_layer, c->n_layer}, {"n_embd", want.n_embd, c->n_embd},
        {"n_head", want.n_head, c->n_head}, {"n_inner", want.n_inner, c->n_inner},
        {"n_positions", want.n_positions, c->n_positions}, {"vocab_size", want.vocab_size, c->vocab_size},
        {"activation", (int)want.act, (int)c->act}};
    for (size_t i = 0; i < sizeof f / sizeof *f; i++)
        if (f[i].want != f[i].have)
            return WF_FAIL(err, WF_EUSAGE, "--resume: --model %s with these flags has %s %d, but the checkpoint in "
                           "%s has %d; a resumed run keeps its model (give the flags the run began with, or start a "
                           "new --out)", o->model, f[i].field, f[i].want, resume_dir, f[i].have);
    return WF_OK;
}

/* The model: a checkpoint folder (fine-tune), a resumed checkpoint, or a
** preset (with overrides) initialised from the seed. */
static wf_status setup_model(run *r, const char *resume_dir, wf_err *err) {
    const wf_train_opts *o = r->o;
    int overrides = o->n_layer || o->n_embd || o->n_head || o->n_positions || o->vocab_size || o->n_inner || o->act;
    const char *src = resume_dir ? resume_dir : o->model;
    if (resume_dir || wf_path_is_dir(o->model)) {
        if (overrides && !resume_dir)
            return WF_FAIL(err, WF_EUSAGE, "%s: --n-layer/--n-embd/--n-head/--n-inner/--n-positions/--vocab-size/--activation apply to a preset, not to a model folder", o->model);
        if (o->exec) return wf_checkpoint_open(src, !resume_dir, o->seed, NULL, &r->cfg, &r->rd, err);
        wf_status rc = resume_dir ? wf_checkpoint_load(src, NULL, &r->cfg, &r->w, err)
                                  : wf_checkpoint_load_or_init(src, o->seed, NULL, &r->cfg, &r->w, err);
        if (rc) return rc;
    } else {
        wf_gpt_config *c = &r->cfg;
        wf_status rc = preset_config(o, c, err);
        if (rc) return rc;
        if (o->exec) return wf_checkpoint_open_random(c, o->seed, NULL, &r->rd, err);
        r->w = wf_alloc(NULL, wf_gpt_numel(c) * sizeof(float), "weights", err);
        if (!r->w) return WF_ENOMEM;
        wf_gpt_init_random(c, r->w, o->seed);
    }
    r->g = wf_alloc(NULL, wf_gpt_numel(&r->cfg) * sizeof(float), "gradients", err);
    if (!r->g) return WF_ENOMEM;
    wf_status rc = wf_gpt_view_bind(&r->cfg, r->w, &r->wv, err);
    if (!rc) rc = wf_gpt_view_bind(&r->cfg, r->g, &r->gv, err);
    return rc;
}

/* Streamed, the loop holds no weights: a mask by magnitude needs them in memory. */
static wf_status stream_prune_error(const wf_train_opts *o, const char *src, wf_err *err) {
    return WF_FAIL(err, WF_EUSAGE, "--mode stream --sparsity %g from %s: pruning by magnitude needs the model in memory; "
                   "make the sparse copy first (wafer prune --model %s --sparsity %g --out DIR) and train from DIR",
                   o->sparsity, src, src, o->sparsity);
}

/* The mask of a sparse run: the resumed checkpoint's or the model folder's
** (unless dropped by --dense-finetune / --sparsity 0), else a new one at
** o->sparsity: by magnitude from a model folder's weights, random (uniform or
** ERK, from the seed) for a preset. Masked weights are zeroed here. */
static wf_status setup_sparse(run *r, const char *resume_dir, wf_err *err) {
    const wf_train_opts *o = r->o;
    const char *src = resume_dir ? resume_dir : (wf_path_is_dir(o->model) ? o->model : NULL);
    int has = src && wf_sparse_mask_in(src);
    wf_status rc;
    if (o->sparsity >= 1.0 || (o->sparsity < 0 && o->sparsity != -1))
        return WF_FAIL(err, WF_EUSAGE, "--sparsity %g: expected a fraction of zeros in [0, 1)", o->sparsity);
    if (o->dense_finetune || o->sparsity == 0) {
        if (has) wf_log(WF_LOG_INFO, "dense fine-tune: %s/%s is dropped, every weight trains", src, WF_SPARSE_MASK_FILE);
        return WF_OK;
    }
    char path[1200];
    if (has) {
        snprintf(path, sizeof path, "%s/%s", src, WF_SPARSE_MASK_FILE);
        if ((rc = wf_sparse_mask_load(path, &r->cfg, NULL, &r->mask, err))) return rc;
        double S = wf_sparse_mask_sparsity(r->mask);
        if (o->sparsity > 0 && o->sparsity != S) {
            if (resume_dir)
                return WF_FAIL(err, WF_EUSAGE, "--resume: %s holds a mask of sparsity %g; give the same --sparsity, none, "
                               "or --dense-finetune", path, S);
            wf_sparse_mask_free(r->mask);
            r->mask = NULL;
            if (o->exec) return stream_prune_error(o, src, err);
            wf_log(WF_LOG_INFO, "%s: re-pruning by magnitude from sparsity %g to %g", o->model, S, o->sparsity);
        } else {
            wf_log(WF_LOG_INFO, "sparse: %s (sparsity %g, %s, %.4f of the block weights are zero)", path, S,
                   wf_sparse_dist_name(wf_sparse_mask_dist(r->mask)), wf_sparse_mask_actual(r->mask));
        }
    } else if (o->sparsity > 0 && resume_dir) {
        return WF_FAIL(err, WF_EUSAGE, "--resume: %s holds no %s (the run was dense); drop --sparsity", resume_dir,
                       WF_SPARSE_MASK_FILE);
    }
    if (!r->mask && o->sparsity > 0) {
        if (src && o->exec) return stream_prune_error(o, src, err);
        int erk = o->sparsity_dist == WF_SPARSE_ERK;
        if (src) rc = wf_sparse_mask_magnitude(&r->cfg, r->w, o->sparsity, erk, NULL, &r->mask, err);
        else rc = wf_sparse_mask_random(&r->cfg, o->sparsity, erk ? WF_SPARSE_ERK : WF_SPARSE_UNIFORM, o->seed, NULL,
                                        &r->mask, err);
        if (rc) return rc;
        wf_log(WF_LOG_INFO, "sparse: new %s mask at sparsity %g (%.4f of the block weights are zero)",
               wf_sparse_dist_name(wf_sparse_mask_dist(r->mask)), o->sparsity, wf_sparse_mask_actual(r->mask));
    }
    if (r->mask && r->w) wf_sparse_mask_apply(r->mask, r->w); /* streamed: the store keeps the kept weights only */
    return WF_OK;
}

/* The "tokenizer" folder recorded in DATA_DIR/meta.json by wafer tokenize, or "". */
static void data_tokenizer(const char *data, char *out, size_t cap) {
    char path[1100], *buf;
    size_t n;
    wf_err e;
    out[0] = 0;
    snprintf(path, sizeof path, "%s/meta.json", data);
    if (wf_file_read(NULL, path, &buf, &n, &e)) return;
    cJSON *j = cJSON_Parse(buf);
    const cJSON *t = j ? cJSON_GetObjectItemCaseSensitive(j, "tokenizer") : NULL;
    if (cJSON_IsString(t) && t->valuestring[0]) snprintf(out, cap, "%s", t->valuestring); /* a folder or a name (gpt2) */
    cJSON_Delete(j);
    wf_free(NULL, buf);
}

static void fmt_eta(double s, char *buf, size_t cap) {
    if (!(s >= 0) || s > 1e8) snprintf(buf, cap, "?");
    else if (s >= 3600) snprintf(buf, cap, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else snprintf(buf, cap, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

static wf_status eval_val(run *r, double *val, wf_err *err) {
    uint64_t cnt = wf_shards_count(r->data, WF_SPLIT_VAL), n;
    *val = -1;
    if (cnt < (uint64_t)r->T + 1) return WF_OK;
    if (r->o->exec)
        return r->o->exec->eval(r->o->exec->ud, read_val, r->data, cnt, r->o->B, r->T, r->o->eval_windows, val, &n, err);
    return wf_eval_loss(&r->cfg, r->w, read_val, r->data, cnt, r->o->B, r->T, r->o->eval_windows, NULL,
                        val, &n, err);
}

wf_status wf_train_run(const wf_train_opts *o, wf_train_result *res, wf_err *err) {
    run R, *r = &R;
    memset(r, 0, sizeof R);
    memset(res, 0, sizeof *res);
    res->val_loss = -1;
    r->o = o;
    wf_status rc = WF_OK;
    const wf_dp_hooks *dp = o->dp;
    int N = dp ? dp->size : 1, rank = dp ? dp->rank : 0; /* ranks, this rank */
    int dpa = 0; /* resident under mpirun with posted calls: dp_micro, dp_update (sparse: the blocking path) */
    int B = o->B, T = o->T, Kl = o->accum, K = N * Kl; /* micro-batches per step: here, over all ranks */
    r->saved_step = -1;
    wf_optstate_file *os = NULL; /* resume with an executor: the moments stay in optimizer.bin until open */
    if (!o->model || !o->data || !o->out)
        return WF_FAIL(err, WF_EUSAGE, "--model, --data and --out are required");
    if (B <= 0 || T < 0 || Kl <= 0)
        return WF_FAIL(err, WF_EUSAGE, "batch %d, seq %d, accum %d: each must be positive", B, T, Kl);
    if (o->steps <= 0 && o->tokens <= 0)
        return WF_FAIL(err, WF_EUSAGE, "give the run length with --steps N or --tokens N");
    char resume_dir[1100] = "";
    if (wf_path_exists(o->out) && !wf_path_is_dir(o->out))
        return WF_FAIL(err, WF_EUSAGE, "--out %s: exists and is not a folder", o->out);
    if (o->resume) {
        if ((rc = wf_outdir_latest(o->out, resume_dir, sizeof resume_dir, err))) return rc;
    } else {
        char what[300];
        if (rank == 0 && !o->overwrite && !wf_outdir_is_fresh(o->out, what, sizeof what))
            return WF_FAIL(err, WF_EUSAGE, "--out %s: already holds %s; continue that run with --resume, start over with "
                           "--overwrite (removes its checkpoints, latest and log), or choose another --out", o->out, what);
    }
    if ((rc = wf_outdir_open(&r->od, o->out, o->keep, err))) return rc;
    if (o->overwrite && !o->resume) { /* it would remove the run's own input */
        const char *in[3][2] = {{"--model", o->model}, {"--tokenizer", o->tokenizer}, {"--data", o->data}};
        for (int i = 0; i < 3; i++) {
            const char *ck = wf_outdir_holds(&r->od, in[i][1]);
            if (ck)
                return WF_FAIL(err, WF_EUSAGE, "%s %s: --overwrite would remove it (it is %s/%s, a checkpoint of "
                               "the earlier run); copy it out of --out first, or choose another --out",
                               in[i][0], in[i][1], o->out, ck);
        }
    }
    if ((rc = wf_shards_open(o->data, &r->data, err))) goto done;
    if ((rc = setup_model(r, o->resume ? resume_dir : NULL, err))) goto done;
    if (o->resume && (rc = resume_shape_check(r, resume_dir, err))) goto done;
    if ((rc = setup_sparse(r, o->resume ? resume_dir : NULL, err))) goto done;
    if (T == 0) T = r->cfg.n_positions < 1024 ? r->cfg.n_positions : 1024;
    r->T = T;
    if (T > r->cfg.n_positions) {
        rc = WF_FAIL(err, WF_EUSAGE, "--seq %d exceeds the model's n_positions %d", T, r->cfg.n_positions);
        goto done;
    }
    int dv = wf_shards_vocab_size(r->data);
    if (dv > r->cfg.vocab_size) {
        rc = WF_FAIL(err, WF_ESHAPE, "%s: data vocabulary %d does not fit the model's vocabulary %d (different tokenizer?%s)",
                     o->data, dv, r->cfg.vocab_size, wf_path_is_dir(o->model) ? "" : " --vocab-size sets a preset's");
        goto done;
    }
    if (wf_shards_count(r->data, WF_SPLIT_VAL) < (uint64_t)T + 1)
        wf_log(WF_LOG_WARN, "validation is off: %s has %llu validation tokens, fewer than seq+1 = %d (make one with "
               "wafer tokenize --val-fraction F)", o->data, (unsigned long long)wf_shards_count(r->data, WF_SPLIT_VAL), T + 1);
    if (dv < r->cfg.vocab_size)
        wf_log(WF_LOG_WARN, "data vocabulary %d is smaller than the model's %d", dv, r->cfg.vocab_size);
    if (wf_shards_count(r->data, WF_SPLIT_TRAIN) < (uint64_t)T + 1) {
        rc = WF_FAIL(err, WF_ESHAPE, "%s: the train split has %llu tokens, fewer than seq+1 = %d", o->data,
                     (unsigned long long)wf_shards_count(r->data, WF_SPLIT_TRAIN), T + 1);
        goto done;
    }
    /* tokenizer to ship with checkpoints: --tokenizer, else the resumed or
    ** fine-tuned model's folder, else the one DATA_DIR/meta.json names */
    {
        const char *td = o->tokenizer ? o->tokenizer : (o->resume ? resume_dir : (wf_path_is_dir(o->model) ? o->model : NULL));
        char meta_tok[1024] = "";
        if (!td) {
            data_tokenizer(o->data, meta_tok, sizeof meta_tok);
            if (meta_tok[0]) td = meta_tok;
        }
        wf_err te = {0};
        if (td && !wf_tokenizer_open(td, &r->tok, &te) &&
            wf_tokenizer_fits(r->tok, r->cfg.vocab_size, td, &te)) {
            wf_tokenizer_free(r->tok);
            r->tok = NULL;
        }
        if (td && !r->tok && o->tokenizer) {
            *err = te;
            rc = te.code;
            goto done;
        }
        if (!r->tok && rank == 0) /* said once, at the start: checkpoints without one need --tokenizer later */
            wf_log(WF_LOG_WARN, "checkpoints will hold no tokenizer files (%s%s); generate and serve will need "
                   "--tokenizer: give --tokenizer DIR to ship one", td ? "" : "no --tokenizer, and DATA/meta.json "
                   "names none", td ? te.msg : "");
        /* the ids HF reads as bos/eos: the tokenizer's <|endoftext|> for a
        ** preset (50256 is GPT-2's; a --vocab-size model has it elsewhere) or
        ** when the config's lie outside the vocabulary */
        int eot = r->tok ? wf_tokenizer_eos(r->tok) : -1, V = r->cfg.vocab_size;
        int off = r->cfg.bos_token_id >= V || r->cfg.eos_token_id >= V;
        if (eot >= 0 && eot < V && (off || (!o->resume && !wf_path_is_dir(o->model))))
            r->cfg.bos_token_id = r->cfg.eos_token_id = eot;
        else if (off && rank == 0)
            wf_log(WF_LOG_WARN, "config: bos/eos_token_id %d/%d lie outside the vocabulary of %d ids and no "
                   "tokenizer says where <|endoftext|> is; give --tokenizer DIR", r->cfg.bos_token_id,
                   r->cfg.eos_token_id, V);
    }
    if (rank == 0 && (rc = wf_mkdir_p(o->out, err))) goto done;
    if (o->resume) snprintf(r->saved_dir, sizeof r->saved_dir, "%s", resume_dir);
    else if (rank == 0 && o->overwrite) wf_outdir_clear(&r->od); /* only after the model and data were found good */
    if (rank == 0) wf_outdir_sweep_temps(&r->od);
    if (!o->exec && Kl > 1) { /* accumulation: each micro-batch's gradient apart, then g += gm in a fixed order */
        r->gm = wf_alloc(NULL, wf_gpt_numel(&r->cfg) * sizeof(float), "micro-batch gradients", err);
        if (!r->gm) { rc = WF_ENOMEM; goto done; }
        if ((rc = wf_gpt_view_bind(&r->cfg, r->gm, &r->gmv, err))) goto done;
    }
    if ((rc = wf_trainer_new(&r->cfg, B, T, o->recompute, NULL, &r->tr, err))) goto done;
    if ((rc = wf_trainer_set_bf16(r->tr, o->bf16, err))) goto done;
    /* m and v live with the store: the executor's, or rank 0's */
    if ((rc = (o->exec || rank > 0 ? wf_optim_new_state : wf_optim_new)(&r->cfg, &o->optim, NULL, &r->opt, err))) goto done;
    if (r->mask && o->exec)
        wf_log(WF_LOG_INFO, "sparse, streamed: the store keeps and moves the kept weights of each layer only; layers "
               "compute on the dense kernels");
    else if (r->mask) {
        if ((rc = wf_sparse_plan_new(r->mask, r->w, B * T, (wf_sparse_kernels)o->sparse_kernels, NULL, &r->plan, err)))
            goto done;
        wf_trainer_set_sparse(r->tr, r->plan);
        char desc[4096];
        wf_sparse_plan_describe(r->plan, desc, sizeof desc);
        for (char *line = desc, *nl; line && *line; line = nl) {
            if ((nl = strchr(line, '\n'))) *nl++ = 0;
            wf_log(WF_LOG_INFO, "sparse kernel choice: %s", line);
        }
        wf_log(WF_LOG_INFO, "sparse: %d of %d block matrices run on the sparse kernels", wf_sparse_plan_count_sparse(r->plan),
               4 * r->cfg.n_layer);
    }
    long long per_step = (long long)B * T * K;
    r->total = o->steps > 0 ? o->steps : (long)((o->tokens + per_step - 1) / per_step);
    r->peak = o->lr > 0 ? o->lr : (r->cfg.lr > 0 ? r->cfg.lr : 6e-4);
    r->sched = o->sched >= 0 ? (wf_sched_kind)o->sched : (r->cfg.cosine ? WF_SCHED_COSINE : WF_SCHED_LINEAR);
    r->warmup = o->warmup >= 0 ? o->warmup : r->total / 20;
    r->end_frac = o->end_frac;
    wf_rng rng;
    wf_rng_seed(&rng, o->seed);
    r->st = (wf_train_state){.seed = o->seed, .accum = (uint64_t)K, .B = (uint64_t)B, .T = (uint64_t)T,
                             .deal = WF_DEAL_SEQUENCES};
    memcpy(r->st.rng, rng.s, sizeof rng.s);
    if (o->resume) {
        char path[1200];
        snprintf(path, sizeof path, "%s/optimizer.bin", resume_dir);
        if (o->exec || rank > 0) rc = wf_optstate_open(path, &r->cfg, &r->opt->opts, &r->st, &os, err);
        else rc = wf_optstate_load(path, r->opt, &r->st, err);
        if (rc) goto done;
        r->opt->step = (long)r->st.step;
        /* dealt by sequence, a step's sequences may be split anew (ranks x accum x batch);
        ** by rows (older runs), only as they were */
        int seqs = r->st.deal == WF_DEAL_SEQUENCES;
        if (r->st.T != (uint64_t)T || r->st.seed != o->seed ||
            (seqs ? r->st.accum * r->st.B != (uint64_t)K * (uint64_t)B : r->st.B != (uint64_t)B || r->st.accum != (uint64_t)K)) {
            uint64_t per = r->st.accum * r->st.B;
            if (seqs && r->st.T == (uint64_t)T && r->st.seed == o->seed && per % (uint64_t)N) {
                rc = WF_FAIL(err, WF_EUSAGE, "--resume: %s: the run's %llu sequences per step do not split over %d ranks "
                             "(ranks x --accum x --batch must be %llu)", path, (unsigned long long)per, N,
                             (unsigned long long)per);
                goto done;
            }
            rc = WF_FAIL(err, WF_EUSAGE, "--resume: %s was written with --batch %llu --seq %llu --accum %llu --seed %llu; give "
                         "%s%s", path, (unsigned long long)r->st.B, (unsigned long long)r->st.T,
                         (unsigned long long)r->st.accum, (unsigned long long)r->st.seed,
                         seqs ? "the same --seq and --seed, and --accum x --batch (the sequences per step) the same"
                              : "the same flags (this run predates dealing by sequence)",
                         dp ? " (--accum counts micro-batches over all ranks: ranks x --accum)" : "");
            goto done;
        }
        if (seqs && r->st.B != (uint64_t)B) { /* the same sequences, dealt as K micro-batches of B */
            wf_log(WF_LOG_INFO, "resuming with the step's %llu sequences as %d micro-batches of %d (were %llu of %llu)",
                   (unsigned long long)(r->st.accum * r->st.B), K, B, (unsigned long long)r->st.accum,
                   (unsigned long long)r->st.B);
            r->st.data_pos = r->st.data_pos * r->st.B / (uint64_t)B;
            r->st.accum = (uint64_t)K, r->st.B = (uint64_t)B;
        }
        if (o->stop_at > 0 && o->stop_at <= (long)r->st.step) {
            rc = WF_FAIL(err, WF_EUSAGE, "--stop-at %ld is not after the resumed step %llu", o->stop_at,
                         (unsigned long long)r->st.step);
            goto done;
        }
        if ((long)r->st.step >= r->total) {
            rc = WF_FAIL(err, WF_EUSAGE, "--resume: %s is already at step %llu, %s the %ld steps asked for; give a "
                         "larger --steps (or --tokens) to train further", resume_dir, (unsigned long long)r->st.step,
                         (long)r->st.step == r->total ? "which is" : "past", r->total);
            goto done;
        }
        apply_given_optim(r->opt, o);
        resume_schedule(r, o);
        int rewrite = 0;
        if (rank == 0) read_log(r, (long)r->st.step, &rewrite);
        if (rewrite && (rc = write_log(r, err))) goto done;
        wf_log(WF_LOG_INFO, "resuming from %s at step %llu", resume_dir, (unsigned long long)r->st.step);
    }
    if (o->exec) {
        rc = o->exec->open(o->exec->ud, &r->cfg, r->tr, r->rd, os, r->opt, r->mask, err);
        wf_checkpoint_close(r->rd), r->rd = NULL;
        wf_optstate_close(os), os = NULL;
        if (rc) goto done;
    }
    r->win = wf_alloc(NULL, sizeof(int32_t) * (size_t)B * (T + 1), "batch", err);
    r->in = wf_alloc(NULL, sizeof(int32_t) * (size_t)B * T, "inputs", err);
    r->tg = wf_alloc(NULL, sizeof(int32_t) * (size_t)B * T, "targets", err);
    if (!r->win || !r->in || !r->tg) {
        rc = WF_ENOMEM;
        goto done;
    }
    if (dp) { /* the same run on every rank, or a clear error on every rank (never a hang) */
        /* everything that changes the numbers: a rank with --bf16 alone, or
        ** another lr, had trained on (the math flags were not compared) */
        char mine[512];
        const wf_optim_opts *oo = &r->opt->opts;
        snprintf(mine, sizeof mine, "wafer built %s %s; model %.48s %zu params L%d C%d H%d V%d P%d; batch %d seq %d "
                 "accum %d seed %llu steps %ld; data %llu train tokens; from step %llu; lr %.6g %s warm-up %ld end "
                 "%.6g; adam %.6g %.6g %.6g wd %.6g decay %d clip %.6g; bf16 %d; sparsity %.6g dense-ft %d; %s",
                 __DATE__, __TIME__, r->cfg.name, wf_gpt_numel(&r->cfg), r->cfg.n_layer, r->cfg.n_embd, r->cfg.n_head,
                 r->cfg.vocab_size, r->cfg.n_positions, B, T, Kl, (unsigned long long)o->seed, r->total,
                 (unsigned long long)wf_shards_count(r->data, WF_SPLIT_TRAIN), (unsigned long long)r->st.step,
                 r->peak, sched_name(r->sched),
                 r->warmup, r->end_frac, oo->beta1, oo->beta2, oo->eps, oo->weight_decay, (int)oo->decay, oo->clip,
                 o->bf16, o->sparsity, o->dense_finetune, o->exec ? "streamed" : "resident");
        if ((rc = dp->agree(dp->ud, mine, err))) goto done;
    }
    if (dp && !o->exec && dp->post_chain && !r->mask) {
        if (!(r->wt = wf_calloc(NULL, sizeof *r->wt * (size_t)wf_gpt_nblocks(&r->cfg), "broadcast tickets", err))) {
            rc = WF_ENOMEM;
            goto done;
        }
        dpa = 1;
    }
    wf_log(WF_LOG_INFO, "training %s: %zu parameters, %ld steps of %d x %d x %d tokens, lr %.3g (%s, warm-up %ld), %d threads",
           r->cfg.name, wf_gpt_numel(&r->cfg), r->total, K, B, T, r->peak,
           sched_name(r->sched),
           r->warmup, wf_kernels_threads());
    size_t numel = wf_gpt_numel(&r->cfg);
    double t_start = wf_now();
    long start_step = (long)r->st.step;
    double last_loss = -1;
    wf_tune tune;
    wf_tune_init(&tune, wf_kernels_threads());
    while ((long)r->st.step < r->total) {
        if (!dp && o->stop && *o->stop) {
            res->interrupted = 1;
            break;
        }
        double t0 = wf_now();
        if (!o->exec) memset(r->g, 0, numel * sizeof(float));
        double tot = 0, comm0 = dp ? *dp->comm_s : 0, exp0 = dp ? *dp->exposed_s : 0;
        uint64_t srd0 = 0, swr0 = 0, srd = 0, swr = 0; /* the store's bytes (stream mode) */
        if (o->exec && o->exec->traffic) o->exec->traffic(o->exec->ud, &srd0, &swr0);
        uint64_t bytes0 = dp ? *dp->comm_bytes : 0;
        for (int k = 0; k < Kl; k++) {
            /* global micro-batch: the k-th round of the ranks (so the stream
            ** executor's chains add them in one process's order); older runs
            ** gave each rank a run of Kl */
            uint64_t m = r->st.data_pos + (r->st.deal == WF_DEAL_SEQUENCES ? (uint64_t)k * (uint64_t)N + (uint64_t)rank
                                                                          : (uint64_t)rank * (uint64_t)Kl + (uint64_t)k);
            rc = r->st.deal == WF_DEAL_SEQUENCES ? wf_shards_seqs(r->data, WF_SPLIT_TRAIN, o->seed, m * (uint64_t)B, B, T, r->win, err)
                                                 : wf_shards_batch(r->data, WF_SPLIT_TRAIN, o->seed, m, 0, B, T, r->win, err);
            if (rc) goto done;
            for (int b = 0; b < B; b++)
                for (int t = 0; t < T; t++)
                    r->in[b * T + t] = r->win[b * (T + 1) + t], r->tg[b * T + t] = r->win[b * (T + 1) + t + 1];
            float l;
            if (o->exec) rc = o->exec->micro(o->exec->ud, r->in, r->tg, 1.0f / (float)K, &l, err);
            else if (dpa) rc = dp_micro(r, dp, k, Kl, 1.0f / (float)K, &l, err);
            else if (k == 0) rc = wf_trainer_step(r->tr, &r->wv, &r->gv, r->in, r->tg, 1.0f / (float)K, &l, err);
            else {
                /* the same sum whether micro-batches run here or on other ranks: g = g + gm, element by element */
                memset(r->gm, 0, numel * sizeof(float));
                rc = wf_trainer_step(r->tr, &r->wv, &r->gmv, r->in, r->tg, 1.0f / (float)K, &l, err);
                wf_grad_add(r->g, r->gm, numel);
            }
            if (rc) goto done;
            tot += l;
        }
        r->st.data_pos += (uint64_t)K;
        /* the streaming executor reduces block by block as gradients come out */
        if (dp && !o->exec && !dpa && (rc = dp->reduce(dp->ud, &r->cfg, r->g, err))) goto done;
        if (dpa && (rc = dp->wait(dp->ud, r->last_t, err))) goto done; /* the chains posted during the backward */
        if (dp && (rc = dp->sum(dp->ud, &tot, err))) goto done;
        /* the ranks agree on the step a Ctrl-C (on any of them) stops at; with
        ** posted broadcasts before the update, so nothing waits for them */
        int stop = o->stop && *o->stop;
        if (dpa && (rc = dp->flag(dp->ud, &stop, err))) goto done;
        long s = (long)r->st.step;
        float lr = (float)wf_lr_at(r->sched, r->peak, r->end_frac, r->warmup, r->total, s), gn;
        gn = 0;
        if (dpa) dp_update(r, dp, lr, &gn);
        else if (!o->exec) {
            if (rank == 0) { /* the optimizer runs where the store is; the weights go out to the other ranks */
                if (r->mask) wf_sparse_mask_apply(r->mask, r->g); /* the dense kernels' gradients at masked weights */
                wf_optim_step(r->opt, r->w, r->g, lr, &gn);
                if (r->mask) { /* zero already (zero gradient: zero moments, no step); kept exactly so */
                    wf_sparse_mask_apply(r->mask, r->w);
                    wf_sparse_mask_apply(r->mask, r->opt->m);
                    wf_sparse_mask_apply(r->mask, r->opt->v);
                }
            } else r->opt->step++;
            if (dp && (rc = dp->bcast(dp->ud, r->w, numel, err))) goto done;
            if (r->mask) wf_sparse_plan_refresh(r->plan, r->w);
        } else if ((rc = o->exec->update(o->exec->ud, lr, &gn, err))) goto done;
        if (o->exec && o->exec->traffic) o->exec->traffic(o->exec->ud, &srd, &swr);
        r->st.step++;
        r->st.tokens += (uint64_t)per_step;
        last_loss = tot / K;
        double dt = wf_now() - t0, tps = (double)per_step / (dt > 0 ? dt : 1e-9);
        if (o->adapt_threads && !dp) { /* bit-identical at any count: only the speed changes */
            int n = wf_tune_next(&tune, dt);
            if (n != wf_kernels_threads()) wf_kernels_set_threads(n);
            if (tune.was)
                wf_log(WF_LOG_INFO, "threads: %d -> %d: a step took %.3f s with %d against %.3f s with %d (%s)", tune.was,
                       tune.cur, tune.t_probe, tune.cur, tune.t_best, tune.was,
                       tune.cur < tune.max ? "another process competes for the cores" : "the cores are free again");
        }
        double avg = (wf_now() - t_start) / (double)(r->st.step - (uint64_t)start_step);
        char eta[32];
        fmt_eta(avg * (double)(r->total - (long)r->st.step), eta, sizeof eta);
        log_row row = {.step = (long)r->st.step, .loss = last_loss, .val = -1, .lr = lr, .tps = tps};
        int last = (long)r->st.step == r->total || (o->stop_at > 0 && (long)r->st.step >= o->stop_at);
        if (rank == 0 && ((o->eval_every > 0 && (long)r->st.step % o->eval_every == 0) || (long)r->st.step == r->total)) {
            if ((rc = eval_val(r, &row.val, err))) goto done;
            if (row.val >= 0) res->val_loss = row.val;
        }
        if (dp)
            wf_log(WF_LOG_INFO, "step %ld/%ld | loss %.4f | lr %.3e | norm %.3f | %.0f tok/s | ETA %s | %d ranks, comm %.3f s "
                   "(%.3f s not hidden), %.1f MB", (long)r->st.step, r->total, last_loss, lr, gn, tps, eta, N,
                   *dp->comm_s - comm0, *dp->exposed_s - exp0, (double)(*dp->comm_bytes - bytes0) / 1e6);
        else if (srd || swr)
            wf_log(WF_LOG_INFO, "step %ld/%ld | loss %.4f | lr %.3e | norm %.3f | %.0f tok/s | ETA %s | store %.3f GB read, "
                   "%.3f GB written", (long)r->st.step, r->total, last_loss, lr, gn, tps, eta, (double)(srd - srd0) / 1e9,
                   (double)(swr - swr0) / 1e9);
        else
            wf_log(WF_LOG_INFO, "step %ld/%ld | loss %.4f | lr %.3e | norm %.3f | %.0f tok/s | ETA %s",
                   (long)r->st.step, r->total, last_loss, lr, gn, tps, eta);
        if (row.val >= 0) wf_log(WF_LOG_INFO, "step %ld: val loss %.4f (ppl %.2f)", row.step, row.val, exp(row.val));
        if (rank == 0 && (!isfinite(last_loss) || !isfinite(gn))) {
            char cause[96];
            snprintf(cause, sizeof cause, "%s is %g", isfinite(last_loss) ? "the gradient norm" : "the loss",
                     isfinite(last_loss) ? gn : last_loss);
            rc = diverged(r, cause, err);
            goto done;
        }
        if ((rc = add_row(r, row, err))) goto done;
        if (rank == 0) append_row(r, &row);
        if (!dpa) stop = o->stop && *o->stop;
        if (dp && !dpa && (rc = dp->flag(dp->ud, &stop, err))) goto done;
        int save = last || (o->save_every > 0 && (long)r->st.step % o->save_every == 0) || stop;
        if (save && rank == 0) {
            if ((rc = save_checkpoint(r, res->checkpoint, sizeof res->checkpoint, err))) goto done;
            if ((rc = write_log(r, err))) goto done;
            r->saved_step = (long)r->st.step;
        }
        if (o->stop_at > 0 && (long)r->st.step >= o->stop_at) break;
        if (stop) {
            res->interrupted = 1;
            r->saved_step = (long)r->st.step;
            break;
        }
    }
    if (rank == 0 && res->interrupted && (long)r->st.step > start_step && r->saved_step != (long)r->st.step) {
        if ((rc = save_checkpoint(r, res->checkpoint, sizeof res->checkpoint, err))) goto done;
        if ((rc = write_log(r, err))) goto done;
    }
    res->step = (long)r->st.step;
    res->last_loss = last_loss;
    {
        double el = wf_now() - t_start;
        long done_steps = (long)r->st.step - start_step;
        res->tokens_per_s = el > 0 ? (double)done_steps * (double)per_step / el : 0;
    }
done:
    if (dpa && r->last_t) { /* posted broadcasts and chains read r->w and r->g: wait before they go */
        wf_err we = {0};
        wf_status wr = dp->wait(dp->ud, r->last_t, &we);
        if (!rc && wr) rc = wr, *err = we;
    }
    wf_free(NULL, r->wt);
    if (o->exec) o->exec->close(o->exec->ud);
    wf_checkpoint_close(r->rd);
    wf_optstate_close(os);
    wf_free(NULL, r->win), wf_free(NULL, r->in), wf_free(NULL, r->tg);
    wf_free(NULL, r->rows);
    wf_trainer_free(r->tr);
    wf_sparse_plan_free(r->plan);
    wf_sparse_mask_free(r->mask);
    wf_optim_free(r->opt);
    wf_gpt_view_unbind(&r->wv);
    wf_gpt_view_unbind(&r->gv);
    wf_gpt_view_unbind(&r->gmv);
    wf_free(NULL, r->gm);
    wf_free(NULL, r->w);
    wf_free(NULL, r->g);
    wf_shards_close(r->data);
    wf_tokenizer_free(r->tok);
    return rc;
}
