/* ts-face-item.h - one face listed by the browser (TsBrowser): its image
 * file, its dataset labels, its thumbnail and each model's prediction.
 *
 * A TsFaceItem is a plain GObject, the item type of TsFaceList's list
 * model.  Its state is changed on the main thread only (the workers of
 * TsFaceList and TsPredictor hand their results to the main loop first);
 * the one field a worker reads, whether the item is on screen, is atomic.
 * Properties ("thumbnail", "title", "subtitle", "tooltip",
 * "prediction-a", "prediction-b", "correct-a", "correct-b") notify, so a
 * list row binds to them and redraws when a thumbnail or a prediction
 * arrives.
 *
 * Predictions: slot 0 is model A (the baseline), slot 1 model B (LACNN).
 * Each slot keeps every output of its model for the face (the outputs:
 * class probabilities of a softmax model, P(class 1) per trait of a
 * multi-label one) and the prediction shown: the class probabilities of
 * the head (nn/model.h) in focus, its text and whether it is right.  A new
 * focus re-scores the outputs kept; the models do not run again.
 * correct is -1 when it is unknown (no prediction yet, the face has no
 * label for the head's trait, or that trait is not a dataset trait), else
 * 0 (wrong) or 1 (right).
 */
#ifndef TS_FACE_ITEM_H
#define TS_FACE_ITEM_H

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define TS_TYPE_FACE_ITEM (ts_face_item_get_type())
G_DECLARE_FINAL_TYPE(TsFaceItem, ts_face_item, TS, FACE_ITEM, GObject)

#define TS_FACE_ITEM_MODELS 2

/* A face at `path`, row `row` of its source, with n_labels class indices
 * (-1: not labelled; copied) and their text ("gender: female · ...").
 * transfer: full. */
TsFaceItem *ts_face_item_new(const char *path, int row, const int *labels, int n_labels, const char *labels_text);

/* transfer: none. */
const char *ts_face_item_get_path(TsFaceItem *item);
/* The file's base name.  transfer: none. */
const char *ts_face_item_get_name(TsFaceItem *item);
/* Row of the dataset (or of the opened file list). */
int ts_face_item_get_row(TsFaceItem *item);
/* Class index of dataset trait t, -1 when not labelled (or t out of range). */
int ts_face_item_get_label(TsFaceItem *item, int t);
int ts_face_item_get_n_labels(TsFaceItem *item);
/* "gender: female · age: young" (may be "").  transfer: none. */
const char *ts_face_item_get_labels_text(TsFaceItem *item);

/* Thumbnail, NULL until decoded.  transfer: none. */
GdkPaintable *ts_face_item_get_thumbnail(TsFaceItem *item);
void ts_face_item_set_thumbnail(TsFaceItem *item, GdkPaintable *thumb);

/* Why the image could not be read or predicted, or NULL.  transfer: none. */
const char *ts_face_item_get_error(TsFaceItem *item);
void ts_face_item_set_error(TsFaceItem *item, const char *message);

/* Model m's outputs for this face (all of them; n_outputs = the model's
 * classes), FALSE when there are none yet.  transfer: none. */
gboolean ts_face_item_get_outputs(TsFaceItem *item, int m, const float **outputs, int *n_outputs);
/* Stores them (copied) and drops the prediction shown until it is set. */
void ts_face_item_set_outputs(TsFaceItem *item, int m, const float *outputs, int n_outputs);

/* The prediction shown for model m (m < TS_FACE_ITEM_MODELS): FALSE when
 * there is none.  *probs (transfer: none) holds the *n_classes class
 * probabilities of the head in focus, *predicted the arg-max class.  Any
 * out-pointer may be NULL. */
gboolean ts_face_item_get_prediction(TsFaceItem *item, int m, const float **probs, int *n_classes, int *predicted);
/* -1 unknown, 0 wrong, 1 right (see the file comment). */
int ts_face_item_get_correct(TsFaceItem *item, int m);
/* Sets the prediction shown (probs copied) and its one-line text
 * ("baseline: female 93% ✓"); notifies "prediction-a"/"-b" and
 * "correct-a"/"-b". */
void ts_face_item_set_prediction(TsFaceItem *item, int m, const float *probs, int n_classes, int correct,
                                 const char *text);
/* The text shown for model m ("" when none; "⚠ could not be read" when
 * the image failed and no model predicted it).  transfer: none. */
const char *ts_face_item_get_prediction_text(TsFaceItem *item, int m);
/* Drops every output and prediction (models changed). */
void ts_face_item_clear_predictions(TsFaceItem *item);

/* ---- for the browser's thumbnail loader ---- */

/* Times the item is bound to a visible row (atomic; read by workers). */
void ts_face_item_bound(TsFaceItem *item, gboolean bound);
gboolean ts_face_item_is_bound(TsFaceItem *item);
/* Loader state: 0 none, 1 queued, 2 loaded, 3 failed. */
int ts_face_item_get_thumb_state(TsFaceItem *item);
void ts_face_item_set_thumb_state(TsFaceItem *item, int state);

G_END_DECLS

#endif
