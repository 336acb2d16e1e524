/* fuzz_util.h — shared by the file-reader fuzz targets: a private scratch
** folder per process and a helper that writes one input file into it.
** Header-only; include once per target. */
#ifndef WF_FUZZ_UTIL_H
#define WF_FUZZ_UTIL_H

#include "base/base.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* global: the fuzzer's scratch folder, made once per process. */
static char fuzz_dir[64];

/* Removes the scratch folder and its files at exit (the targets write flat). */
static void fuzz_cleanup(void) {
    DIR *d = opendir(fuzz_dir);
    if (!d) return;
    char path[400];
    for (struct dirent *de; (de = readdir(d));)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", fuzz_dir, de->d_name);
            (void)unlink(path);
        }
    closedir(d);
    (void)rmdir(fuzz_dir);
}

static inline const char *fuzz_scratch(const char *tag) {
    if (!fuzz_dir[0]) {
        snprintf(fuzz_dir, sizeof fuzz_dir, "/tmp/wf_fuzz_%s_XXXXXX", tag);
        if (!mkdtemp(fuzz_dir)) abort();
        atexit(fuzz_cleanup);
    }
    return fuzz_dir;
}

/* Writes n bytes as fuzz_dir/name (n may be 0: an empty file). */
static inline void fuzz_put(const char *name, const uint8_t *p, size_t n) {
    char path[160];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(p, 1, n, f) != n) abort();
    fclose(f);
}

/* Removes fuzz_dir/name if it is there. */
static inline void fuzz_drop(const char *name) {
    char path[160];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir, name);
    (void)unlink(path);
}

/* Splits data as: u16 LE length m, m bytes (*a), the rest (*b). */
static inline void fuzz_split2(const uint8_t *data, size_t size, const uint8_t **a, size_t *na, const uint8_t **b,
                        size_t *nb) {
    size_t m = size < 2 ? 0 : (size_t)data[0] | (size_t)data[1] << 8;
    size_t body = size < 2 ? 0 : size - 2;
    if (m > body) m = body;
    *a = data + (size < 2 ? size : 2), *na = m;
    *b = *a + m, *nb = body - m;
}

/* With WF_FUZZ_VERBOSE set (replay runs), says whether the input loaded or
** which error it got, so a seed meant to be valid can be seen to load. */
static inline void fuzz_report(wf_status st, const wf_err *e) {
    if (getenv("WF_FUZZ_VERBOSE")) fprintf(stderr, "  -> %s\n", st == WF_OK ? "loaded" : e->msg);
}

#endif
