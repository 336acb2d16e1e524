/* bands.c — how the rows are cut into bands, and moving a fabric's state
** from one cut to another between two cycles.
**
** A cycle runs band by band in three phases (fabric_int.h). Everything a band
** keeps belongs to one PE (its place on a router, op or pick list, its
** events) or to nobody (free ops), and every phase touches only what its
** band or pair of bands owns, in a fixed order, so the cut changes how fast
** a run goes, never what it computes: the tests compare one thread with
** several, which now run different cuts, bit for bit.
**
** Several threads: 8-row bands, at most 16 (each band is a unit of work for
** a thread; more bands mean more phase-B rows and barriers: 4-row bands
** cost two threads 20% on the n = 64 FFT, 64 bands 35% on a broadcast over
** 64 x 512 PEs). Phase B's two rows of a pair must not touch the rows
** another pair steps at the same time, so threads need 4 rows at least.
** One thread runs the phases one after the other: 2-row bands of at least
** 128 PEs (up to 8 rows on narrower fabrics), at most 256. Time skewing
** (run.c) runs a window of cycles as a wavefront over the bands; a window is
** as long as the listed state of the bands it spans fits in cache, so small
** bands give long windows where work is dense. Measured on one thread
** (Intel Xeon VM, alternating runs): allreduce on 512 x 512 PEs 89-101 ->
** 77-82 ns per active PE-cycle, the n = 64 FFT 72-76 -> 61-64 (4-row bands:
** 64-67). The floor of 128 PEs bounds the bands' fixed costs (a band takes
** ops 1,024 at a time) on tall, narrow fabrics.
**
** Moving (fabric_rebands): the lists are collected and dealt to the bands of
** their PEs' rows in PE order (router lists by the row's edge); events are
** dealt likewise in (time, old band, sequence) order, which keeps every PE's
** own events in their order; free ops are dealt round robin. Used when a run
** starts with another thread count than the cut the fabric has, and when a
** snapshot taken with another cut is resumed (snapshot.c). */
#include "fabric_int.h"

#include <stdlib.h>
#include <string.h>

#define BAND_ROWS_MT 8
#define BANDS_MT 16
#define BAND_PES_1T 128 /* one thread: 2 rows, up to 8 on fabrics narrower than 64 PEs */

int fabric_bands_for(const wf_fabric *f, int threads) {
    int rows = threads > 1 ? BAND_ROWS_MT : (BAND_PES_1T + f->w - 1) / f->w;
    rows = rows < 2 ? 2 : rows > BAND_ROWS_MT ? BAND_ROWS_MT : rows;
    int most = threads > 1 ? BANDS_MT : WF_FABRIC_MAX_BANDS, nb = f->h / rows;
    return nb < 1 ? 1 : nb > most ? most : nb;
}

void fabric_cut(wf_fabric *f, int nb) {
    f->nbands = nb;
    for (int b = 0; b < nb; b++) {
        f->band[b].y0 = (int)((int64_t)f->h * b / nb);
        f->band[b].y1 = (int)((int64_t)f->h * (b + 1) / nb);
    }
}

void fabric_place_pe(const wf_fabric *f, wf_pe *pe) {
    int b = (int)((int64_t)pe->y * f->nbands / f->h);
    while (b > 0 && pe->y < f->band[b].y0) b--; /* the division's rounding, either way */
    while (pe->y >= f->band[b].y1) b++;
    pe->band = (uint8_t)b;
    pe->edge = b > 0 && pe->y == f->band[b].y0                      ? EDGE_TOP
               : b + 1 < f->nbands && pe->y == f->band[b].y1 - 1 ? EDGE_BOT
                                                                 : EDGE_MID;
}

/* An event on its way to another band. */
typedef struct {
    wf_event ev;
    uint32_t band;
} moved_ev;

static int by_index(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}
static int by_time_band_seq(const void *a, const void *b) {
    const moved_ev *x = a, *y = b;
    if (x->ev.time != y->ev.time) return x->ev.time < y->ev.time ? -1 : 1;
    if (x->band != y->band) return x->band < y->band ? -1 : 1;
    return (x->ev.seq > y->ev.seq) - (x->ev.seq < y->ev.seq);
}

int fabric_bands_max(const wf_fabric *f) {
    int nb = f->h / 2;
    return nb < 1 ? 1 : nb > WF_FABRIC_MAX_BANDS ? WF_FABRIC_MAX_BANDS : nb;
}

/* The list a PE is on in its band, for a list class (0 routers, 1 ops, 2 picks). */
static int list_of(const wf_pe *pe, int cls) {
    if (cls == 0) return L_RMID + pe->edge;
    if (cls == 1) return pe->edge ? L_OPE_EDGE : L_OPE;
    return pe->edge ? L_PICK_EDGE : L_PICK;
}

wf_status fabric_rebands(wf_fabric *f, int nb, wf_err *err) {
    if (nb == f->nbands) return WF_OK;
    if (nb < 1 || nb > fabric_bands_max(f))
        return WF_FAIL(err, WF_EUSAGE, "fabric: %d bands for %d rows", nb, f->h);
    /* what moves: PE indices by list class (routers, ops, picks), events */
    size_t nl[3] = {0, 0, 0}, ne = 0;
    static const int cls[L_COUNT] = {0, 0, 0, 1, 2, 1, 2}; /* L_RMID .. L_PICK_EDGE */
    for (int b = 0; b < f->nbands; b++) {
        const wf_band *bd = &f->band[b];
        for (int l = 0; l < L_COUNT; l++) nl[cls[l]] += bd->l[l].n;
        ne += bd->nheap;
    }
    uint32_t *lv[3] = {NULL, NULL, NULL};
    moved_ev *ev = NULL;
    int ok = 1;
    for (int k = 0; k < 3; k++) ok = ok && (lv[k] = wf_alloc(f->heap, nl[k] * sizeof *lv[k] + 4, "fabric bands", err));
    ok = ok && (ev = wf_alloc(f->heap, ne * sizeof *ev + sizeof *ev, "fabric bands", err));
    if (!ok) {
        for (int k = 0; k < 3; k++) wf_free(f->heap, lv[k]);
        return err ? err->code : WF_ENOMEM;
    }
    size_t at[3] = {0, 0, 0}, ae = 0;
    uint32_t free_head[WF_FABRIC_MAX_BANDS];
    int old = f->nbands;
    for (int b = 0; b < old; b++) {
        wf_band *bd = &f->band[b];
        for (int l = 0; l < L_COUNT; l++) {
            if (bd->l[l].n) memcpy(lv[cls[l]] + at[cls[l]], bd->l[l].v, bd->l[l].n * sizeof *lv[0]);
            at[cls[l]] += bd->l[l].n;
            bd->l[l].n = bd->l[l].snap = bd->l[l].sorted = 0;
        }
        for (size_t i = 0; i < bd->nheap; i++) ev[ae++] = (moved_ev){bd->heapv[i], (uint32_t)b};
        bd->nheap = 0;
        bd->seq = 0;
        bd->nd = 0; /* phase B's pushes were applied in the cycle's phase C */
        free_head[b] = bd->op_free;
        bd->op_free = NO_OP;
    }
    fabric_cut(f, nb); /* bands outside the old cut were emptied when they left one, or never used */
    for (size_t i = 0; i < (size_t)f->w * f->h; i++)
        if (f->pes[i]) fabric_place_pe(f, f->pes[i]);
    /* routers and ops in PE order (their walks sort them anyway); picks keep
    ** the order they were listed in */
    for (int k = 0; k < 2; k++) qsort(lv[k], nl[k], sizeof *lv[k], by_index);
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < nl[k]; i++) {
            const wf_pe *pe = f->pes[lv[k][i]];
            ilist_push(f, &f->band[pe->band].l[list_of(pe, k)], pe->idx);
        }
    qsort(ev, ne, sizeof *ev, by_time_band_seq);
    for (size_t i = 0; i < ne; i++) {
        const wf_event *e = &ev[i].ev;
        heap_push(f, &f->band[ev_pe(f, e->kind, e->arg)->band], e->time, e->kind, e->arg);
    }
    /* free ops: each old list goes whole to a new band, round robin */
    for (int b = 0; b < old; b++) {
        uint32_t oi = free_head[b];
        if (oi == NO_OP) continue;
        wf_band *to = &f->band[b % nb];
        uint32_t last = oi;
        while (op_at(f, last)->next != NO_OP) last = op_at(f, last)->next;
        op_at(f, last)->next = to->op_free;
        to->op_free = oi;
    }
    for (int k = 0; k < 3; k++) wf_free(f->heap, lv[k]);
    wf_free(f->heap, ev);
    return f->failed ? f->ferr.code : WF_OK;
}
