/* PLACEHOLDER: schedules are being implemented. */
#include <stdlib.h>

#include "../core/error.h"
#include "ctrain/sched.h"

ct_status ct_sched_create(ct_sched **out, ct_optim *opt, const char *kind, const char *options)
{
    (void)opt, (void)kind, (void)options;
    if (out)
        *out = NULL;
    return ct_fail(NULL, CT_EUNSUPPORTED, "schedules are not implemented yet");
}
ct_status ct_sched_create_sequential(ct_sched **out, ct_optim *opt, ct_sched *const *children,
                                     size_t n, const int64_t *milestones)
{
    (void)opt, (void)children, (void)n, (void)milestones;
    if (out)
        *out = NULL;
    return ct_fail(NULL, CT_EUNSUPPORTED, "schedules are not implemented yet");
}
ct_status ct_sched_step(ct_sched *s) { (void)s; return CT_EUNSUPPORTED; }
ct_status ct_sched_step_metric(ct_sched *s, double m) { (void)s, (void)m; return CT_EUNSUPPORTED; }
ct_status ct_sched_last_lr(const ct_sched *s, size_t g, double *lr)
{
    (void)s, (void)g, (void)lr;
    return CT_EUNSUPPORTED;
}
ct_status ct_sched_last_epoch(const ct_sched *s, int64_t *e) { (void)s, (void)e; return CT_EUNSUPPORTED; }
const char *ct_sched_errmsg(const ct_sched *s) { (void)s; return ""; }
void ct_sched_destroy(ct_sched *s) { (void)s; }
