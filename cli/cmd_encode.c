/* cmd_encode.c — `wafer encode`. Placeholder until the command lands. */
#include "cli/cli.h"

int wf_cmd_encode(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "wafer encode: not built yet\n");
    return 2;
}
