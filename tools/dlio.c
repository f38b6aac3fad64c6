/* `ctrain dlio generate|run|validate CONFIG.yaml [++workload.a.b=v ...]
 * [--threads N]`: DLIO workloads with ctrain's data pipeline. Under
 * `mpirun -np N` the ranks are MPI_COMM_WORLD's (tools/comm_mpi.c: MPI is
 * initialised only when a launcher started the process): rank r generates
 * files r, r+N, ...; all wait for each other after generation (as DLIO);
 * `run` passes the communicator to ct_dlio_run_comm (barriers, the
 * summary's reductions). A failing rank aborts the job (MPI_Abort) so no
 * rank waits forever in a collective. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm_mpi.h"
#include "ctrain/data.h"
#include "dlio.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: ctrain dlio generate|run|validate CONFIG.yaml [++workload.SECTION.KEY=VALUE ...]\n"
               "                [--threads N] [--output DIR] [--quiet]\n"
               "  generate  writes the data set (byte-identical to dlio-benchmark 2.0.0)\n"
               "  run       generates first if workflow.generate_data, then emulates training\n"
               "            and writes summary.json (AU, samples/s, MB/s, bytes read)\n"
               "  validate  reads the workload and reports unknown keys and invalid values\n");
}

int ct_dlio_main(int argc, char **argv)
{
    if (argc < 3 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 3 && !(argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) ? stderr : stdout);
        return argc < 3 && !(argc > 1 && !strncmp(argv[1], "-", 1)) ? 2 : 0;
    }
    const char *cmd = argv[1], *path = argv[2], *out = NULL;
    int threads = 0, quiet = 0;
    const char **ov = calloc((size_t)argc, sizeof *ov);
    size_t nov = 0;
    if (!ov)
        return 1;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--output") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--quiet"))
            quiet = 1;
        else if (strchr(argv[i], '='))
            ov[nov++] = argv[i];
        else {
            fprintf(stderr, "ctrain dlio: unexpected argument '%s'\n", argv[i]);
            free(ov);
            return 2;
        }
    }
    ct_comm comm;
    int mpi = ct_mpi_comm_init(&comm);
    if (mpi < 0) {
        free(ov);
        return 1;
    }
    int rank = comm.rank, size = comm.size;
    ct_dlio_config c;
    ct_dlio_config_init(&c);
    ct_status st = ct_dlio_config_load(&c, path, NULL, ov, nov, NULL, NULL);
    free(ov);
    int rc = 0;
    if (st != CT_OK) {
        fprintf(stderr, "ctrain dlio: %s\n", ct_errmsg());
        rc = 1;
    } else if (!strcmp(cmd, "validate")) {
        printf("%s: valid DLIO workload (%s, %lld training files of %lld samples, %d unknown key(s))\n",
               path, ct_data_format_name((ct_data_format)c.format), (long long)c.num_files_train,
               (long long)c.num_samples_per_file, c.unknown_keys);
    } else if (!strcmp(cmd, "generate") || !strcmp(cmd, "run")) {
        int gen = !strcmp(cmd, "generate") || c.generate_data;
        if (gen) {
            ct_dlio_gen_opts go = {threads > 0 ? threads : 2, rank, size, !quiet && rank == 0};
            st = ct_dlio_generate(&c, &go);
            if (st == CT_OK) /* DLIO: every rank's files exist before training */
                st = ct_comm_barrier(&comm);
            if (st != CT_OK) {
                fprintf(stderr, "ctrain dlio: rank %d: %s\n", rank, ct_errmsg());
                rc = 1;
            }
        }
        if (rc == 0 && !strcmp(cmd, "run") && c.do_train) {
            if (threads > 0)
                c.read_threads = threads;
            ct_dlio_run_opts ro = {rank, size, out, quiet};
            st = ct_dlio_run_comm(&c, &ro, &comm);
            if (st != CT_OK) {
                fprintf(stderr, "ctrain dlio: rank %d: %s\n", rank, ct_errmsg());
                rc = 1;
            }
        }
    } else {
        fprintf(stderr, "ctrain dlio: unknown command '%s'\n", cmd);
        usage(stderr);
        rc = 2;
    }
    ct_dlio_config_free(&c);
    if (rc != 0 && size > 1) {
        fflush(stderr);
        ct_mpi_comm_abort(mpi, rc);
    }
    ct_mpi_comm_finalize(mpi);
    return rc;
}
