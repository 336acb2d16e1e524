/* tokenize.c — the tokenize pipeline of tokenize.h. The calling thread reads
** files and writes shards; worker threads encode. Work items sit in a ring of
** slots indexed by sequence number: the reader fills slot seq % N, a worker
** claims slots strictly in sequence order, and the writer drains them in the
** same order, so output bytes do not depend on timing or thread count. Memory
** is bounded by N slots of about one segment each.
** The dataset is built in a sibling folder OUT.tmp-PID and swapped in whole
** (renameat2 RENAME_EXCHANGE), so OUT holds a complete dataset at every
** moment: the old one until the swap, the new one after. */
#include "datasets/tokenize.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { SLOT_FREE, SLOT_READY, SLOT_BUSY, SLOT_DONE };

typedef struct {
    int state;
    uint64_t seq;
    char *text; /* [cap] copy of the segment */
    size_t len, cap;
    int doc_end;
    int32_t *ids; /* grown by wf_tokenizer_encode */
    size_t n, idcap;
    wf_status st;
    wf_err err;
} slot;

typedef struct {
    const wf_tokenizer *tok;
    const wf_tokenize_opts *o;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    slot *slots;
    int nslots;
    uint64_t produced, claimed, consumed; /* sequence counters */
    int quit;
    /* writer side (calling thread only) */
    wf_shard_writer *w[WF_SPLIT_COUNT];
    uint64_t *counts; /* [vocab] train token counts, for the entropy */
    int32_t eos;
    wf_tokenize_stats *stats;
    /* The latest train segment is held back (with its EOS) until the next one
    ** comes: when the corpus ends with the validation split still empty (too
    ** few documents), its tail becomes the validation split (split_held). */
    int32_t *held;
    size_t held_n, held_cap;
    double t0, last_log;
    uint64_t files_done, files_total;
} pipeline;

static void encode_slot(const wf_tokenizer *tok, slot *s) {
    s->n = 0;
    s->st = wf_tokenizer_encode(tok, s->text, s->len, &s->ids, &s->n, &s->idcap, &s->err);
}

static void *worker(void *arg) {
    pipeline *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        slot *s = &p->slots[p->claimed % (uint64_t)p->nslots];
        while (!p->quit && !(s->state == SLOT_READY && s->seq == p->claimed)) {
            pthread_cond_wait(&p->cv_work, &p->mu);
            s = &p->slots[p->claimed % (uint64_t)p->nslots];
        }
        if (p->quit) break;
        p->claimed++;
        s->state = SLOT_BUSY;
        pthread_mutex_unlock(&p->mu);
        encode_slot(p->tok, s);
        pthread_mutex_lock(&p->mu);
        s->state = SLOT_DONE;
        pthread_cond_broadcast(&p->cv_done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void progress(pipeline *p, int final) {
    double now = wf_now();
    if (!final && (p->o->progress_every <= 0 || now - p->last_log < p->o->progress_every)) return;
    p->last_log = now;
    const wf_tokenize_stats *s = p->stats;
    double dt = now - p->t0 > 1e-9 ? now - p->t0 : 1e-9;
    wf_log(WF_LOG_INFO, "tokenize: %.1f MB in %.1f s (%.2f MB/s), %.2fM tokens (%.2fM train, %.2fM val), %llu/%llu files",
           (double)s->bytes / 1e6, dt, (double)s->bytes / 1e6 / dt, (double)(s->tokens[0] + s->tokens[1]) / 1e6,
           (double)s->tokens[0] / 1e6, (double)s->tokens[1] / 1e6, (unsigned long long)p->files_done,
           (unsigned long long)p->files_total);
}

/* Appends n tokens to a split; train tokens are counted for the entropy. */
static wf_status write_part(pipeline *p, int split, const int32_t *ids, size_t n, wf_err *err) {
    if (!n) return WF_OK;
    wf_status st = wf_shard_writer_append(p->w[split], ids, n, err);
    if (st) return st;
    if (split == WF_SPLIT_TRAIN)
        for (size_t i = 0; i < n; i++) p->counts[ids[i]]++;
    p->stats->tokens[split] += n;
    return WF_OK;
}

static wf_status flush_held(pipeline *p, wf_err *err) {
    wf_status st = write_part(p, WF_SPLIT_TRAIN, p->held, p->held_n, err);
    p->held_n = 0;
    return st;
}

/* At the end: with --val-fraction > 0 and the validation split still empty,
** the last val_fraction of the tokens (at least 1, from the held segment) go
** to validation; otherwise the held segment goes to train as it is. */
static wf_status split_held(pipeline *p, wf_err *err) {
    uint64_t total = p->stats->tokens[0] + p->stats->tokens[1] + p->held_n;
    if (p->stats->tokens[WF_SPLIT_VAL] == 0 && p->o->val_fraction > 0 && p->held_n >= 2) {
        size_t v = (size_t)ceil(p->o->val_fraction * (double)total);
        if (v < 1) v = 1;
        if (v > p->held_n - 1) v = p->held_n - 1;
        wf_status st = write_part(p, WF_SPLIT_TRAIN, p->held, p->held_n - v, err);
        if (!st) st = write_part(p, WF_SPLIT_VAL, p->held + p->held_n - v, v, err);
        p->held_n = 0;
        p->stats->val_by_tokens = 1;
        return st;
    }
    return flush_held(p, err);
}

/* Writes the oldest finished slot (blocking until it is done). */
static wf_status consume_one(pipeline *p, wf_err *err) {
    slot *s = &p->slots[p->consumed % (uint64_t)p->nslots];
    pthread_mutex_lock(&p->mu);
    while (s->state != SLOT_DONE) pthread_cond_wait(&p->cv_done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    wf_status st = s->st;
    if (st) {
        if (err) *err = s->err;
        return st;
    }
    wf_tokenize_stats *t = p->stats;
    uint64_t k = s->n + (s->doc_end ? 1 : 0);
    double tv = (double)t->tokens[1], total = (double)(t->tokens[0] + t->tokens[1] + p->held_n); /* held: train, not yet written */
    int split = tv + (double)k / 2 < p->o->val_fraction * (total + (double)k) ? WF_SPLIT_VAL : WF_SPLIT_TRAIN;
    if (s->doc_end) t->documents++;
    t->bytes += s->len;
    if (split == WF_SPLIT_VAL) {
        if ((st = write_part(p, split, s->ids, s->n, err))) return st;
        if (s->doc_end && (st = write_part(p, split, &p->eos, 1, err))) return st;
    } else {
        if ((st = flush_held(p, err))) return st;
        if (k > p->held_cap) {
            int32_t *h = wf_realloc(NULL, p->held, k * sizeof *h, "held segment", err);
            if (!h) return WF_ENOMEM;
            p->held = h, p->held_cap = k;
        }
        memcpy(p->held, s->ids, s->n * sizeof *s->ids);
        if (s->doc_end) p->held[s->n] = p->eos;
        p->held_n = k;
    }
    pthread_mutex_lock(&p->mu);
    s->state = SLOT_FREE;
    p->consumed++;
    pthread_mutex_unlock(&p->mu);
    progress(p, 0);
    return WF_OK;
}

/* Queues one segment (copying it), first writing finished work if the ring is full. */
static wf_status produce(pipeline *p, const char *text, size_t len, int doc_end, wf_err *err) {
    slot *s = &p->slots[p->produced % (uint64_t)p->nslots];
    wf_status st;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        int free_now = s->state == SLOT_FREE;
        pthread_mutex_unlock(&p->mu);
        if (free_now) break;
        if ((st = consume_one(p, err))) return st;
    }
    if (s->cap < len) {
        char *nt = wf_realloc(NULL, s->text, len, "segment text", err);
        if (!nt) return err ? err->code : WF_ENOMEM;
        s->text = nt;
        s->cap = len;
    }
    memcpy(s->text, text, len);
    s->len = len;
    s->doc_end = doc_end;
    s->seq = p->produced++;
    if (p->o->threads <= 1) {
        encode_slot(p->tok, s);
        s->state = SLOT_DONE;
        return WF_OK;
    }
    pthread_mutex_lock(&p->mu);
    s->state = SLOT_READY;
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    return WF_OK;
}

static void skip_line(const wf_tokenize_opts *o, const char *msg) {
    if (o->on_skip) o->on_skip(msg, o->ud);
    else wf_log(WF_LOG_WARN, "%s", msg);
}

static double entropy(const uint64_t *c, int n) {
    uint64_t tot = 0;
    for (int i = 0; i < n; i++) tot += c[i];
    if (!tot) return 0;
    double h = 0;
    for (int i = 0; i < n; i++)
        if (c[i]) {
            double q = (double)c[i] / (double)tot;
            h -= q * log(q);
        }
    return h;
}

static wf_status read_all(pipeline *p, const wf_input_list *in, wf_err *err) {
    const wf_tokenize_opts *o = p->o;
    wf_status st = WF_OK;
    for (int i = 0; i < in->n && !st; i++) {
        const wf_input_file *f = &in->files[i];
        int ok;
        uint64_t bytes;
        char msg[4300];
        if ((st = wf_inputs_admit(f->path, &ok, msg, sizeof msg, &bytes, err))) break;
        if (!ok) {
            skip_line(o, msg);
            p->stats->skipped_files++;
            p->files_done++;
            continue;
        }
        wf_doc_reader *r;
        if ((st = wf_doc_reader_open(f, o->segment_bytes, o->on_skip, o->ud, &r, err))) break;
        for (;;) {
            const char *text;
            size_t len;
            int doc_end;
            if ((st = wf_doc_reader_next(r, &text, &len, &doc_end, err)) || !text) break;
            if ((st = produce(p, text, len, doc_end, err))) break;
        }
        p->stats->skipped_lines += wf_doc_reader_skipped_lines(r);
        wf_doc_reader_close(r);
        p->stats->files++;
        p->files_done++;
    }
    while (!st && p->consumed < p->produced) st = consume_one(p, err);
    if (!st) st = split_held(p, err);
    return st;
}

/* ---- the output folder ---------------------------------------------------
** Names a dataset folder may hold: meta.json, train_/val_NNNNNN.bin and the
** .tmp files of an interrupted write. Only these are ever deleted. */
static int digits(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

static int dataset_entry(const char *name) {
    if (!strcmp(name, "meta.json")) return 1;
    if (!strncmp(name, "meta.json.tmp", 13)) return digits(name + 13, strlen(name + 13));
    const char *r = !strncmp(name, "train_", 6) ? name + 6 : !strncmp(name, "val_", 4) ? name + 4 : NULL;
    if (!r || strlen(r) < 10 || !digits(r, 6) || strncmp(r + 6, ".bin", 4)) return 0;
    return !strcmp(r + 10, "") || !strcmp(r + 10, ".tmp");
}

/* First entry of dir that is not part of a dataset, into first (cap bytes);
** returns 1 when there is one, 0 when none, -1 when dir cannot be listed. */
static int foreign_entry(const char *dir, char *first, size_t cap) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int found = 0;
    for (struct dirent *e; !found && (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || dataset_entry(e->d_name)) continue;
        snprintf(first, cap, "%s", e->d_name);
        found = 1;
    }
    closedir(d);
    return found;
}

/* Deletes the dataset files of dir, then dir itself if that left it empty. */
static void remove_dataset_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        char p[PATH_MAX + 300];
        if (!dataset_entry(e->d_name)) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* The folder holding path into parent ("." or "/" at the top); returns the
** last component of path. */
static const char *split_parent(const char *path, char *parent, size_t cap) {
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(parent, cap, ".");
    else if (slash == path) snprintf(parent, cap, "/");
    else snprintf(parent, cap, "%.*s", (int)(slash - path), path);
    return slash ? slash + 1 : path;
}

/* Removes OUT.tmp-PID folders of runs that were killed (their PID is gone). */
static void remove_abandoned(const char *out) {
    char parent[PATH_MAX];
    const char *base = split_parent(out, parent, sizeof parent);
    size_t bl = strlen(base);
    DIR *d = opendir(parent);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        const char *t = e->d_name + bl;
        if (strncmp(e->d_name, base, bl) || strncmp(t, ".tmp-", 5) || !t[5] || !digits(t + 5, strlen(t + 5)) ||
            strlen(t + 5) > 9)
            continue;
        pid_t pid = (pid_t)atol(t + 5);
        if (pid == getpid() || !(kill(pid, 0) != 0 && errno == ESRCH)) continue; /* alive: not ours to touch */
        char p[PATH_MAX + 300];
        snprintf(p, sizeof p, "%s/%s", parent, e->d_name);
        remove_dataset_dir(p);
    }
    closedir(d);
}

/* fsync of the folder holding path, so a rename in it survives a crash. */
static void sync_parent(const char *path) {
    char parent[PATH_MAX];
    split_parent(path, parent, sizeof parent);
    int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Resolves out_dir (following a symlink to its folder) into final, checks
** that an existing folder holds nothing but a dataset, and creates the
** sibling build folder tmp. *had_old says whether final exists. */
static wf_status prepare_out(const char *out_dir, char *final, char *tmp, size_t cap, int *had_old, wf_err *err) {
    struct stat st;
    *had_old = stat(out_dir, &st) == 0;
    if (*had_old && !S_ISDIR(st.st_mode)) return WF_FAIL(err, WF_EIO, "%s: exists and is not a folder", out_dir);
    if (*had_old) {
        if (!realpath(out_dir, final)) return WF_FAIL(err, WF_EIO, "%s: %s", out_dir, strerror(errno));
        char first[300];
        int f = foreign_entry(final, first, sizeof first);
        if (f < 0) return WF_FAIL(err, WF_EIO, "%s: cannot list the folder: %s", out_dir, strerror(errno));
        if (f)
            return WF_FAIL(err, WF_EUSAGE, "%s: holds '%s', which is not part of a dataset; tokenize replaces "
                           "the whole folder, so name a new or empty one", out_dir, first);
    } else {
        size_t n = strlen(out_dir);
        while (n > 1 && out_dir[n - 1] == '/') n--; /* "data/" -> "data" */
        if (n >= cap - 32) return WF_FAIL(err, WF_EUSAGE, "%s: path too long", out_dir);
        memcpy(final, out_dir, n);
        final[n] = 0;
        char parent[PATH_MAX];
        split_parent(final, parent, sizeof parent);
        wf_status s = wf_mkdir_p(parent, err);
        if (s) return s;
    }
    if (strlen(final) >= cap - 32) return WF_FAIL(err, WF_EUSAGE, "%s: path too long", out_dir);
    remove_abandoned(final);
    snprintf(tmp, cap, "%s.tmp-%ld", final, (long)getpid());
    remove_dataset_dir(tmp); /* our own PID's leftover, if any */
    if (mkdir(tmp, *had_old ? (st.st_mode & 07777) : 0755) != 0)
        return WF_FAIL(err, WF_EIO, "%s: cannot create the folder the new dataset is built in (beside %s): %s",
                       tmp, out_dir, strerror(errno));
    return WF_OK;
}

/* Puts the complete dataset in tmp at final; the old dataset is removed only
** after the swap. A kill at any point leaves final loadable (old or new). */
static wf_status swap_in(const char *tmp, const char *final, int had_old, wf_err *err) {
    sync_parent(tmp);
    if (!had_old) {
        if (rename(tmp, final) != 0)
            return WF_FAIL(err, WF_EIO, "%s: cannot move the new dataset into place: %s", final, strerror(errno));
    } else if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_EXCHANGE) != 0) {
        if (errno != EINVAL && errno != ENOSYS)
            return WF_FAIL(err, WF_EIO, "%s: cannot swap in the new dataset: %s", final, strerror(errno));
        /* No atomic exchange here (an old kernel or a network file system):
        ** the old folder steps aside first; the window between the two
        ** renames is the only moment final is absent. */
        char old[PATH_MAX + 32];
        snprintf(old, sizeof old, "%s.old-%ld", final, (long)getpid());
        if (rename(final, old) != 0)
            return WF_FAIL(err, WF_EIO, "%s: cannot move the old dataset aside: %s", final, strerror(errno));
        if (rename(tmp, final) != 0) {
            wf_status s = WF_FAIL(err, WF_EIO, "%s: cannot move the new dataset into place: %s", final,
                                  strerror(errno));
            rename(old, final);
            return s;
        }
        sync_parent(final);
        remove_dataset_dir(old);
        return WF_OK;
    }
    sync_parent(final);
    if (had_old) remove_dataset_dir(tmp); /* now the old dataset */
    return WF_OK;
}

wf_status wf_tokenize_run(const wf_tokenizer *tok, const char *const *inputs, int n_inputs, const wf_tokenize_opts *o,
                          wf_tokenize_stats *stats, wf_err *err) {
    memset(stats, 0, sizeof *stats);
    if (!(o->val_fraction >= 0 && o->val_fraction <= 0.5))
        return WF_FAIL(err, WF_EUSAGE, "val fraction %g out of range [0, 0.5]", o->val_fraction);
    if (o->threads < 1 || o->threads > 256)
        return WF_FAIL(err, WF_EUSAGE, "threads %d out of range [1, 256]", o->threads);
    int eos = wf_tokenizer_eos(tok), vocab = wf_tokenizer_vocab_size(tok);
    if (eos < 0)
        return WF_FAIL(err, WF_EUSAGE, "%s: the tokenizer has no <|endoftext|> token to separate documents",
                       o->tokenizer_dir ? o->tokenizer_dir : "tokenizer");
    wf_input_list in = {0};
    wf_status st = wf_inputs_collect(inputs, n_inputs, &in, err);
    if (st) {
        wf_inputs_free(&in);
        return st;
    }
    stats->ignored = in.ignored;
    if (in.ignored) {
        char msg[700];
        snprintf(msg, sizeof msg, "ignored %llu folder entries that are not .txt or .jsonl (%s)",
                 (unsigned long long)in.ignored, in.ignored_summary);
        skip_line(o, msg);
    }
    char final[PATH_MAX], tmp[PATH_MAX];
    int had_old = 0;
    if ((st = prepare_out(o->out_dir, final, tmp, sizeof final, &had_old, err))) {
        wf_inputs_free(&in);
        return st;
    }

    pipeline p = {.tok = tok, .o = o, .eos = eos, .stats = stats, .files_total = (uint64_t)in.n};
    p.nslots = 2 * o->threads + 2;
    pthread_t th[256];
    int started = 0;
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv_work, NULL);
    pthread_cond_init(&p.cv_done, NULL);
    p.slots = wf_calloc(NULL, (size_t)p.nslots * sizeof(slot), "tokenize slots", err);
    p.counts = wf_calloc(NULL, (size_t)vocab * sizeof(uint64_t), "token counts", err);
    if (!p.slots || !p.counts) {
        st = err ? err->code : WF_ENOMEM;
        goto done;
    }
    for (int k = 0; k < WF_SPLIT_COUNT; k++)
        if ((st = wf_shard_writer_open(tmp, (wf_split)k, vocab, o->shard_tokens, &p.w[k], err))) goto done;
    if (o->threads > 1)
        for (; started < o->threads; started++)
            if (pthread_create(&th[started], NULL, worker, &p) != 0) {
                st = WF_FAIL(err, WF_EIO, "cannot start encoding thread %d", started);
                goto done;
            }
    p.t0 = p.last_log = wf_now();
    st = read_all(&p, &in, err);

done:
    pthread_mutex_lock(&p.mu);
    p.quit = 1;
    pthread_cond_broadcast(&p.cv_work);
    pthread_mutex_unlock(&p.mu);
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    wf_shards_meta m = {.vocab_size = vocab, .eos_id = eos, .tokenizer = o->tokenizer_dir,
                        .val_fraction = o->val_fraction};
    for (int k = 0; k < WF_SPLIT_COUNT; k++) {
        if (!p.w[k]) continue;
        if (st) wf_shard_writer_abort(p.w[k]);
        else st = wf_shard_writer_finish(p.w[k], &m.tokens[k], &m.shards[k], err);
        p.w[k] = NULL;
    }
    if (!st && stats->documents == 0)
        st = WF_FAIL(err, WF_ECORRUPT, "no text to tokenize: %llu files skipped, %llu folder entries ignored",
                     (unsigned long long)stats->skipped_files, (unsigned long long)stats->ignored);
    if (!st) {
        stats->entropy_nats = entropy(p.counts, vocab);
        stats->shards[0] = m.shards[0];
        stats->shards[1] = m.shards[1];
        m.documents = stats->documents;
        m.files = stats->files;
        m.skipped_files = stats->skipped_files;
        m.skipped_lines = stats->skipped_lines;
        m.bytes = stats->bytes;
        m.unigram_entropy_nats = stats->entropy_nats;
        st = wf_shards_write_meta(tmp, &m, err);
    }
    if (!st) st = swap_in(tmp, final, had_old, err);
    if (st) remove_dataset_dir(tmp);
    if (!st) {
        stats->seconds = wf_now() - p.t0;
        progress(&p, 1);
    }
    for (int i = 0; p.slots && i < p.nslots; i++) {
        wf_free(NULL, p.slots[i].text);
        wf_free(NULL, p.slots[i].ids);
    }
    wf_free(NULL, p.slots);
    wf_free(NULL, p.counts);
    wf_free(NULL, p.held);
    pthread_cond_destroy(&p.cv_work);
    pthread_cond_destroy(&p.cv_done);
    pthread_mutex_destroy(&p.mu);
    wf_inputs_free(&in);
    return st;
}
