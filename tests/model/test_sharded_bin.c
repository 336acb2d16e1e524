/* test_sharded_bin.c — sharded pytorch_model-0000i-of-0000n.bin folders with
** pytorch_model.bin.index.json (fixtures from oracle/make_sharded_bin.py):
** the fp32 shards load the same bits as tiny-gelu (whose HF logits are the
** fixture's), fp16 shards widen to fp32 within half precision, the
** attn.bias / attn.masked_bias buffers are ignored, and a missing shard is
** an error naming it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/checkpoint.h"
#include "tests/check.h"

#define FIX "tests/fixtures/models"

static float *load(const char *dir, wf_gpt_config *c) {
    float *w = NULL;
    wf_err e = {0};
    const char *src = NULL;
    if (wf_checkpoint_load_config(dir, c, &src, &e) == WF_OK) WF_CHECK_STR(src, "model.safetensors");
    wf_status st = wf_checkpoint_load(dir, NULL, c, &w, &e);
    if (st) fprintf(stderr, "%s\n", e.msg);
    WF_CHECK_EQ(st, WF_OK);
    return w;
}

int main(void) {
    wf_gpt_config c1, c2, c3;
    float *a = load(FIX "/tiny-gelu", &c1);
    float *w = NULL;
    wf_err e = {0};
    const char *src = NULL;
    WF_CHECK_EQ(wf_checkpoint_load_config(FIX "/tiny-gelu-sharded-bin", &c2, &src, &e), WF_OK);
    WF_CHECK_STR(src, "pytorch_model.bin.index.json");
    WF_CHECK_EQ(wf_checkpoint_load(FIX "/tiny-gelu-sharded-bin", NULL, &c2, &w, &e), WF_OK);
    size_t n = wf_gpt_numel(&c1);
    WF_CHECK(a && w && memcmp(a, w, n * sizeof(float)) == 0);
    float *h = NULL;
    WF_CHECK_EQ(wf_checkpoint_load(FIX "/tiny-gelu-sharded-bin-f16", NULL, &c3, &h, &e), WF_OK);
    if (a && h) {
        size_t differ = 0, bad = 0;
        for (size_t i = 0; i < n; i++) {
            differ += a[i] != h[i];
            bad += !(fabsf(a[i] - h[i]) <= 1e-3f * fabsf(a[i]) + 6e-8f); /* NaN counts as bad */
        }
        WF_CHECK(differ > n / 2); /* really rounded through fp16 */
        WF_CHECK_EQ(bad, 0);
    }
    /* a shard that the index names but the folder lacks */
    char dir[] = "/tmp/wf_test_shardbinXXXXXX", cmd[512];
    WF_CHECK(mkdtemp(dir) != NULL);
    snprintf(cmd, sizeof cmd, "cp " FIX "/tiny-gelu-sharded-bin/* '%s' && rm '%s/pytorch_model-00002-of-00003.bin'", dir, dir);
    WF_CHECK_EQ(system(cmd), 0);
    float *m = NULL;
    WF_CHECK(wf_checkpoint_load(dir, NULL, &c2, &m, &e) != WF_OK);
    WF_CHECK_HAS(e.msg, "pytorch_model-00002-of-00003.bin");
    WF_CHECK(m == NULL);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    wf_free(NULL, a), wf_free(NULL, w), wf_free(NULL, h);
    return wf_check_report();
}
