/* file.c — whole-file reads that never block on a FIFO or device, atomic
** writes (temp file + fsync + rename), so a crash or a full disk never leaves
** a half-written checkpoint behind, and the writer for user-named outputs,
** which is atomic for regular files and writes through to special files. */
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

static const char *kind_of(mode_t m) {
    return S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device"
         : S_ISSOCK(m) ? "a socket" : S_ISDIR(m) ? "a folder" : "not a plain file";
}

wf_status wf_file_open_read(const char *path, int *fd, uint64_t *size, wf_err *err) {
    *fd = -1;
    if (size) *size = 0;
    /* O_NONBLOCK: opening a FIFO with no writer (or a tty, a modem line)
    ** returns at once instead of waiting; the type check follows. */
    int d = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (d < 0) return WF_FAIL(err, WF_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(d, &st) != 0) {
        wf_status s = WF_FAIL(err, WF_EIO, "%s: cannot stat: %s", path, strerror(errno));
        close(d);
        return s;
    }
    if (!S_ISREG(st.st_mode)) {
        close(d);
        return WF_FAIL(err, WF_EIO, "%s: not a regular file (%s)", path, kind_of(st.st_mode));
    }
    int fl = fcntl(d, F_GETFL);
    if (fl >= 0) fcntl(d, F_SETFL, fl & ~O_NONBLOCK);
    *fd = d;
    if (size) *size = (uint64_t)st.st_size;
    return WF_OK;
}

wf_status wf_file_read(wf_heap *h, const char *path, char **out, size_t *len, wf_err *err) {
    *out = NULL;
    if (len) *len = 0;
    int fd;
    uint64_t size;
    wf_status s = wf_file_open_read(path, &fd, &size, err);
    if (s) return s;
    size_t n = (size_t)size, got = 0;
    char *buf = wf_alloc(h, n + 1, path, err);
    if (!buf) {
        close(fd);
        return err ? err->code : WF_ENOMEM;
    }
    while (got < n) {
        ssize_t k = read(fd, buf + got, n - got > (1u << 30) ? (1u << 30) : n - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            s = WF_FAIL(err, WF_EIO, "%s: short read (%zu of %zu bytes)%s%s", path, got, n, k < 0 ? ": " : "",
                        k < 0 ? strerror(errno) : "");
            break;
        }
        got += (size_t)k;
    }
    close(fd);
    if (s) {
        wf_free(h, buf);
        return s;
    }
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return WF_OK;
}

struct wf_afile {
    int fd;
    char *path;
    char *tmp;   /* NULL: written through (wf_ofile_open on a FIFO, device, stdout) */
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
    unlink(t); /* a leftover of a crashed run with our PID; never follow a link planted there */
    f->fd = open(t, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
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
    if (f->tmp) unlink(f->tmp);
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
    } else if (f->tmp && fsync(f->fd) != 0) { /* FIFOs and devices have nothing to sync */
        s = WF_FAIL(err, WF_EIO, "%s: fsync failed: %s", f->path, strerror(errno));
    } else if (close(f->fd) != 0) {
        f->fd = -1;
        s = WF_FAIL(err, WF_EIO, "%s: close failed: %s", f->path, strerror(errno));
    } else {
        f->fd = -1;
        if (f->tmp && rename(f->tmp, f->path) != 0)
            s = WF_FAIL(err, WF_EIO, "%s: rename failed: %s", f->path, strerror(errno));
    }
    if (s != WF_OK) {
        if (f->fd >= 0) close(f->fd);
        if (f->tmp) unlink(f->tmp);
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

/* The descriptor N that /dev/stdout, /dev/stderr, /dev/fd/N or
** /proc/self/fd/N name, or -1. Reopening those would start a regular file
** at offset 0; a dup shares the offset the shell set up. */
static int own_fd(const char *path) {
    if (!strcmp(path, "/dev/stdout")) return 1;
    if (!strcmp(path, "/dev/stderr")) return 2;
    const char *d = !strncmp(path, "/dev/fd/", 8) ? path + 8 : !strncmp(path, "/proc/self/fd/", 14) ? path + 14 : NULL;
    if (!d || !*d) return -1;
    long v = 0;
    for (; *d; d++) {
        if (*d < '0' || *d > '9' || v > 1000000) return -1;
        v = v * 10 + (*d - '0');
    }
    return (int)v;
}

/* Follows the symlinks of path to the final target (which may not exist).
** Writes it into buf; returns 0, or an errno value. */
static int resolve_links(const char *path, char *buf, size_t cap) {
    if (strlen(path) >= cap) return ENAMETOOLONG;
    snprintf(buf, cap, "%s", path);
    for (int hops = 0; hops < 40; hops++) {
        struct stat st;
        if (lstat(buf, &st) != 0) return errno == ENOENT ? 0 : errno;
        if (!S_ISLNK(st.st_mode)) return 0;
        char link[4096];
        ssize_t k = readlink(buf, link, sizeof link - 1);
        if (k < 0) return errno;
        link[k] = 0;
        if (link[0] == '/') {
            if ((size_t)k >= cap) return ENAMETOOLONG;
            memcpy(buf, link, (size_t)k + 1);
        } else { /* relative to the folder holding the link */
            char *slash = strrchr(buf, '/');
            size_t dl = slash ? (size_t)(slash - buf) + 1 : 0;
            if (dl + (size_t)k >= cap) return ENAMETOOLONG;
            memmove(buf + dl, link, (size_t)k + 1);
        }
    }
    return ELOOP;
}

static wf_status through(const char *path, int fd, wf_afile **out, wf_err *err) {
    wf_afile *f = calloc(1, sizeof *f);
    char *p = malloc(strlen(path) + 1);
    if (!f || !p) {
        free(f);
        free(p);
        if (fd >= 0) close(fd);
        return WF_FAIL(err, WF_ENOMEM, "%s: out of memory", path);
    }
    memcpy(p, path, strlen(path) + 1);
    f->fd = fd;
    f->path = p;
    *out = f;
    return WF_OK;
}

wf_status wf_ofile_open(const char *path, wf_afile **out, wf_err *err) {
    *out = NULL;
    int n = own_fd(path);
    if (n >= 0) {
        int fd = fcntl(n, F_DUPFD_CLOEXEC, 3);
        if (fd < 0) return WF_FAIL(err, WF_EIO, "%s: cannot write: %s", path, strerror(errno));
        return through(path, fd, out, err);
    }
    char target[4096];
    int e = strncmp(path, "/proc/", 6) ? resolve_links(path, target, sizeof target) : 0;
    if (e) return WF_FAIL(err, WF_EIO, "%s: cannot resolve: %s", path, strerror(e));
    struct stat st;
    int exists = stat(path, &st) == 0;
    if (exists && S_ISDIR(st.st_mode)) return WF_FAIL(err, WF_EIO, "%s: is a folder, expected a file", path);
    if (!strncmp(path, "/proc/", 6) || (exists && !S_ISREG(st.st_mode))) {
        int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) return WF_FAIL(err, WF_EIO, "%s: cannot open for writing: %s", path, strerror(errno));
        return through(path, fd, out, err);
    }
    wf_status s = wf_afile_open(target, out, err);
    if (!s && exists) fchmod((*out)->fd, st.st_mode & 07777);
    return s;
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
