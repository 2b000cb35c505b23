/* testutil.c - temporary directories and files for tests, gradient-check helpers and
 * user-graph checks. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fedrec/graph.h"
#include "fedrec/rng.h"

static char g_dir[512];

const char *tu_tmpdir(void) {
    if (g_dir[0]) return g_dir;
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    snprintf(g_dir, sizeof g_dir, "%s/fedrec-test-XXXXXX", base);
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        exit(1);
    }
    return g_dir;
}

void tu_tmpdir_cleanup(void) {
    if (!g_dir[0]) return;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", g_dir);
    g_dir[0] = 0;
}

const char *tu_write(const char *name, const char *text) {
    static char paths[8][700];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 700, "%s/%s", tu_tmpdir(), name);
    FILE *f = fopen(p, "wb");
    if (!f) {
        perror(p);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
    return p;
}

const char *tu_shared_data(const char *name) {
    static char p[1024];
    const char *src = getenv("FR_SOURCE_DIR");
    snprintf(p, sizeof p, "%s/../shared/data/%s", src ? src : ".", name);
    return tu_exists(p) ? p : NULL;
}

int tu_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

void tu_fill_normal(float *x, int64_t n, uint64_t seed, uint32_t stream, double sd) {
    fr_rng r;
    fr_rng_init(&r, seed, 0, stream, FR_PURPOSE_EVAL);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(sd * fr_rng_normal(&r));
}

double tu_project(const float *out, const float *r, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)out[i] * r[i];
    return s;
}

double tu_rel_diff(const float *a, const float *b, int64_t n) {
    double num = 0.0, den = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        num = fmax(num, fabs((double)a[i] - b[i]));
        den = fmax(den, fabs((double)b[i]));
    }
    return num / den;
}

double tu_grad_check(tu_loss_fn f, void *ctx, float *x, const float *dx, int64_t n, float h) {
    double gmax = 1e-3, worst = 0.0;
    for (int64_t i = 0; i < n; i++) gmax = fmax(gmax, fabs(dx[i]));
    for (int64_t i = 0; i < n; i++) {
        const float x0 = x[i];
        x[i] = x0 + h;
        double up = f(ctx), xu = x[i];
        x[i] = x0 - h;
        double dn = f(ctx), xd = x[i];
        x[i] = x0;
        double num = (up - dn) / (xu - xd);
        double rel = fabs(num - dx[i]) / fmax(1e-2 * gmax, fabs(num) + fabs(dx[i]));
        worst = fmax(worst, rel);
    }
    return worst;
}

void tu_unit_direction(float *v, int64_t n, int64_t skip, uint32_t stream) {
    fr_rng r;
    fr_rng_init(&r, 77, stream, 0, FR_PURPOSE_EVAL);
    double norm = 0.0;
    for (int64_t i = 0; i < n; i++) {
        v[i] = i < skip ? 0.0f : (float)fr_rng_normal(&r);
        norm += (double)v[i] * v[i];
    }
    for (int64_t i = 0; i < n; i++) v[i] = (float)(v[i] / sqrt(norm));
}

/* ---- user graphs (graph.h) ---- */

void tu_graph_check_rows(const fr_graph *g) {
    assert_true(g->off[0] == 0);
    for (int32_t i = 0; i < g->n; i++) {
        assert_true(g->off[i + 1] > g->off[i]);
        double sum = 0.0;
        for (int64_t e = g->off[i]; e < g->off[i + 1]; e++) {
            assert_true(g->nbr[e] >= 0 && g->nbr[e] < g->n);
            if (e > g->off[i]) assert_true(g->nbr[e] > g->nbr[e - 1]);
            assert_true(g->w[e] >= 0.0f);
            sum += g->w[e];
        }
        if (fabs(sum - 1.0) > 1e-5) fail_msg("row %d sums to %.9g", i, sum);
    }
}

void tu_graph_assert_same(const fr_graph *a, const fr_graph *b) {
    assert_int_equal(a->n, b->n);
    assert_memory_equal(a->off, b->off, (size_t)(a->n + 1) * sizeof(int64_t));
    assert_memory_equal(a->nbr, b->nbr, (size_t)a->off[a->n] * sizeof(int32_t));
    assert_memory_equal(a->w, b->w, (size_t)a->off[a->n] * sizeof(float));
}

void tu_graph_build_ok(fr_graph *g, const float *x, int32_t n, int64_t dim,
                       const fr_graph_opts *o) {
    fr_error err = { "" };
    fr_status st = fr_graph_build(g, x, n, dim, o, &err);
    if (st != FR_OK) fail_msg("fr_graph_build: %s", err.msg);
    tu_graph_check_rows(g);
}

double *tu_graph_dense(const fr_graph *g) {
    double *s = calloc((size_t)g->n * g->n, sizeof(double));
    for (int32_t i = 0; i < g->n; i++)
        for (int64_t e = g->off[i]; e < g->off[i + 1]; e++)
            s[(int64_t)i * g->n + g->nbr[e]] = g->w[e];
    return s;
}
