/* The OpenMPI communicator of the `ctrain` tool (tools/comm_mpi.c). */
#ifndef CT_TOOLS_COMM_MPI_H
#define CT_TOOLS_COMM_MPI_H

#include "ctrain/comm.h"

/* If this process was started by mpirun (OMPI_COMM_WORLD_SIZE or
 * PMIX_RANK in the environment), initialises MPI and fills *c with
 * MPI_COMM_WORLD's rank, size and collectives, and returns 1. Otherwise
 * (a plain `ctrain` run: MPI is never touched) fills *c with ct_comm_self
 * and returns 0. Returns -1 with a message on stderr if the launcher's
 * world has more than one rank but this build has no MPI. */
int ct_mpi_comm_init(ct_comm *c);
/* MPI_Finalize if ct_mpi_comm_init returned 1. */
void ct_mpi_comm_finalize(int used);
/* MPI_Abort(MPI_COMM_WORLD, code) if used, so that the other ranks do not
 * wait in a collective for a rank that failed; else returns. */
void ct_mpi_comm_abort(int used, int code);

#endif
