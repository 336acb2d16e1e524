/* spdf_plot.c — the SPDF quality chart (bench/sparse/spdf.sh): validation
** loss against training FLOPs for several runs, from their log.csv files.
**   spdf_plot OUT.png OUT.md  LABEL GFLOP_PER_STEP GFLOP_OFFSET LOG.csv  [...]
** Each run's validation points (rows of log.csv with a val_loss) are placed at
** x = offset + step * per_step; OUT.md gets a table of the last point of each. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/train.h"

enum { MAX_RUNS = 6, MAX_ROWS = 4096 };

int main(int argc, char **argv) {
    if (argc < 7 || (argc - 3) % 4) {
        fprintf(stderr, "usage: spdf_plot OUT.png OUT.md LABEL GFLOP_PER_STEP GFLOP_OFFSET LOG.csv [...]\n");
        return 2;
    }
    int ns = (argc - 3) / 4;
    if (ns > MAX_RUNS) ns = MAX_RUNS;
    static double xs[MAX_RUNS][MAX_ROWS], ys[MAX_RUNS][MAX_ROWS];
    wf_plot_series s[MAX_RUNS];
    FILE *md = fopen(argv[2], "w");
    if (!md) return fprintf(stderr, "spdf_plot: %s: cannot write\n", argv[2]), 1;
    fprintf(md, "| run | steps | training GFLOP | final validation loss |\n|---|---|---|---|\n");
    for (int k = 0; k < ns; k++) {
        const char *label = argv[3 + 4 * k], *path = argv[6 + 4 * k];
        double per = atof(argv[4 + 4 * k]), off = atof(argv[5 + 4 * k]);
        FILE *f = fopen(path, "r");
        if (!f) return fprintf(stderr, "spdf_plot: %s: cannot open\n", path), 1;
        char line[512];
        int n = 0;
        long last_step = 0;
        while (fgets(line, sizeof line, f) && n < MAX_ROWS) {
            char *p = line, *end;
            long step = strtol(p, &end, 10);
            if (end == p || *end != ',') continue; /* header */
            p = strchr(end + 1, ',');              /* after loss */
            if (!p || p[1] == ',') continue;       /* no validation loss on this row */
            double v = strtod(p + 1, &end);
            if (end == p + 1) continue;
            xs[k][n] = off + per * (double)step, ys[k][n] = v, n++;
            last_step = step;
        }
        fclose(f);
        s[k] = (wf_plot_series){xs[k], ys[k], n, label};
        if (n)
            fprintf(md, "| %s | %ld | %.1f | %.4f |\n", label, last_step, xs[k][n - 1], ys[k][n - 1]);
        else
            fprintf(md, "| %s | - | - | (no validation points) |\n", label);
    }
    fclose(md);
    wf_err e = {0};
    if (wf_plot_series_png(argv[1], s, ns, "training gflop", "val loss", &e)) return fprintf(stderr, "%s\n", e.msg), 1;
    return 0;
}
