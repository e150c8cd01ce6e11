/* cuda-backend.c - the CUDA backend: the ts_backend table of backend.h on
 * one NVIDIA GPU, op for op like the CPU reference (backend/cpu/).
 *
 *   conv2d      cuDNN cudnnConvolutionForward / BackwardData / BackwardFilter;
 *               algorithms picked once per shape with the _v7 heuristics and
 *               cached in the context; one workspace, grown to the largest
 *               need and reused by every call; groups through
 *               cudnnSetConvolutionGroupCount; asymmetric padding by an
 *               explicit zero-padded copy of the input (kernels/conv2d.cu at the top level
 *               says why cropping is not enough); bias by our kernels.
 *   fc          cuBLAS SGEMM (row-major NCHW read as column-major, see
 *               cuda_fc_forward), bias by our kernels.
 *   the rest    our kernels (kernels/<stem>.cu, launchers in cuda-ops.h).
 * Backward ACCUMULATES, as backend.h requires: beta = 1 in every cuDNN and
 * cuBLAS call that writes a gradient, += in every kernel.
 *
 * Errors: every CUDA, cuBLAS and cuDNN status is checked and turned into a
 * ts_status naming the call and the layer; running out of device memory is
 * TS_ERR_OOM (arenas, workspace, scratch), never an abort.  No managed
 * memory: arenas are cudaMalloc'ed, host data moves by explicit copies.
 *
 * Numerics: by default convolutions and GEMMs run in strict float32
 * (CUDNN_FMA_MATH, cuBLAS default math), so results match the CPU within
 * the op test's tolerances.  TS_CUDA_TF32=1 in the environment allows TF32
 * tensor cores (PyTorch's default for convolutions), faster and ~1e-3
 * relative.
 *
 * Note on "deprecated": cuDNN 9 marks its whole legacy convolution API
 * (descriptors, cudnnConvolution*, the _v7 heuristics) CUDNN_DEPRECATED in
 * favour of the graph/backend API.  It is still shipped and supported in
 * cuDNN 9; moving to cudnnBackend* execution plans is future work.
 *
 * Threads: one context serves one thread at a time (one stream, one
 * workspace, one plan cache).
 */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../backend.h"
#include "cuda-ops.h"

/* Largest workspace one convolution algorithm may ask for. */
#define CUDA_WS_LIMIT ((size_t)1 << 30)

typedef struct conv_plan {
    int key[13]; /* N C H W O KH KW S pt pb pl pr G */
    int asym;    /* 1: input copied into a zero-padded buffer, pad 0 */
    int HP, WP;  /* padded input size when asym */
    cudnnTensorDescriptor_t xd, yd;
    cudnnFilterDescriptor_t wd;
    cudnnConvolutionDescriptor_t cd;
    cudnnConvolutionFwdAlgo_t fwd;
    cudnnConvolutionBwdDataAlgo_t bwd_data;
    cudnnConvolutionBwdFilterAlgo_t bwd_filter;
    size_t ws_fwd, ws_data, ws_filter;
    int have_bwd; /* backward algorithms chosen */
} conv_plan;

typedef struct cuda_ctx {
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    cudnnHandle_t dnn;
    int tf32;
    void *ws;
    size_t ws_size;
    float *scratch[2]; /* padded input, padded input gradient */
    size_t scratch_cap[2];
    conv_plan *plans;
    int n_plans, cap_plans;
} cuda_ctx;

/* ---- status checks ------------------------------------------------------ */

static ts_status cu_fail(cudaError_t e, const char *what, const char *layer)
{
    ts_status st = e == cudaErrorMemoryAllocation ? TS_ERR_OOM : TS_ERR_DEVICE;
    /* Clear a non-sticky error so that the caller can go on (e.g. retry a
     * smaller batch after running out of memory). */
    (void)cudaGetLastError();
    return ts_error(st, "cuda: layer '%s': %s: %s", layer ? layer : "-", what, cudaGetErrorString(e));
}

static ts_status dnn_fail(cudnnStatus_t e, const char *what, const char *layer)
{
    ts_status st = e == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED ||
                           e == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED
                       ? TS_ERR_OOM
                       : TS_ERR_DEVICE;
    return ts_error(st, "cudnn: layer '%s': %s: %s", layer ? layer : "-", what, cudnnGetErrorString(e));
}

static ts_status blas_fail(cublasStatus_t e, const char *what, const char *layer)
{
    ts_status st = e == CUBLAS_STATUS_ALLOC_FAILED ? TS_ERR_OOM : TS_ERR_DEVICE;
    return ts_error(st, "cublas: layer '%s': %s: %s", layer ? layer : "-", what, cublasGetStatusString(e));
}

#define CU_TRY(call, layer)                                                 \
    do {                                                                    \
        cudaError_t e_ = (call);                                            \
        if (e_ != cudaSuccess) return cu_fail(e_, #call, layer);            \
    } while (0)
#define DNN_TRY(call, layer)                                                \
    do {                                                                    \
        cudnnStatus_t e_ = (call);                                          \
        if (e_ != CUDNN_STATUS_SUCCESS) return dnn_fail(e_, #call, layer);  \
    } while (0)
#define BLAS_TRY(call, layer)                                               \
    do {                                                                    \
        cublasStatus_t e_ = (call);                                         \
        if (e_ != CUBLAS_STATUS_SUCCESS) return blas_fail(e_, #call, layer);\
    } while (0)

static int want(const ts_tensor *t) { return t && t->data; }

/* ---- device memory ------------------------------------------------------ */

/* Grows a device buffer to `bytes` (contents lost).  TS_ERR_OOM when the
 * device is full; the old buffer is kept then. */
static ts_status grow(void **p, size_t *cap, size_t bytes, const char *what)
{
    if (*cap >= bytes) return TS_OK;
    void *q = NULL;
    cudaError_t e = cudaMalloc(&q, bytes);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return ts_error(e == cudaErrorMemoryAllocation ? TS_ERR_OOM : TS_ERR_DEVICE,
                        "cuda: cannot allocate %zu MiB of %s: %s", bytes >> 20, what, cudaGetErrorString(e));
    }
    if (*p) cudaFree(*p); /* nothing to report: the block was ours */
    *p = q;
    *cap = bytes;
    return TS_OK;
}

static ts_status cuda_arena_init(void *vctx, ts_arena *a, size_t floats)
{
    memset(a, 0, sizeof *a);
    if (floats == 0) return TS_OK;
    cuda_ctx *c = vctx;
    size_t cap = (floats + 15) / 16 * 16; /* the host arena's 64-byte granule */
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, cap * sizeof(float));
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return ts_error(e == cudaErrorMemoryAllocation ? TS_ERR_OOM : TS_ERR_DEVICE,
                        "cuda: cannot allocate an arena of %zu MiB: %s", (cap * sizeof(float)) >> 20,
                        cudaGetErrorString(e));
    }
    /* Arenas start zeroed, like ts_arena_init's; on our stream, which does
     * not synchronise with the legacy default stream. */
    e = cudaMemsetAsync(p, 0, cap * sizeof(float), c->stream);
    if (e != cudaSuccess) {
        cudaFree(p);
        return cu_fail(e, "cudaMemset (new arena)", NULL);
    }
    a->base = p;
    a->block = p;
    a->cap = cap;
    a->on_device = true;
    return TS_OK;
}

static void cuda_arena_clear(void *vctx, ts_arena *a)
{
    if (!a) return;
    if (a->on_device && a->block) cudaFree(a->block);
    else if (!a->on_device) ts_arena_clear(a);
    memset(a, 0, sizeof *a);
}

static ts_status cuda_upload(void *vctx, float *dst, const float *src, size_t floats)
{
    cuda_ctx *c = vctx;
    if (!floats) return TS_OK;
    /* From pageable memory the call returns once src has been staged, so the
     * caller may reuse its buffer at once. */
    CU_TRY(cudaMemcpyAsync(dst, src, floats * sizeof(float), cudaMemcpyHostToDevice, c->stream), NULL);
    return TS_OK;
}

static ts_status cuda_download(void *vctx, float *dst, const float *src, size_t floats)
{
    cuda_ctx *c = vctx;
    if (!floats) return TS_OK;
    CU_TRY(cudaMemcpyAsync(dst, src, floats * sizeof(float), cudaMemcpyDeviceToHost, c->stream), NULL);
    /* Also where faults of earlier kernels surface. */
    CU_TRY(cudaStreamSynchronize(c->stream), NULL);
    return TS_OK;
}

static ts_status cuda_zero(void *vctx, float *dst, size_t floats)
{
    cuda_ctx *c = vctx;
    if (!floats) return TS_OK;
    CU_TRY(cudaMemsetAsync(dst, 0, floats * sizeof(float), c->stream), NULL);
    return TS_OK;
}

/* ---- conv2d: plans -------------------------------------------------------- */

static void plan_destroy(conv_plan *p)
{
    if (p->xd) cudnnDestroyTensorDescriptor(p->xd);
    if (p->yd) cudnnDestroyTensorDescriptor(p->yd);
    if (p->wd) cudnnDestroyFilterDescriptor(p->wd);
    if (p->cd) cudnnDestroyConvolutionDescriptor(p->cd);
    memset(p, 0, sizeof *p);
}

/* Ensures the shared workspace holds `bytes`; 0 on success. */
static int ws_fits(cuda_ctx *c, size_t bytes)
{
    if (bytes > CUDA_WS_LIMIT) return 0;
    return grow(&c->ws, &c->ws_size, bytes, "cuDNN workspace") == TS_OK;
}

/* The cached plan of this convolution shape, made on first use. */
static ts_status conv_plan_get(cuda_ctx *c, const ts_op_args *a, conv_plan **out)
{
    const ts_node *nd = a->node;
    const ts_tensor *x = a->in[0], *w = a->weight, *y = a->out;
    int key[13] = { x->n, x->c, x->h, x->w, w->n, w->h, w->w, nd->stride,
                    nd->pad_t, nd->pad_b, nd->pad_l, nd->pad_r, nd->groups };
    for (int i = 0; i < c->n_plans; i++)
        if (!memcmp(c->plans[i].key, key, sizeof key)) {
            *out = &c->plans[i];
            return TS_OK;
        }
    if (c->n_plans == c->cap_plans) {
        int cap = c->cap_plans ? 2 * c->cap_plans : 16;
        conv_plan *np = realloc(c->plans, (size_t)cap * sizeof *np);
        if (!np) return ts_error(TS_ERR_OOM, "cuda: no memory for convolution plans");
        c->plans = np;
        c->cap_plans = cap;
    }
    conv_plan *p = &c->plans[c->n_plans];
    memset(p, 0, sizeof *p);
    memcpy(p->key, key, sizeof key);
    const char *L = nd->name;
    p->asym = nd->pad_t != nd->pad_b || nd->pad_l != nd->pad_r;
    int ph = p->asym ? 0 : nd->pad_t, pw = p->asym ? 0 : nd->pad_l;
    int H = x->h, W = x->w;
    if (p->asym) {
        p->HP = H + nd->pad_t + nd->pad_b;
        p->WP = W + nd->pad_l + nd->pad_r;
        H = p->HP;
        W = p->WP;
    }
    ts_status st = TS_OK;
    cudnnStatus_t e;
#define PLAN_TRY(call)                                                      \
    do {                                                                    \
        if ((e = (call)) != CUDNN_STATUS_SUCCESS) {                         \
            st = dnn_fail(e, #call, L);                                     \
            goto fail;                                                      \
        }                                                                   \
    } while (0)
    PLAN_TRY(cudnnCreateTensorDescriptor(&p->xd));
    PLAN_TRY(cudnnCreateTensorDescriptor(&p->yd));
    PLAN_TRY(cudnnCreateFilterDescriptor(&p->wd));
    PLAN_TRY(cudnnCreateConvolutionDescriptor(&p->cd));
    PLAN_TRY(cudnnSetTensor4dDescriptor(p->xd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, x->n, x->c, H, W));
    PLAN_TRY(cudnnSetTensor4dDescriptor(p->yd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, y->n, y->c, y->h, y->w));
    PLAN_TRY(cudnnSetFilter4dDescriptor(p->wd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, w->n, w->c, w->h, w->w));
    PLAN_TRY(cudnnSetConvolution2dDescriptor(p->cd, ph, pw, nd->stride, nd->stride, 1, 1,
                                             CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    PLAN_TRY(cudnnSetConvolutionGroupCount(p->cd, nd->groups));
    PLAN_TRY(cudnnSetConvolutionMathType(p->cd, c->tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
    {
        int on, oc, oh, ow;
        PLAN_TRY(cudnnGetConvolution2dForwardOutputDim(p->cd, p->xd, p->wd, &on, &oc, &oh, &ow));
        if (on != y->n || oc != y->c || oh != y->h || ow != y->w) {
            st = ts_error(TS_ERR_SHAPE, "conv2d '%s': cuDNN computes (%d,%d,%d,%d), the graph (%d,%d,%d,%d)", L,
                          on, oc, oh, ow, y->n, y->c, y->h, y->w);
            goto fail;
        }
    }
    {
        /* Heuristics, best first; take the first that runs and whose
         * workspace we can hold. */
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        int n = 0, found = 0;
        PLAN_TRY(cudnnGetConvolutionForwardAlgorithm_v7(c->dnn, p->xd, p->wd, p->cd, p->yd,
                                                       CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf));
        for (int i = 0; i < n && !found; i++)
            if (perf[i].status == CUDNN_STATUS_SUCCESS && ws_fits(c, perf[i].memory)) {
                p->fwd = perf[i].algo;
                p->ws_fwd = perf[i].memory;
                found = 1;
            }
        if (!found) {
            st = ts_error(TS_ERR_OOM, "conv2d '%s': no cuDNN forward algorithm fits in device memory", L);
            goto fail;
        }
    }
    c->n_plans++;
    *out = p;
    return TS_OK;
fail:
    plan_destroy(p);
    return st;
#undef PLAN_TRY
}

static ts_status conv_plan_backward(cuda_ctx *c, conv_plan *p, const char *L)
{
    if (p->have_bwd) return TS_OK;
    cudnnConvolutionBwdDataAlgoPerf_t pd[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    cudnnConvolutionBwdFilterAlgoPerf_t pf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int n = 0, found = 0;
    DNN_TRY(cudnnGetConvolutionBackwardDataAlgorithm_v7(c->dnn, p->wd, p->yd, p->cd, p->xd,
                                                       CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, pd), L);
    for (int i = 0; i < n && !found; i++)
        if (pd[i].status == CUDNN_STATUS_SUCCESS && ws_fits(c, pd[i].memory)) {
            p->bwd_data = pd[i].algo;
            p->ws_data = pd[i].memory;
            found = 1;
        }
    if (!found) return ts_error(TS_ERR_OOM, "conv2d '%s': no cuDNN backward-data algorithm fits", L);
    n = 0;
    found = 0;
    DNN_TRY(cudnnGetConvolutionBackwardFilterAlgorithm_v7(c->dnn, p->xd, p->yd, p->cd, p->wd,
                                                         CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, pf), L);
    for (int i = 0; i < n && !found; i++)
        if (pf[i].status == CUDNN_STATUS_SUCCESS && ws_fits(c, pf[i].memory)) {
            p->bwd_filter = pf[i].algo;
            p->ws_filter = pf[i].memory;
            found = 1;
        }
    if (!found) return ts_error(TS_ERR_OOM, "conv2d '%s': no cuDNN backward-filter algorithm fits", L);
    p->have_bwd = 1;
    return TS_OK;
}

static ts_status conv_check(const ts_op_args *a)
{
    const ts_node *nd = a->node;
    const ts_tensor *x = a->in[0], *w = a->weight;
    if (a->n_in != 1 || !want(x) || !want(w))
        return ts_error(TS_ERR_SHAPE, "conv2d '%s': needs one input and a weight", nd->name);
    if (nd->groups < 1 || x->c % nd->groups || w->n % nd->groups || w->c != x->c / nd->groups ||
        a->out->c != w->n || a->out->n != x->n)
        return ts_error(TS_ERR_SHAPE, "conv2d '%s': input, weight and groups %d do not fit", nd->name,
                        nd->groups);
    if (nd->has_bias && (!want(a->bias) || ts_tensor_numel(a->bias) != (size_t)w->n))
        return ts_error(TS_ERR_SHAPE, "conv2d '%s': bias must have %d values", nd->name, w->n);
    return TS_OK;
}

/* The padded copy of the input for an asymmetric plan, in scratch 0. */
static ts_status conv_padded_input(cuda_ctx *c, const ts_op_args *a, const conv_plan *p, const float **xp)
{
    const ts_node *nd = a->node;
    const ts_tensor *x = a->in[0];
    *xp = x->data;
    if (!p->asym) return TS_OK;
    size_t bytes = (size_t)x->n * x->c * p->HP * p->WP * sizeof(float);
    TS_TRY(grow((void **)&c->scratch[0], &c->scratch_cap[0], bytes, "padded input"));
    CU_TRY(cuda_pad_launch(c->stream, x->data, c->scratch[0], x->n * x->c, x->h, x->w, nd->pad_t, nd->pad_b,
                           nd->pad_l, nd->pad_r), nd->name);
    *xp = c->scratch[0];
    return TS_OK;
}

static ts_status cuda_conv2d_forward(cuda_ctx *c, const ts_op_args *a)
{
    TS_TRY(conv_check(a));
    const char *L = a->node->name;
    conv_plan *p;
    TS_TRY(conv_plan_get(c, a, &p));
    const float *xp;
    TS_TRY(conv_padded_input(c, a, p, &xp));
    const float one = 1.0f, zero = 0.0f;
    DNN_TRY(cudnnConvolutionForward(c->dnn, &one, p->xd, xp, p->wd, a->weight->data, p->cd, p->fwd, c->ws,
                                    p->ws_fwd, &zero, p->yd, a->out->data), L);
    if (a->node->has_bias)
        CU_TRY(cuda_bias_forward_launch(c->stream, a->out->data, a->bias->data, a->out->n, a->out->c,
                                        (size_t)a->out->h * a->out->w), L);
    return TS_OK;
}

static ts_status cuda_conv2d_backward(cuda_ctx *c, const ts_op_args *a)
{
    TS_TRY(conv_check(a));
    const ts_node *nd = a->node;
    const char *L = nd->name;
    const ts_tensor *x = a->in[0], *dy = a->dout;
    conv_plan *p;
    TS_TRY(conv_plan_get(c, a, &p));
    TS_TRY(conv_plan_backward(c, p, L));
    const float one = 1.0f, zero = 0.0f;
    if (nd->has_bias && want(a->dbias))
        CU_TRY(cuda_bias_backward_launch(c->stream, dy->data, a->dbias->data, dy->n, dy->c,
                                         (size_t)dy->h * dy->w), L);
    if (want(a->dweight)) {
        const float *xp;
        TS_TRY(conv_padded_input(c, a, p, &xp));
        DNN_TRY(cudnnConvolutionBackwardFilter(c->dnn, &one, p->xd, xp, p->yd, dy->data, p->cd, p->bwd_filter,
                                               c->ws, p->ws_filter, &one, p->wd, a->dweight->data), L);
    }
    if (want(a->din[0])) {
        if (!p->asym) {
            DNN_TRY(cudnnConvolutionBackwardData(c->dnn, &one, p->wd, a->weight->data, p->yd, dy->data, p->cd,
                                                 p->bwd_data, c->ws, p->ws_data, &one, p->xd,
                                                 a->din[0]->data), L);
        } else {
            size_t bytes = (size_t)x->n * x->c * p->HP * p->WP * sizeof(float);
            TS_TRY(grow((void **)&c->scratch[1], &c->scratch_cap[1], bytes, "padded input gradient"));
            DNN_TRY(cudnnConvolutionBackwardData(c->dnn, &one, p->wd, a->weight->data, p->yd, dy->data, p->cd,
                                                 p->bwd_data, c->ws, p->ws_data, &zero, p->xd, c->scratch[1]),
                    L);
            CU_TRY(cuda_unpad_add_launch(c->stream, c->scratch[1], a->din[0]->data, x->n * x->c, x->h, x->w,
                                         nd->pad_t, nd->pad_b, nd->pad_l, nd->pad_r), L);
        }
    }
    return TS_OK;
}

/* ---- fc through cuBLAS ---------------------------------------------------- */

/* Row-major x (N,K), W (O,K), y (N,O) are, read column-major, x^T (K,N),
 * W^T (K,O) and y^T (O,N), so:
 *   y^T  = W x^T          : gemm(T, N, O, N, K, W, K, x, K, y, O)
 *   dx^T += W^T dy^T      : gemm(N, N, K, N, O, W, K, dy, O, dx, K)
 *   dW^T += x^T dy        : gemm(N, T, K, O, N, x, K, dy, O, dW, K) */
static ts_status fc_check(const ts_op_args *a, int *N, int *K, int *O)
{
    const ts_node *nd = a->node;
    if (a->n_in != 1 || !want(a->in[0]) || !want(a->weight))
        return ts_error(TS_ERR_SHAPE, "fc '%s': needs one input and a weight", nd->name);
    const ts_tensor *x = a->in[0], *w = a->weight;
    *N = x->n;
    *K = x->c * x->h * x->w;
    *O = w->n;
    if ((size_t)w->c * w->h * w->w != (size_t)*K || a->out->n != *N ||
        (size_t)a->out->c * a->out->h * a->out->w != (size_t)*O)
        return ts_error(TS_ERR_SHAPE, "fc '%s': input, weight and output do not fit", nd->name);
    if (nd->has_bias && (!want(a->bias) || ts_tensor_numel(a->bias) != (size_t)*O))
        return ts_error(TS_ERR_SHAPE, "fc '%s': bias must have %d values", nd->name, *O);
    return TS_OK;
}

static ts_status cuda_fc_forward(cuda_ctx *c, const ts_op_args *a)
{
    int N, K, O;
    TS_TRY(fc_check(a, &N, &K, &O));
    const char *L = a->node->name;
    const float one = 1.0f, zero = 0.0f;
    BLAS_TRY(cublasSgemm(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, O, N, K, &one, a->weight->data, K, a->in[0]->data, K,
                         &zero, a->out->data, O), L);
    if (a->node->has_bias)
        CU_TRY(cuda_bias_forward_launch(c->stream, a->out->data, a->bias->data, N, O, 1), L);
    return TS_OK;
}

static ts_status cuda_fc_backward(cuda_ctx *c, const ts_op_args *a)
{
    int N, K, O;
    TS_TRY(fc_check(a, &N, &K, &O));
    const char *L = a->node->name;
    const float one = 1.0f;
    const float *dy = a->dout->data;
    if (a->node->has_bias && want(a->dbias)) CU_TRY(cuda_bias_backward_launch(c->stream, dy, a->dbias->data, N, O, 1), L);
    if (want(a->dweight))
        BLAS_TRY(cublasSgemm(c->blas, CUBLAS_OP_N, CUBLAS_OP_T, K, O, N, &one, a->in[0]->data, K, dy, O, &one,
                             a->dweight->data, K), L);
    if (want(a->din[0]))
        BLAS_TRY(cublasSgemm(c->blas, CUBLAS_OP_N, CUBLAS_OP_N, K, N, O, &one, a->weight->data, K, dy, O, &one,
                             a->din[0]->data, K), L);
    return TS_OK;
}

/* ---- ops on our kernels ---------------------------------------------------- */

static ts_status same_shape_check(const ts_op_args *a)
{
    if (a->n_in != 1 || !want(a->in[0]) || !ts_tensor_same_shape(a->in[0], a->out))
        return ts_error(TS_ERR_SHAPE, "%s '%s': needs one input shaped like the output", ts_op_name(a->node->op),
                        a->node->name);
    return TS_OK;
}

static ts_status pool_geom_init(const ts_op_args *a, cuda_pool_geom *g)
{
    const ts_node *nd = a->node;
    const ts_tensor *x = a->in[0], *y = a->out;
    if (a->n_in != 1 || !want(x) || y->n != x->n || y->c != x->c)
        return ts_error(TS_ERR_SHAPE, "%s '%s': needs one input", ts_op_name(nd->op), nd->name);
    *g = (cuda_pool_geom){ .NC = x->n * x->c, .H = x->h, .W = x->w, .OH = y->h, .OW = y->w };
    if (nd->global) {
        g->KH = x->h, g->KW = x->w, g->S = 1;
    } else {
        g->KH = nd->kh, g->KW = nd->kw, g->S = nd->stride;
        g->pt = nd->pad_t, g->pb = nd->pad_b, g->pl = nd->pad_l, g->pr = nd->pad_r;
    }
    if (g->KH < 1 || g->KW < 1 || g->S < 1)
        return ts_error(TS_ERR_SHAPE, "%s '%s': kernel and stride must be >= 1", ts_op_name(nd->op), nd->name);
    return TS_OK;
}

static ts_status cuda_forward(void *vctx, const ts_op_args *a)
{
    cuda_ctx *c = vctx;
    TS_ASSERT(a && a->node && a->out && a->out->data);
    const ts_node *nd = a->node;
    const char *L = nd->name;
    size_t n = ts_tensor_numel(a->out);
    switch (nd->op) {
    case TS_OP_INPUT:
        if (a->n_in == 1 && want(a->in[0]) && a->in[0]->data != a->out->data) {
            TS_ASSERT(ts_tensor_numel(a->in[0]) == n);
            CU_TRY(cudaMemcpyAsync(a->out->data, a->in[0]->data, n * sizeof(float), cudaMemcpyDeviceToDevice,
                                   c->stream), L);
        }
        return TS_OK;
    case TS_OP_CONV2D: return cuda_conv2d_forward(c, a);
    case TS_OP_FC: return cuda_fc_forward(c, a);
    case TS_OP_RELU:
    case TS_OP_LEAKY_RELU:
        TS_TRY(same_shape_check(a));
        CU_TRY(cuda_relu_forward_launch(c->stream, a->in[0]->data, a->out->data, n, nd->op == TS_OP_LEAKY_RELU,
                                        nd->slope), L);
        return TS_OK;
    case TS_OP_LRN: {
        TS_TRY(same_shape_check(a));
        const ts_tensor *x = a->in[0];
        if (want(a->aux) && !ts_tensor_same_shape(a->aux, a->out))
            return ts_error(TS_ERR_SHAPE, "lrn '%s': aux must match the output", L);
        CU_TRY(cuda_lrn_forward_launch(c->stream, x->data, a->out->data, want(a->aux) ? a->aux->data : NULL, x->n,
                                       x->c, x->h * x->w, nd->lrn_size, nd->lrn_alpha, nd->lrn_beta, nd->lrn_k),
               L);
        return TS_OK;
    }
    case TS_OP_MAXPOOL:
    case TS_OP_AVGPOOL: {
        cuda_pool_geom g;
        TS_TRY(pool_geom_init(a, &g));
        if (nd->op == TS_OP_MAXPOOL) {
            if (want(a->aux)) TS_ASSERT(ts_tensor_numel(a->aux) == n);
            CU_TRY(cuda_maxpool_forward_launch(c->stream, &g, a->in[0]->data, a->out->data,
                                               want(a->aux) ? a->aux->data : NULL), L);
        } else {
            CU_TRY(cuda_avgpool_forward_launch(c->stream, &g, a->in[0]->data, a->out->data), L);
        }
        return TS_OK;
    }
    case TS_OP_DROPOUT:
        TS_TRY(same_shape_check(a));
        if (!(nd->p >= 0.0f && nd->p < 1.0f)) return ts_error(TS_ERR_SHAPE, "dropout '%s': p outside [0,1)", L);
        if (!a->training || nd->p == 0.0f) {
            if (a->out->data != a->in[0]->data)
                CU_TRY(cudaMemcpyAsync(a->out->data, a->in[0]->data, n * sizeof(float), cudaMemcpyDeviceToDevice,
                                       c->stream), L);
            return TS_OK;
        }
        if (!want(a->aux) || ts_tensor_numel(a->aux) != n)
            return ts_error(TS_ERR_SHAPE, "dropout '%s': training needs a mask buffer (aux) like the output", L);
        CU_TRY(cuda_dropout_forward_launch(c->stream, a->in[0]->data, a->out->data, a->aux->data, n, a->seed,
                                           nd->p), L);
        return TS_OK;
    case TS_OP_CONCAT: {
        const ts_tensor *y = a->out;
        int c0 = 0;
        for (int i = 0; i < a->n_in; i++) {
            const ts_tensor *x = a->in[i];
            if (!want(x) || x->n != y->n || x->h != y->h || x->w != y->w || c0 + x->c > y->c)
                return ts_error(TS_ERR_SHAPE, "concat '%s': input %d does not fit the output", L, i);
            c0 += x->c;
        }
        if (a->n_in < 1 || c0 != y->c)
            return ts_error(TS_ERR_SHAPE, "concat '%s': inputs have %d channels, output %d", L, c0, y->c);
        c0 = 0;
        for (int i = 0; i < a->n_in; i++) {
            CU_TRY(cuda_concat_forward_launch(c->stream, a->in[i]->data, y->data, y->n, a->in[i]->c, y->c, c0,
                                              (size_t)y->h * y->w), L);
            c0 += a->in[i]->c;
        }
        return TS_OK;
    }
    case TS_OP_ADD:
        if (a->n_in < 1) return ts_error(TS_ERR_SHAPE, "add '%s': needs at least one input", L);
        for (int i = 0; i < a->n_in; i++)
            if (!want(a->in[i]) || !ts_tensor_same_shape(a->in[i], a->out))
                return ts_error(TS_ERR_SHAPE, "add '%s': input %d is not shaped like the output", L, i);
        if (a->n_in == 1) {
            CU_TRY(cudaMemcpyAsync(a->out->data, a->in[0]->data, n * sizeof(float), cudaMemcpyDeviceToDevice,
                                   c->stream), L);
            return TS_OK;
        }
        CU_TRY(cuda_add_forward_launch(c->stream, a->in[0]->data, a->in[1]->data, a->out->data, n), L);
        for (int i = 2; i < a->n_in; i++) CU_TRY(cuda_add_inplace_launch(c->stream, a->in[i]->data, a->out->data, n), L);
        return TS_OK;
    case TS_OP_COUNT:
        break;
    }
    return ts_error(TS_ERR_UNSUPPORTED, "cuda backend: node '%s': unknown op %d", L, (int)nd->op);
}

static ts_status cuda_backward(void *vctx, const ts_op_args *a)
{
    cuda_ctx *c = vctx;
    TS_ASSERT(a && a->node && a->dout && a->dout->data);
    const ts_node *nd = a->node;
    const char *L = nd->name;
    size_t n = ts_tensor_numel(a->out);
    switch (nd->op) {
    case TS_OP_INPUT: return TS_OK;
    case TS_OP_CONV2D: return cuda_conv2d_backward(c, a);
    case TS_OP_FC: return cuda_fc_backward(c, a);
    case TS_OP_RELU:
    case TS_OP_LEAKY_RELU:
        TS_TRY(same_shape_check(a));
        if (!want(a->din[0])) return TS_OK;
        CU_TRY(cuda_relu_backward_launch(c->stream, a->in[0]->data, a->dout->data, a->din[0]->data, n,
                                         nd->op == TS_OP_LEAKY_RELU, nd->slope), L);
        return TS_OK;
    case TS_OP_LRN: {
        TS_TRY(same_shape_check(a));
        if (!want(a->din[0])) return TS_OK;
        if (!want(a->aux)) return ts_error(TS_ERR_SHAPE, "lrn '%s': backward needs the scale kept in aux", L);
        const ts_tensor *x = a->in[0];
        CU_TRY(cuda_lrn_backward_launch(c->stream, x->data, a->dout->data, a->aux->data, a->din[0]->data, x->n,
                                        x->c, x->h * x->w, nd->lrn_size, nd->lrn_alpha, nd->lrn_beta), L);
        return TS_OK;
    }
    case TS_OP_MAXPOOL:
    case TS_OP_AVGPOOL: {
        cuda_pool_geom g;
        TS_TRY(pool_geom_init(a, &g));
        if (!want(a->din[0])) return TS_OK;
        if (nd->op == TS_OP_MAXPOOL) {
            if (!want(a->aux))
                return ts_error(TS_ERR_SHAPE, "maxpool '%s': backward needs the argmax kept in aux", L);
            CU_TRY(cuda_maxpool_backward_launch(c->stream, &g, a->aux->data, a->dout->data, a->din[0]->data), L);
        } else {
            CU_TRY(cuda_avgpool_backward_launch(c->stream, &g, a->dout->data, a->din[0]->data), L);
        }
        return TS_OK;
    }
    case TS_OP_DROPOUT:
        TS_TRY(same_shape_check(a));
        if (!want(a->din[0])) return TS_OK;
        if (a->training && nd->p > 0.0f) {
            if (!want(a->aux) || ts_tensor_numel(a->aux) != n)
                return ts_error(TS_ERR_SHAPE, "dropout '%s': backward needs the mask kept in aux", L);
            CU_TRY(cuda_dropout_backward_launch(c->stream, a->dout->data, a->aux->data, a->din[0]->data, n), L);
        } else {
            CU_TRY(cuda_add_inplace_launch(c->stream, a->dout->data, a->din[0]->data, n), L);
        }
        return TS_OK;
    case TS_OP_CONCAT: {
        const ts_tensor *dy = a->dout;
        int c0 = 0;
        for (int i = 0; i < a->n_in; i++) {
            const ts_tensor *x = a->in[i];
            TS_ASSERT(x && x->n == dy->n && c0 + x->c <= dy->c);
            if (want(a->din[i]))
                CU_TRY(cuda_concat_backward_launch(c->stream, dy->data, a->din[i]->data, dy->n, x->c, dy->c, c0,
                                                   (size_t)dy->h * dy->w), L);
            c0 += x->c;
        }
        return TS_OK;
    }
    case TS_OP_ADD:
        for (int i = 0; i < a->n_in; i++) {
            if (!want(a->din[i])) continue;
            TS_ASSERT(ts_tensor_numel(a->din[i]) == n);
            CU_TRY(cuda_add_inplace_launch(c->stream, a->dout->data, a->din[i]->data, n), L);
        }
        return TS_OK;
    case TS_OP_COUNT:
        break;
    }
    return ts_error(TS_ERR_UNSUPPORTED, "cuda backend: node '%s': unknown op %d", L, (int)nd->op);
}

static const ts_backend cuda_backend = {
    .name = "cuda",
    .device = TS_DEVICE_CUDA,
    .forward = cuda_forward,
    .backward = cuda_backward,
    .arena_init = cuda_arena_init,
    .arena_clear = cuda_arena_clear,
    .upload = cuda_upload,
    .download = cuda_download,
    .zero = cuda_zero,
};

ts_status ts_backend_cuda_sgd(void *vctx, float *w, const float *g, float *v, size_t n, float lr, float momentum,
                              float decay)
{
    cuda_ctx *c = vctx;
    CU_TRY(cuda_sgd_update_launch(c->stream, w, g, v, n, lr, momentum, decay), "sgd");
    return TS_OK;
}

/* ---- opening and closing ------------------------------------------------------ */

void ts_backend_cuda_close(void *vctx)
{
    cuda_ctx *c = vctx;
    if (!c) return;
    if (c->stream) cudaStreamSynchronize(c->stream);
    for (int i = 0; i < c->n_plans; i++) plan_destroy(&c->plans[i]);
    free(c->plans);
    if (c->ws) cudaFree(c->ws);
    for (int i = 0; i < 2; i++)
        if (c->scratch[i]) cudaFree(c->scratch[i]);
    if (c->dnn) cudnnDestroy(c->dnn);
    if (c->blas) cublasDestroy(c->blas);
    if (c->stream) cudaStreamDestroy(c->stream);
    free(c);
}

/* Without a GPU, cudaGetDeviceCount() fails (typically "CUDA driver version
 * is insufficient for CUDA runtime version"): that means "no GPU", and
 * ts_backend_select() falls back to the CPU with this message.
 * TS_CUDA_DEVICE picks a device other than 0. */
ts_status ts_backend_cuda_open(const ts_backend **out, void **ctx)
{
    int n = 0;
    *out = NULL;
    *ctx = NULL;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
        (void)cudaGetLastError();
        return ts_error(TS_ERR_DEVICE, "CUDA: %s", cudaGetErrorString(err));
    }
    if (n == 0) return ts_error(TS_ERR_DEVICE, "CUDA: no device found");
    cuda_ctx *c = calloc(1, sizeof *c);
    if (!c) return ts_error(TS_ERR_OOM, "CUDA: no memory for the backend context");
    const char *dev = getenv("TS_CUDA_DEVICE");
    c->device = dev ? atoi(dev) : 0;
    const char *tf = getenv("TS_CUDA_TF32");
    c->tf32 = tf && tf[0] == '1';
    ts_status st = TS_OK;
    cudaError_t e;
    cudnnStatus_t de;
    cublasStatus_t be;
    if (c->device < 0 || c->device >= n) {
        st = ts_error(TS_ERR_DEVICE, "CUDA: TS_CUDA_DEVICE=%d but %d device(s) found", c->device, n);
        goto fail;
    }
    if ((e = cudaSetDevice(c->device)) != cudaSuccess || (e = cudaFree(0)) != cudaSuccess ||
        (e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking)) != cudaSuccess) {
        st = cu_fail(e, "initialising the device", NULL);
        goto fail;
    }
    if ((be = cublasCreate(&c->blas)) != CUBLAS_STATUS_SUCCESS ||
        (be = cublasSetStream(c->blas, c->stream)) != CUBLAS_STATUS_SUCCESS ||
        (be = cublasSetMathMode(c->blas, c->tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH)) !=
            CUBLAS_STATUS_SUCCESS) {
        st = blas_fail(be, "creating the cuBLAS handle", NULL);
        goto fail;
    }
    if ((de = cudnnCreate(&c->dnn)) != CUDNN_STATUS_SUCCESS ||
        (de = cudnnSetStream(c->dnn, c->stream)) != CUDNN_STATUS_SUCCESS) {
        st = dnn_fail(de, "creating the cuDNN handle", NULL);
        goto fail;
    }
    *out = &cuda_backend;
    *ctx = c;
    return TS_OK;
fail:
    ts_backend_cuda_close(c);
    return st;
}
