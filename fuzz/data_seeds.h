/* Seeds of the data-pipeline fuzz targets, written by fuzz_make_seeds:
 *   npy          .npy arrays (u1, <f4, fortran, 0-d) and .npz of them,
 *                stored and deflated (numpy.savez / savez_compressed bytes)
 *   tfrecord     mode byte + records of tf.train.Example (DLIO's), with and
 *                without the DALI index text in front
 *   dlio_config  DLIO workload YAML (the shipped unet3d, bert, resnet50
 *                shapes) with a trailing override after a NUL */
#ifndef CT_FUZZ_DATA_SEEDS_H
#define CT_FUZZ_DATA_SEEDS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/data/formats.h"

static int ds_put(const char *dir, const char *name, const void *buf, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    if (!fp || (len && fwrite(buf, 1, len, fp) != len)) {
        fprintf(stderr, "fuzz_make_seeds: cannot write %s\n", path);
        if (fp)
            fclose(fp);
        return 1;
    }
    return fclose(fp) != 0;
}

/* An npy array into buf (cap bytes): header + deterministic data. */
static size_t ds_npy(uint8_t *buf, size_t cap, const char *descr, const int64_t *shape, int nd,
                     size_t itemsize)
{
    size_t h = ct_npy_header(buf, cap, descr, shape, nd);
    size_t n = itemsize;
    for (int i = 0; i < nd; i++)
        n *= (size_t)shape[i];
    if (!h || h + n > cap)
        return 0;
    for (size_t i = 0; i < n; i++)
        buf[h + i] = (uint8_t)(i * 37 + 11);
    return h + n;
}

/* Returns the number of seeds written, or -1. */
static int ds_write_all(const char *root)
{
    char npy[900], tfr[900], cfg[900];
    snprintf(npy, sizeof npy, "%s/npy", root);
    snprintf(tfr, sizeof tfr, "%s/tfrecord", root);
    snprintf(cfg, sizeof cfg, "%s/dlio_config", root);
    mkdir(npy, 0755);
    mkdir(tfr, 0755);
    mkdir(cfg, 0755);
    int n = 0, bad = 0;
    static const struct { const char *descr; int nd; int64_t shape[3]; size_t is; } arrs[] = {
        {"|u1", 3, {4, 4, 3}, 1}, {"<f4", 2, {5, 2, 0}, 4}, {"|u1", 1, {7, 0, 0}, 1},
        {"<i8", 0, {0, 0, 0}, 8}, {"|u1", 3, {2, 3, 1}, 1},
    };
    uint8_t *buf = malloc(1 << 16);
    char *zbuf = NULL;
    size_t zlen = 0;
    if (!buf)
        return -1;
    for (size_t a = 0; a < sizeof arrs / sizeof *arrs; a++) {
        size_t len = ds_npy(buf, 1 << 16, arrs[a].descr, arrs[a].shape, arrs[a].nd, arrs[a].is);
        char name[32];
        snprintf(name, sizeof name, "arr%zu.npy", a);
        bad |= !len || ds_put(npy, name, buf, len);
        n++;
        for (int deflate = 0; deflate < 2; deflate++) {
            FILE *m = open_memstream(&zbuf, &zlen);
            ct_zip_member mem = {"x.npy", buf, len};
            if (!m || ct_zip_write(m, "seed", &mem, 1, deflate) != CT_OK) {
                bad = 1;
                if (m)
                    fclose(m);
            } else {
                fclose(m);
                snprintf(name, sizeof name, "arr%zu_%s.npz", a, deflate ? "deflate" : "stored");
                bad |= ds_put(npy, name, zbuf, zlen);
                n++;
            }
            free(zbuf);
            zbuf = NULL;
        }
    }
    /* tfrecord: 3 records of DLIO's Example{image, size} */
    uint8_t img[40], ex[256];
    for (size_t i = 0; i < sizeof img; i++)
        img[i] = (uint8_t)(i * 7);
    uint8_t *rec = malloc(4096);
    char idx[256];
    size_t rl = 0, xl = 0;
    for (int r = 0; r < 3 && rec; r++) {
        size_t el = ct_example_encode(ex, sizeof ex, img, 10 + 10 * (size_t)r, 10 + 10 * r);
        uint8_t *h = rec + rl;
        for (int k = 0; k < 8; k++)
            h[k] = (uint8_t)((uint64_t)el >> (8 * k));
        uint32_t hc = ct_tfrecord_mask(ct_crc32c(0, h, 8));
        memcpy(h + 8, &hc, 4); /* little-endian hosts only, as the readers */
        memcpy(h + 12, ex, el);
        uint32_t dc = ct_tfrecord_mask(ct_crc32c(0, ex, el));
        memcpy(h + 12 + el, &dc, 4);
        xl += (size_t)snprintf(idx + xl, sizeof idx - xl, "%zu %zu\n", rl, el + 16);
        rl += el + 16;
        if (r == 0) {
            bad |= ds_put(tfr, "example", ex, el); /* a bare Example, mode 0 */
            n++;
        }
    }
    if (!rec)
        return -1;
    uint8_t *seed = malloc(1 + sizeof idx + 1 + rl);
    seed[0] = 0;
    memcpy(seed + 1, rec, rl);
    bad |= ds_put(tfr, "records", seed, 1 + rl);
    seed[0] = 1;
    memcpy(seed + 1, idx, xl);
    seed[1 + xl] = 0xff;
    memcpy(seed + 2 + xl, rec, rl);
    bad |= ds_put(tfr, "records_idx", seed, 2 + xl + rl);
    n += 2;
    free(seed);
    free(rec);
    free(buf);
    static const char *const yaml[] = {
        "model:\n  name: unet3d\n  type: cnn\n  model_size: 499153191\nframework: pytorch\n"
        "workflow:\n  generate_data: False\n  train: True\n  checkpoint: True\n"
        "dataset:\n  data_folder: data/unet3d/\n  format: npz\n  num_files_train: 168\n"
        "  num_samples_per_file: 1\n  record_length_bytes: 146600628\n"
        "  record_length_bytes_stdev: 68341808\n  record_length_bytes_resize: 2097152\n"
        "reader:\n  data_loader: pytorch\n  batch_size: 7\n  read_threads: 4\n"
        "  file_shuffle: seed\n  sample_shuffle: seed\ntrain:\n  epochs: 5\n"
        "  computation_time: 0.636\ncheckpoint:\n  checkpoint_folder: checkpoints/unet3d\n"
        "  checkpoint_after_epoch: 5\n  epochs_between_checkpoints: 2\nmetric:\n  au: 0.90\n",
        "model:\n  name: bert\n  model_size_bytes: 4034713312\nframework: tensorflow\n"
        "workflow:\n  generate_data: False\n  train: True\n  debug: False\n  checkpoint: True\n"
        "dataset:\n  data_folder: data/bert\n  format: tfrecord\n  num_files_train: 500\n"
        "  num_samples_per_file: 313532\n  record_length_bytes: 2500\n  file_prefix: part\n"
        "train:\n  seed_change_epoch: False\n  computation_time: 0.968\n"
        "  total_training_steps: 1000\nreader:\n  data_loader: tensorflow\n  read_threads: 1\n"
        "  computation_threads: 1\n  transfer_size: 262144\n  batch_size: 48\n"
        "  file_shuffle: seed\n  sample_shuffle: seed\ncheckpoint:\n"
        "  checkpoint_folder: checkpoints/bert\n  steps_between_checkpoints: 250\n\0"
        "++workload.train.computation_time.mean=0.1",
        "model:\n name: resnet50\n type: cnn\nframework: tensorflow\nworkflow:\n"
        " generate_data: False\n train: True\ndataset:\n num_files_train: 1024\n"
        " num_samples_per_file: 1251\n record_length_bytes: 114660.07\n"
        " record_length_bytes_resize: 150528\n data_folder: data/resnet50\n format: tfrecord\n"
        "train:\n computation_time: 0.435\n epochs: 5\nreader:\n data_loader: tensorflow\n"
        " read_threads: 8\n computation_threads: 8\n batch_size: 400\n dont_use_mmap: True\n"
        "metric:\n au: 0.90\n",
        "dataset:\n  format: hdf5\n  num_subfolders_train: 3\n  num_files_eval: 2\n"
        "train:\n  computation_time:\n    type: normal\n    mean: 0.1\n    stdev: 0.01\n"
        "reader:\n  shuffle_size: 16\n  odirect: true\nunknown_key: 1\n\0"
        "++workload.dataset.format=indexed_binary",
    };
    for (size_t y = 0; y < sizeof yaml / sizeof *yaml; y++) {
        char name[32];
        size_t len = strlen(yaml[y]);
        const char *tail = yaml[y] + len + 1;
        /* the two with an override carry it after the NUL */
        size_t extra = (y == 1 || y == 3) ? strlen(tail) + 1 : 0;
        snprintf(name, sizeof name, "workload%zu.yaml", y);
        bad |= ds_put(cfg, name, yaml[y], len + extra);
        n++;
    }
    return bad ? -1 : n;
}

#endif
