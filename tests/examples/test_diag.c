/* test_diag.c — the diagnostics writers of sdk/diag.h on a 3 x 2 fabric
** where PE(0,0) sends 5 wavelets to PE(1,0): trace window parsing and its
** messages, the trace JSON (events, window filter, event cap), the PNG
** heatmap (size, colours, untouched PEs black), and failure paths (allocation
** failure at every step, disk-full while writing). */
#include "../../sdk/diag.h"
#include "../../sdk/sdk.h"
#include "../check.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { C = 3, T_DONE = 30 };
static const wf_symbol_decl syms[] = {{"buf", 20}};
static void send_go(wf_pe *pe, uint32_t d) {
    (void)d;
    wf_fmovs(pe, wf_dsd_fabout(C, 5), wf_dsd_mem1d(pe, wf_sym(pe, 0), 5, 1, 4), wf_async_none());
}
static void recv_go(wf_pe *pe, uint32_t d) {
    (void)d;
    wf_fmovs(pe, wf_dsd_mem1d(pe, wf_sym(pe, 0), 5, 1, 4), wf_dsd_fabin(C, 5), wf_async_activate(T_DONE));
}
static void recv_done(wf_pe *pe, uint32_t d) {
    (void)pe;
    (void)d;
}
static const wf_export_decl send_exp[] = {{"go", send_go}};
static const wf_export_decl recv_exp[] = {{"go", recv_go}};
static const wf_task_decl recv_tasks[] = {{T_DONE, WF_TASK_LOCAL, recv_done, 0, "done"}};
static const wf_kernel send_k = {"send", syms, 1, NULL, 0, send_exp, 1, NULL};
static const wf_kernel recv_k = {"recv", syms, 1, recv_tasks, 1, recv_exp, 1, NULL};

static wf_host *make(wf_layout **lo) {
    wf_err e = {0};
    WF_CHECK_EQ(wf_layout_new(3, 2, lo, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(*lo, 0, 0, 1, 1, &send_k, NULL, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(*lo, 1, 0, 1, 1, &recv_k, NULL, &e), WF_OK);
    wf_route r0 = wf_route_simple(WF_RAMP, WF_E), r1 = wf_route_simple(WF_W, WF_RAMP);
    WF_CHECK_EQ(wf_layout_route(*lo, 0, 0, 1, 1, C, &r0, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(*lo, 1, 0, 1, 1, C, &r1, &e), WF_OK);
    wf_host *h = NULL;
    WF_CHECK_EQ(wf_host_new(*lo, NULL, &h, &e), WF_OK);
    return h;
}

static char dir[64];
static void path(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", dir, name); }

static void window_parse_names_the_problem(void) {
    wf_trace_window w;
    wf_err e = {0};
    WF_CHECK_EQ(wf_trace_window_parse("0,1,3,2,10,0", &w, &e), WF_OK);
    WF_CHECK_EQ(w.x0, 0);
    WF_CHECK_EQ(w.y1, 2);
    WF_CHECK_EQ(w.c0, 10);
    WF_CHECK_EQ(w.c1, 0);
    WF_CHECK_EQ(wf_trace_window_parse("0,1,3", &w, &e), WF_EUSAGE);
    WF_CHECK_STR(e.msg, "trace window '0,1,3': expected x0,y0,x1,y1,c0,c1 (six integers)");
    WF_CHECK_EQ(wf_trace_window_parse("0,0,1,1,5,5", &w, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "empty range");
    WF_CHECK_EQ(wf_trace_window_parse("0,0,1,1,0,0x", &w, &e), WF_EUSAGE);
    WF_CHECK_EQ(wf_trace_window_parse("-1,0,1,1,0,0", &w, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "negative value");
}

static int count(const cJSON *evs, const char *ph, const char *cat) {
    int n = 0;
    const cJSON *ev;
    cJSON_ArrayForEach(ev, evs) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(ev, "ph"), *c = cJSON_GetObjectItemCaseSensitive(ev, "cat");
        if (cJSON_IsString(p) && !strcmp(p->valuestring, ph) &&
            (!cat || (cJSON_IsString(c) && !strcmp(c->valuestring, cat))))
            n++;
    }
    return n;
}

static void trace_has_tasks_ops_hops_in_the_window(void) {
    wf_layout *l;
    wf_host *h = make(&l);
    wf_err e = {0};
    char p[128];
    path(p, sizeof p, "t.json");
    wf_tracer *t = NULL;
    wf_trace_window w = {1, 0, 2, 1, 0, 0}; /* PE(1,0) only */
    WF_CHECK_EQ(wf_tracer_open(wf_host_fabric(h), p, &w, 0, &t, &e), WF_OK);
    WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_OK);
    /* PE(1,0): launch + done tasks, 1 async receive op, 5 hops to RAMP, 5 deliveries */
    WF_CHECK_EQ(wf_tracer_events(t), 2 + 1 + 5 + 5);
    WF_CHECK_EQ(wf_tracer_close(t, &e), WF_OK);
    char *txt = NULL;
    size_t len;
    WF_CHECK_EQ(wf_file_read(NULL, p, &txt, &len, &e), WF_OK);
    cJSON *j = txt ? cJSON_Parse(txt) : NULL;
    WF_CHECK(j != NULL);
    if (j) {
        const cJSON *evs = cJSON_GetObjectItemCaseSensitive(j, "traceEvents");
        WF_CHECK_EQ(count(evs, "X", "task"), 2);
        WF_CHECK_EQ(count(evs, "X", "op"), 1);
        WF_CHECK_EQ(count(evs, "i", "hop"), 5);
        WF_CHECK_EQ(count(evs, "i", "deliver"), 5);
        WF_CHECK_HAS(txt, "\"name\":\"PE(1,0)\"");
        WF_CHECK(!strstr(txt, "PE(0,0)"));
        WF_CHECK_HAS(txt, "\"name\":\"out RAMP\"");
        cJSON_Delete(j);
    }
    wf_free(NULL, txt);
    wf_host_free(h);
    wf_layout_free(l);
    remove(p);
}

static void trace_cap_drops_and_counts(void) {
    wf_layout *l;
    wf_host *h = make(&l);
    wf_err e = {0};
    char p[128];
    path(p, sizeof p, "cap.json");
    wf_tracer *t = NULL;
    WF_CHECK_EQ(wf_tracer_open(wf_host_fabric(h), p, NULL, 4, &t, &e), WF_OK);
    WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_OK);
    WF_CHECK_EQ(wf_tracer_events(t), 4);
    WF_CHECK(wf_tracer_dropped(t) > 0);
    WF_CHECK_EQ(wf_tracer_close(t, &e), WF_OK);
    char *txt = NULL;
    size_t len;
    WF_CHECK_EQ(wf_file_read(NULL, p, &txt, &len, &e), WF_OK);
    cJSON *j = txt ? cJSON_Parse(txt) : NULL;
    WF_CHECK(j != NULL);
    cJSON_Delete(j);
    WF_CHECK_HAS(txt, "\"metadata\":{\"events\":4,\"dropped\":");
    wf_free(NULL, txt);
    /* an empty window is refused */
    wf_trace_window w = {2, 0, 2, 1, 0, 0};
    WF_CHECK_EQ(wf_tracer_open(wf_host_fabric(h), p, &w, 0, &t, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "trace: window 2,0,2,1,0,0 is empty on the 3x2 fabric");
    wf_host_free(h);
    wf_layout_free(l);
    remove(p);
}

/* A program that exits on an error path without wf_tracer_close keeps its
** trace: the file is committed at exit (valid JSON, no temporary left). */
static void trace_committed_at_exit(void) {
    char p[128];
    path(p, sizeof p, "exit.json");
    pid_t pid = fork();
    WF_CHECK(pid >= 0);
    if (pid == 0) {
        wf_layout *l;
        wf_host *h = make(&l);
        wf_err e = {0};
        wf_tracer *t = NULL;
        if (wf_tracer_open(wf_host_fabric(h), p, NULL, 0, &t, &e) || wf_host_launch(h, "go", &e)) _exit(1);
        wf_host_free(h); /* the error path: everything freed but the tracer */
        wf_layout_free(l);
        exit(3);
    }
    int status = 0;
    WF_CHECK(waitpid(pid, &status, 0) == pid);
    WF_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 3);
    char *txt = NULL;
    size_t len;
    wf_err e = {0};
    WF_CHECK_EQ(wf_file_read(NULL, p, &txt, &len, &e), WF_OK);
    cJSON *j = txt ? cJSON_Parse(txt) : NULL;
    WF_CHECK(j != NULL);
    if (j) {
        const cJSON *evs = cJSON_GetObjectItemCaseSensitive(j, "traceEvents");
        WF_CHECK(cJSON_GetArraySize(evs) > 10);
        cJSON_Delete(j);
    }
    wf_free(NULL, txt);
    remove(p);
    DIR *d = opendir(dir); /* nothing else left behind */
    int others = 0;
    for (struct dirent *de; d && (de = readdir(d));)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) others++;
    if (d) closedir(d);
    WF_CHECK_EQ(others, 0);
}

static void heatmap_png_shape_and_colours(void) {
    wf_layout *l;
    wf_host *h = make(&l);
    wf_err e = {0};
    WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_OK);
    char p[128];
    path(p, sizeof p, "h.png");
    uint64_t mx = 0;
    WF_CHECK_EQ(wf_heatmap_write(wf_host_fabric(h), p, WF_HEAT_HOPS, 2, &mx, &e), WF_OK);
    WF_CHECK_EQ(mx, 5); /* each router forwards the 5 wavelets once */
    WF_CHECK_EQ(wf_heatmap_write(wf_host_fabric(h), p, WF_HEAT_BANK, 2, &mx, &e), WF_OK);
    WF_CHECK_EQ(mx, 0); /* no op here has two memory sources: no bank conflict anywhere */
    WF_CHECK_EQ(wf_heatmap_write(wf_host_fabric(h), p, WF_HEAT_HOPS, 2, &mx, &e), WF_OK);
    char *txt = NULL;
    size_t len;
    WF_CHECK_EQ(wf_file_read(NULL, p, &txt, &len, &e), WF_OK);
    if (txt) {
        const unsigned char *u = (const unsigned char *)txt;
        WF_CHECK(len > 24 && u[0] == 0x89 && u[1] == 'P');
        WF_CHECK_EQ((u[16] << 24 | u[17] << 16 | u[18] << 8 | u[19]), 3 * 2);
        WF_CHECK_EQ((u[20] << 24 | u[21] << 16 | u[22] << 8 | u[23]), 2 * 2 + 6);
    }
    wf_free(NULL, txt);
    WF_CHECK_EQ(wf_heatmap_write(wf_host_fabric(h), p, WF_HEAT_BUSY, 65, NULL, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "heatmap: scale 65, expected 1..64");
    WF_CHECK_EQ(wf_heatmap_write(wf_host_fabric(h), "/nonexistent-dir/h.png", WF_HEAT_BUSY, 0, NULL, &e), WF_EIO);
    WF_CHECK_HAS(e.msg, "heatmap: ");
    WF_CHECK_HAS(e.msg, "/nonexistent-dir/h.png");
    /* disk full in the middle of the PNG: an error, and no file left behind */
    char q[128];
    path(q, sizeof q, "full.png");
    wf_file_fail_write_at(0);
    WF_CHECK(wf_heatmap_write(wf_host_fabric(h), q, WF_HEAT_BUSY, 0, NULL, &e) != WF_OK);
    wf_file_fail_write_at(-1);
    WF_CHECK(!wf_path_exists(q));
    wf_host_free(h);
    wf_layout_free(l);
    remove(p);
}

static void allocation_failures_leak_nothing(void) {
    wf_layout *l;
    wf_host *h = make(&l);
    wf_err e = {0};
    char p[128];
    path(p, sizeof p, "f.json");
    size_t live0 = wf_heap_live(NULL);
    int k;
    for (k = 0; k < 50; k++) {
        wf_tracer *t = NULL;
        wf_heap_fail_at(NULL, k);
        wf_status st = wf_tracer_open(wf_host_fabric(h), p, NULL, 0, &t, &e);
        wf_heap_fail_at(NULL, -1);
        if (st == WF_OK) {
            WF_CHECK_EQ(wf_tracer_close(t, &e), WF_OK);
            break;
        }
        WF_CHECK_EQ(st, WF_ENOMEM);
        WF_CHECK_EQ(wf_heap_live(NULL), live0);
    }
    WF_CHECK(k > 0 && k < 50);
    for (k = 0; k < 50; k++) {
        wf_heap_fail_at(NULL, k);
        wf_status st = wf_heatmap_write(wf_host_fabric(h), p, WF_HEAT_BUSY, 0, NULL, &e);
        wf_heap_fail_at(NULL, -1);
        if (st == WF_OK) break;
        WF_CHECK_EQ(st, WF_ENOMEM);
        WF_CHECK_EQ(wf_heap_live(NULL), live0);
    }
    WF_CHECK(k > 0 && k < 50);
    wf_host_free(h);
    wf_layout_free(l);
    remove(p);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/wf_test_diag_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    window_parse_names_the_problem();
    trace_has_tasks_ops_hops_in_the_window();
    trace_cap_drops_and_counts();
    trace_committed_at_exit();
    heatmap_png_shape_and_colours();
    allocation_failures_leak_nothing();
    rmdir(dir);
    return wf_check_report();
}
