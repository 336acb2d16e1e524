/* test_isa.c — the ISA choice (isa.c): names parse both ways; WAFER_ISA
** lowers the path every dispatcher reports; an unknown name, or one above
** this CPU, is a WF_EUSAGE error from wf_isa_init naming WAFER_ISA;
** wf_isa_force never goes above the CPU. */
#include "kernels/kernels.h"
#include "base/base.h"
#include "tests/check.h"

#include <stdlib.h>
#include <string.h>

int main(void) {
    char cpu[64];
    wf_isa top = wf_isa_cpu();
    printf("cpu: %s; best path %s\n", wf_cpu_model(cpu, sizeof cpu), wf_isa_name(top));
    for (int i = 0; i < WF_ISA_COUNT; i++) {
        wf_isa got = WF_ISA_COUNT;
        WF_CHECK(wf_isa_parse(wf_isa_name((wf_isa)i), &got));
        WF_CHECK_EQ(got, i);
    }
    wf_isa dummy;
    WF_CHECK(!wf_isa_parse("avx513", &dummy));
    WF_CHECK(!wf_isa_parse("", &dummy));

    wf_err err = {0};
    setenv("WAFER_ISA", "avx513", 1);
    WF_CHECK_EQ(wf_isa_init(&err), WF_EUSAGE);
    WF_CHECK(strstr(err.msg, "WAFER_ISA") && strstr(err.msg, "avx513"));

    /* every path at or below the CPU is accepted and becomes active */
    for (int i = 0; i <= (int)top; i++) {
        setenv("WAFER_ISA", wf_isa_name((wf_isa)i), 1);
        WF_CHECK_EQ(wf_isa_init(&err), WF_OK);
        WF_CHECK_EQ(wf_isa_force((wf_isa)-1), i);
        WF_CHECK_EQ(wf_isa_active(), i);
    }
    if (top < WF_ISA_AMX) {
        setenv("WAFER_ISA", wf_isa_name((wf_isa)(top + 1)), 1);
        WF_CHECK_EQ(wf_isa_init(&err), WF_EUSAGE);
        WF_CHECK(strstr(err.msg, "above") != NULL);
        WF_CHECK_EQ(wf_isa_force((wf_isa)-1), top); /* the kernels clamp */
    } else {
        printf("SKIP WAFER_ISA above the CPU: this CPU has the top path (amx)\n");
    }
    WF_CHECK(wf_isa_force(WF_ISA_AMX) <= top);

    /* the dispatchers follow the active path */
    setenv("WAFER_ISA", "portable", 1);
    wf_isa_force((wf_isa)-1);
    WF_CHECK(strstr(wf_gemm_kernel_name(), "portable") != NULL);
    WF_CHECK(strstr(wf_gemm_bf16x_kernel_name(), "portable") != NULL);
    unsetenv("WAFER_ISA");
    WF_CHECK_EQ(wf_isa_force((wf_isa)-1), top);
    if (top >= WF_ISA_AVX512) WF_CHECK(strstr(wf_gemm_kernel_name(), "avx512") != NULL);
    if (top == WF_ISA_AMX) WF_CHECK(strstr(wf_gemm_bf16x_kernel_name(), "amx") != NULL);
    printf("fp32 gemm: %s; bf16 gemm: %s\n", wf_gemm_kernel_name(), wf_gemm_bf16x_kernel_name());
    return wf_check_report();
}
