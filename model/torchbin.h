/* torchbin.h — reader for pytorch_model.bin as torch.save (>= 1.6) writes a
** state dict: a zip archive holding a pickle that describes the tensors and one
** raw little-endian file per storage. A small pickle machine accepts exactly
** the opcodes and globals torch.save emits for a state dict and nothing that
** could run code; the stack, memo and object counts are bounded.
**
** Archive layout (zip, entries usually stored uncompressed):
**   <prefix>/data.pkl        pickle (protocol 2): OrderedDict name -> tensor, where a tensor is
**                            _rebuild_tensor_v2((storage pid), offset, size, stride, ...) and the
**                            persistent id is ('storage', torch.<T>Storage, key, location, numel)
**   <prefix>/data/<key>      the storage: numel elements of T, no header
**   <prefix>/version, byteorder, .data/serialization_id ...   ignored
** Tensors must be contiguous (row-major strides) within their storage; any
** storage offset is honoured. */
#ifndef WF_MODEL_TORCHBIN_H
#define WF_MODEL_TORCHBIN_H

#include "model/safetensors.h" /* wf_dtype, wf_tensor_desc */

typedef struct wf_torchbin wf_torchbin;

/* Opens path, parses and validates the pickle and the storage sizes. Index
** memory comes from h (NULL = default heap); data is read on demand. */
wf_status wf_torchbin_open(const char *path, wf_heap *h, wf_torchbin **out, wf_err *err);
/* Same over a buffer of n bytes (borrowed; must outlive the handle). */
wf_status wf_torchbin_open_mem(const char *name, const void *buf, size_t n, wf_heap *h, wf_torchbin **out,
                               wf_err *err);
void wf_torchbin_close(wf_torchbin *t); /* NULL is a no-op */

int wf_torchbin_count(const wf_torchbin *t);
/* Tensor i in pickle order; borrowed from t. */
const wf_tensor_desc *wf_torchbin_tensor(const wf_torchbin *t, int i);
int wf_torchbin_find(const wf_torchbin *t, const char *name); /* index or -1 */
/* Reads tensor i into dst (numel floats), widening F16/BF16. Non-contiguous
** tensors and other dtypes are errors naming the file and tensor. */
wf_status wf_torchbin_read_f32(wf_torchbin *t, int i, float *dst, wf_err *err);

#endif
