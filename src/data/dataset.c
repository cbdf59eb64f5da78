// Datasets (am/dataset.h): the labels CSV, its reader and writer.
#include "am/dataset.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "am/error.h"
#include "am/files.h"
#include "am/log.h"

int am_input_name(const char *name) {
    static const char *ext[] = {".png", ".jpg", ".jpeg", ".fits", ".fit", ".fts", ".fz", ".tif", ".tiff"};
    const char *dot = strrchr(name, '.');
    for (size_t k = 0; dot && k < sizeof ext / sizeof ext[0]; k++)
        if (!strcasecmp(dot, ext[k])) return 1;
    return 0;
}

// am_dataset_list is in member.c (it reads HDF5 files).

void am_dataset_free(am_dataset *d) {
    for (int i = 0; i < d->n; i++) free(d->paths[i]);
    free(d->paths);
    free(d->names);
    free(d->label);
    free(d->name_text);
    memset(d, 0, sizeof *d);
}

// ---- labels CSV ------------------------------------------------------------
// RFC 4180 as spreadsheets and Python's csv module write it: fields separated
// by commas, rows by line ends (\n, \r\n or \r); a field in double quotes may
// hold commas, line ends and quotes (doubled). Unquoted fields and the space
// around quoted ones are trimmed.

// White space other than a line end.
static int blank(char c) { return c != '\n' && c != '\r' && isspace((unsigned char)c); }

// Length of the line end at p: 2 for \r\n, 1 for \n or \r, else 0.
static int line_end(const char *p) { return *p == '\r' && p[1] == '\n' ? 2 : *p == '\n' || *p == '\r'; }

enum { END_TEXT, END_COMMA, END_ROW, BAD_OPEN = -1, BAD_AFTER = -2 };

// One field at *s copied into out (NUL-terminated; it needs at most the
// field's length + 1 bytes). *s moves past the field and its comma or line
// end; *line counts the line ends inside quotes. Returns what ended it
// (END_*), or BAD_OPEN for a quote never closed, BAD_AFTER for text after a
// closing quote.
static int csv_field(const char **s, char *out, int *line) {
    const char *p = *s;
    size_t n = 0;
    int end;
    while (blank(*p)) p++;
    if (*p == '"') {
        for (p++; *p && !(*p == '"' && p[1] != '"'); p++) {
            if (*p == '"') p++;
            else if (*p == '\n' || (*p == '\r' && p[1] != '\n')) (*line)++;
            out[n++] = *p;
        }
        int closed = *p == '"';
        for (p += closed; blank(*p); p++) {}
        end = !closed ? BAD_OPEN : *p && *p != ',' && !line_end(p) ? BAD_AFTER : 0;
    } else {
        while (*p && *p != ',' && !line_end(p)) out[n++] = *p++;
        while (n && blank(out[n - 1])) n--;
        end = 0;
    }
    out[n] = 0;
    if (end) return end;
    end = *p == ',' ? END_COMMA : *p ? END_ROW : END_TEXT;
    *s = p + (*p == ',' ? 1 : line_end(p));
    return end;
}

static int cmp_name(const void *a, const void *b, void *ctx) {
    const am_dataset *d = ctx;
    return strcmp(d->names[*(const int *)a], d->names[*(const int *)b]);
}

int am_dataset_find(const am_dataset *d, const char *name) {
    for (int i = 0; i < d->n; i++)
        if (!strcmp(d->names[i], name)) return i;
    return -1;
}

int am_csv_row(const char **s, char *out, int *nfields, int *line, int *row_line, const char *source) {
    const char *p = *s;
    for (;;) {  // blank lines and comments
        const char *q = p;
        while (blank(*q)) q++;
        if (!*q) { *s = q; return 0; }
        if (*q != '#' && !line_end(q)) break;
        q += strcspn(q, "\r\n");
        p = q + line_end(q);
        *line += line_end(q) > 0;
    }
    int row = *line, end;
    if (row_line) *row_line = row;
    *nfields = 0;
    do {
        end = csv_field(&p, out, line);
        if (end == BAD_OPEN)
            return am_seterr("%s:%d: a quoted field is never closed: end it with a double quote (write a quote inside "
                             "a field twice)", source, row);
        if (end == BAD_AFTER)
            return am_seterr("%s:%d: text after the closing quote of a field: put the whole field in quotes and "
                             "write a quote inside it twice", source, row);
        out += strlen(out) + 1;
        (*nfields)++;
    } while (end == END_COMMA);
    *line += end == END_ROW;
    *s = p;
    return 1;
}

// The text after a UTF-8 byte-order mark (a spreadsheet's).
static const char *skip_bom(const char *text) { return strncmp(text, "\xEF\xBB\xBF", 3) ? text : text + 3; }

int am_dataset_apply_labels_text(am_dataset *d, const char *text, const char *source, am_label_stats *st) {
    memset(st, 0, sizeof *st);
    // Sorted index of basenames for matching.
    int *order = AM_MALLOC(sizeof(int) * (d->n ? d->n : 1));
    for (int i = 0; i < d->n; i++) order[i] = i;
    qsort_r(order, (size_t)d->n, sizeof(int), cmp_name, d);
    char *seen = AM_CALLOC((size_t)d->n + 1);
    int *before = AM_MALLOC(sizeof(int) * (d->n ? d->n : 1));
    memcpy(before, d->label, sizeof(int) * d->n);
    // A row's fields, each NUL-terminated, fit in the text's length + 2.
    char *name = AM_MALLOC(strlen(text) + 2);
    const char *p = skip_bom(text);
    int line = 1, rc = 0, first_row = 1, nf;
    for (;;) {
        int row, got = am_csv_row(&p, name, &nf, &line, &row, source);
        if (got <= 0) { rc = got; break; }
        const char *label = name + strlen(name) + 1;
        if (nf < 2) { rc = am_seterr("%s:%d: expected 'filename,label', got '%s'", source, row, name); break; }
        // The header, if any, is the first row (after comments and blank lines).
        int header = first_row && !strcasecmp(name, "filename");
        first_row = 0;
        if (header) continue;
        int lab;
        if (!strcasecmp(label, "normal")) lab = AM_NORMAL;
        else if (!strcasecmp(label, "anomaly")) lab = AM_ANOMALY;
        else {
            rc = am_seterr("%s:%d: unknown label '%s' for '%s' (expected normal or anomaly)", source, row, label, name);
            break;
        }
        st->rows++;
        const char *base = strrchr(name, '/');
        base = base ? base + 1 : name;
        int lo = 0, hi = d->n - 1, hit = -1;
        while (lo <= hi) {
            int mid = (lo + hi) / 2, c = strcmp(d->names[order[mid]], base);
            if (!c) { hit = order[mid]; break; }
            if (c < 0) lo = mid + 1; else hi = mid - 1;
        }
        if (hit < 0) {
            if (st->unknown_files++ < 10) am_warn("%s:%d: '%s' is not among the images; row ignored", source, row, base);
            continue;
        }
        if (seen[hit]) {
            if (st->duplicates++ < 10) am_warn("%s:%d: '%s' is labelled again; the first label is kept", source, row, base);
            continue;
        }
        seen[hit] = 1;
        d->label[hit] = lab;
        st->matched++;
        if (lab == AM_ANOMALY) st->anomalies++; else st->normals++;
    }
    if (!rc && st->unknown_files > 10) am_warn("%s: %d rows name files that are not among the images", source, st->unknown_files);
    if (!rc && st->duplicates > 10) am_warn("%s: %d duplicate rows", source, st->duplicates);
    if (rc) memcpy(d->label, before, sizeof(int) * d->n);
    free(name);
    free(before);
    free(order);
    free(seen);
    return rc;
}

char *am_csv_read_file(const char *csv, const char *what) {
    size_t len;
    char *text = am_file_read(csv, &len);
    if (!text) {
        am_seterr("cannot open %s '%s': %s", what, csv, strerror(errno));
        return NULL;
    }
    if (strlen(text) < len) {
        int line = 1;
        for (const char *s = text; *s; s++) line += *s == '\n';
        am_seterr("%s:%d: a NUL byte: the file is not a text CSV (save it as UTF-8 text)", csv, line);
        free(text);
        return NULL;
    }
    return text;
}

int am_dataset_apply_labels(am_dataset *d, const char *csv, am_label_stats *st) {
    memset(st, 0, sizeof *st);
    char *text = am_csv_read_file(csv, "labels file");
    if (!text) return -1;
    int rc = am_dataset_apply_labels_text(d, text, csv, st);
    free(text);
    return rc;
}

char **am_csv_first_column(const char *csv, const char *what, int *n) {
    char *text = am_csv_read_file(csv, what);
    *n = 0;
    if (!text) return NULL;
    char *row = AM_MALLOC(strlen(text) + 2);
    const char *p = skip_bom(text);
    int line = 1, nf, cap = 16, got;
    char **v = AM_MALLOC(sizeof(char *) * cap);
    for (int first = 1; (got = am_csv_row(&p, row, &nf, &line, NULL, csv)) > 0; first = 0) {
        if (first && !strcasecmp(row, "filename")) continue;
        if (*n == cap) {
            cap *= 2;
            v = realloc(v, sizeof(char *) * cap);
            AM_CHECK(v != NULL, "out of memory reading a CSV file");
        }
        v[(*n)++] = strdup(row);
    }
    free(row);
    free(text);
    if (got < 0) {
        for (int i = 0; i < *n; i++) free(v[i]);
        free(v);
        *n = 0;
        return NULL;
    }
    return v;
}

// A field needs quotes when the reader would otherwise split, trim or skip it.
static int needs_quotes(const char *s) {
    size_t n = strlen(s);
    return strpbrk(s, ",\"\r\n") || (n && (s[0] == '#' || isspace((unsigned char)s[0]) ||
                                           isspace((unsigned char)s[n - 1])));
}

void am_csv_write_field(FILE *f, const char *s) {
    if (!needs_quotes(s)) { fputs(s, f); return; }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

char *am_dataset_labels_csv(const am_dataset *d) {
    char *text;
    size_t len;
    FILE *f = open_memstream(&text, &len);
    AM_CHECK(f != NULL, "out of memory writing the labels");
    fprintf(f, "filename,label\n");
    for (int i = 0; i < d->n; i++) {
        if (d->label[i] == AM_UNLABELLED) continue;
        am_csv_write_field(f, d->names[i]);
        fprintf(f, ",%s\n", d->label[i] == AM_ANOMALY ? "anomaly" : "normal");
    }
    fclose(f);
    return text;
}
