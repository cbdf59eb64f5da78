// The expert's labels of a run, logged then written (include/am/labelbook.h).
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "am/error.h"
#include "am/files.h"
#include "am/labelbook.h"

static const char *label_name(int label) {
    return label == AM_NORMAL ? "normal" : label == AM_ANOMALY ? "anomaly" : "unsure";
}

static int label_of(const char *s) {
    if (!strcmp(s, "normal")) return AM_NORMAL;
    if (!strcmp(s, "anomaly")) return AM_ANOMALY;
    if (!strcmp(s, "unsure")) return AM_UNLABELLED;
    return -2;
}

static int find(const am_labelbook *b, const char *name) {
    for (int i = 0; i < b->d->n; i++)
        if (!strcmp(b->d->names[i], name)) return i;
    return -1;
}

static int write_csv(const am_labelbook *b) {
    char *text = am_dataset_labels_csv(b->d);
    int rc = am_file_write_atomic(b->csv_path, text, strlen(text));
    free(text);
    return rc;
}

// Records image index's state before a change, then sets its label.
static void change(am_labelbook *b, int index, int label) {
    if (b->nundo == b->capundo) {
        b->capundo = b->capundo ? 2 * b->capundo : 64;
        b->undo = realloc(b->undo, sizeof *b->undo * (size_t)b->capundo);
        AM_CHECK(b->undo != NULL, "out of memory");
    }
    b->undo[b->nundo++] = (am_label_change){index, b->d->label[index], b->unsure[index]};
    b->d->label[index] = label;
    b->unsure[index] = label == AM_UNLABELLED;
}

static void undo_last(am_labelbook *b) {
    am_label_change c = b->undo[--b->nundo];
    b->d->label[c.index] = c.before;
    b->unsure[c.index] = (unsigned char)c.before_unsure;
}

// Appends one line (its CRC added) and syncs it: 0, or -1 (am_error()).
static int append(am_labelbook *b, const char *body) {
    char line[4400];
    int n = snprintf(line, sizeof line, "%s\t%08lx\n", body, crc32(0L, (const Bytef *)body, (uInt)strlen(body)));
    if (n < 0 || (size_t)n >= sizeof line) return am_seterr("'%s': a label line is too long", b->log_path);
    ssize_t w = write(b->fd, line, (size_t)n);
    if (w != n || fsync(b->fd)) {
        int e = errno;
        if (w > 0 && w != n) {  // a part written: cut it off again, so the log stays whole
            off_t end = lseek(b->fd, 0, SEEK_END);
            if (end >= w && ftruncate(b->fd, end - w)) e = errno;
        }
        return am_seterr("cannot write '%s': %s (free disk space; the label was not changed)", b->log_path,
                         strerror(e ? e : EIO));
    }
    return 0;
}

// One line's body (CRC checked and cut off): 1, or 0 when damaged.
static int check_line(char *line) {
    char *tab = strrchr(line, '\t'), *end = NULL;
    if (!tab) return 0;
    *tab = 0;
    unsigned long crc = strtoul(tab + 1, &end, 16);
    return end == tab + 9 && !*end && crc == crc32(0L, (const Bytef *)line, (uInt)strlen(line));
}

// Applies one checked line body: 0, or -1 (am_error()).
static int apply(am_labelbook *b, char *body, int lineno) {
    if (!strcmp(body, "undo")) {
        if (b->nundo) undo_last(b);
        b->changes++;
        return 0;
    }
    char *save = NULL, *op = strtok_r(body, "\t", &save), *lab = strtok_r(NULL, "\t", &save),
         *name = strtok_r(NULL, "", &save);
    int label = lab ? label_of(lab) : -2;
    if (!op || strcmp(op, "set") || label == -2 || !name)
        return am_seterr("'%s':%d: not a label line: the log is damaged", b->log_path, lineno);
    int i = find(b, name);
    if (i < 0)
        return am_seterr("'%s':%d: labels '%s', which this run does not have: is it another run's log?", b->log_path,
                         lineno, name);
    change(b, i, label);
    b->changes++;
    return 0;
}

// Replays the log; a torn or damaged last line is cut off.
static int replay(am_labelbook *b) {
    size_t n = 0;
    char *text = am_file_read(b->log_path, &n);
    if (!text) return am_seterr("cannot read '%s': %s", b->log_path, strerror(errno));
    size_t at = 0, good = 0;
    int lineno = 0, rc = 0;
    while (at < n && !rc) {
        char *nl = memchr(text + at, '\n', n - at);
        lineno++;
        if (!nl) break;  // torn: no line end
        *nl = 0;
        char *line = text + at;
        size_t next = (size_t)(nl - text) + 1;
        if (!check_line(line)) {
            if (next < n) rc = am_seterr("'%s':%d: a damaged line before the end: the log is damaged", b->log_path, lineno);
            break;
        }
        rc = apply(b, line, lineno);
        at = good = next;
    }
    free(text);
    if (!rc && good < n && ftruncate(b->fd, (off_t)good))
        rc = am_seterr("cannot cut the torn end of '%s': %s", b->log_path, strerror(errno));
    return rc;
}

int am_labelbook_open(am_labelbook *b, am_dataset *d, const char *run_dir) {
    memset(b, 0, sizeof *b);
    b->d = d;
    b->unsure = AM_CALLOC((size_t)d->n + 1);
    size_t len = strlen(run_dir) + 32;
    b->log_path = AM_MALLOC(len);
    b->csv_path = AM_MALLOC(len);
    snprintf(b->log_path, len, "%s/labels.log", run_dir);
    snprintf(b->csv_path, len, "%s/labeled_data.csv", run_dir);
    pthread_mutex_init(&b->lock, NULL);
    b->fd = open(b->log_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int *start = AM_MALLOC(sizeof(int) * (size_t)(d->n ? d->n : 1));
    memcpy(start, d->label, sizeof(int) * (size_t)d->n);
    int rc = b->fd < 0 ? am_seterr("cannot open '%s': %s", b->log_path, strerror(errno)) : replay(b);
    if (!rc) rc = write_csv(b);
    if (rc) {  // the labels as they were
        memcpy(d->label, start, sizeof(int) * (size_t)d->n);
        am_labelbook_close(b);
    }
    free(start);
    return rc;
}

int am_labelbook_set(am_labelbook *b, const char *name, int label) {
    pthread_mutex_lock(&b->lock);
    int i = find(b, name), rc = 0;
    if (i < 0) rc = am_seterr("'%s' is not an image of this run", name);
    else if (strpbrk(name, "\n\r")) rc = am_seterr("'%s': a name with a line break cannot be logged", name);
    else if (label != AM_NORMAL && label != AM_ANOMALY && label != AM_UNLABELLED)
        rc = am_seterr("label %d is not normal, anomaly or unsure", label);
    if (!rc) {
        char body[4200];
        snprintf(body, sizeof body, "set\t%s\t%s", label_name(label), name);
        rc = append(b, body);
    }
    if (!rc) {
        change(b, i, label);
        b->changes++;
        rc = write_csv(b);
    }
    pthread_mutex_unlock(&b->lock);
    return rc;
}

int am_labelbook_undo(am_labelbook *b, char *name, size_t n) {
    pthread_mutex_lock(&b->lock);
    int rc = 0;
    if (b->nundo) {
        rc = append(b, "undo");
        if (!rc) {
            const int index = b->undo[b->nundo - 1].index;
            undo_last(b);
            b->changes++;
            snprintf(name, n, "%s", b->d->names[index]);
            rc = write_csv(b) ? -1 : 1;
        }
    }
    pthread_mutex_unlock(&b->lock);
    return rc;
}

int am_labelbook_save(am_labelbook *b) {
    pthread_mutex_lock(&b->lock);
    int rc = write_csv(b);
    pthread_mutex_unlock(&b->lock);
    return rc;
}

void am_labelbook_close(am_labelbook *b) {
    if (b->fd >= 0) close(b->fd);
    free(b->log_path);
    free(b->csv_path);
    free(b->undo);
    free(b->unsure);
    pthread_mutex_destroy(&b->lock);
    memset(b, 0, sizeof *b);
    b->fd = -1;
}
