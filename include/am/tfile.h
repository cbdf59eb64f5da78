// The am tensor file (weights/FORMAT.md): header, entry table, data, CRC-32.
// One container for weights (magic AMWT), test goldens (AMGD) and training
// checkpoints (AMCK). Version 1 holds float32 tensors only; version 2 (what
// am_tfile_write writes) types each entry: float32, bytes (text) or u64.
#pragma once
#include <stddef.h>
#include <stdint.h>

#define AM_TFILE_VERSION 2

enum { AM_TF_F32 = 0, AM_TF_U8 = 1, AM_TF_U64 = 2 };

typedef struct {
    char name[65];
    int type;  // AM_TF_*: element type (version 1 files: all AM_TF_F32)
    int ndim, shape[4];
    size_t n;  // elements
    union {    // the elements, as the type says
        float *data;
        uint8_t *u8;
        uint64_t *u64;
    };
} am_tentry;

typedef struct {
    char magic[5];
    uint32_t version;
    char arch[17];
    int in_ch, classes;
    int ntensors;
    am_tentry *t;
    unsigned char *buf;  // the whole file; the entries' data point into it
} am_tfile;

// Reads and validates (magic, version, size, CRC, entry table; weights and
// goldens: float32 entries only). magic: AMWT, AMGD or AMCK. Returns -1
// (am_error() names the file, what was wrong and what to do) on any problem.
int am_tfile_read(am_tfile *f, const char *path, const char *magic);
void am_tfile_free(am_tfile *f);
const am_tentry *am_tfile_find(const am_tfile *f, const char *name);

// Writes version 2 atomically: a temporary file beside path, flushed,
// fsync'ed, then renamed over path, so that a full disk or a crash leaves the
// previous file intact. Entries are given with their type (0: float32; AMWT
// and AMGD: float32 only), name (< 64 bytes), shape and data pointer, which
// is only read. Returns -1 (am_error() names the file and the cause) on
// failure.
int am_tfile_write(const char *path, const char *magic, const char *arch, int in_ch,
                   int classes, const am_tentry *t, int ntensors);
