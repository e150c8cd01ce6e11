/* explain.c - one face through one model; see explain.h.
 *
 * Invariants: the model's input comes only from face/input.h (its
 * metadata decides it); the z-box bounds only from ts_model_input_range;
 * the region tables only from the A(x,y) map the model's own input got
 * (ts_model_amap), so they mean the same face points the model saw.
 */
#include "explain/explain.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "face/amap.h"
#include "face/input.h"
#include "face/locate.h"

/* ---- the face stage ------------------------------------------------------ */

struct ts_landmarker {
    char *source; /* NULL, "ert", "cnn" or a file */
    const ts_backend *be;
    void *ctx;
    ts_locator *loc; /* face/locate.h: detector, then the localizer */
    ts_landmarks file;
    bool file_loaded;
};

ts_status ts_landmarker_new(const char *source, const ts_backend *be, void *ctx, ts_landmarker **out)
{
    *out = NULL;
    ts_landmarker *l = calloc(1, sizeof *l);
    if (!l || (source && !(l->source = strdup(source)))) {
        free(l);
        return ts_error(TS_ERR_OOM, "out of memory");
    }
    l->be = be, l->ctx = ctx;
    *out = l;
    return TS_OK;
}

void ts_landmarker_free(ts_landmarker *l)
{
    if (!l) return;
    ts_locator_free(l->loc);
    free(l->source);
    free(l);
}

ts_status ts_landmarker_get(ts_landmarker *l, const ts_model *m, const ts_image *img, ts_points *pts, bool *have)
{
    *have = false;
    const char *src = l->source;
    if (!src) {
        ts_landmark_method want = ts_model_landmark_method(m);
        if (want == TS_LANDMARKS_NONE) return TS_OK;
        src = want == TS_LANDMARKS_CNN ? "cnn" : "ert";
    }
    if (!strcmp(src, "ert") || !strcmp(src, "cnn")) {
        /* The face found as everywhere else (face/locate.h): the detector
         * (with its passes for close-ups and turned heads), then the
         * localizer in the face's own frame; an image without a detected
         * face, or not much larger than its face (a dataset's crop), is
         * taken as a face crop framed like CelebA-HQ's, its landmarks from
         * the fixed box as training and eval found them. */
        if (!l->loc) {
            TS_TRY(ts_locator_new(NULL, &l->loc));
            TS_TRY(ts_locator_set_backend(l->loc, l->be, l->ctx));
        }
        ts_locator_set_method(l->loc, !strcmp(src, "cnn") ? TS_LANDMARKS_CNN : TS_LANDMARKS_ERT);
        ts_located_face f;
        TS_TRY(ts_locate_face_or_crop(l->loc, img, &f));
        *pts = f.pts;
    } else {
        if (!l->file_loaded) {
            TS_TRY(ts_landmarks_load(src, &l->file));
            l->file_loaded = true;
        }
        *pts = l->file.pts;
    }
    if (pts->n != TS_LANDMARKS)
        return ts_error(TS_ERR_ARG, "landmarks from '%s': %d points, the 68-point scheme is needed", src, pts->n);
    *have = true;
    return TS_OK;
}

/* ---- one face through one model ----------------------------------------- */

ts_status ts_explain_model_load(const char *path, const ts_backend *be, void *ctx, ts_model **out)
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

struct ts_explainer {
    ts_model *m;
    ts_lrp_rules rules;
    ts_lrp_target target;
    ts_lrp *lrp;
    char applied[TS_LRP_SPEC_MAX * 2];
};

ts_status ts_explainer_new(ts_model *m, const char *rules, const char *target, ts_explainer **out)
{
    *out = NULL;
    ts_explainer *e = calloc(1, sizeof *e);
    if (!e) return ts_error(TS_ERR_OOM, "out of memory");
    e->m = m;
    ts_status st = ts_lrp_rules_parse(m->graph, rules ? rules : "", &e->rules);
    if (st == TS_OK) {
        /* z-box: what pixel values 0 and 255 (A(x,y): indices 0 and 67)
         * become after the model's normalisation */
        for (int c = 0; c < m->meta.in_channels && c < TS_LRP_MAX_INPUT_C; c++) {
            float lo, hi;
            ts_model_input_range(m, c, &lo, &hi);
            ts_lrp_rules_set_bounds(&e->rules, c, lo, hi);
        }
        ts_lrp_rules_describe(m->graph, &e->rules, e->applied, sizeof e->applied);
        st = ts_lrp_target_for_model(m, target ? target : "", &e->target);
    }
    if (st == TS_OK) st = ts_lrp_new(m->graph, &e->rules, &e->lrp);
    if (st != TS_OK) {
        ts_explainer_free(e);
        return st;
    }
    *out = e;
    return TS_OK;
}

void ts_explainer_free(ts_explainer *e)
{
    if (!e) return;
    ts_lrp_free(e->lrp);
    ts_lrp_rules_clear(&e->rules);
    free(e);
}

const char *ts_explainer_rules_applied(const ts_explainer *e) { return e->applied; }

void ts_explanation_clear(ts_explanation *x)
{
    free(x->input.data);
    free(x->relevance.data);
    free(x->logits);
    free(x->heat);
    free(x->heat_amap);
    memset(x, 0, sizeof *x);
}

double ts_explain_share(double part, double whole) { return whole != 0 ? part / whole : 0; }

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* The heatmap pooled per A(x,y) cell of the model's own map, and per part. */
static ts_status regions(const ts_model *m, const ts_image *face, const ts_points *pts, ts_explanation *x)
{
    size_t hw = (size_t)x->S * x->S;
    uint8_t *map = malloc(hw);
    if (!map) return ts_error(TS_ERR_OOM, "out of memory for the A(x,y) map");
    ts_status st = ts_model_amap(m, face, pts, map);
    if (st == TS_OK) {
        ts_lrp_pool_cells(x->heat, map, x->S, x->S, TS_LANDMARKS, x->cell_sum, x->cell_abs);
        for (int k = 0; k < TS_LANDMARKS; k++) x->heat_sum += x->cell_sum[k], x->heat_abs += x->cell_abs[k];
        ts_lrp_pool_parts(x->cell_sum, x->part_sum);
        ts_lrp_pool_parts(x->cell_abs, x->part_abs);
        x->regions = true;
    }
    free(map);
    return st;
}

ts_status ts_explainer_input(ts_explainer *e, const ts_image *face, const ts_points *pts, ts_explanation *x)
{
    memset(x, 0, sizeof *x);
    const ts_model *m = e->m;
    const int C = m->meta.in_channels, S = m->meta.in_size, K = m->meta.n_classes;
    const size_t per = (size_t)C * S * S, hw = (size_t)S * S;
    x->C = C, x->S = S, x->K = K;
    x->input = (ts_tensor){ malloc(per * sizeof(float)), 1, C, S, S };
    x->relevance = (ts_tensor){ malloc(per * sizeof(float)), 1, C, S, S };
    x->logits = malloc((size_t)(K > 0 ? K : 1) * sizeof(float));
    x->heat = malloc(hw * sizeof(float));
    if (C > 3) x->heat_amap = malloc(hw * sizeof(float));
    ts_status st = TS_OK;
    if (!x->input.data || !x->relevance.data || !x->logits || !x->heat || (C > 3 && !x->heat_amap))
        st = ts_error(TS_ERR_OOM, "out of memory");
    /* the input the model was trained with: its metadata decides */
    if (st == TS_OK) st = ts_model_input_from_image(m, face, ts_model_needs_landmarks(m) ? pts : NULL, &x->input);
    if (st != TS_OK) ts_explanation_clear(x);
    return st;
}

ts_status ts_explainer_explain(ts_explainer *e, const ts_image *face, const ts_points *pts, ts_explanation *x)
{
    ts_model *m = e->m;
    ts_graph *g = m->graph;
    TS_ASSERT(x->input.data && x->C == m->meta.in_channels && x->S == m->meta.in_size);
    const int C = x->C;
    x->abs_total = x->heat_sum = x->heat_abs = 0;
    x->regions = false;
    double t0 = now_ms();
    g->training = false;
    ts_status st = ts_lrp_explain(e->lrp, &x->input, &e->target, 1, &x->relevance, &x->stats);
    x->ms = now_ms() - t0;
    /* the logits the pass left in the graph (read to the host: it may run
     * on a GPU) */
    if (st == TS_OK) st = ts_graph_read(g, g->nodes[g->output].out.data, x->logits, (size_t)x->K);
    if (st == TS_OK) {
        ts_lrp_heatmap(&x->relevance, 0, 0, C < 3 ? C : 3, x->heat);
        if (x->heat_amap) ts_lrp_heatmap(&x->relevance, 0, 3, 4, x->heat_amap);
        ts_lrp_channel_sums(&x->relevance, 0, x->channel_sum, x->channel_abs);
        for (int c = 0; c < C; c++) x->abs_total += x->channel_abs[c];
    }
    if (st == TS_OK && face && pts && pts->n == TS_LANDMARKS) st = regions(m, face, pts, x);
    return st;
}

ts_status ts_explainer_run(ts_explainer *e, const ts_image *face, const ts_points *pts, ts_explanation *x)
{
    TS_TRY(ts_explainer_input(e, face, pts, x));
    ts_status st = ts_explainer_explain(e, face, pts, x);
    if (st != TS_OK) ts_explanation_clear(x);
    return st;
}
