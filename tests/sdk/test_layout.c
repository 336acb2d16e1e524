/* test_layout.c — every static check of the "compile" step rejects its
** case with the PE coordinates in the message, and a good layout passes. */
#include "../../sdk/sdk.h"
#include "../check.h"

static void nop(wf_pe *pe, uint32_t d) { (void)pe; (void)d; }

static const wf_symbol_decl big_syms[] = {{"a", 40000}, {"b", 6016}};
static const wf_kernel big = {"big", big_syms, 2, NULL, 0, NULL, 0, NULL};
static const wf_symbol_decl ok_syms[] = {{"a", 40000}, {"b", 5056}};
static const wf_kernel fits = {"fits", ok_syms, 2, NULL, 0, NULL, 0, NULL};

static void sram_overflow_names_pe_and_bytes(void) {
    wf_layout *l;
    wf_err e = {0};
    WF_CHECK_EQ(wf_layout_new(8, 8, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 0, 0, 3, 8, &fits, NULL, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_check(l, NULL, &e), WF_OK); /* 4096 + 40000 + 5056 = 49,152 exactly */
    WF_CHECK_EQ(wf_layout_code(l, 3, 7, 2, 1, &big, NULL, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_check(l, NULL, &e), WF_ESRAM);
    WF_CHECK_STR(e.msg, "layout: PE(3,7): kernel 'big': symbols need 50,112 bytes (incl. 4,096 code/stack), "
                        "SRAM is 49,152");
    wf_layout_free(l);
    /* per-region symbol sizes override the defaults */
    WF_CHECK_EQ(wf_layout_new(8, 8, &l, &e), WF_OK);
    uint32_t sz[2] = {100, 49152};
    wf_code_opts o = {NULL, 0, sz};
    WF_CHECK_EQ(wf_layout_code(l, 5, 2, 1, 1, &fits, &o, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_check(l, NULL, &e), WF_ESRAM);
    WF_CHECK_HAS(e.msg, "PE(5,2): kernel 'fits': symbols need 53,348 bytes");
    wf_layout_free(l);
}

static void route_conflicts_are_rejected(void) {
    wf_layout *l;
    wf_err e = {0};
    WF_CHECK_EQ(wf_layout_new(6, 4, &l, &e), WF_OK);
    wf_route a = wf_route_simple(WF_W, WF_RAMP), b = wf_route_simple(WF_W | WF_N, WF_E);
    wf_route src = wf_route_simple(WF_RAMP, WF_E), up = wf_route_simple(WF_RAMP, WF_S);
    WF_CHECK_EQ(wf_layout_route(l, 1, 2, 4, 1, 7, &a, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 0, 2, 1, 1, 7, &src, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 2, 2, 1, 1, 7, &a, &e), WF_OK); /* identical: fine */
    WF_CHECK_EQ(wf_layout_check(l, NULL, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 3, 1, 1, 2, 7, &b, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_check(l, NULL, &e), WF_ECOLOR);
    WF_CHECK_STR(e.msg, "layout: PE(3,2): color 7: routes conflict on input WEST: {WEST}->{RAMP} set by region (1,2) 4x1 "
                 "vs {NORTH,WEST}->{EAST} set by region (3,1) 1x2");
    wf_layout_free(l);
    WF_CHECK_EQ(wf_layout_new(6, 4, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 1, 0, 1, 1, 2, &src, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 1, 0, 1, 1, 2, &up, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_check(l, NULL, &e), WF_ECOLOR);
    WF_CHECK_HAS(e.msg, "PE(1,0): color 2: routes conflict on input RAMP: {RAMP}->{EAST} set by region (1,0) 1x1 "
                 "vs {RAMP}->{SOUTH} set by region (1,0) 1x1");
    wf_layout_free(l);
}

static void routes_off_the_edge_or_dangling_are_rejected(void) {
    wf_layout *l;
    wf_err e = {0};
    WF_CHECK_EQ(wf_layout_new(4, 4, &l, &e), WF_OK);
    wf_route n = wf_route_simple(WF_RAMP, WF_N);
    WF_CHECK_EQ(wf_layout_route(l, 2, 0, 1, 1, 4, &n, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_check(l, NULL, &e), WF_ECOLOR);
    WF_CHECK_STR(e.msg, "layout: PE(2,0): color 4: route sends NORTH off the fabric edge");
    wf_layout_free(l);
    WF_CHECK_EQ(wf_layout_new(4, 4, &l, &e), WF_OK);
    wf_route east = wf_route_simple(WF_RAMP, WF_E);
    WF_CHECK_EQ(wf_layout_route(l, 3, 1, 1, 1, 4, &east, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_check(l, NULL, &e), WF_ECOLOR);
    WF_CHECK_STR(e.msg, "layout: PE(3,1): color 4: route sends EAST off the fabric edge");
    wf_layout_free(l);
    /* a switch position that sends off the edge counts too */
    WF_CHECK_EQ(wf_layout_new(4, 4, &l, &e), WF_OK);
    wf_route sw = {{{WF_W, WF_RAMP}, {WF_W, WF_S}}, 2, 0, 0};
    wf_route src = wf_route_simple(WF_RAMP, WF_E);
    WF_CHECK_EQ(wf_layout_route(l, 0, 3, 1, 1, 9, &src, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 1, 3, 1, 1, 9, &sw, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_check(l, NULL, &e), WF_ECOLOR);
    WF_CHECK_STR(e.msg, "layout: PE(1,3): color 9: route sends SOUTH off the fabric edge");
    wf_layout_free(l);
    /* sending into a PE that does not accept the color */
    WF_CHECK_EQ(wf_layout_new(4, 4, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 1, 1, 1, 1, 4, &east, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_check(l, NULL, &e), WF_ECOLOR);
    WF_CHECK_STR(e.msg, "layout: PE(1,1): color 4: route sends EAST but PE(2,1) has no route for color 4 "
                        "accepting WEST");
    wf_route wrong = wf_route_simple(WF_N, WF_RAMP);
    WF_CHECK_EQ(wf_layout_route(l, 2, 1, 1, 1, 4, &wrong, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_check(l, NULL, &e), WF_ECOLOR);
    WF_CHECK_HAS(e.msg, "PE(2,1) has no route for color 4 accepting WEST");
    wf_layout_free(l);
}

static const wf_task_decl memcpy_task[] = {{22, WF_TASK_DATA, nop, 0, NULL}};
static const wf_kernel uses22 = {"uses22", NULL, 0, memcpy_task, 1, NULL, 0, NULL};
static const wf_task_decl dup_tasks[] = {{30, WF_TASK_LOCAL, nop, 0, NULL}, {30, WF_TASK_LOCAL, nop, 0, NULL}};
static const wf_kernel dup = {"dup", NULL, 0, dup_tasks, 2, NULL, 0, NULL};

static const wf_task_decl data30[] = {{30, WF_TASK_DATA, nop, 0, NULL}};
static const wf_kernel uses30 = {"uses30", NULL, 0, data30, 1, NULL, 0, NULL};
static const wf_symbol_decl unnamed_sym[] = {{"a", 4}, {NULL, 4}};
static const wf_export_decl unnamed_exp[] = {{NULL, nop}}, fnless_exp[] = {{"run", NULL}};
static const wf_kernel k_nullsym = {"ns", unnamed_sym, 2, NULL, 0, NULL, 0, NULL},
                       k_nosyms = {"nosyms", NULL, 2, NULL, 0, NULL, 0, NULL},
                       k_nullexp = {"ne", NULL, 0, NULL, 0, unnamed_exp, 1, NULL},
                       k_fnless = {"nf", NULL, 0, NULL, 0, fnless_exp, 1, NULL};

/* Declarations with NULL where a name, array or function belongs: an error
** naming the kernel and the entry (they crashed in strcmp). */
static void null_declarations_are_errors(void) {
    static const struct { const wf_kernel *k; const char *want; } cases[] = {
        {&k_nullsym, "kernel 'ns': symbol 1 has no name"},
        {&k_nosyms, "kernel 'nosyms': 2 symbols, 0 tasks, 0 exports declared, and each count > 0 needs its array"},
        {&k_nullexp, "kernel 'ne': export 0 has no name"},
        {&k_fnless, "kernel 'nf': export 'run' has no function"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        wf_layout *l;
        wf_err e = {0};
        WF_CHECK_EQ(wf_layout_new(2, 2, &l, &e), WF_OK);
        WF_CHECK_EQ(wf_layout_code(l, 1, 0, 1, 1, cases[i].k, NULL, &e), WF_EUSAGE);
        WF_CHECK_HAS(e.msg, "layout: code: PE(1,0): ");
        WF_CHECK_HAS(e.msg, cases[i].want);
        wf_layout_free(l);
    }
    wf_layout *l;
    wf_err e = {0};
    WF_CHECK_EQ(wf_layout_new(1, 1, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 0, 0, 1, 1, &fits, NULL, &e), WF_OK);
    wf_host *h = NULL;
    WF_CHECK_EQ(wf_host_new(l, NULL, &h, &e), WF_OK);
    if (h) {
        WF_CHECK_EQ(wf_host_launch(h, NULL, &e), WF_EUSAGE);
        WF_CHECK_HAS(e.msg, "launch: no function name (NULL)");
        wf_host_free(h);
    }
    wf_layout_free(l);
}

static void memcpy_colors_and_bad_tasks_are_rejected(void) {
    wf_layout *l;
    wf_err e = {0};
    WF_CHECK_EQ(wf_layout_new(4, 4, &l, &e), WF_OK);
    wf_route r = wf_route_simple(WF_W, WF_RAMP);
    for (int c = 21; c <= 23; c++) {
        WF_CHECK_EQ(wf_layout_route(l, 1, 2, 1, 1, c, &r, &e), WF_ECOLOR);
        WF_CHECK_HAS(e.msg, "PE(1,2): color 2");
        WF_CHECK_HAS(e.msg, "is reserved for memcpy (colors 21-23)");
    }
    WF_CHECK_EQ(wf_layout_route(l, 1, 2, 1, 1, 24, &r, &e), WF_ECOLOR);
    WF_CHECK_HAS(e.msg, "color 24, expected 0..23");
    WF_CHECK_EQ(wf_layout_code(l, 2, 3, 1, 1, &uses22, NULL, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_check(l, NULL, &e), WF_ECOLOR);
    WF_CHECK_STR(e.msg, "layout: PE(2,3): kernel 'uses22': data task on color 22: color 22 is reserved for "
                        "memcpy (colors 21-23)");
    wf_layout_free(l);
    WF_CHECK_EQ(wf_layout_new(4, 4, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 0, 1, 1, 1, &dup, NULL, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_check(l, NULL, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "PE(0,1): kernel 'dup': task ID 30 declared twice");
    wf_layout_free(l);
    /* a data task's ID is its color: 30 is no color (it was called memcpy's) */
    WF_CHECK_EQ(wf_layout_new(4, 4, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 0, 1, 1, 1, &uses30, NULL, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_check(l, NULL, &e), WF_ECOLOR);
    WF_CHECK_STR(e.msg, "layout: PE(0,1): kernel 'uses30': data task ID 30: a data task's ID is its color, 0..20");
    wf_layout_free(l);
}

static void regions_and_rectangles_are_checked(void) {
    wf_layout *l;
    wf_err e = {0};
    WF_CHECK_EQ(wf_layout_new(751, 10, &l, &e), WF_ERANGE);
    WF_CHECK_HAS(e.msg, "rectangle 751x10, expected at most 750x994");
    WF_CHECK_EQ(wf_layout_new(10, 10, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 0, 0, 4, 4, &fits, NULL, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 3, 3, 2, 2, &dup, NULL, &e), WF_EUSAGE);
    WF_CHECK_STR(e.msg, "layout: PE(3,3): kernel 'dup' overlaps the region of kernel 'fits' at (0,0) 4x4");
    WF_CHECK_EQ(wf_layout_code(l, 8, 8, 3, 1, &dup, NULL, &e), WF_ERANGE);
    WF_CHECK_HAS(e.msg, "rectangle (8,8) 3x1 is outside the 10x10 program rectangle");
    wf_layout_free(l);
}

/* nine colors delivered to one PE need nine input queues: rejected at load */
static void too_many_queues_fail_at_load(void) {
    wf_layout *l;
    wf_err e = {0};
    WF_CHECK_EQ(wf_layout_new(2, 1, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 0, 0, 2, 1, &fits, NULL, &e), WF_OK);
    wf_route s = wf_route_simple(WF_RAMP, WF_E), r = wf_route_simple(WF_W, WF_RAMP);
    for (int c = 0; c < 9; c++) {
        WF_CHECK_EQ(wf_layout_route(l, 0, 0, 1, 1, c, &s, &e), WF_OK);
        WF_CHECK_EQ(wf_layout_route(l, 1, 0, 1, 1, c, &r, &e), WF_OK);
    }
    WF_CHECK_EQ(wf_layout_check(l, NULL, &e), WF_OK);
    wf_host *h = NULL;
    WF_CHECK_EQ(wf_host_new(l, NULL, &h, &e), WF_ECOLOR);
    WF_CHECK(h == NULL);
    /* PE(0,0) sends 9 colors: all of them named, and the 7th as the first without a queue */
    WF_CHECK_HAS(e.msg, "fabric: PE(0,0): 9 colors need an output queue (routes from RAMP: 0, 1, 2, 3, 4, 5, 6, 7, 8), "
                        "a PE has 6 (queues 0..5); color 6 is the first without one");
    wf_layout_free(l);
}

/* Fault injection on the default heap the layout uses: every failure is
** WF_ENOMEM and leaves nothing behind; without failures the layout checks. */
static wf_status build_some_layout(long fail_at, wf_err *e) {
    wf_layout *l = NULL;
    wf_heap_fail_at(NULL, fail_at);
    wf_route r = wf_route_simple(WF_RAMP, WF_E), r2 = wf_route_simple(WF_W, WF_RAMP);
    wf_status st = wf_layout_new(4, 4, &l, e);
    if (!st) st = wf_layout_code(l, 0, 0, 2, 2, &fits, NULL, e);
    for (int i = 0; !st && i < 60; i++) st = wf_layout_route(l, 0, i % 4, 1, 1, i % 20, &r, e);
    for (int i = 0; !st && i < 60; i++) st = wf_layout_route(l, 1, i % 4, 1, 1, i % 20, &r2, e);
    if (!st) st = wf_layout_check(l, NULL, e);
    wf_heap_fail_at(NULL, -1);
    wf_layout_free(l);
    return st;
}

static void layout_allocation_failures_are_clean(void) {
    size_t base = wf_heap_live(NULL);
    wf_err e = {0};
    WF_CHECK_EQ(build_some_layout(-1, &e), WF_OK);
    int k;
    for (k = 0; k < 100; k++) {
        wf_status st = build_some_layout(k, &e);
        WF_CHECK_EQ(wf_heap_live(NULL), base);
        if (st == WF_OK) break;
        WF_CHECK_EQ(st, WF_ENOMEM);
    }
    WF_CHECK(k > 3 && k < 100);
}

/* The halo-color check: a kernel declares color 1 travels east (arrives
** from WEST, leaves EAST) and color 2 west; routes that swap them are
** rejected at layout, before any run. */
static void halo_noop(wf_pe *pe, uint32_t d) { (void)pe; (void)d; }
static const wf_task_decl halo_tasks[] = {{1, WF_TASK_DATA, halo_noop, 0, "from_west"},
                                          {2, WF_TASK_DATA, halo_noop, 0, "from_east"}};
static const wf_color_decl halo_colors[] = {{1, WF_DIR_W, WF_DIR_E, "east-going halo"},
                                            {2, WF_DIR_E, WF_DIR_W, "west-going halo"}};
static const wf_kernel halo_k = {"halo", NULL, 0, halo_tasks, 2, NULL, 0, NULL};
static wf_status halo_layout(int swap, wf_err *e) {
    wf_layout *l;
    WF_CHECK_EQ(wf_layout_new(2, 1, &l, e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 0, 0, 2, 1, &halo_k, NULL, e), WF_OK);
    WF_CHECK_EQ(wf_layout_directions(l, &halo_k, halo_colors, 2, e), WF_OK);
    wf_route se = wf_route_simple(WF_RAMP, WF_E), rw = wf_route_simple(WF_W, WF_RAMP);
    wf_route sw = wf_route_simple(WF_RAMP, WF_W), re = wf_route_simple(WF_E, WF_RAMP);
    int ce = swap ? 2 : 1, cw = swap ? 1 : 2;
    WF_CHECK_EQ(wf_layout_route(l, 0, 0, 1, 1, ce, &se, e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 1, 0, 1, 1, ce, &rw, e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 1, 0, 1, 1, cw, &sw, e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 0, 0, 1, 1, cw, &re, e), WF_OK);
    wf_status st = wf_layout_check(l, NULL, e);
    wf_layout_free(l);
    return st;
}
static void swapped_halo_colors_are_rejected(void) {
    wf_err e = {0};
    WF_CHECK_EQ(halo_layout(0, &e), WF_OK);
    WF_CHECK_EQ(halo_layout(1, &e), WF_ECOLOR);
    WF_CHECK_HAS(e.msg, "layout: PE(0,0): kernel 'halo': color 1 ('east-going halo'): the route delivers wavelets "
                        "from {EAST} to the core, the kernel declares them arriving only from other ports "
                        "(swapped halo colors?)");
}

int main(void) {
    swapped_halo_colors_are_rejected();
    null_declarations_are_errors();
    sram_overflow_names_pe_and_bytes();
    route_conflicts_are_rejected();
    routes_off_the_edge_or_dangling_are_rejected();
    memcpy_colors_and_bad_tasks_are_rejected();
    regions_and_rectangles_are_checked();
    too_many_queues_fail_at_load();
    layout_allocation_failures_are_clean();
    return wf_check_report();
}
