/* DLIO's training-loop emulation and metrics (dlio-benchmark 2.0.0:
 * dlio_benchmark/main.py _train, _eval and run; utils/statscounter.py):
 * per step read a batch, then "compute" (sleep computation_time), then a
 * barrier of all ranks; a step checkpoint ends a "block". Per block, AU =
 * compute time of steps 2.. / (block time - first step's time) and
 * throughput = steps / block time x batch_size; an epoch's AU and
 * throughput are the blocks' weighted by steps; the summary averages AU over
 * the ranks and sums throughput (allreduce); I/O MB/s = throughput x
 * record_length / 2^20. At each epoch's end: barrier, epoch checkpoint,
 * barrier. With workflow.evaluation, after epoch e (1-based) >=
 * eval_after_epoch and every epochs_between_evals epochs, the eval set is
 * read with batch_size_eval and eval_time slept per step. Adds what DLIO does
 * not measure: the bytes actually read. Writes {output}/{rank}_output.json
 * (DLIO's per-step load/proc/compute times), the "Rank R step S processed
 * B samples in T s" lines to {output}/{log_file}, and on rank 0
 * summary.json and per_epoch_stats.json in DLIO's shape. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../core/error.h"
#include "ckpt.h"
#include "ctrain/comm.h"
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

/* ---- DLIO's clock strings and log (utils/utility.py utcnow: LOG_TS_FORMAT
 * "%Y-%m-%dT%H:%M:%S.%f" of datetime.now(), local time; utils/config.py
 * configure_dlio_logging: "[LEVEL] message" lines appended to
 * {output_folder}/{log_file} by every rank) ---- */

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void ts_str(double t, char *buf, size_t cap)
{
    time_t s = (time_t)floor(t);
    struct tm tm;
    localtime_r(&s, &tm);
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    long us = (long)((t - floor(t)) * 1e6);
    snprintf(buf + n, cap - n, ".%06ld", us > 999999 ? 999999 : us);
}

/* A log line, "[INFO] time message" as DLIO's logging writes it. The log
 * is fully buffered: logf_ flushes (run, epoch, block, checkpoint and eval
 * lines, so the file is current at each of them); log_step, the line of
 * every batch, does not: a write per batch was ~10% of a short bert epoch
 * (667 batches of 48 samples in ~15 ms). The buffer is written out before
 * a line that would not fit in it (stdio would write it mid-line), so
 * every write holds whole lines: the ranks of an MPI run append to one
 * file. */
static void log_line(FILE *f, int flush, const char *msg)
{
    if (!f)
        return;
    char ts[40], line[600]; /* msg: at most 511 characters (logf_) */
    ts_str(wall_s(), ts, sizeof ts);
    int len = snprintf(line, sizeof line, "[INFO] %s %s\n", ts, msg);
    if (len > 0 && __fpending(f) + (size_t)len > __fbufsize(f))
        fflush(f);
    fputs(line, f);
    if (flush)
        fflush(f);
}

static void logf_(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(FILE *f, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_line(f, 1, msg);
}

/* DLIO's line for step n (1-based) of batch samples that took secs. */
static void log_step(FILE *f, int rank, int64_t n, int64_t batch, double secs)
{
    char msg[128];
    snprintf(msg, sizeof msg, "Rank %d step %lld processed %lld samples in %.9g s", rank,
             (long long)n, (long long)batch, secs);
    log_line(f, 0, msg);
}

/* ---- checkpoints (checkpointing/base_checkpointing.py, pytorch_checkpointing.py,
 * tf_checkpointing.py of dlio-benchmark 2.0.0) ----
 * The rank that checkpoints (rank 0 with checkpoint.type rank_zero, DLIO's
 * default; every rank with all_ranks) writes, per checkpoint of epoch E
 * (1-based) after step S of that epoch:
 *   model-E-S-R.EXT       {"a": int8[model_size]}            if model_size > 0
 *   optimizer-E-S-R.EXT   {"i": {"a": int8[g_i], "b": int8[g_i]} for g_i > 0,
 *                          "combined": int8[sum g_i]}          if optimization_groups
 *   layer-L-E-S-R.EXT     {"j": int8[p_j] for p_j > 0}       L < num_layers (+ tensor_parallelism
 *                                                            if > 1), if R % pipeline_parallelism == 0
 * EXT = pt for pytorch: torch.save's zip format (ckpt.c; torch.load reads
 * it). tensorflow: EXT = pb, and tf.train.Checkpoint.save writes
 * NAME.pb-1.index, NAME.pb-1.data-00000-of-00001 and `checkpoint`
 * (ckpt.c ct_tf_write: TensorFlow saves no tensor of DLIO's state). */
static ct_status save_state(const ct_dlio_config *c, const char *name, const ct_pt_item *it, int n)
{
    char p[4400];
    if (c->framework == CT_FRAMEWORK_PYTORCH) {
        snprintf(p, sizeof p, "%s/%s.pt", c->checkpoint_folder, name);
        return ct_pt_write(p, it, n);
    }
    const char *dicts[34];
    int nd = 0;
    for (int i = 0; i < n; i++)
        if (it[i].pair)
            dicts[nd++] = it[i].key;
    snprintf(p, sizeof p, "%s.pb", name);
    return ct_tf_write(c->checkpoint_folder, p, dicts, nd);
}

static ct_status write_checkpoint(const ct_dlio_config *c, int rank, int epoch, int64_t step, int *files)
{
    int who = c->checkpoint_type == 1 ? rank : 0;
    if (who != rank)
        return CT_OK;
    ct_status st = mkdirs(c->checkpoint_folder);
    ct_pt_item it[34];
    char name[200];
    memset(it, 0, sizeof it);
    if (st == CT_OK && (int64_t)c->model_size > 0) {
        snprintf(it[0].key, sizeof it[0].key, "a");
        it[0].numel = (int64_t)c->model_size;
        snprintf(name, sizeof name, "model-%d-%lld-%d", epoch, (long long)step, rank);
        st = save_state(c, name, it, 1);
        *files += st == CT_OK;
    }
    if (st == CT_OK && c->n_optimization_groups > 0) {
        int n = 0;
        int64_t total = 0;
        memset(it, 0, sizeof it);
        for (int g = 0; g < c->n_optimization_groups && g < 32; g++)
            if (c->optimization_groups[g] > 0) {
                snprintf(it[n].key, sizeof it[n].key, "%d", g);
                it[n].numel = c->optimization_groups[g];
                it[n++].pair = 1;
                total += c->optimization_groups[g];
            }
        snprintf(it[n].key, sizeof it[n].key, "combined");
        it[n++].numel = total;
        snprintf(name, sizeof name, "optimizer-%d-%lld-%d", epoch, (long long)step, rank);
        st = save_state(c, name, it, n);
        *files += st == CT_OK;
    }
    if (st == CT_OK && rank % c->pipeline_parallelism == 0 && c->num_layers > 0) {
        int n = 0;
        memset(it, 0, sizeof it);
        for (int j = 0; j < c->n_layer_parameters && j < 32; j++)
            if (c->layer_parameters[j] > 0) {
                snprintf(it[n].key, sizeof it[n].key, "%d", j);
                it[n++].numel = c->layer_parameters[j];
            }
        int layers = c->num_layers + (c->tensor_parallelism > 1 ? c->tensor_parallelism : 0);
        for (int l = 0; n > 0 && l < layers && st == CT_OK; l++) {
            snprintf(name, sizeof name, "layer-%d-%d-%lld-%d", l, epoch, (long long)step, rank);
            st = save_state(c, name, it, n);
            *files += st == CT_OK;
        }
    }
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

static cJSON *arr(const double *v, int64_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (int64_t i = 0; i < n; i++)
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

/* ---- per-step records (StatsCounter: output[epoch]['load'|'proc'|'compute'][block]) ---- */

typedef struct block_rec {
    int64_t first, n;      /* steps [first, first + n) of the phase */
    double t0, t1, w0, w1; /* monotonic and wall clock start/end */
    double au, tput;       /* compute_metrics_train */
    int ckpt;              /* a checkpoint ended this block */
    double c0, c1;         /* its wall clock start/end */
} block_rec;

typedef struct phase_rec { /* one epoch's training or one evaluation */
    int64_t cap, n;
    double *load, *proc, *comp;
    int nblocks;
    block_rec *blocks;     /* cap + 1 */
    double au, tput, w0, w1;
} phase_rec;

typedef struct epoch_rec {
    phase_rec train, eval;
    int has_eval;
    double io, real_io;
    int ckpt;              /* epoch-end checkpoint */
    double c0, c1;
    int64_t ckpt_step;
} epoch_rec;

static ct_status phase_alloc(phase_rec *p, int64_t cap)
{
    p->cap = cap;
    p->load = calloc((size_t)cap + 1, sizeof *p->load);
    p->proc = calloc((size_t)cap + 1, sizeof *p->proc);
    p->comp = calloc((size_t)cap + 1, sizeof *p->comp);
    p->blocks = calloc((size_t)cap + 2, sizeof *p->blocks);
    if (!p->load || !p->proc || !p->comp || !p->blocks)
        return ct_fail(NULL, CT_ENOMEM, "out of memory for %lld steps' timings", (long long)cap);
    return CT_OK;
}

static void phase_free(phase_rec *p)
{
    free(p->load);
    free(p->proc);
    free(p->comp);
    free(p->blocks);
}

/* StatsCounter.start_block / end_block + compute_metrics_train:
 * AU = sum(compute[1:]) / (end - start - proc[0]) (0 if no compute);
 * throughput = steps / (end - start) x batch_size. */
static void block_start(phase_rec *p, int64_t first)
{
    block_rec *b = &p->blocks[p->nblocks++];
    b->first = first;
    b->t0 = now_s();
    b->w0 = wall_s();
}

static void block_end(phase_rec *p, int64_t batch)
{
    block_rec *b = &p->blocks[p->nblocks - 1];
    b->t1 = now_s();
    b->w1 = wall_s();
    b->n = p->n - b->first;
    double comp = 0;
    for (int64_t i = b->first + 1; i < p->n; i++)
        comp += p->comp[i];
    double total = b->t1 - b->t0 - (b->n > 0 ? p->proc[b->first] : 0);
    b->au = comp > 0 && total > 0 ? 100.0 * comp / total : 0;
    b->tput = b->t1 > b->t0 ? (double)b->n / (b->t1 - b->t0) * (double)batch : 0;
}

/* StatsCounter.end_train: the blocks' AU and throughput weighted by steps. */
static void phase_metrics(phase_rec *p)
{
    double a = 0, t = 0;
    int64_t n = 0;
    for (int k = 0; k < p->nblocks; k++) {
        a += p->blocks[k].au * (double)p->blocks[k].n;
        t += p->blocks[k].tput * (double)p->blocks[k].n;
        n += p->blocks[k].n;
    }
    p->au = n ? a / (double)n : 0;
    p->tput = n ? t / (double)n : 0;
}

typedef struct run_totals {
    int64_t steps, failed, bytes;
    double wall;
    int ckpts, ckpt_files;
    double ckpt_secs;
} run_totals;

/* reader.on_error: continue — the failed batch is reported on stderr (the
 * loader's message names the file and offset), counted, and the run goes on
 * with the next one. */
/* One checkpoint (the epoch's or after a step): its files, DLIO's log
 * lines from rank 0, its time in the totals, wall clock start and end. */
static ct_status checkpoint(const ct_dlio_config *c, int rank, int epoch, int64_t step, int nblock,
                            run_totals *tot, FILE *log, double *c0, double *c1)
{
    *c0 = wall_s();
    if (rank == 0)
        logf_(log, "Starting checkpoint %d after total step %lld for epoch %d", nblock,
              (long long)step, epoch);
    double k0 = now_s();
    ct_status st = write_checkpoint(c, rank, epoch, step, &tot->ckpt_files);
    if (st != CT_OK)
        return st;
    tot->ckpt_secs += now_s() - k0;
    tot->ckpts++;
    *c1 = wall_s();
    if (rank == 0)
        logf_(log, "Ending checkpoint %d for epoch %d", nblock, epoch);
    return CT_OK;
}

static void report_failed(run_totals *t, const char *phase, int e, const char *msg)
{
    fprintf(stderr, "ctrain dlio run: %s epoch %d: batch skipped: %s\n", phase, e + 1, msg);
    t->failed++;
}

/* One evaluation after training epoch e (0-based), as DLIO's main._eval
 * and StatsCounter.start_eval/end_eval/compute_metrics_eval: per step read a
 * batch of the eval set, then sleep eval_time; no barriers. */
static ct_status run_eval(const ct_dlio_config *c, ct_loader *ev, int e, ct_nprand *rng, epoch_rec *er,
                          run_totals *tot, FILE *log, int rank)
{
    phase_rec *p = &er->eval;
    ct_status st = phase_alloc(p, ct_loader_batches(ev));
    if (st != CT_OK)
        return st;
    er->has_eval = 1;
    if ((st = ct_loader_start_epoch(ev, e)) != CT_OK)
        return ct_fail(NULL, st, "evaluation: %s", ct_loader_errmsg(ev));
    if (rank == 0)
        logf_(log, "Starting eval - %lld steps expected", (long long)p->cap);
    block_start(p, 0);
    p->w0 = p->blocks[0].w0;
    double t0 = now_s();
    for (;;) {
        ct_batch b;
        int done = 0;
        if ((st = ct_loader_next(ev, &b, &done)) != CT_OK) {
            if (!c->on_error)
                return ct_fail(NULL, st, "evaluation: %s", ct_loader_errmsg(ev));
            report_failed(tot, "evaluation", e, ct_loader_errmsg(ev));
            t0 = now_s();
            continue;
        }
        if (done || p->n >= p->cap)
            break;
        p->load[p->n] = now_s() - t0;
        double et = draw_time(&c->eval_time, rng);
        sleep_s(et);
        p->proc[p->n] = now_s() - t0;
        p->comp[p->n] = et;
        log_step(log, rank, p->n + 1, c->batch_size_eval, p->proc[p->n]);
        p->n++;
        t0 = now_s();
    }
    block_end(p, c->batch_size_eval);
    phase_metrics(p);
    p->w1 = p->blocks[0].w1;
    if (rank == 0) {
        logf_(log, "Ending eval - %lld steps completed in %.2f s", (long long)p->n, p->w1 - p->w0);
        logf_(log, "Epoch %d [Eval] Accelerator Utilization [AU] (%%): %.4f", e + 1, p->au);
    }
    return CT_OK;
}

/* host facts of DLIO's StatsCounter (psutil.virtual_memory().total,
 * psutil.cpu_count(), socket.gethostname()) */
static double host_memory_gb(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    double kb = 0;
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemTotal: %lf kB", &kb) == 1)
                break;
        fclose(f);
    }
    return kb / 1024.0 / 1024.0;
}

static cJSON *phase_json_into(cJSON *ep, const phase_rec *p, int eval)
{
    const char *keys[] = {"load", "proc", "compute", "throughput", "au"};
    for (int k = 0; k < 5; k++) {
        cJSON *o = cJSON_GetObjectItem(ep, keys[k]);
        if (!o)
            o = cJSON_AddObjectToObject(ep, keys[k]);
        for (int b = 0; b < p->nblocks; b++) {
            char name[32];
            snprintf(name, sizeof name, eval ? "eval" : "block%d", b + 1);
            const block_rec *br = &p->blocks[b];
            const double *v = k == 0 ? p->load : k == 1 ? p->proc : p->comp;
            if (k < 3)
                cJSON_AddItemToObject(o, name, arr(v + br->first, br->n));
            else
                cJSON_AddNumberToObject(o, name, k == 3 ? br->tput : br->au);
        }
    }
    return ep;
}

static void add_span(cJSON *o, const char *key, double w0, double w1)
{
    char a[40], b[40], d[32];
    ts_str(w0, a, sizeof a);
    ts_str(w1, b, sizeof b);
    snprintf(d, sizeof d, "%.2f", w1 - w0);
    cJSON *x = cJSON_AddObjectToObject(o, key);
    cJSON_AddStringToObject(x, "start", a);
    cJSON_AddStringToObject(x, "end", b);
    cJSON_AddStringToObject(x, "duration", d);
}

/* DLIO's summary metrics of one phase ("train", "eval") from its per-epoch
 * AU (%) and samples/s (n epochs); io: the train phase's MB/s per epoch. */
static void phase_metrics_json(cJSON *m, const char *ph, const double *au, const double *tp,
                               const double *io, int n, const ct_dlio_config *c)
{
    char k[64];
    double aum = mean(au, n), mb = c->record_length / 1048576.0;
#define KEY(suffix) (snprintf(k, sizeof k, "%s_%s", ph, suffix), k)
    cJSON_AddItemToObject(m, KEY("au_percentage"), arr(au, n));
    cJSON_AddNumberToObject(m, KEY("au_mean_percentage"), aum);
    cJSON_AddStringToObject(m, KEY("au_meet_expectation"), aum >= 100 * c->au ? "success" : "fail");
    cJSON_AddNumberToObject(m, KEY("au_stdev_percentage"), stdev(au, n));
    cJSON_AddItemToObject(m, KEY("throughput_samples_per_second"), arr(tp, n));
    cJSON_AddNumberToObject(m, KEY("throughput_mean_samples_per_second"), mean(tp, n));
    cJSON_AddNumberToObject(m, KEY("throughput_stdev_samples_per_second"), stdev(tp, n));
    if (io)
        cJSON_AddItemToObject(m, KEY("io_MB_per_second"), arr(io, n));
    cJSON_AddNumberToObject(m, KEY("io_mean_MB_per_second"), mean(tp, n) * mb);
    cJSON_AddNumberToObject(m, KEY("io_stdev_MB_per_second"), stdev(tp, n) * mb);
#undef KEY
}

static ct_status run_loop(const ct_dlio_config *c, const ct_comm *cm, FILE *log, epoch_rec *ep, int *nep_out,
                          run_totals *tot, ct_loader *l, ct_loader *ev)
{
    const int rank = cm->rank;
    int do_eval = ev != NULL;
    /* DLIO barriers after every step; ranks whose shards differ by a batch
     * (drop_last: false) barrier over the batches they all have */
    int64_t nb = ct_loader_batches(l), common = nb;
    ct_status st = ct_comm_allreduce(cm, &common, 1, CT_COMM_INT64, CT_COMM_MIN);
    if (st != CT_OK)
        return st;
    int next_eval = c->eval_after_epoch, next_ckpt_epoch = c->checkpoint_after_epoch;
    ct_nprand rng;
    ct_nprand_seed(&rng, (uint32_t)c->seed + (uint32_t)rank);
    int64_t cap = c->total_training_steps > 0 && c->total_training_steps < nb ? c->total_training_steps : nb;
    /* every rank barriers after the first `bars` batch positions of an
     * epoch: each rank reaches them (it stops at cap steps, which take at
     * least cap positions, or at its last batch, >= common) */
    const int64_t bars = cap < common ? cap : common;
    if (rank == 0)
        logf_(log, "Max steps per epoch: %lld = %lld * %lld / %lld / %d (samples per file * num files / "
              "batch size / comm size)",
              (long long)((double)c->num_samples_per_file * (double)c->num_files_train / (double)c->batch_size /
                          cm->size),
              (long long)c->num_samples_per_file, (long long)c->num_files_train, (long long)c->batch_size,
              cm->size);
    for (int e = 0; e < c->epochs; e++) {
        epoch_rec *er = &ep[e];
        phase_rec *p = &er->train;
        const int E = e + 1;
        if ((st = phase_alloc(p, cap)) != CT_OK)
            return st;
        *nep_out = e + 1;
        if ((st = ct_loader_start_epoch(l, e)) != CT_OK)
            return ct_fail(NULL, st, "%s", ct_loader_errmsg(l));
        if (rank == 0)
            logf_(log, "Starting epoch %d: %lld steps expected", E, (long long)cap);
        double e0 = now_s();
        uint64_t b0 = ct_loader_bytes_read(l);
        int64_t pos = 0, next_ckpt_step = c->steps_between_checkpoints;
        int block_step = 1;
        block_start(p, 0);
        p->w0 = p->blocks[0].w0;
        if (rank == 0)
            logf_(log, "Starting block 1");
        double t0 = now_s();
        while (p->n < cap) {
            ct_batch b;
            int done = 0;
            st = ct_loader_next(l, &b, &done);
            if (st != CT_OK && !c->on_error)
                return ct_fail(NULL, st, "%s", ct_loader_errmsg(l));
            if (done)
                break;
            pos++;
            if (st != CT_OK) {
                report_failed(tot, "training", e, ct_loader_errmsg(l));
                st = CT_OK;
                if (pos <= bars && (st = ct_comm_barrier(cm)) != CT_OK)
                    return st;
                t0 = now_s();
                continue;
            }
            p->load[p->n] = now_s() - t0;
            if (block_step == 1 && p->blocks[p->nblocks - 1].ckpt) {
                block_start(p, p->n);
                if (rank == 0)
                    logf_(log, "Starting block %d", p->nblocks);
            }
            double ct = draw_time(&c->computation_time, &rng);
            sleep_s(ct);
            p->proc[p->n] = now_s() - t0;
            p->comp[p->n] = ct;
            log_step(log, rank, p->n + 1, c->batch_size, p->proc[p->n]);
            p->n++;
            tot->steps++;
            if (pos <= bars && (st = ct_comm_barrier(cm)) != CT_OK)
                return st;
            if (c->do_checkpoint && c->steps_between_checkpoints >= 0 && p->n == next_ckpt_step) {
                block_rec *br = &p->blocks[p->nblocks - 1];
                block_end(p, c->batch_size);
                br->ckpt = 1;
                if ((st = checkpoint(c, rank, E, p->n, p->nblocks, tot, log, &br->c0, &br->c1)))
                    return st;
                block_step = 1;
                next_ckpt_step += c->steps_between_checkpoints;
            } else {
                block_step++;
            }
            t0 = now_s();
        }
        if (block_step != 1 || !p->blocks[p->nblocks - 1].ckpt)
            block_end(p, c->batch_size);
        if (rank == 0)
            for (int k = 0; k < p->nblocks; k++)
                logf_(log, "Epoch %d - Block %d [Training] Accelerator Utilization [AU] (%%): %.4f", E, k + 1,
                      p->blocks[k].au);
        if ((st = ct_comm_barrier(cm)) != CT_OK)
            return st;
        if (c->do_checkpoint && c->steps_between_checkpoints < 0 && E == next_ckpt_epoch) {
            er->ckpt = 1;
            er->ckpt_step = p->n;
            if ((st = checkpoint(c, rank, E, p->n, p->nblocks, tot, log, &er->c0, &er->c1)))
                return st;
            next_ckpt_epoch += c->epochs_between_checkpoints;
        }
        if ((st = ct_comm_barrier(cm)) != CT_OK)
            return st;
        phase_metrics(p);
        p->w1 = wall_s();
        double dur = now_s() - e0;
        uint64_t bytes = ct_loader_bytes_read(l) - b0;
        er->io = p->tput * c->record_length / 1048576.0;
        er->real_io = dur > 0 ? (double)bytes / dur / 1048576.0 : 0;
        if (rank == 0)
            logf_(log, "Ending epoch %d - %lld steps completed in %.2f s", E, (long long)p->n, p->w1 - p->w0);
        if (do_eval && E >= next_eval) {
            next_eval += c->epochs_between_evals;
            if ((st = run_eval(c, ev, e, &rng, er, tot, log, rank)) != CT_OK)
                return st;
        }
    }
    return CT_OK;
}

ct_status ct_dlio_run(const ct_dlio_config *c, const ct_dlio_run_opts *o)
{
    return ct_dlio_run_comm(c, o, NULL);
}

ct_status ct_dlio_run_comm(const ct_dlio_config *c, const ct_dlio_run_opts *o, const ct_comm *comm)
{
    if (!c || !o)
        return ct_fail(NULL, CT_EINVAL, "ct_dlio_run: NULL argument");
    if (strcmp(c->storage_type, "local_fs") && strcmp(c->storage_type, "parallel_fs"))
        return ct_fail(NULL, CT_EUNSUPPORTED, "storage.storage_type '%s' is not supported (local_fs, parallel_fs)",
                       c->storage_type);
    ct_comm self;
    const ct_comm *cm = comm;
    if (!cm) {
        if (o->size > 1 || o->rank != 0)
            return ct_fail(NULL, CT_EINVAL, "ct_dlio_run: rank %d of %d needs a communicator (opts.comm)",
                           o->rank, o->size);
        ct_comm_self(&self);
        cm = &self;
    }
    if (cm->size < 1 || cm->rank < 0 || cm->rank >= cm->size)
        return ct_fail(NULL, CT_EINVAL, "ct_dlio_run: rank %d of size %d", cm->rank, cm->size);
    const int rank = cm->rank, size = cm->size;
    const char *outdir = o->output_dir ? o->output_dir : c->output_folder;
    ct_status st = mkdirs(outdir);
    if (st != CT_OK)
        return st;
    /* DLIO: rank 0 deletes the previous log, then a barrier; every rank appends */
    char p[4400];
    snprintf(p, sizeof p, "%s/%s", outdir, c->log_file);
    if (rank == 0)
        remove(p);
    if ((st = ct_comm_barrier(cm)) != CT_OK)
        return st;
    FILE *log = fopen(p, "a");
    if (log)
        setvbuf(log, NULL, _IOFBF, 0);
    double run0 = now_s(), start_wall = wall_s();
    if (rank == 0)
        logf_(log, "Running DLIO with %d process(es)", size);
    int do_eval = c->do_eval && c->num_files_eval > 0;
    ct_loader *l = NULL, *ev = NULL;
    epoch_rec *ep = calloc((size_t)(c->epochs > 0 ? c->epochs : 1), sizeof *ep);
    run_totals tot;
    memset(&tot, 0, sizeof tot);
    int nep = 0;
    if (!ep)
        st = ct_fail(NULL, CT_ENOMEM, "out of memory");
    if (st == CT_OK)
        st = ct_loader_create(&l, c, 0, rank, size);
    if (st == CT_OK && do_eval)
        st = ct_loader_create(&ev, c, 1, rank, size);
    /* DLIO's loop does not look at the bytes: samples are views of the
     * mapped files where the format allows (docs/data.md, "Zero-copy") */
    if (st == CT_OK)
        st = ct_loader_set_zero_copy(l, 1);
    if (st == CT_OK && ev)
        st = ct_loader_set_zero_copy(ev, 1);
    if (st == CT_OK && (st = ct_comm_barrier(cm)) == CT_OK)
        st = run_loop(c, cm, log, ep, &nep, &tot, l, ev);
    tot.bytes = (int64_t)(ct_loader_bytes_read(l) + ct_loader_bytes_read(ev));
    tot.wall = now_s() - run0;
    ct_loader_destroy(l);
    ct_loader_destroy(ev);
    int nev = 0;
    for (int e = 0; e < nep; e++)
        nev += ep[e].has_eval;
    double *au = calloc((size_t)nep + 1, sizeof *au), *tp = calloc((size_t)nep + 1, sizeof *tp);
    double *io = calloc((size_t)nep + 1, sizeof *io), *rio = calloc((size_t)nep + 1, sizeof *rio);
    double *eau = calloc((size_t)nev + 1, sizeof *eau), *etp = calloc((size_t)nev + 1, sizeof *etp);
    cJSON *j = NULL, *s = NULL, *pes = NULL;
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    if (st == CT_OK && (!au || !tp || !io || !rio || !eau || !etp))
        st = ct_fail(NULL, CT_ENOMEM, "out of memory");
    if (st == CT_OK) {
        for (int e = 0, k = 0; e < nep; e++) {
            au[e] = ep[e].train.au;
            tp[e] = ep[e].train.tput;
            io[e] = ep[e].io;
            rio[e] = ep[e].real_io;
            if (ep[e].has_eval) {
                eau[k] = ep[e].eval.au;
                etp[k++] = ep[e].eval.tput;
            }
        }
        /* per-rank JSON: DLIO's StatsCounter.output (host facts, one object
         * per epoch with per-step load/proc/compute and per-block au and
         * throughput), plus ctrain's per-epoch arrays and counters */
        j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "host_memory_GB", host_memory_gb());
        cJSON_AddNumberToObject(j, "host_cpu_count", (double)sysconf(_SC_NPROCESSORS_ONLN));
        cJSON_AddStringToObject(j, "host_processor_name", "");
        double data_gb = (double)(c->num_samples_per_file * c->num_files_train / size) * c->record_length /
                         1073741824.0;
        cJSON_AddNumberToObject(j, "potential_caching", data_gb <= host_memory_gb() ? 1 : 0);
        for (int e = 0; e < nep; e++) {
            char key[16];
            snprintf(key, sizeof key, "%d", e + 1);
            cJSON *eo = cJSON_AddObjectToObject(j, key);
            phase_json_into(eo, &ep[e].train, 0);
            if (ep[e].has_eval)
                phase_json_into(eo, &ep[e].eval, 1);
        }
        cJSON_AddStringToObject(j, "hostname", host);
        cJSON_AddNumberToObject(j, "rank", rank);
        cJSON_AddItemToObject(j, "au", arr(au, nep));
        cJSON_AddItemToObject(j, "throughput", arr(tp, nep));
        cJSON_AddItemToObject(j, "io_MB_per_second", arr(io, nep));
        cJSON_AddItemToObject(j, "io_actual_MB_per_second", arr(rio, nep));
        if (do_eval) {
            cJSON_AddItemToObject(j, "eval_au", arr(eau, nev));
            cJSON_AddItemToObject(j, "eval_throughput", arr(etp, nev));
        }
        cJSON_AddNumberToObject(j, "steps", (double)tot.steps);
        cJSON_AddNumberToObject(j, "bytes_read", (double)tot.bytes);
        cJSON_AddNumberToObject(j, "failed_batches", (double)tot.failed);
        cJSON_AddNumberToObject(j, "checkpoints", tot.ckpts);
        cJSON_AddNumberToObject(j, "checkpoint_files", tot.ckpt_files);
        cJSON_AddNumberToObject(j, "checkpoint_seconds", tot.ckpt_secs);
        cJSON_AddNumberToObject(j, "wall_seconds", tot.wall);
        snprintf(p, sizeof p, "%s/%d_output.json", outdir, rank);
        st = write_json(p, j);
    }
    /* the summary: DLIO's StatsCounter.end_run reductions over the ranks
     * (train_au = allreduce(au) / size, train_throughput = allreduce(throughput)),
     * and rank 0 gathers each rank's host and counters */
    int64_t shape[4] = {nep, nev, -nep, -nev};
    if (st == CT_OK)
        st = ct_comm_allreduce(cm, shape, 4, CT_COMM_INT64, CT_COMM_MAX);
    if (st == CT_OK && (shape[0] != nep || shape[1] != nev || -shape[2] != nep || -shape[3] != nev))
        st = ct_fail(NULL, CT_EMISMATCH, "ranks ran different numbers of epochs or evaluations (rank %d: %d, %d)",
                     rank, nep, nev);
    if (st == CT_OK)
        st = ct_comm_allreduce(cm, au, (size_t)nep, CT_COMM_DOUBLE, CT_COMM_SUM);
    if (st == CT_OK)
        st = ct_comm_allreduce(cm, tp, (size_t)nep, CT_COMM_DOUBLE, CT_COMM_SUM);
    if (st == CT_OK && nev)
        st = ct_comm_allreduce(cm, eau, (size_t)nev, CT_COMM_DOUBLE, CT_COMM_SUM);
    if (st == CT_OK && nev)
        st = ct_comm_allreduce(cm, etp, (size_t)nev, CT_COMM_DOUBLE, CT_COMM_SUM);
    int64_t counts[3] = {tot.bytes, tot.failed, tot.steps};
    if (st == CT_OK)
        st = ct_comm_allreduce(cm, counts, 3, CT_COMM_INT64, CT_COMM_SUM);
    double wall_max = tot.wall;
    if (st == CT_OK)
        st = ct_comm_allreduce(cm, &wall_max, 1, CT_COMM_DOUBLE, CT_COMM_MAX);
    uint8_t *g = NULL;
    size_t *glen = calloc((size_t)size, sizeof *glen);
    char mine[600];
    snprintf(mine, sizeof mine,
             "{\"rank\":%d,\"hostname\":\"%s\",\"host_memory_GB\":%.17g,\"host_cpu_count\":%ld,"
             "\"steps\":%lld,\"bytes_read\":%lld,\"failed_batches\":%lld,\"wall_seconds\":%.17g}",
             rank, host, host_memory_gb(), sysconf(_SC_NPROCESSORS_ONLN), (long long)tot.steps,
             (long long)tot.bytes, (long long)tot.failed, tot.wall);
    if (st == CT_OK && !glen)
        st = ct_fail(NULL, CT_ENOMEM, "out of memory");
    if (st == CT_OK)
        st = ct_comm_gather(cm, mine, strlen(mine), 0, &g, glen);
    if (st == CT_OK && rank == 0) {
        for (int e = 0; e < nep; e++) {
            au[e] /= size;
            io[e] = tp[e] * c->record_length / 1048576.0;
        }
        for (int k = 0; k < nev; k++)
            eau[k] /= size;
        /* hosts: distinct host names in rank order */
        cJSON *ranks = cJSON_CreateArray(), *mem = cJSON_CreateArray(), *cpus = cJSON_CreateArray();
        cJSON *cache = cJSON_CreateArray();
        char hosts[64][256];
        int nhosts = 0;
        size_t off = 0;
        for (int r = 0; r < size; r++) {
            char *txt = malloc(glen[r] + 1);
            if (txt) {
                memcpy(txt, g + off, glen[r]);
                txt[glen[r]] = 0;
            }
            off += glen[r];
            cJSON *x = txt ? cJSON_Parse(txt) : NULL;
            free(txt);
            if (!x)
                continue;
            cJSON *hn = cJSON_GetObjectItem(x, "hostname");
            const char *h = cJSON_IsString(hn) ? hn->valuestring : "";
            int seen = 0;
            for (int k = 0; k < nhosts; k++)
                seen |= !strcmp(hosts[k], h);
            if (!seen && nhosts < 64) {
                snprintf(hosts[nhosts++], sizeof hosts[0], "%s", h);
                cJSON *m = cJSON_GetObjectItem(x, "host_memory_GB"), *cc = cJSON_GetObjectItem(x, "host_cpu_count");
                cJSON_AddItemToArray(mem, cJSON_CreateNumber(m ? m->valuedouble : 0));
                cJSON_AddItemToArray(cpus, cJSON_CreateNumber(cc ? cc->valuedouble : 0));
            }
            cJSON_AddItemToArray(ranks, x);
        }
        if (nhosts < 1)
            nhosts = 1;
        int ppn = size / nhosts > 0 ? size / nhosts : 1;
        double data_gb = (double)(ppn * c->num_samples_per_file * c->num_files_train / size) *
                         c->record_length / 1073741824.0;
        for (int k = 0; k < cJSON_GetArraySize(mem); k++)
            cJSON_AddItemToArray(cache, cJSON_CreateNumber(cJSON_GetArrayItem(mem, k)->valuedouble <= data_gb ? 0 : 1));
        double aum = mean(au, nep);
        char ts[40];
        s = cJSON_CreateObject();
        ts_str(start_wall, ts, sizeof ts);
        cJSON_AddStringToObject(s, "start", ts);
        cJSON_AddNumberToObject(s, "num_accelerators", size);
        cJSON_AddNumberToObject(s, "num_hosts", nhosts);
        cJSON_AddStringToObject(s, "hostname", host);
        cJSON *m = cJSON_AddObjectToObject(s, "metric");
        phase_metrics_json(m, "train", au, tp, io, nep, c);
        if (nev > 0) /* DLIO writes NaN means when no evaluation ran; ctrain omits them */
            phase_metrics_json(m, "eval", eau, etp, NULL, nev, c);
        cJSON_AddNumberToObject(s, "num_files_train", (double)c->num_files_train);
        cJSON_AddNumberToObject(s, "num_files_eval", (double)c->num_files_eval);
        cJSON_AddNumberToObject(s, "num_samples_per_file", (double)c->num_samples_per_file);
        cJSON_AddItemToObject(s, "host_cpu_count", cpus);
        cJSON_AddStringToObject(s, "host_processor_name", "");
        cJSON_AddItemToObject(s, "potential_caching", cache);
        cJSON_AddItemToObject(s, "host_memory_GB", mem);
        cJSON_AddNumberToObject(s, "data_size_per_host_GB", data_gb);
        cJSON_AddNumberToObject(s, "epochs", nep);
        ts_str(wall_s(), ts, sizeof ts);
        cJSON_AddStringToObject(s, "end", ts);
        cJSON *x = cJSON_AddObjectToObject(s, "ctrain");
        cJSON_AddNumberToObject(x, "bytes_read", (double)counts[0]);
        cJSON_AddNumberToObject(x, "failed_batches", (double)counts[1]);
        cJSON_AddNumberToObject(x, "steps", (double)counts[2]);
        cJSON_AddNumberToObject(x, "wall_seconds", wall_max);
        cJSON_AddNumberToObject(x, "io_actual_MB_per_second",
                                wall_max > 0 ? (double)counts[0] / wall_max / 1048576.0 : 0);
        cJSON_AddStringToObject(x, "format", ct_data_format_name((ct_data_format)c->format));
        cJSON_AddNumberToObject(x, "read_threads", c->read_threads);
        cJSON_AddItemToObject(x, "ranks", ranks);
        snprintf(p, sizeof p, "%s/summary.json", outdir);
        st = write_json(p, s);
        /* per_epoch_stats.json (StatsCounter.per_epoch_stats, rank 0's clock) */
        pes = cJSON_CreateObject();
        for (int e = 0; e < nep && st == CT_OK; e++) {
            char key[16];
            snprintf(key, sizeof key, "%d", e + 1);
            const phase_rec *tr = &ep[e].train;
            cJSON *eo = cJSON_AddObjectToObject(pes, key);
            char a[40], b[40], d[32];
            ts_str(tr->w0, a, sizeof a);
            cJSON_AddStringToObject(eo, "start", a);
            for (int k = 0; k < tr->nblocks; k++) {
                char bk[32];
                snprintf(bk, sizeof bk, "block%d", k + 1);
                add_span(eo, bk, tr->blocks[k].w0, tr->blocks[k].w1);
                if (tr->blocks[k].ckpt) {
                    snprintf(bk, sizeof bk, "ckpt%d", k + 1);
                    add_span(eo, bk, tr->blocks[k].c0, tr->blocks[k].c1);
                }
            }
            if (ep[e].ckpt) {
                char bk[32];
                snprintf(bk, sizeof bk, "ckpt%d", tr->nblocks);
                add_span(eo, bk, ep[e].c0, ep[e].c1);
            }
            ts_str(tr->w1, b, sizeof b);
            snprintf(d, sizeof d, "%.2f", tr->w1 - tr->w0);
            cJSON_AddStringToObject(eo, "end", b);
            cJSON_AddStringToObject(eo, "duration", d);
            if (ep[e].has_eval)
                add_span(eo, "eval", ep[e].eval.w0, ep[e].eval.w1);
        }
        if (st == CT_OK) {
            snprintf(p, sizeof p, "%s/per_epoch_stats.json", outdir);
            st = write_json(p, pes);
        }
        if (log) {
            fprintf(log, "[INFO] Averaged metric over all epochs\n"
                         "[METRIC] ==========================================================\n"
                         "[METRIC] Number of Simulated Accelerators: %d \n"
                         "[METRIC] Training Accelerator Utilization [AU] (%%): %.4f (%.4f)\n"
                         "[METRIC] Training Throughput (samples/second): %.4f (%.4f)\n"
                         "[METRIC] Training I/O Throughput (MB/second): %.4f (%.4f)\n"
                         "[METRIC] train_au_meet_expectation: %s\n"
                         "[METRIC] ==========================================================\n",
                    size, aum, stdev(au, nep), mean(tp, nep), stdev(tp, nep),
                    mean(tp, nep) * c->record_length / 1048576.0, stdev(tp, nep) * c->record_length / 1048576.0,
                    aum >= 100 * c->au ? "success" : "fail");
        }
        if (!o->quiet && st == CT_OK)
            printf("ctrain dlio: %d epoch(s), %lld steps on %d rank(s); AU %.2f%% (%s, expected >= %.0f%%); "
                   "%.1f samples/s; I/O %.1f MB/s (DLIO formula), %.1f MB/s actually read "
                   "(%.0f bytes); summary: %s/summary.json\n",
                   nep, (long long)counts[2], size, aum, aum >= 100 * c->au ? "pass" : "fail", 100 * c->au,
                   mean(tp, nep), mean(tp, nep) * c->record_length / 1048576.0,
                   wall_max > 0 ? (double)counts[0] / wall_max / 1048576.0 : 0, (double)counts[0], outdir);
    }
    free(g);
    free(glen);
    cJSON_Delete(j);
    cJSON_Delete(s);
    cJSON_Delete(pes);
    for (int e = 0; ep && e < (c->epochs > 0 ? c->epochs : 1); e++) {
        phase_free(&ep[e].train);
        phase_free(&ep[e].eval);
    }
    free(ep);
    free(au);
    free(tp);
    free(io);
    free(rio);
    free(eau);
    free(etp);
    if (log)
        fclose(log);
    return st;
}
