/* ctrain tool — a PNG of a run's loss and accuracy curves, read from its
 * log.csv (train and validation, per epoch), drawn without any plotting
 * library: an RGB raster, a 3x5 pixel font, zlib for the PNG stream. */
#ifndef CTRAIN_TOOLS_PLOT_H
#define CTRAIN_TOOLS_PLOT_H

#include <stddef.h>

/* Returns 0, or -1 with a message in err. */
int ct_plot_curves(const char *csv_path, const char *png_path, char *err, size_t errcap);

#endif
