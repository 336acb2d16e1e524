/* main.c — `wafer COMMAND ...`: dispatches to the command table, then makes
** sure what the command printed reached stdout (a full disk or a closed
** pipe is an error, never exit 0). */
#include "cli/cli.h"
#include "kernels/kernels.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* OpenMP's idle threads spin about 300,000 times by default (libgomp, when
** OMP_WAIT_POLICY is unset) before they sleep. When another process
** competes for the cores, that spinning takes the cycles the working thread
** needs. On the shared 2-core Xeon, a --bf16 training step took 6.5-19.7 s
** at the default and 3.4-7.0 s with GOMP_SPINCOUNT=10000 or
** OMP_WAIT_POLICY=passive (docs/kernels.md). libgomp reads these variables
** once, when it loads, before main. So when the user has set neither, wafer
** sets GOMP_SPINCOUNT=10000 (a short spin, then sleep) and re-executes itself
** once. If the exec fails, the run simply goes on with the defaults. */
static void omp_wait_default(char **argv) {
#if defined(__linux__)
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT") || getenv("WAFER_NO_OMP_DEFAULTS")) return;
    if (setenv("GOMP_SPINCOUNT", "10000", 1) != 0) return;
    fflush(NULL);
    execv("/proc/self/exe", argv);
    unsetenv("GOMP_SPINCOUNT"); /* exec failed: carry on as we were */
#else
    (void)argv;
#endif
}

static const struct {
    const char *name;
    wf_cmd_fn fn;
    const char *help;
} commands[] = {
    {"info", wf_cmd_info, "MODEL                      config, parameter count, memory needed"},
    {"encode", wf_cmd_encode, "--model DIR                stdin text -> token ids"},
    {"decode", wf_cmd_decode, "--model DIR                token ids -> text (raw bytes)"},
    {"score", wf_cmd_score, "--model DIR [--logits F]   token ids -> JSON mean_loss, logprobs"},
    {"generate", wf_cmd_generate, "--model DIR --prompt TEXT  sample text, printed as produced"},
    {"tokenize", wf_cmd_tokenize, "--model DIR --out DATA ... text files -> token shards"},
    {"tokenizer-train", wf_cmd_tokenizer_train, "--vocab-size N --out DIR ... learn a BPE vocabulary"},
    {"train", wf_cmd_train, "--model M --data D --out O  train or fine-tune"},
    {"prune", wf_cmd_prune, "--model M --sparsity S --out O  magnitude-pruned copy + sparse_mask.bin"},
    {"eval", wf_cmd_eval, "--model DIR --data DATA    mean loss and perplexity"},
    {"serve", wf_cmd_serve, "--model DIR [--port 8080]   OpenAI-compatible HTTP server"},
    {"plan", wf_cmd_plan, "--model PRESET --tokens N  training days, FLOP/s, cost on simulated CS-2s"},
    {"sim", wf_cmd_sim, "EXAMPLE [flags]            run a simulated-wafer example (gemv, summa, ...)"},
};
#define NCOMMANDS ((int)(sizeof commands / sizeof commands[0]))

static void usage(FILE *f) {
    fprintf(f, "usage: wafer COMMAND [options]   (wafer COMMAND --help for details)\n\ncommands:\n");
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-16s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nMODEL is a Hugging Face folder (config.json + model.safetensors or pytorch_model.bin)\n"
               "or a preset name (cerebras-gpt-111m ... cerebras-gpt-13b) for random weights.\n");
}

/* stdio keeps the first write error in the stream (ferror), so one check after
** the command covers every printf of every command. Returns the exit code. */
static int finish_stdout(const char *cmd, int rc) {
    errno = 0;
    int bad = fflush(stdout) != 0, e = errno;
    bad |= ferror(stdout);
    if (fclose(stdout) != 0 && !bad) bad = 1, e = errno;
    if (!bad || rc) return rc; /* a failed command has said why already */
    fprintf(stderr, "wafer %s: writing standard output: %s\n", cmd, e ? strerror(e) : "write error");
    return 1;
}

int main(int argc, char **argv) {
    omp_wait_default(argv);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : finish_stdout("help", 0);
    }
    for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            /* WAFER_ISA naming no path, or one above this CPU, is an error
            ** here rather than a silent fallback in the kernels. */
            wf_err err = {0};
            if (wf_isa_init(&err) != WF_OK) return wf_cli_fail(argv[1], &err);
            return finish_stdout(argv[1], commands[i].fn(argc - 1, argv + 1));
        }
    fprintf(stderr, "wafer: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}

int wf_cli_fail(const char *cmd, const wf_err *err) {
    fprintf(stderr, "wafer %s: %s\n", cmd, err->msg[0] ? err->msg : wf_status_name(err->code));
    return err->code == WF_EUSAGE ? 2 : 1;
}

int wf_cli_usage(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "wafer %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'wafer %s --help')\n", cmd);
    va_end(ap);
    return 2;
}

static void log_sink(wf_log_level lvl, const char *msg, void *ud) {
    (void)ud;
    fprintf(stderr, "%s%s\n", lvl == WF_LOG_ERROR ? "error: " : lvl == WF_LOG_WARN ? "warning: " : "", msg);
}

void wf_cli_log_init(int quiet) { wf_log_set(log_sink, NULL, quiet ? WF_LOG_WARN : WF_LOG_INFO); }

int wf_cli_json_num(const char *fmt, double v) {
    if (isfinite(v)) {
        printf(fmt, v);
        return 0;
    }
    fputs("null", stdout);
    return 1;
}

int wf_cli_parse_long(const char *s, long long lo, long long hi, long long *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int wf_cli_parse_double(const char *s, double lo, double hi, double *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}
