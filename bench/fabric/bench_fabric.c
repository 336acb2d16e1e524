/* bench_fabric.c — how fast the simulated wafer runs: wall (and CPU)
** nanoseconds per active PE-cycle for three workloads, each an example
** program run with --json (results are checked by the example itself):
**   busy       SUMMA GEMM on 64 x 64 PEs, 8 x 8 tiles (every PE computes)
**   wavelets   allreduce of 128 floats over 512 x 512 PEs (mostly routing)
**   idle       one row broadcasts 256 floats over a 750 x 994 fabric whose
**              other rows hold a program that never runs
** and, with --big, GEMV 16384 x 16384 over 750 x 994 PEs.
** Peer: MuchiSim, ~370 ns per PE-cycle on this machine (REFERENCE.md). The
** simulator core is single-threaded (fabric/fabric.h), so there is one
** thread column. Usage: bench_fabric [--big] [--quick] */
#include "../../base/base.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#ifndef WF_EX_DIR
#error "WF_EX_DIR must name the folder of the example programs"
#endif

#define PEER_NS 370.0 /* MuchiSim ns per PE-cycle, REFERENCE.md */

static char out[1 << 16];

static cJSON *run(const char *cmd) {
    char line[1024];
    snprintf(line, sizeof line, "%s/%s --json", WF_EX_DIR, cmd);
    FILE *p = popen(line, "r");
    if (!p) return NULL;
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int st = pclose(p);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench_fabric: '%s' failed (exit %d)\n", line, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        return NULL;
    }
    return cJSON_Parse(out);
}

static double num(const cJSON *j, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

int main(int argc, char **argv) {
    int big = 0, quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--big")) big = 1;
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else {
            fprintf(stderr, "usage: bench_fabric [--big] [--quick]\n");
            return 1;
        }
    }
    struct { const char *name, *cmd; } w[] = {
        {"busy: SUMMA GEMM", quick ? "summa --p 16 --t 8" : "summa --p 64 --t 8"},
        {"wavelets: allreduce", quick ? "collectives --op allreduce --px 64 --py 64 --n 128"
                                               : "collectives --op allreduce --px 512 --py 512 --n 128"},
        {"idle: 1-row bcast, rest idle", quick ? "collectives --op bcast --px 750 --py 1 --fw 750 --fh 64 --n 256"
                                                : "collectives --op bcast --px 750 --py 1 --fw 750 --fh 994 --n 256"},
        {"GEMV 16384^2, 750x994", "gemv --m 16384 --n 16384 --kx 750 --ky 994"},
    };
    int nw = big ? 4 : 3;
    printf("simulator speed (1 thread: the fabric core is single-threaded; peer MuchiSim %.0f ns/PE-cycle)\n", PEER_NS);
    printf("%-30s %9s %10s %13s %8s %8s %10s %10s %12s %8s\n", "workload", "PEs", "cycles", "active PE-cyc",
           "wall s", "cpu s", "ns/act(w)", "ns/act(cpu)", "ns/PE-cyc", "vs 370");
    int fails = 0;
    for (int i = 0; i < nw; i++) {
        cJSON *j = run(w[i].cmd);
        if (!j) {
            fails++;
            continue;
        }
        const cJSON *ck = cJSON_GetObjectItemCaseSensitive(j, "check");
        double pes = num(j, "pes"), cyc = num(j, "compute_cycles"), act = num(j, "active_pe_cycles");
        double wall = num(j, "run_wall_s"), cpu = num(j, "run_cpu_s");
        double ns_w = act > 0 ? wall * 1e9 / act : 0, ns_c = act > 0 ? cpu * 1e9 / act : 0;
        double ns_all = pes * cyc > 0 ? cpu * 1e9 / (pes * cyc) : 0;
        printf("%-30s %9.0f %10.0f %13.4g %8.3f %8.3f %10.1f %10.1f %12.3g %7.1fx%s\n", w[i].name, pes, cyc, act,
               wall, cpu, ns_w, ns_c, ns_all, ns_c > 0 ? PEER_NS / ns_c : 0,
               cJSON_IsString(ck) && !strcmp(ck->valuestring, "ok") ? "" : "  CHECK FAILED");
        cJSON_Delete(j);
    }
    printf("ns/act(w): run wall time per active PE-cycle (inflated when the machine is shared);\n"
           "ns/act(cpu): the same with the simulator's CPU time; ns/PE-cyc: CPU time per PE-cycle over the whole\n"
           "program rectangle (idle PEs included, as a cycle-by-cycle simulator would count them);\n"
           "vs 370: MuchiSim's 370 ns per PE-cycle divided by ns/act(cpu) (> 1 = faster).\n");
    return fails ? 1 : 0;
}
