/* textenc.h - a deterministic, built-in stand-in for a sentence encoder.
 *
 * The reference systems turn user profiles and item titles/genres into vectors with a
 * pretrained sentence encoder (MiniLM, the Universal Sentence Encoder). fedrec cannot
 * ship or download model weights, so it offers feature hashing instead: texts that
 * share words, word pairs and character 3-grams get close vectors, and nothing else
 * (no synonyms, no word order beyond pairs, no semantics). It is a stand-in, not a
 * reproduction: figures computed with it are not the reference systems' figures. To
 * use a real encoder, compute the embeddings in Python and load them with fr_npy_read
 * (npy.h).
 *
 * Leaves out: Unicode case folding and normalisation (only ASCII letters are
 * lower-cased), stop words, IDF weighting, and texts longer than FR_TEXT_MAX_BYTES.
 */
#ifndef FEDREC_TEXTENC_H
#define FEDREC_TEXTENC_H

#include <stddef.h>
#include <stdint.h>
#include "fedrec/dataset.h"
#include "fedrec/status.h"

/* Only words that end within the first FR_TEXT_MAX_BYTES bytes of a text are encoded
 * (a sentence encoder truncates too: all-MiniLM-L6-v2 at 256 word pieces). Profile and
 * title texts are far shorter. */
#define FR_TEXT_MAX_BYTES 2048

/* Feature hashing of TEXT (NUL-terminated UTF-8; NULL reads as "") into out [dim].
 *
 * Words are maximal runs of ASCII letters (lower-cased), ASCII digits and bytes >= 0x80
 * (so UTF-8 letters stay inside words); every other byte separates words. The features
 * are each word ("w"), each pair of adjacent words ("b"), and each character 3-gram of
 * each word padded as "^word$" ("c"; a character is one UTF-8 sequence). A feature is
 * hashed with 64-bit FNV-1a over (seed, kind, bytes), finalised with MurmurHash3's
 * fmix64, to a bucket (hash mod dim) and a sign (the top bit); a feature occurring tf
 * times adds sign * (1 + ln tf) to its bucket, and the vector is then L2-normalised.
 * A text without words gives all zeros.
 *
 * Same text, dim and seed give the same bits on every machine: features are summed in
 * a fixed order (ascending hash) in float, ln is computed with + - * / only, and the
 * norm with sqrt, all of which IEEE 754 rounds exactly; no product and sum share an
 * expression, so no compiler fuses them into an FMA (fedrec builds without
 * -ffast-math, which would allow more). dim < 1 writes nothing.
 * Uses no heap memory (about 32 KB of stack) and never fails. */
void fr_text_encode(const char *text, int32_t dim, uint64_t seed, float *out /*[dim]*/);

/* The profile sentence of a user (dense id) from ds->users_meta, e.g.
 * "gender: male; age: 25-34; occupation: programmer; zip code: 55117". Unknown fields
 * are left out; a data set without user metadata, or a user without a metadata line,
 * gives "". For MovieLens-1M (ds->format FR_FORMAT_ML_DAT) the age group codes
 * 1/18/25/35/45/50/56 and occupation codes 0-20 are written as the names in its README
 * ("Under 18", "25-34", "other", "programmer", ...; a code outside those tables is
 * written as the number); MovieLens-100K's ages are numbers and its occupations words
 * already, written as they are.
 * Writes at most cap bytes including the terminator (buf may be NULL when cap is 0) and
 * returns the length the whole text needs, excluding the terminator, as snprintf does. */
size_t fr_user_profile_text(const fr_dataset *ds, int32_t user, char *buf, size_t cap);

/* The text of an item (dense id) from ds->items_meta,
 * "title: Toy Story (1995); genres: Animation, Children's, Comedy"; an unknown title or
 * genre list is left out (so an item without metadata gives ""). Same buffer contract
 * as fr_user_profile_text. */
size_t fr_item_text(const fr_dataset *ds, int32_t item, char *buf, size_t cap);

/* Encodes every user's profile (every item's text) with fr_text_encode into a new
 * matrix *out [n_users x dim] ([n_items x dim]), row u for dense user u, which the
 * caller frees with fr_free. Users (items) without metadata get the encoding of an
 * empty text: a zero row. Fails with FR_ERR_INPUT "SOURCE: no user metadata ..." when
 * ds carries no users.dat/u.user (movies.dat/u.item), FR_ERR_USAGE when dim < 1, and
 * FR_ERR_NOMEM; on failure *out is NULL. */
fr_status fr_user_text_features(const fr_dataset *ds, int32_t dim, uint64_t seed, float **out,
                                fr_error *err);
fr_status fr_item_text_features(const fr_dataset *ds, int32_t dim, uint64_t seed, float **out,
                                fr_error *err);

#endif
