/* fuzz_defects.c — libFuzzer target for the defect-map parser
** (sdk/defects.c). The input is the file; when accepted, the map is laid
** around a 9 x 6 program rectangle (coordinates outside the physical array,
** too few spares and cut links are errors) and, when that works too, every
** logical link must be at least one hop and the physical positions must
** stay inside the array, strictly increasing along each row. Errors are
** fine; crashes, leaks, out-of-bounds reads and undefined behaviour are not. */
#include "sdk/defects.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    wf_defects *d = NULL;
    wf_defect_map *m = NULL;
    wf_err e = {0};
    if (wf_defects_parse((const char *)data, size, "fuzz", &d, &e) != WF_OK) return 0;
    wf_defects_set_spares(d, -1, -1);
    if (wf_defects_map(d, 9, 6, &m, &e) == WF_OK) {
        const wf_defect_stats *s = wf_defect_map_stats(m);
        for (int y = 0; y < 6; y++)
            for (int x = 0; x < 9; x++) {
                int px, py, qx, qy;
                wf_defect_map_where(m, x, y, &px, &py);
                if (px < 0 || py < 0 || px >= s->pw || py >= s->ph) abort();
                if (x > 0) {
                    wf_defect_map_where(m, x - 1, y, &qx, &qy);
                    if (qx >= px || qy != py) abort();
                }
                if (x + 1 < 9 && wf_defect_map_hops(m, x, y, WF_PORT_E) < 1) abort();
                if (y + 1 < 6 && wf_defect_map_hops(m, x, y, WF_PORT_S) < 1) abort();
            }
        char pic[256];
        wf_defect_map_draw(m, 12, 12, pic, sizeof pic);
    }
    wf_defect_map_free(m);
    wf_defects_free(d);
    return 0;
}
