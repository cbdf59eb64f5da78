// The emulator's CUDA runtime (tests/emu/README.md): device memory is host
// memory, streams are queues of work run lazily (at the synchronisations
// that CUDA's documented semantics require, never earlier, so that a missing
// synchronisation or a wrong stream shows as stale data), graphs record the
// work a capturing stream is given and replay it, and kernels run every
// block one after another, every CUDA thread a fiber, on the calling OS
// thread. Misuse that real CUDA rejects returns its documented error;
// misuse that would be a bug on a GPU is reported (emu_report) and makes the
// program exit non-zero.
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "emu.h"

#if defined(__SANITIZE_ADDRESS__)
#define EMU_ASAN 1
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

// ---- findings and the last error ---------------------------------------------

static int g_findings;
static cudaError_t g_last = cudaSuccess;
static std::recursive_mutex g_mu;
#define LOCK std::lock_guard<std::recursive_mutex> lock_(g_mu)

static void at_exit_findings(void) {
    if (!g_findings) return;
    fprintf(stderr, "emu: %d finding(s): exiting with status 1\n", g_findings);
    fflush(stdout);
    _exit(1);
}

extern "C" void emu_report(const char *fmt, ...) {
    static bool registered = false;
    if (!registered) {
        atexit(at_exit_findings);
        registered = true;
    }
    fflush(stdout);
    fprintf(stderr, "emu: ");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    g_findings++;
}

extern "C" int emu_findings(void) { return g_findings; }

static cudaError_t fail(cudaError_t e) {
    g_last = e;
    return e;
}

static const char *env(const char *name) {
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") ? v : NULL;
}

// ---- device memory -------------------------------------------------------------

static std::map<uintptr_t, size_t> g_allocs;  // base -> bytes
static size_t g_used;

static size_t mem_total(void) {
    const char *v = getenv("AM_EMU_MEM_MB");
    return (v ? strtoull(v, NULL, 10) : 16384) << 20;
}

extern "C" int emu_is_device(const void *p, size_t bytes) {
    LOCK;
    uintptr_t a = (uintptr_t)p;
    auto it = g_allocs.upper_bound(a);
    if (it == g_allocs.begin()) return 0;
    --it;
    return a >= it->first && a + bytes <= it->first + it->second && a + bytes >= a;
}

// 1 when any byte of [p, p + bytes) is device memory.
static int touches_device(const void *p, size_t bytes) {
    uintptr_t a = (uintptr_t)p;
    auto it = g_allocs.upper_bound(a + (bytes ? bytes - 1 : 0));
    if (it == g_allocs.begin()) return 0;
    --it;
    return it->first + it->second > a;
}

// ---- streams, events, graphs ----------------------------------------------------

struct item {
    std::function<void()> fn;
    const char *what;
    uint64_t seq;
};

struct emu_graph {
    std::vector<item> nodes;
};
struct emu_graph_exec {
    std::vector<item> nodes;
};

struct emu_stream {
    unsigned flags;
    std::deque<item> q;
    emu_graph *capture;  // non-NULL while capturing
    bool invalidated;
    int mode;
    std::thread::id owner;
};

struct emu_event {
    emu_stream *stream;
    bool recorded, done;
    double t;
};

static emu_stream g_legacy = {cudaStreamDefault, {}, NULL, false, 0, {}};
static std::set<emu_stream *> g_streams;
static std::set<emu_event *> g_events;
static uint64_t g_seq;
static bool g_running;  // stream work is executing (no API call may come from a kernel)

// The emulated clock that events read: deterministic, so that choices made
// by timing (cudnnFind, the depthwise selector) are the same on every run.
// Every piece of stream work costs 1 us, and a kernel 1 ns per thread on
// top; the emulated libraries add 1 ns per output element (emu_charge).
static double g_clock_ms;

extern "C" void emu_charge(double elements) { g_clock_ms += elements * 1e-6; }

static double now_ms(void) { return g_clock_ms; }

static emu_stream *resolve(cudaStream_t s) {
    if (!s) return &g_legacy;
    return g_streams.count(s) ? s : NULL;
}

static void run_stream(emu_stream *s) {
    while (!s->q.empty()) {
        item it = std::move(s->q.front());
        s->q.pop_front();
        g_clock_ms += 1e-3;
        g_running = true;
        it.fn();
        g_running = false;
    }
}

// Runs all queued work, oldest first across streams.
static void run_all(void) {
    for (;;) {
        emu_stream *best = g_legacy.q.empty() ? NULL : &g_legacy;
        for (emu_stream *s : g_streams)
            if (!s->q.empty() && (!best || s->q.front().seq < best->q.front().seq)) best = s;
        if (!best) return;
        item it = std::move(best->q.front());
        best->q.pop_front();
        g_clock_ms += 1e-3;
        g_running = true;
        it.fn();
        g_running = false;
    }
}

// The capture that a potentially unsafe call (one that may synchronise
// implicitly) from this thread would break, or NULL.
static emu_stream *capturing_here(void) {
    for (emu_stream *s : g_streams)
        if (s->capture && (s->mode == cudaStreamCaptureModeGlobal ||
                           (s->mode == cudaStreamCaptureModeThreadLocal && s->owner == std::this_thread::get_id())))
            return s;
    return NULL;
}

// A potentially unsafe call during capture: the capture is invalidated and
// the call fails, as CUDA documents for the global and thread-local modes.
static cudaError_t unsafe_during_capture(const char *call) {
    emu_stream *s = capturing_here();
    if (!s) return cudaSuccess;
    s->invalidated = true;
    emu_report("%s during stream capture: not permitted (the capture is invalidated)", call);
    return fail(cudaErrorStreamCaptureUnsupported);
}

static bool blocking_stream_capturing(void) {
    for (emu_stream *s : g_streams)
        if (s->capture && !(s->flags & cudaStreamNonBlocking)) return true;
    return false;
}

// Queues fn on stream st (or records it into the graph st is capturing),
// ordering the legacy default stream against blocking streams.
static cudaError_t submit(cudaStream_t st, const char *what, std::function<void()> fn) {
    emu_stream *s = resolve(st);
    if (!s) {
        emu_report("%s on a stream that does not exist (destroyed or never created)", what);
        return fail(cudaErrorInvalidResourceHandle);
    }
    if (g_running) {
        emu_report("%s called from inside stream work", what);
        return fail(cudaErrorIllegalState);
    }
    item it = {std::move(fn), what, g_seq++};
    if (s->capture && s->invalidated) return fail(cudaErrorStreamCaptureInvalidated);
    const char *force = env("AM_EMU_FAIL_CAPTURE");
    if (s->capture && force && !strncmp(force, "at:", 3) && (long)s->capture->nodes.size() + 1 == atol(force + 3)) {
        s->invalidated = true;  // the K-th call of a capture fails and invalidates it
        return fail(cudaErrorStreamCaptureInvalidated);
    }
    if (s->capture) {
        s->capture->nodes.push_back(std::move(it));
        return cudaSuccess;
    }
    if (s == &g_legacy) {
        if (blocking_stream_capturing()) {
            for (emu_stream *o : g_streams)
                if (o->capture && !(o->flags & cudaStreamNonBlocking)) o->invalidated = true;
            emu_report("%s on the legacy default stream while a blocking stream captures", what);
            return fail(cudaErrorStreamCaptureImplicit);
        }
        for (emu_stream *o : g_streams)
            if (!(o->flags & cudaStreamNonBlocking)) run_stream(o);
    } else if (!(s->flags & cudaStreamNonBlocking)) {
        run_stream(&g_legacy);
    }
    s->q.push_back(std::move(it));
    return cudaSuccess;
}

extern "C" cudaError_t emu_enqueue(cudaStream_t st, const char *what, void (*fn)(void *), const void *arg,
                                   size_t argbytes) {
    LOCK;
    std::vector<char> copy((const char *)arg, (const char *)arg + argbytes);
    return submit(st, what, [fn, copy]() mutable { fn(copy.data()); });
}

// ---- fibers ---------------------------------------------------------------------

enum { T_NEW, T_READY, T_BAR, T_WARP, T_DONE };

struct fiber;
struct thr {
    int state;
    unsigned tid;  // linear thread index in the block
    uint3 idx;
    fiber *f;
    const char *file;
    int line;
    int kind, arg, width;  // warp operation
    unsigned mask;
    uint64_t value, result;
};

struct fiber {
    ucontext_t uc;
    jmp_buf jb;
    char *stack;
    size_t size;
    bool started;
    thr *t;
#ifdef EMU_ASAN
    void *fake;
#endif
};

static std::vector<fiber *> g_fibers, g_free;
static fiber *g_cur;
static thr *g_cur_thr;
static const std::function<void()> *g_body;
static jmp_buf g_sched_jb;
#ifdef EMU_ASAN
static void *g_sched_fake;
static const void *g_sched_bottom;
static size_t g_sched_size;
#endif

static size_t stack_bytes(void) {
#ifdef EMU_ASAN
    return (size_t)1 << 20;
#else
    return (size_t)256 << 10;
#endif
}

static void to_scheduler(void) {
    fiber *f = g_cur;
#ifdef EMU_ASAN
    __sanitizer_start_switch_fiber(&f->fake, g_sched_bottom, g_sched_size);
#endif
    if (!_setjmp(f->jb)) _longjmp(g_sched_jb, 1);
#ifdef EMU_ASAN
    __sanitizer_finish_switch_fiber(f->fake, &g_sched_bottom, &g_sched_size);
#endif
}

static void fiber_main(void) {
#ifdef EMU_ASAN
    __sanitizer_finish_switch_fiber(NULL, &g_sched_bottom, &g_sched_size);
#endif
    for (;;) {
        (*g_body)();
        g_cur->t->state = T_DONE;
        to_scheduler();
    }
}

static fiber *fiber_new(void) {
    fiber *f = new fiber();
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    f->size = stack_bytes();
    f->stack = (char *)mmap(NULL, f->size + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                            -1, 0);
    if (f->stack == MAP_FAILED) {
        fprintf(stderr, "emu: out of memory for a fiber stack\n");
        abort();
    }
    mprotect(f->stack, page, PROT_NONE);  // guard page below the stack
    f->stack += page;
    getcontext(&f->uc);
    f->uc.uc_stack.ss_sp = f->stack;
    f->uc.uc_stack.ss_size = f->size;
    f->uc.uc_link = NULL;
    makecontext(&f->uc, fiber_main, 0);
    g_fibers.push_back(f);
    return f;
}

// The fibers' stacks go back at exit (no fiber runs then).
static struct fiber_pool_end {
    ~fiber_pool_end() {
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        for (fiber *f : g_fibers) {
            munmap(f->stack - page, f->size + page);
            delete f;
        }
        g_fibers.clear();
        g_free.clear();
    }
} g_fiber_pool_end;

// Runs thread t on its fiber until it finishes or blocks.
static void switch_to(thr *t) {
    if (!t->f) {
        if (g_free.empty()) g_free.push_back(fiber_new());
        t->f = g_free.back();
        g_free.pop_back();
        t->f->t = t;
    }
    fiber *f = t->f;
    threadIdx = t->idx;
    g_cur = f;
    g_cur_thr = t;
    t->state = T_READY;
#ifdef EMU_ASAN
    __sanitizer_start_switch_fiber(&g_sched_fake, f->stack, f->size);
#endif
    if (!_setjmp(g_sched_jb)) {
        if (!f->started) {
            f->started = true;
            setcontext(&f->uc);
        }
        _longjmp(f->jb, 1);
    }
#ifdef EMU_ASAN
    __sanitizer_finish_switch_fiber(g_sched_fake, NULL, NULL);
#endif
    g_cur = NULL;
    g_cur_thr = NULL;
    if (t->state == T_DONE) {
        t->f = NULL;
        f->t = NULL;
        g_free.push_back(f);
    }
}

// ---- blocks: barriers and warp operations -----------------------------------------

static const char *g_kernel;
static std::vector<std::pair<void *, size_t>> g_shared;

[[noreturn]] static void deadlock(std::vector<thr> &ts, const char *why) {
    fflush(stdout);
    fprintf(stderr, "emu: kernel %s block (%u,%u,%u): %s\n", g_kernel, blockIdx.x, blockIdx.y, blockIdx.z, why);
    int shown = 0;
    for (thr &t : ts)
        if (t.state == T_BAR || t.state == T_WARP) {
            if (shown++ < 8)
                fprintf(stderr, "emu:   thread (%u,%u,%u) waits at %s at %s:%d\n", t.idx.x, t.idx.y, t.idx.z,
                        t.state == T_BAR ? "__syncthreads" : "a warp operation", t.file, t.line);
        }
    fprintf(stderr, "emu: a GPU would hang or misbehave here: stopping\n");
    _exit(70);
}

extern "C" void emu_syncthreads(const char *file, int line) {
    thr *t = g_cur_thr;
    if (!t) {
        emu_report("__syncthreads at %s:%d outside a kernel", file, line);
        return;
    }
    t->state = T_BAR;
    t->file = file;
    t->line = line;
    to_scheduler();
}

extern "C" void emu_shared(void *p, size_t bytes) {
    for (auto &s : g_shared)
        if (s.first == p) return;
    g_shared.push_back({p, bytes});
    memset(p, 0xFF, bytes);
}

static std::vector<thr> *g_block;

extern "C" unsigned emu_active_mask_(void) {
    thr *me = g_cur_thr;
    unsigned base = me->tid & ~31u, m = 0;
    for (unsigned l = 0; l < 32 && base + l < g_block->size(); l++)
        if ((*g_block)[base + l].state != T_DONE) m |= 1u << l;
    return m;
}

namespace emu {
uint64_t warp_op(int kind, unsigned mask, uint64_t value, int arg, int width, const char *file, int line) {
    thr *t = g_cur_thr;
    if (!t) {
        emu_report("warp operation at %s:%d outside a kernel", file, line);
        return value;
    }
    if (!(mask >> (t->tid & 31) & 1u)) emu_report("warp operation at %s:%d: the calling lane is not in mask %#x", file, line, mask);
    if (width < 1 || width > 32 || (width & (width - 1)))
        emu_report("warp operation at %s:%d: width %d is not a power of 2 in 1..32", file, line, width);
    t->state = T_WARP;
    t->kind = kind;
    t->mask = mask;
    t->value = value;
    t->arg = arg;
    t->width = width;
    t->file = file;
    t->line = line;
    to_scheduler();
    return t->result;
}
}  // namespace emu

// The source lane of a shuffle, or the lane itself where CUDA returns the
// caller's own value.
static unsigned shfl_src(const thr &t, unsigned lane) {
    unsigned w = (unsigned)t.width, seg = lane / w * w;
    switch (t.kind) {
    case 0: return seg + ((unsigned)t.arg % w);
    case 1: return lane - seg >= (unsigned)t.arg ? lane - (unsigned)t.arg : lane;
    case 2: return lane - seg + (unsigned)t.arg < w ? lane + (unsigned)t.arg : lane;
    default: {
        unsigned s = lane ^ (unsigned)t.arg;
        return s < seg + w ? s : lane;
    }
    }
}

// Releases the warp operations whose every named lane has arrived; 1 when
// any was released.
static int release_warps(std::vector<thr> &ts) {
    int any = 0;
    for (size_t base = 0; base < ts.size(); base += 32) {
        size_t n = std::min((size_t)32, ts.size() - base);
        for (size_t l = 0; l < n; l++) {
            thr &t = ts[base + l];
            if (t.state != T_WARP) continue;
            unsigned mask = t.mask, exist = n == 32 ? 0xffffffffu : (1u << n) - 1;
            if (mask & ~exist) {
                emu_report("kernel %s: warp operation at %s:%d names lanes %#x that do not exist (a partial warp of %zu)",
                           g_kernel, t.file, t.line, mask & ~exist, n);
                mask &= exist;
            }
            bool ready = true;
            for (size_t k = 0; k < n; k++)
                if (mask >> k & 1u) {
                    thr &o = ts[base + k];
                    if (o.state == T_DONE) {
                        emu_report("kernel %s: warp operation at %s:%d names lane %zu, which has exited", g_kernel,
                                   t.file, t.line, k);
                        mask &= ~(1u << k);
                    } else if (o.state != T_WARP) {
                        ready = false;
                    } else if (o.mask != t.mask || o.kind != t.kind || o.width != t.width) {
                        emu_report("kernel %s: warp lanes %zu and %zu meet at different warp operations (%s:%d, %s:%d)",
                                   g_kernel, l, k, t.file, t.line, o.file, o.line);
                    }
                }
            if (!ready) continue;
            uint64_t ballot = 0;
            for (size_t k = 0; k < n; k++)
                if (mask >> k & 1u) ballot |= (uint64_t)(ts[base + k].value != 0) << k;
            for (size_t k = 0; k < n; k++) {
                if (!(mask >> k & 1u)) continue;
                thr &o = ts[base + k];
                if (o.kind == 4) {
                    o.result = ballot;
                } else if (o.kind == 5) {
                    o.result = 0;
                } else {
                    unsigned src = shfl_src(o, (unsigned)k);
                    if (src >= n || !(mask >> src & 1u)) {
                        emu_report("kernel %s: shuffle at %s:%d: lane %zu reads lane %u, which is not in mask %#x",
                                   g_kernel, o.file, o.line, k, src, o.mask);
                        o.result = o.value;
                    } else {
                        o.result = ts[base + src].value;
                    }
                }
                o.state = T_READY;
            }
            any = 1;
        }
    }
    return any;
}

// Releases a block barrier that every live thread has reached; 1 when
// released.
static int release_barrier(std::vector<thr> &ts) {
    const thr *first = NULL, *other = NULL;
    int exited = 0, waiting = 0;
    for (thr &t : ts) {
        if (t.state == T_BAR) {
            waiting++;
            if (!first) first = &t;
            else if (!other && (t.line != first->line || strcmp(t.file, first->file))) other = &t;
        } else if (t.state == T_DONE) {
            exited++;
        } else {
            return 0;
        }
    }
    if (!waiting) return 0;
    if (other)
        emu_report("kernel %s block (%u,%u,%u): divergent __syncthreads: threads wait at %s:%d and at %s:%d", g_kernel,
                   blockIdx.x, blockIdx.y, blockIdx.z, first->file, first->line, other->file, other->line);
    if (exited)
        emu_report("kernel %s block (%u,%u,%u): __syncthreads at %s:%d is not reached by %d thread(s) that exited",
                   g_kernel, blockIdx.x, blockIdx.y, blockIdx.z, first->file, first->line, exited);
    for (thr &t : ts)
        if (t.state == T_BAR) t.state = T_READY;
    return 1;
}

static bool g_reverse;

static void run_block(std::vector<thr> &ts) {
    g_block = &ts;
    g_shared.clear();
    for (;;) {
        bool any = false;
        for (size_t i = 0; i < ts.size(); i++) {
            thr &t = ts[g_reverse ? ts.size() - 1 - i : i];
            if (t.state == T_NEW || t.state == T_READY) {
                switch_to(&t);
                any = true;
            }
        }
        if (any) continue;
        bool done = true;
        for (thr &t : ts) done &= t.state == T_DONE;
        if (done) break;
        if (release_warps(ts) || release_barrier(ts)) continue;
        deadlock(ts, "every live thread waits and no barrier or warp operation can complete");
    }
    g_block = NULL;
}

static void run_kernel(dim3 grid, dim3 block, const char *name, const std::function<void()> &body) {
    g_kernel = name;
    g_body = &body;
    gridDim = grid;
    blockDim = block;
    size_t nb = (size_t)grid.x * grid.y * grid.z, nt = (size_t)block.x * block.y * block.z;
    emu_charge((double)(nb * nt));
    std::vector<thr> ts(nt);
    for (size_t b = 0; b < nb; b++) {
        size_t k = g_reverse ? nb - 1 - b : b;
        blockIdx = {(unsigned)(k % grid.x), (unsigned)(k / grid.x % grid.y), (unsigned)(k / ((size_t)grid.x * grid.y))};
        for (size_t i = 0; i < nt; i++) {
            thr &t = ts[i];
            t = thr();
            t.tid = (unsigned)i;
            t.idx = {(unsigned)(i % block.x), (unsigned)(i / block.x % block.y), (unsigned)(i / ((size_t)block.x * block.y))};
        }
        run_block(ts);
    }
}

// ---- kernel launch ----------------------------------------------------------------

namespace emu {
void launch_closure(dim3 grid, dim3 block, size_t shmem, void *stream, const char *name, std::function<void()> body) {
    LOCK;
    g_reverse = env("AM_EMU_REVERSE") != NULL;
    size_t nt = (size_t)block.x * block.y * block.z;
    if (!grid.x || !grid.y || !grid.z || !block.x || !block.y || !block.z || block.x > 1024 || block.y > 1024 ||
        block.z > 64 || nt > 1024 || grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535 || shmem > 48 * 1024) {
        fail(cudaErrorInvalidConfiguration);
        return;
    }
    cudaError_t e = submit((cudaStream_t)stream, name, [grid, block, name, body]() { run_kernel(grid, block, name, body); });
    if (e != cudaSuccess) fail(e);
}
}  // namespace emu

// ---- the runtime API -------------------------------------------------------------

extern "C" {

const char *cudaGetErrorName(cudaError_t e) {
    switch (e) {
#define N(x) case x: return #x;
        N(cudaSuccess) N(cudaErrorInvalidValue) N(cudaErrorMemoryAllocation) N(cudaErrorInvalidConfiguration)
        N(cudaErrorInvalidDevicePointer) N(cudaErrorInvalidMemcpyDirection) N(cudaErrorNoDevice)
        N(cudaErrorInvalidDevice) N(cudaErrorInvalidResourceHandle) N(cudaErrorIllegalState) N(cudaErrorNotReady)
        N(cudaErrorIllegalAddress) N(cudaErrorLaunchOutOfResources) N(cudaErrorLaunchFailure)
        N(cudaErrorStreamCaptureUnsupported) N(cudaErrorStreamCaptureInvalidated) N(cudaErrorStreamCaptureUnmatched)
        N(cudaErrorStreamCaptureImplicit) N(cudaErrorStreamCaptureWrongThread)
#undef N
    }
    return "cudaErrorUnknown";
}

const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorStreamCaptureImplicit: return "operation would make the legacy stream depend on a capturing blocking stream";
    default: return cudaGetErrorName(e);
    }
}

cudaError_t cudaGetLastError(void) {
    LOCK;
    cudaError_t e = g_last;
    g_last = cudaSuccess;
    return e;
}

cudaError_t cudaPeekAtLastError(void) { return g_last; }

static int device_count(void) {
    const char *v = getenv("AM_EMU_DEVICES");
    return v ? atoi(v) : 1;
}

cudaError_t cudaGetDeviceCount(int *n) {
    *n = device_count();
    return *n ? cudaSuccess : fail(cudaErrorNoDevice);
}

static int g_device;

cudaError_t cudaSetDevice(int device) {
    if (device < 0 || device >= device_count()) return fail(cudaErrorInvalidDevice);
    g_device = device;
    return cudaSuccess;
}

cudaError_t cudaGetDevice(int *device) {
    *device = g_device;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *p, int device) {
    if (device < 0 || device >= device_count()) return fail(cudaErrorInvalidDevice);
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "am CPU emulator (tests/emu)");
    p->totalGlobalMem = mem_total();
    p->sharedMemPerBlock = 48 * 1024;
    p->warpSize = 32;
    p->maxThreadsPerBlock = 1024;
    p->maxThreadsDim[0] = p->maxThreadsDim[1] = 1024;
    p->maxThreadsDim[2] = 64;
    p->maxGridSize[0] = 0x7fffffff;
    p->maxGridSize[1] = p->maxGridSize[2] = 65535;
    p->major = 9;
    p->minor = 0;
    p->multiProcessorCount = 1;
    return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) {
    LOCK;
    cudaError_t e = unsafe_during_capture("cudaDeviceSynchronize");
    if (e) return e;
    run_all();
    return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
    LOCK;
    *total_bytes = mem_total();
    *free_bytes = *total_bytes - g_used;
    return cudaSuccess;
}

cudaError_t cudaMalloc(void **p, size_t bytes) {
    LOCK;
    *p = NULL;
    cudaError_t e = unsafe_during_capture("cudaMalloc");
    if (e) return e;
    if (bytes == 0) return cudaSuccess;
    if (bytes > mem_total() - g_used) return fail(cudaErrorMemoryAllocation);
    size_t rounded = (bytes + 255) / 256 * 256;
    void *m = aligned_alloc(256, rounded);
    if (!m) return fail(cudaErrorMemoryAllocation);
    // Poison: uninitialised device memory reads as NaN (0xFF bytes).
    memset(m, 0xFF, rounded);
    g_allocs[(uintptr_t)m] = bytes;
    g_used += bytes;
    *p = m;
    return cudaSuccess;
}

cudaError_t cudaFree(void *p) {
    LOCK;
    if (!p) return cudaSuccess;
    cudaError_t e = unsafe_during_capture("cudaFree");
    if (e) return e;
    auto it = g_allocs.find((uintptr_t)p);
    if (it == g_allocs.end()) {
        emu_report("cudaFree(%p): not the start of a live allocation", p);
        return fail(cudaErrorInvalidValue);
    }
    run_all();  // cudaFree synchronises the device
    g_used -= it->second;
    g_allocs.erase(it);
    free(p);
    return cudaSuccess;
}

// ---- pinned host memory ----------------------------------------------------------
// cudaHostAlloc'd memory: an asynchronous copy from or to it is not staged
// at the call (as pageable memory is) but reads or writes it when the stream
// runs the copy, as a GPU's DMA does; so a host buffer changed or read before
// its copy is known to be done shows the stale or missing bytes.

static std::map<uintptr_t, size_t> g_pinned;  // base -> bytes

static int is_pinned(const void *p, size_t bytes) {
    uintptr_t a = (uintptr_t)p;
    auto it = g_pinned.upper_bound(a);
    if (it == g_pinned.begin()) return 0;
    --it;
    return a >= it->first && a + bytes <= it->first + it->second;
}

cudaError_t cudaHostAlloc(void **p, size_t bytes, unsigned flags) {
    LOCK;
    (void)flags;
    cudaError_t e = unsafe_during_capture("cudaHostAlloc");
    if (e) return e;
    void *q = NULL;
    if (posix_memalign(&q, 4096, bytes ? bytes : 1)) return fail(cudaErrorMemoryAllocation);
    g_pinned[(uintptr_t)q] = bytes;
    *p = q;
    return cudaSuccess;
}

cudaError_t cudaMallocHost(void **p, size_t bytes) { return cudaHostAlloc(p, bytes, cudaHostAllocDefault); }

cudaError_t cudaFreeHost(void *p) {
    LOCK;
    if (!p) return cudaSuccess;
    cudaError_t e = unsafe_during_capture("cudaFreeHost");
    if (e) return e;
    auto it = g_pinned.find((uintptr_t)p);
    if (it == g_pinned.end()) {
        emu_report("cudaFreeHost(%p): not the start of a live cudaHostAlloc allocation", p);
        return fail(cudaErrorInvalidValue);
    }
    run_all();  // cudaFreeHost synchronises the device
    g_pinned.erase(it);
    free(p);
    return cudaSuccess;
}

// The documented direction of a copy against where its pointers lie.
static cudaError_t check_copy(const char *call, void *dst, const void *src, size_t n, enum cudaMemcpyKind kind) {
    bool dd = emu_is_device(dst, n), sd = emu_is_device(src, n);
    bool dt = touches_device(dst, n), stt = touches_device(src, n);
    if ((dt && !dd) || (stt && !sd)) {
        emu_report("%s of %zu bytes: a pointer runs past the end of its device allocation", call, n);
        return fail(cudaErrorInvalidValue);
    }
    bool want_dd = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    bool want_sd = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    if (kind == cudaMemcpyDefault || kind == cudaMemcpyHostToHost) return cudaSuccess;
    if (kind > cudaMemcpyDefault) return fail(cudaErrorInvalidMemcpyDirection);
    if (dd != want_dd || sd != want_sd) {
        emu_report("%s: kind %d but the destination is %s memory and the source %s memory", call, (int)kind,
                   dd ? "device" : "host", sd ? "device" : "host");
        return fail(cudaErrorInvalidValue);
    }
    return cudaSuccess;
}

struct copy_args {
    void *dst;
    const void *src;
    size_t n;
};
static void do_copy(void *p) {
    copy_args *a = (copy_args *)p;
    memmove(a->dst, a->src, a->n);
}

// A copy on stream s: a host source is staged at the call (pageable memory);
// a host destination is written before the call returns.
// cudaMemcpy returns when its copy is done; cudaMemcpyAsync to pinned memory does not.
static bool kind_is_sync(const char *call) { return !strcmp(call, "cudaMemcpy"); }

static cudaError_t copy_on(const char *call, void *dst, const void *src, size_t n, enum cudaMemcpyKind kind,
                           cudaStream_t st) {
    cudaError_t e = check_copy(call, dst, src, n, kind);
    if (e || !n) return e;
    emu_stream *s = resolve(st);
    if (!s) return fail(cudaErrorInvalidResourceHandle);
    bool host_src = !emu_is_device(src, n), host_dst = !emu_is_device(dst, n);
    bool pinned_src = host_src && is_pinned(src, n), pinned_dst = host_dst && is_pinned(dst, n);
    if (s->capture && ((host_src && !pinned_src) || (host_dst && !pinned_dst))) {
        s->invalidated = true;
        emu_report("%s of pageable host memory during stream capture", call);
        return fail(cudaErrorStreamCaptureUnsupported);
    }
    bool sync = kind_is_sync(call);
    if (host_src && !pinned_src) {
        std::vector<char> staged((const char *)src, (const char *)src + n);
        e = submit(st, call, [dst, staged]() { memcpy(dst, staged.data(), staged.size()); });
    } else {
        copy_args a = {dst, src, n};
        e = submit(st, call, [a]() mutable { do_copy(&a); });
    }
    if (e) return e;
    if (host_dst && (!pinned_dst || sync)) run_stream(s);
    return cudaSuccess;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind) {
    LOCK;
    cudaError_t e = unsafe_during_capture("cudaMemcpy");
    if (e) return e;
    e = copy_on("cudaMemcpy", dst, src, n, kind, 0);
    if (e) return e;
    run_stream(&g_legacy);
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind, cudaStream_t s) {
    LOCK;
    return copy_on("cudaMemcpyAsync", dst, src, n, kind, s);
}

struct set_args {
    void *p;
    int v;
    size_t n;
};
static void do_set(void *p) {
    set_args *a = (set_args *)p;
    memset(a->p, a->v, a->n);
}

static cudaError_t set_on(const char *call, void *p, int v, size_t n, cudaStream_t s) {
    if (!n) return cudaSuccess;
    if (!emu_is_device(p, n)) {
        emu_report("%s(%p, %zu bytes): not inside one device allocation", call, p, n);
        return fail(cudaErrorInvalidValue);
    }
    set_args a = {p, v, n};
    return submit(s, call, [a]() mutable { do_set(&a); });
}

cudaError_t cudaMemset(void *p, int v, size_t n) {
    LOCK;
    cudaError_t e = unsafe_during_capture("cudaMemset");
    if (e) return e;
    return set_on("cudaMemset", p, v, n, 0);
}

cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t s) {
    LOCK;
    return set_on("cudaMemsetAsync", p, v, n, s);
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags) {
    LOCK;
    emu_stream *n = new emu_stream();
    n->flags = flags;
    g_streams.insert(n);
    *s = n;
    return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t *s) { return cudaStreamCreateWithFlags(s, cudaStreamDefault); }

cudaError_t cudaStreamDestroy(cudaStream_t st) {
    LOCK;
    emu_stream *s = resolve(st);
    if (!s || s == &g_legacy) return fail(cudaErrorInvalidResourceHandle);
    if (s->capture) {
        emu_report("cudaStreamDestroy of a stream that is capturing");
        return fail(cudaErrorIllegalState);
    }
    run_stream(s);
    g_streams.erase(s);
    delete s;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t st) {
    LOCK;
    emu_stream *s = resolve(st);
    if (!s) return fail(cudaErrorInvalidResourceHandle);
    if (s->capture) {
        s->invalidated = true;
        emu_report("cudaStreamSynchronize of a capturing stream");
        return fail(cudaErrorStreamCaptureUnsupported);
    }
    cudaError_t e = unsafe_during_capture("cudaStreamSynchronize");
    if (e) return e;
    if (s == &g_legacy)
        for (emu_stream *o : g_streams)
            if (!(o->flags & cudaStreamNonBlocking)) run_stream(o);
    run_stream(s);
    return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t st, enum cudaStreamCaptureMode mode) {
    LOCK;
    emu_stream *s = resolve(st);
    if (!s) return fail(cudaErrorInvalidResourceHandle);
    if (s == &g_legacy) return fail(cudaErrorStreamCaptureUnsupported);
    if (s->capture) return fail(cudaErrorIllegalState);
    s->capture = new emu_graph();
    s->invalidated = false;
    s->mode = mode;
    s->owner = std::this_thread::get_id();
    return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t st, cudaGraph_t *graph) {
    LOCK;
    *graph = NULL;
    emu_stream *s = resolve(st);
    if (!s) return fail(cudaErrorInvalidResourceHandle);
    if (!s->capture) return fail(cudaErrorIllegalState);
    if (s->mode == cudaStreamCaptureModeThreadLocal && s->owner != std::this_thread::get_id())
        return fail(cudaErrorStreamCaptureWrongThread);
    emu_graph *g = s->capture;
    s->capture = NULL;
    const char *force = env("AM_EMU_FAIL_CAPTURE");
    if (s->invalidated || (force && (!strcmp(force, "1") || !strcmp(force, "end")))) {
        delete g;
        return fail(cudaErrorStreamCaptureInvalidated);
    }
    *graph = g;
    return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t st, enum cudaStreamCaptureStatus *status) {
    LOCK;
    emu_stream *s = resolve(st);
    if (!s) return fail(cudaErrorInvalidResourceHandle);
    if (s == &g_legacy && blocking_stream_capturing()) return fail(cudaErrorStreamCaptureImplicit);
    *status = !s->capture ? cudaStreamCaptureStatusNone
              : s->invalidated ? cudaStreamCaptureStatusInvalidated
                               : cudaStreamCaptureStatusActive;
    return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t *e) {
    LOCK;
    emu_event *v = new emu_event();
    g_events.insert(v);
    *e = v;
    return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t e) {
    LOCK;
    if (!g_events.erase(e)) return fail(cudaErrorInvalidResourceHandle);
    delete e;
    return cudaSuccess;
}

static void do_record(void *p) {
    emu_event *e = *(emu_event **)p;
    if (!g_events.count(e)) return;
    e->t = now_ms();
    e->done = true;
}

cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t st) {
    LOCK;
    if (!g_events.count(e)) return fail(cudaErrorInvalidResourceHandle);
    emu_stream *s = resolve(st);
    if (!s) return fail(cudaErrorInvalidResourceHandle);
    e->stream = s;
    e->recorded = true;
    e->done = false;
    return submit(st, "cudaEventRecord", [e]() mutable { do_record(&e); });
}

// Stream st's later work waits for e's record: when st reaches the wait, the
// recording stream runs up to (at least) the record.
cudaError_t cudaStreamWaitEvent(cudaStream_t st, cudaEvent_t e, unsigned flags) {
    LOCK;
    (void)flags;
    if (!g_events.count(e)) return fail(cudaErrorInvalidResourceHandle);
    if (!e->recorded) return cudaSuccess;  // a wait for an event never recorded completes at once
    emu_stream *from = e->stream;
    return submit(st, "cudaStreamWaitEvent", [e, from]() {
        if (!g_events.count(e) || e->done || !g_streams.count(from)) return;
        bool running = g_running;
        run_stream(from);
        g_running = running;
    });
}

cudaError_t cudaEventSynchronize(cudaEvent_t e) {
    LOCK;
    if (!g_events.count(e)) return fail(cudaErrorInvalidResourceHandle);
    cudaError_t r = unsafe_during_capture("cudaEventSynchronize");
    if (r) return r;
    if (e->recorded && g_streams.count(e->stream)) run_stream(e->stream);
    if (e->recorded && e->stream == &g_legacy) run_stream(&g_legacy);
    return cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b) {
    LOCK;
    if (!g_events.count(a) || !g_events.count(b)) return fail(cudaErrorInvalidResourceHandle);
    if (!a->done || !b->done) return fail(cudaErrorNotReady);
    *ms = (float)(b->t - a->t);
    return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph, unsigned long long flags) {
    LOCK;
    (void)flags;
    *exec = NULL;
    if (!graph) return fail(cudaErrorInvalidValue);
    const char *force = env("AM_EMU_FAIL_CAPTURE");
    if (force && !strcmp(force, "instantiate")) return fail(cudaErrorInvalidValue);
    emu_graph_exec *x = new emu_graph_exec();
    x->nodes = graph->nodes;
    *exec = x;
    return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t st) {
    LOCK;
    if (!exec) return fail(cudaErrorInvalidValue);
    for (const item &it : exec->nodes) {
        cudaError_t e = submit(st, it.what, it.fn);
        if (e) return e;
    }
    return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
    LOCK;
    delete exec;
    return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
    LOCK;
    delete graph;
    return cudaSuccess;
}

}  // extern "C"
