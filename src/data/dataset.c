#include "am/dataset.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "am/error.h"
#include "am/log.h"

typedef struct { char **v; int n, cap; } strvec;

static void push(strvec *s, const char *p) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        char **v = realloc(s->v, sizeof(char *) * s->cap);
        AM_CHECK(v != NULL, "out of memory listing images");
        s->v = v;
    }
    s->v[s->n++] = strdup(p);
}

static int is_image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

static int walk(strvec *out, const char *dir, int recursive) {
    DIR *dp = opendir(dir);
    if (!dp) return am_seterr("cannot read directory '%s': %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st)) continue;
        if (S_ISDIR(st.st_mode)) {
            if (recursive && walk(out, path, 1)) { closedir(dp); return -1; }
        } else if (is_image_name(e->d_name)) {
            push(out, path);
        }
    }
    closedir(dp);
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int am_dataset_list(am_dataset *d, const char *source, int recursive) {
    memset(d, 0, sizeof *d);
    strvec v = {0};
    struct stat st;
    if (stat(source, &st)) return am_seterr("cannot find '%s': %s", source, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        if (walk(&v, source, recursive)) goto fail;
    } else {
        FILE *f = fopen(source, "r");
        if (!f) return am_seterr("cannot open file list '%s': %s", source, strerror(errno));
        char line[4096];
        while (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\r\n")] = 0;
            const char *q = line;  // blank, whitespace-only and comment lines are skipped
            while (isspace((unsigned char)*q)) q++;
            if (*q && *q != '#') push(&v, line);
        }
        fclose(f);
    }
    if (v.n == 0) {
        am_seterr("no images (.png, .jpg, .jpeg) in '%s'%s", source,
                  S_ISDIR(st.st_mode) && !recursive ? " (use --recursive for subdirectories)" : "");
        goto fail;
    }
    qsort(v.v, (size_t)v.n, sizeof(char *), cmp_str);
    d->n = v.n;
    d->paths = v.v;
    d->names = AM_MALLOC(sizeof(char *) * v.n);
    d->label = AM_MALLOC(sizeof(int) * v.n);
    for (int i = 0; i < v.n; i++) {
        const char *slash = strrchr(v.v[i], '/');
        d->names[i] = slash ? slash + 1 : v.v[i];
        d->label[i] = AM_UNLABELLED;
    }
    return 0;
fail:
    for (int i = 0; i < v.n; i++) free(v.v[i]);
    free(v.v);
    return -1;
}

void am_dataset_free(am_dataset *d) {
    for (int i = 0; i < d->n; i++) free(d->paths[i]);
    free(d->paths);
    free(d->names);
    free(d->label);
    memset(d, 0, sizeof *d);
}

static int cmp_name(const void *a, const void *b, void *ctx) {
    const am_dataset *d = ctx;
    return strcmp(d->names[*(const int *)a], d->names[*(const int *)b]);
}

int am_dataset_find(const am_dataset *d, const char *name) {
    for (int i = 0; i < d->n; i++)
        if (!strcmp(d->names[i], name)) return i;
    return -1;
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

// A field: trimmed, then one pair of surrounding double quotes removed.
static char *field(char *s) {
    s = trim(s);
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') { s[n - 1] = 0; s++; }
    return s;
}

int am_dataset_apply_labels(am_dataset *d, const char *csv, am_label_stats *st) {
    memset(st, 0, sizeof *st);
    FILE *f = fopen(csv, "r");
    if (!f) return am_seterr("cannot open labels file '%s': %s", csv, strerror(errno));
    // Sorted index of basenames for matching.
    int *order = AM_MALLOC(sizeof(int) * (d->n ? d->n : 1));
    for (int i = 0; i < d->n; i++) order[i] = i;
    qsort_r(order, (size_t)d->n, sizeof(int), cmp_name, d);
    char *seen = AM_CALLOC((size_t)d->n + 1);
    char line[8192];
    int lineno = 0, rc = 0, first_row = 1;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        // A spreadsheet's UTF-8 byte-order mark.
        char *p = trim(lineno == 1 && !strncmp(line, "\xEF\xBB\xBF", 3) ? line + 3 : line);
        if (!*p || *p == '#') continue;
        char *comma = strchr(p, ',');
        if (!comma) { rc = am_seterr("%s:%d: expected 'filename,label', got '%s'", csv, lineno, p); break; }
        *comma = 0;
        char *name = field(p), *label = comma + 1;
        char *next = strchr(label, ',');
        if (next) *next = 0;
        label = field(label);
        // The header, if any, is the first row (after comments and blank lines).
        int header = first_row && !strcasecmp(name, "filename");
        first_row = 0;
        if (header) continue;
        int lab;
        if (!strcasecmp(label, "normal")) lab = AM_NORMAL;
        else if (!strcasecmp(label, "anomaly")) lab = AM_ANOMALY;
        else { rc = am_seterr("%s:%d: unknown label '%s' for '%s' (expected normal or anomaly)", csv, lineno, label, name); break; }
        st->rows++;
        const char *base = strrchr(name, '/');
        base = base ? base + 1 : name;
        int lo = 0, hi = d->n - 1, hit = -1;
        while (lo <= hi) {
            int mid = (lo + hi) / 2, c = strcmp(d->names[order[mid]], base);
            if (!c) { hit = order[mid]; break; }
            if (c < 0) lo = mid + 1; else hi = mid - 1;
        }
        if (hit < 0) {
            if (st->unknown_files++ < 10) am_warn("%s:%d: '%s' is not among the images; row ignored", csv, lineno, base);
            continue;
        }
        if (seen[hit]) {
            if (st->duplicates++ < 10) am_warn("%s:%d: '%s' is labelled again; the first label is kept", csv, lineno, base);
            continue;
        }
        seen[hit] = 1;
        d->label[hit] = lab;
        st->matched++;
        if (lab == AM_ANOMALY) st->anomalies++; else st->normals++;
    }
    if (!rc && st->unknown_files > 10) am_warn("%s: %d rows name files that are not among the images", csv, st->unknown_files);
    if (!rc && st->duplicates > 10) am_warn("%s: %d duplicate rows", csv, st->duplicates);
    if (rc) for (int i = 0; i < d->n; i++) d->label[i] = AM_UNLABELLED;
    fclose(f);
    free(order);
    free(seen);
    return rc;
}
