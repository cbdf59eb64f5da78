// Checkpoints. Layout (little-endian): "AMCK", u32 version, u64 step, u64 seed,
// 16-byte arch name, u64 nparams, u64 nstats, u32 text length, the text, then
// float32 families: params, stats, EMA params, EMA stats, optimiser v, s,
// each packed (its tensors in table order, without the model's padding
// between them; nparams and nstats count these); u32 CRC-32 of everything
// before it. Written to a temporary file, synced and
// renamed, so a crash or a full disk leaves the previous checkpoint intact.
// A trainer on a device is downloaded before saving and uploaded after loading.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "am/error.h"
#include "am/train.h"

#define CK_VERSION 1

typedef struct { FILE *f; uLong crc; int ok, err; } writer;

static void put(writer *w, const void *p, size_t n) {
    if (!w->ok || !n) return;
    w->crc = crc32(w->crc, p, (uInt)n);
    w->ok = fwrite(p, 1, n, w->f) == n;
    if (!w->ok) w->err = errno;
}

// Records the first failure's errno.
static void check(writer *w, int ok) {
    if (!ok && w->ok) w->err = errno;
    w->ok = w->ok && ok;
}

// The elements of a family's tensors, the padding not counted.
static uint64_t packed_count(const am_model *m, int family) {
    uint64_t n = 0;
    for (int i = 0; i < m->ntensors; i++)
        if (m->tensors[i].family == family) n += m->tensors[i].n;
    return n;
}

// One family (laid out as m's) packed.
static void put_family(writer *w, const am_model *m, int family, const float *base) {
    for (int i = 0; i < m->ntensors; i++) {
        const am_tensor *t = &m->tensors[i];
        if (t->family == family) put(w, base + t->offset, sizeof(float) * t->n);
    }
}

// One packed family from p into base (laid out as m's); returns the end.
static const unsigned char *take_family(const unsigned char *p, const am_model *m, int family, float *base) {
    for (int i = 0; i < m->ntensors; i++) {
        const am_tensor *t = &m->tensors[i];
        if (t->family != family) continue;
        memcpy(base + t->offset, p, sizeof(float) * t->n);
        p += sizeof(float) * t->n;
    }
    return p;
}

int am_checkpoint_save(am_trainer *t, const char *path, const char *text) {
    am_trainer_download(t);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    writer w = {fopen(tmp, "wb"), crc32(0L, Z_NULL, 0), 1, 0};
    if (!w.f) return am_seterr("cannot create '%s': %s", tmp, strerror(errno));
    const am_model *m = &t->model;
    uint32_t version = CK_VERSION, tlen = text ? (uint32_t)strlen(text) : 0;
    uint64_t np = packed_count(m, AM_PARAM), ns = packed_count(m, AM_STAT);
    char arch[16] = {0};
    memcpy(arch, m->arch.name, strlen(m->arch.name) < 15 ? strlen(m->arch.name) : 15);
    put(&w, "AMCK", 4);
    put(&w, &version, 4);
    put(&w, &t->step, 8);
    put(&w, &t->seed, 8);
    put(&w, arch, 16);
    put(&w, &np, 8);
    put(&w, &ns, 8);
    put(&w, &tlen, 4);
    put(&w, text, tlen);
    put_family(&w, m, AM_PARAM, m->params);
    put_family(&w, m, AM_STAT, m->stats);
    put_family(&w, m, AM_PARAM, t->ema.params);
    put_family(&w, m, AM_STAT, t->ema.stats);
    put_family(&w, m, AM_PARAM, t->v);
    put_family(&w, m, AM_PARAM, t->v + m->nparams);
    uint32_t crc = (uint32_t)w.crc;
    put(&w, &crc, 4);
    check(&w, fflush(w.f) == 0);
    check(&w, fsync(fileno(w.f)) == 0);
    check(&w, fclose(w.f) == 0);
    if (!w.ok) {
        unlink(tmp);
        return am_seterr("writing checkpoint '%s' failed (%s); the previous checkpoint is intact", path, strerror(w.err));
    }
    if (rename(tmp, path)) {
        unlink(tmp);
        return am_seterr("cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
    }
    return 0;
}

int am_checkpoint_load(am_trainer *t, const char *path, char **text) {
    FILE *f = fopen(path, "rb");
    if (!f) return am_seterr("cannot open checkpoint '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
        fclose(f);
        return am_seterr("'%s' is not a regular file: give the checkpoint file (e.g. run/checkpoint.amck)", path);
    }
    long size = (long)st.st_size;
    if (size < 60) { fclose(f); return am_seterr("'%s' is too short to be a checkpoint (truncated?)", path); }
    unsigned char *b = AM_MALLOC((size_t)size);
    size_t got = fread(b, 1, (size_t)size, f);
    fclose(f);
    int rc = 0;
    uint32_t version, tlen, crc;
    uint64_t step, seed, np, ns;
    char arch[17] = {0};
    if (got != (size_t)size) { rc = am_seterr("read error on '%s'", path); goto done; }
    if (memcmp(b, "AMCK", 4)) { rc = am_seterr("'%s' is not an am checkpoint", path); goto done; }
    memcpy(&version, b + 4, 4);
    if (version != CK_VERSION) {
        rc = am_seterr("'%s' is checkpoint version %u; this build reads version %d", path, version, CK_VERSION);
        goto done;
    }
    memcpy(&crc, b + size - 4, 4);
    if (crc != (uint32_t)crc32(0L, b, (uInt)(size - 4))) {
        rc = am_seterr("checkpoint '%s' fails its checksum: truncated or corrupt", path);
        goto done;
    }
    memcpy(&step, b + 8, 8);
    memcpy(&seed, b + 16, 8);
    memcpy(arch, b + 24, 16);
    memcpy(&np, b + 40, 8);
    memcpy(&ns, b + 48, 8);
    memcpy(&tlen, b + 56, 4);
    const am_model *m = &t->model;
    uint64_t mp = packed_count(m, AM_PARAM);
    if (strcmp(arch, m->arch.name) || np != mp || ns != packed_count(m, AM_STAT)) {
        rc = am_seterr("checkpoint '%s' holds %s with %llu parameters; the run's model is %s with %llu", path, arch,
                       (unsigned long long)np, m->arch.name, (unsigned long long)mp);
        goto done;
    }
    size_t expect = 60 + (size_t)tlen + sizeof(float) * (np * 4 + ns * 2) + 4;
    if (expect != (size_t)size) { rc = am_seterr("checkpoint '%s' has the wrong size for its contents", path); goto done; }
    const unsigned char *p = b + 60;
    if (text) {
        *text = AM_MALLOC(tlen + 1);
        memcpy(*text, p, tlen);
        (*text)[tlen] = 0;
    }
    p += tlen;
    p = take_family(p, m, AM_PARAM, t->model.params);
    p = take_family(p, m, AM_STAT, t->model.stats);
    p = take_family(p, m, AM_PARAM, t->ema.params);
    p = take_family(p, m, AM_STAT, t->ema.stats);
    p = take_family(p, m, AM_PARAM, t->v);
    take_family(p, m, AM_PARAM, t->v + m->nparams);
    t->step = step;
    t->seed = seed;
    am_trainer_upload(t);
done:
    free(b);
    return rc;
}
