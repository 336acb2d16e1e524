/* alloc.c — the one allocator (STYLE 8). Each block carries a 64-byte header
** holding its size, so the heap can count live bytes and enforce a budget
** without a side table; the payload stays 64-byte aligned for SIMD. */
#include "base.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#define HDR 64 /* header size = alignment of the payload */

struct wf_heap {
    size_t budget;           /* 0 = unlimited */
    _Atomic size_t live;     /* bytes handed out and not freed */
    _Atomic size_t peak;
    _Atomic long fail_at;    /* -1 = off; else allocations left before one fails */
};

/* global: the process default heap, for callers that pass NULL (STYLE 10). */
static struct wf_heap default_heap = {0, 0, 0, -1};

wf_heap *wf_heap_default(void) { return &default_heap; }
size_t wf_heap_default_bytes(void) { return sizeof default_heap; }

wf_heap *wf_heap_new(size_t budget) {
    wf_heap *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->budget = budget;
    atomic_store(&h->fail_at, -1);
    return h;
}

void wf_heap_free(wf_heap *h) {
    if (h && h != &default_heap) free(h);
}

size_t wf_heap_live(const wf_heap *h) { return atomic_load(&(h ? h : &default_heap)->live); }
size_t wf_heap_peak(const wf_heap *h) { return atomic_load(&(h ? h : &default_heap)->peak); }
void wf_heap_fail_at(wf_heap *h, long k) { atomic_store(&(h ? h : &default_heap)->fail_at, k); }

static int injected_failure(wf_heap *h) {
    long k = atomic_load(&h->fail_at);
    while (k >= 0) {
        if (atomic_compare_exchange_weak(&h->fail_at, &k, k - 1)) return k == 0;
    }
    return 0;
}

static void account(wf_heap *h, size_t n) {
    size_t now = atomic_fetch_add(&h->live, n) + n;
    size_t p = atomic_load(&h->peak);
    while (now > p && !atomic_compare_exchange_weak(&h->peak, &p, now)) {}
}

/* Big blocks (weights, packed panels, activations) are read as long streams:
** ask Linux for transparent huge pages on their 2 MiB-aligned interior, so
** the hardware prefetchers do not stop at every 4 KiB page and the TLB
** covers them (a hint: where THP is off or "never", nothing changes). */
#define HUGE_MIN ((size_t)8 << 20)
static void huge_pages(unsigned char *p, size_t n) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (n < HUGE_MIN) return;
    const uintptr_t hp = (uintptr_t)2 << 20;
    uintptr_t lo = ((uintptr_t)p + hp - 1) & ~(hp - 1), hi = ((uintptr_t)p + n) & ~(hp - 1);
    if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
    (void)p, (void)n;
#endif
}

void *wf_alloc(wf_heap *h, size_t n, const char *what, wf_err *err) {
    if (!h) h = &default_heap;
    if (injected_failure(h)) {
        WF_FAIL(err, WF_ENOMEM, "%s: allocation of %zu bytes failed (injected)", what, n);
        return NULL;
    }
    if (h->budget && atomic_load(&h->live) + n > h->budget) {
        WF_FAIL(err, WF_ENOMEM, "%s: %zu bytes would exceed the memory budget of %zu bytes (%zu live)",
                what, n, h->budget, atomic_load(&h->live));
        return NULL;
    }
    if (n > SIZE_MAX - 2 * HDR) {
        WF_FAIL(err, WF_ENOMEM, "%s: allocation of %zu bytes is too large", what, n);
        return NULL;
    }
    size_t total = (n + HDR + HDR - 1) / HDR * HDR;
    unsigned char *p = aligned_alloc(HDR, total);
    if (!p) {
        WF_FAIL(err, WF_ENOMEM, "%s: out of memory allocating %zu bytes", what, n);
        return NULL;
    }
    memcpy(p, &n, sizeof n);
    account(h, n);
    huge_pages(p, total);
    return p + HDR;
}

void *wf_calloc(wf_heap *h, size_t n, const char *what, wf_err *err) {
    void *p = wf_alloc(h, n, what, err);
    if (p) memset(p, 0, n);
    return p;
}

static size_t block_size(void *p) {
    size_t n;
    memcpy(&n, (unsigned char *)p - HDR, sizeof n);
    return n;
}

void *wf_realloc(wf_heap *h, void *p, size_t n, const char *what, wf_err *err) {
    if (!p) return wf_alloc(h, n, what, err);
    size_t old = block_size(p);
    void *q = wf_alloc(h, n, what, err);
    if (!q) return NULL;
    memcpy(q, p, old < n ? old : n);
    wf_free(h, p);
    return q;
}

void wf_free(wf_heap *h, void *p) {
    if (!p) return;
    if (!h) h = &default_heap;
    size_t n = block_size(p);
    WF_ASSERT(atomic_load(&h->live) >= n);
    atomic_fetch_sub(&h->live, n);
    free((unsigned char *)p - HDR);
}

size_t wf_mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    unsigned long long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    if (f) fclose(f);
    return (size_t)kb * 1024;
}
