// The device side of the emulator (C++ only, included by cuda_runtime.h):
// the qualifiers, dim3, the built-in index variables, barriers, warp
// operations, atomics and the launcher that tests/emu/rewrite.pl puts in
// place of `kernel<<<grid, block, shmem, stream>>>(args)`:
// `emu::launch(kernel, grid, block, shmem, stream)(args)`.
// Every CUDA thread of a block is a fiber; blocks run one after another
// (tests/emu/runtime.cpp).
#pragma once
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <algorithm>
#include <functional>
#include <tuple>
#include <utility>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__ __restrict

// Set by the scheduler before it switches to a thread's fiber.
extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;
static const int warpSize = 32;

using std::max;
using std::min;

extern "C" {
void emu_syncthreads(const char *file, int line);
// Registers a __shared__ variable of the running block (rewrite.pl adds the
// call after each declaration): poisoned with 0xFF bytes the first time a
// block meets it, so that a read before any write shows.
void emu_shared(void *p, size_t bytes);
}

#define __syncthreads() emu_syncthreads(__FILE__, __LINE__)

namespace emu {

// Warp operations: each lane deposits 8 bytes and blocks until every lane of
// `mask` has arrived at a warp operation; the scheduler then computes each
// lane's result. kind: 0 idx, 1 up, 2 down, 3 xor, 4 ballot, 5 syncwarp.
uint64_t warp_op(int kind, unsigned mask, uint64_t value, int arg, int width, const char *file, int line);

template <typename T>
static inline uint64_t to_bits(T v) {
    static_assert(sizeof(T) <= 8, "shuffle of a type wider than 8 bytes");
    uint64_t u = 0;
    memcpy(&u, &v, sizeof(T));
    return u;
}

template <typename T>
static inline T from_bits(uint64_t u) {
    T v;
    memcpy(&v, &u, sizeof(T));
    return v;
}

// One launch: the configuration, then the kernel's arguments converted to
// its parameter types at the call (as a real launch does) and copied into
// the closure that every thread runs.
void launch_closure(dim3 grid, dim3 block, size_t shmem, void *stream, const char *name,
                    std::function<void()> body);

template <typename... P>
struct launcher {
    void (*k)(P...);
    const char *name;
    dim3 grid, block;
    size_t shmem;
    void *stream;
    void operator()(P... a) const {
        std::tuple<typename std::decay<P>::type...> args(a...);
        void (*kk)(P...) = k;
        launch_closure(grid, block, shmem, stream, name, [kk, args]() { std::apply(kk, args); });
    }
};

template <typename... P>
launcher<P...> launch(void (*k)(P...), const char *name, dim3 grid, dim3 block, size_t shmem = 0,
                      cudaStream_t stream = 0) {
    return launcher<P...>{k, name, grid, block, shmem, (void *)stream};
}

}  // namespace emu

#define __shfl_sync(mask, v, lane, ...) \
    emu::from_bits<decltype(v)>(emu::warp_op(0, (mask), emu::to_bits(v), (lane), emu_width_(__VA_ARGS__ + 0), __FILE__, __LINE__))
#define __shfl_up_sync(mask, v, d, ...) \
    emu::from_bits<decltype(v)>(emu::warp_op(1, (mask), emu::to_bits(v), (d), emu_width_(__VA_ARGS__ + 0), __FILE__, __LINE__))
#define __shfl_down_sync(mask, v, d, ...) \
    emu::from_bits<decltype(v)>(emu::warp_op(2, (mask), emu::to_bits(v), (d), emu_width_(__VA_ARGS__ + 0), __FILE__, __LINE__))
#define __shfl_xor_sync(mask, v, m, ...) \
    emu::from_bits<decltype(v)>(emu::warp_op(3, (mask), emu::to_bits(v), (m), emu_width_(__VA_ARGS__ + 0), __FILE__, __LINE__))
#define __ballot_sync(mask, pred) ((unsigned)emu::warp_op(4, (mask), (pred) ? 1u : 0u, 0, 32, __FILE__, __LINE__))
#define __any_sync(mask, pred) (__ballot_sync((mask), (pred)) != 0u)
#define __all_sync(mask, pred) (__ballot_sync((mask), (pred)) == (unsigned)(mask))
#define __syncwarp(...) ((void)emu::warp_op(5, emu_mask_(__VA_ARGS__ + 0), 0, 0, 32, __FILE__, __LINE__))
#define __activemask() emu_active_mask_()

// The optional width (default warpSize) and mask (default all lanes) of the
// macros above: `__VA_ARGS__ + 0` is 0 when the argument was left out.
static inline int emu_width_(int w) { return w ? w : 32; }
static inline unsigned emu_mask_(unsigned m) { return m ? m : 0xffffffffu; }
extern "C" unsigned emu_active_mask_(void);

// Atomics: fibers of a block never run at the same time and blocks run one
// after another, so a read-modify-write is atomic as written.
template <typename T>
static inline T atomicAdd(T *p, T v) {
    T old = *p;
    *p = old + v;
    return old;
}
template <typename T>
static inline T atomicSub(T *p, T v) {
    T old = *p;
    *p = old - v;
    return old;
}
template <typename T>
static inline T atomicMax(T *p, T v) {
    T old = *p;
    if (v > old) *p = v;
    return old;
}
template <typename T>
static inline T atomicMin(T *p, T v) {
    T old = *p;
    if (v < old) *p = v;
    return old;
}
template <typename T>
static inline T atomicExch(T *p, T v) {
    T old = *p;
    *p = v;
    return old;
}
template <typename T>
static inline T atomicCAS(T *p, T cmp, T v) {
    T old = *p;
    if (old == cmp) *p = v;
    return old;
}
static inline void __threadfence(void) {}

// Correctly rounded single operations (no contraction into an FMA: the
// emulator is compiled with -ffp-contract=off).
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline double __dadd_rn(double a, double b) { return a + b; }
static inline float __fdividef(float a, float b) { return a / b; }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
template <typename T>
static inline T __ldg(const T *p) { return *p; }
