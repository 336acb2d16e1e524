/* store.h — the weight store (MemoryX-style): fp32 master weights, AdamW m
** and v, and gradient accumulators of one model, kept per layer-major block
** (model/params.h) off the device, in RAM or in one file on disk.
**
** Disk backend: DIR/store.bin, a 4 KiB header then, for each kind (W, M, V,
** G) and block, the block's floats at a 4 KiB-aligned offset; read and
** written with large pread/pwrite calls (no mmap paging). Every tensor of a
** written block gets a 64-bit checksum kept in memory; a read whose bytes do
** not match fails naming the file, the layer and the tensor. The header
** records the model shape: opening an existing store of another model is an
** error. */
#ifndef WF_STORE_H
#define WF_STORE_H

#include "base/base.h"
#include "model/config.h"

/* W fp32 weights, M and V Adam moments, G gradient accumulators, each
** wf_gpt_block_numel floats per block; HALF the weights a --bf16 step streams:
** the block's matrices as bf16 and its vectors as fp32, packed in tensor
** order (wf_store_pack_half), wf_store_numel(c, WF_STORE_HALF, b) floats. */
typedef enum { WF_STORE_W, WF_STORE_M, WF_STORE_V, WF_STORE_G, WF_STORE_HALF, WF_STORE_KINDS } wf_store_kind;

/* Floats block b of kind k occupies (H: bytes / 4, rounded up). */
size_t wf_store_numel(const wf_gpt_config *c, wf_store_kind k, int b);
/* H from block b's fp32 weights (bf16 by round to nearest even); and back:
** matrices widened (exact), vectors copied. */
void wf_store_pack_half(const wf_gpt_config *c, int b, const float *w, float *h);
void wf_store_unpack_half(const wf_gpt_config *c, int b, const float *h, float *w);

typedef struct wf_store wf_store;

/* dir NULL: RAM backend (4 x numel floats from h). Else the disk backend in
** dir (created when missing): dir/store.bin is created or, when it exists,
** must have been made for the same model shape (WF_EUSAGE naming the file and
** both shapes otherwise); its contents are not trusted until written again
** (reading an unwritten block is WF_ECORRUPT). */
wf_status wf_store_open(const char *dir, const wf_gpt_config *c, wf_heap *h, wf_store **out,
                        wf_err *err);
/* The same with layer l's W, M, V and G blocks holding layer_numel[l] floats
** and its H block layer_half[l] (fewer than the block's: a sparse layer
** packed to its kept weights, wf_sparse_pack_layer, and its bf16 copy,
** wf_sparse_pack_layer_half; NULL: dense). The header records the packed
** size, so a store made with other masks is refused like one of another model. */
wf_status wf_store_open_packed(const char *dir, const wf_gpt_config *c, const size_t *layer_numel,
                               const size_t *layer_half, wf_heap *h, wf_store **out, wf_err *err);
/* Floats of block b of kind k in this store (wf_store_numel, or packed). */
size_t wf_store_block_numel(const wf_store *s, wf_store_kind k, int b);
void wf_store_close(wf_store *s); /* NULL is a no-op */

/* Copies block b of kind k (wf_gpt_block_numel floats) out of / into the store.
** Reads verify the checksums of the disk backend (WF_ECORRUPT: file, block,
** layer, tensor); short files are WF_ECORRUPT, I/O errors WF_EIO. */
wf_status wf_store_read(wf_store *s, wf_store_kind k, int b, float *dst, wf_err *err);
wf_status wf_store_write(wf_store *s, wf_store_kind k, int b, const float *src, wf_err *err);

/* Disk backend: an I/O thread reads ahead and writes behind through a few
** staging buffers (each the size of a layer block; the embeddings and other
** larger blocks go synchronously). prefetch: start reading block b of kind k
** now (a no-op when no buffer is free, for RAM, or when unwritten); the next
** wf_store_read of it takes the prefetched bytes. Writes return once the
** bytes are staged; a failed write-behind is reported by the next store call
** and by flush, which waits for every staged write to reach the file. */
void wf_store_prefetch(wf_store *s, wf_store_kind k, int b);
wf_status wf_store_flush(wf_store *s, wf_err *err);

/* Records spans into t (borrowed; NULL stops): on track 0 every read and
** write call as the caller saw it (waits included), on track 1 the I/O
** thread's prefetches and write-behinds. */
void wf_store_set_timeline(wf_store *s, wf_timeline *t);

/* Host memory the store holds (RAM backend: all of it; disk: bookkeeping). */
size_t wf_store_host_bytes(const wf_store *s);
/* Bytes moved since open: read and written. */
void wf_store_traffic(const wf_store *s, uint64_t *read, uint64_t *written);
/* Path of the disk file, "" for RAM. */
const char *wf_store_path(const wf_store *s);

/* Fault injection for tests: the n-th store write from now (0 = the next one)
** fails as if the disk were full (ENOSPC). -1 disables. */
void wf_store_fail_write_at(long n);

#endif
