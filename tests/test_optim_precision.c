/* Reduced precision in the optimizer engine (state_dtype=int8 / bf16,
 * bf16 and fp16 parameters with or without an fp32 master copy).
 * The numbers themselves are checked against NumPy and torch in
 * tests/python/test_optim_precision.py; here:
 *
 * 1. Determinism: for sgd-momentum, adam, adamw (amsgrad too), lion,
 *    adagrad and rmsprop (momentum, centered), every precision mode gives
 *    the same parameter and state bits at every SIMD level the CPU has and
 *    with 1 or 2 threads (stochastic rounding included: its RNG is keyed by
 *    seed, parameter, step and element index).
 * 2. Save and load: a state saved after 3 steps and loaded into a fresh
 *    optimizer continues bit-identically (8-bit codes, absmax, bf16 state,
 *    the master copy).
 * 3. Accuracy (the check): a small MLP regression (8 -> 64 -> 1,
 *    tanh, 1024 noisy samples, full batch, 600 steps of AdamW / Adam /
 *    SGD-momentum / Adagrad / RMSprop / Lion with a cosine lr decay) trained with 8-bit state (every tensor quantized:
 *    min_8bit_size=0) and with bf16 state (stochastic rounding) ends with a
 *    final loss at most 1% above the fp32 run's (and at most 5% below: the
 *    runs end in different minima of a noisy regression). (The demo task: tests/test_optim_precision_demo.sh.)
 * 4. Errors: state_dtype on kinds that lack it, state_buffer of an 8-bit
 *    buffer, changing state_dtype after the first step, 16-bit parameters
 *    on multi-pass kinds.
 *
 * usage: test_optim_precision [REFS_DIR]   (the argument is not used)     */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrain/ctrain.h"

#include "check.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double urand(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static float bf16_rounded(float f)
{
    uint32_t u = (uint32_t)to_bf16(f) << 16;
    memcpy(&f, &u, 4);
    return f;
}

/* fp16 from its definition, in double arithmetic with nearbyint's round to
 * nearest even (independent of the library's bit manipulations; not the
 * compiler's _Float16, which not every compiler offers on x86-64). */
static uint16_t to_f16(float f)
{
    uint16_t sign = signbit(f) ? 0x8000u : 0;
    double a = fabs((double)f);
    if (isnan(f))
        return (uint16_t)(sign | 0x7e00u);
    if (a < ldexp(1, -14)) /* subnormal (a carry gives the smallest normal) */
        return (uint16_t)(sign | (uint16_t)nearbyint(a * ldexp(1, 24)));
    int ex;
    frexp(a, &ex);
    int e = ex - 1;
    double m = nearbyint((a / ldexp(1, e) - 1) * 1024);
    if (m == 1024)
        m = 0, e++;
    if (e + 15 >= 31)
        return (uint16_t)(sign | 0x7c00u); /* overflow and infinity */
    return (uint16_t)(sign | (uint16_t)((e + 15) << 10) | (uint16_t)m);
}

typedef struct mode {
    const char *opts; /* engine options */
    int dtype;        /* of params and grads */
} mode;

static const mode modes[] = {
    {"state_dtype=int8 min_8bit_size=0", CT_F32},
    {"state_dtype=int8", CT_F32}, /* the 4099-element tensor stays fp32 */
    {"state_dtype=bf16", CT_F32},
    {"state_dtype=bf16 stochastic_rounding=true seed=7", CT_F32},
    {"", CT_BF16},
    {"master_weights=true", CT_BF16},
    {"master_weights=true state_dtype=bf16", CT_BF16},
    {"master_weights=true state_dtype=int8 min_8bit_size=0", CT_BF16},
    {"stochastic_rounding=true seed=3", CT_BF16},
    {"", CT_F16},
    {"master_weights=true", CT_F16},
};

static const struct {
    const char *kind, *opts;
} kinds[] = {
    {"sgd", "lr=0.01 momentum=0.9 weight_decay=0.01"},
    {"sgd", "lr=0.01 momentum=0.9 nesterov=true"},
    {"adam", "lr=0.001 weight_decay=0.01"},
    {"adam", "lr=0.001 amsgrad=true"},
    {"adamw", "lr=0.001"},
    {"lion", "lr=0.0001 weight_decay=0.1"},
    {"adagrad", "lr=0.01 initial_accumulator_value=0.1 lr_decay=0.01"},
    {"rmsprop", "lr=0.001 momentum=0.9 centered=true"},
    {"rmsprop", "lr=0.001"},
};

#define NT 3
static const size_t sizes[NT] = {5, 20000, 4099};
#define STEPS 4

typedef struct run {
    void *p[NT], *g[NT];
    void *state;
    size_t state_len;
} run;

static size_t esize(int dtype) { return dtype == CT_F32 ? 4 : 2; }

static void fill(void *dst, int dtype, size_t n, double scale, uint64_t seed)
{
    rng = seed;
    for (size_t j = 0; j < n; j++) {
        float v = (float)((2 * urand() - 1) * scale);
        if (dtype == CT_F32)
            ((float *)dst)[j] = v;
        else
            ((uint16_t *)dst)[j] = dtype == CT_BF16 ? to_bf16(v) : to_f16(v);
    }
}

/* 1 if the n bytes at needle occur in the hn bytes at hay. */
static int contains(const void *hay, size_t hn, const void *needle, size_t n)
{
    const unsigned char *h = hay;
    for (size_t i = 0; n && i + n <= hn; i++)
        if (!memcmp(h + i, needle, n))
            return 1;
    return 0;
}

/* STEPS steps of kind k in mode m at a SIMD level and thread count; the
 * parameters and saved state in *r (caller frees). */
static int do_run(size_t k, const mode *m, int level, int threads, run *r)
{
    char opts[256];
    snprintf(opts, sizeof opts, "%s %s", kinds[k].opts, m->opts);
    ct_optim *o = NULL;
    ct_param ps[NT];
    memset(ps, 0, sizeof ps);
    for (int t = 0; t < NT; t++) {
        r->p[t] = malloc(sizes[t] * 4);
        r->g[t] = malloc(sizes[t] * 4);
        fill(r->p[t], m->dtype, sizes[t], 1.0, 11 + (uint64_t)t);
        ps[t] = (ct_param){.data = r->p[t], .grad = r->g[t], .numel = sizes[t], .dtype = m->dtype};
    }
    if (ct_optim_create(&o, kinds[k].kind, "") || ct_optim_add_group(o, ps, NT, opts, NULL) ||
        ct_optim_set_simd(o, level) || ct_optim_set_threads(o, threads) ||
        ct_optim_set_serial_below(o, 0)) {
        CHECK(0, "%s '%s': setup: %s", kinds[k].kind, opts, o ? ct_optim_errmsg(o) : ct_errmsg());
        ct_optim_destroy(o);
        return 1;
    }
    for (int s = 0; s < STEPS; s++) {
        for (int t = 0; t < NT; t++)
            fill(r->g[t], m->dtype, sizes[t], pow(10, -3 + s), 100 + (uint64_t)(s * NT + t));
        ct_status st = ct_optim_step(o);
        CHECK(!st, "%s '%s': step: %s", kinds[k].kind, opts, ct_optim_errmsg(o));
    }
    CHECK(!ct_optim_save_mem(o, &r->state, &r->state_len), "save: %s", ct_optim_errmsg(o));
    /* ct_optim_state_view: fp32 and bf16 buffers are the bytes the state
     * file stores (8-bit ones are refused) */
    for (int t = 0; t < NT; t++) {
        size_t cnt = 0;
        ct_optim_state_count(o, 0, (size_t)t, &cnt);
        for (size_t q = 0; q < cnt; q++) {
            const char *name;
            void *d;
            size_t numel;
            int dt;
            ct_status st = ct_optim_state_view(o, 0, (size_t)t, q, &name, &d, &numel, &dt);
            if (strstr(m->opts, "int8") && st == CT_EUNSUPPORTED)
                continue;
            size_t bytes = numel * (dt == CT_BF16 ? 2 : 4);
            CHECK(!st && (dt == CT_F32 || dt == CT_BF16) &&
                      contains(r->state, r->state_len, d, bytes),
                  "%s '%s': state_view %s of %d (%s)", kinds[k].kind, opts, name, t,
                  st ? ct_optim_errmsg(o) : "bytes not in the state file");
            CHECK(dt == (strstr(m->opts, "state_dtype=bf16") && strcmp(name, "master") ? CT_BF16
                                                                                      : CT_F32),
                  "%s '%s': state_view %s of %d: dtype %d", kinds[k].kind, opts, name, t, dt);
        }
    }
    ct_optim_destroy(o);
    return 0;
}

static void free_run(run *r)
{
    for (int t = 0; t < NT; t++)
        free(r->p[t]), free(r->g[t]);
    ct_free(r->state);
}

static void test_determinism(void)
{
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++)
        for (size_t mi = 0; mi < sizeof modes / sizeof *modes; mi++) {
            const mode *m = &modes[mi];
            run ref;
            if (do_run(k, m, CT_SIMD_SCALAR, 1, &ref))
                continue;
            for (int level = CT_SIMD_SCALAR; level <= CT_SIMD_AVX512; level++) {
                if (!ct_simd_supported(level))
                    continue;
                for (int th = 1; th <= 2; th++) {
                    if (level == CT_SIMD_SCALAR && th == 1)
                        continue;
                    run r;
                    if (do_run(k, m, level, th, &r))
                        continue;
                    int same = r.state_len == ref.state_len &&
                               !memcmp(r.state, ref.state, r.state_len);
                    for (int t = 0; t < NT; t++)
                        same &= !memcmp(r.p[t], ref.p[t], sizes[t] * esize(m->dtype));
                    CHECK(same, "%s %s '%s' dtype %d: level %s threads %d differs from scalar",
                          kinds[k].kind, kinds[k].opts, m->opts, m->dtype, ct_simd_name(level),
                          th);
                    free_run(&r);
                }
            }
            /* the state is not the fp32 state's size (the mode took effect) */
            if (strstr(m->opts, "state_dtype") && m->dtype == CT_F32) {
                run f;
                mode fm = {"", m->dtype};
                if (!do_run(k, &fm, CT_SIMD_SCALAR, 1, &f)) {
                    CHECK(f.state_len > ref.state_len, "%s '%s': state file %zu B, fp32 %zu B",
                          kinds[k].kind, m->opts, ref.state_len, f.state_len);
                    free_run(&f);
                }
            }
            free_run(&ref);
        }
}

/* 3 steps, save, load into a fresh optimizer; 3 more steps on both. */
static void test_save_load(void)
{
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++)
        for (size_t mi = 0; mi < sizeof modes / sizeof *modes; mi++) {
            const mode *m = &modes[mi];
            char opts[256];
            snprintf(opts, sizeof opts, "%s %s", kinds[k].opts, m->opts);
            void *pa[NT], *pb[NT], *g[NT];
            ct_param a[NT], b[NT];
            memset(a, 0, sizeof a), memset(b, 0, sizeof b);
            for (int t = 0; t < NT; t++) {
                size_t bytes = sizes[t] * esize(m->dtype);
                pa[t] = malloc(bytes), pb[t] = malloc(bytes), g[t] = malloc(bytes);
                fill(pa[t], m->dtype, sizes[t], 1.0, 5 + (uint64_t)t);
                a[t] = (ct_param){.data = pa[t], .grad = g[t], .numel = sizes[t], .dtype = m->dtype};
                b[t] = a[t];
                b[t].data = pb[t];
            }
            ct_optim *oa = NULL, *ob = NULL;
            ct_status st = ct_optim_create(&oa, kinds[k].kind, "");
            st = st ? st : ct_optim_add_group(oa, a, NT, opts, NULL);
            for (int s = 0; s < 3 && !st; s++) {
                for (int t = 0; t < NT; t++)
                    fill(g[t], m->dtype, sizes[t], 0.01, 50 + (uint64_t)(s * NT + t));
                st = ct_optim_step(oa);
            }
            void *buf = NULL;
            size_t len = 0;
            st = st ? st : ct_optim_save_mem(oa, &buf, &len);
            for (int t = 0; t < NT; t++)
                memcpy(pb[t], pa[t], sizes[t] * esize(m->dtype));
            st = st ? st : ct_optim_create(&ob, kinds[k].kind, "");
            /* the fresh optimizer starts in fp32; the file sets the group's options */
            st = st ? st : ct_optim_add_group(ob, b, NT, kinds[k].opts, NULL);
            if (!st && m->dtype != CT_F32 && strstr(m->opts, "master"))
                st = ct_optim_set_options(ob, 0, "master_weights=true");
            st = st ? st : ct_optim_load_mem(ob, buf, len);
            CHECK(!st, "%s '%s': %s", kinds[k].kind, opts,
                  ob ? ct_optim_errmsg(ob) : oa ? ct_optim_errmsg(oa) : ct_errmsg());
            for (int s = 0; s < 3 && !st; s++) {
                for (int t = 0; t < NT; t++)
                    fill(g[t], m->dtype, sizes[t], 0.01, 80 + (uint64_t)(s * NT + t));
                st = ct_optim_step(oa);
                for (int t = 0; t < NT; t++)
                    fill(g[t], m->dtype, sizes[t], 0.01, 80 + (uint64_t)(s * NT + t));
                st = st ? st : ct_optim_step(ob);
            }
            void *sa = NULL, *sb = NULL;
            size_t la = 0, lb = 0;
            if (!st) {
                ct_optim_save_mem(oa, &sa, &la);
                ct_optim_save_mem(ob, &sb, &lb);
                int same = la == lb && !memcmp(sa, sb, la);
                for (int t = 0; t < NT; t++)
                    same &= !memcmp(pa[t], pb[t], sizes[t] * esize(m->dtype));
                CHECK(same, "%s '%s' dtype %d: resumed run differs", kinds[k].kind, opts,
                      m->dtype);
            }
            ct_free(sa), ct_free(sb), ct_free(buf);
            ct_optim_destroy(oa), ct_optim_destroy(ob);
            for (int t = 0; t < NT; t++)
                free(pa[t]), free(pb[t]), free(g[t]);
        }
}

/* ---- MLP regression ---- */
#define NI 8
#define NH 16
#define NS 1024

typedef struct mlp {
    float w1[NI * NH], b1[NH], w2[NH], b2[1];
    float gw1[NI * NH], gb1[NH], gw2[NH], gb2[1];
} mlp;

/* Loss (MSE) of the full batch; gradients into m->g* when grad != 0. */
static double mlp_loss(mlp *m, const float *x, const float *y, int grad)
{
    static float h[NS][NH];
    double loss = 0;
    if (grad) {
        memset(m->gw1, 0, sizeof m->gw1), memset(m->gb1, 0, sizeof m->gb1);
        memset(m->gw2, 0, sizeof m->gw2), m->gb2[0] = 0;
    }
    for (int s = 0; s < NS; s++) {
        const float *xs = x + s * NI;
        float out = m->b2[0];
        for (int j = 0; j < NH; j++) {
            float a = m->b1[j];
            for (int i = 0; i < NI; i++)
                a += xs[i] * m->w1[i * NH + j];
            h[s][j] = tanhf(a);
            out += h[s][j] * m->w2[j];
        }
        float d = out - y[s];
        loss += (double)d * d;
        if (!grad)
            continue;
        float go = 2 * d / NS;
        m->gb2[0] += go;
        for (int j = 0; j < NH; j++) {
            m->gw2[j] += go * h[s][j];
            float gh = go * m->w2[j] * (1 - h[s][j] * h[s][j]);
            m->gb1[j] += gh;
            for (int i = 0; i < NI; i++)
                m->gw1[i * NH + j] += gh * xs[i];
        }
    }
    return loss / NS;
}

static double train_mlp(const char *kind, const char *opts, double lr, int steps)
{
    static float x[NS * NI], y[NS];
    static mlp m;
    rng = 12345;
    /* targets: a random teacher MLP (8 -> 4 tanh -> 1) the student can
     * represent, plus label noise of variance 0.04; with 1024 samples for 161
     * student parameters the converged loss is near that floor whatever the
     * minimum the run ends in, so a 1% comparison measures the optimizer */
    double tw[NI][4], tv[4];
    for (int j = 0; j < 4; j++) {
        tv[j] = 2 * urand() - 1;
        for (int i = 0; i < NI; i++)
            tw[i][j] = (2 * urand() - 1) * 1.5;
    }
    for (int s = 0; s < NS; s++) {
        double t = 0;
        for (int i = 0; i < NI; i++)
            x[s * NI + i] = (float)(2 * urand() - 1);
        for (int j = 0; j < 4; j++) {
            double a = 0;
            for (int i = 0; i < NI; i++)
                a += tw[i][j] * x[s * NI + i];
            t += tv[j] * tanh(a);
        }
        double u1 = urand() + 1e-12, u2 = urand();
        y[s] = (float)(t + 0.2 * sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
    }
    for (int j = 0; j < NI * NH; j++)
        m.w1[j] = (float)((2 * urand() - 1) / sqrt(NI));
    for (int j = 0; j < NH; j++)
        m.b1[j] = 0, m.w2[j] = (float)((2 * urand() - 1) / sqrt(NH));
    m.b2[0] = 0;
    ct_param ps[4] = {
        {.data = m.w1, .grad = m.gw1, .numel = NI * NH, .dtype = CT_F32},
        {.data = m.b1, .grad = m.gb1, .numel = NH, .dtype = CT_F32},
        {.data = m.w2, .grad = m.gw2, .numel = NH, .dtype = CT_F32},
        {.data = m.b2, .grad = m.gb2, .numel = 1, .dtype = CT_F32},
    };
    ct_optim *o = NULL;
    if (ct_optim_create(&o, kind, "") || ct_optim_add_group(o, ps, 4, opts, NULL)) {
        CHECK(0, "%s '%s': %s", kind, opts, o ? ct_optim_errmsg(o) : ct_errmsg());
        ct_optim_destroy(o);
        return NAN;
    }
    for (int s = 0; s < steps; s++) {
        /* cosine decay to 0: a converged run, whose final loss can be
         * compared at 1% */
        ct_optim_set_lr(o, 0, lr * 0.5 * (1 + cos(3.141592653589793 * s / steps)));
        mlp_loss(&m, x, y, 1);
        ct_optim_step(o);
    }
    ct_optim_destroy(o);
    return mlp_loss(&m, x, y, 0);
}

#define MLP_STEPS 1500
static void test_mlp(void)
{
    static const struct {
        const char *kind, *opts;
        double lr;
    } c[] = {
        {"adamw", "weight_decay=0.01", 0.02},
        {"adam", "", 0.02},
        {"sgd", "momentum=0.9", 0.2},
        {"adagrad", "", 0.1},
        {"rmsprop", "", 0.005},
        {"lion", "", 0.005},
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        char o8[256], ob[256];
        snprintf(o8, sizeof o8, "%s state_dtype=int8 min_8bit_size=0", c[i].opts);
        snprintf(ob, sizeof ob, "%s state_dtype=bf16 stochastic_rounding=true", c[i].opts);
        double l0 = train_mlp(c[i].kind, "", 0, 0);
        double l32 = train_mlp(c[i].kind, c[i].opts, c[i].lr, MLP_STEPS);
        double l8 = train_mlp(c[i].kind, o8, c[i].lr, MLP_STEPS);
        double l16 = train_mlp(c[i].kind, ob, c[i].lr, MLP_STEPS);
        printf("mlp %-8s loss: start %.6f  fp32 %.6f  int8 %.6f (%+.3f%%)  bf16 %.6f (%+.3f%%)\n",
               c[i].kind, l0, l32, l8, 100 * (l8 / l32 - 1), l16, 100 * (l16 / l32 - 1));
        CHECK(l32 < 0.5 * l0, "%s: fp32 run did not learn (%g -> %g)", c[i].kind, l0, l32);
        /* not worse than fp32 by more than 1%; lower losses (the runs end
         * in different minima, Lion's sign steps hover) are bounded at 5% */
        CHECK(l8 <= 1.01 * l32 && l8 >= 0.95 * l32, "%s: int8 final loss %g vs fp32 %g",
              c[i].kind, l8, l32);
        CHECK(l16 <= 1.01 * l32 && l16 >= 0.95 * l32, "%s: bf16-state final loss %g vs fp32 %g",
              c[i].kind, l16, l32);
        CHECK(l8 != l32, "%s: the int8 run equals the fp32 run bit for bit", c[i].kind);
    }
}

static void test_errors(void)
{
    float p[8192] = {0}, g[8192] = {0};
    ct_param ps = {.data = p, .grad = g, .numel = 8192, .dtype = CT_F32};
    ct_optim *o = NULL;
    CHECK(!ct_optim_create(&o, "adamax", ""), "create");
    CHECK(ct_optim_add_group(o, &ps, 1, "state_dtype=int8", NULL) == CT_EUNSUPPORTED &&
              strstr(ct_optim_errmsg(o), "state_dtype"),
          "adamax int8: %s", ct_optim_errmsg(o));
    CHECK(ct_optim_add_group(o, &ps, 1, "state_dtype=int4", NULL) == CT_EINVAL,
          "int4: %s", ct_optim_errmsg(o));
    ct_optim_destroy(o);
    CHECK(!ct_optim_create(&o, "adamw", "state_dtype=int8"), "create adamw int8: %s",
          ct_errmsg());
    CHECK(!ct_optim_add_group(o, &ps, 1, NULL, NULL), "add: %s", ct_optim_errmsg(o));
    const char *name;
    float *data;
    size_t numel;
    CHECK(ct_optim_state_buffer(o, 0, 0, 0, &name, &data, &numel) == CT_EUNSUPPORTED &&
              strstr(ct_optim_errmsg(o), "torch"),
          "state_buffer of int8: %s", ct_optim_errmsg(o));
    void *view;
    int vdt;
    CHECK(ct_optim_state_view(o, 0, 0, 0, &name, &view, &numel, &vdt) == CT_EUNSUPPORTED,
          "state_view of int8: %s", ct_optim_errmsg(o));
    double v[2];
    size_t cnt;
    CHECK(!ct_optim_get_option(o, 0, "state_dtype", v, 2, &cnt) && v[0] == 2 && cnt == 1,
          "get_option state_dtype");
    CHECK(!ct_optim_get_option(o, 0, "min_8bit_size", v, 2, &cnt) && v[0] == 4096,
          "get_option min_8bit_size");
    CHECK(!ct_optim_step(o), "step: %s", ct_optim_errmsg(o));
    CHECK(ct_optim_set_options(o, 0, "state_dtype=fp32") == CT_ESTATE, "change after step: %s",
          ct_optim_errmsg(o));
    CHECK(!ct_optim_set_options(o, 0, "lr=0.1"), "lr: %s", ct_optim_errmsg(o));
    ct_optim_destroy(o);
    uint16_t hp[64] = {0}, hg[64] = {0};
    ct_param h = {.data = hp, .grad = hg, .numel = 64, .dtype = CT_BF16};
    CHECK(!ct_optim_create(&o, "lamb", ""), "create lamb");
    CHECK(ct_optim_add_group(o, &h, 1, NULL, NULL) == CT_EUNSUPPORTED &&
              strstr(ct_optim_errmsg(o), "dtype"),
          "lamb bf16: %s", ct_optim_errmsg(o));
    ct_optim_destroy(o);
    /* a bf16 gradient holding inf is refused as an fp32 one is */
    CHECK(!ct_optim_create(&o, "adamw", ""), "create");
    CHECK(!ct_optim_add_group(o, &h, 1, NULL, NULL), "bf16 add: %s", ct_optim_errmsg(o));
    hg[17] = 0x7f80;
    CHECK(ct_optim_step(o) == CT_ENONFINITE && strstr(ct_optim_errmsg(o), "index 17"),
          "bf16 inf gradient: %s", ct_optim_errmsg(o));
    ct_optim_destroy(o);
}

/* ct_optim_state_info / _q8_view / _read / _write: storage reported per
 * buffer; float32 and bf16 state read back as written (bf16: rounded to
 * nearest even); 8-bit state written and read within the quantization error
 * of its block (the exact codes are NumPy's: tests/python); bad writes
 * refused with nothing changed. */
static void test_state_io(void)
{
    enum { N = 1000 }; /* 3 full blocks and one of 232 */
    static float p[N], g[N], x[N], y[N];
    for (int j = 0; j < N; j++)
        p[j] = (float)(urand() - 0.5), g[j] = (float)(urand() - 0.5) * 0.01f;
    ct_param ps = {.data = p, .grad = g, .numel = N, .dtype = CT_F32};
    const char *sdts[] = {"fp32", "bf16", "int8"};
    for (int d = 0; d < 3; d++) {
        ct_optim *o = NULL;
        char opts[96];
        snprintf(opts, sizeof opts, "lr=0.01 state_dtype=%s min_8bit_size=0", sdts[d]);
        CHECK(!ct_optim_create(&o, "adamw", ""), "create");
        CHECK(!ct_optim_add_group(o, &ps, 1, opts, NULL), "%s: %s", opts, ct_optim_errmsg(o));
        CHECK(!ct_optim_step(o), "step: %s", ct_optim_errmsg(o));
        for (size_t k = 0; k < 2; k++) {
            const char *name = NULL;
            size_t numel = 0, nb = 0;
            int storage = -1;
            CHECK(!ct_optim_state_info(o, 0, 0, k, &name, &numel, &storage) && numel == N &&
                      storage == d && !strcmp(name, k ? "exp_avg_sq" : "exp_avg"),
                  "%s info %zu: %s %zu %d", sdts[d], k, name, numel, storage);
            uint8_t *codes = NULL;
            float *absmax = NULL;
            ct_status st = ct_optim_state_q8_view(o, 0, 0, k, NULL, &codes, &numel, &absmax, &nb);
            CHECK(d == 2 ? !st && codes && absmax && nb == 4 : st == CT_EUNSUPPORTED,
                  "%s q8_view: %d %s", sdts[d], (int)st, ct_optim_errmsg(o));
            /* second moments are non-negative; first moments of either sign */
            for (int j = 0; j < N; j++)
                x[j] = k ? (float)(urand() * urand()) * 1e-3f : (float)(urand() - 0.5) * 1e-2f;
            x[3] = 0;
            CHECK(!ct_optim_state_write(o, 0, 0, k, x, N), "write: %s", ct_optim_errmsg(o));
            CHECK(!ct_optim_state_read(o, 0, 0, k, y, N), "read: %s", ct_optim_errmsg(o));
            int bad = 0;
            for (int j = 0; j < N; j++) {
                float want = d == 1 ? bf16_rounded(x[j]) : x[j];
                /* 8-bit: within the largest half gap of the map's top
                 * decade (0.9/64/2 of the block's scale, signed map) */
                float tol = d == 2 ? absmax[j / 256] * 0.0071f : 0.0f;
                bad += !(fabsf(y[j] - want) <= tol);
            }
            CHECK(!bad, "%s %s: %d values not read back as written", sdts[d], name, bad);
            CHECK(y[3] == 0, "%s: zero read back as %g", sdts[d], (double)y[3]);
            /* refused writes change nothing */
            CHECK(ct_optim_state_write(o, 0, 0, k, x, N - 1) == CT_EINVAL &&
                      strstr(ct_optim_errmsg(o), "1000 elements"),
                  "short write: %s", ct_optim_errmsg(o));
            CHECK(ct_optim_state_read(o, 0, 0, k, NULL, N) == CT_EINVAL, "NULL read");
            CHECK(ct_optim_state_info(o, 0, 0, 2, NULL, NULL, NULL) == CT_EINVAL,
                  "third buffer of adamw");
            if (d == 2) {
                float z[N];
                memcpy(z, x, sizeof z);
                z[N - 1] = NAN;
                CHECK(ct_optim_state_write(o, 0, 0, k, z, N) == CT_EINVAL &&
                          strstr(ct_optim_errmsg(o), "element 999"),
                      "NaN write: %s", ct_optim_errmsg(o));
                z[N - 1] = -1e-3f;
                CHECK((ct_optim_state_write(o, 0, 0, k, z, N) == CT_EINVAL) == (k == 1),
                      "negative second moment: %s", ct_optim_errmsg(o));
                if (k == 0) /* first moments take it: put x back */
                    ct_optim_state_write(o, 0, 0, k, x, N);
            }
            float w[N];
            CHECK(!ct_optim_state_read(o, 0, 0, k, w, N) && !memcmp(w, y, sizeof w),
                  "%s %s: a refused write changed the state", sdts[d], name);
        }
        ct_optim_destroy(o);
    }
}

int main(int argc, char **argv)
{
    if (argc > 2 && !strcmp(argv[2], "mlp")) { /* the accuracy check alone */
        test_mlp();
        return check_summary();
    }
    test_errors();
    test_state_io();
    test_determinism();
    test_save_load();
    test_mlp();
    return check_summary();
}
