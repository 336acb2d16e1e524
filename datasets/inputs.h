/* inputs.h — turning the user's INPUTS (files and folders) into documents,
** shared by `wafer tokenize` and `wafer tokenizer-train`.
**
** Rules (what a user gets told, never silent):
**  - A folder is walked recursively in byte order of names; in folders only
**    *.txt and *.jsonl are read. Other files and hidden entries (".name") are
**    counted per extension and summarised, not read. A file named on the
**    command line is read whatever its extension: *.jsonl as JSON lines, any
**    other name as plain text.
**  - Every folder and file is read once, however many paths lead to it:
**    they are told apart by (device, inode), so a symlink back up the tree
**    (x -> .) is counted as "already seen", not walked again.
**  - A file that is empty, holds a NUL byte (binary), is not valid UTF-8
**    (strict: no overlongs, surrogates or code points past U+10FFFF) or holds
**    only whitespace is skipped whole, with one line naming the first bad byte;
**    so is a file that cannot be read (permissions, I/O error).
**  - .txt: the whole file is one document. Large files are cut into segments
**    of about segment_bytes at a line start where the bytes on both sides of
**    the newline are not whitespace; at such a point the GPT-2 pre-tokenizer
**    splits anyway, so the ids equal those of the unsplit file.
**  - .jsonl: one document per line, the string member "text". Blank lines are
**    passed over; a line that is not JSON, has no "text" string or an empty
**    one is skipped and reported as "skipped <path>:<line>: <problem>". */
#ifndef WF_DATASETS_INPUTS_H
#define WF_DATASETS_INPUTS_H

#include "base/base.h"

typedef enum { WF_INPUT_TXT = 0, WF_INPUT_JSONL = 1 } wf_input_kind;

typedef struct {
    char *path;         /* owned by the list */
    wf_input_kind kind;
} wf_input_file;

typedef struct {
    wf_input_file *files; /* in reading order */
    int n, cap;
    uint64_t ignored;     /* entries in folders that were not read */
    char ignored_summary[512]; /* e.g. "3 .gz, 1 hidden, 1 without extension" */
} wf_input_list;

/* Expands paths (files and folders) into l (zeroed by the caller). A path that
** does not exist fails with WF_EIO before anything is read. */
wf_status wf_inputs_collect(const char *const *paths, int n, wf_input_list *l, wf_err *err);
void wf_inputs_free(wf_input_list *l); /* frees the contents; l itself is the caller's */

/* Scans a whole file (streaming, flat memory). Returns WF_OK with *ok = 1 when
** it is usable; *ok = 0 and why = "invalid UTF-8 at byte 17", "binary file
** (NUL byte at byte 3)", "empty file" or "no text (only whitespace)" when it
** must be skipped. A read error is a status. *bytes gets the file size. */
wf_status wf_inputs_check(const char *path, int *ok, char *why, size_t why_cap, uint64_t *bytes,
                          wf_err *err);

/* wf_inputs_check, with an unreadable file (permissions, I/O error) turned into
** a skip: *ok = 0 and why says what failed. Other errors are returned. When the
** file is skipped, msg (cap >= 64) receives the one-line report "skipped <path>: <why>". */
wf_status wf_inputs_admit(const char *path, int *ok, char *msg, size_t msg_cap, uint64_t *bytes,
                          wf_err *err);

/* First invalid byte offset of strict UTF-8 in s[0..n), or n when valid. */
size_t wf_utf8_check(const uint8_t *s, size_t n);

/* Receives one report line ("skipped <path>:<line>: not valid JSON"). */
typedef void (*wf_skip_fn)(const char *msg, void *ud);

/* Reads the documents of one input file as segments (see the rules above). */
typedef struct wf_doc_reader wf_doc_reader;
wf_status wf_doc_reader_open(const wf_input_file *f, size_t segment_bytes, wf_skip_fn on_skip, void *ud,
                             wf_doc_reader **out, wf_err *err);
/* Next segment: *text and *len are owned by r and valid until the next call;
** *doc_end is 1 when the segment ends a document. At the end of the file
** returns WF_OK with *text = NULL. */
wf_status wf_doc_reader_next(wf_doc_reader *r, const char **text, size_t *len, int *doc_end, wf_err *err);
/* Lines of a .jsonl skipped so far. */
uint64_t wf_doc_reader_skipped_lines(const wf_doc_reader *r);
void wf_doc_reader_close(wf_doc_reader *r); /* NULL is a no-op */

#endif
