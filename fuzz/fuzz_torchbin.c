/* fuzz_torchbin.c — libFuzzer target for the pytorch_model.bin reader (zip +
** pickle machine): open any bytes, and when accepted read every tensor that is
** small enough. Must never crash, leak, hang or read out of bounds.
** Two modes, picked by the first byte, so that mutations reach the pickle
** machine instead of dying in the zip layer (libzip is not instrumented):
**   0x80 (PROTO, how every torch pickle starts): the input is data.pkl; the
**        harness wraps it in a zip with storages archive/data/0..15 of
**        64 * (k + 1) bytes each;
**   else: the input is the whole archive. */
#include "model/torchbin.h"

#include <stdlib.h>
#include <string.h>
#include <zip.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t storage[16 * 64 * 16]; /* global: constant storage bytes (zeros), STYLE 10 */

/* Builds the archive around a pickle; returns a malloc'd buffer or NULL. */
static uint8_t *wrap(const uint8_t *pkl, size_t n, size_t *out_n) {
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    uint8_t *buf = NULL;
    if (!src) goto done;
    zip_source_keep(src);
    zip_t *z = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
    if (!z) goto done;
    zip_int64_t k = zip_file_add(z, "archive/data.pkl", zip_source_buffer(z, pkl, n, 0), 0);
    zip_set_file_compression(z, (zip_uint64_t)k, ZIP_CM_STORE, 0);
    for (int i = 0; i < 16; i++) {
        char name[32];
        snprintf(name, sizeof name, "archive/data/%d", i);
        k = zip_file_add(z, name, zip_source_buffer(z, storage, 64 * (size_t)(i + 1), 0), 0);
        zip_set_file_compression(z, (zip_uint64_t)k, ZIP_CM_STORE, 0);
    }
    if (zip_close(z) != 0) {
        zip_discard(z);
        goto done;
    }
    if (zip_source_open(src) != 0) goto done;
    zip_source_seek(src, 0, SEEK_END);
    zip_int64_t len = zip_source_tell(src);
    zip_source_seek(src, 0, SEEK_SET);
    if (len > 0 && (buf = malloc((size_t)len)) != NULL) {
        if (zip_source_read(src, buf, (zip_uint64_t)len) != len) {
            free(buf);
            buf = NULL;
        }
        *out_n = (size_t)len;
    }
    zip_source_close(src);
done:
    if (src) zip_source_free(src);
    zip_error_fini(&ze);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *wrapped = NULL;
    if (size && data[0] == 0x80) {
        wrapped = wrap(data, size, &size);
        if (!wrapped) return 0;
        data = wrapped;
    }
    wf_torchbin *t = NULL;
    wf_err e = {0};
    if (wf_torchbin_open_mem("fuzz.bin", data, size, NULL, &t, &e) == WF_OK) {
        for (int i = 0; i < wf_torchbin_count(t); i++) {
            const wf_tensor_desc *d = wf_torchbin_tensor(t, i);
            if (i < 16) WF_ASSERT(wf_torchbin_find(t, d->name) >= 0); /* find is linear */
            if (d->numel > (1u << 22)) continue;
            float *buf = malloc(d->numel * sizeof(float) + 1);
            if (!buf) continue;
            (void)wf_torchbin_read_f32(t, i, buf, &e);
            free(buf);
        }
        wf_torchbin_close(t);
    }
    free(wrapped);
    WF_ASSERT(wf_heap_live(NULL) == 0);
    return 0;
}
