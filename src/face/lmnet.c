/* lmnet.c - FaceLandmark68Net on a ts_graph (see lmnet.h).
 *
 * Follows face-api's FaceLandmark68Net (FaceFeatureExtractor's denseBlock4,
 * TensorFlow "same" padding, avgPool 7x7/2 'valid', fully connected 136) and
 * its postProcess, which maps the 112x112 outputs back to the crop while
 * assuming the square padding was split exactly in half.  Weight names are
 * those of the manifest: dense{0..3}/conv{0..3}/{filters|depthwise_filter|
 * pointwise_filter|bias}, fc/{weights|bias}.
 *
 * Invariant: n->g is a finalized graph with every weight loaded.
 */
#include "face/lmnet.h"

#include "backend/backend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/graph.h"
#include "face/faceapi-net.h"
#include "face/model-path.h"
#include "face/tfjs.h"

static const float mean_rgb[3] = { 122.782f, 117.001f, 104.298f };

struct ts_lmnet {
    ts_graph *g;
    float input[3 * TS_LMNET_INPUT * TS_LMNET_INPUT];
};

/* Depthwise 3x3 ("same", stride s) + pointwise 1x1 with bias; returns the
 * index of the pointwise node.  `side` is the input's height/width. */
static int add_sepconv(ts_graph *g, const char *prefix, int input, int in_c, int out_c, int side,
                       int stride)
{
    char name[TS_NAME_MAX];
    snprintf(name, sizeof name, "%s/depthwise", prefix);
    ts_node *n = ts_graph_add(g, TS_OP_CONV2D, name, 1, &input);
    n->out_c = n->groups = in_c;
    n->kh = n->kw = 3;
    n->stride = stride;
    n->has_bias = 0;
    ts_faceapi_same_pad(side, 3, stride, &n->pad_t, &n->pad_b);
    n->pad_l = n->pad_t;
    n->pad_r = n->pad_b;
    snprintf(name, sizeof name, "%s/pointwise", prefix);
    n = ts_graph_add(g, TS_OP_CONV2D, name, 0, NULL);
    n->out_c = out_c;
    n->kh = n->kw = 1;
    return g->n_nodes - 1;
}

static int add_op(ts_graph *g, ts_op op, const char *name, int n_in, const int *in)
{
    ts_graph_add(g, op, name, n_in, in);
    return g->n_nodes - 1;
}

static ts_graph *build_graph(void)
{
    static const int chans[] = { 32, 64, 128, 256 };
    ts_graph *g = ts_graph_new(3, TS_LMNET_INPUT, TS_LMNET_INPUT);
    int x = 0, in_c = 3, side = TS_LMNET_INPUT;
    char p[TS_NAME_MAX], name[TS_NAME_MAX];
    for (int b = 0; b < 4; b++) {
        const int C = chans[b];
        int o[4];
        if (b == 0) {
            ts_node *n = ts_graph_add(g, TS_OP_CONV2D, "dense0/conv0", 1, &x);
            n->out_c = C;
            n->kh = n->kw = 3;
            n->stride = 2;
            ts_faceapi_same_pad(side, 3, 2, &n->pad_t, &n->pad_b);
            n->pad_l = n->pad_t;
            n->pad_r = n->pad_b;
        } else {
            snprintf(p, sizeof p, "dense%d/conv0", b);
            add_sepconv(g, p, x, in_c, C, side, 2);
        }
        side = (side + 1) / 2;
        snprintf(name, sizeof name, "dense%d/relu0", b);
        o[0] = add_op(g, TS_OP_RELU, name, 0, NULL);
        int in = o[0];
        for (int k = 1; k <= 3; k++) {
            snprintf(p, sizeof p, "dense%d/conv%d", b, k);
            o[k] = add_sepconv(g, p, in, C, C, side, 1);
            snprintf(name, sizeof name, "dense%d/add%d", b, k);
            add_op(g, TS_OP_ADD, name, k + 1, o);
            snprintf(name, sizeof name, "dense%d/relu%d", b, k);
            in = add_op(g, TS_OP_RELU, name, 0, NULL);
        }
        x = in;
        in_c = C;
    }
    ts_node *n = ts_graph_add(g, TS_OP_AVGPOOL, "avgpool", 0, NULL);
    n->kh = n->kw = 7;
    n->stride = 2;
    n->pool_floor = 1;
    n = ts_graph_add(g, TS_OP_FC, "fc", 0, NULL);
    n->out_c = 2 * TS_LANDMARKS;
    return g;
}

static ts_status load_weights(ts_graph *g, const ts_tfjs *t)
{
    static const int chans[] = { 32, 64, 128, 256 };
    char node[TS_NAME_MAX], f[96], b[96];
    for (int blk = 0; blk < 4; blk++) {
        for (int k = 0; k < 4; k++) {
            int in_c = k ? chans[blk] : blk ? chans[blk - 1] : 3;
            snprintf(b, sizeof b, "dense%d/conv%d/bias", blk, k);
            if (blk == 0 && k == 0) {
                snprintf(f, sizeof f, "dense0/conv0/filters");
                TS_TRY(ts_faceapi_load_conv(ts_graph_find(g, "dense0/conv0"), 3, t, f, b, 0));
                continue;
            }
            snprintf(node, sizeof node, "dense%d/conv%d/depthwise", blk, k);
            snprintf(f, sizeof f, "dense%d/conv%d/depthwise_filter", blk, k);
            TS_TRY(ts_faceapi_load_conv(ts_graph_find(g, node), in_c, t, f, NULL, 1));
            snprintf(node, sizeof node, "dense%d/conv%d/pointwise", blk, k);
            snprintf(f, sizeof f, "dense%d/conv%d/pointwise_filter", blk, k);
            TS_TRY(ts_faceapi_load_conv(ts_graph_find(g, node), in_c, t, f, b, 0));
        }
    }
    return ts_faceapi_load_fc(ts_graph_find(g, "fc"), 256, t, "fc/weights", "fc/bias");
}

ts_status ts_lmnet_load(const char *path_or_NULL, ts_lmnet **out)
{
    TS_ASSERT(out);
    *out = NULL;
    char found[4096];
    const char *path = path_or_NULL;
    if (!path) {
        TS_TRY(ts_model_path_find(TS_LMNET_MODEL, TS_FACEAPI_INSTALL_HINT, found, sizeof found));
        path = found;
    }
    ts_tfjs *t = NULL;
    TS_TRY(ts_tfjs_load(path, &t));
    ts_lmnet *n = calloc(1, sizeof *n);
    if (!n) {
        ts_tfjs_free(t);
        return ts_error(TS_ERR_OOM, "landmark net: out of memory");
    }
    n->g = build_graph();
    ts_status st = ts_graph_finalize(n->g);
    if (st == TS_OK) st = load_weights(n->g, t);
    ts_tfjs_free(t);
    if (st != TS_OK) {
        ts_lmnet_free(n);
        return st;
    }
    const ts_node *o = &n->g->nodes[n->g->output];
    TS_ASSERT(o->c == 2 * TS_LANDMARKS && o->h == 1 && o->w == 1);
    *out = n;
    return TS_OK;
}

ts_status ts_lmnet_predict(ts_lmnet *n, const ts_image *img, const float box[4], ts_points *out)
{
    TS_ASSERT(n && img && box && out);
    if (!img->data || img->width < 1 || img->height < 1)
        return ts_error(TS_ERR_ARG, "landmark net: empty image");
    for (int i = 0; i < 4; i++)
        if (!isfinite(box[i]) || fabsf(box[i]) > 1e7f)
            return ts_error(TS_ERR_ARG, "landmark net: face box is not finite");
    /* face-api's Box.clipAtImageBorders followed by Box.floor. */
    double cx = fmax(box[0], 0.0), cy = fmax(box[1], 0.0);
    double cw = fmin((double)box[0] + box[2] - cx, img->width - cx);
    double ch = fmin((double)box[1] + box[3] - cy, img->height - cy);
    const int x0 = (int)floor(cx), y0 = (int)floor(cy);
    const int w = (int)floor(cw), h = (int)floor(ch);
    if (w < 1 || h < 1 || x0 >= img->width || y0 >= img->height)
        return ts_error(TS_ERR_ARG, "landmark net: face box (%g,%g,%g,%g) has no pixel inside the "
                        "%dx%d image", (double)box[0], (double)box[1], (double)box[2],
                        (double)box[3], img->width, img->height);

    /* padToSquare(centered): round(diff/2) after the crop, the rest before. */
    const int diff = abs(w - h);
    const int after = (int)floor(diff * 0.5 + 0.5), before = diff - after;
    const int S = TS_LMNET_INPUT;
    ts_faceapi_make_input(img, x0, y0, w, h, w < h ? before : 0, h < w ? before : 0, S, mean_rgb,
                          n->input);
    ts_tensor in = { n->input, 1, 3, S, S };
    TS_TRY(ts_graph_forward(n->g, &in));
    float o[2 * TS_LANDMARKS];
    TS_TRY(ts_graph_read(n->g, n->g->nodes[n->g->output].out.data, o, 2 * TS_LANDMARKS));

    /* postProcess: scaled crop size and half the padding, in input units. */
    const double scale = (double)S / (w > h ? w : h);
    const double sw = w * scale, sh = h * scale;
    const double px = w < h ? fabs(sw - sh) / 2 : 0.0, py = h < w ? fabs(sw - sh) / 2 : 0.0;
    out->n = TS_LANDMARKS;
    for (int i = 0; i < TS_LANDMARKS; i++) {
        double rx = ((double)o[2 * i] * S - px) / sw, ry = ((double)o[2 * i + 1] * S - py) / sh;
        out->x[i] = (float)(rx * w + x0);
        out->y[i] = (float)(ry * h + y0);
    }
    return TS_OK;
}

ts_status ts_lmnet_set_backend(ts_lmnet *n, const struct ts_backend *be, void *ctx)
{
    if (!be) be = ts_backend_cpu(), ctx = NULL;
    return ts_graph_to_backend(n->g, be, ctx);
}

void ts_lmnet_free(ts_lmnet *n)
{
    if (!n) return;
    ts_graph_free(n->g);
    free(n);
}
