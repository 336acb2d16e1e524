/* cmd_info.c — `wafer info MODEL [--json]`: the config of a model folder or a
** preset, its parameter count, and the memory it needs (fp32 weights; training
** with grads and AdamW moments; KV cache per 1k tokens). Reads config only. */
#include "cli/cli.h"
#include "exec/exec.h"
#include "model/checkpoint.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static const char *usage_text =
    "usage: wafer info MODEL [--json] [--batch B --seq T [--recompute]]\n"
    "  MODEL   a Hugging Face folder (config.json + weights) or a preset name\n"
    "          (cerebras-gpt-111m ... cerebras-gpt-13b)\n"
    "  --json  print one JSON object instead of text\n"
    "  --batch B, --seq T, --recompute: also the memory of training [B,T] per --mode\n"
    "          (resident; stream: device side, store, host RAM with a RAM or disk store)\n"
    "Memory: weights = 4 B/param (fp32); training = weights + grads + AdamW m and v\n"
    "(16 B/param, activations not included); KV cache = 2 x layers x d_model x 4 B per token.\n";

static void human(char *buf, size_t n, double bytes) {
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) bytes /= 1024, u++;
    snprintf(buf, n, u ? "%.2f %s" : "%.0f %s", bytes, units[u]);
}

int wf_cmd_info(int argc, char **argv) {
    const char *model = NULL;
    int json = 0, B = 0, T = 0, recompute = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--recompute")) {
            recompute = 1;
        } else if (!strcmp(argv[i], "--batch") || !strcmp(argv[i], "--seq")) {
            long long n;
            if (i + 1 >= argc || wf_cli_parse_long(argv[i + 1], 1, 1 << 20, &n))
                return wf_cli_usage("info", "%s needs an integer in [1, 1048576]", argv[i]);
            *(argv[i][2] == 'b' ? &B : &T) = (int)n, i++;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return wf_cli_usage("info", "unknown option '%s'", argv[i]);
        } else if (model) {
            return wf_cli_usage("info", "one MODEL expected, got '%s' and '%s'", model, argv[i]);
        } else {
            model = argv[i];
        }
    }
    if (!model) return wf_cli_usage("info", "MODEL is required");
    wf_gpt_config c;
    const char *source = NULL;
    wf_err err = {0};
    if (wf_checkpoint_load_config(model, &c, &source, &err)) return wf_cli_fail("info", &err);
    double params = (double)wf_gpt_numel(&c);
    double w_bytes = 4 * params, train_bytes = 16 * params;
    double kv_1k = 2.0 * c.n_layer * c.n_embd * 4.0 * 1024;
    wf_exec_plan plan = {0};
    if (B || T) {
        if (!B) B = 1;
        if (!T) T = c.n_positions < 1024 ? c.n_positions : 1024;
        if (wf_exec_plan_for(&c, B, T, recompute, &plan, &err)) return wf_cli_fail("info", &err);
    }
    const char *act = c.act == WF_ACT_GELU ? "gelu" : "gelu_new";
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "model", model);
        cJSON_AddStringToObject(j, "name", c.name);
        cJSON_AddStringToObject(j, "weights", source);
        cJSON_AddNumberToObject(j, "n_layer", c.n_layer);
        cJSON_AddNumberToObject(j, "n_embd", c.n_embd);
        cJSON_AddNumberToObject(j, "n_head", c.n_head);
        cJSON_AddNumberToObject(j, "d_head", wf_gpt_head_dim(&c));
        cJSON_AddNumberToObject(j, "n_inner", c.n_inner);
        cJSON_AddNumberToObject(j, "vocab_size", c.vocab_size);
        cJSON_AddNumberToObject(j, "n_positions", c.n_positions);
        cJSON_AddStringToObject(j, "activation", act);
        char eps[32];
        snprintf(eps, sizeof eps, "%.7g", (double)c.layer_norm_eps); /* the float's shortest decimal */
        cJSON_AddNumberToObject(j, "layer_norm_epsilon", strtod(eps, NULL));
        cJSON_AddNumberToObject(j, "parameters", params);
        cJSON_AddBoolToObject(j, "tie_word_embeddings", !c.untied_head);
        cJSON *m = cJSON_AddObjectToObject(j, "memory_bytes");
        cJSON_AddNumberToObject(m, "weights_fp32", w_bytes);
        cJSON_AddNumberToObject(m, "training_fp32_adamw", train_bytes);
        cJSON_AddNumberToObject(m, "kv_cache_per_1k_tokens_fp32", kv_1k);
        if (B) {
            cJSON *md = cJSON_AddObjectToObject(j, "modes");
            cJSON_AddNumberToObject(md, "batch", B);
            cJSON_AddNumberToObject(md, "seq", T);
            cJSON_AddNumberToObject(md, "activations", (double)plan.acts);
            cJSON_AddNumberToObject(md, "resident", (double)plan.resident);
            cJSON_AddNumberToObject(md, "stream_device", (double)plan.stream_device);
            cJSON_AddNumberToObject(md, "stream_store", (double)plan.stream_store);
            cJSON_AddNumberToObject(md, "stream_host_ram_store", (double)plan.stream_ram);
            cJSON_AddNumberToObject(md, "stream_host_disk_store", (double)plan.stream_disk);
        }
        char *s = cJSON_Print(j);
        cJSON_Delete(j);
        if (!s) {
            fprintf(stderr, "wafer info: out of memory\n");
            return 1;
        }
        puts(s);
        cJSON_free(s);
        return 0;
    }
    char b1[32], b2[32], b3[32];
    human(b1, sizeof b1, w_bytes);
    human(b2, sizeof b2, train_bytes);
    human(b3, sizeof b3, kv_1k);
    printf("model       %s (%s)\n", model, c.name);
    printf("weights     %s\n", source);
    printf("layers      %d\n", c.n_layer);
    printf("d_model     %d\n", c.n_embd);
    printf("heads       %d\n", c.n_head);
    printf("d_head      %d\n", wf_gpt_head_dim(&c));
    printf("d_ffn       %d\n", c.n_inner);
    printf("vocab       %d\n", c.vocab_size);
    printf("positions   %d\n", c.n_positions);
    printf("activation  %s\n", c.act == WF_ACT_GELU ? "gelu (exact erf)" : "gelu_new (tanh approximation)");
    printf("parameters  %.0f (%.1f M, LM head %s)\n", params, params / 1e6,
           c.untied_head ? "untied: its own lm_head.weight" : "tied to wte");
    printf("memory      %-30s %s\n", "weights (fp32)", b1);
    printf("            %-30s %s  (activations not included)\n", "training (w + g + AdamW m, v)", b2);
    printf("            %-30s %s  (fp32, one sequence)\n", "KV cache per 1k tokens", b3);
    if (B) {
        const char *what[] = {"activations", "--mode resident", "--mode stream: device side", "  store (RAM or disk)",
                              "  host RAM, RAM store", "  host RAM, disk store"};
        size_t v[] = {plan.acts, plan.resident, plan.stream_device, plan.stream_store, plan.stream_ram, plan.stream_disk};
        printf("training    batch %d x seq %d%s\n", B, T, recompute ? ", recompute" : "");
        for (int k = 0; k < 6; k++) {
            human(b1, sizeof b1, (double)v[k]);
            printf("            %-30s %s\n", what[k], b1);
        }
    }
    return 0;
}
