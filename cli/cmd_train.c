/* cmd_train.c — `wafer train`. Placeholder until the command lands. */
#include "cli/cli.h"

int wf_cmd_train(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "wafer train: not built yet\n");
    return 2;
}
