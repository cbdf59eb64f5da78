// Datasets: the image files of a run and their labels.
//
// Images come from a directory (optionally recursive; .png .jpg .jpeg in any
// case) or a file list (one path per line), sorted by path for determinism.
// A labels CSV `filename,label[,...]` (label normal or anomaly; a header line
// naming `filename` is skipped; extra columns ignored) is matched by basename;
// images not in it form the unlabelled pool.
#pragma once
#include <stddef.h>

enum { AM_UNLABELLED = -1, AM_NORMAL = 0, AM_ANOMALY = 1 };

typedef struct {
    int n;
    char **paths;   // full paths
    const char **names;  // basenames (point into paths)
    int *label;     // AM_UNLABELLED, AM_NORMAL or AM_ANOMALY
} am_dataset;

// Lists `source` (a directory, or a text file of paths). Returns -1
// (am_error()) when it cannot be read or holds no image.
int am_dataset_list(am_dataset *d, const char *source, int recursive);
void am_dataset_free(am_dataset *d);

typedef struct { int rows, matched, unknown_files, duplicates, anomalies, normals; } am_label_stats;

// Applies a labels CSV to d (basename match). Unknown labels and malformed
// rows are errors naming the file and line (-1); duplicates (the first row
// wins) and names not in the dataset are warnings with line numbers.
int am_dataset_apply_labels(am_dataset *d, const char *csv, am_label_stats *st);

// Index of the image with this basename, or -1.
int am_dataset_find(const am_dataset *d, const char *name);
