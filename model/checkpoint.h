/* checkpoint.h — Hugging Face model folders in and out: config.json plus
** model.safetensors, a sharded model.safetensors.index.json, or a legacy
** pytorch_model.bin (torch.save zip), mapped onto the layer-major layout of
** model/params.h. A preset name instead of a folder gives random weights.
** Sits in model/ above the format readers (safetensors.h, torchbin.h). */
#ifndef WF_MODEL_CHECKPOINT_H
#define WF_MODEL_CHECKPOINT_H

#include "model/config.h"
#include "model/params.h"

/* Seed used for the random weights of a preset name (wf_gpt_init_random). */
#define WF_CHECKPOINT_PRESET_SEED 1234

/* Loads a model. `model` is either
**   - a folder with config.json and, in order of preference, model.safetensors,
**     model.safetensors.index.json (shards) or pytorch_model.bin; or
**   - a preset name ("cerebras-gpt-111m", "111m", ...): random weights, seed 1234.
** Tensor names are accepted with or without "transformer."; attn.bias /
** attn.masked_bias buffers and, for a tied model, lm_head.weight (same shape as
** wte) are ignored; an untied model (tie_word_embeddings false) needs it. Every expected tensor must be present exactly once with its shape.
** On success *weights holds wf_gpt_numel(cfg) floats (layer-major), allocated
** from h: the caller frees it with wf_free(h, *weights). On failure nothing is
** left allocated and *weights is NULL. F16/BF16 tensors are widened to fp32. */
wf_status wf_checkpoint_load(const char *model, wf_heap *h, wf_gpt_config *cfg, float **weights,
                             wf_err *err);

/* The same, except that a folder holding config.json and no weights file is
** initialised randomly from `seed` (wf_gpt_init_random), the way a new
** architecture is trained from scratch. A preset name still uses seed 1234. */
wf_status wf_checkpoint_load_or_init(const char *model, uint64_t seed, wf_heap *h, wf_gpt_config *cfg,
                                     float **weights, wf_err *err);

/* The config alone, without reading weights: from a preset name or dir/config.json.
** *source (may be NULL) is set to a static string naming where weights would
** come from: "random (preset, seed 1234)", "model.safetensors",
** "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json", or "none (config.json
** only...)" for a folder without weights (wf_checkpoint_load then fails). A
** name that exists but cannot be followed (symlink loop) is an error naming
** the cause. */
wf_status wf_checkpoint_load_config(const char *model, wf_gpt_config *cfg, const char **source, wf_err *err);

/* Writes dir/config.json and dir/model.safetensors (F32, names with the
** "transformer." prefix; lm_head.weight only when untied), each atomically;
** creates dir (and parents) when missing. `weights` is borrowed. */
wf_status wf_checkpoint_save(const char *dir, const wf_gpt_config *cfg, const float *weights,
                             wf_err *err);


/* ---- block by block (models larger than memory, exec/) --------------------
** The same loading without holding the model: open finds every tensor (all
** the checks of wf_checkpoint_load happen here), read_block widens block b's
** tensors (wf_gpt_block_numel floats, layer-major) into dst. A random
** initialisation (preset, config-only folder with init, open_random) must be
** read in block order 0, 1, ...; it gives wf_gpt_init_random's bits. */
typedef struct wf_ckpt_reader wf_ckpt_reader;
wf_status wf_checkpoint_open(const char *model, int init, uint64_t seed, wf_heap *h, wf_gpt_config *cfg,
                             wf_ckpt_reader **out, wf_err *err);
wf_status wf_checkpoint_open_random(const wf_gpt_config *cfg, uint64_t seed, wf_heap *h, wf_ckpt_reader **out,
                                    wf_err *err);
wf_status wf_checkpoint_read_block(wf_ckpt_reader *r, int b, float *dst, wf_err *err);
void wf_checkpoint_close(wf_ckpt_reader *r); /* NULL is a no-op */

/* Block b's weights, wherever they live: *blk stays valid until the next call. */
typedef wf_status (*wf_block_fn)(void *ud, int b, const float **blk, wf_err *err);
/* wf_checkpoint_save asking each block of get in order (once each). With
** max_shard_bytes > 0 a model larger than that is written as the sharded
** form transformers writes: model-0000i-of-0000n.safetensors (consecutive
** tensors up to max_shard_bytes each; a larger tensor alone) and
** model.safetensors.index.json {"metadata": {"total_size"}, "weight_map"}. */
wf_status wf_checkpoint_save_blocks(const char *dir, const wf_gpt_config *cfg, wf_block_fn get, void *ud,
                                    uint64_t max_shard_bytes, wf_err *err);
/* wf_checkpoint_save with that sharding (0: always one file). */
wf_status wf_checkpoint_save_sharded(const char *dir, const wf_gpt_config *cfg, const float *weights,
                                     uint64_t max_shard_bytes, wf_err *err);
/* transformers' default max_shard_size, "5GB" (5 * 10^9 bytes). */
#define WF_CHECKPOINT_SHARD_BYTES 5000000000ull
#endif
