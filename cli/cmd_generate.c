/* cmd_generate.c — `wafer generate`. Placeholder until the command lands. */
#include "cli/cli.h"

int wf_cmd_generate(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "wafer generate: not built yet\n");
    return 2;
}
