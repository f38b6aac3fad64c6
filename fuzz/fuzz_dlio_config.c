/* libFuzzer target: the DLIO workload reader (ct_dlio_config_load on YAML
 * text), with and without overrides, then the file layout it implies
 * (ct_dlio_file_path) and the sampler count. Never a crash; a refused config
 * carries a message; an accepted one validates. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrain/data.h"
#include "ctrain/ctrain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_dlio_config: contract broken: %s\n", what);
        abort();
    }
}

static void quiet(void *ctx, const char *msg)
{
    must(msg && msg[0], "an empty warning");
    (*(int *)ctx)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The text may end at a NUL: the tail after it is one override. */
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    size_t tl = strlen(text);
    const char *ov[2] = {tl < size ? text + tl + 1 : NULL, "++workload.reader.batch_size=3"};
    for (int mode = 0; mode < 3; mode++) {
        ct_dlio_config c;
        must(ct_dlio_config_init(&c) == CT_OK, "init");
        int warnings = 0;
        size_t n = mode == 0 ? 0 : mode == 1 ? (ov[0] ? 1 : 0) : 1;
        const char *const *o = mode == 2 ? ov + 1 : ov;
        ct_status st = ct_dlio_config_load(&c, NULL, text, o, n, quiet, &warnings);
        if (st != CT_OK) {
            must(ct_errmsg()[0] != 0, "a refused config without a message");
        } else {
            must(ct_dlio_config_validate(&c) == CT_OK, "an accepted config does not validate");
            must(c.unknown_keys <= warnings, "unknown keys without a warning each");
            char p[256];
            for (int eval = 0; eval < 2; eval++) {
                int64_t nf = eval ? c.num_files_eval : c.num_files_train;
                if (nf > 0) {
                    int len = ct_dlio_file_path(&c, eval, nf - 1, p, sizeof p);
                    must(len >= 0, "negative path length");
                    char *big = malloc((size_t)len + 1);
                    must(big && ct_dlio_file_path(&c, eval, nf - 1, big, (size_t)len + 1) == len,
                         "path length differs between calls");
                    must(strlen(big) == (size_t)len, "path length");
                    free(big);
                }
            }
            ct_sampler_opts so = {c.num_files_train, c.num_samples_per_file, c.file_shuffle,
                                  c.sample_shuffle, c.shuffle_size, c.seed, c.seed_change_epoch,
                                  0, 1, c.batch_size, c.drop_last};
            (void)ct_sampler_count(&so);
        }
        ct_dlio_config_free(&c);
    }
    free(text);
    return 0;
}
