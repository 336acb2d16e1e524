/* run_cmd.h — for tests that drive programs as a user does: runs a shell
** command line with stderr merged into stdout (unless the line redirects
** stderr itself, "2>..." at its end), captures up to cap-1 bytes of
** the output into out (NUL-terminated) and returns the exit code (-1 when the
** program did not exit normally). Header-only, like check.h. */
#ifndef WF_TEST_RUN_CMD_H
#define WF_TEST_RUN_CMD_H

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

static inline int wf_run_cmd(const char *line, char *out, size_t cap) {
    char cmd[4096];
    const char *r = strstr(line, " 2>");
    int k = snprintf(cmd, sizeof cmd, r && !strchr(r + 3, ' ') ? "%s" : "%s 2>&1", line);
    if (k < 0 || (size_t)k >= sizeof cmd) return -1;
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    char sink[4096]; /* drain the rest so the child never blocks on a full pipe */
    while (fread(sink, 1, sizeof sink, p) > 0) {}
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#endif
