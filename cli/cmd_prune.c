/* cmd_prune.c — `wafer prune --model DIR --sparsity S --out DIR`: a
** magnitude-pruned copy of a model (issue 13). In every block matrix (qkv,
** attention projection, fc, fc projection) the smallest |w| become exactly
** zero; the output is a normal Hugging Face folder (config.json,
** model.safetensors with the zeros, the tokenizer when the source has one)
** plus sparse_mask.bin, so `wafer train --model OUT` continues sparse and
** generate/score/eval use the sparse kernels. */
#include "cli/cli.h"
#include "model/checkpoint.h"
#include "model/tokenizer.h"
#include "sparse/sparse.h"

#include <string.h>

static const char *usage_text =
    "usage: wafer prune --model DIR|PRESET --sparsity S --out DIR [--sparsity-dist uniform|erk]\n"
    "  Zeros the fraction S in [0, 1) of smallest-magnitude weights in every block matrix (qkv, attn proj,\n"
    "  fc, fc proj; embeddings, biases and LayerNorm stay dense) and writes a HF folder with the zeros\n"
    "  plus sparse_mask.bin. --sparsity-dist erk: Erdos-Renyi-Kernel densities per matrix kind\n"
    "  (uniform: the same density in every matrix, default). --out must not hold a model yet.\n";

int wf_cmd_prune(int argc, char **argv) {
    const char *model = NULL, *out = NULL;
    double S = -1;
    int erk = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (strcmp(a, "--model") && strcmp(a, "--out") && strcmp(a, "--sparsity") && strcmp(a, "--sparsity-dist"))
            return wf_cli_usage("prune", "unknown option '%s'", a);
        if (!v) return wf_cli_usage("prune", "%s needs a value", a);
        i++;
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--sparsity")) {
            if (wf_cli_parse_double(v, 0.0, 1.0, &S) || S >= 1.0)
                return wf_cli_usage("prune", "--sparsity '%s': expected a fraction of zeros in [0, 1)", v);
        } else {
            if (strcmp(v, "uniform") && strcmp(v, "erk"))
                return wf_cli_usage("prune", "--sparsity-dist '%s': expected uniform or erk", v);
            erk = !strcmp(v, "erk");
        }
    }
    if (!model) return wf_cli_usage("prune", "--model is required");
    if (!out) return wf_cli_usage("prune", "--out is required");
    if (S < 0) return wf_cli_usage("prune", "--sparsity is required");
    wf_cli_log_init(0);
    char p[1200];
    snprintf(p, sizeof p, "%s/config.json", out);
    wf_err err = {0};
    if (wf_path_exists(p)) {
        WF_FAIL(&err, WF_EUSAGE, "--out %s: already holds a model (config.json); choose another folder", out);
        return wf_cli_fail("prune", &err);
    }
    wf_gpt_config c;
    float *w = NULL;
    wf_sparse_mask *m = NULL;
    wf_tokenizer *tok = NULL;
    int code = 0;
    if (wf_checkpoint_load(model, NULL, &c, &w, &err) || wf_sparse_mask_magnitude(&c, w, S, erk, NULL, &m, &err)) {
        code = wf_cli_fail("prune", &err);
        goto done;
    }
    wf_sparse_mask_apply(m, w);
    snprintf(p, sizeof p, "%s/%s", out, WF_SPARSE_MASK_FILE);
    if (wf_checkpoint_save(out, &c, w, &err) || wf_sparse_mask_save(p, m, &err)) {
        code = wf_cli_fail("prune", &err);
        goto done;
    }
    if (wf_path_is_dir(model)) { /* the source's tokenizer travels along when it has one */
        wf_err te;
        if (!wf_tokenizer_open(model, &tok, &te) && wf_tokenizer_save(tok, out, &err)) {
            code = wf_cli_fail("prune", &err);
            goto done;
        }
    }
    printf("{\"model\": \"%s\", \"out\": \"%s\", \"sparsity\": %.4f, \"dist\": \"%s\", \"zero_fraction\": %.6f}\n",
           model, out, S, wf_sparse_dist_name(wf_sparse_mask_dist(m)), wf_sparse_mask_actual(m));
done:
    wf_tokenizer_free(tok);
    wf_sparse_mask_free(m);
    wf_free(NULL, w);
    return code;
}
