/* http_client.h — a minimal HTTP/1.1 client over loopback TCP for the server
** test (tests/serve) and the load generator (bench/serve): connect, send a
** request, undo chunked encoding. Header-only, like check.h. */
#ifndef WF_TEST_HTTP_CLIENT_H
#define WF_TEST_HTTP_CLIENT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A connected socket to 127.0.0.1:port, or -1. */
static inline int wf_http_dial(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a)) {
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

static inline void wf_http_send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return;
        p += w;
        n -= (size_t)w;
    }
}

/* Sends "METHOD path" with Connection: close, extra header lines (each ending
** in \r\n, or NULL) and an optional JSON body. Returns the socket, or -1. */
static inline int wf_http_request(int port, const char *method, const char *path, const char *extra,
                                  const char *body) {
    int fd = wf_http_dial(port);
    if (fd < 0) return -1;
    char head[1024];
    size_t bl = body ? strlen(body) : 0;
    int k = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s", method, path,
                     extra ? extra : "");
    if (body)
        k += snprintf(head + k, sizeof head - (size_t)k, "Content-Type: application/json\r\nContent-Length: %zu\r\n",
                      bl);
    k += snprintf(head + k, sizeof head - (size_t)k, "\r\n");
    wf_http_send_all(fd, head, (size_t)k);
    if (body) wf_http_send_all(fd, body, bl);
    return fd;
}

/* Undoes chunked transfer encoding in place. */
static inline void wf_http_dechunk(char *b) {
    char *r = b, *w = b;
    for (;;) {
        char *end;
        long n = strtol(r, &end, 16);
        if (end == r || n <= 0) break;
        r = strstr(end, "\r\n");
        if (!r) break;
        r += 2;
        memmove(w, r, (size_t)n);
        w += n;
        r += n + 2;
    }
    *w = 0;
}

/* Splits a whole response in out (NUL-terminated): returns the status (-1 if
** malformed), copies the headers to hdr_out (optional) and leaves the
** dechunked body in out. */
static inline int wf_http_split(char *out, char *hdr_out) {
    int status = -1;
    if (sscanf(out, "HTTP/1.%*d %d", &status) != 1) return -1;
    char *sep = strstr(out, "\r\n\r\n");
    if (!sep) return -1;
    *sep = 0;
    if (hdr_out) strcpy(hdr_out, out);
    int chunked = strstr(out, "chunked") != NULL;
    memmove(out, sep + 4, strlen(sep + 4) + 1);
    if (chunked) wf_http_dechunk(out);
    return status;
}

#endif
