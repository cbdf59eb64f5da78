// Device discovery. Compiled with AM_HAVE_CUDA when the Makefile found the CUDA
// toolkit; plain C against the CUDA runtime, cuDNN and cuBLAS C APIs.
#include "am/device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"

#ifdef AM_HAVE_CUDA
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

int am_cuda_built(void) { return 1; }

int am_cuda_device_count(char *why, int whylen) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError();  // tolerated (the CPU runs instead): not for a later launch check to report
        snprintf(why, (size_t)whylen, "no CUDA device: %s", cudaGetErrorString(e));
        return 0;
    }
    if (n == 0) snprintf(why, (size_t)whylen, "no CUDA device found");
    return n;
}

const char *am_cuda_errstr(int code) { return cudaGetErrorString((cudaError_t)code); }
const char *am_cudnn_errstr(int code) { return cudnnGetErrorString((cudnnStatus_t)code); }
const char *am_cublas_errstr(int code) { return cublasGetStatusString((cublasStatus_t)code); }
#else
int am_cuda_built(void) { return 0; }

int am_cuda_device_count(char *why, int whylen) {
    snprintf(why, (size_t)whylen, "this build has no CUDA backend (rebuild with nvcc on PATH and CUDA=1)");
    return 0;
}

const char *am_cuda_errstr(int code) { (void)code; return "CUDA not built"; }
const char *am_cudnn_errstr(int code) { (void)code; return "cuDNN not built"; }
const char *am_cublas_errstr(int code) { (void)code; return "cuBLAS not built"; }
#endif

int am_device_parse(const char *s, int *ordinal) {
    if (!strcmp(s, "cpu")) { *ordinal = -1; return 0; }
    int k = 0;
    if (strcmp(s, "cuda") && sscanf(s, "cuda:%d", &k) != 1)
        return am_seterr("unknown device '%s': expected cpu, cuda or cuda:N", s);
    char why[256];
    int n = am_cuda_device_count(why, sizeof why);
    if (n == 0) return am_seterr("device '%s' unavailable: %s", s, why);
    if (k < 0 || k >= n) return am_seterr("device '%s' unavailable: %d CUDA device(s) present", s, n);
    *ordinal = k;
    return 0;
}
