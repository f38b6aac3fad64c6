/* The optimizer engine: groups, state, the parallel step, save and load. */
#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/cpu.h"
#include "../core/pool.h"
#include "../io/safetensors.h"
#include "aten_reduce.h"
#include "optim_impl.h"
#include "precision.h"

int ct_hp_slot(const ct_optim_kind *k, const char *name)
{
    const ct_opt_desc *d = ct_opts_find(k->opts, k->n_opts, name);
    return d ? d->slot : -1;
}

/* ---- creation ---------------------------------------------------------- */

/* The SIMD level named by CTRAIN_SIMD (scalar, avx2, avx512), else the
 * best this CPU has. A level the CPU lacks or an unknown name is refused. */
static ct_status default_simd(ct_err *e, int *level)
{
    const char *env = getenv("CTRAIN_SIMD");
    if (!env || !*env) {
        *level = ct_cpu_best();
        return CT_OK;
    }
    int l = ct_cpu_level_parse(env);
    if (l < 0)
        return ct_fail(e, CT_EINVAL, "CTRAIN_SIMD=%s is invalid: must be scalar, avx2 or avx512",
                       env);
    if (!ct_cpu_supports(l))
        return ct_fail(e, CT_EUNSUPPORTED, "CTRAIN_SIMD=%s: this CPU does not support %s", env,
                       env);
    *level = l;
    return CT_OK;
}

/* Options of every kind, kept by the engine in slots CT_HP_SDT.. of a
 * group (precision.h): the storage of the state and of the parameters. */
static const char *const sdt_names[] = {"fp32", "bf16", "int8", NULL};
const ct_opt_desc ct_engine_opts[] = {
    {"state_dtype", CT_OPT_ENUM, 1, CT_HP_SDT, {0}, 0, 2, 0, sdt_names},
    {"min_8bit_size", CT_OPT_INT, 1, CT_HP_MIN8, {4096}, 0, 1099511627776.0, 0, 0},
    {"master_weights", CT_OPT_BOOL, 1, CT_HP_MASTER, {0}, 0, 1, 0, 0},
    {"stochastic_rounding", CT_OPT_BOOL, 1, CT_HP_SR, {0}, 0, 1, 0, 0},
    {"seed", CT_OPT_INT, 1, CT_HP_SEED, {0}, 0, 9007199254740992.0, 0, 0},
};
const size_t ct_n_engine_opts = sizeof ct_engine_opts / sizeof *ct_engine_opts;

/* Kinds whose state may be stored as bf16 or 8-bit: one elementwise pass. */
static int reduced_state_ok(const ct_optim_kind *k)
{
    static const char *const ok[] = {"sgd", "adam", "adamw", "lion", "adagrad", "rmsprop"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        if (!strcmp(k->name, ok[i]))
            return 1;
    return 0;
}

static ct_status check_options(ct_optim *o, const double *hp)
{
    ct_status st = ct_opts_check(o->kind->opts, o->kind->n_opts, o->kind->name, hp, &o->err);
    if (!st)
        st = ct_opts_check(ct_engine_opts, ct_n_engine_opts, o->kind->name, hp, &o->err);
    if (!st && o->kind->check)
        st = o->kind->check(hp, &o->err);
    if (!st && hp[CT_HP_SDT] != CT_STATE_DTYPE_F32 && !reduced_state_ok(o->kind))
        st = ct_fail(&o->err, CT_EUNSUPPORTED,
                     "%s: state_dtype=%s is not supported for this optimizer (only sgd, adam, "
                     "adamw, lion, adagrad and rmsprop keep bf16 or 8-bit state)",
                     o->kind->name, sdt_names[(int)hp[CT_HP_SDT]]);
    return st ? ct_fail_keep(&o->err, st) : CT_OK;
}

/* Parses option text onto hp: keys of ct_engine_opts go to the engine's
 * table, every other key to the kind's (which refuses unknown ones). */
static ct_status parse_options(ct_optim *o, const char *text, double *hp, ct_err *e)
{
    if (!text)
        return CT_OK;
    size_t len = strlen(text);
    char *kt = malloc(len + 2), *et = malloc(len + 2);
    if (!kt || !et) {
        free(kt);
        free(et);
        return ct_fail(e, CT_ENOMEM, "out of memory parsing options");
    }
    size_t kn = 0, en = 0;
    for (const char *p = text; *p;) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        const char *q = p;
        while (*q && *q != ' ' && *q != '\t' && *q != '\n')
            q++;
        if (q == p)
            break;
        size_t klen = 0;
        while (p + klen < q && p[klen] != '=')
            klen++;
        int eng = 0;
        for (size_t i = 0; i < ct_n_engine_opts; i++)
            if (strlen(ct_engine_opts[i].name) == klen && !strncmp(ct_engine_opts[i].name, p, klen))
                eng = 1;
        char *dst = eng ? et : kt;
        size_t *dn = eng ? &en : &kn;
        memcpy(dst + *dn, p, (size_t)(q - p));
        *dn += (size_t)(q - p);
        dst[(*dn)++] = ' ';
        p = q;
    }
    kt[kn] = 0;
    et[en] = 0;
    ct_status st = ct_opts_parse(o->kind->opts, o->kind->n_opts, o->kind->name, kt, hp, NULL, e);
    if (!st)
        st = ct_opts_parse(ct_engine_opts, ct_n_engine_opts, o->kind->name, et, hp, NULL, e);
    free(kt);
    free(et);
    return st;
}

ct_status ct_optim_create(ct_optim **out, const char *name, const char *options)
{
    if (!out)
        return ct_fail(NULL, CT_EINVAL, "ct_optim_create: out is NULL");
    *out = NULL;
    if (!name)
        return ct_fail(NULL, CT_EINVAL, "ct_optim_create: name is NULL");
    const ct_optim_kind *k = ct_optim_find_kind(name);
    if (!k) {
        char known[512];
        size_t len = 0;
        known[0] = 0;
        for (size_t i = 0; ct_optim_kind_name(i) && len < sizeof known; i++)
            len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", i ? ", " : "",
                                    ct_optim_kind_name(i));
        return ct_fail(NULL, CT_EINVAL, "unknown optimizer '%s' (known: %s)", name, known);
    }
    if (!k->kernel && !k->update)
        return ct_fail(NULL, CT_EUNSUPPORTED, "optimizer '%s' is not implemented yet", name);
    if (ct_opts_slots(k->opts, k->n_opts) > CT_HP_SDT)
        return ct_fail(NULL, CT_EINVAL, "optimizer '%s' uses option slots of the engine", name);
    ct_optim *o = calloc(1, sizeof *o);
    if (!o)
        return ct_fail(NULL, CT_ENOMEM, "out of memory creating optimizer '%s'", name);
    o->scratch = aligned_alloc(64, CT_SCRATCH_FLOATS * sizeof(float));
    if (!o->scratch) {
        free(o);
        return ct_fail(NULL, CT_ENOMEM, "out of memory creating optimizer '%s'", name);
    }
    o->scratch_threads = 1;
    o->kind = k;
    o->threads = 1;
    o->serial_below = 65536;
    o->policy = CT_NONFINITE_ERROR;
    o->grad_scale = 1.0;
    ct_opts_defaults(k->opts, k->n_opts, o->defaults);
    ct_opts_defaults(ct_engine_opts, ct_n_engine_opts, o->defaults);
    ct_status st = default_simd(NULL, &o->simd);
    if (!st)
        st = parse_options(o, options, o->defaults, NULL);
    if (!st)
        st = check_options(o, o->defaults);
    if (st) {
        free(o->qmap);
        free(o->scratch);
        free(o);
        return st;
    }
    *out = o;
    return CT_OK;
}

static void free_group(ct_group *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->slots[i].block);
    free(g->slots);
}

void ct_optim_destroy(ct_optim *o)
{
    if (!o)
        return;
    for (size_t g = 0; g < o->n_groups; g++)
        free_group(&o->groups[g]);
    free(o->groups);
    free(o->chunks);
    ct_pool_destroy(o->pool);
    free(o->qmap);
    free(o->scratch);
    free(o);
}

const char *ct_optim_errmsg(const ct_optim *o) { return o ? o->err.msg : "optimizer is NULL"; }
const char *ct_optim_name(const ct_optim *o) { return o ? o->kind->name : ""; }
size_t ct_optim_num_groups(const ct_optim *o) { return o ? o->n_groups : 0; }
size_t ct_optim_group_size(const ct_optim *o, size_t g)
{
    return o && g < o->n_groups ? o->groups[g].n : 0;
}

/* ---- state layout ------------------------------------------------------ */

/* The state buffers of parameter p under options hp: the kind's, then the
 * fp32 master copy (16-bit parameters with master_weights), then
 * Lookahead's slow weights; sdt[] their storage, *n_kind the kind's count,
 * *master the master's index or -1. */
static int full_layout(ct_optim *o, const double *hp, const ct_param *p, ct_state_desc *d,
                       unsigned char *sdt, int *n_kind, int *master)
{
    int n = o->kind->layout(hp, p, d);
    *n_kind = n;
    int mode = (int)hp[CT_HP_SDT];
    if (mode == CT_STATE_DTYPE_INT8 && (double)p->numel < hp[CT_HP_MIN8])
        mode = CT_STATE_DTYPE_F32; /* small tensors stay fp32 (bitsandbytes' min_8bit_size) */
    /* signed map for first moments and momentum, unsigned for the others
     * (second moments, Adagrad's sum: never negative) */
    static const char *const sgn[] = {"exp_avg", "momentum_buffer", "grad_avg"};
    for (int i = 0; i < n; i++) {
        int is_signed = 0;
        for (size_t j = 0; j < sizeof sgn / sizeof *sgn; j++)
            is_signed |= !strcmp(d[i].name, sgn[j]);
        sdt[i] = mode == CT_STATE_DTYPE_BF16   ? CT_SDT_BF16
                 : mode == CT_STATE_DTYPE_INT8 ? (is_signed ? CT_SDT_Q8S : CT_SDT_Q8U)
                                               : CT_SDT_F32;
    }
    *master = -1;
    if (p->dtype != CT_F32 && hp[CT_HP_MASTER] != 0) {
        *master = n;
        sdt[n] = CT_SDT_F32;
        d[n++] = (ct_state_desc){"master", p->numel};
    }
    if (o->la_k > 0) {
        sdt[n] = CT_SDT_F32;
        d[n++] = (ct_state_desc){"slow_params", p->numel};
    }
    return n;
}

/* Bytes of a buffer of numel elements stored as sdt (64-byte multiples),
 * and of its absmax table. */
static size_t buf_bytes(unsigned sdt, size_t numel, size_t *absmax_bytes)
{
    size_t nb = (numel + CT_QBLOCK - 1) / CT_QBLOCK;
    size_t es = sdt == CT_SDT_F32 ? 4 : sdt == CT_SDT_BF16 ? 2 : 1;
    *absmax_bytes = sdt >= CT_SDT_Q8S ? (nb * sizeof(float) + 63) & ~(size_t)63 : 0;
    return (numel * es + 63) & ~(size_t)63;
}

/* Allocates a slot's state buffers for options hp into *s (zeroed). */
ct_status ct_optim_alloc_state(ct_optim *o, const double *hp, ct_slot *s)
{
    ct_state_desc d[CT_MAX_STATE];
    unsigned char sdt[CT_MAX_STATE];
    int n_kind, master;
    int n = full_layout(o, hp, &s->p, d, sdt, &n_kind, &master);
    for (int i = 0; i < n && !o->qmap; i++) {
        if (sdt[i] < CT_SDT_Q8S)
            continue;
        /* the 8-bit maps (and their lookup tables) are built by the first
         * group that needs them: creating an optimizer stays cheap */
        if (!(o->qmap = malloc(2 * sizeof(ct_qmap))))
            return ct_fail(&o->err, CT_ENOMEM, "out of memory for the 8-bit state maps");
        ct_qmap_build(&o->qmap[0], 1);
        ct_qmap_build(&o->qmap[1], 0);
    }
    size_t total = 0, off[CT_MAX_STATE], aoff[CT_MAX_STATE];
    for (int i = 0; i < n; i++) {
        size_t ab, bb = buf_bytes(sdt[i], d[i].numel, &ab);
        off[i] = total;
        aoff[i] = total + bb;
        total += bb + ab;
    }
    char *block = NULL;
    if (total) {
        block = aligned_alloc(64, total);
        if (!block)
            return ct_fail(&o->err, CT_ENOMEM, "out of memory for %zu bytes of optimizer state",
                           total);
        memset(block, 0, total);
    }
    s->block = (float *)block;
    s->n_state = n;
    s->n_kind_state = n_kind;
    s->master = master;
    s->plain = s->p.dtype == CT_F32;
    s->state32 = 1;
    for (int i = 0; i < n; i++) {
        s->state_name[i] = d[i].name;
        s->state_numel[i] = d[i].numel;
        s->sdt[i] = sdt[i];
        s->state[i] = sdt[i] == CT_SDT_F32 ? (float *)(block + off[i]) : NULL;
        s->raw[i] = block + off[i];
        s->absmax[i] = sdt[i] >= CT_SDT_Q8S ? (float *)(block + aoff[i]) : NULL;
        s->plain &= sdt[i] == CT_SDT_F32;
        s->state32 &= sdt[i] == CT_SDT_F32;
    }
    return CT_OK;
}

/* Does the layout for options hp differ from the slot's current one? */
static int layout_differs(ct_optim *o, const double *hp, const ct_slot *s)
{
    ct_state_desc d[CT_MAX_STATE];
    unsigned char sdt[CT_MAX_STATE];
    int n_kind, master;
    int n = full_layout(o, hp, &s->p, d, sdt, &n_kind, &master);
    if (n != s->n_state)
        return 1;
    for (int i = 0; i < n; i++)
        if (strcmp(d[i].name, s->state_name[i]) || d[i].numel != s->state_numel[i] ||
            sdt[i] != s->sdt[i])
            return 1;
    return 0;
}

/* Fills the master copy of a 16-bit parameter from its values. */
static void init_master(ct_slot *s)
{
    if (s->master < 0)
        return;
    float *m = s->state[s->master];
    const uint16_t *p = s->p.data;
    for (size_t j = 0; j < s->p.numel; j++)
        m[j] = s->p.dtype == CT_BF16 ? ct_bf16_to_f32(p[j]) : ct_f16_to_f32(p[j]);
}

static ct_status rebuild_chunks(ct_optim *o)
{
    size_t n = 0;
    for (size_t g = 0; g < o->n_groups; g++)
        for (size_t i = 0; i < o->groups[g].n; i++)
            n += (o->groups[g].slots[i].p.numel + CT_CHUNK - 1) / CT_CHUNK;
    ct_chunk *c = calloc(n ? n : 1, sizeof *c);
    if (!c)
        return ct_fail(&o->err, CT_ENOMEM, "out of memory for the work table");
    size_t k = 0;
    for (size_t g = 0; g < o->n_groups; g++)
        for (size_t i = 0; i < o->groups[g].n; i++) {
            ct_slot *s = &o->groups[g].slots[i];
            s->first_chunk = k;
            for (size_t b = 0; b < s->p.numel; b += CT_CHUNK, k++) {
                c[k].slot = s;
                c[k].hp = o->groups[g].hp;
                c[k].begin = b;
                c[k].end = b + CT_CHUNK < s->p.numel ? b + CT_CHUNK : s->p.numel;
            }
            s->n_chunks = k - s->first_chunk;
        }
    free(o->chunks);
    o->chunks = c;
    o->n_chunks = n;
    o->n_elements = 0;
    for (size_t g = 0; g < o->n_groups; g++)
        for (size_t i = 0; i < o->groups[g].n; i++)
            o->n_elements += o->groups[g].slots[i].p.numel;
    return CT_OK;
}

/* ---- groups and options ------------------------------------------------ */

static ct_status check_param(ct_optim *o, const ct_param *p, size_t i)
{
    if (!p->data)
        return ct_fail(&o->err, CT_EINVAL, "parameter %zu: data is NULL", i);
    if (p->numel == 0)
        return ct_fail(&o->err, CT_EINVAL, "parameter %zu: numel is 0", i);
    if (p->numel > ((size_t)1 << 40))
        return ct_fail(&o->err, CT_EINVAL, "parameter %zu: numel %zu is too large", i, p->numel);
    if (p->dtype != CT_F32 && p->dtype != CT_BF16 && p->dtype != CT_F16)
        return ct_fail(&o->err, CT_EUNSUPPORTED,
                       "parameter %zu: dtype %d is not supported (float32, bfloat16 and "
                       "float16 are)",
                       i, (int)p->dtype);
    if (p->dtype != CT_F32 && (!o->kind->kernel || o->kind->n_phases != 1 || o->la_k > 0))
        return ct_fail(&o->err, CT_EUNSUPPORTED,
                       "parameter %zu: dtype %s is supported by the one-pass optimizers "
                       "without lookahead only (not %s%s)",
                       i, p->dtype == CT_BF16 ? "bfloat16" : "float16", o->kind->name,
                       o->la_k > 0 ? " with lookahead" : "");
    if (p->ndim < 0 || p->ndim > 8)
        return ct_fail(&o->err, CT_EINVAL, "parameter %zu: ndim %d must be in [0, 8]", i,
                       (int)p->ndim);
    if (p->ndim > 0) {
        size_t prod = 1;
        for (int d = 0; d < p->ndim; d++) {
            if (p->shape[d] <= 0)
                return ct_fail(&o->err, CT_EINVAL, "parameter %zu: shape[%d] = %lld must be > 0",
                               i, d, (long long)p->shape[d]);
            prod *= (size_t)p->shape[d];
        }
        if (prod != p->numel)
            return ct_fail(&o->err, CT_EINVAL,
                           "parameter %zu: shape has %zu elements but numel is %zu", i, prod,
                           p->numel);
    }
    return CT_OK;
}

/* Do the byte ranges of a and b overlap? */
static int overlaps(const ct_param *a, const ct_param *b)
{
    const char *a0 = a->data, *b0 = b->data;
    return a0 < b0 + b->numel * ct_dtype_size(b->dtype) &&
           b0 < a0 + a->numel * ct_dtype_size(a->dtype);
}

ct_status ct_optim_add_group(ct_optim *o, const ct_param *params, size_t n, const char *options,
                             size_t *group_index)
{
    if (!o)
        return ct_fail(NULL, CT_EINVAL, "ct_optim_add_group: optimizer is NULL");
    if (!params || n == 0)
        return ct_fail(&o->err, CT_EINVAL, "ct_optim_add_group: a group needs at least one "
                                           "parameter (params is NULL or n is 0)");
    double hp[CT_MAX_HP];
    memcpy(hp, o->defaults, sizeof hp);
    ct_status st = parse_options(o, options, hp, &o->err);
    if (!st)
        st = check_options(o, hp);
    if (st)
        return st;
    for (size_t i = 0; i < n; i++) {
        if ((st = check_param(o, &params[i], i)))
            return st;
        for (size_t j = 0; j < i; j++)
            if (overlaps(&params[i], &params[j]))
                return ct_fail(&o->err, CT_EINVAL,
                               "parameters %zu and %zu of the new group overlap in memory", j, i);
        for (size_t g = 0; g < o->n_groups; g++)
            for (size_t j = 0; j < o->groups[g].n; j++)
                if (overlaps(&params[i], &o->groups[g].slots[j].p))
                    return ct_fail(&o->err, CT_EINVAL,
                                   "parameter %zu overlaps parameter %zu of group %zu: a "
                                   "parameter may belong to one group only",
                                   i, j, g);
    }
    ct_group *groups = realloc(o->groups, (o->n_groups + 1) * sizeof *groups);
    if (!groups)
        return ct_fail(&o->err, CT_ENOMEM, "out of memory adding a group");
    o->groups = groups;
    ct_group *g = &o->groups[o->n_groups];
    memset(g, 0, sizeof *g);
    memcpy(g->hp, hp, sizeof hp);
    g->slots = calloc(n, sizeof *g->slots);
    if (!g->slots)
        return ct_fail(&o->err, CT_ENOMEM, "out of memory adding a group");
    for (size_t i = 0; i < n; i++) {
        g->slots[i].p = params[i];
        if ((st = ct_optim_alloc_state(o, hp, &g->slots[i]))) {
            g->n = i;
            free_group(g);
            return st;
        }
        if (o->la_k > 0) /* Lookahead's slow weights start at the initial weights */
            memcpy(g->slots[i].state[g->slots[i].n_state - 1], params[i].data,
                   params[i].numel * sizeof(float));
        init_master(&g->slots[i]);
        g->slots[i].uid = o->next_uid + i;
    }
    g->n = n;
    o->n_groups++;
    if ((st = rebuild_chunks(o))) {
        o->n_groups--;
        free_group(g);
        rebuild_chunks(o); /* the old table is still in place on failure */
        return st;
    }
    o->n_params += n;
    o->next_uid += n;
    if (group_index)
        *group_index = o->n_groups - 1;
    return CT_OK;
}

#define CHECK_GROUP(o, g)                                                                        \
    do {                                                                                         \
        if (!(o))                                                                                \
            return ct_fail(NULL, CT_EINVAL, "%s: optimizer is NULL", __func__);                  \
        if ((g) >= (o)->n_groups)                                                                \
            return ct_fail((ct_err *)&(o)->err, CT_EINVAL, "%s: group %zu does not exist (%zu " \
                           "groups)", __func__, (size_t)(g), (o)->n_groups);                     \
    } while (0)

ct_status ct_optim_set_options(ct_optim *o, size_t gi, const char *options)
{
    CHECK_GROUP(o, gi);
    ct_group *g = &o->groups[gi];
    double hp[CT_MAX_HP];
    memcpy(hp, g->hp, sizeof hp);
    ct_status st = parse_options(o, options, hp, &o->err);
    if (!st)
        st = check_options(o, hp);
    if (st)
        return st;
    int differs = 0, started = 0;
    for (size_t i = 0; i < g->n; i++) {
        differs |= layout_differs(o, hp, &g->slots[i]);
        started |= g->slots[i].step > 0;
    }
    if (differs && started)
        return ct_fail(&o->err, CT_ESTATE,
                       "%s: '%s' changes the shape of the optimizer state, which group %zu "
                       "already holds; set it before the first step",
                       o->kind->name, options, gi);
    if (differs) {
        ct_slot *fresh = calloc(g->n, sizeof *fresh);
        if (!fresh)
            return ct_fail(&o->err, CT_ENOMEM, "out of memory");
        for (size_t i = 0; i < g->n; i++) {
            fresh[i].p = g->slots[i].p;
            if ((st = ct_optim_alloc_state(o, hp, &fresh[i]))) {
                for (size_t j = 0; j < i; j++)
                    free(fresh[j].block);
                free(fresh);
                return st;
            }
            if (o->la_k > 0)
                memcpy(fresh[i].state[fresh[i].n_state - 1],
                       g->slots[i].state[g->slots[i].n_state - 1],
                       fresh[i].p.numel * sizeof(float));
            if (fresh[i].master >= 0 && g->slots[i].master >= 0)
                memcpy(fresh[i].state[fresh[i].master], g->slots[i].state[g->slots[i].master],
                       fresh[i].p.numel * sizeof(float));
            else
                init_master(&fresh[i]);
            fresh[i].uid = g->slots[i].uid;
        }
        for (size_t i = 0; i < g->n; i++) {
            free(g->slots[i].block);
            fresh[i].first_chunk = g->slots[i].first_chunk;
            fresh[i].n_chunks = g->slots[i].n_chunks;
            g->slots[i] = fresh[i];
        }
        free(fresh);
    }
    memcpy(g->hp, hp, sizeof hp);
    return CT_OK;
}

ct_status ct_optim_get_option(const ct_optim *o, size_t gi, const char *key, double *values,
                              size_t cap, size_t *count)
{
    CHECK_GROUP(o, gi);
    const ct_opt_desc *d = key ? ct_opts_find(o->kind->opts, o->kind->n_opts, key) : NULL;
    if (!d && key)
        d = ct_opts_find(ct_engine_opts, ct_n_engine_opts, key);
    if (!d)
        return ct_fail((ct_err *)&o->err, CT_EINVAL, "%s: unknown option '%s'", o->kind->name,
                       key ? key : "(null)");
    for (int k = 0; k < d->count && (size_t)k < cap; k++)
        values[k] = o->groups[gi].hp[d->slot + k];
    if (count)
        *count = (size_t)d->count;
    return CT_OK;
}

ct_status ct_optim_set_lr(ct_optim *o, size_t gi, double lr)
{
    CHECK_GROUP(o, gi);
    int slot = ct_hp_slot(o->kind, "lr");
    double hp[CT_MAX_HP];
    memcpy(hp, o->groups[gi].hp, sizeof hp);
    hp[slot] = lr;
    ct_status st = check_options(o, hp);
    if (st)
        return st;
    o->groups[gi].hp[slot] = lr;
    return CT_OK;
}

ct_status ct_optim_get_lr(const ct_optim *o, size_t gi, double *lr)
{
    CHECK_GROUP(o, gi);
    if (!lr)
        return ct_fail((ct_err *)&o->err, CT_EINVAL, "ct_optim_get_lr: lr is NULL");
    *lr = o->groups[gi].hp[ct_hp_slot(o->kind, "lr")];
    return CT_OK;
}

#define CHECK_PARAM(o, g, i)                                                                     \
    do {                                                                                         \
        CHECK_GROUP(o, g);                                                                       \
        if ((i) >= (o)->groups[g].n)                                                             \
            return ct_fail((ct_err *)&(o)->err, CT_EINVAL,                                       \
                           "%s: group %zu has no parameter %zu (%zu parameters)", __func__,      \
                           (size_t)(g), (size_t)(i), (o)->groups[g].n);                          \
    } while (0)

ct_status ct_optim_set_buffers(ct_optim *o, size_t g, size_t i, void *data, void *grad)
{
    CHECK_PARAM(o, g, i);
    if (!data)
        return ct_fail(&o->err, CT_EINVAL, "ct_optim_set_buffers: data is NULL");
    o->groups[g].slots[i].p.data = data;
    o->groups[g].slots[i].p.grad = grad;
    return CT_OK;
}

ct_status ct_optim_set_threads(ct_optim *o, int threads)
{
    if (!o)
        return ct_fail(NULL, CT_EINVAL, "ct_optim_set_threads: optimizer is NULL");
    if (threads == o->threads)
        return CT_OK;
    ct_pool *p = NULL;
    if (threads > 1) {
        ct_status st = ct_pool_create(&p, threads, &o->err);
        if (st)
            return st;
    } else if (threads < 1) {
        return ct_fail(&o->err, CT_EINVAL, "threads=%d is invalid: must be >= 1", threads);
    }
    if (threads > o->scratch_threads) {
        float *scr = aligned_alloc(64, (size_t)threads * CT_SCRATCH_FLOATS * sizeof(float));
        if (!scr) {
            ct_pool_destroy(p);
            return ct_fail(&o->err, CT_ENOMEM, "out of memory for %d threads' scratch", threads);
        }
        free(o->scratch);
        o->scratch = scr;
        o->scratch_threads = threads;
    }
    ct_pool_destroy(o->pool);
    o->pool = p;
    o->threads = threads;
    return CT_OK;
}

int ct_simd_supported(int level) { return ct_cpu_supports(level); }

int ct_simd_best(void) { return ct_cpu_best(); }

const char *ct_simd_name(int level) { return ct_cpu_level_name(level); }

ct_status ct_optim_set_simd(ct_optim *o, int level)
{
    if (!o)
        return ct_fail(NULL, CT_EINVAL, "ct_optim_set_simd: optimizer is NULL");
    if (level == CT_SIMD_AUTO)
        return default_simd(&o->err, &o->simd);
    if (!ct_cpu_level_name(level))
        return ct_fail(&o->err, CT_EINVAL,
                       "simd level %d is invalid: must be CT_SIMD_AUTO, CT_SIMD_SCALAR, "
                       "CT_SIMD_AVX2 or CT_SIMD_AVX512",
                       level);
    if (!ct_cpu_supports(level))
        return ct_fail(&o->err, CT_EUNSUPPORTED, "this CPU does not support simd level %s",
                       ct_cpu_level_name(level));
    o->simd = level;
    return CT_OK;
}

ct_status ct_optim_get_simd(const ct_optim *o, int *level)
{
    if (!o || !level)
        return ct_fail(NULL, CT_EINVAL, "ct_optim_get_simd: NULL argument");
    *level = o->simd;
    return CT_OK;
}

ct_status ct_optim_set_grad_scale(ct_optim *o, double scale)
{
    if (!o)
        return ct_fail(NULL, CT_EINVAL, "ct_optim_set_grad_scale: optimizer is NULL");
    if (!(scale >= 0 && scale <= FLT_MAX))
        return ct_fail(&o->err, CT_EINVAL,
                       "grad scale %g is invalid: must be finite and >= 0 (in float32)", scale);
    o->grad_scale = scale;
    return CT_OK;
}

ct_status ct_optim_set_zero_grad_after_step(ct_optim *o, int on)
{
    if (!o)
        return ct_fail(NULL, CT_EINVAL, "ct_optim_set_zero_grad_after_step: optimizer is NULL");
    o->zero_after = on != 0;
    return CT_OK;
}

ct_status ct_optim_set_nonfinite_policy(ct_optim *o, ct_nonfinite_policy policy)
{
    if (!o)
        return ct_fail(NULL, CT_EINVAL, "ct_optim_set_nonfinite_policy: optimizer is NULL");
    if (policy != CT_NONFINITE_ERROR && policy != CT_NONFINITE_SKIP && policy != CT_NONFINITE_NONE)
        return ct_fail(&o->err, CT_EINVAL, "non-finite policy %d is invalid", (int)policy);
    o->policy = policy;
    return CT_OK;
}

ct_status ct_optim_skipped_steps(const ct_optim *o, uint64_t *count)
{
    if (!o || !count)
        return ct_fail(NULL, CT_EINVAL, "ct_optim_skipped_steps: NULL argument");
    *count = o->skipped;
    return CT_OK;
}

ct_status ct_optim_enable_lookahead(ct_optim *o, int k, double alpha)
{
    if (!o)
        return ct_fail(NULL, CT_EINVAL, "ct_optim_enable_lookahead: optimizer is NULL");
    if (k < 1)
        return ct_fail(&o->err, CT_EINVAL, "lookahead: k=%d is invalid: must be >= 1", k);
    if (!(alpha >= 0 && alpha <= 1))
        return ct_fail(&o->err, CT_EINVAL, "lookahead: alpha=%g is invalid: must be in [0, 1]",
                       alpha);
    if (o->n_groups)
        return ct_fail(&o->err, CT_ESTATE,
                       "lookahead must be enabled before the first group is added");
    o->la_k = k;
    o->la_alpha = alpha;
    return CT_OK;
}

ct_status ct_optim_get_lookahead_counter(const ct_optim *o, size_t g, int64_t *counter)
{
    CHECK_GROUP(o, g);
    if (!counter)
        return ct_fail((ct_err *)&o->err, CT_EINVAL, "%s: counter is NULL", __func__);
    *counter = o->groups[g].la_counter;
    return CT_OK;
}

ct_status ct_optim_set_lookahead_counter(ct_optim *o, size_t g, int64_t counter)
{
    CHECK_GROUP(o, g);
    if (o->la_k <= 0)
        return ct_fail(&o->err, CT_ESTATE, "lookahead is not enabled");
    if (counter < 0 || counter >= o->la_k)
        return ct_fail(&o->err, CT_EINVAL,
                       "lookahead counter=%lld is invalid: must be in [0, k-1] = [0, %d]",
                       (long long)counter, o->la_k - 1);
    o->groups[g].la_counter = counter;
    return CT_OK;
}

/* ---- state access ------------------------------------------------------ */

ct_status ct_optim_state_count(const ct_optim *o, size_t g, size_t i, size_t *count)
{
    CHECK_PARAM(o, g, i);
    if (!count)
        return ct_fail((ct_err *)&o->err, CT_EINVAL, "ct_optim_state_count: count is NULL");
    *count = (size_t)o->groups[g].slots[i].n_state;
    return CT_OK;
}

ct_status ct_optim_state_view(ct_optim *o, size_t g, size_t i, size_t k, const char **name,
                              void **data, size_t *numel, int *dtype)
{
    CHECK_PARAM(o, g, i);
    ct_slot *s = &o->groups[g].slots[i];
    if (k >= (size_t)s->n_state)
        return ct_fail(&o->err, CT_EINVAL, "parameter has %d state buffers, not %zu", s->n_state,
                       k + 1);
    if (s->sdt[k] != CT_SDT_F32 && s->sdt[k] != CT_SDT_BF16)
        return ct_fail(&o->err, CT_EUNSUPPORTED,
                       "state '%s' of group %zu parameter %zu is stored as 8-bit blockwise codes "
                       "(state_dtype=int8): it is no single tensor and has no torch.optim "
                       "equivalent; save it with ct_optim_save",
                       s->state_name[k], g, i);
    if (name)
        *name = s->state_name[k];
    if (data)
        *data = s->sdt[k] == CT_SDT_F32 ? (void *)s->state[k] : s->raw[k];
    if (numel)
        *numel = s->state_numel[k];
    if (dtype)
        *dtype = s->sdt[k] == CT_SDT_F32 ? CT_F32 : CT_BF16;
    return CT_OK;
}

ct_status ct_optim_state_buffer(ct_optim *o, size_t g, size_t i, size_t k, const char **name,
                                float **data, size_t *numel)
{
    void *d;
    int dt;
    ct_status st = ct_optim_state_view(o, g, i, k, name, &d, numel, &dt);
    if (st == CT_OK && dt != CT_F32)
        return ct_fail(&o->err, CT_EUNSUPPORTED,
                       "state '%s' of group %zu parameter %zu is stored as bfloat16 "
                       "(state_dtype): it is not a float32 tensor; use ct_optim_state_view",
                       o->groups[g].slots[i].state_name[k], g, i);
    if (st == CT_OK && data)
        *data = d;
    return st;
}

static int state_storage(unsigned char sdt)
{
    return sdt == CT_SDT_F32 ? CT_STATE_F32 : sdt == CT_SDT_BF16 ? CT_STATE_BF16 : CT_STATE_Q8;
}

ct_status ct_optim_state_info(const ct_optim *o, size_t g, size_t i, size_t k, const char **name,
                              size_t *numel, int *storage)
{
    CHECK_PARAM(o, g, i);
    const ct_slot *s = &o->groups[g].slots[i];
    if (k >= (size_t)s->n_state)
        return ct_fail((ct_err *)&o->err, CT_EINVAL, "parameter has %d state buffers, not %zu",
                       s->n_state, k + 1);
    if (name)
        *name = s->state_name[k];
    if (numel)
        *numel = s->state_numel[k];
    if (storage)
        *storage = state_storage(s->sdt[k]);
    return CT_OK;
}

ct_status ct_optim_state_q8_view(ct_optim *o, size_t g, size_t i, size_t k, const char **name,
                                 uint8_t **codes, size_t *numel, float **absmax, size_t *nblocks)
{
    int storage;
    size_t n;
    ct_status st = ct_optim_state_info(o, g, i, k, name, &n, &storage);
    if (st != CT_OK)
        return st;
    const ct_slot *s = &o->groups[g].slots[i];
    if (storage != CT_STATE_Q8)
        return ct_fail(&o->err, CT_EUNSUPPORTED,
                       "state '%s' of group %zu parameter %zu is stored as %s, not as 8-bit "
                       "codes; use ct_optim_state_view",
                       s->state_name[k], g, i, storage == CT_STATE_F32 ? "float32" : "bfloat16");
    if (codes)
        *codes = s->raw[k];
    if (numel)
        *numel = n;
    if (absmax)
        *absmax = s->absmax[k];
    if (nblocks)
        *nblocks = (n + CT_QBLOCK - 1) / CT_QBLOCK;
    return CT_OK;
}

/* The checks ct_optim_state_read and _write share: the buffer exists and
 * the caller's array has its size. */
static ct_status state_io_check(ct_optim *o, size_t g, size_t i, size_t k, const void *x,
                                size_t numel, const char *fn)
{
    size_t n;
    ct_status st = ct_optim_state_info(o, g, i, k, NULL, &n, NULL);
    if (st != CT_OK)
        return st;
    if (!x)
        return ct_fail(&o->err, CT_EINVAL, "%s: the array is NULL", fn);
    if (numel != n)
        return ct_fail(&o->err, CT_EINVAL,
                       "%s: state '%s' of group %zu parameter %zu has %zu elements, not %zu", fn,
                       o->groups[g].slots[i].state_name[k], g, i, n, numel);
    return CT_OK;
}

ct_status ct_optim_state_read(ct_optim *o, size_t g, size_t i, size_t k, float *out, size_t numel)
{
    ct_status st = state_io_check(o, g, i, k, out, numel, "ct_optim_state_read");
    if (st != CT_OK)
        return st;
    const ct_slot *s = &o->groups[g].slots[i];
    switch (s->sdt[k]) {
    case CT_SDT_F32:
        memcpy(out, s->state[k], numel * sizeof(float));
        break;
    case CT_SDT_BF16:
        ct_bf16_to_f32_at(o->simd, s->raw[k], out, numel);
        break;
    default: {
        const ct_qmap *m = &o->qmap[s->sdt[k] == CT_SDT_Q8U];
        const uint8_t *c = s->raw[k];
        for (size_t b = 0; b < numel; b += CT_QBLOCK)
            ct_dq8_block_at(o->simd, m, c + b, numel - b < CT_QBLOCK ? numel - b : CT_QBLOCK,
                            s->absmax[k][b / CT_QBLOCK], out + b);
    }
    }
    return CT_OK;
}

ct_status ct_optim_state_write(ct_optim *o, size_t g, size_t i, size_t k, const float *in,
                               size_t numel)
{
    ct_status st = state_io_check(o, g, i, k, in, numel, "ct_optim_state_write");
    if (st != CT_OK)
        return st;
    ct_slot *s = &o->groups[g].slots[i];
    switch (s->sdt[k]) {
    case CT_SDT_F32:
        memcpy(s->state[k], in, numel * sizeof(float));
        break;
    case CT_SDT_BF16:
        ct_f32_to_bf16_at(o->simd, in, s->raw[k], numel);
        break;
    default: {
        /* a block's scale is its largest magnitude: a value that is not
         * finite has no code, and is refused before anything is written */
        for (size_t j = 0; j < numel; j++)
            if (!isfinite(in[j]))
                return ct_fail(&o->err, CT_EINVAL,
                               "ct_optim_state_write: state '%s' of group %zu parameter %zu is "
                               "stored as 8-bit codes and element %zu is %g; nothing was written",
                               s->state_name[k], g, i, j, (double)in[j]);
        if (s->sdt[k] == CT_SDT_Q8U)
            for (size_t j = 0; j < numel; j++)
                if (in[j] < 0)
                    return ct_fail(&o->err, CT_EINVAL,
                                   "ct_optim_state_write: state '%s' of group %zu parameter %zu "
                                   "is stored as unsigned 8-bit codes and element %zu is %g < 0; "
                                   "nothing was written",
                                   s->state_name[k], g, i, j, (double)in[j]);
        const ct_qmap *m = &o->qmap[s->sdt[k] == CT_SDT_Q8U];
        uint8_t *c = s->raw[k];
        for (size_t b = 0; b < numel; b += CT_QBLOCK)
            s->absmax[k][b / CT_QBLOCK] = ct_q8_block_at(
                o->simd, m, in + b, numel - b < CT_QBLOCK ? numel - b : CT_QBLOCK, c + b);
    }
    }
    return CT_OK;
}

ct_status ct_optim_get_step(const ct_optim *o, size_t g, size_t i, int64_t *step)
{
    CHECK_PARAM(o, g, i);
    if (!step)
        return ct_fail((ct_err *)&o->err, CT_EINVAL, "ct_optim_get_step: step is NULL");
    *step = o->groups[g].slots[i].step;
    return CT_OK;
}

ct_status ct_optim_set_step(ct_optim *o, size_t g, size_t i, int64_t step)
{
    CHECK_PARAM(o, g, i);
    if (step < 0)
        return ct_fail(&o->err, CT_EINVAL, "step=%lld is invalid: must be >= 0", (long long)step);
    o->groups[g].slots[i].step = step;
    return CT_OK;
}

/* ---- the step ---------------------------------------------------------- */

/* A gradient element as a float, whatever its dtype. */
static float grad_at(const ct_slot *s, size_t j)
{
    if (s->p.dtype == CT_F32)
        return ct_gf(s)[j];
    uint16_t h = ((const uint16_t *)s->p.grad)[j];
    return s->p.dtype == CT_BF16 ? ct_bf16_to_f32(h) : ct_f16_to_f32(h);
}

/* ct_first_nonfinite for bf16 / fp16 gradients (scalar). */
static size_t first_nonfinite16(int dtype, const void *g, size_t b, size_t e, float scale)
{
    const uint16_t *h = g;
    for (size_t j = b; j < e; j++) {
        float v = dtype == CT_BF16 ? ct_bf16_to_f32(h[j]) : ct_f16_to_f32(h[j]);
        if (!isfinite(v * scale))
            return j;
    }
    return SIZE_MAX;
}

static void run_nonfinite_check(void *ctx, int tid, int nt)
{
    ct_optim *o = ctx;
    size_t b, e;
    ct_pool_split(o->n_chunks, tid, nt, &b, &e);
    const float scale = (float)o->grad_scale;
    for (size_t c = b; c < e; c++) {
        ct_chunk *ch = &o->chunks[c];
        const ct_slot *s = ch->slot;
        if (!s->p.grad)
            ch->bad = SIZE_MAX;
        else if (s->p.dtype == CT_F32)
            ch->bad = ct_first_nonfinite(o->simd, ct_gf(s), ch->begin, ch->end, scale);
        else
            ch->bad = first_nonfinite16(s->p.dtype, s->p.grad, ch->begin, ch->end, scale);
    }
}

/* grad *= scale over [b, e), as torch's clip_grad_norm_ multiplies the
 * gradients in place by its clip coefficient (float32). */
static void scale_grad(float *g, size_t b, size_t e, float scale)
{
    for (size_t j = b; j < e; j++)
        g[j] = g[j] * scale;
}

static void run_phase(void *ctx, int tid, int nt)
{
    ct_optim *o = ctx;
    size_t b, e;
    ct_pool_split(o->n_chunks, tid, nt, &b, &e);
    for (size_t c = b; c < e; c++) {
        ct_chunk *ch = &o->chunks[c];
        float *g = ch->slot->p.grad;
        if (!g)
            continue;
        memset(ch->red, 0, sizeof ch->red);
        if (!ch->slot->plain) {
            /* reduced precision (one-pass kinds only): scale, convert,
             * update, convert back, sub-chunk by sub-chunk */
            ct_prec_chunk(o, ch, tid);
            if (o->zero_after) {
                size_t es = ct_dtype_size(ch->slot->p.dtype);
                memset((char *)g + ch->begin * es, 0, (ch->end - ch->begin) * es);
            }
            continue;
        }
        /* The options fused into the pass act on the chunk the kernel reads,
         * while it is in cache: the scale before the first pass, the zeroing
         * after the last. */
        if (o->phase == 0 && o->grad_scale != 1.0)
            scale_grad(g, ch->begin, ch->end, (float)o->grad_scale);
        o->kfn(o->phase, ch->hp, ch->slot, ch->begin, ch->end, ch->red);
        if (o->phase == o->kind->n_phases - 1 && o->zero_after)
            memset(g + ch->begin, 0, (ch->end - ch->begin) * sizeof(float));
    }
}

/* Whole-parameter kinds: a static split over parameters. */
static void run_whole(void *ctx, int tid, int nt)
{
    ct_optim *o = ctx;
    size_t b, e, k = 0;
    ct_pool_split(o->n_params, tid, nt, &b, &e);
    for (size_t g = 0; g < o->n_groups; g++)
        for (size_t i = 0; i < o->groups[g].n; i++, k++) {
            ct_slot *s = &o->groups[g].slots[i];
            if (k < b || k >= e || !s->p.grad)
                continue;
            if (o->grad_scale != 1.0)
                scale_grad(s->p.grad, 0, s->p.numel, (float)o->grad_scale);
            const ct_optim_kind *kd = o->kind; /* at the SIMD level, if it has one */
            (o->simd > 0 && kd->update_simd[o->simd - 1] ? kd->update_simd[o->simd - 1]
                                                         : kd->update)(o->groups[g].hp, s);
            if (o->zero_after)
                memset(s->p.grad, 0, s->p.numel * sizeof(float));
        }
}

/* Lookahead (Zhang et al. 2019, Algorithm 1): every k steps of a group,
 * slow += alpha (fast - slow); fast = slow. As pytorch-optimizer 4.1.0's
 * Lookahead.update: fast = lerp(fast, slow, 1 - alpha) in ATen's rounding
 * (|w| < 0.5: fmaf(w, slow - fast, fast), else fmaf(w - 1, slow - fast,
 * slow)), then slow = fast, for the parameters that have a gradient in that
 * step; the counter counts every step of the group. */
static void lookahead_sync(ct_optim *o)
{
    const float w = (float)(1.0 - o->la_alpha);
    for (size_t g = 0; g < o->n_groups; g++) {
        ct_group *gr = &o->groups[g];
        if (++gr->la_counter < o->la_k)
            continue;
        gr->la_counter = 0;
        for (size_t i = 0; i < gr->n; i++) {
            ct_slot *s = &gr->slots[i];
            if (!s->p.grad)
                continue;
            float *p = ct_pf(s), *slow = s->state[s->n_state - 1];
            for (size_t j = 0; j < s->p.numel; j++)
                slow[j] = p[j] = ct_aten_lerpf(p[j], slow[j], w);
        }
    }
}

/* The team for a step: none (the calling thread alone) below serial_below
 * elements, where waking the workers costs more than they save (tens of
 * microseconds against a few). Which thread runs a chunk never changes its
 * result. */
static ct_pool *step_pool(const ct_optim *o)
{
    return o->n_elements < o->serial_below ? NULL : o->pool;
}

ct_status ct_optim_set_serial_below(ct_optim *o, size_t elements)
{
    if (!o)
        return ct_fail(NULL, CT_EINVAL, "ct_optim_set_serial_below: optimizer is NULL");
    o->serial_below = elements;
    return CT_OK;
}

ct_status ct_optim_step(ct_optim *o)
{
    if (!o)
        return ct_fail(NULL, CT_EINVAL, "ct_optim_step: optimizer is NULL");
    if (o->policy != CT_NONFINITE_NONE) {
        ct_pool_run(step_pool(o), run_nonfinite_check, o);
        for (size_t c = 0; c < o->n_chunks; c++)
            if (o->chunks[c].bad != SIZE_MAX) {
                if (o->policy == CT_NONFINITE_SKIP) {
                    o->skipped++;
                    return CT_OK;
                }
                const ct_slot *s = o->chunks[c].slot;
                size_t g = 0, i = 0;
                for (g = 0; g < o->n_groups; g++)
                    if (s >= o->groups[g].slots && s < o->groups[g].slots + o->groups[g].n) {
                        i = (size_t)(s - o->groups[g].slots);
                        break;
                    }
                return ct_fail(&o->err, CT_ENONFINITE,
                               "gradient of group %zu parameter %zu is %g at index %zu; step "
                               "not taken, parameters and state unchanged",
                               g, i, (double)grad_at(s, o->chunks[c].bad), o->chunks[c].bad);
            }
    }
    const ct_optim_kind *k = o->kind;
    for (size_t g = 0; g < o->n_groups; g++)
        for (size_t i = 0; i < o->groups[g].n; i++) {
            ct_slot *s = &o->groups[g].slots[i];
            if (!s->p.grad)
                continue;
            s->step++;
            /* init fills the state before prepare reads it (ASGD's eta and
             * mu, NAdam's mu_product); on 16-bit or 8-bit state it runs in
             * the pass instead, on the fp32 copy (ct_prec_chunk) */
            if (s->step == 1 && k->init && s->state32)
                k->init(o->groups[g].hp, s);
            if (k->prepare)
                k->prepare(o->groups[g].hp, s);
        }
    if (!k->kernel) {
        ct_pool_run(step_pool(o), run_whole, o);
    } else {
        o->kfn = o->simd > 0 && k->simd[o->simd - 1] ? k->simd[o->simd - 1] : k->kernel;
        for (int ph = 0; ph < k->n_phases; ph++) {
            o->phase = ph;
            ct_pool_run(step_pool(o), run_phase, o);
            if (!k->combine)
                continue;
            for (size_t g = 0; g < o->n_groups; g++)
                for (size_t i = 0; i < o->groups[g].n; i++) {
                    ct_slot *s = &o->groups[g].slots[i];
                    if (!s->p.grad)
                        continue;
                    double red[CT_MAX_RED] = {0};
                    for (size_t c = s->first_chunk; c < s->first_chunk + s->n_chunks; c++)
                        for (int r = 0; r < CT_MAX_RED; r++)
                            red[r] += o->chunks[c].red[r];
                    k->combine(ph, o->groups[g].hp, s, red);
                }
        }
    }
    if (o->la_k > 0)
        lookahead_sync(o);
    return CT_OK;
}

ct_status ct_optim_step_grads(ct_optim *o, void *const *grads, size_t n)
{
    if (!o)
        return ct_fail(NULL, CT_EINVAL, "ct_optim_step_grads: optimizer is NULL");
    if (!grads || n != o->n_params)
        return ct_fail(&o->err, CT_EINVAL,
                       "ct_optim_step_grads: %zu gradient pointers given for %zu parameters", n,
                       o->n_params);
    size_t k = 0;
    for (size_t g = 0; g < o->n_groups; g++)
        for (size_t i = 0; i < o->groups[g].n; i++)
            o->groups[g].slots[i].p.grad = grads[k++];
    return ct_optim_step(o);
}

ct_status ct_optim_step_buffers(ct_optim *o, void *const *data, void *const *grads, size_t n)
{
    if (!o)
        return ct_fail(NULL, CT_EINVAL, "ct_optim_step_buffers: optimizer is NULL");
    if (!data || !grads || n != o->n_params)
        return ct_fail(&o->err, CT_EINVAL,
                       "ct_optim_step_buffers: %zu pointers given for %zu parameters", n,
                       o->n_params);
    for (size_t k = 0; k < n; k++)
        if (!data[k])
            return ct_fail(&o->err, CT_EINVAL, "ct_optim_step_buffers: data[%zu] is NULL", k);
    size_t k = 0;
    for (size_t g = 0; g < o->n_groups; g++)
        for (size_t i = 0; i < o->groups[g].n; i++, k++) {
            o->groups[g].slots[i].p.data = data[k];
            o->groups[g].slots[i].p.grad = grads[k];
        }
    return ct_optim_step(o);
}

ct_status ct_optim_zero_grad(ct_optim *o)
{
    if (!o)
        return ct_fail(NULL, CT_EINVAL, "ct_optim_zero_grad: optimizer is NULL");
    for (size_t g = 0; g < o->n_groups; g++)
        for (size_t i = 0; i < o->groups[g].n; i++) {
            ct_slot *s = &o->groups[g].slots[i];
            if (s->p.grad)
                memset(s->p.grad, 0, s->p.numel * ct_dtype_size(s->p.dtype));
        }
    return CT_OK;
}

void ct_free(void *p) { free(p); }
