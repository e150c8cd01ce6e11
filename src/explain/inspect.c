/* inspect.c - one face through the whole flow; see inspect.h.
 *
 * Order: detect (every face, face/detector.h's ts_detector_find) -> choose
 * face -> landmarks on the photo (face/locate.h) -> crop (landmarks
 * carried into it) -> A(x,y) of the crop -> per model: the explain flow of
 * explain.h on the crop (the model's input from face/input.h, LRP, the
 * heatmaps and the channel/part/cell tables, the same as `traitscope-cli
 * explain` computes), then the maps carried into the crop's frame, the
 * prediction rows and the activation grid.
 */
#include "explain/inspect.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "face/align.h"
#include "face/amap.h"
#include "face/amap-device.h"
#include "face/input.h"
#include "face/locate.h"
#include "backend/backend.h"
#include "explain/explain.h"

struct ts_inspector {
    ts_locator *loc;     /* detector + localizers (face/locate.h) */
    pthread_t preload;   /* see ts_inspector_preload */
    bool preloading;
    /* where the networks run (ts_inspector_set_device); the locator's
     * detector and landmark net move there when loaded, the models at each
     * run */
    const ts_backend *be;
    void *ctx;
    char device[64];
};

/* Loads the detector and the landmark models (on the CPU: a run moves the
 * networks to the inspector's backend); failures are left for the first run
 * to meet (and report) again. */
static void *preload_main(void *arg)
{
    ts_inspector *in = arg;
    ts_detector *det;
    (void)ts_locator_detector(in->loc, &det);
    (void)ts_locator_load_landmarks(in->loc);
    return NULL;
}

void ts_inspector_preload(ts_inspector *in)
{
    if (!in->preloading && pthread_create(&in->preload, NULL, preload_main, in) == 0) in->preloading = true;
}

static void preload_join(ts_inspector *in)
{
    if (in->preloading) pthread_join(in->preload, NULL);
    in->preloading = false;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

ts_inspector *ts_inspector_new(void)
{
    ts_inspector *in = calloc(1, sizeof *in);
    TS_ASSERT(in);
    in->be = ts_backend_cpu();
    snprintf(in->device, sizeof in->device, "CPU");
    TS_ASSERT(ts_locator_new(NULL, &in->loc) == TS_OK);
    return in;
}

void ts_inspector_free(ts_inspector *in)
{
    if (!in) return;
    preload_join(in);
    ts_locator_free(in->loc);
    ts_backend_close(in->be, in->ctx);
    free(in);
}

/* "CPU", or the GPU's name ("cuda: NVIDIA H200") for status lines. */
static void device_label(const ts_backend *be, void *ctx, char *buf, size_t len)
{
    if (be->device == TS_DEVICE_CPU) {
        snprintf(buf, len, "CPU");
        return;
    }
    char d[512];
    be->describe(ctx, d, sizeof d);
    size_t cut = strcspn(d, ",(");
    while (cut > 0 && d[cut - 1] == ' ') cut--;
    d[cut] = '\0';
    snprintf(buf, len, "%s", d);
}

void ts_inspector_set_device(ts_inspector *in, ts_device want, char *why, size_t why_len)
{
    preload_join(in);
    const ts_backend *be;
    void *ctx;
    (void)ts_backend_select_or_cpu(want, &be, &ctx, why, why_len);
    /* the inspector's networks come back before the old context goes */
    (void)ts_locator_set_backend(in->loc, NULL, NULL);
    ts_backend_close(in->be, in->ctx);
    in->be = be;
    in->ctx = ctx;
    device_label(be, ctx, in->device, sizeof in->device);
}

const char *ts_inspector_device(const ts_inspector *in) { return in->device; }

void ts_inspect_clear(ts_inspect *r)
{
    ts_image_clear(&r->photo);
    ts_image_clear(&r->crop);
    free(r->amap);
    for (int i = 0; i < TS_INSPECT_MODELS; i++) {
        free(r->model[i].heat);
        free(r->model[i].heat_amap);
        ts_act_grid_clear(&r->model[i].act);
        ts_act_layer_clear(&r->model[i].act_layer);
    }
    memset(r, 0, sizeof *r);
}

/* A face of the photo: the detector's box, and the localizer follows the
 * face's roll (face/locate.h); a dataset crop's fixed box is used as it is,
 * as the training's cache does (so an LACNN gets the A(x,y) it was trained
 * with). */
static ts_status landmarks(ts_inspector *in, ts_landmark_method method, const ts_image *img,
                           const ts_face_box *face, const float box[4], ts_points *out)
{
    ts_locator_set_method(in->loc, method);
    ts_located_face f;
    TS_TRY(face ? ts_locate_landmarks(in->loc, img, face, &f) : ts_locate_landmarks_fixed(in->loc, img, box, &f));
    *out = f.pts;
    return TS_OK;
}

typedef struct lm_loader {
    ts_locator *loc;
    ts_status st;
    char msg[512]; /* the loader thread's error message (messages are per thread) */
} lm_loader;

static void *load_landmark_models(void *arg)
{
    lm_loader *ll = arg;
    ll->st = ts_locator_load_landmarks(ll->loc);
    if (ll->st != TS_OK) snprintf(ll->msg, sizeof ll->msg, "%s", ts_last_error());
    return NULL;
}

/* Cuts a face out of a photo framed as the dataset crops are: the square
 * face box fills 60% of the crop's side, 20% from the left and 30% from the
 * top (CelebA-HQ's framing), so a model trained on such crops sees a face
 * from a photo the way it saw its training faces. */
static ts_status crop_like_dataset(const ts_image *photo, const float box[4], const ts_points *pts, int size,
                                   ts_image *crop, ts_points *crop_pts)
{
    float side = box[2];
    /* ts_face_crop centres its square on the box: move the box up by 0.1 of
     * the crop side so the face ends 30% from the top instead of 20%. */
    float framed[4] = { box[0], box[1] - side / 6.0f, side, side };
    ts_crop_options co = { TS_ALIGN_NONE, size, 1.0f / 0.6f, TS_BORDER_REPLICATE };
    return ts_face_crop(photo, framed, pts, &co, crop, crop_pts, NULL);
}

/* A heatmap of an aligned model lives in its own frame; the panels show
 * every map in the crop's frame (one pixel, one face point).  Samples
 * `heat` (S x S, the model's frame) at the crop point under each cell of an
 * S x S grid over the crop, bilinearly; 0 outside the frame. */
static ts_status heat_to_crop(const ts_model *model, const ts_image *crop, const ts_points *crop_pts, float *heat)
{
    const int S = model->meta.in_size;
    ts_affine xf;
    if (model->meta.alignment == TS_ALIGN_SIMILARITY) {
        TS_TRY(ts_align_similarity_map(crop_pts, S, 1.0, &xf));
    } else {
        float box[4] = { 0, 0, (float)crop->width, (float)crop->height };
        ts_crop_options co = { .alignment = model->meta.alignment, .size = S, .enlarge = 1.0f };
        ts_image tmp = { 0 };
        TS_TRY(ts_face_crop(crop, box, crop_pts, &co, &tmp, NULL, &xf));
        ts_image_clear(&tmp);
    }
    size_t plane = (size_t)S * S;
    float *src = malloc(plane * sizeof *src);
    if (!src) return ts_error(TS_ERR_OOM, "out of memory");
    memcpy(src, heat, plane * sizeof *src);
    double sx = (double)crop->width / S, sy = (double)crop->height / S;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            double fx, fy;
            ts_affine_apply(&xf, (x + 0.5) * sx - 0.5, (y + 0.5) * sy - 0.5, &fx, &fy);
            int x0 = (int)floor(fx), y0 = (int)floor(fy);
            double ax = fx - x0, ay = fy - y0, v = 0;
            for (int dy = 0; dy < 2; dy++)
                for (int dx = 0; dx < 2; dx++) {
                    int xx = x0 + dx, yy = y0 + dy;
                    if (xx < 0 || yy < 0 || xx >= S || yy >= S) continue;
                    v += (dx ? ax : 1 - ax) * (dy ? ay : 1 - ay) * src[(size_t)yy * S + xx];
                }
            heat[(size_t)y * S + x] = (float)v;
        }
    free(src);
    return TS_OK;
}

/* The predictions panel's rows: a softmax model's classes, or one row per
 * trait of a multi-label model (its predicted class); `explained` marks the
 * head the heatmap explains. */
static void prediction_rows(const ts_model *model, const float *z, const ts_lrp_stats *stats, ts_inspect_model *m)
{
    ts_model_head heads[TS_MODEL_MAX_HEADS];
    int nh = ts_model_heads(model, heads, TS_MODEL_MAX_HEADS), K = model->meta.n_classes;
    m->multilabel = heads[0].sigmoid;
    if (!m->multilabel) {
        float p[64];
        int n = K < 64 ? K : 64;
        m->predicted = ts_model_head_probs(&heads[0], z, n, p);
        for (int k = 0; k < n; k++) {
            m->probs[k] = p[k];
            snprintf(m->rows[k].label, sizeof m->rows[k].label, "%s", model->meta.classes[k]);
            m->rows[k].p = p[k];
            m->rows[k].mark = k == m->predicted;
        }
        m->n_rows = n;
        ts_lrp_target_describe(model, stats, m->explained, sizeof m->explained);
        return;
    }
    m->n_rows = nh < 64 ? nh : 64;
    for (int k = 0; k < m->n_rows; k++) {
        float p[2];
        int c = ts_model_head_probs(&heads[k], z, K, p);
        m->probs[k] = p[1];
        snprintf(m->rows[k].label, sizeof m->rows[k].label, "%s: %s", heads[k].trait, heads[k].classes[c]);
        m->rows[k].p = p[c];
        m->rows[k].mark = heads[k].output == stats->a;
        if (m->rows[k].mark) m->predicted = k;
    }
    ts_lrp_target_describe(model, stats, m->explained, sizeof m->explained);
}

/* One model's part: the explain flow (explain.h) on the crop, then what
 * the panels show.  Errors stay in m->error; the face stage goes on. */
static ts_status run_model(ts_model *model, const ts_inspect *r, const ts_points *crop_pts,
                           const ts_inspect_opts *o, ts_inspect_model *m)
{
    ts_graph *g = model->graph;
    const ts_model_meta *meta = &model->meta;
    int C = meta->in_channels;
    double t0 = now_ms();
    m->in_size = meta->in_size;
    m->in_channels = C;
    m->n_classes = meta->n_classes;

    ts_explainer *ex = NULL;
    ts_explanation x = { 0 };
    ts_status st = ts_explainer_new(model, o->rules, o->target, &ex);
    if (st == TS_OK) st = ts_explainer_run(ex, &r->crop, crop_pts, &x);
    if (st == TS_OK) {
        snprintf(m->rules, sizeof m->rules, "%s", ts_explainer_rules_applied(ex));
        m->stats = x.stats;
        prediction_rows(model, x.logits, &m->stats, m);
        for (int c = 0; c < C && c < 4; c++) m->channel_abs_share[c] = ts_explain_share(x.channel_abs[c], x.abs_total);
        /* the tables: pooled in the model's frame, by the A(x,y) its input got */
        if (x.regions) {
            memcpy(m->cell_sum, x.cell_sum, sizeof m->cell_sum);
            memcpy(m->part_sum, x.part_sum, sizeof m->part_sum);
        }
        /* the maps: the panels show every map in the crop's frame */
        m->heat = x.heat, x.heat = NULL;
        m->heat_amap = x.heat_amap, x.heat_amap = NULL;
        if (meta->alignment != TS_ALIGN_NONE) {
            st = heat_to_crop(model, &r->crop, crop_pts, m->heat);
            if (st == TS_OK && m->heat_amap) st = heat_to_crop(model, &r->crop, crop_pts, m->heat_amap);
        }
    }
    if (st == TS_OK) {
        /* the activations the explain pass left in the graph */
        ts_act_opts ao = { 0 };
        ao.shared_norm = o->shared_norm;
        st = ts_act_grid_layer(g, o->layer ? o->layer : "conv1", 0, &ao, &m->act);
        if (st == TS_OK) st = ts_act_layer_copy(g, o->layer ? o->layer : "conv1", 0, &m->act_layer);
    }
    ts_explanation_clear(&x);
    ts_explainer_free(ex);
    m->ms = now_ms() - t0;
    return st;
}

ts_status ts_inspector_run(ts_inspector *in, const ts_image *photo, ts_model *const models[TS_INSPECT_MODELS],
                           const ts_inspect_opts *opts, ts_inspect *r)
{
    ts_inspect_opts o = { 0 };
    o.face = -1;
    o.method = TS_LANDMARKS_ERT;
    if (opts) o = *opts;
    if (o.method == TS_LANDMARKS_NONE) o.method = TS_LANDMARKS_ERT;
    int size = o.crop_size > 0 ? o.crop_size : 256;
    memset(r, 0, sizeof *r);
    snprintf(r->device, sizeof r->device, "%s", in->device);
    r->method = o.method;
    r->face = -1;
    ts_status st = ts_image_copy(&r->photo, photo);
    if (st != TS_OK) return st;
    int W = photo->width, H = photo->height;

    preload_join(in);
    ts_locator_set_detector(in->loc, o.detector);
    ts_locator_set_method(in->loc, o.method);
    /* the preloaded networks join the inspector's backend */
    if ((st = ts_locator_set_backend(in->loc, in->be, in->ctx)) != TS_OK) goto fail;
    /* The first run loads dlib's 95 MB model: do it on another core while
     * the detector runs (the first window appears that much sooner).  The
     * loader touches only the landmark models, this thread only the
     * detector. */
    ts_detector *det = NULL;
    double t0 = now_ms();
    st = ts_locator_detector(in->loc, &det);
    lm_loader ll = { in->loc, TS_OK, "" };
    pthread_t loader;
    bool loading = st == TS_OK && pthread_create(&loader, NULL, load_landmark_models, &ll) == 0;
    if (st == TS_OK)
        st = ts_detector_find(det, photo, TS_DETECTOR_MIN_SCORE, r->faces, TS_INSPECT_MAX_FACES, &r->n_faces);
    if (loading) {
        pthread_join(loader, NULL);
        if (ll.st != TS_OK && st == TS_OK) st = ts_error(ll.st, "%s", ll.msg);
    }
    if (st != TS_OK) goto fail;
    if (r->n_faces > TS_INSPECT_MAX_FACES) r->n_faces = TS_INSPECT_MAX_FACES;
    r->ms_detect = now_ms() - t0;

    /* The face box.  Dataset crops (CelebA-HQ and the models trained on it)
     * put the face at the fixed box (0.20, 0.30, 0.60, 0.60) of the image,
     * which is also how the training's landmark cache finds landmarks
     * (train/cache.h): a whole-image crop uses that box, so an LACNN gets
     * the A(x,y) it was trained with.  In a photo, the detector's box is
     * squared on its centre (it is taller than the brow-to-chin box the
     * localizers were trained on). */
    if (r->n_faces > 0) {
        int best = 0;
        for (int i = 1; i < r->n_faces; i++)
            if (r->faces[i].w * r->faces[i].h > r->faces[best].w * r->faces[best].h) best = i;
        r->face = (o.face >= 0 && o.face < r->n_faces) ? o.face : best;
    }
    float face_side = r->face >= 0 ? fminf(r->faces[r->face].w, r->faces[r->face].h) : 0;
    r->whole = o.crop == TS_CROP_WHOLE ||
               (o.crop == TS_CROP_AUTO && ts_image_is_face_crop(W, H, r->face >= 0 ? &r->faces[r->face] : NULL));
    if (r->whole) {
        ts_face_crop_box(W, H, r->box);
    } else {
        const ts_face_box *b = &r->faces[r->face];
        r->box[0] = b->x + (b->w - face_side) / 2;
        r->box[1] = b->y + (b->h - face_side) / 2;
        r->box[2] = r->box[3] = face_side;
    }

    t0 = now_ms();
    st = landmarks(in, o.method, photo, r->whole ? NULL : &r->faces[r->face], r->box, &r->photo_pts);
    if (st != TS_OK) goto fail;
    r->ms_landmarks = now_ms() - t0;

    if (r->whole) {
        st = ts_image_copy(&r->crop, photo);
        r->pts = r->photo_pts;
    } else {
        st = crop_like_dataset(photo, r->box, &r->photo_pts, size, &r->crop, &r->pts);
    }
    if (st != TS_OK) goto fail;
    r->amap = malloc((size_t)r->crop.width * r->crop.height);
    if (!r->amap) {
        st = ts_error(TS_ERR_OOM, "out of memory");
        goto fail;
    }
    st = ts_amap_compute_on(in->be, in->ctx, &r->pts, r->crop.width, r->crop.height, r->amap);
    if (st != TS_OK) goto fail;

    for (int i = 0; i < TS_INSPECT_MODELS; i++) {
        if (!models || !models[i]) continue;
        ts_inspect_model *m = &r->model[i];
        m->present = true;
        /* A model trained with the other localizer gets its own landmarks:
         * a model always gets the input it was trained with. */
        ts_points own = r->pts;
        ts_landmark_method want = models[i]->meta.landmarks;
        ts_status ms = TS_OK;
        if (ts_model_needs_landmarks(models[i]) && want != TS_LANDMARKS_NONE && want != o.method) {
            ts_points p;
            ms = landmarks(in, want, photo, r->whole ? NULL : &r->faces[r->face], r->box, &p);
            ts_locator_set_method(in->loc, o.method);
            if (ms == TS_OK && !r->whole) {
                /* carry into the crop with the same map as the shown points */
                ts_image tmp = { 0 };
                ms = crop_like_dataset(photo, r->box, &p, size, &tmp, &own);
                ts_image_clear(&tmp);
            } else if (ms == TS_OK) {
                own = p;
            }
        }
        /* the model runs where the inspector's networks run; it stays
         * there (the caller frees its models before the inspector) */
        if (ms == TS_OK && ts_graph_backend(models[i]->graph, NULL) != in->be)
            ms = ts_graph_to_backend(models[i]->graph, in->be, in->ctx);
        if (ms == TS_OK) ms = run_model(models[i], r, &own, &o, m);
        if (ms != TS_OK) snprintf(m->error, sizeof m->error, "%s", ts_last_error());
    }
    return TS_OK;
fail:
    ts_inspect_clear(r);
    return st;
}

int ts_inspect_landmark_at(const ts_inspect *r, int x, int y)
{
    if (!r->amap || x < 0 || y < 0 || x >= r->crop.width || y >= r->crop.height) return -1;
    return r->amap[(size_t)y * r->crop.width + x];
}
