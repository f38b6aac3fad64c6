/* PLACEHOLDER: nadam is being implemented; until then creating it fails. */
#include <math.h>

#include "optim_impl.h"

static const ct_opt_desc opts[] = {{"lr", CT_OPT_REAL, 1, 0, {1e-3}, 0, INFINITY, 0, 0}};
static int layout(const double *hp, const ct_param *p, ct_state_desc *out)
{
    (void)hp, (void)p, (void)out;
    return 0;
}
const ct_optim_kind ct_kind_nadam = {.name = "nadam", .opts = opts, .n_opts = 1, .layout = layout};
