/* detector-tiny.c - face-api's Tiny Face Detector on a ts_graph (see
 * detector-nets.h, detector.h).
 *
 * Network (weights tiny_face_detector_model-weights_manifest.json + .bin,
 * TF.js uint8-quantized; a TinyYOLOv2 variant with depthwise-separable
 * convolutions):
 *   input (3,S,S), S = input size (multiple of 32, default 416): the image
 *   zero-padded at the bottom/right to a square, resized bilinearly to S,
 *   minus the mean RGB (117.001, 114.697, 97.404), divided by 255;
 *   conv 3x3 3->16 (valid) + leaky ReLU(0.1), maxpool 2/2;
 *   4 x [depthwise 3x3 (pad 1) + pointwise 1x1 + bias + leaky, maxpool 2/2]
 *     (16->32->64->128->256);
 *   depthwise-separable 256->512 + leaky, maxpool 2/1 ("same");
 *   conv 1x1 512->25: per cell of the S/32 grid, 5 anchors x (x,y,w,h,score).
 * Decoding (YOLOv2): centre = (cell + sigmoid(t)) / grid, size =
 * exp(t) * anchor / grid, score = sigmoid(t_score) > min_score, then greedy
 * non-maximum suppression at IoU 0.4, highest score first.
 *
 * Follows face-api's TinyFaceDetector (TinyYolov2Base with separable convs,
 * isFirstLayerConv2d) and its detect(): input building, anchor decoding with
 * the correction factors for non-square images, and NMS over boxes scaled to
 * the input size, so that scores and boxes equal face-api's up to float
 * rounding.  The graph is rebuilt when the input size changes; the TF.js
 * weights stay loaded for that.
 *
 * Invariant: d->g is a finalized graph for d->size with weights loaded.
 */
#include "face/detector-nets.h"

#include "backend/backend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/graph.h"
#include "face/faceapi-net.h"
#include "face/tfjs.h"

#define N_ANCHORS 5
static const float anchors[N_ANCHORS][2] = {
    { 1.603231f, 2.094468f }, { 6.041143f, 7.080126f }, { 2.882459f, 3.518061f },
    { 4.266906f, 5.178857f }, { 9.041765f, 10.66308f },
};
static const float mean_rgb[3] = { 117.001f, 114.697f, 97.404f };
#define IOU_THRESHOLD 0.4
#define LEAKY_SLOPE 0.1f

struct ts_tiny {
    ts_tfjs *w;
    ts_graph *g;
    int size;
    float *input; /* (1,3,size,size) */
    float *output; /* (1,25,size/32,size/32), the head's output on the host */
    const struct ts_backend *be; /* where g runs (NULL: the CPU) */
    void *ctx;
};

static ts_node *add_leaky(ts_graph *g, const char *name)
{
    ts_node *n = ts_graph_add(g, TS_OP_LEAKY_RELU, name, 0, NULL);
    n->slope = LEAKY_SLOPE;
    return n;
}

/* 2x2 max pooling with TensorFlow "same" padding for an input of side in. */
static void add_pool(ts_graph *g, const char *name, int in, int stride)
{
    ts_node *n = ts_graph_add(g, TS_OP_MAXPOOL, name, 0, NULL);
    n->kh = n->kw = 2;
    n->stride = stride;
    n->pool_floor = 1;
    ts_faceapi_same_pad(in, 2, stride, &n->pad_t, &n->pad_b);
    n->pad_l = n->pad_t;
    n->pad_r = n->pad_b;
}

static int pool_side(int in, int stride) { return (in + stride - 1) / stride; }

static ts_status build_graph(ts_tiny *d, int S)
{
    static const int chans[] = { 16, 32, 64, 128, 256, 512 };
    char name[32];
    ts_graph *g = ts_graph_new(3, S, S);
    ts_node *n = ts_graph_add(g, TS_OP_CONV2D, "conv0", 0, NULL);
    n->out_c = 16;
    n->kh = n->kw = 3; /* 'valid' */
    add_leaky(g, "conv0/leaky");
    int side = S - 2;
    add_pool(g, "pool0", side, 2);
    side = pool_side(side, 2);
    for (int i = 1; i <= 5; i++) {
        snprintf(name, sizeof name, "conv%d/depthwise", i);
        n = ts_graph_add(g, TS_OP_CONV2D, name, 0, NULL);
        n->out_c = n->groups = chans[i - 1];
        n->kh = n->kw = 3;
        n->pad_t = n->pad_b = n->pad_l = n->pad_r = 1;
        n->has_bias = 0;
        snprintf(name, sizeof name, "conv%d/pointwise", i);
        n = ts_graph_add(g, TS_OP_CONV2D, name, 0, NULL);
        n->out_c = chans[i];
        n->kh = n->kw = 1;
        snprintf(name, sizeof name, "conv%d/leaky", i);
        add_leaky(g, name);
        snprintf(name, sizeof name, "pool%d", i);
        int stride = i < 5 ? 2 : 1;
        add_pool(g, name, side, stride);
        side = pool_side(side, stride);
    }
    n = ts_graph_add(g, TS_OP_CONV2D, "conv8", 0, NULL);
    n->out_c = N_ANCHORS * 5;
    n->kh = n->kw = 1;

    ts_status st = ts_graph_finalize(g);
    if (st != TS_OK) goto fail;
    st = ts_faceapi_load_conv(ts_graph_find(g, "conv0"), 3, d->w, "conv0/filters", "conv0/bias", 0);
    for (int i = 1; i <= 5 && st == TS_OK; i++) {
        char f[64], b[64];
        snprintf(name, sizeof name, "conv%d/depthwise", i);
        snprintf(f, sizeof f, "conv%d/depthwise_filter", i);
        st = ts_faceapi_load_conv(ts_graph_find(g, name), chans[i - 1], d->w, f, NULL, 1);
        if (st != TS_OK) break;
        snprintf(name, sizeof name, "conv%d/pointwise", i);
        snprintf(f, sizeof f, "conv%d/pointwise_filter", i);
        snprintf(b, sizeof b, "conv%d/bias", i);
        st = ts_faceapi_load_conv(ts_graph_find(g, name), chans[i - 1], d->w, f, b, 0);
    }
    if (st == TS_OK)
        st = ts_faceapi_load_conv(ts_graph_find(g, "conv8"), 512, d->w, "conv8/filters",
                                  "conv8/bias", 0);
    if (st != TS_OK) goto fail;
    TS_ASSERT(g->nodes[g->output].h == S / 32 && g->nodes[g->output].w == S / 32);

    float *input = malloc(sizeof(float) * 3 * (size_t)S * S);
    float *output = malloc(sizeof(float) * 25 * (size_t)(S / 32) * (S / 32));
    if (!input || !output) {
        free(input);
        free(output);
        st = ts_error(TS_ERR_OOM, "detector: out of memory for a %dx%d input", S, S);
        goto fail;
    }
    if (d->be && (st = ts_graph_to_backend(g, d->be, d->ctx)) != TS_OK) {
        free(input);
        free(output);
        goto fail;
    }
    ts_graph_free(d->g);
    free(d->input);
    free(d->output);
    d->g = g;
    d->input = input;
    d->output = output;
    d->size = S;
    return TS_OK;
fail:
    ts_graph_free(g);
    return st;
}

ts_status ts_tiny_load(const char *manifest, ts_tiny **out)
{
    TS_ASSERT(manifest && out);
    *out = NULL;
    ts_tiny *d = calloc(1, sizeof *d);
    if (!d) return ts_error(TS_ERR_OOM, "tiny detector: out of memory");
    ts_status st = ts_tfjs_load(manifest, &d->w);
    if (st == TS_OK) st = build_graph(d, 416);
    if (st != TS_OK) {
        ts_tiny_free(d);
        return st;
    }
    *out = d;
    return TS_OK;
}

ts_status ts_tiny_set_input_size(ts_tiny *d, int size)
{
    if (size < 32 || size > 2048 || size % 32)
        return ts_error(TS_ERR_ARG, "detector input size must be a multiple of 32 in [32, 2048] (got %d)",
                        size);
    return size == d->size ? TS_OK : build_graph(d, size);
}

int ts_tiny_input_size(const ts_tiny *d) { return d->size; }

ts_status ts_tiny_set_backend(ts_tiny *d, const struct ts_backend *be, void *ctx)
{
    if (!be) be = ts_backend_cpu(), ctx = NULL;
    TS_TRY(ts_graph_to_backend(d->g, be, ctx));
    d->be = be->device == TS_DEVICE_CPU ? NULL : be;
    d->ctx = ctx;
    return TS_OK;
}

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* A candidate: box relative to the image (face-api's relativeBox) and the
 * same box in input-size units, which is what face-api's NMS compares. */
typedef struct cand { double x, y, w, h, score; } cand;

static double iou(const cand *a, const cand *b, double s)
{
    double ax1 = a->x * s, ay1 = a->y * s, ax2 = (a->x + a->w) * s, ay2 = (a->y + a->h) * s;
    double bx1 = b->x * s, by1 = b->y * s, bx2 = (b->x + b->w) * s, by2 = (b->y + b->h) * s;
    double iw = fmax(0.0, fmin(ax2, bx2) - fmax(ax1, bx1));
    double ih = fmax(0.0, fmin(ay2, by2) - fmax(ay1, by1));
    double inter = iw * ih;
    return inter / ((ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter);
}

/* Sort by descending score; ties keep the later candidate first, as
 * face-api's ascending stable sort followed by pop() does. */
typedef struct ranked { double score; int idx; } ranked;
static int by_score_desc(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    if (a->score != b->score) return a->score < b->score ? 1 : -1;
    return b->idx - a->idx;
}

ts_status ts_tiny_detect(ts_tiny *d, const ts_image *img, float min_score, ts_face_box *boxes, int max_boxes,
                         int *n_found)
{
    TS_ASSERT(d && img && n_found && (boxes || max_boxes <= 0));
    *n_found = 0;
    if (!img->data || img->width < 1 || img->height < 1)
        return ts_error(TS_ERR_ARG, "detector: empty image");
    if (!(min_score >= 0.0f && min_score < 1.0f))
        return ts_error(TS_ERR_ARG, "detector: minimum score %g outside [0,1)", (double)min_score);
    const int S = d->size, W = img->width, H = img->height;
    const int side = W > H ? W : H;

    ts_faceapi_make_input(img, 0, 0, W, H, 0, 0, S, mean_rgb, d->input);
    ts_tensor in = { d->input, 1, 3, S, S };
    TS_TRY(ts_graph_forward(d->g, &in));
    const ts_tensor *od = &d->g->nodes[d->g->output].out; /* (1,25,G,G) */
    const int G = od->h;
    ts_tensor host = { d->output, 1, od->c, G, od->w };
    TS_TRY(ts_graph_read(d->g, od->data, d->output, ts_tensor_numel(od)));
    const ts_tensor *o = &host;

    /* face-api's correction factors: the image occupies round(W*S/side) x
     * round(H*S/side) of the S x S input. */
    const double scale = (double)S / side;
    const double cfx = S / (double)lround(W * scale), cfy = S / (double)lround(H * scale);

    cand *c = malloc(sizeof *c * (size_t)G * G * N_ANCHORS);
    ranked *rk = malloc(sizeof *rk * (size_t)G * G * N_ANCHORS);
    if (!c || !rk) {
        free(c), free(rk);
        return ts_error(TS_ERR_OOM, "detector: out of memory");
    }
    int nc = 0;
    for (int row = 0; row < G; row++) {
        for (int col = 0; col < G; col++) {
            for (int a = 0; a < N_ANCHORS; a++) {
                double score = sigmoid(TS_AT(o, 0, a * 5 + 4, row, col));
                if (!(score > min_score)) continue;
                double cx = (col + sigmoid(TS_AT(o, 0, a * 5 + 0, row, col))) / G * cfx;
                double cy = (row + sigmoid(TS_AT(o, 0, a * 5 + 1, row, col))) / G * cfy;
                double bw = exp(TS_AT(o, 0, a * 5 + 2, row, col)) * anchors[a][0] / G * cfx;
                double bh = exp(TS_AT(o, 0, a * 5 + 3, row, col)) * anchors[a][1] / G * cfy;
                if (!isfinite(bw) || !isfinite(bh)) continue;
                c[nc] = (cand){ cx - bw / 2, cy - bh / 2, bw, bh, score };
                rk[nc] = (ranked){ score, nc };
                nc++;
            }
        }
    }
    qsort(rk, (size_t)nc, sizeof *rk, by_score_desc);

    /* Greedy NMS: keep the best, drop every later one overlapping it by more
     * than the threshold. */
    int found = 0;
    for (int i = 0; i < nc; i++) {
        if (rk[i].idx < 0) continue;
        const cand *best = &c[rk[i].idx];
        if (found < max_boxes)
            boxes[found] = (ts_face_box){ (float)(best->x * W), (float)(best->y * H),
                                          (float)(best->w * W), (float)(best->h * H),
                                          (float)best->score, 0.0f };
        found++;
        for (int j = i + 1; j < nc; j++)
            if (rk[j].idx >= 0 && iou(best, &c[rk[j].idx], S) > IOU_THRESHOLD) rk[j].idx = -1;
    }
    free(c);
    free(rk);
    *n_found = found;
    return TS_OK;
}

void ts_tiny_free(ts_tiny *d)
{
    if (!d) return;
    ts_graph_free(d->g);
    free(d->output);
    ts_tfjs_free(d->w);
    free(d->input);
    free(d);
}
