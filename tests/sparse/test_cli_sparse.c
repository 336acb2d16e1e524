/* test_cli_sparse.c — sparsity as a user drives it: `wafer prune` writes a HF
** folder with zeros plus sparse_mask.bin; score and eval of the pruned model
** (sparse kernels) equal those of the same weights without the mask (dense
** kernels); train --sparsity continues sparse and --dense-finetune drops the
** mask; bad flags and bad mask files give one clear line and a non-zero exit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/shards.h"
#include "tests/check.h"
#include "tests/run_cmd.h"
#include "tests/train/synth_data.h"

static char root[] = "/tmp/wf_test_clisparseXXXXXX";
static char out_buf[65536];

static int run(const char *args) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s", WAFER_BIN, args);
    return wf_run_cmd(cmd, out_buf, sizeof out_buf);
}

/* The first number after `key` in s, NAN when absent. */
static double num_after(const char *s, const char *key) {
    const char *p = strstr(s, key);
    return p ? strtod(p + strlen(key), NULL) : NAN;
}

int main(void) {
    WF_CHECK(mkdtemp(root) != NULL);
    char a[1024], data[300];
    snprintf(data, sizeof data, "%s/data", root);
    make_data(data, 512);
    /* flags */
    WF_CHECK_EQ(run("prune --model tests/fixtures/models/tiny-gelu --out /tmp/x --sparsity 1"), 2);
    WF_CHECK_HAS(out_buf, "wafer prune: --sparsity '1': expected a fraction of zeros in [0, 1)");
    WF_CHECK_EQ(run("prune --model tests/fixtures/models/tiny-gelu --out /tmp/x"), 2);
    WF_CHECK_HAS(out_buf, "--sparsity is required");
    WF_CHECK_EQ(run("train --model x --data y --out z --steps 1 --sparsity -0.1"), 2);
    WF_CHECK_HAS(out_buf, "--sparsity '-0.1': expected a fraction of zeros in [0, 1)");
    WF_CHECK_EQ(run("train --model x --data y --out z --steps 1 --sparsity-dist gaussian"), 2);
    WF_CHECK_HAS(out_buf, "--sparsity-dist 'gaussian': expected uniform or erk");
    WF_CHECK_EQ(run("train --model x --data y --out z --steps 1 --sparsity 0.5 --dense-finetune"), 2);
    WF_CHECK_HAS(out_buf, "--dense-finetune and --sparsity 0.5 are exclusive");
    WF_CHECK_EQ(run("train --model x --data y --out z --steps 1 --sparse-kernels gpu"), 2);
    WF_CHECK_HAS(out_buf, "--sparse-kernels 'gpu': expected auto, sparse or dense");
    /* prune, and the same weights without the mask */
    snprintf(a, sizeof a, "prune --model tests/fixtures/models/tiny-gelu --sparsity 0.9 --out %s/p90 2>/dev/null", root);
    WF_CHECK_EQ(run(a), 0);
    WF_CHECK_HAS(out_buf, "\"zero_fraction\": 0.90");
    snprintf(a, sizeof a, "prune --model tests/fixtures/models/tiny-gelu --sparsity 0.5 --out %s/p90", root);
    WF_CHECK_EQ(run(a), 2);
    WF_CHECK_HAS(out_buf, "p90: already holds a model (config.json); choose another folder");
    snprintf(a, sizeof a, "cp -r %s/p90 %s/zeros && rm %s/zeros/sparse_mask.bin", root, root, root);
    WF_CHECK_EQ(system(a), 0);
    /* score: sparse kernels == dense kernels on the same zeros */
    double l1, l2;
    snprintf(a, sizeof a, "sh -c 'seq 1 40 | %s score --model %s/p90 2>/dev/null'", WAFER_BIN, root);
    WF_CHECK_EQ(wf_run_cmd(a, out_buf, sizeof out_buf), 0);
    l1 = num_after(out_buf, "\"mean_loss\": ");
    snprintf(a, sizeof a, "sh -c 'seq 1 40 | %s score --model %s/zeros 2>/dev/null'", WAFER_BIN, root);
    WF_CHECK_EQ(wf_run_cmd(a, out_buf, sizeof out_buf), 0);
    l2 = num_after(out_buf, "\"mean_loss\": ");
    printf("score mean loss: sparse %.7f, dense with zeros %.7f\n", l1, l2);
    WF_CHECK(l1 > 0);
    WF_CHECK_NEAR(l1, l2, 1e-5);
    /* eval: the same */
    snprintf(a, sizeof a, "eval --model %s/p90 --data %s --seq 32 2>/dev/null", root, data);
    WF_CHECK_EQ(run(a), 0);
    l1 = num_after(out_buf, "\"mean_loss\": ");
    snprintf(a, sizeof a, "eval --model %s/zeros --data %s --seq 32 2>/dev/null", root, data);
    WF_CHECK_EQ(run(a), 0);
    l2 = num_after(out_buf, "\"mean_loss\": ");
    printf("eval mean loss: sparse %.7f, dense with zeros %.7f\n", l1, l2);
    WF_CHECK(l1 > 0);
    WF_CHECK_NEAR(l1, l2, 1e-5);
    /* train from the pruned folder: sparse by default, the mask goes along */
    snprintf(a, sizeof a, "train --model %s/p90 --data %s --out %s/t --steps 2 --seq 16 --batch 2", root, data, root);
    WF_CHECK_EQ(run(a), 0);
    WF_CHECK_HAS(out_buf, "sparse_mask.bin (sparsity 0.9, magnitude");
    WF_CHECK_HAS(out_buf, "sparse kernel choice: qkv [64x192] density 0.100");
    snprintf(a, sizeof a, "%s/t/ckpt-00000002/sparse_mask.bin", root);
    WF_CHECK(wf_path_exists(a));
    snprintf(a, sizeof a, "train --model %s/p90 --data %s --out %s/d --steps 1 --seq 16 --dense-finetune", root, data, root);
    WF_CHECK_EQ(run(a), 0);
    WF_CHECK_HAS(out_buf, "dense fine-tune:");
    snprintf(a, sizeof a, "%s/d/ckpt-00000001/sparse_mask.bin", root);
    WF_CHECK(!wf_path_exists(a));
    /* a corrupt mask: one line naming the file, exit 1, for train, score and eval */
    snprintf(a, sizeof a, "sh -c 'printf WFMASK > %s/p90/sparse_mask.bin'", root);
    WF_CHECK_EQ(wf_run_cmd(a, out_buf, sizeof out_buf), 0);
    snprintf(a, sizeof a, "sh -c 'echo 1 2 3 | %s score --model %s/p90'", WAFER_BIN, root);
    WF_CHECK_EQ(wf_run_cmd(a, out_buf, sizeof out_buf), 1);
    WF_CHECK_HAS(out_buf, "wafer score: ");
    WF_CHECK_HAS(out_buf, "p90/sparse_mask.bin: 6 bytes, shorter than the 64-byte header of a mask file");
    snprintf(a, sizeof a, "eval --model %s/p90 --data %s --seq 32", root, data);
    WF_CHECK_EQ(run(a), 1);
    WF_CHECK_HAS(out_buf, "wafer eval: ");
    WF_CHECK_HAS(out_buf, "p90/sparse_mask.bin: 6 bytes");
    snprintf(a, sizeof a, "train --model %s/p90 --data %s --out %s/t2 --steps 1 --seq 16", root, data, root);
    WF_CHECK_EQ(run(a), 1);
    WF_CHECK_HAS(out_buf, "p90/sparse_mask.bin: 6 bytes");
    snprintf(a, sizeof a, "rm -rf %s", root);
    WF_CHECK_EQ(system(a), 0);
    return wf_check_report();
}
