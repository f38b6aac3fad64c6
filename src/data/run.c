/* DLIO's training-loop emulation and metrics (dlio_benchmark/main.py
 * _train and _eval, utils/statscounter.py): per step read a batch, then
 * "compute" (sleep computation_time); AU = compute time / wall time with the
 * first step of each epoch excluded; throughput = samples / time; I/O MB/s =
 * throughput x record_length / 2^20. With workflow.evaluation, after epoch
 * e (1-based) >= eval_after_epoch and every epochs_between_evals epochs,
 * the eval set is read with batch_size_eval and eval_time slept per step;
 * the eval_* metrics of DLIO's summary are written. Adds what DLIO does not measure: the
 * bytes actually read. Writes {output}/{rank}_output.json and, on rank 0,
 * summary.json in DLIO's shape. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../core/error.h"
#include "formats.h"
#include "nprand.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* utils/utility.py sleep(): the absolute value of a draw */
static double draw_time(const ct_dlio_time *t, ct_nprand *r)
{
    double v = t->mean;
    switch (t->kind) {
    case CT_TIME_NORMAL: v = ct_nprand_normal(r, t->mean, t->stdev); break;
    case CT_TIME_UNIFORM: v = t->min + (t->max - t->min) * ct_nprand_double(r); break;
    case CT_TIME_EXPONENTIAL: v = -t->scale * log(1.0 - ct_nprand_double(r)); break;
    case CT_TIME_GAMMA: { /* Marsaglia-Tsang, shape >= 1 (shape < 1 boosted) */
        double k = t->shape > 0 ? t->shape : 1, boost = 1;
        if (k < 1) {
            boost = pow(ct_nprand_double(r), 1.0 / k);
            k += 1;
        }
        double d = k - 1.0 / 3, c = 1 / sqrt(9 * d), x, vv;
        for (;;) {
            do {
                x = ct_nprand_normal(r, 0, 1);
                vv = 1 + c * x;
            } while (vv <= 0);
            vv = vv * vv * vv;
            double u = ct_nprand_double(r);
            if (log(u) < 0.5 * x * x + d - d * vv + d * log(vv))
                break;
        }
        v = d * vv * boost * t->scale;
        break;
    }
    case CT_TIME_POISSON: {
        double L = exp(-t->lam), p = 1;
        int k = 0;
        do {
            k++;
            p *= ct_nprand_double(r);
        } while (p > L && k < 100000);
        v = k - 1;
        break;
    }
    default: break;
    }
    return fabs(v);
}

static ct_status mkdirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(buf, 0777);
            *p = '/';
        }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return ct_fail(NULL, CT_EIO, "cannot create '%s': %s", buf, strerror(errno));
    return CT_OK;
}

/* A checkpoint of model_size bytes (DLIO writes the model's tensors). */
static ct_status write_checkpoint(const ct_dlio_config *c, int rank, int64_t step, double *secs)
{
    ct_status st = mkdirs(c->checkpoint_folder);
    if (st != CT_OK)
        return st;
    char p[4200];
    snprintf(p, sizeof p, "%s/model-rank%d-step%lld.pt", c->checkpoint_folder, rank, (long long)step);
    double t0 = now_s();
    FILE *f = fopen(p, "wb");
    if (!f)
        return ct_fail(NULL, CT_EIO, "cannot create checkpoint '%s': %s", p, strerror(errno));
    static const uint8_t zeros[1 << 16];
    uint64_t left = (uint64_t)c->model_size;
    while (left && st == CT_OK) {
        size_t k = left > sizeof zeros ? sizeof zeros : (size_t)left;
        st = ct_write_all(f, zeros, k, p);
        left -= k;
    }
    if (fclose(f) != 0 && st == CT_OK)
        st = ct_fail(NULL, CT_EIO, "%s: close failed", p);
    *secs += now_s() - t0;
    return st;
}

static double mean(const double *v, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += v[i];
    return n ? s / n : 0;
}

static double stdev(const double *v, int n)
{
    double m = mean(v, n), s = 0;
    for (int i = 0; i < n; i++)
        s += (v[i] - m) * (v[i] - m);
    return n ? sqrt(s / n) : 0;
}

static cJSON *arr(const double *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static ct_status write_json(const char *path, cJSON *j)
{
    char *s = cJSON_Print(j);
    if (!s)
        return ct_fail(NULL, CT_ENOMEM, "out of memory writing %s", path);
    FILE *f = fopen(path, "w");
    ct_status st = CT_OK;
    if (!f || fputs(s, f) < 0 || fputc('\n', f) < 0)
        st = ct_fail(NULL, CT_EIO, "cannot write '%s'", path);
    if (f && fclose(f) != 0 && st == CT_OK)
        st = ct_fail(NULL, CT_EIO, "cannot write '%s'", path);
    free(s);
    return st;
}

typedef struct rank_stats {
    int epochs, evals;
    double au[4096], tput[4096], io[4096], real_io[4096];
    double eau[4096], etput[4096];  /* per evaluation */
    int64_t samples, steps;
    int64_t failed_batches; /* reader.on_error: continue */
    uint64_t bytes;
    double wall, ckpt_secs;
    int ckpts;
} rank_stats;

/* reader.on_error: continue — the failed batch is reported on stderr (the
 * loader's message names the file and offset), counted, and the run goes on
 * with the next one. */
static void report_failed(rank_stats *rs, const char *phase, int e, const char *msg)
{
    fprintf(stderr, "ctrain dlio run: %s epoch %d: batch skipped: %s\n", phase, e + 1, msg);
    rs->failed_batches++;
}

/* One evaluation after training epoch e (0-based), as DLIO's main._eval
 * and StatsCounter.compute_metrics_eval: per step read a batch of the eval
 * set, then sleep eval_time; AU = eval time of steps 2.. / (duration -
 * first step); throughput = steps x batch_size_eval / duration. */
static ct_status run_eval(const ct_dlio_config *c, ct_loader *ev, int e, ct_nprand *rng,
                          rank_stats *rs)
{
    ct_status st = ct_loader_start_epoch(ev, e);
    if (st != CT_OK)
        return ct_fail(NULL, st, "evaluation: %s", ct_loader_errmsg(ev));
    double t0 = now_s(), step_t0 = t0, first = 0, compute = 0;
    int64_t steps = 0;
    for (;;) {
        ct_batch b;
        int done = 0;
        if ((st = ct_loader_next(ev, &b, &done)) != CT_OK) {
            if (!c->on_error)
                return ct_fail(NULL, st, "evaluation: %s", ct_loader_errmsg(ev));
            report_failed(rs, "evaluation", e, ct_loader_errmsg(ev));
            continue;
        }
        if (done)
            break;
        double et = draw_time(&c->eval_time, rng);
        sleep_s(et);
        if (steps == 0)
            first = now_s() - step_t0;
        else
            compute += et;
        steps++;
        step_t0 = now_s();
    }
    double dur = now_s() - t0;
    rs->eau[rs->evals] = compute > 0 && dur - first > 0 ? 100.0 * compute / (dur - first) : 0;
    rs->etput[rs->evals] = dur > 0 ? (double)steps * (double)c->batch_size_eval / dur : 0;
    rs->evals++;
    return CT_OK;
}

ct_status ct_dlio_run(const ct_dlio_config *c, const ct_dlio_run_opts *o)
{
    if (!c || !o)
        return ct_fail(NULL, CT_EINVAL, "ct_dlio_run: NULL argument");
    if (strcmp(c->storage_type, "local_fs") && strcmp(c->storage_type, "parallel_fs"))
        return ct_fail(NULL, CT_EUNSUPPORTED, "storage.storage_type '%s' is not supported (local_fs, parallel_fs)",
                       c->storage_type);
    const char *outdir = o->output_dir ? o->output_dir : c->output_folder;
    ct_status st = mkdirs(outdir);
    if (st != CT_OK)
        return st;
    rank_stats *rs = calloc(1, sizeof *rs);
    if (!rs)
        return ct_fail(NULL, CT_ENOMEM, "out of memory");
    ct_loader *l = NULL, *ev = NULL;
    if ((st = ct_loader_create(&l, c, 0, o->rank, o->size)) != CT_OK) {
        free(rs);
        return st;
    }
    int do_eval = c->do_eval && c->num_files_eval > 0;
    if (do_eval && (st = ct_loader_create(&ev, c, 1, o->rank, o->size)) != CT_OK) {
        ct_loader_destroy(l);
        free(rs);
        return st;
    }
    int next_eval = c->eval_after_epoch;
    ct_nprand rng;
    ct_nprand_seed(&rng, (uint32_t)c->seed + (uint32_t)o->rank);
    double run0 = now_s();
    int64_t total_steps = 0;
    int stop = 0;
    for (int e = 0; e < c->epochs && !stop && e < 4096; e++) {
        if ((st = ct_loader_start_epoch(l, e)) != CT_OK)
            break;
        double t0 = now_s(), compute = 0, first_end = t0;
        uint64_t b0 = ct_loader_bytes_read(l);
        int64_t samples = 0, step = 0;
        for (;;) {
            ct_batch b;
            int done = 0;
            st = ct_loader_next(l, &b, &done);
            if (st != CT_OK && c->on_error) {
                report_failed(rs, "training", e, ct_loader_errmsg(l));
                st = CT_OK;
                continue;
            }
            if (st != CT_OK) {
                st = ct_fail(NULL, st, "%s", ct_loader_errmsg(l));
                stop = 1;
                break;
            }
            if (done)
                break;
            double ct = draw_time(&c->computation_time, &rng);
            sleep_s(ct);
            if (step == 0) {
                first_end = now_s();
            } else {
                compute += ct;
                samples += b.count;
            }
            step++;
            total_steps++;
            if (c->do_checkpoint && c->steps_between_checkpoints > 0 &&
                total_steps % c->steps_between_checkpoints == 0) {
                if ((st = write_checkpoint(c, o->rank, total_steps, &rs->ckpt_secs)) != CT_OK) {
                    stop = 1;
                    break;
                }
                rs->ckpts++;
            }
            if (c->total_training_steps > 0 && total_steps >= c->total_training_steps) {
                stop = 1;
                break;
            }
        }
        double wall = now_s() - first_end;
        uint64_t bytes = ct_loader_bytes_read(l) - b0;
        rs->au[rs->epochs] = wall > 0 ? 100.0 * compute / wall : 0;
        rs->tput[rs->epochs] = wall > 0 ? (double)samples / wall : 0;
        rs->io[rs->epochs] = rs->tput[rs->epochs] * c->record_length / 1048576.0;
        rs->real_io[rs->epochs] = (now_s() - t0) > 0 ? (double)bytes / (now_s() - t0) / 1048576.0 : 0;
        rs->epochs++;
        rs->samples += samples + (step > 0 ? 0 : 0);
        rs->steps += step;
        if (st != CT_OK)
            break;
        if (do_eval && e + 1 >= next_eval && rs->evals < 4096) {
            next_eval += c->epochs_between_evals;
            if ((st = run_eval(c, ev, e, &rng, rs)) != CT_OK)
                break;
        }
        if (c->do_checkpoint && c->steps_between_checkpoints <= 0 && e + 1 >= c->checkpoint_after_epoch &&
            (e + 1 - c->checkpoint_after_epoch) % c->epochs_between_checkpoints == 0) {
            if ((st = write_checkpoint(c, o->rank, total_steps, &rs->ckpt_secs)) != CT_OK)
                break;
            rs->ckpts++;
        }
    }
    rs->bytes = ct_loader_bytes_read(l) + ct_loader_bytes_read(ev);
    rs->wall = now_s() - run0;
    ct_loader_destroy(l);
    ct_loader_destroy(ev);
    if (st != CT_OK) {
        free(rs);
        return st;
    }
    /* per-rank JSON */
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "rank", o->rank);
    cJSON_AddItemToObject(j, "au", arr(rs->au, rs->epochs));
    cJSON_AddItemToObject(j, "throughput", arr(rs->tput, rs->epochs));
    cJSON_AddItemToObject(j, "io_MB_per_second", arr(rs->io, rs->epochs));
    cJSON_AddItemToObject(j, "io_actual_MB_per_second", arr(rs->real_io, rs->epochs));
    if (do_eval) {
        cJSON_AddItemToObject(j, "eval_au", arr(rs->eau, rs->evals));
        cJSON_AddItemToObject(j, "eval_throughput", arr(rs->etput, rs->evals));
    }
    cJSON_AddNumberToObject(j, "steps", (double)rs->steps);
    cJSON_AddNumberToObject(j, "bytes_read", (double)rs->bytes);
    cJSON_AddNumberToObject(j, "failed_batches", (double)rs->failed_batches);
    cJSON_AddNumberToObject(j, "checkpoints", rs->ckpts);
    cJSON_AddNumberToObject(j, "checkpoint_seconds", rs->ckpt_secs);
    cJSON_AddNumberToObject(j, "wall_seconds", rs->wall);
    char p[4200];
    snprintf(p, sizeof p, "%s/%d_output.json", outdir, o->rank);
    st = write_json(p, j);
    cJSON_Delete(j);
    if (st != CT_OK || o->rank != 0) {
        free(rs);
        return st;
    }
    /* rank 0: wait for every rank's file, then average as DLIO's summary */
    int size = o->size < 1 ? 1 : o->size;
    double *au = calloc((size_t)size * 4096, sizeof *au), *tp = calloc((size_t)size * 4096, sizeof *tp);
    double *vau = calloc((size_t)size * 4096, sizeof *vau), *vtp = calloc((size_t)size * 4096, sizeof *vtp);
    double tbytes = 0, tfailed = 0;
    int nep = rs->epochs, ne = rs->evals;
    if (!au || !tp || !vau || !vtp) {
        free(au);
        free(tp);
        free(vau);
        free(vtp);
        free(rs);
        return ct_fail(NULL, CT_ENOMEM, "out of memory");
    }
    for (int r = 0; r < size && st == CT_OK; r++) {
        snprintf(p, sizeof p, "%s/%d_output.json", outdir, r);
        char *text = NULL;
        for (int tries = 0; tries < 6000 && !text; tries++) {
            uint8_t *b;
            uint64_t n;
            if (ct_read_file(p, 0, &b, &n) == CT_OK) {
                text = realloc(b, n + 1);
                if (text)
                    text[n] = 0;
                else
                    free(b);
                cJSON *t = text ? cJSON_Parse(text) : NULL;
                if (!t) { /* still being written */
                    free(text);
                    text = NULL;
                } else {
                    cJSON_Delete(t);
                }
            }
            if (!text)
                sleep_s(0.01);
        }
        if (!text) {
            st = ct_fail(NULL, CT_EIO, "rank %d's results '%s' did not appear", r, p);
            break;
        }
        cJSON *t = cJSON_Parse(text);
        free(text);
        cJSON *a = cJSON_GetObjectItem(t, "au"), *th = cJSON_GetObjectItem(t, "throughput");
        for (int e = 0; e < nep && a && th; e++) {
            cJSON *x = cJSON_GetArrayItem(a, e), *y = cJSON_GetArrayItem(th, e);
            au[e * size + r] = x ? x->valuedouble : 0;
            tp[e * size + r] = y ? y->valuedouble : 0;
        }
        cJSON *va = cJSON_GetObjectItem(t, "eval_au"), *vt = cJSON_GetObjectItem(t, "eval_throughput");
        for (int k = 0; k < ne && va && vt; k++) {
            cJSON *x = cJSON_GetArrayItem(va, k), *y = cJSON_GetArrayItem(vt, k);
            vau[k * size + r] = x ? x->valuedouble : 0;
            vtp[k * size + r] = y ? y->valuedouble : 0;
        }
        cJSON *bb = cJSON_GetObjectItem(t, "bytes_read");
        tbytes += bb ? bb->valuedouble : 0;
        cJSON *fb = cJSON_GetObjectItem(t, "failed_batches");
        tfailed += fb ? fb->valuedouble : 0;
        cJSON_Delete(t);
    }
    if (st == CT_OK) {
        double eau[4096], etp[4096], eio[4096];
        for (int e = 0; e < nep; e++) {
            eau[e] = mean(au + e * size, size);
            etp[e] = 0;
            for (int r = 0; r < size; r++)
                etp[e] += tp[e * size + r]; /* all ranks together */
            eio[e] = etp[e] * c->record_length / 1048576.0;
        }
        double aum = mean(eau, nep);
        cJSON *s = cJSON_CreateObject();
        cJSON_AddNumberToObject(s, "num_accelerators", size);
        cJSON_AddNumberToObject(s, "num_hosts", 1);
        cJSON *m = cJSON_AddObjectToObject(s, "metric");
        cJSON_AddItemToObject(m, "train_au_percentage", arr(eau, nep));
        cJSON_AddNumberToObject(m, "train_au_mean_percentage", aum);
        cJSON_AddStringToObject(m, "train_au_meet_expectation", aum >= 100 * c->au ? "success" : "fail");
        cJSON_AddNumberToObject(m, "train_au_stdev_percentage", stdev(eau, nep));
        cJSON_AddItemToObject(m, "train_throughput_samples_per_second", arr(etp, nep));
        cJSON_AddNumberToObject(m, "train_throughput_mean_samples_per_second", mean(etp, nep));
        cJSON_AddNumberToObject(m, "train_throughput_stdev_samples_per_second", stdev(etp, nep));
        cJSON_AddItemToObject(m, "train_io_MB_per_second", arr(eio, nep));
        cJSON_AddNumberToObject(m, "train_io_mean_MB_per_second", mean(eio, nep));
        cJSON_AddNumberToObject(m, "train_io_stdev_MB_per_second", stdev(eio, nep));
        if (ne > 0) {
            double ea[4096], et[4096];
            for (int k = 0; k < ne; k++) {
                ea[k] = mean(vau + k * size, size);
                et[k] = 0;
                for (int r = 0; r < size; r++)
                    et[k] += vtp[k * size + r];
            }
            double eam = mean(ea, ne);
            cJSON_AddItemToObject(m, "eval_au_percentage", arr(ea, ne));
            cJSON_AddNumberToObject(m, "eval_au_mean_percentage", eam);
            cJSON_AddStringToObject(m, "eval_au_meet_expectation", eam >= 100 * c->au ? "success" : "fail");
            cJSON_AddNumberToObject(m, "eval_au_stdev_percentage", stdev(ea, ne));
            cJSON_AddItemToObject(m, "eval_throughput_samples_per_second", arr(et, ne));
            cJSON_AddNumberToObject(m, "eval_throughput_mean_samples_per_second", mean(et, ne));
            cJSON_AddNumberToObject(m, "eval_throughput_stdev_samples_per_second", stdev(et, ne));
            cJSON_AddNumberToObject(m, "eval_io_mean_MB_per_second", mean(et, ne) * c->record_length / 1048576.0);
            cJSON_AddNumberToObject(m, "eval_io_stdev_MB_per_second", stdev(et, ne) * c->record_length / 1048576.0);
        }
        cJSON_AddNumberToObject(s, "epochs", nep);
        cJSON *x = cJSON_AddObjectToObject(s, "ctrain");
        cJSON_AddNumberToObject(x, "bytes_read", tbytes);
        cJSON_AddNumberToObject(x, "failed_batches", tfailed);
        cJSON_AddNumberToObject(x, "wall_seconds", rs->wall);
        cJSON_AddNumberToObject(x, "io_actual_MB_per_second", rs->wall > 0 ? tbytes / rs->wall / 1048576.0 : 0);
        cJSON_AddStringToObject(x, "format", ct_data_format_name((ct_data_format)c->format));
        cJSON_AddNumberToObject(x, "read_threads", c->read_threads);
        snprintf(p, sizeof p, "%s/summary.json", outdir);
        st = write_json(p, s);
        cJSON_Delete(s);
        if (!o->quiet && st == CT_OK)
            printf("ctrain dlio: %d epoch(s), %lld steps on rank 0; AU %.2f%% (%s, expected >= %.0f%%); "
                   "%.1f samples/s; I/O %.1f MB/s (DLIO formula), %.1f MB/s actually read "
                   "(%.0f bytes); summary: %s\n",
                   nep, (long long)rs->steps, aum, aum >= 100 * c->au ? "pass" : "fail", 100 * c->au,
                   mean(etp, nep), mean(eio, nep), rs->wall > 0 ? tbytes / rs->wall / 1048576.0 : 0,
                   tbytes, p);
    }
    free(au);
    free(tp);
    free(vau);
    free(vtp);
    free(rs);
    return st;
}
