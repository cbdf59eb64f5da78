#include "am/tfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "am/error.h"

#define HEADER_BYTES (4 + 4 + 16 + 4 + 4 + 4)
#define ENTRY_BYTES (64 + 4 + 16)

static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
}

void am_tfile_free(am_tfile *f) {
    free(f->t);
    free(f->data);
    memset(f, 0, sizeof *f);
}

static int fail(am_tfile *f, unsigned char *buf, int rc) {
    free(buf);
    am_tfile_free(f);
    return rc;
}

int am_tfile_read(am_tfile *f, const char *path, const char *magic) {
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp) return am_seterr("cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) || !S_ISREG(st.st_mode)) {
        fclose(fp);
        return am_seterr("'%s' is not a regular file", path);
    }
    long size = (long)st.st_size;
    if (size < HEADER_BYTES + 4) {
        fclose(fp);
        return am_seterr("'%s' is %ld bytes, too short for an am tensor file (is it truncated?)", path, size);
    }
    unsigned char *buf = AM_MALLOC((size_t)size);
    size_t got = fread(buf, 1, (size_t)size, fp);
    fclose(fp);
    if (got != (size_t)size) return fail(f, buf, am_seterr("read error on '%s'", path));
    if (memcmp(buf, magic, 4))
        return fail(f, buf, am_seterr("'%s' is not an am %s file (magic '%.4s', expected '%s')", path,
                                      strcmp(magic, "AMWT") ? "golden" : "weight", (char *)buf, magic));
    memcpy(f->magic, buf, 4);
    f->version = rd32(buf + 4);
    if (f->version != AM_TFILE_VERSION)
        return fail(f, buf, am_seterr("'%s' has format version %u, this build reads version %d: "
                                      "regenerate it with this version's converter", path, f->version, AM_TFILE_VERSION));
    uint32_t crc = (uint32_t)crc32(0L, buf, (uInt)(size - 4));
    if (crc != rd32(buf + size - 4))
        return fail(f, buf, am_seterr("'%s' fails its checksum: the file is truncated or corrupt", path));
    memcpy(f->arch, buf + 8, 16);
    f->in_ch = (int)rd32(buf + 24);
    f->classes = (int)rd32(buf + 28);
    uint32_t nt = rd32(buf + 32);
    if (nt > 100000 || HEADER_BYTES + (size_t)nt * ENTRY_BYTES + 4 > (size_t)size)
        return fail(f, buf, am_seterr("'%s' has a corrupt tensor table (%u tensors)", path, nt));
    f->ntensors = (int)nt;
    f->t = AM_CALLOC(sizeof(am_tentry) * (nt ? nt : 1));
    // Floats the file has room for: every shape is checked against it, so that
    // no element count can overflow (a shape of 2^31 x 2^31 read as ints once
    // gave 2^62 elements, 0 bytes after the multiply by 4).
    const size_t room = ((size_t)size - HEADER_BYTES - (size_t)nt * ENTRY_BYTES - 4) / 4;
    size_t total = 0;
    for (uint32_t i = 0; i < nt; i++) {
        const unsigned char *e = buf + HEADER_BYTES + (size_t)i * ENTRY_BYTES;
        am_tentry *t = &f->t[i];
        memcpy(t->name, e, 64);
        t->ndim = (int)rd32(e + 64);
        if (t->ndim < 1 || t->ndim > 4)
            return fail(f, buf, am_seterr("'%s': tensor '%s' has %d dimensions (1..4 expected)", path, t->name, t->ndim));
        t->n = 1;
        for (int d = 0; d < 4; d++) {
            t->shape[d] = (int)rd32(e + 68 + 4 * d);
            if (d >= t->ndim) continue;
            if (t->shape[d] < 0 || (t->shape[d] && t->n > room / (size_t)t->shape[d]))
                return fail(f, buf, am_seterr("'%s': tensor '%s' has a corrupt shape (dimension %d is %d)", path,
                                              t->name, d, t->shape[d]));
            t->n *= (size_t)t->shape[d];
        }
        total += t->n;
        if (total > room)
            return fail(f, buf, am_seterr("'%s' is %ld bytes, too short for the tensors its table describes", path, size));
    }
    size_t expect = HEADER_BYTES + (size_t)nt * ENTRY_BYTES + total * 4 + 4;
    if (expect != (size_t)size)
        return fail(f, buf, am_seterr("'%s' is %ld bytes but its table describes %zu", path, size, expect));
    f->data = AM_MALLOC(sizeof(float) * (total ? total : 1));
    memcpy(f->data, buf + HEADER_BYTES + (size_t)nt * ENTRY_BYTES, total * 4);
    for (size_t i = 0, off = 0; i < nt; i++) {
        f->t[i].data = f->data + off;
        off += f->t[i].n;
    }
    free(buf);
    return 0;
}

const am_tentry *am_tfile_find(const am_tfile *f, const char *name) {
    for (int i = 0; i < f->ntensors; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

int am_tfile_write(const char *path, const char *magic, const char *arch, int in_ch,
                   int classes, const am_tentry *t, int ntensors) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    FILE *fp = fopen(tmp, "wb");
    if (!fp) return am_seterr("cannot create '%s': %s", tmp, strerror(errno));
    unsigned char h[HEADER_BYTES] = {0};
    memcpy(h, magic, 4);
    wr32(h + 4, AM_TFILE_VERSION);
    strncpy((char *)h + 8, arch, 15);
    wr32(h + 24, (uint32_t)in_ch);
    wr32(h + 28, (uint32_t)classes);
    wr32(h + 32, (uint32_t)ntensors);
    uLong crc = crc32(0L, h, HEADER_BYTES);
    int ok = fwrite(h, 1, HEADER_BYTES, fp) == HEADER_BYTES;
    for (int i = 0; i < ntensors && ok; i++) {
        unsigned char e[ENTRY_BYTES] = {0};
        strncpy((char *)e, t[i].name, 63);
        wr32(e + 64, (uint32_t)t[i].ndim);
        for (int d = 0; d < 4; d++) wr32(e + 68 + 4 * d, d < t[i].ndim ? (uint32_t)t[i].shape[d] : 0);
        crc = crc32(crc, e, ENTRY_BYTES);
        ok = fwrite(e, 1, ENTRY_BYTES, fp) == ENTRY_BYTES;
    }
    for (int i = 0; i < ntensors && ok; i++) {
        crc = crc32(crc, (const unsigned char *)t[i].data, (uInt)(t[i].n * 4));
        ok = fwrite(t[i].data, 4, t[i].n, fp) == t[i].n;
    }
    unsigned char c[4];
    wr32(c, (uint32_t)crc);
    ok = ok && fwrite(c, 1, 4, fp) == 4;
    ok = (fflush(fp) == 0) && ok;
    ok = (fsync(fileno(fp)) == 0) && ok;
    ok = (fclose(fp) == 0) && ok;
    if (!ok) {
        unlink(tmp);
        return am_seterr("writing '%s' failed (disk full?): %s; the previous file is untouched", path, strerror(errno));
    }
    if (rename(tmp, path)) {
        unlink(tmp);
        return am_seterr("cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
    }
    return 0;
}
