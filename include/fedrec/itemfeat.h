/* itemfeat.h - item feature matrices (text, image) in the dataset's dense item order,
 * for the multimodal experts of model mmrec (mmrec.h; settings mm.text_features,
 * mm.image_features, mm.feature_map, mm.text_dim).
 *
 * Features are computed outside fedrec (a sentence encoder, an image model) and stored
 * as a float .npy matrix [R x D] (npy.h); fedrec picks one row per item of the data:
 *   - without a map file, item i's row is its raw integer id, so MovieLens-1M's
 *     movies 1..3952 take rows 1..3952 of a [3953 x D] matrix (row 0 unused);
 *   - with a map file, lines "raw_item_id row" (whitespace separated, '#' starts a
 *     comment, blank lines ignored) give each item's row.
 * Rows no item of the data uses, and map lines for items the data does not have, are
 * ignored, so one matrix serves every subset of a catalogue (max_clients, top_users).
 * docs/formats.md describes both files.
 *
 * Leaves out: computing features (except the built-in hashing encoder of textenc.h),
 * normalising them, and features for users.
 */
#ifndef FEDREC_ITEMFEAT_H
#define FEDREC_ITEMFEAT_H

#include <stdint.h>
#include "fedrec/dataset.h"
#include "fedrec/status.h"

/* Loads the .npy matrix at npy_path and gathers one row per item of ds into a new
 * matrix *out [ds->n_items x D] (dense item i = i-th smallest raw id), which the caller
 * frees with fr_free; *dim = D, the matrix's column count. map_path NULL or "" means
 * row = raw item id; otherwise the map file gives the rows.
 *
 * Errors, all FR_ERR_INPUT with one line, *out NULL and *dim 0:
 *   the matrix cannot be read, or has a NaN/Inf value ("NPY: data: row 2, column 1
 *     (0-based) is NaN", from fr_npy_read), or has no columns;
 *   a map line that does not parse ("MAP:LINE: field 'row': 'x' is not a number", or
 *     the wrong number of fields), whose row is not a row of the matrix
 *     ("MAP:LINE: field 'row': 9 is not a row of NPY, which has 4 rows"), or whose
 *     raw_item_id was mapped on an earlier line ("MAP:LINE: raw_item_id 12 is mapped
 *     already on line 3");
 *   an item of the data without a row: "MAP: no line for item 42 (raw id) of the data
 *     SOURCE", or without a map "NPY: item 3953 (raw id) has no row: the matrix has
 *     3953 rows and row = raw item id without a feature map".
 * The map's syntax is checked (first bad line reported) before duplicates, and both
 * before missing items. FR_ERR_NOMEM when out of memory. */
fr_status fr_itemfeat_load(const fr_dataset *ds, const char *npy_path, const char *map_path,
                           float **out, int32_t *dim, fr_error *err);

/* The items' text features for mmrec: fr_itemfeat_load(npy_path, map_path) when
 * npy_path is set (not NULL or ""), else the built-in hashing encoder of the items'
 * titles and genres, fr_item_text_features(ds, text_dim, seed) with *dim = text_dim
 * (map_path is not used then). Without npy_path and without item metadata (no
 * movies.dat or u.item beside the data) it fails with FR_ERR_INPUT
 * "SOURCE: no item text features: mm.text_features is empty and ...". Same ownership
 * and failure contract as fr_itemfeat_load; FR_ERR_USAGE when text_dim < 1 for the
 * built-in encoder. */
fr_status fr_itemfeat_text(const fr_dataset *ds, const char *npy_path, const char *map_path,
                           int32_t text_dim, uint64_t seed, float **out, int32_t *dim,
                           fr_error *err);

#endif
