/* kernel_cxx.cpp — the installed SDK from C++: the headers declare the C
** libraries extern "C" and compile as C++17 (test_install.sh builds this
** with $CXX when there is one). Each PE writes x + 10*y + 0.25 into its
** symbol; prints "outside c++: ok <cycles>". */
#include <wafer/sdk/sdk.h>

#include <cstdio>

enum { S_V };
static const wf_symbol_decl syms[] = {{"v", 4 * 4}};
static void fill(wf_pe *pe, uint32_t d) {
    (void)d;
    float *v = static_cast<float *>(wf_sym(pe, S_V));
    wf_fmovs(pe, wf_dsd_mem1d(pe, v, 4, 1, 4), wf_dsd_scalar_f32(float(wf_pe_x(pe) + 10 * wf_pe_y(pe)) + 0.25f),
             WF_SYNC);
}
static const wf_export_decl ex[] = {{"fill", fill}};
static const wf_kernel k = {"outside_cxx", syms, 1, nullptr, 0, ex, 1, nullptr};

int main() {
    wf_layout *l = nullptr;
    wf_host *h = nullptr;
    wf_err e = {};
    float out[3 * 2 * 4];
    wf_memcpy m = {"v", 0, 0, 0, 3, 2, 4, 0, 4, WF_ROW_MAJOR};
    int bad = 0;
    if (wf_layout_new(3, 2, &l, &e) || wf_layout_code(l, 0, 0, 3, 2, &k, nullptr, &e) ||
        wf_host_new(l, nullptr, &h, &e) || wf_host_launch(h, "fill", &e) || wf_host_d2h(h, &m, out, &e)) {
        std::fprintf(stderr, "outside c++: %s\n", e.msg);
        bad = 1;
    }
    for (int y = 0; y < 2 && !bad; y++)
        for (int x = 0; x < 3; x++)
            for (int i = 0; i < 4; i++)
                if (out[(y * 3 + x) * 4 + i] != float(x + 10 * y) + 0.25f) {
                    std::fprintf(stderr, "outside c++: PE(%d,%d) element %d is %g\n", x, y, i, out[(y * 3 + x) * 4 + i]);
                    bad = 1;
                }
    if (!bad) std::printf("outside c++: ok %llu\n", (unsigned long long)wf_host_cycles(h));
    wf_host_free(h);
    wf_layout_free(l);
    return bad;
}
