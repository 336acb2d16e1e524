/* cmd_serve.c — `wafer serve --model DIR [options]`: starts the OpenAI-
** compatible server (serve/serve.h), prints where it listens, waits for the
** model to load (exit 1 with the message if it cannot), then serves until
** SIGINT/SIGTERM, when it stops cleanly (running requests end with 503). */
#include "cli/cli.h"

#include "kernels/kernels.h"
#include "serve/serve.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_flag; /* global: set by the signal handler (STYLE 10) */

static void on_signal(int sig) { stop_flag = sig; }

static void usage(FILE *f) {
    fprintf(f, "usage: wafer serve --model DIR [options]\n"
               "  --host ADDR        IPv4 address to bind (default 127.0.0.1: loopback only)\n"
               "  --port N           TCP port (default 8080; 0 = any free port)\n"
               "  --parallel N       sequences decoded together (slots, default 4)\n"
               "  --max-queue N      sequences waiting beyond the slots (default 64; then 429)\n"
               "  --api-key KEY      require 'Authorization: Bearer KEY' (all but /health)\n"
               "  --ctx N            tokens per sequence (default: the model's n_positions)\n"
               "  --timeout S        per-request time limit in seconds (default 600; then 504)\n"
               "  --max-body BYTES   request body limit (default 4194304; then 413)\n"
               "  --name ID          model id in responses (default: the folder's name)\n"
               "  --tokenizer DIR    vocab.json + merges.txt (default: the model folder, then data/gpt2)\n"
               "  --threads N        CPU threads for the model (default: all cores)\n"
               "  --int8             int8 weights (per-column scales per 32 rows): ~3x faster decoding,\n"
               "                     logprobs move by the quantization (docs/kernels.md)\n"
               "  --no-pack          decode from the weights as loaded (default: from a copy packed for\n"
               "                     decoding, 4 bytes/param more, when it takes under half the free memory)\n"
               "Endpoints: POST /v1/completions /v1/chat/completions /tokenize /detokenize;\n"
               "GET /health /v1/models /tokenizer_info /metrics. See README.md.\n");
}

int wf_cmd_serve(int argc, char **argv) {
    wf_serve_opts o = {.port = 8080};
    long long v, threads = 0;
    double d;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--no-pack")) {
            o.no_pack = 1;
            continue;
        }
        if (!strcmp(a, "--int8")) {
            o.int8 = 1;
            continue;
        }
        if (i + 1 >= argc) return wf_cli_usage("serve", "unknown or incomplete option '%s'", a);
        const char *x = argv[++i];
        if (!strcmp(a, "--model")) o.model = x;
        else if (!strcmp(a, "--host")) o.host = x;
        else if (!strcmp(a, "--api-key")) o.api_key = x;
        else if (!strcmp(a, "--name")) o.name = x;
        else if (!strcmp(a, "--tokenizer")) o.tokenizer = x;
        else if (!strcmp(a, "--port")) {
            if (wf_cli_parse_long(x, 0, 65535, &v)) return wf_cli_usage("serve", "--port '%s': expected 0..65535", x);
            o.port = (int)v;
        } else if (!strcmp(a, "--parallel")) {
            if (wf_cli_parse_long(x, 1, 256, &v)) return wf_cli_usage("serve", "--parallel '%s': expected 1..256", x);
            o.parallel = (int)v;
        } else if (!strcmp(a, "--max-queue")) {
            if (wf_cli_parse_long(x, 1, 1 << 20, &v))
                return wf_cli_usage("serve", "--max-queue '%s': expected an integer >= 1", x);
            o.max_queue = (int)v;
        } else if (!strcmp(a, "--ctx")) {
            if (wf_cli_parse_long(x, 1, 1 << 20, &v)) return wf_cli_usage("serve", "--ctx '%s': expected an integer >= 1", x);
            o.n_ctx = (int)v;
        } else if (!strcmp(a, "--timeout")) {
            if (wf_cli_parse_double(x, 0.001, 1e9, &d)) return wf_cli_usage("serve", "--timeout '%s': expected seconds > 0", x);
            o.timeout_s = d;
        } else if (!strcmp(a, "--max-body")) {
            if (wf_cli_parse_long(x, 1, 1LL << 32, &v))
                return wf_cli_usage("serve", "--max-body '%s': expected bytes >= 1", x);
            o.max_body = (size_t)v;
        } else if (!strcmp(a, "--threads")) {
            if (wf_cli_parse_long(x, 1, 1024, &threads))
                return wf_cli_usage("serve", "--threads '%s': expected an integer in [1, 1024]", x);
        } else return wf_cli_usage("serve", "unknown option '%s'", a);
    }
    if (!o.model) return wf_cli_usage("serve", "--model is required");
    wf_cli_log_init(0);
    if (threads) wf_kernels_set_threads((int)threads);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    wf_err err = {0};
    wf_serve *s = NULL;
    if (wf_serve_start(&o, &s, &err)) return wf_cli_fail("serve", &err);
    if (o.host && strcmp(o.host, "127.0.0.1") && strcmp(o.host, "localhost") && (!o.api_key || !*o.api_key))
        fprintf(stderr, "wafer serve: warning: listening on %s without --api-key\n", o.host);
    fprintf(stderr, "wafer serve: listening on http://%s:%d (loading %s)\n", o.host ? o.host : "127.0.0.1",
            wf_serve_port(s), o.model);
    int announced = 0, rc = 0;
    while (!stop_flag) {
        int st = wf_serve_state(s, &err);
        if (st < 0) {
            rc = wf_cli_fail("serve", &err);
            break;
        }
        if (st == 1 && !announced) {
            fprintf(stderr, "wafer serve: ready\n");
            announced = 1;
        }
        usleep(100 * 1000);
    }
    if (stop_flag) {
        int n = wf_serve_open_requests(s);
        const char *sig = stop_flag == SIGTERM ? "SIGTERM" : "SIGINT";
        if (n) fprintf(stderr, "wafer serve: stopping (%s): %d request%s in progress end%s with 503\n", sig, n,
                       n == 1 ? "" : "s", n == 1 ? "s" : "");
        else fprintf(stderr, "wafer serve: stopping (%s)\n", sig);
    }
    wf_serve_stop(s);
    if (stop_flag) fprintf(stderr, "wafer serve: stopped\n");
    return rc;
}
