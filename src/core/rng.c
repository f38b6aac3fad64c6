/* Philox4x32-10: Salmon et al., SC 2011, section 4.2 (constants and round
 * function as in Random123's philox.h). Checked against the paper's
 * known-answer vectors in tests/test_bfo.c. */
#include "rng.h"

#include <math.h>

static void round1(uint32_t c[4], const uint32_t k[2])
{
    const uint64_t p0 = (uint64_t)0xD2511F53u * c[0];
    const uint64_t p1 = (uint64_t)0xCD9E8D57u * c[2];
    const uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    const uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    const uint32_t n0 = hi1 ^ c[1] ^ k[0];
    const uint32_t n1 = lo1;
    const uint32_t n2 = hi0 ^ c[3] ^ k[1];
    const uint32_t n3 = lo0;
    c[0] = n0;
    c[1] = n1;
    c[2] = n2;
    c[3] = n3;
}

void ct_philox4x32(uint64_t key, const uint32_t ctr[4], uint32_t out[4])
{
    uint32_t k[2] = {(uint32_t)key, (uint32_t)(key >> 32)};
    uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
    for (int r = 0; r < 10; r++) {
        if (r) {
            k[0] += 0x9E3779B9u;
            k[1] += 0xBB67AE85u;
        }
        round1(c, k);
    }
    out[0] = c[0];
    out[1] = c[1];
    out[2] = c[2];
    out[3] = c[3];
}

void ct_rng_uniform2(uint64_t key, uint64_t c01, uint32_t c2, uint32_t c3, double out[2])
{
    const uint32_t ctr[4] = {(uint32_t)c01, (uint32_t)(c01 >> 32), c2, c3};
    uint32_t w[4];
    ct_philox4x32(key, ctr, w);
    for (int i = 0; i < 2; i++) {
        uint64_t bits = ((uint64_t)w[2 * i] << 21) ^ ((uint64_t)w[2 * i + 1] >> 11);
        bits &= (((uint64_t)1) << 53) - 1;
        /* (bits + 0.5) / 2^53: never 0, never 1 */
        out[i] = ((double)bits + 0.5) * 0x1p-53;
    }
}

void ct_rng_normal2(uint64_t key, uint64_t c01, uint32_t c2, uint32_t c3, double out[2])
{
    double u[2];
    ct_rng_uniform2(key, c01, c2, c3, u);
    const double r = sqrt(-2.0 * log(u[0]));
    const double t = 6.283185307179586476925 * u[1];
    out[0] = r * cos(t);
    out[1] = r * sin(t);
}
