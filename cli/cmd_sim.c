/* cmd_sim.c — `wafer sim EXAMPLE [flags]`: runs one of the simulated-wafer
** example programs (examples/<name>.c: gemv, collectives, summa, stencil,
** sparse, wsmm, gpt, fft) with its own flags (--json, --trace, --heatmap, sizes). The
** programs are separate binaries next to this one (<dir of wafer>/examples/);
** this command finds and executes them, so `wafer` need not link the SDK. */
#include "cli/cli.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const examples[] = {"gemv", "collectives", "summa", "stencil", "sparse", "wsmm", "gpt", "fft"};
#define NEXAMPLES ((int)(sizeof examples / sizeof examples[0]))

static void sim_usage(FILE *f) {
    fprintf(f, "usage: wafer sim EXAMPLE [flags]   (wafer sim EXAMPLE --help for its flags)\n"
               "examples (programs for the simulated wafer, docs/sdk.md):\n"
               "  gemv         y = A x + b on kx x ky PEs (x broadcast down columns, row reduce)\n"
               "  collectives  reduce / bcast / allreduce along rows or over 2-D grids\n"
               "  summa        SUMMA GEMM on p x p PEs\n"
               "  stencil      7-point stencil SpMV, z along each PE's memory\n"
               "  sparse       sparse x: zeros never sent, dense vs sparse cycles\n"
               "  wsmm         weight-streaming matmul (activations resident, weights streamed), vs its model\n"
               "  gpt          train a small GPT on the fabric (weight streaming), checked against the CPU\n"
               "  fft          3-D FFT of an n^3 complex grid on n x n PEs (wsFFT pencils), checked against FFTW\n"
               "common flags: --json --trace FILE --trace-window x0,y0,x1,y1,c0,c1 --heatmap FILE\n"
               "              --debug (debugger on the terminal) --debug-script FILE (docs/sdk.md, \"The debugger\")\n");
}

int wf_cmd_sim(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        sim_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    int known = 0;
    for (int i = 0; i < NEXAMPLES; i++) known |= !strcmp(argv[1], examples[i]);
    if (!known) return wf_cli_usage("sim", "unknown example '%s' (gemv, collectives, summa, stencil, sparse, wsmm, gpt, fft)",
                                    argv[1]);
    char self[PATH_MAX], path[PATH_MAX + 64];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        wf_err e = {0};
        WF_FAIL(&e, WF_EIO, "cannot find the wafer binary's folder (/proc/self/exe)");
        return wf_cli_fail("sim", &e);
    }
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (slash) *slash = 0;
    snprintf(path, sizeof path, "%s/examples/%s", self, argv[1]);
    if (access(path, X_OK) != 0) {
        wf_err e = {0};
        WF_FAIL(&e, WF_EIO, "example program %s is not built (cmake --build <build> --target examples)", path);
        return wf_cli_fail("sim", &e);
    }
    argv[1] = path;
    fflush(stdout);
    execv(path, argv + 1);
    wf_err e = {0};
    WF_FAIL(&e, WF_EIO, "%s: cannot execute", path);
    return wf_cli_fail("sim", &e);
}
