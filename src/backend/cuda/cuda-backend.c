/* cuda-backend.c - opening the CUDA device.
 *
 * Without a GPU, cudaGetDeviceCount() fails (typically "CUDA driver version
 * is insufficient for CUDA runtime version"): that means "no GPU", and
 * ts_backend_select() falls back to the CPU with this message.  The op
 * implementations (cuDNN, cuBLAS, kernels/) are issue 5's work; until they
 * land, a present GPU is reported as not yet supported so the CPU is used.
 */
#include <cuda_runtime.h>

#include "../backend.h"

ts_status ts_backend_cuda_open(const ts_backend **out, void **ctx)
{
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    *out = NULL;
    *ctx = NULL;
    if (err != cudaSuccess) return ts_error(TS_ERR_DEVICE, "CUDA: %s", cudaGetErrorString(err));
    if (n == 0) return ts_error(TS_ERR_DEVICE, "CUDA: no device found");
    return ts_error(TS_ERR_UNSUPPORTED, "CUDA: %d device(s) found, but the GPU ops are not built yet", n);
}
