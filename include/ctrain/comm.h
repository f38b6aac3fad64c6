/* ctrain — a communicator between the processes of one job.
 *
 * The collectives ctrain needs from a launcher such as mpirun, as a plain C
 * interface: libctrain itself links no MPI. A ct_comm is a table of function
 * pointers over the caller's transport; ct_comm_self gives the built-in
 * single-process one (rank 0 of 1), and the `ctrain` command line tool
 * provides an OpenMPI one (tools/comm_mpi.c) when launched by mpirun.
 *
 * Semantics are MPI's for MPI_COMM_WORLD: every rank calls the same
 * collectives in the same order (a rank that skips one hangs the others);
 * ct_comm_allreduce is MPI_Allreduce in place; ct_comm_gather is
 * MPI_Gatherv of byte strings of any length to one root.
 *
 * Thread safety: one thread per communicator at a time.
 */
#ifndef CTRAIN_COMM_H
#define CTRAIN_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ct_comm_op { CT_COMM_SUM = 0, CT_COMM_MAX = 1, CT_COMM_MIN = 2 } ct_comm_op;
typedef enum ct_comm_dtype { CT_COMM_DOUBLE = 0, CT_COMM_INT64 = 1 } ct_comm_dtype;

typedef struct ct_comm ct_comm;

/* An implementation fills every member. Each function returns CT_OK or a
 * failure whose message it recorded (ct_errmsg). */
struct ct_comm {
    int rank, size;  /* 0 <= rank < size */
    void *ctx;       /* the implementation's state */
    /* returns once every rank has entered it */
    ct_status (*barrier)(const ct_comm *c);
    /* buf holds n values of dtype on every rank; on return, on every rank,
     * value i is op over the ranks' value i */
    ct_status (*allreduce)(const ct_comm *c, void *buf, size_t n, int32_t dtype, int32_t op);
    /* every rank sends len bytes; on root, *recv receives a malloc'ed buffer
     * with the ranks' bytes concatenated in rank order (release with free)
     * and recv_lens[r] (size entries, caller's array) rank r's length; on
     * the other ranks *recv is set to NULL and recv_lens is not used */
    ct_status (*gather)(const ct_comm *c, const void *send, size_t len, int root, uint8_t **recv,
                        size_t *recv_lens);
};

/* Fills *c with the single-process communicator: rank 0 of 1; barrier
 * returns at once, allreduce leaves buf as it is, gather copies. */
ct_status ct_comm_self(ct_comm *c);

/* The collectives through c, with the arguments checked (c and its
 * functions not NULL, dtype and op known, root in range, buffers given).
 * Failures name the collective. */
ct_status ct_comm_barrier(const ct_comm *c);
ct_status ct_comm_allreduce(const ct_comm *c, void *buf, size_t n, int32_t dtype, int32_t op);
ct_status ct_comm_gather(const ct_comm *c, const void *send, size_t len, int root, uint8_t **recv,
                         size_t *recv_lens);

#ifdef __cplusplus
}
#endif
#endif
