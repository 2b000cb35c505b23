/* test_loaders.c - every input format, format recognition, directories with MovieLens
 * metadata, and the exact "FILE:LINE: what is wrong" message of every bad input.
 *
 * All inputs are tiny files this test writes into its own temporary directory.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fedrec/config.h"
#include "fedrec/dataset.h"
#include "fedrec/train.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------------------- */

/* Creates the directory tmpdir/NAME and returns its path (static rotating storage). */
static const char *make_dir(const char *name) {
    static char paths[4][600];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, 600, "%s/%s", tu_tmpdir(), name);
    assert_int_equal(mkdir(p, 0700), 0);
    return p;
}

/* Loads PATH in FORMAT and expects success. */
static void load_ok(const char *path, fr_format format, fr_dataset *ds) {
    fr_error err = { { 0 } };
    fr_status st = fr_dataset_load(path, format, ds, &err);
    if (st != FR_OK) fail_msg("loading %s failed: %s", path, err.msg);
}

/* Loads PATH in FORMAT, expects FR_ERR_INPUT and exactly the message EXPECT; checks the
 * dataset was left empty and can be freed. */
static void load_fails(const char *path, fr_format format, const char *expect) {
    fr_dataset ds;
    fr_error err = { { 0 } };
    assert_int_equal(fr_dataset_load(path, format, &ds, &err), FR_ERR_INPUT);
    assert_string_equal(err.msg, expect);
    assert_null(strchr(err.msg, '\n'));
    assert_int_equal(ds.n_users, 0);
    assert_int_equal(ds.n_inter, 0);
    assert_null(ds.user_ptr);
    assert_null(ds.item);
    assert_null(ds.items_meta);
    fr_dataset_free(&ds);
}

/* Writes NAME with TEXT and expects loading it to fail with "PATH" + SUFFIX. */
static void file_fails(const char *name, const char *text, fr_format format,
                       const char *suffix) {
    char path[700], expect[1200];
    snprintf(path, sizeof path, "%s", tu_write(name, text));
    snprintf(expect, sizeof expect, "%s%s", path, suffix);
    load_fails(path, format, expect);
}

static int64_t raw_item(const fr_dataset *ds, int32_t u, int64_t k) {
    return ds->item_raw[ds->item[ds->user_ptr[u] + k]];
}

/* ---- formats ---------------------------------------------------------------------- */

static void test_ml_dat(void **state) {
    (void)state;
    const char *dir = make_dir("mldat");
    /* Users 20 and 3; user 20's times tie at 300 (file order kept). */
    tu_write("mldat/ratings.dat", "20::1193::5::300\n"
                                  "3::661::3::978302109\n"
                                  "20::914::3::100\n"
                                  "20::3408::4::300\n"
                                  "3::1193::1::978300000\n");
    fr_dataset ds;
    load_ok(dir, FR_FORMAT_AUTO, &ds);
    assert_int_equal(ds.format, FR_FORMAT_ML_DAT);
    assert_non_null(strstr(ds.source, "mldat/ratings.dat"));
    assert_int_equal(ds.n_users, 2);
    assert_int_equal(ds.n_items, 4);
    assert_int_equal(ds.user_raw[0], 3);
    assert_int_equal(ds.user_raw[1], 20);
    assert_int_equal(raw_item(&ds, 0, 0), 1193);
    assert_int_equal(raw_item(&ds, 0, 1), 661);
    assert_int_equal(raw_item(&ds, 1, 0), 914);
    assert_int_equal(raw_item(&ds, 1, 1), 1193);
    assert_int_equal(raw_item(&ds, 1, 2), 3408);
    assert_true(ds.rating[0] == 1.0f && ds.rating[1] == 3.0f && ds.rating[4] == 4.0f);
    assert_int_equal(ds.time[1], 978302109);
    assert_null(ds.items_meta); /* no movies.dat beside it */
    assert_null(ds.users_meta);
    fr_dataset_free(&ds);
}

static void test_ml100k(void **state) {
    (void)state;
    const char *path = tu_write("u.data", "196\t242\t3\t881250949\n"
                                          "186\t302\t3\t891717742\n"
                                          "196\t51\t2\t881250900\n");
    fr_dataset ds;
    load_ok(path, FR_FORMAT_AUTO, &ds);
    assert_int_equal(ds.format, FR_FORMAT_ML100K);
    assert_int_equal(ds.n_users, 2);
    assert_int_equal(ds.n_items, 3);
    assert_int_equal(raw_item(&ds, 1, 0), 51);
    assert_int_equal(raw_item(&ds, 1, 1), 242);
    assert_true(ds.rating[1] == 2.0f);
    fr_dataset_free(&ds);
}

static void test_csv_header_synonyms_crlf(void **state) {
    (void)state;
    /* MovieLens-20M style header, CRLF endings, a blank line, a column we ignore. */
    const char *path = tu_write("ratings.csv", "userId,movieId,rating,timestamp,tag\r\n"
                                               "1,31,2.5,1260759144,x\r\n"
                                               "\r\n"
                                               "1,1029,3.0,1260759100,y\r\n"
                                               "2,31,4.5,5,z\r\n");
    fr_dataset ds;
    load_ok(path, FR_FORMAT_AUTO, &ds);
    assert_int_equal(ds.format, FR_FORMAT_CSV);
    assert_int_equal(ds.n_users, 2);
    assert_int_equal(ds.n_items, 2);
    assert_int_equal(raw_item(&ds, 0, 0), 1029);
    assert_int_equal(raw_item(&ds, 0, 1), 31);
    assert_true(ds.rating[0] == 3.0f && ds.rating[1] == 2.5f && ds.rating[2] == 4.5f);
    assert_int_equal(ds.time[2], 5);
    fr_dataset_free(&ds);
}

static void test_csv_bom_and_quotes(void **state) {
    (void)state;
    /* A spreadsheet export: byte-order mark, quoted names and values. */
    const char *path = tu_write("export.csv", "\xEF\xBB\xBF\"user_id\",\"item_id\",\"score\"\n"
                                              "\"4\",\"8\",\"0.5\"\n");
    fr_dataset ds;
    load_ok(path, FR_FORMAT_AUTO, &ds);
    assert_int_equal(ds.format, FR_FORMAT_CSV);
    assert_int_equal(ds.user_raw[0], 4);
    assert_int_equal(ds.item_raw[0], 8);
    assert_true(ds.rating[0] == 0.5f);
    fr_dataset_free(&ds);
}

static void test_tsv_reordered_columns(void **state) {
    (void)state;
    /* Columns in any order, names in any case; no rating column means implicit data. */
    const char *path = tu_write("clicks.tsv", "TS\tcomment\tITEM_ID\tUid\n"
                                              "7\thello\t100\t9\n"
                                              "3\tworld\t200\t9\n"
                                              "3\tagain\t300\t9\n");
    fr_dataset ds;
    load_ok(path, FR_FORMAT_AUTO, &ds);
    assert_int_equal(ds.format, FR_FORMAT_TSV);
    assert_null(ds.rating);
    assert_non_null(ds.time);
    assert_int_equal(ds.n_users, 1);
    assert_int_equal(ds.user_raw[0], 9);
    assert_int_equal(raw_item(&ds, 0, 0), 200);
    assert_int_equal(raw_item(&ds, 0, 1), 300);
    assert_int_equal(raw_item(&ds, 0, 2), 100);
    fr_dataset_free(&ds);
}

static void test_lastfm_style_tsv(void **state) {
    (void)state;
    const char *dir = make_dir("lastfm");
    tu_write("lastfm/user_artists.dat", "userID\tartistID\tweight\r\n"
                                        "2\t51\t13883\r\n"
                                        "2\t52\t11690\r\n"
                                        "4\t51\t1\r\n");
    fr_dataset ds;
    load_ok(dir, FR_FORMAT_AUTO, &ds);
    assert_int_equal(ds.format, FR_FORMAT_TSV);
    assert_null(ds.time);
    assert_int_equal(ds.n_users, 2);
    assert_int_equal(ds.n_items, 2);
    assert_true(ds.rating[0] == 13883.0f && ds.rating[2] == 1.0f);
    fr_dataset_free(&ds);
}

static void test_seq(void **state) {
    (void)state;
    const char *dir = make_dir("beauty");
    tu_write("beauty/Beauty.txt", "1 1 2 3 4 5\n2 6 7 8 9 10 4 11\n3 4 12\n");
    fr_dataset ds;
    load_ok(dir, FR_FORMAT_AUTO, &ds);
    assert_int_equal(ds.format, FR_FORMAT_SEQ);
    assert_null(ds.rating);
    assert_null(ds.time);
    assert_int_equal(ds.n_users, 3);
    assert_int_equal(ds.n_items, 12);
    assert_int_equal(ds.n_inter, 5 + 7 + 2);
    assert_int_equal(raw_item(&ds, 1, 0), 6);
    assert_int_equal(raw_item(&ds, 1, 5), 4);
    assert_int_equal(raw_item(&ds, 1, 6), 11);
    assert_int_equal(raw_item(&ds, 2, 1), 12);
    fr_dataset_free(&ds);
}

static void test_pairs(void **state) {
    (void)state;
    const char *path = tu_write("ml-1m.txt", "1 10\n1 5\n2 10\n1 7\n");
    fr_dataset ds;
    load_ok(path, FR_FORMAT_AUTO, &ds);
    assert_int_equal(ds.format, FR_FORMAT_PAIRS);
    assert_int_equal(ds.n_users, 2);
    assert_int_equal(ds.user_ptr[1], 3);
    assert_int_equal(raw_item(&ds, 0, 0), 10);
    assert_int_equal(raw_item(&ds, 0, 1), 5);
    assert_int_equal(raw_item(&ds, 0, 2), 7);
    fr_dataset_free(&ds);
}

static void test_recognition_by_content(void **state) {
    (void)state;
    fr_dataset ds;
    /* "::" anywhere in the first line. */
    load_ok(tu_write("a.txt", "1::2::3::4\n"), FR_FORMAT_AUTO, &ds);
    assert_int_equal(ds.format, FR_FORMAT_ML_DAT);
    fr_dataset_free(&ds);
    /* A header in a file with no telling name. */
    load_ok(tu_write("b.txt", "user,item\n1,2\n"), FR_FORMAT_AUTO, &ds);
    assert_int_equal(ds.format, FR_FORMAT_CSV);
    fr_dataset_free(&ds);
    load_ok(tu_write("c.txt", "uid\tiid\n1\t2\n"), FR_FORMAT_AUTO, &ds);
    assert_int_equal(ds.format, FR_FORMAT_TSV);
    fr_dataset_free(&ds);
    /* Header-less numeric TSV: 100K style; weights above 5 are fine when the file is
     * not named u.data, and a third column alone is a rating without time. */
    load_ok(tu_write("d.txt", "1\t2\t300\n1\t3\t4\n"), FR_FORMAT_AUTO, &ds);
    assert_int_equal(ds.format, FR_FORMAT_ML100K);
    assert_null(ds.time);
    assert_true(ds.rating[0] == 300.0f);
    fr_dataset_free(&ds);
    /* Two numbers on the first lines, three later: sequences. */
    load_ok(tu_write("e.txt", "1 2\n2 3\n3 4 5\n"), FR_FORMAT_AUTO, &ds);
    assert_int_equal(ds.format, FR_FORMAT_SEQ);
    assert_int_equal(ds.n_inter, 4);
    fr_dataset_free(&ds);
    /* An explicit format beats the name. */
    load_ok(tu_write("f.csv", "1 2\n2 3\n"), FR_FORMAT_PAIRS, &ds);
    assert_int_equal(ds.format, FR_FORMAT_PAIRS);
    fr_dataset_free(&ds);
}

/* ---- directories and metadata ----------------------------------------------------- */

static void test_ml1m_dir_with_metadata(void **state) {
    (void)state;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/", make_dir("ml1m")); /* a trailing slash is fine */
    tu_write("ml1m/ratings.dat", "1::73::5::10\n1::2::3::11\n5::2::4::12\n");
    /* Latin-1 0xE9 in "Misérables"; movie 9 has no ratings and is ignored; movie 2 has
     * no metadata line. */
    tu_write("ml1m/movies.dat", "73::Mis\xE9rables, Les (1995)::Drama|Musical\n"
                                "9::Nobody (1999)::Comedy\n");
    tu_write("ml1m/users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n");
    fr_dataset ds;
    load_ok(dir, FR_FORMAT_AUTO, &ds);
    assert_int_equal(ds.n_items, 2);
    assert_non_null(ds.items_meta);
    assert_int_equal(ds.item_raw[1], 73);
    assert_string_equal(ds.items_meta->title[1], "Mis\xC3\xA9rables, Les (1995)");
    assert_string_equal(ds.items_meta->genres[1], "Drama|Musical");
    assert_null(ds.items_meta->title[0]);
    assert_null(ds.items_meta->genres[0]);
    assert_non_null(ds.users_meta);
    assert_int_equal(ds.users_meta->gender[0], 'F');
    assert_int_equal(ds.users_meta->age[0], 1);
    assert_string_equal(ds.users_meta->occupation[0], "10");
    assert_string_equal(ds.users_meta->zip[0], "48067");
    assert_int_equal(ds.users_meta->gender[1], 0); /* user 5: no users.dat line */
    assert_int_equal(ds.users_meta->age[1], -1);
    assert_null(ds.users_meta->occupation[1]);

    /* Keeping only user 1 keeps both items and their titles. */
    fr_error err = { { 0 } };
    assert_int_equal(fr_dataset_limit_users(&ds, 1, &err), FR_OK);
    assert_int_equal(ds.n_items, 2);
    assert_string_equal(ds.items_meta->title[1], "Mis\xC3\xA9rables, Les (1995)");
    assert_string_equal(ds.users_meta->zip[0], "48067");
    fr_dataset_free(&ds);
}

static void test_limit_users_remaps_metadata(void **state) {
    (void)state;
    const char *dir = make_dir("ml1m-limit");
    tu_write("ml1m-limit/ratings.dat", "1::30::5::10\n2::10::3::11\n2::20::4::12\n");
    tu_write("ml1m-limit/movies.dat", "10::Ten::Drama\n20::Twenty::Comedy\n30::Thirty::War\n");
    fr_dataset ds;
    fr_error err = { { 0 } };
    load_ok(dir, FR_FORMAT_AUTO, &ds);
    assert_null(ds.users_meta);
    assert_int_equal(fr_dataset_limit_users(&ds, 1, &err), FR_OK);
    assert_int_equal(ds.n_items, 1);
    assert_int_equal(ds.item_raw[0], 30);
    assert_string_equal(ds.items_meta->title[0], "Thirty");
    assert_string_equal(ds.items_meta->genres[0], "War");
    fr_dataset_free(&ds);
}

static void test_top_users_moves_metadata(void **state) {
    (void)state;
    /* Counts: user 1 one rating, 2 two, 3 two, 4 one. The top three are 2, 3 and (of
     * the tied 1 and 4) 1; the top two drop items 30 and 50 and their titles. */
    const char *dir = make_dir("ml1m-top");
    tu_write("ml1m-top/ratings.dat", "1::30::5::10\n2::10::3::11\n2::20::4::12\n"
                                     "3::20::2::13\n3::40::1::14\n4::50::5::15\n");
    tu_write("ml1m-top/movies.dat", "10::Ten::Drama\n20::Twenty::Comedy\n30::Thirty::War\n"
                                    "40::Forty::Horror\n50::Fifty::Crime\n");
    tu_write("ml1m-top/users.dat", "1::F::1::10::11111\n2::M::25::12::22222\n"
                                   "3::F::35::7::33333\n4::M::56::16::44444\n");
    fr_dataset ds;
    fr_error err = { { 0 } };
    load_ok(dir, FR_FORMAT_AUTO, &ds);
    assert_int_equal(fr_dataset_top_users(&ds, 3, &err), FR_OK);
    assert_int_equal(ds.n_users, 3);
    assert_int_equal(ds.user_raw[0], 1);
    assert_int_equal(ds.user_raw[1], 2);
    assert_int_equal(ds.user_raw[2], 3);
    assert_int_equal(ds.n_items, 4);
    assert_string_equal(ds.users_meta->zip[2], "33333");
    assert_int_equal(fr_dataset_top_users(&ds, 2, &err), FR_OK);
    assert_int_equal(ds.n_users, 2);
    assert_int_equal(ds.user_raw[0], 2);
    assert_int_equal(ds.user_raw[1], 3);
    assert_int_equal(ds.n_items, 3);
    assert_int_equal(ds.item_raw[0], 10);
    assert_int_equal(ds.item_raw[1], 20);
    assert_int_equal(ds.item_raw[2], 40);
    assert_string_equal(ds.items_meta->title[0], "Ten");
    assert_string_equal(ds.items_meta->title[2], "Forty");
    assert_string_equal(ds.items_meta->genres[2], "Horror");
    /* users.dat rows moved with their users: slot 0 is raw user 2, slot 1 raw user 3. */
    assert_int_equal(ds.users_meta->gender[0], 'M');
    assert_int_equal(ds.users_meta->age[0], 25);
    assert_string_equal(ds.users_meta->occupation[0], "12");
    assert_string_equal(ds.users_meta->zip[0], "22222");
    assert_int_equal(ds.users_meta->gender[1], 'F');
    assert_int_equal(ds.users_meta->age[1], 35);
    assert_string_equal(ds.users_meta->zip[1], "33333");
    fr_dataset_free(&ds);
}

/* data.top_users through fr_experiment_data, and its refusal next to max_clients. */
static void test_experiment_data_top_users(void **state) {
    (void)state;
    const char *path = tu_write("top.csv", "user,item\n5,1\n5,2\n6,1\n7,3\n7,1\n7,2\n");
    fr_config c;
    fr_config_defaults(&c);
    snprintf(c.data_path, sizeof c.data_path, "%s", path);
    c.top_users = 2;
    fr_dataset ds;
    fr_error err = { { 0 } };
    assert_int_equal(fr_experiment_data(&c, &ds, &err), FR_OK);
    assert_int_equal(ds.n_users, 2);
    assert_int_equal(ds.user_raw[0], 5);
    assert_int_equal(ds.user_raw[1], 7);
    assert_int_equal(ds.n_inter, 5);
    fr_dataset_free(&ds);
    c.max_clients = 1;
    assert_int_equal(fr_experiment_data(&c, &ds, &err), FR_ERR_USAGE);
    assert_string_equal(err.msg, "[data] top_users (2) and max_clients (1) both choose users; "
                                 "set one of them");
    assert_null(ds.user_ptr);
    fr_dataset_free(&ds);
}

static void test_ml100k_dir_with_metadata(void **state) {
    (void)state;
    const char *dir = make_dir("ml100k");
    tu_write("ml100k/u.data", "1\t1\t5\t874965758\n2\t1682\t4\t876893171\n");
    tu_write("ml100k/u.item",
             "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
             "1682|Scream of Stone (Schrei aus Stein) (1991)|08-Mar-1996||"
             "http://y|0|0|0|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0\n"
             "50|Caf\xE9 (1996)|01-Jan-1996||http://z|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n");
    tu_write("ml100k/u.user", "1|24|M|technician|85711\n2|53|F|other|94043\n");
    fr_dataset ds;
    load_ok(dir, FR_FORMAT_AUTO, &ds);
    assert_int_equal(ds.format, FR_FORMAT_ML100K);
    assert_string_equal(ds.items_meta->title[0], "Toy Story (1995)");
    assert_string_equal(ds.items_meta->genres[0], "Animation|Children's|Comedy");
    assert_string_equal(ds.items_meta->genres[1], "Drama");
    assert_int_equal(ds.users_meta->age[1], 53);
    assert_int_equal(ds.users_meta->gender[1], 'F');
    assert_string_equal(ds.users_meta->occupation[0], "technician");
    fr_dataset_free(&ds);
}

static void test_latin1_to_utf8_title(void **state) {
    (void)state;
    const char *dir = make_dir("latin1");
    tu_write("latin1/u.data", "1\t50\t5\t1\n");
    tu_write("latin1/u.item",
             "50|Caf\xE9 \xFF (1996)|01-Jan-1996||http://z|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n");
    fr_dataset ds;
    load_ok(dir, FR_FORMAT_AUTO, &ds);
    const unsigned char *t = (const unsigned char *)ds.items_meta->title[0];
    assert_int_equal(strlen((const char *)t), 15);
    assert_int_equal(t[3], 0xC3);
    assert_int_equal(t[4], 0xA9);
    assert_int_equal(t[6], 0xC3);
    assert_int_equal(t[7], 0xBF);
    assert_string_equal(ds.items_meta->genres[0], "unknown");
    fr_dataset_free(&ds);
}

/* ---- bad input -------------------------------------------------------------------- */

static void test_missing_and_empty(void **state) {
    (void)state;
    char path[700], expect[1200];
    snprintf(path, sizeof path, "%s/no-such-file.dat", tu_tmpdir());
    snprintf(expect, sizeof expect, "%s: cannot open: No such file or directory", path);
    load_fails(path, FR_FORMAT_AUTO, expect);
    file_fails("empty.dat", "", FR_FORMAT_AUTO, ": empty file");
    file_fails("blank.dat", "\n  \r\n\n", FR_FORMAT_AUTO, ": empty file");
    file_fails("header-only.csv", "user,item,rating\r\n", FR_FORMAT_AUTO,
               ": no interactions");
    file_fails("users-only.seq", "1\n2\n3\n", FR_FORMAT_SEQ, ": no interactions");
    file_fails("words.txt", "hello world\n", FR_FORMAT_AUTO,
               ": unrecognised format (use --format movielens, ml100k, csv, tsv, seq or "
               "pairs)");
    const char *dir = make_dir("nothing-here");
    tu_write("nothing-here/README", "no ratings\n");
    snprintf(expect, sizeof expect,
             "%s: no ratings file found (looked for ratings.dat, u.data, ratings.csv, "
             "ratings.tsv, user_artists.dat, Beauty.txt)", dir);
    load_fails(dir, FR_FORMAT_AUTO, expect);
}

static void test_bad_lines_ml_dat(void **state) {
    (void)state;
    make_dir("bad");
    file_fails("bad/ratings.dat", "1::2::3::4\n\n1::2::3\n", FR_FORMAT_AUTO,
               ":3: expected 4 fields separated by '::', found 3");
    file_fails("bad/ratings.dat", "1::2::abc::4\n", FR_FORMAT_AUTO,
               ":1: field 'rating': 'abc' is not a number");
    file_fails("bad/ratings.dat", "1::2::3::4\r\n1::2::7::4\r\n", FR_FORMAT_AUTO,
               ":2: field 'rating': 7 is out of range [1, 5]");
    file_fails("bad/ratings.dat", "1::2::0.5::4\n", FR_FORMAT_AUTO,
               ":1: field 'rating': 0.5 is out of range [1, 5]");
    file_fails("bad/ratings.dat", "1::2::nan::4\n", FR_FORMAT_AUTO,
               ":1: field 'rating': nan is out of range [1, 5]");
    file_fails("bad/ratings.dat", "-3::2::3::4\n", FR_FORMAT_AUTO,
               ":1: field 'user': -3 is out of range [0, 9223372036854775807]");
    file_fails("bad/ratings.dat", "1::99999999999999999999::3::4\n", FR_FORMAT_AUTO,
               ":1: field 'item': 99999999999999999999 is out of range "
               "[0, 9223372036854775807]");
    file_fails("bad/ratings.dat", "1.5::2::3::4\n", FR_FORMAT_AUTO,
               ":1: field 'user': '1.5' is not an integer");
    file_fails("bad/ratings.dat", "1::::3::4\n", FR_FORMAT_AUTO,
               ":1: field 'item': '' is not a number");
    file_fails("bad/ratings.dat", "1::2::3::soon\n", FR_FORMAT_AUTO,
               ":1: field 'timestamp': 'soon' is not a number");
    /* A stray carriage return is shown escaped: the message stays one printable line. */
    file_fails("bad/ratings.dat", "1::2::3::4\r\r\n", FR_FORMAT_AUTO,
               ":1: field 'timestamp': '4\\r' is not a number");
    /* The wrong explicit format says what it expected. */
    file_fails("bad/ratings.dat", "1::2::3::4\n", FR_FORMAT_ML100K,
               ":1: expected 4 fields separated by tabs, found 1");
}

static void test_bad_lines_other_formats(void **state) {
    (void)state;
    file_fails("u.data", "1\t2\t3\t4\n1\t2\t6\t4\n", FR_FORMAT_AUTO,
               ":2: field 'rating': 6 is out of range [1, 5]");
    file_fails("u.data", "1\t2\t3\n", FR_FORMAT_AUTO,
               ":1: expected 4 fields separated by tabs, found 3");
    file_fails("w.csv", "user,item,weight\n1,2,-1\n", FR_FORMAT_AUTO,
               ":2: field 'rating': -1 is out of range [0, 1000000000]");
    file_fails("w.csv", "user,item,weight\n1,2,3\n1,2\n", FR_FORMAT_AUTO,
               ":3: expected 3 fields separated by ',', found 2");
    file_fails("w.csv", "user,movie,rating\n1,2,3\n", FR_FORMAT_AUTO,
               ":1: header has no 'item' column");
    file_fails("w.csv", "\nitem,rating\n1,2,3\n", FR_FORMAT_AUTO,
               ":2: header has no 'user' column");
    file_fails("w.tsv", "user\tuid\titem\n1\t2\t3\n", FR_FORMAT_AUTO,
               ":1: header has two 'user' columns ('user' and 'uid')");
    file_fails("w.tsv", "user\titem\tts\r\n1\t2\t3.5\r\n", FR_FORMAT_AUTO,
               ":2: field 'timestamp': '3.5' is not an integer");
    file_fails("s.txt", "1 2 3\n2 x 4\n", FR_FORMAT_SEQ,
               ":2: field 'item': 'x' is not a number");
    file_fails("p.txt", "1 2\n1 2 3\n", FR_FORMAT_PAIRS,
               ":2: expected 2 fields separated by spaces, found 3");
}

static void test_bad_metadata(void **state) {
    (void)state;
    make_dir("badmeta");
    tu_write("badmeta/ratings.dat", "1::2::3::4\n");
    char dir[600];
    snprintf(dir, sizeof dir, "%s/badmeta", tu_tmpdir());
    char movies[700];
    snprintf(movies, sizeof movies, "%s",
             tu_write("badmeta/movies.dat", "2::Two::Drama\n3::Three\n"));
    char expect[1200];
    snprintf(expect, sizeof expect, "%s:2: expected 3 fields separated by '::', found 2",
             movies);
    load_fails(dir, FR_FORMAT_AUTO, expect);
    tu_write("badmeta/movies.dat", "2::Two::Drama\n");
    char users[700];
    snprintf(users, sizeof users, "%s", tu_write("badmeta/users.dat", "1::X::1::10::48067\n"));
    snprintf(expect, sizeof expect, "%s:1: field 'Gender': 'X' is not M or F", users);
    load_fails(dir, FR_FORMAT_AUTO, expect);

    make_dir("badmeta100k");
    tu_write("badmeta100k/u.data", "1\t2\t3\t4\n");
    snprintf(dir, sizeof dir, "%s/badmeta100k", tu_tmpdir());
    char item[700];
    snprintf(item, sizeof item, "%s",
             tu_write("badmeta100k/u.item", "2|Two|x||y|0|0|0|0|0|0|0|0|2|0|0|0|0|0|0|0|0|0|0\n"));
    snprintf(expect, sizeof expect, "%s:1: field 'Drama': 2 is out of range [0, 1]", item);
    load_fails(dir, FR_FORMAT_AUTO, expect);
}

static void test_synthetic_is_not_a_file(void **state) {
    (void)state;
    fr_dataset ds;
    fr_error err = { { 0 } };
    assert_int_equal(fr_dataset_load("x", FR_FORMAT_SYNTHETIC, &ds, &err), FR_ERR_USAGE);
    assert_null(ds.user_ptr);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ml_dat),
        cmocka_unit_test(test_ml100k),
        cmocka_unit_test(test_csv_header_synonyms_crlf),
        cmocka_unit_test(test_csv_bom_and_quotes),
        cmocka_unit_test(test_tsv_reordered_columns),
        cmocka_unit_test(test_lastfm_style_tsv),
        cmocka_unit_test(test_seq),
        cmocka_unit_test(test_pairs),
        cmocka_unit_test(test_recognition_by_content),
        cmocka_unit_test(test_ml1m_dir_with_metadata),
        cmocka_unit_test(test_limit_users_remaps_metadata),
        cmocka_unit_test(test_top_users_moves_metadata),
        cmocka_unit_test(test_experiment_data_top_users),
        cmocka_unit_test(test_ml100k_dir_with_metadata),
        cmocka_unit_test(test_latin1_to_utf8_title),
        cmocka_unit_test(test_missing_and_empty),
        cmocka_unit_test(test_bad_lines_ml_dat),
        cmocka_unit_test(test_bad_lines_other_formats),
        cmocka_unit_test(test_bad_metadata),
        cmocka_unit_test(test_synthetic_is_not_a_file),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    tu_tmpdir_cleanup();
    return failed;
}
