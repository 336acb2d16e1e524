/* base.h — what every wafer subsystem stands on: status codes and errors that
** say where, always-on assertions, the counting allocator with budgets and
** fault injection, logging, timing and small file helpers.
** Nothing here exits or prints except WF_ASSERT (a broken invariant) and the
** log sink, which the CLI owns. */
#ifndef WF_BASE_H
#define WF_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" { /* C++ callers: the libraries are C */
#endif

/* Status codes. Values reach exit codes and logs: append only (STYLE 13). */
typedef enum {
    WF_OK = 0,
    WF_EIO,        /* a read/write/open failed */
    WF_ECORRUPT,   /* input is malformed or lies about itself */
    WF_ESHAPE,     /* shapes disagree with the config or each other */
    WF_ENOMEM,     /* allocation failed or a budget was exceeded */
    WF_ESRAM,      /* a PE program exceeds its SRAM */
    WF_ECOLOR,     /* a route/color conflict on the fabric */
    WF_EDEADLOCK,  /* the fabric stopped making progress */
    WF_EUSAGE,     /* bad flags or API misuse by the caller */
    WF_ERANGE,     /* a value (token id, coordinate) is out of range */
    WF_EINTR,      /* interrupted by the user (Ctrl-C) */
    WF_STATUS_COUNT
} wf_status;

/* An error value: one line of text plus where in our source it was raised.
** Plain data; lives wherever the caller puts it (usually the stack). */
typedef struct {
    wf_status code;
    const char *file; /* our source file that raised it */
    int line;         /* our source line */
    char msg[1024];   /* "<object>: <where>: <problem>" (room for two long paths) */
} wf_err;

const char *wf_status_name(wf_status s);

/* Fills *e (when e is not NULL) and returns code. Use through WF_FAIL. */
wf_status wf_err_set(wf_err *e, wf_status code, const char *file, int line,
                     const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
/* Prefixes an existing error's message with more context ("loading X: ..."). */
wf_status wf_err_prefix(wf_err *e, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#define WF_FAIL(e, code, ...) wf_err_set((e), (code), __FILE__, __LINE__, __VA_ARGS__)

/* Always-on invariant check: a failure is our bug, never bad input. */
void wf_assert_fail(const char *expr, const char *file, int line);
#define WF_ASSERT(x) ((x) ? (void)0 : wf_assert_fail(#x, __FILE__, __LINE__))

/* ---- allocation (STYLE 8) ----------------------------------------------
** A wf_heap counts live bytes, enforces an optional budget and can be told to
** fail the k-th allocation from now (fault-injection tests). NULL heap means
** the process default heap (unlimited, counted). Memory is 64-byte aligned. */
typedef struct wf_heap wf_heap;

wf_heap *wf_heap_new(size_t budget_bytes /* 0 = unlimited */);
void wf_heap_free(wf_heap *h); /* NULL is a no-op; live blocks are a leak */
void *wf_alloc(wf_heap *h, size_t n, const char *what, wf_err *err);
void *wf_calloc(wf_heap *h, size_t n, const char *what, wf_err *err);
/* Grows a block from wf_alloc; the old pointer is invalid on success. */
void *wf_realloc(wf_heap *h, void *p, size_t n, const char *what, wf_err *err);
void wf_free(wf_heap *h, void *p); /* NULL is a no-op */
size_t wf_heap_live(const wf_heap *h);  /* bytes live now */
size_t wf_heap_peak(const wf_heap *h);  /* most bytes ever live */
/* Make the k-th allocation from now fail (k = 0: the next one); -1 disables. */
void wf_heap_fail_at(wf_heap *h, long k);
wf_heap *wf_heap_default(void);
/* Bytes of the default heap's static state (a check of writes to program
** statics, fabric/statics.c, skips them). */
size_t wf_heap_default_bytes(void);

/* Bytes the OS could hand out now without swapping (/proc/meminfo
** MemAvailable); 0 where unknown. */
size_t wf_mem_available(void);

/* ---- logging -------------------------------------------------------------
** The library reports progress through a sink the CLI installs; the default
** sink drops everything, so a library user sees nothing unasked. */
typedef enum { WF_LOG_ERROR, WF_LOG_WARN, WF_LOG_INFO, WF_LOG_DEBUG } wf_log_level;
typedef void (*wf_log_fn)(wf_log_level lvl, const char *msg, void *ud);
void wf_log_set(wf_log_fn fn, void *ud, wf_log_level max);
void wf_log(wf_log_level lvl, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---- time ------------------------------------------------------------- */
double wf_now(void); /* monotonic seconds */

/* ---- timelines ----------------------------------------------------------
** Spans of work on a few tracks (threads), kept in memory and written as a
** Chrome trace JSON file that Perfetto (ui.perfetto.dev) and chrome://tracing
** open. Thread-safe; a NULL timeline ignores spans. name must be a static
** string; arg is shown as args.i (a layer or block). At most
** WF_TIMELINE_MAX spans are kept (later ones are counted as dropped). */
typedef struct wf_timeline wf_timeline;
#define WF_TIMELINE_MAX (1u << 22)
wf_timeline *wf_timeline_new(void); /* NULL when out of memory */
void wf_timeline_free(wf_timeline *t); /* NULL is a no-op */
/* t0, t1: wf_now() seconds. */
void wf_timeline_span(wf_timeline *t, int track, const char *name, int arg, double t0, double t1);
size_t wf_timeline_count(const wf_timeline *t);
/* tracks[i] names track i. Written through wf_ofile_open. */
wf_status wf_timeline_write(wf_timeline *t, const char *path, const char *const *tracks, int ntracks, wf_err *err);

/* ---- files ------------------------------------------------------------ */
/* Reads a whole file into a NUL-terminated buffer from h. *len excludes the NUL.
** Never blocks on a FIFO or device: anything but a regular file is WF_EIO. */
wf_status wf_file_read(wf_heap *h, const char *path, char **out, size_t *len, wf_err *err);
/* Opens path read-only without ever blocking (O_NONBLOCK, then fstat) and
** requires a regular file: a FIFO, device, socket or folder is WF_EIO
** "<path>: not a regular file (a FIFO)". *fd (blocking again, close-on-exec)
** is the caller's to close; *size (may be NULL) gets the file size. */
wf_status wf_file_open_read(const char *path, int *fd, uint64_t *size, wf_err *err);
/* Writes atomically: path.tmp, fsync, rename. On failure the old file is intact. */
wf_status wf_file_write_atomic(const char *path, const void *data, size_t n, wf_err *err);
/* An atomic writer for large, streamed files: open → write* → commit (or abort). */
typedef struct wf_afile wf_afile;
wf_status wf_afile_open(const char *path, wf_afile **out, wf_err *err);
wf_status wf_afile_write(wf_afile *f, const void *data, size_t n, wf_err *err);
wf_status wf_afile_commit(wf_afile *f, wf_err *err); /* frees f in all cases */
void wf_afile_abort(wf_afile *f);                    /* NULL is a no-op */
/* The writer for outputs a user names (--logits F, --trace F, --heatmap F).
** A regular file or a new path is replaced atomically as by wf_afile_open,
** with the temp file in the folder of the final target of a symlink (the
** link stays a link; an existing file keeps its permission bits). A FIFO, a
** character or block device, anything under /proc, and /dev/stdout,
** /dev/stderr, /dev/fd/N (the process's own descriptor N, shared offset) are
** written through: commit only closes, abort cannot take back what was
** written. Opening a FIFO waits for a reader, as `cat > fifo` does. A folder
** is WF_EIO. Write, commit and abort as for any wf_afile. */
wf_status wf_ofile_open(const char *path, wf_afile **out, wf_err *err);
int wf_path_exists(const char *path);
int wf_path_is_dir(const char *path);
/* Whether path names something: *found = 1, or 0 when nothing has that name.
** A name that is there but cannot be followed (a symlink loop, a dangling
** link, no permission) is an error naming the cause, not "missing". */
wf_status wf_path_probe(const char *path, int *found, wf_err *err);
wf_status wf_mkdir_p(const char *path, wf_err *err);

/* Test hook: make the n-th wf_afile_write/commit from now fail with ENOSPC
** (-1 disables). global: fault injector for disk-full tests (STYLE 10). */
void wf_file_fail_write_at(long n);

#ifdef __cplusplus
}
#endif
#endif
