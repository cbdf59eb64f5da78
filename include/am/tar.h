// Tar shards of encoded images (am_infer): members read in archive order
// through libarchive, plain or compressed.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct am_tar am_tar;

// Opens a tar shard, plain or compressed (gzip, bzip2, xz/lzma, zstd, lz4,
// compress: libarchive detects the filter by content, whatever the name:
// .tar, .tar.gz, .tgz ...). The first header is read here, so that a file
// that is no tar fails now. An empty file is an empty archive. Returns NULL
// with am_error() naming the file and the cause.
am_tar *am_tar_open(const char *path);
// The same over n bytes in memory (the fuzz harness), named `name` in
// messages; the bytes must outlive the handle.
am_tar *am_tar_open_memory(const void *data, size_t n, const char *name);

// The next regular-file member in archive order; directories, symbolic and
// hard links, devices and FIFOs are passed over and not counted.
// *name: the member's path (valid until the next call on t). When buf is
// not NULL the member's bytes are read into *buf (grown with realloc;
// capacity *cap), their length in *n. When buf is NULL the data are skipped
// (resume, counting: on an uncompressed tar file libarchive seeks over them)
// and *n is the member's size.
// Returns 1: a member; 0: the end of the archive; 2: the member is larger
// than max_bytes (its data skipped, *n its size: the caller records a
// skipped row and goes on); -1: the archive is corrupt or truncated from
// here on (am_error() names the file, the member's index among the regular
// members and its name or the one before it, and the cause): the caller
// stops reading this shard; the members returned before stay valid, and
// every later call returns -1 again.
int am_tar_next(am_tar *t, const char **name, uint8_t **buf, size_t *n, size_t *cap, size_t max_bytes);

// Regular members returned so far (1 and 2 results).
uint64_t am_tar_count(const am_tar *t);

void am_tar_close(am_tar *t);
