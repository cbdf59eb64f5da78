// am_infer merge (am/infer.h): the complete shards of one run into one result.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "am/dataset.h"
#include "am/error.h"
#include "am/files.h"
#include "am/infer.h"
#include "am/topk.h"

typedef struct {
    const char *dir;
    char *manifest, *summary;
    int shard, nshards, top;
    am_preprocess pre;
} shard_info;

// The number after "key": in a summary.json (0 when absent).
static double json_num(const char *text, const char *key) {
    char k[64];
    snprintf(k, sizeof k, "\"%s\": ", key);
    const char *p = strstr(text, k);
    return p ? strtod(p + strlen(k), NULL) : 0;
}

// The manifest's lines other than the shard's (the run's identity).
static int same_run(const char *a, const char *b) {
    for (;;) {
        size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
        int sa = !strncmp(a, "shard = ", 8), sb = !strncmp(b, "shard = ", 8);
        if (sa != sb || (!sa && (la != lb || strncmp(a, b, la)))) return 0;
        if (!a[la] || !b[lb]) return !a[la] && !b[lb];
        a += la + 1;
        b += lb + 1;
    }
}

static int read_shard(shard_info *s, const char *dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/manifest.txt", dir);
    s->manifest = am_file_read(path, NULL);
    if (!s->manifest) return am_seterr("'%s' is not an am_infer output folder (no manifest.txt: %s)", dir, strerror(errno));
    const char *p = strstr(s->manifest, "\nshard = ");
    if (!p || sscanf(p, "\nshard = %d/%d", &s->shard, &s->nshards) != 2)
        return am_seterr("'%s': manifest.txt has no shard line: the folder is damaged", dir);
    // The preprocessing: the lines from size to the one before recursive.
    p = strstr(s->manifest, "\nsize = ");
    const char *q = p ? strstr(p, "\nrecursive = ") : NULL;
    if (!q) return am_seterr("'%s': manifest.txt has no preprocessing: the folder is damaged", dir);
    char *text = strndup(p + 1, (size_t)(q - p));
    AM_CHECK(text != NULL, "out of memory");
    int bad = am_preprocess_parse(&s->pre, text, path);
    free(text);
    if (bad) return -1;
    p = strstr(s->manifest, "\ntop = ");
    if (p) sscanf(p, "\ntop = %d", &s->top);
    snprintf(path, sizeof path, "%s/summary.json", dir);
    s->summary = am_file_read(path, NULL);
    if (!s->summary || !strstr(s->summary, "\"complete\": true"))
        return am_seterr("shard %d/%d in '%s' is not complete: run its am_infer command again (it continues where it "
                         "stopped), then merge", s->shard, s->nshards, dir);
    return 0;
}

// Appends file path without its header line to f.
static int append_rows(FILE *f, const char *path, const char *out) {
    FILE *in = fopen(path, "rb");
    if (!in) return am_seterr("cannot read '%s': %s", path, strerror(errno));
    int c;
    while ((c = getc(in)) != EOF && c != '\n') {}
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, f) != n) { fclose(in); return am_seterr("cannot write '%s': %s", out, strerror(errno)); }
    int bad = ferror(in);
    fclose(in);
    return bad ? am_seterr("cannot read '%s': %s", path, strerror(errno)) : 0;
}

// out/name: the header, then every shard's rows in shard order; atomic.
static int concat(const char *out, const char *name, const char *header, shard_info *const *by, int n) {
    char path[4200], tmp[4300], src[4200];
    snprintf(path, sizeof path, "%s/%s", out, name);
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return am_seterr("cannot write '%s': %s", tmp, strerror(errno));
    int rc = fputs(header, f) < 0 ? am_seterr("cannot write '%s': %s", tmp, strerror(errno)) : 0;
    for (int i = 0; i < n && !rc; i++) {
        snprintf(src, sizeof src, "%s/%s", by[i]->dir, name);
        rc = append_rows(f, src, tmp);
    }
    if (!rc && (fflush(f) || fsync(fileno(f)))) rc = am_seterr("cannot write '%s': %s", tmp, strerror(errno));
    if (fclose(f) && !rc) rc = am_seterr("cannot write '%s': %s", tmp, strerror(errno));
    if (!rc && rename(tmp, path)) rc = am_seterr("cannot write '%s': %s", path, strerror(errno));
    if (rc) unlink(tmp);
    return rc;
}

// Each shard's top candidates into one top K (ties: shard order, then row).
static int merge_top(const char *out, shard_info *const *by, int n) {
    am_topk top;
    int rc = 0;
    am_topk_init(&top, by[0]->top);
    for (int s = 0; s < n && !rc; s++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/top_candidates.csv", by[s]->dir);
        char *text = am_csv_read_file(path, "top candidates file");
        if (!text) { rc = -1; break; }
        char *f = AM_MALLOC(strlen(text) + 2);
        const char *p = text;
        int line = 1, nf, got;
        for (uint64_t row = 0; (got = am_csv_row(&p, f, &nf, &line, NULL, path)) == 1; row++) {
            if (row == 0) continue;  // the header
            if (nf != 3) { rc = am_seterr("%s:%d: expected Filename,Score,Source", path, line - 1); break; }
            const char *score = f + strlen(f) + 1, *source = score + strlen(score) + 1;
            am_topk_push(&top, strtof(score, NULL), (uint64_t)s << 40 | row, f, source);
        }
        if (got < 0) rc = -1;
        free(f);
        free(text);
    }
    if (!rc) {
        int m;
        am_cand *c = am_topk_sorted(&top, &m);
        rc = am_topk_write(out, c, m, &by[0]->pre);
        am_topk_free_sorted(c, m);
    }
    am_topk_free(&top);
    return rc;
}

static int merge_steps(const char *out, shard_info *s, int n, shard_info **by) {
    for (int i = 0; i < n; i++)
        if (read_shard(&s[i], s[i].dir)) return -1;
    int N = s[0].nshards;
    if (n != N)
        return am_seterr("%d folders given, but the run has %d shards (from '%s'): give every shard's folder once", n,
                         N, s[0].dir);
    for (int i = 0; i < n; i++) {
        if (s[i].nshards != N || !same_run(s[0].manifest, s[i].manifest))
            return am_seterr("'%s' and '%s' are not shards of one run (their manifests differ: another model, "
                             "sources or settings)", s[0].dir, s[i].dir);
        if (s[i].shard < 0 || s[i].shard >= N || by[s[i].shard])
            return am_seterr("shard %d/%d appears twice ('%s' and '%s'): give each shard once", s[i].shard, N,
                             by[s[i].shard] ? by[s[i].shard]->dir : "?", s[i].dir);
        by[s[i].shard] = &s[i];
    }
    if (am_mkdir_p(out)) return -1;
    if (concat(out, "scores.csv", "Filename,Score\n", by, n) || concat(out, "skipped.csv", "path,reason\n", by, n) ||
        merge_top(out, by, n))
        return -1;
    double sum[5] = {0};
    static const char *keys[5] = {"images", "scored", "skipped", "excluded", "wall_seconds"};
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 5; k++) sum[k] += json_num(s[i].summary, keys[k]);
    char text[1024], path[4200];
    const char *crc = strstr(s[0].manifest, "model_crc32 = ");
    int len = snprintf(text, sizeof text,
                       "{\"complete\": true, \"shards\": %d, \"images\": %.0f, \"scored\": %.0f, \"skipped\": %.0f, "
                       "\"excluded\": %.0f, \"shard_seconds\": %.3f, \"images_per_shard_second\": %.1f, "
                       "\"model_crc32\": \"%.8s\"}\n", N, sum[0], sum[1], sum[2], sum[3], sum[4],
                       sum[4] > 0 ? sum[0] / sum[4] : 0.0, crc ? crc + 14 : "");
    snprintf(path, sizeof path, "%s/summary.json", out);
    if (am_file_write_atomic(path, text, (size_t)len)) return -1;
    printf("am_infer merge: %d shards, %.0f images (%.0f scored, %.0f skipped); results in %s/\n", N, sum[0], sum[1],
           sum[2], out);
    return 0;
}

int am_infer_merge(const char *out, char *const *dirs, int n) {
    if (n < 1) return am_seterr("merge: give the shards' output folders");
    shard_info *s = AM_CALLOC(sizeof(shard_info) * (size_t)n);
    shard_info **by = AM_CALLOC(sizeof(shard_info *) * (size_t)n);
    for (int i = 0; i < n; i++) s[i].dir = dirs[i];
    int rc = merge_steps(out, s, n, by);
    for (int i = 0; i < n; i++) {
        free(s[i].manifest);
        free(s[i].summary);
    }
    free(s);
    free(by);
    return rc;
}
