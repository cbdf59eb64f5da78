// Launch checking for every kernel: the last CUDA error, and with AM_SYNC=1 a
// stream synchronisation after each launch (skipped while a CUDA graph is
// being captured, where synchronising is illegal). Inside a capture that an
// earlier call invalidated, every call on the stream fails until
// cudaStreamEndCapture, which reports the failure (am_gpu_capture_end): those
// failures are left to it, so that no innocent kernel is blamed.
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/gpu.h"
#include "am/kernels.h"

#ifdef AM_HAVE_CUDA
#include <cuda_runtime.h>

static int sync_mode(void) {
    static int mode = -1;
    if (mode < 0) {
        const char *e = getenv("AM_SYNC");
        mode = e && *e && strcmp(e, "0") ? 1 : 0;
    }
    return mode;
}

int am_gpu_capture_invalidated(void *stream) {
    enum cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
    return cudaStreamIsCapturing((cudaStream_t)stream, &cap) == cudaSuccess &&
           cap == cudaStreamCaptureStatusInvalidated;
}

void am_cuda_after_launch(const char *file, int line, const char *what, void *stream) {
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) {
        if (am_gpu_capture_invalidated(stream)) return;
        am_fatal(file, line, what, cudaGetErrorString(e));
    }
    if (!sync_mode()) return;
    enum cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
    e = cudaStreamIsCapturing((cudaStream_t)stream, &cap);
    if (e != cudaSuccess) am_fatal(file, line, what, cudaGetErrorString(e));
    if (cap != cudaStreamCaptureStatusNone) return;
    e = cudaStreamSynchronize((cudaStream_t)stream);
    if (e != cudaSuccess) am_fatal(file, line, what, cudaGetErrorString(e));
}
#endif
