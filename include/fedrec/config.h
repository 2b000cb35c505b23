/* config.h - one experiment's configuration: INI files, --set overrides, JSON dumps.
 *
 * A configuration file is INI (parsed by libinih):
 *     [train]
 *     algorithm = fedrecon
 *     rounds = 20
 * Every field is described once in a table (config.c): section, key, type, where it
 * lives in fr_config, its default, its allowed range or values and a help line. Parsing
 * a file, applying `--set section.key=value`, printing `--help` text, validating and
 * dumping to JSON (final.json's "config", the checkpoint's metadata) all walk that
 * table, so a new setting is one table row. Unknown sections or keys and bad values are
 * errors naming FILE:LINE and the key (or "--set" for overrides).
 */
#ifndef FEDREC_CONFIG_H
#define FEDREC_CONFIG_H

#include <stdint.h>
#include <stdio.h>
#include <cJSON.h>
#include "fedrec/status.h"

#define FR_CONFIG_STR 1024

typedef struct fr_config {
    /* [data] */
    char data_path[FR_CONFIG_STR];   /* "" or "synthetic" = built-in generator */
    char data_holdout[8];            /* auto|time|random */
    char data_format[32];            /* auto|movielens|ml100k|csv|tsv|seq|pairs|synthetic */
    int32_t max_clients;             /* keep the first N users (0 = all) */
    int32_t max_examples;            /* cap per user, first N in time order (0 = all) */
    int32_t top_users;               /* keep the N users with most interactions (0 = all) */
    double train_fraction;           /* 0.8 */
    double val_fraction;             /* 0.1; test gets the rest */
    /* [synthetic] the built-in generator (synth.h) */
    int32_t synth_users, synth_items, synth_rank;
    double synth_mean_per_user, synth_zipf, synth_noise;
    int32_t synth_min_per_user;
    /* [model] */
    char model[16];                  /* mf|sasrec|ncf|mmrec */
    char scorer[8];                  /* ncf: dot|affine|mlp */
    int32_t mlp_layers;              /* ncf: hidden layers (dim, dim/2, dim/4) */
    int32_t mlp_relu;                /* ncf: 0/1 ReLU between them */
    int32_t dim;                     /* K, latent factors: 50 */
    int32_t bias;                    /* 0/1: global mean + user and item biases */
    double l2;                       /* L2 on the touched parameters, 0 */
    double init_scale;               /* uniform(-s, s) init as Keras' default: 0.05 */
    int32_t blocks, heads, maxlen;   /* SASRec: 2, 1, 200 */
    double dropout;                  /* SASRec: 0.2 */
    char activation[8];              /* relu|gelu */
    char norm[8];                    /* post|pre: layer-norm placement */
    double l2_emb;                   /* L2 on the item embedding table, 0 */
    /* [train] */
    char algorithm[32];              /* fedrecon|fedavg|pfedrec|gpfedrec|ufgraphfr|central */
    int32_t rounds;                  /* 20 */
    int32_t clients_per_round;       /* 50 */
    int32_t batch_size;              /* 5: examples (MF) or windows (SASRec) per step */
    int32_t negatives;               /* ncf: sampled negatives per positive: 4 */
    char bce[8];                     /* ncf: logits|torch */
    double lr_eta;                   /* ncf: item/user learning-rate multiple: 80 */
    int32_t window_stride;           /* SASRec clients: 0 = newest maxlen positions only */
    char weighting[16];              /* examples|uniform */
    char server_optimizer[16];       /* sgd|adam */
    double server_lr;                /* 1.0 */
    double server_beta1, server_beta2, server_eps; /* Adam: 0.9, 0.999, 1e-8 */
    double client_lr;                /* 0.5 */
    int32_t client_epochs;           /* local epochs (FedAvg-MF, federated SASRec): 1 */
    double clients_fraction;         /* > 0: clients per round as a share of all clients */
    char client_optimizer[8];        /* sgd|adam (fresh state every round) */
    double prox_mu;                  /* FedProx's proximal weight, 0 = FedAvg */
    double server_momentum;          /* server SGD momentum (FedAvgM), 0 */
    char row_averaging[8];           /* all|touched: how a row-sparse row is averaged */
    char selection[8];               /* none|best: model selection by local validation */
    int32_t select_m;                /* keep the mean of the best m updates */
    char mode[8];                    /* sync|async */
    char freeze[256];                /* comma list of parameter groups not trained */
    char init_from[FR_CONFIG_STR];   /* model.safetensors to start from ("" = fresh) */
    /* [async] FedBuff */
    int32_t async_concurrency;       /* clients in flight */
    int32_t async_buffer;            /* K: arrivals per server step */
    char async_duration[16];         /* lognormal|pareto|constant */
    /* [graph] graph-guided aggregation (gpfedrec, ufgraphfr) */
    char graph_similarity[16];       /* cosine|distance */
    int32_t graph_top_n;             /* 10; 0 = threshold mode */
    double graph_threshold;          /* 1 */
    char graph_weights[16];          /* uniform|similarity */
    int32_t graph_self_loop;
    char graph_global[8];            /* mean|degree */
    char graph_start[16];            /* global|personal */
    char graph_tables[8];            /* sparse|dense */
    char graph_mix[8];               /* auto|items|users */
    double graph_reg;                /* 1 */
    double graph_noise;              /* 0 */
    char graph_user_features[FR_CONFIG_STR]; /* .npy path or "" */
    int32_t graph_text_dim;          /* 64 */
    double async_duration_scale;     /* median (lognormal) / minimum (pareto) seconds */
    double async_duration_param;     /* sigma (lognormal) / alpha (pareto) */
    char async_staleness[16];        /* sqrt|poly|constant */
    double async_staleness_a;        /* exponent of poly */
    /* [mm] SASRec + memory + multimodal experts (mmrec.h; FedMem R2, FedDMMR R3) */
    char mm_text_features[FR_CONFIG_STR];  /* .npy [rows x Dt] or "" = built-in encoder */
    char mm_image_features[FR_CONFIG_STR]; /* .npy [rows x Dv] or "" = visual expert off */
    char mm_feature_map[FR_CONFIG_STR];    /* "raw_item_id row" lines, or "" */
    int32_t mm_text_dim;             /* width of the built-in text encoding: 128 */
    int32_t mm_heads;                /* heads of the semantic expert's attention: 2 */
    char mm_fusion[16];              /* none|residual|weighted|learned|adaptive */
    double mm_gating_init;           /* 0.01 */
    double mm_fusion_weight;         /* weighted fusion: weight of the expert branch */
    char mm_loss[16];                /* bce|bpr|softmax */
    int32_t mm_in_batch;             /* softmax: the batch's other targets are negatives */
    double mm_contrastive_lambda;    /* InfoNCE weight: 0.1 */
    double mm_temperature;           /* InfoNCE temperature: 0.1 */
    /* [memory] the client's surprise memory and its prototypes (memory.h) */
    int32_t mem_enabled;             /* 0/1 */
    int32_t mem_capacity;            /* 50 */
    double mem_threshold;            /* surprise threshold: 0.5 */
    double mem_alpha, mem_beta;      /* utility weights: 0.5, 0.5 */
    double mem_tau;                  /* recency time constant, rounds: 10 */
    char mem_freq[8];                /* log|ratio */
    int32_t mem_prototypes;          /* K per client; 0 = no prototypes */
    char mem_proto_aggregation[16];  /* mean|weighted|recluster */
    int32_t mem_kmeans_iters;        /* 50 */
    int32_t mem_cold_start;          /* users with fewer training items start from the
                                        global memory: 5 */
    int32_t mem_global_keys;         /* 0/1: the global prototypes are every user's keys */
    /* [fedrecon] */
    int32_t recon_epochs;            /* 1 */
    int32_t recon_steps_max;         /* 0 = no cap */
    int32_t post_recon_epochs;       /* 1 */
    int32_t post_recon_steps_max;    /* 0 = no cap */
    double recon_lr;                 /* 0.1 */
    int32_t split_dataset;           /* 1: even batches reconstruct, odd ones train */
    /* [central] the centralized ceiling */
    int32_t central_epochs;          /* 10 */
    double central_lr;               /* 0.05 */
    int32_t central_batch_size;      /* 32 */
    char central_optimizer[8];       /* sgd|adam|adamw (ranking models; MF uses SGD) */
    double central_beta1, central_beta2, central_eps, central_weight_decay;
    /* [eval] */
    int32_t eval_every;              /* rounds between validation runs (0 = only at end) */
    int32_t eval_recon_epochs;       /* reconstruction epochs for unseen users: 1 */
    int32_t eval_recon_steps_max;    /* 0 = no cap */
    double eval_recon_lr;            /* 0.1 */
    int32_t eval_negatives;          /* sampled negatives per user: 100 */
    int32_t eval_full;               /* 0/1: also rank against the whole catalogue */
    int32_t eval_users;              /* validation on a seeded sample of users (0 = all) */
    int32_t eval_patience;           /* stop after this many evaluations without a better
                                        validation figure (0 = never) */
    int32_t eval_paired_negatives;   /* 1: 2 x negatives once, valid half / test half */
    int32_t eval_keep_best;          /* 1: keep the best validated parameters; 0: the last */
    /* [run] */
    uint64_t seed;                   /* 42 */
} fr_config;

typedef enum fr_config_type {
    FR_CFG_INT, FR_CFG_U64, FR_CFG_DOUBLE, FR_CFG_BOOL, FR_CFG_STRING, FR_CFG_CHOICE
} fr_config_type;

typedef struct fr_config_field {
    const char *section;
    const char *key;
    fr_config_type type;
    size_t offset;        /* offsetof(fr_config, field) */
    size_t size;          /* for strings and choices: buffer size */
    const char *dflt;     /* default, as text */
    double min, max;      /* for numbers */
    const char *choices;  /* for FR_CFG_CHOICE: "a|b|c" */
    const char *help;
    int open;             /* for numbers: FR_CFG_OPEN_MIN|FR_CFG_OPEN_MAX exclude that bound */
} fr_config_field;

#define FR_CFG_OPEN_MIN 1
#define FR_CFG_OPEN_MAX 2

/* The table, terminated by a row with section == NULL. */
extern const fr_config_field fr_config_fields[];

/* Fills every field with its default. */
void fr_config_defaults(fr_config *c);

/* Reads an INI file over the current values. Errors: FR_ERR_INPUT with
 * "FILE:LINE: [section] key: what is wrong", or "FILE: cannot open: reason". */
fr_status fr_config_load_ini(fr_config *c, const char *path, fr_error *err);

/* Applies one "section.key=value" override. FR_ERR_USAGE on a bad one. */
fr_status fr_config_set(fr_config *c, const char *assignment, fr_error *err);

/* Checks every value against its row and the cross-field constraints: fractions sum
 * below 1, data.top_users and data.max_clients not both set, train.freeze a list of
 * known groups, and the settings only model mmrec reads (train.freeze, train.init_from,
 * any [mm] or [memory] value other than its default) not set for another model.
 * FR_ERR_USAGE "[section] key: what is wrong". */
fr_status fr_config_validate(const fr_config *c, fr_error *err);

/* train.freeze: a comma list of model mmrec's parameter groups (mmrec.h) kept fixed,
 * blanks around names ignored, "" (or blanks) for none; names are case-sensitive, and
 * a name given twice is harmless. fr_config_validate refuses empty and unknown names. */
#define FR_FREEZE_GROUPS "item, sasrec, experts, fusion"

/* 1 when list (train.freeze) names group, else 0 (also for a NULL or empty group). */
int fr_freeze_has(const char *list, const char *group);

/* {"data": {"path": ..., ...}, "model": {...}, ...}; caller owns the result. */
cJSON *fr_config_to_json(const fr_config *c);

/* Reads values back from fr_config_to_json's output (the checkpoint metadata).
 * Keys it does not know are an error; missing keys keep their current value. */
fr_status fr_config_from_json(fr_config *c, const cJSON *json, fr_error *err);

/* Writes one line per field, "  section.key  (default)  help", for --help texts. */
void fr_config_print_help(FILE *out);

#endif
