/* The communicator interface (include/ctrain/comm.h): argument checks in
 * front of an implementation's functions, and the single-process
 * implementation (MPI_COMM_SELF's behaviour: every collective over one
 * rank is the identity or a copy). */
#include <stdlib.h>
#include <string.h>

#include "ctrain/comm.h"
#include "error.h"

static ct_status self_barrier(const ct_comm *c)
{
    (void)c;
    return CT_OK;
}

static ct_status self_allreduce(const ct_comm *c, void *buf, size_t n, int32_t dtype, int32_t op)
{
    (void)c, (void)buf, (void)n, (void)dtype, (void)op;
    return CT_OK;
}

static ct_status self_gather(const ct_comm *c, const void *send, size_t len, int root, uint8_t **recv,
                             size_t *recv_lens)
{
    (void)c, (void)root;
    *recv = malloc(len ? len : 1);
    if (!*recv)
        return ct_fail(NULL, CT_ENOMEM, "ct_comm_gather: out of memory for %zu bytes", len);
    if (len)
        memcpy(*recv, send, len);
    recv_lens[0] = len;
    return CT_OK;
}

ct_status ct_comm_self(ct_comm *c)
{
    if (!c)
        return ct_fail(NULL, CT_EINVAL, "ct_comm_self: communicator is NULL");
    c->rank = 0;
    c->size = 1;
    c->ctx = NULL;
    c->barrier = self_barrier;
    c->allreduce = self_allreduce;
    c->gather = self_gather;
    return CT_OK;
}

static ct_status check(const ct_comm *c, const char *what)
{
    if (!c)
        return ct_fail(NULL, CT_EINVAL, "%s: communicator is NULL", what);
    if (!c->barrier || !c->allreduce || !c->gather)
        return ct_fail(NULL, CT_EINVAL, "%s: communicator lacks a function", what);
    if (c->size < 1 || c->rank < 0 || c->rank >= c->size)
        return ct_fail(NULL, CT_EINVAL, "%s: rank %d of size %d is out of range", what, c->rank, c->size);
    return CT_OK;
}

ct_status ct_comm_barrier(const ct_comm *c)
{
    ct_status st = check(c, "ct_comm_barrier");
    return st != CT_OK ? st : c->barrier(c);
}

ct_status ct_comm_allreduce(const ct_comm *c, void *buf, size_t n, int32_t dtype, int32_t op)
{
    ct_status st = check(c, "ct_comm_allreduce");
    if (st != CT_OK)
        return st;
    if (dtype != CT_COMM_DOUBLE && dtype != CT_COMM_INT64)
        return ct_fail(NULL, CT_EINVAL, "ct_comm_allreduce: dtype %d is not CT_COMM_DOUBLE or CT_COMM_INT64",
                       (int)dtype);
    if (op != CT_COMM_SUM && op != CT_COMM_MAX && op != CT_COMM_MIN)
        return ct_fail(NULL, CT_EINVAL, "ct_comm_allreduce: op %d is not SUM, MAX or MIN", (int)op);
    if (n && !buf)
        return ct_fail(NULL, CT_EINVAL, "ct_comm_allreduce: buffer is NULL");
    return c->allreduce(c, buf, n, dtype, op);
}

ct_status ct_comm_gather(const ct_comm *c, const void *send, size_t len, int root, uint8_t **recv,
                         size_t *recv_lens)
{
    ct_status st = check(c, "ct_comm_gather");
    if (st != CT_OK)
        return st;
    if (root < 0 || root >= c->size)
        return ct_fail(NULL, CT_EINVAL, "ct_comm_gather: root %d is not a rank of %d", root, c->size);
    if (!recv || (len && !send) || (c->rank == root && !recv_lens))
        return ct_fail(NULL, CT_EINVAL, "ct_comm_gather: NULL buffer");
    *recv = NULL;
    return c->gather(c, send, len, root, recv, recv_lens);
}
