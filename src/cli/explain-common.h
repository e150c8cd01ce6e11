/* explain-common.h - what the explain, activations and flip commands share:
 * loading a model for inspection, landmarks for an image, the model input.
 *
 * Landmarks (--landmarks SOURCE): a JSON file in the format of points.h
 * (what `traitscope-cli landmarks` prints), or "ert" / "cnn" to run that
 * localizer on the whole image (the image is a face crop, so its frame is
 * the face box).  A 4-channel (LACNN) model needs them for its A(x,y)
 * channel; without --landmarks such a model uses its own method
 * (meta.landmarks).  A(x,y) in the model's input frame is computed from the
 * same points the way face/input.h does, for the per-region tables.
 */
#ifndef TS_CLI_EXPLAIN_COMMON_H
#define TS_CLI_EXPLAIN_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"
#include "face/image.h"
#include "face/points.h"
#include "nn/model.h"

typedef struct xc_landmarker xc_landmarker;

/* source: NULL (none unless the model needs them), a file, "ert" or "cnn".
 * be/ctx: where the landmark net ("cnn") runs (NULL: the CPU; dlib's
 * trees always run on the CPU).  Free it before closing be.
 * transfer: full (xc_landmarker_free). */
xc_landmarker *xc_landmarker_new(const char *source, const ts_backend *be, void *ctx);
void xc_landmarker_free(xc_landmarker *l);

/* Loads a model of any format (ts_model_load_any) for inference (dropout
 * off) on backend be (NULL: the CPU).  Free the model before closing be. */
ts_status xc_model_load(const char *path, const ts_backend *be, void *ctx, ts_model **out);

/* Landmarks of `img` (a face crop) into *pts, *have = true; or *have =
 * false when none were asked for and the model does not need them. */
ts_status xc_landmarks(xc_landmarker *l, const ts_model *m, const ts_image *img, ts_points *pts,
                       bool *have);

/* The model's input for `img` into `one` (1,C,S,S). */
ts_status xc_input(const ts_model *m, const ts_image *img, const ts_points *pts_or_null,
                   ts_tensor *one);

/* A(x,y) of pts (image coordinates of `img`) in the model's S x S frame,
 * made where the model runs. */
ts_status xc_amap(const ts_model *m, const ts_image *img, const ts_points *pts, uint8_t *map);

/* The normalised range of input channel c: pixel value 0 and 1 after
 * (v - mean) / std. */
void xc_bounds(const ts_model *m, int c, float *low, float *high);

#endif
