/* test_train_safety.c — `wafer train` never loses a user's data (issue 17):
** a fresh run refuses a non-empty --out unless --overwrite; retention removes
** only this run's checkpoints, never a symlink's target or a folder holding the
** user's files; a diverged run saves nothing and keeps the last good
** checkpoint; a save left half-done by a killed process is cleaned up; resume
** applies optimizer flags given again, refuses a run already past its target
** and names a broken `latest`; --data naming a file says so. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/checkpoint.h"
#include "model/params.h"
#include "tests/check.h"
#include "tests/run_cmd.h"
#include "tests/train/synth_data.h"
#include "train/train.h"

static char root[] = "/tmp/wf_test_trainsafeXXXXXX";
static char out_buf[65536];
static char data[300];

static int run(const char *fmt, const char *out, const char *extra) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s train --model %s --data %s --out %s/%s --batch 2 --seq 16 --lr 1e-3 --warmup 1 "
             "--threads 1 %s", WAFER_BIN, fmt, data, root, out, extra);
    return wf_run_cmd(cmd, out_buf, sizeof out_buf);
}

static int exists(const char *fmt, const char *a) {
    char p[600];
    struct stat sb;
    snprintf(p, sizeof p, fmt, root, a);
    return lstat(p, &sb) == 0;
}

static void touch(const char *path) {
    FILE *f = fopen(path, "w");
    WF_CHECK(f != NULL);
    if (f) fputs("the user's own file\n", f), fclose(f);
}

static char *slurp(const char *path) {
    char *b = NULL;
    size_t n;
    wf_err e;
    if (wf_file_read(NULL, path, &b, &n, &e)) return NULL;
    return b;
}

/* Puts +Inf into the last position embedding of the checkpoint in dir: a row
** that seq 16 never reads, so the loss stays finite while the weights do not. */
static void poison_wpe(const char *dir) {
    wf_gpt_config c;
    float *w = NULL;
    wf_err e;
    WF_CHECK_EQ(wf_checkpoint_load(dir, NULL, &c, &w, &e), WF_OK);
    if (!w) return;
    int t = wf_gpt_tensor_find(&c, "wpe.weight");
    WF_CHECK(t >= 0);
    wf_tensor_info ti;
    wf_gpt_tensor_info(&c, t, &ti);
    w[ti.offset + ti.numel - 1] = INFINITY;
    WF_CHECK_EQ(wf_checkpoint_save(dir, &c, w, &e), WF_OK);
    wf_free(NULL, w);
}

static void fresh_run_refuses_a_used_out(void) {
    WF_CHECK_EQ(run("tests/fixtures/models/tiny-gelu", "a", "--steps 2"), 0);
    char p[600];
    snprintf(p, sizeof p, "%s/a/notes.txt", root);
    touch(p);
    char *log1 = NULL;
    snprintf(p, sizeof p, "%s/a/log.csv", root);
    log1 = slurp(p);
    WF_CHECK(log1 != NULL);
    WF_CHECK_EQ(run("tests/fixtures/models/tiny-gelu", "a", "--steps 3"), 2);
    WF_CHECK_HAS(out_buf, "already holds");
    WF_CHECK_HAS(out_buf, "--resume");
    WF_CHECK_HAS(out_buf, "--overwrite");
    char *log2 = slurp(p);
    WF_CHECK(log1 && log2 && strcmp(log1, log2) == 0); /* nothing touched */
    WF_CHECK(exists("%s/a/%s", "ckpt-00000002"));
    wf_free(NULL, log2);
    /* --overwrite starts over: the old run's files go, the user's stay */
    WF_CHECK_EQ(run("tests/fixtures/models/tiny-gelu", "a", "--steps 3 --overwrite"), 0);
    WF_CHECK(!exists("%s/a/%s", "ckpt-00000002"));
    WF_CHECK(exists("%s/a/%s", "ckpt-00000003"));
    WF_CHECK(exists("%s/a/%s", "notes.txt"));
    log2 = slurp(p);
    WF_CHECK(log2 && !strstr(log2, "\n4,") && strstr(log2, "\n3,"));
    wf_free(NULL, log1), wf_free(NULL, log2);
}

static void retention_touches_only_this_runs_checkpoints(void) {
    char p[600], q[600];
    WF_CHECK_EQ(run("tests/fixtures/models/tiny-gelu", "r", "--steps 6 --stop-at 2 --save-every 1 --keep 2"), 0);
    WF_CHECK(exists("%s/r/%s", "ckpt-00000001") && exists("%s/r/%s", "ckpt-00000002"));
    /* the user's things in --out: a symlink to a folder elsewhere, a folder named like a checkpoint,
    ** a note added inside one of wafer's checkpoints */
    snprintf(p, sizeof p, "%s/elsewhere", root);
    mkdir(p, 0777);
    snprintf(q, sizeof q, "%s/elsewhere/model.safetensors", root);
    touch(q);
    snprintf(q, sizeof q, "%s/r/ckpt-best", root);
    WF_CHECK_EQ(symlink(p, q), 0);
    snprintf(q, sizeof q, "%s/r/ckpt-00000000", root);
    mkdir(q, 0777);
    snprintf(q, sizeof q, "%s/r/ckpt-00000000/config.json", root);
    touch(q);
    snprintf(q, sizeof q, "%s/r/ckpt-00000001/notes.txt", root);
    touch(q);
    /* a save a killed process left behind (pid 2^22 + 7 is above Linux's pid_max default) */
    snprintf(q, sizeof q, "%s/r/ckpt-00000003.tmp-4194311", root);
    mkdir(q, 0777);
    snprintf(q, sizeof q, "%s/r/ckpt-00000003.tmp-4194311/model.safetensors", root);
    touch(q);
    /* a checkpoint folder of step 4, not listed (a save killed between its rename and the list's
    ** update, or the user's): the save of step 4 keeps it aside and goes on */
    snprintf(q, sizeof q, "%s/r/ckpt-00000004", root);
    mkdir(q, 0777);
    snprintf(q, sizeof q, "%s/r/ckpt-00000004/model.safetensors", root);
    touch(q);
    WF_CHECK_EQ(run("tests/fixtures/models/tiny-gelu", "r", "--steps 6 --save-every 1 --keep 2 --resume"), 0);
    WF_CHECK_HAS(out_buf, "ckpt-00000004 was not in checkpoints.txt");
    {
        int aside = 0;
        snprintf(q, sizeof q, "%s/r", root);
        DIR *d = opendir(q);
        for (struct dirent *de; d && (de = readdir(d));)
            if (!strncmp(de->d_name, "ckpt-00000004.unlisted-", 23)) {
                char f[700];
                snprintf(f, sizeof f, "%s/r/%s/model.safetensors", root, de->d_name);
                char *txt = slurp(f);
                aside += txt && !strcmp(txt, "the user's own file\n"); /* kept whole */
                wf_free(NULL, txt);
            }
        if (d) closedir(d);
        WF_CHECK_EQ(aside, 1);
    }
    WF_CHECK(exists("%s/r/%s", "ckpt-00000005") && exists("%s/r/%s", "ckpt-00000006"));
    WF_CHECK(!exists("%s/r/%s", "ckpt-00000002") && !exists("%s/r/%s", "ckpt-00000003") &&
             !exists("%s/r/%s", "ckpt-00000004"));
    WF_CHECK(exists("%s/%s", "elsewhere/model.safetensors")); /* the symlink's target is intact */
    WF_CHECK(exists("%s/r/%s", "ckpt-best"));
    WF_CHECK(exists("%s/r/%s", "ckpt-00000000/config.json"));     /* not this run's: untouched */
    WF_CHECK(exists("%s/r/%s", "ckpt-00000001/notes.txt"));       /* holds the user's file: left whole */
    WF_CHECK(exists("%s/r/%s", "ckpt-00000001/model.safetensors"));
    WF_CHECK_HAS(out_buf, "ckpt-00000001 in place: it holds files wafer did not write");
    WF_CHECK(!exists("%s/r/%s", "ckpt-00000003.tmp-4194311"));
    WF_CHECK_HAS(out_buf, "left by a save that did not finish");
    snprintf(p, sizeof p, "%s/r/checkpoints.txt", root);
    char *list = slurp(p);
    WF_CHECK(list && strcmp(list, "ckpt-00000005\nckpt-00000006\n") == 0);
    wf_free(NULL, list);
    /* --keep 0 keeps everything */
    WF_CHECK_EQ(run("tests/fixtures/models/tiny-gelu", "k", "--steps 3 --save-every 1 --keep 0"), 0);
    WF_CHECK(exists("%s/k/%s", "ckpt-00000001") && exists("%s/k/%s", "ckpt-00000002") &&
             exists("%s/k/%s", "ckpt-00000003"));
}

static void a_diverged_run_saves_nothing_and_keeps_the_last_good(void) {
    char p[600];
    WF_CHECK_EQ(run("tests/fixtures/models/tiny-gelu", "d", "--steps 4 --stop-at 2"), 0);
    snprintf(p, sizeof p, "%s/d/ckpt-00000002", root);
    poison_wpe(p);
    WF_CHECK_EQ(run("tests/fixtures/models/tiny-gelu", "d", "--steps 4 --save-every 1 --resume"), 1);
    WF_CHECK_HAS(out_buf, "step 3: the run diverged; weights of tensor 'wpe.weight' holds NaN or Inf: not saved, "
                          "the last good checkpoint is");
    WF_CHECK_HAS(out_buf, "d/ckpt-00000002");
    WF_CHECK(!exists("%s/d/%s", "ckpt-00000003"));
    WF_CHECK(exists("%s/d/%s", "ckpt-00000002/model.safetensors"));
    snprintf(p, sizeof p, "%s/d/latest", root);
    char *latest = slurp(p);
    WF_CHECK(latest && strcmp(latest, "ckpt-00000002\n") == 0);
    wf_free(NULL, latest);
    /* a NaN loss from the first step: nothing saved at all */
    snprintf(p, sizeof p, "%s/d/ckpt-00000002", root);
    wf_gpt_config c;
    float *w = NULL;
    wf_err e;
    WF_CHECK_EQ(wf_checkpoint_load(p, NULL, &c, &w, &e), WF_OK);
    if (w) {
        for (int i = 0; i < 64; i++) w[i] = NAN; /* wte: every logit becomes NaN */
        snprintf(p, sizeof p, "%s/nanmodel", root);
        WF_CHECK_EQ(wf_checkpoint_save(p, &c, w, &e), WF_OK);
        wf_free(NULL, w);
    }
    snprintf(p, sizeof p, "%s/nanmodel", root);
    WF_CHECK_EQ(run(p, "n", "--steps 2"), 1);
    WF_CHECK_HAS(out_buf, "step 1: the loss is nan; weights of tensor 'wte.weight' holds NaN or Inf: not saved, "
                          "the last good checkpoint is none");
    WF_CHECK(!exists("%s/n/%s", "latest") && !exists("%s/n/%s", "ckpt-00000001"));
}

static void resume_applies_flags_and_names_problems(void) {
    char p[600];
    WF_CHECK_EQ(run("tests/fixtures/models/tiny-gelu", "f", "--steps 4 --stop-at 2"), 0);
    WF_CHECK_EQ(run("tests/fixtures/models/tiny-gelu", "f", "--steps 4 --resume --beta1 0.8 --clip 0.5"), 0);
    WF_CHECK_HAS(out_buf, "--beta1 0.8 replaces the stored 0.9");
    WF_CHECK_HAS(out_buf, "--clip 0.5 replaces the stored 1");
    wf_gpt_config c;
    wf_err e;
    snprintf(p, sizeof p, "%s/f/ckpt-00000004/config.json", root);
    WF_CHECK_EQ(wf_gpt_config_load(p, &c, &e), WF_OK);
    wf_optim_opts oo;
    wf_optim_opts_default(&oo);
    wf_optim *o = NULL;
    wf_train_state s;
    WF_CHECK_EQ(wf_optim_new(&c, &oo, NULL, &o, &e), WF_OK);
    snprintf(p, sizeof p, "%s/f/ckpt-00000004/optimizer.bin", root);
    WF_CHECK_EQ(wf_optstate_load(p, o, &s, &e), WF_OK);
    WF_CHECK_NEAR(o->opts.beta1, 0.8, 1e-7);
    WF_CHECK_NEAR(o->opts.clip, 0.5, 1e-7);
    WF_CHECK_NEAR(o->opts.beta2, 0.95, 1e-7);
    wf_optim_free(o);
    /* already past the target */
    WF_CHECK_EQ(run("tests/fixtures/models/tiny-gelu", "f", "--steps 2 --resume"), 2);
    WF_CHECK_HAS(out_buf, "is already at step 4, past the 2 steps asked for");
    WF_CHECK_EQ(run("tests/fixtures/models/tiny-gelu", "f", "--steps 4 --resume"), 2);
    WF_CHECK_HAS(out_buf, "is already at step 4, which is the 4 steps asked for");
    /* a broken latest */
    snprintf(p, sizeof p, "%s/f/latest", root);
    FILE *f = fopen(p, "w");
    if (f) fclose(f);
    WF_CHECK_EQ(run("tests/fixtures/models/tiny-gelu", "f", "--steps 9 --resume"), 1);
    WF_CHECK_HAS(out_buf, "f/latest: the file is empty, expected a checkpoint name");
    f = fopen(p, "w");
    if (f) fputs("../../elsewhere\n", f), fclose(f);
    WF_CHECK_EQ(run("tests/fixtures/models/tiny-gelu", "f", "--steps 9 --resume"), 1);
    WF_CHECK_HAS(out_buf, "'../../elsewhere' is not a checkpoint name");
    f = fopen(p, "w");
    if (f) fputs("ckpt-00000003\n", f), fclose(f);
    WF_CHECK_EQ(run("tests/fixtures/models/tiny-gelu", "f", "--steps 9 --resume"), 1);
    WF_CHECK_HAS(out_buf, "ckpt-00000003, which is not a folder");
    /* --data naming a file */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s train --model tests/fixtures/models/tiny-gelu --data %s/meta.json --out %s/x --steps 1",
             WAFER_BIN, data, root);
    WF_CHECK_EQ(wf_run_cmd(cmd, out_buf, sizeof out_buf), 1);
    WF_CHECK_HAS(out_buf, "meta.json: not a folder: expected the data folder");
}

/* A sparse run's checkpoints hold sparse_mask.bin, which wafer writes:
** retention removes them like any other (it had left every one in place,
** blaming "files wafer did not write", and dropped them from the list).
** --overwrite refuses to remove the checkpoint a fine-tune starts from. */
static void sparse_retention_and_overwrite_of_an_input(void) {
    WF_CHECK_EQ(run("tests/fixtures/models/tiny-gelu", "sp", "--steps 3 --save-every 1 --keep 1 --sparsity 0.5"), 0);
    WF_CHECK(!exists("%s/sp/%s", "ckpt-00000001") && !exists("%s/sp/%s", "ckpt-00000002"));
    WF_CHECK(exists("%s/sp/%s", "ckpt-00000003/sparse_mask.bin"));
    WF_CHECK(strstr(out_buf, "did not write") == NULL);
    WF_CHECK_EQ(run("tests/fixtures/models/tiny-gelu", "ow", "--steps 2"), 0);
    char m[700];
    snprintf(m, sizeof m, "%s/ow/ckpt-00000002", root);
    WF_CHECK_EQ(run(m, "ow", "--steps 1 --overwrite"), 2);
    WF_CHECK_HAS(out_buf, "ckpt-00000002: --overwrite would remove it (it is ");
    WF_CHECK(exists("%s/ow/%s", "ckpt-00000002/model.safetensors"));
    WF_CHECK(exists("%s/ow/%s", "log.csv")); /* nothing removed */
    snprintf(m, sizeof m, "%s/ow/ckpt-00000002/", root); /* the same folder spelled otherwise */
    char x[800];
    snprintf(x, sizeof x, "--steps 1 --overwrite --tokenizer %s", m);
    WF_CHECK_EQ(run("tests/fixtures/models/tiny-gelu", "ow", x), 2);
    WF_CHECK_HAS(out_buf, "--tokenizer ");
    WF_CHECK_HAS(out_buf, "--overwrite would remove it");
}

/* Byte equality of two files (both must exist). */
static int same_file(const char *a, const char *b) {
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    int ok = !wf_file_read(NULL, a, &x, &nx, NULL) && !wf_file_read(NULL, b, &y, &ny, NULL) && nx == ny && nx > 0 &&
             !memcmp(x, y, nx);
    wf_free(NULL, x), wf_free(NULL, y);
    return ok;
}

/* A resumed run trains on the lr schedule it began with, flags not given
** again: bit-identical to the run straight through (it had fallen back to
** the default lr 6e-4 and 5% warm-up). A flag given again replaces it. */
static void resume_keeps_the_lr_schedule(void) {
    const char *base = "train --model tests/fixtures/models/tiny-gelu --batch 2 --seq 16 --threads 1 --steps 4";
    const char *sched = "--lr 3e-3 --warmup 2 --schedule cosine --end-frac 0.3";
    char cmd[2048], a[700], b[700];
    snprintf(cmd, sizeof cmd, "%s %s --data %s --out %s/ls1 %s", WAFER_BIN, base, data, root, sched);
    WF_CHECK_EQ(wf_run_cmd(cmd, out_buf, sizeof out_buf), 0);
    snprintf(cmd, sizeof cmd, "%s %s --data %s --out %s/ls2 %s --stop-at 2", WAFER_BIN, base, data, root, sched);
    WF_CHECK_EQ(wf_run_cmd(cmd, out_buf, sizeof out_buf), 0);
    snprintf(cmd, sizeof cmd, "%s %s --data %s --out %s/ls2 --resume", WAFER_BIN, base, data, root);
    WF_CHECK_EQ(wf_run_cmd(cmd, out_buf, sizeof out_buf), 0);
    WF_CHECK_HAS(out_buf, "lr 0.003 (cosine, warm-up 2)");
    snprintf(a, sizeof a, "%s/ls1/ckpt-00000004/model.safetensors", root);
    snprintf(b, sizeof b, "%s/ls2/ckpt-00000004/model.safetensors", root);
    WF_CHECK(same_file(a, b));
    /* given again: it replaces the stored value, and says so */
    snprintf(cmd, sizeof cmd, "%s %s --data %s --out %s/ls3 %s --stop-at 2", WAFER_BIN, base, data, root, sched);
    WF_CHECK_EQ(wf_run_cmd(cmd, out_buf, sizeof out_buf), 0);
    snprintf(cmd, sizeof cmd, "%s %s --data %s --out %s/ls3 --resume --lr 1e-3 --schedule linear", WAFER_BIN, base,
             data, root);
    WF_CHECK_EQ(wf_run_cmd(cmd, out_buf, sizeof out_buf), 0);
    WF_CHECK_HAS(out_buf, "--lr 0.001 replaces the stored 0.003 from this step on");
    WF_CHECK_HAS(out_buf, "--schedule linear replaces the stored cosine from this step on");
    WF_CHECK_HAS(out_buf, "lr 0.001 (linear, warm-up 2)");
}

/* A resumed run keeps its model: a preset or shape flags describing another
** are refused (they were ignored, exit 0); the flags the run began with pass. */
static void resume_refuses_another_shape(void) {
    const char *base = "train --model cerebras-gpt-111m --n-layer 1 --n-embd 16 --n-head 2 --n-positions 16 "
                       "--vocab-size 512 --batch 2 --seq 16 --threads 1 --steps 3";
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s --data %s --out %s/sh --stop-at 1", WAFER_BIN, base, data, root);
    WF_CHECK_EQ(wf_run_cmd(cmd, out_buf, sizeof out_buf), 0);
    snprintf(cmd, sizeof cmd, "%s %s --n-layer 2 --data %s --out %s/sh --resume", WAFER_BIN, base, data, root);
    WF_CHECK_EQ(wf_run_cmd(cmd, out_buf, sizeof out_buf), 2);
    WF_CHECK_HAS(out_buf, "--resume: --model cerebras-gpt-111m with these flags has n_layer 2, but the checkpoint in ");
    WF_CHECK_HAS(out_buf, "has 1; a resumed run keeps its model");
    snprintf(cmd, sizeof cmd, "%s %s --data %s --out %s/sh --stop-at 2 --resume", WAFER_BIN, base, data, root);
    WF_CHECK_EQ(wf_run_cmd(cmd, out_buf, sizeof out_buf), 0);
    snprintf(cmd, sizeof cmd, "%s train --model cerebras-gpt-256m --batch 2 --seq 16 --threads 1 --steps 3 --data %s "
             "--out %s/sh --resume", WAFER_BIN, data, root);
    WF_CHECK_EQ(wf_run_cmd(cmd, out_buf, sizeof out_buf), 2);
    WF_CHECK_HAS(out_buf, "--model cerebras-gpt-256m with these flags has n_layer ");
}

/* log.csv follows the run: rows appear as steps finish, before any
** checkpoint (a killed run kept no log at all); a resume drops rows past its
** checkpoint (left by a run killed after it) and logs each step once. */
static void log_follows_the_run(void) {
    char cmd[2048], p[700];
    snprintf(p, sizeof p, "%s/lg/log.csv", root);
    snprintf(cmd, sizeof cmd, "%s train --model tests/fixtures/models/tiny-gelu --data %s --out %s/lg --batch 2 --seq 16 "
             "--threads 1 --steps 1000000 >/dev/null 2>&1 & P=$!; i=0; while [ $i -lt 300 ]; do "
             "[ \"$(cat %s 2>/dev/null | wc -l)\" -ge 4 ] && break; sleep 0.1; i=$((i+1)); done; "
             "kill -9 $P; wait $P 2>/dev/null; exit 0", WAFER_BIN, data, root, p);
    WF_CHECK_EQ(system(cmd), 0);
    char *log = slurp(p);
    WF_CHECK(log && !strncmp(log, "step,loss,val_loss,lr,tokens_per_s\n1,", 37) && strstr(log, "\n3,"));
    wf_free(NULL, log);
    WF_CHECK(!exists("%s/lg/%s", "ckpt-00000001") && !exists("%s/lg/%s", "latest")); /* no save yet */
    /* a resume cuts phantom rows */
    WF_CHECK_EQ(run("tests/fixtures/models/tiny-gelu", "lr", "--steps 4 --stop-at 2"), 0);
    snprintf(p, sizeof p, "%s/lr/log.csv", root);
    FILE *f = fopen(p, "a");
    WF_CHECK(f != NULL);
    if (f) fputs("3,9.0,,1e-3,1.0\n4,9.0,,1e-3,1.0\n", f), fclose(f);
    /* resumed, killed before its next save: the file as it runs */
    snprintf(cmd, sizeof cmd, "%s train --model tests/fixtures/models/tiny-gelu --data %s --out %s/lr --batch 2 --seq 16 "
             "--lr 1e-3 --warmup 1 --threads 1 --steps 1000000 --resume >/dev/null 2>&1 & P=$!; i=0; while [ $i -lt 300 ]; "
             "do grep -q '^5,' %s && break; sleep 0.1; i=$((i+1)); done; kill -9 $P; wait $P 2>/dev/null; exit 0",
             WAFER_BIN, data, root, p);
    WF_CHECK_EQ(system(cmd), 0);
    log = slurp(p);
    int rows = 0, in_order = 1;
    for (const char *q = log ? strchr(log, '\n') : NULL; q && q[1] && rows < 5; q = strchr(q + 1, '\n'))
        in_order &= atol(q + 1) == ++rows && strncmp(strchr(q + 1, ','), ",9.0,", 5) != 0;
    WF_CHECK_EQ(rows, 5);
    WF_CHECK(in_order);
    wf_free(NULL, log);
}

int main(void) {
    WF_CHECK(mkdtemp(root) != NULL);
    snprintf(data, sizeof data, "%s/data", root);
    make_data(data, 512);
    fresh_run_refuses_a_used_out();
    retention_touches_only_this_runs_checkpoints();
    a_diverged_run_saves_nothing_and_keeps_the_last_good();
    resume_applies_flags_and_names_problems();
    sparse_retention_and_overwrite_of_an_input();
    resume_keeps_the_lr_schedule();
    resume_refuses_another_shape();
    log_follows_the_run();
    char a[400];
    snprintf(a, sizeof a, "rm -rf '%s'", root);
    if (system(a) != 0) fprintf(stderr, "cleanup failed\n");
    return wf_check_report();
}
