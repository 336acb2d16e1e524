/* heatmap.c — a PNG image of per-PE activity over the fabric (format and
** colour scale in sdk/diag.h), written with libpng row by row through the
** user-output writer (wf_ofile_open: atomic for a file, through to a FIFO
** or /dev/stdout). One cell of scale x scale pixels per PE; a legend bar
** along the bottom shows the colour scale. */
#include "diag.h"

#include <png.h>
#include <stdio.h>
#include <string.h>

/* black -> dark blue -> red -> yellow -> white, v in [0,1] */
static void colour(double v, uint8_t rgb[3]) {
    static const double stop[5][3] = {{0, 0, 0}, {20, 30, 140}, {220, 30, 30}, {250, 220, 30}, {255, 255, 255}};
    if (v <= 0) {
        rgb[0] = rgb[1] = rgb[2] = 0;
        return;
    }
    if (v > 1) v = 1;
    double p = v * 4;
    int i = (int)p;
    if (i > 3) i = 3;
    double fr = p - i;
    for (int c = 0; c < 3; c++) rgb[c] = (uint8_t)(stop[i][c] + (stop[i + 1][c] - stop[i][c]) * fr + 0.5);
}

static uint64_t metric(const wf_pe_stats *s, wf_heat_metric m) {
    switch (m) {
    case WF_HEAT_HOPS: return s->hops;
    case WF_HEAT_STALLED: return s->stalled;
    case WF_HEAT_BANK: return s->bank_cycles;
    default: return s->busy;
    }
}

typedef struct {
    wf_afile *af;
    wf_err err;   /* first write error */
} sink;

static void sink_write(png_structp png, png_bytep data, png_size_t n) {
    sink *k = png_get_io_ptr(png);
    if (wf_afile_write(k->af, data, n, &k->err)) png_error(png, "write failed");
}
static void sink_flush(png_structp png) { (void)png; }
/* libpng must not print (STYLE 4): errors jump back to encode(), warnings vanish. */
static void png_fail(png_structp png, png_const_charp msg) {
    (void)msg;
    png_longjmp(png, 1);
}
static void png_warn(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

/* The libpng part, alone so that nothing it touches lives across setjmp. */
static int encode(sink *out, const uint64_t *val, int w, int h, int scale, uint64_t mx, uint8_t *row) {
    size_t iw = (size_t)w * scale, legend = 6;
    size_t ih = (size_t)h * scale + legend;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, png_fail, png_warn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        if (png) png_destroy_write_struct(&png, NULL);
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_set_write_fn(png, out, sink_write, sink_flush);
    png_set_IHDR(png, info, (png_uint_32)iw, (png_uint_32)ih, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            uint8_t rgb[3];
            uint64_t v = val[(size_t)y * w + x];
            colour(mx ? (double)v / (double)mx : 0, rgb);
            if (v && rgb[0] + rgb[1] + rgb[2] == 0) rgb[2] = 60; /* nonzero is never black */
            for (int k = 0; k < scale; k++) memcpy(row + ((size_t)x * scale + k) * 3, rgb, 3);
        }
        for (int k = 0; k < scale; k++) png_write_row(png, row);
    }
    /* legend: 2 px gap, 4 px ramp from 0 (left) to max (right) */
    memset(row, 40, iw * 3);
    png_write_row(png, row);
    png_write_row(png, row);
    for (size_t x = 0; x < iw; x++) colour(iw > 1 ? (double)x / (double)(iw - 1) : 1, row + x * 3);
    for (size_t k = 2; k < legend; k++) png_write_row(png, row);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

wf_status wf_heatmap_write_values(const uint64_t *val, int w, int h, const char *path, int scale, wf_err *err) {
    if (w < 1 || h < 1) return WF_FAIL(err, WF_EUSAGE, "heatmap: %s: grid %d x %d, expected at least 1 x 1", path, w, h);
    if (scale <= 0) {
        int longer = w > h ? w : h;
        scale = (512 + longer - 1) / longer;
        if (scale > 8) scale = 8;
        if (scale < 1) scale = 1;
    }
    if (scale > 64) return WF_FAIL(err, WF_EUSAGE, "heatmap: scale %d, expected 1..64", scale);
    uint64_t mx = 0;
    for (size_t i = 0; i < (size_t)w * h; i++)
        if (val[i] > mx) mx = val[i];
    size_t iw = (size_t)w * scale;
    uint8_t *row = wf_alloc(NULL, iw * 3, "heatmap row", err);
    if (!row) return err ? err->code : WF_ENOMEM;
    sink k;
    memset(&k, 0, sizeof k);
    wf_status st = wf_ofile_open(path, &k.af, err);
    if (st) {
        wf_err_prefix(err, "heatmap");
    } else if (encode(&k, val, w, h, scale, mx, row) != 0) {
        wf_afile_abort(k.af);
        st = k.err.code ? k.err.code : WF_EIO;
        if (k.err.code && err) {
            *err = k.err;
            wf_err_prefix(err, "heatmap");
        } else {
            WF_FAIL(err, WF_EIO, "heatmap: %s: libpng write failed", path);
        }
    } else {
        st = wf_afile_commit(k.af, err);
    }
    wf_free(NULL, row);
    return st;
}

wf_status wf_heatmap_write(const wf_fabric *f, const char *path, wf_heat_metric m, int scale, uint64_t *max_out,
                           wf_err *err) {
    int w = wf_fabric_w(f), h = wf_fabric_h(f);
    if (m < 0 || m >= WF_HEAT_COUNT) return WF_FAIL(err, WF_EUSAGE, "heatmap: metric %d, expected 0..%d", m,
                                                    WF_HEAT_COUNT - 1);
    uint64_t *val = wf_alloc(NULL, (size_t)w * h * sizeof *val, "heatmap values", err);
    if (!val) return err ? err->code : WF_ENOMEM;
    uint64_t mx = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            wf_pe_stats s;
            wf_fabric_pe_stats(f, x, y, &s);
            uint64_t v = metric(&s, m);
            val[(size_t)y * w + x] = v;
            if (v > mx) mx = v;
        }
    if (max_out) *max_out = mx;
    wf_status st = wf_heatmap_write_values(val, w, h, path, scale, err);
    wf_free(NULL, val);
    return st;
}
