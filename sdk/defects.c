/* defects.c — defect maps (a file, or drawn at random) and the layout of a
** logical program rectangle around them: rows with too many dead PEs go to
** spare rows, dead PEs in a kept row shift the rest of it east into spare
** columns, and every logical link is priced at the shortest physical path
** through live routers and links. The fabric only learns the links' lengths
** (wf_fabric_set_link_hops); everything else stays logical. */
#include "defects.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { D_PE, D_ROUTER, D_LINK };
typedef struct {
    uint8_t kind, dir;   /* D_*, WF_PORT_* for links */
    int x, y;
    int line;            /* in the file, 1-based */
} entry;

struct wf_defects {
    char name[256];      /* file name for messages */
    entry *e; size_t n, cap;
    int spare_cols, spare_rows; /* < 0: the default */
    int random;          /* 1: drawn when laid */
    uint64_t seed;
    double rate;
};

/* ---- parsing --------------------------------------------------------------- */
static wf_status add_entry(wf_defects *d, entry en, wf_err *err) {
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 16;
        entry *ne = wf_realloc(NULL, d->e, nc * sizeof *ne, "defect entries", err);
        if (!ne) return WF_ENOMEM;
        d->e = ne;
        d->cap = nc;
    }
    d->e[d->n++] = en;
    return WF_OK;
}

/* The next whitespace-separated word of [*p, end) on this line; 0 when none. */
static int word(const char **p, const char *end, const char **w, size_t *len) {
    const char *s = *p;
    while (s < end && (*s == ' ' || *s == '\t' || *s == '\r')) s++;
    if (s == end || *s == '#') {
        *p = end;
        return 0;
    }
    const char *b = s;
    while (s < end && *s != ' ' && *s != '\t' && *s != '\r' && *s != '#') s++;
    *w = b;
    *len = (size_t)(s - b);
    *p = s;
    return 1;
}

static int is_word(const char *w, size_t n, const char *lit) { return strlen(lit) == n && !memcmp(w, lit, n); }

/* A word for a message: its first 16 bytes, control and non-ASCII bytes as
** \xNN (a binary file or a NUL must not reach the terminal raw), "..." when
** cut. */
static const char *shown_word(const char *w, size_t n, char *out, size_t cap) {
    size_t at = 0;
    for (size_t i = 0; i < n && i < 16 && at + 5 < cap; i++) {
        unsigned char c = (unsigned char)w[i];
        if (c < 0x20 || c >= 0x7f || c == '\'') at += (size_t)snprintf(out + at, cap - at, "\\x%02x", c);
        else out[at++] = (char)c;
    }
    out[at] = 0;
    if (n > 16 && at + 4 < cap) snprintf(out + at, cap - at, "...");
    return out;
}

/* A decimal 0..100000 (no sign, no spaces); -1 when it is not one. */
static int number(const char *w, size_t n) {
    if (n == 0 || n > 6) return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (w[i] < '0' || w[i] > '9') return -1;
        v = v * 10 + (w[i] - '0');
    }
    return v <= 100000 ? v : -1;
}

#define LINE_FAIL(code, ...) do { st = WF_FAIL(err, code, __VA_ARGS__); goto fail; } while (0)

wf_status wf_defects_parse(const char *text, size_t n, const char *name, wf_defects **out, wf_err *err) {
    *out = NULL;
    wf_defects *d = wf_calloc(NULL, sizeof *d, "defects", err);
    if (!d) return WF_ENOMEM;
    snprintf(d->name, sizeof d->name, "%s", name ? name : "defects");
    d->spare_cols = d->spare_rows = -1;
    wf_status st = WF_OK;
    const char *p = text, *end = text + n;
    int line = 0;
    while (p < end) {
        line++;
        const char *le = memchr(p, '\n', (size_t)(end - p));
        if (!le) le = end;
        const char *q = p, *w;
        size_t wl;
        p = le < end ? le + 1 : end;
        if (!word(&q, le, &w, &wl)) continue;
        char shown[72], sa[72];
        shown_word(w, wl, shown, sizeof shown);
        int kind;
        if (is_word(w, wl, "pe")) kind = D_PE;
        else if (is_word(w, wl, "router")) kind = D_ROUTER;
        else if (is_word(w, wl, "link")) kind = D_LINK;
        else if (is_word(w, wl, "spare-cols") || is_word(w, wl, "spare-rows")) kind = -1;
        else
            LINE_FAIL(WF_ECORRUPT, "%s:%d: unknown entry '%s', expected pe, router, link, spare-cols or spare-rows",
                      d->name, line, shown);
        int nargs = kind == -1 ? 1 : kind == D_LINK ? 3 : 2, v[2] = {0, 0};
        uint8_t dir = 0;
        for (int a = 0; a < nargs; a++) {
            const char *aw;
            size_t al;
            if (!word(&q, le, &aw, &al))
                LINE_FAIL(WF_ECORRUPT, "%s:%d: '%s' needs %s", d->name, line, shown,
                          kind == -1 ? "a count" : kind == D_LINK ? "X Y DIR" : "X Y");
            if (a < 2) {
                v[a] = number(aw, al);
                if (v[a] < 0)
                    LINE_FAIL(WF_ECORRUPT, "%s:%d: '%s' is not a number 0..100000", d->name, line,
                              shown_word(aw, al, sa, sizeof sa));
            } else {
                static const char *const dn[4][2] = {{"N", "NORTH"}, {"S", "SOUTH"}, {"E", "EAST"}, {"W", "WEST"}};
                int found = -1;
                for (int k = 0; k < 4 && found < 0; k++)
                    if (is_word(aw, al, dn[k][0]) || is_word(aw, al, dn[k][1])) found = k;
                if (found < 0)
                    LINE_FAIL(WF_ECORRUPT, "%s:%d: link direction '%s', expected N, S, E or W", d->name, line,
                              shown_word(aw, al, sa, sizeof sa));
                dir = (uint8_t)found;
            }
        }
        const char *xw;
        size_t xl;
        if (word(&q, le, &xw, &xl))
            LINE_FAIL(WF_ECORRUPT, "%s:%d: unexpected '%s' after the entry", d->name, line,
                      shown_word(xw, xl, sa, sizeof sa));
        if (kind == -1) {
            if (w[6] == 'c') d->spare_cols = v[0];
            else d->spare_rows = v[0];
            continue;
        }
        entry en = {(uint8_t)kind, dir, v[0], v[1], line};
        if ((st = add_entry(d, en, err))) goto fail;
    }
    *out = d;
    return WF_OK;
fail:
    wf_defects_free(d);
    return st;
}

wf_status wf_defects_load(const char *path, wf_defects **out, wf_err *err) {
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    wf_status st = wf_file_read(NULL, path, &text, &len, err);
    if (st) return st;
    st = wf_defects_parse(text, len, path, out, err);
    wf_free(NULL, text);
    return st;
}

wf_status wf_defects_random(uint64_t seed, double rate, wf_defects **out, wf_err *err) {
    *out = NULL;
    if (!(rate >= 0 && rate <= 0.5))
        return WF_FAIL(err, WF_EUSAGE, "defects: rate %g, expected 0 .. 0.5", rate);
    wf_defects *d = wf_calloc(NULL, sizeof *d, "defects", err);
    if (!d) return WF_ENOMEM;
    snprintf(d->name, sizeof d->name, "random defects (seed %llu, rate %g)", (unsigned long long)seed, rate);
    d->spare_cols = d->spare_rows = -1;
    d->random = 1;
    d->seed = seed;
    d->rate = rate;
    *out = d;
    return WF_OK;
}

void wf_defects_set_spares(wf_defects *d, int cols, int rows) {
    if (cols >= 0) d->spare_cols = cols;
    if (rows >= 0) d->spare_rows = rows;
}

void wf_defects_free(wf_defects *d) {
    if (!d) return;
    wf_free(NULL, d->e);
    wf_free(NULL, d);
}

/* ---- the map ----------------------------------------------------------------- */
struct wf_defect_map {
    wf_defect_stats st;
    uint8_t *dead;       /* pw*ph: 0 live, 1 dead core, 2 dead router (and core) */
    uint8_t *ldead;      /* pw*ph: bit 0 the link east of the PE, bit 1 the link south */
    int *row;            /* h: physical row of logical row y */
    int *col;            /* w*h: physical column of logical (x,y) */
    uint8_t *hop_e;      /* w*h: physical hops of the link east of (x,y) (255 = 255 or more) */
    uint8_t *hop_s;      /* w*h: ... south */
    uint32_t *blk;       /* (pw+1)*(ph+1) prefix sums of blocked PEs (dead router or a dead link) */
    int *dist;           /* BFS scratch */
    int *queue;
    size_t scratch;
};

/* xorshift64* (Vigna), seeded through splitmix64: a uniform in [0,1). */
static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double uniform(uint64_t *x) {
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return (double)((*x * 0x2545F4914F6CDD1Dull) >> 11) * (1.0 / 9007199254740992.0);
}

static const int dx[4] = {0, 0, 1, -1}; /* N S E W */
static const int dy[4] = {-1, 1, 0, 0};

/* Whether the link from physical (x,y) by port p is dead (the neighbour is inside). */
static int link_dead(const wf_defect_map *m, int x, int y, int p) {
    int pw = m->st.pw;
    switch (p) {
    case WF_PORT_E: return m->ldead[(size_t)y * pw + x] & 1;
    case WF_PORT_W: return m->ldead[(size_t)y * pw + x - 1] & 1;
    case WF_PORT_S: return m->ldead[(size_t)y * pw + x] >> 1 & 1;
    default: return m->ldead[(size_t)(y - 1) * pw + x] >> 1 & 1;
    }
}

static uint32_t blocked_in(const wf_defect_map *m, int x0, int y0, int x1, int y1) { /* inclusive box */
    size_t W = (size_t)m->st.pw + 1;
    return m->blk[(size_t)(y1 + 1) * W + x1 + 1] - m->blk[(size_t)y0 * W + x1 + 1] - m->blk[(size_t)(y1 + 1) * W + x0] +
           m->blk[(size_t)y0 * W + x0];
}

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }

/* Shortest path in hops from physical a to b through live routers and links,
** searched inside the endpoints' box widened by `margin`; -1 when none there,
** -2 out of memory. */
static int bfs(wf_defect_map *m, int ax, int ay, int bx, int by, int margin, wf_err *err) {
    int x0 = imax(0, imin(ax, bx) - margin), x1 = imin(m->st.pw - 1, imax(ax, bx) + margin);
    int y0 = imax(0, imin(ay, by) - margin), y1 = imin(m->st.ph - 1, imax(ay, by) + margin);
    int ww = x1 - x0 + 1, hh = y1 - y0 + 1;
    size_t cells = (size_t)ww * hh;
    if (cells > m->scratch) {
        wf_free(NULL, m->dist);
        wf_free(NULL, m->queue);
        m->dist = wf_alloc(NULL, cells * sizeof *m->dist, "defect search", err);
        m->queue = wf_alloc(NULL, cells * sizeof *m->queue, "defect search", err);
        m->scratch = m->dist && m->queue ? cells : 0;
        if (!m->scratch) return -2;
    }
    for (size_t i = 0; i < cells; i++) m->dist[i] = -1;
    size_t qh = 0, qt = 0;
    int s = (ay - y0) * ww + (ax - x0), t = (by - y0) * ww + (bx - x0);
    m->dist[s] = 0;
    m->queue[qt++] = s;
    while (qh < qt) {
        int c = m->queue[qh++];
        if (c == t) return m->dist[c];
        int cx = c % ww + x0, cy = c / ww + y0;
        for (int p = 0; p < 4; p++) {
            int nx = cx + dx[p], ny = cy + dy[p];
            if (nx < x0 || ny < y0 || nx > x1 || ny > y1) continue;
            int ni = (ny - y0) * ww + (nx - x0);
            if (m->dist[ni] >= 0 || link_dead(m, cx, cy, p)) continue;
            if (m->dead[(size_t)ny * m->st.pw + nx] == 2) continue; /* a dead router passes nothing */
            m->dist[ni] = m->dist[c] + 1;
            m->queue[qt++] = ni;
        }
    }
    return -1;
}

/* Hops of the logical link from (x,y) to (x2,y2), or a failure. */
static wf_status link_hops(wf_defect_map *m, int x, int y, int x2, int y2, uint8_t *out, wf_err *err) {
    int w = m->st.w;
    int ax = m->col[(size_t)y * w + x], ay = m->row[y], bx = m->col[(size_t)y2 * w + x2], by = m->row[y2];
    int hops = -1;
    if (!blocked_in(m, imin(ax, bx), imin(ay, by), imax(ax, bx), imax(ay, by))) {
        hops = abs(ax - bx) + abs(ay - by); /* every monotone path is alive */
    } else {
        /* a path leaving the box widened by k is at least the Manhattan
        ** distance + 2 (k + 1) long: a shorter one found inside is the shortest */
        static const int margins[] = {2, 8, 32};
        int manh = abs(ax - bx) + abs(ay - by);
        for (int i = 0; i < 3; i++) {
            hops = bfs(m, ax, ay, bx, by, margins[i], err);
            if (hops == -2) return WF_ENOMEM;
            if (hops >= 0 && hops <= manh + 2 * (margins[i] + 1)) break;
        }
        if (hops < 0)
            return WF_FAIL(err, WF_ESHAPE, "defects: logical PE(%d,%d) at physical (%d,%d) cannot reach logical "
                           "PE(%d,%d) at (%d,%d): dead routers and links cut every path", x, y, ax, ay, x2, y2, bx, by);
    }
    *out = (uint8_t)(hops > 255 ? 255 : hops);
    if (hops > 1) {
        m->st.detour_links++;
        m->st.extra_hops += (uint64_t)hops - 1;
    }
    if (hops > m->st.max_hops) m->st.max_hops = hops;
    return WF_OK;
}

wf_status wf_defects_map(const wf_defects *d, int w, int h, wf_defect_map **out, wf_err *err) {
    *out = NULL;
    if (w < 1 || h < 1 || w > WF_FABRIC_MAX_W || h > WF_FABRIC_MAX_H)
        return WF_FAIL(err, WF_ERANGE, "defects: program rectangle %dx%d, expected 1x1 .. %dx%d", w, h,
                       WF_FABRIC_MAX_W, WF_FABRIC_MAX_H);
    int sc = d->spare_cols >= 0 ? d->spare_cols : 1 + w / 100;
    int sr = d->spare_rows >= 0 ? d->spare_rows : 1 + h / 100;
    if (sc > 256 || sr > 256)
        return WF_FAIL(err, WF_ERANGE, "%s: %d spare columns, %d spare rows: at most 256 each", d->name, sc, sr);
    wf_defect_map *m = wf_calloc(NULL, sizeof *m, "defect map", err);
    if (!m) return WF_ENOMEM;
    wf_status st = WF_OK;
    int pw = w + sc, ph = h + sr;
    size_t np = (size_t)pw * ph;
    m->st.w = w; m->st.h = h; m->st.pw = pw; m->st.ph = ph;
    m->st.spare_cols = sc; m->st.spare_rows = sr;
    m->dead = wf_calloc(NULL, np, "defect map", err);
    m->ldead = wf_calloc(NULL, np, "defect map", err);
    m->row = wf_calloc(NULL, (size_t)h * sizeof *m->row, "defect map", err);
    m->col = wf_calloc(NULL, (size_t)w * h * sizeof *m->col, "defect map", err);
    m->hop_e = wf_calloc(NULL, (size_t)w * h, "defect map", err);
    m->hop_s = wf_calloc(NULL, (size_t)w * h, "defect map", err);
    m->blk = wf_calloc(NULL, (size_t)(pw + 1) * (ph + 1) * sizeof *m->blk, "defect map", err);
    if (!m->dead || !m->ldead || !m->row || !m->col || !m->hop_e || !m->hop_s || !m->blk) {
        st = WF_ENOMEM;
        goto fail;
    }
    /* the defects on the physical array */
    if (d->random) {
        uint64_t sm = d->seed, x = splitmix(&sm) | 1;
        for (size_t i = 0; i < np; i++)
            if (uniform(&x) < d->rate) m->dead[i] = 1;
        for (int y = 0; y < ph; y++)
            for (int xx = 0; xx < pw; xx++) {
                if (xx + 1 < pw && uniform(&x) < d->rate / 4) m->ldead[(size_t)y * pw + xx] |= 1;
                if (y + 1 < ph && uniform(&x) < d->rate / 4) m->ldead[(size_t)y * pw + xx] |= 2;
            }
    }
    for (size_t i = 0; i < d->n; i++) {
        const entry *e = &d->e[i];
        static const char *const kn[] = {"pe", "router", "link"};
        int nx = e->x + (e->kind == D_LINK ? dx[e->dir] : 0), ny = e->y + (e->kind == D_LINK ? dy[e->dir] : 0);
        if (e->x >= pw || e->y >= ph || nx < 0 || ny < 0 || nx >= pw || ny >= ph) {
            st = WF_FAIL(err, WF_ERANGE, "%s:%d: %s (%d,%d)%s%s is outside the physical array %dx%d (program %dx%d + "
                         "%d spare columns, %d spare rows)", d->name, e->line, kn[e->kind], e->x, e->y,
                         e->kind == D_LINK ? " " : "", e->kind == D_LINK ? wf_port_name(e->dir) : "", pw, ph, w, h,
                         sc, sr);
            goto fail;
        }
        size_t at = (size_t)e->y * pw + e->x;
        if (e->kind == D_PE && !m->dead[at]) m->dead[at] = 1;
        else if (e->kind == D_ROUTER) m->dead[at] = 2;
        else if (e->kind == D_LINK) {
            int lx = imin(e->x, nx), ly = imin(e->y, ny);
            m->ldead[(size_t)ly * pw + lx] |= (uint8_t)(e->dir == WF_PORT_E || e->dir == WF_PORT_W ? 1 : 2);
        }
    }
    for (size_t i = 0; i < np; i++) {
        m->st.dead_pes += m->dead[i] != 0;
        m->st.dead_routers += m->dead[i] == 2;
        m->st.dead_links += (m->ldead[i] & 1) + (m->ldead[i] >> 1 & 1);
    }
    /* 1. rows: a row with more dead PEs than spare columns goes to a spare row */
    int kept = 0, bad = 0;
    for (int y = 0; y < ph; y++) {
        int nd = 0;
        for (int x = 0; x < pw; x++) nd += m->dead[(size_t)y * pw + x] != 0;
        if (nd > sc) {
            bad++;
            continue;
        }
        if (kept < h) m->row[kept++] = y;
    }
    if (kept < h) {
        st = WF_FAIL(err, WF_ESHAPE, "%s: %d rows have more than %d dead PE%s (the spare columns); they need %d spare "
                     "rows, %d available", d->name, bad, sc, sc == 1 ? "" : "s", bad, sr);
        goto fail;
    }
    m->st.spare_rows_used = m->row[h - 1] - (h - 1);
    /* 2. columns: the x-th live PE of the row */
    for (int y = 0; y < h; y++) {
        int r = m->row[y], x = 0;
        for (int c = 0; c < pw && x < w; c++)
            if (!m->dead[(size_t)r * pw + c]) m->col[(size_t)y * w + x++] = c;
        WF_ASSERT(x == w); /* the row has at most sc dead PEs */
        int used = m->col[(size_t)y * w + w - 1] - (w - 1);
        if (used > m->st.spare_cols_used) m->st.spare_cols_used = used;
    }
    /* 3. links: blocked PEs (a dead router, a dead link at it) in prefix sums,
    ** then each logical link's shortest path */
    for (int y = 0; y < ph; y++)
        for (int x = 0; x < pw; x++) {
            size_t i = (size_t)y * pw + x;
            int b = m->dead[i] == 2 || m->ldead[i] || (x > 0 && (m->ldead[i - 1] & 1)) ||
                    (y > 0 && (m->ldead[i - pw] & 2));
            size_t W = (size_t)pw + 1;
            m->blk[(size_t)(y + 1) * W + x + 1] =
                (uint32_t)b + m->blk[(size_t)y * W + x + 1] + m->blk[(size_t)(y + 1) * W + x] - m->blk[(size_t)y * W + x];
        }
    m->st.max_hops = w * h > 1 ? 1 : 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            if (x + 1 < w && (st = link_hops(m, x, y, x + 1, y, &m->hop_e[(size_t)y * w + x], err))) goto fail;
            if (y + 1 < h && (st = link_hops(m, x, y, x, y + 1, &m->hop_s[(size_t)y * w + x], err))) goto fail;
        }
    *out = m;
    return WF_OK;
fail:
    wf_defect_map_free(m);
    return st;
}

void wf_defect_map_free(wf_defect_map *m) {
    if (!m) return;
    wf_free(NULL, m->dead);
    wf_free(NULL, m->ldead);
    wf_free(NULL, m->row);
    wf_free(NULL, m->col);
    wf_free(NULL, m->hop_e);
    wf_free(NULL, m->hop_s);
    wf_free(NULL, m->blk);
    wf_free(NULL, m->dist);
    wf_free(NULL, m->queue);
    wf_free(NULL, m);
}

const wf_defect_stats *wf_defect_map_stats(const wf_defect_map *m) { return &m->st; }

void wf_defect_map_where(const wf_defect_map *m, int x, int y, int *px, int *py) {
    WF_ASSERT(x >= 0 && y >= 0 && x < m->st.w && y < m->st.h);
    *px = m->col[(size_t)y * m->st.w + x];
    *py = m->row[y];
}

int wf_defect_map_hops(const wf_defect_map *m, int x, int y, int port) {
    int w = m->st.w, h = m->st.h;
    if (x < 0 || y < 0 || x >= w || y >= h) return 0;
    switch (port) {
    case WF_PORT_E: return x + 1 < w ? m->hop_e[(size_t)y * w + x] : 0;
    case WF_PORT_W: return x > 0 ? m->hop_e[(size_t)y * w + x - 1] : 0;
    case WF_PORT_S: return y + 1 < h ? m->hop_s[(size_t)y * w + x] : 0;
    case WF_PORT_N: return y > 0 ? m->hop_s[(size_t)(y - 1) * w + x] : 0;
    default: return 0;
    }
}

wf_status wf_defect_map_apply(const wf_defect_map *m, wf_fabric *f, wf_err *err) {
    int w = m->st.w, h = m->st.h;
    if (wf_fabric_w(f) != w || wf_fabric_h(f) != h)
        return WF_FAIL(err, WF_EUSAGE, "defects: fabric is %dx%d, the map was laid for %dx%d", wf_fabric_w(f),
                       wf_fabric_h(f), w, h);
    wf_status st;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int he = m->hop_e[(size_t)y * w + x], hs = m->hop_s[(size_t)y * w + x];
            if (x + 1 < w && he > 1 && (st = wf_fabric_set_link_hops(f, x, y, WF_PORT_E, he, err))) return st;
            if (y + 1 < h && hs > 1 && (st = wf_fabric_set_link_hops(f, x, y, WF_PORT_S, hs, err))) return st;
        }
    return WF_OK;
}

const char *wf_defect_map_draw(const wf_defect_map *m, int max_w, int max_h, char *buf, size_t n) {
    int pw = imin(m->st.pw, max_w), ph = imin(m->st.ph, max_h);
    size_t o = 0;
    if (!n) return buf;
    buf[0] = 0;
    int ly = 0;
    for (int y = 0; y < ph; y++) {
        while (ly < m->st.h && m->row[ly] < y) ly++;
        int kept = ly < m->st.h && m->row[ly] == y;
        for (int x = 0; x < pw && o + 2 < n; x++) {
            uint8_t dd = m->dead[(size_t)y * m->st.pw + x];
            char c = dd == 2 ? 'X' : dd ? 'x' : !kept ? (y < m->row[m->st.h - 1] ? '-' : 's') : 's';
            if (!dd && kept) {
                /* in use when it is one of the row's w live PEs */
                int lastc = m->col[(size_t)ly * m->st.w + m->st.w - 1];
                c = x <= lastc ? '.' : 's';
            }
            buf[o++] = c;
        }
        if (o + 1 < n) buf[o++] = '\n';
        buf[o] = 0;
    }
    return buf;
}
