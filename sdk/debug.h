/* debug.h — the simulator's debugger: a gdb-like command session attached
** to a fabric through its debug hook (fabric.h, wf_fabric_set_debug). It
** stops at a cycle, at a task start (a task ID and/or a PE or a rectangle of
** PEs), at any error the run is about to return, or after stepping; at a
** stop it reads commands that look at a PE's SRAM symbols, queues, router
** and task flags, until one resumes the run. `wafer sim EXAMPLE --debug`
** reads them from the terminal, --debug-script FILE from a file (docs/sdk.md,
** "The debugger", lists the commands and shows a session).
**
** The session writes to the caller's stream `out` and reads `in`; nothing
** else is printed. A fabric with a debugger runs on one thread. The first
** stop is at the start of the first run after attaching. End of input (EOF)
** ends the session: the debugger prints "end of commands: running to the
** end", removes its hook and the program runs on at full speed; `quit` ends
** the run with WF_EINTR ("debugger: quit at cycle N").
**
** Output: every stop is one line "stop: cycle N: <why>"; a script's commands
** are echoed as "(wdb) <command>"; a bad command is one line "error: <what>",
** and the session goes on. */
#ifndef WF_SDK_DEBUG_H
#define WF_SDK_DEBUG_H

#include "../fabric/fabric.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" { /* C++ callers: the libraries are C */
#endif

typedef struct wf_debug wf_debug;

typedef struct {
    FILE *in;      /* commands, one per line; borrowed */
    FILE *out;     /* stop lines, replies, errors; borrowed */
    int echo;      /* 1: write each command read as "(wdb) <command>" (a script's transcript) */
    int prompt;    /* 1: write "(wdb) " before reading a command (a terminal) */
    wf_heap *heap; /* NULL = default heap */
} wf_debug_opts;

/* Installs the debugger on f; the session starts at the first run's first
** cycle. f must outlive the debugger; detach before wf_fabric_free. */
wf_status wf_debug_attach(wf_fabric *f, const wf_debug_opts *o, wf_debug **out, wf_err *err);
/* Removes the hook (if the session still holds it, printing "end: cycle N")
** and frees d. NULL is a no-op. */
void wf_debug_detach(wf_debug *d);
/* Stops so far (every "stop:" line). */
uint64_t wf_debug_stops(const wf_debug *d);

#ifdef __cplusplus
}
#endif
#endif
