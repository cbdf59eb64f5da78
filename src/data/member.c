// Members (am/member.h): listing a source's images (am_dataset_list: a
// directory, a text list, an HDF5 file) and loading one image by its name
// (a path, or ARCHIVE#K), with a pool of open HDF5 handles.
//
// The listing lives here, not in dataset.c, so that the labels code there
// (and the CSV fuzz harness built from it) needs no HDF5.
#include "am/member.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "am/dataset.h"
#include "am/error.h"
#include "am/h5.h"
#include "am/log.h"
#include "am/tar.h"

// ---- listing ----------------------------------------------------------------

typedef struct { char **v; int n, cap; } strvec;

static void push(strvec *s, const char *p) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        char **v = realloc(s->v, sizeof(char *) * s->cap);
        AM_CHECK(v != NULL, "out of memory listing images");
        s->v = v;
    }
    s->v[s->n] = strdup(p);
    AM_CHECK(s->v[s->n] != NULL, "out of memory listing images");
    s->n++;
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
        } else if (am_input_name(e->d_name)) {
            push(out, path);
        }
    }
    closedir(dp);
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// An HDF5 file by its signature, or by its name (.h5, .hdf5: a damaged one
// then fails with HDF5's reason rather than as a list of binary lines).
static int is_h5(const char *path) {
    const char *dot = strrchr(path, '.');
    return am_h5_signature(path) || (dot && (!strcasecmp(dot, ".h5") || !strcasecmp(dot, ".hdf5")));
}

// An HDF5 file's elements in file order: paths FILE#K, names the basenames
// of its `filenames` (or BASENAME#K, am/h5.h).
static int list_h5(am_dataset *d, const char *source) {
    am_h5 *h = am_h5_open(source);
    if (!h) return -1;
    const uint64_t n = am_h5_count(h);
    if (!n || n > INT_MAX) {
        am_h5_close(h);
        return !n ? am_seterr("no images in '%s' (its dataset 'images' is empty)", source)
                  : am_seterr("'%s' holds %llu images, over %d: split it into several files", source,
                              (unsigned long long)n, INT_MAX);
    }
    d->n = (int)n;
    d->paths = AM_CALLOC(sizeof(char *) * n);
    d->names = AM_MALLOC(sizeof(char *) * n);
    d->label = AM_MALLOC(sizeof(int) * n);
    size_t *off = AM_MALLOC(sizeof(size_t) * n), len = 0, cap = 0;
    char name[1024], path[4200];
    int rc = 0;
    for (uint64_t k = 0; k < n && !rc; k++) {
        size_t got = 0;
        if (am_h5_read(h, k, name, sizeof name, NULL, &got, NULL, 0)) {
            rc = -1;
            break;
        }
        snprintf(path, sizeof path, "%s#%llu", source, (unsigned long long)k);
        d->paths[k] = strdup(path);
        AM_CHECK(d->paths[k] != NULL, "out of memory listing images");
        const char *slash = strrchr(name, '/'), *base = slash ? slash + 1 : name;
        const size_t bl = strlen(base) + 1;
        if (len + bl > cap) {
            cap = 2 * (len + bl) + 4096;
            char *t = realloc(d->name_text, cap);
            AM_CHECK(t != NULL, "out of memory listing images");
            d->name_text = t;
        }
        memcpy(d->name_text + len, base, bl);
        off[k] = len;
        len += bl;
        d->label[k] = AM_UNLABELLED;
    }
    am_h5_close(h);
    for (uint64_t k = 0; k < n && !rc; k++) d->names[k] = d->name_text + off[k];
    free(off);
    if (rc) am_dataset_free(d);
    return rc;
}

int am_dataset_list(am_dataset *d, const char *source, int recursive) {
    memset(d, 0, sizeof *d);
    strvec v = {0};
    struct stat st;
    if (stat(source, &st)) return am_seterr("cannot find '%s': %s", source, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        if (walk(&v, source, recursive)) goto fail;
    } else if (is_h5(source)) {
        return list_h5(d, source);
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
        am_seterr("no images (.png, .jpg, .jpeg, .fits, .fit, .fts, .fz, .tif, .tiff) in '%s'%s", source,
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

size_t am_object_name_len(const char *base) {
    const char *mark = strstr(base, "{band}");
    if (!mark) return strlen(base);
    size_t keep = (size_t)(mark - base);
    while (keep && (base[keep - 1] == '_' || base[keep - 1] == '-' || base[keep - 1] == '.')) keep--;
    return keep ? keep : strlen(base);
}

int am_dataset_bands(am_dataset *d, const char *bands) {
    if (d->name_text) return am_seterr("--bands groups the files of a directory or a file list, not an HDF5 file");
    char first[64];
    size_t fl = strcspn(bands, ",");
    if (!fl || fl >= sizeof first) return am_seterr("--bands '%s': give band names split by ',' (g,r,i)", bands);
    snprintf(first, sizeof first, "%.*s", (int)fl, bands);
    size_t cap = 0;
    for (int i = 0; i < d->n; i++) cap += strlen(d->paths[i]) + 8;
    char *text = AM_MALLOC(cap + 1);
    size_t at = 0;
    int m = 0, dropped = 0;
    for (int i = 0; i < d->n; i++) {
        char *path = d->paths[i];
        const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path, *mark = strstr(base, "{band}");
        size_t keep;  // the name's length within base
        if (mark) {
            keep = am_object_name_len(base);
        } else {
            // NAME_FIRST.EXT: find "_FIRST." in the base name.
            const char *dot = strrchr(base, '.');
            if (!dot || (size_t)(dot - base) < fl + 2 || dot[-(int)fl - 1] != '_' || strncmp(dot - fl, first, fl)) {
                dropped++;
                free(path);
                continue;
            }
            keep = (size_t)(dot - fl - 1 - base);
            size_t dir = (size_t)(base - path);
            char *np = AM_MALLOC(strlen(path) + 8);
            snprintf(np, strlen(path) + 8, "%.*s%.*s_{band}%s", (int)dir, path, (int)keep, base, dot);
            free(path);
            path = np;
        }
        d->paths[m] = path;
        d->label[m] = d->label[i];
        d->names[m] = (const char *)(uintptr_t)at;  // an offset until text stops moving
        memcpy(text + at, strrchr(path, '/') ? strrchr(path, '/') + 1 : path, keep);
        text[at + keep] = 0;
        at += keep + 1;
        m++;
    }
    d->n = m;
    d->name_text = text;
    for (int i = 0; i < m; i++) d->names[i] = text + (uintptr_t)d->names[i];
    if (!m) return am_seterr("--bands %s: no file is named NAME_%s.EXT (the first band's files name the objects)",
                             bands, first);
    if (dropped) am_info("--bands %s: %d objects, %d files of the other bands (or of no band) left aside", bands, m, dropped);
    return 0;
}

// ---- the pool of open HDF5 handles --------------------------------------------
// Measured on the 2-core VM (a dense file of 2000 images of 64 x 64 x 3
// uint8, elements read at random): opening the file, reading one element
// and closing it takes 60-100 us, the read alone on an open handle 6-7 us;
// am_member_load of such an image 50-90 us with the pool, 125-160 us when it
// opens the file each time. So idle handles are kept: each is taken out of
// the pool by one thread while it reads (a handle serves one thread at a
// time) and put back after; the pool keeps the 16 most recent.

#define POOL 16

typedef struct {
    am_h5 *h;
    char *path;
    struct stat st;  // the file when it was opened: a handle is used only while the file is still that one
} pooled;

static pooled pool[POOL];
static int npool;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

static int same_file(const struct stat *a, const struct stat *b) {
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static void drop(int i) {
    free(pool[i].path);
    memmove(pool + i, pool + i + 1, sizeof(pooled) * (size_t)(npool - i - 1));
    npool--;
}

// An idle handle on path (as st says it is now), or NULL; handles on an
// older version of the file are closed.
static am_h5 *take(const char *path, const struct stat *st) {
    am_h5 *h = NULL, *stale[POOL];
    int ns = 0;
    pthread_mutex_lock(&pool_lock);
    for (int i = npool - 1; i >= 0; i--) {
        if (strcmp(pool[i].path, path)) continue;
        if (!same_file(&pool[i].st, st)) stale[ns++] = pool[i].h;
        else if (!h) h = pool[i].h;
        else continue;
        drop(i);
    }
    pthread_mutex_unlock(&pool_lock);
    for (int i = 0; i < ns; i++) am_h5_close(stale[i]);
    return h;
}

static void give(am_h5 *h, const char *path, const struct stat *st) {
    am_h5 *old = NULL;
    char *p = strdup(path);
    if (!p) { am_h5_close(h); return; }
    pthread_mutex_lock(&pool_lock);
    if (npool == POOL) {
        old = pool[0].h;
        drop(0);
    }
    pool[npool++] = (pooled){h, p, *st};
    pthread_mutex_unlock(&pool_lock);
    am_h5_close(old);
}

void am_member_close_all(void) {
    pthread_mutex_lock(&pool_lock);
    while (npool) {
        am_h5_close(pool[npool - 1].h);
        drop(npool - 1);
    }
    pthread_mutex_unlock(&pool_lock);
}

// ---- loading ------------------------------------------------------------------

static int h5_member(uint8_t *dst, const char *path, const struct stat *st, uint64_t k, const char *src,
                     const am_preprocess *pre) {
    am_h5 *h = take(path, st);
    if (!h && !(h = am_h5_open(path))) return -1;
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    char name[1024];
    int w = 0, hh = 0, bands = 0;
    am_sample_type t = AM_SAMPLE_U8;
    const int dense = am_h5_dense(h, &w, &hh, &bands, &t);
    int rc = am_h5_read(h, k, name, sizeof name, &buf, &n, &cap, AM_MEMBER_MAX_BYTES);
    give(h, path, st);
    if (rc == 2)
        rc = am_seterr("'%s' is over %zu MiB%s: not an image cutout", src, AM_MEMBER_MAX_BYTES >> 20,
                       dense ? " as float32 pixels" : "");
    if (rc) {
        free(buf);
        return -1;
    }
    if (dense) return am_input_pixels(dst, (float *)buf, w, hh, bands, t, src, pre);
    rc = am_input_load_memory(dst, buf, n, src, pre);
    free(buf);
    return rc;
}

static int tar_member(uint8_t *dst, const char *path, uint64_t k, const char *src, const am_preprocess *pre) {
    am_tar *t = am_tar_open(path);
    if (!t) return -1;
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    const char *member = NULL;
    int got = 1;
    for (uint64_t i = 0; i <= k && (got == 1 || got == 2); i++)
        got = am_tar_next(t, &member, i == k ? &buf : NULL, &n, &cap, AM_MEMBER_MAX_BYTES);
    int rc = -1;
    if (got == 1) rc = am_input_load_memory(dst, buf, n, src, pre);
    else if (got == 0) am_seterr("'%s' has no member %llu (it holds %llu)", path, (unsigned long long)k,
                                 (unsigned long long)am_tar_count(t));
    else if (got == 2) am_seterr("'%s' is over %zu MiB: not an image cutout", src, AM_MEMBER_MAX_BYTES >> 20);
    am_tar_close(t);
    free(buf);
    return rc;
}

int am_member_load(uint8_t *dst, const char *src, const am_preprocess *pre) {
    struct stat st;
    const char *hash = strrchr(src, '#');
    if (!hash || !stat(src, &st)) return am_input_load(dst, src, pre);
    // ARCHIVE#K: K decimal digits; anything else is a file name with a '#'.
    char *end;
    errno = 0;
    const unsigned long long k = strtoull(hash + 1, &end, 10);
    if (!isdigit((unsigned char)hash[1]) || *end || errno) return am_input_load(dst, src, pre);
    char path[4200];
    if ((size_t)(hash - src) >= sizeof path) return am_seterr("'%s': the path is too long", src);
    snprintf(path, sizeof path, "%.*s", (int)(hash - src), src);
    if (stat(path, &st)) return am_seterr("cannot find '%s' (for '%s'): %s", path, src, strerror(errno));
    if (is_h5(path)) return h5_member(dst, path, &st, k, src, pre);
    return tar_member(dst, path, k, src, pre);
}
