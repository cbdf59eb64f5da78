// am_infer's journal (am/journal.h).
#include "am/journal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <zlib.h>

#include "am/error.h"

#define HEAD_BYTES (8 + 7 * 8)

static void wr32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> 8 * i); }
static void wr64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> 8 * i); }
static uint32_t rd32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const unsigned char *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

int am_journal_open(am_journal *j, const char *path) {
    memset(j, 0, sizeof *j);
    snprintf(j->path, sizeof j->path, "%s", path);
    j->f = fopen(path, "r+b");
    if (!j->f && errno == ENOENT) j->f = fopen(path, "w+b");
    if (!j->f) return am_seterr("cannot open the journal '%s': %s", path, strerror(errno));
    // One writer: the lock goes with the process, kill -9 included.
    if (flock(fileno(j->f), LOCK_EX | LOCK_NB)) {
        int e = errno;
        fclose(j->f);
        j->f = NULL;
        return am_seterr(e == EWOULDBLOCK ? "another am_infer is writing this folder (its journal '%s' is locked): wait "
                                            "for it to end, or stop it first (squeue, kill)"
                                          : "cannot lock the journal '%s': %s", path, strerror(e));
    }
    return 0;
}

int am_journal_next(am_journal *j, am_jrec *r) {
    unsigned char b[HEAD_BYTES + AM_JOURNAL_BATCH_MAX / 8 + 4];
    size_t got = fread(b, 1, HEAD_BYTES, j->f);
    if (got == HEAD_BYTES && !memcmp(b, "AMJ1", 4)) {
        uint32_t n = rd32(b + 4);
        size_t nb = (n + 7) / 8;
        if (n >= 1 && n <= AM_JOURNAL_BATCH_MAX && fread(b + HEAD_BYTES, 1, nb + 4, j->f) == nb + 4 &&
            rd32(b + HEAD_BYTES + nb) == (uint32_t)crc32(0L, b, (uInt)(HEAD_BYTES + nb))) {
            memset(r, 0, sizeof *r);
            r->n = n;
            uint64_t *v[7] = {&r->ordinal_end, &r->scores_bytes, &r->skipped_bytes, &r->scored, &r->skipped,
                              &r->excluded, &r->elapsed_ns};
            for (int i = 0; i < 7; i++) *v[i] = rd64(b + 8 + 8 * i);
            memcpy(r->bits, b + HEAD_BYTES, nb);
            j->good += (long)(HEAD_BYTES + nb + 4);
            return 1;
        }
    }
    if (ferror(j->f)) return am_seterr("cannot read the journal '%s': %s", j->path, strerror(errno));
    // The end of the intact records: cut off what follows (a torn record).
    if (fflush(j->f) || ftruncate(fileno(j->f), j->good) || fseek(j->f, j->good, SEEK_SET))
        return am_seterr("cannot cut the journal '%s' back to its last intact record: %s", j->path, strerror(errno));
    return 0;
}

void am_journal_append(am_journal *j, const am_jrec *r) {
    size_t nb = (r->n + 7) / 8, len = HEAD_BYTES + nb + 4;
    if (j->npending + len > j->cap) {
        j->cap = 2 * (j->npending + len);
        j->pending = realloc(j->pending, j->cap);
        AM_CHECK(j->pending != NULL, "out of memory queueing journal records");
    }
    unsigned char *b = j->pending + j->npending;
    memcpy(b, "AMJ1", 4);
    wr32(b + 4, r->n);
    const uint64_t v[7] = {r->ordinal_end, r->scores_bytes, r->skipped_bytes, r->scored, r->skipped, r->excluded,
                           r->elapsed_ns};
    for (int i = 0; i < 7; i++) wr64(b + 8 + 8 * i, v[i]);
    memcpy(b + HEAD_BYTES, r->bits, nb);
    wr32(b + HEAD_BYTES + nb, (uint32_t)crc32(0L, b, (uInt)(HEAD_BYTES + nb)));
    j->npending += len;
}

int am_journal_sync(am_journal *j) {
    if (!j->npending) return 0;
    if (fwrite(j->pending, 1, j->npending, j->f) != j->npending || fflush(j->f) || fdatasync(fileno(j->f))) {
        int e = errno;
        // A partial record is cut off by the next reader; the ones before stand.
        return am_seterr("cannot write the journal '%s': %s", j->path, strerror(e));
    }
    j->good += (long)j->npending;
    j->npending = 0;
    return 0;
}

void am_journal_close(am_journal *j) {
    if (j->f) fclose(j->f);
    free(j->pending);
    memset(j, 0, sizeof *j);
}
