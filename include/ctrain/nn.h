/* ctrain — models: a Sequential list of layers over one flat parameter buffer.
 *
 * A model is built layer by layer from a kind name and an option string, as
 * optimizers are ("conv2d", "out_channels=16 kernel_size=3 padding=1").
 * Option names and defaults are torch.nn's; in_features / in_channels /
 * num_features may be left out and are then inferred from the shape of the
 * previous layer, which ct_model_add checks as it goes (a mismatch is
 * refused with a message naming the layer).
 *
 * Layers (torch.nn class, options):
 *   linear       Linear       in_features out_features bias=true
 *   conv1d       Conv1d       in_channels out_channels kernel_size stride=1 padding=0
 *                             dilation=1 groups=1 bias=true
 *   conv2d       Conv2d       same; kernel_size, stride, padding, dilation are
 *                             "k" or "kh,kw"
 *   maxpool2d    MaxPool2d    kernel_size stride=kernel_size padding=0
 *   avgpool2d    AvgPool2d    kernel_size stride=kernel_size padding=0
 *   adaptive_avgpool2d AdaptiveAvgPool2d output_size ("h" or "h,w")
 *   batchnorm1d  BatchNorm1d  num_features eps=1e-5 momentum=0.1 affine=true
 *   batchnorm2d  BatchNorm2d  same
 *   layernorm    LayerNorm    normalized_shape (last dim) eps=1e-5 elementwise_affine=true
 *   groupnorm    GroupNorm    num_groups num_channels eps=1e-5 affine=true
 *   dropout      Dropout      p=0.5
 *   embedding    Embedding    num_embeddings embedding_dim; the input holds
 *                             indices as floats (0, 1, 2, ...): [..., L] -> [..., L, D]
 *   flatten      Flatten      start_dim=1
 *   relu leaky_relu(negative_slope=0.01) gelu silu sigmoid tanh
 *   softmax(dim=1) log_softmax(dim=1)  identity
 *   residual     (skip)       layers=1: the next `layers` layers form a block
 *                             whose input is added to its output (shapes must
 *                             match). It has no parameters and keeps the flat
 *                             numbering, so the torch equivalent is a
 *                             Sequential whose forward adds the skip.
 *
 * Memory (as llm.c): every parameter is a slice of one float buffer and its
 * gradient the same slice of one gradient buffer; buffers that are not
 * parameters (batch norm running statistics) live in a third. Parameter
 * tensors are named as torch.nn.Sequential's state_dict ("0.weight",
 * "3.bias", "1.running_mean"), so checkpoints load into the equivalent
 * torch.nn.Sequential with load_state_dict.
 *
 * Thread safety: a model is used by one thread at a time.
 */
#ifndef CTRAIN_NN_H
#define CTRAIN_NN_H

#include <stddef.h>
#include <stdint.h>

#include "optim.h"
#include "status.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_model ct_model;

/* Creates an empty Sequential whose input samples have the given shape
 * (without the batch dimension, e.g. {1, 8, 8}). */
ct_status ct_model_create(ct_model **out, int ndim, const int64_t *sample_shape);
void ct_model_destroy(ct_model *m);
/* The message of the last failed call on m. */
const char *ct_model_errmsg(const ct_model *m);

/* Appends a layer. Fails, leaving the model unchanged, on an unknown kind
 * or option, an out-of-range value, a shape that does not fit the previous
 * layer, or after ct_model_build. */
ct_status ct_model_add(ct_model *m, const char *kind, const char *options);
/* The name of the i-th layer kind ctrain knows, or NULL past the last. */
const char *ct_layer_kind_name(size_t i);

/* Allocates the flat buffers and initialises the parameters as torch.nn's
 * reset_parameters does (kaiming_uniform(a=sqrt(5)) weights and
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) biases for linear and convolutions;
 * ones and zeros for norms; N(0,1) for embeddings), drawing from a
 * counter-based stream keyed by seed (not torch's generator). */
ct_status ct_model_build(ct_model *m, uint64_t seed);

size_t ct_model_num_layers(const ct_model *m);
/* Per-sample output shape of the model (or of layer i with ct_model_layer_shape). */
int ct_model_output_shape(const ct_model *m, int64_t *shape);
/* "Conv2d(1, 16, kernel_size=(3, 3), padding=(1, 1))"-style summary of layer i. */
const char *ct_model_layer_str(const ct_model *m, size_t i, char *buf, size_t cap);

/* Parameter tensors, in state_dict order. */
size_t ct_model_num_params(const ct_model *m);
/* Parameter i: its name ("0.weight") and a tensor whose data and grad point
 * into the flat buffers. */
ct_status ct_model_param(ct_model *m, size_t i, const char **name, ct_tensor *t);
/* The flat buffers (element counts into *n). */
float *ct_model_params(ct_model *m, size_t *n);
float *ct_model_grads(ct_model *m, size_t *n);
void ct_model_zero_grad(ct_model *m);

/* Forward pass of a batch x [N, sample_shape...] in graph g; the model's
 * parameters get gradients through ct_backward. NULL on failure (the
 * graph's message says why). Uses g's training mode (dropout, batch norm). */
ct_tensor *ct_model_forward(ct_model *m, ct_graph *g, ct_tensor *x);

/* Registers every parameter with opt in two groups: group 0 the weights
 * (tensors of 2 or more dimensions) with decay_options, group 1 the biases
 * and norm weights (1 dimension) with no_decay_options (for example
 * "weight_decay=0"). A group with no parameters is not added. */
ct_status ct_model_add_to_optim(ct_model *m, ct_optim *opt, const char *decay_options,
                                const char *no_decay_options);

/* Saves parameters and buffers as safetensors (torch.save-compatible names;
 * num_batches_tracked as I64), with optional metadata (n key/value pairs),
 * written atomically. The _mem variant returns a buffer to free with ct_free. */
ct_status ct_model_save(ct_model *m, const char *path, const char *const *meta_keys,
                        const char *const *meta_vals, size_t n_meta);
ct_status ct_model_save_mem(ct_model *m, void **buf, size_t *len, const char *const *meta_keys,
                            const char *const *meta_vals, size_t n_meta);
/* Loads a file written by ct_model_save (or torch's safetensors.torch.save_file
 * of the equivalent Sequential's state_dict). Every tensor must be present
 * with the same shape and dtype F32 (I64 for num_batches_tracked), and no
 * other tensor may be present; otherwise nothing is modified. */
ct_status ct_model_load(ct_model *m, const char *path);
ct_status ct_model_load_mem(ct_model *m, const void *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
