// libFuzzer harness: tar shards (am_tar_*) over the real libarchive, from
// memory: each input is opened as a shard (plain or compressed: the filters
// are detected by content) and read to the end twice, once with the members'
// data (limit 1024 bytes) and once skipping them. Checks the contract: a
// member read has its name and at most the limit of bytes, one over it gives
// 2 with its size; the end (0) and a failure (-1, with a message naming the
// shard) repeat on the next call; and both passes return the same members
// (name and size) as far as both go.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/tar.h"

#define LIMIT 1024
#define MAX_MEMBERS 4096

static uint64_t seen[MAX_MEMBERS];  // pass 0's members: a hash of name and size

static uint64_t member_hash(const char *name, size_t n) {
    uint64_t h = 1469598103934665603ull ^ n;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 1099511628211ull;
    return h;
}

static void must_name_shard(void) {
    if (!strstr(am_error(), "fuzz.tar")) abort();
}

// One pass; returns the members it returned.
static int read_shard(const uint8_t *data, size_t size, int with_data, int common) {
    am_tar *t = am_tar_open_memory(data, size, "fuzz.tar");
    if (!t) {
        must_name_shard();
        return 0;
    }
    uint8_t *buf = NULL;
    size_t cap = 0;
    int k = 0, r;
    for (;;) {
        const char *name = NULL;
        size_t n = 0;
        r = am_tar_next(t, &name, with_data ? &buf : NULL, &n, &cap, LIMIT);
        if (r != 1 && r != 2) break;
        if (!name || (r == 2) != (n > LIMIT)) abort();
        if (r == 1 && with_data && n) {
            if (n > cap) abort();
            volatile uint8_t sink = buf[0] ^ buf[n - 1];
            (void)sink;
        }
        if (am_tar_count(t) != (uint64_t)k + 1) abort();
        if (k < MAX_MEMBERS) {
            if (!with_data) seen[k] = member_hash(name, n);
            else if (k < common && seen[k] != member_hash(name, n)) abort();
        }
        k++;
    }
    if (r == -1) must_name_shard();
    if (r != 0 && r != -1) abort();
    const char *name;
    size_t n;
    if (am_tar_next(t, &name, with_data ? &buf : NULL, &n, &cap, LIMIT) != r) abort();
    am_tar_close(t);
    free(buf);
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int skipped = read_shard(data, size, 0, 0);
    read_shard(data, size, 1, skipped < MAX_MEMBERS ? skipped : MAX_MEMBERS);
    return 0;
}
