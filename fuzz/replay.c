/* replay.c — runs a fuzz target's LLVMFuzzerTestOneInput on every file of the
** seed folders given as arguments, so the seed corpora (fuzz/seeds/<target>/)
** are replayed by ctest in the normal and ASan builds, with gcc and without
** libFuzzer. Subfolders are not read: fuzz/seeds/<target>/pending/ holds
** reproducers whose fix belongs to another change. A folder without seeds is
** a failure (a replay that runs nothing passes nothing). The target reports a
** bug by aborting (WF_ASSERT) or through the sanitizers. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open\n", path);
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (size_t r; buf && (r = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += r;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    if (!buf) return -1;
    /* an exact-size copy, so ASan sees a read one byte past the input */
    uint8_t *exact = malloc(n ? n : 1);
    memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s SEED_DIR...\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    int total = 0;
    for (int a = 1; a < argc; a++) {
        DIR *d = opendir(argv[a]);
        if (!d) {
            fprintf(stderr, "%s: cannot open the seed folder\n", argv[a]);
            return 1;
        }
        char **names = NULL;
        size_t nn = 0;
        for (struct dirent *de; (de = readdir(d));) {
            char path[4096];
            struct stat st;
            snprintf(path, sizeof path, "%s/%s", argv[a], de->d_name);
            if (de->d_name[0] == '.' || stat(path, &st) || !S_ISREG(st.st_mode)) continue;
            names = realloc(names, sizeof *names * (nn + 1));
            names[nn++] = strdup(path);
        }
        closedir(d);
        qsort(names, nn, sizeof *names, by_name);
        for (size_t i = 0; i < nn; i++) {
            printf("%s\n", names[i]);
            fflush(stdout);
            if (replay_file(names[i])) return 1;
            free(names[i]);
        }
        free(names);
        if (nn == 0) {
            fprintf(stderr, "%s: no seed files\n", argv[a]);
            return 1;
        }
        total += (int)nn;
    }
    printf("%d seeds replayed\n", total);
    return 0;
}
