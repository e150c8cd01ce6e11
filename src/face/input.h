/* input.h - the one place where a face image becomes a model's input tensor.
 *
 * ARCHITECTURE.md: a model's metadata (nn/model.h) decides how an image
 * becomes its input, so a model always gets the input it was trained with.
 * Every caller (CLI predict, training data loader, app, LRP) goes through
 * ts_model_input_from_image.
 *
 * Step 0, the frame: a model trained on aligned faces (meta.alignment not
 * "none") first gets the face in its frame: align.h's crop of that
 * alignment, computed from the face's 68 landmarks in image coordinates,
 * in_size x in_size, black outside the image; the landmarks move with it.
 * A model with alignment "none" takes the image as it is (a face crop);
 * if it was trained here (its training record names its data and
 * alignment), the whole image scaled to in_size x in_size by
 * ts_face_to_frame, as training and eval prepared its faces (with the box
 * prefilter of ts_image_warp when the image is more than twice as large).
 * Then, on the framed image:
 *   1. bilinear resize of the whole image to in_size x in_size, sampling
 *      at pixel centres (source = (dst + 0.5) * src_size / in_size - 0.5,
 *      clamped at the borders; PyTorch's interpolate(mode="bilinear",
 *      align_corners=False) without antialiasing);
 *   2. R, G, B in that order, v = pixel / 255;
 *   3. for 4-channel (LACNN) models, channel 3 is A(x,y) (face/amap.h,
 *      made on the model's backend: face/amap-device.h) of
 *      the landmarks mapped into the resized frame with the same
 *      pixel-centre rule (x' = (x + 0.5) * in_size / width - 0.5), encoded
 *      as the model's amap_encoding says ("index/67": index / 67);
 *   4. x = (v - mean[c]) / std[c] with the model's per-channel statistics.
 */
#ifndef TS_INPUT_H
#define TS_INPUT_H

#include "nn/model.h"
#include "face/image.h"

/* Fills `out`, a (1, in_channels, in_size, in_size) host tensor (for a batch,
 * pass a view of one sample), from `img` and, for 4-channel models, the
 * face's landmarks in image coordinates (`pts`, may be NULL for 3-channel
 * models).
 * Errors: TS_ERR_UNSUPPORTED when a 4-channel model gets no landmarks;
 * TS_ERR_ARG when the landmark count does not fit the model's A(x,y)
 * encoding; TS_ERR_FORMAT for an encoding this build does not know.
 * A wrongly shaped `out` is a broken contract (abort). */
ts_status ts_model_input_from_image(const ts_model *m, const ts_image *img, const ts_points *pts,
                                    ts_tensor *out);

/* Steps 1-4 only: `img` and `pts` are already in the model's frame (the
 * training data loader frames each face once, then moves views in it). */
ts_status ts_model_input_from_frame(const ts_model *m, const ts_image *img, const ts_points *pts,
                                    ts_tensor *out);

/* Step 0: the face in the frame of `align` (align.h), side `size` plus
 * `extra` pixels on every side (0 for a model's input; training keeps a
 * margin to move views in; alignment "none" takes no margin).  Alignment
 * "none" scales the whole image to size x size with the pixel-centre rule
 * of step 1; the others need 68 points.  out_pts (may be NULL) receives pts
 * in the frame (n = 0 without pts).  transfer: full (out, ts_image_clear). */
ts_status ts_face_to_frame(const ts_image *img, const ts_points *pts, ts_alignment align, int size, int extra,
                           ts_image *out, ts_points *out_pts);

/* The landmarks `pts` (image coordinates of `img`) in the model's input
 * frame (in_size x in_size): where A(x,y) and the input's pixels put them.
 * Errors as ts_face_to_frame. */
ts_status ts_model_frame_points(const ts_model *m, const ts_image *img, const ts_points *pts, ts_points *out);

/* True when the model needs the face's 68 landmarks: an A(x,y) channel, or
 * an alignment. */
bool ts_model_needs_landmarks(const ts_model *m);

/* The localizer whose landmarks the model's input needs: the one it was
 * trained with (meta.landmarks; ERT when none is recorded), or
 * TS_LANDMARKS_NONE when it needs no landmarks. */
ts_landmark_method ts_model_landmark_method(const ts_model *m);

/* The model's A(x,y) map (in_size x in_size bytes, landmark indices) of the
 * landmarks `pts` (image coordinates of `img`): exactly the map its input
 * channel 3 encodes (steps 0 and 3), made where the model runs; for any
 * model (a 3-channel model's regions too).  Errors as ts_face_to_frame. */
ts_status ts_model_amap(const ts_model *m, const ts_image *img, const ts_points *pts, uint8_t *map);

/* The normalised value range of input channel c: what pixel values 0 and
 * 255 (the A(x,y) channel: indices 0 and 67) become in step 4, (0 - mean) /
 * std and (1 - mean) / std.  LRP's z-box bounds, pixel flipping's noise. */
void ts_model_input_range(const ts_model *m, int c, float *low, float *high);

/* Landmarks of a w x h image moved into the size x size input by step 3's
 * pixel-centre rule, x' = (x + 0.5) * size / w - 0.5 (the resize of step
 * 1): where A(x,y) is computed.  The one definition of that scaling. */
void ts_points_to_input(const ts_points *pts, int w, int h, int size, ts_points *out);

/* Bilinear resize of an RGB8 image into three float planes of dw x dh
 * (v = pixel / 255, not normalised), sampling rule of step 1 above.
 * planes: (3, dh, dw) floats. */
void ts_image_resize_planes(const ts_image *img, int dw, int dh, float *planes);

#endif
