/* examples/minimal — the smallest program using an installed ctrain.
 *
 * Minimises f(x) = 1/2 sum_i a_i (x_i - c_i)^2 with AdamW: the program
 * computes the gradient a_i (x_i - c_i), ctrain updates x. Every call's
 * status is checked; a failure prints ct_status_str and the handle's
 * message (ct_optim_errmsg), or ct_errmsg() when there is no handle yet.
 *
 * Build it against an installed ctrain with CMake (CMakeLists.txt here,
 * find_package(ctrain)) or with make and pkg-config (Makefile here).
 */
#include <stdio.h>
#include <stdlib.h>

#include <ctrain/ctrain.h>

#define N 4

static double loss_and_grad(const float *x, float *g)
{
    static const float a[N] = {1.0f, 2.0f, 0.5f, 4.0f};
    static const float c[N] = {1.0f, -2.0f, 3.0f, 0.5f};
    double f = 0;
    for (int i = 0; i < N; i++) {
        float d = x[i] - c[i];
        f += 0.5 * a[i] * d * d;
        g[i] = a[i] * d;
    }
    return f;
}

static int check(ct_status st, const ct_optim *opt, const char *what)
{
    if (st == CT_OK)
        return 0;
    fprintf(stderr, "%s failed: %s: %s\n", what, ct_status_str(st),
            opt ? ct_optim_errmsg(opt) : ct_errmsg());
    return 1;
}

int main(void)
{
    float x[N] = {0}, g[N] = {0};
    ct_optim *opt = NULL;
    printf("ctrain %s: adamw on a quadratic\n", ct_version());

    if (check(ct_optim_create(&opt, "adamw", "lr=0.1 weight_decay=0"), NULL, "ct_optim_create"))
        return 1;

    ct_param p = {.data = x, .grad = g, .numel = N, .dtype = CT_F32};
    int bad = check(ct_optim_add_group(opt, &p, 1, NULL, NULL), opt, "ct_optim_add_group");

    /* An invalid option is refused with a message naming it. */
    ct_status st = ct_optim_set_options(opt, 0, "lr=-1");
    if (!bad && st == CT_OK) {
        fprintf(stderr, "lr=-1 was accepted\n");
        bad = 1;
    } else if (!bad) {
        printf("refused as expected: %s: %s\n", ct_status_str(st), ct_optim_errmsg(opt));
    }

    double first = 0, last = 0;
    for (int step = 0; !bad && step <= 50; step++) {
        last = loss_and_grad(x, g);
        if (step == 0)
            first = last;
        if (step % 10 == 0)
            printf("step %2d  loss %.6f\n", step, last);
        bad = check(ct_optim_step(opt), opt, "ct_optim_step");
    }
    ct_optim_destroy(opt);
    if (bad)
        return 1;
    if (!(last < 0.1 * first)) {
        fprintf(stderr, "the loss did not decrease: %.6f -> %.6f\n", first, last);
        return 1;
    }
    printf("ok: loss %.6f -> %.6f\n", first, last);
    return 0;
}
