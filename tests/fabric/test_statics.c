/* test_statics.c — the shared-static mistake of issue 18: a kernel keeping
** per-PE state in a C static (one variable for all simulated PEs). With
** wf_fabric_set_check_statics on, the first task that writes it fails the
** run naming PE, task and the kernel's file:line; per-PE state in a kernel
** symbol passes; with the check off the mistake is silent (wrong counts). */
#include "../../sdk/sdk.h"
#include "../check.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

enum { S_COUNT };
static const wf_symbol_decl syms[] = {{"count", 4}};

/* the CSL habit "module state is per PE", written in C: shared by every PE */
static int calls;
static void step_static(wf_pe *pe, uint32_t d) {
    (void)d;
    calls++;
    if (calls < 3) wf_activate(pe, 10);
    else {
        float v = (float)calls;
        memcpy(wf_sym(pe, S_COUNT), &v, 4);
    }
}
/* the same after an SDK call, which the message names */
enum { after_line_base = __LINE__ };
static void step_static_after(wf_pe *pe, uint32_t d) {
    (void)d;
    float *c = wf_sym(pe, S_COUNT);
    calls++;
    c[0] = (float)calls;
}
/* the right way: the counter in a kernel symbol, one per PE */
static void step_sym(wf_pe *pe, uint32_t d) {
    (void)d;
    float *c = wf_sym(pe, S_COUNT);
    c[0] += 1;
    if (c[0] < 3) wf_activate(pe, 10);
}
static void go(wf_pe *pe, uint32_t d) { (void)d; wf_activate(pe, 10); }
static const wf_task_decl t_static[] = {{10, WF_TASK_LOCAL, step_static, 0, "step"}};
static const wf_task_decl t_sym[] = {{10, WF_TASK_LOCAL, step_sym, 0, "step"}};
static const wf_export_decl ex[] = {{"go", go}};
static const wf_kernel k_static = {"static", syms, 1, t_static, 1, ex, 1, NULL};
static const wf_kernel k_sym = {"sym", syms, 1, t_sym, 1, ex, 1, NULL};
static const wf_task_decl t_after[] = {{10, WF_TASK_LOCAL, step_static_after, 0, "step"}};
static const wf_kernel k_after = {"after", syms, 1, t_after, 1, ex, 1, NULL};

/* Runs kernel k on 4 x 1 PEs; returns the launch status, e.msg, the counts. */
static wf_status run(const wf_kernel *k, int check, wf_err *e, float *counts) {
    wf_layout *l;
    wf_host *h;
    WF_CHECK_EQ(wf_layout_new(4, 1, &l, e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 0, 0, 4, 1, k, NULL, e), WF_OK);
    WF_CHECK_EQ(wf_host_new(l, NULL, &h, e), WF_OK);
    WF_CHECK_EQ(wf_fabric_set_check_statics(wf_host_fabric(h), check, e), WF_OK);
    calls = 0;
    wf_status st = wf_host_launch(h, "go", e);
    wf_memcpy m = {"count", 0, 0, 0, 4, 1, 1, 0, 4, WF_ROW_MAJOR};
    wf_err e2 = {0};
    WF_CHECK_EQ(wf_host_d2h(h, &m, counts, &e2), WF_OK);
    wf_host_free(h);
    wf_layout_free(l);
    return st;
}

/* wf_pe_param_f32: per-PE float parameters (a region each) */
static void put_param(wf_pe *pe, uint32_t d) {
    (void)d;
    float v = wf_pe_param_f32(pe, 1) + wf_pe_param_f32(pe, 5); /* 5: absent, 0.0f */
    memcpy(wf_sym(pe, S_COUNT), &v, 4);
}
static const wf_export_decl ex_p[] = {{"go", put_param}};
static const wf_kernel k_param = {"param", syms, 1, NULL, 0, ex_p, 1, NULL};
static void float_params(void) {
    wf_layout *l;
    wf_host *h;
    wf_err e = {0};
    int64_t p0[2] = {7, wf_param_f32(-1.25f)}, p1[2] = {7, wf_param_f32(3.0e-7f)};
    wf_code_opts o0 = {p0, 2, NULL}, o1 = {p1, 2, NULL};
    WF_CHECK_EQ(wf_layout_new(2, 1, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 0, 0, 1, 1, &k_param, &o0, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 1, 0, 1, 1, &k_param, &o1, &e), WF_OK);
    WF_CHECK_EQ(wf_host_new(l, NULL, &h, &e), WF_OK);
    WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_OK);
    float c[2] = {0, 0};
    wf_memcpy m = {"count", 0, 0, 0, 2, 1, 1, 0, 4, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_d2h(h, &m, c, &e), WF_OK);
    WF_CHECK(c[0] == -1.25f && c[1] == 3.0e-7f);
    wf_host_free(h);
    wf_layout_free(l);
}

int main(void) {
    float_params();
    wf_err e = {0};
    float c[4];
    /* the mistake, check off: it passes silently with wrong per-PE counts */
    WF_CHECK_EQ(run(&k_static, 0, &e, c), WF_OK);
    WF_CHECK(c[0] != 3 || c[1] != 3 || c[2] != 3 || c[3] != 3);
    /* check on: the first write fails the run, naming PE, task and file:line */
    WF_CHECK_EQ(run(&k_static, 1, &e, c), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "PE(0,0): cycle ");
    WF_CHECK_HAS(e.msg, "task 10 'step': wrote program static data: a C static/global in kernel code is one "
                        "variable shared by every simulated PE; keep per-PE state in a kernel symbol (wf_sym); "
                        "the write: at 0x");
    {   /* whole, not cut short by the build folder's path (CI's is longer than ours) */
        size_t n = strlen(e.msg);
        WF_CHECK(n + 1 < sizeof e.msg && n > 0 && e.msg[n - 1] == ')');
        WF_CHECK_HAS(e.msg, "(its last SDK call: ");
    }
    /* the address as nm prints it (this test is not linked with -rdynamic), in the program's file */
    WF_CHECK_HAS(e.msg, "test_fabric_statics: `nm -n` names the variable there)");
    {   /* nm's address is where `calls` is: the offset the message gives */
        const char *at = strstr(e.msg, " (0x");
        unsigned long long off = at ? strtoull(at + 2, NULL, 16) : 0;
        Dl_info di;
        WF_CHECK(dladdr((void *)&calls, &di) != 0);
        WF_CHECK_EQ(off, (unsigned long long)((const char *)&calls - (const char *)di.dli_fbase));
    }
    /* the task's last SDK call is in the text, not the error's site (the
    ** write is found after the task, wherever it was) */
    WF_CHECK_EQ(run(&k_after, 1, &e, c), WF_EUSAGE);
    WF_CHECK(strncmp(e.msg, "tests/", 6) != 0);
    char want[128];
    snprintf(want, sizeof want, "somewhere in the task's kernel code (its last SDK call: "
             "tests/fabric/test_statics.c:%d)", after_line_base + 3);
    WF_CHECK_HAS(e.msg, want);
    WF_CHECK(strlen(e.msg) >= strlen(want) && !strcmp(e.msg + strlen(e.msg) - strlen(want), want)); /* the end */
    /* per-PE state in a symbol: passes with the check on, every PE counts 3 */
    WF_CHECK_EQ(run(&k_sym, 1, &e, c), WF_OK);
    for (int i = 0; i < 4; i++) WF_CHECK(c[i] == 3.0f);
    return wf_check_report();
}
