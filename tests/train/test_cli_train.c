/* test_cli_train.c — `wafer train` and `wafer eval` as a user runs them:
** flag errors name the flag, a short fine-tune of the tiny-gelu fixture
** writes a checkpoint, log.csv and loss.png, and eval prints the JSON. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "datasets/shards.h"
#include "tests/check.h"
#include "tests/train/synth_data.h"
#include "tests/run_cmd.h"

static char root[] = "/tmp/wf_test_clitrainXXXXXX";
static char out_buf[65536];

/* Runs `WAFER args` (stderr merged), returns the exit status; output in out_buf. */
static int run(const char *args) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s", WAFER_BIN, args);
    return wf_run_cmd(cmd, out_buf, sizeof out_buf);
}

int main(void) {
    WF_CHECK(mkdtemp(root) != NULL);
    char a[1024];
    WF_CHECK_EQ(run("train --model x"), 2);
    WF_CHECK_HAS(out_buf, "wafer train: --data is required");
    WF_CHECK_EQ(run("train --model x --data y --out z --steps abc"), 2);
    WF_CHECK_HAS(out_buf, "--steps 'abc': expected an integer in [1, 1000000000]");
    WF_CHECK_EQ(run("train --model x --data y --out z --steps 3 --schedule wavy"), 2);
    WF_CHECK_HAS(out_buf, "--schedule 'wavy': expected linear, cosine or constant");
    WF_CHECK_EQ(run("train --model x --data y --out z"), 2);
    WF_CHECK_HAS(out_buf, "give the run length with --steps N or --tokens N");
    WF_CHECK_EQ(run("train --frobnicate"), 2);
    WF_CHECK_HAS(out_buf, "unknown option '--frobnicate'");
    WF_CHECK_EQ(run("train --help"), 0);
    WF_CHECK_HAS(out_buf, "--resume");
    snprintf(a, sizeof a, "train --model tests/fixtures/models/tiny-gelu --data %s/none --out %s/o --steps 2", root, root);
    WF_CHECK_EQ(run(a), 1);
    WF_CHECK_HAS(out_buf, "wafer train: ");
    WF_CHECK_HAS(out_buf, "/none");

    char data[300], data600[300];
    snprintf(data, sizeof data, "%s/data", root);
    snprintf(data600, sizeof data600, "%s/data600", root);
    make_data(data, 512);
    make_data(data600, 600);
    snprintf(a, sizeof a, "train --model tests/fixtures/models/tiny-gelu --data %s --out %s/o --steps 3 "
             "--batch 2 --seq 16 --lr 1e-3 --warmup 1 --threads 2", data, root);
    WF_CHECK_EQ(run(a), 0);
    WF_CHECK_HAS(out_buf, "step 3/3 | loss ");
    WF_CHECK_HAS(out_buf, "| lr ");
    WF_CHECK_HAS(out_buf, "tok/s | ETA ");
    WF_CHECK_HAS(out_buf, "val loss");
    WF_CHECK_HAS(out_buf, "wafer train: done: step 3");
    snprintf(a, sizeof a, "train --model tests/fixtures/models/tiny-gelu --data %s --out %s/o6 --steps 3 --seq 16", data600, root);
    WF_CHECK_EQ(run(a), 1);
    WF_CHECK_HAS(out_buf, "data vocabulary 600 does not fit the model's vocabulary 512");

    snprintf(a, sizeof a, "eval --model %s/o/ckpt-00000003 --data %s --seq 16 --batch 5", root, data);
    WF_CHECK_EQ(run(a), 0);
    WF_CHECK_HAS(out_buf, "{\"mean_loss\": ");
    WF_CHECK_HAS(out_buf, "\"tokens\": 992}"); /* (1000-1)/16 = 62 windows of 16 targets */
    double loss = 0, ppl = 0;
    const char *p = strstr(out_buf, "\"mean_loss\": ");
    if (p) loss = strtod(p + 13, NULL);
    p = strstr(out_buf, "\"perplexity\": ");
    if (p) ppl = strtod(p + 14, NULL);
    WF_CHECK(loss > 1 && loss < 7);
    WF_CHECK_NEAR(ppl, exp(loss), 1e-3 * ppl);
    snprintf(a, sizeof a, "eval --model %s/o/ckpt-00000003 --data %s --seq 2000", root, data);
    WF_CHECK_EQ(run(a), 2);
    WF_CHECK_HAS(out_buf, "--seq 2000 exceeds the model's n_positions 512");
    snprintf(a, sizeof a, "eval --model tests/fixtures/models/tiny-gelu --data %s --seq 16", data600);
    WF_CHECK_EQ(run(a), 1);
    WF_CHECK_HAS(out_buf, "data vocabulary 600 does not fit the model's vocabulary 512");
    snprintf(a, sizeof a, "rm -rf '%s'", root);
    if (system(a) != 0) fprintf(stderr, "cleanup failed\n");
    return wf_check_report();
}
