/* testutil.h - small helpers shared by the tests (cmocka does the asserting). */
#ifndef FEDREC_TESTUTIL_H
#define FEDREC_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "fedrec/graph.h"

/* A fresh directory under $TMPDIR (or /tmp) for this test process; removed by
 * tu_tmpdir_cleanup. Returns its path (static storage). */
const char *tu_tmpdir(void);
void tu_tmpdir_cleanup(void);

/* Writes text to DIR/NAME and returns the full path (static rotating storage). */
const char *tu_write(const char *name, const char *text);

/* Path of ../shared/data/NAME relative to the source tree, or NULL when absent. */
const char *tu_shared_data(const char *name);

/* 1 when the file at path exists. */
int tu_exists(const char *path);

/* Gradient-check helpers shared by the layer tests. */
/* x[n] ~ sd * N(0, 1) from the stream (seed, 0, stream, FR_PURPOSE_EVAL). */
void tu_fill_normal(float *x, int64_t n, uint64_t seed, uint32_t stream, double sd);
/* sum(out * r), in double: a random projection of a layer's output as a scalar loss. */
/* v[n] = a unit vector along N(0, 1) draws (stream (77, stream, 0, EVAL)), its first
 * skip entries 0 (e.g. an embedding's padding row): a random direction for directional
 * derivative checks. */
void tu_unit_direction(float *v, int64_t n, int64_t skip, uint32_t stream);
double tu_project(const float *out, const float *r, int64_t n);
/* A loss evaluated on a case's current inputs (e.g. L = sum(out * R)). */
typedef double (*tu_loss_fn)(void *ctx);
/* Largest relative error between the analytic gradient dx[n] and central differences
 * of f over x[n] with step h (the step actually taken is measured); elements tiny
 * next to the largest gradient are measured against 1% of it. */
double tu_grad_check(tu_loss_fn f, void *ctx, float *x, const float *dx, int64_t n, float h);
/* max |a - b| / max |b|: a norm-wise relative difference. */
double tu_rel_diff(const float *a, const float *b, int64_t n);

/* User graphs (graph.h), shared by test_graph.c and test_graph_agg.c. */
/* Every row sums to 1, has neighbours ascending in [0, n), and non-negative weights. */
void tu_graph_check_rows(const fr_graph *g);
/* Two graphs are bit-identical. */
void tu_graph_assert_same(const fr_graph *a, const fr_graph *b);
/* fr_graph_build, failing the test on an error, then tu_graph_check_rows. */
void tu_graph_build_ok(fr_graph *g, const float *x, int32_t n, int64_t dim,
                       const fr_graph_opts *o);
/* S[n x n] = g as a dense matrix (calloc; the caller frees). */
double *tu_graph_dense(const fr_graph *g);

#endif
