/* Builds the schedules a reference file's "sched" metadata describes
 * (written by tests/ref/gen_optim_refs.py from tests/ref/cases_sched.py),
 * shared by test_sched.c and test_optim_ref.c:
 *   {kind, options}                     one schedule (ct_sched_create)
 *   {kind: lambda|multiplicative, fn, options}
 *                                       LambdaLR / MultiplicativeLR with the
 *                                       factor functions named fn (below)
 *   [s, s, ...]                         several stepped in order
 *                                       (torch's ChainedScheduler)
 *   {kind: sequential, children: [...], milestones: [...]}   SequentialLR
 */
#ifndef CT_TESTS_SCHED_REFS_H
#define CT_TESTS_SCHED_REFS_H

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ctrain/ctrain.h"

#define MAX_SCHEDS 8

/* The factor functions of cases_sched.py's FACTORS, written with the same
 * operations in the same order (Python floats are C doubles). */
static double f_warmup10_linear100(int64_t e)
{
    return e < 10 ? (double)e / 10 : fmax(0.0, (double)(100 - e) / 90);
}
static double f_exp95(int64_t e) { return pow(0.95, (double)e); }
static double f_inv_sqrt(int64_t e) { return 1 / sqrt((double)(e + 1)); }
static double f_mod3(int64_t e) { return e % 3 ? 0.95 : 0.8; }
static double f_const97(int64_t e) { return (void)e, 0.97; }

/* A named set of factor functions, one per param group (cases use 2). */
typedef struct factor_set {
    const char *name;
    double (*fn[2])(int64_t);
} factor_set;

static const factor_set factor_sets[] = {
    {"warmup10_linear100+exp95", {f_warmup10_linear100, f_exp95}},
    {"inv_sqrt", {f_inv_sqrt, f_inv_sqrt}},
    {"mod3", {f_mod3, f_mod3}},
    {"const97", {f_const97, f_const97}},
    {"warmup10_linear100", {f_warmup10_linear100, f_warmup10_linear100}},
    {"exp95", {f_exp95, f_exp95}},
};

static ct_status ref_factor(void *ctx, ct_sched *s, size_t group, int64_t epoch, double *factor)
{
    const factor_set *set = ctx;
    if (group >= 2) {
        ct_sched_fail(s, "the reference factor sets have 2 groups");
        return CT_EINVAL;
    }
    *factor = set->fn[group](epoch);
    return CT_OK;
}

/* Creates the schedule(s) of js into s[]; returns how many, or -1 (with
 * the reason printed). */
static int make_scheds(ct_optim *o, const cJSON *js, ct_sched **s)
{
    if (cJSON_IsArray(js)) {
        int n = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, js) {
            if (n == MAX_SCHEDS || make_scheds(o, it, &s[n]) != 1)
                return -1;
            n++;
        }
        return n;
    }
    const char *kind = cJSON_GetObjectItem(js, "kind")->valuestring;
    if (!strcmp(kind, "sequential")) {
        ct_sched *ch[MAX_SCHEDS];
        int64_t ms[MAX_SCHEDS];
        int n = 0, m = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(js, "children")) {
            if (n == MAX_SCHEDS || make_scheds(o, it, &ch[n]) != 1)
                return -1;
            n++;
        }
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(js, "milestones")) {
            if (m < MAX_SCHEDS)
                ms[m++] = (int64_t)it->valuedouble;
        }
        if (ct_sched_create_sequential(s, o, ch, (size_t)n, ms)) {
            fprintf(stderr, "ct_sched_create_sequential: %s\n", ct_errmsg());
            return -1;
        }
        return 1;
    }
    const char *options = cJSON_GetObjectItem(js, "options")->valuestring;
    const cJSON *fn = cJSON_GetObjectItem(js, "fn");
    ct_status st;
    if (fn) {
        const factor_set *set = NULL;
        for (size_t i = 0; i < sizeof factor_sets / sizeof *factor_sets; i++)
            if (!strcmp(factor_sets[i].name, fn->valuestring))
                set = &factor_sets[i];
        if (!set) {
            fprintf(stderr, "no factor set '%s' in tests/sched_refs.h\n", fn->valuestring);
            return -1;
        }
        st = ct_sched_create_lambda(s, o, kind, options, ref_factor, (void *)set);
    } else {
        st = ct_sched_create(s, o, kind, options);
    }
    if (st) {
        fprintf(stderr, "creating schedule '%s' '%s': %s\n", kind, options, ct_errmsg());
        return -1;
    }
    return 1;
}

#endif
