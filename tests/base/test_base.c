/* test_base.c — allocator accounting, budgets and fault injection; error
** values; atomic file writes that survive a full disk. */
#include "../../base/base.h"
#include "../check.h"

#include <stdlib.h>
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

int main(void) {
    heap_counts_live_and_peak();
    heap_budget_is_enforced_with_a_named_error();
    heap_fault_injection_fails_exactly_the_kth();
    atomic_write_keeps_old_file_on_disk_full();
    errors_carry_source_position();
    return wf_check_report();
}
