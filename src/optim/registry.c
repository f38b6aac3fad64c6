/* Every optimizer kind the engine knows, in the order ct_optim_kind_name
 * lists them. */
#include <string.h>

#include "optim_impl.h"

extern const ct_optim_kind ct_kind_sgd, ct_kind_adam, ct_kind_adamw, ct_kind_adagrad,
    ct_kind_rmsprop, ct_kind_adadelta, ct_kind_adamax, ct_kind_nadam, ct_kind_radam,
    ct_kind_rprop, ct_kind_asgd, ct_kind_lamb, ct_kind_lars, ct_kind_lion, ct_kind_adafactor;

static const ct_optim_kind *const kinds[] = {
    &ct_kind_sgd,     &ct_kind_adam,   &ct_kind_adamw, &ct_kind_adagrad, &ct_kind_rmsprop,
    &ct_kind_adadelta, &ct_kind_adamax, &ct_kind_nadam, &ct_kind_radam,   &ct_kind_rprop,
    &ct_kind_asgd,    &ct_kind_lamb,   &ct_kind_lars,  &ct_kind_lion,    &ct_kind_adafactor,
};

const char *ct_optim_kind_name(size_t i)
{
    return i < sizeof kinds / sizeof *kinds ? kinds[i]->name : NULL;
}

const ct_optim_kind *ct_optim_find_kind(const char *name)
{
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (!strcmp(kinds[i]->name, name))
            return kinds[i];
    return NULL;
}
