/* The sample order of one rank in one epoch (docs/data.md, "Sampler"):
 *  1. files in DLIO's sorted order; file_shuffle != off permutes them with
 *     np.random.RandomState([seed, e, 0]).shuffle (the same on every rank);
 *  2. the global sample list is the files' samples in that order;
 *  3. rank r takes a contiguous shard: n // size samples (drop_last) or
 *     n // size plus one of the n % size leftovers (no drop_last), so no
 *     sample is duplicated or lost (the failure of DLIO issue #340);
 *  4. sample_shuffle != off shuffles the shard with
 *     RandomState([seed, e, 1, r]): a full Fisher-Yates (numpy shuffle) when
 *     shuffle_size <= 0 or >= the shard, else a shuffle buffer of
 *     shuffle_size entries as tf.data.Dataset.shuffle;
 *  5. drop_last keeps whole batches only.
 * e is the epoch when seed_change_epoch, else 0. */
#include <stdlib.h>

#include "../core/error.h"
#include "ctrain/data.h"
#include "nprand.h"

static ct_status check(const ct_sampler_opts *o)
{
    if (!o)
        return ct_fail(NULL, CT_EINVAL, "sampler options are NULL");
    if (o->num_files < 0 || o->samples_per_file < 1)
        return ct_fail(NULL, CT_EINVAL, "sampler: num_files=%lld, samples_per_file=%lld are invalid",
                       (long long)o->num_files, (long long)o->samples_per_file);
    if (o->size < 1 || o->rank < 0 || o->rank >= o->size)
        return ct_fail(NULL, CT_EINVAL, "sampler: rank %d of %d is invalid", o->rank, o->size);
    if (o->batch_size < 1)
        return ct_fail(NULL, CT_EINVAL, "sampler: batch_size=%lld must be >= 1", (long long)o->batch_size);
    if (o->seed < 0 || o->seed > 4294967295LL)
        return ct_fail(NULL, CT_EINVAL, "sampler: seed=%lld must be in [0, 2^32)", (long long)o->seed);
    if (o->num_files > ((int64_t)1 << 40) / o->samples_per_file)
        return ct_fail(NULL, CT_EINVAL, "sampler: too many samples");
    return CT_OK;
}

static void shard_range(const ct_sampler_opts *o, int64_t *start, int64_t *count)
{
    int64_t n = o->num_files * o->samples_per_file;
    int64_t base = n / o->size, extra = n % o->size;
    if (o->drop_last) {
        *start = o->rank * base;
        *count = base;
    } else {
        *start = o->rank * base + (o->rank < extra ? o->rank : extra);
        *count = base + (o->rank < extra ? 1 : 0);
    }
}

int64_t ct_sampler_count(const ct_sampler_opts *o)
{
    if (check(o) != CT_OK)
        return -1;
    int64_t start, count;
    shard_range(o, &start, &count);
    if (o->drop_last)
        count = count / o->batch_size * o->batch_size;
    return count;
}

ct_status ct_sampler_epoch(const ct_sampler_opts *o, int32_t epoch, int64_t *ids, int64_t cap,
                           int64_t *n)
{
    ct_status st = check(o);
    if (st != CT_OK)
        return st;
    if (!ids || !n || epoch < 0)
        return ct_fail(NULL, CT_EINVAL, "ct_sampler_epoch: invalid arguments");
    int64_t start, count;
    shard_range(o, &start, &count);
    int64_t keep = o->drop_last ? count / o->batch_size * o->batch_size : count;
    if (cap < count)
        return ct_fail(NULL, CT_EINVAL, "ct_sampler_epoch: room for %lld ids, %lld needed",
                       (long long)cap, (long long)count);
    uint32_t e = o->seed_change_epoch ? (uint32_t)epoch : 0u;
    uint32_t seed = (uint32_t)o->seed;
    ct_nprand rng;
    int64_t spf = o->samples_per_file;
    int64_t f0 = start / spf, f1 = (start + count + spf - 1) / spf;
    int64_t *files = NULL;
    if (o->file_shuffle != CT_SHUFFLE_OFF) {
        files = malloc((size_t)(o->num_files ? o->num_files : 1) * sizeof *files);
        if (!files)
            return ct_fail(NULL, CT_ENOMEM, "sampler: out of memory");
        for (int64_t i = 0; i < o->num_files; i++)
            files[i] = i;
        uint32_t key[3] = {seed, e, 0};
        ct_nprand_seed_array(&rng, key, 3);
        ct_nprand_shuffle_i64(&rng, files, o->num_files);
    }
    int64_t k = 0;
    for (int64_t fi = f0; fi < f1 && fi < o->num_files; fi++) {
        int64_t file = files ? files[fi] : fi;
        for (int64_t s = 0; s < spf; s++) {
            int64_t pos = fi * spf + s;
            if (pos >= start && pos < start + count)
                ids[k++] = file * spf + s;
        }
    }
    free(files);
    if (o->sample_shuffle != CT_SHUFFLE_OFF && count > 1) {
        uint32_t key[4] = {seed, e, 1, (uint32_t)o->rank};
        ct_nprand_seed_array(&rng, key, 4);
        int64_t S = o->shuffle_size;
        if (S <= 0 || S >= count) {
            ct_nprand_shuffle_i64(&rng, ids, count);
        } else {
            /* shuffle buffer: ids[0..S) is the buffer, outputs go to out */
            int64_t *out = malloc((size_t)count * sizeof *out), *buf = malloc((size_t)S * sizeof *buf);
            if (!out || !buf) {
                free(out);
                free(buf);
                return ct_fail(NULL, CT_ENOMEM, "sampler: out of memory");
            }
            int64_t nb = S, no = 0;
            for (int64_t i = 0; i < S; i++)
                buf[i] = ids[i];
            for (int64_t i = S; i < count; i++) {
                int64_t j = (int64_t)ct_nprand_interval(&rng, (uint64_t)(nb - 1));
                out[no++] = buf[j];
                buf[j] = ids[i];
            }
            while (nb > 0) {
                int64_t j = (int64_t)ct_nprand_interval(&rng, (uint64_t)(nb - 1));
                out[no++] = buf[j];
                buf[j] = buf[nb - 1];
                nb--;
            }
            for (int64_t i = 0; i < count; i++)
                ids[i] = out[i];
            free(out);
            free(buf);
        }
    }
    *n = keep;
    return CT_OK;
}
