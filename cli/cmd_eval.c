/* cmd_eval.c — `wafer eval`. Placeholder until the command lands. */
#include "cli/cli.h"

int wf_cmd_eval(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "wafer eval: not built yet\n");
    return 2;
}
