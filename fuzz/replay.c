/* replay.c — runs a fuzz target's seed corpus without libFuzzer, so that CI
** (gcc, release and ASan builds) replays every seed: linked with one
** fuzz_<t>.c, it calls LLVMFuzzerInitialize (when the target has one) and then
** LLVMFuzzerTestOneInput on each regular file of each folder given. Sub-folders
** (e.g. pending/: crashers whose fix is due from another subsystem) are not
** entered. A folder with no seed, or an unreadable one, fails the run. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int replay_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "replay: %s: cannot open the seed folder\n", dir);
        return -1;
    }
    char *names[4096];
    int n = 0;
    for (struct dirent *de; (de = readdir(d)) && n < 4096;)
        if (de->d_name[0] != '.') names[n++] = strdup(de->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp);
    int ran = 0, bad = 0;
    for (int i = 0; i < n; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        free(names[i]);
        struct stat st;
        if (stat(path, &st) || !S_ISREG(st.st_mode)) continue;
        FILE *f = fopen(path, "rb");
        uint8_t *buf = malloc((size_t)st.st_size + 1);
        if (!f || !buf || fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
            fprintf(stderr, "replay: %s: cannot read\n", path);
            bad++;
        } else {
            printf("replay %s (%lld bytes)\n", path, (long long)st.st_size);
            fflush(stdout);
            if (LLVMFuzzerTestOneInput(buf, (size_t)st.st_size) != 0) bad++;
            ran++;
        }
        if (f) fclose(f);
        free(buf);
    }
    if (ran == 0) {
        fprintf(stderr, "replay: %s: no seed files\n", dir);
        return -1;
    }
    printf("%s: %d seeds replayed\n", dir, ran);
    return bad ? -1 : 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s SEED_DIR...\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    int rc = 0;
    for (int i = 1; i < argc; i++)
        if (replay_dir(argv[i])) rc = 1;
    return rc;
}
