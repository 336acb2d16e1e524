/* fuzz_gpt2.h — for fuzz targets that need the bundled GPT-2 tokenizer:
** LLVMFuzzerInitialize loads it once into `gpt2` (data/gpt2, run from the
** repository root). Include once, in the target's .c file. */
#ifndef WF_FUZZ_GPT2_H
#define WF_FUZZ_GPT2_H

#include <stdio.h>
#include <stdlib.h>

#include "model/tokenizer.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static wf_tokenizer *gpt2; /* global: fuzz harness state, loaded once (STYLE 10) */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    wf_err e = {0};
    if (wf_tokenizer_open("gpt2", &gpt2, &e)) {
        fprintf(stderr, "%s: %s\n", (*argv)[0], e.msg);
        abort();
    }
    return 0;
}

#endif
