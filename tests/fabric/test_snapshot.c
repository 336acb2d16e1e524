/* test_snapshot.c — checkpoints through the library (fabric.h, Checkpoints)
** on a program of two launches of tests/fabric/relay_prog.h (a stream
** relayed by one PE's fabric-in -> fabric-out op into another's receive and
** completion task).
** - a pause in the second run, resumed by a fresh host that does the same
**   host work: the first run runs as usual, the second resumes, and the
**   clock, every PE's SRAM and statistics equal the unbroken run's;
** - a pause in the first run, resumed likewise;
** - wf_fabric_request_stop with and without a checkpoint file (WF_EINTR);
** - a pause after the last run's end is never taken;
** - a capture (streaming d2h) in progress cannot be saved;
** - the run a snapshot belongs to must begin from the same state. */
#include "../check.h"
#include "relay_prog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { N = RELAY_N };

typedef struct {
    wf_layout *lo;
    wf_host *h;
} prog;

static prog make(float scale) {
    prog p = {0};
    wf_err e = {0};
    WF_CHECK_EQ(relay_prog_new(scale, 0, &p.lo, &p.h, &e), WF_OK);
    return p;
}
static void done(prog *p) {
    wf_host_free(p->h);
    wf_layout_free(p->lo);
}

/* Two launches; returns the status of the first that failed (err filled). */
static wf_status two_launches(prog *p, wf_err *e) {
    wf_status st = wf_host_launch(p->h, "go", e);
    if (st) return st;
    return wf_host_launch(p->h, "go", e);
}

typedef struct {
    uint64_t now;
    uint8_t sram[3][4 * N + 4];
    wf_fabric_stats st;
} outcome;

static void outcome_of(prog *p, outcome *o) {
    wf_fabric *f = wf_host_fabric(p->h);
    memset(o, 0, sizeof *o);
    o->now = wf_fabric_now(f);
    for (int x = 0; x < 3; x++) {
        uint32_t lo, hi;
        wf_err e = {0};
        uint8_t *s = wf_fabric_sram(f, x, 0, &lo, &hi, &e);
        if (s) memcpy(o->sram[x], s, hi - lo < sizeof o->sram[x] ? hi - lo : sizeof o->sram[x]);
    }
    wf_fabric_read_stats(f, &o->st);
}

static int same(const outcome *a, const outcome *b) {
    return a->now == b->now && !memcmp(a->sram, b->sram, sizeof a->sram) && a->st.busy == b->st.busy &&
           a->st.hops == b->st.hops && a->st.tasks == b->st.tasks && a->st.ops == b->st.ops &&
           a->st.active == b->st.active && a->st.steps == b->st.steps;
}

static char path[128];

/* Pauses at cycle `at`, resumes in a fresh host; the outcome equals the unbroken run's. */
static void pause_and_resume(uint64_t at, const outcome *want, int want_run) {
    wf_err e = {0};
    remove(path);
    prog a = make(1.0f);
    wf_checkpoint c = {path, 0, at, NULL, NULL};
    WF_CHECK_EQ(wf_fabric_set_checkpoint(wf_host_fabric(a.h), &c, &e), WF_OK);
    WF_CHECK_EQ(two_launches(&a, &e), WF_EINTR);
    WF_CHECK(strstr(e.msg, "snapshot written to") != NULL);
    uint64_t stopped = wf_fabric_now(wf_host_fabric(a.h));
    WF_CHECK(stopped >= at);
    done(&a);
    prog b = make(1.0f);
    WF_CHECK_EQ(wf_fabric_set_resume(wf_host_fabric(b.h), path, &e), WF_OK);
    WF_CHECK_EQ(wf_host_launch(b.h, "go", &e), WF_OK);
    wf_fabric_resume_info ri;
    wf_fabric_resume_info_get(wf_host_fabric(b.h), &ri);
    WF_CHECK_EQ(ri.segments, want_run == 1 ? 1 : 0); /* the first run resumes only when it was paused there */
    WF_CHECK_EQ(wf_host_launch(b.h, "go", &e), WF_OK);
    wf_fabric_resume_info_get(wf_host_fabric(b.h), &ri);
    WF_CHECK_EQ(ri.segments, 1);
    WF_CHECK_EQ(ri.from_cycle, stopped);
    outcome got;
    outcome_of(&b, &got);
    if (!same(&got, want)) {
        fprintf(stderr, "paused at %llu (run %d): clock %llu against %llu, steps %llu against %llu\n",
                (unsigned long long)at, want_run, (unsigned long long)got.now, (unsigned long long)want->now,
                (unsigned long long)got.st.steps, (unsigned long long)want->st.steps);
        WF_CHECK(0);
    }
    done(&b);
}

int main(void) {
    snprintf(path, sizeof path, "/tmp/wf_test_snapshot_%d.snap", (int)getpid());
    wf_err e = {0};
    /* the unbroken run, and where its two runs lie */
    prog u = make(1.0f);
    WF_CHECK_EQ(wf_host_launch(u.h, "go", &e), WF_OK);
    uint64_t end1 = wf_fabric_now(wf_host_fabric(u.h));
    WF_CHECK_EQ(wf_host_launch(u.h, "go", &e), WF_OK);
    outcome want;
    outcome_of(&u, &want);
    done(&u);
    WF_CHECK(want.now > end1 + 60);
    float *sum = (float *)(want.sram[2] + 4 * N);
    WF_CHECK(*sum != 0); /* the receiver added something up */

    for (uint64_t at = end1 - 60; at < end1; at += 20) pause_and_resume(at, &want, 1);
    for (uint64_t at = end1 + 40; at < want.now - 10; at += 25) pause_and_resume(at, &want, 2);

    /* a pause after the end of the last run is never taken */
    prog a = make(1.0f);
    wf_checkpoint c = {path, 0, want.now + 1000, NULL, NULL};
    remove(path);
    WF_CHECK_EQ(wf_fabric_set_checkpoint(wf_host_fabric(a.h), &c, &e), WF_OK);
    WF_CHECK_EQ(two_launches(&a, &e), WF_OK);
    WF_CHECK(access(path, F_OK) != 0);
    done(&a);

    /* a stop request: with a checkpoint file it saves, without one it only stops */
    a = make(1.0f);
    wf_fabric_request_stop(wf_host_fabric(a.h));
    WF_CHECK_EQ(wf_host_launch(a.h, "go", &e), WF_EINTR);
    WF_CHECK(strstr(e.msg, "on request (no checkpoint file set)") != NULL);
    done(&a);
    a = make(1.0f);
    wf_checkpoint c2 = {path, 0, 0, NULL, NULL};
    WF_CHECK_EQ(wf_fabric_set_checkpoint(wf_host_fabric(a.h), &c2, &e), WF_OK);
    wf_fabric_request_stop(wf_host_fabric(a.h));
    WF_CHECK_EQ(wf_host_launch(a.h, "go", &e), WF_EINTR);
    WF_CHECK(strstr(e.msg, "snapshot written to") != NULL);
    WF_CHECK(access(path, F_OK) == 0);
    done(&a);

    /* other inputs before the run: refused, and the fabric does not run */
    pause_and_resume(end1 + 40, &want, 2); /* leaves a snapshot of run 2 in path */
    prog b = make(2.0f);
    WF_CHECK_EQ(wf_fabric_set_resume(wf_host_fabric(b.h), path, &e), WF_OK);
    WF_CHECK_EQ(wf_host_launch(b.h, "go", &e), WF_OK); /* run 1 is not resumed */
    WF_CHECK_EQ(wf_host_launch(b.h, "go", &e), WF_EUSAGE);
    WF_CHECK(strstr(e.msg, "its run began from another state") != NULL);
    done(&b);

    /* a capture in progress cannot be saved: the pause fails with the reason */
    a = make(1.0f);
    uint32_t cap[N];
    wf_checkpoint c3 = {path, 0, 1, NULL, NULL}; /* at the run's first cycle */
    WF_CHECK_EQ(wf_fabric_set_checkpoint(wf_host_fabric(a.h), &c3, &e), WF_OK);
    WF_CHECK_EQ(wf_fabric_capture(wf_host_fabric(a.h), 1, 0, RELAY_C1, cap, N, &e), WF_OK);
    WF_CHECK_EQ(wf_host_launch(a.h, "go", &e), WF_EUSAGE);
    WF_CHECK(strstr(e.msg, "cannot checkpoint: a host capture") != NULL);
    done(&a);
    remove(path);
    return wf_check_report();
}
