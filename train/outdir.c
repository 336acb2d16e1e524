/* outdir.c — what `wafer train` may do to its --out folder, and nothing more.
**
** A run's checkpoints are listed in OUT/checkpoints.txt (one folder name a line,
** rewritten atomically), appended to by every save of this run and of the runs
** it resumes. Only folders listed there are ever removed (retention, a stale
** copy of a step being saved again, --overwrite), never through a symlink, and
** only when every entry inside is a file wafer writes; a folder holding anything
** else is left whole with a warning. Saves go to OUT/ckpt-N.tmp-PID and are
** renamed to OUT/ckpt-N when complete, so a folder named ckpt-N is always whole;
** the temp folder of a failed save is removed at once, and one left by a killed
** process is removed by the next run in OUT. */
#include "train/train_int.h"
#include "sparse/sparse.h"

#include <ctype.h>
#include <limits.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

/* Files wafer writes into a checkpoint folder (model/checkpoint.c,
** model/tok_save.c, train/optstate.c, a sparse run's mask from train/loop.c),
** and their atomic-write temp names. */
static int is_wafer_file(const char *n) {
    static const char *const names[] = {"config.json", "model.safetensors", "model.safetensors.index.json",
                                        "optimizer.bin", "vocab.json", "merges.txt", "tokenizer.json",
                                        "tokenizer_config.json", "special_tokens_map.json", WF_SPARSE_MASK_FILE};
    size_t len = strlen(n);
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        size_t k = strlen(names[i]);
        if (len >= k && strncmp(n, names[i], k) == 0) {
            if (len == k) return 1;
            if (strncmp(n + k, ".tmp", 4) == 0) return 1; /* "<name>.tmp<pid>" of an atomic write */
        }
    }
    /* sharded safetensors: model-00001-of-00004.safetensors */
    unsigned a, b;
    char tail[32];
    return sscanf(n, "model-%5u-of-%5u.%31s", &a, &b, tail) == 3 && strncmp(tail, "safetensors", 11) == 0;
}

/* "ckpt-" followed by digits only; *step receives them. */
static int parse_ckpt_name(const char *n, long *step) {
    if (strncmp(n, "ckpt-", 5) != 0 || !n[5]) return 0;
    for (const char *p = n + 5; *p; p++)
        if (!isdigit((unsigned char)*p)) return 0;
    if (strlen(n + 5) > 12) return 0;
    *step = strtol(n + 5, NULL, 10);
    return 1;
}

/* Removes dir when it is a real folder (not a symlink) holding only files wafer
** writes. Returns 1 when removed, 0 when left (with *why set), -1 when absent. */
static int remove_ckpt_dir(const char *dir, const char **why) {
    struct stat sb;
    if (lstat(dir, &sb) != 0) return -1;
    if (S_ISLNK(sb.st_mode)) return *why = "it is a symlink", 0;
    if (!S_ISDIR(sb.st_mode)) return *why = "it is not a folder", 0;
    DIR *d = opendir(dir);
    if (!d) return *why = "it cannot be read", 0;
    struct dirent *de;
    int foreign = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char p[WF_TRAIN_PATH];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (!is_wafer_file(de->d_name) || lstat(p, &sb) != 0 || !S_ISREG(sb.st_mode)) foreign = 1;
    }
    if (foreign) {
        closedir(d);
        return *why = "it holds files wafer did not write", 0;
    }
    rewinddir(d);
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char p[WF_TRAIN_PATH];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        unlink(p);
    }
    closedir(d);
    if (rmdir(dir) != 0) return *why = "it could not be removed", 0;
    return 1;
}

wf_status wf_outdir_open(wf_outdir *od, const char *out, int keep, wf_err *err) {
    memset(od, 0, sizeof *od);
    od->out = out, od->keep = keep;
    char path[WF_TRAIN_PATH], *txt;
    size_t n;
    snprintf(path, sizeof path, "%s/checkpoints.txt", out);
    if (!wf_path_exists(path)) return WF_OK;
    wf_status rc = wf_file_read(NULL, path, &txt, &n, err);
    if (rc) return rc;
    for (char *line = txt, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl) *nl = 0;
        long step;
        if (!*line) continue;
        if (!parse_ckpt_name(line, &step) || od->n == WF_OUTDIR_MAX) {
            rc = WF_FAIL(err, WF_ECORRUPT, "%s: line '%.40s': expected a checkpoint name ckpt-NNNNNNNN", path, line);
            break;
        }
        snprintf(od->names[od->n++], sizeof od->names[0], "%s", line);
    }
    wf_free(NULL, txt);
    return rc;
}

static wf_status outdir_write(const wf_outdir *od, wf_err *err) {
    char buf[WF_OUTDIR_MAX * 34], path[WF_TRAIN_PATH];
    size_t k = 0;
    for (int i = 0; i < od->n; i++) k += (size_t)snprintf(buf + k, sizeof buf - k, "%s\n", od->names[i]);
    snprintf(path, sizeof path, "%s/checkpoints.txt", od->out);
    return wf_file_write_atomic(path, buf, k, err);
}

static int outdir_find(const wf_outdir *od, const char *name) {
    for (int i = 0; i < od->n; i++)
        if (!strcmp(od->names[i], name)) return i;
    return -1;
}

static void outdir_drop(wf_outdir *od, int i) {
    memmove(od->names[i], od->names[i + 1], (size_t)(od->n - i - 1) * sizeof od->names[0]);
    od->n--;
}

/* Removes listed checkpoint i (safely) and drops it from the list; logs a folder left in place. */
static void outdir_remove(wf_outdir *od, int i) {
    char dir[WF_TRAIN_PATH];
    const char *why = "";
    snprintf(dir, sizeof dir, "%s/%s", od->out, od->names[i]);
    int r = remove_ckpt_dir(dir, &why);
    if (r == 0) wf_log(WF_LOG_WARN, "left %s in place: %s", dir, why);
    else if (r == 1) wf_log(WF_LOG_INFO, "removed %s", dir);
    outdir_drop(od, i);
}

int wf_outdir_is_fresh(const char *out, char *what, size_t cap) {
    DIR *d = opendir(out);
    if (!d) return 1;
    struct dirent *de;
    size_t k = 0;
    int n = 0;
    what[0] = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (n < 4 && k < cap) k += (size_t)snprintf(what + k, cap - k, "%s%s", n ? ", " : "", de->d_name);
        n++;
    }
    closedir(d);
    if (n > 4 && k < cap) snprintf(what + k, cap - k, " and %d more", n - 4);
    return n == 0;
}

const char *wf_outdir_holds(const wf_outdir *od, const char *path) {
    char rp[PATH_MAX], rd[PATH_MAX], dir[WF_TRAIN_PATH];
    if (!path || !realpath(path, rp)) return NULL;
    for (int i = 0; i < od->n; i++) {
        snprintf(dir, sizeof dir, "%s/%s", od->out, od->names[i]);
        if (!realpath(dir, rd)) continue;
        size_t k = strlen(rd);
        if (!strncmp(rp, rd, k) && (rp[k] == 0 || rp[k] == '/')) return od->names[i];
    }
    return NULL;
}

void wf_outdir_clear(wf_outdir *od) {
    static const char *const files[] = {"latest", "log.csv", "loss.png", "checkpoints.txt"};
    while (od->n) outdir_remove(od, od->n - 1);
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char p[WF_TRAIN_PATH];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", od->out, files[i]);
        if (lstat(p, &sb) == 0 && S_ISREG(sb.st_mode) && unlink(p) == 0) wf_log(WF_LOG_INFO, "removed %s", p);
    }
}

void wf_outdir_sweep_temps(const wf_outdir *od) {
    DIR *d = opendir(od->out);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *t = strstr(de->d_name, ".tmp-");
        long step, pid;
        char base[64], *end;
        if (!t || (size_t)(t - de->d_name) >= sizeof base) continue;
        snprintf(base, sizeof base, "%.*s", (int)(t - de->d_name), de->d_name);
        pid = strtol(t + 5, &end, 10);
        if (!parse_ckpt_name(base, &step) || *end || pid <= 0) continue;
        if (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive */
        char dir[WF_TRAIN_PATH];
        const char *why = "";
        snprintf(dir, sizeof dir, "%s/%s", od->out, de->d_name);
        if (remove_ckpt_dir(dir, &why) == 1) wf_log(WF_LOG_INFO, "removed %s, left by a save that did not finish", dir);
    }
    closedir(d);
}

wf_status wf_outdir_begin(const wf_outdir *od, long step, char *tmp, size_t cap, wf_err *err) {
    snprintf(tmp, cap, "%s/ckpt-%08ld.tmp-%ld", od->out, step, (long)getpid());
    const char *why = "";
    remove_ckpt_dir(tmp, &why); /* our own leftover of an earlier failed save of this step */
    if (mkdir(tmp, 0777) != 0)
        return WF_FAIL(err, WF_EIO, "%s: cannot create checkpoint folder: %s", tmp, strerror(errno));
    return WF_OK;
}

void wf_outdir_abort(const char *tmp) {
    const char *why = "";
    remove_ckpt_dir(tmp, &why);
}

wf_status wf_outdir_commit(wf_outdir *od, long step, const char *tmp, char *dir, size_t cap, wf_err *err) {
    char name[32];
    snprintf(name, sizeof name, "ckpt-%08ld", step);
    snprintf(dir, cap, "%s/%s", od->out, name);
    struct stat sb;
    if (lstat(dir, &sb) == 0) {
        int i = outdir_find(od, name);
        if (i < 0) {
            /* not on our list: a save killed between its rename and the list's
            ** update (a resumed run then saves this step again), or someone
            ** else's folder. Neither is ours to delete: it is kept under
            ** another name and the save goes on */
            char aside[WF_TRAIN_PATH + 48];
            snprintf(aside, sizeof aside, "%s.unlisted-%ld", dir, (long)time(NULL));
            if (rename(dir, aside) != 0) {
                wf_status rc = WF_FAIL(err, WF_EIO, "%s: already exists, is not in checkpoints.txt, and cannot be "
                                       "moved aside to %s: %s; move it away to save step %ld", dir, aside,
                                       strerror(errno), step);
                wf_outdir_abort(tmp);
                return rc;
            }
            wf_log(WF_LOG_WARN, "%s was not in checkpoints.txt (a save interrupted before it was listed?): kept as %s",
                   dir, aside);
        } else {
            const char *why = "";
            if (remove_ckpt_dir(dir, &why) != 1) {
                wf_outdir_abort(tmp);
                return WF_FAIL(err, WF_EIO, "%s: already exists and %s; move it away to save step %ld", dir, why, step);
            }
            outdir_drop(od, i);
        }
    }
    if (rename(tmp, dir) != 0) {
        wf_status rc = WF_FAIL(err, WF_EIO, "%s: cannot rename to %s: %s", tmp, dir, strerror(errno));
        wf_outdir_abort(tmp);
        return rc;
    }
    if (od->n == WF_OUTDIR_MAX) outdir_remove(od, 0); /* the list is bounded: oldest first */
    snprintf(od->names[od->n++], sizeof od->names[0], "%s", name);
    return outdir_write(od, err);
}

void wf_outdir_retain(wf_outdir *od, const char *latest) {
    if (od->keep <= 0) return;
    for (;;) {
        int oldest = -1, kept = 0;
        long best = 0, s;
        for (int i = 0; i < od->n; i++) {
            if (!strcmp(od->names[i], latest)) continue; /* the one `latest` names always stays */
            kept++;
            parse_ckpt_name(od->names[i], &s);
            if (oldest < 0 || s < best) oldest = i, best = s;
        }
        if (kept + 1 <= od->keep || oldest < 0) break;
        outdir_remove(od, oldest);
    }
    wf_err e;
    if (outdir_write(od, &e)) wf_log(WF_LOG_WARN, "%s", e.msg);
}

wf_status wf_outdir_latest(const char *out, char *dir, size_t cap, wf_err *err) {
    char path[WF_TRAIN_PATH], *txt;
    size_t n;
    long step;
    snprintf(path, sizeof path, "%s/latest", out);
    if (!wf_path_exists(path))
        return WF_FAIL(err, WF_EUSAGE, "--resume: %s: no checkpoint to resume from", path);
    wf_status rc = wf_file_read(NULL, path, &txt, &n, err);
    if (rc) return rc;
    while (n && (txt[n - 1] == '\n' || txt[n - 1] == '\r' || txt[n - 1] == ' ')) txt[--n] = 0;
    if (n == 0) rc = WF_FAIL(err, WF_ECORRUPT, "%s: the file is empty, expected a checkpoint name such as ckpt-00000100", path);
    else if (!parse_ckpt_name(txt, &step))
        rc = WF_FAIL(err, WF_ECORRUPT, "%s: '%.40s' is not a checkpoint name, expected ckpt-NNNNNNNN", path, txt);
    else {
        snprintf(dir, cap, "%s/%s", out, txt);
        if (!wf_path_is_dir(dir))
            rc = WF_FAIL(err, WF_EIO, "%s: names %s, which is not a folder (removed by hand?)", path, dir);
    }
    wf_free(NULL, txt);
    return rc;
}
