/* ct_comm over OpenMPI's MPI_COMM_WORLD (include/ctrain/comm.h): barrier =
 * MPI_Barrier, allreduce = MPI_Allreduce(MPI_IN_PLACE, ...), gather =
 * MPI_Gather of the lengths then MPI_Gatherv of the bytes. Built when CMake
 * finds MPI (CT_HAVE_MPI); libctrain itself never links MPI. MPI is
 * initialised only under a launcher, so a plain `ctrain` run never touches
 * it. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "comm_mpi.h"
#include "core/error.h"

static int launched(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") != NULL || getenv("PMIX_RANK") != NULL;
}

#ifdef CT_HAVE_MPI
#include <mpi.h>

static ct_status mpi_barrier(const ct_comm *c)
{
    (void)c;
    if (MPI_Barrier(MPI_COMM_WORLD) != MPI_SUCCESS)
        return ct_fail(NULL, CT_EIO, "MPI_Barrier failed");
    return CT_OK;
}

static ct_status mpi_allreduce(const ct_comm *c, void *buf, size_t n, int32_t dtype, int32_t op)
{
    (void)c;
    if (n > INT_MAX)
        return ct_fail(NULL, CT_EINVAL, "MPI_Allreduce: %zu values exceed an int count", n);
    MPI_Op mop = op == CT_COMM_SUM ? MPI_SUM : op == CT_COMM_MAX ? MPI_MAX : MPI_MIN;
    MPI_Datatype t = dtype == CT_COMM_DOUBLE ? MPI_DOUBLE : MPI_INT64_T;
    if (MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, t, mop, MPI_COMM_WORLD) != MPI_SUCCESS)
        return ct_fail(NULL, CT_EIO, "MPI_Allreduce failed");
    return CT_OK;
}

static ct_status mpi_gather(const ct_comm *c, const void *send, size_t len, int root, uint8_t **recv,
                            size_t *recv_lens)
{
    if (len > INT_MAX)
        return ct_fail(NULL, CT_EINVAL, "MPI_Gatherv: %zu bytes exceed an int count", len);
    int mine = (int)len, *lens = NULL, *displs = NULL;
    if (c->rank == root) {
        lens = calloc((size_t)c->size, sizeof *lens);
        displs = calloc((size_t)c->size, sizeof *displs);
        if (!lens || !displs) {
            free(lens);
            free(displs);
            return ct_fail(NULL, CT_ENOMEM, "MPI_Gatherv: out of memory");
        }
    }
    ct_status st = CT_OK;
    if (MPI_Gather(&mine, 1, MPI_INT, lens, 1, MPI_INT, root, MPI_COMM_WORLD) != MPI_SUCCESS)
        st = ct_fail(NULL, CT_EIO, "MPI_Gather failed");
    long long total = 0;
    if (st == CT_OK && c->rank == root) {
        for (int r = 0; r < c->size; r++) {
            displs[r] = (int)total;
            total += lens[r];
            recv_lens[r] = (size_t)lens[r];
        }
        /* the other ranks are in MPI_Gatherv already: abort rather than fail alone */
        if (total > INT_MAX)
            MPI_Abort(MPI_COMM_WORLD, 1);
        *recv = malloc((size_t)total + 1);
        if (!*recv)
            MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (st == CT_OK && MPI_Gatherv(send, mine, MPI_BYTE, c->rank == root ? *recv : NULL, lens, displs,
                                   MPI_BYTE, root, MPI_COMM_WORLD) != MPI_SUCCESS)
        st = ct_fail(NULL, CT_EIO, "MPI_Gatherv failed");
    free(lens);
    free(displs);
    if (st != CT_OK && c->rank == root) {
        free(*recv);
        *recv = NULL;
    }
    return st;
}

int ct_mpi_comm_init(ct_comm *c)
{
    ct_comm_self(c);
    if (!launched())
        return 0;
    int ok = 0;
    MPI_Initialized(&ok);
    if (!ok && MPI_Init(NULL, NULL) != MPI_SUCCESS) {
        fprintf(stderr, "ctrain: MPI_Init failed\n");
        return -1;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->size);
    c->barrier = mpi_barrier;
    c->allreduce = mpi_allreduce;
    c->gather = mpi_gather;
    return 1;
}

void ct_mpi_comm_finalize(int used)
{
    if (used == 1)
        MPI_Finalize();
}

void ct_mpi_comm_abort(int used, int code)
{
    if (used == 1)
        MPI_Abort(MPI_COMM_WORLD, code);
}

#else /* no MPI in this build */

int ct_mpi_comm_init(ct_comm *c)
{
    ct_comm_self(c);
    if (!launched())
        return 0;
    const char *n = getenv("OMPI_COMM_WORLD_SIZE");
    if (n && atoi(n) > 1) {
        fprintf(stderr, "ctrain: started by mpirun with %s ranks, but this ctrain was built without MPI "
                        "(install libopenmpi-dev and rebuild)\n", n);
        return -1;
    }
    return 0;
}

void ct_mpi_comm_finalize(int used) { (void)used; }

void ct_mpi_comm_abort(int used, int code) { (void)used, (void)code; }

#endif
