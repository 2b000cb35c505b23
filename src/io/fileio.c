/* fileio.c - whole-file reads, atomic writes and mkdir -p.
 *
 * An atomic write goes to "PATH.tmp.PID" in the same directory (so the final rename
 * stays on one file system), is flushed, fsync'ed and closed, and is then renamed over
 * PATH; POSIX rename() replaces the target in one step, so a reader sees the old file or
 * the new one. On any failure the temporary is deleted. The directory entry itself is
 * fsync'ed on a best-effort basis after the rename.
 *
 * Leaves out: Windows, locking between concurrent writers of the same PATH (the last
 * rename wins), and preserving the permissions of a file being replaced.
 */
#include "fedrec/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "fedrec/alloc.h"

fr_status fr_read_file(const char *path, char **data, size_t *len, fr_error *err) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return fr_fail(err, FR_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        int e = errno;
        fclose(f);
        return fr_fail(err, FR_ERR_INPUT, "%s: cannot open: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        fclose(f);
        return fr_fail(err, FR_ERR_INPUT, "%s: is a directory", path);
    }
    /* st_size is only a hint: pipes and /proc files report 0, and files can grow. */
    size_t cap = 4096;
    if (S_ISREG(st.st_mode) && st.st_size > 0 && (uintmax_t)st.st_size < SIZE_MAX - 1)
        cap = (size_t)st.st_size + 1;
    char *buf = fr_realloc(NULL, cap, 1);
    if (!buf) {
        fclose(f);
        return fr_nomem(err, path, cap);
    }
    size_t n = 0;
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > SIZE_MAX / 2) {
                fr_free(buf);
                fclose(f);
                return fr_nomem(err, path, SIZE_MAX);
            }
            char *bigger = fr_realloc(buf, cap * 2, 1);
            if (!bigger) {
                fr_free(buf);
                fclose(f);
                return fr_nomem(err, path, cap * 2);
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        int e = errno;
        fr_free(buf);
        fclose(f);
        return fr_fail(err, FR_ERR_IO, "%s: read failed (%s)", path, strerror(e));
    }
    fclose(f);
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return FR_OK;
}

fr_status fr_atomic_open(fr_atomic_file *af, const char *path, fr_error *err) {
    memset(af, 0, sizeof *af);
    size_t plen = strlen(path);
    if (plen == 0) return fr_fail(err, FR_ERR_IO, "cannot write a file with an empty name");
    if (plen >= sizeof af->path)
        return fr_fail(err, FR_ERR_IO, "%.64s...: path too long (%zu bytes, max %zu)", path,
                       plen, sizeof af->path - 1);
    memcpy(af->path, path, plen + 1);
    snprintf(af->tmp, sizeof af->tmp, "%s.tmp.%ld", path, (long)getpid());
    af->f = fopen(af->tmp, "wb");
    if (!af->f) {
        int e = errno;
        af->tmp[0] = '\0';
        return fr_fail(err, FR_ERR_IO, "%s: cannot create temporary file (%s)", path,
                       strerror(e));
    }
    return FR_OK;
}

/* Fsyncs the directory holding path so the rename itself survives a crash. Best
 * effort: some file systems refuse to fsync directories, and the data is safe anyway. */
static void fsync_parent_dir(const char *path) {
    char dir[sizeof ((fr_atomic_file *)0)->path];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) {
        snprintf(dir, sizeof dir, ".");
    } else if (slash == dir) {
        dir[1] = '\0';
    } else {
        *slash = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return;
    (void)fsync(fd);
    close(fd);
}

/* Deletes the temporary, forgets it, and fails with "PATH: what (strerror(e))". */
static fr_status atomic_fail(fr_atomic_file *af, fr_error *err, const char *what, int e) {
    if (af->tmp[0]) unlink(af->tmp);
    af->tmp[0] = '\0';
    af->f = NULL;
    return fr_fail(err, FR_ERR_IO, "%s: %s (%s)", af->path, what, strerror(e));
}

fr_status fr_atomic_commit(fr_atomic_file *af, fr_error *err) {
    if (!af->f) return fr_fail(err, FR_ERR_IO, "%s: commit of a file that is not open", af->path);
    FILE *f = af->f;
    errno = 0;
    /* fwrite errors are sticky, so ferror() catches a failed write made long ago. */
    if (fflush(f) != 0 || ferror(f)) {
        int e = errno ? errno : EIO;
        fclose(f);
        return atomic_fail(af, err, "write failed", e);
    }
    if (fsync(fileno(f)) != 0) {
        int e = errno;
        fclose(f);
        return atomic_fail(af, err, "fsync failed", e);
    }
    af->f = NULL;
    if (fclose(f) != 0) return atomic_fail(af, err, "close failed", errno);
    if (rename(af->tmp, af->path) != 0) {
        int e = errno;
        char what[sizeof af->tmp + 32];
        snprintf(what, sizeof what, "cannot rename %s", af->tmp);
        return atomic_fail(af, err, what, e);
    }
    af->tmp[0] = '\0';
    fsync_parent_dir(af->path);
    return FR_OK;
}

void fr_atomic_abort(fr_atomic_file *af) {
    if (af->f) fclose(af->f);
    af->f = NULL;
    if (af->tmp[0]) unlink(af->tmp);
    af->tmp[0] = '\0';
}

fr_status fr_write_atomic(const char *path, const void *data, size_t len, fr_error *err) {
    fr_atomic_file af;
    fr_status st = fr_atomic_open(&af, path, err);
    if (st != FR_OK) return st;
    if (len > 0 && fwrite(data, 1, len, af.f) != len) {
        int e = errno ? errno : EIO;
        fr_atomic_abort(&af);
        return fr_fail(err, FR_ERR_IO, "%s: write failed (%s)", path, strerror(e));
    }
    return fr_atomic_commit(&af, err);
}

/* mkdir for one prefix; an existing directory is fine, anything else existing is not. */
static int mkdir_one(const char *dir) {
    if (mkdir(dir, 0777) == 0) return 0;
    int e = errno;
    if (e == EEXIST) {
        if (fr_is_dir(dir)) return 0;
        e = ENOTDIR;
    }
    errno = e;
    return -1;
}

fr_status fr_mkdirs(const char *path, fr_error *err) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0) return fr_fail(err, FR_ERR_IO, "cannot create a directory with an empty name");
    if (n >= sizeof buf)
        return fr_fail(err, FR_ERR_IO, "%.64s...: path too long (%zu bytes)", path, n);
    memcpy(buf, path, n + 1);
    /* Create each prefix ending before a '/', skipping the root and repeated slashes. */
    for (size_t i = 1; i < n; i++) {
        if (buf[i] != '/' || buf[i - 1] == '/') continue;
        buf[i] = '\0';
        if (mkdir_one(buf) != 0) {
            int e = errno;
            return fr_fail(err, FR_ERR_IO, "%s: cannot create directory %s (%s)", path, buf,
                           strerror(e));
        }
        buf[i] = '/';
    }
    if (mkdir_one(buf) != 0) {
        int e = errno;
        return fr_fail(err, FR_ERR_IO, "%s: cannot create directory (%s)", path, strerror(e));
    }
    return FR_OK;
}

int fr_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* True for anything that exists (a directory included), as stat() sees it. */
int fr_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}
