// The am tensor file (weights/FORMAT.md): header, tensor table, float32 data,
// CRC-32. Used for weights (magic AMWT) and test goldens (magic AMGD).
#pragma once
#include <stddef.h>
#include <stdint.h>

#define AM_TFILE_VERSION 1

typedef struct {
    char name[65];
    int ndim, shape[4];
    size_t n;
    float *data;
} am_tentry;

typedef struct {
    char magic[5];
    uint32_t version;
    char arch[17];
    int in_ch, classes;
    int ntensors;
    am_tentry *t;
    float *data;  // one allocation for all tensors
} am_tfile;

// Reads and validates (magic, version, size, CRC). Returns -1 (am_error()
// names the file and what was expected) on any problem.
int am_tfile_read(am_tfile *f, const char *path, const char *magic);
void am_tfile_free(am_tfile *f);
const am_tentry *am_tfile_find(const am_tfile *f, const char *name);

// Writes atomically (temp file + rename). Tensors are given as entries whose
// data pointers are read. Returns -1 (am_error()) on failure.
int am_tfile_write(const char *path, const char *magic, const char *arch, int in_ch,
                   int classes, const am_tentry *t, int ntensors);
