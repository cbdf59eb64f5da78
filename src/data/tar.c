// Tar shards through libarchive's streaming reader: one pass in archive
// order, each member's header before its data, so that a shard on a network
// file system, compressed or not, is read once, front to back (a compressed
// one cannot be read otherwise). The filters are named one by one (not
// archive_read_support_filter_all) so that none falls back to an external
// program.
#include "am/tar.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "am/error.h"

// Read in blocks of 1 MiB: fewer system calls on parallel file systems.
#define BLOCK_BYTES ((size_t)1 << 20)

struct am_tar {
    struct archive *a;
    struct archive_entry *pending;  // a header read but not yet returned (the first, read by open)
    int state;                      // 0 reading, 1 at the end, -1 failed
    uint64_t count;                 // regular members returned
    char *path;
    char *name;  // the last member returned, our copy
    size_t namecap;
    char err[768];  // the failure, repeated by every later call
};

static void set_name(am_tar *t, const char *s) {
    size_t len = strlen(s) + 1;
    if (len > t->namecap) {
        free(t->name);
        t->namecap = len < 256 ? 256 : len;
        t->name = AM_MALLOC(t->namecap);
    }
    memcpy(t->name, s, len);
}

// Records the failure and returns -1. in_data: while reading the data of the
// member just named (index t->count); else at the header after it.
static int fail(am_tar *t, int in_data, const char *cause) {
    const char *lib = archive_error_string(t->a);
    char where[320];
    if (in_data)
        snprintf(where, sizeof where, "member %llu ('%s')", (unsigned long long)t->count, t->name);
    else if (t->count)
        snprintf(where, sizeof where, "the header of member %llu (after '%s')", (unsigned long long)t->count,
                 t->name);
    else
        snprintf(where, sizeof where, "the header of member 0");
    snprintf(t->err, sizeof t->err,
             "tar shard '%s', %s: %s%s%s: the shard is corrupt or truncated from here on (the members before it are "
             "valid); copy or write it again",
             t->path, where, cause, lib ? ": " : "", lib ? lib : "");
    t->state = -1;
    return am_seterr("%s", t->err);
}

static am_tar *tar_new(const char *name) {
    am_tar *t = AM_CALLOC(sizeof *t);
    t->path = strdup(name);
    AM_CHECK(t->path, "out of memory");
    set_name(t, "");
    t->a = archive_read_new();
    AM_CHECK(t->a, "archive_read_new: out of memory");
    archive_read_support_filter_gzip(t->a);
    archive_read_support_filter_bzip2(t->a);
    archive_read_support_filter_xz(t->a);
    archive_read_support_filter_lzma(t->a);
    archive_read_support_filter_zstd(t->a);
    archive_read_support_filter_lz4(t->a);
    archive_read_support_filter_compress(t->a);
    archive_read_support_format_tar(t->a);
    archive_read_support_format_empty(t->a);
    return t;
}

static am_tar *not_tar(am_tar *t) {
    const char *lib = archive_error_string(t->a);
    am_seterr("'%s' is not a readable tar shard (%s): give a .tar, .tar.gz/.tgz, .tar.bz2, .tar.xz or .tar.zst of "
              "image files", t->path, lib ? lib : "unrecognised content");
    am_tar_close(t);
    return NULL;
}

// The first header: a file that is no tar (or no compressed tar) fails here
// at the latest (libarchive recognises the format when it opens).
static am_tar *first_header(am_tar *t) {
    struct archive_entry *e;
    int r = archive_read_next_header(t->a, &e);
    if (r == ARCHIVE_EOF) {
        t->state = 1;
    } else if (r == ARCHIVE_OK || r == ARCHIVE_WARN) {
        t->pending = e;
    } else {
        return not_tar(t);
    }
    return t;
}

am_tar *am_tar_open(const char *path) {
    struct stat st;
    if (stat(path, &st)) {
        am_seterr("cannot open tar shard '%s': %s", path, strerror(errno));
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        am_seterr("'%s' is a directory, not a tar shard: give the .tar file itself", path);
        return NULL;
    }
    am_tar *t = tar_new(path);
    if (archive_read_open_filename(t->a, path, BLOCK_BYTES) != ARCHIVE_OK) return not_tar(t);
    return first_header(t);
}

am_tar *am_tar_open_memory(const void *data, size_t n, const char *name) {
    am_tar *t = tar_new(name);
    if (archive_read_open_memory(t->a, data, n) != ARCHIVE_OK) return not_tar(t);
    return first_header(t);
}

// A member to return: a regular file that is not a hard link to an earlier one.
static int is_member(struct archive_entry *e) {
    return archive_entry_filetype(e) == AE_IFREG && archive_entry_hardlink(e) == NULL;
}

static int read_data(am_tar *t, uint8_t **buf, size_t *cap, size_t size) {
    if (size > *cap || !*buf) {
        uint8_t *p = realloc(*buf, size ? size : 1);
        if (!p) {
            archive_clear_error(t->a);
            return fail(t, 1, "its size does not fit in memory (a corrupt header, or lower max_bytes)");
        }
        *buf = p;
        *cap = size ? size : 1;
    }
    size_t got = 0;
    while (got < size) {
        la_ssize_t r = archive_read_data(t->a, *buf + got, size - got);
        if (r < 0) return fail(t, 1, "cannot read its data");
        if (r == 0) return fail(t, 1, "its data end early");
        got += (size_t)r;
    }
    return 0;
}

int am_tar_next(am_tar *t, const char **name, uint8_t **buf, size_t *n, size_t *cap, size_t max_bytes) {
    if (t->state == 1) return 0;
    if (t->state == -1) return am_seterr("%s", t->err);
    for (;;) {
        struct archive_entry *e = t->pending;
        t->pending = NULL;
        if (!e) {
            int r = archive_read_next_header(t->a, &e);
            if (r == ARCHIVE_EOF) {
                t->state = 1;
                return 0;
            }
            // ARCHIVE_RETRY (a damaged header) too: libarchive would go on
            // at the next header it recognises, past members lost.
            if (r != ARCHIVE_OK && r != ARCHIVE_WARN) return fail(t, 0, "cannot read it");
        }
        if (!is_member(e)) continue;
        const char *path = archive_entry_pathname(e);  // the bytes stored (pax: UTF-8)
        if (!path) path = archive_entry_pathname_utf8(e);
        set_name(t, path ? path : "");
        la_int64_t size = archive_entry_size(e);
        if (size < 0) return fail(t, 1, "its header gives a negative size");
        *name = t->name;
        *n = (size_t)size;
        const int rc = (uint64_t)size > max_bytes ? 2 : 1;
        if (rc == 1 && buf && read_data(t, buf, cap, (size_t)size)) return -1;
        t->count++;
        return rc;
    }
}

uint64_t am_tar_count(const am_tar *t) { return t->count; }

void am_tar_close(am_tar *t) {
    if (!t) return;
    archive_read_free(t->a);
    free(t->path);
    free(t->name);
    free(t);
}
