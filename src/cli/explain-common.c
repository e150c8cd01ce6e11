/* explain-common.c - model, landmarks and input for the explanation
 * commands (explain-common.h).  The localizers are loaded on first use. */
#include "explain-common.h"

#include <stdlib.h>
#include <string.h>

#include "face/amap-device.h"
#include "face/amap.h"
#include "face/ert.h"
#include "face/input.h"
#include "face/lmnet.h"

struct xc_landmarker {
    char *source; /* NULL, "ert", "cnn" or a file */
    const ts_backend *be;
    void *ctx;
    ts_ert *ert;
    ts_lmnet *net;
    ts_landmarks file;
    bool file_loaded;
};

xc_landmarker *xc_landmarker_new(const char *source, const ts_backend *be, void *ctx)
{
    xc_landmarker *l = calloc(1, sizeof *l);
    if (l && source) l->source = strdup(source);
    if (l) l->be = be, l->ctx = ctx;
    return l;
}

void xc_landmarker_free(xc_landmarker *l)
{
    if (!l) return;
    ts_ert_free(l->ert);
    ts_lmnet_free(l->net);
    free(l->source);
    free(l);
}

ts_status xc_model_load(const char *path, const ts_backend *be, void *ctx, ts_model **out)
{
    TS_TRY(ts_model_load_any(path, out));
    (*out)->graph->training = false;
    if (be && be->device != TS_DEVICE_CPU) {
        ts_status st = ts_graph_to_backend((*out)->graph, be, ctx);
        if (st != TS_OK) {
            ts_model_free(*out);
            *out = NULL;
            return st;
        }
    }
    return TS_OK;
}

ts_status xc_landmarks(xc_landmarker *l, const ts_model *m, const ts_image *img, ts_points *pts,
                       bool *have)
{
    *have = false;
    const char *src = l->source;
    if (!src) {
        if (!ts_model_needs_landmarks(m)) return TS_OK;
        src = m->meta.landmarks == TS_LANDMARKS_CNN ? "cnn" : "ert";
    }
    float box[4] = { 0, 0, (float)img->width, (float)img->height };
    if (!strcmp(src, "ert")) {
        if (!l->ert) TS_TRY(ts_ert_load(NULL, &l->ert));
        TS_TRY(ts_ert_predict(l->ert, img, box, pts));
    } else if (!strcmp(src, "cnn")) {
        if (!l->net) {
            TS_TRY(ts_lmnet_load(NULL, &l->net));
            TS_TRY(ts_lmnet_set_backend(l->net, l->be, l->ctx));
        }
        TS_TRY(ts_lmnet_predict(l->net, img, box, pts));
    } else {
        if (!l->file_loaded) {
            TS_TRY(ts_landmarks_load(src, &l->file));
            l->file_loaded = true;
        }
        *pts = l->file.pts;
    }
    if (pts->n != TS_LANDMARKS)
        return ts_error(TS_ERR_ARG, "landmarks from '%s': %d points, the 68-point scheme is needed", src,
                        pts->n);
    *have = true;
    return TS_OK;
}

ts_status xc_input(const ts_model *m, const ts_image *img, const ts_points *pts, ts_tensor *one)
{
    return ts_model_input_from_image(m, img, ts_model_needs_landmarks(m) ? pts : NULL, one);
}

ts_status xc_amap(const ts_model *m, const ts_image *img, const ts_points *pts, uint8_t *map)
{
    int s = m->meta.in_size;
    ts_points *framed = malloc(sizeof *framed);
    if (!framed) return ts_error(TS_ERR_OOM, "A(x,y) points");
    ts_status st = ts_model_frame_points(m, img, pts, framed);
    /* made where the model runs */
    void *ctx;
    const ts_backend *be = ts_graph_backend(m->graph, &ctx);
    if (st == TS_OK) st = ts_amap_compute_on(be, ctx, framed, s, s, map);
    free(framed);
    return st;
}

void xc_bounds(const ts_model *m, int c, float *low, float *high)
{
    float mean = m->meta.mean[c], sd = m->meta.std[c] > 0 ? m->meta.std[c] : 1.0f;
    *low = (0.0f - mean) / sd;
    *high = (1.0f - mean) / sd;
}
