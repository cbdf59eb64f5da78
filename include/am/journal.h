// am_infer's journal: an append-only file of fixed-layout records, one per
// completed batch, each saying how far the outputs are valid. A record is
// written only after the output bytes it covers are on disk (fdatasync), so
// after a crash or kill -9 at any moment the last intact record is a state
// to continue from: the outputs are cut back to its offsets and the images
// after its ordinal are scored again. A torn last record (its CRC fails) is
// cut off.
//
// Record, little-endian: "AMJ1", u32 n (items in the batch, <= 1024), u64
// ordinal_end, scores_bytes, skipped_bytes, scored, skipped, excluded,
// elapsed_ns (all cumulative over the shard), ceil(n / 8) bytes of bits
// (bit i: item i of the batch has a row in scores.csv), u32 CRC-32 of the
// bytes before it.
#pragma once
#include <stdint.h>
#include <stdio.h>

#define AM_JOURNAL_BATCH_MAX 1024

typedef struct {
    uint32_t n;
    uint64_t ordinal_end, scores_bytes, skipped_bytes, scored, skipped, excluded, elapsed_ns;
    uint8_t bits[AM_JOURNAL_BATCH_MAX / 8];
} am_jrec;

typedef struct {
    FILE *f;
    char path[4200];
    long good;             // bytes of intact records read or written
    unsigned char *pending;  // records waiting for their outputs' fsync
    size_t npending, cap;
} am_journal;

// Opens (creating) the journal for reading its records from the start,
// locked for this process (flock): -1 (am_error()) when another process
// writes it.
int am_journal_open(am_journal *j, const char *path);
// The next intact record: 1, or 0 at the end of the intact ones (a torn or
// damaged tail is then cut off, so that appends follow the last good record).
// -1 (am_error()) when the file cannot be read or cut.
int am_journal_next(am_journal *j, am_jrec *r);
// Queues a record; am_journal_sync writes the queue and fdatasyncs it.
void am_journal_append(am_journal *j, const am_jrec *r);
int am_journal_sync(am_journal *j);
void am_journal_close(am_journal *j);
