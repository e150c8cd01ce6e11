/* conv2d.cu - what cuDNN's convolution needs around it (cuda-backend.c does
 * the convolution itself): bias add and bias gradient (shared with fc), and
 * the explicit zero padding used for asymmetric pads.
 *
 * Asymmetric padding (pad_t != pad_b or pad_l != pad_r, e.g. ONNX "SAME"
 * models): cuDNN pads symmetrically only, and padding by the maximum then
 * cropping the output works only when the pad difference is a multiple of
 * the stride, so instead the input is copied into a zero-padded buffer
 * (N,C,H+pt+pb,W+pl+pr) and convolved with pad 0; backward-data writes the
 * padded gradient and cuda_unpad_add folds its interior back (+=). */
#include "common.cuh"

static __global__ void bias_forward_kernel(float *y, const float *b, int C, size_t HW, size_t n)
{
    CUDA_FOR(i, n) y[i] += b[(i / HW) % C];
}

/* One block per channel; a shared-memory tree sums N*HW values. */
static __global__ void bias_backward_kernel(const float *dy, float *db, int N, int C, size_t HW)
{
    __shared__ float part[CUDA_THREADS];
    int c = blockIdx.x;
    size_t total = (size_t)N * HW;
    float acc = 0.0f;
    for (size_t k = threadIdx.x; k < total; k += blockDim.x) {
        size_t n = k / HW, p = k % HW;
        acc += dy[(n * C + c) * HW + p];
    }
    part[threadIdx.x] = acc;
    __syncthreads();
    for (int w = CUDA_THREADS / 2; w > 0; w >>= 1) {
        if ((int)threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) db[c] += part[0];
}

static __global__ void pad_kernel(const float *x, float *xp, int H, int W, int pt, int pl, int HP, int WP,
                                  size_t n)
{
    CUDA_FOR(i, n) { /* over xp */
        int xx = (int)(i % WP) - pl, yy = (int)(i / WP % HP) - pt;
        size_t pc = i / ((size_t)WP * HP);
        xp[i] = (yy >= 0 && yy < H && xx >= 0 && xx < W) ? x[(pc * H + yy) * W + xx] : 0.0f;
    }
}

static __global__ void unpad_add_kernel(const float *dxp, float *dx, int H, int W, int pt, int pl, int HP, int WP,
                                        size_t n)
{
    CUDA_FOR(i, n) { /* over dx */
        int xx = (int)(i % W), yy = (int)(i / W % H);
        size_t pc = i / ((size_t)W * H);
        dx[i] += dxp[(pc * HP + yy + pt) * WP + xx + pl];
    }
}

extern "C" cudaError_t cuda_bias_forward_launch(cudaStream_t s, float *y, const float *b, int N, int C, size_t HW)
{
    size_t n = (size_t)N * C * HW;
    if (n == 0) return cudaSuccess;
    bias_forward_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(y, b, C, HW, n);
    CUDA_LAUNCHED();
}

extern "C" cudaError_t cuda_bias_backward_launch(cudaStream_t s, const float *dy, float *db, int N, int C,
                                                 size_t HW)
{
    if (C <= 0 || N <= 0 || HW == 0) return cudaSuccess;
    bias_backward_kernel<<<(unsigned)C, CUDA_THREADS, 0, s>>>(dy, db, N, C, HW);
    CUDA_LAUNCHED();
}

extern "C" cudaError_t cuda_pad_launch(cudaStream_t s, const float *x, float *xp, int NC, int H, int W, int pt,
                                       int pb, int pl, int pr)
{
    int HP = H + pt + pb, WP = W + pl + pr;
    size_t n = (size_t)NC * HP * WP;
    if (n == 0) return cudaSuccess;
    pad_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(x, xp, H, W, pt, pl, HP, WP, n);
    CUDA_LAUNCHED();
}

extern "C" cudaError_t cuda_unpad_add_launch(cudaStream_t s, const float *dxp, float *dx, int NC, int H, int W,
                                             int pt, int pb, int pl, int pr)
{
    int HP = H + pt + pb, WP = W + pl + pr;
    size_t n = (size_t)NC * H * W;
    if (n == 0) return cudaSuccess;
    unpad_add_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(dxp, dx, H, W, pt, pl, HP, WP, n);
    CUDA_LAUNCHED();
}
