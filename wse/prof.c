/* prof.c — the step profile of wse/ (wse.h): spans of launches and host
** memcpys on one timeline, their PE-cycles split into compute, fabric
** transfer and idle, a Perfetto trace of the step and a heatmap of busy
** cycles per PE. A failed allocation never fails the step it watches: the
** profile is marked incomplete and the writers say so. */
#include "wse.h"

#include "../sdk/diag.h"

#include <stdio.h>
#include <string.h>

struct wf_wse_prof {
    wf_wse_span *s;
    size_t n, cap;
    uint64_t now;          /* end of the last span on the timeline */
    int layer, backward;   /* label of the next spans */
    int failed;
    /* the launch in flight: fabric totals and per-PE busy at begin */
    uint64_t busy0, active0, c0;
    uint64_t *pe0;         /* per-PE busy at begin, w0 x h0 */
    int w0, h0;
    uint64_t *grid;        /* heatmap: busy cycles per PE over the step, gw x gh */
    int gw, gh;
};

wf_status wf_wse_prof_new(wf_wse_prof **out, wf_err *err) {
    *out = wf_calloc(NULL, sizeof **out, "wse step profile", err);
    if (!*out) return WF_ENOMEM;
    (*out)->layer = -1;
    return WF_OK;
}

void wf_wse_prof_free(wf_wse_prof *p) {
    if (!p) return;
    wf_free(NULL, p->s);
    wf_free(NULL, p->pe0);
    wf_free(NULL, p->grid);
    wf_free(NULL, p);
}

void wf_wse_prof_clear(wf_wse_prof *p) {
    if (!p) return;
    p->n = 0, p->now = 0, p->layer = -1, p->backward = 0, p->failed = 0;
    if (p->grid) memset(p->grid, 0, (size_t)p->gw * p->gh * sizeof *p->grid);
}

void wf_wse_prof_at(wf_wse_prof *p, int layer, int backward) {
    if (!p) return;
    p->layer = layer, p->backward = backward;
}

int wf_wse_prof_failed(const wf_wse_prof *p) { return p && p->failed; }
size_t wf_wse_prof_count(const wf_wse_prof *p) { return p ? p->n : 0; }
const wf_wse_span *wf_wse_prof_span(const wf_wse_prof *p, size_t i) { return i < p->n ? &p->s[i] : NULL; }

static wf_wse_span *push(wf_wse_prof *p, int kind, const char *name) {
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 256;
        wf_wse_span *s = wf_realloc(NULL, p->s, cap * sizeof *s, "wse step profile spans", NULL);
        if (!s) {
            p->failed = 1;
            return NULL;
        }
        p->s = s, p->cap = cap;
    }
    wf_wse_span *s = &p->s[p->n++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->layer = p->layer, s->backward = p->backward, s->kind = kind, s->start = p->now;
    return s;
}

void wf_wse_prof_begin(wf_wse_prof *p, const wf_fabric *f) {
    if (!p) return;
    wf_fabric_stats fs;
    wf_fabric_read_stats(f, &fs);
    p->busy0 = fs.busy, p->active0 = fs.active, p->c0 = fs.cycles;
    int w = wf_fabric_w(f), h = wf_fabric_h(f);
    if (w != p->w0 || h != p->h0) {
        wf_free(NULL, p->pe0);
        p->pe0 = wf_alloc(NULL, (size_t)w * h * sizeof *p->pe0, "wse step profile snapshot", NULL);
        p->w0 = p->pe0 ? w : 0, p->h0 = p->pe0 ? h : 0;
        if (!p->pe0) p->failed = 1;
    }
    for (int y = 0; y < p->h0; y++)
        for (int x = 0; x < p->w0; x++) {
            wf_pe_stats s;
            wf_fabric_pe_stats(f, x, y, &s);
            p->pe0[(size_t)y * p->w0 + x] = s.busy;
        }
}

/* Grows the heatmap grid to at least w x h, keeping what it holds. */
static int grid_fit(wf_wse_prof *p, int w, int h) {
    if (w <= p->gw && h <= p->gh) return 0;
    int nw = w > p->gw ? w : p->gw, nh = h > p->gh ? h : p->gh;
    uint64_t *g = wf_calloc(NULL, (size_t)nw * nh * sizeof *g, "wse step heatmap", NULL);
    if (!g) return -1;
    for (int y = 0; y < p->gh; y++) memcpy(g + (size_t)y * nw, p->grid + (size_t)y * p->gw, (size_t)p->gw * sizeof *g);
    wf_free(NULL, p->grid);
    p->grid = g, p->gw = nw, p->gh = nh;
    return 0;
}

void wf_wse_prof_end(wf_wse_prof *p, const wf_fabric *f, int kind, const char *name, uint64_t edge, uint64_t flops) {
    if (!p) return;
    wf_fabric_stats fs;
    wf_fabric_read_stats(f, &fs);
    int w = wf_fabric_w(f), h = wf_fabric_h(f);
    wf_wse_span *s = push(p, kind, name);
    if (!s) return;
    s->cycles = fs.cycles - p->c0;
    s->pes = (uint64_t)w * (uint64_t)h;
    s->busy = fs.busy - p->busy0;
    s->active = fs.active - p->active0;
    s->edge = edge, s->flops = flops;
    p->now += s->cycles;
    if (w != p->w0 || h != p->h0 || grid_fit(p, w, h)) {
        p->failed = 1;
        return;
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            wf_pe_stats ps;
            wf_fabric_pe_stats(f, x, y, &ps);
            p->grid[(size_t)y * p->gw + x] += ps.busy - p->pe0[(size_t)y * w + x];
        }
}

void wf_wse_prof_memcpy(wf_wse_prof *p, const char *name, uint64_t pes, uint64_t cycles) {
    if (!p || !cycles) return;
    wf_wse_span *s = push(p, WF_WSE_SPAN_MEMCPY, name);
    if (!s) return;
    s->cycles = cycles, s->pes = pes;
    p->now += cycles;
}

void wf_wse_prof_sum(const wf_wse_prof *p, int layer, wf_wse_sum *o) {
    memset(o, 0, sizeof *o);
    for (size_t i = 0; p && i < p->n; i++) {
        const wf_wse_span *s = &p->s[i];
        if (layer != WF_WSE_ALL && s->layer != layer) continue;
        if (s->kind == WF_WSE_SPAN_MEMCPY) {
            o->memcpy_cycles += s->cycles;
            continue;
        }
        uint64_t pc = s->pes * s->cycles;
        o->cycles += s->cycles, o->pe_cycles += pc;
        o->compute += s->busy, o->transfer += s->active - s->busy, o->idle += pc - s->active;
        o->edge += s->edge, o->flops += s->flops;
    }
}

wf_status wf_wse_prof_write_trace(const wf_wse_prof *p, const char *path, wf_err *err) {
    if (p->failed)
        return WF_FAIL(err, WF_ENOMEM, "step trace: %s: the profile is incomplete (out of memory while recording)",
                       path);
    wf_afile *af;
    wf_status rc = wf_ofile_open(path, &af, err);
    if (rc) {
        wf_err_prefix(err, "step trace");
        return rc;
    }
    static const char *track[WF_WSE_SPAN_KINDS] = {"matmul (fabric)", "vector kernels (fabric)",
                                                   "host memcpy (activations between launches)",
                                                   "pipelined batch (fabric)"};
    char line[640];
    int k = snprintf(line, sizeof line,
                     "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"unit\":\"1 us of trace time = 1 simulated cycle\"},"
                     "\"traceEvents\":[\n{\"ph\":\"M\",\"pid\":1,\"name\":\"process_name\",\"args\":{\"name\":"
                     "\"training step on the simulated fabric\"}}");
    rc = wf_afile_write(af, line, (size_t)k, err);
    for (int t = 0; t < WF_WSE_SPAN_KINDS && !rc; t++) {
        k = snprintf(line, sizeof line, ",\n{\"ph\":\"M\",\"pid\":1,\"tid\":%d,\"name\":\"thread_name\",\"args\":"
                     "{\"name\":\"%s\"}}", t + 1, track[t]);
        rc = wf_afile_write(af, line, (size_t)k, err);
    }
    for (size_t i = 0; i < p->n && !rc; i++) {
        const wf_wse_span *s = &p->s[i];
        char who[32];
        if (s->layer >= 0) snprintf(who, sizeof who, "L%d%s ", s->layer, s->backward ? " bwd" : "");
        else snprintf(who, sizeof who, "%s", s->backward ? "bwd " : "");
        uint64_t pc = s->pes * s->cycles;
        k = snprintf(line, sizeof line,
                     ",\n{\"ph\":\"X\",\"pid\":1,\"tid\":%d,\"name\":\"%s%s\",\"ts\":%llu,\"dur\":%llu,\"args\":"
                     "{\"layer\":%d,\"pass\":\"%s\",\"pes\":%llu,\"compute_pe_cycles\":%llu,"
                     "\"transfer_pe_cycles\":%llu,\"idle_pe_cycles\":%llu,\"edge_cycles\":%llu,\"flops\":%llu}}",
                     s->kind + 1, who, s->name, (unsigned long long)s->start, (unsigned long long)s->cycles,
                     s->layer, s->backward ? "backward" : "forward", (unsigned long long)s->pes,
                     (unsigned long long)s->busy, (unsigned long long)(s->active - s->busy),
                     (unsigned long long)(s->kind == WF_WSE_SPAN_MEMCPY ? 0 : pc - s->active),
                     (unsigned long long)s->edge, (unsigned long long)s->flops);
        rc = wf_afile_write(af, line, (size_t)k, err);
    }
    if (!rc) rc = wf_afile_write(af, "\n]}\n", 4, err);
    if (rc) {
        wf_afile_abort(af);
        wf_err_prefix(err, "step trace");
        return rc;
    }
    return wf_afile_commit(af, err);
}

wf_status wf_wse_prof_write_heatmap(const wf_wse_prof *p, const char *path, wf_err *err) {
    if (p->failed)
        return WF_FAIL(err, WF_ENOMEM, "step heatmap: %s: the profile is incomplete (out of memory while recording)",
                       path);
    if (!p->grid) return WF_FAIL(err, WF_EUSAGE, "step heatmap: %s: no launch was recorded", path);
    return wf_heatmap_write_values(p->grid, p->gw, p->gh, path, 0, err);
}
