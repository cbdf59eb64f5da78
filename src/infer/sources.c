// am_infer's sources (am/sources.h): units, the shard's segments, the reader.
#include "am/sources.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "am/error.h"
#include "am/image.h"

static uint64_t fnv(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t fnv_str(uint64_t h, const char *s) { return fnv(h, s, strlen(s) + 1); }

// A list line's path (blank, white-space-only and # lines: NULL); the line
// loses its line end.
static const char *list_path(char *line) {
    line[strcspn(line, "\r\n")] = 0;
    const char *q = line;
    while (isspace((unsigned char)*q)) q++;
    return *q && *q != '#' ? line : NULL;
}

// dst[n] = s, cut to fit.
static void set_str(char *dst, size_t n, const char *s) {
    size_t len = strlen(s);
    if (len >= n) len = n - 1;
    memcpy(dst, s, len);
    dst[len] = 0;
}

static const char *basename_of(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

// The kind of source path (a directory or a file, by its first bytes, then
// its name).
static int kind_of(const char *path, const struct stat *st) {
    if (S_ISDIR(st->st_mode)) return AM_SRC_DIR;
    unsigned char b[264] = {0};
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(b, 1, sizeof b, f) : 0;
    if (f) fclose(f);
    if (n >= 8 && !memcmp(b, "\x89HDF\r\n\x1a\n", 8)) return AM_SRC_H5;
    int compressed = (n >= 2 && b[0] == 0x1f && b[1] == 0x8b) || (n >= 3 && !memcmp(b, "BZh", 3)) ||
                     (n >= 6 && !memcmp(b, "\xfd" "7zXZ", 5)) || (n >= 4 && !memcmp(b, "\x28\xb5\x2f\xfd", 4));
    if ((n >= 262 && !memcmp(b + 257, "ustar", 5)) || compressed) return AM_SRC_TAR;
    if (am_h5_signature(path)) return AM_SRC_H5;  // after a user block
    const char *dot = strrchr(path, '.');
    if (dot && (!strcasecmp(dot, ".h5") || !strcasecmp(dot, ".hdf5"))) return AM_SRC_H5;
    if (dot && (!strcasecmp(dot, ".tar") || !strcasecmp(dot, ".tgz") || strstr(path, ".tar."))) return AM_SRC_TAR;
    return AM_SRC_LIST;
}

// A list: its lines counted and hashed (standard input: held).
static int list_unit(am_unit *u, uint64_t *h) {
    int std_in = !strcmp(u->path, "-");
    FILE *f = std_in ? stdin : fopen(u->path, "r");
    if (!f) return am_seterr("cannot open file list '%s': %s", u->path, strerror(errno));
    char line[4096];
    char **held = NULL;
    size_t cap = 0;
    while (fgets(line, sizeof line, f)) {
        const char *p = list_path(line);
        if (!p) continue;
        *h = fnv_str(*h, p);
        if (std_in) {
            if (u->count == cap) {
                cap = cap ? 2 * cap : 1024;
                held = realloc(held, sizeof(char *) * cap);
                AM_CHECK(held != NULL, "out of memory reading the list on standard input");
            }
            held[u->count] = strdup(p);
        }
        u->count++;
    }
    int bad = ferror(f);
    if (!std_in) fclose(f);
    if (bad) return am_seterr("cannot read file list '%s': %s", u->path, strerror(errno));
    if (std_in) {
        u->files.n = (int)u->count;
        u->files.paths = held;
    }
    return 0;
}

static int make_unit(am_unit *u, const char *path, int recursive, const char *bands, uint64_t *h) {
    memset(u, 0, sizeof *u);
    u->path = strdup(path);
    struct stat st;
    if (strcmp(path, "-") && stat(path, &st))
        return am_seterr("cannot find source '%s': %s (give a directory, a file list, a .tar or an .h5 file)", path,
                         strerror(errno));
    u->kind = strcmp(path, "-") ? kind_of(path, &st) : AM_SRC_LIST;
    u->bytes = u->kind == AM_SRC_DIR || !strcmp(path, "-") ? 0 : (uint64_t)st.st_size;
    *h = fnv(*h, &u->kind, sizeof u->kind);
    *h = fnv_str(*h, path);
    switch (u->kind) {
    case AM_SRC_DIR:
        if (am_dataset_list(&u->files, path, recursive)) return -1;
        if (bands && bands[0] && am_dataset_bands(&u->files, bands)) return -1;
        u->count = (uint64_t)u->files.n;
        for (int i = 0; i < u->files.n; i++) *h = fnv_str(*h, u->files.paths[i]);
        break;
    case AM_SRC_LIST:
        if (list_unit(u, h)) return -1;
        break;
    case AM_SRC_TAR: {
        am_tar *t = am_tar_open(path);
        if (!t) u->broken = strdup(am_error());
        else am_tar_close(t);
        u->count = u->broken ? 1 : (u->bytes + AM_TAR_BYTES_PER_IMAGE - 1) / AM_TAR_BYTES_PER_IMAGE;
        if (!u->count) u->count = 1;
        break;
    }
    case AM_SRC_H5: {
        am_h5 *f = am_h5_open(path);
        if (!f) u->broken = strdup(am_error());
        u->count = f ? am_h5_count(f) : 1;
        if (f) am_h5_close(f);
        break;
    }
    }
    *h = fnv(*h, &u->count, sizeof u->count);
    *h = fnv(*h, &u->bytes, sizeof u->bytes);
    return 0;
}

// Whether unit u is split between shards (a tar and a broken file are not).
static int splittable(const am_unit *u) { return u->kind != AM_SRC_TAR && !u->broken; }

int am_plan_make(am_plan *p, char *const *sources, int nsources, int recursive, const char *bands, int shard,
                 int nshards) {
    memset(p, 0, sizeof *p);
    p->shard = shard;
    p->nshards = nshards;
    p->units = AM_CALLOC(sizeof(am_unit) * (nsources ? nsources : 1));
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < nsources; i++) {
        p->nunits = i + 1;
        if (make_unit(&p->units[i], sources[i], recursive, bands, &h)) { am_plan_free(p); return -1; }
        p->total += p->units[i].count;
    }
    p->identity = h;
    if (!p->total) {
        am_plan_free(p);
        return am_seterr("no images in the sources");
    }
    // Item at global position q belongs to shard floor(q * N / total); a
    // whole unit goes where its middle item would.
    const uint64_t N = (uint64_t)nshards, W = p->total;
    uint64_t lo = ((uint64_t)shard * W + N - 1) / N, hi = ((uint64_t)(shard + 1) * W + N - 1) / N, cum = 0;
    p->seg = AM_CALLOC(sizeof(am_segment) * (size_t)p->nunits);
    for (int u = 0; u < p->nunits; u++) {
        uint64_t w = p->units[u].count;
        if (splittable(&p->units[u])) {
            uint64_t a = lo > cum ? lo - cum : 0, b = hi > cum ? hi - cum : 0;
            if (b > w) b = w;
            if (a < b) p->seg[p->nseg++] = (am_segment){u, a, b - a};
        } else {
            uint64_t mid = cum + (w - 1) / 2;
            if (mid >= lo && mid < hi) p->seg[p->nseg++] = (am_segment){u, 0, w};
        }
        cum += w;
    }
    for (int s = 0; s < p->nseg; s++) p->weight += p->seg[s].n;
    return 0;
}

void am_plan_free(am_plan *p) {
    for (int i = 0; i < p->nunits; i++) {
        am_unit *u = &p->units[i];
        if (u->kind == AM_SRC_DIR) am_dataset_free(&u->files);
        else {
            for (int k = 0; k < u->files.n; k++) free(u->files.paths[k]);
            free(u->files.paths);
        }
        free(u->path);
        free(u->broken);
    }
    free(p->units);
    free(p->seg);
    memset(p, 0, sizeof *p);
}

// ---- the reader -------------------------------------------------------------

static void close_unit(am_reader *r) {
    if (r->list && r->list != stdin) fclose(r->list);
    if (r->tar) am_tar_close(r->tar);
    if (r->h5) am_h5_close(r->h5);
    r->list = NULL;
    r->tar = NULL;
    r->h5 = NULL;
    r->unit_open = r->unit_done = 0;
}

// Opens segment r->seg's unit and moves to item r->off of the segment
// (a list: lines passed over; a tar: members passed over in next()).
static void open_unit(am_reader *r) {
    const am_segment *s = &r->p->seg[r->seg];
    const am_unit *u = &r->p->units[s->unit];
    r->unit_open = 1;
    if (u->broken) return;
    if (u->kind == AM_SRC_LIST && strcmp(u->path, "-")) {
        r->list = fopen(u->path, "r");
        if (!r->list) { r->unit_done = 1; return; }
        for (uint64_t k = 0; k < s->first + r->off && fgets(r->line, sizeof r->line, r->list);)
            k += list_path(r->line) != NULL;
    } else if (u->kind == AM_SRC_TAR) {
        r->tar = am_tar_open(u->path);
        if (!r->tar) r->unit_done = 1;
    } else if (u->kind == AM_SRC_H5) {
        r->h5 = am_h5_open(u->path);
        if (!r->h5) r->unit_done = 1;
    }
}

void am_reader_open(am_reader *r, const am_plan *p, uint64_t ordinal) {
    memset(r, 0, sizeof *r);
    r->p = p;
    // Whole segments of known length are stepped over; a tar's members are
    // passed over one by one.
    while (r->seg < p->nseg && p->units[p->seg[r->seg].unit].kind != AM_SRC_TAR &&
           ordinal - r->ordinal >= p->seg[r->seg].n) {
        r->ordinal += p->seg[r->seg].n;
        r->seg++;
    }
    if (r->seg < p->nseg && p->units[p->seg[r->seg].unit].kind != AM_SRC_TAR) {
        r->off = ordinal - r->ordinal;
        r->ordinal = ordinal;
    }
    am_item it = {0};
    while (r->ordinal < ordinal && am_reader_next(r, &it, 0)) {}
    am_item_free(&it);
}

// Sets the item's why (printf style).
static void skip_item(am_item *it, const char *fmt, const char *a, const char *b) {
    snprintf(it->why, sizeof it->why, fmt, a, b);
}

int am_reader_next(am_reader *r, am_item *it, int bytes) {
    const am_plan *p = r->p;
    for (;;) {
        if (r->seg >= p->nseg) return 0;
        const am_segment *s = &p->seg[r->seg];
        const am_unit *u = &p->units[s->unit];
        if (!r->unit_open) open_unit(r);
        it->why[0] = 0;
        it->path = NULL;
        it->n = 0;
        it->dense = 0;
        int got = 0;
        uint64_t index = s->first + r->off;
        if (u->broken) {
            if (r->off == 0) {
                set_str(it->name, sizeof it->name, u->path);
                skip_item(it, "%s%s", u->broken, "");
                got = 1;
            }
        } else if (r->off < s->n || u->kind == AM_SRC_TAR) {
            uint64_t i = s->first + r->off;
            switch (u->kind) {
            case AM_SRC_DIR:
                it->path = u->files.paths[i];
                set_str(it->name, sizeof it->name, u->files.names[i]);
                got = 1;
                break;
            case AM_SRC_LIST:
                if (!strcmp(u->path, "-")) {
                    it->path = u->files.paths[i];
                    got = 1;
                } else {
                    while (!r->unit_done && fgets(r->line, sizeof r->line, r->list))
                        if (list_path(r->line)) {
                            set_str(it->line, sizeof it->line, r->line);
                            it->path = it->line;
                            got = 1;
                            break;
                        }
                    if (!got) {  // the list became shorter since it was counted
                        set_str(it->name, sizeof it->name, u->path);
                        skip_item(it, "the file list '%s' ended early: it changed while am_infer ran%s", u->path, "");
                        got = 1;
                        r->unit_done = 1;
                    }
                }
                if (it->path) {
                    const char *b = basename_of(it->path);
                    snprintf(it->name, sizeof it->name, "%.*s", (int)am_object_name_len(b), b);
                }
                break;
            case AM_SRC_TAR: {
                if (r->unit_done) break;
                const char *member = NULL;
                int rc = am_tar_next(r->tar, &member, bytes ? &it->buf : NULL, &it->n, &it->cap, AM_ITEM_MAX_BYTES);
                if (rc == 0) { r->unit_done = 1; break; }
                got = 1;
                if (rc < 0) {
                    set_str(it->name, sizeof it->name, u->path);
                    skip_item(it, "%s%s", am_error(), "");
                    r->unit_done = 1;
                } else {
                    set_str(it->name, sizeof it->name, member);
                    if (rc == 2) skip_item(it, "member '%s' of '%s' is over 256 MiB: not an image cutout", member, u->path);
                }
                break;
            }
            case AM_SRC_H5:
                if (r->unit_done) {
                    set_str(it->name, sizeof it->name, u->path);
                    skip_item(it, "cannot reopen '%s': %s", u->path, "it changed or vanished while am_infer ran");
                } else {
                    int rc = am_h5_read(r->h5, i, it->name, sizeof it->name, bytes ? &it->buf : NULL, &it->n,
                                        &it->cap, bytes ? AM_ITEM_MAX_BYTES : 0);
                    if (rc < 0) skip_item(it, "%s%s", am_error(), "");
                    if (rc == 2) skip_item(it, "element of '%s' is over 256 MiB: %s", u->path, "not an image cutout");
                    if (rc == 0 && bytes) it->dense = am_h5_dense(r->h5, &it->w, &it->h, &it->bands, &it->type);
                }
                got = 1;
                break;
            }
        }
        if (got) {
            if (it->path) set_str(it->src, sizeof it->src, it->path);
            else if (u->broken || (u->kind == AM_SRC_LIST && it->why[0])) set_str(it->src, sizeof it->src, u->path);
            else snprintf(it->src, sizeof it->src, "%s#%llu", u->path, (unsigned long long)index);
        }
        if (got && (u->kind != AM_SRC_TAR || u->broken || !r->unit_done || it->why[0])) {
            r->off++;
            r->ordinal++;
            if (u->broken || (u->kind != AM_SRC_TAR && r->off >= s->n)) { close_unit(r); r->seg++; r->off = 0; }
            return 1;
        }
        close_unit(r);
        r->seg++;
        r->off = 0;
    }
}

void am_reader_close(am_reader *r) {
    close_unit(r);
    memset(r, 0, sizeof *r);
}

void am_item_free(am_item *it) {
    free(it->buf);
    it->buf = NULL;
    it->cap = 0;
}

int am_item_load(uint8_t *dst, am_item *it, const am_preprocess *pre) {
    if (it->path) return am_input_load(dst, it->path, pre);
    if (!it->dense) return am_input_load_memory(dst, it->buf, it->n, it->src, pre);
    float *px = (float *)it->buf;  // am_input_pixels frees it
    it->buf = NULL;
    it->cap = 0;
    return am_input_pixels(dst, px, it->w, it->h, it->bands, it->type, it->src, pre);
}

int am_source_load(uint8_t *dst, const char *src, const am_preprocess *pre) { return am_member_load(dst, src, pre); }
