/* layout.c — the "compile" step: code regions, route rules, and the static
** checks that reject a program before it runs (SRAM overflow, conflicting or
** dangling routes, routes off the edge, memcpy colors), each naming the PE.
** Applying a checked layout configures a fabric. */
#include "sdk_int.h"

#include <stdio.h>
#include <string.h>

const char *wf_sdk_thousands(uint64_t v, char *buf, size_t n) {
    char tmp[32];
    int len = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v), o = 0;
    for (int i = 0; i < len && (size_t)o + 2 < n; i++) {
        if (i && (len - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = 0;
    return buf;
}

wf_status wf_layout_new(int w, int h, wf_layout **out, wf_err *err) {
    *out = NULL;
    if (w < 1 || h < 1 || w > WF_FABRIC_MAX_W || h > WF_FABRIC_MAX_H)
        return WF_FAIL(err, WF_ERANGE, "layout: rectangle %dx%d, expected at most %dx%d (WSE-2 program "
                       "rectangle)", w, h, WF_FABRIC_MAX_W, WF_FABRIC_MAX_H);
    wf_layout *l = wf_calloc(NULL, sizeof *l, "layout", err);
    if (!l) return WF_ENOMEM;
    l->w = w;
    l->h = h;
    l->owner = wf_alloc(NULL, (size_t)w * h * sizeof *l->owner, "layout owners", err);
    if (!l->owner) {
        wf_free(NULL, l);
        return WF_ENOMEM;
    }
    memset(l->owner, 0xff, (size_t)w * h * sizeof *l->owner);
    *out = l;
    return WF_OK;
}

void wf_layout_free(wf_layout *l) {
    if (!l) return;
    for (int i = 0; i < l->nregs; i++) {
        wf_free(NULL, l->regs[i].params);
        wf_free(NULL, l->regs[i].sym_bytes);
        wf_free(NULL, l->regs[i].sym_addr);
        wf_free(NULL, l->regs[i].img);
    }
    wf_free(NULL, l->regs);
    wf_free(NULL, l->rules);
    wf_free(NULL, l->owner);
    wf_free(NULL, l);
}

int wf_layout_w(const wf_layout *l) { return l->w; }
int wf_layout_h(const wf_layout *l) { return l->h; }

static wf_status check_rect(const wf_layout *l, int x, int y, int w, int h, const char *what, wf_err *err) {
    if (w < 1 || h < 1 || x < 0 || y < 0 || x + w > l->w || y + h > l->h)
        return WF_FAIL(err, WF_ERANGE, "layout: %s: rectangle (%d,%d) %dx%d is outside the %dx%d program "
                       "rectangle", what, x, y, w, h, l->w, l->h);
    return WF_OK;
}

/* The kernel's declarations as plain data: counts with their arrays, a
** name on every symbol and export, a function on every export (a NULL
** there had crashed the layout check or the launch in strcmp). */
static wf_status kernel_check(const wf_kernel *k, int x, int y, wf_err *err) {
    const char *kn = k->name ? k->name : "(no name)";
    if (k->nsymbols < 0 || k->ntasks < 0 || k->nexports < 0 || (k->nsymbols && !k->symbols) ||
        (k->ntasks && !k->tasks) || (k->nexports && !k->exports))
        return WF_FAIL(err, WF_EUSAGE, "layout: code: PE(%d,%d): kernel '%s': %d symbols, %d tasks, %d exports "
                       "declared, and each count > 0 needs its array", x, y, kn, k->nsymbols, k->ntasks,
                       k->nexports);
    for (int i = 0; i < k->nsymbols; i++)
        if (!k->symbols[i].name)
            return WF_FAIL(err, WF_EUSAGE, "layout: code: PE(%d,%d): kernel '%s': symbol %d has no name", x, y, kn, i);
    for (int i = 0; i < k->nexports; i++) {
        if (!k->exports[i].name)
            return WF_FAIL(err, WF_EUSAGE, "layout: code: PE(%d,%d): kernel '%s': export %d has no name", x, y, kn, i);
        if (!k->exports[i].fn)
            return WF_FAIL(err, WF_EUSAGE, "layout: code: PE(%d,%d): kernel '%s': export '%s' has no function", x, y,
                           kn, k->exports[i].name);
    }
    if (!k->name) return WF_FAIL(err, WF_EUSAGE, "layout: code: PE(%d,%d): a kernel without a name", x, y);
    return WF_OK;
}

wf_status wf_layout_code(wf_layout *l, int x, int y, int w, int h, const wf_kernel *k, const wf_code_opts *o,
                         wf_err *err) {
    wf_status st = check_rect(l, x, y, w, h, "code", err);
    if (st) return st;
    if (!k) return WF_FAIL(err, WF_EUSAGE, "layout: code: PE(%d,%d): no kernel", x, y);
    if ((st = kernel_check(k, x, y, err))) return st;
    for (int yy = y; yy < y + h; yy++)
        for (int xx = x; xx < x + w; xx++) {
            int32_t ow = l->owner[(size_t)yy * l->w + xx];
            if (ow >= 0)
                return WF_FAIL(err, WF_EUSAGE, "layout: PE(%d,%d): kernel '%s' overlaps the region of kernel "
                               "'%s' at (%d,%d) %dx%d", xx, yy, k->name, l->regs[ow].k->name, l->regs[ow].x,
                               l->regs[ow].y, l->regs[ow].w, l->regs[ow].h);
        }
    if (l->nregs == l->cregs) {
        int nc = l->cregs ? l->cregs * 2 : 16;
        wf_region *nr = wf_realloc(NULL, l->regs, (size_t)nc * sizeof *nr, "layout regions", err);
        if (!nr) return WF_ENOMEM;
        l->regs = nr;
        l->cregs = nc;
    }
    wf_region r;
    memset(&r, 0, sizeof r);
    r.x = x; r.y = y; r.w = w; r.h = h; r.k = k;
    size_t ns = k->nsymbols > 0 ? (size_t)k->nsymbols : 1;
    r.sym_bytes = wf_calloc(NULL, ns * sizeof *r.sym_bytes, "layout symbols", err);
    r.sym_addr = wf_calloc(NULL, ns * sizeof *r.sym_addr, "layout symbols", err);
    r.img = wf_calloc(NULL, sizeof *r.img, "layout image", err);
    if (o && o->nparams > 0) r.params = wf_alloc(NULL, (size_t)o->nparams * sizeof *r.params, "params", err);
    if (!r.sym_bytes || !r.sym_addr || !r.img || (o && o->nparams > 0 && !r.params)) {
        wf_free(NULL, r.sym_bytes);
        wf_free(NULL, r.sym_addr);
        wf_free(NULL, r.img);
        wf_free(NULL, r.params);
        return WF_ENOMEM;
    }
    if (o && o->nparams > 0) {
        memcpy(r.params, o->params, (size_t)o->nparams * sizeof *r.params);
        r.nparams = o->nparams;
    }
    for (int i = 0; i < k->nsymbols; i++)
        r.sym_bytes[i] = o && o->sym_bytes ? o->sym_bytes[i] : k->symbols[i].bytes;
    int idx = l->nregs++;
    l->regs[idx] = r;
    for (int yy = y; yy < y + h; yy++)
        for (int xx = x; xx < x + w; xx++) l->owner[(size_t)yy * l->w + xx] = idx;
    return WF_OK;
}

wf_status wf_layout_route(wf_layout *l, int x, int y, int w, int h, int color, const wf_route *r, wf_err *err) {
    wf_status st = check_rect(l, x, y, w, h, "route", err);
    if (st) return st;
    if (color < 0 || color >= WF_FABRIC_COLORS)
        return WF_FAIL(err, WF_ECOLOR, "layout: PE(%d,%d): color %d, expected 0..%d", x, y, color,
                       WF_FABRIC_COLORS - 1);
    if (color >= WF_FABRIC_MEMCPY_COLOR)
        return WF_FAIL(err, WF_ECOLOR, "layout: PE(%d,%d): color %d is reserved for memcpy (colors 21-23)", x, y,
                       color);
    int npos = r->npos ? r->npos : 1;
    if (npos > WF_FABRIC_SWITCH_POS || r->cur >= npos)
        return WF_FAIL(err, WF_EUSAGE, "layout: PE(%d,%d): color %d: %d switch positions (current %d), expected "
                       "1..3", x, y, color, npos, r->cur);
    for (int i = 0; i < npos; i++)
        if ((r->pos[i].rx | r->pos[i].tx) & ~0x1fu)
            return WF_FAIL(err, WF_EUSAGE, "layout: PE(%d,%d): color %d: bad port mask", x, y, color);
    if (l->nrules == l->crules) {
        size_t nc = l->crules ? l->crules * 2 : 64;
        wf_route_rule *nr = wf_realloc(NULL, l->rules, nc * sizeof *nr, "layout routes", err);
        if (!nr) return WF_ENOMEM;
        l->rules = nr;
        l->crules = nc;
    }
    wf_route_rule *rr = &l->rules[l->nrules++];
    memset(rr, 0, sizeof *rr);
    rr->x = x; rr->y = y; rr->w = w; rr->h = h; rr->color = color;
    rr->r = *r;
    rr->r.npos = (uint8_t)npos;
    for (int i = npos; i < WF_FABRIC_SWITCH_POS; i++) rr->r.pos[i].rx = rr->r.pos[i].tx = 0;
    return WF_OK;
}

static void ports_str(unsigned m, char *b, size_t n) {
    size_t o = 0;
    b[o++] = '{';
    for (int p = 0; p < WF_PORT_COUNT; p++)
        if (m >> p & 1) o += (size_t)snprintf(b + o, n - o, "%s%s", o > 1 ? "," : "", wf_port_name(p));
    snprintf(b + o, n - o, "}");
}

static int same_route(const wf_route *a, const wf_route *b) {
    if (a->npos != b->npos || a->cur != b->cur || (a->npos > 1 && a->ring != b->ring)) return 0;
    for (int i = 0; i < a->npos; i++)
        if (a->pos[i].rx != b->pos[i].rx || a->pos[i].tx != b->pos[i].tx) return 0;
    return 1;
}

static const int dx[4] = {0, 0, 1, -1};
static const int dy[4] = {-1, 1, 0, 0};
static const int opposite[4] = {WF_PORT_S, WF_PORT_N, WF_PORT_W, WF_PORT_E};

static unsigned all_rx(const wf_route *r) {
    unsigned m = 0;
    for (int i = 0; i < r->npos; i++) m |= r->pos[i].rx;
    return m;
}
static unsigned all_tx(const wf_route *r) {
    unsigned m = 0;
    for (int i = 0; i < r->npos; i++) m |= r->pos[i].tx;
    return m;
}

/* One rule as text: "{WEST}->{RAMP} set by region (1,2) 4x1"; positions
** joined with " | ", then "(ring)" when it wraps. */
static void rule_str(const wf_route_rule *r, char *b, size_t n) {
    size_t o = 0;
    char rx[64], tx[64];
    for (int i = 0; i < r->r.npos && o < n; i++) {
        ports_str(r->r.pos[i].rx, rx, sizeof rx);
        ports_str(r->r.pos[i].tx, tx, sizeof tx);
        o += (size_t)snprintf(b + o, n - o, "%s%s->%s", i ? " | " : "", rx, tx);
    }
    if (o < n && r->r.npos > 1 && r->r.ring) o += (size_t)snprintf(b + o, n - o, " (ring)");
    if (o < n) snprintf(b + o, n - o, " set by region (%d,%d) %dx%d", r->x, r->y, r->w, r->h);
}

static wf_status check_regions(const wf_layout *l, const wf_cost_model *cm, wf_err *err) {
    char b1[32], b2[32], b3[32];
    for (int ri = 0; ri < l->nregs; ri++) {
        const wf_region *r = &l->regs[ri];
        const wf_kernel *k = r->k;
        uint64_t need = cm->code_reserve;
        for (int i = 0; i < k->nsymbols; i++) {
            for (int j = 0; j < i; j++)
                if (strcmp(k->symbols[i].name, k->symbols[j].name) == 0)
                    return WF_FAIL(err, WF_EUSAGE, "layout: PE(%d,%d): kernel '%s': symbol '%s' declared twice",
                                   r->x, r->y, k->name, k->symbols[i].name);
            need = (need + 3) & ~(uint64_t)3;
            r->sym_addr[i] = (uint32_t)(need > UINT32_MAX ? UINT32_MAX : need);
            need += r->sym_bytes[i];
        }
        if (need > cm->sram_bytes)
            return WF_FAIL(err, WF_ESRAM, "layout: PE(%d,%d): kernel '%s': symbols need %s bytes (incl. %s "
                           "code/stack), SRAM is %s", r->x, r->y, k->name, wf_sdk_thousands(need, b1, sizeof b1),
                           wf_sdk_thousands(cm->code_reserve, b2, sizeof b2),
                           wf_sdk_thousands(cm->sram_bytes, b3, sizeof b3));
        uint64_t seen = 0;
        for (int i = 0; i < k->ntasks; i++) {
            const wf_task_decl *t = &k->tasks[i];
            if (t->id < 0 || t->id >= WF_FABRIC_TASKS || !t->fn)
                return WF_FAIL(err, WF_EUSAGE, "layout: PE(%d,%d): kernel '%s': task ID %d (expected 0..63, "
                               "with a function)", r->x, r->y, k->name, t->id);
            if (seen >> t->id & 1)
                return WF_FAIL(err, WF_EUSAGE, "layout: PE(%d,%d): kernel '%s': task ID %d declared twice", r->x,
                               r->y, k->name, t->id);
            seen |= 1ull << t->id;
            if (t->kind == WF_TASK_DATA && t->id >= WF_FABRIC_COLORS)
                return WF_FAIL(err, WF_ECOLOR, "layout: PE(%d,%d): kernel '%s': data task ID %d: a data task's ID is "
                               "its color, 0..%d", r->x, r->y, k->name, t->id, WF_FABRIC_MEMCPY_COLOR - 1);
            if (t->kind == WF_TASK_DATA && t->id >= WF_FABRIC_MEMCPY_COLOR)
                return WF_FAIL(err, WF_ECOLOR, "layout: PE(%d,%d): kernel '%s': data task on color %d: color %d "
                               "is reserved for memcpy (colors 21-23)", r->x, r->y, k->name, t->id, t->id);
        }
        wf_pe_image *img = r->img;
        img->kernel = k;
        img->sym_addr = r->sym_addr;
        img->sym_bytes = r->sym_bytes;
        img->sram_lo = cm->code_reserve;
        img->sram_hi = (uint32_t)need;
        if (img->sram_hi < img->sram_lo) img->sram_hi = img->sram_lo;
        img->params = r->params;
        img->nparams = r->nparams;
        img->rx0 = r->x; img->ry0 = r->y; img->rw = r->w; img->rh = r->h;
    }
    return WF_OK;
}

/* Per (PE, color): index of the rule that routes it, -1 none. Caller frees. */
static wf_status expand_routes(const wf_layout *l, int32_t **out, wf_err *err) {
    size_t n = (size_t)l->w * l->h * WF_FABRIC_COLORS;
    int32_t *m = wf_alloc(NULL, n * sizeof *m, "layout route map", err);
    if (!m) return WF_ENOMEM;
    memset(m, 0xff, n * sizeof *m);
    char b1[256], b2[256];
    for (size_t ri = 0; ri < l->nrules; ri++) {
        const wf_route_rule *r = &l->rules[ri];
        for (int y = r->y; y < r->y + r->h; y++)
            for (int x = r->x; x < r->x + r->w; x++) {
                int32_t *cell = &m[((size_t)y * l->w + x) * WF_FABRIC_COLORS + r->color];
                if (*cell >= 0) {
                    const wf_route *a = &l->rules[*cell].r, *b = &r->r;
                    if (same_route(a, b)) continue;
                    unsigned both = all_rx(a) & all_rx(b);
                    wf_status st;
                    rule_str(&l->rules[*cell], b1, sizeof b1);
                    rule_str(r, b2, sizeof b2);
                    if (both) {
                        int p = __builtin_ctz(both);
                        st = WF_FAIL(err, WF_ECOLOR, "layout: PE(%d,%d): color %d: routes conflict on input %s: "
                                     "%s vs %s", x, y, r->color, wf_port_name(p), b1, b2);
                    } else {
                        st = WF_FAIL(err, WF_ECOLOR, "layout: PE(%d,%d): color %d: two different routes for one "
                                     "color (a color has one route per PE): %s vs %s", x, y, r->color, b1, b2);
                    }
                    wf_free(NULL, m);
                    return st;
                }
                *cell = (int32_t)ri;
            }
    }
    *out = m;
    return WF_OK;
}

static wf_status check_routes(const wf_layout *l, const int32_t *m, wf_err *err) {
    for (int y = 0; y < l->h; y++)
        for (int x = 0; x < l->w; x++)
            for (int c = 0; c < WF_FABRIC_COLORS; c++) {
                int32_t ri = m[((size_t)y * l->w + x) * WF_FABRIC_COLORS + c];
                if (ri < 0) continue;
                unsigned tx = all_tx(&l->rules[ri].r);
                for (int p = 0; p < 4; p++) {
                    if (!(tx >> p & 1)) continue;
                    int nx = x + dx[p], ny = y + dy[p];
                    if (nx < 0 || ny < 0 || nx >= l->w || ny >= l->h)
                        return WF_FAIL(err, WF_ECOLOR, "layout: PE(%d,%d): color %d: route sends %s off the "
                                       "fabric edge", x, y, c, wf_port_name(p));
                    int32_t nr = m[((size_t)ny * l->w + nx) * WF_FABRIC_COLORS + c];
                    if (nr < 0 || !(all_rx(&l->rules[nr].r) >> opposite[p] & 1))
                        return WF_FAIL(err, WF_ECOLOR, "layout: PE(%d,%d): color %d: route sends %s but "
                                       "PE(%d,%d) has no route for color %d accepting %s", x, y, c,
                                       wf_port_name(p), nx, ny, c, wf_port_name(opposite[p]));
                }
            }
    return WF_OK;
}

/* The halo-color check: each region's declared color directions
** (wf_kernel.colors) against the routes on its PEs. */
wf_status wf_layout_directions(wf_layout *l, const wf_kernel *k, const wf_color_decl *c, int n, wf_err *err) {
    if (!k || n < 0 || (n && !c))
        return WF_FAIL(err, WF_EUSAGE, "layout: directions: kernel %s, %d colors: expected a kernel and a list",
                       k ? k->name : "NULL", n);
    for (int i = 0; i < n; i++)
        if (c[i].color < 0 || c[i].color >= WF_FABRIC_MEMCPY_COLOR)
            return WF_FAIL(err, WF_ECOLOR, "layout: kernel '%s': directions[%d]: color %d, expected 0..20",
                           k->name, i, c[i].color);
    if (l->ndirs >= (int)(sizeof l->dirs / sizeof l->dirs[0]))
        return WF_FAIL(err, WF_EUSAGE, "layout: directions: more than 16 kernels");
    l->dirs[l->ndirs++] = (wf_dir_rule){k, c, n};
    return WF_OK;
}

static wf_status check_directions(const wf_layout *l, const int32_t *m, wf_err *err) {
    _Static_assert(WF_DIR_N == WF_N && WF_DIR_S == WF_S && WF_DIR_E == WF_E && WF_DIR_W == WF_W,
                   "WF_DIR_* are the port masks");
    char b[64], w[64];
    for (int ri = 0; ri < l->nregs; ri++) {
        const wf_region *g = &l->regs[ri];
        for (int di = 0; di < l->ndirs; di++)
        for (int ci = 0; l->dirs[di].k == g->k && ci < l->dirs[di].n; ci++) {
            const wf_color_decl *cd = &l->dirs[di].c[ci];
            snprintf(w, sizeof w, "%s%s%s", cd->what ? " ('" : "", cd->what ? cd->what : "", cd->what ? "')" : "");
            for (int y = g->y; y < g->y + g->h; y++)
                for (int x = g->x; x < g->x + g->w; x++) {
                    int32_t rr = m[((size_t)y * l->w + x) * WF_FABRIC_COLORS + cd->color];
                    if (rr < 0) continue;
                    const wf_route *r = &l->rules[rr].r;
                    int np = r->npos ? r->npos : 1;
                    for (int p = 0; p < np; p++) {
                        unsigned rx = r->pos[p].rx, tx = r->pos[p].tx;
                        unsigned in = rx & ~WF_RAMP & 15u, out = tx & ~WF_RAMP & 15u;
                        if (cd->from && (tx & WF_RAMP) && (in & ~cd->from)) {
                            ports_str(in & ~cd->from, b, sizeof b);
                            return WF_FAIL(err, WF_ECOLOR, "layout: PE(%d,%d): kernel '%s': color %d%s: the route "
                                           "delivers wavelets from %s to the core, the kernel declares them "
                                           "arriving only from other ports (swapped halo colors?)", x, y,
                                           g->k->name, cd->color, w, b);
                        }
                        if (cd->to && (rx & WF_RAMP) && (out & ~cd->to)) {
                            ports_str(out & ~cd->to, b, sizeof b);
                            return WF_FAIL(err, WF_ECOLOR, "layout: PE(%d,%d): kernel '%s': color %d%s: the route "
                                           "sends the core's wavelets %s, the kernel declares them leaving only "
                                           "by other ports (swapped halo colors?)", x, y, g->k->name, cd->color,
                                           w, b);
                        }
                    }
                }
        }
    }
    return WF_OK;
}

wf_status wf_layout_check(const wf_layout *l, const wf_cost_model *cm, wf_err *err) {
    if (!cm) cm = &wf_cost_wse2;
    wf_status st = check_regions(l, cm, err);
    if (st) return st;
    int32_t *m = NULL;
    if ((st = expand_routes(l, &m, err))) return st;
    st = check_routes(l, m, err);
    if (!st) st = check_directions(l, m, err);
    wf_free(NULL, m);
    return st;
}

wf_status wf_layout_apply(const wf_layout *l, wf_fabric *f, wf_err *err) {
    if (wf_fabric_w(f) != l->w || wf_fabric_h(f) != l->h)
        return WF_FAIL(err, WF_EUSAGE, "layout: fabric is %dx%d, layout is %dx%d", wf_fabric_w(f),
                       wf_fabric_h(f), l->w, l->h);
    wf_status st = wf_layout_check(l, wf_fabric_cost(f), err);
    if (st) return st;
    for (int ri = 0; ri < l->nregs; ri++) {
        const wf_region *r = &l->regs[ri];
        for (int y = r->y; y < r->y + r->h; y++)
            for (int x = r->x; x < r->x + r->w; x++)
                if ((st = wf_fabric_set_image(f, x, y, r->img, err))) return st;
    }
    for (size_t i = 0; i < l->nrules; i++) {
        const wf_route_rule *r = &l->rules[i];
        for (int y = r->y; y < r->y + r->h; y++)
            for (int x = r->x; x < r->x + r->w; x++)
                if ((st = wf_fabric_set_route(f, x, y, r->color, &r->r, err))) return st;
    }
    return wf_fabric_load(f, err);
}
