/* optstate.c — optimizer.bin: Adam moments, step, RNG and data position of a
** training run (format table in train.h). Written atomically through
** wf_afile, so a failed save leaves the previous file intact. */
#include "train/train_int.h"

#include <math.h>

#include <string.h>

static const char MAGIC[8] = {'W', 'F', 'O', 'P', 'T', 'I', 'M', 0};
enum { NSEC = 4, HDR = 32, ALIGN = 64 };

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u32(const unsigned char *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static uint64_t get_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}
static uint64_t align_up(uint64_t x) { return (x + ALIGN - 1) / ALIGN * ALIGN; }

wf_status wf_optstate_save(const char *path, const wf_optim *o, const wf_train_state *s, wf_err *err) {
    uint64_t numel = wf_gpt_numel(&o->cfg);
    const char *names[NSEC] = {"state", "hparams", "m", "v"};
    uint64_t sizes[NSEC] = {16 * 8, 8 * 4, numel * 4, numel * 4};
    uint64_t offs[NSEC], pos = align_up(HDR + 32 * NSEC);
    for (int i = 0; i < NSEC; i++) offs[i] = pos, pos = align_up(pos + sizes[i]);
    uint64_t total = pos;
    unsigned char head[512];
    memset(head, 0, sizeof head);
    WF_ASSERT(offs[0] <= sizeof head);
    memcpy(head, MAGIC, 8);
    put_u32(head + 8, WF_OPTSTATE_VERSION);
    put_u32(head + 12, NSEC);
    put_u64(head + 16, total);
    put_u64(head + 24, numel);
    for (int i = 0; i < NSEC; i++) {
        unsigned char *e = head + HDR + 32 * i;
        memcpy(e, names[i], strlen(names[i]));
        put_u64(e + 16, offs[i]);
        put_u64(e + 24, sizes[i]);
    }
    unsigned char blk[512];
    memset(blk, 0, sizeof blk);
    uint64_t st[16] = {s->step, s->tokens, s->data_pos, s->rng[0], s->rng[1], s->rng[2], s->rng[3],
                       s->seed, (uint64_t)o->opts.decay, s->accum, s->B, s->T, 0, 0, 0, 0};
    for (int i = 0; i < 16; i++) put_u64(blk + 8 * i, st[i]);
    float hp[8] = {o->opts.beta1, o->opts.beta2, o->opts.eps, o->opts.weight_decay, o->opts.clip, 0, 0, 0};
    for (int i = 0; i < 8; i++) {
        uint32_t u;
        memcpy(&u, &hp[i], 4);
        put_u32(blk + 128 + 4 * i, u);
    }
    static const unsigned char zeros[ALIGN];
    wf_afile *f;
    wf_status rc = wf_afile_open(path, &f, err);
    if (rc) return rc;
    /* header, then each section padded to its aligned offset (little-endian host assumed for m, v). */
    if ((rc = wf_afile_write(f, head, offs[0], err))) goto fail;
    if ((rc = wf_afile_write(f, blk, offs[1] - offs[0], err))) goto fail;
    if ((rc = wf_afile_write(f, blk + 128, offs[2] - offs[1], err))) goto fail;
    if ((rc = wf_afile_write(f, o->m, numel * 4, err))) goto fail;
    if ((rc = wf_afile_write(f, zeros, offs[3] - offs[2] - numel * 4, err))) goto fail;
    if ((rc = wf_afile_write(f, o->v, numel * 4, err))) goto fail;
    if ((rc = wf_afile_write(f, zeros, total - offs[3] - numel * 4, err))) goto fail;
    return wf_afile_commit(f, err);
fail:
    wf_afile_abort(f);
    return rc;
}

wf_status wf_optstate_load(const char *path, wf_optim *o, wf_train_state *s, wf_err *err) {
    char *buf = NULL;
    size_t len = 0;
    wf_status rc = wf_file_read(o->heap, path, &buf, &len, err);
    if (rc) return rc;
    const unsigned char *p = (const unsigned char *)buf;
    uint64_t numel = wf_gpt_numel(&o->cfg);
    const unsigned char *sec[NSEC] = {0};
    static const char *names[NSEC] = {"state", "hparams", "m", "v"};
    uint64_t want[NSEC] = {16 * 8, 8 * 4, numel * 4, numel * 4};
    if (len < HDR || memcmp(p, MAGIC, 8) != 0) {
        rc = WF_FAIL(err, WF_ECORRUPT, "%s: offset 0: not an optimizer-state file (bad magic)", path);
        goto done;
    }
    uint32_t ver = get_u32(p + 8), n = get_u32(p + 12);
    if (ver != WF_OPTSTATE_VERSION) {
        rc = WF_FAIL(err, WF_ECORRUPT, "%s: offset 8: version %u, expected %d", path, ver, WF_OPTSTATE_VERSION);
        goto done;
    }
    if (get_u64(p + 16) != len) {
        rc = WF_FAIL(err, WF_ECORRUPT, "%s: offset 16: file size %llu in header, file has %zu bytes (truncated?)",
                     path, (unsigned long long)get_u64(p + 16), len);
        goto done;
    }
    if (get_u64(p + 24) != numel) {
        rc = WF_FAIL(err, WF_ESHAPE, "%s: offset 24: %llu parameters, the model has %llu", path,
                     (unsigned long long)get_u64(p + 24), (unsigned long long)numel);
        goto done;
    }
    if (n > 64 || HDR + 32ull * n > len) {
        rc = WF_FAIL(err, WF_ECORRUPT, "%s: offset 12: section count %u does not fit the file", path, n);
        goto done;
    }
    for (uint32_t i = 0; i < n; i++) {
        const unsigned char *e = p + HDR + 32 * i;
        uint64_t off = get_u64(e + 16), sz = get_u64(e + 24);
        if (off > len || sz > len - off) {
            rc = WF_FAIL(err, WF_ECORRUPT, "%s: offset %u: section '%.16s' [%llu, +%llu) lies outside the file",
                         path, HDR + 32 * i, (const char *)e, (unsigned long long)off, (unsigned long long)sz);
            goto done;
        }
        for (int k = 0; k < NSEC; k++)
            if (strncmp((const char *)e, names[k], 16) == 0) {
                if (sz != want[k]) {
                    rc = WF_FAIL(err, WF_ECORRUPT, "%s: section '%s': %llu bytes, expected %llu", path,
                                 names[k], (unsigned long long)sz, (unsigned long long)want[k]);
                    goto done;
                }
                sec[k] = p + off;
            }
    }
    for (int k = 0; k < NSEC; k++)
        if (!sec[k]) {
            rc = WF_FAIL(err, WF_ECORRUPT, "%s: section '%s' is missing", path, names[k]);
            goto done;
        }
    uint64_t st[16];
    for (int i = 0; i < 16; i++) st[i] = get_u64(sec[0] + 8 * i);
    if (st[8] >= WF_DECAY_COUNT) {
        rc = WF_FAIL(err, WF_ECORRUPT, "%s: section 'state': decay mode %llu unknown", path, (unsigned long long)st[8]);
        goto done;
    }
    /* Every value read is checked before use (a corrupt count must be an error, never an assert). */
    uint64_t per_step = st[9] * st[10] * st[11];
    if (st[9] < 1 || st[9] > (1u << 20) || st[10] < 1 || st[10] > 65536 || st[11] < 1 || st[11] > (1u << 20)) {
        rc = WF_FAIL(err, WF_ECORRUPT, "%s: section 'state': accum %llu, batch %llu, seq %llu out of range", path,
                     (unsigned long long)st[9], (unsigned long long)st[10], (unsigned long long)st[11]);
        goto done;
    }
    if (st[0] > (1ull << 40) || st[2] != st[0] * st[9] || st[1] != st[0] * per_step) {
        rc = WF_FAIL(err, WF_ECORRUPT, "%s: section 'state': step %llu, data position %llu and tokens %llu "
                     "disagree (expected position = step x accum, tokens = step x accum x batch x seq)", path,
                     (unsigned long long)st[0], (unsigned long long)st[2], (unsigned long long)st[1]);
        goto done;
    }
    s->step = st[0], s->tokens = st[1], s->data_pos = st[2];
    for (int i = 0; i < 4; i++) s->rng[i] = st[3 + i];
    s->seed = st[7], s->accum = st[9], s->B = st[10], s->T = st[11];
    float hp[8];
    for (int i = 0; i < 8; i++) {
        uint32_t u = get_u32(sec[1] + 4 * i);
        memcpy(&hp[i], &u, 4);
    }
    if (!(hp[0] >= 0 && hp[0] < 1) || !(hp[1] >= 0 && hp[1] < 1) || !(hp[2] >= 0 && hp[2] <= 1) ||
        !(hp[3] >= 0 && hp[3] <= 10) || !isfinite(hp[4])) {
        rc = WF_FAIL(err, WF_ECORRUPT, "%s: section 'hparams': beta1 %g, beta2 %g, eps %g, weight decay %g, clip %g: "
                     "out of range", path, hp[0], hp[1], hp[2], hp[3], hp[4]);
        goto done;
    }
    o->opts.beta1 = hp[0], o->opts.beta2 = hp[1], o->opts.eps = hp[2];
    o->opts.weight_decay = hp[3], o->opts.clip = hp[4];
    o->opts.decay = (wf_decay_mode)st[8];
    memcpy(o->m, sec[2], numel * 4);
    memcpy(o->v, sec[3], numel * 4);
    for (int k = 0; k < 2; k++) {
        int bad = wf_nonfinite_tensor(&o->cfg, k ? o->v : o->m);
        if (bad >= 0) {
            wf_tensor_info ti;
            wf_gpt_tensor_info(&o->cfg, bad, &ti);
            rc = WF_FAIL(err, WF_ECORRUPT, "%s: section '%s': tensor '%s' holds NaN or Inf (corrupt optimizer state)",
                         path, names[2 + k], ti.name);
            goto done;
        }
    }
    o->step = (long)s->step;
done:
    wf_free(o->heap, buf);
    return rc;
}
