/* PLACEHOLDER: clipping is being implemented. */
#include "../core/error.h"
#include "ctrain/clip.h"

ct_status ct_clip_grad_norm(const ct_param *p, size_t n, double m, double t, int e, double *tn)
{
    (void)p, (void)n, (void)m, (void)t, (void)e, (void)tn;
    return ct_fail(NULL, CT_EUNSUPPORTED, "clipping is not implemented yet");
}
ct_status ct_clip_grad_value(const ct_param *p, size_t n, double c)
{
    (void)p, (void)n, (void)c;
    return ct_fail(NULL, CT_EUNSUPPORTED, "clipping is not implemented yet");
}
ct_status ct_clip_agc(const ct_param *p, size_t n, double c, double e)
{
    (void)p, (void)n, (void)c, (void)e;
    return ct_fail(NULL, CT_EUNSUPPORTED, "clipping is not implemented yet");
}
