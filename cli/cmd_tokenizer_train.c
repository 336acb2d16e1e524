/* cmd_tokenizer_train.c — `wafer tokenizer-train`. Placeholder until the command lands. */
#include "cli/cli.h"

int wf_cmd_tokenizer_train(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "wafer tokenizer-train: not built yet\n");
    return 2;
}
