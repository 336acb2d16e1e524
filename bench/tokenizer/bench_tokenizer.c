/* bench_tokenizer.c — one-thread encode throughput of the GPT-2 tokenizer on the
** fixture corpus (tests/fixtures/tokenizer), repeated to about --mb megabytes,
** encoding each document with its own call (as a data pipeline does) and the
** whole repeated text in one call. bench_tokenizer.py runs it beside HF.
** usage: bench_tokenizer [--mb 20] [--model data/gpt2] [--fixtures DIR] [--only en_,py_]
**   --only keeps the documents whose name starts with one of the prefixes. */
#include "model/tokenizer.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    const char *model = "data/gpt2", *fix = "tests/fixtures/tokenizer", *only = NULL;
    double mb = 20;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--mb")) mb = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--model")) model = argv[i + 1];
        else if (!strcmp(argv[i], "--fixtures")) fix = argv[i + 1];
        else if (!strcmp(argv[i], "--only")) only = argv[i + 1];
    }
    wf_err e = {0};
    wf_tokenizer *t;
    double t0 = wf_now();
    if (wf_tokenizer_open(model, &t, &e)) {
        fprintf(stderr, "bench_tokenizer: %s\n", e.msg);
        return 1;
    }
    double t_load = wf_now() - t0;
    char path[1024], *json, *corpus;
    size_t n, nc;
    snprintf(path, sizeof path, "%s/index.json", fix);
    if (wf_file_read(NULL, path, &json, &n, &e)) {
        fprintf(stderr, "bench_tokenizer: %s\n", e.msg);
        return 1;
    }
    snprintf(path, sizeof path, "%s/corpus.bin", fix);
    if (wf_file_read(NULL, path, &corpus, &nc, &e)) {
        fprintf(stderr, "bench_tokenizer: %s\n", e.msg);
        return 1;
    }
    cJSON *j = cJSON_Parse(json);
    int nd = cJSON_GetArraySize(cJSON_GetObjectItem(j, "docs"));
    size_t *off = malloc(sizeof *off * (size_t)nd), *len = malloc(sizeof *len * (size_t)nd);
    int k = 0;
    size_t total = 0;
    for (const cJSON *d = cJSON_GetObjectItem(j, "docs")->child; d; d = d->next) {
        const char *name = cJSON_GetObjectItem(d, "name")->valuestring;
        int keep = only == NULL;
        for (const char *p = only; p && *p && !keep;) {
            size_t l = strcspn(p, ",");
            keep = l && !strncmp(name, p, l);
            p += l + (p[l] == ',');
        }
        if (!keep) continue;
        off[k] = (size_t)cJSON_GetObjectItem(d, "offset")->valuedouble;
        len[k] = (size_t)cJSON_GetObjectItem(d, "len")->valuedouble;
        total += len[k];
        k++;
    }
    nd = k;
    if (!total) {
        fprintf(stderr, "bench_tokenizer: no documents selected\n");
        return 1;
    }
    /* the selected documents back to back, for the one-call run */
    char *sel = malloc(total);
    for (int i = 0, at = 0; i < nd; at += (int)len[i], i++) memcpy(sel + at, corpus + off[i], len[i]);
    nc = total;
    int reps = (int)(mb * 1e6 / (double)nc + 0.999);
    if (reps < 1) reps = 1;
    int32_t *ids = NULL;
    size_t nids = 0, cap = 0;
    /* per document */
    t0 = wf_now();
    size_t total_ids = 0;
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < nd; i++) {
            nids = 0;
            if (wf_tokenizer_encode(t, corpus + off[i], len[i], &ids, &nids, &cap, &e)) {
                fprintf(stderr, "bench_tokenizer: %s\n", e.msg);
                return 1;
            }
            total_ids += nids;
        }
    double dt_docs = wf_now() - t0;
    /* one call on the repeated corpus */
    char *big = malloc(nc * (size_t)reps);
    for (int r = 0; r < reps; r++) memcpy(big + nc * (size_t)r, sel, nc);
    nids = 0;
    t0 = wf_now();
    if (wf_tokenizer_encode(t, big, nc * (size_t)reps, &ids, &nids, &cap, &e)) {
        fprintf(stderr, "bench_tokenizer: %s\n", e.msg);
        return 1;
    }
    double dt_one = wf_now() - t0;
    double bytes = (double)nc * reps;
    printf("load: %.3f s\n", t_load);
    printf("bytes: %.0f (%d docs x %d repeats)\n", bytes, nd, reps);
    printf("per_doc_MBps: %.2f (%zu ids, %.3f s)\n", bytes / dt_docs / 1e6, total_ids, dt_docs);
    printf("one_call_MBps: %.2f (%zu ids, %.3f s)\n", bytes / dt_one / 1e6, nids, dt_one);
    free(big);
    free(sel);
    free(off);
    free(len);
    cJSON_Delete(j);
    wf_free(NULL, ids);
    wf_free(NULL, json);
    wf_free(NULL, corpus);
    wf_tokenizer_free(t);
    return 0;
}
