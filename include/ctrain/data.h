/* ctrain — the DLIO-compatible data pipeline.
 *
 * Four pieces, usable alone or together:
 *   - a DLIO workload configuration (ct_dlio_config): read from DLIO's YAML
 *     workload files with DLIO's keys, defaults and `++workload.a.b=v`
 *     overrides (dlio_benchmark/utils/config.py, LoadConfig);
 *   - generation of DLIO's data sets (ct_dlio_generate), byte-identical to
 *     dlio-benchmark 2.0.0's generators for a seed;
 *   - readers, one per file format behind one interface (ct_data_file);
 *   - a sampler (ct_sampler: the sample order per rank and epoch, see
 *     docs/data.md) and a loader (ct_loader: read_threads readers with
 *     prefetch_size batches in flight) on top of them;
 * and ct_dlio_run, which emulates DLIO's training loop and writes its metrics.
 *
 * Thread safety: a handle may be used by one thread at a time; distinct
 * handles are independent. There is no global state.
 */
#ifndef CTRAIN_DATA_H
#define CTRAIN_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "comm.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- enumerations (values as in dlio_benchmark/common/enumerations.py) ---- */

typedef enum ct_data_format {
    CT_FMT_TFRECORD = 0, CT_FMT_HDF5, CT_FMT_CSV, CT_FMT_NPZ, CT_FMT_NPY,
    CT_FMT_HDF5_OPT, CT_FMT_JPEG, CT_FMT_PNG, CT_FMT_INDEXED_BINARY,
    CT_FMT_MMAP_INDEXED_BINARY, CT_FMT_SYNTHETIC
} ct_data_format;

typedef enum ct_shuffle { CT_SHUFFLE_OFF = 0, CT_SHUFFLE_SEED, CT_SHUFFLE_RANDOM } ct_shuffle;
typedef enum ct_framework { CT_FRAMEWORK_TENSORFLOW = 0, CT_FRAMEWORK_PYTORCH } ct_framework;
typedef enum ct_data_loader_kind {
    CT_LOADER_TENSORFLOW = 0, CT_LOADER_PYTORCH, CT_LOADER_DALI, CT_LOADER_NATIVE_DALI,
    CT_LOADER_CUSTOM, CT_LOADER_NONE, CT_LOADER_SYNTHETIC
} ct_data_loader_kind;
typedef enum ct_compression {
    CT_COMP_NONE = 0, CT_COMP_GZIP, CT_COMP_LZF, CT_COMP_BZIP2, CT_COMP_ZIP, CT_COMP_XZ
} ct_compression;

/* The name of a format ("npz"), also the file extension DLIO uses. */
const char *ct_data_format_name(ct_data_format f);

/* A time DLIO draws per step (utils/utility.py, sleep): a number, or a
 * dict {mean[, stdev]} or {type: normal|uniform|gamma|exponential|poisson,
 * mean, stdev, min, max, shape, scale, lam}. The absolute value is slept. */
typedef enum ct_time_kind {
    CT_TIME_CONST = 0, CT_TIME_NORMAL, CT_TIME_UNIFORM, CT_TIME_GAMMA,
    CT_TIME_EXPONENTIAL, CT_TIME_POISSON
} ct_time_kind;
typedef struct ct_dlio_time {
    int32_t kind;  /* ct_time_kind */
    double mean, stdev, min, max, shape, scale, lam;  /* seconds */
} ct_dlio_time;

/* A DLIO workload. Every field has DLIO's default after
 * ct_dlio_config_init. Strings are owned by the config. */
typedef struct ct_dlio_config {
    /* model */
    char *model_name;                /* "default" */
    double model_size;               /* bytes of the checkpointed model: 10240 */
    int32_t framework;               /* ct_framework: tensorflow */
    /* workflow */
    int32_t generate_data, do_train, do_eval, do_checkpoint, do_profiling, debug;
    /* storage */
    char *storage_type, *storage_root;
    /* dataset */
    char *data_folder;               /* "./data" (trailing '/' removed) */
    int32_t format;                  /* ct_data_format: tfrecord */
    double record_length;            /* bytes per sample: 65536 (may be fractional) */
    double record_length_stdev;      /* 0 */
    double record_length_resize;     /* 0 */
    int64_t num_files_train;         /* 8 */
    int64_t num_files_eval;          /* 0 */
    int64_t num_samples_per_file;    /* 1 */
    int64_t num_subfolders_train, num_subfolders_eval;
    char *file_prefix;               /* "img" */
    int32_t compression;             /* ct_compression: none */
    int32_t compression_level;       /* 4 */
    int32_t enable_chunking;
    int64_t chunk_size;
    int64_t generation_buffer_size;  /* 2 GiB */
    int32_t keep_files;
    /* reader */
    int32_t data_loader;             /* ct_data_loader_kind: the framework's */
    int32_t data_loader_set;         /* 1 if given: DLIO validates it only then */
    int64_t batch_size, batch_size_eval;   /* 1, 1 */
    int32_t read_threads;            /* 1 */
    int32_t computation_threads;     /* 1 */
    int32_t prefetch_size;           /* 2 */
    int64_t transfer_size;           /* 0 = unset */
    int32_t file_shuffle, sample_shuffle;  /* ct_shuffle: off */
    int64_t shuffle_size;            /* 1024 */
    int32_t dont_use_mmap, odirect;
    int32_t drop_last;               /* ctrain extension, DLIO's loaders drop: 1 */
    int32_t on_error;                /* ctrain extension, 0 stop (DLIO) | 1 continue */
    ct_dlio_time preprocess_time;
    /* train */
    int32_t epochs;                  /* 1 */
    int64_t total_training_steps;    /* -1 = unset */
    int32_t seed_change_epoch;       /* 1 */
    int64_t seed;                    /* 123 */
    ct_dlio_time computation_time;   /* 0 */
    /* evaluation */
    ct_dlio_time eval_time;
    int32_t eval_after_epoch, epochs_between_evals;  /* 1, 1 */
    /* checkpoint */
    char *checkpoint_folder;         /* "./checkpoints" */
    int32_t checkpoint_after_epoch, epochs_between_checkpoints; /* 1, 1 */
    int64_t steps_between_checkpoints;   /* -1 */
    /* output */
    char *output_folder;             /* "output" */
    char *log_file;                  /* "dlio.log" */
    /* metric */
    double au;                       /* 0.90 */
    /* how many keys were not recognised (each got a warning) */
    int32_t unknown_keys;
    /* reader.read_type and DLIO 2.0.0's checkpoint layout (checkpoint.*),
     * used by ct_dlio_run (docs/data.md "Run") */
    int32_t read_type;               /* 0 memory | 1 on_demand (DLIO's default) */
    int32_t checkpoint_type;         /* 0 rank_zero (DLIO's default) | 1 all_ranks */
    int32_t num_layers;              /* 1 */
    int32_t tensor_parallelism, pipeline_parallelism;  /* 1, 1 */
    int32_t n_optimization_groups;   /* entries of optimization_groups: 0 */
    int32_t n_layer_parameters;      /* entries of layer_parameters: 2 */
    int64_t optimization_groups[32]; /* elements of each group's two int8 tensors: [] */
    int64_t layer_parameters[32];    /* elements of each layer tensor: [17371, 24740228] */
} ct_dlio_config;

/* Where warnings go: called once per warning with a full sentence; NULL
 * means stderr. */
typedef void (*ct_dlio_warn_fn)(void *ctx, const char *msg);

/* Sets every field to DLIO's default. Allocates the default strings:
 * release with ct_dlio_config_free. */
ct_status ct_dlio_config_init(ct_dlio_config *c);

/* Frees the strings of c (not c itself). Safe on a zeroed config. */
void ct_dlio_config_free(ct_dlio_config *c);

/* Reads a DLIO workload YAML file (path) or text (yaml_text, if path is
 * NULL) into c, which must have been initialised. Then applies overrides:
 * n strings "++workload.SECTION.KEY=VALUE" ("+workload..." and
 * "workload..." are accepted too; "++workload.framework=pytorch" sets a
 * top-level key). Unknown keys produce a warning naming the key and its
 * line; invalid values fail with CT_EINVAL naming key, value and the allowed
 * set, and leave c partly updated. Finally validates the whole config as
 * DLIO's ConfigArguments.validate does (ct_dlio_config_validate). */
ct_status ct_dlio_config_load(ct_dlio_config *c, const char *path, const char *yaml_text,
                              const char *const *overrides, size_t n,
                              ct_dlio_warn_fn warn, void *warn_ctx);

/* Cross-field checks of DLIO's validate() plus ranges. */
ct_status ct_dlio_config_validate(const ct_dlio_config *c);

/* ---- file layout ---- */

/* The path of file i (0-based) of the training (eval = 0) or evaluation
 * (eval = 1) set, exactly as DLIO names it:
 * {data_folder}/train/[{subfolder}/]{prefix}_{i}_of_{N}.{format}.
 * Writes at most cap bytes including the terminator; returns the length
 * needed (excluding the terminator), as snprintf. */
int ct_dlio_file_path(const ct_dlio_config *c, int eval, int64_t i, char *buf, size_t cap);

/* ---- generation ---- */

typedef struct ct_dlio_gen_opts {
    int threads;      /* writer threads (>= 1); content does not depend on it */
    int rank, size;   /* this process writes files i with i % size == rank */
    int progress;     /* 1: progress bar on stderr */
} ct_dlio_gen_opts;

/* Writes the training and evaluation files of c's data set, byte-identical
 * to dlio-benchmark 2.0.0 run as one process (np.random.seed(10), then
 * numpy's legacy MT19937 stream for sizes and content). Formats: npz, npy,
 * hdf5, tfrecord (+ index/ files), csv, indexed_binary,
 * mmap_indexed_binary. Others: CT_EUNSUPPORTED. */
ct_status ct_dlio_generate(const ct_dlio_config *c, const ct_dlio_gen_opts *opts);

/* ---- readers ---- */

typedef struct ct_data_file ct_data_file;

/* Opens one data file of format fmt. Reads as DLIO's reader of that format
 * does (npz: array "x", sample axis last; hdf5: dataset "records", sample
 * axis first; tfrecord: feature "image" of each Example; indexed_binary:
 * the .off.idx/.sz.idx files next to it; csv: one row per sample; npy: the
 * array, sample axis last). odirect: 1 reads with O_DIRECT into aligned
 * buffers where the format allows. Failures name the file and the byte
 * offset. */
ct_status ct_data_file_open(ct_data_file **out, int32_t fmt, const char *path, int odirect);
void ct_data_file_close(ct_data_file *f);
/* A reader of format fmt with no file open yet, and (re)opening a file on
 * it: the reader's buffers are kept, so one reader per thread allocates
 * once for a whole epoch. On failure no file is open. */
ct_status ct_data_file_new(ct_data_file **out, int32_t fmt, int odirect);
ct_status ct_data_file_reopen(ct_data_file *f, const char *path);
int64_t ct_data_file_samples(const ct_data_file *f);
/* Bytes of the file actually read so far. */
uint64_t ct_data_file_bytes_read(const ct_data_file *f);
/* Sample i: *data points to *len bytes (the sample's elements, C order,
 * uint8 unless the file says otherwise), valid until the next call on f. */
ct_status ct_data_file_sample(ct_data_file *f, int64_t i, const uint8_t **data, size_t *len);

/* ---- sampler ---- */

/* One rank's view of an epoch: sample ids in reading order. A sample id is
 * file_index * num_samples_per_file + sample_in_file, file_index being the
 * position in DLIO's sorted file list. */
typedef struct ct_sampler_opts {
    int64_t num_files, samples_per_file;
    int32_t file_shuffle, sample_shuffle;  /* ct_shuffle */
    int64_t shuffle_size;                  /* <= 0 or >= shard: full shuffle */
    int64_t seed;                          /* 0 .. 2^32-1 */
    int32_t seed_change_epoch;
    int32_t rank, size;
    int64_t batch_size;
    int32_t drop_last;
} ct_sampler_opts;

/* Writes the sample ids of epoch (0-based) for opts->rank into ids, which
 * has room for cap entries; *n receives the count. ct_sampler_count gives
 * the count without computing the order. Deterministic for a seed (mode
 * "seed"); mode "random" takes its seed from opts->seed as well (the
 * caller draws it). The algorithm is in docs/data.md. */
int64_t ct_sampler_count(const ct_sampler_opts *opts);
ct_status ct_sampler_epoch(const ct_sampler_opts *opts, int32_t epoch, int64_t *ids,
                           int64_t cap, int64_t *n);

/* ---- loader ---- */

typedef struct ct_loader ct_loader;

/* A batch handed out by ct_loader_next: count samples, sample k at
 * samples[k] with lengths[k] bytes. When the batch is contiguous (always,
 * unless the loader is in zero-copy mode, see ct_loader_set_zero_copy)
 * sample k is also at data + offsets[k], one buffer in sample order; a
 * batch holding views has data and offsets NULL. Everything, views
 * included, is valid until the batch is released: by the next
 * ct_loader_next, ct_loader_start_epoch or ct_loader_destroy on the
 * loader. */
typedef struct ct_batch {
    int64_t count;
    const int64_t *ids;
    const uint8_t *data;
    const uint64_t *offsets;
    const uint64_t *lengths;
    int64_t index;           /* batch number within the epoch */
    const uint8_t *const *samples;  /* count pointers */
} ct_batch;

/* Creates a loader over c's training (eval = 0) or evaluation set for rank
 * of size ranks, with c->read_threads readers and max(c->prefetch_size,
 * c->read_threads) batches in flight (in zero-copy mode without O_DIRECT at
 * least 8 MiB of batches by c->record_length, at most 32); the readers share
 * a cache of open files (each file read once per epoch while the cache
 * holds it). Checks that every file exists before starting. */
ct_status ct_loader_create(ct_loader **out, const ct_dlio_config *c, int eval, int rank, int size);
void ct_loader_destroy(ct_loader *l);
/* Starts epoch (0-based); pending batches of the previous epoch are dropped. */
ct_status ct_loader_start_epoch(ct_loader *l, int32_t epoch);
/* The next batch, or *done = 1 at the end of the epoch. Errors of a reader
 * (missing, truncated or corrupt file) are returned here, naming the file. */
ct_status ct_loader_next(ct_loader *l, ct_batch *b, int *done);
/* Zero-copy mode (on = 1) from the next ct_loader_start_epoch on (off,
 * the default: every batch is one contiguous buffer). In zero-copy mode a
 * sample whose bytes lie contiguous and uncompressed in the file -- npy,
 * stored npz with one sample per file (or Fortran order), TFRecord files
 * the loader reads whole, indexed_binary, contiguous hdf5; not with
 * reader.odirect -- is delivered as a view into a read-only mapping of the
 * file (b->samples[k]); the others are copied into the batch's buffer.
 * The format's checks run as in copy mode (npz CRC-32, TFRecord CRC-32C),
 * and the bytes are the same. A view stays valid until its batch is
 * released (see ct_batch), even when the loader's readers have moved on
 * to other files; the memory must not be written. Small batches have more
 * in flight in this mode (see ct_loader_create). Returns CT_EINVAL for a
 * NULL loader. */
ct_status ct_loader_set_zero_copy(ct_loader *l, int on);
/* Batches per epoch for this rank. */
int64_t ct_loader_batches(const ct_loader *l);
/* Bytes read from files since creation. */
uint64_t ct_loader_bytes_read(const ct_loader *l);
/* The message of the last failure on l. */
const char *ct_loader_errmsg(const ct_loader *l);

/* ---- DLIO run ---- */

typedef struct ct_dlio_run_opts {
    int rank, size;          /* 0, 1 (one process); ct_dlio_run_comm takes them from comm */
    const char *output_dir;  /* NULL: c->output_folder */
    int quiet;
} ct_dlio_run_opts;

/* Emulates DLIO 2.0.0's training loop on an existing data set: for each
 * epoch (at most total_training_steps steps per epoch, as DLIO), read
 * batches with the loader, sleep computation_time per step, evaluate and
 * write checkpoints (DLIO's files: docs/data.md) as configured, and write
 * {output}/{rank}_output.json (with per-step times), the step log
 * {output}/{log_file}, and summary.json and per_epoch_stats.json in
 * DLIO's shape with AU, samples/s, MB/s and the bytes actually read. One
 * process: opts->rank 0 and opts->size 1 (else CT_EINVAL: use
 * ct_dlio_run_comm). */
ct_status ct_dlio_run(const ct_dlio_config *c, const ct_dlio_run_opts *opts);

/* ct_dlio_run over the ranks of comm (include/ctrain/comm.h; the `ctrain`
 * CLI passes its OpenMPI one under mpirun): rank and size come from comm;
 * every rank must call it. comm carries DLIO's barriers (after every
 * training step and at each epoch's end, before and after its
 * checkpoint), the summary's cross-rank reductions and rank 0's gather of
 * the ranks' counters for summary.json. comm NULL: one process (opts->rank
 * 0, opts->size 1), which is what ct_dlio_run does. */
ct_status ct_dlio_run_comm(const ct_dlio_config *c, const ct_dlio_run_opts *opts,
                           const ct_comm *comm);

#ifdef __cplusplus
}
#endif
#endif
