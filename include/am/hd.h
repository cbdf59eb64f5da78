// Host/device qualifiers for the static inline maths shared by the CPU
// reference (gcc) and the CUDA kernels (nvcc).
#pragma once
#ifdef __CUDACC__
#define AM_HD __host__ __device__
#else
#define AM_HD
#endif
