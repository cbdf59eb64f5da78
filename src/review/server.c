// am_review's HTTP server (include/am/review.h) on libmicrohttpd: the page's
// files built into the binary and the JSON API of review.c, behind a token,
// a Host check, a body limit and a request rate limit. No path a client
// sends is ever opened: URLs are matched whole against a fixed list.
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "am/error.h"
#include "am/review.h"

extern const char am_page_index[], am_page_index_end[], am_page_js[], am_page_js_end[], am_page_css[],
    am_page_css_end[];

struct am_server {
    struct MHD_Daemon *d;
    am_review *rv;
    char token[65];
    char hosts[4][320];  // the Host header values accepted
    int nhosts, port;
    size_t max_body;
    double rate, burst, bucket, last;  // the token bucket of the rate limit
    pthread_mutex_t lock;
};

typedef struct {
    size_t got;   // body bytes received
    int too_big;
} request;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

// 1 when a request may go on (a token taken from the bucket).
static int take(am_server *s) {
    pthread_mutex_lock(&s->lock);
    double t = now();
    s->bucket += (t - s->last) * s->rate;
    if (s->bucket > s->burst) s->bucket = s->burst;
    s->last = t;
    int ok = s->bucket >= 1;
    if (ok) s->bucket -= 1;
    pthread_mutex_unlock(&s->lock);
    return ok;
}

// Compares in time that does not depend on where they differ.
static int same_token(const am_server *s, const char *v) {
    if (!v) return 0;
    size_t n = strlen(s->token);
    if (strlen(v) != n) return 0;
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++) d |= (unsigned char)(v[i] ^ s->token[i]);
    return d == 0;
}

static enum MHD_Result send_reply(struct MHD_Connection *c, int status, const char *type, void *body, size_t len,
                                  enum MHD_ResponseMemoryMode mode, const char *header) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
                            "script-src 'self'; connect-src 'self'; frame-ancestors 'none'");
    if (header && *header) {
        char name[64];
        const char *colon = strchr(header, ':');
        if (colon && (size_t)(colon - header) < sizeof name) {
            snprintf(name, sizeof name, "%.*s", (int)(colon - header), header);
            MHD_add_response_header(r, name, colon + 2);
        }
    }
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result plain(struct MHD_Connection *c, int status, const char *msg) {
    return send_reply(c, status, "text/plain; charset=utf-8", (void *)msg, strlen(msg), MHD_RESPMEM_PERSISTENT, NULL);
}

static const char *query_arg(void *ctx, const char *key) {
    return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, key);
}

// index.html with the token put for {{TOKEN}}.
static enum MHD_Result index_page(am_server *s, struct MHD_Connection *c) {
    const size_t n = (size_t)(am_page_index_end - am_page_index);
    char *page = AM_MALLOC(n + sizeof s->token + 1), *o = page;
    const char *p = am_page_index, *end = am_page_index_end;
    while (p < end) {
        if (end - p >= 9 && !memcmp(p, "{{TOKEN}}", 9)) {
            o += sprintf(o, "%s", s->token);
            p += 9;
        } else {
            *o++ = *p++;
        }
    }
    return send_reply(c, 200, "text/html; charset=utf-8", page, (size_t)(o - page), MHD_RESPMEM_MUST_FREE, NULL);
}

static enum MHD_Result static_file(struct MHD_Connection *c, const char *type, const char *a, const char *b) {
    return send_reply(c, 200, type, (void *)a, (size_t)(b - a), MHD_RESPMEM_PERSISTENT, NULL);
}

static int host_ok(const am_server *s, struct MHD_Connection *c) {
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    for (int k = 0; h && k < s->nhosts; k++)
        if (!strcasecmp(h, s->hosts[k])) return 1;
    return 0;
}

static enum MHD_Result answer(am_server *s, struct MHD_Connection *c, const char *url, const char *method,
                              const request *rq) {
    const int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    if (!host_ok(s, c)) return plain(c, 403, "forbidden: this Host is not am_review's (DNS rebinding?)\n");
    if (!take(s)) return plain(c, 429, "too many requests: slow down\n");
    if (!get && !post) return plain(c, 405, "method not allowed\n");
    if (rq->too_big) return plain(c, 413, "request body too large\n");
    // One cookie per port: cookies do not tell ports apart, and two reviews may run.
    char cookie_name[32];
    snprintf(cookie_name, sizeof cookie_name, "am_token_%d", s->port);
    const char *cookie = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, cookie_name);
    const char *header = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-AM-Token");
    if (get && !strcmp(url, "/")) {
        const char *t = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "t");
        if (t) {
            if (!same_token(s, t)) return plain(c, 403, "forbidden: wrong token (open the URL am_review printed)\n");
            char set[200];
            snprintf(set, sizeof set, "Set-Cookie: %s=%s; Path=/; HttpOnly; SameSite=Strict", cookie_name, s->token);
            struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
            MHD_add_response_header(r, "Set-Cookie", set + 12);
            MHD_add_response_header(r, "Location", "/");
            MHD_add_response_header(r, "Cache-Control", "no-store");
            MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
            enum MHD_Result ok = MHD_queue_response(c, 303, r);
            MHD_destroy_response(r);
            return ok;
        }
    }
    // A POST needs the header (a cookie alone would let another site's form
    // post); a GET the cookie or the header.
    if (post ? !same_token(s, header) : !same_token(s, cookie) && !same_token(s, header))
        return plain(c, 403, "forbidden: no valid token (open the URL am_review printed)\n");
    if (get && !strcmp(url, "/")) return index_page(s, c);
    if (get && !strcmp(url, "/review.js"))
        return static_file(c, "text/javascript; charset=utf-8", am_page_js, am_page_js_end);
    if (get && !strcmp(url, "/review.css")) return static_file(c, "text/css; charset=utf-8", am_page_css, am_page_css_end);
    if (strncmp(url, "/api/", 5)) return plain(c, 404, "not found\n");
    am_reply r;
    am_review_api(s->rv, method, url + 5, query_arg, c, &r);
    return send_reply(c, r.status, r.type, r.body, r.len, MHD_RESPMEM_MUST_FREE, r.header);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *data, size_t *size, void **state) {
    (void)version;
    (void)data;
    am_server *s = cls;
    request *rq = *state;
    if (!rq) {  // the headers: refuse a declared body over the limit before it is read
        rq = AM_CALLOC(sizeof *rq);
        *state = rq;
        const char *len = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (len && strtoull(len, NULL, 10) > s->max_body) {
            rq->too_big = 1;
            return plain(c, 413, "request body too large\n");
        }
        return MHD_YES;
    }
    if (*size) {
        rq->got += *size;
        rq->too_big |= rq->got > s->max_body;
        *size = 0;
        return MHD_YES;
    }
    return answer(s, c, url, method, rq);
}

static int hex(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

// %HH decoded in URLs and their arguments, except %00: a NUL would cut a
// string short of what was sent ("/%00/x" would read as "/").
static size_t unescape(void *cls, struct MHD_Connection *c, char *s) {
    (void)cls;
    (void)c;
    char *o = s;
    for (const char *p = s; *p; p++) {
        int hi = p[0] == '%' ? hex(p[1]) : -1, lo = hi >= 0 ? hex(p[2]) : -1;
        if (lo >= 0 && (hi | lo)) {
            *o++ = (char)(16 * hi + lo);
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = 0;
    return (size_t)(o - s);
}

static void completed(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)c;
    (void)toe;
    free(*state);
    *state = NULL;
}

static void add_host(am_server *s, const char *name, int v6) {
    if (s->nhosts < 4) snprintf(s->hosts[s->nhosts++], sizeof s->hosts[0], v6 ? "[%s]:%d" : "%s:%d", name, s->port);
}

am_server *am_server_start(am_review *rv, const am_server_opts *o) {
    am_server *s = AM_CALLOC(sizeof *s);
    s->rv = rv;
    s->max_body = o->max_body;
    s->rate = o->rate;
    s->burst = s->bucket = o->burst;
    s->last = now();
    pthread_mutex_init(&s->lock, NULL);
    if (o->token) snprintf(s->token, sizeof s->token, "%s", o->token);
    else {
        unsigned char b[16];
        if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
            free(s);
            am_seterr("no random bytes for the token");
            return NULL;
        }
        for (int i = 0; i < 16; i++) sprintf(s->token + 2 * i, "%02x", b[i]);
    }
    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)o->port)};
    const int v6 = inet_pton(AF_INET, o->listen, &a4.sin_addr) != 1;
    if (v6 && inet_pton(AF_INET6, o->listen, &a6.sin6_addr) != 1) {
        free(s);
        am_seterr("--listen '%s' is not an IPv4 or IPv6 address", o->listen);
        return NULL;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | (v6 ? MHD_USE_IPv6 : 0);
    s->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR,
                            v6 ? (struct sockaddr *)&a6 : (struct sockaddr *)&a4, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)256, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_NOTIFY_COMPLETED,
                            completed, NULL, MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_END);
    if (!s->d) {
        free(s);
        am_seterr("cannot listen on %s port %d (in use? give another --port)", o->listen, o->port);
        return NULL;
    }
    s->port = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT)->port;
    add_host(s, o->listen, v6);
    if (!strcmp(o->listen, "127.0.0.1") || !strcmp(o->listen, "::1")) add_host(s, "localhost", 0);
    else {
        char name[256] = "";
        if (!gethostname(name, sizeof name - 1) && name[0]) add_host(s, name, 0);
    }
    return s;
}

int am_server_port(const am_server *s) { return s->port; }

const char *am_server_token(const am_server *s) { return s->token; }

void am_server_stop(am_server *s) {
    if (!s) return;
    MHD_stop_daemon(s->d);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
