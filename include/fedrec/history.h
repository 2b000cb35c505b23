/* history.h - the run history as JSON Lines: one object per round, written to a
 * temporary and renamed into place when the run ends, so history.jsonl is whole or
 * absent. Loads straight into pandas (`pd.read_json(path, lines=True)`) or jq. */
#ifndef FEDREC_HISTORY_H
#define FEDREC_HISTORY_H

#include <cJSON.h>
#include "fedrec/fileio.h"
#include "fedrec/status.h"

typedef struct fr_history {
    fr_atomic_file file;
    int open;
} fr_history;

fr_status fr_history_open(fr_history *h, const char *path, fr_error *err);
/* Appends one line (the object is printed unformatted; the caller keeps ownership). */
fr_status fr_history_append(fr_history *h, const cJSON *obj, fr_error *err);
fr_status fr_history_commit(fr_history *h, fr_error *err);
void fr_history_abort(fr_history *h);

/* Writes obj as indented JSON to path atomically. */
fr_status fr_json_write_file(const char *path, const cJSON *obj, fr_error *err);

#endif
