/* cmd_score.c — `wafer score`. Placeholder until the command lands. */
#include "cli/cli.h"

int wf_cmd_score(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "wafer score: not built yet\n");
    return 2;
}
