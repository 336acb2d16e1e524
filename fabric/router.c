/* router.c — one router cycle: for each color with a waiting wavelet, take
** the head of the link buffer or the core's output queue (alternating when
** both are ready and accepted by the active switch position), and forward it
** to every tx port at once if every target has room and no output port was
** already used this cycle (one wavelet per cycle per link direction).
** A forwarded control wavelet then advances the color's switch position. */
#include "fabric_int.h"

static const int dx[4] = {0, 0, 1, -1}; /* N S E W */
static const int dy[4] = {-1, 1, 0, 0};
static const int opposite[4] = {WF_PORT_S, WF_PORT_N, WF_PORT_W, WF_PORT_E};

void slot_in_arrived(wf_fabric *f, wf_pe *pe, wf_cslot *s);   /* ops.c */
void slot_out_popped(wf_fabric *f, wf_pe *pe, wf_cslot *s);   /* ops.c */

static void advance_switch(wf_route *r) {
    if (r->cur + 1 < r->npos) r->cur++;
    else if (r->ring) r->cur = 0;
}

/* Returns 1 if the wavelet moved. */
static int forward(wf_fabric *f, wf_pe *pe, wf_cslot *s, uint64_t now) {
    const wf_route_pos *pos = &s->route.pos[s->route.cur];
    int rb_ok = fifo_head_ready(&s->rb, now) && ((pos->rx >> ((fifo_head(&s->rb)->flags >> 1) & 7)) & 1);
    int out_ok = fifo_head_ready(&s->out, now) && (pos->rx & WF_RAMP);
    if (!rb_ok && !out_ok) return 0;
    int use_rb = rb_ok && (!out_ok || s->toggle == 0);
    wf_fifo *src = use_rb ? &s->rb : &s->out;
    const wf_wv *w = fifo_head(src);
    int ctrl = w->flags & 1;
    unsigned tx = pos->tx;
    wf_cslot *nslot[4] = {0};
    /* every target must be free */
    for (unsigned m = tx; m; m &= m - 1) {
        int p = __builtin_ctz(m);
        if (pe->port_used[p] == now + 1) return 0;
        if (p == WF_PORT_RAMP) {
            if (ctrl) continue; /* control wavelets go to the task picker, not the queue */
            if (s->iq < 0) {
                fabric_fail(f, WF_ECOLOR, "PE(%d,%d): cycle %llu: color %d: route delivers to RAMP but the "
                            "PE has no input queue for it", pe->x, pe->y, (unsigned long long)now, s->color);
                return 0;
            }
            if (fifo_space(&s->in, now) <= 0) return 0;
        } else {
            wf_pe *nb = pe_at(f, pe->x + dx[p], pe->y + dy[p]);
            wf_cslot *ns = nb ? slot_of(nb, s->color) : NULL;
            if (!ns || !ns->rb.e) {
                fabric_fail(f, WF_ECOLOR, "PE(%d,%d): cycle %llu: color %d: wavelet sent %s to PE(%d,%d), "
                            "which has no route for color %d", pe->x, pe->y, (unsigned long long)now,
                            s->color, wf_port_name(p), pe->x + dx[p], pe->y + dy[p], s->color);
                return 0;
            }
            if (fifo_space(&ns->rb, now) <= 0) return 0;
            nslot[p] = ns;
        }
    }
    wf_wv wv = fifo_pop(src, now);
    int from_port = use_rb ? (wv.flags >> 1) & 7 : WF_PORT_RAMP;
    if (!use_rb) {
        pe->st.wav_out++;
        slot_out_popped(f, pe, s);
    }
    if (rb_ok && out_ok) s->toggle ^= 1;
    int tr = f->trace && trace_on(f, pe->x, pe->y, now);
    for (unsigned m = tx; m; m &= m - 1) {
        int p = __builtin_ctz(m);
        pe->port_used[p] = now + 1;
        pe->st.hops++;
        if (tr) emit(f, WF_TRACE_HOP, s->color, p, ctrl, pe->x, pe->y, wv.data, now, 1);
        if (p == WF_PORT_RAMP) {
            if (ctrl) {
                core_deliver_ctrl(f, pe, wv.data);
                continue;
            }
            fifo_push(&s->in, wv.data, now + f->cm.ramp_latency, 0);
            pe->st.wav_in++;
            if (tr) emit(f, WF_TRACE_DELIVER, s->color, p, 0, pe->x, pe->y, wv.data, now, 1);
            slot_in_arrived(f, pe, s);
        } else {
            wf_pe *nb = f->pes[pe->idx + dy[p] * f->w + dx[p]];
            fifo_push(&nslot[p]->rb, wv.data, now + f->cm.hop_latency,
                      (uint8_t)(ctrl | (opposite[p] << 1)));
            nb->rpend |= 1u << s->color;
            wake_router(nb);
        }
    }
    (void)from_port;
    if (ctrl) advance_switch(&s->route);
    return 1;
}

void router_step(wf_fabric *f, wf_pe *pe) {
    uint64_t now = f->now;
    uint32_t pend = pe->rpend;
    /* rotate the starting color so no color starves an output port */
    unsigned r = pe->rr;
    uint32_t order = r ? ((pend >> r) | (pend << (WF_FABRIC_COLORS - r))) & 0xffffffu : pend;
    pe->rr = (uint8_t)(r + 1 == WF_FABRIC_COLORS ? 0 : r + 1);
    int stalled = 0;
    for (uint32_t m = order; m; m &= m - 1) {
        int c = (int)((__builtin_ctz(m) + r) % WF_FABRIC_COLORS);
        wf_cslot *s = slot_of(pe, c);
        if (forward(f, pe, s, now)) f->progress = 1;
        else stalled = 1;
        if (!s->rb.n && !s->out.n) pe->rpend &= ~(1u << c);
    }
    if (stalled) pe->st.stalled++;
}
