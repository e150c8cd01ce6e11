/* explain.h - the explain flow for one face and one model: the one place
 * where a face becomes an explanation.
 *
 * ARCHITECTURE.md's flow from the face on:
 *   face image + 68 landmarks (or none)
 *     -> the model's input (face/input.h: the model's metadata decides it)
 *     -> LRP explain (forward + relevance backward, explain/lrp.h), z-box
 *        bounds from the model's input range (ts_model_input_range)
 *     -> the logits, the relevance (1,C,S,S), the RGB and A(x,y) heatmaps,
 *        per-channel sums, and with landmarks the heatmap pooled per A(x,y)
 *        cell and facial part in the model's input frame (the A(x,y) map
 *        its input got: ts_model_amap).
 * Every front end runs it: the explorer and `figure` (inspect.h, per model
 * of a run), `explain` (one image or a dataset), `flip` (per image) and
 * `activations` (the face stage and the input).  They differ only in what
 * they show.
 *
 * The face stage for a face image given as it is (the CLI's IMAGE, a
 * dataset crop): ts_landmarker, landmarks from a file or a localizer; the
 * explorer finds the face in a photo first (inspect.h).
 *
 * Threads: an explainer and a landmarker serve one thread at a time.
 */
#ifndef TS_EXPLAIN_H
#define TS_EXPLAIN_H

#include <stdbool.h>

#include "backend/backend.h"
#include "face/image.h"
#include "face/points.h"
#include "nn/model.h"
#include "explain/lrp.h"

/* ---- the face stage for a face image ---------------------------------- */

typedef struct ts_landmarker ts_landmarker;

/* source: NULL (none unless the model needs them; then the model's own
 * localizer, ts_model_landmark_method), "ert" or "cnn" (that localizer on
 * the face face/locate.h finds: the largest face of a photo, or a face crop
 * taken as framed like CelebA-HQ's when no face is detected), or a
 * landmarks JSON file (points.h; what `traitscope-cli landmarks` prints).
 * be/ctx: where the landmark net ("cnn") runs (NULL: the CPU; dlib's trees
 * always run on the CPU).  Free it before closing be.  Localizers load on
 * first use.  transfer: full (ts_landmarker_free). */
ts_status ts_landmarker_new(const char *source, const ts_backend *be, void *ctx, ts_landmarker **out);
void ts_landmarker_free(ts_landmarker *l);

/* The 68 landmarks of face image `img` for model m into *pts (*have true),
 * or *have false when no source was given and m needs none.  Errors: a
 * localizer or file that cannot be read, a file without 68 points
 * (TS_ERR_ARG naming it). */
ts_status ts_landmarker_get(ts_landmarker *l, const ts_model *m, const ts_image *img, ts_points *pts, bool *have);

/* ---- one face through one model ---------------------------------------- */

/* Loads a model of any format (ts_model_load_any) for inference (dropout
 * off) on backend be (NULL: the CPU).  Free the model before closing be. */
ts_status ts_explain_model_load(const char *path, const ts_backend *be, void *ctx, ts_model **out);

typedef struct ts_explainer ts_explainer;

/* An explainer of model m (borrowed: it outlives the explainer, and runs
 * where it is) with LRP rule string `rules` (NULL or "": the paper's
 * preset; lrp.h) for `target` (NULL or "": the predicted class; a class, an
 * index, A-B, or a multi-label model's TRAIT or TRAIT=CLASS:
 * ts_lrp_target_for_model).  Errors of either string name it.
 * transfer: full (ts_explainer_free). */
ts_status ts_explainer_new(ts_model *m, const char *rules, const char *target, ts_explainer **out);
void ts_explainer_free(ts_explainer *e);

/* transfer: none.  The rules as applied, per layer (ts_lrp_rules_describe). */
const char *ts_explainer_rules_applied(const ts_explainer *e);

typedef struct ts_explanation {
    int C, S, K;            /* input channels, side, outputs */
    ts_tensor input;        /* (1,C,S,S) host: what the model saw */
    ts_tensor relevance;    /* (1,C,S,S) host: LRP's relevance of the input */
    ts_lrp_stats stats;     /* target, logit, relevance sum, negative share */
    float *logits;          /* K, host: the forward pass's outputs */
    float *heat;            /* (S,S): relevance summed over R, G, B (the paper's heatmap),
                             * in the model's input frame */
    float *heat_amap;       /* (S,S): the A(x,y) channel's (4-channel models), else NULL */
    double channel_sum[TS_MODEL_MAX_CHANNELS]; /* sum of R per input channel */
    double channel_abs[TS_MODEL_MAX_CHANNELS]; /* sum of |R| per input channel */
    double abs_total;       /* sum of channel_abs */
    bool regions;           /* landmarks were given: the tables below are filled */
    double cell_sum[TS_LANDMARKS], cell_abs[TS_LANDMARKS]; /* heat per A(x,y) cell (sum, sum |.|) */
    double part_sum[TS_PART_COUNT], part_abs[TS_PART_COUNT]; /* the cells per facial part */
    double heat_sum, heat_abs; /* over all cells (the whole heatmap) */
    double ms;              /* the forward and relevance passes */
} ts_explanation;

/* Explains face image `face` (a face crop, or a photo for an aligned
 * model) with its 68 landmarks `pts` (image coordinates; NULL: none; the
 * model's input takes them when it needs them, the region tables whenever
 * given).  The graph keeps this pass's activations afterwards (the
 * activation grid reads them).  out is cleared first; on failure it holds
 * nothing.  transfer: full (ts_explanation_clear). */
ts_status ts_explainer_run(ts_explainer *e, const ts_image *face, const ts_points *pts, ts_explanation *out);
void ts_explanation_clear(ts_explanation *x);

/* ts_explainer_run in its two steps, for callers that treat a face that
 * cannot become an input (a bad image, missing landmarks: skipped) apart
 * from a failing explanation (the model or the device: fatal):
 * ts_explainer_input clears `out`, allocates it and fills out->input (on
 * failure out holds nothing); ts_explainer_explain does the rest from
 * out->input (face and pts may be NULL: no region tables), and may run
 * again after the caller changed out->input (pixel flipping). */
ts_status ts_explainer_input(ts_explainer *e, const ts_image *face, const ts_points *pts, ts_explanation *out);
ts_status ts_explainer_explain(ts_explainer *e, const ts_image *face, const ts_points *pts, ts_explanation *out);

/* part / whole, 0 when whole is 0 (the shares every front end prints). */
double ts_explain_share(double part, double whole);

#endif
