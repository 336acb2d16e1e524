/* plot.c — a tiny loss-curve plotter: 800x480 RGB PNG through libpng, axes
** with a light grid, the training loss as a blue polyline and validation
** losses as red squares. No text: the CSV beside it carries the numbers. */
#include "train/train.h"

#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

enum { W = 800, H = 480, M = 40 };

static void put(unsigned char *img, int x, int y, const unsigned char *rgb) {
    if (x < 0 || y < 0 || x >= W || y >= H) return;
    memcpy(img + ((size_t)y * W + x) * 3, rgb, 3);
}

static void line(unsigned char *img, int x0, int y0, int x1, int y1, const unsigned char *rgb) {
    int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, e = dx + dy;
    for (;;) { /* Bresenham */
        put(img, x0, y0, rgb);
        put(img, x0, y0 + 1, rgb);
        if (x0 == x1 && y0 == y1) break;
        int e2 = 2 * e;
        if (e2 >= dy) e += dy, x0 += sx;
        if (e2 <= dx) e += dx, y0 += sy;
    }
}

wf_status wf_plot_loss_png(const char *path, const long *step, const double *loss,
                           const double *val, int n, wf_err *err) {
    static const unsigned char white[3] = {255, 255, 255}, grid[3] = {225, 225, 225},
                               axis[3] = {0, 0, 0}, blue[3] = {31, 119, 180}, red[3] = {214, 39, 40};
    unsigned char *img = wf_alloc(NULL, (size_t)W * H * 3, "plot", err);
    if (!img) return WF_ENOMEM;
    for (size_t i = 0; i < (size_t)W * H; i++) memcpy(img + 3 * i, white, 3);
    double lo = INFINITY, hi = -INFINITY;
    long s0 = n ? step[0] : 0, s1 = n ? step[n - 1] : 1;
    for (int i = 0; i < n; i++) {
        if (isfinite(loss[i])) lo = fmin(lo, loss[i]), hi = fmax(hi, loss[i]);
        if (val && val[i] >= 0) lo = fmin(lo, val[i]), hi = fmax(hi, val[i]);
    }
    if (!(hi > lo)) lo = isfinite(lo) ? lo - 1 : 0, hi = lo + 2;
    if (s1 <= s0) s1 = s0 + 1;
    for (int g = 0; g <= 10; g++) {
        int y = M + (H - 2 * M) * g / 10, x = M + (W - 2 * M) * g / 10;
        line(img, M, y, W - M, y, grid);
        line(img, x, M, x, H - M, grid);
    }
    line(img, M, H - M, W - M, H - M, axis);
    line(img, M, M, M, H - M, axis);
#define PX(s) (M + (int)((double)((s) - s0) / (double)(s1 - s0) * (W - 2 * M)))
#define PY(v) (H - M - (int)(((v) - lo) / (hi - lo) * (H - 2 * M)))
    for (int i = 1; i < n; i++)
        if (isfinite(loss[i - 1]) && isfinite(loss[i]))
            line(img, PX(step[i - 1]), PY(loss[i - 1]), PX(step[i]), PY(loss[i]), blue);
    for (int i = 0; val && i < n; i++)
        if (val[i] >= 0)
            for (int dy = -3; dy <= 3; dy++)
                for (int dx = -3; dx <= 3; dx++) put(img, PX(step[i]) + dx, PY(val[i]) + dy, red);
#undef PX
#undef PY
    /* encode into memory, then write atomically */
    wf_status rc = WF_OK;
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = W;
    pi.height = H;
    pi.format = PNG_FORMAT_RGB;
    png_alloc_size_t sz = 0;
    if (!png_image_write_to_memory(&pi, NULL, &sz, 0, img, 0, NULL)) {
        rc = WF_FAIL(err, WF_EIO, "%s: png encode failed: %s", path, pi.message);
        goto done;
    }
    void *mem = wf_alloc(NULL, sz, "png", err);
    if (!mem) {
        rc = WF_ENOMEM;
        goto done;
    }
    if (!png_image_write_to_memory(&pi, mem, &sz, 0, img, 0, NULL))
        rc = WF_FAIL(err, WF_EIO, "%s: png encode failed: %s", path, pi.message);
    else
        rc = wf_file_write_atomic(path, mem, sz, err);
    wf_free(NULL, mem);
done:
    wf_free(NULL, img);
    return rc;
}
