/* Gradient clipping against PyTorch (tests/ref/gen_clip_refs.py):
 * clip_grad_norm_ (norm types 1, 2, 3.5, inf; max_norm above and below the
 * norm; grad None; non-finite gradients), clip_grad_value_ and timm-style
 * adaptive gradient clipping. Norms must agree to 1e-6 relative, gradients
 * to 1e-5 relative; NaN and infinities must be where torch has them. Also:
 * every refused call modifies nothing and says why; results are
 * deterministic.
 *
 * usage: test_clip REFS_DIR   (reads REFS_DIR/clip/clip_cases.safetensors) */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrain/ctrain.h"
#include "io/safetensors.h"

#define NORM_TOL 1e-6
#define GRAD_TOL 1e-5

static double max_norm_err, max_norm32_err, max_grad_err;

#include "check.h"

/* a matches b: same NaN-ness, same infinity, else |a-b| <= tol |b|. */
static int match(double a, double b, double tol, double *max_err)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    if (isinf(a) || isinf(b))
        return a == b;
    double d = fabs(a - b);
    if (d == 0)
        return 1;
    double e = b != 0 ? d / fabs(b) : INFINITY;
    if (e <= tol && e > *max_err)
        *max_err = e;
    return e <= tol;
}

typedef struct tcase {
    const char *name, *kind;
    size_t n;
    ct_param p[16];
    float *data[16], *grad[16];
    const float *want[16];
    cJSON *args;
} tcase;

static const ct_st_tensor *find(const ct_st_file *f, const char *c, size_t i, const char *what)
{
    char name[128];
    if (i == (size_t)-1)
        snprintf(name, sizeof name, "%s.%s", c, what);
    else
        snprintf(name, sizeof name, "%s.p%zu.%s", c, i, what);
    return ct_st_find(f, name);
}

/* Builds fresh buffers for a case from the reference. */
static int setup(tcase *t, const ct_st_file *f, const cJSON *jc)
{
    memset(t, 0, sizeof *t);
    t->name = cJSON_GetObjectItem(jc, "name")->valuestring;
    t->kind = cJSON_GetObjectItem(jc, "kind")->valuestring;
    t->args = cJSON_GetObjectItem(jc, "args");
    const cJSON *shapes = cJSON_GetObjectItem(jc, "shapes");
    const cJSON *has = cJSON_GetObjectItem(jc, "has_grad");
    t->n = (size_t)cJSON_GetArraySize(shapes);
    if (t->n > 16)
        return 1;
    for (size_t i = 0; i < t->n; i++) {
        const cJSON *sh = cJSON_GetArrayItem(shapes, (int)i);
        ct_param *p = &t->p[i];
        p->dtype = CT_F32;
        p->ndim = cJSON_GetArraySize(sh);
        p->numel = 1;
        for (int d = 0; d < p->ndim; d++) {
            p->shape[d] = (int64_t)cJSON_GetArrayItem(sh, d)->valuedouble;
            p->numel *= (size_t)p->shape[d];
        }
        const ct_st_tensor *td = find(f, t->name, i, "data");
        if (!td || td->numel != p->numel)
            return 1;
        t->data[i] = malloc(p->numel * sizeof(float));
        memcpy(t->data[i], td->data, td->nbytes);
        p->data = t->data[i];
        if (cJSON_IsTrue(cJSON_GetArrayItem(has, (int)i))) {
            const ct_st_tensor *tg = find(f, t->name, i, "grad");
            const ct_st_tensor *to = find(f, t->name, i, "out");
            if (!tg || !to || tg->numel != p->numel || to->numel != p->numel)
                return 1;
            t->grad[i] = malloc(p->numel * sizeof(float));
            memcpy(t->grad[i], tg->data, tg->nbytes);
            p->grad = t->grad[i];
            t->want[i] = to->data;
        }
    }
    return 0;
}

static void teardown(tcase *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->data[i]);
        free(t->grad[i]);
    }
}

static double arg(const tcase *t, const char *key)
{
    const cJSON *a = cJSON_GetObjectItem(t->args, key);
    if (cJSON_IsString(a))
        return strtod(a->valuestring, NULL);
    return a ? a->valuedouble : NAN;
}

static ct_status apply(tcase *t, double *total)
{
    if (!strcmp(t->kind, "clip_grad_norm"))
        return ct_clip_grad_norm(t->p, t->n, arg(t, "max_norm"), arg(t, "norm_type"),
                                 cJSON_IsTrue(cJSON_GetObjectItem(t->args, "error_if_nonfinite")),
                                 total);
    if (!strcmp(t->kind, "clip_grad_value"))
        return ct_clip_grad_value(t->p, t->n, arg(t, "clip_value"));
    return ct_clip_agc(t->p, t->n, arg(t, "clipping"), arg(t, "eps"));
}

static void run_case(const ct_st_file *f, const cJSON *jc)
{
    tcase t, t2;
    if (setup(&t, f, jc) || setup(&t2, f, jc)) {
        CHECK(0, "case %s: malformed reference", cJSON_GetObjectItem(jc, "name")->valuestring);
        return;
    }
    double total = -1, total2 = -2;
    ct_status st = apply(&t, &total);
    CHECK(st == CT_OK, "%s: status %d: %s", t.name, st, ct_errmsg());
    if (!strcmp(t.kind, "clip_grad_norm")) {
        /* ctrain accumulates in double: its norm must agree with torch's
         * on float64 copies to 1e-6. torch's float32 result carries its own
         * float32 summation error (up to ~1e-6 relative for an L1 norm of a
         * few thousand elements), so it is held to the gradient tolerance. */
        const ct_st_tensor *tn = find(f, t.name, (size_t)-1, "total_norm_f64");
        const ct_st_tensor *tf = find(f, t.name, (size_t)-1, "total_norm");
        double want, want32;
        memcpy(&want, tn->data, sizeof want);
        memcpy(&want32, tf->data, sizeof want32);
        CHECK(match(total, want, NORM_TOL, &max_norm_err),
              "%s: total norm %.10g, torch (float64) %.10g", t.name, total, want);
        CHECK(match(total, want32, GRAD_TOL, &max_norm32_err),
              "%s: total norm %.10g, torch (float32) %.10g", t.name, total, want32);
    }
    for (size_t i = 0; i < t.n; i++) {
        if (!t.grad[i])
            continue;
        size_t bad = 0, first = SIZE_MAX;
        for (size_t j = 0; j < t.p[i].numel; j++)
            if (!match(t.grad[i][j], t.want[i][j], GRAD_TOL, &max_grad_err)) {
                bad++;
                if (first == SIZE_MAX)
                    first = j;
            }
        CHECK(bad == 0, "%s: param %zu: %zu gradients differ, first [%zu]: ctrain %.9g torch %.9g",
              t.name, i, bad, first, bad ? t.grad[i][first] : 0.0,
              bad ? t.want[i][first] : 0.0);
        /* Parameters are never written. */
        CHECK(!memcmp(t.data[i], find(f, t.name, i, "data")->data, t.p[i].numel * 4),
              "%s: param %zu data was modified", t.name, i);
    }
    /* Determinism: a second run on the same input gives the same bits. */
    st = apply(&t2, &total2);
    int same = st == CT_OK && (!strcmp(t.kind, "clip_grad_norm")
                                   ? !memcmp(&total, &total2, sizeof total)
                                   : 1);
    for (size_t i = 0; i < t.n; i++)
        if (t.grad[i])
            same &= !memcmp(t.grad[i], t2.grad[i], t.p[i].numel * sizeof(float));
    CHECK(same, "%s: a second run differs", t.name);
    teardown(&t);
    teardown(&t2);
}

/* ---- refused calls modify nothing --------------------------------------- */

typedef struct fixture {
    float d0[12], g0[12], d1[5], g1[5];
    ct_param p[2];
} fixture;

static void fixture_init(fixture *x)
{
    for (int i = 0; i < 12; i++) {
        x->d0[i] = (float)(i - 5) * 0.25f;
        x->g0[i] = (float)(i * 7 % 11) - 4.5f;
    }
    for (int i = 0; i < 5; i++) {
        x->d1[i] = 1.5f - (float)i;
        x->g1[i] = (float)i * 3.0f - 2.0f;
    }
    memset(x->p, 0, sizeof x->p);
    x->p[0] = (ct_param){.data = x->d0, .grad = x->g0, .numel = 12, .dtype = CT_F32, .ndim = 2,
                         .shape = {3, 4}};
    x->p[1] = (ct_param){.data = x->d1, .grad = x->g1, .numel = 5, .dtype = CT_F32};
}

static int fixture_same(const fixture *a, const fixture *b)
{
    return !memcmp(a->d0, b->d0, sizeof a->d0) && !memcmp(a->g0, b->g0, sizeof a->g0) &&
           !memcmp(a->d1, b->d1, sizeof a->d1) && !memcmp(a->g1, b->g1, sizeof a->g1);
}

#define REFUSED(call, want_st, needle)                                                           \
    do {                                                                                         \
        fixture ref;                                                                             \
        fixture_init(&ref);                                                                      \
        double tn = 12345;                                                                       \
        (void)tn;                                                                                \
        ct_status st_ = (call);                                                                  \
        CHECK(st_ == (want_st), "%s: status %d, want %d (%s)", #call, st_, want_st, ct_errmsg()); \
        CHECK(strstr(ct_errmsg(), needle) != NULL, "%s: message '%s' lacks '%s'", #call,        \
              ct_errmsg(), needle);                                                              \
        CHECK(fixture_same(&x, &ref), "%s: gradients or data modified by a refused call", #call); \
        CHECK(tn == 12345, "%s: total_norm written by a refused call", #call);                   \
    } while (0)

static void test_refusals(void)
{
    fixture x;
    fixture_init(&x);
    REFUSED(ct_clip_grad_norm(NULL, 2, 1.0, 2.0, 0, &tn), CT_EINVAL, "params is NULL");
    REFUSED(ct_clip_grad_norm(x.p, 0, 1.0, 2.0, 0, &tn), CT_EINVAL, "n is 0");
    REFUSED(ct_clip_grad_norm(x.p, 2, -0.5, 2.0, 0, &tn), CT_EINVAL, "max_norm=-0.5");
    REFUSED(ct_clip_grad_norm(x.p, 2, NAN, 2.0, 0, &tn), CT_EINVAL, "max_norm=nan");
    REFUSED(ct_clip_grad_norm(x.p, 2, 0.1, 0.0, 0, &tn), CT_EINVAL, "norm_type=0");
    REFUSED(ct_clip_grad_norm(x.p, 2, 0.1, -2.0, 0, &tn), CT_EINVAL, "norm_type=-2");
    REFUSED(ct_clip_grad_norm(x.p, 2, 0.1, NAN, 0, &tn), CT_EINVAL, "norm_type=nan");
    REFUSED(ct_clip_grad_value(NULL, 2, 1.0), CT_EINVAL, "params is NULL");
    REFUSED(ct_clip_grad_value(x.p, 0, 1.0), CT_EINVAL, "n is 0");
    REFUSED(ct_clip_grad_value(x.p, 2, -1.0), CT_EINVAL, "clip_value=-1");
    REFUSED(ct_clip_grad_value(x.p, 2, NAN), CT_EINVAL, "clip_value=nan");
    REFUSED(ct_clip_agc(NULL, 2, 0.01, 1e-3), CT_EINVAL, "params is NULL");
    REFUSED(ct_clip_agc(x.p, 0, 0.01, 1e-3), CT_EINVAL, "n is 0");
    REFUSED(ct_clip_agc(x.p, 2, 0.0, 1e-3), CT_EINVAL, "clipping=0");
    REFUSED(ct_clip_agc(x.p, 2, -0.1, 1e-3), CT_EINVAL, "clipping=-0.1");
    REFUSED(ct_clip_agc(x.p, 2, NAN, 1e-3), CT_EINVAL, "clipping=nan");
    REFUSED(ct_clip_agc(x.p, 2, 0.01, -1e-3), CT_EINVAL, "eps=-0.001");
    REFUSED(ct_clip_agc(x.p, 2, 0.01, NAN), CT_EINVAL, "eps=nan");

    /* Bad parameter descriptions: the second parameter is bad, the first is
     * fine, and neither is touched. */
    ct_param good = x.p[1];
    x.p[1].dtype = CT_BF16;
    REFUSED(ct_clip_grad_norm(x.p, 2, 0.1, 2.0, 0, &tn), CT_EUNSUPPORTED, "dtype");
    REFUSED(ct_clip_grad_value(x.p, 2, 0.1), CT_EUNSUPPORTED, "dtype");
    REFUSED(ct_clip_agc(x.p, 2, 0.01, 1e-3), CT_EUNSUPPORTED, "dtype");
    x.p[1] = good;
    x.p[1].numel = 0;
    REFUSED(ct_clip_grad_norm(x.p, 2, 0.1, 2.0, 0, &tn), CT_EINVAL, "numel is 0");
    x.p[1] = good;
    x.p[1].ndim = 2;
    x.p[1].shape[0] = 2;
    x.p[1].shape[1] = 3;
    REFUSED(ct_clip_grad_norm(x.p, 2, 0.1, 2.0, 0, &tn), CT_EINVAL, "shape");
    REFUSED(ct_clip_agc(x.p, 2, 0.01, 1e-3), CT_EINVAL, "shape");
    x.p[1].shape[1] = -3;
    REFUSED(ct_clip_grad_value(x.p, 2, 0.1), CT_EINVAL, "shape[1]");
    x.p[1] = good;
    x.p[1].ndim = 9;
    REFUSED(ct_clip_grad_value(x.p, 2, 0.1), CT_EINVAL, "ndim");
    x.p[1] = good;
    x.p[1].data = NULL; /* AGC reads the parameter; the others do not */
    REFUSED(ct_clip_agc(x.p, 2, 0.01, 1e-3), CT_EINVAL, "data is NULL");
    x.p[1] = good;

    /* error_if_nonfinite: refused, nothing modified; without it torch's
     * behaviour (checked against the reference above). */
    float bad[3] = {NAN, INFINITY, -INFINITY};
    for (int k = 0; k < 3; k++)
        for (int nt = 0; nt < 2; nt++) {
            fixture_init(&x);
            x.g1[3] = bad[k];
            fixture ref = x;
            double tn = 12345;
            ct_status st = ct_clip_grad_norm(x.p, 2, 0.1, nt ? INFINITY : 2.0, 1, &tn);
            CHECK(st == CT_ENONFINITE, "error_if_nonfinite with %g: status %d", (double)bad[k],
                  st);
            CHECK(strstr(ct_errmsg(), "non-finite") || strstr(ct_errmsg(), "cannot be clipped"),
                  "message '%s'", ct_errmsg());
            CHECK(fixture_same(&x, &ref) && tn == 12345,
                  "error_if_nonfinite with %g modified something", (double)bad[k]);
        }
    /* With finite gradients error_if_nonfinite changes nothing. */
    fixture_init(&x);
    fixture y;
    fixture_init(&y);
    double t1 = 0, t2 = 0;
    CHECK(ct_clip_grad_norm(x.p, 2, 0.1, 2.0, 1, &t1) == CT_OK &&
              ct_clip_grad_norm(y.p, 2, 0.1, 2.0, 0, &t2) == CT_OK && t1 == t2 &&
              fixture_same(&x, &y),
          "error_if_nonfinite with finite gradients");
    /* total_norm may be NULL. */
    fixture_init(&x);
    CHECK(ct_clip_grad_norm(x.p, 2, 0.1, 2.0, 0, NULL) == CT_OK, "total_norm NULL");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s REFS_DIR\n", argv[0]);
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/clip/clip_cases.safetensors", argv[1]);
    ct_st_file f;
    ct_err e;
    if (ct_st_read_file(path, &f, &e)) {
        fprintf(stderr, "cannot read the reference (run tests/ref/gen_clip_refs.py %s): %s\n",
                argv[1], e.msg);
        return 1;
    }
    cJSON *cases = cJSON_Parse(ct_st_meta(&f, "cases"));
    int nc = cJSON_GetArraySize(cases);
    CHECK(nc >= 40, "only %d reference cases", nc);
    const cJSON *jc;
    cJSON_ArrayForEach(jc, cases) run_case(&f, jc);
    test_refusals();
    cJSON_Delete(cases);
    ct_st_free(&f);
    printf("test_clip: %d cases; max relative error: norms %.3g (vs torch float64), %.3g (vs "
           "torch float32), gradients %.3g\n",
           nc, max_norm_err, max_norm32_err, max_grad_err);
    return check_summary();
}
