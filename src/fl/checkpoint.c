/* checkpoint.c - writing and reading model.safetensors (see checkpoint.h), and
 * starting a model from another one's tensors by name (train.init_from).
 * Leaves out: resuming training (the metadata records what it would need).
 */
#include "fedrec/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void meta_num(cJSON *meta, const char *key, long long v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", v);
    cJSON_AddStringToObject(meta, key, buf);
}

fr_status fr_checkpoint_write(const char *path, const fr_param_layout *L, const float *params,
                              const fr_checkpoint_info *info, fr_error *err) {
    fr_st_tensor ts[FR_MAX_TENSORS + 2];
    int n = 0;
    for (int i = 0; i < L->n; i++, n++) {
        memset(&ts[n], 0, sizeof ts[n]);
        snprintf(ts[n].name, sizeof ts[n].name, "%s", L->t[i].name);
        ts[n].ndim = 2;
        ts[n].shape[0] = L->t[i].rows;
        ts[n].shape[1] = L->t[i].cols;
        ts[n].data = (float *)params + L->t[i].offset;
        ts[n].numel = L->t[i].rows * L->t[i].cols;
    }
    const float *moments[2] = { info->opt_m, info->opt_v };
    const char *suffix[2] = { "m", "v" };
    for (int j = 0; j < 2; j++) {
        if (!moments[j]) continue;
        memset(&ts[n], 0, sizeof ts[n]);
        snprintf(ts[n].name, sizeof ts[n].name, "%s.%s", info->opt_name, suffix[j]);
        ts[n].ndim = 1;
        ts[n].shape[0] = L->size;
        ts[n].data = (float *)moments[j];
        ts[n].numel = L->size;
        n++;
    }
    cJSON *meta = cJSON_CreateObject();
    cJSON *cfg = fr_config_to_json(info->config);
    char *cfg_text = cJSON_PrintUnformatted(cfg);
    cJSON_AddStringToObject(meta, "format", "fedrec-checkpoint-1");
    cJSON_AddStringToObject(meta, "model", info->model);
    cJSON_AddStringToObject(meta, "config", cfg_text ? cfg_text : "{}");
    meta_num(meta, "round", info->round);
    meta_num(meta, "seed", (long long)info->config->seed);
    cJSON_AddStringToObject(meta, "rng", "philox4x32-10; streams keyed by (seed, round, client, purpose); next round = round + 1");
    char key[96];
    snprintf(key, sizeof key, "%s_steps", info->opt_name);
    meta_num(meta, key, info->opt_steps);
    meta_num(meta, "data_users", info->data->n_users);
    meta_num(meta, "data_items", info->data->n_items);
    meta_num(meta, "data_interactions", info->data->n_inter);
    fr_status st = fr_safetensors_write(path, ts, n, meta, err);
    free(cfg_text);
    cJSON_Delete(cfg);
    cJSON_Delete(meta);
    return st;
}

const char *fr_checkpoint_model(const fr_safetensors *ck) {
    const char *m = fr_safetensors_meta(ck, "model");
    return m ? m : "";
}

fr_status fr_checkpoint_open(const char *path, const char *model, fr_safetensors *ck,
                             fr_config *c, fr_error *err) {
    fr_status st = fr_safetensors_read(path, ck, err);
    if (st != FR_OK) return st;
    const char *cfg_text = fr_safetensors_meta(ck, "config");
    const char *m = fr_safetensors_meta(ck, "model");
    if (!cfg_text || !m || strcmp(m, model) != 0) {
        fr_safetensors_free(ck);
        return fr_fail(err, FR_ERR_INPUT, "%s: not a fedrec %s checkpoint (metadata model '%s')",
                       path, model, m ? m : "missing");
    }
    cJSON *cj = cJSON_Parse(cfg_text);
    st = cj ? fr_config_from_json(c, cj, err)
            : fr_fail(err, FR_ERR_INPUT, "%s: metadata 'config' is not JSON", path);
    cJSON_Delete(cj);
    if (st != FR_OK) fr_safetensors_free(ck);
    return st;
}

fr_status fr_checkpoint_load_params(const fr_safetensors *ck, const char *path,
                                    const fr_param_layout *L, float *params, fr_error *err) {
    for (int i = 0; i < L->n; i++) {
        const fr_st_tensor *t = fr_safetensors_get(ck, L->t[i].name);
        if (!t || t->numel != L->t[i].rows * L->t[i].cols)
            return fr_fail(err, FR_ERR_INPUT,
                           "%s: tensor '%s' is missing or is not %lld x %lld as this data needs",
                           path, L->t[i].name, (long long)L->t[i].rows, (long long)L->t[i].cols);
        memcpy(params + L->t[i].offset, t->data, (size_t)t->numel * sizeof(float));
    }
    return FR_OK;
}

/* 1 when the file tensor t has L's shape [rows x cols]. */
static int shape_fits(const fr_st_tensor *t, const fr_tensor_info *ti) {
    if (t->ndim == 2) return t->shape[0] == ti->rows && t->shape[1] == ti->cols;
    if (t->ndim == 1)
        return (ti->rows == 1 || ti->cols == 1) && t->shape[0] == ti->rows * ti->cols;
    return 0;
}

/* "100 x 32", "32", "2 x 3 x 4" or "a scalar". */
static void format_shape(char *buf, size_t size, const fr_st_tensor *t) {
    if (t->ndim == 0) {
        snprintf(buf, size, "a scalar");
        return;
    }
    size_t n = 0;
    for (int d = 0; d < t->ndim && n < size; d++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", d ? " x " : "",
                              (long long)t->shape[d]);
}

fr_status fr_checkpoint_init_from(const char *path, const fr_param_layout *L, float *params,
                                  uint8_t *loaded, int *n_loaded, fr_error *err) {
    if (n_loaded) *n_loaded = 0;
    if (loaded) memset(loaded, 0, (size_t)L->n);
    fr_safetensors ck;
    fr_status st = fr_safetensors_read(path, &ck, err);
    if (st != FR_OK) return st;
    /* Every shape first, so that a mismatch leaves params untouched. */
    const fr_st_tensor *from[FR_MAX_TENSORS] = { 0 }; /* [L->n] the file's tensor or NULL */
    int n = 0;
    for (int i = 0; i < L->n && st == FR_OK; i++) {
        const fr_st_tensor *t = fr_safetensors_get(&ck, L->t[i].name);
        if (!t) continue;
        if (!shape_fits(t, &L->t[i])) {
            char have[96];
            format_shape(have, sizeof have, t);
            st = fr_fail(err, FR_ERR_INPUT, "%s: tensor '%s' is %s in the file but %lld x %lld "
                         "in the model", path, L->t[i].name, have, (long long)L->t[i].rows,
                         (long long)L->t[i].cols);
            break;
        }
        from[i] = t;
        n++;
    }
    if (st == FR_OK && ck.n == 0) {
        st = fr_fail(err, FR_ERR_INPUT, "%s: holds no tensors to start the model from", path);
    } else if (st == FR_OK && n == 0) {
        char names[200] = "";
        size_t used = 0;
        for (int k = 0; k < ck.n && k < 3 && used < sizeof names; k++)
            used += (size_t)snprintf(names + used, sizeof names - used, "%s'%.40s'",
                                     k ? ", " : "", ck.tensors[k].name);
        st = fr_fail(err, FR_ERR_INPUT, "%s: none of its %d tensors (%s%s) is a tensor of this "
                     "model", path, ck.n, names, ck.n > 3 ? ", ..." : "");
    }
    if (st == FR_OK) {
        for (int i = 0; i < L->n; i++) {
            if (!from[i]) continue;
            memcpy(params + L->t[i].offset, from[i]->data, (size_t)from[i]->numel * sizeof(float));
            if (loaded) loaded[i] = 1;
        }
        if (n_loaded) *n_loaded = n;
    }
    fr_safetensors_free(&ck);
    return st;
}
