/* fuzz_snapshot.c — libFuzzer target for the simulation snapshot reader
** (fabric/snapshot.c). It builds tests/fabric/relay_prog.h (a stream
** relayed by one PE's fabric-in -> fabric-out op into another's receive and
** completion task). The input is written to a file and resumed into that
** program's run, which then goes on (max-cycle guard 20,000). Errors are fine; crashes, leaks, hangs and sanitizer reports are
** not.
**
** The reader refuses a file whose CRC or fingerprints do not match, so
** mutated inputs would rarely get past them; a fuzzing build
** (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, set by fuzz/CMakeLists.txt)
** skips those three comparisons to reach the parser and the state check.
** The seed replay in CI (replay.c, normal builds) keeps them.
**
** Seeds: WF_SNAPSHOT_SEEDS=DIR replay_snapshot fuzz/seeds/snapshot writes
** valid snapshots of the run at several cycles into DIR (how
** fuzz/seeds/snapshot/ was made); WF_FUZZ_SNAPSHOT_SHOW=1 prints what each
** input does (its error, or the cycle its run ended at). */
#include "tests/fabric/relay_prog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The program, its input written, ready to launch; NULL when the SDK refuses it (a bug here). */
static wf_host *make(wf_layout **lo) {
    wf_err e = {0};
    wf_host *h = NULL;
    if (relay_prog_new(1.0f, 20000, lo, &h, &e)) {
        wf_host_free(h);
        return NULL;
    }
    return h;
}

static void done(wf_host *h, wf_layout *lo) {
    wf_host_free(h);
    wf_layout_free(lo);
}

static void make_seeds(const char *dir) {
    static const uint64_t at[] = {103, 115, 140, 165, 190}; /* the run: cycles 102 .. 240 (190: taken at 240) */
    for (size_t i = 0; i < sizeof at / sizeof *at; i++) {
        wf_layout *lo = NULL;
        wf_host *h = make(&lo);
        if (!h) abort();
        char path[512];
        snprintf(path, sizeof path, "%s/run_%llu.snap", dir, (unsigned long long)at[i]);
        wf_checkpoint c = {path, 0, at[i], NULL, NULL};
        wf_err e = {0};
        if (wf_fabric_set_checkpoint(wf_host_fabric(h), &c, &e)) abort();
        wf_status st = wf_host_launch(h, "go", &e);
        fprintf(stderr, "%s: %s (cycle %llu)\n", path, st == WF_EINTR ? "written" : e.msg[0] ? e.msg : "run ended first",
                (unsigned long long)wf_fabric_now(wf_host_fabric(h)));
        done(h, lo);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int seeded;
    const char *seeds = getenv("WF_SNAPSHOT_SEEDS");
    if (seeds && !seeded) {
        seeded = 1;
        make_seeds(seeds);
    }
    char path[] = "/tmp/wf_fuzz_snapshot_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 0;
    FILE *fp = fdopen(fd, "wb");
    if (!fp) {
        close(fd);
        unlink(path);
        return 0;
    }
    fwrite(data, 1, size, fp);
    fclose(fp);
    wf_layout *lo = NULL;
    wf_host *h = make(&lo);
    if (!h) abort();
    wf_err e = {0};
    if (wf_fabric_set_resume(wf_host_fabric(h), path, &e) == WF_OK)
        wf_host_launch(h, "go", &e); /* resumes, then runs on (any error is fine) */
    if (getenv("WF_FUZZ_SNAPSHOT_SHOW")) /* what a seed does: its error, or the cycle the run ended at */
        fprintf(stderr, "  -> %s (cycle %llu)\n", e.msg[0] ? e.msg : "ran to the end",
                (unsigned long long)wf_fabric_now(wf_host_fabric(h)));
    done(h, lo);
    unlink(path);
    return 0;
}
