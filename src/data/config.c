/* DLIO workload configuration: one key table (section, key, type, field,
 * allowed values) drives reading YAML files, command-line overrides,
 * messages and validation. Keys, defaults and meaning follow
 * dlio_benchmark/utils/config.py (LoadConfig, ConfigArguments) of both the
 * released 2.0.0 (record_length, checkpoint.model_size) and the current
 * sources (record_length_bytes, model.model_size_bytes, time dicts). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "ctrain/data.h"
#include "../core/error.h"

enum ktype {
    K_STR,   /* char * */
    K_INT,   /* int64_t in [lo, hi] */
    K_INT32, /* int32_t in [lo, hi] */
    K_REAL,  /* double in [lo, hi] */
    K_BOOL,  /* int32_t 0/1 */
    K_ENUM,  /* int32_t index into names */
    K_SHUF,  /* ct_shuffle: off|seed|random, YAML booleans too */
    K_TIME,  /* ct_dlio_time: number or dict */
    K_KNOWN, /* a DLIO key ctrain accepts and ignores (any value) */
    K_KENUM, /* a DLIO enum key ctrain checks and ignores */
    K_LIST   /* int64_t[32] of integers >= 0, count (int32_t) at offset `hi` */
};

typedef struct key_desc {
    const char *section; /* "" for top level */
    const char *key;
    int type;
    size_t off;
    const char *const *names;
    double lo, hi;
} key_desc;

static const char *const format_names[] = {
    "tfrecord", "hdf5", "csv", "npz", "npy", "hdf5_opt", "jpeg", "png",
    "indexed_binary", "mmap_indexed_binary", "synthetic", NULL};
static const char *const framework_names[] = {"tensorflow", "pytorch", NULL};
static const char *const loader_names[] = {"tensorflow", "pytorch", "dali", "native_dali",
                                           "custom", "none", "synthetic", NULL};
static const char *const compression_names[] = {"none", "gzip", "lzf", "bz2", "zip", "xz", NULL};
static const char *const shuffle_names[] = {"off", "seed", "random", NULL};
static const char *const storage_names[] = {"local_fs", "parallel_fs", "s3", NULL};
static const char *const sampler_names[] = {"iterative", "index", "none", NULL};
static const char *const access_names[] = {"multi", "shared", "collective", "mpio", "posix", NULL};
static const char *const read_type_names[] = {"memory", "on_demand", NULL};
static const char *const ckpt_type_names[] = {"rank_zero", "all_ranks", NULL};
static const char *const on_error_names[] = {"stop", "continue", NULL};
static const char *const ckpt_mode_names[] = {"default", "subset", NULL};
static const char *const profiler_names[] = {"none", "iostat", "darshan", "tensorboard", NULL};

#define F(name) offsetof(ct_dlio_config, name)
#define BIG 9.2e18
static const key_desc keys[] = {
    {"", "framework", K_ENUM, F(framework), framework_names, 0, 0},
    {"model", "name", K_STR, F(model_name), NULL, 0, 0},
    {"model", "type", K_KNOWN, 0, NULL, 0, 0},
    {"model", "model_size_bytes", K_REAL, F(model_size), NULL, 0, BIG},
    {"model", "optimization_groups", K_KNOWN, 0, NULL, 0, 0},
    {"model", "num_layers", K_KNOWN, 0, NULL, 0, 0},
    {"model", "layer_parameters", K_KNOWN, 0, NULL, 0, 0},
    {"model", "model_datatype", K_KNOWN, 0, NULL, 0, 0},
    {"model", "optimizer_datatype", K_KNOWN, 0, NULL, 0, 0},
    {"model", "parallelism", K_KNOWN, 0, NULL, 0, 0},
    {"model", "transformer", K_KNOWN, 0, NULL, 0, 0},
    {"workflow", "generate_data", K_BOOL, F(generate_data), NULL, 0, 1},
    {"workflow", "train", K_BOOL, F(do_train), NULL, 0, 1},
    {"workflow", "evaluation", K_BOOL, F(do_eval), NULL, 0, 1},
    {"workflow", "checkpoint", K_BOOL, F(do_checkpoint), NULL, 0, 1},
    {"workflow", "profiling", K_BOOL, F(do_profiling), NULL, 0, 1},
    {"workflow", "debug", K_BOOL, F(debug), NULL, 0, 1},
    {"storage", "storage_type", K_ENUM, F(storage_type), storage_names, 0, 0},
    {"storage", "storage_root", K_STR, F(storage_root), NULL, 0, 0},
    {"storage", "storage_options", K_KNOWN, 0, NULL, 0, 0},
    {"dataset", "record_length_bytes", K_REAL, F(record_length), NULL, 1, BIG},
    {"dataset", "record_length", K_REAL, F(record_length), NULL, 1, BIG},
    {"dataset", "record_length_bytes_stdev", K_REAL, F(record_length_stdev), NULL, 0, BIG},
    {"dataset", "record_length_stdev", K_REAL, F(record_length_stdev), NULL, 0, BIG},
    {"dataset", "record_length_bytes_resize", K_REAL, F(record_length_resize), NULL, 0, BIG},
    {"dataset", "record_length_resize", K_REAL, F(record_length_resize), NULL, 0, BIG},
    {"dataset", "num_files_train", K_INT, F(num_files_train), NULL, 0, BIG},
    {"dataset", "num_files_eval", K_INT, F(num_files_eval), NULL, 0, BIG},
    {"dataset", "generation_buffer_size", K_INT, F(generation_buffer_size), NULL, 1, BIG},
    {"dataset", "num_samples_per_file", K_INT, F(num_samples_per_file), NULL, 1, BIG},
    {"dataset", "data_folder", K_STR, F(data_folder), NULL, 0, 0},
    {"dataset", "num_subfolders_train", K_INT, F(num_subfolders_train), NULL, 0, BIG},
    {"dataset", "num_subfolders_eval", K_INT, F(num_subfolders_eval), NULL, 0, BIG},
    {"dataset", "enable_chunking", K_BOOL, F(enable_chunking), NULL, 0, 1},
    {"dataset", "chunk_size", K_INT, F(chunk_size), NULL, 0, BIG},
    {"dataset", "compression", K_ENUM, F(compression), compression_names, 0, 0},
    {"dataset", "compression_level", K_INT32, F(compression_level), NULL, 0, 9},
    {"dataset", "file_prefix", K_STR, F(file_prefix), NULL, 0, 0},
    {"dataset", "format", K_ENUM, F(format), format_names, 0, 0},
    {"dataset", "keep_files", K_BOOL, F(keep_files), NULL, 0, 1},
    {"dataset", "record_element_bytes", K_KNOWN, 0, NULL, 0, 0},
    {"dataset", "record_element_type", K_KNOWN, 0, NULL, 0, 0},
    {"dataset", "record_dims", K_KNOWN, 0, NULL, 0, 0},
    {"dataset", "hdf5", K_KNOWN, 0, NULL, 0, 0},
    {"reader", "dont_use_mmap", K_BOOL, F(dont_use_mmap), NULL, 0, 1},
    {"reader", "reader_classname", K_KNOWN, 0, NULL, 0, 0},
    {"reader", "multiprocessing_context", K_KNOWN, 0, NULL, 0, 0},
    {"reader", "data_loader", K_ENUM, F(data_loader), loader_names, 0, 0},
    {"reader", "data_loader_classname", K_KNOWN, 0, NULL, 0, 0},
    {"reader", "data_loader_sampler", K_KENUM, 0, sampler_names, 0, 0},
    {"reader", "read_threads", K_INT32, F(read_threads), NULL, 0, 1024},
    {"reader", "computation_threads", K_INT32, F(computation_threads), NULL, 0, 1024},
    {"reader", "batch_size", K_INT, F(batch_size), NULL, 1, BIG},
    {"reader", "batch_size_eval", K_INT, F(batch_size_eval), NULL, 1, BIG},
    {"reader", "prefetch_size", K_INT32, F(prefetch_size), NULL, 0, 4096},
    {"reader", "file_shuffle", K_SHUF, F(file_shuffle), shuffle_names, 0, 0},
    {"reader", "file_access", K_KENUM, 0, access_names, 0, 0},
    {"reader", "shuffle_size", K_INT, F(shuffle_size), NULL, 0, BIG},
    {"reader", "sample_shuffle", K_SHUF, F(sample_shuffle), shuffle_names, 0, 0},
    {"reader", "read_type", K_ENUM, F(read_type), read_type_names, 0, 0},
    {"reader", "transfer_size", K_INT, F(transfer_size), NULL, 0, BIG},
    {"reader", "odirect", K_BOOL, F(odirect), NULL, 0, 1},
    {"reader", "preprocess_time", K_TIME, F(preprocess_time), NULL, 0, 0},
    {"reader", "preprocess_time_stdev", K_REAL, F(preprocess_time.stdev), NULL, 0, BIG},
    {"reader", "pin_memory", K_KNOWN, 0, NULL, 0, 0},
    {"reader", "transformed_record_dims", K_KNOWN, 0, NULL, 0, 0},
    {"reader", "transformed_record_element_type", K_KNOWN, 0, NULL, 0, 0},
    {"reader", "drop_last", K_BOOL, F(drop_last), NULL, 0, 1},
    {"reader", "on_error", K_ENUM, F(on_error), on_error_names, 0, 0},
    {"train", "epochs", K_INT32, F(epochs), NULL, 1, 2147483647.0},
    {"train", "total_training_steps", K_INT, F(total_training_steps), NULL, -1, BIG},
    {"train", "seed_change_epoch", K_BOOL, F(seed_change_epoch), NULL, 0, 1},
    {"train", "computation_time", K_TIME, F(computation_time), NULL, 0, 0},
    {"train", "computation_time_stdev", K_REAL, F(computation_time.stdev), NULL, 0, BIG},
    {"train", "seed", K_INT, F(seed), NULL, 0, 4294967295.0},
    {"evaluation", "eval_time", K_TIME, F(eval_time), NULL, 0, 0},
    {"evaluation", "eval_time_stdev", K_REAL, F(eval_time.stdev), NULL, 0, BIG},
    {"evaluation", "eval_after_epoch", K_INT32, F(eval_after_epoch), NULL, 0, 2147483647.0},
    {"evaluation", "epochs_between_evals", K_INT32, F(epochs_between_evals), NULL, 1, 2147483647.0},
    {"checkpoint", "checkpoint_folder", K_STR, F(checkpoint_folder), NULL, 0, 0},
    {"checkpoint", "checkpoint_after_epoch", K_INT32, F(checkpoint_after_epoch), NULL, 0, 2147483647.0},
    {"checkpoint", "epochs_between_checkpoints", K_INT32, F(epochs_between_checkpoints), NULL, 1, 2147483647.0},
    {"checkpoint", "steps_between_checkpoints", K_INT, F(steps_between_checkpoints), NULL, -1, BIG},
    {"checkpoint", "type", K_ENUM, F(checkpoint_type), ckpt_type_names, 0, 0},
    {"checkpoint", "checkpoint_mechanism_classname", K_KNOWN, 0, NULL, 0, 0},
    {"checkpoint", "model_size", K_REAL, F(model_size), NULL, 0, BIG}, /* 2.0.0 */
    {"checkpoint", "optimization_groups", K_LIST, F(optimization_groups), NULL, 0, F(n_optimization_groups)},
    {"checkpoint", "num_layers", K_INT32, F(num_layers), NULL, 0, 2147483647.0},
    {"checkpoint", "layer_parameters", K_LIST, F(layer_parameters), NULL, 0, F(n_layer_parameters)},
    {"checkpoint", "tensor_parallelism", K_INT32, F(tensor_parallelism), NULL, 1, 2147483647.0},
    {"checkpoint", "pipeline_parallelism", K_INT32, F(pipeline_parallelism), NULL, 1, 2147483647.0},
    {"checkpoint", "fsync", K_KNOWN, 0, NULL, 0, 0},
    {"checkpoint", "time_between_checkpoints", K_KNOWN, 0, NULL, 0, 0},
    {"checkpoint", "num_checkpoints_write", K_KNOWN, 0, NULL, 0, 0},
    {"checkpoint", "num_checkpoints_read", K_KNOWN, 0, NULL, 0, 0},
    {"checkpoint", "recovery_rank_shift", K_KNOWN, 0, NULL, 0, 0},
    {"checkpoint", "rank_sync", K_KNOWN, 0, NULL, 0, 0},
    {"checkpoint", "mode", K_KENUM, 0, ckpt_mode_names, 0, 0},
    {"checkpoint", "randomize_tensor", K_KNOWN, 0, NULL, 0, 0},
    {"checkpoint", "ksm", K_KNOWN, 0, NULL, 0, 0},
    {"output", "folder", K_STR, F(output_folder), NULL, 0, 0},
    {"output", "log_file", K_STR, F(log_file), NULL, 0, 0},
    {"output", "metric", K_KNOWN, 0, NULL, 0, 0},
    {"profiling", "profiler", K_KENUM, 0, profiler_names, 0, 0},
    {"profiling", "iostat_devices", K_KNOWN, 0, NULL, 0, 0},
    {"metric", "au", K_REAL, F(au), NULL, 0, 1},
};
#undef F
#define NKEYS (sizeof keys / sizeof keys[0])

static const char *const sections[] = {"model", "workflow", "storage", "dataset", "reader",
                                       "data_reader", "train", "evaluation", "checkpoint",
                                       "output", "profiling", "metric", "framework", NULL};

const char *ct_data_format_name(ct_data_format f)
{
    if ((int)f < 0 || (int)f > CT_FMT_SYNTHETIC)
        return "unknown";
    return format_names[f];
}

static int set_str(char **dst, const char *v)
{
    char *s = strdup(v);
    if (!s)
        return -1;
    free(*dst);
    *dst = s;
    return 0;
}

ct_status ct_dlio_config_init(ct_dlio_config *c)
{
    if (!c)
        return ct_fail(NULL, CT_EINVAL, "ct_dlio_config_init: config is NULL");
    memset(c, 0, sizeof *c);
    c->model_size = 10240;
    c->framework = CT_FRAMEWORK_TENSORFLOW;
    c->format = CT_FMT_TFRECORD;
    c->record_length = 64 * 1024;
    c->num_files_train = 8;
    c->num_samples_per_file = 1;
    c->compression = CT_COMP_NONE;
    c->compression_level = 4;
    c->generation_buffer_size = 2LL * 1073741824LL;
    c->keep_files = 1;
    c->data_loader = CT_LOADER_TENSORFLOW;
    c->batch_size = 1;
    c->batch_size_eval = 1;
    c->read_threads = 1;
    c->computation_threads = 1;
    c->prefetch_size = 2;
    c->shuffle_size = 1024;
    c->drop_last = 1;
    c->epochs = 1;
    c->total_training_steps = -1;
    c->seed_change_epoch = 1;
    c->seed = 123;
    c->eval_after_epoch = 1;
    c->epochs_between_evals = 1;
    c->checkpoint_after_epoch = 1;
    c->epochs_between_checkpoints = 1;
    c->steps_between_checkpoints = -1;
    c->do_train = 1;
    c->au = 0.90;
    c->read_type = 1; /* on_demand */
    c->num_layers = c->tensor_parallelism = c->pipeline_parallelism = 1;
    c->n_layer_parameters = 2;
    c->layer_parameters[0] = 17371;
    c->layer_parameters[1] = 24740228;
    if (set_str(&c->model_name, "default") || set_str(&c->storage_type, "local_fs") ||
        set_str(&c->storage_root, "./") || set_str(&c->data_folder, "./data") ||
        set_str(&c->file_prefix, "img") || set_str(&c->checkpoint_folder, "./checkpoints") ||
        set_str(&c->output_folder, "output") || set_str(&c->log_file, "dlio.log")) {
        ct_dlio_config_free(c);
        return ct_fail(NULL, CT_ENOMEM, "out of memory initialising a DLIO config");
    }
    return CT_OK;
}

void ct_dlio_config_free(ct_dlio_config *c)
{
    if (!c)
        return;
    free(c->model_name);
    free(c->storage_type);
    free(c->storage_root);
    free(c->data_folder);
    free(c->file_prefix);
    free(c->checkpoint_folder);
    free(c->output_folder);
    free(c->log_file);
    c->model_name = c->storage_type = c->storage_root = c->data_folder = NULL;
    c->file_prefix = c->checkpoint_folder = c->output_folder = c->log_file = NULL;
}

/* ---- reading values ---- */

typedef struct loader_ctx {
    ct_dlio_config *c;
    ct_dlio_warn_fn warn;
    void *warn_ctx;
    const char *source; /* file name for messages */
} loader_ctx;

static void warnf(loader_ctx *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warnf(loader_ctx *L, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (L->warn)
        L->warn(L->warn_ctx, msg);
    else
        fprintf(stderr, "warning: %s\n", msg);
}

static void join_names(const char *const *names, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; names[i] && used + 1 < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", names[i]);
}

/* YAML 1.1 booleans as PyYAML's safe_load reads them. */
static int parse_bool(const char *s, int *out)
{
    static const char *const t[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", NULL};
    static const char *const f[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", NULL};
    for (int i = 0; t[i]; i++) {
        if (!strcmp(s, t[i])) {
            *out = 1;
            return 1;
        }
        if (!strcmp(s, f[i])) {
            *out = 0;
            return 1;
        }
    }
    return 0;
}

static int parse_num(const char *s, double *out)
{
    if (!*s)
        return 0;
    char buf[128];
    size_t n = 0;
    for (const char *p = s; *p && n + 1 < sizeof buf; p++)
        if (*p != '_')
            buf[n++] = *p;
    buf[n] = 0;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (*end || errno == ERANGE || end == buf || isnan(v))
        return 0;
    *out = v;
    return 1;
}

/* Where a value came from, for messages: "unet3d.yaml line 12" or
 * "override '++workload.a.b=c'". */
typedef struct origin {
    char where[300];
} origin;

static ct_status bad_value(const key_desc *k, const char *v, const origin *o, const char *allowed)
{
    return ct_fail(NULL, CT_EINVAL, "%s%s%s: invalid value '%s' (%s): allowed %s", k->section,
                   *k->section ? "." : "", k->key, v, o->where, allowed);
}

static ct_status set_scalar(loader_ctx *L, const key_desc *k, const char *v, int quoted,
                            const origin *o)
{
    char *base = (char *)L->c;
    char allowed[400];
    double d;
    int b;
    switch (k->type) {
    case K_STR:
        if (set_str((char **)(base + k->off), v))
            return ct_fail(NULL, CT_ENOMEM, "out of memory reading %s.%s", k->section, k->key);
        if (!strcmp(k->key, "data_folder") || !strcmp(k->key, "checkpoint_folder")) {
            char *s = *(char **)(base + k->off);
            size_t n = strlen(s);
            while (n > 1 && s[n - 1] == '/')
                s[--n] = 0; /* DLIO: rstrip('/') */
        }
        return CT_OK;
    case K_INT:
    case K_INT32:
    case K_REAL:
        snprintf(allowed, sizeof allowed, "%s in [%.17g, %.17g]",
                 k->type == K_REAL ? "a number" : "an integer", k->lo, k->hi);
        if (quoted || !parse_num(v, &d) || d < k->lo || d > k->hi ||
            (k->type != K_REAL && d != floor(d)))
            return bad_value(k, v, o, allowed);
        if (k->type == K_INT)
            *(int64_t *)(base + k->off) = (int64_t)d;
        else if (k->type == K_INT32)
            *(int32_t *)(base + k->off) = (int32_t)d;
        else
            *(double *)(base + k->off) = d;
        return CT_OK;
    case K_BOOL:
        if (quoted || !parse_bool(v, &b))
            return bad_value(k, v, o, "true or false");
        *(int32_t *)(base + k->off) = b;
        return CT_OK;
    case K_SHUF:
        /* PyYAML reads an unquoted `off` as False */
        if (!quoted && parse_bool(v, &b)) {
            *(int32_t *)(base + k->off) = b ? CT_SHUFFLE_SEED : CT_SHUFFLE_OFF;
            return CT_OK;
        }
        /* fall through */
    case K_ENUM:
    case K_KENUM:
        for (int i = 0; k->names[i]; i++) {
            if (!strcmp(v, k->names[i])) {
                if (k->type != K_KENUM) {
                    if (k->names == storage_names) {
                        if (set_str((char **)(base + k->off), v))
                            return ct_fail(NULL, CT_ENOMEM, "out of memory");
                    } else {
                        *(int32_t *)(base + k->off) = i;
                    }
                }
                return CT_OK;
            }
        }
        join_names(k->names, allowed, sizeof allowed);
        char msg[420];
        snprintf(msg, sizeof msg, "one of {%s}", allowed);
        return bad_value(k, v, o, msg);
    case K_LIST: { /* "[1, 2]" (an override) or "" */
        int64_t *a = (int64_t *)(base + k->off);
        int32_t *cnt = (int32_t *)(base + (size_t)k->hi), m = 0;
        const char *q = v;
        while (*q == ' ' || *q == '[')
            q++;
        while (*q && *q != ']') {
            char *end;
            errno = 0;
            long long x = strtoll(q, &end, 10);
            if (end == q || x < 0 || errno || m >= 32 || quoted)
                return bad_value(k, v, o, "a list of up to 32 integers >= 0");
            a[m++] = x;
            q = end;
            while (*q == ' ' || *q == ',')
                q++;
        }
        *cnt = m;
        return CT_OK;
    }
    case K_TIME: {
        ct_dlio_time *t = (ct_dlio_time *)(base + k->off);
        if (quoted || !parse_num(v, &d) || !isfinite(d))
            return bad_value(k, v, o, "a number of seconds or a dict {mean, stdev, type, ...}");
        memset(t, 0, sizeof *t);
        t->kind = CT_TIME_CONST;
        t->mean = d;
        return CT_OK;
    }
    default:
        return CT_OK;
    }
}

static const char *const time_types[] = {"normal", "uniform", "gamma", "exponential", "poisson", NULL};

/* A time dict {type, mean, stdev, min, max, shape, scale, lam}. */
static ct_status set_time_dict(loader_ctx *L, const key_desc *k, yaml_document_t *doc,
                               yaml_node_t *map)
{
    ct_dlio_time *t = (ct_dlio_time *)((char *)L->c + k->off);
    ct_dlio_time nt;
    memset(&nt, 0, sizeof nt);
    int typed = 0, has_stdev = 0;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(doc, p->value);
        const char *name = kn && kn->type == YAML_SCALAR_NODE ? (const char *)kn->data.scalar.value : "?";
        unsigned long line = (unsigned long)(kn ? kn->start_mark.line + 1 : 0);
        if (!vn || vn->type != YAML_SCALAR_NODE)
            return ct_fail(NULL, CT_EINVAL, "%s.%s.%s (%s line %lu): must be a scalar", k->section,
                           k->key, name, L->source, line);
        const char *v = (const char *)vn->data.scalar.value;
        double d;
        if (!strcmp(name, "type")) {
            int i;
            for (i = 0; time_types[i] && strcmp(time_types[i], v); i++)
                ;
            if (!time_types[i])
                return ct_fail(NULL, CT_EINVAL,
                               "%s.%s.type: invalid value '%s' (%s line %lu): allowed one of "
                               "{normal, uniform, gamma, exponential, poisson}",
                               k->section, k->key, v, L->source, line);
            nt.kind = i + 1;
            typed = 1;
            continue;
        }
        double *slot = !strcmp(name, "mean")    ? &nt.mean
                       : !strcmp(name, "stdev") ? &nt.stdev
                       : !strcmp(name, "min")   ? &nt.min
                       : !strcmp(name, "max")   ? &nt.max
                       : !strcmp(name, "shape") ? &nt.shape
                       : !strcmp(name, "scale") ? &nt.scale
                       : !strcmp(name, "lam")   ? &nt.lam
                                                : NULL;
        if (!slot) {
            warnf(L, "%s line %lu: unknown key %s.%s.%s ignored", L->source, line, k->section,
                  k->key, name);
            L->c->unknown_keys++;
            continue;
        }
        if (!parse_num(v, &d) || !isfinite(d))
            return ct_fail(NULL, CT_EINVAL,
                           "%s.%s.%s: invalid value '%s' (%s line %lu): allowed a number",
                           k->section, k->key, name, v, L->source, line);
        *slot = d;
        if (slot == &nt.stdev)
            has_stdev = 1;
    }
    if (!typed)
        nt.kind = has_stdev ? CT_TIME_NORMAL : CT_TIME_CONST;
    *t = nt;
    return CT_OK;
}

static const key_desc *find_key(const char *section, const char *key)
{
    if (!strcmp(section, "data_reader"))
        section = "reader";
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].section, section) && !strcmp(keys[i].key, key))
            return &keys[i];
    return NULL;
}

static int known_section(const char *s)
{
    for (int i = 0; sections[i]; i++)
        if (!strcmp(s, sections[i]))
            return 1;
    return 0;
}

static ct_status load_value(loader_ctx *L, const key_desc *k, yaml_document_t *doc, yaml_node_t *vn)
{
    origin o;
    snprintf(o.where, sizeof o.where, "%s line %lu", L->source,
             (unsigned long)vn->start_mark.line + 1);
    if (k->type == K_KNOWN)
        return CT_OK;
    if (vn->type == YAML_MAPPING_NODE && k->type == K_TIME)
        return set_time_dict(L, k, doc, vn);
    if (vn->type == YAML_SEQUENCE_NODE && k->type == K_LIST) {
        int64_t *a = (int64_t *)((char *)L->c + k->off);
        int32_t *cnt = (int32_t *)((char *)L->c + (size_t)k->hi), m = 0;
        for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top; it++) {
            yaml_node_t *e = yaml_document_get_node(doc, *it);
            double d;
            if (!e || e->type != YAML_SCALAR_NODE || m >= 32 ||
                !parse_num((const char *)e->data.scalar.value, &d) || d < 0 || d != floor(d) || d > BIG)
                return ct_fail(NULL, CT_EINVAL, "%s.%s (%s): allowed a list of up to 32 integers >= 0",
                               k->section, k->key, o.where);
            a[m++] = (int64_t)d;
        }
        *cnt = m;
        return CT_OK;
    }
    if (vn->type != YAML_SCALAR_NODE)
        return ct_fail(NULL, CT_EINVAL, "%s.%s (%s): must be a single value, not a %s", k->section,
                       k->key, o.where, vn->type == YAML_MAPPING_NODE ? "mapping" : "list");
    int quoted = vn->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                 vn->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    return set_scalar(L, k, (const char *)vn->data.scalar.value, quoted, &o);
}

static ct_status load_document(loader_ctx *L, yaml_document_t *doc)
{
    yaml_node_t *root = yaml_document_get_root_node(doc);
    if (!root)
        return CT_OK; /* empty file: all defaults */
    if (root->type != YAML_MAPPING_NODE)
        return ct_fail(NULL, CT_EINVAL, "%s line %lu: a DLIO workload must be a mapping of sections",
                       L->source, (unsigned long)root->start_mark.line + 1);
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(doc, p->value);
        if (!kn || !vn || kn->type != YAML_SCALAR_NODE)
            continue;
        const char *sec = (const char *)kn->data.scalar.value;
        unsigned long line = (unsigned long)kn->start_mark.line + 1;
        ct_status st;
        if (!strcmp(sec, "framework")) {
            if ((st = load_value(L, find_key("", "framework"), doc, vn)) != CT_OK)
                return st;
            continue;
        }
        if (!strcmp(sec, "model") && vn->type == YAML_SCALAR_NODE) {
            /* 2.0.0: `model: unet3d` */
            if (set_str(&L->c->model_name, (const char *)vn->data.scalar.value))
                return ct_fail(NULL, CT_ENOMEM, "out of memory");
            continue;
        }
        if (!known_section(sec)) {
            warnf(L, "%s line %lu: unknown section '%s' ignored", L->source, line, sec);
            L->c->unknown_keys++;
            continue;
        }
        if (vn->type != YAML_MAPPING_NODE) {
            if (vn->type == YAML_SCALAR_NODE && !*vn->data.scalar.value)
                continue; /* empty section */
            return ct_fail(NULL, CT_EINVAL, "%s line %lu: section '%s' must be a mapping", L->source,
                           line, sec);
        }
        for (yaml_node_pair_t *q = vn->data.mapping.pairs.start; q < vn->data.mapping.pairs.top; q++) {
            yaml_node_t *k2 = yaml_document_get_node(doc, q->key);
            yaml_node_t *v2 = yaml_document_get_node(doc, q->value);
            if (!k2 || !v2 || k2->type != YAML_SCALAR_NODE)
                continue;
            const char *key = (const char *)k2->data.scalar.value;
            const key_desc *k = find_key(sec, key);
            if (!k) {
                warnf(L, "%s line %lu: unknown key %s.%s ignored", L->source,
                      (unsigned long)k2->start_mark.line + 1, sec, key);
                L->c->unknown_keys++;
                continue;
            }
            if ((st = load_value(L, k, doc, v2)) != CT_OK)
                return st;
        }
    }
    return CT_OK;
}

static ct_status load_yaml(loader_ctx *L, const char *path, const char *text)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    FILE *f = NULL;
    if (!yaml_parser_initialize(&parser))
        return ct_fail(NULL, CT_ENOMEM, "out of memory creating a YAML parser");
    if (path) {
        f = fopen(path, "rb");
        if (!f) {
            yaml_parser_delete(&parser);
            return ct_fail(NULL, CT_EIO, "cannot open DLIO config '%s': %s", path, strerror(errno));
        }
        yaml_parser_set_input_file(&parser, f);
    } else {
        yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
    }
    ct_status st = CT_OK;
    if (!yaml_parser_load(&parser, &doc)) {
        st = ct_fail(NULL, CT_EFORMAT, "%s line %lu column %lu: YAML error: %s %s", L->source,
                     (unsigned long)parser.problem_mark.line + 1,
                     (unsigned long)parser.problem_mark.column + 1,
                     parser.problem ? parser.problem : "", parser.context ? parser.context : "");
    } else {
        st = load_document(L, &doc);
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    if (f)
        fclose(f);
    return st;
}

/* "++workload.dataset.num_files_train=4" */
static ct_status apply_override(loader_ctx *L, const char *ov)
{
    const char *s = ov;
    while (*s == '+')
        s++;
    if (!strncmp(s, "workload.", 9))
        s += 9;
    const char *eq = strchr(s, '=');
    if (!eq)
        return ct_fail(NULL, CT_EINVAL, "override '%s': expected ++workload.SECTION.KEY=VALUE", ov);
    char path[256];
    size_t n = (size_t)(eq - s);
    if (n == 0 || n >= sizeof path)
        return ct_fail(NULL, CT_EINVAL, "override '%s': expected ++workload.SECTION.KEY=VALUE", ov);
    memcpy(path, s, n);
    path[n] = 0;
    const char *val = eq + 1;
    char *parts[4] = {0};
    int np = 0;
    for (char *tok = path, *dot; tok && np < 4; tok = dot ? dot + 1 : NULL) {
        dot = strchr(tok, '.');
        if (dot)
            *dot = 0;
        parts[np++] = tok;
    }
    origin o;
    snprintf(o.where, sizeof o.where, "override '%s'", ov);
    /* a quoted value is a string */
    char vbuf[1024];
    int quoted = 0;
    size_t vl = strlen(val);
    if (vl >= 2 && ((val[0] == '\'' && val[vl - 1] == '\'') || (val[0] == '"' && val[vl - 1] == '"')) &&
        vl - 2 < sizeof vbuf) {
        memcpy(vbuf, val + 1, vl - 2);
        vbuf[vl - 2] = 0;
        val = vbuf;
        quoted = 1;
    }
    if (np == 1) {
        if (!strcmp(parts[0], "framework"))
            return set_scalar(L, find_key("", "framework"), val, quoted, &o);
        if (!strcmp(parts[0], "model"))
            return set_str(&L->c->model_name, val) ? ct_fail(NULL, CT_ENOMEM, "out of memory") : CT_OK;
        return ct_fail(NULL, CT_EINVAL, "override '%s': unknown key '%s'", ov, parts[0]);
    }
    const key_desc *k = find_key(parts[0], parts[1]);
    if (!k) {
        warnf(L, "override '%s': unknown key %s.%s ignored", ov, parts[0], parts[1]);
        L->c->unknown_keys++;
        return CT_OK;
    }
    if (np == 3 && k->type == K_TIME) {
        ct_dlio_time *t = (ct_dlio_time *)((char *)L->c + k->off);
        double d;
        if (!strcmp(parts[2], "type")) {
            for (int i = 0; time_types[i]; i++)
                if (!strcmp(time_types[i], val)) {
                    t->kind = i + 1;
                    return CT_OK;
                }
            return bad_value(k, val, &o, "one of {normal, uniform, gamma, exponential, poisson}");
        }
        double *slot = !strcmp(parts[2], "mean")    ? &t->mean
                       : !strcmp(parts[2], "stdev") ? &t->stdev
                       : !strcmp(parts[2], "min")   ? &t->min
                       : !strcmp(parts[2], "max")   ? &t->max
                       : !strcmp(parts[2], "shape") ? &t->shape
                       : !strcmp(parts[2], "scale") ? &t->scale
                       : !strcmp(parts[2], "lam")   ? &t->lam
                                                    : NULL;
        if (!slot || !parse_num(val, &d))
            return bad_value(k, val, &o, "mean|stdev|min|max|shape|scale|lam = a number");
        *slot = d;
        if (slot == &t->stdev && t->kind == CT_TIME_CONST)
            t->kind = CT_TIME_NORMAL;
        return CT_OK;
    }
    if (np != 2 && k->type != K_KNOWN)
        return ct_fail(NULL, CT_EINVAL, "override '%s': expected ++workload.SECTION.KEY=VALUE", ov);
    return set_scalar(L, k, val, quoted, &o);
}

ct_status ct_dlio_config_load(ct_dlio_config *c, const char *path, const char *yaml_text,
                              const char *const *overrides, size_t n, ct_dlio_warn_fn warn,
                              void *warn_ctx)
{
    if (!c || (!path && !yaml_text) || (n && !overrides))
        return ct_fail(NULL, CT_EINVAL, "ct_dlio_config_load: invalid arguments");
    loader_ctx L = {c, warn, warn_ctx, path ? path : "<config>"};
    /* DLIO's default data_loader is the string 'tensorflow', which never
     * equals an enum member: an unset loader takes no part in validate().
     * ctrain gives an unset loader the framework's own. */
    int32_t prev_loader = c->data_loader;
    c->data_loader = -1;
    ct_status st = load_yaml(&L, path, yaml_text);
    for (size_t i = 0; st == CT_OK && i < n; i++)
        st = apply_override(&L, overrides[i]);
    if (c->data_loader == -1)
        c->data_loader = prev_loader == CT_LOADER_TENSORFLOW && c->framework == CT_FRAMEWORK_PYTORCH
                             ? CT_LOADER_PYTORCH
                             : prev_loader;
    else
        c->data_loader_set = 1;
    if (st != CT_OK)
        return st;
    return ct_dlio_config_validate(c);
}

ct_status ct_dlio_config_validate(const ct_dlio_config *c)
{
    if (!c)
        return ct_fail(NULL, CT_EINVAL, "config is NULL");
    /* DLIO: ConfigArguments.validate */
    if (c->data_loader_set && c->format == CT_FMT_TFRECORD && c->data_loader == CT_LOADER_PYTORCH)
        return ct_fail(NULL, CT_EINVAL,
                       "reader.data_loader: 'pytorch' cannot read dataset.format 'tfrecord' "
                       "(allowed for tfrecord: tensorflow, dali, native_dali)");
    if (c->data_loader_set &&
        ((c->framework == CT_FRAMEWORK_TENSORFLOW && c->data_loader == CT_LOADER_PYTORCH) ||
         (c->framework == CT_FRAMEWORK_PYTORCH && c->data_loader == CT_LOADER_TENSORFLOW)))
        return ct_fail(NULL, CT_EINVAL,
                       "reader.data_loader: '%s' is incompatible with framework '%s' (allowed: "
                       "the same framework, dali, native_dali, custom, none, synthetic)",
                       loader_names[c->data_loader], framework_names[c->framework]);
    if (c->num_files_train < 0 || c->num_files_eval < 0)
        return ct_fail(NULL, CT_EINVAL, "dataset.num_files_*: must be >= 0");
    if (c->do_train && c->num_files_train < 1)
        return ct_fail(NULL, CT_EINVAL, "dataset.num_files_train: invalid value '%lld': allowed "
                       "an integer >= 1 when workflow.train is true", (long long)c->num_files_train);
    if (c->seed < 0 || c->seed > 4294967295LL)
        return ct_fail(NULL, CT_EINVAL, "train.seed: invalid value '%lld': allowed [0, 4294967295]",
                       (long long)c->seed);
    if (!c->data_folder || !*c->data_folder)
        return ct_fail(NULL, CT_EINVAL, "dataset.data_folder: must not be empty");
    if (c->pipeline_parallelism < 1 || c->tensor_parallelism < 1 ||
        c->num_layers % c->pipeline_parallelism || c->num_layers % c->tensor_parallelism)
        return ct_fail(NULL, CT_EINVAL, "checkpoint.num_layers %d should be a multiple of "
                       "checkpoint.pipeline_parallelism %d and checkpoint.tensor_parallelism %d",
                       c->num_layers, c->pipeline_parallelism, c->tensor_parallelism);
    return CT_OK;
}

int ct_dlio_file_path(const ct_dlio_config *c, int eval, int64_t i, char *buf, size_t cap)
{
    int64_t nfiles = eval ? c->num_files_eval : c->num_files_train;
    int64_t nsub = eval ? c->num_subfolders_eval : c->num_subfolders_train;
    const char *split = eval ? "valid" : "train";
    char nf[32], ns[32];
    int wf = snprintf(nf, sizeof nf, "%lld", (long long)nfiles);
    int ws = snprintf(ns, sizeof ns, "%lld", (long long)nsub);
    const char *ext = ct_data_format_name((ct_data_format)c->format);
    if (nsub > 1)
        return snprintf(buf, cap, "%s/%s/%0*lld/%s_%0*lld_of_%lld.%s", c->data_folder, split, ws,
                        (long long)(i % nsub), c->file_prefix, wf, (long long)i, (long long)nfiles, ext);
    return snprintf(buf, cap, "%s/%s/%s_%0*lld_of_%lld.%s", c->data_folder, split, c->file_prefix, wf,
                    (long long)i, (long long)nfiles, ext);
}
