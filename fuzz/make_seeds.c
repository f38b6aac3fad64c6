/* Writes the seed corpora of the fuzz targets into DIR/NAME/ (run by
 * scripts/run-fuzzers.sh; nothing of it is kept in git):
 *   state_load   adamw states of fuzz_layout.h: fresh, after steps, amsgrad,
 *                with lookahead, with odd options
 *   safetensors  the same states and a few small foreign files
 *   options      a kind byte followed by option text, for every kind
 *   bfo_state    BFO states of fuzz_bfo.h for every kind, fresh and after
 *                steps, and a hybrid state of format version 1
 * usage: fuzz_make_seeds DIR */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_bfo.h"
#include "fuzz_layout.h"
#include "sched/sched_impl.h"
#include "data_seeds.h"
#include "png_seeds.h"

static int put(const char *dir, const char *name, const void *buf, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    if (!fp || (len && fwrite(buf, 1, len, fp) != len)) {
        fprintf(stderr, "fuzz_make_seeds: cannot write %s\n", path);
        return 1;
    }
    return fclose(fp) != 0;
}

static int mkdirs(const char *d)
{
    return mkdir(d, 0755) != 0 && errno != EEXIST;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    char sl[900], st[900], op[900], sc[900], bs[900];
    snprintf(sl, sizeof sl, "%s/state_load", argv[1]);
    snprintf(st, sizeof st, "%s/safetensors", argv[1]);
    snprintf(op, sizeof op, "%s/options", argv[1]);
    snprintf(sc, sizeof sc, "%s/sched", argv[1]);
    snprintf(bs, sizeof bs, "%s/bfo_state", argv[1]);
    if (mkdirs(argv[1]) || mkdirs(sl) || mkdirs(st) || mkdirs(op) || mkdirs(sc) || mkdirs(bs)) {
        fprintf(stderr, "fuzz_make_seeds: cannot create the directories under %s\n", argv[1]);
        return 1;
    }
    int bad = 0, n = 0;
    static const struct { int lookahead, steps; const char *options; } states[] = {
        {0, 0, NULL}, {0, 1, NULL}, {0, 4, NULL}, {0, 2, "amsgrad=true"},
        {1, 2, NULL}, {1, 4, "amsgrad=true maximize=true"}, {0, 2, "betas=0.5,0.6 eps=1e-3"},
    };
    for (size_t s = 0; s < sizeof states / sizeof *states; s++) {
        fz_env e;
        if (fz_make(&e, states[s].lookahead, states[s].options)) {
            fprintf(stderr, "fuzz_make_seeds: setup: %s\n", ct_errmsg());
            return 1;
        }
        for (int k = 0; k < states[s].steps; k++)
            ct_optim_step(e.o);
        void *buf;
        size_t len;
        if (ct_optim_save_mem(e.o, &buf, &len)) {
            fprintf(stderr, "fuzz_make_seeds: save: %s\n", ct_errmsg());
            return 1;
        }
        /* A seed is only useful if it loads into the target's optimizer. */
        fz_env f;
        if (fz_make(&f, states[s].lookahead, NULL) || ct_optim_load_mem(f.o, buf, len)) {
            fprintf(stderr, "fuzz_make_seeds: seed %zu does not load: %s\n", s, ct_errmsg());
            return 1;
        }
        fz_free(&f);
        char name[64];
        snprintf(name, sizeof name, "state%zu", s);
        bad |= put(sl, name, buf, len) | put(st, name, buf, len);
        n += 2;
        ct_free(buf);
        fz_free(&e);
    }
    /* A few foreign files: header JSON and data. */
    static const struct { const char *json, *data; size_t dlen; } foreign[] = {
        {"{}", "", 0},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
         "\x00\x00\x80\x3f", 4},
        {"{\"__metadata__\":{\"k\":\"v\"},\"b\":{\"dtype\":\"U8\",\"shape\":[],"
         "\"data_offsets\":[0,1]},\"c\":{\"dtype\":\"I64\",\"shape\":[0,3],"
         "\"data_offsets\":[1,1]}}",
         "\x07", 1},
    };
    for (size_t i = 0; i < sizeof foreign / sizeof *foreign; i++) {
        char buf[512], name[32];
        size_t hl = strlen(foreign[i].json);
        for (int k = 0; k < 8; k++)
            buf[k] = (char)((uint64_t)hl >> (8 * k));
        memcpy(buf + 8, foreign[i].json, hl);
        memcpy(buf + 8 + hl, foreign[i].data, foreign[i].dlen);
        snprintf(name, sizeof name, "foreign%zu", i);
        bad |= put(st, name, buf, 8 + hl + foreign[i].dlen);
        n++;
    }
    static const char *const texts[] = {
        "lr=1e-3 betas=0.9,0.999 eps=1e-8 weight_decay=0.01 amsgrad=true maximize=false",
        "lr=0.1 momentum=0.9 dampening=0 nesterov=true weight_decay=1e-4",
        "lr=0.01 alpha=0.99 centered=true momentum=0.5",
        "lr=1 rho=0.9 eps=1e-6",
        "lr=0.01 etas=0.5,1.2 step_sizes=1e-6,50",
        "lr=0.01 lambd=1e-4 alpha=0.75 t0=1e6",
        "lr=1e-3 beta3=0.5 decay_rate=-0.8 clip_threshold=1 relative_step=true",
        "lr=1e-3 trust_coefficient=0.001 momentum=0.9",
        "lr=0.5   ",
        "lr=",
        "betas=0.9",
    };
    size_t nk = 0;
    while (ct_optim_kind_name(nk))
        nk++;
    for (size_t k = 0; k < nk; k++)
        for (size_t t = 0; t < sizeof texts / sizeof *texts; t++) {
            char buf[256], name[32];
            buf[0] = (char)k;
            size_t len = strlen(texts[t]);
            memcpy(buf + 1, texts[t], len);
            snprintf(name, sizeof name, "k%02zu_t%02zu", k, t);
            bad |= put(op, name, buf, len + 1);
            n++;
        }
    /* schedules: kind byte, steps, factor byte, option text (fuzz_sched.c) */
    static const struct { const char *kind, *text; } sched_seeds[] = {
        {"step", "step_size=3 gamma=0.5"}, {"multistep", "milestones=2,5,5 gamma=0.3"},
        {"exponential", "gamma=0.9"}, {"cosine", "T_max=7 eta_min=1e-4"},
        {"cosine_warm_restarts", "T_0=3 T_mult=2"},
        {"onecycle", "max_lr=0.1,0.05 total_steps=20 three_phase=true"},
        {"onecycle", "max_lr=0.1 epochs=4 steps_per_epoch=5 anneal_strategy=linear"},
        {"linear", "start_factor=0.25 total_iters=6"}, {"constant", "factor=0.5 total_iters=4"},
        {"polynomial", "total_iters=9 power=2"},
        {"cyclic", "base_lr=0.001 max_lr=0.01 step_size_up=3 mode=exp_range gamma=0.9"},
        {"plateau", "patience=1 factor=0.5 cooldown=1 min_lr=1e-4"},
        {"lambda", "last_epoch=3 initial_lr=0.1,0.2"}, {"multiplicative", ""},
        {"swa", "swa_lr=0.05 anneal_epochs=3 anneal_strategy=linear"},
    };
    for (size_t i = 0; i < sizeof sched_seeds / sizeof *sched_seeds; i++) {
        size_t k = 0;
        while (ct_sched_kind_name(k) && strcmp(ct_sched_kind_name(k), sched_seeds[i].kind))
            k++;
        for (int sequenced = 0; sequenced < 2; sequenced++) {
            char buf[256], name[32];
            size_t nsk = 0, len = strlen(sched_seeds[i].text);
            while (ct_sched_kind_name(nsk))
                nsk++;
            buf[0] = (char)(k + (sequenced ? nsk : 0));
            buf[1] = 30;
            buf[2] = (char)(i % 2 ? 0x83 : 0x3c);
            memcpy(buf + 3, sched_seeds[i].text, len);
            snprintf(name, sizeof name, "s%02zu_%d", i, sequenced);
            bad |= put(sc, name, buf, len + 3);
            n++;
        }
    }
    /* BFO states (fuzz_bfo_state.c): each kind after 0, 1 and 3 steps */
    static const char *bfo_kinds[] = {"bfo", "adaptive", "hybrid"};
    for (size_t k = 0; k < 3; k++)
        for (int steps = 0; steps <= 3; steps += steps ? 2 : 1) {
            ct_bfo *b = fb_make(bfo_kinds[k]);
            double x[FB_DIM] = {1, -2, 0.5};
            for (int s = 0; s < steps; s++)
                ct_bfo_step(b, x, 40, NULL);
            size_t len = 0;
            ct_bfo_state_size(b, &len);
            unsigned char *buf = malloc(len);
            char name[32];
            if (!buf || ct_bfo_state_save(b, buf, len) != CT_OK) {
                fprintf(stderr, "fuzz_make_seeds: BFO state: %s\n", ct_bfo_errmsg(b));
                bad = 1;
            } else {
                snprintf(name, sizeof name, "%s%d", bfo_kinds[k], steps);
                bad |= put(bs, name, buf, len);
                n++;
                if (k == 2 && steps) {
                    /* version 1: no best gradient at the end, no flag 32 */
                    uint32_t v1 = 1, flags;
                    memcpy(buf + 8, &v1, 4);
                    memcpy(&flags, buf + 16, 4);
                    flags &= ~32u;
                    memcpy(buf + 16, &flags, 4);
                    snprintf(name, sizeof name, "hybrid%d_v1", steps);
                    bad |= put(bs, name, buf, len - 8 * FB_DIM);
                    n++;
                }
            }
            free(buf);
            ct_bfo_destroy(b);
        }
    int nd = ds_write_all(argv[1]);
    bad |= nd < 0;
    n += nd > 0 ? nd : 0;
    nd = ps_write_all(argv[1]);
    bad |= nd < 0;
    n += nd > 0 ? nd : 0;
    if (!bad)
        printf("fuzz_make_seeds: %d seeds under %s\n", n, argv[1]);
    return bad;
}
