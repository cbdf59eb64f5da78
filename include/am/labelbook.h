// The expert's labels of a run (am_review), kept so that nothing is lost:
// every change is a line appended to RUN/labels.log and synced before it is
// acknowledged, then RUN/labeled_data.csv is rewritten atomically from the
// labels in force (the input labels file is never changed). Opening a run
// replays the log over the labels the run started with, so a `kill -9` at
// any moment loses at most the change being made; a torn last line (the
// kill mid-write) is cut off. Undo is a logged change too: it restores the
// label the undone change replaced.
//
// labels.log lines: "set\tLABEL\tNAME\tCRC\n" or "undo\tCRC\n"; LABEL is
// normal, anomaly or unsure (no label); CRC the CRC-32 (8 hex digits) of
// the text before its tab. Calls are serialised (one mutex): concurrent
// changes are applied one after another, none lost.
#pragma once
#include <pthread.h>
#include <stddef.h>

#include "am/dataset.h"

typedef struct {
    int index, before, before_unsure;  // the image, and the label (and unsure mark) the change replaced
} am_label_change;

typedef struct {
    am_dataset *d;        // the run's images; d->label is updated in place
    char *log_path, *csv_path;
    int fd;               // labels.log, open for appending
    unsigned char *unsure;  // per image: 1 when its last change marked it unsure (no label)
    am_label_change *undo;
    int nundo, capundo;
    int changes;          // set and undo lines applied (replayed ones included)
    pthread_mutex_t lock;
} am_labelbook;

// Opens RUN's book over d (its labels: those the run started with) and
// replays RUN/labels.log. -1 (am_error()) when the log cannot be read or
// written, or names an image the run does not have; d's labels are then as
// they were.
int am_labelbook_open(am_labelbook *b, am_dataset *d, const char *run_dir);
// Labels image `name` (AM_NORMAL, AM_ANOMALY, or AM_UNLABELLED for unsure):
// logged and synced, then labeled_data.csv written. 0, or -1 (am_error():
// an unknown name, a disk error; the label is then unchanged).
int am_labelbook_set(am_labelbook *b, const char *name, int label);
// Undoes the last change still in force: 1 with its image's name in
// name[n], 0 when there is none, -1 (am_error()) on a disk error.
int am_labelbook_undo(am_labelbook *b, char *name, size_t n);
// Writes labeled_data.csv again from the labels in force (after another
// program wrote it). 0, or -1 (am_error()).
int am_labelbook_save(am_labelbook *b);
void am_labelbook_close(am_labelbook *b);
