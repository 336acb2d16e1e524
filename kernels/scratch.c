/* scratch.c — reusable packing buffers for the GEMM drivers (kernels_int.h).
**
** A blocked GEMM packs its operands into buffers of a few hundred KiB to a
** few MiB. Allocated and freed per call, they are mmap'd and unmapped each
** time, and every product pays page faults and the kernel's zeroing of fresh
** pages: measured on a 256 x 256 x 768 AMX product, 26% of the time in
** exc_page_fault and 0.34 ms per call instead of 0.1. So a few buffers live
** for the whole process and are lent out: a caller takes a free slot (an
** atomic flag), grows it if it is too small, and gives it back. When every
** slot is busy (products running concurrently on several threads) the caller
** gets a buffer of its own, freed on return, as before.
**
** The slots come from aligned_alloc, not wf_alloc: they stay allocated
** until the process exits by design, and the default wf_heap's live count
** (which tests check for leaks) should not see them. */
#include "kernels/kernels_int.h"

#include <stdatomic.h>
#include <stdlib.h>

#define NSLOTS 6

static struct {
    atomic_flag busy;
    void *p;
    size_t cap;
} slots[NSLOTS] = {{ATOMIC_FLAG_INIT, NULL, 0}, {ATOMIC_FLAG_INIT, NULL, 0}, {ATOMIC_FLAG_INIT, NULL, 0},
                   {ATOMIC_FLAG_INIT, NULL, 0}, {ATOMIC_FLAG_INIT, NULL, 0}, {ATOMIC_FLAG_INIT, NULL, 0}};

static size_t round64(size_t n) { return (n + 63) / 64 * 64; }

void *wf_scratch_take(wf_scratch *s, size_t bytes) {
    size_t n = round64(bytes ? bytes : 1);
    for (int i = 0; i < NSLOTS; i++) {
        if (atomic_flag_test_and_set_explicit(&slots[i].busy, memory_order_acquire)) continue;
        if (slots[i].cap < n) {
            free(slots[i].p);
            slots[i].p = aligned_alloc(64, n);
            slots[i].cap = slots[i].p ? n : 0;
        }
        if (slots[i].p) {
            s->p = slots[i].p, s->slot = i;
            return s->p;
        }
        atomic_flag_clear_explicit(&slots[i].busy, memory_order_release);
        break; /* out of memory for the slot: a plain buffer may still fit */
    }
    s->slot = -1;
    s->p = aligned_alloc(64, n);
    return s->p;
}

void wf_scratch_give(wf_scratch *s) {
    if (!s->p) return;
    if (s->slot >= 0) atomic_flag_clear_explicit(&slots[s->slot].busy, memory_order_release);
    else free(s->p);
    s->p = NULL, s->slot = -1;
}
