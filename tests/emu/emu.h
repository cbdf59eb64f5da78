// The emulator's internals shared by its parts (runtime.cpp, cudnn.c,
// cublas.c): stream work, device-memory queries and the report of API misuse.
// Not seen by the code under test.
#pragma once
#include <stddef.h>

#include "cuda_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

// Enqueues fn(arg) on stream s (0: the legacy default stream) after the
// work already there, or records it into the graph s is capturing. arg is
// copied (argbytes) at the call, so the caller's struct may go out of
// scope. Returns the error the runtime would (an invalid or illegally
// captured stream), without running anything.
cudaError_t emu_enqueue(cudaStream_t s, const char *what, void (*fn)(void *arg), const void *arg, size_t argbytes);
// Advances the emulated clock that events read by `elements` ns (a library
// call charges its output elements, as a kernel its threads).
void emu_charge(double elements);
// 1 when [p, p + bytes) lies inside one live cudaMalloc allocation.
int emu_is_device(const void *p, size_t bytes);
// Prints "emu: " and the message on stderr and counts an emulator finding
// (misuse real CUDA, cuDNN or cuBLAS would reject or that would be a bug on
// a GPU); the test program fails when any was counted (emu_findings()).
void emu_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int emu_findings(void);

#ifdef __cplusplus
}
#endif
