/* CRC-32 (zip's polynomial 0xEDB88320) of src/data/crc32.c, whose x86
 * paths fold with PCLMULQDQ or AVX-512 VPCLMULQDQ (Intel's "Fast CRC
 * Computation for Generic Polynomials Using PCLMULQDQ"), against zlib's
 * crc32 as the reference, for every path the CPU has: the standard check
 * value, every length 0..1100 at every alignment 0..15, random lengths up
 * to 1 MiB at random alignments from random start values, chaining (crc of
 * A then B = crc of AB), and one 64 MiB buffer. ct_crc32 must take the
 * CPU's best path. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "data/formats.h"

#include "check.h"

static uint32_t ref(uint32_t crc, const uint8_t *p, size_t n)
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

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int main(void)
{
    CHECK(ct_crc32(0, "123456789", 9) == 0xcbf43926u, "check value: %08x", ct_crc32(0, "123456789", 9));
    int best = 0;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1"))
        best = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("vpclmulqdq") ? 2 : 1;
#endif
    CHECK(ct_crc32_accelerated() == best, "ct_crc32 takes path %d, the CPU's best is %d",
          ct_crc32_accelerated(), best);
    static const char *names[] = {"zlib crc32", "PCLMULQDQ folding", "VPCLMULQDQ folding"};
    printf("ct_crc32: %s\n", names[best]);
    size_t cap = (size_t)64 << 20;
    uint8_t *buf = malloc(cap + 64);
    CHECK(buf != NULL, "out of memory");
    if (!buf)
        return check_summary();
    for (size_t i = 0; i < cap + 64; i += 8) {
        uint64_t v = next();
        memcpy(buf + i, &v, 8);
    }
    for (int path = 0; path <= best; path++) {
        int bad = 0;
        for (size_t n = 0; n <= 1100; n++)
            for (size_t off = 0; off < 16; off++) {
                uint32_t start = (uint32_t)next();
                if (ct_crc32_path(path, start, buf + off, n) != ref(start, buf + off, n) && bad++ < 5)
                    printf("  length %zu offset %zu start %08x differs\n", n, off, start);
            }
        CHECK(!bad, "%s: %d short buffers differ from zlib's crc32", names[path], bad);
        bad = 0;
        for (int t = 0; t < 400; t++) {
            size_t n = (size_t)(next() % (1u << 20)), off = (size_t)(next() % 64);
            uint32_t start = t % 4 == 0 ? 0 : (uint32_t)next();
            uint32_t want = ref(start, buf + off, n);
            if (ct_crc32_path(path, start, buf + off, n) != want && bad++ < 5)
                printf("  length %zu offset %zu start %08x differs\n", n, off, start);
            size_t h = n ? (size_t)(next() % n) : 0;
            uint32_t first = ct_crc32_path(path, start, buf + off, h);
            if (ct_crc32_path(path, first, buf + off + h, n - h) != want && bad++ < 5)
                printf("  chained at %zu of %zu (offset %zu) differs\n", h, n, off);
        }
        CHECK(!bad, "%s: %d random buffers differ from zlib's crc32", names[path], bad);
        CHECK(ct_crc32_path(path, 0, buf + 3, cap) == ref(0, buf + 3, cap), "%s: 64 MiB buffer differs",
              names[path]);
    }
    free(buf);
    return check_summary();
}
