/* test_defects.c — defect maps (sdk/defects.h): the file parser (good
** files, every bad-line message with file:line, hostile bytes), laying a
** program rectangle around dead PEs, routers and links (physical positions,
** hops per link, statistics, the errors when spares do not suffice or a
** link is cut off), random maps (same seed, same map), and a stream on the
** fabric: the same bits arrive, later by exactly the detour's extra hops,
** still one wavelet per cycle; allocation failures at every step. */
#include "../../sdk/sdk.h"
#include "../check.h"

#include <stdio.h>
#include <string.h>

/* ---- the parser ---------------------------------------------------------------- */
static wf_status parse(const char *text, wf_defects **d, wf_err *e) {
    return wf_defects_parse(text, strlen(text), "map.txt", d, e);
}

static void parser_reads_every_entry(void) {
    const char *t = "# a map\n"
                    "spare-cols 2\n"
                    "spare-rows 1   # trailing comment\n"
                    "\n"
                    "pe 1 0\n"
                    "  router\t2 2\r\n"
                    "link 0 1 EAST\n"
                    "link 3 1 n"; /* lower case is not a direction: see below */
    wf_defects *d = NULL;
    wf_err e = {0};
    WF_CHECK_EQ(parse(t, &d, &e), WF_ECORRUPT);
    WF_CHECK_STR(e.msg, "map.txt:8: link direction 'n', expected N, S, E or W");
    WF_CHECK(d == NULL);
    t = "# a map\nspare-cols 2\nspare-rows 1   # trailing comment\n\npe 1 0\n  router\t2 2\r\nlink 0 1 EAST\nlink 3 1 N";
    WF_CHECK_EQ(parse(t, &d, &e), WF_OK);
    wf_defect_map *m = NULL;
    WF_CHECK_EQ(wf_defects_map(d, 4, 3, &m, &e), WF_OK);
    if (m) {
        const wf_defect_stats *s = wf_defect_map_stats(m);
        WF_CHECK_EQ(s->pw, 6);
        WF_CHECK_EQ(s->ph, 4);
        WF_CHECK_EQ(s->spare_cols, 2);
        WF_CHECK_EQ(s->spare_rows, 1);
        WF_CHECK_EQ(s->dead_pes, 2);
        WF_CHECK_EQ(s->dead_routers, 1);
        WF_CHECK_EQ(s->dead_links, 2);
    }
    wf_defect_map_free(m);
    wf_defects_free(d);
}

/* Every bad line: the exact one-line message naming file and line. */
static void parser_rejects_bad_lines_with_file_and_line(void) {
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"pe 1 2\nbogus 1 2\n", "map.txt:2: unknown entry 'bogus', expected pe, router, link, spare-cols or spare-rows"},
        {"\n\npe 1\n", "map.txt:3: 'pe' needs X Y"},
        {"router\n", "map.txt:1: 'router' needs X Y"},
        {"link 1 2\n", "map.txt:1: 'link' needs X Y DIR"},
        {"spare-cols\n", "map.txt:1: 'spare-cols' needs a count"},
        {"pe -1 2\n", "map.txt:1: '-1' is not a number 0..100000"},
        {"pe 1 2x\n", "map.txt:1: '2x' is not a number 0..100000"},
        {"pe 100001 0\n", "map.txt:1: '100001' is not a number 0..100000"},
        {"pe 1 2 3\n", "map.txt:1: unexpected '3' after the entry"},
        {"link 1 2 UP\n", "map.txt:1: link direction 'UP', expected N, S, E or W"},
        {"# ok\npe 0 0\npe 0 0 # twice is fine\nlink 1 1 W extra\n", "map.txt:4: unexpected 'extra' after the entry"},
        {"peppppppppppppppppppppppppp 1 1\n",
         "map.txt:1: unknown entry 'pepppppppppppppp...', expected pe, router, link, spare-cols or spare-rows"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wf_defects *d = NULL;
        wf_err e = {0};
        WF_CHECK_EQ(parse(cases[i].text, &d, &e), WF_ECORRUPT);
        WF_CHECK_STR(e.msg, cases[i].msg);
        WF_CHECK(d == NULL);
    }
    /* hostile bytes: NULs, no newline at the end, a 64 KB line; must not crash */
    char junk[70000];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (char)(i * 131 + 7);
    wf_defects *d = NULL;
    wf_err e = {0};
    WF_CHECK(wf_defects_parse(junk, sizeof junk, "junk", &d, &e) != WF_OK);
    WF_CHECK(strncmp(e.msg, "junk:1: ", 8) == 0);
    for (const char *c = e.msg; *c; c++) WF_CHECK(*c >= 0x20 && *c < 0x7f); /* no raw bytes in the message */
    /* a NUL inside a number: shown, not cut off where the NUL is */
    WF_CHECK_EQ(wf_defects_parse("pe 1 1\0x\n", 9, "nul", &d, &e), WF_ECORRUPT);
    WF_CHECK_STR(e.msg, "nul:1: '1\\x00x' is not a number 0..100000");
    memset(junk, 'x', sizeof junk);
    WF_CHECK_EQ(wf_defects_parse(junk, sizeof junk, "junk", &d, &e), WF_ECORRUPT);
    WF_CHECK_EQ(wf_defects_parse("pe 1 1", 3, "cut", &d, &e), WF_ECORRUPT); /* "pe " only */
    WF_CHECK_STR(e.msg, "cut:1: 'pe' needs X Y");
    WF_CHECK_EQ(wf_defects_parse("", 0, "empty", &d, &e), WF_OK);
    wf_defects_free(d);
    /* a file: the same, with the path in the message */
    const char *path = "test_defects_bad.txt";
    FILE *f = fopen(path, "w");
    WF_CHECK(f != NULL);
    if (f) {
        fputs("pe 0 0\nlink 0 0 SOUTHWEST\n", f);
        fclose(f);
        WF_CHECK_EQ(wf_defects_load(path, &d, &e), WF_ECORRUPT);
        WF_CHECK_STR(e.msg, "test_defects_bad.txt:2: link direction 'SOUTHWEST', expected N, S, E or W");
        remove(path);
    }
    WF_CHECK(wf_defects_load("no/such/defects.txt", &d, &e) != WF_OK);
}

/* ---- laying a rectangle ---------------------------------------------------------- */
static wf_defect_map *lay(const char *text, int w, int h, wf_err *e) {
    wf_defects *d = NULL;
    wf_defect_map *m = NULL;
    if (parse(text, &d, e) == WF_OK) wf_defects_map(d, w, h, &m, e);
    wf_defects_free(d);
    return m;
}

static void dead_pe_shifts_its_row_into_a_spare_column(void) {
    wf_err e = {0};
    /* 4 x 3 program, 1 spare column and row: a 5 x 4 physical array */
    wf_defect_map *m = lay("spare-cols 1\nspare-rows 1\npe 1 1\n", 4, 3, &e);
    WF_CHECK(m != NULL);
    if (!m) return;
    int px, py;
    wf_defect_map_where(m, 0, 1, &px, &py);
    WF_CHECK_EQ(px, 0);
    wf_defect_map_where(m, 1, 1, &px, &py);
    WF_CHECK_EQ(px, 2); /* skips the dead PE */
    WF_CHECK_EQ(py, 1);
    wf_defect_map_where(m, 3, 1, &px, &py);
    WF_CHECK_EQ(px, 4); /* the spare column */
    wf_defect_map_where(m, 1, 0, &px, &py);
    WF_CHECK_EQ(px, 1); /* other rows keep their columns */
    WF_CHECK_EQ(wf_defect_map_hops(m, 0, 1, WF_PORT_E), 2); /* through the dead core's live router */
    WF_CHECK_EQ(wf_defect_map_hops(m, 1, 1, WF_PORT_W), 2);
    WF_CHECK_EQ(wf_defect_map_hops(m, 1, 1, WF_PORT_E), 1);
    WF_CHECK_EQ(wf_defect_map_hops(m, 1, 0, WF_PORT_S), 2); /* (1,0) to (2,1): one column over */
    WF_CHECK_EQ(wf_defect_map_hops(m, 1, 1, WF_PORT_N), 2);
    WF_CHECK_EQ(wf_defect_map_hops(m, 0, 0, WF_PORT_S), 1);
    WF_CHECK_EQ(wf_defect_map_hops(m, 3, 1, WF_PORT_E), 0); /* off the rectangle */
    const wf_defect_stats *s = wf_defect_map_stats(m);
    WF_CHECK_EQ(s->spare_cols_used, 1);
    WF_CHECK_EQ(s->spare_rows_used, 0);
    /* links longer than a hop: (0,1)E, then S of (1,0) (2,0) (3,0) and of (1,1) (2,1) (3,1) */
    WF_CHECK_EQ(s->detour_links, 7);
    WF_CHECK_EQ(s->extra_hops, 7);
    WF_CHECK_EQ(s->max_hops, 2);
    char pic[128];
    WF_CHECK_STR(wf_defect_map_draw(m, 16, 16, pic, sizeof pic), "....s\n.x...\n....s\nsssss\n");
    wf_defect_map_free(m);
}

static void dead_router_and_dead_link_force_detours(void) {
    wf_err e = {0};
    /* router dead: around it through the row below, 4 hops */
    wf_defect_map *m = lay("spare-cols 1\nspare-rows 1\nrouter 1 0\n", 3, 1, &e);
    WF_CHECK(m != NULL);
    if (m) {
        WF_CHECK_EQ(wf_defect_map_hops(m, 0, 0, WF_PORT_E), 4);
        WF_CHECK_EQ(wf_defect_map_hops(m, 1, 0, WF_PORT_E), 1);
        char pic[64];
        WF_CHECK_STR(wf_defect_map_draw(m, 8, 8, pic, sizeof pic), ".X..\nssss\n");
    }
    wf_defect_map_free(m);
    /* a dead link between two used PEs: 3 hops (down, across, up) */
    m = lay("spare-cols 1\nspare-rows 1\nlink 1 0 W\n", 3, 1, &e);
    WF_CHECK(m != NULL);
    if (m) {
        WF_CHECK_EQ(wf_defect_map_hops(m, 0, 0, WF_PORT_E), 3);
        WF_CHECK_EQ(wf_defect_map_hops(m, 1, 0, WF_PORT_W), 3);
        WF_CHECK_EQ(wf_defect_map_stats(m)->dead_links, 1);
    }
    wf_defect_map_free(m);
    /* a row with two dead PEs and one spare column goes to the spare row */
    m = lay("spare-cols 1\nspare-rows 1\npe 0 1\npe 2 1\n", 3, 3, &e);
    WF_CHECK(m != NULL);
    if (m) {
        int px, py;
        wf_defect_map_where(m, 0, 1, &px, &py);
        WF_CHECK_EQ(py, 2);
        WF_CHECK_EQ(wf_defect_map_hops(m, 0, 0, WF_PORT_S), 2); /* through the skipped row */
        WF_CHECK_EQ(wf_defect_map_stats(m)->spare_rows_used, 1);
        char pic[64];
        WF_CHECK_STR(wf_defect_map_draw(m, 8, 8, pic, sizeof pic), "...s\nx-x-\n...s\n...s\n");
    }
    wf_defect_map_free(m);
}

static void too_few_spares_is_an_error(void) {
    wf_err e = {0};
    WF_CHECK(lay("spare-cols 1\nspare-rows 1\npe 0 0\npe 1 0\npe 0 2\npe 2 2\n", 3, 3, &e) == NULL);
    WF_CHECK_EQ(e.code, WF_ESHAPE);
    WF_CHECK_STR(e.msg, "map.txt: 2 rows have more than 1 dead PE (the spare columns); they need 2 spare rows, 1 "
                        "available");
    WF_CHECK(lay("spare-cols 0\nspare-rows 0\npe 0 0\n", 3, 3, &e) == NULL);
    WF_CHECK_STR(e.msg, "map.txt: 1 rows have more than 0 dead PEs (the spare columns); they need 1 spare rows, 0 "
                        "available");
    /* outside the physical array: the file line */
    WF_CHECK(lay("spare-cols 1\nspare-rows 1\n\npe 4 0\n", 3, 3, &e) == NULL);
    WF_CHECK_EQ(e.code, WF_ERANGE);
    WF_CHECK_STR(e.msg, "map.txt:4: pe (4,0) is outside the physical array 4x4 (program 3x3 + 1 spare columns, 1 "
                        "spare rows)");
    WF_CHECK(lay("spare-cols 1\nspare-rows 1\nlink 3 3 S\n", 3, 3, &e) == NULL);
    WF_CHECK_STR(e.msg, "map.txt:3: link (3,3) SOUTH is outside the physical array 4x4 (program 3x3 + 1 spare "
                        "columns, 1 spare rows)");
    /* a link cut off: no spare row to go around by */
    WF_CHECK(lay("spare-cols 0\nspare-rows 0\nlink 0 0 E\n", 2, 1, &e) == NULL);
    WF_CHECK_EQ(e.code, WF_ESHAPE);
    WF_CHECK_STR(e.msg, "defects: logical PE(0,0) at physical (0,0) cannot reach logical PE(1,0) at (1,0): dead "
                        "routers and links cut every path");
}

static void random_maps_repeat_by_seed(void) {
    wf_defects *a = NULL, *b = NULL, *c = NULL;
    wf_err e = {0};
    WF_CHECK_EQ(wf_defects_random(7, 0.02, &a, &e), WF_OK);
    WF_CHECK_EQ(wf_defects_random(7, 0.02, &b, &e), WF_OK);
    WF_CHECK_EQ(wf_defects_random(8, 0.02, &c, &e), WF_OK);
    wf_defects_set_spares(a, 6, 10);
    wf_defects_set_spares(b, 6, 10);
    wf_defects_set_spares(c, 6, 10);
    wf_defect_map *ma = NULL, *mb = NULL, *mc = NULL;
    WF_CHECK_EQ(wf_defects_map(a, 100, 60, &ma, &e), WF_OK);
    WF_CHECK_EQ(wf_defects_map(b, 100, 60, &mb, &e), WF_OK);
    WF_CHECK_EQ(wf_defects_map(c, 100, 60, &mc, &e), WF_OK);
    if (ma && mb && mc) {
        const wf_defect_stats *sa = wf_defect_map_stats(ma), *sb = wf_defect_map_stats(mb), *sc = wf_defect_map_stats(mc);
        WF_CHECK_EQ(sa->dead_pes, sb->dead_pes);
        WF_CHECK_EQ(sa->dead_links, sb->dead_links);
        WF_CHECK_EQ(sa->extra_hops, sb->extra_hops);
        /* 106 x 70 PEs at 2%: about 148 dead PEs, 74 dead links */
        WF_CHECK(sa->dead_pes > 100 && sa->dead_pes < 200);
        WF_CHECK(sa->dead_links > 40 && sa->dead_links < 110);
        WF_CHECK(sa->dead_pes != sc->dead_pes || sa->extra_hops != sc->extra_hops);
        int same = 1;
        for (int y = 0; y < 60; y++)
            for (int x = 0; x < 100; x++) {
                int ax, ay, bx, by;
                wf_defect_map_where(ma, x, y, &ax, &ay);
                wf_defect_map_where(mb, x, y, &bx, &by);
                same &= ax == bx && ay == by;
            }
        WF_CHECK(same);
    }
    wf_defect_map_free(ma);
    wf_defect_map_free(mb);
    wf_defect_map_free(mc);
    wf_defects_free(a);
    wf_defects_free(b);
    wf_defects_free(c);
    WF_CHECK_EQ(wf_defects_random(1, 0.7, &a, &e), WF_EUSAGE);
    WF_CHECK_STR(e.msg, "defects: rate 0.7, expected 0 .. 0.5");
}

/* ---- on the fabric: a stream east along a row ------------------------------------- */
enum { C = 2, T_DONE = 40, N = 16 };
static const wf_symbol_decl syms[] = {{"buf", 4 * N}, {"log", 8}};
enum { S_BUF, S_LOG };
static void send_go(wf_pe *pe, uint32_t d) {
    (void)d;
    wf_fmovs(pe, wf_dsd_fabout(C, N), wf_dsd_mem1d(pe, wf_sym(pe, S_BUF), N, 1, 4), wf_async_activate(T_DONE));
}
static void recv_go(wf_pe *pe, uint32_t d) {
    (void)d;
    wf_fmovs(pe, wf_dsd_mem1d(pe, wf_sym(pe, S_BUF), N, 1, 4), wf_dsd_fabin(C, N), wf_async_activate(T_DONE));
}
static void mark_done(wf_pe *pe, uint32_t d) {
    (void)d;
    uint32_t *log = wf_sym(pe, S_LOG);
    log[0] = (uint32_t)wf_pe_cycle(pe);
}
static const wf_task_decl done_task[] = {{T_DONE, WF_TASK_LOCAL, mark_done, 0, "done"}};
static const wf_export_decl send_exp[] = {{"go", send_go}};
static const wf_export_decl recv_exp[] = {{"go", recv_go}};
static const wf_kernel sender = {"sender", syms, 2, done_task, 1, send_exp, 1, NULL};
static const wf_kernel receiver = {"receiver", syms, 2, done_task, 1, recv_exp, 1, NULL};

/* PE(0,0) streams N floats east; PE(1,0) takes a copy and passes them on to
** PE(2,0). Returns 0 on failure; done[i]: PE(i+1,0)'s receive done, cycles
** from the launch; got: what PE(2,0) received. */
static int stream(const char *map, uint32_t hop, uint64_t done[2], float got[N], uint64_t *hops) {
    wf_layout *l = NULL;
    wf_host *h = NULL;
    wf_defects *d = NULL;
    wf_err e = {0};
    int ok = 0;
    if (map && parse(map, &d, &e)) goto out;
    if (wf_layout_new(3, 1, &l, &e) || wf_layout_code(l, 0, 0, 1, 1, &sender, NULL, &e) ||
        wf_layout_code(l, 1, 0, 2, 1, &receiver, NULL, &e))
        goto out;
    wf_route r0 = wf_route_simple(WF_RAMP, WF_E), r1 = wf_route_simple(WF_W, WF_RAMP | WF_E),
             r2 = wf_route_simple(WF_W, WF_RAMP);
    if (wf_layout_route(l, 0, 0, 1, 1, C, &r0, &e) || wf_layout_route(l, 1, 0, 1, 1, C, &r1, &e) ||
        wf_layout_route(l, 2, 0, 1, 1, C, &r2, &e))
        goto out;
    wf_cost_model cm = wf_cost_wse2;
    cm.hop_latency = hop;
    cm.router_depth = hop + 1; /* full rate on one-hop links */
    wf_host_opts ho = {&cm, NULL, 0, 1, d};
    if (wf_host_new(l, &ho, &h, &e)) goto out;
    float v[N];
    for (int i = 0; i < N; i++) v[i] = 0.5f * (float)i - 3.25f;
    wf_memcpy m = {"buf", 0, 0, 0, 1, 1, N, 0, 4, WF_ROW_MAJOR};
    if (wf_host_h2d(h, &m, v, &e)) goto out;
    uint64_t t0 = wf_host_cycles(h);
    if (wf_host_launch(h, "go", &e)) goto out;
    for (int i = 0; i < 2; i++) {
        uint32_t lg[1];
        wf_memcpy ml = {"log", 0, i + 1, 0, 1, 1, 1, 0, 4, WF_ROW_MAJOR};
        if (wf_host_d2h(h, &ml, lg, &e)) goto out;
        done[i] = lg[0] - t0;
    }
    m.x = 2;
    if (wf_host_d2h(h, &m, got, &e)) goto out;
    wf_fabric_stats fs;
    wf_fabric_read_stats(wf_host_fabric(h), &fs);
    *hops = fs.hops;
    ok = 1;
out:
    if (!ok) fprintf(stderr, "stream(%s): %s\n", map ? map : "no defects", e.msg);
    wf_host_free(h);
    wf_layout_free(l);
    wf_defects_free(d);
    return ok;
}

static void detours_delay_a_stream_by_their_extra_hops(void) {
    static const uint32_t hops_lat[] = {1, 2, 8}; /* 8: a detour longer than the run loop's quiet spell */
    for (int hi = 0; hi < 3; hi++) {
        uint32_t hop = hops_lat[hi];
        uint64_t base[2], dd[2];
        float want[N], got[N];
        uint64_t hops0, hops;
        WF_CHECK(stream(NULL, hop, base, want, &hops0));
        for (int i = 0; i < N; i++) WF_CHECK_FEQ(want[i], 0.5f * (float)i - 3.25f);
        /* an empty map with spares: nothing moves, nothing costs */
        WF_CHECK(stream("spare-cols 1\nspare-rows 1\n", hop, dd, got, &hops));
        WF_CHECK_EQ(dd[0], base[0]);
        WF_CHECK_EQ(dd[1], base[1]);
        WF_CHECK_EQ(hops, hops0);
        static const struct {
            const char *map;
            uint64_t extra; /* extra hops on the link (0,0) -> (1,0) */
        } maps[] = {
            {"spare-cols 1\nspare-rows 1\npe 1 0\n", 1},     /* through the dead core's router */
            {"spare-cols 1\nspare-rows 1\nlink 0 0 E\n", 2}, /* down, across, up */
            {"spare-cols 1\nspare-rows 1\nrouter 1 0\n", 3}, /* around the dead router */
        };
        for (size_t k = 0; k < sizeof maps / sizeof maps[0]; k++) {
            WF_CHECK(stream(maps[k].map, hop, dd, got, &hops));
            WF_CHECK_EQ(memcmp(got, want, sizeof got), 0); /* the same bits */
            /* the stream arrives later by the detour's latency, and still at one
            ** wavelet per cycle (its routers' buffers come with it) */
            WF_CHECK_EQ(dd[0], base[0] + maps[k].extra * hop);
            WF_CHECK_EQ(dd[1], base[1] + maps[k].extra * hop);
            WF_CHECK_EQ(hops, hops0 + N * maps[k].extra);
        }
    }
}

/* Failing the k-th allocation, k = 0, 1, ...: ENOMEM and nothing leaks. */
static void allocation_failures_leak_nothing(void) {
    const char *t = "spare-cols 1\nspare-rows 1\npe 1 1\nrouter 2 0\nlink 0 2 E\n";
    size_t live0 = wf_heap_live(NULL);
    for (int k = 0; k < 200; k++) {
        wf_defects *d = NULL;
        wf_defect_map *m = NULL;
        wf_fabric *f = NULL;
        wf_err e = {0};
        wf_heap_fail_at(NULL, k);
        wf_status st = parse(t, &d, &e);
        if (!st) st = wf_defects_map(d, 4, 3, &m, &e);
        if (!st) st = wf_fabric_new(4, 3, NULL, NULL, &f, &e);
        if (!st) st = wf_defect_map_apply(m, f, &e);
        wf_heap_fail_at(NULL, -1);
        wf_fabric_free(f);
        wf_defect_map_free(m);
        wf_defects_free(d);
        WF_CHECK_EQ(wf_heap_live(NULL), live0);
        if (st == WF_OK) {
            WF_CHECK(k > 10); /* the parse, the map's arrays, the search, the fabric's hops */
            return;
        }
        WF_CHECK_EQ(st, WF_ENOMEM);
    }
    WF_CHECK(0); /* never succeeded */
}

/* The fabric-level call's checks. */
static void link_hops_are_checked(void) {
    wf_fabric *f = NULL;
    wf_err e = {0};
    WF_CHECK_EQ(wf_fabric_new(3, 2, NULL, NULL, &f, &e), WF_OK);
    if (!f) return;
    WF_CHECK_EQ(wf_fabric_set_link_hops(f, 2, 0, WF_PORT_E, 2, &e), WF_ERANGE);
    WF_CHECK_STR(e.msg, "fabric: set_link_hops: PE(2,0): link EAST leaves the 3x2 fabric");
    WF_CHECK_EQ(wf_fabric_set_link_hops(f, 0, 0, WF_PORT_S, 256, &e), WF_ERANGE);
    WF_CHECK_STR(e.msg, "fabric: set_link_hops: PE(0,0): link SOUTH: 256 hops (256 cycles), expected 1 .. 255 cycles "
                        "in flight");
    WF_CHECK_EQ(wf_fabric_set_link_hops(f, 0, 0, WF_PORT_RAMP, 2, &e), WF_EUSAGE);
    WF_CHECK_EQ(wf_fabric_set_link_hops(f, 0, 0, WF_PORT_E, 3, &e), WF_OK);
    WF_CHECK_EQ(wf_fabric_load(f, &e), WF_OK);
    WF_CHECK_EQ(wf_fabric_set_link_hops(f, 0, 0, WF_PORT_E, 3, &e), WF_EUSAGE); /* after load */
    wf_fabric_free(f);
}

int main(void) {
    parser_reads_every_entry();
    parser_rejects_bad_lines_with_file_and_line();
    dead_pe_shifts_its_row_into_a_spare_column();
    dead_router_and_dead_link_force_detours();
    too_few_spares_is_an_error();
    random_maps_repeat_by_seed();
    detours_delay_a_stream_by_their_extra_hops();
    link_hops_are_checked();
    allocation_failures_leak_nothing();
    return wf_check_report();
}
