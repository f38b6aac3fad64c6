/* ctrain tool — `ctrain demo`.
 *
 * Multinomial logistic (softmax) regression on the UCI optical digits
 * (data/digits.csv.gz, 1,797 samples of 64 features 0..16, classes 0..9):
 *   logits = W x + b,  p = softmax(logits),  loss = mean(-log p[y])
 *   dL/dW = (p - onehot(y)) x^T / B,  dL/db = mean(p - onehot(y))
 * The gradients are computed here; the update is the ctrain optimizer
 * engine's (two groups: weights with weight decay, biases without), with
 * the learning rate annealed per epoch by a cosine through ct_optim_set_lr.
 *
 * Everything is deterministic for a given --seed: the split and the
 * per-epoch shuffles draw from splitmix64 streams keyed by (seed, stream),
 * and ctrain's steps are bit-identical for every thread count.
 */
#include "demo.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctrain/ctrain.h"
#include "digits.h"

#ifndef CT_DEMO_DATA
#define CT_DEMO_DATA "data/digits.csv.gz"
#endif

enum { NFEAT = 64, NCLASS = 10 };
#define DEMO_PI 3.14159265358979323846

/* ---- deterministic random numbers: splitmix64 (Steele, Lea, Flood 2014,
 * "Fast splittable pseudorandom number generators"), one stream per key ---- */
typedef struct rng {
    uint64_t s;
} rng;

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static rng rng_stream(uint64_t seed, uint64_t stream)
{
    rng r = {mix64(seed ^ mix64(stream + 0x9E3779B97F4A7C15ull))};
    return r;
}

static uint64_t rng_next(rng *r)
{
    return mix64(r->s += 0x9E3779B97F4A7C15ull);
}

/* Uniform in [0, n), n > 0, without modulo bias. */
static size_t rng_below(rng *r, size_t n)
{
    uint64_t lim = UINT64_MAX - UINT64_MAX % n, v;
    do
        v = rng_next(r);
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

/* ---- options ---- */
typedef struct demo_opts {
    const char *data;
    const char *optimizer;
    double lr; /* <= 0: the optimizer's demo default */
    double clip; /* > 0: clip the gradient norm to this */
    long epochs;
    long batch;
    long threads;
    uint64_t seed;
    int quiet;
} demo_opts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ctrain demo [options]\n"
            "Trains a softmax-regression classifier on the 8x8 handwritten digits\n"
            "(UCI optical digits, 1,797 samples) and prints its test accuracy.\n"
            "  --data PATH        data file (default %s)\n"
            "  --epochs N         passes over the training set (default 50)\n"
            "  --lr X             peak learning rate, annealed to 0 by a cosine over the\n"
            "                     epochs (default 0.05 for adam/adamw, 0.2 for sgd)\n"
            "  --optimizer NAME   adamw (default), adam, sgd (momentum 0.9) or any ctrain\n"
            "                     optimizer with its own defaults\n"
            "  --batch N          minibatch size (default 32)\n"
            "  --clip X           clip the gradient norm to X before each step (default off)\n"
            "  --seed N           seed of the train/test split and the shuffles (default 42)\n"
            "  --threads N        threads an optimizer step uses (default 1)\n"
            "  --quiet            print only the final accuracy\n",
            CT_DEMO_DATA);
}

static int parse_long(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno == ERANGE || v < lo || v > hi) {
        fprintf(stderr, "ctrain demo: %s needs an integer in %ld..%ld, got '%s'\n", opt, lo, hi,
                s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_pos_double(const char *opt, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno == ERANGE || !(v > 0) || !isfinite(v)) {
        fprintf(stderr, "ctrain demo: %s needs a positive number, got '%s'\n", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_opts(int argc, char **argv, demo_opts *o)
{
    *o = (demo_opts){CT_DEMO_DATA, "adamw", 0, 0, 50, 32, 1, 42, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 1;
        }
        if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            o->quiet = 1;
            continue;
        }
        static const char *const valued[] = {"--data",  "--optimizer", "--lr",      "--clip",
                                             "--epochs", "--batch",    "--threads", "--seed"};
        int known = 0;
        for (size_t k = 0; k < sizeof valued / sizeof *valued; k++)
            known |= !strcmp(a, valued[k]);
        if (!known) {
            fprintf(stderr, "ctrain demo: unknown option '%s'\n", a);
            usage(stderr);
            return -1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "ctrain demo: %s needs a value\n", a);
            return -1;
        }
        const char *v = argv[++i];
        int bad = 0;
        if (!strcmp(a, "--data")) {
            o->data = v;
        } else if (!strcmp(a, "--optimizer")) {
            o->optimizer = v;
        } else if (!strcmp(a, "--lr")) {
            bad = parse_pos_double(a, v, &o->lr);
        } else if (!strcmp(a, "--clip")) {
            bad = parse_pos_double(a, v, &o->clip);
        } else if (!strcmp(a, "--epochs")) {
            bad = parse_long(a, v, 1, 100000, &o->epochs);
        } else if (!strcmp(a, "--batch")) {
            bad = parse_long(a, v, 1, 1L << 20, &o->batch);
        } else if (!strcmp(a, "--threads")) {
            bad = parse_long(a, v, 1, 1024, &o->threads);
        } else { /* --seed: any unsigned 64-bit integer */
            char *end;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 0);
            if (end == v || *end || errno == ERANGE || *v == '-') {
                fprintf(stderr, "ctrain demo: --seed needs a non-negative integer, got '%s'\n", v);
                bad = 1;
            }
            o->seed = (uint64_t)s;
        }
        if (bad)
            return -1;
    }
    return 0;
}

/* ---- the model ---- */
typedef struct model {
    float w[NCLASS * NFEAT], b[NCLASS];    /* parameters */
    float gw[NCLASS * NFEAT], gb[NCLASS];  /* their gradients */
    double aw[NCLASS * NFEAT], ab[NCLASS]; /* gradient accumulators */
} model;

/* Forward pass of one sample: softmax probabilities into p; returns the
 * cross-entropy loss, and the predicted class into *pred. */
static double forward(const model *m, const float *x, int y, double *p, int *pred)
{
    double mx = -INFINITY;
    int arg = 0;
    for (int k = 0; k < NCLASS; k++) {
        const float *wk = m->w + k * NFEAT;
        double z = m->b[k];
        for (int j = 0; j < NFEAT; j++)
            z += (double)wk[j] * x[j];
        p[k] = z;
        if (z > mx) {
            mx = z;
            arg = k;
        }
    }
    double sum = 0;
    for (int k = 0; k < NCLASS; k++)
        sum += p[k] = exp(p[k] - mx);
    for (int k = 0; k < NCLASS; k++)
        p[k] /= sum;
    *pred = arg;
    /* -log p[y] = log(sum) - (z_y - mx), exact even when p[y] underflows */
    return log(sum) - log(p[y] * sum);
}

/* Gradient of the mean loss over samples idx[0..n) into m->gw, m->gb.
 * Adds the summed loss and the count of correct predictions. */
static void batch_grad(model *m, const ct_dataset *d, const size_t *idx, size_t n, double *loss,
                       size_t *correct)
{
    memset(m->aw, 0, sizeof m->aw);
    memset(m->ab, 0, sizeof m->ab);
    double p[NCLASS];
    for (size_t i = 0; i < n; i++) {
        const float *x = d->x + idx[i] * NFEAT;
        int y = d->y[idx[i]], pred;
        *loss += forward(m, x, y, p, &pred);
        *correct += pred == y;
        for (int k = 0; k < NCLASS; k++) {
            double g = p[k] - (k == y);
            double *ak = m->aw + k * NFEAT;
            for (int j = 0; j < NFEAT; j++)
                ak[j] += g * x[j];
            m->ab[k] += g;
        }
    }
    for (int i = 0; i < NCLASS * NFEAT; i++)
        m->gw[i] = (float)(m->aw[i] / (double)n);
    for (int k = 0; k < NCLASS; k++)
        m->gb[k] = (float)(m->ab[k] / (double)n);
}

static void evaluate(const model *m, const ct_dataset *d, const size_t *idx, size_t n,
                     double *loss, size_t *correct)
{
    double p[NCLASS];
    *loss = 0;
    *correct = 0;
    for (size_t i = 0; i < n; i++) {
        int y = d->y[idx[i]], pred;
        *loss += forward(m, d->x + idx[i] * NFEAT, y, p, &pred);
        *correct += pred == y;
    }
    *loss /= (double)(n ? n : 1);
}

/* ---- optimizer set-up ---- */
typedef struct optim_preset {
    const char *name;
    double lr;
    const char *create;  /* besides lr */
    const char *weights; /* options of the weight group */
    const char *biases;  /* options of the bias group */
} optim_preset;

static const optim_preset presets[] = {
    {"adamw", 0.05, "", "weight_decay=0.01", "weight_decay=0"},
    {"adam", 0.05, "", "weight_decay=1e-4", "weight_decay=0"},
    {"sgd", 0.2, "momentum=0.9", "weight_decay=1e-4", "weight_decay=0"},
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void progress(int tty, long epoch, long epochs, size_t done, size_t total, double loss,
                     double acc, double rate)
{
    if (tty) {
        enum { W = 24 };
        double frac = ((double)(epoch - 1) + (double)done / (double)total) / (double)epochs;
        int fill = (int)(frac * W + 0.5);
        char bar[W + 1];
        for (int i = 0; i < W; i++)
            bar[i] = i < fill ? '#' : '-';
        bar[W] = 0;
        printf("\r[%s] epoch %ld/%ld  loss %.4f  train acc %6.2f%%  %.0f samples/s\033[K", bar,
               epoch, epochs, loss, 100 * acc, rate);
    } else {
        printf("epoch %3ld/%ld  loss %.4f  train acc %6.2f%%  %.0f samples/s\n", epoch, epochs,
               loss, 100 * acc, rate);
    }
    fflush(stdout);
}

static int fail_optim(const char *what, ct_optim *opt, ct_status st)
{
    fprintf(stderr, "ctrain demo: %s: %s: %s\n", what, ct_status_str(st),
            opt ? ct_optim_errmsg(opt) : ct_errmsg());
    return 1;
}

int ct_demo_main(int argc, char **argv)
{
    demo_opts o;
    int r = parse_opts(argc, argv, &o);
    if (r)
        return r > 0 ? 0 : 1;

    /* data */
    ct_dataset d;
    char err[512];
    if (ct_dataset_load(&d, o.data, NFEAT, NCLASS, err, sizeof err)) {
        fprintf(stderr, "ctrain demo: %s\n", err);
        return 1;
    }
    int rc = 1;
    ct_optim *opt = NULL;
    size_t *train = NULL, *test = NULL;
    model *m = calloc(1, sizeof *m);
    size_t ntrain = 0, ntest = 0;
    train = malloc(d.n * sizeof *train);
    test = malloc(d.n * sizeof *test);
    if (!m || !train || !test) {
        fprintf(stderr, "ctrain demo: out of memory\n");
        goto done;
    }

    /* scale features to [0, 1] by the largest value in the file (16) */
    float mx = 0;
    for (size_t i = 0; i < d.n * NFEAT; i++) {
        if (d.x[i] < 0) {
            fprintf(stderr, "ctrain demo: %s: line %zu: negative feature value\n", o.data,
                    i / NFEAT + 1);
            goto done;
        }
        mx = d.x[i] > mx ? d.x[i] : mx;
    }
    if (mx > 0)
        for (size_t i = 0; i < d.n * NFEAT; i++)
            d.x[i] /= mx;

    /* stratified 80/20 split: each class shuffled with its own stream,
     * round(20%) of it to the test set */
    for (int c = 0; c < NCLASS; c++) {
        size_t start = ntest, cnt = 0;
        for (size_t i = 0; i < d.n; i++)
            if (d.y[i] == c)
                test[ntest + cnt++] = i;
        rng rs = rng_stream(o.seed, (uint64_t)c);
        shuffle(test + start, cnt, &rs);
        size_t nt = (cnt * 20 + 50) / 100;
        for (size_t i = nt; i < cnt; i++)
            train[ntrain++] = test[start + i];
        ntest += nt;
    }
    if (ntrain == 0 || ntest == 0) {
        fprintf(stderr, "ctrain demo: %s: too few samples (%zu) for a train/test split\n", o.data,
                d.n);
        goto done;
    }

    /* optimizer: weights with weight decay, biases without */
    const optim_preset *pre = NULL;
    for (size_t i = 0; i < sizeof presets / sizeof *presets; i++)
        if (!strcmp(presets[i].name, o.optimizer))
            pre = &presets[i];
    double lr = o.lr > 0 ? o.lr : pre ? pre->lr : 0;
    char create[128] = "";
    if (lr > 0)
        snprintf(create, sizeof create, "lr=%.17g %s", lr, pre ? pre->create : "");
    ct_status st = ct_optim_create(&opt, o.optimizer, create);
    if (st) {
        fprintf(stderr, "ctrain demo: optimizer '%s': %s: %s\n", o.optimizer, ct_status_str(st),
                ct_errmsg());
        goto done;
    }
    ct_param pw = {m->w, m->gw, NCLASS * NFEAT, CT_F32, 2, {NCLASS, NFEAT}};
    ct_param pb = {m->b, m->gb, NCLASS, CT_F32, 1, {NCLASS}};
    ct_param both[2] = {pw, pb};
    if ((st = ct_optim_add_group(opt, &pw, 1, pre ? pre->weights : NULL, NULL))) {
        rc = fail_optim("adding the weight group", opt, st);
        goto done;
    }
    if ((st = ct_optim_add_group(opt, &pb, 1, pre ? pre->biases : NULL, NULL))) {
        rc = fail_optim("adding the bias group", opt, st);
        goto done;
    }
    if ((st = ct_optim_set_threads(opt, (int)o.threads))) {
        rc = fail_optim("setting threads", opt, st);
        goto done;
    }
    double lr_used = 0;
    if ((st = ct_optim_get_lr(opt, 0, &lr_used))) {
        rc = fail_optim("reading the learning rate", opt, st);
        goto done;
    }

    int tty = !o.quiet && isatty(STDOUT_FILENO);
    if (!o.quiet) {
        printf("ctrain demo: %s: %zu samples (%zu train / %zu test), %d features, %d classes\n",
               o.data, d.n, ntrain, ntest, NFEAT, NCLASS);
        printf("softmax regression %dx%d + %d; %s lr=%g (cosine)%s%s; "
               "%ld epoch%s, batch %ld, seed %llu, %ld thread%s\n",
               NCLASS, NFEAT, NCLASS, o.optimizer, lr_used, pre ? ", weights " : "",
               pre ? pre->weights : "", o.epochs, o.epochs == 1 ? "" : "s", o.batch, (unsigned long long)o.seed, o.threads,
               o.threads == 1 ? "" : "s");
        if (o.clip > 0)
            printf("gradient norm clipped to %g\n", o.clip);
        fflush(stdout);
    }

    /* training */
    double t0 = now_seconds(), last_draw = 0;
    size_t seen = 0;
    for (long ep = 1; ep <= o.epochs; ep++) {
        /* cosine annealing per epoch (Loshchilov & Hutter 2017, SGDR, eq. 5
         * without restarts, eta_min = 0), set through the engine */
        double lr_ep = 0.5 * lr_used * (1 + cos(DEMO_PI * (double)(ep - 1) / (double)o.epochs));
        for (size_t g = 0; g < 2; g++)
            if ((st = ct_optim_set_lr(opt, g, lr_ep))) {
                rc = fail_optim("setting the learning rate", opt, st);
                goto done;
            }
        rng rs = rng_stream(o.seed, 1000 + (uint64_t)ep);
        shuffle(train, ntrain, &rs);
        double loss = 0;
        size_t correct = 0, done_ep = 0;
        for (size_t s = 0; s < ntrain; s += (size_t)o.batch) {
            size_t nb = ntrain - s < (size_t)o.batch ? ntrain - s : (size_t)o.batch;
            batch_grad(m, &d, train + s, nb, &loss, &correct);
            if (o.clip > 0 && (st = ct_clip_grad_norm(both, 2, o.clip, 2.0, 1, NULL))) {
                if (tty)
                    printf("\n");
                fprintf(stderr, "ctrain demo: clipping: %s: %s\n", ct_status_str(st), ct_errmsg());
                goto done;
            }
            if ((st = ct_optim_step(opt))) {
                if (tty)
                    printf("\n");
                rc = fail_optim("step", opt, st);
                goto done;
            }
            done_ep += nb;
            seen += nb;
            double t = now_seconds();
            if (tty && t - last_draw > 0.05) {
                last_draw = t;
                progress(1, ep, o.epochs, done_ep, ntrain, loss / (double)done_ep,
                         (double)correct / (double)done_ep, (double)seen / (t - t0 + 1e-9));
            }
        }
        if (!isfinite(loss)) {
            if (tty)
                printf("\n");
            fprintf(stderr, "ctrain demo: the loss diverged at epoch %ld (try a smaller --lr)\n",
                    ep);
            goto done;
        }
        if (!o.quiet) {
            double t = now_seconds();
            progress(tty, ep, o.epochs, ntrain, ntrain, loss / (double)ntrain,
                     (double)correct / (double)ntrain, (double)seen / (t - t0 + 1e-9));
        }
    }
    double elapsed = now_seconds() - t0;
    if (tty)
        printf("\n");

    double tloss;
    size_t tcorrect;
    evaluate(m, &d, test, ntest, &tloss, &tcorrect);
    printf("test accuracy: %.4f (%zu/%zu)  test loss %.4f  trained in %.2f s\n",
           (double)tcorrect / (double)ntest, tcorrect, ntest, tloss, elapsed);
    rc = 0;
done:
    ct_optim_destroy(opt);
    free(train);
    free(test);
    free(m);
    ct_dataset_free(&d);
    return rc;
}
