/* plot.c — a tiny loss-curve plotter: 800x480 RGB PNG through libpng, axes
** with a light grid and numbered ticks, the training loss as a blue polyline
** and validation losses as red squares, with a legend. Text uses a built-in
** 3x5 pixel font (drawn at 2x), so no font library is needed; the CSV beside
** the PNG carries the exact numbers. */
#include "train/train.h"

#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

enum { W = 800, H = 480, ML = 70, MR = 20, MT = 30, MB = 40, SCALE = 2 };

/* 3x5 glyphs, one row per 3-bit number (bit 2 = left column). */
static const struct { char c; unsigned char rows[5]; } font[] = {
    {'0', {7, 5, 5, 5, 7}}, {'1', {2, 6, 2, 2, 7}}, {'2', {7, 1, 7, 4, 7}}, {'3', {7, 1, 7, 1, 7}},
    {'4', {5, 5, 7, 1, 1}}, {'5', {7, 4, 7, 1, 7}}, {'6', {7, 4, 7, 5, 7}}, {'7', {7, 1, 1, 1, 1}},
    {'8', {7, 5, 7, 5, 7}}, {'9', {7, 5, 7, 1, 7}}, {'.', {0, 0, 0, 0, 2}}, {'-', {0, 0, 7, 0, 0}},
    {'+', {0, 2, 7, 2, 0}}, {'e', {7, 5, 7, 4, 7}}, {'a', {7, 1, 7, 5, 7}}, {'i', {2, 0, 2, 2, 2}},
    {'l', {6, 2, 2, 2, 7}}, {'n', {0, 6, 5, 5, 5}}, {'o', {0, 7, 5, 5, 7}}, {'p', {7, 5, 7, 4, 4}},
    {'r', {0, 7, 4, 4, 4}}, {'s', {7, 4, 7, 1, 7}}, {'t', {4, 7, 4, 4, 7}}, {'v', {0, 5, 5, 5, 2}},
    {'(', {1, 2, 2, 2, 1}}, {')', {4, 2, 2, 2, 4}}, {'/', {1, 1, 2, 4, 4}}, {'k', {4, 5, 6, 5, 5}},
    {'d', {1, 1, 7, 5, 7}}, {'f', {3, 4, 7, 4, 4}}, {'u', {0, 5, 5, 5, 7}}, {'g', {7, 5, 7, 1, 6}},
    {'c', {0, 7, 4, 4, 7}}, {'h', {4, 4, 7, 5, 5}}, {'m', {0, 7, 7, 5, 5}}, {'x', {0, 5, 2, 2, 5}},
    {'w', {0, 5, 5, 7, 7}}, {'b', {4, 4, 7, 5, 7}}, {'%', {5, 1, 2, 4, 5}}, {'=', {0, 7, 0, 7, 0}},
    {'y', {5, 5, 7, 1, 7}},
};

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

/* Draws text with its top-left corner at (x, y); unknown characters are blanks. */
static void text(unsigned char *img, int x, int y, const char *str, const unsigned char *rgb) {
    for (; *str; str++, x += 4 * SCALE) {
        for (size_t g = 0; g < sizeof font / sizeof font[0]; g++) {
            if (font[g].c != *str) continue;
            for (int r = 0; r < 5; r++)
                for (int c = 0; c < 3; c++)
                    if (font[g].rows[r] & (4 >> c))
                        for (int d = 0; d < SCALE * SCALE; d++)
                            put(img, x + c * SCALE + d % SCALE, y + r * SCALE + d / SCALE, rgb);
        }
    }
}

static int text_width(const char *str) { return (int)strlen(str) * 4 * SCALE; }

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
        int y = MT + (H - MT - MB) * g / 10, x = ML + (W - ML - MR) * g / 10;
        line(img, ML, y, W - MR, y, grid);
        line(img, x, MT, x, H - MB, grid);
    }
    line(img, ML, H - MB, W - MR, H - MB, axis);
    line(img, ML, MT, ML, H - MB, axis);
    char lab[32];
    for (int g = 0; g <= 5; g++) { /* tick labels: loss on the left, steps below */
        double v = lo + (hi - lo) * g / 5;
        snprintf(lab, sizeof lab, "%.3g", v);
        text(img, ML - 6 - text_width(lab), H - MB - (H - MT - MB) * g / 5 - 5, lab, axis);
        snprintf(lab, sizeof lab, "%ld", s0 + (long)((double)(s1 - s0) * g / 5));
        int x = ML + (W - ML - MR) * g / 5 - text_width(lab) / 2;
        if (x + text_width(lab) > W) x = W - text_width(lab);
        text(img, x, H - MB + 8, lab, axis);
    }
    text(img, 6, 8, "loss", axis);
    text(img, W - MR - text_width("step"), H - 14, "step", axis);
    line(img, W - MR - 150, 14, W - MR - 130, 14, blue);
    text(img, W - MR - 124, 9, "train", axis);
    for (int d = 0; d < 25; d++) put(img, W - MR - 62 + d % 5, 12 + d / 5, red);
    text(img, W - MR - 52, 9, "val", axis);
#define PX(s) (ML + (int)((double)((s) - s0) / (double)(s1 - s0) * (W - ML - MR)))
#define PY(v) (H - MB - (int)(((v) - lo) / (hi - lo) * (H - MT - MB)))
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

/* Several series on one chart (wf_plot_series_png): lines through the points
** with a square at each, one colour per series, legend in the top right. */
wf_status wf_plot_series_png(const char *path, const wf_plot_series *sr, int ns, const char *xlabel,
                             const char *ylabel, wf_err *err) {
    static const unsigned char white[3] = {255, 255, 255}, grid[3] = {225, 225, 225}, axis[3] = {0, 0, 0};
    static const unsigned char col[6][3] = {{31, 119, 180}, {214, 39, 40}, {44, 160, 44}, {148, 103, 189},
                                            {255, 127, 14}, {127, 127, 127}};
    unsigned char *img = wf_alloc(NULL, (size_t)W * H * 3, "plot", err);
    if (!img) return WF_ENOMEM;
    for (size_t i = 0; i < (size_t)W * H; i++) memcpy(img + 3 * i, white, 3);
    double x0 = INFINITY, x1 = -INFINITY, lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < sr[k].n; i++)
            if (isfinite(sr[k].x[i]) && isfinite(sr[k].y[i]))
                x0 = fmin(x0, sr[k].x[i]), x1 = fmax(x1, sr[k].x[i]), lo = fmin(lo, sr[k].y[i]), hi = fmax(hi, sr[k].y[i]);
    if (!(x1 > x0)) x0 = isfinite(x0) ? x0 : 0, x1 = x0 + 1;
    if (!(hi > lo)) lo = isfinite(lo) ? lo - 1 : 0, hi = lo + 2;
    double pad = (hi - lo) * 0.05;
    lo -= pad, hi += pad;
    for (int g = 0; g <= 10; g++) {
        int y = MT + (H - MT - MB) * g / 10, x = ML + (W - ML - MR) * g / 10;
        line(img, ML, y, W - MR, y, grid);
        line(img, x, MT, x, H - MB, grid);
    }
    line(img, ML, H - MB, W - MR, H - MB, axis);
    line(img, ML, MT, ML, H - MB, axis);
    char lab[48];
    for (int g = 0; g <= 5; g++) {
        snprintf(lab, sizeof lab, "%.3g", lo + (hi - lo) * g / 5);
        text(img, ML - 6 - text_width(lab), H - MB - (H - MT - MB) * g / 5 - 5, lab, axis);
        snprintf(lab, sizeof lab, "%.3g", x0 + (x1 - x0) * g / 5);
        int x = ML + (W - ML - MR) * g / 5 - text_width(lab) / 2;
        if (x + text_width(lab) > W) x = W - text_width(lab);
        text(img, x, H - MB + 8, lab, axis);
    }
    text(img, 6, 8, ylabel, axis);
    text(img, W - MR - text_width(xlabel), H - 14, xlabel, axis);
#define PX(v) (ML + (int)(((v) - x0) / (x1 - x0) * (W - ML - MR)))
#define PY(v) (H - MB - (int)(((v) - lo) / (hi - lo) * (H - MT - MB)))
    for (int k = 0; k < ns; k++) {
        const unsigned char *c = col[k % 6];
        int ly = MT + 10 + 14 * k, lx = W - MR - 20 - text_width(sr[k].label);
        line(img, lx - 26, ly + 4, lx - 6, ly + 4, c);
        text(img, lx, ly, sr[k].label, axis);
        for (int i = 0; i < sr[k].n; i++) {
            if (!isfinite(sr[k].x[i]) || !isfinite(sr[k].y[i])) continue;
            if (i && isfinite(sr[k].x[i - 1]) && isfinite(sr[k].y[i - 1]))
                line(img, PX(sr[k].x[i - 1]), PY(sr[k].y[i - 1]), PX(sr[k].x[i]), PY(sr[k].y[i]), c);
            for (int d = 0; d < 25; d++) put(img, PX(sr[k].x[i]) - 2 + d % 5, PY(sr[k].y[i]) - 2 + d / 5, c);
        }
    }
#undef PX
#undef PY
    wf_status rc = WF_OK;
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = W;
    pi.height = H;
    pi.format = PNG_FORMAT_RGB;
    png_alloc_size_t sz = 0;
    void *mem = NULL;
    if (!png_image_write_to_memory(&pi, NULL, &sz, 0, img, 0, NULL)) {
        rc = WF_FAIL(err, WF_EIO, "%s: png encode failed: %s", path, pi.message);
    } else if (!(mem = wf_alloc(NULL, sz, "png", err))) {
        rc = WF_ENOMEM;
    } else if (!png_image_write_to_memory(&pi, mem, &sz, 0, img, 0, NULL)) {
        rc = WF_FAIL(err, WF_EIO, "%s: png encode failed: %s", path, pi.message);
    } else {
        rc = wf_file_write_atomic(path, mem, sz, err);
    }
    wf_free(NULL, mem);
    wf_free(NULL, img);
    return rc;
}
