/* ctrain — the optimizer engine.
 *
 * An optimizer (ct_optim) updates plain buffers in place. The caller owns the
 * parameter and gradient memory; the optimizer owns its state. Parameters are
 * registered in groups, each group with its own hyperparameters, exactly as
 * torch.optim's param_groups. Any slice of a larger buffer can be a parameter,
 * so one flat model allocation can be split into groups (e.g. no weight decay
 * on biases and norms) or into shards.
 *
 * Optimizers (names as given to ct_optim_create) and their options follow
 * torch.optim, with tuples spelled as comma lists ("betas=0.9,0.999"):
 *   sgd adam adamw adagrad rmsprop adadelta adamax nadam radam rprop asgd
 *   lamb lars lion adafactor
 * Lookahead wraps any of them (ct_optim_enable_lookahead). docs/optimizers.md
 * lists every option with its default, range and formula source.
 *
 * Options are given as text, "key=value" pairs separated by spaces:
 *   "lr=1e-3 betas=0.9,0.999 weight_decay=0.01 amsgrad=true"
 * Booleans accept true/false/1/0. Unknown keys and out-of-range values are
 * refused with a message naming the key, the value and the allowed range.
 *
 * Every optimizer also takes the engine's precision options (per group):
 *   state_dtype=fp32|bf16|int8   storage of the state (bf16 and int8: sgd,
 *                                adam, adamw, lion, adagrad, rmsprop); int8 is
 *                                blockwise 8-bit (Dettmers et al. 2022)
 *   min_8bit_size=4096           smaller tensors keep fp32 state under int8
 *   master_weights=false         fp32 master copy of bf16/fp16 parameters
 *   stochastic_rounding=false    bf16 state and parameters rounded
 *   seed=0                       stochastically, keyed by seed and index
 * Groups with bf16 or 8-bit state have no float32 state buffers
 * (ct_optim_state_buffer refuses them); ct_optim_save keeps them exactly.
 *
 * Thread safety: a handle may be used from any thread, but by one thread at a
 * time. Distinct handles are independent. The engine has no global state.
 */
#ifndef CTRAIN_OPTIM_H
#define CTRAIN_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_optim ct_optim;

/* Element types of parameters and gradients. CT_BF16 and CT_F16 are
 * supported by the one-pass optimizers (not lamb, lars, adafactor; not with
 * Lookahead): the step converts to fp32, updates with the optimizer's fp32
 * kernel and writes the parameter back rounded to nearest even (option
 * stochastic_rounding=true: stochastically, bf16 only), or, with option
 * master_weights=true, updates an fp32 master copy the engine keeps (state
 * "master") and writes its rounding. Others are refused with
 * CT_EUNSUPPORTED. */
typedef enum ct_dtype { CT_F32 = 0, CT_BF16 = 1, CT_F16 = 2, CT_F64 = 3 } ct_dtype;

/* One parameter tensor: a contiguous run of numel elements. */
typedef struct ct_param {
    void *data;       /* values, updated in place by ct_optim_step */
    void *grad;       /* gradient of the same size and dtype; NULL means the
                         parameter has no gradient and is skipped by a step */
    size_t numel;     /* element count, > 0 */
    int32_t dtype;    /* a ct_dtype */
    int32_t ndim;     /* 0..8; 0 means a flat vector of numel elements */
    int64_t shape[8]; /* the first ndim entries; their product is numel.
                         Only factored optimizers (adafactor) look at it. */
} ct_param;

/* What a step does when a gradient holds NaN or infinity. The check reads
 * every gradient before anything is written, so parameters and state are
 * never touched by a step that sees a non-finite gradient.
 *   CT_NONFINITE_ERROR: nothing is updated; the step returns CT_ENONFINITE
 *                       naming the group, parameter and index (default).
 *   CT_NONFINITE_SKIP:  nothing is updated; the step returns CT_OK and the
 *                       skip is counted (ct_optim_skipped_steps), as AMP's
 *                       GradScaler skips steps with inf/NaN gradients.
 *   CT_NONFINITE_NONE:  no check, as torch.optim: NaN propagates. */
typedef enum ct_nonfinite_policy {
    CT_NONFINITE_ERROR = 0,
    CT_NONFINITE_SKIP = 1,
    CT_NONFINITE_NONE = 2
} ct_nonfinite_policy;

/* The name of the i-th optimizer ctrain knows, or NULL past the last. */
const char *ct_optim_kind_name(size_t i);

/* Creates an optimizer by name with default options for its groups
 * (overrides of the optimizer's defaults; may be NULL or ""). On failure
 * *out is NULL and ct_errmsg() says why. */
ct_status ct_optim_create(ct_optim **out, const char *name, const char *options);

/* Frees the optimizer and its state. NULL is a no-op. */
void ct_optim_destroy(ct_optim *opt);

/* The message of the last failed call on this handle, "" if none. */
const char *ct_optim_errmsg(const ct_optim *opt);

/* The optimizer's name as given to ct_optim_create. */
const char *ct_optim_name(const ct_optim *opt);

/* Adds a group of n parameters whose options are the optimizer's defaults
 * overridden by `options` (may be NULL). The params array is copied; the
 * buffers it points to must outlive the optimizer or be replaced. State is
 * allocated here, zeroed, and initialised at each parameter's first step, so
 * a step never allocates. *group_index (may be NULL) receives the new group's
 * index. Refused if a parameter is already registered in any group. */
ct_status ct_optim_add_group(ct_optim *opt, const ct_param *params, size_t n,
                             const char *options, size_t *group_index);

size_t ct_optim_num_groups(const ct_optim *opt);
/* Number of parameters in a group (0 for an unknown group). */
size_t ct_optim_group_size(const ct_optim *opt, size_t group);

/* Changes options of one group ("lr=0.1 momentum=0.9"). All or nothing:
 * on failure the group keeps its previous options. Options that change the
 * shape of the state (amsgrad, momentum from or to zero, centered, ...)
 * are refused once any parameter of the group holds state. */
ct_status ct_optim_set_options(ct_optim *opt, size_t group, const char *options);

/* Reads an option of a group: up to cap values into values, the count of
 * values of the option into *count (1, or 2 for pairs such as betas). */
ct_status ct_optim_get_option(const ct_optim *opt, size_t group, const char *key,
                              double *values, size_t cap, size_t *count);

/* Learning rate of a group: what schedules read and write. */
ct_status ct_optim_set_lr(ct_optim *opt, size_t group, double lr);
ct_status ct_optim_get_lr(const ct_optim *opt, size_t group, double *lr);

/* Points parameter `index` of `group` at new data and gradient buffers of
 * the same size (grad may be NULL). State is kept. */
ct_status ct_optim_set_buffers(ct_optim *opt, size_t group, size_t index,
                               void *data, void *grad);

/* Performs one update of every parameter that has a gradient. */
ct_status ct_optim_step(ct_optim *opt);

/* Same, with the gradient pointer of every parameter given in one table of
 * n entries in registration order (group 0 first), NULL for "no gradient".
 * n must equal the total parameter count. The pointers are kept for later
 * steps and ct_optim_zero_grad. This is the one call a framework makes per
 * step, whatever its number of tensors. */
ct_status ct_optim_step_grads(ct_optim *opt, void *const *grads, size_t n);

/* Same, with both the data and the gradient pointer of every parameter
 * (data entries must not be NULL): for frameworks whose tensors may move
 * between steps. The pointers are kept. */
ct_status ct_optim_step_buffers(ct_optim *opt, void *const *data, void *const *grads, size_t n);

/* Sets every registered gradient buffer to zero. */
ct_status ct_optim_zero_grad(ct_optim *opt);

/* Threads used by a step (>= 1; default 1). Results are bit-identical for
 * every thread count. */
ct_status ct_optim_set_threads(ct_optim *opt, int threads);

/* SIMD level of the elementwise kernels. Every level gives the scalar
 * reference's bits (same operations, same rounding), only faster. An
 * optimizer starts at the level named by the environment variable
 * CTRAIN_SIMD (scalar, avx2 or avx512; ct_optim_create fails if the CPU
 * lacks it or the name is unknown), else at the best level of the CPU.
 * Kinds without a SIMD kernel (lamb, lars, rprop, adafactor, the
 * multi-pass ones) run their scalar kernel at every level. */
typedef enum ct_simd_level {
    CT_SIMD_AUTO = -1, /* CTRAIN_SIMD if set, else the best supported */
    CT_SIMD_SCALAR = 0,
    CT_SIMD_AVX2 = 1,  /* AVX2 and FMA, 8 lanes */
    CT_SIMD_AVX512 = 2 /* AVX-512F, 16 lanes */
} ct_simd_level;

/* Is the level supported by this CPU and OS (1) or not (0)? */
int ct_simd_supported(int level);
/* The highest supported level. */
int ct_simd_best(void);
/* "scalar", "avx2", "avx512"; NULL for an unknown level. */
const char *ct_simd_name(int level);
/* Sets the level of an optimizer's steps; a level the CPU lacks is
 * refused with CT_EUNSUPPORTED. */
ct_status ct_optim_set_simd(ct_optim *opt, int level);
ct_status ct_optim_get_simd(const ct_optim *opt, int *level);

/* Multiplies every gradient by scale (rounded to float32) as part of the
 * next steps, e.g. the clip coefficient of ct_clip_grad_norm computed
 * beforehand: the step updates exactly as if the gradients had been
 * multiplied first, and the gradient buffers hold the scaled values
 * afterwards (as torch.nn.utils.clip_grad_norm_ leaves them). The
 * multiplication is done chunk by chunk inside the step's pass, while the
 * chunk is in cache. The non-finite check tests the scaled values. scale
 * must be finite and >= 0; 1 (the default) turns it off. It stays in
 * effect until changed. */
ct_status ct_optim_set_grad_scale(ct_optim *opt, double scale);

/* on != 0: each step sets the gradients it used to zero, in the same pass
 * (ct_optim_zero_grad fused into the step). A step that is refused or
 * skipped for a non-finite gradient writes nothing, gradients included. */
ct_status ct_optim_set_zero_grad_after_step(ct_optim *opt, int on);

/* A step over fewer than `elements` parameter elements in all runs on the
 * calling thread alone, since waking the other threads would cost more than
 * they save (default 65536; 0 always uses every thread). Results do not
 * depend on it. */
ct_status ct_optim_set_serial_below(ct_optim *opt, size_t elements);

ct_status ct_optim_set_nonfinite_policy(ct_optim *opt, ct_nonfinite_policy policy);
/* Steps skipped so far under CT_NONFINITE_SKIP. */
ct_status ct_optim_skipped_steps(const ct_optim *opt, uint64_t *count);

/* Wraps the optimizer in Lookahead (Zhang et al. 2019, "Lookahead Optimizer:
 * k steps forward, 1 step back", Algorithm 1): every k steps the slow
 * weights move alpha of the way to the fast weights and the fast weights are
 * reset to them. k >= 1, alpha in [0, 1]. Must be called before any
 * parameter is added. */
ct_status ct_optim_enable_lookahead(ct_optim *opt, int k, double alpha);
/* Lookahead's counter of a group: steps since its last sync, in [0, k-1]
 * (pytorch-optimizer keeps it as the group's 'counter'). Setting it needs
 * lookahead enabled; CT_EINVAL outside [0, k-1]. */
ct_status ct_optim_get_lookahead_counter(const ct_optim *opt, size_t group, int64_t *counter);
ct_status ct_optim_set_lookahead_counter(ct_optim *opt, size_t group, int64_t counter);

/* State introspection, for front ends that expose state as tensors sharing
 * memory with the engine. Buffers are named as in torch.optim ("exp_avg",
 * "momentum_buffer", ...). */
ct_status ct_optim_state_count(const ct_optim *opt, size_t group, size_t index,
                               size_t *count);
ct_status ct_optim_state_buffer(ct_optim *opt, size_t group, size_t index, size_t i,
                                const char **name, float **data, size_t *numel);
/* The same for float32 and bfloat16 state (state_dtype=bf16): *data is the
 * buffer, *dtype CT_F32 or CT_BF16. 8-bit state (codes plus a scale per
 * block) is no single tensor: CT_EUNSUPPORTED. Any output may be NULL. */
ct_status ct_optim_state_view(ct_optim *opt, size_t group, size_t index, size_t i,
                              const char **name, void **data, size_t *numel, int *dtype);
/* How a state buffer is stored (state_dtype): float32, bfloat16, or 8-bit
 * blockwise codes of the dynamic map with a float32 scale per 256-element
 * block (Dettmers et al. 2022). */
typedef enum ct_state_storage {
    CT_STATE_F32 = 0,
    CT_STATE_BF16 = 1,
    CT_STATE_Q8 = 2
} ct_state_storage;
/* Name, element count and storage (a ct_state_storage) of state buffer i
 * of a parameter, whatever its storage. Any output may be NULL. */
ct_status ct_optim_state_info(const ct_optim *opt, size_t group, size_t index, size_t i,
                              const char **name, size_t *numel, int *storage);
/* 8-bit state: views of its codes (numel bytes) and of its scales
 * (nblocks = ceil(numel / 256) floats), sharing the engine's memory. Other
 * storage: CT_EUNSUPPORTED. Any output may be NULL. */
ct_status ct_optim_state_q8_view(ct_optim *opt, size_t group, size_t index, size_t i,
                                 const char **name, uint8_t **codes, size_t *numel,
                                 float **absmax, size_t *nblocks);
/* Copies state buffer i out as numel float32 values whatever its storage
 * (bfloat16 widened, 8-bit codes dequantized: map[code] * scale), e.g. to
 * hand it to a framework that keeps float32 state. */
ct_status ct_optim_state_read(ct_optim *opt, size_t group, size_t index, size_t i,
                              float *out, size_t numel);
/* Sets state buffer i from numel float32 values, stored as the buffer is
 * (bfloat16 rounded to nearest even; 8-bit quantized blockwise as a step
 * quantizes). 8-bit state refuses non-finite values, and negative ones
 * where its map is unsigned (second moments), with nothing written. Reading
 * 8-bit state and writing it back keeps its values within the quantization
 * error, not bit for bit (a block whose largest magnitude is negative holds
 * it as -0.993 times its scale, the signed map's lowest entry, so the scale
 * written back is smaller); to copy 8-bit state exactly, copy its codes and
 * scales (ct_optim_state_q8_view). A state
 * written before the parameter's first step is used only if its step is
 * then set above 0 (ct_optim_set_step); otherwise the first step starts
 * from zero state, as torch.optim does. */
ct_status ct_optim_state_write(ct_optim *opt, size_t group, size_t index, size_t i,
                               const float *in, size_t numel);
/* Steps taken by one parameter (torch.optim's state "step"). Setting it
 * marks the parameter's state as initialised when step > 0. */
ct_status ct_optim_get_step(const ct_optim *opt, size_t group, size_t index,
                            int64_t *step);
ct_status ct_optim_set_step(ct_optim *opt, size_t group, size_t index, int64_t step);

/* Saves the whole optimizer state (every state buffer, steps, options of
 * every group, format version) in the safetensors layout. */
ct_status ct_optim_save(ct_optim *opt, const char *path);
/* Same, into a buffer the caller frees with ct_free. */
ct_status ct_optim_save_mem(ct_optim *opt, void **buf, size_t *len);
/* Loads a state written by ct_optim_save into an optimizer of the same
 * kind whose groups have the same parameter sizes. A file of another
 * optimizer, format version or layout, or a truncated or corrupt one, is
 * refused with CT_EFORMAT or CT_EMISMATCH and nothing is modified. */
ct_status ct_optim_load(ct_optim *opt, const char *path);
ct_status ct_optim_load_mem(ct_optim *opt, const void *buf, size_t len);

/* Frees memory ctrain returned to the caller. */
void ct_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
