// The emulator's self-test (part of `make test`): the device semantics it
// promises (tests/emu/README.md) on small kernels (test_emu_kernels.cu),
// and, each in a forked child, the defects it must expose: a missing
// barrier, divergent barriers, a deadlock, a shuffle naming absent lanes, a
// wrong-direction copy, illegal calls during graph capture, reading a
// stream's result without synchronising it.
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "emu.h"

void et_index(unsigned *out, dim3 grid, dim3 block, void *s);
void et_index_n(unsigned *out, unsigned gx, unsigned bx);
void et_reduce(float *out, const float *in, int nblocks, int barrier);
void et_shift(float *out, const float *in, int d, int barrier);
void et_divergent(float *out);
void et_exit_early(float *out);
void et_deadlock(float *out);
void et_warp(int *out);
void et_partial(int *out, unsigned mask2);
void et_atomic(float *acc, unsigned *count, int blocks, int threads);
void et_add(float *x, float v, int n, void *s);
void et_bf16(uint16_t *out, const float *in, int n);

static int g_checks, g_fail;

static void ok(const char *what, int pass, const char *detail) {
    g_checks++;
    g_fail += !pass;
    printf("%-4s %s%s%s\n", pass ? "ok" : "FAIL", what, pass ? "" : ": ", pass ? "" : detail);
}

#define CK(call)                                                                                  \
    do {                                                                                          \
        cudaError_t e_ = (call);                                                                  \
        if (e_) { fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); exit(2); } \
    } while (0)

static void *dmalloc(size_t n) {
    void *p;
    CK(cudaMalloc(&p, n));
    return p;
}

static void test_index(void) {
    // dim3 grid (3,2,2) of blocks (5,3,2): every thread writes its coordinates once.
    size_t n = 3 * 2 * 2 * 5 * 3 * 2;
    unsigned *d = dmalloc(4 * n), *h = malloc(4 * n);
    dim3 grid = {3, 2, 2}, block = {5, 3, 2};
    et_index(d, grid, block, NULL);
    CK(cudaGetLastError());
    CK(cudaMemcpy(h, d, 4 * n, cudaMemcpyDeviceToHost));
    int bad = 0;
    for (unsigned bz = 0; bz < 2; bz++) for (unsigned by = 0; by < 2; by++) for (unsigned bx = 0; bx < 3; bx++)
    for (unsigned tz = 0; tz < 2; tz++) for (unsigned ty = 0; ty < 3; ty++) for (unsigned tx = 0; tx < 5; tx++) {
        size_t b = bx + 3 * (by + 2 * bz), t = tx + 5 * (ty + 3 * tz);
        unsigned want = bz << 24 | by << 20 | bx << 16 | tz << 12 | ty << 8 | tx;
        bad += h[b * 30 + t] != want;
    }
    char d_[64];
    snprintf(d_, sizeof d_, "%d of %zu wrong", bad, n);
    ok("3-D grid and block indices", !bad, d_);
    free(h);
    CK(cudaFree(d));
}

static void test_reduce(void) {
    const int nb = 5;
    float *h = malloc(4 * 256 * nb), sums[5], got[5];
    for (int b = 0; b < nb; b++) {
        sums[b] = 0;
        for (int i = 0; i < 256; i++) sums[b] += h[b * 256 + i] = (float)((i * 7 + b) % 13);
    }
    float *in = dmalloc(4 * 256 * nb), *out = dmalloc(4 * nb);
    CK(cudaMemcpy(in, h, 4 * 256 * nb, cudaMemcpyHostToDevice));
    for (int rev = 0; rev < 2; rev++) {
        if (rev) setenv("AM_EMU_REVERSE", "1", 1);
        et_reduce(out, in, nb, 1);
        CK(cudaMemcpy(got, out, 4 * nb, cudaMemcpyDeviceToHost));
        ok(rev ? "shared-memory reduction with barriers, reverse schedule" : "shared-memory reduction with barriers",
           !memcmp(got, sums, sizeof sums), "wrong sums");
        unsetenv("AM_EMU_REVERSE");
    }
    // Without the barriers the tree reads partial sums not yet written.
    et_reduce(out, in, nb, 0);
    CK(cudaMemcpy(got, out, 4 * nb, cudaMemcpyDeviceToHost));
    ok("  the same without barriers is wrong", memcmp(got, sums, sizeof sums) != 0, "the race went unseen");
    free(h);
    CK(cudaFree(in));
    CK(cudaFree(out));
}

// A race on the neighbour behind shows only in the reverse schedule.
static void test_shift(void) {
    float h[64], got[64], *in = dmalloc(sizeof h), *out = dmalloc(sizeof h);
    for (int i = 0; i < 64; i++) h[i] = (float)i;
    CK(cudaMemcpy(in, h, sizeof h, cudaMemcpyHostToDevice));
    int wrong[2][2];
    for (int rev = 0; rev < 2; rev++)
        for (int barrier = 0; barrier < 2; barrier++) {
            if (rev) setenv("AM_EMU_REVERSE", "1", 1);
            et_shift(out, in, -1, barrier);
            unsetenv("AM_EMU_REVERSE");
            CK(cudaMemcpy(got, out, sizeof got, cudaMemcpyDeviceToHost));
            wrong[rev][barrier] = 0;
            for (int i = 0; i < 64; i++) wrong[rev][barrier] += got[i] != (i ? h[i - 1] : -1.0f);
        }
    ok("a read of the thread behind without a barrier: unseen forward, wrong in reverse, right with the barrier",
       !wrong[0][0] && wrong[1][0] && !wrong[0][1] && !wrong[1][1], "unexpected");
    CK(cudaFree(in));
    CK(cudaFree(out));
}

static void test_warp(void) {
    int *d = dmalloc(4 * 64 * 8), h[64 * 8];
    et_warp(d);
    CK(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost));
    int bad = 0;
    for (int t = 0; t < 64; t++) {
        int lane = t & 31, w = t & ~31, *o = h + t * 8;
        int sum = 0;
        for (int l = 0; l < 32; l++) sum += (w + l) * 3 + 1;
        unsigned ballot = 0;
        for (int l = 0; l < 32; l++) ballot |= (unsigned)((w + l) % 3 == 0) << l;
        int seg8 = lane / 8 * 8, src2 = w + seg8 + (lane + 1) % 8;
        int src3 = lane >= 3 ? t - 3 : t;
        int src4 = lane % 16 + 3 < 16 ? t + 3 : t;
        int want[8] = {sum, (w + 5) * 3 + 1, src2 * 3 + 1, src3 * 3 + 1, src4 * 3 + 1, (int)ballot, w == 32, w == 0};
        for (int k = 0; k < 8; k++) bad += o[k] != want[k];
    }
    char d_[64];
    snprintf(d_, sizeof d_, "%d of %d results wrong", bad, 64 * 8);
    ok("warp shuffles (idx, up, down, xor, widths), ballot, any, all", !bad, d_);
    CK(cudaFree(d));
    int *p = dmalloc(4 * 40), hp[40];
    et_partial(p, 0xffu);
    CK(cudaMemcpy(hp, p, sizeof hp, cudaMemcpyDeviceToHost));
    bad = 0;
    for (int t = 0; t < 40; t++) {
        int s = 0;
        for (int l = 0; l < 8; l++) s += t / 8 * 8 + l;
        bad += hp[t] != s;
    }
    ok("shuffles in a partial warp of 8 lanes (mask 0xff)", !bad, "wrong sums");
    CK(cudaFree(p));
}

static void test_atomics_bf16(void) {
    float *acc = dmalloc(4);
    unsigned *cnt = dmalloc(4);
    CK(cudaMemset(acc, 0, 4));
    CK(cudaMemset(cnt, 0, 4));
    et_atomic(acc, cnt, 7, 96);
    float a;
    unsigned c;
    CK(cudaMemcpy(&a, acc, 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(&c, cnt, 4, cudaMemcpyDeviceToHost));
    ok("atomicAdd across blocks", a == 336.0f && c == 672, "wrong totals");
    CK(cudaFree(acc));
    CK(cudaFree(cnt));
    // Round to nearest, ties to even; NaN stays NaN; overflow to infinity.
    const float in[6] = {1.0f + 0x1p-8f, 1.0f + 0x3p-8f, -2.5f, NAN, 0x1.fffffep127f, 1.0f + 0x1p-8f + 0x1p-20f};
    const uint16_t want[6] = {0x3f80, 0x3f82, 0xc020, 0, 0x7f80, 0x3f81};
    float *din = dmalloc(sizeof in);
    uint16_t *dout = dmalloc(sizeof want), got[6];
    CK(cudaMemcpy(din, in, sizeof in, cudaMemcpyHostToDevice));
    et_bf16(dout, din, 6);
    CK(cudaMemcpy(got, dout, sizeof got, cudaMemcpyDeviceToHost));
    int bad = 0;
    for (int i = 0; i < 6; i++) bad += i == 3 ? !((got[i] & 0x7f80) == 0x7f80 && (got[i] & 0x7f)) : got[i] != want[i];
    ok("bf16: ties to even, NaN, overflow", !bad, "wrong bits");
    CK(cudaFree(din));
    CK(cudaFree(dout));
}

static void test_config_errors(void) {
    unsigned *d = dmalloc(4 * 2048);
    et_index_n(d, 1, 2048);
    cudaError_t e1 = cudaGetLastError(), e2 = cudaGetLastError();
    ok("a block of 2048 threads: cudaErrorInvalidConfiguration, then cleared",
       e1 == cudaErrorInvalidConfiguration && e2 == cudaSuccess, cudaGetErrorName(e1));
    et_index_n(d, 0, 32);
    ok("an empty grid: cudaErrorInvalidConfiguration", cudaGetLastError() == cudaErrorInvalidConfiguration, "no error");
    CK(cudaFree(d));
}

// Work on a non-blocking stream runs when that stream is synchronised, not
// when the legacy stream is: a host read that forgets it sees stale bytes.
static void test_streams_graphs(void) {
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    const int n = 300;
    float *x = dmalloc(4 * n), h[300];
    CK(cudaMemset(x, 0, 4 * n));
    CK(cudaDeviceSynchronize());
    et_add(x, 1.0f, n, s);
    CK(cudaMemcpy(h, x, 4 * n, cudaMemcpyDeviceToHost));
    ok("a copy on the legacy stream does not wait for a non-blocking stream", h[0] == 0.0f, "it waited");
    CK(cudaStreamSynchronize(s));
    CK(cudaMemcpy(h, x, 4 * n, cudaMemcpyDeviceToHost));
    ok("  after cudaStreamSynchronize the result is there", h[0] == 1.0f && h[n - 1] == 1.0f, "missing");
    // A captured graph replays its launches with the arguments of the capture.
    cudaGraph_t g;
    cudaGraphExec_t ge;
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    et_add(x, 2.0f, n, s);
    et_add(x, 0.5f, n, s);
    enum cudaStreamCaptureStatus st;
    CK(cudaStreamIsCapturing(s, &st));
    CK(cudaStreamEndCapture(s, &g));
    CK(cudaGraphInstantiate(&ge, g, 0));
    CK(cudaMemcpy(h, x, 4 * n, cudaMemcpyDeviceToHost));
    ok("capture records and does not run", st == cudaStreamCaptureStatusActive && h[0] == 1.0f, "it ran");
    for (int i = 0; i < 3; i++) CK(cudaGraphLaunch(ge, s));
    CK(cudaStreamSynchronize(s));
    CK(cudaMemcpy(h, x, 4 * n, cudaMemcpyDeviceToHost));
    ok("  three replays add 7.5", h[0] == 8.5f && h[n - 1] == 8.5f, "wrong value");
    CK(cudaGraphExecDestroy(ge));
    CK(cudaGraphDestroy(g));
    // Events time the work between them.
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    CK(cudaEventRecord(a, s));
    et_add(x, 1.0f, n, s);
    CK(cudaEventRecord(b, s));
    float ms = -1;
    cudaError_t e = cudaEventElapsedTime(&ms, a, b);
    ok("cudaEventElapsedTime before the events completed: cudaErrorNotReady", e == cudaErrorNotReady,
       cudaGetErrorName(e));
    cudaGetLastError();
    CK(cudaEventSynchronize(b));
    CK(cudaEventElapsedTime(&ms, a, b));
    ok("  after cudaEventSynchronize: a time >= 0", ms >= 0.0f, "negative");
    CK(cudaEventDestroy(a));
    CK(cudaEventDestroy(b));
    // Uninitialised device memory reads as NaN.
    float *u = dmalloc(16), hu[4];
    CK(cudaMemcpy(hu, u, 16, cudaMemcpyDeviceToHost));
    ok("fresh device memory is poisoned (NaN)", isnan(hu[0]) && isnan(hu[3]), "not NaN");
    CK(cudaFree(u));
    CK(cudaFree(x));
    CK(cudaStreamDestroy(s));
}

// Pinned host memory is read when its copy runs (DMA), pageable memory at the
// call; a stream that waits for another's event sees what that stream did
// before the event, one that does not wait sees stale bytes.
static void test_pinned_events(void) {
    cudaStream_t a, b;
    CK(cudaStreamCreateWithFlags(&a, cudaStreamNonBlocking));
    CK(cudaStreamCreateWithFlags(&b, cudaStreamNonBlocking));
    const int n = 64;
    float *pinned, pageable[64], h[64], *d = dmalloc(4 * n), *e = dmalloc(4 * n);
    CK(cudaHostAlloc((void **)&pinned, 4 * n, cudaHostAllocDefault));
    for (int i = 0; i < n; i++) pinned[i] = pageable[i] = 1.0f;
    CK(cudaMemcpyAsync(d, pinned, 4 * n, cudaMemcpyHostToDevice, a));
    CK(cudaMemcpyAsync(e, pageable, 4 * n, cudaMemcpyHostToDevice, a));
    for (int i = 0; i < n; i++) pinned[i] = pageable[i] = 2.0f;  // too early for the pinned copy
    CK(cudaStreamSynchronize(a));
    CK(cudaMemcpy(h, d, 4 * n, cudaMemcpyDeviceToHost));
    ok("a copy from pinned memory reads it when it runs", h[0] == 2.0f && h[n - 1] == 2.0f, "it read at the call");
    CK(cudaMemcpy(h, e, 4 * n, cudaMemcpyDeviceToHost));
    ok("  a copy from pageable memory reads it at the call", h[0] == 1.0f, "it read later");
    // b adds 1 after a's copy of 3s: with the wait the sum is 4, without it
    // (b runs first when it is synchronised first) the add sees the old 2s.
    cudaEvent_t done;
    CK(cudaEventCreate(&done));
    for (int i = 0; i < n; i++) pinned[i] = 3.0f;
    CK(cudaMemcpyAsync(d, pinned, 4 * n, cudaMemcpyHostToDevice, a));
    CK(cudaEventRecord(done, a));
    CK(cudaStreamWaitEvent(b, done, 0));
    et_add(d, 1.0f, n, b);
    CK(cudaStreamSynchronize(b));
    CK(cudaMemcpy(h, d, 4 * n, cudaMemcpyDeviceToHost));
    ok("cudaStreamWaitEvent: the waiting stream sees the copy before the event", h[0] == 4.0f && h[n - 1] == 4.0f,
       "it ran before the copy");
    CK(cudaStreamSynchronize(a));
    CK(cudaMemcpyAsync(d, pinned, 4 * n, cudaMemcpyHostToDevice, a));  // 3s, not waited for
    et_add(d, 1.0f, n, b);
    CK(cudaStreamSynchronize(b));
    CK(cudaMemcpy(h, d, 4 * n, cudaMemcpyDeviceToHost));
    ok("  without the wait the other stream's copy has not run", h[0] == 5.0f, "the copy ran first");
    CK(cudaStreamSynchronize(a));
    CK(cudaEventDestroy(done));
    CK(cudaFreeHost(pinned));
    CK(cudaFree(d));
    CK(cudaFree(e));
    CK(cudaStreamDestroy(a));
    CK(cudaStreamDestroy(b));
}

// ---- defects, each in a child that must report it ------------------------------

static void bad_free_host(void) {
    float x[4];
    CK(cudaFreeHost(x));
}

static void bad_divergent(void) {
    float *d = dmalloc(128);
    et_divergent(d);
    CK(cudaDeviceSynchronize());
}
static void bad_exit_early(void) {
    float *d = dmalloc(128);
    et_exit_early(d);
    CK(cudaDeviceSynchronize());
}
static void bad_deadlock(void) {
    float *d = dmalloc(8);
    et_deadlock(d);
    CK(cudaDeviceSynchronize());
}
static void bad_partial_mask(void) {
    int *d = dmalloc(4 * 40);
    et_partial(d, 0xffffffffu);
    CK(cudaDeviceSynchronize());
}
static void bad_copy_direction(void) {
    float h[4] = {0}, *d = dmalloc(16);
    cudaMemcpy(d, h, 16, cudaMemcpyDeviceToHost);
}
static void bad_copy_overrun(void) {
    float h[8] = {0}, *d = dmalloc(16);
    cudaMemcpy(d, h, 32, cudaMemcpyHostToDevice);
}
static void bad_malloc_in_capture(void) {
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    void *p;
    cudaError_t e = cudaMalloc(&p, 64);
    cudaGraph_t g;
    cudaError_t e2 = cudaStreamEndCapture(s, &g);
    if (e != cudaErrorStreamCaptureUnsupported || e2 != cudaErrorStreamCaptureInvalidated || g) _exit(3);
}
static void bad_sync_in_capture(void) {
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    cudaStreamSynchronize(s);
}
static void bad_free_twice(void) {
    void *p = dmalloc(16);
    CK(cudaFree(p));
    cudaFree(p);
}

// Runs fn in a child; passes when the child exits with `want` (1: findings
// reported, 70: a deadlock) and printed `needle` on stderr.
static void expect(const char *what, void (*fn)(void), int want, const char *needle) {
    int pipefd[2];
    if (pipe(pipefd)) { perror("pipe"); exit(2); }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        fn();
        exit(0);
    }
    close(pipefd[1]);
    char buf[8192];
    size_t len = 0;
    ssize_t r;
    while ((r = read(pipefd[0], buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)r;
    buf[len] = 0;
    close(pipefd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    int pass = code == want && strstr(buf, needle);
    char detail[300];
    snprintf(detail, sizeof detail, "exit %d (want %d), stderr: %.200s", code, want, buf);
    ok(what, pass, detail);
}

static void bad_forced_capture_failure(void) {
    setenv("AM_EMU_FAIL_CAPTURE", "1", 1);
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    cudaGraph_t g;
    cudaError_t e = cudaStreamEndCapture(s, &g);
    if (e == cudaErrorStreamCaptureInvalidated && !g && cudaGetLastError() == cudaErrorStreamCaptureInvalidated &&
        cudaGetLastError() == cudaSuccess)
        emu_report("forced capture failure seen");
}

int main(void) {
    test_index();
    test_reduce();
    test_shift();
    test_warp();
    test_atomics_bf16();
    test_config_errors();
    test_streams_graphs();
    test_pinned_events();
    expect("divergent __syncthreads reported with file:line", bad_divergent, 1, "test_emu_kernels.cu:48");
    expect("__syncthreads not reached by an exited thread reported", bad_exit_early, 1, "exited");
    expect("a deadlock stops the program and names where each thread waits", bad_deadlock, 70, "waits at");
    expect("a shuffle naming lanes of a partial warp that do not exist", bad_partial_mask, 1, "do not exist");
    expect("cudaMemcpy with the wrong direction", bad_copy_direction, 1, "kind 2");
    expect("cudaMemcpy past the end of an allocation", bad_copy_overrun, 1, "past the end");
    expect("cudaMalloc during capture: refused, capture invalidated", bad_malloc_in_capture, 1, "cudaMalloc during stream capture");
    expect("cudaStreamSynchronize of a capturing stream", bad_sync_in_capture, 1, "capturing stream");
    expect("cudaFree twice", bad_free_twice, 1, "not the start of a live allocation");
    expect("cudaFreeHost of memory cudaHostAlloc did not give", bad_free_host, 1, "not the start of a live cudaHostAlloc");
    expect("AM_EMU_FAIL_CAPTURE=1: cudaStreamEndCapture fails, error cleared once read", bad_forced_capture_failure, 1,
           "forced capture failure seen");
    printf("test_emu: %d checks, %d failed\n", g_checks, g_fail);
    return g_fail ? 1 : 0;
}
