/* ctrain — training machine-learning models from C. The umbrella header. */
#ifndef CTRAIN_H
#define CTRAIN_H

#include "status.h"
#include "optim.h"
#include "sched.h"
#include "clip.h"
#include "lbfgs.h"
#include "bfo.h"
#include "average.h"

#endif
