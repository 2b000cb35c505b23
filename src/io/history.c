/* history.c - JSON Lines run history and whole-file JSON output (see history.h). */
#include "fedrec/history.h"

#include <stdlib.h>
#include <string.h>

fr_status fr_history_open(fr_history *h, const char *path, fr_error *err) {
    memset(h, 0, sizeof *h);
    fr_status st = fr_atomic_open(&h->file, path, err);
    if (st == FR_OK) h->open = 1;
    return st;
}

fr_status fr_history_append(fr_history *h, const cJSON *obj, fr_error *err) {
    char *line = cJSON_PrintUnformatted(obj);
    if (!line) return fr_fail(err, FR_ERR_NOMEM, "out of memory: history line");
    int bad = fputs(line, h->file.f) < 0 || fputc('\n', h->file.f) == EOF;
    free(line);
    if (bad) return fr_fail(err, FR_ERR_IO, "%s: write failed", h->file.path);
    return FR_OK;
}

fr_status fr_history_commit(fr_history *h, fr_error *err) {
    if (!h->open) return FR_OK;
    h->open = 0;
    return fr_atomic_commit(&h->file, err);
}

void fr_history_abort(fr_history *h) {
    if (!h->open) return;
    h->open = 0;
    fr_atomic_abort(&h->file);
}

fr_status fr_json_write_file(const char *path, const cJSON *obj, fr_error *err) {
    char *text = cJSON_Print(obj);
    if (!text) return fr_fail(err, FR_ERR_NOMEM, "out of memory: %s", path);
    size_t n = strlen(text);
    text[n] = '\n'; /* cJSON_Print's buffer ends in NUL; replace it, write n+1 bytes */
    fr_status st = fr_write_atomic(path, text, n + 1, err);
    free(text);
    return st;
}
