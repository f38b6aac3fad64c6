/* DLIO workload configs: DLIO's defaults, the shipped workloads, overrides,
 * warnings for unknown keys (with their line), errors for invalid values
 * (naming key, value and allowed set). */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrain/data.h"

#include "check.h"

typedef struct warns {
    int n;
    char last[600];
} warns;

static void on_warn(void *ctx, const char *msg)
{
    warns *w = ctx;
    w->n++;
    snprintf(w->last, sizeof w->last, "%s", msg);
}

static ct_status load_text(ct_dlio_config *c, const char *text, const char *const *ov, size_t n,
                           warns *w)
{
    ct_dlio_config_free(c);
    ct_dlio_config_init(c);
    memset(w, 0, sizeof *w);
    return ct_dlio_config_load(c, NULL, text, ov, n, on_warn, w);
}

static void test_defaults(void)
{
    ct_dlio_config c;
    warns w;
    memset(&c, 0, sizeof c);
    CHECK(load_text(&c, "{}", NULL, 0, &w) == CT_OK, "empty config: %s", ct_errmsg());
    /* dlio_benchmark/utils/config.py ConfigArguments defaults */
    CHECK(c.format == CT_FMT_TFRECORD && c.record_length == 65536 && c.num_files_train == 8 &&
              c.num_samples_per_file == 1 && c.batch_size == 1 && c.epochs == 1 &&
              c.seed_change_epoch == 1 && c.seed == 123 && c.read_threads == 1 &&
              c.prefetch_size == 2 && c.shuffle_size == 1024 && c.total_training_steps == -1 &&
              c.compression_level == 4 && !strcmp(c.file_prefix, "img") && c.au == 0.90 &&
              c.generation_buffer_size == 2LL * 1073741824LL,
          "defaults differ from DLIO's");
    ct_dlio_config_free(&c);
}

static void test_shipped(const char *dir, int ours)
{
    char pat[4200];
    snprintf(pat, sizeof pat, "%s/*.yaml", dir);
    glob_t g;
    if (glob(pat, 0, NULL, &g) != 0) {
        printf("note: no workloads in %s\n", dir);
        return;
    }
    for (size_t i = 0; i < g.gl_pathc; i++) {
        ct_dlio_config c;
        warns w = {0, ""};
        ct_dlio_config_init(&c);
        ct_status st = ct_dlio_config_load(&c, g.gl_pathv[i], NULL, NULL, 0, on_warn, &w);
        CHECK(st == CT_OK, "%s does not validate: %s", g.gl_pathv[i], ct_errmsg());
        if (ours && strstr(g.gl_pathv[i], "unet3d_a100")) {
            CHECK(c.format == CT_FMT_NPZ && c.num_files_train == 168 &&
                      c.record_length == 146600628 && c.record_length_stdev == 68341808 &&
                      c.record_length_resize == 2097152 && c.batch_size == 7 && c.read_threads == 4 &&
                      c.file_shuffle == CT_SHUFFLE_SEED && c.sample_shuffle == CT_SHUFFLE_SEED &&
                      c.epochs == 5 && c.computation_time.mean == 0.636 &&
                      c.framework == CT_FRAMEWORK_PYTORCH && c.data_loader == CT_LOADER_PYTORCH &&
                      !strcmp(c.data_folder, "data/unet3d") && c.checkpoint_after_epoch == 5,
                  "unet3d_a100 values");
            /* model.model_size is not a DLIO key (model_size_bytes is) */
            CHECK(w.n >= 1 && strstr(w.last, "model.model_size") && strstr(w.last, "line"),
                  "unet3d_a100: expected a warning for model.model_size, got '%s'", w.last);
        }
        if (ours && strstr(g.gl_pathv[i], "resnet50_a100"))
            CHECK(c.record_length == 114660.07 && c.read_threads == 8 && c.batch_size == 400 &&
                      c.dont_use_mmap == 1 && c.format == CT_FMT_TFRECORD,
                  "resnet50_a100 values");
        if (ours && strstr(g.gl_pathv[i], "bert_v100"))
            CHECK(c.total_training_steps == 1000 && c.seed_change_epoch == 0 &&
                      !strcmp(c.file_prefix, "part") && c.model_size == 4034713312.0 &&
                      c.steps_between_checkpoints == 250,
                  "bert_v100 values");
        ct_dlio_config_free(&c);
    }
    printf("%zu workloads from %s\n", g.gl_pathc, dir);
    globfree(&g);
}

static void test_overrides_and_errors(void)
{
    ct_dlio_config c;
    warns w;
    memset(&c, 0, sizeof c);
    const char *base = "framework: pytorch\n"
                       "dataset:\n"
                       "  format: npz\n"
                       "  num_files_train: 10\n"
                       "  bogus_key: 3\n"
                       "reader:\n"
                       "  data_loader: pytorch\n"
                       "  sample_shuffle: off\n"
                       "train:\n"
                       "  computation_time:\n"
                       "    mean: 0.5\n"
                       "    stdev: 0.1\n";
    const char *ov[] = {"++workload.dataset.num_files_train=4", "++workload.reader.batch_size=3",
                        "++workload.train.seed=7", "workload.dataset.data_folder=/tmp/x/"};
    CHECK(load_text(&c, base, ov, 4, &w) == CT_OK, "overrides: %s", ct_errmsg());
    CHECK(c.num_files_train == 4 && c.batch_size == 3 && c.seed == 7 && !strcmp(c.data_folder, "/tmp/x"),
          "override values");
    CHECK(c.sample_shuffle == CT_SHUFFLE_OFF, "YAML 'off' is off");
    CHECK(c.computation_time.kind == CT_TIME_NORMAL && c.computation_time.mean == 0.5 &&
              c.computation_time.stdev == 0.1,
          "time dict");
    CHECK(w.n == 1 && strstr(w.last, "dataset.bogus_key") && strstr(w.last, "line 5"),
          "unknown key warning: '%s'", w.last);

    const char *bad1 = "dataset:\n  format: npzz\n";
    CHECK(load_text(&c, bad1, NULL, 0, &w) == CT_EINVAL && strstr(ct_errmsg(), "dataset.format") &&
              strstr(ct_errmsg(), "npzz") && strstr(ct_errmsg(), "tfrecord, hdf5") &&
              strstr(ct_errmsg(), "line 2"),
          "bad enum message: %s", ct_errmsg());
    const char *bad2 = "reader:\n  batch_size: -3\n";
    CHECK(load_text(&c, bad2, NULL, 0, &w) == CT_EINVAL && strstr(ct_errmsg(), "reader.batch_size") &&
              strstr(ct_errmsg(), "-3") && strstr(ct_errmsg(), "[1,"),
          "bad int message: %s", ct_errmsg());
    const char *ovb[] = {"++workload.reader.read_threads=many"};
    CHECK(load_text(&c, "{}", ovb, 1, &w) == CT_EINVAL && strstr(ct_errmsg(), "reader.read_threads") &&
              strstr(ct_errmsg(), "many") && strstr(ct_errmsg(), "override"),
          "bad override message: %s", ct_errmsg());
    const char *bad3 = "framework: tensorflow\ndataset:\n  format: npz\nreader:\n  data_loader: pytorch\n";
    CHECK(load_text(&c, bad3, NULL, 0, &w) == CT_EINVAL && strstr(ct_errmsg(), "incompatible"),
          "framework/loader mismatch: %s", ct_errmsg());
    const char *bad4 = "dataset:\n  format: [npz\n";
    CHECK(load_text(&c, bad4, NULL, 0, &w) == CT_EFORMAT && strstr(ct_errmsg(), "YAML"),
          "YAML syntax error: %s", ct_errmsg());
    const char *ovw[] = {"++workload.reader.no_such=1"};
    CHECK(load_text(&c, "{}", ovw, 1, &w) == CT_OK && w.n == 1 && strstr(w.last, "reader.no_such"),
          "unknown override key warns: '%s'", w.last);
    /* 2.0.0 spellings */
    const char *old = "model: unet3d\ndataset:\n  record_length: 1000\n  record_length_stdev: 10\n"
                      "checkpoint:\n  model_size: 5000\n";
    CHECK(load_text(&c, old, NULL, 0, &w) == CT_OK && c.record_length == 1000 &&
              c.record_length_stdev == 10 && c.model_size == 5000 && !strcmp(c.model_name, "unet3d") &&
              w.n == 0,
          "dlio 2.0.0 keys: %s", ct_errmsg());
    ct_dlio_config_free(&c);

    ct_dlio_config_init(&c);
    c.num_files_train = 12;
    c.num_subfolders_train = 3;
    c.format = CT_FMT_NPZ;
    char p[256];
    ct_dlio_file_path(&c, 0, 7, p, sizeof p);
    CHECK(!strcmp(p, "./data/train/1/img_07_of_12.npz"), "path %s", p);
    c.num_subfolders_train = 0;
    ct_dlio_file_path(&c, 0, 7, p, sizeof p);
    CHECK(!strcmp(p, "./data/train/img_07_of_12.npz"), "path %s", p);
    ct_dlio_config_free(&c);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    test_defaults();
    test_overrides_and_errors();
    /* the workloads shipped with DLIO, if this checkout has them */
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", __FILE__);
    char *s = strrchr(dir, '/');
    if (s) {
        *s = 0;
        s = strrchr(dir, '/');
        if (s)
            *s = 0;
        size_t l = strlen(dir);
        snprintf(dir + l, sizeof dir - l, "/../shared/dlio");
        test_shipped(dir, 1);
    }
    const char *extra = getenv("CTRAIN_DLIO_WORKLOADS");
    if (extra)
        test_shipped(extra, 0);
    return check_summary();
}
