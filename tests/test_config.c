/* test_config.c - defaults, INI files, every error message form with its line number,
 * --set overrides, the JSON round trip, validation and the --help listing. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedrec/config.h"

static int n_fields(void) {
    int n = 0;
    while (fr_config_fields[n].section) n++;
    return n;
}

/* Loads text as an INI file over the defaults, expecting the exact message
 * "PATH:" + want (want starts with the line number). The config must stay unchanged. */
static void expect_ini_error(const char *text, const char *want) {
    const char *path = tu_write("bad.ini", text);
    fr_config c, before;
    memset(&c, 0, sizeof c);
    fr_config_defaults(&c);
    before = c;
    fr_error err = {""};
    assert_int_equal(fr_config_load_ini(&c, path, &err), FR_ERR_INPUT);
    char expect[1200];
    snprintf(expect, sizeof expect, "%s:%s", path, want);
    assert_string_equal(err.msg, expect);
    assert_memory_equal(&c, &before, sizeof c);
}

static void expect_set_error(const char *assignment, const char *want) {
    fr_config c, before;
    memset(&c, 0, sizeof c);
    fr_config_defaults(&c);
    before = c;
    fr_error err = {""};
    assert_int_equal(fr_config_set(&c, assignment, &err), FR_ERR_USAGE);
    assert_string_equal(err.msg, want);
    assert_memory_equal(&c, &before, sizeof c);
}

static void test_defaults(void **state) {
    (void)state;
    fr_config c;
    memset(&c, 0x5a, sizeof c);
    fr_config_defaults(&c);
    assert_string_equal(c.data_path, "");
    assert_string_equal(c.data_format, "auto");
    assert_int_equal(c.max_clients, 0);
    assert_int_equal(c.max_examples, 0);
    assert_true(c.train_fraction == 0.8 && c.val_fraction == 0.1);
    assert_int_equal(c.synth_users, 2000);
    assert_int_equal(c.synth_items, 1000);
    assert_int_equal(c.synth_rank, 8);
    assert_true(c.synth_mean_per_user == 60.0);
    assert_int_equal(c.synth_min_per_user, 10);
    assert_true(c.synth_zipf == 0.8 && c.synth_noise == 0.3);
    assert_string_equal(c.model, "mf");
    assert_int_equal(c.dim, 50);
    assert_int_equal(c.bias, 0);
    assert_true(c.l2 == 0.0 && c.init_scale == 0.05);
    assert_string_equal(c.algorithm, "fedrecon");
    assert_int_equal(c.rounds, 20);
    assert_int_equal(c.clients_per_round, 50);
    assert_int_equal(c.batch_size, 5);
    assert_string_equal(c.weighting, "examples");
    assert_string_equal(c.server_optimizer, "sgd");
    assert_true(c.server_lr == 1.0 && c.server_beta1 == 0.9 && c.server_beta2 == 0.999);
    assert_true(c.server_eps == 1e-8 && c.client_lr == 0.5);
    assert_int_equal(c.client_epochs, 1);
    assert_int_equal(c.recon_epochs, 1);
    assert_int_equal(c.recon_steps_max, 0);
    assert_int_equal(c.post_recon_epochs, 1);
    assert_int_equal(c.post_recon_steps_max, 0);
    assert_true(c.recon_lr == 0.1);
    assert_int_equal(c.split_dataset, 1);
    assert_int_equal(c.central_epochs, 10);
    assert_true(c.central_lr == 0.05);
    assert_int_equal(c.central_batch_size, 32);
    assert_int_equal(c.eval_every, 5);
    assert_int_equal(c.eval_recon_epochs, 1);
    assert_int_equal(c.eval_recon_steps_max, 0);
    assert_true(c.eval_recon_lr == 0.1);
    assert_true(c.seed == 42);
    fr_error err = {""};
    assert_int_equal(fr_config_validate(&c, &err), FR_OK);
}

static void test_table(void **state) {
    (void)state;
    /* Every default parses through --set, no (section, key) repeats, and the rows
     * cover the struct: between fields (in offset order) only alignment padding. */
    fr_config c;
    fr_config_defaults(&c);
    int n = n_fields();
    char covered[sizeof(fr_config)] = {0};
    assert_true(n >= 40);
    for (int i = 0; i < n; i++) {
        const fr_config_field *f = &fr_config_fields[i];
        char set[200];
        snprintf(set, sizeof set, "%s.%s=%s", f->section, f->key, f->dflt);
        fr_error err = {""};
        if (fr_config_set(&c, set, &err) != FR_OK) fail_msg("default %s: %s", set, err.msg);
        for (int j = 0; j < i; j++)
            assert_false(strcmp(f->section, fr_config_fields[j].section) == 0 &&
                         strcmp(f->key, fr_config_fields[j].key) == 0);
        assert_true(f->help && f->help[0]);
        assert_true(f->offset + f->size <= sizeof(fr_config));
        for (size_t b = f->offset; b < f->offset + f->size; b++) {
            assert_int_equal(covered[b], 0); /* no two rows share a byte */
            covered[b] = 1;
        }
    }
    /* Only alignment padding (under 8 bytes in a row) may be left uncovered. */
    size_t gap = 0;
    for (size_t b = 0; b < sizeof(fr_config); b++) {
        gap = covered[b] ? 0 : gap + 1;
        assert_true(gap < 8);
    }
}

static void test_load_full_file(void **state) {
    (void)state;
    const char *path = tu_write("full.ini",
        "; a complete experiment\n"
        "# both comment styles\n"
        "[data]\n"
        "path = data/ml-100k/u.data\n"
        "format = ml100k\n"
        "max_clients = 500\n"
        "max_examples = 200\n"
        "train_fraction = 0.7\n"
        "val_fraction = 0.15   ; inline comment\n"
        "\n"
        "[synthetic]\n"
        "users = 300\n"
        "items = 400\n"
        "rank = 4\n"
        "mean_per_user = 25.5\n"
        "min_per_user = 5\n"
        "zipf = 1.1\n"
        "noise = 0\n"
        "[model]\n"
        "model = mf\n"
        "dim = 16\n"
        "bias = yes\n"
        "l2 = 1e-4\n"
        "init_scale = 0.01\n"
        "[train]\n"
        "algorithm = fedavg\n"
        "rounds = 0\n"
        "clients_per_round = 10\n"
        "batch_size = 8\n"
        "weighting = uniform\n"
        "server_optimizer = adam\n"
        "server_lr = 0.01\n"
        "server_beta1 = 0.8\n"
        "server_beta2 = 0.99\n"
        "server_eps = 1e-6\n"
        "client_lr = 0.2\n"
        "client_epochs = 3\n"
        "[fedrecon]\n"
        "recon_epochs = 2\n"
        "recon_steps_max = 7\n"
        "post_recon_epochs = 4\n"
        "post_recon_steps_max = 9\n"
        "recon_lr = 0.3\n"
        "split_dataset = OFF\n"
        "[central]\n"
        "epochs = 6\n"
        "lr = 0.02\n"
        "batch_size = 64\n"
        "[eval]\n"
        "every = 0\n"
        "recon_epochs = 5\n"
        "recon_steps_max = 11\n"
        "recon_lr = 0.25\n"
        "[run]\n"
        "seed = 18446744073709551615\n");
    fr_config c;
    fr_config_defaults(&c);
    fr_error err = {""};
    assert_int_equal(fr_config_load_ini(&c, path, &err), FR_OK);
    assert_string_equal(c.data_path, "data/ml-100k/u.data");
    assert_string_equal(c.data_format, "ml100k");
    assert_int_equal(c.max_clients, 500);
    assert_int_equal(c.max_examples, 200);
    assert_true(c.train_fraction == 0.7 && c.val_fraction == 0.15);
    assert_int_equal(c.synth_users, 300);
    assert_int_equal(c.synth_items, 400);
    assert_int_equal(c.synth_rank, 4);
    assert_true(c.synth_mean_per_user == 25.5);
    assert_int_equal(c.synth_min_per_user, 5);
    assert_true(c.synth_zipf == 1.1 && c.synth_noise == 0.0);
    assert_int_equal(c.dim, 16);
    assert_int_equal(c.bias, 1);
    assert_true(c.l2 == 1e-4 && c.init_scale == 0.01);
    assert_string_equal(c.algorithm, "fedavg");
    assert_int_equal(c.rounds, 0);
    assert_int_equal(c.clients_per_round, 10);
    assert_int_equal(c.batch_size, 8);
    assert_string_equal(c.weighting, "uniform");
    assert_string_equal(c.server_optimizer, "adam");
    assert_true(c.server_lr == 0.01 && c.server_beta1 == 0.8 && c.server_beta2 == 0.99);
    assert_true(c.server_eps == 1e-6 && c.client_lr == 0.2);
    assert_int_equal(c.client_epochs, 3);
    assert_int_equal(c.recon_epochs, 2);
    assert_int_equal(c.recon_steps_max, 7);
    assert_int_equal(c.post_recon_epochs, 4);
    assert_int_equal(c.post_recon_steps_max, 9);
    assert_true(c.recon_lr == 0.3);
    assert_int_equal(c.split_dataset, 0);
    assert_int_equal(c.central_epochs, 6);
    assert_true(c.central_lr == 0.02);
    assert_int_equal(c.central_batch_size, 64);
    assert_int_equal(c.eval_every, 0);
    assert_int_equal(c.eval_recon_epochs, 5);
    assert_int_equal(c.eval_recon_steps_max, 11);
    assert_true(c.eval_recon_lr == 0.25);
    assert_true(c.seed == UINT64_MAX);
    assert_int_equal(fr_config_validate(&c, &err), FR_OK);

    /* A partial file only changes what it names; CRLF line ends are fine. */
    fr_config d;
    fr_config_defaults(&d);
    path = tu_write("partial.ini", "[train]\r\nrounds = 3\r\n\r\n[model]\r\n  dim = 8\r\n");
    assert_int_equal(fr_config_load_ini(&d, path, &err), FR_OK);
    fr_config e;
    fr_config_defaults(&e);
    e.rounds = 3;
    e.dim = 8;
    assert_memory_equal(&d, &e, sizeof d);
}

static void test_ini_errors(void **state) {
    (void)state;
    expect_ini_error("[train]\nrounds = 12abc\n", "2: [train] rounds: '12abc' is not a number");
    expect_ini_error("[train]\n\n; c\nrounds = 2.5\n",
                     "4: [train] rounds: '2.5' is not an integer");
    expect_ini_error("[model]\ndim = 0\n", "2: [model] dim: '0' is out of range [1, 4096]");
    expect_ini_error("[model]\ndim = 99999999999999999999\n",
                     "2: [model] dim: '99999999999999999999' is out of range [1, 4096]");
    expect_ini_error("[data]\ntrain_fraction = 1\n",
                     "2: [data] train_fraction: '1' is out of range (0, 1)");
    expect_ini_error("[train]\nclient_lr = nan\n",
                     "2: [train] client_lr: 'nan' is out of range (0, inf)");
    expect_ini_error("[train]\nclient_lr = 0\n",
                     "2: [train] client_lr: '0' is out of range (0, inf)");
    expect_ini_error("[train]\nserver_lr = inf\n",
                     "2: [train] server_lr: 'inf' is out of range (0, inf)");
    expect_ini_error("[train]\nalgorithm = sgd\n",
                     "2: [train] algorithm: 'sgd' must be one of fedrecon|fedavg|pfedrec|gpfedrec|ufgraphfr|central");
    expect_ini_error("[model]\nbias = maybe\n",
                     "2: [model] bias: 'maybe' must be one of true|false|1|0|yes|no|on|off");
    expect_ini_error("[run]\nseed = -1\n",
                     "2: [run] seed: '-1' is out of range [0, 18446744073709551615]");
    expect_ini_error("[run]\nseed = 18446744073709551616\n",
                     "2: [run] seed: '18446744073709551616' is out of range "
                     "[0, 18446744073709551615]");
    expect_ini_error("[run]\nseed = x\n", "2: [run] seed: 'x' is not a number");
    expect_ini_error("[train]\nrounds =\n", "2: [train] rounds: '' is not a number");
    expect_ini_error("[train]\nrounds = 1\nfoo = 2\n", "3: unknown key 'foo' in section [train]");
    expect_ini_error("[train]\nrounds = 1\n[foo]\nx = 1\n", "3: unknown section [foo]");
    expect_ini_error("[train]\n[foo]\n", "2: unknown section [foo]");
    expect_ini_error("rounds = 1\n", "1: key 'rounds' is outside any [section]");
    expect_ini_error("[train]\nrounds 5\n", "2: syntax error");
    expect_ini_error("[train\nrounds = 5\n", "1: syntax error");
    /* The first error wins, whichever kind it is. */
    expect_ini_error("[train]\nbad line\nrounds = x\n", "2: syntax error");
    expect_ini_error("[train]\nrounds = x\nbad line\n", "2: [train] rounds: 'x' is not a number");
    expect_ini_error("[train]\nrounds = 1\nrounds = 2\n",
                     "3: [train] rounds: given twice (first on line 2)");
    expect_ini_error("[train]\nrounds = 1\n  2\n",
                     "3: [train] rounds: indented continuation lines are not supported");

    char text[400];
    snprintf(text, sizeof text, "[data]\npath = %0300d\n", 0);
    expect_ini_error(text, "2: line is longer than 197 characters (use --set for long values)");

    fr_config c;
    fr_config_defaults(&c);
    fr_error err = {""};
    char path[700];
    snprintf(path, sizeof path, "%s/missing.ini", tu_tmpdir());
    assert_int_equal(fr_config_load_ini(&c, path, &err), FR_ERR_INPUT);
    char expect[800];
    snprintf(expect, sizeof expect, "%s: cannot open: No such file or directory", path);
    assert_string_equal(err.msg, expect);
}

static void test_set(void **state) {
    (void)state;
    fr_config c;
    fr_config_defaults(&c);
    fr_error err = {""};
    assert_int_equal(fr_config_set(&c, "train.rounds=7", &err), FR_OK);
    assert_int_equal(c.rounds, 7);
    assert_int_equal(fr_config_set(&c, " data.path = /x/y=z.csv ", &err), FR_OK);
    assert_string_equal(c.data_path, "/x/y=z.csv");
    assert_int_equal(fr_config_set(&c, "data.path=", &err), FR_OK);
    assert_string_equal(c.data_path, "");
    assert_int_equal(fr_config_set(&c, "model.bias=TRUE", &err), FR_OK);
    assert_int_equal(c.bias, 1);
    assert_int_equal(fr_config_set(&c, "run.seed=9007199254740993", &err), FR_OK);
    assert_true(c.seed == 9007199254740993ull);
    assert_int_equal(fr_config_set(&c, "central.lr=2e-3", &err), FR_OK);
    assert_true(c.central_lr == 2e-3);
    assert_int_equal(fr_config_set(&c, "eval.recon_lr=0.5", &err), FR_OK);
    assert_true(c.eval_recon_lr == 0.5 && c.recon_lr == 0.1);

    char long_path[1100];
    memset(long_path, 'a', sizeof long_path);
    memcpy(long_path, "data.path=", 10);
    long_path[10 + 1023] = '\0';
    assert_int_equal(fr_config_set(&c, long_path, &err), FR_OK);
    assert_int_equal(strlen(c.data_path), 1023);
    long_path[10 + 1023] = 'a';
    long_path[10 + 1024] = '\0';
    assert_int_equal(fr_config_set(&c, long_path, &err), FR_ERR_USAGE);

    expect_set_error("train.rounds=abc", "--set train.rounds=abc: 'abc' is not a number");
    expect_set_error("foo", "--set foo: expected section.key=value");
    expect_set_error("rounds=3", "--set rounds=3: expected section.key=value");
    expect_set_error("train.=3", "--set train.=3: expected section.key=value");
    expect_set_error("train.nope=1", "--set train.nope=1: unknown key");
    expect_set_error("nope.rounds=1", "--set nope.rounds=1: unknown key");
    expect_set_error("train.rounds=-1",
                     "--set train.rounds=-1: '-1' is out of range [0, 10000000]");
    expect_set_error("train.weighting=equal",
                     "--set train.weighting=equal: 'equal' must be one of examples|uniform");
}

static void test_json_round_trip(void **state) {
    (void)state;
    /* Seeds below 10^15 travel as numbers, larger ones as strings of digits. */
    const uint64_t seeds[4] = {42, 999999999999999ull, 9007199254740991ull, UINT64_MAX - 58};
    for (int k = 0; k < 4; k++) {
        fr_config a, b;
        memset(&a, 0, sizeof a);
        memset(&b, 0, sizeof b);
        fr_config_defaults(&a);
        fr_config_defaults(&b);
        fr_error err = {""};
        assert_int_equal(fr_config_set(&a, "data.path=some \"quoted\" path/ü.csv", &err), FR_OK);
        assert_int_equal(fr_config_set(&a, "train.algorithm=central", &err), FR_OK);
        assert_int_equal(fr_config_set(&a, "train.server_lr=0.123456789012345", &err), FR_OK);
        assert_int_equal(fr_config_set(&a, "model.l2=1e-300", &err), FR_OK);
        assert_int_equal(fr_config_set(&a, "fedrecon.split_dataset=no", &err), FR_OK);
        assert_int_equal(fr_config_set(&a, "model.bias=on", &err), FR_OK);
        assert_int_equal(fr_config_set(&a, "data.max_clients=2147483647", &err), FR_OK);
        a.seed = seeds[k];

        cJSON *json = fr_config_to_json(&a);
        assert_non_null(json);
        /* In memory, any double survives. */
        fr_config_set(&a, "train.client_lr=0.30000000000000004", &err);
        cJSON_Delete(json);
        json = fr_config_to_json(&a);
        assert_int_equal(fr_config_from_json(&b, json, &err), FR_OK);
        assert_memory_equal(&a, &b, sizeof a);
        /* cJSON prints a double with 17 digits only when 15 are not close (not equal) to
         * it, so through text the round trip is exact for values of up to 15 digits. */
        fr_config_set(&a, "train.client_lr=0.3", &err);
        cJSON_Delete(json);
        json = fr_config_to_json(&a);
        memset(&b, 0, sizeof b);
        fr_config_defaults(&b);
        /* Through text, as it travels in final.json and checkpoint metadata. */
        char *text = cJSON_PrintUnformatted(json);
        cJSON_Delete(json);
        json = cJSON_Parse(text);
        cJSON_free(text);
        assert_non_null(json);

        const cJSON *train = cJSON_GetObjectItemCaseSensitive(json, "train");
        assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(train, "rounds")));
        assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(train, "algorithm")));
        const cJSON *model = cJSON_GetObjectItemCaseSensitive(json, "model");
        assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "bias")));
        const cJSON *seed =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(json, "run"), "seed");
        assert_true(k < 2 ? cJSON_IsNumber(seed) : cJSON_IsString(seed));
        assert_int_equal(cJSON_GetArraySize(json), 12); /* sections, [async], [graph], [mm] and [memory] included */

        assert_int_equal(fr_config_from_json(&b, json, &err), FR_OK);
        assert_memory_equal(&a, &b, sizeof a);
        cJSON_Delete(json);
    }
}

static void expect_json_error(const char *text, const char *want) {
    cJSON *json = cJSON_Parse(text);
    assert_non_null(json);
    fr_config c, before;
    memset(&c, 0, sizeof c);
    fr_config_defaults(&c);
    before = c;
    fr_error err = {""};
    assert_int_equal(fr_config_from_json(&c, json, &err), FR_ERR_INPUT);
    assert_string_equal(err.msg, want);
    assert_memory_equal(&c, &before, sizeof c);
    cJSON_Delete(json);
}

static void test_json_errors(void **state) {
    (void)state;
    expect_json_error("{\"train\": {\"rounds\": 3, \"nope\": 1}}",
                      "config JSON: unknown key 'nope' in section [train]");
    expect_json_error("{\"foo\": {}}", "config JSON: unknown section [foo]");
    expect_json_error("{\"train\": 3}", "config JSON: [train] is not an object");
    expect_json_error("{\"train\": {\"rounds\": \"3\"}}",
                      "config JSON: [train] rounds: expected a number");
    expect_json_error("{\"train\": {\"rounds\": 2.5}}",
                      "config JSON: [train] rounds: '2.5' is not an integer");
    expect_json_error("{\"model\": {\"bias\": 1}}",
                      "config JSON: [model] bias: expected true or false");
    expect_json_error("{\"run\": {\"seed\": 1.5}}",
                      "config JSON: [run] seed: '1.5' is not an integer");
    expect_json_error("{\"run\": {\"seed\": 1e300}}",
                      "config JSON: [run] seed: 1e+300 is not exact as a JSON number; store it as "
                      "a string");
    expect_json_error("{\"run\": {\"seed\": \"12x\"}}",
                      "config JSON: [run] seed: '12x' is not a number");
    expect_json_error("[1]", "config JSON: not an object");

    /* Missing keys keep their values; a seed may come as a string of digits. */
    cJSON *json = cJSON_Parse("{\"run\": {\"seed\": \"7\"}, \"eval\": {}}");
    fr_config c;
    fr_config_defaults(&c);
    fr_error err = {""};
    assert_int_equal(fr_config_from_json(&c, json, &err), FR_OK);
    assert_true(c.seed == 7 && c.rounds == 20);
    cJSON_Delete(json);
}

static void test_validate(void **state) {
    (void)state;
    fr_config c;
    fr_error err = {""};
    fr_config_defaults(&c);
    assert_int_equal(fr_config_set(&c, "data.val_fraction=0.2", &err), FR_OK);
    assert_int_equal(fr_config_validate(&c, &err), FR_ERR_USAGE);
    assert_non_null(strstr(err.msg, "train_fraction + val_fraction must be below 1"));

    fr_config_defaults(&c);
    c.clients_per_round = 0;
    assert_int_equal(fr_config_validate(&c, &err), FR_ERR_USAGE);
    assert_string_equal(err.msg,
                        "[train] clients_per_round: '0' is out of range [1, 10000000]");

    fr_config_defaults(&c);
    c.client_lr = NAN;
    assert_int_equal(fr_config_validate(&c, &err), FR_ERR_USAGE);
    assert_non_null(strstr(err.msg, "[train] client_lr:"));

    fr_config_defaults(&c);
    strcpy(c.server_optimizer, "rmsprop");
    assert_int_equal(fr_config_validate(&c, &err), FR_ERR_USAGE);
    assert_string_equal(err.msg, "[train] server_optimizer: 'rmsprop' must be one of sgd|adam|yogi");

    fr_config_defaults(&c);
    c.bias = 2;
    assert_int_equal(fr_config_validate(&c, &err), FR_ERR_USAGE);

    fr_config_defaults(&c);
    c.synth_items = 10;
    c.synth_min_per_user = 6;
    assert_int_equal(fr_config_validate(&c, &err), FR_ERR_USAGE);
    assert_string_equal(err.msg, "[synthetic] min_per_user (6) must be at most items/2 (5)");

    fr_config_defaults(&c);
    c.top_users = 100;
    assert_int_equal(fr_config_validate(&c, &err), FR_OK);
    c.max_clients = 50;
    assert_int_equal(fr_config_validate(&c, &err), FR_ERR_USAGE);
    assert_string_equal(err.msg, "[data] top_users (100) and max_clients (50) both choose "
                                 "users; set one of them");
}

static void test_freeze_list(void **state) {
    (void)state;
    assert_true(fr_freeze_has("item", "item"));
    assert_true(fr_freeze_has(" item , sasrec\t", "sasrec"));
    assert_true(fr_freeze_has("experts,fusion", "fusion"));
    assert_true(fr_freeze_has("item,item", "item"));
    assert_false(fr_freeze_has("items", "item"));
    assert_false(fr_freeze_has("item", "items"));
    assert_false(fr_freeze_has("Item", "item"));
    assert_false(fr_freeze_has("", "item"));
    assert_false(fr_freeze_has("   ", "item"));
    assert_false(fr_freeze_has(NULL, "item"));
    assert_false(fr_freeze_has("item,,sasrec", ""));
    assert_false(fr_freeze_has(",", "item"));
    assert_true(fr_freeze_has(",item", "item"));
    assert_true(fr_freeze_has("item,", "item"));
}

/* Expects validation of c to fail with exactly want. */
static void validate_fails(const fr_config *c, const char *want) {
    fr_error err = {""};
    assert_int_equal(fr_config_validate(c, &err), FR_ERR_USAGE);
    assert_string_equal(err.msg, want);
}

static void test_validate_mmrec_settings(void **state) {
    (void)state;
    fr_config c;
    fr_error err = {""};
    fr_config_defaults(&c);
    assert_int_equal(fr_config_set(&c, "model.model=mmrec", &err), FR_OK);
    assert_int_equal(fr_config_set(&c, "train.freeze= item , sasrec,experts,fusion", &err), FR_OK);
    assert_int_equal(fr_config_set(&c, "train.init_from=runs/sasrec/model.safetensors", &err),
                     FR_OK);
    assert_int_equal(fr_config_set(&c, "mm.text_features=text.npy", &err), FR_OK);
    assert_int_equal(fr_config_set(&c, "memory.enabled=true", &err), FR_OK);
    assert_int_equal(fr_config_validate(&c, &err), FR_OK);
    strcpy(c.freeze, "   ");
    assert_int_equal(fr_config_validate(&c, &err), FR_OK);

    /* Group names: unknown, empty, case. */
    assert_int_equal(fr_config_set(&c, "train.freeze=item,bogus", &err), FR_OK);
    validate_fails(&c, "[train] freeze: unknown group 'bogus' (groups: item, sasrec, experts, "
                       "fusion)");
    strcpy(c.freeze, "Item");
    validate_fails(&c, "[train] freeze: unknown group 'Item' (groups: item, sasrec, experts, "
                       "fusion)");
    strcpy(c.freeze, "item,,sasrec");
    validate_fails(&c, "[train] freeze: empty group name in 'item,,sasrec' (a comma list of "
                       "item, sasrec, experts, fusion)");
    strcpy(c.freeze, "item,");
    validate_fails(&c, "[train] freeze: empty group name in 'item,' (a comma list of item, "
                       "sasrec, experts, fusion)");
    /* A bad name is reported whatever the model. */
    strcpy(c.model, "sasrec");
    strcpy(c.freeze, "experts, nope");
    validate_fails(&c, "[train] freeze: unknown group 'nope' (groups: item, sasrec, experts, "
                       "fusion)");

    /* The mmrec settings with another model. */
    fr_config_defaults(&c);
    strcpy(c.model, "sasrec");
    assert_int_equal(fr_config_validate(&c, &err), FR_OK);
    strcpy(c.freeze, "item");
    validate_fails(&c, "[train] freeze: parameter groups are model mmrec's; model.model is "
                       "'sasrec'");
    fr_config_defaults(&c);
    strcpy(c.init_from, "model.safetensors");
    validate_fails(&c, "[train] init_from: only model.model = mmrec starts from a checkpoint; "
                       "model.model is 'mf'");
    fr_config_defaults(&c);
    strcpy(c.model, "ncf");
    strcpy(c.mm_feature_map, "items.map");
    validate_fails(&c, "[mm] feature_map: the [mm] settings are model mmrec's; model.model is "
                       "'ncf'");
    fr_config_defaults(&c);
    c.mm_temperature = 0.2;
    validate_fails(&c, "[mm] temperature: the [mm] settings are model mmrec's; model.model is "
                       "'mf'");
    fr_config_defaults(&c);
    c.mem_enabled = 1;
    validate_fails(&c, "[memory] enabled: the [memory] settings are model mmrec's; model.model "
                       "is 'mf'");
    /* Repeating a default is not setting it. */
    fr_config_defaults(&c);
    assert_int_equal(fr_config_set(&c, "mm.text_dim=128", &err), FR_OK);
    assert_int_equal(fr_config_set(&c, "memory.frequency=ratio", &err), FR_OK);
    assert_int_equal(fr_config_validate(&c, &err), FR_OK);
}

static void test_print_help(void **state) {
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    fr_config_print_help(out);
    fclose(out);
    int lines = 0;
    for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
    assert_int_equal(lines, n_fields());
    assert_non_null(strstr(buf, "  train.rounds "));
    assert_non_null(strstr(buf, "(20)"));
    assert_non_null(strstr(buf, "  data.path "));
    assert_non_null(strstr(buf, "(\"\")"));
    assert_non_null(strstr(buf, "fedrecon|fedavg|pfedrec|gpfedrec|ufgraphfr|central"));
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_load_full_file),
        cmocka_unit_test(test_ini_errors),
        cmocka_unit_test(test_set),
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_freeze_list),
        cmocka_unit_test(test_validate_mmrec_settings),
        cmocka_unit_test(test_print_help),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_tmpdir_cleanup();
    return rc;
}
