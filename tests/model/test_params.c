/* test_params.c — presets match docs/REFERENCE.md, the layer-major layout is dense
** and ordered, names resolve with and without "transformer.", config.json
** round-trips and bad configs are rejected with the key named. */
#include "model/params.h"
#include "tests/check.h"

#include <stdlib.h>
#include <unistd.h>

static void presets_match_reference_parameter_counts(void) {
    wf_gpt_config c;
    wf_err e = {0};
    WF_CHECK_EQ(wf_gpt_config_preset("cerebras-gpt-111m", &c, &e), WF_OK);
    /* 111M: 50257*768 + 2048*768 + 10*(12*768^2 + 13*768) + 2*768 = 111,050,496 */
    WF_CHECK_EQ(wf_gpt_numel(&c), 111050496);
    WF_CHECK_EQ(wf_gpt_config_preset("13B", &c, &e), WF_OK);
    WF_CHECK_EQ(c.n_layer, 40);
    WF_CHECK_EQ(wf_gpt_head_dim(&c), 128);
    WF_CHECK_EQ(wf_gpt_config_preset("cerebras-gpt-7b", &c, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "unknown model preset");
}

static void layout_is_dense_and_layer_major(void) {
    wf_gpt_config c;
    wf_err e = {0};
    wf_gpt_config_preset("111m", &c, &e);
    c.n_layer = 3; c.vocab_size = 100; c.n_positions = 16;
    size_t expect = 0;
    for (int i = 0; i < wf_gpt_tensor_count(&c); i++) {
        wf_tensor_info t;
        wf_gpt_tensor_info(&c, i, &t);
        WF_CHECK_EQ(t.offset, expect);
        expect += t.numel;
        WF_CHECK_EQ(wf_gpt_tensor_find(&c, t.name), i);
        char pre[80];
        snprintf(pre, sizeof pre, "transformer.%s", t.name);
        WF_CHECK_EQ(wf_gpt_tensor_find(&c, pre), i);
    }
    WF_CHECK_EQ(expect, wf_gpt_numel(&c));
    WF_CHECK_EQ(wf_gpt_block_offset(&c, 2) - wf_gpt_block_offset(&c, 1), wf_gpt_block_numel(&c, 1));
    WF_CHECK_EQ(wf_gpt_tensor_find(&c, "h.3.ln_1.weight"), -1); /* layer out of range */
    WF_CHECK_EQ(wf_gpt_tensor_find(&c, "h.0.attn.bias"), -1);   /* HF's mask buffer: not a parameter */
    float *w = calloc(wf_gpt_numel(&c), sizeof *w);
    wf_gpt_view v;
    WF_CHECK_EQ(wf_gpt_view_bind(&c, w, &v, &e), WF_OK);
    wf_tensor_info t;
    wf_gpt_tensor_info(&c, wf_gpt_tensor_find(&c, "h.1.mlp.c_proj.bias"), &t);
    WF_CHECK(v.layers[1].fproj_b == w + t.offset);
    wf_gpt_tensor_info(&c, wf_gpt_tensor_find(&c, "ln_f.bias"), &t);
    WF_CHECK(v.lnf_b == w + t.offset);
    wf_gpt_init_random(&c, w, 42);
    WF_CHECK_FEQ(v.layers[2].ln1_w[5], 1.0f);
    WF_CHECK_FEQ(v.layers[2].qkv_b[5], 0.0f);
    WF_CHECK(v.wte[7] != 0.0f);
    wf_gpt_view_unbind(&v);
    free(w);
}

static void config_json_round_trips_and_rejects_bad_keys(void) {
    char dir[] = "/tmp/wf_cfgXXXXXX", path[128];
    WF_CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/config.json", dir);
    wf_gpt_config c, d;
    wf_err e = {0};
    wf_gpt_config_preset("256m", &c, &e);
    c.act = WF_ACT_GELU_NEW;
    WF_CHECK_EQ(wf_gpt_config_save(&c, path, &e), WF_OK);
    WF_CHECK_EQ(wf_gpt_config_load(path, &d, &e), WF_OK);
    WF_CHECK_EQ(d.n_layer, 14); WF_CHECK_EQ(d.n_head, 17); WF_CHECK_EQ(d.n_inner, 4352);
    WF_CHECK_EQ(d.act, WF_ACT_GELU_NEW);
    WF_CHECK_STR(d.name, "cerebras-gpt-256m");
    static const struct { const char *json, *want; } bad[] = {
        {"{\"n_layer\": 2, \"n_embd\": ", "invalid JSON"},
        {"{\"model_type\": \"llama\"}", "model_type 'llama'"},
        {"{\"n_layer\": 2, \"n_embd\": 10, \"n_head\": 3}", "not divisible"},
        {"{\"n_layer\": \"two\"}", "'n_layer' must be an integer"},
        {"{\"n_layer\": 1, \"n_embd\": 8, \"n_head\": 2, \"activation_function\": \"relu\"}", "'relu'"},
        {"{\"n_layer\": 1, \"n_embd\": 8, \"n_head\": 2, \"scale_attn_by_inverse_layer_idx\": true}",
         "scale_attn_by_inverse_layer_idx"},
        {"[1,2]", "expected a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        WF_CHECK_EQ(wf_file_write_atomic(path, bad[i].json, strlen(bad[i].json), &e), WF_OK);
        WF_CHECK(wf_gpt_config_load(path, &d, &e) != WF_OK);
        WF_CHECK_HAS(e.msg, bad[i].want);
        WF_CHECK_HAS(e.msg, path);
    }
    unlink(path);
    rmdir(dir);
}

int main(void) {
    presets_match_reference_parameter_counts();
    layout_is_dense_and_layer_major();
    config_json_round_trips_and_rejects_bad_keys();
    return wf_check_report();
}
