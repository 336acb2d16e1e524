/* cmd_train.c — `wafer train`: train a Cerebras-GPT model from a preset or
** fine-tune a Hugging Face folder on a token DATA_DIR (wafer tokenize).
** Flag parsing and the Ctrl-C handler live here; the loop is train/loop.c. */
#include "cli/cli.h"
#include "exec/exec.h"
#ifdef WF_HAVE_MPI
#include "swarm/swarm.h"
#endif
#include "model/checkpoint.h"
#include "kernels/kernels.h"
#include "train/train.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static const char *usage_text =
    "usage: wafer train --model PRESET|DIR --data DATA_DIR --out DIR (--steps N | --tokens N) [options]\n"
    "  --model M          preset (cerebras-gpt-111m ...: fresh weights from --seed) or a HF folder (fine-tune)\n"
    "  --data DIR         token shards from `wafer tokenize` (train split; val split for validation)\n"
    "  --out DIR          checkpoints (DIR/ckpt-N, DIR/latest), log.csv, loss.png\n"
    "  --steps N          optimizer steps            --tokens N   or: training tokens (rounded up to steps)\n"
    "  --batch B          sequences per micro-batch (1)\n"
    "  --seq T            tokens per sequence (default: min(n_positions, 1024))\n"
    "  --accum K          micro-batches per step: gradient accumulation (1)\n"
    "  --lr LR            peak learning rate (default: the preset's recipe, else 6e-4)\n"
    "  --warmup N         warm-up steps (default 5%% of steps)\n"
    "  --schedule S       linear | cosine | constant: decay to 10%% of peak (default: the preset's)\n"
    "  --end-frac F       final lr as a fraction of peak (0.1)\n"
    "  --weight-decay W   (0.1)   --beta1 (0.9)  --beta2 (0.95)  --eps (1e-8)  --clip C (1.0; 0 = off)\n"
    "  --decay WHAT       matrices (default) | matrices+emb | all: which tensors get weight decay\n"
    "  --eval-every N     validation loss every N steps (and at the end)\n"
    "  --eval-windows N   validation windows of seq+1 tokens per evaluation (16; 0 = whole split)\n"
    "  --save-every N     checkpoint every N steps (and at the end, and on Ctrl-C)\n"
    "  --stop-at N        save and stop after step N (continue later with --resume)\n"
    "  --seed S           weights init of a preset and data order (1234)\n"
    "  --threads N        CPU threads (default: all cores, one fewer while another process competes for them)\n"
    "  --recompute        recompute activations in the backward (less memory)\n"
    "  --bf16             bf16 products, fp32 sums, in the big GEMMs (weights, grads, Adam stay fp32)\n"
    "  --sparsity S       static unstructured masks on the block matrices (qkv, attn proj, fc, fc proj), S in [0, 1)\n"
    "                     zeros: random for a preset, by magnitude for a model folder; saved as sparse_mask.bin\n"
    "                     (a model or checkpoint with sparse_mask.bin trains sparse by default; --sparsity 0 drops it)\n"
    "  --sparsity-dist D  uniform (same density per matrix, default) | erk (Erdos-Renyi-Kernel densities)\n"
    "  --dense-finetune   drop the model's mask and train every weight (SPDF's dense fine-tune)\n"
    "  --sparse-kernels K auto (time sparse vs dense per matrix once, keep the faster; default) | sparse | dense\n"
    "  --mode M           resident (all in RAM) | stream (weights from a store, a layer at a time) | auto (resident)\n"
    "  --store DIR        --mode stream: keep weights, Adam m/v and grads in DIR/store.bin (default: in RAM)\n"
    "  --device-mem SIZE  --mode stream: fail unless the device side fits SIZE (K/M/G suffixes)\n"
    "  --trace FILE       --mode stream: per-layer timeline of compute, prefetch and write-behind\n"
    "                     (Chrome/Perfetto JSON)\n"
    "  --mem-limit SIZE   --mode auto: stream when resident training would need more (default: available RAM)\n"
    "  --resume           continue the run in --out from DIR/latest, bit-identically; optimizer flags\n"
    "                     given again (--beta1 ... --clip, --decay) replace the stored ones from then on\n"
    "  --overwrite        start over in a --out that holds an earlier run (removes its checkpoints, latest,\n"
    "                     log.csv, loss.png; nothing else). Without it a fresh run needs an empty --out\n"
    "  --keep N           keep this run's N newest checkpoints (3; 0 = all). Only checkpoints listed in\n"
    "                     DIR/checkpoints.txt are removed, never symlinks or folders with other files\n"
    "  --max-shard-size S checkpoints larger than S are saved as HF shards model-0000i-of-0000n.safetensors\n"
    "                     + model.safetensors.index.json (default 5e9 bytes, transformers' 5GB)\n"
    "  --tokenizer DIR    tokenizer to store with checkpoints (default: the model folder's)\n"
    "  --n-layer N --n-embd C --n-head H --n-positions P --vocab-size V   reshape a preset\n"
    "  --n-inner F        a preset's MLP width (default 4 x n_embd)\n"
    "  --activation A     a preset's activation: gelu (exact, Cerebras-GPT) or gelu_new (tanh, GPT-2)\n"
    "  -q, --quiet        no per-step lines\n"
    "Ctrl-C saves a checkpoint and exits (status 130).\n";

/* "123", "64K", "2G": bytes; -1 when malformed. */
static long long parse_size(const char *s) {
    char *end;
    double v = strtod(s, &end);
    double mul = *end == 'K' || *end == 'k' ? 1024.0 : *end == 'M' || *end == 'm' ? 1048576.0
               : *end == 'G' || *end == 'g' ? 1073741824.0 : *end == 'T' || *end == 't' ? 1099511627776.0 : 1.0;
    if (end == s || !(v >= 0) || v * mul > 9e18 || (mul > 1.0 && *++end) || (mul == 1.0 && *end)) return -1;
    return (long long)(v * mul);
}

/* --mode: sets up the streaming executor (*x) and o->exec when the run streams. */
static int setup_mode(wf_train_opts *o, const char *mode, const char *store, long long dev, long long limit,
                      const char *trace, wf_exec **x, wf_step_hooks *h) {
    int stream = !strcmp(mode, "stream");
    if (!stream && strcmp(mode, "resident") && strcmp(mode, "auto"))
        return wf_cli_usage("train", "--mode '%s': expected resident, stream or auto", mode);
    if (!strcmp(mode, "resident") && (store || dev || trace))
        return wf_cli_usage("train", "--store, --device-mem and --trace need --mode stream or auto");
    wf_err err = {0};
    if (!strcmp(mode, "auto")) {
        wf_gpt_config c;
        wf_exec_plan p;
        char why[256];
        if (wf_checkpoint_load_config(o->model, &c, NULL, &err)) return wf_cli_fail("train", &err);
        if (o->n_layer) c.n_layer = o->n_layer;
        if (o->n_embd) c.n_embd = o->n_embd, c.n_inner = 4 * o->n_embd;
        if (o->n_positions) c.n_positions = o->n_positions;
        if (o->vocab_size) c.vocab_size = o->vocab_size;
        int T = o->T ? o->T : (c.n_positions < 1024 ? c.n_positions : 1024);
        if (wf_exec_plan_for(&c, o->B, T, o->recompute, &p, &err)) return wf_cli_fail("train", &err);
        stream = wf_exec_auto_stream(&p, (size_t)limit, why, sizeof why);
        wf_log(WF_LOG_INFO, "%s", why);
    }
    if (!stream) {
        if (trace) wf_log(WF_LOG_WARN, "--trace: the run is resident, no trace is written (it records the streaming executor)");
        return 0;
    }
    wf_exec_opts xo = {.store_dir = store, .device_mem = (size_t)dev, .trace = trace, .dp = o->dp};
    if (wf_exec_new(&xo, x, &err)) return wf_cli_fail("train", &err);
    wf_exec_hooks(*x, h);
    o->exec = h;
    return 0;
}

/* global: set by the SIGINT handler, read by the loop (STYLE 10 exception). */
static volatile int stop_flag;
static void on_sigint(int sig) {
    (void)sig;
    stop_flag = 1;
    signal(SIGINT, SIG_DFL); /* a second Ctrl-C ends the process at once */
}

int wf_cmd_train(int argc, char **argv) {
    wf_train_opts o;
    wf_train_opts_default(&o);
    int threads = 0, quiet = 0;
    const char *mode = "resident", *store = NULL, *trace = NULL;
    long long dev_mem = 0, mem_limit = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long n;
        double d;
#define NEED()                                                                 \
    do {                                                                       \
        if (!v) return wf_cli_usage("train", "%s needs a value", a);           \
        i++;                                                                   \
    } while (0)
#define LONG(lo, hi, dst)                                                                     \
    do {                                                                                      \
        NEED();                                                                               \
        if (wf_cli_parse_long(v, lo, hi, &n))                                                 \
            return wf_cli_usage("train", "%s '%s': expected an integer in [%lld, %lld]", a, v, \
                                (long long)(lo), (long long)(hi));                            \
        dst = n;                                                                              \
    } while (0)
#define DBL(lo, hi, dst)                                                                     \
    do {                                                                                     \
        NEED();                                                                              \
        if (wf_cli_parse_double(v, lo, hi, &d))                                              \
            return wf_cli_usage("train", "%s '%s': expected a number in [%g, %g]", a, v,     \
                                (double)(lo), (double)(hi));                                 \
        dst = d;                                                                             \
    } while (0)
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf(usage_text);
            return 0;
        } else if (!strcmp(a, "--model")) { NEED(); o.model = v;
        } else if (!strcmp(a, "--data")) { NEED(); o.data = v;
        } else if (!strcmp(a, "--out")) { NEED(); o.out = v;
        } else if (!strcmp(a, "--tokenizer")) { NEED(); o.tokenizer = v;
        } else if (!strcmp(a, "--steps")) { LONG(1, 1000000000LL, o.steps);
        } else if (!strcmp(a, "--tokens")) { LONG(1, (long long)4e18, o.tokens);
        } else if (!strcmp(a, "--batch")) { LONG(1, 65536, o.B);
        } else if (!strcmp(a, "--seq")) { LONG(1, 1 << 20, o.T);
        } else if (!strcmp(a, "--accum")) { LONG(1, 1 << 20, o.accum);
        } else if (!strcmp(a, "--lr")) { DBL(1e-12, 10.0, o.lr); o.optim_given |= WF_OPTIM_GIVEN_LR;
        } else if (!strcmp(a, "--warmup")) { LONG(0, 1000000000LL, o.warmup); o.optim_given |= WF_OPTIM_GIVEN_WARMUP;
        } else if (!strcmp(a, "--end-frac")) { DBL(0.0, 1.0, o.end_frac); o.optim_given |= WF_OPTIM_GIVEN_END;
        } else if (!strcmp(a, "--weight-decay")) { DBL(0.0, 10.0, o.optim.weight_decay); o.optim_given |= WF_OPTIM_GIVEN_WD;
        } else if (!strcmp(a, "--beta1")) { DBL(0.0, 0.999999, o.optim.beta1); o.optim_given |= WF_OPTIM_GIVEN_BETA1;
        } else if (!strcmp(a, "--beta2")) { DBL(0.0, 0.999999, o.optim.beta2); o.optim_given |= WF_OPTIM_GIVEN_BETA2;
        } else if (!strcmp(a, "--eps")) { DBL(0.0, 1.0, o.optim.eps); o.optim_given |= WF_OPTIM_GIVEN_EPS;
        } else if (!strcmp(a, "--clip")) { DBL(0.0, 1e9, o.optim.clip); o.optim_given |= WF_OPTIM_GIVEN_CLIP;
        } else if (!strcmp(a, "--eval-every")) { LONG(0, 1000000000LL, o.eval_every);
        } else if (!strcmp(a, "--eval-windows")) { LONG(0, 1000000000LL, o.eval_windows);
        } else if (!strcmp(a, "--save-every")) { LONG(0, 1000000000LL, o.save_every);
        } else if (!strcmp(a, "--stop-at")) { LONG(1, 1000000000LL, o.stop_at);
        } else if (!strcmp(a, "--seed")) { LONG(0, (long long)9e18, o.seed);
        } else if (!strcmp(a, "--threads")) { LONG(1, 4096, threads);
        } else if (!strcmp(a, "--n-layer")) { LONG(1, 1000, o.n_layer);
        } else if (!strcmp(a, "--n-embd")) { LONG(1, 1 << 16, o.n_embd);
        } else if (!strcmp(a, "--n-head")) { LONG(1, 1024, o.n_head);
        } else if (!strcmp(a, "--n-positions")) { LONG(1, 1 << 20, o.n_positions);
        } else if (!strcmp(a, "--vocab-size")) { LONG(1, 1 << 24, o.vocab_size);
        } else if (!strcmp(a, "--n-inner")) { LONG(1, 1 << 18, o.n_inner);
        } else if (!strcmp(a, "--activation")) {
            NEED();
            int k = wf_gpt_activation_parse(v);
            if (k < 0) return wf_cli_usage("train", "--activation '%s': expected gelu or gelu_new", v);
            o.act = 1 + k;
        } else if (!strcmp(a, "--recompute")) { o.recompute = 1;
        } else if (!strcmp(a, "--bf16")) { o.bf16 = 1;
        } else if (!strcmp(a, "--resume")) { o.resume = 1;
        } else if (!strcmp(a, "--sparsity")) {
            NEED();
            if (wf_cli_parse_double(v, 0.0, 1.0, &d) || d >= 1.0)
                return wf_cli_usage("train", "--sparsity '%s': expected a fraction of zeros in [0, 1)", v);
            o.sparsity = d;
        } else if (!strcmp(a, "--sparsity-dist")) {
            NEED();
            if (strcmp(v, "uniform") && strcmp(v, "erk"))
                return wf_cli_usage("train", "--sparsity-dist '%s': expected uniform or erk", v);
            o.sparsity_dist = !strcmp(v, "erk") ? WF_SPARSE_ERK : WF_SPARSE_UNIFORM;
        } else if (!strcmp(a, "--dense-finetune")) { o.dense_finetune = 1;
        } else if (!strcmp(a, "--sparse-kernels")) {
            NEED();
            if (!strcmp(v, "auto")) o.sparse_kernels = WF_SPARSE_KERNELS_AUTO;
            else if (!strcmp(v, "dense")) o.sparse_kernels = WF_SPARSE_KERNELS_DENSE;
            else if (!strcmp(v, "sparse")) o.sparse_kernels = WF_SPARSE_KERNELS_SPARSE;
            else return wf_cli_usage("train", "--sparse-kernels '%s': expected auto, sparse or dense", v);
        } else if (!strcmp(a, "--mode")) { NEED(); mode = v;
        } else if (!strcmp(a, "--store")) { NEED(); store = v;
        } else if (!strcmp(a, "--trace")) { NEED(); trace = v;
        } else if (!strcmp(a, "--device-mem") || !strcmp(a, "--mem-limit")) {
            NEED();
            long long b = parse_size(v);
            if (b <= 0) return wf_cli_usage("train", "%s '%s': expected a size in bytes (suffix K, M, G or T)", a, v);
            *(a[2] == 'd' ? &dev_mem : &mem_limit) = b;
        } else if (!strcmp(a, "--max-shard-size")) {
            NEED();
            long long b = parse_size(v);
            if (b <= 0) return wf_cli_usage("train", "--max-shard-size '%s': expected a size in bytes (suffix K, M, G or T)", v);
            o.max_shard = (uint64_t)b;
        } else if (!strcmp(a, "--overwrite")) { o.overwrite = 1;
        } else if (!strcmp(a, "--keep")) { LONG(0, 1000, o.keep);
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) { quiet = 1;
        } else if (!strcmp(a, "--schedule")) {
            NEED();
            o.optim_given |= WF_OPTIM_GIVEN_SCHED;
            if (!strcmp(v, "linear")) o.sched = WF_SCHED_LINEAR;
            else if (!strcmp(v, "cosine")) o.sched = WF_SCHED_COSINE;
            else if (!strcmp(v, "constant")) o.sched = WF_SCHED_CONSTANT;
            else return wf_cli_usage("train", "--schedule '%s': expected linear, cosine or constant", v);
        } else if (!strcmp(a, "--decay")) {
            NEED();
            o.optim_given |= WF_OPTIM_GIVEN_DECAY;
            if (!strcmp(v, "matrices")) o.optim.decay = WF_DECAY_MATRICES;
            else if (!strcmp(v, "matrices+emb")) o.optim.decay = WF_DECAY_MATRICES_EMB;
            else if (!strcmp(v, "all")) o.optim.decay = WF_DECAY_ALL;
            else return wf_cli_usage("train", "--decay '%s': expected matrices, matrices+emb or all", v);
        } else {
            return wf_cli_usage("train", "unknown option '%s'", a);
        }
#undef NEED
#undef LONG
#undef DBL
    }
    if (!o.model) return wf_cli_usage("train", "--model is required");
    if (!o.data) return wf_cli_usage("train", "--data is required");
    if (!o.out) return wf_cli_usage("train", "--out is required");
    if (o.steps <= 0 && o.tokens <= 0) return wf_cli_usage("train", "give the run length with --steps N or --tokens N");
    if (o.steps > 0 && o.tokens > 0) return wf_cli_usage("train", "--steps and --tokens are exclusive");
    if (o.dense_finetune && o.sparsity > 0)
        return wf_cli_usage("train", "--dense-finetune and --sparsity %g are exclusive", o.sparsity);
    wf_kernels_set_threads(threads);
    o.adapt_threads = threads == 0;
    wf_cli_log_init(quiet);
#ifdef WF_HAVE_MPI
    /* under mpirun every rank is a system (swarm/swarm.h); rank 0 speaks */
    wf_swarm *sw = NULL;
    wf_dp_hooks dp;
    if (wf_swarm_launched()) {
        wf_err me = {0};
        if (wf_swarm_init(&argc, &argv, &sw, &me)) return wf_cli_fail("train", &me);
        if (wf_swarm_size(sw) > 1) {
            wf_swarm_hooks(sw, &dp);
            o.dp = &dp;
            if (wf_swarm_rank(sw) > 0) wf_log_set(NULL, NULL, WF_LOG_ERROR);
            else wf_log(WF_LOG_INFO, "SwarmX: %d ranks x %d micro-batches of %d x %d tokens per step; the store and the "
                        "optimizer on rank 0", wf_swarm_size(sw), o.accum, o.B, o.T);
        }
    }
#endif
    if (o.bf16) {
        const char *kn = wf_gemm_bf16x_kernel_name();
        wf_log(WF_LOG_INFO, "--bf16: products on %s", kn);
        if (strstr(kn, "widened"))
            wf_log(WF_LOG_WARN, "--bf16: this CPU has no faster bf16 arithmetic than fp32 FMAs (no AMX; vdpbf16ps, if "
                   "present, measured slower), so bf16 operands only round the products and the steps are no "
                   "faster than fp32 (docs/kernels.md)");
    }
    stop_flag = 0;
    o.stop = &stop_flag;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old);
    wf_exec *x = NULL;
    wf_step_hooks hooks;
    int mrc = setup_mode(&o, mode, store, dev_mem, mem_limit, trace, &x, &hooks);
    if (mrc) return sigaction(SIGINT, &old, NULL), mrc;
    wf_train_result r;
    wf_err err = {0};
    wf_status st = wf_train_run(&o, &r, &err);
    if (x && trace && (!o.dp || o.dp->rank == 0)) {
        wf_err te = {0};
        if (wf_exec_write_trace(x, &te)) fprintf(stderr, "wafer train: %s\n", te.msg);
        else fprintf(stderr, "wafer train: trace of the streaming executor in %s (open it in ui.perfetto.dev)\n", trace);
    }
    wf_exec_free(x);
    sigaction(SIGINT, &old, NULL);
#ifdef WF_HAVE_MPI
    if (sw && o.dp) {
        if (st) { /* one rank failing ends every rank: nobody waits on it forever */
            fprintf(stderr, "wafer train: rank %d: %s\n", wf_swarm_rank(sw), err.msg);
            fflush(stderr);
            wf_swarm_abort(sw, 1);
        }
        int rank = wf_swarm_rank(sw);
        wf_swarm_finalize(sw);
        if (rank > 0) return 0; /* rank 0 reports, an interrupt included (a non-zero rank 1 made mpirun end the job under it) */
    } else if (sw) {
        wf_swarm_finalize(sw);
    }
#endif
    if (st) return wf_cli_fail("train", &err);
    if (r.interrupted) {
        if (r.checkpoint[0])
            fprintf(stderr, "wafer train: interrupted at step %ld; saved %s (continue with --resume)\n", r.step,
                    r.checkpoint);
        else if (o.resume) /* the resumed checkpoint is still the latest */
            fprintf(stderr, "wafer train: interrupted at step %ld before a step finished; nothing new saved "
                    "(continue with --resume)\n", r.step);
        else
            fprintf(stderr, "wafer train: interrupted at step %ld before a step finished; nothing saved (start "
                    "again without --resume)\n", r.step);
        return 130;
    }
    fprintf(stderr, "wafer train: done: step %ld, loss %.4f, %.0f tokens/s; checkpoint %s\n", r.step, r.last_loss,
            r.tokens_per_s, r.checkpoint);
    if (r.val_loss >= 0) fprintf(stderr, "wafer train: validation loss %.4f\n", r.val_loss);
    return 0;
}
