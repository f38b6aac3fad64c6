/* The SIMD conversions of the reduced-precision pass (src/optim/precision_simd.h)
 * against a brute-force reference, at every SIMD level the CPU has:
 *
 * 1. 8-bit blockwise coding (Dettmers et al. 2022, as precision.h states
 *    it): code = the number of the map's 255 thresholds below x / absmax
 *    (float division), found here by a linear scan of ct_qmap.mid; a nonzero
 *    value whose count lands on the code of 0 takes its own sign's entry next
 *    to 0; absmax 0, inf or NaN gives the code of 0 everywhere. Inputs: every
 *    float within 64 ulps of every threshold (both signs, both maps: the ties
 *    and the last ulp before and after each threshold), a sweep over [-1, 1]
 *    in steps of 4,099 ulps (subnormals and +-0 included), random blocks of
 *    every length 1..256 at scales 2^-30..2^30, and blocks holding inf, NaN
 *    or only zeros.
 * 2. Dequantization: map[code] * absmax for every code.
 * 3. bf16 <-> fp32 (round to nearest even, NaN stays a quiet NaN) on random
 *    bit patterns, every length 1..67.
 *
 * usage: test_optim_q8_simd [REFS_DIR]   (the argument is not used)       */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ctrain/ctrain.h"
#include "optim/precision.h"

#include "check.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t next(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

static int zero_code(const ct_qmap *m)
{
    for (int i = 0; i < 256; i++)
        if (m->v[i] == 0)
            return i;
    return -1;
}

/* The reference coder of one block. */
static float ref_q8(const ct_qmap *m, const float *x, size_t n, uint8_t *code)
{
    float amax = 0;
    int bad = 0, nan = 0;
    for (size_t j = 0; j < n; j++) {
        bad |= !isfinite(x[j]);
        nan |= isnan(x[j]);
        amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
    }
    if (nan) /* absmax is that NaN (the blocks here hold one) */
        amax = NAN;
    const int z = zero_code(m);
    for (size_t j = 0; j < n; j++) {
        if (bad || amax == 0) {
            code[j] = (uint8_t)z;
            continue;
        }
        float q = x[j] / amax;
        int c = 0;
        for (int i = 0; i < 255; i++)
            c += m->mid[i] < q;
        if (c == z && q != 0)
            c = q > 0 ? c + 1 : (c > 0 ? c - 1 : c);
        code[j] = (uint8_t)c;
    }
    return amax;
}

static int n_blocks, n_fail;

/* Every level's coder on x[0..n) against the reference. */
static void check_block(const ct_qmap *m, const char *map, const float *x, size_t n)
{
    uint8_t want[CT_QBLOCK], got[CT_QBLOCK];
    float wa = ref_q8(m, x, n, want);
    n_blocks++;
    for (int lvl = CT_SIMD_SCALAR; lvl <= CT_SIMD_AVX512; lvl++) {
        if (!ct_simd_supported(lvl))
            continue;
        float ga = ct_q8_block_at(lvl, m, x, n, got);
        int same = memcmp(got, want, n) == 0 && (memcmp(&ga, &wa, 4) == 0 || (isnan(ga) && isnan(wa)));
        if (!same && n_fail++ < 10) {
            for (size_t j = 0; j < n; j++)
                if (got[j] != want[j]) {
                    fprintf(stderr, "%s map, %s: x = %a (absmax %a): code %d, want %d\n", map,
                            ct_simd_name(lvl), x[j], wa, got[j], want[j]);
                    break;
                }
        }
        CHECK(same, "%s map, %s: %zu-element block coded differently", map, ct_simd_name(lvl), n);
    }
}

/* Feeds values one at a time; each full block also holds +-1 (absmax 1,
 * so x / absmax is x itself). */
typedef struct feeder {
    const ct_qmap *m;
    const char *map;
    float x[CT_QBLOCK];
    size_t k;
} feeder;

static void feed(feeder *f, float v)
{
    f->x[f->k++] = v;
    if (f->k == CT_QBLOCK - 1) {
        f->x[f->k++] = (n_blocks & 1) ? 1.0f : -1.0f;
        check_block(f->m, f->map, f->x, f->k);
        f->k = 0;
    }
}

static float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static uint16_t ref_bf16(float f)
{
    uint32_t u = f2u(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

int main(int argc, char **argv)
{
    (void)argc, (void)argv;
    static ct_qmap maps[2];
    ct_qmap_build(&maps[0], 1);
    ct_qmap_build(&maps[1], 0);
    const char *names[2] = {"signed", "unsigned"};
    for (int mi = 0; mi < 2; mi++) {
        const ct_qmap *m = &maps[mi];
        feeder f = {m, names[mi], {0}, 0};
        /* around every threshold */
        for (int t = 0; t < 255; t++) {
            uint32_t tb = f2u(m->mid[t]) & 0x7fffffffu;
            for (int d = -64; d <= 64; d++) {
                feed(&f, u2f(tb + (uint32_t)d));
                feed(&f, u2f((tb + (uint32_t)d) | 0x80000000u));
            }
        }
        /* a sweep of [-1, 1] */
        for (uint32_t u = 0; u <= 0x3f800000u; u += 4099) {
            feed(&f, u2f(u));
            feed(&f, u2f(u | 0x80000000u));
        }
        feed(&f, 0.0f), feed(&f, -0.0f), feed(&f, 1.0f), feed(&f, -1.0f);
        if (f.k) /* the rest, as a short block */
            check_block(m, f.map, f.x, f.k);
        /* random blocks of every length */
        float x[CT_QBLOCK];
        for (int it = 0; it < 4000; it++) {
            size_t n = 1 + (size_t)(it % CT_QBLOCK);
            float sc = ldexpf(1.0f, (int)(next() % 61) - 30);
            for (size_t j = 0; j < n; j++) {
                uint64_t r = next();
                double v = (double)(r >> 11) / 9007199254740992.0 - (mi ? 0.05 : 0.5);
                if ((r & 15) == 0)
                    v *= 1e-6;
                if ((r & 63) == 1)
                    v = 0;
                if ((r & 127) == 2)
                    v = -0.0;
                x[j] = (float)(v * sc);
            }
            check_block(m, f.map, x, n);
            if (it % 500 == 0) { /* a non-finite or an all-zero block */
                float keep = x[n / 2];
                x[n / 2] = it % 1000 ? INFINITY : NAN;
                check_block(m, f.map, x, n);
                x[n / 2] = keep;
                memset(x, 0, n * sizeof *x);
                check_block(m, f.map, x, n);
            }
        }
        /* dequantization of every code */
        uint8_t code[CT_QBLOCK];
        float want[CT_QBLOCK], got[CT_QBLOCK];
        for (int j = 0; j < CT_QBLOCK; j++)
            code[j] = (uint8_t)(255 - j);
        for (int it = 0; it < 50; it++) {
            float amax = (float)((double)(next() >> 11) / 9007199254740992.0 * 100);
            size_t n = it == 0 ? CT_QBLOCK : 1 + next() % CT_QBLOCK;
            for (size_t j = 0; j < n; j++)
                want[j] = m->v[code[j]] * amax;
            /* AVX-512 twice: with the VBMI byte lookups where the CPU has
             * them, and without */
            for (int lvl = CT_SIMD_SCALAR; lvl <= CT_PREC_AVX512_NO_VBMI; lvl++) {
                if (!ct_simd_supported(lvl < CT_PREC_AVX512_NO_VBMI ? lvl : CT_SIMD_AVX512))
                    continue;
                ct_dq8_block_at(lvl, m, code, n, amax, got);
                CHECK(memcmp(got, want, n * sizeof *got) == 0, "%s map, %s: dequantization",
                      names[mi], lvl < CT_PREC_AVX512_NO_VBMI ? ct_simd_name(lvl) : "avx512 (no VBMI)");
            }
        }
    }
    /* bf16 conversions */
    for (int it = 0; it < 3000; it++) {
        size_t n = 1 + (size_t)(it % 67);
        float x[67], back[67], want_back[67];
        uint16_t h[67], want_h[67], hin[67];
        for (size_t j = 0; j < n; j++) {
            uint64_t r = next();
            x[j] = u2f((uint32_t)(r >> 32));
            if ((r & 7) == 0) /* ties: exactly half an ulp of bf16 */
                x[j] = u2f(((uint32_t)(r >> 32) & 0xffff0000u) | 0x8000u);
            want_h[j] = ref_bf16(x[j]);
            hin[j] = (uint16_t)r;
            want_back[j] = u2f((uint32_t)hin[j] << 16);
        }
        for (int lvl = CT_SIMD_SCALAR; lvl <= CT_SIMD_AVX512; lvl++) {
            if (!ct_simd_supported(lvl))
                continue;
            ct_f32_to_bf16_at(lvl, x, h, n);
            CHECK(memcmp(h, want_h, n * sizeof *h) == 0, "%s: fp32 -> bf16", ct_simd_name(lvl));
            ct_bf16_to_f32_at(lvl, hin, back, n);
            CHECK(memcmp(back, want_back, n * sizeof *back) == 0, "%s: bf16 -> fp32",
                  ct_simd_name(lvl));
        }
    }
    printf("%d blocks coded at every level\n", n_blocks);
    return check_summary();
}
