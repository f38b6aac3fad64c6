/* ctrain — float32 tensors and reverse-mode automatic differentiation.
 *
 * A tensor is a view: a data pointer, a shape and strides (in elements, as
 * ggml's ne/nb and torch's stride()), plus an optional gradient pointer with
 * the same layout. Tensors made by operations live in a graph (ct_graph):
 * an arena for their storage and a tape of the operations that made them.
 * ct_backward walks the tape in reverse and accumulates (+=) gradients into
 * every tensor that has a grad buffer, so a model's parameters, whose data
 * and grad point into one flat buffer each (as llm.c), collect their
 * gradients where the optimizer engine reads them.
 *
 *   ct_graph *g;  ct_graph_create(&g);
 *   for (each batch) {
 *       ct_graph_reset(g);                          // frees the arena, not its memory
 *       ct_tensor *x = ct_tensor_from(g, xb, 2, (int64_t[]){B, 64}, 0);
 *       ct_tensor *h = ct_relu(g, ct_linear(g, x, w1, b1));
 *       ct_tensor *loss = ct_cross_entropy(g, ct_linear(g, h, w2, b2), yb, NULL);
 *       if (!loss) { puts(ct_graph_errmsg(g)); ... }
 *       ct_backward(g, loss);
 *   }
 *
 * Errors are sticky, as a stream's: an operation that fails (bad shape,
 * out of memory) returns NULL and records its message in the graph; every
 * later operation on the graph, and any operation given a NULL input,
 * returns NULL without work until ct_graph_reset. So a whole forward pass
 * can be written without checks and checked once at the end.
 *
 * Broadcasting follows numpy/torch (trailing dimensions aligned, size 1
 * stretches). Operations accept strided inputs (views from transpose,
 * permute, slice); those that need contiguous memory copy through
 * ct_contiguous, which is itself differentiable.
 *
 * Determinism: every operation is deterministic; results do not depend on
 * timing. Random operations (dropout) draw from a counter-based generator
 * keyed by (graph seed, step, call index): no hidden global state.
 *
 * Thread safety: a graph is used by one thread at a time. GEMMs run on
 * OpenBLAS (its own threads).
 */
#ifndef CTRAIN_TENSOR_H
#define CTRAIN_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CT_MAX_DIMS 8

typedef struct ct_tensor {
    float *data;                    /* element (i0,..,in) at data[sum ik*stride[k]] */
    float *grad;                    /* NULL: no gradient flows into this tensor */
    int ndim;                       /* 0 (a scalar) .. CT_MAX_DIMS */
    int64_t shape[CT_MAX_DIMS];
    int64_t stride[CT_MAX_DIMS];    /* in elements */
    int64_t numel;
} ct_tensor;

typedef struct ct_graph ct_graph;

/* ---- graphs ---- */

/* Creates an empty graph (training mode, gradients on, seed 0). The first
 * graph of a process loads OpenBLAS (dlopen; CT_EIO if it cannot be
 * loaded), so programs that use only the optimizer engine or the data
 * pipeline never start its threads. */
ct_status ct_graph_create(ct_graph **out);
void ct_graph_destroy(ct_graph *g);
/* Threads of the matrix products (OpenBLAS's openblas_set_num_threads:
 * process-wide, as OpenBLAS is). */
ct_status ct_graph_set_blas_threads(ct_graph *g, int threads);
/* Forgets every tensor and tape entry made since the last reset and clears
 * the sticky error. Memory is kept (coalesced into one block), so a steady
 * training loop allocates nothing after its first step. */
void ct_graph_reset(ct_graph *g);
/* The status and message of the first failure since the last reset. */
ct_status ct_graph_status(const ct_graph *g);
const char *ct_graph_errmsg(const ct_graph *g);
/* With no_grad set, operations record nothing and make no grad buffers
 * (torch.no_grad). Returns the previous value. */
int ct_graph_set_no_grad(ct_graph *g, int no_grad);
/* Training mode (1, default) or evaluation mode (0): dropout is the
 * identity and batch norm uses its running statistics in evaluation. */
void ct_graph_set_training(ct_graph *g, int training);
int ct_graph_training(const ct_graph *g);
/* Key of the random streams: dropout masks depend on (seed, step, the
 * index of the random call since the last reset) only. */
void ct_graph_set_seed(ct_graph *g, uint64_t seed, uint64_t step);
/* Bytes of arena memory the graph holds. */
size_t ct_graph_memory(const ct_graph *g);

/* ---- tensors ---- */

/* A new contiguous tensor in the graph's arena, zero-filled; with
 * requires_grad, also a zeroed grad buffer (a leaf: its gradient is
 * accumulated by ct_backward). shape may be NULL when ndim is 0. */
ct_tensor *ct_tensor_new(ct_graph *g, int ndim, const int64_t *shape, int requires_grad);
/* Same, with the values copied from data (numel floats, row-major). */
ct_tensor *ct_tensor_from(ct_graph *g, const float *data, int ndim, const int64_t *shape,
                          int requires_grad);
/* A contiguous tensor over caller memory (not copied; grad may be NULL).
 * For parameters: data and grad pointing into a model's flat buffers. */
ct_tensor ct_tensor_wrap(float *data, float *grad, int ndim, const int64_t *shape);
int ct_tensor_is_contiguous(const ct_tensor *t);
/* Reads element at a flat row-major index (for tests and printing). */
float ct_tensor_get(const ct_tensor *t, int64_t i);

/* ---- views (share data and grad with their source; free) ---- */
ct_tensor *ct_reshape(ct_graph *g, ct_tensor *x, int ndim, const int64_t *shape); /* one -1 ok */
ct_tensor *ct_flatten(ct_graph *g, ct_tensor *x, int start_dim);  /* dims start.. into one */
ct_tensor *ct_transpose(ct_graph *g, ct_tensor *x, int d0, int d1);
ct_tensor *ct_permute(ct_graph *g, ct_tensor *x, const int *perm);
/* Elements start..end-1 (step 1) of dimension dim. */
ct_tensor *ct_slice(ct_graph *g, ct_tensor *x, int dim, int64_t start, int64_t end);
/* A contiguous copy if x is strided, else x itself. */
ct_tensor *ct_contiguous(ct_graph *g, ct_tensor *x);

/* ---- element-wise (broadcasting) ---- */
ct_tensor *ct_add(ct_graph *g, ct_tensor *a, ct_tensor *b);
ct_tensor *ct_sub(ct_graph *g, ct_tensor *a, ct_tensor *b);
ct_tensor *ct_mul(ct_graph *g, ct_tensor *a, ct_tensor *b);
ct_tensor *ct_div(ct_graph *g, ct_tensor *a, ct_tensor *b);
ct_tensor *ct_scale(ct_graph *g, ct_tensor *x, float s); /* s * x */
ct_tensor *ct_neg(ct_graph *g, ct_tensor *x);
ct_tensor *ct_exp(ct_graph *g, ct_tensor *x);
ct_tensor *ct_log(ct_graph *g, ct_tensor *x);
ct_tensor *ct_sqrt(ct_graph *g, ct_tensor *x);
ct_tensor *ct_pow(ct_graph *g, ct_tensor *x, float p);
ct_tensor *ct_relu(ct_graph *g, ct_tensor *x);
ct_tensor *ct_leaky_relu(ct_graph *g, ct_tensor *x, float slope);
ct_tensor *ct_sigmoid(ct_graph *g, ct_tensor *x);
ct_tensor *ct_tanh(ct_graph *g, ct_tensor *x);
ct_tensor *ct_gelu(ct_graph *g, ct_tensor *x); /* exact (erf) form, torch's default */
ct_tensor *ct_silu(ct_graph *g, ct_tensor *x);
/* torch.where(cond != 0, a, b); cond has no gradient. */
ct_tensor *ct_where(ct_graph *g, ct_tensor *cond, ct_tensor *a, ct_tensor *b);
/* Inverted dropout (torch.nn.functional.dropout): in training, each element
 * is zeroed with probability p and the others scaled by 1/(1-p); the identity
 * in evaluation. */
ct_tensor *ct_dropout(ct_graph *g, ct_tensor *x, float p);

/* ---- reductions ---- */
ct_tensor *ct_sum(ct_graph *g, ct_tensor *x);  /* all elements -> scalar */
ct_tensor *ct_mean(ct_graph *g, ct_tensor *x);
ct_tensor *ct_sum_dim(ct_graph *g, ct_tensor *x, int dim, int keepdim);
ct_tensor *ct_mean_dim(ct_graph *g, ct_tensor *x, int dim, int keepdim);
ct_tensor *ct_max_dim(ct_graph *g, ct_tensor *x, int dim, int keepdim); /* values; first max */

/* ---- linear algebra ---- */
/* a [..., M, K] @ b [K, N] or batched [B, M, K] @ [B, K, N] (sgemm). */
ct_tensor *ct_matmul(ct_graph *g, ct_tensor *a, ct_tensor *b);
/* torch.nn.functional.linear: x [..., in] W [out, in]^T + b [out] (b may be NULL). */
ct_tensor *ct_linear(ct_graph *g, ct_tensor *x, ct_tensor *w, ct_tensor *b);

/* ---- shape ---- */
ct_tensor *ct_concat(ct_graph *g, ct_tensor *const *xs, int n, int dim);
/* torch.index_select(x, dim, index) with n indices. */
ct_tensor *ct_index_select(ct_graph *g, ct_tensor *x, int dim, const int64_t *index, int64_t n);

/* ---- convolution and pooling (NCHW) ---- */
typedef struct ct_conv_args {
    int stride[2], padding[2], dilation[2];
    int groups;
} ct_conv_args;
/* torch.nn.functional.conv2d: x [N, C, H, W], w [O, C/groups, KH, KW], b [O]
 * or NULL. Lowered to im2col and one sgemm per group over the whole batch. */
ct_tensor *ct_conv2d(ct_graph *g, ct_tensor *x, ct_tensor *w, ct_tensor *b,
                     const ct_conv_args *a);
/* conv1d: x [N, C, L], w [O, C/groups, K]; uses args[.][1] (width). */
ct_tensor *ct_conv1d(ct_graph *g, ct_tensor *x, ct_tensor *w, ct_tensor *b,
                     const ct_conv_args *a);
/* max_pool2d / avg_pool2d (count_include_pad=True, floor mode). */
ct_tensor *ct_maxpool2d(ct_graph *g, ct_tensor *x, const int kernel[2], const int stride[2],
                        const int padding[2]);
ct_tensor *ct_avgpool2d(ct_graph *g, ct_tensor *x, const int kernel[2], const int stride[2],
                        const int padding[2]);
ct_tensor *ct_adaptive_avgpool2d(ct_graph *g, ct_tensor *x, int oh, int ow);

/* ---- normalisation ---- */
/* torch.nn.functional.batch_norm over dim 1 of x [N, C, ...]; weight, bias
 * [C] or NULL. In training, normalises with the batch statistics (biased
 * variance) and updates running_mean/var (may be NULL) with momentum and
 * the unbiased variance; in evaluation uses them. */
ct_tensor *ct_batch_norm(ct_graph *g, ct_tensor *x, ct_tensor *weight, ct_tensor *bias,
                         float *running_mean, float *running_var, float momentum, float eps);
/* layer_norm over the last dimension; weight, bias [D] or NULL. */
ct_tensor *ct_layer_norm(ct_graph *g, ct_tensor *x, ct_tensor *weight, ct_tensor *bias,
                         float eps);
/* group_norm: x [N, C, ...] in `groups` groups of channels. */
ct_tensor *ct_group_norm(ct_graph *g, ct_tensor *x, int groups, ct_tensor *weight,
                         ct_tensor *bias, float eps);

/* ---- softmax ---- */
ct_tensor *ct_softmax(ct_graph *g, ct_tensor *x, int dim);
ct_tensor *ct_log_softmax(ct_graph *g, ct_tensor *x, int dim);

/* ---- embedding ---- */
/* Rows of weight [V, D] picked by n indices: [n, D]. */
ct_tensor *ct_embedding(ct_graph *g, ct_tensor *weight, const int64_t *index, int64_t n);

/* ---- losses (scalar for mean/sum reductions) ---- */
typedef enum ct_reduction { CT_REDUCE_MEAN = 0, CT_REDUCE_SUM = 1, CT_REDUCE_NONE = 2 } ct_reduction;

typedef struct ct_ce_args {
    const float *class_weight; /* [C] or NULL */
    int64_t ignore_index;      /* torch default -100 */
    float label_smoothing;     /* in [0, 1] */
    ct_reduction reduction;
} ct_ce_args;
/* Defaults as torch: no weights, ignore_index -100, no smoothing, mean. */
ct_ce_args ct_ce_defaults(void);
/* torch.nn.functional.cross_entropy of logits [N, C] and class indices
 * target[N], or [N, C, d1, ...] and target [N, d1, ...] (args may be NULL
 * for the defaults). */
ct_tensor *ct_cross_entropy(ct_graph *g, ct_tensor *logits, const int64_t *target,
                            const ct_ce_args *args);
/* nll_loss of log-probabilities [N, C] (label_smoothing must be 0). */
ct_tensor *ct_nll_loss(ct_graph *g, ct_tensor *logp, const int64_t *target,
                       const ct_ce_args *args);
ct_tensor *ct_mse_loss(ct_graph *g, ct_tensor *x, ct_tensor *y, ct_reduction r);
ct_tensor *ct_l1_loss(ct_graph *g, ct_tensor *x, ct_tensor *y, ct_reduction r);
ct_tensor *ct_smooth_l1_loss(ct_graph *g, ct_tensor *x, ct_tensor *y, float beta, ct_reduction r);
ct_tensor *ct_huber_loss(ct_graph *g, ct_tensor *x, ct_tensor *y, float delta, ct_reduction r);
/* binary_cross_entropy(p, y) (log clamped at -100 as torch) and
 * binary_cross_entropy_with_logits(x, y, pos_weight [last dim] or NULL). */
ct_tensor *ct_bce_loss(ct_graph *g, ct_tensor *p, ct_tensor *y, ct_reduction r);
ct_tensor *ct_bce_with_logits_loss(ct_graph *g, ct_tensor *x, ct_tensor *y,
                                   const float *pos_weight, ct_reduction r);

/* Losses written as compositions of the ops above (autodiff does their
 * backward):
 * torchvision.ops.sigmoid_focal_loss (Lin et al. 2017, "Focal Loss for Dense
 * Object Detection", eq. 5): bce_with_logits(x, t) * (1 - p_t)^gamma, times
 * alpha_t = alpha t + (1 - alpha)(1 - t) when alpha >= 0. */
ct_tensor *ct_sigmoid_focal_loss(ct_graph *g, ct_tensor *x, ct_tensor *t, float alpha,
                                 float gamma, ct_reduction r);
/* torch.nn.functional.triplet_margin_loss with p = 2: anchor, positive,
 * negative [N, D]; max(|a - p + eps| - |a - n + eps| + margin, 0). */
ct_tensor *ct_triplet_margin_loss(ct_graph *g, ct_tensor *a, ct_tensor *p, ct_tensor *n,
                                  float margin, float eps, ct_reduction r);
/* torch.nn.functional.cosine_embedding_loss: x1, x2 [N, D], y [N] of +1/-1;
 * 1 - cos for y = 1, max(0, cos - margin) for y = -1. */
ct_tensor *ct_cosine_embedding_loss(ct_graph *g, ct_tensor *x1, ct_tensor *x2, ct_tensor *y,
                                    float margin, ct_reduction r);

/* ---- backward ---- */
/* Back-propagates from a scalar: adds d(loss)/d(t) into the grad buffer of
 * every tensor that has one. Fails (CT_ESTATE) after an error, under
 * no_grad, or if loss has no grad buffer. */
ct_status ct_backward(ct_graph *g, ct_tensor *loss);

#ifdef __cplusplus
}
#endif
#endif
