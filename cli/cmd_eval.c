/* cmd_eval.c — `wafer eval --model DIR --data DATA_DIR [--seq T] [--batch B]`:
** mean cross-entropy and perplexity of a model on the validation split (or
** --split train), printed as one JSON object on stdout. */
#include "cli/cli.h"
#include "datasets/shards.h"
#include "exec/exec.h"
#include "kernels/kernels.h"
#include "model/checkpoint.h"
#include "train/train.h"
#ifdef WF_HAVE_MPI
#include "swarm/swarm.h"
#endif

#include <math.h>
#include <string.h>

static const char *usage_text =
    "usage: wafer eval --model DIR --data DATA_DIR [--seq T] [--batch B] [--split val|train]\n"
    "                  [--max-windows N] [--threads N] [--mode resident|stream] [-q]\n"
    "  Scores contiguous windows of T+1 tokens (each token a target once; the tail\n"
    "  shorter than a window is left out) and prints\n"
    "  {\"mean_loss\": nats/token, \"perplexity\": exp(mean_loss), \"tokens\": targets scored}.\n"
    "  --seq T defaults to min(n_positions, 1024); --batch B windows per forward (4).\n"
    "  --mode stream reads the weights a layer at a time from the model folder instead of\n"
    "  loading them (models larger than RAM; same result, every layer read once per batch).\n"
    "  Under mpirun every rank scores every N-th batch and rank 0 prints the result: the\n"
    "  same bits as one process (--mode resident).\n"
    "  An evaluation longer than 5 s says how far it is on stderr every 5 s; -q, --quiet: not.\n";

typedef struct {
    const wf_shards *s;
    wf_split split;
} reader;

static wf_status read_split(void *ud, uint64_t pos, size_t n, int32_t *out, wf_err *err) {
    const reader *r = ud;
    return wf_shards_read(r->s, r->split, pos, n, out, err);
}

/* The error line; under mpirun it names the rank. */
static int fail(int rank, int size, const wf_err *err) {
    if (size == 1) return wf_cli_fail("eval", err);
    fprintf(stderr, "wafer eval: rank %d: %s\n", rank, err->msg[0] ? err->msg : wf_status_name(err->code));
    return err->code == WF_EUSAGE ? 2 : 1;
}

int wf_cmd_eval(int argc, char **argv) {
    const char *model = NULL, *data = NULL;
    long long T = 0, B = 4, maxw = 0, threads = 0;
    wf_split split = WF_SPLIT_VAL;
    int stream = 0, quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
            continue;
        }
        int takes = !strcmp(a, "--model") || !strcmp(a, "--data") || !strcmp(a, "--seq") || !strcmp(a, "--batch") ||
                    !strcmp(a, "--split") || !strcmp(a, "--max-windows") || !strcmp(a, "--threads") ||
                    !strcmp(a, "--mode");
        if (!takes) return wf_cli_usage("eval", "unknown option '%s'", a);
        if (!v) return wf_cli_usage("eval", "%s needs a value", a);
        i++;
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--data")) data = v;
        else if (!strcmp(a, "--mode")) {
            if (strcmp(v, "resident") && strcmp(v, "stream"))
                return wf_cli_usage("eval", "--mode '%s': expected resident or stream", v);
            stream = !strcmp(v, "stream");
        } else if (!strcmp(a, "--split")) {
            if (!strcmp(v, "val")) split = WF_SPLIT_VAL;
            else if (!strcmp(v, "train")) split = WF_SPLIT_TRAIN;
            else return wf_cli_usage("eval", "--split '%s': expected val or train", v);
        } else if (!strcmp(a, "--seq") && wf_cli_parse_long(v, 1, 1 << 20, &T))
            return wf_cli_usage("eval", "--seq '%s': expected an integer in [1, 1048576]", v);
        else if (!strcmp(a, "--batch") && wf_cli_parse_long(v, 1, 65536, &B))
            return wf_cli_usage("eval", "--batch '%s': expected an integer in [1, 65536]", v);
        else if (!strcmp(a, "--max-windows") && wf_cli_parse_long(v, 0, (long long)1e15, &maxw))
            return wf_cli_usage("eval", "--max-windows '%s': expected a non-negative integer", v);
        else if (!strcmp(a, "--threads") && wf_cli_parse_long(v, 1, 4096, &threads))
            return wf_cli_usage("eval", "--threads '%s': expected an integer in [1, 4096]", v);
    }
    if (!model) return wf_cli_usage("eval", "--model is required");
    if (!data) return wf_cli_usage("eval", "--data is required");
    wf_kernels_set_threads((int)threads);
    wf_cli_log_init(quiet);
    int rank = 0, size = 1;
    double *part = NULL;
#ifdef WF_HAVE_MPI
    /* under mpirun the batches are dealt over the ranks (wf_eval_loss_part) */
    wf_swarm *sw = NULL;
    if (wf_swarm_launched()) {
        wf_err me = {0};
        if (wf_swarm_init(&argc, &argv, &sw, &me)) return wf_cli_fail("eval", &me);
        rank = wf_swarm_rank(sw), size = wf_swarm_size(sw);
        if (size > 1 && stream) {
            if (rank == 0) wf_cli_usage("eval", "--mode stream under mpirun: not supported; run it as one process, or "
                                        "use --mode resident");
            wf_swarm_finalize(sw);
            return 2;
        }
    }
#endif
    wf_err err = {0};
    wf_shards *s = NULL;
    wf_gpt_config c;
    float *w = NULL;
    wf_sparse_mask *mask = NULL; /* the model's sparse_mask.bin: masked matrices on the sparse kernels */
    int code = 0;
    wf_ckpt_reader *ck = NULL;
    if (stream && !wf_path_is_dir(model)) return wf_cli_usage("eval", "--mode stream reads a model folder; '%s' is not one", model);
    if (wf_shards_open(data, &s, &err) ||
        (stream ? wf_checkpoint_open(model, 0, 0, NULL, &c, &ck, &err) : wf_checkpoint_load(model, NULL, &c, &w, &err))) {
        code = fail(rank, size, &err);
        goto done;
    }
    if (wf_shards_vocab_size(s) > c.vocab_size) {
        WF_FAIL(&err, WF_ESHAPE, "%s: data vocabulary %d does not fit the model's vocabulary %d (different tokenizer?)",
                data, wf_shards_vocab_size(s), c.vocab_size);
        code = fail(rank, size, &err);
        goto done;
    }
    if (T == 0) T = c.n_positions < 1024 ? c.n_positions : 1024;
    if (T > c.n_positions) {
        code = wf_cli_usage("eval", "--seq %lld exceeds the model's n_positions %d", T, c.n_positions);
        goto done;
    }
    uint64_t count = wf_shards_count(s, split);
    if (count < (uint64_t)T + 1) {
        WF_FAIL(&err, WF_ESHAPE, "%s: the %s split has %llu tokens, fewer than one window of seq+1 = %lld%s", data,
                split == WF_SPLIT_VAL ? "val" : "train", (unsigned long long)count, T + 1,
                split == WF_SPLIT_VAL ? " (try a smaller --seq or --split train)" : "");
        code = fail(rank, size, &err);
        goto done;
    }
    reader rd = {s, split};
    double mean;
    uint64_t ntok;
    if (!stream && wf_path_is_dir(model) && wf_sparse_mask_in(model)) { /* streamed: dense kernels over the zeros */
        char mp[1200];
        snprintf(mp, sizeof mp, "%s/%s", model, WF_SPARSE_MASK_FILE);
        if (wf_sparse_mask_load(mp, &c, NULL, &mask, &err)) {
            code = fail(rank, size, &err);
            goto done;
        }
    }
    if (size > 1) {
        uint64_t nb = wf_eval_batches(count, (int)B, (int)T, (long)maxw);
        part = wf_alloc(NULL, (nb ? nb : 1) * sizeof(double), "per-batch losses", &err);
        wf_status st = part ? wf_eval_loss_part(&c, w, mask, read_split, &rd, count, (int)B, (int)T, (long)maxw, rank, size,
                                                part, &ntok, &err) : WF_ENOMEM;
#ifdef WF_HAVE_MPI
        if (!st) st = wf_swarm_sum_to_root(sw, part, nb, &err);
#endif
        if (st) {
            code = fail(rank, size, &err);
            goto done;
        }
        double sum = 0;
        for (uint64_t j = 0; j < nb; j++) sum += part[j]; /* batch order, as one process adds */
        mean = sum / (double)ntok;
    } else if (stream ? wf_exec_eval_reader(ck, &c, read_split, &rd, count, (int)B, (int)T, (long)maxw, &mean, &ntok, &err)
                      : wf_eval_loss_sparse(&c, w, mask, read_split, &rd, count, (int)B, (int)T, (long)maxw, NULL, &mean,
                                            &ntok, &err)) {
        code = fail(rank, size, &err);
        goto done;
    }
    if (rank > 0) goto done; /* rank 0 prints */
    printf("{\"mean_loss\": ");
    int nulls = wf_cli_json_num("%.6f", mean);
    printf(", \"perplexity\": ");
    nulls += wf_cli_json_num("%.4f", exp(mean));
    printf(", \"tokens\": %llu}\n", (unsigned long long)ntok);
    if (nulls)
        wf_log(WF_LOG_WARN, "eval: mean_loss %g, perplexity %g: printed as null (JSON has no NaN or Inf)", mean,
               exp(mean));
done:
    wf_free(NULL, part);
#ifdef WF_HAVE_MPI
    if (sw && size > 1 && code) { /* one rank failing ends every rank */
        fflush(stderr);
        wf_swarm_abort(sw, code);
    }
    wf_swarm_finalize(sw);
#endif
    wf_sparse_mask_free(mask);
    wf_free(NULL, w);
    wf_checkpoint_close(ck);
    wf_shards_close(s);
    return code;
}
