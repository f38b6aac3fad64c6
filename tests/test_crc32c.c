/* CRC-32C (Castagnoli) of src/data/tfrecord.c, whose SSE4.2 path runs three
 * interleaved streams combined by multiplication modulo the polynomial,
 * against the definition: a bit-at-a-time reference written here, on the
 * standard check value and on random buffers of every length up to 600
 * bytes and of block-boundary lengths up to 64 KiB, at every alignment,
 * chained from arbitrary start values (as TFRecord masks are computed). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/formats.h"

#include "check.h"

static uint32_t crc32c_bitwise(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

int main(void)
{
    CHECK(ct_crc32c(0, "123456789", 9) == 0xe3069283u, "check value: %08x",
          ct_crc32c(0, "123456789", 9));
    size_t cap = 65536 + 64;
    uint8_t *buf = malloc(cap);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < cap; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        buf[i] = (uint8_t)(s >> 56);
    }
    size_t lens[] = {1023, 1024, 1025, 3 * 1024, 4095, 4096, 4097, 12287, 12288, 12289,
                     16384, 20000, 40961, 65536};
    int bad = 0;
    for (size_t n = 0; n <= 600 && !bad; n++)
        for (size_t off = 0; off < 8 && !bad; off++) {
            uint32_t start = (uint32_t)(n * 2654435761u);
            bad += ct_crc32c(start, buf + off, n) != crc32c_bitwise(start, buf + off, n);
        }
    CHECK(!bad, "short buffers differ from the bitwise reference");
    for (size_t k = 0; k < sizeof lens / sizeof *lens; k++)
        for (size_t off = 0; off < 64; off += 7) {
            uint32_t want = crc32c_bitwise(0x1234u, buf + off, lens[k]);
            uint32_t got = ct_crc32c(0x1234u, buf + off, lens[k]);
            CHECK(got == want, "length %zu offset %zu: %08x, reference %08x", lens[k], off, got,
                  want);
            /* chaining two pieces equals one pass */
            size_t h = lens[k] / 3;
            CHECK(ct_crc32c(ct_crc32c(0x1234u, buf + off, h), buf + off + h, lens[k] - h) == want,
                  "chained at %zu of %zu", h, lens[k]);
        }
    free(buf);
    return check_summary();
}
