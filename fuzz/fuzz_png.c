/* libFuzzer target: the png reader (src/data/png.c: chunk framing, CRCs,
 * IHDR, zlib stream, row filters) and the csv reader with compressed
 * content (src/data/csvz.c: gzip, zip, bz2, xz found by magic bytes, then
 * the row parser; plain csv goes to readers.c's csv reader).
 * Input: the first byte selects the reader (bit 0: png or csv), the rest
 * is the file. Never a crash; refusals carry a message; an accepted file's
 * samples lie in memory the reader owns (ASan checks every byte read). */
#include <stddef.h>
#include <stdint.h>

#include "../src/data/formats.h"
#include "fuzz_data_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define T "fuzz_png"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int png = data[0] & 1;
    char path[512];
    if (fzd_put(png ? "train/x.png" : "train/x.csv", data + 1, size - 1, path, sizeof path))
        return 0;
    ct_data_file *f = NULL;
    ct_status st = ct_data_file_open(&f, png ? CT_FMT_PNG : CT_FMT_CSV, path, 0);
    if (st != CT_OK) {
        fzd_must(ct_errmsg()[0] != 0, T, "a refused file without a message");
        fzd_must(f == NULL, T, "a handle after a failed open");
        return 0;
    }
    int64_t n = ct_data_file_samples(f);
    fzd_must(n >= 0, T, "negative sample count");
    unsigned sum = 0;
    for (int64_t i = 0; i < n && i < 64; i++) {
        const uint8_t *d;
        size_t len;
        if (ct_data_file_sample(f, i, &d, &len) == CT_OK) {
            for (size_t k = 0; k < len; k++)
                sum += d[k];
        } else {
            fzd_must(ct_errmsg()[0] != 0, T, "a refused sample without a message");
        }
    }
    if (png)
        fzd_must(n == 1, T, "an accepted png without exactly one sample");
    ct_data_file_close(f);
    return (int)(sum & 0);
}
