/* faceapi-net.c - TF.js -> NCHW translation helpers (see faceapi-net.h).
 *
 * The resize mirrors TensorFlow.js's CPU ResizeBilinear kernel with both
 * align_corners and half_pixel_centers false: source = dst * (in/out),
 * neighbours floor/ceil clamped to the input, interpolation in double,
 * result rounded to float32; then float32 subtraction of the mean and
 * division by 255 (or, for the SSD, division by 127.5 and subtraction of
 * 1, in that order as face-api does), so that our input tensor equals face-api's up to the
 * last bit in the common case.
 */
#include "face/faceapi-net.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ts_faceapi_same_pad(int in, int k, int stride, int *lo, int *hi)
{
    int out = (in + stride - 1) / stride;
    int total = (out - 1) * stride + k - in;
    if (total < 0) total = 0;
    *lo = total / 2;
    *hi = total - *lo;
}

ts_status ts_faceapi_load_conv(ts_node *n, int in_c, const ts_tfjs *t, const char *filters,
                               const char *bias, int depthwise)
{
    TS_ASSERT(n->op == TS_OP_CONV2D && n->weight.data);
    const int KH = n->kh, KW = n->kw, O = n->out_c;
    const ts_tfjs_weight *w;
    float *dst = n->weight.data;
    if (depthwise) {
        TS_ASSERT(n->groups == in_c && O == in_c);
        TS_TRY(ts_tfjs_get(t, filters, 4, (int[]){ KH, KW, in_c, 1 }, &w));
        for (int c = 0; c < in_c; c++)
            for (int y = 0; y < KH; y++)
                for (int x = 0; x < KW; x++)
                    dst[((size_t)c * KH + y) * KW + x] = w->data[((size_t)y * KW + x) * in_c + c];
    } else {
        TS_ASSERT(n->groups == 1);
        TS_TRY(ts_tfjs_get(t, filters, 4, (int[]){ KH, KW, in_c, O }, &w));
        for (int o = 0; o < O; o++)
            for (int c = 0; c < in_c; c++)
                for (int y = 0; y < KH; y++)
                    for (int x = 0; x < KW; x++)
                        dst[(((size_t)o * in_c + c) * KH + y) * KW + x] =
                            w->data[(((size_t)y * KW + x) * in_c + c) * O + o];
    }
    if (bias) {
        TS_ASSERT(n->bias.data);
        TS_TRY(ts_tfjs_get(t, bias, 1, (int[]){ O }, &w));
        memcpy(n->bias.data, w->data, (size_t)O * sizeof(float));
    }
    return TS_OK;
}

ts_status ts_faceapi_load_fc(ts_node *n, int in_k, const ts_tfjs *t, const char *weights,
                             const char *bias)
{
    TS_ASSERT(n->op == TS_OP_FC && n->weight.data && n->bias.data);
    const int O = n->out_c;
    const ts_tfjs_weight *w;
    TS_TRY(ts_tfjs_get(t, weights, 2, (int[]){ in_k, O }, &w));
    for (int o = 0; o < O; o++)
        for (int k = 0; k < in_k; k++)
            n->weight.data[(size_t)o * in_k + k] = w->data[(size_t)k * O + o];
    TS_TRY(ts_tfjs_get(t, bias, 1, (int[]){ O }, &w));
    memcpy(n->bias.data, w->data, (size_t)O * sizeof(float));
    return TS_OK;
}

/* Neighbours and weight of one output coordinate of the resize. */
typedef struct tap { int i0, i1; double f; } tap;

static void make_taps(int P, int S, tap *taps)
{
    double ratio = (double)P / (double)S;
    for (int r = 0; r < S; r++) {
        double src = ratio * r;
        int lo = (int)floor(src);
        if (lo < 0) lo = 0;
        int hi = (int)ceil(src);
        if (hi > P - 1) hi = P - 1;
        taps[r] = (tap){ lo, hi, src - lo };
    }
}

/* mean NULL: v / 127.5 - 1 (SSD); otherwise (v - mean[c]) / 255. */
static void make_input(const ts_image *img, int x0, int y0, int w, int h, int pad_x, int pad_y, int S,
                       const float *mean, float *out)
{
    TS_ASSERT(w >= 1 && h >= 1 && x0 >= 0 && y0 >= 0 && x0 + w <= img->width &&
              y0 + h <= img->height && S >= 1);
    const int P = w > h ? w : h;
    TS_ASSERT(pad_x >= 0 && pad_y >= 0 && pad_x + w <= P && pad_y + h <= P);
    tap *tx = malloc(sizeof(tap) * (size_t)S * 2);
    TS_ASSERT(tx);
    tap *ty = tx + S;
    make_taps(P, S, tx);
    make_taps(P, S, ty);
    const size_t plane = (size_t)S * S;
    for (int r = 0; r < S; r++) {
        /* Rows of the padded square; -1 marks a zero (padding) row. */
        int ya = ty[r].i0 - pad_y, yb = ty[r].i1 - pad_y;
        const uint8_t *ra = ya >= 0 && ya < h ? ts_image_pixel(img, x0, y0 + ya) : NULL;
        const uint8_t *rb = yb >= 0 && yb < h ? ts_image_pixel(img, x0, y0 + yb) : NULL;
        for (int c = 0; c < S; c++) {
            int xa = tx[c].i0 - pad_x, xb = tx[c].i1 - pad_x;
            int va = xa >= 0 && xa < w, vb = xb >= 0 && xb < w;
            for (int ch = 0; ch < 3; ch++) {
                double tl = ra && va ? ra[3 * xa + ch] : 0.0;
                double tr = ra && vb ? ra[3 * xb + ch] : 0.0;
                double bl = rb && va ? rb[3 * xa + ch] : 0.0;
                double br = rb && vb ? rb[3 * xb + ch] : 0.0;
                double top = tl + (tr - tl) * tx[c].f;
                double bot = bl + (br - bl) * tx[c].f;
                float v = (float)(top + (bot - top) * ty[r].f);
                out[ch * plane + (size_t)r * S + c] = mean ? (v - mean[ch]) / 255.0f : v / 127.5f - 1.0f;
            }
        }
    }
    free(tx);
}

void ts_faceapi_make_input(const ts_image *img, int x0, int y0, int w, int h, int pad_x, int pad_y,
                           int S, const float mean[3], float *out)
{
    TS_ASSERT(mean);
    make_input(img, x0, y0, w, h, pad_x, pad_y, S, mean, out);
}

void ts_faceapi_make_input_unit(const ts_image *img, int S, float *out)
{
    make_input(img, 0, 0, img->width, img->height, 0, 0, S, NULL, out);
}
