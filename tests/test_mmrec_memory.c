/* test_mmrec_memory.c - the clients' memories and the global abstract memory of a
 * federated FedMem run (mmrec_memory.h): keys are the client's entries then the global
 * prototypes (the entries only with memory.global_keys = false); uploads are K-means
 * prototypes of the memory's text and their bytes;
 * the round's end aggregates only complete uploads (mean) and records the round in the
 * history line; cold start fills a short-history client's empty memory from the global
 * memory once; the global memory's download size. */
#include "testutil.h"

#include <string.h>
#include "fedrec/config.h"
#include "fedrec/mmrec_memory.h"

enum { USERS = 3, DT = 2 };

static void make(fr_mm_memories *s, int K) {
    fr_config c;
    fr_config_defaults(&c);
    fr_error err;
    assert_int_equal(fr_config_set(&c, "model.model=mmrec", &err), FR_OK);
    c.mem_enabled = 1;
    c.mem_capacity = 4;
    c.mem_prototypes = K;
    c.mem_threshold = 0.5;
    c.mem_cold_start = 3;
    assert_int_equal(fr_mm_memories_create(s, &c, USERS, DT, 0, 0, &err), FR_OK);
}

static void observe(fr_mm_memories *s, int32_t user, int32_t item, float x, float y, double loss) {
    const float text[DT] = { x, y };
    fr_error err;
    assert_int_equal(fr_mem_observe(&s->mem[user], item, text, NULL, NULL, loss, 1.0, NULL, &err), FR_OK);
}

static void test_keys_upload_aggregate(void **state) {
    (void)state;
    fr_mm_memories s;
    make(&s, 2);
    assert_int_equal(fr_mm_memories_max_keys(&s), 4 + 2);
    /* user 0: two tight pairs of points, user 1: one item only (an incomplete upload) */
    observe(&s, 0, 10, 0.0f, 0.0f, 1.0);
    observe(&s, 0, 11, 0.0f, 0.2f, 1.0);
    observe(&s, 0, 12, 4.0f, 4.0f, 1.0);
    observe(&s, 0, 13, 4.0f, 4.2f, 1.0);
    observe(&s, 0, 14, 9.0f, 9.0f, 0.1);  /* not surprising: rejected */
    observe(&s, 1, 20, 1.0f, 1.0f, 2.0);
    assert_int_equal(s.mem[0].n, 4);
    int64_t bytes;
    fr_error err;
    assert_int_equal(fr_mm_memories_upload(&s, 0, 1, &bytes, &err), FR_OK);
    assert_int_equal(bytes, 2 * DT * 4);
    assert_int_equal(fr_mm_memories_upload(&s, 1, 1, &bytes, &err), FR_OK);
    assert_int_equal(bytes, 1 * DT * 4);
    assert_int_equal(fr_mm_memories_upload(&s, 2, 1, &bytes, &err), FR_OK);
    assert_int_equal(bytes, 0);  /* empty memory: nothing to send */
    assert_int_equal(fr_mm_memories_down_bytes(&s), 0);  /* no global memory yet */

    fr_update u[3];
    memset(u, 0, sizeof u);
    const fr_update *ups[3] = { &u[0], &u[1], &u[2] };
    const double w[3] = { 1, 1, 1 };
    for (int i = 0; i < 3; i++) u[i].client = i;
    u[0].side_bytes = 16;
    u[1].side_bytes = 8;
    s.updates[0] = 4;
    s.updates[1] = 1;
    cJSON *line = cJSON_CreateObject();
    assert_int_equal(fr_mm_memories_round_end(&s, ups, w, 3, 1, line, &err), FR_OK);
    /* only user 0's complete upload counts under mean: its two centroids */
    assert_int_equal(s.global_k, 2);
    float got[4];
    memcpy(got, s.global, sizeof got);
    const int first_low = got[0] < 2.0f;
    assert_float_equal(got[first_low ? 0 : 2], 0.0f, 1e-6);
    assert_float_equal(got[first_low ? 1 : 3], 0.1f, 1e-6);
    assert_float_equal(got[first_low ? 2 : 0], 4.0f, 1e-6);
    assert_float_equal(got[first_low ? 3 : 1], 4.1f, 1e-6);
    assert_int_equal(cJSON_GetObjectItem(line, "memory_updates")->valueint, 5);
    assert_int_equal(cJSON_GetObjectItem(line, "proto_bytes_up")->valueint, 24);
    assert_int_equal(cJSON_GetObjectItem(line, "global_memory_rows")->valueint, 2);
    cJSON_Delete(line);
    assert_int_equal(fr_mm_memories_down_bytes(&s), 2 * DT * 4);

    /* keys: the entries in slot order, then the global prototypes with ids -1, -2 */
    float text[6 * DT];
    int32_t item[6];
    assert_int_equal(fr_mm_memories_keys(&s, 1, text, item, 6), 3);
    assert_int_equal(item[0], 20);
    assert_int_equal(item[1], FR_MEM_PROTO_ID(0));
    assert_int_equal(item[2], FR_MEM_PROTO_ID(1));
    assert_memory_equal(text + DT, s.global, 2 * DT * sizeof(float));
    assert_int_equal(fr_mm_memories_keys(&s, 0, text, item, 3), 3);  /* capped */
    /* memory.global_keys = false: the entries only, the global memory kept for cold starts */
    s.global_keys = 0;
    assert_int_equal(fr_mm_memories_max_keys(&s), 4);
    assert_int_equal(fr_mm_memories_keys(&s, 1, text, item, 6), 1);
    assert_int_equal(item[0], 20);
    assert_int_equal(fr_mm_memories_keys(&s, 0, text, item, 6), 4);
    assert_int_equal(item[3], 13);
    fr_mm_memories_destroy(&s);
}

static void test_cold_start(void **state) {
    (void)state;
    fr_mm_memories s;
    make(&s, 2);
    fr_error err;
    /* before any global memory exists, nothing happens and the check stays open */
    assert_int_equal(fr_mm_memories_touch(&s, 2, 1, 1.0, &err), FR_OK);
    assert_int_equal(s.mem[2].n, 0);
    s.global_k = 2;
    const float g[4] = { 1, 2, 3, 4 };
    memcpy(s.global, g, sizeof g);
    /* a long history does not start from the global memory */
    assert_int_equal(fr_mm_memories_touch(&s, 0, 10, 2.0, &err), FR_OK);
    assert_int_equal(s.mem[0].n, 0);
    /* a short one does, once */
    assert_int_equal(fr_mm_memories_touch(&s, 2, 2, 2.0, &err), FR_OK);
    assert_int_equal(s.mem[2].n, 2);
    assert_int_equal(s.mem[2].item[0], FR_MEM_PROTO_ID(0));
    assert_memory_equal(s.mem[2].text, g, sizeof g);
    s.mem[2].n = 0;
    assert_int_equal(fr_mm_memories_touch(&s, 2, 2, 3.0, &err), FR_OK);
    assert_int_equal(s.mem[2].n, 0);
    fr_mm_memories_destroy(&s);
}

static void test_disabled_and_bad(void **state) {
    (void)state;
    fr_config c;
    fr_config_defaults(&c);
    fr_mm_memories s;
    fr_error err;
    assert_int_equal(fr_mm_memories_create(&s, &c, USERS, DT, 0, 0, &err), FR_OK);
    assert_int_equal(fr_mm_memories_max_keys(&s), 0);
    assert_null(s.mem);
    cJSON *line = cJSON_CreateObject();
    assert_int_equal(fr_mm_memories_round_end(&s, NULL, NULL, 0, 1, line, &err), FR_OK);
    assert_int_equal(cJSON_GetArraySize(line), 0);
    cJSON_Delete(line);
    fr_mm_memories_destroy(&s);
    c.mem_enabled = 1;
    c.mem_capacity = 3;
    c.mem_prototypes = 4;
    assert_int_equal(fr_mm_memories_create(&s, &c, USERS, DT, 0, 0, &err), FR_ERR_USAGE);
    assert_non_null(strstr(err.msg, "memory.prototypes"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_upload_aggregate),
        cmocka_unit_test(test_cold_start),
        cmocka_unit_test(test_disabled_and_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
