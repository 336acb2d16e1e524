/* host.c — the host runtime: a fabric made from a checked layout, memcpy
** between host buffers and PE rectangles (copy mode: straight into SRAM,
** charged by the analytic west-edge I/O model; streaming mode: wavelets
** injected into each PE's input queue for a color), launch of exported
** functions. Every call ends by running the fabric to quiescence. */
#include "host.h"
#include "sdk_int.h"

#include <stdio.h>
#include <string.h>

struct wf_host {
    const wf_layout *l;
    wf_fabric *f;
    wf_host_opts o;
    wf_defect_map *dm;   /* owned; NULL without defects */
};

wf_status wf_host_new(const wf_layout *l, const wf_host_opts *o, wf_host **out, wf_err *err) {
    *out = NULL;
    wf_host_opts def = {0};
    if (!o) o = &def;
    wf_host *h = wf_calloc(o->heap, sizeof *h, "host", err);
    if (!h) return WF_ENOMEM;
    h->l = l;
    h->o = *o;
    if (h->o.max_cycles == 0) h->o.max_cycles = WF_HOST_MAX_CYCLES;
    if (h->o.max_cycles == UINT64_MAX) h->o.max_cycles = 0; /* wf_fabric_run: 0 = none */
    wf_status st = wf_fabric_new(l->w, l->h, o->cost, o->heap, &h->f, err);
    if (st) goto fail;
    if ((st = wf_fabric_set_threads(h->f, o->threads ? o->threads : 1, err))) goto fail;
    if (o->defects) { /* before load: the link lengths size the router buffers */
        if ((st = wf_defects_map(o->defects, l->w, l->h, &h->dm, err))) goto fail;
        if ((st = wf_defect_map_apply(h->dm, h->f, err))) goto fail;
    }
    h->o.defects = NULL; /* borrowed for this call only */
    if ((st = wf_layout_apply(l, h->f, err))) goto fail;
    if ((st = wf_fabric_run(h->f, o->max_cycles, err))) goto fail;
    *out = h;
    return WF_OK;
fail:
    wf_host_free(h);
    return st;
}

void wf_host_free(wf_host *h) {
    if (!h) return;
    wf_fabric_free(h->f);
    wf_defect_map_free(h->dm);
    wf_free(h->o.heap, h);
}

wf_fabric *wf_host_fabric(wf_host *h) { return h->f; }
uint64_t wf_host_cycles(const wf_host *h) { return wf_fabric_now(h->f); }
const wf_defect_stats *wf_host_defects(const wf_host *h) { return h->dm ? wf_defect_map_stats(h->dm) : NULL; }
const wf_defect_map *wf_host_defect_map(const wf_host *h) { return h->dm; }

/* Host buffer index of element e of PE (px,py) of the rectangle. */
static size_t host_index(const wf_memcpy *m, int px, int py, uint32_t e) {
    if (m->order == WF_COL_MAJOR) return (size_t)py + (size_t)m->h * ((size_t)px + (size_t)m->w * e);
    return ((size_t)py * m->w + px) * m->n + e;
}

static wf_status check_memcpy(wf_host *h, const wf_memcpy *m, const char *what, wf_err *err) {
    if (m->w < 1 || m->h < 1 || m->x < 0 || m->y < 0 || m->x + m->w > h->l->w || m->y + m->h > h->l->h)
        return WF_FAIL(err, WF_ERANGE, "%s: rectangle (%d,%d) %dx%d is outside the %dx%d program rectangle", what,
                       m->x, m->y, m->w, m->h, h->l->w, h->l->h);
    if (m->esize != 2 && m->esize != 4)
        return WF_FAIL(err, WF_EUSAGE, "%s: element size %d bytes, expected 2 or 4", what, m->esize);
    if (m->order != WF_ROW_MAJOR && m->order != WF_COL_MAJOR)
        return WF_FAIL(err, WF_EUSAGE, "%s: bad order %d", what, (int)m->order);
    return WF_OK;
}

/* Copy mode: resolve the symbol on PE (x,y); returns the element pointer. */
static uint8_t *sym_ptr(wf_host *h, const wf_memcpy *m, int x, int y, const char *what, wf_err *err) {
    uint32_t addr, bytes, lo, hi;
    if (wf_fabric_symbol(h->f, x, y, m->symbol, &addr, &bytes) < 0) {
        const int32_t ow = h->l->owner[(size_t)y * h->l->w + x];
        if (ow < 0) WF_FAIL(err, WF_EUSAGE, "%s: PE(%d,%d) has no program, so no symbol '%s'", what, x, y, m->symbol);
        else WF_FAIL(err, WF_EUSAGE, "%s: PE(%d,%d): kernel '%s' has no symbol '%s'", what, x, y,
                     h->l->regs[ow].k->name, m->symbol);
        return NULL;
    }
    uint64_t need = ((uint64_t)m->offset + m->n) * (uint64_t)m->esize;
    if (need > bytes) {
        WF_FAIL(err, WF_ERANGE, "%s: PE(%d,%d): symbol '%s' has %u bytes; elements [%u,%llu) of %d bytes need %llu",
                what, x, y, m->symbol, bytes, m->offset, (unsigned long long)m->offset + m->n, m->esize,
                (unsigned long long)need);
        return NULL;
    }
    uint8_t *s = wf_fabric_sram(h->f, x, y, &lo, &hi, err);
    if (!s) return NULL;
    return s + (addr - lo) + (size_t)m->offset * m->esize;
}

static uint64_t io_cycles(const wf_cost_model *cm, const wf_memcpy *m) {
    uint64_t words = (uint64_t)m->w * m->h * m->n;
    uint64_t per_row = (uint64_t)m->w * m->n;
    uint64_t bw = (words + cm->io_words_per_cycle - 1) / cm->io_words_per_cycle;
    return cm->memcpy_setup + (uint64_t)(m->x + m->w) * cm->hop_latency + (per_row > bw ? per_row : bw);
}

static wf_status copy(wf_host *h, const wf_memcpy *m, void *hostbuf, int to_device, wf_err *err) {
    const char *what = to_device ? "memcpy_h2d" : "memcpy_d2h";
    wf_status st = check_memcpy(h, m, what, err);
    if (st) return st;
    /* validate every PE before writing anything */
    for (int py = 0; py < m->h; py++)
        for (int px = 0; px < m->w; px++)
            if (!sym_ptr(h, m, m->x + px, m->y + py, what, err)) return err ? err->code : WF_EUSAGE;
    uint8_t *hb = hostbuf;
    for (int py = 0; py < m->h; py++)
        for (int px = 0; px < m->w; px++) {
            uint8_t *d = sym_ptr(h, m, m->x + px, m->y + py, what, err);
            if (m->order == WF_ROW_MAJOR) {
                uint8_t *hp = hb + host_index(m, px, py, 0) * m->esize;
                if (to_device) memcpy(d, hp, (size_t)m->n * m->esize);
                else memcpy(hp, d, (size_t)m->n * m->esize);
            } else {
                for (uint32_t e = 0; e < m->n; e++) {
                    uint8_t *hp = hb + host_index(m, px, py, e) * m->esize;
                    if (to_device) memcpy(d + (size_t)e * m->esize, hp, m->esize);
                    else memcpy(hp, d + (size_t)e * m->esize, m->esize);
                }
            }
        }
    /* the fabric is quiescent between host calls and a copy starts nothing */
    wf_fabric_advance(h->f, io_cycles(wf_fabric_cost(h->f), m));
    return WF_OK;
}

wf_status wf_host_h2d(wf_host *h, const wf_memcpy *m, const void *src, wf_err *err) {
    if (m->symbol) return copy(h, m, (void *)(uintptr_t)src, 1, err);
    wf_status st = check_memcpy(h, m, "memcpy_h2d (streaming)", err);
    if (st) return st;
    if (m->color < 0 || m->color >= WF_FABRIC_MEMCPY_COLOR)
        return WF_FAIL(err, WF_ECOLOR, "memcpy_h2d (streaming): color %d, expected 0..20", m->color);
    const wf_cost_model *cm = wf_fabric_cost(h->f);
    uint32_t *buf = wf_alloc(h->o.heap, (size_t)(m->n ? m->n : 1) * 4, "memcpy stream", err);
    if (!buf) return WF_ENOMEM;
    const uint8_t *hb = src;
    uint64_t t0 = wf_fabric_now(h->f) + cm->memcpy_setup;
    for (int py = 0; py < m->h && !st; py++)
        for (int px = 0; px < m->w && !st; px++) {
            for (uint32_t e = 0; e < m->n; e++) {
                const uint8_t *hp = hb + host_index(m, px, py, e) * m->esize;
                if (m->esize == 4) memcpy(&buf[e], hp, 4);
                else {
                    uint16_t v;
                    memcpy(&v, hp, 2);
                    buf[e] = v;
                }
            }
            int x = m->x + px;
            st = wf_fabric_inject(h->f, x, m->y + py, m->color, buf, m->n,
                                  t0 + (uint64_t)(x + 1) * cm->hop_latency, err);
        }
    wf_free(h->o.heap, buf);
    if (st) return st;
    return wf_fabric_run(h->f, h->o.max_cycles, err);
}

/* Streaming d2h: capture n wavelets per PE sent on m->color, run until the
** fabric is quiescent, then check every PE delivered its n. */
static wf_status stream_d2h(wf_host *h, const wf_memcpy *m, void *dst, wf_err *err) {
    const char *what = "memcpy_d2h (streaming)";
    wf_status st = check_memcpy(h, m, what, err);
    if (st) return st;
    if (m->color < 0 || m->color >= WF_FABRIC_MEMCPY_COLOR)
        return WF_FAIL(err, WF_ECOLOR, "%s: color %d, expected 0..20", what, m->color);
    size_t npe = (size_t)m->w * m->h, per = m->n ? m->n : 1;
    uint32_t *buf = wf_alloc(h->o.heap, npe * per * 4, "memcpy stream", err);
    if (!buf) return WF_ENOMEM;
    for (int py = 0; py < m->h && !st; py++)
        for (int px = 0; px < m->w && !st; px++)
            st = wf_fabric_capture(h->f, m->x + px, m->y + py, m->color, buf + ((size_t)py * m->w + px) * per, m->n,
                                   err);
    if (!st) st = wf_fabric_run(h->f, h->o.max_cycles, err);
    for (int py = 0; py < m->h && !st; py++)
        for (int px = 0; px < m->w && !st; px++) {
            uint32_t got = wf_fabric_captured(h->f, m->x + px, m->y + py, m->color);
            if (got < m->n)
                st = WF_FAIL(err, WF_EDEADLOCK, "%s: PE(%d,%d): color %d: %u of %u elements arrived before the "
                             "fabric went quiet", what, m->x + px, m->y + py, m->color, got, m->n);
        }
    if (!st) {
        uint8_t *hb = dst;
        for (int py = 0; py < m->h; py++)
            for (int px = 0; px < m->w; px++)
                for (uint32_t e = 0; e < m->n; e++) {
                    uint32_t v = buf[((size_t)py * m->w + px) * per + e];
                    uint8_t *hp = hb + host_index(m, px, py, e) * m->esize;
                    if (m->esize == 4) memcpy(hp, &v, 4);
                    else {
                        uint16_t v16 = (uint16_t)v;
                        memcpy(hp, &v16, 2);
                    }
                }
        /* the last wavelet still travels to the west edge */
        wf_fabric_advance(h->f, (uint64_t)(m->x + m->w) * wf_fabric_cost(h->f)->hop_latency);
    }
    for (int py = 0; py < m->h; py++) /* unregister: buf is freed below */
        for (int px = 0; px < m->w; px++) wf_fabric_capture(h->f, m->x + px, m->y + py, m->color, NULL, 0, NULL);
    wf_free(h->o.heap, buf);
    return st;
}

wf_status wf_host_d2h(wf_host *h, const wf_memcpy *m, void *dst, wf_err *err) {
    if (!m->symbol) return stream_d2h(h, m, dst, err);
    return copy(h, m, dst, 0, err);
}

static wf_status schedule_launch(wf_host *h, const char *name, wf_err *err) {
    if (!name) return WF_FAIL(err, WF_EUSAGE, "launch: no function name (NULL)");
    const wf_cost_model *cm = wf_fabric_cost(h->f);
    uint64_t at = wf_fabric_now(h->f) + cm->launch_latency;
    int found = 0;
    wf_status st;
    for (int ri = 0; ri < h->l->nregs; ri++) {
        const wf_region *r = &h->l->regs[ri];
        wf_task_fn fn = NULL;
        for (int i = 0; i < r->k->nexports; i++)
            if (strcmp(r->k->exports[i].name, name) == 0) fn = r->k->exports[i].fn;
        if (!fn) continue;
        found = 1;
        for (int y = r->y; y < r->y + r->h; y++)
            for (int x = r->x; x < r->x + r->w; x++)
                if ((st = wf_fabric_call(h->f, x, y, fn, at, err))) return st;
    }
    if (!found) return WF_FAIL(err, WF_EUSAGE, "launch: no kernel exports a function named '%s'", name);
    return WF_OK;
}

wf_status wf_host_launch_nb(wf_host *h, const char *name, wf_err *err) { return schedule_launch(h, name, err); }

wf_status wf_host_run(wf_host *h, wf_err *err) { return wf_fabric_run(h->f, h->o.max_cycles, err); }

wf_status wf_host_launch(wf_host *h, const char *name, wf_err *err) {
    wf_status st = schedule_launch(h, name, err);
    if (st) return st;
    return wf_fabric_run(h->f, h->o.max_cycles, err);
}
