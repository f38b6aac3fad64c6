/* libFuzzer target: the .npy header parser (ct_npy_parse), the zip central
 * directory walk of .npz (ct_zip_find_mem) and member extraction
 * (ct_zip_extract, stored and deflate with CRC-32 check), and the npy and
 * npz readers (ct_data_file_*) on the same bytes written to a file. Never
 * a crash; every refusal carries a message; an accepted member lies inside
 * the buffer; an accepted array's samples lie inside the file. */
#include <stddef.h>
#include <stdint.h>

#include "../src/data/formats.h"
#include "fuzz_data_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define T "fuzz_npy"

static void check_reader(int32_t fmt, const char *path)
{
    ct_data_file *f;
    if (ct_data_file_open(&f, fmt, path, 0) != CT_OK) {
        fzd_must(ct_errmsg()[0] != 0, T, "a refused file without a message");
        return;
    }
    int64_t n = ct_data_file_samples(f);
    fzd_must(n >= 0, T, "negative sample count");
    /* first, second, middle and last sample */
    int64_t pick[4] = {0, 1, n / 2, n - 1};
    for (int k = 0; k < 4; k++) {
        if (pick[k] < 0 || pick[k] >= n)
            continue;
        const uint8_t *d;
        size_t len;
        if (ct_data_file_sample(f, pick[k], &d, &len) == CT_OK) {
            volatile uint8_t sink = 0;
            for (size_t i = 0; i < len; i += 1 + len / 64)
                sink ^= d[i]; /* ASan checks the bytes are readable */
            (void)sink;
        } else {
            fzd_must(ct_errmsg()[0] != 0, T, "a refused sample without a message");
        }
    }
    const uint8_t *d;
    size_t len;
    fzd_must(ct_data_file_sample(f, n, &d, &len) != CT_OK, T, "sample past the end accepted");
    ct_data_file_close(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ct_npy_info info;
    if (ct_npy_parse(data, size, &info, "fuzz", 0) == CT_OK) {
        fzd_must(info.header_len <= size, T, "npy header longer than the input");
        fzd_must(info.ndim >= 0 && info.ndim <= 8, T, "npy ndim out of range");
        fzd_must(info.itemsize > 0, T, "npy itemsize 0");
        (void)ct_npy_data_bytes(&info);
    } else {
        fzd_must(ct_errmsg()[0] != 0, T, "a refused npy header without a message");
    }
    ct_zip_entry e;
    if (ct_zip_find_mem(data, size, "x.npy", &e, "fuzz") == CT_OK) {
        fzd_must(e.data_off <= size && e.csize <= size - e.data_off, T,
                 "zip member outside the buffer");
        fzd_must(e.method == 0 || e.method == 8, T, "zip method neither stored nor deflate");
        if (e.method == 0 || e.usize <= (1u << 22)) {
            uint8_t *out = e.method == 8 ? malloc((size_t)e.usize + 1) : NULL;
            const uint8_t *m;
            if (ct_zip_extract(data, &e, out, &m, "fuzz", "x.npy") == CT_OK)
                fzd_must(m != NULL, T, "extract without data");
            else
                fzd_must(ct_errmsg()[0] != 0, T, "a refused member without a message");
            free(out);
        }
    } else {
        fzd_must(ct_errmsg()[0] != 0, T, "a refused zip without a message");
    }
    char path[512];
    if (fzd_put("train/a.npz", data, size, path, sizeof path) == 0)
        check_reader(CT_FMT_NPZ, path);
    if (fzd_put("train/a.npy", data, size, path, sizeof path) == 0)
        check_reader(CT_FMT_NPY, path);
    return 0;
}
