/* libFuzzer target: TFRecord framing (length, both masked CRC-32C) and
 * tf.train.Example decoding (ct_example_bytes), through the tfrecord reader
 * on a file, with and without a DALI index file next to it.
 * Input: the first byte selects the mode; with an index, the bytes up to
 * the first 0xff after it are the index text ("offset length" lines), the
 * rest the record file. Never a crash; refusals carry a message; an
 * accepted feature lies inside the input. */
#include <stddef.h>
#include <stdint.h>

#include "../src/data/formats.h"
#include "fuzz_data_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define T "fuzz_tfrecord"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int with_index = data[0] & 1;
    data++;
    size--;
    const uint8_t *v;
    size_t vl;
    if (ct_example_bytes(data, size, "image", &v, &vl) == CT_OK)
        fzd_must(v >= data && vl <= size && (size_t)(v - data) <= size - vl, T,
                 "feature outside the Example");
    else
        fzd_must(ct_errmsg()[0] != 0, T, "a refused Example without a message");

    const uint8_t *rec = data;
    size_t rl = size, il = 0;
    if (with_index) {
        const uint8_t *sep = memchr(data, 0xff, size);
        il = sep ? (size_t)(sep - data) : size;
        rec = sep ? sep + 1 : data + size;
        rl = size - il - (sep ? 1 : 0);
    }
    char path[512], ipath[512];
    unlink(strcat(strcpy(ipath, fzd_root()), "/index/train/a.tfrecord.idx"));
    if (with_index && fzd_put("index/train/a.tfrecord.idx", data, il, ipath, sizeof ipath))
        return 0;
    if (fzd_put("train/a.tfrecord", rec, rl, path, sizeof path))
        return 0;
    for (int odirect = 0; odirect < 2; odirect++) {
        ct_data_file *f;
        if (ct_data_file_open(&f, CT_FMT_TFRECORD, path, odirect) != CT_OK) {
            fzd_must(ct_errmsg()[0] != 0, T, "a refused file without a message");
            continue;
        }
        int64_t n = ct_data_file_samples(f);
        fzd_must(n >= 0, T, "negative record count");
        for (int64_t i = 0; i < n && i < 16; i++) {
            const uint8_t *d;
            size_t len;
            if (ct_data_file_sample(f, i, &d, &len) == CT_OK) {
                fzd_must(len <= rl, T, "a feature longer than the file");
                volatile uint8_t sink = 0;
                for (size_t k = 0; k < len; k += 1 + len / 64)
                    sink ^= d[k];
                (void)sink;
            } else {
                fzd_must(ct_errmsg()[0] != 0, T, "a refused record without a message");
            }
        }
        ct_data_file_close(f);
    }
    return 0;
}
