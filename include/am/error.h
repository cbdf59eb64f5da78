// One error family for the whole engine.
//
// Fatal checks (internal invariants, out of memory, CUDA/cuDNN/cuBLAS failures)
// print the failing call, file:line and a hint, then exit(1).
// Recoverable errors (bad files, bad user input) are returned as -1 by the
// function that met them, with a message kept for am_error() to report.
#pragma once
#include <stddef.h>

void am_fatal(const char *file, int line, const char *call, const char *hint);
void am_fatalf(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

// Recoverable errors: set the message (printf style) and return -1.
int am_seterr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *am_error(void);

void *am_malloc_at(size_t n, const char *file, int line);
void *am_calloc_at(size_t n, const char *file, int line);

#define AM_CHECK(cond, hint)                                            \
    do { if (!(cond)) am_fatal(__FILE__, __LINE__, #cond, (hint)); } while (0)
#define AM_MALLOC(n) am_malloc_at((n), __FILE__, __LINE__)
#define AM_CALLOC(n) am_calloc_at((n), __FILE__, __LINE__)

// File I/O: a failed fopen/fread/fwrite that should never fail.
#define AM_IO(call, path)                                               \
    do { if (!(call)) am_fatalf(__FILE__, __LINE__, "%s failed on '%s': check the path and free disk space", #call, (path)); } while (0)

// GPU libraries. These compile without a GPU; they are used by src/cuda.
#define AM_CUDA(call)                                                   \
    do { int e_ = (int)(call); if (e_ != 0) am_fatal(__FILE__, __LINE__, #call, am_cuda_errstr(e_)); } while (0)
#define AM_CUDNN(call)                                                  \
    do { int e_ = (int)(call); if (e_ != 0) am_fatal(__FILE__, __LINE__, #call, am_cudnn_errstr(e_)); } while (0)
#define AM_CUBLAS(call)                                                 \
    do { int e_ = (int)(call); if (e_ != 0) am_fatal(__FILE__, __LINE__, #call, am_cublas_errstr(e_)); } while (0)

const char *am_cuda_errstr(int code);
const char *am_cudnn_errstr(int code);
const char *am_cublas_errstr(int code);
