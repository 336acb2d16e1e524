/* fuzz_optstate.c — libFuzzer target for optimizer.bin (train/optstate.c,
** wf_optstate_load) of a tiny model (1 layer, C 8, 2 heads, F 32, P 8, V 16:
** 1080 parameters). The whole input is the file. The loader must reject it
** with an error or fill the optimizer, without crashing, leaking or reading
** out of bounds; a loaded file must save and load again. */
#include "fuzz_util.h"
#include "train/train.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static wf_gpt_config cfg; /* global: fuzz harness state, set once (STYLE 10) */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    wf_err e = {0};
    if (wf_gpt_config_preset("111m", &cfg, &e)) abort();
    cfg.n_layer = 1, cfg.n_embd = 8, cfg.n_head = 2, cfg.n_inner = 32, cfg.n_positions = 8, cfg.vocab_size = 16;
    if (wf_gpt_config_validate(&cfg, "fuzz", &e)) {
        fprintf(stderr, "fuzz_optstate: %s\n", e.msg);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!cfg.n_layer) LLVMFuzzerInitialize(NULL, NULL);
    fuzz_scratch("optstate");
    fuzz_put("optimizer.bin", data, size);
    size_t live = wf_heap_live(NULL);
    wf_optim_opts oo;
    wf_optim_opts_default(&oo);
    wf_optim *o = NULL;
    wf_err e = {0};
    if (wf_optim_new(&cfg, &oo, NULL, &o, &e)) abort();
    char path[160];
    snprintf(path, sizeof path, "%s/optimizer.bin", fuzz_dir);
    wf_train_state s;
    wf_status st = wf_optstate_load(path, o, &s, &e);
    fuzz_report(st, &e);
    if (st == WF_OK) {
        snprintf(path, sizeof path, "%s/again.bin", fuzz_dir);
        WF_ASSERT(wf_optstate_save(path, o, &s, &e) == WF_OK);
        wf_train_state s2;
        WF_ASSERT(wf_optstate_load(path, o, &s2, &e) == WF_OK);
        WF_ASSERT(s2.step == s.step && s2.data_pos == s.data_pos && s2.seed == s.seed);
        fuzz_drop("again.bin");
    } else {
        WF_ASSERT(e.msg[0]);
    }
    wf_optim_free(o);
    WF_ASSERT(wf_heap_live(NULL) == live);
    return 0;
}
