/* optstate.c — optimizer.bin: Adam moments, step, RNG and data position of a
** training run (format table in train.h). Written atomically through
** wf_afile, so a failed save leaves the previous file intact. */
#include "train/train_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>

#include <string.h>
#include <unistd.h>

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

wf_status wf_optstate_save_fn(const char *path, const wf_gpt_config *c, const wf_optim_opts *opts,
                              const wf_train_state *s, wf_moment_fn get, void *ud, wf_err *err) {
    uint64_t numel = wf_gpt_numel(c);
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
    uint64_t lr_bits = 0, end_bits = 0, sched = 0;
    if (s->has_sched) {
        memcpy(&lr_bits, &s->lr, 8);
        memcpy(&end_bits, &s->end_frac, 8);
        sched = 1ull << 63 | (uint64_t)s->sched << 48 | (s->warmup & ((1ull << 48) - 1));
    }
    uint64_t st[16] = {s->step, s->tokens, s->data_pos, s->rng[0], s->rng[1], s->rng[2], s->rng[3],
                       s->seed, (uint64_t)opts->decay, s->accum, s->B, s->T, s->deal, lr_bits, sched, end_bits};
    for (int i = 0; i < 16; i++) put_u64(blk + 8 * i, st[i]);
    float hp[8] = {opts->beta1, opts->beta2, opts->eps, opts->weight_decay, opts->clip, 0, 0, 0};
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
    for (int k = 0; k < 2; k++) {
        for (int b = 0; b < wf_gpt_nblocks(c); b++) {
            const float *p;
            if ((rc = get(ud, k, b, &p, err)) || (rc = wf_afile_write(f, p, wf_gpt_block_numel(c, b) * 4, err))) goto fail;
        }
        uint64_t end = k ? total : offs[3];
        if ((rc = wf_afile_write(f, zeros, end - offs[2 + k] - numel * 4, err))) goto fail;
    }
    return wf_afile_commit(f, err);
fail:
    wf_afile_abort(f);
    return rc;
}

static wf_status whole_moment(void *ud, int which, int b, const float **blk, wf_err *err) {
    (void)err;
    const wf_optim *o = ud;
    *blk = (which ? o->v : o->m) + wf_gpt_block_offset(&o->cfg, b);
    return WF_OK;
}

wf_status wf_optstate_save(const char *path, const wf_optim *o, const wf_train_state *s, wf_err *err) {
    return wf_optstate_save_fn(path, &o->cfg, &o->opts, s, whole_moment, (void *)o, err);
}

struct wf_optstate_file {
    char path[1100];
    int fd;
    wf_gpt_config cfg;
    uint64_t off[2]; /* m, v sections */
};

void wf_optstate_close(wf_optstate_file *f) {
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    wf_free(NULL, f);
}

static wf_status pread_all(const wf_optstate_file *f, void *dst, size_t n, uint64_t off, const char *what, wf_err *err) {
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(f->fd, (char *)dst + got, n - got, (off_t)(off + got));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0)
            return WF_FAIL(err, k < 0 ? WF_EIO : WF_ECORRUPT, "%s: offset %llu: %s: %s", f->path,
                           (unsigned long long)(off + got), what, k < 0 ? strerror(errno) : "file ends early");
        got += (size_t)k;
    }
    return WF_OK;
}

wf_status wf_optstate_open(const char *path, const wf_gpt_config *c, wf_optim_opts *opts, wf_train_state *s,
                           wf_optstate_file **out, wf_err *err) {
    *out = NULL;
    wf_optstate_file *f = wf_calloc(NULL, sizeof *f, "optimizer state", err);
    if (!f) return WF_ENOMEM;
    f->fd = -1, f->cfg = *c;
    snprintf(f->path, sizeof f->path, "%s", path);
    uint64_t len = 0;
    unsigned char p[HDR + 32 * 64], sec0[128], sec1[32];
    static const char *names[NSEC] = {"state", "hparams", "m", "v"};
    uint64_t numel = wf_gpt_numel(c), want[NSEC] = {16 * 8, 8 * 4, numel * 4, numel * 4}, at[NSEC] = {0};
    int have[NSEC] = {0};
    wf_status rc = wf_file_open_read(path, &f->fd, &len, err);
    if (rc) goto done;
    if (len < HDR || (rc = pread_all(f, p, HDR, 0, "header", err)) || memcmp(p, MAGIC, 8) != 0) {
        if (!rc) rc = WF_FAIL(err, WF_ECORRUPT, "%s: offset 0: not an optimizer-state file (bad magic)", path);
        goto done;
    }
    uint32_t ver = get_u32(p + 8), n = get_u32(p + 12);
    if (ver != WF_OPTSTATE_VERSION) {
        rc = WF_FAIL(err, WF_ECORRUPT, "%s: offset 8: version %u, expected %d", path, ver, WF_OPTSTATE_VERSION);
        goto done;
    }
    if (get_u64(p + 16) != len) {
        rc = WF_FAIL(err, WF_ECORRUPT, "%s: offset 16: file size %llu in header, file has %llu bytes (truncated?)",
                     path, (unsigned long long)get_u64(p + 16), (unsigned long long)len);
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
    if ((rc = pread_all(f, p + HDR, 32 * n, HDR, "section table", err))) goto done;
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
                have[k] = 1, at[k] = off;
            }
    }
    for (int k = 0; k < NSEC; k++)
        if (!have[k]) {
            rc = WF_FAIL(err, WF_ECORRUPT, "%s: section '%s' is missing", path, names[k]);
            goto done;
        }
    if ((rc = pread_all(f, sec0, sizeof sec0, at[0], "section 'state'", err)) ||
        (rc = pread_all(f, sec1, sizeof sec1, at[1], "section 'hparams'", err)))
        goto done;
    uint64_t st[16];
    for (int i = 0; i < 16; i++) st[i] = get_u64(sec0 + 8 * i);
    if (st[8] >= WF_DECAY_COUNT) {
        rc = WF_FAIL(err, WF_ECORRUPT, "%s: section 'state': decay mode %llu unknown", path, (unsigned long long)st[8]);
        goto done;
    }
    /* Every value read is checked before use (a corrupt count must be an error, never an assert). */
    if (st[12] > WF_DEAL_SEQUENCES) {
        rc = WF_FAIL(err, WF_ECORRUPT, "%s: section 'state': data dealing %llu unknown (written by a newer wafer?)", path,
                     (unsigned long long)st[12]);
        goto done;
    }
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
    double lr = 0, end_frac = 0;
    memcpy(&lr, &st[13], 8);
    memcpy(&end_frac, &st[15], 8);
    int has_sched = (int)(st[14] >> 63);
    uint64_t sched = st[14] >> 48 & 0xff, warmup = st[14] & ((1ull << 48) - 1);
    if (has_sched ? !(lr > 0 && lr <= 10) || !(end_frac >= 0 && end_frac <= 1) || sched >= WF_SCHED_COUNT ||
                        warmup > 1000000000ull || (st[14] >> 56 & 0x7f)
                  : st[13] || st[14] || st[15]) {
        rc = WF_FAIL(err, WF_ECORRUPT, "%s: section 'state': lr schedule (lr %g, end fraction %g, kind %llu, "
                     "warm-up %llu) out of range", path, lr, end_frac, (unsigned long long)sched,
                     (unsigned long long)warmup);
        goto done;
    }
    float hp[8];
    for (int i = 0; i < 8; i++) {
        uint32_t u = get_u32(sec1 + 4 * i);
        memcpy(&hp[i], &u, 4);
    }
    if (!(hp[0] >= 0 && hp[0] < 1) || !(hp[1] >= 0 && hp[1] < 1) || !(hp[2] >= 0 && hp[2] <= 1) ||
        !(hp[3] >= 0 && hp[3] <= 10) || !isfinite(hp[4])) {
        rc = WF_FAIL(err, WF_ECORRUPT, "%s: section 'hparams': beta1 %g, beta2 %g, eps %g, weight decay %g, clip %g: "
                     "out of range", path, hp[0], hp[1], hp[2], hp[3], hp[4]);
        goto done;
    }
    s->step = st[0], s->tokens = st[1], s->data_pos = st[2];
    for (int i = 0; i < 4; i++) s->rng[i] = st[3 + i];
    s->seed = st[7], s->accum = st[9], s->B = st[10], s->T = st[11], s->deal = st[12];
    s->has_sched = has_sched, s->sched = (int)sched, s->lr = lr, s->end_frac = end_frac, s->warmup = warmup;
    opts->beta1 = hp[0], opts->beta2 = hp[1], opts->eps = hp[2];
    opts->weight_decay = hp[3], opts->clip = hp[4];
    opts->decay = (wf_decay_mode)st[8];
    f->off[0] = at[2], f->off[1] = at[3];
done:
    if (rc) wf_optstate_close(f);
    else *out = f;
    return rc;
}

wf_status wf_optstate_read_block(wf_optstate_file *f, int which, int b, float *dst, wf_err *err) {
    static const char *names[2] = {"m", "v"};
    const wf_gpt_config *c = &f->cfg;
    size_t n = wf_gpt_block_numel(c, b);
    char what[32];
    snprintf(what, sizeof what, "section '%s'", names[which]);
    wf_status rc = pread_all(f, dst, n * 4, f->off[which] + 4 * (uint64_t)wf_gpt_block_offset(c, b), what, err);
    if (rc) return rc;
    int bad = wf_nonfinite_block(c, b, dst);
    if (bad >= 0) {
        wf_tensor_info ti;
        wf_gpt_tensor_info(c, bad, &ti);
        return WF_FAIL(err, WF_ECORRUPT, "%s: section '%s': tensor '%s' holds NaN or Inf (corrupt optimizer state)",
                       f->path, names[which], ti.name);
    }
    return WF_OK;
}

wf_status wf_optstate_load(const char *path, wf_optim *o, wf_train_state *s, wf_err *err) {
    wf_optstate_file *f;
    wf_optim_opts opts = o->opts;
    wf_train_state st = *s;
    wf_status rc = wf_optstate_open(path, &o->cfg, &opts, &st, &f, err);
    for (int k = 0; !rc && k < 2; k++)
        for (int b = 0; !rc && b < wf_gpt_nblocks(&o->cfg); b++)
            rc = wf_optstate_read_block(f, k, b, (k ? o->v : o->m) + wf_gpt_block_offset(&o->cfg, b), err);
    wf_optstate_close(f);
    if (rc) return rc;
    o->opts = opts, *s = st;
    o->step = (long)s->step;
    return WF_OK;
}
