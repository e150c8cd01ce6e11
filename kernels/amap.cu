/* amap.cu - A(x,y), the nearest-landmark index map, on the GPU (issue 5).
 *
 * Spec: face/amap.h (LACNN section 3.1, Fig. 3), and the output must be
 * byte-identical to ts_amap_reference / ts_amap_compute.  So each pixel
 * evaluates exactly the reference's float expression
 *     dx = (float)x - px[j], dy = (float)y - py[j], d = dx*dx + dy*dy
 * with the IEEE round-to-nearest intrinsics __fsub_rn / __fmul_rn /
 * __fadd_rn, which nvcc never contracts into a fused multiply-add (a plain
 * `dx*dx + dy*dy` would become fmaf(dx, dx, dy*dy) under nvcc's default
 * --fmad=true, rounding once less than the CPU and breaking ties
 * differently).  Landmarks are scanned j = 0..k-1 with the strict `<` of the
 * reference, so ties go to the lowest index.  Denormals: the project builds
 * without -ftz (nvcc's default is -ftz=false), as the CPU keeps them.
 * (float)x is exact: sides are at most TS_IMAGE_MAX_SIDE = 16384 < 2^24.
 *
 * One thread per pixel (grid-stride), the k landmarks in shared memory;
 * O(W*H*k) like Fig. 3, which a GPU does at memory speed for 68 points.
 */
#include "common.cuh"

static __global__ void amap_kernel(const float *px, const float *py, int k, int W, size_t n, uint8_t *out)
{
    extern __shared__ float lm[]; /* x[0..k), y[0..k) */
    for (int j = threadIdx.x; j < k; j += blockDim.x) {
        lm[j] = px[j];
        lm[k + j] = py[j];
    }
    __syncthreads();
    CUDA_FOR(i, n) {
        float fx = (float)(int)(i % (size_t)W), fy = (float)(int)(i / (size_t)W);
        int best_j = 0;
        float best = 0.0f;
        for (int j = 0; j < k; j++) {
            float dx = __fsub_rn(fx, lm[j]), dy = __fsub_rn(fy, lm[k + j]);
            float d = __fadd_rn(__fmul_rn(dx, dx), __fmul_rn(dy, dy));
            if (j == 0 || d < best) {
                best = d;
                best_j = j;
            }
        }
        out[i] = (uint8_t)best_j;
    }
}

extern "C" cudaError_t cuda_amap_launch(cudaStream_t s, const float *px, const float *py, int k, int W, int H,
                                        uint8_t *out)
{
    size_t n = (size_t)W * H;
    if (n == 0 || k < 1) return cudaSuccess;
    amap_kernel<<<cuda_blocks(n), CUDA_THREADS, 2 * (size_t)k * sizeof(float), s>>>(px, py, k, W, n, out);
    CUDA_LAUNCHED();
}
