// am_review over HTTP on loopback (src/review): labels, undo and their
// files; every sort and filter against the scores read here; images against
// their source pixels, the histogram and the curves; the token, the Host
// check, path traversal (plain, encoded, absolute, a symlink in the run),
// body and rate limits; 200 label posts at once, none lost; kill -9 of the
// am_review program while it saves; a retrain from the API, with a label
// set while it runs kept afterwards; a FITS run's images under every stretch,
// as the inputs module renders them.
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "am/config.h"
#include "am/dataset.h"
#include "am/demo.h"
#include "am/error.h"
#include "am/gpu.h"
#include "am/image.h"
#include "am/inputs.h"
#include "am/log.h"
#include "am/loop.h"
#include "am/review.h"
#include "am/stretch.h"
#include "test.h"

#define NIMG 240

static char base[64], tmp[64], run[128];

// ---- the run: demo images, one tiny cycle of am_train ---------------------------

static void make_base(void) {
    snprintf(base, sizeof base, "/tmp/am_review_base_XXXXXX");
    ck_assert(mkdtemp(base));
    am_demo_opts o = {.look = AM_DEMO_LOOK, .n = NIMG, .size = 48, .anomaly_rate = 0.05, .labeled_anomalies = 4, .labeled_normals = 8,
                      .seed = 5};
    ck_assert_msg(am_demo_write(base, &o, 0) == 0, "%s", am_error());
    char v[4][300];
    snprintf(v[0], sizeof v[0], "%s/images", base);
    snprintf(v[1], sizeof v[1], "%s/labels.csv", base);
    snprintf(v[2], sizeof v[2], "%s/truth.csv", base);
    snprintf(v[3], sizeof v[3], "%s/run", base);
    const char *kv[][2] = {
        {"images", v[0]}, {"labels", v[1]}, {"truth", v[2]}, {"out", v[3]}, {"weights", "../weights/lite0.amw"},
        {"size", "32"}, {"batch", "4"}, {"mu", "1"}, {"iters", "2"}, {"cycles", "1"}, {"top", "10"},
        {"score_batch", "64"}, {"seed", "5"}, {"threads", "1"}, {"device", "cpu"},
    };
    static am_config c;
    static am_run r;
    am_config_defaults(&c);
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) ck_assert(!am_config_set(&c, kv[i][0], kv[i][1]));
    am_log_set_level(AM_LOG_ERROR);
    ck_assert_msg(am_run_open(&r, &c, -1, AM_F32) == 0, "%s", am_error());
    ck_assert_msg(am_run_cycle(&r, 1) == 0, "%s", am_error());
    am_run_close(&r);
    am_log_set_level(-1);  // back to AM_LOG's level
}

static void drop_base(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", base);
}

// Each test works on a copy of the run.
static void setup(void) {
    snprintf(tmp, sizeof tmp, "/tmp/am_review_XXXXXX");
    ck_assert(mkdtemp(tmp));
    snprintf(run, sizeof run, "%s/run", tmp);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "cp -a '%s/run' '%s'", base, run);
    ck_assert(system(cmd) == 0);
}

static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    ck_assert(system(cmd) == 0);
}

static const char *in_run(const char *name) {
    static char p[4][300];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", run, name);
    return p[k];
}

// The am_X program a test runs: $AM_X (make asan gives its own build), else ../am_x.
static const char *program(const char *env, const char *fallback) {
    const char *e = getenv(env);
    return e && *e ? e : fallback;
}

// ---- a small HTTP client -----------------------------------------------------------

typedef struct {
    int status;
    char head[4096];
    char *body;
    size_t len;
} resp;

// Sends the raw request and reads the whole answer (the server closes).
static int raw(int port, const char *req, size_t n, resp *r) {
    memset(r, 0, sizeof *r);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a)) {
        if (fd >= 0) close(fd);
        return -1;
    }
    for (size_t sent = 0; sent < n;) {
        ssize_t w = send(fd, req + sent, n - sent, MSG_NOSIGNAL);
        if (w <= 0) break;  // the server may answer (413) and close before the body is sent
        sent += (size_t)w;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    ssize_t got;
    while ((got = recv(fd, buf + len, cap - len, 0)) > 0) {
        len += (size_t)got;
        if (len == cap) buf = realloc(buf, (cap *= 2) + 1);
    }
    close(fd);
    buf[len] = 0;
    char *end = strstr(buf, "\r\n\r\n");
    if (!end || sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1) {
        free(buf);
        return -1;
    }
    snprintf(r->head, sizeof r->head, "%.*s", (int)(end - buf), buf);
    r->len = len - (size_t)(end + 4 - buf);
    r->body = malloc(r->len + 1);
    memcpy(r->body, end + 4, r->len);
    r->body[r->len] = 0;
    free(buf);
    return 0;
}

// METHOD path with the headers given (Host: 127.0.0.1:port unless they name one).
static int http(int port, const char *method, const char *path, const char *headers, resp *r) {
    char req[8192];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\n", method, path);
    if (!headers || !strstr(headers, "Host:")) n += snprintf(req + n, sizeof req - n, "Host: 127.0.0.1:%d\r\n", port);
    n += snprintf(req + n, sizeof req - n, "%sConnection: close\r\nContent-Length: 0\r\n\r\n", headers ? headers : "");
    return raw(port, req, (size_t)n, r);
}

static char token_header[128];

// An API call with the token header; the status checked; the body returned (malloc'd).
static char *api(int port, const char *method, const char *path, int want) {
    resp r;
    ck_assert_msg(http(port, method, path, token_header, &r) == 0, "%s %s: no answer", method, path);
    ck_assert_msg(r.status == want, "%s %s: status %d, not %d: %s", method, path, r.status, want, r.body);
    return r.body;
}

typedef struct {
    am_review rv;
    am_server *s;
    int port;
} served;

static void serve(served *v, double rate, double burst) {
    ck_assert_msg(am_review_open(&v->rv, run, "", program("AM_TRAIN", "../am_train")) == 0, "%s", am_error());
    am_server_opts o;
    am_server_defaults(&o);
    if (rate > 0) o.rate = rate, o.burst = burst;
    v->s = am_server_start(&v->rv, &o);
    ck_assert_msg(v->s != NULL, "%s", am_error());
    v->port = am_server_port(v->s);
    snprintf(token_header, sizeof token_header, "X-AM-Token: %s\r\n", am_server_token(v->s));
}

static void unserve(served *v) {
    am_server_stop(v->s);
    am_review_close(&v->rv);
}

// The value after "key": in a JSON text (a number), or NAN.
static double json_num(const char *j, const char *key) {
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(j, k);
    return p ? strtod(p + strlen(k), NULL) : NAN;
}

// The "i" values of an items reply, in order: their count.
static int item_indices(const char *j, int *out, int cap) {
    int n = 0;
    for (const char *p = strstr(j, "\"items\":["); p && (p = strstr(p, "{\"i\":")) && n < cap; p++)
        out[n++] = atoi(p + 5);
    return n;
}

// ---- labels --------------------------------------------------------------------------

// The labels in force as labeled_data.csv has them, by index of rv's dataset.
static void csv_labels(const am_review *rv, int *lab) {
    am_dataset d = rv->d;
    d.label = lab;
    for (int i = 0; i < d.n; i++) lab[i] = AM_UNLABELLED;
    am_label_stats st;
    ck_assert_msg(am_dataset_apply_labels(&d, in_run("labeled_data.csv"), &st) == 0, "%s", am_error());
}

START_TEST(test_labels_undo) {
    char input[128];
    snprintf(input, sizeof input, "%s/labels.csv", base);
    char *input_labels = test_read_file(input, NULL);
    served v;
    serve(&v, 0, 0);
    int lab[NIMG], before[NIMG];
    csv_labels(&v.rv, before);
    int a = -1, b = -1, c = -1;  // three images without a label
    for (int i = 0; i < NIMG; i++)
        if (before[i] == AM_UNLABELLED) {
            if (a < 0) a = i; else if (b < 0) b = i; else if (c < 0) c = i;
        }
    char p[128];
    snprintf(p, sizeof p, "/api/label?i=%d&label=anomaly", a);
    char *j = api(v.port, "POST", p, 200);
    ck_assert_msg(strstr(j, "\"label\":\"anomaly\""), "%s", j);
    free(j);
    snprintf(p, sizeof p, "/api/label?i=%d&label=normal", b);
    free(api(v.port, "POST", p, 200));
    snprintf(p, sizeof p, "/api/label?i=%d&label=anomaly", c);
    free(api(v.port, "POST", p, 200));
    snprintf(p, sizeof p, "/api/label?i=%d&label=unsure", c);
    free(api(v.port, "POST", p, 200));
    csv_labels(&v.rv, lab);
    ck_assert(lab[a] == AM_ANOMALY && lab[b] == AM_NORMAL && lab[c] == AM_UNLABELLED);
    j = api(v.port, "GET", "/api/items?filter=unsure", 200);
    int idx[8];
    ck_assert_int_eq(item_indices(j, idx, 8), 1);
    ck_assert_int_eq(idx[0], c);
    free(j);
    // Undo: c back to anomaly, then to no label; b's and a's stay.
    j = api(v.port, "POST", "/api/undo", 200);
    ck_assert_msg((int)json_num(j, "i") == c && strstr(j, "\"label\":\"anomaly\""), "%s", j);
    free(j);
    free(api(v.port, "POST", "/api/undo", 200));
    csv_labels(&v.rv, lab);
    ck_assert(lab[a] == AM_ANOMALY && lab[b] == AM_NORMAL && lab[c] == AM_UNLABELLED);
    for (int i = 0; i < NIMG; i++)
        if (i != a && i != b) ck_assert_int_eq(lab[i], before[i]);
    // Bad requests change nothing.
    free(api(v.port, "POST", "/api/label?i=-1&label=anomaly", 404));
    free(api(v.port, "POST", "/api/label?i=1x&label=anomaly", 404));
    snprintf(p, sizeof p, "/api/label?i=%d&label=maybe", a);
    free(api(v.port, "POST", p, 400));
    snprintf(p, sizeof p, "/api/label?i=%d", NIMG);
    free(api(v.port, "POST", p, 404));
    free(api(v.port, "GET", "/api/label", 404));
    free(api(v.port, "PUT", "/api/label", 405));
    unserve(&v);
    // The run opened again: the same labels, and undo goes on where it was.
    serve(&v, 0, 0);
    int again[NIMG];
    memcpy(again, v.rv.d.label, sizeof again);
    ck_assert(!memcmp(again, lab, sizeof lab));
    j = api(v.port, "POST", "/api/undo", 200);
    ck_assert_msg((int)json_num(j, "i") == b, "%s", j);
    free(j);
    unserve(&v);
    // The input labels file is never changed.
    char *now = test_read_file(input, NULL);
    ck_assert_str_eq(now, input_labels);
    free(now);
    free(input_labels);
}
END_TEST

// ---- sorts and filters -------------------------------------------------------------------

// Scores from scores.csv, read here (NAN for images it lacks).
static void read_scores(const am_review *rv, float *s) {
    for (int i = 0; i < rv->d.n; i++) s[i] = NAN;
    char *text = test_read_file(in_run("scores.csv"), NULL), *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *comma = strchr(line, ',');
        if (!comma || !strcmp(line, "Filename,Score")) continue;
        *comma = 0;
        int i = am_dataset_find(&rv->d, line);
        ck_assert(i >= 0);
        s[i] = strtof(comma + 1, NULL);
    }
    free(text);
}

static int cmp_f(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

START_TEST(test_sorts_filters) {
    served v;
    serve(&v, 0, 0);
    float s[NIMG], sorted[NIMG];
    read_scores(&v.rv, s);
    int m = 0;
    double sum = 0;
    for (int i = 0; i < NIMG; i++)
        if (!isnan(s[i])) sum += sorted[m++] = s[i];
    ck_assert(m > 100 && m < NIMG);
    qsort(sorted, (size_t)m, sizeof(float), cmp_f);
    const double mean = sum / m, median = m % 2 ? sorted[m / 2] : 0.5 * ((double)sorted[m / 2 - 1] + sorted[m / 2]);
    static const char *sorts[] = {"anomalous", "nominal", "uncertain", "mean", "median"};
    for (int k = 0; k < 5; k++) {
        char p[128];
        snprintf(p, sizeof p, "/api/items?sort=%s&limit=500", sorts[k]);
        char *j = api(v.port, "GET", p, 200);
        int idx[NIMG + 1], n = item_indices(j, idx, NIMG + 1);
        free(j);
        ck_assert_int_eq(n, NIMG);
        char seen[NIMG] = {0};
        for (int r = 0; r < n; r++) {
            ck_assert(!seen[idx[r]]);
            seen[idx[r]] = 1;
        }
        double prev = -INFINITY;
        for (int r = 0; r < m; r++) {
            double x = s[idx[r]];
            ck_assert_msg(!isnan(x), "%s: an image without a score before a scored one", sorts[k]);
            double key = k == 0 ? -x : k == 1 ? x : k == 2 ? fabs(x - 0.5) : k == 3 ? fabs(x - mean) : fabs(x - median);
            ck_assert_msg(key >= prev - 1e-6, "%s: rank %d is out of order (%g after %g)", sorts[k], r, key, prev);
            prev = key;
        }
        for (int r = m; r < n; r++) ck_assert(isnan(s[idx[r]]));
        // Pages are slices of the whole order.
        snprintf(p, sizeof p, "/api/items?sort=%s&offset=37&limit=20", sorts[k]);
        j = api(v.port, "GET", p, 200);
        int page[32];
        ck_assert_int_eq(item_indices(j, page, 32), 20);
        ck_assert_int_eq((int)json_num(j, "total"), NIMG);
        ck_assert(!memcmp(page, idx + 37, sizeof(int) * 20));
        free(j);
    }
    // Random: a permutation, the same for one seed, another for another.
    int r1[NIMG], r2[NIMG], r3[NIMG];
    char *j = api(v.port, "GET", "/api/items?sort=random&seed=3&limit=500", 200);
    ck_assert_int_eq(item_indices(j, r1, NIMG), NIMG);
    free(j);
    j = api(v.port, "GET", "/api/items?sort=random&seed=3&limit=500", 200);
    item_indices(j, r2, NIMG);
    free(j);
    j = api(v.port, "GET", "/api/items?sort=random&seed=4&limit=500", 200);
    item_indices(j, r3, NIMG);
    free(j);
    ck_assert(!memcmp(r1, r2, sizeof r1) && memcmp(r1, r3, sizeof r1));
    // Filters: each state's images exactly.
    char p[128];
    snprintf(p, sizeof p, "/api/label?i=%d&label=unsure", r1[0]);
    free(api(v.port, "POST", p, 200));
    snprintf(p, sizeof p, "/api/remember?i=%d&on=1", r1[1]);
    free(api(v.port, "POST", p, 200));
    static const char *filters[] = {"none", "anomaly", "normal", "unsure", "labelled", "remembered"};
    int total = 0;
    for (int k = 0; k < 6; k++) {
        snprintf(p, sizeof p, "/api/items?filter=%s&limit=500", filters[k]);
        j = api(v.port, "GET", p, 200);
        int idx[NIMG], n = item_indices(j, idx, NIMG);
        free(j);
        for (int r = 0; r < n; r++) {
            int i = idx[r], l = v.rv.d.label[i], u = v.rv.book.unsure[i];
            int ok = k == 0 ? l == AM_UNLABELLED && !u : k == 1 ? l == AM_ANOMALY : k == 2 ? l == AM_NORMAL
                   : k == 3 ? u : k == 4 ? l != AM_UNLABELLED || u : v.rv.remember[i];
            ck_assert_msg(ok, "filter %s gave image %d", filters[k], i);
        }
        if (k < 4) total += n;
        if (k == 3) ck_assert(n == 1 && idx[0] == r1[0]);
        if (k == 5) ck_assert(n == 1 && idx[0] == r1[1]);
    }
    ck_assert_int_eq(total, NIMG);
    j = api(v.port, "GET", "/api/remember.csv", 200);
    ck_assert_msg(!strncmp(j, "filename,score,label\n", 21) && strstr(j, v.rv.d.names[r1[1]]), "%s", j);
    free(j);
    j = test_read_file(in_run("remember.csv"), NULL);
    ck_assert(strstr(j, v.rv.d.names[r1[1]]));
    free(j);
    free(api(v.port, "GET", "/api/items?sort=best", 400));
    free(api(v.port, "GET", "/api/items?filter=odd", 400));
    unserve(&v);
}
END_TEST

// ---- images, histogram, curves ---------------------------------------------------------------

START_TEST(test_images_hist_curves) {
    served v;
    serve(&v, 0, 0);
    for (int i = 0; i < 3; i++) {
        char p[64], file[300];
        snprintf(p, sizeof p, "/api/image?i=%d", 7 * i);
        resp r;
        ck_assert(http(v.port, "GET", p, token_header, &r) == 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert(strstr(r.head, "Content-Type: image/png"));
        snprintf(file, sizeof file, "%s/served.png", tmp);
        FILE *f = fopen(file, "wb");
        fwrite(r.body, 1, r.len, f);
        fclose(f);
        free(r.body);
        // At its own size, and the source's gray pixels in each channel.
        int w, h, sw, sh;
        uint8_t *got = am_png_read(file, 3, &w, &h), *src = am_png_read(v.rv.d.paths[7 * i], 1, &sw, &sh);
        ck_assert(got && src && w == 48 && h == 48 && sw == 48 && sh == 48);
        for (int k = 0; k < w * h * 3; k++) ck_assert_int_eq(got[k], src[k / 3]);
        free(got);
        free(src);
    }
    free(api(v.port, "GET", "/api/image?i=99999", 404));
    free(api(v.port, "GET", "/api/image?i=3&stretch=asinh", 400));  // PNG runs show their images as they are
    // The histogram counts every scored image once.
    char *j = api(v.port, "GET", "/api/hist?bins=10", 200);
    int total = 0, n = 0;
    static const char *states[] = {"\"anomaly\":[", "\"normal\":[", "\"unsure\":[", "\"none\":["};
    for (int k = 0; k < 4; k++) {
        const char *p = strstr(j, states[k]);
        ck_assert(p);
        for (p = strchr(p, '['); *p != ']'; n++) {
            char *end;
            total += (int)strtol(p + 1, &end, 10);
            p = end;
        }
    }
    ck_assert_int_eq(n, 40);
    ck_assert_int_eq(total, v.rv.nscored);
    free(j);
    // The curves' AUROC is am_train's for the same pool (metrics.json).
    j = api(v.port, "GET", "/api/curves", 200);
    char *m = test_read_file(in_run("metrics.json"), NULL);
    ck_assert_msg(fabs(json_num(j, "auroc") - json_num(m, "auroc")) < 1e-5, "%g vs %g", json_num(j, "auroc"),
                  json_num(m, "auroc"));
    free(j);
    free(m);
    unserve(&v);
}
END_TEST

// ---- security ---------------------------------------------------------------------------------

START_TEST(test_security) {
    served v;
    serve(&v, 0, 0);
    const int port = v.port;
    const char *tok = am_server_token(v.s);
    resp r;
    char h[512], p[256];
    // The token: the URL's sets the cookie; none or a wrong one is refused.
    snprintf(p, sizeof p, "/?t=%s", tok);
    ck_assert(http(port, "GET", p, NULL, &r) == 0 && r.status == 303);
    char cookie[160];
    snprintf(cookie, sizeof cookie, "am_token_%d=%s", port, tok);
    ck_assert_msg(strstr(r.head, cookie) && strstr(r.head, "HttpOnly"), "%s", r.head);
    free(r.body);
    ck_assert(http(port, "GET", "/?t=00", NULL, &r) == 0 && r.status == 403);
    free(r.body);
    ck_assert(http(port, "GET", "/", NULL, &r) == 0 && r.status == 403);
    free(r.body);
    ck_assert(http(port, "GET", "/api/run", "X-AM-Token: 0123\r\n", &r) == 0 && r.status == 403);
    free(r.body);
    snprintf(h, sizeof h, "Cookie: %s\r\n", cookie);
    ck_assert(http(port, "GET", "/", h, &r) == 0 && r.status == 200);
    ck_assert_msg(strstr(r.body, tok) && !strstr(r.body, "{{TOKEN}}"), "the page has no token");
    free(r.body);
    ck_assert(http(port, "GET", "/review.js", h, &r) == 0 && r.status == 200);
    free(r.body);
    // A POST needs the header: the cookie alone (another site's form) is refused.
    ck_assert(http(port, "POST", "/api/label?i=1&label=anomaly", h, &r) == 0 && r.status == 403);
    free(r.body);
    // Another Host (DNS rebinding), or none, is refused even with the token.
    snprintf(h, sizeof h, "Host: evil.example:%d\r\n%s", port, token_header);
    ck_assert(http(port, "GET", "/api/run", h, &r) == 0 && r.status == 403);
    free(r.body);
    snprintf(h, sizeof h, "Host: localhost:%d\r\n%s", port, token_header);
    ck_assert(http(port, "GET", "/api/run", h, &r) == 0 && r.status == 200);
    free(r.body);
    char req[512];
    int n = snprintf(req, sizeof req, "GET /api/run HTTP/1.0\r\n%s\r\n", token_header);
    ck_assert(raw(port, req, (size_t)n, &r) == 0 && r.status >= 400);
    free(r.body);
    // No path from a client is opened: traversal, encoded, absolute, a symlink in the run.
    ck_assert(symlink("/etc/passwd", in_run("passwd")) == 0);
    const char *paths[] = {"/../../../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2f..%2fetc%2fpasswd",
                           "//etc/passwd", "/etc/passwd", "/passwd", "/api/../passwd", "/api/passwd",
                           "/review.js/../../passwd", "/api/image?i=../../../etc/passwd", "/api/image?i=/etc/passwd",
                           "/api/image?i=%2Fetc%2Fpasswd", "/config.txt", "/api/config.txt", "/labels.log",
                           "/%00/etc/passwd"};
    for (size_t k = 0; k < sizeof paths / sizeof paths[0]; k++) {
        ck_assert(http(port, "GET", paths[k], token_header, &r) == 0);
        ck_assert_msg(r.status == 404 || r.status == 400, "%s: status %d", paths[k], r.status);
        ck_assert_msg(!strstr(r.body, "root:") && !strstr(r.body, "images ="), "%s: a file's bytes came back", paths[k]);
        free(r.body);
    }
    // Bodies over 4 KiB: declared, or sent chunked.
    n = snprintf(req, sizeof req, "POST /api/undo HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%sContent-Length: 100000\r\n\r\n",
                 port, token_header);
    ck_assert(raw(port, req, (size_t)n, &r) == 0 && r.status == 413);
    free(r.body);
    char *big = malloc(20000);
    n = snprintf(big, 20000, "POST /api/undo HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%sConnection: close\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n",
                 port, token_header);
    for (int c = 0; c < 3; c++) {
        n += sprintf(big + n, "1000\r\n");
        memset(big + n, 'x', 4096);
        n += 4096;
        n += sprintf(big + n, "\r\n");
    }
    n += sprintf(big + n, "0\r\n\r\n");
    ck_assert(raw(port, big, (size_t)n, &r) == 0);
    ck_assert_msg(r.status == 413, "chunked body: status %d", r.status);
    free(r.body);
    free(big);
    ck_assert_int_eq(v.rv.book.changes, 0);  // nothing above changed a label
    unserve(&v);
    // The rate limit: a bucket of 3 and a slow refill.
    serve(&v, 0.01, 3);
    for (int k = 0; k < 4; k++) {
        ck_assert(http(v.port, "GET", "/api/run", token_header, &r) == 0);
        ck_assert_int_eq(r.status, k < 3 ? 200 : 429);
        free(r.body);
    }
    unserve(&v);
}
END_TEST

// ---- 200 label posts at once ----------------------------------------------------------------------

typedef struct {
    int port, i, status;
} post_arg;

static void *post_label(void *p) {
    post_arg *a = p;
    char path[96];
    snprintf(path, sizeof path, "/api/label?i=%d&label=%s", a->i, a->i % 3 ? "normal" : "anomaly");
    resp r;
    a->status = http(a->port, "POST", path, token_header, &r) ? -1 : r.status;
    if (a->status >= 0) free(r.body);
    return NULL;
}

START_TEST(test_concurrent_posts) {
    served v;
    serve(&v, 0, 0);
    enum { K = 200 };
    pthread_t th[K];
    post_arg a[K];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int k = 0; k < K; k++) {
        a[k] = (post_arg){v.port, k + 20, 0};
        ck_assert(pthread_create(&th[k], NULL, post_label, &a[k]) == 0);
    }
    for (int k = 0; k < K; k++) pthread_join(th[k], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double sec = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    for (int k = 0; k < K; k++) ck_assert_msg(a[k].status == 200, "post %d: status %d", k, a[k].status);
    ck_assert_msg(sec < 60, "200 posts took %.1f s", sec);
    int lab[NIMG];
    csv_labels(&v.rv, lab);
    for (int k = 0; k < K; k++) {
        int i = k + 20;
        ck_assert_msg(lab[i] == (i % 3 ? AM_NORMAL : AM_ANOMALY), "image %d lost its label", i);
    }
    ck_assert_int_eq(v.rv.book.changes, K);
    unserve(&v);
}
END_TEST

// ---- kill -9 while saving ------------------------------------------------------------------------------

// Starts am_review on the run; its port and token read from its first lines.
static pid_t start_program(int *port, char *tok) {
    int fds[2];
    ck_assert(pipe(fds) == 0);
    pid_t p = fork();
    ck_assert(p >= 0);
    if (!p) {
        dup2(fds[1], 1);
        close(fds[0]);
        execl(program("AM_REVIEW", "../am_review"), "am_review", run, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char line[512];
    *port = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "open http://127.0.0.1:%d/?t=%64s", port, tok) == 2) break;
    fclose(f);
    ck_assert_msg(*port > 0, "am_review printed no URL");
    return p;
}

START_TEST(test_kill9) {
    srand(11);
    int acked_total = 0, pool[NIMG];
    char used[NIMG] = {0};
    {
        served v;
        serve(&v, 0, 0);
        memcpy(pool, v.rv.d.label, sizeof pool);
        unserve(&v);
    }
    for (int round = 0; round < 5; round++) {
        int port;
        char tok[80];
        pid_t p = start_program(&port, tok);
        snprintf(token_header, sizeof token_header, "X-AM-Token: %s\r\n", tok);
        // Labels posted one after another on images without one; the kill
        // lands during one of them.
        const int kill_after = 3 + rand() % 20;
        int img[30];
        for (int i = 0, k = 0; k < 30; i++) {
            ck_assert(i < NIMG);
            if (pool[i] == AM_UNLABELLED && !used[i]) img[k++] = i, used[i] = 1;
        }
        int acked = 0;
        for (int k = 0; k < 30; k++) {
            if (k == kill_after) {
                char path[96];
                snprintf(path, sizeof path, "/api/label?i=%d&label=anomaly", img[k]);
                char req[512];
                int n = snprintf(req, sizeof req, "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%sContent-Length: 0\r\n\r\n",
                                 path, port, token_header);
                int fd = socket(AF_INET, SOCK_STREAM, 0);
                struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
                a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                ck_assert(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
                ck_assert(send(fd, req, (size_t)n, MSG_NOSIGNAL) == n);
                usleep((useconds_t)(rand() % 3000));
                kill(p, SIGKILL);
                close(fd);
                break;
            }
            char path[96];
            snprintf(path, sizeof path, "/api/label?i=%d&label=anomaly", img[k]);
            free(api(port, "POST", path, 200));
            acked++;
        }
        int st;
        waitpid(p, &st, 0);
        ck_assert(WIFSIGNALED(st));
        // Reopened: every acknowledged label is there; of the one being
        // saved, all or nothing; the images after it have none.
        served v;
        serve(&v, 0, 0);
        for (int k = 0; k < 30; k++) {
            int l = v.rv.d.label[img[k]];
            if (k < acked) ck_assert_msg(l == AM_ANOMALY, "round %d: acknowledged label %d lost", round, k);
            if (k > acked) ck_assert_int_eq(l, AM_UNLABELLED);
        }
        int lab[NIMG];
        csv_labels(&v.rv, lab);
        ck_assert(!memcmp(lab, v.rv.d.label, sizeof lab));
        acked_total += acked;
        unserve(&v);
    }
    ck_assert(acked_total > 0);
}
END_TEST

// ---- retrain ------------------------------------------------------------------------------------------

static char *wait_retrain(int port) {
    for (int t = 0; t < 1200; t++) {
        char *j = api(port, "GET", "/api/retrain", 200);
        if (!strstr(j, "\"state\":\"running\"")) return j;
        free(j);
        usleep(100000);
    }
    ck_abort_msg("the retrain did not end in 120 s");
    return NULL;
}

START_TEST(test_retrain) {
    served v;
    serve(&v, 0, 0);
    char *before = test_read_file(in_run("scores.csv"), NULL);
    const int cycle = v.rv.cycle, unscored = NIMG - v.rv.nscored;
    char p[96];
    // Two new labels; one image marked unsure loses the label it had.
    int labelled = -1;
    for (int i = 0; i < NIMG && labelled < 0; i++)
        if (v.rv.d.label[i] == AM_NORMAL) labelled = i;
    snprintf(p, sizeof p, "/api/label?i=%d&label=unsure", labelled);
    free(api(v.port, "POST", p, 200));
    int fresh[3], nf = 0;
    for (int i = 0; i < NIMG && nf < 3; i++)
        if (v.rv.d.label[i] == AM_UNLABELLED && !v.rv.book.unsure[i]) fresh[nf++] = i;
    for (int k = 0; k < 2; k++) {
        snprintf(p, sizeof p, "/api/label?i=%d&label=%s", fresh[k], k ? "normal" : "anomaly");
        free(api(v.port, "POST", p, 200));
    }
    free(api(v.port, "POST", "/api/retrain", 202));
    free(api(v.port, "POST", "/api/retrain", 409));
    // A label while it runs is kept (am_train rewrites labeled_data.csv from its snapshot).
    snprintf(p, sizeof p, "/api/label?i=%d&label=anomaly", fresh[2]);
    free(api(v.port, "POST", p, 200));
    char *j = wait_retrain(v.port);
    ck_assert_msg(strstr(j, "\"state\":\"done\"") && (int)json_num(j, "generation") == 1, "%s", j);
    ck_assert_int_eq((int)json_num(j, "percent"), 100);
    ck_assert_int_eq((int)json_num(j, "cycle"), cycle + 1);
    free(j);
    char *after = test_read_file(in_run("scores.csv"), NULL);
    ck_assert_msg(strcmp(before, after), "scores.csv did not change");
    free(before);
    free(after);
    // The child trained on the snapshot: the unsure image and the two new labels.
    char *snap = test_read_file(in_run("review_labels.csv"), NULL);
    ck_assert(!strstr(snap, v.rv.d.names[labelled]) && strstr(snap, v.rv.d.names[fresh[0]]));
    free(snap);
    // Its pool: the images unlabelled at the snapshot (the unsure one back in it).
    ck_assert_int_eq(v.rv.nscored, NIMG - unscored - 1);
    int lab[NIMG];
    csv_labels(&v.rv, lab);
    ck_assert(lab[fresh[0]] == AM_ANOMALY && lab[fresh[1]] == AM_NORMAL && lab[fresh[2]] == AM_ANOMALY);
    ck_assert(lab[labelled] == AM_UNLABELLED);
    j = api(v.port, "GET", "/api/run", 200);
    ck_assert_int_eq((int)json_num(j, "generation"), 1);
    free(j);
    char *log = test_read_file(in_run("retrain.log"), NULL);
    ck_assert_msg(strstr(log, "the retrain finished"), "%s", log);
    free(log);
    unserve(&v);
}
END_TEST

// ---- a FITS run: every stretch, rendered from the source data ------------------------------

// GET path as RGB pixels (w x h), or NULL with the status in *status.
static uint8_t *get_png(int port, const char *path, int *w, int *h) {
    resp r;
    ck_assert(http(port, "GET", path, token_header, &r) == 0);
    ck_assert_msg(r.status == 200, "%s: status %d: %s", path, r.status, r.body);
    char file[300];
    snprintf(file, sizeof file, "%s/got.png", tmp);
    FILE *f = fopen(file, "wb");
    fwrite(r.body, 1, r.len, f);
    fclose(f);
    free(r.body);
    uint8_t *px = am_png_read(file, 3, w, h);
    ck_assert(px);
    return px;
}

START_TEST(test_fits_stretches) {
    char data[128];
    snprintf(data, sizeof data, "%s/fits", tmp);
    am_demo_opts o = {.look = AM_DEMO_LOOK, .n = 24, .size = 160, .anomaly_rate = 0.1, .labeled_anomalies = 2, .labeled_normals = 4,
                      .seed = 3, .fits = 1};
    ck_assert_msg(am_demo_write(data, &o, 0) == 0, "%s", am_error());
    char v[3][300];
    snprintf(v[0], sizeof v[0], "%s/images", data);
    snprintf(v[1], sizeof v[1], "%s/labels.csv", data);
    snprintf(run, sizeof run, "%s/fits_run", tmp);
    const char *kv[][2] = {
        {"images", v[0]}, {"labels", v[1]}, {"out", run}, {"weights", "../weights/lite0.amw"}, {"size", "32"},
        {"batch", "2"}, {"mu", "1"}, {"iters", "1"}, {"seed", "5"}, {"threads", "1"}, {"device", "cpu"},
        {"stretch", "asinh"}, {"fits_ext", "G,R"}, {"combine", "1,0;0.5,0.5;0,1"},
    };
    static am_config c;
    static am_run r;
    am_config_defaults(&c);
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) ck_assert(!am_config_set(&c, kv[i][0], kv[i][1]));
    ck_assert_msg(am_run_open(&r, &c, -1, AM_F32) == 0, "%s", am_error());
    ck_assert_msg(am_run_cycle(&r, 1) == 0, "%s", am_error());
    am_preprocess pre = r.pre;
    am_run_close(&r);
    served sv;
    serve(&sv, 0, 0);
    char *j = api(sv.port, "GET", "/api/run", 200);
    ck_assert_msg(strstr(j, "\"fits\":true") && strstr(j, "\"stretch\":\"asinh\"") && strstr(j, "\"zscale\""), "%s", j);
    free(j);
    // Each stretch at the image's own size and as a thumbnail: the bytes the
    // inputs module gives at that size, with that stretch.
    static const char *stretches[] = {"linear", "log", "asinh", "zscale"};
    uint8_t *first = NULL;
    for (int k = 0; k < 4; k++)
        for (int thumb = 0; thumb < 2; thumb++) {
            char path[128];
            snprintf(path, sizeof path, "/api/image?i=5&stretch=%s%s", stretches[k], thumb ? "&thumb=1" : "");
            int w, h;
            uint8_t *got = get_png(sv.port, path, &w, &h);
            const int side = thumb ? 128 : 160;
            ck_assert_msg(w == side && h == side, "%s: %d x %d", path, w, h);
            am_preprocess p = pre;
            p.size = side;
            p.stretch.kind = am_stretch_parse(stretches[k]);
            uint8_t *want = malloc((size_t)side * side * 3);
            ck_assert_msg(am_input_load(want, sv.rv.d.paths[5], &p) == 0, "%s", am_error());
            ck_assert_msg(!memcmp(got, want, (size_t)side * side * 3), "%s: not the inputs module's image", path);
            free(want);
            if (!thumb && !first) first = got;
            else {
                if (!thumb) ck_assert_msg(memcmp(got, first, (size_t)side * side * 3), "%s: the stretch changed nothing", path);
                free(got);
            }
        }
    free(first);
    free(api(sv.port, "GET", "/api/image?i=5&stretch=cubic", 400));
    unserve(&sv);
}
END_TEST

Suite *suite_review(void) {
    Suite *s = suite_create("review");
    TCase *tc = tcase_create("http");
    tcase_add_unchecked_fixture(tc, make_base, drop_base);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_labels_undo);
    tcase_add_test(tc, test_sorts_filters);
    tcase_add_test(tc, test_images_hist_curves);
    tcase_add_test(tc, test_security);
    tcase_add_test(tc, test_concurrent_posts);
    tcase_add_test(tc, test_kill9);
    tcase_add_test(tc, test_retrain);
    tcase_add_test(tc, test_fits_stretches);
    suite_add_tcase(s, tc);
    return s;
}
