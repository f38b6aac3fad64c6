/* libFuzzer target: learning-rate schedules. Byte 0 picks the kind (or a
 * sequential schedule of a warmup and that kind), byte 1 the number of
 * steps, byte 2 the factor the lambda kinds' function returns (and when it
 * fails); the rest is the option text. Never a crash or undefined
 * behaviour (UBSan watches the integer and float arithmetic); a refused
 * create or step leaves the optimizer's lrs and momenta as they were; the
 * last lr is what the optimizer holds; a saved state loads back. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrain/ctrain.h"
#include "sched/sched_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_sched: contract broken: %s (%s)\n", what, ct_errmsg());
        abort();
    }
}

typedef struct view {
    double lr[2], mom[2];
} view;

static view look(ct_optim *o)
{
    view v;
    for (size_t g = 0; g < 2; g++) {
        double m[2];
        size_t n;
        ct_optim_get_lr(o, g, &v.lr[g]);
        v.mom[g] = ct_optim_get_option(o, g, "betas", m, 2, &n) ? 0 : m[0];
    }
    return v;
}

static int same(view a, view b) { return !memcmp(&a, &b, sizeof a); }

/* The lambda kinds' function: a factor from the input byte; fails at the
 * epoch the byte names when its top bit is set. */
static ct_status factor(void *ctx, ct_sched *s, size_t group, int64_t epoch, double *f)
{
    uint8_t b = *(const uint8_t *)ctx;
    if ((b & 0x80) && epoch == (b & 7)) {
        ct_sched_fail(s, "the fuzzer's function fails here");
        return CT_EIO;
    }
    *f = (double)(b & 0x7f) / 64.0 + (double)group * 0.01;
    return CT_OK;
}

static ct_status create(ct_sched **s, ct_optim *o, const char *kind, const char *text,
                        const uint8_t *fb)
{
    if (!strcmp(kind, "lambda") || !strcmp(kind, "multiplicative"))
        return ct_sched_create_lambda(s, o, kind, text, factor, (void *)fb);
    return ct_sched_create(s, o, kind, text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t nk = 0;
    while (ct_sched_kind_name(nk))
        nk++;
    int seq = data[0] >= nk && (data[0] / nk) % 2 == 1;
    const char *kind = ct_sched_kind_name(data[0] % nk);
    int steps = data[1] % 64;
    const uint8_t *fb = &data[2];
    char *text = malloc(size - 2);
    memcpy(text, data + 3, size - 3);
    text[size - 3] = 0;
    float w[8] = {0}, g[8] = {0}, b[3] = {0}, gb[3] = {0};
    ct_param p[2] = {{.data = w, .grad = g, .numel = 8, .dtype = CT_F32},
                     {.data = b, .grad = gb, .numel = 3, .dtype = CT_F32}};
    ct_optim *o = NULL;
    must(ct_optim_create(&o, "adam", "lr=0.01") == CT_OK &&
             ct_optim_add_group(o, &p[0], 1, NULL, NULL) == CT_OK &&
             ct_optim_add_group(o, &p[1], 1, "lr=0.003 betas=0.8,0.99", NULL) == CT_OK,
         "optimizer");
    view before = look(o);
    ct_sched *s = NULL, *parts[2] = {NULL, NULL};
    ct_status st;
    if (seq) {
        st = ct_sched_create(&parts[0], o, "linear", "start_factor=0.5 total_iters=3");
        must(st == CT_OK, "warmup child");
        st = create(&parts[1], o, kind, text, fb);
        if (st == CT_OK) {
            int64_t ms = 1 + data[1] % 5;
            st = ct_sched_create_sequential(&s, o, parts, 2, &ms);
            must((st == CT_OK) == (s != NULL), "sequential: out and status disagree");
        } else {
            ct_sched_destroy(parts[0]);
        }
    } else {
        st = create(&s, o, kind, text, fb);
        must((st == CT_OK) == (s != NULL), "create: out and status disagree");
        must(st != CT_OK || strlen(ct_sched_errmsg(s)) < CT_ERRMSG_CAP, "message");
    }
    if (st != CT_OK) {
        must(strlen(ct_errmsg()) > 0, "a refused create has a message");
        if (!seq)
            must(same(before, look(o)), "a refused create changed the optimizer");
        ct_optim_destroy(o);
        free(text);
        return 0;
    }
    int plateau = !seq && !strcmp(kind, "plateau");
    for (int t = 0; t < steps; t++) {
        view v = look(o);
        double metric = (double)(data[(3 + (size_t)t) % size] % 17) / 7.0;
        st = plateau ? ct_sched_step_metric(s, metric) : ct_sched_step(s);
        if (st != CT_OK) {
            must(strlen(ct_sched_errmsg(s)) > 0, "a refused step has a message");
            must(same(v, look(o)), "a refused step changed the optimizer");
            continue;
        }
        double last = 0, lr = 0;
        must(ct_sched_last_lr(s, 0, &last) == CT_OK && ct_optim_get_lr(o, 0, &lr) == CT_OK,
             "last_lr");
        must(last == lr || (isnan(last) && isnan(lr)), "last_lr is the optimizer's lr");
    }
    size_t n = 0;
    must(ct_sched_state_size(s, &n) == CT_OK && n > 0, "state size");
    double *state = malloc(n * sizeof *state);
    must(ct_sched_get_state(s, state, n) == CT_OK, "get_state");
    must(ct_sched_set_state(s, state, n) == CT_OK, "set_state of its own state");
    must(ct_sched_set_state(s, state, n - 1) == CT_EMISMATCH, "a short state");
    free(state);
    ct_sched_destroy(s);
    ct_optim_destroy(o);
    free(text);
    return 0;
}
