/* ctrain — a flat C ABI over the data pipeline for foreign-function
 * callers (Python's ctypes in python/ctrain/data.py, or any FFI that does
 * not want to mirror struct ct_dlio_config).
 *
 * The config lives on the heap behind a pointer; fields are read by name;
 * a sample reader reads any list of sample ids into one batch buffer (what
 * a worker process of a PyTorch DataLoader needs when it takes every W-th
 * batch of the rank's epoch). Everything here is built on the public API of
 * data.h: ct_dlio_config_load, ct_sampler_epoch, ct_data_file_*.
 *
 * Thread safety: as data.h — one thread per handle, no global state.
 */
#ifndef CTRAIN_DATA_CAPI_H
#define CTRAIN_DATA_CAPI_H

#include <stddef.h>
#include <stdint.h>

#include "data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Allocates a config, initialises it to DLIO's defaults and loads the
 * workload file path with n overrides (ct_dlio_config_load: same keys,
 * warnings, errors). warn NULL: warnings go to stderr. On failure *out is
 * NULL and ct_errmsg() names key, value and allowed set. */
ct_status ct_dlio_config_new(ct_dlio_config **out, const char *path,
                             const char *const *overrides, size_t n,
                             ct_dlio_warn_fn warn, void *warn_ctx);
/* Frees a config from ct_dlio_config_new (NULL is fine). */
void ct_dlio_config_delete(ct_dlio_config *c);

/* A numeric field by its DLIO name (the member names of ct_dlio_config:
 * "format", "num_files_train", "num_samples_per_file", "batch_size",
 * "read_threads", "seed", "record_length", "record_length_stdev", ...),
 * as a double (enums as their value). Unknown name: CT_EINVAL. */
ct_status ct_dlio_config_get(const ct_dlio_config *c, const char *key, double *value);
/* A string field ("data_folder", "file_prefix", "output_folder",
 * "model_name", "checkpoint_folder", "format_name"). Writes at most cap
 * bytes including the terminator into buf (may be NULL with cap 0);
 * *len receives the full length. */
ct_status ct_dlio_config_get_string(const ct_dlio_config *c, const char *key, char *buf,
                                    size_t cap, size_t *len);

/* The sample ids rank (of size ranks) reads in epoch (0-based) of the
 * training (eval = 0) or evaluation set, in reading order: exactly the
 * order ct_loader delivers (the sampler options are the loader's, built
 * from c). ids has room for cap entries, which must be at least the
 * rank's shard before drop_last trims it (files * samples_per_file / size
 * + 1); *n receives the count; with ids NULL and cap 0 only the count is
 * returned. */
ct_status ct_dlio_epoch_ids(const ct_dlio_config *c, int eval, int rank, int size, int32_t epoch,
                            int64_t *ids, int64_t cap, int64_t *n);

/* A synchronous reader of arbitrary sample ids of c's training or
 * evaluation set (one ct_data_file reused, its buffers kept). */
typedef struct ct_sample_reader ct_sample_reader;

/* c must outlive the reader. Does not check the files (the first read of
 * a missing file fails naming it). */
ct_status ct_sample_reader_create(ct_sample_reader **out, const ct_dlio_config *c, int eval);
void ct_sample_reader_destroy(ct_sample_reader *r);
/* Reads samples ids[0..n) into r's batch buffer and describes them in *b
 * as ct_loader_next does (b->index = -1). *b is valid until the next call
 * on r. Errors name the file (and offset). */
ct_status ct_sample_reader_read(ct_sample_reader *r, const int64_t *ids, int64_t n, ct_batch *b);
/* Bytes read from files since creation. */
uint64_t ct_sample_reader_bytes_read(const ct_sample_reader *r);
const char *ct_sample_reader_errmsg(const ct_sample_reader *r);

#ifdef __cplusplus
}
#endif
#endif
