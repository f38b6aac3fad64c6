/* Tests of weight averaging (include/ctrain/average.h): refusals leave the
 * averaged buffers and the count unchanged; SWA gives the running mean
 * (exact for small integers); EMA follows its lerp formula, written here
 * in long double and rounded. torch's bits are checked from Python
 * (tests/python/test_average.py). */
#include <math.h>
#include <string.h>

#include "check.h"
#include "ctrain/ctrain.h"

static ct_param f32(float *p, size_t n) { return (ct_param){.data = p, .numel = n, .dtype = CT_F32}; }

static void test_refusals(void)
{
    ct_avg *a = NULL;
    CHECK(ct_avg_create(&a, "polyak", "") == CT_EINVAL && !a && strstr(ct_errmsg(), "swa, ema"),
          "unknown kind: %s", ct_errmsg());
    CHECK(ct_avg_create(&a, "ema", "decay=1.5") == CT_EINVAL && !a &&
              strstr(ct_errmsg(), "decay=1.5"),
          "decay out of range: %s", ct_errmsg());
    CHECK(ct_avg_create(&a, "swa", "decay=0.9") == CT_EINVAL && !a &&
              strstr(ct_errmsg(), "unknown option 'decay'"),
          "swa takes no decay: %s", ct_errmsg());
    CHECK(ct_avg_create(NULL, "swa", "") == CT_EINVAL, "NULL out");
    CHECK(ct_avg_create(&a, NULL, "") == CT_EINVAL, "NULL kind");
    if (ct_avg_create(&a, "swa", "") != CT_OK) {
        CHECK(0, "create swa: %s", ct_errmsg());
        return;
    }
    float avg[4] = {1, 2, 3, 4}, cur[4] = {5, 6, 7, 8}, small[3] = {0};
    double d[4] = {0};
    ct_param pa = f32(avg, 4), pc = f32(cur, 4);
    ct_status st = ct_avg_update(a, &pa, &pc, 1); /* the first update copies */
    CHECK(st == CT_OK && avg[0] == 5 && avg[3] == 8, "first update copies (%s)", ct_avg_errmsg(a));
    float keep[4];
    memcpy(keep, avg, sizeof keep);
    ct_param bad[4] = {f32(small, 3), {.data = d, .numel = 4, .dtype = CT_F64},
                       {.data = avg, .numel = 4, .dtype = CT_BF16}, f32(avg + 1, 4)};
    const char *why[4] = {"3 elements", "dtype", "only float32 and float64", "overlap"};
    for (int i = 0; i < 4; i++) {
        ct_param c = i == 2 ? (ct_param){.data = cur, .numel = 4, .dtype = CT_BF16} : pc;
        ct_param p = i == 3 ? f32(avg, 4) : bad[i];
        if (i == 3)
            c = bad[3];
        st = ct_avg_update(a, &p, &c, 1);
        CHECK(st != CT_OK && strstr(ct_avg_errmsg(a), why[i]), "bad pair %d: %s", i,
              ct_avg_errmsg(a));
    }
    /* a bad second pair: the good first one is not written either */
    ct_param two_a[2] = {pa, f32(small, 3)}, two_c[2] = {pc, f32(cur, 4)};
    cur[0] = 100;
    CHECK(ct_avg_update(a, two_a, two_c, 2) == CT_EINVAL && strstr(ct_avg_errmsg(a), "tensor 1"),
          "bad second pair: %s", ct_avg_errmsg(a));
    CHECK(!memcmp(avg, keep, sizeof keep), "a refused update wrote the averaged copy");
    CHECK(ct_avg_update(a, NULL, &pc, 1) == CT_EINVAL, "NULL avg");
    CHECK(ct_avg_update(a, &pa, &pc, 0) == CT_EINVAL, "n = 0");
    CHECK(ct_avg_update(NULL, &pa, &pc, 1) == CT_EINVAL, "NULL handle");
    int64_t n = -1;
    CHECK(ct_avg_count(a, &n) == CT_OK && n == 1, "refusals counted (%lld)", (long long)n);
    CHECK(ct_avg_set_count(a, -2) == CT_EINVAL && ct_avg_count(a, &n) == CT_OK && n == 1,
          "negative count");
    CHECK(ct_avg_count(a, NULL) == CT_EINVAL, "NULL count");
    CHECK(!strcmp(ct_avg_errmsg(NULL), ""), "errmsg(NULL)");
    ct_avg_destroy(a);
    ct_avg_destroy(NULL);
}

static void test_swa_mean(void)
{
    /* The running mean of 1..10 (float32 and float64), exact here. */
    ct_avg *a = NULL;
    ct_avg_create(&a, "swa", NULL);
    float av[2] = {0}, cv[2];
    double ad[3] = {0}, cd[3];
    ct_param p[2] = {f32(av, 2), {.data = ad, .numel = 3, .dtype = CT_F64}};
    ct_param c[2] = {f32(cv, 2), {.data = cd, .numel = 3, .dtype = CT_F64}};
    for (int k = 1; k <= 10; k++) {
        cv[0] = (float)k, cv[1] = (float)(2 * k);
        cd[0] = k, cd[1] = -k, cd[2] = 3.0 * k;
        CHECK(ct_avg_update(a, p, c, 2) == CT_OK, "update %d: %s", k, ct_avg_errmsg(a));
    }
    CHECK(av[0] == 5.5f && av[1] == 11.0f && ad[0] == 5.5 && ad[1] == -5.5 && ad[2] == 16.5,
          "mean of 1..10: %g %g %g %g %g", av[0], av[1], ad[0], ad[1], ad[2]);
    /* resuming: the count decides the next weight */
    CHECK(ct_avg_set_count(a, 1) == CT_OK, "set_count");
    cd[0] = 7.5, cd[1] = -5.5, cd[2] = 0;
    ct_avg_update(a, &p[1], &c[1], 1);
    CHECK(ad[0] == 6.5 && ad[1] == -5.5 && ad[2] == 8.25, "weight 1/2 after set_count(1)");
    ct_avg_destroy(a);
}

static void test_ema(void)
{
    const double decays[3] = {0.999, 0.3, 0.75};
    for (int k = 0; k < 3; k++) {
        ct_avg *a = NULL;
        char opt[32];
        snprintf(opt, sizeof opt, "decay=%.17g", decays[k]);
        if (ct_avg_create(&a, "ema", opt) != CT_OK) {
            CHECK(0, "create ema: %s", ct_errmsg());
            continue;
        }
        float av[5], cv[5], want[5];
        ct_param p = f32(av, 5), c = f32(cv, 5);
        for (int i = 0; i < 5; i++)
            cv[i] = (float)(i - 2) * 0.37f;
        ct_avg_update(a, &p, &c, 1);
        float w = (float)(1 - decays[k]);
        int ok = 1;
        for (int t = 0; t < 20; t++) {
            for (int i = 0; i < 5; i++) {
                cv[i] = cv[i] * 0.9f + (float)((t * 7 + i) % 5) * 0.1f;
                long double diff = (long double)(cv[i] - av[i]); /* exact in float */
                want[i] = w < 0.5f ? (float)((long double)av[i] + (long double)w * diff)
                                   : (float)((long double)cv[i] - diff * (long double)(1 - w));
            }
            ct_avg_update(a, &p, &c, 1);
            ok &= !memcmp(av, want, sizeof av);
        }
        CHECK(ok, "ema decay=%g: not the fused lerp", decays[k]);
        ct_avg_destroy(a);
    }
}

/* Two and three threads give the one-thread bits (above the serial size). */
static void test_threads(void)
{
    enum { N = 200003 };
    static float cur[N], avg[3][N];
    for (int threads = 1; threads <= 3; threads++) {
        ct_avg *a = NULL;
        ct_avg_create(&a, "swa", "");
        CHECK(ct_avg_set_threads(a, threads) == CT_OK, "set_threads(%d): %s", threads,
              ct_avg_errmsg(a));
        ct_param p = f32(avg[threads - 1], N), c = f32(cur, N);
        for (int t = 0; t < 5; t++) {
            for (int i = 0; i < N; i++)
                cur[i] = (float)((i * 7 + t * 13) % 101) * 0.01f - 0.5f;
            ct_avg_update(a, &p, &c, 1);
        }
        if (threads == 1) {
            CHECK(ct_avg_set_threads(a, 0) == CT_EINVAL && strstr(ct_avg_errmsg(a), "threads=0"),
                  "threads=0: %s", ct_avg_errmsg(a));
            CHECK(ct_avg_set_threads(NULL, 2) == CT_EINVAL, "set_threads(NULL)");
        }
        ct_avg_destroy(a);
    }
    CHECK(!memcmp(avg[0], avg[1], sizeof avg[0]) && !memcmp(avg[0], avg[2], sizeof avg[0]),
          "the thread count changed the average");
}

int main(void)
{
    test_refusals();
    test_swa_mean();
    test_ema();
    test_threads();
    return check_summary();
}
