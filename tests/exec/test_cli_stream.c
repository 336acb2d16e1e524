/* test_cli_stream.c — `wafer train --mode stream|auto` as a user runs it:
** flag errors name the flag, a disk-store run and an auto run that streams
** (under --mem-limit) end on the same model.safetensors and optimizer.bin
** bytes as the resident run, `eval --mode stream` prints the resident
** evaluation's line, --trace writes the per-layer timeline, a store of another model is refused, and a
** SIGKILL in the middle of a streamed run leaves the last checkpoint, from
** which --resume ends on the resident run's bytes. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/base.h"
#include "tests/check.h"
#include "tests/train/synth_data.h"
#include "tests/run_cmd.h"

static char root[] = "/tmp/wf_test_clistreamXXXXXX";
static char out_buf[65536];

static int run(const char *args) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s", WAFER_BIN, args);
    return wf_run_cmd(cmd, out_buf, sizeof out_buf);
}

static int same(const char *a, const char *b) {
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
    return system(cmd) == 0;
}

/* The --trace timeline of the disk-store run (5 steps x 2 micro-batches of a
** 2-layer model): every layer's forward and backward on the device track,
** the I/O thread's prefetches and write-behinds on track 1, AdamW per block. */
static void check_trace(const char *dir) {
    char p[400], *buf = NULL;
    size_t n = 0;
    wf_err e;
    snprintf(p, sizeof p, "%s/trace.json", dir);
    if (wf_file_read(NULL, p, &buf, &n, &e)) {
        WF_CHECK(!"no trace written");
        return;
    }
    cJSON *j = cJSON_Parse(buf);
    const cJSON *ev = j ? cJSON_GetObjectItemCaseSensitive(j, "traceEvents") : NULL, *x;
    WF_CHECK(cJSON_IsArray(ev));
    int fwd = 0, bwd = 0, adamw = 0, prefetch = 0, behind = 0, bad = 0;
    cJSON_ArrayForEach(x, ev) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(x, "name"), *tid = cJSON_GetObjectItemCaseSensitive(x, "tid");
        const cJSON *dur = cJSON_GetObjectItemCaseSensitive(x, "dur");
        if (!cJSON_IsString(nm) || !cJSON_IsNumber(tid)) continue;
        if (dur && !(cJSON_IsNumber(dur) && dur->valuedouble >= 0)) bad++;
        const char *s = nm->valuestring;
        int t = tid->valueint;
        fwd += t == 0 && !strcmp(s, "layer fwd");
        bwd += t == 0 && !strcmp(s, "layer bwd");
        adamw += t == 0 && !strcmp(s, "adamw");
        prefetch += t == 1 && !strncmp(s, "prefetch ", 9);
        behind += t == 1 && !strncmp(s, "write-behind ", 13);
    }
    WF_CHECK_EQ(fwd, 5 * 2 * 2);
    WF_CHECK_EQ(bwd, 5 * 2 * 2);
    WF_CHECK_EQ(adamw, 5 * 4);
    WF_CHECK(prefetch > 0 && behind > 0);
    WF_CHECK_EQ(bad, 0);
    cJSON_Delete(j);
    wf_free(NULL, buf);
}

int main(void) {
    WF_CHECK(mkdtemp(root) != NULL);
    char a[1500], data[300], base[1000], p1[600], p2[600];
    snprintf(data, sizeof data, "%s/data", root);
    make_data(data, 512);
    WF_CHECK_EQ(run("train --model x --data y --out z --steps 3 --mode wavy"), 2);
    WF_CHECK_HAS(out_buf, "--mode 'wavy': expected resident, stream or auto");
    WF_CHECK_EQ(run("train --model x --data y --out z --steps 3 --mode stream --device-mem 12Q"), 2);
    WF_CHECK_HAS(out_buf, "--device-mem '12Q': expected a size in bytes");
    WF_CHECK_EQ(run("train --model x --data y --out z --steps 3 --store s"), 2);
    WF_CHECK_HAS(out_buf, "--store, --device-mem and --trace need --mode stream or auto");
    snprintf(base, sizeof base, "train --model tests/fixtures/models/tiny-gelu --data %s --steps 5 --batch 2 --seq 16 "
             "--accum 2 --lr 1e-3 --warmup 1 --threads 2 --save-every 1", data);
    snprintf(a, sizeof a, "%s --out %s/res", base, root);
    WF_CHECK_EQ(run(a), 0);
    snprintf(a, sizeof a, "%s --out %s/disk --mode stream --store %s/store --device-mem 64M --trace %s/trace.json", base,
             root, root, root);
    WF_CHECK_EQ(run(a), 0);
    WF_CHECK_HAS(out_buf, "wafer train: done: step 5");
    check_trace(root);
    snprintf(a, sizeof a, "%s --out %s/auto --mode auto --mem-limit 100K", base, root);
    WF_CHECK_EQ(run(a), 0);
    WF_CHECK_HAS(out_buf, "--mode auto: resident training needs");
    WF_CHECK_HAS(out_buf, "streaming weights from the store");
    const char *files[] = {"model.safetensors", "optimizer.bin"};
    for (int i = 0; i < 2; i++) {
        snprintf(p1, sizeof p1, "%s/res/ckpt-00000005/%s", root, files[i]);
        snprintf(p2, sizeof p2, "%s/disk/ckpt-00000005/%s", root, files[i]);
        WF_CHECK(same(p1, p2));
        snprintf(p2, sizeof p2, "%s/auto/ckpt-00000005/%s", root, files[i]);
        WF_CHECK(same(p1, p2));
    }
    /* wafer eval --mode stream reads the layers from the folder: the same JSON line */
    char ev[2][256] = {"", ""};
    for (int k = 0; k < 2; k++) {
        snprintf(a, sizeof a, "eval --model %s/res/ckpt-00000005 --data %s --seq 16 --batch 3 --max-windows 7 --mode %s",
                 root, data, k ? "stream" : "resident");
        WF_CHECK_EQ(run(a), 0);
        WF_CHECK_HAS(out_buf, "\"mean_loss\": ");
        size_t len = strlen(out_buf) < sizeof ev[k] - 1 ? strlen(out_buf) : sizeof ev[k] - 1;
        memcpy(ev[k], out_buf, len);
        ev[k][len] = 0;
    }
    WF_CHECK(strcmp(ev[0], ev[1]) == 0);
    WF_CHECK_EQ(run("eval --model cerebras-gpt-111m --data y --mode stream"), 2);
    WF_CHECK_HAS(out_buf, "--mode stream reads a model folder");
    WF_CHECK_EQ(run("info tests/fixtures/models/tiny-gelu --batch 2 --seq 16"), 0);
    WF_CHECK_HAS(out_buf, "training    batch 2 x seq 16");
    WF_CHECK_HAS(out_buf, "--mode stream: device side");
    WF_CHECK_EQ(run("info tests/fixtures/models/tiny-gelu --batch 2 --seq 16 --json"), 0);
    WF_CHECK_HAS(out_buf, "\"stream_host_disk_store\":");
    WF_CHECK_EQ(run("info tests/fixtures/models/tiny-gelu --seq x"), 2);
    WF_CHECK_HAS(out_buf, "--seq needs an integer");
    /* the store of another model */
    snprintf(a, sizeof a, "train --model cerebras-gpt-111m --n-layer 1 --n-embd 32 --n-head 2 --vocab-size 512 --data %s "
             "--steps 1 --batch 1 --seq 8 --out %s/other --mode stream --store %s/store", data, root, root);
    WF_CHECK_EQ(run(a), 2);
    WF_CHECK_HAS(out_buf, "store.bin: store made for another model");
    /* SIGKILL mid-run (after the first checkpoint), then --resume */
    snprintf(a, sizeof a, "train --model tests/fixtures/models/tiny-gelu --data %s --steps 120 --batch 2 --seq 16 "
             "--lr 1e-3 --warmup 1 --threads 1 --save-every 3 -q", data);
    char kill_out[600];
    snprintf(kill_out, sizeof kill_out, "%s/killed", root);
    pid_t pid = fork();
    if (pid == 0) {
        char cmd[4000];
        snprintf(cmd, sizeof cmd, "exec %s %s --out %s --mode stream --store %s/kstore >/dev/null 2>&1", WAFER_BIN, a,
                 kill_out, root);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    char latest[700];
    snprintf(latest, sizeof latest, "%s/latest", kill_out);
    for (int i = 0; i < 3000 && access(latest, F_OK) != 0; i++) usleep(2000);
    usleep(30000);
    kill(pid, SIGKILL);
    int wst;
    waitpid(pid, &wst, 0);
    WF_CHECK(WIFSIGNALED(wst)); /* killed before it finished */
    char resume[2200];
    snprintf(resume, sizeof resume, "%s --out %s --mode stream --store %s/kstore --resume", a, kill_out, root);
    WF_CHECK_EQ(run(resume), 0);
    WF_CHECK_HAS(out_buf, "done: step 120");
    snprintf(resume, sizeof resume, "%s --out %s/kres", a, root);
    WF_CHECK_EQ(run(resume), 0);
    for (int i = 0; i < 2; i++) {
        snprintf(p1, sizeof p1, "%s/kres/ckpt-00000120/%s", root, files[i]);
        snprintf(p2, sizeof p2, "%s/killed/ckpt-00000120/%s", root, files[i]);
        WF_CHECK(same(p1, p2));
    }
    snprintf(a, sizeof a, "rm -rf '%s'", root);
    if (system(a) != 0) fprintf(stderr, "cleanup failed\n");
    return wf_check_report();
}
