/* train.c - fr_train_run and fr_eval_checkpoint pick the experiment driver of the
 * configured (or checkpointed) model: train_mf.c for R1's explicit-rating MF,
 * train_sasrec.c for SASRec, train_ncf.c for the implicit-feedback scorers, train_mmrec.c
 * for SASRec with memory and experts. */
#include "fedrec/train.h"

#include <string.h>
#include "fedrec/checkpoint.h"
#include "fedrec/timer.h"
#include "train_internal.h"

fr_status fr_train_run(const fr_config *c, const fr_train_opts *o, cJSON **final_out,
                       fr_error *err) {
    if (strcmp(c->model, "sasrec") == 0) return fr_train_sasrec_run(c, o, final_out, err);
    if (strcmp(c->model, "ncf") == 0) return fr_train_ncf_run(c, o, final_out, err);
    if (strcmp(c->model, "mmrec") == 0) return fr_train_mmrec_run(c, o, final_out, err);
    return fr_train_mf_run(c, o, final_out, err);
}

fr_status fr_eval_checkpoint(const char *model_path, const char *data_path, const char *format,
                             int threads, cJSON **result, fr_error *err) {
    fr_safetensors ck;
    fr_status st = fr_safetensors_read(model_path, &ck, err);
    if (st != FR_OK) return st;
    int sasrec = strcmp(fr_checkpoint_model(&ck), "sasrec") == 0;
    int ncf = strcmp(fr_checkpoint_model(&ck), "ncf") == 0;
    int mmrec = strcmp(fr_checkpoint_model(&ck), "mmrec") == 0;
    fr_safetensors_free(&ck);
    if (ncf) /* the user vectors, scorers and tuned rows never leave the clients */
        return fr_fail(err, FR_ERR_USAGE, "%s: an ncf model is personal: its evaluation needs "
                       "each client's local state, which the checkpoint does not hold; "
                       "final.json has the test figures", model_path);
    if (mmrec) /* the memories the semantic expert reads are client state */
        return fr_fail(err, FR_ERR_USAGE, "%s: an mmrec model reads each client's memory, which "
                       "the checkpoint does not hold; final.json has the test figures", model_path);
    if (sasrec) return fr_eval_sasrec_checkpoint(model_path, data_path, format, threads, result, err);
    return fr_eval_mf_checkpoint(model_path, data_path, format, threads, result, err);
}

fr_status fr_run_finish(fr_status st, const char *out_dir, fr_history *h, cJSON *final,
                        const fr_config *c, double t_start, cJSON **final_out, fr_error *err) {
    char path[1200];
    if (st == FR_OK) st = fr_history_commit(h, err);
    else fr_history_abort(h);
    if (st == FR_OK) {
        cJSON_AddNumberToObject(final, "wall_seconds", fr_now_seconds() - t_start);
        cJSON_AddItemToObject(final, "config", fr_config_to_json(c));
        fr_run_path(path, sizeof path, out_dir, "final.json");
        st = fr_json_write_file(path, final, err);
    }
    if (st == FR_OK && final_out) *final_out = final;
    else cJSON_Delete(final);
    return st;
}
