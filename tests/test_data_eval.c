/* workflow.evaluation in ct_dlio_run (dlio_benchmark/main.py run/_eval,
 * utils/statscounter.py): evaluations happen after the epochs DLIO's loop
 * picks (next_eval_epoch = eval_after_epoch; at epoch >= next_eval_epoch:
 * evaluate, next_eval_epoch += epochs_between_evals), read the eval files
 * with batch_size_eval (bytes read = train files x epochs + eval files x
 * evaluations, sizes from stat), and summary.json carries DLIO's eval_*
 * metric names, one entry per evaluation. argv[1]: scratch directory. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctrain/data.h"

#include "check.h"

static cJSON *load_json(const char *p)
{
    FILE *f = fopen(p, "rb");
    if (!f)
        return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return cJSON_Parse(buf);
}

static double set_bytes(const ct_dlio_config *c, int eval)
{
    double t = 0;
    int64_t n = eval ? c->num_files_eval : c->num_files_train;
    for (int64_t i = 0; i < n; i++) {
        char p[4096];
        struct stat sb;
        ct_dlio_file_path(c, eval, i, p, sizeof p);
        if (stat(p, &sb) == 0)
            t += (double)sb.st_size;
    }
    return t;
}

/* DLIO's schedule, main.py run(): the number of evaluations. */
static int dlio_evals(int epochs, int after, int between)
{
    int next = after, n = 0;
    for (int epoch = 1; epoch <= epochs; epoch++)
        if (epoch >= next) {
            next += between;
            n++;
        }
    return n;
}

static void one(const char *dir, int epochs, int after, int between)
{
    char yaml[2048], out[1200];
    snprintf(yaml, sizeof yaml,
             "framework: pytorch\nworkflow:\n  generate_data: True\n  train: True\n"
             "  evaluation: True\n  checkpoint: False\n"
             "dataset:\n  data_folder: %s/data\n  format: npz\n  num_files_train: 4\n"
             "  num_files_eval: 3\n  num_samples_per_file: 2\n  record_length_bytes: 4096\n"
             "reader:\n  batch_size: 2\n  batch_size_eval: 1\n  read_threads: 2\n"
             "train:\n  epochs: %d\n  computation_time: 0\n"
             "evaluation:\n  eval_time: 0.001\n  eval_after_epoch: %d\n  epochs_between_evals: %d\n",
             dir, epochs, after, between);
    ct_dlio_config c;
    CHECK(ct_dlio_config_init(&c) == CT_OK, "init");
    ct_status st = ct_dlio_config_load(&c, NULL, yaml, NULL, 0, NULL, NULL);
    CHECK(st == CT_OK, "config: %s", ct_errmsg());
    ct_dlio_gen_opts go = {1, 0, 1, 0};
    CHECK(ct_dlio_generate(&c, &go) == CT_OK, "generate: %s", ct_errmsg());
    snprintf(out, sizeof out, "%s/out-%d-%d-%d", dir, epochs, after, between);
    ct_dlio_run_opts ro = {0, 1, out, 1};
    st = ct_dlio_run(&c, &ro);
    CHECK(st == CT_OK, "run: %s", ct_errmsg());
    int want = dlio_evals(epochs, after, between);
    char p[1300];
    snprintf(p, sizeof p, "%s/summary.json", out);
    cJSON *s = load_json(p);
    CHECK(s != NULL, "no %s", p);
    if (s) {
        cJSON *m = cJSON_GetObjectItem(s, "metric");
        cJSON *ea = cJSON_GetObjectItem(m, "eval_au_percentage");
        cJSON *et = cJSON_GetObjectItem(m, "eval_throughput_samples_per_second");
        if (want == 0) {
            CHECK(ea == NULL, "epochs %d after %d: an evaluation DLIO would not run", epochs, after);
        } else {
            CHECK(ea && cJSON_GetArraySize(ea) == want, "epochs %d after %d between %d: %d evaluations, "
                  "DLIO runs %d", epochs, after, between, ea ? cJSON_GetArraySize(ea) : -1, want);
            CHECK(et && cJSON_GetArraySize(et) == want, "eval throughput entries");
            for (int k = 0; et && k < cJSON_GetArraySize(et); k++)
                CHECK(cJSON_GetArrayItem(et, k)->valuedouble > 0, "eval throughput %d", k);
            for (int k = 0; ea && k < cJSON_GetArraySize(ea); k++) {
                double v = cJSON_GetArrayItem(ea, k)->valuedouble;
                CHECK(v >= 0 && v <= 100, "eval AU %g", v);
            }
            const char *names[] = {"eval_au_mean_percentage", "eval_au_meet_expectation",
                                   "eval_au_stdev_percentage", "eval_throughput_mean_samples_per_second",
                                   "eval_throughput_stdev_samples_per_second",
                                   "eval_io_mean_MB_per_second", "eval_io_stdev_MB_per_second"};
            for (size_t k = 0; k < sizeof names / sizeof *names; k++)
                CHECK(cJSON_GetObjectItem(m, names[k]) != NULL, "summary lacks metric.%s", names[k]);
        }
        double bytes = cJSON_GetObjectItem(cJSON_GetObjectItem(s, "ctrain"), "bytes_read")->valuedouble;
        double expect = epochs * set_bytes(&c, 0) + want * set_bytes(&c, 1);
        CHECK(bytes == expect, "bytes read %.0f, expected %.0f (%d epochs, %d evaluations)", bytes,
              expect, epochs, want);
        cJSON_Delete(s);
    }
    ct_dlio_config_free(&c);
}

int main(int argc, char **argv)
{
    char dir[1024], cmd[2200];
    snprintf(dir, sizeof dir, "%s/data/eval", argc > 1 ? argv[1] : "/tmp");
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    CHECK(system(cmd) == 0, "cannot prepare %s", dir);
    one(dir, 2, 1, 1);
    one(dir, 5, 2, 2);
    one(dir, 3, 4, 1);
    return check_summary();
}
