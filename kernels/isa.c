/* isa.c — the one place that decides which instruction set the kernels use.
** wf_isa_cpu() asks CPUID (and the OS: XGETBV for the AVX/AVX-512/AMX register
** state, and on Linux the AMX tile-data permission through arch_prctl) what
** this machine can run. wf_isa_active() is what every dispatcher uses: the
** CPU's best path, lowered by WAFER_ISA=portable|avx2|avx512|avx512bf16|amx
** or by wf_isa_force() (tests). A request above the CPU is clamped here (the
** library never prints); wf_isa_init() reports it as an error for the CLI.
**
** Facts relied on (Intel SDM vol. 2A, CPUID leaf 07H; vol. 1 ch. 13 XSAVE):
**   leaf 7.0 EBX: bit 5 AVX2, 16 AVX512F, 17 AVX512DQ, 30 AVX512BW, 31 AVX512VL
**   leaf 7.0 EDX: bit 22 AMX-BF16, 24 AMX-TILE;  leaf 7.1 EAX: bit 5 AVX512_BF16
**   leaf 1 ECX: bit 12 FMA, 27 OSXSAVE;  XCR0 bits 1,2 SSE/AVX, 5-7 AVX-512
**   (opmask, ZMM_Hi256, Hi16_ZMM), 17-18 AMX (XTILECFG, XTILEDATA).
** Linux (arch/x86/include/uapi/asm/prctl.h, since 5.16): a process must ask
** for the AMX tile-data state before using it, or the first tile instruction
** faults: arch_prctl(ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18).
** glibc's headers may lack these, so they are defined below. */
#include "kernels/kernels_int.h"

#include "base/base.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#define ARCH_GET_XCOMP_PERM 0x1022 /* linux/arch/x86/include/uapi/asm/prctl.h */
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18
#endif
#endif

static const char *const names[WF_ISA_COUNT] = {"portable", "avx2", "avx512", "avx512bf16", "amx"};

const char *wf_isa_name(wf_isa isa) {
    return (unsigned)isa < WF_ISA_COUNT ? names[isa] : "unknown";
}

int wf_isa_parse(const char *s, wf_isa *out) {
    for (int i = 0; i < WF_ISA_COUNT; i++)
        if (s && !strcmp(s, names[i])) {
            *out = (wf_isa)i;
            return 1;
        }
    return 0;
}

#if defined(__x86_64__) && defined(__GNUC__)
static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}

/* Asks Linux for the AMX tile-data state; 1 when granted (or already). */
static int amx_os_grant(void) {
#if defined(__linux__)
    unsigned long bits = 0;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &bits) == 0 && (bits >> XFEATURE_XTILEDATA & 1))
        return 1;
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, (unsigned long)XFEATURE_XTILEDATA) != 0) return 0;
    bits = 0;
    return syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &bits) == 0 && (bits >> XFEATURE_XTILEDATA & 1);
#else
    return 0; /* other systems: no known way to ask; stay off AMX */
#endif
}

static wf_isa detect(void) {
    uint32_t a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return WF_ISA_PORTABLE;
    int fma = c >> 12 & 1, osxsave = c >> 27 & 1;
    if (!osxsave) return WF_ISA_PORTABLE;
    uint64_t xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return WF_ISA_PORTABLE;
    if (__get_cpuid_max(0, NULL) < 7) return WF_ISA_PORTABLE;
    __cpuid_count(7, 0, a, b, c, d);
    uint32_t b7 = b, d7 = d;
    __cpuid_count(7, 1, a, b, c, d);
    uint32_t a71 = a;
    if (!(b7 >> 5 & 1) || !fma) return WF_ISA_PORTABLE;
    wf_isa best = WF_ISA_AVX2;
    int avx512 = (b7 >> 16 & 1) && (b7 >> 17 & 1) && (b7 >> 30 & 1) && (b7 >> 31 & 1) &&
                 (xcr0 & 0xE0) == 0xE0;
    if (!avx512) return best;
    best = WF_ISA_AVX512;
    if (!(a71 >> 5 & 1)) return best;
    best = WF_ISA_AVX512BF16;
    int amx = (d7 >> 22 & 1) && (d7 >> 24 & 1) && (xcr0 & 0x60000) == 0x60000;
    if (amx && amx_os_grant()) best = WF_ISA_AMX;
    return best;
}
#else
static wf_isa detect(void) { return WF_ISA_PORTABLE; }
#endif

/* -1 = not yet known. Lazily filled; racing threads compute the same value. */
static atomic_int cpu_isa = -1;
static atomic_int active_isa = -1;

wf_isa wf_isa_cpu(void) {
    int v = atomic_load(&cpu_isa);
    if (v < 0) {
        v = (int)detect();
        atomic_store(&cpu_isa, v);
    }
    return (wf_isa)v;
}

/* WAFER_ISA as a level; the CPU's when unset, unknown or too high (the
** CLI reports those through wf_isa_init). */
static wf_isa from_env(void) {
    wf_isa cpu = wf_isa_cpu(), want;
    const char *s = getenv("WAFER_ISA");
    if (!s || !*s || !wf_isa_parse(s, &want) || want > cpu) return cpu;
    return want;
}

wf_isa wf_isa_active(void) {
    int v = atomic_load(&active_isa);
    if (v < 0) {
        v = (int)from_env();
        atomic_store(&active_isa, v);
    }
    return (wf_isa)v;
}

wf_isa wf_isa_force(wf_isa isa) {
    wf_isa cpu = wf_isa_cpu();
    if ((int)isa < 0) isa = from_env();
    if (isa > cpu) isa = cpu;
    atomic_store(&active_isa, (int)isa);
    return isa;
}

wf_status wf_isa_init(wf_err *err) {
    const char *s = getenv("WAFER_ISA");
    wf_isa cpu = wf_isa_cpu(), want;
    if (s && *s) {
        if (!wf_isa_parse(s, &want))
            return WF_FAIL(err, WF_EUSAGE,
                           "WAFER_ISA: '%s' is not a path, expected portable, avx2, avx512, "
                           "avx512bf16 or amx",
                           s);
        if (want > cpu)
            return WF_FAIL(err, WF_EUSAGE,
                           "WAFER_ISA: '%s' is above what this CPU can run (at most '%s'); "
                           "unset it or choose a lower path",
                           s, wf_isa_name(cpu));
    }
    wf_isa_active();
    return WF_OK;
}

const char *wf_cpu_model(char *buf, size_t n) {
    if (!buf || n == 0) return "";
    snprintf(buf, n, "unknown CPU");
#if defined(__x86_64__) && defined(__GNUC__)
    uint32_t r[12];
    if ((unsigned)__get_cpuid_max(0x80000000, NULL) >= 0x80000004u) { /* int in clang's cpuid.h */
        for (uint32_t i = 0; i < 3; i++)
            __cpuid(0x80000002 + i, r[4 * i], r[4 * i + 1], r[4 * i + 2], r[4 * i + 3]);
        char s[49];
        memcpy(s, r, 48);
        s[48] = 0;
        const char *p = s;
        while (*p == ' ') p++;
        snprintf(buf, n, "%s", p);
    }
#endif
    return buf;
}
