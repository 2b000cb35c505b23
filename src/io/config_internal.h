/* config_internal.h - what config.c shares with config_fields.c (the table's length)
 * and config_mmrec.c (the mmrec checks of fr_config_validate).
 * Private to src/io: not installed, not part of the public API. */
#ifndef FEDREC_IO_CONFIG_INTERNAL_H
#define FEDREC_IO_CONFIG_INTERNAL_H

#include <stddef.h>

#include "fedrec/config.h"

/* Fields in fr_config_fields (config_fields.c), without the terminating row; at most
 * FR_CONFIG_FIELDS_CAP (checked when it compiles). */
extern const size_t fr_config_n_fields;
enum { FR_CONFIG_FIELDS_CAP = 512 };

/* The mmrec settings (config_mmrec.c): train.freeze's group names, and train.freeze,
 * train.init_from, [mm] and [memory] set with another model. FR_ERR_USAGE
 * "[section] key: what is wrong". */
fr_status fr_config_validate_mmrec(const fr_config *c, fr_error *err);

#endif
