// The am tensor file: one reader and one atomic writer for weights, goldens
// and checkpoints (weights/FORMAT.md).
#include "am/tfile.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "am/error.h"

#define HEADER_BYTES (4 + 4 + 16 + 4 + 4 + 4)
#define ENTRY_V1 (64 + 4 + 16)      // name, ndim, shape[4]
#define ENTRY_V2 (64 + 4 + 4 + 16)  // name, type, ndim, shape[4]

// Each kind of file: its magic, what to call it, what to give instead of
// another file, the oldest version of it this build reads (checkpoints of
// version 1 had another layout), what to do about a file too old, and
// the entry types it may hold (weights: float32 tensors and texts such as
// the preprocessing; goldens: float32 only, their readers take every entry
// for floats) with their name in messages.
#define TYPES(a, b, c) ((1u << (a)) | (1u << (b)) | (1u << (c)))
static const struct {
    const char *magic, *what, *give;
    uint32_t oldest;
    const char *fix;
    unsigned types;
    const char *holds;
} kinds[] = {
    {"AMWT", "weight file", "an .amw file (weights/convert_lite0.py converts PyTorch weights)", 1,
     "convert the weights again (weights/convert_lite0.py)", TYPES(AM_TF_F32, AM_TF_U8, AM_TF_U8),
     "float32 tensors and texts"},
    {"AMGD", "golden file", "a golden .amg file (tests/ref writes them)", 1, "regenerate it with tests/ref",
     TYPES(AM_TF_F32, AM_TF_F32, AM_TF_F32), "float32 tensors"},
    {"AMCK", "checkpoint", "the checkpoint.amck that am_train wrote", 2,
     "retrain, or resume it with the am that wrote it", TYPES(AM_TF_F32, AM_TF_U8, AM_TF_U64), "any entries"},
};

static int kind_of(const char *magic) {
    const int nkinds = (int)(sizeof kinds / sizeof kinds[0]);
    int k = 0;
    while (k < nkinds && strcmp(kinds[k].magic, magic)) k++;
    AM_CHECK(k < nkinds, "am tensor files have magic AMWT, AMGD or AMCK");
    return k;
}

static const size_t elem_bytes[] = {[AM_TF_F32] = 4, [AM_TF_U8] = 1, [AM_TF_U64] = 8};

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
}

void am_tfile_free(am_tfile *f) {
    free(f->t);
    free(f->buf);
    memset(f, 0, sizeof *f);
}

static int fail(am_tfile *f, int rc) {
    am_tfile_free(f);
    return rc;
}

// The entry table and the data it describes: every shape is checked against
// the bytes the file has left, so that no element count can overflow (a
// shape of 2^31 x 2^31 read as ints once gave 2^62 elements, 0 bytes after
// the multiply by 4).
static int read_table(am_tfile *f, const char *path, size_t size, int k) {
    const int v2 = f->version >= 2;
    const size_t esz = v2 ? ENTRY_V2 : ENTRY_V1;
    uint32_t nt = rd32(f->buf + 32);
    if (nt > (size - HEADER_BYTES - 4) / esz)
        return am_seterr("'%s' has a corrupt entry table (%u entries in %zu bytes): the file is damaged", path, nt,
                         size);
    f->ntensors = (int)nt;
    f->t = AM_CALLOC(sizeof(am_tentry) * (nt ? nt : 1));
    size_t off = HEADER_BYTES + (size_t)nt * esz;
    for (uint32_t i = 0; i < nt; i++) {
        const unsigned char *e = f->buf + HEADER_BYTES + (size_t)i * esz;
        am_tentry *t = &f->t[i];
        memcpy(t->name, e, 64);
        t->type = v2 ? (int)rd32(e + 64) : AM_TF_F32;
        e += v2 ? 68 : 64;
        if (t->type < AM_TF_F32 || t->type > AM_TF_U64)
            return am_seterr("'%s': entry '%s' has an unknown type %d: the file is damaged", path, t->name, t->type);
        if (!(kinds[k].types & (1u << t->type)))
            return am_seterr("'%s': entry '%s' is of type %d, and a %s holds %s only: the file is damaged", path,
                             t->name, t->type, kinds[k].what, kinds[k].holds);
        t->ndim = (int)rd32(e);
        if (t->ndim < 1 || t->ndim > 4)
            return am_seterr("'%s': entry '%s' has %d dimensions (1..4 expected)", path, t->name, t->ndim);
        if (v2) off = align8(off);
        if (off > size - 4)
            return am_seterr("'%s' is %zu bytes, too short for the entries its table describes", path, size);
        const size_t es = elem_bytes[t->type], room = (size - 4 - off) / es;
        t->n = 1;
        for (int d = 0; d < 4; d++) {
            t->shape[d] = (int)rd32(e + 4 + 4 * d);
            if (d >= t->ndim ? t->shape[d] != 0
                             : t->shape[d] < 0 || (t->shape[d] && t->n > room / (size_t)t->shape[d]))
                return am_seterr("'%s': entry '%s' has a corrupt shape (dimension %d is %d)", path, t->name, d,
                                 t->shape[d]);
            if (d < t->ndim) t->n *= (size_t)t->shape[d];
        }
        t->u8 = f->buf + off;
        off += t->n * es;
    }
    if (off + 4 != size)
        return am_seterr("'%s' is %zu bytes but its table describes %zu: the file is damaged", path, size, off + 4);
    return 0;
}

int am_tfile_read(am_tfile *f, const char *path, const char *magic) {
    memset(f, 0, sizeof *f);
    const int k = kind_of(magic);
    const char *what = kinds[k].what;
    FILE *fp = fopen(path, "rb");
    if (!fp) return am_seterr("cannot open %s '%s': %s", what, path, strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) || !S_ISREG(st.st_mode)) {
        fclose(fp);
        return am_seterr("'%s' is not a regular file: give the %s itself", path, what);
    }
    size_t size = (size_t)st.st_size;
    if (size < HEADER_BYTES + 4) {
        fclose(fp);
        return am_seterr("'%s' is %zu bytes, too short for an am %s (is it truncated?)", path, size, what);
    }
    f->buf = AM_MALLOC(size);
    size_t got = fread(f->buf, 1, size, fp);
    fclose(fp);
    if (got != size) return fail(f, am_seterr("read error on '%s'", path));
    if (memcmp(f->buf, magic, 4)) {
        char seen[5] = {0};
        for (int i = 0; i < 4; i++) seen[i] = isprint(f->buf[i]) ? (char)f->buf[i] : '?';
        return fail(f, am_seterr("'%s' is not an am %s (magic '%s', expected '%s'): give %s", path, what, seen, magic,
                                 kinds[k].give));
    }
    memcpy(f->magic, f->buf, 4);
    f->version = rd32(f->buf + 4);
    const uint32_t oldest = kinds[k].oldest;
    if (f->version < oldest)
        return fail(f, am_seterr("%s format version %u from an older am: '%s' cannot be read by this build, which "
                                 "reads version %u and later; %s",
                                 what, f->version, path, oldest, kinds[k].fix));
    if (f->version > AM_TFILE_VERSION)
        return fail(f, am_seterr("'%s' is %s format version %u, newer than this build (it reads up to version %d): "
                                 "update am", path, what, f->version, AM_TFILE_VERSION));
    if ((uint32_t)crc32_z(0L, f->buf, size - 4) != rd32(f->buf + size - 4))
        return fail(f, am_seterr("'%s' fails its checksum: the file is truncated or corrupt; copy or write it again",
                                 path));
    memcpy(f->arch, f->buf + 8, 16);
    f->in_ch = (int)rd32(f->buf + 24);
    f->classes = (int)rd32(f->buf + 28);
    if (read_table(f, path, size, k)) return fail(f, -1);
    return 0;
}

const am_tentry *am_tfile_find(const am_tfile *f, const char *name) {
    for (int i = 0; i < f->ntensors; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

// A file being written: the running CRC and the first failure's errno.
typedef struct { FILE *f; uLong crc; int ok, err; } writer;

static void put(writer *w, const void *p, size_t n) {
    if (!w->ok || !n) return;
    w->crc = crc32_z(w->crc, p, n);
    w->ok = fwrite(p, 1, n, w->f) == n;
    if (!w->ok) w->err = errno;
}

static void check(writer *w, int ok) {
    if (!ok && w->ok) w->err = errno;
    w->ok = w->ok && ok;
}

// What is wrong with an entry to write, or NULL.
static const char *bad_entry(const am_tentry *t) {
    if (strlen(t->name) > 63) return "has a name over 63 bytes";
    if (t->type < AM_TF_F32 || t->type > AM_TF_U64) return "has an unknown type";
    if (t->ndim < 1 || t->ndim > 4) return "has not 1 to 4 dimensions";
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] < 0) return "has a negative dimension";
        n *= (size_t)t->shape[d];
    }
    return n == t->n ? NULL : "has an element count that is not its shape's";
}

int am_tfile_write(const char *path, const char *magic, const char *arch, int in_ch,
                   int classes, const am_tentry *t, int ntensors) {
    const int k = kind_of(magic);
    for (int i = 0; i < ntensors; i++) {
        if (bad_entry(&t[i]))
            return am_seterr("cannot write '%s': entry '%s' %s", path, t[i].name, bad_entry(&t[i]));
        if (!(kinds[k].types & (1u << t[i].type)))
            return am_seterr("cannot write '%s': entry '%s' is of type %d, and a %s holds %s only", path,
                             t[i].name, t[i].type, kinds[k].what, kinds[k].holds);
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    writer w = {fopen(tmp, "wb"), crc32(0L, Z_NULL, 0), 1, 0};
    if (!w.f) return am_seterr("cannot create '%s' (to write '%s'): %s", tmp, path, strerror(errno));
    unsigned char h[HEADER_BYTES] = {0};
    memcpy(h, magic, 4);
    wr32(h + 4, AM_TFILE_VERSION);
    strncpy((char *)h + 8, arch, 15);
    wr32(h + 24, (uint32_t)in_ch);
    wr32(h + 28, (uint32_t)classes);
    wr32(h + 32, (uint32_t)ntensors);
    put(&w, h, HEADER_BYTES);
    for (int i = 0; i < ntensors; i++) {
        unsigned char e[ENTRY_V2] = {0};
        memcpy(e, t[i].name, strlen(t[i].name));
        wr32(e + 64, (uint32_t)t[i].type);
        wr32(e + 68, (uint32_t)t[i].ndim);
        for (int d = 0; d < t[i].ndim; d++) wr32(e + 72 + 4 * d, (uint32_t)t[i].shape[d]);
        put(&w, e, ENTRY_V2);
    }
    static const unsigned char zeros[8];
    size_t off = HEADER_BYTES + (size_t)ntensors * ENTRY_V2;
    for (int i = 0; i < ntensors; i++) {
        put(&w, zeros, align8(off) - off);
        off = align8(off) + t[i].n * elem_bytes[t[i].type];
        put(&w, t[i].u8, t[i].n * elem_bytes[t[i].type]);
    }
    unsigned char c[4];
    wr32(c, (uint32_t)w.crc);
    put(&w, c, 4);
    check(&w, fflush(w.f) == 0);
    check(&w, fsync(fileno(w.f)) == 0);
    check(&w, fclose(w.f) == 0);
    if (!w.ok) {
        unlink(tmp);
        return am_seterr("writing '%s' failed: %s (free disk space or write elsewhere); the previous file is intact",
                         path, strerror(w.err));
    }
    if (rename(tmp, path)) {
        int err = errno;
        unlink(tmp);
        return am_seterr("cannot rename '%s' to '%s': %s", tmp, path, strerror(err));
    }
    return 0;
}
