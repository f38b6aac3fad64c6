/* Saving and loading an optimizer's state as a safetensors file.
 *
 * Tensors: "G.I.NAME" (F32, [numel]) for each state buffer of parameter I of
 * group G, and "G.I.step" (I64, scalar). A buffer kept in reduced precision
 * (state_dtype) is saved as stored, bit for bit: BF16 [numel], or the 8-bit
 * codes as U8 [numel] plus "G.I.NAME.absmax" (F32, one per 256-element
 * block); the group's options say which. Metadata: format, format_version,
 * optimizer, groups (JSON: each group's options, parameter sizes and
 * lookahead counter) and lookahead (JSON {k, alpha}, if enabled). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/safetensors.h"
#include "optim_impl.h"
#include "precision.h"

/* A JSON number that reads back as the same double. cJSON prints 15
 * significant digits when it judges them close enough, which loses the last
 * bit of about one double in six (an lr set by a schedule, alpha = 1/3);
 * "%.17g" is exact. Non-finite values fall back to cJSON (null). */
static cJSON *exact_number(double v)
{
    if (!isfinite(v))
        return cJSON_CreateNumber(v);
    char buf[32];
    snprintf(buf, sizeof buf, "%.17g", v);
    return cJSON_CreateRaw(buf);
}

static ct_status build(ct_optim *o, ct_st_writer *w, char names[][96], int64_t *zero_dim)
{
    ct_status st = CT_OK;
    char *groups_json = NULL, *la_json = NULL;
    cJSON *groups = cJSON_CreateArray();
    if (!groups)
        return ct_fail(&o->err, CT_ENOMEM, "out of memory saving optimizer state");
    size_t k = 0;
    for (size_t g = 0; g < o->n_groups; g++) {
        ct_group *gr = &o->groups[g];
        cJSON *jg = cJSON_CreateObject(), *jo = cJSON_CreateObject(), *jn = cJSON_CreateArray();
        cJSON_AddItemToArray(groups, jg);
        cJSON_AddItemToObject(jg, "options", jo);
        cJSON_AddItemToObject(jg, "numel", jn);
        cJSON_AddNumberToObject(jg, "lookahead_counter", (double)gr->la_counter);
        for (size_t d = 0; d < o->kind->n_opts + ct_n_engine_opts; d++) {
            const ct_opt_desc *od = d < o->kind->n_opts ? &o->kind->opts[d]
                                                         : &ct_engine_opts[d - o->kind->n_opts];
            if (od->count == 1) {
                cJSON_AddItemToObject(jo, od->name, exact_number(gr->hp[od->slot]));
            } else {
                cJSON *a = cJSON_AddArrayToObject(jo, od->name);
                for (int c = 0; c < od->count; c++)
                    cJSON_AddItemToArray(a, exact_number(gr->hp[od->slot + c]));
            }
        }
        for (size_t i = 0; i < gr->n; i++) {
            ct_slot *s = &gr->slots[i];
            cJSON_AddItemToArray(jn, cJSON_CreateNumber((double)s->p.numel));
            for (int b = 0; b < s->n_state && !st; b++) {
                snprintf(names[k], 96, "%zu.%zu.%s", g, i, s->state_name[b]);
                int64_t shape[1] = {(int64_t)s->state_numel[b]};
                int dt = s->sdt[b] == CT_SDT_F32    ? CT_ST_F32
                         : s->sdt[b] == CT_SDT_BF16 ? CT_ST_BF16
                                                    : CT_ST_U8;
                st = ct_st_add(w, names[k++], dt, 1, shape, s->raw[b], &o->err);
                if (!st && s->absmax[b]) {
                    snprintf(names[k], 96, "%zu.%zu.%s.absmax", g, i, s->state_name[b]);
                    int64_t ashape[1] = {(int64_t)((s->state_numel[b] + CT_QBLOCK - 1) /
                                                   CT_QBLOCK)};
                    st = ct_st_add(w, names[k++], CT_ST_F32, 1, ashape, s->absmax[b], &o->err);
                }
            }
            snprintf(names[k], 96, "%zu.%zu.step", g, i);
            if (!st)
                st = ct_st_add(w, names[k++], CT_ST_I64, 0, zero_dim, &s->step, &o->err);
        }
    }
    groups_json = cJSON_PrintUnformatted(groups);
    cJSON_Delete(groups);
    if (o->la_k > 0) {
        cJSON *la = cJSON_CreateObject();
        cJSON_AddNumberToObject(la, "k", o->la_k);
        cJSON_AddItemToObject(la, "alpha", exact_number(o->la_alpha));
        la_json = cJSON_PrintUnformatted(la);
        cJSON_Delete(la);
    }
    char ver[16];
    snprintf(ver, sizeof ver, "%d", CT_STATE_VERSION);
    if (!st && (!groups_json || (o->la_k > 0 && !la_json)))
        st = ct_fail(&o->err, CT_ENOMEM, "out of memory saving optimizer state");
    if (!st)
        st = ct_st_add_meta(w, "format", CT_STATE_FORMAT, &o->err);
    if (!st)
        st = ct_st_add_meta(w, "format_version", ver, &o->err);
    if (!st)
        st = ct_st_add_meta(w, "optimizer", o->kind->name, &o->err);
    if (!st)
        st = ct_st_add_meta(w, "groups", groups_json, &o->err);
    if (!st && la_json)
        st = ct_st_add_meta(w, "lookahead", la_json, &o->err);
    free(groups_json);
    free(la_json);
    return st;
}

/* Runs build with enough name storage, then emits to memory. */
ct_status ct_optim_save_mem(ct_optim *o, void **buf, size_t *len)
{
    if (!o)
        return ct_fail(NULL, CT_EINVAL, "ct_optim_save_mem: optimizer is NULL");
    if (!buf || !len)
        return ct_fail(&o->err, CT_EINVAL, "ct_optim_save_mem: buf or len is NULL");
    size_t nt = 0;
    for (size_t g = 0; g < o->n_groups; g++)
        for (size_t i = 0; i < o->groups[g].n; i++)
            nt += 2 * (size_t)o->groups[g].slots[i].n_state + 1;
    char(*names)[96] = malloc((nt ? nt : 1) * sizeof *names);
    if (!names)
        return ct_fail(&o->err, CT_ENOMEM, "out of memory saving optimizer state");
    ct_st_writer w = {0};
    int64_t zero_dim[1] = {0};
    ct_status st = build(o, &w, names, zero_dim);
    if (!st)
        st = ct_st_serialize(&w, buf, len, &o->err);
    ct_st_writer_free(&w);
    free(names);
    return st ? ct_fail_keep(&o->err, st) : CT_OK;
}

ct_status ct_optim_save(ct_optim *o, const char *path)
{
    if (!o)
        return ct_fail(NULL, CT_EINVAL, "ct_optim_save: optimizer is NULL");
    if (!path)
        return ct_fail(&o->err, CT_EINVAL, "ct_optim_save: path is NULL");
    void *buf;
    size_t len;
    ct_status st = ct_optim_save_mem(o, &buf, &len);
    if (st)
        return st;
    st = ct_write_file_atomic(path, buf, len, &o->err);
    free(buf);
    return st;
}

/* Everything a load will install, prepared before anything is touched. */
typedef struct staged {
    double (*hp)[CT_MAX_HP];
    int64_t *la_counter;
    ct_slot *slots; /* one per parameter, all groups in order */
    size_t n;
} staged;

static void staged_free(staged *s, int free_blocks)
{
    if (free_blocks && s->slots)
        for (size_t i = 0; i < s->n; i++)
            free(s->slots[i].block);
    free(s->hp);
    free(s->la_counter);
    free(s->slots);
}

static ct_status parse_group_options(ct_optim *o, const cJSON *jo, size_t g, double *hp,
                                     const char *what)
{
    if (!cJSON_IsObject(jo))
        return ct_fail(&o->err, CT_EFORMAT, "%s: group %zu has no options object", what, g);
    memcpy(hp, o->groups[g].hp, sizeof(double) * CT_MAX_HP);
    const cJSON *it;
    cJSON_ArrayForEach(it, jo)
    {
        const ct_opt_desc *d = ct_opts_find(o->kind->opts, o->kind->n_opts, it->string);
        if (!d) /* absent from files of older versions: the group's value stays */
            d = ct_opts_find(ct_engine_opts, ct_n_engine_opts, it->string);
        if (!d)
            return ct_fail(&o->err, CT_EFORMAT, "%s: group %zu has unknown option '%s'", what, g,
                           it->string);
        /* JSON has no infinity or NaN: a number that reads as one (a
         * literal beyond double's range) is refused, as the save could not
         * write it back */
        if (d->count == 1 && cJSON_IsNumber(it) && !isfinite(it->valuedouble))
            return ct_fail(&o->err, CT_EFORMAT, "%s: option '%s' of group %zu is not a finite "
                           "number", what, d->name, g);
        if (d->count == 1 && cJSON_IsNumber(it)) {
            hp[d->slot] = it->valuedouble;
        } else if (d->count > 1 && cJSON_IsArray(it) && cJSON_GetArraySize(it) == d->count) {
            for (int c = 0; c < d->count; c++) {
                const cJSON *v = cJSON_GetArrayItem(it, c);
                if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
                    return ct_fail(&o->err, CT_EFORMAT, "%s: option '%s' is not a finite number",
                                   what, d->name);
                hp[d->slot + c] = v->valuedouble;
            }
        } else {
            return ct_fail(&o->err, CT_EFORMAT, "%s: option '%s' of group %zu has the wrong form",
                           what, d->name, g);
        }
    }
    for (size_t d = 0; d < o->kind->n_opts; d++)
        if (!cJSON_GetObjectItemCaseSensitive(jo, o->kind->opts[d].name))
            return ct_fail(&o->err, CT_EFORMAT, "%s: group %zu lacks option '%s'", what, g,
                           o->kind->opts[d].name);
    ct_status st = ct_opts_check(o->kind->opts, o->kind->n_opts, what, hp, &o->err);
    if (!st)
        st = ct_opts_check(ct_engine_opts, ct_n_engine_opts, what, hp, &o->err);
    if (!st && o->kind->check)
        st = o->kind->check(hp, &o->err);
    return st ? ct_fail(&o->err, CT_EFORMAT, "%s: invalid options in group %zu: %s", what, g,
                        o->err.msg)
              : CT_OK;
}

static ct_status load_parsed(ct_optim *o, const ct_st_file *f, const char *what)
{
    const char *fmt = ct_st_meta(f, "format"), *ver = ct_st_meta(f, "format_version");
    const char *name = ct_st_meta(f, "optimizer"), *gj = ct_st_meta(f, "groups");
    const char *la = ct_st_meta(f, "lookahead");
    if (!fmt || strcmp(fmt, CT_STATE_FORMAT))
        return ct_fail(&o->err, CT_EFORMAT,
                       "%s: not a ctrain optimizer state (metadata format is '%s', expected '%s')",
                       what, fmt ? fmt : "(none)", CT_STATE_FORMAT);
    char want_ver[16];
    snprintf(want_ver, sizeof want_ver, "%d", CT_STATE_VERSION);
    if (!ver || strcmp(ver, want_ver))
        return ct_fail(&o->err, CT_EMISMATCH,
                       "%s: state format version '%s' is not supported (this build reads %s)",
                       what, ver ? ver : "(none)", want_ver);
    if (!name || strcmp(name, o->kind->name))
        return ct_fail(&o->err, CT_EMISMATCH,
                       "%s: state of optimizer '%s' cannot be loaded into '%s'", what,
                       name ? name : "(none)", o->kind->name);
    if ((la != NULL) != (o->la_k > 0))
        return ct_fail(&o->err, CT_EMISMATCH, "%s: state was saved %s lookahead, this optimizer "
                       "has it %s", what, la ? "with" : "without", o->la_k > 0 ? "on" : "off");
    if (la) {
        cJSON *jl = cJSON_Parse(la);
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(jl, "k");
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(jl, "alpha");
        int ok = cJSON_IsNumber(k) && cJSON_IsNumber(a) && k->valuedouble == o->la_k &&
                 a->valuedouble == o->la_alpha;
        cJSON_Delete(jl);
        if (!ok)
            return ct_fail(&o->err, CT_EMISMATCH, "%s: lookahead settings differ (k=%d alpha=%g "
                           "here)", what, o->la_k, o->la_alpha);
    }
    if (!gj)
        return ct_fail(&o->err, CT_EFORMAT, "%s: metadata lacks 'groups'", what);
    cJSON *groups = cJSON_Parse(gj);
    if (!cJSON_IsArray(groups)) {
        cJSON_Delete(groups);
        return ct_fail(&o->err, CT_EFORMAT, "%s: metadata 'groups' is not a JSON array", what);
    }
    ct_status st = CT_OK;
    staged sg = {0};
    size_t expect_tensors = 0;
    if ((size_t)cJSON_GetArraySize(groups) != o->n_groups) {
        st = ct_fail(&o->err, CT_EMISMATCH, "%s: state has %d parameter groups, optimizer has %zu",
                     what, cJSON_GetArraySize(groups), o->n_groups);
        goto out;
    }
    sg.hp = calloc(o->n_groups ? o->n_groups : 1, sizeof *sg.hp);
    sg.la_counter = calloc(o->n_groups ? o->n_groups : 1, sizeof *sg.la_counter);
    sg.slots = calloc(o->n_params ? o->n_params : 1, sizeof *sg.slots);
    if (!sg.hp || !sg.la_counter || !sg.slots) {
        st = ct_fail(&o->err, CT_ENOMEM, "out of memory loading optimizer state");
        goto out;
    }
    for (size_t g = 0; g < o->n_groups; g++) {
        ct_group *gr = &o->groups[g];
        const cJSON *jg = cJSON_GetArrayItem(groups, (int)g);
        const cJSON *jn = cJSON_GetObjectItemCaseSensitive(jg, "numel");
        const cJSON *jc = cJSON_GetObjectItemCaseSensitive(jg, "lookahead_counter");
        if (!cJSON_IsArray(jn) || (size_t)cJSON_GetArraySize(jn) != gr->n) {
            st = ct_fail(&o->err, CT_EMISMATCH,
                         "%s: group %zu has %d parameters in the state, %zu in the optimizer",
                         what, g, cJSON_IsArray(jn) ? cJSON_GetArraySize(jn) : -1, gr->n);
            goto out;
        }
        /* An integer in [0, 2^53]: anything else (1e300, 2.5, NaN) would
         * make the conversion to int64_t below undefined or lossy. */
        if (!cJSON_IsNumber(jc) ||
            !(jc->valuedouble >= 0 && jc->valuedouble <= 9007199254740992.0) ||
            jc->valuedouble != floor(jc->valuedouble)) {
            st = ct_fail(&o->err, CT_EFORMAT, "%s: group %zu lacks a valid lookahead_counter",
                         what, g);
            goto out;
        }
        sg.la_counter[g] = (int64_t)jc->valuedouble;
        if ((st = parse_group_options(o, cJSON_GetObjectItemCaseSensitive(jg, "options"), g,
                                      sg.hp[g], what)))
            goto out;
        for (size_t i = 0; i < gr->n; i++) {
            const cJSON *v = cJSON_GetArrayItem(jn, (int)i);
            if (!cJSON_IsNumber(v) || v->valuedouble != (double)gr->slots[i].p.numel) {
                st = ct_fail(&o->err, CT_EMISMATCH,
                             "%s: parameter %zu of group %zu has %.0f elements in the state, "
                             "%zu in the optimizer",
                             what, i, g, cJSON_IsNumber(v) ? v->valuedouble : -1.0,
                             gr->slots[i].p.numel);
                goto out;
            }
            ct_slot *s = &sg.slots[sg.n];
            s->p = gr->slots[i].p;
            if ((st = ct_optim_alloc_state(o, sg.hp[g], s)))
                goto out;
            sg.n++;
            char tn[96];
            for (int b = 0; b < s->n_state; b++) {
                snprintf(tn, sizeof tn, "%zu.%zu.%s", g, i, s->state_name[b]);
                const ct_st_tensor *t = ct_st_find(f, tn);
                int dt = s->sdt[b] == CT_SDT_F32    ? CT_ST_F32
                         : s->sdt[b] == CT_SDT_BF16 ? CT_ST_BF16
                                                    : CT_ST_U8;
                if (!t || (int)t->dtype != dt || t->numel != s->state_numel[b]) {
                    st = ct_fail(&o->err, t ? CT_EMISMATCH : CT_EFORMAT,
                                 "%s: state tensor '%s' is %s (need %s with %zu elements)", what,
                                 tn, t ? "of the wrong dtype or size" : "missing",
                                 ct_st_dtype_name(dt), s->state_numel[b]);
                    goto out;
                }
                memcpy(s->raw[b], t->data, t->nbytes);
                if (s->absmax[b]) {
                    size_t nb = (s->state_numel[b] + CT_QBLOCK - 1) / CT_QBLOCK;
                    snprintf(tn, sizeof tn, "%zu.%zu.%s.absmax", g, i, s->state_name[b]);
                    t = ct_st_find(f, tn);
                    if (!t || t->dtype != CT_ST_F32 || t->numel != nb) {
                        st = ct_fail(&o->err, t ? CT_EMISMATCH : CT_EFORMAT,
                                     "%s: state tensor '%s' is %s (need F32 with %zu elements)",
                                     what, tn, t ? "of the wrong dtype or size" : "missing", nb);
                        goto out;
                    }
                    memcpy(s->absmax[b], t->data, t->nbytes);
                    expect_tensors++;
                }
            }
            snprintf(tn, sizeof tn, "%zu.%zu.step", g, i);
            const ct_st_tensor *t = ct_st_find(f, tn);
            if (!t || t->dtype != CT_ST_I64 || t->numel != 1) {
                st = ct_fail(&o->err, CT_EFORMAT, "%s: '%s' is missing or not an I64 scalar",
                             what, tn);
                goto out;
            }
            memcpy(&s->step, t->data, sizeof s->step);
            if (s->step < 0) {
                st = ct_fail(&o->err, CT_EFORMAT, "%s: '%s' is negative", what, tn);
                goto out;
            }
            expect_tensors += (size_t)s->n_state + 1;
        }
    }
    if (f->n != expect_tensors)
        st = ct_fail(&o->err, CT_EMISMATCH, "%s: state holds %zu tensors, %zu expected", what,
                     f->n, expect_tensors);
out:
    cJSON_Delete(groups);
    if (st) {
        staged_free(&sg, 1);
        return st;
    }
    /* Commit: nothing below can fail. */
    size_t k = 0;
    for (size_t g = 0; g < o->n_groups; g++) {
        ct_group *gr = &o->groups[g];
        memcpy(gr->hp, sg.hp[g], sizeof gr->hp);
        gr->la_counter = sg.la_counter[g];
        for (size_t i = 0; i < gr->n; i++, k++) {
            ct_slot *s = &gr->slots[i];
            free(s->block);
            sg.slots[k].first_chunk = s->first_chunk;
            sg.slots[k].n_chunks = s->n_chunks;
            sg.slots[k].uid = s->uid;
            *s = sg.slots[k];
        }
    }
    staged_free(&sg, 0);
    return CT_OK;
}

ct_status ct_optim_load_mem(ct_optim *o, const void *buf, size_t len)
{
    if (!o)
        return ct_fail(NULL, CT_EINVAL, "ct_optim_load_mem: optimizer is NULL");
    if (!buf)
        return ct_fail(&o->err, CT_EINVAL, "ct_optim_load_mem: buf is NULL");
    ct_st_file f;
    ct_status st = ct_st_parse(buf, len, "optimizer state", &f, &o->err);
    if (st)
        return st;
    st = load_parsed(o, &f, "optimizer state");
    ct_st_free(&f);
    return st;
}

ct_status ct_optim_load(ct_optim *o, const char *path)
{
    if (!o)
        return ct_fail(NULL, CT_EINVAL, "ct_optim_load: optimizer is NULL");
    if (!path)
        return ct_fail(&o->err, CT_EINVAL, "ct_optim_load: path is NULL");
    ct_st_file f;
    ct_status st = ct_st_read_file(path, &f, &o->err);
    if (st)
        return st;
    st = load_parsed(o, &f, path);
    ct_st_free(&f);
    return st;
}
