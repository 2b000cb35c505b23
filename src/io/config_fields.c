/* config_fields.c - the table of configuration fields: section, key, type, where the
 * value lives in fr_config, default text, range or choices, and the --help line.
 * config.c parses, validates, dumps and prints every field through this table. */
#include <math.h>
#include <stddef.h>

#include "config_internal.h"

/* ---- the table ---------------------------------------------------------------------- */

#define FIELD_SIZE(field) sizeof(((fr_config *)0)->field)
#define INT_ROW(sec, key, field, dflt, lo, hi, help) \
    {sec, key, FR_CFG_INT, offsetof(fr_config, field), FIELD_SIZE(field), dflt, lo, hi, NULL, \
     help, 0}
#define DBL_ROW(sec, key, field, dflt, lo, hi, open, help) \
    {sec, key, FR_CFG_DOUBLE, offsetof(fr_config, field), FIELD_SIZE(field), dflt, lo, hi, NULL, \
     help, open}
#define BOOL_ROW(sec, key, field, dflt, help) \
    {sec, key, FR_CFG_BOOL, offsetof(fr_config, field), FIELD_SIZE(field), dflt, 0, 1, NULL, \
     help, 0}
#define STR_ROW(sec, key, field, dflt, help) \
    {sec, key, FR_CFG_STRING, offsetof(fr_config, field), FIELD_SIZE(field), dflt, 0, 0, NULL, \
     help, 0}
#define CHOICE_ROW(sec, key, field, dflt, choices, help) \
    {sec, key, FR_CFG_CHOICE, offsetof(fr_config, field), FIELD_SIZE(field), dflt, 0, 0, choices, \
     help, 0}
#define U64_ROW(sec, key, field, dflt, help) \
    {sec, key, FR_CFG_U64, offsetof(fr_config, field), FIELD_SIZE(field), dflt, 0, 0, NULL, help, 0}

#define I32_MAX 2147483647.0
#define OPEN_BOTH (FR_CFG_OPEN_MIN | FR_CFG_OPEN_MAX)

const fr_config_field fr_config_fields[] = {
    STR_ROW("data", "path", data_path, "",
            "ratings file; empty or 'synthetic' = built-in generator"),
    CHOICE_ROW("data", "format", data_format, "auto",
               "auto|movielens|ml100k|csv|tsv|seq|pairs|synthetic", "file format"),
    CHOICE_ROW("data", "holdout", data_holdout, "auto", "auto|time|random",
               "what leave-one-out holds out: the latest interactions (time), seeded random "
               "ones (random), or random only for a CSV/TSV without timestamps (auto)"),
    INT_ROW("data", "max_clients", max_clients, "0", 0, I32_MAX,
            "keep the first N users (0 = all)"),
    INT_ROW("data", "max_examples", max_examples, "0", 0, I32_MAX,
            "cap per user, first N in time order (0 = all)"),
    INT_ROW("data", "top_users", top_users, "0", 0, I32_MAX,
            "keep the N users with the most interactions, ties to the smaller raw id (0 = all; "
            "not with max_clients)"),
    DBL_ROW("data", "train_fraction", train_fraction, "0.8", 0, 1, OPEN_BOTH,
            "share of each user's examples used for training"),
    DBL_ROW("data", "val_fraction", val_fraction, "0.1", 0, 1, OPEN_BOTH,
            "share used for validation; test gets the rest"),

    INT_ROW("synthetic", "users", synth_users, "2000", 1, 10000000, "number of users"),
    INT_ROW("synthetic", "items", synth_items, "1000", 2, 10000000, "number of items"),
    INT_ROW("synthetic", "rank", synth_rank, "8", 1, 4096, "rank of the planted factors"),
    DBL_ROW("synthetic", "mean_per_user", synth_mean_per_user, "60", 0, INFINITY, OPEN_BOTH,
            "mean ratings per user (log-normal)"),
    INT_ROW("synthetic", "min_per_user", synth_min_per_user, "10", 1, 10000000,
            "fewest ratings per user (at most items/2)"),
    DBL_ROW("synthetic", "zipf", synth_zipf, "0.8", 0, 10, 0, "item popularity exponent"),
    DBL_ROW("synthetic", "noise", synth_noise, "0.3", 0, INFINITY, FR_CFG_OPEN_MAX,
            "std of the rating noise before rounding"),

    CHOICE_ROW("model", "model", model, "mf", "mf|sasrec|ncf|mmrec",
               "model family: explicit-rating MF, SASRec, an implicit-feedback scorer, or "
               "SASRec with memory and multimodal experts (FedMem, FedDMMR)"),
    CHOICE_ROW("model", "scorer", scorer, "mlp", "dot|affine|mlp",
               "ncf: dot (FedMF), affine on the item (PFedRec), MLP on [user; item] (FedNCF)"),
    INT_ROW("model", "mlp_layers", mlp_layers, "3", 0, 3,
            "ncf: hidden layers of the MLP, widths dim, dim/2, dim/4"),
    BOOL_ROW("model", "mlp_relu", mlp_relu, "true", "ncf: ReLU between MLP layers (false: linear)"),
    INT_ROW("model", "dim", dim, "50", 1, 4096, "latent factors K"),
    BOOL_ROW("model", "bias", bias, "false", "global mean plus user and item biases"),
    DBL_ROW("model", "l2", l2, "0", 0, INFINITY, FR_CFG_OPEN_MAX, "L2 on the touched parameters"),
    DBL_ROW("model", "init_scale", init_scale, "0.05", 0, INFINITY, OPEN_BOTH,
            "initial values uniform in (-s, s)"),
    INT_ROW("model", "blocks", blocks, "2", 1, 4, "SASRec: self-attention blocks"),
    INT_ROW("model", "heads", heads, "1", 1, 64, "SASRec: attention heads (divide dim)"),
    INT_ROW("model", "maxlen", maxlen, "200", 1, 100000, "SASRec: most recent items a sequence keeps"),
    DBL_ROW("model", "dropout", dropout, "0.2", 0, 1, FR_CFG_OPEN_MAX, "SASRec: dropout rate"),
    CHOICE_ROW("model", "activation", activation, "relu", "relu|gelu", "SASRec: feed-forward activation"),
    CHOICE_ROW("model", "norm", norm, "pre", "post|pre",
               "SASRec: layer norm after each residual (post) or before each sublayer (pre)"),
    DBL_ROW("model", "l2_emb", l2_emb, "0", 0, INFINITY, FR_CFG_OPEN_MAX,
            "SASRec: L2 on the item embedding table"),

    CHOICE_ROW("train", "algorithm", algorithm, "fedrecon",
               "fedrecon|fedavg|pfedrec|gpfedrec|ufgraphfr|central",
               "training algorithm"),
    INT_ROW("train", "negatives", negatives, "4", 1, 1000, "ncf: sampled negatives per positive"),
    CHOICE_ROW("train", "bce", bce, "logits", "logits|torch",
               "ncf: BCE on logits (exact gradient) or as PyTorch's float32 Sigmoid+BCELoss "
               "(saturated sigmoids get no gradient; the published code's training)"),
    DBL_ROW("train", "lr_eta", lr_eta, "80", 1, INFINITY, 0,
            "ncf clients: item lr = client_lr*(items*lr_eta - 1), user lr = client_lr*(lr_eta - 1)"),
    INT_ROW("train", "rounds", rounds, "20", 0, 10000000, "federated rounds"),
    INT_ROW("train", "clients_per_round", clients_per_round, "50", 1, 10000000,
            "clients sampled per round"),
    INT_ROW("train", "batch_size", batch_size, "5", 1, 1000000,
            "client batch size (MF: examples; SASRec: windows, see window_stride)"),
    INT_ROW("train", "window_stride", window_stride, "0", 0, 1000000,
            "SASRec clients: 0 = train on the newest maxlen positions only; s > 0 = windows "
            "of maxlen positions every s positions back over the whole history"),
    CHOICE_ROW("train", "weighting", weighting, "examples", "examples|uniform",
               "how client updates are weighted in the average"),
    CHOICE_ROW("train", "server_optimizer", server_optimizer, "sgd", "sgd|adam|yogi",
               "optimizer applied to the averaged update (sgd+momentum = FedAvgM)"),
    DBL_ROW("train", "server_momentum", server_momentum, "0", 0, 1, FR_CFG_OPEN_MAX,
            "server SGD momentum (FedAvgM)"),
    DBL_ROW("train", "server_lr", server_lr, "1.0", 0, INFINITY, OPEN_BOTH, "server learning rate"),
    DBL_ROW("train", "server_beta1", server_beta1, "0.9", 0, 1, FR_CFG_OPEN_MAX, "Adam beta1"),
    DBL_ROW("train", "server_beta2", server_beta2, "0.999", 0, 1, FR_CFG_OPEN_MAX, "Adam beta2"),
    DBL_ROW("train", "server_eps", server_eps, "1e-8", 0, INFINITY, OPEN_BOTH, "Adam epsilon"),
    DBL_ROW("train", "client_lr", client_lr, "0.5", 0, INFINITY, OPEN_BOTH, "client learning rate"),
    INT_ROW("train", "client_epochs", client_epochs, "1", 1, 1000000,
            "local epochs (FedAvg-MF, federated SASRec)"),
    DBL_ROW("train", "clients_fraction", clients_fraction, "0", 0, 1, 0,
            "clients per round as a share of all clients (0 = use clients_per_round)"),
    CHOICE_ROW("train", "client_optimizer", client_optimizer, "sgd", "sgd|adam",
               "client optimizer of federated ranking models (Adam restarts each round)"),
    DBL_ROW("train", "prox_mu", prox_mu, "0", 0, INFINITY, FR_CFG_OPEN_MAX,
            "FedProx proximal weight mu (0 = FedAvg)"),
    CHOICE_ROW("train", "row_averaging", row_averaging, "all", "all|touched",
               "row-sparse rows averaged over all sampled clients' weight or the touching ones'"),
    CHOICE_ROW("train", "selection", selection, "none", "none|best",
               "model selection: keep the best select_m updates by local validation score"),
    INT_ROW("train", "select_m", select_m, "1", 1, I32_MAX, "updates kept by model selection"),
    CHOICE_ROW("train", "mode", mode, "sync", "sync|async",
               "synchronous rounds or buffered asynchronous aggregation (FedBuff)"),
    STR_ROW("train", "freeze", freeze, "",
            "mmrec: comma list of parameter groups kept fixed and not sent: item, sasrec "
            "(position table and blocks), experts (projectors, attention, router), fusion "
            "(gate or fusion weights)"),
    STR_ROW("train", "init_from", init_from, "",
            "start from this model.safetensors (tensors matched by name; others keep their "
            "initial values)"),
    CHOICE_ROW("graph", "similarity", graph_similarity, "cosine", "cosine|distance",
               "gpfedrec/ufgraphfr: cosine, or the published code's cosine distance used as "
               "a similarity (its nearest are the least similar users)"),
    INT_ROW("graph", "top_n", graph_top_n, "10", 0, 10000000,
            "neighbours kept per user; 0 = those above graph.threshold x the mean"),
    DBL_ROW("graph", "threshold", graph_threshold, "1", -INFINITY, INFINITY, OPEN_BOTH,
            "top_n = 0: keep similarities above threshold x the mean of all"),
    CHOICE_ROW("graph", "weights", graph_weights, "uniform", "uniform|similarity",
               "a neighbour's weight: 1/count (published code) or similarity / row sum"),
    BOOL_ROW("graph", "self_loop", graph_self_loop, "false", "each user is also its own neighbour"),
    CHOICE_ROW("graph", "global", graph_global, "mean", "mean|degree",
               "shared table: the mean of the users' R_i, or weighted by neighbour count"),
    CHOICE_ROW("graph", "start", graph_start, "global", "global|personal",
               "a client's item rows start from the shared table (GPFedRec) or its own R_i "
               "(UFGraphFR's code)"),
    CHOICE_ROW("graph", "tables", graph_tables, "sparse", "sparse|dense",
               "sparse: R_i mixes the rows the clients trained; dense: the server keeps every "
               "client's whole table, as the published code (users x items x dim, twice)"),
    CHOICE_ROW("graph", "mix", graph_mix, "auto", "auto|items|users",
               "how the server computes the clients' R_i rows (same results): all clients at "
               "once item by item (items), one client at a time (users), or whichever its cost "
               "estimate says is cheaper (auto)"),
    DBL_ROW("graph", "reg", graph_reg, "1", 0, INFINITY, FR_CFG_OPEN_MAX,
            "weight of the mean-squared pull of the client's rows toward its R_i"),
    DBL_ROW("graph", "noise", graph_noise, "0", 0, INFINITY, FR_CFG_OPEN_MAX,
            "ufgraphfr: Laplace scale of the noise on the uploaded joint layer"),
    STR_ROW("graph", "user_features", graph_user_features, "",
            "ufgraphfr: .npy [users x dim] text features, row u = u-th smallest raw user id; "
            "empty = the built-in hashing encoder of users.dat/u.user"),
    INT_ROW("graph", "text_dim", graph_text_dim, "64", 1, 100000,
            "ufgraphfr: width of the built-in text encoding"),
    INT_ROW("async", "concurrency", async_concurrency, "100", 1, 10000000, "clients in flight"),
    INT_ROW("async", "buffer", async_buffer, "10", 1, 10000000,
            "arrivals per server step (K); a round is one server step"),
    CHOICE_ROW("async", "duration", async_duration, "lognormal", "lognormal|pareto|constant",
               "distribution of a client's time to finish"),
    DBL_ROW("async", "duration_scale", async_duration_scale, "1", 0, INFINITY, OPEN_BOTH,
            "median (lognormal), minimum (pareto) or value (constant), simulated seconds"),
    DBL_ROW("async", "duration_param", async_duration_param, "1", 0, INFINITY, OPEN_BOTH,
            "sigma (lognormal) or alpha (pareto)"),
    CHOICE_ROW("async", "staleness", async_staleness, "sqrt", "sqrt|poly|constant",
               "update weight by staleness s: 1/sqrt(1+s), (1+s)^-a or 1"),
    DBL_ROW("async", "staleness_a", async_staleness_a, "0.5", 0, INFINITY, 0,
            "exponent a of the poly staleness weight"),

    STR_ROW("mm", "text_features", mm_text_features, "",
            ".npy item text features, row = raw item id (or mm.feature_map); empty = the "
            "built-in hashing encoder of titles and genres"),
    STR_ROW("mm", "image_features", mm_image_features, "",
            ".npy item image features, rows as text_features; empty = visual expert off"),
    STR_ROW("mm", "feature_map", mm_feature_map, "",
            "file of 'raw_item_id row' lines mapping items to feature rows; empty = row is "
            "the raw item id"),
    INT_ROW("mm", "text_dim", mm_text_dim, "128", 1, 100000,
            "width of the built-in text encoding"),
    INT_ROW("mm", "heads", mm_heads, "2", 1, 64, "heads of the semantic expert's attention"),
    CHOICE_ROW("mm", "fusion", mm_fusion, "residual", "none|residual|weighted|learned|adaptive",
               "how the experts join SASRec: none (SASRec alone), residual (FedDMMR: seq + "
               "gate x routed experts), or FedMem's score fusion with fixed, learned or "
               "per-user adaptive weights"),
    DBL_ROW("mm", "gating_init", mm_gating_init, "0.01", -INFINITY, INFINITY, OPEN_BOTH,
            "initial residual gate (learned fusion: initial weight of the expert score)"),
    DBL_ROW("mm", "fusion_weight", mm_fusion_weight, "0.5", 0, 1, 0,
            "weighted fusion: fixed weight of the expert score"),
    CHOICE_ROW("mm", "loss", mm_loss, "softmax", "bce|bpr|softmax",
               "recommendation loss: BCE, BPR, or softmax over the positive and negatives"),
    BOOL_ROW("mm", "in_batch", mm_in_batch, "true",
             "softmax: the batch's other target items are negatives too"),
    DBL_ROW("mm", "contrastive_lambda", mm_contrastive_lambda, "0.1", 0, INFINITY,
            FR_CFG_OPEN_MAX, "weight of the InfoNCE loss between memory preference and items"),
    DBL_ROW("mm", "temperature", mm_temperature, "0.1", 0, INFINITY, OPEN_BOTH,
            "InfoNCE temperature"),
    BOOL_ROW("memory", "enabled", mem_enabled, "false", "mmrec: clients keep a surprise memory"),
    INT_ROW("memory", "capacity", mem_capacity, "50", 1, 100000, "entries per client"),
    DBL_ROW("memory", "surprise_threshold", mem_threshold, "0.5", -INFINITY, INFINITY, OPEN_BOTH,
            "an item enters when its loss exceeds this"),
    DBL_ROW("memory", "alpha", mem_alpha, "0.5", 0, INFINITY, FR_CFG_OPEN_MAX,
            "utility weight of recency"),
    DBL_ROW("memory", "beta", mem_beta, "0.5", 0, INFINITY, FR_CFG_OPEN_MAX,
            "utility weight of frequency"),
    DBL_ROW("memory", "tau", mem_tau, "10", 0, INFINITY, OPEN_BOTH,
            "recency exp(-dt/tau), dt in rounds"),
    CHOICE_ROW("memory", "frequency", mem_freq, "ratio", "log|ratio",
               "frequency score log(1+f) or log(1+f)/log(1+f+10)"),
    INT_ROW("memory", "prototypes", mem_prototypes, "5", 0, 10000,
            "k-means prototypes each client uploads (0 = no prototypes, no global memory)"),
    CHOICE_ROW("memory", "aggregation", mem_proto_aggregation, "mean", "mean|weighted|recluster",
               "server: mean, data-size weighted mean, or k-means over all uploaded prototypes"),
    INT_ROW("memory", "kmeans_iters", mem_kmeans_iters, "50", 1, 100000,
            "most Lloyd iterations per k-means"),
    INT_ROW("memory", "cold_start", mem_cold_start, "5", 0, I32_MAX,
            "a user with fewer training items starts its memory from the global one"),
    BOOL_ROW("memory", "global_keys", mem_global_keys, "true",
             "the global prototypes join every user's memory keys (false: they only seed "
             "cold starts)"),
    INT_ROW("fedrecon", "recon_epochs", recon_epochs, "1", 1, 1000000,
            "reconstruction epochs per round"),
    INT_ROW("fedrecon", "recon_steps_max", recon_steps_max, "0", 0, I32_MAX,
            "cap on reconstruction steps (0 = none)"),
    INT_ROW("fedrecon", "post_recon_epochs", post_recon_epochs, "1", 1, 1000000,
            "global-update epochs per round"),
    INT_ROW("fedrecon", "post_recon_steps_max", post_recon_steps_max, "0", 0, I32_MAX,
            "cap on global-update steps (0 = none)"),
    DBL_ROW("fedrecon", "recon_lr", recon_lr, "0.1", 0, INFINITY, OPEN_BOTH,
            "reconstruction learning rate"),
    BOOL_ROW("fedrecon", "split_dataset", split_dataset, "true",
             "even batches reconstruct, odd ones train"),

    INT_ROW("central", "epochs", central_epochs, "10", 1, 1000000,
            "epochs of centralized training"),
    DBL_ROW("central", "lr", central_lr, "0.05", 0, INFINITY, OPEN_BOTH,
            "centralized learning rate"),
    INT_ROW("central", "batch_size", central_batch_size, "32", 1, 1000000,
            "centralized batch size"),
    CHOICE_ROW("central", "optimizer", central_optimizer, "adam", "sgd|adam|adamw",
               "optimizer of centralized ranking models"),
    DBL_ROW("central", "beta1", central_beta1, "0.9", 0, 1, FR_CFG_OPEN_MAX, "Adam beta1"),
    DBL_ROW("central", "beta2", central_beta2, "0.98", 0, 1, FR_CFG_OPEN_MAX, "Adam beta2"),
    DBL_ROW("central", "eps", central_eps, "1e-8", 0, INFINITY, OPEN_BOTH, "Adam epsilon"),
    DBL_ROW("central", "weight_decay", central_weight_decay, "0", 0, INFINITY, FR_CFG_OPEN_MAX,
            "AdamW decoupled weight decay"),

    INT_ROW("eval", "every", eval_every, "5", 0, 10000000,
            "rounds between validation runs (0 = only at the end)"),
    INT_ROW("eval", "recon_epochs", eval_recon_epochs, "1", 1, 1000000,
            "reconstruction epochs for unseen users"),
    INT_ROW("eval", "recon_steps_max", eval_recon_steps_max, "0", 0, I32_MAX,
            "cap on evaluation reconstruction steps (0 = none)"),
    DBL_ROW("eval", "recon_lr", eval_recon_lr, "0.1", 0, INFINITY, OPEN_BOTH,
            "evaluation reconstruction learning rate"),
    INT_ROW("eval", "negatives", eval_negatives, "100", 0, 1000000,
            "ranking: sampled negatives per user (0 = none)"),
    BOOL_ROW("eval", "full", eval_full, "true", "ranking: also rank against the whole catalogue"),
    INT_ROW("eval", "users", eval_users, "0", 0, I32_MAX,
            "ranking: validate on a seeded sample of this many users (0 = all)"),
    INT_ROW("eval", "patience", eval_patience, "0", 0, I32_MAX,
            "stop after this many validations without a better figure (HR@10; MF: -loss) (0 = never)"),

    BOOL_ROW("eval", "paired_negatives", eval_paired_negatives, "false",
             "ranking: draw 2 x negatives once per user, the first half for validation and "
             "the second for test (PFedRec/GPFedRec's protocol)"),
    BOOL_ROW("eval", "keep_best", eval_keep_best, "true",
             "keep (and test) the parameters of the best validation, not the last ones"),

    U64_ROW("run", "seed", seed, "42", "seed of every random stream"),

    {NULL, NULL, FR_CFG_INT, 0, 0, NULL, 0, 0, NULL, NULL, 0},
};

const size_t fr_config_n_fields = sizeof fr_config_fields / sizeof fr_config_fields[0] - 1;
_Static_assert(sizeof fr_config_fields / sizeof fr_config_fields[0] - 1 <= FR_CONFIG_FIELDS_CAP,
               "raise FR_CONFIG_FIELDS_CAP (config_internal.h)");
