/* TFRecord framing (tensorflow/core/lib/io/record_writer.cc: uint64 length,
 * masked CRC-32C of the length, data, masked CRC-32C of the data) and the
 * two-feature tf.train.Example DLIO writes (tf_generator.py:
 * {'image': bytes_list, 'size': int64_list}), encoded as protobuf does:
 * map entries in insertion order, packed int64. */
#include <string.h>

#include "formats.h"

/* CRC-32C (Castagnoli), reflected polynomial 0x82f63b78. The SSE4.2
 * instruction computes the same function where the CPU has it. */
static uint32_t crc32c_sw(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* x^n-domain product a*b mod P (reflected, x^0 = 1 << 31), as zlib's
 * multmodp (crc32.c), for P = CRC-32C's Castagnoli polynomial. */
static uint32_t crc32c_mulmodp(uint32_t a, uint32_t b)
{
    uint32_t m = (uint32_t)1 << 31, p = 0;
    for (;;) {
        if (a & m) {
            p ^= b;
            if (!(a & (m - 1)))
                break;
        }
        m >>= 1;
        b = b & 1 ? (b >> 1) ^ 0x82f63b78u : b >> 1;
    }
    return p;
}

/* One crc32 instruction has a 3-cycle latency and a 1-cycle throughput:
 * three independent streams over consecutive blocks of CRC32C_BLK bytes
 * keep it busy, and the CRC being linear, crc(A B C) = crc(A) x^(16 BLK)
 * + crc(B) x^(8 BLK) + crc(C) (states without the pre/post inversion;
 * Intel, "Fast CRC Computation for iSCSI Polynomial Using CRC32
 * Instruction", 2011). CRC32C_K1/K2 = x^(8 BLK), x^(16 BLK) mod P. */
#define CRC32C_BLK 4096
#define CRC32C_K1 0x35d73a62u
#define CRC32C_K2 0x28461564u
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p, size_t n)
{
    uint64_t c = ~crc;
    while (n >= 3 * CRC32C_BLK) {
        uint64_t c1 = 0, c2 = 0;
        for (size_t k = 0; k < CRC32C_BLK; k += 8) {
            uint64_t v0, v1, v2;
            memcpy(&v0, p + k, 8);
            memcpy(&v1, p + CRC32C_BLK + k, 8);
            memcpy(&v2, p + 2 * CRC32C_BLK + k, 8);
            c = __builtin_ia32_crc32di(c, v0);
            c1 = __builtin_ia32_crc32di(c1, v1);
            c2 = __builtin_ia32_crc32di(c2, v2);
        }
        c = crc32c_mulmodp(CRC32C_K2, (uint32_t)c) ^ crc32c_mulmodp(CRC32C_K1, (uint32_t)c1) ^
            (uint32_t)c2;
        p += 3 * CRC32C_BLK;
        n -= 3 * CRC32C_BLK;
    }
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--)
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    return ~c32;
}
#endif

uint32_t ct_crc32c(uint32_t crc, const void *data, size_t n)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (__builtin_cpu_supports("sse4.2")) {
        /* AVX-512 VPCLMULQDQ folding where the CPU has it (crc32.c: ~2x
         * the three crc32 streams), the rest by crc32 instructions */
        size_t done = ct_crc32c_fold512(&crc, data, n);
        return crc32c_hw(crc, (const uint8_t *)data + done, n - done);
    }
#endif
    /* table-free fallback: slow but only used off x86 */
    return crc32c_sw(crc, data, n);
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

size_t ct_example_encode(uint8_t *buf, size_t cap, const uint8_t *img, size_t img_len, int64_t size)
{
    /* Feature{bytes_list{value: img}} */
    size_t bl = 1 + varint_len(img_len) + img_len;          /* BytesList */
    size_t f1 = 1 + varint_len(bl) + bl;                     /* Feature */
    size_t e1 = 1 + varint_len(5) + 5 + 1 + varint_len(f1) + f1; /* MapEntry "image" */
    size_t vl = varint_len((uint64_t)size);
    size_t il = 1 + varint_len(vl) + vl;                     /* Int64List packed */
    size_t f2 = 1 + varint_len(il) + il;
    size_t e2 = 1 + varint_len(4) + 4 + 1 + varint_len(f2) + f2; /* MapEntry "size" */
    size_t fs = 1 + varint_len(e1) + e1 + 1 + varint_len(e2) + e2; /* Features */
    size_t total = 1 + varint_len(fs) + fs;
    if (!buf || cap < total)
        return total;
    uint8_t *p = buf;
    *p++ = 0x0a;
    p = put_varint(p, fs);
    *p++ = 0x0a;
    p = put_varint(p, e1);
    *p++ = 0x0a;
    p = put_varint(p, 5);
    memcpy(p, "image", 5);
    p += 5;
    *p++ = 0x12;
    p = put_varint(p, f1);
    *p++ = 0x0a; /* bytes_list = 1 */
    p = put_varint(p, bl);
    *p++ = 0x0a;
    p = put_varint(p, img_len);
    memcpy(p, img, img_len);
    p += img_len;
    *p++ = 0x0a;
    p = put_varint(p, e2);
    *p++ = 0x0a;
    p = put_varint(p, 4);
    memcpy(p, "size", 4);
    p += 4;
    *p++ = 0x12;
    p = put_varint(p, f2);
    *p++ = 0x1a; /* int64_list = 3 */
    p = put_varint(p, il);
    *p++ = 0x0a;
    p = put_varint(p, vl);
    p = put_varint(p, (uint64_t)size);
    return (size_t)(p - buf);
}

static int get_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
    const uint8_t *p = *pp;
    uint64_t r = 0;
    for (int s = 0; s < 64; s += 7) {
        if (p >= end)
            return 0;
        uint8_t b = *p++;
        r |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80)) {
            *v = r;
            *pp = p;
            return 1;
        }
    }
    return 0;
}

/* Iterates length-delimited field `field` of a message; returns 1 and the
 * next payload, 0 at the end, -1 on corrupt input. Skips other fields. */
static int next_ld(const uint8_t **pp, const uint8_t *end, unsigned field, const uint8_t **val,
                   size_t *len)
{
    while (*pp < end) {
        uint64_t tag, l;
        if (!get_varint(pp, end, &tag))
            return -1;
        unsigned wt = (unsigned)(tag & 7);
        if (wt == 2) {
            if (!get_varint(pp, end, &l) || l > (uint64_t)(end - *pp))
                return -1;
            const uint8_t *v = *pp;
            *pp += l;
            if ((tag >> 3) == field) {
                *val = v;
                *len = (size_t)l;
                return 1;
            }
        } else if (wt == 0) {
            if (!get_varint(pp, end, &l))
                return -1;
        } else if (wt == 1) {
            if (end - *pp < 8)
                return -1;
            *pp += 8;
        } else if (wt == 5) {
            if (end - *pp < 4)
                return -1;
            *pp += 4;
        } else {
            return -1;
        }
    }
    return 0;
}

ct_status ct_example_bytes(const uint8_t *ex, size_t n, const char *key, const uint8_t **val,
                           size_t *len)
{
    const uint8_t *p = ex, *end = ex + n, *feats, *entry;
    size_t fl, el;
    int r = next_ld(&p, end, 1, &feats, &fl);
    if (r < 0)
        return ct_fail(NULL, CT_EFORMAT, "corrupt tf.train.Example");
    if (r == 0)
        return ct_fail(NULL, CT_EFORMAT, "tf.train.Example has no features");
    size_t kl = strlen(key);
    const uint8_t *q = feats, *qe = feats + fl;
    while ((r = next_ld(&q, qe, 1, &entry, &el)) == 1) {
        const uint8_t *e = entry, *ee = entry + el, *k = NULL, *v = NULL;
        size_t kn = 0, vn = 0;
        const uint8_t *s = e;
        if (next_ld(&s, ee, 1, &k, &kn) < 0)
            return ct_fail(NULL, CT_EFORMAT, "corrupt tf.train.Example map entry");
        s = e;
        if (next_ld(&s, ee, 2, &v, &vn) < 0)
            return ct_fail(NULL, CT_EFORMAT, "corrupt tf.train.Example map entry");
        if (k && kn == kl && !memcmp(k, key, kl) && v) {
            const uint8_t *fp = v, *bl, *b;
            size_t bll, bn;
            if (next_ld(&fp, v + vn, 1, &bl, &bll) != 1)
                return ct_fail(NULL, CT_EFORMAT, "feature '%s' is not a bytes_list", key);
            const uint8_t *bp = bl;
            if (next_ld(&bp, bl + bll, 1, &b, &bn) != 1)
                return ct_fail(NULL, CT_EFORMAT, "feature '%s' has no value", key);
            *val = b;
            *len = bn;
            return CT_OK;
        }
    }
    if (r < 0)
        return ct_fail(NULL, CT_EFORMAT, "corrupt tf.train.Example features");
    return ct_fail(NULL, CT_EFORMAT, "tf.train.Example has no feature '%s'", key);
}
