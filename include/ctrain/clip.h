/* ctrain — gradient clipping on the gradients of a list of parameters.
 *
 * These work on ct_param arrays (only .grad, .data, .numel and the shape
 * are read), so they apply to any buffers, registered with an optimizer or
 * not. Results are deterministic: sums run in a fixed order. On failure no
 * gradient is modified and ct_errmsg() says why.
 */
#ifndef CTRAIN_CLIP_H
#define CTRAIN_CLIP_H

#include <stddef.h>

#include "optim.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* torch.nn.utils.clip_grad_norm_: the norm of all gradients together
 * (norm_type p > 0, or INFINITY for the max norm) goes to *total_norm
 * (may be NULL); if it exceeds max_norm every gradient is scaled by
 * max_norm / (total_norm + 1e-6). Parameters whose grad is NULL are
 * ignored. If error_if_nonfinite and the norm is NaN or infinite, returns
 * CT_ENONFINITE and modifies nothing. */
ct_status ct_clip_grad_norm(const ct_param *params, size_t n, double max_norm, double norm_type,
                            int error_if_nonfinite, double *total_norm);

/* torch.nn.utils.clip_grad_value_: clamps every gradient element to
 * [-clip_value, clip_value]. */
ct_status ct_clip_grad_value(const ct_param *params, size_t n, double clip_value);

/* Adaptive gradient clipping (Brock et al. 2021, "High-Performance
 * Large-Scale Image Recognition Without Normalization", Section 4.1):
 * unit-wise (per output row: shape[0] units for ndim >= 2, the whole
 * tensor otherwise), a gradient whose norm exceeds
 * clipping * max(|param unit|, eps) is scaled down to that bound.
 * Typical clipping 0.01, eps 1e-3. */
ct_status ct_clip_agc(const ct_param *params, size_t n, double clipping, double eps);

#ifdef __cplusplus
}
#endif
#endif
