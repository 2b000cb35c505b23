/* ncf.h - the scorers of the implicit-feedback federated recommenders (issue 5): a
 * logit z for a (user, item) pair, trained with binary cross-entropy on clicks.
 *
 *   dot    (FedMF):             z = u . q
 *   affine (PFedRec):           z = w . q + b            (no user vector: the client's
 *                                                        own w, b play that role)
 *   mlp    (FedNCF, GPFedRec):  z = MLP([u ; q]), layers 2K -> h1 -> h2 -> h3 -> 1, ReLU
 *                               between them (model.activation = none: a linear stack,
 *                               as UFGraphFR's code)
 * u is the user vector (a local embedding, or UFGraphFR's joint layer on text), q the
 * item's row of the item table. Zhang et al. (PFedRec, IJCAI 2023; GPFedRec, KDD 2024)
 * and He et al. (NCF, WWW 2017) for the shapes.
 *
 * The loss is fr_bce_logits (loss.h). Scorer parameters s[] are one flat vector: per layer W [in x out] then b [out]. They
 * are initialised as PyTorch's nn.Linear: U(-1/sqrt(in), 1/sqrt(in)) for W and b.
 * Dimension letters: N examples in a batch, K the embedding size.
 */
#ifndef FEDREC_NCF_H
#define FEDREC_NCF_H

#include <stdint.h>
#include "fedrec/rng.h"
#include "fedrec/status.h"

typedef enum fr_ncf_scorer { FR_NCF_DOT, FR_NCF_AFFINE, FR_NCF_MLP } fr_ncf_scorer;

#define FR_NCF_MAX_LAYERS 4

typedef struct fr_ncf_cfg {
    fr_ncf_scorer scorer;
    int32_t dim;                        /* K */
    int32_t n_layers;                   /* MLP: linear layers including the output one */
    int32_t width[FR_NCF_MAX_LAYERS + 1]; /* MLP: widths, width[0] = 2K, last = 1 */
    int relu;                           /* MLP: ReLU after every layer but the last */
} fr_ncf_cfg;

/* Fills c for a scorer; hidden[n_hidden] are the MLP's hidden widths (ignored for dot
 * and affine). FR_ERR_USAGE for more than FR_NCF_MAX_LAYERS - 1 hidden layers. */
fr_status fr_ncf_cfg_init(fr_ncf_cfg *c, fr_ncf_scorer scorer, int32_t dim,
                          const int32_t *hidden, int32_t n_hidden, int relu, fr_error *err);

/* Floats of the scorer's parameters (0 for dot). */
int64_t fr_ncf_scorer_size(const fr_ncf_cfg *c);
void fr_ncf_scorer_init(const fr_ncf_cfg *c, float *s, fr_rng *rng);

/* Work space for batches of up to cap examples. */
typedef struct fr_ncf_work fr_ncf_work;
fr_status fr_ncf_work_create(fr_ncf_work **w, const fr_ncf_cfg *c, int64_t cap, fr_error *err);
void fr_ncf_work_destroy(fr_ncf_work *w);

/* z[N] for user rows u[N x K] (NULL for affine) and item rows q[N x K], N <= cap. The
 * work space keeps what backward needs. */
void fr_ncf_forward(fr_ncf_work *w, const fr_ncf_cfg *c, const float *s, const float *u,
                    const float *q, int64_t n, float *z);
/* Backward of the last forward for dz[N]: ds += (may be NULL: scorer frozen),
 * du[N x K] = (overwritten; may be NULL), dq[N x K] = (overwritten). */
void fr_ncf_backward(fr_ncf_work *w, const fr_ncf_cfg *c, const float *s, const float *u,
                     const float *q, int64_t n, const float *dz, float *ds, float *du,
                     float *dq);

#endif
