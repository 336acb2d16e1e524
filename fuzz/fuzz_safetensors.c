/* fuzz_safetensors.c — libFuzzer target for the safetensors reader: open any
** bytes, and when the header is accepted read every tensor that is small
** enough. Must never crash, leak or read out of bounds; errors are fine. */
#include "model/safetensors.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    wf_safetensors *s = NULL;
    wf_err e = {0};
    if (wf_safetensors_open_mem("fuzz.safetensors", data, size, NULL, &s, &e) != WF_OK) return 0;
    for (int i = 0; i < wf_safetensors_count(s); i++) {
        const wf_tensor_desc *d = wf_safetensors_tensor(s, i);
        if (i < 16) WF_ASSERT(wf_safetensors_find(s, d->name) >= 0); /* find is linear */
        if (d->numel > (1u << 22)) continue; /* the data area bounds it anyway; keep runs fast */
        float *buf = malloc(d->numel * sizeof(float) + 1);
        if (!buf) continue;
        (void)wf_safetensors_read_f32(s, i, buf, &e);
        free(buf);
    }
    wf_safetensors_close(s);
    WF_ASSERT(wf_heap_live(NULL) == 0); /* nothing left on the default heap */
    return 0;
}
