/* The communicator interface (include/ctrain/comm.h) and ct_dlio_run_comm
 * over it:
 *  - ct_comm_self: rank 0 of 1, barrier returns, allreduce is the identity,
 *    gather copies; the argument checks name the collective;
 *  - a communicator of R threads written here (pthread barrier + shared
 *    slots: an independent implementation of MPI's semantics): allreduce
 *    SUM/MAX/MIN of doubles and int64 equal the values reduced directly,
 *    gather concatenates in rank order;
 *  - ct_dlio_run_comm on 2 such ranks (the in-process twin of `mpirun -np 2
 *    ctrain dlio run`, which tests/test_dlio_mpi.sh runs): summary.json's
 *    train_au_percentage is the ranks' per-epoch AU averaged, its throughput
 *    their sum (DLIO's StatsCounter.end_run), each rank's AU the blocks' AU
 *    of its DLIO-shaped epoch object weighted by steps, the bytes read the
 *    ranks' sum = the training files x epochs, one log line per step.
 * argv[1]: scratch directory. */
#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctrain/comm.h"
#include "ctrain/data.h"

#include "check.h"

/* ---- R ranks as threads ---- */

#define MAXR 4
typedef struct world {
    int size;
    pthread_barrier_t bar;
    const void *slot[MAXR];
    size_t len[MAXR];
} world;

static ct_status t_barrier(const ct_comm *c)
{
    pthread_barrier_wait(&((world *)c->ctx)->bar);
    return CT_OK;
}

static ct_status t_allreduce(const ct_comm *c, void *buf, size_t n, int32_t dtype, int32_t op)
{
    world *w = c->ctx;
    size_t esz = 8;
    uint8_t *mine = malloc(n * esz + 1);
    memcpy(mine, buf, n * esz);
    w->slot[c->rank] = mine;
    pthread_barrier_wait(&w->bar);
    for (size_t i = 0; i < n; i++) {
        double d = 0;
        int64_t v = 0;
        for (int r = 0; r < w->size; r++) {
            if (dtype == CT_COMM_DOUBLE) {
                double x;
                memcpy(&x, (const uint8_t *)w->slot[r] + i * esz, esz);
                d = r == 0 ? x : op == CT_COMM_SUM ? d + x : op == CT_COMM_MAX ? fmax(d, x) : fmin(d, x);
            } else {
                int64_t x;
                memcpy(&x, (const uint8_t *)w->slot[r] + i * esz, esz);
                v = r == 0 ? x : op == CT_COMM_SUM ? v + x : op == CT_COMM_MAX ? (x > v ? x : v) : (x < v ? x : v);
            }
        }
        memcpy((uint8_t *)buf + i * esz, dtype == CT_COMM_DOUBLE ? (void *)&d : (void *)&v, esz);
    }
    pthread_barrier_wait(&w->bar);
    free(mine);
    return CT_OK;
}

static ct_status t_gather(const ct_comm *c, const void *send, size_t len, int root, uint8_t **recv,
                          size_t *recv_lens)
{
    world *w = c->ctx;
    w->slot[c->rank] = send;
    w->len[c->rank] = len;
    pthread_barrier_wait(&w->bar);
    if (c->rank == root) {
        size_t total = 0;
        for (int r = 0; r < w->size; r++)
            total += w->len[r];
        *recv = malloc(total + 1);
        for (int r = 0, off = 0; r < w->size; r++) {
            memcpy(*recv + off, w->slot[r], w->len[r]);
            recv_lens[r] = w->len[r];
            off += (int)w->len[r];
        }
    }
    pthread_barrier_wait(&w->bar);
    return CT_OK;
}

static void make_comm(ct_comm *c, world *w, int rank)
{
    c->rank = rank;
    c->size = w->size;
    c->ctx = w;
    c->barrier = t_barrier;
    c->allreduce = t_allreduce;
    c->gather = t_gather;
}

/* ---- collectives ---- */

typedef struct job {
    ct_comm comm;
    ct_status st;
    double d[3];
    int64_t v[3];
    uint8_t *g;
    size_t glen[MAXR];
    /* run */
    const ct_dlio_config *cfg;
    const char *out;
    char err[512];
} job;

static void *collectives(void *arg)
{
    job *j = arg;
    int r = j->comm.rank;
    double d[3] = {r + 0.5, -r * 2.0, r * r - 1.0};
    int64_t v[3] = {r * 10LL, 7 - r, (int64_t)1 << (40 + r)};
    memcpy(j->d, d, sizeof d);
    memcpy(j->v, v, sizeof v);
    j->st = ct_comm_barrier(&j->comm);
    if (j->st == CT_OK)
        j->st = ct_comm_allreduce(&j->comm, j->d, 3, CT_COMM_DOUBLE, CT_COMM_SUM);
    if (j->st == CT_OK)
        j->st = ct_comm_allreduce(&j->comm, j->v, 1, CT_COMM_INT64, CT_COMM_MAX);
    if (j->st == CT_OK)
        j->st = ct_comm_allreduce(&j->comm, j->v + 1, 2, CT_COMM_INT64, CT_COMM_MIN);
    char msg[32];
    int n = snprintf(msg, sizeof msg, "rank%d:%.*s", r, r, "xyz");
    if (j->st == CT_OK)
        j->st = ct_comm_gather(&j->comm, msg, (size_t)n, 0, &j->g, j->glen);
    return NULL;
}

static void test_threads(int size)
{
    world w;
    w.size = size;
    pthread_barrier_init(&w.bar, NULL, (unsigned)size);
    job jobs[MAXR];
    pthread_t th[MAXR];
    memset(jobs, 0, sizeof jobs);
    for (int r = 0; r < size; r++) {
        make_comm(&jobs[r].comm, &w, r);
        pthread_create(&th[r], NULL, collectives, &jobs[r]);
    }
    for (int r = 0; r < size; r++)
        pthread_join(th[r], NULL);
    /* the reductions computed here directly */
    double sum[3] = {0, 0, 0};
    int64_t vmax = INT64_MIN, vmin1 = INT64_MAX, vmin2 = INT64_MAX;
    for (int r = 0; r < size; r++) {
        sum[0] += r + 0.5;
        sum[1] += -r * 2.0;
        sum[2] += r * r - 1.0;
        vmax = r * 10LL > vmax ? r * 10LL : vmax;
        vmin1 = 7 - r < vmin1 ? 7 - r : vmin1;
        vmin2 = ((int64_t)1 << (40 + r)) < vmin2 ? ((int64_t)1 << (40 + r)) : vmin2;
    }
    char want[256] = "";
    for (int r = 0; r < size; r++) {
        char m[32];
        snprintf(m, sizeof m, "rank%d:%.*s", r, r, "xyz");
        strcat(want, m);
    }
    for (int r = 0; r < size; r++) {
        job *j = &jobs[r];
        CHECK(j->st == CT_OK, "%d ranks, rank %d: %s", size, r, ct_status_str(j->st));
        CHECK(j->d[0] == sum[0] && j->d[1] == sum[1] && j->d[2] == sum[2], "%d ranks, rank %d: SUM %g %g %g",
              size, r, j->d[0], j->d[1], j->d[2]);
        CHECK(j->v[0] == vmax && j->v[1] == vmin1 && j->v[2] == vmin2, "%d ranks, rank %d: MAX/MIN", size, r);
        if (r == 0) {
            size_t tot = 0;
            for (int k = 0; k < size; k++)
                tot += j->glen[k];
            CHECK(j->g && tot == strlen(want) && !memcmp(j->g, want, tot), "%d ranks: gather in rank order",
                  size);
            CHECK(j->glen[size - 1] == strlen("rankN:") + (size_t)(size - 1), "gather lengths");
        } else {
            CHECK(j->g == NULL, "gather: a non-root rank receives nothing");
        }
        free(j->g);
    }
    pthread_barrier_destroy(&w.bar);
}

static void test_self(void)
{
    ct_comm c;
    CHECK(ct_comm_self(&c) == CT_OK && c.rank == 0 && c.size == 1, "ct_comm_self: rank 0 of 1");
    CHECK(ct_comm_barrier(&c) == CT_OK, "self barrier");
    double d[2] = {1.5, -2};
    int64_t v[2] = {3, -4};
    for (int op = 0; op < 3; op++) {
        CHECK(ct_comm_allreduce(&c, d, 2, CT_COMM_DOUBLE, op) == CT_OK && d[0] == 1.5 && d[1] == -2,
              "self allreduce double op %d is the identity", op);
        CHECK(ct_comm_allreduce(&c, v, 2, CT_COMM_INT64, op) == CT_OK && v[0] == 3 && v[1] == -4,
              "self allreduce int64 op %d is the identity", op);
    }
    uint8_t *g = NULL;
    size_t len[1] = {99};
    CHECK(ct_comm_gather(&c, "hello", 5, 0, &g, len) == CT_OK && g && len[0] == 5 && !memcmp(g, "hello", 5),
          "self gather copies");
    free(g);
    g = NULL;
    CHECK(ct_comm_gather(&c, NULL, 0, 0, &g, len) == CT_OK && len[0] == 0, "self gather of nothing");
    free(g);
    /* argument checks */
    CHECK(ct_comm_barrier(NULL) == CT_EINVAL && strstr(ct_errmsg(), "ct_comm_barrier"), "NULL comm: %s",
          ct_errmsg());
    CHECK(ct_comm_allreduce(&c, d, 2, 7, CT_COMM_SUM) == CT_EINVAL && strstr(ct_errmsg(), "dtype"),
          "bad dtype: %s", ct_errmsg());
    CHECK(ct_comm_allreduce(&c, d, 2, CT_COMM_DOUBLE, 9) == CT_EINVAL && strstr(ct_errmsg(), "op"), "bad op: %s",
          ct_errmsg());
    CHECK(ct_comm_gather(&c, "x", 1, 1, &g, len) == CT_EINVAL && strstr(ct_errmsg(), "root 1"),
          "root out of range: %s", ct_errmsg());
    ct_comm broken = c;
    broken.gather = NULL;
    CHECK(ct_comm_barrier(&broken) == CT_EINVAL && strstr(ct_errmsg(), "lacks"), "missing function: %s",
          ct_errmsg());
    broken = c;
    broken.rank = 1;
    CHECK(ct_comm_barrier(&broken) == CT_EINVAL && strstr(ct_errmsg(), "rank 1 of size 1"), "bad rank: %s",
          ct_errmsg());
}

/* ---- ct_dlio_run_comm on 2 thread ranks ---- */

static void *run_rank(void *arg)
{
    job *j = arg;
    ct_dlio_run_opts ro = {0, 1, j->out, 1};
    j->st = ct_dlio_run_comm(j->cfg, &ro, &j->comm);
    if (j->st != CT_OK)
        snprintf(j->err, sizeof j->err, "%s", ct_errmsg());
    return NULL;
}

static cJSON *load_json(const char *p)
{
    FILE *f = fopen(p, "rb");
    if (!f)
        return NULL;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return cJSON_Parse(buf);
}

static double num(cJSON *o, const char *k)
{
    cJSON *x = cJSON_GetObjectItem(o, k);
    return x ? x->valuedouble : NAN;
}

static void test_run(const char *dir)
{
    char yaml[2048], out[1200], p[1400];
    snprintf(yaml, sizeof yaml,
             "framework: pytorch\nworkflow:\n  generate_data: True\n  train: True\n  checkpoint: False\n"
             "dataset:\n  data_folder: %s/data\n  format: npz\n  num_files_train: 8\n"
             "  num_samples_per_file: 3\n  record_length_bytes: 2048\n"
             "reader:\n  batch_size: 2\n  read_threads: 2\n  file_shuffle: seed\n  sample_shuffle: seed\n"
             "train:\n  epochs: 3\n  computation_time: 0.001\n",
             dir);
    ct_dlio_config c;
    ct_dlio_config_init(&c);
    CHECK(ct_dlio_config_load(&c, NULL, yaml, NULL, 0, NULL, NULL) == CT_OK, "config: %s", ct_errmsg());
    ct_dlio_gen_opts go = {1, 0, 1, 0};
    CHECK(ct_dlio_generate(&c, &go) == CT_OK, "generate: %s", ct_errmsg());
    double total = 0;
    for (int i = 0; i < 8; i++) {
        struct stat sb;
        ct_dlio_file_path(&c, 0, i, p, sizeof p);
        if (stat(p, &sb) == 0)
            total += (double)sb.st_size;
    }
    snprintf(out, sizeof out, "%s/out", dir);
    /* several ranks without a communicator: refused */
    ct_dlio_run_opts bad = {1, 2, out, 1};
    CHECK(ct_dlio_run(&c, &bad) == CT_EINVAL && strstr(ct_errmsg(), "communicator"), "rank 1 of 2 without comm: %s",
          ct_errmsg());
    world w;
    w.size = 2;
    pthread_barrier_init(&w.bar, NULL, 2);
    job jobs[2];
    pthread_t th[2];
    memset(jobs, 0, sizeof jobs);
    for (int r = 0; r < 2; r++) {
        make_comm(&jobs[r].comm, &w, r);
        jobs[r].cfg = &c;
        jobs[r].out = out;
        pthread_create(&th[r], NULL, run_rank, &jobs[r]);
    }
    for (int r = 0; r < 2; r++)
        pthread_join(th[r], NULL);
    pthread_barrier_destroy(&w.bar);
    for (int r = 0; r < 2; r++)
        CHECK(jobs[r].st == CT_OK, "rank %d: %s", r, jobs[r].err);
    cJSON *rk[2];
    for (int r = 0; r < 2; r++) {
        snprintf(p, sizeof p, "%s/%d_output.json", out, r);
        rk[r] = load_json(p);
        CHECK(rk[r] != NULL, "no %s", p);
    }
    snprintf(p, sizeof p, "%s/summary.json", out);
    cJSON *s = load_json(p);
    CHECK(s != NULL, "no summary.json");
    if (!s || !rk[0] || !rk[1])
        return;
    cJSON *m = cJSON_GetObjectItem(s, "metric");
    cJSON *sau = cJSON_GetObjectItem(m, "train_au_percentage"),
          *stp = cJSON_GetObjectItem(m, "train_throughput_samples_per_second");
    CHECK(cJSON_GetArraySize(sau) == 3 && cJSON_GetArraySize(stp) == 3 && num(s, "epochs") == 3 &&
              num(s, "num_accelerators") == 2,
          "3 epochs, 2 accelerators");
    /* 24 samples, 2 ranks, batch 2: 6 steps per rank and epoch */
    for (int e = 0; e < 3; e++) {
        double au = 0, tp = 0;
        for (int r = 0; r < 2; r++) {
            char key[8];
            snprintf(key, sizeof key, "%d", e + 1);
            cJSON *eo = cJSON_GetObjectItem(rk[r], key);
            cJSON *bau = cJSON_GetObjectItem(cJSON_GetObjectItem(eo, "au"), "block1"),
                  *btp = cJSON_GetObjectItem(cJSON_GetObjectItem(eo, "throughput"), "block1"),
                  *proc = cJSON_GetObjectItem(cJSON_GetObjectItem(eo, "proc"), "block1"),
                  *load = cJSON_GetObjectItem(cJSON_GetObjectItem(eo, "load"), "block1"),
                  *comp = cJSON_GetObjectItem(cJSON_GetObjectItem(eo, "compute"), "block1");
            CHECK(bau && btp && cJSON_GetArraySize(proc) == 6 && cJSON_GetArraySize(load) == 6 &&
                      cJSON_GetArraySize(comp) == 6,
                  "rank %d epoch %d: DLIO's per-step load/proc/compute of 6 steps", r, e + 1);
            int ok = 1;
            for (int k = 0; k < cJSON_GetArraySize(proc); k++) {
                double pr = cJSON_GetArrayItem(proc, k)->valuedouble, ld = cJSON_GetArrayItem(load, k)->valuedouble;
                double cp = cJSON_GetArrayItem(comp, k)->valuedouble;
                ok &= cp == 0.001 && ld >= 0 && pr >= ld + cp;
            }
            CHECK(ok, "rank %d epoch %d: proc >= load + compute, compute = computation_time", r, e + 1);
            /* one block: the epoch's AU is the block's */
            double rau = cJSON_GetArrayItem(cJSON_GetObjectItem(rk[r], "au"), e)->valuedouble;
            double rtp = cJSON_GetArrayItem(cJSON_GetObjectItem(rk[r], "throughput"), e)->valuedouble;
            CHECK(bau && fabs(rau - bau->valuedouble) <= 1e-12 * fabs(rau) && btp &&
                      fabs(rtp - btp->valuedouble) <= 1e-12 * rtp,
                  "rank %d epoch %d: epoch AU/throughput = the block's", r, e + 1);
            au += rau;
            tp += rtp;
        }
        double sa = cJSON_GetArrayItem(sau, e)->valuedouble, st = cJSON_GetArrayItem(stp, e)->valuedouble;
        CHECK(fabs(sa - au / 2) <= 1e-12 * fabs(au), "epoch %d: summary AU %.17g = mean of ranks %.17g", e + 1, sa,
              au / 2);
        CHECK(fabs(st - tp) <= 1e-12 * tp, "epoch %d: summary throughput %.17g = sum of ranks %.17g", e + 1, st, tp);
    }
    cJSON *x = cJSON_GetObjectItem(s, "ctrain");
    double b0 = num(rk[0], "bytes_read"), b1 = num(rk[1], "bytes_read");
    CHECK(num(x, "bytes_read") == b0 + b1 && b0 + b1 == 3 * total, "bytes read %.0f + %.0f = %.0f = 3 x %.0f", b0, b1,
          num(x, "bytes_read"), total);
    CHECK(num(x, "steps") == 36 && num(rk[0], "steps") == 18 && num(rk[1], "steps") == 18, "steps per rank");
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(x, "ranks")) == 2, "rank 0 gathered both ranks");
    double wmax = fmax(num(rk[0], "wall_seconds"), num(rk[1], "wall_seconds"));
    CHECK(num(x, "wall_seconds") == wmax, "wall = the slowest rank's");
    /* the step log: "Rank R step S processed B samples in T s" per step */
    snprintf(p, sizeof p, "%s/dlio.log", out);
    FILE *f = fopen(p, "r");
    int lines[2] = {0, 0};
    char line[1024];
    while (f && fgets(line, sizeof line, f)) {
        int r, st;
        char *q = strstr(line, "Rank ");
        if (q && sscanf(q, "Rank %d step %d processed 2 samples in", &r, &st) == 2 && r >= 0 && r < 2)
            lines[r]++;
    }
    if (f)
        fclose(f);
    CHECK(lines[0] == 18 && lines[1] == 18, "step lines in dlio.log: %d, %d (18 each)", lines[0], lines[1]);
    snprintf(p, sizeof p, "%s/per_epoch_stats.json", out);
    cJSON *pe = load_json(p);
    CHECK(pe && cJSON_GetObjectItem(cJSON_GetObjectItem(pe, "3"), "block1") &&
              cJSON_GetObjectItem(cJSON_GetObjectItem(pe, "1"), "duration"),
          "per_epoch_stats.json with epochs and blocks");
    cJSON_Delete(pe);
    cJSON_Delete(s);
    cJSON_Delete(rk[0]);
    cJSON_Delete(rk[1]);
    ct_dlio_config_free(&c);
}

/* Two thread ranks append 1,000 step lines each in one epoch to one
 * dlio.log, many times what the log's stdio buffer holds: every line must
 * arrive whole (the buffer is written out before a line that would not
 * fit, never mid-line), one well-formed step line per step and rank. With
 * stdio left to flush a full buffer, ~20 lines were torn. */
static void test_log_lines(const char *dir)
{
    char yaml[2048], out[1200], p[1400];
    snprintf(yaml, sizeof yaml,
             "framework: pytorch\nworkflow:\n  generate_data: True\n  train: True\n  checkpoint: False\n"
             "dataset:\n  data_folder: %s/logdata\n  format: npy\n  num_files_train: 20\n"
             "  num_samples_per_file: 100\n  record_length_bytes: 64\n"
             "reader:\n  batch_size: 1\n  read_threads: 1\n"
             "train:\n  epochs: 1\n  computation_time: 0\n",
             dir);
    ct_dlio_config c;
    ct_dlio_config_init(&c);
    CHECK(ct_dlio_config_load(&c, NULL, yaml, NULL, 0, NULL, NULL) == CT_OK, "config: %s", ct_errmsg());
    ct_dlio_gen_opts go = {1, 0, 1, 0};
    CHECK(ct_dlio_generate(&c, &go) == CT_OK, "generate: %s", ct_errmsg());
    snprintf(out, sizeof out, "%s/logout", dir);
    world w;
    w.size = 2;
    pthread_barrier_init(&w.bar, NULL, 2);
    job jobs[2];
    pthread_t th[2];
    memset(jobs, 0, sizeof jobs);
    for (int r = 0; r < 2; r++) {
        make_comm(&jobs[r].comm, &w, r);
        jobs[r].cfg = &c;
        jobs[r].out = out;
        pthread_create(&th[r], NULL, run_rank, &jobs[r]);
    }
    for (int r = 0; r < 2; r++)
        pthread_join(th[r], NULL);
    pthread_barrier_destroy(&w.bar);
    for (int r = 0; r < 2; r++)
        CHECK(jobs[r].st == CT_OK, "rank %d: %s", r, jobs[r].err);
    snprintf(p, sizeof p, "%s/dlio.log", out);
    FILE *f = fopen(p, "r");
    int steps[2] = {0, 0}, torn = 0;
    char line[1024];
    while (f && fgets(line, sizeof line, f)) {
        int r, st, used = 0;
        char *q = strstr(line, "Rank ");
        if (strstr(line + 1, "[INFO]") || line[strlen(line) - 1] != '\n')
            torn++;
        else if (q && sscanf(q, "Rank %d step %d processed 1 samples in %*g s%n", &r, &st, &used) == 2 &&
                 used > 0 && q[used] == '\n' && r >= 0 && r < 2 && !strncmp(line, "[INFO] ", 7))
            steps[r]++;
        else if (q)
            torn++;
    }
    if (f)
        fclose(f);
    CHECK(torn == 0 && steps[0] == 1000 && steps[1] == 1000,
          "dlio.log: %d torn lines, %d and %d whole step lines (1000 each)", torn, steps[0], steps[1]);
    ct_dlio_config_free(&c);
}

int main(int argc, char **argv)
{
    char dir[1024], cmd[2200];
    snprintf(dir, sizeof dir, "%s/data/comm", argc > 1 ? argv[1] : "/tmp");
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    CHECK(system(cmd) == 0, "cannot prepare %s", dir);
    test_self();
    test_threads(2);
    test_threads(3);
    test_run(dir);
    test_log_lines(dir);
    return check_summary();
}
