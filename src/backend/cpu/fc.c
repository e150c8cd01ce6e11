/* fc.c - fully connected layer on the CPU through SGEMM (OpenBLAS).
 *
 * Semantics (graph.h, TS_OP_FC): the input (N,C,H,W) is read as an (N,K)
 * matrix with K = C*H*W (NCHW flattening, as Caffe's InnerProduct and
 * PyTorch's flatten), weight (O,K,1,1) is an (O,K) matrix, bias (1,O,1,1);
 * out (N,O,1,1) = x * W^T + b.
 * Backward (accumulating): din += dout * W, dW += dout^T * x,
 * dbias += column sums of dout.
 */
#include "backend/cpu/cpu-ops.h"


static ts_status fc_check(const ts_op_args *a, int *N, int *K, int *O) { return ts_check_fc(a, N, K, O); }

ts_status cpu_fc_forward(const ts_op_args *a)
{
    int N, K, O;
    TS_TRY(fc_check(a, &N, &K, &O));
    const float *x = a->in[0]->data, *w = a->weight->data;
    float *y = a->out->data;
    if (a->node->has_bias) {
        const float *b = a->bias->data;
        for (int i = 0; i < N; i++)
            for (int o = 0; o < O; o++) y[(size_t)i * O + o] = b[o];
    }
    if (N == 1)
        cpu_gemv(0, O, K, 1.0f, w, K, x, a->node->has_bias ? 1.0f : 0.0f, y);
    else
        cpu_gemm(0, 1, N, O, K, 1.0f, x, K, w, K,
                    a->node->has_bias ? 1.0f : 0.0f, y, O);
    return TS_OK;
}

ts_status cpu_fc_backward(const ts_op_args *a)
{
    int N, K, O;
    TS_TRY(fc_check(a, &N, &K, &O));
    TS_ASSERT(ts_tensor_numel(a->dout) == (size_t)N * O);
    const float *x = a->in[0]->data, *w = a->weight->data, *dy = a->dout->data;

    if (a->node->has_bias && cpu_want(a->dbias)) {
        float *db = a->dbias->data;
        for (int o = 0; o < O; o++) {
            double s = 0.0;
            for (int i = 0; i < N; i++) s += dy[(size_t)i * O + o];
            db[o] += (float)s;
        }
    }
    if (cpu_want(a->dweight)) {
        TS_ASSERT(ts_tensor_numel(a->dweight) == (size_t)O * K);
        if (N == 1)
            cpu_ger(O, K, 1.0f, dy, x, a->dweight->data, K);
        else
            cpu_gemm(1, 0, O, K, N, 1.0f, dy, O, x, K, 1.0f,
                        a->dweight->data, K);
    }
    if (cpu_want(a->din[0])) {
        TS_ASSERT(ts_tensor_numel(a->din[0]) == (size_t)N * K);
        if (N == 1)
            cpu_gemv(1, O, K, 1.0f, w, K, dy, 1.0f, a->din[0]->data);
        else
            cpu_gemm(0, 0, N, K, O, 1.0f, dy, O, w, K, 1.0f,
                        a->din[0]->data, K);
    }
    return TS_OK;
}
