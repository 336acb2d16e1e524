/* cmd_info.c — `wafer info`. Placeholder until the command lands. */
#include "cli/cli.h"

int wf_cmd_info(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "wafer info: not built yet\n");
    return 2;
}
