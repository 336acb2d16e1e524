/* fuzz_optstate.c — libFuzzer target for the optimizer-state reader
** (train/optstate.c, "optimizer.bin"). The input is the file, loaded into an
** AdamW state of a tiny fixed model; when accepted, one optimizer step runs
** on it (the loop's next action after a resume) and the state is written and
** read back. Errors are fine; crashes, leaks, out-of-bounds reads and
** undefined behaviour are not. */
#include "train/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* global: the fuzzer's scratch folder, made once per process. */
static char dir[64];

/* The model of the seeds (fuzz/seeds/optstate): 1 layer, C 4, V 8, P 4. */
static void tiny(wf_gpt_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "custom");
    c->n_layer = 1, c->n_embd = 4, c->n_head = 1, c->n_inner = 16, c->n_positions = 4, c->vocab_size = 8;
    c->layer_norm_eps = 1e-5f, c->act = WF_ACT_GELU, c->bos_token_id = c->eos_token_id = 7;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/wf_fuzz_optstate_XXXXXX");
        if (!mkdtemp(dir)) abort();
    }
    char path[128], back[128];
    snprintf(path, sizeof path, "%s/optimizer.bin", dir);
    snprintf(back, sizeof back, "%s/again.bin", dir);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    wf_gpt_config c;
    tiny(&c);
    wf_optim_opts oo;
    wf_optim_opts_default(&oo);
    wf_optim *o = NULL, *o2 = NULL;
    wf_err e = {0};
    if (wf_optim_new(&c, &oo, NULL, &o, &e)) abort();
    wf_train_state s;
    if (wf_optstate_load(path, o, &s, &e) == WF_OK) {
        size_t n = wf_gpt_numel(&c);
        float *w = calloc(n, sizeof *w), *g = calloc(n, sizeof *g), gn;
        for (size_t i = 0; i < n; i++) g[i] = (float)(i % 7) - 3;
        wf_optim_step(o, w, g, 1e-3f, &gn);
        s.step++; /* as the loop does */
        free(w), free(g);
        wf_train_state s2;
        if (wf_optstate_save(back, o, &s, &e) == WF_OK && wf_optim_new(&c, &oo, NULL, &o2, &e) == WF_OK) {
            WF_ASSERT(wf_optstate_load(back, o2, &s2, &e) == WF_OK);
            WF_ASSERT(memcmp(&s, &s2, sizeof s) == 0 && o2->step == o->step);
        }
        wf_optim_free(o2);
    }
    wf_optim_free(o);
    WF_ASSERT(wf_heap_live(NULL) == 0);
    return 0;
}
