// A bounded prefetch queue: one producer thread fills numbered jobs 0, 1, 2...
// into `depth` slots ahead of the consumer, which takes them in order.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef void (*am_fill_fn)(void *ctx, uint64_t job, void *slot);

typedef struct am_prefetch am_prefetch;

// Starts filling jobs first, first+1, ... first+count-1.
am_prefetch *am_prefetch_start(am_fill_fn fill, void *ctx, size_t slot_bytes, int depth,
                               uint64_t first, uint64_t count);
// The same with the consumer holding `held` slots at once (next(j) then
// releases job j - held; depth must exceed held) in the caller's memory
// `slots` (depth * slot_bytes, e.g. pinned host memory a GPU copies from;
// NULL: allocated here).
am_prefetch *am_prefetch_start_held(am_fill_fn fill, void *ctx, size_t slot_bytes, int depth, int held,
                                    void *slots, uint64_t first, uint64_t count);
// Blocks until job `job` (the next in order) is ready; the slot stays valid
// until `held` more calls (one by default) or am_prefetch_stop.
void *am_prefetch_next(am_prefetch *p, uint64_t job);
void am_prefetch_stop(am_prefetch *p);
