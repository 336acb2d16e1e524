/* rng.h — a small deterministic PRNG (xoshiro256**, seeded by splitmix64):
** same seed, same stream on every machine. Used for init, sampling, shuffling. */
#ifndef WF_BASE_RNG_H
#define WF_BASE_RNG_H

#include <math.h>
#include <stdint.h>

typedef struct { uint64_t s[4]; } wf_rng;

static inline uint64_t wf_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void wf_rng_seed(wf_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = wf_splitmix64(&seed);
}

static inline uint64_t wf_rng_next(wf_rng *r) {
    uint64_t *s = r->s;
    uint64_t x = s[1] * 5, result = ((x << 7) | (x >> 57)) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double wf_rng_uniform(wf_rng *r) {
    return (double)(wf_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Standard normal (Box-Muller; one value per call, the pair's twin discarded
** so the stream position depends only on the number of calls). */
static inline double wf_rng_normal(wf_rng *r) {
    double u1 = wf_rng_uniform(r), u2 = wf_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

#endif
