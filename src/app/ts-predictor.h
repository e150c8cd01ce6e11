/* ts-predictor.h - one or two models' predictions over a face list (a
 * model object, no widget): what the browser shows beside each face.
 *
 * The predictor watches its TsFaceList: when a source is listed (or the
 * models change) it predicts every face with model A and model B in one
 * worker thread, visible rows first (ts_predictor_set_hint), in chunks that
 * reach the main loop as they are done; opening another source or setting
 * other models cancels the running work and drops what it brings.
 *
 * Faces are prepared the way training and evaluation prepare them: the
 * library's face sets (train/faceset.h: the image, its landmarks from the
 * landmark cache of train/cache.h when the model needs them, the base at
 * the model's size and alignment) and train/eval.h's ts_eval_predict, so
 * the browser shows what `traitscope-cli eval` would count, and a dataset
 * opened again reuses its cached landmarks.  Models of the same size and
 * alignment share one face set per chunk.
 *
 * Every output of each model is kept per face (TsFaceItem's outputs).  What
 * a row shows is one head (nn/model.h) per model, the head in focus: a
 * one-trait (softmax) model's only head; for a multi-label model the head
 * of the focus trait (ts_predictor_set_focus: the browser's trait filter)
 * when it has one, else its first trait that the dataset labels, else its
 * first.  The head's two (or more) classes are matched to the dataset
 * trait's classes by name to mark the prediction right or wrong.  A new
 * focus re-scores the kept outputs at once: the models do not run again.
 *
 * Signals:
 *   "error" (const char *message): a model could not be loaded or run.
 *   "updated": a chunk of predictions reached the items.
 *   "rescored": every item was scored again (new focus, models known).
 *   "done": every listed face has been predicted (or failed).
 * Properties (read-only, notify): "busy" (predicting), "progress" (0..1).
 */
#ifndef TS_PREDICTOR_H
#define TS_PREDICTOR_H

#include <glib-object.h>

#include "backend/backend.h"
#include "app/ts-face-list.h"

G_BEGIN_DECLS

#define TS_TYPE_PREDICTOR (ts_predictor_get_type())
G_DECLARE_FINAL_TYPE(TsPredictor, ts_predictor, TS, PREDICTOR, GObject)

/* A predictor over `list` (a reference is kept).  transfer: full. */
TsPredictor *ts_predictor_new(TsFaceList *list);

/* Model files (any format ts_model_load_any reads; NULL or "" for none).
 * Model A is the baseline, model B the LACNN model of the browser's
 * agreement filter. */
void ts_predictor_set_models(TsPredictor *p, const char *model_a, const char *model_b);

/* Where the prediction jobs started from now on run (default the CPU);
 * each job opens its own backend context (backend.h: a context serves one
 * thread, and the session's worker may use the GPU at the same time). */
void ts_predictor_set_device(TsPredictor *p, ts_device device);

/* The trait in focus (a dataset trait's name; NULL: none chosen).  Copied. */
void ts_predictor_set_focus(TsPredictor *p, const char *trait);

/* The head shown for model m once the model is loaded: its trait name and
 * its class names (NULL-terminated), else NULL.  transfer: none (valid
 * until the focus, the models or the source change). */
const char *ts_predictor_get_head_trait(TsPredictor *p, int m);
const char *const *ts_predictor_get_classes(TsPredictor *p, int m);
/* TRUE when model m is loaded and has one sigmoid output per trait. */
gboolean ts_predictor_is_multilabel(TsPredictor *p, int m);

/* The row the user looks at (top of the view): predicted next. */
void ts_predictor_set_hint(TsPredictor *p, int row);

gboolean ts_predictor_is_busy(TsPredictor *p);
double ts_predictor_get_progress(TsPredictor *p);
/* Faces predicted so far and in all (for the progress text). */
void ts_predictor_get_counts(TsPredictor *p, int *done, int *total);

G_END_DECLS

#endif
