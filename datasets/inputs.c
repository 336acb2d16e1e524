/* inputs.c — the INPUTS rules of inputs.h: walking folders in a fixed order,
** the whole-file check (strict UTF-8, NUL, empty, whitespace-only) and the
** document reader that cuts .txt files into segments at pre-token boundaries
** and pulls "text" out of .jsonl lines. Memory is flat: files are streamed. */
#include "datasets/inputs.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_BLOCK (1u << 20) /* bytes per read() while scanning */
#define MAX_DEPTH 64          /* folder nesting; deeper is a symlink loop in practice */

/* ======================================================================== */
/* strict UTF-8 and whitespace                                               */

/* Unicode White_Space as Python's str.isspace() sees it (the GPT-2 \s). */
static int is_space_cp(uint32_t c) {
    if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f);
    return c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
           c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

typedef struct {
    int need;          /* continuation bytes still expected */
    uint8_t lo, hi;    /* allowed range of the next continuation byte */
    uint32_t cp;       /* code point being assembled */
    uint64_t start;    /* offset of the current sequence's first byte */
    int text;          /* saw a code point that is not whitespace */
    int nul;           /* the bad byte was a NUL */
} utf8_state;

/* Feeds s[0..n) at file offset base. Returns the offset of the first bad
** sequence, or UINT64_MAX while everything is valid. */
static uint64_t utf8_feed(utf8_state *u, const uint8_t *s, size_t n, uint64_t base) {
    for (size_t i = 0; i < n; i++) {
        uint8_t b = s[i];
        if (u->need == 0) {
            u->start = base + i;
            u->lo = 0x80;
            u->hi = 0xbf;
            if (b < 0x80) {
                if (b == 0) {
                    u->nul = 1;
                    return u->start;
                }
                if (!is_space_cp(b)) u->text = 1;
                continue;
            }
            if (b >= 0xc2 && b <= 0xdf) u->need = 1, u->cp = b & 0x1fu;
            else if (b == 0xe0) u->need = 2, u->cp = 0, u->lo = 0xa0;
            else if ((b >= 0xe1 && b <= 0xec) || b == 0xee || b == 0xef) u->need = 2, u->cp = b & 0x0fu;
            else if (b == 0xed) u->need = 2, u->cp = 0xd, u->hi = 0x9f;
            else if (b == 0xf0) u->need = 3, u->cp = 0, u->lo = 0x90;
            else if (b >= 0xf1 && b <= 0xf3) u->need = 3, u->cp = b & 0x07u;
            else if (b == 0xf4) u->need = 3, u->cp = 4, u->hi = 0x8f;
            else return u->start;
        } else {
            if (b < u->lo || b > u->hi) return u->start;
            u->lo = 0x80;
            u->hi = 0xbf;
            u->cp = u->cp << 6 | (b & 0x3fu);
            if (--u->need == 0 && !is_space_cp(u->cp)) u->text = 1;
        }
    }
    return UINT64_MAX;
}

size_t wf_utf8_check(const uint8_t *s, size_t n) {
    utf8_state u = {0};
    size_t at = 0;
    for (;;) {
        uint64_t bad = utf8_feed(&u, s + at, n - at, at);
        if (bad == UINT64_MAX) return u.need ? (size_t)u.start : n;
        if (!u.nul) return (size_t)bad;
        at = (size_t)bad + 1; /* a NUL is valid UTF-8: go on after it */
        u.nul = 0;
    }
}

wf_status wf_inputs_check(const char *path, int *ok, char *why, size_t why_cap, uint64_t *bytes, wf_err *err) {
    *ok = 0;
    *bytes = 0;
    int fd;
    wf_status os = wf_file_open_read(path, &fd, NULL, err); /* a FIFO is refused, never waited on */
    if (os) return os;
    uint8_t *buf = wf_alloc(NULL, READ_BLOCK, "input scan buffer", err);
    if (!buf) {
        close(fd);
        return err ? err->code : WF_ENOMEM;
    }
    utf8_state u = {0};
    uint64_t off = 0, bad = UINT64_MAX;
    wf_status st = WF_OK;
    for (;;) {
        ssize_t k = read(fd, buf, READ_BLOCK);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            st = WF_FAIL(err, WF_EIO, "%s: read failed at byte %llu: %s", path, (unsigned long long)off,
                         strerror(errno));
            break;
        }
        if (k == 0) break;
        if (bad == UINT64_MAX) bad = utf8_feed(&u, buf, (size_t)k, off);
        off += (uint64_t)k;
        if (bad != UINT64_MAX) break; /* the verdict is in; size is not needed */
    }
    wf_free(NULL, buf);
    close(fd);
    if (st) return st;
    *bytes = off;
    if (bad == UINT64_MAX && u.need) bad = u.start; /* truncated last sequence */
    if (off == 0) snprintf(why, why_cap, "empty file");
    else if (bad != UINT64_MAX && u.nul) snprintf(why, why_cap, "binary file (NUL byte at byte %llu)", (unsigned long long)bad);
    else if (bad != UINT64_MAX) snprintf(why, why_cap, "invalid UTF-8 at byte %llu", (unsigned long long)bad);
    else if (!u.text) snprintf(why, why_cap, "no text (only whitespace)");
    else *ok = 1;
    return WF_OK;
}

/* ======================================================================== */
/* collecting files                                                          */

typedef struct {
    char ext[24];
    uint64_t n;
} ext_count;

typedef struct {
    dev_t dev;
    ino_t ino;
} file_id;

typedef struct {
    wf_input_list *l;
    ext_count ign[8]; /* the first 8 kinds of ignored entries; the rest pooled */
    uint64_t ign_other;
    file_id *seen;    /* [cap] open addressing; ino 0 = empty slot (no real inode is 0) */
    size_t nseen, cap;
} walk_ctx;

static size_t id_hash(file_id f, size_t cap) {
    uint64_t h = ((uint64_t)f.dev * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)f.ino * 0xc2b2ae3d27d4eb4full);
    return (size_t)(h ^ h >> 29) & (cap - 1);
}

/* Records folder or file (dev, ino); *fresh = 0 when it was seen before, so a
** symlink back up the tree (x -> .) or a second path to the same file is
** read once, not again and again. */
static wf_status mark_seen(walk_ctx *w, const struct stat *sb, int *fresh, wf_err *err) {
    file_id f = {sb->st_dev, sb->st_ino ? sb->st_ino : 1};
    if (2 * (w->nseen + 1) > w->cap) {
        size_t nc = w->cap ? 2 * w->cap : 256;
        file_id *ns = wf_calloc(NULL, nc * sizeof *ns, "visited folders", err);
        if (!ns) return err ? err->code : WF_ENOMEM;
        for (size_t i = 0; i < w->cap; i++)
            if (w->seen[i].ino) {
                size_t j = id_hash(w->seen[i], nc);
                while (ns[j].ino) j = (j + 1) & (nc - 1);
                ns[j] = w->seen[i];
            }
        wf_free(NULL, w->seen);
        w->seen = ns;
        w->cap = nc;
    }
    size_t j = id_hash(f, w->cap);
    for (; w->seen[j].ino; j = (j + 1) & (w->cap - 1))
        if (w->seen[j].ino == f.ino && w->seen[j].dev == f.dev) {
            *fresh = 0;
            return WF_OK;
        }
    w->seen[j] = f;
    w->nseen++;
    *fresh = 1;
    return WF_OK;
}

static void note_ignored(walk_ctx *w, const char *kind) {
    w->l->ignored++;
    for (int i = 0; i < 8; i++) {
        if (w->ign[i].n && strcmp(w->ign[i].ext, kind) == 0) {
            w->ign[i].n++;
            return;
        }
        if (!w->ign[i].n) {
            snprintf(w->ign[i].ext, sizeof w->ign[i].ext, "%s", kind);
            w->ign[i].n = 1;
            return;
        }
    }
    w->ign_other++;
}

static wf_status add_file(wf_input_list *l, const char *path, wf_input_kind kind, wf_err *err) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        wf_input_file *f = wf_realloc(NULL, l->files, (size_t)cap * sizeof *f, "input list", err);
        if (!f) return err ? err->code : WF_ENOMEM;
        l->files = f;
        l->cap = cap;
    }
    size_t n = strlen(path);
    char *p = wf_alloc(NULL, n + 1, "input path", err);
    if (!p) return err ? err->code : WF_ENOMEM;
    memcpy(p, path, n + 1);
    l->files[l->n++] = (wf_input_file){p, kind};
    return WF_OK;
}

static const char *ext_of(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && dot != name ? dot : NULL;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static wf_status walk(walk_ctx *w, const char *dir, int depth, wf_err *err) {
    if (depth > MAX_DEPTH)
        return WF_FAIL(err, WF_EIO, "%s: folders nested more than %d deep (a symlink loop?)", dir, MAX_DEPTH);
    DIR *d = opendir(dir);
    if (!d) return WF_FAIL(err, WF_EIO, "%s: cannot open folder: %s", dir, strerror(errno));
    char **names = NULL;
    int n = 0, cap = 0;
    wf_status st = WF_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = wf_realloc(NULL, names, (size_t)cap * sizeof *nn, "folder listing", err);
            if (!nn) {
                st = err ? err->code : WF_ENOMEM;
                goto done;
            }
            names = nn;
        }
        size_t len = strlen(e->d_name);
        names[n] = wf_alloc(NULL, len + 1, "folder entry", err);
        if (!names[n]) {
            st = err ? err->code : WF_ENOMEM;
            goto done;
        }
        memcpy(names[n++], e->d_name, len + 1);
    }
    if (n > 1) qsort(names, (size_t)n, sizeof *names, cmp_names);
    for (int i = 0; i < n && !st; i++) {
        size_t pl = strlen(dir) + strlen(names[i]) + 2;
        char *p = wf_alloc(NULL, pl, "path", err);
        if (!p) {
            st = err ? err->code : WF_ENOMEM;
            break;
        }
        snprintf(p, pl, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", names[i]);
        struct stat sb;
        int fresh = 1;
        if (names[i][0] == '.') note_ignored(w, "hidden");
        else if (stat(p, &sb) != 0) note_ignored(w, "unreadable");
        else if (!S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode)) note_ignored(w, "not a regular file");
        else if ((st = mark_seen(w, &sb, &fresh, err)) || !fresh) {
            if (!st) note_ignored(w, "already seen");
        } else if (S_ISDIR(sb.st_mode)) st = walk(w, p, depth + 1, err);
        else {
            const char *x = ext_of(names[i]);
            if (x && !strcasecmp(x, ".txt")) st = add_file(w->l, p, WF_INPUT_TXT, err);
            else if (x && !strcasecmp(x, ".jsonl")) st = add_file(w->l, p, WF_INPUT_JSONL, err);
            else note_ignored(w, x ? x : "no extension");
        }
        wf_free(NULL, p);
    }
done:
    for (int i = 0; i < n; i++) wf_free(NULL, names[i]);
    wf_free(NULL, names);
    closedir(d);
    return st;
}

wf_status wf_inputs_collect(const char *const *paths, int n, wf_input_list *l, wf_err *err) {
    walk_ctx w = {.l = l};
    wf_status st = WF_OK;
    for (int i = 0; i < n && !st; i++) {
        struct stat sb;
        int fresh = 1;
        if (stat(paths[i], &sb) != 0) st = WF_FAIL(err, WF_EIO, "%s: %s", paths[i], strerror(errno));
        else if (!S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode))
            st = WF_FAIL(err, WF_EIO, "%s: not a file or folder", paths[i]);
        else if ((st = mark_seen(&w, &sb, &fresh, err)) || !fresh) {
            if (!st) note_ignored(&w, "already seen");
        } else if (S_ISDIR(sb.st_mode)) st = walk(&w, paths[i], 0, err);
        else {
            const char *x = ext_of(paths[i]);
            st = add_file(l, paths[i], x && !strcasecmp(x, ".jsonl") ? WF_INPUT_JSONL : WF_INPUT_TXT, err);
        }
    }
    wf_free(NULL, w.seen);
    if (st) return st;
    size_t k = 0;
    l->ignored_summary[0] = 0;
    for (int i = 0; i < 8 && w.ign[i].n; i++)
        k += (size_t)snprintf(l->ignored_summary + k, sizeof l->ignored_summary - k, "%s%llu %s", i ? ", " : "",
                              (unsigned long long)w.ign[i].n, w.ign[i].ext);
    if (w.ign_other && k < sizeof l->ignored_summary)
        snprintf(l->ignored_summary + k, sizeof l->ignored_summary - k, ", %llu of other kinds",
                 (unsigned long long)w.ign_other);
    return WF_OK;
}

void wf_inputs_free(wf_input_list *l) {
    for (int i = 0; i < l->n; i++) wf_free(NULL, l->files[i].path);
    wf_free(NULL, l->files);
    memset(l, 0, sizeof *l);
}

/* ======================================================================== */
/* the document reader                                                       */

struct wf_doc_reader {
    const char *path;  /* borrowed from the wf_input_file */
    wf_input_kind kind;
    int fd;
    int eof;
    size_t seg;        /* target segment bytes (.txt) */
    uint8_t *buf;      /* [cap]; data in [pos, fill) */
    size_t cap, pos, fill;
    uint64_t line;     /* .jsonl: number of the line last read (1-based) */
    uint64_t skipped;
    cJSON *doc;        /* .jsonl: parsed line whose "text" was returned last */
    wf_skip_fn on_skip;
    void *ud;
};

wf_status wf_doc_reader_open(const wf_input_file *f, size_t segment_bytes, wf_skip_fn on_skip, void *ud,
                             wf_doc_reader **out, wf_err *err) {
    *out = NULL;
    wf_doc_reader *r = wf_calloc(NULL, sizeof *r, "doc reader", err);
    if (!r) return err ? err->code : WF_ENOMEM;
    r->path = f->path;
    r->kind = f->kind;
    r->seg = segment_bytes ? segment_bytes : (256u << 10);
    r->cap = f->kind == WF_INPUT_TXT ? 2 * r->seg + 8 : READ_BLOCK;
    r->on_skip = on_skip;
    r->ud = ud;
    wf_status os = wf_file_open_read(f->path, &r->fd, NULL, err);
    if (os) {
        wf_free(NULL, r);
        return os;
    }
    r->buf = wf_alloc(NULL, r->cap, "doc reader buffer", err);
    if (!r->buf) {
        close(r->fd);
        wf_free(NULL, r);
        return err ? err->code : WF_ENOMEM;
    }
    *out = r;
    return WF_OK;
}

void wf_doc_reader_close(wf_doc_reader *r) {
    if (!r) return;
    cJSON_Delete(r->doc);
    close(r->fd);
    wf_free(NULL, r->buf);
    wf_free(NULL, r);
}

uint64_t wf_doc_reader_skipped_lines(const wf_doc_reader *r) { return r->skipped; }

/* Moves [pos, fill) to the front and reads until the buffer is full or EOF. */
static wf_status refill(wf_doc_reader *r, wf_err *err) {
    if (r->pos) {
        memmove(r->buf, r->buf + r->pos, r->fill - r->pos);
        r->fill -= r->pos;
        r->pos = 0;
    }
    while (!r->eof && r->fill < r->cap) {
        ssize_t k = read(r->fd, r->buf + r->fill, r->cap - r->fill);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return WF_FAIL(err, WF_EIO, "%s: read failed: %s", r->path, strerror(errno));
        if (k == 0) r->eof = 1;
        r->fill += (size_t)k;
    }
    return WF_OK;
}

/* Whitespace test of the code point starting at s[i] (i < n). */
static int space_at(const uint8_t *s, size_t n, size_t i) {
    uint8_t b = s[i];
    if (b < 0x80) return is_space_cp(b);
    int len = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
    if (i + (size_t)len > n) return 1; /* cut off: treat as unsafe */
    uint32_t c = b & (0x7fu >> len);
    for (int k = 1; k < len; k++) c = c << 6 | (s[i + k] & 0x3fu);
    return is_space_cp(c);
}

/* Whitespace test of the code point that ends at s[i]. */
static int space_ending_at(const uint8_t *s, size_t n, size_t i) {
    size_t j = i;
    while (j > 0 && i - j < 3 && (s[j] & 0xc0) == 0x80) j--;
    return space_at(s, n, j);
}

/* Cut point in s[0..n) for a segment of about target bytes: prefers i with
** s[i-1] == '\n' and non-space code points on both sides (a pre-token
** boundary for GPT-2), then any line start, then any code point start. */
static size_t cut_point(const uint8_t *s, size_t n, size_t target) {
    size_t lo = target / 2;
    for (size_t i = n - 1; i >= 2 && i > lo; i--)
        if (s[i - 1] == '\n' && !space_at(s, n, i) && !space_ending_at(s, n, i - 2)) return i;
    for (size_t i = n - 1; i >= 2; i--)
        if (s[i - 1] == '\n' && !space_at(s, n, i) && !space_ending_at(s, n, i - 2)) return i;
    for (size_t i = n - 1; i >= 1; i--)
        if (s[i - 1] == '\n') return i;
    for (size_t i = n - 1; i >= 1; i--)
        if ((s[i] & 0xc0) != 0x80) return i;
    return n;
}

static wf_status next_txt(wf_doc_reader *r, const char **text, size_t *len, int *doc_end, wf_err *err) {
    wf_status st = refill(r, err);
    if (st) return st;
    size_t n = r->fill - r->pos;
    if (n == 0) return WF_OK; /* end of file (the last segment carried doc_end) */
    if (r->eof && n <= r->cap) {
        *text = (const char *)r->buf + r->pos;
        *len = n;
        *doc_end = 1;
        r->pos = r->fill;
        return WF_OK;
    }
    size_t cut = cut_point(r->buf + r->pos, n, r->seg);
    *text = (const char *)r->buf + r->pos;
    *len = cut;
    *doc_end = 0;
    r->pos += cut;
    return WF_OK;
}

static void report(wf_doc_reader *r, const char *problem) {
    char msg[1200];
    snprintf(msg, sizeof msg, "skipped %s:%llu: %s", r->path, (unsigned long long)r->line, problem);
    r->skipped++;
    if (r->on_skip) r->on_skip(msg, r->ud);
    else wf_log(WF_LOG_WARN, "%s", msg);
}

static wf_status next_jsonl(wf_doc_reader *r, const char **text, size_t *len, int *doc_end, wf_err *err) {
    cJSON_Delete(r->doc);
    r->doc = NULL;
    for (;;) {
        uint8_t *nl = memchr(r->buf + r->pos, '\n', r->fill - r->pos);
        if (!nl && !r->eof) {
            if (r->pos == 0 && r->fill == r->cap) { /* a line longer than the buffer: grow */
                uint8_t *nb = wf_realloc(NULL, r->buf, r->cap * 2, "jsonl line", err);
                if (!nb) return err ? err->code : WF_ENOMEM;
                r->buf = nb;
                r->cap *= 2;
            }
            wf_status st = refill(r, err);
            if (st) return st;
            continue;
        }
        size_t end = nl ? (size_t)(nl - r->buf) : r->fill;
        if (end == r->pos && !nl) return WF_OK; /* end of file */
        const char *line = (const char *)r->buf + r->pos;
        size_t ll = end - r->pos;
        r->pos = nl ? end + 1 : end;
        r->line++;
        int blank = 1;
        for (size_t i = 0; i < ll && blank; i++) blank = is_space_cp((uint8_t)line[i]);
        if (blank) continue;
        cJSON *doc = cJSON_ParseWithLength(line, ll);
        if (!doc) {
            report(r, "not valid JSON");
            continue;
        }
        const cJSON *t = cJSON_IsObject(doc) ? cJSON_GetObjectItemCaseSensitive(doc, "text") : NULL;
        if (!cJSON_IsString(t)) {
            report(r, "no \"text\" string member");
            cJSON_Delete(doc);
            continue;
        }
        if (!t->valuestring[0]) {
            report(r, "empty \"text\"");
            cJSON_Delete(doc);
            continue;
        }
        r->doc = doc;
        *text = t->valuestring;
        *len = strlen(t->valuestring);
        *doc_end = 1;
        return WF_OK;
    }
}

wf_status wf_doc_reader_next(wf_doc_reader *r, const char **text, size_t *len, int *doc_end, wf_err *err) {
    *text = NULL;
    *len = 0;
    *doc_end = 0;
    return r->kind == WF_INPUT_TXT ? next_txt(r, text, len, doc_end, err) : next_jsonl(r, text, len, doc_end, err);
}

wf_status wf_inputs_admit(const char *path, int *ok, char *msg, size_t msg_cap, uint64_t *bytes,
                          wf_err *err) {
    char why[sizeof ((wf_err *)0)->msg];
    wf_err ce = {0};
    wf_status cs = wf_inputs_check(path, ok, why, sizeof why, bytes, &ce);
    if (cs == WF_EIO) { /* unreadable: skip it, say so (drop the path prefix of the message) */
        size_t n = strlen(path);
        *ok = 0;
        snprintf(why, sizeof why, "%s", ce.msg + (strncmp(ce.msg, path, n) ? 0 : n + 2));
    } else if (cs) {
        if (err) *err = ce;
        return cs;
    }
    if (!*ok) snprintf(msg, msg_cap, "skipped %s: %s", path, why);
    return WF_OK;
}
