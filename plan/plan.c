/* plan.c — the training-time planner (plan.h): map each matrix multiply of a
** layer onto the fabric as the weight-streaming kernel of wse/, take its
** cycles from the kernel's cycle model, and multiply out. */
#include "plan.h"

#include "../wse/wse.h"

#include <math.h>
#include <string.h>

/* REFERENCE.md "Cerebras-GPT" (Dey et al. 2023, arXiv 2304.03208); GPT-3 XL
** and GPT-3 13B have the Cerebras-GPT 1.3B and 13B shapes (Brown et al. 2020,
** Table 2.1); GPT-J 6B from EleutherAI's model card (28 layers, d 4096, 16
** heads, vocab 50400, seq 2048) with the Cerebras-GPT 6.7B batch. */
const wf_plan_model wf_plan_presets[] = {
    {"cerebras-gpt-111m", 10, 768, 12, 3072, 50257, 2048, 120, "REFERENCE.md Cerebras-GPT table"},
    {"cerebras-gpt-256m", 14, 1088, 17, 4352, 50257, 2048, 264, "REFERENCE.md Cerebras-GPT table"},
    {"cerebras-gpt-590m", 18, 1536, 12, 6144, 50257, 2048, 264, "REFERENCE.md Cerebras-GPT table"},
    {"cerebras-gpt-1.3b", 24, 2048, 16, 8192, 50257, 2048, 528, "REFERENCE.md Cerebras-GPT table"},
    {"cerebras-gpt-2.7b", 32, 2560, 20, 10240, 50257, 2048, 528, "REFERENCE.md Cerebras-GPT table"},
    {"cerebras-gpt-6.7b", 32, 4096, 32, 16384, 50257, 2048, 1040, "REFERENCE.md Cerebras-GPT table"},
    {"cerebras-gpt-13b", 40, 5120, 40, 20480, 50257, 2048, 1080, "REFERENCE.md Cerebras-GPT table"},
    {"gpt3-xl", 24, 2048, 16, 8192, 50257, 2048, 528, "GPT-3 XL = Cerebras-GPT 1.3B shape"},
    {"gpt-j-6b", 28, 4096, 16, 16384, 50400, 2048, 1040, "GPT-J model card; batch of Cerebras-GPT 6.7B"},
    {"gpt3-13b", 40, 5120, 40, 20480, 50257, 2048, 1080, "GPT-3 13B = Cerebras-GPT 13B shape"},
    {NULL, 0, 0, 0, 0, 0, 0, 0, NULL},
};

const wf_plan_model *wf_plan_preset(const char *name) {
    for (const wf_plan_model *m = wf_plan_presets; m->name; m++)
        if (!strcmp(m->name, name)) return m;
    return NULL;
}

void wf_plan_defaults(wf_plan_opts *o) {
    memset(o, 0, sizeof *o);
    o->systems = 1;
    o->mode = WF_PLAN_STREAM;
    o->clock_hz = 850e6;            /* open; REFERENCE: "make the clock a parameter (default 850 MHz)",
                                    ** the vendor's scripts' clock; the talk's 7.5 PFLOP/s per CS-2
                                    ** implies ~1.1 GHz (--clock 1.1e9) */
    o->pe_w = WF_FABRIC_MAX_W;      /* REFERENCE: largest program rectangle 750 x 994 */
    o->pe_h = WF_FABRIC_MAX_H;
    o->io_bytes_per_s = 150e9;      /* REFERENCE: 1.2 Tb/s of I/O per CS-2 (SwarmX glossary) */
    o->weight_bytes = 2;            /* REFERENCE: bf16 runs, 16-bit weights in the sizing rule */
    o->update_params_per_s = 1e10;  /* open: MemoryX optimizer throughput, no public figure */
    o->swarmx_level_s = 1e-6;       /* open: per tree level, no public figure */
}

/* Best mapping of Y[T,N] = X[T,K] W[K,N] with T = tr * pe_w tokens: K over
** ky rows (kc each), the rows repeated in `groups` bands that split N. */
static int map_mm(const wf_plan_opts *o, const wf_cost_model *cm, int tr, int K, int N, double dens,
                  wf_plan_mm *best) {
    static const int nbs[] = {8, 16, 32, 64, 128};
    best->cycles = INFINITY;
    int last_ky = -1;
    for (int kc = 1; kc <= K; kc++) {
        int ky = (K + kc - 1) / kc;
        if (ky == last_ky) continue;
        last_ky = ky;
        if (ky > o->pe_h) continue;
        int groups = o->pe_h / ky;
        if (groups > N) groups = N;
        int kce = (K + ky - 1) / ky; /* the busiest row's share */
        for (size_t i = 0; i < sizeof nbs / sizeof nbs[0]; i++) {
            int nb = nbs[i];
            int64_t per_group = ((int64_t)N + groups - 1) / groups;
            int64_t nch = (per_group + nb - 1) / nb;
            if (nch * nb > (1 << 24)) continue;
            wf_wse_mm_cfg c = {.T = tr * o->pe_w, .K = kce * ky, .N = (int)(nch * nb), .kx = o->pe_w, .ky = ky,
                               .nb = nb, .fp16 = 1, .threads = 1, .cost = cm};
            wf_err e = {0};
            if (wf_wse_mm_check(&c, &e)) continue;
            wf_wse_mm_model m;
            wf_wse_mm_predict(&c, cm, &m);
            /* sparsity: zero weights are never sent, so a PE's ops shrink with
            ** the density (REFERENCE: senders do not send zeros) */
            double cyc = m.fill + (double)nch * fmax(m.compute_chunk * dens, fmax(m.inflow_chunk * dens,
                                                                                    m.reduce_chunk));
            if (cyc < best->cycles) {
                best->K = K, best->N = N, best->tr = tr, best->kc = kce, best->nb = nb, best->ky = ky;
                best->groups = groups, best->cycles = cyc;
            }
        }
    }
    if (!isfinite(best->cycles)) return -1;
    best->efficiency = (double)tr * o->pe_w * K * N * dens /
                       ((double)o->pe_w * o->pe_h * cm->w_f16_fma * best->cycles);
    return 0;
}

wf_status wf_plan_run(const wf_plan_opts *o, wf_plan_result *r, wf_err *err) {
    memset(r, 0, sizeof *r);
    const wf_plan_model *md = o->model;
    if (!md) return WF_FAIL(err, WF_EUSAGE, "plan: no model");
    if (!(o->tokens >= 1 && o->tokens <= 1e16))
        return WF_FAIL(err, WF_EUSAGE, "plan: --tokens %g: expected 1 .. 1e16", o->tokens);
    if (o->systems < 1 || o->systems > 4096)
        return WF_FAIL(err, WF_EUSAGE, "plan: --systems %d: expected 1 .. 4096", o->systems);
    if (!(o->sparsity >= 0 && o->sparsity < 1))
        return WF_FAIL(err, WF_EUSAGE, "plan: --sparsity %g: expected 0 <= s < 1", o->sparsity);
    if (!(o->clock_hz >= 1e6 && o->clock_hz <= 1e11))
        return WF_FAIL(err, WF_EUSAGE, "plan: --clock %g Hz: expected 1e6 .. 1e11", o->clock_hz);
    if (!(o->price_per_hour >= 0 && o->price_per_hour < 1e9))
        return WF_FAIL(err, WF_EUSAGE, "plan: --price-per-hour %g: expected >= 0", o->price_per_hour);
    if (o->pe_w < 1 || o->pe_w > WF_FABRIC_MAX_W || o->pe_h < 1 || o->pe_h > WF_FABRIC_MAX_H)
        return WF_FAIL(err, WF_EUSAGE, "plan: fabric %d x %d: expected at most %d x %d", o->pe_w, o->pe_h,
                       WF_FABRIC_MAX_W, WF_FABRIC_MAX_H);
    if (!(o->io_bytes_per_s > 0) || !(o->weight_bytes > 0) || !(o->update_params_per_s > 0) ||
        !(o->swarmx_level_s >= 0))
        return WF_FAIL(err, WF_EUSAGE, "plan: bandwidth parameters must be positive");
    if (o->mode != WF_PLAN_STREAM && o->mode != WF_PLAN_PIPELINED)
        return WF_FAIL(err, WF_EUSAGE, "plan: mode %d: expected stream or pipelined", o->mode);
    if (o->mode == WF_PLAN_PIPELINED && o->systems > 1)
        return WF_FAIL(err, WF_EUSAGE, "plan: pipelined mode runs on one system (REFERENCE: it does not scale "
                       "across systems), got --systems %d", o->systems);
    wf_cost_model cm = wf_cost_wse2;
    cm.clock_hz = o->clock_hz;
    const double L = md->layers, d = md->d, ffn = md->ffn, V = md->vocab, S = md->seq;
    const double pes = (double)o->pe_w * o->pe_h, dens = 1.0 - o->sparsity;
    const double layer_params = 4 * d * d + 2 * d * ffn + 9 * d + ffn; /* qkv, proj, fc1, fc2, biases, 2 LN */
    r->params = L * layer_params + V * d + S * d + 2 * d;
    if (o->mode == WF_PLAN_PIPELINED) {
        double need = r->params * o->weight_bytes, have = pes * (cm.sram_bytes - cm.code_reserve);
        if (need > 0.5 * have)
            return WF_FAIL(err, WF_ESRAM, "plan: %s in pipelined mode: %.1f GB of weights, more than half of the "
                           "fabric's %.1f GB of SRAM (the rest holds activations); use --mode stream",
                           md->name, need / 1e9, have / 1e9);
    }

    /* the micro-batch: the step's tokens on one system split evenly into the
    ** fewest passes of at most max_tr tokens per PE column (a split need not
    ** fall between sequences: the multiplies see tokens, not sequences) */
    double step_tokens = (double)md->batch_seqs * S;
    double per_sys = ceil(step_tokens / o->systems);
    int max_tr = o->max_tr > 0 ? o->max_tr : 128;
    int accum = (int)ceil(per_sys / ((double)max_tr * o->pe_w));
    if (accum < 1) accum = 1;
    double micro = ceil(per_sys / accum);
    int tr = (int)ceil(micro / o->pe_w);
    r->micro_tokens = (int)micro;
    r->accum = accum;
    r->steps = ceil(o->tokens / step_tokens);

    /* the matrix multiplies of one layer, forward */
    struct { const char *name; int K, N; } mms[5] = {{"qkv", md->d, 3 * md->d},
                                                     {"proj", md->d, md->d},
                                                     {"fc1", md->d, md->ffn},
                                                     {"fc2", md->ffn, md->d},
                                                     {"lm_head", md->d, md->vocab}};
    r->nmm = 5;
    double mm_fwd = 0, eff_w = 0, w_sum = 0;
    for (int i = 0; i < 5; i++) {
        if (map_mm(o, &cm, tr, mms[i].K, mms[i].N, i < 4 ? dens : 1.0, &r->mm[i]))
            return WF_FAIL(err, WF_ESRAM, "plan: %s: no mapping of the %s multiply (%d x %d, %d tokens per column) "
                           "fits a PE", md->name, mms[i].name, mms[i].K, mms[i].N, tr);
        r->mm[i].name = mms[i].name;
        if (i < 4) {
            mm_fwd += r->mm[i].cycles;
            /* the attention products are dense whatever the weights' sparsity */
            wf_plan_mm dense = r->mm[i];
            if (dens < 1 && map_mm(o, &cm, tr, mms[i].K, mms[i].N, 1.0, &dense))
                return WF_FAIL(err, WF_ESRAM, "plan: %s: no dense mapping of %s", md->name, mms[i].name);
            eff_w += dense.efficiency * mms[i].K * (double)mms[i].N;
            w_sum += mms[i].K * (double)mms[i].N;
        }
    }
    double eff = eff_w / w_sum; /* the layer's dense matmul efficiency, for the attention products */
    const double peak_cyc = pes * cm.w_f16_fma;                 /* FMAs per cycle, whole fabric */
    /* training = forward + backward (dX and dW, each the forward's shape) */
    r->layer_matmul_cycles = 3 * mm_fwd;
    /* causal attention: QK^T and AV, S/2 keys per query on average, per token
    ** 2 * (S/2) * d FMAs forward; mapped at the projections' efficiency */
    double attn_fma = micro * 2 * (S / 2) * d;
    r->layer_attn_cycles = 3 * attn_fma / (peak_cyc * eff);
    /* vector work per token, forward: 2 LayerNorms (~5 passes over d),
    ** GELU (~8 ops over ffn), softmax (~4 ops over S/2 scores per head),
    ** 2 residual adds; fp32 at 2 elements per cycle per PE (REFERENCE) */
    double vec = micro * (2 * 5 * d + 8 * ffn + 4 * (S / 2) * md->heads + 2 * d);
    r->layer_vector_cycles = 3 * vec / (pes * cm.w_f32_add);
    r->layer_compute_cycles = r->layer_matmul_cycles + r->layer_attn_cycles + r->layer_vector_cycles;
    /* weights in twice (forward, backward) and gradients out once, per
    ** micro-batch; sparse weights travel as (index, value): 2x bytes, density x count */
    double wbytes = o->sparsity > 0 ? 2 * o->weight_bytes * dens : o->weight_bytes;
    double io_bytes = o->mode == WF_PLAN_STREAM ? layer_params * (2 * wbytes + o->weight_bytes) : 0;
    r->layer_io_cycles = io_bytes / o->io_bytes_per_s * o->clock_hz;
    r->layer_cycles = fmax(r->layer_compute_cycles, r->layer_io_cycles);
    double head_params = V * d;
    double head_io =
        o->mode == WF_PLAN_STREAM ? head_params * 3 * o->weight_bytes / o->io_bytes_per_s * o->clock_hz : 0;
    double ce_vec = micro * 4 * V / (pes * cm.w_f32_add);
    r->head_cycles = fmax(3 * r->mm[4].cycles + 3 * ce_vec, head_io);
    /* per step: the update of the layer needed first (the others overlap the
    ** backward, REFERENCE MemoryX) and a SwarmX round trip per layer and pass */
    int levels = 0;
    while ((1 << levels) < o->systems) levels++;
    r->step_exposed_s = o->mode == WF_PLAN_STREAM
                            ? layer_params / o->update_params_per_s + 2 * (L + 1) * levels * o->swarmx_level_s
                            : 0;
    double micro_cycles = L * r->layer_cycles + r->head_cycles;
    r->step_s = accum * micro_cycles / o->clock_hz + r->step_exposed_s;
    double secs = r->steps * r->step_s;
    r->days = secs / 86400.0;
    /* model FLOPs performed: 6 per nonzero weight and token in the
    ** multiplies (2 forward, 4 backward) + causal attention (6 S d per token
    ** and layer). With sparsity the zero weights' FLOPs are not counted. */
    double mm_params = L * (4 * d * d + 2 * d * ffn) * dens + V * d;
    r->flops = o->tokens * (6 * mm_params + 6 * L * S * d);
    r->sustained = r->flops / secs;
    r->peak = pes * 2 * cm.w_f16_fma * o->clock_hz * o->systems;
    r->utilisation = r->sustained / r->peak;
    r->cost = r->days * 24 * o->price_per_hour * o->systems;
    return WF_OK;
}

wf_status wf_plan_check_sim(const wf_plan_opts *o, const wf_plan_mm *m, int cols, int chunks, wf_plan_check *out,
                            wf_err *err) {
    memset(out, 0, sizeof *out);
    if (cols < 1 || cols > o->pe_w || chunks < 1)
        return WF_FAIL(err, WF_EUSAGE, "plan: check slice of %d columns x %d chunks: expected 1..%d columns", cols,
                       chunks, o->pe_w);
    wf_cost_model cm = wf_cost_wse2;
    cm.clock_hz = o->clock_hz;
    wf_wse_mm_cfg c = {.T = m->tr * cols, .K = m->kc * m->ky, .N = m->nb * chunks, .kx = cols, .ky = m->ky,
                       .nb = m->nb, .fp16 = 1, .threads = 2, .cost = &cm};
    wf_wse_mm_stats st;
    wf_status rc = wf_wse_mm_run(&c, NULL, NULL, NULL, &st, err);
    if (rc) return rc;
    wf_wse_mm_model md;
    wf_wse_mm_predict(&c, &cm, &md);
    out->cols = cols, out->rows = m->ky, out->chunks = chunks;
    out->sim_cycles = (double)st.cycles;
    out->model_cycles = md.total;
    out->wall_s = st.wall_s;
    out->pe_cycles_per_s = st.wall_s > 0 ? (double)cols * m->ky * (double)st.cycles / st.wall_s : 0;
    return WF_OK;
}
