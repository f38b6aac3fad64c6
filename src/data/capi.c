/* The flat C ABI of include/ctrain/data_capi.h: heap configs with fields by
 * name, the epoch's sample ids as ct_loader orders them, and a synchronous
 * reader of arbitrary sample ids (used by python/ctrain/data.py). Built on
 * data.h's public functions only. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "ctrain/data_capi.h"

ct_status ct_dlio_config_new(ct_dlio_config **out, const char *path,
                             const char *const *overrides, size_t n,
                             ct_dlio_warn_fn warn, void *warn_ctx)
{
    if (!out || !path)
        return ct_fail(NULL, CT_EINVAL, "ct_dlio_config_new: NULL argument");
    *out = NULL;
    ct_dlio_config *c = calloc(1, sizeof *c);
    if (!c)
        return ct_fail(NULL, CT_ENOMEM, "out of memory");
    ct_status st = ct_dlio_config_init(c);
    if (st == CT_OK)
        st = ct_dlio_config_load(c, path, NULL, overrides, n, warn, warn_ctx);
    if (st != CT_OK) {
        ct_dlio_config_free(c);
        free(c);
        return st; /* ct_errmsg() is the loader's message */
    }
    *out = c;
    return CT_OK;
}

void ct_dlio_config_delete(ct_dlio_config *c)
{
    if (!c)
        return;
    ct_dlio_config_free(c);
    free(c);
}

enum { F_I32, F_I64, F_F64 };
typedef struct field {
    const char *name;
    int type;
    size_t off;
} field;

#define FI(n) {#n, F_I32, offsetof(ct_dlio_config, n)}
#define FL(n) {#n, F_I64, offsetof(ct_dlio_config, n)}
#define FD(n) {#n, F_F64, offsetof(ct_dlio_config, n)}
static const field FIELDS[] = {
    FD(model_size), FI(framework), FI(generate_data), FI(do_train), FI(do_eval),
    FI(do_checkpoint), FI(format), FD(record_length), FD(record_length_stdev),
    FD(record_length_resize), FL(num_files_train), FL(num_files_eval), FL(num_samples_per_file),
    FL(num_subfolders_train), FL(num_subfolders_eval), FI(compression), FI(compression_level),
    FL(generation_buffer_size), FI(data_loader), FL(batch_size), FL(batch_size_eval),
    FI(read_threads), FI(computation_threads), FI(prefetch_size), FL(transfer_size),
    FI(file_shuffle), FI(sample_shuffle), FL(shuffle_size), FI(odirect), FI(drop_last),
    FI(epochs), FL(total_training_steps), FI(seed_change_epoch), FL(seed), FI(unknown_keys),
};

ct_status ct_dlio_config_get(const ct_dlio_config *c, const char *key, double *value)
{
    if (!c || !key || !value)
        return ct_fail(NULL, CT_EINVAL, "ct_dlio_config_get: NULL argument");
    for (size_t i = 0; i < sizeof FIELDS / sizeof FIELDS[0]; i++) {
        if (strcmp(FIELDS[i].name, key) != 0)
            continue;
        const char *p = (const char *)c + FIELDS[i].off;
        int32_t a;
        int64_t b;
        double d;
        switch (FIELDS[i].type) {
        case F_I32: memcpy(&a, p, sizeof a); *value = a; break;
        case F_I64: memcpy(&b, p, sizeof b); *value = (double)b; break;
        default: memcpy(&d, p, sizeof d); *value = d; break;
        }
        return CT_OK;
    }
    return ct_fail(NULL, CT_EINVAL, "ct_dlio_config_get: unknown field '%s'", key);
}

ct_status ct_dlio_config_get_string(const ct_dlio_config *c, const char *key, char *buf,
                                    size_t cap, size_t *len)
{
    if (!c || !key || !len || (!buf && cap))
        return ct_fail(NULL, CT_EINVAL, "ct_dlio_config_get_string: NULL argument");
    const char *v;
    if (!strcmp(key, "data_folder"))
        v = c->data_folder;
    else if (!strcmp(key, "file_prefix"))
        v = c->file_prefix;
    else if (!strcmp(key, "output_folder"))
        v = c->output_folder;
    else if (!strcmp(key, "model_name"))
        v = c->model_name;
    else if (!strcmp(key, "checkpoint_folder"))
        v = c->checkpoint_folder;
    else if (!strcmp(key, "format_name"))
        v = ct_data_format_name((ct_data_format)c->format);
    else
        return ct_fail(NULL, CT_EINVAL, "ct_dlio_config_get_string: unknown field '%s'", key);
    if (!v)
        v = "";
    size_t n = strlen(v);
    *len = n;
    if (cap) {
        size_t k = n < cap - 1 ? n : cap - 1;
        memcpy(buf, v, k);
        buf[k] = '\0';
    }
    return CT_OK;
}

/* The sampler options ct_loader_create builds from c (src/data/loader.c). */
static ct_sampler_opts opts_for(const ct_dlio_config *c, int eval, int rank, int size)
{
    ct_sampler_opts so = {eval ? c->num_files_eval : c->num_files_train, c->num_samples_per_file,
                          c->file_shuffle, c->sample_shuffle, c->shuffle_size, c->seed,
                          c->seed_change_epoch, rank, size,
                          eval ? c->batch_size_eval : c->batch_size, c->drop_last};
    return so;
}

ct_status ct_dlio_epoch_ids(const ct_dlio_config *c, int eval, int rank, int size, int32_t epoch,
                            int64_t *ids, int64_t cap, int64_t *n)
{
    if (!c || !n || (!ids && cap))
        return ct_fail(NULL, CT_EINVAL, "ct_dlio_epoch_ids: NULL argument");
    ct_sampler_opts so = opts_for(c, eval, rank, size);
    int64_t cnt = ct_sampler_count(&so);
    if (cnt < 0)
        return ct_fail(NULL, CT_EINVAL, "%s", ct_errmsg());
    if (!ids) {
        *n = cnt;
        return CT_OK;
    }
    return ct_sampler_epoch(&so, epoch, ids, cap, n);
}

struct ct_sample_reader {
    ct_err err;
    const ct_dlio_config *c;
    int eval;
    int64_t nfiles, spf;
    ct_data_file *f;
    int64_t open_file;   /* index of the file open on f, -1 if none */
    char *path;
    size_t pathcap;
    uint8_t *data;
    size_t cap;
    int64_t *ids;
    uint64_t *offsets, *lengths;
    const uint8_t **ptrs;
    int64_t ncap;
};

ct_status ct_sample_reader_create(ct_sample_reader **out, const ct_dlio_config *c, int eval)
{
    if (!out || !c)
        return ct_fail(NULL, CT_EINVAL, "ct_sample_reader_create: NULL argument");
    *out = NULL;
    ct_sample_reader *r = calloc(1, sizeof *r);
    if (!r)
        return ct_fail(NULL, CT_ENOMEM, "out of memory");
    r->c = c;
    r->eval = eval;
    r->nfiles = eval ? c->num_files_eval : c->num_files_train;
    r->spf = c->num_samples_per_file;
    r->open_file = -1;
    if (r->spf < 1) {
        free(r);
        return ct_fail(NULL, CT_EINVAL, "dataset.num_samples_per_file=%lld must be >= 1",
                       (long long)c->num_samples_per_file);
    }
    ct_status st = ct_data_file_new(&r->f, c->format, c->odirect);
    if (st != CT_OK) {
        free(r);
        return st;
    }
    *out = r;
    return CT_OK;
}

void ct_sample_reader_destroy(ct_sample_reader *r)
{
    if (!r)
        return;
    ct_data_file_close(r->f);
    free(r->path);
    free(r->data);
    free(r->ids);
    free(r->offsets);
    free(r->lengths);
    free(r->ptrs);
    free(r);
}

static ct_status reserve_counts(ct_sample_reader *r, int64_t n)
{
    if (n <= r->ncap)
        return CT_OK;
    int64_t *ids = realloc(r->ids, (size_t)n * sizeof *ids);
    if (ids)
        r->ids = ids;
    uint64_t *o = realloc(r->offsets, (size_t)n * sizeof *o);
    if (o)
        r->offsets = o;
    uint64_t *l = realloc(r->lengths, (size_t)n * sizeof *l);
    if (l)
        r->lengths = l;
    const uint8_t **q = realloc(r->ptrs, (size_t)n * sizeof *q);
    if (q)
        r->ptrs = q;
    if (!ids || !o || !l || !q)
        return ct_fail(&r->err, CT_ENOMEM, "out of memory for a batch of %lld samples", (long long)n);
    r->ncap = n;
    return CT_OK;
}

static ct_status open_file(ct_sample_reader *r, int64_t fi)
{
    int len = ct_dlio_file_path(r->c, r->eval, fi, NULL, 0);
    if ((size_t)len + 1 > r->pathcap) {
        char *p = realloc(r->path, (size_t)len + 1);
        if (!p)
            return ct_fail(&r->err, CT_ENOMEM, "out of memory");
        r->path = p;
        r->pathcap = (size_t)len + 1;
    }
    ct_dlio_file_path(r->c, r->eval, fi, r->path, r->pathcap);
    r->open_file = -1;
    ct_status st = ct_data_file_reopen(r->f, r->path);
    if (st != CT_OK)
        return ct_fail_keep(&r->err, st);
    r->open_file = fi;
    return CT_OK;
}

ct_status ct_sample_reader_read(ct_sample_reader *r, const int64_t *ids, int64_t n, ct_batch *b)
{
    if (!r || !b || (!ids && n > 0) || n < 0)
        return ct_fail(r ? &r->err : NULL, CT_EINVAL, "ct_sample_reader_read: invalid argument");
    ct_status st = reserve_counts(r, n > 0 ? n : 1);
    if (st != CT_OK)
        return st;
    uint64_t used = 0;
    for (int64_t k = 0; k < n; k++) {
        int64_t id = ids[k], fi = id / r->spf, si = id % r->spf;
        if (id < 0 || fi >= r->nfiles)
            return ct_fail(&r->err, CT_EINVAL, "sample id %lld is outside [0, %lld)", (long long)id,
                           (long long)(r->nfiles * r->spf));
        if (fi != r->open_file && (st = open_file(r, fi)) != CT_OK)
            return st;
        if (si >= ct_data_file_samples(r->f))
            return ct_fail(&r->err, CT_EFORMAT,
                           "%s: has %lld samples, sample %lld requested (dataset.num_samples_per_file=%lld)",
                           r->path, (long long)ct_data_file_samples(r->f), (long long)si,
                           (long long)r->spf);
        const uint8_t *d;
        size_t len;
        if ((st = ct_data_file_sample(r->f, si, &d, &len)) != CT_OK)
            return ct_fail_keep(&r->err, st);
        if (used + len > r->cap) {
            size_t cap = (size_t)(used + len) * 2;
            uint8_t *nd = realloc(r->data, cap);
            if (!nd)
                return ct_fail(&r->err, CT_ENOMEM, "out of memory for a batch of %zu bytes", cap);
            r->data = nd;
            r->cap = cap;
        }
        memcpy(r->data + used, d, len);
        r->ids[k] = id;
        r->offsets[k] = used;
        r->lengths[k] = len;
        used += len;
    }
    for (int64_t k = 0; k < n; k++)
        r->ptrs[k] = r->data + r->offsets[k];
    b->count = n;
    b->ids = r->ids;
    b->data = r->data;
    b->offsets = r->offsets;
    b->lengths = r->lengths;
    b->index = -1;
    b->samples = r->ptrs;
    return CT_OK;
}

uint64_t ct_sample_reader_bytes_read(const ct_sample_reader *r)
{
    return r && r->f ? ct_data_file_bytes_read(r->f) : 0;
}

const char *ct_sample_reader_errmsg(const ct_sample_reader *r) { return r ? r->err.msg : ""; }
