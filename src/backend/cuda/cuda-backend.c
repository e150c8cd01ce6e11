/* cuda-backend.c - the CUDA backend: the ts_backend table of backend.h on
 * one NVIDIA GPU, op for op like the CPU reference (backend/cpu/).
 *
 *   conv2d      cuDNN's graph ("backend") API, one operation per graph:
 *               CONVOLUTION_FORWARD, _BACKWARD_DATA and _BACKWARD_FILTER.
 *               For each (kind, N,C,H,W, K, kernel, stride, pad, groups,
 *               pointer alignment) an execution plan is chosen once with
 *               the CUDNN_HEUR_MODE_A heuristics (FALLBACK when A offers
 *               nothing that finalizes) and cached in the context; one
 *               workspace, grown to the largest plan's need and reused by
 *               every call; groups are expressed by the filter's channel
 *               count C/groups (the graph API infers them); asymmetric
 *               padding by an explicit zero-padded copy of the input
 *               (kernels/conv2d.cu says why cropping is not enough); bias
 *               by our kernels.
 *   fc          cuBLAS SGEMM (row-major NCHW read as column-major, see
 *               cuda_fc_forward), bias by our kernels.
 *   the rest    our kernels (kernels/<stem>.cu, launchers in cuda-ops.h).
 * Backward ACCUMULATES, as backend.h requires: beta = 1 in every cuDNN and
 * cuBLAS call that writes a gradient, += in every kernel.  Should no cuDNN
 * engine accept beta = 1 for a shape, the plan is rebuilt with beta = 0
 * into a scratch buffer that our add kernel folds in (conv_plan.via_scratch).
 *
 * Only non-deprecated cuDNN entry points (STYLE.md): this file defines
 * CUDNN_WARN_DEPRECATED before including cudnn.h and turns the deprecation
 * warning into an error, so the legacy convolution API (descriptors,
 * cudnnConvolution*, the _v7 heuristics) cannot creep back.  One deprecated
 * attribute is used on purpose, in one marked place: the operation graph
 * gets the cuDNN handle (conv_graph), as cudnn-frontend does whenever it
 * has a handle; its handle-less path is only for graphs built without a
 * GPU, from device properties alone.  From cuDNN 9.8 the heuristics also
 * get a DEVICEPROP descriptor made from the handle at open; failing to make
 * it fails the open, loudly, instead of dropping the hint (issue 14,
 * finding 3).
 *
 * Errors: every CUDA, cuBLAS and cuDNN status is checked and turned into a
 * ts_status naming the call, the layer and, for convolutions, the shape;
 * running out of device memory is TS_ERR_OOM (arenas, workspace, scratch,
 * cuDNN's own allocations), never an abort.  No managed memory: arenas are
 * cudaMalloc'ed, host data moves by explicit copies.
 *
 * Numerics: by default convolutions and GEMMs run in strict float32: engine
 * configurations whose numerical notes say TENSOR_CORE (TF32 on float
 * data), DOWN_CONVERT_INPUTS or REDUCED_PRECISION_REDUCTION are skipped,
 * and cuBLAS keeps its default math, so results match the CPU within the
 * op test's tolerances.  Only when a shape has no strict engine at all is
 * the first other one taken (conv_plan.relaxed).  TS_CUDA_TF32=1 in the
 * environment allows TF32 tensor cores (PyTorch's default for
 * convolutions), faster and ~1e-3 relative.
 * Deterministic mode (backend.h, set_deterministic; on by default,
 * TS_CUDA_DETERMINISTIC=0 starts a context with it off) also skips engines
 * noted FFT, WINOGRAD* or NONDETERMINISTIC: LRP divides by sums that such
 * an engine returns as 1e-7 where the exact value is 0 (issue 14, finding
 * 4), and atomics make runs differ.  Plans are cached per mode.  Our own
 * kernels are deterministic in both modes (no atomics).
 *
 * Threads: one context serves one thread at a time (one stream, one
 * workspace, one plan cache).
 *
 * TS_CUDA_VERBOSE=1 prints one line per new convolution plan on stderr
 * (engine and its numerical notes, workspace, mode, whether strict float32
 * and in-place accumulation were possible): the way to see what cuDNN chose
 * on a new GPU.
 *
 * Plan cache: at most PLAN_CACHE_MAX plans; the least recently used one
 * goes when a new one would exceed it (a program that sees many input
 * sizes, e.g. the app on photos, must not grow without bound).
 *
 * A(x,y) has its own lane (stream, buffer, lock): it may run on another
 * thread than the graph (training's prefetch thread builds LACNN inputs).
 */
#define CUDNN_WARN_DEPRECATED 1

#include <cublas_v2.h>
#include <cuda_runtime.h>
/* Only the graph library's header: the legacy convolution API (cudnn_cnn.h)
 * is not even declared here.  cudnn_graph.h itself names one deprecated
 * type in a deprecated declaration, hence the quiet include; from the line
 * after it on, any use of a deprecated cuDNN name is a compile error. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#include <cudnn_graph.h>
#pragma GCC diagnostic pop
#pragma GCC diagnostic error "-Wdeprecated-declarations"
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/op-check.h"
#include "backend/cuda/cuda-ops.h"

/* Largest workspace one convolution plan may ask for. */
#define CUDA_WS_LIMIT ((size_t)1 << 30)
/* Engine configurations asked from one heuristics query. */
#define CONV_MAX_CFGS 64
/* Plans kept (issue 14, finding 11); AlexNet training needs 15. */
#define PLAN_CACHE_MAX 256

/* From cuDNN 9.8 the graph API takes the device through a DEVICEPROP
 * descriptor, and the handle attributes are deprecated (9.x later). */
#if CUDNN_VERSION >= 90800
#define TS_CUDNN_DEVICEPROP 1
#else
#define TS_CUDNN_DEVICEPROP 0
#endif

typedef enum conv_kind { CONV_FWD = 0, CONV_BWD_DATA, CONV_BWD_FILTER } conv_kind;

/* The geometry of one convolution as cuDNN sees it: the input is the
 * padded copy when the node's padding is asymmetric (then ph = pw = 0). */
typedef struct conv_geom {
    int N, C, H, W;    /* convolved input */
    int K, CG, KH, KW; /* filter (K, C/groups, KH, KW) */
    int S, ph, pw, G;  /* stride, symmetric padding, groups */
    int OH, OW;        /* output */
    int asym;          /* input copied into a zero-padded buffer */
    int HP, WP;        /* that buffer's size when asym */
} conv_geom;

/* The plan cache key: the kind, the geometry, and the pointer alignment the
 * plan was made for (16 bytes when all three tensors are 16-byte aligned,
 * 4 otherwise, e.g. the op test's views behind guard floats).  asym is part
 * of it because an asymmetric node's backward-data plan overwrites (beta 0)
 * where a symmetric node of the same padded geometry accumulates. */
typedef struct conv_key {
    int kind, N, C, H, W, K, KH, KW, S, ph, pw, G, align, asym, deterministic;
} conv_key;

#define PLAN_KEEP 10

typedef struct conv_plan {
    conv_key key;
    cudnnBackendDescriptor_t plan;
    /* Descriptors the plan was built from, kept alive with it (the API does
     * not promise that a finalized plan owns copies). */
    cudnnBackendDescriptor_t keep[PLAN_KEEP];
    int n_keep;
    size_t ws;       /* workspace bytes */
    int via_scratch; /* beta = 0 into scratch, folded in by cuda_add_inplace */
    int relaxed;     /* no strict-float32 engine: a TF32/reduced one is used */
    cudnnBackendDescriptor_t cfg; /* the chosen engine configuration (in keep) */
    cudnnBackendHeurMode_t mode;  /* the heuristics that offered it */
    uint64_t last_use;            /* for the LRU bound of the cache */
    /* Variant pack of the last call, rebuilt when a pointer changes. */
    cudnnBackendDescriptor_t vp;
    void *vp_ptr[3], *vp_ws;
} conv_plan;

/* Device scratch buffers of a context, one per use so that no two live
 * results share one. */
enum {
    SCR_PAD_X,  /* zero-padded input of an asymmetric convolution */
    SCR_PAD_DX, /* its gradient before cuda_unpad_add */
    SCR_ACC,    /* a beta = 0 result of a via_scratch plan */
    SCR_AMAP,   /* A(x,y): landmarks, then the map */
    SCR_LRP_Z,  /* LRP: Z, then S = R / stab(Z), (N,O,OH,OW) */
    SCR_LRP_D,  /* LRP: W'^T S, (N,C,H,W) */
    SCR_LRP_T,  /* LRP: one more term's W' x' before it is added to Z */
    SCR_VALUES, /* small uploads (per-channel values) */
    SCR_BIAS,   /* partial sums of the bias gradient */
    SCR_REL,    /* LRP of avgpool: two floats per output cell */
    SCR_FLAG,   /* one int: lrp_split's "some x < 0" */
    SCR_BN,     /* batchnorm's per-channel coefficients (4 floats a channel) */
    SCR_COUNT
};

typedef struct cuda_ctx {
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    cudnnHandle_t dnn;
    cudnnBackendDescriptor_t devprop; /* cuDNN >= 9.8; NULL otherwise */
    int tf32;
    int deterministic; /* see the file comment; default 1 */
    int verbose; /* TS_CUDA_VERBOSE=1: one line on stderr per new plan */
    char name[256]; /* the GPU's name, for describe */
    void *ws;
    size_t ws_size;
    float *scratch[SCR_COUNT]; /* grown, never shrunk; see the enum */
    size_t scratch_cap[SCR_COUNT];
    conv_plan **plans;
    int n_plans, cap_plans;
    uint64_t plan_clock; /* counts plan uses (LRU) */
    /* A(x,y)'s lane: may be used from another thread than the rest. */
    pthread_mutex_t amap_lock;
    cudaStream_t amap_stream;
    void *amap_buf;
    size_t amap_cap;
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

/* The same for convolutions, whose `what` names the op and the shape
 * (conv_what). */
static ts_status dnn_fail_at(cudnnStatus_t e, const char *call, const char *what)
{
    ts_status st = e == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED ||
                           e == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED
                       ? TS_ERR_OOM
                       : TS_ERR_DEVICE;
    return ts_error(st, "cudnn: %s: %s: %s", what, call, cudnnGetErrorString(e));
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

/* Every entry point first makes the context's GPU current on the calling
 * thread: a context may be used from one thread, then another (the app's
 * worker pool, training's prefetch thread), and the current device is per
 * thread.  A failure here resurfaces at the next CUDA call. */
static void enter(const void *vctx)
{
    const struct cuda_ctx *c = vctx;
    if (c) (void)cudaSetDevice(c->device);
}

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
    enter(vctx);
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
    enter(vctx);
    if (!a) return;
    if (a->on_device && a->block) cudaFree(a->block);
    else if (!a->on_device) ts_arena_clear(a);
    memset(a, 0, sizeof *a);
}

static ts_status cuda_upload(void *vctx, float *dst, const float *src, size_t floats)
{
    enter(vctx);
    cuda_ctx *c = vctx;
    if (!floats) return TS_OK;
    /* From pageable memory the call returns once src has been staged, so the
     * caller may reuse its buffer at once. */
    CU_TRY(cudaMemcpyAsync(dst, src, floats * sizeof(float), cudaMemcpyHostToDevice, c->stream), NULL);
    return TS_OK;
}

static ts_status cuda_download(void *vctx, float *dst, const float *src, size_t floats)
{
    enter(vctx);
    cuda_ctx *c = vctx;
    if (!floats) return TS_OK;
    CU_TRY(cudaMemcpyAsync(dst, src, floats * sizeof(float), cudaMemcpyDeviceToHost, c->stream), NULL);
    /* Also where faults of earlier kernels surface. */
    CU_TRY(cudaStreamSynchronize(c->stream), NULL);
    return TS_OK;
}

static ts_status cuda_zero(void *vctx, float *dst, size_t floats)
{
    enter(vctx);
    cuda_ctx *c = vctx;
    if (!floats) return TS_OK;
    CU_TRY(cudaMemsetAsync(dst, 0, floats * sizeof(float), c->stream), NULL);
    return TS_OK;
}

/* ---- conv2d: cuDNN graph API plans ----------------------------------------- */

static const char *const CONV_KIND_NAME[] = { "forward", "backward-data", "backward-filter" };

/* "conv2d 'conv1' forward (N,C,H,W)=(2,3,35,35) K=8 11x11 s4 pad 0,0 g1"
 * for error messages. */
static const char *conv_what(char *buf, size_t len, const char *L, conv_kind kind, const conv_geom *g)
{
    snprintf(buf, len, "conv2d '%s' %s (N,C,H,W)=(%d,%d,%d,%d) K=%d %dx%d s%d pad %d,%d g%d%s", L ? L : "-",
             CONV_KIND_NAME[kind], g->N, g->C, g->H, g->W, g->K, g->KH, g->KW, g->S, g->ph, g->pw, g->G,
             g->asym ? " (asymmetric pads, input padded)" : "");
    return buf;
}

static void plan_free(conv_plan *p)
{
    if (!p) return;
    if (p->vp) cudnnBackendDestroyDescriptor(p->vp);
    if (p->plan) cudnnBackendDestroyDescriptor(p->plan);
    for (int i = p->n_keep - 1; i >= 0; i--)
        if (p->keep[i]) cudnnBackendDestroyDescriptor(p->keep[i]);
    free(p);
}

/* Ensures the shared workspace holds `bytes`; 1 on success. */
static int ws_fits(cuda_ctx *c, size_t bytes)
{
    if (bytes > CUDA_WS_LIMIT) return 0;
    return grow(&c->ws, &c->ws_size, bytes, "cuDNN workspace") == TS_OK;
}

/* Creates a descriptor of `type` and records it in p->keep. */
static cudnnStatus_t keep_new(conv_plan *p, cudnnBackendDescriptorType_t type, cudnnBackendDescriptor_t *d)
{
    *d = NULL;
    if (p->n_keep == PLAN_KEEP) return CUDNN_STATUS_BAD_PARAM; /* a bug here, reported as such */
    cudnnStatus_t e = cudnnBackendCreateDescriptor(type, d);
    if (e == CUDNN_STATUS_SUCCESS) p->keep[p->n_keep++] = *d;
    return e;
}

/* A finalized NCHW float tensor descriptor (packed strides). */
static cudnnStatus_t tensor_desc(conv_plan *p, cudnnBackendDescriptor_t *d, int64_t uid, int n, int c, int h,
                                 int w, int64_t align)
{
    int64_t dims[4] = { n, c, h, w };
    int64_t strides[4] = { (int64_t)c * h * w, (int64_t)h * w, w, 1 };
    cudnnDataType_t dt = CUDNN_DATA_FLOAT;
    cudnnStatus_t e;
    if ((e = keep_new(p, CUDNN_BACKEND_TENSOR_DESCRIPTOR, d)) != CUDNN_STATUS_SUCCESS ||
        (e = cudnnBackendSetAttribute(*d, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &dt)) !=
            CUDNN_STATUS_SUCCESS ||
        (e = cudnnBackendSetAttribute(*d, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims)) !=
            CUDNN_STATUS_SUCCESS ||
        (e = cudnnBackendSetAttribute(*d, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides)) !=
            CUDNN_STATUS_SUCCESS ||
        (e = cudnnBackendSetAttribute(*d, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid)) !=
            CUDNN_STATUS_SUCCESS ||
        (e = cudnnBackendSetAttribute(*d, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align)) !=
            CUDNN_STATUS_SUCCESS)
        return e;
    return cudnnBackendFinalize(*d);
}

/* Tensor unique ids of the variant pack: the input side, the filter side
 * and the output side of every kind (x|dx, w|dw, y|dy). */
enum { UID_X = 1, UID_W = 2, UID_Y = 3 };

/* The finalized operation graph of one convolution of `kind` whose result
 * is scaled by beta (0 overwrite, 1 accumulate). */
static cudnnStatus_t conv_graph(cuda_ctx *c, conv_plan *p, conv_kind kind, const conv_geom *g, float beta,
                                cudnnBackendDescriptor_t *graph)
{
    int64_t al = p->key.align;
    cudnnBackendDescriptor_t x, w, y, cv, op;
    cudnnStatus_t e;
    if ((e = tensor_desc(p, &x, UID_X, g->N, g->C, g->H, g->W, al)) != CUDNN_STATUS_SUCCESS ||
        (e = tensor_desc(p, &w, UID_W, g->K, g->CG, g->KH, g->KW, al)) != CUDNN_STATUS_SUCCESS ||
        (e = tensor_desc(p, &y, UID_Y, g->N, g->K, g->OH, g->OW, al)) != CUDNN_STATUS_SUCCESS)
        return e;
    {
        cudnnDataType_t comp = CUDNN_DATA_FLOAT;
        cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
        int64_t dims = 2, dil[2] = { 1, 1 }, str[2] = { g->S, g->S }, pad[2] = { g->ph, g->pw };
        if ((e = keep_new(p, CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, &cv)) != CUDNN_STATUS_SUCCESS ||
            (e = cudnnBackendSetAttribute(cv, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp)) !=
                CUDNN_STATUS_SUCCESS ||
            (e = cudnnBackendSetAttribute(cv, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1,
                                          &mode)) != CUDNN_STATUS_SUCCESS ||
            (e = cudnnBackendSetAttribute(cv, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &dims)) !=
                CUDNN_STATUS_SUCCESS ||
            (e = cudnnBackendSetAttribute(cv, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, dil)) !=
                CUDNN_STATUS_SUCCESS ||
            (e = cudnnBackendSetAttribute(cv, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, str)) !=
                CUDNN_STATUS_SUCCESS ||
            (e = cudnnBackendSetAttribute(cv, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, pad)) !=
                CUDNN_STATUS_SUCCESS ||
            (e = cudnnBackendSetAttribute(cv, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, pad)) !=
                CUDNN_STATUS_SUCCESS ||
            (e = cudnnBackendFinalize(cv)) != CUDNN_STATUS_SUCCESS)
            return e;
    }
    /* The three kinds differ only in the descriptor type and the names of
     * their attributes; the tensors keep their roles (x|dx, w|dw, y|dy). */
    static const cudnnBackendDescriptorType_t type[3] = {
        CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR,
        CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR,
        CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR,
    };
    static const cudnnBackendAttributeName_t attr[3][6] = {
        /* alpha, beta, conv, x, w, y */
        { CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA,
          CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X,
          CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y },
        { CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA,
          CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX,
          CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY },
        { CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA,
          CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X,
          CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY },
    };
    const cudnnBackendAttributeName_t *A = attr[kind];
    float alpha = 1.0f;
    if ((e = keep_new(p, type[kind], &op)) != CUDNN_STATUS_SUCCESS ||
        (e = cudnnBackendSetAttribute(op, A[0], CUDNN_TYPE_FLOAT, 1, &alpha)) != CUDNN_STATUS_SUCCESS ||
        (e = cudnnBackendSetAttribute(op, A[1], CUDNN_TYPE_FLOAT, 1, &beta)) != CUDNN_STATUS_SUCCESS ||
        (e = cudnnBackendSetAttribute(op, A[2], CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cv)) != CUDNN_STATUS_SUCCESS ||
        (e = cudnnBackendSetAttribute(op, A[3], CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x)) != CUDNN_STATUS_SUCCESS ||
        (e = cudnnBackendSetAttribute(op, A[4], CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &w)) != CUDNN_STATUS_SUCCESS ||
        (e = cudnnBackendSetAttribute(op, A[5], CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y)) != CUDNN_STATUS_SUCCESS ||
        (e = cudnnBackendFinalize(op)) != CUDNN_STATUS_SUCCESS)
        return e;
    if ((e = keep_new(p, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, graph)) != CUDNN_STATUS_SUCCESS ||
        (e = cudnnBackendSetAttribute(*graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                      &op)) != CUDNN_STATUS_SUCCESS)
        return e;
    /* The handle, as cudnn-frontend's build_operation_graph(handle) passes
     * it: cuDNN 9.8 deprecated the attribute for graphs built without a
     * GPU (from device properties alone), not for graphs that have one, and
     * without it the graph's engines depend on the DEVICEPROP descriptor
     * reaching every later stage (issue 14, finding 3).  The one deliberate
     * use of a deprecated cuDNN name in this file. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    const cudnnBackendAttributeName_t graph_handle = CUDNN_ATTR_OPERATIONGRAPH_HANDLE;
#pragma GCC diagnostic pop
    if ((e = cudnnBackendSetAttribute(*graph, graph_handle, CUDNN_TYPE_HANDLE, 1, &c->dnn)) != CUDNN_STATUS_SUCCESS)
        return e;
    return cudnnBackendFinalize(*graph);
}

/* The numerical notes of engine configuration `cfg` as a bit set
 * (1 << CUDNN_NUMERICAL_NOTE_*); -1 when they cannot be read. */
static int64_t cfg_notes(cudnnBackendDescriptor_t cfg)
{
    cudnnBackendDescriptor_t eng = NULL;
    if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &eng) != CUDNN_STATUS_SUCCESS) return -1;
    cudnnBackendNumericalNote_t notes[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
    int64_t n = 0, bits = 0;
    int ok = cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n,
                                      &eng) == CUDNN_STATUS_SUCCESS &&
             cudnnBackendGetAttribute(eng, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                                      CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &n, notes) == CUDNN_STATUS_SUCCESS;
    for (int64_t i = 0; ok && i < n && i < CUDNN_NUMERICAL_NOTE_TYPE_COUNT; i++)
        if ((int)notes[i] >= 0 && (int)notes[i] < 63) bits |= (int64_t)1 << (int)notes[i];
    cudnnBackendDestroyDescriptor(eng);
    return ok ? bits : -1;
}

#define NOTE(x) ((int64_t)1 << CUDNN_NUMERICAL_NOTE_##x)

/* Whether the context may use an engine with these notes: strict float32
 * (no TF32 unless allowed, no down-converted inputs or reduced-precision
 * reductions), and in deterministic mode no FFT, Winograd or
 * non-deterministic engine.  Unreadable notes: no. */
static int notes_allowed(const cuda_ctx *c, int64_t bits)
{
    if (bits < 0) return 0;
    if (bits & (NOTE(DOWN_CONVERT_INPUTS) | NOTE(REDUCED_PRECISION_REDUCTION))) return 0;
    if ((bits & NOTE(TENSOR_CORE)) && !c->tf32) return 0;
    if (c->deterministic && (bits & (NOTE(FFT) | NOTE(NONDETERMINISTIC) | NOTE(WINOGRAD) | NOTE(WINOGRAD_TILE_4x4) |
                                     NOTE(WINOGRAD_TILE_6x6) | NOTE(WINOGRAD_TILE_13x13))))
        return 0;
    return 1;
}

/* "tensor_core,fft" (the notes' names) into buf. */
static const char *notes_str(int64_t bits, char *buf, size_t len)
{
    static const char *const names[] = { "tensor_core", "down_convert_inputs", "reduced_precision_reduction",
                                         "fft", "nondeterministic", "winograd", "winograd_4x4", "winograd_6x6",
                                         "winograd_13x13", "strict_nan_prop" };
    size_t used = 0;
    buf[0] = '\0';
    if (bits < 0) {
        snprintf(buf, len, "unreadable");
        return buf;
    }
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (bits & ((int64_t)1 << i)) {
            int w = snprintf(buf + used, len - used, "%s%s", used ? "," : "", names[i]);
            if (w < 0 || used + (size_t)w >= len) break;
            used += (size_t)w;
        }
    if (!used) snprintf(buf, len, "none");
    return buf;
}

/* Why no plan was made, for the error message. */
typedef struct plan_search {
    cudnnStatus_t last;   /* last failing cuDNN status */
    const char *last_call;
    size_t ws_wanted;     /* smallest workspace of a plan that did not fit */
    int finalized;        /* plans that finalized (but did not fit) */
    int skipped_numerics; /* configurations skipped for their numerics */
} plan_search;

static void search_fail(plan_search *s, cudnnStatus_t e, const char *call)
{
    s->last = e;
    s->last_call = call;
}

/* Tries the configurations of heuristics `mode` on `graph` in their order
 * and keeps the first whose plan finalizes and whose workspace fits (the
 * shared workspace is grown to it).  relaxed = 0 skips configurations that
 * are not strict float32 (cfg_strict).  1 when p->plan was set. */
static int plan_from_heuristics(cuda_ctx *c, conv_plan *p, cudnnBackendDescriptor_t graph,
                                cudnnBackendHeurMode_t mode, int relaxed, plan_search *s)
{
    cudnnBackendDescriptor_t heur = NULL, cfg[CONV_MAX_CFGS] = { 0 };
    int64_t count = 0, got = 0;
    int found = 0, made = 0;
    cudnnStatus_t e;
    if ((e = cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, &heur)) != CUDNN_STATUS_SUCCESS) {
        search_fail(s, e, "cudnnBackendCreateDescriptor(ENGINEHEUR)");
        return 0;
    }
    if ((e = cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                      1, &graph)) != CUDNN_STATUS_SUCCESS ||
        (e = cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode)) !=
            CUDNN_STATUS_SUCCESS) {
        search_fail(s, e, "cudnnBackendSetAttribute(ENGINEHEUR)");
        goto out;
    }
#if TS_CUDNN_DEVICEPROP
    if ((e = cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_DEVICEPROP, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                      &c->devprop)) != CUDNN_STATUS_SUCCESS) {
        search_fail(s, e, "cudnnBackendSetAttribute(ENGINEHEUR_DEVICEPROP)");
        goto out;
    }
#endif
    if ((e = cudnnBackendFinalize(heur)) != CUDNN_STATUS_SUCCESS) {
        search_fail(s, e, "cudnnBackendFinalize(ENGINEHEUR)");
        goto out;
    }
    if ((e = cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0,
                                      &count, NULL)) != CUDNN_STATUS_SUCCESS) {
        search_fail(s, e, "cudnnBackendGetAttribute(ENGINEHEUR_RESULTS count)");
        goto out;
    }
    if (count > CONV_MAX_CFGS) count = CONV_MAX_CFGS;
    for (made = 0; made < count; made++)
        if ((e = cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &cfg[made])) !=
            CUDNN_STATUS_SUCCESS) {
            search_fail(s, e, "cudnnBackendCreateDescriptor(ENGINECFG)");
            goto out;
        }
    if (count > 0 && (e = cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                                   CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &got, cfg)) !=
                         CUDNN_STATUS_SUCCESS) {
        search_fail(s, e, "cudnnBackendGetAttribute(ENGINEHEUR_RESULTS)");
        goto out;
    }
    for (int64_t i = 0; i < got && i < count && !found; i++) {
        if (!relaxed && !notes_allowed(c, cfg_notes(cfg[i]))) {
            s->skipped_numerics++;
            continue;
        }
        cudnnBackendDescriptor_t plan = NULL;
        int64_t ws = 0, n = 0;
        if ((e = cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &plan)) !=
            CUDNN_STATUS_SUCCESS) {
            search_fail(s, e, "cudnnBackendCreateDescriptor(EXECUTION_PLAN)");
            break;
        }
        if ((e = cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                                          CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfg[i])) != CUDNN_STATUS_SUCCESS ||
#if !TS_CUDNN_DEVICEPROP
            (e = cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1,
                                          &c->dnn)) != CUDNN_STATUS_SUCCESS ||
#endif
            (e = cudnnBackendFinalize(plan)) != CUDNN_STATUS_SUCCESS) {
            /* Usually NOT_SUPPORTED for this shape: the next one may do. */
            search_fail(s, e, "cudnnBackendFinalize(EXECUTION_PLAN)");
            cudnnBackendDestroyDescriptor(plan);
            continue;
        }
        if ((e = cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &n,
                                          &ws)) != CUDNN_STATUS_SUCCESS ||
            ws < 0) {
            search_fail(s, e, "cudnnBackendGetAttribute(EXECUTION_PLAN_WORKSPACE_SIZE)");
            cudnnBackendDestroyDescriptor(plan);
            continue;
        }
        s->finalized++;
        if (!ws_fits(c, (size_t)ws)) {
            if (!s->ws_wanted || (size_t)ws < s->ws_wanted) s->ws_wanted = (size_t)ws;
            cudnnBackendDestroyDescriptor(plan);
            continue;
        }
        p->plan = plan;
        p->ws = (size_t)ws;
        p->relaxed = relaxed;
        p->cfg = cfg[i];
        p->mode = mode;
        /* The plan's configuration stays alive with it. */
        TS_ASSERT(p->n_keep < PLAN_KEEP);
        p->keep[p->n_keep++] = cfg[i];
        cfg[i] = NULL;
        found = 1;
    }
out:
    for (int i = 0; i < made; i++)
        if (cfg[i]) cudnnBackendDestroyDescriptor(cfg[i]);
    if (found) {
        TS_ASSERT(p->n_keep < PLAN_KEEP);
        p->keep[p->n_keep++] = heur;
    } else {
        cudnnBackendDestroyDescriptor(heur);
    }
    return found;
}

/* TS_CUDA_VERBOSE=1: what was chosen for a new plan, on stderr (the only
 * output of this file; for whoever first runs a new GPU or cuDNN). */
static void plan_report(const conv_plan *p, const char *what)
{
    int64_t idx = -1, n = 0;
    cudnnBackendDescriptor_t eng = NULL;
    if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &eng) == CUDNN_STATUS_SUCCESS) {
        if (cudnnBackendGetAttribute(p->cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n,
                                     &eng) != CUDNN_STATUS_SUCCESS ||
            cudnnBackendGetAttribute(eng, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &n, &idx) !=
                CUDNN_STATUS_SUCCESS)
            idx = -1;
        cudnnBackendDestroyDescriptor(eng);
    }
    char notes[160];
    fprintf(stderr,
            "traitscope cuda: %s [align %d]: engine %lld (notes %s; heuristics %s; %s), workspace %zu bytes%s%s\n",
            what, p->key.align, (long long)idx, notes_str(cfg_notes(p->cfg), notes, sizeof notes),
            p->mode == CUDNN_HEUR_MODE_A ? "A" : "fallback", p->key.deterministic ? "deterministic" : "fast", p->ws,
            p->relaxed ? ", NOT strict float32 or not deterministic (no such engine)" : "",
            p->via_scratch ? ", beta 0 + our add (no accumulating engine)" : "");
}

/* The cached plan of (kind, geometry, alignment), made on first use. */
static ts_status conv_plan_get(cuda_ctx *c, conv_kind kind, const conv_geom *g, int align, const char *L,
                               conv_plan **out)
{
    conv_key key = { kind, g->N, g->C, g->H, g->W, g->K, g->KH, g->KW, g->S, g->ph, g->pw, g->G, align, g->asym,
                     c->deterministic };
    for (int i = 0; i < c->n_plans; i++)
        if (!memcmp(&c->plans[i]->key, &key, sizeof key)) {
            c->plans[i]->last_use = ++c->plan_clock;
            *out = c->plans[i];
            return TS_OK;
        }
    if (c->n_plans >= PLAN_CACHE_MAX) {
        /* Evict the least recently used plan.  Work queued with it must
         * finish before its descriptors go. */
        int lru = 0;
        for (int i = 1; i < c->n_plans; i++)
            if (c->plans[i]->last_use < c->plans[lru]->last_use) lru = i;
        CU_TRY(cudaStreamSynchronize(c->stream), L);
        plan_free(c->plans[lru]);
        c->plans[lru] = c->plans[--c->n_plans];
    }
    if (c->n_plans == c->cap_plans) {
        int cap = c->cap_plans ? 2 * c->cap_plans : 16;
        conv_plan **np = realloc(c->plans, (size_t)cap * sizeof *np);
        if (!np) return ts_error(TS_ERR_OOM, "cuda: no memory for convolution plans");
        c->plans = np;
        c->cap_plans = cap;
    }
    char what[200];
    /* Forward overwrites; backward accumulates (beta 1), except backward-data
     * of a padded input, which writes the padded scratch that
     * cuda_unpad_add then folds into dx. */
    float beta = kind == CONV_FWD || (kind == CONV_BWD_DATA && g->asym) ? 0.0f : 1.0f;
    plan_search s = { CUDNN_STATUS_SUCCESS, NULL, 0, 0, 0 };
    static const cudnnBackendHeurMode_t modes[2] = { CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK };
    /* In order of preference: strict float32 accumulating in place, strict
     * through scratch (when no engine takes beta = 1), then the same two
     * with any numerics (only if some engine was skipped for them). */
    for (int relaxed = 0; relaxed < 2; relaxed++) {
        if (relaxed && !s.skipped_numerics) break;
        for (int attempt = 0; attempt < 2; attempt++) {
            float b = beta;
            if (attempt == 1) {
                if (beta == 0.0f) break;
                b = 0.0f;
            }
            conv_plan *p = calloc(1, sizeof *p);
            if (!p) return ts_error(TS_ERR_OOM, "cuda: no memory for a convolution plan");
            p->key = key;
            p->via_scratch = attempt == 1;
            cudnnBackendDescriptor_t graph = NULL;
            cudnnStatus_t e = conv_graph(c, p, kind, g, b, &graph);
            if (e != CUDNN_STATUS_SUCCESS) {
                plan_free(p);
                /* A graph that cannot even be described is not a matter of
                 * engines: report it now. */
                return dnn_fail_at(e, "building the operation graph", conv_what(what, sizeof what, L, kind, g));
            }
            int ok = 0;
            for (int m = 0; m < 2 && !ok; m++) ok = plan_from_heuristics(c, p, graph, modes[m], relaxed, &s);
            if (ok) {
                p->last_use = ++c->plan_clock;
                c->plans[c->n_plans++] = p;
                *out = p;
                if (c->verbose) plan_report(p, conv_what(what, sizeof what, L, kind, g));
                return TS_OK;
            }
            plan_free(p);
        }
    }
    conv_what(what, sizeof what, L, kind, g);
    if (s.finalized)
        return ts_error(TS_ERR_OOM, "cudnn: %s: no execution plan fits in device memory (smallest workspace %zu MiB)",
                        what, s.ws_wanted >> 20);
    if (s.last != CUDNN_STATUS_SUCCESS) return dnn_fail_at(s.last, s.last_call ? s.last_call : "heuristics", what);
    return ts_error(TS_ERR_UNSUPPORTED, "cudnn: %s: the heuristics offered no engine", what);
}

/* Runs plan p on (x|dx, w|dw, y|dy) with the shared workspace.  The variant
 * pack is kept with the plan and rebuilt only when a pointer changed (a
 * graph reuses the same buffers every step). */
static ts_status conv_execute(cuda_ctx *c, conv_plan *p, void *x, void *w, void *y, const char *what)
{
    void *ptr[3] = { x, w, y };
    if (!p->vp || memcmp(p->vp_ptr, ptr, sizeof ptr) || p->vp_ws != c->ws) {
        if (p->vp) cudnnBackendDestroyDescriptor(p->vp);
        p->vp = NULL;
        int64_t uid[3] = { UID_X, UID_W, UID_Y };
        cudnnBackendDescriptor_t vp = NULL;
        cudnnStatus_t e;
        if ((e = cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &vp)) != CUDNN_STATUS_SUCCESS)
            return dnn_fail_at(e, "cudnnBackendCreateDescriptor(VARIANT_PACK)", what);
        if ((e = cudnnBackendSetAttribute(vp, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 3, uid)) !=
                CUDNN_STATUS_SUCCESS ||
            (e = cudnnBackendSetAttribute(vp, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 3, ptr)) !=
                CUDNN_STATUS_SUCCESS ||
            (e = cudnnBackendSetAttribute(vp, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &c->ws)) !=
                CUDNN_STATUS_SUCCESS ||
            (e = cudnnBackendFinalize(vp)) != CUDNN_STATUS_SUCCESS) {
            cudnnBackendDestroyDescriptor(vp);
            return dnn_fail_at(e, "building the variant pack", what);
        }
        p->vp = vp;
        memcpy(p->vp_ptr, ptr, sizeof ptr);
        p->vp_ws = c->ws;
    }
    cudnnStatus_t e = cudnnBackendExecute(c->dnn, p->plan, p->vp);
    if (e != CUDNN_STATUS_SUCCESS) return dnn_fail_at(e, "cudnnBackendExecute", what);
    return TS_OK;
}

/* The shared rules (op-check.h), then the geometry cuDNN sees. */
static ts_status conv_check(const ts_op_args *a, conv_geom *g)
{
    const ts_node *nd = a->node;
    ts_conv_dims d;
    TS_TRY(ts_check_conv2d(a, &d));
    *g = (conv_geom){ .N = d.N, .C = d.C, .H = d.H, .W = d.W, .K = d.O, .CG = d.C / d.G, .KH = d.KH, .KW = d.KW,
                      .S = d.S, .ph = d.pt, .pw = d.pl, .G = d.G, .OH = d.OH, .OW = d.OW };
    g->asym = d.pt != d.pb || d.pl != d.pr;
    if (g->asym) {
        g->HP = d.H + d.pt + d.pb;
        g->WP = d.W + d.pl + d.pr;
        g->H = g->HP, g->W = g->WP;
        g->ph = g->pw = 0;
    }
    /* cuDNN derives nothing for us: the padded geometry must give the
     * output op-check.c computed, or cuDNN would reject (or misread) it. */
    int oh = ts_conv_out_size(g->H, g->KH, g->S, g->ph, g->ph), ow = ts_conv_out_size(g->W, g->KW, g->S, g->pw, g->pw);
    if (oh != g->OH || ow != g->OW)
        return ts_error(TS_ERR_SHAPE, "conv2d '%s': the convolution gives %dx%d, the graph says %dx%d", nd->name, oh,
                        ow, g->OH, g->OW);
    return TS_OK;
}

/* 16 when every pointer is 16-byte aligned, else 4 (float). */
static int ptr_align(const void *a, const void *b, const void *c)
{
    return ((uintptr_t)a | (uintptr_t)b | (uintptr_t)c) % 16 ? 4 : 16;
}

/* The padded copy of the input for an asymmetric convolution, in SCR_PAD_X. */
static ts_status conv_padded_input(cuda_ctx *c, const ts_op_args *a, const conv_geom *g, const float **xp)
{
    const ts_node *nd = a->node;
    const ts_tensor *x = a->in[0];
    *xp = x->data;
    if (!g->asym) return TS_OK;
    size_t bytes = (size_t)x->n * x->c * g->HP * g->WP * sizeof(float);
    TS_TRY(grow((void **)&c->scratch[SCR_PAD_X], &c->scratch_cap[SCR_PAD_X], bytes, "padded input"));
    CU_TRY(cuda_pad_launch(c->stream, x->data, c->scratch[SCR_PAD_X], x->n * x->c, x->h, x->w, nd->pad_t, nd->pad_b,
                           nd->pad_l, nd->pad_r), nd->name);
    *xp = c->scratch[SCR_PAD_X];
    return TS_OK;
}

/* Runs a backward plan whose result must be ADDED into `dst` (n floats):
 * directly when the plan accumulates, through SCR_ACC otherwise.
 * `slot` is the plan's result position (0 x side, 1 w side). */
static ts_status conv_execute_acc(cuda_ctx *c, conv_plan *p, void *t0, void *t1, void *t2, int slot, float *dst,
                                  size_t n, const char *what)
{
    if (!p->via_scratch) return conv_execute(c, p, t0, t1, t2, what);
    TS_TRY(grow((void **)&c->scratch[SCR_ACC], &c->scratch_cap[SCR_ACC], n * sizeof(float), "convolution gradient"));
    if (slot == 0) t0 = c->scratch[SCR_ACC];
    else t1 = c->scratch[SCR_ACC];
    TS_TRY(conv_execute(c, p, t0, t1, t2, what));
    CU_TRY(cuda_add_inplace_launch(c->stream, c->scratch[SCR_ACC], dst, n), what);
    return TS_OK;
}

/* The bias gradient through its scratch of partial sums. */
static ts_status bias_backward(cuda_ctx *c, const float *dy, float *db, int N, int C, size_t HW, const char *L)
{
    size_t need = cuda_bias_backward_scratch(N, C, HW) * sizeof(float);
    TS_TRY(grow((void **)&c->scratch[SCR_BIAS], &c->scratch_cap[SCR_BIAS], need, "bias gradient sums"));
    CU_TRY(cuda_bias_backward_launch(c->stream, dy, db, c->scratch[SCR_BIAS], N, C, HW), L);
    return TS_OK;
}

/* Depthwise convolutions (one input channel per group) run on
 * kernels/depthwise.cu, not on cuDNN's grouped convolution (issue 16). */
static bool dw_geom_of(const ts_op_args *a, const conv_geom *g, cuda_dw_geom *d)
{
    if (!(g->G > 1 && g->CG == 1)) return false;
    const ts_tensor *x = a->in[0], *y = a->out;
    *d = (cuda_dw_geom){ .N = x->n, .C = x->c, .H = x->h, .W = x->w, .M = y->c / x->c, .OH = y->h, .OW = y->w,
                         .KH = g->KH, .KW = g->KW, .S = g->S, .pt = a->node->pad_t, .pl = a->node->pad_l };
    return true;
}

static ts_status cuda_conv2d_forward(cuda_ctx *c, const ts_op_args *a)
{
    conv_geom g;
    TS_TRY(conv_check(a, &g));
    const char *L = a->node->name;
    cuda_dw_geom dg;
    if (dw_geom_of(a, &g, &dg)) {
        CU_TRY(cuda_depthwise_forward_launch(c->stream, &dg, a->in[0]->data, a->weight->data,
                                             a->node->has_bias ? a->bias->data : NULL, a->out->data), L);
        return TS_OK;
    }
    const float *xp;
    TS_TRY(conv_padded_input(c, a, &g, &xp));
    conv_plan *p;
    char what[200];
    conv_what(what, sizeof what, L, CONV_FWD, &g);
    TS_TRY(conv_plan_get(c, CONV_FWD, &g, ptr_align(xp, a->weight->data, a->out->data), L, &p));
    TS_TRY(conv_execute(c, p, (void *)xp, a->weight->data, a->out->data, what));
    if (a->node->has_bias)
        CU_TRY(cuda_bias_forward_launch(c->stream, a->out->data, a->bias->data, a->out->n, a->out->c,
                                        (size_t)a->out->h * a->out->w), L);
    return TS_OK;
}

static ts_status cuda_conv2d_backward(cuda_ctx *c, const ts_op_args *a)
{
    conv_geom g;
    TS_TRY(conv_check(a, &g));
    const ts_node *nd = a->node;
    const char *L = nd->name;
    const ts_tensor *x = a->in[0], *dy = a->dout;
    char what[200];
    conv_plan *p;
    if (nd->has_bias && want(a->dbias)) TS_TRY(bias_backward(c, dy->data, a->dbias->data, dy->n, dy->c,
                                                              (size_t)dy->h * dy->w, L));
    cuda_dw_geom dg;
    if (dw_geom_of(a, &g, &dg)) {
        if (want(a->dweight)) {
            size_t need = cuda_depthwise_filter_scratch(&dg) * sizeof(float);
            TS_TRY(grow((void **)&c->scratch[SCR_BIAS], &c->scratch_cap[SCR_BIAS], need,
                        "depthwise weight gradient sums"));
            CU_TRY(cuda_depthwise_backward_filter_launch(c->stream, &dg, x->data, dy->data, a->dweight->data,
                                                         c->scratch[SCR_BIAS]), L);
        }
        if (want(a->din[0]))
            CU_TRY(cuda_depthwise_backward_data_launch(c->stream, &dg, a->weight->data, dy->data, a->din[0]->data), L);
        return TS_OK;
    }
    if (want(a->dweight)) {
        const float *xp;
        TS_TRY(conv_padded_input(c, a, &g, &xp));
        conv_what(what, sizeof what, L, CONV_BWD_FILTER, &g);
        TS_TRY(conv_plan_get(c, CONV_BWD_FILTER, &g, ptr_align(xp, a->dweight->data, dy->data), L, &p));
        TS_TRY(conv_execute_acc(c, p, (void *)xp, a->dweight->data, dy->data, 1, a->dweight->data,
                                ts_tensor_numel(a->dweight), what));
    }
    if (want(a->din[0])) {
        conv_what(what, sizeof what, L, CONV_BWD_DATA, &g);
        if (!g.asym) {
            TS_TRY(conv_plan_get(c, CONV_BWD_DATA, &g, ptr_align(a->din[0]->data, a->weight->data, dy->data), L,
                                 &p));
            TS_TRY(conv_execute_acc(c, p, a->din[0]->data, a->weight->data, dy->data, 0, a->din[0]->data,
                                    ts_tensor_numel(a->din[0]), what));
        } else {
            size_t bytes = (size_t)x->n * x->c * g.HP * g.WP * sizeof(float);
            TS_TRY(grow((void **)&c->scratch[SCR_PAD_DX], &c->scratch_cap[SCR_PAD_DX], bytes, "padded input gradient"));
            TS_TRY(conv_plan_get(c, CONV_BWD_DATA, &g, ptr_align(c->scratch[SCR_PAD_DX], a->weight->data, dy->data), L,
                                 &p));
            /* beta = 0 into the padded buffer (conv_plan_get), then += */
            TS_TRY(conv_execute(c, p, c->scratch[SCR_PAD_DX], a->weight->data, dy->data, what));
            CU_TRY(cuda_unpad_add_launch(c->stream, c->scratch[SCR_PAD_DX], a->din[0]->data, x->n * x->c, x->h, x->w,
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
static ts_status fc_check(const ts_op_args *a, int *N, int *K, int *O) { return ts_check_fc(a, N, K, O); }

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
    if (a->node->has_bias && want(a->dbias)) TS_TRY(bias_backward(c, dy, a->dbias->data, N, O, 1, L));
    if (want(a->dweight))
        BLAS_TRY(cublasSgemm(c->blas, CUBLAS_OP_N, CUBLAS_OP_T, K, O, N, &one, a->in[0]->data, K, dy, O, &one,
                             a->dweight->data, K), L);
    if (want(a->din[0]))
        BLAS_TRY(cublasSgemm(c->blas, CUBLAS_OP_N, CUBLAS_OP_N, K, N, O, &one, a->weight->data, K, dy, O, &one,
                             a->din[0]->data, K), L);
    return TS_OK;
}

/* ---- ops on our kernels ---------------------------------------------------- */

/* The shared rules (op-check.h) give the geometry; our kernels take planes. */
static ts_status pool_geom_init(const ts_op_args *a, cuda_pool_geom *g)
{
    ts_pool_dims d;
    TS_TRY(ts_check_pool(a, &d));
    *g = (cuda_pool_geom){ .NC = d.N * d.C, .H = d.H, .W = d.W, .OH = d.OH, .OW = d.OW, .KH = d.KH, .KW = d.KW,
                           .S = d.S, .pt = d.pt, .pb = d.pb, .pl = d.pl, .pr = d.pr };
    return TS_OK;
}

/* batchnorm's launch arguments, and its coefficient scratch (4C floats). */
static ts_status bn_args(cuda_ctx *c, const ts_op_args *a, cuda_bn_args *b, float **coef)
{
    const ts_tensor *x = a->in[0];
    const ts_node *nd = a->node;
    *b = (cuda_bn_args){ .N = x->n, .C = x->c, .hw = (size_t)x->h * x->w, .eps = nd->bn_eps,
                         .momentum = nd->bn_momentum, .training = a->training, .x = x->data,
                         .gamma = a->weight->data, .beta = a->bias->data, .rmean = a->run_mean->data,
                         .rvar = a->run_var->data, .aux = want(a->aux) ? a->aux->data : NULL };
    TS_TRY(grow((void **)&c->scratch[SCR_BN], &c->scratch_cap[SCR_BN], 4 * (size_t)x->c * sizeof(float),
                "batchnorm coefficients"));
    *coef = c->scratch[SCR_BN];
    return TS_OK;
}

static ts_status cuda_forward(void *vctx, const ts_op_args *a)
{
    enter(vctx);
    cuda_ctx *c = vctx;
    TS_ASSERT(a && a->node && a->out && a->out->data);
    const ts_node *nd = a->node;
    const char *L = nd->name;
    size_t n = ts_tensor_numel(a->out);
    /* every op: the rules the CPU applies (op-check.h, finding 8) */
    TS_TRY(ts_check_op(a));
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
        CU_TRY(cuda_relu_forward_launch(c->stream, a->in[0]->data, a->out->data, n, nd->op == TS_OP_LEAKY_RELU,
                                        nd->slope, nd->clip), L);
        return TS_OK;
    case TS_OP_LRN: {
        const ts_tensor *x = a->in[0];
        CU_TRY(cuda_lrn_forward_launch(c->stream, x->data, a->out->data, want(a->aux) ? a->aux->data : NULL, x->n,
                                       x->c, x->h * x->w, nd->lrn_size, nd->lrn_alpha, nd->lrn_beta, nd->lrn_k),
               L);
        return TS_OK;
    }
    case TS_OP_MAXPOOL:
    case TS_OP_AVGPOOL: {
        cuda_pool_geom g;
        TS_TRY(pool_geom_init(a, &g));
        if (nd->op == TS_OP_MAXPOOL)
            CU_TRY(cuda_maxpool_forward_launch(c->stream, &g, a->in[0]->data, a->out->data,
                                               want(a->aux) ? a->aux->data : NULL), L);
        else
            CU_TRY(cuda_avgpool_forward_launch(c->stream, &g, a->in[0]->data, a->out->data), L);
        return TS_OK;
    }
    case TS_OP_DROPOUT:
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
            CU_TRY(cuda_concat_forward_launch(c->stream, a->in[i]->data, y->data, y->n, a->in[i]->c, y->c, c0,
                                              (size_t)y->h * y->w), L);
            c0 += a->in[i]->c;
        }
        return TS_OK;
    }
    case TS_OP_ADD:
        if (a->n_in == 1) {
            CU_TRY(cudaMemcpyAsync(a->out->data, a->in[0]->data, n * sizeof(float), cudaMemcpyDeviceToDevice,
                                   c->stream), L);
            return TS_OK;
        }
        CU_TRY(cuda_add_forward_launch(c->stream, a->in[0]->data, a->in[1]->data, a->out->data, n), L);
        for (int i = 2; i < a->n_in; i++) CU_TRY(cuda_add_inplace_launch(c->stream, a->in[i]->data, a->out->data, n), L);
        return TS_OK;
    case TS_OP_BATCHNORM: {
        cuda_bn_args b;
        float *coef;
        TS_TRY(bn_args(c, a, &b, &coef));
        CU_TRY(cuda_batchnorm_forward_launch(c->stream, &b, a->out->data, coef), L);
        return TS_OK;
    }
    case TS_OP_COUNT:
        break;
    }
    return ts_error(TS_ERR_UNSUPPORTED, "cuda backend: node '%s': unknown op %d", L, (int)nd->op);
}

static ts_status cuda_backward(void *vctx, const ts_op_args *a)
{
    enter(vctx);
    cuda_ctx *c = vctx;
    TS_ASSERT(a && a->node && a->dout && a->dout->data);
    const ts_node *nd = a->node;
    const char *L = nd->name;
    size_t n = ts_tensor_numel(a->out);
    TS_TRY(ts_check_op(a));
    switch (nd->op) {
    case TS_OP_INPUT: return TS_OK;
    case TS_OP_CONV2D: return cuda_conv2d_backward(c, a);
    case TS_OP_FC: return cuda_fc_backward(c, a);
    case TS_OP_RELU:
    case TS_OP_LEAKY_RELU:
        if (!want(a->din[0])) return TS_OK;
        CU_TRY(cuda_relu_backward_launch(c->stream, a->in[0]->data, a->dout->data, a->din[0]->data, n,
                                         nd->op == TS_OP_LEAKY_RELU, nd->slope, nd->clip), L);
        return TS_OK;
    case TS_OP_LRN: {
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
    case TS_OP_BATCHNORM: {
        cuda_bn_args b;
        float *k;
        TS_TRY(bn_args(c, a, &b, &k));
        CU_TRY(cuda_batchnorm_backward_launch(c->stream, &b, a->dout->data, want(a->din[0]) ? a->din[0]->data : NULL,
                                              want(a->dweight) ? a->dweight->data : NULL,
                                              want(a->dbias) ? a->dbias->data : NULL, k), L);
        return TS_OK;
    }
    case TS_OP_COUNT:
        break;
    }
    return ts_error(TS_ERR_UNSUPPORTED, "cuda backend: node '%s': unknown op %d", L, (int)nd->op);
}

/* ---- LRP: the fixed rules (backend.h, relevance) ------------------------------ */

static ts_status cuda_relevance(void *vctx, const ts_op_args *a)
{
    enter(vctx);
    cuda_ctx *c = vctx;
    TS_ASSERT(a && a->node && a->dout && a->dout->data);
    const ts_node *nd = a->node;
    const char *L = nd->name;
    if (nd->op == TS_OP_CONV2D || nd->op == TS_OP_FC)
        return ts_error(TS_ERR_UNSUPPORTED, "lrp: '%s' is a linear layer: its rules are lrp_linear steps", L);
    TS_TRY(ts_check_op(a));
    size_t n = ts_tensor_numel(a->dout);
    switch (nd->op) {
    case TS_OP_INPUT: return TS_OK;
    case TS_OP_MAXPOOL: {
        /* everything to the argmax: maxpool's backward with R as dy */
        cuda_pool_geom g;
        TS_TRY(pool_geom_init(a, &g));
        if (!want(a->din[0])) return TS_OK;
        if (!want(a->aux)) return ts_error(TS_ERR_SHAPE, "lrp: maxpool '%s' kept no argmax", L);
        CU_TRY(cuda_maxpool_backward_launch(c->stream, &g, a->aux->data, a->dout->data, a->din[0]->data), L);
        return TS_OK;
    }
    case TS_OP_AVGPOOL: {
        cuda_pool_geom g;
        TS_TRY(pool_geom_init(a, &g));
        if (!want(a->din[0])) return TS_OK;
        size_t outs = (size_t)g.NC * g.OH * g.OW;
        TS_TRY(grow((void **)&c->scratch[SCR_REL], &c->scratch_cap[SCR_REL], 2 * outs * sizeof(float),
                    "LRP average pooling"));
        CU_TRY(cuda_avgpool_relevance_launch(c->stream, &g, a->in[0]->data, a->dout->data, c->scratch[SCR_REL],
                                             c->scratch[SCR_REL] + outs, a->din[0]->data), L);
        return TS_OK;
    }
    case TS_OP_ADD: {
        if (a->n_in > TS_ADD_MAX_INPUTS) return ts_error(TS_ERR_SHAPE, "add '%s': %d inputs", L, a->n_in);
        add_inputs in = { .n = a->n_in };
        for (int k = 0; k < a->n_in; k++) {
            in.x[k] = a->in[k]->data;
            in.r[k] = want(a->din[k]) ? a->din[k]->data : NULL;
        }
        CU_TRY(cuda_add_relevance_launch(c->stream, &in, a->dout->data, n), L);
        return TS_OK;
    }
    case TS_OP_CONCAT: return cuda_backward(vctx, a); /* each input its slice */
    case TS_OP_RELU:
    case TS_OP_LEAKY_RELU:
    case TS_OP_LRN:
    case TS_OP_DROPOUT:
        if (!want(a->din[0])) return TS_OK;
        CU_TRY(cuda_add_inplace_launch(c->stream, a->dout->data, a->din[0]->data, n), L);
        return TS_OK;
    case TS_OP_BATCHNORM: {
        if (!want(a->din[0])) return TS_OK;
        cuda_bn_args b;
        float *coef;
        TS_TRY(bn_args(c, a, &b, &coef));
        CU_TRY(cuda_batchnorm_relevance_launch(c->stream, &b, a->out->data, a->dout->data, a->din[0]->data, coef),
               L);
        return TS_OK;
    }
    default: break;
    }
    return ts_error(TS_ERR_UNSUPPORTED, "lrp: op %s of '%s'", ts_op_name(nd->op), L);
}

/* ---- LRP on the GPU: the linear-layer step ------------------------------------ */

/* explain/lrp.c's generic step for the whole batch at once: the sums over
 * terms are convolutions through the cached cuDNN plans (groups, strides
 * and asymmetric pads as in the forward pass) or cuBLAS GEMMs, the rest is
 * kernels/lrp.cu.  Contract in backend.h. */
static ts_status cuda_lrp_linear(void *vctx, const ts_node *nd, int n, int c, int h, int w, const ts_lrp_term *t,
                                 int nt, const float *bias, const float *z_fwd, bool use_eps, float eps, float coef,
                                 const float *R, float *Rin)
{
    enter(vctx);
    cuda_ctx *ctx = vctx;
    TS_ASSERT(ctx && nd && t && R && Rin);
    const char *L = nd->name;
    if (nd->op != TS_OP_CONV2D && nd->op != TS_OP_FC)
        return ts_error(TS_ERR_ARG, "lrp on the GPU: '%s' is a %s, not conv2d or fc", L, ts_op_name(nd->op));
    if (nt < 1 || nt > 3 || n < 1) return ts_error(TS_ERR_ARG, "lrp on the GPU: '%s': %d terms, batch %d", L, nt, n);
    size_t xs = (size_t)n * c * h * w, ys = (size_t)n * nd->c * nd->h * nd->w;
    TS_TRY(grow((void **)&ctx->scratch[SCR_LRP_Z], &ctx->scratch_cap[SCR_LRP_Z], ys * sizeof(float), "LRP Z"));
    TS_TRY(grow((void **)&ctx->scratch[SCR_LRP_D], &ctx->scratch_cap[SCR_LRP_D], xs * sizeof(float), "LRP D"));
    if (!z_fwd && nt > 1)
        TS_TRY(grow((void **)&ctx->scratch[SCR_LRP_T], &ctx->scratch_cap[SCR_LRP_T], ys * sizeof(float),
                    "LRP term"));
    float *z = ctx->scratch[SCR_LRP_Z], *d = ctx->scratch[SCR_LRP_D], *tmp = ctx->scratch[SCR_LRP_T];
    const int fc = nd->op == TS_OP_FC;
    const int K = c * h * w, O = nd->c; /* fc */
    /* conv: the node without its bias (the rule decides which bias), and
     * views of the term's tensors with the node's shapes */
    ts_node nb = *nd;
    nb.has_bias = 0;
    ts_tensor xin = { NULL, n, c, h, w }, wt = { NULL, nd->c, c / (nd->groups > 0 ? nd->groups : 1), nd->kh, nd->kw };
    ts_tensor zt = { z, n, nd->c, nd->h, nd->w };
    ts_tensor tt = { tmp, n, nd->c, nd->h, nd->w }, dt = { d, n, c, h, w };
    const float one = 1.0f, zero = 0.0f;

    /* Z = sum_k W'_k x'_k (+ b'), or the forward pass's pre-activations */
    if (z_fwd) {
        CU_TRY(cudaMemcpyAsync(z, z_fwd, ys * sizeof(float), cudaMemcpyDeviceToDevice, ctx->stream), L);
    } else {
        for (int k = 0; k < nt; k++) {
            if (fc) {
                BLAS_TRY(cublasSgemm(ctx->blas, CUBLAS_OP_T, CUBLAS_OP_N, O, n, K, &one, t[k].w, K, t[k].x, K,
                                     k ? &one : &zero, z, O), L);
                continue;
            }
            xin.data = (float *)t[k].x;
            wt.data = (float *)t[k].w;
            ts_op_args a = { .node = &nb, .n_in = 1, .in = { &xin }, .out = k ? &tt : &zt, .weight = &wt };
            TS_TRY(cuda_conv2d_forward(ctx, &a));
            if (k) CU_TRY(cuda_add_inplace_launch(ctx->stream, tmp, z, ys), L);
        }
        if (bias) CU_TRY(cuda_bias_forward_launch(ctx->stream, z, bias, n, O, (size_t)nd->h * nd->w), L);
    }
    /* S = R / stab(Z), in place */
    CU_TRY(cuda_lrp_divide_launch(ctx->stream, z, R, ys, use_eps, eps), L);
    /* Rin += coef * x'_k (W'_k^T S), term by term */
    for (int k = 0; k < nt; k++) {
        if (fc) {
            BLAS_TRY(cublasSgemm(ctx->blas, CUBLAS_OP_N, CUBLAS_OP_N, K, n, O, &one, t[k].w, K, z, O, &zero, d, K),
                     L);
        } else {
            /* backward-data ACCUMULATES (backend.h), so D starts at 0 */
            CU_TRY(cudaMemsetAsync(d, 0, xs * sizeof(float), ctx->stream), L);
            xin.data = (float *)t[k].x;
            wt.data = (float *)t[k].w;
            ts_op_args a = { .node = &nb, .n_in = 1, .in = { &xin }, .din = { &dt }, .out = &zt, .dout = &zt,
                             .weight = &wt };
            TS_TRY(cuda_conv2d_backward(ctx, &a));
        }
        CU_TRY(cuda_lrp_mul_add_launch(ctx->stream, t[k].x, d, Rin, coef, xs), L);
    }
    return TS_OK;
}

static ts_status cuda_lrp_split(void *vctx, const float *x, float *pos, float *neg, size_t n, bool *any_negative)
{
    enter(vctx);
    cuda_ctx *c = vctx;
    int *flag = NULL;
    if (any_negative) {
        TS_TRY(grow((void **)&c->scratch[SCR_FLAG], &c->scratch_cap[SCR_FLAG], sizeof(int), "lrp flag"));
        flag = (int *)c->scratch[SCR_FLAG];
        CU_TRY(cudaMemsetAsync(flag, 0, sizeof(int), c->stream), "lrp split");
    }
    CU_TRY(cuda_lrp_split_launch(c->stream, x, pos, neg, n, flag), "lrp split");
    if (any_negative) {
        int h = 0;
        CU_TRY(cudaMemcpyAsync(&h, flag, sizeof h, cudaMemcpyDeviceToHost, c->stream), "lrp split");
        CU_TRY(cudaStreamSynchronize(c->stream), "lrp split");
        *any_negative = h != 0;
    }
    return TS_OK;
}

static ts_status cuda_lrp_square(void *vctx, const float *w, float *out, size_t n, bool flat)
{
    enter(vctx);
    cuda_ctx *c = vctx;
    CU_TRY(cuda_lrp_square_launch(c->stream, w, out, n, flat), "lrp square");
    return TS_OK;
}

/* Up to LRP_FILL_MAX channel values travel as a kernel argument: no copy
 * and no wait (finding 11).  More go through SCR_VALUES; a host-to-device
 * copy from pageable memory returns once the source has been staged, so
 * the caller's buffer is free when this returns, and the next fill's copy
 * into SCR_VALUES is ordered after this fill's kernel on the stream. */
static ts_status cuda_fill_channels(void *vctx, float *out, int n, int ch, size_t hw, const float *values)
{
    enter(vctx);
    cuda_ctx *c = vctx;
    TS_ASSERT(values && ch >= 1);
    const float *dev = NULL;
    if (ch > LRP_FILL_MAX) {
        TS_TRY(grow((void **)&c->scratch[SCR_VALUES], &c->scratch_cap[SCR_VALUES], (size_t)ch * sizeof(float),
                    "channel values"));
        CU_TRY(cudaMemcpyAsync(c->scratch[SCR_VALUES], values, (size_t)ch * sizeof(float), cudaMemcpyHostToDevice,
                               c->stream), "fill");
        dev = c->scratch[SCR_VALUES];
    }
    CU_TRY(cuda_fill_channels_launch(c->stream, out, ch > LRP_FILL_MAX ? NULL : values, dev, n, ch, hw), "fill");
    return TS_OK;
}

/* ---- SGD and softmax ----------------------------------------------------------- */

static ts_status cuda_sgd(void *vctx, float *w, const float *g, float *v, size_t n, float lr, float momentum,
                          float decay)
{
    enter(vctx);
    cuda_ctx *c = vctx;
    CU_TRY(cuda_sgd_launch(c->stream, w, g, v, n, lr, momentum, decay), "sgd");
    return TS_OK;
}

static ts_status cuda_softmax(void *vctx, const float *logits, float *probs, int n, int k)
{
    enter(vctx);
    cuda_ctx *c = vctx;
    CU_TRY(cuda_softmax_launch(c->stream, logits, probs, n, k), "softmax");
    return TS_OK;
}

/* ---- A(x,y), on its own lane ------------------------------------------------- */

static ts_status cuda_amap(void *vctx, const float *x, const float *y, int k, int width, int height, uint8_t *out)
{
    enter(vctx);
    cuda_ctx *c = vctx;
    TS_ASSERT(c && x && y && out);
    if (k < 1 || k > 255) return ts_error(TS_ERR_ARG, "A(x,y) on the GPU: %d landmarks, expected 1..255", k);
    if (width < 1 || height < 1 || width > 16384 || height > 16384)
        return ts_error(TS_ERR_ARG, "A(x,y) on the GPU: size %dx%d out of range (1..16384 per side)", width,
                        height);
    for (int j = 0; j < k; j++)
        if (!(x[j] == x[j] && y[j] == y[j]) || x[j] > 1e7f || x[j] < -1e7f || y[j] > 1e7f || y[j] < -1e7f)
            return ts_error(TS_ERR_ARG, "A(x,y) on the GPU: landmark %d (%g,%g) is not finite or beyond 1e7", j,
                            (double)x[j], (double)y[j]);
    /* the buffer: the landmarks (2*256 floats, so the map stays aligned),
     * then the map */
    size_t n = (size_t)width * height, head = 2 * 256 * sizeof(float);
    pthread_mutex_lock(&c->amap_lock);
    ts_status st = grow(&c->amap_buf, &c->amap_cap, head + n, "A(x,y) map");
    cudaError_t e = cudaSuccess;
    const char *what = "";
    if (st == TS_OK) {
        float *dx = c->amap_buf, *dy = dx + 256;
        uint8_t *dmap = (uint8_t *)c->amap_buf + head;
        cudaStream_t s = c->amap_stream;
        if ((e = cudaMemcpyAsync(dx, x, (size_t)k * sizeof(float), cudaMemcpyHostToDevice, s)) != cudaSuccess ||
            (e = cudaMemcpyAsync(dy, y, (size_t)k * sizeof(float), cudaMemcpyHostToDevice, s)) != cudaSuccess)
            what = "copying the landmarks";
        else if ((e = cuda_amap_launch(s, dx, dy, k, width, height, dmap)) != cudaSuccess)
            what = "kernels/amap.cu";
        else if ((e = cudaMemcpyAsync(out, dmap, n, cudaMemcpyDeviceToHost, s)) != cudaSuccess ||
                 (e = cudaStreamSynchronize(s)) != cudaSuccess)
            what = "copying the map back";
    }
    pthread_mutex_unlock(&c->amap_lock);
    if (st != TS_OK) return st;
    if (e != cudaSuccess) return cu_fail(e, what, "A(x,y)");
    return TS_OK;
}

/* ---- numerics, identity, opening and closing ----------------------------------- */

static bool cuda_set_deterministic(void *vctx, bool on)
{
    cuda_ctx *c = vctx;
    bool was = c->deterministic != 0;
    c->deterministic = on ? 1 : 0;
    return was;
}

static void cuda_describe(void *vctx, char *buf, size_t len)
{
    cuda_ctx *c = vctx;
    int drv = 0, rt = 0, bl = 0;
    (void)cudaDriverGetVersion(&drv);
    (void)cudaRuntimeGetVersion(&rt);
    if (c->blas) (void)cublasGetVersion(c->blas, &bl);
    size_t dnn = cudnnGetVersion();
    snprintf(buf, len,
             "cuda: %s (device %d), driver CUDA %d.%d, runtime %d.%d, cuDNN %zu.%zu.%zu (built with %d.%d.%d), "
             "cuBLAS %d.%d.%d, %s%s",
             c->name, c->device, drv / 1000, drv % 1000 / 10, rt / 1000, rt % 1000 / 10, dnn / 10000, dnn % 10000 / 100,
             dnn % 100, CUDNN_MAJOR, CUDNN_MINOR, CUDNN_PATCHLEVEL, bl / 10000, bl % 10000 / 100, bl % 100,
             c->deterministic ? "deterministic" : "fast", c->tf32 ? ", TF32 allowed" : "");
}

static void cuda_close(void *vctx);

/* The stream this context queues its work on (issue 17: NCCL's all-reduce
 * joins it, so it is ordered between backward and the SGD step). */
static void *cuda_stream(void *vctx)
{
    cuda_ctx *c = vctx;
    return c ? (void *)c->stream : NULL;
}

static const ts_backend cuda_backend = {
    .name = "cuda",
    .device = TS_DEVICE_CUDA,
    .forward = cuda_forward,
    .backward = cuda_backward,
    .relevance = cuda_relevance,
    .mem = { .arena_init = cuda_arena_init, .arena_clear = cuda_arena_clear, .upload = cuda_upload,
             .download = cuda_download, .zero = cuda_zero },
    .lrp_linear = cuda_lrp_linear,
    .lrp_split = cuda_lrp_split,
    .lrp_square = cuda_lrp_square,
    .fill_channels = cuda_fill_channels,
    .sgd = cuda_sgd,
    .softmax = cuda_softmax,
    .amap = cuda_amap,
    .set_deterministic = cuda_set_deterministic,
    .describe = cuda_describe,
    .close = cuda_close,
    .stream = cuda_stream,
};

static void cuda_close(void *vctx)
{
    cuda_ctx *c = vctx;
    if (!c) return;
    enter(c);
    if (c->stream) cudaStreamSynchronize(c->stream);
    if (c->amap_stream) cudaStreamSynchronize(c->amap_stream);
    for (int i = 0; i < c->n_plans; i++) plan_free(c->plans[i]);
    free(c->plans);
    if (c->devprop) cudnnBackendDestroyDescriptor(c->devprop);
    if (c->ws) cudaFree(c->ws);
    for (int i = 0; i < SCR_COUNT; i++)
        if (c->scratch[i]) cudaFree(c->scratch[i]);
    if (c->amap_buf) cudaFree(c->amap_buf);
    if (c->dnn) cudnnDestroy(c->dnn);
    if (c->blas) cublasDestroy(c->blas);
    if (c->amap_stream) cudaStreamDestroy(c->amap_stream);
    if (c->stream) cudaStreamDestroy(c->stream);
    pthread_mutex_destroy(&c->amap_lock);
    free(c);
}

/* Called by ts_cuda_plugin_open (plugin-host.c); select.c has checked with
 * the driver that there is a GPU.  Should cudaGetDeviceCount() still fail
 * (typically "CUDA driver version is insufficient for CUDA runtime
 * version"), the message says so in words.  TS_CUDA_DEVICE picks a device
 * other than 0. */
ts_status ts_cuda_backend_open(const ts_backend **out, void **ctx)
{
    int n = 0;
    *out = NULL;
    *ctx = NULL;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
        (void)cudaGetLastError();
        int rt = 0;
        (void)cudaRuntimeGetVersion(&rt);
        if (err == cudaErrorInsufficientDriver)
            return ts_error(TS_ERR_DEVICE, "no NVIDIA driver for CUDA %d.%d (none installed, or an older one)",
                            rt / 1000, rt % 1000 / 10);
        if (err == cudaErrorNoDevice) return ts_error(TS_ERR_DEVICE, "no CUDA-capable GPU found");
        return ts_error(TS_ERR_DEVICE, "CUDA: %s", cudaGetErrorString(err));
    }
    if (n == 0) return ts_error(TS_ERR_DEVICE, "no CUDA-capable GPU found");
    /* Built against one cuDNN, run with another: the graph API's device
     * properties came in 9.8 (file comment), so an older runtime is refused
     * rather than misused. */
    size_t dnn_version = cudnnGetVersion();
    if (dnn_version / 10000 != CUDNN_MAJOR || (TS_CUDNN_DEVICEPROP && dnn_version < 90800))
        return ts_error(TS_ERR_DEVICE, "CUDA: cuDNN %zu found at run time, this build needs %d.x%s", dnn_version,
                        CUDNN_MAJOR, TS_CUDNN_DEVICEPROP ? " from 9.8 on" : "");
    cuda_ctx *c = calloc(1, sizeof *c);
    if (!c) return ts_error(TS_ERR_OOM, "CUDA: no memory for the backend context");
    pthread_mutex_init(&c->amap_lock, NULL);
    const char *dev = getenv("TS_CUDA_DEVICE");
    c->device = dev ? atoi(dev) : 0;
    const char *tf = getenv("TS_CUDA_TF32");
    c->tf32 = tf && tf[0] == '1';
    const char *det = getenv("TS_CUDA_DETERMINISTIC");
    c->deterministic = !(det && det[0] == '0');
    const char *vb = getenv("TS_CUDA_VERBOSE");
    c->verbose = vb && vb[0] == '1';
    ts_status st = TS_OK;
    cudaError_t e;
    cudnnStatus_t de;
    cublasStatus_t be;
    if (c->device < 0 || c->device >= n) {
        st = ts_error(TS_ERR_DEVICE, "CUDA: TS_CUDA_DEVICE=%d but %d device(s) found", c->device, n);
        goto fail;
    }
    struct cudaDeviceProp prop;
    if ((e = cudaSetDevice(c->device)) != cudaSuccess || (e = cudaFree(0)) != cudaSuccess ||
        (e = cudaGetDeviceProperties(&prop, c->device)) != cudaSuccess ||
        (e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking)) != cudaSuccess ||
        (e = cudaStreamCreateWithFlags(&c->amap_stream, cudaStreamNonBlocking)) != cudaSuccess) {
        st = cu_fail(e, "initialising the device", NULL);
        goto fail;
    }
    snprintf(c->name, sizeof c->name, "%s, compute %d.%d, %zu MiB", prop.name, prop.major, prop.minor,
             prop.totalGlobalMem >> 20);
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
#if TS_CUDNN_DEVICEPROP
    /* The device the heuristics rank engines for.  A failure here is an
     * error, not a dropped hint (finding 3). */
    if ((de = cudnnBackendCreateDescriptor(CUDNN_BACKEND_DEVICEPROP_DESCRIPTOR, &c->devprop)) !=
            CUDNN_STATUS_SUCCESS ||
        (de = cudnnBackendSetAttribute(c->devprop, CUDNN_ATTR_DEVICEPROP_HANDLE, CUDNN_TYPE_HANDLE, 1, &c->dnn)) !=
            CUDNN_STATUS_SUCCESS ||
        (de = cudnnBackendFinalize(c->devprop)) != CUDNN_STATUS_SUCCESS) {
        st = dnn_fail(de, "describing the device for cuDNN (DEVICEPROP descriptor)", NULL);
        goto fail;
    }
#endif
    *out = &cuda_backend;
    *ctx = c;
    return TS_OK;
fail:
    cuda_close(c);
    return st;
}
