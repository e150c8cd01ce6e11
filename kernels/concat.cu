/* concat.cu - channel concatenation on the GPU (backend/cpu/join.c): input
 * i (N, Ci, HW) occupies channels [c0, c0+Ci) of the output (N, Ctot, HW);
 * backward (and LRP's rule) adds the same slice of dout into din_i.  One
 * launch per input, one thread per element of that input (concat-body.h). */
#include "common.cuh"
#include "concat-body.h"

static __global__ void concat_kernel(const float *x, float *y, size_t n, size_t plane, size_t yplane, size_t off,
                                     int backward)
{
    CUDA_FOR(k, n) concat_at(k, x, y, plane, yplane, off, backward);
}

extern "C" cudaError_t cuda_concat_forward_launch(cudaStream_t s, const float *x, float *y, int N, int Ci,
                                                  int Ctot, int c0, size_t HW)
{
    size_t n = (size_t)N * Ci * HW;
    if (n == 0) return cudaSuccess;
    concat_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(x, y, n, (size_t)Ci * HW, (size_t)Ctot * HW,
                                                          (size_t)c0 * HW, 0);
    CUDA_LAUNCHED();
}

extern "C" cudaError_t cuda_concat_backward_launch(cudaStream_t s, const float *dy, float *dx, int N, int Ci,
                                                   int Ctot, int c0, size_t HW)
{
    size_t n = (size_t)N * Ci * HW;
    if (n == 0) return cudaSuccess;
    concat_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(dy, dx, n, (size_t)Ci * HW, (size_t)Ctot * HW,
                                                          (size_t)c0 * HW, 1);
    CUDA_LAUNCHED();
}
