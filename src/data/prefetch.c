#include "am/prefetch.h"

#include <pthread.h>
#include <stdlib.h>

#include "am/error.h"

struct am_prefetch {
    am_fill_fn fill;
    void *ctx;
    int depth, held;       // slots; slots the consumer holds
    int own;               // slots allocated here
    uint64_t first, end;   // jobs [first, end)
    uint64_t produced;     // jobs filled so far (absolute numbers below this are done)
    uint64_t consumed;     // jobs whose slot may be refilled (absolute)
    int stop;
    unsigned char *slots;
    size_t slot_bytes;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void *producer(void *arg) {
    am_prefetch *p = arg;
    for (uint64_t job = p->first; job < p->end; job++) {
        pthread_mutex_lock(&p->mu);
        while (!p->stop && job >= p->consumed + (uint64_t)p->depth) pthread_cond_wait(&p->cv, &p->mu);
        int stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop) break;
        p->fill(p->ctx, job, p->slots + (job % (uint64_t)p->depth) * p->slot_bytes);
        pthread_mutex_lock(&p->mu);
        p->produced = job + 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

am_prefetch *am_prefetch_start(am_fill_fn fill, void *ctx, size_t slot_bytes, int depth,
                               uint64_t first, uint64_t count) {
    return am_prefetch_start_held(fill, ctx, slot_bytes, depth < 1 ? 1 : depth, 1, NULL, first, count);
}

am_prefetch *am_prefetch_start_held(am_fill_fn fill, void *ctx, size_t slot_bytes, int depth, int held,
                                    void *slots, uint64_t first, uint64_t count) {
    AM_CHECK(held >= 1 && (depth > held || held == 1), "prefetch: more slots than the consumer holds");
    am_prefetch *p = AM_CALLOC(sizeof *p);
    p->fill = fill;
    p->ctx = ctx;
    p->depth = depth < 1 ? 1 : depth;
    p->held = held;
    p->first = p->produced = p->consumed = first;
    p->end = first + count;
    p->slot_bytes = slot_bytes;
    p->own = slots == NULL;
    p->slots = slots ? slots : AM_MALLOC(slot_bytes * (size_t)p->depth);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    AM_CHECK(pthread_create(&p->thread, NULL, producer, p) == 0, "cannot start the loader thread");
    return p;
}

void *am_prefetch_next(am_prefetch *p, uint64_t job) {
    AM_CHECK(job >= p->first && job < p->end, "prefetch job out of range");
    pthread_mutex_lock(&p->mu);
    // The slot of job - held is released now that the consumer moved on.
    uint64_t release = job - p->first >= (uint64_t)p->held - 1 ? job - (uint64_t)p->held + 1 : p->first;
    if (release > p->consumed) p->consumed = release;
    pthread_cond_broadcast(&p->cv);
    while (p->produced <= job) pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    return p->slots + (job % (uint64_t)p->depth) * p->slot_bytes;
}

void am_prefetch_stop(am_prefetch *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    if (p->own) free(p->slots);
    free(p);
}
