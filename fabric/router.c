/* router.c — one router cycle: for each color with a waiting wavelet, take
** the head of the link buffer or the core's output queue (alternating when
** both are ready and accepted by the active switch position), and forward it
** to every tx port at once if every target has room and no output port was
** already used this cycle (one wavelet per cycle per link direction).
** A forwarded control wavelet then advances the color's switch position.
** Routers with one or two colors waiting (a stream; a receive beside a send)
** take a cycle compiled apart from the general loop, each color through
** forward_fast(), which decides the common outcomes with fewer instructions
** and leaves the rest to forward(): the same rules, the same cycles and bits
** (test_fabric_fastpath runs both against each other; a trace or defects
** turn the fast cycles off). */
#include "fabric_int.h"

static const int dx[4] = {0, 0, 1, -1}; /* N S E W */
static const int dy[4] = {-1, 1, 0, 0};
static const int opposite[4] = {WF_PORT_S, WF_PORT_N, WF_PORT_W, WF_PORT_E};
static const uint8_t nports[32] = {0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                   1, 2, 2, 3, 2, 3, 3, 4, 2, 3, 3, 4, 3, 4, 4, 5}; /* ports in a mask */


static void advance_switch(wf_route *r) {
    if (r->cur + 1 < r->npos) r->cur++;
    else if (r->ring) r->cur = 0;
}

/* What one color's router cycle did. MOVED, WAIT (a head is still in flight,
** an output port was taken this cycle, or a slot frees next cycle) keep the
** router on the active list; BLOCKED (downstream full, or the head is not
** accepted by the switch position) lets it sleep until a pop downstream or a
** new wavelet wakes it (STYLE 17: idle costs nothing, blocked too). */
enum { FW_MOVED, FW_WAIT, FW_BLOCKED };

static int space_state(const wf_fifo *q, uint64_t now) {
    if (fifo_space(q, now) > 0) return FW_MOVED;
    return q->lag_at == (uint32_t)now && q->lag_n ? FW_WAIT : FW_BLOCKED;
}

/* The link targets of tx, in port order (N S E W): FW_MOVED when every one
** has room (nslot[p] its slot), FW_WAIT when a port was taken this cycle or
** a slot frees next cycle, FW_BLOCKED when one is full, -1 when the
** neighbour on port *bad has no route for the color (an error). */
static WF_HOT_INLINE int link_targets(wf_pe *pe, const wf_cslot *s, unsigned tx, unsigned used, uint64_t now,
                                      wf_cslot *nslot[4], int *bad) {
    for (unsigned m = tx & ~WF_RAMP; m; m &= m - 1) {
        int p = __builtin_ctz(m);
        if (used >> p & 1) return FW_WAIT;
        wf_pe *nb = pe->nb[p];
        wf_cslot *ns = nb ? slot_of(nb, s->color) : NULL;
        if (!ns || !ns->rb.cap) {
            *bad = p;
            return -1;
        }
        int sp = space_state(&ns->rb, now);
        if (sp != FW_MOVED) return sp;
        nslot[p] = ns;
    }
    return FW_MOVED;
}

/* A wavelet onto the link leaving pe by port p, into ns (the neighbour's
** slot for the color), first movable at cycle `ready`; wakes that router. */
static WF_HOT_INLINE void push_link(wf_fabric *f, wf_pe *pe, int p, wf_cslot *ns, int color, uint32_t data,
                                    uint64_t ready, int ctrl) {
    wf_pe *nb = pe->nb[p];
    fifo_push(&ns->rb, data, ready, (uint8_t)(ctrl | (opposite[p] << 1)));
    uint32_t old = nb->rpend;
    nb->rpend = old | 1u << color;
    wake_router_push(f, nb, old);
}

/* The link pushes of forward() on a fabric with defects: a link that
** detours delivers its extra hops * hop_latency later (the routers passed
** through are not simulated, only their latency; their buffers are added to
** the receiving router's at load). */
static void push_detours(wf_fabric *f, wf_pe *pe, int color, unsigned tx, wf_cslot *const nslot[4], uint32_t data,
                         int ctrl, int tr, uint64_t now) {
    for (unsigned m = tx & ~WF_RAMP; m; m &= m - 1) {
        int p = __builtin_ctz(m);
        if (tr) emit(f, WF_TRACE_HOP, color, p, ctrl, pe->x, pe->y, data, now, 1);
        uint32_t extra = f->xhops[(size_t)pe->idx * 4 + p];
        pe->st.hops += extra;
        push_link(f, pe, p, nslot[p], color, data, now + f->cm.hop_latency + (uint64_t)extra * f->cm.hop_latency, ctrl);
    }
}

/* A slot of the link buffer rb freed: wake the routers that feed it (they
** sleep on it only while it is full). */
static WF_HOT_INLINE void rb_popped(wf_fabric *f, wf_pe *pe, const wf_cslot *s, int was_full) {
    if (!was_full) return;
    for (unsigned m = s->feed; m; m &= m - 1) {
        wf_pe *nb = pe->nb[__builtin_ctz(m)];
        if (nb && (nb->rpend >> s->color & 1)) wake_router(f, nb);
    }
}

/* A data wavelet delivered to the core: straight into a waiting receive op
** (cut-through) or onto the input queue. */
static WF_HOT_INLINE void deliver_data(wf_fabric *f, wf_pe *pe, wf_cslot *s, uint32_t data, uint64_t now, int tr) {
    pe->st.wav_in++;
    if (tr) emit(f, WF_TRACE_DELIVER, s->color, WF_PORT_RAMP, 0, pe->x, pe->y, data, now, 1);
    if (!op_cut_through(f, pe, s, data, now)) {
        fifo_push(&s->in, data, now + f->cm.ramp_latency, 0);
        slot_in_arrived(f, pe, s);
    }
}

/* forward() for what nearly every router cycle is: one source waiting (the
** link buffer or the core's output queue, not both) with a data wavelet at
** its head, no trace and no defects. It returns what forward() would, after
** the same checks in the same order; -1, having changed nothing, for the
** rest (both sources waiting, a control wavelet, a host capture, an error),
** which forward() then decides from the same state. */
static WF_HOT_INLINE int forward_fast(wf_fabric *f, wf_pe *pe, wf_cslot *s, uint64_t now, unsigned *usedp) {
    int from_rb = s->rb.n != 0;
    if (from_rb == (s->out.n != 0)) return -1;
    wf_fifo *src = from_rb ? &s->rb : &s->out;
    const wf_wv *h = fifo_head(src);
    if (!is_ready(h->ready, now)) return FW_WAIT; /* in flight */
    if ((h->flags & 1) || (!from_rb && s->capture)) return -1;
    const wf_route_pos *pos = &s->route.pos[s->route.cur];
    unsigned in_port = from_rb ? (h->flags >> 1) & 7u : 4u; /* WF_RAMP is bit 4 */
    if (!(pos->rx >> in_port & 1)) return FW_BLOCKED; /* not accepted by the switch position */
    unsigned tx = pos->tx, used = *usedp;
    wf_cslot *nslot[4];
    int bad, sp = link_targets(pe, s, tx, used, now, nslot, &bad);
    if (sp != FW_MOVED) return sp; /* -1, no route there: forward() reports it */
    if (tx & WF_RAMP) {
        if (used & WF_RAMP) return FW_WAIT;
        if (s->iq < 0) return -1;
        if ((sp = space_state(&s->in, now)) != FW_MOVED) return sp;
    }
    int was_full = src->n == src->cap;
    uint32_t data = fifo_pop(src, now).data;
    if (from_rb) {
        rb_popped(f, pe, s, was_full);
    } else {
        pe->st.wav_out++;
        slot_out_popped(f, pe, s);
    }
    *usedp = used | tx;
    pe->st.hops += nports[tx & 31];
    mark_active(pe, now); /* before the delivery's cycle now + ramp_latency: the cheap order */
    uint64_t ready = now + f->cm.hop_latency;
    for (unsigned m = tx & ~WF_RAMP; m; m &= m - 1) {
        int p = __builtin_ctz(m);
        push_link(f, pe, p, nslot[p], s->color, data, ready, 0);
    }
    if (tx & WF_RAMP) deliver_data(f, pe, s, data, now, 0);
    return FW_MOVED;
}

static WF_HOT_INLINE int forward(wf_fabric *f, wf_pe *pe, wf_cslot *s, uint64_t now, unsigned *usedp) {
    const wf_route_pos *pos = &s->route.pos[s->route.cur];
    int rb_ok = 0, out_ok = 0, in_flight = 0;
    if (s->rb.n) {
        const wf_wv *h = fifo_head(&s->rb);
        if (is_ready(h->ready, now)) rb_ok = (pos->rx >> ((h->flags >> 1) & 7)) & 1;
        else in_flight = 1;
    }
    if (s->out.n) {
        if (is_ready(fifo_head(&s->out)->ready, now)) out_ok = (pos->rx & WF_RAMP) != 0;
        else in_flight = 1;
    }
    if (!rb_ok && !out_ok) return in_flight ? FW_WAIT : FW_BLOCKED;
    wf_cslot_cold *sc = out_ok && s->capture ? slot_cold(pe, s) : NULL;
    if (sc && sc->cap_i < sc->cap_n) { /* streaming d2h: the host takes it */
        sc->cap[sc->cap_i++] = fifo_pop(&s->out, now).data;
        pe->st.wav_out++;
        slot_out_popped(f, pe, s);
        return FW_MOVED;
    }
    int use_rb = rb_ok && (!out_ok || s->toggle == 0);
    wf_fifo *src = use_rb ? &s->rb : &s->out;
    const wf_wv *w = fifo_head(src);
    int ctrl = w->flags & 1;
    unsigned tx = pos->tx;
    unsigned used = *usedp;
    wf_cslot *nslot[4];
    /* every target must be free, checked in port order (N S E W RAMP) */
    int bad, sp = link_targets(pe, s, tx, used, now, nslot, &bad);
    if (sp < 0) {
        fabric_fail(f, WF_ECOLOR, "PE(%d,%d): cycle %llu: color %d: wavelet sent %s to PE(%d,%d), "
                    "which has no route for color %d", pe->x, pe->y, (unsigned long long)now,
                    s->color, wf_port_name(bad), pe->x + dx[bad], pe->y + dy[bad], s->color);
        return FW_WAIT;
    }
    if (sp != FW_MOVED) return sp;
    if (tx & WF_RAMP) {
        if (used & WF_RAMP) return FW_WAIT;
        if (!ctrl) { /* control wavelets go to the task picker, not the queue */
            if (s->iq < 0) {
                fabric_fail(f, WF_ECOLOR, "PE(%d,%d): cycle %llu: color %d: route delivers to RAMP but the "
                            "PE has no input queue for it", pe->x, pe->y, (unsigned long long)now, s->color);
                return FW_WAIT;
            }
            if ((sp = space_state(&s->in, now)) != FW_MOVED) return sp;
        }
    }
    int was_full = src->n == src->cap;
    wf_wv wv = fifo_pop(src, now);
    if (!use_rb) {
        pe->st.wav_out++;
        slot_out_popped(f, pe, s);
    } else {
        rb_popped(f, pe, s, was_full);
    }
    if (rb_ok && out_ok) s->toggle ^= 1;
    *usedp = used | tx;
    pe->st.hops += nports[tx & 31];
    int tr = f->trace && trace_on(f, pe->x, pe->y, now);
    uint64_t ready = now + f->cm.hop_latency;
    if (__builtin_expect(f->xhops != NULL, 0)) { /* defects: one test per wavelet when off */
        push_detours(f, pe, s->color, tx, nslot, wv.data, ctrl, tr, now);
    } else {
        for (unsigned m = tx & ~WF_RAMP; m; m &= m - 1) {
            int p = __builtin_ctz(m);
            if (tr) emit(f, WF_TRACE_HOP, s->color, p, ctrl, pe->x, pe->y, wv.data, now, 1);
            push_link(f, pe, p, nslot[p], s->color, wv.data, ready, ctrl);
        }
    }
    if (tx & WF_RAMP) {
        if (tr) emit(f, WF_TRACE_HOP, s->color, WF_PORT_RAMP, ctrl, pe->x, pe->y, wv.data, now, 1);
        if (ctrl) {
            core_deliver_ctrl(f, pe, wv.data);
        } else {
            deliver_data(f, pe, s, wv.data, now, tr);
        }
    }
    if (ctrl) advance_switch(&s->route);
    return FW_MOVED;
}

/* What a router cycle does after its colors' outcomes: the ports taken when
** one moved (the cycle was counted active with the move), the stall count,
** sleep when every color is blocked (step_router then drops it). */
static WF_HOT_INLINE int router_after(wf_fabric *f, wf_pe *pe, uint64_t now, unsigned used, int moved, int stalled,
                                      int keep) {
    if (moved) {
        pe->port_at = now + 1;
        pe->port_mask = (uint8_t)used;
    }
    if (stalled) pe->st.stalled++;
    if (!keep && pe->rpend && !f->ref_mode) {
        pe->asleep = 1;
        pe->sleep_at = now;
    }
    return moved;
}

/* The router cycle in general: every waiting color, rotated. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int router_step_all(wf_fabric *f, wf_pe *pe) {
    uint64_t now = f->now;
    /* output ports used this cycle (a router may be stepped twice in a cycle
    ** when the clock re-runs it for an event due now) */
    unsigned used = pe->port_at == now + 1 ? pe->port_mask : 0;
    uint32_t pend = pe->rpend, order = pend;
    /* with several colors waiting, rotate the starting color with the clock so
    ** no color starves an output port; a function of the cycle, not of how
    ** often this router was stepped, so sleeping routers arbitrate exactly like
    ** always-stepped ones */
    unsigned r = 0;
    if (pend & (pend - 1)) {
        r = f->rot;
        if (r) order = ((pend >> r) | (pend << (WF_FABRIC_COLORS - r))) & 0xffffffu;
    }
    int stalled = 0, keep = 0, moved = 0;
    for (uint32_t m = order; m; m &= m - 1) {
        int c = __builtin_ctz(m) + (int)r;
        if (c >= WF_FABRIC_COLORS) c -= WF_FABRIC_COLORS;
        wf_cslot *s = slot_of(pe, c);
        int st = forward(f, pe, s, now, &used);
        if (st == FW_MOVED) {
            moved = keep = 1;
        } else {
            stalled = 1;
            if (st == FW_WAIT) keep = 1;
        }
        if (!s->rb.n && !s->out.n) pe->rpend &= ~(1u << c);
    }
    if (moved) mark_active(pe, now);
    return router_after(f, pe, now, used, moved, stalled, keep);
}

/* One color's forward in the fast cycles below: forward_fast(), else
** forward() out of line; then its pending bit as router_step_all() clears it. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int forward_general(wf_fabric *f, wf_pe *pe, wf_cslot *s, uint64_t now, unsigned *usedp) {
    int st = forward(f, pe, s, now, usedp);
    if (st == FW_MOVED) mark_active(pe, now); /* as forward_fast() does */
    return st;
}
static WF_HOT_INLINE int forward_color(wf_fabric *f, wf_pe *pe, int c, uint64_t now, unsigned *usedp) {
    wf_cslot *s = &pe->slots[pe->cidx[c]];
    int st = forward_fast(f, pe, s, now, usedp);
    if (st < 0) st = forward_general(f, pe, s, now, usedp);
    if (!s->rb.n && !s->out.n) pe->rpend &= ~(1u << c);
    return st;
}

/* The router cycle of a PE with one color waiting (every stream's common
** case) and with two (a receive beside a send, as in a reduce chain): what
** router_step_all() does for them, compiled apart from its general loop. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int router_step_one(wf_fabric *f, wf_pe *pe, int c) {
    uint64_t now = f->now;
    unsigned used = pe->port_at == now + 1 ? pe->port_mask : 0;
    int st = forward_color(f, pe, c, now, &used);
    if (st == FW_MOVED) { /* router_after() with nothing stalled, spelled out: 1% of a stream's instructions */
        pe->port_at = now + 1;
        pe->port_mask = (uint8_t)used;
        return 1;
    }
    return router_after(f, pe, now, used, 0, 1, st == FW_WAIT);
}
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int router_step_two(wf_fabric *f, wf_pe *pe, uint32_t pend) {
    uint64_t now = f->now;
    int a = __builtin_ctz(pend), b = 31 - __builtin_clz(pend), r = (int)f->rot;
    /* the cycle's rotated order (router_step_all), smaller (c - rot) mod 24
    ** first: a < b, so a goes first unless only b is at or past rot */
    int a_first = a >= r || b < r;
    unsigned used = pe->port_at == now + 1 ? pe->port_mask : 0;
    int s0 = forward_color(f, pe, a_first ? a : b, now, &used);
    int s1 = forward_color(f, pe, a_first ? b : a, now, &used);
    int moved = s0 == FW_MOVED || s1 == FW_MOVED;
    return router_after(f, pe, now, used, moved, s0 != FW_MOVED || s1 != FW_MOVED,
                        moved || s0 == FW_WAIT || s1 == FW_WAIT);
}

int router_step(wf_fabric *f, wf_pe *pe) {
    uint32_t pend = pe->rpend;
    uint32_t rest = pend & (pend - 1);
    if (!pend || (rest & (rest - 1)) || f->trace || f->xhops) return router_step_all(f, pe);
    return rest ? router_step_two(f, pe, pend) : router_step_one(f, pe, __builtin_ctz(pend));
}
