/* kernel.c — a kernel program built OUTSIDE the repository's CMake, against
** an installed SDK: cc kernel.c $(pkg-config --cflags --libs wafer-sdk).
** test_install.sh builds and runs it; it prints "outside: ok <cycles>" when
** every PE wrote x + 10*y + 0.5 into its symbol, and an overrun's error
** carries this file's own file:line. */
#include <wafer/sdk/sdk.h>

#include <stdio.h>
#include <string.h>

enum { S_V };
static const wf_symbol_decl syms[] = {{"v", 4 * 4}};
static void fill(wf_pe *pe, uint32_t d) {
    (void)d;
    float *v = wf_sym(pe, S_V);
    wf_dsd dv = wf_dsd_mem1d(pe, v, 4, 1, 4);
    wf_fmovs(pe, dv, wf_dsd_scalar_f32((float)(wf_pe_x(pe) + 10 * wf_pe_y(pe)) + 0.5f), WF_SYNC);
}
static void overrun(wf_pe *pe, uint32_t d) {
    (void)d;
    wf_fmovs(pe, wf_dsd_mem1d(pe, wf_sym(pe, S_V), 5, 1, 4), wf_dsd_scalar_f32(1), WF_SYNC);
}
static const wf_export_decl ex[] = {{"fill", fill}, {"overrun", overrun}};
static const wf_kernel k = {"outside", syms, 1, NULL, 0, ex, 2, NULL};

int main(void) {
    wf_layout *l = NULL;
    wf_host *h = NULL;
    wf_err e = {0};
    float out[2 * 2 * 4];
    if (wf_layout_new(2, 2, &l, &e) || wf_layout_code(l, 0, 0, 2, 2, &k, NULL, &e) ||
        wf_host_new(l, NULL, &h, &e) || wf_host_launch(h, "fill", &e))
        goto fail;
    wf_memcpy m = {"v", 0, 0, 0, 2, 2, 4, 0, 4, WF_ROW_MAJOR};
    if (wf_host_d2h(h, &m, out, &e)) goto fail;
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 2; x++)
            for (int i = 0; i < 4; i++)
                if (out[(y * 2 + x) * 4 + i] != (float)(x + 10 * y) + 0.5f) {
                    fprintf(stderr, "outside: PE(%d,%d) element %d is %g\n", x, y, i, out[(y * 2 + x) * 4 + i]);
                    return 1;
                }
    if (wf_host_launch(h, "overrun", &e) != WF_ESRAM || !strstr(e.msg, "kernel.c:21: PE(0,0)")) {
        fprintf(stderr, "outside: overrun not reported with kernel.c:21: %s\n", e.msg);
        return 1;
    }
    printf("outside: ok %llu\n", (unsigned long long)wf_host_cycles(h));
    wf_host_free(h);
    wf_layout_free(l);
    return 0;
fail:
    fprintf(stderr, "outside: %s\n", e.msg);
    wf_host_free(h);
    wf_layout_free(l);
    return 1;
}
