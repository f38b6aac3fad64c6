/* DLIO's training loop on a scaled-down shipped workload (unet3d_a100 via
 * overrides, as `ctrain dlio run` does): summary.json and the per-rank
 * file exist with DLIO's metric names; bytes read equal the data set's
 * file sizes per epoch; AU follows computation_time; the checkpoint files
 * carry DLIO 2.0.0's names (checkpointing/base_checkpointing.py:
 * model-E-S-R.pt and, with the default checkpoint.layer_parameters,
 * layer-0-E-S-R.pt; their bytes are checked against DLIO's own writer in
 * tests/test_dlio_mpi.sh); total_training_steps caps every epoch (DLIO
 * 2.0.0 main.py _train); reader.read_type and checkpoint.* are read. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctrain/data.h"

#include "check.h"

static cJSON *load_json(const char *p)
{
    FILE *f = fopen(p, "rb");
    if (!f)
        return NULL;
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return cJSON_Parse(buf);
}

int main(int argc, char **argv)
{
    char base[1024], yaml[2048], ovf[1200], ovo[1200];
    snprintf(base, sizeof base, "%s/data/run", argc > 1 ? argv[1] : "/tmp");
    snprintf(yaml, sizeof yaml, "%s", __FILE__);
    char *s = strrchr(yaml, '/');
    *s = 0;
    s = strrchr(yaml, '/');
    *s = 0;
    strcat(yaml, "/../shared/dlio/unet3d_a100.yaml");
    const char *text = NULL;
    struct stat sb;
    if (stat(yaml, &sb) != 0) /* fall back to the same workload inline */
        text = "model:\n  name: unet3d\nframework: pytorch\nworkflow:\n  generate_data: False\n"
               "  train: True\n  checkpoint: True\ndataset:\n  data_folder: data/unet3d/\n"
               "  format: npz\n  num_files_train: 168\n  num_samples_per_file: 1\n"
               "  record_length_bytes: 146600628\n  record_length_bytes_stdev: 68341808\n"
               "reader:\n  data_loader: pytorch\n  batch_size: 7\n  read_threads: 4\n"
               "  file_shuffle: seed\n  sample_shuffle: seed\ntrain:\n  epochs: 5\n"
               "  computation_time: 0.636\ncheckpoint:\n  checkpoint_folder: checkpoints/unet3d\n"
               "  checkpoint_after_epoch: 5\n  epochs_between_checkpoints: 2\nmetric:\n  au: 0.90\n";
    snprintf(ovf, sizeof ovf, "++workload.dataset.data_folder=%s/unet3d", base);
    snprintf(ovo, sizeof ovo, "++workload.checkpoint.checkpoint_folder=%s/ckpt", base);
    const char *ov[] = {ovf, ovo,
                        "++workload.dataset.num_files_train=12",
                        "++workload.dataset.record_length_bytes=40000",
                        "++workload.dataset.record_length_bytes_stdev=10000",
                        "++workload.train.epochs=2",
                        "++workload.train.computation_time=0.002",
                        "++workload.reader.batch_size=3",
                        "++workload.reader.read_threads=2",
                        "++workload.checkpoint.checkpoint_after_epoch=1",
                        "++workload.model.model_size_bytes=4096"};
    ct_dlio_config c;
    ct_dlio_config_init(&c);
    ct_status st = ct_dlio_config_load(&c, text ? NULL : yaml, text, ov, 11, NULL, NULL);
    CHECK(st == CT_OK, "config: %s", ct_errmsg());
    ct_dlio_gen_opts go = {2, 0, 1, 0};
    st = ct_dlio_generate(&c, &go);
    CHECK(st == CT_OK, "generate: %s", ct_errmsg());
    uint64_t total = 0;
    for (int i = 0; i < 12; i++) {
        char p[2048];
        ct_dlio_file_path(&c, 0, i, p, sizeof p);
        if (stat(p, &sb) == 0)
            total += (uint64_t)sb.st_size;
    }
    char out[1200], p[1300];
    snprintf(out, sizeof out, "%s/out", base);
    ct_dlio_run_opts ro = {0, 1, out, 1};
    st = ct_dlio_run(&c, &ro);
    CHECK(st == CT_OK, "run: %s", ct_errmsg());
    snprintf(p, sizeof p, "%s/summary.json", out);
    cJSON *j = load_json(p);
    CHECK(j != NULL, "no %s", p);
    cJSON *m = cJSON_GetObjectItem(j, "metric");
    CHECK(m && cJSON_GetObjectItem(m, "train_au_mean_percentage") &&
              cJSON_GetObjectItem(m, "train_throughput_mean_samples_per_second") &&
              cJSON_GetObjectItem(m, "train_io_mean_MB_per_second") &&
              cJSON_GetObjectItem(m, "train_au_meet_expectation"),
          "summary.json lacks DLIO's metrics");
    cJSON *x = cJSON_GetObjectItem(j, "ctrain");
    double bytes = x ? cJSON_GetObjectItem(x, "bytes_read")->valuedouble : 0;
    /* drop_last: 12 samples, batch 3 -> every file read once per epoch */
    CHECK(bytes == 2.0 * (double)total, "bytes read %.0f, expected 2 x %llu", bytes,
          (unsigned long long)total);
    double tput = m ? cJSON_GetObjectItem(m, "train_throughput_mean_samples_per_second")->valuedouble : 0;
    CHECK(tput > 0 && tput < 3 / 0.002 * 1.01, "throughput %.1f bounded by computation_time", tput);
    cJSON_Delete(j);
    snprintf(p, sizeof p, "%s/0_output.json", out);
    j = load_json(p);
    CHECK(j && cJSON_GetObjectItem(j, "checkpoints")->valueint == 1, "1 checkpoint (after epoch 1; every 2nd epoch)");
    cJSON_Delete(j);
    /* DLIO's names: epoch 1, its last step (4 = 12 samples / batch 3), rank 0 */
    const char *names[] = {"model-1-4-0.pt", "layer-0-1-4-0.pt"};
    for (int k = 0; k < 2; k++) {
        snprintf(p, sizeof p, "%s/ckpt/%s", base, names[k]);
        CHECK(stat(p, &sb) == 0 && sb.st_size > (k ? 24740228 + 17371 : 4096), "checkpoint %s", names[k]);
    }
    /* total_training_steps: at most that many steps in every epoch */
    c.total_training_steps = 3;
    c.do_checkpoint = 0;
    st = ct_dlio_run(&c, &ro);
    CHECK(st == CT_OK, "total_training_steps run: %s", ct_errmsg());
    snprintf(p, sizeof p, "%s/0_output.json", out);
    j = load_json(p);
    CHECK(j && cJSON_GetObjectItem(j, "steps")->valueint == 6 &&
              cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "2"), "proc"),
                                                     "block1")) == 3,
          "total_training_steps 3: 3 steps in each of 2 epochs");
    cJSON_Delete(j);
    c.total_training_steps = -1;
    c.do_checkpoint = 1;
    {
        ct_dlio_config c3;
        ct_dlio_config_init(&c3);
        CHECK(c3.read_type == 1 && c3.checkpoint_type == 0 && c3.n_layer_parameters == 2 &&
                  c3.layer_parameters[1] == 24740228 && c3.n_optimization_groups == 0 && c3.num_layers == 1,
              "DLIO 2.0.0's defaults: read_type on_demand, rank_zero, layer_parameters [17371, 24740228]");
        const char *ov4[] = {"++workload.reader.read_type=memory", "++workload.checkpoint.type=all_ranks",
                             "++workload.checkpoint.optimization_groups=[5, 0, 7]",
                             "++workload.checkpoint.layer_parameters=[]"};
        st = ct_dlio_config_load(&c3, text ? NULL : yaml, text, ov4, 4, NULL, NULL);
        CHECK(st == CT_OK && c3.read_type == 0 && c3.checkpoint_type == 1 && c3.n_optimization_groups == 3 &&
                  c3.optimization_groups[2] == 7 && c3.n_layer_parameters == 0,
              "read_type, checkpoint.type and the lists from overrides: %s", ct_errmsg());
        ct_dlio_config_free(&c3);
        ct_dlio_config_init(&c3);
        const char *ov5[] = {"++workload.reader.read_type=lazy"};
        st = ct_dlio_config_load(&c3, text ? NULL : yaml, text, ov5, 1, NULL, NULL);
        CHECK(st == CT_EINVAL && strstr(ct_errmsg(), "read_type") && strstr(ct_errmsg(), "on_demand"),
              "a bad read_type names the allowed values: %s", ct_errmsg());
        ct_dlio_config_free(&c3);
        ct_dlio_config_init(&c3);
        const char *ov6[] = {"++workload.checkpoint.num_layers=3", "++workload.checkpoint.pipeline_parallelism=2"};
        st = ct_dlio_config_load(&c3, text ? NULL : yaml, text, ov6, 2, NULL, NULL);
        CHECK(st == CT_EINVAL && strstr(ct_errmsg(), "num_layers"), "num_layers %% pipeline_parallelism: %s",
              ct_errmsg());
        ct_dlio_config_free(&c3);
    }
    /* a corrupt file: stop (DLIO's behaviour) names it; reader.on_error:
     * continue reports each failed batch and finishes the run */
    char victim[2048];
    ct_dlio_file_path(&c, 0, 5, victim, sizeof victim);
    CHECK(stat(victim, &sb) == 0 && truncate(victim, sb.st_size / 2) == 0, "cannot truncate %s",
          victim);
    st = ct_dlio_run(&c, &ro);
    CHECK(st != CT_OK && strstr(ct_errmsg(), strrchr(victim, '/') + 1),
          "a truncated file stops the run naming it: %s", ct_errmsg());
    ct_dlio_config c2;
    ct_dlio_config_init(&c2);
    const char *ov2[] = {"++workload.reader.on_error=continue"};
    st = ct_dlio_config_load(&c2, text ? NULL : yaml, text, ov2, 1, NULL, NULL);
    CHECK(st == CT_OK && c2.on_error == 1, "reader.on_error=continue: %s", ct_errmsg());
    ct_dlio_config_free(&c2);
    ct_dlio_config_init(&c2);
    const char *ov3[] = {"++workload.reader.on_error=maybe"};
    st = ct_dlio_config_load(&c2, text ? NULL : yaml, text, ov3, 1, NULL, NULL);
    CHECK(st == CT_EINVAL && strstr(ct_errmsg(), "on_error") && strstr(ct_errmsg(), "continue"),
          "a bad on_error names the key and the allowed values: %s", ct_errmsg());
    ct_dlio_config_free(&c2);
    c.on_error = 1;
    st = ct_dlio_run(&c, &ro);
    CHECK(st == CT_OK, "on_error=continue: %s", ct_errmsg());
    snprintf(p, sizeof p, "%s/summary.json", out);
    j = load_json(p);
    x = j ? cJSON_GetObjectItem(j, "ctrain") : NULL;
    cJSON *fb = x ? cJSON_GetObjectItem(x, "failed_batches") : NULL;
    /* one sample per file, 12 samples in batches of 3: the truncated file's
     * sample spoils one batch per epoch */
    CHECK(fb && fb->valuedouble == 2, "failed batches %g, expected 2 (one per epoch)",
          fb ? fb->valuedouble : -1);
    cJSON_Delete(j);
    c.on_error = 0;
    /* a folder with missing files: a clear error */
    char bad[1200];
    snprintf(bad, sizeof bad, "%s/nowhere", base);
    free(c.data_folder);
    c.data_folder = strdup(bad);
    st = ct_dlio_run(&c, &ro);
    CHECK(st == CT_EIO && strstr(ct_errmsg(), "missing") && strstr(ct_errmsg(), "nowhere"),
          "missing data: %s", ct_errmsg());
    ct_dlio_config_free(&c);
    return check_summary();
}
