// libFuzzer harness: the labels CSV reader (the file reader and the text
// reader under it) against a small fixed dataset, some of whose names need
// quotes. Checks the contract: on success the counts add up and agree with
// the labels, and the writer's CSV of those labels reads back to the same
// labels; on failure every image is back to unlabelled (as it was).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "am/dataset.h"
#include "am/log.h"
#include "fuzz_file.h"

static am_dataset ds;
static char *paths[] = {"imgs/a.png", "imgs/b.png", "x/c.jpg", "x/y/d.jpeg", "e.PNG", "imgs/f g.png",
                        "imgs/h, \"i\".png", "# j.png", " k\r\nl.png"};
static const char *names[sizeof paths / sizeof paths[0]];
static int label[sizeof paths / sizeof paths[0]];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_file_init("csv");
    am_log_set_level(AM_LOG_ERROR);  // no warning lines per input
    ds.n = (int)(sizeof paths / sizeof paths[0]);
    ds.paths = paths;
    ds.names = names;
    ds.label = label;
    for (int i = 0; i < ds.n; i++) {
        const char *s = strrchr(paths[i], '/');
        names[i] = s ? s + 1 : paths[i];
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file_write(data, size);
    for (int i = 0; i < ds.n; i++) label[i] = AM_UNLABELLED;
    am_label_stats st;
    int rc = am_dataset_apply_labels(&ds, path, &st);
    int an = 0, no = 0;
    for (int i = 0; i < ds.n; i++) {
        if (label[i] == AM_ANOMALY) an++;
        else if (label[i] == AM_NORMAL) no++;
        else if (label[i] != AM_UNLABELLED) abort();
    }
    if (rc) {
        if (rc != -1 || an || no) abort();
        return 0;
    }
    if (st.anomalies != an || st.normals != no || st.matched != an + no) abort();
    if (st.rows != st.matched + st.unknown_files + st.duplicates) abort();
    int read[sizeof paths / sizeof paths[0]];
    memcpy(read, label, sizeof read);
    char *text = am_dataset_labels_csv(&ds);
    for (int i = 0; i < ds.n; i++) label[i] = AM_UNLABELLED;
    if (am_dataset_apply_labels_text(&ds, text, "written", &st) || memcmp(read, label, sizeof read)) abort();
    free(text);
    return 0;
}
