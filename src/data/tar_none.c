// The tar reader of a build without libarchive (the Makefile takes this file
// instead of tar.c): every shard fails to open, with the package to install.
#include "am/error.h"
#include "am/tar.h"

static void *none(const char *name) {
    am_seterr("cannot read tar shard '%s': this am was built without libarchive (apt-get install libarchive-dev, "
              "then rebuild)", name);
    return NULL;
}

am_tar *am_tar_open(const char *path) { return none(path); }

am_tar *am_tar_open_memory(const void *data, size_t n, const char *name) {
    (void)data;
    (void)n;
    return none(name);
}

int am_tar_next(am_tar *t, const char **name, uint8_t **buf, size_t *n, size_t *cap, size_t max_bytes) {
    (void)t, (void)name, (void)buf, (void)n, (void)cap, (void)max_bytes;
    return 0;
}

uint64_t am_tar_count(const am_tar *t) { (void)t; return 0; }

void am_tar_close(am_tar *t) { (void)t; }
