/* statics.c — the shared-static check (issue 18). Kernel code is plain C run
** for every simulated PE, so a C `static` or global in a kernel is ONE
** variable shared by all PEs, while on the wafer (CSL module state) it would
** be one per PE. Per-PE state belongs in a kernel symbol (wf_sym).
** The check, when on (wf_fabric_set_check_statics): the writable data of the
** main program (.data + .bss, where every kernel static linked into it
** lives) is copied before each task / init call and
** compared after it; any byte the task changed fails the run naming the PE,
** the task, its kernel file:line when known, and the address (with the
** symbol name when the dynamic symbol table has it; else `nm -n` on the
** program names it). Sound for statics of the main program: nothing else of
** the simulator writes there during a task (the default heap's counters are
** skipped); not covered: statics in shared libraries the kernel calls into.
** Cost: two copies of the segment per task, so it is a debug aid (the
** examples' --check-statics; off by default: an ASan build's .data is about
** 1 MB), and runs force one simulator thread. */
#include "fabric_int.h"

#include <dlfcn.h>
#if defined(__GLIBC__)
#include <link.h> /* ElfW */
#endif
#include <stdio.h>
#include <string.h>

/* The main program's .data + .bss: from glibc's __data_start to the
** linker's _end (weak: absent on other platforms, then the check is
** unavailable). .got.plt, written by lazy binding during any task, lies
** before .data and is not included. */
extern char __data_start[] __attribute__((weak));
extern char _end[] __attribute__((weak));
wf_status wf_fabric_set_check_statics(wf_fabric *f, int on, wf_err *err) {
    wf_statics *st = &f->statics;
    wf_free(f->heap, st->copy);
    memset(st, 0, sizeof *st);
    if (!on) return WF_OK;
    uintptr_t d0 = (uintptr_t)__data_start, d1 = (uintptr_t)_end;
    if (d0 && d1 > d0) {
        st->lo[0] = (uint8_t *)d0;
        st->len[0] = (size_t)(d1 - d0);
        st->n = 1;
    }
    size_t tot = 0;
    for (int i = 0; i < st->n; i++) tot += st->len[i];
    if (!tot) return WF_FAIL(err, WF_EUSAGE, "fabric: check statics: no __data_start/_end in this program (glibc + GNU-style linkers only)");
    st->copy = wf_alloc(f->heap, tot, "fabric statics copy", err);
    if (!st->copy) return err ? err->code : WF_ENOMEM;
    st->total = tot;
    st->skip = (const uint8_t *)wf_heap_default();
    st->nskip = wf_heap_default_bytes();
    return WF_OK;
}

/* The copy and the compare walk .data/.bss whole, across the redzones
** AddressSanitizer puts between globals: plain loops exempt from its
** checks (and kept loops: GCC would turn them into memcpy/memcmp calls,
** which ASan intercepts). */
#if defined(__clang__)
#define NO_ASAN __attribute__((no_sanitize("address")))
#elif defined(__GNUC__)
#define NO_ASAN __attribute__((no_sanitize_address, optimize("no-tree-loop-distribute-patterns")))
#else
#define NO_ASAN
#endif
static NO_ASAN void copy_bytes(uint8_t *dst, const uint8_t *src, size_t n) {
    for (size_t k = 0; k < n; k++) dst[k] = src[k];
}
/* The first k >= from where the bytes differ, n when none. */
static NO_ASAN size_t first_diff(const uint8_t *a, const uint8_t *b, size_t from, size_t n) {
    for (size_t k = from; k < n; k++)
        if (a[k] != b[k]) return k;
    return n;
}

void statics_before(wf_fabric *f) {
    wf_statics *st = &f->statics;
    size_t at = 0;
    for (int i = 0; i < st->n; i++) {
        copy_bytes(st->copy + at, st->lo[i], st->len[i]);
        at += st->len[i];
    }
}

/* " ('counts' + 4)" when the dynamic symbol table has the variable (a
** program linked with -rdynamic), else " (0x33460 in ./prog: `nm -n`
** names the variable there)": the address nm prints (a PIE is linked at 0),
** not the run's. A dynamic symbol that does not cover the address (dladdr
** returns the nearest one below it) is not named. */
static void static_name(const uint8_t *a, char *b, size_t n) {
    Dl_info di;
    b[0] = 0;
#if defined(__GLIBC__)
    const ElfW(Sym) *sym = NULL;
    if (!dladdr1(a, &di, (void **)&sym, RTLD_DL_SYMENT)) return;
    if (di.dli_sname && di.dli_saddr && sym && a < (const uint8_t *)di.dli_saddr + sym->st_size) {
        snprintf(b, n, " ('%s' + %td)", di.dli_sname, a - (const uint8_t *)di.dli_saddr);
        return;
    }
#else
    if (!dladdr(a, &di)) return;
#endif
    if (di.dli_fname && di.dli_fbase)
        snprintf(b, n, " (0x%tx in %s: `nm -n` names the variable there)", a - (const uint8_t *)di.dli_fbase,
                 di.dli_fname);
}

void statics_after(wf_fabric *f, wf_pe *pe) {
    wf_statics *st = &f->statics;
    size_t at = 0;
    for (int i = 0; i < st->n; i++) {
        const uint8_t *p = st->lo[i], *c = st->copy + at;
        at += st->len[i];
        for (size_t k = first_diff(p, c, 0, st->len[i]); k < st->len[i]; k = first_diff(p, c, k + 1, st->len[i])) {
            if (p + k >= st->skip && p + k < st->skip + st->nskip) continue;
            char name[320] = "", where[400] = "", after[240] = "";
            static_name(p + k, name, sizeof name);
            snprintf(where, sizeof where, "%p%s", (const void *)(p + k), name);
            /* the write is found when the task has ended, not where it was:
            ** the task's last SDK call goes in the text, not as the error's site */
            if (wf_site_file)
                snprintf(after, sizeof after, " (its last SDK call: %s:%d)", wf_site_file, wf_site_line);
            wf_site_file = NULL;
            /* the advice before the addresses: a long program path must not cut it off */
            wf_pe_fail(pe, WF_EUSAGE, "wrote program static data: a C static/global in kernel code is one variable "
                       "shared by every simulated PE; keep per-PE state in a kernel symbol (wf_sym); the write: "
                       "at %s, offset %zu of the program's .data/.bss, somewhere in the task's kernel code%s",
                       where, (size_t)(p + k - st->lo[i]), after);
            return;
        }
    }
}
