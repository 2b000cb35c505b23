/* config.c - everything that walks the table of configuration fields (config_fields.c):
 * defaults, INI files (libinih), --set overrides, validation, JSON dumps and --help text.
 *
 * Every value, wherever it comes from (the table's default text, an INI line, a --set
 * argument, a JSON dump), goes through one parser, field_parse(), so the same text is
 * accepted or refused with the same message everywhere. Loading a file or a JSON dump
 * works on a copy and stores it only when everything parsed, so a failed load leaves
 * the caller's configuration as it was.
 *
 * INI details: keys outside a [section], unknown sections (even empty ones), unknown
 * keys, a key given twice, indented continuation lines and lines longer than libinih's
 * buffer are errors. libinih counts lines itself but does not pass the number to the
 * handler in Debian's build, so the file is fed to it through a line reader here that
 * counts the same lines (one reader call per line) and notes the current one.
 *
 * Leaves out: environment-variable expansion, includes, and per-user overrides.
 */
#include "fedrec/config.h"

#include <errno.h>
#include <inttypes.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fedrec/alloc.h"
#include "fedrec/fileio.h"
#include "config_internal.h"

#define N_FIELDS fr_config_n_fields

#define WHY_MAX 512          /* "'value' is ..." without the location prefix */
#define SHOWN "%.200s"       /* how much of a bad value a message repeats */
#define JSON_EXACT_INT 9007199254740992.0 /* 2^53 */
#define JSON_PRINTED_EXACT 1000000000000000ull /* 10^15: what cJSON prints digit for digit */

/* ---- parsing one value ---------------------------------------------------------------- */

static int field_index(const char *section, const char *key) {
    for (size_t i = 0; i < N_FIELDS; i++)
        if (strcmp(fr_config_fields[i].section, section) == 0 &&
            strcmp(fr_config_fields[i].key, key) == 0)
            return (int)i;
    return -1;
}

static int section_known(const char *section) {
    for (size_t i = 0; i < N_FIELDS; i++)
        if (strcmp(fr_config_fields[i].section, section) == 0) return 1;
    return 0;
}

static void *field_ptr(fr_config *c, const fr_config_field *f) { return (char *)c + f->offset; }
static const void *field_cptr(const fr_config *c, const fr_config_field *f) {
    return (const char *)c + f->offset;
}

/* Writes the range as "[0, 1)" (brackets by f->open) into buf. */
static void format_range(const fr_config_field *f, char *buf, size_t size) {
    const char *fmt = f->type == FR_CFG_INT ? "%c%.0f, %.0f%c" : "%c%g, %g%c";
    snprintf(buf, size, fmt, (f->open & FR_CFG_OPEN_MIN) ? '(' : '[', f->min, f->max,
             (f->open & FR_CFG_OPEN_MAX) ? ')' : ']');
}

/* 1 when v lies in the field's range (NaN never does). */
static int in_range(const fr_config_field *f, double v) {
    int lo_ok = (f->open & FR_CFG_OPEN_MIN) ? v > f->min : v >= f->min;
    int hi_ok = (f->open & FR_CFG_OPEN_MAX) ? v < f->max : v <= f->max;
    return lo_ok && hi_ok;
}

static int out_of_range(const fr_config_field *f, const char *text, char *why) {
    char range[96];
    format_range(f, range, sizeof range);
    snprintf(why, WHY_MAX, "'" SHOWN "' is out of range %s", text, range);
    return 1;
}

/* 1 when the whole of text is a number strtod understands. */
static int parse_double(const char *text, double *v) {
    char *end;
    errno = 0;
    *v = strtod(text, &end);
    return end != text && *end == '\0';
}

/* 1 when text is one of the '|'-separated choices. */
static int choice_ok(const char *choices, const char *text) {
    size_t n = strlen(text);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, text, n) == 0) return 1;
        p += len + (bar ? 1 : 0);
    }
    return 0;
}

/* "not a number", "not an integer" or "out of range" for a text strtoll/strtoull refused. */
static int bad_integer(const fr_config_field *f, const char *text, char *why) {
    double d;
    if (!parse_double(text, &d)) {
        snprintf(why, WHY_MAX, "'" SHOWN "' is not a number", text);
    } else if (d == floor(d) && !in_range(f, d)) {
        out_of_range(f, text, why);
    } else {
        snprintf(why, WHY_MAX, "'" SHOWN "' is not an integer", text);
    }
    return 1;
}

static int store_string(const fr_config_field *f, void *dst, const char *text, char *why) {
    size_t n = strlen(text);
    if (n >= f->size) {
        snprintf(why, WHY_MAX, "'%.40s...' is too long (at most %zu characters)", text,
                 f->size - 1);
        return 1;
    }
    memcpy(dst, text, n + 1);
    return 0;
}

static const char *const bool_true[] = {"true", "1", "yes", "on"};
static const char *const bool_false[] = {"false", "0", "no", "off"};

/* Parses text into field f of c. Returns 0, or 1 with "'text' is ..." in why[WHY_MAX]. */
static int field_parse(const fr_config_field *f, fr_config *c, const char *text, char *why) {
    void *dst = field_ptr(c, f);
    switch (f->type) {
    case FR_CFG_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (end == text || *end != '\0') return bad_integer(f, text, why);
        if (errno == ERANGE || !in_range(f, (double)v)) return out_of_range(f, text, why);
        *(int32_t *)dst = (int32_t)v;
        return 0;
    }
    case FR_CFG_U64: {
        /* strtoull accepts "-1" and wraps it, so only plain digits go to it. */
        int digits = text[0] != '\0';
        for (const char *p = text; *p; p++) digits = digits && *p >= '0' && *p <= '9';
        if (!digits) {
            double d;
            if (parse_double(text, &d) && d < 0) {
                snprintf(why, WHY_MAX, "'" SHOWN "' is out of range [0, %" PRIu64 "]", text,
                         UINT64_MAX);
                return 1;
            }
            return bad_integer(f, text, why);
        }
        errno = 0;
        unsigned long long v = strtoull(text, NULL, 10);
        if (errno == ERANGE) {
            snprintf(why, WHY_MAX, "'" SHOWN "' is out of range [0, %" PRIu64 "]", text,
                     UINT64_MAX);
            return 1;
        }
        *(uint64_t *)dst = (uint64_t)v;
        return 0;
    }
    case FR_CFG_DOUBLE: {
        double v;
        if (!parse_double(text, &v)) {
            snprintf(why, WHY_MAX, "'" SHOWN "' is not a number", text);
            return 1;
        }
        if (!in_range(f, v)) return out_of_range(f, text, why);
        *(double *)dst = v;
        return 0;
    }
    case FR_CFG_BOOL:
        for (size_t i = 0; i < sizeof bool_true / sizeof bool_true[0]; i++) {
            if (strcasecmp(text, bool_true[i]) == 0 || strcasecmp(text, bool_false[i]) == 0) {
                *(int32_t *)dst = strcasecmp(text, bool_true[i]) == 0;
                return 0;
            }
        }
        snprintf(why, WHY_MAX, "'" SHOWN "' must be one of true|false|1|0|yes|no|on|off", text);
        return 1;
    case FR_CFG_CHOICE:
        if (!choice_ok(f->choices, text)) {
            snprintf(why, WHY_MAX, "'" SHOWN "' must be one of %s", text, f->choices);
            return 1;
        }
        return store_string(f, dst, text, why);
    case FR_CFG_STRING: return store_string(f, dst, text, why);
    }
    snprintf(why, WHY_MAX, "field has an unknown type");
    return 1;
}

void fr_config_defaults(fr_config *c) {
    char why[WHY_MAX];
    memset(c, 0, sizeof *c);
    /* The defaults are text in the table; test_config checks that each one parses. */
    for (size_t i = 0; i < N_FIELDS; i++)
        (void)field_parse(&fr_config_fields[i], c, fr_config_fields[i].dflt, why);
}

/* ---- INI files ------------------------------------------------------------------------ */

/* State shared by the line reader and the key handler during one ini_parse_stream. */
typedef struct ini_ctx {
    fr_config work;            /* a copy, stored into the caller's only on success */
    const char *path;
    const char *text;          /* the whole file */
    size_t len, pos;           /* its length and the start of the next line */
    int line;                  /* lines handed to libinih = its current line number */
    const char *raw;           /* the current line as it is in the file */
    int set_line[FR_CONFIG_FIELDS_CAP]; /* line where each field was set, 0 = not in this file */
    int err_line;              /* line of the first error found here, 0 = none */
    char err_msg[FR_ERROR_MAX];
} ini_ctx;

static int ini_error(ini_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int ini_error(ini_ctx *x, const char *fmt, ...) {
    char what[FR_ERROR_MAX / 4 * 3]; /* leaves room for "FILE:LINE: " */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(x->err_msg, sizeof x->err_msg, "%s:%d: %s", x->path, x->line, what);
    x->err_line = x->line;
    return 0; /* what an ini handler returns on error */
}

/* Checks a "[name]" line the way libinih reads it (up to ']' or an inline " ;" comment):
 * an unknown section is an error even when no key follows it. */
static int check_section_line(ini_ctx *x, const char *s) {
    while (*s == ' ' || *s == '\t') s++;
    if (*s != '[') return 1;
    const char *name = ++s;
    int was_space = 0;
    while (*s && *s != ']' && *s != '\n' && !(was_space && *s == ';')) {
        was_space = *s == ' ' || *s == '\t';
        s++;
    }
    if (*s != ']') return 1; /* libinih reports the syntax error */
    char section[64];
    size_t n = (size_t)(s - name);
    if (n >= sizeof section) return ini_error(x, "unknown section [%.*s]", (int)n, name);
    memcpy(section, name, n);
    section[n] = '\0';
    if (!section_known(section)) return ini_error(x, "unknown section [%s]", section);
    return 1;
}

/* libinih's fgets: hands over one line per call, so x->line matches libinih's count. */
static char *ini_read_line(char *str, int num, void *stream) {
    ini_ctx *x = stream;
    if (x->err_line || x->pos >= x->len) return NULL;
    const char *start = x->text + x->pos;
    const char *nl = memchr(start, '\n', x->len - x->pos);
    size_t n = nl ? (size_t)(nl - start) + 1 : x->len - x->pos;
    x->line++;
    x->raw = start;
    size_t content = n;
    while (content > 0 && (start[content - 1] == '\n' || start[content - 1] == '\r')) content--;
    /* libinih needs room for "\r\n\0" after the longest line. */
    if (num < 3 || content > (size_t)num - 3) {
        ini_error(x, "line is longer than %d characters (use --set for long values)", num - 3);
        return NULL;
    }
    if (memchr(start, '\0', n)) {
        ini_error(x, "line contains a NUL byte");
        return NULL;
    }
    memcpy(str, start, n);
    str[n] = '\0';
    x->pos += n;
    if (!check_section_line(x, str)) return NULL;
    return str;
}

/* 1 when the current raw line is "name = ..." (possibly indented), 0 when libinih took
 * an indented line as the continuation of the previous key's value. */
static int raw_line_is_key(const ini_ctx *x, const char *name) {
    const char *s = x->raw;
    if (*s != ' ' && *s != '\t') return 1;
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(name);
    if (strncmp(s, name, n) != 0) return 0;
    s += n;
    while (*s == ' ' || *s == '\t') s++;
    return *s == '=' || *s == ':';
}

static int ini_on_value(void *user, const char *section, const char *name, const char *value) {
    ini_ctx *x = user;
    if (x->err_line) return 0;
    if (section[0] == '\0') return ini_error(x, "key '%s' is outside any [section]", name);
    if (!raw_line_is_key(x, name))
        return ini_error(x, "[%s] %s: indented continuation lines are not supported", section,
                         name);
    int i = field_index(section, name);
    if (i < 0) {
        if (!section_known(section)) return ini_error(x, "unknown section [%s]", section);
        return ini_error(x, "unknown key '%s' in section [%s]", name, section);
    }
    if (x->set_line[i])
        return ini_error(x, "[%s] %s: given twice (first on line %d)", section, name,
                         x->set_line[i]);
    char why[WHY_MAX];
    if (field_parse(&fr_config_fields[i], &x->work, value, why))
        return ini_error(x, "[%s] %s: %s", section, name, why);
    x->set_line[i] = x->line;
    return 1;
}

fr_status fr_config_load_ini(fr_config *c, const char *path, fr_error *err) {
    char *text;
    size_t len;
    fr_status st = fr_read_file(path, &text, &len, err);
    if (st != FR_OK) return st;
    ini_ctx *x = fr_calloc(1, sizeof *x);
    if (!x) {
        fr_free(text);
        return fr_nomem(err, "configuration parser", sizeof *x);
    }
    x->work = *c;
    x->path = path;
    x->text = text;
    x->len = len;
    int rc = ini_parse_stream(ini_read_line, x, ini_on_value, x);
    /* libinih reports the first line with any error; ours knows what the error was. */
    if (rc > 0 && (x->err_line == 0 || rc < x->err_line)) {
        st = fr_fail(err, FR_ERR_INPUT, "%s:%d: syntax error", path, rc);
    } else if (x->err_line) {
        st = fr_fail(err, FR_ERR_INPUT, "%s", x->err_msg);
    } else if (rc == -2) {
        st = fr_nomem(err, "configuration parser", 0);
    } else if (rc != 0) {
        st = fr_fail(err, FR_ERR_INPUT, "%s: cannot parse (libinih error %d)", path, rc);
    } else {
        *c = x->work;
    }
    fr_free(x);
    fr_free(text);
    return st;
}

/* ---- --set ---------------------------------------------------------------------------- */

/* Copies [b, e) without surrounding blanks into buf; 0 when it does not fit. */
static int copy_trimmed(char *buf, size_t size, const char *b, const char *e) {
    while (b < e && (*b == ' ' || *b == '\t')) b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t')) e--;
    if ((size_t)(e - b) >= size) return 0;
    memcpy(buf, b, (size_t)(e - b));
    buf[e - b] = '\0';
    return 1;
}

fr_status fr_config_set(fr_config *c, const char *assignment, fr_error *err) {
    const char *eq = strchr(assignment, '=');
    const char *dot = strchr(assignment, '.');
    char section[64], key[64], value[FR_CONFIG_STR + 1];
    if (!eq || !dot || dot > eq)
        return fr_fail(err, FR_ERR_USAGE, "--set " SHOWN ": expected section.key=value",
                       assignment);
    int section_fits = copy_trimmed(section, sizeof section, assignment, dot);
    int key_fits = copy_trimmed(key, sizeof key, dot + 1, eq);
    if ((section_fits && section[0] == '\0') || (key_fits && key[0] == '\0'))
        return fr_fail(err, FR_ERR_USAGE, "--set " SHOWN ": expected section.key=value",
                       assignment);
    int i = section_fits && key_fits ? field_index(section, key) : -1;
    if (i < 0) return fr_fail(err, FR_ERR_USAGE, "--set " SHOWN ": unknown key", assignment);
    const fr_config_field *f = &fr_config_fields[i];
    if (!copy_trimmed(value, sizeof value, eq + 1, eq + 1 + strlen(eq + 1)))
        return fr_fail(err, FR_ERR_USAGE, "--set %s.%s: value is too long (at most %d characters)",
                       section, key, FR_CONFIG_STR - 1);
    char why[WHY_MAX];
    fr_config work = *c;
    if (field_parse(f, &work, value, why))
        return fr_fail(err, FR_ERR_USAGE, "--set " SHOWN ": %s", assignment, why);
    *c = work;
    return FR_OK;
}

/* ---- validation ------------------------------------------------------------------------ */

/* The field's current value as text, as field_parse would read it back. */
static void format_value(const fr_config *c, const fr_config_field *f, char *buf, size_t size) {
    const void *src = field_cptr(c, f);
    switch (f->type) {
    case FR_CFG_INT: snprintf(buf, size, "%" PRId32, *(const int32_t *)src); break;
    case FR_CFG_U64: snprintf(buf, size, "%" PRIu64, *(const uint64_t *)src); break;
    case FR_CFG_DOUBLE: snprintf(buf, size, "%.17g", *(const double *)src); break;
    case FR_CFG_BOOL: snprintf(buf, size, "%s", *(const int32_t *)src ? "true" : "false"); break;
    case FR_CFG_STRING:
    case FR_CFG_CHOICE: snprintf(buf, size, "%.*s", (int)f->size, (const char *)src); break;
    }
}

/* Checks one stored value against its row; 0 or 1 with the reason in why. */
static int field_check(const fr_config *c, const fr_config_field *f, char *why) {
    const void *src = field_cptr(c, f);
    char text[64];
    switch (f->type) {
    case FR_CFG_INT:
        if (in_range(f, *(const int32_t *)src)) return 0;
        format_value(c, f, text, sizeof text);
        return out_of_range(f, text, why);
    case FR_CFG_DOUBLE:
        if (in_range(f, *(const double *)src)) return 0;
        snprintf(text, sizeof text, "%g", *(const double *)src);
        return out_of_range(f, text, why);
    case FR_CFG_BOOL:
        if (*(const int32_t *)src == 0 || *(const int32_t *)src == 1) return 0;
        snprintf(why, WHY_MAX, "%" PRId32 " is not 0 or 1", *(const int32_t *)src);
        return 1;
    case FR_CFG_U64: return 0;
    case FR_CFG_STRING:
    case FR_CFG_CHOICE:
        if (!memchr(src, '\0', f->size)) {
            snprintf(why, WHY_MAX, "is not NUL-terminated");
            return 1;
        }
        if (f->type == FR_CFG_CHOICE && !choice_ok(f->choices, src)) {
            snprintf(why, WHY_MAX, "'" SHOWN "' must be one of %s", (const char *)src,
                     f->choices);
            return 1;
        }
        return 0;
    }
    return 0;
}

fr_status fr_config_validate(const fr_config *c, fr_error *err) {
    char why[WHY_MAX];
    for (size_t i = 0; i < N_FIELDS; i++) {
        const fr_config_field *f = &fr_config_fields[i];
        if (field_check(c, f, why))
            return fr_fail(err, FR_ERR_USAGE, "[%s] %s: %s", f->section, f->key, why);
    }
    if (!(c->train_fraction + c->val_fraction < 1.0))
        return fr_fail(err, FR_ERR_USAGE,
                       "[data] train_fraction + val_fraction must be below 1 (%g + %g), "
                       "the test set gets the rest", c->train_fraction, c->val_fraction);
    if (c->max_clients > 0 && c->top_users > 0)
        return fr_fail(err, FR_ERR_USAGE, "[data] top_users (%" PRId32 ") and max_clients (%"
                       PRId32 ") both choose users; set one of them", c->top_users,
                       c->max_clients);
    if (c->synth_min_per_user > c->synth_items / 2)
        return fr_fail(err, FR_ERR_USAGE,
                       "[synthetic] min_per_user (%" PRId32 ") must be at most items/2 (%" PRId32
                       ")", c->synth_min_per_user, c->synth_items / 2);
    return fr_config_validate_mmrec(c, err);
}

/* ---- JSON ------------------------------------------------------------------------------ */

cJSON *fr_config_to_json(const fr_config *c) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    for (size_t i = 0; i < N_FIELDS; i++) {
        const fr_config_field *f = &fr_config_fields[i];
        const void *src = field_cptr(c, f);
        cJSON *sec = cJSON_GetObjectItemCaseSensitive(root, f->section);
        if (!sec) sec = cJSON_AddObjectToObject(root, f->section);
        cJSON *v = NULL;
        if (sec) {
            switch (f->type) {
            case FR_CFG_INT:
                v = cJSON_AddNumberToObject(sec, f->key, *(const int32_t *)src);
                break;
            case FR_CFG_DOUBLE:
                v = cJSON_AddNumberToObject(sec, f->key, *(const double *)src);
                break;
            case FR_CFG_BOOL: v = cJSON_AddBoolToObject(sec, f->key, *(const int32_t *)src); break;
            case FR_CFG_U64: {
                /* A JSON number is a double, exact below 2^53; cJSON prints 15 digits
                 * when they come close to the value, so only below 10^15 is a number
                 * printed exactly. Larger seeds go as strings of digits. */
                uint64_t seed = *(const uint64_t *)src;
                if (seed < JSON_PRINTED_EXACT) {
                    v = cJSON_AddNumberToObject(sec, f->key, (double)seed);
                } else {
                    char text[32];
                    snprintf(text, sizeof text, "%" PRIu64, seed);
                    v = cJSON_AddStringToObject(sec, f->key, text);
                }
                break;
            }
            case FR_CFG_STRING:
            case FR_CFG_CHOICE: {
                char text[FR_CONFIG_STR];
                snprintf(text, sizeof text, "%.*s", (int)f->size, (const char *)src);
                v = cJSON_AddStringToObject(sec, f->key, text);
                break;
            }
            }
        }
        if (!v) {
            cJSON_Delete(root);
            return NULL;
        }
    }
    return root;
}

/* The JSON value as the text field_parse reads; 0 with why set when its type is wrong. */
static int json_value_text(const fr_config_field *f, const cJSON *v, char *text, size_t size,
                           char *why) {
    switch (f->type) {
    case FR_CFG_INT:
    case FR_CFG_DOUBLE:
        if (!cJSON_IsNumber(v)) break;
        snprintf(text, size, "%.17g", v->valuedouble);
        return 1;
    case FR_CFG_U64:
        if (cJSON_IsString(v)) {
            snprintf(text, size, SHOWN, v->valuestring);
            return 1;
        }
        if (!cJSON_IsNumber(v)) break;
        if (!(v->valuedouble < JSON_EXACT_INT)) {
            snprintf(why, WHY_MAX, "%g is not exact as a JSON number; store it as a string",
                     v->valuedouble);
            return 0;
        }
        snprintf(text, size, "%.17g", v->valuedouble);
        return 1;
    case FR_CFG_BOOL:
        if (!cJSON_IsBool(v)) break;
        snprintf(text, size, "%s", cJSON_IsTrue(v) ? "true" : "false");
        return 1;
    case FR_CFG_STRING:
    case FR_CFG_CHOICE:
        if (!cJSON_IsString(v)) break;
        if (strlen(v->valuestring) >= size) {
            snprintf(why, WHY_MAX, "'%.40s...' is too long (at most %zu characters)",
                     v->valuestring, f->size - 1);
            return 0;
        }
        snprintf(text, size, "%s", v->valuestring);
        return 1;
    }
    static const char *const expected[] = {
        [FR_CFG_INT] = "a number", [FR_CFG_U64] = "a number or a string of digits",
        [FR_CFG_DOUBLE] = "a number", [FR_CFG_BOOL] = "true or false",
        [FR_CFG_STRING] = "a string", [FR_CFG_CHOICE] = "a string"};
    snprintf(why, WHY_MAX, "expected %s", expected[f->type]);
    return 0;
}

fr_status fr_config_from_json(fr_config *c, const cJSON *json, fr_error *err) {
    if (!cJSON_IsObject(json))
        return fr_fail(err, FR_ERR_INPUT, "config JSON: not an object");
    fr_config *work = fr_alloc(1, sizeof *work);
    char *text = fr_alloc(FR_CONFIG_STR + 1, 1);
    if (!work || !text) {
        fr_free(work);
        fr_free(text);
        return fr_nomem(err, "configuration", sizeof *work);
    }
    *work = *c;
    fr_status st = FR_OK;
    const cJSON *sec, *item;
    cJSON_ArrayForEach(sec, json) {
        if (!section_known(sec->string)) {
            st = fr_fail(err, FR_ERR_INPUT, "config JSON: unknown section [%.64s]", sec->string);
            break;
        }
        if (!cJSON_IsObject(sec)) {
            st = fr_fail(err, FR_ERR_INPUT, "config JSON: [%s] is not an object", sec->string);
            break;
        }
        cJSON_ArrayForEach(item, sec) {
            int i = field_index(sec->string, item->string);
            if (i < 0) {
                st = fr_fail(err, FR_ERR_INPUT, "config JSON: unknown key '%.64s' in section [%s]",
                             item->string, sec->string);
                break;
            }
            const fr_config_field *f = &fr_config_fields[i];
            char why[WHY_MAX];
            if (!json_value_text(f, item, text, FR_CONFIG_STR + 1, why) ||
                field_parse(f, work, text, why)) {
                st = fr_fail(err, FR_ERR_INPUT, "config JSON: [%s] %s: %s", f->section, f->key,
                             why);
                break;
            }
        }
        if (st != FR_OK) break;
    }
    if (st == FR_OK) *c = *work;
    fr_free(work);
    fr_free(text);
    return st;
}

/* ---- help ------------------------------------------------------------------------------ */

void fr_config_print_help(FILE *out) {
    for (size_t i = 0; i < N_FIELDS; i++) {
        const fr_config_field *f = &fr_config_fields[i];
        char name[64], dflt[48];
        snprintf(name, sizeof name, "%s.%s", f->section, f->key);
        if (f->dflt[0])
            snprintf(dflt, sizeof dflt, "(%s)", f->dflt);
        else
            snprintf(dflt, sizeof dflt, "(\"\")");
        fprintf(out, "  %-30s %-11s %s", name, dflt, f->help);
        if (f->type == FR_CFG_CHOICE) fprintf(out, ": %s", f->choices);
        fputc('\n', out);
    }
}
