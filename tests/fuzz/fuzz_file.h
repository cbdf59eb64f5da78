// The fuzz input as a file, for readers that take a path: one file per
// process in /dev/shm when there is one (a write per input is much cheaper
// there) or /tmp, removed at exit.
#pragma once
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char fuzz_path[64];

static inline const char *fuzz_tmpdir(void) { return access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"; }

static inline void fuzz_file_cleanup(void) { unlink(fuzz_path); }

// Names the file am_fuzz_<tag>_<pid> and arranges its removal.
static inline void fuzz_file_init(const char *tag) {
    snprintf(fuzz_path, sizeof fuzz_path, "%s/am_fuzz_%s_%d", fuzz_tmpdir(), tag, (int)getpid());
    atexit(fuzz_file_cleanup);
}

// Writes the input to the file and returns its path.
static inline const char *fuzz_file_write(const uint8_t *data, size_t size) {
    FILE *f = fopen(fuzz_path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    return fuzz_path;
}
