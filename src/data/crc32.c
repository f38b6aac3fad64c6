/* CRC-32 of zip (and gzip, PNG, zlib): reflected polynomial 0xEDB88320,
 * initial value and final xor 0xFFFFFFFF; ct_crc32(crc, buf, len) equals
 * zlib's crc32(crc, buf, len), so the two chain.
 *
 * x86-64 with PCLMULQDQ: carry-less multiplication folding, Intel, "Fast
 * CRC Computation for Generic Polynomials Using PCLMULQDQ Instruction"
 * (Gopal et al., 2009): four 128-bit accumulators fold 64 bytes per step
 * (k1, k2: x^(512+32), x^(512-32) mod P), are folded into one by 128 bits
 * (k3, k4), the 128 bits reduced to 64 (k5) and to 32 by Barrett reduction
 * (mu', P'). The constants are the paper's for the bit-reflected CRC-32
 * (as in Linux's crc32-pclmul_asm.S and Chromium's zlib crc32_simd.c).
 * With AVX-512 VPCLMULQDQ the same folding runs on four lanes per
 * instruction (crc32_fold512), also for CRC-32C (ct_crc32c_fold512, used
 * by tfrecord.c) with Castagnoli's constants. Inputs shorter than 64 bytes
 * and the last len % 16 bytes go through zlib's crc32, which is also the
 * fallback without PCLMULQDQ. Tested against zlib's crc32 for every path
 * in tests/test_crc32.c (CRC-32C: tests/test_crc32c.c). */
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "formats.h"

static uint32_t crc32_zlib(uint32_t crc, const uint8_t *p, size_t n)
{
    uLong c = crc;
    while (n) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, p, k);
        p += k;
        n -= k;
    }
    return (uint32_t)c;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

/* Folding constants of a bit-reflected CRC-32 with polynomial P, as the
 * paper defines them: for a fold over D bits, (x^(D+32) mod P)' << 1 and
 * (x^(D-32) mod P)' << 1 (' = bit-reflected), k5 = (x^64 mod P)' << 1,
 * P' = P reflected (33 bits), mu' = floor(x^64 / P) reflected (33 bits).
 * Zip's (0x04C11DB7) are the paper's; Castagnoli's (0x1EDC6F41, CRC-32C)
 * are computed by the same formula, which gives the paper's for zip. */
typedef struct fold_k {
    long long d2048[2], d512[2], d128[2], k5, pp, mu;
} fold_k;
static const fold_k K_ZIP = {{0x011542778aLL, 0x01322d1430LL}, {0x0154442bd4LL, 0x01c6e41596LL},
                             {0x01751997d0LL, 0x00ccaa009eLL}, 0x0163cd6124LL, 0x01db710641LL,
                             0x01f7011641LL};
static const fold_k K_CASTAGNOLI = {{0x00dcb17aa4LL, 0x00b9e02b86LL},
                                    {0x00740eef02LL, 0x009e4addf8LL},
                                    {0x00f20c0dfeLL, 0x014cd00bd6LL}, 0x00dd45aab8LL,
                                    0x0105ec76f1LL, 0x00dea713f1LL};

__attribute__((target("pclmul,sse4.1"))) static uint32_t crc32_fold_tail(const fold_k *k,
                                                                         __m128i x1, __m128i x2,
                                                                         __m128i x3, __m128i x4,
                                                                         const uint8_t *p, size_t n);

/* n >= 64, n % 16 == 0; crc is the running state without the final
 * inversion (~crc of zlib's convention). Returns the state likewise. */
__attribute__((target("pclmul,sse4.1"))) static uint32_t crc32_fold(const fold_k *k, uint32_t crc,
                                                                     const uint8_t *p, size_t n)
{
    const __m128i k1k2 = _mm_set_epi64x(k->d512[1], k->d512[0]);
    __m128i x1, x2, x3, x4, x5, x6, x7, x8;

    x1 = _mm_loadu_si128((const __m128i *)(p + 0x00));
    x2 = _mm_loadu_si128((const __m128i *)(p + 0x10));
    x3 = _mm_loadu_si128((const __m128i *)(p + 0x20));
    x4 = _mm_loadu_si128((const __m128i *)(p + 0x30));
    x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)crc));
    p += 64;
    n -= 64;
    while (n >= 64) {
        x5 = _mm_clmulepi64_si128(x1, k1k2, 0x00);
        x6 = _mm_clmulepi64_si128(x2, k1k2, 0x00);
        x7 = _mm_clmulepi64_si128(x3, k1k2, 0x00);
        x8 = _mm_clmulepi64_si128(x4, k1k2, 0x00);
        x1 = _mm_clmulepi64_si128(x1, k1k2, 0x11);
        x2 = _mm_clmulepi64_si128(x2, k1k2, 0x11);
        x3 = _mm_clmulepi64_si128(x3, k1k2, 0x11);
        x4 = _mm_clmulepi64_si128(x4, k1k2, 0x11);
        x1 = _mm_xor_si128(_mm_xor_si128(x1, x5), _mm_loadu_si128((const __m128i *)(p + 0x00)));
        x2 = _mm_xor_si128(_mm_xor_si128(x2, x6), _mm_loadu_si128((const __m128i *)(p + 0x10)));
        x3 = _mm_xor_si128(_mm_xor_si128(x3, x7), _mm_loadu_si128((const __m128i *)(p + 0x20)));
        x4 = _mm_xor_si128(_mm_xor_si128(x4, x8), _mm_loadu_si128((const __m128i *)(p + 0x30)));
        p += 64;
        n -= 64;
    }
    return crc32_fold_tail(k, x1, x2, x3, x4, p, n);
}

/* Four 128-bit accumulators x1..x4 (consecutive 16-byte lanes of the
 * folded message) into one, the last n (% 16 == 0) bytes at p folded in,
 * reduced to the 32-bit state. */
__attribute__((target("pclmul,sse4.1"))) static uint32_t crc32_fold_tail(const fold_k *k,
                                                                         __m128i x1, __m128i x2,
                                                                         __m128i x3, __m128i x4,
                                                                         const uint8_t *p, size_t n)
{
    const __m128i k3k4 = _mm_set_epi64x(k->d128[1], k->d128[0]);
    const __m128i k5k0 = _mm_set_epi64x(0, k->k5);
    const __m128i poly = _mm_set_epi64x(k->mu, k->pp);
    const __m128i mask32 = _mm_setr_epi32(~0, 0, ~0, 0);
    __m128i x5;
    /* four accumulators into one */
    x5 = _mm_clmulepi64_si128(x1, k3k4, 0x00);
    x1 = _mm_clmulepi64_si128(x1, k3k4, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(x1, x2), x5);
    x5 = _mm_clmulepi64_si128(x1, k3k4, 0x00);
    x1 = _mm_clmulepi64_si128(x1, k3k4, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(x1, x3), x5);
    x5 = _mm_clmulepi64_si128(x1, k3k4, 0x00);
    x1 = _mm_clmulepi64_si128(x1, k3k4, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(x1, x4), x5);
    while (n >= 16) {
        x2 = _mm_loadu_si128((const __m128i *)p);
        x5 = _mm_clmulepi64_si128(x1, k3k4, 0x00);
        x1 = _mm_clmulepi64_si128(x1, k3k4, 0x11);
        x1 = _mm_xor_si128(_mm_xor_si128(x1, x2), x5);
        p += 16;
        n -= 16;
    }
    /* 128 -> 64 bits */
    x2 = _mm_clmulepi64_si128(x1, k3k4, 0x10);
    x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), x2);
    x2 = _mm_srli_si128(x1, 4);
    x1 = _mm_and_si128(x1, mask32);
    x1 = _mm_clmulepi64_si128(x1, k5k0, 0x00);
    x1 = _mm_xor_si128(x1, x2);
    /* Barrett reduction to 32 bits */
    x2 = _mm_and_si128(x1, mask32);
    x2 = _mm_clmulepi64_si128(x2, poly, 0x10);
    x2 = _mm_and_si128(x2, mask32);
    x2 = _mm_clmulepi64_si128(x2, poly, 0x00);
    x1 = _mm_xor_si128(x1, x2);
    return (uint32_t)_mm_extract_epi32(x1, 1);
}

/* The same folding four lanes per instruction (AVX-512 VPCLMULQDQ): four
 * 512-bit accumulators cover 256 bytes and fold forward by 2048 bits
 * (x^(2048+32), x^(2048-32) mod P, bit-reflected and shifted as the
 * paper's k1, k2; computed as those, which the same formula gives for 512
 * and 128 bits); then the four are folded into the last by 512 bits (k1,
 * k2), whose four lanes are crc32_fold's x1..x4. n >= 256, n % 16 == 0. */
__attribute__((target("avx512f,vpclmulqdq,pclmul,sse4.1"))) static uint32_t
crc32_fold512(const fold_k *k, uint32_t crc, const uint8_t *p, size_t n)
{
    const __m512i k2048 = _mm512_broadcast_i32x4(_mm_set_epi64x(k->d2048[1], k->d2048[0]));
    const __m512i k512 = _mm512_broadcast_i32x4(_mm_set_epi64x(k->d512[1], k->d512[0]));
    __m512i z0 = _mm512_loadu_si512((const void *)(p + 0x00));
    __m512i z1 = _mm512_loadu_si512((const void *)(p + 0x40));
    __m512i z2 = _mm512_loadu_si512((const void *)(p + 0x80));
    __m512i z3 = _mm512_loadu_si512((const void *)(p + 0xc0));
    z0 = _mm512_xor_si512(z0, _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)crc)));
    p += 256;
    n -= 256;
    /* a ^ b ^ c in one instruction (truth table 0x96) */
#define XOR3(a, b, c) _mm512_ternarylogic_epi64((a), (b), (c), 0x96)
#define FOLD(z, k, d) XOR3(_mm512_clmulepi64_epi128((z), (k), 0x00), \
                           _mm512_clmulepi64_epi128((z), (k), 0x11), (d))
    while (n >= 256) {
        z0 = FOLD(z0, k2048, _mm512_loadu_si512((const void *)(p + 0x00)));
        z1 = FOLD(z1, k2048, _mm512_loadu_si512((const void *)(p + 0x40)));
        z2 = FOLD(z2, k2048, _mm512_loadu_si512((const void *)(p + 0x80)));
        z3 = FOLD(z3, k2048, _mm512_loadu_si512((const void *)(p + 0xc0)));
        p += 256;
        n -= 256;
    }
    z1 = FOLD(z0, k512, z1);
    z2 = FOLD(z1, k512, z2);
    z3 = FOLD(z2, k512, z3);
#undef FOLD
#undef XOR3
    return crc32_fold_tail(k, _mm512_extracti32x4_epi32(z3, 0), _mm512_extracti32x4_epi32(z3, 1),
                           _mm512_extracti32x4_epi32(z3, 2), _mm512_extracti32x4_epi32(z3, 3), p, n);
}
#endif

/* The best path this CPU has: 2 VPCLMULQDQ, 1 PCLMULQDQ, 0 zlib. */
static int best_path(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (!__builtin_cpu_supports("pclmul") || !__builtin_cpu_supports("sse4.1"))
        return 0;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("vpclmulqdq"))
        return 2;
    return 1;
#else
    return 0;
#endif
}

uint32_t ct_crc32_path(int path, uint32_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;
    int best = best_path();
    path = path < 0 || path > best ? best : path;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (path >= 1 && n >= 64) {
        size_t chunk = n & ~(size_t)15;
        crc = path == 2 && chunk >= 256 ? ~crc32_fold512(&K_ZIP, ~crc, p, chunk)
                                        : ~crc32_fold(&K_ZIP, ~crc, p, chunk);
        p += chunk;
        n -= chunk;
    }
#endif
    return n ? crc32_zlib(crc, p, n) : crc;
}

uint32_t ct_crc32(uint32_t crc, const void *data, size_t n) { return ct_crc32_path(-1, crc, data, n); }

int ct_crc32_accelerated(void) { return best_path(); }

size_t ct_crc32c_fold512(uint32_t *crc, const void *data, size_t n)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (n >= 256 && best_path() == 2) {
        size_t chunk = n & ~(size_t)15;
        *crc = ~crc32_fold512(&K_CASTAGNOLI, ~*crc, data, chunk);
        return chunk;
    }
#endif
    (void)crc;
    (void)data;
    return 0;
}
