/* cmd_tokenize.c — `wafer tokenize`. Placeholder until the command lands. */
#include "cli/cli.h"

int wf_cmd_tokenize(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "wafer tokenize: not built yet\n");
    return 2;
}
