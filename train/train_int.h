/* train_int.h — shared inside train/ only: the --out folder rules (outdir.c)
** and the finiteness guard that keeps a diverged run from being saved. */
#ifndef WF_TRAIN_INT_H
#define WF_TRAIN_INT_H

#include "train/train.h"

enum { WF_TRAIN_PATH = 1400, WF_OUTDIR_MAX = 1024 };

/* The checkpoints of a run (OUT/checkpoints.txt), oldest first. */
typedef struct {
    const char *out; /* borrowed */
    int keep;        /* newest checkpoints kept; <= 0 keeps all */
    int n;
    char names[WF_OUTDIR_MAX][32];
} wf_outdir;

/* Reads OUT/checkpoints.txt when present. */
wf_status wf_outdir_open(wf_outdir *od, const char *out, int keep, wf_err *err);
/* 1 when OUT is absent or empty; else 0, with up to four entry names in what. */
int wf_outdir_is_fresh(const char *out, char *what, size_t cap);
/* The listed checkpoint that path is or lies inside (links resolved), or NULL:
** --overwrite must not remove what the run reads. */
const char *wf_outdir_holds(const wf_outdir *od, const char *path);
/* --overwrite: removes the listed checkpoints (safely), latest, log.csv, loss.png. */
void wf_outdir_clear(wf_outdir *od);
/* Removes OUT/ckpt-N.tmp-PID folders of processes that are gone. */
void wf_outdir_sweep_temps(const wf_outdir *od);
/* A save: begin makes the temp folder, commit renames it to OUT/ckpt-N (dir)
** and lists it, abort removes it. Commit aborts on failure. */
wf_status wf_outdir_begin(const wf_outdir *od, long step, char *tmp, size_t cap, wf_err *err);
wf_status wf_outdir_commit(wf_outdir *od, long step, const char *tmp, char *dir, size_t cap, wf_err *err);
void wf_outdir_abort(const char *tmp);
/* Retention after a save: keeps the newest od->keep listed checkpoints and the one latest names. */
void wf_outdir_retain(wf_outdir *od, const char *latest);
/* The folder OUT/latest names, checked: dir receives OUT/ckpt-N. */
wf_status wf_outdir_latest(const char *out, char *dir, size_t cap, wf_err *err);

/* Index of the first tensor of a layer-major buffer holding a NaN or Inf, or -1 (optim.c). */
int wf_nonfinite_tensor(const wf_gpt_config *c, const float *p);

#endif
