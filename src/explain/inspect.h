/* inspect.h - everything the explorer's panels show for one face, computed
 * in one call: the flow of ARCHITECTURE.md from a photo to predictions,
 * activations and relevance, for up to two models (baseline and LACNN, or
 * any two checkpoints) side by side.
 *
 * The app runs ts_inspector_run() in a worker thread and draws the result;
 * `traitscope-cli figure` calls the same function and draws the same
 * result with Cairo (figure.h).  Nothing here draws.
 *
 * Geometry: the face is cut out of the photo as a crop_size x crop_size
 * square (face/align.h, alignment "none", the detector's box enlarged),
 * unless the image already is a face crop (a dataset image: its side is at
 * most twice the detected face's), in which case the whole image is the
 * crop.  Landmarks, the A(x,y) map and the heatmaps all live in the crop's
 * frame, so one pixel position means the same face point in every panel.
 */
#ifndef TS_INSPECT_H
#define TS_INSPECT_H

#include <stdbool.h>

#include "backend/backend.h"
#include "face/detector.h"
#include "face/image.h"
#include "face/points.h"
#include "nn/model.h"
#include "explain/activations.h"
#include "explain/lrp.h"

#define TS_INSPECT_MODELS 2
#define TS_INSPECT_MAX_FACES 64

typedef enum ts_crop_mode {
    TS_CROP_AUTO = 0, /* crop when the photo is much larger than the face */
    TS_CROP_WHOLE,    /* the image is already a face crop */
    TS_CROP_FACE,     /* always cut the face out */
} ts_crop_mode;

typedef struct ts_inspect_opts {
    ts_landmark_method method; /* localizer for the shown landmarks (default ert) */
    ts_detector_kind detector; /* default TS_DETECTOR_SSD */
    int face;                  /* index into the detected faces; -1 = largest */
    ts_crop_mode crop;
    int crop_size;             /* 0: 256 */
    const char *rules;         /* LRP rule string; NULL = the paper's preset */
    const char *target;        /* LRP target ("" / NULL = predicted class) */
    const char *layer;         /* activation layer; NULL = "conv1" */
    bool shared_norm;          /* activations: one range for every map */
} ts_inspect_opts;

typedef struct ts_inspect_model {
    bool present;
    char error[512];           /* why this model's part failed ("" if it did not) */
    int n_classes;
    bool multilabel;           /* one sigmoid output per trait (nn/model.h heads) */
    float probs[TS_MODEL_MAX_CLASSES > 64 ? 64 : TS_MODEL_MAX_CLASSES]; /* per class, or P(class 1) per trait */
    int predicted;             /* the predicted class, or the explained trait's row */
    int n_rows;                /* the predictions panel: a class each, or a trait each */
    struct {
        char label[96];        /* "male", or "gender: male" */
        float p;               /* its probability */
        bool mark;             /* the predicted class / the explained trait */
    } rows[64];
    char explained[96];        /* what the heatmap explains: "male", "gender=male", "male-female" */
    ts_lrp_stats stats;
    char rules[TS_LRP_SPEC_MAX]; /* the rules as applied, per layer */
    int in_size, in_channels;
    float *heat;               /* (in_size, in_size): relevance summed over R,G,B, over the crop's
                                * frame (an aligned model's map is carried back from its own) */
    float *heat_amap;          /* (in_size, in_size): the A(x,y) channel's, or NULL */
    double channel_abs_share[4]; /* share of sum |R| per input channel */
    double part_sum[TS_PART_COUNT]; /* RGB relevance pooled per facial part */
    double cell_sum[TS_LANDMARKS];  /* ... per A(x,y) cell */
    ts_act_grid act;           /* the activation grid of opts.layer */
    ts_act_layer act_layer;    /* opts.layer raw, with its weights (the filter view) */
    double ms;                 /* time of this model's forward + LRP */
} ts_inspect_model;

typedef struct ts_inspect {
    ts_image photo;            /* decoded input */
    int n_faces;
    ts_face_box faces[TS_INSPECT_MAX_FACES];
    int face;                  /* index of the inspected face, -1 = none found */
    float box[4];              /* face box in the photo (x, y, w, h) */
    bool whole;                /* the photo was used as the crop */
    ts_image crop;             /* the face, crop_size square */
    ts_points pts;             /* 68 landmarks in crop coordinates */
    ts_points photo_pts;       /* the same in photo coordinates */
    ts_landmark_method method;
    uint8_t *amap;             /* crop w*h A(x,y) */
    ts_inspect_model model[TS_INSPECT_MODELS];
    double ms_detect, ms_landmarks;
    char device[64];           /* "CPU" or the GPU's name (ts_inspector_set_device) */
} ts_inspect;

typedef struct ts_inspector ts_inspector;

/* Detector and localizers (face/locate.h) are loaded on first use and kept.  One inspector
 * must not run on two threads at once.  transfer: full. */
ts_inspector *ts_inspector_new(void);
void ts_inspector_free(ts_inspector *in);
/* Starts loading the detector and the landmark models on another thread
 * now (the app calls it at start-up, while GTK builds the window); the
 * first ts_inspector_run waits for it. */
void ts_inspector_preload(ts_inspector *in);

/* Where the networks run (--device): the detector, the landmark net and
 * the models (moved there at each run and left there, so free the models
 * before the inspector), LRP included.  TS_DEVICE_CUDA or AUTO without a
 * usable GPU is the CPU, and `why` (may be NULL) says so in one line
 * (ts_backend_select_or_cpu).  Default: the CPU.  Not while a run is in
 * progress. */
void ts_inspector_set_device(ts_inspector *in, ts_device want, char *why, size_t why_len);
/* transfer: none.  "CPU" or the GPU's name, as the results' `device`. */
const char *ts_inspector_device(const ts_inspector *in);

/* Runs the whole flow on `photo` (copied) for models[0..1] (either may be
 * NULL).  Fails only when the face stage fails (no landmark model, bad
 * image); a model that fails (e.g. a rule string that does not fit it)
 * leaves its message in out->model[i].error.  transfer: full (ts_inspect_clear). */
ts_status ts_inspector_run(ts_inspector *in, const ts_image *photo, ts_model *const models[TS_INSPECT_MODELS],
                           const ts_inspect_opts *opts, ts_inspect *out);
void ts_inspect_clear(ts_inspect *r);

/* Index of the nearest landmark (A(x,y)) under crop pixel (x, y),
 * -1 outside the crop. */
int ts_inspect_landmark_at(const ts_inspect *r, int x, int y);

#endif
