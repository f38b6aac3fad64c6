/* The optimizer engine's inside: how an optimizer kind plugs in.
 *
 * A kind describes its options with an option table (src/core/opts.h) and its
 * update as up to CT_MAX_PHASES elementwise passes. Before the first pass the
 * engine increments the parameter's step (and calls init at the first step),
 * then `prepare` turns options and step into per-parameter scalars
 * (bias corrections, ...). Each pass runs `kernel` over fixed-size chunks of
 * every parameter in parallel; a kernel may add to CT_MAX_RED partial sums of
 * its chunk, which the engine adds up in chunk order (so the result does not
 * depend on the thread count) and hands to `combine` before the next pass.
 * A kind whose update is not elementwise (adafactor's row and column means)
 * sets `update` instead and gets one whole parameter at a time.
 *
 * Adding an optimizer: one file with its table and functions, one line in
 * registry.c, its reference cases in tests/ref, its row in docs/optimizers.md.
 * Optionally a SIMD form of its kernel, written once with simd.h's vector
 * macros and compiled for AVX2 and AVX-512 by simd_each.h (see adam.c); it
 * must mirror the scalar kernel's operations so the bits are the same
 * (tests/test_simd.c and test_optim_ref.c run every level against scalar).
 */
#ifndef CT_OPTIM_IMPL_H
#define CT_OPTIM_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"
#include "../core/opts.h"
#include "../core/pool.h"
#include "ctrain/optim.h"

#define CT_MAX_HP 32     /* option slots of a group */
#define CT_MAX_STATE 6   /* state buffers of a parameter (kind + lookahead) */
#define CT_MAX_SCAL 16   /* per-parameter scalars from prepare/combine */
#define CT_MAX_RED 4     /* partial sums a kernel chunk may produce */
#define CT_MAX_PHASES 3
#define CT_CHUNK 16384   /* elements per work item; fixed for determinism */

typedef struct ct_state_desc {
    const char *name; /* torch.optim's state key */
    size_t numel;
} ct_state_desc;

/* A registered parameter with its state. */
typedef struct ct_slot {
    ct_param p;
    int64_t step;
    int n_state;                      /* buffers, the kind's first */
    const char *state_name[CT_MAX_STATE];
    float *state[CT_MAX_STATE];
    size_t state_numel[CT_MAX_STATE];
    float *block;                     /* one allocation holding every buffer */
    double scal[CT_MAX_SCAL];         /* scratch from prepare/combine */
    size_t first_chunk, n_chunks;     /* its work items */
    /* Reduced precision (precision.h). A buffer whose sdt is not CT_SDT_F32
     * has state[k] == NULL and its storage at raw[k] (bf16 values or 8-bit
     * codes; absmax[k]: one float per CT_QBLOCK block for the 8-bit ones).
     * The kind's kernels see fp32 copies only (ct_prec_chunk). */
    unsigned char sdt[CT_MAX_STATE];
    void *raw[CT_MAX_STATE];
    float *absmax[CT_MAX_STATE];
    int n_kind_state;                 /* the kind's buffers (the first ones) */
    int master;                       /* index of the fp32 master copy, or -1 */
    int plain;                        /* fp32 param and fp32 state: no conversion */
    int state32;                      /* all state fp32: the kind's init runs in place */
    uint64_t uid;                     /* registration number: the RNG's key */
} ct_slot;

/* An elementwise pass over elements [begin, end) of one parameter. */
typedef void (*ct_kernel_fn)(int phase, const double *hp, const ct_slot *s, size_t begin,
                             size_t end, double *red);

typedef struct ct_optim_kind {
    const char *name;
    const ct_opt_desc *opts;
    size_t n_opts;
    /* Checks relations between options (nesterov needs momentum, ...).
     * May be NULL. */
    ct_status (*check)(const double *hp, ct_err *e);
    /* Fills out[] with the state buffers of parameter p; returns how many. */
    int (*layout)(const double *hp, const ct_param *p, ct_state_desc *out);
    /* First step of a parameter, before its update; state is zeroed. May be
     * NULL. */
    void (*init)(const double *hp, ct_slot *s);
    /* Elementwise form. */
    int n_phases;
    void (*prepare)(const double *hp, ct_slot *s);
    ct_kernel_fn kernel; /* the scalar reference */
    /* The same kernel for AVX2+FMA and AVX-512 (simd_each.h), giving the
     * reference's bits; NULL: the scalar kernel runs at that level. */
    ct_kernel_fn simd[2];
    void (*combine)(int phase, const double *hp, ct_slot *s, const double *red);
    /* Whole-parameter form (used when kernel is NULL). */
    void (*update)(const double *hp, ct_slot *s);
    /* update for AVX2+FMA and AVX-512, giving its bits; NULL: update runs. */
    void (*update_simd[2])(const double *hp, ct_slot *s);
    /* Optional, for a one-pass kind: its SIMD kernel (AVX2+FMA, AVX-512)
     * with the conversions of the reduced-precision pass (ct_prec_chunk)
     * done in registers, for parameter form pm (CT_PM_*) and kind state
     * stored as bf16 (sbf16) or fp32. Updates elements [begin, end') for
     * the largest end' <= end that whole vectors reach and returns end';
     * the same bits as the converted pass. NULL: the converted pass runs. */
    size_t (*fused[2])(const double *hp, const ct_slot *s, size_t begin, size_t end, int pm,
                       int sbf16);
} ct_optim_kind;

/* Parameter forms of ct_optim_kind.fused: fp32 parameter and gradient; bf16
 * parameter and gradient with the fp32 master copy state[master]; bf16
 * parameter and gradient without one. */
enum { CT_PM_F32 = 0, CT_PM_MASTER = 1, CT_PM_BF16 = 2 };

/* For a scalar reference kernel that a SIMD kernel calls for its tail:
 * kept out of line so it is compiled once, for the baseline target, and no
 * compiler can contract its mul-adds differently inside a SIMD function. */
#define CT_NOINLINE __attribute__((noinline))

/* The kinds, in registry.c. */
const ct_optim_kind *ct_optim_find_kind(const char *name);

/* Helpers shared by kinds. */
static inline float *ct_pf(const ct_slot *s) { return (float *)s->p.data; }
static inline const float *ct_gf(const ct_slot *s) { return (const float *)s->p.grad; }

/* Looks up an option's first slot by name in a kind's table (for kinds that
 * refer to their own options by name rather than by slot constants). */
int ct_hp_slot(const ct_optim_kind *k, const char *name);

/* ---- engine internals, shared by optim.c and state_io.c ---- */

#define CT_STATE_FORMAT "ctrain.optim_state"
#define CT_STATE_VERSION 1

typedef struct ct_group {
    double hp[CT_MAX_HP];
    ct_slot *slots;
    size_t n;
    int64_t la_counter; /* lookahead: steps since the last sync */
    /* Keys torch's lr schedulers keep in a param group and share between the
     * schedules of one optimizer (initial_lr, OneCycleLR's max_lr, ...):
     * owned by src/sched. Bit k of sched_has: sched_key[k] is set. */
    double sched_key[8];
    unsigned sched_has;
} ct_group;

/* A work item: a run of at most CT_CHUNK elements of one parameter. */
typedef struct ct_chunk {
    ct_slot *slot;
    const double *hp;
    size_t begin, end;
    double red[CT_MAX_RED];
    size_t bad; /* non-finite check: first bad index, or SIZE_MAX */
} ct_chunk;

struct ct_optim {
    ct_err err;
    const ct_optim_kind *kind;
    double defaults[CT_MAX_HP];
    ct_group *groups;
    size_t n_groups;
    size_t n_params;
    ct_chunk *chunks;
    size_t n_chunks;
    size_t n_elements;   /* of every parameter */
    size_t serial_below; /* steps of fewer elements run on the caller alone */
    int threads;
    ct_pool *pool;
    ct_nonfinite_policy policy;
    uint64_t skipped;
    int la_k;
    double la_alpha;
    int phase; /* the pass the pool is running */
    int simd;  /* kernel level: CT_SIMD_SCALAR, CT_SIMD_AVX2, CT_SIMD_AVX512 */
    ct_kernel_fn kfn; /* the kernel of this step at that level */
    double grad_scale; /* ct_optim_set_grad_scale; 1: off */
    int zero_after;    /* ct_optim_set_zero_grad_after_step */
    float *scratch;    /* per thread CT_SCRATCH_FLOATS: the converted pass */
    int scratch_threads;
    uint64_t next_uid;
    struct ct_qmap *qmap; /* [0] signed, [1] unsigned dynamic map */
};

/* fp32 scratch of one thread: a sub-chunk of every state buffer, the
 * parameter and the gradient. */
#define CT_SCRATCH_FLOATS ((CT_MAX_STATE + 2) * 2048) /* 2048: CT_SUB of precision.h */

/* Runs the kind's kernel (o->kfn, phase 0 of a one-phase kind) over chunk
 * ch of a parameter that is not plain: per sub-chunk, converts gradient,
 * parameter (or takes the master copy) and state to fp32 scratch of thread
 * tid, updates, and writes everything back in its storage precision
 * (precision.c). Allocates nothing. */
void ct_prec_chunk(ct_optim *o, ct_chunk *ch, int tid);

/* The options every kind has, kept by the engine (optim.c): state_dtype,
 * min_8bit_size, master_weights, stochastic_rounding, seed. */
extern const ct_opt_desc ct_engine_opts[];
extern const size_t ct_n_engine_opts;

/* Element size in bytes of a ct_dtype (0 for an unknown one). */
size_t ct_dtype_size(int dtype);

/* The first index j in [b, e) where g[j] * scale is not finite, or
 * SIZE_MAX; at a SIMD level (src/optim/gradcheck.c). */
size_t ct_first_nonfinite(int level, const float *g, size_t b, size_t e, float scale);

/* Allocates a slot's state buffers for options hp (zeroed), lookahead's last. */
ct_status ct_optim_alloc_state(ct_optim *o, const double *hp, ct_slot *s);

#endif
