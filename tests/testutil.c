/* testutil.c - temporary directories and files for tests. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
