// The compute devices: the CPU reference and, where built, CUDA GPUs.
#pragma once

// 1 when this build includes the CUDA backend.
int am_cuda_built(void);
// Number of usable CUDA devices; 0 when none (or not built). `why` receives a
// one-line reason when 0.
int am_cuda_device_count(char *why, int whylen);
// Parses "cpu", "cuda" or "cuda:N". Returns -1 (am_error()) when the device
// does not exist here. *ordinal is -1 for the CPU.
int am_device_parse(const char *s, int *ordinal);
