/* config_mmrec.c - the settings only model mmrec reads (mmrec.h): train.freeze's list
 * of parameter groups, and the check that train.freeze, train.init_from and the [mm]
 * and [memory] sections are not set for another model, which would ignore them
 * without a word.
 *
 * "Set" means different from the table's default (config.c), so a configuration file
 * may repeat a default in [mm] and still train SASRec.
 *
 * Leaves out: which tensors a group holds (fr_mmrec_group), and loading the files
 * these settings name (itemfeat.h, fr_checkpoint_init_from).
 */
#include "config_internal.h"

#include <string.h>

static const char *const freeze_groups[] = { "item", "sasrec", "experts", "fusion" };
#define N_GROUPS (sizeof freeze_groups / sizeof freeze_groups[0])

/* Walks the comma-separated names of a list. A list of blanks only has no names;
 * otherwise every comma separates two names, which may be empty ("item,,sasrec",
 * "item,"). */
typedef struct name_iter {
    const char *p;  /* where the next name starts; NULL when done */
} name_iter;

static void name_iter_init(name_iter *it, const char *list) {
    const char *q = list ? list : "";
    while (*q == ' ' || *q == '\t') q++;
    it->p = *q ? list : NULL;
}

/* The next name, blanks around it stripped, as [*s, *e); 0 when the list is done. */
static int name_iter_next(name_iter *it, const char **s, const char **e) {
    if (!it->p) return 0;
    const char *a = it->p, *b = strchr(a, ',');
    it->p = b ? b + 1 : NULL;
    if (!b) b = a + strlen(a);
    while (a < b && (*a == ' ' || *a == '\t')) a++;
    while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
    *s = a;
    *e = b;
    return 1;
}

static int name_is(const char *s, const char *e, const char *name) {
    const size_t n = strlen(name);
    return (size_t)(e - s) == n && memcmp(s, name, n) == 0;
}

int fr_freeze_has(const char *list, const char *group) {
    if (!group || !group[0]) return 0;
    name_iter it;
    const char *s, *e;
    name_iter_init(&it, list);
    while (name_iter_next(&it, &s, &e))
        if (name_is(s, e, group)) return 1;
    return 0;
}

/* 1 when field f holds the same value in c and in d (the defaults). */
static int is_default(const fr_config *c, const fr_config *d, const fr_config_field *f) {
    const char *x = (const char *)c + f->offset, *y = (const char *)d + f->offset;
    switch (f->type) {
    case FR_CFG_INT:
    case FR_CFG_BOOL:
    case FR_CFG_U64: return memcmp(x, y, f->size) == 0;
    case FR_CFG_DOUBLE: {
        double a, b;
        memcpy(&a, x, sizeof a);
        memcpy(&b, y, sizeof b);
        return a == b;
    }
    case FR_CFG_STRING:
    case FR_CFG_CHOICE: return strncmp(x, y, f->size) == 0;
    }
    return 1;
}

fr_status fr_config_validate_mmrec(const fr_config *c, fr_error *err) {
    name_iter it;
    const char *s, *e;
    int named = 0;
    name_iter_init(&it, c->freeze);
    while (name_iter_next(&it, &s, &e)) {
        if (s == e)
            return fr_fail(err, FR_ERR_USAGE, "[train] freeze: empty group name in '%.200s' "
                           "(a comma list of " FR_FREEZE_GROUPS ")", c->freeze);
        size_t g = 0;
        while (g < N_GROUPS && !name_is(s, e, freeze_groups[g])) g++;
        if (g == N_GROUPS)
            return fr_fail(err, FR_ERR_USAGE, "[train] freeze: unknown group '%.*s' (groups: "
                           FR_FREEZE_GROUPS ")", (int)(e - s > 60 ? 60 : e - s), s);
        named++;
    }
    if (strcmp(c->model, "mmrec") == 0) return FR_OK;
    if (named)
        return fr_fail(err, FR_ERR_USAGE, "[train] freeze: parameter groups are model mmrec's; "
                       "model.model is '%s'", c->model);
    if (c->init_from[0])
        return fr_fail(err, FR_ERR_USAGE, "[train] init_from: only model.model = mmrec starts "
                       "from a checkpoint; model.model is '%s'", c->model);
    fr_config d;
    fr_config_defaults(&d);
    for (const fr_config_field *f = fr_config_fields; f->section; f++) {
        if (strcmp(f->section, "mm") != 0 && strcmp(f->section, "memory") != 0) continue;
        if (!is_default(c, &d, f))
            return fr_fail(err, FR_ERR_USAGE, "[%s] %s: the [%s] settings are model mmrec's; "
                           "model.model is '%s'", f->section, f->key, f->section, c->model);
    }
    return FR_OK;
}
