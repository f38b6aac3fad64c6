/* ctrain tool — `ctrain train`, `ctrain eval`, `ctrain predict`.
 *
 * A YAML config names the data, the model (a list of layers with torch.nn
 * options), the loss, the optimizer, schedule and clipping of the engine,
 * and the training loop; docs/nn.md describes every key. A run writes
 * runs/<name>/: config.yaml (resolved, overrides applied), model.safetensors
 * (weights under torch.nn.Sequential state_dict names), train_state.safetensors
 * (optimizer state, epoch, step), log.csv.
 *
 * Determinism: the split, the per-epoch shuffles and the dropout masks are
 * keyed by (seed, epoch or step) only, the optimizer state is saved exactly,
 * and the schedule is replayed, so `--resume` ends bit-identical to an
 * uninterrupted run.
 */
#include "train.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ctrain/ctrain.h"
#include "ctrain/nn.h"
#include "ctrain/tensor.h"
#include "digits.h"
#include "io/safetensors.h"
#include "npy.h"
#include "plot.h"
#include "tfevents.h"

#ifndef CT_DEMO_DATA
#define CT_DEMO_DATA "data/digits.csv.gz"
#endif

#define ERRCAP 1024

/* ---- deterministic streams (splitmix64, as tools/demo.c) ---- */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

typedef struct rng {
    uint64_t s;
} rng;

static rng rng_stream(uint64_t seed, uint64_t stream)
{
    rng r = {mix64(seed ^ mix64(stream + 0x9E3779B97F4A7C15ull))};
    return r;
}

static size_t rng_below(rng *r, size_t n)
{
    uint64_t lim = UINT64_MAX - UINT64_MAX % n, v;
    do
        v = mix64(r->s += 0x9E3779B97F4A7C15ull);
    while (v >= lim);
    return (size_t)(v % n);
}

static void shuffle(size_t *a, size_t n, rng *r)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = rng_below(r, i), t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- the settings a config resolves to ---- */
typedef struct settings {
    const char *file;
    char name[128];
    uint64_t seed;
    /* data */
    char source[16], path[1024], xpath[1024], ypath[1024];
    long csv_features;
    int csv_classes;
    int nd;
    int64_t shape[8];
    int shape_line;
    double scale, test_split, val_split;
    /* loss */
    ct_ce_args ce;
    float class_weight[1024];
    int n_class_weight;
    /* optimizer and schedule: engine option strings */
    char opt_name[64], opt_opts[1024];
    int opt_line;
    char sched_name[64], sched_opts[1024];
    int sched_line, sched_per_step;
    long warmup;          /* intervals of linear warmup before the schedule (0: none) */
    double warmup_factor; /* the warmup's first lr, as a fraction of the lr */
    double clip_norm, clip_value;
    /* loop */
    long epochs, batch, threads, stop_after, patience, ckpt_every;
    char es_metric[16];
    char outdir[1024], rundir[1200];
} settings;

typedef struct dataset {
    size_t n, nfeat;
    int nclass;
    float *x;
    int64_t *y;
} dataset;

/* Formats into err (ERRCAP bytes); longer messages are cut. Returns 1. */
static int errf(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int errf(char *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, ERRCAP, fmt, ap);
    va_end(ap);
    return 1;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

static int cfail(char *err, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int cfail(char *err, const char *file, int line, const char *fmt, ...)
{
    char msg[ERRCAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line > 0)
        errf(err, "%s:%d: %s", file, line, msg);
    else
        errf(err, "%s: %s (set by an override)", file, msg);
    return -1;
}

static int get_str(const settings *s, cfg *map, const char *key, char *out, size_t cap,
                   char *err)
{
    cfg *c = cfg_get(map, key);
    if (!c)
        return 0;
    if (c->type != CFG_SCALAR)
        return cfail(err, s->file, c->line, "%s: expected a single value", key);
    snprintf(out, cap, "%s", c->val);
    return 0;
}

static int get_num(const settings *s, cfg *map, const char *key, double lo, double hi, int integer,
                   double *out, char *err)
{
    cfg *c = cfg_get(map, key);
    if (!c)
        return 0;
    char *end = NULL;
    double v = c->type == CFG_SCALAR ? strtod(c->val, &end) : NAN;
    if (c->type != CFG_SCALAR || end == c->val || *end || !(v >= lo && v <= hi) ||
        (integer && v != floor(v)))
        return cfail(err, s->file, c->line, "%s: expected %s in [%g, %g], got '%s'", key,
                     integer ? "an integer" : "a number", lo, hi,
                     c->type == CFG_SCALAR ? c->val : "a list or map");
    *out = v;
    return 0;
}

static int get_long(const settings *s, cfg *map, const char *key, long lo, long hi, long *out,
                    char *err)
{
    double v = (double)*out;
    if (get_num(s, map, key, (double)lo, (double)hi, 1, &v, err))
        return -1;
    *out = (long)v;
    return 0;
}

/* Every key of a map except those in skip (NULL-terminated; may be NULL)
 * as engine options "k=v k=a,b". */
static int map_to_options(const settings *s, cfg *map, const char *const *skip, char *out,
                          size_t cap, char *err)
{
    size_t len = 0;
    out[0] = 0;
    for (size_t i = 0; i < map->n; i++) {
        cfg *k = &map->kids[i];
        int skipped = 0;
        for (const char *const *sk = skip; sk && *sk; sk++)
            skipped |= !strcmp(k->key, *sk);
        if (skipped)
            continue;
        k->used = 1;
        len += (size_t)snprintf(out + len, len < cap ? cap - len : 0, "%s%s=", len ? " " : "",
                                k->key);
        if (k->type == CFG_SCALAR) {
            len += (size_t)snprintf(out + len, len < cap ? cap - len : 0, "%s", k->val);
        } else if (k->type == CFG_LIST) {
            for (size_t j = 0; j < k->n; j++) {
                if (k->kids[j].type != CFG_SCALAR)
                    return cfail(err, s->file, k->line, "%s: expected a list of numbers", k->key);
                len += (size_t)snprintf(out + len, len < cap ? cap - len : 0, "%s%s",
                                        j ? "," : "", k->kids[j].val);
            }
        } else {
            return cfail(err, s->file, k->line, "%s: expected a value or a list", k->key);
        }
        if (len >= cap)
            return cfail(err, s->file, k->line, "options too long");
    }
    return 0;
}

static const char *base_name(const char *path, char *buf, size_t cap)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    snprintf(buf, cap, "%s", b);
    char *dot = strrchr(buf, '.');
    if (dot && dot != buf)
        *dot = 0;
    return buf;
}

static int read_settings(settings *s, cfg *root, char *err)
{
    char tmp[256];
    copy_str(s->name, sizeof s->name, base_name(s->file, tmp, sizeof tmp));
    s->seed = 42;
    snprintf(s->source, sizeof s->source, "digits");
    snprintf(s->path, sizeof s->path, "%s", CT_DEMO_DATA);
    s->scale = 0;
    s->test_split = 0.2;
    s->val_split = 0.1;
    s->ce = ct_ce_defaults();
    snprintf(s->opt_name, sizeof s->opt_name, "adamw");
    s->epochs = 10;
    s->batch = 32;
    s->threads = 1;
    s->ckpt_every = 1;
    snprintf(s->outdir, sizeof s->outdir, "runs");
    snprintf(s->es_metric, sizeof s->es_metric, "val_loss");

    if (get_str(s, root, "name", s->name, sizeof s->name, err))
        return -1;
    for (const char *p = s->name; *p; p++)
        if (*p == '/' || (p == s->name && *p == '.'))
            return cfail(err, s->file, cfg_get(root, "name") ? cfg_get(root, "name")->line : 1,
                         "name: '%s' must be a plain file name", s->name);
    double seed = 42;
    if (get_num(s, root, "seed", 0, 9007199254740992.0, 1, &seed, err))
        return -1;
    s->seed = (uint64_t)seed;

    cfg *data = cfg_get(root, "data");
    if (data && data->type != CFG_MAP)
        return cfail(err, s->file, data->line, "data: expected a map");
    if (data) {
        if (get_str(s, data, "source", s->source, sizeof s->source, err))
            return -1;
        /* keys of the other source stay unread and are reported */
        int npy = !strcmp(s->source, "npy"), csv = !strcmp(s->source, "csv");
        if (csv) {
            s->path[0] = 0;
            double nf = 0, nc = 0;
            if (get_num(s, data, "features", 1, 1e7, 1, &nf, err) ||
                get_num(s, data, "classes", 2, 1e6, 1, &nc, err))
                return -1;
            if (!nf || !nc)
                return cfail(err, s->file, data->line, "data: source csv needs features: and "
                             "classes: (columns: features, then an integer label)");
            s->csv_features = (long)nf;
            s->csv_classes = (int)nc;
        }
        if ((!npy && get_str(s, data, "path", s->path, sizeof s->path, err)) ||
            (npy && get_str(s, data, "x", s->xpath, sizeof s->xpath, err)) ||
            (npy && get_str(s, data, "y", s->ypath, sizeof s->ypath, err)) ||
            get_num(s, data, "scale", 0, 1e30, 0, &s->scale, err) ||
            get_num(s, data, "test_split", 0, 0.9, 0, &s->test_split, err) ||
            get_num(s, data, "val_split", 0, 0.9, 0, &s->val_split, err))
            return -1;
        if (strcmp(s->source, "digits") && strcmp(s->source, "npy") && !csv)
            return cfail(err, s->file, cfg_get(data, "source")->line,
                         "data.source: '%s' is not one of digits, csv, npy", s->source);
        if (csv && !s->path[0])
            return cfail(err, s->file, data->line, "data: source csv needs path:");
        if (!strcmp(s->source, "npy") && (!s->xpath[0] || !s->ypath[0]))
            return cfail(err, s->file, data->line, "data: source npy needs x: and y: files");
        cfg *sh = cfg_get(data, "shape");
        if (sh) {
            s->shape_line = sh->line;
            if (sh->type != CFG_LIST || sh->n < 1 || sh->n > 7)
                return cfail(err, s->file, sh->line, "data.shape: expected a list of 1-7 sizes");
            for (size_t i = 0; i < sh->n; i++) {
                char *end;
                long v = sh->kids[i].type == CFG_SCALAR ? strtol(sh->kids[i].val, &end, 10) : 0;
                if (v < 1 || *end)
                    return cfail(err, s->file, sh->line, "data.shape: sizes must be integers >= 1");
                s->shape[s->nd++] = v;
            }
        }
    }
    if (s->scale == 0)
        s->scale = !strcmp(s->source, "digits") ? 1.0 / 16.0 : 1.0;

    cfg *loss = cfg_get(root, "loss");
    if (loss) {
        if (loss->type != CFG_MAP)
            return cfail(err, s->file, loss->line, "loss: expected a map");
        char kind[32] = "cross_entropy";
        double ls = 0, ii = -100;
        if (get_str(s, loss, "kind", kind, sizeof kind, err) ||
            get_num(s, loss, "label_smoothing", 0, 1, 0, &ls, err) ||
            get_num(s, loss, "ignore_index", -1e9, 1e9, 1, &ii, err))
            return -1;
        if (strcmp(kind, "cross_entropy"))
            return cfail(err, s->file, cfg_get(loss, "kind")->line,
                         "loss.kind: '%s': `ctrain train` trains classifiers with cross_entropy",
                         kind);
        s->ce.label_smoothing = (float)ls;
        s->ce.ignore_index = (int64_t)ii;
        cfg *w = cfg_get(loss, "weight");
        if (w) {
            if (w->type != CFG_LIST || w->n > 1024)
                return cfail(err, s->file, w->line, "loss.weight: expected a list of numbers");
            for (size_t i = 0; i < w->n; i++) {
                char *end;
                double v = w->kids[i].type == CFG_SCALAR ? strtod(w->kids[i].val, &end) : -1;
                if (!(v >= 0) || *end)
                    return cfail(err, s->file, w->line, "loss.weight: weights must be >= 0");
                s->class_weight[i] = (float)v;
            }
            s->n_class_weight = (int)w->n;
            s->ce.class_weight = s->class_weight;
        }
    }

    cfg *opt = cfg_get(root, "optimizer");
    if (opt) {
        if (opt->type != CFG_MAP)
            return cfail(err, s->file, opt->line, "optimizer: expected a map (name: adamw, lr: ...)");
        s->opt_line = opt->line;
        if (get_str(s, opt, "name", s->opt_name, sizeof s->opt_name, err) ||
            map_to_options(s, opt, (const char *const[]){"name", NULL}, s->opt_opts,
                           sizeof s->opt_opts, err))
            return -1;
    }
    cfg *sch = cfg_get(root, "schedule");
    if (sch) {
        if (sch->type != CFG_MAP)
            return cfail(err, s->file, sch->line, "schedule: expected a map (name: cosine, ...)");
        s->sched_line = sch->line;
        char interval[16] = "epoch";
        s->warmup_factor = 0.01;
        if (get_str(s, sch, "name", s->sched_name, sizeof s->sched_name, err) ||
            get_str(s, sch, "interval", interval, sizeof interval, err) ||
            get_long(s, sch, "warmup", 0, 1L << 40, &s->warmup, err) ||
            get_num(s, sch, "warmup_start_factor", 1e-12, 1, 0, &s->warmup_factor, err) ||
            map_to_options(s, sch,
                           (const char *const[]){"name", "interval", "warmup",
                                                 "warmup_start_factor", NULL},
                           s->sched_opts, sizeof s->sched_opts, err))
            return -1;
        if (!s->sched_name[0])
            return cfail(err, s->file, sch->line, "schedule: name is required");
        if (strcmp(interval, "epoch") && strcmp(interval, "step"))
            return cfail(err, s->file, cfg_get(sch, "interval")->line,
                         "schedule.interval: '%s' is not one of epoch, step", interval);
        s->sched_per_step = !strcmp(interval, "step");
    }
    cfg *clip = cfg_get(root, "clip");
    if (clip) {
        if (clip->type != CFG_MAP)
            return cfail(err, s->file, clip->line, "clip: expected a map (max_norm: 1.0)");
        if (get_num(s, clip, "max_norm", 0, 1e30, 0, &s->clip_norm, err) ||
            get_num(s, clip, "max_value", 0, 1e30, 0, &s->clip_value, err))
            return -1;
    }
    cfg *tr = cfg_get(root, "train");
    if (tr) {
        if (tr->type != CFG_MAP)
            return cfail(err, s->file, tr->line, "train: expected a map");
        if (get_long(s, tr, "epochs", 1, 1000000, &s->epochs, err) ||
            get_long(s, tr, "batch_size", 1, 1 << 20, &s->batch, err) ||
            get_long(s, tr, "threads", 1, 256, &s->threads, err) ||
            get_long(s, tr, "stop_after", 0, 1000000, &s->stop_after, err) ||
            get_long(s, tr, "checkpoint_every", 0, 1000000, &s->ckpt_every, err))
            return -1;
        cfg *es = cfg_get(tr, "early_stopping");
        if (es) {
            if (es->type != CFG_MAP)
                return cfail(err, s->file, es->line, "train.early_stopping: expected a map "
                             "(metric: val_loss, patience: 5)");
            s->patience = 5;
            if (get_str(s, es, "metric", s->es_metric, sizeof s->es_metric, err) ||
                get_long(s, es, "patience", 1, 1000000, &s->patience, err))
                return -1;
            if (strcmp(s->es_metric, "val_loss") && strcmp(s->es_metric, "val_acc") &&
                strcmp(s->es_metric, "val_f1"))
                return cfail(err, s->file, es->line, "train.early_stopping.metric: '%s' is not "
                             "one of val_loss, val_acc, val_f1", s->es_metric);
        }
    }
    cfg *out = cfg_get(root, "output");
    if (out) {
        if (out->type != CFG_MAP)
            return cfail(err, s->file, out->line, "output: expected a map (dir: runs)");
        if (get_str(s, out, "dir", s->outdir, sizeof s->outdir, err))
            return -1;
    }
    snprintf(s->rundir, sizeof s->rundir, "%s/%s", s->outdir, s->name);
    return 0;
}

/* The model section: a list of "kind" or "kind: {options}". */
static int build_model(const settings *s, cfg *root, const int64_t *shape, int nd, ct_model **out,
                       char *err)
{
    cfg *ml = cfg_get(root, "model");
    if (!ml)
        return cfail(err, s->file, 1, "no model: section (a list of layers)");
    if (ml->type != CFG_LIST || ml->n == 0)
        return cfail(err, s->file, ml->line, "model: expected a list of layers");
    ct_model *m;
    if (ct_model_create(&m, nd, shape))
        return cfail(err, s->file, ml->line, "%s", ct_errmsg());
    for (size_t i = 0; i < ml->n; i++) {
        cfg *it = &ml->kids[i];
        const char *kind = NULL;
        char opts[1024] = "";
        if (it->type == CFG_SCALAR) {
            kind = it->val;
        } else if (it->type == CFG_MAP && it->n == 1) {
            it->kids[0].used = 1;
            kind = it->kids[0].key;
            cfg *o = &it->kids[0];
            if (o->type == CFG_MAP) {
                if (map_to_options(s, o, NULL, opts, sizeof opts, err)) {
                    ct_model_destroy(m);
                    return -1;
                }
            } else if (!(o->type == CFG_SCALAR && !o->val[0])) {
                ct_model_destroy(m);
                return cfail(err, s->file, it->line, "layer %zu (%s): options must be a map "
                             "such as {out_features: 10}", i, kind);
            }
        } else {
            ct_model_destroy(m);
            return cfail(err, s->file, it->line, "layer %zu: expected 'kind' or 'kind: "
                         "{options}'", i);
        }
        if (ct_model_add(m, kind, opts)) {
            cfail(err, s->file, it->line, "layer %zu: %s", i, ct_model_errmsg(m));
            ct_model_destroy(m);
            return -1;
        }
    }
    if (ct_model_build(m, s->seed)) {
        cfail(err, s->file, ml->line, "%s", ct_model_errmsg(m));
        ct_model_destroy(m);
        return -1;
    }
    *out = m;
    return 0;
}

/* ---- data ---- */
static void dataset_free(dataset *d)
{
    free(d->x);
    free(d->y);
    memset(d, 0, sizeof *d);
}

static int load_data(settings *s, dataset *d, char *err)
{
    memset(d, 0, sizeof *d);
    if (strcmp(s->source, "npy")) { /* digits, csv: features then a label per line */
        ct_dataset raw;
        char e[512];
        int digits = !strcmp(s->source, "digits");
        size_t nf = digits ? 64 : (size_t)s->csv_features;
        int nc = digits ? 10 : s->csv_classes;
        if (ct_dataset_load(&raw, s->path, nf, nc, e, sizeof e))
            return errf(err, "%s", e), -1;
        d->n = raw.n;
        d->nfeat = nf;
        d->nclass = nc;
        d->x = raw.x;
        d->y = malloc(raw.n * sizeof *d->y + 1);
        if (!d->y) {
            ct_dataset_free(&raw);
            return errf(err, "out of memory"), -1;
        }
        for (size_t i = 0; i < raw.n; i++)
            d->y[i] = raw.y[i];
        free(raw.y);
    } else {
        ct_npy x, y;
        char e[512];
        if (ct_npy_read(s->xpath, &x, e, sizeof e))
            return errf(err, "%s", e), -1;
        if (ct_npy_read(s->ypath, &y, e, sizeof e)) {
            ct_npy_free(&x);
            return errf(err, "%s", e), -1;
        }
        int bad = 0;
        if (x.ndim < 1 || x.shape[0] < 1)
            bad = errf(err, "%s: expected an array [N, ...] with N >= 1", s->xpath);
        else if (!y.i || y.ndim != 1 || y.shape[0] != x.shape[0])
            bad = errf(err, "%s: expected integer labels [%lld] (one per row of "
                           "%s), got dtype %s with %d dims", s->ypath, (long long)x.shape[0],
                           s->xpath, y.dtype, y.ndim);
        int64_t mx = -1;
        for (size_t i = 0; !bad && i < y.numel; i++) {
            if (y.i[i] < 0)
                bad = errf(err, "%s: label %lld at row %zu is negative", s->ypath,
                               (long long)y.i[i], i);
            mx = y.i[i] > mx ? y.i[i] : mx;
        }
        if (bad) {
            ct_npy_free(&x);
            ct_npy_free(&y);
            return -1;
        }
        d->n = (size_t)x.shape[0];
        d->nfeat = x.numel / d->n;
        d->nclass = (int)(mx + 1);
        d->x = x.f;
        d->y = y.i;
        x.f = NULL;
        free(y.f);
        ct_npy_free(&x);
    }
    for (size_t i = 0; i < d->n * d->nfeat; i++)
        d->x[i] *= (float)s->scale;
    if (s->nd == 0) {
        s->nd = 1;
        s->shape[0] = (int64_t)d->nfeat;
    }
    int64_t prod = 1;
    for (int i = 0; i < s->nd; i++)
        prod *= s->shape[i];
    if ((size_t)prod != d->nfeat) {
        cfail(err, s->file, s->shape_line, "data.shape: %lld values per sample, the data has %zu",
              (long long)prod, d->nfeat);
        dataset_free(d);
        return -1;
    }
    return 0;
}

typedef struct splits {
    size_t *train, *val, *test;
    size_t ntrain, nval, ntest;
} splits;

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/* Stratified: each class shuffled with its own stream, round(frac) of it to
 * the test set, then round(val frac) of the rest to validation. */
static int make_splits(const settings *s, const dataset *d, splits *sp, char *err)
{
    memset(sp, 0, sizeof *sp);
    sp->train = malloc(d->n * sizeof(size_t) + 1);
    sp->val = malloc(d->n * sizeof(size_t) + 1);
    sp->test = malloc(d->n * sizeof(size_t) + 1);
    size_t *cls = malloc(d->n * sizeof(size_t) + 1);
    if (!sp->train || !sp->val || !sp->test || !cls) {
        free(cls);
        return errf(err, "out of memory"), -1;
    }
    for (int c = 0; c < d->nclass; c++) {
        size_t cnt = 0;
        for (size_t i = 0; i < d->n; i++)
            if (d->y[i] == c)
                cls[cnt++] = i;
        rng r = rng_stream(s->seed, (uint64_t)c);
        shuffle(cls, cnt, &r);
        size_t nt = (size_t)floor((double)cnt * s->test_split + 0.5);
        size_t nv = (size_t)floor((double)(cnt - nt) * s->val_split + 0.5);
        for (size_t i = 0; i < cnt; i++) {
            if (i < nt)
                sp->test[sp->ntest++] = cls[i];
            else if (i < nt + nv)
                sp->val[sp->nval++] = cls[i];
            else
                sp->train[sp->ntrain++] = cls[i];
        }
    }
    free(cls);
    qsort(sp->train, sp->ntrain, sizeof *sp->train, cmp_size);
    if (sp->ntrain == 0)
        return errf(err, "%zu samples leave none for training", d->n), -1;
    return 0;
}

static void splits_free(splits *sp)
{
    free(sp->train);
    free(sp->val);
    free(sp->test);
}

/* ---- metrics ---- */
typedef struct metrics {
    double loss, acc, precision, recall, f1, auc;
    size_t n;
    int64_t *confusion; /* nclass x nclass, [true][pred] */
} metrics;

typedef struct scored {
    float score;
    int64_t label;
} scored;

static int cmp_scored(const void *a, const void *b)
{
    float x = ((const scored *)a)->score, y = ((const scored *)b)->score;
    return (x > y) - (x < y);
}

/* AUC-ROC of binary scores (Mann-Whitney U with midranks for ties). */
static double auc_binary(const float *score, const int64_t *label, size_t n)
{
    scored *v = malloc(n * sizeof *v + 1);
    if (!v)
        return NAN;
    for (size_t i = 0; i < n; i++)
        v[i] = (scored){score[i], label[i]};
    qsort(v, n, sizeof *v, cmp_scored);
    double rank_sum = 0;
    size_t npos = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && v[j].score == v[i].score)
            j++;
        double mid = 0.5 * (double)(i + 1 + j);
        for (size_t k = i; k < j; k++)
            if (v[k].label == 1) {
                rank_sum += mid;
                npos++;
            }
        i = j;
    }
    free(v);
    size_t nneg = n - npos;
    if (!npos || !nneg)
        return NAN;
    return (rank_sum - (double)npos * (double)(npos + 1) / 2) / ((double)npos * (double)nneg);
}

/* Loss and predictions on a set of rows, in evaluation mode without
 * gradients; fills m (confusion must hold nclass^2). logits_out (may be
 * NULL) receives [n, nclass]. */
static int evaluate(ct_model *model, ct_graph *g, const settings *s, const dataset *d,
                    const size_t *rows, size_t n, metrics *m, float *logits_out, char *err)
{
    int C = d->nclass;
    memset(m->confusion, 0, (size_t)C * (size_t)C * sizeof *m->confusion);
    m->n = n;
    m->loss = m->acc = m->precision = m->recall = m->f1 = 0;
    m->auc = NAN;
    if (!n)
        return 0;
    size_t bs = 256;
    float *xb = malloc(bs * d->nfeat * sizeof *xb);
    int64_t *yb = malloc(bs * sizeof *yb);
    float *score = C == 2 ? malloc(n * sizeof *score + 1) : NULL;
    int64_t *lab = C == 2 ? malloc(n * sizeof *lab + 1) : NULL;
    if (!xb || !yb || (C == 2 && (!score || !lab))) {
        free(xb);
        free(yb);
        free(score);
        free(lab);
        return errf(err, "out of memory"), -1;
    }
    int old = ct_graph_set_no_grad(g, 1);
    ct_graph_set_training(g, 0);
    ct_ce_args ce = s->ce;
    ce.reduction = CT_REDUCE_SUM;
    double total = 0;
    size_t counted = 0;
    int rc = 0;
    for (size_t b0 = 0; b0 < n && !rc; b0 += bs) {
        size_t nb = n - b0 < bs ? n - b0 : bs;
        for (size_t i = 0; i < nb; i++) {
            memcpy(xb + i * d->nfeat, d->x + rows[b0 + i] * d->nfeat, d->nfeat * sizeof *xb);
            yb[i] = d->y[rows[b0 + i]];
        }
        ct_graph_reset(g);
        int64_t shp[9];
        shp[0] = (int64_t)nb;
        memcpy(shp + 1, s->shape, (size_t)s->nd * sizeof *shp);
        ct_tensor *x = ct_tensor_from(g, xb, s->nd + 1, shp, 0);
        ct_tensor *logits = ct_model_forward(model, g, x);
        ct_tensor *loss = logits ? ct_cross_entropy(g, logits, yb, &ce) : NULL;
        if (!loss) {
            rc = errf(err, "evaluation: %s", ct_graph_errmsg(g));
            break;
        }
        total += loss->data[0];
        for (size_t i = 0; i < nb; i++) {
            const float *row = logits->data + i * (size_t)C;
            int best = 0;
            for (int k = 1; k < C; k++)
                if (row[k] > row[best])
                    best = k;
            if (yb[i] != ce.ignore_index) {
                m->confusion[yb[i] * C + best]++;
                counted++;
            }
            if (logits_out)
                memcpy(logits_out + (b0 + i) * (size_t)C, row, (size_t)C * sizeof *row);
            if (score) {
                score[b0 + i] = row[1] - row[0];
                lab[b0 + i] = yb[i];
            }
        }
    }
    ct_graph_set_no_grad(g, old);
    ct_graph_set_training(g, 1);
    if (!rc) {
        m->loss = total / (double)(counted ? counted : 1);
        int64_t right = 0;
        for (int c = 0; c < C; c++) {
            int64_t tp = m->confusion[c * C + c], pred = 0, actual = 0;
            right += tp;
            for (int k = 0; k < C; k++) {
                pred += m->confusion[k * C + c];
                actual += m->confusion[c * C + k];
            }
            double p = pred ? (double)tp / (double)pred : 0, r = actual ? (double)tp / (double)actual : 0;
            m->precision += p / C;
            m->recall += r / C;
            m->f1 += (p + r > 0 ? 2 * p * r / (p + r) : 0) / C;
        }
        m->acc = counted ? (double)right / (double)counted : 0;
        if (score)
            m->auc = auc_binary(score, lab, n);
    }
    free(xb);
    free(yb);
    free(score);
    free(lab);
    return rc ? -1 : 0;
}

/* ---- progress ---- */
static void progress(int tty, long ep, long epochs, size_t done, size_t total, double loss,
                     double acc, double rate, double eta)
{
    if (!tty)
        return;
    enum { W = 24 };
    double frac = ((double)(ep - 1) + (double)done / (double)total) / (double)epochs;
    int fill = (int)(frac * W + 0.5);
    char bar[W + 1];
    for (int i = 0; i < W; i++)
        bar[i] = i < fill ? '#' : '-';
    bar[W] = 0;
    printf("\r[%s] epoch %ld/%ld  step %zu/%zu  loss %.4f  acc %6.2f%%  %.0f samples/s  "
           "ETA %.*fs\033[K", bar, ep, epochs, done, total, loss, 100 * acc, rate,
           eta < 10 ? 1 : 0, eta);
    fflush(stdout);
}

static int mkdir_p(const char *path)
{
    char buf[1200];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0777) && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(buf, 0777) && errno != EEXIST ? -1 : 0;
}

/* ---- checkpoints ---- */
static int save_checkpoint(const settings *s, ct_model *m, ct_optim *opt, long epoch,
                           uint64_t step, const double *plateau, size_t nplateau, double best,
                           long bad_epochs, char *err)
{
    char path[1300], ep[32], st[32], bs[64], be[32];
    snprintf(ep, sizeof ep, "%ld", epoch);
    snprintf(st, sizeof st, "%llu", (unsigned long long)step);
    snprintf(bs, sizeof bs, "%.17g", best);
    snprintf(be, sizeof be, "%ld", bad_epochs);
    void *obuf = NULL;
    size_t olen = 0;
    if (ct_optim_save_mem(opt, &obuf, &olen))
        return errf(err, "saving the optimizer state: %s", ct_optim_errmsg(opt)), -1;
    ct_st_writer w;
    memset(&w, 0, sizeof w);
    ct_err e;
    int64_t ol = (int64_t)olen, pl = (int64_t)nplateau;
    ct_status rc = ct_st_add(&w, "optimizer", CT_ST_U8, 1, &ol, obuf, &e);
    if (!rc && nplateau)
        rc = ct_st_add(&w, "plateau_metrics", CT_ST_F64, 1, &pl, plateau, &e);
    if (!rc)
        rc = ct_st_add_meta(&w, "epoch", ep, &e);
    if (!rc)
        rc = ct_st_add_meta(&w, "step", st, &e);
    if (!rc)
        rc = ct_st_add_meta(&w, "best", bs, &e);
    if (!rc)
        rc = ct_st_add_meta(&w, "bad_epochs", be, &e);
    if (!rc)
        rc = ct_st_add_meta(&w, "format", "ctrain.train_state.v1", &e);
    snprintf(path, sizeof path, "%s/train_state.safetensors", s->rundir);
    if (!rc)
        rc = ct_st_write_file(&w, path, &e);
    ct_st_writer_free(&w);
    ct_free(obuf);
    if (rc)
        return errf(err, "%s", e.msg), -1;
    /* the model last: a model file of epoch E means the state of E exists */
    const char *mk[1] = {"epoch"}, *mv[1] = {ep};
    snprintf(path, sizeof path, "%s/model.safetensors", s->rundir);
    if (ct_model_save(m, path, mk, mv, 1))
        return errf(err, "%s: %s", path, ct_model_errmsg(m)), -1;
    return 0;
}

static int write_config(const settings *s, const cfg *root, char *err)
{
    char path[1300], tmp[1400];
    snprintf(path, sizeof path, "%s/config.yaml", s->rundir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return errf(err, "%s: cannot create: %s", tmp, strerror(errno)), -1;
    fprintf(f, "# resolved by ctrain train from %s\n", s->file);
    cfg_dump(root, f, 0);
    if (fclose(f) || rename(tmp, path))
        return errf(err, "%s: write failed", path), -1;
    return 0;
}

/* Keeps the header and the first `epochs` rows of log.csv (resume). */
static int truncate_csv(const char *path, long epochs)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *keep = NULL;
    size_t len = 0, cap = 0;
    char line[4096];
    long rows = -1;
    while (rows < epochs && fgets(line, sizeof line, f)) {
        size_t l = strlen(line);
        if (len + l + 1 > cap) {
            cap = 2 * (len + l + 1);
            char *nk = realloc(keep, cap);
            if (!nk)
                break;
            keep = nk;
        }
        memcpy(keep + len, line, l);
        len += l;
        rows++;
    }
    fclose(f);
    f = fopen(path, "w");
    if (f) {
        if (len)
            fwrite(keep, 1, len, f);
        fclose(f);
    }
    free(keep);
    return 0;
}

/* ---- common set-up of train / eval / predict ---- */
typedef struct session {
    settings s;
    cfg *root;
    dataset d;
    splits sp;
    ct_model *model;
    ct_graph *g;
} session;

static void session_free(session *x)
{
    ct_graph_destroy(x->g);
    ct_model_destroy(x->model);
    splits_free(&x->sp);
    dataset_free(&x->d);
    cfg_free(x->root);
}

static int session_open(session *x, const char *file, char **overrides, int nov, int need_data,
                        char *err)
{
    memset(x, 0, sizeof *x);
    x->s.file = file;
    x->root = cfg_load(file, err, ERRCAP);
    if (!x->root)
        return -1;
    for (int i = 0; i < nov; i++)
        if (cfg_override(x->root, overrides[i], err, ERRCAP))
            return -1;
    if (read_settings(&x->s, x->root, err))
        return -1;
    int64_t *shape = x->s.shape;
    if (need_data) {
        if (load_data(&x->s, &x->d, err) || make_splits(&x->s, &x->d, &x->sp, err))
            return -1;
    }
    if (build_model(&x->s, x->root, shape, x->s.nd, &x->model, err))
        return -1;
    if (need_data) {
        int64_t os[8];
        int ond = ct_model_output_shape(x->model, os);
        if (ond != 1 || os[0] != x->d.nclass) {
            cfg *ml = cfg_get(x->root, "model");
            return cfail(err, x->s.file, ml->kids[ml->n - 1].line,
                         "the model's output must be [%d] (one logit per class), the last "
                         "layer gives %s%lld%s", x->d.nclass, ond == 1 ? "[" : "a shape of "
                         "rank ", ond == 1 ? (long long)os[0] : (long long)ond,
                         ond == 1 ? "]" : "");
        }
    }
    /* every key must have been read by now */
    char where[256] = "";
    const cfg *u = cfg_unused(x->root, where, sizeof where);
    if (u)
        return cfail(err, x->s.file, u->line, "unknown key '%s'%s%s", u->key,
                     where[0] ? " in " : "", where);
    if (ct_graph_create(&x->g))
        return errf(err, "%s", ct_errmsg()), -1;
    return 0;
}

static void print_confusion(const metrics *m, int C)
{
    printf("confusion matrix (rows: true class, columns: predicted)\n      ");
    for (int k = 0; k < C; k++)
        printf("%5d", k);
    printf("\n");
    for (int c = 0; c < C; c++) {
        printf("%5d ", c);
        for (int k = 0; k < C; k++)
            printf("%5lld", (long long)m->confusion[c * C + k]);
        printf("\n");
    }
}

static void print_metrics(const char *what, const metrics *m)
{
    printf("%s: accuracy %.4f  loss %.4f  macro precision %.4f  recall %.4f  F1 %.4f", what,
           m->acc, m->loss, m->precision, m->recall, m->f1);
    if (!isnan(m->auc))
        printf("  AUC %.4f", m->auc);
    printf("  (%zu samples)\n", m->n);
}

/* ---- ctrain train ---- */
static int train_main(int argc, char **argv)
{
    const char *file = NULL;
    char **ov = calloc((size_t)argc + 1, sizeof *ov);
    int nov = 0, resume = 0, quiet = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--resume"))
            resume = 1;
        else if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q"))
            quiet = 1;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: ctrain train CONFIG.yaml [key.path=value ...] [--resume] [--quiet]\n"
                   "Trains the model a YAML config describes (docs/nn.md) and writes\n"
                   "runs/<name>/: config.yaml, model.safetensors, train_state.safetensors,\n"
                   "log.csv, curves.png, TensorBoard events. --resume continues runs/<name>\n"
                   "from its last checkpoint; key.path=value overrides any config key.\n");
            free(ov);
            return 0;
        } else if (strchr(argv[i], '='))
            ov[nov++] = argv[i];
        else if (!file)
            file = argv[i];
        else {
            fprintf(stderr, "ctrain train: unexpected argument '%s'\n", argv[i]);
            free(ov);
            return 2;
        }
    }
    if (!file) {
        fprintf(stderr, "usage: ctrain train CONFIG.yaml [key.path=value ...] [--resume]\n");
        free(ov);
        return 2;
    }
    char err[ERRCAP];
    session x;
    int rc = 1;
    ct_optim *opt = NULL;
    ct_sched *sched = NULL;
    float *xb = NULL;
    int64_t *yb = NULL, *conf = NULL;
    double *plateau = NULL;
    size_t *order = NULL;
    FILE *csv = NULL;
    ct_tfevents tb = {NULL};
    if (session_open(&x, file, ov, nov, 1, err)) {
        fprintf(stderr, "ctrain train: %s\n", err);
        session_free(&x);
        free(ov);
        return 1;
    }
    settings *s = &x.s;
    dataset *d = &x.d;
    ct_model *m = x.model;
    ct_graph *g = x.g;
    ct_graph_set_blas_threads(g, (int)s->threads);

    /* optimizer: weights decayed, biases and norm weights not */
    if (ct_optim_create(&opt, s->opt_name, s->opt_opts)) {
        cfail(err, s->file, s->opt_line, "optimizer: %s", ct_errmsg());
        goto fail;
    }
    ct_optim *probe = NULL;
    int has_wd = !ct_optim_create(&probe, s->opt_name, "weight_decay=0");
    ct_optim_destroy(probe);
    if (ct_model_add_to_optim(m, opt, NULL, has_wd ? "weight_decay=0" : NULL) ||
        ct_optim_set_threads(opt, (int)s->threads)) {
        errf(err, "optimizer: %s", ct_model_errmsg(m));
        goto fail;
    }
    size_t nbatches = (x.sp.ntrain + (size_t)s->batch - 1) / (size_t)s->batch;
    if (s->sched_name[0]) {
        char so[1200];
        snprintf(so, sizeof so, "%s", s->sched_opts);
        /* fill the length of the run (after the warmup) where the schedule
         * needs one */
        long total = (s->sched_per_step ? s->epochs * (long)nbatches : s->epochs) - s->warmup;
        if (s->warmup > 0 && total < 1) {
            cfail(err, s->file, s->sched_line,
                  "schedule.warmup: %ld %ss of warmup leave none of the run's %ld for '%s'",
                  s->warmup, s->sched_per_step ? "step" : "epoch", total + s->warmup,
                  s->sched_name);
            goto fail;
        }
        if (!strcmp(s->sched_name, "cosine") && !strstr(so, "T_max"))
            snprintf(so + strlen(so), sizeof so - strlen(so), " T_max=%ld", total);
        if (!strcmp(s->sched_name, "onecycle") && !strstr(so, "total_steps"))
            snprintf(so + strlen(so), sizeof so - strlen(so), " total_steps=%ld", total);
        if (!strcmp(s->sched_name, "polynomial") && !strstr(so, "total_iters"))
            snprintf(so + strlen(so), sizeof so - strlen(so), " total_iters=%ld", total);
        char wo[128];
        snprintf(wo, sizeof wo, "start_factor=%.17g total_iters=%ld", s->warmup_factor,
                 s->warmup);
        int64_t milestone = s->warmup;
        ct_sched *warm = NULL, *main_sched = NULL;
        ct_status st = s->warmup > 0 ? ct_sched_create(&warm, opt, "linear", wo) : CT_OK;
        if (!st)
            st = ct_sched_create(&main_sched, opt, s->sched_name, so);
        if (st)
            ct_sched_destroy(warm);
        else if (warm) /* SequentialLR: the warmup until the milestone, then the schedule
                          (it owns both, also when it fails) */
            st = ct_sched_create_sequential(&sched, opt, (ct_sched *[]){warm, main_sched}, 2,
                                            &milestone);
        else
            sched = main_sched;
        if (st) {
            cfail(err, s->file, s->sched_line, "schedule: %s", ct_errmsg());
            goto fail;
        }
    }
    int is_plateau = s->sched_name[0] && !strcmp(s->sched_name, "plateau");
    plateau = calloc((size_t)s->epochs + 1, sizeof *plateau);
    xb = malloc((size_t)s->batch * d->nfeat * sizeof *xb);
    yb = malloc((size_t)s->batch * sizeof *yb);
    conf = calloc((size_t)d->nclass * (size_t)d->nclass, sizeof *conf);
    if (!plateau || !xb || !yb || !conf) {
        errf(err, "out of memory");
        goto fail;
    }
    if (mkdir_p(s->rundir)) {
        errf(err, "%s: cannot create: %s", s->rundir, strerror(errno));
        goto fail;
    }

    long start_epoch = 1, bad_epochs = 0;
    uint64_t step = 0;
    int higher_better = strcmp(s->es_metric, "val_loss") != 0;
    double best = higher_better ? -INFINITY : INFINITY;
    char path[1300];
    snprintf(path, sizeof path, "%s/log.csv", s->rundir);
    if (resume) {
        char sp2[1300];
        snprintf(sp2, sizeof sp2, "%s/train_state.safetensors", s->rundir);
        ct_st_file f;
        ct_err e;
        if (ct_st_read_file(sp2, &f, &e)) {
            errf(err, "--resume: %s", e.msg);
            goto fail;
        }
        const ct_st_tensor *ot = ct_st_find(&f, "optimizer");
        const ct_st_tensor *pt = ct_st_find(&f, "plateau_metrics");
        const char *ep = ct_st_meta(&f, "epoch"), *stp = ct_st_meta(&f, "step"),
                   *bs = ct_st_meta(&f, "best"), *be = ct_st_meta(&f, "bad_epochs");
        int bad = !ot || ot->dtype != CT_ST_U8 || !ep || !stp || !bs || !be ||
                  (pt && pt->dtype != CT_ST_F64);
        long done = bad ? 0 : atol(ep);
        if (!bad && (done < 1 || done > s->epochs || (pt && pt->numel > (size_t)s->epochs)))
            bad = 1;
        if (bad) {
            errf(err, "--resume: %s is not a ctrain training state (or its epoch is "
                     "beyond train.epochs=%ld)", sp2, s->epochs);
            ct_st_free(&f);
            goto fail;
        }
        step = strtoull(stp, NULL, 10);
        best = strtod(bs, NULL);
        bad_epochs = atol(be);
        /* replay the schedule, then restore the optimizer exactly */
        if (sched) {
            uint64_t n = s->sched_per_step ? step : (uint64_t)done;
            for (uint64_t i = 0; i < n; i++) {
                ct_status st = is_plateau ? ct_sched_step_metric(sched, ((double *)pt->data)[i])
                                          : ct_sched_step(sched);
                if (st) {
                    errf(err, "--resume: schedule: %s", ct_sched_errmsg(sched));
                    ct_st_free(&f);
                    goto fail;
                }
            }
        }
        if (pt)
            memcpy(plateau, pt->data, pt->numel * sizeof *plateau);
        if (ct_optim_load_mem(opt, ot->data, ot->nbytes)) {
            errf(err, "--resume: %s: %s", sp2, ct_optim_errmsg(opt));
            ct_st_free(&f);
            goto fail;
        }
        ct_st_free(&f);
        snprintf(sp2, sizeof sp2, "%s/model.safetensors", s->rundir);
        if (ct_model_load(m, sp2)) {
            errf(err, "--resume: %s: %s", sp2, ct_model_errmsg(m));
            goto fail;
        }
        start_epoch = done + 1;
        truncate_csv(path, done);
        csv = fopen(path, "a");
    } else {
        /* a fresh run replaces the folder's logs: old event files would
         * show as a second curve in TensorBoard */
        DIR *dir = opendir(s->rundir);
        struct dirent *de;
        while (dir && (de = readdir(dir))) {
            if (!strncmp(de->d_name, "events.out.tfevents.", 20)) {
                char ev[1600];
                snprintf(ev, sizeof ev, "%s/%s", s->rundir, de->d_name);
                unlink(ev);
            }
        }
        if (dir)
            closedir(dir);
        csv = fopen(path, "w");
        if (csv)
            fprintf(csv, "epoch,step,lr,train_loss,train_acc,val_loss,val_acc,val_f1,seconds\n");
    }
    if (!csv) {
        errf(err, "%s: cannot write: %s", path, strerror(errno));
        goto fail;
    }
    if (write_config(s, x.root, err) || ct_tfevents_open(&tb, s->rundir, err, ERRCAP))
        goto fail;

    int tty = !quiet && isatty(STDOUT_FILENO);
    if (!quiet) {
        size_t np;
        ct_model_params(m, &np);
        printf("ctrain train: %s -> %s\n", s->file, s->rundir);
        printf("data: %s, %zu samples (%zu train / %zu val / %zu test), %d classes\n",
               strcmp(s->source, "npy") ? s->path : s->xpath, d->n, x.sp.ntrain, x.sp.nval,
               x.sp.ntest, d->nclass);
        char line[256];
        for (size_t i = 0; i < ct_model_num_layers(m); i++)
            printf("  %s\n", ct_model_layer_str(m, i, line, sizeof line));
        double lr0 = 0;
        ct_optim_get_lr(opt, 0, &lr0);
        printf("%zu parameters; %s lr=%g%s%s; %ld epochs, batch %ld, seed %llu, %ld thread%s%s\n",
               np, s->opt_name, lr0, s->sched_name[0] ? ", schedule " : "", s->sched_name,
               s->epochs, s->batch, (unsigned long long)s->seed, s->threads,
               s->threads == 1 ? "" : "s", resume ? "; resuming" : "");
        fflush(stdout);
    }

    metrics vm = {0};
    vm.confusion = conf;
    double t0 = now_seconds();
    size_t seen = 0;
    long last_epoch = start_epoch - 1;
    size_t nparams_t = ct_model_num_params(m);
    ct_param *cp = calloc(nparams_t + 1, sizeof *cp);
    order = malloc(x.sp.ntrain * sizeof *order);
    if (!cp || !order) {
        errf(err, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < nparams_t; i++) {
        ct_tensor t;
        ct_model_param(m, i, NULL, &t);
        cp[i].data = t.data;
        cp[i].grad = t.grad;
        cp[i].numel = (size_t)t.numel;
        cp[i].dtype = CT_F32;
        cp[i].ndim = t.ndim;
        memcpy(cp[i].shape, t.shape, sizeof cp[i].shape);
    }
    for (long ep = start_epoch; ep <= s->epochs; ep++) {
        /* the shuffle of epoch ep starts from the sorted split, so it
         * depends on (seed, ep) only */
        rng r = rng_stream(s->seed, 1000 + (uint64_t)ep);
        memcpy(order, x.sp.train, x.sp.ntrain * sizeof *order);
        shuffle(order, x.sp.ntrain, &r);
        double tloss = 0, tcorrect = 0, tcount = 0, last_draw = 0, te0 = now_seconds();
        for (size_t b0 = 0, bi = 0; b0 < x.sp.ntrain; b0 += (size_t)s->batch, bi++) {
            size_t nb = x.sp.ntrain - b0 < (size_t)s->batch ? x.sp.ntrain - b0 : (size_t)s->batch;
            for (size_t i = 0; i < nb; i++) {
                memcpy(xb + i * d->nfeat, d->x + order[b0 + i] * d->nfeat,
                       d->nfeat * sizeof *xb);
                yb[i] = d->y[order[b0 + i]];
            }
            ct_graph_reset(g);
            ct_graph_set_seed(g, s->seed, step);
            int64_t shp[9];
            shp[0] = (int64_t)nb;
            memcpy(shp + 1, s->shape, (size_t)s->nd * sizeof *shp);
            ct_tensor *xt = ct_tensor_from(g, xb, s->nd + 1, shp, 0);
            ct_tensor *logits = ct_model_forward(m, g, xt);
            ct_tensor *loss = ct_cross_entropy(g, logits, yb, &s->ce);
            ct_model_zero_grad(m);
            if (!loss || ct_backward(g, loss)) {
                errf(err, "step %llu: %s", (unsigned long long)step,
                         ct_graph_status(g) ? ct_graph_errmsg(g) : ct_errmsg());
                free(cp);
                goto fail;
            }
            if (!isfinite(loss->data[0])) {
                errf(err, "the loss diverged at epoch %ld step %llu (try a smaller "
                         "optimizer.lr)", ep, (unsigned long long)step);
                free(cp);
                goto fail;
            }
            ct_status st = CT_OK;
            if (s->clip_value > 0)
                st = ct_clip_grad_value(cp, nparams_t, s->clip_value);
            if (!st && s->clip_norm > 0)
                st = ct_clip_grad_norm(cp, nparams_t, s->clip_norm, 2.0, 0, NULL);
            if (!st)
                st = ct_optim_step(opt);
            if (!st && sched && s->sched_per_step && !is_plateau)
                st = ct_sched_step(sched);
            if (st) {
                errf(err, "step %llu: %s", (unsigned long long)step, ct_errmsg());
                free(cp);
                goto fail;
            }
            step++;
            for (size_t i = 0; i < nb; i++) {
                const float *row = logits->data + i * (size_t)d->nclass;
                int best_k = 0;
                for (int k = 1; k < d->nclass; k++)
                    if (row[k] > row[best_k])
                        best_k = k;
                tcorrect += best_k == yb[i];
            }
            tloss += loss->data[0] * (double)nb;
            tcount += (double)nb;
            seen += nb;
            double t = now_seconds();
            if (tty && (t - last_draw > 0.05 || b0 + nb == x.sp.ntrain)) {
                last_draw = t;
                double rate = (double)seen / (t - t0 + 1e-9);
                double left = (double)(s->epochs - ep) * (double)x.sp.ntrain +
                              (double)(x.sp.ntrain - b0 - nb);
                progress(tty, ep, s->epochs, bi + 1, nbatches, tloss / tcount, tcorrect / tcount,
                         rate, left / rate);
            }
        }
        (void)te0;
        if (evaluate(m, g, s, d, x.sp.val, x.sp.nval, &vm, NULL, err)) {
            free(cp);
            goto fail;
        }
        if (sched && is_plateau) {
            plateau[ep - 1] = x.sp.nval ? vm.loss : tloss / tcount;
            if (ct_sched_step_metric(sched, plateau[ep - 1])) {
                errf(err, "schedule: %s", ct_sched_errmsg(sched));
                free(cp);
                goto fail;
            }
        } else if (sched && !s->sched_per_step && ct_sched_step(sched)) {
            errf(err, "schedule: %s", ct_sched_errmsg(sched));
            free(cp);
            goto fail;
        }
        double lr = 0, el = now_seconds() - t0;
        ct_optim_get_lr(opt, 0, &lr);
        if (!quiet) {
            if (tty)
                printf("\r\033[K");
            printf("epoch %3ld/%ld  loss %.4f  train acc %6.2f%%", ep, s->epochs, tloss / tcount,
                   100 * tcorrect / tcount);
            if (x.sp.nval)
                printf("  val loss %.4f  val acc %6.2f%%", vm.loss, 100 * vm.acc);
            printf("  lr %.3g  %.0f samples/s\n", lr, (double)seen / (el + 1e-9));
            fflush(stdout);
        }
        fprintf(csv, "%ld,%llu,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.6f\n", ep,
                (unsigned long long)step, lr, tloss / tcount, tcorrect / tcount, vm.loss, vm.acc,
                vm.f1, el);
        fflush(csv);
        const char *tags[6] = {"train/loss", "train/accuracy", "val/loss", "val/accuracy",
                               "val/f1", "lr"};
        double vals[6] = {tloss / tcount, tcorrect / tcount, vm.loss, vm.acc, vm.f1, lr};
        for (int i = 0; i < 6; i++)
            if ((i < 2 || i == 5 || x.sp.nval) &&
                ct_tfevents_scalar(&tb, tags[i], (int64_t)step, (float)vals[i])) {
                errf(err, "%s: writing TensorBoard events failed", s->rundir);
                free(cp);
                goto fail;
            }
        /* early stopping on a validation metric */
        int stop = 0;
        if (s->patience && x.sp.nval) {
            double v = !strcmp(s->es_metric, "val_loss") ? vm.loss
                       : !strcmp(s->es_metric, "val_acc") ? vm.acc : vm.f1;
            if (higher_better ? v > best : v < best) {
                best = v;
                bad_epochs = 0;
            } else if (++bad_epochs >= s->patience) {
                stop = 1;
            }
        }
        int last = stop || ep == s->epochs || (s->stop_after && ep >= s->stop_after);
        if ((last || (s->ckpt_every && ep % s->ckpt_every == 0)) &&
            save_checkpoint(s, m, opt, ep, step, plateau, is_plateau ? (size_t)ep : 0, best,
                            bad_epochs, err)) {
            free(cp);
            goto fail;
        }
        last_epoch = ep;
        if (stop) {
            if (!quiet)
                printf("early stopping: %s has not improved for %ld epochs (best %.4f)\n",
                       s->es_metric, s->patience, best);
            break;
        }
        if (s->stop_after && ep >= s->stop_after) {
            if (!quiet)
                printf("stopped after epoch %ld (train.stop_after); continue with --resume\n", ep);
            free(cp);
            rc = 0;
            goto done;
        }
    }
    free(cp);
    double elapsed = now_seconds() - t0;
    char png[1300];
    snprintf(png, sizeof png, "%s/curves.png", s->rundir);
    fflush(csv);
    if (ct_plot_curves(path, png, err, ERRCAP))
        goto fail;
    metrics tm = {0};
    tm.confusion = conf;
    if (x.sp.ntest) {
        if (evaluate(m, g, s, d, x.sp.test, x.sp.ntest, &tm, NULL, err))
            goto fail;
        if (!quiet)
            print_confusion(&tm, d->nclass);
        printf("test accuracy: %.4f (%zu samples)  loss %.4f  macro F1 %.4f  trained %ld "
               "epoch%s in %.2f s\n", tm.acc, tm.n, tm.loss, tm.f1, last_epoch,
               last_epoch == 1 ? "" : "s", elapsed);
        if (!quiet)
            print_metrics("test", &tm);
    } else {
        printf("trained %ld epochs in %.2f s (no test split)\n", last_epoch, elapsed);
    }
    if (!quiet)
        printf("run folder: %s (model.safetensors, train_state.safetensors, log.csv, "
               "curves.png, config.yaml, TensorBoard events)\n", s->rundir);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "ctrain train: %s\n", err);
    rc = 1;
done:
    if (csv)
        fclose(csv);
    ct_tfevents_close(&tb);
    ct_sched_destroy(sched);
    ct_optim_destroy(opt);
    free(xb);
    free(yb);
    free(conf);
    free(plateau);
    free(order);
    session_free(&x);
    free(ov);
    return rc;
}

/* ---- ctrain eval / predict ---- */
static int open_run(session *x, const char *rundir, int need_data, char *err)
{
    char cfgp[1300], modelp[1300];
    snprintf(cfgp, sizeof cfgp, "%s/config.yaml", rundir);
    snprintf(modelp, sizeof modelp, "%s/model.safetensors", rundir);
    if (session_open(x, cfgp, NULL, 0, need_data, err))
        return -1;
    if (ct_model_load(x->model, modelp))
        return errf(err, "%s: %s", modelp, ct_model_errmsg(x->model)), -1;
    return 0;
}

static int eval_main(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: ctrain eval RUN_DIR\n"
                        "Evaluates RUN_DIR/model.safetensors on the test split of the run's "
                        "data.\n");
        return argc == 2 ? 0 : 2;
    }
    char err[ERRCAP];
    session x;
    if (open_run(&x, argv[1], 1, err)) {
        fprintf(stderr, "ctrain eval: %s\n", err);
        session_free(&x);
        return 1;
    }
    metrics tm = {0};
    tm.confusion = calloc((size_t)x.d.nclass * (size_t)x.d.nclass, sizeof *tm.confusion);
    int rc = 1;
    if (tm.confusion && !evaluate(x.model, x.g, &x.s, &x.d, x.sp.test, x.sp.ntest, &tm, NULL, err)) {
        print_confusion(&tm, x.d.nclass);
        print_metrics("test", &tm);
        rc = 0;
    } else {
        fprintf(stderr, "ctrain eval: %s\n", tm.confusion ? err : "out of memory");
    }
    free(tm.confusion);
    session_free(&x);
    return rc;
}

static int predict_main(int argc, char **argv)
{
    const char *run = NULL, *in = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && i + 1 < argc)
            out = argv[++i];
        else if (!run)
            run = argv[i];
        else if (!in)
            in = argv[i];
        else
            run = NULL, i = argc;
    }
    if (!run || !in) {
        fprintf(stderr, "usage: ctrain predict RUN_DIR X.npy [-o LOGITS.npy]\n"
                        "Prints the predicted class of each row of X (scaled as the run's "
                        "data.scale) and optionally writes the logits.\n");
        return 2;
    }
    char err[ERRCAP];
    session x;
    ct_npy a = {0};
    float *logits = NULL;
    int rc = 1;
    if (open_run(&x, run, 0, err) || ct_npy_read(in, &a, err, sizeof err))
        goto fail;
    int64_t per = 1;
    for (int i = 0; i < x.s.nd; i++)
        per *= x.s.shape[i];
    if (a.ndim < 1 || a.shape[0] < 1 || a.numel != (size_t)a.shape[0] * (size_t)per) {
        errf(err, "%s: expected [N, %lld values per sample]", in, (long long)per);
        goto fail;
    }
    int64_t os[8];
    ct_model_output_shape(x.model, os);
    size_t n = (size_t)a.shape[0], C = (size_t)os[0];
    logits = malloc(n * C * sizeof *logits + 1);
    if (!logits)
        goto fail;
    ct_graph_set_no_grad(x.g, 1);
    ct_graph_set_training(x.g, 0);
    for (size_t i = 0; i < a.numel; i++)
        a.f[i] *= (float)x.s.scale;
    for (size_t b0 = 0; b0 < n; b0 += 256) {
        size_t nb = n - b0 < 256 ? n - b0 : 256;
        ct_graph_reset(x.g);
        int64_t shp[9];
        shp[0] = (int64_t)nb;
        memcpy(shp + 1, x.s.shape, (size_t)x.s.nd * sizeof *shp);
        ct_tensor *y = ct_model_forward(x.model, x.g,
                                        ct_tensor_from(x.g, a.f + b0 * (size_t)per, x.s.nd + 1, shp, 0));
        if (!y) {
            errf(err, "%s", ct_graph_errmsg(x.g));
            goto fail;
        }
        memcpy(logits + b0 * C, y->data, nb * C * sizeof *logits);
    }
    for (size_t i = 0; i < n; i++) {
        size_t best = 0;
        for (size_t k = 1; k < C; k++)
            if (logits[i * C + k] > logits[i * C + best])
                best = k;
        printf("%zu\n", best);
    }
    if (out) {
        int64_t shp[2] = {(int64_t)n, (int64_t)C};
        if (ct_npy_write_f32(out, logits, 2, shp, err, sizeof err))
            goto fail;
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "ctrain predict: %s\n", err);
done:
    free(logits);
    ct_npy_free(&a);
    session_free(&x);
    return rc;
}

int ct_train_handles(const char *cmd)
{
    return cmd && (!strcmp(cmd, "train") || !strcmp(cmd, "eval") || !strcmp(cmd, "predict"));
}

int ct_train_cmd_main(int argc, char **argv)
{
    if (!strcmp(argv[0], "train"))
        return train_main(argc, argv);
    if (!strcmp(argv[0], "eval"))
        return eval_main(argc, argv);
    return predict_main(argc, argv);
}
