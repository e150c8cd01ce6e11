/* detector-ssd.c - face-api's SSD MobileNet v1 face detector on a ts_graph
 * (see detector-nets.h, detector.h).
 *
 * Weights: ssd_mobilenetv1_model-weights_manifest.json + .bin of the npm
 * package @vladmandic/face-api (TF.js, uint8-quantized), the TensorFlow
 * Object Detection API's SSD with a MobileNet v1 backbone as face-api.js
 * ships it.  Network, as face-api's SsdMobilenetv1.forwardInput runs it:
 *   input (3,512,512): the image zero-padded at the bottom/right to a
 *     square, resized bilinearly to 512, v / 127.5 - 1;
 *   MobileNet v1 (Howard et al. 2017): conv 3x3/2 3->32, then 13 pairs
 *     [depthwise 3x3 (stride 2 at pairs 2, 4, 6, 12) + batch norm,
 *      pointwise 1x1 + offset], every conv followed by ReLU6; TensorFlow
 *     "same" padding; feature maps conv11 (512 x 32x32) and the last
 *     (1024 x 16x16);
 *   extra layers: four [1x1 conv, 3x3/2 conv] + ReLU6 pairs giving maps of
 *     8x8, 4x4, 2x2, 1x1;
 *   six box predictors (1x1 conv + bias) on conv11, the last MobileNet map
 *     and the four extra maps: 3, 6, 6, 6, 6, 6 anchors per cell, each with
 *     a box encoding (ty, tx, th, tw) and three class logits.
 * The batch norm of each depthwise layer is folded into its weights and
 * bias (w * gamma / sqrt(var + eps), beta - mean * gamma / sqrt(var + eps),
 * eps = 0.001 as face-api), which changes results only by float rounding.
 *
 * Decoding (face-api's outputLayer): the 5118 prior boxes are the model's
 * own "Output/extra_dim" tensor, (ymin, xmin, ymax, xmax) relative to the
 * 512 square, in the order of the predictions (head 0..5, then row, column,
 * anchor).  A prior of height ph and centre cy and an encoding t give
 *   centre y = ty/10 * ph + cy,  height = exp(th/5) * ph
 * (x likewise), score = sigmoid(logit of class 1) ("face").  NMS (face-api's
 * nonMaxSuppression): candidates scoring above min_score, best first (ties
 * in index order), each kept if its IoU with every kept box is <= 0.5, at
 * most 100.  Kept boxes are clipped to [0,1] of the square, scaled by
 * 512 / (the image's side in the input) and to image pixels.  Everything
 * in float32 where face-api's tensors are float32 and in double where it
 * computes in JavaScript numbers.
 *
 * Invariant: s->g is a finalized graph with every weight loaded; s->prior
 * holds TS_SSD_ANCHORS prior boxes.
 */
#include "face/detector-nets.h"

#include "backend/backend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/graph.h"
#include "face/faceapi-net.h"
#include "face/tfjs.h"

#define TS_SSD_ANCHORS 5118
#define BN_EPS 0.0010000000474974513
#define IOU_THRESHOLD 0.5
#define N_HEADS 6

struct ts_ssd {
    ts_graph *g;
    float *prior;              /* (TS_SSD_ANCHORS, 4): ymin, xmin, ymax, xmax */
    int box_node[N_HEADS];     /* graph nodes of the box encodings (A*4 channels) */
    int cls_node[N_HEADS];     /* ... and of the class logits (A*3 channels) */
    int anchors[N_HEADS];
    float *input;              /* (1,3,512,512) */
    float *head;               /* the heads' outputs on the host: box then class, head by head */
    size_t head_off[N_HEADS][2]; /* their offsets in head */
    float *scores;             /* (TS_SSD_ANCHORS) scratch */
    float *boxes;              /* (TS_SSD_ANCHORS, 4) scratch */
    int *order;                /* (TS_SSD_ANCHORS) scratch */
};

static ts_node *add_relu6(ts_graph *g, const char *name)
{
    ts_node *n = ts_graph_add(g, TS_OP_RELU, name, 0, NULL);
    n->clip = 6.0f;
    return n;
}

/* A conv with TensorFlow "same" padding on an input of side `in`; returns
 * the output side. */
static int add_conv(ts_graph *g, const char *name, int in, int out_c, int k, int stride, int depthwise_c)
{
    ts_node *n = ts_graph_add(g, TS_OP_CONV2D, name, 0, NULL);
    n->out_c = out_c;
    n->kh = n->kw = k;
    n->stride = stride;
    n->groups = depthwise_c ? depthwise_c : 1;
    ts_faceapi_same_pad(in, k, stride, &n->pad_t, &n->pad_b);
    n->pad_l = n->pad_t;
    n->pad_r = n->pad_b;
    return (in + stride - 1) / stride;
}

static int pair_stride(int i) { return i == 2 || i == 4 || i == 6 || i == 12 ? 2 : 1; }

static const int mobilenet_c[14] = { 32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024 };
static const int extra_c[8] = { 256, 512, 128, 256, 128, 256, 64, 128 };

static void build_graph(ts_ssd *s)
{
    char name[48], rn[56];
    ts_graph *g = ts_graph_new(3, TS_SSD_INPUT, TS_SSD_INPUT);
    int side = add_conv(g, "mobilenet/conv0", TS_SSD_INPUT, mobilenet_c[0], 3, 2, 0);
    add_relu6(g, "mobilenet/conv0/relu6");
    for (int i = 1; i <= 13; i++) {
        int c_in = mobilenet_c[i - 1];
        snprintf(name, sizeof name, "mobilenet/conv%d/depthwise", i);
        side = add_conv(g, name, side, c_in, 3, pair_stride(i), c_in);
        snprintf(rn, sizeof rn, "%s/relu6", name);
        add_relu6(g, rn);
        snprintf(name, sizeof name, "mobilenet/conv%d/pointwise", i);
        add_conv(g, name, side, mobilenet_c[i], 1, 1, 0);
        snprintf(rn, sizeof rn, "%s/relu6", name);
        add_relu6(g, rn);
    }
    for (int i = 0; i < 8; i++) {
        snprintf(name, sizeof name, "prediction/conv%d", i);
        side = add_conv(g, name, side, extra_c[i], i % 2 ? 3 : 1, i % 2 ? 2 : 1, 0);
        snprintf(rn, sizeof rn, "%s/relu6", name);
        add_relu6(g, rn);
    }
    /* The heads read conv11, the last MobileNet map and the odd extra maps. */
    static const char *const feature[N_HEADS] = {
        "mobilenet/conv11/pointwise/relu6", "mobilenet/conv13/pointwise/relu6", "prediction/conv1/relu6",
        "prediction/conv3/relu6", "prediction/conv5/relu6", "prediction/conv7/relu6",
    };
    for (int h = 0; h < N_HEADS; h++) {
        int in = ts_graph_index(g, feature[h]);
        TS_ASSERT(in > 0);
        s->anchors[h] = h == 0 ? 3 : 6;
        snprintf(name, sizeof name, "head%d/box", h);
        ts_node *n = ts_graph_add(g, TS_OP_CONV2D, name, 1, &in);
        n->out_c = 4 * s->anchors[h];
        n->kh = n->kw = 1;
        snprintf(name, sizeof name, "head%d/class", h);
        n = ts_graph_add(g, TS_OP_CONV2D, name, 1, &in);
        n->out_c = 3 * s->anchors[h];
        n->kh = n->kw = 1;
    }
    s->g = g;
}

/* Depthwise weights with their batch norm folded in. */
static ts_status load_depthwise(ts_node *n, int c, const ts_tfjs *t, int i)
{
    char f[96], b[4][96];
    static const char *const part[4] = { "gamma", "beta", "moving_mean", "moving_variance" };
    snprintf(f, sizeof f, "MobilenetV1/Conv2d_%d_depthwise/depthwise_weights", i);
    TS_TRY(ts_faceapi_load_conv(n, c, t, f, NULL, 1));
    const ts_tfjs_weight *bn[4];
    for (int k = 0; k < 4; k++) {
        snprintf(b[k], sizeof b[k], "MobilenetV1/Conv2d_%d_depthwise/BatchNorm/%s", i, part[k]);
        TS_TRY(ts_tfjs_get(t, b[k], 1, (int[]){ c }, &bn[k]));
    }
    const int taps = n->kh * n->kw;
    for (int ch = 0; ch < c; ch++) {
        double scale = bn[0]->data[ch] / sqrt((double)bn[3]->data[ch] + BN_EPS);
        for (int k = 0; k < taps; k++) n->weight.data[ch * taps + k] = (float)(n->weight.data[ch * taps + k] * scale);
        n->bias.data[ch] = (float)(bn[1]->data[ch] - bn[2]->data[ch] * scale);
    }
    return TS_OK;
}

static ts_status load_weights(ts_ssd *s, const ts_tfjs *t)
{
    ts_graph *g = s->g;
    char name[64], f[96], b[96];
    TS_TRY(ts_faceapi_load_conv(ts_graph_find(g, "mobilenet/conv0"), 3, t, "MobilenetV1/Conv2d_0_pointwise/weights",
                                "MobilenetV1/Conv2d_0_pointwise/convolution_bn_offset", 0));
    for (int i = 1; i <= 13; i++) {
        snprintf(name, sizeof name, "mobilenet/conv%d/depthwise", i);
        TS_TRY(load_depthwise(ts_graph_find(g, name), mobilenet_c[i - 1], t, i));
        snprintf(name, sizeof name, "mobilenet/conv%d/pointwise", i);
        snprintf(f, sizeof f, "MobilenetV1/Conv2d_%d_pointwise/weights", i);
        snprintf(b, sizeof b, "MobilenetV1/Conv2d_%d_pointwise/convolution_bn_offset", i);
        TS_TRY(ts_faceapi_load_conv(ts_graph_find(g, name), mobilenet_c[i - 1], t, f, b, 0));
    }
    for (int i = 0; i < 8; i++) {
        snprintf(name, sizeof name, "prediction/conv%d", i);
        snprintf(f, sizeof f, "Prediction/Conv2d_%d_pointwise/weights", i);
        snprintf(b, sizeof b, "Prediction/Conv2d_%d_pointwise/convolution_bn_offset", i);
        TS_TRY(ts_faceapi_load_conv(ts_graph_find(g, name), i ? extra_c[i - 1] : mobilenet_c[13], t, f, b, 0));
    }
    static const int head_in[N_HEADS] = { 512, 1024, 512, 256, 256, 128 };
    for (int h = 0; h < N_HEADS; h++) {
        snprintf(name, sizeof name, "head%d/box", h);
        s->box_node[h] = ts_graph_index(g, name);
        snprintf(f, sizeof f, "Prediction/BoxPredictor_%d/BoxEncodingPredictor/weights", h);
        snprintf(b, sizeof b, "Prediction/BoxPredictor_%d/BoxEncodingPredictor/biases", h);
        TS_TRY(ts_faceapi_load_conv(&g->nodes[s->box_node[h]], head_in[h], t, f, b, 0));
        snprintf(name, sizeof name, "head%d/class", h);
        s->cls_node[h] = ts_graph_index(g, name);
        snprintf(f, sizeof f, "Prediction/BoxPredictor_%d/ClassPredictor/weights", h);
        snprintf(b, sizeof b, "Prediction/BoxPredictor_%d/ClassPredictor/biases", h);
        TS_TRY(ts_faceapi_load_conv(&g->nodes[s->cls_node[h]], head_in[h], t, f, b, 0));
    }
    /* The priors must cover exactly the heads' cells. */
    int total = 0;
    for (int h = 0; h < N_HEADS; h++) {
        const ts_node *n = &g->nodes[s->box_node[h]];
        total += n->h * n->w * s->anchors[h];
    }
    TS_ASSERT(total == TS_SSD_ANCHORS);
    const ts_tfjs_weight *p;
    TS_TRY(ts_tfjs_get(t, "Output/extra_dim", 3, (int[]){ 1, TS_SSD_ANCHORS, 4 }, &p));
    memcpy(s->prior, p->data, sizeof(float) * 4 * TS_SSD_ANCHORS);
    return TS_OK;
}

ts_status ts_ssd_load(const char *manifest, ts_ssd **out)
{
    *out = NULL;
    ts_ssd *s = calloc(1, sizeof *s);
    if (!s) return ts_error(TS_ERR_OOM, "ssd detector: out of memory");
    ts_tfjs *t = NULL;
    ts_status st = ts_tfjs_load(manifest, &t);
    if (st == TS_OK) {
        build_graph(s);
        st = ts_graph_finalize(s->g);
    }
    if (st == TS_OK) {
        s->prior = malloc(sizeof(float) * 4 * TS_SSD_ANCHORS);
        s->boxes = malloc(sizeof(float) * 4 * TS_SSD_ANCHORS);
        s->scores = malloc(sizeof(float) * TS_SSD_ANCHORS);
        s->order = malloc(sizeof(int) * TS_SSD_ANCHORS);
        s->input = malloc(sizeof(float) * 3 * TS_SSD_INPUT * TS_SSD_INPUT);
        if (!s->prior || !s->boxes || !s->scores || !s->order || !s->input)
            st = ts_error(TS_ERR_OOM, "ssd detector: out of memory");
    }
    if (st == TS_OK) st = load_weights(s, t);
    if (st == TS_OK) {
        size_t total = 0;
        for (int h = 0; h < N_HEADS; h++)
            for (int k = 0; k < 2; k++) {
                const ts_node *n = &s->g->nodes[k ? s->cls_node[h] : s->box_node[h]];
                s->head_off[h][k] = total;
                total += (size_t)n->c * n->h * n->w; /* batch 1 */
            }
        s->head = malloc(sizeof(float) * total);
        if (!s->head) st = ts_error(TS_ERR_OOM, "ssd detector: out of memory");
    }
    ts_tfjs_free(t);
    if (st != TS_OK) {
        ts_ssd_free(s);
        return st;
    }
    *out = s;
    return TS_OK;
}

void ts_ssd_free(ts_ssd *s)
{
    if (!s) return;
    ts_graph_free(s->g);
    free(s->prior);
    free(s->boxes);
    free(s->scores);
    free(s->order);
    free(s->input);
    free(s->head);
    free(s);
}

ts_status ts_ssd_set_backend(ts_ssd *s, const struct ts_backend *be, void *ctx)
{
    if (!be) be = ts_backend_cpu(), ctx = NULL;
    return ts_graph_to_backend(s->g, be, ctx);
}

/* TF.js's float32 sigmoid and exp: Math.exp in double, stored as float. */
static float f32_exp(float x) { return (float)exp((double)x); }
static float f32_sigmoid(float x) { return (float)(1.0 / (1.0 + exp(-(double)x))); }

/* The heads' outputs to the host (a copy on the CPU, a download from a
 * device). */
static ts_status read_heads(ts_ssd *s)
{
    for (int h = 0; h < N_HEADS; h++)
        for (int k = 0; k < 2; k++) {
            const ts_tensor *o = &s->g->nodes[k ? s->cls_node[h] : s->box_node[h]].out;
            TS_TRY(ts_graph_read(s->g, o->data, s->head + s->head_off[h][k], ts_tensor_numel(o)));
        }
    return TS_OK;
}

/* Decodes every anchor's box and score into s->boxes / s->scores. */
static void decode(ts_ssd *s)
{
    int a_idx = 0;
    for (int h = 0; h < N_HEADS; h++) {
        const ts_tensor *bo = &s->g->nodes[s->box_node[h]].out, *co = &s->g->nodes[s->cls_node[h]].out;
        const ts_tensor bxt = { s->head + s->head_off[h][0], 1, bo->c, bo->h, bo->w };
        const ts_tensor clt = { s->head + s->head_off[h][1], 1, co->c, co->h, co->w };
        const ts_tensor *bx = &bxt, *cl = &clt;
        const int A = s->anchors[h];
        for (int y = 0; y < bx->h; y++)
            for (int x = 0; x < bx->w; x++)
                for (int a = 0; a < A; a++, a_idx++) {
                    const float *p = s->prior + 4 * a_idx;
                    float ph = p[2] - p[0], pw = p[3] - p[1];
                    float cy = p[0] + ph / 2.0f, cx = p[1] + pw / 2.0f;
                    float ty = TS_AT(bx, 0, a * 4 + 0, y, x), tx = TS_AT(bx, 0, a * 4 + 1, y, x);
                    float th = TS_AT(bx, 0, a * 4 + 2, y, x), tw = TS_AT(bx, 0, a * 4 + 3, y, x);
                    float hh = f32_exp(th / 5.0f) * ph / 2.0f, hw = f32_exp(tw / 5.0f) * pw / 2.0f;
                    float my = ty / 10.0f * ph + cy, mx = tx / 10.0f * pw + cx;
                    float *o = s->boxes + 4 * a_idx;
                    o[0] = my - hh;
                    o[1] = mx - hw;
                    o[2] = my + hh;
                    o[3] = mx + hw;
                    s->scores[a_idx] = f32_sigmoid(TS_AT(cl, 0, a * 3 + 1, y, x));
                }
    }
    TS_ASSERT(a_idx == TS_SSD_ANCHORS);
}

/* face-api's IOU: corners ordered first, 0 for an empty box. */
static double ssd_iou(const float *a, const float *b)
{
    double ay0 = fmin(a[0], a[2]), ax0 = fmin(a[1], a[3]), ay1 = fmax(a[0], a[2]), ax1 = fmax(a[1], a[3]);
    double by0 = fmin(b[0], b[2]), bx0 = fmin(b[1], b[3]), by1 = fmax(b[0], b[2]), bx1 = fmax(b[1], b[3]);
    double area_a = (ay1 - ay0) * (ax1 - ax0), area_b = (by1 - by0) * (bx1 - bx0);
    if (area_a <= 0 || area_b <= 0) return 0.0;
    double ih = fmax(fmin(ay1, by1) - fmax(ay0, by0), 0.0), iw = fmax(fmin(ax1, bx1) - fmax(ax0, bx0), 0.0);
    return ih * iw / (area_a + area_b - ih * iw);
}

static int by_score(const void *pa, const void *pb, void *scores)
{
    int a = *(const int *)pa, b = *(const int *)pb;
    float sa = ((const float *)scores)[a], sb = ((const float *)scores)[b];
    if (sa != sb) return sa < sb ? 1 : -1;
    return a - b; /* JavaScript's sort is stable: ties stay in index order */
}

ts_status ts_ssd_detect(ts_ssd *s, const ts_image *img, float min_score, ts_face_box *boxes, int max_boxes,
                        int *n_found)
{
    TS_ASSERT(s && img && n_found && (boxes || max_boxes <= 0));
    *n_found = 0;
    if (!img->data || img->width < 1 || img->height < 1) return ts_error(TS_ERR_ARG, "ssd detector: empty image");
    if (!(min_score >= 0.0f && min_score < 1.0f))
        return ts_error(TS_ERR_ARG, "ssd detector: minimum score %g outside [0,1)", (double)min_score);
    const int S = TS_SSD_INPUT, W = img->width, H = img->height;
    ts_faceapi_make_input_unit(img, S, s->input);
    ts_tensor in = { s->input, 1, 3, S, S };
    TS_TRY(ts_graph_forward(s->g, &in));
    TS_TRY(read_heads(s));
    decode(s);

    int nc = 0;
    for (int i = 0; i < TS_SSD_ANCHORS; i++)
        if (s->scores[i] > min_score) s->order[nc++] = i;
    /* qsort is not stable, but the comparison breaks ties by index. */
    qsort_r(s->order, (size_t)nc, sizeof *s->order, by_score, s->scores);
    int kept[TS_SSD_MAX_RESULTS], nk = 0;
    for (int i = 0; i < nc && nk < TS_SSD_MAX_RESULTS; i++) {
        const float *c = s->boxes + 4 * s->order[i];
        int keep = 1;
        for (int j = nk - 1; j >= 0 && keep; j--)
            if (ssd_iou(c, s->boxes + 4 * kept[j]) > IOU_THRESHOLD) keep = 0;
        if (keep) kept[nk++] = s->order[i];
    }

    /* face-api: clip to the square, scale by 512 / the image's side in the
     * input (computeReshapedDimensions), then to pixels. */
    const double side = W > H ? W : H;
    const double pad_x = (double)S / lround(W * ((double)S / side));
    const double pad_y = (double)S / lround(H * ((double)S / side));
    for (int k = 0; k < nk && k < max_boxes; k++) {
        const float *b = s->boxes + 4 * kept[k];
        double top = fmax(0.0, b[0]) * pad_y, bottom = fmin(1.0, b[2]) * pad_y;
        double left = fmax(0.0, b[1]) * pad_x, right = fmin(1.0, b[3]) * pad_x;
        boxes[k] = (ts_face_box){ (float)(left * W), (float)(top * H), (float)((right - left) * W),
                                  (float)((bottom - top) * H), s->scores[kept[k]], 0.0f };
    }
    *n_found = nk;
    return TS_OK;
}
