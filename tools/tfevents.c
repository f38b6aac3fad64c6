/* ctrain tool — TensorBoard event files (see tfevents.h). */
#include "tfevents.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "data/formats.h"

/* TensorFlow's masked CRC-32C of a record part (the TFRecord framing the
 * data pipeline writes too). */
static uint32_t crc32c_masked(const void *data, size_t n)
{
    return ct_tfrecord_mask(ct_crc32c(0, data, n));
}

static size_t put_varint(unsigned char *b, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        b[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (unsigned char)v;
    return n;
}

static void put_le(unsigned char *b, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static int write_record(FILE *f, const unsigned char *data, size_t n)
{
    unsigned char hdr[12], foot[4];
    put_le(hdr, n, 8);
    put_le(hdr + 8, crc32c_masked(hdr, 8), 4);
    put_le(foot, crc32c_masked(data, n), 4);
    if (fwrite(hdr, 1, 12, f) != 12 || fwrite(data, 1, n, f) != n || fwrite(foot, 1, 4, f) != 4)
        return -1;
    return fflush(f) ? -1 : 0;
}

static double wall_time(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Event header: wall_time (field 1, fixed64) and step (field 2, varint). */
static size_t event_head(unsigned char *b, int64_t step)
{
    double t = wall_time();
    uint64_t bits;
    memcpy(&bits, &t, 8);
    size_t n = 0;
    b[n++] = 0x09;
    put_le(b + n, bits, 8);
    n += 8;
    b[n++] = 0x10;
    n += put_varint(b + n, (uint64_t)step);
    return n;
}

int ct_tfevents_open(ct_tfevents *w, const char *dir, char *err, size_t errcap)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/events.out.tfevents.%lld.ctrain", dir,
             (long long)time(NULL));
    w->f = fopen(path, "ab");
    if (!w->f) {
        snprintf(err, errcap, "%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    unsigned char b[64];
    size_t n = event_head(b, 0);
    static const char ver[] = "brain.Event:2";
    b[n++] = 0x1a;
    b[n++] = (unsigned char)(sizeof ver - 1);
    memcpy(b + n, ver, sizeof ver - 1);
    n += sizeof ver - 1;
    if (write_record(w->f, b, n)) {
        snprintf(err, errcap, "%s: write failed", path);
        fclose(w->f);
        w->f = NULL;
        return -1;
    }
    return 0;
}

int ct_tfevents_scalar(ct_tfevents *w, const char *tag, int64_t step, float value)
{
    if (!w->f)
        return -1;
    size_t tl = strlen(tag);
    if (tl > 200)
        tl = 200;
    unsigned char val[256], summ[272], b[320];
    size_t vn = 0;
    val[vn++] = 0x0a; /* Value.tag */
    vn += put_varint(val + vn, tl);
    memcpy(val + vn, tag, tl);
    vn += tl;
    uint32_t bits;
    memcpy(&bits, &value, 4);
    val[vn++] = 0x15; /* Value.simple_value, fixed32 */
    put_le(val + vn, bits, 4);
    vn += 4;
    size_t sn = 0;
    summ[sn++] = 0x0a; /* Summary.value */
    sn += put_varint(summ + sn, vn);
    memcpy(summ + sn, val, vn);
    sn += vn;
    size_t n = event_head(b, step);
    b[n++] = 0x2a; /* Event.summary */
    n += put_varint(b + n, sn);
    memcpy(b + n, summ, sn);
    n += sn;
    return write_record(w->f, b, n);
}

void ct_tfevents_close(ct_tfevents *w)
{
    if (w->f)
        fclose(w->f);
    w->f = NULL;
}
