/* bench_serve.c — a bounded load generator for `wafer serve` (or any
** OpenAI-compatible server) on loopback: C concurrent clients, each sending R
** streaming /v1/completions requests one after the other (greedy, fixed
** max_tokens, ignore nothing), measuring time to first token (first SSE
** event), the gaps between events (per-token latency) and the completion
** tokens (usage), after one warm-up request. Prints one JSON line per client count:
**   {"clients", "requests", "failed", "tokens", "wall_s", "tok_per_s",
**    "ttft_p50_ms", "ttft_p99_ms", "itl_p50_ms", "itl_p99_ms"}
** usage: bench_serve --port P [--clients 1,4,16,64] [--requests R]
**        [--max-tokens N] [--prompt-tokens T] [--model ID] */
#include "../../tests/http_client.h"
#include "base/base.h"

#include <pthread.h>
#include <stdint.h>

typedef struct {
    int port, requests, max_tokens, prompt_tokens, seed;
    const char *model;
    /* results */
    int failed;
    long tokens;
    double *ttft;     /* [requests] seconds */
    double *itl;      /* [requests * max_tokens] seconds */
    int n_ttft, n_itl;
} client_t;

static int one_request(client_t *c, int r) {
    char body[16384];
    int k = snprintf(body, sizeof body, "{\"model\":\"%s\",\"prompt\":[", c->model);
    for (int i = 0; i < c->prompt_tokens; i++)
        k += snprintf(body + k, sizeof body - (size_t)k, i ? ",%d" : "%d", 1 + (c->seed * 131 + r * 17 + i * 7) % 250);
    snprintf(body + k, sizeof body - (size_t)k,
             "],\"max_tokens\":%d,\"temperature\":0,\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
             c->max_tokens);
    double t0 = wf_now(), last = 0;
    int fd = wf_http_request(c->port, "POST", "/v1/completions", NULL, body);
    if (fd < 0) return -1;
    size_t cap = 1 << 20, n = 0, scanned = 0;
    char *buf = malloc(cap);
    int events = 0;
    ssize_t got;
    while (n < cap - 1 && (got = recv(fd, buf + n, cap - 1 - n, 0)) > 0) {
        n += (size_t)got;
        buf[n] = 0;
        double now = wf_now();
        /* count new events with a text delta ("\"text\":" inside a chunk) */
        for (char *p = buf + scanned; (p = strstr(p, "\"text\":\"")); p += 8) {
            if (p[8] == '"') continue; /* empty delta */
            if (events == 0) c->ttft[c->n_ttft++] = now - t0;
            else if (c->n_itl < c->requests * c->max_tokens) c->itl[c->n_itl++] = now - last;
            last = now;
            events++;
        }
        scanned = n > 16 ? n - 16 : 0;
    }
    close(fd);
    int st = wf_http_split(buf, NULL);
    const char *u = strstr(buf, "\"completion_tokens\":");
    int ok = st == 200 && u && strstr(buf, "data: [DONE]");
    if (ok) c->tokens += atol(u + 20);
    free(buf);
    return ok ? 0 : -1;
}

static void *client(void *arg) {
    client_t *c = arg;
    for (int r = 0; r < c->requests; r++) c->failed += one_request(c, r) != 0;
    return NULL;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p) {
    if (n == 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp);
    int i = (int)(p * (n - 1) + 0.5);
    return v[i];
}

int main(int argc, char **argv) {
    int port = 0, requests = 4, max_tokens = 64, prompt_tokens = 32;
    const char *clients = "1,4,16,64", *model = "wafer";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--clients")) clients = argv[i + 1];
        else if (!strcmp(argv[i], "--requests")) requests = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--max-tokens")) max_tokens = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--prompt-tokens")) prompt_tokens = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--model")) model = argv[i + 1];
        else {
            fprintf(stderr, "bench_serve: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (port <= 0 || requests < 1 || requests > 1000 || max_tokens < 1 || max_tokens > 4096 || prompt_tokens < 1 || prompt_tokens > 1000) {
        fprintf(stderr, "usage: bench_serve --port P [--clients 1,4,16,64] [--requests R<=1000] [--max-tokens N<=4096] "
                        "[--prompt-tokens T<=1000] [--model ID]\n");
        return 2;
    }
    /* one warm-up request first: the first forward pages the weights in */
    client_t warm = {.port = port, .requests = 1, .max_tokens = 4, .prompt_tokens = prompt_tokens, .model = model};
    double warm_ttft[1], warm_itl[4];
    warm.ttft = warm_ttft;
    warm.itl = warm_itl;
    if (one_request(&warm, 0)) {
        fprintf(stderr, "bench_serve: the warm-up request on port %d failed\n", port);
        return 1;
    }
    int total_failed = 0;
    for (const char *p = clients; *p;) {
        int C = atoi(p);
        if (C < 1 || C > 256) {
            fprintf(stderr, "bench_serve: --clients: %d outside [1, 256]\n", C);
            return 2;
        }
        client_t *cs = calloc((size_t)C, sizeof *cs);
        pthread_t *th = calloc((size_t)C, sizeof *th);
        for (int i = 0; i < C; i++) {
            cs[i] = (client_t){.port = port, .requests = requests, .max_tokens = max_tokens,
                               .prompt_tokens = prompt_tokens, .seed = i, .model = model};
            cs[i].ttft = calloc((size_t)requests, sizeof(double));
            cs[i].itl = calloc((size_t)requests * (size_t)max_tokens, sizeof(double));
        }
        double t0 = wf_now();
        for (int i = 0; i < C; i++) pthread_create(&th[i], NULL, client, &cs[i]);
        for (int i = 0; i < C; i++) pthread_join(th[i], NULL);
        double wall = wf_now() - t0;
        long tokens = 0;
        int failed = 0, nt = 0, ni = 0;
        size_t nreq = (size_t)(unsigned)C * (unsigned)requests;
        double *ttft = calloc(nreq, sizeof(double));
        double *itl = calloc(nreq * (unsigned)max_tokens, sizeof(double));
        for (int i = 0; i < C; i++) {
            tokens += cs[i].tokens;
            failed += cs[i].failed;
            memcpy(ttft + nt, cs[i].ttft, sizeof(double) * (size_t)cs[i].n_ttft);
            nt += cs[i].n_ttft;
            memcpy(itl + ni, cs[i].itl, sizeof(double) * (size_t)cs[i].n_itl);
            ni += cs[i].n_itl;
            free(cs[i].ttft);
            free(cs[i].itl);
        }
        printf("{\"clients\": %d, \"requests\": %d, \"failed\": %d, \"tokens\": %ld, \"wall_s\": %.3f, "
               "\"tok_per_s\": %.1f, \"ttft_p50_ms\": %.1f, \"ttft_p99_ms\": %.1f, \"itl_p50_ms\": %.2f, "
               "\"itl_p99_ms\": %.2f}\n",
               C, C * requests, failed, tokens, wall, tokens / wall, 1e3 * pct(ttft, nt, 0.5),
               1e3 * pct(ttft, nt, 0.99), 1e3 * pct(itl, ni, 0.5), 1e3 * pct(itl, ni, 0.99));
        fflush(stdout);
        total_failed += failed;
        free(ttft);
        free(itl);
        free(cs);
        free(th);
        p = strchr(p, ',');
        if (!p) break;
        p++;
    }
    return total_failed ? 1 : 0;
}
