/* safetensors.c - reading and writing checkpoints in the safetensors format.
 *
 * Layout (https://github.com/huggingface/safetensors, "Format"):
 *     u64 little-endian N | N bytes of JSON header, space-padded | data section
 * The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]},
 * offsets counted from the start of the data section, plus an optional "__metadata__"
 * object whose values are strings. The writer pads the header to a multiple of 8 bytes
 * so the data section stays aligned, and stores tensors back to back in the order given.
 *
 * The reader trusts nothing in the file: the header length is checked against the file
 * size and the reference implementation's 100 MB cap, the JSON must be an object that
 * starts with '{', every entry must be F32 with a shape of at most FR_ST_MAX_DIMS
 * non-negative integers, and the offsets must lie inside the data section, match
 * shape x 4 bytes, and tile it exactly (no overlap, no hole, no trailing bytes), as the
 * reference implementation's validation requires. Every such failure is FR_ERR_INPUT
 * "PATH: header: what is wrong".
 *
 * Leaves out: dtypes other than F32, memory mapping, big-endian hosts (the tensor bytes
 * are copied as they are, so the host must be little-endian; checked below).
 */
#include "fedrec/safetensors.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "fedrec/alloc.h"
#include "fedrec/fileio.h"

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "safetensors.c copies float32 bytes as they are: little-endian hosts only");
#endif

#define ST_MAX_HEADER 100000000ull          /* header cap of the reference implementation */
#define ST_MAX_JSON_INT 9007199254740992.0  /* 2^53: larger JSON numbers are not exact */
#define ST_METADATA_KEY "__metadata__"

/* Runtime twin of the static assertion, for compilers without __BYTE_ORDER__. */
static int host_is_little_endian(void) {
    uint32_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

/* Fails with FR_ERR_INPUT "PATH: header: <formatted>". */
static fr_status header_fail(fr_error *err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static fr_status header_fail(fr_error *err, const char *path, const char *fmt, ...) {
    char what[FR_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return fr_fail(err, FR_ERR_INPUT, "%s: header: %s", path, what);
}

static int cmp_tensor_names(const void *a, const void *b) {
    const fr_st_tensor *ta = *(const fr_st_tensor *const *)a;
    const fr_st_tensor *tb = *(const fr_st_tensor *const *)b;
    return strcmp(ta->name, tb->name);
}

/* Sorts pointers to the n tensors by name and returns a repeated name, or NULL.
 * Returns NULL with *nomem set when the scratch array cannot be allocated. */
static const char *find_duplicate_name(const fr_st_tensor *t, int n, int *nomem) {
    *nomem = 0;
    if (n < 2) return NULL;
    const fr_st_tensor **byname = fr_alloc((size_t)n, sizeof *byname);
    if (!byname) {
        *nomem = 1;
        return NULL;
    }
    for (int i = 0; i < n; i++) byname[i] = &t[i];
    qsort(byname, (size_t)n, sizeof *byname, cmp_tensor_names);
    const char *dup = NULL;
    for (int i = 1; i < n && !dup; i++)
        if (strcmp(byname[i - 1]->name, byname[i]->name) == 0) dup = byname[i]->name;
    fr_free(byname);
    return dup;
}

/* ---- writing ---------------------------------------------------------------------- */

/* Checks what the caller handed in; a bad argument is a bug, hence FR_ERR_RUNTIME. */
static fr_status check_write_args(const char *path, const fr_st_tensor *tensors, int n,
                                  const cJSON *metadata, fr_error *err) {
    if (n < 0 || (n > 0 && !tensors))
        return fr_fail(err, FR_ERR_RUNTIME, "%s: bad tensor list (n = %d)", path, n);
    for (int i = 0; i < n; i++) {
        const fr_st_tensor *t = &tensors[i];
        if (!memchr(t->name, '\0', sizeof t->name) || t->name[0] == '\0')
            return fr_fail(err, FR_ERR_RUNTIME, "%s: tensor %d has no valid name", path, i);
        if (strcmp(t->name, ST_METADATA_KEY) == 0)
            return fr_fail(err, FR_ERR_RUNTIME, "%s: '%s' is reserved", path, ST_METADATA_KEY);
        if (t->ndim < 0 || t->ndim > FR_ST_MAX_DIMS)
            return fr_fail(err, FR_ERR_RUNTIME, "%s: tensor '%s': ndim %d not in [0, %d]", path,
                           t->name, t->ndim, FR_ST_MAX_DIMS);
        int64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0 || (t->shape[d] > 0 && numel > INT64_MAX / 4 / t->shape[d]))
                return fr_fail(err, FR_ERR_RUNTIME, "%s: tensor '%s': bad shape", path, t->name);
            numel *= t->shape[d];
        }
        if (numel != t->numel)
            return fr_fail(err, FR_ERR_RUNTIME,
                           "%s: tensor '%s': numel %" PRId64 " does not match its shape (%" PRId64
                           ")", path, t->name, t->numel, numel);
        if (numel > 0 && !t->data)
            return fr_fail(err, FR_ERR_RUNTIME, "%s: tensor '%s' has no data", path, t->name);
    }
    int nomem;
    const char *dup = find_duplicate_name(tensors, n, &nomem);
    if (nomem) return fr_nomem(err, "tensor names", (size_t)n * sizeof(void *));
    if (dup) return fr_fail(err, FR_ERR_RUNTIME, "%s: tensor name '%s' is repeated", path, dup);
    if (metadata) {
        if (!cJSON_IsObject(metadata))
            return fr_fail(err, FR_ERR_RUNTIME, "%s: metadata is not a JSON object", path);
        const cJSON *kv;
        cJSON_ArrayForEach(kv, metadata) {
            if (!cJSON_IsString(kv))
                return fr_fail(err, FR_ERR_RUNTIME, "%s: metadata '%s' is not a string", path,
                               kv->string ? kv->string : "?");
        }
    }
    return FR_OK;
}

/* Formats "[a,b,...]" from n integers into buf (big enough for FR_ST_MAX_DIMS int64s). */
static void format_int_list(char *buf, size_t size, const int64_t *v, int n) {
    size_t at = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < n && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, "%s%" PRId64, i ? "," : "", v[i]);
    if (at < size) snprintf(buf + at, size - at, "]");
}

/* The header JSON (unpadded), or NULL when out of memory. Integers are written as raw
 * text so that large offsets never come out in exponent notation. */
static char *build_header(const fr_st_tensor *tensors, int n, const cJSON *metadata) {
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    if (ok && metadata) {
        cJSON *copy = cJSON_Duplicate(metadata, 1);
        ok = copy && cJSON_AddItemToObject(root, ST_METADATA_KEY, copy);
        if (copy && !ok) cJSON_Delete(copy);
    }
    int64_t offset = 0;
    for (int i = 0; ok && i < n; i++) {
        const fr_st_tensor *t = &tensors[i];
        char shape[FR_ST_MAX_DIMS * 24 + 4], offsets[64];
        int64_t span[2] = {offset, offset + t->numel * 4};
        format_int_list(shape, sizeof shape, t->shape, t->ndim);
        format_int_list(offsets, sizeof offsets, span, 2);
        offset = span[1];
        cJSON *entry = cJSON_CreateObject();
        ok = entry && cJSON_AddStringToObject(entry, "dtype", "F32") &&
             cJSON_AddRawToObject(entry, "shape", shape) &&
             cJSON_AddRawToObject(entry, "data_offsets", offsets);
        if (ok) ok = cJSON_AddItemToObject(root, t->name, entry);
        if (!ok && entry) cJSON_Delete(entry);
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

fr_status fr_safetensors_write(const char *path, const fr_st_tensor *tensors, int n,
                               const cJSON *metadata, fr_error *err) {
    if (!host_is_little_endian())
        return fr_fail(err, FR_ERR_RUNTIME, "%s: big-endian hosts are not supported", path);
    fr_status st = check_write_args(path, tensors, n, metadata, err);
    if (st != FR_OK) return st;
    char *json = build_header(tensors, n, metadata);
    if (!json) return fr_nomem(err, "safetensors header", 0);
    size_t json_len = strlen(json);
    size_t padded = (json_len + 7) / 8 * 8;
    unsigned char len_bytes[8];
    for (int i = 0; i < 8; i++) len_bytes[i] = (unsigned char)((uint64_t)padded >> (8 * i));

    fr_atomic_file af;
    st = fr_atomic_open(&af, path, err);
    if (st != FR_OK) {
        cJSON_free(json);
        return st;
    }
    errno = 0;
    int ok = fwrite(len_bytes, 1, 8, af.f) == 8 && fwrite(json, 1, json_len, af.f) == json_len;
    for (size_t i = json_len; ok && i < padded; i++) ok = fputc(' ', af.f) != EOF;
    for (int i = 0; ok && i < n; i++) {
        size_t numel = (size_t)tensors[i].numel;
        ok = numel == 0 || fwrite(tensors[i].data, sizeof(float), numel, af.f) == numel;
    }
    cJSON_free(json);
    if (!ok) {
        int e = errno ? errno : EIO;
        fr_atomic_abort(&af);
        return fr_fail(err, FR_ERR_IO, "%s: write failed (%s)", path, strerror(e));
    }
    return fr_atomic_commit(&af, err);
}

/* ---- reading ---------------------------------------------------------------------- */

/* Where one tensor's bytes lie in the data section. */
typedef struct st_span {
    uint64_t begin, end;
    int index; /* into fr_safetensors.tensors */
} st_span;

static int cmp_spans(const void *a, const void *b) {
    const st_span *sa = a, *sb = b;
    if (sa->begin != sb->begin) return sa->begin < sb->begin ? -1 : 1;
    if (sa->end != sb->end) return sa->end < sb->end ? -1 : 1;
    return 0;
}

/* A JSON number that is an exact non-negative integer (at most 2^53) into *out. */
static int json_uint(const cJSON *item, uint64_t *out) {
    if (!cJSON_IsNumber(item)) return 0;
    double v = item->valuedouble;
    if (!(v >= 0.0 && v <= ST_MAX_JSON_INT) || v != floor(v)) return 0;
    *out = (uint64_t)v;
    return 1;
}

/* Checks the metadata object: an object of strings, or JSON null (= none). */
static fr_status check_metadata(const char *path, const cJSON *meta, fr_error *err) {
    if (cJSON_IsNull(meta)) return FR_OK;
    if (!cJSON_IsObject(meta))
        return header_fail(err, path, "%s is not an object", ST_METADATA_KEY);
    const cJSON *kv;
    cJSON_ArrayForEach(kv, meta) {
        if (!cJSON_IsString(kv))
            return header_fail(err, path, "%s value '%.128s' is not a string (the format "
                               "allows only strings)", ST_METADATA_KEY, kv->string);
    }
    return FR_OK;
}

/* Parses one header entry into t (name, shape, numel) and span (its bytes). */
static fr_status parse_entry(const char *path, const cJSON *item, uint64_t data_size,
                             fr_st_tensor *t, st_span *span, fr_error *err) {
    const char *name = item->string;
    if (strlen(name) >= sizeof t->name)
        return header_fail(err, path, "tensor name '%.64s...' is longer than %zu bytes", name,
                           sizeof t->name - 1);
    memcpy(t->name, name, strlen(name) + 1);
    if (!cJSON_IsObject(item)) return header_fail(err, path, "tensor '%s' is not an object", name);

    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    if (!cJSON_IsString(dtype))
        return header_fail(err, path, "tensor '%s': dtype is missing or not a string", name);
    if (strcmp(dtype->valuestring, "F32") != 0)
        return header_fail(err, path, "tensor '%s': dtype '%.32s' is not supported (only F32)",
                           name, dtype->valuestring);

    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    if (!cJSON_IsArray(shape))
        return header_fail(err, path, "tensor '%s': shape is missing or not an array", name);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > FR_ST_MAX_DIMS)
        return header_fail(err, path, "tensor '%s': shape has %d dimensions (at most %d)", name,
                           ndim, FR_ST_MAX_DIMS);
    t->ndim = ndim;
    uint64_t numel = 1;
    int d = 0;
    const cJSON *dim;
    cJSON_ArrayForEach(dim, shape) {
        uint64_t v;
        if (!json_uint(dim, &v))
            return header_fail(err, path, "tensor '%s': shape[%d] is not a non-negative integer",
                               name, d);
        /* numel * 4 must stay representable; the bounds check below does the rest. */
        if (v > 0 && numel > (UINT64_MAX / 8) / v)
            return header_fail(err, path, "tensor '%s': shape is too large", name);
        numel *= v;
        t->shape[d++] = (int64_t)v;
    }
    t->numel = (int64_t)numel;

    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    uint64_t begin, end;
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 ||
        !json_uint(cJSON_GetArrayItem(offsets, 0), &begin) ||
        !json_uint(cJSON_GetArrayItem(offsets, 1), &end))
        return header_fail(err, path, "tensor '%s': data_offsets is not [begin, end]", name);
    if (begin > end || end > data_size)
        return header_fail(err, path,
                           "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] out of bounds "
                           "(data section has %" PRIu64 " bytes)", name, begin, end, data_size);
    if (end - begin != numel * 4)
        return header_fail(err, path,
                           "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64
                           " bytes but its shape needs %" PRIu64, name, begin, end, end - begin,
                           numel * 4);
    span->begin = begin;
    span->end = end;
    return FR_OK;
}

/* The spans must tile [0, data_size) exactly, as in the reference implementation. */
static fr_status check_layout(const char *path, const fr_safetensors *out, st_span *spans,
                              uint64_t data_size, fr_error *err) {
    int n = out->n;
    if (n > 0) qsort(spans, (size_t)n, sizeof *spans, cmp_spans);
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        const char *name = out->tensors[spans[i].index].name;
        if (spans[i].begin < at)
            return header_fail(err, path, "tensor '%s' overlaps tensor '%s'", name,
                               out->tensors[spans[i - 1].index].name);
        if (spans[i].begin > at)
            return header_fail(err, path, "%" PRIu64 " unused bytes before tensor '%s'",
                               spans[i].begin - at, name);
        at = spans[i].end;
    }
    if (at != data_size)
        return header_fail(err, path, "%" PRIu64 " bytes after the last tensor are not described",
                           data_size - at);
    return FR_OK;
}

/* Parses and validates the header text; fills out (tensors without data) and spans. */
static fr_status parse_header(const char *path, const char *text, uint64_t data_size,
                              fr_safetensors *out, st_span **spans_out, fr_error *err) {
    if (text[0] != '{') return header_fail(err, path, "does not start with '{'");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 0);
    if (!root) {
        size_t at = end ? (size_t)(end - text) : 0;
        return header_fail(err, path, "not valid JSON (near byte %zu)", at);
    }
    for (; *end; end++) {
        if (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\r') {
            cJSON_Delete(root);
            return header_fail(err, path, "unexpected text after the JSON object");
        }
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return header_fail(err, path, "not a JSON object");
    }

    fr_status st = FR_OK;
    cJSON *meta = NULL, *item;
    int n = 0;
    cJSON_ArrayForEach(item, root) {
        if (strcmp(item->string, ST_METADATA_KEY) != 0) {
            n++;
        } else if (meta) {
            st = header_fail(err, path, "%s appears twice", ST_METADATA_KEY);
            break;
        } else {
            meta = item;
            st = check_metadata(path, meta, err);
            if (st != FR_OK) break;
        }
    }
    st_span *spans = NULL;
    if (st == FR_OK && n > 0) {
        out->tensors = fr_calloc((size_t)n, sizeof *out->tensors);
        spans = fr_calloc((size_t)n, sizeof *spans);
        if (!out->tensors || !spans)
            st = fr_nomem(err, "safetensors table",
                          (size_t)n * (sizeof *out->tensors + sizeof *spans));
    }
    if (st == FR_OK) {
        cJSON_ArrayForEach(item, root) {
            if (item == meta) continue;
            int i = out->n;
            spans[i].index = i;
            st = parse_entry(path, item, data_size, &out->tensors[i], &spans[i], err);
            if (st != FR_OK) break;
            out->n++;
        }
    }
    if (st == FR_OK) {
        int nomem;
        const char *dup = find_duplicate_name(out->tensors, out->n, &nomem);
        if (nomem) st = fr_nomem(err, "tensor names", (size_t)out->n * sizeof(void *));
        else if (dup) st = header_fail(err, path, "tensor '%s' appears twice", dup);
    }
    if (st == FR_OK) st = check_layout(path, out, spans, data_size, err);
    if (st == FR_OK && meta && cJSON_IsObject(meta))
        out->metadata = cJSON_DetachItemViaPointer(root, meta);
    cJSON_Delete(root);
    if (st != FR_OK) {
        fr_free(spans);
        return st;
    }
    *spans_out = spans;
    return FR_OK;
}

fr_status fr_safetensors_read(const char *path, fr_safetensors *st, fr_error *err) {
    memset(st, 0, sizeof *st);
    if (!host_is_little_endian())
        return fr_fail(err, FR_ERR_RUNTIME, "%s: big-endian hosts are not supported", path);
    FILE *f = fopen(path, "rb");
    if (!f) return fr_fail(err, FR_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));

    fr_safetensors out = {0};
    char *header = NULL;
    st_span *spans = NULL;
    fr_status rc = FR_OK;
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        rc = fr_fail(err, FR_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
        goto done;
    }
    if (S_ISDIR(sb.st_mode)) {
        rc = fr_fail(err, FR_ERR_INPUT, "%s: is a directory", path);
        goto done;
    }
    uint64_t file_size = (uint64_t)sb.st_size;
    unsigned char len_bytes[8];
    if (file_size < 8 || fread(len_bytes, 1, 8, f) != 8) {
        rc = header_fail(err, path, "file too short for the 8-byte header length (%" PRIu64
                         " bytes)", file_size);
        goto done;
    }
    uint64_t header_len = 0;
    for (int i = 0; i < 8; i++) header_len |= (uint64_t)len_bytes[i] << (8 * i);
    if (header_len > file_size - 8) {
        rc = header_fail(err, path, "header length %" PRIu64 " exceeds the file size (%" PRIu64
                         " bytes)", header_len, file_size);
        goto done;
    }
    if (header_len > ST_MAX_HEADER) {
        rc = header_fail(err, path, "header length %" PRIu64 " is over the limit of %llu bytes",
                         header_len, ST_MAX_HEADER);
        goto done;
    }
    header = fr_alloc((size_t)header_len + 1, 1);
    if (!header) {
        rc = fr_nomem(err, "safetensors header", (size_t)header_len + 1);
        goto done;
    }
    if (fread(header, 1, (size_t)header_len, f) != (size_t)header_len) {
        rc = header_fail(err, path, "file ends inside the header");
        goto done;
    }
    header[header_len] = '\0';
    if (memchr(header, '\0', (size_t)header_len)) {
        rc = header_fail(err, path, "not valid JSON (contains a NUL byte)");
        goto done;
    }
    uint64_t data_size = file_size - 8 - header_len;
    rc = parse_header(path, header, data_size, &out, &spans, err);
    if (rc != FR_OK) goto done;

    for (int i = 0; i < out.n; i++) {
        fr_st_tensor *t = &out.tensors[i];
        /* The bytes were bounded by the file size above, so this allocation is too. */
        t->data = fr_alloc((size_t)t->numel, sizeof(float));
        if (!t->data) {
            rc = fr_nomem(err, t->name, (size_t)t->numel * sizeof(float));
            goto done;
        }
    }
    for (int i = 0; i < out.n; i++) {
        fr_st_tensor *t = &out.tensors[spans[i].index];
        off_t at = (off_t)(8 + header_len + spans[i].begin);
        size_t numel = (size_t)t->numel;
        if (numel == 0) continue;
        if (fseeko(f, at, SEEK_SET) != 0 || fread(t->data, sizeof(float), numel, f) != numel) {
            rc = fr_fail(err, FR_ERR_INPUT, "%s: cannot read tensor '%s' (file truncated?)", path,
                         t->name);
            goto done;
        }
    }

done:
    fclose(f);
    fr_free(header);
    fr_free(spans);
    if (rc != FR_OK) {
        fr_safetensors_free(&out);
        return rc;
    }
    *st = out;
    return FR_OK;
}

const fr_st_tensor *fr_safetensors_get(const fr_safetensors *st, const char *name) {
    for (int i = 0; i < st->n; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

const char *fr_safetensors_meta(const fr_safetensors *st, const char *key) {
    if (!st->metadata) return NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(st->metadata, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

void fr_safetensors_free(fr_safetensors *st) {
    for (int i = 0; i < st->n; i++) fr_free(st->tensors[i].data);
    fr_free(st->tensors);
    cJSON_Delete(st->metadata);
    memset(st, 0, sizeof *st);
}
