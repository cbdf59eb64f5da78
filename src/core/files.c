// Whole files (am/files.h).
#include "am/files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "am/error.h"

char *am_file_read(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *b = NULL;
    size_t len = 0, cap = 0, got;
    do {
        if (len + 65536 > cap) {
            cap = 2 * cap + 65536;
            b = realloc(b, cap + 1);
            AM_CHECK(b != NULL, "out of memory reading a file");
        }
        got = fread(b + len, 1, cap - len, f);
        len += got;
    } while (got);
    int bad = ferror(f), e = errno;
    fclose(f);
    if (bad) {
        free(b);
        errno = e;
        return NULL;
    }
    b[len] = 0;
    if (n) *n = len;
    return b;
}

int am_file_write_atomic(const char *path, const void *data, size_t n) {
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    int ok = f && fwrite(data, 1, n, f) == n && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int e = errno;
    if (f && fclose(f) && ok) { ok = 0; e = errno; }
    if (ok && rename(tmp, path)) { ok = 0; e = errno; }
    if (!ok) {
        unlink(tmp);
        return am_seterr("cannot write '%s': %s%s", path, strerror(e),
                         e == ENOSPC || e == EFBIG ? " (the disk is full: free space and run the command again; the "
                                                     "previous file is intact)" : "");
    }
    return 0;
}

int am_mkdir_p(const char *dir) {
    char p[4096];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(p, 0755);
            *s = '/';
        }
    if (mkdir(p, 0755) && errno != EEXIST) return am_seterr("cannot create the folder '%s': %s", dir, strerror(errno));
    return 0;
}
