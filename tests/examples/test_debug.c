/* test_debug.c — scripted debugger sessions (sdk/debug.h) through the
** example programs' --debug-script and --debug: on the 3 x 3 x 8 stencil a
** cycle breakpoint in the halo exchange (the wavelet at PE(1,1)'s router is
** the west neighbour's first element, its output queue holds its own
** elements, the receive op waits to activate 'got west'), stepping, a task
** breakpoint on PE(1,1)'s compute task (the four halo buffers hold the
** neighbours' columns, y is still zero, `tasks` names the starting task),
** the core busy with it one cycle later, y after it equal to the stencil computed from the printed values,
** one-line errors that do not end the session, and the run's results
** identical to a run without the debugger; a `break error` session on gemv
** --fault oob; quit; commands from stdin. */
#include "../check.h"
#include "../run_cmd.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef WF_EX_DIR
#error "WF_EX_DIR must name the folder of the example programs"
#endif

static char out[1 << 17];
static char dir[64];

static int run(const char *cmd) {
    char line[2048];
    snprintf(line, sizeof line, "%s/%s", WF_EX_DIR, cmd);
    return wf_run_cmd(line, out, sizeof out);
}

static void script(const char *name, const char *text, char *path, size_t n) {
    snprintf(path, n, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    WF_CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* Writes script `name` and runs `args --debug-script` on it; the exit code. */
static int run_script(const char *name, const char *text, const char *args) {
    char path[128], cmd[512];
    script(name, text, path, sizeof path);
    snprintf(cmd, sizeof cmd, "%s --debug-script %s", args, path);
    return run(cmd);
}

/* What the session printed after the echo of command `cmd` (its k-th
** occurrence, from 0), up to the next echo; "" when absent. */
static const char *reply(const char *cmd, int k, char *buf, size_t n) {
    char echo[256];
    snprintf(echo, sizeof echo, "(wdb) %s\n", cmd);
    const char *p = out;
    buf[0] = 0;
    for (int i = 0; i <= k; i++) {
        p = strstr(p, echo);
        if (!p) return buf;
        p += strlen(echo);
    }
    const char *e = strstr(p, "(wdb) ");
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len >= n) len = n - 1;
    memcpy(buf, p, len);
    buf[len] = 0;
    return buf;
}

/* The values of a `print/x` reply: up to max hex words after "] ". */
static int hexes(const char *r, uint32_t *v, int max) {
    int n = 0;
    for (const char *p = strstr(r, "\n  ["); p && n < max;) {
        p = strchr(p, ']');
        if (!p) break;
        p++;
        for (;;) {
            char *end;
            while (*p == ' ') p++;
            if (strncmp(p, "0x", 2)) break;
            v[n++] = (uint32_t)strtoul(p, &end, 16);
            p = end;
            if (n == max) break;
        }
        p = strstr(p, "\n  [");
    }
    return n;
}

static float f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Last line of out parsed as a few numbers of the JSON summary, as text. */
static void summary(char *s, size_t n) {
    const char *last = out;
    for (const char *q = out; *q; q++)
        if (*q == '\n' && q[1]) last = q + 1;
    const char *keys[] = {"\"cycles\":", "\"compute_cycles\":", "\"busy\":", "\"hops\":", "\"sim_steps\":",
                          "\"active_pe_cycles\":", "\"check\":", "\"max_abs_diff\":"};
    size_t at = 0;
    s[0] = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *p = strstr(last, keys[i]);
        if (!p) {
            snprintf(s, n, "no %s in '%.200s'", keys[i], last);
            return;
        }
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        at += (size_t)snprintf(s + at, n - at, "%.*s ", (int)len, p);
    }
}

#define NZ 8
static const char *const stencil_script =
    "# the 3 x 3 x 8 stencil: halo exchange, then PE(1,1)'s compute\n"
    "break cycle 236\n"
    "break task 40 at 1 1\n"
    "info breakpoints\n"
    "continue\n"
    "where\n"
    "router 1 1 10\n"
    "queues 1 1\n"
    "tasks 1 1\n"
    "print/x 0 1 v\n"
    "print/x 1 1 v\n"
    "step 2\n"
    "continue\n"
    "print/x 1 1 bw\n"
    "print/x 1 1 be\n"
    "print/x 1 1 bn\n"
    "print/x 1 1 bs\n"
    "print/x 2 1 v\n"
    "print/x 1 0 v\n"
    "print/x 1 2 v\n"
    "print/x 1 1 y\n"
    "print 1 1 v 2:4\n"
    "tasks 1 1\n"
    "step\n"
    "tasks 1 1\n"
    "frobnicate 1 2\n"
    "print 9 9 v\n"
    "print 1 1 zz\n"
    "print 1 1 v 7:9\n"
    "queues 1 1 30\n"
    "step 100\n"
    "print/x 1 1 y\n"
    "continue\n";

static void stencil_session(void) {
    char path[128], cmd[512], r[8192], base[1024], dbg[1024];
    script("stencil.wdb", stencil_script, path, sizeof path);
    WF_CHECK_EQ(run("stencil --nx 3 --ny 3 --nz 8 --json --threads 2"), 0);
    summary(base, sizeof base);
    snprintf(cmd, sizeof cmd, "stencil --nx 3 --ny 3 --nz 8 --json --debug-script %s", path);
    WF_CHECK_EQ(run(cmd), 0);
    summary(dbg, sizeof dbg);
    /* the debugged run's results and cycles are the plain run's */
    WF_CHECK_STR(dbg, base);
    WF_CHECK_HAS(base, "\"check\":\"ok\"");
    WF_CHECK(!strncmp(out, "stop: cycle 127: start of the first run\n(wdb) # the 3 x 3", 50));
    WF_CHECK_STR(reply("info breakpoints", 0, r, sizeof r),
                 "breakpoint 1: cycle 236, hit 0\nbreakpoint 2: task 40 on PE(1,1), hit 0\n");
    WF_CHECK_STR(reply("continue", 0, r, sizeof r), "stop: cycle 236: breakpoint 1: cycle 236\n");
    WF_CHECK_STR(reply("where", 0, r, sizeof r),
                 "cycle 236: breakpoint 1: cycle 236\nlast task start: cycle 227: launched function on PE(2,2)\n");

    /* halo exchange at cycle 236: west neighbour's first element at the router */
    uint32_t vw[NZ], vc[NZ], ve[NZ], vn[NZ], vs[NZ], bw[NZ], be[NZ], bn[NZ], bs[NZ], y0[NZ], y1[NZ];
    WF_CHECK_EQ(hexes(reply("print/x 0 1 v", 0, r, sizeof r), vw, NZ), NZ);
    WF_CHECK_EQ(hexes(reply("print/x 1 1 v", 0, r, sizeof r), vc, NZ), NZ);
    WF_CHECK_HAS(r, "PE(1,1) v[0:8] (8 elements, hex):\n  [0] 0x");
    char want[512];
    snprintf(want, sizeof want,
             "PE(1,1) router at cycle 236:\n  color 10: position 0 of 1: [W->RAMP]; buffer 1/2: 0x%08x<WEST\n", vw[0]);
    WF_CHECK_STR(reply("router 1 1 10", 0, r, sizeof r), want);
    /* the east-going output queue (color 11) holds PE(1,1)'s own next elements */
    reply("queues 1 1", 0, r, sizeof r);
    const char *oq = strstr(r, "oq 0 color 11: ");
    WF_CHECK(oq != NULL);
    if (oq) {
        unsigned n = 0, cap = 0;
        WF_CHECK_EQ(sscanf(oq, "oq 0 color 11: %u/%u", &n, &cap), 2);
        WF_CHECK_EQ(cap, 2);
        WF_CHECK(n >= 1 && n <= 2);
        /* its wavelets, oldest first, are consecutive elements of v */
        const char *p = strstr(oq, "/2:");
        uint32_t w[2] = {0, 0};
        for (unsigned i = 0; p && i < n && i < 2; i++) { /* strtoul skips the blank, takes "0x" */
            char *end;
            w[i] = (uint32_t)strtoul(i ? p : p + 3, &end, 16);
            p = end;
        }
        int at = -1;
        for (int i = 0; i + (int)n <= NZ; i++)
            if (vc[i] == w[0] && (n < 2 || vc[i + 1] == w[1])) at = i;
        WF_CHECK(at >= 0);
    }
    WF_CHECK_HAS(r, "iq 0 color 10: 0/6\n");
    reply("tasks 1 1", 0, r, sizeof r);
    WF_CHECK_HAS(r, "PE(1,1) tasks at cycle 236: core ");
    WF_CHECK_HAS(r, "  task 30 'got west' local: ready 0 blocked 0\n");
    WF_CHECK_HAS(r, "  task 40 'compute' local: ready 0 blocked 0\n");
    WF_CHECK_HAS(r, "  op fmovs receive color 10: waiting, 0 of 8 elements, from cycle 230, then activate task 30 "
                    "'got west'\n");
    WF_CHECK_STR(reply("step 2", 0, r, sizeof r), "stop: cycle 238: step\n");

    /* PE(1,1)'s compute starts: the halo buffers hold the neighbours' columns, y is untouched */
    WF_CHECK_STR(reply("continue", 1, r, sizeof r), "stop: cycle 270: breakpoint 2: task 40 'compute' starts on PE(1,1)\n");
    WF_CHECK_EQ(hexes(reply("print/x 1 1 bw", 0, r, sizeof r), bw, NZ), NZ);
    WF_CHECK_EQ(hexes(reply("print/x 1 1 be", 0, r, sizeof r), be, NZ), NZ);
    WF_CHECK_EQ(hexes(reply("print/x 1 1 bn", 0, r, sizeof r), bn, NZ), NZ);
    WF_CHECK_EQ(hexes(reply("print/x 1 1 bs", 0, r, sizeof r), bs, NZ), NZ);
    WF_CHECK_EQ(hexes(reply("print/x 2 1 v", 0, r, sizeof r), ve, NZ), NZ);
    WF_CHECK_EQ(hexes(reply("print/x 1 0 v", 0, r, sizeof r), vn, NZ), NZ);
    WF_CHECK_EQ(hexes(reply("print/x 1 2 v", 0, r, sizeof r), vs, NZ), NZ);
    WF_CHECK_EQ(hexes(reply("print/x 1 1 y", 0, r, sizeof r), y0, NZ), NZ);
    WF_CHECK(!memcmp(bw, vw, sizeof bw));
    WF_CHECK(!memcmp(be, ve, sizeof be));
    WF_CHECK(!memcmp(bn, vn, sizeof bn));
    WF_CHECK(!memcmp(bs, vs, sizeof bs));
    for (int z = 0; z < NZ; z++) WF_CHECK_EQ(y0[z], 0);
    snprintf(want, sizeof want, "PE(1,1) v[2:4] (8 elements, f32):\n  [2] %.9g %.9g\n", (double)f32(vc[2]),
             (double)f32(vc[3]));
    WF_CHECK_STR(reply("print 1 1 v 2:4", 0, r, sizeof r), want);
    reply("tasks 1 1", 1, r, sizeof r); /* picked, its body not run yet */
    WF_CHECK_HAS(r, "PE(1,1) tasks at cycle 270: core idle; ");
    WF_CHECK_HAS(r, "  no async ops\n  starting task 40 'compute' (stopped before its body runs)\n");
    WF_CHECK_STR(reply("step", 0, r, sizeof r), "stop: cycle 271: step\n");
    WF_CHECK_HAS(reply("tasks 1 1", 2, r, sizeof r), "PE(1,1) tasks at cycle 271: core busy until cycle ");
    WF_CHECK_HAS(r, " with task 40 'compute'; ready 0x0000000000000000 blocked 0x0000000000000000\n");
    WF_CHECK(strstr(r, "starting") == NULL);

    /* errors: one line each, and the session goes on */
    WF_CHECK_STR(reply("frobnicate 1 2", 0, r, sizeof r), "error: unknown command 'frobnicate' (help lists them)\n");
    WF_CHECK_STR(reply("print 9 9 v", 0, r, sizeof r), "error: print: PE(9,9) is outside the 3 x 3 fabric\n");
    WF_CHECK_STR(reply("print 1 1 zz", 0, r, sizeof r),
                 "error: print: PE(1,1) has no symbol 'zz' (symbols 1 1 lists them)\n");
    WF_CHECK_STR(reply("print 1 1 v 7:9", 0, r, sizeof r),
                 "error: print: range [7:9) is empty or outside v's 8 elements\n");
    WF_CHECK_STR(reply("queues 1 1 30", 0, r, sizeof r), "error: queues: expected X Y [COLOR] (color 0..23)\n");

    /* after the compute task: y is the stencil of the values printed above */
    WF_CHECK_STR(reply("step 100", 0, r, sizeof r), "stop: cycle 371: step\n");
    WF_CHECK_EQ(hexes(reply("print/x 1 1 y", 1, r, sizeof r), y1, NZ), NZ);
    const float c0 = -6.25f, cxm = 1.0f, cxp = 1.125f, cym = 0.875f, cyp = 1.0625f, czm = 0.9375f, czp = 1.03125f;
    for (int z = 0; z < NZ; z++) { /* the kernel's term order, each product rounded (no fma) */
        volatile float p = f32(vc[z]) * c0;
        float acc = p;
        if (z > 0) p = f32(vc[z - 1]) * czm, acc = acc + p;
        if (z < NZ - 1) p = f32(vc[z + 1]) * czp, acc = acc + p;
        p = f32(bw[z]) * cxm, acc = acc + p;
        p = f32(be[z]) * cxp, acc = acc + p;
        p = f32(bn[z]) * cym, acc = acc + p;
        p = f32(bs[z]) * cyp, acc = acc + p;
        WF_CHECK_FEQ(f32(y1[z]), acc);
    }
    WF_CHECK_HAS(out, "(wdb) continue\nend: cycle 506\n");
}

static void error_session(void) {
    char path[128], cmd[512], r[4096];
    script("error.wdb",
           "break error\ncontinue\nwhere\ntasks 1 0\nprint/x 0 0 y\ninfo breakpoints\ncontinue\n", path, sizeof path);
    snprintf(cmd, sizeof cmd, "gemv --m 8 --n 8 --kx 2 --ky 2 --fault oob --debug-script %s", path);
    WF_CHECK_EQ(run(cmd), 1);
    const char *msg = "task 30 'compute': fmacs: source b: memory DSD on symbol 'y' (16 bytes) "
                      "covers byte offsets [16,32) of it: runs 16 bytes past its end";
    reply("continue", 0, r, sizeof r);
    WF_CHECK(!strncmp(r, "stop: cycle ", 12));
    WF_CHECK_HAS(r, ": breakpoint 1: error: examples/gemv.c:");
    WF_CHECK_HAS(r, msg);
    WF_CHECK_HAS(reply("where", 0, r, sizeof r), "last task start: cycle ");
    WF_CHECK_HAS(r, "task 30 'compute' on PE(0,0)\n");
    /* PE(1,0) is still working: its compute task is activated, a send runs */
    WF_CHECK_HAS(reply("tasks 1 0", 0, r, sizeof r), "  task 30 'compute' local: ready ");
    WF_CHECK_HAS(r, "  op fmovs send color ");
    WF_CHECK_HAS(reply("print/x 0 0 y", 0, r, sizeof r), "PE(0,0) y[0:4] (4 elements, hex):\n  [0] 0x");
    WF_CHECK_STR(reply("info breakpoints", 0, r, sizeof r), "breakpoint 1: error, hit 1\n");
    /* continuing returns the error: the example reports it */
    WF_CHECK_HAS(reply("continue", 1, r, sizeof r), "gemv: error: examples/gemv.c:");
    WF_CHECK_HAS(r, msg);
    /* without `break error` the same run does not stop there */
    script("noerror.wdb", "continue\n", path, sizeof path);
    snprintf(cmd, sizeof cmd, "gemv --m 8 --n 8 --kx 2 --ky 2 --fault oob --debug-script %s", path);
    WF_CHECK_EQ(run(cmd), 1);
    WF_CHECK(strstr(out, "breakpoint") == NULL);
    WF_CHECK_HAS(out, msg);
}

/* A script's commands after the run look at the final state (they were
** dropped without a word); one that would run something says it cannot. */
static void commands_after_the_end(void) {
    WF_CHECK_EQ(run_script("end.wdb", "continue\nprint 2 0 y\nstep\nsymbols 0 0\n", "gemv --kx 3 --ky 2 --m 8 --n 9"), 0);
    WF_CHECK_HAS(out, "(wdb) continue\nend: cycle ");
    WF_CHECK_HAS(out, "(wdb) print 2 0 y\nPE(2,0) y[0:4] (4 elements, f32):\n");
    WF_CHECK_HAS(out, "(wdb) step\nthe run has ended: 'step' has nothing to run\n");
    WF_CHECK_HAS(out, "(wdb) symbols 0 0\nPE(0,0) kernel 'gemv' symbols:\n");
}

static void quit_stdin_and_bad_script(void) {
    char path[128], cmd[512];
    WF_CHECK_EQ(run_script("quit.wdb", "step 5\nquit\nwhere\n", "stencil --nx 3 --ny 3 --nz 8"), 1);
    WF_CHECK_HAS(out, "(wdb) step 5\nstop: cycle 132: step\n(wdb) quit\nquit at cycle 132\n");
    WF_CHECK_HAS(out, "stencil: error: debugger: quit at cycle 132\n");
    WF_CHECK(strstr(out, "(wdb) where") == NULL); /* nothing after quit is read */
    /* --debug reads stdin: no prompt and no echo when it is not a terminal */
    script("where.wdb", "where\n", path, sizeof path);
    snprintf(cmd, sizeof cmd, "%s/stencil --nx 3 --ny 3 --nz 8 --debug < %s", WF_EX_DIR, path);
    WF_CHECK_EQ(wf_run_cmd(cmd, out, sizeof out), 0);
    WF_CHECK(!strncmp(out, "stop: cycle 127: start of the first run\ncycle 127: start of the first run\n"
                           "end of commands: running to the end\nstencil {", 119));
    WF_CHECK_EQ(run("wsmm --debug"), 1);
    WF_CHECK_HAS(out, "wsmm: error: --debug: not available here (gemv, collectives, summa, stencil, sparse and fft");
    WF_CHECK_EQ(run("stencil --nx 3 --ny 3 --nz 8 --debug-script /nonexistent/x.wdb"), 1);
    WF_CHECK_HAS(out, "stencil: error: --debug-script: /nonexistent/x.wdb: cannot open: No such file or directory");
    /* a folder would read as an empty script (run to the end): refused */
    WF_CHECK_EQ(run("stencil --nx 3 --ny 3 --nz 8 --debug-script /tmp"), 1);
    WF_CHECK_HAS(out, "stencil: error: --debug-script: /tmp: not a regular file (a folder)");
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/wf_test_debug_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    stencil_session();
    error_session();
    quit_stdin_and_bad_script();
    commands_after_the_end();
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    if (system(rm) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return wf_check_report();
}
