// Datasets: the images of a run and their labels.
//
// Images come from a directory (optionally recursive; the extensions of
// am_input_name in any case) or a file list (one path per line), sorted by
// path for determinism, or from an HDF5 file (include/am/h5.h, either
// layout), its elements in file order, each path FILE#K (am/member.h loads
// it) and each name the basename of its `filenames` entry (BASENAME#K for a
// dense file without them). A labels CSV `filename,label[,...]` (label
// normal or anomaly; a header line naming `filename` is skipped; extra
// columns ignored) is matched by basename; images not in it form the
// unlabelled pool. One reader and one writer of
// that CSV serve the user's labels file, labeled_data.csv and the labels a
// checkpoint holds.
#pragma once
#include <stddef.h>
#include <stdio.h>

enum { AM_UNLABELLED = -1, AM_NORMAL = 0, AM_ANOMALY = 1 };

typedef struct {
    int n;
    char **paths;   // full paths; FILE#K for element K of an HDF5 file
    const char **names;  // basenames (point into paths, or into name_text)
    int *label;     // AM_UNLABELLED, AM_NORMAL or AM_ANOMALY
    char *name_text;  // an HDF5 file's names, NUL-terminated one after another (else NULL)
} am_dataset;

// Lists `source`: a directory, an HDF5 file (by its signature, or named .h5
// or .hdf5), else a text file of paths. Returns -1 (am_error()) when it
// cannot be read or holds no image. Defined in src/data/member.c.
int am_dataset_list(am_dataset *d, const char *source, int recursive);
// Objects stored one file per band (bands "g,r,i": its first band g): a
// file NAME_g.EXT becomes the object NAME_{band}.EXT named NAME (the inputs
// module reads each band in its place); the files of the other bands are
// dropped; a path already holding {band} stays, named by the part before
// "_{band}" (or "{band}"). 0, or -1 (am_error()) for an HDF5 source or when no
// object is left. Defined in src/data/member.c.
int am_dataset_bands(am_dataset *d, const char *bands);
// The length of the object name at the start of base name `base`: up to
// "{band}" less a trailing '_', '-' or '.', else all of it.
size_t am_object_name_len(const char *base);
// 1 when the file name has an extension the inputs module reads (.png .jpg
// .jpeg .fits .fit .fts .fz .tif .tiff, any case): what a directory lists.
int am_input_name(const char *name);
void am_dataset_free(am_dataset *d);

typedef struct { int rows, matched, unknown_files, duplicates, anomalies, normals; } am_label_stats;

// Applies labels CSV text to d (basename match). The CSV is RFC 4180 as
// spreadsheets and Python's csv module write it: rows end at \n, \r\n or
// \r; a field in double quotes may hold commas, line ends and doubled quotes;
// space around a field is dropped; blank lines and lines starting with # are
// skipped, as is a UTF-8 byte-order mark. The first row is a header when its
// first field is `filename` (any case: `Filename,Score` too). Unknown labels
// and malformed rows are errors naming source and line (-1, am_error()),
// which leave d's labels as they were; duplicates (the first row wins) and
// names not in the dataset are warnings with line numbers. source names the
// text in messages (a path, or e.g. "run/checkpoint.amck [labels]").
int am_dataset_apply_labels_text(am_dataset *d, const char *text, const char *source, am_label_stats *st);
// The same for the file csv (-1 also when it cannot be read or holds a NUL
// byte).
int am_dataset_apply_labels(am_dataset *d, const char *csv, am_label_stats *st);

// One row of CSV text at *s (the reader above: comments and blank lines
// passed over): its fields copied into out one after another, each
// NUL-terminated (out needs the text's length + 2 bytes), *nfields of them;
// *s moves past the row, *line counts lines, *row_line (may be NULL) gets
// the row's first line. 1 for a row, 0 at the end, -1 (am_error() names
// source:line) for bad quoting.
int am_csv_row(const char **s, char *out, int *nfields, int *line, int *row_line, const char *source);
// The whole file csv as NUL-terminated text (malloc'd), or NULL (am_error()
// names the file, `what` it is, and the cause; a NUL byte is refused).
char *am_csv_read_file(const char *csv, const char *what);
// The first column of csv, a header row naming `filename` passed over:
// malloc'd strings, *n of them, or NULL (am_error()).
char **am_csv_first_column(const char *csv, const char *what, int *n);

// The labels in force as the CSV that the reader reads back: the header
// `filename,label`, then `name,normal|anomaly` for each labelled image in
// dataset order, each name written by am_csv_write_field. malloc'd text.
char *am_dataset_labels_csv(const am_dataset *d);
// One CSV field: as it is, or in double quotes with its quotes doubled when
// the reader would otherwise split, trim or skip it (a comma, quote or line
// end in it, space around it, or # first).
void am_csv_write_field(FILE *f, const char *s);

// Index of the image with this basename, or -1.
int am_dataset_find(const am_dataset *d, const char *name);
