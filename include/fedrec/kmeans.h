/* kmeans.h - weighted k-means (k-means++ seeding, Lloyd iterations) over float rows.
 *
 * Source: FedMem's prototypes (shared/reference/002, "核心算法 / 2. Prototype
 * Aggregation": extract_prototypes clusters the memory's text embeddings into K
 * centroids, and the server's "方法3: 重新聚类" clusters all uploaded centroids again).
 * Seeding is k-means++ (Arthur & Vassilvitskii, "k-means++: the advantages of careful
 * seeding", SODA 2007) in place of the document's random_init(K, D).
 *
 * Distance: squared Euclidean, as the document's `distances = cdist(X, centroids)`
 * (torch.cdist, p = 2) with centroids updated by `X[mask].mean(dim=0)`, the point that
 * minimises the squared Euclidean distance to its members. For L2-normalised sentence
 * embeddings |x - c|^2 = 2 - 2 cos(x, c) when c is unit length too, so the assignment is
 * the cosine one up to the centroids' norms; no normalisation is done here.
 *
 * Weights: point i counts w_i times (w_i >= 0, real). Seeding picks point i with
 * probability proportional to w_i D(x_i)^2, a centroid is the weighted mean of its
 * members and the inertia is sum_i w_i |x_i - c_a(i)|^2. Integer weights give the
 * clustering of the data with each point repeated w_i times (up to rounding and the
 * random draw). NULL weights mean w_i = 1 exactly.
 *
 * Dimension letters: n points, d a point's length, K clusters asked for, k clusters
 * returned (k <= K).
 *
 * Deterministic: the only randomness is the stream (seed, round, stream,
 * FR_PURPOSE_KMEANS); distances and means are plain loops summed in double in index
 * order; ties go to the lower centroid index. No threads are started.
 */
#ifndef FEDREC_KMEANS_H
#define FEDREC_KMEANS_H

#include <stdint.h>
#include "fedrec/status.h"

typedef struct fr_kmeans_opts {
    int32_t max_iter; /* Lloyd iterations at most (>= 0); 0 returns the seeds, assigned */
    double tol;       /* stop once no centroid moved by tol or more (Euclidean, >= 0);
                       * 0 stops only when the assignment repeats */
    uint64_t seed;    /* the seeding stream is (seed, round, stream, FR_PURPOSE_KMEANS) */
    uint32_t round;
    uint32_t stream;  /* e.g. the client id; the server may use any fixed value */
} fr_kmeans_opts;

typedef struct fr_kmeans_result {
    int32_t k;       /* centroids returned: K, or fewer when the points with positive
                      * weight hold fewer than K distinct rows (K > n included) */
    int32_t iters;   /* Lloyd iterations run (update + assignment), 0 .. max_iter */
    int converged;   /* 1 when an iteration left every assignment unchanged or moved no
                      * centroid by tol or more; 0 when max_iter stopped it */
    double inertia;  /* sum_i w_i |x_i - c_assign[i]|^2 for the returned centroids */
} fr_kmeans_result;

/* Clusters x[n x d] (row-major) into at most K clusters.
 *
 * Seeding: k-means++ draws the first centre with probability w_i / sum w, each next one
 * with probability w_i D_i^2 / sum_j w_j D_j^2 (D_i the distance to the nearest centre
 * chosen so far). A point at distance 0 is never drawn, so the seeds are distinct rows;
 * when every remaining weighted point sits on a chosen centre the seeding stops early
 * and res->k < K (this is how K > n and duplicate rows are handled: no error).
 * Lloyd: each iteration moves every centroid to the weighted mean of its members, then
 * reassigns every point to its nearest centroid (ties: lower index). A cluster whose
 * members have total weight 0 (empty) keeps its previous centroid, as the document's
 * `if mask.sum() > 0` does. The loop stops when the assignment did not change, when the
 * largest centroid movement of the iteration is below tol, or after max_iter
 * iterations. The returned assignment and inertia always belong to the returned
 * centroids.
 *
 * Outputs (caller-allocated): centroids[K x d], rows 0 .. res->k - 1 filled, the rest
 * set to 0; assign[n] (may be NULL) gets each point's centroid in 0 .. res->k - 1;
 * res. w[n] may be NULL (all weights 1).
 * Errors, leaving the outputs unspecified: FR_ERR_USAGE for NULL x, centroids, res or o,
 * n, d or K < 1, max_iter < 0, tol negative or not finite, a weight negative or not
 * finite, or all weights 0; FR_ERR_INPUT for a non-finite entry of x; FR_ERR_NOMEM for
 * the O(n + K d) scratch. */
fr_status fr_kmeans(float *centroids, int32_t *assign, fr_kmeans_result *res, const float *x,
                    const double *w, int32_t n, int32_t d, int32_t K, const fr_kmeans_opts *o,
                    fr_error *err);

/* The k-means++ seeding alone: writes the indices of the chosen rows to idx[K] in the
 * order drawn and their number to *k (k <= K, see above). fr_kmeans starts from exactly
 * these rows. Same argument checks and errors as fr_kmeans (max_iter and tol are not
 * used); on failure *k is 0. */
fr_status fr_kmeans_seed(int32_t *idx, int32_t *k, const float *x, const double *w, int32_t n,
                         int32_t d, int32_t K, const fr_kmeans_opts *o, fr_error *err);

#endif
