/* cmd_decode.c — `wafer decode`. Placeholder until the command lands. */
#include "cli/cli.h"

int wf_cmd_decode(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "wafer decode: not built yet\n");
    return 2;
}
