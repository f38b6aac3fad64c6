/* Counter-based random numbers: Philox4x32-10 of Salmon, Moraes, Dror and
 * Shaw, "Parallel random numbers: as easy as 1, 2, 3" (SC 2011), the
 * generator of Random123, cuRAND and JAX. A draw is a pure function of a
 * 64-bit key (the seed) and a 128-bit counter, so there is no generator
 * state beyond the counters the caller keeps, and any thread can compute any
 * draw: results do not depend on how work is split between threads. */
#ifndef CT_CORE_RNG_H
#define CT_CORE_RNG_H

#include <stdint.h>

/* Four 32-bit random words for (key, counter). */
void ct_philox4x32(uint64_t key, const uint32_t ctr[4], uint32_t out[4]);

/* Two uniform doubles in the open interval (0, 1) (53-bit resolution) for
 * the counter (c0, c1, c2, c3) under key. */
void ct_rng_uniform2(uint64_t key, uint64_t c01, uint32_t c2, uint32_t c3, double out[2]);

/* Two independent standard normal deviates (Box-Muller on the uniforms of
 * the same counter). */
void ct_rng_normal2(uint64_t key, uint64_t c01, uint32_t c2, uint32_t c3, double out[2]);

#endif
