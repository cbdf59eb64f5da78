// libFuzzer harness: the label book's log reader (src/review/labelbook.c):
// each input is a run's labels.log over a small fixed dataset whose names
// need quotes in CSV. A book that opens must hold labels in {anomaly,
// normal, none}, unsure marks only on images without a label, a
// labeled_data.csv that reads back to its labels, and a log that a second
// book replays to the same state (a torn tail was cut); undoing every change
// must bring back the starting labels. A book that does not open leaves the
// labels as they were.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "am/dataset.h"
#include "am/labelbook.h"
#include "am/log.h"
#include "fuzz_file.h"

#define NIMG 6
static char *paths[NIMG] = {"a.png", "b.png", "c d.png", "e,\"f\".png", "# g.png", "h\ti.png"};
static const char *names[NIMG];
static int label[NIMG], again[NIMG];
static const int start[NIMG] = {AM_UNLABELLED, AM_ANOMALY, AM_NORMAL, AM_UNLABELLED, AM_UNLABELLED, AM_NORMAL};
static char dir[64], log_path[96], csv_path[96];

static void cleanup(void) {
    unlink(log_path);
    unlink(csv_path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    am_log_set_level(AM_LOG_ERROR);
    snprintf(dir, sizeof dir, "%s/am_fuzz_labels_XXXXXX", fuzz_tmpdir());
    if (!mkdtemp(dir)) abort();
    snprintf(log_path, sizeof log_path, "%s/labels.log", dir);
    snprintf(csv_path, sizeof csv_path, "%s/labeled_data.csv", dir);
    atexit(cleanup);
    for (int i = 0; i < NIMG; i++) names[i] = paths[i];
    return 0;
}

static am_dataset set(int *lab) {
    memcpy(lab, start, sizeof start);
    return (am_dataset){.n = NIMG, .paths = paths, .names = names, .label = lab};
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FILE *f = fopen(log_path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f)) abort();
    unlink(csv_path);
    am_dataset d = set(label);
    am_labelbook b;
    if (am_labelbook_open(&b, &d, dir)) {
        if (memcmp(label, start, sizeof start)) abort();
        return 0;
    }
    for (int i = 0; i < NIMG; i++) {
        if (label[i] != AM_UNLABELLED && label[i] != AM_NORMAL && label[i] != AM_ANOMALY) abort();
        if (b.unsure[i] && label[i] != AM_UNLABELLED) abort();
    }
    // labeled_data.csv reads back to the labels.
    int csv[NIMG];
    am_dataset c = set(csv);
    for (int i = 0; i < NIMG; i++) csv[i] = AM_UNLABELLED;
    am_label_stats st;
    if (am_dataset_apply_labels(&c, csv_path, &st) || memcmp(csv, label, sizeof csv)) abort();
    // A second book replays the log (its torn tail cut) to the same state.
    am_dataset e = set(again);
    am_labelbook b2;
    if (am_labelbook_open(&b2, &e, dir) || memcmp(again, label, sizeof again) ||
        memcmp(b2.unsure, b.unsure, NIMG) || b2.nundo != b.nundo)
        abort();
    am_labelbook_close(&b2);
    // Undoing every change brings back the starting labels.
    char name[64];
    int n = b.nundo;
    for (int k = 0; k < n; k++)
        if (am_labelbook_undo(&b, name, sizeof name) != 1) abort();
    if (am_labelbook_undo(&b, name, sizeof name) != 0 || memcmp(label, start, sizeof start)) abort();
    for (int i = 0; i < NIMG; i++)
        if (b.unsure[i]) abort();
    am_labelbook_close(&b);
    return 0;
}
