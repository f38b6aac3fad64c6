#include "nprand.h"

#include <math.h>

#define MT_N 624
#define MT_M 397

void ct_nprand_seed(ct_nprand *r, uint32_t s)
{
    r->mt[0] = s;
    for (int i = 1; i < MT_N; i++)
        r->mt[i] = 1812433253u * (r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) + (uint32_t)i;
    r->pos = MT_N;
    r->has_gauss = 0;
    r->gauss = 0.0;
}

void ct_nprand_seed_array(ct_nprand *r, const uint32_t *key, size_t n)
{
    ct_nprand_seed(r, 19650218u);
    uint32_t *mt = r->mt;
    size_t i = 1, j = 0;
    size_t k = MT_N > n ? MT_N : n;
    for (; k; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525u)) + key[j] + (uint32_t)j;
        i++;
        j++;
        if (i >= MT_N) {
            mt[0] = mt[MT_N - 1];
            i = 1;
        }
        if (j >= n)
            j = 0;
    }
    for (k = MT_N - 1; k; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i;
        i++;
        if (i >= MT_N) {
            mt[0] = mt[MT_N - 1];
            i = 1;
        }
    }
    mt[0] = 0x80000000u;
    r->pos = MT_N;
    r->has_gauss = 0;
    r->gauss = 0.0;
}

static void mt_generate(ct_nprand *r)
{
    uint32_t *mt = r->mt, y;
    int i;
    for (i = 0; i < MT_N - MT_M; i++) {
        y = (mt[i] & 0x80000000u) | (mt[i + 1] & 0x7fffffffu);
        mt[i] = mt[i + MT_M] ^ (y >> 1) ^ (-(y & 1u) & 0x9908b0dfu);
    }
    for (; i < MT_N - 1; i++) {
        y = (mt[i] & 0x80000000u) | (mt[i + 1] & 0x7fffffffu);
        mt[i] = mt[i + (MT_M - MT_N)] ^ (y >> 1) ^ (-(y & 1u) & 0x9908b0dfu);
    }
    y = (mt[MT_N - 1] & 0x80000000u) | (mt[0] & 0x7fffffffu);
    mt[MT_N - 1] = mt[MT_M - 1] ^ (y >> 1) ^ (-(y & 1u) & 0x9908b0dfu);
    r->pos = 0;
}

uint32_t ct_nprand_u32(ct_nprand *r)
{
    if (r->pos == MT_N)
        mt_generate(r);
    uint32_t y = r->mt[r->pos++];
    y ^= (y >> 11);
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= (y >> 18);
    return y;
}

double ct_nprand_double(ct_nprand *r)
{
    int32_t a = (int32_t)(ct_nprand_u32(r) >> 5), b = (int32_t)(ct_nprand_u32(r) >> 6);
    return (a * 67108864.0 + b) / 9007199254740992.0;
}

double ct_nprand_normal(ct_nprand *r, double loc, double scale)
{
    double g;
    if (r->has_gauss) {
        g = r->gauss;
        r->has_gauss = 0;
        r->gauss = 0.0;
    } else {
        double f, x1, x2, r2;
        do {
            x1 = 2.0 * ct_nprand_double(r) - 1.0;
            x2 = 2.0 * ct_nprand_double(r) - 1.0;
            r2 = x1 * x1 + x2 * x2;
        } while (r2 >= 1.0 || r2 == 0.0);
        f = sqrt(-2.0 * log(r2) / r2);
        r->gauss = f * x1;
        r->has_gauss = 1;
        g = f * x2;
    }
    return loc + scale * g;
}

void ct_nprand_uint8_cont(ct_nprand *r, ct_nprand_u8 *st, int high, uint8_t *out, size_t n)
{
    uint32_t rng = (uint32_t)(high - 1), mask = rng;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    if (rng == 0) {
        if (out)
            for (size_t i = 0; i < n; i++)
                out[i] = 0;
        return;
    }
    /* buffered_uint8: one 32-bit draw serves four bytes, low byte first */
    uint32_t buf = st->buf;
    int bcnt = st->bcnt;
    for (size_t i = 0; i < n; i++) {
        uint32_t v;
        do {
            if (!bcnt) {
                buf = ct_nprand_u32(r);
                bcnt = 3;
            } else {
                buf >>= 8;
                bcnt--;
            }
            v = buf & mask & 0xffu;
        } while (rng != 0xffu && v > rng);
        if (out)
            out[i] = (uint8_t)v;
    }
    st->buf = buf;
    st->bcnt = bcnt;
}

void ct_nprand_uint8(ct_nprand *r, int high, uint8_t *out, size_t n)
{
    ct_nprand_u8 st = {0, 0};
    ct_nprand_uint8_cont(r, &st, high, out, n);
}

uint64_t ct_nprand_interval(ct_nprand *r, uint64_t max)
{
    if (max == 0)
        return 0;
    uint64_t mask = max, v;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    mask |= mask >> 32;
    if (max <= 0xffffffffu) {
        while ((v = (ct_nprand_u32(r) & mask)) > max)
            ;
    } else {
        do {
            uint64_t hi = ct_nprand_u32(r);
            v = ((hi << 32) | ct_nprand_u32(r)) & mask;
        } while (v > max);
    }
    return v;
}

void ct_nprand_shuffle_i64(ct_nprand *r, int64_t *x, int64_t n)
{
    for (int64_t i = n - 1; i >= 1; i--) {
        int64_t j = (int64_t)ct_nprand_interval(r, (uint64_t)i);
        int64_t t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
}
