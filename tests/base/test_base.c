/* test_base.c — allocator accounting, budgets and fault injection; error
** values; atomic file writes that survive a full disk; reads that never block
** on a FIFO; user-named outputs written through to FIFOs, devices, stdout and
** symlink targets instead of being replaced; big blocks asking for huge pages. */
#include "../../base/base.h"
#include "../check.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static void heap_counts_live_and_peak(void) {
    wf_heap *h = wf_heap_new(0);
    wf_err e = {0};
    void *a = wf_alloc(h, 100, "a", &e), *b = wf_alloc(h, 50, "b", &e);
    WF_CHECK(a && b);
    WF_CHECK_EQ((uintptr_t)a % 64, 0);
    WF_CHECK_EQ(wf_heap_live(h), 150);
    wf_free(h, a);
    WF_CHECK_EQ(wf_heap_live(h), 50);
    WF_CHECK_EQ(wf_heap_peak(h), 150);
    b = wf_realloc(h, b, 500, "b", &e);
    WF_CHECK_EQ(wf_heap_live(h), 500);
    wf_free(h, b);
    WF_CHECK_EQ(wf_heap_live(h), 0);
    wf_heap_free(h);
}

static void heap_budget_is_enforced_with_a_named_error(void) {
    wf_heap *h = wf_heap_new(1000);
    wf_err e = {0};
    void *a = wf_alloc(h, 800, "weights", &e);
    WF_CHECK(a != NULL);
    void *b = wf_alloc(h, 300, "kv cache", &e);
    WF_CHECK(b == NULL);
    WF_CHECK_EQ(e.code, WF_ENOMEM);
    WF_CHECK_HAS(e.msg, "kv cache");
    WF_CHECK_HAS(e.msg, "budget");
    wf_free(h, a);
    wf_heap_free(h);
}

static void heap_fault_injection_fails_exactly_the_kth(void) {
    wf_heap *h = wf_heap_new(0);
    wf_err e = {0};
    wf_heap_fail_at(h, 2);
    void *p0 = wf_alloc(h, 8, "p0", &e), *p1 = wf_alloc(h, 8, "p1", &e);
    void *p2 = wf_alloc(h, 8, "p2", &e), *p3 = wf_alloc(h, 8, "p3", &e);
    WF_CHECK(p0 && p1 && !p2 && p3);
    WF_CHECK_HAS(e.msg, "p2");
    wf_free(h, p0); wf_free(h, p1); wf_free(h, p3);
    WF_CHECK_EQ(wf_heap_live(h), 0);
    wf_heap_free(h);
}

static void atomic_write_keeps_old_file_on_disk_full(void) {
    char dir[] = "/tmp/wf_test_baseXXXXXX";
    WF_CHECK(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/ckpt.bin", dir);
    wf_err e = {0};
    WF_CHECK_EQ(wf_file_write_atomic(path, "old-contents", 12, &e), WF_OK);
    wf_file_fail_write_at(0);
    WF_CHECK_EQ(wf_file_write_atomic(path, "new", 3, &e), WF_EIO);
    WF_CHECK_HAS(e.msg, "No space left");
    wf_file_fail_write_at(-1);
    char *buf;
    size_t n;
    WF_CHECK_EQ(wf_file_read(NULL, path, &buf, &n, &e), WF_OK);
    WF_CHECK_EQ(n, 12);
    WF_CHECK_STR(buf, "old-contents");
    wf_free(NULL, buf);
    WF_CHECK_EQ(wf_file_read(NULL, "/nonexistent/x", &buf, &n, &e), WF_EIO);
    WF_CHECK_HAS(e.msg, "/nonexistent/x");
    unlink(path);
    rmdir(dir);
}

static void file_read_refuses_a_fifo_without_blocking(void) {
    char dir[] = "/tmp/wf_test_fifoXXXXXX", path[128];
    WF_CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/config.json", dir);
    WF_CHECK_EQ(mkfifo(path, 0644), 0);
    alarm(20); /* a blocking open would hang here: SIGALRM ends the test as failed */
    wf_err e = {0};
    char *buf = NULL;
    size_t n;
    WF_CHECK_EQ(wf_file_read(NULL, path, &buf, &n, &e), WF_EIO);
    WF_CHECK_HAS(e.msg, path);
    WF_CHECK_HAS(e.msg, "not a regular file (a FIFO)");
    WF_CHECK(buf == NULL);
    int fd = 5;
    WF_CHECK_EQ(wf_file_open_read(path, &fd, NULL, &e), WF_EIO);
    WF_CHECK_EQ(fd, -1);
    WF_CHECK_EQ(wf_file_open_read(dir, &fd, NULL, &e), WF_EIO);
    WF_CHECK_HAS(e.msg, "(a folder)");
    alarm(0);
    unlink(path);
    rmdir(dir);
}

/* Reads a small file into buf (NUL-terminated); returns its length or -1. */
static long slurp(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = 0;
    return (long)n;
}

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static wf_status put_ofile(const char *path, const char *text, wf_err *e) {
    wf_afile *f;
    wf_status s = wf_ofile_open(path, &f, e);
    if (s) return s;
    if ((s = wf_afile_write(f, text, strlen(text), e))) {
        wf_afile_abort(f);
        return s;
    }
    return wf_afile_commit(f, e);
}

static void ofile_keeps_symlinks_and_writes_their_target(void) {
    char dir[] = "/tmp/wf_test_ofileXXXXXX", sub[128], real[160], link[128], dang[128], newt[160], buf[64];
    WF_CHECK(mkdtemp(dir) != NULL);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    WF_CHECK_EQ(mkdir(sub, 0755), 0);
    snprintf(real, sizeof real, "%s/real.bin", sub);
    snprintf(link, sizeof link, "%s/logits.bin", dir);
    wf_err e = {0};
    WF_CHECK_EQ(wf_file_write_atomic(real, "old", 3, &e), WF_OK);
    WF_CHECK_EQ(chmod(real, 0600), 0);
    WF_CHECK_EQ(symlink("sub/real.bin", link), 0);
    WF_CHECK_EQ(put_ofile(link, "new-data", &e), WF_OK);
    struct stat st;
    WF_CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode)); /* still a link */
    WF_CHECK_EQ(slurp(real, buf, sizeof buf), 8);
    WF_CHECK_STR(buf, "new-data");
    WF_CHECK(stat(real, &st) == 0 && (st.st_mode & 0777) == 0600); /* permissions kept */
    WF_CHECK_EQ(count_entries(sub), 1); /* no temp file left beside the target */
    WF_CHECK_EQ(count_entries(dir), 2);
    /* a dangling link: the file it names is created, the link kept */
    snprintf(dang, sizeof dang, "%s/trace.json", dir);
    snprintf(newt, sizeof newt, "%s/fresh.json", sub);
    WF_CHECK_EQ(symlink(newt, dang), 0);
    WF_CHECK_EQ(put_ofile(dang, "{}", &e), WF_OK);
    WF_CHECK(lstat(dang, &st) == 0 && S_ISLNK(st.st_mode));
    WF_CHECK_EQ(slurp(newt, buf, sizeof buf), 2);
    /* a folder is an error naming it */
    WF_CHECK_EQ(put_ofile(sub, "x", &e), WF_EIO);
    WF_CHECK_HAS(e.msg, "is a folder");
    /* a full disk leaves the old target intact, the link a link */
    wf_file_fail_write_at(0);
    WF_CHECK_EQ(put_ofile(link, "lost", &e), WF_EIO);
    wf_file_fail_write_at(-1);
    WF_CHECK_EQ(slurp(real, buf, sizeof buf), 8);
    WF_CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode));
    WF_CHECK_EQ(count_entries(sub), 2);
    unlink(dang);
    unlink(newt);
    unlink(link);
    unlink(real);
    rmdir(sub);
    rmdir(dir);
}

static void ofile_writes_through_to_fifos_devices_and_own_fds(void) {
    char dir[] = "/tmp/wf_test_ospecXXXXXX", fifo[128], dev[128], buf[64], name[64];
    WF_CHECK(mkdtemp(dir) != NULL);
    wf_err e = {0};
    struct stat st;
    /* FIFO: a reader is there first, so opening for writing does not wait */
    snprintf(fifo, sizeof fifo, "%s/pipe", dir);
    WF_CHECK_EQ(mkfifo(fifo, 0644), 0);
    int rd = open(fifo, O_RDONLY | O_NONBLOCK);
    WF_CHECK(rd >= 0);
    WF_CHECK_EQ(put_ofile(fifo, "through", &e), WF_OK);
    ssize_t k = read(rd, buf, sizeof buf - 1);
    WF_CHECK_EQ(k, 7);
    buf[k > 0 ? k : 0] = 0;
    WF_CHECK_STR(buf, "through");
    close(rd);
    WF_CHECK(stat(fifo, &st) == 0 && S_ISFIFO(st.st_mode)); /* still a FIFO */
    /* /dev/fd/N: our own descriptor (a pipe here), never replaced */
    int p[2];
    WF_CHECK_EQ(pipe(p), 0);
    snprintf(name, sizeof name, "/dev/fd/%d", p[1]);
    WF_CHECK_EQ(put_ofile(name, "fd-out", &e), WF_OK);
    close(p[1]);
    k = read(p[0], buf, sizeof buf - 1);
    WF_CHECK_EQ(k, 6);
    close(p[0]);
    /* a character device (a copy of /dev/null made here; needs root) stays one */
    snprintf(dev, sizeof dev, "%s/null", dir);
    if (mknod(dev, S_IFCHR | 0666, makedev(1, 3)) == 0) {
        WF_CHECK_EQ(put_ofile(dev, "discarded", &e), WF_OK);
        WF_CHECK(stat(dev, &st) == 0 && S_ISCHR(st.st_mode));
        unlink(dev);
    } else {
        printf("note: not root (%s): character-device case not run\n", strerror(errno));
    }
    WF_CHECK_EQ(count_entries(dir), 1); /* only the FIFO: no temp files */
    unlink(fifo);
    rmdir(dir);
}

static void errors_carry_source_position(void) {
    wf_err e = {0};
    int line = __LINE__ + 1;
    wf_status s = WF_FAIL(&e, WF_ESHAPE, "model.safetensors: tensor '%s': bad", "wte");
    WF_CHECK_EQ(s, WF_ESHAPE);
    WF_CHECK_EQ(e.line, line);
    wf_err_prefix(&e, "loading %s", "dir");
    WF_CHECK_STR(e.msg, "loading dir: model.safetensors: tensor 'wte': bad");
    WF_CHECK_STR(wf_status_name(WF_EDEADLOCK), "deadlock");
}

/* Blocks of 8 MiB and more ask Linux for transparent huge pages (alloc.c):
** the mapping holding the middle of a 64 MiB block carries the "hg" flag
** (MADV_HUGEPAGE) in /proc/self/smaps. Skipped where THP does not exist. */
static void big_blocks_ask_for_huge_pages(void) {
    FILE *t = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!t) {
        printf("SKIP huge pages: no /sys/kernel/mm/transparent_hugepage (not Linux, or THP not built)\n");
        return;
    }
    fclose(t);
    size_t n = (size_t)64 << 20;
    unsigned char *p = wf_alloc(NULL, n, "big", NULL);
    WF_CHECK(p != NULL);
    if (!p) return;
    memset(p, 1, n);
    uintptr_t mid = (uintptr_t)p + n / 2;
    FILE *f = fopen("/proc/self/smaps", "r");
    WF_CHECK(f != NULL);
    char line[512];
    int in = 0, found = 0, hg = 0;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            in = mid >= lo && mid < hi;
            found |= in;
        } else if (in && !strncmp(line, "VmFlags:", 8)) {
            hg = strstr(line, " hg") != NULL;
        }
    }
    if (f) fclose(f);
    WF_CHECK(found);
    WF_CHECK(hg);
    printf("huge pages: the middle of a 64 MiB block is in a mapping %s the MADV_HUGEPAGE flag\n",
           hg ? "with" : "WITHOUT");
    wf_free(NULL, p);
}

int main(void) {
    big_blocks_ask_for_huge_pages();
    heap_counts_live_and_peak();
    heap_budget_is_enforced_with_a_named_error();
    heap_fault_injection_fails_exactly_the_kth();
    atomic_write_keeps_old_file_on_disk_full();
    errors_carry_source_position();
    file_read_refuses_a_fifo_without_blocking();
    ofile_keeps_symlinks_and_writes_their_target();
    ofile_writes_through_to_fifos_devices_and_own_fds();
    return wf_check_report();
}
