// The images am_infer scores: its sources in one deterministic order, the
// share of them that one shard of N takes, and a reader over that share.
//
// Sources, in the order given, each a unit:
//   a directory   its .png/.jpg/.jpeg files (subdirectories with recursive),
//                 sorted by path; listed in memory (about 100 bytes a file)
//   a file list   one path per line, in the file's order, streamed ("-":
//                 standard input, held in memory); blank and # lines passed over
//   a tar shard   .tar, .tar.gz, .tgz (any compression libarchive reads):
//                 its regular-file members in archive order
//   an HDF5 file  .h5, .hdf5 (or by its signature): the Python tool's layout
//                 of encoded images or a dense array of pixels (am/h5.h)
// The global order is the units' order, each unit's items in its own order.
// Shard i of N takes a contiguous stretch of it, balanced by weight: every
// image of a directory, list or HDF5 file weighs 1 (those units may be
// split between shards), a tar goes whole to one shard and weighs one image
// per 16 KiB of its size (its members are not known without reading it).
// So the shards' outputs, concatenated in shard order, are the single
// run's.
#pragma once
#include <stdint.h>
#include <stdio.h>

#include "am/dataset.h"
#include "am/h5.h"
#include "am/inputs.h"
#include "am/member.h"
#include "am/tar.h"

enum { AM_SRC_DIR, AM_SRC_LIST, AM_SRC_TAR, AM_SRC_H5 };

#define AM_TAR_BYTES_PER_IMAGE 16384
// An encoded image (a tar member, an HDF5 element) or a dense HDF5 element's
// float32 pixels larger than this is skipped.
#define AM_ITEM_MAX_BYTES AM_MEMBER_MAX_BYTES

typedef struct {
    int kind;           // AM_SRC_*
    char *path;         // as given
    uint64_t count;     // images (a tar: its weight, an estimate)
    uint64_t bytes;     // size of the file (0 for a directory)
    am_dataset files;   // a directory's files; standard input's lines
    char *broken;       // a tar or HDF5 file that cannot be opened: why (one skipped row)
} am_unit;

// A stretch of one unit: items first .. first+n-1 (a tar: the whole of it).
typedef struct {
    int unit;
    uint64_t first, n;
} am_segment;

typedef struct {
    int nunits;
    am_unit *units;
    int shard, nshards;
    int nseg;
    am_segment *seg;
    uint64_t weight;    // the shard's weight: its images, tars estimated
    uint64_t total;     // the weight of every shard together
    uint64_t identity;  // hash of the units (kinds, paths, counts, sizes, names)
} am_plan;

// Lists the sources and takes shard `shard` of `nshards`. -1 (am_error(),
// naming the source and the fix) when a source is missing, unreadable (a
// directory, a list) or of no known kind, or when there is no image at all.
// A tar or HDF5 file that cannot be opened is no error: its unit is marked
// broken and becomes one skipped row. bands (the model's band_names; NULL
// or "": none): a directory lists objects stored one file per band
// (am_dataset_bands); a list line holding {band} is one such object.
int am_plan_make(am_plan *p, char *const *sources, int nsources, int recursive, const char *bands, int shard,
                 int nshards);
void am_plan_free(am_plan *p);

#define AM_NAME_MAX 1024

// One item of a shard, in order.
typedef struct {
    char name[AM_NAME_MAX];  // Filename of scores.csv: the basename of a file, a tar member's path, an HDF5 filename
    const char *path;        // the file to decode (directories, lists), else NULL
    char line[4096];         // a streamed list's path (path points here)
    uint8_t *buf;            // the encoded bytes (tars, HDF5) when asked for: n bytes
    size_t n, cap;
    int dense;               // buf holds a dense HDF5 element's float32 pixels (h, w, bands) of sample type type
    int w, h, bands;
    am_sample_type type;
    char src[AM_NAME_MAX + 4200];  // where it is: a file's path, ARCHIVE#K (tar member or HDF5 element K)
    char why[512];           // non-empty: the item cannot be read (a skipped row: why)
} am_item;

typedef struct {
    const am_plan *p;
    int seg;                 // the segment being read
    uint64_t off;            // items of it read so far
    uint64_t ordinal;        // items of the shard read so far
    FILE *list;              // an open file list
    char line[4096];
    am_tar *tar;
    am_h5 *h5;
    int unit_open, unit_done;
} am_reader;

// A reader positioned at item `ordinal` of the shard (0: its start).
void am_reader_open(am_reader *r, const am_plan *p, uint64_t ordinal);
// The next item: 1, or 0 at the shard's end. bytes: read a tar member's or
// HDF5 element's bytes into it->buf (0: pass over them, only names).
int am_reader_next(am_reader *r, am_item *it, int bytes);
void am_reader_close(am_reader *r);
void am_item_free(am_item *it);

// Decodes item it (read with its bytes) into dst (size, size, channels of
// pre): its file, its encoded bytes, or its dense pixels (which it gives
// away: it->buf becomes NULL). 0, or -1 (am_error() naming it->src).
int am_item_load(uint8_t *dst, am_item *it, const am_preprocess *pre);
// Decodes the image at `src` (an am_item's src) into dst: am_member_load.
int am_source_load(uint8_t *dst, const char *src, const am_preprocess *pre);
