/* load_json.h — reads and parses a JSON fixture of the training tests; NULL,
** with the reason on stderr, when the file is missing or not JSON (the caller
** WF_CHECKs it, so a missing fixture fails). Header-only; include after check.h. */
#ifndef WF_TEST_LOAD_JSON_H
#define WF_TEST_LOAD_JSON_H

#include <cjson/cJSON.h>

#include "base/base.h"

static cJSON *load_json(const char *path) {
    char *buf;
    size_t n;
    wf_err e;
    if (wf_file_read(NULL, path, &buf, &n, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return NULL;
    }
    cJSON *j = cJSON_Parse(buf);
    wf_free(NULL, buf);
    if (!j) fprintf(stderr, "%s: not valid JSON\n", path);
    return j;
}

#endif
