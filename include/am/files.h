// Whole files: read into memory, and written atomically; folders made.
#pragma once
#include <stddef.h>

// The whole file, NUL-terminated (malloc'd, *n bytes before the NUL; n may
// be NULL), or NULL with errno set.
char *am_file_read(const char *path, size_t *n);
// Writes n bytes to path through a temporary file beside it (flushed,
// fsync'ed, renamed over path): a full disk or a crash leaves the previous
// file intact. 0, or -1 (am_error() names the file and the cause).
int am_file_write_atomic(const char *path, const void *data, size_t n);
// Makes folder dir and any missing parents (mkdir -p). 0, or -1
// (am_error() names the folder and the cause).
int am_mkdir_p(const char *dir);
