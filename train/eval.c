/* eval.c — mean cross-entropy of a model over a token split, in windows of
** T+1 tokens (wafer eval, and the validation loss of the training loop). */
#include "train/train.h"

wf_status wf_eval_loss(const wf_gpt_config *c, const float *weights, wf_token_read_fn read, void *ud,
                       uint64_t count, int B, int T, long max_windows, wf_heap *h, double *mean_loss,
                       uint64_t *tokens, wf_err *err) {
    return wf_eval_loss_sparse(c, weights, NULL, read, ud, count, B, T, max_windows, h, mean_loss, tokens, err);
}

uint64_t wf_eval_batches(uint64_t count, int B, int T, long max_windows) {
    if (B < 1 || T < 1 || count < (uint64_t)T + 1) return 0;
    uint64_t nwin = (count - 1) / (uint64_t)T;
    if (max_windows > 0 && nwin > (uint64_t)max_windows) nwin = (uint64_t)max_windows;
    return (nwin + (uint64_t)B - 1) / (uint64_t)B;
}

/* Batch j is scored here when j mod size == rank; its loss x tokens goes to
** part[j] (part NULL: added to *sum in batch order). */
static wf_status eval_core(const wf_gpt_config *c, const float *weights, wf_sparse_mask *mask, wf_token_read_fn read,
                           void *ud, uint64_t count, int B, int T, long max_windows, wf_heap *h, int rank, int size,
                           double *part, double *mean_loss, uint64_t *tokens, wf_err *err) {
    *mean_loss = 0;
    *tokens = 0;
    if (count < (uint64_t)T + 1)
        return WF_FAIL(err, WF_ESHAPE, "eval: the split has %llu tokens, fewer than one window of seq+1 = %d",
                       (unsigned long long)count, T + 1);
    uint64_t nwin = (count - 1) / (uint64_t)T;
    if (max_windows > 0 && nwin > (uint64_t)max_windows) nwin = (uint64_t)max_windows;
    wf_gpt_view w;
    wf_status rc = wf_gpt_view_bind(c, (float *)weights, &w, err);
    if (rc) return rc;
    wf_trainer *t = NULL, *tail = NULL;
    wf_sparse_plan *pt = NULL, *ptail = NULL;
    int32_t *buf = NULL, *in = NULL, *tg = NULL;
    int Bmain = (uint64_t)B < nwin ? B : (int)nwin;
    int Btail = (int)(nwin % (uint64_t)Bmain);
    if ((rc = wf_trainer_new(c, Bmain, T, 0, h, &t, err))) goto done;
    if (Btail && (rc = wf_trainer_new(c, Btail, T, 0, h, &tail, err))) goto done;
    if (mask) {
        if ((rc = wf_sparse_plan_new(mask, weights, Bmain * T, WF_SPARSE_KERNELS_AUTO, h, &pt, err))) goto done;
        wf_trainer_set_sparse(t, pt);
        if (tail) {
            if ((rc = wf_sparse_plan_new(mask, weights, Btail * T, WF_SPARSE_KERNELS_AUTO, h, &ptail, err))) goto done;
            wf_trainer_set_sparse(tail, ptail);
        }
    }
    buf = wf_alloc(h, sizeof(int32_t) * (size_t)(T + 1), "eval window", err);
    in = wf_alloc(h, sizeof(int32_t) * (size_t)Bmain * T, "eval inputs", err);
    tg = wf_alloc(h, sizeof(int32_t) * (size_t)Bmain * T, "eval targets", err);
    if (!buf || !in || !tg) {
        rc = WF_ENOMEM;
        goto done;
    }
    double sum = 0, t0 = wf_now(), t_said = t0;
    for (uint64_t w0 = 0, j = 0; w0 < nwin; w0 += (uint64_t)Bmain, j++) {
        double now = wf_now();
        if (rank == 0 && now - t_said >= 5) { /* long evaluations say how far they are */
            double el = now - t0;
            t_said = now;
            wf_log(WF_LOG_INFO, "eval: %llu of %llu windows, %.0f s, about %.0f s left", (unsigned long long)w0,
                   (unsigned long long)nwin, el, el * (double)(nwin - w0) / (double)(w0 ? w0 : 1));
        }
        int nb = nwin - w0 < (uint64_t)Bmain ? (int)(nwin - w0) : Bmain;
        if (j % (uint64_t)size != (uint64_t)rank) {
            if (part) part[j] = 0;
            continue;
        }
        for (int b = 0; b < nb; b++) {
            if ((rc = read(ud, (w0 + (uint64_t)b) * (uint64_t)T, (size_t)T + 1, buf, err))) goto done;
            for (int k = 0; k < T; k++) in[b * T + k] = buf[k], tg[b * T + k] = buf[k + 1];
        }
        float l;
        if ((rc = wf_trainer_loss(nb == Bmain ? t : tail, &w, in, tg, &l, err))) goto done;
        if (part) part[j] = (double)l * nb * T;
        else sum += (double)l * nb * T;
    }
    *tokens = nwin * (uint64_t)T;
    *mean_loss = sum / (double)*tokens;
done:
    wf_free(h, buf);
    wf_free(h, in);
    wf_free(h, tg);
    wf_trainer_free(t);
    wf_trainer_free(tail);
    wf_sparse_plan_free(pt);
    wf_sparse_plan_free(ptail);
    wf_gpt_view_unbind(&w);
    return rc;
}

wf_status wf_eval_loss_sparse(const wf_gpt_config *c, const float *weights, wf_sparse_mask *mask,
                              wf_token_read_fn read, void *ud, uint64_t count, int B, int T, long max_windows,
                              wf_heap *h, double *mean_loss, uint64_t *tokens, wf_err *err) {
    return eval_core(c, weights, mask, read, ud, count, B, T, max_windows, h, 0, 1, NULL, mean_loss, tokens, err);
}

wf_status wf_eval_loss_part(const wf_gpt_config *c, const float *weights, wf_sparse_mask *mask, wf_token_read_fn read,
                            void *ud, uint64_t count, int B, int T, long max_windows, int rank, int size, double *part,
                            uint64_t *tokens, wf_err *err) {
    double mean;
    if (size < 1 || rank < 0 || rank >= size)
        return WF_FAIL(err, WF_EUSAGE, "eval: rank %d of %d processes", rank, size);
    return eval_core(c, weights, mask, read, ud, count, B, T, max_windows, NULL, rank, size, part, &mean, tokens, err);
}
