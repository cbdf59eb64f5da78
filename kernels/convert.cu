// bf16 conversions (kernels/bf16_math.h, the CPU twin's own rounding) and the
// padded, converted network input for the stem convolution.
#include "common.cuh"
#include "bf16_math.h"

__global__ void f32_to_bf16(uint16_t *out, const float *in, size_t n) {
    GRID_STRIDE(i, n) out[i] = am_f32_to_bf16(in[i]);
}

__global__ void bf16_to_f32(float *out, const uint16_t *in, size_t n) {
    GRID_STRIDE(i, n) out[i] = am_bf16_to_f32(in[i]);
}

__global__ void add_bf16_to_f32(float *acc, const uint16_t *x, size_t n) {
    GRID_STRIDE(i, n) acc[i] += am_bf16_to_f32(x[i]);
}

// out (N,Hp,Wp,C) with Hp = H+pt+pb, Wp = W+pl+pr; zeros outside the image.
template <typename T>
__global__ void pad_input(T *out, const float *in, int H, int W, int C, int Hp, int Wp, int pt, int pl,
                          size_t total) {
    GRID_STRIDE(i, total) {
        int c = (int)(i % C);
        size_t p = i / C;
        int x = (int)(p % Wp); p /= Wp;
        int y = (int)(p % Hp);
        size_t n = p / Hp;
        int iy = y - pt, ix = x - pl;
        float v = 0.0f;
        if (iy >= 0 && iy < H && ix >= 0 && ix < W) v = in[((n * H + iy) * W + ix) * C + c];
        st(out, i, v);
    }
}

extern "C" void cu_f32_to_bf16(uint16_t *out, const float *in, size_t n, void *stream) {
    cudaStream_t s = STREAM(stream);
    f32_to_bf16<<<grid_for(n, 256), 256, 0, s>>>(out, in, n);
    AM_LAUNCHED("f32_to_bf16", s);
}

extern "C" void cu_bf16_to_f32(float *out, const uint16_t *in, size_t n, void *stream) {
    cudaStream_t s = STREAM(stream);
    bf16_to_f32<<<grid_for(n, 256), 256, 0, s>>>(out, in, n);
    AM_LAUNCHED("bf16_to_f32", s);
}

extern "C" void cu_add_bf16_to_f32(float *acc, const uint16_t *x, size_t n, void *stream) {
    cudaStream_t s = STREAM(stream);
    add_bf16_to_f32<<<grid_for(n, 256), 256, 0, s>>>(acc, x, n);
    AM_LAUNCHED("add_bf16_to_f32", s);
}

extern "C" void cu_pad_input(void *out, const float *in, int N, int H, int W, int C,
                             int pt, int pb, int pl, int pr, int dt, void *stream) {
    cudaStream_t s = STREAM(stream);
    int Hp = H + pt + pb, Wp = W + pl + pr;
    size_t n = (size_t)N * Hp * Wp * C;
    DISPATCH_DT(dt, pad_input<T><<<grid_for(n, 256), 256, 0, s>>>((T *)out, in, H, W, C, Hp, Wp, pt, pl, n));
    AM_LAUNCHED("pad_input", s);
}
