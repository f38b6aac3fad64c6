/* ctrain — weight averaging: SWA and EMA copies of parameters, with the
 * arithmetic of torch.optim.swa_utils.AveragedModel.update_parameters.
 *
 * A handle counts the updates (torch's n_averaged); the caller owns both
 * the parameters and the averaged copy, as plain buffers. Each
 * ct_avg_update(a, avg, cur, n) does, for every pair of tensors:
 *   first update   avg = cur                      (torch copies)
 *   "swa"          avg = avg + (cur - avg) / (n_averaged + 1)
 *                  (AveragedModel's default on CPU, get_swa_avg_fn; the
 *                  count is rounded to the tensor's type, as torch does)
 *   "ema"          avg = lerp(avg, cur, 1 - decay)
 *                  (multi_avg_fn=get_ema_multi_avg_fn(decay); torch's lerp:
 *                  a + w(c - a) for w < 0.5, else c - (c - a)(1 - w), each
 *                  a fused multiply-add)
 * and then adds one to the count. Results are torch's to the bit for
 * float32 and float64 tensors (tests/python/test_average.py).
 *
 * Options (text, "key=value"): decay=0.999 for "ema", in [0, 1].
 * Thread safety: one thread at a time per handle. An update touches each
 * element once (memory-bound), on ct_avg_set_threads threads (default 1;
 * below 65,536 elements on the calling thread alone); every element is
 * computed alone, so the bits do not depend on the thread count.
 */
#ifndef CTRAIN_AVERAGE_H
#define CTRAIN_AVERAGE_H

#include <stddef.h>
#include <stdint.h>

#include "optim.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_avg ct_avg;

/* kind: "swa" or "ema". On failure *out is NULL and ct_errmsg() says why. */
ct_status ct_avg_create(ct_avg **out, const char *kind, const char *options);

/* One update over n tensor pairs: avg[i].data is averaged towards
 * cur[i].data (same numel, same dtype, CT_F32 or CT_F64; .grad is not
 * read). Every pair is checked before anything is written; on failure
 * nothing changes. */
ct_status ct_avg_update(ct_avg *a, const ct_param *avg, const ct_param *cur, size_t n);

/* Updates so far (torch's n_averaged), and setting it when resuming from a
 * checkpoint (>= 0) together with the averaged buffers. */
ct_status ct_avg_count(const ct_avg *a, int64_t *n_averaged);
ct_status ct_avg_set_count(ct_avg *a, int64_t n_averaged);

/* Threads an update uses (>= 1; default 1). */
ct_status ct_avg_set_threads(ct_avg *a, int threads);

const char *ct_avg_errmsg(const ct_avg *a);
void ct_avg_destroy(ct_avg *a);

#ifdef __cplusplus
}
#endif
#endif
