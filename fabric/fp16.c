/* fp16.c — IEEE binary16 <-> binary32 conversion by bit manipulation, so the
** kernel API needs no _Float16 support. Rounding is to nearest, ties to even;
** overflow gives infinity; NaN stays NaN (quiet). */
#include "kernel.h"

#include <math.h>
#include <string.h>

float wf_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ffu, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13) | (man ? 0x400000u : 0);
    } else if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do { man <<= 1; e++; } while (!(man & 0x400u));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Rounds |x| (finite, >= 0) to binary16 magnitude bits. Works on doubles so
** float and double inputs share one rounding. */
static uint16_t round_mag(double a) {
    if (a >= 65520.0) return 0x7c00; /* rounds to inf */
    if (a < 0x1p-14) {               /* subnormal range: units of 2^-24 */
        double q = a * 0x1p24;       /* exact scaling */
        double r = nearbyint(q);     /* current mode: nearest-even by default */
        return (uint16_t)r;          /* 1024 -> smallest normal, correct encoding */
    }
    int e;
    double m = frexp(a, &e);         /* a = m * 2^e, m in [0.5,1) */
    double q = ldexp(m, 11);         /* [1024, 2048) */
    double r = nearbyint(q);
    if (r >= 2048.0) { r /= 2; e++; }
    int ex = e - 1 + 15;             /* biased exponent */
    if (ex >= 31) return 0x7c00;
    return (uint16_t)(((unsigned)ex << 10) | ((unsigned)r - 1024u));
}

uint16_t wf_f64_to_f16(double d) {
    uint16_t sign = signbit(d) ? 0x8000 : 0;
    if (isnan(d)) return 0x7e00;
    if (isinf(d)) return sign | 0x7c00;
    return sign | round_mag(fabs(d));
}

uint16_t wf_f32_to_f16(float f) {
    uint32_t bits;
    memcpy(&bits, &f, 4);
    if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x7fffffu)) {
        return (uint16_t)(((bits >> 16) & 0x8000u) | 0x7e00u | ((bits >> 13) & 0x3ffu));
    }
    return wf_f64_to_f16((double)f);
}
