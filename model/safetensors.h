/* safetensors.h — reader and writer for the safetensors format that Hugging
** Face checkpoints use, plus the tensor description and dtype widening that the
** other checkpoint reader (torchbin.h) shares. Everything in the file is
** validated before use; tensor data is read on demand with pread (or copied
** from a caller's buffer, for fuzzing) and widened to fp32.
**
** File layout (little-endian):
**   offset  size  field
**   0       8     N = u64 header length in bytes (we accept N <= 100 MB)
**   8       N     UTF-8 JSON object: { "<name>": {"dtype": "F32", "shape": [d0, ...],
**                 "data_offsets": [begin, end]}, ..., "__metadata__": {str: str} }
**                 optionally padded with spaces
**   8+N     rest  data area; a tensor's bytes are [8+N+begin, 8+N+end)
** Invariants we check: end - begin == prod(shape) * sizeof(dtype), end <= size of
** the data area, no two tensors overlap, no name twice, at most 8 dims. */
#ifndef WF_MODEL_SAFETENSORS_H
#define WF_MODEL_SAFETENSORS_H

#include "base/base.h"

/* Element types found in checkpoints. Only F32, F16 and BF16 can be read as
** fp32; the others are described (so ignored buffers do not fail a load) but
** wf_*_read_f32 rejects them. Not stored on disk by number. */
typedef enum {
    WF_DT_F32, WF_DT_F16, WF_DT_BF16, WF_DT_F64, WF_DT_I64, WF_DT_I32, WF_DT_I16, WF_DT_I8,
    WF_DT_U8, WF_DT_BOOL, WF_DT_COUNT
} wf_dtype;

const char *wf_dtype_name(wf_dtype d); /* "F32", "BF16", ... */
size_t wf_dtype_size(wf_dtype d);      /* bytes per element */
/* Widens n elements of src (dtype d, little-endian, possibly unaligned) into dst.
** d must be F32, F16 or BF16 (asserted). Exact: every F16/BF16 value is an fp32. */
void wf_dtype_to_f32(wf_dtype d, const void *src, float *dst, size_t n);

#define WF_TENSOR_MAX_DIMS 8

/* One tensor in a checkpoint file. `name` is owned by the file handle. */
typedef struct {
    const char *name;
    wf_dtype dtype;
    int ndim;                             /* 0 (scalar) .. WF_TENSOR_MAX_DIMS */
    long long shape[WF_TENSOR_MAX_DIMS];
    uint64_t numel;                       /* product of shape (1 for a scalar) */
} wf_tensor_desc;

typedef struct wf_safetensors wf_safetensors;

/* Opens and validates path. Memory for the index comes from h (NULL = default
** heap); the data stays on disk until read. Close with wf_safetensors_close. */
wf_status wf_safetensors_open(const char *path, wf_heap *h, wf_safetensors **out, wf_err *err);
/* Same over a buffer of n bytes; `name` is used in messages. buf is borrowed and
** must outlive the handle. */
wf_status wf_safetensors_open_mem(const char *name, const void *buf, size_t n, wf_heap *h,
                                  wf_safetensors **out, wf_err *err);
void wf_safetensors_close(wf_safetensors *s); /* NULL is a no-op */

int wf_safetensors_count(const wf_safetensors *s);
/* Tensor i (0 <= i < count), in header order. Borrowed from s. */
const wf_tensor_desc *wf_safetensors_tensor(const wf_safetensors *s, int i);
/* Index of the tensor named exactly `name`, or -1. */
int wf_safetensors_find(const wf_safetensors *s, const char *name);
/* Reads tensor i into dst (numel floats), widening F16/BF16. Other dtypes and
** short reads are errors naming the file and tensor. */
wf_status wf_safetensors_read_f32(wf_safetensors *s, int i, float *dst, wf_err *err);

/* One tensor to write: F32, row-major. All pointers borrowed. */
typedef struct {
    const char *name;
    int ndim;                  /* 0 .. WF_TENSOR_MAX_DIMS */
    const long long *shape;
    const float *data;
} wf_st_entry;

/* Writes n tensors as F32 to path atomically (wf_afile), in the given order,
** with __metadata__ {"format": "pt"} so transformers accepts the file. */
wf_status wf_safetensors_write(const char *path, const wf_st_entry *t, int n, wf_err *err);
/* The same for tensors that are not all in memory at once: an entry whose
** data is NULL is asked of get(ud, i, &data) when its turn comes (in order);
** *data must stay valid until the next call. An error from get aborts the
** write (the file at path is left as it was). */
typedef wf_status (*wf_st_data_fn)(void *ud, int i, const float **data, wf_err *err);
wf_status wf_safetensors_write_fn(const char *path, const wf_st_entry *t, int n, wf_st_data_fn get, void *ud,
                                  wf_err *err);

#endif
