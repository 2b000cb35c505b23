/* config_internal.h - the parts of fr_config_validate that live outside config.c.
 * Private to src/io: not installed, not part of the public API. */
#ifndef FEDREC_IO_CONFIG_INTERNAL_H
#define FEDREC_IO_CONFIG_INTERNAL_H

#include "fedrec/config.h"

/* The mmrec settings (config_mmrec.c): train.freeze's group names, and train.freeze,
 * train.init_from, [mm] and [memory] set with another model. FR_ERR_USAGE
 * "[section] key: what is wrong". */
fr_status fr_config_validate_mmrec(const fr_config *c, fr_error *err);

#endif
