/* file.c — whole-file reads and atomic writes (temp file + fsync + rename), so
** a crash or a full disk never leaves a half-written checkpoint behind. */
#define _POSIX_C_SOURCE 200809L
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* global: disk-full fault injector for tests (STYLE 10). */
static long fail_write_at = -1;
void wf_file_fail_write_at(long n) { fail_write_at = n; }
static int injected_enospc(void) {
    if (fail_write_at < 0) return 0;
    return fail_write_at-- == 0;
}

wf_status wf_file_read(wf_heap *h, const char *path, char **out, size_t *len, wf_err *err) {
    *out = NULL;
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return WF_FAIL(err, WF_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return WF_FAIL(err, WF_EIO, "%s: not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    char *buf = wf_alloc(h, n + 1, path, err);
    if (!buf) {
        fclose(f);
        return err ? err->code : WF_ENOMEM;
    }
    size_t got = fread(buf, 1, n, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || got != n) {
        wf_free(h, buf);
        return WF_FAIL(err, WF_EIO, "%s: short read (%zu of %zu bytes)", path, got, n);
    }
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return WF_OK;
}

struct wf_afile {
    int fd;
    char *path;
    char *tmp;
};

wf_status wf_afile_open(const char *path, wf_afile **out, wf_err *err) {
    *out = NULL;
    size_t n = strlen(path);
    wf_afile *f = calloc(1, sizeof *f);
    char *p = malloc(n + 1), *t = malloc(n + 16);
    if (!f || !p || !t) {
        free(f); free(p); free(t);
        return WF_FAIL(err, WF_ENOMEM, "%s: out of memory", path);
    }
    memcpy(p, path, n + 1);
    snprintf(t, n + 16, "%s.tmp%ld", path, (long)getpid());
    f->fd = open(t, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (f->fd < 0) {
        wf_status s = WF_FAIL(err, WF_EIO, "%s: cannot create: %s", t, strerror(errno));
        free(f); free(p); free(t);
        return s;
    }
    f->path = p;
    f->tmp = t;
    *out = f;
    return WF_OK;
}

void wf_afile_abort(wf_afile *f) {
    if (!f) return;
    close(f->fd);
    unlink(f->tmp);
    free(f->path);
    free(f->tmp);
    free(f);
}

wf_status wf_afile_write(wf_afile *f, const void *data, size_t n, wf_err *err) {
    const char *p = data;
    while (n > 0) {
        if (injected_enospc()) {
            errno = ENOSPC;
            return WF_FAIL(err, WF_EIO, "%s: write failed: %s", f->path, strerror(ENOSPC));
        }
        ssize_t w = write(f->fd, p, n > (1u << 30) ? (1u << 30) : n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return WF_FAIL(err, WF_EIO, "%s: write failed: %s", f->path, strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
    return WF_OK;
}

wf_status wf_afile_commit(wf_afile *f, wf_err *err) {
    wf_status s = WF_OK;
    if (injected_enospc()) {
        s = WF_FAIL(err, WF_EIO, "%s: fsync failed: %s", f->path, strerror(ENOSPC));
    } else if (fsync(f->fd) != 0) {
        s = WF_FAIL(err, WF_EIO, "%s: fsync failed: %s", f->path, strerror(errno));
    } else if (close(f->fd) != 0) {
        f->fd = -1;
        s = WF_FAIL(err, WF_EIO, "%s: close failed: %s", f->path, strerror(errno));
    } else {
        f->fd = -1;
        if (rename(f->tmp, f->path) != 0)
            s = WF_FAIL(err, WF_EIO, "%s: rename failed: %s", f->path, strerror(errno));
    }
    if (s != WF_OK) {
        if (f->fd >= 0) close(f->fd);
        unlink(f->tmp);
    }
    free(f->path);
    free(f->tmp);
    free(f);
    return s;
}

wf_status wf_file_write_atomic(const char *path, const void *data, size_t n, wf_err *err) {
    wf_afile *f;
    wf_status s = wf_afile_open(path, &f, err);
    if (s) return s;
    s = wf_afile_write(f, data, n, err);
    if (s) {
        wf_afile_abort(f);
        return s;
    }
    return wf_afile_commit(f, err);
}

int wf_path_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int wf_path_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

wf_status wf_mkdir_p(const char *path, wf_err *err) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return WF_FAIL(err, WF_EUSAGE, "%s: bad directory path", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return WF_FAIL(err, WF_EIO, "%s: cannot create directory: %s", buf, strerror(errno));
            buf[i] = c;
        }
    }
    if (!wf_path_is_dir(path)) return WF_FAIL(err, WF_EIO, "%s: exists and is not a directory", path);
    return WF_OK;
}

wf_status wf_path_probe(const char *path, int *found, wf_err *err) {
    struct stat st;
    *found = 0;
    if (stat(path, &st) == 0) {
        *found = 1;
        return WF_OK;
    }
    int e = errno;
    if (e == ENOENT && lstat(path, &st) != 0) return WF_OK;
    return WF_FAIL(err, WF_EIO, "%s: cannot open: %s", path, e == ENOENT ? "dangling symbolic link" : strerror(e));
}
