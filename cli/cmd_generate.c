/* cmd_generate.c — `wafer generate --model DIR --prompt TEXT [options]`:
** encodes the prompt, prefills it in one batched forward, then decodes one
** token per step through the KV cache, printing each token's raw bytes as
** it is produced (flushed per token). Stops at EOS or --max-tokens (or the
** model's context). A stats line (prefill and decode tokens/s) goes to stderr.
** Tokenizer: --tokenizer DIR, else the model folder's own files, else the
** bundled GPT-2 files in data/gpt2 (needed for a preset = random weights). */
#include "cli/cli.h"

#include <errno.h>

#include "kernels/kernels.h"
#include "model/checkpoint.h"
#include "sparse/sparse.h"
#include "model/infer.h"
#include "model/sample.h"
#include "model/tokenizer.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: wafer generate --model DIR --prompt TEXT [options]\n"
            "  --max-tokens N     tokens to generate (default 64)\n"
            "  --temperature T    0 = greedy (default 1.0)\n"
            "  --top-k K          keep the K most likely tokens (default 0 = off)\n"
            "  --top-p P          nucleus sampling mass (default 1.0 = off)\n"
            "  --seed S           sampling seed (default 1234); same seed, same text\n"
            "  --threads N        CPU threads (default: all cores, one fewer while another process\n"
            "                     competes for them; the tokens are the same at any count)\n"
            "  --bf16             decode with bf16 weights (~2x faster; logits not HF-exact)\n"
            "  --int8             int8 weights (per-column scales per 32 rows; ~3x faster decoding,\n"
            "                     logits move by the quantization, docs/kernels.md)\n"
            "  --no-pack          decode from the weights as loaded (default: from a copy packed for\n"
            "                     decoding, 4 bytes/param more, when it takes under half the free memory)\n"
            "  --mode stream      read the layers from the model folder at each step instead of loading\n"
            "                     them (a model larger than RAM; same text, every token reads the model)\n"
            "  --tokenizer DIR    vocab.json + merges.txt (default: the model folder, then data/gpt2)\n"
            "DIR is a Hugging Face folder or a preset name (random weights).\n"
            "stdout gets the continuation only (raw bytes, as produced); stats go to stderr.\n");
}

int wf_cmd_generate(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *tokdir = NULL;
    long long max_tokens = 64, top_k = 0, seed = 1234, threads = 0;
    double temperature = 1.0, top_p = 1.0;
    int bf16 = 0, stream = 0, no_pack = 0, int8 = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--no-pack")) {
            no_pack = 1;
            continue;
        }
        if (!strcmp(a, "--int8")) {
            int8 = 1;
            continue;
        }
        if (!strcmp(a, "--bf16")) {
            bf16 = 1;
            continue;
        }
        if (i + 1 >= argc) return wf_cli_usage("generate", "unknown or incomplete option '%s'", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--prompt")) prompt = v;
        else if (!strcmp(a, "--tokenizer")) tokdir = v;
        else if (!strcmp(a, "--mode")) {
            if (strcmp(v, "resident") && strcmp(v, "stream"))
                return wf_cli_usage("generate", "--mode '%s': expected resident or stream", v);
            stream = !strcmp(v, "stream");
        }
        else if (!strcmp(a, "--max-tokens")) {
            if (wf_cli_parse_long(v, 0, 1 << 30, &max_tokens))
                return wf_cli_usage("generate", "--max-tokens '%s': expected an integer >= 0", v);
        } else if (!strcmp(a, "--temperature")) {
            if (wf_cli_parse_double(v, 0, 1e6, &temperature))
                return wf_cli_usage("generate", "--temperature '%s': expected a number >= 0", v);
        } else if (!strcmp(a, "--top-k")) {
            if (wf_cli_parse_long(v, 0, 1 << 30, &top_k))
                return wf_cli_usage("generate", "--top-k '%s': expected an integer >= 0", v);
        } else if (!strcmp(a, "--top-p")) {
            if (wf_cli_parse_double(v, 1e-9, 1, &top_p))
                return wf_cli_usage("generate", "--top-p '%s': expected a number in (0, 1]", v);
        } else if (!strcmp(a, "--seed")) {
            if (wf_cli_parse_long(v, 0, INT64_MAX, &seed))
                return wf_cli_usage("generate", "--seed '%s': expected an integer >= 0", v);
        } else if (!strcmp(a, "--threads")) {
            if (wf_cli_parse_long(v, 1, 1024, &threads))
                return wf_cli_usage("generate", "--threads '%s': expected an integer in [1, 1024]", v);
        } else return wf_cli_usage("generate", "unknown option '%s'", a);
    }
    if (!model) return wf_cli_usage("generate", "--model is required");
    if (!prompt) return wf_cli_usage("generate", "--prompt is required");
    if (stream && bf16) return wf_cli_usage("generate", "--bf16 needs the weights in memory: not with --mode stream");
    if (stream && int8) return wf_cli_usage("generate", "--int8 needs the weights in memory: not with --mode stream");
    if (bf16 && int8) return wf_cli_usage("generate", "--bf16 and --int8: choose one");
    if (stream && !wf_path_is_dir(model))
        return wf_cli_usage("generate", "--mode stream reads a model folder; '%s' is not one", model);
    wf_cli_log_init(1);
    if (threads) wf_kernels_set_threads((int)threads);

    wf_err err = {0};
    wf_status st;
    wf_tokenizer *tok = NULL;
    wf_sampler *smp = NULL;
    wf_infer *ctx = NULL;
    wf_sparse_infer *sp = NULL;
    float *w = NULL, *lg = NULL;
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    wf_gpt_config cfg;
    wf_ckpt_reader *rd = NULL;
    if ((st = stream ? wf_checkpoint_open(model, 0, 0, NULL, &cfg, &rd, &err) : wf_checkpoint_load(model, NULL, &cfg, &w, &err)))
        goto fail;
    const char *tokname = wf_tokenizer_for_model(tokdir, model);
    if ((st = wf_tokenizer_open(tokname, &tok, &err))) goto fail;
    if ((st = wf_tokenizer_fits(tok, cfg.vocab_size, tokname, &err))) goto fail;
    if ((st = wf_tokenizer_encode(tok, prompt, strlen(prompt), &ids, &n, &cap, &err))) goto fail;
    if (n == 0) { /* empty prompt: start from the BOS token, as HF does */
        int32_t *p = wf_realloc(NULL, ids, sizeof(int32_t), "prompt ids", &err);
        if (!p) { st = WF_ENOMEM; goto fail; }
        ids = p;
        ids[0] = cfg.bos_token_id;
        n = 1;
    }
    if (n > (size_t)cfg.n_positions) {
        st = WF_FAIL(&err, WF_ERANGE, "prompt: %zu tokens exceed the model's context of %d (n_positions)",
                     n, cfg.n_positions);
        goto fail;
    }
    int eos = wf_tokenizer_eos(tok);
    if (eos < 0) eos = cfg.eos_token_id;
    long long room = cfg.n_positions - (long long)n;
    int limit = (int)(max_tokens < room ? max_tokens : room);
    wf_infer_opts io = {.max_batch = 1, .n_ctx = (int)n + limit, .bf16_decode = bf16};
    if (!stream && (st = wf_sparse_infer_open(model, &cfg, w, 1024, NULL, &sp, &err))) goto fail; /* streamed: dense over the zeros */
    if (sp) io.linear = wf_sparse_infer_linear, io.linear_ud = sp;
    io.pack = !stream && !bf16 && !int8 && !sp && !no_pack && wf_infer_pack_auto(&cfg);
    io.int8 = int8;
    if ((st = stream ? wf_infer_new_stream(&cfg, rd, &io, NULL, &ctx, &err) : wf_infer_new(&cfg, w, &io, NULL, &ctx, &err)))
        goto fail;
    wf_sample_opts so = {.temperature = (float)temperature, .top_k = (int)top_k, .top_p = (float)top_p};
    if ((st = wf_sampler_new(cfg.vocab_size, &so, (uint64_t)seed, NULL, &smp, &err))) goto fail;
    lg = wf_alloc(NULL, sizeof(float) * (size_t)cfg.vocab_size, "generate logits", &err);
    if (!lg) { st = WF_ENOMEM; goto fail; }

    double t0 = wf_now();
    if ((st = wf_infer_forward(ctx, ids, 1, (int)n, lg, WF_LOGITS_LAST, &err))) {
        if (st == WF_ERANGE) wf_err_prefix(&err, "prompt (does the tokenizer fit the model?)");
        goto fail;
    }
    double t1 = wf_now(), t_prefill = t1 - t0;
    int produced = 0;
    /* without --threads the count follows the load (wf_tune): one thread fewer
    ** while another process competes for the cores; the tokens do not change */
    wf_tune tune;
    wf_tune_init(&tune, wf_kernels_threads());
    const char *why = limit < max_tokens ? "context full" : "max tokens";
    for (;;) {
        if (produced >= limit) break;
        int32_t next = wf_sampler_next(smp, lg);
        if (next == eos) { why = "eos"; break; }
        const char *bytes;
        int len = wf_tokenizer_token_bytes(tok, next, &bytes);
        if ((len > 0 && fwrite(bytes, 1, (size_t)len, stdout) != (size_t)len) || fflush(stdout) != 0) {
            st = WF_FAIL(&err, WF_EIO, "writing standard output: %s", strerror(errno)); /* stop at once */
            goto fail;
        }
        produced++;
        if (produced >= limit) break;
        double ts = wf_now();
        if ((st = wf_infer_forward(ctx, &next, 1, 1, lg, WF_LOGITS_LAST, &err))) goto fail;
        if (!threads) {
            int nt = wf_tune_next(&tune, wf_now() - ts);
            if (nt != wf_kernels_threads()) wf_kernels_set_threads(nt);
            if (tune.was)
                wf_log(WF_LOG_INFO, "threads: %d -> %d: a token took %.1f ms with %d against %.1f ms with %d", tune.was,
                       tune.cur, 1e3 * tune.t_probe, tune.cur, 1e3 * tune.t_best, tune.was);
        }
    }
    double t_dec = wf_now() - t1;
    /* The decode rate counts forward steps (the first token comes from the prefill). */
    int steps = produced > 0 ? produced - 1 : 0;
    fprintf(stderr, "\n[generate] prompt %zu tokens, prefill %.1f tok/s (%.3f s); %d new tokens, "
                    "decode %.1f tok/s%s; stop: %s; threads %d; isa %s; omp-spin %s; gemm %s\n",
            n, (double)n / t_prefill, t_prefill, produced, steps > 0 ? steps / t_dec : 0.0,
            bf16 ? " (bf16 weights)" : int8 ? " (int8 weights)" : io.pack ? " (packed)" : "", why,
            wf_kernels_threads(), wf_isa_name(wf_isa_active()),
            getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY")
                                      : getenv("GOMP_SPINCOUNT") ? getenv("GOMP_SPINCOUNT") : "default",
            wf_gemm_kernel_name());
    st = WF_OK;
fail:
    wf_sampler_free(smp);
    wf_infer_free(ctx);
    wf_sparse_infer_free(sp);
    wf_tokenizer_free(tok);
    wf_free(NULL, lg);
    wf_free(NULL, w);
    wf_checkpoint_close(rd);
    wf_free(NULL, ids);
    return st ? wf_cli_fail("generate", &err) : 0;
}
