/* cost.c — the one cost-model table (STYLE 12). Every number the simulator
** charges comes from wf_cost_wse2 unless a caller passes its own table.
** Sources: docs/REFERENCE.md, section "The Wafer-Scale Engine 2". Values marked
** *open* are our choice where no public source settles them. */
#include "fabric.h"

/* global: const table of defaults (STYLE 10). */
const wf_cost_model wf_cost_wse2 = {
    .clock_hz = 850e6,          /* *open*: vendor scripts convert cycles with 850 MHz */
    .hop_latency = 1,           /* *open*: 1 documented, 2 observed */
    .ramp_latency = 1,          /* core <-> own router */
    .op_latency = 1,            /* Luczynski et al. HPDC 2024: a dependent step costs 2 T_R + 1 */
    .router_depth = 2,          /* *open*: enough for 1 wavelet/cycle at hop_latency 1 */
    .iq_depth = {6, 6, 4, 4, 2, 2, 2, 2},  /* REFERENCE: input queues 0-7 */
    .oq_depth = {2, 2, 6, 6, 2, 2},        /* REFERENCE: output queues 0-5 */
    .task_switch = 2,           /* *open* */
    .dsd_setup = 1,             /* *open* */
    .w_f16_add = 4, .w_f16_mul = 4, .w_f16_fma = 4,  /* REFERENCE: fp16 add/mul/fma 4/cycle */
    .w_f32_add = 2, .w_f32_mul = 1, .w_f32_fma = 1,  /* REFERENCE: fp32 add 2, fma/mul 1 */
    .w_mov32 = 2, .w_mov16 = 4,                      /* REFERENCE: 32-bit moves 2, 16-bit 4 */
    .bank_bytes = WF_PE_BANK_BYTES,  /* REFERENCE: 8 banks of 6 KB */
    .bank_conflict = 1,         /* two reads from one bank serialise */
    .sram_bytes = WF_PE_SRAM_BYTES,  /* REFERENCE: 48 KB per PE */
    .code_reserve = 4096,       /* *open*: code + stack */
    .memcpy_setup = 100,        /* *open* */
    .io_words_per_cycle = 44,   /* *open*: ~1.2 Tb/s host link / 32 bit / 850 MHz */
    .launch_latency = 100,      /* *open* */
};

const char *wf_port_name(int port) {
    static const char *const n[] = {"NORTH", "SOUTH", "EAST", "WEST", "RAMP"};
    return port >= 0 && port < WF_PORT_COUNT ? n[port] : "?";
}
